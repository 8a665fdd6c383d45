#!/usr/bin/env bash
# Config load benchmark (issue 16): a 100,000-check config from YAML text to
# the delta the collector sends, stage by stage, and whole `sondectl
# validate` runs (wall time, peak RSS) of this build and, with BEFORE_REV,
# of another commit's, interleaved in the same run. See bench/README.md.
#
#   bench/config_load/run.sh                         this build only
#   BEFORE_REV=aae5168 bench/config_load/run.sh      and that commit's sondectl beside it
#   BEFORE_BIN=/path/sondectl bench/config_load/run.sh
#   CHECKS=50000 ROUNDS=5 bench/config_load/run.sh
#
# Writes only under $BUILD_DIR and a temporary directory; starts no daemon.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
CHECKS=${CHECKS:-100000}
ROUNDS=${ROUNDS:-3}
NAME=config-load
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_build sondectl sonde-bench-config-load
args=(--checks "$CHECKS" --rounds "$ROUNDS")
if [[ -n "${BEFORE_REV:-}" ]]; then
  # The other commit's tree under the build dir (so ccache's base_dir
  # applies), built with the same flags.
  BEFORE_SRC="$ROOT/$BUILD_DIR/config-load-before/src"
  rm -rf "$BEFORE_SRC" && mkdir -p "$BEFORE_SRC"
  git -C "$ROOT" archive "$BEFORE_REV" | tar -x -C "$BEFORE_SRC"
  cmake -S "$BEFORE_SRC" -B "$BEFORE_SRC/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  ninja -C "$BEFORE_SRC/build" -j"$JOBS" sondectl >/dev/null
  BEFORE_BIN="$BEFORE_SRC/build/bin/sondectl"
fi
if [[ -n "${BEFORE_BIN:-}" ]]; then
  args+=(--sondectl "before (${BEFORE_REV:-$BEFORE_BIN})=$BEFORE_BIN")
fi
args+=(--sondectl "after ($(git -C "$ROOT" describe --always --dirty))=$ROOT/$BUILD_DIR/bin/sondectl")
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$ROOT/$BUILD_DIR/bin/sonde-bench-config-load" "${args[@]}" --dir "$WORK"
