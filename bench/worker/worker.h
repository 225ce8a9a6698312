/*
 * worker.h - one measurement of the design comparison (`uvma bench
 * --scenario fault|churn|hot|scale|memory`), run in a process of its own.
 *
 * The driver (bench/bench_designs.c, inside `uvma bench`) starts one worker
 * process per (design, repeat): build/uvma-bench-refcount, -rwsem and
 * -global are the same worker sources linked with the library built three
 * ways (src/design.h); the kernel design runs in uvma-bench-refcount with
 * --design kernel and never touches the library. A fresh process per
 * measurement keeps one design's heap, pool and RCU threads from weighing
 * on the next.
 *
 * A worker prints one line per result on stdout:
 *   result areas=N threads=T faults_per_s=X base_faults_per_s=X
 *          ops_per_s=X p50_ns=X p99_ns=X
 *          fallbacks=N retries=N errors=N bytes_per_vma=X lock_bytes=X
 *          rcu_cbs_per_free=X
 * (one line; a negative value means "not measured in this design"), and
 * progress or diagnostics on stderr. Exit status 0, 1 when a measurement
 * failed, 2 on a usage error.
 */
#ifndef UVMA_BENCH_WORKER_H
#define UVMA_BENCH_WORKER_H

#include <stddef.h>
#include <stdint.h>

#define WK_MAX_SIZES 8

/* What to measure. */
struct wk_params {
	const char *scenario; /* fault, churn, hot, scale, memory */
	const char *design;   /* refcount, rwsem, global, kernel */
	unsigned threads;     /* fault threads (churn adds one mapper) */
	uint64_t areas[WK_MAX_SIZES]; /* scale: every size, ascending;
				       * others: areas[0] */
	size_t nareas;
	double seconds; /* length of each timed phase */
	uint64_t seed;	/* every random choice */
};

/* One measurement. Rates are per second of the timed phase; a field that
 * does not apply is negative (doubles) or 0 (counts). */
struct wk_result {
	uint64_t areas;
	unsigned threads;
	double faults_per_s;	  /* all fault threads together */
	double base_faults_per_s; /* churn: the same threads in the same
				   * process just before, without the mapper */
	double ops_per_s; /* map changes: churn's mapper, scale's pairs */
	double p50_ns;	  /* per-fault latency, sampled */
	double p99_ns;
	uint64_t fallbacks;   /* faults that fell back to mmap_lock */
	uint64_t retries;     /* lookups repeated (stale VMA) or retried */
	uint64_t errors;      /* faults or operations that failed: must be 0 */
	double bytes_per_vma; /* memory: the VMA object as allocated */
	double lock_bytes;    /* memory: lock state in the VMA */
	double rcu_cbs_per_free; /* memory: RCU callbacks per freed VMA */
};

/*
 * One side's scenarios: the library as linked (worker_uvma.c) or the running
 * kernel (worker_kernel.c). faults runs fault, churn and hot into *r; scale
 * fills res[0 .. *nres - 1], one per size (at most WK_MAX_SIZES); memory
 * fills *r. Each returns 0, or nonzero after saying on stderr what failed.
 */
struct wk_side {
	int (*faults)(const struct wk_params *p, struct wk_result *r);
	int (*scale)(const struct wk_params *p, struct wk_result *res,
		     size_t *nres);
	int (*memory)(const struct wk_params *p, struct wk_result *r);
};
extern const struct wk_side wk_uvma, wk_kernel;

/* Shared by both sides (worker_util.c). */
void wk_result_init(struct wk_result *r, uint64_t areas, unsigned threads);

/*
 * Latency samples: each fault thread times one fault in WK_SAMPLE_EVERY
 * (timing every one would cost more than a uvma fault) into a buffer of
 * its own; wk_lat_percentiles merges them.
 */
#define WK_SAMPLE_EVERY 16
struct wk_lat {
	uint32_t *ns; /* capped at UINT32_MAX */
	size_t n, cap;
};
/* 0 or -ENOMEM. A full buffer keeps the first cap samples. */
int wk_lat_init(struct wk_lat *l, size_t cap);
static inline void wk_lat_add(struct wk_lat *l, uint64_t ns)
{
	if (l->n < l->cap)
		l->ns[l->n++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}
void wk_lat_free(struct wk_lat *l);
/* p50 and p99 over every sample of ls[0 .. n-1]; negative when none. */
void wk_lat_percentiles(struct wk_lat *ls, size_t n, double *p50, double *p99);

/*
 * Pin the calling thread to CPU index % (CPUs online): thread i of a
 * measurement always on the same CPU, fault threads first, then the churn
 * mapper, so that with as many threads as CPUs each has one of its own and
 * the result does not depend on where the scheduler happened to put them.
 * Best effort: a refused affinity leaves the thread where it is.
 */
void wk_pin(unsigned index);

/* Sleep until a deadline; the fault threads stop at a flag set then. */
void wk_sleep_s(double seconds);

#endif
