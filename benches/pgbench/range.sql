-- 100-row ordered range scan from an existing key (index kinds that can return ordered results).
\set r random(0, :nprobes - 1)
\set blk :r / :tpp
\set off :r % :tpp + 1
SELECT k FROM @TABLE@ WHERE k >= @KEY@ ORDER BY k LIMIT 100;
