/*-------------------------------------------------------------------------
 *
 * utility.c
 *	  ProcessUtility_hook: the extension's own life cycle and the branch
 *	  protections (decided in branches.c).
 *
 * pgwarden lives in one control database per cluster.  The install script
 * records that database's OID in the comment of the cluster-wide role
 * pgwarden_admin (pg_shdescription is a shared catalog, so every database
 * sees it) and refuses a second CREATE EXTENSION elsewhere.  When the
 * extension is dropped this hook clears the mark so it can be created again,
 * in any database.
 *
 * Every utility statement, top level or nested in a function, is first shown
 * to branches.c, which refuses what would harm a protected branch (for
 * superusers too) before any earlier hook or the standard processing runs;
 * after it ran, branches.c labels databases created from a branch.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/syscache.h"

#include "pgwarden.h"

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/*
 * Clear the control-database mark, but only when it names this database:
 * DROP EXTENSION IF EXISTS elsewhere must not free the mark.
 */
static void
clear_control_mark(void)
{
	char		sql[256];

	if (!SearchSysCacheExists1(AUTHNAME, CStringGetDatum("pgwarden_admin")))
		return;
	SPI_connect();
	snprintf(sql, sizeof(sql),
			 "SELECT 1 FROM pg_catalog.pg_shdescription"
			 " WHERE classoid = 'pg_catalog.pg_authid'::pg_catalog.regclass"
			 " AND objoid = 'pgwarden_admin'::pg_catalog.regrole"
			 " AND description = 'pgwarden control database %u'",
			 MyDatabaseId);
	if (SPI_execute(sql, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
		SPI_execute("COMMENT ON ROLE pgwarden_admin IS NULL", false, 0);
	SPI_finish();
}

static void
pgw_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
				   bool readOnlyTree, ProcessUtilityContext context,
				   ParamListInfo params, QueryEnvironment *queryEnv,
				   DestReceiver *dest, QueryCompletion *qc)
{
	/*
	 * DROP EXTENSION pgwarden, or anything that takes it along (DROP SCHEMA
	 * pgwarden CASCADE): compare before and after.
	 */
	bool		dropping = IsA(pstmt->utilityStmt, DropStmt) &&
		OidIsValid(get_extension_oid("pgwarden", true));

	pgw_branches_utility_check(pstmt);

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);

	pgw_branches_utility_after(pstmt);

	/* Runs in the same transaction: a rollback restores the mark. */
	if (dropping && !OidIsValid(get_extension_oid("pgwarden", true)))
	{
		clear_control_mark();
		pgw_branches_clear_labels();
	}
}

void
pgw_utility_init(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = pgw_ProcessUtility;
}
