-- Helpers shared by the recovery tests (crash.sh, stress.sh): key generators with duplicates,
-- NULLs, special floats and ascending runs, and the UNIQUE-index operations that catch only the
-- expected unique violation (SQLSTATE 23505), counting it in the sequence rt_uv.

SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS omendb;
CREATE SEQUENCE IF NOT EXISTS rt_asc;
CREATE SEQUENCE IF NOT EXISTS rt_uv;

-- int8 keys: 2% NULL (when asked), 0.6% near the ends of int8's range, 28% from [0, 1000] (long
-- runs of duplicates), 60% spread over [-1e12, 1e12], 10% ascending beyond 2e12.
CREATE OR REPLACE FUNCTION rt_k(nulls boolean DEFAULT true) RETURNS int8 LANGUAGE plpgsql VOLATILE AS $$
DECLARE r float8 := random();
BEGIN
  IF nulls AND r < 0.02 THEN RETURN NULL; END IF;
  IF r < 0.023 THEN RETURN 9223372036854775807 - (random() * 1000)::int8; END IF;
  IF r < 0.026 THEN RETURN -9223372036854775808 + (random() * 1000)::int8; END IF;
  IF r < 0.30 THEN RETURN (random() * 1000)::int8; END IF;
  IF r < 0.90 THEN RETURN ((random() * 2 - 1) * 1e12)::int8; END IF;
  RETURN 2000000000000 + nextval('rt_asc');
END $$;

-- float8 keys: NULLs, duplicates (multiples of 0.5 in [0, 25]), spread values, ascending values,
-- and a few NaN / +-Infinity. Never -0 (its text differs from 0 although the two are equal).
CREATE OR REPLACE FUNCTION rt_f(nulls boolean DEFAULT true) RETURNS float8 LANGUAGE plpgsql VOLATILE AS $$
DECLARE r float8 := random();
BEGIN
  IF nulls AND r < 0.02 THEN RETURN NULL; END IF;
  IF r < 0.025 THEN RETURN 'NaN'; END IF;
  IF r < 0.028 THEN RETURN 'Infinity'; END IF;
  IF r < 0.031 THEN RETURN '-Infinity'; END IF;
  IF r < 0.30 THEN RETURN round(random() * 50) / 2; END IF;
  IF r < 0.90 THEN RETURN (random() * 2 - 1) * 1e6 + 0.125; END IF;
  RETURN 1e7 + nextval('rt_asc') * 0.25;
END $$;

-- timestamptz keys: NULLs, a few +-infinity, whole days (duplicates), spread microseconds,
-- ascending clock.
CREATE OR REPLACE FUNCTION rt_ts(nulls boolean DEFAULT true) RETURNS timestamptz LANGUAGE plpgsql VOLATILE AS $$
DECLARE r float8 := random();
BEGIN
  IF nulls AND r < 0.02 THEN RETURN NULL; END IF;
  IF r < 0.022 THEN RETURN 'infinity'; END IF;
  IF r < 0.024 THEN RETURN '-infinity'; END IF;
  IF r < 0.30 THEN RETURN timestamptz '2020-01-01 00:00:00+00' + (random() * 100)::int * interval '1 day'; END IF;
  IF r < 0.90 THEN RETURN timestamptz '1990-01-01 00:00:00+00' + random() * interval '40 years'; END IF;
  RETURN clock_timestamp() + interval '100 years';
END $$;

-- One operation on the UNIQUE-indexed table cu (column u, keys drawn from the sequence rt_useq):
-- move a key to a fresh one, delete a key, delete and re-insert a key, or insert a key that
-- probably exists, plainly or (PostgreSQL 18, where alex can arbitrate) with ON CONFLICT DO
-- UPDATE or DO NOTHING, racing the others' inserts and speculative insertions of the same keys.
-- Only unique_violation is caught (and counted); any other error propagates.
CREATE OR REPLACE FUNCTION rt_cu_op(x int8) RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  target int8;
  upserts bool := current_setting('server_version_num')::int >= 180000
                  AND EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = 'cu_u'::regclass AND indisunique);
  op int := (x % CASE WHEN upserts THEN 6 ELSE 4 END)::int;
BEGIN
  -- Not among the newest keys: another client's INSERT of nextval() may have taken one and not
  -- yet inserted it, and would then fail on the row inserted here first.
  SELECT (x % greatest(last_value - 1000, 1)) + 1 INTO target FROM rt_useq;
  IF op = 0 THEN
    UPDATE cu SET u = nextval('rt_useq') WHERE u = target;
  ELSIF op = 1 THEN
    DELETE FROM cu WHERE u = target;
  ELSIF op = 2 THEN
    BEGIN
      DELETE FROM cu WHERE u = target;
      INSERT INTO cu (u) VALUES (target);
    EXCEPTION WHEN unique_violation THEN
      PERFORM nextval('rt_uv');
    END;
  ELSIF op = 3 THEN
    BEGIN
      INSERT INTO cu (u) VALUES (target);
    EXCEPTION WHEN unique_violation THEN
      PERFORM nextval('rt_uv');
    END;
  ELSIF op = 4 THEN
    INSERT INTO cu (u, v) VALUES (target, 1) ON CONFLICT (u) DO UPDATE SET v = coalesce(cu.v, 0) + 100;
  ELSE
    INSERT INTO cu (u) VALUES (target) ON CONFLICT DO NOTHING;
  END IF;
END $$;
