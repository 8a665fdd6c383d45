#!/usr/bin/env bash
# Builds the Debian packages sonde-prober, sonde-collector and sondectl from a
# clean checkout of the committed HEAD (never from the working tree's edits or
# build directories) and puts them in dist/. Installs its own build
# dependencies (deploy/install-deps.sh). How the packages are made:
# cmake/SondePackaging.cmake (CPack DEB); what they contain:
# docs/operations.md ("Installing from the Debian packages").
#   ./packaging.sh              -> dist/*.deb, lintian output printed
#   PACKAGING_DIR=/tmp/x ./packaging.sh   (where the clean checkout is built)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")" && pwd)
cd "$ROOT"

./deploy/install-deps.sh
WORK=${PACKAGING_DIR:-$ROOT/build-packaging}
rm -rf "$WORK"
mkdir -p "$WORK"
git clone --quiet --no-local "$ROOT" "$WORK/src"
echo "packaging: $(git -C "$WORK/src" describe --always --abbrev=12) in $WORK/src"
# Only the three binaries and the man pages are needed: installing must not
# first build every test (CMAKE_SKIP_INSTALL_ALL_DEPENDENCY).
cmake -S "$WORK/src" -B "$WORK/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON >/dev/null
cmake --build "$WORK/build" -j"$(nproc)" --target sonde-prober sonde-collector sondectl sonde-man
(cd "$WORK/build" && cpack -G DEB -B "$WORK/dist" >/dev/null)
mkdir -p "$ROOT/dist"
rm -f "$ROOT"/dist/*.deb
cp "$WORK"/dist/*.deb "$ROOT/dist/"
ls -l "$ROOT"/dist/*.deb
if command -v lintian >/dev/null; then
  lintian --pedantic --display-info --show-overrides "$ROOT"/dist/*.deb
fi
