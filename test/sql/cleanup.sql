-- Leave the server as the suite found it: no pgwarden, no regress roles.
\set SHOW_CONTEXT never
DROP FUNCTION regress_wait_published();
DROP EXTENSION pgwarden;
DROP ROLE regress_pgw_admin;
DROP ROLE regress_pgw_user;
SELECT count(*) FROM pg_shseclabel WHERE provider LIKE 'pgwarden%';
