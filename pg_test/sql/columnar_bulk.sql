-- The bulk write path: COPY, INSERT, CREATE TABLE AS, materialized views and table rewrites
-- write the rows past a command's first 1000 as row groups (stamped with their transaction)
-- instead of into the delta store. Every answer is compared with a heap table holding the
-- same rows.
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
CREATE TABLE src AS
SELECT g AS id,
       CASE WHEN g % 11 = 0 THEN NULL ELSE (g * 7919) % 50000 END AS k,
       CASE WHEN g % 13 = 0 THEN NULL WHEN g % 500 = 1 THEN repeat(md5(g::text), 200) ELSE 'v' || (g % 97) END AS t,
       CASE WHEN g % 17 = 0 THEN NULL ELSE round(g / 7.0, 3) END AS n,
       CASE g % 5 WHEN 0 THEN 'NaN'::float8 WHEN 1 THEN 'Infinity' WHEN 2 THEN -g::float8 / 3 ELSE g END AS f,
       jsonb_build_object('g', g, 'a', ARRAY[g, g + 1]) AS j,
       ARRAY[g % 3, g % 5] AS a,
       timestamptz '2024-01-01' + g * interval '37 minutes' AS ts,
       g % 2 = 0 AS b
FROM generate_series(1, 30000) g;
COPY src TO PROGRAM 'cat > omendb_bulk.data';
CREATE TABLE bh (LIKE src);
CREATE TABLE bc (LIKE src) USING columnar;
ALTER TABLE bh ADD PRIMARY KEY (id);
ALTER TABLE bc ADD PRIMARY KEY (id);
CREATE INDEX bc_k ON bc USING alex (k);
CREATE INDEX bh_k ON bh (k);
COPY bh FROM PROGRAM 'cat omendb_bulk.data';
COPY bc FROM PROGRAM 'cat omendb_bulk.data';
-- COPY's first batch (up to 1000 rows) went to the delta store, the rest to row groups of
-- growing size.
SELECT kind, count(*), sum(versions) FROM columnar_stats('bc') GROUP BY kind ORDER BY kind;
SELECT columnar_check('bc');
-- The rows a query gives on bc, and whether they are heap's (bh's) rows.
CREATE FUNCTION bulk_same(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE missing bigint; extra bigint; total bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM ((%s) EXCEPT ALL (%s)) x', replace(q, '%T', 'bh'), replace(q, '%T', 'bc')) INTO missing;
  EXECUTE format('SELECT count(*) FROM ((%s) EXCEPT ALL (%s)) x', replace(q, '%T', 'bc'), replace(q, '%T', 'bh')) INTO extra;
  EXECUTE format('SELECT count(*) FROM (%s) x', replace(q, '%T', 'bc')) INTO total;
  RETURN total || ' rows, ' || CASE WHEN missing + extra = 0 THEN 'as heap' ELSE missing || ' missing, ' || extra || ' extra' END;
END $$;
SELECT bulk_same('SELECT * FROM %T');
-- Encoding on a thread stores the same bytes as encoding in the backend.
SET omendb.columnar_encoder_thread = off;
CREATE TABLE bc_inline (LIKE src) USING columnar;
COPY bc_inline FROM PROGRAM 'cat omendb_bulk.data';
RESET omendb.columnar_encoder_thread;
SELECT (SELECT array_agg((kind, first_row, row_numbers, pages, bytes) ORDER BY first_row) FROM columnar_stats('bc'))
     = (SELECT array_agg((kind, first_row, row_numbers, pages, bytes) ORDER BY first_row) FROM columnar_stats('bc_inline')) AS same_bytes;
DROP TABLE bc_inline;
SELECT bulk_same('SELECT id, length(t), md5(t) FROM %T WHERE t IS NOT NULL AND length(t) > 100');
SELECT bulk_same('SELECT k, count(*), sum(n), min(ts), max(f) FROM %T GROUP BY k');
-- Through each access path, on rows written by the bulk path.
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM bc WHERE id BETWEEN 20000 AND 20100;
SELECT bulk_same('SELECT * FROM %T WHERE id BETWEEN 20000 AND 20100');
EXPLAIN (COSTS OFF) SELECT * FROM bc WHERE k < 300;
SELECT bulk_same('SELECT * FROM %T WHERE k < 300');
SET enable_indexscan = off;
SET enable_bitmapscan = on;
EXPLAIN (COSTS OFF) SELECT * FROM bc WHERE k < 300 OR id < 50;
SELECT bulk_same('SELECT * FROM %T WHERE k < 300 OR id < 50');
RESET enable_seqscan;
RESET enable_indexscan;
RESET enable_bitmapscan;
EXPLAIN (COSTS OFF) SELECT id, k FROM bc WHERE k > 49900;
SELECT bulk_same('SELECT id, k FROM %T WHERE k > 49900');
-- The stamp is the loading transaction's until VACUUM sees it committed for every snapshot and
-- freezes it (xmin then reads as the frozen transaction id, 2).
SELECT count(*) FILTER (WHERE xmin::text = '2') AS frozen, count(*) FILTER (WHERE xmin::text <> '2') AS stamped FROM bc WHERE id > 1000;
VACUUM bc;
SELECT count(*) FILTER (WHERE xmin::text = '2') AS frozen, count(*) FILTER (WHERE xmin::text <> '2') AS stamped FROM bc WHERE id > 1000;
SELECT columnar_check('bc');

-- A rolled-back COPY leaves nothing visible; VACUUM removes its index entries and empties its
-- ranges.
BEGIN;
COPY bc FROM PROGRAM 'cat omendb_bulk.data | awk ''BEGIN { OFS = FS = "\t" } { $1 = $1 + 100000; print }''';
SELECT count(*) FROM bc;
ROLLBACK;
SELECT count(*) FROM bc;
SET enable_seqscan = off;
SELECT count(*) FROM bc WHERE id > 100000;
RESET enable_seqscan;
SELECT kind, count(*), sum(versions), sum(visible) FROM columnar_stats('bc') GROUP BY kind ORDER BY kind;
VACUUM bc;
SELECT kind, count(*), sum(versions), sum(visible) FROM columnar_stats('bc') GROUP BY kind ORDER BY kind;
SELECT columnar_check('bc');
SET enable_seqscan = off;
SELECT count(*) FROM bc WHERE id > 100000;
RESET enable_seqscan;

-- Savepoints: the rolled-back COPY's rows vanish, the kept one's stay; the transaction's own
-- deletes, updates and locks of buffered rows, then a rollback of them.
BEGIN;
SAVEPOINT a;
COPY bc FROM PROGRAM 'cat omendb_bulk.data | awk ''BEGIN { OFS = FS = "\t" } { $1 = $1 + 200000; print }''';
ROLLBACK TO a;
COPY bc FROM PROGRAM 'cat omendb_bulk.data | awk ''BEGIN { OFS = FS = "\t" } { $1 = $1 + 300000; print }''';
COPY bh FROM PROGRAM 'cat omendb_bulk.data | awk ''BEGIN { OFS = FS = "\t" } { $1 = $1 + 300000; print }''';
DELETE FROM bc WHERE id > 300000 AND id % 100 = 7;
DELETE FROM bh WHERE id > 300000 AND id % 100 = 7;
UPDATE bc SET t = 'updated' WHERE id BETWEEN 310000 AND 310050;
UPDATE bh SET t = 'updated' WHERE id BETWEEN 310000 AND 310050;
SELECT count(*) FROM (SELECT * FROM bc WHERE id BETWEEN 320000 AND 320100 FOR UPDATE) l;
SAVEPOINT b;
DELETE FROM bc WHERE id > 300000 AND id % 100 = 8;
UPDATE bc SET k = -1 WHERE id > 325000;
ROLLBACK TO b;
SELECT bulk_same('SELECT * FROM %T');
COMMIT;
SELECT bulk_same('SELECT * FROM %T');
VACUUM bc;
SELECT bulk_same('SELECT * FROM %T');
SELECT columnar_check('bc');

-- A duplicate key in the loaded rows fails the COPY: nothing of it stays.
COPY bc (id) FROM PROGRAM '(seq 400001 403000; echo 400002)';
SELECT count(*) FROM bc WHERE id > 400000;
-- ... and a key that another committed COPY holds.
COPY bc (id) FROM PROGRAM 'seq 500001 503000';
COPY bc (id) FROM PROGRAM 'seq 503000 506000';
SELECT count(*) FROM bc WHERE id > 500000;
-- A COPY that fails, or is cancelled, while filled vectors wait for the encoder thread.
COPY bc (id) FROM PROGRAM '(seq 600001 620000; echo x)';
\set VERBOSITY terse
SET statement_timeout = '2s';
COPY bc (id) FROM PROGRAM 'seq 700001 900000000';
RESET statement_timeout;
\set VERBOSITY default
SELECT count(*) FROM bc WHERE id > 600000;

-- Foreign keys and triggers read buffered rows during the COPY: the buffer is written first.
CREATE TABLE parent (id int PRIMARY KEY) USING columnar;
COPY parent FROM PROGRAM 'seq 1 5000';
CREATE TABLE child (id int PRIMARY KEY, p int REFERENCES parent) USING columnar;
CREATE TABLE child_log (n bigint);
CREATE FUNCTION child_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO child_log SELECT count(*) FROM child; RETURN NULL; END $$;
CREATE TRIGGER child_count AFTER INSERT ON child FOR EACH STATEMENT EXECUTE FUNCTION child_count();
COPY child FROM PROGRAM 'seq 1 4000 | awk ''{ print $1 "\t" ($1 % 5000) + 1 }''';
SELECT count(*), count(DISTINCT p) FROM child;
SELECT * FROM child_log;
COPY child FROM PROGRAM 'seq 4001 8000 | awk ''{ print $1 "\t" $1 }''';
SELECT count(*) FROM child;
-- A BEFORE trigger that reads the table on every row: the buffer is written before each read,
-- and after a few such writes the command's rows go to the delta store.
CREATE FUNCTION child_seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.p := (SELECT count(*) % 5000 + 1 FROM child WHERE id > 10000); RETURN NEW; END $$;
CREATE TRIGGER child_seen BEFORE INSERT ON child FOR EACH ROW EXECUTE FUNCTION child_seen();
COPY child (id) FROM PROGRAM 'seq 10001 11500';
SELECT count(*), min(p), max(p), sum(p) FROM child WHERE id > 10000;
SELECT columnar_check('child');

-- CREATE TABLE AS, a materialized view, and SET ACCESS METHOD rewrite through the bulk path.
CREATE TABLE ctas USING columnar AS SELECT * FROM bh;
SELECT kind, count(*), sum(versions) FROM columnar_stats('ctas') GROUP BY kind ORDER BY kind;
SELECT (SELECT count(*) FROM (TABLE ctas EXCEPT ALL TABLE bh) a) + (SELECT count(*) FROM (TABLE bh EXCEPT ALL TABLE ctas) b) AS differences;
CREATE MATERIALIZED VIEW mv USING columnar AS SELECT k, count(*) AS c FROM bh GROUP BY k;
REFRESH MATERIALIZED VIEW mv;
SELECT count(*), sum(c) FROM mv;
CREATE TABLE moved AS SELECT * FROM bh;
ALTER TABLE moved SET ACCESS METHOD columnar;
SELECT (SELECT count(*) FROM (TABLE moved EXCEPT ALL TABLE bh) a) + (SELECT count(*) FROM (TABLE bh EXCEPT ALL TABLE moved) b) AS differences;
SELECT columnar_check('moved'), columnar_check('ctas'), columnar_check('mv');
-- COPY FREEZE into a table created in the same transaction (the stamp is marked frozen, as
-- heap marks its tuples).
BEGIN;
CREATE TABLE frozen (id int) USING columnar;
COPY frozen FROM PROGRAM 'seq 1 3000' WITH (FREEZE);
COMMIT;
SELECT count(*), sum(id) FROM frozen;
-- An unlogged table and a partitioned one.
CREATE UNLOGGED TABLE ul (id int, t text) USING columnar;
COPY ul FROM PROGRAM 'seq 1 5000 | awk ''{ print $1 "\tu" $1 }''';
SELECT count(*), sum(id) FROM ul;
CREATE TABLE pt (id int, t text) PARTITION BY RANGE (id);
CREATE TABLE pt1 PARTITION OF pt FOR VALUES FROM (0) TO (3000) USING columnar;
CREATE TABLE pt2 PARTITION OF pt FOR VALUES FROM (3000) TO (10000) USING columnar;
COPY pt FROM PROGRAM 'seq 1 9999 | awk ''{ print $1 "\tp" $1 }''';
SELECT tableoid::regclass, count(*), sum(id) FROM pt GROUP BY 1 ORDER BY 1;
SELECT columnar_check('pt1'), columnar_check('pt2');
-- A table with an exclusion constraint never buffers (another backend's check compares the
-- values of the rows it fetches): its rows go to the delta store.
CREATE TABLE excl (id int, EXCLUDE USING btree (id WITH =)) USING columnar;
COPY excl FROM PROGRAM 'seq 1 3000';
SELECT kind, count(*), sum(versions) FROM columnar_stats('excl') GROUP BY kind ORDER BY kind;
COPY excl FROM PROGRAM 'seq 2999 3001';
-- Nor does one with a unique index on a function that is not strict (an ON CONFLICT check of
-- another backend computes it over the row it fetched, before waiting); a strict one buffers.
CREATE FUNCTION must_not_be_null(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF $1 IS NULL THEN RAISE EXCEPTION 'must_not_be_null(NULL)'; END IF;
  RETURN $1;
END $$;
CREATE TABLE nonstrict (id int) USING columnar;
CREATE UNIQUE INDEX ON nonstrict (must_not_be_null(id));
COPY nonstrict FROM PROGRAM 'seq 1 3000';
CREATE TABLE strict_expr (id int) USING columnar;
CREATE UNIQUE INDEX ON strict_expr ((id + 1));
COPY strict_expr FROM PROGRAM 'seq 1 3000';
SELECT 'nonstrict' AS t, kind, count(*) FROM columnar_stats('nonstrict') GROUP BY kind
UNION ALL SELECT 'strict_expr', kind, count(*) FROM columnar_stats('strict_expr') GROUP BY kind ORDER BY 1, 2;
INSERT INTO nonstrict VALUES (3000) ON CONFLICT (must_not_be_null(id)) DO NOTHING;
SELECT count(*) FROM nonstrict;
DROP TABLE nonstrict, strict_expr;
DROP FUNCTION must_not_be_null(int);
-- A plain INSERT of many rows buffers them too (past its first 1000). It has no end-of-command
-- callback: its buffer is written when this backend next reads the table (in the same command
-- too), when another command inserts, before TRUNCATE, before a plan with parallel workers, and
-- at commit.
CREATE TABLE ic (id int, t text) USING columnar;
CREATE INDEX ic_id ON ic (id);
INSERT INTO ic SELECT g, 'i' || g FROM generate_series(1, 20000) g;
SELECT kind, count(*), sum(versions) FROM columnar_stats('ic') GROUP BY kind ORDER BY kind;
BEGIN;
INSERT INTO ic SELECT g, 'j' || g FROM generate_series(20001, 25000) g;
SELECT count(*), sum(id) FROM ic;
WITH ins AS (INSERT INTO ic SELECT g, 'k' || g FROM generate_series(25001, 30000) g RETURNING id)
SELECT (SELECT count(*) FROM ins) AS inserted, (SELECT count(*) FROM ic) AS seen_before;
INSERT INTO ic SELECT id + 100000, t FROM ic;
SELECT count(*), sum(id) FROM ic;
SET LOCAL enable_seqscan = off;
SELECT count(*), sum(id) FROM ic WHERE id BETWEEN 24000 AND 126000;
ROLLBACK;
SELECT count(*), sum(id) FROM ic;
-- TRUNCATE in a savepoint that rolls back: the buffered rows went to the old file first.
BEGIN;
INSERT INTO ic SELECT g, 'l' || g FROM generate_series(40001, 45000) g;
SAVEPOINT s;
TRUNCATE ic;
ROLLBACK TO s;
COMMIT;
SELECT count(*), sum(id) FROM ic WHERE id > 40000;
-- Savepoints: the rows of the rolled-back one vanish, those of the released one stay.
BEGIN;
SAVEPOINT a;
INSERT INTO ic SELECT g, 'n' || g FROM generate_series(60001, 65000) g;
ROLLBACK TO a;
SAVEPOINT b;
INSERT INTO ic SELECT g, 'o' || g FROM generate_series(70001, 75000) g;
RELEASE b;
COMMIT;
SELECT count(*) FILTER (WHERE id BETWEEN 60001 AND 65000) AS rolled_back, count(*) FILTER (WHERE id BETWEEN 70001 AND 75000) AS released FROM ic;
-- A plan with parallel workers in the same transaction: the buffer is written before it starts.
BEGIN;
INSERT INTO ic SELECT g, 'm' || g FROM generate_series(50001, 60000) g;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL omendb.enable_columnar_aggregate = off;
EXPLAIN (COSTS OFF) SELECT count(*), sum(id) FROM ic WHERE t LIKE 'm%';
SELECT count(*), sum(id) FROM ic WHERE t LIKE 'm%';
COMMIT;
-- A table dropped after a buffered INSERT, in the same transaction.
BEGIN;
CREATE TABLE gone (id int) USING columnar;
INSERT INTO gone SELECT generate_series(1, 5000);
DROP TABLE gone;
COMMIT;
SELECT columnar_check('ic');
VACUUM ic;
SELECT count(*), sum(id) FROM ic;
SELECT columnar_check('ic');
COPY bc FROM PROGRAM 'rm omendb_bulk.data';
DROP MATERIALIZED VIEW mv;
DROP TABLE bh, bc, child, parent, child_log, ctas, moved, frozen, ul, pt, excl, ic, src;
DROP FUNCTION bulk_same(text), child_count(), child_seen();
