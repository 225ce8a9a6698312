/*
 * bench_util.c - what `uvma bench` shares with its worker processes: the
 * flags, the clock, medians and random numbers.
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

uint64_t bench_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t bench_rand_below(uint64_t *state, uint64_t n)
{
	/* Multiply-shift instead of modulo: no division on the hot setup
	 * paths, and the bias is negligible for the n we use (< 2^32). */
	return (uint64_t)(((unsigned __int128)bench_rand(state) * n) >> 64);
}

void bench_progress(const char *fmt, ...)
{
	va_list ap;

	fputs("bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Comma-separated decimal counts with optional k (thousand) or M (million)
 * suffixes, so that sizes read as they are spoken, each in [lo, hi], into
 * out[0 .. max - 1]: how many, or -EINVAL. */
static int parse_counts(const char *s, uint64_t *out, size_t max, uint64_t lo,
			uint64_t hi)
{
	size_t n = 0;

	for (;;) {
		uint64_t v = 0, mul;

		if (n == max || *s < '0' || *s > '9')
			return -EINVAL;
		for (; *s >= '0' && *s <= '9'; s++) {
			if (v > (UINT64_MAX - 9) / 10)
				return -EINVAL;
			v = v * 10 + (uint64_t)(*s - '0');
		}
		mul = *s == 'k' || *s == 'K'   ? 1000
		      : *s == 'm' || *s == 'M' ? 1000000
					       : 1;
		s += mul > 1;
		if (v > UINT64_MAX / mul || v * mul < lo || v * mul > hi)
			return -EINVAL;
		out[n++] = v * mul;
		if (!*s)
			return (int)n;
		if (*s++ != ',')
			return -EINVAL;
	}
}

static int count_in(uint64_t lo, uint64_t hi, uint64_t *out)
{
	return parse_counts(optarg, out, 1, lo, hi) == 1 ? 0 : -EINVAL;
}

/* A size in bytes with an optional K, M or G suffix (powers of 1024, as a
 * size of memory is spoken), at least a page and at most 16 GiB (the
 * pager maps that much twice, file and anonymous): 0 or -EINVAL. */
static int parse_bytes(const char *s, uint64_t *out)
{
	uint64_t v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s < '0' || *s > '9')
		return -EINVAL;
	switch (*end) {
	case 'g':
	case 'G':
		v = v > (UINT64_MAX >> 30) ? 0 : v << 30;
		end++;
		break;
	case 'm':
	case 'M':
		v = v > (UINT64_MAX >> 20) ? 0 : v << 20;
		end++;
		break;
	case 'k':
	case 'K':
		v = v > (UINT64_MAX >> 10) ? 0 : v << 10;
		end++;
		break;
	}
	if (*end || v < 4096 || v > (UINT64_C(16) << 30))
		return -EINVAL;
	*out = v;
	return 0;
}

/* Applies one flag: 0, 1 for --help, or -EINVAL. */
static int apply_opt(int c, struct bench_opts *o, uint64_t *sizes)
{
	uint64_t v;
	char *end;
	int n;

	switch (c) {
	case 's':
		o->scenario = optarg;
		return 0;
	case 'd':
		o->designs = optarg;
		return 0;
	case 'j':
		o->json_path = optarg;
		return 0;
	case 'p':
		o->plot_path = optarg;
		return 0;
	case 'a':
		n = parse_counts(optarg, sizes, BENCH_MAX_SIZES, 1, UINT64_MAX);
		o->nsizes = n > 0 ? (size_t)n : 0;
		return n > 0 ? 0 : -EINVAL;
	case 'r':
		o->repeat = count_in(1, BENCH_MAX_RUNS, &v) ? 0 : (unsigned)v;
		return o->repeat ? 0 : -EINVAL;
	case 't':
		o->threads = count_in(1, 256, &v) ? 0 : (unsigned)v;
		return o->threads ? 0 : -EINVAL;
	case 'T':
		o->seconds = strtod(optarg, &end);
		return *end || !(o->seconds >= 0.01 && o->seconds <= 600)
			       ? -EINVAL
			       : 0;
	case 'o':
		return count_in(1, UINT64_MAX, &o->ops);
	case 'S':
		return count_in(0, UINT64_MAX, &o->seed);
	case 'B':
		return parse_bytes(optarg, &o->bytes);
	case 'h':
		return 1;
	}
	return -EINVAL; /* '?': getopt_long has already named the flag */
}

int bench_parse_opts(int argc, char **argv, struct bench_opts *o,
		     uint64_t *sizes)
{
	static const struct option opts[] = {
		{ "scenario", required_argument, NULL, 's' },
		{ "design", required_argument, NULL, 'd' },
		{ "json", required_argument, NULL, 'j' },
		{ "plot", required_argument, NULL, 'p' },
		{ "sizes", required_argument, NULL, 'a' },
		{ "areas", required_argument, NULL, 'a' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "threads", required_argument, NULL, 't' },
		{ "seconds", required_argument, NULL, 'T' },
		{ "ops", required_argument, NULL, 'o' },
		{ "seed", required_argument, NULL, 'S' },
		{ "size", required_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, i = 0, err;

	*o = (struct bench_opts){ .scenario = "all",
				  .sizes = sizes,
				  .ops = 1000000,
				  .seed = 1,
				  .seconds = 0.5 };
	/* The CLI may have run getopt on its own flags already; 0 makes glibc
	 * start over from argv[1]. */
	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, &i)) != -1) {
		err = apply_opt(c, o, sizes);
		if (err < 0 && c != '?')
			fprintf(stderr, "bench: bad value for --%s: %s\n",
				opts[i].name, optarg);
		if (err)
			return err;
	}
	if (optind == argc)
		return 0;
	fprintf(stderr, "bench: unexpected argument: %s\n", argv[optind]);
	return -EINVAL;
}
