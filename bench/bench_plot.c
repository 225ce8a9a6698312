/*
 * bench_plot.c - the picture of the design comparison (bench_designs.h):
 * writes the medians as gnuplot data (path.dat) and a gnuplot script
 * (path.gp) next to the picture and runs gnuplot on the script. Both files
 * are kept, so that the picture can be redrawn or restyled by hand without
 * running the benchmark again.
 *
 * The picture: faults/s of each design for every fault scenario (fault at
 * each thread count, churn, hot) as clustered bars, their p50/p99 latency
 * the same way, and for scale the faults/s and mmap+munmap pairs/s against
 * the number of mapped areas. A panel without any value is left out.
 */
#include "bench_designs.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <spawn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>

extern char **environ;

#define NDESIGNS     4
#define MAX_CLUSTERS 16	 /* fault thread counts, churn, hot: a handful */
#define MAX_SCALE    32	 /* areas of scale: --sizes takes at most 8 */
#define BAR_STEP     0.2 /* x distance of neighbouring bars in a cluster */

/* A fixed order and colour per design, so that every picture reads alike
 * (Okabe-Ito colours, told apart with colour blindness too; the kernel, the
 * reference, in grey). */
static const char *const design_names[NDESIGNS] = { "refcount", "rwsem",
						    "global", "kernel" };
static const char *const design_colours[NDESIGNS] = { "#0072B2", "#009E73",
						      "#D55E00", "#808080" };

/* One group of bars: one configuration of a fault scenario. */
struct cluster {
	const char *scenario;
	int rank; /* position of the scenario: fault, churn, hot */
	unsigned threads;
	uint64_t areas;
	const struct design_row *by[NDESIGNS];
	char label[64];
};

/* One x value of the scale curves. */
struct scale_point {
	uint64_t areas;
	const struct design_row *by[NDESIGNS];
};

/* The rows sorted into what is drawn. */
struct plot {
	struct cluster c[MAX_CLUSTERS];
	size_t nc;
	struct scale_point s[MAX_SCALE];
	size_t ns;
	size_t dropped; /* rows beyond the capacity above */
};

/* The positive values of one panel; lo == 0: none, the panel is left out. */
struct range {
	double lo, hi;
};

/* A file being written. The first error sticks and later writes are
 * skipped, so that the writers stay readable and one check at the end
 * catches a failure of any of them. */
struct out {
	FILE *f;
	int err;
};

static int design_index(const char *name)
{
	for (int d = 0; d < NDESIGNS; d++)
		if (!strcmp(name, design_names[d]))
			return d;
	return -1;
}

/* The clusters' order from left to right; -1: not drawn as bars. */
static int bar_rank(const char *scenario)
{
	static const char *const order[] = { "fault", "churn", "hot" };

	for (int i = 0; i < 3; i++)
		if (!strcmp(scenario, order[i]))
			return i;
	return -1;
}

/* A value that can be drawn on a log axis, or NAN (negative: does not
 * apply; zero would sit at minus infinity). */
static double value(double v)
{
	return v > 0 && isfinite(v) ? v : NAN;
}

static struct cluster *cluster_of(struct plot *p, const struct design_row *r,
				  int rank)
{
	struct cluster *c;

	for (size_t i = 0; i < p->nc; i++) {
		c = &p->c[i];
		if (c->rank == rank && c->threads == r->threads &&
		    c->areas == r->areas)
			return c;
	}
	if (p->nc == MAX_CLUSTERS)
		return NULL;
	c = &p->c[p->nc++];
	memset(c, 0, sizeof(*c));
	c->scenario = r->scenario;
	c->rank = rank;
	c->threads = r->threads;
	c->areas = r->areas;
	return c;
}

static struct scale_point *scale_point_of(struct plot *p, uint64_t areas)
{
	struct scale_point *s;

	for (size_t i = 0; i < p->ns; i++)
		if (p->s[i].areas == areas)
			return &p->s[i];
	if (p->ns == MAX_SCALE)
		return NULL;
	s = &p->s[p->ns++];
	memset(s, 0, sizeof(*s));
	s->areas = areas;
	return s;
}

/* File one row; the first row of a (configuration, design) wins. */
static void collect_row(struct plot *p, const struct design_row *r)
{
	const struct design_row **slot = NULL;
	int d = design_index(r->design), rank = bar_rank(r->scenario);

	if (d < 0)
		return;
	if (rank >= 0) {
		struct cluster *c = cluster_of(p, r, rank);

		slot = c ? &c->by[d] : NULL;
	} else if (!strcmp(r->scenario, "scale")) {
		struct scale_point *s = scale_point_of(p, r->areas);

		slot = s ? &s->by[d] : NULL;
	} else {
		return; /* memory: its own table, no picture */
	}
	if (!slot)
		p->dropped++;
	else if (!*slot)
		*slot = r;
}

static int cmp_cluster(const void *a, const void *b)
{
	const struct cluster *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank - y->rank;
	if (x->threads != y->threads)
		return x->threads < y->threads ? -1 : 1;
	return (x->areas > y->areas) - (x->areas < y->areas);
}

static int cmp_scale_point(const void *a, const void *b)
{
	const struct scale_point *x = a, *y = b;

	return (x->areas > y->areas) - (x->areas < y->areas);
}

/* Name a cluster after its scenario and threads; the areas only when two
 * clusters would otherwise look the same (a run with other sizes). */
static void label_cluster(struct plot *p, struct cluster *c)
{
	bool twin = false;
	size_t len;

	for (size_t i = 0; i < p->nc; i++)
		if (&p->c[i] != c && p->c[i].rank == c->rank &&
		    p->c[i].threads == c->threads)
			twin = true;
	snprintf(c->label, sizeof(c->label), "%s %ut%s", c->scenario,
		 c->threads, c->rank == 1 ? "+mapper" : "");
	len = strlen(c->label);
	if (twin)
		snprintf(c->label + len, sizeof(c->label) - len,
			 " %" PRIu64 " areas", c->areas);
}

static void collect(struct plot *p, const struct design_row *rows, size_t n)
{
	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < n; i++)
		collect_row(p, &rows[i]);
	qsort(p->c, p->nc, sizeof(*p->c), cmp_cluster);
	qsort(p->s, p->ns, sizeof(*p->s), cmp_scale_point);
	for (size_t i = 0; i < p->nc; i++)
		label_cluster(p, &p->c[i]);
}

static void widen(struct range *r, double v)
{
	v = value(v);
	if (isnan(v))
		return;
	if (!r->lo || v < r->lo)
		r->lo = v;
	if (v > r->hi)
		r->hi = v;
}

/* A metric picked by its offset in struct design_row, so that one loop
 * serves every metric. */
#define M(field) offsetof(struct design_row, field)

/* The metric at off of row r, or NAN if there is no row or no value. */
static double metric(const struct design_row *r, size_t off)
{
	return r ? value(*(const double *)((const char *)r + off)) : NAN;
}

/* Whether design d has any value of a metric among the clusters (the
 * scale points): a design without one gets no plot clause, which would
 * only make gnuplot warn about an empty data set. */
static bool clusters_have(const struct plot *p, int d, size_t off)
{
	for (size_t i = 0; i < p->nc; i++)
		if (!isnan(metric(p->c[i].by[d], off)))
			return true;
	return false;
}

static bool scale_has(const struct plot *p, int d, size_t off)
{
	for (size_t i = 0; i < p->ns; i++)
		if (!isnan(metric(p->s[i].by[d], off)))
			return true;
	return false;
}

__attribute__((format(printf, 2, 3))) static void put(struct out *o,
						      const char *fmt, ...)
{
	va_list ap;

	if (o->err)
		return;
	va_start(ap, fmt);
	if (vfprintf(o->f, fmt, ap) < 0)
		o->err = errno ? -errno : -EIO;
	va_end(ap);
}

/* A number for the data file; gnuplot reads NaN as a missing value. */
static void put_value(struct out *o, double v)
{
	if (isnan(v))
		put(o, " NaN");
	else
		put(o, " %.6g", v);
}

/* A string in single quotes, where gnuplot takes every character as it is
 * except the quote, which is doubled: a path may hold spaces, backslashes
 * and double quotes. */
static void put_quoted(struct out *o, const char *s)
{
	put(o, "'");
	for (; *s; s++) {
		if (*s == '\'')
			put(o, "''");
		else
			put(o, "%c", *s);
	}
	put(o, "'");
}

static int open_out(struct out *o, const char *path)
{
	o->err = 0;
	o->f = fopen(path, "w");
	if (!o->f) {
		int err = -errno;

		fprintf(stderr, "bench: cannot write %s: %s\n", path,
			strerror(errno));
		return err;
	}
	return 0;
}

static int close_out(struct out *o, const char *path)
{
	int err = o->err;

	if (fclose(o->f) && !err)
		err = errno ? -errno : -EIO;
	if (err)
		fprintf(stderr, "bench: cannot write %s: %s\n", path,
			strerror(-err));
	return err;
}

/*
 * The data blocks, separated by two blank lines (gnuplot's index) and
 * found by the name on their first line, so that a block left out does
 * not shift the others.
 */
static void write_bars(struct out *o, const struct plot *p)
{
	put(o, "# bars\n# fault scenarios: 1 x, 2 label, then per design "
	       "faults/s, p50 ns, p99 ns\n# designs:");
	for (int d = 0; d < NDESIGNS; d++)
		put(o, " %s (columns %d-%d)", design_names[d], 3 + 3 * d,
		    5 + 3 * d);
	put(o, "\n# NaN: not measured or does not apply\n");
	for (size_t i = 0; i < p->nc; i++) {
		const struct cluster *c = &p->c[i];

		/* the label is made of a known scenario name: no quotes */
		put(o, "%zu \"%s\"", i, c->label);
		for (int d = 0; d < NDESIGNS; d++) {
			put_value(o, metric(c->by[d], M(faults_per_s)));
			put_value(o, metric(c->by[d], M(p50_ns)));
			put_value(o, metric(c->by[d], M(p99_ns)));
		}
		put(o, "\n");
	}
	put(o, "\n\n");
}

static void write_scale(struct out *o, const struct plot *p)
{
	put(o, "# scale\n# 1 areas, then per design faults/s and "
	       "mmap+munmap pairs/s\n# designs:");
	for (int d = 0; d < NDESIGNS; d++)
		put(o, " %s (columns %d-%d)", design_names[d], 2 + 2 * d,
		    3 + 2 * d);
	put(o, "\n# NaN: not measured or does not apply\n");
	for (size_t i = 0; i < p->ns; i++) {
		const struct scale_point *s = &p->s[i];

		put(o, "%" PRIu64, s->areas);
		for (int d = 0; d < NDESIGNS; d++) {
			put_value(o, metric(s->by[d], M(faults_per_s)));
			put_value(o, metric(s->by[d], M(ops_per_s)));
		}
		put(o, "\n");
	}
	put(o, "\n\n");
}

static int write_data(const char *path, const struct plot *p)
{
	struct out o;
	int err = open_out(&o, path);

	if (err)
		return err;
	/* neither the path nor a block's name here: gnuplot finds a block
	 * by a string in its first line, and this is a block of its own */
	put(&o, "# uvma bench: medians of the design comparison, drawn by "
		"the .gp file next to this one\n\n\n");
	if (p->nc)
		write_bars(&o, p);
	if (p->ns)
		write_scale(&o, p);
	return close_out(&o, path);
}

/* The decade at or below v > 0, by hand: nothing links libm for log10. */
static double decade_below(double v)
{
	double d = 1;

	while (d > v)
		d /= 10;
	while (d * 10 <= v)
		d *= 10;
	return d;
}

/* From the decade below the smallest value to the decade above the
 * largest: whole decades label well, and boxes on a log axis need a bottom
 * to stand on. */
static struct range decades(struct range r)
{
	struct range d = { decade_below(r.lo), decade_below(r.hi) };

	if (d.hi < r.hi || d.hi == d.lo)
		d.hi *= 10;
	return d;
}

static void put_log_axis(struct out *o, char axis, struct range r)
{
	put(o, "set logscale %c\nset %crange [%g:%g]\n", axis, axis, r.lo,
	    r.hi);
	put(o, "set format %c \"10^{%%L}\"\nset m%ctics 10\n", axis, axis);
}

/* The cluster labels as x tics under the middle of each cluster. */
static void put_cluster_axis(struct out *o, const struct plot *p)
{
	put(o, "unset logscale x\nset xrange [-0.5:%zu.5]\nset xtics (",
	    p->nc - 1);
	for (size_t i = 0; i < p->nc; i++)
		put(o, "%s\"%s\" %zu", i ? ", " : "", p->c[i].label, i);
	put(o, ") scale 0 font \",12\"\nunset xlabel\n");
	put(o, "set boxwidth %g\n", BAR_STEP * 0.9);
}

/* x of design d's bar in the cluster at column 1. */
static void put_bar_x(struct out *o, int d)
{
	put(o, "($1%+g)", (d - (NDESIGNS - 1) / 2.0) * BAR_STEP);
}

static void put_faults_panel(struct out *o, const struct plot *p,
			     struct range r)
{
	const char *sep = "plot ";

	put(o, "\nset title \"faults per second (higher is better)\"\n");
	put_cluster_axis(o, p);
	put_log_axis(o, 'y', decades(r));
	put(o, "set ylabel \"faults/s\"\n");
	for (int d = 0; d < NDESIGNS; d++) {
		if (!clusters_have(p, d, M(faults_per_s)))
			continue;
		put(o, "%sdat index 'bars' using ", sep);
		put_bar_x(o, d);
		put(o, ":%d with boxes lc rgb \"%s\" title \"%s\"", 3 + 3 * d,
		    design_colours[d], design_names[d]);
		sep = ", \\\n\t";
	}
	/* the values over the bars: a log axis is hard to read closely */
	for (int d = 0; d < NDESIGNS; d++) {
		if (!clusters_have(p, d, M(faults_per_s)))
			continue;
		put(o, "%sdat index 'bars' using ", sep);
		put_bar_x(o, d);
		put(o,
		    ":%d:(si($%d)) with labels offset 0,0.6 font \",9\" "
		    "notitle",
		    3 + 3 * d, 3 + 3 * d);
	}
	put(o, "\n");
}

/* p50 as the bar, p99 as a whisker on top of it: the tail stays visible
 * without doubling the number of bars. */
static void put_latency_panel(struct out *o, const struct plot *p,
			      struct range r)
{
	const char *sep = "plot ";
	bool whisker = false; /* whether any: then the key explains them */

	put(o, "\nset title \"fault latency: bar p50, whisker up to p99 "
	       "(lower is better)\"\n");
	put_cluster_axis(o, p);
	put_log_axis(o, 'y', decades(r));
	put(o, "set ylabel \"latency (ns)\"\n");
	/* a whisker without its p50 bar starts at the axis */
	put(o, "p50(c) = valid(c) ? column(c) : %g\n", decades(r).lo);
	for (int d = 0; d < NDESIGNS; d++) {
		if (!clusters_have(p, d, M(p50_ns)))
			continue;
		put(o, "%sdat index 'bars' using ", sep);
		put_bar_x(o, d);
		put(o, ":%d with boxes lc rgb \"%s\" title \"%s\"", 4 + 3 * d,
		    design_colours[d], design_names[d]);
		sep = ", \\\n\t";
	}
	for (int d = 0; d < NDESIGNS; d++) {
		if (!clusters_have(p, d, M(p99_ns)))
			continue;
		put(o, "%sdat index 'bars' using ", sep);
		put_bar_x(o, d);
		/* a candlestick shrunk to a line on top of the bar with a
		 * whisker up to p99: yerrorbars would dot one of its caps */
		put(o,
		    ":(p50(%d)):(p50(%d)):%d:(p50(%d)) with candlesticks "
		    "whiskerbars 0.4 fs empty lw 1.5 lc rgb \"#202020\" "
		    "notitle",
		    4 + 3 * d, 4 + 3 * d, 5 + 3 * d, 4 + 3 * d);
		whisker = true;
		sep = ", \\\n\t";
	}
	if (whisker)
		put(o, ", \\\n\tkeyentry with yerrorbars lw 1.5 ps 0 "
		       "lc rgb \"#202020\" title \"p99\"");
	put(o, "\n");
}

static void put_scale_panel(struct out *o, const struct plot *p, struct range r,
			    bool ops)
{
	const char *sep = "plot ";
	/* a little room left and right, so that no marker sits on an axis */
	struct range x = { p->s[0].areas / 1.5, p->s[p->ns - 1].areas * 1.5 };

	put(o, "\nset title \"%s\"\n",
	    ops ? "scale: mmap+munmap pairs per second (higher is better)"
		: "scale: faults per second (higher is better)");
	put(o, "set xtics autofreq scale 1 font \"\"\nset boxwidth\n");
	put_log_axis(o, 'x', x);
	put_log_axis(o, 'y', decades(r));
	put(o, "set xlabel \"mapped areas (VMAs)\"\n");
	put(o, "set ylabel \"%s\"\n", ops ? "mmap+munmap pairs/s" : "faults/s");
	for (int d = 0; d < NDESIGNS; d++) {
		if (ops ? !scale_has(p, d, M(ops_per_s))
			: !scale_has(p, d, M(faults_per_s)))
			continue;
		put(o,
		    "%sdat index 'scale' using 1:%d with linespoints lw 2 "
		    "pt 7 ps 1.2 lc rgb \"%s\" title \"%s\"",
		    sep, (ops ? 3 : 2) + 2 * d, design_colours[d],
		    design_names[d]);
		sep = ", \\\n\t";
	}
	put(o, "\n");
}

/* The panels' ranges; a panel without values stays lo == 0. */
static void measure(const struct plot *p, struct range r[4])
{
	memset(r, 0, 4 * sizeof(*r));
	for (size_t i = 0; i < p->nc; i++)
		for (int d = 0; d < NDESIGNS; d++) {
			widen(&r[0], metric(p->c[i].by[d], M(faults_per_s)));
			widen(&r[1], metric(p->c[i].by[d], M(p50_ns)));
			widen(&r[1], metric(p->c[i].by[d], M(p99_ns)));
		}
	for (size_t i = 0; i < p->ns; i++)
		for (int d = 0; d < NDESIGNS; d++) {
			widen(&r[2], metric(p->s[i].by[d], M(faults_per_s)));
			widen(&r[3], metric(p->s[i].by[d], M(ops_per_s)));
		}
}

/* The settings every panel shares: bars and curves in front of a light
 * grid, the key above each panel where it covers nothing. */
static void put_style(struct out *o, const char *dat)
{
	put(o, "dat = ");
	put_quoted(o, dat);
	put(o,
	    "\nset style fill solid 0.9 border rgb \"#404040\"\n"
	    "set grid ytics mytics lt 1 lc rgb \"#d0d0d0\", "
	    "lt 1 lc rgb \"#eeeeee\"\n"
	    "set key outside top center horizontal samplen 2 "
	    "font \",11\"\n"
	    "si(v) = v >= 1e9 ? sprintf(\"%%.2gG\", v / 1e9) : "
	    "v >= 1e6 ? sprintf(\"%%.2gM\", v / 1e6) : "
	    "sprintf(\"%%.3gk\", v / 1e3)\nset tics nomirror\nset border 3\n");
}

/* The terminal of the picture's extension, sized for rows x cols panels. */
static void put_terminal(struct out *o, const char *path, const char *ext,
			 int rows, int cols)
{
	int w = cols == 2 ? 1400 : 800, h = rows == 2 ? 1000 : 560;

	if (!strcasecmp(ext, ".svg")) {
		put(o,
		    "set terminal svg size %d,%d dynamic enhanced "
		    "font \"sans,11\" background \"white\"\n",
		    w, h);
	} else {
		/* pngcairo draws smoother than libgd's png, but a gnuplot may
		 * come without it */
		put(o,
		    "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n"
		    "\tset terminal pngcairo size %d,%d enhanced "
		    "font \"sans,11\"\n} else {\n"
		    "\tset terminal png size %d,%d enhanced "
		    "font \"sans,11\"\n}\n",
		    w, h, w, h);
	}
	put(o, "set output ");
	put_quoted(o, path);
	put(o, "\n");
}

static int write_script(const char *gp, const char *dat, const char *path,
			const char *ext, const struct plot *p)
{
	struct range r[4];
	int panels = 0, rows, cols, err;
	struct out o;

	measure(p, r);
	for (int i = 0; i < 4; i++)
		panels += r[i].lo > 0;
	if (!panels) {
		fprintf(stderr, "bench: nothing to plot into %s\n", path);
		return -ENODATA;
	}
	err = open_out(&o, gp);
	if (err)
		return err;
	put(&o,
	    "# %s - written by uvma bench (bench_plot.c) with the data "
	    "next to it; redraw with: gnuplot <this file>\n",
	    path);
	/* two panels a row, a row fewer without scale rows */
	rows = panels > 2 ? 2 : 1;
	cols = panels > 1 ? 2 : 1;
	put_terminal(&o, path, ext, rows, cols);
	put_style(&o, dat);
	put(&o,
	    "set multiplot layout %d,%d title \"uvma: per-VMA lock designs "
	    "side by side\" font \",16\"\n",
	    rows, cols);
	if (r[0].lo > 0)
		put_faults_panel(&o, p, r[0]);
	if (r[1].lo > 0)
		put_latency_panel(&o, p, r[1]);
	if (r[2].lo > 0)
		put_scale_panel(&o, p, r[2], false);
	if (r[3].lo > 0)
		put_scale_panel(&o, p, r[3], true);
	put(&o, "\nunset multiplot\nunset output\n");
	return close_out(&o, gp);
}

/* Run gnuplot on the script, without a shell, so that nothing in the path
 * is interpreted; a relative path gets "./" so that it cannot read as an
 * option. */
static int run_gnuplot(const char *gp)
{
	char *arg = malloc(strlen(gp) + 3);
	char *argv[] = { "gnuplot", arg, NULL };
	int err, status;
	pid_t pid;

	if (!arg)
		return -ENOMEM;
	sprintf(arg, "%s%s", gp[0] == '/' ? "" : "./", gp);
	err = posix_spawnp(&pid, "gnuplot", NULL, NULL, argv, environ);
	free(arg);
	if (err == ENOENT) {
		fprintf(stderr, "bench: gnuplot not found (apt-get install "
				"gnuplot-nox)\n");
		return -ENOENT;
	}
	if (err) {
		fprintf(stderr, "bench: cannot run gnuplot: %s\n",
			strerror(err));
		return -err;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "bench: gnuplot failed on %s\n", gp);
		return -EIO;
	}
	return 0;
}

/* The extension of path if it is one we can draw, else NULL. A line break
 * is refused too: the path goes into the script, one command a line. */
static const char *picture_ext(const char *path)
{
	const char *ext = strrchr(path, '.');

	if (strpbrk(path, "\n\r") || !ext || strchr(ext, '/'))
		return NULL;
	if (strcasecmp(ext, ".svg") && strcasecmp(ext, ".png"))
		return NULL;
	return ext;
}

/* path with suffix appended, or NULL without memory. */
static char *with_suffix(const char *path, const char *suffix)
{
	char *s = malloc(strlen(path) + strlen(suffix) + 1);

	if (s)
		sprintf(s, "%s%s", path, suffix);
	return s;
}

int bench_plot_designs(const char *path, const struct design_row *rows,
		       size_t n)
{
	struct plot p;
	const char *ext = path ? picture_ext(path) : NULL;
	char *dat, *gp;
	int err;

	if (!ext) {
		fprintf(stderr,
			"bench: cannot draw %s: the picture must be a "
			".svg or .png file\n",
			path ? path : "(null)");
		return -EINVAL;
	}
	collect(&p, rows, n);
	if (p.dropped)
		fprintf(stderr,
			"bench: %zu rows left out of %s (too many "
			"configurations)\n",
			p.dropped, path);
	dat = with_suffix(path, ".dat");
	gp = with_suffix(path, ".gp");
	err = dat && gp ? 0 : -ENOMEM;
	if (!err)
		err = write_data(dat, &p);
	if (!err)
		err = write_script(gp, dat, path, ext, &p);
	if (!err)
		err = run_gnuplot(gp);
	free(dat);
	free(gp);
	return err;
}
