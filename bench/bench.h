/*
 * bench.h - the `uvma bench` command: named flags, a table of scenarios, and
 * the helpers the scenarios share (timing, medians, random numbers, results
 * and their JSON form).
 *
 * A scenario measures; it never prints its table. It adds one result row per
 * measurement (and free-form note lines, such as goal checks) to a
 * struct bench_report, and bench_main prints the table and writes the JSON,
 * so every scenario reports the same way.
 */
#ifndef UVMA_BENCH_H
#define UVMA_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Entry point of `uvma bench ...`; argv[0] is "bench". Returns the process
 * exit status: 0, 1 when a measurement failed, 2 on a usage error. */
int bench_main(int argc, char **argv);

/* The flags, parsed once and read by every scenario. */
struct bench_opts {
	const char *scenario;
	const size_t *sizes; /* entry counts to measure, in the given order */
	size_t nsizes;
	bool sizes_given; /* --sizes was given (else scenario defaults) */
	uint64_t ops;	  /* operations per measurement */
	unsigned repeat;  /* measurements per row; the row reports the median */
	uint64_t seed;	  /* for every random choice, so runs are repeatable */
	const char *json_path; /* NULL: no JSON output */
	bool repeat_given;
	/* The design comparison (bench_designs.c). */
	const char *designs;   /* comma-separated, NULL: all */
	unsigned threads;      /* 0: one per core */
	double seconds;	       /* each timed phase; <= 0: the default */
	const char *plot_path; /* NULL: no picture */
};

/* One row of the table and one object of the JSON array. */
struct bench_result {
	const char *scenario; /* static strings */
	const char *op;
	size_t size;
	double ns_per_op;	/* median over repeats */
	double floor_ns_per_op; /* median of the baseline, < 0 when none */
	unsigned repeats;
};

struct bench_report {
	char title[128]; /* first line of the table */
	struct bench_result *rows;
	size_t nrows;
	size_t cap;
	char *notes; /* lines printed after the table */
	size_t notes_len;
	size_t notes_cap;
};

/* Scenario functions: return 0, or nonzero when the run must stop (after
 * saying why on stderr). */
int bench_tree(const struct bench_opts *o, struct bench_report *rep);
int bench_lock(const struct bench_opts *o, struct bench_report *rep);
int bench_ops(const struct bench_opts *o, struct bench_report *rep);
/* The design comparison prints its own tables (bench_designs.c): scenario
 * is fault, churn, hot, scale, memory or all. Returns the exit status. */
bool bench_designs_has(const char *scenario);
int bench_designs(const struct bench_opts *o, const char *argv0);

/* Results. add returns -ENOMEM on allocation failure. */
int bench_report_add(struct bench_report *rep, const struct bench_result *r);
__attribute__((format(printf, 2, 3))) int bench_note(struct bench_report *rep,
						     const char *fmt, ...);
void bench_report_free(struct bench_report *rep);
/* The row for (op, size), or NULL when it was not measured. */
const struct bench_result *bench_report_find(const struct bench_report *rep,
					     const char *op, size_t size);
/* ns_per_op / floor_ns_per_op, or a negative value when there is no floor. */
double bench_ratio(const struct bench_result *r);
/* JSON pieces: an escaped string; a number, null when negative. */
void bench_json_string(FILE *f, const char *s);
void bench_json_number(FILE *f, double v);
/* Writes a JSON array of n objects, row(f, i, arg) writing the i-th; 0 or a
 * negative errno. */
int bench_json_array(const char *path, size_t n,
		     void (*row)(FILE *f, size_t i, const void *arg),
		     const void *arg);
/* The first number in a file (such as /proc/sys/vm/max_map_count), or -1. */
long bench_read_long(const char *path);
/* Writes every row as a JSON array of objects; 0 or a negative errno. */
int bench_json_write(const char *path, const struct bench_report *rep);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);
/* Median of v[0..n-1] (n >= 1); reorders v. */
double bench_median(double *v, size_t n);

/* A small, fast generator (splitmix64): the benchmark's random choices must
 * not cost more than what they feed, and must repeat for a given seed. */
uint64_t bench_rand(uint64_t *state);
/* Uniform in [0, n), n >= 1. */
uint64_t bench_rand_below(uint64_t *state, uint64_t n);

/* A progress line on stderr, prefixed with "bench: ". */
__attribute__((format(printf, 1, 2))) void bench_progress(const char *fmt, ...);

#endif
