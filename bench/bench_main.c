/*
 * bench_main.c - `uvma bench`: the table of scenarios and the pipeline
 * every one goes through (bench.h). A new scenario is a row of the table.
 */
#include "bench.h"

#include <string.h>
#include <strings.h>

struct scenario {
	const char *name, *what;
	int (*run)(const struct bench_opts *o, struct bench_report *rep);
	void (*goals)(const struct bench_opts *o, struct bench_report *rep);
	int (*plot)(const char *path, const struct bench_report *rep);
	const struct bench_kind *kind;
	unsigned repeat; /* the default */
};

#define DESIGNS(name, what)                                                    \
	{                                                                      \
		name, what, bench_designs, bench_designs_goals,                \
			bench_designs_plot, &bench_kind_designs, 3             \
	}
#define MICRO(name, what, fn)                                                  \
	{                                                                      \
		name, what, bench_##fn, bench_##fn##_goals, NULL,              \
			&bench_kind_micro, 5                                   \
	}

static const struct scenario scenarios[] = {
	DESIGNS("all", "fault, churn, hot, scale and memory, every design"),
	DESIGNS("fault", "threads fault on random areas, nothing else runs"),
	DESIGNS("churn", "the same while a mapper changes other areas"),
	DESIGNS("hot", "every thread faults in the same area"),
	DESIGNS("scale", "mmap+munmap and faults at growing area counts"),
	DESIGNS("memory", "bytes and RCU callbacks per VMA"),
	MICRO("tree", "range tree lookup, store and erase vs a sorted array",
	      tree),
	MICRO("lock", "per-VMA lock+unlock under RCU vs the bare lookup", lock),
	MICRO("ops", "mmap+munmap and mprotect split+merge, uvma vs the kernel",
	      ops),
	MICRO("dup", "uvma_mm_dup vs the kernel's fork, as many areas", dup),
	{ "pager", "real memory: uvma's pager vs a global pager and the kernel",
	  bench_pager, bench_pager_goals, bench_pager_plot, &bench_kind_pager,
	  3 },
};

static const char usage_text[] =
	"usage: uvma bench [options]\n"
	"  --scenario NAME  what to measure (default all, the comparison)\n"
	"  --design LIST    of refcount,rwsem,global,kernel (default all;\n"
	"                   pager: uvma-sigbus,uvma-threads,global,kernel)\n"
	"  --threads N      fault threads (default: one per core; pager:\n"
	"                   touching threads, default 1 and 2)\n"
	"  --areas LIST     areas, k and M suffixes allowed (--sizes too;\n"
	"                   defaults: fault/churn/hot 1k; scale 1k,10k,\n"
	"                   100k,1M; memory 100k; tree 1k,100k,1M;\n"
	"                   ops 1k,1M; dup 1k,100k; lock 10k)\n"
	"  --seconds S      each timed phase of the comparison and of the\n"
	"                   pager's churn (0.5)\n"
	"  --size BYTES     pager: the file and the anonymous memory touched\n"
	"                   (256M; K, M, G are powers of 1024)\n"
	"  --ops N          tree/lock/ops: operations a measurement (1M;\n"
	"                   stores and erases: at most 100k)\n"
	"  --repeat R       runs per row, 1 to 16, the median reported\n"
	"                   (3 for the comparison and pager, 5 for the\n"
	"                   others)\n"
	"  --seed N         seed of every random choice (default 1)\n"
	"  --json FILE      also write the rows as a JSON array\n"
	"  --plot FILE      comparison, pager: draw it (.svg or .png,\n"
	"                   gnuplot)\n"
	"  --help           this text\n"
	"scenarios:\n";

#define NSCENARIOS (sizeof(scenarios) / sizeof(*scenarios))

static void usage(FILE *f)
{
	fputs(usage_text, f);
	for (size_t i = 0; i < NSCENARIOS; i++)
		fprintf(f, "  %-16s %s\n", scenarios[i].name,
			scenarios[i].what);
}

/* The scenario of the flags, and a picture it can draw, checked before a
 * minute of measuring rather than after; NULL after saying why not. */
static const struct scenario *find(const struct bench_opts *o)
{
	const char *dot = o->plot_path ? strrchr(o->plot_path, '.') : ".svg";
	const struct scenario *sc = scenarios;

	while (sc < scenarios + NSCENARIOS && strcmp(sc->name, o->scenario))
		sc++;
	if (sc == scenarios + NSCENARIOS)
		fprintf(stderr, "bench: unknown scenario: %s\n", o->scenario);
	else if ((o->plot_path && !sc->plot) || !dot ||
		 (strcasecmp(dot, ".svg") && strcasecmp(dot, ".png")))
		fputs("bench: --plot takes FILE.svg or FILE.png, for the "
		      "design comparison and pager\n",
		      stderr);
	else
		return sc;
	return NULL;
}

int bench_main(int argc, char **argv)
{
	static struct bench_report rep; /* every run: too big for a stack */
	uint64_t sizes[BENCH_MAX_SIZES];
	const struct scenario *sc = NULL;
	struct bench_opts o;
	int err = bench_parse_opts(argc, argv, &o, sizes);

	if (err > 0) {
		usage(stdout);
		return 0;
	}
	if (!err)
		sc = find(&o);
	if (!sc) {
		usage(stderr);
		return 2;
	}
	o.repeat = o.repeat ? o.repeat : sc->repeat;
	memset(&rep, 0, sizeof(rep));
	rep.kind = sc->kind;
	err = sc->run(&o, &rep);
	bench_reduce(&rep);
	sc->goals(&o, &rep);
	/* Even after a failure, so that a long run that dies at its last size
	 * still shows the sizes before it. */
	bench_print(&rep);
	if (o.json_path && !bench_json(o.json_path, &rep))
		bench_progress("wrote %s", o.json_path);
	else if (o.json_path)
		err = 1;
	if (o.plot_path && !sc->plot(o.plot_path, &rep))
		bench_progress("wrote %s", o.plot_path);
	else if (o.plot_path)
		err = 1;
	return err ? 1 : 0;
}
