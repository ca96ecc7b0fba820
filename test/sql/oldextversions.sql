-- The shared library serves the released 0.1.0 SQL until ALTER EXTENSION
-- pgwarden UPDATE runs (every C entry point 0.1.0 names still exists and
-- keeps its meaning), and the update keeps the policy.
\set SHOW_CONTEXT never
DROP EXTENSION pgwarden;
CREATE EXTENSION pgwarden VERSION '0.1.0';
SELECT extversion FROM pg_extension WHERE extname = 'pgwarden';
CREATE DATABASE regress_pgw_shop;
SET ROLE regress_pgw_admin;
SELECT pgwarden.ip_allow_add(ARRAY['198.51.100.20-198.51.100.50'], comment => 'kept');
SELECT pgwarden.ip_allow_protected_only(true);
SELECT pgwarden.register_branch('regress_pgw_shop');
SELECT pgwarden.protect_branch('regress_pgw_shop');
SELECT pgwarden.create_endpoint('regress_pgw_shop', 'regress_pgw_shop_ro', 'read_only');
SELECT regress_wait_published();
SELECT pgwarden.check_connection('198.51.100.51', 'app', 'regress_pgw_shop');
SELECT pgwarden.check_connection('198.51.100.51', 'app', 'postgres');
SELECT state FROM pgwarden.policy_status();
RESET ROLE;
\set VERBOSITY terse
CREATE ROLE regress_pgw_weak LOGIN PASSWORD 'Summer2024!';
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
DROP DATABASE regress_pgw_shop;
\echo :LAST_ERROR_SQLSTATE
SELECT pgwarden.entropy_bits('Summer2024!') < 60 AS weak, pgwarden.generate_password() LIKE 'pgw\_%' AS generated;
ALTER EXTENSION pgwarden UPDATE;
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'pgwarden')
       AS updated
  FROM pg_extension WHERE extname = 'pgwarden';
SET ROLE regress_pgw_admin;
SELECT entry, kind, comment FROM pgwarden.ip_allowlist;
SELECT protected_only FROM pgwarden.ip_allow_scope;
SELECT name, protected, endpoints, state FROM pgwarden.branches;
SELECT regress_wait_published();
SELECT pgwarden.check_connection('198.51.100.51', 'app', 'regress_pgw_shop');
SELECT pgwarden.check_connection('198.51.100.30', 'app', 'regress_pgw_shop');
SELECT pgwarden.unprotect_branch('regress_pgw_shop');
SELECT pgwarden.ip_allow_reset();
SELECT pgwarden.ip_allow_protected_only(false);
RESET ROLE;
DROP DATABASE regress_pgw_shop;
SELECT pgwarden.sync_branches();
