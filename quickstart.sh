#!/usr/bin/env bash
# Sonde on this machine, end to end: installs what is missing, builds, starts
# a private PostgreSQL under ./var/pg, demo targets (sonde-faultd), the
# collector and three probers acting as regions fra, ams and ber (source
# addresses 127.0.0.2, .3, .4), prints the status page URL, then shows the
# availability report and writes it as HTML to var/report.html.
#
#   ./quickstart.sh                  run until Ctrl-C (then write var/report.html)
#   ./quickstart.sh --duration 60    run 60 s, print the report, stop everything
#   ./quickstart.sh --replicas 2     two collectors on the one PostgreSQL in
#                                    cluster mode (--cluster: detection sharded
#                                    by service under leases; docs/ha.md); the
#                                    probers are given both and spread over them;
#                                    each serves the whole status page
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
VAR=$ROOT/var
DURATION=""
REPLICAS=1

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
}
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=${2:?--duration needs SECONDS}; shift 2 ;;
    --duration=*) DURATION=${1#*=}; shift ;;
    --replicas) REPLICAS=${2:?--replicas needs N}; shift 2 ;;
    --replicas=*) REPLICAS=${1#*=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "quickstart: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
if [ -n "$DURATION" ] && ! [[ "$DURATION" =~ ^[0-9]+$ ]]; then
  echo "quickstart: --duration takes whole seconds" >&2
  exit 2
fi
if ! [[ "$REPLICAS" =~ ^[1-9]$ ]]; then
  echo "quickstart: --replicas takes 1 to 9" >&2
  exit 2
fi

log() { echo "quickstart: $*"; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Stops whatever an earlier run (or this one) started; never fails.
stop_all() {
  local f pid
  for f in "$VAR"/run/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    kill -TERM "$pid" 2>/dev/null || true
  done
  for f in "$VAR"/run/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$f"
  done
  if [ -e "$VAR/pg" ]; then
    "$ROOT/deploy/local-postgres.sh" stop "$VAR/pg" >/dev/null 2>&1 || true
  fi
}

# start NAME LOGFILE CMD...: runs CMD in the background, records its pid.
start() {
  local name=$1 logfile=$2
  shift 2
  "$@" >>"$logfile" 2>&1 &
  echo $! >"$VAR/run/$name.pid"
}

mkdir -p "$VAR/run" "$VAR/log"
stop_all

log "installing missing packages (if any)"
./deploy/install-deps.sh
log "building (build/)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target sonde-prober sonde-collector sondectl sonde-faultd >/dev/null
BIN=$ROOT/build/bin

STARTED=$(date +%s)
# The HTML report of everything since the start (plus a minute of margin).
write_html_report() {
  "$BIN/sondectl" report --collector "$COLLECTOR" --window "$(($(date +%s) - STARTED + 60))s" \
    --format html --output "$VAR/report.html" &&
    echo "HTML report: var/report.html (open $VAR/report.html in a browser)"
}

trap 'stop_all' EXIT
trap 'echo; [ -z "${COLLECTOR:-}" ] || write_html_report || true; log "stopping"; exit 0' INT TERM

PG_PORT=$(free_port)
log "starting PostgreSQL on 127.0.0.1:$PG_PORT (data in var/pg)"
PG=$("$ROOT/deploy/local-postgres.sh" start "$VAR/pg" "$PG_PORT")

log "starting demo targets (sonde-faultd)"
rm -f "$VAR/run/faultd.ports"
start faultd "$VAR/log/faultd.log" "$BIN/sonde-faultd" --http-listen 127.0.0.1:0 \
  --rules "$ROOT/deploy/quickstart/faultd-rules.json" --ports-file "$VAR/run/faultd.ports"
for _ in $(seq 100); do [ -s "$VAR/run/faultd.ports" ] && break; sleep 0.1; done
HTTP_PORT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"])' "$VAR/run/faultd.ports")
CLOSED_PORT=$(free_port)  # nothing listens here: connection refused

HOOK_PORT=$(free_port)
log "starting the demo webhook receiver on 127.0.0.1:$HOOK_PORT (var/log/webhook.log)"
start webhook "$VAR/log/webhook.log" python3 "$ROOT/deploy/quickstart/webhook-receiver.py" \
  "$HOOK_PORT" quickstart

sed -e "s/@HTTP_PORT@/$HTTP_PORT/g" -e "s/@CLOSED_PORT@/$CLOSED_PORT/g" -e "s/@HOOK_PORT@/$HOOK_PORT/g" \
  "$ROOT/deploy/quickstart/sonde.yaml.in" >"$VAR/sonde.yaml"
"$BIN/sondectl" validate --config "$VAR/sonde.yaml" >/dev/null

# Replica 1 is "collector" (var/log/collector.log), replica N > 1
# "collector-N"; all share the one PostgreSQL and the one config file.
COLLECTORS=()
API_PORTS=()
for r in $(seq "$REPLICAS"); do
  name=collector
  [ "$r" -eq 1 ] || name=collector-$r
  GRPC_PORT=$(free_port)
  API_PORT=$(free_port)
  if [ "$REPLICAS" -eq 1 ]; then
    log "starting sonde-collector on 127.0.0.1:$GRPC_PORT"
  else
    log "starting sonde-collector replica $r on 127.0.0.1:$GRPC_PORT"
  fi
  CLUSTER_FLAGS=()
  [ "$REPLICAS" -eq 1 ] || CLUSTER_FLAGS=(--cluster --replica-id "$name")
  start "$name" "$VAR/log/$name.log" "$BIN/sonde-collector" --listen "127.0.0.1:$GRPC_PORT" \
    --postgres "$PG" --config "$VAR/sonde.yaml" --http-listen "127.0.0.1:$API_PORT" \
    "${CLUSTER_FLAGS[@]}"
  for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$GRPC_PORT") 2>/dev/null && break
    kill -0 "$(cat "$VAR/run/$name.pid")" 2>/dev/null || { cat "$VAR/log/$name.log" >&2; exit 1; }
    sleep 0.1
  done
  COLLECTORS+=("127.0.0.1:$GRPC_PORT")
  API_PORTS+=("$API_PORT")
done
COLLECTOR=${COLLECTORS[0]}
API_PORT=${API_PORTS[0]}
# Every prober is given every replica, in the same order (docs/ha.md).
PROBER_COLLECTORS=$(IFS=,; echo "${COLLECTORS[*]}")

n=2
for region in fra ams ber; do
  log "starting sonde-prober region $region (source 127.0.0.$n)"
  start "prober-$region" "$VAR/log/prober-$region.log" "$BIN/sonde-prober" --region "$region" \
    --prober-id "quickstart-$region" --collector "$PROBER_COLLECTORS" --source-address "127.0.0.$n"
  n=$((n + 1))
done

cat <<MSG

Sonde is running.
  config      var/sonde.yaml (the collector pushes it to the probers)
  logs        var/log/
  report      build/bin/sondectl report --collector $COLLECTOR --window 15m
  incidents   build/bin/sondectl incidents --collector $COLLECTOR
              curl http://127.0.0.1:$API_PORT/api/v1/incidents
  acknowledge build/bin/sondectl ack INCIDENT_ID --collector $COLLECTOR
  status page http://127.0.0.1:$API_PORT/status  (also /status.json, /status/feed.atom)
  html report build/bin/sondectl report --collector $COLLECTOR --window 1h --format html --output var/report.html
              (written at the end: var/report.html)
  pages       var/log/webhook.log (repeated every minute until acknowledged)
MSG
if [ "$REPLICAS" -gt 1 ]; then
  echo
  echo "  $REPLICAS collector replicas on the one PostgreSQL in cluster mode (docs/ha.md): each"
  echo "  detects the services of the shards it holds; the probers are given every replica"
  echo "  (--collector $PROBER_COLLECTORS) and spread over them:"
  for i in "${!COLLECTORS[@]}"; do
    logname=collector
    [ "$i" -eq 0 ] || logname=collector-$((i + 1))
    echo "    replica $((i + 1))   gRPC ${COLLECTORS[$i]}  status page http://127.0.0.1:${API_PORTS[$i]}/status" \
      " log var/log/$logname.log"
  done
  echo "  members     build/bin/sondectl status --collectors --collector $COLLECTOR  (and their shards)"
fi

if [ -z "$DURATION" ]; then
  echo "Press Ctrl-C to stop everything."
  while true; do sleep 3600; done
fi

echo "Running for $DURATION s..."
sleep "$DURATION"
echo
"$BIN/sondectl" report --collector "$COLLECTOR" --window "$((DURATION + 60))s"
echo
write_html_report
echo
"$BIN/sondectl" incidents --collector "$COLLECTOR"
echo
echo "Notifications received (var/log/webhook.log):"
cat "$VAR/log/webhook.log"
if [ "$REPLICAS" -gt 1 ]; then
  echo
  "$BIN/sondectl" status --collectors --collector "$COLLECTOR"
fi
