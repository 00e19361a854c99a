#!/usr/bin/env bash
# Corrupted pages. In a stopped cluster, one page of an alex index is damaged on disk (page
# header intact, data checksums off, else PostgreSQL's checksum check would fire first): the metapage, the model page, a data page or
# the NULL page, each with a deterministic impossible value in its content, and a data page with
# random bytes. After a restart every path that reads the page (scans of every kind, inserts,
# VACUUM, alex_check, alex_stats) must raise XX002 naming the index and block: never XX000 (a
# Rust panic), never a crash, and an insert must write nothing. After REINDEX the index answers as
# a sequential scan does. Then a delta page of a columnar table is damaged the same way: every
# path that reads it raises XX001 naming the table and block (columnar_check, XX002).
source "$(dirname "$0")/lib.sh"
rt_setup corruption 600

rt_new_cluster; dir=$RT_DIR
CLUSTER_CHECKSUMS=off cluster_init "$dir" "max_parallel_workers_per_gather = 0" "autovacuum = off" || exit 1
cluster_start "$dir" || exit 1
rt_create_extension "$dir" || { rt_fail "CREATE EXTENSION omendb"; exit 1; }
rt_sql "$dir" "CREATE EXTENSION pageinspect" >/dev/null || { rt_fail "CREATE EXTENSION pageinspect"; exit 1; }
rt_install_helpers "$dir" || exit 1

ROWS=100000
NULLS=500

# The first block of the index whose special space names page kind $1 (1 meta, 2 model, 3 data,
# 4 NULL), deleted pages aside.
block_of_kind() {
  rt_sql "$dir" "SELECT min(n) FROM generate_series(0, pg_relation_size('c_k') / 8192 - 1) n
                 WHERE get_byte(get_raw_page('c_k', n::int), 8184) = $1
                   AND ($1 NOT IN (2, 3) OR (get_byte(get_raw_page('c_k', n::int), 24) & 2) = 0)"
}

# write_bytes FILE OFFSET HEX: overwrites bytes of a relation file (the cluster is stopped).
write_bytes() {
  python3 - "$1" "$2" "$3" <<'PY'
import sys
path, offset, data = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
with open(path, 'r+b') as f:
    f.seek(offset)
    f.write(data)
PY
}

# The statements that read the index, one per line: NAME<TAB>SQL. Each runs in its own session.
operations() {
  cat <<SQL
index scan	SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*) FROM c WHERE k >= 0
backward scan	SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT sum(k) FROM (SELECT k FROM c WHERE k > -1 ORDER BY k DESC) s
index-only scan	SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*) FROM (SELECT k FROM c WHERE k BETWEEN 1 AND $ROWS) s
bitmap scan	SET enable_seqscan = off; SET enable_indexscan = off; SELECT count(*) FROM c WHERE k BETWEEN 1 AND $ROWS
equality probes	SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*) FROM c WHERE k = ANY (ARRAY(SELECT generate_series(1, $ROWS, 97)::int8))
IS NULL scan	SET enable_seqscan = off; SELECT count(*) FROM c WHERE k IS NULL
insert	INSERT INTO c SELECT CASE WHEN g % 100 = 0 THEN NULL ELSE (g * 7919) % $ROWS END FROM generate_series(1, 30000) g
VACUUM	VACUUM c
alex_check	SELECT alex_check('c_k', true)
alex_stats	SELECT count(*) FROM alex_stats('c_k')
SQL
}

# One case: NAME KIND CONTENT_OFFSET HEX EXPECTED_FAILURES (names of operations that must raise
# XX002; the others may answer, or raise XX002 too).
corruption_case() {
  local name=$1 kind=$2 offset=$3 hex=$4 expected=$5
  RT_TAG=$name
  rt_sql_script "$dir" >/dev/null <<SQL || { rt_fail "[$name] set up"; return; }
DROP TABLE IF EXISTS c;
CREATE TABLE c (k int8);
INSERT INTO c SELECT g FROM generate_series(1, $ROWS) g;
INSERT INTO c SELECT NULL FROM generate_series(1, $NULLS);
CREATE INDEX c_k ON c USING alex (k);
VACUUM c;
SQL
  local blk file
  blk=$(block_of_kind "$kind")
  file=$(rt_sql "$dir" "SELECT current_setting('data_directory') || '/' || pg_relation_filepath('c_k')")
  if [ -z "$blk" ] || [ -z "$file" ]; then rt_fail "[$name] no page of kind $kind"; return; fi
  local rows_before
  rows_before=$(rt_sql "$dir" "SELECT count(*) FROM c")
  cluster_stop "$dir" >/dev/null 2>&1
  write_bytes "$file" $((blk * 8192 + 24 + offset)) "$hex"
  cluster_start "$dir" || { rt_fail "[$name] restart"; return; }

  local op sql out inserted=0
  while IFS=$'\t' read -r op sql; do
    out=$(printf '\\set VERBOSITY verbose\n%s;\n' "$sql" | rt_sql_script "$dir" 2>&1 >/dev/null)
    if [ -z "$out" ]; then
      [ "$op" = insert ] && inserted=1
      if [[ ",$expected," == *",$op,"* ]]; then
        rt_fail "[$name] $op: succeeded on a corrupted block $blk"
      else
        rt_pass "[$name] $op: answered (it does not read block $blk, or not its damaged bytes)"
      fi
    elif [[ $out == *"ERROR:  XX002: index \"c_k\" contains corrupted page at block $blk"* ||
            $out == *"ERROR:  XX002: alex index \"c_k\" is corrupted: block $blk:"* ]]; then
      rt_pass "[$name] $op: XX002 naming block $blk"
    else
      rt_fail "[$name] $op: expected XX002 naming block $blk, got: ${out:0:600}"
    fi
  done < <(operations)

  # A failed insert wrote nothing: the rows are those from before.
  [ $inserted = 1 ] || rt_check "[$name] the failed insert added no row" test "$(rt_sql "$dir" "SELECT count(*) FROM c")" = "$rows_before"
  rt_sql "$dir" "REINDEX INDEX c_k" >/dev/null || rt_fail "[$name] REINDEX"
  rt_alex_check "$dir" c_k
  rt_verify_index "$dir" c k int8 c_k
}

every_reader="index scan,backward scan,index-only scan,bitmap scan,equality probes,insert,VACUUM,alex_check,alex_stats"
# Content offsets: the node header of model and data pages has count at 4; a data page's key
# width is at 76; the metapage's magic at 0; a NULL page's count at 0.
# A VACUUM that removes nothing reads no metapage.
corruption_case metapage 1 0 deadbeef "${every_reader/,VACUUM/},IS NULL scan"
corruption_case model-page 2 4 ffff "$every_reader"
corruption_case data-page 3 76 c8 "$every_reader"
corruption_case null-page 4 0 ffff "IS NULL scan,insert,VACUUM,alex_check,alex_stats"
# Random bytes over a data page's node header and encoding: whatever a reader makes of them, it
# is XX002 or an answer, never a panic or a crash (the expected list is empty).
corruption_case data-page-random 3 0 "$(python3 -c 'import random; random.seed(20); print(bytes(random.randrange(256) for _ in range(200)).hex())')" ""

# ---- a columnar table ----
columnar_operations() {
  cat <<SQL
seq scan	SELECT count(*), sum(length(v)) FROM cc
index fetch	SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT v FROM cc WHERE id = 1
bitmap scan	SET enable_seqscan = off; SET enable_indexscan = off; SELECT count(*) FROM cc WHERE id < 50
update	UPDATE cc SET v = 'x' WHERE id = 1
delete	DELETE FROM cc WHERE id = 1
VACUUM	VACUUM cc
columnar_check	SELECT columnar_check('cc')
columnar_stats	SELECT count(*) FROM columnar_stats('cc')
SQL
}

# One case: NAME CONTENT_OFFSET HEX, on the first delta page (kind 8 at byte 8178 of the page),
# which holds the row id = 1 in its first slot.
columnar_case() {
  local name=$1 offset=$2 hex=$3
  rt_sql_script "$dir" >/dev/null <<SQL || { rt_fail "[$name] set up"; return; }
CREATE TABLE cc (id int8, v text) USING columnar;
INSERT INTO cc SELECT g, repeat('v', g % 50) FROM generate_series(1, 20000) g;
CREATE INDEX cc_id ON cc (id);
SQL
  local blk file op sql out
  blk=$(rt_sql "$dir" "SELECT min(n) FROM generate_series(0, pg_relation_size('cc') / 8192 - 1) n WHERE get_byte(get_raw_page('cc', n::int), 8178) = 8")
  file=$(rt_sql "$dir" "SELECT current_setting('data_directory') || '/' || pg_relation_filepath('cc')")
  if [ -z "$blk" ] || [ -z "$file" ]; then rt_fail "[$name] no delta page"; return; fi
  cluster_stop "$dir" >/dev/null 2>&1
  write_bytes "$file" $((blk * 8192 + 24 + offset)) "$hex"
  cluster_start "$dir" || { rt_fail "[$name] restart"; return; }
  while IFS=$'\t' read -r op sql; do
    out=$(printf '\\set VERBOSITY verbose\n%s;\n' "$sql" | rt_sql_script "$dir" 2>&1 >/dev/null)
    if [[ $out == *"ERROR:  XX001: table \"cc\" contains corrupted page at block $blk"* ||
          $out == *"ERROR:  XX002: columnar table \"cc\" is corrupted at block $blk"* ]]; then
      rt_pass "[$name] $op: corruption error naming block $blk"
    else
      rt_fail "[$name] $op: expected XX001/XX002 naming block $blk, got: ${out:0:600}"
    fi
  done < <(columnar_operations)
  rt_sql "$dir" "DROP TABLE cc" >/dev/null || rt_fail "[$name] DROP TABLE"
}
# A delta page's slot count (content offset 0) past 291; the first slot's length (offset 6)
# past the page.
columnar_case columnar-slot-count 0 ffff
columnar_case columnar-slot-length 6 ffff

problems=$(rt_log_problems "$dir/server.log" 'contains corrupted page at block|alex index "c_k" is corrupted|columnar table "cc" is corrupted')
rt_check "server log: no panic, crash or other error${problems:+: ${problems:0:600}}" test -z "$problems"
rt_exit
