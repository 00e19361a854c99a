#!/usr/bin/env bash
# The Debian package, as a user installs it: builds postgresql-15-omendb (tools/package.sh),
# installs it with dpkg into the system PostgreSQL 15, and on a new cluster runs CREATE
# EXTENSION and a smoke test of both access methods; then removes the package again and puts
# back what `make install` had installed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
source pg_test/cluster.sh
if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi

deb=$(tools/package.sh | tail -n 1)
name=$(dpkg-deb --field "$deb" Package)
version=$(dpkg-deb --field "$deb" Version)
libdir=$($PG_CONFIG --pkglibdir)
extdir=$($PG_CONFIG --sharedir)/extension
contents=$(dpkg-deb --contents "$deb")
for f in "$libdir/omendb.so" "$extdir/omendb.control" "$extdir/omendb--$version.sql"; do
  grep -q "\.$f\$" <<<"$contents" || { echo "FAIL - $deb has no $f"; exit 1; }
done
# A build installed without the package (make install) is moved aside, so that only the
# package's files can serve CREATE EXTENSION, and put back afterwards.
saved=$(mktemp -d)
restore() {
  "${SUDO[@]}" dpkg -r "$name" >/dev/null 2>&1 || true
  "${SUDO[@]}" mv "$saved/omendb.so" "$libdir/" 2>/dev/null || true
  "${SUDO[@]}" find "$saved" -name 'omendb*' -exec mv -t "$extdir/" {} + 2>/dev/null || true
  rm -rf "$saved"
}
dir=
trap '[ -n "$dir" ] && cluster_teardown "$dir" package; restore' EXIT
for f in "$libdir/omendb.so" "$extdir"/omendb.control "$extdir"/omendb--*.sql; do
  if [ -e "$f" ] && ! dpkg -S "$f" >/dev/null 2>&1; then "${SUDO[@]}" mv "$f" "$saved/"; fi
done
"${SUDO[@]}" dpkg -i "$deb" >/dev/null
dir=$(cluster_mkdir)
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
