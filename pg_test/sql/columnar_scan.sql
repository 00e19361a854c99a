-- The columnar scan node (Custom Scan ColumnarScan): every answer is checked against a heap
-- table with the same rows, and EXPLAIN shows which plan node read the table.
SET client_min_messages = warning;
SET omendb.columnar_fold_min_rows = 1;
-- Aggregates here run in PostgreSQL's Agg over the scan node (the aggregate node has its own
-- test, columnar_aggregate).
SET omendb.enable_columnar_aggregate = off;

CREATE TABLE sh (id int, k int8, f float8, n numeric, t text, j jsonb, d date, b bool);
INSERT INTO sh SELECT g, CASE WHEN g % 19 = 0 THEN NULL ELSE (g * 7919) % 1000 - 500 END,
  CASE WHEN g % 50 = 0 THEN 'NaN'::float8 WHEN g % 51 = 0 THEN '-Infinity' WHEN g % 53 = 0 THEN 'Infinity' ELSE g / 7.0 END,
  CASE WHEN g % 13 = 0 THEN NULL ELSE (g * 1.125)::numeric(20, 3) END,
  -- Short values, empty strings, NULLs and values long enough for a 4-byte header (stored
  -- unaligned in a vector).
  CASE WHEN g % 11 = 0 THEN NULL WHEN g % 17 = 0 THEN '' WHEN g % 7 = 0 THEN repeat(chr(97 + g % 26), 150 + g % 9) ELSE chr(97 + g % 26) || g END,
  jsonb_build_object('g', g), date '2020-01-01' + g % 400, g % 3 = 0
FROM generate_series(1, 20000) g;
CREATE TABLE sc (LIKE sh) USING columnar;
INSERT INTO sc SELECT * FROM sh;

CREATE FUNCTION same(q text, heap text DEFAULT 'sh', col text DEFAULT 'sc') RETURNS text LANGUAGE plpgsql AS $$
DECLARE h text; c text;
BEGIN
  EXECUTE 'SELECT string_agg(x::text, '';'' ORDER BY x::text) FROM (' || replace(q, '$T', heap) || ') x' INTO h;
  EXECUTE 'SELECT string_agg(x::text, '';'' ORDER BY x::text) FROM (' || replace(q, '$T', col) || ') x' INTO c;
  RETURN CASE WHEN h IS NOT DISTINCT FROM c THEN 'same' ELSE 'DIFFERENT: ' || coalesce(h, 'NULL') || ' <> ' || coalesce(c, 'NULL') END;
END $$;
CREATE TABLE queries (q text);
INSERT INTO queries VALUES
  ('SELECT count(*) FROM $T'),
  ('SELECT count(*), sum(k), sum(n), min(d), max(d), count(t), sum(length(t)) FROM $T'),
  ('SELECT count(*) FILTER (WHERE f = ''NaN''), count(*) FILTER (WHERE f = ''Infinity''), max(f), min(f) FROM $T'),
  ('SELECT id, k, n, t FROM $T WHERE k BETWEEN -3 AND 3'),
  ('SELECT id FROM $T WHERE k IS NULL'),
  ('SELECT id, t FROM $T WHERE t = '''' OR length(t) > 150'),
  ('SELECT * FROM $T WHERE id % 997 = 0'),
  ('SELECT s FROM $T s WHERE s.id % 1999 = 0'),
  ('SELECT b, count(*), sum(n), avg(k) FROM $T GROUP BY b'),
  ('SELECT j->>''g'' FROM $T WHERE j @> ''{"g": 77}''');

-- Every query uses the node.
EXPLAIN (costs off) SELECT count(*) FROM sc;
EXPLAIN (costs off) SELECT id, t FROM sc WHERE k BETWEEN -3 AND 3;
SELECT q, same(q) FROM queries;

-- Folded into row groups, with rows deleted, updated and locked (overlays), rows in delta
-- pages after them, and a rolled-back insert.
VACUUM sc;
DELETE FROM sh WHERE id % 10 = 1; DELETE FROM sc WHERE id % 10 = 1;
UPDATE sh SET k = k + 1, t = t || 'u' WHERE id % 10 = 2; UPDATE sc SET k = k + 1, t = t || 'u' WHERE id % 10 = 2;
SELECT count(*) FROM (SELECT * FROM sc WHERE id % 10 = 3 FOR SHARE) x;
BEGIN; INSERT INTO sc SELECT * FROM sh LIMIT 100; ROLLBACK;
SELECT q, same(q) FROM queries;
-- EXPLAIN ANALYZE with PostgreSQL 18's row counts ("rows=2000.00") written as before.
CREATE FUNCTION explain_analyze(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (ANALYZE, BUFFERS OFF, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
    RETURN NEXT regexp_replace(l, 'rows=(\d+)\.00 ', 'rows=\1 ', 'g');
  END LOOP;
END $$;
SELECT explain_analyze('SELECT count(*) FROM sc WHERE id % 10 = 4');

-- After VACUUM rewrites the groups, and with rows of the current transaction.
VACUUM sc;
BEGIN;
INSERT INTO sh VALUES (-1, 7, 1.5, 2.5, 'in transaction'); INSERT INTO sc VALUES (-1, 7, 1.5, 2.5, 'in transaction');
DELETE FROM sh WHERE id = 5; DELETE FROM sc WHERE id = 5;
SAVEPOINT s;
INSERT INTO sc VALUES (-2, 8, 1.5, 2.5, 'rolled back');
ROLLBACK TO s;
SELECT q, same(q) FROM queries;
COMMIT;

-- Columns added after the rows were written read as their defaults; dropped ones are gone.
ALTER TABLE sh ADD COLUMN e int DEFAULT 42; ALTER TABLE sc ADD COLUMN e int DEFAULT 42;
ALTER TABLE sh DROP COLUMN j; ALTER TABLE sc DROP COLUMN j;
INSERT INTO sh (id, e) VALUES (-3, 1); INSERT INTO sc (id, e) VALUES (-3, 1);
SELECT same('SELECT id, e, t FROM $T WHERE id % 1000 = 3 OR id < 0'), same('SELECT sum(e), count(*) FROM $T'), same('SELECT $T FROM $T WHERE id % 3001 = 0');

-- Clauses judged over vectors (comparisons with constants, IN lists, IS [NOT] NULL): rows they
-- fail are never stored, and rows they pass get only the other clauses. Rows of delta pages
-- and numerics the vectors cannot compare (beyond 128 bits) get every clause.
INSERT INTO sh (id, k, n, t) VALUES (-4, 1, 1e40, 'big'), (-5, 2, -1e40, 'big'), (-6, 3, 0.5, 'small');
INSERT INTO sc (id, k, n, t) VALUES (-4, 1, 1e40, 'big'), (-5, 2, -1e40, 'big'), (-6, 3, 0.5, 'small');
VACUUM sc;
INSERT INTO sh (id, k, n, t) VALUES (-7, 4, 2e40, 'delta'); INSERT INTO sc (id, k, n, t) VALUES (-7, 4, 2e40, 'delta');
CREATE TABLE vq (q text);
INSERT INTO vq VALUES
  ('SELECT id, k FROM $T WHERE id < 3000 AND k > 100'),
  ('SELECT id, t FROM $T WHERE k IN (-500, 0, 7, 499) AND t LIKE ''%1%'''),
  ('SELECT id, n FROM $T WHERE n > 100 AND n <= 200.5 AND id % 2 = 0'),
  ('SELECT id, n FROM $T WHERE n > 22000 OR n IS NULL'),
  ('SELECT id * 2, upper(t) FROM $T WHERE d = date ''2020-02-01'' AND id > 5000'),
  ('SELECT id FROM $T WHERE k IS NULL AND d >= date ''2020-12-01'''),
  ('SELECT id, n FROM $T WHERE n < 1e39 AND k < 3'),
  ('SELECT id, n FROM $T WHERE n > 1e30 OR n < -1e30'),
  ('SELECT id, n FROM $T WHERE n > 1e30 AND k < 5 AND id < 100'),
  ('SELECT id FROM $T WHERE k > 1000'),
  ('SELECT id, k FROM $T WHERE id < k AND k < 300'),
  ('SELECT id FROM $T WHERE k >= id AND d <= d'),
  ('SELECT id, t FROM $T WHERE t = ''d29'''),
  ('SELECT id FROM $T WHERE t IN (''d29'', '''', ''zz'', NULL) AND id > 0'),
  ('SELECT id FROM $T WHERE t = repeat(''h'', 157)'),
  ('SELECT id FROM $T WHERE id BETWEEN 17000 AND 17100 AND length(t) > 150 AND k IS NOT NULL');
SELECT q, same(q) FROM vq;
SET omendb.enable_columnar_vectorization = off;
SELECT q, same(q) FROM vq;
RESET omendb.enable_columnar_vectorization;
-- Equality of character(n) (trailing spaces ignored) and varchar, and values stored
-- compressed (PostgreSQL judges those).
CREATE TABLE th (id int, c char(8), v varchar(6000));
INSERT INTO th SELECT g, CASE WHEN g % 5 = 0 THEN NULL ELSE 'M' || g % 7 END,
  'v' || g % 13 || CASE WHEN g % 1000 = 0 THEN repeat('y', 5000) ELSE '' END
FROM generate_series(1, 5000) g;
CREATE TABLE tc (LIKE th) USING columnar;
INSERT INTO tc SELECT * FROM th;
VACUUM tc;
SELECT q, same(q, 'th', 'tc') FROM (VALUES
  ('SELECT id FROM $T WHERE c = ''M3'''), ('SELECT id FROM $T WHERE c = ''M3   '''),
  ('SELECT id, c FROM $T WHERE c IN (''M1'', ''M6  '', ''Z'')'), ('SELECT id FROM $T WHERE v = ''v7'''),
  ('SELECT id FROM $T WHERE v IN (''v1'', ''v12'') AND c = ''M2'''),
  ('SELECT id FROM $T WHERE v = ''v12'' || repeat(''y'', 5000)'), ('SELECT id FROM $T WHERE c = v')) x(q);
EXPLAIN (costs off) SELECT id FROM tc WHERE v IN ('v1', 'v12') AND c = 'M2';
DROP TABLE th, tc;
-- The rows removed are counted as heap's sequential scan counts them.
SELECT explain_analyze('SELECT id, t FROM sc WHERE k IN (-500, 0, 7, 499) AND t LIKE ''%1%''');
SELECT explain_analyze('SELECT id, t FROM sh WHERE k IN (-500, 0, 7, 499) AND t LIKE ''%1%''');
SELECT explain_analyze('SELECT id FROM sc WHERE n < 1e39 AND k < 3');
SELECT explain_analyze('SELECT id, n FROM sc WHERE n > 1e30 AND k < 5 AND id < 100');
SELECT explain_analyze('SELECT id FROM sc WHERE id < k AND t = ''d29''');
DROP FUNCTION explain_analyze(text);
DROP TABLE vq;

-- ctid and tableoid come from the node; other system columns, row locks and the target of
-- UPDATE or DELETE read through the table access method.
SELECT (SELECT count(*) FROM sc WHERE ctid = t.ctid) AS by_ctid, tableoid::regclass FROM sc t WHERE id = 3;
EXPLAIN (costs off) SELECT ctid, tableoid FROM sc WHERE id = 3;
EXPLAIN (costs off) SELECT xmin FROM sc WHERE id = 3;
EXPLAIN (costs off) SELECT id FROM sc WHERE id = 3 FOR UPDATE;
EXPLAIN (costs off) DELETE FROM sc WHERE id = 3;
EXPLAIN (costs off) SELECT count(*) FROM sc TABLESAMPLE SYSTEM (50);

-- Rescans (the inner side of a nested loop) and backward scans (a SCROLL cursor).
SET enable_hashjoin = off; SET enable_mergejoin = off; SET enable_material = off;
EXPLAIN (costs off) SELECT count(*) FROM (VALUES (1), (2), (3)) v(x) JOIN sc ON sc.id = v.x * 1000;
SELECT count(*), sum(sc.id) FROM (VALUES (1), (2), (3)) v(x) JOIN sc ON sc.id = v.x * 1000;
EXPLAIN (costs off) SELECT s.id FROM (VALUES (1), (2), (3)) v(x) JOIN sc s ON s.id BETWEEN v.x * 1000 AND v.x * 1000 + 10 WHERE s.k < 0;
SELECT same('SELECT s.id FROM (VALUES (1), (2), (3)) v(x) JOIN $T s ON s.id BETWEEN v.x * 1000 AND v.x * 1000 + 10 WHERE s.k < 0');
RESET enable_hashjoin; RESET enable_mergejoin; RESET enable_material;
BEGIN;
DECLARE cur SCROLL CURSOR FOR SELECT id FROM sc WHERE id BETWEEN 100 AND 104 ORDER BY id;
FETCH 3 FROM cur; FETCH BACKWARD 2 FROM cur;
COMMIT;

-- A parallel scan: workers take slices of the segments.
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (costs off) SELECT count(*), sum(k) FROM sc;
SELECT same('SELECT count(*), sum(k), sum(n), count(t) FROM $T'), same('SELECT id FROM $T WHERE k = 3'), same('SELECT id, t FROM $T WHERE k < -400 AND t > ''m''');
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- The settings that turn the node off.
SET omendb.enable_columnar_scan = off;
EXPLAIN (costs off) SELECT count(*) FROM sc;
RESET omendb.enable_columnar_scan;
SET enable_seqscan = off;
CREATE INDEX sc_id ON sc (id);
EXPLAIN (costs off) SELECT count(*) FROM sc WHERE id < 10;
RESET enable_seqscan;

DROP TABLE sh, sc, queries;
DROP FUNCTION same;
