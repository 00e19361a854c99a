#!/usr/bin/env bash
# Streaming replication of alex indexes: a primary and a hot standby made with
# pg_basebackup -R with a replication slot (so the primary keeps the WAL the standby has yet to
# stream) over the primary's Unix socket (both clusters run as the cluster owner).
#
#   1. Primary: table rb with alex indexes on int8, float8, timestamptz keys built in bulk.
#   2. pg_basebackup -R while writers change rb (the copy is fuzzy: replay must repair it from
#      full-page images), then the standby starts streaming.
#   3. Primary: table re with alex indexes built on the empty table, then filled; table rc
#      filled, then indexed in bulk (both builds are replayed); cu with a UNIQUE alex index when
#      supported; rw, a rolling window: an index five levels high (model pages of at most 8
#      children, a developer option) whose oldest keys, and
#      oldest rows with NULL keys, are deleted, so that VACUUM deletes model pages and unlinks
#      NULL pages (and keeps doing so during the load).
#   4. Write load on the primary (pgbench: inserts, key updates, deletes, the UNIQUE workload)
#      with VACUUM, CHECKPOINT, ANALYZE; meanwhile on the standby, repeatable-read snapshots check
#      that index, bitmap and sequential scans agree while replay changes the pages under them.
#   5. Load stopped, VACUUM, CHECKPOINT; wait until the standby replayed everything. Then, on the
#      standby: forced index / bitmap scans equal the standby's sequential scans and the
#      primary's, for many predicates, in both directions; alex_check(idx, true) on both nodes;
#      and every block of every alex index is byte-identical on both nodes (get_raw_page, as
#      contrib/bloom's t/001_wal.pl).
#
# Environment: LOAD_SECONDS (default 20), SEED, RT_KEEP_LOGS=1, RT_VERBOSE=1.
# Prints "N passed, M failed" last; exits non-zero on any failure.
CLUSTER_PORT=${CLUSTER_PORT:-5512}
source "$(dirname "$0")/lib.sh"

LOAD_SECONDS=${LOAD_SECONDS:-20}
SEED=${SEED:-$((RANDOM * 32768 + RANDOM))}
rt_setup replica $((300 + LOAD_SECONDS * 3))
RANDOM=$SEED
rt_note "replica.sh: LOAD_SECONDS=$LOAD_SECONDS SEED=$SEED"

rt_new_cluster; primary=$RT_DIR
rt_new_cluster; standby=$RT_DIR
# No autovacuum: once the load stops, nothing may change the pages while they are compared.
cluster_init "$primary" "wal_level = replica" "max_wal_senders = 5" "autovacuum = off" "max_wal_size = 512MB" "wal_consistency_checking = generic" || exit 1
cluster_start "$primary" || exit 1
rt_create_extension "$primary" || { rt_fail "CREATE EXTENSION omendb"; exit 1; }
rt_sql "$primary" "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS pageinspect" >/dev/null \
  || { rt_fail "CREATE EXTENSION pageinspect"; exit 1; }
rt_sql_file "$primary" pg_test/recovery/schema.sql >/dev/null || exit 1
rt_install_helpers "$primary" || exit 1

TABLE_DDL="(id bigserial, k int8, f float8, ts timestamptz, tag int NOT NULL DEFAULT 0, pad text)"
ROWS="SELECT rt_k(), rt_f(), rt_ts(), repeat('x', (random() * 40)::int) FROM generate_series(1, 25000)"
rt_sql_script "$primary" >/dev/null <<SQL || { rt_fail "table rb and its indexes"; exit 1; }
  CREATE TABLE rb $TABLE_DDL;
  INSERT INTO rb (k, f, ts, pad) $ROWS;
  CREATE INDEX rb_k ON rb USING alex (k);
  CREATE INDEX rb_f ON rb USING alex (f);
  CREATE INDEX rb_ts ON rb USING alex (ts);
SQL
rt_sql "$primary" "VACUUM ANALYZE rb" || exit 1

S=$RT_LOG/scripts
for t in rb re rc rw; do rt_workload_scripts "$S" "$t"; done
rt_unique_script "$S"

# ---- the base backup, taken while rb changes ----
stop=$RT_LOG/stop-backup
rt_bg "$PG_BINDIR/pgbench" -h "$primary" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -n -c 2 -j 2 -T 5 --random-seed=$SEED \
  -f "$S/rb-ins.sql@3" -f "$S/rb-asc.sql@2" -f "$S/rb-upd.sql@3" -f "$S/rb-del.sql@2" postgres >"$RT_LOG/pgbench-backup.log" 2>&1
pgbench_pid=${RT_BG[-1]}
rt_bg rt_maintenance "$primary" "$stop" rb
sleep 1
rm -rf "$standby/data"
if ! as_cluster_owner "$PG_BINDIR/pg_basebackup" -h "$primary" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -D "$standby/data" \
    -R -X stream -C -S standby_slot -c fast >"$RT_LOG/basebackup.log" 2>&1; then
  rt_fail "pg_basebackup: $(tail -n 5 "$RT_LOG/basebackup.log")"
  exit 1
fi
wait "$pgbench_pid"
touch "$stop"
rt_wait_bg 30
rt_pass "pg_basebackup -R over the Unix socket, during writes"
# The copied postgresql.conf names the primary's socket directory: the standby gets its own.
{
  echo "unix_socket_directories = '$standby'"
  echo "hot_standby = on"
  echo "hot_standby_feedback = on"
  echo "max_standby_streaming_delay = 120s"
} | as_cluster_owner tee -a "$standby/data/postgresql.conf" >/dev/null
if ! cluster_start "$standby"; then rt_fail "standby start"; exit 1; fi
in_recovery=$(rt_sql "$standby" "SELECT pg_is_in_recovery()")
rt_check "standby is in recovery, streaming ($in_recovery)" test "$in_recovery" = t

# ---- builds replayed on the standby ----
rt_sql_script "$primary" >/dev/null <<SQL || { rt_fail "tables re, rc and their indexes"; exit 1; }
  CREATE TABLE re $TABLE_DDL;
  CREATE INDEX re_k ON re USING alex (k);
  CREATE INDEX re_f ON re USING alex (f);
  CREATE INDEX re_ts ON re USING alex (ts);
  INSERT INTO re (k, f, ts, pad) $ROWS;
  CREATE TABLE rc $TABLE_DDL;
  INSERT INTO rc (k, f, ts, pad) $ROWS;
  CREATE INDEX rc_k ON rc USING alex (k);
  CREATE INDEX rc_f ON rc USING alex (f);
  CREATE INDEX rc_ts ON rc USING alex (ts);
SQL
rt_sql_script "$primary" >/dev/null <<SQL || { rt_fail "table rw and its index"; exit 1; }
  CREATE TABLE rw $TABLE_DDL;
  INSERT INTO rw (k) SELECT (g::int8 * 2654435761) % 1099511627776 FROM generate_series(1, 150000) g;
  INSERT INTO rw (k) SELECT NULL FROM generate_series(1, 4000);
  SET omendb.model_page_fanout = 8;
  CREATE INDEX rw_k ON rw USING alex (k) WITH (density = 0.1);
  DELETE FROM rw WHERE k < 500000000000;
  DELETE FROM rw WHERE id BETWEEN 150001 AND 152500;
SQL
built_model_pages=$(rt_sql "$primary" "SELECT value FROM alex_stats('rw_k') WHERE stat = 'model_pages'")
cat >"$S/rw-old.sql" <<SQL
DELETE FROM rw WHERE k < (SELECT min(k) FROM rw WHERE k >= 0) + 3000000000;
DELETE FROM rw WHERE ctid = ANY(ARRAY(SELECT ctid FROM rw WHERE k IS NULL ORDER BY id LIMIT 50));
INSERT INTO rw (k) SELECT NULL FROM generate_series(1, 50);
SQL
rt_create_unique "$primary" || { rt_fail "table cu"; exit 1; }
rt_sql "$primary" "INSERT INTO cu (u) SELECT nextval('rt_useq') FROM generate_series(1, 5000)" >/dev/null || exit 1
rt_sql "$primary" "VACUUM ANALYZE" || exit 1

# Every alex index: table column type index.
SPECS=()
for t in rb re rc; do SPECS+=("$t k int8 ${t}_k" "$t f float8 ${t}_f" "$t ts timestamptz ${t}_ts"); done
SPECS+=("cu u int8 cu_u" "rw k int8 rw_k")

if out=$(rt_wait_replay "$primary" "$standby"); then rt_pass "standby caught up after the builds"; else rt_fail "$out"; exit 1; fi
# An ordered scan of ro_ts on the standby holds its first batch (entries of rows deleted before
# its snapshot among them) while the primary's VACUUM removes those entries and rows and marks
# the heap pages all-visible, and replay applies it (INDEX_CLEANUP ON: so few dead rows would
# otherwise skip the index pass). An index-only scan would then return the deleted rows from the
# visibility map (replay of alex's generic WAL takes no cleanup lock, so the scan's pin does
# not hold it back); the standby must plan a scan that reads the heap.
rt_sql_script "$primary" >/dev/null <<SQL || { rt_fail "table ro"; exit 1; }
  CREATE TABLE ro (id int, ts timestamptz, pad text) WITH (fillfactor = 10);
  INSERT INTO ro SELECT g, '2026-01-01'::timestamptz + g * interval '1 minute', repeat('x', 700) FROM generate_series(1, 2000) g;
  CREATE INDEX ro_ts ON ro USING alex (ts);
SQL
# Every page all-visible first (once the standby's feedback lets VACUUM see the rows as old
# enough), so that the visibility map's fork exists on the standby before its session opens the
# table (a backend that found no fork reads the heap for every row until it is invalidated).
for i in $(seq 1 120); do
  rt_sql "$primary" "VACUUM ro" || exit 1
  [ "$(rt_sql "$primary" "SELECT relallvisible FROM pg_class WHERE oid = 'ro'::regclass")" = 2000 ] && break
  sleep 0.5
done
rt_sql "$primary" "DELETE FROM ro WHERE id BETWEEN 5 AND 30" >/dev/null || exit 1
cat >"$S/ro-vacuum.sh" <<SH
# Until the standby's feedback (sent every few seconds) lets VACUUM remove the 26 rows.
for i in \$(seq 1 120); do
  "$PG_BINDIR/psql" -X -q -h "$primary" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -d postgres -c "VACUUM (VERBOSE, INDEX_CLEANUP ON) ro" >"$RT_LOG/ro-vacuum.log" 2>&1 || exit 1
  grep -m 1 'tuples:' "$RT_LOG/ro-vacuum.log" | grep -q '^tuples: 26 removed' && break
  sleep 0.5
done
grep -m 1 'tuples:' "$RT_LOG/ro-vacuum.log" | grep -q '^tuples: 26 removed' || exit 1
target=\$("$PG_BINDIR/psql" -X -q -At -h "$primary" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -d postgres -c "SELECT pg_current_wal_lsn()")
for i in \$(seq 1 600); do
  [ "\$("$PG_BINDIR/psql" -X -At -h "$standby" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -d postgres -c "SELECT pg_last_wal_replay_lsn() >= '\$target'")" = t ] && exit 0
  sleep 0.2
done
exit 1
SH
if out=$(rt_wait_replay "$primary" "$standby"); then
  rt_check "ro: the visibility map is on the standby" test "$(rt_sql "$standby" "SELECT pg_relation_size('ro', 'vm') > 0")" = t
  rt_sql_script "$standby" >"$RT_LOG/ro-scan.out" 2>&1 <<SQL
    SET enable_seqscan = off; SET enable_bitmapscan = off;
    BEGIN ISOLATION LEVEL REPEATABLE READ;
    EXPLAIN (COSTS OFF) SELECT ts FROM ro WHERE ts >= '2026-01-01' ORDER BY ts;
    DECLARE c CURSOR FOR SELECT ts FROM ro WHERE ts >= '2026-01-01' ORDER BY ts;
    FETCH 1 FROM c;
    \\! bash "$S/ro-vacuum.sh" || echo "VACUUM ro did not remove the rows, or was not replayed"
    FETCH ALL FROM c;
    COMMIT;
SQL
  plan=$(grep -m 1 -E 'Index (Only )?Scan' "$RT_LOG/ro-scan.out")
  rows=$(grep -c '^2026-' "$RT_LOG/ro-scan.out")
  rt_check "ro_ts on the standby: an ordered scan across VACUUM's replay returns the 1974 live rows (got $rows; plan: $plan)" \
    test "$rows" = 1974 -a -n "$plan" -a -z "$(grep -E 'Index Only Scan|ERROR|VACUUM ro did not' "$RT_LOG/ro-scan.out")"
else
  rt_fail "$out"
fi
# VACUUM removes rw's deleted rows once the standby's feedback no longer holds them back.
for i in $(seq 1 60); do
  rt_sql "$primary" "VACUUM rw" || exit 1
  model_pages=$(rt_sql "$primary" "SELECT value FROM alex_stats('rw_k') WHERE stat = 'model_pages'")
  [ "$model_pages" -lt "$built_model_pages" ] && break
  sleep 1
done
rt_check "rw_k: VACUUM deleted model pages (model_pages = $model_pages, $built_model_pages when built)" test "$model_pages" -lt "$built_model_pages"
null_pages=$(rt_sql "$primary" "SELECT value FROM alex_stats('rw_k') WHERE stat = 'null_pages'")
rt_check "rw_k: VACUUM unlinked the two emptied NULL pages (null_pages = $null_pages, 4 when built)" test "$null_pages" = 2

# ---- write load on the primary; snapshot checks on the standby during replay ----
RT_TAG=load
snapspecs=()
for spec in "${SPECS[@]}"; do
  read -r t c ty idx <<<"$spec"
  rt_gen_queries "$primary" "$t" "$c" "$ty" "$idx" | grep -v '^L0\.' >"$RT_LOG/snap-$idx.queries" \
    || { rt_fail "queries for $idx"; exit 1; }
  snapspecs+=("$idx:$RT_LOG/snap-$idx.queries")
done
stop=$RT_LOG/stop-load
rt_bg "$PG_BINDIR/pgbench" -h "$primary" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -n -c 3 -j 2 -T "$LOAD_SECONDS" --random-seed=$((SEED + 1)) \
  -f "$S/rb-ins.sql@2" -f "$S/rb-asc.sql@1" -f "$S/rb-upd.sql@2" -f "$S/rb-del.sql@2" \
  -f "$S/re-ins.sql@2" -f "$S/re-asc.sql@1" -f "$S/re-upd.sql@2" -f "$S/re-del.sql@1" \
  -f "$S/rc-ins.sql@2" -f "$S/rc-upd.sql@1" -f "$S/rc-del.sql@2" -f "$S/uniq.sql@3" \
  -f "$S/rw-ins.sql@1" -f "$S/rw-old.sql@2" postgres >"$RT_LOG/pgbench-load.log" 2>&1
pgbench_pid=${RT_BG[-1]}
rt_bg rt_maintenance "$primary" "$stop" rb re rc cu rw
rt_bg rt_snapshot_loop "$standby" "$stop" "$RT_LOG/snap" "${snapspecs[@]}"
pgbench_status=0
wait "$pgbench_pid" || pgbench_status=$?
touch "$stop"
rt_wait_bg 120
if [ $pgbench_status -eq 0 ] && ! grep -qiE 'error|abort' "$RT_LOG/pgbench-load.log"; then
  rt_pass "write load on the primary ($(grep -E '^number of transactions actually processed' "$RT_LOG/pgbench-load.log" | sed 's/.*: //') transactions)"
else
  rt_fail "write load: pgbench exited with $pgbench_status:"; grep -iE 'error|abort' "$RT_LOG/pgbench-load.log" | head -n 10 | sed 's/^/    /'
fi
# On a hot standby, a query may be cancelled by a recovery conflict: not alex's fault.
rt_snapshot_report "$RT_LOG/snap" 'conflict with recovery|terminating connection due to conflict'

# ---- the final state ----
RT_TAG=final
rt_sql "$primary" "VACUUM (INDEX_CLEANUP ON)" >/dev/null || rt_fail "VACUUM on the primary"
rt_sql "$primary" "ANALYZE" >/dev/null || rt_fail "ANALYZE on the primary"
rt_sql "$primary" "CHECKPOINT" >/dev/null || rt_fail "CHECKPOINT on the primary"
if out=$(rt_wait_replay "$primary" "$standby"); then rt_pass "standby caught up after the load"; else rt_fail "$out"; exit 1; fi
rt_sql "$standby" "CHECKPOINT" >/dev/null # a restartpoint; harmless, keeps the standby's files current

for spec in "${SPECS[@]}"; do
  read -r t c ty idx <<<"$spec"
  RT_TAG=standby rt_verify_index "$standby" "$t" "$c" "$ty" "$idx" "$primary"
  RT_TAG=primary rt_alex_check "$primary" "$idx"
  RT_TAG=standby rt_alex_check "$standby" "$idx"
done
RT_TAG=standby rt_unique_checks "$standby"

# Page images: every block of every alex index, primary against standby, but for the checksum
# field: a page in shared buffers keeps the checksum it was last read from disk with (it is
# computed on the copy written out), and a build writes its pages outside shared buffers with
# their checksums, which its WAL images do not carry.
for spec in "${SPECS[@]}"; do
  read -r t c ty idx <<<"$spec"
  q="SELECT b, md5(substr(p, 1, 8) || substr(p, 11)) FROM generate_series(0, pg_relation_size('$idx') / 8192 - 1) b, get_raw_page('$idx', b::int) p"
  if ! rt_sql "$primary" "$q" >"$RT_LOG/pages-$idx.primary" 2>&1 || ! rt_sql "$standby" "$q" >"$RT_LOG/pages-$idx.standby" 2>&1; then
    rt_fail "$idx: get_raw_page failed: $(cat "$RT_LOG/pages-$idx.primary" "$RT_LOG/pages-$idx.standby" | grep -m 2 ERROR)"
    continue
  fi
  np=$(wc -l <"$RT_LOG/pages-$idx.primary"); ns=$(wc -l <"$RT_LOG/pages-$idx.standby")
  if [ "$np" -lt 2 ]; then
    rt_fail "$idx: only $np blocks read on the primary"
  elif cmp -s "$RT_LOG/pages-$idx.primary" "$RT_LOG/pages-$idx.standby"; then
    rt_pass "$idx: all $np page images identical on primary and standby"
  else
    diffblocks=$(diff <(cat "$RT_LOG/pages-$idx.primary") <(cat "$RT_LOG/pages-$idx.standby") | grep -E '^[<>]' | awk '{ print $2 }' | sort -un | head -n 10 | tr '\n' ' ')
    rt_fail "$idx: page images differ (primary $np blocks, standby $ns blocks; differing blocks: $diffblocks)"
    # Keep both images of the first differing block for inspection.
    b=$(echo "$diffblocks" | awk '{ print $1 }')
    if [ -n "$b" ] && [ "$b" -lt "$np" ] && [ "$b" -lt "$ns" ]; then
      for node in primary standby; do
        d=$primary; [ $node = standby ] && d=$standby
        rt_sql "$d" "SELECT encode(get_raw_page('$idx', $b), 'hex')" | fold -w 64 >"$RT_LOG/page-$idx-$b.$node.hex"
      done
      echo "    first difference in block $b: $(diff "$RT_LOG/page-$idx-$b.primary.hex" "$RT_LOG/page-$idx-$b.standby.hex" | head -n 4 | tr '\n' ' ')"
    fi
  fi
done

# Server logs: nothing but recovery-conflict cancellations on the standby.
for node in primary standby; do
  d=$primary; [ $node = standby ] && d=$standby
  problems=$(rt_log_problems "$d/server.log" 'conflict with recovery|terminating connection due to administrator command')
  if [ -z "$problems" ]; then rt_pass "$node server log clean"; else
    rt_fail "$node server log has errors:"; echo "$problems" | head -n 20 | sed 's/^/    /'; fi
done
rt_note "rows: rb $(rt_sql "$primary" "SELECT count(*) FROM rb"), re $(rt_sql "$primary" "SELECT count(*) FROM re"), rc $(rt_sql "$primary" "SELECT count(*) FROM rc"), cu $(rt_sql "$primary" "SELECT count(*) FROM cu")"
