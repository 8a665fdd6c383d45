#!/usr/bin/env bash
# Installs what is missing, builds Sonde and runs every test (unit, integration
# with a real PostgreSQL, collector and probers as processes) with ctest.
#   ./test.sh            everything
#   ./test.sh -L unit    only the unit tests (any ctest arguments are passed on)
set -euo pipefail
cd "$(dirname "$0")"

./deploy/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j2
ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 "$@"
