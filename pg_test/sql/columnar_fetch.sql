-- Fetches by TID from a columnar table form only the columns their plan node reads
-- (omendb.enable_columnar_fetch_projection). Every query runs on a heap table and a columnar
-- copy with the same indexes, through index, index-only, bitmap and parallel bitmap scans, with
-- JIT compilation forced where the server has it (JIT-compiled deforming trusts NOT NULL, so
-- columns left out of a fetched row must still look present): the answers must be the same.
-- Changes through index scans (UPDATE, DELETE RETURNING, MERGE, ON CONFLICT, FOR UPDATE,
-- triggers that read whole rows) must leave both tables the same.
SET client_min_messages = warning;
SET omendb.columnar_fold_min_rows = 1;
SET omendb.enable_columnar_scan = off;

CREATE TABLE fh (id int8 NOT NULL, a int4 NOT NULL, n numeric NOT NULL, t text NOT NULL,
  nm name NOT NULL, u uuid NOT NULL, c char(3) NOT NULL, iv interval NOT NULL, arr int4[] NOT NULL,
  x text, y float8, z numeric);
INSERT INTO fh SELECT g, (g * 7919) % 3000, g * 1.25, repeat(chr(97 + g % 26), 1 + g % 40),
  'n' || g % 100, md5(g::text)::uuid, chr(65 + g % 26), g * interval '1 minute', ARRAY[g, -g],
  CASE WHEN g % 5 = 0 THEN NULL ELSE 'x' || g END, CASE WHEN g % 7 = 0 THEN NULL ELSE g / 3.0 END,
  CASE WHEN g % 11 = 0 THEN NULL ELSE g * 0.001 END
FROM generate_series(1, 6000) g;
CREATE TABLE fc (LIKE fh INCLUDING ALL) USING columnar;
INSERT INTO fc SELECT * FROM fh;
-- Most rows in row groups, the newest in delta pages.
VACUUM fc;
INSERT INTO fh SELECT g, g % 3000, g, 'late', 'late', md5(g::text)::uuid, 'L', interval '1 day', '{}', NULL, NULL, NULL
FROM generate_series(6001, 6100) g;
INSERT INTO fc SELECT * FROM fh WHERE id > 6000;
CREATE UNIQUE INDEX fh_id ON fh (id); CREATE UNIQUE INDEX fc_id ON fc (id);
CREATE INDEX fh_t ON fh (t); CREATE INDEX fc_t ON fc (t);
CREATE INDEX fh_a ON fh (a); CREATE INDEX fc_a ON fc (a);
-- A hash index asks for every row to be rechecked by the original clause: its column must be
-- formed then (btree's rows are not rechecked, and leave out columns only that clause reads).
CREATE INDEX fh_nm ON fh USING hash (nm); CREATE INDEX fc_nm ON fc USING hash (nm);
ANALYZE fh; ANALYZE fc;

-- Rows one query returns on one table and not on the other (as multisets), per plan kind.
CREATE FUNCTION differ(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE plan text; n bigint; out text := '';
BEGIN
  FOREACH plan IN ARRAY ARRAY['index', 'indexonly', 'bitmap', 'parallel'] LOOP
    PERFORM set_config('enable_seqscan', 'off', true);
    PERFORM set_config('enable_indexscan', (plan = 'index')::text, true);
    PERFORM set_config('enable_indexonlyscan', (plan IN ('index', 'indexonly'))::text, true);
    PERFORM set_config('enable_bitmapscan', (plan IN ('bitmap', 'parallel'))::text, true);
    PERFORM set_config('max_parallel_workers_per_gather', CASE WHEN plan = 'parallel' THEN '2' ELSE '0' END, true);
    EXECUTE format('SELECT count(*) FROM (((%1$s) EXCEPT ALL (%2$s)) UNION ALL ((%2$s) EXCEPT ALL (%1$s))) d',
      replace(q, '$T', 'fh'), replace(q, '$T', 'fc')) INTO n;
    out := out || plan || '=' || n || ' ';
  END LOOP;
  RETURN rtrim(out);
END $$;

SET jit = on; SET jit_above_cost = 0; SET jit_inline_above_cost = -1; SET jit_optimize_above_cost = -1;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SELECT q, differ(q) FROM (VALUES
  ('SELECT id, t, u FROM $T WHERE id BETWEEN 100 AND 900'),
  ('SELECT id FROM $T WHERE id BETWEEN 10 AND 5000'),
  ('SELECT a, nm, iv FROM $T WHERE id < 3000 AND id % 7 = 3'),
  ('SELECT * FROM $T WHERE id < 300 OR id > 5990'),
  ('SELECT f::text FROM $T f WHERE id BETWEEN 5900 AND 6050'),
  ('SELECT t, y, z FROM $T WHERE t > ''m'' AND t < ''p'''),
  ('SELECT id, c FROM $T WHERE id < 2000 AND length(t) + a > 1500'),
  ('SELECT c, count(*), sum(n), max(arr) FROM $T WHERE id < 4000 GROUP BY c'),
  ('SELECT u, x FROM $T WHERE a < 700 ORDER BY x NULLS FIRST, u'),
  ('SELECT f.c, g.z, g.iv FROM $T f JOIN $T g ON g.id = f.a WHERE f.id < 500'),
  ('SELECT id, (SELECT max(n) FROM $T g WHERE g.a = f.id) FROM $T f WHERE id < 300'),
  ('SELECT id, nm FROM $T WHERE id IN (SELECT a FROM $T WHERE id < 200)'),
  ('SELECT ctid IS NOT NULL, tableoid > 0, id FROM $T WHERE id < 50'),
  ('SELECT id, u FROM $T WHERE nm = ''n7'''),
  ('SELECT a FROM $T WHERE id BETWEEN 2000 AND 2300 AND a % 3 = 0')
) v(q);
SET enable_seqscan = off; SET enable_bitmapscan = off;
EXPLAIN (costs off) SELECT id, u FROM fc WHERE nm = 'n7';
RESET enable_seqscan; RESET enable_bitmapscan;
RESET jit; RESET jit_above_cost; RESET jit_inline_above_cost; RESET jit_optimize_above_cost;
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;

-- A bitmap too large for work_mem turns lossy: whole blocks are read and each of their rows
-- rechecked (PostgreSQL 18 hands lossy blocks to the table AM through its own iterator). The
-- plan shows lossy blocks; the answers match heap's, deleted rows and delta rows included.
CREATE TABLE lh (id int, k int, t text);
INSERT INTO lh SELECT g, (g * 37) % 1000, 'r' || g FROM generate_series(1, 500000) g;
CREATE TABLE lc (LIKE lh) USING columnar;
-- COPY: row by row, half a million rows take a debug build minutes.
COPY lh TO PROGRAM 'cat > omendb_lossy.data';
COPY lc FROM PROGRAM 'cat omendb_lossy.data && rm omendb_lossy.data';
VACUUM lc;
INSERT INTO lh SELECT g, (g * 37) % 1000, 'late' || g FROM generate_series(500001, 501000) g;
INSERT INTO lc SELECT * FROM lh WHERE id > 500000;
DELETE FROM lh WHERE id % 97 = 0; DELETE FROM lc WHERE id % 97 = 0;
CREATE INDEX lh_k ON lh (k); CREATE INDEX lc_k ON lc USING alex (k);
CREATE INDEX lh_t ON lh (t); CREATE INDEX lc_t ON lc (t);
ANALYZE lh, lc;
-- Whether the plan of q is a bitmap heap scan of lc that met lossy blocks.
CREATE FUNCTION lossy_blocks(q text) RETURNS bool LANGUAGE plpgsql AS $$
DECLARE line text; bitmap bool := false; lossy bool := false;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
    bitmap := bitmap OR line ~ 'Bitmap Heap Scan on lc';
    lossy := lossy OR line ~ 'lossy=[1-9]';
  END LOOP;
  RETURN bitmap AND lossy;
END $$;
SET work_mem = '64kB'; SET enable_seqscan = off; SET enable_indexscan = off; SET enable_indexonlyscan = off;
SELECT lossy_blocks('SELECT count(*) FROM lc WHERE k < 300') AS lossy_alex,
       lossy_blocks($$SELECT count(*) FROM lc WHERE t > 'r2'$$) AS lossy_btree;
SELECT count(*), sum(id), min(t), max(t) FROM lc WHERE k < 300;
SELECT count(*), sum(id), min(t), max(t) FROM lh WHERE k < 300;
SELECT count(*), sum(id) FROM lc WHERE k < 300 AND t LIKE '%7';
SELECT count(*), sum(id) FROM lh WHERE k < 300 AND t LIKE '%7';
SELECT count(*), sum(k) FROM lc WHERE t > 'r2';
SELECT count(*), sum(k) FROM lh WHERE t > 'r2';
RESET work_mem; RESET enable_seqscan; RESET enable_indexscan; RESET enable_indexonlyscan;
DROP TABLE lh, lc;

-- The scans emit only the columns they read, and say so.
SET enable_seqscan = off; SET enable_bitmapscan = off;
EXPLAIN (verbose, costs off) SELECT sum(n) FROM fc WHERE id BETWEEN 1 AND 10;
EXPLAIN (verbose, costs off) SELECT id FROM fc WHERE id BETWEEN 1 AND 10;
SET enable_indexscan = off; SET enable_bitmapscan = on;
EXPLAIN (verbose, costs off) SELECT c, y FROM fc WHERE t = 'abc';
RESET enable_seqscan; RESET enable_indexscan; RESET enable_bitmapscan;

-- Changes whose rows are found through index scans. Triggers log whole old and new rows.
CREATE TABLE log_h (op text, old_row text, new_row text);
CREATE TABLE log_c (LIKE log_h);
CREATE FUNCTION log_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('INSERT INTO %I VALUES ($1, $2, $3)', TG_ARGV[0]) USING TG_OP, OLD::text, NEW::text;
  RETURN coalesce(NEW, OLD);
END $$;
CREATE TRIGGER log_h BEFORE UPDATE OR DELETE ON fh FOR EACH ROW EXECUTE FUNCTION log_row('log_h');
CREATE TRIGGER log_c BEFORE UPDATE OR DELETE ON fc FOR EACH ROW EXECUTE FUNCTION log_row('log_c');
CREATE FUNCTION on_both(stmt text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE replace(stmt, '$T', 'fh');
  EXECUTE replace(stmt, '$T', 'fc');
END $$;
SET enable_seqscan = off; SET enable_bitmapscan = off;
SELECT on_both('UPDATE $T SET x = t || ''u'', n = n + a WHERE id BETWEEN 10 AND 40');
SELECT on_both('UPDATE $T f SET z = g.n FROM $T g WHERE g.id = f.a AND f.id BETWEEN 41 AND 60');
CREATE TABLE gone_h AS WITH d AS (DELETE FROM fh WHERE id BETWEEN 61 AND 70 RETURNING *) SELECT * FROM d;
CREATE TABLE gone_c AS WITH d AS (DELETE FROM fc WHERE id BETWEEN 61 AND 70 RETURNING *) SELECT * FROM d;
SELECT count(*) AS deleted, (SELECT count(*) FROM ((TABLE gone_h EXCEPT ALL TABLE gone_c) UNION ALL (TABLE gone_c EXCEPT ALL TABLE gone_h)) d) AS differ FROM gone_h;
SELECT on_both('MERGE INTO $T f USING (SELECT g AS id FROM generate_series(71, 80) g) s ON f.id = s.id
  WHEN MATCHED AND f.a % 2 = 0 THEN UPDATE SET y = f.y * 2, t = f.t || f.c
  WHEN MATCHED THEN DELETE');
SELECT on_both('INSERT INTO $T SELECT id, a, n, t, nm, u, c, iv, arr, ''conflict'', y, z FROM $T WHERE id BETWEEN 81 AND 90
  ON CONFLICT (id) DO UPDATE SET x = EXCLUDED.x || $T.t, arr = $T.arr || EXCLUDED.a');
BEGIN;
CREATE TABLE locked_h AS SELECT id, t, iv FROM fh WHERE id BETWEEN 91 AND 99 FOR UPDATE;
CREATE TABLE locked_c AS SELECT id, t, iv FROM fc WHERE id BETWEEN 91 AND 99 FOR UPDATE;
COMMIT;
SELECT count(*) AS locked, (SELECT count(*) FROM ((TABLE locked_h EXCEPT ALL TABLE locked_c) UNION ALL (TABLE locked_c EXCEPT ALL TABLE locked_h)) d) AS differ FROM locked_h;
RESET enable_seqscan; RESET enable_bitmapscan;
SELECT (SELECT count(*) FROM log_h) AS logged,
  (SELECT count(*) FROM ((TABLE log_h EXCEPT ALL TABLE log_c) UNION ALL (TABLE log_c EXCEPT ALL TABLE log_h)) d) AS log_differ,
  (SELECT count(*) FROM ((TABLE fh EXCEPT ALL TABLE fc) UNION ALL (TABLE fc EXCEPT ALL TABLE fh)) d) AS table_differ;

-- A cursor over an index scan read forwards and backwards, and with projection off.
BEGIN;
SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off;
DECLARE cur SCROLL CURSOR FOR SELECT id, iv, c FROM fc WHERE id BETWEEN 100 AND 110 ORDER BY id;
FETCH 3 FROM cur;
FETCH BACKWARD 2 FROM cur;
FETCH LAST FROM cur;
COMMIT;
SET omendb.enable_columnar_fetch_projection = off;
SET enable_seqscan = off; SET enable_bitmapscan = off;
EXPLAIN (verbose, costs off) SELECT sum(n) FROM fc WHERE id BETWEEN 1 AND 10;
SELECT sum(n), count(*) FROM fc WHERE id BETWEEN 1 AND 1000;
RESET omendb.enable_columnar_fetch_projection;
SELECT sum(n), count(*) FROM fc WHERE id BETWEEN 1 AND 1000;
SELECT sum(n), count(*) FROM fh WHERE id BETWEEN 1 AND 1000;
RESET enable_seqscan; RESET enable_bitmapscan;
SELECT columnar_check('fc');
DROP TABLE fh, fc, log_h, log_c, gone_h, gone_c, locked_h, locked_c;
DROP FUNCTION differ(text), on_both(text), log_row();

-- Bitmap scans do not prefetch a columnar table's blocks: a bitmap names logical blocks, which
-- outrun the file's pages (each fold starts a new range of row numbers), and prefetching a block
-- in a 1 GB segment past the file's last fails in md.c.
CREATE TABLE pf (id int, v int) USING columnar;
CREATE INDEX pf_id ON pf (id);
SET effective_io_concurrency = 8;
-- Eighty ten-row inserts, each folded by VACUUM (not echoed).
\set ECHO none
SELECT format('INSERT INTO pf SELECT g, -g FROM generate_series(%s, %s) g', i * 10, i * 10 + 9), 'VACUUM pf'
FROM generate_series(1, 80) i \gexec
\set ECHO all
SELECT pg_relation_size('pf') < 1024 * 1024 * 1024 AS small_file, (max(ctid)::text::point)[0] > 131072 AS past_first_segment FROM pf;
SET enable_seqscan = off; SET enable_indexscan = off; SET omendb.enable_columnar_scan = off;
EXPLAIN (costs off) SELECT count(*), sum(v) FROM pf WHERE id > 700;
SELECT count(*), sum(v) FROM pf WHERE id > 700;
SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0; SET min_parallel_index_scan_size = 0;
EXPLAIN (costs off) SELECT count(*), sum(v) FROM pf WHERE id > 700;
SELECT count(*), sum(v) FROM pf WHERE id > 700;
RESET ALL;
SELECT columnar_check('pf');
DROP TABLE pf;
