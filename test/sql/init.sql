-- pgwarden's pg_regress suite: what an SQL user sees.  Run with
-- `make installcheck` against a server that preloads pgwarden and has not
-- created it in another database (see README, "Testing an installation").
-- Every error is followed by its SQLSTATE.
\set VERBOSITY default
\set SHOW_CONTEXT never
CREATE EXTENSION pgwarden;
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'pgwarden')
       AS default_version_installed
  FROM pg_extension WHERE extname = 'pgwarden';
SELECT rolname, rolcanlogin, rolsuper FROM pg_roles WHERE rolname = 'pgwarden_admin';
-- a second CREATE EXTENSION in the same database
CREATE EXTENSION pgwarden;
\echo :LAST_ERROR_SQLSTATE
-- the roles the other tests use (cluster-wide: dropped again by the last test)
CREATE ROLE regress_pgw_admin LOGIN IN ROLE pgwarden_admin;
CREATE ROLE regress_pgw_user LOGIN;
-- check_connection() answers from the policy the gate enforces, which the
-- policy worker publishes a few milliseconds after each commit: wait for it.
CREATE FUNCTION regress_wait_published() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..500 LOOP
		IF (SELECT s.state = 'loaded' AND s.version = v.version
		      FROM pgwarden.policy_status() s, pgwarden.policy_version v) THEN
			RETURN 'published';
		END IF;
		PERFORM pg_sleep(0.01);
	END LOOP;
	RETURN 'not published';
END $$;
