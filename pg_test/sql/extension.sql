-- The extension installs, reports its version, drops and installs again.
CREATE EXTENSION omendb;
SELECT omendb_version() ~ '^[0-9]+\.[0-9]+\.[0-9]+$' AS version_ok;
SELECT extversion = omendb_version() AS matches_catalog FROM pg_extension WHERE extname = 'omendb';
DROP EXTENSION omendb;
SELECT count(*) AS leftover_functions FROM pg_proc WHERE proname LIKE 'omendb%';
CREATE EXTENSION omendb;
-- A second CREATE fails cleanly.
CREATE EXTENSION omendb;

-- The settings, as users see them (the README's table), and the prefix is reserved: a
-- misspelt omendb.* setting is refused rather than kept as a placeholder.
SELECT name, setting, unit, context, vartype FROM pg_settings WHERE name LIKE 'omendb.%' ORDER BY name;
SET omendb.enable_columnar_scann = off;
