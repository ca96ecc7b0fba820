-- The IP allowlist, as a pgwarden_admin member sees it.
\set SHOW_CONTEXT never
SET ROLE regress_pgw_admin;
SELECT pgwarden.ip_allow_add(ARRAY['203.0.113.7', '198.51.100.20-198.51.100.50', '192.0.2.0/24']);
SELECT pgwarden.ip_allow_add(ARRAY['10.0.0.0/8'], role => 'regress_pgw_user', comment => 'office VPN');
SELECT pgwarden.ip_allow_add(ARRAY[' 10.1.2.3/32 ', '2001:DB8:0:0::1', '::ffff:198.51.100.0/120']);
SELECT entry, role, kind, comment, created_by FROM pgwarden.ip_allowlist;
SELECT protected_only FROM pgwarden.ip_allow_scope;
-- bad entries: 22023, nothing stored
SELECT pgwarden.ip_allow_add(ARRAY['192.0.2.1', '10.0.0.1/8']);
\echo :LAST_ERROR_SQLSTATE
SELECT pgwarden.ip_allow_add(ARRAY['10.0.0.9-10.0.0.1']);
\echo :LAST_ERROR_SQLSTATE
SELECT pgwarden.ip_allow_add(ARRAY['10.0.0.1-2001:db8::1']);
\echo :LAST_ERROR_SQLSTATE
SELECT pgwarden.ip_allow_add(ARRAY['db.example.com']);
\echo :LAST_ERROR_SQLSTATE
SELECT pgwarden.ip_allow_add(ARRAY['']);
\echo :LAST_ERROR_SQLSTATE
SELECT pgwarden.ip_allow_add(ARRAY['10.0.0.0/33']);
\echo :LAST_ERROR_SQLSTATE
SELECT pgwarden.ip_allow_add(ARRAY['10.0.0.1'], role => 'regress_pgw_nobody');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM pgwarden.ip_allowlist WHERE entry = '192.0.2.1';
SELECT pgwarden.ip_allow_remove(ARRAY['203.0.113.99']);
\echo :LAST_ERROR_SQLSTATE
-- what the gate would decide
SELECT regress_wait_published();
SELECT pgwarden.check_connection('198.51.100.30', 'app', 'shop');
SELECT pgwarden.check_connection('203.0.113.99', 'app', 'shop');
SELECT pgwarden.check_connection('10.9.9.9', 'regress_pgw_user', 'shop');
SELECT pgwarden.check_connection('::ffff:203.0.113.7', 'app', 'shop');
SELECT pgwarden.check_connection(NULL, 'app', 'shop');
SELECT pgwarden.ip_allow_protected_only(true);
SELECT protected_only FROM pgwarden.ip_allow_scope;
SELECT regress_wait_published();
SELECT pgwarden.check_connection('203.0.113.99', 'app', 'shop');
SELECT pgwarden.ip_allow_protected_only(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgwarden.ip_allow_protected_only(false);
SELECT pgwarden.ip_allow_remove(ARRAY['203.0.113.7']);
SELECT pgwarden.ip_allow_reset();
SELECT count(*) FROM pgwarden.ip_allowlist;
-- the tables themselves are not the admins' to write
DELETE FROM pgwarden.ip_allow_entries;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgwarden.gate_settings;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- an ordinary role may do none of it
SET ROLE regress_pgw_user;
SELECT pgwarden.ip_allow_add(ARRAY['203.0.113.7']);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgwarden.ip_allowlist;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgwarden.ip_allow_scope;
\echo :LAST_ERROR_SQLSTATE
SELECT pgwarden.check_connection('198.51.100.30', 'app', 'shop');
\echo :LAST_ERROR_SQLSTATE
SELECT state FROM pgwarden.policy_status();
\echo :LAST_ERROR_SQLSTATE
SELECT pgwarden.entropy_bits('x') > 0 AS anyone_may_estimate;
RESET ROLE;
SELECT state, control_database = current_database() AS here FROM pgwarden.policy_status();
