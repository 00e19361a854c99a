# TPC-H on a throwaway cluster, shared by make bench-tpch (benches/tpch.sh) and the TPC-H test
# (pg_test/tpch.sh). Source pg_test/cluster.sh first, then this file, and set TPCH_HOST to the
# cluster's directory.
#   tpch_data SF                         generates the data once into target/tpch/sf<SF>/, prints it
#   tpch_load DATA SCHEMA AM             the eight tables in SCHEMA using AM, loaded, VACUUMed,
#                                        indexed (indexes.sql) and ANALYZEd; prints one line per
#                                        table: "table seconds" for the COPY
#   tpch_run SCHEMA SETTINGS QUERY OUT REPEATS
#                                        one session: SETTINGS, the query once with its answer into
#                                        OUT (unaligned), then REPEATS timed runs; prints their
#                                        milliseconds, one per line
TPCH_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TPCH_ROOT=$(cd "$TPCH_LIB/../.." && pwd)
TPCH_VENV=$TPCH_ROOT/target/venv
TPCH_TABLES="region, nation, part, supplier, partsupp, customer, orders, lineitem"
# DuckDB and its tpch extension must be the same version.
TPCH_PIP=(duckdb==1.5.5 duckdb-extension-tpch==1.5.5)

tpch_psql() {
  "$PG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$TPCH_HOST" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -d postgres "$@"
}

tpch_python() {
  if ! "$TPCH_VENV/bin/python" -c "import duckdb, duckdb_extension_tpch" 2>/dev/null; then
    echo "installing ${TPCH_PIP[*]} into $TPCH_VENV" >&2
    python3 -m venv "$TPCH_VENV"
    "$TPCH_VENV/bin/pip" install -q "${TPCH_PIP[@]}" >&2
  fi
  "$TPCH_VENV/bin/python" "$TPCH_LIB/tpch.py" "$@"
}

tpch_data() {
  local sf=$1 data=$TPCH_ROOT/target/tpch/sf$1
  if [ ! -f "$data/complete" ]; then
    echo "generating TPC-H at SF $sf into $data" >&2
    rm -rf "$data"
    tpch_python generate "$sf" "$data"
    touch "$data/complete"
  fi
  echo "$data"
}

tpch_load() {
  local data=$1 schema=$2 am=$3 table start
  tpch_psql -v schema="$schema" -v am="$am" -f "$TPCH_LIB/schema.sql"
  for table in ${TPCH_TABLES//,/}; do
    start=$(date +%s.%N)
    tpch_psql -c "\\copy $schema.$table FROM '$data/$table.csv' (FORMAT csv, DELIMITER '|')"
    awk -v table="$table" -v start="$start" -v end="$(date +%s.%N)" 'BEGIN { printf "%s %.2f\n", table, end - start }'
  done
  tpch_psql -c "SET search_path = $schema" -c "VACUUM $TPCH_TABLES" -f "$TPCH_LIB/indexes.sql" -c "ANALYZE $TPCH_TABLES"
}

tpch_run() {
  local schema=$1 settings=$2 query=$3 out=$4 repeats=$5
  {
    echo "SET search_path = $schema;"
    echo "$settings"
    echo "\\o $out"
    echo "\\i $query"
    echo "\\o /dev/null"
    echo "\\timing on"
    for ((i = 0; i < repeats; i++)); do echo "\\i $query"; done
  } | tpch_psql | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
  return "${PIPESTATUS[1]}"
}
