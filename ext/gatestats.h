/*-------------------------------------------------------------------------
 *
 * gatestats.h
 *	  Counters of the connection gate's decisions in shared memory
 *	  (gatestats.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGWARDEN_GATESTATS_H
#define PGWARDEN_GATESTATS_H

#include "pgwarden.h"

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

extern bool pgw_gate_stats;

/* One call per decision of the gate (gate.c); atomics only, never a lock. */
extern void pgw_gatestats_count(PgwVerdict verdict, const PgwConnInfo *ci);
extern PgwGateOutcome pgw_gatestats_outcome(PgwVerdict verdict);

extern void pgw_gatestats_init(void);

#endif							/* PGWARDEN_GATESTATS_H */
