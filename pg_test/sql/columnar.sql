-- The columnar table access method: DDL, DML, transactions, scans of every kind, indexes,
-- VACUUM, rewrites and refusals, each checked against the same statements on a heap table.
SET client_min_messages = warning;
-- Rows go through the delta store and VACUUM's folds here: the bulk path of COPY and large
-- INSERTs has its own test (columnar_bulk).
SET omendb.columnar_bulk_after_rows = -1;

CREATE TABLE h (id int PRIMARY KEY, k int8, f float8, n numeric, t text, j jsonb, a int[], d date);
INSERT INTO h SELECT g, (g * 7919) % 1000 - 500,
  CASE WHEN g % 50 = 0 THEN 'NaN'::float8 WHEN g % 51 = 0 THEN '-Infinity' ELSE g / 7.0 END,
  CASE WHEN g % 13 = 0 THEN NULL ELSE (g * 1.125)::numeric(20, 3) END,
  CASE WHEN g % 11 = 0 THEN NULL WHEN g % 17 = 0 THEN '' ELSE repeat(chr(97 + g % 26), g % 40) END,
  jsonb_build_object('g', g, 'odd', g % 2 = 1), ARRAY[g, g + 1], date '2020-01-01' + g
FROM generate_series(1, 3000) g;

-- CREATE TABLE AS, INSERT ... SELECT, COPY and single-row inserts all land in the table.
CREATE TABLE c USING columnar AS SELECT * FROM h WHERE id <= 1000;
INSERT INTO c SELECT * FROM h WHERE id BETWEEN 1001 AND 2000;
COPY (SELECT * FROM h WHERE id BETWEEN 2001 AND 2999) TO '/tmp/omendb_columnar_copy.data';
COPY c FROM '/tmp/omendb_columnar_copy.data';
INSERT INTO c VALUES (3000, 0, 'NaN', 3375.000, '', '{"g": 3000, "odd": false}', '{3000,3001}', date '2020-01-01' + 3000);
UPDATE h SET k = 0, t = '' WHERE id = 3000;
SELECT amname FROM pg_class JOIN pg_am ON relam = pg_am.oid WHERE relname = 'c';
-- Same rows, every column (EXCEPT ALL both ways keeps duplicates and NULLs).
SELECT count(*) AS c_rows, (SELECT count(*) FROM (SELECT * FROM c EXCEPT ALL SELECT * FROM h) x) AS only_c,
       (SELECT count(*) FROM (SELECT * FROM h EXCEPT ALL SELECT * FROM c) x) AS only_h FROM c;
SELECT sum(k), sum(n), count(t), count(*) FILTER (WHERE f = 'NaN'), min(d), max(d) FROM c;
SELECT sum(k), sum(n), count(t), count(*) FILTER (WHERE f = 'NaN'), min(d), max(d) FROM h;

-- Indexes: btree (unique), alex, expression and partial indexes, used by each scan kind.
CREATE UNIQUE INDEX c_id ON c (id);
CREATE INDEX c_k ON c USING alex (k);
CREATE INDEX c_lower ON c (lower(t)) WHERE t <> '';
ANALYZE c;
SET enable_seqscan = off; SET enable_bitmapscan = off;
EXPLAIN (costs off) SELECT * FROM c WHERE id = 42;
SELECT id, k, t FROM c WHERE id = 42;
EXPLAIN (costs off) SELECT id FROM c WHERE k BETWEEN -3 AND 3 ORDER BY k, id;
SELECT count(*), sum(id) FROM c WHERE k BETWEEN -3 AND 3;
SELECT count(*), sum(id) FROM h WHERE k BETWEEN -3 AND 3;
EXPLAIN (costs off) SELECT id FROM c WHERE id < 5;
SELECT id FROM c WHERE id < 5 ORDER BY id;
SET enable_indexscan = off; SET enable_bitmapscan = on; SET enable_indexonlyscan = off;
EXPLAIN (costs off) SELECT count(*) FROM c WHERE lower(t) = 'cc' AND t <> '';
SELECT count(*) FROM c WHERE lower(t) = 'cc' AND t <> '';
SELECT count(*) FROM h WHERE lower(t) = 'cc' AND t <> '';
EXPLAIN (costs off) SELECT count(*) FROM c WHERE k = 7 OR id < 20;
SELECT count(*) FROM c WHERE k = 7 OR id < 20;
SELECT count(*) FROM h WHERE k = 7 OR id < 20;
RESET enable_seqscan; RESET enable_bitmapscan; RESET enable_indexscan; RESET enable_indexonlyscan;

-- hash, GIN and GiST indexes.
CREATE INDEX c_hash ON c USING hash (t);
CREATE INDEX c_gin ON c USING gin (j jsonb_path_ops);
CREATE INDEX c_gist ON c USING gist (daterange(d, d + 10));
SET enable_seqscan = off;
EXPLAIN (costs off) SELECT count(*) FROM c WHERE t = 'bbb';
SELECT count(*) FROM c WHERE t = 'bbb';
SELECT count(*) FROM h WHERE t = 'bbb';
EXPLAIN (costs off) SELECT count(*) FROM c WHERE j @> '{"odd": true}';
SELECT count(*) FROM c WHERE j @> '{"odd": true}';
SELECT count(*) FROM h WHERE j @> '{"odd": true}';
EXPLAIN (costs off) SELECT count(*) FROM c WHERE daterange(d, d + 10) && daterange('2021-01-01', '2021-02-01');
SELECT count(*) FROM c WHERE daterange(d, d + 10) && daterange('2021-01-01', '2021-02-01');
SELECT count(*) FROM h WHERE daterange(d, d + 10) && daterange('2021-01-01', '2021-02-01');
RESET enable_seqscan;
DROP INDEX c_hash, c_gin, c_gist;

-- TID scans and TID range scans.
EXPLAIN (costs off) SELECT id FROM c WHERE ctid = '(0,1)';
SELECT id FROM c WHERE ctid = (SELECT ctid FROM c WHERE id = 1500);
SELECT id FROM c WHERE ctid = '(4294967294,291)';
EXPLAIN (costs off) SELECT count(*) FROM c WHERE ctid < '(3,0)';
SELECT count(*) = (SELECT count(*) FROM c WHERE (ctid::text::point)[0] < 3) FROM c WHERE ctid < '(3,0)';

-- Updates and deletes, with RETURNING, compared with heap.
UPDATE c SET t = upper(t), k = k + 1 WHERE id % 10 = 3 AND id < 40 RETURNING id, k, t;
UPDATE c SET t = upper(t), k = k + 1 WHERE id % 10 = 3 AND id >= 40;
UPDATE h SET t = upper(t), k = k + 1 WHERE id % 10 = 3;
DELETE FROM c WHERE id % 9 = 0 OR n IS NULL;
DELETE FROM h WHERE id % 9 = 0 OR n IS NULL;
SELECT (SELECT count(*) FROM c) AS c_rows, (SELECT count(*) FROM (SELECT * FROM c EXCEPT ALL SELECT * FROM h) x) AS only_c,
       (SELECT count(*) FROM (SELECT * FROM h EXCEPT ALL SELECT * FROM c) x) AS only_h;

-- Rollbacks and savepoints: rows inserted, updated or deleted in aborted (sub)transactions.
BEGIN;
INSERT INTO c SELECT g, 0, 0, 0, 'rolled back', NULL, NULL, NULL FROM generate_series(5001, 5100) g;
DELETE FROM c WHERE id < 500;
UPDATE c SET k = -k WHERE id BETWEEN 500 AND 700;
ROLLBACK;
BEGIN;
INSERT INTO c VALUES (6001, 1, 1, 1, 'kept');
SAVEPOINT s1;
INSERT INTO c VALUES (6002, 2, 2, 2, 'undone');
UPDATE c SET t = 'undone' WHERE id = 6001;
DELETE FROM c WHERE id BETWEEN 1 AND 100;
ROLLBACK TO s1;
UPDATE c SET t = 'kept twice' WHERE id = 6001;
SELECT id, t FROM c WHERE id > 6000 ORDER BY id;
COMMIT;
INSERT INTO h VALUES (6001, 1, 1, 1, 'kept twice');
SELECT (SELECT count(*) FROM c) AS c_rows, (SELECT count(*) FROM (SELECT * FROM c EXCEPT ALL SELECT * FROM h) x) AS only_c,
       (SELECT count(*) FROM (SELECT * FROM h EXCEPT ALL SELECT * FROM c) x) AS only_h;

-- Uniqueness, ON CONFLICT, foreign keys in both directions, row locks.
INSERT INTO c (id) VALUES (42);
INSERT INTO c (id, t) VALUES (42, 'x') ON CONFLICT (id) DO UPDATE SET t = 'upserted' RETURNING id, t;
UPDATE h SET t = 'upserted' WHERE id = 42;
INSERT INTO c (id, t) VALUES (7001, 'new') ON CONFLICT (id) DO NOTHING RETURNING id;
INSERT INTO c (id, t) VALUES (7001, 'again') ON CONFLICT (id) DO NOTHING RETURNING id;
-- A row inserted by the same command cannot be updated by it (21000, as for heap).
INSERT INTO c (id, t) VALUES (7002, 'a'), (7002, 'b') ON CONFLICT (id) DO UPDATE SET t = excluded.t;
DELETE FROM c WHERE id = 7002;
ALTER TABLE c ADD PRIMARY KEY USING INDEX c_id;
CREATE TABLE child (pid int REFERENCES c (id), note text) USING columnar;
INSERT INTO child VALUES (42, 'ok');
INSERT INTO child VALUES (-1, 'no parent');
DELETE FROM c WHERE id = 42;
CREATE TABLE parent (id int PRIMARY KEY);
INSERT INTO parent VALUES (1), (2);
CREATE TABLE child2 (pid int REFERENCES parent (id)) USING columnar;
INSERT INTO child2 VALUES (1);
DELETE FROM parent WHERE id = 1;
SELECT id, t FROM c WHERE id IN (42, 43) ORDER BY id FOR UPDATE;
SELECT id FROM c WHERE id = 44 FOR NO KEY UPDATE NOWAIT;
SELECT id FROM c WHERE id = 44 FOR SHARE SKIP LOCKED;
SELECT id FROM c WHERE id = 44 FOR KEY SHARE;

-- TABLESAMPLE (repeatable with a seed), ANALYZE estimates.
SELECT count(*) > 0 AND count(*) < 3000 FROM c TABLESAMPLE BERNOULLI (50) REPEATABLE (7);
SELECT count(*) > 0 FROM c TABLESAMPLE SYSTEM (60) REPEATABLE (3);
ANALYZE c;
SELECT reltuples BETWEEN 2000 AND 3200 FROM pg_class WHERE relname = 'c';

-- VACUUM removes dead versions and their index entries; the answers stay the same.
DELETE FROM c WHERE id > 7000;
DELETE FROM h WHERE id > 7000;
VACUUM c;
VACUUM (FREEZE) c;
SELECT relfrozenxid <> '0' AND age(relfrozenxid) < 100 FROM pg_class WHERE relname = 'c';
SELECT columnar_check('c');
SELECT kind, first_row, row_numbers, pages > 1 AS has_pages, versions = visible AS all_visible, visible FROM columnar_stats('c');
SET enable_seqscan = off;
SELECT count(*) FROM c WHERE id > 0;
RESET enable_seqscan;
SELECT (SELECT count(*) FROM c) AS c_rows, (SELECT count(*) FROM (SELECT * FROM c EXCEPT ALL SELECT * FROM h) x) AS only_c,
       (SELECT count(*) FROM (SELECT * FROM h EXCEPT ALL SELECT * FROM c) x) AS only_h;

SELECT columnar_check('h');
SELECT * FROM columnar_stats('c_id');
CREATE TABLE empty_c (x int) USING columnar;
SELECT columnar_check('empty_c'), count(*) FROM columnar_stats('empty_c');
DROP TABLE empty_c;

-- VACUUM makes the space of dead versions reusable: rounds of updates of every row, each
-- followed by VACUUM, keep the file near twice its size, as heap's.
CREATE TABLE churn (id int PRIMARY KEY, v text) USING columnar;
INSERT INTO churn SELECT g, repeat('x', 100) FROM generate_series(1, 2000) g;
SELECT pg_relation_size('churn') AS churn_size \gset
UPDATE churn SET v = v || '';
VACUUM churn;
UPDATE churn SET v = v || '';
VACUUM churn;
UPDATE churn SET v = v || '';
VACUUM churn;
UPDATE churn SET v = v || '';
VACUUM churn;
SELECT pg_relation_size('churn') <= 2.5 * :churn_size AS bounded, count(*), count(DISTINCT id), columnar_check('churn') FROM churn;
SET enable_seqscan = off;
SELECT count(*) FROM churn WHERE id > 0;
RESET enable_seqscan;
DROP TABLE churn;

-- Rewrites: VACUUM FULL, CLUSTER, ALTER TABLE ... TYPE, SET ACCESS METHOD both ways, TRUNCATE.
VACUUM FULL c;
SELECT count(*) FILTER (WHERE id < prev) > 0 AS out_of_order_before FROM (SELECT id, lag(id) OVER () AS prev FROM c) s;
CLUSTER c USING c_id;
-- CLUSTER wrote the rows in the index's order: a sequential scan returns them sorted.
SELECT count(*) FILTER (WHERE id < prev) AS out_of_order FROM (SELECT id, lag(id) OVER () AS prev FROM c) s;
ALTER TABLE c ALTER COLUMN a TYPE bigint[];
ALTER TABLE h ALTER COLUMN a TYPE bigint[];
ALTER TABLE c ADD COLUMN extra int DEFAULT 5;
ALTER TABLE c DROP COLUMN extra;
SELECT (SELECT count(*) FROM c) AS c_rows, (SELECT count(*) FROM (SELECT * FROM c EXCEPT ALL SELECT * FROM h) x) AS only_c;
ALTER TABLE c SET ACCESS METHOD heap;
SELECT amname FROM pg_class JOIN pg_am ON relam = pg_am.oid WHERE relname = 'c';
ALTER TABLE c SET ACCESS METHOD columnar;
SELECT (SELECT count(*) FROM (SELECT * FROM c EXCEPT ALL SELECT * FROM h) x) AS only_c,
       (SELECT count(*) FROM (SELECT * FROM h EXCEPT ALL SELECT * FROM c) x) AS only_h;
BEGIN;
TRUNCATE child, c CASCADE;
SELECT count(*) FROM c;
ROLLBACK;
SELECT count(*) > 0 FROM c;
SELECT columnar_check('c');
BEGIN;
CREATE TABLE fresh (x int) USING columnar;
INSERT INTO fresh SELECT generate_series(1, 10);
TRUNCATE fresh;
INSERT INTO fresh VALUES (99);
SELECT * FROM fresh;
COMMIT;
CREATE UNLOGGED TABLE u (x int) USING columnar;
INSERT INTO u SELECT generate_series(1, 100);
SELECT count(*) FROM u;

-- Large values: compressed inline when that is enough, else stored out of line in value pages
-- and read back only when used (also in slices); values toasted in another table are copied.
CREATE TABLE wide_h (id int, v text, b bytea);
INSERT INTO wide_h SELECT g, repeat(md5(g::text), 200), NULL FROM generate_series(1, 3) g;
INSERT INTO wide_h VALUES (4, repeat('abc', 5000), NULL),
  (5, (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 400) g), NULL),
  (6, (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 40000) g), decode(repeat('00ff', 3000), 'hex')),
  (7, '', (SELECT string_agg(sha256(g::text::bytea), '') FROM generate_series(1, 500) g));
CREATE TABLE wide_c (id int, v text, b bytea) USING columnar;
ALTER TABLE wide_c ALTER COLUMN b SET STORAGE EXTERNAL;
INSERT INTO wide_c SELECT * FROM wide_h;
SELECT (SELECT count(*) FROM (SELECT * FROM wide_c EXCEPT ALL SELECT * FROM wide_h) x) AS only_c,
       (SELECT count(*) FROM (SELECT * FROM wide_h EXCEPT ALL SELECT * FROM wide_c) x) AS only_h,
       (SELECT sum(length(v)) FROM wide_c) AS chars, columnar_check('wide_c');
SELECT id, substr(v, 100001, 20), length(b), substr(b, 5001, 4) FROM wide_c WHERE id IN (6, 7) ORDER BY id;
UPDATE wide_c SET v = v || 'tail' WHERE id = 6;
UPDATE wide_h SET v = v || 'tail' WHERE id = 6;
DELETE FROM wide_c WHERE id = 5;
DELETE FROM wide_h WHERE id = 5;
SELECT pg_relation_size('wide_c') AS wide_size \gset
VACUUM wide_c;
-- The freed value pages take the next large value: the file does not grow.
INSERT INTO wide_c SELECT 8, v, b FROM wide_c WHERE id = 6;
INSERT INTO wide_h SELECT 8, v, b FROM wide_h WHERE id = 6;
SELECT pg_relation_size('wide_c') <= :wide_size AS reused, columnar_check('wide_c');
VACUUM FULL wide_c;
SELECT (SELECT count(*) FROM (SELECT * FROM wide_c EXCEPT ALL SELECT * FROM wide_h) x) AS only_c,
       (SELECT count(*) FROM (SELECT * FROM wide_h EXCEPT ALL SELECT * FROM wide_c) x) AS only_h, columnar_check('wide_c');
BEGIN;
INSERT INTO wide_c SELECT 9, v, b FROM wide_c WHERE id = 6;
ROLLBACK;
VACUUM wide_c;
SELECT count(*), columnar_check('wide_c') FROM wide_c;
-- Rewrites keep large values readable: to heap and back, and a column type change.
ALTER TABLE wide_c SET ACCESS METHOD heap;
ALTER TABLE wide_c SET ACCESS METHOD columnar;
ALTER TABLE wide_c ALTER COLUMN v TYPE varchar;
ALTER TABLE wide_h ALTER COLUMN v TYPE varchar;
SELECT (SELECT count(*) FROM (SELECT * FROM wide_c EXCEPT ALL SELECT * FROM wide_h) x) AS only_c,
       (SELECT count(*) FROM (SELECT * FROM wide_h EXCEPT ALL SELECT * FROM wide_c) x) AS only_h, columnar_check('wide_c');
-- Only a row whose plain-storage values alone exceed a page is refused.
CREATE TABLE plain_c (v text) USING columnar;
ALTER TABLE plain_c ALTER COLUMN v SET STORAGE PLAIN;
INSERT INTO plain_c VALUES ((SELECT string_agg(md5(g::text), '') FROM generate_series(1, 400) g));
DROP TABLE plain_c;

-- BRIN is refused: it summarises ranges of the file's pages, and a row group holds more
-- logical blocks than pages.
CREATE TABLE b USING columnar AS SELECT g AS id FROM generate_series(1, 5000) g;
CREATE INDEX b_brin ON b USING brin (id);
DROP TABLE b;

-- A publication naming a columnar table is refused (logical decoding cannot see its rows).
SET client_min_messages = error;
CREATE PUBLICATION pub_c FOR TABLE c;
CREATE PUBLICATION pub_h FOR TABLE h;
ALTER PUBLICATION pub_h ADD TABLE c;
CREATE TABLE pub_t (x int);
ALTER PUBLICATION pub_h ADD TABLE pub_t;
ALTER TABLE pub_t SET ACCESS METHOD columnar;
DROP TABLE pub_t;
ALTER PUBLICATION pub_h DROP TABLE h;
DROP PUBLICATION pub_h;
RESET client_min_messages;

-- SERIALIZABLE transactions work (the isolation specs show their conflicts).
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT count(*) > 0 FROM c;
UPDATE c SET t = 'serializable' WHERE id = 44;
COMMIT;

-- SCROLL cursors scan backward and forward across pages.
CREATE TABLE sc (x int) USING columnar;
INSERT INTO sc SELECT generate_series(1, 1000);
BEGIN;
DECLARE cur SCROLL CURSOR FOR SELECT x FROM sc;
FETCH 3 FROM cur;
FETCH PRIOR FROM cur;
FETCH LAST FROM cur;
FETCH BACKWARD 2 FROM cur;
FETCH ABSOLUTE 500 FROM cur;
FETCH RELATIVE -1 FROM cur;
FETCH RELATIVE 2 FROM cur;
MOVE FORWARD ALL IN cur;
FETCH BACKWARD 1 FROM cur;
FETCH FIRST FROM cur;
MOVE BACKWARD ALL IN cur;
FETCH NEXT FROM cur;
COMMIT;

-- Row groups: VACUUM folds a delta segment whose rows are all settled into a row group. The
-- open segment waits for omendb.columnar_fold_min_rows rows; a segment is folded whole, with
-- its row numbers, so indexes and TIDs stay as they were.
CREATE TABLE g (id int PRIMARY KEY, v text, n numeric(12,2), f float4, b bool, w text) USING columnar;
CREATE TABLE gh (LIKE g);
INSERT INTO g SELECT i, CASE WHEN i % 9 <> 0 THEN 'v' || (i % 37) END, i * 0.25, CASE WHEN i % 50 = 0 THEN 'NaN' WHEN i % 51 = 0 THEN '-Infinity' ELSE i / 7.0 END,
  i % 3 = 0, CASE WHEN i % 400 = 0 THEN repeat(md5(i::text), 300) END FROM generate_series(1, 3000) i;
INSERT INTO gh SELECT * FROM g;
CREATE INDEX g_f ON g USING alex (f);
SELECT ctid AS before FROM g WHERE id = 2000 \gset
VACUUM g;
SELECT kind FROM columnar_stats('g');
SET omendb.columnar_fold_min_rows = 1000;
VACUUM g;
SELECT kind, versions, visible, pages > 2 AS has_data FROM columnar_stats('g');
SELECT ctid = :'before' AS same_tid FROM g WHERE id = 2000;
SELECT columnar_check('g');
\set g_diff 'SELECT (SELECT count(*) FROM (SELECT * FROM g EXCEPT ALL SELECT * FROM gh) x) AS only_g, (SELECT count(*) FROM (SELECT * FROM gh EXCEPT ALL SELECT * FROM g) x) AS only_gh'
:g_diff;
SELECT sum(length(w)), count(*) FILTER (WHERE f = 'NaN'), min(f), max(n) FROM g;
-- Reads of rows in a group, by every path.
SET enable_seqscan = off; SET enable_bitmapscan = off;
EXPLAIN (costs off) SELECT * FROM g WHERE id = 1234;
SELECT id, v, n, f, b, length(w) FROM g WHERE id IN (1234, 2800, 400) ORDER BY id;
SELECT count(*) FROM g WHERE f BETWEEN 10 AND 20;
RESET enable_bitmapscan;
SELECT count(*) FROM g WHERE id BETWEEN 100 AND 2000;
RESET enable_seqscan;
SELECT id FROM g WHERE ctid = :'before';
SELECT count(*) FROM g WHERE ctid BETWEEN '(3,0)' AND '(5,0)';
-- Changes of rows in a group: each gets a header of its own, in its block's overlay page.
DELETE FROM g WHERE id % 10 = 0; DELETE FROM gh WHERE id % 10 = 0;
UPDATE g SET v = 'new', n = n + 1 WHERE id % 10 = 1; UPDATE gh SET v = 'new', n = n + 1 WHERE id % 10 = 1;
BEGIN; DELETE FROM g WHERE id % 10 = 2; ROLLBACK;
BEGIN; SELECT count(*) FROM (SELECT * FROM g WHERE id % 10 = 3 FOR UPDATE) x; COMMIT;
BEGIN; SELECT count(*) FROM (SELECT * FROM g WHERE id % 10 = 4 FOR KEY SHARE) x;
SAVEPOINT s1; DELETE FROM g WHERE id % 10 = 5; ROLLBACK TO s1;
UPDATE g SET n = -n WHERE id % 10 = 6; UPDATE gh SET n = -n WHERE id % 10 = 6;
COMMIT;
:g_diff;
SELECT id FROM g WHERE ctid = :'before';
INSERT INTO g VALUES (21, 'dup');
UPDATE g SET id = id + 10000 WHERE id = 3; UPDATE gh SET id = id + 10000 WHERE id = 3;
SELECT kind, versions, visible FROM columnar_stats('g') ORDER BY first_row;
SELECT columnar_check('g');
-- VACUUM removes the dead rows of the group (marked gone in their overlays) and folds the
-- segment of the new versions.
SET omendb.columnar_fold_min_rows = 100;
VACUUM g;
SELECT kind, versions, visible FROM columnar_stats('g') ORDER BY first_row;
:g_diff;
SELECT columnar_check('g');
-- Columns added and dropped after a fold.
ALTER TABLE g ADD COLUMN extra int DEFAULT 7; ALTER TABLE gh ADD COLUMN extra int DEFAULT 7;
ALTER TABLE g DROP COLUMN b; ALTER TABLE gh DROP COLUMN b;
:g_diff;
SELECT extra, count(*) FROM g GROUP BY extra;
ANALYZE g;
SELECT reltuples FROM pg_class WHERE relname = 'g';
-- Rewrites read the groups too.
VACUUM FULL g;
:g_diff;
ALTER TABLE g SET ACCESS METHOD heap;
:g_diff;
RESET omendb.columnar_fold_min_rows;
-- Folding makes the file smaller: data pages take the lowest free runs, and free pages at the
-- end are cut off.
CREATE TABLE shrink (id int, v text) USING columnar;
INSERT INTO shrink SELECT g, 'value ' || (g % 50) FROM generate_series(1, 20000) g;
SELECT pg_relation_size('shrink') AS before \gset
VACUUM shrink;
SELECT pg_relation_size('shrink') * 4 < :before AS under_a_quarter, columnar_check('shrink'), count(*), sum(id) FROM shrink;
INSERT INTO shrink VALUES (0, 'after');
SELECT count(*), columnar_check('shrink') FROM shrink;
-- A fold that fails after writing its data pages leaves them pending in the segment page (the
-- table keeps its delta rows, and columnar_check accepts the pages); the next VACUUM frees them.
INSERT INTO shrink SELECT g, 'more' FROM generate_series(20001, 40000) g;
SET omendb.columnar_fail_fold = on;
VACUUM shrink;
RESET omendb.columnar_fail_fold;
SELECT kind, versions FROM columnar_stats('shrink') ORDER BY first_row;
SELECT count(*), sum(id), columnar_check('shrink') FROM shrink;
SELECT pg_relation_size('shrink') AS failed \gset
VACUUM shrink;
SELECT kind, versions FROM columnar_stats('shrink') ORDER BY first_row;
SELECT count(*), sum(id), columnar_check('shrink'), pg_relation_size('shrink') < :failed AS smaller FROM shrink;

DROP TABLE shrink;
DROP TABLE child, child2, parent, c, h, sc, fresh, u, wide_h, wide_c, g, gh;
