#!/usr/bin/env bash
# make bench-columnar: the columnar table against heap on TPC-H lineitem, loaded from the same
# CSV into one throwaway cluster at PostgreSQL's default settings except autovacuum = off (no
# background VACUUM between measurements) and fsync = off (throwaway clusters: commits measure the
# access method, not the disk). Prints a markdown table of medians and ratios.
#
#   storage     pg_relation_size after COPY and VACUUM ANALYZE (table only, no index): VACUUM
#               folds a columnar table's delta segments into compressed row groups
#   COPY        seconds to load the CSV (median of REPEATS loads into a new table, alternating
#               heap and columnar), and the VACUUM ANALYZE after the last
#   count(*), sum(l_extendedprice), TPC-H Q1 and Q6, a range and an IN list of l_orderkey (the
#               load order: zone maps skip)   milliseconds, median of REPEATS runs after
#               one warm-up (which also checks that both tables give the same answer), at the
#               defaults and with max_parallel_workers_per_gather = 0
#   point       pgbench tps of single-row lookups by l_orderkey through a btree index
#   trickle     pgbench tps of TRICKLE single-row INSERT transactions into an empty table, and
#               its size after VACUUM against the same rows loaded in bulk (then VACUUMed too)
#
# Knobs: SF (scale factor, default 1), REPEATS (5), TRICKLE (100000), LOOKUP_SECONDS (10),
# CLUSTER_PORT. TPC-H data is generated once with DuckDB's tpch extension (PyPI, pinned) into
# target/tpch/ and reused. Everything else goes to target/bench-results/columnar-<timestamp>/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SF=${SF:-1}
REPEATS=${REPEATS:-5}
TRICKLE=${TRICKLE:-100000}
LOOKUP_SECONDS=${LOOKUP_SECONDS:-10}
CLUSTER_PORT=${CLUSTER_PORT:-5531}
source pg_test/cluster.sh
OUT=$ROOT/target/bench-results/columnar-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# ---- data ----
VENV=$ROOT/target/venv
if ! "$VENV/bin/python" -c "import duckdb, duckdb_extension_tpch" 2>/dev/null; then
  log "installing duckdb into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q duckdb==1.5.5 duckdb-extension-tpch==1.5.5
fi
DATA=$ROOT/target/tpch/lineitem-sf$SF.csv
if [ ! -s "$DATA" ]; then
  log "generating lineitem at SF $SF"
  mkdir -p "$(dirname "$DATA")"
  "$VENV/bin/python" - "$SF" "$DATA" <<'PY'
import glob, os, sys, duckdb, duckdb_extension_tpch
sf, out = float(sys.argv[1]), sys.argv[2]
ext = glob.glob(os.path.join(os.path.dirname(duckdb_extension_tpch.__file__), "**", "tpch.duckdb_extension"), recursive=True)[0]
con = duckdb.connect()
con.execute(f"LOAD '{ext}'")
con.execute(f"CALL dbgen(sf={sf})")
con.execute(f"COPY lineitem TO '{out}.tmp' (HEADER false, DELIMITER '|')")
os.rename(out + ".tmp", out)
PY
fi
chmod a+r "$DATA"; chmod a+rx "$(dirname "$DATA")" "$ROOT/target" 2>/dev/null || true
ROWS=$(wc -l <"$DATA")
log "lineitem SF $SF: $ROWS rows"

# ---- cluster ----
dir=$(cluster_mkdir)
trap 'cluster_teardown "$dir" bench-columnar' EXIT
cluster_init "$dir" "autovacuum = off"
cluster_start "$dir"
psql_q() { "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -At -h "$dir" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -d postgres "$@"; }
psql_q -c "CREATE EXTENSION omendb"
# Milliseconds of one statement (psql's \timing).
timed() { psql_q -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1; }
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

DDL="(l_orderkey int8, l_partkey int8, l_suppkey int8, l_linenumber int, l_quantity numeric(15,2),
  l_extendedprice numeric(15,2), l_discount numeric(15,2), l_tax numeric(15,2), l_returnflag char(1),
  l_linestatus char(1), l_shipdate date, l_commitdate date, l_receiptdate date, l_shipinstruct char(25),
  l_shipmode char(10), l_comment varchar(44))"
# The analytic queries, on $T: count(*), a one-column sum, and TPC-H Q1 and Q6 (lineitem only).
QUERIES=(count sum q1 q6 range inlist)
declare -A SQL=(
  [count]="SELECT count(*) FROM \$T"
  [sum]="SELECT sum(l_extendedprice) FROM \$T"
  [q1]="SELECT l_returnflag, l_linestatus, sum(l_quantity), sum(l_extendedprice), sum(l_extendedprice * (1 - l_discount)),
    sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)), avg(l_quantity), avg(l_extendedprice), avg(l_discount), count(*)
    FROM \$T WHERE l_shipdate <= date '1998-12-01' - interval '90' day GROUP BY l_returnflag, l_linestatus ORDER BY 1, 2"
  [q6]="SELECT sum(l_extendedprice * l_discount) FROM \$T WHERE l_shipdate >= date '1994-01-01'
    AND l_shipdate < date '1994-01-01' + interval '1' year AND l_discount BETWEEN 0.06 - 0.01 AND 0.06 + 0.01 AND l_quantity < 24"
  [range]="SELECT count(*), sum(l_extendedprice) FROM \$T WHERE l_orderkey BETWEEN 3000000 AND 3100000"
  [inlist]="SELECT l_orderkey, l_linenumber, l_extendedprice FROM \$T WHERE l_orderkey IN (17, 3000001, 5999975) ORDER BY 1, 2"
)
declare -A R
# COPY: REPEATS loads into a new table, alternating heap and columnar, so that both meet the
# cluster in the same state (the first load of a new cluster also creates WAL segment files).
for i in $(seq "$REPEATS"); do
  for am in heap columnar; do
    log "$am: COPY $i of $REPEATS"
    psql_q -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS li_$am" -c "CREATE TABLE li_$am $DDL USING $am" -c "CHECKPOINT"
    timed "COPY li_$am FROM '$DATA' (DELIMITER '|')" >>"$OUT/$am-copy.ms"
  done
done
for am in heap columnar; do
  R[$am,copy]=$(median <"$OUT/$am-copy.ms" | awk '{ printf "%.1f", $1 / 1000 }')
  ms=$(timed "VACUUM ANALYZE li_$am")
  R[$am,vacuum]=$(awk -v m="$ms" 'BEGIN { printf "%.1f", m / 1000 }')
  R[$am,size]=$(psql_q -c "SELECT pg_relation_size('li_$am')")
  for q in "${QUERIES[@]}"; do
    sql=${SQL[$q]//\$T/li_$am}
    for mode in default serial; do
      run=$sql
      [ $mode = serial ] && run="SET max_parallel_workers_per_gather = 0; $sql"
      psql_q -c "$run" >"$OUT/$am-$q.answer"
      R[$am,$q,$mode]=$(for i in $(seq "$REPEATS"); do timed "$run"; done | tee "$OUT/$am-$q-$mode.ms" | median)
    done
  done
  log "$am: point lookups"
  psql_q -c "CREATE INDEX ON li_$am (l_orderkey)"
  maxkey=$(psql_q -c "SELECT max(l_orderkey) FROM li_$am")
  printf '\\set k random(1, %s)\nSELECT * FROM li_%s WHERE l_orderkey = :k;\n' "$maxkey" "$am" >"$OUT/point-$am.sql"
  R[$am,point]=$(for i in $(seq "$REPEATS"); do
    "$PG_BINDIR/pgbench" -h "$dir" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -n -T "$LOOKUP_SECONDS" -f "$OUT/point-$am.sql" postgres 2>&1 \
      | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
  done | tee "$OUT/$am-point.tps" | median)
  log "$am: $TRICKLE single-row inserts"
  psql_q -c "CREATE TABLE tr_$am $DDL USING $am"
  printf '\\set k random(1, 6000000)\nINSERT INTO tr_%s VALUES (:k, 155190, 7706, 1, 17, 21168.23, 0.04, 0.02, '"'N', 'O'"', '"'1996-03-13', '1996-02-12', '1996-03-22', 'DELIVER IN PERSON', 'TRUCK', 'egular courts above the'"');\n' "$am" >"$OUT/trickle-$am.sql"
  R[$am,trickle]=$("$PG_BINDIR/pgbench" -h "$dir" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -n -c 2 -j 2 -t $((TRICKLE / 2)) -f "$OUT/trickle-$am.sql" postgres 2>&1 \
    | sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
  psql_q -c "VACUUM tr_$am"
  psql_q -c "CREATE TABLE bulk_$am $DDL USING $am" -c "INSERT INTO bulk_$am SELECT * FROM tr_$am" -c "VACUUM bulk_$am"
  R[$am,trickle_size]=$(psql_q -c "SELECT round(pg_relation_size('tr_$am')::numeric / pg_relation_size('bulk_$am'), 2)")
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b == 0) ? 0 : a / b }'; }
{
  echo "lineitem SF $SF ($ROWS rows), PostgreSQL defaults but autovacuum = off and fsync = off, medians of $REPEATS; columnar / heap:"
  echo
  echo "| metric | heap | columnar | columnar / heap |"
  echo "|---|---|---|---|"
  echo "| storage (MB) | $((R[heap,size] / 1048576)) | $((R[columnar,size] / 1048576)) | $(ratio "${R[columnar,size]}" "${R[heap,size]}") |"
  echo "| COPY (s) | ${R[heap,copy]} | ${R[columnar,copy]} | $(ratio "${R[columnar,copy]}" "${R[heap,copy]}") |"
  echo "| VACUUM ANALYZE after COPY (s) | ${R[heap,vacuum]} | ${R[columnar,vacuum]} | $(ratio "${R[columnar,vacuum]}" "${R[heap,vacuum]}") |"
  for q in "${QUERIES[@]}"; do
    same=identical
    cmp -s "$OUT/heap-$q.answer" "$OUT/columnar-$q.answer" || same=DIFFERENT
    for mode in default serial; do
      label="$q (ms, $([ $mode = serial ] && echo "max_parallel_workers_per_gather = 0" || echo defaults), answers $same)"
      echo "| $label | ${R[heap,$q,$mode]} | ${R[columnar,$q,$mode]} | $(ratio "${R[columnar,$q,$mode]}" "${R[heap,$q,$mode]}") |"
    done
  done
  echo "| point lookups, btree (tps) | ${R[heap,point]} | ${R[columnar,point]} | $(ratio "${R[columnar,point]}" "${R[heap,point]}") |"
  echo "| $TRICKLE single-row inserts (tps) | ${R[heap,trickle]} | ${R[columnar,trickle]} | $(ratio "${R[columnar,trickle]}" "${R[heap,trickle]}") |"
  echo "| trickle size after VACUUM / bulk size | ${R[heap,trickle_size]} | ${R[columnar,trickle_size]} | |"
} | tee "$OUT/report.md"
