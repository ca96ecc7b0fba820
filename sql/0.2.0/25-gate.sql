
-- ---------------------------------------------------------------------------
-- Section: connection gate and read-only endpoints (0.2.0)
-- ---------------------------------------------------------------------------
--
-- A read-only endpoint refuses, on top of PostgreSQL's checks of read-only
-- transactions, the functions that write WAL, files or shared state without
-- a transaction ID (ext/readonly.c).  This lists them, with what each would
-- change; tests/readonly_functions.py classifies every other non-immutable
-- function of the server as allowed.

CREATE FUNCTION @extschema@.readonly_refusals(
	OUT function regprocedure, OUT kind text, OUT detail text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgwarden_readonly_refusals'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION @extschema@.readonly_refusals() IS
'The functions a read-only endpoint refuses although PostgreSQL would run them in a read-only transaction: kind (wal, replication_slot, replication_origin, sequence, large_object, server_file, statistics, server_state, notify, transaction_id, catalog) and what each would change';
REVOKE ALL ON FUNCTION @extschema@.readonly_refusals() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.readonly_refusals() TO pgwarden_admin;
