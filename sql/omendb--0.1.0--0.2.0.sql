-- omendb 0.1.0 -> 0.2.0 (ALTER EXTENSION omendb UPDATE). 0.2.0 adds, changes and drops no SQL
-- object; its changes are in the library (CHANGELOG.md). pg_test/recovery/extension_update.sh
-- checks that an updated database has the same objects as a new install.
\echo Use "ALTER EXTENSION omendb UPDATE TO '0.2.0'" to load this file. \quit
