
-- ---------------------------------------------------------------------------
-- Section: no privilege through SECURITY DEFINER functions (0.2.0)
-- ---------------------------------------------------------------------------
--
-- 0.1.0 re-issued the parent's per-database settings as SQL text
-- (ALTER ROLE ... IN DATABASE ... SET name = <value>), leaving a value
-- unquoted when a pattern took it for a list of identifiers; a role could
-- store a value that passed the pattern and ran its own statement as the
-- extension's owner on the next branch create or reset (see SECURITY.md).
-- Settings are now copied as the server stored them, by C, never parsed.
--
-- The helper's steps (_finish_create, _finish_reset, _finish_delete,
-- _arm_template_copy) are granted to pgwarden_admin because the Python
-- helper, run by an admin, calls them between CREATE/DROP DATABASE
-- statements.  Each step now checks everything itself: a database it
-- registers must have been created by the calling session, a branch it
-- finishes must have been marked for that change by _begin_change (which
-- checks the protections), and only a superuser may copy a protected branch.

CREATE FUNCTION @extschema@._copy_settings(from_db oid, to_db oid)
RETURNS void
AS 'MODULE_PATHNAME', 'pgwarden_copy_settings'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION @extschema@._copy_settings(oid, oid) IS
'Internal: copy the ALTER DATABASE/ROLE ... SET settings of one database to another exactly as stored (pg_db_role_setting rows), never as SQL text';
REVOKE ALL ON FUNCTION @extschema@._copy_settings(oid, oid) FROM PUBLIC;

CREATE FUNCTION @extschema@._created_here(db oid)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgwarden_created_here'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION @extschema@._created_here(oid) IS
'Internal: true when the calling session created that database (CREATE DATABASE seen by pgwarden''s utility hook)';
REVOKE ALL ON FUNCTION @extschema@._created_here(oid) FROM PUBLIC;

-- The database a helper step is about to register: created by this very
-- session, not a branch yet, not a template, not the control database.
CREATE FUNCTION @extschema@._check_new_copy(database name)
RETURNS oid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	db oid := (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = _check_new_copy.database);
BEGIN
	IF db IS NULL THEN
		RAISE EXCEPTION 'database "%" does not exist', database USING ERRCODE = 'invalid_catalog_name';
	END IF;
	IF EXISTS (SELECT 1 FROM @extschema@.branch b WHERE b.database_oid = db) THEN
		RAISE EXCEPTION 'database "%" is already branch "%"', database,
			(SELECT b.name FROM @extschema@.branch b WHERE b.database_oid = db)
			USING ERRCODE = 'duplicate_object';
	END IF;
	IF NOT @extschema@._created_here(db)
	   OR db = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
	   OR (SELECT d.datistemplate FROM pg_catalog.pg_database d WHERE d.oid = db) THEN
		RAISE EXCEPTION 'database "%" was not created by this session as a branch copy', database
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = 'pgwarden registers as a new or reset branch only a database that the calling session has just created.',
			      HINT = 'Use pgwarden branches create / reset (pgwarden.Project.create_branch / reset_branch); an existing database becomes a branch with pgwarden.register_branch().';
	END IF;
	RETURN db;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._check_new_copy(name) IS
'Internal (branch helper): the OID of a database this session just created, or an error when it is anything else';
REVOKE ALL ON FUNCTION @extschema@._check_new_copy(name) FROM PUBLIC;

-- Only a superuser may copy a protected branch (its child gets roles that
-- act with the parent roles' privileges).
CREATE FUNCTION @extschema@._check_may_copy(p @extschema@.branch)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $pgw$
BEGIN
	IF p.protected AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = session_user) THEN
		RAISE EXCEPTION 'branching protected branch "%" requires a superuser', p.name
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = 'Its branch gets roles that act with the parent''s roles'' privileges.';
	END IF;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._check_may_copy(@extschema@.branch) IS
'Internal (branch helper): refuse a copy of a protected branch by anyone but a superuser';
REVOKE ALL ON FUNCTION @extschema@._check_may_copy(@extschema@.branch) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@._copy_database_meta(from_db oid, to_db oid)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	src pg_catalog.pg_database;
	dst name := (SELECT datname FROM pg_catalog.pg_database WHERE oid = to_db);
	owner name;
	r record;
	priv text;
BEGIN
	SELECT * INTO src FROM pg_catalog.pg_database WHERE oid = from_db;
	owner := pg_catalog.pg_get_userbyid(src.datdba);
	-- Database-level privileges: make the child's ACL equal to the parent's.
	-- Every name goes through %I; privilege types are aclexplode's keywords.
	IF src.datacl IS NOT NULL THEN
		EXECUTE pg_catalog.format('REVOKE ALL ON DATABASE %I FROM PUBLIC', dst);
		FOREACH priv IN ARRAY ARRAY['CREATE', 'TEMPORARY', 'CONNECT'] LOOP
			IF NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(src.datacl) a
			                WHERE a.grantee = src.datdba AND a.privilege_type = priv) THEN
				EXECUTE pg_catalog.format('REVOKE %s ON DATABASE %I FROM %I', priv, dst, owner);
			END IF;
		END LOOP;
		FOR r IN SELECT a.grantee, a.privilege_type, a.is_grantable
		           FROM pg_catalog.aclexplode(src.datacl) a
		          WHERE a.grantee <> src.datdba
		            AND a.privilege_type IN ('CREATE', 'TEMPORARY', 'CONNECT')
		LOOP
			IF r.grantee = 0 THEN
				EXECUTE pg_catalog.format('GRANT %s ON DATABASE %I TO PUBLIC%s', r.privilege_type, dst,
					CASE WHEN r.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
			ELSE
				EXECUTE pg_catalog.format('GRANT %s ON DATABASE %I TO %I%s', r.privilege_type, dst,
					pg_catalog.pg_get_userbyid(r.grantee),
					CASE WHEN r.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
			END IF;
		END LOOP;
	END IF;
	-- ALTER DATABASE ... SET and ALTER ROLE ... IN DATABASE ... SET: the
	-- stored rows themselves, never re-issued as SQL.
	PERFORM @extschema@._copy_settings(from_db, to_db);
	IF pg_catalog.shobj_description(from_db, 'pg_database') IS NOT NULL THEN
		EXECUTE pg_catalog.format('COMMENT ON DATABASE %I IS %L', dst,
			pg_catalog.shobj_description(from_db, 'pg_database'));
	END IF;
END
$pgw$;

CREATE OR REPLACE FUNCTION @extschema@._arm_template_copy(parent text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	p @extschema@.branch := @extschema@._get_branch(parent);
BEGIN
	PERFORM @extschema@._check_may_copy(p);
	PERFORM @extschema@._allow_template_copy(
		(SELECT datname FROM pg_catalog.pg_database WHERE oid = p.database_oid));
END
$pgw$;
COMMENT ON FUNCTION @extschema@._arm_template_copy(text) IS
'Internal (branch helper): allow this session''s next CREATE DATABASE ... TEMPLATE of the parent''s database (a protected parent: superusers only)';

-- The locale columns differ between majors (daticulocale in 15 and 16,
-- datlocale from 17 on, which adds the builtin provider 'b'): read the row
-- as jsonb so one body serves every major.
CREATE OR REPLACE FUNCTION @extschema@._copy_source(parent text)
RETURNS TABLE (database name, database_oid oid, protected boolean, owner name,
	encoding text, lc_collate text, lc_ctype text, locale_provider "char", icu_locale text,
	other_connections integer)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	p @extschema@.branch;
BEGIN
	PERFORM @extschema@.sync_branches();
	p := @extschema@._get_branch(parent);
	IF p.database_oid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()) THEN
		RAISE EXCEPTION 'branch "%" is the pgwarden control database and cannot be copied', p.name
			USING ERRCODE = 'feature_not_supported';
	END IF;
	PERFORM @extschema@._check_may_copy(p);
	RETURN QUERY
	SELECT d.datname, d.oid, p.protected, pg_catalog.pg_get_userbyid(d.datdba),
	       pg_catalog.pg_encoding_to_char(d.encoding)::text, d.datcollate::text, d.datctype::text,
	       d.datlocprovider,
	       COALESCE(pg_catalog.to_jsonb(d) OPERATOR(pg_catalog.->>) 'datlocale',
	                pg_catalog.to_jsonb(d) OPERATOR(pg_catalog.->>) 'daticulocale'),
	       (SELECT pg_catalog.count(*)::integer FROM pg_catalog.pg_stat_activity s
	         WHERE s.datid = d.oid AND s.pid <> pg_catalog.pg_backend_pid())
	  FROM pg_catalog.pg_database d WHERE d.oid = p.database_oid;
END
$pgw$;

CREATE OR REPLACE FUNCTION @extschema@._finish_create(branch_name text, parent text, database name,
	parent_lsn pg_lsn, strategy text)
RETURNS TABLE (role name, password text, parent_role name)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	p @extschema@.branch := @extschema@._get_branch(parent);
	db oid;
BEGIN
	PERFORM @extschema@._check_may_copy(p);
	db := @extschema@._check_new_copy(database);
	IF strategy NOT IN ('template', 'online') THEN
		RAISE EXCEPTION 'unknown copy strategy "%"', strategy USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM @extschema@._add_branch(branch_name, db, p.name, parent_lsn, strategy);
	PERFORM @extschema@._copy_database_meta(p.database_oid, db);
	IF p.protected THEN
		RETURN QUERY SELECT * FROM @extschema@._create_branch_roles(branch_name);
	END IF;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._finish_create(text, text, name, pg_lsn, text) IS
'Internal (branch helper): register a database this session just copied as a child branch; for a protected parent (superusers only), make and return its branch credentials (once)';

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
'Internal (branch helper): point a branch marked for reset at the fresh copy this session made; name, endpoints and credentials stay';

-- _finish_delete (red-team third pass): the session must hold the
-- branch's operation lock with a delete recorded, and the branch's
-- database must be gone: forgetting a branch whose database still exists
-- is unregistering it, which only a project delete does.
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
