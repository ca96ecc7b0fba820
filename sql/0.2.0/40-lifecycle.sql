
-- ---------------------------------------------------------------------------
-- Part 40: lifecycle (sql/0.2.0/40-lifecycle.sql)
-- ---------------------------------------------------------------------------

-- The allowlist's scope, readable by pgwarden_admin members (the table
-- gate_settings is not: its only writer is ip_allow_protected_only()).
CREATE VIEW @extschema@.ip_allow_scope AS
SELECT COALESCE((SELECT s.value = 'true' FROM @extschema@.gate_settings s
                  WHERE s.name = 'ip_allow_protected_only'), false) AS protected_only;
COMMENT ON VIEW @extschema@.ip_allow_scope IS
'The IP allowlist''s scope: protected_only is true when it applies to protected branches only (set with ip_allow_protected_only())';
REVOKE ALL ON @extschema@.ip_allow_scope FROM PUBLIC;
GRANT SELECT ON @extschema@.ip_allow_scope TO pgwarden_admin;

-- ---- Branch operations: one at a time per branch, recoverable -------------
--
-- Create, reset and delete need CREATE/DROP DATABASE, which cannot run
-- inside a function, so the helper (python/pgwarden/branches.py) runs them
-- between the steps below.  Every operation
--   - holds a session-level advisory lock on the branch name (key pair
--     1885828964 = 'pgwd', hashtext(name)), exclusive for the branch it
--     changes and shared for the parent it copies: a second operation on the
--     same branch fails at once with SQLSTATE 55P03 naming the session that
--     holds it;
--   - records itself in branch_operation, committed before any database is
--     touched, so a client killed or a server crashed at any point leaves a
--     row saying what to finish or undo.  The copy is made under a new name
--     (pgw_create_*, pgw_reset_*) and renamed into place, together with the
--     catalog change, in one transaction; a reset renames the old database
--     aside (pgw_reset_*_old) in that same transaction and drops it only
--     afterwards.  So at every moment the branch is either as before or as
--     after, and the next operation (or pgwarden branches recover) drops the
--     unfinished copy or the old database left aside.

CREATE TABLE @extschema@.branch_operation (
	branch text PRIMARY KEY,
	operation text NOT NULL CHECK (operation IN ('create', 'reset', 'delete')),
	step text NOT NULL DEFAULT 'copying' CHECK (step IN ('copying', 'swapped', 'dropping')),
	new_database name,
	old_database name,
	started_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	started_by name NOT NULL DEFAULT SESSION_USER,
	backend_pid integer NOT NULL DEFAULT pg_catalog.pg_backend_pid()
);
COMMENT ON TABLE @extschema@.branch_operation IS
'Branch operations in progress or interrupted: what the next operation must finish (step swapped) or undo (step copying); new_database is the copy being made, old_database the database a reset renames aside or a create names';
REVOKE ALL ON @extschema@.branch_operation FROM PUBLIC;

CREATE FUNCTION @extschema@._branch_lock_key(branch_name text)
RETURNS integer
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $pgw$ SELECT pg_catalog.hashtext(branch_name) $pgw$;
COMMENT ON FUNCTION @extschema@._branch_lock_key(text) IS
'Internal: second key of the advisory lock (1885828964, key) that serialises operations on a branch';
REVOKE ALL ON FUNCTION @extschema@._branch_lock_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._branch_lock_key(text) TO pgwarden_admin;

CREATE FUNCTION @extschema@._branch_lock_holder(branch_name text)
RETURNS integer
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $pgw$
	SELECT l.pid FROM pg_catalog.pg_locks l
	 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
	   AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
	                      WHERE d.datname = pg_catalog.current_database())
	   AND l.classid = 1885828964::oid
	   AND l.objid::bigint = (@extschema@._branch_lock_key(branch_name)::bigint & 4294967295)
	 ORDER BY l.pid = pg_catalog.pg_backend_pid() DESC, l.mode = 'ExclusiveLock' DESC
	 LIMIT 1
$pgw$;
COMMENT ON FUNCTION @extschema@._branch_lock_holder(text) IS
'Internal: a session holding the operation lock of a branch (this one first), or null';
REVOKE ALL ON FUNCTION @extschema@._branch_lock_holder(text) FROM PUBLIC;
-- the view branch_operations calls it with its reader's privileges
GRANT EXECUTE ON FUNCTION @extschema@._branch_lock_holder(text) TO pgwarden_admin;

CREATE FUNCTION @extschema@._lock_branch(branch_name text, shared boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	op @extschema@.branch_operation;
	holder integer;
	key integer := @extschema@._branch_lock_key(branch_name);
BEGIN
	IF branch_name IS NULL THEN
		RAISE EXCEPTION 'a branch name is required' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF (shared AND pg_catalog.pg_try_advisory_lock_shared(1885828964, key))
	   OR (NOT shared AND pg_catalog.pg_try_advisory_lock(1885828964, key)) THEN
		RETURN;
	END IF;
	holder := @extschema@._branch_lock_holder(branch_name);
	SELECT * INTO op FROM @extschema@.branch_operation o WHERE o.branch = branch_name;
	RAISE EXCEPTION 'branch "%" is busy: another session is changing it', branch_name
		USING ERRCODE = 'lock_not_available',
		      DETAIL = CASE WHEN op.branch IS NOT NULL
		                    THEN pg_catalog.format('Session %s (role %s) has been running %s on it since %s.',
		                         COALESCE(holder, op.backend_pid), op.started_by, op.operation, op.started_at)
		                    ELSE pg_catalog.format('Session %s is copying it or changing it.', holder) END,
		      HINT = 'Wait for that operation to finish, then try again.';
END
$pgw$;
COMMENT ON FUNCTION @extschema@._lock_branch(text, boolean) IS
'Internal (branch helper): take the session''s operation lock on a branch name (shared: to copy it), or fail with 55P03 naming the session that holds it';
REVOKE ALL ON FUNCTION @extschema@._lock_branch(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._lock_branch(text, boolean) TO pgwarden_admin;

CREATE FUNCTION @extschema@._unlock_branch(branch_name text, shared boolean DEFAULT false)
RETURNS boolean
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $pgw$
	SELECT CASE WHEN shared
	            THEN pg_catalog.pg_advisory_unlock_shared(1885828964, @extschema@._branch_lock_key(branch_name))
	            ELSE pg_catalog.pg_advisory_unlock(1885828964, @extschema@._branch_lock_key(branch_name)) END
$pgw$;
COMMENT ON FUNCTION @extschema@._unlock_branch(text, boolean) IS
'Internal (branch helper): release the session''s operation lock on a branch name';
REVOKE ALL ON FUNCTION @extschema@._unlock_branch(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._unlock_branch(text, boolean) TO pgwarden_admin;

CREATE FUNCTION @extschema@._check_branch_lock(branch_name text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $pgw$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
	                WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
	                  AND l.mode = 'ExclusiveLock' AND l.pid = pg_catalog.pg_backend_pid()
	                  AND l.classid = 1885828964::oid
	                  AND l.objid::bigint = (@extschema@._branch_lock_key(branch_name)::bigint & 4294967295)) THEN
		RAISE EXCEPTION 'this session does not hold the operation lock of branch "%"', branch_name
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Change branches with pgwarden branches create / reset / delete (pgwarden.Project).';
	END IF;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._check_branch_lock(text) IS
'Internal: refuse an operation step unless this session holds the branch''s exclusive operation lock';
REVOKE ALL ON FUNCTION @extschema@._check_branch_lock(text) FROM PUBLIC;

-- The names of the copy and of the old database set aside are made here,
-- never taken from the caller: recovering an interrupted operation drops
-- them, possibly as a more privileged role than the one that started it.
CREATE FUNCTION @extschema@._begin_operation(branch_name text, operation text,
	create_database name DEFAULT NULL)
RETURNS TABLE (database name, parent text, new_database name, old_database name)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	r record;
	token text := pg_catalog.substr(pg_catalog.md5(pg_catalog.random()::text
	                                 OPERATOR(pg_catalog.||) pg_catalog.clock_timestamp()::text), 1, 12);
BEGIN
	PERFORM @extschema@._check_branch_lock(branch_name);
	IF EXISTS (SELECT 1 FROM @extschema@.branch_operation o WHERE o.branch = branch_name) THEN
		RAISE EXCEPTION 'branch "%" has an interrupted operation', branch_name
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Run pgwarden branches recover (pgwarden.Project.recover) first.';
	END IF;
	IF operation = 'create' THEN
		IF EXISTS (SELECT 1 FROM @extschema@.branch b WHERE b.name = branch_name) THEN
			RAISE EXCEPTION 'branch "%" already exists', branch_name USING ERRCODE = 'duplicate_object';
		END IF;
		IF _begin_operation.create_database IS NULL THEN
			RAISE EXCEPTION 'a database name is required' USING ERRCODE = 'null_value_not_allowed';
		END IF;
		IF EXISTS (SELECT 1 FROM pg_catalog.pg_database d WHERE d.datname = _begin_operation.create_database) THEN
			RAISE EXCEPTION 'database "%" already exists', _begin_operation.create_database
				USING ERRCODE = 'duplicate_database',
				      HINT = 'Choose another branch or database name.';
		END IF;
		new_database := 'pgw_create_' OPERATOR(pg_catalog.||) token;
		old_database := _begin_operation.create_database;
		database := NULL;
	ELSIF operation IN ('reset', 'delete') THEN
		SELECT * INTO r FROM @extschema@._begin_change(branch_name, operation);
		database := r.database;
		parent := r.parent;
		IF operation = 'reset' THEN
			new_database := 'pgw_reset_' OPERATOR(pg_catalog.||) token;
			old_database := new_database OPERATOR(pg_catalog.||) '_old';
		END IF;
	ELSE
		RAISE EXCEPTION 'unknown operation "%"', operation USING ERRCODE = 'invalid_parameter_value';
	END IF;
	INSERT INTO @extschema@.branch_operation AS o (branch, operation, step, new_database, old_database)
	VALUES (branch_name, _begin_operation.operation,
	        CASE WHEN _begin_operation.operation = 'delete' THEN 'dropping' ELSE 'copying' END,
	        _begin_operation.new_database, _begin_operation.old_database);
	RETURN NEXT;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._begin_operation(text, text, name) IS
'Internal (branch helper): check and record a create (of database), reset or delete before any database is touched (needs the branch''s operation lock); returns the names of the copy to make and of the old database to set aside';
REVOKE ALL ON FUNCTION @extschema@._begin_operation(text, text, name) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._begin_operation(text, text, name) TO pgwarden_admin;

CREATE FUNCTION @extschema@._get_operation(branch_name text, operation text, step text)
RETURNS @extschema@.branch_operation
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	op @extschema@.branch_operation;
BEGIN
	PERFORM @extschema@._check_branch_lock(branch_name);
	SELECT * INTO op FROM @extschema@.branch_operation o WHERE o.branch = branch_name FOR UPDATE;
	IF NOT FOUND OR op.operation <> _get_operation.operation OR op.step <> _get_operation.step THEN
		RAISE EXCEPTION 'branch "%" has no % operation at step %', branch_name, operation, step
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	RETURN op;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._get_operation(text, text, text) IS
'Internal: the recorded operation of a branch, locked, when it is that operation at that step';
REVOKE ALL ON FUNCTION @extschema@._get_operation(text, text, text) FROM PUBLIC;

-- Run by the helper in the transaction that renamed the old database aside
-- and the copy into place: the branch now is its fresh copy.
CREATE FUNCTION @extschema@._reset_swapped(branch_name text, database name, parent_lsn pg_lsn,
	strategy text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	op @extschema@.branch_operation := @extschema@._get_operation(branch_name, 'reset', 'copying');
	aside oid;
BEGIN
	IF strategy NOT IN ('template', 'online') THEN
		RAISE EXCEPTION 'unknown copy strategy "%"', strategy USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM @extschema@._finish_reset(branch_name, database, parent_lsn);
	-- the branch's database is now a copy pgwarden made (project delete drops it)
	UPDATE @extschema@.branch b SET strategy = _reset_swapped.strategy WHERE b.name = branch_name;
	SELECT d.oid INTO aside FROM pg_catalog.pg_database d WHERE d.datname = op.old_database;
	IF aside IS NOT NULL AND NOT EXISTS (SELECT 1 FROM @extschema@.branch b WHERE b.database_oid = aside) THEN
		PERFORM @extschema@._set_label('pg_catalog.pg_database'::regclass, aside, NULL);
	END IF;
	UPDATE @extschema@.branch_operation o SET step = 'swapped' WHERE o.branch = branch_name;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._reset_swapped(text, name, pg_lsn, text) IS
'Internal (branch helper): in the transaction that renamed the old database aside and the copy into place, point the branch at the copy';
REVOKE ALL ON FUNCTION @extschema@._reset_swapped(text, name, pg_lsn, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._reset_swapped(text, name, pg_lsn, text) TO pgwarden_admin;

CREATE FUNCTION @extschema@._create_swapped(branch_name text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
BEGIN
	PERFORM @extschema@._get_operation(branch_name, 'create', 'copying');
	IF NOT EXISTS (SELECT 1 FROM @extschema@.branch b WHERE b.name = branch_name) THEN
		RAISE EXCEPTION 'branch "%" was not registered', branch_name
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	UPDATE @extschema@.branch_operation o SET step = 'swapped' WHERE o.branch = branch_name;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._create_swapped(text) IS
'Internal (branch helper): in the transaction that renamed the copy into place and registered it, mark the create as done but for carrying privileges';
REVOKE ALL ON FUNCTION @extschema@._create_swapped(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._create_swapped(text) TO pgwarden_admin;

CREATE FUNCTION @extschema@._end_operation(branch_name text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
BEGIN
	PERFORM @extschema@._check_branch_lock(branch_name);
	DELETE FROM @extschema@.branch_operation o WHERE o.branch = branch_name;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._end_operation(text) IS
'Internal (branch helper): forget a finished operation';
REVOKE ALL ON FUNCTION @extschema@._end_operation(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._end_operation(text) TO pgwarden_admin;

CREATE FUNCTION @extschema@._abort_operation(branch_name text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
BEGIN
	PERFORM @extschema@._check_branch_lock(branch_name);
	IF EXISTS (SELECT 1 FROM @extschema@.branch_operation o
	            WHERE o.branch = branch_name AND o.step = 'swapped') THEN
		RAISE EXCEPTION 'the % of branch "%" cannot be undone: its copy is in place', 
			(SELECT o.operation FROM @extschema@.branch_operation o WHERE o.branch = branch_name), branch_name
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Run pgwarden branches recover to finish it.';
	END IF;
	DELETE FROM @extschema@.branch_operation o WHERE o.branch = branch_name;
	UPDATE @extschema@.branch b SET busy = NULL WHERE b.name = branch_name AND b.busy IS NOT NULL;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._abort_operation(text) IS
'Internal (branch helper): forget an operation undone before its copy was put in place; the branch is as before';
REVOKE ALL ON FUNCTION @extschema@._abort_operation(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._abort_operation(text) TO pgwarden_admin;

-- What recovering an interrupted operation must drop: only a database the
-- operation recorded (pgw_create_*, pgw_reset_*) or, for a delete, the
-- branch's own database; never one that is a branch's database otherwise.
-- _operation_leftover (red-team third pass): an
-- interrupted delete of a branch that has been protected since is undone,
-- not finished.  Before, recovery went on to finish it, _finish_delete
-- refused (PW001), and the branch's every later operation, and `pgwarden
-- branches recover` for every branch, failed until it was unprotected.
CREATE FUNCTION @extschema@._operation_leftover(branch_name text,
	OUT operation text, OUT step text, OUT drop_database name)
RETURNS record
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	op @extschema@.branch_operation;
	target name;
BEGIN
	PERFORM @extschema@._check_branch_lock(branch_name);
	SELECT * INTO op FROM @extschema@.branch_operation o WHERE o.branch = branch_name;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	operation := op.operation;
	step := op.step;
	IF op.operation = 'delete' THEN
		SELECT d.datname INTO target FROM pg_catalog.pg_database d
		  JOIN @extschema@.branch b ON b.database_oid = d.oid
		 WHERE b.name = branch_name AND b.busy = 'delete' AND NOT b.protected;
		-- Another role's delete whose database still exists is undone, not
		-- finished: its DROP would run with the recovering role's rights.
		IF target IS NOT NULL AND op.started_by <> session_user THEN
			step := 'copying';
			target := NULL;
		END IF;
		-- So is the delete of a branch protected since.
		IF EXISTS (SELECT 1 FROM @extschema@.branch b WHERE b.name = branch_name AND b.protected) THEN
			step := 'copying';
			target := NULL;
		END IF;
	ELSE
		target := CASE WHEN op.step = 'copying' THEN op.new_database ELSE op.old_database END;
		IF op.operation = 'create' AND op.step = 'swapped' THEN
			target := NULL;
		END IF;
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_database d WHERE d.datname = target
		                 AND NOT EXISTS (SELECT 1 FROM @extschema@.branch b WHERE b.database_oid = d.oid)) THEN
			target := NULL;
		END IF;
	END IF;
	drop_database := target;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._operation_leftover(text) IS
'Internal (branch helper): an interrupted operation of a branch (needs its lock) and the database recovering it drops, if any (an interrupted delete of another role, or of a branch protected since, is undone)';
REVOKE ALL ON FUNCTION @extschema@._operation_leftover(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._operation_leftover(text) TO pgwarden_admin;

CREATE VIEW @extschema@.branch_operations AS
SELECT o.branch, o.operation, o.step, o.new_database, o.old_database,
       o.started_at, o.started_by, o.backend_pid,
       @extschema@._branch_lock_holder(o.branch) IS NOT NULL AS running
  FROM @extschema@.branch_operation o;
COMMENT ON VIEW @extschema@.branch_operations IS
'Branch operations in progress (running) or interrupted by a killed client or a crash (not running: the next operation on the branch, or pgwarden branches recover, finishes or undoes them)';
REVOKE ALL ON @extschema@.branch_operations FROM PUBLIC;
GRANT SELECT ON @extschema@.branch_operations TO pgwarden_admin;

-- ---- Project delete: drops only the databases pgwarden created -------------
--
-- A branch's strategy says how its current database came to be: 'register'
-- (an existing database, registered), 'template' or 'online' (a copy made
-- by pgwarden branches create, or by the branch's last reset),
-- 'create_database' (a plain CREATE DATABASE ... TEMPLATE of a branch,
-- registered as its child).  Deleting the project drops the databases of
-- the last three and keeps registered ones (they are only unregistered),
-- unless drop_registered says otherwise.

CREATE FUNCTION @extschema@._project_delete_plan(drop_registered boolean DEFAULT false)
RETURNS TABLE (branch text, database name, strategy text, drop_database boolean)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	names text;
BEGIN
	PERFORM @extschema@.sync_branches();
	SELECT pg_catalog.string_agg(pg_catalog.quote_ident(b.name), ', ' ORDER BY b.name) INTO names
	  FROM @extschema@.branch b WHERE b.protected;
	IF names IS NOT NULL THEN
		RAISE EXCEPTION 'protected branches exist: deleting the project is refused'
			USING ERRCODE = 'PW001',
			      DETAIL = pg_catalog.format('Protected branches: %s.', names),
			      HINT = 'Unprotect each of them first with SELECT pgwarden.unprotect_branch(name).';
	END IF;
	IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = session_user)
	   AND NOT pg_catalog.pg_has_role(session_user,
	           (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname = 'pgwarden'), 'USAGE') THEN
		RAISE EXCEPTION 'deleting the project requires a superuser'
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = 'It ends with DROP EXTENSION pgwarden, which only the extension''s owner or a superuser may run; nothing was dropped.';
	END IF;
	-- Children first, so no database is dropped while a copy of it runs.
	RETURN QUERY
	WITH RECURSIVE tree AS (
		SELECT b.name, 0 AS depth FROM @extschema@.branch b WHERE b.parent IS NULL
		UNION ALL
		SELECT b.name, t.depth + 1 FROM @extschema@.branch b JOIN tree t ON b.parent = t.name
	)
	SELECT b.name, d.datname, b.strategy,
	       d.datname IS NOT NULL
	       AND (b.strategy IN ('template', 'online', 'create_database') OR drop_registered)
	  FROM @extschema@.branch b
	  JOIN tree t ON t.name = b.name
	  LEFT JOIN pg_catalog.pg_database d ON d.oid = b.database_oid
	 WHERE d.datname IS DISTINCT FROM pg_catalog.current_database()
	 ORDER BY t.depth DESC, b.name;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._project_delete_plan(boolean) IS
'Internal (project delete): refuse while a branch is protected or for a caller who cannot drop the extension; else each branch, children first, and whether its database is dropped (pgwarden made it, or drop_registered) or kept';
REVOKE ALL ON FUNCTION @extschema@._project_delete_plan(boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._project_delete_plan(boolean) TO pgwarden_admin;

-- _unregister_branch (red-team third pass): only a role that may drop the
-- extension, never the control database, never a branch with an operation
-- in progress or interrupted (recovery would then act on whatever database
-- is registered under its name next).
CREATE FUNCTION @extschema@._unregister_branch(branch_name text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	b @extschema@.branch := @extschema@._get_branch(branch_name, true);
BEGIN
	PERFORM @extschema@._check_branch_lock(branch_name);
	IF b.protected THEN
		PERFORM @extschema@._protected_error(b.name, 'unregistering it', 'A protected branch stays a branch.');
	END IF;
	IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = session_user)
	   AND NOT pg_catalog.pg_has_role(session_user,
	           (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname = 'pgwarden'), 'USAGE') THEN
		RAISE EXCEPTION 'unregistering a branch requires a superuser'
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = 'Branches are unregistered by pgwarden project delete only.';
	END IF;
	IF b.database_oid = (SELECT d.oid FROM pg_catalog.pg_database d
	                      WHERE d.datname = pg_catalog.current_database()) THEN
		RAISE EXCEPTION 'branch "%" is the pgwarden control database', b.name
			USING ERRCODE = 'feature_not_supported';
	END IF;
	IF b.busy IS NOT NULL
	   OR EXISTS (SELECT 1 FROM @extschema@.branch_operation o WHERE o.branch = b.name) THEN
		RAISE EXCEPTION 'branch "%" has an operation in progress or interrupted', b.name
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Run pgwarden branches recover (pgwarden.Project.recover) first.';
	END IF;
	-- credentials pgwarden made for it would outlive their confinement
	PERFORM @extschema@._drop_branch_roles(b.name);
	DELETE FROM @extschema@.branch WHERE name = b.name;
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_database d WHERE d.oid = b.database_oid) THEN
		PERFORM @extschema@._set_label('pg_catalog.pg_database'::regclass, b.database_oid, NULL);
	END IF;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._unregister_branch(text) IS
'Internal (project delete, superusers only): forget a branch whose database is kept: its endpoints, branch roles and label go, the database stays';
REVOKE ALL ON FUNCTION @extschema@._unregister_branch(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._unregister_branch(text) TO pgwarden_admin;

-- ---- Backup and restore: branches re-attached by name in another cluster ---
--
-- pg_dump of the control database carries the tables (pg_extension_config_dump)
-- but not what they point at by OID: restored into another cluster, a
-- branch's database_oid and a branch role's role_oid name whatever has that
-- OID there, or nothing.  So every row also records the names and the
-- cluster (pg_control_system().system_identifier: a promoted standby and a
-- base backup keep it, initdb makes a new one).  A row of another cluster is
-- detached at once (the gate then applies it to no database and no role) and
-- re-attached to the database and roles of the recorded names, in the
-- statement that restores it and again by sync_branches(); a role not found
-- by name loses its binding row, a branch whose database is not (yet) there
-- stays with no database (state 'missing') until a database of its name
-- exists or the branch is deleted.  Rows of this cluster keep the old
-- meaning: a branch whose database was dropped is forgotten.

ALTER TABLE @extschema@.branch ALTER COLUMN database_oid DROP NOT NULL;
ALTER TABLE @extschema@.branch ADD COLUMN database_name name;
ALTER TABLE @extschema@.branch ADD COLUMN system_identifier bigint;
COMMENT ON COLUMN @extschema@.branch.database_oid IS
'The branch''s database; null while a branch restored from another cluster waits for a database of its database_name';
COMMENT ON COLUMN @extschema@.branch.database_name IS
'The database''s name when pgwarden last saw it: a restore into another cluster re-attaches the branch by it';
COMMENT ON COLUMN @extschema@.branch.system_identifier IS
'The cluster (pg_control_system().system_identifier) whose database database_oid is';
ALTER TABLE @extschema@.branch_role ADD COLUMN role_name name;
ALTER TABLE @extschema@.branch_role ADD COLUMN parent_role_name name;
ALTER TABLE @extschema@.branch_role ADD COLUMN system_identifier bigint;
COMMENT ON COLUMN @extschema@.branch_role.role_name IS
'The branch role''s name when pgwarden last saw it: a restore into another cluster re-attaches the binding by it';
COMMENT ON COLUMN @extschema@.branch_role.parent_role_name IS
'The parent role''s name when pgwarden last saw it (restores re-attach by it)';
COMMENT ON COLUMN @extschema@.branch_role.system_identifier IS
'The cluster (pg_control_system().system_identifier) whose roles role_oid and parent_role_oid are';

CREATE FUNCTION @extschema@._system_identifier()
RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $pgw$ SELECT c.system_identifier FROM pg_catalog.pg_control_system() c $pgw$;
COMMENT ON FUNCTION @extschema@._system_identifier() IS
'Internal: this cluster''s system identifier (kept by standbys and base backups, new after initdb), recorded with the OIDs of branches and branch roles';
REVOKE ALL ON FUNCTION @extschema@._system_identifier() FROM PUBLIC;

-- Rows made here get this cluster; their names follow their OIDs.
CREATE FUNCTION @extschema@._branch_names()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	here bigint := @extschema@._system_identifier();
BEGIN
	IF TG_OP = 'INSERT' AND NEW.system_identifier IS NULL THEN
		NEW.system_identifier := here;
	END IF;
	IF NEW.system_identifier IS DISTINCT FROM here THEN
		RETURN NEW;
	END IF;
	IF TG_TABLE_NAME = 'branch' THEN
		NEW.database_name := COALESCE((SELECT d.datname FROM pg_catalog.pg_database d
		                                WHERE d.oid = NEW.database_oid), NEW.database_name);
	ELSE
		NEW.role_name := COALESCE((SELECT a.rolname FROM pg_catalog.pg_authid a
		                            WHERE a.oid = NEW.role_oid), NEW.role_name);
		NEW.parent_role_name := COALESCE((SELECT a.rolname FROM pg_catalog.pg_authid a
		                                   WHERE a.oid = NEW.parent_role_oid), NEW.parent_role_name);
	END IF;
	RETURN NEW;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._branch_names() IS
'Internal trigger: a branch or branch-role row made in this cluster records it, and the names of its database or roles';
REVOKE ALL ON FUNCTION @extschema@._branch_names() FROM PUBLIC;

-- Fill the new columns before the triggers exist (the rows are this cluster's).
UPDATE @extschema@.branch b
   SET system_identifier = @extschema@._system_identifier(),
       database_name = (SELECT d.datname FROM pg_catalog.pg_database d WHERE d.oid = b.database_oid);
UPDATE @extschema@.branch_role br
   SET system_identifier = @extschema@._system_identifier(),
       role_name = (SELECT a.rolname FROM pg_catalog.pg_authid a WHERE a.oid = br.role_oid),
       parent_role_name = (SELECT a.rolname FROM pg_catalog.pg_authid a WHERE a.oid = br.parent_role_oid);

CREATE TRIGGER names BEFORE INSERT OR UPDATE ON @extschema@.branch
	FOR EACH ROW EXECUTE FUNCTION @extschema@._branch_names();
CREATE TRIGGER names BEFORE INSERT OR UPDATE ON @extschema@.branch_role
	FOR EACH ROW EXECUTE FUNCTION @extschema@._branch_names();
ALTER TABLE @extschema@.branch ENABLE ALWAYS TRIGGER names;
ALTER TABLE @extschema@.branch_role ENABLE ALWAYS TRIGGER names;

-- A branch with no database has no label to write.
CREATE OR REPLACE FUNCTION @extschema@._label_branch(branch_name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	b @extschema@.branch := @extschema@._get_branch(branch_name);
	r record;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_database d WHERE d.oid = b.database_oid) THEN
		RETURN;
	END IF;
	PERFORM @extschema@._set_label('pg_catalog.pg_database'::regclass, b.database_oid,
		CASE WHEN b.protected THEN 'protected:' ELSE 'branch:' END || b.name);
	FOR r IN SELECT br.role_oid FROM @extschema@.branch_role br
	          WHERE br.branch = b.name
	            AND EXISTS (SELECT 1 FROM pg_catalog.pg_authid a WHERE a.oid = br.role_oid) LOOP
		PERFORM @extschema@._set_label('pg_catalog.pg_authid'::regclass, r.role_oid,
			'branch-role:' || b.database_oid);
	END LOOP;
END
$pgw$;

CREATE FUNCTION @extschema@._reattach_branches()
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	here bigint := @extschema@._system_identifier();
	changed integer := 0;
	r record;
	roles @extschema@.branch_role[];
	br @extschema@.branch_role;
	db oid;
	role oid;
	parent oid;
BEGIN
	-- Each statement below runs only when it has rows to change: the
	-- policy tables' statement triggers bump the policy version even for
	-- none, and every pgwarden call runs this.
	--
	-- Branches of another cluster: first all detached (their OIDs mean
	-- nothing here and may be another database's), then each on the
	-- database of its recorded name, unless a branch of this cluster has it.
	IF EXISTS (SELECT 1 FROM @extschema@.branch b
	            WHERE b.system_identifier IS DISTINCT FROM here) THEN
		IF EXISTS (SELECT 1 FROM @extschema@.branch b
		            WHERE b.system_identifier IS DISTINCT FROM here AND b.database_oid IS NOT NULL) THEN
			UPDATE @extschema@.branch b SET database_oid = NULL
			 WHERE b.system_identifier IS DISTINCT FROM here AND b.database_oid IS NOT NULL;
		END IF;
		FOR r IN SELECT b.name, b.database_name FROM @extschema@.branch b
		          WHERE b.system_identifier IS DISTINCT FROM here ORDER BY b.name LOOP
			SELECT d.oid INTO db FROM pg_catalog.pg_database d
			 WHERE d.datname = r.database_name
			   AND NOT EXISTS (SELECT 1 FROM @extschema@.branch x WHERE x.database_oid = d.oid);
			IF db IS NOT NULL THEN
				UPDATE @extschema@.branch b SET database_oid = db, system_identifier = here
				 WHERE b.name = r.name;
				changed := changed + 1;
			END IF;
		END LOOP;
	END IF;
	-- Branch roles of another cluster: taken out, and bound again to the
	-- roles of the recorded names when both exist here.
	SELECT pg_catalog.array_agg(x ORDER BY x.role_name) INTO roles FROM @extschema@.branch_role x
	 WHERE x.system_identifier IS DISTINCT FROM here;
	IF roles IS NOT NULL THEN
		DELETE FROM @extschema@.branch_role x WHERE x.system_identifier IS DISTINCT FROM here;
		FOREACH br IN ARRAY roles LOOP
			role := (SELECT a.oid FROM pg_catalog.pg_authid a WHERE a.rolname = br.role_name);
			parent := (SELECT a.oid FROM pg_catalog.pg_authid a WHERE a.rolname = br.parent_role_name);
			IF role IS NOT NULL AND parent IS NOT NULL
			   AND NOT EXISTS (SELECT 1 FROM @extschema@.branch_role x WHERE x.role_oid = role) THEN
				INSERT INTO @extschema@.branch_role (role_oid, branch, parent_role_oid, created_at,
				                                     role_name, parent_role_name, system_identifier)
				VALUES (role, br.branch, parent, br.created_at, br.role_name, br.parent_role_name, here);
			END IF;
			changed := changed + 1;
		END LOOP;
	END IF;
	-- Names follow renames.
	IF EXISTS (SELECT 1 FROM @extschema@.branch b JOIN pg_catalog.pg_database d ON d.oid = b.database_oid
	            WHERE b.system_identifier = here AND b.database_name IS DISTINCT FROM d.datname) THEN
		UPDATE @extschema@.branch b SET database_name = d.datname
		  FROM pg_catalog.pg_database d
		 WHERE d.oid = b.database_oid AND b.system_identifier = here
		   AND b.database_name IS DISTINCT FROM d.datname;
	END IF;
	IF EXISTS (SELECT 1 FROM @extschema@.branch_role x
	             LEFT JOIN pg_catalog.pg_authid a ON a.oid = x.role_oid
	             LEFT JOIN pg_catalog.pg_authid p ON p.oid = x.parent_role_oid
	            WHERE x.system_identifier = here
	              AND ((a.oid IS NOT NULL AND x.role_name IS DISTINCT FROM a.rolname)
	                   OR (p.oid IS NOT NULL AND x.parent_role_name IS DISTINCT FROM p.rolname))) THEN
		UPDATE @extschema@.branch_role x
		   SET role_name = COALESCE((SELECT a.rolname FROM pg_catalog.pg_authid a
		                              WHERE a.oid = x.role_oid), x.role_name),
		       parent_role_name = COALESCE((SELECT a.rolname FROM pg_catalog.pg_authid a
		                                     WHERE a.oid = x.parent_role_oid), x.parent_role_name)
		 WHERE x.system_identifier = here;
	END IF;
	-- Labels (not in any dump: shared catalogs) written where they are missing.
	FOR r IN SELECT b.name FROM @extschema@.branch b
	           JOIN pg_catalog.pg_database d ON d.oid = b.database_oid
	          WHERE b.busy IS NULL
	            AND (NOT EXISTS (SELECT 1 FROM pg_catalog.pg_shseclabel l
	                              WHERE l.provider = 'pgwarden'
	                                AND l.classoid = 'pg_catalog.pg_database'::regclass
	                                AND l.objoid = b.database_oid
	                                AND l.label = CASE WHEN b.protected THEN 'protected:' ELSE 'branch:' END
	                                              || b.name)
	                 OR EXISTS (SELECT 1 FROM @extschema@.branch_role x
	                             JOIN pg_catalog.pg_authid a ON a.oid = x.role_oid
	                            WHERE x.branch = b.name
	                              AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_shseclabel l
	                                               WHERE l.provider = 'pgwarden'
	                                                 AND l.classoid = 'pg_catalog.pg_authid'::regclass
	                                                 AND l.objoid = x.role_oid
	                                                 AND l.label = 'branch-role:' || b.database_oid)))
	LOOP
		PERFORM @extschema@._label_branch(r.name);
	END LOOP;
	RETURN changed;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._reattach_branches() IS
'Internal: re-attach branches and branch roles restored from another cluster to the database and roles of their recorded names, follow renames, write missing labels; returns the number of rows re-attached or dropped';
REVOKE ALL ON FUNCTION @extschema@._reattach_branches() FROM PUBLIC;

-- In the restore itself (pg_restore's COPY): rows of another cluster never
-- point the gate at a database or role that happens to have their old OID,
-- and restored rows get their labels (protections) at once.
CREATE FUNCTION @extschema@._reattach_restored()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $pgw$
BEGIN
	IF pg_catalog.pg_trigger_depth() = 1 THEN
		PERFORM @extschema@._reattach_branches();
	END IF;
	RETURN NULL;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._reattach_restored() IS
'Internal trigger: rows restored from another cluster are re-attached by name, and restored rows labelled, in the statement that inserts them';
REVOKE ALL ON FUNCTION @extschema@._reattach_restored() FROM PUBLIC;
CREATE TRIGGER reattach AFTER INSERT ON @extschema@.branch
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._reattach_restored();
CREATE TRIGGER reattach AFTER INSERT ON @extschema@.branch_role
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._reattach_restored();
ALTER TABLE @extschema@.branch ENABLE ALWAYS TRIGGER reattach;
ALTER TABLE @extschema@.branch_role ENABLE ALWAYS TRIGGER reattach;

CREATE OR REPLACE FUNCTION @extschema@.sync_branches()
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	changed integer := @extschema@._reattach_branches();
	here bigint := @extschema@._system_identifier();
	progress boolean := true;
	r record;
	nm text;
BEGIN
	-- A branch of this cluster whose database was dropped is forgotten.
	FOR r IN SELECT b.name FROM @extschema@.branch b
	          WHERE b.busy IS NULL AND b.system_identifier = here
	            AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_database d WHERE d.oid = b.database_oid)
	LOOP
		PERFORM @extschema@._drop_branch_roles(r.name);
		DELETE FROM @extschema@.branch WHERE name = r.name;
		changed := changed + 1;
	END LOOP;
	WHILE progress LOOP
		progress := false;
		FOR r IN SELECT d.oid, d.datname, p.name AS parent,
		                pg_catalog.split_part(l.label, ':', 3) AS lsn
		           FROM pg_catalog.pg_shseclabel l
		           JOIN pg_catalog.pg_database d ON d.oid = l.objoid
		           JOIN @extschema@.branch p
		             ON p.database_oid = pg_catalog.split_part(l.label, ':', 2)::oid
		          WHERE l.provider = 'pgwarden'
		            AND l.classoid = 'pg_catalog.pg_database'::regclass
		            AND l.label LIKE 'child:%'
		            AND NOT EXISTS (SELECT 1 FROM @extschema@.branch b WHERE b.database_oid = d.oid)
		LOOP
			nm := r.datname;
			IF EXISTS (SELECT 1 FROM @extschema@.branch WHERE name = nm)
			   OR EXISTS (SELECT 1 FROM @extschema@.endpoint WHERE name = nm) THEN
				nm := r.datname || '-' || r.oid;
			END IF;
			PERFORM @extschema@._add_branch(nm, r.oid, r.parent,
				NULLIF(r.lsn, '0/0')::pg_lsn, 'create_database');
			changed := changed + 1;
			progress := true;
		END LOOP;
	END LOOP;
	RETURN changed;
END
$pgw$;
COMMENT ON FUNCTION @extschema@.sync_branches() IS
'Register databases created with CREATE DATABASE ... TEMPLATE <unprotected branch> as its children, forget branches whose database was dropped, re-attach branches and branch roles restored from another cluster to the database and roles of their names; returns the number of changes';
