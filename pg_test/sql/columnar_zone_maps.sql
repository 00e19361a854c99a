-- Zone maps: the columnar scan and aggregate nodes skip the rows of a group vector whose
-- min/max (or NULL count) refute a WHERE clause, without decoding it. Every answer is compared
-- with heap's, with the zone maps on and off; EXPLAIN ANALYZE counts the vectors skipped.
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
CREATE TABLE zh AS
SELECT g AS id,
       CASE WHEN g BETWEEN 20001 AND 26000 THEN NULL ELSE g / 3 END AS k,
       (g % 1000)::int2 AS s,
       g::int8 * 1000000000 AS b,
       date '2020-01-01' + g / 100 AS d,
       timestamp '2020-01-01' + g * interval '1 minute' AS ts,
       timestamptz '2020-01-01 00:00+00' + g * interval '1 minute' AS tz,
       CASE WHEN g > 50000 THEN NULL ELSE round(g / 7.0, 2) END AS n,
       'x' || g AS t
FROM generate_series(1, 60000) g;
CREATE TABLE zc (LIKE zh) USING columnar;
-- Past its first 1,000 rows the INSERT writes row groups (in id order: tight zone maps).
INSERT INTO zc SELECT * FROM zh ORDER BY id;
-- Deleted and updated rows (the new versions are delta rows).
DELETE FROM zh WHERE id % 97 = 0;
DELETE FROM zc WHERE id % 97 = 0;
UPDATE zh SET k = -k, d = d + 1000 WHERE id % 101 = 0;
UPDATE zc SET k = -k, d = d + 1000 WHERE id % 101 = 0;
-- A query's rows on zc against zh's, with zone maps on, then off.
CREATE FUNCTION zsame(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE missing bigint; extra bigint; total bigint; off_missing bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM ((%s) EXCEPT ALL (%s)) x', replace(q, '$T', 'zh'), replace(q, '$T', 'zc')) INTO missing;
  EXECUTE format('SELECT count(*) FROM ((%s) EXCEPT ALL (%s)) x', replace(q, '$T', 'zc'), replace(q, '$T', 'zh')) INTO extra;
  EXECUTE format('SELECT count(*) FROM (%s) x', replace(q, '$T', 'zc')) INTO total;
  SET LOCAL omendb.enable_columnar_zone_maps = off;
  EXECUTE format('SELECT count(*) FROM ((%s) EXCEPT ALL (%s)) x', replace(q, '$T', 'zh'), replace(q, '$T', 'zc')) INTO off_missing;
  SET LOCAL omendb.enable_columnar_zone_maps = on;
  RETURN total || ' rows, ' || CASE WHEN missing + extra + off_missing = 0 THEN 'as heap' ELSE missing || ' missing, ' || extra || ' extra, ' || off_missing || ' missing without zone maps' END;
END $$;
CREATE TABLE clauses (c text);
INSERT INTO clauses VALUES
  ('id < 5000'), ('id <= 2048'), ('id = 30000'), ('id > 59000'), ('id >= 59999'), ('5000 > id'),
  ('id BETWEEN 10000 AND 10100'), ('id < 0'), ('id > 2147483647::int8'), ('id = -1::int2'),
  ('k IS NULL'), ('k IS NOT NULL'), ('k < 100'), ('k = 7000'), ('k > 1000000'), ('k < 0'),
  ('k IS NULL AND id < 22000'), ('id > 1000 OR k < 5'), ('s = 5'), ('s < 100000::int8'),
  ('b < 5000000000000'), ('b >= 59990000000000'), ('b = 30000 * 1000000000::int8'),
  ('d < date ''2020-01-05'''), ('d = date ''2020-03-01'''), ('d >= date ''2021-06-01'''),
  ('d < timestamp ''2020-01-05 12:00'''), ('d > timestamp ''2020-02-01 00:00:01'''),
  ('ts < timestamp ''2020-01-02'''), ('ts >= date ''2020-02-01'''), ('ts = timestamp ''2020-01-10 00:00'''),
  ('tz BETWEEN timestamptz ''2020-01-20 00:00+00'' AND timestamptz ''2020-01-21 00:00+00'''),
  ('n < 10'), ('n IS NULL'), ('n IS NOT NULL AND id > 49000'), ('t < ''x2'''),
  ('id IN (5, 30000, 59999)'), ('id IN (70000, 80000)'), ('k IN (1, NULL)'), ('id NOT IN (1, 2)'),
  ('d IN (date ''2020-01-05'', date ''2020-03-01'')'), ('b = ANY (ARRAY[5000000000, 1])'),
  ('ts = ANY (ARRAY[timestamp ''2020-01-10 00:00'', NULL])'), ('id = ANY (''{}''::int[])'),
  ('d = ANY (ARRAY[timestamp ''2020-01-05 00:00''])'), ('id > 59000 + (SELECT 0)');
-- Rows through the scan node, and aggregates through the aggregate node.
SELECT c, zsame('SELECT id, k, d, n FROM $T WHERE ' || c) AS scan,
       zsame('SELECT count(*), sum(k), min(d), max(ts), sum(n) FROM $T WHERE ' || c) AS aggregate
FROM clauses ORDER BY c;
-- Rows of the current transaction (delta rows are never skipped) and rolled back rows.
BEGIN;
INSERT INTO zh VALUES (70000, 5, 1, 1, date '2019-01-01'), (70001, NULL, NULL, NULL, NULL);
INSERT INTO zc VALUES (70000, 5, 1, 1, date '2019-01-01'), (70001, NULL, NULL, NULL, NULL);
SELECT zsame('SELECT id FROM $T WHERE k = 5'), zsame('SELECT id FROM $T WHERE d < date ''2020-01-01'''),
       zsame('SELECT count(*) FROM $T WHERE k IS NULL');
ROLLBACK;
SELECT zsame('SELECT id FROM $T WHERE k = 5');
-- A column added after the groups were written reads its default in them: never skipped.
ALTER TABLE zh ADD COLUMN a int DEFAULT 7;
ALTER TABLE zc ADD COLUMN a int DEFAULT 7;
SELECT zsame('SELECT id FROM $T WHERE a = 7 AND id < 100'), zsame('SELECT count(*) FROM $T WHERE a > 7');
-- EXPLAIN ANALYZE says how many vectors the zone maps skipped (PostgreSQL 18's row counts
-- written as before).
CREATE FUNCTION explain_analyze(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (ANALYZE, BUFFERS OFF, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
    RETURN NEXT regexp_replace(l, 'rows=(\d+)\.00 ', 'rows=\1 ', 'g');
  END LOOP;
END $$;
SELECT explain_analyze('SELECT id FROM zc WHERE id > 59000');
SELECT explain_analyze('SELECT count(*) FROM zc WHERE ts < timestamp ''2020-01-02''');
SELECT explain_analyze('SELECT count(*) FROM zc WHERE id IN (3, 59999)');
SET omendb.enable_columnar_zone_maps = off;
SELECT explain_analyze('SELECT id FROM zc WHERE id > 59000');
RESET omendb.enable_columnar_zone_maps;
-- A generic plan's parameters are fixed for the query: the zone maps use their values.
SET plan_cache_mode = force_generic_plan;
PREPARE zh_p(int, date) AS SELECT count(*), sum(k), min(id) FROM zh WHERE id > $1 AND d < $2;
PREPARE zc_p(int, date) AS SELECT count(*), sum(k), min(id) FROM zc WHERE id > $1 AND d < $2;
EXECUTE zh_p(40000, date '2021-03-01');
EXECUTE zc_p(40000, date '2021-03-01');
PREPARE zc_ids(int[]) AS SELECT id FROM zc WHERE id = ANY ($1);
EXECUTE zc_ids('{7, 41000, NULL}');
SELECT explain_analyze('EXECUTE zc_p(59000, date ''2021-06-01'')');
SELECT explain_analyze('EXECUTE zc_ids(''{59990}'')');
EXPLAIN (COSTS OFF) EXECUTE zc_ids('{59990}');
RESET plan_cache_mode;
DEALLOCATE ALL;
DROP TABLE zh, zc, clauses;
DROP FUNCTION zsame(text), explain_analyze(text);
