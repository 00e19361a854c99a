-- Helper functions installed into the benchmark database by benches/run.sh.

-- Runs one probe join under EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) and reports, from the JSON plan:
-- whether the inner side of the nested loop is the intended node (and index), the execution time,
-- the join's row count (a correctness check across index kinds) and the buffers the inner side touched
-- per probe (shared hit + read, divided by the number of inner loops), and for an index-only scan
-- the heap fetches (0 when the visibility map is set, as it should be).
CREATE FUNCTION bench_probe(q text, want_node text, want_index text,
                            OUT plan_ok boolean, OUT plan_desc text, OUT exec_ms float8,
                            OUT join_rows bigint, OUT probes bigint, OUT buffers_per_probe float8,
                            OUT heap_fetches bigint)
LANGUAGE plpgsql AS $$
DECLARE
  j jsonb;
  nl jsonb;
  inner_node jsonb;
BEGIN
  EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) ' || q INTO j;
  nl := jsonb_path_query_first(j, 'lax $.**? (@."Node Type" == "Nested Loop")');
  inner_node := jsonb_path_query_first(nl, 'lax $.Plans[*] ? (@."Parent Relationship" == "Inner")');
  plan_ok := coalesce(inner_node->>'Node Type' = want_node
                      AND (want_index IS NULL OR inner_node->>'Index Name' = want_index), false);
  plan_desc := CASE WHEN nl IS NULL THEN coalesce(j->0->'Plan'->'Plans'->0->>'Node Type', '?') || ' (no nested loop)'
                    ELSE coalesce(inner_node->>'Node Type', '?') || coalesce(' using ' || (inner_node->>'Index Name'), '') END;
  exec_ms := (j->0->>'Execution Time')::float8;
  join_rows := (nl->>'Actual Rows')::bigint;
  probes := (inner_node->>'Actual Loops')::bigint;
  buffers_per_probe := ((inner_node->>'Shared Hit Blocks')::float8 + (inner_node->>'Shared Read Blocks')::float8)
                       / nullif(probes, 0);
  heap_fetches := (inner_node->>'Heap Fetches')::bigint;
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
