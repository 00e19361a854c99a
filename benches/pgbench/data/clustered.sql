-- clustered: 300 dense clusters at random places in about -2^60 .. 2^60. A row picks cluster
-- floor(300 * u^2) (so cluster sizes differ a lot) and an offset within that cluster's span of
-- 2 * ROWS / 300 keys. Rows are stored in random key order.
SELECT setseed(0.44);
CREATE TEMP TABLE centers AS
SELECT c, (floor(random() * 4294967296)::int8 - 2147483648) * 536870912 AS base
FROM generate_series(0, 299) c;
CREATE TABLE src AS
SELECT g AS id,
       (SELECT array_agg(base ORDER BY c) FROM centers)[1 + floor(300 * random() ^ 2)::int]
         + floor(random() * greatest(2 * :rows / 300, 10))::int8 AS k,
       (g % 1000)::int4 AS payload
FROM generate_series(1, :rows) g;
DROP TABLE centers;
