/* pgwarden--0.1.0.sql: install script */

\echo Use "CREATE EXTENSION pgwarden" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Section: foundation (control database, admin role)
-- ---------------------------------------------------------------------------

-- One control database per cluster.  The mark lives in the comment of the
-- cluster-wide role pgwarden_admin (pg_shdescription is shared), so every
-- database sees it; DROP EXTENSION clears it (ProcessUtility hook).
DO $pgw$
DECLARE
	mark text;
	other text;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgwarden_admin') THEN
		CREATE ROLE pgwarden_admin NOLOGIN;
	END IF;
	SELECT d.description INTO mark
	  FROM pg_catalog.pg_shdescription d
	 WHERE d.classoid = 'pg_catalog.pg_authid'::pg_catalog.regclass
	   AND d.objoid = 'pgwarden_admin'::pg_catalog.regrole;
	IF mark LIKE 'pgwarden control database %' THEN
		SELECT datname INTO other FROM pg_catalog.pg_database
		 WHERE oid::text = pg_catalog.substr(mark, 27)
		   AND datname <> pg_catalog.current_database();
		IF other IS NOT NULL THEN
			RAISE EXCEPTION 'pgwarden is already installed in database "%"', other
				USING ERRCODE = 'duplicate_object',
				      DETAIL = 'pgwarden manages the whole cluster from one control database.',
				      HINT = pg_catalog.format('Connect to database %I to use pgwarden, or drop the extension there first.', other);
		END IF;
	END IF;
	EXECUTE pg_catalog.format('COMMENT ON ROLE pgwarden_admin IS %L',
		'pgwarden control database ' ||
		(SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()));
END
$pgw$;

-- ---------------------------------------------------------------------------
-- Section: password policy
-- ---------------------------------------------------------------------------

CREATE FUNCTION @extschema@.entropy_bits(password text, context text[] DEFAULT '{}')
RETURNS float8
AS 'MODULE_PATHNAME', 'pgwarden_entropy_bits'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.entropy_bits(text, text[]) IS
'Estimated entropy in bits of a password (log2 of the guesses an attacker needs); context lists extra words to treat as known (role, database, banned words)';

CREATE FUNCTION @extschema@.generate_password(bits int DEFAULT 80)
RETURNS text
AS 'MODULE_PATHNAME', 'pgwarden_generate_password'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.generate_password(int) IS
'A random password with the prefix pgw_ carrying at least the given bits, always accepted by the password policy';

GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.entropy_bits(text, text[]) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.generate_password(int) TO PUBLIC;

-- ---------------------------------------------------------------------------
-- Section: IP allowlist
-- ---------------------------------------------------------------------------
--
-- The tables are the source of truth; the policy worker (ext/policy.c)
-- publishes them to shared memory for the connection gate (ext/gate.c)
-- within a second, on the primary and on streaming standbys.  Every table
-- that feeds the gate carries the trigger _policy_changed, which bumps
-- policy_version (polled by the worker) and wakes the worker at commit.

-- The policy launcher runs connected to no database, where pg_shdescription
-- cannot be read; it finds the control database by this security label
-- (pg_shseclabel can).  Stale labels elsewhere are removed.
DO $pgw$
DECLARE
	d record;
BEGIN
	FOR d IN SELECT db.datname
	           FROM pg_catalog.pg_shseclabel l
	           JOIN pg_catalog.pg_database db ON db.oid = l.objoid
	          WHERE l.provider = 'pgwarden_control'
	            AND l.classoid = 'pg_catalog.pg_database'::pg_catalog.regclass
	            AND db.datname <> pg_catalog.current_database()
	LOOP
		EXECUTE pg_catalog.format('SECURITY LABEL FOR pgwarden_control ON DATABASE %I IS NULL', d.datname);
	END LOOP;
	EXECUTE pg_catalog.format('SECURITY LABEL FOR pgwarden_control ON DATABASE %I IS %L',
		pg_catalog.current_database(), 'control database');
END
$pgw$;

CREATE TABLE @extschema@.policy_version (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	version bigint NOT NULL DEFAULT 1,
	changed_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
INSERT INTO @extschema@.policy_version DEFAULT VALUES;
COMMENT ON TABLE @extschema@.policy_version IS
'Version of the connection policy; bumped by every change to a table the connection gate reads';
REVOKE ALL ON @extschema@.policy_version FROM PUBLIC;
-- admins compare it with policy_status() to wait for a change to be enforced
GRANT SELECT ON @extschema@.policy_version TO pgwarden_admin;

CREATE FUNCTION @extschema@._policy_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'pgwarden_policy_changed'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@._policy_changed() IS
'Internal trigger: bump policy_version and wake the policy worker when the change commits';
REVOKE ALL ON FUNCTION @extschema@._policy_changed() FROM PUBLIC;

CREATE TABLE @extschema@.ip_allow_entries (
	entry text NOT NULL,
	role name,
	kind text NOT NULL CHECK (kind IN ('address', 'range', 'cidr')),
	first_address inet NOT NULL,
	last_address inet NOT NULL,
	comment text,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by name NOT NULL DEFAULT SESSION_USER,
	CONSTRAINT ip_allow_entries_entry_role_key UNIQUE NULLS NOT DISTINCT (entry, role),
	CONSTRAINT ip_allow_entries_range_check
		CHECK (pg_catalog.family(first_address) = pg_catalog.family(last_address)
			   AND first_address <= last_address)
);
COMMENT ON TABLE @extschema@.ip_allow_entries IS
'IP allowlist entries (normalised): global when role is null, else for that role only; change them with ip_allow_add / ip_allow_remove';
REVOKE ALL ON @extschema@.ip_allow_entries FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.ip_allow_entries', '');

CREATE TABLE @extschema@.gate_settings (
	name text PRIMARY KEY CHECK (name IN ('ip_allow_protected_only')),
	value text NOT NULL
);
COMMENT ON TABLE @extschema@.gate_settings IS
'Connection gate settings stored with the policy (absent: default); ip_allow_protected_only is set by ip_allow_protected_only()';
REVOKE ALL ON @extschema@.gate_settings FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.gate_settings', '');

CREATE TRIGGER policy_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON @extschema@.ip_allow_entries
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._policy_changed();
CREATE TRIGGER policy_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON @extschema@.gate_settings
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._policy_changed();

CREATE VIEW @extschema@.ip_allowlist AS
SELECT e.entry, e.role, e.kind, e.first_address, e.last_address,
       e.comment, e.created_at, e.created_by
  FROM @extschema@.ip_allow_entries e
 ORDER BY e.role NULLS FIRST, e.first_address, e.last_address;
COMMENT ON VIEW @extschema@.ip_allowlist IS
'The IP allowlist: one row per entry; role null means the entry applies to every role';
REVOKE ALL ON @extschema@.ip_allowlist FROM PUBLIC;
GRANT SELECT ON @extschema@.ip_allowlist TO pgwarden_admin;

CREATE FUNCTION @extschema@._ip_allow_parse(entries text[],
	OUT ord int, OUT entry text, OUT kind text,
	OUT first_address inet, OUT last_address inet)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgwarden_ip_allow_parse'
LANGUAGE C CALLED ON NULL INPUT IMMUTABLE;
COMMENT ON FUNCTION @extschema@._ip_allow_parse(text[]) IS
'Internal: parse and normalise allowlist entries; raises 22023 naming the first bad entry';
REVOKE ALL ON FUNCTION @extschema@._ip_allow_parse(text[]) FROM PUBLIC;

CREATE FUNCTION @extschema@._policy_verify(check_lockout boolean)
RETURNS text
AS 'MODULE_PATHNAME', 'pgwarden_policy_verify'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION @extschema@._policy_verify(boolean) IS
'Internal: build the policy as this transaction sees it; raise if it cannot be published; return why the gate would refuse this session';
REVOKE ALL ON FUNCTION @extschema@._policy_verify(boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@._ip_allow_check_role(role name)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $pgw$
BEGIN
	IF role IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = role) THEN
		RAISE EXCEPTION 'role "%" does not exist', role
			USING ERRCODE = 'undefined_object',
			      DETAIL = 'IP allowlist entries can be limited to an existing role only.',
			      HINT = 'Create the role first, or pass role => NULL for an entry that applies to every role.';
	END IF;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._ip_allow_check_role(name) IS
'Internal: refuse allowlist entries for a role that does not exist';
REVOKE ALL ON FUNCTION @extschema@._ip_allow_check_role(name) FROM PUBLIC;

CREATE FUNCTION @extschema@.ip_allow_add(entries text[], role name DEFAULT NULL,
										 comment text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	before bigint;
	added bigint;
	lockout text;
BEGIN
	PERFORM @extschema@._ip_allow_check_role(role);
	SELECT count(*) INTO before FROM @extschema@.ip_allow_entries;
	INSERT INTO @extschema@.ip_allow_entries AS e
		   (entry, role, kind, first_address, last_address, comment)
	SELECT DISTINCT ON (p.entry) p.entry, ip_allow_add.role, p.kind,
	       p.first_address, p.last_address, ip_allow_add.comment
	  FROM @extschema@._ip_allow_parse(entries) p
	 ORDER BY p.entry
	ON CONFLICT ON CONSTRAINT ip_allow_entries_entry_role_key
	DO UPDATE SET comment = COALESCE(EXCLUDED.comment, e.comment);
	SELECT count(*) - before INTO added FROM @extschema@.ip_allow_entries;
	lockout := @extschema@._policy_verify(true);
	IF lockout IS NOT NULL THEN
		RAISE WARNING 'new connections from this session''s address will be refused'
			USING DETAIL = lockout,
			      HINT = 'Add an entry for your own address too, or remove what you added with pgwarden.ip_allow_remove().';
	END IF;
	RETURN added;
END
$pgw$;
COMMENT ON FUNCTION @extschema@.ip_allow_add(text[], name, text) IS
'Allow connections from addresses, ranges (A-B) and CIDR blocks; for one role only when role is given; returns the number of new entries';

CREATE FUNCTION @extschema@.ip_allow_remove(entries text[], role name DEFAULT NULL,
											force boolean DEFAULT false)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	missing text;
	removed integer;
	lockout text;
BEGIN
	SELECT p.entry INTO missing
	  FROM @extschema@._ip_allow_parse(entries) p
	 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.ip_allow_entries e
						WHERE e.entry = p.entry AND e.role IS NOT DISTINCT FROM ip_allow_remove.role)
	 ORDER BY p.ord LIMIT 1;
	IF missing IS NOT NULL THEN
		RAISE EXCEPTION 'IP allowlist entry "%" does not exist%', missing,
			CASE WHEN role IS NULL THEN '' ELSE pg_catalog.format(' for role %I', role) END
			USING ERRCODE = 'undefined_object',
			      DETAIL = 'Nothing was removed.',
			      HINT = 'See SELECT * FROM pgwarden.ip_allowlist; entries for one role are removed with role => that role.';
	END IF;
	DELETE FROM @extschema@.ip_allow_entries e
	 USING @extschema@._ip_allow_parse(entries) p
	 WHERE e.entry = p.entry AND e.role IS NOT DISTINCT FROM ip_allow_remove.role;
	GET DIAGNOSTICS removed = ROW_COUNT;
	lockout := @extschema@._policy_verify(true);
	IF lockout IS NOT NULL AND NOT force THEN
		RAISE EXCEPTION 'removing these IP allowlist entries would lock out this session''s address'
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = pg_catalog.format('Afterwards the gate would refuse this connection: %s.', lockout),
			      HINT = 'Add an entry covering your address first, or pass force => true to remove them anyway.';
	END IF;
	RETURN removed;
END
$pgw$;
COMMENT ON FUNCTION @extschema@.ip_allow_remove(text[], name, boolean) IS
'Remove allowlist entries (those of role when given); refused when it would lock out the calling session unless force => true';

CREATE FUNCTION @extschema@.ip_allow_reset(force boolean DEFAULT false)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	removed integer;
	lockout text;
BEGIN
	DELETE FROM @extschema@.ip_allow_entries;
	GET DIAGNOSTICS removed = ROW_COUNT;
	lockout := @extschema@._policy_verify(true);
	IF lockout IS NOT NULL AND NOT force THEN
		RAISE EXCEPTION 'resetting the IP allowlist would lock out this session''s address'
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = pg_catalog.format('Afterwards the gate would refuse this connection: %s.', lockout),
			      HINT = 'Pass force => true to reset anyway.';
	END IF;
	RETURN removed;
END
$pgw$;
COMMENT ON FUNCTION @extschema@.ip_allow_reset(boolean) IS
'Remove every allowlist entry, global and per role (an empty allowlist restricts nobody); returns the number removed';

CREATE FUNCTION @extschema@.ip_allow_protected_only(enabled boolean)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	lockout text;
BEGIN
	IF enabled IS NULL THEN
		RAISE EXCEPTION 'pgwarden.ip_allow_protected_only needs true or false, not null'
			USING ERRCODE = 'null_value_not_allowed',
			      HINT = 'true: the allowlist applies to protected branches only; false: to every database.';
	END IF;
	INSERT INTO @extschema@.gate_settings (name, value)
	VALUES ('ip_allow_protected_only', enabled::text)
	ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value;
	lockout := @extschema@._policy_verify(true);
	IF lockout IS NOT NULL THEN
		RAISE WARNING 'new connections from this session''s address will be refused'
			USING DETAIL = lockout,
			      HINT = 'Add an entry for your own address, or switch back.';
	END IF;
	RETURN enabled;
END
$pgw$;
COMMENT ON FUNCTION @extschema@.ip_allow_protected_only(boolean) IS
'true: the IP allowlist applies only to connections to protected branches; false (default): to every connection';

CREATE FUNCTION @extschema@.check_connection(client inet, role name, database name)
RETURNS text
AS 'MODULE_PATHNAME', 'pgwarden_check_connection'
LANGUAGE C CALLED ON NULL INPUT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.check_connection(inet, name, name) IS
'What the connection gate would decide now, and why, for a TLS connection from client (null: Unix socket) as role to database';

CREATE FUNCTION @extschema@.policy_status(OUT state text, OUT version bigint,
	OUT control_database name, OUT loaded_at timestamptz,
	OUT memory_used bigint, OUT memory_capacity bigint, OUT detail text)
RETURNS record
AS 'MODULE_PATHNAME', 'pgwarden_policy_status'
LANGUAGE C STRICT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.policy_status() IS
'The connection policy the gate is enforcing: loaded / not loaded / damaged, its version, and shared memory use';

REVOKE ALL ON FUNCTION @extschema@.ip_allow_add(text[], name, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ip_allow_remove(text[], name, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ip_allow_reset(boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.ip_allow_protected_only(boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.check_connection(inet, name, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.policy_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.ip_allow_add(text[], name, text) TO pgwarden_admin;
GRANT EXECUTE ON FUNCTION @extschema@.ip_allow_remove(text[], name, boolean) TO pgwarden_admin;
GRANT EXECUTE ON FUNCTION @extschema@.ip_allow_reset(boolean) TO pgwarden_admin;
GRANT EXECUTE ON FUNCTION @extschema@.ip_allow_protected_only(boolean) TO pgwarden_admin;
GRANT EXECUTE ON FUNCTION @extschema@.check_connection(inet, name, name) TO pgwarden_admin;
GRANT EXECUTE ON FUNCTION @extschema@.policy_status() TO pgwarden_admin;

-- ---------------------------------------------------------------------------
-- Section: branches (branches, endpoints, protected branches, branch roles)
-- ---------------------------------------------------------------------------
--
-- The tables below are the source of truth.  Every function that changes a
-- branch also mirrors its state, in the same transaction, into a security
-- label of its database (provider pgwarden, a shared catalog), so that
-- ProcessUtility in any database of the cluster can refuse DROP DATABASE,
-- ALTER DATABASE ... ALLOW_CONNECTIONS false / CONNECTION LIMIT 0 and
-- CREATE DATABASE ... TEMPLATE on a protected branch (ext/branches.c).
-- Refusals use SQLSTATE PW001 (protected branch) and PW002 (branch role).

CREATE FUNCTION @extschema@._set_label(classid regclass, objoid oid, label text)
RETURNS void
AS 'MODULE_PATHNAME', 'pgwarden_set_label'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@._set_label(regclass, oid, text) IS
'Internal: mirror a branch or branch-role state into the pgwarden security label of a database or role';
REVOKE ALL ON FUNCTION @extschema@._set_label(regclass, oid, text) FROM PUBLIC;

CREATE FUNCTION @extschema@._allow_template_copy(template name)
RETURNS void
AS 'MODULE_PATHNAME', 'pgwarden_allow_template_copy'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@._allow_template_copy(name) IS
'Internal: let this session''s next CREATE DATABASE ... TEMPLATE template through (the branch helper, which gives the child its own credentials)';
REVOKE ALL ON FUNCTION @extschema@._allow_template_copy(name) FROM PUBLIC;

CREATE FUNCTION @extschema@._set_role_password(role oid, password text)
RETURNS void
AS 'MODULE_PATHNAME', 'pgwarden_set_role_password'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION @extschema@._set_role_password(oid, text) IS
'Internal: store the SCRAM secret of a generated branch-role password, so it never appears in SQL text';
REVOKE ALL ON FUNCTION @extschema@._set_role_password(oid, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.readonly_session()
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgwarden_readonly_session'
LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.readonly_session() IS
'True when this connection came in through a read-only endpoint';
GRANT EXECUTE ON FUNCTION @extschema@.readonly_session() TO PUBLIC;

CREATE TABLE @extschema@.branch (
	name text PRIMARY KEY
		CONSTRAINT branch_name_valid CHECK (name <> '' AND pg_catalog.octet_length(name) < 64),
	database_oid oid NOT NULL UNIQUE,
	parent text REFERENCES @extschema@.branch (name) ON DELETE SET NULL,
	protected boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	parent_lsn pg_lsn,
	strategy text NOT NULL DEFAULT 'register'
		CHECK (strategy IN ('register', 'template', 'online', 'create_database')),
	busy text CHECK (busy IN ('reset', 'delete'))
);
COMMENT ON TABLE @extschema@.branch IS
'Branches: databases with lineage.  Change through the pgwarden functions only (they keep the database labels in step)';

CREATE TABLE @extschema@.endpoint (
	name text PRIMARY KEY
		CONSTRAINT endpoint_name_valid CHECK (name <> '' AND pg_catalog.octet_length(name) < 64),
	branch text NOT NULL REFERENCES @extschema@.branch (name) ON DELETE CASCADE,
	kind text NOT NULL DEFAULT 'read_write' CHECK (kind IN ('read_write', 'read_only')),
	max_connections integer CHECK (max_connections IS NULL OR max_connections > 0),
	suspended boolean NOT NULL DEFAULT false,
	is_default boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE UNIQUE INDEX endpoint_one_default ON @extschema@.endpoint (branch) WHERE is_default;
COMMENT ON TABLE @extschema@.endpoint IS
'Endpoints (computes): named ways into a branch, chosen with options=-c pgwarden.endpoint=NAME';

CREATE TABLE @extschema@.branch_role (
	role_oid oid PRIMARY KEY,
	branch text NOT NULL REFERENCES @extschema@.branch (name) ON DELETE CASCADE,
	parent_role_oid oid NOT NULL,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.branch_role IS
'Branch credentials: login roles made for a child of a protected branch, each acting as a parent role inside that child only';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.branch', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.endpoint', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.branch_role', '');

-- The connection gate reads these tables through the policy snapshot
-- (ext/endpoints.c): protected databases, endpoints, branch-role bindings.
CREATE TRIGGER policy_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.branch
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._policy_changed();
CREATE TRIGGER policy_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.endpoint
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._policy_changed();
CREATE TRIGGER policy_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.branch_role
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._policy_changed();

-- A protected branch and its endpoints cannot be deleted, even by direct DML.
CREATE FUNCTION @extschema@._refuse_protected_delete()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	b @extschema@.branch;
BEGIN
	IF TG_TABLE_NAME = 'branch' THEN
		b := OLD;
	ELSE
		SELECT * INTO b FROM @extschema@.branch WHERE name = OLD.branch;
	END IF;
	IF b.protected AND EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE oid = b.database_oid) THEN
		IF TG_TABLE_NAME = 'branch' THEN
			PERFORM @extschema@._protected_error(b.name, 'deleting the branch',
				'A protected branch cannot be deleted.');
		ELSE
			PERFORM @extschema@._protected_error(b.name,
				pg_catalog.format('deleting endpoint %I', OLD.name),
				'The endpoints of a protected branch cannot be deleted.');
		END IF;
	END IF;
	RETURN OLD;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._refuse_protected_delete() IS
'Internal trigger: refuses deleting a protected branch or one of its endpoints';
REVOKE ALL ON FUNCTION @extschema@._refuse_protected_delete() FROM PUBLIC;

CREATE TRIGGER refuse_protected_delete BEFORE DELETE ON @extschema@.branch
	FOR EACH ROW EXECUTE FUNCTION @extschema@._refuse_protected_delete();
CREATE TRIGGER refuse_protected_delete BEFORE DELETE ON @extschema@.endpoint
	FOR EACH ROW EXECUTE FUNCTION @extschema@._refuse_protected_delete();

CREATE FUNCTION @extschema@._protected_error(branch text, action text, detail text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $pgw$
BEGIN
	RAISE EXCEPTION 'branch "%" is protected: % is refused', branch, action
		USING ERRCODE = 'PW001',
		      DETAIL = detail,
		      HINT = pg_catalog.format('Unprotect it first: SELECT pgwarden.unprotect_branch(%L);', branch);
END
$pgw$;
COMMENT ON FUNCTION @extschema@._protected_error(text, text, text) IS
'Internal: raise the protected-branch error (SQLSTATE PW001) naming the branch and the protection';
REVOKE ALL ON FUNCTION @extschema@._protected_error(text, text, text) FROM PUBLIC;

CREATE FUNCTION @extschema@._get_branch(branch_name text, lock boolean DEFAULT false)
RETURNS @extschema@.branch
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	b @extschema@.branch;
BEGIN
	IF lock THEN
		SELECT * INTO b FROM @extschema@.branch WHERE name = branch_name FOR UPDATE;
	ELSE
		SELECT * INTO b FROM @extschema@.branch WHERE name = branch_name;
	END IF;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'branch "%" does not exist', branch_name
			USING ERRCODE = 'undefined_object',
			      HINT = 'SELECT name FROM pgwarden.branches lists the branches.';
	END IF;
	RETURN b;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._get_branch(text, boolean) IS
'Internal: the branch row of that name, or an error naming it';
REVOKE ALL ON FUNCTION @extschema@._get_branch(text, boolean) FROM PUBLIC;

-- Mirror a branch into its database's label (and its roles' labels).
CREATE FUNCTION @extschema@._label_branch(branch_name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	b @extschema@.branch := @extschema@._get_branch(branch_name);
	r record;
BEGIN
	PERFORM @extschema@._set_label('pg_catalog.pg_database'::regclass, b.database_oid,
		CASE WHEN b.protected THEN 'protected:' ELSE 'branch:' END || b.name);
	FOR r IN SELECT role_oid FROM @extschema@.branch_role WHERE branch = b.name LOOP
		PERFORM @extschema@._set_label('pg_catalog.pg_authid'::regclass, r.role_oid,
			'branch-role:' || b.database_oid);
	END LOOP;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._label_branch(text) IS
'Internal: write the pgwarden labels of a branch''s database and branch roles';
REVOKE ALL ON FUNCTION @extschema@._label_branch(text) FROM PUBLIC;

CREATE FUNCTION @extschema@._add_branch(branch_name text, db oid, parent_branch text,
	lsn pg_lsn, how text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $pgw$
BEGIN
	IF EXISTS (SELECT 1 FROM @extschema@.branch WHERE name = branch_name) THEN
		RAISE EXCEPTION 'branch "%" already exists', branch_name
			USING ERRCODE = 'duplicate_object';
	END IF;
	IF EXISTS (SELECT 1 FROM @extschema@.endpoint WHERE name = branch_name) THEN
		RAISE EXCEPTION 'an endpoint named "%" already exists', branch_name
			USING ERRCODE = 'duplicate_object',
			      DETAIL = 'A branch''s default endpoint has the branch''s name.',
			      HINT = 'Choose another branch name, or drop that endpoint.';
	END IF;
	INSERT INTO @extschema@.branch (name, database_oid, parent, parent_lsn, strategy)
		VALUES (branch_name, db, parent_branch, lsn, how);
	INSERT INTO @extschema@.endpoint (name, branch, kind, is_default)
		VALUES (branch_name, branch_name, 'read_write', true);
	PERFORM @extschema@._label_branch(branch_name);
END
$pgw$;
COMMENT ON FUNCTION @extschema@._add_branch(text, oid, text, pg_lsn, text) IS
'Internal: insert a branch with its default read-write endpoint and label its database';
REVOKE ALL ON FUNCTION @extschema@._add_branch(text, oid, text, pg_lsn, text) FROM PUBLIC;

-- Register children made by a plain CREATE DATABASE ... TEMPLATE (labelled
-- 'child:PARENTOID:LSN' by the ProcessUtility hook) and forget branches whose
-- database was dropped.
CREATE FUNCTION @extschema@.sync_branches()
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	changed integer := 0;
	progress boolean := true;
	r record;
	nm text;
BEGIN
	FOR r IN SELECT b.name FROM @extschema@.branch b
	          WHERE b.busy IS NULL
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
'Register databases created with CREATE DATABASE ... TEMPLATE <unprotected branch> as its children and forget branches whose database is gone; returns the number of changes';
REVOKE ALL ON FUNCTION @extschema@.sync_branches() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.sync_branches() TO pgwarden_admin;

CREATE FUNCTION @extschema@.register_branch(database name, parent text DEFAULT NULL,
	branch_name text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	db oid;
	nm text := COALESCE(branch_name, database::text);
BEGIN
	PERFORM @extschema@.sync_branches();
	SELECT oid INTO db FROM pg_catalog.pg_database WHERE datname = database;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'database "%" does not exist', database
			USING ERRCODE = 'invalid_catalog_name';
	END IF;
	IF database IN ('template0', 'template1') THEN
		RAISE EXCEPTION 'database "%" cannot be a branch', database
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = 'Template databases are not branches.';
	END IF;
	IF EXISTS (SELECT 1 FROM @extschema@.branch WHERE database_oid = db) THEN
		RAISE EXCEPTION 'database "%" is already branch "%"', database,
			(SELECT name FROM @extschema@.branch WHERE database_oid = db)
			USING ERRCODE = 'duplicate_object';
	END IF;
	IF parent IS NOT NULL THEN
		PERFORM @extschema@._get_branch(parent);
	END IF;
	PERFORM @extschema@._add_branch(nm, db, parent, NULL, 'register');
	RETURN nm;
END
$pgw$;
COMMENT ON FUNCTION @extschema@.register_branch(name, text, text) IS
'Make an existing database a branch (root, or child of parent) named branch_name (default: the database name), with a default read-write endpoint of the same name';

CREATE FUNCTION @extschema@.protect_branch(branch_name text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
BEGIN
	PERFORM @extschema@._get_branch(branch_name, true);
	UPDATE @extschema@.branch SET protected = true WHERE name = branch_name;
	PERFORM @extschema@._label_branch(branch_name);
END
$pgw$;
COMMENT ON FUNCTION @extschema@.protect_branch(text) IS
'Protect a branch: it cannot be deleted or reset, its endpoints cannot be deleted or cut off, the project cannot be deleted, and branches created from it get their own credentials';

CREATE FUNCTION @extschema@.unprotect_branch(branch_name text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
BEGIN
	PERFORM @extschema@._get_branch(branch_name, true);
	UPDATE @extschema@.branch SET protected = false WHERE name = branch_name;
	PERFORM @extschema@._label_branch(branch_name);
END
$pgw$;
COMMENT ON FUNCTION @extschema@.unprotect_branch(text) IS
'Lift the protection of a branch';

CREATE FUNCTION @extschema@.create_endpoint(branch text, name text,
	kind text DEFAULT 'read_write', max_connections integer DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
BEGIN
	PERFORM @extschema@._get_branch(branch);
	IF kind NOT IN ('read_write', 'read_only') THEN
		RAISE EXCEPTION 'endpoint kind "%" is not valid', kind
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Use read_write or read_only.';
	END IF;
	IF max_connections IS NOT NULL AND max_connections < 1 THEN
		RAISE EXCEPTION 'endpoint "%": max_connections must be at least 1, not %', name, max_connections
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Use NULL for no limit, or suspend the endpoint.';
	END IF;
	IF EXISTS (SELECT 1 FROM @extschema@.endpoint e WHERE e.name = create_endpoint.name) THEN
		RAISE EXCEPTION 'endpoint "%" already exists', name
			USING ERRCODE = 'duplicate_object';
	END IF;
	INSERT INTO @extschema@.endpoint (name, branch, kind, max_connections)
		VALUES (create_endpoint.name, create_endpoint.branch, create_endpoint.kind,
		        create_endpoint.max_connections);
	RETURN name;
END
$pgw$;
COMMENT ON FUNCTION @extschema@.create_endpoint(text, text, text, integer) IS
'Add an endpoint (read_write or read_only, optional connection limit) to a branch';

CREATE FUNCTION @extschema@._get_endpoint(endpoint_name text)
RETURNS @extschema@.endpoint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	e @extschema@.endpoint;
BEGIN
	SELECT * INTO e FROM @extschema@.endpoint WHERE name = endpoint_name FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'endpoint "%" does not exist', endpoint_name
			USING ERRCODE = 'undefined_object',
			      HINT = 'SELECT name, branch FROM pgwarden.endpoints lists the endpoints.';
	END IF;
	RETURN e;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._get_endpoint(text) IS
'Internal: the endpoint row of that name (locked), or an error naming it';
REVOKE ALL ON FUNCTION @extschema@._get_endpoint(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.suspend_endpoint(name text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
BEGIN
	PERFORM @extschema@._get_endpoint(name);
	UPDATE @extschema@.endpoint e SET suspended = true WHERE e.name = suspend_endpoint.name;
END
$pgw$;
COMMENT ON FUNCTION @extschema@.suspend_endpoint(text) IS
'Suspend an endpoint: new connections through it are refused until it is resumed';

CREATE FUNCTION @extschema@.resume_endpoint(name text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
BEGIN
	PERFORM @extschema@._get_endpoint(name);
	UPDATE @extschema@.endpoint e SET suspended = false WHERE e.name = resume_endpoint.name;
END
$pgw$;
COMMENT ON FUNCTION @extschema@.resume_endpoint(text) IS
'Resume a suspended endpoint';

CREATE FUNCTION @extschema@.set_endpoint_limit(name text, max_connections integer)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
BEGIN
	PERFORM @extschema@._get_endpoint(name);
	IF max_connections IS NOT NULL AND max_connections < 1 THEN
		RAISE EXCEPTION 'endpoint "%": max_connections must be at least 1, not %', name, max_connections
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Use NULL for no limit, or suspend the endpoint.';
	END IF;
	UPDATE @extschema@.endpoint e SET max_connections = set_endpoint_limit.max_connections
	 WHERE e.name = set_endpoint_limit.name;
END
$pgw$;
COMMENT ON FUNCTION @extschema@.set_endpoint_limit(text, integer) IS
'Change the connection limit of an endpoint (NULL: no limit)';

CREATE FUNCTION @extschema@.drop_endpoint(name text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	e @extschema@.endpoint := @extschema@._get_endpoint(name);
	b @extschema@.branch := @extschema@._get_branch(e.branch);
BEGIN
	IF b.protected THEN
		PERFORM @extschema@._protected_error(b.name, pg_catalog.format('dropping endpoint %I', e.name),
			'The endpoints of a protected branch cannot be deleted.');
	END IF;
	IF e.is_default THEN
		RAISE EXCEPTION 'endpoint "%" is the default endpoint of branch "%"', e.name, b.name
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = 'A branch keeps its default endpoint until the branch is deleted.',
			      HINT = 'Suspend it instead: SELECT pgwarden.suspend_endpoint(name);';
	END IF;
	DELETE FROM @extschema@.endpoint x WHERE x.name = e.name;
END
$pgw$;
COMMENT ON FUNCTION @extschema@.drop_endpoint(text) IS
'Drop an endpoint (refused for endpoints of a protected branch and for default endpoints)';

-- ---- Branch credentials -------------------------------------------------

-- A cluster-unique role name for the copy of a parent role in a branch:
-- ROLE@BRANCH, shortened with a hash when it would not fit in 63 bytes.
CREATE FUNCTION @extschema@._branch_role_name(parent_role name, branch_name text)
RETURNS name
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	full_name text := parent_role::text || '@' || branch_name;
	r text := parent_role::text;
	b text := branch_name;
	h text := pg_catalog.substr(pg_catalog.md5(full_name), 1, 8);
BEGIN
	IF pg_catalog.octet_length(full_name) <= 63 THEN
		RETURN full_name;
	END IF;
	WHILE pg_catalog.octet_length(r) > 26 LOOP
		r := pg_catalog.left(r, -1);
	END LOOP;
	WHILE pg_catalog.octet_length(b) > 26 LOOP
		b := pg_catalog.left(b, -1);
	END LOOP;
	RETURN r || '@' || b || '~' || h;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._branch_role_name(name, text) IS
'Internal: name of the branch role copying parent_role in branch_name';
REVOKE ALL ON FUNCTION @extschema@._branch_role_name(name, text) FROM PUBLIC;

-- Login roles of a database: owners and grantees of objects in it (and of
-- the database itself) found through pg_shdepend, plus explicit CONNECT
-- grantees; superusers excluded.  A branch role counts as its parent role.
CREATE FUNCTION @extschema@._login_roles(db oid)
RETURNS TABLE (role_oid oid)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $pgw$
	WITH candidates AS (
		SELECT s.refobjid AS r
		  FROM pg_catalog.pg_shdepend s
		 WHERE s.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass
		   AND (s.dbid = db
		        OR (s.dbid = 0 AND s.classid = 'pg_catalog.pg_database'::pg_catalog.regclass
		            AND s.objid = db))
		UNION
		SELECT a.grantee
		  FROM pg_catalog.pg_database d,
		       LATERAL pg_catalog.aclexplode(d.datacl) a
		 WHERE d.oid = db AND a.privilege_type = 'CONNECT' AND a.grantee <> 0
		UNION
		SELECT d.datdba FROM pg_catalog.pg_database d WHERE d.oid = db
	)
	SELECT DISTINCT COALESCE(br.parent_role_oid, c.r)
	  FROM candidates c
	  LEFT JOIN @extschema@.branch_role br ON br.role_oid = c.r
	  JOIN pg_catalog.pg_authid a ON a.oid = COALESCE(br.parent_role_oid, c.r)
	 WHERE a.rolcanlogin AND NOT a.rolsuper
$pgw$;
COMMENT ON FUNCTION @extschema@._login_roles(oid) IS
'Internal: the non-superuser login roles of a database (pg_shdepend owners and grantees, CONNECT grantees)';
REVOKE ALL ON FUNCTION @extschema@._login_roles(oid) FROM PUBLIC;

-- Create the branch roles of a new child of a protected branch.  Returns the
-- generated passwords: they are not stored anywhere and are shown once.
CREATE FUNCTION @extschema@._create_branch_roles(branch_name text)
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
		EXECUTE pg_catalog.format('CREATE ROLE %I LOGIN INHERIT IN ROLE %I', nm, r.rolname);
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
COMMENT ON FUNCTION @extschema@._create_branch_roles(text) IS
'Internal: make the branch roles of a child of a protected branch; returns their passwords once';
REVOKE ALL ON FUNCTION @extschema@._create_branch_roles(text) FROM PUBLIC;

CREATE FUNCTION @extschema@._drop_branch_roles(branch_name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT br.role_oid, a.rolname FROM @extschema@.branch_role br
	           LEFT JOIN pg_catalog.pg_authid a ON a.oid = br.role_oid
	          WHERE br.branch = branch_name
	LOOP
		IF r.rolname IS NOT NULL THEN
			EXECUTE pg_catalog.format('DROP OWNED BY %I', r.rolname);
			EXECUTE pg_catalog.format('DROP ROLE %I', r.rolname);
		END IF;
		DELETE FROM @extschema@.branch_role WHERE role_oid = r.role_oid;
	END LOOP;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._drop_branch_roles(text) IS
'Internal: drop the branch roles of a branch';
REVOKE ALL ON FUNCTION @extschema@._drop_branch_roles(text) FROM PUBLIC;

-- ---- What a template copy does not carry ---------------------------------

CREATE FUNCTION @extschema@._copy_database_meta(from_db oid, to_db oid)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	src pg_catalog.pg_database;
	dst name := (SELECT datname FROM pg_catalog.pg_database WHERE oid = to_db);
	owner name;
	r record;
	k text;
	v text;
	val text;
	priv text;
	list_gucs text[] := ARRAY['search_path', 'temp_tablespaces', 'session_preload_libraries',
	                          'local_preload_libraries', 'datestyle'];
BEGIN
	SELECT * INTO src FROM pg_catalog.pg_database WHERE oid = from_db;
	owner := pg_catalog.pg_get_userbyid(src.datdba);
	-- Database-level privileges: make the child's ACL equal to the parent's.
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
		LOOP
			EXECUTE pg_catalog.format('GRANT %s ON DATABASE %I TO %s%s', r.privilege_type, dst,
				CASE WHEN r.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r.grantee)) END,
				CASE WHEN r.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
		END LOOP;
	END IF;
	-- ALTER DATABASE ... SET and ALTER ROLE ... IN DATABASE ... SET.
	FOR r IN SELECT s.setrole, pg_catalog.unnest(s.setconfig) AS cfg
	           FROM pg_catalog.pg_db_role_setting s WHERE s.setdatabase = from_db
	LOOP
		k := pg_catalog.split_part(r.cfg, '=', 1);
		v := pg_catalog.substr(r.cfg, pg_catalog.length(k) + 2);
		-- List settings are stored flattened ("$user", public): keep them as
		-- a list when they are nothing but (quoted) identifiers.
		IF pg_catalog.lower(k) = ANY (list_gucs)
		   AND v ~ '^\s*("([^"]|"")*"|[A-Za-z0-9_$.-]+)\s*(,\s*("([^"]|"")*"|[A-Za-z0-9_$.-]+)\s*)*$' THEN
			val := v;
		ELSE
			val := pg_catalog.quote_literal(v);
		END IF;
		IF r.setrole = 0 THEN
			EXECUTE pg_catalog.format('ALTER DATABASE %I SET %I = %s', dst, k, val);
		ELSE
			EXECUTE pg_catalog.format('ALTER ROLE %I IN DATABASE %I SET %I = %s',
				pg_catalog.pg_get_userbyid(r.setrole), dst, k, val);
		END IF;
	END LOOP;
	IF pg_catalog.shobj_description(from_db, 'pg_database') IS NOT NULL THEN
		EXECUTE pg_catalog.format('COMMENT ON DATABASE %I IS %L', dst,
			pg_catalog.shobj_description(from_db, 'pg_database'));
	END IF;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._copy_database_meta(oid, oid) IS
'Internal: carry database-level privileges, ALTER DATABASE/ROLE ... SET settings and the comment from one database to another';
REVOKE ALL ON FUNCTION @extschema@._copy_database_meta(oid, oid) FROM PUBLIC;

-- ---- Steps of the branch helper (python/pgwarden/branches.py) -----------
-- CREATE/DROP DATABASE cannot run inside a function, so the helper runs them
-- between these steps; each step checks the protections again.

CREATE FUNCTION @extschema@._copy_source(parent text)
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
	RETURN QUERY
	SELECT d.datname, d.oid, p.protected, pg_catalog.pg_get_userbyid(d.datdba),
	       pg_catalog.pg_encoding_to_char(d.encoding)::text, d.datcollate::text, d.datctype::text,
	       d.datlocprovider, d.daticulocale,
	       (SELECT pg_catalog.count(*)::integer FROM pg_catalog.pg_stat_activity s
	         WHERE s.datid = d.oid AND s.pid <> pg_catalog.pg_backend_pid())
	  FROM pg_catalog.pg_database d WHERE d.oid = p.database_oid;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._copy_source(text) IS
'Internal (branch helper): the parent''s database, protection, owner, locale and how many sessions use it';
REVOKE ALL ON FUNCTION @extschema@._copy_source(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._copy_source(text) TO pgwarden_admin;

CREATE FUNCTION @extschema@._arm_template_copy(parent text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	p @extschema@.branch := @extschema@._get_branch(parent);
BEGIN
	PERFORM @extschema@._allow_template_copy(
		(SELECT datname FROM pg_catalog.pg_database WHERE oid = p.database_oid));
END
$pgw$;
COMMENT ON FUNCTION @extschema@._arm_template_copy(text) IS
'Internal (branch helper): allow this session''s next CREATE DATABASE ... TEMPLATE of the parent''s database';
REVOKE ALL ON FUNCTION @extschema@._arm_template_copy(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._arm_template_copy(text) TO pgwarden_admin;

CREATE FUNCTION @extschema@._finish_create(branch_name text, parent text, database name,
	parent_lsn pg_lsn, strategy text)
RETURNS TABLE (role name, password text, parent_role name)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	p @extschema@.branch := @extschema@._get_branch(parent);
	db oid := (SELECT oid FROM pg_catalog.pg_database d WHERE d.datname = _finish_create.database);
BEGIN
	IF db IS NULL THEN
		RAISE EXCEPTION 'database "%" does not exist', database USING ERRCODE = 'invalid_catalog_name';
	END IF;
	-- Branch roles get the parent roles' privileges: only a superuser may
	-- have them made (a pgwarden_admin member could otherwise point them at
	-- any database).
	IF p.protected AND NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = session_user) THEN
		RAISE EXCEPTION 'branching protected branch "%" requires a superuser', p.name
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = 'Its branch gets roles that act with the parent''s roles'' privileges.';
	END IF;
	PERFORM @extschema@._add_branch(branch_name, db, p.name, parent_lsn, strategy);
	PERFORM @extschema@._copy_database_meta(p.database_oid, db);
	IF p.protected THEN
		RETURN QUERY SELECT * FROM @extschema@._create_branch_roles(branch_name);
	END IF;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._finish_create(text, text, name, pg_lsn, text) IS
'Internal (branch helper): register a copied database as a child branch; for a protected parent, make and return its branch credentials (once)';
REVOKE ALL ON FUNCTION @extschema@._finish_create(text, text, name, pg_lsn, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._finish_create(text, text, name, pg_lsn, text) TO pgwarden_admin;

CREATE FUNCTION @extschema@._begin_change(branch_name text, change text)
RETURNS TABLE (database name, parent text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	b @extschema@.branch;
BEGIN
	PERFORM @extschema@.sync_branches();
	b := @extschema@._get_branch(branch_name, true);
	IF change NOT IN ('reset', 'delete') THEN
		RAISE EXCEPTION 'unknown change "%"', change USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF b.protected THEN
		PERFORM @extschema@._protected_error(b.name,
			CASE change WHEN 'reset' THEN 'resetting it from its parent' ELSE 'deleting it' END,
			CASE change WHEN 'reset' THEN 'A protected branch cannot be reset.'
			            ELSE 'A protected branch cannot be deleted.' END);
	END IF;
	IF b.database_oid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()) THEN
		RAISE EXCEPTION 'branch "%" is the pgwarden control database', b.name
			USING ERRCODE = 'feature_not_supported',
			      HINT = 'Use pgwarden project delete to remove pgwarden.';
	END IF;
	IF change = 'reset' AND b.parent IS NULL THEN
		RAISE EXCEPTION 'branch "%" has no parent to reset from', b.name
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	UPDATE @extschema@.branch SET busy = change WHERE name = b.name;
	RETURN QUERY SELECT d.datname, b.parent FROM pg_catalog.pg_database d WHERE d.oid = b.database_oid;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._begin_change(text, text) IS
'Internal (branch helper): check that a branch may be reset or deleted and mark it busy';
REVOKE ALL ON FUNCTION @extschema@._begin_change(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._begin_change(text, text) TO pgwarden_admin;

CREATE FUNCTION @extschema@._abort_change(branch_name text)
RETURNS void
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
	UPDATE @extschema@.branch SET busy = NULL WHERE name = branch_name;
$pgw$;
COMMENT ON FUNCTION @extschema@._abort_change(text) IS
'Internal (branch helper): clear the busy mark after a failed reset or delete';
REVOKE ALL ON FUNCTION @extschema@._abort_change(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._abort_change(text) TO pgwarden_admin;

CREATE FUNCTION @extschema@._finish_reset(branch_name text, database name, parent_lsn pg_lsn)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	b @extschema@.branch := @extschema@._get_branch(branch_name, true);
	p @extschema@.branch := @extschema@._get_branch(b.parent);
	db oid := (SELECT oid FROM pg_catalog.pg_database d WHERE d.datname = _finish_reset.database);
	r record;
BEGIN
	IF db IS NULL THEN
		RAISE EXCEPTION 'database "%" does not exist', database USING ERRCODE = 'invalid_catalog_name';
	END IF;
	UPDATE @extschema@.branch
	   SET database_oid = db, parent_lsn = _finish_reset.parent_lsn, busy = NULL
	 WHERE name = b.name;
	PERFORM @extschema@._copy_database_meta(p.database_oid, db);
	FOR r IN SELECT a.rolname FROM @extschema@.branch_role br
	           JOIN pg_catalog.pg_authid a ON a.oid = br.role_oid
	          WHERE br.branch = b.name
	LOOP
		EXECUTE pg_catalog.format('GRANT CONNECT ON DATABASE %I TO %I', database, r.rolname);
	END LOOP;
	PERFORM @extschema@._label_branch(b.name);
END
$pgw$;
COMMENT ON FUNCTION @extschema@._finish_reset(text, name, pg_lsn) IS
'Internal (branch helper): point a reset branch at its fresh copy; name, endpoints and credentials stay';
REVOKE ALL ON FUNCTION @extschema@._finish_reset(text, name, pg_lsn) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._finish_reset(text, name, pg_lsn) TO pgwarden_admin;

CREATE FUNCTION @extschema@._finish_delete(branch_name text)
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
	PERFORM @extschema@._drop_branch_roles(b.name);
	DELETE FROM @extschema@.branch WHERE name = b.name;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._finish_delete(text) IS
'Internal (branch helper): forget a deleted branch, its endpoints and its branch roles';
REVOKE ALL ON FUNCTION @extschema@._finish_delete(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._finish_delete(text) TO pgwarden_admin;

CREATE FUNCTION @extschema@._begin_project_delete()
RETURNS TABLE (branch text, database name)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	names text;
BEGIN
	PERFORM @extschema@.sync_branches();
	SELECT pg_catalog.string_agg(pg_catalog.quote_ident(name), ', ' ORDER BY name) INTO names
	  FROM @extschema@.branch WHERE protected;
	IF names IS NOT NULL THEN
		RAISE EXCEPTION 'protected branches exist: deleting the project is refused'
			USING ERRCODE = 'PW001',
			      DETAIL = pg_catalog.format('Protected branches: %s.', names),
			      HINT = 'Unprotect each of them first with SELECT pgwarden.unprotect_branch(name).';
	END IF;
	UPDATE @extschema@.branch SET busy = 'delete';
	-- Children first, so no database is dropped while a copy of it runs.
	RETURN QUERY
	WITH RECURSIVE tree AS (
		SELECT b.name, 0 AS depth FROM @extschema@.branch b WHERE b.parent IS NULL
		UNION ALL
		SELECT b.name, t.depth + 1 FROM @extschema@.branch b JOIN tree t ON b.parent = t.name
	)
	SELECT b.name, d.datname
	  FROM @extschema@.branch b
	  JOIN tree t ON t.name = b.name
	  LEFT JOIN pg_catalog.pg_database d ON d.oid = b.database_oid
	 WHERE d.datname IS DISTINCT FROM pg_catalog.current_database()
	 ORDER BY t.depth DESC, b.name;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._begin_project_delete() IS
'Internal (project delete): refuse while any branch is protected, else list the branch databases to drop, children first';
REVOKE ALL ON FUNCTION @extschema@._begin_project_delete() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._begin_project_delete() TO pgwarden_admin;

-- ---- Views ---------------------------------------------------------------

CREATE VIEW @extschema@.branches AS
SELECT b.name,
       d.datname AS database,
       b.parent,
       b.protected,
       b.created_at,
       b.parent_lsn,
       b.strategy,
       ARRAY(SELECT e.name FROM @extschema@.endpoint e WHERE e.branch = b.name
              ORDER BY e.is_default DESC, e.name) AS endpoints,
       CASE WHEN d.oid IS NULL THEN 'missing' WHEN b.busy IS NOT NULL THEN b.busy ELSE 'ready' END AS state
  FROM @extschema@.branch b
  LEFT JOIN pg_catalog.pg_database d ON d.oid = b.database_oid
UNION ALL
-- Children of a plain CREATE DATABASE ... TEMPLATE not yet registered
-- (pgwarden.sync_branches() registers them; every pgwarden function does).
SELECT d.datname::text, d.datname, p.name, false, NULL::timestamptz,
       NULLIF(pg_catalog.split_part(l.label, ':', 3), '0/0')::pg_lsn, 'create_database',
       ARRAY[]::text[], 'unregistered'
  FROM pg_catalog.pg_shseclabel l
  JOIN pg_catalog.pg_database d ON d.oid = l.objoid
  JOIN @extschema@.branch p ON p.database_oid = pg_catalog.split_part(l.label, ':', 2)::oid
 WHERE l.provider = 'pgwarden'
   AND l.classoid = 'pg_catalog.pg_database'::pg_catalog.regclass
   AND l.label LIKE 'child:%'
   AND NOT EXISTS (SELECT 1 FROM @extschema@.branch b WHERE b.database_oid = d.oid);
COMMENT ON VIEW @extschema@.branches IS
'Branches: name, database, parent, protected, created at, parent WAL position at the copy, how it was made, endpoints (default first), state';

CREATE VIEW @extschema@.endpoints AS
SELECT e.name, e.branch, d.datname AS database, e.kind, e.max_connections, e.suspended,
       e.is_default, e.created_at
  FROM @extschema@.endpoint e
  JOIN @extschema@.branch b ON b.name = e.branch
  LEFT JOIN pg_catalog.pg_database d ON d.oid = b.database_oid;
COMMENT ON VIEW @extschema@.endpoints IS
'Endpoints (computes) of the branches: kind (read_write, read_only), connection limit, suspended, default';

CREATE VIEW @extschema@.branch_roles AS
SELECT a.rolname AS role, br.branch, d.datname AS database, pa.rolname AS parent_role, br.created_at
  FROM @extschema@.branch_role br
  JOIN @extschema@.branch b ON b.name = br.branch
  LEFT JOIN pg_catalog.pg_authid a ON a.oid = br.role_oid
  LEFT JOIN pg_catalog.pg_authid pa ON pa.oid = br.parent_role_oid
  LEFT JOIN pg_catalog.pg_database d ON d.oid = b.database_oid;
COMMENT ON VIEW @extschema@.branch_roles IS
'Branch credentials: each role, its branch and database, and the parent role whose privileges it has there';

REVOKE ALL ON @extschema@.branch, @extschema@.endpoint, @extschema@.branch_role FROM PUBLIC;
REVOKE ALL ON @extschema@.branches, @extschema@.endpoints, @extschema@.branch_roles FROM PUBLIC;
GRANT SELECT ON @extschema@.branches, @extschema@.endpoints, @extschema@.branch_roles TO pgwarden_admin;

REVOKE ALL ON FUNCTION @extschema@.register_branch(name, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.protect_branch(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.unprotect_branch(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.create_endpoint(text, text, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.suspend_endpoint(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.resume_endpoint(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.set_endpoint_limit(text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.drop_endpoint(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.register_branch(name, text, text) TO pgwarden_admin;
GRANT EXECUTE ON FUNCTION @extschema@.protect_branch(text) TO pgwarden_admin;
GRANT EXECUTE ON FUNCTION @extschema@.unprotect_branch(text) TO pgwarden_admin;
GRANT EXECUTE ON FUNCTION @extschema@.create_endpoint(text, text, text, integer) TO pgwarden_admin;
GRANT EXECUTE ON FUNCTION @extschema@.suspend_endpoint(text) TO pgwarden_admin;
GRANT EXECUTE ON FUNCTION @extschema@.resume_endpoint(text) TO pgwarden_admin;
GRANT EXECUTE ON FUNCTION @extschema@.set_endpoint_limit(text, integer) TO pgwarden_admin;
GRANT EXECUTE ON FUNCTION @extschema@.drop_endpoint(text) TO pgwarden_admin;
