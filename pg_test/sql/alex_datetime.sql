-- date, timestamp and timestamptz compare with each other (btree's datetime_ops): an alex index
-- on any of them serves comparisons with the other two, in any session time zone, and returns
-- what a sequential scan returns.
CREATE EXTENSION IF NOT EXISTS omendb;
SELECT setseed(0.24);
CREATE TABLE dt (id int, d date, ts timestamp, tz timestamptz);
-- Random values, day boundaries, infinities and the ends of each type's range.
INSERT INTO dt SELECT g, d, ts, tz FROM (
  SELECT g, date '2000-01-01' + floor(random() * 20000 - 10000)::int AS d,
         timestamp '2000-01-01' + (random() * 20000 - 10000) * interval '1 day' AS ts,
         timestamptz '2000-01-01 00:00+00' + (random() * 20000 - 10000) * interval '1 day' AS tz
  FROM generate_series(1, 4000) g) s;
UPDATE dt SET ts = date_trunc('day', ts), tz = date_trunc('day', tz) WHERE id % 7 = 0;
INSERT INTO dt VALUES
  (5001, '-infinity', '-infinity', '-infinity'), (5002, 'infinity', 'infinity', 'infinity'),
  (5003, '4714-11-24 BC', '4714-11-24 00:00 BC', '4714-11-24 00:00+00 BC'),
  (5004, '5874897-12-31', '294276-12-31 23:59:59.999999', '294276-12-31 23:59:59.999999+00'),
  (5005, '2000-01-01', '2000-01-01', '2000-01-01 00:00+00'), (5006, NULL, NULL, NULL);
CREATE INDEX dt_d ON dt USING alex (d);
CREATE INDEX dt_ts ON dt USING alex (ts);
CREATE INDEX dt_tz ON dt USING alex (tz);
VACUUM ANALYZE dt;

SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM dt WHERE d < timestamp '2001-01-01 12:00';
EXPLAIN (COSTS OFF) SELECT id FROM dt WHERE ts >= timestamptz '2001-01-01 12:00+00';
EXPLAIN (COSTS OFF) SELECT id FROM dt WHERE tz = ANY (ARRAY[date '2000-01-01', date '2000-01-02']);
EXPLAIN (COSTS OFF) SELECT id FROM dt WHERE d > now() - interval '1 year';

-- Every column against every argument type, operator and argument, under several time zones,
-- compared with a sequential scan. Returns the mismatches.
CREATE FUNCTION datetime_mismatches(zones text[], pairs text[][]) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  zone text; col text; tested int := 0; arg_type text; op text; arg text; q text; got int[]; want int[]; i int;
  args text[] := ARRAY['-infinity', 'infinity', '4714-11-24 00:00:00 BC', '4714-11-25 00:00:00+00 BC',
                       '294276-12-31 23:59:59.999999', '2000-01-01', '2000-01-01 00:00:00+00',
                       '2000-01-01 00:00:00.000001', '1999-12-31 23:59:59.999999+00', '1987-06-05 04:03:02',
                       '2020-03-08 02:30:00', '2020-11-01 01:30:00-04', '2021-07-04 18:00:00+05:30'];
BEGIN
  FOREACH zone IN ARRAY zones LOOP
    PERFORM set_config('TimeZone', zone, true);
    FOR i IN 1 .. array_length(pairs, 1) LOOP
      col := pairs[i][1]; arg_type := pairs[i][2];
      FOREACH op IN ARRAY ARRAY['<', '<=', '=', '>=', '>'] LOOP
        FOREACH arg IN ARRAY args LOOP
          BEGIN
            -- Some arguments are out of the type's range in some zones.
            EXECUTE format('SELECT %L::%s', arg, arg_type);
          EXCEPTION WHEN datetime_field_overflow THEN
            CONTINUE;
          END;
          q := format('SELECT array_agg(id ORDER BY id) FROM dt WHERE %I %s %L::%s', col, op, arg, arg_type);
          PERFORM set_config('enable_seqscan', 'off', true);
          PERFORM set_config('enable_indexscan', 'on', true);
          EXECUTE q INTO got;
          PERFORM set_config('enable_seqscan', 'on', true);
          PERFORM set_config('enable_indexscan', 'off', true);
          PERFORM set_config('enable_bitmapscan', 'off', true);
          EXECUTE q INTO want;
          tested := tested + 1;
          IF got IS DISTINCT FROM want THEN
            RETURN NEXT format('%s: %s (%s rows, expected %s)', zone, q, cardinality(got), cardinality(want));
          END IF;
        END LOOP;
      END LOOP;
      -- = ANY with arguments of the other type, including values equal to none of the column's.
      q := format('SELECT array_agg(id ORDER BY id) FROM dt WHERE %I = ANY (ARRAY[%L::%s, %L::%s, NULL, %L::%s])',
                  col, '2000-01-01', arg_type, '-infinity', arg_type, '1999-12-31 23:59:59.999999+00', arg_type);
      PERFORM set_config('enable_seqscan', 'off', true);
      PERFORM set_config('enable_indexscan', 'on', true);
      EXECUTE q INTO got;
      PERFORM set_config('enable_seqscan', 'on', true);
      PERFORM set_config('enable_indexscan', 'off', true);
      EXECUTE q INTO want;
      IF got IS DISTINCT FROM want THEN
        RETURN NEXT format('%s: %s', zone, q);
      END IF;
    END LOOP;
  END LOOP;
  RETURN NEXT format('%s comparisons checked', tested);
END $$;

-- Conversions that involve the time zone are monotone in these pairs under any zone.
SELECT * FROM datetime_mismatches(ARRAY['UTC', 'America/New_York', 'Asia/Kathmandu', 'Pacific/Chatham', 'America/Sao_Paulo'],
  ARRAY[['d', 'timestamp'], ['d', 'timestamptz'], ['ts', 'date'], ['tz', 'date'], ['tz', 'timestamp']]);
-- A timestamp column against timestamptz values: a local time in a daylight-saving gap converts
-- to a later instant than the valid times after it, so the comparison is only monotone (for
-- btree as for alex) in zones without such gaps.
SELECT * FROM datetime_mismatches(ARRAY['UTC', '+05:30', 'UTC-3'], ARRAY[['ts', 'timestamptz']]);

-- Index-only scans return the column's own values; two = ANY arrays of different types.
SET TimeZone = 'America/New_York';
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT d FROM dt WHERE d = ANY (ARRAY[date '2000-01-01', date '-infinity'])
  AND d = ANY (ARRAY[timestamptz '2000-01-01 00:00-05', timestamptz '-infinity']);
SELECT d FROM dt WHERE d = ANY (ARRAY[date '2000-01-01', date '-infinity'])
  AND d = ANY (ARRAY[timestamptz '2000-01-01 00:00-05', timestamptz '-infinity']) ORDER BY d;
SELECT count(*) FROM dt WHERE tz < date '2000-01-01' AND tz > timestamp '1999-01-01';
SET enable_seqscan = on;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SELECT count(*) FROM dt WHERE tz < date '2000-01-01' AND tz > timestamp '1999-01-01';
RESET ALL;
DROP TABLE dt;
DROP FUNCTION datetime_mismatches;
