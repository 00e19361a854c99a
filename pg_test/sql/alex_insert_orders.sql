-- Insert orders that defeat gapped arrays, each 20k keys into an empty index: appends at
-- either end, two streams meeting in the middle, ascending keys with jitter, interleaved
-- descending and ascending streams, random keys, and five keys in turn. Every index must pass
-- alex_check, answer as a sequential scan does, and leave its pages at least 40% full: before the
-- split put its separator halfway across a jump, the two meeting streams left pages 12% full.
SET client_min_messages = warning;
CREATE TABLE io_orders (name text, expr text);
INSERT INTO io_orders VALUES
  ('ascending', 'g'),
  ('descending', '-g'),
  ('meeting streams', 'CASE WHEN g % 2 = 0 THEN g ELSE 1e12 - g END'),
  ('jitter', 'g * 100 + hashint4(g) % 2500'),
  ('7 descending streams', '(g % 7) * 1e9 - g'),
  ('10 ascending streams', '(g % 10) * 1e9 + g'),
  ('random', 'hashint4(g)'),
  ('5 keys in turn', 'g % 5');

CREATE TABLE io_t (k int8);
CREATE INDEX io_t_k ON io_t USING alex (k);

CREATE FUNCTION io_check(expr text) RETURNS TABLE (avg_density_ok boolean, alex_check boolean, same_answers boolean)
LANGUAGE plpgsql AS $$
DECLARE
  by_index text;
  by_seqscan text;
BEGIN
  TRUNCATE io_t;
  EXECUTE format('INSERT INTO io_t SELECT %s FROM generate_series(1, 20000) g', expr);
  SET LOCAL enable_seqscan = off;
  SET LOCAL enable_bitmapscan = off;
  SELECT md5(string_agg(k::text, ',' ORDER BY k)) INTO by_index FROM io_t WHERE k > -1000000000000000;
  RESET enable_seqscan;
  SET LOCAL enable_indexscan = off;
  SET LOCAL enable_indexonlyscan = off;
  SELECT md5(string_agg(k::text, ',' ORDER BY k)) INTO by_seqscan FROM io_t WHERE k > -1000000000000000;
  RESET enable_indexscan;
  RESET enable_indexonlyscan;
  RETURN QUERY SELECT (SELECT value >= 0.4 FROM alex_stats('io_t_k') WHERE stat = 'avg_density'),
                      alex_check('io_t_k'), by_index = by_seqscan;
END $$;

SELECT o.name, c.* FROM io_orders o, io_check(o.expr) c ORDER BY o.name;

-- The index answered those queries (what the function ran, planned here).
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT k FROM io_t WHERE k > -1000000000000000 ORDER BY k;
RESET enable_seqscan;
RESET enable_bitmapscan;

DROP TABLE io_t, io_orders;
DROP FUNCTION io_check(text);
