/*-------------------------------------------------------------------------
 *
 * gate.h
 *	  The connection gate: its verdicts, what a client is told about them,
 *	  and how a concern adds a rule (gate.c).
 *
 * Every rule of the gate (the IP allowlist, required TLS, branch roles,
 * endpoints, the state of the policy snapshot) answers with one PgwVerdict.
 * The verdict, not a sentence, is what the gate acts on:
 *
 *	- the client of a refused connection gets only the short, stable reason
 *	  chosen by the verdict: "address not allowed", "TLS required",
 *	  "endpoint unavailable" or "policy unavailable".  It is sent before any
 *	  authentication, so it must say nothing an unauthenticated client may
 *	  not know (no role, branch or database names, no counts);
 *	- the detail (addresses, names, counts, why the policy is unreadable)
 *	  goes to the server log only, with errdetail_log(), and to
 *	  pgwarden.check_connection(), which only pgwarden_admin may call;
 *	- observers (gatestats.c) see every verdict; several verdicts may share
 *	  one counter.
 *
 * Values are never stored across server starts, but their names (gate.c's
 * table) are part of the SQL interface: never rename one, only add
 * verdicts (before PGW_NUM_VERDICTS).
 *
 * A concern adds a rule with pgw_gate_register() from its init function in
 * _PG_init; the order of the inits does not matter, the rule's stage does.
 * A rule has up to three parts:
 *
 *	check			decides from the connection and the policy snapshot,
 *					with the snapshot's shared lock held: no side effects, no
 *					ereport(), no catalog access.  It may leave a note (plain
 *					data, at most PGW_GATE_NOTE_SIZE bytes) for the two others.
 *	on_admit		runs once every check admitted the connection, after the
 *					lock is released and before the client is asked for a
 *					credential; it may still refuse (an endpoint at its
 *					connection limit).  Not run by dry runs
 *					(pgwarden.check_connection).
 *	on_authenticated runs after the password exchange succeeded, before the
 *					client's startup options are applied (claiming an
 *					endpoint's slot, entering read-only mode); it may still
 *					refuse (the last slot taken meanwhile).  Not run by dry
 *					runs either.  What only an authenticated session may
 *					hold belongs here: a client that never completes the
 *					exchange must not keep others out.
 *
 * The gate never calls a concern by name: everything it runs was
 * registered.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGWARDEN_GATE_H
#define PGWARDEN_GATE_H

typedef enum PgwVerdict
{
	/* admitted */
	PGW_VERDICT_ALLOW = 0,		/* every rule passed (or an exempt Unix
								 * socket) */
	PGW_VERDICT_ALLOW_REPAIR,	/* policy unreadable: a superuser over a Unix
								 * socket, let in to repair it */

	/* refused: "address not allowed" */
	PGW_VERDICT_ADDRESS_NOT_ALLOWED,	/* not in the IP allowlist */
	PGW_VERDICT_NO_ADDRESS,		/* Unix socket, local_connections = enforce,
								 * and allowlist entries apply */

	/* refused: "TLS required" */
	PGW_VERDICT_TLS_REQUIRED,

	/* refused: "endpoint unavailable" */
	PGW_VERDICT_BRANCH_ROLE,	/* a branch role outside its branch */
	PGW_VERDICT_ENDPOINT_UNKNOWN,	/* no endpoint of the name asked for */
	PGW_VERDICT_ENDPOINT_FOREIGN,	/* the endpoint serves another database */
	PGW_VERDICT_ENDPOINT_SUSPENDED,
	PGW_VERDICT_ENDPOINT_FULL,	/* at its connection limit */
	PGW_VERDICT_ENDPOINT_REPLICATION,	/* a replication connection through a
										 * read-only endpoint */

	/* refused: "policy unavailable" */
	PGW_VERDICT_POLICY_NOT_LOADED,	/* not published since the server started */
	PGW_VERDICT_POLICY_DAMAGED, /* unreadable, over capacity, control database
								 * or extension gone */

	PGW_NUM_VERDICTS
} PgwVerdict;

#define PGW_VERDICT_ADMITS(v) \
	((v) == PGW_VERDICT_ALLOW || (v) == PGW_VERDICT_ALLOW_REPAIR)

/* What the gate knows about a connection. */
typedef struct PgwConnInfo
{
	bool		local;			/* Unix socket */
	bool		ssl;
	bool		walsender;		/* a replication connection (physical or
								 * logical) being authenticated */
	int			family;			/* 4, 6, or 0 for a Unix socket */
	unsigned char addr[16];		/* network byte order */
	const char *role;
	const char *dbname;			/* NULL: physical replication */
	Oid			dboid;
	const char *endpoint;		/* pgwarden.endpoint asked for, or NULL */
	bool		superuser;		/* the role is a superuser (looked up for Unix
								 * sockets only: the repair path) */
} PgwConnInfo;

/* Where a rule runs among the others: lower stages first. */
typedef enum PgwGateStage
{
	PGW_GATE_STAGE_ADDRESS = 10,	/* the IP allowlist (allowlist.c) */
	PGW_GATE_STAGE_BRANCH = 20, /* branch roles and endpoints (endpoints.c) */
	PGW_GATE_STAGE_TRANSPORT = 30	/* required TLS (gate.c) */
} PgwGateStage;

#define PGW_GATE_NOTE_SIZE 256

/* What a rule's check hands to its on_admit and on_authenticated parts. */
typedef union PgwGateNote
{
	char		data[PGW_GATE_NOTE_SIZE];
	double		align;
} PgwGateNote;

struct PgwPolicyView;
struct Port;

/*
 * PGW_VERDICT_ALLOW, or the refusal with a sentence for the server log in
 * detail (never sent to the client).  note is zeroed before the call.
 */
typedef PgwVerdict (*PgwGateCheck) (const PgwConnInfo *ci,
									const struct PgwPolicyView *view,
									PgwGateNote *note,
									char *detail, size_t detaillen);
typedef PgwVerdict (*PgwGateAdmit) (const PgwConnInfo *ci,
									const PgwGateNote *note,
									char *detail, size_t detaillen);
typedef PgwVerdict (*PgwGateAuthenticated) (const PgwGateNote *note,
											char *detail, size_t detaillen);

/* Told every decision of a real connection (not dry runs); must not raise. */
typedef void (*PgwGateObserver) (PgwVerdict verdict, const PgwConnInfo *ci);

typedef struct PgwGateRule
{
	const char *name;
	PgwGateStage stage;
	bool		exempt_too;		/* also for exempt Unix-socket connections
								 * (pgwarden.local_connections = exempt) */
	PgwGateCheck check;
	PgwGateAdmit on_admit;		/* or NULL */
	PgwGateAuthenticated on_authenticated;	/* or NULL */
} PgwGateRule;

extern void pgw_gate_register(const PgwGateRule *rule);
extern void pgw_gate_register_observer(PgwGateObserver observer);

/* For concerns judging a connection themselves (the self-lockout check). */
extern void pgw_conninfo_from_port(struct Port *port, PgwConnInfo *ci);
extern bool pgw_gate_exempt(const PgwConnInfo *ci);

extern void pgw_gate_init(void);

#endif							/* PGWARDEN_GATE_H */
