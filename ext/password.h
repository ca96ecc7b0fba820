/*-------------------------------------------------------------------------
 *
 * password.h
 *	  The password policy (password.c): check_password_hook and the
 *	  estimator's SQL functions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGWARDEN_PASSWORD_H
#define PGWARDEN_PASSWORD_H

/* pgwarden.min_password_entropy, also recorded by audit.c */
extern double pgw_min_password_entropy;

extern void pgw_password_init(void);

#endif							/* PGWARDEN_PASSWORD_H */
