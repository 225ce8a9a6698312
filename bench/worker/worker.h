/*
 * worker.h - one measurement of the design comparison (`uvma bench
 * --scenario fault|churn|hot|scale|memory`), in a process of its own.
 *
 * The driver (bench_designs.c) starts a worker per (design, repeat):
 * build/uvma-bench-refcount, -rwsem and -global are the same sources linked
 * with the library built three ways (src/design.h); the kernel design runs
 * in uvma-bench-refcount and never touches the library. A fresh process
 * per measurement keeps one design's heap, pool and RCU threads from
 * weighing on the next. The flags are `uvma bench`'s; the results go to
 * stdout as struct wk_result records (the same sources build both ends),
 * diagnostics to stderr; exit status 0, 1 when a measurement failed, 2 on
 * a usage error.
 *
 * worker_main.c runs the threads and timed phases alike for both sides,
 * the library as linked (worker_uvma.c) and the running kernel
 * (worker_kernel.c); a side builds its address space and says what a
 * fault, a map change and an mmap+munmap pair are. The ops scenario
 * (bench_ops.c) runs both sides' map changes in-process.
 */
#ifndef UVMA_BENCH_WORKER_H
#define UVMA_BENCH_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "bench.h"

#define WK_SAMPLE_EVERY 16 /* faults per timed one (struct wk_lat) */
#define WK_CHURN_SLOTS	64 /* of the churn mapper, used in turn */

/* A measurement: counts start at 0, the other metrics at -1. */
struct wk_result {
	uint64_t areas;
	double v[BM_NS];
};

static inline void wk_result_init(struct wk_result *r, uint64_t areas)
{
	r->areas = areas;
	for (int m = 0; m < BM_NS; m++)
		r->v[m] = m == BM_FALLBACKS || m == BM_RETRIES || m == BM_ERRORS
				  ? 0
				  : -1;
}

/* The pages of the areas a scale (and ops) space grows by; ops splits an
 * area at its middle page. */
static inline unsigned wk_grow_pages(const struct bench_opts *p)
{
	return strcmp(p->scenario, "ops") ? 1 : 3;
}

/* Latency samples: each fault thread times one fault in WK_SAMPLE_EVERY
 * (timing every one would cost more than a uvma fault) into a buffer of
 * its own, merged at the end of the phase. */
struct wk_lat {
	uint32_t *ns; /* capped at UINT32_MAX */
	size_t n, cap;
};

static inline void wk_lat_add(struct wk_lat *l, uint64_t ns)
{
	if (l->n < l->cap)
		l->ns[l->n++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

/* What the threads of one timed phase share. */
struct wk_phase {
	const struct wk_side *side;
	void *space; /* the side's address space */
	unsigned nthreads;
	_Atomic unsigned ready;
	_Atomic bool go, stop;
};

static inline bool wk_stopped(struct wk_phase *ph)
{
	return atomic_load_explicit(&ph->stop, memory_order_relaxed);
}

/* One fault thread, on cache lines of its own. */
struct wk_thread {
	pthread_t tid;
	struct wk_phase *ph;
	unsigned index; /* fault threads first, then the mapper */
	uint64_t rng, faults, errors;
	uint64_t ns; /* of the timed part, when a side sets it; 0: the loop */
	struct wk_lat lat;
	void *own; /* the side's per-thread state */
} __attribute__((aligned(64)));

/* A side. The int functions return 0, or nonzero after saying why. */
struct wk_side {
	/* fault, churn, hot: the fault areas and room for the churn mapper;
	 * *areas: how many (hot maps one) */
	int (*build)(const struct bench_opts *p, void **space, uint64_t *areas);
	/* scale, ops: the space (NULL: a new one) grown to n areas; > 0: no
	 * room for n */
	int (*grow)(const struct bench_opts *p, void **space, uint64_t n);
	void (*destroy)(void *space);		 /* NULL: nothing */
	int (*thread_init)(struct wk_thread *t); /* may be NULL */
	void (*thread_free)(struct wk_thread *t);
	void (*faults)(struct wk_thread *t); /* until wk_stopped */
	/* Map changes, each returning the calls that failed: churn maps,
	 * splits by mprotect and unmaps a slot; pair maps a page into the
	 * hole after area i and unmaps it; split cuts area i in three by
	 * mprotect of its middle page and merges it back. */
	unsigned (*churn)(void *space, unsigned slot);
	unsigned (*pair)(void *space, uint64_t i);
	unsigned (*split)(void *space, uint64_t i);
	/* fallbacks and retries since the last call (NULL: not counted) */
	void (*counters)(void *space, double *v);
	int (*memory)(const struct bench_opts *p, struct wk_result *r);
};
extern const struct wk_side wk_uvma, wk_kernel;

#endif
