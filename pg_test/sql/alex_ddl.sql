-- The alex access method: catalog, operator classes, DDL and errors.
CREATE EXTENSION IF NOT EXISTS omendb;

SELECT amname, amtype FROM pg_am WHERE amname = 'alex';
SELECT opc.opcname, opf.opfname, opc.opcintype::regtype, opc.opcdefault
  FROM pg_opclass opc JOIN pg_opfamily opf ON opf.oid = opc.opcfamily
 WHERE opc.opcmethod = (SELECT oid FROM pg_am WHERE amname = 'alex')
 ORDER BY opc.opcname;
-- amvalidate checks every operator class.
SELECT opc.opcname, amvalidate(opc.oid)
  FROM pg_opclass opc WHERE opc.opcmethod = (SELECT oid FROM pg_am WHERE amname = 'alex')
 ORDER BY opc.opcname;
-- The access method's properties, as the planner and psql see them.
SELECT a.prop, pg_indexam_has_property((SELECT oid FROM pg_am WHERE amname = 'alex'), a.prop)
  FROM unnest(ARRAY['can_order', 'can_unique', 'can_multi_col', 'can_exclude', 'can_include']) a(prop);

CREATE TABLE ddl_t (id int PRIMARY KEY, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8,
                    d date, ts timestamp, tz timestamptz, txt text);
INSERT INTO ddl_t SELECT g, g, g, g, g, g, date '2020-01-01' + g, timestamp '2020-01-01' + g * interval '1 hour',
                         timestamptz '2020-01-01 00:00+00' + g * interval '1 minute', g::text
  FROM generate_series(1, 1000) g;
CREATE INDEX ddl_i2 ON ddl_t USING alex (i2);
CREATE INDEX ddl_i4 ON ddl_t USING alex (i4);
CREATE INDEX ddl_i8 ON ddl_t USING alex (i8);
CREATE INDEX ddl_f4 ON ddl_t USING alex (f4);
CREATE INDEX ddl_f8 ON ddl_t USING alex (f8);
CREATE INDEX ddl_d ON ddl_t USING alex (d);
CREATE INDEX ddl_ts ON ddl_t USING alex (ts);
CREATE INDEX ddl_tz ON ddl_t USING alex (tz);
SELECT c.relname, alex_check(c.oid, true)
  FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
 WHERE i.indrelid = 'ddl_t'::regclass AND c.relam = (SELECT oid FROM pg_am WHERE amname = 'alex')
 ORDER BY c.relname;

-- Unsupported types, column counts and orders fail clearly. Core refuses several columns and
-- INCLUDE before alex is consulted; alex adds a hint, also in a new session that has not loaded
-- the library yet (the reconnect).
CREATE INDEX ON ddl_t USING alex (txt);
\c -
CREATE INDEX ON ddl_t USING alex (i4, i8);
CREATE INDEX ON ddl_t USING alex (i4) INCLUDE (i8);
CREATE INDEX ON ddl_t USING alex (i4 DESC);
CREATE INDEX ON ddl_t USING alex (i4 NULLS FIRST);
\set VERBOSITY sqlstate
CREATE INDEX ON ddl_t USING alex (i4 DESC);
\set VERBOSITY default

-- Operator classes other than the extension's own are refused: alex orders keys by the type's
-- built-in order, so a class that orders int4 backwards (a valid class for btree) would make
-- `a <<< 5` return the keys below 5 instead of those above. amvalidate reports it too.
CREATE FUNCTION ddl_rev_lt(int4, int4) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT $1 > $2';
CREATE FUNCTION ddl_rev_le(int4, int4) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT $1 >= $2';
CREATE FUNCTION ddl_rev_gt(int4, int4) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT $1 < $2';
CREATE FUNCTION ddl_rev_ge(int4, int4) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT $1 <= $2';
CREATE FUNCTION ddl_rev_cmp(int4, int4) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT btint4cmp($2, $1)';
CREATE OPERATOR <<< (LEFTARG = int4, RIGHTARG = int4, FUNCTION = ddl_rev_lt);
CREATE OPERATOR <<= (LEFTARG = int4, RIGHTARG = int4, FUNCTION = ddl_rev_le);
CREATE OPERATOR >>> (LEFTARG = int4, RIGHTARG = int4, FUNCTION = ddl_rev_gt, COMMUTATOR = <<<);
CREATE OPERATOR >>= (LEFTARG = int4, RIGHTARG = int4, FUNCTION = ddl_rev_ge, COMMUTATOR = <<=);
CREATE OPERATOR CLASS ddl_int4_rev_ops FOR TYPE int4 USING alex AS
  OPERATOR 1 <<<, OPERATOR 2 <<=, OPERATOR 3 =, OPERATOR 4 >>=, OPERATOR 5 >>>,
  FUNCTION 1 ddl_rev_cmp(int4, int4);
SELECT amvalidate(oid) FROM pg_opclass WHERE opcname = 'ddl_int4_rev_ops';
CREATE INDEX ON ddl_t USING alex (i4 ddl_int4_rev_ops);
\set VERBOSITY sqlstate
CREATE INDEX ON ddl_t USING alex (i4 ddl_int4_rev_ops);
\set VERBOSITY default
DROP OPERATOR FAMILY ddl_int4_rev_ops USING alex;
DROP OPERATOR <<< (int4, int4), <<= (int4, int4), >>> (int4, int4), >>= (int4, int4);
DROP FUNCTION ddl_rev_lt, ddl_rev_le, ddl_rev_gt, ddl_rev_ge, ddl_rev_cmp;

-- Like amcheck's, the inspection functions are not for PUBLIC: they lock the table.
CREATE ROLE ddl_nobody;
SET ROLE ddl_nobody;
SELECT alex_check('ddl_i8');
SELECT * FROM alex_stats('ddl_i8');
RESET ROLE;
DROP ROLE ddl_nobody;

-- Reloptions are validated.
CREATE TABLE ddl_big AS SELECT (g * 37) % 100003 AS k FROM generate_series(1, 50000) g;
CREATE INDEX ddl_dense ON ddl_big USING alex (k) WITH (density = 1.0);
CREATE INDEX ddl_default ON ddl_big USING alex (k);
CREATE INDEX ON ddl_t USING alex (i8) WITH (density = 0);
CREATE INDEX ON ddl_t USING alex (i8) WITH (density = 1.5);
CREATE INDEX ON ddl_t USING alex (i8) WITH (fillfactor = 50);
SELECT reloptions FROM pg_class WHERE relname = 'ddl_dense';
SELECT d.value > 0.9 AS dense, s.value BETWEEN 0.7 AND 0.85 AS default_density
  FROM alex_stats('ddl_dense') d, alex_stats('ddl_default') s
 WHERE d.stat = 'avg_density' AND s.stat = 'avg_density';
DROP TABLE ddl_big;

-- alex_check and alex_stats refuse other relations.
SELECT alex_check('ddl_t');
SELECT alex_check('ddl_t_pkey');
SELECT * FROM alex_stats('ddl_t_pkey');

-- Partial and expression indexes.
CREATE INDEX ddl_partial ON ddl_t USING alex (i8) WHERE i8 % 2 = 0;
CREATE INDEX ddl_expr ON ddl_t USING alex ((i8 * 10));
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM ddl_t WHERE i8 % 2 = 0 AND i8 < 10;
SELECT id FROM ddl_t WHERE i8 % 2 = 0 AND i8 < 10 ORDER BY id;
EXPLAIN (COSTS OFF) SELECT id FROM ddl_t WHERE i8 * 10 = 50;
SELECT id FROM ddl_t WHERE i8 * 10 = 50;
RESET enable_seqscan;
RESET enable_bitmapscan;

-- REINDEX (also CONCURRENTLY), CREATE INDEX CONCURRENTLY, TRUNCATE and DROP.
REINDEX INDEX ddl_i8;
REINDEX INDEX CONCURRENTLY ddl_i8;
CREATE INDEX CONCURRENTLY ddl_cic ON ddl_t USING alex (i4);
SELECT indisvalid FROM pg_index WHERE indexrelid = 'ddl_cic'::regclass;
SELECT alex_check('ddl_cic', true);
SELECT alex_check('ddl_i8', true);
TRUNCATE ddl_t;
SELECT alex_check('ddl_i8', true);
SELECT stat, value FROM alex_stats('ddl_i8') WHERE stat IN ('entries', 'null_entries', 'height');
INSERT INTO ddl_t (id, i8) SELECT g, g * 3 FROM generate_series(1, 5000) g;
SELECT alex_check('ddl_i8', true);
DROP INDEX ddl_i8;
DROP TABLE ddl_t;

-- Unlogged tables get an INIT fork (the index is valid, empty, after a crash).
CREATE UNLOGGED TABLE ddl_unlogged (k int8);
CREATE INDEX ddl_unlogged_k ON ddl_unlogged USING alex (k);
INSERT INTO ddl_unlogged SELECT g FROM generate_series(1, 100) g;
SELECT alex_check('ddl_unlogged_k', true);
SELECT pg_relation_size('ddl_unlogged_k', 'init') > 0 AS has_init_fork;
DROP TABLE ddl_unlogged;
-- Temporary tables: the index lives in local buffers, unlogged; inserts, splits, VACUUM merges.
CREATE TEMP TABLE ddl_temp (k int8);
CREATE INDEX ddl_temp_k ON ddl_temp USING alex (k);
INSERT INTO ddl_temp SELECT (g * 7919) % 50021 FROM generate_series(1, 50000) g;
DELETE FROM ddl_temp WHERE k % 5 <> 0;
VACUUM ddl_temp;
INSERT INTO ddl_temp SELECT g FROM generate_series(1, 1000) g;
SELECT alex_check('ddl_temp_k', true);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT count(*), sum(k) FROM ddl_temp WHERE k BETWEEN 100 AND 40000;
SELECT count(*), sum(k) FROM ddl_temp WHERE k BETWEEN 100 AND 40000;
RESET enable_seqscan;
SELECT count(*), sum(k) FROM ddl_temp WHERE k BETWEEN 100 AND 40000;
DROP TABLE ddl_temp;
