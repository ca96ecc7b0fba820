/*-------------------------------------------------------------------------
 *
 * protect.h
 *	  While any branch is protected, pgwarden's own objects cannot be
 *	  dropped, altered or detached (protect.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGWARDEN_PROTECT_H
#define PGWARDEN_PROTECT_H

struct Node;

/* ProcessUtility (utility.c): the statements the object access hook misses */
extern void pgw_protect_utility_check(struct Node *parsetree);

/* refuse action (a sentence) while a branch is protected, outside our scripts */
extern void pgw_protect_refuse_while_protected(const char *action);

extern void pgw_protect_init(void);

#endif							/* PGWARDEN_PROTECT_H */
