#!/usr/bin/env bash
# Shared by crash.sh, replica.sh and stress.sh (source it; it is not a test by itself).
#
#   rt_setup NAME               log directory target/pg_test-logs/recovery/NAME, watchdog, EXIT trap
#                               (which also runs the command in RT_ON_EXIT, if a script sets one)
#   rt_pass MSG / rt_fail MSG   count a check; the EXIT trap prints "N passed, M failed" last
#   rt_new_cluster              RT_DIR := a fresh cluster directory, torn down by the EXIT trap
#   rt_bg CMD...                run CMD in the background, ended (by its pid) by rt_stop_bg / the trap
#   rt_sql DIR SQL              psql -At on DIR, statement_timeout and a wall-clock timeout
#   rt_sql_file DIR FILE, rt_sql_script DIR <<SQL   the same for a file, for stdin
#   rt_install_helpers DIR      the rt_fp() fingerprint function (plan check + result digest)
#   rt_gen_queries ...          a query file for one index (see below)
#   rt_run_fp DIR MODE QFILE    fingerprints of every query of QFILE under one planner mode
#   rt_cmp_fp LABEL REF OUT     compare two fingerprint files, count one check
#   rt_verify_index DIR ...     everything above for one index: seq vs index vs bitmap scans
#   rt_alex_check DIR IDX       alex_check(idx, true)
#   rt_log_problems FILE [RE]   ERROR/PANIC/TRAP/FATAL/crash lines of a server log, minus RE
#
# Every check of a script increments RT_PASS or RT_FAIL; the final line is printed by the EXIT
# trap, so a script that dies half way still reports (with at least one failure).

set -uo pipefail
RT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$RT_ROOT" || exit 2
# shellcheck source=../cluster.sh
source pg_test/cluster.sh

RT_PASS=0
RT_FAIL=0
RT_CLUSTERS=()
RT_BG=()
RT_NAME=
RT_LOG=
RT_WATCHDOG=
RT_STMT_TIMEOUT=${RT_STMT_TIMEOUT:-300}
RT_VERBOSE=${RT_VERBOSE:-0}

rt_note() { echo "[$(date +%H:%M:%S)] $*"; }
rt_pass() { RT_PASS=$((RT_PASS + 1)); [ "$RT_VERBOSE" = 1 ] && echo "ok - $*"; return 0; }
rt_fail() { RT_FAIL=$((RT_FAIL + 1)); echo "FAIL - $*"; return 0; }
rt_check() { # rt_check MSG CONDITION-COMMAND...: pass when the command succeeds
  local msg=$1; shift
  if "$@"; then rt_pass "$msg"; else rt_fail "$msg"; fi
}

# rt_setup NAME TIME_LIMIT_SECONDS
rt_setup() {
  RT_NAME=$1
  local limit=${RT_TIME_LIMIT:-$2}
  RT_LOG=$RT_ROOT/target/pg_test-logs/recovery/$RT_NAME
  rm -rf "$RT_LOG"
  mkdir -p "$RT_LOG"
  CLUSTER_LOGDIR=$RT_LOG
  # The traps may fire inside a command whose output is redirected to a file: they write to the
  # script's own stdout/stderr, kept here.
  exec 8>&1 9>&2
  trap rt_exit EXIT
  trap 'rt_fail "interrupted" >&8; exit 1' INT
  RT_LIMIT=$limit
  trap 'rt_fail "time limit of ${RT_LIMIT}s reached (or terminated)" >&8; exit 1' TERM
  # Watchdog: the whole script is bounded in time. It only signals this script's own pid. A read
  # with a timeout on a FIFO nobody writes to waits without a child process.
  mkfifo "$RT_LOG/.watchdog"
  ( exec 3<>"$RT_LOG/.watchdog"; read -r -t "$limit" -u 3; kill -TERM $$ ) >/dev/null 2>&1 &
  RT_WATCHDOG=$!
}

rt_exit() {
  local rc=$?
  trap - EXIT
  trap '' INT TERM
  exec 1>&8 2>&9
  rt_stop_bg
  [ -n "${RT_ON_EXIT:-}" ] && eval "$RT_ON_EXIT"
  [ -n "$RT_WATCHDOG" ] && kill "$RT_WATCHDOG" 2>/dev/null
  local i=0 d
  for d in "${RT_CLUSTERS[@]}"; do
    [ -d "$d" ] && cp -f "$d"/*.log "$RT_LOG"/ 2>/dev/null
    cluster_teardown "$d" "$RT_NAME-node$i" >/dev/null 2>&1
    i=$((i + 1))
  done
  if [ "$rc" -ne 0 ] && [ "$RT_FAIL" -eq 0 ]; then
    RT_FAIL=1
    echo "FAIL - $RT_NAME exited with status $rc before finishing"
  fi
  if [ "$RT_FAIL" -eq 0 ] && [ "${RT_KEEP_LOGS:-0}" != 1 ]; then
    rm -rf "$RT_LOG"
  else
    echo "logs: $RT_LOG"
  fi
  echo "$RT_PASS passed, $RT_FAIL failed"
  [ "$RT_FAIL" -eq 0 ] && exit 0
  exit 1
}

rt_new_cluster() { # sets RT_DIR to a fresh cluster directory, torn down by the EXIT trap
  RT_DIR=$(cluster_mkdir) || return 1
  RT_CLUSTERS+=("$RT_DIR")
}

rt_bg() { "$@" & RT_BG+=($!); }
rt_stop_bg() { # ends every background job started with rt_bg, by pid, and reaps it
  local p
  for p in "${RT_BG[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${RT_BG[@]}"; do wait "$p" 2>/dev/null; done
  RT_BG=()
}
# Waits up to $2 seconds for the pids in RT_BG to end by themselves; then ends them.
rt_wait_bg() {
  local limit=$1 t=0 p alive
  while :; do
    alive=0
    for p in "${RT_BG[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break
    [ $t -ge $((limit * 10)) ] && break
    sleep 0.1; t=$((t + 1))
  done
  rt_stop_bg
}

# rt_wait_replay PRIMARY STANDBY: waits until the standby has replayed all WAL the primary has
# written; on failure says how far it got.
rt_wait_replay() {
  local primary=$1 standby=$2 target ok=f i
  target=$(rt_sql "$primary" "SELECT pg_current_wal_lsn()") || return 1
  for i in $(seq 1 600); do
    ok=$(rt_sql "$standby" "SELECT pg_last_wal_replay_lsn() >= '$target'::pg_lsn") || return 1
    [ "$ok" = t ] && return 0
    sleep 0.2
  done
  echo "standby did not reach $target (replayed: $(rt_sql "$standby" "SELECT pg_last_wal_replay_lsn()"))"
  return 1
}

# psql, unaligned, tuples only, tab-separated; bounded in time.
rt_sql() {
  local dir=$1; shift
  PGOPTIONS="-c statement_timeout=${RT_STMT_TIMEOUT}s ${PGOPTIONS:-}" \
    timeout $((RT_STMT_TIMEOUT + 30)) "$PG_BINDIR/psql" -X -q -b -v ON_ERROR_STOP=1 -At -F $'\t' \
    -h "$dir" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -d postgres -c "$@"
}
rt_sql_file() {
  local dir=$1 file=$2
  PGOPTIONS="-c statement_timeout=${RT_STMT_TIMEOUT}s ${PGOPTIONS:-}" \
    timeout $((RT_STMT_TIMEOUT + 30)) "$PG_BINDIR/psql" -X -q -b -v ON_ERROR_STOP=1 -At -F $'\t' \
    -h "$dir" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -d postgres -f "$file"
}
# SQL from stdin, one statement at a time (a failure names its statement and line).
rt_sql_script() { rt_sql_file "$1" -; }

# Retries CREATE EXTENSION for a while: another engineer may be re-installing the extension.
rt_create_extension() {
  local dir=$1 i
  for i in $(seq 1 30); do
    if rt_sql "$dir" "CREATE EXTENSION IF NOT EXISTS omendb" >/dev/null 2>"$RT_LOG/create-extension.err"; then
      return 0
    fi
    sleep 5
  done
  cat "$RT_LOG/create-extension.err"
  return 1
}

# rt_fp(q, mode, idx): checks that the plan of q is what mode asks for, then runs q (which
# returns one text value). A wrong plan returns 'BADPLAN: <plan>', so a query that silently stops
# using the index fails the comparison instead of comparing a seqscan with itself.
#   seq:    no index at all in the plan
#   index:  an Index Scan / Index Only Scan (either direction) on idx; no Sort if q has ORDER BY
#   bitmap: a Bitmap Index Scan on idx
# MODE? (e.g. 'bitmap?'): the planner may legitimately choose otherwise; then 'SKIP'.
rt_install_helpers() {
  rt_sql "$1" "$(cat <<'SQL'
CREATE OR REPLACE FUNCTION rt_fp(q text, mode text, idx text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
  plan text := '';
  l text;
  r text;
  ok boolean;
  optional boolean := mode LIKE '%?';
BEGIN
  mode := rtrim(mode, '?');
  FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
    plan := plan || l || ' / ';
  END LOOP;
  IF mode = 'seq' THEN
    ok := plan LIKE '%Seq Scan%' AND plan NOT LIKE '%Index%';
  ELSIF mode = 'index' THEN
    ok := plan ~ ('Index (Only )?Scan (Backward )?using ' || idx || '\M')
          AND (q NOT LIKE '%ORDER BY%' OR plan NOT LIKE '%Sort%');
  ELSIF mode = 'bitmap' THEN
    ok := plan ~ ('Bitmap Index Scan on ' || idx || '\M');
  ELSIF mode = 'parallel' THEN
    ok := plan ~ ('Parallel Index (Only )?Scan (Backward )?using ' || idx || '\M')
          AND (q NOT LIKE '%ORDER BY%' OR plan NOT LIKE '%Sort%');
  ELSE
    RAISE EXCEPTION 'unknown mode %', mode;
  END IF;
  IF NOT ok AND optional THEN
    RETURN 'SKIP';
  ELSIF NOT ok THEN
    RETURN 'BADPLAN: ' || plan;
  END IF;
  EXECUTE q INTO r;
  RETURN r;
END
$f$;
SQL
)" >/dev/null
}

rt_mode_settings() { # every setting in every mode: modes follow each other in one session
  case $1 in
    seq) echo "SET enable_seqscan = on; SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off; SET enable_sort = on;" ;;
    index) echo "SET enable_seqscan = off; SET enable_indexscan = on; SET enable_indexonlyscan = on; SET enable_bitmapscan = off; SET enable_sort = off;" ;;
    bitmap) echo "SET enable_seqscan = off; SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = on; SET enable_sort = on;" ;;
    parallel) echo "SET enable_seqscan = off; SET enable_indexscan = on; SET enable_indexonlyscan = on; SET enable_bitmapscan = off; SET enable_sort = off;" ;;
  esac
  if [ "$1" = parallel ]; then # workers free, any index big enough
    echo "SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_index_scan_size = 0; SET min_parallel_table_scan_size = 0;"
  else
    echo "SET max_parallel_workers_per_gather = 0;"
  fi
  echo "SET enable_hashjoin = off; SET enable_mergejoin = off;"
}

# rt_gen_queries DIR TABLE COL TYPE IDX [EXTRA_PREDICATE...]  > QFILE
# Lines: label <TAB> modes <TAB> query. Predicate constants come from the table's data
# (quantiles, a sample of existing keys), read by a sequential scan on DIR.
rt_gen_queries() {
  local dir=$1 t=$2 c=$3 ty=$4 idx=$5; shift 5
  local qs row
  row=$(rt_sql "$dir" "$(rt_mode_settings seq)
    SELECT percentile_disc(0.02) WITHIN GROUP (ORDER BY $c)::text, percentile_disc(0.1) WITHIN GROUP (ORDER BY $c)::text,
           percentile_disc(0.3) WITHIN GROUP (ORDER BY $c)::text, percentile_disc(0.4) WITHIN GROUP (ORDER BY $c)::text,
           percentile_disc(0.5) WITHIN GROUP (ORDER BY $c)::text, percentile_disc(0.55) WITHIN GROUP (ORDER BY $c)::text,
           percentile_disc(0.7) WITHIN GROUP (ORDER BY $c)::text, percentile_disc(0.71) WITHIN GROUP (ORDER BY $c)::text,
           percentile_disc(0.9) WITHIN GROUP (ORDER BY $c)::text, percentile_disc(0.98) WITHIN GROUP (ORDER BY $c)::text,
           min($c)::text, max($c)::text,
           (SELECT string_agg(quote_literal(x::text), ',') FROM (SELECT $c AS x FROM $t WHERE $c IS NOT NULL ORDER BY random() LIMIT 25) s)
    FROM $t") || return 1
  local q02 q10 q30 q40 q50 q55 q70 q71 q90 q98 mn mx sample
  IFS=$'\t' read -r q02 q10 q30 q40 q50 q55 q70 q71 q90 q98 mn mx sample <<<"$row"
  local preds=("$c IS NULL")
  # PostgreSQL plans no bitmap scan for a qualifier it thinks selects every row (IS NOT NULL
  # when the statistics show no NULL): the bitmap scan is optional there.
  local nn_modes="seq index bitmap?"
  if [ -n "$mn" ]; then
    lit() { printf "'%s'::%s" "$1" "$ty"; }
    preds+=(
      "$c < $(lit "$q10")"
      "$c <= $(lit "$q02")"
      "$c >= $(lit "$q30") AND $c < $(lit "$q40")"
      "$c > $(lit "$q50") AND $c <= $(lit "$q55")"
      "$c BETWEEN $(lit "$q70") AND $(lit "$q71")"
      "$c = $(lit "$q50")"
      "$c = $(lit "$mx")"
      "$c = $(lit "$mn")"
      "$c > $(lit "$q90")"
      "$c >= $(lit "$q98")"
      "$c < $(lit "$mn")"
      "$c > $(lit "$mx")"
      "$c = ANY(ARRAY[$sample]::$ty[])"
      "$c IN ($(lit "$q30"), $(lit "$q70"), $(lit "$q90"))"
    )
  fi
  preds+=("$@")
  local i=0 p
  # The whole table, in key order, both directions (no bitmap scan: it needs a qualifier).
  printf 'L%d.asc\tseq index\tSELECT count(*) || %s || coalesce(md5(string_agg(x, %s)), %s) FROM (SELECT %s::text AS x FROM %s ORDER BY %s) s\n' \
    $i "' '" "','" "'-'" "$c" "$t" "$c"
  printf 'L%d.desc\tseq index\tSELECT count(*) || %s || coalesce(md5(string_agg(x, %s)), %s) FROM (SELECT %s::text AS x FROM %s ORDER BY %s DESC) s\n' \
    $i "' '" "','" "'-'" "$c" "$t" "$c"
  i=$((i + 1))
  printf 'L%d.asc\t%s\tSELECT count(*) || %s || coalesce(md5(string_agg(x, %s)), %s) FROM (SELECT %s::text AS x FROM %s WHERE %s IS NOT NULL ORDER BY %s) s\n' \
    $i "$nn_modes" "' '" "','" "'-'" "$c" "$t" "$c" "$c"
  printf 'L%d.rows\t%s\tSELECT count(*) || %s || coalesce(sum(hashtext(%s::text)::int8), 0) FROM %s WHERE %s IS NOT NULL\n' \
    $i "$nn_modes" "' '" "$t" "$t" "$c"
  for p in "${preds[@]}"; do
    i=$((i + 1))
    # Keys in order (index-only scans where the visibility map allows), both directions...
    printf 'L%d.asc\tseq index bitmap\tSELECT count(*) || %s || coalesce(md5(string_agg(x, %s)), %s) FROM (SELECT %s::text AS x FROM %s WHERE %s ORDER BY %s) s\n' \
      $i "' '" "','" "'-'" "$c" "$t" "$p" "$c"
    printf 'L%d.desc\tseq index bitmap\tSELECT count(*) || %s || coalesce(md5(string_agg(x, %s)), %s) FROM (SELECT %s::text AS x FROM %s WHERE %s ORDER BY %s DESC) s\n' \
      $i "' '" "','" "'-'" "$c" "$t" "$p" "$c"
    # ...and the whole rows (heap fetches), as an order-independent digest...
    printf 'L%d.rows\tseq index bitmap\tSELECT count(*) || %s || coalesce(sum(hashtext(%s::text)::int8), 0) FROM %s WHERE %s\n' \
      $i "' '" "$t" "$t" "$p"
    # ...and the keys so (a digest PostgreSQL can compute in parallel, unlike the whole rows').
    printf 'L%d.keys\tseq index\tSELECT count(*) || %s || coalesce(sum(hashtext(%s::text)::int8), 0) FROM %s WHERE %s\n' \
      $i "' '" "$c" "$t" "$p"
  done
}

# rt_run_fp DIR MODE IDX QFILE OUT: label <TAB> fingerprint, for the queries QFILE allows in MODE.
rt_run_fp() {
  local dir=$1 mode=$2 idx=$3 qfile=$4 out=$5 sqlf
  sqlf=$out.sql
  {
    rt_mode_settings "$mode"
    local label modes q
    while IFS=$'\t' read -r label modes q; do
      local m=$mode
      case " $modes " in *" $mode "*) ;; *" $mode? "*) m="$mode?" ;; *) continue ;; esac
      printf "SELECT '%s', rt_fp(\$rtq\$%s\$rtq\$, '%s', '%s');\n" "$label" "$q" "$m" "$idx"
    done <"$qfile"
  } >"$sqlf"
  rt_sql_file "$dir" "$sqlf" >"$out" 2>"$out.err"
}

# rt_cmp_fp WHAT REF OUT QFILE: every label of OUT must have REF's fingerprint. One check.
rt_cmp_fp() {
  local what=$1 ref=$2 out=$3 qfile=$4 bad
  if [ -s "$out.err" ] || [ ! -s "$out" ]; then
    rt_fail "$what: query error: $(head -c 2000 "$out.err" 2>/dev/null)"
    return 1
  fi
  bad=$(awk -F'\t' 'NR == FNR { ref[$1] = $2; next }
                    $2 != "SKIP" && (!($1 in ref) || ref[$1] != $2) { print $1 "\t" (($1 in ref) ? ref[$1] : "(no reference)") "\t" $2 }' "$ref" "$out")
  if [ -z "$bad" ]; then
    rt_pass "$what ($(wc -l <"$out") queries)"
    return 0
  fi
  rt_fail "$what: $(echo "$bad" | wc -l) of $(wc -l <"$out") queries differ"
  local label want got
  echo "$bad" | head -n 5 | while IFS=$'\t' read -r label want got; do
    echo "    $label: expected [$want] got [${got:0:600}]"
    echo "      query: $(awk -F'\t' -v l="$label" '$1 == l { print $3 }' "$qfile" | head -c 1500)"
  done
  return 1
}

# rt_verify_index DIR TABLE COL TYPE IDX [REFDIR]: sequential scan, forced index scan and forced
# bitmap scan on DIR give the same answers for every query of rt_gen_queries; with REFDIR (a
# primary), DIR's answers also equal REFDIR's sequential scans. Constants come from REFDIR or DIR.
rt_verify_index() {
  local dir=$1 t=$2 c=$3 ty=$4 idx=$5 refdir=${6:-} tag
  tag=${RT_TAG:-x}
  local base=$RT_LOG/fp-$tag-$idx
  rt_gen_queries "${refdir:-$dir}" "$t" "$c" "$ty" "$idx" "${RT_EXTRA_PREDS[@]}" >"$base.queries" \
    || { rt_fail "$idx: could not generate queries"; return 1; }
  local ref=$base.seq
  rt_run_fp "$dir" seq "$idx" "$base.queries" "$base.seq"
  if [ -n "$refdir" ]; then
    ref=$base.primary-seq
    rt_run_fp "$refdir" seq "$idx" "$base.queries" "$ref"
    rt_cmp_fp "[$tag] $idx: standby seqscan = primary seqscan" "$ref" "$base.seq" "$base.queries"
  elif [ -s "$base.seq.err" ]; then
    rt_fail "[$tag] $idx: seqscan queries failed: $(head -c 2000 "$base.seq.err")"
    return 1
  fi
  rt_run_fp "$dir" index "$idx" "$base.queries" "$base.index"
  rt_cmp_fp "[$tag] $idx: index scans = seqscan" "$ref" "$base.index" "$base.queries"
  rt_run_fp "$dir" bitmap "$idx" "$base.queries" "$base.bitmap"
  rt_cmp_fp "[$tag] $idx: bitmap scans = seqscan" "$ref" "$base.bitmap" "$base.queries"
}
RT_EXTRA_PREDS=()

rt_alex_check() {
  local dir=$1 idx=$2 out
  if out=$(rt_sql "$dir" "SELECT alex_check('$idx', true)" 2>&1) && [ "$out" = t ]; then
    rt_pass "[${RT_TAG:-x}] alex_check($idx, true)"
  else
    rt_fail "[${RT_TAG:-x}] alex_check($idx, true): $out"
  fi
}

# rt_log_problems FILE [ALLOWED_ERE]: prints the worrying lines of a server log.
rt_log_problems() {
  local file=$1 allowed=${2:-}
  [ -f "$file" ] || return 0
  grep -E 'ERROR:|PANIC:|TRAP:|FATAL:|terminated by signal|was terminated by|server process .* exited with' "$file" \
    | grep -Ev "${allowed:-^\$NEVER\$}" || true
}

# rt_workload_scripts OUTDIR TABLE: pgbench scripts for a table (id bigserial, k int8, f float8,
# ts timestamptz, tag int, pad text) with alex indexes on k, f, ts; rows with tag <> 0 are never
# updated or deleted. Writes OUTDIR/TABLE-{ins,asc,upd,del,read}.sql. Single-row updates and
# deletes by ctid lists (a TID scan locks in ctid order) keep writers free of deadlocks.
rt_workload_scripts() {
  local o=$1 t=$2
  mkdir -p "$o"
  cat >"$o/$t-ins.sql" <<SQL
INSERT INTO $t (k, f, ts, pad) SELECT rt_k(), rt_f(), rt_ts(), repeat('y', (random() * 40)::int) FROM generate_series(1, 8);
SQL
  cat >"$o/$t-asc.sql" <<SQL
INSERT INTO $t (k, f, ts) SELECT 2000000000000 + nextval('rt_asc'), 1e7 + currval('rt_asc') * 0.25, clock_timestamp() + interval '100 years' FROM generate_series(1, 10);
SQL
  cat >"$o/$t-upd.sql" <<SQL
\\set x random(-1000000000000, 1000000000000)
\\set d random(0, 1000)
UPDATE $t SET k = rt_k(), f = rt_f(), ts = rt_ts() WHERE ctid = (SELECT ctid FROM $t WHERE k >= :x AND tag = 0 ORDER BY k LIMIT 1);
UPDATE $t SET k = k + 1, f = f + 0.5, ts = ts + interval '1 hour' WHERE ctid = (SELECT ctid FROM $t WHERE k >= :d AND tag = 0 ORDER BY k LIMIT 1);
UPDATE $t SET k = rt_k(false) WHERE ctid = (SELECT ctid FROM $t WHERE f <= :d * 0.025 AND tag = 0 ORDER BY f DESC LIMIT 1);
UPDATE $t SET pad = 'u' WHERE ctid = (SELECT ctid FROM $t WHERE ts >= timestamptz '2020-01-01 00:00:00+00' + :d * interval '1 hour' AND tag = 0 ORDER BY ts LIMIT 1);
SQL
  cat >"$o/$t-del.sql" <<SQL
\\set x random(-1000000000000, 1000000000000)
\\set d random(0, 1000)
DELETE FROM $t WHERE ctid = ANY(ARRAY(SELECT ctid FROM $t WHERE k >= :x AND tag = 0 ORDER BY k LIMIT 5));
DELETE FROM $t WHERE ctid = ANY(ARRAY(SELECT ctid FROM $t WHERE k >= :d AND tag = 0 ORDER BY k LIMIT 3));
DELETE FROM $t WHERE ctid = ANY(ARRAY(SELECT ctid FROM $t WHERE k >= 2000000000000 AND tag = 0 ORDER BY k LIMIT 12));
DELETE FROM $t WHERE ctid = ANY(ARRAY(SELECT ctid FROM $t WHERE ts IS NOT NULL AND tag = 0 ORDER BY ts DESC LIMIT 2));
DELETE FROM $t WHERE ctid = ANY(ARRAY(SELECT ctid FROM $t WHERE :d < 100 AND k IS NULL AND tag = 0 LIMIT 1));
SQL
  cat >"$o/$t-read.sql" <<SQL
\\set x random(-1000000000000, 1000000000000)
\\set d random(0, 1000)
SELECT count(*) FROM $t WHERE k BETWEEN :x AND :x + 10000000000;
SELECT * FROM $t WHERE k = :d;
SELECT k FROM $t WHERE k >= :x ORDER BY k LIMIT 20;
SELECT k FROM $t WHERE k <= :x ORDER BY k DESC LIMIT 20;
SELECT id, f FROM $t WHERE f < :d * 0.025 ORDER BY f DESC LIMIT 20;
SELECT ts FROM $t WHERE ts > timestamptz '2020-01-01 00:00:00+00' + :d * interval '1 hour' ORDER BY ts LIMIT 10;
SELECT count(*) FROM $t WHERE f = ANY(ARRAY[:d * 0.5, :d * 0.025, 'NaN']::float8[]);
SQL
}

# The UNIQUE-index workload on cu (rt_cu_op catches only unique violations).
rt_unique_script() {
  cat >"$1/uniq.sql" <<'SQL'
\set x random(1, 1000000000)
INSERT INTO cu (u) SELECT nextval('rt_useq') FROM generate_series(1, 3);
SELECT rt_cu_op(:x);
SELECT rt_cu_op(:x + 1);
SELECT * FROM cu WHERE u = :x % 5000;
SQL
}

# rt_create_unique DIR: the table cu (id, u int8, v int) with a UNIQUE alex index cu_u when
# PostgreSQL accepts it; otherwise a plain alex index and a note. Sets RT_UNIQUE to 1 or 0.
rt_create_unique() {
  local dir=$1
  rt_sql "$dir" "CREATE SEQUENCE IF NOT EXISTS rt_useq; CREATE TABLE cu (id bigserial, u int8, v int)" >/dev/null || return 1
  if rt_sql "$dir" "CREATE UNIQUE INDEX cu_u ON cu USING alex (u)" >/dev/null 2>"$RT_LOG/unique.err"; then
    RT_UNIQUE=1
  else
    RT_UNIQUE=0
    rt_note "NOTE: CREATE UNIQUE INDEX ... USING alex failed ($(head -n1 "$RT_LOG/unique.err")); cu_u is a plain alex index and the uniqueness checks are skipped"
    rt_sql "$dir" "CREATE INDEX cu_u ON cu USING alex (u)" >/dev/null || return 1
  fi
}

# rt_unique_checks DIR: no duplicate key in cu (sequential scan); and, when idle, the index
# refuses 50 present keys (SQLSTATE 23505) and accepts 50 absent ones (rolled back).
rt_unique_checks() {
  local dir=$1 d
  [ "${RT_UNIQUE:-0}" = 1 ] || return 0
  d=$(rt_sql "$dir" "$(rt_mode_settings seq) SELECT count(*) FROM (SELECT u FROM cu WHERE u IS NOT NULL GROUP BY u HAVING count(*) > 1) d" 2>&1)
  rt_check "[${RT_TAG:-x}] UNIQUE index cu_u: no duplicate keys (found ${d:-?})" test "$d" = 0
  [ "${2:-}" = semantics ] || return 0
  d=$(rt_sql "$dir" "
    BEGIN;
    CREATE TEMP TABLE rt_res (what text, ok boolean) ON COMMIT DROP;
    DO \$\$
    DECLARE x int8; m int8;
    BEGIN
      SELECT last_value INTO m FROM rt_useq;
      FOR x IN SELECT u FROM cu WHERE u IS NOT NULL ORDER BY random() LIMIT 50 LOOP
        BEGIN
          INSERT INTO cu (u) VALUES (x);
          INSERT INTO rt_res VALUES ('present key ' || x || ' accepted', false);
        EXCEPTION WHEN unique_violation THEN
          INSERT INTO rt_res VALUES ('present', true);
        END;
      END LOOP;
      FOR x IN SELECT g FROM generate_series(1, m) g WHERE NOT EXISTS (SELECT 1 FROM cu WHERE u = g) ORDER BY random() LIMIT 50 LOOP
        BEGIN
          INSERT INTO cu (u) VALUES (x);
          INSERT INTO rt_res VALUES ('absent', true);
        EXCEPTION WHEN unique_violation THEN
          INSERT INTO rt_res VALUES ('absent key ' || x || ' refused', false);
        END;
      END LOOP;
    END \$\$;
    SELECT count(*) FILTER (WHERE ok) || ' of ' || count(*) || ' ok' || coalesce('; ' || string_agg(what, ', ') FILTER (WHERE NOT ok), '') FROM rt_res;
    ROLLBACK;" 2>&1)
  local okn=${d%% of *} rest=${d#* of } total
  total=${rest%% ok*}
  rt_check "[${RT_TAG:-x}] UNIQUE index cu_u refuses present keys, accepts absent ones ($d)" \
    test "$okn" = "$total" -a "${total:-0}" -ge 20 -a "$d" = "$okn of $total ok"
}

# rt_maintenance DIR STOPFILE TABLE...: until STOPFILE exists, VACUUM (index cleanup forced:
# PostgreSQL 15 skips it when few pages have dead tuples) a random table, now and then ANALYZE
# or CHECKPOINT. $RT_MAINT_EXTRA: an extra statement to run in some turns.
rt_maintenance() {
  local dir=$1 stop=$2; shift 2
  local tables=("$@") r sql
  while [ ! -e "$stop" ]; do
    r=$((RANDOM % 10))
    case $r in
      0) sql="CHECKPOINT" ;;
      1) sql="ANALYZE" ;;
      2) sql=${RT_MAINT_EXTRA:-"VACUUM (INDEX_CLEANUP ON) ${tables[0]}"} ;;
      *) sql="VACUUM (INDEX_CLEANUP ON) ${tables[$((RANDOM % ${#tables[@]}))]}" ;;
    esac
    timeout 120 "$PG_BINDIR/psql" -X -q -h "$dir" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -d postgres \
      -c "$sql" >/dev/null 2>>"$stop.maint.err"
    sleep 0.$((RANDOM % 4))
  done
}

# rt_snapshot_loop DIR STOPFILE OUT IDX:QFILE...: until STOPFILE exists, repeatedly takes one
# REPEATABLE READ snapshot per index and runs a random sample of the index's queries as
# sequential, index and bitmap scans: under one snapshot they must agree, however the index is
# being changed (or replayed) meanwhile. Mismatches go to OUT.mismatch, psql errors to OUT.err,
# the number of snapshots checked to OUT.count.
rt_snapshot_loop() {
  local dir=$1 stop=$2 out=$3; shift 3
  local n=0 p=0 spec idx qfile sqlf=$out.sql res
  : >"$out.mismatch"; : >"$out.err"
  while [ ! -e "$stop" ]; do
    for spec in "$@"; do
      [ -e "$stop" ] && break
      idx=${spec%%:*}; qfile=${spec#*:}
      shuf -n "${RT_SNAPSHOT_SAMPLE:-12}" "$qfile" >"$sqlf.q"
      {
        echo "BEGIN ISOLATION LEVEL REPEATABLE READ;"
        local mode label modes q
        for mode in seq index bitmap parallel; do
          rt_mode_settings "$mode"
          while IFS=$'\t' read -r label modes q; do
            local m=$mode
            # A parallel index scan is tried wherever an index scan is, where the planner takes it.
            case " $modes " in *" $mode "*) ;; *" $mode? "*) m="$mode?" ;; *" index"*) [ "$mode" = parallel ] && m="parallel?" || continue ;; *) continue ;; esac
            printf "SELECT '%s', '%s', rt_fp(\$rtq\$%s\$rtq\$, '%s', '%s');\n" "$mode" "$label" "$q" "$m" "$idx"
          done <"$sqlf.q"
        done
        echo "COMMIT;"
      } >"$sqlf"
      if res=$(rt_sql_file "$dir" "$sqlf" 2>>"$out.err"); then
        echo "$res" | awk -F'\t' -v idx="$idx" '$1 == "seq" { ref[$2] = $3; next }
          $3 != "SKIP" && ref[$2] != $3 { print idx "\t" $1 "\t" $2 "\texpected [" ref[$2] "] got [" substr($3, 1, 600) "]" }' >>"$out.mismatch"
        if [ -s "$out.mismatch" ] && [ ! -e "$out.mismatch.sql" ]; then cp "$sqlf" "$out.mismatch.sql"; fi
        n=$((n + 1))
        p=$((p + $(echo "$res" | awk -F'\t' '$1 == "parallel" && $3 != "SKIP"' | wc -l)))
        echo $n >"$out.count"; echo $p >"$out.parallel"
      fi
    done
  done
}

# rt_snapshot_report OUT ALLOWED_ERE: one check for a snapshot loop's findings.
rt_snapshot_report() {
  local out=$1 allowed=${2:-} n p errs
  n=$(cat "$out.count" 2>/dev/null || echo 0)
  p=$(cat "$out.parallel" 2>/dev/null || echo 0)
  errs=$(grep -E 'ERROR|FATAL|PANIC' "$out.err" 2>/dev/null | grep -Ev "${allowed:-^\$NEVER\$}")
  if [ -s "$out.mismatch" ]; then
    rt_fail "[${RT_TAG:-x}] snapshot checks under concurrent changes: $(wc -l <"$out.mismatch") mismatches in $n snapshots (queries: $out.mismatch.sql)"
    head -n 5 "$out.mismatch" | sed 's/^/    /'
  elif [ -n "$errs" ]; then
    rt_fail "[${RT_TAG:-x}] snapshot checks under concurrent changes: errors"
    echo "$errs" | head -n 5 | sed 's/^/    /'
  elif [ "$n" -eq 0 ]; then
    rt_fail "[${RT_TAG:-x}] snapshot checks under concurrent changes: none completed ($(head -c 500 "$out.err"))"
  elif [ "$p" -eq 0 ]; then
    rt_fail "[${RT_TAG:-x}] snapshot checks under concurrent changes: no query ran as a parallel index scan"
  else
    rt_pass "[${RT_TAG:-x}] snapshot checks under concurrent changes ($n snapshots, $p parallel index scans; index = parallel index = bitmap = seqscan)"
  fi
}
