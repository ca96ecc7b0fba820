/*-------------------------------------------------------------------------
 *
 * safespi.c
 *	  SPI with a search path no caller controls.
 *
 * pgwarden runs a few catalog queries from inside hooks (ProcessUtility,
 * DROP EXTENSION) in whatever session issued the statement, and from its
 * background worker, whose search path comes from the control database's
 * settings.  The query texts qualify every function and table, but their
 * operators (=, LIKE, casts) are still looked up along the search path: a
 * caller that puts its own schema before pg_catalog could define an "="
 * that answers a protection check, or runs code as the worker's superuser.
 * Every such query therefore runs with search_path = pg_catalog, pg_temp,
 * restored afterwards (as the RI triggers of the core server do); the
 * worker overrides the other database settings it depends on too.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/guc.h"

#include "safespi.h"

#define PGW_SAFE_SEARCH_PATH "pg_catalog, pg_temp"

/* SPI_connect, then the safe search path; returns the GUC nest level. */
int
pgw_spi_connect(void)
{
	int			nestlevel;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", PGW_SAFE_SEARCH_PATH,
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/* Restore the caller's search path, then SPI_finish. */
void
pgw_spi_finish(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
	SPI_finish();
}

/*
 * For a background worker connected to the control database: the settings
 * its queries rely on, for its whole life.  BackgroundWorkerInitializeConnection
 * applies the database's ALTER DATABASE ... SET, which the control
 * database's owner (not necessarily a superuser) chooses: its search_path
 * would put the owner's operators in front of the catalog's, "role" would
 * make the worker that owner (pgwarden's tables unreadable: the policy
 * damaged, every TCP connection refused), a read-only, serializable and
 * deferrable default would make it wait or fail, a lock_timeout fail while
 * ALTER EXTENSION runs.
 */
void
pgw_worker_safe_settings(void)
{
	SetConfigOption("search_path", PGW_SAFE_SEARCH_PATH, PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("role", "none", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_deferrable", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("lock_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
}
