/*-------------------------------------------------------------------------
 *
 * allowlist.h
 *	  The IP allowlist (allowlist.c): its policy loader, its gate rule and
 *	  its SQL functions are registered by the init function; nothing else
 *	  is called from outside.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGWARDEN_ALLOWLIST_H
#define PGWARDEN_ALLOWLIST_H

extern void pgw_allowlist_init(void);

#endif							/* PGWARDEN_ALLOWLIST_H */
