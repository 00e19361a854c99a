-- CREATE INDEX through PostgreSQL's external sort: with maintenance_work_mem at 1MB the build's
-- sort spills to temporary files and merges them; the index must be the one an in-memory sort
-- gives, and agree with sequential scans.
CREATE EXTENSION IF NOT EXISTS omendb;
CREATE TABLE bld (id int, k int8);
-- 240k rows: hashed keys over the whole int8 range (90k of them twice), NULLs, and extremes.
INSERT INTO bld SELECT g, CASE WHEN g % 41 = 0 THEN NULL ELSE hashint8extended(g % 150000, 0) END
  FROM generate_series(1, 240000) g;
INSERT INTO bld SELECT 240000 + g, (ARRAY[-9223372036854775808, 9223372036854775807, -1, 0, 1])[g % 5 + 1]
  FROM generate_series(1, 50) g;
SELECT count(*), count(k), count(DISTINCT k) FROM bld;

SET maintenance_work_mem = '1MB';
-- Temporary files written by the build (statistics flushed before and after).
SELECT pg_stat_force_next_flush();
SELECT temp_files AS temp_files_before FROM pg_stat_database WHERE datname = current_database() \gset
CREATE INDEX bld_k ON bld USING alex (k);
SELECT pg_stat_force_next_flush();
SELECT temp_files > :temp_files_before AS build_spilled FROM pg_stat_database WHERE datname = current_database();
SELECT alex_check('bld_k', true);
-- The same index from an in-memory sort: identical statistics.
SET maintenance_work_mem = '256MB';
CREATE INDEX bld_k_mem ON bld USING alex (k);
RESET maintenance_work_mem;
SELECT count(*) AS stats_differing
  FROM alex_stats('bld_k') s FULL JOIN alex_stats('bld_k_mem') m USING (stat)
  WHERE s.value IS DISTINCT FROM m.value;
SELECT value AS entries FROM alex_stats('bld_k') WHERE stat IN ('entries', 'null_entries') ORDER BY stat;
DROP INDEX bld_k_mem;
VACUUM ANALYZE bld;

-- An ordered index scan returns every row with a key in (key, TID) order, then the NULLs.
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT k, ctid FROM bld ORDER BY k;
CREATE TEMP TABLE by_index AS SELECT row_number() OVER () AS n, k, ctid AS t FROM (SELECT k, ctid FROM bld ORDER BY k) s;
RESET enable_seqscan;
RESET enable_bitmapscan;
RESET enable_sort;
SET enable_indexscan = off;
SET enable_indexonlyscan = off;
SET enable_bitmapscan = off;
CREATE TEMP TABLE by_seq AS SELECT row_number() OVER (ORDER BY k, ctid) AS n, k, ctid AS t FROM bld;
SELECT count(*) AS rows_differing FROM by_index i FULL JOIN by_seq s USING (n)
  WHERE i.k IS DISTINCT FROM s.k OR (s.k IS NOT NULL AND i.t IS DISTINCT FROM s.t);
SELECT count(*) AS null_tids_differing FROM
  ((SELECT t FROM by_index WHERE k IS NULL EXCEPT SELECT t FROM by_seq WHERE k IS NULL)
   UNION ALL (SELECT t FROM by_seq WHERE k IS NULL EXCEPT SELECT t FROM by_index WHERE k IS NULL)) d;
-- Range and equality scans, the sequential scan's answers first.
CREATE TEMP TABLE probes AS
  SELECT count(*) FILTER (WHERE k < 0) AS neg, count(*) FILTER (WHERE k >= 0) AS nonneg,
         count(*) FILTER (WHERE k = -9223372036854775808) AS min, count(*) FILTER (WHERE k = 9223372036854775807) AS max,
         count(*) FILTER (WHERE k BETWEEN -1 AND 1) AS small, count(*) FILTER (WHERE k IS NULL) AS nulls,
         count(*) FILTER (WHERE k = ANY (ARRAY[hashint8extended(7, 0), hashint8extended(149999, 0), 5])) AS any
  FROM bld;
SELECT * FROM probes;
RESET enable_indexscan;
RESET enable_indexonlyscan;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM bld WHERE k < 0;
SELECT (SELECT count(*) FROM bld WHERE k < 0) AS neg, (SELECT count(*) FROM bld WHERE k >= 0) AS nonneg,
       (SELECT count(*) FROM bld WHERE k = -9223372036854775808) AS min,
       (SELECT count(*) FROM bld WHERE k = 9223372036854775807) AS max,
       (SELECT count(*) FROM bld WHERE k BETWEEN -1 AND 1) AS small, (SELECT count(*) FROM bld WHERE k IS NULL) AS nulls,
       (SELECT count(*) FROM bld WHERE k = ANY (ARRAY[hashint8extended(7, 0), hashint8extended(149999, 0), 5])) AS any;
RESET enable_seqscan;

-- UNIQUE builds through the spilled sort: a duplicate among live rows fails; a duplicate whose
-- row this transaction deleted is indexed (it is still in the heap) but does not count.
SET maintenance_work_mem = '1MB';
CREATE TABLE bld_u (id int, k int8);
INSERT INTO bld_u SELECT g, hashint8extended(g, 1) FROM generate_series(1, 200000) g;
INSERT INTO bld_u SELECT 200001, k FROM bld_u WHERE id = 123456;
INSERT INTO bld_u VALUES (200002, NULL), (200003, NULL);
CREATE UNIQUE INDEX bld_u_k ON bld_u USING alex (k);
BEGIN;
DELETE FROM bld_u WHERE id = 200001;
CREATE UNIQUE INDEX bld_u_k ON bld_u USING alex (k);
COMMIT;
SELECT value AS entries FROM alex_stats('bld_u_k') WHERE stat = 'entries';
SELECT alex_check('bld_u_k', true);
-- NULLS NOT DISTINCT: two live NULLs fail; one of them deleted by the building transaction does not.
CREATE UNIQUE INDEX bld_u_nnd ON bld_u USING alex (k) NULLS NOT DISTINCT;
BEGIN;
DELETE FROM bld_u WHERE id = 200003;
CREATE UNIQUE INDEX bld_u_nnd ON bld_u USING alex (k) NULLS NOT DISTINCT;
COMMIT;
SELECT value AS null_entries FROM alex_stats('bld_u_nnd') WHERE stat = 'null_entries';
RESET maintenance_work_mem;

-- Dense clusters 2^20 apart, each of 1000 keys: a page filled to the density would hold the end of
-- one cluster and the start of the next, where its least-squares model misses most keys by
-- hundreds of slots. The build's cost model ends pages at the jumps instead.
CREATE TABLE bld_c (k int8);
INSERT INTO bld_c SELECT (g / 1000) * 1048576 + g % 1000 FROM generate_series(0, 49999) g;
CREATE INDEX bld_c_k ON bld_c USING alex (k);
SELECT stat, value::float8 < 2 AS small FROM alex_stats('bld_c_k') WHERE stat IN ('data_model_error_mean', 'data_model_error_max') ORDER BY stat;
SELECT alex_check('bld_c_k', true);
SET enable_seqscan = off;
SELECT count(*) FROM bld_c WHERE k BETWEEN 1048576 * 7 - 5 AND 1048576 * 7 + 5;
RESET enable_seqscan;

-- Parallel builds (the table's parallel_workers setting forces the workers): each participant
-- sorts its part of the table and the leader merges them, so the pages must be exactly a
-- serial build's (the page LSN and checksum aside). pages_differing(a, b) compares them.
CREATE EXTENSION pageinspect;
CREATE FUNCTION pages_differing(a regclass, b regclass) RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) + abs(pg_relation_size(a) - pg_relation_size(b)) / 8192
  FROM generate_series(0, least(pg_relation_size(a), pg_relation_size(b)) / 8192 - 1) blk
  WHERE substr(get_raw_page(a::text, blk::int), 11) IS DISTINCT FROM substr(get_raw_page(b::text, blk::int), 11)
$$;
SET max_parallel_maintenance_workers = 0;
CREATE INDEX bld_k_serial ON bld USING alex (k);
CREATE INDEX bld_id_serial ON bld USING alex (id) WHERE k > 0;
SET max_parallel_maintenance_workers = 2;
ALTER TABLE bld SET (parallel_workers = 2);
-- The workers' sorts spill (1MB shared by three participants).
SET maintenance_work_mem = '1MB';
-- index.c's own line says "serially" before 17 (it plans workers for btree alone there) and
-- names the request from 17 on (alex_build_1.out).
SET client_min_messages = debug1;
CREATE INDEX bld_k_par ON bld USING alex (k);
RESET client_min_messages;
RESET maintenance_work_mem;
SELECT pages_differing('bld_k_serial', 'bld_k_par'), alex_check('bld_k_par', true);
-- A partial index: the workers evaluate the predicate.
CREATE INDEX bld_id_par ON bld USING alex (id) WHERE k > 0;
SELECT pages_differing('bld_id_serial', 'bld_id_par'), alex_check('bld_id_par', true);
-- Only the workers scan; REINDEX and CREATE INDEX CONCURRENTLY build in parallel too.
SET parallel_leader_participation = off;
REINDEX INDEX bld_k_par;
SELECT pages_differing('bld_k_serial', 'bld_k_par'), alex_check('bld_k_par', true);
RESET parallel_leader_participation;
DROP INDEX bld_k_par;
CREATE INDEX CONCURRENTLY bld_k_par ON bld USING alex (k);
SELECT pages_differing('bld_k_serial', 'bld_k_par'), alex_check('bld_k_par', true);
SELECT indisvalid FROM pg_index WHERE indexrelid = 'bld_k_par'::regclass;
DROP INDEX bld_k_par, bld_k_serial, bld_id_par, bld_id_serial;
-- UNIQUE: the duplicate's two rows may be in different participants' parts; the leader's merge
-- finds it.
DROP INDEX bld_u_k, bld_u_nnd;
INSERT INTO bld_u SELECT 300000, k FROM bld_u WHERE id = 7;
ALTER TABLE bld_u SET (parallel_workers = 2);
CREATE UNIQUE INDEX bld_u_par ON bld_u USING alex (k);
DELETE FROM bld_u WHERE id = 300000;
CREATE UNIQUE INDEX bld_u_par ON bld_u USING alex (k);
SET max_parallel_maintenance_workers = 0;
CREATE UNIQUE INDEX bld_u_serial ON bld_u USING alex (k);
RESET max_parallel_maintenance_workers;
SELECT pages_differing('bld_u_serial', 'bld_u_par'), alex_check('bld_u_par', true);
-- A HOT chain whose key changed (rows updated by the building transaction, no index on k yet):
-- the index must not serve older snapshots (pg_index.indcheckxmin), also when only workers saw it.
CREATE TABLE bld_hot (id int, k int8) WITH (fillfactor = 50, parallel_workers = 2);
INSERT INTO bld_hot SELECT g, g FROM generate_series(1, 20000) g;
SET parallel_leader_participation = off;
BEGIN;
UPDATE bld_hot SET k = -k;
CREATE INDEX bld_hot_k ON bld_hot USING alex (k);
SELECT indcheckxmin FROM pg_index WHERE indexrelid = 'bld_hot_k'::regclass;
COMMIT;
RESET parallel_leader_participation;
SELECT count(*) FROM bld_hot WHERE k > 0;
SELECT alex_check('bld_hot_k', true);
-- An empty table, and a columnar table.
CREATE TABLE bld_empty (k int8) WITH (parallel_workers = 2);
CREATE INDEX bld_empty_k ON bld_empty USING alex (k);
SELECT value AS entries FROM alex_stats('bld_empty_k') WHERE stat = 'entries';
CREATE TABLE bld_col (k int8) USING columnar WITH (parallel_workers = 2);
INSERT INTO bld_col SELECT k FROM bld;
CREATE INDEX bld_col_par ON bld_col USING alex (k);
SET max_parallel_maintenance_workers = 0;
CREATE INDEX bld_col_serial ON bld_col USING alex (k);
SELECT pages_differing('bld_col_serial', 'bld_col_par'), alex_check('bld_col_par', true);
RESET max_parallel_maintenance_workers;
DROP FUNCTION pages_differing(regclass, regclass);
DROP EXTENSION pageinspect;

DROP TABLE bld, bld_u, bld_c, bld_hot, bld_empty, bld_col;
