-- Randomized differential test of the columnar table access method.
--
-- The same deterministic random sequence of statements (COPY-like bulk inserts, single-row
-- inserts, updates of keys and values, deletes, rollbacks and savepoints, VACUUM) is applied to
-- a heap table and a columnar table with the same indexes (btree on an int8 key and on text,
-- alex on a float8). After each round a fixed list of queries runs on both tables, each with
-- sequential scans and with forced index and bitmap scans: every answer must be the same. The
-- output is one summary line per round and the list of disagreements, empty when all is well.
SET client_min_messages = warning;
-- VACUUM folds every settled delta segment into a row group, however small.
SET omendb.columnar_fold_min_rows = 1;
SELECT setseed(0.42);

CREATE TABLE dh (id int8, k int8, f float8, n numeric, t text, j jsonb, b bool, d timestamptz);
CREATE TABLE dc (LIKE dh) USING columnar;
CREATE INDEX dh_k ON dh (k); CREATE INDEX dc_k ON dc (k);
CREATE INDEX dh_t ON dh (t); CREATE INDEX dc_t ON dc (t);
CREATE INDEX dh_f ON dh USING alex (f); CREATE INDEX dc_f ON dc USING alex (f);
CREATE SEQUENCE dseq;

-- One random row, from a distribution that changes with the round.
CREATE FUNCTION diff_row(round int, OUT id int8, OUT k int8, OUT f float8, OUT n numeric, OUT t text, OUT j jsonb, OUT b bool, OUT d timestamptz)
LANGUAGE plpgsql AS $$
DECLARE r float8 := random();
BEGIN
  id := nextval('dseq');
  k := CASE round % 4
         WHEN 0 THEN (random() * 1000)::int8
         WHEN 1 THEN (random() * 20)::int8
         WHEN 2 THEN CASE WHEN r < 0.1 THEN 9223372036854775807 WHEN r < 0.2 THEN -9223372036854775808 ELSE (random() * 2e18)::int8 END
         ELSE id END;
  IF random() < 0.05 THEN k := NULL; END IF;
  f := CASE WHEN r < 0.03 THEN 'NaN' WHEN r < 0.05 THEN 'Infinity' WHEN r < 0.07 THEN '-Infinity'
            WHEN r < 0.1 THEN NULL WHEN r < 0.12 THEN -0.0 ELSE (random() - 0.5) * 1e6 END;
  n := CASE WHEN random() < 0.1 THEN NULL ELSE round((random() * 1e10)::numeric, (random() * 6)::int) END;
  t := CASE WHEN random() < 0.1 THEN NULL WHEN random() < 0.1 THEN '' ELSE md5(k::text || round) || repeat('x', (random() * 300)::int) END;
  j := CASE WHEN random() < 0.2 THEN NULL ELSE jsonb_build_object('k', k, 'r', round, 'a', jsonb_build_array(r, 'x')) END;
  b := CASE WHEN random() < 0.1 THEN NULL ELSE random() < 0.5 END;
  d := CASE WHEN random() < 0.1 THEN NULL ELSE timestamptz '2000-01-01' + random() * interval '30 years' END;
END $$;

-- Applies the same statement to both tables.
CREATE FUNCTION on_both(stmt text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE replace(stmt, '$T', 'dh');
  EXECUTE replace(stmt, '$T', 'dc');
END $$;

-- One round of random changes; rolled-back work goes through savepoints and subtransactions.
CREATE FUNCTION diff_round(round int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE i int; lo int8; hi int8; x dh%ROWTYPE;
BEGIN
  -- a bulk insert
  CREATE TEMP TABLE batch ON COMMIT DROP AS SELECT (diff_row(round)).* FROM generate_series(1, 400 + (random() * 400)::int);
  INSERT INTO dh SELECT * FROM batch; INSERT INTO dc SELECT * FROM batch;
  DROP TABLE batch;
  FOR i IN 1..60 LOOP
    SELECT min(id), max(id) INTO lo, hi FROM dh;
    CASE (random() * 5)::int
      WHEN 0 THEN
        SELECT * INTO x FROM diff_row(round);
        INSERT INTO dh VALUES (x.*); INSERT INTO dc VALUES (x.*);
      WHEN 1 THEN
        PERFORM on_both(format('UPDATE $T SET k = CASE WHEN k < 9000000000000000000 THEN k + %s END, t = t || ''u'' WHERE id BETWEEN %s AND %s', (random() * 10)::int, lo + ((hi - lo) * random())::int8, lo + ((hi - lo) * random())::int8 + 20));
      WHEN 2 THEN
        PERFORM on_both(format('DELETE FROM $T WHERE id %% 17 = %s AND id > %s', (random() * 16)::int, lo + ((hi - lo) * random())::int8));
      WHEN 3 THEN
        BEGIN
          PERFORM on_both(format('UPDATE $T SET f = -f, n = n + 1 WHERE k = %s', (random() * 1000)::int));
          PERFORM on_both('INSERT INTO $T (id, k, t) VALUES (-1, -1, ''rolled back'')');
          RAISE EXCEPTION 'roll back';
        EXCEPTION WHEN raise_exception THEN NULL;
        END;
      ELSE
        PERFORM on_both(format('UPDATE $T SET j = jsonb_set(coalesce(j, ''{}''), ''{u}'', ''%s'') WHERE id IN (%s, %s, %s)', round, lo + ((hi - lo) * random())::int8, lo + ((hi - lo) * random())::int8, lo + ((hi - lo) * random())::int8));
    END CASE;
  END LOOP;
END $$;

-- The fixed queries; each runs on both tables under each plan kind.
CREATE TABLE dqueries (q text);
INSERT INTO dqueries VALUES
  ('SELECT count(*), sum(hashtext(t)), sum(k), sum(n) FROM $T'),
  ('SELECT count(*), sum(id) FROM $T WHERE k BETWEEN 10 AND 500'),
  ('SELECT count(*), sum(id) FROM $T WHERE k IS NULL'),
  ('SELECT count(*), sum(id) FROM $T WHERE k = 9223372036854775807 OR k = -9223372036854775808'),
  ('SELECT count(*), sum(id) FROM $T WHERE t > ''8'' AND t < ''9'''),
  ('SELECT count(*), sum(id) FROM $T WHERE t = '''''),
  ('SELECT count(*), sum(id) FROM $T WHERE f > 1000 OR f = ''NaN'''),
  ('SELECT count(*), sum(id) FROM $T WHERE f < -100000'),
  ('SELECT string_agg(id::text, '','' ORDER BY id) FROM (SELECT id FROM $T WHERE k < 5 ORDER BY k, id LIMIT 50) s'),
  ('SELECT count(*), sum(hashtext(j::text)) FROM $T WHERE j ? ''u'''),
  ('SELECT count(*), sum(extract(epoch FROM d)) FROM $T WHERE b'),
  ('SELECT count(*) FROM $T a JOIN $T b ON a.k = b.k WHERE a.id % 50 = 0'),
  ('SELECT count(*), sum(k), sum(n) FROM $T WHERE id >= 1500 AND k IN (1, 5, 9, 9223372036854775807, NULL)'),
  ('SELECT count(*), sum(id) FROM $T WHERE id < 700 AND k IS NOT NULL');

CREATE TABLE dfail (round int, q text, plan text, heap text, columnar text);
CREATE FUNCTION diff_check(round int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE qr record; plan text; h text; c text; n int := 0;
BEGIN
  FOR qr IN SELECT q FROM dqueries LOOP
    FOREACH plan IN ARRAY ARRAY['seq', 'index', 'bitmap'] LOOP
      PERFORM set_config('enable_seqscan', (plan = 'seq')::text, true);
      PERFORM set_config('enable_indexscan', (plan = 'index')::text, true);
      PERFORM set_config('enable_indexonlyscan', (plan = 'index')::text, true);
      PERFORM set_config('enable_bitmapscan', (plan = 'bitmap')::text, true);
      EXECUTE 'SELECT x::text FROM (' || replace(qr.q, '$T', 'dh') || ') x' INTO h;
      EXECUTE 'SELECT x::text FROM (' || replace(qr.q, '$T', 'dc') || ') x' INTO c;
      n := n + 1;
      IF h IS DISTINCT FROM c THEN
        INSERT INTO dfail VALUES (round, qr.q, plan, h, c);
      END IF;
    END LOOP;
  END LOOP;
  PERFORM set_config('enable_seqscan', 'on', true);
  PERFORM set_config('enable_indexscan', 'on', true);
  PERFORM set_config('enable_indexonlyscan', 'on', true);
  PERFORM set_config('enable_bitmapscan', 'on', true);
  RETURN n;
END $$;

-- Rounds: changes, then (every other round) VACUUM, then the checks. VACUUM cannot run in a
-- function, so the rounds are spelled out.
SELECT FROM diff_round(0);
SELECT 0 AS round, diff_check(0) AS queries, (SELECT count(*) FROM dc) AS rows;
-- The forced plans use the columnar table's indexes.
ANALYZE dc;
SET enable_seqscan = off; SET enable_bitmapscan = off;
EXPLAIN (costs off) SELECT count(*), sum(id) FROM dc WHERE k BETWEEN 10 AND 500;
EXPLAIN (costs off) SELECT count(*), sum(id) FROM dc WHERE f < -100000;
SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = on;
EXPLAIN (costs off) SELECT count(*), sum(id) FROM dc WHERE t > '8' AND t < '9';
RESET enable_seqscan; RESET enable_indexscan; RESET enable_indexonlyscan; RESET enable_bitmapscan;
SELECT FROM diff_round(1);
VACUUM dh; VACUUM dc;
SELECT 1 AS round, diff_check(1) AS queries;
SELECT FROM diff_round(2);
SELECT 2 AS round, diff_check(2) AS queries;
SELECT FROM diff_round(3);
VACUUM dh; VACUUM dc;
SELECT 3 AS round, diff_check(3) AS queries;
-- The rows now live in row groups: VACUUM folded every segment.
SELECT kind, count(*) > 0 AS some FROM columnar_stats('dc') GROUP BY kind ORDER BY kind;
SELECT FROM diff_round(4);
VACUUM (FREEZE) dc; VACUUM dh;
SELECT 4 AS round, diff_check(4) AS queries;
SELECT FROM diff_round(5);
VACUUM FULL dc;
SELECT 5 AS round, diff_check(5) AS queries;
SELECT FROM diff_round(6);
SELECT 6 AS round, diff_check(6) AS queries;
SELECT FROM diff_round(7);
VACUUM dh; VACUUM dc;
SELECT 7 AS round, diff_check(7) AS queries;
-- Every column of every row, both ways.
SELECT (SELECT count(*) FROM (SELECT * FROM dc EXCEPT ALL SELECT * FROM dh) a) AS only_columnar,
       (SELECT count(*) FROM (SELECT * FROM dh EXCEPT ALL SELECT * FROM dc) b) AS only_heap;
SELECT columnar_check('dc');
-- Disagreements (none expected).
SELECT * FROM dfail ORDER BY round, q, plan LIMIT 20;

DROP TABLE dh, dc, dqueries, dfail;
DROP FUNCTION diff_row, on_both, diff_round, diff_check;
DROP SEQUENCE dseq;
