/*-------------------------------------------------------------------------
 *
 * audit.h
 *	  The audit trail of the policy: pgwarden.audit_log (audit.c).
 *
 * Its init function installs every hook it needs and registers the task
 * that writes queued events from the policy loader; nothing else is called
 * from outside.  Call it last in _PG_init: its hooks wrap those installed
 * before it (see audit.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGWARDEN_AUDIT_H
#define PGWARDEN_AUDIT_H

extern void pgw_audit_init(void);

#endif							/* PGWARDEN_AUDIT_H */
