/*-------------------------------------------------------------------------
 *
 * constants.h
 *	  The few names every part of pgwarden shares: its SQLSTATEs and the
 *	  security-label providers that mirror its state into shared catalogs.
 *
 * Nothing else lives here.  Each concern of ext/ has a header of its own
 * (gate.h, policy.h, allowlist.h, endpoints.h, branches.h, readonly.h,
 * protect.h, password.h, logmask.h, utility.h, safespi.h, gatestats.h,
 * audit.h, compat.h) declaring only what other files use; ARCHITECTURE.md
 * says which file owns what.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGWARDEN_CONSTANTS_H
#define PGWARDEN_CONSTANTS_H

/* PW001: refused because a branch is protected (branches.c, protect.c) */
#define ERRCODE_PGW_PROTECTED_BRANCH	MAKE_SQLSTATE('P','W','0','0','1')
/* PW002: refused because the session user is a branch role (branches.c) */
#define ERRCODE_PGW_BRANCH_ROLE			MAKE_SQLSTATE('P','W','0','0','2')

/*
 * Security-label providers.  "pgwarden" labels databases and roles with
 * their branch state (branches.c); "pgwarden_control" marks the control
 * database, the one holding the policy tables (policy.c).
 */
#define PGW_LABEL_PROVIDER		"pgwarden"
#define PGW_CONTROL_PROVIDER	"pgwarden_control"
#define PGW_CONTROL_LABEL		"control database"

#endif							/* PGWARDEN_CONSTANTS_H */
