#!/usr/bin/env bash
# Availability report benchmark (issue 12, acceptance 1): `sondectl report
# --window 30d` (Query.Availability's handler) over synthetic rollups of
# 10,000 checks x 3 regions x 30 days on a throwaway PostgreSQL.
#
#   bench/report/run.sh                         build into ./build, run, print
#   CHECKS=1000 DAYS=7 bench/report/run.sh
#   BEFORE_BIN=/path/to/old/sonde-bench-report bench/report/run.sh
#                                               that build first, on its own
#                                               fresh PostgreSQL, then this one
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
CHECKS=${CHECKS:-10000}
DAYS=${DAYS:-30}
RUNS=${RUNS:-5}
NAME=report
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_build sonde-bench-report
run() {  # BINARY LABEL: a fresh PostgreSQL, the fill, the runs
  local pg dir="$WORK/pg-${2%% *}"
  pg=$("$ROOT/deploy/local-postgres.sh" start "$dir" "$(free_port)" 2>/dev/null)
  echo "# $2: $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) CPUs, load average" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
  "$1" --postgres "$pg" --checks "$CHECKS" --regions 3 --days "$DAYS" --runs "$RUNS" 2>/dev/null
  "$ROOT/deploy/local-postgres.sh" destroy "$dir" >/dev/null 2>&1 || true
}
if [ -n "${BEFORE_BIN:-}" ]; then
  run "$BEFORE_BIN" before
fi
run "$ROOT/$BUILD_DIR/bin/sonde-bench-report" "git $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
