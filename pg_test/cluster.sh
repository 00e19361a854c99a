#!/usr/bin/env bash
# Throwaway PostgreSQL clusters for tests and benchmarks. Source this file, then:
#   cluster_init DIR [postgresql.conf lines...]  create a cluster in DIR (sockets live in DIR too),
#                                                 with data checksums (18's default) unless
#                                                 CLUSTER_CHECKSUMS=off
#   cluster_start DIR / cluster_stop DIR [MODE]   start, or stop (fast by default, "immediate" to crash)
#   cluster_psql DIR [psql args...]               psql as the cluster's superuser, database postgres
#   cluster_teardown DIR                          stop and remove, keeping the log in $CLUSTER_LOGDIR
# The server never runs as root: when invoked as root, clusters belong to $OMENDB_TEST_USER.
# No TCP port is opened (listen_addresses=''); each cluster's Unix socket sits in its own directory,
# so clusters never collide.

PG_BINDIR=${PG_BINDIR:-$(${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config} --bindir)}
OMENDB_TEST_USER=${OMENDB_TEST_USER:-omendb}
CLUSTER_PORT=${CLUSTER_PORT:-5499}
CLUSTER_LOGDIR=${CLUSTER_LOGDIR:-$PWD/target/pg_test-logs}

if [ "$(id -u)" -eq 0 ]; then
  CLUSTER_OWNER=$OMENDB_TEST_USER
  as_cluster_owner() { runuser -u "$CLUSTER_OWNER" -- "$@"; }
else
  CLUSTER_OWNER=$(id -un)
  as_cluster_owner() { "$@"; }
fi

# A fresh, short directory (Unix socket paths are limited to about 100 bytes) owned by the server's user.
cluster_mkdir() {
  local dir
  dir=$(mktemp -d /tmp/omendb-pg.XXXXXX)
  chmod 700 "$dir"
  [ "$(id -u)" -eq 0 ] && chown "$CLUSTER_OWNER" "$dir"
  echo "$dir"
}

cluster_init() {
  local dir=$1; shift
  local checksums=--data-checksums
  if [ "${CLUSTER_CHECKSUMS:-on}" = off ]; then
    # 18 turns them on by default and has a switch to say no; 15 has them off by default.
    checksums=$("$PG_BINDIR/initdb" --help | grep -o -- --no-data-checksums || true)
  fi
  as_cluster_owner "$PG_BINDIR/initdb" -D "$dir/data" -U "$CLUSTER_OWNER" --auth=trust \
    --no-instructions --encoding=UTF8 --locale=C $checksums >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; return 1; }
  {
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$dir'"
    echo "port = $CLUSTER_PORT"
    echo "fsync = off"
    echo "log_min_messages = warning"
    echo "log_line_prefix = '%m [%p] '"
    local line
    for line in "$@"; do echo "$line"; done
  } | as_cluster_owner tee -a "$dir/data/postgresql.conf" >/dev/null
}

cluster_start() {
  local dir=$1
  # A Rust backtrace setting in the caller's environment would add backtraces to error details.
  as_cluster_owner env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 120 start >/dev/null \
    || { cat "$dir/server.log" >&2; return 1; }
}

cluster_stop() {
  local dir=$1 mode=${2:-fast}
  [ -f "$dir/data/postmaster.pid" ] || return 0
  as_cluster_owner "$PG_BINDIR/pg_ctl" -D "$dir/data" -m "$mode" -w -t 120 stop >/dev/null
}

cluster_psql() {
  local dir=$1; shift
  "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$CLUSTER_PORT" -U "$CLUSTER_OWNER" -d postgres "$@"
}

cluster_teardown() {
  local dir=$1 name=${2:-cluster}
  [ -d "$dir" ] || return 0
  cluster_stop "$dir" immediate 2>/dev/null || true
  mkdir -p "$CLUSTER_LOGDIR"
  [ -f "$dir/server.log" ] && cp "$dir/server.log" "$CLUSTER_LOGDIR/$name-server.log"
  rm -rf "$dir"
}
