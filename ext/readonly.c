/*-------------------------------------------------------------------------
 *
 * readonly.c
 *	  What a read-only endpoint refuses on top of PostgreSQL's checks of a
 *	  read-only transaction: the functions and statements that write WAL,
 *	  files or shared state without asking whether the transaction may.
 *
 * Once the connection gate has admitted a connection through a read-only
 * endpoint, endpoints.c calls pgw_readonly_enter() after authentication,
 * before the client's startup options are processed.  From then on
 * default_transaction_read_only is forced on (source override, so client
 * startup options and per-role/database settings cannot undo it), the
 * check hooks of default_transaction_read_only and transaction_read_only
 * refuse "off" (covering SET, SET SESSION CHARACTERISTICS, BEGIN READ
 * WRITE, set_config() and function SET clauses), and every statement runs
 * with XactReadOnly forced on before the executor (ExecutorStart_hook) or
 * utility processing (pgw_readonly_utility_check, from utility.c) sees it.
 * That stops every write that goes through the executor or needs a
 * transaction ID, and as a backstop a transaction of a read-only session
 * that acquired a transaction ID fails at commit.
 *
 * What remains are the server functions and statements that act without
 * one: WAL records without a transaction (logical messages, WAL switches,
 * restore points, index summarisation), replication slots and origins,
 * shared statistics, the server's own state (configuration reload, log
 * rotation, promotion, backups), notifications to other sessions (queued
 * after every commit check), and the assignment of transaction IDs
 * itself; and statements PostgreSQL allows in a read-only transaction
 * (ALTER SYSTEM, VACUUM, CLUSTER, REINDEX, CHECKPOINT, LOAD, COPY TO a
 * server file or program, NOTIFY, strong LOCKs, two-phase commit), and
 * reading a foreign table whose rows come from a program.  This file
 * refuses those.
 *
 * How the list was made: from the server's catalog, not from memory.
 * tests/support/readonly_functions.py lists every function of pg_proc that is not
 * immutable and classifies each one; the functions below are those it
 * classifies as writing, and a test fails when a non-immutable function
 * appears that is in neither this table nor the script's list of allowed
 * ones.  Each entry is tested through a real read-only endpoint, as a
 * plain role and as a superuser (tests/gate/test_security_gate.py).
 *
 * Decided as allowed (they do what a hot standby allows): advisory locks,
 * LISTEN, signalling other sessions (pg_cancel_backend and friends, with
 * their usual privileges), set_config() of any setting but the two that
 * turn read-only off (branches.c refuses those), exporting snapshots.
 *
 * Functions are checked as they are about to run (OAT_FUNCTION_EXECUTE,
 * this file's object_access_hook), by OID for the built-in ones.  A
 * function of LANGUAGE internal created later (by a superuser, on a
 * read-write endpoint) is judged as the built-in it calls, and pgwarden's
 * own C functions that write catalogs by their symbol, as are the writers
 * of the contrib modules (pg_surgery, adminpack, ...) by library and symbol.
 * Support functions (hashing, comparing, sorting, index scans) are called
 * through fmgr without that check, and built-ins without any hook: so no
 * refused function may become an operator's function or an operator
 * family's support function, on any endpoint (OAT_POST_CREATE of their
 * pg_operator and pg_amproc rows).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_class.h"
#include "catalog/pg_language.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_proc.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "nodes/parsenodes.h"
#include "storage/lockdefs.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "compat.h"
#include "readonly.h"
#include "safespi.h"

typedef enum PgwReadonlyKind
{
	PGW_RO_WAL,
	PGW_RO_SLOT,
	PGW_RO_ORIGIN,
	PGW_RO_SEQUENCE,
	PGW_RO_LARGE_OBJECT,
	PGW_RO_FILE,
	PGW_RO_STATISTICS,
	PGW_RO_SERVER,
	PGW_RO_NOTIFY,
	PGW_RO_XID,
	PGW_RO_CATALOG,
	PGW_RO_NUM_KINDS
} PgwReadonlyKind;

static const struct
{
	const char *name;			/* stable, for SQL */
	const char *detail;			/* the DETAIL of a refusal */
}			kinds[] =

{
	[PGW_RO_WAL] = {"wal", "It writes WAL without a transaction ID."},
	[PGW_RO_SLOT] = {"replication_slot", "It creates, drops, advances or decodes through a replication slot."},
	[PGW_RO_ORIGIN] = {"replication_origin", "It creates, drops or changes the progress of a replication origin."},
	[PGW_RO_SEQUENCE] = {"sequence", "It changes a sequence."},
	[PGW_RO_LARGE_OBJECT] = {"large_object", "It writes large objects."},
	[PGW_RO_FILE] = {"server_file", "It writes a file on the server."},
	[PGW_RO_STATISTICS] = {"statistics", "It resets statistics or counters shared by the whole server."},
	[PGW_RO_SERVER] = {"server_state", "It changes the state of the whole server (configuration, log files, recovery or backups)."},
	[PGW_RO_NOTIFY] = {"notify", "It sends a notification to other sessions."},
	[PGW_RO_XID] = {"transaction_id", "It assigns a transaction ID."},
	[PGW_RO_CATALOG] = {"catalog", "It writes the system catalogs."},
};

StaticAssertDecl(lengthof(kinds) == PGW_RO_NUM_KINDS,
				 "every PgwReadonlyKind needs an entry in kinds[]");

/* The built-in functions refused, by OID (fmgroids.h). */
static const struct
{
	Oid			fn;
	PgwReadonlyKind kind;
}			refused_builtins[] =

{
	{PGW_F_LOGICAL_EMIT_MESSAGE_TEXT, PGW_RO_WAL},
	{PGW_F_LOGICAL_EMIT_MESSAGE_BYTEA, PGW_RO_WAL},
	{F_PG_SWITCH_WAL, PGW_RO_WAL},
	{F_PG_CREATE_RESTORE_POINT, PGW_RO_WAL},
	{F_BRIN_SUMMARIZE_NEW_VALUES, PGW_RO_WAL},
	{F_BRIN_SUMMARIZE_RANGE, PGW_RO_WAL},
	{F_BRIN_DESUMMARIZE_RANGE, PGW_RO_WAL},
	{F_GIN_CLEAN_PENDING_LIST, PGW_RO_WAL},
#ifdef PGW_HAVE_LOG_STANDBY_SNAPSHOT
	{F_PG_LOG_STANDBY_SNAPSHOT, PGW_RO_WAL},
#endif

	{F_PG_CREATE_PHYSICAL_REPLICATION_SLOT, PGW_RO_SLOT},
	{F_PG_CREATE_LOGICAL_REPLICATION_SLOT, PGW_RO_SLOT},
	{F_PG_COPY_PHYSICAL_REPLICATION_SLOT_NAME_NAME, PGW_RO_SLOT},
	{F_PG_COPY_PHYSICAL_REPLICATION_SLOT_NAME_NAME_BOOL, PGW_RO_SLOT},
	{F_PG_COPY_LOGICAL_REPLICATION_SLOT_NAME_NAME, PGW_RO_SLOT},
	{F_PG_COPY_LOGICAL_REPLICATION_SLOT_NAME_NAME_BOOL, PGW_RO_SLOT},
	{F_PG_COPY_LOGICAL_REPLICATION_SLOT_NAME_NAME_BOOL_NAME, PGW_RO_SLOT},
	{F_PG_DROP_REPLICATION_SLOT, PGW_RO_SLOT},
	{F_PG_REPLICATION_SLOT_ADVANCE, PGW_RO_SLOT},
	{F_PG_LOGICAL_SLOT_GET_CHANGES, PGW_RO_SLOT},
	{F_PG_LOGICAL_SLOT_GET_BINARY_CHANGES, PGW_RO_SLOT},
	{F_PG_LOGICAL_SLOT_PEEK_CHANGES, PGW_RO_SLOT},
	{F_PG_LOGICAL_SLOT_PEEK_BINARY_CHANGES, PGW_RO_SLOT},
#ifdef PGW_HAVE_SYNC_REPLICATION_SLOTS
	{F_PG_SYNC_REPLICATION_SLOTS, PGW_RO_SLOT},
#endif

	{F_PG_REPLICATION_ORIGIN_CREATE, PGW_RO_ORIGIN},
	{F_PG_REPLICATION_ORIGIN_DROP, PGW_RO_ORIGIN},
	{F_PG_REPLICATION_ORIGIN_ADVANCE, PGW_RO_ORIGIN},
	{F_PG_REPLICATION_ORIGIN_SESSION_SETUP, PGW_RO_ORIGIN},
	{F_PG_REPLICATION_ORIGIN_SESSION_RESET, PGW_RO_ORIGIN},
	{F_PG_REPLICATION_ORIGIN_XACT_SETUP, PGW_RO_ORIGIN},
	{F_PG_REPLICATION_ORIGIN_XACT_RESET, PGW_RO_ORIGIN},

	{F_NEXTVAL, PGW_RO_SEQUENCE},
	{F_SETVAL_REGCLASS_INT8, PGW_RO_SEQUENCE},
	{F_SETVAL_REGCLASS_INT8_BOOL, PGW_RO_SEQUENCE},

	{F_LO_CREATE, PGW_RO_LARGE_OBJECT},
	{F_LO_CREAT, PGW_RO_LARGE_OBJECT},
	{F_LO_FROM_BYTEA, PGW_RO_LARGE_OBJECT},
	{F_LO_PUT, PGW_RO_LARGE_OBJECT},
	{F_LO_UNLINK, PGW_RO_LARGE_OBJECT},
	{F_LOWRITE, PGW_RO_LARGE_OBJECT},
	{F_LO_TRUNCATE, PGW_RO_LARGE_OBJECT},
	{F_LO_TRUNCATE64, PGW_RO_LARGE_OBJECT},
	{F_LO_IMPORT_TEXT, PGW_RO_LARGE_OBJECT},
	{F_LO_IMPORT_TEXT_OID, PGW_RO_LARGE_OBJECT},
	{F_LO_EXPORT, PGW_RO_FILE},

	{F_PG_STAT_RESET, PGW_RO_STATISTICS},
	{F_PG_STAT_RESET_SHARED, PGW_RO_STATISTICS},
	{F_PG_STAT_RESET_SINGLE_TABLE_COUNTERS, PGW_RO_STATISTICS},
	{F_PG_STAT_RESET_SINGLE_FUNCTION_COUNTERS, PGW_RO_STATISTICS},
	{F_PG_STAT_RESET_SLRU, PGW_RO_STATISTICS},
	{F_PG_STAT_RESET_REPLICATION_SLOT, PGW_RO_STATISTICS},
	{F_PG_STAT_RESET_SUBSCRIPTION_STATS, PGW_RO_STATISTICS},
#ifdef PGW_HAVE_STAT_RESET_BACKEND_STATS
	{F_PG_STAT_RESET_BACKEND_STATS, PGW_RO_STATISTICS},
#endif

	{F_PG_RELOAD_CONF, PGW_RO_SERVER},
	{F_PG_ROTATE_LOGFILE, PGW_RO_SERVER},
#ifdef PGW_HAVE_ROTATE_LOGFILE_OLD
	{F_PG_ROTATE_LOGFILE_OLD, PGW_RO_SERVER},
#endif
	{F_PG_PROMOTE, PGW_RO_SERVER},
	{F_PG_WAL_REPLAY_PAUSE, PGW_RO_SERVER},
	{F_PG_WAL_REPLAY_RESUME, PGW_RO_SERVER},
	{F_PG_BACKUP_START, PGW_RO_SERVER},
	{F_PG_BACKUP_STOP, PGW_RO_SERVER},

	{F_PG_NOTIFY, PGW_RO_NOTIFY},

	{F_TXID_CURRENT, PGW_RO_XID},
	{F_PG_CURRENT_XACT_ID, PGW_RO_XID},

	{F_PG_IMPORT_SYSTEM_COLLATIONS, PGW_RO_CATALOG},
	{F_PG_EXTENSION_CONFIG_DUMP, PGW_RO_CATALOG},
	{F_PG_NEXTOID, PGW_RO_CATALOG},
	{F_PG_STOP_MAKING_PINNED_OBJECTS, PGW_RO_CATALOG},
#ifdef PGW_HAVE_STATS_IMPORT
	{F_PG_RESTORE_RELATION_STATS, PGW_RO_CATALOG},
	{F_PG_RESTORE_ATTRIBUTE_STATS, PGW_RO_CATALOG},
	{F_PG_CLEAR_RELATION_STATS, PGW_RO_CATALOG},
	{F_PG_CLEAR_ATTRIBUTE_STATS, PGW_RO_CATALOG},
#endif
};

/* pgwarden's own C functions that write, by symbol. */
static const struct
{
	const char *symbol;
	PgwReadonlyKind kind;
}			refused_own[] =

{
	{"pgwarden_set_label", PGW_RO_CATALOG},
	{"pgwarden_set_role_password", PGW_RO_CATALOG},
	{"pgwarden_copy_settings", PGW_RO_CATALOG},
	{"pgwarden_gate_stats_reset", PGW_RO_STATISTICS},
};

/*
 * The writers among the C functions of PostgreSQL's contrib modules, by
 * library and symbol: they act without a transaction ID or a read-only
 * check (pages rewritten and WAL-logged, files, shared counters, shared
 * buffers).  From their extension scripts, PostgreSQL 15 to 18; every
 * other non-immutable C function there reads, fires as a trigger (which
 * needs a write), or opens a connection that the gate judges on its own.
 */
static const struct
{
	const char *library;
	const char *symbol;
	PgwReadonlyKind kind;
}			refused_contrib[] =

{
	{"pg_surgery", "heap_force_kill", PGW_RO_WAL},
	{"pg_surgery", "heap_force_freeze", PGW_RO_WAL},
	{"pg_visibility", "pg_truncate_visibility_map", PGW_RO_WAL},
	{"adminpack", "pg_file_write", PGW_RO_FILE},
	{"adminpack", "pg_file_write_v1_1", PGW_RO_FILE},
	{"adminpack", "pg_file_sync", PGW_RO_FILE},
	{"adminpack", "pg_file_rename", PGW_RO_FILE},
	{"adminpack", "pg_file_rename_v1_1", PGW_RO_FILE},
	{"adminpack", "pg_file_unlink", PGW_RO_FILE},
	{"adminpack", "pg_file_unlink_v1_1", PGW_RO_FILE},
	{"pg_prewarm", "autoprewarm_dump_now", PGW_RO_FILE},
	{"pg_prewarm", "autoprewarm_start_worker", PGW_RO_SERVER},
	{"pg_stat_statements", "pg_stat_statements_reset", PGW_RO_STATISTICS},
	{"pg_stat_statements", "pg_stat_statements_reset_1_7", PGW_RO_STATISTICS},
	{"pg_stat_statements", "pg_stat_statements_reset_1_11", PGW_RO_STATISTICS},
	{"pg_buffercache", "pg_buffercache_evict", PGW_RO_SERVER},
	{"pg_buffercache", "pg_buffercache_evict_relation", PGW_RO_SERVER},
	{"pg_buffercache", "pg_buffercache_evict_all", PGW_RO_SERVER},
};

/* Set once this backend was admitted through a read-only endpoint. */
static bool readonly_session = false;
static NameData readonly_endpoint;

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static object_access_hook_type prev_object_access_hook = NULL;
static GucBoolCheckHook prev_check_default_xact_ro = NULL;
static GucBoolCheckHook prev_check_xact_ro = NULL;

PG_FUNCTION_INFO_V1(pgwarden_readonly_refusals);
PG_FUNCTION_INFO_V1(pgwarden_readonly_session);

static int
builtin_kind(Oid fn)
{
	for (int i = 0; i < lengthof(refused_builtins); i++)
		if (refused_builtins[i].fn == fn)
			return refused_builtins[i].kind;
	return -1;
}

static int
own_kind(const char *symbol)
{
	for (int i = 0; i < lengthof(refused_own); i++)
		if (strcmp(refused_own[i].symbol, symbol) == 0)
			return refused_own[i].kind;
	return -1;
}

/* Does probin name that library ($libdir/NAME or a path, with or without .so)? */
static bool
is_library(const char *probin, const char *name)
{
	const char *base = strrchr(probin, '/');
	size_t		len = strlen(name);

	base = base ? base + 1 : probin;
	return strncmp(base, name, len) == 0 &&
		(base[len] == '\0' || strcmp(base + len, DLSUFFIX) == 0);
}

/* Does probin name pgwarden's library ($libdir/pgwarden, with or without .so)? */
static bool
is_pgwarden_library(const char *probin)
{
	return is_library(probin, "pgwarden");
}

/* The kind of a C function by its library and symbol: pgwarden's or contrib's. */
static int
library_kind(const char *probin, const char *symbol)
{
	if (is_pgwarden_library(probin))
		return own_kind(symbol);
	for (int i = 0; i < lengthof(refused_contrib); i++)
		if (strcmp(refused_contrib[i].symbol, symbol) == 0 &&
			is_library(probin, refused_contrib[i].library))
			return refused_contrib[i].kind;
	return -1;
}

/*
 * The kind of write a function does, or -1.  A function created after
 * initdb is looked up in pg_proc: LANGUAGE internal runs a built-in (judged
 * as that built-in), LANGUAGE C in pgwarden's library one of its symbols.
 */
static int
function_kind(Oid fn)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	int			kind = builtin_kind(fn);
	bool		isnull;
	Datum		datum;

	if (kind >= 0 || fn < FirstGenbkiObjectId)
		return kind;

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	if (!HeapTupleIsValid(tup))
		return -1;
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (proc->prolang == INTERNALlanguageId || proc->prolang == ClanguageId)
	{
		char	   *prosrc;

		datum = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_prosrc, &isnull);
		prosrc = isnull ? NULL : TextDatumGetCString(datum);
		if (prosrc != NULL && proc->prolang == INTERNALlanguageId)
		{
			Oid			builtin = fmgr_internal_function(prosrc);

			if (OidIsValid(builtin))
				kind = builtin_kind(builtin);
		}
		else if (prosrc != NULL)
		{
			datum = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_probin, &isnull);
			if (!isnull)
				kind = library_kind(TextDatumGetCString(datum), prosrc);
		}
	}
	ReleaseSysCache(tup);
	return kind;
}

/*
 * NULL when a read-only endpoint may call the function, else a sentence
 * saying what it would change (for the DETAIL of the refusal).
 */
static const char *
refused_function(Oid fn)
{
	int			kind = function_kind(fn);

	return kind < 0 ? NULL : kinds[kind].detail;
}

/*
 * NULL when a read-only endpoint may run the utility statement, else the
 * statement's name for the message.
 */
static const char *
refused_statement(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_AlterSystemStmt:
			return "ALTER SYSTEM";
		case T_VacuumStmt:
			return "VACUUM or ANALYZE";
		case T_ClusterStmt:
			return "CLUSTER";
		case T_ReindexStmt:
			return "REINDEX";
		case T_CheckPointStmt:
			return "CHECKPOINT";
		case T_LoadStmt:
			return "LOAD";
		case T_CopyStmt:

			/*
			 * COPY ... TO a server file or program writes outside the
			 * database
			 */
			if (!((CopyStmt *) parsetree)->is_from &&
				((CopyStmt *) parsetree)->filename != NULL)
				return "COPY TO a server file or program";
			break;
		case T_NotifyStmt:
			/* the notification is queued after every commit-time check */
			return "NOTIFY";
		case T_LockStmt:
			/* as on a hot standby: no lock a reader never needs */
			if (((LockStmt *) parsetree)->mode > RowExclusiveLock)
				return "LOCK TABLE in a mode stronger than ROW EXCLUSIVE";
			break;
		case T_TransactionStmt:
			switch (((TransactionStmt *) parsetree)->kind)
			{
				case TRANS_STMT_PREPARE:
					return "PREPARE TRANSACTION";
				case TRANS_STMT_COMMIT_PREPARED:
					/* would commit the writes of another session */
					return "COMMIT PREPARED";
				case TRANS_STMT_ROLLBACK_PREPARED:
					return "ROLLBACK PREPARED";
				default:
					break;
			}
			break;
		default:
			break;
	}
	return NULL;
}

/*
 * pgwarden.readonly_refusals() RETURNS TABLE(function oid, kind text, detail text)
 * Every function a read-only endpoint refuses, for the classification test
 * and for admins: the built-ins, then the C functions of pgwarden's library
 * and of the contrib modules found in pg_proc (by symbol).
 */
Datum
pgwarden_readonly_refusals(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			nestlevel;
	char		sql[256];

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < lengthof(refused_builtins); i++)
	{
		Datum		values[3];
		bool		nulls[3] = {0};

		values[0] = ObjectIdGetDatum(refused_builtins[i].fn);
		values[1] = CStringGetTextDatum(kinds[refused_builtins[i].kind].name);
		values[2] = CStringGetTextDatum(kinds[refused_builtins[i].kind].detail);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	nestlevel = pgw_spi_connect();
	snprintf(sql, sizeof(sql),
			 "SELECT p.oid, p.prosrc, p.probin FROM pg_catalog.pg_proc p"
			 " WHERE p.prolang OPERATOR(pg_catalog.=) %u AND p.probin IS NOT NULL",
			 (unsigned) ClanguageId);
	if (SPI_execute(sql, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_proc");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *prosrc = SPI_getvalue(tup, desc, 2);
		char	   *probin = SPI_getvalue(tup, desc, 3);
		int			kind;
		bool		isnull;

		if (prosrc == NULL || probin == NULL || (kind = library_kind(probin, prosrc)) < 0)
			continue;
		{
			Datum		values[3];
			bool		nulls[3] = {0};

			values[0] = SPI_getbinval(tup, desc, 1, &isnull);
			values[1] = CStringGetTextDatum(kinds[kind].name);
			values[2] = CStringGetTextDatum(kinds[kind].detail);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	pgw_spi_finish(nestlevel);
	return (Datum) 0;
}

/* pgwarden.readonly_session(): is this connection on a read-only endpoint? */
Datum
pgwarden_readonly_session(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(readonly_session);
}

/* ----------------------------------------------------------------
 *	The read-only session
 * ----------------------------------------------------------------
 */

void
pgw_readonly_utility_check(Node *parsetree)
{
	const char *what;

	if (!readonly_session)
		return;
	what = refused_statement(parsetree);
	if (what)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot execute %s through read-only endpoint \"%s\"",
						what, NameStr(readonly_endpoint)),
				 errhint("Connect through a read-write endpoint of the branch.")));
	XactReadOnly = true;
}

/* In a read-only session, setting a read-only GUC off is refused. */
static bool
refuses_off(bool newval, const char *what)
{
	if (!readonly_session || newval)
		return false;
	GUC_check_errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION);
	GUC_check_errmsg("cannot %s through read-only endpoint \"%s\"",
					 what, NameStr(readonly_endpoint));
	GUC_check_errhint("Connect through a read-write endpoint of the branch.");
	return true;
}

static bool
check_default_xact_ro(bool *newval, void **extra, GucSource source)
{
	if (refuses_off(*newval, "turn off default_transaction_read_only"))
		return false;
	return prev_check_default_xact_ro ? prev_check_default_xact_ro(newval, extra, source) : true;
}

static bool
check_xact_ro(bool *newval, void **extra, GucSource source)
{
	if (refuses_off(*newval, "start a read-write transaction"))
		return false;
	return prev_check_xact_ro ? prev_check_xact_ro(newval, extra, source) : true;
}

/*
 * Put our check hooks in front of those of the two core settings that can
 * make a transaction read-write.
 */
static void
wrap_read_only_checks(void)
{
	int			n;
	struct config_generic **vars = PGW_GET_GUC_VARIABLES(&n);
	int			i;

	for (i = 0; i < n; i++)
	{
		struct config_generic *g = vars[i];
		struct config_bool *b;

		if (g->vartype != PGC_BOOL)
			continue;
		b = (struct config_bool *) g;
		if (strcmp(g->name, "default_transaction_read_only") == 0)
		{
			prev_check_default_xact_ro = b->check_hook;
			b->check_hook = check_default_xact_ro;
		}
		else if (strcmp(g->name, "transaction_read_only") == 0)
		{
			prev_check_xact_ro = b->check_hook;
			b->check_hook = check_xact_ro;
		}
	}
	if (prev_check_xact_ro == NULL)
		elog(WARNING, "pgwarden: transaction_read_only has no check hook to wrap");
}

/*
 * The backstop: a few built-in functions write without asking whether the
 * transaction is read-only (large objects: lo_create(), lo_import(),
 * lowrite() ... in PostgreSQL 15).  Any write to the database needs a
 * transaction ID, so a read-only session's transaction that got one is
 * refused at commit (or PREPARE) and rolled back.
 */
static void
readonly_xact_callback(XactEvent event, void *arg)
{
	if (!readonly_session)
		return;
	if ((event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE) &&
		TransactionIdIsValid(GetTopTransactionIdIfAny()))
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot commit a transaction that wrote through read-only endpoint \"%s\"",
						NameStr(readonly_endpoint)),
				 errdetail("The transaction was rolled back."),
				 errhint("Connect through a read-write endpoint of the branch.")));
}

void
pgw_readonly_enter(const char *endpoint)
{
	namestrcpy(&readonly_endpoint, endpoint);
	readonly_session = true;
	RegisterXactCallback(readonly_xact_callback, NULL);
	SetConfigOption("default_transaction_read_only", "on",
					PGC_SUSET, PGC_S_OVERRIDE);
}

/* Does any level of this foreign table's definition name a program to run? */
static bool
runs_a_program(Oid relid)
{
	ForeignTable *table = GetForeignTable(relid);
	ForeignServer *server = GetForeignServer(table->serverid);
	ForeignDataWrapper *fdw = GetForeignDataWrapper(server->fdwid);
	List	   *levels[] = {table->options, server->options, fdw->options};

	for (int i = 0; i < lengthof(levels); i++)
	{
		ListCell   *lc;

		foreach(lc, levels[i])
		{
			if (strcmp(((DefElem *) lfirst(lc))->defname, "program") == 0)
				return true;
		}
	}
	return false;
}

static void
readonly_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (readonly_session)
	{
		ListCell   *lc;

		XactReadOnly = true;

		/*
		 * A foreign table read from a program (file_fdw's "program") runs
		 * that program on the server, which writes what it likes: refused, as
		 * COPY ... PROGRAM is.
		 */
		foreach(lc, queryDesc->plannedstmt->rtable)
		{
			RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

			if (rte->rtekind == RTE_RELATION && rte->relkind == RELKIND_FOREIGN_TABLE &&
				runs_a_program(rte->relid))
				ereport(ERROR,
						(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
						 errmsg("cannot read foreign table \"%s\" through read-only endpoint \"%s\"",
								get_rel_name(rte->relid), NameStr(readonly_endpoint)),
						 errdetail("Its rows come from a program run on the server."),
						 errhint("Connect through a read-write endpoint of the branch.")));
		}
	}
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/*
 * The function of an operator or of an operator family's support entry
 * just created (or completed from a shell) by this command.
 */
static Oid
new_member_function(Oid classId, Oid objectId)
{
	bool		op = classId == OperatorRelationId;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			fn = InvalidOid;

	ScanKeyInit(&key, op ? Anum_pg_operator_oid : Anum_pg_amproc_oid,
				BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(objectId));
	rel = table_open(classId, AccessShareLock);
	scan = systable_beginscan(rel, op ? OperatorOidIndexId : AccessMethodProcedureOidIndexId,
							  true, SnapshotSelf, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		fn = op ? ((Form_pg_operator) GETSTRUCT(tup))->oprcode :
			((Form_pg_amproc) GETSTRUCT(tup))->amproc;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return fn;
}

/*
 * The functions that write without asking, refused as they are called;
 * and refused, on every endpoint, as an operator's function or a support
 * function of an operator family: hashing, comparing, sorting and index
 * scans call those through fmgr, where no hook sees a built-in.
 */
static void
readonly_object_access(ObjectAccessType access, Oid classId, Oid objectId,
					   int subId, void *arg)
{
	const char *why;
	Oid			fn;

	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);
	if (access == OAT_POST_CREATE &&
		(classId == OperatorRelationId || classId == AccessMethodProcedureRelationId) &&
		OidIsValid(fn = new_member_function(classId, objectId)) &&
		(why = refused_function(fn)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("%s() cannot be %s", get_func_name(fn),
						classId == OperatorRelationId ? "the function of an operator" :
						"a support function of an operator family"),
				 errdetail("Read-only endpoints refuse it (%s), and those calls bypass the check.", why)));
	if (access == OAT_FUNCTION_EXECUTE && readonly_session &&
		(why = refused_function(objectId)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot execute %s() through read-only endpoint \"%s\"",
						get_func_name(objectId), NameStr(readonly_endpoint)),
				 errdetail("%s", why),
				 errhint("Connect through a read-write endpoint of the branch.")));
}

void
pgw_readonly_init(void)
{
	wrap_read_only_checks();

	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = readonly_ExecutorStart;
	prev_object_access_hook = object_access_hook;
	object_access_hook = readonly_object_access;
}
