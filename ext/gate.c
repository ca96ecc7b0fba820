/*-------------------------------------------------------------------------
 *
 * gate.c
 *	  The connection gate: IP allowlist, required TLS and whatever other
 *	  concerns register, decided at authentication.
 *
 * When to decide.  In PostgreSQL 15 ClientAuthentication() runs the whole
 * password exchange first and calls ClientAuthentication_hook only
 * afterwards, with its status.  For SCRAM, CheckSASLAuth() has by then
 * already sent AuthenticationSASLFinal (the server signature, which proves
 * the password was right) to the client.  A gate living only in the hook
 * would therefore answer a right password differently from a wrong one: an
 * oracle for anyone at a refused address.
 *
 * So the gate decides before the client is asked for any credential.  The
 * backend sends every authentication message ('R': AuthenticationSASL,
 * ...MD5Password, ...CleartextPassword, ...GSS, and finally
 * AuthenticationOk) through pq_putmessage(), which dispatches through the
 * PqCommMethods table.  _PG_init (in the postmaster) installs a copy of
 * that table whose putmessage, while ClientAuthInProgress, makes the
 * decision on the first 'R' message, before it is sent.  A refused client
 * then gets the same single ErrorResponse whatever credentials it holds:
 * it is never asked for them, so there is nothing to compare, and the
 * timing cannot differ either.  Methods that send no request before
 * AuthenticationOk (trust, peer, cert) reach ClientAuthentication_hook
 * first, which decides when the interception has not.  Either way the
 * decision happens once per connection, before any earlier
 * ClientAuthentication_hook runs; that hook is always called afterwards.
 * Replacing PqCommMethods is inherited by every backend through fork();
 * parallel workers swap in their own table later, after authentication.
 *
 * The decision uses only the client address, role name, database and TLS
 * state, and the policy snapshot in shared memory (policy.c): nothing that
 * depends on the password or on whether the role exists.  While the
 * snapshot is not loaded yet (after start the gate waits up to
 * pgwarden.policy_load_timeout) or is damaged, TCP connections are
 * refused.  A refusal is one FATAL line naming the address, the role, the
 * database and the reason; the client sees the same text.
 *
 * Other concerns (branch credentials, endpoints) add their own rules with
 * pgw_gate_register_check(); they run at the same point with the snapshot
 * held, after the IP rule and before the TLS rule.  Exempt Unix-socket
 * connections skip the IP and TLS rules but still pass those checks (and
 * are let in when the snapshot cannot be read).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_database.h"
#include "utils/fmgroids.h"
#include "utils/relcache.h"

/*
 * Debian builds the server with GSSAPI, so libpq-be.h wants the Kerberos
 * headers.  The gate never touches GSSAPI state, and Port has the same
 * layout either way (its gss member is a pointer in both cases).
 */
#undef ENABLE_GSS
#include "libpq/auth.h"
#include "libpq/hba.h"
#include "libpq/libpq.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "utils/guc.h"

#include "compat.h"
#include "gatestats.h"
#include "pgwarden.h"
#include "policy.h"

#define PGW_MAX_GATE_CHECKS 8

bool		pgw_require_ssl = true;
int			pgw_local_connections = PGW_LOCAL_EXEMPT;

static const struct config_enum_entry local_connections_options[] = {
	{"exempt", PGW_LOCAL_EXEMPT, false},
	{"enforce", PGW_LOCAL_ENFORCE, false},
	{NULL, 0, false}
};

static ClientAuthentication_hook_type prev_client_auth_hook = NULL;
static const PQcommMethods *prev_comm_methods = NULL;
static PQcommMethods gate_comm_methods;

static PgwGateCheck gate_checks[PGW_MAX_GATE_CHECKS];
static int	n_gate_checks = 0;

/* per backend: has this connection been judged? */
static bool gate_decided = false;

void
pgw_gate_register_check(PgwGateCheck check)
{
	if (!process_shared_preload_libraries_in_progress)
		elog(ERROR, "pgwarden gate checks must be registered in _PG_init");
	if (n_gate_checks >= PGW_MAX_GATE_CHECKS)
		elog(ERROR, "too many pgwarden gate checks");
	gate_checks[n_gate_checks++] = check;
}

void
pgw_conninfo_from_port(Port *port, PgwConnInfo *ci)
{
	const struct sockaddr *sa = (const struct sockaddr *) &port->raddr.addr;

	memset(ci, 0, sizeof(*ci));
	ci->role = port->user_name;
	ci->dbname = (port->database_name && port->database_name[0]) ?
		port->database_name : NULL;
	ci->ssl = PGW_PORT_USES_TLS(port);
	if (sa->sa_family == AF_INET)
	{
		ci->family = 4;
		memcpy(ci->addr, &((const struct sockaddr_in *) sa)->sin_addr, 4);
	}
	else if (sa->sa_family == AF_INET6)
	{
		ci->family = 6;
		memcpy(ci->addr, &((const struct sockaddr_in6 *) sa)->sin6_addr, 16);
	}
	else
		ci->local = true;
}

static void
describe_client(const PgwConnInfo *ci, char *buf, size_t len)
{
	if (ci->local || ci->family == 0)
		strlcpy(buf, "local socket", len);
	else if (inet_ntop(ci->family == 4 ? AF_INET : AF_INET6, ci->addr, buf, len) == NULL)
		strlcpy(buf, "?", len);
}

/*
 * The gate's verdict.  view == NULL: use the published snapshot (waiting
 * for its first load), otherwise the given one.  Raises no error.
 */
bool
pgw_gate_decide(const PgwConnInfo *ci, const PgwPolicyView *given,
				char *reason, size_t reasonlen)
{
	PgwPolicyView view;
	PgwPolicyStatus status;
	bool		allow;
	bool		held = false;
	bool		exempt = ci->local && pgw_local_connections == PGW_LOCAL_EXEMPT;

	/*
	 * Exempt Unix-socket connections skip the IP and TLS rules but not the
	 * registered checks (branch roles, endpoints); without a readable policy
	 * they are let in (local administration must stay possible).
	 */
	if (given != NULL)
		view = *given;
	else
	{
		(void) pgw_policy_wait_loaded(pgw_policy_load_timeout_ms);
		if (!pgw_policy_acquire(&view, &status))
		{
			if (exempt)
			{
				snprintf(reason, reasonlen,
						 "Unix-socket connections are exempt (pgwarden.local_connections = exempt)");
				return true;
			}
			if (status.state == PGW_POLICY_NOT_LOADED)
				snprintf(reason, reasonlen,
						 "the connection policy is not loaded yet (%s); %s connections are refused until it is",
						 status.detail, ci->local ? "Unix-socket" : "TCP");
			else
				snprintf(reason, reasonlen,
						 "the connection policy cannot be read (%s); %s connections are refused until it is repaired",
						 status.detail, ci->local ? "Unix-socket" : "TCP");
			return false;
		}
		held = true;
	}

	allow = exempt || pgw_allowlist_decide(&view, ci, reason, reasonlen);
	for (int i = 0; allow && i < n_gate_checks; i++)
		allow = gate_checks[i] (ci, &view, reason, reasonlen);

	if (held)
		pgw_policy_release();

	if (exempt)
	{
		if (allow)
			snprintf(reason, reasonlen,
					 "Unix-socket connections are exempt (pgwarden.local_connections = exempt)");
		return allow;
	}

	if (allow && pgw_require_ssl && !ci->ssl)
	{
		if (ci->local)
			snprintf(reason, reasonlen,
					 "TLS is required (pgwarden.require_ssl is on) and Unix-socket connections cannot use TLS (pgwarden.local_connections = enforce)");
		else
			snprintf(reason, reasonlen,
					 "TLS is required (pgwarden.require_ssl is on) and this connection does not use it");
		return false;
	}
	return allow;
}

/*
 * The OID of a database by name, during authentication.  Like postinit.c's
 * GetDatabaseTuple: before the critical shared relcache entries are built
 * (first connection after a restart) only a heap scan of pg_database works.
 */
static Oid
database_oid(const char *dbname)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			result = InvalidOid;

	ScanKeyInit(&key, Anum_pg_database_datname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum(dbname));
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = systable_beginscan(rel, DatabaseNameIndexId, criticalSharedRelcachesBuilt,
							  NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		result = ((Form_pg_database) GETSTRUCT(tup))->oid;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

/* Judge the connection being authenticated; FATAL when refused. */
static void
gate_enforce(Port *port)
{
	PgwConnInfo ci;
	char		reason[512];
	char		client[INET6_ADDRSTRLEN + 16];
	bool		tls_refusal;
	bool		allowed;

	gate_decided = true;
	pgw_conninfo_from_port(port, &ci);
	/* protected-only mode and the branch checks need the database's OID */
	if (ci.dbname)
		ci.dboid = database_oid(ci.dbname);

	allowed = pgw_gate_decide(&ci, NULL, reason, sizeof(reason));
	pgw_gatestats_count(allowed, reason, &ci);
	if (allowed)
		return;

	describe_client(&ci, client, sizeof(client));
	tls_refusal = strncmp(reason, "TLS is required", 15) == 0;
	ereport(FATAL,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("pgwarden: connection from %s refused for role \"%s\" and database \"%s\": %s",
					client, ci.role ? ci.role : "",
					ci.dbname ? ci.dbname : "(replication)", reason),
			 !tls_refusal ? 0 : EnableSSL ?
			 errhint("Connect with TLS, for example sslmode=verify-full (see pgwarden connection-string).") :
			 errhint("The server has ssl = off, so every TCP connection is refused: give it a certificate (pgwarden tls init) or set pgwarden.require_ssl = off.")));
}

/* PqCommMethods->putmessage during authentication: see the file header. */
static int
gate_putmessage(char msgtype, const char *s, size_t len)
{
	if (msgtype == 'R' && !gate_decided && ClientAuthInProgress &&
		MyProcPort != NULL)
		gate_enforce(MyProcPort);
	return prev_comm_methods->putmessage(msgtype, s, len);
}

static void
gate_client_auth_hook(Port *port, int status)
{
	/*
	 * Methods that ask the client for something went through
	 * gate_putmessage already.  If one did not, another library replaced
	 * PqCommMethods without chaining to ours, and the decision below comes
	 * after the exchange: still enforced, but no longer oracle-free.
	 */
	if (!gate_decided && port->hba != NULL &&
		port->hba->auth_method != uaTrust && port->hba->auth_method != uaPeer &&
		port->hba->auth_method != uaCert && port->hba->auth_method != uaIdent &&
		port->hba->auth_method != uaReject &&
		port->hba->auth_method != uaImplicitReject)
		ereport(WARNING,
				(errmsg("pgwarden: the connection gate could not decide before the password exchange"),
				 errdetail("PqCommMethods was replaced after pgwarden was loaded."),
				 errhint("Load pgwarden last in shared_preload_libraries.")));

	/* deny decisions come before any earlier hook */
	if (!gate_decided)
		gate_enforce(port);
	if (prev_client_auth_hook)
		prev_client_auth_hook(port, status);
}

void
pgw_gate_init(void)
{
	DefineCustomBoolVariable("pgwarden.require_ssl",
							 "Refuse TCP connections that do not use TLS.",
							 "Checked at authentication before the client is asked for a password; "
							 "the refusal says that TLS is required.  Unix-socket connections are "
							 "covered only when pgwarden.local_connections = enforce.",
							 &pgw_require_ssl,
							 true,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	DefineCustomEnumVariable("pgwarden.local_connections",
							 "Whether Unix-socket connections are subject to the IP allowlist and the TLS rule.",
							 "exempt (default): local administration is always possible.  enforce: a "
							 "Unix-socket connection has no address, so it is refused whenever IP "
							 "allowlist entries apply to its role, and whenever pgwarden.require_ssl "
							 "is on (PostgreSQL cannot use TLS over Unix sockets).",
							 &pgw_local_connections,
							 PGW_LOCAL_EXEMPT,
							 local_connections_options,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);

	pgw_allowlist_init();
	pgw_policy_init();

	prev_client_auth_hook = ClientAuthentication_hook;
	ClientAuthentication_hook = gate_client_auth_hook;

	prev_comm_methods = PqCommMethods;
	gate_comm_methods = *prev_comm_methods;
	gate_comm_methods.putmessage = gate_putmessage;
	PqCommMethods = &gate_comm_methods;
}
