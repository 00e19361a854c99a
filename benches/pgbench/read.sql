-- YCSB read: fetch the whole record of an existing key.
\set r random(0, :nprobes - 1)
\set blk :r / :tpp
\set off :r % :tpp + 1
SELECT k, payload FROM @TABLE@ WHERE k = @KEY@;
