/*-------------------------------------------------------------------------
 *
 * gatestats.c
 *	  What the connection gate did: counters in shared memory per outcome
 *	  (admitted, and each kind of refusal), with the time and client address
 *	  of the last decision of each kind; pgwarden.gate_stats and
 *	  pgwarden.gate_stats_reset().
 *
 * The gate tells gatestats_count(), an observer registered with it
 * (gate.h), each decision on the connection path, before the refusal is
 * sent.  It takes no lock: the counter is one
 * atomic add.  The "last" fields of an outcome are guarded by a sequence
 * number used as a seqlock that writers only try to take: a writer that
 * finds another one inside (the number odd, or changed under it) skips
 * recording its time and address, never waits; the count is exact either
 * way.  Readers retry until they see an even, unchanged number.
 *
 * Counters start at zero when the server starts (shared memory is new) and
 * when pgwarden.gate_stats_reset() runs; "since" says which.  The setting
 * pgwarden.gate_stats (on) switches counting off.
 *
 * The outcome is chosen from the gate's verdict code (gate.h) by
 * verdict_outcome(); several verdicts share an outcome.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inet.h"
#include "utils/timestamp.h"

#include "gate.h"
#include "gatestats.h"

/* What the gate decided for one connection; the order of the view's rows. */
typedef enum PgwGateOutcome
{
	PGW_GATE_ADMITTED = 0,
	PGW_GATE_ADDRESS_NOT_ALLOWED,	/* not in the IP allowlist (or no address) */
	PGW_GATE_TLS_REQUIRED,
	PGW_GATE_ENDPOINT_SUSPENDED,
	PGW_GATE_ENDPOINT_OVER_LIMIT,
	PGW_GATE_ENDPOINT_FOREIGN,	/* the endpoint serves another database */
	PGW_GATE_ENDPOINT_UNKNOWN,
	PGW_GATE_BRANCH_ROLE_CONFINED,	/* a branch role outside its branch */
	PGW_GATE_POLICY_UNREADABLE, /* not loaded yet, or damaged */
	PGW_GATE_OTHER,				/* a refusal of a rule not listed above */
	PGW_GATE_NUM_OUTCOMES
} PgwGateOutcome;

typedef struct PgwGateCounter
{
	pg_atomic_uint64 count;
	pg_atomic_uint32 seq;		/* odd while a writer updates the fields below */
	pg_atomic_uint32 last_family;	/* 0: Unix socket, 4, 6 */
	pg_atomic_uint64 last_at;	/* TimestampTz; 0: never */
	pg_atomic_uint64 last_addr[2];
} PgwGateCounter;

typedef struct PgwGateStats
{
	pg_atomic_uint64 since;		/* TimestampTz of start or reset */
	PgwGateCounter c[PGW_GATE_NUM_OUTCOMES];
} PgwGateStats;

static const char *const outcome_names[PGW_GATE_NUM_OUTCOMES] = {
	"admitted",
	"address_not_allowed",
	"tls_required",
	"endpoint_suspended",
	"endpoint_over_limit",
	"endpoint_foreign",
	"endpoint_unknown",
	"branch_role_confined",
	"policy_unreadable",
	"other",
};

static bool gate_stats_on = true;

static PgwGateStats *stats = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

PG_FUNCTION_INFO_V1(pgwarden_gate_stats);
PG_FUNCTION_INFO_V1(pgwarden_gate_stats_reset);

static void
gatestats_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(sizeof(PgwGateStats));
}

static void
gatestats_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	stats = NULL;
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	stats = ShmemInitStruct("pgwarden gate stats", sizeof(PgwGateStats), &found);
	if (!found)
	{
		pg_atomic_init_u64(&stats->since, (uint64) GetCurrentTimestamp());
		for (int i = 0; i < PGW_GATE_NUM_OUTCOMES; i++)
		{
			PgwGateCounter *c = &stats->c[i];

			pg_atomic_init_u64(&c->count, 0);
			pg_atomic_init_u32(&c->seq, 0);
			pg_atomic_init_u32(&c->last_family, 0);
			pg_atomic_init_u64(&c->last_at, 0);
			pg_atomic_init_u64(&c->last_addr[0], 0);
			pg_atomic_init_u64(&c->last_addr[1], 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/* The counter of a verdict (gate.h): several verdicts share one outcome. */
static PgwGateOutcome
verdict_outcome(PgwVerdict verdict)
{
	switch (verdict)
	{
		case PGW_VERDICT_ALLOW:
		case PGW_VERDICT_ALLOW_REPAIR:
			return PGW_GATE_ADMITTED;
		case PGW_VERDICT_ADDRESS_NOT_ALLOWED:
		case PGW_VERDICT_NO_ADDRESS:
			return PGW_GATE_ADDRESS_NOT_ALLOWED;
		case PGW_VERDICT_TLS_REQUIRED:
			return PGW_GATE_TLS_REQUIRED;
		case PGW_VERDICT_ENDPOINT_SUSPENDED:
			return PGW_GATE_ENDPOINT_SUSPENDED;
		case PGW_VERDICT_ENDPOINT_FULL:
			return PGW_GATE_ENDPOINT_OVER_LIMIT;
		case PGW_VERDICT_ENDPOINT_FOREIGN:
			return PGW_GATE_ENDPOINT_FOREIGN;
		case PGW_VERDICT_ENDPOINT_UNKNOWN:
			return PGW_GATE_ENDPOINT_UNKNOWN;
		case PGW_VERDICT_BRANCH_ROLE:
			return PGW_GATE_BRANCH_ROLE_CONFINED;
		case PGW_VERDICT_POLICY_NOT_LOADED:
		case PGW_VERDICT_POLICY_DAMAGED:
			return PGW_GATE_POLICY_UNREADABLE;
		default:
			return PGW_GATE_OTHER;
	}
}

/* The gate's observer: atomics only, never a lock. */
static void
gatestats_count(PgwVerdict verdict, const PgwConnInfo *ci)
{
	PgwGateCounter *c;
	uint32		seq;

	if (stats == NULL || !gate_stats_on)
		return;
	c = &stats->c[verdict_outcome(verdict)];
	pg_atomic_fetch_add_u64(&c->count, 1);

	/* the last time and address: only if no other writer is inside */
	seq = pg_atomic_read_u32(&c->seq);
	if ((seq & 1) == 0 && pg_atomic_compare_exchange_u32(&c->seq, &seq, seq + 1))
	{
		uint64		addr[2] = {0, 0};

		if (!ci->local && ci->family != 0)
			memcpy(addr, ci->addr, sizeof(addr));
		pg_atomic_write_u64(&c->last_at, (uint64) GetCurrentTimestamp());
		pg_atomic_write_u32(&c->last_family, ci->local ? 0 : (uint32) ci->family);
		pg_atomic_write_u64(&c->last_addr[0], addr[0]);
		pg_atomic_write_u64(&c->last_addr[1], addr[1]);
		pg_write_barrier();
		pg_atomic_write_u32(&c->seq, seq + 2);
	}
}

/* pgwarden.gate_stats(): one row per outcome. */
Datum
pgwarden_gate_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz since;

	InitMaterializedSRF(fcinfo, 0);
	if (stats == NULL)
		return (Datum) 0;
	since = (TimestampTz) pg_atomic_read_u64(&stats->since);
	for (int i = 0; i < PGW_GATE_NUM_OUTCOMES; i++)
	{
		PgwGateCounter *c = &stats->c[i];
		Datum		values[5];
		bool		nulls[5] = {0};
		uint64		at = 0;
		uint32		family = 0;
		uint64		addr[2] = {0, 0};

		for (int tries = 0; tries < 1000; tries++)
		{
			uint32		s1 = pg_atomic_read_u32(&c->seq);
			uint32		s2;

			if (s1 & 1)
				continue;
			pg_read_barrier();
			at = pg_atomic_read_u64(&c->last_at);
			family = pg_atomic_read_u32(&c->last_family);
			addr[0] = pg_atomic_read_u64(&c->last_addr[0]);
			addr[1] = pg_atomic_read_u64(&c->last_addr[1]);
			pg_read_barrier();
			s2 = pg_atomic_read_u32(&c->seq);
			if (s1 == s2)
				break;
		}

		values[0] = CStringGetTextDatum(outcome_names[i]);
		values[1] = Int64GetDatum((int64) pg_atomic_read_u64(&c->count));
		if (at != 0)
			values[2] = TimestampTzGetDatum((TimestampTz) at);
		else
			nulls[2] = true;
		if (at != 0 && (family == 4 || family == 6))
		{
			inet	   *ip = palloc0(sizeof(inet));
			int			len = family == 4 ? 4 : 16;

			ip_family(ip) = family == 4 ? PGSQL_AF_INET : PGSQL_AF_INET6;
			ip_bits(ip) = len * 8;
			memcpy(ip_addr(ip), addr, len);
			SET_INET_VARSIZE(ip);
			values[3] = InetPGetDatum(ip);
		}
		else
			nulls[3] = true;
		values[4] = TimestampTzGetDatum(since);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* pgwarden._gate_stats_reset(): every counter back to zero. */
Datum
pgwarden_gate_stats_reset(PG_FUNCTION_ARGS)
{
	if (stats == NULL)
		PG_RETURN_VOID();
	for (int i = 0; i < PGW_GATE_NUM_OUTCOMES; i++)
	{
		PgwGateCounter *c = &stats->c[i];

		pg_atomic_write_u64(&c->count, 0);
		pg_atomic_write_u64(&c->last_at, 0);
	}
	pg_atomic_write_u64(&stats->since, (uint64) GetCurrentTimestamp());
	PG_RETURN_VOID();
}

void
pgw_gatestats_init(void)
{
	DefineCustomBoolVariable("pgwarden.gate_stats",
							 "Count the connection gate's decisions (pgwarden.gate_stats).",
							 "One atomic counter per outcome, plus the time and address of the last "
							 "connection of each kind; no lock is taken on the connection path.",
							 &gate_stats_on,
							 true,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);

	pgw_gate_register_observer(gatestats_count);

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = gatestats_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = gatestats_shmem_startup;
}
