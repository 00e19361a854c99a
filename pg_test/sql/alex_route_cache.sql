-- The route cache (omendb.route_cache_size): a lookup whose model page of level 1 is cached
-- reads one index page, its data page; otherwise it reads one page per level. Answers never
-- depend on it. Index pages read per probe join come from EXPLAIN (ANALYZE, BUFFERS).
CREATE EXTENSION IF NOT EXISTS omendb;
CREATE TABLE rc (k int8);
INSERT INTO rc SELECT hashint8extended(g, 7) FROM generate_series(1, 100000) g;
-- A low density spreads the keys over several model pages of level 1.
CREATE INDEX rc_k ON rc USING alex (k) WITH (density = 0.1);
VACUUM ANALYZE rc;
SELECT stat, value FROM alex_stats('rc_k') WHERE stat IN ('height', 'model_pages') ORDER BY stat;
-- 5000 keys present and 5000 absent, in random order.
CREATE TABLE rc_probe AS
  SELECT k FROM (SELECT k FROM (SELECT k FROM rc ORDER BY hashint8(k) LIMIT 5000) p
                 UNION ALL SELECT k + 1 FROM (SELECT k FROM rc ORDER BY hashint8(k) LIMIT 5000) q) u
  ORDER BY hashint8(k + 3);
ANALYZE rc_probe;
SELECT count(*) AS expected FROM rc JOIN rc_probe USING (k);

SET enable_hashjoin = off;
SET enable_mergejoin = off;
SET enable_material = off;
SET enable_memoize = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM rc_probe p JOIN rc ON rc.k = p.k;
CREATE FUNCTION rc_index_pages_read() RETURNS int8 LANGUAGE plpgsql AS $$
DECLARE
  plan jsonb;
BEGIN
  EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT count(*) FROM rc_probe p JOIN rc ON rc.k = p.k' INTO plan;
  RETURN jsonb_path_query_first(plan, 'strict $.**? (@."Node Type" == "Index Only Scan")."Shared Hit Blocks"')::int8
       + jsonb_path_query_first(plan, 'strict $.**? (@."Node Type" == "Index Only Scan")."Shared Read Blocks"')::int8;
END $$;

-- Warm: one page per probe.
SELECT count(*) FROM rc_probe p JOIN rc ON rc.k = p.k;
SELECT rc_index_pages_read() BETWEEN 10000 AND 10200 AS one_page_per_probe;
-- Off: three pages per probe (root, model page, data page).
SET omendb.route_cache_size = 0;
SHOW omendb.route_cache_size;
SELECT count(*) FROM rc_probe p JOIN rc ON rc.k = p.k;
SELECT rc_index_pages_read() BETWEEN 30000 AND 30200 AS three_pages_per_probe;
-- Room for one model page: a cached page makes room for the next one, most probes descend.
SET omendb.route_cache_size = '32kB';
SELECT count(*) FROM rc_probe p JOIN rc ON rc.k = p.k;
SELECT rc_index_pages_read() BETWEEN 20000 AND 29000 AS mostly_descents;
-- Back to the default: the cache fills again.
RESET omendb.route_cache_size;
SHOW omendb.route_cache_size;
SELECT count(*) FROM rc_probe p JOIN rc ON rc.k = p.k;
SELECT rc_index_pages_read() BETWEEN 10000 AND 10200 AS one_page_per_probe;
DO $$ BEGIN SET omendb.route_cache_size = -1; EXCEPTION WHEN invalid_parameter_value THEN RAISE NOTICE 'negative size refused'; END $$;
RESET ALL;
DROP TABLE rc, rc_probe;
DROP FUNCTION rc_index_pages_read();
