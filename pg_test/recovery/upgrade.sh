#!/usr/bin/env bash
# pg_upgrade from PostgreSQL 15 to 18. A 15 cluster holds alex indexes of every kind (plain,
# UNIQUE, NULLS NOT DISTINCT, partial, expression, every key type, one built by parallel workers)
# and a columnar table with row groups, delta rows, updated and deleted rows and its own alex and
# btree indexes. pg_upgrade moves the files as they are, with no REINDEX: on 18 every query
# through each index answers as on 15 (the plan checked to use the index), alex_check and
# columnar_check pass, and the tables take inserts, updates, deletes and VACUUM afterwards.
# Needs the extension installed into both (make test installs it into 15, then into 18):
#   OLD_PG_CONFIG (15's pg_config) and NEW_PG_CONFIG (18's).
source "$(dirname "$0")/lib.sh"
rt_setup upgrade 900

OLD_BINDIR=$(${OLD_PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config} --bindir)
NEW_BINDIR=$(${NEW_PG_CONFIG:-$PG_CONFIG} --bindir)

PG_BINDIR=$OLD_BINDIR
rt_new_cluster; old=$RT_DIR
cluster_init "$old" "max_parallel_workers_per_gather = 0" "autovacuum = off" || exit 1
cluster_start "$old" || exit 1
rt_create_extension "$old" || { rt_fail "CREATE EXTENSION omendb on 15"; exit 1; }
rt_install_helpers "$old"

rt_sql_script "$old" <<'SQL' >/dev/null || rt_fail "schema and rows on 15"
CREATE TABLE ut (id int, i8 int8, i4 int4, i2 int2, f8 float8, f4 float4, d date, ts timestamp, tz timestamptz);
INSERT INTO ut SELECT g, (g * 7919) % 100003 - 50000, g, (g % 30000)::int2, g / 7.0, g / 3.0,
       date '2000-01-01' + g % 9000, timestamp '2000-01-01' + g * interval '1 min',
       timestamptz '2000-01-01 00:00+00' + g * interval '1 s'
  FROM generate_series(1, 60000) g;
INSERT INTO ut (id, i4) VALUES (60001, NULL), (60002, NULL);
CREATE INDEX ut_i8 ON ut USING alex (i8) WITH (density = 0.6);
CREATE UNIQUE INDEX ut_id ON ut USING alex (id);
CREATE UNIQUE INDEX ut_i4 ON ut USING alex (i4);
CREATE INDEX ut_i2 ON ut USING alex (i2) WHERE i2 > 100;
CREATE INDEX ut_expr ON ut USING alex ((i8 * 2));
CREATE INDEX ut_f8 ON ut USING alex (f8);
CREATE INDEX ut_f4 ON ut USING alex (f4);
CREATE INDEX ut_d ON ut USING alex (d);
CREATE INDEX ut_ts ON ut USING alex (ts);
CREATE INDEX ut_tz ON ut USING alex (tz);
ALTER TABLE ut SET (parallel_workers = 2);
SET max_parallel_maintenance_workers = 2;
CREATE INDEX ut_i8_par ON ut USING alex (i8) WHERE id > 0;
RESET max_parallel_maintenance_workers;
DELETE FROM ut WHERE id % 13 = 0;
UPDATE ut SET i8 = i8 + 1 WHERE id % 17 = 0;
VACUUM ut;
CREATE TABLE un (k int8);
CREATE UNIQUE INDEX un_k ON un USING alex (k) NULLS NOT DISTINCT;
INSERT INTO un VALUES (1), (2), (NULL);
CREATE TABLE uc (id int PRIMARY KEY, k int8, v text, n numeric(12, 2)) USING columnar;
SET omendb.columnar_fold_min_rows = 1000;
INSERT INTO uc SELECT g, (g * 7919) % 10007, md5(g::text), g / 3.0 FROM generate_series(1, 30000) g;
VACUUM uc;
INSERT INTO uc SELECT g, g % 500, 'delta ' || g, g FROM generate_series(30001, 31000) g;
UPDATE uc SET v = upper(v) WHERE id % 7 = 0;
DELETE FROM uc WHERE id % 11 = 0;
CREATE INDEX uc_k ON uc USING alex (k);
CREATE INDEX uc_v ON uc (v);
SQL

# Queries through each index, each checked to use it (rt_fp), with a digest of the answer.
queries=$RT_LOG/queries.sql
{
  echo "SET enable_seqscan = off; SET enable_bitmapscan = off;"
  while read -r idx q; do
    printf "SELECT '%s', rt_fp(\$q\$%s\$q\$, 'index', '%s');\n" "$idx" "$q" "$idx"
  done <<'QUERIES'
ut_i8 SELECT count(*) || ' ' || sum(id) FROM ut WHERE i8 BETWEEN -20000 AND 30000
ut_i8 SELECT string_agg(i8::text, ',' ORDER BY i8 DESC) FROM (SELECT i8 FROM ut WHERE i8 < 0 ORDER BY i8 DESC LIMIT 50) s
ut_id SELECT count(*) || ' ' || sum(i8) FROM ut WHERE id = ANY(ARRAY[5, 13, 26, 500, 59999])
ut_i4 SELECT count(*) FROM ut WHERE i4 IS NULL
ut_i2 SELECT count(*) || ' ' || sum(id) FROM ut WHERE i2 BETWEEN 200 AND 900
ut_expr SELECT count(*) || ' ' || sum(id) FROM ut WHERE i8 * 2 > 60000
ut_f8 SELECT count(*) || ' ' || sum(id) FROM ut WHERE f8 < 1000.5
ut_f4 SELECT count(*) || ' ' || sum(id) FROM ut WHERE f4 >= 19000
ut_d SELECT count(*) || ' ' || sum(id) FROM ut WHERE d BETWEEN '2010-01-01' AND '2011-06-30'
ut_ts SELECT count(*) || ' ' || sum(id) FROM ut WHERE ts >= '2000-01-20'
ut_tz SELECT count(*) || ' ' || sum(id) FROM ut WHERE tz < '2000-01-01 05:00+00'
ut_i8_par SELECT count(*) || ' ' || sum(id) FROM ut WHERE i8 > 40000 AND id > 0
un_k SELECT count(*) FROM un WHERE k IS NULL OR k = 2
uc_k SELECT count(*) || ' ' || sum(id) || ' ' || sum(n) FROM uc WHERE k BETWEEN 100 AND 2000
uc_v SELECT count(*) || ' ' || sum(id) FROM uc WHERE v >= 'delta 305' AND v < 'delta 31'
QUERIES
} >"$queries"
rt_sql_file "$old" "$queries" >"$RT_LOG/answers-15" 2>&1 || rt_fail "queries on 15"
rt_check "every query used its index on 15" bash -c "! grep -q BADPLAN '$RT_LOG/answers-15'"
# PostgreSQL 15.20 keeps a column version among attoptions ("pg_attver") that 18.6's pg_dump
# copies as an ordinary option and 18.6 then refuses, for heap tables alike: strip it, as any
# pg_upgrade from 15.20 to 18.6 must.
rt_sql "$old" "UPDATE pg_attribute SET attoptions = (SELECT array_agg(o) FROM unnest(attoptions) o WHERE o NOT LIKE 'pg_attver=%')
               WHERE attoptions::text LIKE '%pg_attver=%'" >/dev/null || rt_fail "strip pg_attver"
cluster_stop "$old" || rt_fail "stop 15"

# pg_upgrade runs as the clusters' owner in a directory it may write to.
PG_BINDIR=$NEW_BINDIR
rt_new_cluster; new=$RT_DIR
cluster_init "$new" "max_parallel_workers_per_gather = 0" "autovacuum = off" || exit 1
if (cd "$new" && as_cluster_owner "$NEW_BINDIR/pg_upgrade" -b "$OLD_BINDIR" -B "$NEW_BINDIR" \
      -d "$old/data" -D "$new/data" -p $((CLUSTER_PORT + 1)) -P $((CLUSTER_PORT + 2)) --socketdir="$new" \
      -U "$CLUSTER_OWNER" --copy) >"$RT_LOG/pg_upgrade.log" 2>&1; then
  rt_pass "pg_upgrade 15 -> 18"
else
  rt_fail "pg_upgrade 15 -> 18"
  tail -n 5 "$RT_LOG/pg_upgrade.log"
  cp -r "$new/data/pg_upgrade_output.d" "$RT_LOG/" 2>/dev/null
  grep -rh -B2 -A3 'ERROR\|FATAL' "$RT_LOG/pg_upgrade_output.d" 2>/dev/null | head -n 40
  exit 1
fi
cluster_start "$new" || exit 1

rt_sql_file "$new" "$queries" >"$RT_LOG/answers-18" 2>&1 || rt_fail "queries on 18"
rt_check "every query answers on 18 as on 15, through its index" diff -u "$RT_LOG/answers-15" "$RT_LOG/answers-18"
for idx in ut_i8 ut_id ut_i4 ut_i2 ut_expr ut_f8 ut_f4 ut_d ut_ts ut_tz ut_i8_par un_k uc_k; do
  rt_check "alex_check($idx) after pg_upgrade" [ "$(rt_sql "$new" "SELECT alex_check('$idx', true)")" = t ]
done
rt_check "columnar_check after pg_upgrade" [ "$(rt_sql "$new" "SELECT columnar_check('uc')")" = t ]

# Writes on 18 through the upgraded files, then the same checks against a sequential scan.
rt_sql_script "$new" <<'SQL' >/dev/null && rt_pass "writes and VACUUM on 18" || rt_fail "writes and VACUUM on 18"
INSERT INTO ut SELECT g, -g, g, 5, g, g, date '2030-01-01', timestamp '2030-01-01', now() FROM generate_series(70000, 75000) g;
UPDATE ut SET i8 = i8 - 3 WHERE id % 19 = 0;
DELETE FROM ut WHERE id % 23 = 0;
INSERT INTO uc SELECT g, g % 700, 'new ' || g, g FROM generate_series(40000, 42000) g;
UPDATE uc SET k = k + 1 WHERE id % 5 = 0;
DELETE FROM uc WHERE id % 9 = 0;
VACUUM ut, uc;
SQL
same() { # same LABEL SQL: the query gives the same answer with its index and with a sequential scan
  local a b
  a=$(rt_sql "$new" "SET enable_seqscan = off; SET enable_bitmapscan = off; $2")
  b=$(rt_sql "$new" "SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off; $2")
  rt_check "$1: index answers as a sequential scan after writes" test -n "$a" -a "$a" = "$b"
}
same ut_i8 "SELECT count(*) || ' ' || sum(id) FROM ut WHERE i8 BETWEEN -80000 AND 30000"
same ut_id "SELECT count(*) || ' ' || sum(i8) FROM ut WHERE id > 50000"
same uc_k "SELECT count(*) || ' ' || sum(id) FROM uc WHERE k BETWEEN 100 AND 600"
for idx in ut_i8 ut_id ut_i4 ut_i8_par uc_k; do
  rt_check "alex_check($idx) after writes on 18" [ "$(rt_sql "$new" "SELECT alex_check('$idx', true)")" = t ]
done
rt_check "columnar_check after writes on 18" [ "$(rt_sql "$new" "SELECT columnar_check('uc')")" = t ]
problems=$(rt_log_problems "$new/server.log")
rt_check "no errors in 18's server log${problems:+: $problems}" test -z "$problems"
