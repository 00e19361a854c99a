#!/usr/bin/env bash
# make bench-orders: how alex and btree take rows inserted in orders that defeat gapped arrays
# (appends at either end, streams, jitter, duplicates, skew): ROWS keys in one INSERT into an empty
# index, and statements on an index built on ROWS keys (a key next to every key, more rows).
# Each runs REPEATS times, alex and btree alternating, in one throwaway cluster.
# Prints a markdown table: median milliseconds of each, their ratio, the WAL each wrote (MB) and the
# index sizes' ratio; every alex index must also pass alex_check. Needs the extension installed
# (make install: a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-300000}
REPEATS=${REPEATS:-3}
export CLUSTER_LOGDIR=$PWD/target/bench-results
source pg_test/cluster.sh
export PGOPTIONS="-c client_min_messages=warning"

# name|key expression over g = 1..ROWS, inserted into an empty index
ORDERS=(
  "random|(random() * 1e12)::int8"
  "ascending|g"
  "descending|-g"
  "two streams meeting (g or 1e12 - g)|CASE WHEN g % 2 = 0 THEN g ELSE 1e12 - g END"
  "ascending with jitter (g*100 + random()*5000)|g * 100 + random() * 5000"
  "(1/random())::int8 % 1e6|(1 / random())::int8 % 1000000"
  "sawtooth g % 1000|g % 1000"
  "1000 distinct values|(random() * 1000)::int8"
  "lognormal|exp(random() * 20 + random() * 5)::int8"
  "7 descending streams|(g % 7) * 1e9 - g"
  "100 ascending streams|(hashint4(g % 100)::int8 << 20) + g"
  "5 keys in turn|g % 5"
  "3000 wide keys in random turn|hashint4((random() * 3000)::int4)::int8 << 32"
  "descending, 100 rows a key|-(g / 100)"
  "10 interleaved ascending streams|(g % 10) * 1e9 + g"
  "10000 ascending streams, in random turn|(abs(hashint4(g)) % 10000)::int8 * 1000000000 + g"
)
# name|key expression over g = 1..ROWS for the rows before CREATE INDEX|the timed statement on o(k)
BUILT=(
  "k + 1 for every key k of a built index|(random() * 1e12)::int8|INSERT INTO o SELECT k + 1 FROM o"
  "UPDATE k = k + 1 (built index)|(random() * 1e12)::int8|UPDATE o SET k = k + 1"
  "one ascending stream per key of a built index|g::int8 * 1000000000|INSERT INTO o SELECT (abs(hashint4(g)) % $ROWS)::int8 * 1000000000 + g FROM generate_series(1, $ROWS) g"
  "every key of a built index again, ascending|g|INSERT INTO o SELECT g FROM generate_series(1, $ROWS) g"
  "3000 wide keys, built, then a third more rows of them|hashint4((random() * 3000)::int4)::int8 << 32|INSERT INTO o SELECT hashint4((random() * 3000)::int4)::int8 << 32 FROM generate_series(1, $ROWS / 3)"
  "3000 wide keys, built, then a third more rows of new random keys|hashint4((random() * 3000)::int4)::int8 << 32|INSERT INTO o SELECT (random() * 1.8e19 - 9e18)::int8 FROM generate_series(1, $ROWS / 3)"
)

dir=$(cluster_mkdir)
trap 'cluster_teardown "$dir" bench-orders' EXIT
cluster_init "$dir" "shared_buffers = 1GB" "max_wal_size = 20GB" "checkpoint_timeout = 1d" \
  "autovacuum = off" "max_parallel_workers_per_gather = 0" "jit = off"
cluster_start "$dir"
cluster_psql "$dir" -c "CREATE EXTENSION omendb"

# One timed statement ($3) on a fresh table o(k) with an index of kind $1, built after the rows of
# key expression $2 (none if empty) were inserted: prints "ms|WAL bytes|index bytes|check".
run_once() {
  local kind=$1 prefill=$2 statement=$3 check=true
  [ "$kind" = alex ] && check="alex_check('o_k')"
  cluster_psql "$dir" -At -v kind="$kind" <<EOF
DROP TABLE IF EXISTS o;
CREATE TABLE o (k int8);
SELECT setseed(0.5);
${prefill:+INSERT INTO o SELECT $prefill FROM generate_series(1, $ROWS) g;}
CREATE INDEX o_k ON o USING :kind (k);
SELECT setseed(0.25);
CHECKPOINT;
SELECT pg_current_wal_insert_lsn() AS l0, clock_timestamp() AS t0 \gset
$statement;
SELECT round(extract(epoch FROM clock_timestamp() - :'t0') * 1000), pg_current_wal_insert_lsn() - :'l0',
       pg_relation_size('o_k'), $check;
EOF
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# One row of the table: name, prefill, statement.
measure() {
  local name=$1 prefill=$2 statement=$3 a_ms=() b_ms=() ms a_wal b_wal a_size b_size ok a b
  for _ in $(seq "$REPEATS"); do
    IFS='|' read -r ms a_wal a_size ok < <(run_once alex "$prefill" "$statement" | tail -n 1)
    [ "$ok" = t ] || { echo "alex_check failed for $name" >&2; exit 1; }
    a_ms+=("$ms")
    IFS='|' read -r ms b_wal b_size _ < <(run_once btree "$prefill" "$statement" | tail -n 1)
    b_ms+=("$ms")
  done
  a=$(printf '%s\n' "${a_ms[@]}" | median) b=$(printf '%s\n' "${b_ms[@]}" | median)
  awk -v n="$name" -v a="$a" -v b="$b" -v aw="$a_wal" -v bw="$b_wal" -v as="$a_size" -v bs="$b_size" \
    'BEGIN { printf "| %s | %d | %d | %.2f | %.0f / %.0f | %.2f |\n", n, a, b, a / b, aw / 1048576, bw / 1048576, as / bs }'
}

echo "ROWS=$ROWS, REPEATS=$REPEATS (medians), $(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "| order | alex ms | btree ms | alex/btree time | alex / btree WAL (MB) | alex/btree size |"
echo "|---|---|---|---|---|---|"
for order in "${ORDERS[@]}"; do
  measure "${order%%|*}" "" "INSERT INTO o SELECT ${order#*|} FROM generate_series(1, $ROWS) g"
done
for order in "${BUILT[@]}"; do
  IFS='|' read -r name prefill statement <<<"$order"
  measure "$name" "$prefill" "$statement"
done
