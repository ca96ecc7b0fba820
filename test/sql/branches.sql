-- Branches and protected branches.
\set SHOW_CONTEXT never
CREATE DATABASE regress_pgw_shop;
CREATE DATABASE regress_pgw_plain;
SET ROLE regress_pgw_admin;
SELECT pgwarden.register_branch('regress_pgw_shop');
SELECT pgwarden.register_branch('regress_pgw_shop');
\echo :LAST_ERROR_SQLSTATE
SELECT pgwarden.register_branch('regress_pgw_missing');
\echo :LAST_ERROR_SQLSTATE
SELECT pgwarden.register_branch('template1');
\echo :LAST_ERROR_SQLSTATE
SELECT pgwarden.protect_branch('regress_pgw_shop');
SELECT pgwarden.create_endpoint('regress_pgw_shop', 'regress_pgw_shop_ro', 'read_only', max_connections => 5);
SELECT pgwarden.create_endpoint('regress_pgw_shop', 'regress_pgw_shop_ro');
\echo :LAST_ERROR_SQLSTATE
SELECT pgwarden.create_endpoint('regress_pgw_shop', 'regress_pgw_x', 'read_mostly');
\echo :LAST_ERROR_SQLSTATE
SELECT name, database, parent, protected, strategy, endpoints, state FROM pgwarden.branches;
SELECT name, branch, database, kind, max_connections, suspended, is_default FROM pgwarden.endpoints ORDER BY name;
SELECT pgwarden.drop_endpoint('regress_pgw_shop_ro');
\echo :LAST_ERROR_SQLSTATE
SELECT pgwarden.suspend_endpoint('regress_pgw_shop_ro');
SELECT pgwarden.set_endpoint_limit('regress_pgw_shop_ro', NULL);
SELECT name, suspended, max_connections FROM pgwarden.endpoints WHERE name = 'regress_pgw_shop_ro';
SELECT pgwarden.resume_endpoint('regress_pgw_shop_ro');
RESET ROLE;
-- what a protected branch refuses, to superusers too
DROP DATABASE regress_pgw_shop;
\echo :LAST_ERROR_SQLSTATE
ALTER DATABASE regress_pgw_shop ALLOW_CONNECTIONS false;
\echo :LAST_ERROR_SQLSTATE
ALTER DATABASE regress_pgw_shop CONNECTION LIMIT 0;
\echo :LAST_ERROR_SQLSTATE
CREATE DATABASE regress_pgw_copy TEMPLATE regress_pgw_shop;
\echo :LAST_ERROR_SQLSTATE
DROP EXTENSION pgwarden;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM pgwarden.branch WHERE name = 'regress_pgw_shop';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR pgwarden ON DATABASE regress_pgw_shop IS NULL;
\echo :LAST_ERROR_SQLSTATE
-- an unprotected branch's plain template copy becomes its child
SELECT pgwarden.unprotect_branch('regress_pgw_shop');
CREATE DATABASE regress_pgw_copy TEMPLATE regress_pgw_shop;
SELECT name, parent, strategy, state FROM pgwarden.branches ORDER BY name;
SELECT pgwarden.sync_branches();
SELECT name, parent, strategy, endpoints, state FROM pgwarden.branches ORDER BY name;
-- an ordinary role sees nothing
SET ROLE regress_pgw_user;
SELECT * FROM pgwarden.branches;
\echo :LAST_ERROR_SQLSTATE
SELECT pgwarden.protect_branch('regress_pgw_shop');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP DATABASE regress_pgw_copy;
DROP DATABASE regress_pgw_shop;
DROP DATABASE regress_pgw_plain;
SELECT pgwarden.sync_branches();
SELECT count(*) FROM pgwarden.branches;
