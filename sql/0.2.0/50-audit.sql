
-- ---------------------------------------------------------------------------
-- Section: audit trail (issue 13)
-- ---------------------------------------------------------------------------
--
-- pgwarden.audit_log records every change to the policy in the transaction
-- that makes it: row triggers on the policy tables derive the action from the
-- table, the operation and the columns that changed, so every function path
-- (and direct DML by the tables' owner) is recorded, and a rolled-back change
-- leaves no row.  The triggers are ENABLE ALWAYS (session_replication_role
-- cannot silence them) and the ProcessUtility hook (ext/audit.c) refuses
-- dropping, disabling or replacing them.  ALTER SYSTEM of pgwarden.* settings
-- is recorded by the same hook.  Refusals (weak passwords, PW001, PW002) abort
-- their transaction: ext/audit.c queues them in shared memory and the policy
-- loader writes them in a transaction of its own.

CREATE TABLE @extschema@.audit_log (
	id bigserial PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	session_user_name name,
	current_user_name name,
	client_addr inet,
	application_name text,
	database name,
	action text NOT NULL,
	object text,
	before jsonb,
	after jsonb,
	xid xid8
);
CREATE INDEX audit_log_at ON @extschema@.audit_log (at);
COMMENT ON TABLE @extschema@.audit_log IS
'Audit trail of the policy: one row per change (same transaction) or refusal; append-only, pruned only by pgwarden.audit_prune()';
REVOKE ALL ON @extschema@.audit_log FROM PUBLIC;
REVOKE ALL ON SEQUENCE @extschema@.audit_log_id_seq FROM PUBLIC;
GRANT SELECT ON @extschema@.audit_log TO pgwarden_admin;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_log_id_seq', '');

-- pg_restore copies the log's rows, then the tables whose triggers append to
-- it, and sets the sequence last: an id already taken moves the sequence past
-- the log (restores are not the only way there: any setval behind the log).
CREATE FUNCTION @extschema@._audit_next_id()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $pgw$
BEGIN
	IF EXISTS (SELECT 1 FROM ONLY @extschema@.audit_log l WHERE l.id = NEW.id) THEN
		PERFORM pg_catalog.setval('@extschema@.audit_log_id_seq',
			(SELECT pg_catalog.max(l.id) FROM ONLY @extschema@.audit_log l));
		NEW.id := pg_catalog.nextval('@extschema@.audit_log_id_seq');
	END IF;
	RETURN NEW;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._audit_next_id() IS
'Internal trigger: an audit row whose id is taken (rows restored before their sequence) gets the next free one';
REVOKE ALL ON FUNCTION @extschema@._audit_next_id() FROM PUBLIC;
CREATE TRIGGER next_id BEFORE INSERT ON @extschema@.audit_log
	FOR EACH ROW EXECUTE FUNCTION @extschema@._audit_next_id();
ALTER TABLE @extschema@.audit_log ENABLE ALWAYS TRIGGER next_id;

CREATE FUNCTION @extschema@._audit_append_only()
RETURNS trigger
AS 'MODULE_PATHNAME', 'pgwarden_audit_append_only'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@._audit_append_only() IS
'Internal trigger: refuses UPDATE, DELETE and TRUNCATE of pgwarden.audit_log except the DELETE run by pgwarden.audit_prune()';
REVOKE ALL ON FUNCTION @extschema@._audit_append_only() FROM PUBLIC;

CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON @extschema@.audit_log
	FOR EACH ROW EXECUTE FUNCTION @extschema@._audit_append_only();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON @extschema@.audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._audit_append_only();
ALTER TABLE @extschema@.audit_log ENABLE ALWAYS TRIGGER append_only;
ALTER TABLE @extschema@.audit_log ENABLE ALWAYS TRIGGER append_only_truncate;

CREATE FUNCTION @extschema@._audit_outer_user()
RETURNS name
AS 'MODULE_PATHNAME', 'pgwarden_audit_outer_user'
LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@._audit_outer_user() IS
'Internal: the current user outside any SECURITY DEFINER function (what SET ROLE chose), for the audit log';
REVOKE ALL ON FUNCTION @extschema@._audit_outer_user() FROM PUBLIC;

CREATE FUNCTION @extschema@._audit_role_name(role oid)
RETURNS name
AS 'MODULE_PATHNAME', 'pgwarden_audit_role_name'
LANGUAGE C STRICT STABLE;
COMMENT ON FUNCTION @extschema@._audit_role_name(oid) IS
'Internal: the name of a role, also when it was dropped earlier in this transaction (branch roles are dropped before their rows)';
REVOKE ALL ON FUNCTION @extschema@._audit_role_name(oid) FROM PUBLIC;

-- One audit row per action derived from a change of a policy table.
-- Not SECURITY DEFINER: it runs as whoever changes the table (the owner of
-- pgwarden's SECURITY DEFINER functions, or a superuser); anyone else
-- cannot write the log, and so cannot make the change either.
CREATE FUNCTION @extschema@._audit_row()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	kind text := TG_ARGV[0];
	o jsonb;
	n jsonb;
	r jsonb;
	obj text;
	actions text[] := ARRAY[]::text[];
	act text;
	still_there boolean;
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		EXECUTE pg_catalog.format('SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(t)) FROM %s t',
			TG_RELID::pg_catalog.regclass) INTO o;
		IF o IS NOT NULL THEN
			INSERT INTO @extschema@.audit_log (session_user_name, current_user_name, client_addr,
				application_name, database, action, object, before, after, xid)
			VALUES (session_user, @extschema@._audit_outer_user(), pg_catalog.inet_client_addr(),
				pg_catalog.current_setting('application_name'), pg_catalog.current_database(),
				kind || '.truncate', NULL, o, NULL, pg_catalog.pg_current_xact_id());
		END IF;
		RETURN NULL;
	END IF;
	IF TG_OP <> 'INSERT' THEN
		o := pg_catalog.to_jsonb(OLD);
	END IF;
	IF TG_OP <> 'DELETE' THEN
		n := pg_catalog.to_jsonb(NEW);
	END IF;
	IF TG_OP = 'UPDATE' AND o = n THEN
		RETURN NULL;
	END IF;
	r := COALESCE(n, o);

	IF kind = 'allowlist' THEN
		obj := r->>'entry';
		IF TG_OP = 'INSERT' THEN
			actions := ARRAY['allowlist.add'];
		ELSIF TG_OP = 'UPDATE' THEN
			actions := ARRAY['allowlist.update'];
		ELSE
			-- AFTER ROW triggers fire when the statement is done: an empty
			-- table now means the change emptied the allowlist.
			EXECUTE pg_catalog.format('SELECT EXISTS (SELECT 1 FROM %s)',
				TG_RELID::pg_catalog.regclass) INTO still_there;
			actions := ARRAY[CASE WHEN still_there THEN 'allowlist.remove' ELSE 'allowlist.reset' END];
		END IF;
	ELSIF kind = 'gate_setting' THEN
		obj := r->>'name';
		IF obj = 'ip_allow_protected_only' THEN
			actions := ARRAY['allowlist.scope'];
		ELSE
			actions := ARRAY['gate_setting.' || pg_catalog.lower(TG_OP)];
		END IF;
	ELSIF kind = 'branch' THEN
		obj := r->>'name';
		IF o IS NOT NULL THEN
			o := o || pg_catalog.jsonb_build_object('database',
				(SELECT d.datname FROM pg_catalog.pg_database d WHERE d.oid = (o->>'database_oid')::oid));
		END IF;
		IF n IS NOT NULL THEN
			n := n || pg_catalog.jsonb_build_object('database',
				(SELECT d.datname FROM pg_catalog.pg_database d WHERE d.oid = (n->>'database_oid')::oid));
		END IF;
		IF TG_OP = 'INSERT' THEN
			actions := ARRAY[CASE WHEN n->>'strategy' = 'register' THEN 'branch.register' ELSE 'branch.create' END];
		ELSIF TG_OP = 'DELETE' THEN
			actions := ARRAY['branch.delete'];
		ELSE
			IF (o->'protected') IS DISTINCT FROM (n->'protected') THEN
				actions := actions || CASE WHEN (n->>'protected')::boolean THEN 'branch.protect' ELSE 'branch.unprotect' END;
			END IF;
			IF (o->'database_oid') IS DISTINCT FROM (n->'database_oid') THEN
				actions := actions || 'branch.reset'::text;
			END IF;
			-- busy only marks a reset or delete in progress: not a change of policy
			IF pg_catalog.cardinality(actions) = 0
			   AND (o - 'busy' - 'database') IS DISTINCT FROM (n - 'busy' - 'database') THEN
				actions := ARRAY['branch.update'];
			END IF;
		END IF;
	ELSIF kind = 'endpoint' THEN
		obj := r->>'name';
		IF TG_OP = 'INSERT' THEN
			actions := ARRAY['endpoint.create'];
		ELSIF TG_OP = 'DELETE' THEN
			actions := ARRAY['endpoint.drop'];
		ELSE
			IF (o->'suspended') IS DISTINCT FROM (n->'suspended') THEN
				actions := actions || CASE WHEN (n->>'suspended')::boolean THEN 'endpoint.suspend' ELSE 'endpoint.resume' END;
			END IF;
			IF (o->'max_connections') IS DISTINCT FROM (n->'max_connections') THEN
				actions := actions || 'endpoint.limit'::text;
			END IF;
			IF pg_catalog.cardinality(actions) = 0 THEN
				actions := ARRAY['endpoint.update'];
			END IF;
		END IF;
	ELSIF kind = 'branch_role' THEN
		obj := @extschema@._audit_role_name((r->>'role_oid')::oid);
		IF o IS NOT NULL THEN
			o := o || pg_catalog.jsonb_build_object('role', obj,
				'parent_role', @extschema@._audit_role_name((o->>'parent_role_oid')::oid));
		END IF;
		IF n IS NOT NULL THEN
			n := n || pg_catalog.jsonb_build_object('role', obj,
				'parent_role', @extschema@._audit_role_name((n->>'parent_role_oid')::oid));
		END IF;
		actions := ARRAY[CASE TG_OP WHEN 'INSERT' THEN 'branch_role.create'
		                            WHEN 'DELETE' THEN 'branch_role.drop'
		                            ELSE 'branch_role.update' END];
	ELSE
		obj := NULL;
		actions := ARRAY[kind || '.' || pg_catalog.lower(TG_OP)];
	END IF;

	FOREACH act IN ARRAY actions LOOP
		INSERT INTO @extschema@.audit_log (session_user_name, current_user_name, client_addr,
			application_name, database, action, object, before, after, xid)
		VALUES (session_user, @extschema@._audit_outer_user(), pg_catalog.inet_client_addr(),
			pg_catalog.current_setting('application_name'), pg_catalog.current_database(),
			act, obj, o, n, pg_catalog.pg_current_xact_id());
	END LOOP;
	RETURN NULL;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._audit_row() IS
'Internal trigger: record a change of a policy table in pgwarden.audit_log (argument: which policy table)';
REVOKE ALL ON FUNCTION @extschema@._audit_row() FROM PUBLIC;

-- The policy tables.  AFTER ROW triggers see the rows as stored (after any
-- BEFORE trigger); BEFORE TRUNCATE still sees the rows TRUNCATE removes.
DO $pgw$
DECLARE
	t record;
BEGIN
	FOR t IN SELECT * FROM (VALUES ('ip_allow_entries', 'allowlist'), ('gate_settings', 'gate_setting'),
	                               ('branch', 'branch'), ('endpoint', 'endpoint'),
	                               ('branch_role', 'branch_role')) AS v(tbl, kind)
	LOOP
		EXECUTE pg_catalog.format('CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON @extschema@.%I'
			' FOR EACH ROW EXECUTE FUNCTION @extschema@._audit_row(%L)', t.tbl, t.kind);
		EXECUTE pg_catalog.format('CREATE TRIGGER audit_truncate BEFORE TRUNCATE ON @extschema@.%I'
			' FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._audit_row(%L)', t.tbl, t.kind);
		EXECUTE pg_catalog.format('ALTER TABLE @extschema@.%I ENABLE ALWAYS TRIGGER audit', t.tbl);
		EXECUTE pg_catalog.format('ALTER TABLE @extschema@.%I ENABLE ALWAYS TRIGGER audit_truncate', t.tbl);
	END LOOP;
END
$pgw$;

CREATE FUNCTION @extschema@.audit_prune(older_than interval)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgwarden_audit_prune'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION @extschema@.audit_prune(interval) IS
'Superusers only: delete audit rows older than the interval; the pruning itself is recorded (action audit.prune); returns the number removed';
REVOKE ALL ON FUNCTION @extschema@.audit_prune(interval) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Section: what the gate did (issue 13)
-- ---------------------------------------------------------------------------

CREATE FUNCTION @extschema@._gate_stats(OUT reason text, OUT connections bigint,
	OUT last_at timestamptz, OUT last_client inet, OUT since timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgwarden_gate_stats'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION @extschema@._gate_stats() IS
'Internal: the connection gate''s counters in shared memory (see the view pgwarden.gate_stats)';
REVOKE ALL ON FUNCTION @extschema@._gate_stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._gate_stats() TO pgwarden_admin;

CREATE VIEW @extschema@.gate_stats AS
SELECT s.reason, s.connections, s.last_at, s.last_client, s.since
  FROM @extschema@._gate_stats() s;
COMMENT ON VIEW @extschema@.gate_stats IS
'Connections the gate admitted and refused (per reason) on this server since it started or since gate_stats_reset(), with the time and client address of the last one of each kind (null: a Unix socket)';
REVOKE ALL ON @extschema@.gate_stats FROM PUBLIC;
GRANT SELECT ON @extschema@.gate_stats TO pgwarden_admin;

CREATE FUNCTION @extschema@._gate_stats_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'pgwarden_gate_stats_reset'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@._gate_stats_reset() IS
'Internal: set the gate''s counters to zero (see pgwarden.gate_stats_reset())';
REVOKE ALL ON FUNCTION @extschema@._gate_stats_reset() FROM PUBLIC;

CREATE FUNCTION @extschema@.gate_stats_reset()
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$
DECLARE
	counts jsonb := (SELECT pg_catalog.jsonb_object_agg(s.reason, s.connections)
	                   FROM @extschema@._gate_stats() s);
BEGIN
	PERFORM @extschema@._gate_stats_reset();
	INSERT INTO @extschema@.audit_log (session_user_name, current_user_name, client_addr,
		application_name, database, action, object, before, after, xid)
	VALUES (session_user, @extschema@._audit_outer_user(), pg_catalog.inet_client_addr(),
		pg_catalog.current_setting('application_name'), pg_catalog.current_database(),
		'gate_stats.reset', NULL, counts, NULL, pg_catalog.pg_current_xact_id());
END
$pgw$;
COMMENT ON FUNCTION @extschema@.gate_stats_reset() IS
'Set the connection gate''s counters on this server to zero (recorded in the audit log with the counts it cleared)';
REVOKE ALL ON FUNCTION @extschema@.gate_stats_reset() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.gate_stats_reset() TO pgwarden_admin;

CREATE FUNCTION @extschema@._endpoint_sessions(OUT endpoint text, OUT sessions integer)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgwarden_endpoint_sessions'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION @extschema@._endpoint_sessions() IS
'Internal (pgwarden status): the sessions each endpoint serves on this server now';
REVOKE ALL ON FUNCTION @extschema@._endpoint_sessions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._endpoint_sessions() TO pgwarden_admin;
