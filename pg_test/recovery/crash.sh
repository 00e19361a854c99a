#!/usr/bin/env bash
# Crash-recovery loop for the alex access method.
#
# One cluster (wal_level=replica) lives through ROUNDS rounds. Each round: concurrent writers
# (pgbench clients inserting random, duplicate, extreme and ascending keys, updating keys,
# deleting; a UNIQUE-index workload; a client recording acknowledged commits; a loop running
# VACUUM, CHECKPOINT, ANALYZE, REINDEX) run for a random 1-4 s; the server is then crashed
# (pg_ctl stop -m immediate) at that random moment and restarted, so recovery replays alex's
# generic WAL records. After each recovery:
#   - for every alex index (int8, float8, timestamptz keys; a UNIQUE one when supported; one
#     rebuilt by REINDEX during the load): sequential scans, forced index scans (both directions,
#     index-only and plain) and forced bitmap scans agree on many ranges and the whole table;
#   - alex_check(idx, true) passes; the UNIQUE index holds no duplicate;
#   - every commit acknowledged to the recording client is in the table, and is found through
#     each alex index of the table;
#   - the unlogged table is empty, its index valid and usable;
#   - the server log has no ERROR/PANIC/FATAL other than the crash's own noise.
#
# Environment: ROUNDS (default 10), SEED (default random), RT_KEEP_LOGS=1 to keep logs on
# success, RT_VERBOSE=1 to print every check. Prints "N passed, M failed" last; exits non-zero
# on any failure. Logs (server log, pgbench output, queries) stay in
# target/pg_test-logs/recovery/crash on failure.
CLUSTER_PORT=${CLUSTER_PORT:-5511}
source "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-10}
SEED=${SEED:-$((RANDOM * 32768 + RANDOM))}
rt_setup crash $((120 + ROUNDS * 60))
RANDOM=$SEED
rt_note "crash.sh: ROUNDS=$ROUNDS SEED=$SEED (rerun with SEED=$SEED; the timing still varies)"

rt_new_cluster; dir=$RT_DIR
cluster_init "$dir" "wal_level = replica" "max_wal_size = 256MB" "wal_consistency_checking = generic" || exit 1
cluster_start "$dir" || exit 1
rt_create_extension "$dir" || { rt_fail "CREATE EXTENSION omendb"; exit 1; }
rt_sql_file "$dir" pg_test/recovery/schema.sql >/dev/null || exit 1
rt_install_helpers "$dir" || exit 1

# ct: three alex indexes; ct_ts built on the empty table and filled, ct_k and ct_f built in bulk.
# cu: the UNIQUE index when supported. cb: reindexed during the load. ul: unlogged.
# committed: what the recording client committed (plain table, btree).
rt_sql_script "$dir" >/dev/null <<SQL || { rt_fail "creating the tables and indexes"; exit 1; }
  CREATE TABLE ct (id bigserial, k int8, f float8, ts timestamptz, tag int NOT NULL DEFAULT 0, pad text);
  CREATE INDEX ct_ts ON ct USING alex (ts);
  INSERT INTO ct (k, f, ts, pad) SELECT rt_k(), rt_f(), rt_ts(), repeat('x', (random() * 40)::int) FROM generate_series(1, 20000);
  CREATE INDEX ct_k ON ct USING alex (k);
  CREATE INDEX ct_f ON ct USING alex (f);
  CREATE TABLE committed (id int8 PRIMARY KEY, k int8, f float8, ts timestamptz);
  CREATE TABLE cb (k int8);
  INSERT INTO cb SELECT rt_k() FROM generate_series(1, 5000);
  CREATE INDEX cb_k ON cb USING alex (k);
  CREATE UNLOGGED TABLE ul (k int8);
  CREATE INDEX ul_k ON ul USING alex (k);
SQL
rt_create_unique "$dir" || { rt_fail "table cu"; exit 1; }
rt_sql "$dir" "INSERT INTO cu (u) SELECT nextval('rt_useq') FROM generate_series(1, 3000)" >/dev/null || exit 1
rt_sql "$dir" "VACUUM ANALYZE" || exit 1

# ---- load: pgbench scripts, the recording client, maintenance ----
S=$RT_LOG/scripts
rt_workload_scripts "$S" ct
rt_unique_script "$S"
cat >"$S/other.sql" <<'EOF'
INSERT INTO ul (k) SELECT rt_k() FROM generate_series(1, 4);
INSERT INTO cb (k) SELECT rt_k() FROM generate_series(1, 4);
DELETE FROM cb WHERE ctid = ANY(ARRAY(SELECT ctid FROM cb WHERE k >= (random() * 1000)::int8 ORDER BY k LIMIT 3));
EOF

# The recording client: autocommit statements, each followed by an acknowledgement line that
# psql prints only after the server answered the statement (then a short pause, to keep the
# table small enough to verify quickly). $1: the first id.
recorder() {
  awk -v base="$1" 'BEGIN { for (i = 0; i < 1000000; i++) {
      id = sprintf("%.0f", base + i)
      printf "WITH r AS (INSERT INTO ct (id, k, f, ts, tag) VALUES (%s, rt_k(false), rt_f(false), rt_ts(false), 1) RETURNING id, k, f, ts) INSERT INTO committed SELECT * FROM r;\n\\echo ack %s\nSELECT pg_sleep(0.002);\n", id, id
    } }' | "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -d postgres
}
# Besides VACUUM, CHECKPOINT (recovery then starts mid-load, from full-page images) and ANALYZE:
# REINDEX of cb_k (a build, WAL-logged with log_newpage_range).
RT_MAINT_EXTRA="REINDEX INDEX cb_k"

ACKS=$RT_LOG/acks.txt
: >"$ACKS"
log_lines=0
# Crash noise the server log may hold: clients refused during start and stop, lost clients.
ALLOWED='the database system is (starting up|shutting down|in recovery mode|not yet accepting connections)|terminating connection due to (immediate shutdown|administrator) command|could not (send|receive) data (to|from) client|connection to client lost|unexpected EOF on client connection'

verify() {
  local dir=$1 spec t c ty idx
  rt_sql "$dir" "ANALYZE" || rt_fail "[$RT_TAG] ANALYZE"
  for spec in "ct k int8 ct_k" "ct f float8 ct_f" "ct ts timestamptz ct_ts" "cu u int8 cu_u" "cb k int8 cb_k"; do
    read -r t c ty idx <<<"$spec"
    rt_verify_index "$dir" "$t" "$c" "$ty" "$idx"
    rt_alex_check "$dir" "$idx"
  done
  rt_unique_checks "$dir"
  # Acknowledged commits are there...
  local f=$RT_LOG/acks-$RT_TAG.sql missing
  { echo "CREATE TEMP TABLE acks (id int8); COPY acks FROM STDIN;"; awk '$1 == "ack" { print $2 }' "$ACKS"; echo '\.'
    echo "SELECT count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM committed c WHERE c.id = a.id)), count(*) FROM acks a;"; } >"$f"
  missing=$(rt_sql_file "$dir" "$f" 2>&1)
  rt_check "[$RT_TAG] acknowledged commits survive (missing, acknowledged: ${missing//$'\t'/, })" test "${missing%%$'\t'*}" = 0
  # ...and every committed row is found through each alex index of ct.
  local mode col res
  for mode in index bitmap; do
    for col in k f ts; do
      res=$(rt_sql "$dir" "$(rt_mode_settings $mode) SELECT rt_fp(\$q\$SELECT count(*) || ' of ' || (SELECT count(*) FROM committed) FROM committed c WHERE NOT EXISTS (SELECT 1 FROM ct WHERE ct.$col = c.$col AND ct.id = c.id)\$q\$, '$mode', 'ct_$col')" 2>&1)
      rt_check "[$RT_TAG] committed rows found through ct_$col ($mode scan; missing: $res)" test "${res%% *}" = 0
    done
  done
  # The unlogged table was reset by the crash: empty, valid, usable.
  local ulseq ulidx
  ulseq=$(rt_sql "$dir" "$(rt_mode_settings seq) SELECT count(*) FROM ul" 2>&1)
  rt_check "[$RT_TAG] unlogged table empty after the crash ($ulseq rows)" test "$ulseq" = 0
  rt_alex_check "$dir" ul_k
  rt_sql "$dir" "INSERT INTO ul SELECT rt_k() FROM generate_series(1, 3000)" >/dev/null
  ulseq=$(rt_sql "$dir" "$(rt_mode_settings seq) SELECT rt_fp(\$q\$SELECT count(*)::text FROM ul WHERE k >= 0\$q\$, 'seq', 'ul_k')" 2>&1)
  ulidx=$(rt_sql "$dir" "$(rt_mode_settings index) SELECT rt_fp(\$q\$SELECT count(*)::text FROM ul WHERE k >= 0\$q\$, 'index', 'ul_k')" 2>&1)
  rt_check "[$RT_TAG] unlogged index usable after the reset (seqscan $ulseq, index scan $ulidx)" test "$ulseq" = "$ulidx"
  rt_alex_check "$dir" ul_k
  # The server log since the previous check.
  local problems
  problems=$(tail -n +$((log_lines + 1)) "$dir/server.log" | rt_log_problems /dev/stdin "$ALLOWED")
  log_lines=$(wc -l <"$dir/server.log")
  if [ -z "$problems" ]; then rt_pass "[$RT_TAG] server log clean"; else
    rt_fail "[$RT_TAG] server log has errors:"; echo "$problems" | head -n 20 | sed 's/^/    /'; fi
}

RT_TAG=initial
verify "$dir"
for round in $(seq 1 "$ROUNDS"); do
  RT_TAG=round$round
  load_ms=$((1000 + RANDOM % 3000))
  stop=$RT_LOG/stop-$round
  rt_bg "$PG_BINDIR/pgbench" -h "$dir" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -n -c 3 -j 2 -T 60 --random-seed=$((SEED + round)) \
    -f "$S/ct-ins.sql@4" -f "$S/ct-asc.sql@2" -f "$S/ct-upd.sql@3" -f "$S/ct-del.sql@2" -f "$S/uniq.sql@3" \
    -f "$S/ct-read.sql@1" -f "$S/other.sql@1" postgres >"$RT_LOG/pgbench-$round.log" 2>&1
  rt_bg recorder $((1000000000000000 + round * 10000000)) >>"$ACKS" 2>"$RT_LOG/recorder-$round.err"
  rt_bg rt_maintenance "$dir" "$stop" ct ct cu cb
  sleep "$((load_ms / 1000)).$(printf %03d $((load_ms % 1000)))"
  # The crash.
  cluster_stop "$dir" immediate || rt_fail "[$RT_TAG] pg_ctl stop -m immediate"
  touch "$stop"
  rt_wait_bg 20
  rt_note "round $round: crashed after ${load_ms} ms ($(grep -c '^ack' "$ACKS") acknowledged commits so far); recovering"
  if ! cluster_start "$dir" >"$RT_LOG/start-$round.log" 2>&1; then
    rt_fail "[$RT_TAG] restart after the crash (recovery) failed: $(tail -n 20 "$RT_LOG/start-$round.log")"
    exit 1
  fi
  rt_pass "[$RT_TAG] recovery"
  verify "$dir"
done
rt_note "ct: $(rt_sql "$dir" "SELECT count(*) FROM ct") rows, cu: $(rt_sql "$dir" "SELECT count(*) FROM cu") rows, unique violations caught by the workload: $(rt_sql "$dir" "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM rt_uv")"
rt_note "alex_stats(ct_k): $(rt_sql "$dir" "SELECT string_agg(stat || '=' || round(value::numeric, 2), ' ') FROM alex_stats('ct_k')")"
