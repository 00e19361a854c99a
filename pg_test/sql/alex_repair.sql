-- Separators that a crash between a page split and the post of its separator leaves missing.
-- omendb.skip_separator_posts makes every split stop right there, as such a crash would.
-- Searches stay correct (they move right through the unposted pages), and inserts that find an
-- unposted page post its separator, as the splitter would have.
SET enable_seqscan = off;
SET enable_bitmapscan = off;
CREATE TABLE rp (k int8);
CREATE INDEX rp_k ON rp USING alex (k);
SET omendb.skip_separator_posts = on;
INSERT INTO rp SELECT (hashint4(g)::int8 * 1000003) FROM generate_series(1, 30000) g;
RESET omendb.skip_separator_posts;
-- The root is still the first data page; every other one hangs off its right links.
SELECT stat, value FROM alex_stats('rp_k') WHERE stat = 'height';
SELECT (SELECT value FROM alex_stats('rp_k') WHERE stat = 'unposted_pages')
     = (SELECT value FROM alex_stats('rp_k') WHERE stat = 'data_pages') - 1 AS all_but_root_unposted;
SELECT alex_check('rp_k', true);

-- Every search still finds what a sequential scan finds.
CREATE TEMP TABLE probe AS SELECT k FROM rp TABLESAMPLE SYSTEM (5) REPEATABLE (1) LIMIT 300;
EXPLAIN (COSTS OFF) SELECT count(*) FROM rp WHERE k = 7;
SELECT count(*) AS missed FROM probe p WHERE NOT EXISTS (SELECT 1 FROM rp WHERE rp.k = p.k);
SELECT count(*) = 30000 AS all_found FROM rp WHERE k >= -9223372036854775808;
SELECT (SELECT count(*) FROM rp WHERE k < 0) = (SELECT count(*) FROM (SELECT k FROM rp ORDER BY k DESC) d WHERE k < 0)
  AS backward_agrees;

-- Inserts repair: each one that moves right past an unposted page posts its separator (the
-- first post grows a root above the old one).
INSERT INTO rp SELECT (hashint4(g)::int8 * 1000003) FROM generate_series(30001, 33000) g;
SELECT stat, value FROM alex_stats('rp_k') WHERE stat IN ('height', 'unposted_pages') ORDER BY stat;
SELECT alex_check('rp_k', true);
SELECT count(*) AS missed FROM probe p WHERE NOT EXISTS (SELECT 1 FROM rp WHERE rp.k = p.k);

-- The same below an existing model page, and with VACUUM merging pages around the repairs.
CREATE TABLE rq (k int4);
INSERT INTO rq SELECT g FROM generate_series(1, 100000) g;
CREATE INDEX rq_k ON rq USING alex (k);
SET omendb.skip_separator_posts = on;
INSERT INTO rq SELECT 100000 + g FROM generate_series(1, 20000) g;
INSERT INTO rq SELECT g FROM generate_series(1, 100000, 7) g;
RESET omendb.skip_separator_posts;
SELECT value > 20 AS many_unposted FROM alex_stats('rq_k') WHERE stat = 'unposted_pages';
DELETE FROM rq WHERE k % 10 <> 0;
VACUUM rq;
SELECT alex_check('rq_k', true);
INSERT INTO rq SELECT g FROM generate_series(1, 120000, 13) g WHERE g % 10 <> 0;
INSERT INTO rq SELECT g FROM generate_series(3, 120000, 11) g WHERE g % 10 <> 0;
SELECT value AS unposted FROM alex_stats('rq_k') WHERE stat = 'unposted_pages';
SELECT alex_check('rq_k', true);
SELECT count(*) = (SELECT count(*) FROM rq WHERE k + 0 BETWEEN 5000 AND 120000) AS range_agrees
  FROM rq WHERE k BETWEEN 5000 AND 120000;

-- Only a superuser may change the developer option.
CREATE ROLE rp_user;
SET ROLE rp_user;
SET omendb.skip_separator_posts = on;
RESET ROLE;
DROP ROLE rp_user;
DROP TABLE rp, rq;
