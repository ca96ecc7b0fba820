-- ---------------------------------------------------------------------------
-- Section: red-team fixes (0.2.0)
-- ---------------------------------------------------------------------------

-- _finish_reset (defined in 10-security-definer.sql, redefined here with
-- one more check): a pgwarden_admin member could mark an unprotected child
-- of a protected branch for reset, create a database of its own and point
-- the branch at it: the child's branch roles, which act with the protected
-- parent roles' privileges, were then bound to the member's database and
-- got CONNECT there.  Only a superuser may copy a protected branch, at
-- every step: this one too.
CREATE OR REPLACE FUNCTION @extschema@._finish_reset(branch_name text, database name, parent_lsn pg_lsn)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	b @extschema@.branch := @extschema@._get_branch(branch_name, true);
	p @extschema@.branch;
	db oid;
	r record;
BEGIN
	IF b.busy IS DISTINCT FROM 'reset' THEN
		RAISE EXCEPTION 'branch "%" is not being reset', b.name
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Reset a branch with pgwarden branches reset (pgwarden.Project.reset_branch).';
	END IF;
	p := @extschema@._get_branch(b.parent);
	PERFORM @extschema@._check_may_copy(p);
	db := @extschema@._check_new_copy(database);
	UPDATE @extschema@.branch
	   SET database_oid = db, parent_lsn = _finish_reset.parent_lsn, busy = NULL
	 WHERE name = b.name;
	PERFORM @extschema@._copy_database_meta(p.database_oid, db);
	FOR r IN SELECT a.rolname FROM @extschema@.branch_role br
	           JOIN pg_catalog.pg_authid a ON a.oid = br.role_oid
	          WHERE br.branch = b.name
	LOOP
		EXECUTE pg_catalog.format('GRANT CONNECT ON DATABASE %I TO %I',
			(SELECT d.datname FROM pg_catalog.pg_database d WHERE d.oid = db), r.rolname);
	END LOOP;
	PERFORM @extschema@._label_branch(b.name);
END
$pgw$;
COMMENT ON FUNCTION @extschema@._finish_reset(text, name, pg_lsn) IS
'Internal (branch helper): point a branch marked for reset at the fresh copy this session made; name, endpoints and credentials stay (a child of a protected branch: superusers only)';
