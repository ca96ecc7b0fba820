-- Settings: reserved prefix, who may change them.
\set SHOW_CONTEXT never
SELECT name, setting, context FROM pg_settings
 WHERE name IN ('pgwarden.min_password_entropy', 'pgwarden.password_check',
                'pgwarden.hashed_passwords', 'pgwarden.password_banned_words',
                'pgwarden.require_ssl', 'pgwarden.local_connections',
                'pgwarden.policy_memory', 'pgwarden.policy_load_timeout', 'pgwarden.endpoint')
 ORDER BY name;
SET pgwarden.no_such_setting = on;
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_pgw_user;
SET pgwarden.password_check = off;
\echo :LAST_ERROR_SQLSTATE
SET pgwarden.min_password_entropy = 10;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET pgwarden.password_check = warn;
\set VERBOSITY terse
ALTER ROLE regress_pgw_user PASSWORD 'Summer2024!';
\set VERBOSITY default
RESET pgwarden.password_check;
SHOW pgwarden.endpoint;
