-- Helper functions installed into the benchmark database by benches/run.sh.

-- Runs one probe join twice. First under EXPLAIN (ANALYZE, BUFFERS, TIMING OFF), reporting from
-- the JSON plan: whether the inner side of the nested loop is the intended node (and index), the
-- join's row count (a correctness check across index kinds), the buffers the inner side touched
-- per probe (shared hit + read, divided by the number of inner loops), and for an index-only scan
-- the heap fetches (0 when the visibility map is set, as it should be). Then as a plain query,
-- whose time is the one reported: instrumentation costs every node call something (buffer usage
-- snapshots), the same for every index kind, which would add a constant to each probe and pull
-- the ratios towards 1. The plain run's count must equal the instrumented run's.
CREATE FUNCTION bench_probe(q text, want_node text, want_index text,
                            OUT plan_ok boolean, OUT plan_desc text, OUT exec_ms float8,
                            OUT join_rows bigint, OUT probes bigint, OUT buffers_per_probe float8,
                            OUT heap_fetches bigint)
LANGUAGE plpgsql AS $$
DECLARE
  j jsonb;
  nl jsonb;
  inner_node jsonb;
  started timestamptz;
  plain_rows bigint;
BEGIN
  EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) ' || q INTO j;
  nl := jsonb_path_query_first(j, 'lax $.**? (@."Node Type" == "Nested Loop")');
  inner_node := jsonb_path_query_first(nl, 'lax $.Plans[*] ? (@."Parent Relationship" == "Inner")');
  plan_ok := coalesce(inner_node->>'Node Type' = want_node
                      AND (want_index IS NULL OR inner_node->>'Index Name' = want_index), false);
  plan_desc := CASE WHEN nl IS NULL THEN coalesce(j->0->'Plan'->'Plans'->0->>'Node Type', '?') || ' (no nested loop)'
                    ELSE coalesce(inner_node->>'Node Type', '?') || coalesce(' using ' || (inner_node->>'Index Name'), '') END;
  join_rows := (nl->>'Actual Rows')::bigint;
  probes := (inner_node->>'Actual Loops')::bigint;
  buffers_per_probe := ((inner_node->>'Shared Hit Blocks')::float8 + (inner_node->>'Shared Read Blocks')::float8)
                       / nullif(probes, 0);
  heap_fetches := (inner_node->>'Heap Fetches')::bigint;
  started := clock_timestamp();
  EXECUTE q INTO plain_rows;
  exec_ms := extract(epoch FROM clock_timestamp() - started) * 1000;
  IF plain_rows IS DISTINCT FROM join_rows THEN
    RAISE EXCEPTION 'probe join returned % rows, % under EXPLAIN ANALYZE', plain_rows, join_rows;
  END IF;
END
$$;

-- Whether the plan of q (plain EXPLAIN, nothing is executed) uses index idx anywhere.
CREATE FUNCTION bench_uses_index(q text, idx text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  j jsonb;
BEGIN
  EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO j;
  RETURN jsonb_path_exists(j, 'lax $.** ? (@."Index Name" == $i)', jsonb_build_object('i', idx));
END
$$;

-- The keys of the append workload: one sequence, shared by its clients and runs.
CREATE SEQUENCE bench_append;
