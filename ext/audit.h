/*-------------------------------------------------------------------------
 *
 * audit.h
 *	  The audit trail of the policy: pgwarden.audit_log (audit.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGWARDEN_AUDIT_H
#define PGWARDEN_AUDIT_H

/*
 * Record an event that must outlive the current transaction (a refusal:
 * the transaction is about to abort).  It goes to a queue in shared memory
 * that the policy loader writes into pgwarden.audit_log in a transaction of
 * its own.  after_json is a JSON object (text) or NULL.  Never raises an
 * error; a full queue counts the event as dropped.
 */
extern void pgw_audit_enqueue(const char *action, const char *object,
							  const char *after_json);

extern void pgw_audit_init(void);

#endif							/* PGWARDEN_AUDIT_H */
