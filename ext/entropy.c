/*-------------------------------------------------------------------------
 *
 * entropy.c
 *	  pgwarden's password entropy estimator (plain C99, no PostgreSQL headers).
 *
 * The estimate is a description length: log2 of the number of guesses an
 * attacker needs when the password is written as a sequence of parts, each
 * part being a pattern (a ranked dictionary word, a keyboard walk, a repeat,
 * a sequence, a date, a year, a context word) or a run of unmatched
 * characters.  A dynamic programme over code-point positions keeps the
 * cheapest such decomposition.  Every part pays for what an attacker must
 * try to reach it: the rank of a word, the variants applied to it
 * (capitalisation, l33t, reversal), the start and turns of a walk, and a
 * small fixed price for saying which kind of part comes next.  Those fixed
 * prices are what keep random strings honest: a random string that happens
 * to contain "cat" saves little once the word's position is paid for.
 *
 * Unmatched characters cost log2 of the pool of the character classes that
 * occur anywhere in the password (see char_class() for the pools).
 *
 * Work is bounded: the password is analysed in windows of PGW_WINDOW code
 * points, a window that only continues the period of the previous one is
 * priced as a repeat without analysis, and the estimate saturates at
 * PGW_MAX_BITS, at which point the rest of the input is not examined (it
 * has still been validated as UTF-8, in linear time).
 *
 * No global mutable state: everything lives on the caller's stack, so the
 * functions are thread-safe.  No heap allocation.
 *
 *-------------------------------------------------------------------------
 */
#include "entropy.h"
#include "entropy_data.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef PGW_ENTROPY_TRACE
#include <stdio.h>
#endif

/* Code points analysed at once by the dynamic programme. */
#define PGW_WINDOW			128
/* The estimate saturates here: no password needs more. */
#define PGW_MAX_BITS		256.0
/* Built-in context words, always tried (cheap as the caller's). */
static const char *const builtin_context[PGW_NBUILTIN] = {"postgres", "postgresql", "pgwarden"};

/*
 * Fixed prices, in bits (each can be overridden with -D for experiments;
 * bench/password_estimator.py measures the defaults).
 *
 * K_PATTERN is paid by every pattern part: which kind of part comes next.
 * K_RUN is paid by each run of unmatched characters in a password that also
 * contains patterns: the kind (about 2 bits) and the run's length (about 4
 * bits).  A wholly unmatched password pays neither: it is plain brute force.
 * This asymmetry is what keeps random strings honest: a word found by chance
 * inside a random string splits a run in two and pays K_PATTERN + K_RUN,
 * while the parts of a patterned password follow one another and pay
 * K_PATTERN, or less: K_CHAIN for the next word of a chain in one case
 * style, K_TAIL for appended digits and symbols.  SEPARATOR_BITS is one
 * separator character ("-", "_", " ", ".") between two patterns.
 */
#ifndef K_PATTERN
#define K_PATTERN			2.0
#endif
#ifndef K_RUN
#define K_RUN				8.0
#endif
#ifndef SEPARATOR_BITS
#define SEPARATOR_BITS		1.0
#endif
/* Price of a tail of digits and symbols after a pattern. */
#ifndef K_TAIL
#define K_TAIL				1.5
#endif
/* K_RUN for a run that ends the password: its length is implied. */
#ifndef K_RUN_END
#define K_RUN_END			K_RUN
#endif
/* Extra price of a word from a list other than the common passwords. */
/* Price of the next word of a chain of words in one style. */
#ifndef K_CHAIN
#define K_CHAIN				0.25
#endif
#ifndef WORD_EXTRA
#define WORD_EXTRA			0.0
#endif
/* Extra price of a word of a language other than English. */
#ifndef LANG_EXTRA
#define LANG_EXTRA			1.0
#endif
/* Price of saying which character class a run of one class is drawn from. */
#ifndef CLASS_RUN_BITS
#define CLASS_RUN_BITS		2.0
#endif

/* Minimum lengths (code points) for patterns that occur by chance. */
#define MIN_WORD			3
#define MIN_REVERSED		4
#define MIN_WALK			4
#define MIN_SEQUENCE		3
#define MIN_CONTEXT			3
#ifndef MIN_REPEAT
#define MIN_REPEAT			4
#endif
#ifndef MIN_L33T
#define MIN_L33T			4
#endif
#ifndef MIN_WORD_OTHER
#define MIN_WORD_OTHER		3
#endif
#ifndef MIN_CLASS_RUN
#define MIN_CLASS_RUN		3
#endif

/* Bound on trie nodes visited from one start (l33t branching). */
#define MAX_TRIE_VISITS		256

#define INF_BITS			1e300

/*
 * Findings of a decomposition: PGW_PAT_* bits in the low 32 bits, the
 * dictionaries used from bit 32 on, the keyboard layouts from bit 56 on.
 */
typedef uint64_t pmask;

#define DICT_BIT(d)			((pmask) 1 << (32 + (d)))
#define LAYOUT_BIT(l)		((pmask) 1 << (56 + (l)))

/* Character classes and their pools. */
enum
{
	CC_LOWER,
	CC_UPPER,
	CC_DIGIT,
	CC_SYMBOL,
	CC_SPACE,
	CC_LATIN_EXT,
	CC_GREEK_LOWER,
	CC_GREEK_UPPER,
	CC_CYRILLIC_LOWER,
	CC_CYRILLIC_UPPER,
	CC_ALPHABET,
	CC_KANA,
	CC_HANGUL,
	CC_CJK,
	CC_OTHER,
	CC_COUNT
};

/*
 * Pool sizes.  ASCII classes are what they are (the 32 printable symbols
 * plus the control characters counted as one more).  For other scripts the
 * pool is the alphabet a writer of that script actually draws from, so a
 * password in another script is neither free nor penalised: an uppercase or
 * lowercase Greek or Cyrillic letter is one of about 25 or 33, an accented
 * Latin letter one of about 64 in common use, a letter of another alphabet
 * (Hebrew, Arabic, Armenian, Indic and South-East Asian scripts, ...) one of
 * about 64, kana one of about 170 (hiragana and katakana), a Hangul syllable
 * one of all 11,172 that Unicode composes (a generator draws from all of
 * them, and no list ranks them), a Han character one of the 2500 "frequently
 * used characters" of modern Chinese that cover ~98% of text (rarer ones are
 * not priced higher: an estimate must not reward obscurity it cannot rank).
 * Anything else (emoji, other symbols) is one of about 256 in common use.
 * Six CJK characters are thus worth 6 x 11.3 bits, not 18 bytes of 8 bits.
 */
static const double class_pool[CC_COUNT] = {
	26, 26, 10, 33, 1, 64, 25, 25, 33, 33, 64, 170, 11172, 2500, 256
};

/* Per-call analysis state: lives on the stack. */
typedef struct ctxword
{
	uint32_t	cp[PGW_MAX_CONTEXT_LEN];
	int			len;
} ctxword;

typedef struct analysis
{
	int			n;				/* code points in this window */
	uint32_t	cp[PGW_WINDOW];
	uint8_t		fold[PGW_WINDOW];	/* the byte matched (ascii_fold), or 0 */
	uint8_t		cls[PGW_WINDOW];
	uint8_t		midx[PGW_WINDOW];	/* letter of the character model, or 0 */
	uint8_t		kpos[PGW_NLAYOUTS + 1][PGW_WINDOW]; /* keys: see layout_key() */
	uint32_t	key[PGW_WINDOW];	/* the code point in lower case */
	double		char_bits;		/* cost of one unmatched character */
	double		brute_bonus;	/* see class_set_bits() */
	const ctxword *ctx;
	int			nctx;
	double		ctx_bits;		/* cost of naming one context word */
} analysis;

/*
 * The DP states of one (sub)range.  At each position the cheapest way to
 * have written the password so far, ending:
 *	ST_P   after a pattern (or at the start)
 *	ST_B   inside a run of unmatched characters
 *	ST_S   after a separator that follows a pattern
 *	ST_W + s  after a dictionary word of case style s (lower, Capitalised,
 *			  UPPER, last letter upper): a next word of the same style is the same attack
 *			  ("CorrectHorse", "CORRECT_HORSE") and pays no new case price
 *			  nor the full pattern price
 *	ST_X + s  after such a word and a separator
 * ST_W/ST_X costs are never below ST_P's (every word also updates ST_P).
 */
enum
{
	ST_P,
	ST_B,
	ST_S,
	ST_W,
	ST_X = ST_W + 4,
	ST_COUNT = ST_X + 4
};

typedef struct dpstate
{
	int			start;
	int			end;
	double		cost[ST_COUNT][PGW_WINDOW + 1];
	pmask		mask[ST_COUNT][PGW_WINDOW + 1];
#ifdef PGW_ENTROPY_TRACE
	int			from[ST_COUNT][PGW_WINDOW + 1];
	int			fromst[ST_COUNT][PGW_WINDOW + 1];
	double		tokbits[ST_COUNT][PGW_WINDOW + 1];
	pmask		tokmask[ST_COUNT][PGW_WINDOW + 1];
#endif
} dpstate;

static double dp_range(const analysis *a, int start, int end, int depth,
					   pmask *mask_out);

/* ------------------------------------------------------------------------
 * Small numeric helpers
 * ------------------------------------------------------------------------
 */

/* log2 of the binomial coefficient C(n, k). */
static double
log2_binom(int n, int k)
{
	double		r = 0.0;
	int			i;

	if (k < 0 || k > n)
		return -INF_BITS;
	if (k > n - k)
		k = n - k;
	for (i = 1; i <= k; i++)
		r += log2((double) (n - k + i) / (double) i);
	return r;
}

/* log2(sum_{i=1..min(x,y)} C(x+y, i)): variants of x marked among x+y. */
static double
log2_variants(int x, int y)
{
	int			m = x < y ? x : y;
	int			i;
	double		sum = 0.0;
	double		base;

	if (m <= 0)
		return 0.0;
	/* sum in a scaled domain to avoid overflow for long strings */
	base = log2_binom(x + y, m);
	for (i = 1; i <= m; i++)
		sum += exp2(log2_binom(x + y, i) - base);
	return base + log2(sum);
}

/* ------------------------------------------------------------------------
 * UTF-8 and character classes
 * ------------------------------------------------------------------------
 */

/*
 * Decode one code point from s[*pos..len).  Returns -1 on invalid UTF-8
 * (overlong forms, surrogates, values above U+10FFFF, truncation).
 */
static int32_t
utf8_next(const unsigned char *s, size_t len, size_t *pos)
{
	size_t		i = *pos;
	unsigned char c = s[i];
	uint32_t	cp;
	int			need;
	int			k;

	if (c < 0x80)
	{
		*pos = i + 1;
		return c;
	}
	if (c >= 0xC2 && c <= 0xDF)
	{
		cp = c & 0x1F;
		need = 1;
	}
	else if (c >= 0xE0 && c <= 0xEF)
	{
		cp = c & 0x0F;
		need = 2;
	}
	else if (c >= 0xF0 && c <= 0xF4)
	{
		cp = c & 0x07;
		need = 3;
	}
	else
		return -1;
	if (len - i <= (size_t) need)
		return -1;
	for (k = 1; k <= need; k++)
	{
		unsigned char cc = s[i + k];

		if ((cc & 0xC0) != 0x80)
			return -1;
		cp = (cp << 6) | (cc & 0x3F);
	}
	if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	*pos = i + need + 1;
	return (int32_t) cp;
}

/* char_class() of each ASCII code (CC_LOWER 0, UPPER 1, DIGIT 2, SYMBOL 3, SPACE 4) */
static const uint8_t ascii_class[128] = {
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	4, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3,
	3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3,
	3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3
};

static int
char_class(uint32_t cp)
{
	if (cp < 0x80)
		return ascii_class[cp];
	if (cp <= 0x024F || (cp >= 0x1E00 && cp <= 0x1EFF))
		return CC_LATIN_EXT;
	if ((cp >= 0x0391 && cp <= 0x03A9) || (cp >= 0x0370 && cp <= 0x0390))
		return CC_GREEK_UPPER;
	if ((cp >= 0x03AA && cp <= 0x03FF) || (cp >= 0x1F00 && cp <= 0x1FFF))
		return CC_GREEK_LOWER;
	if ((cp >= 0x0400 && cp <= 0x042F) ||
		(cp >= 0x0460 && cp <= 0x04FF && (cp & 1) == 0))
		return CC_CYRILLIC_UPPER;
	if (cp >= 0x0430 && cp <= 0x04FF)
		return CC_CYRILLIC_LOWER;
	if (cp >= 0x0500 && cp <= 0x1DFF)
		return CC_ALPHABET;
	if ((cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x31F0 && cp <= 0x31FF) ||
		(cp >= 0xFF66 && cp <= 0xFF9F))
		return CC_KANA;
	if ((cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0x3130 && cp <= 0x318F) ||
		(cp >= 0xAC00 && cp <= 0xD7AF))
		return CC_HANGUL;
	if ((cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
		(cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x3FFFF))
		return CC_CJK;
	return CC_OTHER;
}

/*
 * Invisible code points (soft hyphen, zero-width spaces and joiners, word
 * joiner, BOM): SASLprep and NFKC drop them, and so does the analysis, so
 * "pass\u00adword" is "password".  They still count as code points.
 */
static int
ignorable(uint32_t cp)
{
	return cp == 0x00AD || cp == 0x034F || cp == 0x180E ||
		(cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2060 && cp <= 0x2064) ||
		cp == 0xFEFF;
}

/*
 * The byte a code point is matched as (0: none), from the generated fold
 * tables: ASCII in lower case, accented Latin letters of Latin-1 and Latin
 * Extended-A as a byte of their own from 0x80 on (words with accents are
 * stored with them and without them), other accented letters as their base
 * letter, Cyrillic and Greek letters as the QWERTY key they are typed with
 * on the Russian (JCUKEN) and Greek layouts.  The letters of the other large
 * Cyrillic alphabets ("қ", "ң", "ә") also have a byte of their own, whose
 * base is the key of the Russian letter they are built on; rarer ones are
 * that key.  A Russian word typed with the wrong layout is a well-known
 * password ("gfhjkm"), and a Cyrillic password is typed on those keys, so
 * "пароль" is the common password "gfhjkm" and "йцукен" a keyboard walk.
 * Full-width forms of ASCII ("ｐａｓｓ") are typed as ASCII.
 */
static uint8_t
ascii_fold(uint32_t cp)
{
	if (cp < 0x0500)
		return pgw_fold_0000[cp];
	if (cp >= 0x1E00 && cp < 0x2000)
		return pgw_fold_1e00[cp - 0x1E00];
	if (cp >= 0xFF01 && cp <= 0xFF5E)
		return pgw_fold_0000[cp - 0xFEE0];
	return 0;
}

/* ------------------------------------------------------------------------
 * The DP
 * ------------------------------------------------------------------------
 */

static void
update(dpstate *d, int st, int j, double c, pmask m, int i, int fst,
	   double tokbits, pmask tokmask)
{
	if (c < d->cost[st][j])
	{
		d->cost[st][j] = c;
		d->mask[st][j] = m;
#ifdef PGW_ENTROPY_TRACE
		d->from[st][j] = i;
		d->fromst[st][j] = fst;
		d->tokbits[st][j] = tokbits;
		d->tokmask[st][j] = tokmask;
#else
		(void) i;
		(void) fst;
		(void) tokbits;
		(void) tokmask;
#endif
	}
}

/* The cheapest state at i from which a new pattern may start. */
static int
pattern_origin(const dpstate *d, int i)
{
	static const int from[] = {ST_P, ST_B, ST_S, ST_X, ST_X + 1, ST_X + 2,
	ST_X + 3};
	int			best = ST_P;
	int			k;

	for (k = 1; k < 7; k++)
		if (d->cost[from[k]][i] < d->cost[best][i])
			best = from[k];
	return best;
}

/* A pattern part [i, j) priced bits. */
static void
relax(dpstate *d, int i, int j, double bits, pmask mask)
{
	int			o = pattern_origin(d, i);

	update(d, ST_P, j, d->cost[o][i] + K_PATTERN + bits, d->mask[o][i] | mask,
		   i, o, bits, mask);
}

/*
 * A run of characters [i, j) priced bits as brute force over a smaller pool:
 * it pays the price of a run, not of a pattern.
 */
static void
relax_run(dpstate *d, int i, int j, double bits)
{
	int			o = pattern_origin(d, i);

	update(d, ST_P, j,
		   d->cost[o][i] + (j == d->end ? K_RUN_END : K_RUN) + bits,
		   d->mask[o][i], i, o, bits, 0);
}

/*
 * The tail of a password after a pattern: digits and symbols appended to a
 * word ("2019!", "17-") are a rule of their own, priced as a pattern (the
 * classes and their characters) when a pattern precedes them.
 */
static void
relax_tail(dpstate *d, int i, double bits, pmask mask)
{
	int			o = ST_P;
	int			k;

	for (k = ST_S; k < ST_COUNT; k++)
		if (k >= ST_X && d->cost[k][i] < d->cost[o][i])
			o = k;
	if (d->cost[ST_S][i] < d->cost[o][i])
		o = ST_S;
	update(d, ST_P, d->end, d->cost[o][i] + K_TAIL + bits, d->mask[o][i] | mask,
		   i, o, bits, mask);
}

/*
 * Words of two languages in one password: the attacker must have chosen to
 * combine those lists, a choice a word of the language already used does
 * not pay (the dictionaries of the languages are bits PGW_DICT_EN ..
 * PGW_DICT_UK of the findings).
 */
#ifndef LANG_SWITCH_BITS
#define LANG_SWITCH_BITS	2.0
#endif
#define LANG_DICTS	((((pmask) 1 << (PGW_DICT_UK + 1)) - ((pmask) 1 << PGW_DICT_EN)) << 32)

static inline double
lang_switch(pmask before, pmask word)
{
	before &= LANG_DICTS;
	word &= LANG_DICTS;
	return (before != 0 && word != 0 && (before & word) == 0) ? LANG_SWITCH_BITS : 0.0;
}

/*
 * A dictionary word [i, j): bits without capitalisation, casebits for it,
 * style 0..3 (lower, Capitalised, UPPER, last upper) or -1 for another mix.
 */
static void
relax_word(dpstate *d, int i, int j, double bits, double casebits, int style,
		   pmask mask)
{
	int			o = pattern_origin(d, i);
	double		c = d->cost[o][i] + K_PATTERN + bits + casebits +
	lang_switch(d->mask[o][i], mask);
	pmask		m = d->mask[o][i] | mask;

	update(d, ST_P, j, c, m, i, o, bits + casebits, mask);
	if (style >= 0)
	{
		int			w = ST_W + style;
		int			x = ST_X + style;

		update(d, w, j, c, m, i, o, bits + casebits, mask);
		/* the next word of a chain in the same style */
		o = d->cost[x][i] < d->cost[w][i] ? x : w;
		c = d->cost[o][i] + K_CHAIN + bits + lang_switch(d->mask[o][i], mask);
		m = d->mask[o][i] | mask;
		update(d, ST_P, j, c, m, i, o, bits, mask);
		update(d, w, j, c, m, i, o, bits, mask);
	}

	/*
	 * The parts of one compound word keep its style: a lower-case part right
	 * after a Capitalised one ("Urteils" "text"), a last-upper part right
	 * after lower-case ones ("kinder" "schoeN").
	 */
	if (style == 0 || style == 3)
	{
		int			from = (style == 0) ? ST_W + 1 : ST_W;
		int			to = (style == 0) ? ST_W + 1 : ST_W + 3;

		c = d->cost[from][i] + K_CHAIN + bits + (style == 3 ? casebits : 0.0) +
			lang_switch(d->mask[from][i], mask);
		m = d->mask[from][i] | mask;
		update(d, ST_P, j, c, m, i, from, bits, mask);
		update(d, to, j, c, m, i, from, bits, mask);
	}
}

#ifndef MIXCASE_BITS
#define MIXCASE_BITS		3.0
#endif

/*
 * Capitalisation cost of a word with upper and lower letters, its first
 * and last letter upper or not: 0 for none, style 0..3 (lower,
 * Capitalised, UPPER, last upper) or -1 for another mix.
 */
static double
case_from_counts(int upper, int lower, int first_upper, int last_upper,
				 pmask *mask, int *style)
{
	*style = -1;
	if (upper == 0)
	{
		*style = 0;
		return 0.0;
	}
	if (lower == 0)
	{
		*style = 2;
		*mask |= PGW_PAT_CAPITALIZATION;
		return 1.0;
	}
	if (upper == 1 && first_upper)
	{
		*style = 1;
		*mask |= PGW_PAT_CAPITALIZATION;
		return 1.0;
	}
	if (upper == 1 && last_upper)
	{
		*style = 3;
		*mask |= PGW_PAT_CAPITALIZATION;
		return 2.0;
	}
	if (lower == 1 && !first_upper && upper > 1 && last_upper)
	{
		/* capitalisation inverted (hashcat's C, or t on a capitalised word) */
		*mask |= PGW_PAT_CAPITALIZATION;
		return 2.0;
	}

	/*
	 * An arbitrary mix: priced as such, not "predictable", plus the rule that
	 * says a mix was applied (few words wear one; random strings do).
	 */
	return log2_variants(upper, lower) + MIXCASE_BITS;
}

/* Letters in upper and lower case, in any script (see case_key). */
#define IS_UPPER(a, k)	((a)->key[k] != (a)->cp[k])
#define IS_LOWER(a, k)	((a)->key[k] == (a)->cp[k] && \
						 ((a)->cls[k] == CC_LOWER || (a)->cls[k] == CC_LATIN_EXT || \
						  (a)->cls[k] == CC_CYRILLIC_LOWER || (a)->cls[k] == CC_GREEK_LOWER))

static double
case_bits(const analysis *a, int i, int j, pmask *mask, int *style)
{
	int			upper = 0;
	int			lower = 0;
	int			k;
	int			dummy;

	if (style == NULL)
		style = &dummy;
	*style = -1;

	for (k = i; k < j; k++)
	{
		if (IS_UPPER(a, k))
			upper++;
		else if (IS_LOWER(a, k))
			lower++;
	}
	return case_from_counts(upper, lower, IS_UPPER(a, i), IS_UPPER(a, j - 1),
							mask, style);
}

/*
 * Price of a dictionary word: its rank in its list (with the list's extra
 * price folded in by the generator).  info is dictionary << 8 | cost.
 */
static double
dict_bits(uint32_t info, pmask *mask)
{
	unsigned int dict = info >> 8;

	switch (dict)
	{
		case PGW_DICT_PASSWORDS:
			*mask |= PGW_PAT_COMMON_PASSWORD;
			break;
		case PGW_DICT_FIRST_NAMES:
		case PGW_DICT_SURNAMES:
		case PGW_DICT_PLACES:
			*mask |= PGW_PAT_NAME;
			break;
		case PGW_DICT_MONTHS:
			*mask |= PGW_PAT_DATE;
			break;
		case PGW_DICT_PHRASES:
			*mask |= PGW_PAT_PHRASE;
			break;
		case PGW_DICT_NUMBERS:
			*mask |= PGW_PAT_NUMBER;
			break;
		default:
			*mask |= PGW_PAT_DICTIONARY_WORD;
			break;
	}
	*mask |= DICT_BIT(dict);
	return (double) (info & 0xFF) / PGW_COST_SCALE + WORD_EXTRA +
		(dict > PGW_DICT_EN && dict <= PGW_DICT_UK ? LANG_EXTRA : 0.0);
}

/*
 * The dictionaries are one minimal acyclic automaton (ext/entropy_data.h):
 * a state is the index of its first arc; a state's arcs are sorted by
 * label, the last one flagged.  A word is followed by the arcs "\0",
 * dictionary and cost.  State 0 is the root, never a target, so 0 also
 * means "no such state".  Arc k is four bytes of pgw_dawg_arcs: its label,
 * then last | target << 1 in three bytes, lowest first.  The model's costs
 * are digits: the printable characters other than '"', '?' and '\\'.
 */
static inline uint32_t
digit_value(unsigned char c)
{
	return (uint32_t) c - 33 - (c > '"') - (c > '?') - (c > '\\');
}

static inline uint32_t
arc_label(uint32_t k)
{
	return (unsigned char) pgw_dawg_arcs[4 * (size_t) k];
}

static inline uint32_t
arc_link(uint32_t k)
{
	const unsigned char *p = (const unsigned char *) pgw_dawg_arcs + 4 * (size_t) k;

	return (uint32_t) p[1] | ((uint32_t) p[2] << 8) | ((uint32_t) p[3] << 16);
}

static inline int
arc_last(uint32_t k)
{
	return (int) (arc_link(k) & 1);
}

static inline uint32_t
arc_target(uint32_t k)
{
	return arc_link(k) >> 1;
}

/* The value (dictionary << 8 | cost) of the word ending at state n, or -1. */
static inline int32_t
trie_word(uint32_t n)
{
	uint32_t	s1,
				s2;

	if (n == 0 || n >= PGW_DAWG_ARCS || arc_label(n) != 0)
		return -1;
	s1 = arc_target(n);
	if (s1 >= PGW_DAWG_ARCS)
		return -1;
	s2 = arc_target(s1);
	if (s2 >= PGW_DAWG_ARCS)
		return -1;
	return (int32_t) ((arc_label(s1) << 8) | arc_label(s2));
}

/* Child of state n labelled c, or 0. */
static inline uint32_t
trie_child(uint32_t n, uint8_t c)
{
	uint32_t	k;

	if (c == 0)
		return 0;
	if (n == 0)
	{
		uint32_t	t = pgw_dawg_root[c];

		return (t >= PGW_DAWG_ARCS) ? 0 : t;
	}
	for (k = n; k < PGW_DAWG_ARCS; k++)
	{
		const unsigned char *p = (const unsigned char *) pgw_dawg_arcs + 4 * (size_t) k;
		uint32_t	link = (uint32_t) p[1] | ((uint32_t) p[2] << 8) |
		((uint32_t) p[3] << 16);

		if (p[0] == c)
		{
			uint32_t	t = link >> 1;

			return (t >= PGW_DAWG_ARCS) ? 0 : t;
		}
		if (p[0] > c || (link & 1))
			return 0;
	}
	return 0;
}

/* l33t: what a character may stand for (up to two letters). */
static const char *
l33t_subs(uint8_t c)
{
	switch (c)
	{
		case '4':
		case '@':
			return "a";
		case '8':
			return "b";
		case '(':
		case '{':
		case '[':
		case '<':
			return "c";
		case '3':
			return "e";
		case '6':
		case '9':
			return "g";
		case '1':
		case '|':
			return "il";
		case '!':
			return "i";
		case '0':
			return "o";
		case '$':
		case '5':
			return "s";
		case '7':
		case '+':
			return "t";
		case '%':
			return "x";
		case '2':
			return "z";
		default:
			return NULL;
	}
}

/* Letters some l33t character stands for. */
static int
l33t_target(uint8_t c)
{
	switch (c)
	{
		case 'a':
		case 'b':
		case 'c':
		case 'e':
		case 'g':
		case 'i':
		case 'l':
		case 'o':
		case 's':
		case 't':
		case 'x':
		case 'z':
			return 1;
		default:
			return 0;
	}
}

/*
 * Scripts of a span: Latin letters (ASCII or accented), Cyrillic, Greek.
 * Words are stored as the keys they are typed with, so a Latin string can
 * be a Russian word typed on the wrong layout ("gfhjkm"), but a match never
 * mixes scripts, Cyrillic letters are only Russian and Ukrainian words, names and common
 * passwords, and Greek letters only Greek words and names.
 */
#define SCRIPT_LATIN		1
#define SCRIPT_CYRILLIC		2
#define SCRIPT_GREEK		4

static int
span_script(const analysis *a, int s0, int e0)
{
	int			k,
				sc = 0;

	for (k = s0; k < e0; k++)
	{
		switch (a->cls[k])
		{
			case CC_LOWER:
			case CC_UPPER:
			case CC_LATIN_EXT:
				sc |= SCRIPT_LATIN;
				break;
			case CC_CYRILLIC_LOWER:
			case CC_CYRILLIC_UPPER:
				sc |= SCRIPT_CYRILLIC;
				break;
			case CC_GREEK_LOWER:
			case CC_GREEK_UPPER:
				sc |= SCRIPT_GREEK;
				break;
			default:
				break;
		}
	}
	return sc;
}

static int
script_allows(int sc, int dict)
{
	int			name = (dict == PGW_DICT_FIRST_NAMES || dict == PGW_DICT_SURNAMES ||
						dict == PGW_DICT_PLACES || dict == PGW_DICT_MONTHS);

	switch (sc)
	{
		case SCRIPT_CYRILLIC:
			return dict == PGW_DICT_RU || dict == PGW_DICT_UK ||
				dict == PGW_DICT_PASSWORDS || name;
		case SCRIPT_GREEK:
			return dict == PGW_DICT_EL || name;
		case SCRIPT_LATIN:
		case 0:
			return dict != PGW_DICT_EL;
		default:
			return 0;			/* mixed scripts */
	}
}

/*
 * The character model sees an accented letter as its base letter; which
 * accent it wears is a small extra choice.  (Dictionary words match accents
 * exactly, or without them: see ascii_fold.)  A letter of the Cyrillic
 * alphabets of other languages ("қ", "ң", "ә") is seen as the Russian letter
 * it is built on, and pays the same choice.
 */
#ifndef ACCENT_BITS
#define ACCENT_BITS			3.0
#endif

static inline int
accented_at(const analysis *a, int k)
{
	uint32_t	cp = a->cp[k];

	return a->cls[k] == CC_LATIN_EXT ||
		(cp >= 0x0460 && cp <= 0x04FF && cp != 0x0490 && cp != 0x0491);
}

static void relax_ending(const analysis *a, dpstate *d, int s0, int e0,
						 double bits, pmask mask, int mo, int from_stem);

/* The rule "l33t" applied to a dictionary word, before its substitutions. */
#ifndef L33T_BITS
#define L33T_BITS			2.5
#endif

/* Price a dictionary match found at trie node word w; relax it into d. */
static void
report_word(const analysis *a, dpstate *d, int i, int pos, int dir,
			int32_t w, uint32_t submask)
{
	int			len = (dir > 0) ? (pos + 1 - i) : (i - pos + 1);
	int			s0 = (dir > 0) ? i : pos;
	int			e0 = (dir > 0) ? pos + 1 : i + 1;
	pmask		mask = 0;
	double		bits;
	double		casebits;
	int			style;

	if (len < (dir > 0 ? MIN_WORD : MIN_REVERSED))
		return;
	if (len < MIN_WORD_OTHER && (w >> 8) != PGW_DICT_PASSWORDS)
		return;
	if (!script_allows(span_script(a, s0, e0), (int) (w >> 8)))
		return;
	bits = dict_bits((uint32_t) w, &mask);
	if (submask != 0)
	{
		int			subbed = 0,
					plain = 0,
					letters = 0,
					k;

		/*
		 * l33t: priced like zxcvbn, by which of the substitutable letters
		 * were substituted (substituting all of them costs one bit).  A match
		 * needs at least one letter left, so that "537" is not "set".
		 */
		for (k = 0; k < len; k++)
		{
			uint8_t		c = a->fold[i + k * dir];

			if (submask & ((uint32_t) 1 << k))
				subbed++;
			else if (c >= 'a' && c <= 'z')
			{
				letters++;
				if (l33t_target(c))
					plain++;
			}
		}
		if (letters == 0 || (dir < 0 && len < 5) || len < MIN_L33T)
			return;
		bits += L33T_BITS + log2_variants(subbed, plain);
		mask |= PGW_PAT_L33T;
	}
	casebits = case_bits(a, s0, e0, &mask, &style);
	if (dir < 0)
	{
		int			x,
					y;

		/* a palindrome is no reversal */
		for (x = s0, y = e0 - 1; x < y; x++, y--)
			if (a->fold[x] != a->fold[y])
				break;
		if (x >= y)
			return;
		/* reversed digits are just other digits */
		for (x = s0; x < e0; x++)
			if (a->cls[x] == CC_LOWER || a->cls[x] == CC_UPPER)
				break;
		if (x == e0)
			return;
		bits += 1.0;
		mask |= PGW_PAT_REVERSED;
	}
	relax_word(d, s0, e0, bits, casebits, style, mask);
	if (dir > 0 && submask == 0)
	{
		int			dict = (int) (w >> 8);
		int			mo = (dict == PGW_DICT_RU || dict == PGW_DICT_UK ||
						  dict == PGW_DICT_EL ||
						  span_script(a, s0, e0) != SCRIPT_LATIN) ? 1 : 0;

		relax_ending(a, d, s0, e0, bits, mask, mo, 0);
	}
}

/*
 * Dictionary matches over a->fold, forward from i (dir = +1) or backward
 * from i (dir = -1, the word reversed), within [lo, hi), with l33t
 * substitutions as branches.  Each match is relaxed into d.
 */
static void
match_dictionary(const analysis *a, dpstate *d, int i, int dir, int lo, int hi)
{
	struct
	{
		uint32_t	node;
		int16_t		pos;
		int16_t		subs;
		uint32_t	submask;	/* substituted offsets from i */
	}			stack[64];
	int			sp = 0;
	int			visits = 0;

	stack[sp].node = 0;
	stack[sp].pos = (int16_t) i;
	stack[sp].subs = 0;
	stack[sp].submask = 0;
	sp++;
	while (sp > 0 && visits < MAX_TRIE_VISITS)
	{
		uint32_t	node = stack[sp - 1].node;
		int			pos = stack[sp - 1].pos;
		int			subs = stack[sp - 1].subs;
		uint32_t	submask = stack[sp - 1].submask;
		int			off = (pos - i) * dir;
		uint8_t		c;
		uint32_t	child;
		const char *alt;
		int32_t		w;

		sp--;
		visits++;
		if (pos < lo || pos >= hi)
			continue;
		c = a->fold[pos];
		if (c == 0)
			continue;
		alt = l33t_subs(c);
		if (alt != NULL)
		{
			for (; *alt && sp < 63; alt++)
			{
				child = trie_child(node, (uint8_t) *alt);
				if (child == 0)
					continue;
				if (off >= 32)
					continue;
				w = trie_word(child);
				if (w >= 0)
					report_word(a, d, i, pos, dir, w,
								submask | ((uint32_t) 1 << off));
				stack[sp].node = child;
				stack[sp].pos = (int16_t) (pos + dir);
				stack[sp].subs = (int16_t) (subs + 1);
				stack[sp].submask = submask | ((uint32_t) 1 << off);
				sp++;
			}
		}
		child = trie_child(node, c);
		if (child != 0 && sp < 64)
		{
			w = trie_word(child);
			if (w >= 0)
				report_word(a, d, i, pos, dir, w, submask);
			stack[sp].node = child;
			stack[sp].pos = (int16_t) (pos + dir);
			stack[sp].subs = (int16_t) subs;
			stack[sp].submask = submask;
			sp++;
		}
	}
}

/* ------------------------------------------------------------------------
 * Keyboard walks
 * ------------------------------------------------------------------------
 */

/*
 * Key positions.  QWERTY rows are staggered by half a key: key (r, c) has
 * neighbours (r, c-1), (r, c+1), (r-1, c), (r-1, c+1), (r+1, c-1), (r+1, c).
 * The keypad is a plain grid with eight neighbours.
 *
 *	 QWERTY, unshifted / shifted (column 0 of rows 1-3 is empty):
 *		"`1234567890-="   "~!@#$%^&*()_+"
 *		" qwertyuiop[]\\"  " QWERTYUIOP{}|"
 *		" asdfghjkl;'"    " ASDFGHJKL:\""
 *		" zxcvbnm,./"     " ZXCVBNM<>?"
 *	 keypad: " / * -", "7 8 9 +", "4 5 6 +", "1 2 3", "  0 ." (one column each)
 */
typedef struct keypos
{
	int8_t		r;
	int8_t		c;
	int8_t		shifted;
} keypos;

/*
 * The keypad as a lookup table, ASCII code -> key: bits 5-7 row, bits 0-4
 * column; 255 for no key.  The keyboards (QWERTY, AZERTY, QWERTZ, Dvorak,
 * JCUKEN, unshifted and shifted) are generated tables (pgw_layouts), sorted
 * by code point, of keys coded shifted << 7 | row << 5 | column.
 */
static const uint8_t keypad_key[128] = {
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 2, 35, 255, 3, 130, 1,
	129, 96, 97, 98, 64, 65, 66, 32, 33, 34, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
	255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};

static int
layout_pos(int layout, uint32_t cp, keypos *k)
{
	const pgw_layout_key *t = pgw_layouts[layout];
	int			lo = 0,
				hi = pgw_layout_sizes[layout];

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (t[mid].cp == cp)
		{
			uint8_t		v = t[mid].key;

			k->r = (int8_t) ((v >> 5) & 3);
			k->c = (int8_t) (v & 31);
			k->shifted = (int8_t) (v >> 7);
			return 1;
		}
		if (t[mid].cp < cp)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

static int
keypad_pos(uint32_t cp, keypos *k)
{
	uint8_t		v;

	if (cp >= 128 || (v = keypad_key[cp]) == 255)
		return 0;
	k->r = (int8_t) ((v >> 5) & 7);
	k->c = (int8_t) (v & 31);
	k->shifted = 0;
	return 1;
}

/* Direction from a to b (1..8), or 0 if not adjacent. */
static int
walk_dir(const keypos *x, const keypos *y, int keypad)
{
	int			dr = y->r - x->r;
	int			dc = y->c - x->c;

	if (keypad)
	{
		if (dr < -1 || dr > 1 || dc < -1 || dc > 1 || (dr == 0 && dc == 0))
			return 0;
		return (dr + 1) * 3 + (dc + 1) + 1;
	}
	if (dr == 0 && (dc == 1 || dc == -1))
		return dc > 0 ? 1 : 2;
	if (dr == -1 && (dc == 0 || dc == 1))
		return dc == 0 ? 3 : 4;
	if (dr == 1 && (dc == -1 || dc == 0))
		return dc == 0 ? 5 : 6;
	return 0;
}

static double
walk_bits(int keypad, int len, int turns, int shifted)
{
	double		keys = keypad ? 16.0 : 47.0;
	double		degree = keypad ? 8.0 : 6.0;
	double		bits;

	/* start key, layout, length, where the turns are, their directions */
	bits = log2(keys) + 1.0 + log2((double) len);
	bits += log2_binom(len - 1, turns - 1) + turns * log2(degree);
	if (shifted > 0)
		bits += (shifted == len) ? 1.0 : log2_variants(shifted, len - shifted);
	return bits;
}

/*
 * The character a QWERTY key walk sees: Cyrillic and Greek letters as the
 * keys they are typed with (see ascii_fold).  Other layouts see the
 * characters as typed.
 */
#define KEYCHAR(a, k) ((a)->cp[k] < 0x80 ? (a)->cp[k] : (uint32_t) (a)->fold[k])

/* Layouts other than QWERTY (and the keypad) are a less likely guess. */
#ifndef LAYOUT_BITS
#define LAYOUT_BITS			2.0
#endif

/*
 * The key of character k on keyboard kb (0 the keypad, 1 + l layout l),
 * coded shifted << 7 | row << 5 | column, 255 for none; computed once per
 * character by fill_analysis().
 */
static uint8_t
layout_key(const analysis *a, int kb, int k)
{
	keypos		p;
	int			ok;

	if (kb == 0)
		ok = keypad_pos(KEYCHAR(a, k), &p);
	else if (kb - 1 == PGW_LAYOUT_QWERTY)
		ok = layout_pos(kb - 1, KEYCHAR(a, k), &p);
	else
		ok = layout_pos(kb - 1, a->cp[k], &p);
	if (!ok)
		return 255;
	return (uint8_t) ((p.shifted << 7) | (p.r << 5) | p.c);
}

static int
key_of(const analysis *a, int kb, int k, keypos *p)
{
	uint8_t		v = a->kpos[kb][k];

	if (v == 255)
		return 0;
	p->r = (int8_t) ((v >> 5) & 3);
	p->c = (int8_t) (v & 31);
	p->shifted = (int8_t) (v >> 7);
	return 1;
}

static void
match_walks(const analysis *a, dpstate *d, int i, int hi)
{
	int			kb;

	/* kb: 0 keypad, 1 + l layout l */
	for (kb = 0; kb <= PGW_NLAYOUTS; kb++)
	{
		int			keypad = (kb == 0);
		int			layout = kb - 1;
		keypos		prev,
					cur;
		int			j,
					lastdir = 0,
					dir0 = 0,
					dir1 = 0,
					zigzag = 1,
					turns = 0,
					shifted;
		double		extra = 0.0;
		pmask		mask = PGW_PAT_KEYBOARD;

		if (!key_of(a, kb, i, &prev))
			continue;
		if (!keypad && layout != PGW_LAYOUT_QWERTY)
		{
			extra = LAYOUT_BITS;
			mask |= LAYOUT_BIT(layout);
		}
		shifted = prev.shifted;
		for (j = i + 1; j < hi; j++)
		{
			int			dir;
			double		bits;

			if (!key_of(a, kb, j, &cur))
				break;
			dir = walk_dir(&prev, &cur, keypad);
			if (dir == 0)
				break;
			if (dir != lastdir)
				turns++;
			/* a zigzag alternates between two directions */
			if (j == i + 1)
				dir0 = dir;
			else if (j == i + 2)
				dir1 = dir;
			else if (dir != ((j - i) % 2 ? dir0 : dir1))
				zigzag = 0;
			lastdir = dir;
			shifted += cur.shifted;
			prev = cur;
			if (j + 1 - i < MIN_WALK)
				continue;
			bits = walk_bits(keypad, j + 1 - i, turns, shifted);
			if (zigzag && dir1 != 0 && dir1 != dir0)
			{
				double		z = walk_bits(keypad, j + 1 - i, 2, shifted) + 1.0;

				if (z < bits)
					bits = z;
			}
			relax(d, i, j + 1, bits + extra, mask);
		}
	}
}

/* ------------------------------------------------------------------------
 * Words no list has: the character model
 * ------------------------------------------------------------------------
 */

/* Letters of a run priced by the model, and its extra price. */
#ifndef MIN_WORDLIKE
#define MIN_WORDLIKE		4
#endif
#define MAX_WORDLIKE		32
#ifndef WORDLIKE_BITS
#define WORDLIKE_BITS		1.0
#endif
/*
 * The model prices a letter run at its cost as a word of the training lists,
 * scaled: a word no list has is likelier than its cost among list words
 * says (tuned on the tune half of the bench corpus, which draws such words).
 */
#ifndef WORDLIKE_SCALE
#define WORDLIKE_SCALE		0.82
#endif

#ifndef CYRILLIC_KEYS
#define CYRILLIC_KEYS		1
#endif

/* The model's letter (1..) for a character, 0 when it is not a letter. */
static uint8_t
model_letter(uint32_t cp, uint8_t fold, int cls)
{
	static const char alphabet[] = PGW_MODEL_ALPHABET;
	const char *p;

	if (fold >= 0x80)
		fold = pgw_accent_base[fold - 0x80];
	if (fold >= 'a' && fold <= 'z')
		return (uint8_t) (fold - 'a' + 1);

	/*
	 * The keys besides a-z that Cyrillic letters are typed with count as
	 * letters when typed, too ("p,jxtytwm" is a Russian word on QWERTY).
	 */
	if (fold == 0 || (cp < 0x80 && !CYRILLIC_KEYS) ||
		(cp >= 0x80 && cls != CC_CYRILLIC_LOWER && cls != CC_CYRILLIC_UPPER))
		return 0;
	p = strchr(alphabet, fold);
	return p ? (uint8_t) (PGW_MODEL_SIZE - 1) : 0;
}

/*
 * Cost of letter x after c1 c2 c3 in character model mo: 0 for words in
 * Latin letters, 1 for words in Cyrillic or Greek letters (as the keys they
 * are typed with).
 */
#define MODEL_LATIN			0
#define MODEL_OTHER			1

static double
model_cost(int mo, int c1, int c2, int c3, int x)
{
	unsigned char c = (unsigned char) pgw_model[(((size_t) mo * PGW_MODEL_SIZE + c1) *
												 PGW_MODEL_SIZE + c2) *
												PGW_MODEL_SIZE * PGW_MODEL_SIZE +
												(size_t) c3 * PGW_MODEL_SIZE + x];

	return (double) digit_value(c) / PGW_MODEL_SCALE;
}

/*
 * A run of letters [i, j) priced by the 4-gram character model trained on
 * the dictionaries: -log2 of its probability as a word, end included.  An
 * unseen word of any of the languages costs two to three bits a letter; a
 * random string costs more than its brute force, which then wins.
 */
#ifndef WORDLIKE_L33T_BITS
#define WORDLIKE_L33T_BITS	1.0
#endif

/*
 * The model's letter at k, or 0; a l33t character between letters
 * ("C0n57!7u") counts as the letter it stands for, *l33t set.
 */
static int
model_at(const analysis *a, int k, int sc0, int *l33t)
{
	const char *alt;

	*l33t = 0;
	if (a->midx[k] != 0)
	{
		int			sc = span_script(a, k, k + 1);

		return (sc == sc0 || (sc == 0 && sc0 == SCRIPT_LATIN)) ? a->midx[k] : 0;
	}
	if (sc0 != SCRIPT_LATIN || a->cp[k] >= 0x80 ||
		(alt = l33t_subs((uint8_t) a->cp[k])) == NULL)
		return 0;
	*l33t = 1;
	return alt[0] - 'a' + 1;
}

static void
wordlike_run(const analysis *a, dpstate *d, int i, int hi, int mo, double extra)
{
	int			c1 = 0,
				c2 = 0,
				c3 = 0;
	double		sum = 0.0;
	int			j;
	int			sc0,
				upper = 0,
				lower = 0,
				letters = 0,
				subs = 0,
				plain = 0;

	sc0 = span_script(a, i, i + 1);
	for (j = i; j < hi && j - i < MAX_WORDLIKE; j++)
	{
		int			l33t;
		int			x = model_at(a, j, sc0, &l33t);

		/* a Cyrillic word typed on QWERTY has no accented letters */
		if (x == 0 || (mo != MODEL_LATIN && (l33t || (sc0 == SCRIPT_LATIN && a->cp[j] >= 0x80))))
			break;
		sum += model_cost(mo, c1, c2, c3, x);
		if (l33t)
		{
			subs++;
			sum += WORDLIKE_L33T_BITS;
		}
		else
		{
			letters++;
			if (a->fold[j] < 0x80 && l33t_target(a->fold[j]))
				plain++;
		}
		if (accented_at(a, j))
			sum += ACCENT_BITS;
		if (IS_UPPER(a, j))
			upper++;
		else if (IS_LOWER(a, j))
			lower++;
		c1 = c2;
		c2 = c3;
		c3 = x;
		if (j + 1 - i >= MIN_WORDLIKE && !l33t && subs <= letters / 2)
		{
			pmask		mask = PGW_PAT_WORDLIKE | (subs ? PGW_PAT_L33T : 0);
			int			style;
			double		casebits = case_from_counts(upper, lower, IS_UPPER(a, i),
													IS_UPPER(a, j), &mask, &style);

			/* l33t priced as for dictionary words: which letters changed */
			relax_word(d, i, j + 1,
					   WORDLIKE_SCALE * (sum + model_cost(mo, c1, c2, c3, 0)) + WORDLIKE_BITS +
					   (subs ? L33T_BITS + log2_variants(subs, plain) : 0.0) + extra,
					   casebits, style, mask);
		}
	}
}

/*
 * A run of letters priced by the character model of its script; letters
 * typed in Latin letters may also be a Cyrillic word typed on the wrong
 * layout (the second model, a bit more).
 */
#ifndef OTHER_MODEL_BITS
#define OTHER_MODEL_BITS	1.0
#endif

static void
match_wordlike(const analysis *a, dpstate *d, int i, int hi)
{
	int			sc0;

	if (a->midx[i] == 0)
		return;
	sc0 = span_script(a, i, i + 1);
	if (sc0 == SCRIPT_LATIN)
	{
		wordlike_run(a, d, i, hi, MODEL_LATIN, 0.0);
		wordlike_run(a, d, i, hi, MODEL_OTHER, OTHER_MODEL_BITS);
	}
	else
		wordlike_run(a, d, i, hi, MODEL_OTHER, 0.0);
}

/*
 * A dictionary word with an ending no list has ("zielony" + "mi", "Urteil" +
 * "stext"): the rule "add an ending" costs INFLECT_BITS, and the ending is
 * priced by the character model after the word's last letters, end
 * included, so likely endings of the word's language cost a few bits.
 */
#ifndef INFLECT_BITS
#define INFLECT_BITS		0.0
#endif
#ifndef MAX_ENDING
#define MAX_ENDING			5
#endif
#ifndef INFLECT_SCALE
#define INFLECT_SCALE		0.75
#endif

static void
relax_ending(const analysis *a, dpstate *d, int s0, int e0, double bits,
			 pmask mask, int mo, int from_stem)
{
	int			c1 = e0 - 3 >= s0 ? a->midx[e0 - 3] : 0;
	int			c2 = e0 - 2 >= s0 ? a->midx[e0 - 2] : 0;
	int			c3 = a->midx[e0 - 1];
	int			sc0,
				j;
	double		sum = 0.0;

	if (c3 == 0)
		return;
	if (from_stem)
	{
		/* the stem alone: a word cut short (hashcat's "]") */
		pmask		m = mask | PGW_PAT_WORDLIKE;
		int			style;
		double		casebits = case_bits(a, s0, e0, &m, &style);

		relax_word(d, s0, e0, bits + INFLECT_SCALE * model_cost(mo, c1, c2, c3, 0),
				   casebits, style, m);
	}
	if (e0 >= d->end || a->midx[e0] == 0)
		return;
	sc0 = span_script(a, e0 - 1, e0);
	for (j = e0; j < d->end && j - e0 < MAX_ENDING && a->midx[j] != 0; j++)
	{
		int			x = a->midx[j];
		pmask		m = mask | PGW_PAT_WORDLIKE;
		int			style;
		double		casebits;

		if (span_script(a, j, j + 1) != sc0)
			break;
		sum += model_cost(mo, c1, c2, c3, x);
		if (accented_at(a, j))
			sum += ACCENT_BITS;
		c1 = c2;
		c2 = c3;
		c3 = x;
		casebits = case_bits(a, s0, j + 1, &m, &style);
		relax_word(d, s0, j + 1,
				   bits + INFLECT_BITS + INFLECT_SCALE * (sum + model_cost(mo, c1, c2, c3, 0)),
				   casebits, style, m);
	}
}

/*
 * Stems: the letters at i begin a dictionary word but leave it before its
 * end ("zielon" of "zielony" in "zielonymi", "hous" of "house").  The
 * deepest prefix of the dictionary along the password, at least MIN_STEM
 * letters and not a word itself, is priced as the cheapest word that
 * completes it within two letters, plus STEM_BITS, and takes an ending
 * priced by the character model like an inflected word.
 */
#ifndef MIN_STEM
#define MIN_STEM			4
#endif
#ifndef STEM_BITS
#define STEM_BITS			2.0
#endif

static int32_t
cheapest_completion(uint32_t node, int depth)
{
	int32_t		best = -1;
	uint32_t	k;

	if (node == 0 || node >= PGW_DAWG_ARCS)
		return -1;
	for (k = node; k < PGW_DAWG_ARCS; k++)
	{
		uint32_t	l = arc_label(k);
		uint32_t	t = arc_target(k);

		if (l != 0 && t < PGW_DAWG_ARCS)
		{
			int32_t		w = trie_word(t);

			if (w >= 0 && (best < 0 || (w & 0xFF) < (best & 0xFF)))
				best = w;
			if (depth > 1)
			{
				int32_t		w2 = cheapest_completion(t, depth - 1);

				if (w2 >= 0 && (best < 0 || (w2 & 0xFF) < (best & 0xFF)))
					best = w2;
			}
		}
		if (arc_last(k))
			break;
	}
	return best;
}

static void
match_stem(const analysis *a, dpstate *d, int i, int hi)
{
	uint32_t	node = 0;
	int			k;
	int32_t		w;
	pmask		mask = 0;
	double		bits;
	int			dict,
				mo;

	for (k = i; k < hi && k - i < PGW_DICT_MAX_WORD; k++)
	{
		uint32_t	next;

		if (a->midx[k] == 0 || a->fold[k] == 0)
			break;
		next = trie_child(node, a->fold[k]);
		if (next == 0)
			break;
		node = next;
	}
	if (k - i < MIN_STEM || trie_word(node) >= 0)
		return;
	w = cheapest_completion(node, 2);
	if (w < 0)
		return;
	dict = (int) (w >> 8);
	if (!script_allows(span_script(a, i, k), dict))
		return;
	bits = dict_bits((uint32_t) w, &mask) + STEM_BITS;
	mo = (dict == PGW_DICT_RU || dict == PGW_DICT_UK || dict == PGW_DICT_EL ||
		  span_script(a, i, k) != SCRIPT_LATIN) ? 1 : 0;
	relax_ending(a, d, i, k, bits, mask, mo, 1);
}

/* ------------------------------------------------------------------------
 * Sequences, years, dates
 * ------------------------------------------------------------------------
 */

static void
match_sequences(const analysis *a, dpstate *d, int i, int hi)
{
	int32_t		delta;
	int			j;
	double		base;
	uint32_t	c0 = a->cp[i];
	int			cls = a->cls[i];
	int			minlen;

	if (i + 1 >= hi || a->cls[i + 1] != cls)
		return;
	delta = (int32_t) a->cp[i + 1] - (int32_t) c0;
	if (delta == 0 || delta > 5 || delta < -5)
		return;
	if (cls == CC_SYMBOL || cls == CC_SPACE || cls == CC_OTHER)
		return;
	if (c0 == 'a' || c0 == 'A' || c0 == 'z' || c0 == 'Z' || c0 == '0' ||
		c0 == '1' || c0 == '9')
	{
		base = 1.0;
		minlen = MIN_SEQUENCE;
	}
	else
	{
		base = log2(class_pool[cls]);
		minlen = MIN_SEQUENCE + 1;
	}
	if (delta != 1 && delta != -1)
		base += log2(4.0);		/* which step */
	if (delta < 0)
		base += 1.0;
	for (j = i + 2; j < hi; j++)
	{
		if (a->cls[j] != cls ||
			(int32_t) a->cp[j] - (int32_t) a->cp[j - 1] != delta)
			break;
		if (j + 1 - i >= minlen)
			relax(d, i, j + 1, base + log2((double) (j + 1 - i)),
				  PGW_PAT_SEQUENCE);
	}
}

static int
digit_at(const analysis *a, int k)
{
	return (a->cls[k] == CC_DIGIT) ? (int) (a->cp[k] - '0') : -1;
}

static double
year_space(int year)
{
	int			dist = year > 2026 ? year - 2026 : 2026 - year;

	return log2((double) (dist < 20 ? 20 : dist));
}

static int
is_sep(uint32_t c)
{
	return c == '/' || c == '-' || c == '.' || c == ' ' || c == '_' ||
		c == '\\' || c == ',';
}

#ifndef DIGIT_GLUE_BITS
#define DIGIT_GLUE_BITS		3.0
#endif

/*
 * Price of one character joining two patterns: the usual separators cost
 * SEPARATOR_BITS, other symbols that people put between words ("&", "+",
 * "@", ...) a few bits more; 0 for a character that is no separator.
 */
static double
sep_bits(uint32_t c)
{
	if (is_sep(c))
		return SEPARATOR_BITS;
	if (c == '&' || c == '+' || c == '@' || c == '#' || c == '*' || c == '!' ||
		c == ':' || c == '|' || c == '~' || c == '=' || c == ';')
		return SEPARATOR_BITS + 2.0;
	/* a digit standing for a word between two ("romeo4juliet", "me2you") */
	if (c == '4' || c == '2')
		return SEPARATOR_BITS + DIGIT_GLUE_BITS;
	if (c >= '0' && c <= '9')
		return SEPARATOR_BITS + DIGIT_GLUE_BITS + 3.0;
	return 0.0;
}

/* Read a number of exactly len digits at k, or -1. */
static int
read_num(const analysis *a, int k, int len, int hi)
{
	int			v = 0;
	int			t;

	if (k + len > hi)
		return -1;
	for (t = 0; t < len; t++)
	{
		int			dg = digit_at(a, k + t);

		if (dg < 0)
			return -1;
		v = v * 10 + dg;
	}
	return v;
}

static int
valid_dm(int dd, int mm)
{
	return mm >= 1 && mm <= 12 && dd >= 1 && dd <= 31;
}

static int
full_year(int y, int ylen)
{
	if (ylen == 4)
		return (y >= 1900 && y <= 2099) ? y : -1;
	return y >= 50 ? 1900 + y : 2000 + y;
}

static void
match_dates(const analysis *a, dpstate *d, int i, int hi)
{
	int			y;
	int			fmt;

	if (digit_at(a, i) < 0)
		return;

	/* a year on its own */
	y = read_num(a, i, 4, hi);
	if (y >= 1900 && y <= 2099)
		relax(d, i, i + 4, year_space(y) + 1.0, PGW_PAT_YEAR);

	/*
	 * Dates without separators: ddmmyyyy, mmddyyyy, yyyymmdd (8 digits),
	 * ddmmyy, mmddyy, yymmdd (6 digits).  Priced as a day of the year (log2
	 * 366), the year's distance from now, and which of three orders.
	 */
	for (fmt = 0; fmt < 6; fmt++)
	{
		int			ylen = fmt < 3 ? 4 : 2;
		int			len = 4 + ylen;
		int			dd,
					mm,
					yy,
					yr;

		if (i + len > hi || read_num(a, i, len, hi) < 0)
			continue;
		switch (fmt % 3)
		{
			case 0:				/* dmy */
				dd = read_num(a, i, 2, hi);
				mm = read_num(a, i + 2, 2, hi);
				yy = read_num(a, i + 4, ylen, hi);
				break;
			case 1:				/* mdy */
				mm = read_num(a, i, 2, hi);
				dd = read_num(a, i + 2, 2, hi);
				yy = read_num(a, i + 4, ylen, hi);
				break;
			default:			/* ymd */
				yy = read_num(a, i, ylen, hi);
				mm = read_num(a, i + ylen, 2, hi);
				dd = read_num(a, i + ylen + 2, 2, hi);
				break;
		}
		yr = full_year(yy, ylen);
		if (yr < 0 || !valid_dm(dd, mm))
			continue;
		relax(d, i, i + len, log2(366.0) + year_space(yr) + log2(3.0),
			  PGW_PAT_DATE);
	}

	/*
	 * Dates with separators: d{1,2} S d{1,2} S (yy|yyyy), or yyyy S m S d,
	 * the same separator twice.
	 */
	{
		int			l1,
					l2,
					l3;

		for (l1 = 1; l1 <= 4; l1++)
		{
			int			v1 = read_num(a, i, l1, hi);
			int			s1 = i + l1;
			uint32_t	sep;

			if (v1 < 0 || s1 >= hi || !is_sep(a->cp[s1]) || l1 == 3)
				continue;
			sep = a->cp[s1];
			for (l2 = 1; l2 <= 2; l2++)
			{
				int			v2 = read_num(a, s1 + 1, l2, hi);
				int			s2 = s1 + 1 + l2;

				if (v2 < 0 || s2 >= hi || a->cp[s2] != sep)
					continue;
				for (l3 = 1; l3 <= 4; l3++)
				{
					int			v3 = read_num(a, s2 + 1, l3, hi);
					int			end = s2 + 1 + l3;
					int			yr;
					int			ok;

					if (v3 < 0 || l3 == 3)
						continue;
					if (end < hi && digit_at(a, end) >= 0)
						continue;	/* not the whole number */
					if (l1 == 4)
					{
						yr = full_year(v1, 4);
						ok = yr > 0 && l3 <= 2 &&
							(valid_dm(v3, v2) || valid_dm(v2, v3));
					}
					else
					{
						if (l3 == 1)
							continue;
						yr = full_year(v3, l3);
						ok = yr > 0 && (valid_dm(v1, v2) || valid_dm(v2, v1));
					}
					if (ok)
						relax(d, i, end,
							  log2(366.0) + year_space(yr) + log2(3.0) + 2.0,
							  PGW_PAT_DATE);
				}
			}
		}
	}
}

/*
 * The end of the longest month name (of any language the month list has)
 * starting at p, or -1; *bits receives its price.
 */
static int
month_at(const analysis *a, int p, int hi, double *bits)
{
	uint32_t	node = 0;
	int			k,
				best = -1;

	for (k = p; k < hi && k - p < 16; k++)
	{
		int32_t		w;

		if (a->fold[k] == 0 || a->cls[k] == CC_DIGIT || a->cls[k] == CC_SYMBOL ||
			a->cls[k] == CC_SPACE)
			break;
		node = trie_child(node, a->fold[k]);
		if (node == 0)
			break;
		w = trie_word(node);
		if (w >= 0 && (w >> 8) == PGW_DICT_MONTHS && k + 1 - p >= 3)
		{
			pmask		dummy = 0;

			best = k + 1;
			*bits = (double) (w & 0xFF) / PGW_COST_SCALE +
				case_bits(a, p, k + 1, &dummy, NULL);
		}
	}
	return best;
}

/* A day (1..31) of one or two digits at k: its end, or -1. */
static int
day_at(const analysis *a, int k, int hi)
{
	int			v;

	if (k >= hi || (v = digit_at(a, k)) < 0)
		return -1;
	if (k + 1 < hi && digit_at(a, k + 1) >= 0)
	{
		v = v * 10 + digit_at(a, k + 1);
		return (v >= 1 && v <= 31) ? k + 2 : -1;
	}
	return (v >= 1) ? k + 1 : -1;
}

/* An optional separator at k: the position after it. */
static int
skip_sep(const analysis *a, int k, int hi)
{
	return (k < hi && is_sep(a->cp[k])) ? k + 1 : k;
}

/*
 * Dates written with a month name, in any order people use: "7.ottobre.1962",
 * "29-januar-23", "21december1979", "may12", "January152019", "Mai1987".
 * Priced as the day, the month's spelling, the year, the separators and
 * which of a few orders.
 */
static void
match_month_dates(const analysis *a, dpstate *d, int i, int hi)
{
	double		mb;
	int			q,
				e,
				m0,
				k;

	if (digit_at(a, i) >= 0)
	{
		/* day [sep] month [sep] [year] */
		e = day_at(a, i, hi);
		if (e < 0)
			return;
		m0 = skip_sep(a, e, hi);
		q = month_at(a, m0, hi, &mb);
		if (q < 0)
			return;
		mb += log2(31.0) + 2.0 + (m0 > e ? 1.0 : 0.0);
		relax(d, i, q, mb, PGW_PAT_DATE);
		k = skip_sep(a, q, hi);
		for (e = 2; e <= 4; e += 2)
		{
			int			y = read_num(a, k, e, hi);
			int			yr;

			if (y < 0)
				continue;
			yr = full_year(y, e);
			if (yr > 0)
				relax(d, i, k + e, mb + year_space(yr) + 1.0 + (k > q ? 1.0 : 0.0),
					  PGW_PAT_DATE);
		}
		return;
	}
	/* month [sep] [day] [sep] [year] */
	q = month_at(a, i, hi, &mb);
	if (q < 0)
		return;
	mb += 2.0;
	k = skip_sep(a, q, hi);
	{
		int			de = day_at(a, k, hi);
		int			yl;

		for (yl = 2; yl <= 4; yl += 2)
		{
			int			y = read_num(a, k, yl, hi);
			int			yr = (y >= 0) ? full_year(y, yl) : -1;

			if (yr > 0)
				relax(d, i, k + yl, mb + year_space(yr) + 1.0 + (k > q ? 1.0 : 0.0),
					  PGW_PAT_DATE);
		}
		if (de < 0)
			return;
		relax(d, i, de, mb + log2(31.0) + (k > q ? 1.0 : 0.0), PGW_PAT_DATE);
		e = skip_sep(a, de, hi);
		for (yl = 2; yl <= 4; yl += 2)
		{
			int			y = read_num(a, e, yl, hi);
			int			yr = (y >= 0) ? full_year(y, yl) : -1;

			if (yr > 0)
				relax(d, i, e + yl, mb + log2(31.0) + year_space(yr) + 1.0 +
					  (k > q ? 1.0 : 0.0) + (e > de ? 1.0 : 0.0), PGW_PAT_DATE);
		}
	}
}

/* ------------------------------------------------------------------------
 * Context words
 * ------------------------------------------------------------------------
 */

static int
cp_eq_fold(uint32_t x, uint32_t y)
{
	if (x == y)
		return 1;
	if (x < 0x80 && y < 0x80)
		return ascii_fold(x) == ascii_fold(y);
	return 0;
}

static void
match_context(const analysis *a, dpstate *d, int i, int hi)
{
	int			w;

	for (w = 0; w < a->nctx; w++)
	{
		const ctxword *cw = &a->ctx[w];
		int			k;
		int			fwd = 1,
					rev = 1,
					subs = 0,
					letters,
					plain = 0;

		if (i + cw->len > hi)
			continue;
		for (k = 0; k < cw->len && (fwd || rev); k++)
		{
			uint32_t	c = a->cp[i + k];

			if (fwd && !cp_eq_fold(c, cw->cp[k]))
			{
				/* a l33t substitution of the context word's letter? */
				const char *alt = (c < 0x80) ? l33t_subs((uint8_t) c) : NULL;

				if (alt != NULL && cw->cp[k] < 0x80 &&
					strchr(alt, (int) ascii_fold(cw->cp[k])) != NULL &&
					ascii_fold(cw->cp[k]) != 0)
					subs++;
				else
					fwd = 0;
			}
			if (rev && !cp_eq_fold(c, cw->cp[cw->len - 1 - k]))
				rev = 0;
		}
		if (fwd && subs > 0)
		{
			/* as for dictionary words: a letter must be left */
			for (k = 0, letters = 0, plain = 0; k < cw->len; k++)
			{
				uint8_t		c = a->fold[i + k];

				if (cp_eq_fold(a->cp[i + k], cw->cp[k]) && c >= 'a' && c <= 'z')
				{
					letters++;
					plain += l33t_target(c);
				}
			}
			if (letters == 0)
				fwd = 0;
		}
		if (fwd || rev)
		{
			pmask		mask = PGW_PAT_CONTEXT;
			double		bits = a->ctx_bits + case_bits(a, i, i + cw->len, &mask, NULL);

			if (fwd && subs > 0)
			{
				bits += 1.0 + log2_variants(subs, plain);
				mask |= PGW_PAT_L33T;
			}
			else if (!fwd)
			{
				bits += 1.0;
				mask |= PGW_PAT_REVERSED;
			}
			relax(d, i, i + cw->len, bits, mask);
		}
	}
}

/*
 * Digits and symbols around a word, priced as a PCFG does: each run of one
 * class says its class, then its characters.  Symbols are priced by how
 * often people append them ("!" first, then a dozen usual ones, then the
 * rest, so that the prices stay a distribution); a run of four digits that
 * is a recent year costs what a year costs.
 */
#ifndef SYM_TOP_BITS
#define SYM_TOP_BITS		2.0
#endif
#ifndef SYM_COMMON_BITS
#define SYM_COMMON_BITS		4.3
#endif
#ifndef SYM_OTHER_BITS
#define SYM_OTHER_BITS		6.5
#endif

/* Price of saying which class a run of an affix is (digits or symbols). */
#ifndef AFFIX_RUN_BITS
#define AFFIX_RUN_BITS		1.0
#endif

static double
affix_symbol_bits(uint32_t c)
{
	if (c == '!')
		return SYM_TOP_BITS;
	if (c == '.' || c == '@' || c == '#' || c == '$' || c == '*' || c == '?' ||
		c == '_' || c == '-' || c == '&' || c == '+' || c == '%')
		return SYM_COMMON_BITS;
	return SYM_OTHER_BITS;
}

/*
 * Price of the affix a[i..k) of up to two class runs of digits and symbols,
 * or a negative value when a[i..] holds none; *end receives k, the end of
 * the longest such affix within hi (shorter ones are not priced here).
 */
static double
affix_bits(const analysis *a, int i, int hi, int *end, pmask *mask)
{
	int			k = i;
	int			runs = 0;
	double		bits = 0.0;

	while (k < hi && runs < 2)
	{
		int			cls = a->cls[k];
		int			s = k;

		if (cls != CC_DIGIT && cls != CC_SYMBOL)
			break;
		runs++;
		bits += AFFIX_RUN_BITS;
		while (k < hi && a->cls[k] == cls)
		{
			bits += (cls == CC_DIGIT) ? log2(10.0) : affix_symbol_bits(a->cp[k]);
			k++;
		}
		if (cls == CC_DIGIT && k - s == 4)
		{
			int			y = read_num(a, s, 4, hi);

			if (y >= 1900 && y <= 2099 && year_space(y) + 1.0 < 4 * log2(10.0))
			{
				bits -= 4 * log2(10.0) - (year_space(y) + 1.0);
				*mask |= PGW_PAT_YEAR;
			}
		}
	}
	*end = k;
	return runs > 0 ? bits : -1.0;
}

static void
match_tail(const analysis *a, dpstate *d, int i, int hi)
{
	int			k;
	double		bits;
	pmask		m = 0;

	if (hi != d->end || i == d->start ||
		(a->cls[i] != CC_DIGIT && a->cls[i] != CC_SYMBOL) ||
		a->cls[i - 1] == a->cls[i])
		return;
	bits = affix_bits(a, i, hi, &k, &m);
	if (bits >= 0.0 && k == hi)
		relax_tail(d, i, bits, m);
}

/*
 * The head of a password before a pattern: digits and symbols put in front
 * of a word ("2Papyrologie!", "+Kinderschoen"), a rule of its own like the
 * tail.  Priced as a tail, it only leads to a pattern state, so a head
 * followed by unmatched characters still pays for their run.
 */
#ifndef K_HEAD
#define K_HEAD				2.0
#endif

static void
match_head(const analysis *a, dpstate *d, int i, int hi)
{
	int			k;
	double		bits;
	pmask		m = 0;

	if (i != d->start)
		return;
	bits = affix_bits(a, i, hi, &k, &m);
	if (bits < 0.0 || k >= hi || k == i)
		return;
	/* a letter must follow */
	if (a->cls[k] == CC_DIGIT || a->cls[k] == CC_SYMBOL || a->cls[k] == CC_SPACE)
		return;
	update(d, ST_S, k, d->cost[ST_P][i] + K_HEAD + bits, d->mask[ST_P][i] | m,
		   i, ST_P, bits, m);
}

/*
 * A run of characters of one class (all digits, all lower case, ...) priced
 * as brute force over that class alone, as a mask attack does ("?l?l?l?d?d").
 */
static void
match_class_run(const analysis *a, dpstate *d, int i, int hi)
{
	int			cls = a->cls[i];
	double		per = log2(class_pool[cls]);
	int			j;

	if (class_pool[cls] <= 1.0)
		return;
	if (i > d->start && a->cls[i - 1] == cls)
		return;					/* only from the start of the run */
	for (j = i + 1; j < hi && a->cls[j] == cls; j++)
		;
	for (; j >= i + MIN_CLASS_RUN; j--)
		relax_run(d, i, j, CLASS_RUN_BITS + per * (j - i));
}

/* ------------------------------------------------------------------------
 * Repeats
 * ------------------------------------------------------------------------
 */

/* Repeat candidates, found before the DP and relaxed at their start. */
#define MAX_REPEATS			512

/* Nested DPs (pricing a repeated block) one window may run. */
#define MAX_BLOCK_DPS		48

typedef struct repeats
{
	int			head[PGW_WINDOW + 1];
	int			n;
	int			dps;			/* nested DPs run so far */
	struct
	{
		int			end;
		int			next;
		double		bits;
		pmask		mask;
	}			c[MAX_REPEATS];
} repeats;

/* Add one repeat candidate [i, end) priced bits. */
static void
add_repeat(repeats *r, int lo, int i, int end, double bits, pmask mask)
{
	if (r->n >= MAX_REPEATS)
		return;
	r->c[r->n].end = end;
	r->c[r->n].bits = bits;
	r->c[r->n].mask = mask;
	r->c[r->n].next = r->head[i - lo];
	r->head[i - lo] = r->n;
	r->n++;
}

/*
 * Price of writing the copy [y, y+p) of the block [x, x+p) whose letters
 * may differ in case: nothing when it is the same, else a bit to say so and
 * the copy's own capitalisation ("endocrinologistENDOCRINOLOGIST").
 */
static double
copy_case_bits(const analysis *a, int x, int y, int p)
{
	int			t;
	pmask		dummy = 0;

	for (t = 0; t < p; t++)
		if (a->cp[x + t] != a->cp[y + t])
			break;
	if (t == p)
		return 0.0;
	return 1.0 + case_bits(a, y, y + p, &dummy, NULL);
}

/* The mask of a repeated block: a repeated word is named as such. */
static pmask
repeat_mask(pmask block)
{
	if (block & (PGW_PAT_DICTIONARY_WORD | PGW_PAT_COMMON_PASSWORD |
				 PGW_PAT_NAME | PGW_PAT_WORDLIKE | PGW_PAT_CONTEXT))
		return block | PGW_PAT_REPEATED_WORD;
	return block | PGW_PAT_REPEAT;
}

/*
 * When block [y, y+p) is block [x, x+p) with one number changed, return 1
 * and the number's place [*u, *v) and the change *delta ("abc123abc124",
 * "Password1!Password2!").
 */
static int
block_increment(const analysis *a, int x, int y, int p, int *u, int *v,
				long *delta)
{
	int			t0,
				t1,
				t;
	long		nx = 0,
				ny = 0;

	for (t0 = 0; t0 < p && a->key[x + t0] == a->key[y + t0]; t0++)
		;
	if (t0 == p)
		return 0;
	for (t1 = p - 1; a->key[x + t1] == a->key[y + t1]; t1--)
		;
	while (t0 > 0 && a->cls[x + t0 - 1] == CC_DIGIT)
		t0--;
	while (t1 + 1 < p && a->cls[x + t1 + 1] == CC_DIGIT)
		t1++;
	if (t1 - t0 >= 9)
		return 0;
	for (t = t0; t <= t1; t++)
	{
		if (a->cls[x + t] != CC_DIGIT || a->cls[y + t] != CC_DIGIT)
			return 0;
		nx = nx * 10 + (long) (a->cp[x + t] - '0');
		ny = ny * 10 + (long) (a->cp[y + t] - '0');
	}
	*u = t0;
	*v = t1 + 1;
	*delta = ny - nx;
	return *delta != 0 && *delta >= -100 && *delta <= 100;
}

/* The number of up to 9 digits at [k, *end), or -1. */
static long
number_at(const analysis *a, int k, int hi, int *end)
{
	long		v = 0;
	int			j;

	for (j = k; j < hi && a->cls[j] == CC_DIGIT && j - k < 9; j++)
		v = v * 10 + (long) (a->cp[j] - '0');
	if (j == k || (j < hi && a->cls[j] == CC_DIGIT))
		return -1;
	*end = j;
	return v;
}

/* Do a[x..x+n) and a[y..y+n) match, ignoring case? */
static int
same_keys(const analysis *a, int x, int y, int n, int hi)
{
	int			t;

	if (y + n > hi)
		return 0;
	for (t = 0; t < n; t++)
		if (a->key[x + t] != a->key[y + t])
			return 0;
	return 1;
}

/*
 * Counters whose number changes width: "Ducks9Ducks19Ducks29",
 * "devilS7#devilS9#devilS11#", "golden14!golden114!golden124!": a prefix
 * P (not only digits), a number, a suffix S (no digits), again and again
 * with the number moved by the same step.
 */
static void
find_counters(const analysis *a, repeats *r, int lo, int hi)
{
	int			i;

	for (i = lo; i < hi && r->n < MAX_REPEATS; i++)
	{
		int			u,
					nondigit = 0;

		if (i > lo && a->key[i - 1] == a->key[i])
			continue;
		/* the prefix [i, u) ends where the counter begins */
		for (u = i + 1; u < hi && u - i <= 16 && r->n < MAX_REPEATS; u++)
		{
			int			v,
						w,
						k,
						plen = u - i,
						slen,
						pos;
			long		n1,
						n2,
						delta;
			double		base;
			pmask		mask = 0;

			if (a->cls[u - 1] != CC_DIGIT)
				nondigit = 1;
			if (!nondigit || a->cls[u] != CC_DIGIT)
				continue;
			n1 = number_at(a, u, hi, &v);
			if (n1 < 0)
				continue;
			/* the suffix (no digits) runs to the next copy of the prefix */
			for (w = v; w < hi && w - v <= 3; w++)
				if (same_keys(a, i, w, plen, hi) || a->cls[w] == CC_DIGIT)
					break;
			if (w >= hi || !same_keys(a, i, w, plen, hi))
				continue;
			slen = w - v;
			n2 = number_at(a, w + plen, hi, &pos);
			if (n2 < 0 || n2 == n1 || n2 - n1 > 100 || n1 - n2 > 100)
				continue;
			delta = n2 - n1;
			if (pos + slen > hi || !same_keys(a, v, pos, slen, hi))
				continue;
			if (r->dps++ >= MAX_BLOCK_DPS)
				return;
			base = dp_range(a, i, w, 1, &mask);
			base += 2.0 + log2(1.0 + (double) (delta < 0 ? -delta : delta)) +
				copy_case_bits(a, i, w, plen);
			add_repeat(r, lo, i, pos + slen, base + 1.0,
					   repeat_mask(mask) | PGW_PAT_INCREMENT);
			for (k = 3; r->n < MAX_REPEATS; k++)
			{
				int			start = pos + slen,
							end;
				long		n3;

				if (!same_keys(a, i, start, plen, hi))
					break;
				n3 = number_at(a, start + plen, hi, &end);
				if (n3 < 0 || n3 != n2 + delta || end + slen > hi ||
					!same_keys(a, v, end, slen, hi))
					break;
				n2 = n3;
				pos = end;
				base += copy_case_bits(a, i, start, plen);
				add_repeat(r, lo, i, pos + slen, base + log2((double) k),
						   repeat_mask(mask) | PGW_PAT_INCREMENT);
			}
		}
	}
}

/*
 * Repeats of a block of p code points, k >= 2 times, starting at i: exact
 * copies, copies in another case, the block followed by its mirror image,
 * and copies with a counter that changes by the same step each time.  Only
 * left-maximal starts and primitive blocks are tried for plain repeats; the
 * block itself is priced by a nested DP (without repeats inside), plus
 * log2(k) and what the copies change.
 */
static void
find_repeats(const analysis *a, repeats *r, int lo, int hi)
{
	int			p;

	for (p = lo; p <= hi; p++)
		r->head[p - lo] = -1;
	r->n = 0;
	r->dps = 0;
	for (p = 1; p <= (hi - lo) / 2; p++)
	{
		int			i;

		for (i = lo; i + 2 * p <= hi; i++)
		{
			int			run = 0;
			int			k,
						kmax;
			double		base,
						cases;
			pmask		mask = 0;
			int			q,
						primitive = 1;

			/* left-maximal: the previous character does not repeat too */
			if (i > lo && a->key[i - 1] == a->key[i - 1 + p])
				continue;
			while (i + p + run < hi && a->key[i + run] == a->key[i + p + run])
				run++;
			if (run < p)
			{
				i += run;		/* no repeat of this period starts before */
				continue;
			}
			for (q = 1; q < p && primitive; q++)
			{
				int			t;

				if (p % q != 0)
					continue;
				for (t = q; t < p; t++)
					if (a->key[i + t] != a->key[i + t - q])
						break;
				if (t == p)
					primitive = 0;
			}
			kmax = 1 + run / p;
			if (primitive && r->dps++ < MAX_BLOCK_DPS)
			{
				base = dp_range(a, i, i + p, 1, &mask);
				cases = 0.0;
				for (k = 2; k <= kmax && r->n < MAX_REPEATS; k++)
				{
					cases += copy_case_bits(a, i, i + (k - 1) * p, p);
					if (k * p < MIN_REPEAT)
						continue;
					add_repeat(r, lo, i, i + k * p,
							   base + log2((double) k) + cases, repeat_mask(mask));
				}
			}
			i += run;			/* the rest of this run is not left-maximal */
		}
	}

	/* mirrors: a block of 3 or more followed by its reverse, in any case */
	for (p = 3; p <= (hi - lo) / 2; p++)
	{
		int			i;

		for (i = lo; i + 2 * p <= hi && r->n < MAX_REPEATS; i++)
		{
			int			t;
			double		base,
						cases = 0.0;
			pmask		mask = 0;

			for (t = 0; t < p; t++)
				if (a->key[i + p + t] != a->key[i + p - 1 - t])
					break;
			if (t < p)
				continue;
			/* a palindrome's mirror is a plain repeat */
			for (t = 0; t < p / 2; t++)
				if (a->key[i + t] != a->key[i + p - 1 - t])
					break;
			if (t == p / 2 || r->dps++ >= MAX_BLOCK_DPS)
				continue;
			for (t = 0; t < p; t++)
				if (a->cp[i + p + t] != a->cp[i + p - 1 - t])
					break;
			if (t < p)
			{
				pmask		dummy = 0;

				cases = 1.0 + case_bits(a, i + p, i + 2 * p, &dummy, NULL);
			}
			base = dp_range(a, i, i + p, 1, &mask);
			add_repeat(r, lo, i, i + 2 * p, base + 1.0 + cases,
					   repeat_mask(mask) | PGW_PAT_REVERSED);
		}
	}

	find_counters(a, r, lo, hi);

	/* counters: "abc123abc124abc125", "Password1!Password2!Password3!" */
	for (p = 2; p <= (hi - lo) / 2; p++)
	{
		int			i;

		for (i = lo; i + 2 * p <= hi && r->n < MAX_REPEATS; i++)
		{
			int			u,
						v,
						u2,
						v2,
						k;
			long		delta,
						delta2;
			double		base,
						cases;
			pmask		mask = 0;

			if (a->key[i] != a->key[i + p] ||
				!block_increment(a, i, i + p, p, &u, &v, &delta) ||
				r->dps++ >= MAX_BLOCK_DPS)
				continue;
			base = dp_range(a, i, i + p, 1, &mask);
			cases = copy_case_bits(a, i, i + p, p);
			/* which step (+-1..+-100, small ones likelier) and where */
			base += 2.0 + log2(1.0 + (double) (delta < 0 ? -delta : delta));
			add_repeat(r, lo, i, i + 2 * p, base + 1.0 + cases,
					   repeat_mask(mask) | PGW_PAT_INCREMENT);
			for (k = 3; i + k * p <= hi && r->n < MAX_REPEATS; k++)
			{
				int			y = i + (k - 1) * p;

				if (!block_increment(a, y - p, y, p, &u2, &v2, &delta2) ||
					u2 != u || v2 != v || delta2 != delta)
					break;
				cases += copy_case_bits(a, i, y, p);
				add_repeat(r, lo, i, i + k * p,
						   base + log2((double) k) + cases,
						   repeat_mask(mask) | PGW_PAT_INCREMENT);
			}
		}
	}
}

/* ------------------------------------------------------------------------
 * The DP over one range
 * ------------------------------------------------------------------------
 */

static double
dp_range(const analysis *a, int start, int end, int depth,
		 pmask *mask_out)
{
	dpstate		d;
	repeats		reps;
	int			i,
				st;
	double		best;
	pmask		bestmask;
	double		brute;

	d.start = start;
	d.end = end;
	for (st = 0; st < ST_COUNT; st++)
		for (i = start; i <= end; i++)
		{
			d.cost[st][i] = INF_BITS;
			d.mask[st][i] = 0;
		}
	d.cost[ST_P][start] = 0.0;

	if (depth == 0)
		find_repeats(a, &reps, start, end);

	for (i = start; i < end; i++)
	{
		/* an unmatched character, opening a run or continuing one */
		update(&d, ST_B, i + 1, d.cost[ST_P][i] + K_RUN + a->char_bits,
			   d.mask[ST_P][i], i, ST_P, a->char_bits, 0);
		update(&d, ST_B, i + 1, d.cost[ST_B][i] + a->char_bits,
			   d.mask[ST_B][i], i, ST_B, a->char_bits, 0);
		/* a separator between two patterns */
		if (i > start && i + 1 < end && sep_bits(a->cp[i]) > 0.0)
		{
			double		sb = sep_bits(a->cp[i]);

			update(&d, ST_S, i + 1, d.cost[ST_P][i] + sb,
				   d.mask[ST_P][i], i, ST_P, sb, 0);
			for (st = 0; st < 4; st++)
				update(&d, ST_X + st, i + 1,
					   d.cost[ST_W + st][i] + sb,
					   d.mask[ST_W + st][i], i, ST_W + st, sb, 0);
		}
		if (depth == 0)
		{
			int			r;

			for (r = reps.head[i - start]; r >= 0; r = reps.c[r].next)
				relax(&d, i, reps.c[r].end, reps.c[r].bits, reps.c[r].mask);
		}
		if (a->fold[i] != 0)
		{
			match_dictionary(a, &d, i, 1, start, end);
			match_stem(a, &d, i, end);
		}
		if (a->fold[i] != 0 && i + 1 - start >= MIN_REVERSED)
			match_dictionary(a, &d, i, -1, start, end);
		match_walks(a, &d, i, end);
		match_wordlike(a, &d, i, end);
		match_sequences(a, &d, i, end);
		match_dates(a, &d, i, end);
		match_month_dates(a, &d, i, end);
		match_context(a, &d, i, end);
		match_class_run(a, &d, i, end);
		match_tail(a, &d, i, end);
		match_head(a, &d, i, end);
	}

	/* a final run of unmatched characters has an implied length */
	d.cost[ST_B][end] -= K_RUN - K_RUN_END;
	st = d.cost[ST_P][end] <= d.cost[ST_B][end] ? ST_P : ST_B;
	best = d.cost[st][end];
	bestmask = d.mask[st][end];

#ifdef PGW_ENTROPY_TRACE
	if (depth == 0)
	{
		/* positions and prices only, never the characters */
		int			j = end;

		fprintf(stderr, "trace [%d,%d) best=%.2f brute=%.2f+%.2f char=%.2f\n",
				start, end, best, (end - start) * a->char_bits, a->brute_bonus,
				a->char_bits);
		while (j > start && best < INF_BITS)
		{
			int			fi = d.from[st][j];

			fprintf(stderr, "  state %d [%d,%d) mask=0x%x bits=%.2f\n",
					st, fi, j, d.tokmask[st][j], d.tokbits[st][j]);
			st = d.fromst[st][j];
			j = fi;
		}
	}
#endif
	/* plain brute force over the whole range pays no run price */
	brute = (end - start) * a->char_bits + (depth == 0 ? a->brute_bonus : 0.0);
	if (brute <= best)
	{
		best = brute;
		bestmask = 0;
	}
	*mask_out = bestmask;
	return best;
}

/* ------------------------------------------------------------------------
 * Public functions
 * ------------------------------------------------------------------------
 */

/*
 * An attacker brute-forcing a password of n characters does not know which
 * character classes it uses: to exhaust the pool P of the classes present
 * he must also exhaust every other combination of classes whose pool is no
 * larger (lower+symbols before lower+upper+digits, ...).  This returns
 * log2(sum over those combinations S of (pool(S) / P)^n), the extra bits
 * of a wholly unmatched password.  The candidate classes are the five ASCII
 * ones and the non-ASCII ones present.
 */
static double
class_set_bits(unsigned int present, size_t n)
{
	int			cand[CC_COUNT];
	int			k = 0;
	int			c;
	unsigned int sub;
	double		pool = 0.0;
	double		sum = 0.0;

	for (c = 0; c < CC_COUNT; c++)
	{
		if (present & (1u << c))
			pool += class_pool[c];
		if ((c <= CC_SPACE || (present & (1u << c))) && k < 10)
			cand[k++] = c;
	}
	if (pool <= 0.0)
		return 0.0;
	for (sub = 1; sub < (1u << k); sub++)
	{
		double		p = 0.0;
		int			t;

		for (t = 0; t < k; t++)
			if (sub & (1u << t))
				p += class_pool[cand[t]];
		if (p <= pool)
			sum += pow(p / pool, (double) n);
	}
	return sum > 1.0 ? log2(sum) : 0.0;
}

/* KMP failure function: smallest period of cp[0..n). */
static int
smallest_period(const uint32_t *cp, int n)
{
	int			fail[PGW_WINDOW + 1];
	int			i,
				k = 0;

	if (n == 0)
		return 0;
	fail[0] = fail[1] = 0;
	for (i = 1; i < n; i++)
	{
		while (k > 0 && cp[i] != cp[k])
			k = fail[k];
		if (cp[i] == cp[k])
			k++;
		fail[i + 1] = k;
	}
	return n - fail[n];
}

static void
prepare_context(const char *const *context, size_t ncontext,
				ctxword *words, int *nwords)
{
	size_t		w;
	int			n = 0;

	for (w = 0; w < ncontext + PGW_NBUILTIN && n < PGW_MAX_CONTEXT; w++)
	{
		const char *s = (w < PGW_NBUILTIN) ? builtin_context[w] :
		(context ? context[w - PGW_NBUILTIN] : NULL);
		size_t		len,
					pos = 0;
		int			k = 0,
					ok = 1,
					dup;

		if (s == NULL || s[0] == '\0')
			continue;
		len = strlen(s);
		while (pos < len)
		{
			int32_t		cp = utf8_next((const unsigned char *) s, len, &pos);

			if (cp < 0 || k >= PGW_MAX_CONTEXT_LEN)
			{
				ok = 0;
				break;
			}
			words[n].cp[k++] = (uint32_t) cp;
		}
		if (!ok || k < MIN_CONTEXT)
			continue;
		words[n].len = k;
		/* skip duplicates (the caller may pass "postgres" too) */
		dup = 0;
		{
			int			m,
						t;

			for (m = 0; m < n && !dup; m++)
			{
				if (words[m].len != k)
					continue;
				for (t = 0; t < k; t++)
					if (!cp_eq_fold(words[m].cp[t], words[n].cp[t]))
						break;
				if (t == k)
					dup = 1;
			}
		}
		if (!dup)
			n++;
	}
	*nwords = n;
}

/* The code point in lower case (ASCII, Latin-1, Greek, Cyrillic). */
static uint32_t
case_key(uint32_t cp)
{
	if (cp < 0x80)
		return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
	if ((cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) ||
		(cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2) ||
		(cp >= 0x410 && cp <= 0x42F))
		return cp + 32;
	if (cp >= 0x400 && cp <= 0x40F)
		return cp + 80;
	/* Latin Extended-A pairs; Turkish dotted and dotless i are an i */
	if (cp == 0x130 || cp == 0x131)
		return 'i';
	if (((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14A && cp <= 0x177)) &&
		(cp & 1) == 0)
		return cp + 1;
	if (((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) &&
		(cp & 1) == 1)
		return cp + 1;
	/* Greek capitals with tonos */
	if (cp == 0x386)
		return 0x3AC;
	if (cp >= 0x388 && cp <= 0x38A)
		return cp + 37;
	if (cp == 0x38C)
		return 0x3CC;
	if (cp == 0x38E || cp == 0x38F)
		return cp + 63;
	return cp;
}

/* Fill the per-character fields of a->cp[0..a->n). */
static void
fill_analysis(analysis *a)
{
	int			k,
				kb;

	for (k = 0; k < a->n; k++)
	{
		a->cls[k] = (uint8_t) char_class(a->cp[k]);
		a->fold[k] = ascii_fold(a->cp[k]);
		a->key[k] = case_key(a->cp[k]);
		a->midx[k] = model_letter(a->cp[k], a->fold[k], a->cls[k]);
	}
	for (kb = 0; kb <= PGW_NLAYOUTS; kb++)
		for (k = 0; k < a->n; k++)
			a->kpos[kb][k] = layout_key(a, kb, k);
}

/*
 * Disguises a cracker's rules undo for a few bits: a separator (one
 * character, or a run of them) between all characters or every few
 * characters ("p-a-s-s-w-o-r-d", "pa-ss-wo-rd-12-34", "Pa_ss_Wo_rd"), and
 * every character typed k times, in either case ("ppaasssswwoorrdd",
 * "Pp@@ssww00rrdd!!").  undo_disguise() undoes disguise number `which` of
 * cp[0..n) into out (which 0: repeated characters; 1..MAX_SEP_KINDS: the
 * which-th distinct separator character), returning the new length and the
 * price of the disguise in *extra, or -1 when the password does not wear it.
 */
#define MAX_SEP_KINDS		4
/* Which separator: one of the usual ones (see is_sep), or any symbol. */
#ifndef DISGUISE_SEP_BITS
#define DISGUISE_SEP_BITS	3.0
#endif
#define MAX_UNDO_DEPTH		3
#define MAX_UNDO_CPS		1024

static int
sep_char(uint32_t cp)
{
	return cp < 0x80 && (ascii_class[cp] == CC_SYMBOL || ascii_class[cp] == CC_SPACE);
}

static int
undo_disguise(const uint32_t *cp, int n, int which, uint32_t *out,
			  double *extra, pmask *mask)
{
	int			i,
				m = 0;

	if (n < 5)
		return -1;
	if (which == 0)
	{
		/* every character typed k times (the copies may change case) */
		int			k,
					diff = 0,
					cased = 0;

		for (k = 2; k <= 4; k++)
		{
			int			ok = (n % k == 0);

			for (i = 0; ok && i < n; i++)
				ok = (case_key(cp[i]) == case_key(cp[i - i % k]));
			if (ok)
				break;
		}
		if (k > 4)
			return -1;
		for (i = 0; i < n; i += k)
		{
			int			t;

			out[m++] = cp[i];
			switch (char_class(cp[i]))
			{
				case CC_LOWER:
				case CC_UPPER:
				case CC_LATIN_EXT:
				case CC_GREEK_LOWER:
				case CC_GREEK_UPPER:
				case CC_CYRILLIC_LOWER:
				case CC_CYRILLIC_UPPER:
					cased++;
					break;
				default:
					break;
			}
			for (t = 1; t < k; t++)
				if (cp[i + t] != cp[i])
				{
					diff++;
					break;
				}
		}
		*extra = log2(3.0) + 1.0;	/* how many times */
		/* which copies changed case: all letters' (one rule), or some */
		if (diff > 0 && diff >= cased)
			*extra += 1.0;
		else if (diff > 0)
			*extra += 1.0 + log2_variants(diff, cased - diff);
		*mask |= PGW_PAT_REPEAT;
		return m;
	}
	else
	{
		/* the which-th distinct separator character */
		uint32_t	sep = 0;
		int			kinds = 0,
					seps = 0,
					runlen = 0,
					chunk = -1,
					regular = 1,
					lead = 0,
					trail = 0,
					cur = 0;

		for (i = 0; i < n && kinds < which; i++)
		{
			int			t;

			if (!sep_char(cp[i]))
				continue;
			for (t = 0; t < i; t++)
				if (cp[t] == cp[i])
					break;
			if (t == i && ++kinds == which)
				sep = cp[i];
		}
		if (kinds < which)
			return -1;
		/* chunks between runs of sep, every run of the same length */
		for (i = 0; i < n;)
		{
			if (cp[i] == sep)
			{
				int			r = 0;

				while (i < n && cp[i] == sep)
				{
					r++;
					i++;
				}
				if (runlen == 0)
					runlen = r;
				else if (r != runlen)
					return -1;
				if (m == 0)
					lead = 1;
				else if (i == n)
					trail = 1;
				else
				{
					seps++;
					/* every chunk but the last of one length */
					if (chunk < 0)
						chunk = cur;
					else if (cur != chunk)
						regular = 0;
				}
				cur = 0;
				continue;
			}
			out[m++] = cp[i++];
			cur++;
		}
		if (chunk > 0 && cur > chunk)
			regular = 0;
		if (seps < 2 || m < 2 || runlen > 3 || (!(regular && chunk <= 4) && seps < 3))
			return -1;
		/* which separator, how long its runs, where they go */
		*extra = (is_sep(sep) ? DISGUISE_SEP_BITS : log2(33.0)) +
			log2((double) runlen) + lead + trail;
		if (regular && chunk <= 4)
			*extra += 2.0;
		else
			*extra += 1.0 + log2_binom(m + 1, seps);
		*mask |= PGW_PAT_SEPARATORS;
		return m;
	}
}

/*
 * The cheapest estimate of the password a[0..n) once a disguise is undone
 * (up to MAX_UNDO_DEPTH layers), plus the disguises' prices; INF_BITS when
 * it wears none.
 */
#define MAX_UNDO_DPS		8

static double
undisguised_bits(const analysis *a, pmask *mask_out, int depth, int *budget)
{
	double		best = INF_BITS;
	int			which;

	if (depth >= MAX_UNDO_DEPTH)
		return INF_BITS;
	for (which = 0; which <= MAX_SEP_KINDS; which++)
	{
		analysis	b;
		double		extra = 0.0;
		pmask		m = 0,
					m2 = 0;
		unsigned int classes = 0;
		double		pool = 0.0,
					cost,
					deeper;
		int			i;

		b.n = undo_disguise(a->cp, a->n, which, b.cp, &extra, &m);
		if (b.n < 0)
			continue;
		if (--*budget < 0)
			break;				/* enough layers looked at */
		fill_analysis(&b);
		for (i = 0; i < b.n; i++)
			classes |= 1u << b.cls[i];
		for (i = 0; i < CC_COUNT; i++)
			if (classes & (1u << i))
				pool += class_pool[i];
		b.char_bits = log2(pool);
		b.brute_bonus = class_set_bits(classes, (size_t) b.n);
		b.ctx = a->ctx;
		b.nctx = a->nctx;
		b.ctx_bits = a->ctx_bits;
		cost = dp_range(&b, 0, b.n, 0, &m2) + extra;
		if (cost < best)
		{
			best = cost;
			*mask_out = m | m2;
		}
		deeper = undisguised_bits(&b, &m2, depth + 1, budget);
		if (deeper + extra < best)
		{
			best = deeper + extra;
			*mask_out = m | m2;
		}
	}
	return best;
}

int
pgw_estimate_entropy(const char *password, size_t len,
					 const char *const *context, size_t ncontext,
					 pgw_estimate *out)
{
	const unsigned char *s = (const unsigned char *) password;
	size_t		pos;
	size_t		ncp = 0;
	size_t		nvisible = 0;
	unsigned int classes = 0;
	double		pool = 0.0;
	ctxword		words[PGW_MAX_CONTEXT];
	int			nwords;
	analysis	a;
	double		total = 0.0;
	pmask		mask = 0;
	uint32_t	prev[PGW_WINDOW];
	int			nprev = 0;
	int			period = 0;
	size_t		periodic_cps = 0;
	int			c;

	if (out == NULL)
		return PGW_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	if (password == NULL && len > 0)
		return PGW_INVALID_ARG;

	/* pass 1: validate, count code points, collect classes (linear) */
	pos = 0;
	while (pos < len)
	{
		int32_t		cp;

		if (s[pos] < 0x80)
		{
			classes |= 1u << ascii_class[s[pos]];
			pos++;
			ncp++;
			nvisible++;
			continue;
		}
		else
		{
			cp = utf8_next(s, len, &pos);
			if (cp < 0)
				return PGW_INVALID_UTF8;
		}
		if (!ignorable((uint32_t) cp))
		{
			classes |= 1u << char_class((uint32_t) cp);
			nvisible++;
		}
		ncp++;
	}
	out->codepoints = ncp;
	if (ncp == 0)
	{
		out->patterns = PGW_PAT_SHORT;
		return PGW_OK;
	}
	for (c = 0; c < CC_COUNT; c++)
		if (classes & (1u << c))
			pool += class_pool[c];
	if (pool < 1.0)
		pool = 1.0;				/* nothing but invisible characters */

	prepare_context(context, ncontext, words, &nwords);
	a.ctx = words;
	a.nctx = nwords;
	a.ctx_bits = log2((double) nwords + 1.0);
	a.char_bits = log2(pool);
	a.brute_bonus = (ncp <= PGW_WINDOW) ? class_set_bits(classes, ncp) : 0.0;

	/* pass 2: window by window, until the estimate saturates */
	pos = 0;
	while (pos < len && total < PGW_MAX_BITS)
	{
		int			n = 0;
		int			continues;

		while (pos < len && n < PGW_WINDOW)
		{
			if (s[pos] < 0x80)
				a.cp[n++] = s[pos++];
			else
			{
				uint32_t	cp = (uint32_t) utf8_next(s, len, &pos);

				if (!ignorable(cp))
					a.cp[n++] = cp;
			}
		}
		a.n = n;
		if (n == 0)
			continue;			/* only invisible characters */

		/* does this window only continue the previous window's period? */
		continues = 0;
		if (period > 0)
		{
			int			k;

			continues = 1;
			for (k = 0; k < n; k++)
			{
				uint32_t	want = (k >= period) ? a.cp[k - period] :
				prev[nprev - period + k];

				if (a.cp[k] != want)
				{
					continues = 0;
					break;
				}
			}
		}
		if (continues)
		{
			periodic_cps += (size_t) n;
			mask |= PGW_PAT_REPEAT;
		}
		else
		{
			pmask		m = 0;

			if (periodic_cps > 0)
			{
				total += log2(1.0 + (double) periodic_cps / period) + 1.0;
				periodic_cps = 0;
			}
			fill_analysis(&a);
			total += dp_range(&a, 0, n, 0, &m);
			mask |= m;
			period = smallest_period(a.cp, n);
			if (period > n / 2)
				period = 0;
		}
		memcpy(prev, a.cp, sizeof(uint32_t) * n);
		nprev = n;
	}
	if (periodic_cps > 0)
		total += log2(1.0 + (double) periodic_cps / period) + 1.0;

	/* a short password may wear a disguise: judge it undone too */
	if (ncp <= PGW_WINDOW)
	{
		pmask		m = 0;
		int			budget = MAX_UNDO_DPS;
		double		u = undisguised_bits(&a, &m, 0, &budget);

		if (u < total)
		{
			total = u;
			mask = m;
		}
	}

	if (total > PGW_MAX_BITS)
		total = PGW_MAX_BITS;
	if (total < 0.0)
		total = 0.0;
	/* "too few characters" is a finding only when the estimate is low */
	if (nvisible < 8 && total < 60.0)
		mask |= PGW_PAT_SHORT;
	out->bits = total;
	out->patterns = (unsigned int) (mask & 0xFFFFFFFFu);
	out->dictionaries = (unsigned int) ((mask >> 32) & ((1u << PGW_NDICTS) - 1));
	out->layouts = (unsigned int) ((mask >> 56) & ((1u << PGW_NLAYOUTS) - 1));
	return PGW_OK;
}

static const char *const pattern_text[PGW_PAT_COUNT] = {
	"a common password",
	"a dictionary word",
	"a name",
	"predictable capitalization",
	"l33t substitutions",
	"a word spelled backwards",
	"a keyboard walk",
	"repeated characters",
	"a sequence of characters",
	"a date",
	"a year",
	"a context word (role, database or banned word)",
	"too few characters",
	"letters shaped like a word",
	"a well-known phrase",
	"a well-known number",
	"separators between characters",
	"a counter repeated with the block",
	"a repeated word"
};

const char *
pgw_pattern_description(unsigned int pattern_bit)
{
	int			i;

	for (i = 0; i < PGW_PAT_COUNT; i++)
		if (pattern_bit == (1u << i))
			return pattern_text[i];
	return NULL;
}

size_t
pgw_describe_patterns(unsigned int mask, char *buf, size_t buflen)
{
	size_t		need = 0;
	int			i;

	if (buf != NULL && buflen > 0)
		buf[0] = '\0';
	for (i = 0; i < PGW_PAT_COUNT; i++)
	{
		const char *t;
		size_t		tl;
		size_t		k;

		if (!(mask & (1u << i)))
			continue;
		t = pattern_text[i];
		tl = strlen(t);
		if (need > 0)
		{
			for (k = 0; k < 2; k++, need++)
				if (buf != NULL && need + 1 < buflen)
					buf[need] = ", "[k];
		}
		for (k = 0; k < tl; k++, need++)
			if (buf != NULL && need + 1 < buflen)
				buf[need] = t[k];
		if (buf != NULL && buflen > 0)
			buf[need < buflen ? need : buflen - 1] = '\0';
	}
	return need;
}

static unsigned char
lower_byte(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char) (c + 32) : c;
}

/*
 * Knuth-Morris-Pratt over ASCII-folded bytes: linear in len whatever the
 * word (words longer than 256 bytes, which no role name is, fall back to the
 * quadratic scan).
 */
int
pgw_contains_word(const char *password, size_t len, const char *word)
{
	const unsigned char *p = (const unsigned char *) password;
	const unsigned char *w = (const unsigned char *) word;
	size_t		wlen;
	size_t		i;

	if (password == NULL || word == NULL)
		return 0;
	wlen = strlen(word);
	if (wlen == 0 || wlen > len)
		return 0;
	if (wlen <= 256)
	{
		uint16_t	fail[257];
		size_t		k = 0;

		fail[0] = fail[1] = 0;
		for (i = 1; i < wlen; i++)
		{
			while (k > 0 && lower_byte(w[i]) != lower_byte(w[k]))
				k = fail[k];
			if (lower_byte(w[i]) == lower_byte(w[k]))
				k++;
			fail[i + 1] = (uint16_t) k;
		}
		k = 0;
		for (i = 0; i < len; i++)
		{
			while (k > 0 && lower_byte(p[i]) != lower_byte(w[k]))
				k = fail[k];
			if (lower_byte(p[i]) == lower_byte(w[k]))
				k++;
			if (k == wlen)
				return 1;
		}
		return 0;
	}
	for (i = 0; i + wlen <= len; i++)
	{
		size_t		k;

		for (k = 0; k < wlen; k++)
			if (lower_byte(p[i + k]) != lower_byte(w[k]))
				break;
		if (k == wlen)
			return 1;
	}
	return 0;
}

/* Append text to buf as the next item of a comma-separated list. */
static void
append_item(char *buf, size_t buflen, size_t *need, const char *t)
{
	size_t		tl = strlen(t);
	size_t		k;

	if (*need > 0)
	{
		for (k = 0; k < 2; k++, (*need)++)
			if (buf != NULL && *need + 1 < buflen)
				buf[*need] = ", "[k];
	}
	for (k = 0; k < tl; k++, (*need)++)
		if (buf != NULL && *need + 1 < buflen)
			buf[*need] = t[k];
	if (buf != NULL && buflen > 0)
		buf[*need < buflen ? *need : buflen - 1] = '\0';
}

size_t
pgw_describe_estimate(const pgw_estimate *est, char *buf, size_t buflen)
{
	size_t		need = 0;
	unsigned int named = 0;
	int			i;

	if (buf != NULL && buflen > 0)
		buf[0] = '\0';
	if (est == NULL)
		return 0;
	/* the dictionaries by name: "a German word", "a first name" */
	for (i = 0; i < PGW_NDICTS; i++)
	{
		if (!(est->dictionaries & (1u << i)))
			continue;
		append_item(buf, buflen, &need, pgw_dict_text[i]);
		switch (i)
		{
			case PGW_DICT_PASSWORDS:
				named |= PGW_PAT_COMMON_PASSWORD;
				break;
			case PGW_DICT_FIRST_NAMES:
			case PGW_DICT_SURNAMES:
			case PGW_DICT_PLACES:
				named |= PGW_PAT_NAME;
				break;
			case PGW_DICT_PHRASES:
				named |= PGW_PAT_PHRASE;
				break;
			case PGW_DICT_NUMBERS:
				named |= PGW_PAT_NUMBER;
				break;
			case PGW_DICT_MONTHS:
				break;
			default:
				named |= PGW_PAT_DICTIONARY_WORD;
				break;
		}
	}
	for (i = 0; i < PGW_PAT_COUNT; i++)
	{
		unsigned int bit = 1u << i;

		if (!(est->patterns & bit) || (named & bit))
			continue;
		if (bit == PGW_PAT_KEYBOARD && est->layouts != 0)
		{
			int			l;

			for (l = 0; l < PGW_NLAYOUTS; l++)
				if (est->layouts & (1u << l))
					append_item(buf, buflen, &need, pgw_layout_text[l]);
			continue;
		}
		append_item(buf, buflen, &need, pattern_text[i]);
	}
	return need;
}

/* Does the lower-case word w[0..wn) occur in cp[0..n), ignoring case? */
static int
contains_cps(const uint32_t *cp, int n, const uint32_t *w, int wn)
{
	int			i,
				k;

	for (i = 0; i + wn <= n; i++)
	{
		for (k = 0; k < wn; k++)
			if (case_key(cp[i + k]) != w[k])
				break;
		if (k == wn)
			return 1;
	}
	return 0;
}

static int
contains_undone(const uint32_t *cp, int n, const uint32_t *w, int wn, int depth)
{
	uint32_t	out[MAX_UNDO_CPS];
	int			which;

	if (depth >= MAX_UNDO_DEPTH)
		return 0;
	for (which = 0; which <= MAX_SEP_KINDS; which++)
	{
		double		extra;
		pmask		m = 0;
		int			m2 = undo_disguise(cp, n, which, out, &extra, &m);

		if (m2 < 0)
			continue;
		if (contains_cps(out, m2, w, wn) ||
			contains_undone(out, m2, w, wn, depth + 1))
			return 1;
	}
	return 0;
}

int
pgw_contains_word_undisguised(const char *password, size_t len, const char *word)
{
	uint32_t	cp[MAX_UNDO_CPS];
	uint32_t	w[PGW_MAX_CONTEXT_LEN];
	const unsigned char *s = (const unsigned char *) password;
	size_t		pos = 0,
				wlen;
	int			n = 0,
				wn = 0;

	if (pgw_contains_word(password, len, word))
		return 1;
	if (password == NULL || word == NULL)
		return 0;
	wlen = strlen(word);
	while (pos < wlen)
	{
		int32_t		c = utf8_next((const unsigned char *) word, wlen, &pos);

		if (c < 0 || wn >= PGW_MAX_CONTEXT_LEN)
			return 0;
		w[wn++] = case_key((uint32_t) c);
	}
	if (wn == 0)
		return 0;
	/* the disguises are undone on the first MAX_UNDO_CPS code points */
	pos = 0;
	while (pos < len && n < MAX_UNDO_CPS)
	{
		int32_t		c = utf8_next(s, len, &pos);

		if (c < 0)
			return 0;
		if (!ignorable((uint32_t) c))
			cp[n++] = (uint32_t) c;
	}
	return contains_undone(cp, n, w, wn, 0);
}
