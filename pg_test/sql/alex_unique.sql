-- UNIQUE alex indexes: btree's semantics and messages.
CREATE EXTENSION IF NOT EXISTS omendb;
CREATE TABLE uq (id serial, k int8, f float8);
CREATE UNIQUE INDEX uq_k ON uq USING alex (k);
INSERT INTO uq (k) SELECT g FROM generate_series(1, 5000) g;
INSERT INTO uq (k) VALUES (5);
INSERT INTO uq (k) VALUES (5001), (5001);
-- As btree's, the error names the schema, table and constraint (clients read them), and a
-- handler can catch it; a savepoint rolls back to a usable index.
CREATE FUNCTION uq_error_fields(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE s text; t text; c text; BEGIN
  EXECUTE stmt;
  RETURN 'no error';
EXCEPTION WHEN unique_violation THEN
  GET STACKED DIAGNOSTICS s = SCHEMA_NAME, t = TABLE_NAME, c = CONSTRAINT_NAME;
  RETURN format('%s.%s %s', s, t, c);
END $$;
SELECT uq_error_fields('INSERT INTO uq (k) VALUES (5)');
BEGIN;
SAVEPOINT s;
INSERT INTO uq (k) VALUES (6);
ROLLBACK TO s;
INSERT INTO uq (k) VALUES (6000);
COMMIT;
-- The failed statements left dead entries; the key is free again once they are gone.
INSERT INTO uq (k) VALUES (5001);
SELECT count(*) FROM uq WHERE k = 5001;
-- Delete and re-insert in one transaction, and an update that keeps the key.
BEGIN;
DELETE FROM uq WHERE k = 7;
INSERT INTO uq (k) VALUES (7);
COMMIT;
UPDATE uq SET f = 1 WHERE k = 8;
UPDATE uq SET k = 9 WHERE k = 10;
UPDATE uq SET k = k + 100000 WHERE k <= 100;
SELECT count(*), count(DISTINCT k) FROM uq;
-- NULLs are distinct by default.
INSERT INTO uq (k) VALUES (NULL), (NULL);
SELECT count(*) FROM uq WHERE k IS NULL;
-- Cross-type probes and -0 = 0 for floats.
CREATE UNIQUE INDEX uq_f ON uq USING alex (f);
INSERT INTO uq (k, f) VALUES (900001, '-0');
INSERT INTO uq (k, f) VALUES (900002, '0');
INSERT INTO uq (k, f) VALUES (900003, 'NaN');
INSERT INTO uq (k, f) VALUES (900004, 'NaN');
SELECT alex_check('uq_k', true), alex_check('uq_f', true);
VACUUM uq;
SELECT alex_check('uq_k', true);

-- Duplicates found by CREATE UNIQUE INDEX.
CREATE TABLE uq_dup (k int4);
INSERT INTO uq_dup VALUES (1), (2), (2), (3);
CREATE UNIQUE INDEX uq_dup_k ON uq_dup USING alex (k);
SELECT uq_error_fields('CREATE UNIQUE INDEX uq_dup_k ON uq_dup USING alex (k)');
DELETE FROM uq_dup WHERE k = 2;
INSERT INTO uq_dup VALUES (2);
CREATE UNIQUE INDEX uq_dup_k ON uq_dup USING alex (k);
SELECT alex_check('uq_dup_k', true);
-- A failed CREATE INDEX CONCURRENTLY leaves an invalid index behind, which the planner and
-- writers ignore; alex_check and alex_stats refuse it (as amcheck does) until it is rebuilt.
CREATE TABLE uq_cic (k int4);
INSERT INTO uq_cic SELECT g FROM generate_series(1, 20000) g;
INSERT INTO uq_cic VALUES (19999);
CREATE UNIQUE INDEX CONCURRENTLY uq_cic_k ON uq_cic USING alex (k);
SELECT alex_check('uq_cic_k');
SELECT * FROM alex_stats('uq_cic_k');
DELETE FROM uq_cic WHERE ctid = (SELECT max(ctid) FROM uq_cic);
REINDEX INDEX uq_cic_k;
SELECT alex_check('uq_cic_k', true);
-- Float zeros are equal keys.
CREATE TABLE uq_zero (f float8);
INSERT INTO uq_zero VALUES ('-0'), (1), ('0');
CREATE UNIQUE INDEX uq_zero_f ON uq_zero USING alex (f);

-- NULLS NOT DISTINCT.
CREATE TABLE uq_nnd (k int8);
CREATE UNIQUE INDEX uq_nnd_k ON uq_nnd USING alex (k) NULLS NOT DISTINCT;
INSERT INTO uq_nnd VALUES (NULL), (1);
INSERT INTO uq_nnd VALUES (NULL);
INSERT INTO uq_nnd VALUES (2), (NULL);
SELECT count(*) FROM uq_nnd;
INSERT INTO uq_nnd VALUES (NULL), (NULL);
CREATE TABLE uq_nnd2 (k int8);
INSERT INTO uq_nnd2 VALUES (NULL), (NULL);
CREATE UNIQUE INDEX ON uq_nnd2 USING alex (k) NULLS NOT DISTINCT;

-- EXCLUDE constraints work through alex's scans (PostgreSQL enforces them).
CREATE TABLE uq_ex (k int8, EXCLUDE USING alex (k WITH =));
INSERT INTO uq_ex VALUES (1), (2);
INSERT INTO uq_ex VALUES (2);

-- What PostgreSQL reserves for btree: constraints (ON CONFLICT: alex_upsert).
ALTER TABLE uq ADD CONSTRAINT uq_k_key UNIQUE USING INDEX uq_k;

DROP TABLE uq, uq_dup, uq_cic, uq_zero, uq_nnd, uq_nnd2, uq_ex;
DROP FUNCTION uq_error_fields;
