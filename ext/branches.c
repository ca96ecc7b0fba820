/*-------------------------------------------------------------------------
 *
 * branches.c
 *	  Protected branches and branch credentials, as enforced inside every
 *	  backend (ProcessUtility, function calls), and the C helpers of the
 *	  branch operations (labels, settings copy, branch-role passwords).
 *
 * The source of truth for branches is the table pgwarden.branch in the
 * control database.  A backend connected to any other database cannot read
 * it, yet DROP DATABASE, ALTER DATABASE and CREATE DATABASE ... TEMPLATE may
 * be issued from anywhere.  So the SQL functions that change a branch also
 * mirror its state, in the same transaction, into a security label of the
 * database (pg_shseclabel is a shared catalog: every database sees it, it is
 * transactional and it reaches streaming standbys):
 *
 *	'branch:NAME'			a registered, unprotected branch
 *	'protected:NAME'		a registered, protected branch
 *	'child:PARENTOID:LSN'	created by a plain CREATE DATABASE ... TEMPLATE of
 *							an unprotected branch; pgwarden._sync_branches()
 *							registers it in the control database
 *
 * and a branch role (credentials of a child of a protected branch) carries
 * 'branch-role:DBOID'.  Labels are written only through the internal
 * function pgwarden._set_label(); a SECURITY LABEL FOR pgwarden statement is
 * refused by the provider hook, for superusers too.
 *
 * Protections decided here, for every role including superusers:
 *	- DROP DATABASE [FORCE] of a protected branch;
 *	- ALTER DATABASE ... ALLOW_CONNECTIONS false / CONNECTION LIMIT 0 on one;
 *	- CREATE DATABASE ... TEMPLATE a protected branch (its children need their
 *	  own credentials: pgwarden branches create), unless the helper armed
 *	  this session with pgwarden._allow_template_copy();
 *	- DROP EXTENSION pgwarden (or DROP SCHEMA pgwarden) while any branch is
 *	  protected;
 *	- ALTER DATABASE ... RENAME of a protected branch, and DROP DATABASE of
 *	  the control database while a branch is protected;
 *	- a branch role may not change roles, databases other than its own,
 *	  tablespaces or parameter privileges, nor cancel or terminate other
 *	  sessions, nor be renamed (the gate binds it to its branch by name).
 *
 * Called from the ProcessUtility hook (utility.c) before and after every
 * utility statement, and from its own object access hook for the functions
 * that signal other sessions.  The branch helper (python/pgwarden) calls
 * the internal SQL functions of this file between its steps:
 * _allow_template_copy, _created_here (databases this session created),
 * _copy_settings (pg_db_role_setting rows copied as stored, never
 * re-parsed) and _set_role_password (a branch role's first SCRAM secret).
 *
 * The connection-time side of branches (branch roles confined to their
 * branch, endpoints) is endpoints.c's gate rule; what a read-only
 * endpoint's session may not do is readonly.c's; the protection of
 * pgwarden's own objects is protect.c's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "catalog/objectaccess.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "catalog/pg_db_role_setting.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "commands/seclabel.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

/* see gate.c: nothing here touches GSSAPI state */
#undef ENABLE_GSS
#include "libpq/scram.h"

#include "branches.h"
#include "constants.h"
#include "safespi.h"

/* CREATE DATABASE ... TEMPLATE this is allowed once (helper's copy). */
static char allowed_template[NAMEDATALEN] = "";

/* Parent of the database the current CREATE DATABASE is creating. */
static Oid	createdb_parent = InvalidOid;

/* Cached answer to "is the session user a branch role?" */
static Oid	branch_role_cached_for = InvalidOid;
static Oid	branch_role_database = InvalidOid;

static object_access_hook_type prev_object_access_hook = NULL;

PG_FUNCTION_INFO_V1(pgwarden_set_label);
PG_FUNCTION_INFO_V1(pgwarden_allow_template_copy);
PG_FUNCTION_INFO_V1(pgwarden_set_role_password);
PG_FUNCTION_INFO_V1(pgwarden_created_here);
PG_FUNCTION_INFO_V1(pgwarden_copy_settings);

typedef enum PgwBranchState
{
	PGW_NOT_BRANCH,
	PGW_BRANCH,
	PGW_PROTECTED,
	PGW_PENDING
} PgwBranchState;

/* ----------------------------------------------------------------
 *	Labels
 * ----------------------------------------------------------------
 */

static char *
object_label(Oid classid, Oid objid)
{
	ObjectAddress addr;

	ObjectAddressSet(addr, classid, objid);
	return GetSecurityLabel(&addr, PGW_LABEL_PROVIDER);
}

/*
 * What the label of a database says; *branch gets the branch name (the
 * database name for a pending child).
 */
static PgwBranchState
database_branch_state(Oid dboid, char **branch)
{
	char	   *label = object_label(DatabaseRelationId, dboid);

	if (branch)
		*branch = NULL;
	if (label == NULL)
		return PGW_NOT_BRANCH;
	if (strncmp(label, "protected:", 10) == 0)
	{
		if (branch)
			*branch = pstrdup(label + 10);
		return PGW_PROTECTED;
	}
	if (strncmp(label, "branch:", 7) == 0)
	{
		if (branch)
			*branch = pstrdup(label + 7);
		return PGW_BRANCH;
	}
	if (strncmp(label, "child:", 6) == 0)
	{
		if (branch)
			*branch = get_database_name(dboid);
		return PGW_PENDING;
	}
	return PGW_NOT_BRANCH;
}

/* SECURITY LABEL FOR pgwarden ...: refused, labels are pgwarden's state. */
static void
pgw_relabel_hook(const ObjectAddress *object, const char *seclabel)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("security labels of provider \"pgwarden\" cannot be set directly"),
			 errdetail("They mirror the state of pgwarden's branches and branch roles."),
			 errhint("Use pgwarden.protect_branch(), pgwarden.unprotect_branch() and the other pgwarden functions.")));
}

/*
 * pgwarden._set_label(classid regclass, objoid oid, label text): internal,
 * called by the SECURITY DEFINER functions of the install script in the
 * transaction that changes the branch tables.
 */
Datum
pgwarden_set_label(PG_FUNCTION_ARGS)
{
	Oid			classid = PG_GETARG_OID(0);
	Oid			objid = PG_GETARG_OID(1);
	char	   *label = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	ObjectAddress addr;

	if (classid != DatabaseRelationId && classid != AuthIdRelationId)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pgwarden labels only databases and roles")));
	ObjectAddressSet(addr, classid, objid);
	SetSecurityLabel(&addr, PGW_LABEL_PROVIDER, label);
	PG_RETURN_VOID();
}

/*
 * pgwarden._allow_template_copy(template name): lets this session's next
 * CREATE DATABASE ... TEMPLATE template through the protected-template check.
 * Used by the branch helper, which gives the child its own credentials.
 */
Datum
pgwarden_allow_template_copy(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		allowed_template[0] = '\0';
	else
		strlcpy(allowed_template, NameStr(*PG_GETARG_NAME(0)), NAMEDATALEN);
	PG_RETURN_VOID();
}

/*
 * pgwarden._set_role_password(role oid, password text): store the SCRAM
 * secret of a generated branch-role password.  The password then never
 * appears in any SQL text (CREATE ROLE ... PASSWORD would put it in nested
 * statement texts that statistics and logging extensions may keep); it is
 * generated by pgwarden.generate_password(), so the policy check is moot.
 */
Datum
pgwarden_set_role_password(PG_FUNCTION_ARGS)
{
	Oid			roleid = PG_GETARG_OID(0);
	char	   *password = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *secret = pg_be_scram_build_secret(password);
	Relation	rel;
	HeapTuple	tup;
	HeapTuple	newtup;
	Datum		values[Natts_pg_authid] = {0};
	bool		nulls[Natts_pg_authid] = {0};
	bool		replace[Natts_pg_authid] = {0};

	/*
	 * This writes pg_authid directly: only for a superuser (the extension's
	 * SECURITY DEFINER functions), and only to give a freshly made,
	 * non-superuser role its first password.
	 */
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function _set_role_password")));
	rel = table_open(AuthIdRelationId, RowExclusiveLock);
	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(roleid));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role with OID %u does not exist", roleid)));
	{
		bool		isnull;

		(void) SysCacheGetAttr(AUTHOID, tup, Anum_pg_authid_rolpassword, &isnull);
		if (((Form_pg_authid) GETSTRUCT(tup))->rolsuper || !isnull)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("_set_role_password only sets the first password of a new branch role")));
	}
	values[Anum_pg_authid_rolpassword - 1] = CStringGetTextDatum(secret);
	replace[Anum_pg_authid_rolpassword - 1] = true;
	newtup = heap_modify_tuple(tup, RelationGetDescr(rel), values, nulls, replace);
	CatalogTupleUpdate(rel, &newtup->t_self, newtup);
	InvokeObjectPostAlterHook(AuthIdRelationId, roleid, 0);
	ReleaseSysCache(tup);
	table_close(rel, NoLock);
	memset(password, 0, strlen(password));
	PG_RETURN_VOID();
}

/* ----------------------------------------------------------------
 *	What the branch helper may finish
 * ----------------------------------------------------------------
 */

/*
 * Databases this session created (CREATE DATABASE cannot run in a
 * transaction block, so each one is committed by the time the helper's next
 * step asks).  The steps that register a copy as a branch accept only these:
 * a pgwarden_admin member cannot point them at somebody else's database.
 */
#define PGW_MAX_CREATED 64
static Oid	created_here[PGW_MAX_CREATED];
static int	ncreated_here = 0;

static void
note_created(Oid dboid)
{
	if (ncreated_here == PGW_MAX_CREATED)
	{
		memmove(created_here, created_here + 1, sizeof(Oid) * (PGW_MAX_CREATED - 1));
		ncreated_here--;
	}
	created_here[ncreated_here++] = dboid;
}

/* pgwarden._created_here(db oid): did this session create that database? */
Datum
pgwarden_created_here(PG_FUNCTION_ARGS)
{
	Oid			dboid = PG_GETARG_OID(0);
	int			i;

	for (i = 0; i < ncreated_here; i++)
		if (created_here[i] == dboid)
			PG_RETURN_BOOL(true);
	PG_RETURN_BOOL(false);
}

/*
 * pgwarden._copy_settings(from_db oid, to_db oid): give to_db the
 * ALTER DATABASE ... SET and ALTER ROLE ... IN DATABASE ... SET settings of
 * from_db, exactly as the server stored them.
 *
 * Re-issuing them as SQL would mean quoting a value that any role may have
 * shaped for itself (set_config() then SET ... FROM CURRENT stores arbitrary
 * text): the stored arrays are copied instead, row for row, so nothing a
 * role wrote is ever parsed, let alone executed.  Each row replaces the
 * destination's row for the same role, as AlterSetting() would.
 */
Datum
pgwarden_copy_settings(PG_FUNCTION_ARGS)
{
	Oid			from_db = PG_GETARG_OID(0);
	Oid			to_db = PG_GETARG_OID(1);
	Relation	rel;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *roles = NIL;
	List	   *configs = NIL;
	ListCell   *lr;
	ListCell   *lc;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function _copy_settings")));
	if (from_db == to_db)
		PG_RETURN_VOID();

	rel = table_open(DbRoleSettingRelationId, RowExclusiveLock);
	ScanKeyInit(&key[0], Anum_pg_db_role_setting_setdatabase,
				BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(from_db));
	scan = systable_beginscan(rel, DbRoleSettingDatidRolidIndexId, true, NULL, 1, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		config = heap_getattr(tup, Anum_pg_db_role_setting_setconfig,
										  RelationGetDescr(rel), &isnull);

		if (isnull)
			continue;
		roles = lappend_oid(roles, ((Form_pg_db_role_setting) GETSTRUCT(tup))->setrole);
		configs = lappend(configs, PG_DETOAST_DATUM_COPY(config));
	}
	systable_endscan(scan);

	forboth(lr, roles, lc, configs)
	{
		Oid			role = lfirst_oid(lr);
		Datum		values[Natts_pg_db_role_setting] = {0};
		bool		nulls[Natts_pg_db_role_setting] = {0};
		bool		replace[Natts_pg_db_role_setting] = {0};

		values[Anum_pg_db_role_setting_setdatabase - 1] = ObjectIdGetDatum(to_db);
		values[Anum_pg_db_role_setting_setrole - 1] = ObjectIdGetDatum(role);
		values[Anum_pg_db_role_setting_setconfig - 1] = PointerGetDatum(lfirst(lc));
		replace[Anum_pg_db_role_setting_setconfig - 1] = true;

		ScanKeyInit(&key[0], Anum_pg_db_role_setting_setdatabase,
					BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(to_db));
		ScanKeyInit(&key[1], Anum_pg_db_role_setting_setrole,
					BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(role));
		scan = systable_beginscan(rel, DbRoleSettingDatidRolidIndexId, true, NULL, 2, key);
		tup = systable_getnext(scan);
		if (HeapTupleIsValid(tup))
		{
			HeapTuple	newtup = heap_modify_tuple(tup, RelationGetDescr(rel),
												   values, nulls, replace);

			CatalogTupleUpdate(rel, &tup->t_self, newtup);
		}
		else
			CatalogTupleInsert(rel, heap_form_tuple(RelationGetDescr(rel), values, nulls));
		systable_endscan(scan);
		InvokeObjectPostAlterHookArg(DbRoleSettingRelationId, to_db, 0, role, false);
	}
	table_close(rel, RowExclusiveLock);
	PG_RETURN_VOID();
}

/* ----------------------------------------------------------------
 *	Refusals
 * ----------------------------------------------------------------
 */

static void
refuse_protected(const char *branch, const char *action, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_PGW_PROTECTED_BRANCH),
			 errmsg("branch \"%s\" is protected: %s is refused", branch, action),
			 errdetail("%s", detail),
			 errhint("Unprotect it first: SELECT pgwarden.unprotect_branch(%s);",
					 quote_literal_cstr(branch))));
}


static void
check_dropdb(DropdbStmt *stmt)
{
	Oid			dboid = get_database_oid(stmt->dbname, true);
	char	   *branch;

	if (OidIsValid(dboid) &&
		database_branch_state(dboid, &branch) == PGW_PROTECTED)
		refuse_protected(branch, "DROP DATABASE",
						 psprintf("Database \"%s\" holds a protected branch, which cannot be deleted.",
								  stmt->dbname));

	/*
	 * The control database holds the policy of every branch: dropping it
	 * would delete the project, which is refused while a branch is protected.
	 */
	if (OidIsValid(dboid))
	{
		ObjectAddress addr;
		char	   *names;

		ObjectAddressSet(addr, DatabaseRelationId, dboid);
		if (GetSecurityLabel(&addr, PGW_CONTROL_PROVIDER) != NULL &&
			(names = pgw_protected_branch_names()) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_PGW_PROTECTED_BRANCH),
					 errmsg("protected branches exist: DROP DATABASE of the pgwarden control database \"%s\" is refused",
							stmt->dbname),
					 errdetail("Protected branches: %s.  The project cannot be deleted while a branch is protected.",
							   names),
					 errhint("Unprotect each of them first with SELECT pgwarden.unprotect_branch(name).")));
	}
}

static void
check_alterdb(AlterDatabaseStmt *stmt)
{
	Oid			dboid = get_database_oid(stmt->dbname, true);
	char	   *branch;
	ListCell   *lc;

	if (!OidIsValid(dboid) ||
		database_branch_state(dboid, &branch) != PGW_PROTECTED)
		return;
	foreach(lc, stmt->options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, "allow_connections") == 0 && !defGetBoolean(def))
			refuse_protected(branch, "ALTER DATABASE ... ALLOW_CONNECTIONS false",
							 "The endpoints of a protected branch cannot be cut off.");
		if (strcmp(def->defname, "connection_limit") == 0 && defGetInt32(def) == 0)
			refuse_protected(branch, "ALTER DATABASE ... CONNECTION LIMIT 0",
							 "The endpoints of a protected branch cannot be cut off.");
	}
}

/*
 * ALTER DATABASE protected RENAME TO x: every connection string naming the
 * branch would then reach whatever database takes the name next.
 */
static void
check_rename_database(RenameStmt *stmt)
{
	Oid			dboid = get_database_oid(stmt->subname, true);
	char	   *branch;

	if (OidIsValid(dboid) &&
		database_branch_state(dboid, &branch) == PGW_PROTECTED)
		refuse_protected(branch, "ALTER DATABASE ... RENAME",
						 psprintf("Connection strings name database \"%s\": renamed, the name would reach another database.",
								  stmt->subname));
}

static void
check_createdb(CreatedbStmt *stmt)
{
	ListCell   *lc;
	char	   *template = NULL;
	Oid			tmploid;
	char	   *branch;
	bool		allowed;

	foreach(lc, stmt->options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, "template") == 0 && def->arg != NULL)
			template = defGetString(def);
	}
	if (template == NULL)
		template = "template1";

	/* The helper's allowance is good for one CREATE DATABASE only. */
	allowed = allowed_template[0] != '\0' && strcmp(allowed_template, template) == 0;
	allowed_template[0] = '\0';

	tmploid = get_database_oid(template, true);
	if (!OidIsValid(tmploid))
		return;
	switch (database_branch_state(tmploid, &branch))
	{
		case PGW_PROTECTED:
			if (!allowed)
				ereport(ERROR,
						(errcode(ERRCODE_PGW_PROTECTED_BRANCH),
						 errmsg("branch \"%s\" is protected: CREATE DATABASE \"%s\" TEMPLATE \"%s\" is refused",
								branch, stmt->dbname, template),
						 errdetail("A branch of a protected branch gets its own credentials."),
						 errhint("Use pgwarden branches create %s --parent %s (or pgwarden.Project.create_branch), or SELECT pgwarden.unprotect_branch(%s);",
								 quote_identifier(stmt->dbname), quote_identifier(branch),
								 quote_literal_cstr(branch))));
			break;
		case PGW_BRANCH:
		case PGW_PENDING:
			if (!allowed)
				createdb_parent = tmploid;
			break;
		case PGW_NOT_BRANCH:
			break;
	}
}

/* DROP EXTENSION pgwarden, or DROP SCHEMA pgwarden (which takes it along) */
static bool
drops_pgwarden_objects(Node *parsetree)
{
	DropStmt   *drop;
	ListCell   *lc;

	if (!IsA(parsetree, DropStmt))
		return false;
	drop = (DropStmt *) parsetree;
	if (drop->removeType != OBJECT_EXTENSION && drop->removeType != OBJECT_SCHEMA)
		return false;
	foreach(lc, drop->objects)
		if (strcmp(strVal(lfirst(lc)), "pgwarden") == 0)
		return true;
	return false;
}

/*
 * The quoted, comma-separated names of every protected branch, or NULL when
 * none is protected (read from the labels: works from any database).
 */
char	   *
pgw_protected_branch_names(void)
{
	char	   *names = NULL;
	int			nestlevel = pgw_spi_connect();

	if (SPI_execute("SELECT pg_catalog.string_agg(pg_catalog.quote_ident(pg_catalog.substr(l.label, 11)), ', ' ORDER BY l.label)"
					"  FROM pg_catalog.pg_shseclabel l"
					"  JOIN pg_catalog.pg_database d ON d.oid = l.objoid"
					" WHERE l.provider = 'pgwarden'"
					"   AND l.classoid = 'pg_catalog.pg_database'::pg_catalog.regclass"
					"   AND l.label LIKE 'protected:%'",
					true, 1) == SPI_OK_SELECT && SPI_processed == 1)
	{
		char	   *value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (value != NULL)
			names = MemoryContextStrdup(CurTransactionContext, value);
	}
	pgw_spi_finish(nestlevel);
	return names;
}

static void
check_drop_extension(void)
{
	char	   *names = pgw_protected_branch_names();

	if (names != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_PGW_PROTECTED_BRANCH),
				 errmsg("protected branches exist: DROP EXTENSION pgwarden is refused"),
				 errdetail("Protected branches: %s.  The project cannot be deleted while a branch is protected.",
						   names),
				 errhint("Unprotect each of them first with SELECT pgwarden.unprotect_branch(name).")));
}

/* After DROP EXTENSION pgwarden: remove every label pgwarden left. */
void
pgw_branches_clear_labels(void)
{
	uint64		i;
	int			nestlevel = pgw_spi_connect();

	if (SPI_execute("SELECT classoid, objoid FROM pg_catalog.pg_shseclabel"
					" WHERE provider = 'pgwarden'", true, 0) == SPI_OK_SELECT)
	{
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			Oid			classid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																 SPI_tuptable->tupdesc, 1, &isnull));
			Oid			objid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
															   SPI_tuptable->tupdesc, 2, &isnull));
			ObjectAddress addr;

			ObjectAddressSet(addr, classid, objid);
			SetSecurityLabel(&addr, PGW_LABEL_PROVIDER, NULL);
		}
	}
	pgw_spi_finish(nestlevel);
}

/*
 * The database the session user is bound to when it is a branch role, else
 * InvalidOid.  Cached per session user (branch roles are not superusers, so
 * they cannot SET SESSION AUTHORIZATION).
 */
static Oid
session_branch_role_database(void)
{
	Oid			user = GetSessionUserId();
	char	   *label;

	if (user == branch_role_cached_for)
		return branch_role_database;
	branch_role_database = InvalidOid;
	label = object_label(AuthIdRelationId, user);
	if (label && strncmp(label, "branch-role:", 12) == 0)
		branch_role_database = (Oid) strtoul(label + 12, NULL, 10);
	branch_role_cached_for = user;
	return branch_role_database;
}

static void
refuse_branch_role(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_PGW_BRANCH_ROLE),
			 errmsg("branch role \"%s\" cannot %s",
					GetUserNameFromId(GetSessionUserId(), false), what),
			 errdetail("A branch role acts with its parent role's privileges inside its own branch only."),
			 errhint("Connect to the branch with the role it copies, or ask a pgwarden administrator.")));
}

static bool
names_other_database(List *names)
{
	ListCell   *lc;

	foreach(lc, names)
	{
		Node	   *n = lfirst(lc);

		if (!IsA(n, String) ||
			get_database_oid(strVal(n), true) != MyDatabaseId)
			return true;
	}
	return false;
}

/* Cluster-level statements a branch role may not run. */
static void
check_branch_role(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_AlterRoleStmt:
			{
				AlterRoleStmt *stmt = (AlterRoleStmt *) parsetree;
				ListCell   *lc;
				bool		password_only = true;

				foreach(lc, stmt->options)
					if (strcmp(lfirst_node(DefElem, lc)->defname, "password") != 0)
					password_only = false;
				if (password_only &&
					get_rolespec_oid(stmt->role, true) == GetSessionUserId())
					return;
			}
			/* FALLTHROUGH */
		case T_AlterRoleSetStmt:
		case T_CreateRoleStmt:
		case T_DropRoleStmt:
		case T_GrantRoleStmt:
		case T_DropOwnedStmt:
		case T_ReassignOwnedStmt:
		case T_CreateTableSpaceStmt:
		case T_DropTableSpaceStmt:
		case T_AlterTableSpaceOptionsStmt:
		case T_CreatedbStmt:
			if (OidIsValid(session_branch_role_database()))
				refuse_branch_role("change roles, databases or tablespaces");
			break;
		case T_DropdbStmt:
		case T_AlterDatabaseStmt:
		case T_AlterDatabaseSetStmt:
		case T_AlterDatabaseRefreshCollStmt:
			{
				const char *dbname;

				if (IsA(parsetree, DropdbStmt))
					dbname = ((DropdbStmt *) parsetree)->dbname;
				else if (IsA(parsetree, AlterDatabaseStmt))
					dbname = ((AlterDatabaseStmt *) parsetree)->dbname;
				else if (IsA(parsetree, AlterDatabaseSetStmt))
					dbname = ((AlterDatabaseSetStmt *) parsetree)->dbname;
				else
					dbname = ((AlterDatabaseRefreshCollStmt *) parsetree)->dbname;
				if (get_database_oid(dbname, true) == MyDatabaseId &&
					!IsA(parsetree, DropdbStmt))
					return;
				if (OidIsValid(session_branch_role_database()))
					refuse_branch_role("change another database");
			}
			break;
		case T_RenameStmt:
		case T_AlterOwnerStmt:
		case T_CommentStmt:
		case T_GrantStmt:
			{
				ObjectType	type;

				if (IsA(parsetree, RenameStmt))
					type = ((RenameStmt *) parsetree)->renameType;
				else if (IsA(parsetree, AlterOwnerStmt))
					type = ((AlterOwnerStmt *) parsetree)->objectType;
				else if (IsA(parsetree, CommentStmt))
					type = ((CommentStmt *) parsetree)->objtype;
				else
					type = ((GrantStmt *) parsetree)->objtype;
				if (type != OBJECT_ROLE && type != OBJECT_DATABASE &&
					type != OBJECT_TABLESPACE && type != OBJECT_PARAMETER_ACL)
					return;
				if (type == OBJECT_DATABASE && IsA(parsetree, GrantStmt) &&
					!names_other_database(((GrantStmt *) parsetree)->objects))
					return;
				if (OidIsValid(session_branch_role_database()))
					refuse_branch_role("change roles, other databases, tablespaces or parameter privileges");
			}
			break;
		default:
			break;
	}
}

/*
 * Branch roles keep their names: the connection gate binds them by name
 * (the snapshot is rebuilt when pgwarden's tables change, not on renames).
 */
static void
check_rename_branch_role(RenameStmt *stmt)
{
	Oid			roleid = get_role_oid(stmt->subname, true);
	char	   *label;

	if (!OidIsValid(roleid))
		return;
	label = object_label(AuthIdRelationId, roleid);
	if (label && strncmp(label, "branch-role:", 12) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_PGW_BRANCH_ROLE),
				 errmsg("role \"%s\" is a branch role and cannot be renamed", stmt->subname),
				 errdetail("The connection gate binds branch roles to their branch by name."),
				 errhint("Delete the branch to drop its branch roles.")));
}

/*
 * Called by the ProcessUtility hook before any earlier hook or the standard
 * processing.
 */
void
pgw_branches_utility_check(PlannedStmt *pstmt)
{
	Node	   *parsetree = pstmt->utilityStmt;

	createdb_parent = InvalidOid;
	check_branch_role(parsetree);

	if (IsA(parsetree, RenameStmt) &&
		((RenameStmt *) parsetree)->renameType == OBJECT_ROLE)
		check_rename_branch_role((RenameStmt *) parsetree);
	if (IsA(parsetree, RenameStmt) &&
		((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
		check_rename_database((RenameStmt *) parsetree);

	switch (nodeTag(parsetree))
	{
		case T_DropdbStmt:
			check_dropdb((DropdbStmt *) parsetree);
			break;
		case T_AlterDatabaseStmt:
			check_alterdb((AlterDatabaseStmt *) parsetree);
			break;
		case T_CreatedbStmt:
			check_createdb((CreatedbStmt *) parsetree);
			break;
		case T_DropStmt:
			if (drops_pgwarden_objects(parsetree) &&
				OidIsValid(get_extension_oid("pgwarden", true)))
				check_drop_extension();
			break;
		default:
			break;
	}
}

/*
 * Called after the statement ran: a plain CREATE DATABASE ... TEMPLATE of an
 * unprotected branch is labelled as its pending child, which the control
 * database registers (pgwarden._sync_branches(); the branches view lists it
 * meanwhile).
 */
void
pgw_branches_utility_after(PlannedStmt *pstmt)
{
	Node	   *parsetree = pstmt->utilityStmt;
	Oid			child;
	ObjectAddress addr;
	XLogRecPtr	lsn;

	if (!IsA(parsetree, CreatedbStmt))
		return;
	CommandCounterIncrement();
	child = get_database_oid(((CreatedbStmt *) parsetree)->dbname, true);
	if (!OidIsValid(child))
		return;
	note_created(child);
	if (!OidIsValid(createdb_parent))
		return;
	lsn = RecoveryInProgress() ? InvalidXLogRecPtr : GetXLogInsertRecPtr();
	ObjectAddressSet(addr, DatabaseRelationId, child);
	SetSecurityLabel(&addr, PGW_LABEL_PROVIDER,
					 psprintf("child:%u:%X/%X", createdb_parent, LSN_FORMAT_ARGS(lsn)));
	createdb_parent = InvalidOid;
}

/*
 * A branch role signalling other sessions: membership in its parent role
 * would let it cancel or terminate the parent's sessions.  Checked as the
 * functions are called (OAT_FUNCTION_EXECUTE is invoked for every function
 * the executor or the fast-path protocol calls, built-ins included).
 */
static void
branches_object_access(ObjectAccessType access, Oid classId, Oid objectId,
					   int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);
	if (access != OAT_FUNCTION_EXECUTE)
		return;
	if ((objectId == F_PG_TERMINATE_BACKEND || objectId == F_PG_CANCEL_BACKEND) &&
		OidIsValid(session_branch_role_database()))
		refuse_branch_role("cancel or terminate other sessions");
}

void
pgw_branches_init(void)
{
	register_label_provider(PGW_LABEL_PROVIDER, pgw_relabel_hook);

	prev_object_access_hook = object_access_hook;
	object_access_hook = branches_object_access;
}
