/*-------------------------------------------------------------------------
 *
 * entropy.h
 *	  pgwarden's password entropy estimator: plain C, no PostgreSQL headers.
 *
 * Compiled into both the server extension and the Python module, so the
 * server and Python always return the same figures for the same input.
 *
 * The estimate is log2 of the number of guesses a well-equipped attacker
 * needs, taken over the cheapest decomposition of the password into parts
 * (dictionary words, keyboard walks, repeats, sequences, dates, context
 * words and unmatched characters).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGW_ENTROPY_H
#define PGW_ENTROPY_H

#include <stddef.h>

/* Kinds of pattern found in the cheapest decomposition (a bit mask). */
#define PGW_PAT_COMMON_PASSWORD	(1u << 0)	/* a common password */
#define PGW_PAT_DICTIONARY_WORD	(1u << 1)	/* an English word */
#define PGW_PAT_NAME			(1u << 2)	/* a first name or surname */
#define PGW_PAT_CAPITALIZATION	(1u << 3)	/* predictable upper case */
#define PGW_PAT_L33T			(1u << 4)	/* l33t substitutions */
#define PGW_PAT_REVERSED		(1u << 5)	/* a word spelled backwards */
#define PGW_PAT_KEYBOARD		(1u << 6)	/* a keyboard walk */
#define PGW_PAT_REPEAT			(1u << 7)	/* repeated characters or blocks */
#define PGW_PAT_SEQUENCE		(1u << 8)	/* an alphabetic or numeric run */
#define PGW_PAT_DATE			(1u << 9)	/* a date */
#define PGW_PAT_YEAR			(1u << 10)	/* a year */
#define PGW_PAT_CONTEXT			(1u << 11)	/* role, database or banned word */
#define PGW_PAT_SHORT			(1u << 12)	/* too few characters */
#define PGW_PAT_WORDLIKE		(1u << 13)	/* letters shaped like a word */
#define PGW_PAT_PHRASE			(1u << 14)	/* a well-known phrase */
#define PGW_PAT_NUMBER			(1u << 15)	/* digits of a well-known constant */
#define PGW_PAT_SEPARATORS		(1u << 16)	/* a separator inserted regularly */
#define PGW_PAT_INCREMENT		(1u << 17)	/* a block repeated with a counter */
#define PGW_PAT_REPEATED_WORD	(1u << 18)	/* a word repeated (any case) */
#define PGW_PAT_COUNT			19

/* Return codes */
#define PGW_OK				0
#define PGW_INVALID_UTF8	(-1)
#define PGW_INVALID_ARG		(-2)

typedef struct pgw_estimate
{
	double		bits;			/* estimated entropy, >= 0 */
	unsigned int patterns;		/* PGW_PAT_* mask of the cheapest
								 * decomposition */
	size_t		codepoints;		/* length in Unicode code points */
	unsigned int dictionaries;	/* bit d: a word of dictionary d was used */
	unsigned int layouts;		/* bit l: a walk on keyboard layout l */
} pgw_estimate;

/*
 * Context words: the estimator looks at the first PGW_MAX_CONTEXT distinct
 * ones, its own PGW_NBUILTIN ("postgres", "postgresql", "pgwarden") first,
 * and skips a word of more than PGW_MAX_CONTEXT_LEN code points.  A caller
 * that must not lose a word (the policy's banned words) refuses longer
 * lists.
 */
#define PGW_MAX_CONTEXT		64
#define PGW_MAX_CONTEXT_LEN 64
#define PGW_NBUILTIN		3

/*
 * Estimate the entropy of password[0..len) (UTF-8, may contain NUL bytes
 * only if len says so).  context[0..ncontext) are extra words an attacker
 * would try first (role name, database name, banned words); each is a
 * NUL-terminated UTF-8 string, matched case-insensitively.  NULL or empty
 * entries are ignored, and so are the words beyond the limits above.
 *
 * Returns PGW_OK and fills *out, or PGW_INVALID_UTF8 when the password is not
 * valid UTF-8 (out is then zeroed).  CPU time is bounded for any length.
 * Thread-safe: no global mutable state.
 */
extern int	pgw_estimate_entropy(const char *password, size_t len,
								 const char *const *context, size_t ncontext,
								 pgw_estimate *out);

/*
 * English phrase for one PGW_PAT_* bit ("a common password", "a keyboard
 * walk", ...), or NULL for an unknown bit.
 */
extern const char *pgw_pattern_description(unsigned int pattern_bit);

/*
 * Write the descriptions of all bits in mask into buf as a comma-separated
 * list ("a dictionary word, a year"), NUL-terminated and truncated to
 * buflen.  Returns the length the full list needs (like snprintf).
 */
extern size_t pgw_describe_patterns(unsigned int mask, char *buf, size_t buflen);

/*
 * The findings of an estimate as a comma-separated list, naming the
 * dictionaries ("a German word") and keyboard layouts ("a keyboard walk on
 * an AZERTY layout") it used; like pgw_describe_patterns otherwise.
 */
extern size_t pgw_describe_estimate(const pgw_estimate *est, char *buf,
									size_t buflen);

/*
 * Nonzero when word (NUL-terminated UTF-8) occurs in password[0..len),
 * ignoring ASCII case.  Used for the "password contains the role name" rule.
 */
extern int	pgw_contains_word(const char *password, size_t len, const char *word);

/*
 * Like pgw_contains_word, and also when word occurs in the password once
 * the disguises the estimator sees through are undone (a separator between
 * characters or every few characters, every character typed k times).
 */
extern int	pgw_contains_word_undisguised(const char *password, size_t len,
										  const char *word);

#endif							/* PGW_ENTROPY_H */
