/*
 * bench_lock.c - the "lock" scenario: what the per-VMA lock costs a fault.
 *
 * Per size N (default 10000 areas of 1..4 pages with 1-page holes), random
 * addresses inside areas, so every operation hits:
 *   lookup        RCU read lock, tree lookup, RCU unlock: the floor, what a
 *                 fault pays with no lock at all
 *   lock+unlock   uvma_vma_lock + uvma_vma_unlock (ratio against lookup:
 *                 the lock's overhead, goal <= 1.25)
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
 * The two-thread rows have a run per thread, against the floor's same
 * thread, so that what the two cores share anyway (caches, memory) is in
 * the floor and the ratio is what the lock adds.
 */
#include "bench.h"
#include "mm.h"
#include "rcu.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define LOCK_BASE (UINT64_C(1) << 32)
#define PAGE	  4096u

/* The first rows are the one-thread operations, in this order. */
enum { LOOKUP, LOCK, FAULT, DEP_LOOKUP, DEP_LOCK, ROW_2T, NROWS = ROW_2T + 4 };
static const char *const row_names[NROWS] = {
	"lookup",	"lock+unlock",	"fault",
	"dep lookup",	"dep lock",	"look 2t diff",
	"lock 2t diff", "look 2t same", "lock 2t same",
};
/* The row each row's ratio is against; -1: the floors themselves. */
static const int floor_of[NROWS] = { -1, 0, 0, -1, 3, -1, 5, -1, 7 };

static volatile uintptr_t sink;
/* Always 0, but the compiler cannot know: ANDed with a result, it makes the
 * next address depend on it, so iterations cannot overlap. */
static volatile uint64_t zero_mask;

/* What the threads of a size share. */
struct lock_run {
	struct uvma_mm *mm;
	uint64_t nops;	 /* operations per thread per measurement */
	uint64_t *addrs; /* [0]: any area; [1], [2]: even, odd areas; [3]:
			  * one address; nops each */
	pthread_barrier_t start;
};

/* nops addresses inside random areas of index part mod step. */
static void gen_addrs(uint64_t *out, uint64_t nops, const uint64_t *start,
		      uint64_t n, unsigned part, unsigned step, uint64_t *rng)
{
	for (uint64_t i = 0; i < nops; i++) {
		uint64_t a =
			bench_rand_below(rng, (n - part + step - 1) / step) *
				step +
			part;

		out[i] = start[a] +
			 bench_rand_below(rng, start[a + 1] - PAGE - start[a]);
	}
}

/* n areas of 1..4 pages with one-page holes between them, so that none
 * merges (area i from start[i] to start[i + 1] - PAGE); the addresses of
 * every kind inside them. */
static int setup(struct lock_run *run, uint64_t n, uint64_t *rng)
{
	uint64_t *start = malloc((n + 1) * sizeof(*start)), *a = run->addrs;
	int err = start ? 0 : -1;

	for (uint64_t i = 0, at = LOCK_BASE; i < n && !err; i++) {
		uint64_t len = (1 + bench_rand_below(rng, 4)) * PAGE;

		err = uvma_mmap(
			run->mm, at, len, UVMA_PROT_READ | UVMA_PROT_WRITE,
			UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS | UVMA_MAP_FIXED,
			0, 0, NULL, NULL);
		start[i] = at;
		at += len + PAGE;
		start[i + 1] = at;
	}
	if (!err) {
		gen_addrs(a, run->nops, start, n, 0, 1, rng);
		gen_addrs(a + run->nops, run->nops, start, n, 0, 2, rng);
		gen_addrs(a + 2 * run->nops, run->nops, start, n, 1, 2, rng);
		for (uint64_t i = 0; i < run->nops; i++)
			a[3 * run->nops + i] = start[n / 2];
	}
	free(start);
	return err;
}

/* ns of nops operations, or 0 when one missed its area. */
static uint64_t run_ops(struct uvma_mm *mm, const uint64_t *addrs,
			uint64_t nops, int op)
{
	uint64_t t0 = bench_now_ns(), bad = 0, dep = 0, mask = zero_mask;
	struct tree_entry e;
	struct uvma_vma *v;

	for (uint64_t i = 0; i < nops; i++) {
		switch (op) {
		case DEP_LOOKUP:
			rcu_read_enter();
			bad += !tree_find(&mm->tree, addrs[i] + (dep & mask),
					  &e);
			dep = (uintptr_t)e.ptr;
			rcu_read_exit();
			break;
		case DEP_LOCK:
			v = uvma_vma_lock(mm, addrs[i] + (dep & mask));
			bad += !v;
			dep = (uintptr_t)v;
			if (v)
				uvma_vma_unlock(v);
			break;
		case LOOKUP:
			rcu_read_enter();
			bad += !tree_find(&mm->tree, addrs[i], &e);
			sink ^= (uintptr_t)e.ptr;
			rcu_read_exit();
			break;
		case LOCK:
			v = uvma_vma_lock(mm, addrs[i]);
			bad += !v;
			if (v) {
				sink ^= (uintptr_t)v;
				uvma_vma_unlock(v);
			}
			break;
		case FAULT:
			bad += uvma_fault(mm, addrs[i], UVMA_ACCESS_READ) != 0;
			break;
		}
	}
	sink ^= dep;
	if (!bad)
		return bench_now_ns() - t0;
	fprintf(stderr, "bench: %" PRIu64 " operations missed their area\n",
		bad);
	return 0;
}

struct thread_arg {
	struct lock_run *run;
	int op;
	const uint64_t *addrs;
	uint64_t ns;
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;

	/* Registration and the slot of the counters happen outside the
	 * timed loop, as they would in a long-running program. */
	run_ops(a->run->mm, a->addrs, 1, LOCK);
	pthread_barrier_wait(&a->run->start);
	a->ns = run_ops(a->run->mm, a->addrs, a->run->nops, a->op);
	return NULL;
}

/* Two threads on addresses from a0 and a1: each one's ns/op into ns[0..1];
 * 0 or -1. */
static int run_two(struct lock_run *run, int op, const uint64_t *a0,
		   const uint64_t *a1, double *ns)
{
	struct thread_arg a[2] = { { run, op, a0, 0 }, { run, op, a1, 0 } };
	pthread_t t[2];

	for (int i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, thread_main, &a[i]))
			return -1; /* only at startup: nothing to undo */
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		ns[i] = (double)a[i].ns / (double)run->nops;
	}
	return a[0].ns && a[1].ns ? 0 : -1;
}

/* One repeat: ns per operation of every row, [1] the second thread's. */
static int measure_once(struct lock_run *run, double (*ns)[2])
{
	const uint64_t *all = run->addrs, *even = all + run->nops,
		       *odd = even + run->nops, *same = odd + run->nops;

	for (int k = 0; k < ROW_2T; k++) {
		uint64_t t = run_ops(run->mm, all, run->nops, k);

		if (!t)
			return -1;
		ns[k][0] = (double)t / (double)run->nops;
	}
	return run_two(run, LOOKUP, even, odd, ns[ROW_2T]) ||
	       run_two(run, LOCK, even, odd, ns[ROW_2T + 1]) ||
	       run_two(run, LOOKUP, same, same, ns[ROW_2T + 2]) ||
	       run_two(run, LOCK, same, same, ns[ROW_2T + 3]);
}

static int run_size(const struct bench_opts *o, struct bench_report *rep,
		    uint64_t n, uint64_t *rng)
{
	struct lock_run run = { .nops = o->ops };
	double ns[NROWS][2];
	int err;

	run.addrs = malloc(4 * o->ops * sizeof(*run.addrs));
	err = !run.addrs || uvma_mm_create(NULL, &run.mm) ||
	      setup(&run, n, rng);
	if (err)
		fprintf(stderr, "bench: cannot map %" PRIu64 " areas\n", n);
	pthread_barrier_init(&run.start, NULL, 2);
	for (unsigned r = 0; r < o->repeat && !err; r++) {
		err = measure_once(&run, ns);
		for (int i = 0; i < 2; i++)
			for (int k = i ? ROW_2T : 0; k < NROWS && !err; k++)
				err = bench_run_ns(
					rep, "lock", row_names[k],
					k < ROW_2T ? 1 : 2, n, ns[k][i],
					floor_of[k] < 0 ? -1
							: ns[floor_of[k]][i]);
	}
	pthread_barrier_destroy(&run.start);
	if (run.mm)
		uvma_mm_destroy(run.mm);
	free(run.addrs);
	return err;
}

void bench_lock_goals(const struct bench_opts *o, struct bench_report *rep)
{
	(void)o;
	for (size_t i = 0; i < rep->nrows; i++) {
		const struct bench_row *r = &rep->rows[i], *dep;

		if (strcmp(r->name, "lock+unlock") || r->ratio < 0)
			continue;
		dep = bench_find(rep, "lock", "dep lock", 0, r->size);
		bench_note(rep,
			   "goal at %" PRIu64 " areas: lock+unlock within 25%% "
			   "of the lookup: %.2fx, %s (one after another, "
			   "dependent: %.2fx)",
			   r->size, r->ratio, BENCH_VERDICT(r->ratio <= 1.25),
			   dep ? dep->ratio : -1);
	}
}

int bench_lock(const struct bench_opts *o, struct bench_report *rep)
{
	static const uint64_t default_size = 10000;
	const uint64_t *sizes = o->nsizes ? o->sizes : &default_size;
	uint64_t rng = o->seed;
	int err = 0;

	snprintf(rep->title, sizeof(rep->title),
		 "lock: per-VMA read lock under RCU, %" PRIu64
		 " ops per row, median of %u",
		 o->ops, o->repeat);
	for (size_t i = 0; i < (o->nsizes ? o->nsizes : 1) && !err; i++) {
		bench_progress("lock: %" PRIu64 " areas", sizes[i]);
		if (sizes[i] < 2)
			fprintf(stderr, "bench: lock needs at least 2 areas\n");
		err = sizes[i] < 2 ? -1 : run_size(o, rep, sizes[i], &rng);
	}
	return err;
}
