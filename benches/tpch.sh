#!/usr/bin/env bash
# make bench-tpch: the 22 TPC-H queries on heap tables and on columnar tables (same data, same
# indexes: benches/tpch/indexes.sql) in one throwaway cluster, with DuckDB on the same data as the
# reference line. The cluster runs at PostgreSQL's default settings except autovacuum = off (no
# background VACUUM between measurements), fsync = off (throwaway cluster) and the lines in PGCONF.
#
# Per query, heap and columnar alternate; each run is one session: one warm-up whose answer is
# kept (a columnar answer must equal heap's byte for byte, else the report says DIFFERENT and the
# benchmark fails), then REPEATS timed runs; the report gives medians. Modes: serial
# (max_parallel_workers_per_gather = 0) and parallel (the default of 2 workers per gather).
# DuckDB runs the same query text single-threaded and with every core.
#
# Knobs: SF (default 1; 0.1 is quick), REPEATS (3), MODES ("serial parallel"), QUERIES (e.g. "q01
# q06"; default all 22), TIMEOUT (statement_timeout per query run, default 10min), PGCONF
# (postgresql.conf lines separated by ';'), CLUSTER_PORT. Data is generated once into
# target/tpch/sf<SF>/; results go to target/bench-results/tpch-<timestamp>/: report.md,
# results.csv, speedup.svg, answers/ and plans/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SF=${SF:-1}
REPEATS=${REPEATS:-3}
MODES=${MODES:-serial parallel}
TIMEOUT=${TIMEOUT:-10min}
CLUSTER_PORT=${CLUSTER_PORT:-5532}
source pg_test/cluster.sh
source benches/tpch/lib.sh
OUT=$ROOT/target/bench-results/tpch-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT/answers" "$OUT/plans"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

data=$(tpch_data "$SF")
queries=${QUERIES:-$(cd "$data/queries" && ls q*.sql | sed 's/\.sql$//' | tr '\n' ' ')}

dir=$(cluster_mkdir)
trap 'cluster_teardown "$dir" bench-tpch' EXIT
IFS=';' read -r -a conf <<<"${PGCONF:-}"
cluster_init "$dir" "autovacuum = off" "${conf[@]}"
cluster_start "$dir"
TPCH_HOST=$dir
tpch_psql -c "CREATE EXTENSION omendb"

declare -A LOAD SIZE TOTAL
for am in heap columnar; do
  log "$am: loading SF $SF"
  LOAD[$am]=$(tpch_load "$data" "$am" "$am" | tee "$OUT/load-$am.txt" | awk '{ s += $2 } END { printf "%.1f", s }')
  SIZE[$am]=$(tpch_psql -c "SELECT sum(pg_table_size(c.oid)) FROM pg_class c WHERE c.relnamespace = '$am'::regnamespace AND c.relkind = 'r'")
  TOTAL[$am]=$(tpch_psql -c "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c WHERE c.relnamespace = '$am'::regnamespace AND c.relkind = 'r'")
  log "$am: COPY ${LOAD[$am]} s, tables $((SIZE[$am] / 1048576)) MB, with indexes $((TOTAL[$am] / 1048576)) MB"
done

declare -A SETTINGS=(
  [serial]="SET max_parallel_workers_per_gather = 0; SET statement_timeout = '$TIMEOUT';"
  [parallel]="SET statement_timeout = '$TIMEOUT';"
)
failed=0
for q in $queries; do
  for mode in $MODES; do
    for am in heap columnar; do
      answer=$OUT/answers/$q-$am-$mode.out
      status=ok
      times=$(tpch_run "$am" "${SETTINGS[$mode]}" "$data/queries/$q.sql" "$answer" "$REPEATS" 2>"$OUT/answers/$q-$am-$mode.err") \
        || status=$(grep -q 'statement timeout' "$OUT/answers/$q-$am-$mode.err" && echo timeout || echo error)
      if [ "$am" = columnar ] && [ "$status" = ok ]; then
        if cmp -s "$OUT/answers/$q-heap-$mode.out" "$answer"; then status=identical; else status=DIFFERENT; failed=1; fi
      fi
      [ "$status" = error ] && failed=1
      med=$(echo "$times" | median)
      lo=$(echo "$times" | sort -g | head -n 1)
      hi=$(echo "$times" | sort -g | tail -n 1)
      echo "$q,$am-$mode,$med,$lo,$hi,$(wc -l <"$answer"),$status" >>"$OUT/results.csv"
      log "$q $mode $am: ${med:-?} ms (min ${lo:-?}, max ${hi:-?}) $status"
    done
  done
  { echo "SET search_path = columnar; ${SETTINGS[serial]}"; echo "EXPLAIN (COSTS OFF)"; cat "$data/queries/$q.sql"; } \
    | tpch_psql >"$OUT/plans/$q-columnar-serial.txt" 2>&1 || true
done

ncpu=$(nproc)
for threads in 1 "$ncpu"; do
  log "DuckDB, $threads threads"
  tpch_python duckdb "$data" "$REPEATS" "$threads" "$OUT/duckdb-$threads.csv"
  cat "$OUT/duckdb-$threads.csv" >>"$OUT/results.csv"
done

mb() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
{
  echo "# TPC-H SF $SF"
  echo
  echo "Heap and columnar tables in PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{ print $3 }')," \
    "omendb at $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' plus uncommitted changes'), DuckDB ${TPCH_PIP[0]#duckdb==}."
  echo "Machine: $ncpu cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)), $(free -g | awk '/^Mem/ { print $2 }') GB."
  echo "Settings: PostgreSQL's defaults but autovacuum = off, fsync = off${PGCONF:+, $PGCONF}; medians of $REPEATS warm runs" \
    "after one warm-up; times in ms. Command: \`make bench-tpch SF=$SF REPEATS=$REPEATS\`."
  echo
  echo "| storage | heap | columnar | columnar / heap |"
  echo "|---|---:|---:|---:|"
  echo "| tables (MB) | $(mb "${SIZE[heap]}") | $(mb "${SIZE[columnar]}") | $(ratio "${SIZE[columnar]}" "${SIZE[heap]}") |"
  echo "| tables and indexes (MB) | $(mb "${TOTAL[heap]}") | $(mb "${TOTAL[columnar]}") | $(ratio "${TOTAL[columnar]}" "${TOTAL[heap]}") |"
  echo "| COPY of the eight tables (s) | ${LOAD[heap]} | ${LOAD[columnar]} | $(ratio "${LOAD[columnar]}" "${LOAD[heap]}") |"
  echo
} >"$OUT/report.md"
tpch_python report "$OUT/results.csv" "$OUT" "TPC-H SF $SF"
cat "$OUT/report.md"
log "report: $OUT/report.md, chart: $OUT/speedup.svg"
exit $failed
