/*
 * bench_designs.h - the design comparison of `uvma bench` (docs/design.md
 * section 8): scenarios fault, churn, hot, scale and memory, each run for
 * the designs refcount, rwsem, global and kernel in worker processes
 * (bench/worker/), repeated, reduced to medians (bench_designs.c), printed
 * as a table and drawn with gnuplot (bench_plot.c).
 */
#ifndef UVMA_BENCH_DESIGNS_H
#define UVMA_BENCH_DESIGNS_H

#include <stddef.h>
#include <stdint.h>

/* One measured configuration: the medians over its repeats. A value that
 * does not apply to the scenario or design is negative. */
struct design_row {
	const char *scenario; /* static: fault, churn, hot, scale, memory */
	const char *design;   /* static: refcount, rwsem, global, kernel */
	unsigned threads;     /* fault threads (churn: plus one mapper) */
	uint64_t areas;
	unsigned repeats; /* measurements the medians are over */
	double faults_per_s;
	double base_faults_per_s; /* churn: the same process without mapper */
	double ops_per_s; /* churn: the mapper's; scale: mmap+munmap pairs */
	double p50_ns;	  /* fault latency */
	double p99_ns;
	double fallbacks; /* per measurement */
	double retries;
	double errors; /* must be 0 */
	double bytes_per_vma;
	double lock_bytes;
	double rcu_cbs_per_free;
	/* Median of per-run ratios: churn against base_faults_per_s, others
	 * against refcount's run of the same repeat. */
	double ratio;
	/* Every run's faults_per_s, in run order (the medians' raw data). */
	double runs[10];
	unsigned nruns;
};

/*
 * Draw rows[0 .. n-1] with gnuplot into path (.svg: SVG, .png: PNG; other
 * extensions: -EINVAL): faults/s per design for each fault scenario, the
 * latency percentiles, and the scale curves. The data and script files are
 * written next to it (path.dat, path.gp) and kept, so the picture can be
 * redrawn. 0, or a negative errno after saying why on stderr (-ENOENT: no
 * gnuplot).
 */
int bench_plot_designs(const char *path, const struct design_row *rows,
		       size_t n);

#endif
