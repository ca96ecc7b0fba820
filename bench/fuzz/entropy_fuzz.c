/*-------------------------------------------------------------------------
 *
 * entropy_fuzz.c
 *	  libFuzzer target for pgw_estimate_entropy() and its helpers.
 *
 * The input is split at the first two 0xFF bytes (never valid UTF-8) into
 * a password, a context list (NUL-separated words) and a word for
 * pgw_contains_word() and pgw_contains_word_undisguised(), so the fuzzer
 * explores all three.  Besides crashes
 * and sanitizer reports it checks the contract: the result code is
 * PGW_OK or PGW_INVALID_UTF8, bits are finite and within [0, 256], the
 * code-point count is at most the byte length, descriptions fit, and one
 * call never takes more than PGW_FUZZ_MAX_MS milliseconds of CPU time
 * (scaled for the sanitizers' slowdown; CPU time, so that a loaded machine
 * does not count as a slow input).
 *
 * Build and run: bench/fuzz/run.sh [N]
 *
 *-------------------------------------------------------------------------
 */
#include "entropy.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef PGW_FUZZ_MAX_MS
#define PGW_FUZZ_MAX_MS 250.0
#endif

#define MAX_CTX 8

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *sep1 = memchr(data, 0xFF, size);
	size_t		pwlen = sep1 ? (size_t) (sep1 - data) : size;
	char	   *pw;
	char	   *rest = NULL;
	char	   *word = NULL;
	const char *ctx[MAX_CTX];
	size_t		nctx = 0;
	pgw_estimate est;
	double		t0,
				dt;
	int			rc;
	char		buf[512];
	size_t		need;
	unsigned int bit;

	/* the password in its own exact-size buffer, so ASan sees overreads */
	pw = malloc(pwlen ? pwlen : 1);
	if (pw == NULL)
		return 0;
	memcpy(pw, data, pwlen);

	if (sep1)
	{
		const uint8_t *start = sep1 + 1;
		size_t		left = size - (size_t) (start - data);
		const uint8_t *sep2 = memchr(start, 0xFF, left);
		size_t		ctxlen = sep2 ? (size_t) (sep2 - start) : left;
		size_t		i,
					from = 0;

		rest = malloc(ctxlen + 1);
		if (rest == NULL)
		{
			free(pw);
			return 0;
		}
		memcpy(rest, start, ctxlen);
		rest[ctxlen] = '\0';
		for (i = 0; i <= ctxlen && nctx < MAX_CTX; i++)
			if (i == ctxlen || rest[i] == '\0')
			{
				ctx[nctx++] = rest + from;
				from = i + 1;
			}
		if (sep2)
		{
			size_t		wl = left - ctxlen - 1;

			word = malloc(wl + 1);
			if (word != NULL)
			{
				memcpy(word, sep2 + 1, wl);
				word[wl] = '\0';
			}
		}
	}

	t0 = now_ms();
	rc = pgw_estimate_entropy(pw, pwlen, nctx ? ctx : NULL, nctx, &est);
	dt = now_ms() - t0;
	if (rc != PGW_OK && rc != PGW_INVALID_UTF8)
		abort();
	if (rc == PGW_OK)
	{
		if (!isfinite(est.bits) || est.bits < 0.0 || est.bits > 256.0)
			abort();
		if (est.codepoints > pwlen)
			abort();
		if (est.patterns >= (1u << PGW_PAT_COUNT))
			abort();
	}
	else if (est.bits != 0.0 || est.patterns != 0)
		abort();
	if (dt > PGW_FUZZ_MAX_MS)
	{
		fprintf(stderr, "time bound broken: %.1f ms for %zu bytes\n", dt, pwlen);
		abort();
	}

	need = pgw_describe_patterns(rc == PGW_OK ? est.patterns : 0xFFFFFFFFu,
								 buf, (size ? data[0] : 0) % sizeof(buf));
	if (need >= 1024)
		abort();
	for (bit = 1; bit != 0; bit <<= 1)
		(void) pgw_pattern_description(bit);
	if (rc == PGW_OK)
	{
		/* the named findings fit in the server's buffer and never overrun */
		need = pgw_describe_estimate(&est, buf, (size ? data[size - 1] : 0) % sizeof(buf));
		if (need >= 2048)
			abort();
		if (est.dictionaries >= (1u << 31) || est.layouts >= (1u << 8))
			abort();
	}
	if (word != NULL)
	{
		int			plain = pgw_contains_word(pw, pwlen, word);

		/* seeing through disguises only ever finds more */
		if (plain && !pgw_contains_word_undisguised(pw, pwlen, word))
			abort();
	}

	free(word);
	free(rest);
	free(pw);
	return 0;
}
