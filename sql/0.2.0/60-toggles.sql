
-- ---------------------------------------------------------------------------
-- One function per toggle (issue 14): protect/unprotect and suspend/resume
-- were near-duplicate pairs.  Each pair is now one internal function that
-- only the extension's own SECURITY DEFINER functions call (no EXECUTE for
-- PUBLIC or pgwarden_admin), and the public names are one-line wrappers that
-- keep their signatures, privileges and comments.
-- ---------------------------------------------------------------------------

CREATE FUNCTION @extschema@._set_branch_protected(branch_name text, protect boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $pgw$
BEGIN
	PERFORM @extschema@._get_branch(branch_name, true);
	UPDATE @extschema@.branch SET protected = protect WHERE name = branch_name;
	PERFORM @extschema@._label_branch(branch_name);
END
$pgw$;
COMMENT ON FUNCTION @extschema@._set_branch_protected(text, boolean) IS
'Internal: protect (true) or unprotect (false) a branch, and label its database';
REVOKE ALL ON FUNCTION @extschema@._set_branch_protected(text, boolean) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.protect_branch(branch_name text)
RETURNS void
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$ SELECT @extschema@._set_branch_protected(branch_name, true) $pgw$;

CREATE OR REPLACE FUNCTION @extschema@.unprotect_branch(branch_name text)
RETURNS void
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$ SELECT @extschema@._set_branch_protected(branch_name, false) $pgw$;

CREATE FUNCTION @extschema@._set_endpoint_suspended(endpoint_name text, suspend boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $pgw$
BEGIN
	PERFORM @extschema@._get_endpoint(endpoint_name);
	UPDATE @extschema@.endpoint e SET suspended = suspend WHERE e.name = endpoint_name;
END
$pgw$;
COMMENT ON FUNCTION @extschema@._set_endpoint_suspended(text, boolean) IS
'Internal: suspend (true) or resume (false) an endpoint';
REVOKE ALL ON FUNCTION @extschema@._set_endpoint_suspended(text, boolean) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.suspend_endpoint(name text)
RETURNS void
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$ SELECT @extschema@._set_endpoint_suspended(name, true) $pgw$;

CREATE OR REPLACE FUNCTION @extschema@.resume_endpoint(name text)
RETURNS void
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $pgw$ SELECT @extschema@._set_endpoint_suspended(name, false) $pgw$;
