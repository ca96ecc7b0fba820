/*-------------------------------------------------------------------------
 *
 * readonly.h
 *	  Read-only sessions (readonly.c): what a connection admitted through a
 *	  read-only endpoint may no longer do.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGWARDEN_READONLY_H
#define PGWARDEN_READONLY_H

struct Node;

/*
 * This backend was admitted through the read-only endpoint of that name
 * (endpoints.c, after authentication and before the client's startup
 * options are applied): from now on every transaction is read-only.
 */
extern void pgw_readonly_enter(const char *endpoint);

/*
 * ProcessUtility (utility.c): in a read-only session, refuse the statements
 * PostgreSQL allows in a read-only transaction but a read-only endpoint
 * does not, and make the statement's transaction read-only.
 */
extern void pgw_readonly_utility_check(struct Node *parsetree);

extern void pgw_readonly_init(void);

#endif							/* PGWARDEN_READONLY_H */
