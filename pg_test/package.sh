#!/usr/bin/env bash
# The Debian package, as a user installs it: builds postgresql-15-omendb (tools/package.sh),
# installs it with dpkg into the system PostgreSQL 15, and on a new cluster runs CREATE
# EXTENSION and a smoke test of both access methods; then removes the package again.
set -euo pipefail
cd "$(dirname "$0")/.."
export PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
source pg_test/cluster.sh
if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi

deb=$(tools/package.sh | tail -n 1)
name=$(dpkg-deb --field "$deb" Package)
version=$(dpkg-deb --field "$deb" Version)
contents=$(dpkg-deb --contents "$deb")
grep -q "$($PG_CONFIG --pkglibdir)/omendb.so" <<<"$contents" \
  || { echo "FAIL - $deb has no omendb.so for $($PG_CONFIG --pkglibdir)"; exit 1; }
"${SUDO[@]}" dpkg -i "$deb" >/dev/null
dir=$(cluster_mkdir)
trap 'cluster_teardown "$dir" package; "${SUDO[@]}" dpkg -r "$name" >/dev/null' EXIT
cluster_init "$dir"
cluster_start "$dir"
out=$(cluster_psql "$dir" -At <<'SQL'
CREATE EXTENSION omendb;
CREATE TABLE t (id int8, v text) USING columnar;
INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
CREATE INDEX t_id ON t USING alex (id);
VACUUM ANALYZE t;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*), sum(id) FROM t WHERE id BETWEEN 100 AND 199;
SELECT alex_check('t_id', true), columnar_check('t');
SELECT extversion FROM pg_extension WHERE extname = 'omendb';
SQL
)
want=$'100|14950\nt|t\n'"$version"
if [ "$out" = "$want" ]; then
  echo "ok - $deb installs with dpkg and works"
else
  echo "FAIL - smoke test after installing $deb: got"; echo "$out"; exit 1
fi
