#!/usr/bin/env bash
# Crash recovery and streaming replication of columnar tables. Every transaction of the load
# changes a columnar table `ct` (btree and alex indexes) and a heap mirror `mirror` in the same
# way, so after replay or crash recovery both must hold the same rows.
#
#   1. Primary (wal_consistency_checking = generic,heap,btree: each replayed page is compared
#      with the primary's image) with ct and mirror loaded; pg_basebackup -R while writers run.
#   2. Load: single-row inserts (some with values stored out of line), COPYs of 3,000 rows (the
#      bulk path writes them as row groups; a third roll back), updates, deletes,
#      aborted transactions and savepoints, with VACUUM (which folds settled delta segments into
#      row groups while the writers run) and CHECKPOINT beside.
#   3. On the standby, after catching up: ct equals mirror (every column), forced index and
#      bitmap scans equal sequential scans, ct equals the primary's ct, and every block of ct is
#      byte-identical on both nodes (get_raw_page).
#   4. The primary is crashed (immediate stop) during the load and VACUUMs, and restarted: ct
#      equals mirror, the index scans agree, columnar_check passes, VACUUM and new writes work.
#
# Environment: LOAD_SECONDS (default 10), SEED, RT_KEEP_LOGS=1, RT_VERBOSE=1.
# Prints "N passed, M failed" last; exits non-zero on any failure.
CLUSTER_PORT=${CLUSTER_PORT:-5516}
source "$(dirname "$0")/lib.sh"

LOAD_SECONDS=${LOAD_SECONDS:-10}
SEED=${SEED:-$((RANDOM * 32768 + RANDOM))}
rt_setup columnar $((240 + LOAD_SECONDS * 4))
rt_note "columnar.sh: LOAD_SECONDS=$LOAD_SECONDS SEED=$SEED"

rt_new_cluster; primary=$RT_DIR
rt_new_cluster; standby=$RT_DIR
cluster_init "$primary" "wal_level = logical" "max_wal_senders = 5" "autovacuum = off" "max_wal_size = 512MB" \
  "wal_consistency_checking = 'generic,heap,btree'" || exit 1
cluster_start "$primary" || exit 1
rt_create_extension "$primary" || { rt_fail "CREATE EXTENSION omendb"; exit 1; }
rt_sql "$primary" "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS pageinspect" >/dev/null || exit 1
rt_sql_script "$primary" >/dev/null <<'SQL' || { rt_fail "tables ct and mirror"; exit 1; }
  CREATE TABLE ct (id int8, k int8, v text, n numeric) USING columnar;
  CREATE TABLE mirror (id int8, k int8, v text, n numeric);
  INSERT INTO ct SELECT g, (g * 7919) % 100000, repeat('v', g % 30), g / 7.0 FROM generate_series(1, 20000) g;
  INSERT INTO mirror SELECT * FROM ct;
  CREATE UNIQUE INDEX ct_id ON ct (id);
  CREATE INDEX ct_k ON ct USING alex (k);
  CREATE SEQUENCE ids START 1000000;
  CREATE SEQUENCE bulk_ids START 10000000 INCREMENT 10000;
  -- VACUUM folds the open segment once it holds 500 settled rows (not 10,000).
  ALTER DATABASE postgres SET omendb.columnar_fold_min_rows = 500;
SQL

S=$RT_LOG/scripts
mkdir -p "$S"
cat >"$S/ins.sql" <<'SQL'
\set k random(0, 99999)
BEGIN;
INSERT INTO ct VALUES (nextval('ids'), :k, 'ins', :k / 3.0);
INSERT INTO mirror VALUES (currval('ids'), :k, 'ins', :k / 3.0);
COMMIT;
SQL
# Rows with a value too large to stay inline (stored out of line in value pages).
cat >"$S/wide.sql" <<'SQL'
\set k random(0, 99999)
BEGIN;
INSERT INTO ct SELECT nextval('ids'), :k, string_agg(md5((:k + g)::text), ''), 0 FROM generate_series(1, 300) g;
INSERT INTO mirror SELECT currval('ids'), :k, string_agg(md5((:k + g)::text), ''), 0 FROM generate_series(1, 300) g;
COMMIT;
SQL
cat >"$S/upd.sql" <<'SQL'
\set r random(1, 20000)
BEGIN;
UPDATE ct SET k = k + 1, v = v || 'u' WHERE id = :r;
UPDATE mirror SET k = k + 1, v = v || 'u' WHERE id = :r;
COMMIT;
SQL
cat >"$S/del.sql" <<'SQL'
\set r random(1, 25000)
BEGIN;
DELETE FROM ct WHERE id = :r;
DELETE FROM mirror WHERE id = :r;
-- Wide rows inserted concurrently: one statement, one snapshot for both tables.
WITH gone AS (DELETE FROM mirror WHERE id > 1000000 AND id % 50 = :r % 50 AND length(v) > 5000 RETURNING id)
DELETE FROM ct WHERE id IN (SELECT id FROM gone);
COMMIT;
SQL
cat >"$S/abort.sql" <<'SQL'
\set r random(1, 20000)
BEGIN;
INSERT INTO ct VALUES (nextval('ids'), -1, 'aborted', 0);
UPDATE ct SET v = 'aborted' WHERE id = :r;
SAVEPOINT s;
DELETE FROM ct WHERE id = :r + 1;
ROLLBACK TO s;
ROLLBACK;
SQL
# COPY: past its first 1,000 rows, the bulk path writes the rows as row groups. The same rows go
# to the mirror; a third of the loads roll back.
cat >"$S/copy.sql" <<'SQL'
SELECT nextval('bulk_ids') AS b, (random() < 0.33)::int AS abort \gset
BEGIN;
COPY ct FROM PROGRAM 'seq :b $((:b + 2999)) | awk ''{print $1 "\t" $1 % 100000 "\tbulk" $1 % 13 "\t" $1 / 8}''';
COPY mirror FROM PROGRAM 'seq :b $((:b + 2999)) | awk ''{print $1 "\t" $1 % 100000 "\tbulk" $1 % 13 "\t" $1 / 8}''';
\if :abort
ROLLBACK;
\else
COMMIT;
\endif
SQL
load() { # load SECONDS LOGNAME
  "$PG_BINDIR/pgbench" -h "$primary" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -n -c 3 -j 3 -T "$1" --random-seed=$SEED \
    -f "$S/ins.sql@4" -f "$S/upd.sql@3" -f "$S/del.sql@2" -f "$S/abort.sql@1" -f "$S/wide.sql@1" -f "$S/copy.sql@1" postgres >"$RT_LOG/$2.log" 2>&1
}
maintenance() { # VACUUM and CHECKPOINT until the file $1 exists
  while [ ! -e "$1" ]; do
    rt_sql "$primary" "VACUUM ct" >/dev/null 2>&1
    rt_sql "$primary" "CHECKPOINT" >/dev/null 2>&1
    sleep 0.5
  done
}

# ---- base backup during writes ----
rt_bg load 4 pgbench-backup
pgbench_pid=${RT_BG[-1]}
sleep 1
rm -rf "$standby/data"
if ! as_cluster_owner "$PG_BINDIR/pg_basebackup" -h "$primary" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -D "$standby/data" \
    -R -X stream -C -S standby_slot -c fast >"$RT_LOG/basebackup.log" 2>&1; then
  rt_fail "pg_basebackup: $(tail -n 5 "$RT_LOG/basebackup.log")"
  exit 1
fi
wait "$pgbench_pid"
rt_check "load during the base backup ran without errors" grep -q "number of failed transactions: 0" "$RT_LOG/pgbench-backup.log"
{
  echo "unix_socket_directories = '$standby'"
  echo "hot_standby = on"
  echo "hot_standby_feedback = on"
} | as_cluster_owner tee -a "$standby/data/postgresql.conf" >/dev/null
if ! cluster_start "$standby"; then rt_fail "standby start"; exit 1; fi

# ---- load with maintenance ----
stop=$RT_LOG/stop-maintenance
rt_bg maintenance "$stop"
load "$LOAD_SECONDS" pgbench-load
touch "$stop"
rt_wait_bg 30
rt_check "load ran without errors" grep -q "number of failed transactions: 0" "$RT_LOG/pgbench-load.log"
for stmt in "VACUUM ct" "VACUUM mirror" "CHECKPOINT"; do rt_sql "$primary" "$stmt" >/dev/null || rt_fail "$stmt after the load"; done

rt_check "standby caught up" rt_wait_replay "$primary" "$standby"
# VACUUM folds once every row of a segment is settled for every snapshot, the standby's too
# (hot_standby_feedback): it may take a few feedback rounds after the load.
folded() {
  local i
  for i in $(seq 60); do
    rt_sql "$primary" "VACUUM ct" >/dev/null
    [ "$(rt_sql "$primary" "SELECT count(*) FROM columnar_stats('ct') WHERE kind = 'row group'")" -gt 0 ] && return 0
    sleep 1
  done
  return 1
}
rt_check "VACUUM folds the segments into row groups after the load" folded
rt_check "standby caught up with the folds" rt_wait_replay "$primary" "$standby"

# Checks on one node: ct equals mirror; forced index and bitmap scans agree with seq scans.
node_checks() { # node_checks DIR NAME
  local dir=$1 name=$2 diff
  diff=$(rt_sql "$dir" "SELECT (SELECT count(*) FROM (SELECT * FROM ct EXCEPT ALL SELECT * FROM mirror) a) + (SELECT count(*) FROM (SELECT * FROM mirror EXCEPT ALL SELECT * FROM ct) b)")
  rt_check "$name: ct has exactly mirror's rows (differences: $diff)" test "$diff" = 0
  local seq idx bmp
  seq=$(rt_sql "$dir" "SET enable_indexscan = off; SET enable_bitmapscan = off; SELECT count(*), sum(id), sum(k) FROM ct WHERE k BETWEEN 1000 AND 60000")
  idx=$(rt_sql "$dir" "SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*), sum(id), sum(k) FROM ct WHERE k BETWEEN 1000 AND 60000")
  bmp=$(rt_sql "$dir" "SET enable_seqscan = off; SET enable_indexscan = off; SELECT count(*), sum(id), sum(k) FROM ct WHERE id BETWEEN 100 AND 15000 OR k < 500")
  local bseq
  bseq=$(rt_sql "$dir" "SET enable_indexscan = off; SET enable_bitmapscan = off; SELECT count(*), sum(id), sum(k) FROM ct WHERE id BETWEEN 100 AND 15000 OR k < 500")
  rt_check "$name: alex index scan equals seq scan ($idx / $seq)" test "$idx" = "$seq"
  rt_check "$name: bitmap scan equals seq scan ($bmp / $bseq)" test "$bmp" = "$bseq"
  local check
  check=$(rt_sql "$dir" "SELECT columnar_check('ct')" 2>&1)
  rt_check "$name: columnar_check passes ($check)" test "$check" = t
}
node_checks "$primary" primary
node_checks "$standby" standby
# With data checksums, the hint bits the primary's reads just set are WAL-logged (a full image
# of each page's first hint after a checkpoint): wait for the standby to replay them. A page's
# checksum field in shared buffers is whatever it was when last read from disk (it is computed
# on the copy written out), so it is left out of the comparison.
rt_wait_replay "$primary" "$standby" || rt_fail "standby replayed the primary's hint-bit images"
blocks=$(rt_sql "$primary" "SELECT pg_relation_size('ct') / 8192")
raw="SELECT md5(string_agg(md5(substr(get_raw_page('ct', b::int), 1, 8) || substr(get_raw_page('ct', b::int), 11)), '' ORDER BY b)) FROM generate_series(0, $blocks - 1) b"
pages_p=$(rt_sql "$primary" "$raw")
pages_s=$(rt_sql "$standby" "$raw")
rt_check "all $blocks blocks of ct are byte-identical on primary and standby (checksum field aside)" test "$pages_p" = "$pages_s"

# ---- logical replication: refused rather than silently publishing nothing ----
out=$(rt_sql "$primary" "CREATE PUBLICATION pub_all FOR ALL TABLES" 2>&1) || rt_fail "CREATE PUBLICATION: $out"
out=$(rt_sql "$primary" "INSERT INTO ct VALUES (-1, 1, 'published', 1)" 2>&1)
rt_check "a change to a published columnar table is refused ($out)" grep -q 'columnar table "ct" cannot be published by logical replication' <<<"$out"
out=$(rt_sql "$primary" "DELETE FROM ct WHERE id = 1" 2>&1)
# (Without a replica identity PostgreSQL refuses it first, as for heap.)
rt_check "a delete from a published columnar table is refused ($out)" grep -q 'cannot be published\|does not have a replica identity' <<<"$out"
rt_sql "$primary" "DROP PUBLICATION pub_all" >/dev/null || rt_fail "DROP PUBLICATION"
rt_sql "$primary" "CREATE PUBLICATION pub_mirror FOR TABLE mirror" >/dev/null || rt_fail "CREATE PUBLICATION FOR TABLE"
rt_check "a columnar table outside every publication takes writes" rt_sql "$primary" "INSERT INTO ct VALUES (-2, 2, 'unpublished', 2); DELETE FROM ct WHERE id = -2"
rt_sql "$primary" "ALTER TABLE ct SET (user_catalog_table = true)" >/dev/null || rt_fail "SET (user_catalog_table)"
out=$(rt_sql "$primary" "INSERT INTO ct VALUES (-3, 3, 'catalog', 3)" 2>&1)
rt_check "a change to a columnar user catalog table is refused ($out)" grep -q 'cannot be a user catalog table' <<<"$out"
rt_sql "$primary" "ALTER TABLE ct RESET (user_catalog_table)" >/dev/null || rt_fail "RESET (user_catalog_table)"

# ---- crash during the load and VACUUMs ----
stop=$RT_LOG/stop-maintenance-crash
rt_bg maintenance "$stop"
rt_bg load 30 pgbench-crash
sleep 3
cluster_stop "$primary" immediate
touch "$stop"
rt_wait_bg 30
if ! cluster_start "$primary"; then rt_fail "restart after the crash"; exit 1; fi
rt_pass "primary restarted after an immediate stop during the load"
node_checks "$primary" "after the crash"
rt_sql "$primary" "VACUUM ct" >/dev/null && rt_pass "VACUUM after the crash" || rt_fail "VACUUM after the crash"
rt_sql "$primary" "INSERT INTO ct VALUES (-5, 5, 'after', 5); INSERT INTO mirror VALUES (-5, 5, 'after', 5)" >/dev/null \
  && rt_pass "inserts after the crash" || rt_fail "inserts after the crash"
node_checks "$primary" "after the crash and VACUUM"
rt_check "standby caught up after the crash" rt_wait_replay "$primary" "$standby"
node_checks "$standby" "standby after the crash"
