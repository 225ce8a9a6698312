/*
 * bench_lock.c - the "lock" scenario: what the per-VMA lock costs a fault.
 *
 * Per size N (default 10000 areas of 1..4 pages with 1-page holes), random
 * addresses inside areas, so every operation hits:
 *   lookup        RCU read lock, tree lookup, RCU unlock: the floor, what a
 *                 fault pays with no lock at all
 *   lock+unlock   uvma_vma_lock + uvma_vma_unlock: lookup, vma_start_read,
 *                 range check, vma_end_read (ratio against lookup: the lock's
 *                 overhead, goal <= 1.25)
 *   fault         uvma_fault with no handler: the above plus the protection
 *                 check and the counters
 *   dep lookup    lookup and lock+unlock again, each address depending on
 *   dep lock      the previous result: one fault's latency rather than
 *                 the throughput of independent ones, whose cache misses
 *                 the CPU overlaps unless atomic instructions stand between
 *   look 2t diff  two threads, each looking up / locking its own half of
 *   lock 2t diff  the areas
 *   look 2t same  two threads looking up / locking the same area (the lock
 *   lock 2t same  rows then share one count)
 * The two-thread rows report each thread's ns per operation (median over
 * threads and repeats); the lock rows against the lookup rows of the same
 * threads, so that what the two cores share anyway (caches, memory) is in
 * the floor and the ratio is what the lock adds.
 */
#include "bench.h"
#include "mm.h"
#include "rcu.h"
#include "vma.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define LOCK_BASE (UINT64_C(1) << 32)
#define PAGE	  4096u

static volatile uintptr_t sink;

enum lock_op { OP_LOOKUP, OP_LOCK, OP_FAULT, OP_DEP_LOOKUP, OP_DEP_LOCK };

/* Always 0, but the compiler cannot know: ANDed with a result, it makes the
 * next address depend on it, so iterations cannot overlap. */
static volatile uint64_t zero_mask;

struct lock_run {
	struct uvma_mm *mm;
	uint64_t nops;	   /* operations per thread per measurement */
	uint64_t *all;	   /* one thread: addresses in any area */
	uint64_t *half[2]; /* two threads: even areas, odd areas */
	uint64_t *same;	   /* two threads: one address, nops times */
};

static int map_areas(struct uvma_mm *mm, size_t n, uint64_t *rng,
		     uint64_t *starts, uint64_t *ends)
{
	uint64_t cur = LOCK_BASE;
	int err = 0;

	for (size_t i = 0; i < n && !err; i++) {
		uint64_t len = (1 + bench_rand_below(rng, 4)) * PAGE;

		starts[i] = cur;
		ends[i] = cur + len;
		err = uvma_mmap(mm, cur, len, UVMA_PROT_READ | UVMA_PROT_WRITE,
				UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS |
					UVMA_MAP_FIXED_NOREPLACE,
				0, 0, NULL, NULL);
		cur = ends[i] + PAGE;
	}
	return err;
}

/* Addresses inside areas whose index is congruent to part mod stride. */
static void gen_addrs(uint64_t *out, uint64_t nops, const uint64_t *starts,
		      const uint64_t *ends, size_t n, unsigned part,
		      unsigned stride, uint64_t *rng)
{
	for (uint64_t i = 0; i < nops; i++) {
		size_t a = bench_rand_below(rng,
					    (n - part + stride - 1) / stride) *
				   stride +
			   part;

		out[i] = starts[a] + bench_rand_below(rng, ends[a] - starts[a]);
	}
}

static uint64_t run_ops(struct uvma_mm *mm, const uint64_t *addrs,
			uint64_t nops, enum lock_op op)
{
	uint64_t t0 = bench_now_ns(), bad = 0, dep = 0, mask = zero_mask;
	struct tree_entry e;
	struct uvma_vma *v;

	for (uint64_t i = 0; i < nops; i++) {
		switch (op) {
		case OP_DEP_LOOKUP:
			rcu_read_enter();
			bad += !tree_find(&mm->tree, addrs[i] + (dep & mask),
					  &e);
			dep = (uintptr_t)e.ptr;
			rcu_read_exit();
			break;
		case OP_DEP_LOCK:
			v = uvma_vma_lock(mm, addrs[i] + (dep & mask));
			bad += !v;
			dep = (uintptr_t)v;
			if (v)
				uvma_vma_unlock(v);
			break;
		case OP_LOOKUP:
			rcu_read_enter();
			bad += !tree_find(&mm->tree, addrs[i], &e);
			sink ^= (uintptr_t)e.ptr;
			rcu_read_exit();
			break;
		case OP_LOCK:
			v = uvma_vma_lock(mm, addrs[i]);
			bad += !v;
			if (v) {
				sink ^= (uintptr_t)v;
				uvma_vma_unlock(v);
			}
			break;
		case OP_FAULT:
			bad += uvma_fault(mm, addrs[i], UVMA_ACCESS_READ) != 0;
			break;
		}
	}
	sink ^= dep;
	if (bad) {
		fprintf(stderr, "bench: %llu operations missed their area\n",
			(unsigned long long)bad);
		return 0;
	}
	return bench_now_ns() - t0;
}

struct thread_arg {
	struct lock_run *run;
	enum lock_op op;
	const uint64_t *addrs;
	pthread_barrier_t *start;
	uint64_t ns;
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;

	/* Registration and the slot of the counters happen outside the
	 * timed loop, as they would in a long-running program. */
	run_ops(a->run->mm, a->addrs, 1, OP_LOCK);
	pthread_barrier_wait(a->start);
	a->ns = run_ops(a->run->mm, a->addrs, a->run->nops, a->op);
	return NULL;
}

/* Two threads; per-thread ns/op of both into out[0..1]. Returns 0 or -1. */
static int run_two(struct lock_run *run, enum lock_op op,
		   const uint64_t *addrs0, const uint64_t *addrs1, double *out)
{
	pthread_barrier_t start;
	struct thread_arg a[2] = { { run, op, addrs0, &start, 0 },
				   { run, op, addrs1, &start, 0 } };
	pthread_t t[2];
	int ret = 0;

	pthread_barrier_init(&start, NULL, 2);
	for (int i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, thread_main, &a[i]))
			return -1; /* only at startup: nothing to undo */
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	for (int i = 0; i < 2; i++) {
		if (!a[i].ns)
			ret = -1;
		out[i] = (double)a[i].ns / (double)run->nops;
	}
	return ret;
}

/* The first rows are the one-thread enum lock_op values, in that order. */
enum {
	ROW_LOOKUP,
	ROW_LOCK,
	ROW_FAULT,
	ROW_DEP_LOOKUP,
	ROW_DEP_LOCK,
	ROW_LOOKUP_DIFF,
	ROW_DIFF,
	ROW_LOOKUP_SAME,
	ROW_SAME,
	NROWS
};
static const char *const row_names[NROWS] = {
	"lookup",	"lock+unlock",	"fault",
	"dep lookup",	"dep lock",	"look 2t diff",
	"lock 2t diff", "look 2t same", "lock 2t same",
};

static int measure(struct lock_run *run, const struct bench_opts *o,
		   double *med)
{
	unsigned r, rep = o->repeat;
	double *s[NROWS];
	int err = 0;

	for (int k = 0; k < NROWS; k++) {
		s[k] = calloc(2 * rep, sizeof(double));
		if (!s[k])
			err = -1;
	}
	for (r = 0; r < rep && !err; r++) {
		uint64_t ns[ROW_DEP_LOCK + 1];

		for (int k = OP_LOOKUP; k <= OP_DEP_LOCK; k++) {
			ns[k] = run_ops(run->mm, run->all, run->nops,
					(enum lock_op)k);
			if (!ns[k])
				err = -1;
			s[k][r] = (double)ns[k] / (double)run->nops;
		}
		if (run_two(run, OP_LOOKUP, run->half[0], run->half[1],
			    &s[ROW_LOOKUP_DIFF][2 * r]) ||
		    run_two(run, OP_LOCK, run->half[0], run->half[1],
			    &s[ROW_DIFF][2 * r]) ||
		    run_two(run, OP_LOOKUP, run->same, run->same,
			    &s[ROW_LOOKUP_SAME][2 * r]) ||
		    run_two(run, OP_LOCK, run->same, run->same,
			    &s[ROW_SAME][2 * r]))
			err = -1;
		bench_progress("lock: repeat %u/%u", r + 1, rep);
	}
	for (int k = 0; k < NROWS; k++) {
		if (!err)
			med[k] = bench_median(
				s[k], k >= ROW_LOOKUP_DIFF ? 2 * rep : rep);
		free(s[k]);
	}
	return err;
}

static double row_floor(const double *med, int k)
{
	switch (k) {
	case ROW_LOCK:
	case ROW_FAULT:
		return med[ROW_LOOKUP];
	case ROW_DEP_LOCK:
		return med[ROW_DEP_LOOKUP];
	case ROW_DIFF:
		return med[ROW_LOOKUP_DIFF];
	case ROW_SAME:
		return med[ROW_LOOKUP_SAME];
	default:
		return -1; /* the floors themselves */
	}
}

static int report(struct bench_report *rep, const struct bench_opts *o,
		  size_t n, const double *med)
{
	for (int k = 0; k < NROWS; k++) {
		struct bench_result res = {
			.scenario = "lock",
			.op = row_names[k],
			.size = n,
			.ns_per_op = med[k],
			.floor_ns_per_op = row_floor(med, k),
			.repeats = o->repeat,
		};
		if (bench_report_add(rep, &res))
			return -1;
	}
	bench_note(rep,
		   "goal at %zu areas: lock+unlock within 25%% of the lookup: "
		   "%.2fx, %s (one after another, dependent: %.2fx)\n",
		   n, med[ROW_LOCK] / med[ROW_LOOKUP],
		   med[ROW_LOCK] <= 1.25 * med[ROW_LOOKUP] ? "met" : "NOT met",
		   med[ROW_DEP_LOCK] / med[ROW_DEP_LOOKUP]);
	return 0;
}

static void run_free(struct lock_run *run)
{
	if (run->mm)
		uvma_mm_destroy(run->mm);
	free(run->all);
	free(run->half[0]);
	free(run->half[1]);
	free(run->same);
}

static int run_size(const struct bench_opts *o, struct bench_report *rep,
		    size_t n, uint64_t *rng)
{
	struct lock_run run = { .nops = o->ops };
	uint64_t *starts = calloc(n, sizeof(*starts));
	uint64_t *ends = calloc(n, sizeof(*ends));
	double med[NROWS];
	int err = -1;

	run.all = calloc(o->ops, sizeof(uint64_t));
	run.half[0] = calloc(o->ops, sizeof(uint64_t));
	run.half[1] = calloc(o->ops, sizeof(uint64_t));
	run.same = calloc(o->ops, sizeof(uint64_t));
	if (!starts || !ends || !run.all || !run.half[0] || !run.half[1] ||
	    !run.same || uvma_mm_create(NULL, &run.mm)) {
		fprintf(stderr, "bench: out of memory\n");
		goto out;
	}
	if (map_areas(run.mm, n, rng, starts, ends)) {
		fprintf(stderr, "bench: cannot map %zu areas\n", n);
		goto out;
	}
	gen_addrs(run.all, o->ops, starts, ends, n, 0, 1, rng);
	gen_addrs(run.half[0], o->ops, starts, ends, n, 0, 2, rng);
	gen_addrs(run.half[1], o->ops, starts, ends, n, 1, 2, rng);
	for (uint64_t i = 0; i < o->ops; i++)
		run.same[i] = starts[n / 2];
	err = measure(&run, o, med);
	if (!err)
		err = report(rep, o, n, med);
out:
	run_free(&run);
	free(starts);
	free(ends);
	return err;
}

int bench_lock(const struct bench_opts *o, struct bench_report *rep)
{
	static const size_t default_size = 10000;
	const size_t *sizes = o->sizes_given ? o->sizes : &default_size;
	size_t nsizes = o->sizes_given ? o->nsizes : 1;
	uint64_t rng = o->seed;

	snprintf(rep->title, sizeof(rep->title),
		 "lock: per-VMA read lock under RCU, %llu ops per row, median "
		 "of %u",
		 (unsigned long long)o->ops, o->repeat);
	for (size_t i = 0; i < nsizes; i++) {
		if (sizes[i] < 2) {
			fprintf(stderr, "bench: lock needs at least 2 areas\n");
			return -1;
		}
		bench_progress("lock: %zu areas", sizes[i]);
		if (run_size(o, rep, sizes[i], &rng))
			return -1;
	}
	return 0;
}
