/*-------------------------------------------------------------------------
 *
 * gate.h
 *	  The connection gate's verdicts and what a client is told about them.
 *
 * Every rule of the gate (the IP allowlist, required TLS, branch roles,
 * endpoints, the state of the policy snapshot) answers with one PgwVerdict.
 * The verdict, not a sentence, is what the gate acts on:
 *
 *	- the client of a refused connection gets only the short, stable reason
 *	  of pgw_verdict_client_message(): "address not allowed", "TLS
 *	  required", "endpoint unavailable" or "policy unavailable".  It is sent
 *	  before any authentication, so it must say nothing an unauthenticated
 *	  client may not know (no role, branch or database names, no counts);
 *	- the detail (addresses, names, counts, why the policy is unreadable)
 *	  goes to the server log only, with errdetail_log(), and to
 *	  pgwarden.check_connection(), which only pgwarden_admin may call;
 *	- per-verdict counters index arrays of PGW_NUM_VERDICTS entries, and
 *	  pgw_verdict_name() gives each verdict a stable identifier for SQL.
 *
 * Values are never stored across server starts, but the names are part of
 * the SQL interface: never rename one, only add verdicts (before
 * PGW_NUM_VERDICTS).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGWARDEN_GATE_H
#define PGWARDEN_GATE_H

typedef enum PgwVerdict
{
	/* admitted */
	PGW_VERDICT_ALLOW = 0,		/* every rule passed (or an exempt Unix socket) */
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
	PGW_VERDICT_POLICY_DAMAGED, /* unreadable, over capacity, control
								 * database or extension gone */

	PGW_NUM_VERDICTS
} PgwVerdict;

/* What a refused client is told: one short, stable reason per kind. */
typedef enum PgwClientReason
{
	PGW_CLIENT_ADMITTED = 0,
	PGW_CLIENT_ADDRESS,
	PGW_CLIENT_TLS,
	PGW_CLIENT_ENDPOINT,
	PGW_CLIENT_POLICY,
	PGW_NUM_CLIENT_REASONS
} PgwClientReason;

#define PGW_VERDICT_ADMITS(v) \
	((v) == PGW_VERDICT_ALLOW || (v) == PGW_VERDICT_ALLOW_REPAIR)

extern const char *pgw_verdict_name(PgwVerdict verdict);
extern PgwClientReason pgw_verdict_client_reason(PgwVerdict verdict);
extern const char *pgw_verdict_client_message(PgwVerdict verdict);

#endif							/* PGWARDEN_GATE_H */
