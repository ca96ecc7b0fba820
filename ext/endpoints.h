/*-------------------------------------------------------------------------
 *
 * endpoints.h
 *	  Branches at connection time (endpoints.c): the policy loader of the
 *	  branch tables and the gate rule for branch roles and endpoints, both
 *	  registered by the init function.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGWARDEN_ENDPOINTS_H
#define PGWARDEN_ENDPOINTS_H

extern void pgw_endpoints_init(void);

#endif							/* PGWARDEN_ENDPOINTS_H */
