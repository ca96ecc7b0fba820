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
 * Every utility statement, top level or nested in a function, is shown, in
 * this order and before any earlier hook or the standard processing runs,
 * to protect.c (pgwarden's own objects while a branch is protected),
 * readonly.c (what a read-only endpoint's session may not run; it also
 * makes the statement's transaction read-only there) and branches.c (what
 * would harm a protected branch, what a branch role may not do), each of
 * which may refuse it, for superusers too.  After it ran, branches.c
 * labels databases created from a branch; after DROP EXTENSION pgwarden,
 * the control mark, branches.c's labels and policy.c's control label are
 * removed in the same transaction.
 *
 * Only superusers may grant the roles that act as the server's operating
 * system user (pg_execute_server_program, pg_write_server_files,
 * pg_read_server_files): in PostgreSQL 15 a CREATEROLE role could otherwise
 * grant them to itself and rewrite the server's configuration.
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

#include "branches.h"
#include "policy.h"
#include "protect.h"
#include "readonly.h"
#include "safespi.h"
#include "utility.h"

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/*
 * Clear the control-database mark, but only when it names this database:
 * DROP EXTENSION IF EXISTS elsewhere must not free the mark.
 */
static void
clear_control_mark(void)
{
	char		sql[256];
	int			nestlevel;

	if (!SearchSysCacheExists1(AUTHNAME, CStringGetDatum("pgwarden_admin")))
		return;
	nestlevel = pgw_spi_connect();
	snprintf(sql, sizeof(sql),
			 "SELECT 1 FROM pg_catalog.pg_shdescription"
			 " WHERE classoid = 'pg_catalog.pg_authid'::pg_catalog.regclass"
			 " AND objoid = 'pgwarden_admin'::pg_catalog.regrole"
			 " AND description = 'pgwarden control database %u'",
			 MyDatabaseId);
	if (SPI_execute(sql, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
		SPI_execute("COMMENT ON ROLE pgwarden_admin IS NULL", false, 0);
	pgw_spi_finish(nestlevel);
}

/*
 * CREATE EXTENSION pgwarden: a mark naming a database that does not carry
 * the control label is stale, and would make the install script refuse
 * (or name the wrong database).  pg_dumpall --globals-only carries the mark
 * (a comment on pgwarden_admin) into a new cluster, where its OID is another
 * database or none: restoring a backup must not trip over it.  The label
 * is set only by the install script and cleared by DROP EXTENSION, so a live
 * control database always has it.
 */
static void
clear_stale_control_mark(void)
{
	int			nestlevel;

	if (!SearchSysCacheExists1(AUTHNAME, CStringGetDatum("pgwarden_admin")))
		return;
	nestlevel = pgw_spi_connect();
	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_shdescription s"
					" WHERE s.classoid = 'pg_catalog.pg_authid'::pg_catalog.regclass"
					" AND s.objoid = 'pgwarden_admin'::pg_catalog.regrole"
					" AND s.description LIKE 'pgwarden control database %'"
					" AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_shseclabel l"
					"   WHERE l.provider = 'pgwarden_control'"
					"   AND l.classoid = 'pg_catalog.pg_database'::pg_catalog.regclass"
					"   AND l.objoid::pg_catalog.text = pg_catalog.substr(s.description, 27))",
					true, 1) == SPI_OK_SELECT && SPI_processed == 1)
		SPI_execute("COMMENT ON ROLE pgwarden_admin IS NULL", false, 0);
	pgw_spi_finish(nestlevel);
}

/*
 * In PostgreSQL 15 a CREATEROLE role may grant itself any non-superuser
 * role, including the three that reach the operating system as the server's
 * user (and from there postgresql.auto.conf and pg_hba.conf).  pgwarden's
 * policy would be moot: only superusers may grant them.
 */
static const char *const server_roles[] = {
	"pg_execute_server_program", "pg_write_server_files", "pg_read_server_files"
};

static void
check_server_role(const char *rolname)
{
	int			i;

	for (i = 0; i < lengthof(server_roles); i++)
		if (rolname && strcmp(rolname, server_roles[i]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only superusers may grant membership in role \"%s\"", rolname),
					 errdetail("Its members act as the operating-system user of the server, beyond pgwarden's policy."),
					 errhint("Ask a superuser to grant it.")));
}

static void
check_server_role_grants(Node *parsetree)
{
	ListCell   *lc;

	if (superuser())
		return;
	if (IsA(parsetree, GrantRoleStmt) && ((GrantRoleStmt *) parsetree)->is_grant)
	{
		foreach(lc, ((GrantRoleStmt *) parsetree)->granted_roles)
			check_server_role(((AccessPriv *) lfirst(lc))->priv_name);
	}
	else if (IsA(parsetree, CreateRoleStmt))
	{
		/* CREATE ROLE x IN ROLE pg_execute_server_program */
		foreach(lc, ((CreateRoleStmt *) parsetree)->options)
		{
			DefElem    *opt = lfirst_node(DefElem, lc);
			ListCell   *r;

			if (strcmp(opt->defname, "addroleto") == 0)
				foreach(r, (List *) opt->arg)
					check_server_role(((RoleSpec *) lfirst(r))->rolename);
		}
	}
	else if (IsA(parsetree, AlterRoleStmt) && ((AlterRoleStmt *) parsetree)->action > 0)
	{
		/* ALTER GROUP pg_execute_server_program ADD USER x */
		AlterRoleStmt *stmt = (AlterRoleStmt *) parsetree;

		foreach(lc, stmt->options)
			if (strcmp(lfirst_node(DefElem, lc)->defname, "rolemembers") == 0)
			check_server_role(stmt->role->rolename);
	}
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

	check_server_role_grants(pstmt->utilityStmt);
	pgw_protect_utility_check(pstmt->utilityStmt);
	pgw_readonly_utility_check(pstmt->utilityStmt);
	pgw_branches_utility_check(pstmt);
	if (IsA(pstmt->utilityStmt, CreateExtensionStmt) &&
		strcmp(((CreateExtensionStmt *) pstmt->utilityStmt)->extname, "pgwarden") == 0 &&
		superuser())
		clear_stale_control_mark();

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
		pgw_policy_forget_control_database();
	}
}

void
pgw_utility_init(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = pgw_ProcessUtility;
}
