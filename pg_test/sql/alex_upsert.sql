-- An alex UNIQUE index as ON CONFLICT arbiter and as a foreign key's referenced index.
-- PostgreSQL 18 asks the access method what its strategies mean (amtranslatecmptype); 15 to 17
-- reserve both for btree and refuse. The first line tells which expected file applies.
SELECT current_setting('server_version_num')::int >= 180000 AS asks_the_access_method;
CREATE TABLE up (k int8, v text);
CREATE UNIQUE INDEX up_k ON up USING alex (k);
INSERT INTO up VALUES (1, 'a'), (2, 'b');
EXPLAIN (COSTS OFF) INSERT INTO up VALUES (1, 'z') ON CONFLICT (k) DO NOTHING;
INSERT INTO up VALUES (1, 'x') ON CONFLICT DO NOTHING;
INSERT INTO up VALUES (1, 'x'), (3, 'c') ON CONFLICT (k) DO NOTHING RETURNING *;
INSERT INTO up VALUES (2, 'y'), (4, 'd') ON CONFLICT (k) DO UPDATE SET v = up.v || EXCLUDED.v RETURNING *;
INSERT INTO up VALUES (5, 'e'), (5, 'f') ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v;
INSERT INTO up VALUES (2, 'w') ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v WHERE up.v = 'nothing';
-- A row inserted earlier in the transaction conflicts; a rolled-back one does not.
BEGIN;
INSERT INTO up VALUES (6, 'g');
INSERT INTO up VALUES (6, 'h') ON CONFLICT (k) DO UPDATE SET v = up.v || EXCLUDED.v;
COMMIT;
BEGIN;
INSERT INTO up VALUES (7, 'i');
ROLLBACK;
INSERT INTO up VALUES (7, 'j') ON CONFLICT (k) DO NOTHING;
BEGIN;
INSERT INTO up VALUES (8, 'k');
SAVEPOINT s;
INSERT INTO up VALUES (8, 'l') ON CONFLICT (k) DO UPDATE SET v = 'l';
ROLLBACK TO s;
COMMIT;
-- NULLs are distinct unless the index says NULLS NOT DISTINCT.
INSERT INTO up VALUES (NULL, 'n1') ON CONFLICT (k) DO NOTHING;
INSERT INTO up VALUES (NULL, 'n2') ON CONFLICT (k) DO NOTHING;
CREATE TABLE up_nnd (k int8, v text);
CREATE UNIQUE INDEX up_nnd_k ON up_nnd USING alex (k) NULLS NOT DISTINCT;
INSERT INTO up_nnd VALUES (NULL, 'a') ON CONFLICT (k) DO NOTHING;
INSERT INTO up_nnd VALUES (NULL, 'b') ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v;
SELECT * FROM up_nnd;
-- A partial unique index arbitrates for the rows its predicate covers.
CREATE TABLE up_part (k int8, v text);
CREATE UNIQUE INDEX up_part_k ON up_part USING alex (k) WHERE k > 100;
INSERT INTO up_part VALUES (1, 'a'), (1, 'b'), (101, 'c');
INSERT INTO up_part VALUES (101, 'd') ON CONFLICT (k) WHERE k > 100 DO UPDATE SET v = EXCLUDED.v;
SELECT * FROM up_part ORDER BY k, v;
SELECT * FROM up ORDER BY k, v;
-- A foreign key references the alex index.
CREATE TABLE up_child (k int8 REFERENCES up (k));
INSERT INTO up_child VALUES (1);
INSERT INTO up_child VALUES (99);
DELETE FROM up WHERE k = 1;
-- Many upserts with repeated keys give what the same upserts give through btree on heap.
CREATE TABLE up_ref (k int8, v int8, n int);
CREATE UNIQUE INDEX up_ref_k ON up_ref (k);
CREATE TABLE up_alex (k int8, v int8, n int);
CREATE UNIQUE INDEX up_alex_k ON up_alex USING alex (k);
CREATE TABLE up_col (k int8, v int8, n int) USING columnar;
CREATE UNIQUE INDEX up_col_k ON up_col USING alex (k);
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['up_ref', 'up_alex', 'up_col'] LOOP
    FOR r IN 1..4 LOOP
      EXECUTE format('INSERT INTO %I SELECT (g * 7919 + %s) %% 3001, g, 1 FROM generate_series(1, 2000) g
                      ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v + %I.v, n = %I.n + 1', t, r, t, t);
      EXECUTE format('INSERT INTO %I SELECT g * 3, -g, 0 FROM generate_series(1, 1500) g ON CONFLICT (k) DO NOTHING', t);
      EXECUTE format('DELETE FROM %I WHERE k %% 11 = %s', t, r);
    END LOOP;
  END LOOP;
END $$;
SELECT count(*), sum(v), sum(n) FROM up_ref;
SELECT (SELECT count(*) FROM (SELECT * FROM up_ref EXCEPT ALL SELECT * FROM up_alex) d)
     + (SELECT count(*) FROM (SELECT * FROM up_alex EXCEPT ALL SELECT * FROM up_ref) d) AS alex_differs,
       (SELECT count(*) FROM (SELECT * FROM up_ref EXCEPT ALL SELECT * FROM up_col) d)
     + (SELECT count(*) FROM (SELECT * FROM up_col EXCEPT ALL SELECT * FROM up_ref) d) AS columnar_differs;
VACUUM up_alex, up_col;
SELECT alex_check('up_k'), alex_check('up_alex_k'), alex_check('up_col_k'), columnar_check('up_col');
DROP TABLE up_child, up, up_nnd, up_part, up_ref, up_alex, up_col;
