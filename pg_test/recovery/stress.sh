#!/usr/bin/env bash
# Concurrency stress for the alex access method: 8 pgbench clients (2 threads) for DURATION
# seconds mixing inserts (random, duplicate, extreme and ascending keys), point selects, range
# selects with ORDER BY / LIMIT in both directions, = ANY lookups, key updates and deletes on a
# table with alex indexes on int8, float8 and timestamptz keys (one built in bulk, one on the
# empty table), plus a UNIQUE alex index (when supported) whose workload inserts mostly fresh
# keys from a sequence, re-inserts deleted ones and tries present ones; a unique violation is the
# only error it catches (SQLSTATE 23505, in PL/pgSQL), and the number caught is reported. In the
# background: VACUUM / ANALYZE / CHECKPOINT, and repeatable-read snapshots checking that index,
# bitmap and sequential scans agree while the indexes change under them. Two more clients insert
# with omendb.skip_separator_posts on, so the others repair unposted separators concurrently.
# Table rw is a rolling window on an index five levels high: its oldest keys are deleted and
# new ones appended while VACUUM merges the emptied pages and deletes model pages; likewise its
# oldest rows with NULL keys, so that VACUUM unlinks emptied pages of the NULL chain.
# Afterwards: no error in pgbench's output or the server log (ERROR/PANIC/TRAP/FATAL lines are
# printed), alex_check(idx, true) passes, index and bitmap scans equal sequential scans for many
# predicates, the UNIQUE index has no duplicate, refuses present keys and accepts absent ones.
#
# Environment: DURATION (default 60), CLIENTS (default 8), SEED, RT_KEEP_LOGS=1, RT_VERBOSE=1.
# Prints "N passed, M failed" last; exits non-zero on any failure.
CLUSTER_PORT=${CLUSTER_PORT:-5513}
source "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-60}
CLIENTS=${CLIENTS:-8}
SEED=${SEED:-$((RANDOM * 32768 + RANDOM))}
rt_setup stress $((DURATION * 2 + 300))
RANDOM=$SEED
rt_note "stress.sh: DURATION=$DURATION CLIENTS=$CLIENTS SEED=$SEED"

rt_new_cluster; dir=$RT_DIR
# Small shared buffers: pages are evicted and read back while the clients work.
cluster_init "$dir" "shared_buffers = 16MB" "max_connections = 60" || exit 1
cluster_start "$dir" || exit 1
rt_create_extension "$dir" || { rt_fail "CREATE EXTENSION omendb"; exit 1; }
rt_sql_file "$dir" pg_test/recovery/schema.sql >/dev/null || exit 1
rt_install_helpers "$dir" || exit 1
rt_sql_script "$dir" >/dev/null <<SQL || { rt_fail "table st and its indexes"; exit 1; }
  CREATE TABLE st (id bigserial, k int8, f float8, ts timestamptz, tag int NOT NULL DEFAULT 0, pad text);
  CREATE INDEX st_ts ON st USING alex (ts);
  INSERT INTO st (k, f, ts, pad) SELECT rt_k(), rt_f(), rt_ts(), repeat('x', (random() * 40)::int) FROM generate_series(1, 30000);
  CREATE INDEX st_k ON st USING alex (k);
  CREATE INDEX st_f ON st USING alex (f);
SQL
rt_sql_script "$dir" >/dev/null <<SQL || { rt_fail "table rw and its index"; exit 1; }
  CREATE TABLE rw (id bigserial, k int8, f float8, ts timestamptz, tag int NOT NULL DEFAULT 0, pad text);
  INSERT INTO rw (k) SELECT (g::int8 * 2654435761) % 1099511627776 FROM generate_series(1, 150000) g;
  INSERT INTO rw (k) SELECT NULL FROM generate_series(1, 3000);
  SET omendb.model_page_fanout = 8;
  CREATE INDEX rw_k ON rw USING alex (k) WITH (density = 0.1);
SQL
# Model pages of at most 8 children: a tree of 5 levels, whose model pages of every level below
# the root VACUUM deletes as the window rolls.
built_model_pages=$(rt_sql "$dir" "SELECT value FROM alex_stats('rw_k') WHERE stat = 'model_pages'")
rt_create_unique "$dir" || { rt_fail "table cu"; exit 1; }
rt_sql "$dir" "INSERT INTO cu (u) SELECT nextval('rt_useq') FROM generate_series(1, 5000)" >/dev/null || exit 1
rt_sql "$dir" "VACUUM ANALYZE" || exit 1

S=$RT_LOG/scripts
rt_workload_scripts "$S" st
rt_workload_scripts "$S" rw
cat >"$S/rw-roll.sql" <<'EOF'
DELETE FROM rw WHERE ctid = ANY(ARRAY(SELECT ctid FROM rw WHERE k >= 0 ORDER BY k LIMIT 300 FOR UPDATE SKIP LOCKED));
INSERT INTO rw (k) SELECT (SELECT max(k) FROM rw WHERE k < 2000000000000) + (random() * 1e9)::int8 + 1 FROM generate_series(1, 10);
DELETE FROM rw WHERE ctid = ANY(ARRAY(SELECT ctid FROM rw WHERE k IS NULL ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED));
INSERT INTO rw (k) SELECT NULL FROM generate_series(1, 100);
EOF
rt_unique_script "$S"
cat >"$S/point.sql" <<'EOF'
\set x random(-1000000000000, 1000000000000)
\set d random(0, 1000)
SELECT id, k FROM st WHERE k = :d;
SELECT id FROM st WHERE k = :x;
SELECT count(*) FROM st WHERE k = ANY(ARRAY[:d, :d + 1, :d + 2, :x]);
SELECT u FROM cu WHERE u = :d * 7;
SELECT u FROM cu WHERE u >= :d * 7 ORDER BY u LIMIT 5;
SELECT u FROM cu WHERE u <= :d * 7 ORDER BY u DESC LIMIT 5;
SELECT k FROM st WHERE k IS NULL LIMIT 3;
EOF

SPECS=("st k int8 st_k" "st f float8 st_f" "st ts timestamptz st_ts" "cu u int8 cu_u" "rw k int8 rw_k")
snapspecs=()
for spec in "${SPECS[@]}"; do
  read -r t c ty idx <<<"$spec"
  # The whole-table queries (L0) are left to the final check: too slow to repeat under load.
  rt_gen_queries "$dir" "$t" "$c" "$ty" "$idx" | grep -v '^L0\.' >"$RT_LOG/snap-$idx.queries" || { rt_fail "queries for $idx"; exit 1; }
  snapspecs+=("$idx:$RT_LOG/snap-$idx.queries")
done

RT_TAG=load
stop=$RT_LOG/stop
rt_note "running $CLIENTS clients for ${DURATION}s"
rt_bg "$PG_BINDIR/pgbench" -h "$dir" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -n -c "$CLIENTS" -j 2 -T "$DURATION" --random-seed="$SEED" \
  -f "$S/st-ins.sql@4" -f "$S/st-asc.sql@2" -f "$S/st-upd.sql@3" -f "$S/st-del.sql@3" -f "$S/st-read.sql@3" \
  -f "$S/point.sql@3" -f "$S/uniq.sql@4" -f "$S/rw-roll.sql@2" -f "$S/rw-ins.sql@1" -f "$S/rw-read.sql@1" \
  postgres >"$RT_LOG/pgbench.log" 2>&1
pgbench_pid=${RT_BG[-1]}
# Two more clients split pages without posting their separators (as a crash right after each
# split would leave them); the other clients' inserts repair those while they race with splits.
# Their route cache has room for one model page: reads of rw, over several, evict it in turn.
PGOPTIONS="-c omendb.skip_separator_posts=on -c omendb.route_cache_size=32kB" rt_bg "$PG_BINDIR/pgbench" -h "$dir" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -n -c 2 -j 1 -T "$DURATION" -R 100 \
  --random-seed="$SEED" -f "$S/st-ins.sql@2" -f "$S/st-asc.sql@1" -f "$S/rw-read.sql@1" postgres >"$RT_LOG/pgbench-unposted.log" 2>&1
unposted_pid=${RT_BG[-1]}
rt_bg rt_maintenance "$dir" "$stop" st st cu rw
# alex_stats walks an index while it changes (alex_check locks writers out; alex_stats does not).
stats_loop() {
  local n=0
  while [ ! -e "$stop" ]; do
    for idx in st_k rw_k cu_u; do
      "$PG_BINDIR/psql" -X -q -h "$dir" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -d postgres -At \
        -c "SELECT count(*) FROM alex_stats('$idx')" >/dev/null 2>>"$RT_LOG/stats.err" && n=$((n + 1))
    done
    sleep 0.1
  done
  echo "$n" >"$RT_LOG/stats.count"
}
: >"$RT_LOG/stats.err"
rt_bg stats_loop
RT_SNAPSHOT_SAMPLE=8 rt_bg rt_snapshot_loop "$dir" "$stop" "$RT_LOG/snap" "${snapspecs[@]}"
pgbench_status=0
wait "$pgbench_pid" || pgbench_status=$?
wait "$unposted_pid" || pgbench_status=$?
touch "$stop"
rt_wait_bg 120

tx=$(grep -E '^number of transactions actually processed' "$RT_LOG/pgbench.log" | sed 's/.*: //')
failed_tx=$(grep -E '^number of failed transactions' "$RT_LOG/pgbench.log" | sed 's/.*: //; s/ .*//')
if [ $pgbench_status -eq 0 ] && [ "${failed_tx:-0}" = 0 ] && ! grep -qE 'ERROR|error:|aborted' "$RT_LOG/pgbench.log" "$RT_LOG/pgbench-unposted.log"; then
  rt_pass "pgbench: $CLIENTS clients, ${DURATION}s, no error ($tx transactions, $(grep -E '^tps' "$RT_LOG/pgbench.log" | sed 's/ (.*//'))"
else
  rt_fail "pgbench exited with $pgbench_status ($tx transactions, ${failed_tx:-?} failed):"
  grep -hE 'ERROR|error|aborted|DETAIL|CONTEXT' "$RT_LOG/pgbench.log" "$RT_LOG/pgbench-unposted.log" | sort | uniq -c | sort -rn | head -n 10 | sed 's/^/    /'
fi
rt_snapshot_report "$RT_LOG/snap"
if [ -s "$RT_LOG/stats.err" ]; then
  rt_fail "alex_stats under load: $(sort "$RT_LOG/stats.err" | uniq -c | sort -rn | head -n 3)"
else
  rt_pass "alex_stats under load: $(cat "$RT_LOG/stats.count" 2>/dev/null || echo '?') calls, no error"
fi
if [ "$RT_UNIQUE" = 1 ]; then
  uv=$(rt_sql "$dir" "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM rt_uv")
  rt_check "unique violations raised and caught by the UNIQUE workload: ${uv:-?} (expected some)" test "${uv:-0}" -gt 0
  if [ "$(rt_sql "$dir" "SHOW server_version_num")" -ge 180000 ]; then
    up=$(rt_sql "$dir" "SELECT count(*) FROM cu WHERE v >= 100")
    rt_check "rows updated under load by ON CONFLICT DO UPDATE through cu_u: ${up:-?} (expected some)" test "${up:-0}" -gt 0
  fi
fi

RT_TAG=final
rt_sql "$dir" "VACUUM (INDEX_CLEANUP ON) st" >/dev/null || rt_fail "VACUUM st"
rt_sql "$dir" "VACUUM (INDEX_CLEANUP ON) cu" >/dev/null || rt_fail "VACUUM cu"
rt_sql "$dir" "VACUUM (INDEX_CLEANUP ON) rw" >/dev/null || rt_fail "VACUUM rw"
model_pages=$(rt_sql "$dir" "SELECT value FROM alex_stats('rw_k') WHERE stat = 'model_pages'")
rt_check "rw_k: model pages deleted under load (model_pages = $model_pages, $built_model_pages when built)" test "${model_pages:-0}" -lt "${built_model_pages:-0}"
rt_sql "$dir" "ANALYZE" >/dev/null || rt_fail "ANALYZE"
for spec in "${SPECS[@]}"; do
  read -r t c ty idx <<<"$spec"
  rt_alex_check "$dir" "$idx"
  rt_verify_index "$dir" "$t" "$c" "$ty" "$idx"
done
rt_unique_checks "$dir" semantics

# PostgreSQL cancels an autovacuum whose lock a VACUUM or ANALYZE of the maintenance loop asks
# for, and logs that as an ERROR of the autovacuum worker: expected here.
problems=$(rt_log_problems "$dir/server.log" 'canceling autovacuum task')
if [ -z "$problems" ]; then rt_pass "server log clean (no ERROR/PANIC/TRAP/FATAL)"; else
  rt_fail "server log has $(echo "$problems" | wc -l) ERROR/PANIC/TRAP/FATAL lines:"
  echo "$problems" | sed -E 's/^[0-9-]+ [0-9:.]+ [A-Z]+ \[[0-9]+\] //' | sort | uniq -c | sort -rn | head -n 15 | sed 's/^/    /'
fi
rt_note "st: $(rt_sql "$dir" "SELECT count(*) FROM st") rows; cu: $(rt_sql "$dir" "SELECT count(*) FROM cu") rows"
rt_note "alex_stats(st_k): $(rt_sql "$dir" "SELECT string_agg(stat || '=' || round(value::numeric, 2), ' ') FROM alex_stats('st_k')")"
