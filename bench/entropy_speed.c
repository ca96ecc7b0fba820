/*-------------------------------------------------------------------------
 *
 * entropy_speed.c
 *	  Time pgw_estimate_entropy() in C, without any binding overhead.
 *
 * Usage: entropy_speed FILE [REPEAT]
 *	  FILE holds one password per line (UTF-8, no newlines inside).  Each
 *	  password is estimated REPEAT times (default 20) and the per-call time
 *	  of that password is the minimum over the repeats; the program prints
 *	  the median, 90th and 99th percentile and maximum of those per-password
 *	  times over all passwords of at most 64 code points, then the time of
 *	  several 1 MiB inputs (best of 3).  Output is "key value" lines.
 *
 * Build: cc -O2 -Iext bench/entropy_speed.c ext/entropy.c ext/entropy_data.c -lm
 *
 *-------------------------------------------------------------------------
 */
#include "entropy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

static double
time_one(const char *pw, size_t len, int repeat)
{
	double		best = 1e300;
	int			r;
	pgw_estimate est;
	static const char *const ctx[] = {"alice", "appdb"};

	for (r = 0; r < repeat; r++)
	{
		double		t0 = now_ns();
		double		dt;

		if (pgw_estimate_entropy(pw, len, ctx, 2, &est) != 0)
			return -1.0;
		dt = now_ns() - t0;
		if (dt < best)
			best = dt;
	}
	return best;
}

int
main(int argc, char **argv)
{
	FILE	   *f;
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		got;
	double	   *times = NULL;
	size_t		n = 0,
				ncap = 0;
	int			repeat = 20;
	size_t		big = (size_t) 1 << 20;
	char	   *buf;
	size_t		i;
	const char *kinds[] = {"random-alnum", "single-char", "walk-repeat",
	"two-blocks", "words"};
	int			k;

	if (argc < 2)
	{
		fprintf(stderr, "usage: %s FILE [REPEAT]\n", argv[0]);
		return 2;
	}
	if (argc > 2)
		repeat = atoi(argv[2]);
	f = fopen(argv[1], "r");
	if (f == NULL)
	{
		perror(argv[1]);
		return 2;
	}
	while ((got = getline(&line, &cap, f)) >= 0)
	{
		size_t		len = (size_t) got;
		size_t		cps = 0;
		double		t;

		if (len > 0 && line[len - 1] == '\n')
			len--;
		for (i = 0; i < len; i++)
			if (((unsigned char) line[i] & 0xC0) != 0x80)
				cps++;
		if (cps > 64)
			continue;
		t = time_one(line, len, repeat);
		if (t < 0)
			continue;
		if (n == ncap)
		{
			ncap = ncap ? ncap * 2 : 4096;
			times = realloc(times, ncap * sizeof(double));
			if (times == NULL)
				return 3;
		}
		times[n++] = t;
	}
	fclose(f);
	free(line);
	if (n == 0)
		return 4;
	qsort(times, n, sizeof(double), cmp_double);
	printf("passwords %zu\n", n);
	printf("median_us %.3f\n", times[n / 2] / 1000.0);
	printf("p90_us %.3f\n", times[(n * 9) / 10] / 1000.0);
	printf("p99_us %.3f\n", times[(n * 99) / 100] / 1000.0);
	printf("max_us %.3f\n", times[n - 1] / 1000.0);
	free(times);

	/* 1 MiB inputs of several shapes */
	buf = malloc(big);
	if (buf == NULL)
		return 3;
	srand(12345);
	for (k = 0; k < 5; k++)
	{
		const char *alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
		const char *words[] = {"password", "dragon", "monkey", "summer", "2024"};
		double		t;

		for (i = 0; i < big; i++)
		{
			switch (k)
			{
				case 0:
					buf[i] = alnum[rand() % 62];
					break;
				case 1:
					buf[i] = 'a';
					break;
				case 2:
					buf[i] = "qwerty"[i % 6];
					break;
				case 3:
					buf[i] = ((i / 4096) % 2) ? 'b' : 'a';
					break;
				default:
					break;
			}
		}
		if (k == 4)
		{
			size_t		p = 0;

			while (p < big)
			{
				const char *w = words[rand() % 5];
				size_t		l = strlen(w);

				if (p + l > big)
					l = big - p;
				memcpy(buf + p, w, l);
				p += l;
			}
		}
		t = time_one(buf, big, 3);
		printf("mib_%s_ms %.3f\n", kinds[k], t / 1e6);
	}
	free(buf);
	return 0;
}
