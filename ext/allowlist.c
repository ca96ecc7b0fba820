/*-------------------------------------------------------------------------
 *
 * allowlist.c
 *	  The IP allowlist: entry parsing and normalising, the policy loader that
 *	  turns pgwarden.ip_allow_entries into sorted ranges, the matcher the
 *	  gate uses, and the SQL-callable functions that need C.
 *
 * Entries are single addresses, ranges "A-B" (same family, A <= B) and CIDR
 * blocks, IPv4 and IPv6; whitespace is ignored.  Parsing uses inet_pton, so
 * only complete addresses are accepted (no "10.1" shorthands, no zone ids).
 *
 * In the snapshot every scope (the global entries, then each role with
 * entries of its own, sorted by name) owns a slice of the IPv4 and the IPv6
 * range arrays.  Within a slice the ranges are sorted and merged so they do
 * not overlap; a lookup is a binary search (pgw_policy_find) over the scope
 * list and over the slices, O(log n) whatever the number of entries.
 *
 * Rule: the entries that apply to a connection are the global ones plus
 * those of its role.  When none apply the address is not restricted;
 * otherwise it must fall in one of them.  An IPv6 client with an
 * IPv4-mapped address (::ffff:a.b.c.d) matches IPv4 entries too, and
 * IPv4-mapped entries are stored as the IPv4 entries they mean.  In
 * protected-only mode the rule applies only to connections to databases the
 * snapshot lists as protected (see policy.h).
 *
 * The rule is registered with the gate (stage ADDRESS, not for exempt Unix
 * sockets); it only reads the snapshot.  pgwarden._policy_verify() runs the
 * same rule over a snapshot built from this transaction's tables, so a
 * change that would lock its own session out can be refused.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/inet.h"
#include "utils/lsyscache.h"

#include "allowlist.h"
#include "gate.h"
#include "policy.h"

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

typedef struct PgwGateConfig
{
	bool		protected_only;
	int32		nentries;
} PgwGateConfig;

typedef struct PgwIpScope
{
	NameData	role;			/* empty for the global scope */
	bool		is_global;
	int32		nentries;		/* entries as stored (before merging) */
	int32		v4_first;
	int32		v4_count;
	int32		v6_first;
	int32		v6_count;
} PgwIpScope;

typedef struct PgwIpV4Range
{
	uint32		lo;
	uint32		hi;
} PgwIpV4Range;

typedef struct PgwIpV6Range
{
	uint64		lo[2];			/* [0] holds the high-order 64 bits */
	uint64		hi[2];
} PgwIpV6Range;

/* One loaded row, before merging. */
typedef struct LoadedRow
{
	const char *role;			/* NULL: global */
	PgwIpEntry	e;
} LoadedRow;

PG_FUNCTION_INFO_V1(pgwarden_ip_allow_parse);
PG_FUNCTION_INFO_V1(pgwarden_policy_verify);

/* ------------------------------------------------------------------------
 * Parsing
 * ------------------------------------------------------------------------
 */
static const uint8 v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};

static bool
parse_address(const char *s, int *family, uint8 *addr)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strchr(s, '%') != NULL)
		return false;
	if (strchr(s, ':') != NULL)
	{
		if (inet_pton(AF_INET6, s, &a6) != 1)
			return false;
		*family = 6;
		memcpy(addr, &a6, 16);
		return true;
	}
	if (inet_pton(AF_INET, s, &a4) != 1)
		return false;
	*family = 4;
	memset(addr, 0, 16);
	memcpy(addr, &a4, 4);
	return true;
}

static int
addr_len(int family)
{
	return family == 4 ? 4 : 16;
}

static void
format_address(int family, const uint8 *addr, char *buf, size_t len)
{
	if (inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, buf, len) == NULL)
		strlcpy(buf, "?", len);
}

/*
 * Parse one allowlist entry.  On failure returns false with *problem set to
 * a sentence saying what is wrong (and *suggest, when there is an obvious
 * fix, to the entry that was probably meant).
 */
static bool
ip_parse_entry(const char *input, PgwIpEntry *out,
			   char *problem, size_t problemlen,
			   char *suggest, size_t suggestlen)
{
	char		buf[256];
	int			n = 0;
	char	   *dash;
	char	   *slash;

	memset(out, 0, sizeof(*out));
	if (suggest && suggestlen > 0)
		suggest[0] = '\0';

	/* drop all whitespace */
	for (const char *p = input; *p; p++)
	{
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v')
			continue;
		if (n >= (int) sizeof(buf) - 1)
		{
			snprintf(problem, problemlen, "The entry is too long to be an address, range or CIDR block.");
			return false;
		}
		buf[n++] = *p;
	}
	buf[n] = '\0';
	if (n == 0)
	{
		snprintf(problem, problemlen, "The entry is empty.");
		return false;
	}

	dash = strchr(buf, '-');
	slash = strchr(buf, '/');
	if (dash != NULL)
	{
		int			f1,
					f2;
		uint8		a1[16],
					a2[16];

		*dash = '\0';
		if (slash != NULL || strchr(dash + 1, '-') != NULL)
		{
			snprintf(problem, problemlen, "A range is written as two addresses joined by one \"-\", without prefix lengths.");
			return false;
		}
		if (!parse_address(buf, &f1, a1))
		{
			snprintf(problem, problemlen, "The start of the range, \"%s\", is not an IPv4 or IPv6 address.", buf);
			return false;
		}
		if (!parse_address(dash + 1, &f2, a2))
		{
			snprintf(problem, problemlen, "The end of the range, \"%s\", is not an IPv4 or IPv6 address.", dash + 1);
			return false;
		}
		if (f1 != f2)
		{
			snprintf(problem, problemlen, "The range starts with an IPv%d address and ends with an IPv%d address; both ends must be of the same family.", f1, f2);
			return false;
		}
		if (memcmp(a1, a2, addr_len(f1)) > 0)
		{
			char		s1[INET6_ADDRSTRLEN],
						s2[INET6_ADDRSTRLEN];

			format_address(f1, a1, s1, sizeof(s1));
			format_address(f2, a2, s2, sizeof(s2));
			snprintf(problem, problemlen, "The range is backwards: %s comes after %s.", s1, s2);
			if (suggest)
				snprintf(suggest, suggestlen, "%s-%s", s2, s1);
			return false;
		}
		out->family = f1;
		memcpy(out->lo, a1, 16);
		memcpy(out->hi, a2, 16);
		out->kind = memcmp(a1, a2, 16) == 0 ? PGW_IP_ADDRESS : PGW_IP_RANGE;
	}
	else if (slash != NULL)
	{
		int			family;
		uint8		a[16];
		uint8		lo[16],
					hi[16];
		char	   *end;
		long		bits;
		int			maxbits;

		*slash = '\0';
		if (!parse_address(buf, &family, a))
		{
			snprintf(problem, problemlen, "\"%s\" is not an IPv4 or IPv6 address.", buf);
			return false;
		}
		maxbits = family == 4 ? 32 : 128;
		if (slash[1] == '\0' || strspn(slash + 1, "0123456789") != strlen(slash + 1) ||
			strlen(slash + 1) > 3)
		{
			snprintf(problem, problemlen, "The prefix length \"%s\" is not a number from 0 to %d.", slash + 1, maxbits);
			return false;
		}
		bits = strtol(slash + 1, &end, 10);
		if (bits < 0 || bits > maxbits)
		{
			snprintf(problem, problemlen, "The prefix length %ld is out of range for IPv%d (0 to %d).", bits, family, maxbits);
			return false;
		}
		for (int i = 0; i < addr_len(family); i++)
		{
			int			keep = (int) bits - 8 * i;
			uint8		mask;

			if (keep >= 8)
				mask = 0xFF;
			else if (keep <= 0)
				mask = 0;
			else
				mask = (uint8) (0xFF << (8 - keep));
			lo[i] = a[i] & mask;
			hi[i] = a[i] | (uint8) ~mask;
		}
		for (int i = addr_len(family); i < 16; i++)
			lo[i] = hi[i] = 0;
		if (memcmp(lo, a, addr_len(family)) != 0)
		{
			char		net[INET6_ADDRSTRLEN];

			format_address(family, lo, net, sizeof(net));
			snprintf(problem, problemlen, "The CIDR block has host bits set to the right of the /%ld prefix.", bits);
			if (suggest)
				snprintf(suggest, suggestlen, "%s/%ld", net, bits);
			return false;
		}
		out->family = family;
		memcpy(out->lo, lo, 16);
		memcpy(out->hi, hi, 16);
		out->bits = (int) bits;
		out->kind = bits == maxbits ? PGW_IP_ADDRESS : PGW_IP_CIDR;
	}
	else
	{
		int			family;
		uint8		a[16];

		if (!parse_address(buf, &family, a))
		{
			snprintf(problem, problemlen, "\"%s\" is not an IPv4 or IPv6 address, an address range (A-B) or a CIDR block (address/bits).", buf);
			return false;
		}
		out->family = family;
		memcpy(out->lo, a, 16);
		memcpy(out->hi, a, 16);
		out->kind = PGW_IP_ADDRESS;
	}

	/*
	 * An IPv4-mapped IPv6 entry (::ffff:a.b.c.d, ::ffff:a.b.c.0/120) means
	 * IPv4 addresses: store it as the IPv4 entry, so IPv4 clients match it.
	 */
	if (out->family == 6 && memcmp(out->lo, v4mapped_prefix, 12) == 0 &&
		memcmp(out->hi, v4mapped_prefix, 12) == 0 &&
		(out->kind != PGW_IP_CIDR || out->bits >= 96))
	{
		memmove(out->lo, out->lo + 12, 4);
		memmove(out->hi, out->hi + 12, 4);
		memset(out->lo + 4, 0, 12);
		memset(out->hi + 4, 0, 12);
		out->family = 4;
		if (out->kind == PGW_IP_CIDR)
		{
			out->bits -= 96;
			if (out->bits == 32)
				out->kind = PGW_IP_ADDRESS;
		}
	}

	/* the normal form: what is stored and compared */
	{
		char		s1[INET6_ADDRSTRLEN],
					s2[INET6_ADDRSTRLEN];

		format_address(out->family, out->lo, s1, sizeof(s1));
		format_address(out->family, out->hi, s2, sizeof(s2));
		if (out->kind == PGW_IP_ADDRESS)
			snprintf(out->normal, sizeof(out->normal), "%s", s1);
		else if (out->kind == PGW_IP_RANGE)
			snprintf(out->normal, sizeof(out->normal), "%s-%s", s1, s2);
		else
			snprintf(out->normal, sizeof(out->normal), "%s/%d", s1, out->bits);
	}
	return true;
}

/* At most 100 bytes of an entry, cut on a character boundary, for messages. */
static char *
entry_for_message(const char *input)
{
	int			len = strlen(input);

	return pnstrdup(input, pg_mbcliplen(input, len, Min(len, 100)));
}

/* Parse or raise the user-facing error naming the entry. */
static void
parse_entry_or_error(const char *input, PgwIpEntry *out)
{
	char		problem[512];
	char		suggest[128];

	if (!ip_parse_entry(input, out, problem, sizeof(problem),
						suggest, sizeof(suggest)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid IP allowlist entry \"%s\"", entry_for_message(input)),
				 errdetail("%s", problem),
				 suggest[0] ? errhint("Did you mean \"%s\"?", suggest) :
				 errhint("Write a single address (203.0.113.7, 2001:db8::1), a range (198.51.100.20-198.51.100.50) or a CIDR block (192.0.2.0/24, 2001:db8::/32).")));
}

/* ------------------------------------------------------------------------
 * Loading into the snapshot
 * ------------------------------------------------------------------------
 */
static int
row_cmp(const void *a, const void *b)
{
	const LoadedRow *ra = a;
	const LoadedRow *rb = b;
	int			c;

	if (ra->role == NULL || rb->role == NULL)
	{
		if (ra->role != rb->role)
			return ra->role == NULL ? -1 : 1;
	}
	else if ((c = strcmp(ra->role, rb->role)) != 0)
		return c;
	if (ra->e.family != rb->e.family)
		return ra->e.family - rb->e.family;
	return memcmp(ra->e.lo, rb->e.lo, 16);
}

static uint32
v4_of(const uint8 *a)
{
	return ((uint32) a[0] << 24) | ((uint32) a[1] << 16) | ((uint32) a[2] << 8) | a[3];
}

static void
v6_of(const uint8 *a, uint64 *out)
{
	out[0] = out[1] = 0;
	for (int i = 0; i < 8; i++)
	{
		out[0] = (out[0] << 8) | a[i];
		out[1] = (out[1] << 8) | a[8 + i];
	}
}

static int
v6_cmp(const uint64 *a, const uint64 *b)
{
	if (a[0] != b[0])
		return a[0] < b[0] ? -1 : 1;
	if (a[1] != b[1])
		return a[1] < b[1] ? -1 : 1;
	return 0;
}

/*
 * The loader registered with policy.c: reads the allowlist tables of the
 * current database and lays out the config, scope and range sections.
 */
static void
allowlist_load(PgwPolicyBuild *build)
{
	PgwGateConfig config = {0};
	LoadedRow  *rows;
	int			nrows;
	PgwIpScope *scopes;
	int			nscopes = 0;
	PgwIpV4Range *v4;
	int			nv4 = 0;
	PgwIpV6Range *v6;
	int			nv6 = 0;
	int			ret;

	ret = SPI_execute("SELECT value FROM ONLY pgwarden.gate_settings"
					  " WHERE name = 'ip_allow_protected_only'", true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read pgwarden.gate_settings");
	if (SPI_processed > 0)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		config.protected_only = v != NULL && strcmp(v, "true") == 0;
	}

	ret = SPI_execute("SELECT entry, role FROM ONLY pgwarden.ip_allow_entries", true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read pgwarden.ip_allow_entries");
	nrows = (int) SPI_processed;
	rows = palloc0(sizeof(LoadedRow) * Max(nrows, 1));
	for (int i = 0; i < nrows; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		char	   *entry = SPI_getvalue(tup, SPI_tuptable->tupdesc, 1);
		char	   *role = SPI_getvalue(tup, SPI_tuptable->tupdesc, 2);
		char		problem[512];

		if (entry == NULL ||
			!ip_parse_entry(entry, &rows[i].e, problem, sizeof(problem), NULL, 0))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("IP allowlist entry \"%s\" in table pgwarden.ip_allow_entries is invalid",
							entry ? entry_for_message(entry) : "(null)"),
					 errdetail("%s", entry ? problem : "The entry is null.")));
		rows[i].role = role;
	}
	config.nentries = nrows;
	qsort(rows, nrows, sizeof(LoadedRow), row_cmp);

	scopes = palloc0(sizeof(PgwIpScope) * Max(nrows, 1));
	v4 = palloc(sizeof(PgwIpV4Range) * Max(nrows, 1));
	v6 = palloc(sizeof(PgwIpV6Range) * Max(nrows, 1));
	for (int i = 0; i < nrows; i++)
	{
		LoadedRow  *r = &rows[i];
		PgwIpScope *s;

		if (i == 0 ||
			(r->role == NULL) != (rows[i - 1].role == NULL) ||
			(r->role != NULL && strcmp(r->role, rows[i - 1].role) != 0))
		{
			s = &scopes[nscopes++];
			s->is_global = r->role == NULL;
			if (r->role)
				namestrcpy(&s->role, r->role);
			s->v4_first = nv4;
			s->v6_first = nv6;
		}
		s = &scopes[nscopes - 1];
		s->nentries++;
		if (r->e.family == 4)
		{
			uint32		lo = v4_of(r->e.lo);
			uint32		hi = v4_of(r->e.hi);

			if (s->v4_count > 0 && lo <= v4[nv4 - 1].hi)
			{
				if (hi > v4[nv4 - 1].hi)
					v4[nv4 - 1].hi = hi;
			}
			else
			{
				v4[nv4].lo = lo;
				v4[nv4].hi = hi;
				nv4++;
				s->v4_count++;
			}
		}
		else
		{
			uint64		lo[2],
						hi[2];

			v6_of(r->e.lo, lo);
			v6_of(r->e.hi, hi);
			if (s->v6_count > 0 && v6_cmp(lo, v6[nv6 - 1].hi) <= 0)
			{
				if (v6_cmp(hi, v6[nv6 - 1].hi) > 0)
					memcpy(v6[nv6 - 1].hi, hi, sizeof(hi));
			}
			else
			{
				memcpy(v6[nv6].lo, lo, sizeof(lo));
				memcpy(v6[nv6].hi, hi, sizeof(hi));
				nv6++;
				s->v6_count++;
			}
		}
	}

	pgw_policy_build_section(build, PGW_SECTION_GATE_CONFIG, &config, sizeof(config), 1);
	pgw_policy_build_section(build, PGW_SECTION_IP_SCOPES, scopes, sizeof(PgwIpScope), nscopes);
	pgw_policy_build_section(build, PGW_SECTION_IP_V4, v4, sizeof(PgwIpV4Range), nv4);
	pgw_policy_build_section(build, PGW_SECTION_IP_V6, v6, sizeof(PgwIpV6Range), nv6);
	pfree(rows);
	pfree(scopes);
	pfree(v4);
	pfree(v6);
}

/* ------------------------------------------------------------------------
 * Matching
 * ------------------------------------------------------------------------
 */
/* bsearch comparators: an address against a range (disjoint, sorted) */
static int
v4_range_cmp(const void *key, const void *item)
{
	uint32		a = *(const uint32 *) key;
	const PgwIpV4Range *r = item;

	return a < r->lo ? -1 : a > r->hi ? 1 : 0;
}

static int
v6_range_cmp(const void *key, const void *item)
{
	const uint64 *a = key;
	const PgwIpV6Range *r = item;

	if (v6_cmp(a, r->lo) < 0)
		return -1;
	return v6_cmp(a, r->hi) > 0 ? 1 : 0;
}

/* a role name against a scope; the global scope's empty name sorts first */
static int
scope_cmp(const void *key, const void *item)
{
	return strcmp((const char *) key, NameStr(((const PgwIpScope *) item)->role));
}

static bool
database_protected(const PgwPolicyView *view, Oid dboid)
{
	return pgw_policy_find(view, PGW_SECTION_PROTECTED_DATABASES, &dboid,
						   pgw_policy_oid_cmp) != NULL;
}

static bool
v4_in(const PgwPolicyView *view, const PgwIpScope *s, uint32 a)
{
	return pgw_policy_find_slice(view, PGW_SECTION_IP_V4, s->v4_first, s->v4_count,
								 &a, v4_range_cmp) != NULL;
}

static bool
scope_matches(const PgwPolicyView *view, const PgwIpScope *s,
			  const PgwConnInfo *ci)
{
	uint64		a[2];

	if (ci->family == 4)
		return v4_in(view, s, v4_of(ci->addr));

	/* IPv6; an IPv4-mapped client matches the IPv4 entries as well */
	if (memcmp(ci->addr, v4mapped_prefix, 12) == 0 &&
		v4_in(view, s, v4_of(ci->addr + 12)))
		return true;
	v6_of(ci->addr, a);
	return pgw_policy_find_slice(view, PGW_SECTION_IP_V6, s->v6_first, s->v6_count,
								 a, v6_range_cmp) != NULL;
}

/*
 * The allowlist's verdict for one connection, the gate rule of this file.
 * Caller holds the view (the shared lock when it is the published one):
 * this function must not raise errors, and does not.  detail gets a
 * sentence for the server log.
 */
static PgwVerdict
allowlist_check(const PgwConnInfo *ci, const PgwPolicyView *view,
				PgwGateNote *note, char *detail, size_t detaillen)
{
	int			n;
	const PgwGateConfig *config = pgw_policy_section(view, PGW_SECTION_GATE_CONFIG, &n);
	const PgwIpScope *scopes;
	const PgwIpScope *global_scope = NULL;
	const PgwIpScope *mine;
	int			nscopes;
	int			applicable;
	char		addr[INET6_ADDRSTRLEN];

	/*
	 * Protected-only mode.  A physical replication connection (no database)
	 * streams every database of the cluster, protected branches included: the
	 * allowlist applies to it whenever any branch is protected.
	 */
	if (config != NULL && n == 1 && config->protected_only &&
		ci->dbname == NULL && !ci->local)
	{
		int			nprotected;

		(void) pgw_policy_section(view, PGW_SECTION_PROTECTED_DATABASES, &nprotected);
		if (nprotected == 0)
		{
			snprintf(detail, detaillen,
					 "no branch is protected and the IP allowlist applies to protected branches only");
			return PGW_VERDICT_ALLOW;
		}
	}
	else if (config != NULL && n == 1 && config->protected_only &&
			 !database_protected(view, ci->dboid))
	{
		snprintf(detail, detaillen,
				 "database \"%s\" is not a protected branch and the IP allowlist applies to protected branches only",
				 ci->dbname ? ci->dbname : "");
		return PGW_VERDICT_ALLOW;
	}

	scopes = pgw_policy_section(view, PGW_SECTION_IP_SCOPES, &nscopes);
	if (nscopes > 0 && scopes[0].is_global)
		global_scope = &scopes[0];
	mine = ci->role == NULL || ci->role[0] == '\0' ? NULL :
		pgw_policy_find(view, PGW_SECTION_IP_SCOPES, ci->role, scope_cmp);
	applicable = (global_scope ? global_scope->nentries : 0) +
		(mine ? mine->nentries : 0);

	if (applicable == 0)
	{
		snprintf(detail, detaillen, "no IP allowlist entry applies to role \"%s\"",
				 ci->role ? ci->role : "");
		return PGW_VERDICT_ALLOW;
	}

	if (ci->family == 0)
	{
		/* a Unix-socket connection under local_connections = enforce */
		snprintf(detail, detaillen,
				 "Unix-socket connections have no address and %d IP allowlist entries apply to role \"%s\"",
				 applicable, ci->role ? ci->role : "");
		return PGW_VERDICT_NO_ADDRESS;
	}

	format_address(ci->family, ci->addr, addr, sizeof(addr));
	if (global_scope && scope_matches(view, global_scope, ci))
	{
		snprintf(detail, detaillen, "address %s is in the IP allowlist", addr);
		return PGW_VERDICT_ALLOW;
	}
	if (mine && scope_matches(view, mine, ci))
	{
		snprintf(detail, detaillen, "address %s is in the IP allowlist of role \"%s\"",
				 addr, ci->role);
		return PGW_VERDICT_ALLOW;
	}
	snprintf(detail, detaillen, "address %s is not in the IP allowlist", addr);
	return PGW_VERDICT_ADDRESS_NOT_ALLOWED;
}

/* ------------------------------------------------------------------------
 * SQL-callable
 * ------------------------------------------------------------------------
 */
static const char *
kind_name(int kind)
{
	switch (kind)
	{
		case PGW_IP_RANGE:
			return "range";
		case PGW_IP_CIDR:
			return "cidr";
		default:
			return "address";
	}
}

/*
 * pgwarden._ip_allow_parse(entries text[])
 *	 RETURNS TABLE(ord int, entry text, kind text, first_address inet, last_address inet)
 * Raises on the first bad entry, so a caller inserting the result stores
 * nothing of a call with any bad entry.
 */
Datum
pgwarden_ip_allow_parse(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the list of IP allowlist entries is null"),
				 errhint("Pass an array such as ARRAY['203.0.113.7', '192.0.2.0/24'].")));
	arr = PG_GETARG_ARRAYTYPE_P(0);
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &nelems);
	for (int i = 0; i < nelems; i++)
	{
		PgwIpEntry	e;
		Datum		values[5];
		bool		isnull[5] = {0};
		char		s1[INET6_ADDRSTRLEN],
					s2[INET6_ADDRSTRLEN];

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("IP allowlist entry %d is null", i + 1),
					 errhint("Remove the null element from the array.")));
		parse_entry_or_error(TextDatumGetCString(elems[i]), &e);
		format_address(e.family, e.lo, s1, sizeof(s1));
		format_address(e.family, e.hi, s2, sizeof(s2));
		values[0] = Int32GetDatum(i + 1);
		values[1] = CStringGetTextDatum(e.normal);
		values[2] = CStringGetTextDatum(kind_name(e.kind));
		values[3] = DirectFunctionCall1(inet_in, CStringGetDatum(s1));
		values[4] = DirectFunctionCall1(inet_in, CStringGetDatum(s2));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, isnull);
	}
	return (Datum) 0;
}

/*
 * pgwarden._policy_verify(check_lockout boolean) RETURNS text
 * Builds the policy from the tables as this transaction sees them; raises
 * when the worker could not load or publish it; returns why the gate would
 * refuse this very session (NULL when it would not, or check_lockout is
 * false).
 */
Datum
pgwarden_policy_verify(PG_FUNCTION_ARGS)
{
	bool		check_lockout = PG_GETARG_BOOL(0);
	PgwPolicyBuild build;
	PgwPolicyView view;
	PgwConnInfo ci;
	PgwGateNote note;
	char		reason[512];

	pgw_policy_build_local(&build, &view);
	if ((Size) build.data.len > pgw_policy_capacity())
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the IP allowlist does not fit in pgwarden.policy_memory"),
				 errdetail("The connection policy would need %zu kB of shared memory; pgwarden.policy_memory is %d kB.",
						   ((Size) build.data.len + 1023) / 1024, pgw_policy_memory_kb),
				 errhint("Raise pgwarden.policy_memory (takes effect at restart), or merge entries into ranges or CIDR blocks.")));

	if (!check_lockout || MyProcPort == NULL)
		PG_RETURN_NULL();
	pgw_conninfo_from_port(MyProcPort, &ci);
	if (pgw_gate_exempt(&ci))
		PG_RETURN_NULL();
	if (ci.dbname)
		ci.dboid = MyDatabaseId;
	if (allowlist_check(&ci, &view, &note, reason, sizeof(reason)) == PGW_VERDICT_ALLOW)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(reason));
}

void
pgw_allowlist_init(void)
{
	static const PgwGateRule rule = {
		.name = "ip allowlist",
		.stage = PGW_GATE_STAGE_ADDRESS,
		.exempt_too = false,
		.check = allowlist_check,
	};

	pgw_policy_register_loader("ip allowlist", allowlist_load);
	pgw_gate_register(&rule);
}
