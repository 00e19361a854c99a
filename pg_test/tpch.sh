#!/usr/bin/env bash
# The 22 TPC-H queries on columnar tables against the same queries on heap tables, at a small
# scale factor (TPCH_TEST_SF, default 0.01; data from DuckDB's tpch extension, generated once into
# target/tpch/). Every columnar answer must equal heap's, byte for byte:
#   - in three states of the tables: as loaded (rows folded into row groups by VACUUM); after
#     committed deletes, updates and inserts, a rolled-back transaction and a rolled-back savepoint
#     (rows in delta pages, deleted rows in row groups); and after VACUUM again;
#   - in each state with the columnar nodes serial, in parallel plans (forced by zero parallel
#     costs), and with the columnar scan and aggregate nodes turned off (the table AM's own scans).
# EXPLAIN proves every query reads a columnar table through a columnar node, and columnar_check
# passes on every table at the end. The extension must be installed (make test does that).
set -euo pipefail
cd "$(dirname "$0")/.."
source pg_test/cluster.sh
source benches/tpch/lib.sh
SF=${TPCH_TEST_SF:-0.01}
OUT=$PWD/target/pg_test-logs/tpch
rm -rf "$OUT"; mkdir -p "$OUT"

data=$(tpch_data "$SF")
dir=$(cluster_mkdir)
trap 'cluster_teardown "$dir" tpch' EXIT
cluster_init "$dir" "autovacuum = off" "max_worker_processes = 8"
cluster_start "$dir"
TPCH_HOST=$dir
tpch_psql -c "CREATE EXTENSION omendb"
for am in heap columnar; do tpch_load "$data" "$am" "$am" >/dev/null; done

declare -A MODES=(
  [serial]="SET max_parallel_workers_per_gather = 0;"
  [parallel]="SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2;"
  [nodes_off]="SET max_parallel_workers_per_gather = 0; SET omendb.enable_columnar_scan = off; SET omendb.enable_columnar_aggregate = off;"
)
failures=0
queries=$(ls "$data"/queries/q*.sql)

compare_all() {
  local state=$1 query q mode
  for query in $queries; do
    q=$(basename "$query" .sql)
    tpch_run heap "${MODES[serial]}" "$query" "$OUT/$state-$q-heap.out" 0
    for mode in serial parallel nodes_off; do
      tpch_run columnar "${MODES[$mode]}" "$query" "$OUT/$state-$q-columnar-$mode.out" 0
      if ! cmp -s "$OUT/$state-$q-heap.out" "$OUT/$state-$q-columnar-$mode.out"; then
        echo "FAIL $state $q $mode: columnar answer differs from heap's" >&2
        diff "$OUT/$state-$q-heap.out" "$OUT/$state-$q-columnar-$mode.out" | head -n 10 >&2 || true
        failures=$((failures + 1))
      fi
    done
    if [ "$state" = loaded ] && [ ! -s "$OUT/$state-$q-heap.out" ]; then
      echo "FAIL $q: no rows on the loaded data, the comparison proves nothing" >&2
      failures=$((failures + 1))
    fi
  done
  echo "tpch: $state: 22 queries x 3 columnar modes compared with heap"
}

compare_all loaded

# Every query reads at least one columnar table through a columnar node; parallel plans use them too.
for query in $queries; do
  q=$(basename "$query" .sql)
  { echo "SET search_path = columnar; ${MODES[serial]}"; echo "EXPLAIN (COSTS OFF)"; cat "$query"; } \
    | tpch_psql >"$OUT/$q-plan.txt"
  { echo "SET search_path = columnar; ${MODES[parallel]}"; echo "EXPLAIN (COSTS OFF)"; cat "$query"; } \
    | tpch_psql >"$OUT/$q-parallel-plan.txt"
  if ! grep -Eq 'Custom Scan \(Columnar(Scan|Aggregate)\)' "$OUT/$q-plan.txt"; then
    echo "FAIL $q: the plan on columnar tables has no columnar node:" >&2
    cat "$OUT/$q-plan.txt" >&2
    failures=$((failures + 1))
  fi
done
parallel=$(grep -l 'Parallel Custom Scan (ColumnarScan)' "$OUT"/q*-parallel-plan.txt | wc -l)
echo "tpch: columnar nodes in $(grep -lE 'Custom Scan \(Columnar' "$OUT"/q??-plan.txt | wc -l) of 22 serial plans" \
  "(the aggregate node in $(grep -l 'ColumnarAggregate' "$OUT"/q??-plan.txt | wc -l)), parallel columnar scans in $parallel"
if [ "$parallel" -eq 0 ]; then echo "FAIL: no parallel plan has a parallel columnar scan" >&2; failures=$((failures + 1)); fi

# The same committed and rolled-back changes on both.
for schema in heap columnar; do
  tpch_psql <<SQL
SET search_path = $schema;
BEGIN;
DELETE FROM lineitem WHERE l_orderkey % 13 = 0;
UPDATE lineitem SET l_quantity = l_quantity + 1, l_discount = 0.10 WHERE l_orderkey % 17 = 0;
INSERT INTO lineitem SELECT l_orderkey, l_partkey, l_suppkey, l_linenumber + 10, l_quantity * 3,
  l_extendedprice, l_discount, l_tax, 'R', l_linestatus, l_shipdate + 30, l_commitdate, l_receiptdate,
  l_shipinstruct, l_shipmode, left(l_comment, 38) || ' again' FROM lineitem WHERE l_orderkey % 11 = 0;
UPDATE orders SET o_orderpriority = '1-URGENT', o_orderstatus = 'F' WHERE o_orderkey % 19 = 0;
DELETE FROM customer WHERE c_custkey % 23 = 0;
UPDATE part SET p_size = 15, p_type = 'STANDARD POLISHED BRASS' WHERE p_partkey % 29 = 0;
COMMIT;
BEGIN;
DELETE FROM lineitem WHERE l_orderkey % 5 = 0;
UPDATE partsupp SET ps_availqty = 0;
ROLLBACK;
BEGIN;
SAVEPOINT s;
DELETE FROM orders WHERE o_orderkey % 3 = 0;
ROLLBACK TO SAVEPOINT s;
UPDATE partsupp SET ps_supplycost = ps_supplycost * 2 WHERE ps_partkey % 7 = 0;
COMMIT;
SQL
done
compare_all changed

for schema in heap columnar; do tpch_psql -c "SET search_path = $schema" -c "VACUUM $TPCH_TABLES"; done
compare_all vacuumed

for table in ${TPCH_TABLES//,/}; do
  tpch_psql -c "SELECT columnar_check('columnar.$table')" >/dev/null \
    || { echo "FAIL columnar_check on $table" >&2; failures=$((failures + 1)); }
done

if [ "$failures" -ne 0 ]; then
  echo "tpch: $failures failures (answers and plans in $OUT)" >&2
  exit 1
fi
echo "tpch: all answers identical at SF $SF"
