#!/usr/bin/env bash
# Availability report benchmark (issue 12, acceptance 1): `sondectl report
# --window 30d` (Query.Availability's handler) over synthetic rollups of
# 10,000 checks x 3 regions x 30 days on a throwaway PostgreSQL.
#
#   bench/report/run.sh                         build into ./build, run, print
#   CHECKS=1000 DAYS=7 bench/report/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-2}
CHECKS=${CHECKS:-10000}
DAYS=${DAYS:-30}
RUNS=${RUNS:-5}

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$BUILD_DIR" -j"$JOBS" sonde-bench-report >/dev/null

NAME=report
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
PG=$(start_pg)
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
  "git $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
"$ROOT/$BUILD_DIR/bin/sonde-bench-report" --postgres "$PG" --checks "$CHECKS" --regions 3 \
  --days "$DAYS" --runs "$RUNS"
