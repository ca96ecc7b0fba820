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
 * depends on the password or on whether the role exists (for a Unix
 * socket, whether it is a superuser: see below).  Every rule answers with
 * a verdict (gate.h).  A refusal is one FATAL message whose text is chosen
 * by the verdict from a fixed table ("address not allowed", "TLS
 * required", "endpoint unavailable", "policy unavailable"), so an
 * unauthenticated client learns nothing it did not send; the address,
 * role, database, verdict name and the sentence of the rule that refused
 * go to the server log only, in the DETAIL (errdetail_log).
 *
 * While the snapshot is not loaded yet (after start the gate waits up to
 * pgwarden.policy_load_timeout), is damaged or does not fit, no rule can
 * be checked and every one fails closed on every transport: TCP is
 * refused, and over a Unix socket only a superuser is admitted (to repair
 * the policy, without any endpoint), logged as such.
 *
 * The rules are a registry (gate.h): each concern registers its own from
 * its init function, and the gate runs them by stage, never naming one.
 * The checks run one after the other with the snapshot's shared lock held
 * (allowlist.c's IP rule, endpoints.c's branch-role and endpoint rule, then
 * this file's TLS rule) and stop at the first refusal; exempt Unix-socket
 * connections skip the rules not marked exempt_too (the IP and TLS rules).
 * Once every check admitted, the lock is released and each rule's on_admit
 * part runs (an endpoint at its limit still refuses); then every
 * registered observer (gatestats.c) is told the verdict.  After the
 * password exchange succeeded, ClientAuthentication_hook runs each
 * on_authenticated part (claiming the endpoint's slot, the endpoint's
 * setting, read-only mode), which may still refuse: the observers are then
 * told that refusal too.
 *
 * This file owns ClientAuthentication_hook (the only one pgwarden
 * installs), the PqCommMethods interception, the settings
 * pgwarden.require_ssl and pgwarden.local_connections, and
 * pgwarden.check_connection(), the same decision as a dry run: checks
 * only, no slot claimed, nothing changed.
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
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inet.h"
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
#include "replication/walsender.h"
#include "utils/guc.h"

#include "compat.h"
#include "gate.h"
#include "policy.h"

#define PGW_MAX_GATE_RULES		8
#define PGW_MAX_GATE_OBSERVERS	4

typedef enum PgwLocalConnections
{
	PGW_LOCAL_EXEMPT,
	PGW_LOCAL_ENFORCE
} PgwLocalConnections;

/* What a refused client is told: one short, stable reason per kind. */
typedef enum PgwClientReason
{
	PGW_CLIENT_ADMITTED = 0,
	PGW_CLIENT_ADDRESS,
	PGW_CLIENT_TLS,
	PGW_CLIENT_ENDPOINT,
	PGW_CLIENT_POLICY,
	PGW_NUM_CLIENT_REASONS
} PgwClientReason;

/*
 * The verdicts (gate.h): a stable name each, and the one reason a refused
 * client is told.  Indexed by PgwVerdict; keep in step with the enum.
 */
static const struct
{
	const char *name;
	PgwClientReason client;
}			verdicts[] =

{
	[PGW_VERDICT_ALLOW] = {"allowed", PGW_CLIENT_ADMITTED},
	[PGW_VERDICT_ALLOW_REPAIR] = {"allowed_repair", PGW_CLIENT_ADMITTED},
	[PGW_VERDICT_ADDRESS_NOT_ALLOWED] = {"address_not_allowed", PGW_CLIENT_ADDRESS},
	[PGW_VERDICT_NO_ADDRESS] = {"no_address", PGW_CLIENT_ADDRESS},
	[PGW_VERDICT_TLS_REQUIRED] = {"tls_required", PGW_CLIENT_TLS},
	[PGW_VERDICT_BRANCH_ROLE] = {"branch_role", PGW_CLIENT_ENDPOINT},
	[PGW_VERDICT_ENDPOINT_UNKNOWN] = {"endpoint_unknown", PGW_CLIENT_ENDPOINT},
	[PGW_VERDICT_ENDPOINT_FOREIGN] = {"endpoint_foreign", PGW_CLIENT_ENDPOINT},
	[PGW_VERDICT_ENDPOINT_SUSPENDED] = {"endpoint_suspended", PGW_CLIENT_ENDPOINT},
	[PGW_VERDICT_ENDPOINT_FULL] = {"endpoint_full", PGW_CLIENT_ENDPOINT},
	[PGW_VERDICT_ENDPOINT_REPLICATION] = {"endpoint_replication", PGW_CLIENT_ENDPOINT},
	[PGW_VERDICT_POLICY_NOT_LOADED] = {"policy_not_loaded", PGW_CLIENT_POLICY},
	[PGW_VERDICT_POLICY_DAMAGED] = {"policy_damaged", PGW_CLIENT_POLICY},
};

StaticAssertDecl(lengthof(verdicts) == PGW_NUM_VERDICTS,
				 "every PgwVerdict needs an entry in verdicts[]");

/*
 * What a refused client reads after "pgwarden: connection refused: ".  An
 * unauthenticated client may be assumed to know its own address, the role
 * and database it asked for and whether it uses TLS; nothing else.
 */
static const char *const client_messages[] =
{
	[PGW_CLIENT_ADMITTED] = NULL,
	[PGW_CLIENT_ADDRESS] = "address not allowed",
	[PGW_CLIENT_TLS] = "TLS required",
	[PGW_CLIENT_ENDPOINT] = "endpoint unavailable",
	[PGW_CLIENT_POLICY] = "policy unavailable",
};

StaticAssertDecl(lengthof(client_messages) == PGW_NUM_CLIENT_REASONS,
				 "every PgwClientReason needs a message in client_messages[]");

static bool require_ssl = true;
static int	local_connections = PGW_LOCAL_EXEMPT;

static const struct config_enum_entry local_connections_options[] = {
	{"exempt", PGW_LOCAL_EXEMPT, false},
	{"enforce", PGW_LOCAL_ENFORCE, false},
	{NULL, 0, false}
};

static ClientAuthentication_hook_type prev_client_auth_hook = NULL;
static const PQcommMethods *prev_comm_methods = NULL;
static PQcommMethods gate_comm_methods;

/* The registry, filled in the postmaster, sorted by stage. */
static PgwGateRule rules[PGW_MAX_GATE_RULES];
static int	nrules = 0;
static PgwGateObserver observers[PGW_MAX_GATE_OBSERVERS];
static int	nobservers = 0;

/* per backend: has this connection been judged, and was it admitted? */
static bool gate_decided = false;
static bool gate_admitted = false;

/* per backend: what the rules noted for this connection, and the connection */
static PgwGateNote gate_notes[PGW_MAX_GATE_RULES];
static PgwConnInfo gate_ci;

PG_FUNCTION_INFO_V1(pgwarden_check_connection);

static const char *
verdict_name(PgwVerdict verdict)
{
	if (verdict < 0 || verdict >= PGW_NUM_VERDICTS)
		return "unknown";
	return verdicts[verdict].name;
}

/* NULL for the verdicts that admit */
static const char *
verdict_client_message(PgwVerdict verdict)
{
	/* an out-of-range verdict is a refusal: fail closed */
	if (verdict < 0 || verdict >= PGW_NUM_VERDICTS)
		return client_messages[PGW_CLIENT_POLICY];
	return client_messages[verdicts[verdict].client];
}

/*
 * Add a rule (gate.h).  Only in _PG_init: every backend inherits the
 * registry from the postmaster.  Rules of one stage keep the order they
 * were registered in.
 */
void
pgw_gate_register(const PgwGateRule *rule)
{
	int			i;

	if (!process_shared_preload_libraries_in_progress)
		elog(ERROR, "pgwarden gate rules must be registered in _PG_init");
	if (nrules >= PGW_MAX_GATE_RULES)
		elog(ERROR, "too many pgwarden gate rules");
	if (rule->check == NULL)
		elog(ERROR, "pgwarden gate rule \"%s\" has no check", rule->name);
	for (i = nrules; i > 0 && rules[i - 1].stage > rule->stage; i--)
		rules[i] = rules[i - 1];
	rules[i] = *rule;
	nrules++;
}

void
pgw_gate_register_observer(PgwGateObserver observer)
{
	if (!process_shared_preload_libraries_in_progress)
		elog(ERROR, "pgwarden gate observers must be registered in _PG_init");
	if (nobservers >= PGW_MAX_GATE_OBSERVERS)
		elog(ERROR, "too many pgwarden gate observers");
	observers[nobservers++] = observer;
}

/* Does pgwarden.local_connections = exempt spare this connection the rules? */
bool
pgw_gate_exempt(const PgwConnInfo *ci)
{
	return ci->local && local_connections == PGW_LOCAL_EXEMPT;
}

/*
 * pgwarden.endpoint from the startup packet: a parameter of its own, or
 * -c pgwarden.endpoint=NAME / --pgwarden.endpoint=NAME in options (the last
 * one wins, as for any setting).  NULL when not given.
 */
static char *
startup_endpoint(Port *port)
{
	char	   *result = NULL;
	ListCell   *lc;

	if (port->cmdline_options != NULL)
	{
		int			maxac = 2 + (strlen(port->cmdline_options) + 1) / 2;
		char	  **av = palloc(maxac * sizeof(char *));
		int			ac = 0;

		pg_split_opts(av, &ac, port->cmdline_options);
		for (int i = 0; i < ac; i++)
		{
			const char *opt = NULL;
			char	   *name;
			char	   *value;

			if (strcmp(av[i], "-c") == 0 && i + 1 < ac)
				opt = av[++i];
			else if (strncmp(av[i], "-c", 2) == 0)
				opt = av[i] + 2;
			else if (strncmp(av[i], "--", 2) == 0)
				opt = av[i] + 2;
			if (opt == NULL)
				continue;
			ParseLongOption(opt, &name, &value);
			if (value != NULL && pg_strcasecmp(name, "pgwarden.endpoint") == 0)
				result = value;
		}
	}
	for (lc = list_head(port->guc_options); lc != NULL; lc = lnext(port->guc_options, lc))
	{
		const char *name = lfirst(lc);

		lc = lnext(port->guc_options, lc);
		if (lc == NULL)
			break;
		if (pg_strcasecmp(name, "pgwarden.endpoint") == 0)
			result = lfirst(lc);
	}
	if (result != NULL && result[0] == '\0')
		result = NULL;
	return result;
}

void
pgw_conninfo_from_port(Port *port, PgwConnInfo *ci)
{
	const struct sockaddr *sa = (const struct sockaddr *) &port->raddr.addr;

	memset(ci, 0, sizeof(*ci));
	ci->role = port->user_name;
	ci->dbname = (port->database_name && port->database_name[0]) ?
		port->database_name : NULL;
	ci->endpoint = startup_endpoint(port);
	ci->ssl = PGW_PORT_USES_TLS(port);
	ci->walsender = am_walsender;
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
 * No policy to decide from (not loaded yet, damaged, over capacity, the
 * control database or the extension gone while a branch is protected):
 * every rule fails closed, on every transport.  Branch roles, endpoints
 * (suspended, read-only, limits) and the allowlist cannot be checked, so
 * nobody is admitted but a superuser over an exempt Unix socket, who is
 * there to repair the policy, and only when no endpoint is asked for (its
 * rules, read-only for one, could not be applied).
 */
static PgwVerdict
policy_unreadable(const PgwConnInfo *ci, bool exempt, const PgwPolicyStatus *status,
				  char *detail, size_t detaillen)
{
	const char *what = status->state == PGW_POLICY_NOT_LOADED ?
	"is not loaded yet" : "cannot be read";

	if (exempt && ci->superuser && ci->endpoint == NULL)
	{
		snprintf(detail, detaillen,
				 "the connection policy %s (%s); superuser \"%s\" is admitted over a Unix socket to repair it",
				 what, status->detail, ci->role ? ci->role : "");
		return PGW_VERDICT_ALLOW_REPAIR;
	}
	snprintf(detail, detaillen,
			 "the connection policy %s (%s); %s",
			 what, status->detail,
			 !exempt ? "connections are refused until it is repaired" :
			 ci->superuser ? "a superuser is admitted over a Unix socket to repair it only without pgwarden.endpoint" :
			 "only superusers are admitted, over a Unix socket, until it is repaired");
	return status->state == PGW_POLICY_NOT_LOADED ?
		PGW_VERDICT_POLICY_NOT_LOADED : PGW_VERDICT_POLICY_DAMAGED;
}

/* The gate's own rule: pgwarden.require_ssl. */
static PgwVerdict
tls_check(const PgwConnInfo *ci, const PgwPolicyView *view, PgwGateNote *note,
		  char *detail, size_t detaillen)
{
	if (!require_ssl || ci->ssl)
		return PGW_VERDICT_ALLOW;
	if (ci->local)
		snprintf(detail, detaillen,
				 "TLS is required (pgwarden.require_ssl is on) and Unix-socket connections cannot use TLS (pgwarden.local_connections = enforce)");
	else
		snprintf(detail, detaillen,
				 "TLS is required (pgwarden.require_ssl is on) and this connection does not use it");
	return PGW_VERDICT_TLS_REQUIRED;
}

/*
 * The verdict of the checks, from the published snapshot (waiting for its
 * first load).  notes[i] gets what rules[i] noted.  detail gets a sentence
 * for the server log (and pgwarden.check_connection), never for the
 * client.  Raises no error.
 */
static PgwVerdict
gate_check(const PgwConnInfo *ci, PgwGateNote *notes, char *detail, size_t detaillen)
{
	PgwPolicyView view;
	PgwPolicyStatus status;
	PgwVerdict	verdict = PGW_VERDICT_ALLOW;
	bool		exempt = pgw_gate_exempt(ci);

	detail[0] = '\0';
	memset(notes, 0, sizeof(PgwGateNote) * nrules);
	(void) pgw_policy_wait_loaded(pgw_policy_load_timeout_ms);
	if (!pgw_policy_acquire(&view, &status))
		return policy_unreadable(ci, exempt, &status, detail, detaillen);

	for (int i = 0; verdict == PGW_VERDICT_ALLOW && i < nrules; i++)
		if (!exempt || rules[i].exempt_too)
			verdict = rules[i].check(ci, &view, &notes[i], detail, detaillen);

	pgw_policy_release();

	if (exempt && verdict == PGW_VERDICT_ALLOW)
		snprintf(detail, detaillen,
				 "Unix-socket connections are exempt (pgwarden.local_connections = exempt)");
	return verdict;
}

/*
 * The decision for a real connection: the checks, then, with the lock
 * released, each rule's on_admit part.  The notes stay in gate_notes for
 * the on_authenticated parts.
 */
static PgwVerdict
gate_decide(const PgwConnInfo *ci, char *detail, size_t detaillen)
{
	PgwVerdict	verdict = gate_check(ci, gate_notes, detail, detaillen);

	if (verdict != PGW_VERDICT_ALLOW)
		return verdict;
	for (int i = 0; verdict == PGW_VERDICT_ALLOW && i < nrules; i++)
		if (rules[i].on_admit != NULL)
			verdict = rules[i].on_admit(ci, &gate_notes[i], detail, detaillen);
	return verdict;
}

/*
 * A copy of the row of a shared catalog whose name column (of type name,
 * with a unique index) holds name, or NULL, during authentication.  Like
 * postinit.c's GetDatabaseTuple: before the critical shared relcache
 * entries are built (first connection after a restart) only a heap scan
 * works.
 */
static HeapTuple
shared_row_by_name(Oid relid, Oid indexid, AttrNumber attnum, const char *name)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	ScanKeyInit(&key, attnum, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum(name));
	rel = table_open(relid, AccessShareLock);
	scan = systable_beginscan(rel, indexid, criticalSharedRelcachesBuilt,
							  NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		tup = heap_copytuple(tup);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return tup;
}

/* The OID of a database by name, during authentication. */
static Oid
database_oid(const char *dbname)
{
	HeapTuple	tup = shared_row_by_name(DatabaseRelationId, DatabaseNameIndexId,
										 Anum_pg_database_datname, dbname);

	return HeapTupleIsValid(tup) ? ((Form_pg_database) GETSTRUCT(tup))->oid : InvalidOid;
}

/* Is the role of that name a superuser?  During authentication. */
static bool
role_is_superuser(const char *rolname)
{
	HeapTuple	tup;

	if (rolname == NULL)
		return false;
	tup = shared_row_by_name(AuthIdRelationId, AuthIdRolnameIndexId,
							 Anum_pg_authid_rolname, rolname);
	return HeapTupleIsValid(tup) && ((Form_pg_authid) GETSTRUCT(tup))->rolsuper;
}

/*
 * Judge the connection being authenticated; FATAL when refused.
 *
 * The client gets one stable sentence chosen by the verdict (gate.h), as
 * auth.c's auth_failed() does: the refusal comes before any credential, so
 * the client may be anyone.  It may be assumed to know its own address, the
 * role and database it asked for and whether it uses TLS; the names of
 * branches and databases a role is bound to, endpoint states and limits,
 * allowlist sizes and why the policy is unreadable are for the server log
 * only (errdetail_log).  A TLS refusal carries one of two fixed hints; which
 * one depends on the server's ssl setting, which the client has just seen
 * in the answer to its SSLRequest anyway.
 */
static void
gate_refuse(const PgwConnInfo *ci, PgwVerdict verdict, const char *reason)
{
	char		client[INET6_ADDRSTRLEN + 16];

	describe_client(ci, client, sizeof(client));
	ereport(FATAL,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("pgwarden: connection refused: %s", verdict_client_message(verdict)),
			 errdetail_log("Connection from %s for role \"%s\" and database \"%s\" refused (%s): %s.",
						   client, ci->role ? ci->role : "",
						   ci->dbname ? ci->dbname : "(replication)",
						   verdict_name(verdict), reason),
			 verdict != PGW_VERDICT_TLS_REQUIRED ? 0 : EnableSSL ?
			 errhint("Connect with TLS, for example sslmode=verify-full.") :
			 errhint("The server has ssl = off, so every TCP connection is refused: give it a certificate (pgwarden tls init) or set pgwarden.require_ssl = off.")));
}

static void
gate_enforce(Port *port)
{
	PgwConnInfo ci;
	char		reason[512];
	PgwVerdict	verdict;

	gate_decided = true;
	pgw_conninfo_from_port(port, &ci);
	/* protected-only mode and the branch checks need the database's OID */
	if (ci.dbname)
		ci.dboid = database_oid(ci.dbname);
	/* only a superuser may repair an unreadable policy, over a Unix socket */
	if (ci.local)
		ci.superuser = role_is_superuser(ci.role);

	verdict = gate_decide(&ci, reason, sizeof(reason));
	gate_admitted = PGW_VERDICT_ADMITS(verdict);
	gate_ci = ci;
	for (int i = 0; i < nobservers; i++)
		observers[i] (verdict, &ci);
	if (verdict == PGW_VERDICT_ALLOW)
		return;
	if (verdict == PGW_VERDICT_ALLOW_REPAIR)
	{
		ereport(LOG,
				(errmsg("pgwarden: superuser \"%s\" admitted over a Unix socket although the connection policy cannot be enforced",
						ci.role ? ci.role : ""),
				 errdetail_log("%s.", reason)));
		return;
	}
	gate_refuse(&ci, verdict, reason);
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
	 * Methods that ask the client for something went through gate_putmessage
	 * already.  If one did not, another library replaced PqCommMethods
	 * without chaining to ours, and the decision below comes after the
	 * exchange: still enforced, but no longer oracle-free.
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

	/* authenticated: the rules change the session (before startup options) */
	if (status == STATUS_OK && gate_admitted)
		for (int i = 0; i < nrules; i++)
		{
			char		reason[512];
			PgwVerdict	verdict;

			if (rules[i].on_authenticated == NULL)
				continue;
			reason[0] = '\0';
			verdict = rules[i].on_authenticated(&gate_notes[i], reason, sizeof(reason));
			if (verdict == PGW_VERDICT_ALLOW)
				continue;
			gate_admitted = false;
			for (int j = 0; j < nobservers; j++)
				observers[j] (verdict, &gate_ci);
			gate_refuse(&gate_ci, verdict, reason);
		}
}

/*
 * The policy launcher's task (policy.c): say so once whenever the settings
 * make every TCP connection fail.
 */
static void
warn_ssl_off(void)
{
	static bool warned = false;

	if (require_ssl && !EnableSSL && !warned)
		ereport(WARNING,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("pgwarden.require_ssl is on but ssl is off: every TCP connection will be refused"),
				 errhint("Give the server a certificate with pgwarden tls init, or set pgwarden.require_ssl = off.")));
	warned = require_ssl && !EnableSSL;
}

static void
conninfo_from_inet(inet *ip, PgwConnInfo *ci)
{
	int			family = ip_family(ip) == PGSQL_AF_INET ? 4 : 6;

	ci->family = family;
	memset(ci->addr, 0, 16);
	memcpy(ci->addr, ip_addr(ip), family == 4 ? 4 : 16);
}

/*
 * pgwarden.check_connection(client inet, role name, database name) RETURNS text
 * What the gate would decide now, from the published policy, for a TLS
 * connection from client (NULL: a Unix-socket connection).  A dry run: the
 * checks only (no endpoint slot is claimed, so no connection limit is
 * reached), nothing counted.
 */
Datum
pgwarden_check_connection(PG_FUNCTION_ARGS)
{
	PgwConnInfo ci;
	PgwGateNote notes[PGW_MAX_GATE_RULES];
	char		reason[512];
	bool		allow;
	StringInfoData out;

	memset(&ci, 0, sizeof(ci));
	ci.ssl = true;
	ci.local = PG_ARGISNULL(0);
	if (!ci.local)
		conninfo_from_inet(PG_GETARG_INET_PP(0), &ci);
	ci.role = PG_ARGISNULL(1) ? NULL : NameStr(*PG_GETARG_NAME(1));
	ci.dbname = PG_ARGISNULL(2) ? NULL : NameStr(*PG_GETARG_NAME(2));
	ci.dboid = ci.dbname ? get_database_oid(ci.dbname, true) : InvalidOid;
	if (ci.local && ci.role != NULL)
	{
		Oid			roleid = get_role_oid(ci.role, true);

		ci.superuser = OidIsValid(roleid) && superuser_arg(roleid);
	}

	allow = PGW_VERDICT_ADMITS(gate_check(&ci, notes, reason, sizeof(reason)));
	initStringInfo(&out);
	appendStringInfo(&out, "%s: %s", allow ? "allow" : "deny", reason);
	if (allow && !ci.local && require_ssl)
		appendStringInfoString(&out, " (TLS is required: pgwarden.require_ssl is on)");
	PG_RETURN_TEXT_P(cstring_to_text(out.data));
}

void
pgw_gate_init(void)
{
	static const PgwGateRule tls_rule = {
		.name = "tls",
		.stage = PGW_GATE_STAGE_TRANSPORT,
		.exempt_too = false,
		.check = tls_check,
	};

	DefineCustomBoolVariable("pgwarden.require_ssl",
							 "Refuse TCP connections that do not use TLS.",
							 "Checked at authentication before the client is asked for a password; "
							 "the refusal says that TLS is required.  Unix-socket connections are "
							 "covered only when pgwarden.local_connections = enforce.",
							 &require_ssl,
							 true,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	DefineCustomEnumVariable("pgwarden.local_connections",
							 "Whether Unix-socket connections are subject to the IP allowlist and the TLS rule.",
							 "exempt (default): local administration is always possible.  enforce: a "
							 "Unix-socket connection has no address, so it is refused whenever IP "
							 "allowlist entries apply to its role, and whenever pgwarden.require_ssl "
							 "is on (PostgreSQL cannot use TLS over Unix sockets).",
							 &local_connections,
							 PGW_LOCAL_EXEMPT,
							 local_connections_options,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);

	pgw_gate_register(&tls_rule);
	pgw_policy_register_launcher_task(warn_ssl_off);

	prev_client_auth_hook = ClientAuthentication_hook;
	ClientAuthentication_hook = gate_client_auth_hook;

	prev_comm_methods = PqCommMethods;
	gate_comm_methods = *prev_comm_methods;
	gate_comm_methods.putmessage = gate_putmessage;
	PqCommMethods = &gate_comm_methods;
}
