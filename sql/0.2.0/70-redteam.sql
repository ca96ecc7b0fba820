
-- ---------------------------------------------------------------------------
-- Section: red-team fixes, third pass (0.2.0): branch operations
-- ---------------------------------------------------------------------------
--
-- Recovering an interrupted operation trusts the operation record: it
-- finishes a delete that the recovering role itself started, with its own
-- rights.  The 0.1.0 helper steps that the 0.2.0 helper no longer calls
-- (_begin_change, _abort_change, _finish_reset: _begin_operation and
-- _reset_swapped call them as the extension's owner) were still granted
-- to pgwarden_admin and marked, unmarked or finished a branch without
-- looking at that record or at the operation lock.  A member could forget
-- the branch of a superuser's interrupted delete, register another
-- role's database under its name and mark it for deletion: the
-- superuser's `pgwarden branches recover` then dropped that database.

REVOKE EXECUTE ON FUNCTION @extschema@._begin_change(text, text) FROM pgwarden_admin;
REVOKE EXECUTE ON FUNCTION @extschema@._abort_change(text) FROM pgwarden_admin;
REVOKE EXECUTE ON FUNCTION @extschema@._finish_reset(text, name, pg_lsn) FROM PUBLIC, pgwarden_admin;

-- _finish_delete (defined in 10-security-definer.sql, redefined here with
-- two more checks): the session must hold the branch's operation lock with
-- a delete recorded, and the branch's database must be gone: forgetting a
-- branch whose database still exists is unregistering it, which only a
-- project delete does.
CREATE OR REPLACE FUNCTION @extschema@._finish_delete(branch_name text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	b @extschema@.branch := @extschema@._get_branch(branch_name, true);
BEGIN
	IF b.protected THEN
		PERFORM @extschema@._protected_error(b.name, 'deleting it', 'A protected branch cannot be deleted.');
	END IF;
	IF b.busy IS DISTINCT FROM 'delete' THEN
		RAISE EXCEPTION 'branch "%" is not being deleted', b.name
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Delete a branch with pgwarden branches delete (pgwarden.Project.delete_branch).';
	END IF;
	PERFORM @extschema@._get_operation(b.name, 'delete', 'dropping');
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_database d WHERE d.oid = b.database_oid) THEN
		RAISE EXCEPTION 'the database of branch "%" still exists', b.name
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = 'A deleted branch is forgotten once its database is dropped.',
			      HINT = 'Delete a branch with pgwarden branches delete (pgwarden.Project.delete_branch).';
	END IF;
	PERFORM @extschema@._drop_branch_roles(b.name);
	DELETE FROM @extschema@.branch WHERE name = b.name;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._finish_delete(text) IS
'Internal (branch helper): forget a branch whose recorded delete dropped its database (needs its operation lock), its endpoints and its branch roles';

-- _unregister_branch (defined in 40-lifecycle.sql, redefined here with the
-- checks of the project delete it serves): only a role that may drop the
-- extension, never the control database, never a branch with an operation
-- in progress or interrupted (recovery would then act on whatever database
-- is registered under its name next).
CREATE OR REPLACE FUNCTION @extschema@._unregister_branch(branch_name text)
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

-- _operation_leftover (defined in 40-lifecycle.sql, redefined here): an
-- interrupted delete of a branch that has been protected since is undone,
-- not finished.  Before, recovery went on to finish it, _finish_delete
-- refused (PW001), and the branch's every later operation, and `pgwarden
-- branches recover` for every branch, failed until it was unprotected.
CREATE OR REPLACE FUNCTION @extschema@._operation_leftover(branch_name text,
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
