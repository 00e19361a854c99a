-- Numeric columns in row groups: vectors whose values share one display scale and fit in 64
-- bits when scaled are kept as integers; the others as the datums' bytes. Every value must
-- read back as the bytes PostgreSQL stored (its display scale included), through scans,
-- fetches by TID and the aggregate node, with answers equal to a heap table's.
SET client_min_messages = warning;
SET omendb.columnar_fold_min_rows = 1;
-- One row group, folded by VACUUM (the bulk path writes numerics the same way; columnar_bulk).
SET omendb.columnar_bulk_after_rows = -1;

-- p: numeric(15,2) (always scaled); e: numeric(18,0) with the 18-digit extremes; s: one scale
-- per 2048 rows but a different scale in each vector, NULLs; m: scales mixed within vectors;
-- x: NaN, infinities and values beyond 64 bits in some vectors only; z: zeros of many scales.
CREATE TABLE nh (id int, p numeric(15,2), e numeric(18,0), s numeric, m numeric, x numeric, z numeric);
INSERT INTO nh SELECT g,
  CASE WHEN g % 9 = 0 THEN -((g * 7919) % 100000000) / 100.0 ELSE ((g * 7919) % 10000000000000) / 100.0 END,
  CASE WHEN g % 3 = 0 THEN 999999999999999999 WHEN g % 3 = 1 THEN -999999999999999999 ELSE g END,
  CASE WHEN g % 10 = 0 THEN NULL ELSE round(g / 7.0, ((g - 1) / 2048) % 5) END,
  round(g / 3.0, g % 4),
  CASE WHEN g / 2048 = 1 AND g % 100 = 0 THEN 'NaN'
       WHEN g / 2048 = 2 AND g % 100 = 0 THEN 'Infinity'
       WHEN g / 2048 = 3 AND g % 100 = 0 THEN 1e19 + g
       WHEN g / 2048 = 4 AND g % 100 = 0 THEN 9223372036854775807
       ELSE g * 0.001 END,
  round(0::numeric, g % 7)
FROM generate_series(1, 14000) g;
INSERT INTO nh VALUES (-1, 9999999999999.99, 0, -0.00, 0.1, -9223372036854775808, 0.000000),
  (-2, -9999999999999.99, NULL, NULL, NULL, NULL, NULL), (-3, 0, 1, 1.50, 1.5, 1.500, 0e-20);
CREATE TABLE nc (LIKE nh) USING columnar;
INSERT INTO nc SELECT * FROM nh;
VACUUM nc;
SELECT count(*) AS row_groups FROM columnar_stats('nc') WHERE kind = 'row group';
-- p and e are scaled in every vector; s and x in the vectors whose values allow it (one
-- scale; no special or wide value); m and z (scales mixed throughout) never.
SELECT attnum, kind, nulls, encodings FROM columnar_column_stats('nc') ORDER BY attnum;

-- Every value as text (which shows the display scale), from a scan and by TID.
SELECT count(*) AS differing FROM (
  (SELECT id, p::text, e::text, s::text, m::text, x::text, z::text FROM nh
   EXCEPT ALL SELECT id, p::text, e::text, s::text, m::text, x::text, z::text FROM nc)
  UNION ALL
  (SELECT id, p::text, e::text, s::text, m::text, x::text, z::text FROM nc
   EXCEPT ALL SELECT id, p::text, e::text, s::text, m::text, x::text, z::text FROM nh)) d;
SELECT * FROM nc WHERE id < 0 ORDER BY id;
CREATE INDEX nc_id ON nc (id);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (costs off) SELECT * FROM nc WHERE id IN (-1, -3, 2048, 4100, 6200, 8300);
SELECT * FROM nc WHERE id IN (-1, -3, 2048, 4100, 6200, 8300) ORDER BY id;
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT columnar_check('nc');

CREATE FUNCTION same(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE h text; c text;
BEGIN
  EXECUTE 'SELECT string_agg(x::text, '';'' ORDER BY x::text) FROM (' || replace(q, '$T', 'nh') || ') x' INTO h;
  EXECUTE 'SELECT string_agg(x::text, '';'' ORDER BY x::text) FROM (' || replace(q, '$T', 'nc') || ') x' INTO c;
  RETURN CASE WHEN h IS NOT DISTINCT FROM c THEN 'same' ELSE 'DIFFERENT: ' || coalesce(h, 'NULL') || ' <> ' || coalesce(c, 'NULL') END;
END $$;
CREATE TABLE queries (q text);
INSERT INTO queries VALUES
  ('SELECT count(*), count(p), count(s), count(x), sum(p), sum(e), sum(s), sum(m), sum(x), sum(z) FROM $T'),
  ('SELECT avg(p), avg(e), avg(s), avg(m), avg(x), avg(z) FROM $T'),
  ('SELECT sum(p * (1 - s)), sum(p - e), avg(s * m), sum(x * 2), sum(e * e) FROM $T'),
  ('SELECT count(*), sum(p) FROM $T WHERE p > 50000000000.5 AND s <= 1000'),
  ('SELECT count(*), sum(s) FROM $T WHERE x >= 1e19 OR x = ''NaN'''),
  ('SELECT count(*), sum(m) FROM $T WHERE x BETWEEN 2 AND 3 AND e = 999999999999999999'),
  ('SELECT id / 2048, count(*), sum(p), avg(s), sum(x) FROM $T GROUP BY id / 2048'),
  ('SELECT e, count(*), sum(p), sum(p * s) FROM $T WHERE e < 0 OR e > 100 GROUP BY e');
SELECT q, same(q) FROM queries;
EXPLAIN (costs off) SELECT sum(p * (1 - s)), count(*) FROM nc WHERE p > 50000000000.5;

-- Deleted and updated rows (overlays), rows in delta pages, and a rollback.
DELETE FROM nh WHERE id % 10 = 1; DELETE FROM nc WHERE id % 10 = 1;
UPDATE nh SET p = p / 3, s = s * 2 WHERE id % 10 = 2; UPDATE nc SET p = p / 3, s = s * 2 WHERE id % 10 = 2;
BEGIN; INSERT INTO nc SELECT * FROM nh LIMIT 50; ROLLBACK;
SELECT q, same(q) FROM queries;
VACUUM nc;
SELECT q, same(q) FROM queries;
SELECT columnar_check('nc');
