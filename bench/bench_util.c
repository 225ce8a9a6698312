/*
 * bench_util.c - what `uvma bench` shares with its worker processes: the
 * flags, the metrics' names, the clock, medians and random numbers.
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>

/* The JSON keys, and the names in a worker's result line. */
const char *const bench_metric_keys[BM_N] = {
	"faults_per_s",	   "base_faults_per_s", "ops_per_s",	    "p50_ns",
	"p99_ns",	   "fallbacks",		"retries",	    "errors",
	"bytes_per_vma",   "lock_bytes",	"rcu_cbs_per_free", "ns_per_op",
	"floor_ns_per_op",
};

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

/* A decimal count with an optional k (thousand) or M (million) suffix, so
 * that sizes read as they are spoken; *s moves past it. */
static int parse_count(const char **s, uint64_t *out)
{
	uint64_t v = 0, mul = 1;
	const char *p = *s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p == 'k' || *p == 'K')
		mul = 1000;
	else if (*p == 'm' || *p == 'M')
		mul = 1000000;
	if (v > UINT64_MAX / mul)
		return -EINVAL;
	*out = v * mul;
	*s = mul > 1 ? p + 1 : p;
	return 0;
}

int bench_parse_counts(const char *s, uint64_t *out, size_t max)
{
	size_t n = 0;

	for (;;) {
		if (n == max || parse_count(&s, &out[n++]))
			return -EINVAL;
		if (!*s)
			return (int)n;
		if (*s++ != ',')
			return -EINVAL;
	}
}

/* One count in [lo, hi] into *out. */
static int count_in(uint64_t lo, uint64_t hi, uint64_t *out)
{
	uint64_t v;

	if (bench_parse_counts(optarg, &v, 1) != 1 || v < lo || v > hi)
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
		n = bench_parse_counts(optarg, sizes, BENCH_MAX_SIZES);
		o->nsizes = n > 0 ? (size_t)n : 0;
		for (int i = 0; i < n; i++)
			if (!sizes[i])
				return -EINVAL;
		return n > 0 ? 0 : -EINVAL;
	case 'r':
		if (count_in(1, BENCH_MAX_RUNS / 2, &v))
			return -EINVAL;
		o->repeat = (unsigned)v;
		return 0;
	case 't':
		if (count_in(1, 256, &v))
			return -EINVAL;
		o->threads = (unsigned)v;
		return 0;
	case 'T':
		o->seconds = strtod(optarg, &end);
		return *end || !(o->seconds >= 0.01 && o->seconds <= 600)
			       ? -EINVAL
			       : 0;
	case 'o':
		return count_in(1, UINT64_MAX, &o->ops);
	case 'S':
		return count_in(0, UINT64_MAX, &o->seed);
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, i = -1, err;

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
