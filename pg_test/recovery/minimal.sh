#!/usr/bin/env bash
# Crash recovery under wal_level = minimal. An index whose file is new in the transaction
# (CREATE INDEX, or CREATE TABLE before it, TRUNCATE, REINDEX) writes no WAL: commit syncs the
# file (wal_skip_threshold = 0) or logs it whole (the default threshold, for small files).
# Each scenario does that, then more logged changes in later transactions; after an immediate
# shutdown and recovery every index passes alex_check(heapallindexed) and answers as a
# sequential scan does.
source "$(dirname "$0")/lib.sh"
rt_setup minimal 300

scenarios() {
  cat <<'SQL'
BEGIN;
CREATE TABLE m1 (k int8);
CREATE INDEX m1_k ON m1 USING alex (k);
INSERT INTO m1 SELECT (g * 7919) % 1000003 FROM generate_series(1, 100000) g;
COMMIT;
INSERT INTO m1 SELECT -g FROM generate_series(1, 20000) g;
CREATE TABLE m2 (k int8);
INSERT INTO m2 SELECT g FROM generate_series(1, 50000) g;
BEGIN;
CREATE INDEX m2_k ON m2 USING alex (k);
INSERT INTO m2 SELECT g * 3 FROM generate_series(1, 30000) g;
DELETE FROM m2 WHERE k % 7 = 0;
COMMIT;
VACUUM m2;
INSERT INTO m2 SELECT -g FROM generate_series(1, 5000) g;
BEGIN;
TRUNCATE m1;
INSERT INTO m1 SELECT g FROM generate_series(1, 30000) g;
COMMIT;
INSERT INTO m1 SELECT g + 1000000 FROM generate_series(1, 30000) g;
BEGIN;
REINDEX INDEX m2_k;
INSERT INTO m2 SELECT g * 5 + 1 FROM generate_series(1, 20000) g;
COMMIT;
INSERT INTO m2 SELECT NULL FROM generate_series(1, 100);
SQL
}

for threshold in 0 2MB; do
  rt_new_cluster; dir=$RT_DIR
  cluster_init "$dir" "wal_level = minimal" "max_wal_senders = 0" "wal_skip_threshold = '$threshold'" \
    "max_parallel_workers_per_gather = 0" || exit 1
  cluster_start "$dir" || exit 1
  rt_create_extension "$dir" || { rt_fail "CREATE EXTENSION omendb"; exit 1; }
  rt_install_helpers "$dir" || exit 1
  RT_TAG=threshold-$threshold
  scenarios | rt_sql_script "$dir" >/dev/null && rt_pass "scenarios (wal_skip_threshold = $threshold)" \
    || rt_fail "scenarios (wal_skip_threshold = $threshold)"
  counts="SELECT (SELECT count(*) FROM m1), (SELECT count(*) FROM m2), (SELECT count(*) FROM m2 WHERE k IS NULL)"
  before=$(rt_sql "$dir" "$counts")
  cluster_stop "$dir" immediate >/dev/null 2>&1
  cluster_start "$dir" || { rt_fail "restart after an immediate shutdown (wal_skip_threshold = $threshold)"; exit 1; }
  after=$(rt_sql "$dir" "$counts")
  rt_check "row counts survive recovery ($before) (wal_skip_threshold = $threshold)" test "$before" = "$after"
  rt_alex_check "$dir" m1_k
  rt_alex_check "$dir" m2_k
  rt_verify_index "$dir" m1 k int8 m1_k
  rt_verify_index "$dir" m2 k int8 m2_k
  cluster_stop "$dir" >/dev/null 2>&1
done
rt_exit
