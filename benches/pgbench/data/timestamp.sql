-- timestamp: a time series (timestamptz keys) starting 2015-01-01, stored in time order. Gaps are
-- exponential with mean 2e8 s / ROWS; one gap in 10000 is an outage of up to 5000 mean gaps.
-- Whatever ROWS is, the keys span about eight years.
SELECT setseed(0.55);
CREATE TABLE src AS
SELECT id,
       timestamptz '2015-01-01 00:00:00+00' + make_interval(secs => sum(gap) OVER (ORDER BY id)) AS k,
       payload
FROM (SELECT g AS id, (g % 1000)::int4 AS payload,
             CASE WHEN random() < 0.0001 THEN 5000.0 * random() * 2e8 / :rows
                  ELSE -ln(1.0 - random()) * 2e8 / :rows END AS gap
      FROM generate_series(1, :rows) g) s;
