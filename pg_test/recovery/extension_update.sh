#!/usr/bin/env bash
# ALTER EXTENSION omendb UPDATE from every earlier release to this version. For each release's
# install script pg_test/releases/omendb--<old>.sql (installed beside this version's own for the
# run, then removed) and the upgrade scripts of sql/ that make install installed:
#   - a database made at <old> and updated has exactly the SQL objects of one made by a plain
#     CREATE EXTENSION (pg_dump --binary-upgrade, which lists the extension's members, compared
#     with the OIDs taken out), so an upgrade script that misses or changes an object fails here;
#   - alex indexes and a columnar table made at <old> answer the same before and after the
#     update, pass alex_check and columnar_check, and take writes and VACUUM after it.
# CREATE EXTENSION at <old> also proves that this library still has every C symbol <old>'s
# script names: an installed <old> keeps calling them until it is updated.
source "$(dirname "$0")/lib.sh"
rt_setup extension_update 600

current=$(sed -nE "s/^version = \"(.*)\"$/\1/p" Cargo.toml | head -n 1)
releases=$(cd pg_test/releases && ls omendb--*.sql | sed -E 's/^omendb--(.*)\.sql$/\1/')
[ -n "$releases" ] || { rt_fail "no release script in pg_test/releases"; exit 1; }
extdir=$("${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}" --sharedir)/extension
sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
for old in $releases; do
  f=$extdir/omendb--$old.sql
  [ -e "$f" ] && continue # a real install of that release: leave it
  $sudo install -m 644 "pg_test/releases/omendb--$old.sql" "$f" || { rt_fail "install $f"; exit 1; }
  RT_ON_EXIT="${RT_ON_EXIT:-} $sudo rm -f '$f';"
done

rt_new_cluster; dir=$RT_DIR
cluster_init "$dir" "max_parallel_workers_per_gather = 0" "autovacuum = off" || exit 1
cluster_start "$dir" || exit 1

db_sql() { # db_sql DB [SQL]: rt_sql in database DB; without SQL, the statements on stdin
  local db=$1 input=(-f -)
  [ $# -gt 1 ] && input=(-c "$2")
  "$PG_BINDIR/psql" -X -q -b -v ON_ERROR_STOP=1 -At -F $'\t' -h "$dir" -p "$CLUSTER_PORT" \
    -U "$CLUSTER_OWNER" -d "$db" "${input[@]}"
}
# The extension's SQL objects as pg_dump --binary-upgrade writes them (every member, with ALTER
# EXTENSION ... ADD), without the OIDs it carries over, which differ between databases.
members() {
  "$PG_BINDIR/pg_dump" --binary-upgrade --schema-only -h "$dir" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" "$1" \
    | grep -Ev "binary_upgrade_set_next_|^-- Dumped (from|by)|^\\\\(un)?restrict " 
}

db_sql postgres "CREATE DATABASE fresh" >/dev/null || exit 1
db_sql fresh "CREATE EXTENSION omendb" >/dev/null || { rt_fail "CREATE EXTENSION omendb"; exit 1; }
rt_check "a new install is at $current" [ "$(db_sql fresh "SELECT extversion FROM pg_extension WHERE extname = 'omendb'")" = "$current" ]
members fresh >"$RT_LOG/members-fresh.sql" || rt_fail "pg_dump of the new install"

for old in $releases; do
  [ "$old" = "$current" ] && continue
  db=at_${old//./_}
  db_sql postgres "CREATE DATABASE $db" >/dev/null || exit 1
  if ! db_sql "$db" "CREATE EXTENSION omendb VERSION '$old'" >/dev/null 2>"$RT_LOG/create-$old.err"; then
    rt_fail "CREATE EXTENSION omendb VERSION '$old' with this library: $(head -n 1 "$RT_LOG/create-$old.err")"
    continue
  fi
  rt_pass "CREATE EXTENSION omendb VERSION '$old'"
  db_sql "$db" <<'SQL' >/dev/null || rt_fail "tables and indexes at $old"
CREATE TABLE t (id int, k int8, f float8, d date);
INSERT INTO t SELECT g, (g * 7919) % 20011 - 10000, g / 7.0, date '2020-01-01' + g % 1000 FROM generate_series(1, 20000) g;
INSERT INTO t VALUES (20001, NULL, NULL, NULL);
CREATE UNIQUE INDEX t_id ON t USING alex (id);
CREATE INDEX t_k ON t USING alex (k);
CREATE INDEX t_f ON t USING alex (f) WHERE id % 2 = 0;
CREATE INDEX t_d ON t USING alex (d);
CREATE TABLE c (id int PRIMARY KEY, k int8, n numeric(12, 2), s text) USING columnar;
SET omendb.columnar_fold_min_rows = 1000;
INSERT INTO c SELECT g, g % 997, g / 4.0, md5(g::text) FROM generate_series(1, 12000) g;
VACUUM c;
INSERT INTO c SELECT g, g % 31, g, 'delta' FROM generate_series(12001, 12500) g;
DELETE FROM c WHERE id % 10 = 0;
CREATE INDEX c_k ON c USING alex (k);
SQL
  answers="SET enable_seqscan = off; SET enable_bitmapscan = off;
    SELECT count(*), sum(id) FROM t WHERE k BETWEEN -5000 AND 7000;
    SELECT count(*) FROM t WHERE k IS NULL;
    SELECT sum(k) FROM t WHERE id = ANY(ARRAY[3, 77, 19999]);
    SELECT count(*), sum(id) FROM t WHERE f < 900 AND id % 2 = 0;
    SELECT count(*) FROM t WHERE d >= '2022-01-01';
    SELECT count(*), sum(id), sum(n) FROM c WHERE k BETWEEN 10 AND 400;
    SELECT count(*), sum(n), count(DISTINCT s) FROM c;"
  db_sql "$db" "$answers" >"$RT_LOG/answers-$old" 2>&1 || rt_fail "queries at $old"

  if db_sql "$db" "ALTER EXTENSION omendb UPDATE" >/dev/null 2>"$RT_LOG/update-$old.err"; then
    rt_pass "ALTER EXTENSION omendb UPDATE from $old"
  else
    rt_fail "ALTER EXTENSION omendb UPDATE from $old: $(head -n 1 "$RT_LOG/update-$old.err")"
    continue
  fi
  rt_check "$old updated to $current" [ "$(db_sql "$db" "SELECT extversion FROM pg_extension WHERE extname = 'omendb'")" = "$current" ]
  db_sql "$db" "$answers" >"$RT_LOG/answers-$old-updated" 2>&1 || rt_fail "queries after the update from $old"
  rt_check "queries answer as before the update from $old" diff -u "$RT_LOG/answers-$old" "$RT_LOG/answers-$old-updated"
  for idx in t_id t_k t_f t_d c_k; do
    rt_check "alex_check($idx) after the update from $old" [ "$(db_sql "$db" "SELECT alex_check('$idx', true)")" = t ]
  done
  rt_check "columnar_check after the update from $old" [ "$(db_sql "$db" "SELECT columnar_check('c')")" = t ]
  printf '%s\n' "INSERT INTO t SELECT g, -g, g, NULL FROM generate_series(30000, 31000) g;" \
    "UPDATE c SET k = k + 1 WHERE id % 3 = 0;" "DELETE FROM t WHERE id % 7 = 0;" "VACUUM t, c;" \
    | db_sql "$db" >/dev/null && rt_pass "writes and VACUUM after the update from $old" || rt_fail "writes and VACUUM after the update from $old"
  rt_check "alex_check(t_k) after writes" [ "$(db_sql "$db" "SELECT alex_check('t_k', true)")" = t ]
  rt_check "columnar_check after writes" [ "$(db_sql "$db" "SELECT columnar_check('c')")" = t ]

  # The objects alone: a database with nothing but the extension, made at $old and updated.
  db_sql postgres "CREATE DATABASE only_${db}" >/dev/null || exit 1
  db_sql "only_$db" "CREATE EXTENSION omendb VERSION '$old'; ALTER EXTENSION omendb UPDATE" >/dev/null \
    || rt_fail "update of a database holding only the extension, from $old"
  members "only_$db" >"$RT_LOG/members-$old.sql" || rt_fail "pg_dump of the update from $old"
  rt_check "the update from $old makes the same SQL objects as a new install" \
    diff -u "$RT_LOG/members-fresh.sql" "$RT_LOG/members-$old.sql"
done
problems=$(rt_log_problems "$dir/server.log")
rt_check "no errors in the server log${problems:+: $problems}" test -z "$problems"
