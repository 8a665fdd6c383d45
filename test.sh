#!/usr/bin/env bash
# Installs what is missing, builds Sonde and runs every test (unit, integration
# with a real PostgreSQL, collector and probers as processes) with ctest.
#   ./test.sh            everything
#   ./test.sh -L unit    only the unit tests (any ctest arguments are passed on)
#   ./test.sh -L scenario   only the scenario suite (tests/scenarios)
set -euo pipefail
cd "$(dirname "$0")"

./deploy/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j2
if [ $# -gt 0 ]; then
  exec ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 "$@"
fi
# The scenario suite (label "scenario") and the long runs (label "longrun":
# whole clusters that mostly wait on the clock, light on CPU; label "patroni":
# PostgreSQL failing over under Patroni, waiting on its ttl) run beside the rest, whose integration tests
# each need the machine to themselves (RUN_SERIAL). Three at a time: the
# 10-minute noise story takes one slot, the other stories and long runs
# share two (longest first, by COST), so the lane ends with the noise story.
SCENARIO_LOG=$BUILD_DIR/scenario-tests.log
ctest --test-dir "$BUILD_DIR" -V -j3 -L 'scenario|longrun|patroni|cluster' >"$SCENARIO_LOG" 2>&1 &
scenario_pid=$!
status=0
MAIN_LOG=$BUILD_DIR/main-tests.log
ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 -LE 'scenario|longrun|patroni|cluster' 2>&1 |
  tee "$MAIN_LOG" || status=$?
scenario_status=0
wait "$scenario_pid" || scenario_status=$?
echo
echo "=== scenario suite (ctest -L scenario, ran alongside; full log: $SCENARIO_LOG) ==="
if [ "$scenario_status" -ne 0 ]; then
  cat "$SCENARIO_LOG"
else
  grep -E '\[ time to (detect|notify) \]|\[ (patroni failover|handover|fenced|delivery) \]|Test +#[0-9]+:|tests passed|Total Test time' "$SCENARIO_LOG" |
    sed -E 's/^[0-9]+: //; s/ \.{3,}/ /'
fi
# Both logs are long (a failed scenario dumps its processes' logs): repeat
# the failed assertions last, where a reader of the tail sees them.
if [ "$status" -ne 0 ] || [ "$scenario_status" -ne 0 ]; then
  echo
  echo "=== failed assertions ==="
  grep -E -A8 ': Failure$' "$MAIN_LOG" | cut -c1-400 | head -100 || true
  for n in $(sed -nE 's/^[[:space:]]+([0-9]+) - .*\((Failed|Timeout)\)$/\1/p' "$SCENARIO_LOG"); do
    grep -E -A8 "^$n: .*: Failure$" "$SCENARIO_LOG" | cut -c1-400 | head -80 || true
  done
fi
[ "$status" -eq 0 ] && [ "$scenario_status" -eq 0 ]
