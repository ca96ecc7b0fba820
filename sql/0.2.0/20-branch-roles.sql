
-- ---------------------------------------------------------------------------
-- Section: branch roles are confined to their branch (0.2.0)
-- ---------------------------------------------------------------------------
--
-- In 0.1.0 a branch role was a member of its parent role, so it saw the
-- parent role's sessions in every database (pg_stat_activity, query text
-- included), could SET ROLE to it and had everything granted to it
-- cluster-wide.  Now a branch role is a member of nothing: inside its child
-- the branch helper gives it what the parent role held there (ownership and
-- grants in the child's own catalogs, python/pgwarden/branches.py
-- carry_privileges); outside it has no privilege, visibility or identity.

CREATE OR REPLACE FUNCTION @extschema@._create_branch_roles(branch_name text)
RETURNS TABLE (role name, password text, parent_role name)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	b @extschema@.branch := @extschema@._get_branch(branch_name);
	p @extschema@.branch := @extschema@._get_branch(b.parent);
	r record;
	nm name;
	pw text;
BEGIN
	FOR r IN SELECT a.oid, a.rolname FROM @extschema@._login_roles(p.database_oid) l
	           JOIN pg_catalog.pg_authid a ON a.oid = l.role_oid
	          ORDER BY a.rolname
	LOOP
		nm := @extschema@._branch_role_name(r.rolname, b.name);
		IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = nm) THEN
			RAISE EXCEPTION 'role "%" already exists', nm
				USING ERRCODE = 'duplicate_object',
				      DETAIL = pg_catalog.format('It would be the credentials of role %I in branch %I.', r.rolname, b.name),
				      HINT = 'Drop or rename that role, or choose another branch name.';
		END IF;
		pw := @extschema@.generate_password(96);
		-- No IN ROLE: membership in the parent role would reach every
		-- database the parent role reaches.
		EXECUTE pg_catalog.format('CREATE ROLE %I LOGIN', nm);
		PERFORM @extschema@._set_role_password(
			(SELECT oid FROM pg_catalog.pg_authid WHERE rolname = nm), pw);
		EXECUTE pg_catalog.format('GRANT CONNECT ON DATABASE %I TO %I',
			(SELECT datname FROM pg_catalog.pg_database WHERE oid = b.database_oid), nm);
		EXECUTE pg_catalog.format('COMMENT ON ROLE %I IS %L', nm,
			pg_catalog.format('pgwarden branch role: %s in branch %s', r.rolname, b.name));
		INSERT INTO @extschema@.branch_role (role_oid, branch, parent_role_oid)
			VALUES ((SELECT oid FROM pg_catalog.pg_authid WHERE rolname = nm), b.name, r.oid);
		role := nm;
		password := pw;
		parent_role := r.rolname;
		RETURN NEXT;
	END LOOP;
	PERFORM @extschema@._label_branch(b.name);
END
$pgw$;

-- Branch roles made by 0.1.0 leave their parent role now.  Inside their
-- branch they keep only what was granted to them directly until
-- `pgwarden branches carry-privileges NAME` (or a reset) carries the parent
-- role's ownership and grants over (README, "Upgrading from 0.1.0").
DO $pgw$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT a.rolname AS member, p.rolname AS parent
	           FROM @extschema@.branch_role br
	           JOIN pg_catalog.pg_authid a ON a.oid = br.role_oid
	           JOIN pg_catalog.pg_authid p ON p.oid = br.parent_role_oid
	           JOIN pg_catalog.pg_auth_members m
	             ON m.roleid = br.parent_role_oid AND m.member = br.role_oid
	LOOP
		EXECUTE pg_catalog.format('REVOKE %I FROM %I', r.parent, r.member);
	END LOOP;
END
$pgw$;

-- The policy's triggers fire whatever session_replication_role says: a
-- superuser setting it to replica must not silence them.
ALTER TABLE @extschema@.branch ENABLE ALWAYS TRIGGER refuse_protected_delete;
ALTER TABLE @extschema@.endpoint ENABLE ALWAYS TRIGGER refuse_protected_delete;
ALTER TABLE @extschema@.branch ENABLE ALWAYS TRIGGER policy_changed;
ALTER TABLE @extschema@.endpoint ENABLE ALWAYS TRIGGER policy_changed;
ALTER TABLE @extschema@.branch_role ENABLE ALWAYS TRIGGER policy_changed;
ALTER TABLE @extschema@.ip_allow_entries ENABLE ALWAYS TRIGGER policy_changed;
ALTER TABLE @extschema@.gate_settings ENABLE ALWAYS TRIGGER policy_changed;
