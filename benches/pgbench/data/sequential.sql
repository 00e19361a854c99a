-- sequential: keys 1..ROWS, stored in key order (the heap is perfectly correlated with the key).
SELECT setseed(0.22);
CREATE TABLE src AS
SELECT g AS id, g::int8 AS k, (g % 1000)::int4 AS payload
FROM generate_series(1, :rows) g;
