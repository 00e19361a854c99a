#!/usr/bin/env bash
# Builds the Debian package of the extension for the PostgreSQL that PG_CONFIG names, from
# `cargo pgrx package` (a release build): target/packages/postgresql-<major>-omendb_<version>_<arch>.deb.
# The package's files go where that pg_config says, so build it against the PostgreSQL it is for.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
major=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
version=$(sed -nE 's/^version = "(.*)"$/\1/p' Cargo.toml | head -n 1)
arch=$(dpkg --print-architecture)
name=postgresql-$major-omendb
root=target/packages/$name
rm -rf "$root"
mkdir -p "$root/DEBIAN"
cargo pgrx package --pg-config "$PG_CONFIG" --out-dir "$root"
cat >"$root/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: $arch
Maintainer: OmenDB developers
Depends: postgresql-$major
Section: database
Priority: optional
Description: OmenDB for PostgreSQL $major
 The alex index access method (a learned index) and the columnar table access method.
CONTROL
deb=target/packages/${name}_${version}_${arch}.deb
dpkg-deb --root-owner-group --build "$root" "$deb" >/dev/null
echo "$deb"
