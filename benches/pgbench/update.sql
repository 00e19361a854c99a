-- YCSB update: change the payload of an existing key.
\set r random(0, :nprobes - 1)
\set blk :r / :tpp
\set off :r % :tpp + 1
UPDATE @TABLE@ SET payload = payload + 1 WHERE k = @KEY@;
