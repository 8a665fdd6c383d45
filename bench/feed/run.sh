#!/usr/bin/env bash
# Result feed reader benchmark (docs/ha.md, "The result feed"): fills a
# private PostgreSQL through a collector with sonde-bench-ingest (its
# collector phase only; every stored batch writes its feed rows), then
# sonde-bench-feed reads the feed as shard owners do and prints results/s.
#
#   bench/feed/run.sh                  fill for 15 s, read
#   bench/feed/run.sh --duration 30s   extra flags go to sonde-bench-ingest
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
NAME=feed
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_build sonde-collector sonde-bench-ingest sonde-bench-feed
BIN="$ROOT/$BUILD_DIR/bin"

PG=$(start_pg)
GRPC=$(free_port)
"$BIN/sonde-collector" --listen "127.0.0.1:$GRPC" --postgres "$PG" --insecure \
  >"$WORK/collector.log" 2>&1 &
PIDS+=($!)
wait_port "$GRPC"

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
  "PostgreSQL $(psql --version | awk '{print $3}'), git $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
"$BIN/sonde-bench-ingest" --collector "127.0.0.1:$GRPC" --postgres "$PG" --copy=false \
  --rounds 1 --duration 15s "$@" | grep -i "collector\|results/s" || true
"$BIN/sonde-bench-feed" --postgres "$PG"
