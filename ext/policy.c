/*-------------------------------------------------------------------------
 *
 * policy.c
 *	  The connection policy in shared memory, and the workers that keep it
 *	  in step with the policy tables.
 *
 * The source of truth is a set of tables in the pgwarden schema of the
 * control database (transactional, dumped by pg_dump, replicated to
 * standbys).  Authentication cannot read them, so this file publishes a
 * snapshot of them in shared memory; see policy.h for the layout and for
 * how a concern adds its own sections.
 *
 * Workers:
 *	- "pgwarden policy launcher" (static, connected to no database, starts
 *	  once the server is consistent, so on hot standbys too).  Every 100 ms
 *	  it looks for the control database (the database carrying the
 *	  security label "pgwarden_control", see read_control_label).  Without
 *	  one it publishes an empty policy (pgwarden is not created anywhere:
 *	  nothing to enforce but pgwarden.require_ssl).  With one it keeps a
 *	  loader running in that database, restarting it when it stops and
 *	  replacing it when the label moves.  After every poll it runs the
 *	  registered launcher tasks (gate.c's warning that require_ssl is on
 *	  while ssl is off).
 *	- "pgwarden policy loader" (dynamic, connected to the control
 *	  database).  Every 100 ms, and at once when a policy change commits on
 *	  this server (the trigger function below sets its latch at commit), it
 *	  reads pgwarden.policy_version; when that changed it runs every
 *	  registered loader and publishes the result, then runs the registered
 *	  tasks (audit.c writes its queued events).  Streaming standbys have no
 *	  commit to wake them, so there the 100 ms poll bounds the delay.
 *
 * Loaders, tasks and launcher tasks are registered by the concerns that
 * own them (allowlist.c, endpoints.c, audit.c, gate.c) from their init
 * functions: this file calls none of them by name.
 *
 * Failing closed: until the first publication after start the state is
 * NOT_LOADED; when the tables cannot be read or a loader rejects their
 * contents, or the snapshot does not fit in pgwarden.policy_memory, or the
 * extension is gone while a branch is still labelled protected, the state
 * becomes DAMAGED.  In both states the gate refuses every connection but a
 * superuser's over a Unix socket (gate.c).  No SQL change can lead there:
 * every transaction that changes a policy table builds the snapshot before
 * it commits and is refused when it would not fit or not load
 * (policy_verify_before_commit).  Errors that a hot standby raises now and
 * then (recovery conflicts) are retried for one second before the policy
 * counts as damaged.
 *
 * Locking: one LWLock (tranche "pgwarden_policy") protects the header and
 * the arena.  The loader builds a snapshot in local memory and copies it in
 * under LW_EXCLUSIVE; readers (the gate's checks, pgw_policy_find) hold
 * LW_SHARED only while they search it, never raise an error, touch no
 * catalog and take no other lock meanwhile.  loader_latch is read without
 * the lock (a stale pointer only causes a spurious wakeup of whichever
 * process owns that PGPROC latch).
 *
 * This file also owns the label provider "pgwarden_control" that marks the
 * control database (only the install script sets it, not while a branch
 * is protected) and the trigger function pgwarden._policy_changed().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "catalog/pg_shseclabel.h"
#include "commands/seclabel.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "postmaster/postmaster.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "constants.h"
#include "policy.h"
#include "protect.h"
#include "safespi.h"

#define PGW_POLICY_MAGIC		0x50475750	/* "PGWP" */
#define PGW_POLL_MS				100
#define PGW_MAX_LOADERS			8
#define PGW_MAX_TASKS			4
#define PGW_MAX_LAUNCHER_TASKS	2
#define PGW_TRANSIENT_RETRIES	10	/* x PGW_POLL_MS before "damaged" */

typedef struct PgwPolicyShared
{
	LWLock	   *lock;
	uint32		magic;
	PgwPolicyState state;
	int64		version;
	Oid			control_db;
	TimestampTz loaded_at;
	Size		used;
	Size		capacity;
	char		detail[256];
	PgwSectionInfo sections[PGW_NUM_SECTIONS];
	/* the running loader, for wakeups */
	pid_t		loader_pid;
	Latch	   *loader_latch;
} PgwPolicyShared;

typedef struct PgwLoaderEntry
{
	const char *name;
	PgwPolicyLoader fn;
} PgwLoaderEntry;

int			pgw_policy_memory_kb = 8192;
int			pgw_policy_load_timeout_ms = 2000;

static PgwPolicyShared *pgw_policy = NULL;
static char *pgw_arena = NULL;

static PgwLoaderEntry pgw_loaders[PGW_MAX_LOADERS];
static int	pgw_nloaders = 0;

static PgwPolicyTask pgw_tasks[PGW_MAX_TASKS];
static int	pgw_ntasks = 0;

static PgwPolicyTask pgw_launcher_tasks[PGW_MAX_LAUNCHER_TASKS];
static int	pgw_nlauncher_tasks = 0;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static bool wake_at_commit = false;
static bool verify_at_commit = false;
static bool xact_callback_registered = false;

PGDLLEXPORT void pgw_policy_launcher_main(Datum main_arg);
PGDLLEXPORT void pgw_policy_loader_main(Datum main_arg);

PG_FUNCTION_INFO_V1(pgwarden_policy_status);
PG_FUNCTION_INFO_V1(pgwarden_policy_changed);

/* ------------------------------------------------------------------------
 * Shared memory
 * ------------------------------------------------------------------------
 */
static Size
header_size(void)
{
	return MAXALIGN(sizeof(PgwPolicyShared));
}

Size
pgw_policy_capacity(void)
{
	return (Size) pgw_policy_memory_kb * 1024;
}

static void
pgw_policy_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(add_size(header_size(), pgw_policy_capacity()));
	RequestNamedLWLockTranche("pgwarden_policy", 1);
}

static void
pgw_policy_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	/* Reset in case this is a restart within the postmaster. */
	pgw_policy = NULL;
	pgw_arena = NULL;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	pgw_policy = ShmemInitStruct("pgwarden policy",
								 add_size(header_size(), pgw_policy_capacity()),
								 &found);
	if (!found)
	{
		memset(pgw_policy, 0, sizeof(PgwPolicyShared));
		pgw_policy->lock = &(GetNamedLWLockTranche("pgwarden_policy"))->lock;
		pgw_policy->magic = PGW_POLICY_MAGIC;
		pgw_policy->state = PGW_POLICY_NOT_LOADED;
		pgw_policy->capacity = pgw_policy_capacity();
		strlcpy(pgw_policy->detail, "the policy has not been loaded since the server started",
				sizeof(pgw_policy->detail));
	}
	pgw_arena = (char *) pgw_policy + header_size();
	LWLockRelease(AddinShmemInitLock);
}

/* ------------------------------------------------------------------------
 * Building and reading snapshots
 * ------------------------------------------------------------------------
 */
void
pgw_policy_register_loader(const char *name, PgwPolicyLoader loader)
{
	if (!process_shared_preload_libraries_in_progress)
		elog(ERROR, "pgwarden policy loaders must be registered in _PG_init");
	if (pgw_nloaders >= PGW_MAX_LOADERS)
		elog(ERROR, "too many pgwarden policy loaders");
	pgw_loaders[pgw_nloaders].name = name;
	pgw_loaders[pgw_nloaders].fn = loader;
	pgw_nloaders++;
}

static void
add_task(PgwPolicyTask *tasks, int *ntasks, int max, PgwPolicyTask task,
		 const char *what)
{
	if (!process_shared_preload_libraries_in_progress)
		elog(ERROR, "pgwarden %s must be registered in _PG_init", what);
	if (*ntasks >= max)
		elog(ERROR, "too many pgwarden %s", what);
	tasks[(*ntasks)++] = task;
}

void
pgw_policy_register_task(PgwPolicyTask task)
{
	add_task(pgw_tasks, &pgw_ntasks, PGW_MAX_TASKS, task, "policy tasks");
}

void
pgw_policy_register_launcher_task(PgwPolicyTask task)
{
	add_task(pgw_launcher_tasks, &pgw_nlauncher_tasks, PGW_MAX_LAUNCHER_TASKS,
			 task, "launcher tasks");
}

/* An Oid against an Oid: for qsort and pgw_policy_find over Oid[] sections. */
int
pgw_policy_oid_cmp(const void *a, const void *b)
{
	Oid			x = *(const Oid *) a;
	Oid			y = *(const Oid *) b;

	return (x > y) - (x < y);
}

/* Wake the loader now (its tasks have work); harmless when none runs. */
void
pgw_policy_wake_loader(void)
{
	Latch	   *latch = pgw_policy ? pgw_policy->loader_latch : NULL;

	if (latch != NULL)
		SetLatch(latch);
}

static void
policy_build_init(PgwPolicyBuild *build)
{
	initStringInfo(&build->data);
	memset(build->sections, 0, sizeof(build->sections));
}

void
pgw_policy_build_section(PgwPolicyBuild *build, PgwSectionId id,
						 const void *items, Size itemsize, int nitems)
{
	Size		size = itemsize * (Size) nitems;
	static const char zeros[MAXIMUM_ALIGNOF] = {0};

	Assert(id >= 0 && id < PGW_NUM_SECTIONS);
	if (build->sections[id].present)
		elog(ERROR, "pgwarden policy section %d built twice", (int) id);
	/* pad to MAXALIGN so every section starts aligned */
	if (build->data.len != MAXALIGN(build->data.len))
		appendBinaryStringInfo(&build->data, zeros,
							   MAXALIGN(build->data.len) - build->data.len);
	build->sections[id].offset = build->data.len;
	build->sections[id].size = size;
	build->sections[id].itemsize = itemsize;
	build->sections[id].nitems = nitems;
	build->sections[id].present = true;
	if (size > 0)
		appendBinaryStringInfo(&build->data, items, size);
}

/* Run every registered loader.  Caller: in a transaction, SPI connected. */
static void
policy_build_run_loaders(PgwPolicyBuild *build)
{
	for (int i = 0; i < pgw_nloaders; i++)
		pgw_loaders[i].fn(build);
}

/*
 * Build the policy from the tables of the current database into local
 * memory, as the worker would.  Used by SQL functions that must judge a
 * change before it is published (self-lockout, size).
 */
void
pgw_policy_build_local(PgwPolicyBuild *build, PgwPolicyView *view)
{
	int			nestlevel;

	policy_build_init(build);
	nestlevel = pgw_spi_connect();
	policy_build_run_loaders(build);
	pgw_spi_finish(nestlevel);
	view->base = build->data.data;
	view->sections = build->sections;
}

const void *
pgw_policy_section(const PgwPolicyView *view, PgwSectionId id, int *nitems)
{
	const PgwSectionInfo *s = &view->sections[id];

	if (!s->present)
	{
		*nitems = 0;
		return NULL;
	}
	*nitems = s->nitems;
	return view->base + s->offset;
}

/*
 * The item of items first .. first + count - 1 of a section that cmp says
 * equals key, or NULL; the section must be sorted by cmp.  A slice outside
 * the section finds nothing (a damaged snapshot fails closed).  Caller
 * holds the view; raises no error.
 */
const void *
pgw_policy_find_slice(const PgwPolicyView *view, PgwSectionId id,
					  int first, int count, const void *key, PgwItemCmp cmp)
{
	const PgwSectionInfo *s = &view->sections[id];

	if (!s->present || s->itemsize == 0 || first < 0 || count <= 0 ||
		first > s->nitems || count > s->nitems - first)
		return NULL;
	return bsearch(key, view->base + s->offset + (Size) first * s->itemsize,
				   count, s->itemsize, cmp);
}

/* The item of a whole section that cmp says equals key, or NULL. */
const void *
pgw_policy_find(const PgwPolicyView *view, PgwSectionId id,
				const void *key, PgwItemCmp cmp)
{
	return pgw_policy_find_slice(view, id, 0, view->sections[id].nitems, key, cmp);
}

static void
copy_status(PgwPolicyStatus *status)
{
	status->state = pgw_policy->state;
	status->version = pgw_policy->version;
	status->control_db = pgw_policy->control_db;
	status->loaded_at = pgw_policy->loaded_at;
	status->used = pgw_policy->used;
	status->capacity = pgw_policy->capacity;
	strlcpy(status->detail, pgw_policy->detail, sizeof(status->detail));
}

/* Is the header sane?  Caller holds the lock. */
static bool
header_valid(const char **why)
{
	if (pgw_policy->magic != PGW_POLICY_MAGIC)
	{
		*why = "the policy header in shared memory is damaged";
		return false;
	}
	if (pgw_policy->state == PGW_POLICY_LOADED)
	{
		if (pgw_policy->used > pgw_policy->capacity)
		{
			*why = "the policy in shared memory is damaged (size out of bounds)";
			return false;
		}
		for (int i = 0; i < PGW_NUM_SECTIONS; i++)
		{
			const PgwSectionInfo *s = &pgw_policy->sections[i];

			if (s->present &&
				(s->offset > pgw_policy->used ||
				 s->size > pgw_policy->used - s->offset ||
				 s->nitems < 0 ||
				 s->size != s->itemsize * (Size) s->nitems))
			{
				*why = "the policy in shared memory is damaged (section out of bounds)";
				return false;
			}
		}
	}
	return true;
}

/*
 * Take the shared lock and describe the published policy.  Returns true,
 * with the lock held and *view filled, only when the policy is loaded and
 * sane; otherwise returns false without the lock, *status saying why.
 */
bool
pgw_policy_acquire(PgwPolicyView *view, PgwPolicyStatus *status)
{
	const char *why;

	memset(status, 0, sizeof(*status));
	if (pgw_policy == NULL)
	{
		status->state = PGW_POLICY_NOT_LOADED;
		strlcpy(status->detail, "pgwarden's shared memory is not initialised",
				sizeof(status->detail));
		return false;
	}
	LWLockAcquire(pgw_policy->lock, LW_SHARED);
	if (!header_valid(&why))
	{
		LWLockRelease(pgw_policy->lock);
		status->state = PGW_POLICY_DAMAGED;
		strlcpy(status->detail, why, sizeof(status->detail));
		return false;
	}
	copy_status(status);
	if (status->state != PGW_POLICY_LOADED)
	{
		LWLockRelease(pgw_policy->lock);
		return false;
	}
	view->base = pgw_arena;
	view->sections = pgw_policy->sections;
	return true;
}

void
pgw_policy_release(void)
{
	LWLockRelease(pgw_policy->lock);
}

static void
policy_get_status(PgwPolicyStatus *status)
{
	PgwPolicyView view;

	if (pgw_policy_acquire(&view, status))
		pgw_policy_release();
}

/*
 * Wait up to timeout_ms for the first publication after server start, so
 * connections arriving in the first instants after a restart are not
 * refused needlessly.  Returns true once the state is no longer NOT_LOADED.
 */
bool
pgw_policy_wait_loaded(int timeout_ms)
{
	PgwPolicyStatus status;
	TimestampTz deadline;

	policy_get_status(&status);
	if (status.state != PGW_POLICY_NOT_LOADED || pgw_policy == NULL)
		return status.state != PGW_POLICY_NOT_LOADED;
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	while (GetCurrentTimestamp() < deadline)
	{
		CHECK_FOR_INTERRUPTS();
		pg_usleep(10000L);
		policy_get_status(&status);
		if (status.state != PGW_POLICY_NOT_LOADED)
			return true;
	}
	return false;
}

/* ------------------------------------------------------------------------
 * Publishing (workers only)
 * ------------------------------------------------------------------------
 */
static void
publish_loaded(PgwPolicyBuild *build, int64 version, Oid dboid, const char *detail)
{
	LWLockAcquire(pgw_policy->lock, LW_EXCLUSIVE);
	if (build->data.len > 0)
		memcpy(pgw_arena, build->data.data, build->data.len);
	memcpy(pgw_policy->sections, build->sections, sizeof(build->sections));
	pgw_policy->magic = PGW_POLICY_MAGIC;
	pgw_policy->used = build->data.len;
	pgw_policy->capacity = pgw_policy_capacity();
	pgw_policy->version = version;
	pgw_policy->control_db = dboid;
	pgw_policy->loaded_at = GetCurrentTimestamp();
	pgw_policy->state = PGW_POLICY_LOADED;
	strlcpy(pgw_policy->detail, detail, sizeof(pgw_policy->detail));
	LWLockRelease(pgw_policy->lock);
}

static void
publish_damaged(Oid dboid, const char *detail)
{
	LWLockAcquire(pgw_policy->lock, LW_EXCLUSIVE);
	pgw_policy->magic = PGW_POLICY_MAGIC;
	pgw_policy->state = PGW_POLICY_DAMAGED;
	pgw_policy->control_db = dboid;
	pgw_policy->loaded_at = GetCurrentTimestamp();
	strlcpy(pgw_policy->detail, detail, sizeof(pgw_policy->detail));
	LWLockRelease(pgw_policy->lock);
}

/* ------------------------------------------------------------------------
 * Launcher: finds the control database, keeps a loader running there.
 * ------------------------------------------------------------------------
 */
/*
 * The control database, as far as a process connected to no database can
 * tell.  Only a few shared catalogs are readable there (pg_database,
 * pg_authid, pg_auth_members, pg_shseclabel, pg_subscription), so the install
 * script marks the control database with a security label of the provider
 * "pgwarden_control" (pg_shseclabel).  The label can outlive DROP EXTENSION;
 * the loader notices that (no extension in its database), publishes an empty
 * policy and removes the stale label.
 */
static Oid
read_control_label(char *orphan, size_t orphanlen)
{
	Oid			result = InvalidOid;
	Relation	rel;
	ScanKeyData key[1];
	SysScanDesc scan;
	HeapTuple	tup;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();

	rel = table_open(SharedSecLabelRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_shseclabel_classoid,
				BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(DatabaseRelationId));
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 1, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		provider = heap_getattr(tup, Anum_pg_shseclabel_provider,
											RelationGetDescr(rel), &isnull);
		Oid			dboid;

		if (isnull)
			continue;
		dboid = DatumGetObjectId(heap_getattr(tup, Anum_pg_shseclabel_objoid,
											  RelationGetDescr(rel), &isnull));
		if (strcmp(TextDatumGetCString(provider), PGW_LABEL_PROVIDER) == 0)
		{
			Datum		label = heap_getattr(tup, Anum_pg_shseclabel_label,
											 RelationGetDescr(rel), &isnull);
			char	   *lbl = isnull ? NULL : TextDatumGetCString(label);

			/*
			 * remember one protected branch, in case no control database is
			 * found
			 */
			if (lbl && strncmp(lbl, "protected:", 10) == 0 && orphan[0] == '\0' &&
				SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(dboid)))
				strlcpy(orphan, lbl + 10, orphanlen);
			continue;
		}
		if (strcmp(TextDatumGetCString(provider), PGW_CONTROL_PROVIDER) != 0)
			continue;
		if (!SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(dboid)))
			continue;

		/*
		 * several labels can only be stale ones: take the lowest, it gets
		 * cleaned
		 */
		if (!OidIsValid(result) || dboid < result)
			result = dboid;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return result;
}

static BackgroundWorkerHandle *
start_loader(Oid dboid)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "pgwarden", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "pgw_policy_loader_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "pgwarden policy loader");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pgwarden policy loader");
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		return NULL;
	return handle;
}

void
pgw_policy_launcher_main(Datum main_arg)
{
	BackgroundWorkerHandle *handle = NULL;
	Oid			handle_db = InvalidOid;
	TimestampTz last_stop = 0;
	bool		complained = false;
	bool		warned_orphan = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);


	for (;;)
	{
		Oid			target;
		pid_t		pid;
		char		orphan[NAMEDATALEN + 16] = "";

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		for (int i = 0; i < pgw_nlauncher_tasks; i++)
			pgw_launcher_tasks[i] ();

		target = read_control_label(orphan, sizeof(orphan));

		if (handle != NULL && target != handle_db)
		{
			TerminateBackgroundWorker(handle);
			(void) WaitForBackgroundWorkerShutdown(handle);
			pfree(handle);
			handle = NULL;
		}
		if (handle != NULL &&
			GetBackgroundWorkerPid(handle, &pid) == BGWH_STOPPED)
		{
			pfree(handle);
			handle = NULL;
			last_stop = GetCurrentTimestamp();
		}

		if (!OidIsValid(target) && orphan[0] != '\0')
		{
			/*
			 * No control database, yet a database is still labelled as a
			 * protected branch: the control database was dropped (or the
			 * extension removed) behind pgwarden's back.  Fail closed rather
			 * than open the gate to everyone.
			 */
			char		detail[256];

			snprintf(detail, sizeof(detail),
					 "no control database was found, but branch \"%s\" is still marked as protected",
					 orphan);
			publish_damaged(InvalidOid, detail);
			if (!warned_orphan)
				ereport(WARNING,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("pgwarden: connection policy damaged, connections are refused: %s",
								detail),
						 errhint("Restore the control database (CREATE EXTENSION pgwarden there and reload its tables), or, if pgwarden is really gone, let a superuser remove the stale labels: DELETE FROM pg_catalog.pg_shseclabel WHERE provider = 'pgwarden'.")));
			warned_orphan = true;
		}
		else if (!OidIsValid(target))
		{
			PgwPolicyStatus status;

			warned_orphan = false;
			policy_get_status(&status);
			if (status.state != PGW_POLICY_LOADED || OidIsValid(status.control_db))
			{
				PgwPolicyBuild empty;

				policy_build_init(&empty);
				publish_loaded(&empty, 0, InvalidOid,
							   "pgwarden is not created in any database: no IP allowlist");
				pfree(empty.data.data);
			}
		}
		else if (handle == NULL &&
				 TimestampDifferenceExceeds(last_stop, GetCurrentTimestamp(), 1000))
		{
			handle = start_loader(target);
			if (handle == NULL)
			{
				if (!complained)
					ereport(WARNING,
							(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
							 errmsg("pgwarden: could not start the policy loader"),
							 errdetail("No background worker slot is free; until one is, connections are refused (over a Unix socket, superusers still get in)."),
							 errhint("Raise max_worker_processes.")));
				complained = true;
				last_stop = GetCurrentTimestamp();
			}
			else
			{
				complained = false;
				handle_db = target;
			}
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 PGW_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ------------------------------------------------------------------------
 * Loader: reads the tables of the control database and publishes them.
 * ------------------------------------------------------------------------
 */
static void
loader_detach(int code, Datum arg)
{
	if (pgw_policy && pgw_policy->loader_pid == MyProcPid)
	{
		pgw_policy->loader_latch = NULL;
		pgw_policy->loader_pid = 0;
	}
}

/*
 * One poll.  Returns the version published, or the one already loaded.
 * When the extension is gone from this database *extension_gone is set, and
 * *orphan gets the name of a branch still labelled protected, if any.
 */
/*
 * The install whose tables were last published.  A version number means
 * something only within one install: DROP and CREATE EXTENSION (in one
 * transaction, or between two polls) count again from the start, and a new
 * install that reached the dropped one's number would never be read.
 */
static Oid	loaded_extension = InvalidOid;

static int64
loader_poll(int64 loaded_version, bool force, bool *extension_gone,
			char *orphan, size_t orphanlen)
{
	int64		version;
	bool		isnull;
	int			ret;
	Oid			extension;

	/*
	 * Names and rows of one install.  The tables are read by name, looked up
	 * with the catalog as it is now, and their rows with the poll's snapshot:
	 * taken before a DROP and CREATE EXTENSION committed, it would show the
	 * new install's tables without their rows (an empty policy, or
	 * "damaged").  So lock policy_version first (DROP EXTENSION needs it
	 * exclusively: it waits for this poll), then take a fresh snapshot, which
	 * sees the install that made the table, and read everything with it.
	 */
	(void) RangeVarGetRelidExtended(makeRangeVar("pgwarden", "policy_version", -1),
									AccessShareLock, RVR_MISSING_OK, NULL, NULL);
	PopActiveSnapshot();
	PushActiveSnapshot(GetTransactionSnapshot());

	/* DROP EXTENSION leaves the label behind: step aside */
	ret = SPI_execute("SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'pgwarden'",
					  true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_extension");
	if (SPI_processed == 0)
	{
		*extension_gone = true;
		/* ... unless a branch is still protected: then fail closed */
		ret = SPI_execute("SELECT pg_catalog.substr(l.label, 11) FROM pg_catalog.pg_shseclabel l"
						  "  JOIN pg_catalog.pg_database d ON d.oid = l.objoid"
						  " WHERE l.provider OPERATOR(pg_catalog.=) '" PGW_LABEL_PROVIDER "'"
						  "   AND l.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_database'::pg_catalog.regclass"
						  "   AND l.label OPERATOR(pg_catalog.~~) 'protected:%'"
						  " ORDER BY 1 LIMIT 1", true, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not read pg_shseclabel");
		if (SPI_processed == 1)
		{
			char	   *name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

			strlcpy(orphan, name ? name : "", orphanlen);
		}
		return loaded_version;
	}

	extension = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 1, &isnull));
	if (extension != loaded_extension)
		force = true;

	ret = SPI_execute("SELECT version FROM ONLY pgwarden.policy_version", true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("table pgwarden.policy_version must hold exactly one row")));
	version = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("pgwarden.policy_version.version is null")));

	if (version != loaded_version || force)
	{
		PgwPolicyBuild build;
		char		detail[256];

		policy_build_init(&build);
		policy_build_run_loaders(&build);
		if ((Size) build.data.len > pgw_policy_capacity())
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the connection policy needs %zu kB of shared memory, pgwarden.policy_memory is %d kB",
							((Size) build.data.len + 1023) / 1024,
							pgw_policy_memory_kb)));
		snprintf(detail, sizeof(detail), "policy version " INT64_FORMAT " loaded from database %u",
				 version, MyDatabaseId);
		publish_loaded(&build, version, MyDatabaseId, detail);
		pfree(build.data.data);
		loaded_extension = extension;
	}
	return version;
}

void
pgw_policy_loader_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	MemoryContext loopcxt;
	int64		loaded_version = -1;
	int			transient_failures = 0;
	char	   *last_error = NULL;
	bool		warned_gone = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	/* the control database's owner chooses its settings, not ours */
	pgw_worker_safe_settings();

	pgw_policy->loader_latch = MyLatch;
	pgw_policy->loader_pid = MyProcPid;
	on_shmem_exit(loader_detach, (Datum) 0);

	loopcxt = AllocSetContextCreate(TopMemoryContext, "pgwarden policy loader",
									ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		PgwPolicyStatus status;
		bool		force;
		bool		extension_gone = false;
		char		orphan[NAMEDATALEN + 16] = "";

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		/* republish when someone else (the launcher) overwrote our snapshot */
		policy_get_status(&status);
		force = status.state != PGW_POLICY_LOADED || status.control_db != dboid;

		MemoryContextSwitchTo(loopcxt);
		PG_TRY();
		{
			SetCurrentStatementStartTimestamp();
			StartTransactionCommand();
			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "SPI_connect failed");
			PushActiveSnapshot(GetTransactionSnapshot());
			pgstat_report_activity(STATE_RUNNING, "polling the pgwarden policy");
			loaded_version = loader_poll(loaded_version, force, &extension_gone,
										 orphan, sizeof(orphan));
			/* the label stays while a branch is protected: see below */
			if (extension_gone && orphan[0] == '\0' && !RecoveryInProgress())
			{
				char		sql[128];

				/*
				 * A CREATE EXTENSION pgwarden may be committing right now and
				 * setting this very label: block new ones (they insert into
				 * pg_extension) and look again with a fresh snapshot before
				 * removing it, or a quick DROP + CREATE would lose the label.
				 *
				 * Lock order: the database first (what SECURITY LABEL ... ON
				 * DATABASE takes), then pg_extension.  CREATE EXTENSION's
				 * script labels the database and later updates pg_extension
				 * again (pg_extension_config_dump), having released its first
				 * lock on it: the other order deadlocks with it.
				 */
				LockSharedObject(DatabaseRelationId, MyDatabaseId, 0,
								 ShareUpdateExclusiveLock);
				SPI_execute("LOCK TABLE pg_catalog.pg_extension IN SHARE MODE", false, 0);
				if (SPI_execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pgwarden'",
								false, 1) == SPI_OK_SELECT && SPI_processed > 0)
					extension_gone = false;
				else
				{
					snprintf(sql, sizeof(sql),
							 "SECURITY LABEL FOR " PGW_CONTROL_PROVIDER " ON DATABASE %s IS NULL",
							 quote_identifier(get_database_name(MyDatabaseId)));
					SPI_execute(sql, false, 0);
				}
			}
			SPI_finish();
			PopActiveSnapshot();
			CommitTransactionCommand();
			pgstat_report_activity(STATE_IDLE, NULL);
			transient_failures = 0;
			if (extension_gone && orphan[0] != '\0')
			{
				/*
				 * The extension is gone but a branch is still labelled
				 * protected: its rules can no longer be read.  Fail closed,
				 * as the launcher does when the control database is gone, and
				 * keep watching: CREATE EXTENSION here loads it again.
				 */
				char		detail[256];

				snprintf(detail, sizeof(detail),
						 "pgwarden is no longer created in the control database, but branch \"%s\" is still marked as protected",
						 orphan);
				publish_damaged(dboid, detail);
				loaded_version = -1;
				if (!warned_gone)
					ereport(WARNING,
							(errcode(ERRCODE_DATA_CORRUPTED),
							 errmsg("pgwarden: connection policy damaged, connections are refused: %s",
									detail),
							 errhint("CREATE EXTENSION pgwarden again in the control database and restore its tables, or, if pgwarden is really gone, let a superuser remove the stale labels: DELETE FROM pg_catalog.pg_shseclabel WHERE provider = 'pgwarden'.")));
				warned_gone = true;
			}
			else if (extension_gone)
			{
				PgwPolicyBuild empty;

				policy_build_init(&empty);
				publish_loaded(&empty, 0, InvalidOid,
							   "pgwarden is not created in any database: no IP allowlist");
				proc_exit(0);
			}
			else
				warned_gone = false;
			if (last_error != NULL)
			{
				ereport(LOG,
						(errmsg("pgwarden: connection policy loaded again (version " INT64_FORMAT ")",
								loaded_version)));
				pfree(last_error);
				last_error = NULL;
			}
		}
		PG_CATCH();
		{
			ErrorData  *edata;
			bool		transient;

			MemoryContextSwitchTo(loopcxt);
			edata = CopyErrorData();
			FlushErrorState();
			AbortCurrentTransaction();
			pgstat_report_activity(STATE_IDLE, NULL);

			transient = (ERRCODE_TO_CATEGORY(edata->sqlerrcode) ==
						 ERRCODE_TRANSACTION_ROLLBACK ||
						 edata->sqlerrcode == ERRCODE_QUERY_CANCELED);
			if (transient && ++transient_failures < PGW_TRANSIENT_RETRIES)
			{
				/* try again at the next poll; the snapshot stays as it is */
			}
			else
			{
				char		detail[256];

				snprintf(detail, sizeof(detail),
						 "the policy tables could not be read: %s", edata->message);
				publish_damaged(dboid, detail);
				loaded_version = -1;
				if (last_error == NULL || strcmp(last_error, edata->message) != 0)
				{
					ereport(WARNING,
							(errcode(edata->sqlerrcode),
							 errmsg("pgwarden: connection policy damaged, connections are refused: %s",
									edata->message),
							 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
							 errhint("Repair the pgwarden tables in the control database; superusers can still connect over a Unix socket.")));
					if (last_error)
						pfree(last_error);
					last_error = pstrdup(edata->message);
				}
			}
			FreeErrorData(edata);
		}
		PG_END_TRY();

		for (int i = 0; i < pgw_ntasks; i++)
			pgw_tasks[i] ();

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 PGW_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ------------------------------------------------------------------------
 * SQL-callable
 * ------------------------------------------------------------------------
 */

/*
 * Before a transaction that changed a policy table commits (or prepares):
 * build the snapshot the loader would publish, from the tables as they will
 * be once this transaction commits, and refuse the commit when it does not
 * fit in pgwarden.policy_memory or a loader rejects the data.  No one, a
 * pgwarden_admin member included, can so commit a policy the gate could not
 * load.  Concurrent changes cannot add up behind this check: every change
 * bumps the single row of pgwarden.policy_version from its trigger, so
 * policy-changing transactions hold that row lock until they end and run
 * one at a time (under READ COMMITTED the fresh snapshot taken here sees
 * every earlier one; under REPEATABLE READ and SERIALIZABLE the bump of a
 * row changed since the snapshot fails).
 *
 * The build runs as the bootstrap superuser (like the loader; the tables
 * are not readable by the members of pgwarden_admin, whose own statements
 * may be the ones committing), as a restricted operation, with the safe
 * search path of pgw_spi_connect().
 */
static void
policy_verify_before_commit(void)
{
	PgwPolicyBuild build;
	PgwPolicyView view;
	Oid			save_userid;
	int			save_sec_context;
	Size		need;

	/* DROP EXTENSION in the same transaction: nothing left to publish */
	if (!OidIsValid(get_extension_oid("pgwarden", true)))
		return;

	/* make the last statement's changes visible to the snapshot below */
	CommandCounterIncrement();
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	PushActiveSnapshot(GetTransactionSnapshot());
	pgw_policy_build_local(&build, &view);
	PopActiveSnapshot();
	SetUserIdAndSecContext(save_userid, save_sec_context);

	need = (Size) build.data.len;
	pfree(build.data.data);
	if (need > pgw_policy_capacity())
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the connection policy would not fit in pgwarden.policy_memory"),
				 errdetail("After this transaction the policy would need %zu kB of shared memory; pgwarden.policy_memory is %d kB.  The transaction was rolled back.",
						   (need + 1023) / 1024, pgw_policy_memory_kb),
				 errhint("Raise pgwarden.policy_memory (takes effect at restart), or remove endpoints, branches or allowlist entries (merge entries into ranges or CIDR blocks).")));
}

static void
policy_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (verify_at_commit)
			{
				policy_verify_before_commit();
				verify_at_commit = false;
			}
			break;
		case XACT_EVENT_PREPARE:
			wake_at_commit = false;
			verify_at_commit = false;
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_at_commit && pgw_policy != NULL)
			{
				Latch	   *latch = pgw_policy->loader_latch;

				if (latch != NULL)
					SetLatch(latch);
			}
			wake_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			wake_at_commit = false;
			verify_at_commit = false;
			break;
		default:
			break;
	}
}

/*
 * pgwarden._policy_changed(): statement-level trigger on every policy table.
 * Bumps pgwarden.policy_version, checks before commit that the policy still
 * fits (policy_verify_before_commit) and wakes the loader when the change
 * commits.
 */
Datum
pgwarden_policy_changed(PG_FUNCTION_ARGS)
{
	int			nestlevel;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("pgwarden._policy_changed() must be called as a trigger")));

	nestlevel = pgw_spi_connect();
	if (SPI_execute("UPDATE pgwarden.policy_version"
					" SET version = version + 1, changed_at = pg_catalog.now()",
					false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not bump pgwarden.policy_version");
	pgw_spi_finish(nestlevel);

	if (!xact_callback_registered)
	{
		RegisterXactCallback(policy_xact_callback, NULL);
		xact_callback_registered = true;
	}
	wake_at_commit = true;
	verify_at_commit = true;

	return PointerGetDatum(NULL);
}

/* pgwarden.policy_status(): what the gate is working from. */
Datum
pgwarden_policy_status(PG_FUNCTION_ARGS)
{
	PgwPolicyStatus status;
	TupleDesc	tupdesc;
	Datum		values[7];
	bool		nulls[7] = {0};
	const char *state;
	char	   *dbname = NULL;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	policy_get_status(&status);
	switch (status.state)
	{
		case PGW_POLICY_LOADED:
			state = "loaded";
			break;
		case PGW_POLICY_DAMAGED:
			state = "damaged";
			break;
		default:
			state = "not loaded";
			break;
	}
	values[0] = CStringGetTextDatum(state);
	values[1] = Int64GetDatum(status.version);
	if (OidIsValid(status.control_db))
		dbname = get_database_name(status.control_db);
	if (dbname)
	{
		NameData   *nd = palloc0(sizeof(NameData));

		namestrcpy(nd, dbname);
		values[2] = NameGetDatum(nd);
	}
	else
		nulls[2] = true;
	if (status.loaded_at != 0)
		values[3] = TimestampTzGetDatum(status.loaded_at);
	else
		nulls[3] = true;
	values[4] = Int64GetDatum((int64) status.used);
	values[5] = Int64GetDatum((int64) status.capacity);
	values[6] = CStringGetTextDatum(status.detail);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* ------------------------------------------------------------------------
 * Init (postmaster)
 * ------------------------------------------------------------------------
 */
/*
 * DROP EXTENSION pgwarden (or anything that took it along) in this
 * database: remove the control label in the same transaction, so a rollback
 * keeps it and a CREATE EXTENSION right after gets a label of its own that
 * no loader is about to clear.
 */
void
pgw_policy_forget_control_database(void)
{
	ObjectAddress addr;

	ObjectAddressSet(addr, DatabaseRelationId, MyDatabaseId);
	if (GetSecurityLabel(&addr, PGW_CONTROL_PROVIDER) != NULL)
		SetSecurityLabel(&addr, PGW_CONTROL_PROVIDER, NULL);
}

/* Only the install script marks a database, and only as the control one. */
static void
control_label_check(const ObjectAddress *object, const char *seclabel)
{
	if (object->classId != DatabaseRelationId)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("security labels of provider \"%s\" apply to databases only",
						PGW_CONTROL_PROVIDER)));
	if (seclabel != NULL && strcmp(seclabel, PGW_CONTROL_LABEL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid security label \"%s\" for provider \"%s\"",
						seclabel, PGW_CONTROL_PROVIDER),
				 errhint("CREATE EXTENSION pgwarden sets this label itself.")));
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only superusers can mark the pgwarden control database")));
	pgw_protect_refuse_while_protected("changing the pgwarden control database label");
}

void
pgw_policy_init(void)
{
	BackgroundWorker worker;

	register_label_provider(PGW_CONTROL_PROVIDER, control_label_check);

	DefineCustomIntVariable("pgwarden.policy_memory",
							"Shared memory reserved for the connection policy snapshot.",
							"Holds the IP allowlist and the other data the connection gate reads "
							"(about 8 bytes per IPv4 entry, 32 per IPv6 entry, 200 per endpoint or "
							"branch role).  Every change to the policy is refused before it commits "
							"when the result would not fit; if it does not fit anyway (the setting "
							"lowered at a restart) connections are refused, over a Unix socket "
							"superusers excepted.",
							&pgw_policy_memory_kb,
							8192, 64, INT_MAX / 1024,
							PGC_POSTMASTER, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pgwarden.policy_load_timeout",
							"How long a new connection waits for the policy to load after server start.",
							"Until the policy worker has published the policy once, the gate cannot "
							"decide; TCP connections wait this long and are then refused (fail closed).",
							&pgw_policy_load_timeout_ms,
							2000, 0, 60000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = pgw_policy_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = pgw_policy_shmem_startup;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = 1;
	strlcpy(worker.bgw_library_name, "pgwarden", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "pgw_policy_launcher_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "pgwarden policy launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pgwarden policy launcher");
	RegisterBackgroundWorker(&worker);
}
