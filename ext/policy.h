/*-------------------------------------------------------------------------
 *
 * policy.h
 *	  The connection policy snapshot that authentication reads.
 *
 * Authentication runs before a backend is connected to a database, so the
 * connection gate cannot read the policy tables.  policy.c keeps a snapshot
 * of them in shared memory: a header plus an arena holding "sections", each
 * a flat array of fixed-size items that a concern defines.  A background
 * worker connected to the control database loads the tables, lays the
 * sections out and publishes them under the LWLock of tranche
 * "pgwarden_policy".
 *
 * How another concern adds data to the snapshot (for example protected
 * database OIDs, endpoints, branch-role bindings):
 *
 *	1. Pick the section id below (add one to PgwSectionId if none fits; ids
 *	   are private to one server start, so renumbering is harmless) and
 *	   define the item struct in the concern's own .c file (only its loader
 *	   and its gate rule read it).  Items must be plain data (no pointers):
 *	   they are copied into shared memory.  Sort them with the comparator
 *	   the readers will search with (pgw_policy_find).
 *	2. Write a loader, void fn(PgwPolicyBuild *build), that runs SPI queries
 *	   over the concern's tables in the control database and calls
 *	   pgw_policy_build_section() once per section it fills.  It runs in the
 *	   policy worker inside a transaction with SPI connected, and also in
 *	   ordinary backends (pgw_policy_build_local) for checks such as the
 *	   self-lockout test.  Raise an ERROR when the data are inconsistent: the
 *	   policy is then marked damaged and the gate fails closed.
 *	3. Register it from the concern's init function in _PG_init with
 *	   pgw_policy_register_loader() (before pgw_policy_init() runs or after:
 *	   order does not matter, registration only happens in the postmaster).
 *	4. Attach the trigger function pgwarden._policy_changed() to the
 *	   concern's tables (AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE FOR EACH
 *	   STATEMENT).  It bumps pgwarden.policy_version, which the worker polls
 *	   every 100 ms (on standbys too), and wakes the worker at commit.  It
 *	   also makes the transaction run every loader just before it commits:
 *	   a change after which the policy would not fit in pgwarden.policy_memory
 *	   (or a loader would raise) is refused then, so it never commits.
 *	5. Read it with pgw_policy_section() or look an item up with
 *	   pgw_policy_find() (bsearch over the section, or a slice of it) on a
 *	   PgwPolicyView obtained from pgw_policy_acquire() (shared lock held
 *	   until pgw_policy_release(); never ereport() while holding it) or
 *	   from pgw_policy_build_local().  The gate does this for its rules
 *	   (gate.h).
 *
 * Protected databases (PGW_SECTION_PROTECTED_DATABASES, filled by
 * endpoints.c's loader) are read by allowlist.c: the section holds a sorted
 * array of Oid, and the IP allowlist's protected-only mode restricts
 * exactly the databases listed there.  While no loader fills it, no
 * database is protected.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGWARDEN_POLICY_H
#define PGWARDEN_POLICY_H

#include "lib/stringinfo.h"
#include "utils/timestamp.h"

typedef enum PgwSectionId
{
	PGW_SECTION_GATE_CONFIG = 0,	/* PgwGateConfig, one item (allowlist.c) */
	PGW_SECTION_IP_SCOPES,		/* PgwIpScope[], global first, then by role */
	PGW_SECTION_IP_V4,			/* PgwIpV4Range[], per scope, sorted, disjoint */
	PGW_SECTION_IP_V6,			/* PgwIpV6Range[], per scope, sorted, disjoint */
	PGW_SECTION_PROTECTED_DATABASES,	/* Oid[], sorted (endpoints.c) */
	PGW_SECTION_ENDPOINTS,		/* PgwEndpointItem[] by name (endpoints.c) */
	PGW_SECTION_BRANCH_ROLES,	/* PgwBranchRoleItem[] by role (endpoints.c) */
	PGW_NUM_SECTIONS
} PgwSectionId;

typedef struct PgwSectionInfo
{
	Size		offset;			/* from the start of the arena, MAXALIGNed */
	Size		size;			/* bytes: itemsize * nitems */
	Size		itemsize;
	int32		nitems;
	bool		present;
} PgwSectionInfo;

/* What a reader sees: sections over some arena (shared or local memory). */
typedef struct PgwPolicyView
{
	const char *base;
	const PgwSectionInfo *sections;
} PgwPolicyView;

/* Being built: sections appended to a local buffer. */
typedef struct PgwPolicyBuild
{
	StringInfoData data;
	PgwSectionInfo sections[PGW_NUM_SECTIONS];
} PgwPolicyBuild;

typedef void (*PgwPolicyLoader) (PgwPolicyBuild *build);

/* bsearch's comparator: the key searched for against one item. */
typedef int (*PgwItemCmp) (const void *key, const void *item);

/*
 * A task the policy loader runs after every poll (at least every 100 ms, and
 * when woken by pgw_policy_wake_loader()), on primaries and standbys.  It
 * runs outside any transaction, must start and end its own and must catch
 * its own errors (an error escaping it restarts the loader).  A launcher
 * task runs in the policy launcher (connected to no database) after every
 * poll and configuration reload, also while pgwarden is created nowhere;
 * it must not raise an error.
 */
typedef void (*PgwPolicyTask) (void);

typedef enum PgwPolicyState
{
	PGW_POLICY_NOT_LOADED = 0,	/* nothing published since server start */
	PGW_POLICY_LOADED,			/* sections valid */
	PGW_POLICY_DAMAGED			/* the tables could not be read or are bad */
} PgwPolicyState;

/* A copy of the header, for status reports and decisions. */
typedef struct PgwPolicyStatus
{
	PgwPolicyState state;
	int64		version;		/* pgwarden.policy_version at load (0: none) */
	Oid			control_db;		/* InvalidOid: pgwarden not created */
	TimestampTz loaded_at;
	Size		used;
	Size		capacity;
	char		detail[256];	/* why damaged, or what is loaded */
} PgwPolicyStatus;

/* policy.c */
extern int	pgw_policy_memory_kb;
extern int	pgw_policy_load_timeout_ms;

extern void pgw_policy_init(void);
extern void pgw_policy_forget_control_database(void);
extern void pgw_policy_register_loader(const char *name, PgwPolicyLoader loader);
extern void pgw_policy_register_task(PgwPolicyTask task);
extern void pgw_policy_register_launcher_task(PgwPolicyTask task);
extern void pgw_policy_wake_loader(void);
extern void pgw_policy_build_section(PgwPolicyBuild *build, PgwSectionId id,
									 const void *items, Size itemsize, int nitems);
extern const void *pgw_policy_section(const PgwPolicyView *view, PgwSectionId id,
									  int *nitems);
extern const void *pgw_policy_find(const PgwPolicyView *view, PgwSectionId id,
								   const void *key, PgwItemCmp cmp);
extern int	pgw_policy_oid_cmp(const void *a, const void *b);
extern const void *pgw_policy_find_slice(const PgwPolicyView *view, PgwSectionId id,
										 int first, int count,
										 const void *key, PgwItemCmp cmp);

extern bool pgw_policy_acquire(PgwPolicyView *view, PgwPolicyStatus *status);
extern void pgw_policy_release(void);
extern bool pgw_policy_wait_loaded(int timeout_ms);

extern void pgw_policy_build_local(PgwPolicyBuild *build, PgwPolicyView *view);
extern Size pgw_policy_capacity(void);

#endif							/* PGWARDEN_POLICY_H */
