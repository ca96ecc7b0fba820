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
 * restored afterwards (as the RI triggers of the core server do).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/guc.h"

#include "pgwarden.h"

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

/* For a background worker: the safe search path for its whole life. */
void
pgw_worker_safe_search_path(void)
{
	SetConfigOption("search_path", PGW_SAFE_SEARCH_PATH, PGC_SUSET, PGC_S_OVERRIDE);
}
