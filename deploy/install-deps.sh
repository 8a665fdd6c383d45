#!/usr/bin/env bash
# Installs the Debian 12 packages Sonde needs to build, test and run, if any
# is missing. Safe to re-run; does nothing when everything is present.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libc-ares-dev libcurl4-openssl-dev libssl-dev openssl
  libyaml-cpp-dev libyaml-dev libspdlog-dev libfmt-dev libcpp-httplib-dev libabsl-dev libre2-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # The spool's checksums (zlib's CRC-32, 10x faster): Intel ISA-L.
  libisal-dev
  libpq-dev postgresql postgresql-client
  python3 python3-yaml curl procps iproute2 nftables
  # Packaging (packaging.sh, tests/package): systemd units, man pages, checks.
  libsystemd-dev systemd help2man lintian man-db bash-completion file fakeroot dpkg-dev
  # Faces (issue 12): status page templates (mustache), promtool for /metrics and
  # alert rules, headless Chromium for the status page and HTML report tests.
  libmstch-dev libboost-dev prometheus chromium fonts-dejavu-core
  # PostgreSQL HA (issue 14, deploy/patroni): the `patroni` test's etcd and Patroni.
  patroni etcd-server etcd-client
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}"
# Sonde runs its own PostgreSQL clusters; do not let the package create and
# start a system-wide one on port 5432.
if [[ " ${missing[*]} " == *" postgresql "* ]] && [ ! -e /etc/postgresql-common/createcluster.conf ]; then
  $SUDO mkdir -p /etc/postgresql-common
  echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/sonde-apt.XXXXXX.log)
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  tail -30 "$log" >&2
  echo "install-deps: apt-get failed (full log: $log)" >&2
  exit 1
fi
rm -f "$log"
# The `patroni` test runs its own etcd members; do not leave the package's
# system-wide etcd (started by its postinst where systemd runs) behind.
if [[ " ${missing[*]} " == *" etcd-server "* ]] && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now etcd.service >/dev/null 2>&1 || true
fi
