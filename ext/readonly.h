/*-------------------------------------------------------------------------
 *
 * readonly.h
 *	  What a read-only endpoint refuses beyond PostgreSQL's own checks of a
 *	  read-only transaction (readonly.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGWARDEN_READONLY_H
#define PGWARDEN_READONLY_H

#include "nodes/nodes.h"

/*
 * NULL when a read-only endpoint may call the function, else a sentence
 * saying what it would change (for the DETAIL of the refusal).
 */
extern const char *pgw_readonly_refused_function(Oid fn);

/*
 * NULL when a read-only endpoint may run the utility statement as far as
 * readonly.c is concerned, else the statement's name for the message.
 */
extern const char *pgw_readonly_refused_statement(Node *parsetree);

#endif							/* PGWARDEN_READONLY_H */
