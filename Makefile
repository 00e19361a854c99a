# OmenDB build, test and benchmark entry points. Every target works as root (CI) and as a user with sudo.
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
OMENDB_TEST_USER ?= omendb
export PG_CONFIG OMENDB_TEST_USER

ifeq ($(shell id -u),0)
  SUDO :=
  PGRX_TEST_RUNAS := --runas $(OMENDB_TEST_USER) --pgdata /tmp/omendb-pgrx-test
else
  SUDO := sudo
  PGRX_TEST_RUNAS :=
endif

.PHONY: all deps test test-core test-pgrx test-regress test-tpch test-recovery install install-debug bench bench-orders bench-columnar bench-tpch clean

all: install

deps:
	@tools/install-deps.sh

## make test: every test: the pure crate, the #[pg_test] suite, the pg_regress and isolation
## suites, the TPC-H queries on columnar against heap, and the crash, replica and stress tests
## (ROUNDS, DURATION, LOAD_SECONDS lengthen them).
test: deps test-core test-pgrx test-regress test-tpch test-recovery

test-core:
	cargo test -p alex-core -p columnar-core --release

test-pgrx: deps
	@if [ -n "$(PGRX_TEST_RUNAS)" ]; then rm -rf /tmp/omendb-pgrx-test; install -d -o $(OMENDB_TEST_USER) /tmp/omendb-pgrx-test; fi
	cargo pgrx test pg15 $(PGRX_TEST_RUNAS)

test-regress: install-debug
	pg_test/run-regress.sh

test-tpch: install-debug
	pg_test/tpch.sh

test-recovery: install-debug
	pg_test/recovery/run-all.sh

# The regression suite runs against a debug build: debug assertions stay on.
install-debug: deps
	cargo pgrx install --pg-config $(PG_CONFIG) $(if $(SUDO),--sudo)

## make install: a release build into the system PostgreSQL 15.
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
