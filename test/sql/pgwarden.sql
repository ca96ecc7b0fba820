-- pgwarden as an SQL user sees it: `make installcheck` against a server that
-- preloads pgwarden (shared_preload_libraries = 'pgwarden') and has no
-- pgwarden in another database yet; `pg_buildext installcheck` runs it for
-- the Debian package.  Messages only (VERBOSITY terse): figures in DETAIL
-- follow the estimator.
\set VERBOSITY terse
CREATE EXTENSION pgwarden;
SELECT extversion FROM pg_extension WHERE extname = 'pgwarden';
SHOW shared_preload_libraries;
SELECT pgwarden.entropy_bits('Summer2024!') < 60 AS too_weak,
       pgwarden.entropy_bits('k7Qm2vX9pL4w') >= 60 AS strong_enough;
SELECT pgwarden.entropy_bits(pgwarden.generate_password()) >= 80 AS generated_is_strong;
CREATE ROLE regress_weak LOGIN PASSWORD 'Summer2024!';
SELECT count(*) FROM pg_roles WHERE rolname = 'regress_weak';
-- with the loopback addresses: the test may connect over TCP (pg_buildext does)
SELECT pgwarden.ip_allow_add(ARRAY['192.0.2.0/24', '198.51.100.20-198.51.100.50',
                                   '127.0.0.1', '::1']);
SELECT entry, kind FROM pgwarden.ip_allowlist ORDER BY entry;
SELECT pgwarden.ip_allow_add(ARRAY['not an address']);
SELECT pgwarden.ip_allow_reset();
SELECT count(*) FROM pgwarden.ip_allowlist;
DROP EXTENSION pgwarden;
