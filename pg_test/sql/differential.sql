-- Randomized differential test of the alex access method.
--
-- For many key distributions and all supported key types, a table with an alex index (built on
-- the empty table and filled by inserts, or bulk built after loading) goes through rounds of
-- inserts (random keys and ordered runs), deletes, key updates and VACUUM. After each round a
-- fixed list of queries, built from sample values of the current data (quantiles, the most
-- common key) and from fixed probe values (absent values, type boundaries, cross-type
-- literals), runs once with sequential scans only and once per forced alex plan (index scan,
-- index-only scan, bitmap scan): the answers must be equal, and alex_check(index, true) must
-- pass. Everything is deterministic (setseed, fixed formulas); the output is one summary line
-- per distribution and the lists of failures and unexpected plans, empty when all is well
-- (otherwise they show the first failing queries with both answers).
-- Before that: a regression case for keys at the top of the key code space, and EXPLAINs that
-- show the alex index used for each scan kind.
--
-- How answers are compared:
--   rows     unordered: count and order-independent hash of the ids of the rows - or of the
--            keys as text (-0 differs from 0) for the index-only run
--   ordered  the exact sequence of k returned by a query with ORDER BY (also LATERAL top-N
--            subqueries), as typed arrays compared with IS NOT DISTINCT FROM (keys that are
--            equal may come in any order: -0 = 0, NaN = NaN)
--   cursor   a SCROLL cursor moved backward and forward (FETCH LAST, PRIOR, RELATIVE, ABSOLUTE,
--            MOVE): the sequence of values and of found/not-found answers
--   merge    a merge join with a probe table (hash join, nested loop and materialize off: an
--            inner index scan marks and restores its position on repeated outer keys)
--   nestloop a nested loop with a parameterized inner index scan (rescans, NULL keys)
--   UPDATE/DELETE statements driven by forced alex scans (updates insert into the index being
--            scanned) must affect as many rows as a sequential count finds.
-- Each forced run in the first round is also EXPLAINed: the plan must use the alex index the
-- forced way, or the run counts as a wrong plan.
-- (Quiet first: the extension may exist already, and IF NOT EXISTS would say so.)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS omendb;
SET max_parallel_workers_per_gather = 0;
-- Forced plans cost more than jit_above_cost: JIT compilation would dominate the run time.
SET jit = off;

-- Keys near the top of the key code space (large int8, positive float8 up to Infinity and
-- NaN, timestamps up to 'infinity'). Found by this test (failing as of commit 9827a94): a data
-- page whose key range, rounded up to a power of two, reaches past the largest code overflows
-- computing its largest encodable code (DataPage max_code): debug builds fail with "attempt to
-- add with overflow"; release builds lay the page out with decreasing gap codes and then miss
-- entries (the = query below returns no row; alex_check reports "key array decreases").
CREATE TABLE dt_top (k int8);
INSERT INTO dt_top VALUES (6173898994647897088), (7040878025145913344), (8601471312810423296);
CREATE INDEX dt_top_k ON dt_top USING alex (k);
CREATE TABLE dt_top_ins (k int8);
CREATE INDEX dt_top_ins_k ON dt_top_ins USING alex (k);
INSERT INTO dt_top_ins VALUES (1);
INSERT INTO dt_top_ins VALUES (9223372036854775807);
CREATE TABLE dt_top_nan (k float8);
INSERT INTO dt_top_nan VALUES (1), ('NaN');
CREATE INDEX dt_top_nan_k ON dt_top_nan USING alex (k);
SET enable_seqscan = off;
SELECT k FROM dt_top WHERE k = 8601471312810423296;
SELECT k FROM dt_top_ins WHERE k > 0 ORDER BY k DESC;
SELECT k FROM dt_top_nan WHERE k >= 1 ORDER BY k;
RESET enable_seqscan;
SELECT alex_check('dt_top_k', true) AS top, alex_check('dt_top_ins_k', true) AS top_ins, alex_check('dt_top_nan_k', true) AS top_nan;
DROP TABLE dt_top, dt_top_ins, dt_top_nan;

-- The alex index serves every scan kind. Plans (COSTS OFF) with the other ways disabled.
CREATE TABLE dt_plans (id int, k int8) WITH (autovacuum_enabled = off);
INSERT INTO dt_plans SELECT g, CASE WHEN g % 50 = 0 THEN NULL ELSE g % 300 END FROM generate_series(1, 3000) g;
CREATE INDEX dt_plans_k ON dt_plans USING alex (k);
VACUUM ANALYZE dt_plans;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SET enable_indexonlyscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM dt_plans WHERE k = 42;
EXPLAIN (COSTS OFF) SELECT id FROM dt_plans WHERE k > 5::int2 AND k <= 10::int4 ORDER BY k DESC;
EXPLAIN (COSTS OFF) SELECT id, k FROM dt_plans ORDER BY k DESC NULLS FIRST LIMIT 3;
EXPLAIN (COSTS OFF) SELECT id FROM dt_plans WHERE k = ANY ('{7,3,NULL,3}'::int4[]) ORDER BY k;
EXPLAIN (COSTS OFF) SELECT id FROM dt_plans WHERE k IS NULL;
SET enable_indexonlyscan = on;
EXPLAIN (COSTS OFF) SELECT k FROM dt_plans WHERE k BETWEEN 10 AND 20;
EXPLAIN (COSTS OFF) SELECT k FROM dt_plans WHERE k IS NOT NULL ORDER BY k DESC LIMIT 5;
SELECT k FROM dt_plans WHERE k IS NOT NULL ORDER BY k DESC LIMIT 5;
EXPLAIN (COSTS OFF) DECLARE dt_c SCROLL CURSOR FOR SELECT k FROM dt_plans WHERE k < 100 ORDER BY k;
SET enable_indexscan = off;
SET enable_bitmapscan = on;
EXPLAIN (COSTS OFF) SELECT id FROM dt_plans WHERE k < 10 OR k IS NULL;
EXPLAIN (COSTS OFF) SELECT count(*) FROM dt_plans WHERE k = ANY ('{1,2}'::int8[]);
SELECT count(*) FROM dt_plans WHERE k = ANY ('{1,2}'::int8[]);
SET enable_indexscan = on;
SET enable_bitmapscan = off;
SET enable_hashjoin = off;
SET enable_material = off;
SET enable_nestloop = off;
-- A merge join: the index scan is the inner side and restores its mark for the repeated 5.
EXPLAIN (COSTS OFF) SELECT p.i, t.id FROM (VALUES (1, 5::int8), (2, 5), (3, 7)) p(i, v) LEFT JOIN dt_plans t ON t.k = p.v;
SELECT p.i, count(t.id) FROM (VALUES (1, 5::int8), (2, 5), (3, 7)) p(i, v) LEFT JOIN dt_plans t ON t.k = p.v GROUP BY p.i ORDER BY p.i;
SET enable_nestloop = on;
SET enable_mergejoin = off;
-- A nested loop: the index scan is rescanned with each outer key.
EXPLAIN (COSTS OFF) SELECT p.i, t.id FROM (VALUES (1, 5::int8), (2, 5), (3, 7)) p(i, v) LEFT JOIN dt_plans t ON t.k = p.v;
RESET enable_seqscan;
RESET enable_bitmapscan;
RESET enable_indexonlyscan;
RESET enable_indexscan;
RESET enable_hashjoin;
RESET enable_material;
RESET enable_nestloop;
RESET enable_mergejoin;
DROP TABLE dt_plans;

-- One row per distribution. Expressions: init (initial rows, g = 1..n0), gen (a random key, for
-- inserts and key updates: random() only), run (the g-th key of an ordered run inserted in round
-- $r). extras: probe values as SQL literals. xtyp: the type of the probe table's cross-type
-- join column (NULL: none).
CREATE TABLE dt_dist (
    dist text PRIMARY KEY,
    typ text NOT NULL,
    build text NOT NULL CHECK (build IN ('bulk', 'empty')),
    idxopts text NOT NULL DEFAULT '',
    n0 int NOT NULL,
    init text NOT NULL,
    gen text NOT NULL,
    run text NOT NULL,
    extras text[] NOT NULL,
    xtyp text
);
CREATE TABLE dt_result (dist text, round int, queries int, runs int, wrong_plans int, failures int, check_ok bool);
CREATE TABLE dt_parallel_runs (dist text);
CREATE TABLE dt_failure (seq serial, dist text, round int, kind text, mode text, query text, got text, want text);
CREATE TABLE dt_wrong_plan (seq serial, dist text, round int, mode text, query text, plan text);

INSERT INTO dt_dist VALUES
('uniform', 'int8', 'bulk', '', 8000,
 $$(random() * 18000000000000000000 - 9000000000000000000)::int8$$,
 $$(random() * 18000000000000000000 - 9000000000000000000)::int8$$,
 $$(-9000000000000000000 + $r * 4000000000000000000::numeric + g * 1000)::int8$$,
 ARRAY[$$0::int8$$, $$12345::int4$$, $$(-1)::int2$$, $$'-9223372036854775808'::int8$$,
       $$'9223372036854775807'::int8$$, $$2147483647::int4$$], 'int4'),
('sequential', 'int8', 'empty', '', 6000,
 $$(g * 3)::int8$$,
 $$(random() * 20000)::int8$$,
 $$(CASE WHEN $r % 2 = 1 THEN 1000000 * $r + g * 3 ELSE -1000000 * $r - g * 3 END)::int8$$,
 ARRAY[$$1::int8$$, $$3::int4$$, $$18000::int8$$, $$18001::int2$$, $$(-1)::int4$$, $$9001::int8$$], 'int4'),
('skewed', 'int8', 'bulk', '', 5000,
 $$floor(exp(random() * 25))::int8$$,
 $$floor(exp(random() * 25))::int8$$,
 $$g::int8$$,
 ARRAY[$$0::int8$$, $$1::int4$$, $$2::int2$$, $$100000000000::int8$$, $$(-5)::int8$$, $$3::int8$$], 'int4'),
('clustered', 'int8', 'bulk', 'WITH (density = 0.5)', 5000,
 $$floor(random() * 4)::int8 * 1000000000000 - 2000000000000 + floor(random() * 2000)::int8$$,
 $$floor(random() * 4)::int8 * 1000000000000 - 2000000000000 + floor(random() * 2000)::int8$$,
 $$(($r % 4) * 1000000000000 - 2000000000000 + 700 + g)::int8$$,
 ARRAY[$$0::int8$$, $$(-2000000000000)::int8$$, $$(-1999999998001)::int8$$, $$1000000002000::int8$$,
       $$500000000000::int8$$, $$1999::int4$$], 'int4'),
('duplicates', 'int8', 'empty', '', 4000,
 $$CASE WHEN random() < 0.3 THEN NULL ELSE (floor(random() * 20)::int8 - 10) * 1000 END$$,
 $$CASE WHEN random() < 0.3 THEN NULL ELSE (floor(random() * 20)::int8 - 10) * 1000 END$$,
 $$((g / 30 - 10) * 1000)::int8$$,
 ARRAY[$$0::int8$$, $$(-10000)::int4$$, $$9000::int2$$, $$500::int8$$, $$10000::int8$$, $$(-11000)::int8$$], 'int4'),
('wide_duplicates', 'int8', 'bulk', '', 8000,
 $$(hashint4(floor(random() * 40)::int4)::int8 << 32) + 7$$,
 $$CASE WHEN random() < 0.05 THEN NULL WHEN random() < 0.9 THEN (hashint4(floor(random() * 40)::int4)::int8 << 32) + 7
     ELSE (random() * 18000000000000000000 - 9000000000000000000)::int8 END$$,
 $$((hashint4($r)::int8 << 32) + g / 50)::int8$$,
 ARRAY[$$(hashint4(3)::int8 << 32) + 7$$, $$(hashint4(3)::int8 << 32) + 8$$, $$12345::int4$$,
       $$0::int8$$, $$(hashint4(1)::int8 << 32)$$], 'int4'),
('single_value', 'int8', 'bulk', 'WITH (density = 0.1)', 1500,
 $$CASE WHEN random() < 0.05 THEN NULL ELSE 42 END::int8$$,
 $$CASE WHEN random() < 0.05 THEN NULL ELSE 42 END::int8$$,
 $$42::int8$$,
 ARRAY[$$42::int8$$, $$41::int4$$, $$43::int2$$, $$0::int8$$], 'int2'),
('nulls', 'int8', 'empty', '', 5000,
 $$CASE WHEN random() < 0.05 THEN NULL ELSE (random() * 2000000)::int8 - 1000000 END$$,
 $$CASE WHEN random() < 0.05 THEN NULL ELSE (random() * 2000000)::int8 - 1000000 END$$,
 $$(CASE WHEN g % 20 = 0 THEN NULL ELSE 1000000 + $r * 100000 + g END)::int8$$,
 ARRAY[$$0::int8$$, $$999999::int4$$, $$(-1000001)::int8$$, $$5::int2$$], 'int4'),
('int8_extremes', 'int8', 'bulk', 'WITH (density = 1.0)', 4000,
 $$CASE WHEN random() < 0.02 THEN NULL WHEN random() < 0.5
     THEN (ARRAY[-9223372036854775808, -9223372036854775807, -1, 0, 1, 9223372036854775806, 9223372036854775807]::int8[])[1 + floor(random() * 7)::int]
     ELSE (random() * 18000000000000000000 - 9000000000000000000)::int8 END$$,
 $$CASE WHEN random() < 0.02 THEN NULL WHEN random() < 0.5
     THEN (ARRAY[-9223372036854775808, -9223372036854775807, -1, 0, 1, 9223372036854775806, 9223372036854775807]::int8[])[1 + floor(random() * 7)::int]
     ELSE (random() * 18000000000000000000 - 9000000000000000000)::int8 END$$,
 $$(CASE WHEN $r % 2 = 1 THEN 9223372036854775807 - 100000 * $r + g ELSE -9223372036854775808 + 100000 * $r - g END)::int8$$,
 ARRAY[$$'-9223372036854775808'::int8$$, $$'9223372036854775807'::int8$$, $$'-9223372036854775807'::int8$$,
       $$0::int4$$, $$(-1)::int2$$, $$1::int8$$, $$(-32768)::int2$$, $$(-2147483648)::int4$$], 'int4'),
('float8', 'float8', 'bulk', '', 5000,
 $$CASE floor(random() * 16)::int
     WHEN 0 THEN 'NaN'::float8 WHEN 1 THEN 'Infinity' WHEN 2 THEN '-Infinity' WHEN 3 THEN '-0' WHEN 4 THEN '0'
     WHEN 5 THEN NULL
     WHEN 6 THEN (ARRAY[5e-324, -5e-324, 2.2250738585072014e-308, -2.2250738585072014e-308, 1e-310,
                        1.7976931348623157e308, -1.7976931348623157e308]::float8[])[1 + floor(random() * 7)::int]
     WHEN 7 THEN floor(random() * 10 - 5)
     ELSE (random() - 0.5) * power(10::float8, floor(random() * 40 - 20)) END$$,
 $$CASE floor(random() * 16)::int
     WHEN 0 THEN 'NaN'::float8 WHEN 1 THEN 'Infinity' WHEN 2 THEN '-Infinity' WHEN 3 THEN '-0' WHEN 4 THEN '0'
     WHEN 5 THEN NULL
     WHEN 6 THEN (ARRAY[5e-324, -5e-324, 2.2250738585072014e-308, -2.2250738585072014e-308, 1e-310,
                        1.7976931348623157e308, -1.7976931348623157e308]::float8[])[1 + floor(random() * 7)::int]
     WHEN 7 THEN floor(random() * 10 - 5)
     ELSE (random() - 0.5) * power(10::float8, floor(random() * 40 - 20)) END$$,
 $$CASE WHEN $r % 2 = 1 THEN g * '1e-320'::float8 ELSE $r * 1e300::float8 + g * 1e285::float8 END$$,
 ARRAY[$$'NaN'::float8$$, $$'Infinity'::float8$$, $$'-Infinity'::float8$$, $$'-0'::float8$$, $$0.1::float4$$,
       $$'NaN'::float4$$, $$'-Infinity'::float4$$, $$1e-320::float8$$, $$1.5::float8$$, $$(-1e308)::float8$$], 'float4'),
('float4', 'float4', 'bulk', 'WITH (density = 0.3)', 4000,
 $$CASE floor(random() * 16)::int
     WHEN 0 THEN 'NaN'::float4 WHEN 1 THEN 'Infinity' WHEN 2 THEN '-Infinity' WHEN 3 THEN '-0' WHEN 4 THEN '0'
     WHEN 5 THEN NULL
     WHEN 6 THEN (ARRAY['1.4e-45', '-1.4e-45', '1.17549435e-38', '3.4028235e38', '-3.4028235e38']::float4[])[1 + floor(random() * 5)::int]
     WHEN 7 THEN floor(random() * 10 - 5)::float4
     ELSE ((random() - 0.5) * power(10::float8, floor(random() * 20 - 10)))::float4 END$$,
 $$CASE floor(random() * 16)::int
     WHEN 0 THEN 'NaN'::float4 WHEN 1 THEN 'Infinity' WHEN 2 THEN '-Infinity' WHEN 3 THEN '-0' WHEN 4 THEN '0'
     WHEN 5 THEN NULL
     WHEN 6 THEN (ARRAY['1.4e-45', '-1.4e-45', '1.17549435e-38', '3.4028235e38', '-3.4028235e38']::float4[])[1 + floor(random() * 5)::int]
     WHEN 7 THEN floor(random() * 10 - 5)::float4
     ELSE ((random() - 0.5) * power(10::float8, floor(random() * 20 - 10)))::float4 END$$,
 $$($r * 1000 + g / 1024.0)::float4$$,
 ARRAY[$$0.1::float8$$, $$0.1::float4$$, $$'NaN'::float8$$, $$1e39::float8$$, $$(-1e39)::float8$$, $$1e-50::float8$$,
       $$3.4028234663852886e38::float8$$, $$'-0'::float4$$, $$'Infinity'::float4$$], 'float8'),
('int4', 'int4', 'empty', '', 4000,
 $$CASE WHEN random() < 0.1 THEN (ARRAY[-2147483648, 2147483647, 0, 1, -1])[1 + floor(random() * 5)::int]
     WHEN random() < 0.2 THEN floor(random() * 200 - 100)::int4
     ELSE (floor(random() * 4294967296)::int8 - 2147483648)::int4 END$$,
 $$CASE WHEN random() < 0.1 THEN (ARRAY[-2147483648, 2147483647, 0, 1, -1])[1 + floor(random() * 5)::int]
     WHEN random() < 0.2 THEN floor(random() * 200 - 100)::int4
     ELSE (floor(random() * 4294967296)::int8 - 2147483648)::int4 END$$,
 $$(-2147483648 + 1000 * $r + g)::int4$$,
 ARRAY[$$5000000000::int8$$, $$(-5000000000)::int8$$, $$2147483647::int8$$, $$(-2147483648)::int8$$,
       $$(-32768)::int2$$, $$7::int2$$, $$50::int4$$], 'int8'),
('int2', 'int2', 'bulk', '', 4000,
 $$(CASE WHEN random() < 0.1 THEN (ARRAY[-32768, 32767, 0, 1, -1])[1 + floor(random() * 5)::int]
     ELSE floor(random() * 65536 - 32768) END)::int2$$,
 $$(CASE WHEN random() < 0.1 THEN (ARRAY[-32768, 32767, 0, 1, -1])[1 + floor(random() * 5)::int]
     ELSE floor(random() * 65536 - 32768) END)::int2$$,
 $$(32767 - 1000 + 50 * $r + g)::int2$$,
 ARRAY[$$40000$$, $$(-40000)$$, $$32767::int4$$, $$(-32768)::int8$$, $$'9223372036854775807'::int8$$,
       $$100::int8$$, $$(-32768)::int2$$], 'int4'),
('timestamp', 'timestamp', 'empty', '', 3000,
 $$CASE WHEN random() < 0.03 THEN 'infinity'::timestamp WHEN random() < 0.03 THEN '-infinity'::timestamp
     WHEN random() < 0.03 THEN NULL WHEN random() < 0.01 THEN '4714-11-24 00:00:00 BC'::timestamp
     WHEN random() < 0.01 THEN '294276-12-31 23:59:59.999999'::timestamp
     ELSE '2000-01-01'::timestamp + random() * interval '200 years' - interval '100 years' END$$,
 $$CASE WHEN random() < 0.03 THEN 'infinity'::timestamp WHEN random() < 0.03 THEN '-infinity'::timestamp
     WHEN random() < 0.03 THEN NULL WHEN random() < 0.01 THEN '4714-11-24 00:00:00 BC'::timestamp
     WHEN random() < 0.01 THEN '294276-12-31 23:59:59.999999'::timestamp
     ELSE '2000-01-01'::timestamp + random() * interval '200 years' - interval '100 years' END$$,
 $$'2001-01-01'::timestamp + $r * interval '1 year' + g * interval '1 second'$$,
 ARRAY[$$'infinity'::timestamp$$, $$'-infinity'::timestamp$$, $$'2000-01-01'::timestamp$$, $$'epoch'::timestamp$$,
       $$'4714-11-24 00:00:00 BC'::timestamp$$, $$'1999-12-31 23:59:59.999999'::timestamp$$], NULL),
('timestamptz', 'timestamptz', 'bulk', '', 3000,
 $$CASE WHEN random() < 0.03 THEN 'infinity'::timestamptz WHEN random() < 0.03 THEN '-infinity'::timestamptz
     WHEN random() < 0.03 THEN NULL WHEN random() < 0.01 THEN '4714-11-25 00:00:00+00 BC'::timestamptz
     WHEN random() < 0.01 THEN '294276-12-31 23:59:59+00'::timestamptz
     ELSE '2000-01-01 00:00:00+00'::timestamptz + random() * interval '200 years' - interval '100 years' END$$,
 $$CASE WHEN random() < 0.03 THEN 'infinity'::timestamptz WHEN random() < 0.03 THEN '-infinity'::timestamptz
     WHEN random() < 0.03 THEN NULL WHEN random() < 0.01 THEN '4714-11-25 00:00:00+00 BC'::timestamptz
     WHEN random() < 0.01 THEN '294276-12-31 23:59:59+00'::timestamptz
     ELSE '2000-01-01 00:00:00+00'::timestamptz + random() * interval '200 years' - interval '100 years' END$$,
 $$'2001-01-01 00:00:00+00'::timestamptz + $r * interval '1 year' + g * interval '1 second'$$,
 ARRAY[$$'infinity'::timestamptz$$, $$'-infinity'::timestamptz$$, $$'2000-01-01 00:00:00+00'::timestamptz$$,
       $$'epoch'::timestamptz$$, $$'4714-11-25 00:00:00+00 BC'::timestamptz$$], NULL),
('date', 'date', 'bulk', '', 3000,
 $$CASE WHEN random() < 0.03 THEN 'infinity'::date WHEN random() < 0.03 THEN '-infinity'::date
     WHEN random() < 0.03 THEN NULL WHEN random() < 0.01 THEN '4714-11-24 BC'::date
     WHEN random() < 0.01 THEN '5874897-12-31'::date
     ELSE '2000-01-01'::date + floor(random() * 100000 - 50000)::int END$$,
 $$CASE WHEN random() < 0.03 THEN 'infinity'::date WHEN random() < 0.03 THEN '-infinity'::date
     WHEN random() < 0.03 THEN NULL WHEN random() < 0.01 THEN '4714-11-24 BC'::date
     WHEN random() < 0.01 THEN '5874897-12-31'::date
     ELSE '2000-01-01'::date + floor(random() * 100000 - 50000)::int END$$,
 $$'2100-01-01'::date + $r * 1000 + g$$,
 ARRAY[$$'infinity'::date$$, $$'-infinity'::date$$, $$'2000-01-01'::date$$, $$'4714-11-24 BC'::date$$,
       $$'5874897-12-31'::date$$, $$'1970-01-01'::date$$], NULL);

-- The planner settings of a run: 'seq' (the reference), or one way of using the alex index.
-- The parallel modes ('pindex', 'pindexonly') make workers free and any index big enough; one
-- worker and the leader share the scan (a worker more costs time and adds little).
CREATE FUNCTION dt_mode(m text) RETURNS void LANGUAGE plpgsql AS $f$
DECLARE
    par bool := m IN ('pindex', 'pindexonly');
BEGIN
    PERFORM set_config('enable_seqscan', (m = 'seq')::text, false);
    PERFORM set_config('enable_indexscan', (m IN ('index', 'indexonly', 'pindex', 'pindexonly'))::text, false);
    PERFORM set_config('enable_indexonlyscan', (m IN ('indexonly', 'pindexonly'))::text, false);
    PERFORM set_config('enable_bitmapscan', (m = 'bitmap')::text, false);
    PERFORM set_config('max_parallel_workers_per_gather', CASE WHEN par THEN '1' ELSE '0' END, false);
    PERFORM set_config('parallel_setup_cost', CASE WHEN par THEN '0' ELSE '1000' END, false);
    PERFORM set_config('parallel_tuple_cost', CASE WHEN par THEN '0' ELSE '0.1' END, false);
    PERFORM set_config('min_parallel_index_scan_size', CASE WHEN par THEN '0' ELSE '512kB' END, false);
    PERFORM set_config('min_parallel_table_scan_size', CASE WHEN par THEN '0' ELSE '8MB' END, false);
END $f$;

CREATE FUNCTION dt_plan(q text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    line text;
    plan text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
        plan := plan || line || E'\n';
    END LOOP;
    RETURN plan;
END $f$;

-- Whether a plan uses index idx the way mode m forces.
-- PostgreSQL 18 may keep an ordered index scan it was told to avoid ("Disabled: true") rather
-- than sort a bitmap scan's rows (for btree alike): such a bitmap-mode run reads alex in order.
CREATE FUNCTION dt_plan_ok(plan text, m text, idx text) RETURNS bool LANGUAGE sql AS $f$
    SELECT plan ~ (CASE m WHEN 'index' THEN 'Index Scan (Backward )?using '
                          WHEN 'indexonly' THEN 'Index Only Scan (Backward )?using '
                          WHEN 'pindex' THEN 'Parallel Index Scan (Backward )?using '
                          WHEN 'pindexonly' THEN 'Parallel Index Only Scan (Backward )?using '
                          ELSE 'Bitmap Index Scan on ' END || idx || '\M')
        OR (m = 'bitmap' AND plan ~ ('Index Scan (Backward )?using ' || idx || '\M[^\n]*\n\s+Disabled: true'))
$f$;

-- For a mismatch report: the rows got has beyond want (as multisets), and the other way round.
CREATE FUNCTION dt_diff(got text[], want text[]) RETURNS text LANGUAGE sql AS $f$
    SELECT format('%s rows, want %s; extra: %s; missing: %s',
                  coalesce(cardinality(got), 0), coalesce(cardinality(want), 0),
                  (SELECT array_agg(x) FROM (SELECT x FROM (SELECT unnest(got) EXCEPT ALL SELECT unnest(want)) e(x) ORDER BY x LIMIT 10) e),
                  (SELECT array_agg(x) FROM (SELECT x FROM (SELECT unnest(want) EXCEPT ALL SELECT unnest(got)) e(x) ORDER BY x LIMIT 10) e))
$f$;

-- The answers of an ordered query differ: where, and the neighbourhood in both.
CREATE FUNCTION dt_seq_diff(got anyarray, want anyarray) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    i int := 1;
BEGIN
    WHILE i <= greatest(cardinality(got), cardinality(want)) AND got[i] IS NOT DISTINCT FROM want[i] LOOP
        i := i + 1;
    END LOOP;
    RETURN format('%s values, want %s; first difference at %s: got %s, want %s', coalesce(cardinality(got), 0),
                  coalesce(cardinality(want), 0), i, got[greatest(i - 2, 1):i + 3], want[greatest(i - 2, 1):i + 3]);
END $f$;

-- Runs a statement of a setup or change step; an error is recorded as a failure.
CREATE FUNCTION dt_exec(dist text, rnd int, stmt text) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
    EXECUTE stmt;
EXCEPTION WHEN OTHERS THEN
    INSERT INTO dt_failure (dist, round, kind, mode, query, got, want)
    VALUES (dist, rnd, 'statement', NULL, stmt, 'ERROR: ' || SQLERRM, 'no error');
END $f$;

-- Runs one query of the given kind under every mode; records mismatches and unexpected plans;
-- returns the number of forced runs. pe/pa: NULLs of the key type and its array type.
CREATE FUNCTION dt_check(dist text, rnd int, kind text, query text, pe anyelement, pa anyarray)
RETURNS int LANGUAGE plpgsql AS $f$
DECLARE
    tbl text := 'dt_' || dist;
    idx text := 'dt_' || dist || '_k';
    joined bool := kind IN ('merge', 'nestloop');
    modes text[];
    m text;
    col text;
    sql text;
    dsql text;
    plan text;
    want_rows text;
    want_keys text;
    got text;
    want text;
    wa pa%TYPE;
    ga pa%TYPE;
    wt text[];
    gt text[];
    wflags text;
    gflags text;
    v pe%TYPE;
    c refcursor;
    i int;
    runs int := 0;
BEGIN
    -- The forced modes. A bitmap scan needs a condition on k; only a bitmap scan can use the
    -- index for an OR; a merge join needs the index order. Counts and sums of rows also run
    -- as parallel index scans.
    modes := CASE
        WHEN query ~ ' OR ' THEN ARRAY['bitmap']
        WHEN kind = 'merge' OR (kind IN ('ordered', 'cursor') AND query !~ ' WHERE ') THEN ARRAY['index', 'indexonly']
        WHEN kind = 'rows' THEN ARRAY['index', 'indexonly', 'bitmap', 'pindex', 'pindexonly']
        ELSE ARRAY['index', 'indexonly', 'bitmap'] END;
    IF joined THEN
        PERFORM set_config('enable_hashjoin', 'off', false);
        PERFORM set_config('enable_nestloop', (kind <> 'merge')::text, false);
        PERFORM set_config('enable_mergejoin', (kind = 'merge')::text, false);
        PERFORM set_config('enable_material', (kind <> 'merge')::text, false);
    END IF;
    IF kind = 'rows' THEN
        PERFORM dt_mode('seq');
        EXECUTE format('SELECT count(*) || '' '' || coalesce(sum(hashint4(q.id)::int8), 0),
                               count(*) || '' '' || coalesce(sum(hashtext(q.k::text)::int8), 0)
                        FROM (SELECT id, k FROM %I WHERE %s) q', tbl, query) INTO want_rows, want_keys;
    ELSIF joined THEN
        PERFORM dt_mode('seq');
        EXECUTE format('SELECT count(*) || '' '' || coalesce(sum(hashtext((p.i, t.id)::text)::int8), 0),
                               count(*) || '' '' || coalesce(sum(hashtext((p.i, t.k)::text)::int8), 0)
                        FROM %s', query) INTO want_rows, want_keys;
    END IF;
    FOREACH m IN ARRAY ARRAY['seq'] || modes LOOP
        PERFORM dt_mode(m);
        col := CASE WHEN m IN ('indexonly', 'pindexonly') THEN 'k' ELSE 'id' END;
        sql := CASE
            WHEN kind = 'rows' THEN format('SELECT count(*) || '' '' || coalesce(sum(%s::int8), 0) FROM (SELECT %s FROM %I WHERE %s) q',
                                           CASE col WHEN 'k' THEN 'hashtext(q.k::text)' ELSE 'hashint4(q.id)' END, col, tbl, query)
            WHEN joined THEN format('SELECT count(*) || '' '' || coalesce(sum(hashtext((p.i, t.%s)::text)::int8), 0) FROM %s', col, query)
            WHEN kind = 'ordered' THEN format('SELECT array_agg(q.k) FROM (%s) q', query)
            ELSE query END;
        IF m = 'seq' THEN
            IF kind = 'rows' OR joined THEN
                CONTINUE;  -- the reference answers were computed above
            END IF;
        ELSIF m IN ('pindex', 'pindexonly') THEN
            -- The planner runs a query in parallel only where that is cheaper (not for a few
            -- rows): the other queries are not run in these modes.
            IF NOT dt_plan_ok(dt_plan(sql), m, idx) THEN
                CONTINUE;
            END IF;
            INSERT INTO dt_parallel_runs VALUES (dist);
            runs := runs + 1;
        ELSE
            runs := runs + 1;
        END IF;
        BEGIN
            got := NULL;
            -- The plans are checked in the first round (they keep their shape).
            IF m <> 'seq' AND rnd = 0 THEN
                plan := dt_plan(CASE kind WHEN 'cursor' THEN 'DECLARE dt_c SCROLL CURSOR FOR ' || sql ELSE sql END);
                IF NOT dt_plan_ok(plan, m, idx)
                   OR (kind = 'merge' AND plan !~ 'Merge (Left|Right) Join')
                   OR (kind = 'nestloop' AND plan !~ 'Nested Loop') THEN
                    INSERT INTO dt_wrong_plan (dist, round, mode, query, plan) VALUES (dist, rnd, m, sql, plan);
                END IF;
            END IF;
            IF kind = 'rows' OR joined THEN
                EXECUTE sql INTO got;
                want := CASE WHEN m IN ('indexonly', 'pindexonly') THEN want_keys ELSE want_rows END;
            ELSIF kind = 'ordered' THEN
                EXECUTE sql INTO ga;
                IF m = 'seq' THEN
                    wa := ga;
                ELSIF ga IS DISTINCT FROM wa THEN
                    got := dt_seq_diff(ga, wa);
                END IF;
            ELSE
                -- A scroll cursor, moved around; every FETCH adds its value and whether it found one.
                ga := '{}';
                gflags := '';
                OPEN c SCROLL FOR EXECUTE sql;
                FETCH LAST FROM c INTO v; ga := ga || v; gflags := gflags || CASE WHEN FOUND THEN 'f' ELSE '-' END;
                FOR i IN 1..5 LOOP
                    FETCH PRIOR FROM c INTO v; ga := ga || v; gflags := gflags || CASE WHEN FOUND THEN 'f' ELSE '-' END;
                END LOOP;
                FETCH RELATIVE -3 FROM c INTO v; ga := ga || v; gflags := gflags || CASE WHEN FOUND THEN 'f' ELSE '-' END;
                FOR i IN 1..3 LOOP
                    FETCH NEXT FROM c INTO v; ga := ga || v; gflags := gflags || CASE WHEN FOUND THEN 'f' ELSE '-' END;
                END LOOP;
                FETCH FIRST FROM c INTO v; ga := ga || v; gflags := gflags || CASE WHEN FOUND THEN 'f' ELSE '-' END;
                FOR i IN 1..4 LOOP
                    FETCH NEXT FROM c INTO v; ga := ga || v; gflags := gflags || CASE WHEN FOUND THEN 'f' ELSE '-' END;
                END LOOP;
                FOR i IN 1..3 LOOP
                    FETCH PRIOR FROM c INTO v; ga := ga || v; gflags := gflags || CASE WHEN FOUND THEN 'f' ELSE '-' END;
                END LOOP;
                FETCH NEXT FROM c INTO v; ga := ga || v; gflags := gflags || CASE WHEN FOUND THEN 'f' ELSE '-' END;
                FETCH ABSOLUTE 7 FROM c INTO v; ga := ga || v; gflags := gflags || CASE WHEN FOUND THEN 'f' ELSE '-' END;
                MOVE FORWARD 20 FROM c;
                FETCH NEXT FROM c INTO v; ga := ga || v; gflags := gflags || CASE WHEN FOUND THEN 'f' ELSE '-' END;
                MOVE BACKWARD 15 FROM c;
                FETCH PRIOR FROM c INTO v; ga := ga || v; gflags := gflags || CASE WHEN FOUND THEN 'f' ELSE '-' END;
                FETCH ABSOLUTE -2 FROM c INTO v; ga := ga || v; gflags := gflags || CASE WHEN FOUND THEN 'f' ELSE '-' END;
                FOR i IN 1..3 LOOP
                    FETCH NEXT FROM c INTO v; ga := ga || v; gflags := gflags || CASE WHEN FOUND THEN 'f' ELSE '-' END;
                END LOOP;
                FOR i IN 1..3 LOOP
                    FETCH PRIOR FROM c INTO v; ga := ga || v; gflags := gflags || CASE WHEN FOUND THEN 'f' ELSE '-' END;
                END LOOP;
                MOVE LAST FROM c;
                MOVE NEXT FROM c;
                FETCH PRIOR FROM c INTO v; ga := ga || v; gflags := gflags || CASE WHEN FOUND THEN 'f' ELSE '-' END;
                CLOSE c;
                IF m = 'seq' THEN
                    wa := ga;
                    wflags := gflags;
                ELSIF ga IS DISTINCT FROM wa OR gflags <> wflags THEN
                    got := gflags || ' ' || ga::text;
                END IF;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            got := 'ERROR: ' || SQLERRM;
        END;
        IF m = 'seq' THEN
            IF got IS NOT NULL THEN
                -- The reference run failed: the query itself is broken.
                INSERT INTO dt_failure (dist, round, kind, mode, query, got, want) VALUES (dist, rnd, kind, m, sql, got, NULL);
            END IF;
        ELSIF kind = 'rows' OR joined THEN
            IF got IS DISTINCT FROM want THEN
                -- Describe the difference: run both again, collecting the rows.
                BEGIN
                    dsql := CASE kind
                        WHEN 'rows' THEN format('SELECT array_agg(q::text) FROM (SELECT %s FROM %I WHERE %s) q',
                                                CASE col WHEN 'k' THEN 'k' ELSE 'id, k' END, tbl, query)
                        ELSE format('SELECT array_agg((p.i, t.%s)::text) FROM %s', col, query) END;
                    EXECUTE dsql INTO gt;
                    PERFORM dt_mode('seq');
                    EXECUTE dsql INTO wt;
                    got := got || ': ' || dt_diff(gt, wt);
                EXCEPTION WHEN OTHERS THEN
                    NULL;
                END;
                INSERT INTO dt_failure (dist, round, kind, mode, query, got, want) VALUES (dist, rnd, kind, m, sql, got, want);
            END IF;
        ELSIF got IS NOT NULL THEN
            INSERT INTO dt_failure (dist, round, kind, mode, query, got, want)
            VALUES (dist, rnd, kind, m, sql, got, CASE kind WHEN 'cursor' THEN wflags || ' ' || wa::text ELSE left(wa::text, 300) END);
        END IF;
    END LOOP;
    IF joined THEN
        PERFORM set_config('enable_hashjoin', 'on', false);
        PERFORM set_config('enable_nestloop', 'on', false);
        PERFORM set_config('enable_mergejoin', 'on', false);
        PERFORM set_config('enable_material', 'on', false);
    END IF;
    RETURN runs;
END $f$;

-- One round of checks on dt_<dist>: builds the queries from the current data and the probe
-- values, runs them all, runs alex_check and records the round in dt_result.
CREATE FUNCTION dt_round_t(dist text, rnd int, pe anyelement, pa anyarray) RETURNS void LANGUAGE plpgsql AS $f$
DECLARE
    cfg dt_dist;
    tbl text := quote_ident('dt_' || dist);
    qa pa%TYPE;
    mcv pe%TYPE;
    p text[];   -- literals: quantiles 0, 1, 10, 25, 50, 75, 90, 99, 100 % of the keys (p[1] .. p[9])
    x text[];   -- literals: the probe values of the distribution
    mc text;    -- literal: the most common key
    lits text[];
    l text;
    j int;
    a1 text;
    preds text[] := '{}';
    ords text[] := '{}';
    curs text[] := '{}';
    joins text[] := '{}';
    jkinds text[] := '{}';
    n int;
    runs int := 0;
    nqueries int;
    ok bool := true;
BEGIN
    SELECT * INTO cfg FROM dt_dist d WHERE d.dist = dt_round_t.dist;
    PERFORM dt_mode('seq');
    EXECUTE format('SELECT percentile_disc(ARRAY[0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1]::float8[]) WITHIN GROUP (ORDER BY k), count(*) FROM %s', tbl)
        INTO qa, n;
    EXECUTE format('SELECT k FROM %s WHERE k IS NOT NULL GROUP BY k ORDER BY count(*) DESC, k LIMIT 1', tbl) INTO mcv;
    x := cfg.extras;
    -- An empty table has no quantiles: probe values stand in.
    p := ARRAY(SELECT CASE WHEN qa IS NULL OR qa[i] IS NULL THEN x[1 + i % cardinality(x)] ELSE format('%L::%s', qa[i], cfg.typ) END
               FROM generate_series(1, 9) i);
    mc := CASE WHEN mcv IS NULL THEN x[1] ELSE format('%L::%s', mcv, cfg.typ) END;
    lits := p || mc || x;

    -- A probe table for joins and for arrays computed at run time: the sample keys, each twice
    -- or more, NULLs, and the same values in the cross-type column where they fit.
    DROP TABLE IF EXISTS dt_probe;
    EXECUTE format('CREATE TABLE dt_probe (i int, v %s, vx %s) WITH (autovacuum_enabled = off)', cfg.typ, coalesce(cfg.xtyp, cfg.typ));
    j := 0;
    FOREACH l IN ARRAY p || p || mc || mc || mc || 'NULL'::text || 'NULL'::text LOOP
        j := j + 1;
        BEGIN
            EXECUTE format('INSERT INTO dt_probe VALUES (%s, %s, %s::%s::%s)', j, l, l, cfg.typ, coalesce(cfg.xtyp, cfg.typ));
        EXCEPTION WHEN OTHERS THEN
            EXECUTE format('INSERT INTO dt_probe VALUES (%s, %s, NULL)', j, l);
        END;
    END LOOP;
    ANALYZE dt_probe;

    -- Unordered queries (WHERE clauses).
    -- Each value with =, and with < and > or with <= and >= (alternately).
    FOR j IN 1..cardinality(lits) LOOP
        preds := preds || format('k = %s', lits[j])
            || format('k %s %s', CASE WHEN j % 2 = 0 THEN '<' ELSE '<=' END, lits[j])
            || format('k %s %s', CASE WHEN j % 2 = 0 THEN '>' ELSE '>=' END, lits[j]);
    END LOOP;
    a1 := format('ARRAY[%s, %s, %s, NULL, %s, %s]', p[2], p[5], p[2], p[9], mc);
    preds := preds
        || format('k < %s', p[1]) || format('k > %s', p[9]) || format('k < %s', p[2]) || format('k > %s', p[8])
        || format('k BETWEEN %s AND %s', p[3], p[5])
        || format('k BETWEEN %s AND %s', p[5], p[3])
        || format('k > %s AND k < %s', p[2], p[8])
        || format('k >= %s AND k <= %s', p[4], p[4])
        || format('k > %s AND k >= %s AND k < %s AND k <= %s', p[6], p[7], p[9], p[9])
        || format('k BETWEEN %s AND %s', x[1], x[2])
        || format('k >= %s AND k <= %s', mc, mc)
        || format('k > %s AND k < %s', p[1], p[9])
        || format('k = ANY (%s)', a1)
        || format('k = ANY (ARRAY[%s])', array_to_string(x, ', '))
        || format('k = ANY (ARRAY[%s]) AND k >= %s', array_to_string(x, ', '), x[2])
        || format('k = ANY (ARRAY[%s, %s, NULL, %s])', x[2], x[1], x[2])
        || format('k = ANY (ARRAY[NULL, NULL]::%s[])', cfg.typ)
        || format('k = ANY (''{}''::%s[])', cfg.typ)
        || format('k = ANY (ARRAY[%s, %s])', mc, mc)
        || format('k < ANY (ARRAY[%s, %s, NULL])', p[3], p[4])
        || format('k >= ANY (ARRAY[%s, %s])', p[7], p[6])
        || format('k = ANY (ARRAY[%s]) AND k > %s', array_to_string(p, ', '), p[5])
        || format('k = ANY (ARRAY[%s, %s, %s]) AND k = ANY (ARRAY[%s, %s, %s])', p[3], p[4], p[5], p[4], p[5], p[6])
        -- arrays known at run time only (InitPlan parameters), one of 1000 elements
        || 'k = ANY (ARRAY(SELECT v FROM dt_probe))'::text
        || format('k = ANY ((SELECT array_agg(v) FROM dt_probe, generate_series(1, 40))::%s[])', cfg.typ)
        || 'k > ANY (ARRAY(SELECT v FROM dt_probe WHERE i > 15))'::text
        || 'k IS NULL'::text
        || 'k IS NOT NULL'::text
        || format('k IS NOT NULL AND k < %s', p[6])
        || format('k IS NULL AND k = %s', p[5])
        -- ORs: BitmapOr of alex bitmap scans
        || format('k < %s OR k > %s', p[3], p[7])
        || format('k = %s OR k IS NULL OR k BETWEEN %s AND %s', p[2], p[6], p[7]);

    -- Ordered queries.
    ords := ARRAY[
        format('SELECT k FROM %s ORDER BY k LIMIT 25', tbl),
        format('SELECT k FROM %s ORDER BY k DESC LIMIT 25', tbl),
        format('SELECT k FROM %s ORDER BY k DESC NULLS FIRST LIMIT 25', tbl),
        format('SELECT k FROM %s ORDER BY k NULLS LAST', tbl),
        format('SELECT k FROM %s ORDER BY k DESC NULLS FIRST', tbl),
        format('SELECT k FROM %s ORDER BY k LIMIT 20 OFFSET %s', tbl, n / 2),
        format('SELECT k FROM %s ORDER BY k DESC LIMIT 20 OFFSET %s', tbl, n / 3),
        format('SELECT k FROM %s WHERE k BETWEEN %s AND %s ORDER BY k DESC', tbl, p[3], p[7]),
        format('SELECT k FROM %s WHERE k = ANY (%s) ORDER BY k DESC', tbl, a1),
        format('SELECT k FROM %s WHERE k = ANY (%s) ORDER BY k LIMIT 7', tbl, a1),
        format('SELECT k FROM %s WHERE k = ANY (ARRAY[%s]) ORDER BY k DESC', tbl, array_to_string(x, ', ')),
        format('SELECT k FROM %s WHERE k = ANY (ARRAY(SELECT v FROM dt_probe)) ORDER BY k DESC', tbl),
        format('SELECT k FROM %s WHERE k IS NOT NULL ORDER BY k DESC LIMIT 10', tbl),
        format('SELECT k FROM %s WHERE k IS NULL ORDER BY k DESC', tbl),
        format('SELECT k FROM %s WHERE k = %s ORDER BY k DESC', tbl, mc),
        -- top-N scans stopped early and rescanned with the next outer key (LATERAL)
        format('SELECT t.k FROM dt_probe p CROSS JOIN LATERAL (SELECT k FROM %s WHERE k >= p.v ORDER BY k LIMIT 3) t
                WHERE p.i %% 3 = 0 ORDER BY p.i, t.k', tbl),
        format('SELECT t.k FROM dt_probe p CROSS JOIN LATERAL (SELECT k FROM %s WHERE k < p.v ORDER BY k DESC LIMIT 3) t
                WHERE p.i %% 3 = 1 ORDER BY p.i, t.k', tbl)];
    FOREACH l IN ARRAY ARRAY[p[4], p[5], mc, x[1], x[2]] LOOP
        ords := ords
            || format('SELECT k FROM %s WHERE k >= %s ORDER BY k LIMIT 40', tbl, l)
            || format('SELECT k FROM %s WHERE k > %s ORDER BY k LIMIT 40', tbl, l)
            || format('SELECT k FROM %s WHERE k < %s ORDER BY k DESC LIMIT 40', tbl, l)
            || format('SELECT k FROM %s WHERE k <= %s ORDER BY k DESC LIMIT 40', tbl, l);
    END LOOP;

    -- Scroll cursors.
    curs := ARRAY[
        format('SELECT k FROM %s WHERE k > %s ORDER BY k', tbl, p[3]),
        format('SELECT k FROM %s WHERE k <= %s ORDER BY k DESC', tbl, mc),
        format('SELECT k FROM %s ORDER BY k DESC NULLS FIRST', tbl),
        format('SELECT k FROM %s ORDER BY k', tbl),
        format('SELECT k FROM %s WHERE k = ANY (%s) ORDER BY k', tbl, a1)];

    -- Joins with the probe table: merge joins (the index scan marks and restores its position
    -- when it is the inner side) and nested loops with parameterized scans (rescans, also with
    -- NULL keys).
    jkinds := ARRAY['merge', 'nestloop'];
    joins := ARRAY[
        format('dt_probe p LEFT JOIN %s t ON t.k = p.v', tbl),
        format('dt_probe p LEFT JOIN %s t ON t.k = p.v', tbl)];
    IF cfg.xtyp IS NOT NULL THEN
        jkinds := jkinds || 'merge'::text || 'nestloop'::text;
        joins := joins || format('dt_probe p LEFT JOIN %s t ON t.k = p.vx', tbl) || format('dt_probe p LEFT JOIN %s t ON t.k = p.vx', tbl);
    END IF;

    FOREACH l IN ARRAY preds LOOP
        runs := runs + dt_check(dist, rnd, 'rows', l, pe, pa);
    END LOOP;
    FOREACH l IN ARRAY ords LOOP
        runs := runs + dt_check(dist, rnd, 'ordered', l, pe, pa);
    END LOOP;
    FOREACH l IN ARRAY curs LOOP
        runs := runs + dt_check(dist, rnd, 'cursor', l, pe, pa);
    END LOOP;
    FOR j IN 1..cardinality(joins) LOOP
        runs := runs + dt_check(dist, rnd, jkinds[j], joins[j], pe, pa);
    END LOOP;
    nqueries := cardinality(preds) + cardinality(ords) + cardinality(curs) + cardinality(joins);
    DROP TABLE dt_probe;
    PERFORM dt_mode('seq');

    BEGIN
        ok := alex_check(('dt_' || dist || '_k')::regclass, true);
    EXCEPTION WHEN OTHERS THEN
        ok := false;
        INSERT INTO dt_failure (dist, round, kind, mode, query, got, want)
        VALUES (dist, rnd, 'alex_check', NULL, format('SELECT alex_check(%L, true)', 'dt_' || dist || '_k'), 'ERROR: ' || SQLERRM, 't');
    END;
    INSERT INTO dt_result VALUES (dist, rnd, nqueries, runs,
        (SELECT count(*) FROM dt_wrong_plan w WHERE w.dist = dt_round_t.dist AND w.round = rnd),
        (SELECT count(*) FROM dt_failure f WHERE f.dist = dt_round_t.dist AND f.round = rnd AND f.kind <> 'alex_check'),
        ok);
END $f$;

CREATE PROCEDURE dt_round(dist text, rnd int) LANGUAGE plpgsql AS $f$
DECLARE
    typ text := (SELECT d.typ FROM dt_dist d WHERE d.dist = dt_round.dist);
BEGIN
    IF to_regclass('dt_' || dist || '_k') IS NULL THEN
        -- No index (its creation failed): nothing to check.
        INSERT INTO dt_result VALUES (dist, rnd, 0, 0, 0,
            (SELECT count(*) FROM dt_failure f WHERE f.dist = dt_round.dist AND f.round = rnd), false);
        RETURN;
    END IF;
    EXECUTE format('SELECT dt_round_t(%L, %s, NULL::%s, NULL::%s[])', dist, rnd, typ, typ);
END $f$;

-- Creates dt_<dist> and its index dt_<dist>_k: on the empty table (then filled by inserts) or
-- after loading it (bulk build).
CREATE PROCEDURE dt_setup(dist text) LANGUAGE plpgsql AS $f$
DECLARE
    cfg dt_dist;
    tbl text := quote_ident('dt_' || dist);
    idx text := quote_ident('dt_' || dist || '_k');
BEGIN
    SELECT * INTO cfg FROM dt_dist d WHERE d.dist = dt_setup.dist;
    PERFORM dt_mode('seq');
    PERFORM setseed(0.5);
    EXECUTE format('CREATE TABLE %s (id int GENERATED BY DEFAULT AS IDENTITY, k %s) WITH (autovacuum_enabled = off)', tbl, cfg.typ);
    IF cfg.build = 'empty' THEN
        PERFORM dt_exec(dist, 0, format('CREATE INDEX %s ON %s USING alex (k) %s', idx, tbl, cfg.idxopts));
    END IF;
    PERFORM dt_exec(dist, 0, format('INSERT INTO %s (k) SELECT %s FROM generate_series(1, %s) g', tbl, cfg.init, cfg.n0));
    IF cfg.build = 'bulk' THEN
        -- The build must skip dead row versions.
        EXECUTE format('DELETE FROM %s WHERE id %% 9 = 0', tbl);
        EXECUTE format('UPDATE %s SET id = id WHERE id %% 10 = 0', tbl);
        PERFORM dt_exec(dist, 0, format('CREATE INDEX %s ON %s USING alex (k) %s', idx, tbl, cfg.idxopts));
    END IF;
    EXECUTE format('ANALYZE %s', tbl);
END $f$;

-- One round of changes: random inserts, an ordered run, scattered deletes, key updates (random
-- keys, NULLs where the distribution has them), same-key updates (new row versions), and
-- updates and deletes that use the index.
CREATE PROCEDURE dt_modify(dist text, rnd int) LANGUAGE plpgsql AS $f$
DECLARE
    cfg dt_dist;
    tbl text := quote_ident('dt_' || dist);
    st record;
    lo text;
    hi text;
    cond text;
    want bigint;
    got bigint;
    err text;
BEGIN
    SELECT * INTO cfg FROM dt_dist d WHERE d.dist = dt_modify.dist;
    PERFORM dt_mode('seq');
    PERFORM setseed(rnd / 10.0);
    PERFORM dt_exec(dist, rnd, format('INSERT INTO %s (k) SELECT %s FROM generate_series(1, %s) g', tbl, cfg.gen, cfg.n0 / 8));
    PERFORM dt_exec(dist, rnd, format('INSERT INTO %s (k) SELECT %s FROM generate_series(1, %s) g', tbl, replace(cfg.run, '$r', rnd::text), cfg.n0 / 10));
    PERFORM dt_exec(dist, rnd, format('DELETE FROM %s WHERE id %% 7 = %s', tbl, rnd));
    PERFORM dt_exec(dist, rnd, format('UPDATE %s SET k = %s WHERE id %% 11 = %s', tbl, cfg.gen, rnd));
    PERFORM dt_exec(dist, rnd, format('UPDATE %s SET id = id WHERE id %% 23 = %s', tbl, rnd));
    -- Statements driven by a forced alex scan over a key range (quantiles lo..hi): updates
    -- that insert into the index while it is scanned (the same keys again, or random keys), and
    -- a delete of a range at the top, in the middle or at the bottom of the index (emptied
    -- pages after VACUUM). Each must affect as many rows as a sequential count finds.
    FOR st IN SELECT * FROM (VALUES
            ('index', 'UPDATE %s SET k = k WHERE %s', 0.55, 0.62, ' AND id % 3 = 0'),
            ('index', 'UPDATE %s SET k = ' || cfg.gen || ' WHERE %s', 0.30, 0.33, ' AND id % 3 = 0'),
            ('bitmap', 'DELETE FROM %s WHERE %s',
             CASE rnd % 3 WHEN 1 THEN 0.96 WHEN 2 THEN 0.45 ELSE 0 END, CASE rnd % 3 WHEN 1 THEN 1 WHEN 2 THEN 0.48 ELSE 0.04 END, ''))
            s(mode, stmt, qlo, qhi, filter) LOOP
        PERFORM dt_mode('seq');
        EXECUTE format('SELECT percentile_disc(%s) WITHIN GROUP (ORDER BY k)::text, percentile_disc(%s) WITHIN GROUP (ORDER BY k)::text FROM %s',
                       st.qlo, st.qhi, tbl) INTO lo, hi;
        CONTINUE WHEN lo IS NULL;
        -- (a range of one heavily duplicated key: a part of it only)
        cond := format('k BETWEEN %L::%s AND %L::%s', lo, cfg.typ, hi, cfg.typ) || st.filter
                || CASE WHEN lo = hi AND st.filter = '' THEN ' AND id % 3 = 0' ELSE '' END;
        EXECUTE format('SELECT count(*) FROM %s WHERE %s', tbl, cond) INTO want;
        PERFORM dt_mode(st.mode);
        BEGIN
            EXECUTE format(st.stmt, tbl, cond);
            GET DIAGNOSTICS got = ROW_COUNT;
            err := NULL;
        EXCEPTION WHEN OTHERS THEN
            err := 'ERROR: ' || SQLERRM;
        END;
        IF err IS NOT NULL OR got <> want THEN
            INSERT INTO dt_failure (dist, round, kind, mode, query, got, want)
            VALUES (dist, rnd, split_part(st.stmt, ' ', 1), st.mode, format(st.stmt, tbl, cond), coalesce(err, got || ' rows'), want || ' rows');
        END IF;
    END LOOP;
    PERFORM dt_mode('seq');
    EXECUTE format('ANALYZE %s', tbl);
END $f$;

-- Uniform int8 keys over the whole range, bulk build; rebuilt by REINDEX in the last round.
CALL dt_setup('uniform');
CALL dt_round('uniform', 0);
CALL dt_modify('uniform', 1);
CALL dt_round('uniform', 1);
CALL dt_modify('uniform', 2);
VACUUM dt_uniform;
CALL dt_round('uniform', 2);
CALL dt_modify('uniform', 3);
REINDEX TABLE dt_uniform;
VACUUM dt_uniform;
CALL dt_round('uniform', 3);

-- Ascending keys inserted into an empty index, then right appends and left prepends; then the
-- table is emptied and vacuumed (round 3 checks an index with no entries) and filled again.
CALL dt_setup('sequential');
CALL dt_round('sequential', 0);
CALL dt_modify('sequential', 1);
CALL dt_round('sequential', 1);
CALL dt_modify('sequential', 2);
VACUUM dt_sequential;
CALL dt_round('sequential', 2);
DELETE FROM dt_sequential;
VACUUM dt_sequential;
CALL dt_round('sequential', 3);
CALL dt_modify('sequential', 3);
CALL dt_round('sequential', 4);

-- exp(random): many small keys, a long tail.
CALL dt_setup('skewed');
CALL dt_round('skewed', 0);
CALL dt_modify('skewed', 1);
CALL dt_round('skewed', 1);
CALL dt_modify('skewed', 2);
VACUUM dt_skewed;
CALL dt_round('skewed', 2);

-- Four dense clusters far apart (density 0.5).
CALL dt_setup('clustered');
CALL dt_round('clustered', 0);
CALL dt_modify('clustered', 1);
CALL dt_round('clustered', 1);
CALL dt_modify('clustered', 2);
VACUUM dt_clustered;
CALL dt_round('clustered', 2);

-- 20 distinct keys (about 140 rows each) and 30% NULLs (more than one page of them),
-- inserted into an empty index.
CALL dt_setup('duplicates');
CALL dt_round('duplicates', 0);
CALL dt_modify('duplicates', 1);
CALL dt_round('duplicates', 1);
CALL dt_modify('duplicates', 2);
VACUUM dt_duplicates;
CALL dt_round('duplicates', 2);
CALL dt_modify('duplicates', 3);
VACUUM dt_duplicates;
CALL dt_round('duplicates', 3);

-- 40 wide keys (200 rows each), bulk built: the pages between the first and the last keep
-- their keys in a dictionary of the codes. Inserts add rows of those keys (in place) and new
-- keys (which lay a dictionary page out again, without one).
CALL dt_setup('wide_duplicates');
SELECT value > 0 AS dictionary_pages FROM alex_stats('dt_wide_duplicates_k') WHERE stat = 'dictionary_pages';
CALL dt_round('wide_duplicates', 0);
CALL dt_modify('wide_duplicates', 1);
CALL dt_round('wide_duplicates', 1);
CALL dt_modify('wide_duplicates', 2);
VACUUM dt_wide_duplicates;
CALL dt_round('wide_duplicates', 2);
CALL dt_modify('wide_duplicates', 3);
VACUUM dt_wide_duplicates;
CALL dt_round('wide_duplicates', 3);
SELECT value > 0 AS dictionary_pages FROM alex_stats('dt_wide_duplicates_k') WHERE stat = 'dictionary_pages';

-- One key only, and NULLs; bulk build with mostly empty pages (density 0.1).
CALL dt_setup('single_value');
CALL dt_round('single_value', 0);
CALL dt_modify('single_value', 1);
CALL dt_round('single_value', 1);
CALL dt_modify('single_value', 2);
VACUUM dt_single_value;
CALL dt_round('single_value', 2);

-- 5% NULLs, inserted into an empty index; updates turn keys into NULLs and back.
CALL dt_setup('nulls');
CALL dt_round('nulls', 0);
CALL dt_modify('nulls', 1);
CALL dt_round('nulls', 1);
CALL dt_modify('nulls', 2);
VACUUM dt_nulls;
CALL dt_round('nulls', 2);
CALL dt_modify('nulls', 3);
VACUUM dt_nulls;
CALL dt_round('nulls', 3);

-- int8 extremes (half of the keys), bulk build with full pages (density 1.0).
CALL dt_setup('int8_extremes');
CALL dt_round('int8_extremes', 0);
CALL dt_modify('int8_extremes', 1);
CALL dt_round('int8_extremes', 1);
CALL dt_modify('int8_extremes', 2);
VACUUM dt_int8_extremes;
CALL dt_round('int8_extremes', 2);

-- float8: NaN, infinities, -0 and 0, denormals, huge values, magnitudes 1e-20 .. 1e20.
CALL dt_setup('float8');
CALL dt_round('float8', 0);
CALL dt_modify('float8', 1);
CALL dt_round('float8', 1);
CALL dt_modify('float8', 2);
VACUUM dt_float8;
CALL dt_round('float8', 2);
CALL dt_modify('float8', 3);
VACUUM dt_float8;
CALL dt_round('float8', 3);

-- float4, compared with float8 values too (density 0.3).
CALL dt_setup('float4');
CALL dt_round('float4', 0);
CALL dt_modify('float4', 1);
CALL dt_round('float4', 1);
CALL dt_modify('float4', 2);
VACUUM dt_float4;
CALL dt_round('float4', 2);

-- int4, compared with int8 values beyond its range and with int2 values.
CALL dt_setup('int4');
CALL dt_round('int4', 0);
CALL dt_modify('int4', 1);
CALL dt_round('int4', 1);
CALL dt_modify('int4', 2);
VACUUM dt_int4;
CALL dt_round('int4', 2);
CALL dt_modify('int4', 3);
VACUUM dt_int4;
CALL dt_round('int4', 3);

-- int2, compared with int4 and int8 values.
CALL dt_setup('int2');
CALL dt_round('int2', 0);
CALL dt_modify('int2', 1);
CALL dt_round('int2', 1);
CALL dt_modify('int2', 2);
VACUUM dt_int2;
CALL dt_round('int2', 2);

-- timestamp, timestamptz and date with infinities and their extreme finite values.
CALL dt_setup('timestamp');
CALL dt_round('timestamp', 0);
CALL dt_modify('timestamp', 1);
CALL dt_round('timestamp', 1);
CALL dt_modify('timestamp', 2);
VACUUM dt_timestamp;
CALL dt_round('timestamp', 2);
CALL dt_setup('timestamptz');
CALL dt_round('timestamptz', 0);
CALL dt_modify('timestamptz', 1);
CALL dt_round('timestamptz', 1);
CALL dt_modify('timestamptz', 2);
VACUUM dt_timestamptz;
CALL dt_round('timestamptz', 2);
CALL dt_setup('date');
CALL dt_round('date', 0);
CALL dt_modify('date', 1);
CALL dt_round('date', 1);
CALL dt_modify('date', 2);
VACUUM dt_date;
CALL dt_round('date', 2);

-- One line per distribution: rounds, queries, whether each query ran in at least two forced
-- modes on average (each run compared with the sequential scan; how many parallel plans the
-- planner picks varies between majors), runs whose plan did not use alex as forced, failures
-- (wrong answers, row counts or errors), and whether alex_check passed after every round.
SELECT dist, count(*) AS rounds, sum(queries) AS queries, sum(runs) > 2 * sum(queries) AS forced_runs,
       sum(wrong_plans) AS wrong_plans, sum(failures) AS failures, bool_and(check_ok) AS alex_check
FROM dt_result JOIN dt_dist USING (dist) GROUP BY dist ORDER BY min(dt_dist.ctid);
-- Parallel index scans ran on every distribution (their answers are counted above).
SELECT count(DISTINCT dist) = (SELECT count(*) FROM dt_dist) AS parallel_on_every_distribution,
       count(*) > 1000 AS many_parallel_runs
  FROM dt_parallel_runs;
-- The first failures and unexpected plans, with both answers (none expected).
SELECT dist, round, kind, mode, query, got, want FROM dt_failure ORDER BY seq LIMIT 10;
SELECT dist, round, mode, query, plan FROM dt_wrong_plan ORDER BY seq LIMIT 5;

-- Parallel builds: on every distribution's table as the rounds left it (inserted, updated and
-- deleted rows, dead row versions), an index built by two workers and the leader must have
-- exactly the pages of a serial build (the page LSN and checksum aside), and pass alex_check.
-- Each worker leaves one temporary file, so their count shows the workers ran.
CREATE EXTENSION pageinspect;
CREATE TABLE dt_parallel (dist text, pages int, pages_differing int, check_ok bool);
SELECT pg_stat_force_next_flush();
SELECT temp_files AS temp_files_before FROM pg_stat_database WHERE datname = current_database() \gset
DO $$
DECLARE
    cfg dt_dist;
    tbl text;
    n int;
BEGIN
    FOR cfg IN SELECT * FROM dt_dist ORDER BY ctid LOOP
        tbl := quote_ident('dt_' || cfg.dist);
        SET LOCAL max_parallel_maintenance_workers = 0;
        EXECUTE format('CREATE INDEX dt_ix_serial ON %s USING alex (k) %s', tbl, cfg.idxopts);
        SET LOCAL max_parallel_maintenance_workers = 2;
        EXECUTE format('ALTER TABLE %s SET (parallel_workers = 2)', tbl);
        EXECUTE format('CREATE INDEX dt_ix_parallel ON %s USING alex (k) %s', tbl, cfg.idxopts);
        n := pg_relation_size('dt_ix_serial') / 8192;
        INSERT INTO dt_parallel VALUES (cfg.dist, n,
            (SELECT count(*) FROM generate_series(0, n - 1) b
              WHERE substr(get_raw_page('dt_ix_serial', b), 11) IS DISTINCT FROM substr(get_raw_page('dt_ix_parallel', b), 11))
            + abs(pg_relation_size('dt_ix_parallel') / 8192 - n),
            alex_check('dt_ix_parallel', true));
        DROP INDEX dt_ix_serial, dt_ix_parallel;
        EXECUTE format('ALTER TABLE %s RESET (parallel_workers)', tbl);
    END LOOP;
END $$;
SELECT pg_stat_force_next_flush();
SELECT temp_files - :temp_files_before >= 2 * (SELECT count(*) FROM dt_dist) AS workers_ran
  FROM pg_stat_database WHERE datname = current_database();
SELECT count(*) AS distributions, sum(pages_differing) AS pages_differing, bool_and(check_ok) AS alex_check,
       bool_and(pages > 1) AS all_multi_page
  FROM dt_parallel;
SELECT * FROM dt_parallel WHERE pages_differing <> 0 OR NOT check_ok;
DROP TABLE dt_parallel;
DROP EXTENSION pageinspect;

DROP PROCEDURE dt_setup(text), dt_modify(text, int), dt_round(text, int);
DROP FUNCTION dt_round_t(text, int, anyelement, anyarray), dt_check(text, int, text, text, anyelement, anyarray),
    dt_seq_diff(anyarray, anyarray), dt_diff(text[], text[]), dt_plan_ok(text, text, text), dt_plan(text), dt_mode(text),
    dt_exec(text, int, text);
DO $$
DECLARE
    d text;
BEGIN
    FOR d IN SELECT dist FROM dt_dist LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I', 'dt_' || d);
    END LOOP;
END $$;
DROP TABLE dt_dist, dt_result, dt_failure, dt_wrong_plan, dt_parallel_runs;
RESET enable_seqscan;
RESET enable_indexscan;
RESET enable_indexonlyscan;
RESET enable_bitmapscan;
RESET jit;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_index_scan_size;
RESET min_parallel_table_scan_size;
RESET client_min_messages;
