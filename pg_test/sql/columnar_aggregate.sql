-- The columnar aggregate node (Custom Scan ColumnarAggregate): every answer is checked
-- against a heap table with the same rows, and EXPLAIN shows which node computed it.
SET client_min_messages = warning;
SET omendb.columnar_fold_min_rows = 1;

CREATE TABLE ah (id int, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, fs float8, n numeric, nb numeric,
  d date, ts timestamp, tz timestamptz, tm time, t text, c char(3), v varchar(10), b bool);
INSERT INTO ah SELECT g,
  CASE WHEN g % 17 = 0 THEN NULL WHEN g % 101 = 0 THEN 32767 WHEN g % 103 = 0 THEN -32768 ELSE g % 300 - 150 END,
  CASE WHEN g % 19 = 0 THEN NULL WHEN g % 97 = 0 THEN 2147483647 WHEN g % 89 = 0 THEN -2147483648 ELSE (g * 7919) % 100000 - 50000 END,
  CASE WHEN g % 23 = 0 THEN NULL WHEN g % 83 = 0 THEN 9223372036854775807 WHEN g % 79 = 0 THEN -9223372036854775808 ELSE g::int8 * 1000003 END,
  -- Floats whose sums are exact in any order: multiples of 1/4, small.
  CASE WHEN g % 29 = 0 THEN NULL ELSE (g % 64 - 32) / 4.0 END,
  CASE WHEN g % 31 = 0 THEN NULL WHEN g % 37 = 0 THEN -0.0 ELSE (g % 1000 - 500) / 8.0 END,
  -- NaN and the infinities.
  CASE WHEN g % 500 = 0 THEN 'NaN' WHEN g % 501 = 0 THEN 'Infinity' WHEN g % 503 = 0 THEN '-Infinity' ELSE g::float8 END,
  CASE WHEN g % 13 = 0 THEN NULL WHEN g % 7 = 0 THEN (g * 1.125)::numeric(20, 3) WHEN g % 11 = 0 THEN -g ELSE g / 100.0 END,
  -- Beyond 128 bits, and special values.
  CASE WHEN g % 41 = 0 THEN 1e40 + g WHEN g % 43 = 0 THEN -1e39 / 7 WHEN g % 1000 = 0 THEN 'NaN' ELSE g * 0.5 END,
  CASE WHEN g % 47 = 0 THEN NULL WHEN g = 5000 THEN 'infinity' WHEN g = 5001 THEN '-infinity' ELSE date '2000-01-01' + g % 3000 END,
  timestamp '2020-01-01' + g * interval '37 minutes',
  timestamptz '2020-01-01 00:00+00' - g * interval '3 hours',
  time '00:00' + g * interval '1 second',
  CASE WHEN g % 53 = 0 THEN NULL WHEN g % 5 = 0 THEN repeat('long', 40) || (g % 3) ELSE 'k' || (g % 4) END,
  CASE WHEN g % 6 = 0 THEN NULL ELSE chr(97 + g % 3) END,
  CASE WHEN g % 59 = 0 THEN NULL ELSE 'v' || (g % 5) END,
  CASE WHEN g % 61 = 0 THEN NULL ELSE g % 2 = 0 END
FROM generate_series(1, 20000) g;
CREATE TABLE ac (LIKE ah) USING columnar;
INSERT INTO ac SELECT * FROM ah;

CREATE FUNCTION same(q text, heap text DEFAULT 'ah', col text DEFAULT 'ac') RETURNS text LANGUAGE plpgsql AS $$
DECLARE h text; c text;
BEGIN
  EXECUTE 'SELECT string_agg(x::text, '';'' ORDER BY x::text) FROM (' || replace(q, '$T', heap) || ') x' INTO h;
  EXECUTE 'SELECT string_agg(x::text, '';'' ORDER BY x::text) FROM (' || replace(q, '$T', col) || ') x' INTO c;
  RETURN CASE WHEN h IS NOT DISTINCT FROM c THEN 'same' ELSE 'DIFFERENT: ' || coalesce(h, 'NULL') || ' <> ' || coalesce(c, 'NULL') END;
END $$;
-- The plan node that computes the aggregate of a query on ac.
CREATE FUNCTION node(q text, col text DEFAULT 'ac') RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; nodes text := '';
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (costs off) ' || replace(q, '$T', col) LOOP
    IF line ~ 'ColumnarAggregate|Aggregate|Group' AND line !~ 'Key|Aggregates:' THEN
      nodes := nodes || CASE WHEN nodes = '' THEN '' ELSE ' / ' END || trim(regexp_replace(line, '^[ ->]*', ''));
    END IF;
  END LOOP;
  RETURN nodes;
END $$;
CREATE TABLE queries (q text);
INSERT INTO queries VALUES
  ('SELECT count(*) FROM $T'),
  ('SELECT count(*), count(i2), count(n), count(t), count(b) FROM $T'),
  ('SELECT sum(i2), sum(i4), sum(i8), sum(f4), sum(f8), sum(fs), sum(n), sum(nb) FROM $T'),
  ('SELECT avg(i2), avg(i4), avg(i8), avg(f4), avg(f8), avg(fs), avg(n), avg(nb) FROM $T'),
  ('SELECT min(i2), max(i2), min(i4), max(i4), min(i8), max(i8), min(f4), max(f4), min(f8), max(f8), min(fs), max(fs) FROM $T'),
  ('SELECT min(d), max(d), min(ts), max(ts), min(tz), max(tz), min(tm), max(tm) FROM $T'),
  ('SELECT count(*), sum(i4), avg(n), max(d) FROM $T WHERE i2 BETWEEN -10 AND 10'),
  ('SELECT sum(n * (1 - f4::numeric / 100)), sum(i4::int8 + i2), avg(length(t)), max(i8 / 1000) FROM $T WHERE t LIKE ''k%'''),
  ('SELECT b, count(*), sum(n), avg(i4), min(ts) FROM $T GROUP BY b'),
  ('SELECT t, c, count(*), sum(f8), max(d) FROM $T GROUP BY t, c'),
  ('SELECT v, d, count(*) FROM $T WHERE id < 3000 GROUP BY v, d'),
  ('SELECT c, sum(i8) FROM $T GROUP BY c HAVING count(*) > 3000'),
  ('SELECT i2, count(*) * 2 + 1, sum(i4) / 2 FROM $T GROUP BY i2 HAVING sum(i4) > 0'),
  ('SELECT tm, count(*) FROM $T WHERE id % 1000 = 1 GROUP BY tm'),
  ('SELECT count(*), sum(i4), avg(f8) FROM $T WHERE false'),
  ('SELECT b, count(*) FROM $T WHERE id < 0 GROUP BY b'),
  -- Clauses over vectors: integers of mixed widths, the constant on either side, dates,
  -- timestamps (a date against a timestamp either way round), numerics with NaN, infinities
  -- and values beyond 128 bits, IS [NOT] NULL; and beside clauses PostgreSQL evaluates.
  ('SELECT count(*), sum(i8), avg(n) FROM $T WHERE i4 > 1000 AND i2 <= 100::int8 AND 50 > i2'),
  ('SELECT count(*), min(ts), max(d) FROM $T WHERE d >= date ''2003-01-01'' AND d < date ''2004-01-01'' + interval ''1 day'''),
  ('SELECT count(*), sum(f8) FROM $T WHERE ts < date ''2020-06-01'' AND tz >= timestamptz ''2019-01-01 00:00+00'''),
  ('SELECT count(*), sum(nb), max(i4) FROM $T WHERE n BETWEEN 0.5 AND 150.25 AND nb < 5000'),
  ('SELECT count(*), sum(i2) FROM $T WHERE nb >= ''NaN'''),
  ('SELECT count(*), sum(i2) FROM $T WHERE nb > 1e39 AND d = ''infinity'''),
  ('SELECT count(*), sum(i4) FROM $T WHERE n IS NULL AND t IS NOT NULL'),
  ('SELECT count(*), sum(i4) FROM $T WHERE n IS NULL OR i2 IS NULL'),
  ('SELECT c, count(*), sum(i8) FROM $T WHERE i8 >= 0 AND t LIKE ''k%'' GROUP BY c'),
  -- Numeric arithmetic computed from vectors (NULLs, NaN, values beyond 128 bits and
  -- overflowing products left to PostgreSQL), with and without group keys.
  ('SELECT c, sum(n * (1 - nb)), sum(n + 1.5 - n * 2), avg(n * n), count(n * nb) FROM $T GROUP BY c'),
  ('SELECT sum(n * 2 - 1), avg(nb * 0.5), sum(nb * nb * nb) FROM $T WHERE d >= date ''2001-01-01''');

-- Every query is computed by the node (but WHERE false, which the planner answers without
-- reading the table).
SELECT q, node(q) FROM queries;
SELECT q, same(q) FROM queries;

-- Folded into row groups, then rows deleted, updated and locked (overlays), rows in delta
-- pages after them, and a rolled-back insert.
VACUUM ac;
SELECT q, same(q) FROM queries;
DELETE FROM ah WHERE id % 10 = 1; DELETE FROM ac WHERE id % 10 = 1;
UPDATE ah SET i4 = i4 / 2, n = n * 2, t = t || 'u' WHERE id % 10 = 2; UPDATE ac SET i4 = i4 / 2, n = n * 2, t = t || 'u' WHERE id % 10 = 2;
SELECT count(*) FROM (SELECT * FROM ac WHERE id % 10 = 3 FOR SHARE) x;
BEGIN; INSERT INTO ac SELECT * FROM ah LIMIT 100; ROLLBACK;
SELECT q, same(q) FROM queries;
-- EXPLAIN ANALYZE with PostgreSQL 18's row counts ("rows=2000.00") written as before.
CREATE FUNCTION explain_analyze(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (ANALYZE, BUFFERS OFF, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
    RETURN NEXT regexp_replace(l, 'rows=(\d+)\.00 ', 'rows=\1 ', 'g');
  END LOOP;
END $$;
SELECT explain_analyze('SELECT count(*), sum(i4) FROM ac');
SELECT explain_analyze('SELECT c, count(*) FROM ac WHERE id % 10 = 4 GROUP BY c HAVING count(*) > 1');
DROP FUNCTION explain_analyze(text);

-- Rows of the current transaction, and a savepoint rolled back.
BEGIN;
INSERT INTO ah (id, i4, n, t) VALUES (-1, 7, 2.5, 'k1'); INSERT INTO ac (id, i4, n, t) VALUES (-1, 7, 2.5, 'k1');
DELETE FROM ah WHERE id = 5; DELETE FROM ac WHERE id = 5;
SAVEPOINT s;
INSERT INTO ac (id, i4) VALUES (-2, 8);
ROLLBACK TO s;
SELECT q, same(q) FROM queries;
COMMIT;

-- Parameters: a prepared statement and a correlated subquery (the node rescans).
PREPARE p(int) AS SELECT count(*), sum(i4) FROM ac WHERE i2 = $1;
EXECUTE p(3); EXECUTE p(-7);
SELECT count(*), sum(i4) FROM ah WHERE i2 = 3;
SELECT same('SELECT o.x, (SELECT count(*) FROM $T WHERE i2 = o.x) FROM generate_series(-3, 3) o(x)');
EXPLAIN (costs off) SELECT o.x, (SELECT sum(i4) FROM ac WHERE i2 = o.x) FROM generate_series(-3, 3) o(x);

-- Errors as PostgreSQL raises them.
CREATE TABLE big_h (x float8, y float4, z int8);
INSERT INTO big_h VALUES (1e308, 3e38, 9223372036854775807), (1e308, 3e38, 9223372036854775807);
CREATE TABLE big_c (LIKE big_h) USING columnar;
INSERT INTO big_c SELECT * FROM big_h;
SELECT sum(x) FROM big_h;
SELECT sum(x) FROM big_c;
SELECT sum(y) FROM big_c;
SELECT avg(x) FROM big_c;
SELECT sum(z), avg(z) FROM big_c;
SELECT sum(z), avg(z) FROM big_h;

-- Aggregates the node does not compute stay PostgreSQL's; so do keys it cannot compare by
-- their bytes, and everything when the setting is off.
SELECT node('SELECT count(DISTINCT i2) FROM $T'), node('SELECT count(*) FILTER (WHERE b) FROM $T'),
  node('SELECT string_agg(t, '','') FROM $T'), node('SELECT f8, count(*) FROM $T GROUP BY f8'),
  node('SELECT min(t) FROM $T'), node('SELECT i4 % 7, count(*) FROM $T GROUP BY 1'),
  node('SELECT count(*) FROM $T GROUP BY ROLLUP (b)');
SELECT same('SELECT count(DISTINCT i2), count(*) FILTER (WHERE b), min(t) FROM $T');
SET omendb.enable_columnar_aggregate = off;
SELECT node('SELECT count(*) FROM $T');
RESET omendb.enable_columnar_aggregate;
-- Which clauses and arguments are computed from vectors, and the same answers with that off.
EXPLAIN (costs off) SELECT count(*) FROM ac WHERE i4 > 1000 AND t LIKE 'k%' AND n < 5 AND d IS NOT NULL;
EXPLAIN (costs off) SELECT c, sum(n * (1 - nb)), sum(i4 * 2) FROM ac WHERE d < date '2005-01-01' GROUP BY c;
SET omendb.enable_columnar_vectorization = off;
EXPLAIN (costs off) SELECT count(*) FROM ac WHERE i4 > 1000 AND n < 5;
SELECT q, same(q) FROM queries WHERE q LIKE '%WHERE%' OR q LIKE '%*%';
RESET omendb.enable_columnar_vectorization;
-- More groups than hash_mem holds (by the statistics): PostgreSQL's aggregation, which can
-- spill.
ANALYZE ac;
SET work_mem = '64kB';
SELECT node('SELECT id, count(*) FROM $T GROUP BY id'), node('SELECT b, count(*) FROM $T GROUP BY b');
RESET work_mem;

-- Unless the key is stored in its own order (ANALYZE's correlation): then the node returns
-- each group once the zone maps of the rows not read yet show no key as low, holding a few
-- groups at a time. Delta pages are read first (rows of early keys inserted late); deleted,
-- updated, NULL-keyed and rolled-back rows; keys of each ordered type; HAVING; rescans.
CREATE TABLE sh (k int4, k8 int8, d date, ts timestamp, v numeric, f int, r int);
INSERT INTO sh SELECT g / 10, g / 25, date '2000-01-01' + g / 12, timestamp '2020-01-01' + (g / 8) * interval '1 hour',
  g * 0.25, g % 7, (g * 7919) % 100003 FROM generate_series(1, 120000) g;
CREATE TABLE sc (LIKE sh) USING columnar;
INSERT INTO sc SELECT * FROM sh;
INSERT INTO sh VALUES (5, 2, date '2000-01-02', timestamp '2020-01-01 01:00', 1000, 1, 1), (NULL, NULL, NULL, NULL, 7, 2, 2), (11999, 4799, NULL, NULL, 3, 3, 3);
INSERT INTO sc SELECT * FROM sh WHERE v IN (1000, 7, 3) AND r < 4;
DELETE FROM sh WHERE k % 100 = 7; DELETE FROM sc WHERE k % 100 = 7;
UPDATE sh SET v = v + 1 WHERE k % 1000 = 3; UPDATE sc SET v = v + 1 WHERE k % 1000 = 3;
BEGIN; INSERT INTO sc VALUES (5, 2, date '2000-01-02', timestamp '2020-01-01 01:00', 99, 1, 1); ROLLBACK;
ANALYZE sh, sc;
SET work_mem = '64kB';
CREATE TABLE streamed (q text);
INSERT INTO streamed VALUES
  ('SELECT k, count(*), sum(v), min(ts), max(f) FROM $T GROUP BY k'),
  ('SELECT k8, sum(v) FROM $T GROUP BY k8 HAVING sum(v) > 1000'),
  ('SELECT d, count(*) FROM $T WHERE f > 2 GROUP BY d'),
  ('SELECT ts, avg(v), count(d) FROM $T GROUP BY ts'),
  ('SELECT k, count(*) FROM $T WHERE k BETWEEN 1000 AND 1100 OR k IS NULL GROUP BY k');
SELECT q, node(q, 'sc'), same(q, 'sh', 'sc') FROM streamed;
SELECT node('SELECT r, count(*) FROM $T GROUP BY r', 'sc');
-- The most groups held at once, against the groups returned.
CREATE FUNCTION peak(q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
    IF l ~ 'Peak Groups Held' THEN RETURN substring(l from '(\d+)$')::bigint; END IF;
  END LOOP;
  RETURN NULL;
END $$;
SELECT peak('SELECT k, count(*) FROM sc GROUP BY k') < (SELECT count(DISTINCT k) FROM sc) / 3 AS few_held;
-- Rescans, with a parameter in HAVING and without.
SELECT same('SELECT o.x, (SELECT count(*) FROM (SELECT k FROM $T GROUP BY k HAVING sum(v) > o.x * 100) s) FROM generate_series(1, 3) o(x)', 'sh', 'sc');
SET enable_hashjoin = off; SET enable_mergejoin = off; SET enable_material = off;
SELECT same('SELECT o.x, g.k, g.n FROM (VALUES (1), (2)) o(x), (SELECT k, count(*) n FROM $T GROUP BY k) g WHERE g.k % 1000 = o.x', 'sh', 'sc');
RESET enable_hashjoin; RESET enable_mergejoin; RESET enable_material;
RESET work_mem;
DROP TABLE sh, sc, streamed;
DROP FUNCTION peak(text);

-- Row security: the policy's clause runs before the query's, so a cheap leaky function sees
-- no hidden row.
CREATE TABLE rls (id int, secret text) USING columnar;
INSERT INTO rls SELECT g, 's' || g FROM generate_series(1, 10) g;
ALTER TABLE rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY first_three ON rls USING (id <= 3 OR secret = 'none');
CREATE ROLE omendb_agg_reader;
GRANT SELECT ON rls TO omendb_agg_reader;
CREATE FUNCTION leak(t text) RETURNS bool LANGUAGE plpgsql COST 0.0000001 AS $$ BEGIN RAISE WARNING 'saw %', t; RETURN true; END $$;
SET ROLE omendb_agg_reader;
EXPLAIN (costs off) SELECT count(*) FROM rls WHERE leak(secret);
SELECT count(*) FROM rls WHERE leak(secret);
RESET ROLE;
DROP TABLE rls;
DROP FUNCTION leak(text);
DROP ROLE omendb_agg_reader;

-- An empty table and a table of NULLs.
CREATE TABLE e (x int, y numeric, z float8) USING columnar;
SELECT count(*), count(x), sum(x), avg(y), min(z), max(z) FROM e;
INSERT INTO e VALUES (NULL, NULL, NULL), (NULL, NULL, NULL);
SELECT count(*), count(x), sum(x), avg(y), min(z), max(z) FROM e;
SELECT x, count(*) FROM e GROUP BY x;
DROP TABLE e, big_h, big_c, ah, ac, queries;
DROP FUNCTION same(text, text, text), node(text, text);
