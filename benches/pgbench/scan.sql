-- YCSB short range scan: 1 to 100 records in key order from an existing key.
\set r random(0, :nprobes - 1)
\set blk :r / :tpp
\set off :r % :tpp + 1
\set len random(1, 100)
SELECT k, payload FROM @TABLE@ WHERE k >= @KEY@ ORDER BY k LIMIT :len;
