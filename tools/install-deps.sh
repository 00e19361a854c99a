#!/usr/bin/env bash
# Installs what building and testing OmenDB needs, skipping whatever is already there.
# Works as root (CI) and as an ordinary user with sudo. Idempotent: a second run takes seconds.
set -euo pipefail

PGRX_VERSION=0.18.1
PG_MAJOR=15
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$PG_MAJOR/bin/pg_config}
TEST_USER=${OMENDB_TEST_USER:-omendb}

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
say() { printf '[install-deps] %s\n' "$*"; }

# Debian packages: server headers for pgrx's bindgen, clang for bindgen itself, postgresql-15 for the server.
packages=(postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR libclang-dev clang make sudo)
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

# Register the system PostgreSQL with pgrx (no pgrx-managed server is downloaded).
if ! grep -qs "^pg$PG_MAJOR" "${PGRX_HOME:-$HOME/.pgrx}/config.toml"; then
  say "registering $PG_CONFIG with cargo-pgrx"
  cargo pgrx init --pg$PG_MAJOR "$PG_CONFIG"
fi

# PostgreSQL refuses to run as root: tests run the server as an unprivileged user.
if [ "$(id -u)" -eq 0 ] && ! id "$TEST_USER" >/dev/null 2>&1; then
  say "creating OS user $TEST_USER to run test clusters"
  useradd --system --create-home --shell /bin/bash "$TEST_USER"
fi
say "ok"
