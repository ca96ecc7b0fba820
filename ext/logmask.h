/*-------------------------------------------------------------------------
 *
 * logmask.h
 *	  emit_log_hook (logmask.c): no plaintext password reaches the server log.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGWARDEN_LOGMASK_H
#define PGWARDEN_LOGMASK_H

/*
 * A plaintext password seen by check_password_hook: any later occurrence in
 * a log line is masked until a later statement starts a later transaction.
 */
extern void pgw_logmask_remember(const char *password);

extern void pgw_logmask_init(void);

#endif							/* PGWARDEN_LOGMASK_H */
