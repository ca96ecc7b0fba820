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
 *	gate.c		ClientAuthentication_hook: the connection gate (IP, TLS);
 *				its verdicts and client messages in gate.h
 *	policy.c	the policy snapshot in shared memory and its workers (policy.h)
 *	allowlist.c	IP allowlist entries, matching, SQL functions
 *	branches.c	protected branches, branch roles, read-only endpoints
 *	readonly.c	what read-only endpoints refuse beyond PostgreSQL's own
 *				read-only checks (readonly.h)
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGWARDEN_H
#define PGWARDEN_H

#include "gate.h"

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

/* utility.c */
extern void pgw_utility_init(void);

/* safespi.c: SPI queries with search_path = pg_catalog, pg_temp */
extern int	pgw_spi_connect(void);
extern void pgw_spi_finish(int nestlevel);
extern void pgw_worker_safe_settings(void);

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
extern void pgw_branches_note_created(Oid dboid);
extern char *pgw_protected_branch_names(void);

/* protect.c: pgwarden's own objects while a branch is protected */
extern void pgw_protect_init(void);
extern void pgw_protect_utility_check(struct Node *parsetree);
extern void pgw_protect_refuse_while_protected(const char *action);
extern void pgw_branches_enter_readonly(void);

/* endpoints.c: branches at connection time (gate check, snapshot loader) */
extern void pgw_endpoints_init(void);

/* gate.c, allowlist.c: the connection gate */
typedef enum PgwLocalConnections
{
	PGW_LOCAL_EXEMPT,
	PGW_LOCAL_ENFORCE
} PgwLocalConnections;

typedef enum PgwIpKind
{
	PGW_IP_ADDRESS,
	PGW_IP_RANGE,
	PGW_IP_CIDR
} PgwIpKind;

/* One parsed allowlist entry; addresses in network byte order. */
typedef struct PgwIpEntry
{
	int			family;			/* 4 or 6 */
	int			kind;			/* PgwIpKind */
	int			bits;			/* CIDR prefix length */
	unsigned char lo[16];
	unsigned char hi[16];
	char		normal[100];	/* the stored, normalised text */
} PgwIpEntry;

/* What the gate knows about a connection. */
typedef struct PgwConnInfo
{
	bool		local;			/* Unix socket */
	bool		ssl;
	int			family;			/* 4, 6, or 0 for a Unix socket */
	unsigned char addr[16];
	const char *role;
	const char *dbname;			/* NULL: physical replication */
	Oid			dboid;
	const char *endpoint;		/* pgwarden.endpoint asked for, or NULL */
	bool		superuser;		/* the role is a superuser (looked up for Unix
								 * sockets only: the repair path) */
} PgwConnInfo;

struct PgwPolicyView;
struct Port;

/*
 * A rule another concern adds to the gate: PGW_VERDICT_ALLOW, or the refusal
 * with a sentence for the server log in detail (never sent to the client).
 */
typedef PgwVerdict (*PgwGateCheck) (const PgwConnInfo *ci,
									const struct PgwPolicyView *view,
									char *detail, size_t detaillen);

extern bool pgw_require_ssl;
extern int	pgw_local_connections;

extern void pgw_gate_init(void);
extern void pgw_gate_register_check(PgwGateCheck check);
extern void pgw_conninfo_from_port(struct Port *port, PgwConnInfo *ci);
extern PgwVerdict pgw_gate_decide(const PgwConnInfo *ci,
								  const struct PgwPolicyView *view,
								  char *detail, size_t detaillen);

extern void pgw_allowlist_init(void);
extern bool pgw_ip_parse_entry(const char *input, PgwIpEntry *out,
							   char *problem, size_t problemlen,
							   char *suggest, size_t suggestlen);
extern PgwVerdict pgw_allowlist_decide(const struct PgwPolicyView *view,
									   const PgwConnInfo *ci,
									   char *detail, size_t detaillen);

#endif							/* PGWARDEN_H */
