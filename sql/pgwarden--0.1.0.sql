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
