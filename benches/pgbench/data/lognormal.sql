-- lognormal: 1e9 * exp(N(0, 2)), a heavily skewed key set (most keys are small and dense, a long
-- sparse tail reaches about 1e13). The normal draw is Box-Muller. Rows are stored in random key order.
SELECT setseed(0.33);
CREATE TABLE src AS
SELECT g AS id,
       floor(1e9 * exp(2.0 * sqrt(-2.0 * ln(1.0 - random())) * cos(2.0 * pi() * random())))::int8 AS k,
       (g % 1000)::int4 AS payload
FROM generate_series(1, :rows) g;
