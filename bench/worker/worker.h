/*
 * worker.h - a measurement of the design comparison (bench_designs.c), in
 * a process of its own, so that one design's heap, pool and RCU threads do
 * not weigh on the next: uvma-bench-refcount, -rwsem and -global are these
 * sources linked with the library built three ways (src/design.h), the
 * kernel design runs in uvma-bench-refcount. A worker takes `uvma bench`'s
 * flags and writes struct wk_result records to stdout (the same sources
 * build both ends); exit status 0, 1 when a measurement failed, 2 on a
 * usage error. worker_main.c runs the threads and timed phases alike for
 * both sides, the library (worker_uvma.c) and the running kernel
 * (worker_kernel.c), which the ops scenario (bench_ops.c) runs in-process.
 */
#ifndef UVMA_BENCH_WORKER_H
#define UVMA_BENCH_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "bench.h"

/* Each fault thread times one fault in WK_SAMPLE_EVERY (timing every one
 * would cost more than a uvma fault), up to WK_LAT_CAP of them. */
#define WK_SAMPLE_EVERY 16
#define WK_LAT_CAP	(1u << 20)
#define WK_CHURN_SLOTS	64 /* of the churn mapper, used in turn */

/* A measurement: counts start at 0, the other metrics at -1. */
struct wk_result {
	uint64_t areas;
	double v[BM_N];
};

static inline void wk_result_init(struct wk_result *r, uint64_t areas)
{
	r->areas = areas;
	for (int m = 0; m < BM_N; m++)
		r->v[m] = -1;
	r->v[BM_FALLBACKS] = r->v[BM_RETRIES] = r->v[BM_ERRORS] = 0;
}

/* Whether the space grows size after size (scale, memory, ops) in areas
 * of one page, or of three for ops, read-only, which splits them at their
 * middle page by making it writable. */
static inline bool wk_grows(const struct bench_opts *p)
{
	return strcmp(p->scenario, "fault") && strcmp(p->scenario, "churn") &&
	       strcmp(p->scenario, "hot");
}

/* The map-change micro-benchmarks (ops, dup): areas of 3 pages, read-only
 * (never written, so the kernel's have no anon_vma to copy either). */
static inline bool wk_ops(const struct bench_opts *p)
{
	return !strcmp(p->scenario, "ops") || !strcmp(p->scenario, "dup");
}

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
	uint64_t ns;   /* of the timed part, when a side sets it; 0: the loop */
	uint32_t *lat; /* nlat samples, ns capped at UINT32_MAX */
	size_t nlat;
	void *own; /* the side's per-thread state */
} __attribute__((aligned(64)));

static inline void wk_lat_add(struct wk_thread *t, uint64_t ns)
{
	if (t->nlat < WK_LAT_CAP)
		t->lat[t->nlat++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

/* A side. The int functions return 0, or nonzero after saying why. */
struct wk_side {
	/* The space (NULL: a new one) with the scenario's areas up to *n
	 * (hot: one) and, but for wk_grows, room for the churn mapper; > 0:
	 * no room for them. */
	int (*map)(const struct bench_opts *p, void **space, uint64_t *n);
	void (*destroy)(void *space); /* NULL: nothing */
	/* t->own, which is freed after the phase; may be NULL */
	int (*thread_init)(struct wk_thread *t);
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

/* The address space behind a space of wk_uvma (the dup scenario). */
struct uvma_mm;
struct uvma_mm *wk_uvma_mm(void *space);

#endif
