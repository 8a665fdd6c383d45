#!/usr/bin/env bash
# The Debian packages end to end (label "package"; issue 13): build the three
# .debs from the built tree with CPack, run lintian (its output is printed;
# an error or a warning fails; info and pedantic tags are printed), install them with dpkg -i, check the systemd
# units (systemd-analyze verify, security exposure), run the installed
# sonde-prober --once against sonde-faultd with the installed example config
# pointed at it, validate the installed config with the installed sondectl,
# render every man page, complete sondectl's commands, then dpkg --purge and
# list what is left under /etc, /var/lib and /usr (nothing may be).
#
# Needs root (dpkg -i): CI and the development machines run the suite as
# root. It changes the machine's package state, so it holds a lock and
# refuses to run where a sonde package is already installed.
#   usage: package_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
PKGS=(sonde-collector sonde-prober sondectl)

step() { printf '\n=== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "needs root for dpkg -i"
exec 9>/var/lock/sonde-package-test.lock
flock -w 600 9 || fail "another package test holds /var/lock/sonde-package-test.lock"
for p in "${PKGS[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    fail "$p is already installed on this machine; not touching it"
  fi
done

WORK=$(mktemp -d /tmp/sonde-package-test.XXXXXX)
faultd_pid=""
cleanup() {
  [ -n "$faultd_pid" ] && kill "$faultd_pid" 2>/dev/null || true
  # Never leave the packages installed, even when a step failed.
  dpkg --purge "${PKGS[@]}" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

step "build the packages (cpack -G DEB from $BUILD)"
start=$(date +%s)
(cd "$WORK" && cpack -G DEB -B "$WORK/dist" --config "$BUILD/CPackConfig.cmake" >"$WORK/cpack.log" 2>&1) ||
  { cat "$WORK/cpack.log"; fail "cpack"; }
DEBS=("$WORK"/dist/*.deb)
[ ${#DEBS[@]} -eq 3 ] || fail "expected 3 packages, got: ${DEBS[*]}"
ls -l "${DEBS[@]}" | awk '{print $5, $NF}'
echo "built in $(($(date +%s) - start)) s"
for d in "${DEBS[@]}"; do
  printf '%s: ' "$(basename "$d")"
  dpkg-deb -f "$d" Depends
done

step "lintian --pedantic --display-info --show-overrides"
lintian --pedantic --display-info --show-overrides "${DEBS[@]}" 2>&1 | grep -v '^running with root' | tee "$WORK/lintian.txt" || true
if grep -E "^(E|W):" "$WORK/lintian.txt"; then
  fail "lintian found the tags above (justified overrides show as O:)"
fi

step "dpkg -i"
# Minimal images exclude /usr/share/man from every install; this test reads the pages.
dpkg --path-include="/usr/share/man/*" -i "${DEBS[@]}" >"$WORK/dpkg.log" 2>&1 || { cat "$WORK/dpkg.log"; fail "dpkg -i"; }
getent passwd sonde >/dev/null || fail "postinst did not create the sonde user"
[ "$(stat -c '%a %U:%G' /etc/sonde/tokens.yaml)" = "640 root:sonde" ] ||
  fail "/etc/sonde/tokens.yaml is $(stat -c '%a %U:%G' /etc/sonde/tokens.yaml), want 640 root:sonde"
for p in sonde-collector sonde-prober; do
  conffiles=$(dpkg-query -W -f='${Conffiles}' "$p" | awk 'NF {print $1}' | tr '\n' ' ')
  echo "$p conffiles: $conffiles"
  [ -n "$conffiles" ] || fail "$p has no conffiles"
done
/usr/bin/sonde-collector --version
/usr/bin/sonde-prober --version
/usr/bin/sondectl --version

step "systemd units"
UNITS=(/lib/systemd/system/sonde-collector.service /lib/systemd/system/sonde-prober.service
       /lib/systemd/system/sonde-prober@.service)
(cd "$WORK" && systemd-analyze verify "${UNITS[@]}" sonde-prober@fra.service) ||
  fail "systemd-analyze verify"
echo "systemd-analyze verify: OK"
for u in "${UNITS[@]}"; do
  score=$(systemd-analyze security --offline=true "$u" 2>/dev/null |
          sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
  echo "systemd-analyze security $(basename "$u"): $score"
  limit=3.0
  awk -v s="$score" -v l="$limit" 'BEGIN { exit !(s != "" && s < l) }' ||
    fail "$(basename "$u") exposure $score, want < $limit"
done

step "installed sonde-prober --once against sonde-faultd"
cat >"$WORK/rules.json" <<'RULES'
[
  {"listener": "http", "path_prefix": "/login", "body": "Sign in\n"},
  {"listener": "dns", "name": "app.example.test",
   "records": [{"type": "A", "data": "127.0.0.1", "ttl": 30}]}
]
RULES
"$BUILD/bin/sonde-faultd" --http-listen 127.0.0.1:0 --tcp-listen 127.0.0.1:0 \
  --tls-listen 127.0.0.1:0 --dns-listen 127.0.0.1:0 --control-listen 127.0.0.1:0 \
  --rules "$WORK/rules.json" --ports-file "$WORK/ports.json" --ca-out "$WORK/ca.pem" \
  >"$WORK/faultd.log" 2>&1 &
faultd_pid=$!
for _ in $(seq 100); do [ -s "$WORK/ports.json" ] && break; sleep 0.1; done
[ -s "$WORK/ports.json" ] || { cat "$WORK/faultd.log"; fail "faultd did not start"; }
port() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$WORK/ports.json" "$1"; }
# The installed example, pointed at faultd: the same file, other ports.
sed -e "s|http://127.0.0.1:8080/login|http://127.0.0.1:$(port http)/login|" \
    -e "s|port: 8443,|port: $(port tls), ca_file: $WORK/ca.pem,|" \
    -e "s|port: 22,|port: $(port tcp),|" \
    -e "s|127.0.0.1:5353|127.0.0.1:$(port dns)|" \
    /etc/sonde/prober.yaml >"$WORK/prober.yaml"
diff /etc/sonde/prober.yaml "$WORK/prober.yaml" || true
/usr/bin/sonde-prober --once --config "$WORK/prober.yaml" --region fra >"$WORK/once.jsonl" ||
  { cat "$WORK/once.jsonl"; fail "sonde-prober --once: some check failed"; }
python3 - "$WORK/once.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for r in rows:
    print(r["check_id"], r["failure_class"], r.get("detail", ""))
checks = {r["check_id"] for r in rows}
want = {"app-login", "app-tls", "host1-ssh", "app-dns"}
assert checks == want, f"checks {checks}, want {want}"
assert all(r["ok"] and r["failure_class"] == "OK" for r in rows), "a check failed"
PY

step "installed sondectl validate on the installed config"
/usr/bin/sondectl validate --config /etc/sonde/sonde.yaml
/usr/bin/sondectl validate --config /etc/sonde/prober.yaml

step "man pages (man -l)"
for page in man8/sonde-prober.8 man8/sonde-collector.8 man1/sondectl.1 man5/sonde.yaml.5; do
  f=/usr/share/man/$page.gz
  warnings=$(MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null || true)
  lines=$(MANWIDTH=80 man -l "$f" 2>/dev/null | wc -l)
  echo "$page: $lines lines${warnings:+; warnings: $warnings}"
  [ -z "$warnings" ] && [ "$lines" -gt 20 ] || fail "$page does not render cleanly"
done

step "bash completion: sondectl <TAB>"
offered=$(bash -c 'source /usr/share/bash-completion/bash_completion
  source /usr/share/bash-completion/completions/sondectl
  COMP_WORDS=(sondectl ""); COMP_CWORD=1; COMP_LINE="sondectl "; COMP_POINT=9
  _sondectl sondectl "" sondectl; echo "${COMPREPLY[*]}"')
echo "sondectl <TAB>: $offered"
for c in incidents incident ack report validate help; do
  [[ " $offered " == *" $c "* ]] || fail "completion does not offer $c"
done
offered=$(bash -c 'source /usr/share/bash-completion/bash_completion
  source /usr/share/bash-completion/completions/sondectl
  COMP_WORDS=(sondectl report --win); COMP_CWORD=2; COMP_LINE="sondectl report --win"; COMP_POINT=21
  _sondectl sondectl --win report; echo "${COMPREPLY[*]}"')
echo "sondectl report --win<TAB>: $offered"
[ "$offered" = "--window" ] || fail "flag completion"

step "dpkg --purge"
dpkg --purge "${PKGS[@]}" >"$WORK/purge.log" 2>&1 || { cat "$WORK/purge.log"; fail "dpkg --purge"; }
leftovers=$(find /etc /var/lib /usr /lib/systemd \( -name '*sonde*' -o -name 'sondectl*' \) \
            -not -path '/var/lib/dpkg/*' 2>/dev/null || true)
echo "left under /etc, /var/lib, /usr, /lib/systemd: ${leftovers:-nothing}"
[ -z "$leftovers" ] || fail "purge left files behind"
if dpkg-statoverride --list | grep -q sonde; then fail "a statoverride is left"; fi
echo "the sonde system user stays (Debian practice): $(getent passwd sonde || echo none)"
echo
echo "package test: OK"
