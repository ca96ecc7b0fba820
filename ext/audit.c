/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  The audit trail of the policy: pgwarden.audit_log.
 *
 * Changes of the policy tables are recorded by row triggers (the install
 * script's pgwarden._audit_row()) in the transaction that makes them.  This
 * file owns what the triggers cannot do:
 *
 *	- ALTER SYSTEM of a pgwarden.* setting or of shared_preload_libraries
 *	  (ProcessUtility hook).  In the control database the row is written in
 *	  the statement's own transaction before the file is changed (a failing
 *	  ALTER SYSTEM leaves no row); elsewhere, and where the transaction
 *	  cannot write (a standby, a read-only transaction), it is queued once
 *	  the statement succeeded.
 *	- Refusals, whose transaction aborts: a password the policy refused
 *	  (check_password_hook wrapped around password.c's, which is never shown
 *	  the difference) and every error with SQLSTATE PW001 or PW002, however
 *	  it is raised (C, PL/pgSQL, caught by an exception block or not): an
 *	  error context callback, pushed by the ProcessUtility and executor
 *	  (start, run, finish) hooks, sees every error as it is raised.  Such
 *	  events go to a queue in shared memory; the policy loader (policy.c, a
 *	  task registered here) writes them into pgwarden.audit_log in a
 *	  transaction of its own within a poll (100 ms), woken at once.  The queue holds AUDIT_QUEUE_LEN
 *	  events; beyond that events are counted as dropped and the count is
 *	  recorded (action audit.dropped).  A crash loses what was queued.
 *	- Append-only: the trigger pgwarden._audit_append_only() refuses UPDATE,
 *	  DELETE and TRUNCATE for everyone; only pgwarden.audit_prune() (C,
 *	  superusers) deletes rows, and it records that it ran.
 *	- Tamper resistance: outside extension scripts the ProcessUtility hook
 *	  refuses, for superusers too, what would silence the triggers or rewrite
 *	  the log: dropping, renaming, enabling or disabling the audit triggers
 *	  (also through DISABLE TRIGGER ALL / USER), any ALTER TABLE, rename, new
 *	  trigger or rule on the audit log, replacing, altering, renaming or
 *	  moving the audit functions, and ALTER EXTENSION pgwarden DROP.  While
 *	  a branch is protected protect.c refuses all of that and more (PW001)
 *	  first.  The triggers are ENABLE ALWAYS, so session_replication_role
 *	  does not switch them off.
 *
 * No password reaches the log: a refused password is recorded by its role,
 * who tried, the bits and findings of the estimate (parsed from the DETAIL,
 * which password.c guarantees never echoes it) and the message; as a second
 * guard, message and detail are withheld if they contain the password.
 *
 * Locking: one LWLock (tranche "pgwarden_audit") protects the queue; it is
 * held only to copy events in or out, never on the connection path.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/socket.h>
#include <netdb.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "commands/user.h"
#include "libpq/crypt.h"
#include "common/ip.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parse_func.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/formatting.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

/* see gate.c: nothing here touches GSSAPI state */
#undef ENABLE_GSS
#include "libpq/libpq-be.h"

#include "audit.h"
#include "branches.h"
#include "compat.h"
#include "constants.h"
#include "password.h"
#include "policy.h"
#include "safespi.h"

#define AUDIT_QUEUE_LEN		128
#define AUDIT_JSON_LEN		1536
#define AUDIT_TEXT_CLIP		400 /* bytes of a message kept in an event */
#define AUDIT_FLUSH_BATCH	32
#define AUDIT_DROPPED_ROLES 64

typedef struct PgwAuditEvent
{
	TimestampTz at;
	uint64		xid;			/* FullTransactionId; 0: none assigned */
	char		session_user[NAMEDATALEN];
	char		current_user[NAMEDATALEN];
	char		client[64];		/* "": Unix socket or background process */
	char		appname[NAMEDATALEN];
	char		database[NAMEDATALEN];
	char		action[32];
	char		object[2 * NAMEDATALEN];
	char		after[AUDIT_JSON_LEN];	/* JSON object, "" for none */
} PgwAuditEvent;

typedef struct PgwAuditQueue
{
	LWLock	   *lock;
	uint64		head;			/* next to write out */
	uint64		tail;			/* next free; tail - head events queued */
	uint64		dropped;		/* lost because the queue was full */
	PgwAuditEvent ev[AUDIT_QUEUE_LEN];
} PgwAuditQueue;

static PgwAuditQueue *queue = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static check_password_hook_type prev_check_password_hook = NULL;

/* pgwarden.audit_prune() is deleting: the append-only trigger lets it. */
static bool prune_active = false;

/* Roles dropped by this transaction, so their audit rows can name them. */
static LocalTransactionId dropped_roles_lxid = InvalidLocalTransactionId;
static int	n_dropped_roles = 0;
static Oid	dropped_role_oid[AUDIT_DROPPED_ROLES];
static NameData dropped_role_name[AUDIT_DROPPED_ROLES];

/* the loader's flushes; a backend's recording of one refusal */
static MemoryContext audit_cxt = NULL;
static MemoryContext event_cxt = NULL;

PG_FUNCTION_INFO_V1(pgwarden_audit_append_only);
PG_FUNCTION_INFO_V1(pgwarden_audit_prune);
PG_FUNCTION_INFO_V1(pgwarden_audit_outer_user);
PG_FUNCTION_INFO_V1(pgwarden_audit_role_name);

static const char insert_sql[] =
"INSERT INTO pgwarden.audit_log (at, session_user_name, current_user_name, client_addr,"
" application_name, database, action, object, before, after, xid)"
" VALUES ($1, $2, $3, $4::pg_catalog.inet, $5, $6, $7, $8, $9::pg_catalog.jsonb,"
" $10::pg_catalog.jsonb, $11::pg_catalog.xid8)";

/* ----------------------------------------------------------------
 *	Shared memory
 * ----------------------------------------------------------------
 */
static void
audit_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(sizeof(PgwAuditQueue));
	RequestNamedLWLockTranche("pgwarden_audit", 1);
}

static void
audit_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	queue = NULL;
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	queue = ShmemInitStruct("pgwarden audit queue", sizeof(PgwAuditQueue), &found);
	if (!found)
	{
		memset(queue, 0, sizeof(PgwAuditQueue));
		queue->lock = &(GetNamedLWLockTranche("pgwarden_audit"))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
}

/* ----------------------------------------------------------------
 *	Events: who, from where, when
 * ----------------------------------------------------------------
 */
static void
copy_name(char *dst, Oid roleid)
{
	char	   *s = OidIsValid(roleid) ? GetUserNameFromId(roleid, true) : NULL;

	strlcpy(dst, s ? s : "", NAMEDATALEN);
}

/* Fill in the context of the current session; needs a transaction. */
static void
capture_context(PgwAuditEvent *ev)
{
	FullTransactionId fxid = InvalidFullTransactionId;

	memset(ev, 0, sizeof(PgwAuditEvent));
	ev->at = GetCurrentTimestamp();
	if (IsTransactionState())
		fxid = GetTopFullTransactionIdIfAny();
	ev->xid = FullTransactionIdIsValid(fxid) ? U64FromFullTransactionId(fxid) : 0;
	copy_name(ev->session_user, GetSessionUserId());
	copy_name(ev->current_user, GetOuterUserId());
	if (MyProcPort != NULL &&
		(MyProcPort->raddr.addr.ss_family == AF_INET ||
		 MyProcPort->raddr.addr.ss_family == AF_INET6))
	{
		if (pg_getnameinfo_all(&MyProcPort->raddr.addr, MyProcPort->raddr.salen,
							   ev->client, sizeof(ev->client), NULL, 0,
							   NI_NUMERICHOST) != 0)
			ev->client[0] = '\0';
	}
	strlcpy(ev->appname, application_name ? application_name : "", NAMEDATALEN);
	if (OidIsValid(MyDatabaseId))
	{
		char	   *db = get_database_name(MyDatabaseId);

		strlcpy(ev->database, db ? db : "", NAMEDATALEN);
	}
}

/* A string clipped to at most AUDIT_TEXT_CLIP bytes on a character boundary. */
static void
append_json_clipped(StringInfo buf, const char *s)
{
	int			len = strlen(s);

	if (len > AUDIT_TEXT_CLIP)
	{
		char	   *c = pnstrdup(s, pg_mbcliplen(s, len, AUDIT_TEXT_CLIP));

		escape_json(buf, c);
		pfree(c);
	}
	else
		escape_json(buf, s);
}

static void
push_event(const PgwAuditEvent *ev)
{
	if (queue == NULL)
		return;
	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	if (queue->tail - queue->head >= AUDIT_QUEUE_LEN)
		queue->dropped++;
	else
	{
		memcpy(&queue->ev[queue->tail % AUDIT_QUEUE_LEN], ev, sizeof(PgwAuditEvent));
		queue->tail++;
	}
	LWLockRelease(queue->lock);
	pgw_policy_wake_loader();
}

static void
set_event(PgwAuditEvent *ev, const char *action, const char *object,
		  const char *after_json)
{
	strlcpy(ev->action, action, sizeof(ev->action));
	strlcpy(ev->object, object ? object : "", sizeof(ev->object));
	if (after_json == NULL)
		ev->after[0] = '\0';
	else if (strlen(after_json) < sizeof(ev->after))
		strlcpy(ev->after, after_json, sizeof(ev->after));
	else
		strlcpy(ev->after, "{\"truncated\": true}", sizeof(ev->after));
}

/*
 * Record an event that must outlive the current transaction (a refusal:
 * the transaction is about to abort): it goes to the queue, which the
 * policy loader writes into pgwarden.audit_log in a transaction of its
 * own.  after_json is a JSON object (text) or NULL.  Never raises an
 * error; a full queue counts the event as dropped.
 */
static void
audit_enqueue(const char *action, const char *object, const char *after_json)
{
	PgwAuditEvent ev;

	capture_context(&ev);
	set_event(&ev, action, object, after_json);
	push_event(&ev);
}

/* Insert one event with SPI (connected by the caller). */
static void
insert_event(const PgwAuditEvent *ev, const char *before_json)
{
	Oid			types[11] = {TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[11];
	char		nulls[11];
	char		xid[32];

	memset(nulls, ' ', sizeof(nulls));
	values[0] = TimestampTzGetDatum(ev->at);
#define TEXT_OR_NULL(i, s) \
	do { \
		if ((s) != NULL && (s)[0] != '\0') \
			values[i] = CStringGetTextDatum(s); \
		else \
		{ \
			values[i] = (Datum) 0; \
			nulls[i] = 'n'; \
		} \
	} while (0)
	TEXT_OR_NULL(1, ev->session_user);
	TEXT_OR_NULL(2, ev->current_user);
	TEXT_OR_NULL(3, ev->client);
	values[4] = CStringGetTextDatum(ev->appname);
	TEXT_OR_NULL(5, ev->database);
	values[6] = CStringGetTextDatum(ev->action);
	TEXT_OR_NULL(7, ev->object);
	TEXT_OR_NULL(8, before_json);
	TEXT_OR_NULL(9, ev->after);
	if (ev->xid != 0)
		snprintf(xid, sizeof(xid), UINT64_FORMAT, ev->xid);
	else
		xid[0] = '\0';
	TEXT_OR_NULL(10, xid);
#undef TEXT_OR_NULL
	if (SPI_execute_with_args(insert_sql, 11, types, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into pgwarden.audit_log");
}

/* Is pgwarden created in this database with its audit log (0.2.0 SQL)? */
static bool
audit_log_here(void)
{
	Oid			nsp;

	if (!OidIsValid(get_extension_oid("pgwarden", true)))
		return false;
	nsp = get_namespace_oid("pgwarden", true);
	return OidIsValid(nsp) && OidIsValid(get_relname_relid("audit_log", nsp));
}

/* ----------------------------------------------------------------
 *	Writing out the queue (a task of the policy loader)
 * ----------------------------------------------------------------
 */
/* Write one batch; true when it was full (more may be waiting). */
static bool
audit_flush_batch(void)
{
	static bool warned = false;
	PgwAuditEvent *batch;
	int			n;
	uint64		dropped;
	MemoryContext oldcxt;

	bool		more = false;

	if (queue == NULL || RecoveryInProgress())
		return false;
	LWLockAcquire(queue->lock, LW_SHARED);
	n = (int) Min(queue->tail - queue->head, AUDIT_FLUSH_BATCH);
	dropped = queue->dropped;
	LWLockRelease(queue->lock);
	if (n == 0 && dropped == 0)
		return false;

	oldcxt = MemoryContextSwitchTo(audit_cxt);
	batch = palloc(sizeof(PgwAuditEvent) * n);
	LWLockAcquire(queue->lock, LW_SHARED);
	for (int i = 0; i < n; i++)
		memcpy(&batch[i], &queue->ev[(queue->head + i) % AUDIT_QUEUE_LEN],
			   sizeof(PgwAuditEvent));
	LWLockRelease(queue->lock);

	PG_TRY();
	{
		bool		here;
		int			nestlevel;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		nestlevel = pgw_spi_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		here = audit_log_here();
		if (here)
		{
			for (int i = 0; i < n; i++)
				insert_event(&batch[i], NULL);
			if (dropped > 0)
			{
				PgwAuditEvent ev;
				char		after[64];

				memset(&ev, 0, sizeof(ev));
				ev.at = GetCurrentTimestamp();
				snprintf(after, sizeof(after), "{\"dropped\": " UINT64_FORMAT "}", dropped);
				set_event(&ev, "audit.dropped", NULL, after);
				insert_event(&ev, NULL);
			}
		}
		pgw_spi_finish(nestlevel);
		PopActiveSnapshot();
		CommitTransactionCommand();
		if (here)
		{
			LWLockAcquire(queue->lock, LW_EXCLUSIVE);
			queue->head += n;
			queue->dropped -= dropped;
			LWLockRelease(queue->lock);
			warned = false;
			more = (n == AUDIT_FLUSH_BATCH);
		}
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(audit_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		if (!warned)
			ereport(WARNING,
					(errcode(edata->sqlerrcode),
					 errmsg("pgwarden: could not write queued events to pgwarden.audit_log: %s",
							edata->message),
					 errhint("They stay queued and are written when the audit log can be written again.")));
		warned = true;
		FreeErrorData(edata);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(audit_cxt);
	return more;
}

/* The policy loader's task: empty the queue, one transaction per batch. */
static void
audit_flush(void)
{
	for (int i = 0; i <= AUDIT_QUEUE_LEN / AUDIT_FLUSH_BATCH; i++)
		if (!audit_flush_batch())
			break;
}

/* ----------------------------------------------------------------
 *	Refusals
 * ----------------------------------------------------------------
 */

/* The first double-quoted name in a message ("branch \"shop\" is ..."). */
static char *
quoted_name(const char *msg)
{
	const char *a = msg ? strchr(msg, '"') : NULL;
	const char *b = a ? strchr(a + 1, '"') : NULL;

	if (a == NULL || b == NULL)
		return NULL;
	return pnstrdup(a + 1, b - a - 1);
}

static void
record_protection_refusal(const ErrorData *edata)
{
	PgwAuditEvent ev;
	StringInfoData after;
	char		code[6];

	capture_context(&ev);
	strlcpy(code, unpack_sql_state(edata->sqlerrcode), sizeof(code));
	initStringInfo(&after);
	appendStringInfo(&after, "{\"sqlstate\": \"%s\", \"message\": ", code);
	append_json_clipped(&after, edata->message ? edata->message : "");
	appendStringInfoString(&after, ", \"detail\": ");
	if (edata->detail)
		append_json_clipped(&after, edata->detail);
	else
		appendStringInfoString(&after, "null");
	appendStringInfoChar(&after, '}');
	set_event(&ev, edata->sqlerrcode == ERRCODE_PGW_BRANCH_ROLE ?
			  "branch_role.refused" : "protection.refused",
			  quoted_name(edata->message), after.data);
	push_event(&ev);
}

/*
 * Error context callback: runs for every error raised while it is on the
 * stack, before any handler catches it.  Only PW001 and PW002 interest it.
 */
static void
refusal_callback(void *arg)
{
	int			code = geterrcode();
	MemoryContext oldcxt;
	ErrorData  *edata;

	if (code != ERRCODE_PGW_PROTECTED_BRANCH && code != ERRCODE_PGW_BRANCH_ROLE)
		return;
	oldcxt = MemoryContextSwitchTo(event_cxt);
	edata = CopyErrorData();
	if (edata->elevel >= ERROR)
		record_protection_refusal(edata);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(event_cxt);
}

static bool
push_refusal_callback(ErrorContextCallback *cb)
{
	for (ErrorContextCallback *e = error_context_stack; e != NULL; e = e->previous)
		if (e->callback == refusal_callback)
			return false;
	cb->callback = refusal_callback;
	cb->arg = NULL;
	cb->previous = error_context_stack;
	error_context_stack = cb;
	return true;
}

/* Findings listed in password.c's DETAIL: "... Found: a, b, c." */
static void
append_findings(StringInfo buf, const char *detail)
{
	const char *f = detail ? strstr(detail, "Found: ") : NULL;
	bool		first = true;

	appendStringInfoChar(buf, '[');
	if (detail && strstr(detail, "contains the role name"))
	{
		escape_json(buf, "the role name");
		first = false;
	}
	if (f)
	{
		char	   *list = pstrdup(f + 7);
		int			len = strlen(list);
		char	   *tok;
		char	   *save;

		if (len > 0 && list[len - 1] == '.')
			list[len - 1] = '\0';
		for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		{
			while (*tok == ' ')
				tok++;
			if (!first)
				appendStringInfoString(buf, ", ");
			append_json_clipped(buf, tok);
			first = false;
		}
		pfree(list);
	}
	appendStringInfoChar(buf, ']');
}

static void
record_password_refusal(PgwAuditEvent *ev, const char *username,
						const char *password, PasswordType type,
						const ErrorData *edata)
{
	StringInfoData after;
	const char *message = edata->message;
	const char *detail = edata->detail;
	double		bits;

	/* password.c never echoes the password; be sure anyway */
	if (password != NULL && strlen(password) >= 8 &&
		((message && strstr(message, password)) || (detail && strstr(detail, password))))
	{
		message = "(withheld)";
		detail = NULL;
	}
	initStringInfo(&after);
	appendStringInfo(&after, "{\"sqlstate\": \"%s\", \"role\": ",
					 unpack_sql_state(edata->sqlerrcode));
	append_json_clipped(&after, username ? username : "");
	appendStringInfo(&after, ", \"password_type\": \"%s\", \"bits\": ",
					 type == PASSWORD_TYPE_PLAINTEXT ? "plaintext" :
					 type == PASSWORD_TYPE_MD5 ? "md5" : "scram-sha-256");
	if (detail && sscanf(detail, "Estimated entropy is %lf bits", &bits) == 1)
		appendStringInfo(&after, "%.1f", bits);
	else
		appendStringInfoString(&after, "null");
	appendStringInfo(&after, ", \"min_bits\": %.1f, \"findings\": ", pgw_min_password_entropy);
	append_findings(&after, detail);
	appendStringInfoString(&after, ", \"message\": ");
	append_json_clipped(&after, message ? message : "");
	appendStringInfoString(&after, ", \"detail\": ");
	if (detail)
		append_json_clipped(&after, detail);
	else
		appendStringInfoString(&after, "null");
	appendStringInfoChar(&after, '}');
	set_event(ev, "password.refused", username, after.data);
	push_event(ev);
}

/*
 * Around password.c's hook (installed after it, so called first): whatever
 * it refuses is queued before the error travels on.  The password itself is
 * only handed on.
 */
static void
audit_check_password(const char *username, const char *shadow_pass,
					 PasswordType password_type, Datum validuntil_time,
					 bool validuntil_null)
{
	PgwAuditEvent ev;
	MemoryContext oldcxt = CurrentMemoryContext;

	if (prev_check_password_hook == NULL)
		return;
	capture_context(&ev);
	PG_TRY();
	{
		prev_check_password_hook(username, shadow_pass, password_type,
								 validuntil_time, validuntil_null);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(event_cxt);
		edata = CopyErrorData();
		if (edata->elevel >= ERROR)
			record_password_refusal(&ev, username, shadow_pass, password_type, edata);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(event_cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* ----------------------------------------------------------------
 *	Tamper resistance
 * ----------------------------------------------------------------
 */

/* pgwarden's extension OID and schema (by catalog scan), or InvalidOid. */
static Oid
pgwarden_extension(Oid *nsp)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			result = InvalidOid;

	*nsp = InvalidOid;
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("pgwarden"));
	rel = table_open(ExtensionRelationId, AccessShareLock);
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		result = ((Form_pg_extension) GETSTRUCT(tup))->oid;
		*nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

static void
refuse_tamper(const char *what, const char *object)
{
	char	   *after = psprintf("{\"statement\": \"%s\"}", what);

	audit_enqueue("audit.tamper_refused", object, after);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s on %s is refused", what, object),
			 errdetail("pgwarden's audit trail records every change of the policy; its tables, triggers and functions cannot be altered outside the extension's scripts."),
			 errhint("Change the policy through the pgwarden functions; rows of the audit log are removed with SELECT pgwarden.audit_prune(interval) as a superuser.")));
}

/* The functions the audit trail is made of, by name in pgwarden's schema. */
static const char *const audit_functions[] = {
	"_audit_row", "_audit_append_only", "_audit_outer_user", "_audit_role_name",
	"_audit_next_id", "audit_prune", "gate_stats_reset", "_gate_stats_reset", "_gate_stats"
};

static bool
is_audit_function(Oid fn, Oid ext, Oid nsp)
{
	char	   *name;

	if (!OidIsValid(fn) || get_func_namespace(fn) != nsp ||
		getExtensionOfObject(ProcedureRelationId, fn) != ext)
		return false;
	name = get_func_name(fn);
	for (int i = 0; i < lengthof(audit_functions); i++)
		if (name && strcmp(name, audit_functions[i]) == 0)
			return true;
	return false;
}

/* Does a trigger of relid (a given one, or any when name is NULL) record the audit? */
static bool
has_audit_trigger(Oid relid, const char *name, Oid ext, Oid nsp)
{
	Relation	rel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, TriggerRelidNameIndexId, true, NULL, 1, &key);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_trigger t = (Form_pg_trigger) GETSTRUCT(tup);

		if (name != NULL && strcmp(NameStr(t->tgname), name) != 0)
			continue;
		found = is_audit_function(t->tgfoid, ext, nsp);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

static bool
trigger_subcommand(AlterTableType t, bool *all)
{
	*all = false;
	switch (t)
	{
		case AT_EnableTrigAll:
		case AT_DisableTrigAll:
		case AT_EnableTrigUser:
		case AT_DisableTrigUser:
			*all = true;
			return true;
		case AT_EnableTrig:
		case AT_EnableAlwaysTrig:
		case AT_EnableReplicaTrig:
		case AT_DisableTrig:
			return true;
		default:
			return false;
	}
}

static Oid
relation_of(RangeVar *rv)
{
	return rv ? RangeVarGetRelid(rv, NoLock, true) : InvalidOid;
}

/*
 * Refuse what would silence the audit triggers or rewrite the log.  While a
 * branch is protected, protect.c refuses every change to pgwarden's objects
 * (PW001) and this has nothing to add.
 */
static void
guard_audit_objects(Node *parsetree)
{
	Oid			ext;
	Oid			nsp;
	Oid			audit_rel;
	Oid			relid;

	if (creating_extension)
		return;
	switch (nodeTag(parsetree))
	{
		case T_DropStmt:
			if (((DropStmt *) parsetree)->removeType != OBJECT_TRIGGER)
				return;
			break;
		case T_CreateFunctionStmt:
			if (!((CreateFunctionStmt *) parsetree)->replace)
				return;
			break;
		case T_AlterTableStmt:
		case T_CreateTrigStmt:
		case T_RuleStmt:
		case T_RenameStmt:
		case T_AlterObjectSchemaStmt:
		case T_AlterFunctionStmt:
		case T_AlterExtensionContentsStmt:
			break;
		default:
			return;
	}

	ext = pgwarden_extension(&nsp);
	if (!OidIsValid(ext) || pgw_protected_branch_names() != NULL)
		return;
	audit_rel = get_relname_relid("audit_log", nsp);

	switch (nodeTag(parsetree))
	{
		case T_DropStmt:
			{
				ListCell   *lc;

				foreach(lc, ((DropStmt *) parsetree)->objects)
				{
					List	   *names = list_copy(lfirst(lc));
					char	   *trigger = strVal(llast(names));

					if (list_length(names) < 2)
						continue;
					names = list_truncate(names, list_length(names) - 1);
					relid = RangeVarGetRelid(makeRangeVarFromNameList(names), NoLock, true);
					if (OidIsValid(relid) && has_audit_trigger(relid, trigger, ext, nsp))
						refuse_tamper("DROP TRIGGER",
									  psprintf("trigger %s of table pgwarden.%s",
											   trigger, get_rel_name(relid)));
				}
			}
			break;
		case T_AlterTableStmt:
			{
				AlterTableStmt *stmt = (AlterTableStmt *) parsetree;
				ListCell   *lc;

				relid = relation_of(stmt->relation);
				if (!OidIsValid(relid))
					return;
				if (relid == audit_rel)
					refuse_tamper("ALTER TABLE", "table pgwarden.audit_log");
				foreach(lc, stmt->cmds)
				{
					AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
					bool		all;

					if (trigger_subcommand(cmd->subtype, &all) &&
						has_audit_trigger(relid, all ? NULL : cmd->name, ext, nsp))
						refuse_tamper("ALTER TABLE ... ENABLE/DISABLE TRIGGER",
									  psprintf("the audit trigger of table pgwarden.%s",
											   get_rel_name(relid)));
				}
			}
			break;
		case T_CreateTrigStmt:
			if (relation_of(((CreateTrigStmt *) parsetree)->relation) == audit_rel)
				refuse_tamper("CREATE TRIGGER", "table pgwarden.audit_log");
			break;
		case T_RuleStmt:
			if (relation_of(((RuleStmt *) parsetree)->relation) == audit_rel)
				refuse_tamper("CREATE RULE", "table pgwarden.audit_log");
			break;
		case T_RenameStmt:
			{
				RenameStmt *stmt = (RenameStmt *) parsetree;

				if (stmt->relation != NULL)
				{
					relid = relation_of(stmt->relation);
					if (relid == audit_rel)
						refuse_tamper("ALTER TABLE ... RENAME", "table pgwarden.audit_log");
					if (stmt->renameType == OBJECT_TRIGGER &&
						has_audit_trigger(relid, stmt->subname, ext, nsp))
						refuse_tamper("ALTER TRIGGER ... RENAME",
									  psprintf("the audit trigger of table pgwarden.%s",
											   get_rel_name(relid)));
				}
				else if ((stmt->renameType == OBJECT_FUNCTION ||
						  stmt->renameType == OBJECT_ROUTINE) &&
						 is_audit_function(LookupFuncWithArgs(stmt->renameType,
															  castNode(ObjectWithArgs, stmt->object),
															  true), ext, nsp))
					refuse_tamper("ALTER FUNCTION ... RENAME", "an audit function of pgwarden");
			}
			break;
		case T_AlterObjectSchemaStmt:
			{
				AlterObjectSchemaStmt *stmt = (AlterObjectSchemaStmt *) parsetree;

				if (stmt->relation != NULL && relation_of(stmt->relation) == audit_rel)
					refuse_tamper("ALTER TABLE ... SET SCHEMA", "table pgwarden.audit_log");
				if ((stmt->objectType == OBJECT_FUNCTION || stmt->objectType == OBJECT_ROUTINE) &&
					is_audit_function(LookupFuncWithArgs(stmt->objectType,
														 castNode(ObjectWithArgs, stmt->object),
														 true), ext, nsp))
					refuse_tamper("ALTER FUNCTION ... SET SCHEMA", "an audit function of pgwarden");
			}
			break;
		case T_CreateFunctionStmt:
			{
				char	   *fname;

				if (QualifiedNameGetCreationNamespace(((CreateFunctionStmt *) parsetree)->funcname,
													  &fname) != nsp)
					return;
				for (int i = 0; i < lengthof(audit_functions); i++)
					if (strcmp(fname, audit_functions[i]) == 0)
						refuse_tamper("CREATE OR REPLACE FUNCTION",
									  psprintf("function pgwarden.%s", fname));
			}
			break;
		case T_AlterFunctionStmt:
			{
				AlterFunctionStmt *stmt = (AlterFunctionStmt *) parsetree;

				if (is_audit_function(LookupFuncWithArgs(stmt->objtype, stmt->func, true),
									  ext, nsp))
					refuse_tamper("ALTER FUNCTION", "an audit function of pgwarden");
			}
			break;
		case T_AlterExtensionContentsStmt:
			if (strcmp(((AlterExtensionContentsStmt *) parsetree)->extname, "pgwarden") == 0 &&
				((AlterExtensionContentsStmt *) parsetree)->action < 0)
				refuse_tamper("ALTER EXTENSION ... DROP", "extension pgwarden");
			break;
		default:
			break;
	}
}

/* ----------------------------------------------------------------
 *	ALTER SYSTEM of pgwarden's settings, dropped roles
 * ----------------------------------------------------------------
 */
/* pgwarden's settings, and the one that decides whether pgwarden runs at all */
static bool
audited_alter_system(VariableSetStmt *set)
{
	return set->kind == VAR_RESET_ALL ||
		(set->name != NULL &&
		 (pg_strncasecmp(set->name, "pgwarden.", 9) == 0 ||
		  pg_strcasecmp(set->name, "shared_preload_libraries") == 0));
}

static void
alter_system_event(VariableSetStmt *set, PgwAuditEvent *ev, char **before)
{
	StringInfoData after;
	const char *action;
	char	   *value = NULL;

	capture_context(ev);
	initStringInfo(&after);
	*before = NULL;
	if (set->kind == VAR_RESET_ALL)
		action = "setting.reset_all";
	else
	{
		const char *current = GetConfigOption(set->name, true, false);
		StringInfoData b;

		initStringInfo(&b);
		appendStringInfoString(&b, "{\"value\": ");
		if (current)
			append_json_clipped(&b, current);
		else
			appendStringInfoString(&b, "null");
		appendStringInfoChar(&b, '}');
		*before = b.data;
		if (set->kind == VAR_SET_VALUE)
		{
			action = "setting.set";
			value = ExtractSetVariableArgs(set);
		}
		else
			action = "setting.reset";
	}
	appendStringInfoString(&after, "{\"value\": ");
	if (value)
		append_json_clipped(&after, value);
	else
		appendStringInfoString(&after, "null");
	appendStringInfoString(&after, ", \"via\": \"ALTER SYSTEM\"}");
	set_event(ev, action, set->kind == VAR_RESET_ALL ? "ALL" : asc_tolower(set->name, strlen(set->name)),
			  after.data);
}

static void
remember_dropped_roles(DropRoleStmt *stmt)
{
	ListCell   *lc;

	if (dropped_roles_lxid != PGW_PROC_LXID(MyProc))
	{
		n_dropped_roles = 0;
		dropped_roles_lxid = PGW_PROC_LXID(MyProc);
	}
	foreach(lc, stmt->roles)
	{
		RoleSpec   *rs = lfirst(lc);
		Oid			oid;

		if (rs->roletype != ROLESPEC_CSTRING || n_dropped_roles >= AUDIT_DROPPED_ROLES)
			continue;
		oid = get_role_oid(rs->rolename, true);
		if (!OidIsValid(oid))
			continue;
		dropped_role_oid[n_dropped_roles] = oid;
		namestrcpy(&dropped_role_name[n_dropped_roles], rs->rolename);
		n_dropped_roles++;
	}
}

/* ----------------------------------------------------------------
 *	Hooks
 * ----------------------------------------------------------------
 */
static void
audit_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					 bool readOnlyTree, ProcessUtilityContext context,
					 ParamListInfo params, QueryEnvironment *queryEnv,
					 DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	ErrorContextCallback cb;
	bool		pushed = push_refusal_callback(&cb);
	bool		queue_after = false;
	PgwAuditEvent ev;

	guard_audit_objects(parsetree);
	if (IsA(parsetree, DropRoleStmt))
		remember_dropped_roles((DropRoleStmt *) parsetree);
	if (IsA(parsetree, AlterSystemStmt) &&
		audited_alter_system(((AlterSystemStmt *) parsetree)->setstmt))
	{
		char	   *before;

		alter_system_event(((AlterSystemStmt *) parsetree)->setstmt, &ev, &before);
		if (!RecoveryInProgress() && !XactReadOnly && audit_log_here())
		{
			/* the same transaction: a failing ALTER SYSTEM leaves no row */
			int			nestlevel = pgw_spi_connect();

			insert_event(&ev, before);
			pgw_spi_finish(nestlevel);
		}
		else
			queue_after = true;
	}

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);

	if (queue_after)
		push_event(&ev);
	if (pushed)
		error_context_stack = cb.previous;
}

/*
 * The executor's three phases: functions are checked as the plan is set up
 * (object_access_hook, OAT_FUNCTION_EXECUTE), run in ExecutorRun, and AFTER
 * triggers (foreign-key cascades included) fire in ExecutorFinish.
 */
static void
audit_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	ErrorContextCallback cb;
	bool		pushed = push_refusal_callback(&cb);

	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
	if (pushed)
		error_context_stack = cb.previous;
}

static void
audit_ExecutorFinish(QueryDesc *queryDesc)
{
	ErrorContextCallback cb;
	bool		pushed = push_refusal_callback(&cb);

	if (prev_ExecutorFinish)
		prev_ExecutorFinish(queryDesc);
	else
		standard_ExecutorFinish(queryDesc);
	if (pushed)
		error_context_stack = cb.previous;
}

static void
audit_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction, uint64 count
				  PGW_EXECUTOR_RUN_ONCE_PARAM)
{
	ErrorContextCallback cb;
	bool		pushed = push_refusal_callback(&cb);

	if (prev_ExecutorRun)
		prev_ExecutorRun(queryDesc, direction, count PGW_EXECUTOR_RUN_ONCE_ARG);
	else
		standard_ExecutorRun(queryDesc, direction, count PGW_EXECUTOR_RUN_ONCE_ARG);
	if (pushed)
		error_context_stack = cb.previous;
}

/* ----------------------------------------------------------------
 *	SQL-callable
 * ----------------------------------------------------------------
 */

/* Trigger on pgwarden.audit_log: append-only. */
Datum
pgwarden_audit_append_only(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *op;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("pgwarden._audit_append_only() must be called as a trigger")));
	if (TRIGGER_FIRED_BY_DELETE(td->tg_event) && prune_active)
		return PointerGetDatum(td->tg_trigtuple);
	op = TRIGGER_FIRED_BY_DELETE(td->tg_event) ? "DELETE" :
		TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? "UPDATE" : "TRUNCATE";
	audit_enqueue("audit.tamper_refused", "table pgwarden.audit_log",
				  psprintf("{\"statement\": \"%s\"}", op));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("pgwarden.audit_log is append-only: %s is refused", op),
			 errdetail("Rows of the audit log are removed only by pgwarden.audit_prune(), which records that it ran."),
			 errhint("As a superuser: SELECT pgwarden.audit_prune(interval '90 days');")));
	PG_RETURN_NULL();
}

/* pgwarden.audit_prune(older_than interval): superusers only. */
Datum
pgwarden_audit_prune(PG_FUNCTION_ARGS)
{
	Oid			argtypes[1] = {INTERVALOID};
	Datum		args[1];
	bool		isnull;
	bool		negative;
	TimestampTz cutoff;
	uint64		removed = 0;
	PgwAuditEvent ev;
	char	   *after;
	int			nestlevel;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only superusers may prune the pgwarden audit log")));
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("pgwarden.audit_prune needs an interval, not null"),
				 errhint("For example SELECT pgwarden.audit_prune(interval '90 days');")));
	args[0] = PG_GETARG_DATUM(0);

	nestlevel = pgw_spi_connect();
	if (SPI_execute_with_args("SELECT $1 < pg_catalog.make_interval(), pg_catalog.now() - $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not evaluate the pruning interval");
	negative = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	cutoff = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (negative)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pgwarden.audit_prune needs a positive interval"),
				 errhint("Rows older than the interval are removed, for example interval '90 days'.")));

	prune_active = true;
	PG_TRY();
	{
		Oid			t[1] = {TIMESTAMPTZOID};
		Datum		v[1] = {TimestampTzGetDatum(cutoff)};

		if (SPI_execute_with_args("DELETE FROM pgwarden.audit_log WHERE at < $1",
								  1, t, v, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not prune pgwarden.audit_log");
		removed = SPI_processed;
	}
	PG_FINALLY();
	{
		prune_active = false;
	}
	PG_END_TRY();

	capture_context(&ev);
	after = psprintf("{\"older_than\": \"%s\", \"cutoff\": \"%s\", \"removed\": " UINT64_FORMAT "}",
					 DatumGetCString(DirectFunctionCall1(interval_out, args[0])),
					 timestamptz_to_str(cutoff), removed);
	set_event(&ev, "audit.prune", "table pgwarden.audit_log", after);
	insert_event(&ev, NULL);
	pgw_spi_finish(nestlevel);
	PG_RETURN_INT64((int64) removed);
}

/* pgwarden._audit_outer_user(): current_user outside SECURITY DEFINER functions. */
Datum
pgwarden_audit_outer_user(PG_FUNCTION_ARGS)
{
	char	   *name = GetUserNameFromId(GetOuterUserId(), true);
	NameData   *result;

	if (name == NULL)
		PG_RETURN_NULL();
	result = palloc0(sizeof(NameData));
	namestrcpy(result, name);
	PG_RETURN_NAME(result);
}

/* pgwarden._audit_role_name(oid): also for roles this transaction dropped. */
Datum
pgwarden_audit_role_name(PG_FUNCTION_ARGS)
{
	Oid			roleid = PG_GETARG_OID(0);
	char	   *name = GetUserNameFromId(roleid, true);
	NameData   *result = palloc0(sizeof(NameData));

	if (name == NULL && dropped_roles_lxid == PGW_PROC_LXID(MyProc))
		for (int i = 0; i < n_dropped_roles; i++)
			if (dropped_role_oid[i] == roleid)
				name = NameStr(dropped_role_name[i]);
	if (name == NULL)
		PG_RETURN_NULL();
	namestrcpy(result, name);
	PG_RETURN_NAME(result);
}

void
pgw_audit_init(void)
{
	audit_cxt = AllocSetContextCreate(TopMemoryContext, "pgwarden audit",
									  ALLOCSET_SMALL_SIZES);
	event_cxt = AllocSetContextCreate(TopMemoryContext, "pgwarden audit event",
									  ALLOCSET_SMALL_SIZES);

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = audit_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = audit_shmem_startup;

	/* installed last: runs first, around utility.c's and branches.c's hooks */
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = audit_ProcessUtility;
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = audit_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = audit_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = audit_ExecutorFinish;
	prev_check_password_hook = check_password_hook;
	check_password_hook = audit_check_password;

	pgw_policy_register_task(audit_flush);
}
