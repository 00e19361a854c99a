#!/usr/bin/env bash
# Runs the pg_regress suite (pg_test/sql, pg_test/expected, pg_test/schedule) against a throwaway
# cluster. The extension must already be installed into the system PostgreSQL (make test does that).
# The cluster is removed at the end, also on failure; its log and the diffs stay in target/pg_test-logs.
set -euo pipefail
cd "$(dirname "$0")/.."
source pg_test/cluster.sh

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PG_REGRESS=$($PG_CONFIG --pkglibdir)/pgxs/src/test/regress/pg_regress
OUT=$PWD/target/pg_test-logs/regress
rm -rf "$OUT"; mkdir -p "$OUT"

dir=$(cluster_mkdir)
trap 'cluster_teardown "$dir" regress' EXIT
cluster_init "$dir" "shared_buffers = 128MB" "max_parallel_workers_per_gather = 0" "autovacuum = off"
cluster_start "$dir"

status=0
"$PG_REGRESS" --host="$dir" --port="$CLUSTER_PORT" --user="$CLUSTER_OWNER" \
  --bindir="$PG_BINDIR" --inputdir=pg_test --outputdir="$OUT" --dbname=omendb_regress \
  --schedule=pg_test/schedule "$@" || status=$?
# Concurrency tests with PostgreSQL's isolation tester, against the same cluster.
if [ $# -eq 0 ]; then
  ISO_OUT=$PWD/target/pg_test-logs/isolation
  rm -rf "$ISO_OUT"; mkdir -p "$ISO_OUT"
  specs=$(cd pg_test/isolation/specs && ls *.spec | sed 's/\.spec$//')
  "$($PG_CONFIG --pkglibdir)/pgxs/src/test/isolation/pg_isolation_regress" --host="$dir" --port="$CLUSTER_PORT" \
    --user="$CLUSTER_OWNER" --bindir="$PG_BINDIR" --inputdir=pg_test/isolation --outputdir="$ISO_OUT" \
    --dbname=omendb_isolation $specs || status=$?
  if [ -f "$ISO_OUT/regression.diffs" ]; then cp "$ISO_OUT/regression.diffs" "$OUT/isolation.diffs"; fi
fi
if [ $status -ne 0 ] && [ -f "$OUT/regression.diffs" ]; then
  echo "---- regression.diffs (first 200 lines; all of it in $OUT) ----"
  head -n 200 "$OUT/regression.diffs"
fi
if [ $status -ne 0 ] && [ -f "$OUT/isolation.diffs" ]; then
  echo "---- isolation diffs ----"
  head -n 200 "$OUT/isolation.diffs"
fi
exit $status
