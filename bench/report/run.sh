#!/usr/bin/env bash
# Availability report benchmark (issue 12, acceptance 1): `sondectl report
# --window 30d` (Query.Availability's handler) over synthetic rollups of
# 10,000 checks x 3 regions x 30 days on a throwaway PostgreSQL.
#
#   bench/report/run.sh                         build into ./build, run, print
#   CHECKS=1000 DAYS=7 bench/report/run.sh
#   MINUTE_HOURS=6 bench/report/run.sh         also minute rows of every series
#                                               for the last 6 hours (a big table)
#   SILENCE_EVERY=300                           one series in N has a silence
#   BEFORE_BIN=/path/to/old/sonde-bench-report bench/report/run.sh
#                                               that build first, on its own
#                                               fresh PostgreSQL, then this one
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
CHECKS=${CHECKS:-10000}
DAYS=${DAYS:-30}
RUNS=${RUNS:-5}
SILENCE_EVERY=${SILENCE_EVERY:-300}
MINUTE_HOURS=${MINUTE_HOURS:-0}
NAME=report
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_build sonde-bench-report
run() {  # BINARY LABEL [FLAG...]: a fresh PostgreSQL, the fill, the runs
  local bin=$1 label=$2 pg dir="$WORK/pg-${2%% *}"
  shift 2
  pg=$("$ROOT/deploy/local-postgres.sh" start "$dir" "$(free_port)" 2>/dev/null)
  echo "# $label: $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) CPUs, load average" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
  "$bin" --postgres "$pg" --checks "$CHECKS" --regions 3 --days "$DAYS" --runs "$RUNS" "$@" \
    2>/dev/null
  "$ROOT/deploy/local-postgres.sh" destroy "$dir" >/dev/null 2>&1 || true
}
if [ -n "${BEFORE_BIN:-}" ]; then
  run "$BEFORE_BIN" before
fi
# Builds before the silences (session 7) know neither flag.
run "$ROOT/$BUILD_DIR/bin/sonde-bench-report" "git $(git rev-parse --short HEAD 2>/dev/null || echo '?')" \
  --silence-every "$SILENCE_EVERY" --minute-hours "$MINUTE_HOURS"
