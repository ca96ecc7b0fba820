
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
