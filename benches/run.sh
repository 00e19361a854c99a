#!/usr/bin/env bash
# make bench: compares index access methods (btree, hash and, when the omendb extension provides it,
# alex) side by side on identical data in one throwaway PostgreSQL cluster, and prints a markdown
# table of medians and ratios. See benches/README.md for what is measured and how to read it.
#
# Knobs (environment or make variables): ROWS DIST CLIENTS DURATION REPEATS KINDS, and the less
# common WORKLOAD_DIST WORKLOADS BUILD_WORKERS SCALE SHARED_BUFFERS STATEMENT_TIMEOUT OMENDB_EXTENSION CLUSTER_PORT
# (see "Knobs" below and benches/README.md).
# Progress goes to stderr, the table to stdout, everything else to target/bench-results/<timestamp>/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/benches

# ---------------------------------------------------------------------------------------------
# Knobs
ROWS=${ROWS:-1000000}                                          # rows per data set
DIST=${DIST:-uniform,sequential,timestamp}                   # key distributions: uniform,sequential,lognormal,clustered,timestamp
CLIENTS=${CLIENTS:-2}                                          # pgbench clients (and threads)
DURATION=${DURATION:-5}                                        # seconds per pgbench run
REPEATS=${REPEATS:-3}                                          # repeats; the report shows medians
KINDS=${KINDS:-btree hash alex}                                # index kinds (space or comma list)
# The pgbench workloads (point, range, insert, YCSB) are the slow part: by default they run on the
# first distribution only. "all" runs them on every distribution, "none" skips them.
WORKLOAD_DIST=${WORKLOAD_DIST:-${DIST%%,*}}
WORKLOADS=${WORKLOADS:-point range ycsb-c ycsb-b ycsb-a ycsb-f ycsb-e insert append}
SCALE=${SCALE:-$(( ROWS / 100000 > 1 ? ROWS / 100000 : 1 ))}  # pgbench -i scale; 0 skips it
# shared_buffers: at least 2GB, 1kB per row above that, at most half of the memory.
mem_mb=$(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo)
sb_mb=$(( ROWS / 1024 > 2048 ? ROWS / 1024 : 2048 ))
sb_mb=$(( sb_mb > mem_mb / 2 ? mem_mb / 2 : sb_mb ))
SHARED_BUFFERS=${SHARED_BUFFERS:-${sb_mb}MB}
# Every statement is cancelled after STATEMENT_TIMEOUT seconds (the server enforces it; psql and
# pgbench are also killed from outside a little later).
STATEMENT_TIMEOUT=${STATEMENT_TIMEOUT:-$(( 300 + ROWS / 10000 ))}
# The extension that provides alex (another name only to test the "not available" path).
OMENDB_EXTENSION=${OMENDB_EXTENSION:-omendb}

DIST=${DIST//,/ }
KINDS=${KINDS//,/ }
WORKLOAD_DIST=${WORKLOAD_DIST//,/ }
WORKLOADS=${WORKLOADS//,/ }
[ "$WORKLOAD_DIST" = all ] && WORKLOAD_DIST=$DIST
[ "$WORKLOAD_DIST" = none ] && WORKLOAD_DIST=
NPROBES=$(( ROWS < 1000000 ? ROWS : 1000000 ))
QUERY_TIMEOUT=$(( STATEMENT_TIMEOUT + 30 ))

for d in $DIST; do
  [ -f "$BENCH/pgbench/data/$d.sql" ] || { echo "unknown distribution '$d' (have: $(cd "$BENCH/pgbench/data" && ls | sed 's/\.sql$//' | tr '\n' ' '))" >&2; exit 2; }
done
for d in $WORKLOAD_DIST; do
  [[ " $DIST " == *" $d "* ]] || { echo "WORKLOAD_DIST '$d' is not in DIST" >&2; exit 2; }
done

# Which pgbench script files (with weights) make up each workload.
declare -A WL_SCRIPTS=(
  [point]="point.sql" [range]="range.sql" [insert]="insert.sql" [append]="append.sql"
  [ycsb-a]="read.sql@50 update.sql@50" [ycsb-b]="read.sql@95 update.sql@5" [ycsb-c]="read.sql"
  [ycsb-e]="scan.sql@95 insert.sql@5" [ycsb-f]="read.sql@50 rmw.sql@50"
)
for w in $WORKLOADS; do
  [ -n "${WL_SCRIPTS[$w]:-}" ] || { echo "unknown workload '$w' (have: ${!WL_SCRIPTS[*]})" >&2; exit 2; }
done
ORDERED_WORKLOADS=" range ycsb-e "   # need an index that returns keys in order
NO_SCAN_WORKLOADS=" insert append "  # do not probe the index (no idx_scan plan check)

# ---------------------------------------------------------------------------------------------
# Output directory, logging
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=$ROOT/target/bench-results/$STAMP
mkdir -p "$OUT/logs" "$OUT/scripts"
ln -sfn "$STAMP" "$ROOT/target/bench-results/latest"
RAW=$OUT/raw.csv
echo "dist,measure,kind,repeat,value,note" >"$RAW"

log() { printf '[%3d:%02d] %s\n' $(( SECONDS / 60 )) $(( SECONDS % 60 )) "$*" >&2; }
warn() { log "WARNING: $*"; echo "$*" >>"$OUT/logs/warnings.log"; }
# record DIST MEASURE KIND REPEAT VALUE [NOTE]: one raw number (or an empty value and a note).
record() { local note=${6:-}; printf '%s,%s,%s,%s,%s,%s\n' "$1" "$2" "$3" "$4" "$5" "${note//,/;}" >>"$RAW"; }

# ---------------------------------------------------------------------------------------------
# The cluster
export CLUSTER_LOGDIR=$OUT          # cluster_teardown keeps the server log there
source "$ROOT/pg_test/cluster.sh"
PSQL=("$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1)
export PGOPTIONS="-c client_min_messages=warning"
PGBENCH="$PG_BINDIR/pgbench"

dir=
cleanup() {
  local status=$?
  if [ -n "$dir" ]; then
    log "tearing down the cluster"
    cluster_teardown "$dir" bench || true
  fi
  [ $status -ne 0 ] && log "FAILED (exit $status); logs in $OUT"
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# psql on the benchmark database, bounded in time.
bpsql() {
  timeout -k 10 "$QUERY_TIMEOUT" "${PSQL[@]}" -h "$dir" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -d bench "$@"
}
# sql "STATEMENTS": the last statement's rows, unaligned, fields separated by |.
sql() { bpsql -At -F '|' -c "$1"; }
# timed_ms "STATEMENT": runs it and prints its duration in ms as psql's \timing measures it.
timed_ms() { bpsql -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1; }

# A crashing backend (an alex bug, say) makes the server restart: wait for it, warm the caches again
# and go on. The measurement that was running is recorded as "error: server crashed".
CRASHES=0
CRASH_RE='was terminated by signal\|terminated by exception\|exited with exit code'
crashed() {
  local n i
  n=$(grep -c "$CRASH_RE" "$dir/server.log" 2>/dev/null || true)
  (( n > CRASHES )) || return 1
  CRASHES=$n
  warn "the server crashed: $(grep "$CRASH_RE" "$dir/server.log" | tail -n 1 | cut -c1-300)"
  for i in $(seq 120); do
    sql "SELECT 1" >/dev/null 2>&1 && break
    sleep 1
  done
  sql "SELECT 1" >/dev/null || { echo "the server did not come back after the crash" >&2; exit 1; }
  sql "SELECT count(pg_prewarm(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')" >/dev/null
  log "the server is back; caches warmed again"
}
# error_note: sets NOTE for a failed measurement (and recovers, if the server crashed). Not to be
# called in a subshell: crashed() counts the crashes seen in a global.
error_note() { if crashed; then NOTE="error: server crashed"; else NOTE=error; fi; }

log "OmenDB bench: ROWS=$ROWS DIST='$DIST' KINDS='$KINDS' CLIENTS=$CLIENTS DURATION=${DURATION}s REPEATS=$REPEATS"
log "  workloads on '${WORKLOAD_DIST:-none}': $WORKLOADS; pgbench -i scale $SCALE (0: skipped); shared_buffers $SHARED_BUFFERS"
log "  results: $OUT"

dir=$(cluster_mkdir)
cluster_init "$dir" \
  "shared_buffers = $SHARED_BUFFERS" \
  "maintenance_work_mem = 1GB" \
  "work_mem = 64MB" \
  "max_wal_size = 20GB" \
  "min_wal_size = 1GB" \
  "checkpoint_timeout = 1d" \
  "autovacuum = off" \
  "max_parallel_workers_per_gather = 0" \
  "max_parallel_maintenance_workers = 0" \
  "jit = off" \
  "max_connections = $(( CLIENTS + 20 ))" \
  "statement_timeout = '${STATEMENT_TIMEOUT}s'" \
  "lock_timeout = '${STATEMENT_TIMEOUT}s'"

# The extension library: a `make install` during the run rewrites it in place, and backends that have
# it mapped die of SIGBUS. So the server loads a private copy taken now (module_pathname is a bare
# name, looked up in dynamic_library_path): the whole run measures one build, whatever happens to
# the installed one. The extension's SQL script is read once, by CREATE EXTENSION below.
OMENDB_SO=$("$PG_BINDIR/pg_config" --pkglibdir)/$OMENDB_EXTENSION.so
fingerprint() { [ -f "$1" ] && echo "$(md5sum <"$1" | cut -c1-12) $(stat -c "%s bytes, %y" "$1" | cut -d. -f1)" || echo absent; }
SO_USED="not loaded"
if [[ " $KINDS " == *" alex "* ]] && [ -f "$OMENDB_SO" ]; then
  mkdir -p "$dir/lib"
  for attempt in 1 2 3 4 5 6; do
    before=$(fingerprint "$OMENDB_SO")
    cp "$OMENDB_SO" "$dir/lib/"
    after=$(fingerprint "$OMENDB_SO")
    # the copy is good if the installed file did not change while we copied it
    [ "$before" = "$after" ] && [ "$(md5sum <"$dir/lib/$OMENDB_EXTENSION.so" | cut -c1-12)" = "${before%% *}" ] && break
    log "$OMENDB_SO is being rewritten; trying again in 10 s"
    sleep 10
  done
  [ "$before" = "$after" ] || { echo "could not take a stable copy of $OMENDB_SO" >&2; exit 1; }
  SO_USED="$before (installed file, copied at start)"
  # Which build is it? `make test` installs a debug build into the same place as `make install`.
  SO_MD5=${before%% *}
  SO_BUILD="not found in target/"
  for profile in release debug; do
    f=$ROOT/target/$profile/lib$OMENDB_EXTENSION.so
    [ -f "$f" ] && [ "$(md5sum <"$f" | cut -c1-12)" = "$SO_MD5" ] && SO_BUILD="$profile build (target/$profile)"
  done
  SO_USED="$SO_USED, $SO_BUILD"
  [[ "$SO_BUILD" != debug* ]] ||
    warn "the installed $OMENDB_EXTENSION.so is a DEBUG build: alex numbers will be far too slow (make install, or make bench, installs the release build)"
  echo "dynamic_library_path = '$dir/lib:\$libdir'" | as_cluster_owner tee -a "$dir/data/postgresql.conf" >/dev/null
fi
cluster_start "$dir"
cluster_psql "$dir" -c "CREATE DATABASE bench"
bpsql -f "$BENCH/pgbench/helpers.sql"
sql "CREATE EXTENSION pg_prewarm" >/dev/null

# Is alex there? Every other requested kind must be a known access method.
ALEX_STATUS="not requested"
OMENDB_STATUS="not loaded"
kinds=()
for kind in $KINDS; do
  if [ "$kind" = alex ]; then
    if err=$(sql "CREATE EXTENSION \"$OMENDB_EXTENSION\"" 2>&1); then
      OMENDB_STATUS="$OMENDB_EXTENSION $(sql "SELECT extversion FROM pg_extension WHERE extname = '$OMENDB_EXTENSION'")"
      if [ "$(sql "SELECT 1 FROM pg_am WHERE amname = 'alex'")" = 1 ]; then
        ALEX_STATUS=available
        kinds+=(alex)
      else
        ALEX_STATUS="not available in this build ($OMENDB_STATUS has no alex access method)"
      fi
    else
      OMENDB_STATUS="CREATE EXTENSION $OMENDB_EXTENSION failed: $(echo "$err" | head -n 1)"
      ALEX_STATUS="not available in this build ($OMENDB_STATUS)"
    fi
    [ "$ALEX_STATUS" = available ] || warn "alex: $ALEX_STATUS; running without it"
  elif [ "$(sql "SELECT 1 FROM pg_am WHERE amname = '$kind' AND amtype = 'i'")" = 1 ]; then
    kinds+=("$kind")
  else
    warn "$kind is not an index access method here; skipped"
  fi
done
[ ${#kinds[@]} -gt 0 ] || { echo "no index kinds to compare" >&2; exit 2; }
log "index kinds: ${kinds[*]} (alex: $ALEX_STATUS)"

# Per-kind capabilities, from the catalog rather than hard-coded.
declare -A CAN_ORDER
for kind in "${kinds[@]}"; do
  CAN_ORDER[$kind]=$(sql "SELECT pg_indexam_has_property(oid, 'can_order') FROM pg_am WHERE amname = '$kind'")
done

# The kinds in a different order in each repeat (rotated), so no kind always goes first.
kinds_for_repeat() {
  local rep=$1 n=${#kinds[@]} i
  for (( i = 0; i < n; i++ )); do printf '%s ' "${kinds[$(( (i + rep - 1) % n ))]}"; done
}

{
  echo "date: $(date -Is)"
  echo "host: $(uname -srm)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "nproc: $(nproc)"
  echo "memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "postgres: $("$PG_BINDIR/postgres" --version)"
  echo "pgbench: $("$PGBENCH" --version)"
  echo "git commit: $(git rev-parse --short HEAD 2>/dev/null || echo 'none (no commits yet)')$( [ -n "$(git status --porcelain 2>/dev/null | head -n 1)" ] && echo ' (working tree has uncommitted changes)')"
  echo "omendb: $OMENDB_STATUS"
  echo "$OMENDB_EXTENSION.so used: $SO_USED"
  echo "alex: $ALEX_STATUS"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"

# ---------------------------------------------------------------------------------------------
# Data

# copy_tables: one identical copy of src per kind, in the same physical order, visibility map set.
copy_tables() {
  local kind
  for kind in "${kinds[@]}"; do
    sql "DROP TABLE IF EXISTS t_$kind; CREATE TABLE t_$kind AS SELECT k, payload FROM src ORDER BY id" >/dev/null
    sql "VACUUM (ANALYZE) t_$kind" >/dev/null
  done
  local sizes
  sizes=$(for kind in "${kinds[@]}"; do sql "SELECT pg_relation_size('t_$kind')"; done | sort -u | wc -l)
  [ "$sizes" = 1 ] || warn "$DIST_NOW: the copies differ in size; the ctid floor may be off"
}

# The settings of a CREATE INDEX "at PostgreSQL's defaults": 2 parallel maintenance workers (btree
# and alex use them; hash builds serially) and the default maintenance_work_mem, which leaves room
# for one worker on this data. The cluster itself runs every build single-threaded with 1GB
# (build_ms). BUILD_WORKERS lists worker counts each kind also gets by force (the table's
# parallel_workers setting; 64MB shared by the participants): build_w<N>_ms.
DEFAULT_BUILD_SETTINGS="SET max_parallel_maintenance_workers = 2; SET maintenance_work_mem = '64MB';"
BUILD_WORKERS=${BUILD_WORKERS-0 2 4}

# build_index DIST KIND REP: CREATE INDEX at PostgreSQL's defaults (timed), then again with the
# cluster's settings (timed; the index kept), its size, and a prewarm of table and index.
declare -A BUILT
build_index() {
  local dist=$1 kind=$2 rep=$3 ms size err
  sql "DROP INDEX IF EXISTS t_${kind}_k" >/dev/null
  if ms=$(timed_ms "$DEFAULT_BUILD_SETTINGS CREATE INDEX t_${kind}_k ON t_$kind USING $kind (k)" 2>"$OUT/logs/error.txt") && [ -n "$ms" ]; then
    record "$dist" build_default_ms "$kind" "$rep" "$ms"
    log "$dist r$rep: CREATE INDEX USING $kind at PostgreSQL's defaults: ${ms} ms"
  else
    record "$dist" build_default_ms "$kind" "$rep" "" "n/a: CREATE INDEX failed"
  fi
  local workers
  for workers in $BUILD_WORKERS; do
    sql "DROP INDEX IF EXISTS t_${kind}_k; ALTER TABLE t_$kind SET (parallel_workers = $workers)" >/dev/null
    if ms=$(timed_ms "SET max_parallel_maintenance_workers = $workers; SET maintenance_work_mem = '64MB'; CREATE INDEX t_${kind}_k ON t_$kind USING $kind (k)" 2>"$OUT/logs/error.txt") && [ -n "$ms" ]; then
      record "$dist" "build_w${workers}_ms" "$kind" "$rep" "$ms"
      log "$dist r$rep: CREATE INDEX USING $kind with $workers workers: ${ms} ms"
    else
      record "$dist" "build_w${workers}_ms" "$kind" "$rep" "" "n/a: CREATE INDEX failed"
    fi
    sql "ALTER TABLE t_$kind RESET (parallel_workers)" >/dev/null
  done
  sql "DROP INDEX IF EXISTS t_${kind}_k" >/dev/null
  if ! ms=$(timed_ms "CREATE INDEX t_${kind}_k ON t_$kind USING $kind (k)" 2>"$OUT/logs/error.txt") || [ -z "$ms" ]; then
    err=$(head -n 1 "$OUT/logs/error.txt")
    warn "$dist: CREATE INDEX USING $kind failed: $err"
    BUILT[$kind]=0
    local note="n/a: CREATE INDEX failed"
    error_note; [ "$NOTE" = error ] || note=$NOTE
    for m in build_ms index_mb bytes_per_entry; do record "$dist" $m "$kind" "$rep" "" "$note"; done
    return 0
  fi
  BUILT[$kind]=1
  size=$(sql "SELECT pg_relation_size('t_${kind}_k')")
  record "$dist" build_ms "$kind" "$rep" "$ms"
  record "$dist" index_mb "$kind" "$rep" "$(awk -v s="$size" 'BEGIN { printf "%.3f", s / 1048576 }')"
  record "$dist" bytes_per_entry "$kind" "$rep" "$(awk -v s="$size" -v n="$ROWS" 'BEGIN { printf "%.2f", s / n }')"
  sql "SELECT pg_prewarm('t_$kind'), pg_prewarm('t_${kind}_k')" >/dev/null
  log "$dist r$rep: CREATE INDEX USING $kind: ${ms} ms, $(( size / 1048576 )) MB"
}

# probe DIST KIND REP VARIANT: the nested-loop probe join (index scan, index-only scan or the ctid floor).
PLAN_SETTINGS="SET enable_hashjoin = off; SET enable_mergejoin = off; SET enable_memoize = off;
  SET enable_material = off; SET enable_bitmapscan = off;"
probe() {
  local dist=$1 kind=$2 rep=$3 variant=$4 measure node idx settings join expect row
  local ok desc ms rows loops bufs fetches
  case $variant in
    index)      node="Index Scan";      idx="'t_${kind}_k'"; settings="SET enable_indexonlyscan = off;"
                join="t.k = p.k"; expect=$EXPECT_ROWS ;;
    index_only) node="Index Only Scan"; idx="'t_${kind}_k'"; settings="SET enable_indexonlyscan = on;"
                join="t.k = p.k"; expect=$EXPECT_ROWS ;;
    tid)        node="Tid Scan";        idx=NULL;            settings=""
                join="t.ctid = p.tid"; expect=$NPROBES ;;
  esac
  if [ "$variant" != tid ] && [ "${BUILT[$kind]:-0}" != 1 ]; then
    record "$dist" "probe_${variant}_ns" "$kind" "$rep" "" "n/a: no index"
    record "$dist" "buffers_${variant}" "$kind" "$rep" "" "n/a: no index"
    return 0
  fi
  if [ "$variant" = index_only ] &&
     [ "$(sql "SELECT pg_index_column_has_property('t_${kind}_k', 1, 'returnable')" 2>/dev/null)" = f ]; then
    record "$dist" probe_index_only_ns "$kind" "$rep" "" "-"
    record "$dist" buffers_index_only "$kind" "$rep" "" "-"
    log "$dist r$rep: probe join ($variant) $kind: - (no index-only scans)"
    return 0
  fi
  if ! row=$(sql "$PLAN_SETTINGS $settings
      SELECT plan_ok, plan_desc, exec_ms, join_rows, probes, buffers_per_probe, heap_fetches
      FROM bench_probe(\$q\$SELECT count(*) FROM probes p JOIN t_$kind t ON $join\$q\$, '$node', $idx)" 2>"$OUT/logs/error.txt"); then
    warn "$dist: probe join ($variant) on $kind failed: $(head -n 1 "$OUT/logs/error.txt")"
    error_note
    local note=$NOTE
    record "$dist" "probe_${variant}_ns" "$kind" "$rep" "" "$note"
    [ "$variant" != tid ] && record "$dist" "buffers_${variant}" "$kind" "$rep" "" "$note"
    return 0
  fi
  IFS='|' read -r ok desc ms rows loops bufs fetches <<<"$row"
  local ns note=""
  ns=$(awk -v ms="$ms" -v n="$loops" 'BEGIN { printf "%.1f", (n > 0) ? ms * 1e6 / n : 0 }')
  if [ "$ok" != t ]; then
    note="plan not used ($desc)"
    warn "$dist: probe join ($variant) on $kind: $note"
    ns="" bufs=""
  elif [ "$variant" = index_only ] && [ "${fetches:-0}" -gt $(( loops / 100 )) ]; then
    warn "$dist: probe join (index_only) on $kind: $fetches heap fetches for $loops probes (visibility map not set?)"
  fi
  if [ -z "$note" ] && [ "$rows" != "$expect" ]; then
    note="WRONG RESULT ($rows rows; expected $expect)"
    warn "$dist: probe join ($variant) on $kind: $note"
  fi
  record "$dist" "probe_${variant}_ns" "$kind" "$rep" "$ns" "$note"
  [ "$variant" != tid ] && record "$dist" "buffers_${variant}" "$kind" "$rep" "$bufs" "$note"
  log "$dist r$rep: probe join ($variant) $kind: ${ns:+$ns ns/probe}${bufs:+, $(printf '%.2f' "$bufs") buffers/probe}${note:+ $note}"
}

# pgbench_run LOGNAME ARGS...: a bounded pgbench run; prints "tps transactions failed".
pgbench_run() {
  local logf=$OUT/logs/$1.log; shift
  # synchronous_commit is off for the pgbench runs only: with it off for everything, VACUUM could not
  # set the visibility map right after the copies (commit records not yet flushed).
  if ! PGOPTIONS="$PGOPTIONS -c synchronous_commit=off" timeout -k 10 $(( DURATION + 120 )) "$PGBENCH" -h "$dir" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" \
       "$@" bench >"$logf" 2>&1; then
    echo "error"
    return 0
  fi
  local tps n failed
  tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$logf" | tail -n 1)
  n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$logf")
  failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$logf")
  echo "${tps:-error} ${n:-0} ${failed:-0}"
}

idx_scans() { sql "SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_indexes WHERE indexrelname = '$1'"; }

# Waits until the index's scan counter has grown by at least half the transactions (backends flush
# their statistics as they exit); prints whether it did.
index_was_used() {
  local idx=$1 before=$2 n=$3 i
  for i in $(seq 20); do
    (( $(idx_scans "$idx") - before >= n / 2 )) && { echo yes; return; }
    sleep 0.25
  done
  echo no
}

# workload DIST KIND REP WORKLOAD: one pgbench custom-script run.
workload() {
  local dist=$1 kind=$2 rep=$3 wl=$4 measure=tps_${4//-/_}
  if [ "${BUILT[$kind]:-0}" != 1 ]; then record "$dist" "$measure" "$kind" "$rep" "" "n/a: no index"; return 0; fi
  if [[ "$ORDERED_WORKLOADS" == *" $wl "* ]] && [ "${CAN_ORDER[$kind]}" != t ]; then
    record "$dist" "$measure" "$kind" "$rep" "" "-"; return 0
  fi
  local args=() part file weight gen
  for part in ${WL_SCRIPTS[$wl]}; do
    file=${part%@*}; weight=; [[ "$part" == *@* ]] && weight=@${part#*@}
    gen=$OUT/scripts/$dist-$kind-$file
    [ -f "$gen" ] || sed -e "s#@TABLE@#t_$kind#g" \
        -e "s#@KEY@#(SELECT k FROM probes WHERE ctid = @TID@)#g" \
        -e "s#@TID@#('(' || :blk || ',' || :off || ')')::tid#g" \
        -e "s#@DELTA@#$DELTA#g" -e "s#@APPEND_FROM@#$APPEND_FROM#g" -e "s#@APPEND_STEP@#$APPEND_STEP#g" \
        "$BENCH/pgbench/$file" >"$gen"
    args+=(-f "$gen$weight")
  done
  local before res tps n failed note=""
  before=$(idx_scans "t_${kind}_k")
  res=$(pgbench_run "$dist-$wl-$kind-r$rep" -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$DURATION" \
        --max-tries=5 --random-seed=$(( 7919 * rep )) -D nprobes="$NPROBES" -D tpp="$TPP" "${args[@]}")
  read -r tps n failed <<<"$res"
  if [ "$tps" = error ]; then
    error_note; note="$NOTE (see logs/$dist-$wl-$kind-r$rep.log)"; tps=""
    warn "$dist: pgbench $wl on $kind: $note"
  elif [[ "$NO_SCAN_WORKLOADS" != *" $wl "* ]] && [ "$(index_was_used "t_${kind}_k" "$before" "$n")" != yes ]; then
    note="plan not used"; tps=""
    warn "$dist: pgbench $wl on $kind: the index t_${kind}_k was not used"
  elif [ "${failed:-0}" != 0 ]; then
    note="$failed failed transactions"
  fi
  record "$dist" "$measure" "$kind" "$rep" "$tps" "$note"
  log "$dist r$rep: pgbench $wl $kind: ${tps:+$(printf '%.0f' "$tps") tps}${note:+ $note}"
}

# run_dist DIST: everything for one key distribution.
run_dist() {
  local dist=$1 rep kind variant wl order
  DIST_NOW=$dist
  log "== $dist: generating $ROWS rows"
  sql "DROP TABLE IF EXISTS src, probes" >/dev/null
  bpsql -v rows="$ROWS" -f "$BENCH/pgbench/data/$dist.sql" >/dev/null
  copy_tables
  bpsql -v rows="$ROWS" -v nprobes="$NPROBES" -v first="t_${kinds[0]}" -f "$BENCH/pgbench/probes.sql" >/dev/null
  # The true answer of the probe join (hash join on src, no index involved).
  EXPECT_ROWS=$(sql "SELECT count(*) FROM probes p JOIN src s ON s.k = p.k")
  # Probe rows per heap page: pgbench scripts address probe row r as tuple (r / TPP, r % TPP + 1).
  TPP=$(sql "SELECT count(*) FROM probes WHERE ctid < '(1,0)'")
  local last=$(( NPROBES - 1 ))
  [ "$(sql "SELECT count(*) FROM probes WHERE ctid = '($(( last / TPP )),$(( last % TPP + 1 )))'")" = 1 ] \
    || { echo "$dist: probe table layout is not $TPP tuples per page" >&2; exit 1; }
  if [ "$(sql "SELECT format_type(atttypid, NULL) FROM pg_attribute WHERE attrelid = 'src'::regclass AND attname = 'k'")" = bigint ]; then
    DELTA=":delta" APPEND_STEP=1
  else
    DELTA=":delta * interval '1 millisecond'" APPEND_STEP="interval '1 millisecond'"
  fi
  APPEND_FROM=$(sql "SELECT quote_literal(max(k)) || '::' || pg_typeof(max(k)) FROM src")
  local is_workload_dist=0
  [[ " $WORKLOAD_DIST " == *" $dist "* ]] && [ -n "$WORKLOADS" ] && is_workload_dist=1
  log "$dist: $NPROBES probes, $EXPECT_ROWS matching rows"

  for (( rep = 1; rep <= REPEATS; rep++ )); do
    order=$(kinds_for_repeat "$rep")
    # The previous repeat's write workloads changed the tables: start again from fresh copies.
    if (( is_workload_dist && rep > 1 )); then log "$dist r$rep: fresh copies"; copy_tables; fi
    for kind in $order; do build_index "$dist" "$kind" "$rep"; done
    for variant in index index_only tid; do
      for kind in $order; do probe "$dist" "$kind" "$rep" "$variant"; done
    done
    if (( is_workload_dist )); then
      for wl in $WORKLOADS; do
        for kind in $order; do workload "$dist" "$kind" "$rep" "$wl"; done
      done
    fi
  done
  sql "DROP TABLE src, probes$(printf ', t_%s' "${kinds[@]}")" >/dev/null
}

# pgbench's own TPC-B-like and select-only workloads, with the key indexes built as each kind.
run_builtin() {
  local rep kind t res tps n failed note
  log "== pgbench -i -s $SCALE (no primary keys); key indexes built as each kind in turn"
  for (( rep = 1; rep <= REPEATS; rep++ )); do
    for kind in $(kinds_for_repeat "$rep"); do
      # A fresh pgbench database for every kind: TPC-B writes would otherwise carry over.
      if ! timeout -k 10 $(( QUERY_TIMEOUT * 4 )) "$PGBENCH" -h "$dir" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" \
           -i -I dtgv -s "$SCALE" bench >"$OUT/logs/pgbench-init-$kind-r$rep.log" 2>&1; then
        warn "pgbench -i failed (logs/pgbench-init-$kind-r$rep.log)"
        error_note; note=$NOTE
        record pgbench pgbench_select_tps "$kind" "$rep" "" "$note"
        record pgbench pgbench_tpcb_tps "$kind" "$rep" "" "$note"
        continue
      fi
      note=""
      for t in accounts:aid branches:bid tellers:tid; do
        if ! sql "CREATE INDEX pgbench_${t%%:*}_k ON pgbench_${t%%:*} USING $kind (${t#*:})" \
             >/dev/null 2>"$OUT/logs/error.txt"; then
          note="n/a: CREATE INDEX failed"
          error_note; [ "$NOTE" = error ] || note=$NOTE
          warn "pgbench: CREATE INDEX USING $kind on pgbench_${t%%:*}: $(head -n 1 "$OUT/logs/error.txt")"
          break
        fi
      done
      if [ -n "$note" ]; then
        record pgbench pgbench_select_tps "$kind" "$rep" "" "$note"
        record pgbench pgbench_tpcb_tps "$kind" "$rep" "" "$note"
        continue
      fi
      sql "SELECT pg_prewarm(c) FROM unnest(ARRAY['pgbench_accounts', 'pgbench_branches', 'pgbench_tellers',
           'pgbench_accounts_k', 'pgbench_branches_k', 'pgbench_tellers_k']::regclass[]) c" >/dev/null
      for wl in select tpcb; do
        local before flag=()
        [ $wl = select ] && flag=(-S)
        before=$(idx_scans pgbench_accounts_k)
        res=$(pgbench_run "pgbench-$wl-$kind-r$rep" -n "${flag[@]}" -M prepared -c "$CLIENTS" -j "$CLIENTS" \
              -T "$DURATION" --max-tries=5 --random-seed=$(( 7919 * rep )))
        read -r tps n failed <<<"$res"
        note=""
        if [ "$tps" = error ]; then
          error_note; note="$NOTE (see logs/pgbench-$wl-$kind-r$rep.log)"; tps=""
          warn "pgbench $wl on $kind: $note"
        elif [ "$(index_was_used pgbench_accounts_k "$before" "$n")" != yes ]; then
          note="plan not used"; tps=""
          warn "pgbench $wl on $kind: pgbench_accounts_k was not used"
        elif [ "${failed:-0}" != 0 ]; then
          note="$failed failed transactions"
        fi
        record pgbench "pgbench_${wl}_tps" "$kind" "$rep" "$tps" "$note"
        log "pgbench r$rep: $wl $kind: ${tps:+$(printf '%.0f' "$tps") tps}${note:+ $note}"
      done
    done
  done
  sql "DROP TABLE pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history" >/dev/null
}

# ---------------------------------------------------------------------------------------------
for dist in $DIST; do run_dist "$dist"; done
(( SCALE > 0 )) && run_builtin

{
  [ "$SO_USED" = "not loaded" ] || [ "$(fingerprint "$OMENDB_SO")" = "${SO_USED%% (*}" ] ||
    echo "note: the installed $OMENDB_EXTENSION.so changed during the run (now $(fingerprint "$OMENDB_SO")); this run used the copy"
  echo "server crashes during the run: $CRASHES"
  echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "wall time: ${SECONDS} s"
} >>"$OUT/machine.txt"
cat >"$OUT/meta.env" <<EOF
rows=$ROWS
dist=$DIST
workload_dist=$WORKLOAD_DIST
workloads=$WORKLOADS
clients=$CLIENTS
duration=$DURATION
repeats=$REPEATS
scale=$SCALE
nprobes=$NPROBES
shared_buffers=$SHARED_BUFFERS
kinds=${kinds[*]}
requested_kinds=$KINDS
alex_status=$ALEX_STATUS
alex_build=${SO_BUILD:-}
EOF
python3 "$BENCH/report.py" "$OUT"
log "done in $(( SECONDS / 60 )) min $(( SECONDS % 60 )) s; report: $OUT/report.md (also target/bench-results/latest)"
