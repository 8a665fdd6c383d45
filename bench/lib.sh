# Shared by the shell benchmarks (bench/*/run.sh); source it after setting
# ROOT (the source tree) and NAME (a short name). Gives: BUILD_DIR (default
# build), JOBS (default 2), bench_build TARGET... (configure RelWithDebInfo
# and build those targets), WORK (a temporary directory, removed on exit),
# PIDS (processes to stop on exit, by pid), free_port, wait_port PORT, and
# start_pg, which starts a private PostgreSQL in $WORK/pg and prints its
# conninfo.
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-2}
bench_build() {
  cmake -S "$ROOT" -B "$ROOT/$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  ninja -C "$ROOT/$BUILD_DIR" -j"$JOBS" "$@" >/dev/null
}
WORK=$(mktemp -d "/tmp/sonde-$NAME-bench.XXXXXX")
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  "$ROOT/deploy/local-postgres.sh" destroy "$WORK/pg" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() {
  for _ in $(seq 1 300); do
    (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}
start_pg() {
  "$ROOT/deploy/local-postgres.sh" start "$WORK/pg" "$(free_port)" 2>/dev/null
}
