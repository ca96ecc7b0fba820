
-- ---------------------------------------------------------------------------
-- Part 40: lifecycle (sql/0.2.0/40-lifecycle.sql)
-- ---------------------------------------------------------------------------

-- The allowlist's scope, readable by pgwarden_admin members (the table
-- gate_settings is not: its only writer is ip_allow_protected_only()).
CREATE VIEW @extschema@.ip_allow_scope AS
SELECT COALESCE((SELECT s.value = 'true' FROM @extschema@.gate_settings s
                  WHERE s.name = 'ip_allow_protected_only'), false) AS protected_only;
COMMENT ON VIEW @extschema@.ip_allow_scope IS
'The IP allowlist''s scope: protected_only is true when it applies to protected branches only (set with ip_allow_protected_only())';
REVOKE ALL ON @extschema@.ip_allow_scope FROM PUBLIC;
GRANT SELECT ON @extschema@.ip_allow_scope TO pgwarden_admin;
