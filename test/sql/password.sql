-- The password policy: weak passwords are refused with SQLSTATE 22023.
-- (VERBOSITY terse: the DETAIL carries the estimate, which the estimator's
-- tuning may move; the pytest suite checks it.)
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE ROLE regress_pgw_weak LOGIN PASSWORD 'Summer2024!';
\echo :LAST_ERROR_SQLSTATE
ALTER ROLE regress_pgw_user PASSWORD 'password123';
\echo :LAST_ERROR_SQLSTATE
ALTER ROLE regress_pgw_user PASSWORD 'regress_pgw_user-k7Qm2vX9pL4w';
\echo :LAST_ERROR_SQLSTATE
DO $$ BEGIN EXECUTE 'ALTER ROLE regress_pgw_user PASSWORD ''qwerty'''; END $$;
\echo :LAST_ERROR_SQLSTATE
-- pre-hashed passwords: SCRAM refused by default, MD5 always
ALTER ROLE regress_pgw_user PASSWORD 'SCRAM-SHA-256$4096:cmVncmVzc3NhbHRyZWdyZQ==$b4Vb/iXYJmkFgxaMHu6325feqdsDOBFKrtwOataEeeg=:Z5GjDX9W8yMiongsEPaPP+UnVb04KBzLTJgef7cimh4=';
\echo :LAST_ERROR_SQLSTATE
ALTER ROLE regress_pgw_user PASSWORD 'md5b901897c69f86e10044faeeb65db0938';
\echo :LAST_ERROR_SQLSTATE
SET password_encryption = md5;
ALTER ROLE regress_pgw_user PASSWORD 'pgw_k1W0pYb3Qd7NfV2sLxQ9';
\echo :LAST_ERROR_SQLSTATE
RESET password_encryption;
-- a generated password is always accepted
DO $$ BEGIN EXECUTE pg_catalog.format('ALTER ROLE regress_pgw_user PASSWORD %L', pgwarden.generate_password()); END $$;
SELECT pgwarden.generate_password() ~ '^pgw_[A-Za-z0-9]{14,}$' AS generated_shape,
       pgwarden.entropy_bits(pgwarden.generate_password(128)) >= 128 AS bits_128,
       pgwarden.entropy_bits('Summer2024!') < 60 AS weak_is_weak,
       pgwarden.entropy_bits('Acme-2024!', ARRAY['acme']) < pgwarden.entropy_bits('Acme-2024!') AS context_counts;
SELECT pgwarden.generate_password(32);
\echo :LAST_ERROR_SQLSTATE
