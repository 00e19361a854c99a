-- random insert: an existing key moved by up to +/-1000 units (@DELTA@: integer units, or
-- milliseconds for timestamptz keys), so new keys follow the data's distribution.
\set r random(0, :nprobes - 1)
\set blk :r / :tpp
\set off :r % :tpp + 1
\set delta random(-1000, 1000)
INSERT INTO @TABLE@ (k, payload) SELECT k + @DELTA@, :r FROM probes WHERE ctid = @TID@;
