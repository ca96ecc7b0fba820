/*-------------------------------------------------------------------------
 *
 * password.c
 *	  The password policy: check_password_hook and the SQL functions
 *	  pgwarden.entropy_bits() and pgwarden.generate_password().
 *
 * Every password set through SQL (CREATE/ALTER ROLE ... PASSWORD, from any
 * context: top level, functions, DO blocks) passes through
 * check_password_hook before it is hashed.  Plaintext passwords must reach
 * pgwarden.min_password_entropy bits by the estimator in entropy.c and must
 * not contain the role name.  Pre-hashed passwords cannot be judged:
 * pgwarden.hashed_passwords decides (MD5 is refused in every mode).
 *
 * Errors never echo the password and hide the statement from the log
 * (errhidestmt); logmask.c scrubs everything else that is logged.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/user.h"
#include "common/saslprep.h"
#include "fmgr.h"
#include "libpq/crypt.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "port.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "compat.h"
#include "entropy.h"
#include "logmask.h"
#include "password.h"

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

/* GUCs */
double		pgw_min_password_entropy = 60.0;
static int	pgw_password_check = PGW_CHECK_ENFORCE;
static int	pgw_hashed_passwords = PGW_HASHED_REJECT;
static char *pgw_password_banned_words = NULL;

/*
 * pgwarden.password_banned_words as a list, split once by the check hook
 * (as pgaudit parses pgaudit.log) and installed by the assign hook: one
 * block from PGW_GUC_EXTRA_ALLOC, the GUC machinery's "extra", freed by it.
 */
typedef struct PgwBannedWords
{
	int			n;				/* -1: the configuration file's list is unusable */
	const char *words[FLEXIBLE_ARRAY_MEMBER];
}			PgwBannedWords;

static const PgwBannedWords *banned_words = NULL;

/*
 * The estimator takes PGW_MAX_CONTEXT context words of PGW_MAX_CONTEXT_LEN
 * code points: its own, the role, the database and the banned words, which
 * must all fit (a list the estimator would cut short is refused when set,
 * rather than used in part).  SplitIdentifierString cuts each word to
 * NAMEDATALEN - 1 bytes, as it does any identifier.
 */
#define MAX_BANNED_WORDS	50
StaticAssertDecl(PGW_NBUILTIN + 2 + MAX_BANNED_WORDS <= PGW_MAX_CONTEXT &&
				 NAMEDATALEN - 1 <= PGW_MAX_CONTEXT_LEN,
				 "the banned words fit in the estimator's context");

static const struct config_enum_entry password_check_options[] = {
	{"enforce", PGW_CHECK_ENFORCE, false},
	{"warn", PGW_CHECK_WARN, false},
	{"off", PGW_CHECK_OFF, false},
	{NULL, 0, false}
};

static const struct config_enum_entry hashed_passwords_options[] = {
	{"reject", PGW_HASHED_REJECT, false},
	{"allow", PGW_HASHED_ALLOW, false},
	{NULL, 0, false}
};

/* Role names shorter than this are not searched for inside passwords. */
#define MIN_ROLE_NAME_RULE_LEN	3

/* Bounds of generate_password(bits) */
#define GEN_MIN_BITS	64
#define GEN_MAX_BITS	1024
#define GEN_PREFIX		"pgw_"
#define GEN_MAX_TRIES	64

static const char gen_alphabet[] =
"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

static check_password_hook_type prev_check_password_hook = NULL;

PG_FUNCTION_INFO_V1(pgwarden_entropy_bits);
PG_FUNCTION_INFO_V1(pgwarden_generate_password);

/*
 * Context words for a password being set on a role: the role name, the
 * current database, "postgres" and pgwarden.password_banned_words.
 * Returns a palloc'd array; *n receives its length.
 */
static const char **
password_context(const char *username, int *n)
{
	const char **words;
	int			i = 0;
	int			nbanned = banned_words ? Max(banned_words->n, 0) : 0;
	char	   *dbname = NULL;

	if (OidIsValid(MyDatabaseId))
		dbname = get_database_name(MyDatabaseId);

	words = palloc(sizeof(char *) * (3 + nbanned));
	if (username)
		words[i++] = username;
	if (dbname)
		words[i++] = dbname;
	words[i++] = "postgres";
	for (int j = 0; j < nbanned; j++)
		words[i++] = banned_words->words[j];
	*n = i;
	return words;
}

static bool
check_banned_words(char **newval, void **extra, GucSource source)
{
	char	   *copy = pstrdup(*newval);
	List	   *list = NIL;
	ListCell   *lc;
	PgwBannedWords *parsed;
	Size		size;
	char	   *text;
	int			i = 0;
	bool		ok = true;

	if (!SplitIdentifierString(copy, ',', &list))
	{
		GUC_check_errdetail("List syntax is invalid: give words separated by commas.");
		list_free(list);
		pfree(copy);
		return false;
	}
	/* the header, the pointers, then the words themselves */
	size = offsetof(PgwBannedWords, words) + sizeof(char *) * list_length(list);
	foreach(lc, list)
	{
		const char *w = (const char *) lfirst(lc);

		if (!pg_verify_mbstr(PG_UTF8, w, (int) strlen(w), true))
			ok = false;
		size += strlen(w) + 1;
	}
	if (!ok || list_length(list) > MAX_BANNED_WORDS)
	{
		list_free(list);
		pfree(copy);

		/*
		 * Refused when set (SET, ALTER ROLE, ALTER SYSTEM).  Read from the
		 * configuration file by the postmaster, a refusal would leave no
		 * banned words at all, with only a WARNING in the log: the list is
		 * installed as unusable instead, and every password checked is then
		 * refused until it is mended (fail closed).
		 */
		if (source == PGC_S_FILE && !IsUnderPostmaster)
		{
			parsed = PGW_GUC_EXTRA_ALLOC(offsetof(PgwBannedWords, words));
			if (parsed == NULL)
				return false;
			parsed->n = -1;
			*extra = parsed;
			return true;
		}
		GUC_check_errdetail("Give at most %d words, in UTF-8.", MAX_BANNED_WORDS);
		return false;
	}
	parsed = PGW_GUC_EXTRA_ALLOC(size);
	if (parsed == NULL)
	{
		list_free(list);
		pfree(copy);
		return false;
	}
	parsed->n = list_length(list);
	text = (char *) &parsed->words[parsed->n];
	foreach(lc, list)
	{
		Size		len = strlen((const char *) lfirst(lc)) + 1;

		memcpy(text, lfirst(lc), len);
		parsed->words[i++] = text;
		text += len;
	}
	list_free(list);
	pfree(copy);
	*extra = parsed;
	return true;
}

static void
assign_banned_words(const char *newval, void *extra)
{
	banned_words = (const PgwBannedWords *) extra;
}

/*
 * Report a policy violation at ERROR (enforce) or WARNING (warn).  The
 * statement is hidden from the log: it carries the password.
 */
static void
report_violation(int level, const char *username, const char *detail,
				 const char *hint)
{
	ereport(level,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("password for role \"%s\" is too weak", username),
			 errdetail_internal("%s", detail),
			 errhint("%s", hint),
			 errhidestmt(true)));
}

static void
pgw_check_password(const char *username, const char *shadow_pass,
				   PasswordType password_type, Datum validuntil_time,
				   bool validuntil_null)
{
	/*
	 * Our decision comes first: an earlier hook must not see a password we
	 * are about to refuse.
	 */
	if (password_type == PASSWORD_TYPE_MD5)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("MD5-hashed password for role \"%s\" refused", username),
				 errdetail("MD5 password hashes are never accepted by pgwarden: they are weak and their strength cannot be checked."),
				 errhint("Send the password in plaintext over a TLS connection so pgwarden can check it, for example ALTER ROLE ... PASSWORD pgwarden.generate_password(), and set password_encryption = 'scram-sha-256'."),
				 errhidestmt(true)));

	if (password_type == PASSWORD_TYPE_SCRAM_SHA_256)
	{
		if (pgw_hashed_passwords != PGW_HASHED_ALLOW)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("pre-hashed password for role \"%s\" refused", username),
					 errdetail("The password arrived already hashed (as psql's \\password and createuser -P send it), so its strength cannot be checked."),
					 errhint("Set the password in plaintext over a TLS connection (ALTER ROLE ... PASSWORD '...'; log lines are masked by pgwarden), or let a superuser set pgwarden.hashed_passwords = 'allow'."),
					 errhidestmt(true)));
	}
	else
	{
		/* the log must never show it, whatever the checking mode */
		pgw_logmask_remember(shadow_pass);

		/*
		 * A plaintext password is about to be hashed.  MD5 hashes are refused
		 * when they arrive pre-hashed; storing one made here (an ordinary
		 * role may SET password_encryption = md5) is refused just the same.
		 */
		if (Password_encryption == PASSWORD_TYPE_MD5)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("password for role \"%s\" would be stored as an MD5 hash", username),
					 errdetail("password_encryption is md5; MD5 password hashes are never accepted by pgwarden."),
					 errhint("SET password_encryption = 'scram-sha-256' and set the password again."),
					 errhidestmt(true)));
	}

	if (password_type == PASSWORD_TYPE_PLAINTEXT &&
		pgw_password_check != PGW_CHECK_OFF)
	{
		int			level = (pgw_password_check == PGW_CHECK_ENFORCE) ? ERROR : WARNING;
		const char *judged = shadow_pass;
		char	   *prepared = NULL;
		size_t		len;
		pgw_estimate est;
		const char **ctx;
		int			nctx;
		int			rc;
		bool		contains_role = false;

		if (banned_words != NULL && banned_words->n < 0)
			ereport(level,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("password for role \"%s\" cannot be checked", username),
					 errdetail("pgwarden.password_banned_words in the configuration file has more than %d words, or words that are not UTF-8.",
							   MAX_BANNED_WORDS),
					 errhint("Mend the list and reload the configuration."),
					 errhidestmt(true)));

		/*
		 * SCRAM stores the secret of the SASLprep-normalised password (NFKC,
		 * with "mapped to nothing" characters such as soft hyphens and
		 * zero-width spaces removed), and libpq normalises what the client
		 * types the same way: that normal form is what an attacker has to
		 * guess, so it is what gets judged.  Full-width letters or invisible
		 * padding must not make "password123" look strong. When SASLprep
		 * fails, PostgreSQL hashes the string as it is.
		 */
		if (pg_saslprep(shadow_pass, &prepared) == SASLPREP_SUCCESS &&
			prepared != NULL)
			judged = prepared;
		else
			prepared = NULL;
		len = strlen(judged);

		/*
		 * The role name, also behind the disguises the estimator sees through
		 * (separators, doubled characters).  The estimator undoes those
		 * itself, so SQL entropy_bits(), Python and this policy give the same
		 * figure.
		 */
		if (strlen(username) >= MIN_ROLE_NAME_RULE_LEN)
		{
			if (pgw_contains_word(judged, len, username) ||
				pgw_contains_word(shadow_pass, strlen(shadow_pass), username))
				report_violation(level, username,
								 "The password contains the role name.",
								 "Choose a password that does not contain the role name, for example one from pgwarden.generate_password().");
			else if (pgw_contains_word_undisguised(judged, len, username) ||
					 pgw_contains_word_undisguised(shadow_pass, strlen(shadow_pass), username))
				contains_role = true;
		}

		ctx = password_context(username, &nctx);
		rc = pgw_estimate_entropy(judged, len, ctx, (size_t) nctx, &est);
		if (prepared != NULL)
		{
			explicit_bzero(prepared, len);
			pfree(prepared);
			prepared = NULL;
		}
		pfree(ctx);
		if (contains_role)
			report_violation(level, username,
							 "The password contains the role name.",
							 "Choose a password that does not contain the role name, for example one from pgwarden.generate_password().");
		if (rc == PGW_INVALID_UTF8)
			ereport(ERROR,
					(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
					 errmsg("password for role \"%s\" is not valid UTF-8", username),
					 errhidestmt(true)));
		if (rc != PGW_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not estimate the strength of the password for role \"%s\"", username),
					 errhidestmt(true)));

		if (est.bits < pgw_min_password_entropy)
		{
			char		found[512];
			char	   *detail;

			pgw_describe_estimate(&est, found, sizeof(found));
			if (found[0] != '\0')
				detail = psprintf("Estimated entropy is %.1f bits; at least %.0f bits are required. Found: %s.",
								  est.bits, pgw_min_password_entropy, found);
			else
				detail = psprintf("Estimated entropy is %.1f bits; at least %.0f bits are required.",
								  est.bits, pgw_min_password_entropy);
			report_violation(level, username, detail,
							 "Use a longer password without words, names, dates or keyboard patterns, for example one from SELECT pgwarden.generate_password().");
		}
	}

	if (prev_check_password_hook)
		prev_check_password_hook(username, shadow_pass, password_type,
								 validuntil_time, validuntil_null);
}

/*
 * Collect the elements of a text[] as C strings (NULLs skipped).
 */
static const char **
text_array_to_cstrings(ArrayType *arr, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	const char **out;
	int			i,
				k = 0;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("context must be a one-dimensional text array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &nelems);
	out = palloc(sizeof(char *) * (nelems + 1));
	for (i = 0; i < nelems; i++)
		if (!nulls[i])
			out[k++] = TextDatumGetCString(elems[i]);
	*n = k;
	return out;
}

/*
 * pgwarden.entropy_bits(password text, context text[] DEFAULT '{}')
 *
 * The estimator exactly as Python's pgwarden.entropy_bits() runs it: the
 * context is only what the caller passes.
 */
Datum
pgwarden_entropy_bits(PG_FUNCTION_ARGS)
{
	text	   *pw = PG_GETARG_TEXT_PP(0);
	const char **ctx = NULL;
	int			nctx = 0;
	pgw_estimate est;
	int			rc;

	if (!PG_ARGISNULL(1))
		ctx = text_array_to_cstrings(PG_GETARG_ARRAYTYPE_P(1), &nctx);

	rc = pgw_estimate_entropy(VARDATA_ANY(pw), VARSIZE_ANY_EXHDR(pw),
							  ctx, (size_t) nctx, &est);
	if (rc == PGW_INVALID_UTF8)
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("password is not valid UTF-8")));
	if (rc != PGW_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not estimate the strength of the password")));
	PG_RETURN_FLOAT8(est.bits);
}

/*
 * pgwarden.generate_password(bits int DEFAULT 80)
 *
 * "pgw_" followed by uniformly random alphanumerics from pg_strong_random
 * carrying at least the requested bits.  A draw the estimator scores below
 * the policy threshold (vanishingly rare) is drawn again, so the result is
 * always accepted by the policy.
 */
Datum
pgwarden_generate_password(PG_FUNCTION_ARGS)
{
	int32		bits = PG_GETARG_INT32(0);
	int			nchars;
	int			prefix_len = strlen(GEN_PREFIX);
	char	   *buf;
	int			try;

	if (bits < GEN_MIN_BITS || bits > GEN_MAX_BITS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bits must be between %d and %d, not %d",
						GEN_MIN_BITS, GEN_MAX_BITS, bits)));
	if (bits < pgw_min_password_entropy)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bits (%d) is below pgwarden.min_password_entropy (%.0f)",
						bits, pgw_min_password_entropy),
				 errhint("Ask for at least %.0f bits.", ceil(pgw_min_password_entropy))));

	nchars = (int) ceil(bits / log2((double) (sizeof(gen_alphabet) - 1)));
	buf = palloc(prefix_len + nchars + 1);
	memcpy(buf, GEN_PREFIX, prefix_len);

	for (try = 0; try < GEN_MAX_TRIES; try++)
	{
		pgw_estimate est;
		int			i = 0;

		while (i < nchars)
		{
			unsigned char rnd[64];
			int			j;

			if (!pg_strong_random(rnd, sizeof(rnd)))
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("could not generate random values")));
			/* Rejection sampling keeps every character uniform: 62*4 = 248. */
			for (j = 0; j < (int) sizeof(rnd) && i < nchars; j++)
				if (rnd[j] < 248)
					buf[prefix_len + i++] = gen_alphabet[rnd[j] % 62];
			explicit_bzero(rnd, sizeof(rnd));
		}
		buf[prefix_len + nchars] = '\0';

		if (pgw_estimate_entropy(buf, prefix_len + nchars, NULL, 0, &est) == PGW_OK &&
			est.bits >= Max(pgw_min_password_entropy, 60.0))
			PG_RETURN_TEXT_P(cstring_to_text(buf));
	}
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("could not generate a password the estimator accepts after %d tries", GEN_MAX_TRIES)));
	PG_RETURN_NULL();			/* keep compiler quiet */
}

void
pgw_password_init(void)
{
	DefineCustomRealVariable("pgwarden.min_password_entropy",
							 "Minimum estimated entropy, in bits, of a password set through SQL.",
							 "CREATE ROLE and ALTER ROLE ... PASSWORD are refused below this figure. "
							 "The estimate is log2 of the guesses an attacker needs, after words, names, "
							 "dates, keyboard walks, repeats and sequences are discounted.",
							 &pgw_min_password_entropy,
							 60.0, 0.0, 1024.0,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomEnumVariable("pgwarden.password_check",
							 "What to do with a weak password: enforce (refuse), warn, or off.",
							 "warn reports the same findings as a WARNING and lets the statement succeed.",
							 &pgw_password_check,
							 PGW_CHECK_ENFORCE, password_check_options,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomEnumVariable("pgwarden.hashed_passwords",
							 "Whether pre-hashed SCRAM passwords are accepted: reject or allow.",
							 "A pre-hashed password (psql's \\password, createuser -P) cannot be checked for "
							 "strength. MD5 hashes are refused in every mode.",
							 &pgw_hashed_passwords,
							 PGW_HASHED_REJECT, hashed_passwords_options,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("pgwarden.password_banned_words",
							   "Comma-separated words an attacker would try first (company, product, city).",
							   "Passwords built from these words are priced as almost free to guess.",
							   &pgw_password_banned_words,
							   "",
							   PGC_SUSET, 0,
							   check_banned_words, assign_banned_words, NULL);

	prev_check_password_hook = check_password_hook;
	check_password_hook = pgw_check_password;
}
