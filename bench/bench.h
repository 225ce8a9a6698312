/*
 * bench.h - `uvma bench`: a scenario files every run into the rows of a
 * struct bench_report; bench_main reduces each row to the medians of its
 * runs and a ratio, has the scenario check its goals, prints the tables
 * and writes the JSON (bench_report.c) and the picture. The design
 * comparison (bench_designs.c) and the micro-benchmarks tree, lock and ops
 * differ only in their metrics and columns: the report's kind.
 */
#ifndef UVMA_BENCH_H
#define UVMA_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

int bench_main(int argc, char **argv); /* argv[0] is "bench" */

#define BENCH_MAX_SIZES 16

/* The flags (bench_parse_opts), read by every scenario and worker. */
struct bench_opts {
	const char *scenario;
	const uint64_t *sizes; /* --sizes or --areas, in the given order */
	size_t nsizes;	       /* 0: the scenario's defaults */
	uint64_t ops;	       /* tree, lock, ops: operations a measurement */
	unsigned repeat;       /* measurements per row; 0: the default */
	uint64_t seed;	       /* of every random choice */
	const char *json_path, *plot_path; /* NULL: none */
	const char *designs;		   /* comma-separated; NULL: all */
	unsigned threads;		   /* fault threads; 0: one per CPU */
	double seconds; /* each timed phase of the comparison */
	uint64_t bytes; /* pager: the file and anonymous size; 0: default */
};
/* 0, 1 for --help, or -EINVAL after saying what was wrong. */
int bench_parse_opts(int argc, char **argv, struct bench_opts *o,
		     uint64_t *sizes);

/*
 * What a row measures: the design comparison's metrics, in the order of
 * its JSON objects, then ns per operation for tree, lock and ops, then the
 * pager's own (bench_pager.c). BM_FLOOR is what a run's ratio divides its
 * headline by: a micro-benchmark's floor, the comparison's reference run
 * (bench_designs.c), or the pager's kernel run or unloaded run.
 */
enum bench_metric {
	BM_FAULTS,
	BM_BASE,
	BM_OPS,
	BM_P50,
	BM_P99,
	BM_FALLBACKS,
	BM_RETRIES,
	BM_ERRORS,
	BM_BYTES,
	BM_LOCK,
	BM_RCU,
	BM_NS,
	BM_NS_PAGE,	/* pager: wall time of the touching phase / pages */
	BM_FAULTS_PAGE, /* pager: faults taken / pages touched */
	BM_BASE_P99,	/* pager churn: p99 of the same space unloaded */
	BM_FLOOR,
	BM_N
};

#define BENCH_MAX_RUNS 16 /* --repeat */
#define BENCH_MAX_ROWS 160

/* One configuration measured: a line of the table, an object of the JSON. */
struct bench_row {
	const char *scenario, *name; /* static; name: design or operation */
	unsigned threads;
	uint64_t size; /* areas, or entries */
	unsigned nruns;
	double run[BENCH_MAX_RUNS][BM_N]; /* negative: not measured */
	double v[BM_N]; /* medians of the runs (bench_reduce) */
	double ratio;	/* median of the runs' headline / BM_FLOOR */
	int head;	/* the headline: the kind's first metric unless the
			 * scenario sets another after bench_row() */
};

struct bench_kind; /* bench_report.c: metrics, keys and columns */
extern const struct bench_kind bench_kind_designs, bench_kind_micro,
	bench_kind_pager;

struct bench_report {
	const struct bench_kind *kind;
	char title[160]; /* printed above the table when set */
	struct bench_row rows[BENCH_MAX_ROWS];
	size_t nrows;
	char notes[8192]; /* lines printed after the tables */
};

/* The row of (scenario, name, threads, size), added when missing; NULL
 * when the report is full. */
struct bench_row *bench_row(struct bench_report *rep, const char *scenario,
			    const char *name, unsigned threads, uint64_t size);
void bench_run(struct bench_row *r, const double *v); /* v[BM_N] */
/* A micro-benchmark's run: ns per operation, against a floor (< 0: none);
 * 0 or -1. */
int bench_run_ns(struct bench_report *rep, const char *scenario, const char *op,
		 uint64_t size, double ns, double floor);
void bench_reduce(struct bench_report *rep);
/* A row with runs matching the arguments (0 or NULL: any), or NULL. */
const struct bench_row *bench_find(const struct bench_report *rep,
				   const char *scenario, const char *name,
				   unsigned threads, uint64_t size);
__attribute__((format(printf, 2, 3))) void bench_note(struct bench_report *rep,
						      const char *fmt, ...);
#define BENCH_VERDICT(met) ((met) ? "met" : "NOT met")
void bench_print(const struct bench_report *rep);
int bench_json(const char *path, const struct bench_report *rep);

/* The scenarios: 0, or nonzero after saying on stderr what failed. */
int bench_designs(const struct bench_opts *o, struct bench_report *rep);
void bench_designs_goals(const struct bench_opts *o, struct bench_report *rep);
int bench_designs_plot(const char *path, const struct bench_report *rep);
int bench_tree(const struct bench_opts *o, struct bench_report *rep);
void bench_tree_goals(const struct bench_opts *o, struct bench_report *rep);
int bench_lock(const struct bench_opts *o, struct bench_report *rep);
void bench_lock_goals(const struct bench_opts *o, struct bench_report *rep);
int bench_ops(const struct bench_opts *o, struct bench_report *rep);
void bench_ops_goals(const struct bench_opts *o, struct bench_report *rep);
int bench_dup(const struct bench_opts *o, struct bench_report *rep);
void bench_dup_goals(const struct bench_opts *o, struct bench_report *rep);
int bench_pager(const struct bench_opts *o, struct bench_report *rep);
void bench_pager_goals(const struct bench_opts *o, struct bench_report *rep);
int bench_pager_plot(const char *path, const struct bench_report *rep);

/* Draw dat into out (.svg or .png) with `gnuplot -c script dat out`, the
 * script (bench.gp, pager.gp) found as bench_designs.c says; 0 or -1. */
int bench_gnuplot(const char *script, const char *dat, const char *out);

/* bench_util.c, shared with the workers. */
uint64_t bench_now_ns(void);		  /* CLOCK_MONOTONIC */
double bench_median(double *v, size_t n); /* n >= 1; reorders v */
/* splitmix64: the random choices must cost less than what they feed, and
 * repeat for a given seed. */
uint64_t bench_rand(uint64_t *state);
uint64_t bench_rand_below(uint64_t *state, uint64_t n); /* [0, n) */
__attribute__((format(printf, 1, 2))) void bench_progress(const char *fmt, ...);

#endif
