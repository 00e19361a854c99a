-- VACUUM merges underfull data pages into their right siblings and deletes them; once no
-- transaction that could still reach them runs, a later VACUUM hands them to the free space
-- map and splits reuse them. Every scan kind keeps returning what a sequential scan returns.
CREATE EXTENSION IF NOT EXISTS omendb;
CREATE TABLE pd (id int, k int8) WITH (autovacuum_enabled = off);
INSERT INTO pd SELECT g, (g::int8 * 7919) % 200003 FROM generate_series(1, 200000) g;
INSERT INTO pd SELECT 200000 + g, NULL FROM generate_series(1, 100) g;
CREATE INDEX pd_k ON pd USING alex (k);
CREATE TEMP TABLE before AS SELECT stat, value FROM alex_stats('pd_k');

-- Scattered deletes leave every page sparse; a deleted key range empties pages outright,
-- including the leftmost and the rightmost.
DELETE FROM pd WHERE id % 20 <> 0 OR k < 20000 OR k > 190000 OR k BETWEEN 90000 AND 110000;
VACUUM pd;
CREATE TEMP TABLE merged AS SELECT stat, value FROM alex_stats('pd_k');
SELECT m.value < b.value / 4 AS fewer_data_pages, f.value > 0 AS has_free_pages, m.value + f.value + 3 = p.value AS pages_add_up
  FROM before b, merged m, merged f, merged p
 WHERE b.stat = 'data_pages' AND m.stat = 'data_pages' AND f.stat = 'free_pages' AND p.stat = 'pages';
SELECT alex_check('pd_k', true);

CREATE TEMP TABLE expect AS SELECT * FROM pd;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT k FROM pd WHERE k BETWEEN 50000 AND 150000 ORDER BY k DESC;
SELECT array_agg(k) = (SELECT array_agg(k ORDER BY k DESC) FROM expect WHERE k BETWEEN 50000 AND 150000) AS desc_ok
  FROM (SELECT k FROM pd WHERE k BETWEEN 50000 AND 150000 ORDER BY k DESC) s;
SELECT array_agg(k) = (SELECT array_agg(k ORDER BY k) FROM expect WHERE k IS NOT NULL) AS asc_ok
  FROM (SELECT k FROM pd WHERE k IS NOT NULL ORDER BY k) s;
SELECT array_agg(k) AS probe FROM (SELECT k FROM expect WHERE k % 97 = 3 UNION ALL SELECT 5) s \gset
SELECT count(*) FROM pd WHERE k = ANY (:'probe');
SELECT count(*) FROM expect WHERE k = ANY (:'probe');
SELECT count(*) FROM pd WHERE k IS NULL;
-- A scroll cursor changes direction across merged pages.
BEGIN;
DECLARE c SCROLL CURSOR FOR SELECT k FROM pd WHERE k BETWEEN 80000 AND 120000 ORDER BY k;
MOVE FORWARD 300 IN c;
FETCH BACKWARD 3 FROM c;
FETCH FORWARD 2 FROM c;
COMMIT;
SELECT k FROM expect WHERE k BETWEEN 80000 AND 120000 ORDER BY k OFFSET 296 LIMIT 4;

-- Once no older transaction runs, the deleted pages are recyclable: new keys fill them and the
-- index does not grow.
SELECT txid_current() > 0 AS new_xid;
VACUUM pd;
SELECT pg_relation_size('pd_k') AS size_before \gset
INSERT INTO pd SELECT g, (g::int8 * 7919) % 200003 FROM generate_series(200101, 260000) g;
SELECT pg_relation_size('pd_k') = :size_before AS same_size,
       (SELECT value FROM alex_stats('pd_k') WHERE stat = 'free_pages') < (SELECT value FROM merged WHERE stat = 'free_pages') AS pages_reused;
SELECT alex_check('pd_k', true);
SELECT count(*), sum(k) FROM pd WHERE k BETWEEN 10000 AND 195000;
RESET ALL;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SELECT count(*), sum(k) FROM pd WHERE k BETWEEN 10000 AND 195000;
RESET ALL;

-- A UNIQUE index keeps checking keys across merged pages.
CREATE TABLE pu (k int8) WITH (autovacuum_enabled = off);
INSERT INTO pu SELECT g FROM generate_series(1, 100000) g;
CREATE UNIQUE INDEX pu_k ON pu USING alex (k);
DELETE FROM pu WHERE k % 50 <> 0;
VACUUM pu;
SELECT alex_check('pu_k', true);
INSERT INTO pu VALUES (5000);
INSERT INTO pu VALUES (5001);
SELECT count(*) FROM pu;
DROP TABLE pd, pu;

-- NULL keys: VACUUM unlinks the NULL pages it empties, at the head, in the middle or at the
-- tail of their chain; later NULL inserts fill the room VACUUM made and take recycled pages,
-- so a table whose rows with NULL keys come and go does not grow its index. A NULL page holds
-- 1019 TIDs: rows 1..1019 are on the first page, 1020..2038 on the second, and so on.
CREATE TABLE pn (id int, k int8) WITH (autovacuum_enabled = off);
CREATE INDEX pn_k ON pn USING alex (k);
INSERT INTO pn SELECT g, NULL FROM generate_series(1, 5000) g;
INSERT INTO pn SELECT 5000 + g, g FROM generate_series(1, 1000) g;
SELECT pg_relation_size('pn_k') AS size_before \gset
CREATE FUNCTION null_pages(regclass) RETURNS numeric LANGUAGE sql
  AS $$ SELECT value FROM alex_stats($1) WHERE stat = 'null_pages' $$;
SELECT null_pages('pn_k');
DELETE FROM pn WHERE id <= 1019 OR id BETWEEN 2039 AND 3057 OR id BETWEEN 4077 AND 5000;
VACUUM pn;
SELECT null_pages('pn_k'), alex_check('pn_k', true);
SET enable_seqscan = off;
SELECT count(*), min(id), max(id), count(*) FILTER (WHERE id BETWEEN 1020 AND 2038) AS second_page
  FROM pn WHERE k IS NULL;
RESET enable_seqscan;
-- Once no older transaction runs, the unlinked pages are recyclable: the NULL appended after
-- the new tail (the full fourth page) takes one.
SELECT txid_current() > 0 AS new_xid;
VACUUM pn;
INSERT INTO pn VALUES (-1, NULL);
SELECT pg_relation_size('pn_k') = :size_before AS same_size, null_pages('pn_k'), alex_check('pn_k', true);
DELETE FROM pn WHERE k IS NULL;
VACUUM pn;
SELECT null_pages('pn_k'), alex_check('pn_k', true);
SELECT txid_current() > 0 AS new_xid;
VACUUM pn;
INSERT INTO pn SELECT g, NULL FROM generate_series(1, 5000) g;
DELETE FROM pn WHERE k IS NULL AND id % 2 = 0;
VACUUM pn;
INSERT INTO pn SELECT g, NULL FROM generate_series(1, 2500) g;
SELECT pg_relation_size('pn_k') = :size_before AS same_size, null_pages('pn_k'), alex_check('pn_k', true);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM pn WHERE k IS NULL;
SELECT count(*) FROM pn WHERE k IS NULL;
RESET enable_seqscan;
SELECT count(*) FROM pn WHERE k IS NULL;
-- The same under NULLS NOT DISTINCT, whose inserts hold the metapage while they append.
CREATE TABLE pnu (k int8) WITH (autovacuum_enabled = off);
CREATE UNIQUE INDEX pnu_k ON pnu USING alex (k) NULLS NOT DISTINCT;
INSERT INTO pnu SELECT g FROM generate_series(1, 3000) g;
INSERT INTO pnu VALUES (NULL);
SELECT pg_relation_size('pnu_k') AS size_before \gset
DELETE FROM pnu WHERE k IS NULL;
VACUUM pnu;
SELECT null_pages('pnu_k');
SELECT txid_current() > 0 AS new_xid;
VACUUM pnu;
INSERT INTO pnu VALUES (NULL);
INSERT INTO pnu VALUES (NULL);
SELECT alex_check('pnu_k', true), count(*), null_pages('pnu_k'), pg_relation_size('pnu_k') = :size_before AS same_size
  FROM pnu WHERE k IS NULL;
DROP TABLE pn, pnu;
DROP FUNCTION null_pages;

-- An underfull page that cannot move into its right sibling (here the rightmost page) takes
-- in its left sibling instead, when the two fit one page. Below, the emptied page before the
-- rightmost one moves into it, and the rightmost page, still underfull, then takes in its
-- left sibling (40% full): two pages fewer.
CREATE TABLE pr (k int8) WITH (autovacuum_enabled = off);
INSERT INTO pr SELECT g FROM generate_series(1, 100000) g;
CREATE INDEX pr_k ON pr USING alex (k);
DELETE FROM pr WHERE k % 2 = 0 OR k > 98000;
SELECT value AS data_pages_before FROM alex_stats('pr_k') WHERE stat = 'data_pages' \gset
VACUUM pr;
SELECT value = :data_pages_before - 2 AS rightmost_merged, alex_check('pr_k', true)
  FROM alex_stats('pr_k') WHERE stat = 'data_pages';
SELECT count(*), min(k), max(k) FROM pr WHERE k > 90000;
DROP TABLE pr;

-- Deleting the oldest keys (a rolling window) empties whole model pages' worth of data pages.
-- A model page left with one child hands it, with its key range, to the model page on its
-- right and is deleted; the child then merges into its new right sibling. Here the deleted
-- range covers the first two of four model pages at level 1.
CREATE TABLE pw (id int, k int8) WITH (autovacuum_enabled = off);
INSERT INTO pw SELECT g, (g::int8 * 2654435761) % 1099511627776 FROM generate_series(1, 150000) g;
CREATE INDEX pw_k ON pw USING alex (k) WITH (density = 0.1);
SELECT stat, value FROM alex_stats('pw_k') WHERE stat IN ('height', 'model_pages');
DELETE FROM pw WHERE k < 700000000000;
VACUUM pw;
SELECT stat, value FROM alex_stats('pw_k') WHERE stat IN ('height', 'model_pages', 'unposted_pages');
SELECT alex_check('pw_k', true);
CREATE TEMP TABLE pw_expect AS SELECT * FROM pw;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT k FROM pw WHERE k < 800000000000 ORDER BY k DESC;
SELECT array_agg(k) = (SELECT array_agg(k ORDER BY k DESC) FROM pw_expect WHERE k < 800000000000) AS desc_ok
  FROM (SELECT k FROM pw WHERE k < 800000000000 ORDER BY k DESC) s;
SELECT array_agg(k) = (SELECT array_agg(k ORDER BY k) FROM pw_expect) AS asc_ok
  FROM (SELECT k FROM pw ORDER BY k) s;
SELECT count(*) FROM pw WHERE k = ANY (ARRAY(SELECT k FROM pw_expect WHERE id % 50 = 0) || ARRAY[5::int8, 699999999999]);
SELECT count(*) FROM pw_expect WHERE id % 50 = 0;
-- Old keys come back: inserts descend through the model page that took over the range, and,
-- once no older transaction runs, reuse the deleted pages.
SELECT txid_current() > 0 AS new_xid;
VACUUM pw;
SELECT pg_relation_size('pw_k') AS size_before \gset
INSERT INTO pw SELECT g, (g::int8 * 2654435761) % 1099511627776 FROM generate_series(1, 20000) g;
SELECT pg_relation_size('pw_k') = :size_before AS same_size, alex_check('pw_k', true);
SELECT count(*), sum(k) FROM pw WHERE k < 900000000000;
RESET ALL;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SELECT count(*), sum(k) FROM pw WHERE k < 900000000000;
RESET ALL;
DROP TABLE pw;

-- The same at every level below the root. A developer option caps model pages at 4 children,
-- so that 40,000 rows at density 0.1 make a tree of 5 levels. Deleting the oldest three
-- quarters empties whole model pages of levels 1 to 3: a model page whose only child's right
-- sibling has another parent is first handed over one level up, with its parent.
SET omendb.model_page_fanout = 4;
CREATE TABLE pm (id int, k int8) WITH (autovacuum_enabled = off);
INSERT INTO pm SELECT g, g FROM generate_series(1, 40000) g;
CREATE INDEX pm_k ON pm USING alex (k) WITH (density = 0.1);
SELECT stat, value FROM alex_stats('pm_k') WHERE stat IN ('height', 'model_pages', 'data_pages');
DELETE FROM pm WHERE k <= 30000;
VACUUM pm;
SELECT stat, value FROM alex_stats('pm_k') WHERE stat IN ('height', 'model_pages', 'data_pages', 'unposted_pages');
SELECT alex_check('pm_k', true);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*), min(k), max(k), sum(k) FROM pm WHERE k > 0;
SELECT array_agg(k) = (SELECT array_agg(g::int8 ORDER BY g DESC) FROM generate_series(30001, 40000) g) AS desc_ok
  FROM (SELECT k FROM pm ORDER BY k DESC) s;
-- Old keys come back into the ranges the deleted model pages covered, splitting pages under
-- the same cap; then the rest goes too.
INSERT INTO pm SELECT g, g FROM generate_series(1, 30000, 7) g;
SELECT alex_check('pm_k', true), count(*) FROM pm WHERE k < 30001;
-- A page that took in an emptied sibling may be left its model page's only child, and is
-- handed over in the same VACUUM: one model page per level remains.
DELETE FROM pm WHERE k < 39000;
VACUUM pm;
SELECT stat, value FROM alex_stats('pm_k') WHERE stat IN ('height', 'model_pages', 'data_pages');
SELECT alex_check('pm_k', true), count(*), min(k), max(k) FROM pm WHERE k > 0;
RESET ALL;
DROP TABLE pm;
