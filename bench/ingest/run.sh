#!/usr/bin/env bash
# Collector ingest benchmark (issue 4, acceptance 8): results/s from 10
# concurrent prober streams into PostgreSQL next to a raw COPY of the same
# rows, and the time from a probe's end to its commit. See README.md here.
#
#   bench/ingest/run.sh                   build, run, print the summary
#   BUILD_DIR=build-rel bench/ingest/run.sh
#   bench/ingest/run.sh --duration 20s    extra flags go to sonde-bench-ingest
#   COLLECTOR=/other/sonde-collector bench/ingest/run.sh   A/B another build
#
# Everything runs on loopback in a temporary directory: a private PostgreSQL
# (deploy/local-postgres.sh), sonde-faultd, sonde-collector, one sonde-prober
# with 200 checks (for the real probe-end-to-stored latency) and the load
# client. Every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
NAME=ingest
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_build sonde-collector sonde-prober sonde-faultd sonde-bench-ingest
BIN="$ROOT/$BUILD_DIR/bin"
COLLECTOR=${COLLECTOR:-$BIN/sonde-collector}

PG=$(start_pg)

"$BIN/sonde-faultd" --http-listen 127.0.0.1:0 --tcp-listen 127.0.0.1:0 \
  --ports-file "$WORK/faultd.ports" --log-level warn >"$WORK/faultd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do [[ -s "$WORK/faultd.ports" ]] && break; sleep 0.1; done
HTTP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"])' "$WORK/faultd.ports")
TCP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tcp"])' "$WORK/faultd.ports")
{
  echo "regions: [fra]"
  echo "defaults: {interval: 1s, timeout: 800ms}"
  echo "checks:"
  for i in $(seq 0 99); do echo "  - {name: web-$i, http: {url: 'http://127.0.0.1:$HTTP/web/$i'}}"; done
  for i in $(seq 0 99); do echo "  - {name: ssh-$i, tcp: {host: 127.0.0.1, port: $TCP}}"; done
} >"$WORK/sonde.yaml"

GRPC=$(free_port)
"$COLLECTOR" --listen "127.0.0.1:$GRPC" --postgres "$PG" --insecure \
  >"$WORK/collector.log" 2>&1 &
PIDS+=($!)
wait_port "$GRPC"

# A real prober, alone on the collector, for the probe-end-to-stored time an
# operator sees (batching included).
"$BIN/sonde-prober" --region fra --prober-id bench-real-prober --collector "127.0.0.1:$GRPC" \
  --config "$WORK/sonde.yaml" --spool-dir "$WORK/spool" --insecure >"$WORK/prober.log" 2>&1 &
PROBER=$!
PIDS+=($PROBER)
sleep 30
kill "$PROBER"
wait "$PROBER" 2>/dev/null || true

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
  "PostgreSQL $(psql --version | awk '{print $3}'), git $(git rev-parse --short HEAD 2>/dev/null || echo '?'),"\
  "collector $COLLECTOR"
"$BIN/sonde-bench-ingest" --collector "127.0.0.1:$GRPC" --postgres "$PG" \
  --prober-like 'bench-real-prober' "$@"
