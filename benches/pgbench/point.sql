-- point lookup. run.sh replaces @TABLE@ with t_<kind> and @KEY@ with a Tid Scan of the probe table
-- at row :r (tuple (:blk, :off); tpp = tuples per page): an existing key, fetched without any index.
\set r random(0, :nprobes - 1)
\set blk :r / :tpp
\set off :r % :tpp + 1
SELECT count(*) FROM @TABLE@ WHERE k = @KEY@;
