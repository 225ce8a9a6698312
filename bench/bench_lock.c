/*
 * bench_lock.c - the "lock" scenario: what the per-VMA lock costs a fault,
 * among N areas (default 10000) of 1..4 pages, at random addresses inside
 * them: "lookup" is the floor (RCU read lock, tree lookup, unlock), what a
 * fault pays with no lock at all; "lock+unlock" is uvma_vma_lock and
 * uvma_vma_unlock (goal: within 1.25 of the lookup); "fault" is uvma_fault
 * without a handler. Addresses depending on the previous result came out
 * the same: the lookup is latency-bound already. Two threads on their own
 * areas or on one are the design comparison's fault and hot scenarios.
 */
#include "bench.h"
#include "mm.h"
#include "rcu.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define LOCK_BASE (UINT64_C(1) << 32)
#define PAGE	  4096u

enum { LOOKUP, LOCK, FAULT, NROWS };
static const char *const row_names[NROWS] = { "lookup", "lock+unlock",
					      "fault" };

static volatile uintptr_t sink;

/* n areas of 1..4 pages with one-page holes between them, so that none
 * merges, and nops random addresses inside them. */
static int setup(struct uvma_mm *mm, uint64_t n, uint64_t *addrs, uint64_t nops,
		 uint64_t *rng)
{
	uint64_t *start = malloc((n + 1) * sizeof(*start)), a;
	int err = start ? 0 : -1;

	for (uint64_t i = 0, at = LOCK_BASE; i < n && !err; i++) {
		uint64_t len = (1 + bench_rand_below(rng, 4)) * PAGE;

		err = uvma_mmap(mm, at, len, UVMA_PROT_READ | UVMA_PROT_WRITE,
				UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS |
					UVMA_MAP_FIXED,
				0, 0, NULL, NULL);
		start[i] = at;
		at += len + PAGE;
		start[i + 1] = at;
	}
	for (uint64_t i = 0; i < nops && !err; i++) {
		a = bench_rand_below(rng, n);
		addrs[i] =
			start[a] +
			bench_rand_below(rng, start[a + 1] - start[a] - PAGE);
	}
	free(start);
	return err;
}

/* ns of nops operations, or 0 when one missed its area. */
static uint64_t run_ops(struct uvma_mm *mm, const uint64_t *addrs,
			uint64_t nops, int op)
{
	uint64_t t0 = bench_now_ns(), bad = 0;
	struct tree_entry e;
	struct uvma_vma *v;

	for (uint64_t i = 0; i < nops; i++) {
		switch (op) {
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
	if (!bad)
		return bench_now_ns() - t0;
	fprintf(stderr, "bench: %" PRIu64 " operations missed their area\n",
		bad);
	return 0;
}

static int run_size(const struct bench_opts *o, struct bench_report *rep,
		    uint64_t n, uint64_t *rng)
{
	uint64_t *addrs = malloc(o->ops * sizeof(*addrs)), t;
	struct uvma_mm *mm = NULL;
	double ns[NROWS];
	int err = !addrs || uvma_mm_create(NULL, &mm) ||
		  setup(mm, n, addrs, o->ops, rng);

	if (err)
		fprintf(stderr, "bench: cannot map %" PRIu64 " areas\n", n);
	for (unsigned r = 0; r < o->repeat && !err; r++) {
		for (int k = 0; k < NROWS && !err; k++) {
			t = run_ops(mm, addrs, o->ops, k);
			ns[k] = (double)t / (double)o->ops;
			err = !t;
		}
		for (int k = 0; k < NROWS && !err; k++)
			err = bench_run_ns(rep, "lock", row_names[k], n, ns[k],
					   k ? ns[LOOKUP] : -1);
	}
	if (mm)
		uvma_mm_destroy(mm);
	free(addrs);
	return err;
}

void bench_lock_goals(const struct bench_opts *o, struct bench_report *rep)
{
	(void)o;
	for (const struct bench_row *r = rep->rows; r < rep->rows + rep->nrows;
	     r++)
		if (!strcmp(r->name, "lock+unlock") && r->ratio >= 0)
			bench_note(rep,
				   "goal at %" PRIu64 " areas: lock+unlock "
				   "within 25%% of the lookup: %.2fx, %s",
				   r->size, r->ratio,
				   BENCH_VERDICT(r->ratio <= 1.25));
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
		err = run_size(o, rep, sizes[i], &rng);
	}
	return err;
}
