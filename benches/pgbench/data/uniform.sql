-- uniform: keys drawn uniformly from about -2^62 .. 2^62 (62 random bits from two draws, so
-- inserts of key +/- 1000 can never overflow int8). Rows are stored in random key order.
SELECT setseed(0.11);
CREATE TABLE src AS
SELECT g AS id,
       (floor(random() * 4294967296)::int8 - 2147483648) * 2147483648
         + floor(random() * 2147483648)::int8 AS k,
       (g % 1000)::int4 AS payload
FROM generate_series(1, :rows) g;
