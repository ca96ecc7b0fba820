/*-------------------------------------------------------------------------
 *
 * readonly.c
 *	  What a read-only endpoint refuses on top of PostgreSQL's checks of a
 *	  read-only transaction: the functions and statements that write WAL,
 *	  files or shared state without asking whether the transaction may.
 *
 * branches.c makes every transaction of a read-only session read-only
 * (XactReadOnly forced on, the settings that could turn it off refused)
 * and, as a backstop, fails the commit of any transaction that acquired a
 * transaction ID.  That stops every write that goes through the executor or
 * needs a transaction ID.  What remains are the server functions and
 * statements that act without one: WAL records without a transaction
 * (logical messages, WAL switches, restore points, index summarisation),
 * replication slots and origins, shared statistics, the server's own state
 * (configuration reload, log rotation, promotion, backups), notifications
 * to other sessions (queued after every commit check), and the assignment
 * of transaction IDs itself.
 *
 * How the list was made: from the server's catalog, not from memory.
 * tests/readonly_functions.py lists every function of pg_proc that is not
 * immutable and classifies each one; the functions below are those it
 * classifies as writing, and a test fails when a non-immutable function
 * appears that is in neither this table nor the script's list of allowed
 * ones.  Each entry is tested through a real read-only endpoint, as a
 * plain role and as a superuser (tests/test_security_gate.py).
 *
 * Decided as allowed (they do what a hot standby allows): advisory locks,
 * LISTEN, signalling other sessions (pg_cancel_backend and friends, with
 * their usual privileges), set_config() of any setting but the two that
 * turn read-only off (branches.c refuses those), exporting snapshots.
 *
 * Functions are checked as they are about to run (OAT_FUNCTION_EXECUTE,
 * branches.c's object_access_hook), by OID for the built-in ones.  A
 * function of LANGUAGE internal created later (by a superuser, on a
 * read-write endpoint) is judged as the built-in it calls, and pgwarden's
 * own C functions that write catalogs by their symbol.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "nodes/parsenodes.h"
#include "storage/lockdefs.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/syscache.h"

#include "compat.h"
#include "pgwarden.h"
#include "readonly.h"

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

PG_FUNCTION_INFO_V1(pgwarden_readonly_refusals);

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

/* Does probin name pgwarden's library ($libdir/pgwarden, with or without .so)? */
static bool
is_pgwarden_library(const char *probin)
{
	const char *base = strrchr(probin, '/');

	base = base ? base + 1 : probin;
	return strcmp(base, "pgwarden") == 0 || strcmp(base, "pgwarden" DLSUFFIX) == 0;
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
			if (!isnull && is_pgwarden_library(TextDatumGetCString(datum)))
				kind = own_kind(prosrc);
		}
	}
	ReleaseSysCache(tup);
	return kind;
}

const char *
pgw_readonly_refused_function(Oid fn)
{
	int			kind = function_kind(fn);

	return kind < 0 ? NULL : kinds[kind].detail;
}

const char *
pgw_readonly_refused_statement(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
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
 * pgwarden._readonly_refusals() RETURNS TABLE(function oid, kind text, detail text)
 * Every function a read-only endpoint refuses, for the classification test
 * and for admins: the built-ins, then pgwarden's own (found by symbol).
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

		if (prosrc == NULL || probin == NULL || !is_pgwarden_library(probin) ||
			(kind = own_kind(prosrc)) < 0)
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
