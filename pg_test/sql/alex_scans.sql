-- Every scan kind of alex returns what a sequential scan returns, and EXPLAIN shows alex used.
CREATE EXTENSION IF NOT EXISTS omendb;
CREATE TABLE scan_t (id int, k int8);
INSERT INTO scan_t SELECT g, (g * 7919) % 10007 - 5000 FROM generate_series(1, 20000) g;
INSERT INTO scan_t SELECT 20000 + g, NULL FROM generate_series(1, 50) g;
INSERT INTO scan_t VALUES (30001, -9223372036854775808), (30002, 9223372036854775807), (30003, 0);
CREATE INDEX scan_k ON scan_t USING alex (k);
VACUUM ANALYZE scan_t;

-- The answers without the index, to compare with.
CREATE TEMP TABLE expect AS SELECT * FROM scan_t;

SET enable_seqscan = off;
SET enable_bitmapscan = off;
SET enable_indexonlyscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM scan_t WHERE k = 42;
SELECT count(*) FROM scan_t WHERE k = 42;
SELECT (SELECT count(*) FROM expect WHERE k = 42) AS expected;
EXPLAIN (COSTS OFF) SELECT id FROM scan_t WHERE k BETWEEN -10 AND 10;
SELECT count(*), sum(id) FROM scan_t WHERE k BETWEEN -10 AND 10;
SELECT count(*), sum(id) FROM expect WHERE k BETWEEN -10 AND 10;
SELECT count(*) FROM scan_t WHERE k < -4990;
SELECT count(*) FROM scan_t WHERE k <= -4990;
SELECT count(*) FROM scan_t WHERE k > 4990;
SELECT count(*) FROM scan_t WHERE k >= 4990;
SELECT count(*) FROM scan_t WHERE k > 10 AND k < 5;
SELECT id, k FROM scan_t WHERE k = -9223372036854775808 OR k = 9223372036854775807 ORDER BY id;
SELECT id FROM scan_t WHERE k > 9223372036854775806;
SELECT id FROM scan_t WHERE k < -9223372036854775807;
-- Cross-type: int4 and int2 arguments against the int8 column.
EXPLAIN (COSTS OFF) SELECT id FROM scan_t WHERE k = 42::int4;
SELECT count(*) FROM scan_t WHERE k = 42::int4;
SELECT count(*) FROM scan_t WHERE k < 42::int2;
SELECT count(*) FROM expect WHERE k < 42::int2;
-- = ANY(array), with duplicates, NULLs and values that are absent.
EXPLAIN (COSTS OFF) SELECT id FROM scan_t WHERE k = ANY ('{1,2,3}');
SELECT count(*) FROM scan_t WHERE k = ANY ('{5, 1, 1, NULL, 100000, -5000}');
SELECT count(*) FROM expect WHERE k = ANY ('{5, 1, 1, NULL, 100000, -5000}');
SELECT count(*) FROM scan_t WHERE k = ANY ('{}');
SELECT count(*) FROM scan_t WHERE k < ANY ('{-4999, -4998}');
SELECT count(*) FROM expect WHERE k < ANY ('{-4999, -4998}');
-- IS NULL / IS NOT NULL.
EXPLAIN (COSTS OFF) SELECT id FROM scan_t WHERE k IS NULL;
SELECT count(*) FROM scan_t WHERE k IS NULL;
SELECT count(*) FROM scan_t WHERE k IS NOT NULL;
SELECT count(*) FROM scan_t WHERE k IS NULL AND k = 1;
SELECT count(*) FROM scan_t WHERE k = NULL;

-- Ordered scans, forward and backward, NULLS LAST / DESC NULLS FIRST.
EXPLAIN (COSTS OFF) SELECT k FROM scan_t ORDER BY k LIMIT 5;
SELECT k FROM scan_t ORDER BY k LIMIT 5;
EXPLAIN (COSTS OFF) SELECT k FROM scan_t ORDER BY k DESC LIMIT 5;
SELECT k FROM scan_t ORDER BY k DESC LIMIT 5;
SELECT k FROM scan_t ORDER BY k DESC NULLS LAST LIMIT 3;
SELECT array_agg(k) = (SELECT array_agg(k ORDER BY k) FROM expect) AS asc_ok FROM (SELECT k FROM scan_t ORDER BY k) s;
SELECT array_agg(k) = (SELECT array_agg(k ORDER BY k DESC) FROM expect) AS desc_ok FROM (SELECT k FROM scan_t ORDER BY k DESC) s;
SELECT array_agg(k) = (SELECT array_agg(k ORDER BY k DESC) FROM expect WHERE k BETWEEN 100 AND 200) AS range_desc_ok
  FROM (SELECT k FROM scan_t WHERE k BETWEEN 100 AND 200 ORDER BY k DESC) s;

-- Scrollable cursor: change direction mid-scan.
BEGIN;
DECLARE c SCROLL CURSOR FOR SELECT k FROM scan_t WHERE k >= 4998 ORDER BY k;
FETCH 3 FROM c;
FETCH PRIOR FROM c;
FETCH LAST FROM c;
FETCH PRIOR FROM c;
FETCH FIRST FROM c;
FETCH ABSOLUTE -1 FROM c;
COMMIT;

-- A scroll cursor walking back and forth across batch and page boundaries (forward batches start
-- small and grow; backward moves from the middle of a page re-find it), against a sort of a copy.
CREATE FUNCTION cursor_walk() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  c1 refcursor; c2 refcursor; a int8; b int8; f1 boolean; f2 boolean;
  moves int[] := ARRAY[40, -45, 300, -10, 5, -250, 2700, -1, 3, -3000, 20000, -20, 30];
  m int; fetched int := 0; mismatches int := 0;
BEGIN
  SET LOCAL enable_seqscan = off;
  SET LOCAL enable_bitmapscan = off;
  OPEN c1 SCROLL FOR SELECT k FROM scan_t WHERE k >= -4000 ORDER BY k;
  OPEN c2 SCROLL FOR SELECT k FROM expect WHERE k >= -4000 ORDER BY k;
  FOREACH m IN ARRAY moves LOOP
    FOR i IN 1 .. abs(m) LOOP
      IF m > 0 THEN FETCH NEXT FROM c1 INTO a; f1 := FOUND; FETCH NEXT FROM c2 INTO b; f2 := FOUND;
      ELSE FETCH PRIOR FROM c1 INTO a; f1 := FOUND; FETCH PRIOR FROM c2 INTO b; f2 := FOUND;
      END IF;
      fetched := fetched + 1;
      IF f1 IS DISTINCT FROM f2 OR (f1 AND a IS DISTINCT FROM b) THEN mismatches := mismatches + 1; END IF;
    END LOOP;
  END LOOP;
  RETURN format('%s fetches, %s mismatches', fetched, mismatches);
END $$;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT k FROM scan_t WHERE k >= -4000 ORDER BY k;
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT cursor_walk();
DROP FUNCTION cursor_walk();

-- Index-only scans return the key values.
RESET enable_indexonlyscan;
EXPLAIN (COSTS OFF) SELECT k FROM scan_t WHERE k BETWEEN 1 AND 3;
SELECT k, count(*) FROM scan_t WHERE k BETWEEN 1 AND 3 GROUP BY k ORDER BY k;
SELECT k FROM scan_t WHERE k IS NULL LIMIT 2;

-- Bitmap scans.
SET enable_indexscan = off;
SET enable_indexonlyscan = off;
RESET enable_bitmapscan;
EXPLAIN (COSTS OFF) SELECT id FROM scan_t WHERE k < -4990;
SELECT count(*) FROM scan_t WHERE k < -4990;
SELECT count(*) FROM scan_t WHERE k IS NULL OR k = 7;
RESET enable_indexscan;
RESET enable_indexonlyscan;

-- Nested loop probes (fast rescans) and a merge join (mark/restore is exercised by the
-- differential test, where alex is the inner side).
SET enable_hashjoin = off;
SET enable_mergejoin = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM generate_series(1, 100) p(v) JOIN scan_t ON scan_t.k = p.v;
SELECT count(*) FROM generate_series(1, 100) p(v) JOIN scan_t ON scan_t.k = p.v;
SET enable_nestloop = off;
RESET enable_mergejoin;
CREATE TEMP TABLE probes AS SELECT (v % 50)::int8 AS v FROM generate_series(1, 300) v;
ANALYZE probes;
EXPLAIN (COSTS OFF) SELECT count(*) FROM probes p JOIN scan_t ON scan_t.k = p.v;
SELECT count(*) FROM probes p JOIN scan_t ON scan_t.k = p.v;
SELECT count(*) FROM probes p JOIN expect ON expect.k = p.v;
RESET enable_nestloop;
RESET enable_hashjoin;
RESET enable_seqscan;
RESET enable_bitmapscan;

-- Scans are counted in pg_stat_user_indexes.
SELECT pg_stat_force_next_flush();
SELECT idx_scan > 0 AS scanned, idx_tup_read > 0 AS read FROM pg_stat_user_indexes WHERE indexrelname = 'scan_k';
-- As btree's in PostgreSQL 15 and 16: one scan per distinct non-NULL element of an `= ANY`
-- array, none for an array without one. (From 17 on, btree covers neighbouring elements with
-- one descent and counts fewer.)
SET enable_seqscan = off;
SET enable_bitmapscan = off;
CREATE FUNCTION scans_counted(q text) RETURNS TABLE (alex bigint) LANGUAGE plpgsql AS $$
DECLARE before_a bigint := pg_stat_get_xact_numscans('scan_k'::regclass);
BEGIN
  EXECUTE format(q, 'scan_t');
  RETURN QUERY SELECT pg_stat_get_xact_numscans('scan_k'::regclass) - before_a;
END $$;
SELECT q, c.* FROM unnest(ARRAY[
  'SELECT count(*) FROM %I WHERE k = 7',
  'SELECT count(*) FROM %I WHERE k = ANY(ARRAY[1, 2, 3, 500000, 7, 3])',
  'SELECT count(*) FROM %I WHERE k = ANY(ARRAY[1, 2, NULL])',
  'SELECT count(*) FROM %I WHERE k = ANY(''{}'')',
  'SELECT count(*) FROM %I WHERE k = ANY(ARRAY[1, 2]) AND k = ANY(ARRAY[2, 3, 4])',
  'SELECT count(*) FROM %I WHERE k < ANY(ARRAY[1, 2, 3])']) q, scans_counted(q) c;
-- PostgreSQL 18's EXPLAIN ANALYZE shows the same count as "Index Searches" (15 has no such line).
CREATE FUNCTION index_searches(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE plan json;
BEGIN
  EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON, COSTS OFF, TIMING OFF) ' || q INTO plan;
  RETURN coalesce(jsonb_path_query_first(plan::jsonb, 'strict $.**."Index Searches"')::text,
                  CASE WHEN current_setting('server_version_num')::int < 180000 THEN 'not shown' END);
END $$;
SELECT index_searches('SELECT count(*) FROM scan_t WHERE k = ANY(ARRAY[1, 2, 3, 500000, 7, 3])') IN ('5', 'not shown') AS five;
SELECT index_searches('SELECT * FROM scan_t WHERE k BETWEEN 10 AND 20') IN ('1', 'not shown') AS one;
DROP FUNCTION index_searches(text);
RESET enable_seqscan;
RESET enable_bitmapscan;
DROP FUNCTION scans_counted(text);

-- Once the route cache of this backend knows the model page above a data page, a probe reads
-- that data page alone (an absent key: no heap page either), where a descent reads two.
CREATE FUNCTION pages_read(q text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE plan json;
BEGIN
  EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON, COSTS OFF, TIMING OFF) ' || q INTO plan;
  RETURN (plan->0->'Plan'->>'Shared Hit Blocks')::int + (plan->0->'Plan'->>'Shared Read Blocks')::int;
END $$;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT pages_read('SELECT id FROM scan_t WHERE k = 100000') > 0 AS warm_up;
SELECT pages_read('SELECT id FROM scan_t WHERE k = 100001') AS probe_pages;
-- The cache follows the index: after TRUNCATE rebuilds an index created in the same
-- transaction in place, its old pages are gone.
BEGIN;
CREATE TABLE scan_tt (k int8);
CREATE INDEX scan_tt_k ON scan_tt USING alex (k);
INSERT INTO scan_tt SELECT g * 3 FROM generate_series(1, 60000) g;
SELECT count(*) FROM scan_tt WHERE k = 179997;
TRUNCATE scan_tt;
INSERT INTO scan_tt VALUES (1), (179997);
SELECT count(*) FROM scan_tt WHERE k = 179997;
SELECT k FROM scan_tt WHERE k > 0 ORDER BY k;
COMMIT;
RESET enable_seqscan;
RESET enable_bitmapscan;
DROP TABLE scan_tt;
DROP FUNCTION pages_read;

-- Floats: -Infinity < ... < -0 = 0 < ... < Infinity < NaN, and float4/float8 cross-type.
CREATE TABLE scan_f (f8 float8, f4 float4);
INSERT INTO scan_f VALUES ('NaN', 'NaN'), ('Infinity', 'Infinity'), ('-Infinity', '-Infinity'),
  ('-0', '-0'), ('0', '0'), (1.5, 1.5), (-1.5, -1.5), (1e-300, 1e-30), (NULL, NULL), (0.1, 0.1);
CREATE INDEX scan_f8 ON scan_f USING alex (f8);
CREATE INDEX scan_f4 ON scan_f USING alex (f4);
SET enable_seqscan = off;
SELECT f8 FROM scan_f ORDER BY f8;
SELECT f8 FROM scan_f ORDER BY f8 DESC;
SELECT f8 FROM scan_f WHERE f8 = 0;
SELECT f8 FROM scan_f WHERE f8 > 0 ORDER BY f8;
SELECT f8 FROM scan_f WHERE f8 = 'NaN';
SELECT f8 FROM scan_f WHERE f8 > 'Infinity';
SELECT f4 FROM scan_f WHERE f4 = 0.1::float8;
SELECT f4 FROM scan_f WHERE f4 = 0.1::float4;
SELECT f4 FROM scan_f WHERE f4 < 0.1::float8 ORDER BY f4;
SELECT f4 FROM scan_f ORDER BY f4 DESC LIMIT 3;
RESET enable_seqscan;
SELECT alex_check('scan_f8', true), alex_check('scan_f4', true);

-- Parallel index and index-only scans (workers made free): the participants take pages from a
-- shared position; forward and backward under Gather Merge, = ANY, and the NULL chain; the
-- answers must be the sequential scan's.
CREATE TABLE scan_p (id int, k int8);
INSERT INTO scan_p SELECT g, CASE WHEN g % 53 = 0 THEN NULL ELSE hashint8extended(g % 90000, 3) % 1000000 END
  FROM generate_series(1, 200000) g;
CREATE INDEX scan_p_k ON scan_p USING alex (k);
VACUUM ANALYZE scan_p;
CREATE TEMP TABLE scan_p_queries (q text, n int);
INSERT INTO scan_p_queries VALUES
  ('SELECT count(*) || '' '' || sum(id) FROM scan_p WHERE k BETWEEN -400000 AND 300000', 1),
  ('SELECT count(*) || '' '' || sum(k) FROM scan_p WHERE k < 0', 2),
  ('SELECT count(*) || '' '' || sum(id) FROM scan_p WHERE k = ANY (ARRAY[hashint8extended(7, 3) % 1000000, 5, hashint8extended(70000, 3) % 1000000])', 3),
  ('SELECT count(*) || '' '' || sum(id) FROM scan_p WHERE k IS NULL', 4),
  ('SELECT md5(string_agg(k::text, '','')) FROM (SELECT k FROM scan_p WHERE k > 100000 ORDER BY k) s', 5),
  ('SELECT md5(string_agg(k::text, '','')) FROM (SELECT k FROM scan_p WHERE k < 100000 ORDER BY k DESC) s', 6);
CREATE FUNCTION scan_p_run(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; BEGIN EXECUTE q INTO r; RETURN r; END $$;
SET enable_indexscan = off;
SET enable_indexonlyscan = off;
SET enable_bitmapscan = off;
CREATE TEMP TABLE scan_p_want AS SELECT n, scan_p_run(q) AS r FROM scan_p_queries;
RESET enable_indexscan;
RESET enable_indexonlyscan;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SET enable_sort = off;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_index_scan_size = 0;
SET min_parallel_table_scan_size = 0;
SET cpu_tuple_cost = 1;
EXPLAIN (COSTS OFF) SELECT count(*) || ' ' || sum(id) FROM scan_p WHERE k BETWEEN -400000 AND 300000;
EXPLAIN (COSTS OFF) SELECT count(*) || ' ' || sum(k) FROM scan_p WHERE k < 0;
EXPLAIN (COSTS OFF) SELECT k FROM scan_p WHERE k < 100000 ORDER BY k DESC;
-- The workers ran (how many rows each took varies).
CREATE FUNCTION scan_p_workers(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
    IF l ~ 'Workers Launched' THEN RETURN trim(l); END IF;
  END LOOP;
  RETURN 'no Gather';
END $$;
SELECT scan_p_workers('SELECT count(*) FROM scan_p WHERE k > 0');
SELECT q.n, scan_p_run(q.q) = w.r AS same FROM scan_p_queries q JOIN scan_p_want w USING (n) ORDER BY n;
RESET enable_seqscan;
RESET enable_bitmapscan;
RESET enable_sort;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_index_scan_size;
RESET min_parallel_table_scan_size;
RESET cpu_tuple_cost;
DROP FUNCTION scan_p_run(text), scan_p_workers(text);

DROP TABLE scan_t, scan_f, scan_p;
