#!/usr/bin/env bash
# Collector replicas benchmark (issue 14, acceptance 3): ingest results/s with
# 1, 2 and 3 sonde-collector replicas in front of one PostgreSQL, and the
# ratios 2÷1 and 3÷1. See bench/README.md ("Collector replicas").
#
#   bench/cluster/run.sh                      build, run, print the summary
#   bench/cluster/run.sh --rounds 3 --duration 20s --streams 12
#   BUILD_DIR=build-rel bench/cluster/run.sh
#
# Everything runs on loopback in a temporary directory: a private PostgreSQL
# (deploy/local-postgres.sh), three sonde-collectors on it (no --config: they
# store, they do not detect) and bench/ingest's load generator
# (sonde-bench-ingest), whose --streams prober-like streams are spread over
# the first N replicas (stream i -> replica i mod N). The runs with N = 1, 2,
# 3 alternate for --rounds rounds, so other load on the machine hits them
# alike; medians are reported. Afterwards it measures, from the real tables,
# the bytes per stored result (results partitions with their indexes, the
# dedup rows, the minute rollups) and the WAL written per result, and, per
# run, the CPU time the collectors and PostgreSQL spent per stored result.
# Every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
NAME=cluster
ROUNDS=2
DURATION=15s
STREAMS=12
REPLICAS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --streams) STREAMS=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "bench/cluster: unknown argument $1" >&2; exit 2 ;;
  esac
done
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_build sonde-collector sonde-bench-ingest
BIN="$ROOT/$BUILD_DIR/bin"

PG=$(start_pg)
sql() { psql "$PG" -XAtqc "$1"; }

ADDRS=()
for i in $(seq 1 "$REPLICAS"); do
  port=$(free_port)
  "$BIN/sonde-collector" --listen "127.0.0.1:$port" --postgres "$PG" --insecure \
    --replica-id "bench-$i" >"$WORK/collector-$i.log" 2>&1 &
  PIDS+=($!)
  wait_port "$port"
  ADDRS+=("127.0.0.1:$port")
done

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')),"\
  "load average $(cut -d' ' -f1-3 /proc/loadavg), PostgreSQL $(psql --version | awk '{print $3}'),"\
  "git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (+ working tree)')"
echo "# $STREAMS streams x 500 results/batch, <= 8 unacked each, $DURATION per run, $ROUNDS rounds"

# CPU seconds (user + system) used so far by the given processes and by
# every PostgreSQL process (the postmaster's children included).
PG_MAIN=$(head -n 1 "$WORK/pg/postmaster.pid" 2>/dev/null || head -n 1 "$(readlink -f "$WORK/pg")/postmaster.pid")
cpu_seconds() {
  python3 - "$@" <<'PY'
import os, sys
hz = os.sysconf("SC_CLK_TCK")
def ticks(pid):
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])
    except OSError:
        return 0
print(sum(ticks(p) for p in sys.argv[1:]) / hz)
PY
}
pg_pids() { echo "$PG_MAIN" $(pgrep -P "$PG_MAIN"); }

declare -A RATES CPU_COLLECTOR CPU_PG
for round in $(seq 1 "$ROUNDS"); do
  for n in $(seq 1 "$REPLICAS"); do
    list=$(IFS=,; echo "${ADDRS[*]:0:$n}")
    rows0=$(sql "SELECT count(*) FROM results")
    c0=$(cpu_seconds "${PIDS[@]}")
    p0=$(cpu_seconds $(pg_pids))
    json=$("$BIN/sonde-bench-ingest" --collector "$list" --postgres "$PG" --streams "$STREAMS" \
      --duration "$DURATION" --rounds 1 --copy=false --paced-rate 0 | tail -n 1)
    c1=$(cpu_seconds "${PIDS[@]}")
    p1=$(cpu_seconds $(pg_pids))
    stored=$(( $(sql "SELECT count(*) FROM results") - rows0 ))
    rate=$(python3 -c 'import json,sys; print(round(json.loads(sys.argv[1])["ingest_results_per_s"]))' "$json")
    # CPU microseconds per stored result, warm-up and drain included.
    cus=$(python3 -c "print(round(($c1 - $c0) * 1e6 / max(1, $stored), 1))")
    pus=$(python3 -c "print(round(($p1 - $p0) * 1e6 / max(1, $stored), 1))")
    RATES[$n]="${RATES[$n]:-} $rate"
    CPU_COLLECTOR[$n]="${CPU_COLLECTOR[$n]:-} $cus"
    CPU_PG[$n]="${CPU_PG[$n]:-} $pus"
    echo "round $round: $n replica(s): $rate results/s; CPU per result: collectors $cus us," \
      "PostgreSQL $pus us (load average $(cut -d' ' -f1 /proc/loadavg))"
  done
done

# One more run on all replicas, between two WAL positions: WAL per result.
wal0=$(sql "SELECT pg_current_wal_lsn()")
rows0=$(sql "SELECT count(*) FROM results")
list=$(IFS=,; echo "${ADDRS[*]}")
"$BIN/sonde-bench-ingest" --collector "$list" --postgres "$PG" --streams "$STREAMS" \
  --duration 5s --warmup 0s --rounds 1 --copy=false --paced-rate 0 >/dev/null
wal_per_result=$(sql "SELECT round(pg_wal_lsn_diff(pg_current_wal_lsn(), '$wal0') /
  greatest(1, (SELECT count(*) FROM results) - $rows0))")

sql "VACUUM ANALYZE" >/dev/null
# Partitioned parents have no storage of their own: sum their partitions.
size_of() {
  sql "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) + pg_total_relation_size('$1'::regclass)
         FROM pg_inherits WHERE inhparent = '$1'::regclass"
}
rows=$(sql "SELECT count(*) FROM results")
results_bytes=$(size_of results)
batches_bytes=$(size_of ingested_batches)
minute_rows=$(sql "SELECT count(*) FROM rollup_minute")
minute_bytes=$(( $(size_of rollup_minute) + $(size_of rollup_minute_class) ))
# The rows themselves (what a partition of well-packed rows holds; the
# sizes above include free space, e.g. the rollups' upserts leave dead rows).
results_tuple=$(sql "SELECT round(avg(pg_column_size(r.*))) FROM (SELECT * FROM results LIMIT 100000) r")
results_extra=$(sql "SELECT round(avg(pg_column_size(extra))) FROM (SELECT extra FROM results LIMIT 100000) r")
minute_tuple=$(sql "SELECT round(avg(pg_column_size(r.*))) FROM rollup_minute r")

python3 - "$wal_per_result" "$rows" "$results_bytes" "$batches_bytes" "$minute_rows" "$minute_bytes" \
  "$results_tuple" "$minute_tuple" "$results_extra" "${RATES[1]}" "${RATES[2]}" "${RATES[3]}" \
  "${CPU_COLLECTOR[1]} ${CPU_COLLECTOR[2]} ${CPU_COLLECTOR[3]}" "${CPU_PG[1]} ${CPU_PG[2]} ${CPU_PG[3]}" <<'PY'
import json, statistics, sys
wal, rows, rb, bb, mrows, mb, rt, mt, re = (int(x) for x in sys.argv[1:10])
med = [statistics.median(int(x) for x in a.split()) for a in sys.argv[10:13]]
cpu_c = statistics.median(float(x) for x in sys.argv[13].split())
cpu_p = statistics.median(float(x) for x in sys.argv[14].split())
for n, m in enumerate(med, 1):
    print(f"{n} replica(s): median {m:.0f} results/s ({m / n:.0f} per replica)")
print(f"CPU per stored result (median of all runs): collectors {cpu_c:.1f} us, PostgreSQL {cpu_p:.1f} us")
print(f"ratio 2/1: {med[1] / med[0]:.2f}   ratio 3/1: {med[2] / med[0]:.2f}")
print(f"stored: {rows} results; on disk (heap + indexes + TOAST): results {rb / rows:.0f} bytes/result"
      f" (the row alone {rt} bytes, of which the extra JSON {re}), ingested_batches {bb / rows:.1f} bytes/result,"
      f" minute rollups {mrows} rows, {mb / max(1, mrows):.0f} bytes/row (the row alone {mt} bytes);"
      f" WAL {wal} bytes/result")
print(json.dumps({"results_per_s": {str(n): round(m) for n, m in enumerate(med, 1)},
                  "ratio_2_1": round(med[1] / med[0], 3), "ratio_3_1": round(med[2] / med[0], 3),
                  "results_bytes_per_row": round(rb / rows), "results_tuple_bytes": rt, "results_extra_bytes": re,
                  "batches_bytes_per_result": round(bb / rows, 1),
                  "rollup_minute_bytes_per_row": round(mb / max(1, mrows)), "rollup_minute_tuple_bytes": mt,
                  "wal_bytes_per_result": wal, "collector_cpu_us_per_result": cpu_c,
                  "postgres_cpu_us_per_result": cpu_p}))
PY
