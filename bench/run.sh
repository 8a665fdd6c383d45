#!/usr/bin/env bash
# bench/run.sh: the Sonde benchmark (see bench/README.md).
#
#   bench/run.sh [--rate 1000] [--window 10] [--rounds 1] [--kinds http,tcp,dns]
#                [--rss-checks 1000,100000] [--json FILE]
#
# Installs what is missing (prometheus-blackbox-exporter, postgresql) with
# apt-get, configures and builds the Release tree in $SONDE_BENCH_BUILD_DIR
# (default: build-bench beside this directory) with at most $SONDE_BENCH_JOBS
# (default 2) compile jobs, then runs bench/bench.py, which prints a Markdown
# report on stdout (progress on stderr). All traffic stays on loopback; every
# process the benchmark starts is stopped by it. Takes about 3 minutes per
# round on a 2-core machine.
set -euo pipefail

HERE="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
SOURCE="$(dirname -- "${HERE}")"
BUILD="${SONDE_BENCH_BUILD_DIR:-${SOURCE}/build-bench}"
JOBS="${SONDE_BENCH_JOBS:-2}"

note() { echo "[run.sh] $*" >&2; }

need_packages=()
command -v prometheus-blackbox-exporter >/dev/null || need_packages+=(prometheus-blackbox-exporter)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_packages+=(postgresql)
command -v cmake >/dev/null || need_packages+=(cmake)
command -v ninja >/dev/null || need_packages+=(ninja-build)
if ((${#need_packages[@]} > 0)); then
  note "installing ${need_packages[*]}"
  SUDO=""
  [[ "$(id -u)" -eq 0 ]] || SUDO="sudo"
  ${SUDO} apt-get update -q
  DEBIAN_FRONTEND=noninteractive ${SUDO} apt-get install -y -q --no-install-recommends \
    "${need_packages[@]}"
fi
# The Debian package starts an exporter on :9115; the benchmark runs its own
# on a free loopback port and does not need that one.

if [[ ! -f "${BUILD}/build.ninja" ]]; then
  note "configuring ${BUILD}"
  cmake -S "${SOURCE}" -B "${BUILD}" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
fi
note "building (ninja -j${JOBS})"
ninja -C "${BUILD}" -j"${JOBS}" sonde-prober sonde-collector sonde-faultd sonde-bench >&2

exec python3 "${HERE}/bench.py" --build-dir "${BUILD}" "$@"
