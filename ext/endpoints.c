/*-------------------------------------------------------------------------
 *
 * endpoints.c
 *	  Branches at connection time: endpoints (suspended, wrong branch,
 *	  connection limit, read-only) and branch-role binding, decided by the
 *	  connection gate from the policy snapshot.
 *
 * The loader (run by the policy worker in the control database, see
 * policy.h) publishes three sections built from pgwarden.branch,
 * pgwarden.endpoint and pgwarden.branch_role:
 *
 *	PGW_SECTION_PROTECTED_DATABASES  Oid[], sorted: read by the allowlist's
 *									 protected-only mode
 *	PGW_SECTION_ENDPOINTS			 PgwEndpointItem[], sorted by name
 *	PGW_SECTION_BRANCH_ROLES		 PgwBranchRoleItem[], sorted by role name
 *
 * The gate rule (registered with pgw_gate_register, stage BRANCH, for
 * exempt Unix sockets too) has three parts (gate.h):
 *
 *	check			with the snapshot held, before the client is asked for a
 *					password: a branch role may connect to its own branch's
 *					database only; the endpoint asked for must exist, serve
 *					this database and not be suspended, and a read-only one
 *					serves no replication connection.  It uses names and the
 *					database OID the gate found, no catalog access, and
 *					notes the endpoint chosen.  Branch roles cannot be
 *					renamed (branches.c refuses it), so their names are
 *					stable.
 *	on_admit		after the snapshot's lock is released: counts the
 *					sessions of the endpoint and refuses when it is at its
 *					limit, before the client is asked for a password.
 *	on_authenticated once the password exchange succeeded: claims a slot
 *					(refused if the last one was taken meanwhile), sets
 *					pgwarden.endpoint (source override, so the client's
 *					startup options cannot change it) and, for a read-only
 *					endpoint, enters read-only mode (readonly.c), before the
 *					client's startup options are applied.  Only
 *					authenticated sessions hold slots, as for PostgreSQL's
 *					CONNECTION LIMIT: a client that sends a startup packet
 *					and then nothing keeps nobody out.
 *
 * The endpoint is the one named by the startup option pgwarden.endpoint
 * (options=-c pgwarden.endpoint=NAME, or a startup parameter), else the
 * branch's default endpoint.  A database that is not a branch (and the
 * control database) has no endpoints: only an explicit, foreign endpoint
 * name is refused there.
 *
 * Connection limits count connections per endpoint in a small shared array
 * indexed by backend id, under the LWLock tranche "pgwarden_endpoints":
 * the count and the claim happen under one exclusive lock (never while the
 * policy lock is held), and the slot is released at backend exit.  Dry
 * runs (pgwarden.check_connection) run the check only: they neither claim
 * slots nor change the session.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "compat.h"
#include "endpoints.h"
#include "gate.h"
#include "policy.h"
#include "readonly.h"

typedef struct PgwEndpointItem
{
	NameData	name;
	NameData	branch;
	NameData	database;
	Oid			dboid;
	int32		max_connections;	/* 0: no limit */
	bool		read_only;
	bool		suspended;
	bool		is_default;
} PgwEndpointItem;

typedef struct PgwBranchRoleItem
{
	NameData	role;
	NameData	branch;
	NameData	database;
	Oid			dboid;
} PgwBranchRoleItem;

typedef struct PgwEndpointSlots
{
	LWLock	   *lock;
	int			nslots;
	NameData	slot[FLEXIBLE_ARRAY_MEMBER];	/* by backend id - 1; "" =
												 * free */
} PgwEndpointSlots;

/* What the check hands to on_admit and on_authenticated (gate.h). */
typedef struct PgwEndpointNote
{
	NameData	name;			/* "": no endpoint serves this connection */
	NameData	branch;
	int32		max_connections;
	bool		read_only;
} PgwEndpointNote;

StaticAssertDecl(sizeof(PgwEndpointNote) <= sizeof(PgwGateNote),
				 "PgwEndpointNote must fit in a PgwGateNote");

/* GUC pgwarden.endpoint: chosen with options=-c pgwarden.endpoint=NAME */
static char *endpoint_setting = NULL;

static PgwEndpointSlots *slots = NULL;
static int	my_slot = -1;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* ----------------------------------------------------------------
 *	Shared memory: connections per endpoint
 * ----------------------------------------------------------------
 */

static Size
slots_size(void)
{
	return add_size(offsetof(PgwEndpointSlots, slot),
					mul_size(sizeof(NameData), MaxBackends));
}

static void
endpoints_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(slots_size());
	RequestNamedLWLockTranche("pgwarden_endpoints", 1);
}

static void
endpoints_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	slots = NULL;
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	slots = ShmemInitStruct("pgwarden endpoint slots", slots_size(), &found);
	if (!found)
	{
		memset(slots, 0, slots_size());
		slots->lock = &(GetNamedLWLockTranche("pgwarden_endpoints"))->lock;
		slots->nslots = MaxBackends;
	}
	LWLockRelease(AddinShmemInitLock);
}

static void
release_slot(int code, Datum arg)
{
	if (slots == NULL || my_slot < 0)
		return;
	LWLockAcquire(slots->lock, LW_EXCLUSIVE);
	NameStr(slots->slot[my_slot])[0] = '\0';
	LWLockRelease(slots->lock);
	my_slot = -1;
}

/*
 * Count the sessions of an endpoint and, when below the limit (0: none)
 * and claim is set, claim a slot for this backend.  False when the limit
 * is reached.
 */
static bool
claim_slot(const char *endpoint, int limit, int *count, bool claim)
{
	int			n = 0;
	int			mine = PGW_MY_BACKEND_INDEX();

	*count = 0;
	if (slots == NULL || mine < 0 || mine >= slots->nslots)
		return true;			/* cannot count: no limit enforced */
	LWLockAcquire(slots->lock, LW_EXCLUSIVE);
	for (int i = 0; i < slots->nslots; i++)
		if (i != mine && strcmp(NameStr(slots->slot[i]), endpoint) == 0)
			n++;
	*count = n;
	if ((limit > 0 && n >= limit) || !claim)
	{
		LWLockRelease(slots->lock);
		return !(limit > 0 && n >= limit);
	}
	namestrcpy(&slots->slot[mine], endpoint);
	LWLockRelease(slots->lock);
	if (my_slot < 0)
	{
		my_slot = mine;
		before_shmem_exit(release_slot, 0);
	}
	return true;
}

/* ----------------------------------------------------------------
 *	Loader (policy worker, in the control database)
 * ----------------------------------------------------------------
 */

static int
cmp_endpoint(const void *a, const void *b)
{
	return strcmp(NameStr(((const PgwEndpointItem *) a)->name),
				  NameStr(((const PgwEndpointItem *) b)->name));
}

static int
cmp_branch_role(const void *a, const void *b)
{
	return strcmp(NameStr(((const PgwBranchRoleItem *) a)->role),
				  NameStr(((const PgwBranchRoleItem *) b)->role));
}

static char *
value_or_empty(HeapTuple tup, TupleDesc desc, int col)
{
	char	   *v = SPI_getvalue(tup, desc, col);

	return v ? v : "";
}

/* Columns 1 to 4 of both queries below: a name, its branch, database, OID. */
static void
read_binding(HeapTuple tup, TupleDesc desc, NameData *name, NameData *branch,
			 NameData *database, Oid *dboid)
{
	bool		isnull;

	namestrcpy(name, value_or_empty(tup, desc, 1));
	namestrcpy(branch, value_or_empty(tup, desc, 2));
	namestrcpy(database, value_or_empty(tup, desc, 3));
	*dboid = DatumGetObjectId(SPI_getbinval(tup, desc, 4, &isnull));
}

static void
branches_load(PgwPolicyBuild *build)
{
	Oid		   *oids;
	PgwEndpointItem *eps;
	PgwBranchRoleItem *roles;
	int			n;

	/* A database dropped behind our back is simply not published. */
	if (SPI_execute("SELECT b.database_oid FROM ONLY pgwarden.branch b"
					" WHERE b.protected"
					"   AND EXISTS (SELECT 1 FROM pg_catalog.pg_database d WHERE d.oid = b.database_oid)"
					" ORDER BY 1", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pgwarden.branch");
	n = (int) SPI_processed;
	oids = palloc0(sizeof(Oid) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		oids[i] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
												 SPI_tuptable->tupdesc, 1, &isnull));
	}
	qsort(oids, n, sizeof(Oid), pgw_policy_oid_cmp);
	pgw_policy_build_section(build, PGW_SECTION_PROTECTED_DATABASES, oids, sizeof(Oid), n);

	/* The control database is never subject to endpoint rules. */
	if (SPI_execute("SELECT e.name, b.name, d.datname, b.database_oid,"
					"       COALESCE(e.max_connections, 0), e.kind = 'read_only',"
					"       e.suspended, e.is_default"
					"  FROM ONLY pgwarden.endpoint e"
					"  JOIN ONLY pgwarden.branch b ON b.name = e.branch"
					"  JOIN pg_catalog.pg_database d ON d.oid = b.database_oid"
					" WHERE d.datname <> pg_catalog.current_database()", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pgwarden.endpoint");
	n = (int) SPI_processed;
	eps = palloc0(sizeof(PgwEndpointItem) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		read_binding(tup, desc, &eps[i].name, &eps[i].branch, &eps[i].database,
					 &eps[i].dboid);
		eps[i].max_connections = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
		eps[i].read_only = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
		eps[i].suspended = DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull));
		eps[i].is_default = DatumGetBool(SPI_getbinval(tup, desc, 8, &isnull));
	}
	qsort(eps, n, sizeof(PgwEndpointItem), cmp_endpoint);
	pgw_policy_build_section(build, PGW_SECTION_ENDPOINTS, eps, sizeof(PgwEndpointItem), n);

	if (SPI_execute("SELECT a.rolname, b.name, d.datname, b.database_oid"
					"  FROM ONLY pgwarden.branch_role br"
					"  JOIN pg_catalog.pg_authid a ON a.oid = br.role_oid"
					"  JOIN ONLY pgwarden.branch b ON b.name = br.branch"
					"  LEFT JOIN pg_catalog.pg_database d ON d.oid = b.database_oid",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pgwarden.branch_role");
	n = (int) SPI_processed;
	roles = palloc0(sizeof(PgwBranchRoleItem) * Max(n, 1));
	for (int i = 0; i < n; i++)
		read_binding(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, &roles[i].role,
					 &roles[i].branch, &roles[i].database, &roles[i].dboid);
	qsort(roles, n, sizeof(PgwBranchRoleItem), cmp_branch_role);
	pgw_policy_build_section(build, PGW_SECTION_BRANCH_ROLES, roles, sizeof(PgwBranchRoleItem), n);
}

/* ----------------------------------------------------------------
 *	The gate rule
 * ----------------------------------------------------------------
 */

static int
endpoint_key_cmp(const void *key, const void *item)
{
	return strcmp((const char *) key, NameStr(((const PgwEndpointItem *) item)->name));
}

static int
branch_role_key_cmp(const void *key, const void *item)
{
	return strcmp((const char *) key, NameStr(((const PgwBranchRoleItem *) item)->role));
}

static PgwVerdict
endpoints_check(const PgwConnInfo *ci, const PgwPolicyView *view,
				PgwGateNote *gate_note, char *detail, size_t detaillen)
{
	PgwEndpointNote *note = (PgwEndpointNote *) gate_note;
	const char *requested = ci->endpoint;
	const PgwEndpointItem *ep = NULL;

	if (ci->dbname == NULL)
		return PGW_VERDICT_ALLOW;	/* physical replication: no database */

	/* A branch role may connect to its own branch's database only. */
	if (ci->role != NULL)
	{
		const PgwBranchRoleItem *br = pgw_policy_find(view, PGW_SECTION_BRANCH_ROLES,
													  ci->role, branch_role_key_cmp);

		if (br != NULL && br->dboid != ci->dboid)
		{
			snprintf(detail, detaillen,
					 "role \"%s\" is a branch role of branch \"%s\" and may connect to database \"%s\" only",
					 ci->role, NameStr(br->branch), NameStr(br->database));
			return PGW_VERDICT_BRANCH_ROLE;
		}
	}

	if (requested != NULL)
	{
		ep = pgw_policy_find(view, PGW_SECTION_ENDPOINTS, requested, endpoint_key_cmp);
		if (ep == NULL)
		{
			snprintf(detail, detaillen, "endpoint \"%s\" does not exist", requested);
			return PGW_VERDICT_ENDPOINT_UNKNOWN;
		}
		if (ep->dboid != ci->dboid)
		{
			snprintf(detail, detaillen,
					 "endpoint \"%s\" belongs to branch \"%s\" (database \"%s\"), not to database \"%s\"",
					 requested, NameStr(ep->branch), NameStr(ep->database), ci->dbname);
			return PGW_VERDICT_ENDPOINT_FOREIGN;
		}
	}
	else
	{
		int			neps;
		const PgwEndpointItem *eps = pgw_policy_section(view, PGW_SECTION_ENDPOINTS, &neps);

		for (int i = 0; i < neps; i++)
			if (eps[i].dboid == ci->dboid && eps[i].is_default)
				ep = &eps[i];
		if (ep == NULL)
			return PGW_VERDICT_ALLOW;	/* not a branch */
	}

	if (ep->suspended)
	{
		snprintf(detail, detaillen, "endpoint \"%s\" of branch \"%s\" is suspended",
				 NameStr(ep->name), NameStr(ep->branch));
		return PGW_VERDICT_ENDPOINT_SUSPENDED;
	}
	if (ep->read_only && ci->walsender)
	{
		/*
		 * a walsender's commands (CREATE_REPLICATION_SLOT ...) bypass every
		 * check
		 */
		snprintf(detail, detaillen,
				 "endpoint \"%s\" of branch \"%s\" is read-only and serves no replication connection",
				 NameStr(ep->name), NameStr(ep->branch));
		return PGW_VERDICT_ENDPOINT_REPLICATION;
	}
	note->name = ep->name;
	note->branch = ep->branch;
	note->max_connections = ep->max_connections;
	note->read_only = ep->read_only;
	return PGW_VERDICT_ALLOW;
}

/* The endpoint's slots, claimed (claim) or only counted; false when full. */
static bool
endpoint_has_room(const PgwEndpointNote *note, bool claim, char *detail, size_t detaillen)
{
	int			count;

	if (claim_slot(NameStr(note->name), note->max_connections, &count, claim))
		return true;
	snprintf(detail, detaillen,
			 "endpoint \"%s\" of branch \"%s\" already has %d connections, its limit",
			 NameStr(note->name), NameStr(note->branch), count);
	return false;
}

/* Admitted: refused before any password when the endpoint is at its limit. */
static PgwVerdict
endpoints_admit(const PgwConnInfo *ci, const PgwGateNote *gate_note,
				char *detail, size_t detaillen)
{
	const PgwEndpointNote *note = (const PgwEndpointNote *) gate_note;

	if (NameStr(note->name)[0] == '\0' || endpoint_has_room(note, false, detail, detaillen))
		return PGW_VERDICT_ALLOW;
	return PGW_VERDICT_ENDPOINT_FULL;
}

/*
 * Authenticated: claim the endpoint's slot and apply the endpoint before
 * the client's startup options are processed.
 */
static PgwVerdict
endpoints_authenticated(const PgwGateNote *gate_note, char *detail, size_t detaillen)
{
	const PgwEndpointNote *note = (const PgwEndpointNote *) gate_note;

	if (NameStr(note->name)[0] == '\0')
		return PGW_VERDICT_ALLOW;
	if (!endpoint_has_room(note, true, detail, detaillen))
		return PGW_VERDICT_ENDPOINT_FULL;
	SetConfigOption("pgwarden.endpoint", NameStr(note->name),
					PGC_BACKEND, PGC_S_OVERRIDE);
	if (note->read_only)
		pgw_readonly_enter(NameStr(note->name));
	return PGW_VERDICT_ALLOW;
}

void
pgw_endpoints_init(void)
{
	static const PgwGateRule rule = {
		.name = "branches and endpoints",
		.stage = PGW_GATE_STAGE_BRANCH,
		.exempt_too = true,
		.check = endpoints_check,
		.on_admit = endpoints_admit,
		.on_authenticated = endpoints_authenticated,
	};

	DefineCustomStringVariable("pgwarden.endpoint",
							   "Endpoint (compute) of the branch this connection uses.",
							   "Set at connection start with options=-c pgwarden.endpoint=NAME; "
							   "without it the branch's default endpoint serves.  The connection "
							   "gate refuses suspended endpoints, endpoints of another branch and "
							   "connections past an endpoint's limit.",
							   &endpoint_setting,
							   "",
							   PGC_BACKEND,
							   GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);

	pgw_policy_register_loader("branches", branches_load);
	pgw_gate_register(&rule);

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = endpoints_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = endpoints_shmem_startup;
}

/*
 * pgwarden._endpoint_sessions(): the sessions each endpoint serves now, from
 * the slots above (for pgwarden status; issue 13).  The names are copied
 * under the lock and counted after it is released.
 */
PG_FUNCTION_INFO_V1(pgwarden_endpoint_sessions);

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(NameStr(*(const NameData *) a), NameStr(*(const NameData *) b));
}

Datum
pgwarden_endpoint_sessions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	NameData   *names;
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	if (slots == NULL)
		return (Datum) 0;
	n = slots->nslots;
	names = palloc(sizeof(NameData) * n);
	LWLockAcquire(slots->lock, LW_SHARED);
	memcpy(names, slots->slot, sizeof(NameData) * n);
	LWLockRelease(slots->lock);
	qsort(names, n, sizeof(NameData), name_cmp);
	for (int i = 0; i < n;)
	{
		int			j = i;
		Datum		values[2];
		bool		nulls[2] = {false, false};

		while (j < n && strcmp(NameStr(names[j]), NameStr(names[i])) == 0)
			j++;
		if (NameStr(names[i])[0] != '\0')
		{
			values[0] = CStringGetTextDatum(NameStr(names[i]));
			values[1] = Int32GetDatum(j - i);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		i = j;
	}
	return (Datum) 0;
}
