/*-------------------------------------------------------------------------
 *
 * utility.h
 *	  ProcessUtility_hook (utility.c): the order in which the concerns see a
 *	  utility statement, and the extension's own life cycle.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGWARDEN_UTILITY_H
#define PGWARDEN_UTILITY_H

extern void pgw_utility_init(void);

#endif							/* PGWARDEN_UTILITY_H */
