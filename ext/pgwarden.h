/*-------------------------------------------------------------------------
 *
 * pgwarden.h
 *	  Declarations shared by the files of the pgwarden extension.
 *
 * Each ext/ file owns one concern and exposes an init function that
 * _PG_init (pgwarden.c) calls once in the postmaster:
 *	password.c	check_password_hook: the password policy
 *	logmask.c	emit_log_hook: no plaintext password reaches the server log
 *	utility.c	ProcessUtility_hook: one control database, extension life cycle
 *	branches.c	protected branches, branch roles, read-only endpoints
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGWARDEN_H
#define PGWARDEN_H

/* password.c */
typedef enum PgwPasswordCheck
{
	PGW_CHECK_OFF,
	PGW_CHECK_WARN,
	PGW_CHECK_ENFORCE
} PgwPasswordCheck;

typedef enum PgwHashedPasswords
{
	PGW_HASHED_REJECT,
	PGW_HASHED_ALLOW
} PgwHashedPasswords;

extern double pgw_min_password_entropy;
extern int	pgw_password_check;
extern int	pgw_hashed_passwords;
extern char *pgw_password_banned_words;

extern void pgw_password_init(void);

/* logmask.c */
extern void pgw_logmask_init(void);
extern void pgw_logmask_remember(const char *password);
extern char *pgw_mask_passwords(const char *text);

/* utility.c */
extern void pgw_utility_init(void);

/* branches.c */
#define ERRCODE_PGW_PROTECTED_BRANCH	MAKE_SQLSTATE('P','W','0','0','1')
#define ERRCODE_PGW_BRANCH_ROLE			MAKE_SQLSTATE('P','W','0','0','2')

struct PlannedStmt;

extern char *pgw_endpoint;
extern bool pgw_readonly_session;

extern void pgw_branches_init(void);
extern void pgw_branches_utility_check(struct PlannedStmt *pstmt);
extern void pgw_branches_utility_after(struct PlannedStmt *pstmt);
extern void pgw_branches_clear_labels(void);
extern void pgw_branches_enter_readonly(void);

#endif							/* PGWARDEN_H */
