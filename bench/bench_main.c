/*
 * bench_main.c - `uvma bench`: parses the flags, runs one scenario from the
 * table below, prints its results as a table and optionally writes them as
 * JSON. New scenarios only add a function and a table entry.
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bench_scenario {
	const char *name;
	const char *what;
	int (*run)(const struct bench_opts *o, struct bench_report *rep);
};

static const struct bench_scenario scenarios[] = {
	{ "tree", "range tree lookup, store and erase vs a sorted array",
	  bench_tree },
	{ "lock", "per-VMA lock+unlock under RCU vs the bare lookup",
	  bench_lock },
	{ "ops", "mmap+munmap and mprotect split+merge, uvma vs the kernel",
	  bench_ops },
};

#define NSCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

/* Enough for any sweep someone types by hand. */
#define MAX_SIZES 32

static const size_t default_sizes[] = { 1000, 100000, 1000000 };

static const char usage_text[] =
	"usage: uvma bench [options]\n"
	"  --scenario NAME  what to measure (default all: the design "
	"comparison)\n"
	"  --design LIST    designs to compare: refcount, rwsem, global,\n"
	"                   kernel, comma-separated (default all)\n"
	"  --threads N      fault threads (default: one per core)\n"
	"  --areas LIST     areas mapped, comma-separated, k and M suffixes\n"
	"                   allowed (default fault/churn/hot 1000; scale\n"
	"                   1k,10k,100k,1M; memory 100k; tree/ops "
	"1000,100000,1000000;\n"
	"                   lock 10000); --sizes is the same flag\n"
	"  --seconds S      each timed phase of the design comparison "
	"(default 0.5)\n"
	"  --ops N          tree/lock/ops: operations per measurement "
	"(default\n"
	"                   1000000; stores and erases use min(N, 100000))\n"
	"  --repeat R       measurements per row, median reported (default 3\n"
	"                   for the design comparison, 5 for the others)\n"
	"  --seed N         seed of every random choice (default 1)\n"
	"  --json FILE      also write the rows as a JSON array\n"
	"  --plot FILE      design comparison: draw it (.svg or .png, "
	"gnuplot)\n"
	"  --help           this text\n"
	"scenarios:\n"
	"  all              fault, churn, hot, scale and memory, every design\n"
	"  fault            threads fault on random areas, nothing else runs\n"
	"  churn            the same while a mapper changes other areas\n"
	"  hot              every thread faults in the same area\n"
	"  scale            mmap+munmap and faults at growing area counts\n"
	"  memory           bytes and RCU callbacks per VMA\n";

static void usage(FILE *f)
{
	size_t i;

	fputs(usage_text, f);
	for (i = 0; i < NSCENARIOS; i++)
		fprintf(f, "  %-16s %s\n", scenarios[i].name,
			scenarios[i].what);
}

/* A decimal count with an optional k (thousand) or M (million) suffix, so
 * sizes read as they are spoken. Returns 0 or -EINVAL. */
static int parse_count(const char *s, const char **end, uint64_t *out)
{
	uint64_t v = 0, mul = 1;
	const char *p = s;

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
	if (mul > 1) {
		p++;
		if (v > UINT64_MAX / mul)
			return -EINVAL;
	}
	*out = v * mul;
	*end = p;
	return 0;
}

/* One whole-string count. */
static int parse_one(const char *s, uint64_t *out)
{
	const char *end;

	if (parse_count(s, &end, out) || *end)
		return -EINVAL;
	return 0;
}

static int parse_sizes(const char *s, size_t *sizes, size_t *nsizes)
{
	size_t n = 0;
	uint64_t v;

	for (;;) {
		if (n == MAX_SIZES || parse_count(s, &s, &v) || v == 0 ||
		    v > SIZE_MAX)
			return -EINVAL;
		sizes[n++] = (size_t)v;
		if (!*s)
			break;
		if (*s++ != ',')
			return -EINVAL;
	}
	*nsizes = n;
	return 0;
}

static const struct bench_scenario *find_scenario(const char *name)
{
	size_t i;

	for (i = 0; i < NSCENARIOS; i++) {
		if (!strcmp(scenarios[i].name, name))
			return &scenarios[i];
	}
	return NULL;
}

enum {
	OPT_SCENARIO = 256,
	OPT_SIZES,
	OPT_OPS,
	OPT_REPEAT,
	OPT_SEED,
	OPT_JSON,
	OPT_HELP,
	OPT_DESIGN,
	OPT_THREADS,
	OPT_AREAS,
	OPT_SECONDS,
	OPT_PLOT,
};

static const struct option long_opts[] = {
	{ "scenario", required_argument, NULL, OPT_SCENARIO },
	{ "sizes", required_argument, NULL, OPT_SIZES },
	{ "ops", required_argument, NULL, OPT_OPS },
	{ "repeat", required_argument, NULL, OPT_REPEAT },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "json", required_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "design", required_argument, NULL, OPT_DESIGN },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "areas", required_argument, NULL, OPT_AREAS },
	{ "seconds", required_argument, NULL, OPT_SECONDS },
	{ "plot", required_argument, NULL, OPT_PLOT },
	{ NULL, 0, NULL, 0 },
};

/* The design comparison's flags. */
static int apply_design_opt(int c, struct bench_opts *o)
{
	uint64_t v;
	char *end;

	switch (c) {
	case OPT_DESIGN:
		o->designs = optarg;
		return 0;
	case OPT_THREADS:
		if (parse_one(optarg, &v) || v == 0 || v > 256)
			return -EINVAL;
		o->threads = (unsigned)v;
		return 0;
	case OPT_SECONDS:
		o->seconds = strtod(optarg, &end);
		if (*end || !(o->seconds >= 0.01 && o->seconds <= 600))
			return -EINVAL;
		return 0;
	case OPT_PLOT:
		o->plot_path = optarg;
		return 0;
	}
	return -EINVAL;
}

/* Applies one flag. Returns 0, 1 for --help, or -EINVAL. */
static int apply_opt(int c, struct bench_opts *o, size_t *sizes)
{
	uint64_t v;

	switch (c) {
	case OPT_SCENARIO:
		o->scenario = optarg;
		return 0;
	case OPT_SIZES:
	case OPT_AREAS:
		return parse_sizes(optarg, sizes, &o->nsizes);
	case OPT_OPS:
		if (parse_one(optarg, &o->ops) || o->ops == 0)
			return -EINVAL;
		return 0;
	case OPT_REPEAT:
		if (parse_one(optarg, &v) || v == 0 || v > 1000)
			return -EINVAL;
		o->repeat = (unsigned)v;
		o->repeat_given = true;
		return 0;
	case OPT_SEED:
		return parse_one(optarg, &o->seed);
	case OPT_JSON:
		o->json_path = optarg;
		return 0;
	case OPT_HELP:
		return 1;
	case OPT_DESIGN:
	case OPT_THREADS:
	case OPT_SECONDS:
	case OPT_PLOT:
		return apply_design_opt(c, o);
	}
	return -EINVAL; /* '?': getopt_long has already named the flag */
}

/* Fills *o from argv. Returns 0, 1 for --help, or -EINVAL (after saying
 * what was wrong). */
static int parse_opts(int argc, char **argv, struct bench_opts *o,
		      size_t *sizes)
{
	int c, err;

	memset(o, 0, sizeof(*o));
	o->scenario = "all";
	o->ops = 1000000;
	o->repeat = 5;
	o->seed = 1;
	/* The CLI may have run getopt on its own flags already; 0 makes glibc
	 * start over from argv[1]. */
	optind = 0;
	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		err = apply_opt(c, o, sizes);
		if (err > 0)
			return 1;
		if (err && c != '?')
			fprintf(stderr, "bench: bad value for --%s: %s\n",
				long_opts[c - OPT_SCENARIO].name, optarg);
		if (err)
			return -EINVAL;
	}
	if (optind < argc) {
		fprintf(stderr, "bench: unexpected argument: %s\n",
			argv[optind]);
		return -EINVAL;
	}
	if (o->nsizes) {
		o->sizes = sizes;
		o->sizes_given = true;
	} else {
		o->sizes = default_sizes;
		o->nsizes = sizeof(default_sizes) / sizeof(default_sizes[0]);
	}
	return 0;
}

static void print_row(const struct bench_result *r)
{
	double ratio = bench_ratio(r);

	printf("%-10zu %-12s %10.1f", r->size, r->op, r->ns_per_op);
	if (ratio >= 0)
		printf(" %13.1f %8.2f", r->floor_ns_per_op, ratio);
	putchar('\n');
}

static void print_report(const struct bench_report *rep)
{
	size_t i;

	printf("%s\n", rep->title);
	printf("%-10s %-12s %10s %13s %8s\n", "entries", "op", "ns/op",
	       "floor ns/op", "ratio");
	for (i = 0; i < rep->nrows; i++)
		print_row(&rep->rows[i]);
	if (rep->notes_len)
		fputs(rep->notes, stdout);
	fflush(stdout);
}

/* Prints what was measured, even after a failure, so a long run that dies
 * at its last size still shows the sizes before it. */
static int finish(const struct bench_opts *o, const struct bench_report *rep)
{
	int err;

	if (!rep->nrows)
		return 0;
	print_report(rep);
	if (!o->json_path)
		return 0;
	err = bench_json_write(o->json_path, rep);
	if (err) {
		fprintf(stderr, "bench: cannot write %s: %s\n", o->json_path,
			strerror(-err));
		return 1;
	}
	bench_progress("wrote %s", o->json_path);
	return 0;
}

int bench_main(int argc, char **argv)
{
	size_t sizes[MAX_SIZES];
	const struct bench_scenario *sc;
	struct bench_report rep = { 0 };
	struct bench_opts o;
	int err, ret;

	err = parse_opts(argc, argv, &o, sizes);
	if (err > 0) {
		usage(stdout);
		return 0;
	}
	if (err) {
		usage(stderr);
		return 2;
	}
	if (bench_designs_has(o.scenario))
		return bench_designs(&o, argv[0]);
	sc = find_scenario(o.scenario);
	if (!sc) {
		fprintf(stderr, "bench: unknown scenario: %s\n", o.scenario);
		usage(stderr);
		return 2;
	}
	ret = sc->run(&o, &rep) ? 1 : 0;
	if (finish(&o, &rep))
		ret = 1;
	bench_report_free(&rep);
	return ret;
}
