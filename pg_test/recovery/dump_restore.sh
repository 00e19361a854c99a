#!/usr/bin/env bash
# pg_dump / pg_restore round trip: alex indexes of every kind (plain, UNIQUE, NULLS NOT DISTINCT,
# partial, expression, with a reloption, on every supported type) are dumped, restored into
# another database, rebuilt there, pass alex_check and answer as before; a columnar table comes
# back as a columnar table with the same rows, its indexes and a foreign key to it.
source "$(dirname "$0")/lib.sh"
rt_setup dump_restore 300

rt_new_cluster
cluster_init "$RT_DIR" "max_parallel_workers_per_gather = 0" || exit 1
cluster_start "$RT_DIR" || exit 1
rt_create_extension "$RT_DIR" || { rt_fail "CREATE EXTENSION omendb"; exit 1; }

rt_sql_script "$RT_DIR" <<'SQL' >/dev/null || rt_fail "source schema"
CREATE TABLE dr (id int, i8 int8, i4 int4, i2 int2, f8 float8, f4 float4, d date, ts timestamp, tz timestamptz);
INSERT INTO dr SELECT g, (g * 7919) % 100003 - 50000, g, (g % 30000)::int2, g / 7.0, g / 3.0,
       date '2000-01-01' + g % 9000, timestamp '2000-01-01' + g * interval '1 min',
       timestamptz '2000-01-01 00:00+00' + g * interval '1 s'
  FROM generate_series(1, 20000) g;
INSERT INTO dr (id, i4) VALUES (20001, NULL), (20002, 20002);
CREATE INDEX dr_i8 ON dr USING alex (i8) WITH (density = 0.6);
CREATE UNIQUE INDEX dr_id ON dr USING alex (id);
CREATE UNIQUE INDEX dr_i4 ON dr USING alex (i4) NULLS NOT DISTINCT;
CREATE INDEX dr_i2 ON dr USING alex (i2) WHERE i2 > 100;
CREATE INDEX dr_expr ON dr USING alex ((i8 * 2));
CREATE INDEX dr_f8 ON dr USING alex (f8);
CREATE INDEX dr_f4 ON dr USING alex (f4);
CREATE INDEX dr_d ON dr USING alex (d);
CREATE INDEX dr_ts ON dr USING alex (ts);
CREATE INDEX dr_tz ON dr USING alex (tz);
CREATE TABLE dr_ex (k int8, EXCLUDE USING alex (k WITH =));
INSERT INTO dr_ex SELECT generate_series(1, 100);
CREATE TABLE drc (id int PRIMARY KEY, k int8, v text, n numeric, j jsonb) USING columnar;
INSERT INTO drc SELECT g, (g * 7919) % 1000, md5(g::text), g / 3.0, jsonb_build_object('g', g)
  FROM generate_series(1, 5000) g;
UPDATE drc SET v = upper(v) WHERE id % 7 = 0;
DELETE FROM drc WHERE id % 10 = 0;
CREATE INDEX drc_k ON drc USING alex (k);
CREATE TABLE drc_child (pid int REFERENCES drc (id)) USING columnar;
INSERT INTO drc_child VALUES (1), (2);
CREATE DATABASE restored;
SQL

dump=$RT_LOG/dump.custom
"$PG_BINDIR/pg_dump" -h "$RT_DIR" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -Fc -f "$dump" postgres \
  && rt_pass "pg_dump" || rt_fail "pg_dump"
"$PG_BINDIR/pg_restore" -h "$RT_DIR" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -d restored --exit-on-error "$dump" \
  >"$RT_LOG/restore.log" 2>&1 && rt_pass "pg_restore" || { rt_fail "pg_restore"; cat "$RT_LOG/restore.log"; }

in_db() { # in_db DB SQL
  PGOPTIONS="-c statement_timeout=${RT_STMT_TIMEOUT}s" timeout $((RT_STMT_TIMEOUT + 30)) \
    "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -At -h "$RT_DIR" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -d "$1" -c "$2"
}
defs="SELECT indexname || ': ' || indexdef FROM pg_indexes WHERE tablename LIKE 'dr%' ORDER BY 1"
rt_check "index definitions survive the round trip" [ "$(in_db postgres "$defs")" = "$(in_db restored "$defs")" ]
rt_check "the exclusion constraint survives" [ "$(in_db restored "SELECT count(*) FROM pg_constraint WHERE contype = 'x'")" = 1 ]

for idx in $(in_db restored "SELECT indexname FROM pg_indexes WHERE tablename LIKE 'dr%' AND indexdef LIKE '%USING alex%' ORDER BY 1"); do
  rt_check "alex_check($idx) after restore" [ "$(in_db restored "SELECT alex_check('$idx', true)")" = t ]
done

queries=(
  "SELECT count(*), sum(id) FROM dr WHERE i8 BETWEEN -1000 AND 1000"
  "SELECT string_agg(id::text, ',' ORDER BY id) FROM dr WHERE id IN (1, 500, 20002)"
  "SELECT count(*) FROM dr WHERE i4 IS NULL"
  "SELECT count(*) FROM dr WHERE i2 > 29000"
  "SELECT count(*) FROM dr WHERE i8 * 2 = 100"
  "SELECT md5(string_agg(f8::text, ',')) FROM (SELECT f8 FROM dr ORDER BY f8 DESC LIMIT 500) s"
  "SELECT count(*) FROM dr WHERE tz >= timestamptz '2000-01-01 03:00+00'"
  "SELECT min(d), max(ts) FROM dr"
)
for q in "${queries[@]}"; do
  before=$(PGOPTIONS="-c enable_seqscan=off" in_db postgres "$q")
  after=$(PGOPTIONS="-c enable_seqscan=off" in_db restored "$q")
  plan=$(PGOPTIONS="-c enable_seqscan=off" in_db restored "EXPLAIN (COSTS OFF) $q")
  rt_check "same answer after restore: $q" test -n "$before" -a "$before" = "$after"
  rt_check "restored index used: $q" grep -q "dr_" <<<"$plan"
done
rows="SELECT count(*), md5(string_agg(drc::text, '|' ORDER BY id)) FROM drc"
rt_check "the columnar table has the same rows after restore" [ "$(in_db postgres "$rows")" = "$(in_db restored "$rows")" ]
rt_check "drc is still a columnar table" [ "$(in_db restored "SELECT amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE relname = 'drc'")" = columnar ]
rt_check "columnar_check(drc) after restore" [ "$(in_db restored "SELECT columnar_check('drc')")" = t ]
rt_check "the restored alex index on drc answers" [ "$(PGOPTIONS="-c enable_seqscan=off" in_db restored "SELECT count(*) FROM drc WHERE k < 100")" = "$(in_db postgres "SELECT count(*) FROM drc WHERE k < 100")" ]
rt_check "the foreign key to drc is enforced after restore" \
  bash -c "! PGOPTIONS= '$PG_BINDIR/psql' -X -q -At -h '$RT_DIR' -p $CLUSTER_PORT -U $CLUSTER_OWNER -d restored -c 'DELETE FROM drc WHERE id = 1' 2>/dev/null"
rt_check "unique index enforced after restore" \
  bash -c "! PGOPTIONS= '$PG_BINDIR/psql' -X -q -At -h '$RT_DIR' -p $CLUSTER_PORT -U $CLUSTER_OWNER -d restored -c 'INSERT INTO dr (id) VALUES (7)' 2>/dev/null"
