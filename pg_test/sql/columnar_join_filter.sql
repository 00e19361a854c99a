-- Join key filters: a hash join over the columnar scan node passes the integer or date keys of
-- its inner side to the scan, which forms no row group row whose key the inner side lacks.
-- Every answer is compared with heap's; EXPLAIN shows where a filter is linked, and where it
-- must not be (joins that keep outer rows without a match, parallel-aware hashes).
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
SET enable_nestloop = off; SET enable_mergejoin = off;
CREATE TABLE fh (id int, k int4, k8 int8, d date, v int);
INSERT INTO fh SELECT g, CASE WHEN g % 97 = 0 THEN NULL ELSE g % 5000 END, g % 7000,
  date '2020-01-01' + g % 1000, g FROM generate_series(1, 60000) g;
CREATE TABLE fc (LIKE fh) USING columnar;
INSERT INTO fc SELECT * FROM fh;
-- Rows in delta pages, deleted and updated rows.
INSERT INTO fh VALUES (-1, 7, 7, date '2020-01-08', -1), (-2, NULL, NULL, NULL, -2);
INSERT INTO fc VALUES (-1, 7, 7, date '2020-01-08', -1), (-2, NULL, NULL, NULL, -2);
DELETE FROM fh WHERE id % 89 = 0; DELETE FROM fc WHERE id % 89 = 0;
UPDATE fh SET k = k + 1 WHERE id % 83 = 0; UPDATE fc SET k = k + 1 WHERE id % 83 = 0;
-- The inner sides: a few keys (and NULLs), and many (more than work_mem holds below).
CREATE TABLE dim (k int4, k8 int8, d date, name text);
INSERT INTO dim SELECT CASE WHEN g % 50 = 0 THEN NULL ELSE g * 37 END, g * 41, date '2020-01-01' + g * 3, chr(97 + g % 26) || g
FROM generate_series(1, 150) g;
CREATE TABLE big (k int4, pad text);
INSERT INTO big SELECT g * 2, repeat('p', 40) FROM generate_series(1, 20000) g;
ANALYZE fh, fc, dim, big;

CREATE FUNCTION same(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE h text; c text;
BEGIN
  EXECUTE 'SELECT coalesce(md5(string_agg(x::text, '';'' ORDER BY x::text)), ''-'') || '' '' || count(*) FROM (' || replace(q, '$F', 'fh') || ') x' INTO h;
  EXECUTE 'SELECT coalesce(md5(string_agg(x::text, '';'' ORDER BY x::text)), ''-'') || '' '' || count(*) FROM (' || replace(q, '$F', 'fc') || ') x' INTO c;
  RETURN CASE WHEN h = c THEN 'same, ' || split_part(c, ' ', 2) || ' rows' ELSE 'DIFFERENT: ' || h || ' <> ' || c END;
END $$;
-- The rows the filter removed, from EXPLAIN ANALYZE (NULL when no filter was linked).
CREATE FUNCTION filtered(q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE l text; n bigint;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || replace(q, '$F', 'fc') LOOP
    IF l ~ 'Rows Removed by Join Key Filter' THEN n := coalesce(n, 0) + substring(l from '(\d+)$')::bigint; END IF;
  END LOOP;
  RETURN n;
END $$;
CREATE TABLE q (name text, q text);
INSERT INTO q VALUES
  ('inner', 'SELECT f.id, d.name FROM $F f JOIN dim d ON f.k = d.k'),
  ('int8 with int4', 'SELECT f.id, d.name FROM $F f JOIN dim d ON f.k8 = d.k'),
  ('int4 with int8', 'SELECT f.id FROM $F f JOIN dim d ON f.k = d.k8'),
  ('date', 'SELECT f.id, d.name FROM $F f JOIN dim d ON f.d = d.d'),
  ('two keys', 'SELECT f.id FROM $F f JOIN dim d ON f.k = d.k AND f.v = d.k + 5000'),
  ('semi', 'SELECT f.id FROM $F f WHERE f.k IN (SELECT k FROM dim WHERE name < ''m'')'),
  ('right', 'SELECT f.id, d.name FROM dim d LEFT JOIN $F f ON f.k = d.k'),
  ('left', 'SELECT f.id, d.name FROM $F f LEFT JOIN dim d ON f.k = d.k'),
  ('anti', 'SELECT f.id FROM $F f WHERE NOT EXISTS (SELECT 1 FROM dim d WHERE d.k = f.k)'),
  ('full', 'SELECT f.id, d.name FROM $F f FULL JOIN dim d ON f.k = d.k'),
  ('with clauses', 'SELECT f.id, d.name FROM $F f JOIN dim d ON f.k = d.k WHERE f.v > 1000 AND d.name > ''c'''),
  ('expression key', 'SELECT f.id FROM $F f JOIN dim d ON f.k + 1 = d.k'),
  ('empty inner', 'SELECT f.id FROM $F f JOIN dim d ON f.k = d.k WHERE d.name = ''none''');
SELECT name, same(q), filtered(q) > 0 AS filtered FROM q ORDER BY name;
-- A right anti join (PostgreSQL 18 hashes the smaller side and probes it with the scan): an
-- outer row without a match decides nothing there either (15 has no right anti join).
SELECT same(q), current_setting('server_version_num')::int < 180000 OR filtered(q) > 0 AS filtered_on_18 FROM (VALUES
  ('SELECT d.name FROM dim d WHERE NOT EXISTS (SELECT 1 FROM $F f WHERE f.k = d.k)')) x(q);
SELECT same('SELECT d.name FROM dim d WHERE EXISTS (SELECT 1 FROM $F f WHERE f.k = d.k)');
EXPLAIN (COSTS OFF) SELECT f.id, d.name FROM fc f JOIN dim d ON f.k = d.k;
EXPLAIN (COSTS OFF) SELECT f.id, d.name FROM fc f LEFT JOIN dim d ON f.k = d.k;
-- An inner side larger than work_mem: several batches, every key in the filter.
SET work_mem = '64kB';
EXPLAIN (COSTS OFF) SELECT f.id FROM fc f JOIN big b ON f.k = b.k;
SELECT same('SELECT f.id FROM $F f JOIN big b ON f.k = b.k'), filtered('SELECT f.id FROM $F f JOIN big b ON f.k = b.k') > 0 AS filtered;
CREATE FUNCTION batches(q text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
    IF l ~ 'Batches: ' THEN RETURN substring(l from 'Batches: (\d+)')::int; END IF;
  END LOOP;
END $$;
SELECT batches('SELECT f.id FROM fc f JOIN big b ON f.k = b.k') > 1 AS several_batches;
DROP FUNCTION batches(text);
RESET work_mem;
-- Rescans: a hash table built again for each outer row of a subquery (its inner side reads
-- a parameter), and one kept (the parameter is on the scan's side).
SELECT same('SELECT x, (SELECT count(*) FROM $F f JOIN dim d ON f.k = d.k WHERE d.name < x) FROM (VALUES (''b''), (''m''), (''z''), (''a'')) v(x)');
SELECT same('SELECT x, (SELECT count(*) FROM $F f JOIN dim d ON f.k = d.k WHERE f.v < x) FROM (VALUES (100), (30000), (5), (60000)) v(x)');
-- The setting.
SET omendb.enable_columnar_join_filter = off;
SELECT same('SELECT f.id, d.name FROM $F f JOIN dim d ON f.k = d.k'), filtered('SELECT f.id, d.name FROM $F f JOIN dim d ON f.k = d.k');
RESET omendb.enable_columnar_join_filter;
-- Parallel plans: a parallel-aware hash holds a share of the inner rows in each process and
-- gets no filter; a hash each process builds whole does.
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT same('SELECT f.id, d.name FROM $F f JOIN dim d ON f.k = d.k'), same('SELECT f.id FROM $F f JOIN big b ON f.k = b.k');
SET enable_parallel_hash = off;
EXPLAIN (COSTS OFF) SELECT f.id FROM fc f JOIN big b ON f.k = b.k;
SELECT same('SELECT f.id FROM $F f JOIN big b ON f.k = b.k');
RESET ALL;
DROP TABLE fh, fc, dim, big, q;
DROP FUNCTION same(text), filtered(text);
