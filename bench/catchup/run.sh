#!/usr/bin/env bash
# Catch-up benchmark (issue 11): how fast a prober's backlog reaches
# PostgreSQL after an outage. A spool holding 5 minutes of 200 checks at 1 s
# (60,000 results in batches of 500) is written with the prober's own Spool
# class; then a real sonde-prober, running those 200 checks on top, starts on
# it against a real sonde-collector and PostgreSQL. Printed: results/s from
# the first to the last backlog commit, and from the prober's start.
#
#   bench/catchup/run.sh                    build into ./build, run, print
#   BUILD_DIR=build-rel bench/catchup/run.sh
#   MINUTES=10 CHECKS=200 bench/catchup/run.sh
#
# Everything runs on loopback in a temporary directory; every process it
# starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
MINUTES=${MINUTES:-5}
CHECKS=${CHECKS:-200}
ID=bench-catchup
NAME=catchup
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_build sonde-collector sonde-prober sonde-faultd sonde-bench-catchup-fill
BIN="$ROOT/$BUILD_DIR/bin"

PG=$(start_pg)
sql() { psql "$PG" -XAtqc "$1"; }

"$BIN/sonde-faultd" --http-listen 127.0.0.1:0 --ports-file "$WORK/faultd.ports" \
  --log-level warn >"$WORK/faultd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do [[ -s "$WORK/faultd.ports" ]] && break; sleep 0.1; done
HTTP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"])' "$WORK/faultd.ports")
{
  echo "regions: [fra]"
  echo "defaults: {interval: 1s, timeout: 800ms}"
  echo "checks:"
  for i in $(seq 0 $((CHECKS - 1))); do
    echo "  - {name: web-$i, http: {url: 'http://127.0.0.1:$HTTP/web/$i'}}"
  done
} >"$WORK/sonde.yaml"

GRPC=$(free_port)
"$BIN/sonde-collector" --listen "127.0.0.1:$GRPC" --postgres "$PG" --insecure \
  >"$WORK/collector.log" 2>&1 &
PIDS+=($!)
wait_port "$GRPC"

read -r TOTAL FIRST LAST < <("$BIN/sonde-bench-catchup-fill" --spool-dir "$WORK/spool" \
  --prober-id "$ID" --region fra --checks "$CHECKS" --minutes "$MINUTES")
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
  "git $(git rev-parse --short HEAD 2>/dev/null || echo '?'); backlog: $TOTAL results" \
  "($CHECKS checks at 1 s for $MINUTES min), spool $(du -sh "$WORK/spool" | cut -f1)"

START=$(sql "SELECT extract(epoch FROM clock_timestamp())")
"$BIN/sonde-prober" --region fra --prober-id "$ID" --collector "127.0.0.1:$GRPC" \
  --config "$WORK/sonde.yaml" --spool-dir "$WORK/spool" --insecure >"$WORK/prober.log" 2>&1 &
PIDS+=($!)
STORED=0
for _ in $(seq 1 1200); do  # at most 2 minutes
  STORED=$(sql "SELECT count(*) FROM results WHERE prober_id = '$ID' AND seq BETWEEN $FIRST AND $LAST")
  [[ "$STORED" -ge "$TOTAL" ]] && break
  sleep 0.1
done
if [[ "$STORED" -lt "$TOTAL" ]]; then
  echo "only $STORED of $TOTAL backlog results stored after 2 minutes" >&2
  tail -20 "$WORK/prober.log" >&2
  exit 1
fi
read -r SPAN FROM_START < <(sql "SELECT extract(epoch FROM max(received_at) - min(received_at)),
  extract(epoch FROM max(received_at)) - $START FROM results
  WHERE prober_id = '$ID' AND seq BETWEEN $FIRST AND $LAST" | tr '|' ' ')
python3 - "$TOTAL" "$SPAN" "$FROM_START" <<'PY'
import sys
total, span, from_start = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(f"catch-up: {total} results, first to last backlog commit {span:.2f} s = "
      f"{total / span:,.0f} results/s; from the prober's start {from_start:.2f} s = "
      f"{total / from_start:,.0f} results/s")
PY
