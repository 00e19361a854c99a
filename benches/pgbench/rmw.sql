-- YCSB read-modify-write: read a record, then write back a value computed from it, in one transaction.
\set r random(0, :nprobes - 1)
\set blk :r / :tpp
\set off :r % :tpp + 1
BEGIN;
SELECT k AS key FROM probes WHERE ctid = @TID@ \gset
SELECT payload FROM @TABLE@ WHERE k = :key LIMIT 1 \gset
UPDATE @TABLE@ SET payload = :payload + 1 WHERE k = :key;
END;
