/*
 * race_dup_fault.c - a fault in the parent during a duplication
 * (docs/design.md section 10; docs/races.md).
 *
 * Linux 6.4 shipped per-VMA locks without write-locking the parent's VMAs
 * in dup_mmap: a fault under a VMA's read lock could add a page to an area
 * the fork had already copied, and the child never saw it (kernel bugzilla
 * 217624; fixed by write-locking every parent VMA before it is copied).
 * Here what a fault builds is the area's "page table", a byte per page
 * hanging off the area's user pointer, filled by the space's fault handler
 * under the area's read lock and copied by uvma_mm_dup's copy callback.
 *
 * W is the main thread (uvma_mm_dup), R a fault thread. Each round, a few
 * areas in one space, one of them the victim V:
 *   W  uvma_mm_dup copies V's page table (copy callback), then stops
 *      (HOOK_DUP_COPIED for V) and lets R go
 *   R  a write fault at a page P of V that no fault has filled:
 *        real:   V is write-locked: the fault falls back to mmap_lock,
 *                which the dup holds, and waits
 *        broken: the read lock is taken, the handler fills P, the fault
 *                returns while the dup is still running
 *   W  waits up to 50 ms for R's fault to return, then lets the dup end
 *   check: a fault that returned before the dup did must be in the
 *   child's copy (it happened before the fork as far as both threads can
 *   tell); the broken variant's is not: VIOLATION. The real library's
 *   fault returns after the dup, through the fallback, and P is the
 *   parent's alone, as after a fork.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "race_util.h"

#define AREAS 4
#define PAGES 16

struct table {
	_Atomic unsigned char present[PAGES];
	uint64_t start;
};

enum step {
	STEP_IDLE,
	STEP_COPIED,  /* W: V is copied, the dup stopped */
	STEP_FAULTED, /* R: its fault returned */
	STEP_QUIT,
};

static _Atomic int step;
static _Atomic bool faulted_during_dup;
static struct uvma_mm *mm;
static struct table tables[AREAS];
static struct race_range ranges[AREAS];
static unsigned victim;
static uint64_t fault_addr;
static uint64_t cur_round;

static int fill(const struct uvma_fault *f)
{
	struct table *t = f->user;

	atomic_store(&t->present[(f->addr - t->start) / RACE_PAGE], 1);
	return 0;
}

static int copy_table(const struct uvma_area_info *parent, void **child_user,
		      void *arg)
{
	const struct table *src = parent->user;
	struct table *t = malloc(sizeof(*t));

	(void)arg;
	CHECK(t != NULL);
	t->start = src->start;
	for (unsigned p = 0; p < PAGES; p++)
		atomic_store(&t->present[p], atomic_load(&src->present[p]));
	*child_user = t;
	return 0;
}

static void undo_table(void *child_user, void *arg)
{
	(void)arg;
	free(child_user);
}

/* W, stopped in the dup right after V's copy: R's turn, for a while. */
static void on_copied(struct uvma_vma *vma)
{
	struct timespec t0, now;

	if (vma->user != &tables[victim])
		return;
	atomic_store(&step, STEP_COPIED);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		if (atomic_load(&step) == STEP_FAULTED) {
			/* The fault returned while the dup is stopped. */
			atomic_store(&faulted_during_dup, true);
			return;
		}
		sched_yield();
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - t0.tv_sec) * 1000000000ll +
			 (now.tv_nsec - t0.tv_nsec) <
		 50000000ll);
}

static void hook(enum hook_point point, struct uvma_mm *hmm,
		 struct uvma_vma *vma)
{
	if (hmm == mm && point == HOOK_DUP_COPIED)
		on_copied(vma);
}

static void *faulter(void *arg)
{
	(void)arg;
	for (;;) {
		struct race_wait w;
		int s;

		race_wait_start(&w);
		while ((s = atomic_load(&step)) != STEP_COPIED &&
		       s != STEP_QUIT)
			race_wait_step(&w, "R waits for the dup to stop");
		if (s == STEP_QUIT)
			return NULL;
		CHECK_EQ_U64(uvma_fault(mm, fault_addr, UVMA_ACCESS_WRITE), 0);
		atomic_store(&step, STEP_FAULTED);
	}
}

static int check_child_area(const struct uvma_area_info *a, void *arg)
{
	const struct table *t = a->user;

	(void)arg;
	for (unsigned k = 0; k < AREAS; k++) {
		if (a->start != ranges[k].start)
			continue;
		for (unsigned p = 0; p < PAGES; p++) {
			uint64_t addr = ranges[k].start + p * RACE_PAGE;
			bool parent = atomic_load(&tables[k].present[p]);
			bool child = atomic_load(&t->present[p]);
			bool late = k == victim && addr == fault_addr &&
				    !atomic_load(&faulted_during_dup);

			if (parent != child && !late)
				race_violation(
					"round %" PRIu64 ": page %#" PRIx64
					" is %s the parent's table but %s "
					"the child's: a fault that returned "
					"before the dup did landed after "
					"its area was copied",
					cur_round, addr,
					parent ? "in" : "not in",
					child ? "in" : "not in");
		}
	}
	free(a->user);
	return 0;
}

static void run_round(uint64_t round)
{
	const struct uvma_dup_ops ops = { copy_table, undo_table, NULL };
	struct uvma_fault_stats before, after;
	struct uvma_mm *child;
	uint64_t page;

	cur_round = round;
	for (unsigned i = 0; i < AREAS; i++) {
		uint64_t start = RACE_SLOT_BASE + i * RACE_SLOT_BYTES +
				 rng_below(4096) * RACE_PAGE,
			 out;

		CHECK_EQ_U64(uvma_mmap(mm, start, PAGES * RACE_PAGE,
				       UVMA_PROT_READ | UVMA_PROT_WRITE,
				       UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS |
					       UVMA_MAP_FIXED,
				       0, 0, &tables[i], &out),
			     0);
		ranges[i].start = start;
		ranges[i].end = start + PAGES * RACE_PAGE;
		memset(&tables[i], 0, sizeof(tables[i]));
		tables[i].start = start;
		for (unsigned p = 0; p < PAGES; p++)
			if (rng_chance(1, 3))
				CHECK_EQ_U64(uvma_fault(mm,
							start + p * RACE_PAGE,
							UVMA_ACCESS_WRITE),
					     0);
	}
	victim = (unsigned)rng_below(AREAS);
	do
		page = rng_below(PAGES);
	while (atomic_load(&tables[victim].present[page]));
	fault_addr = ranges[victim].start + page * RACE_PAGE;
	uvma_mm_fault_stats(mm, &before);

	atomic_store(&faulted_during_dup, false);
	hook_set(hook);
	CHECK_EQ_U64(uvma_mm_dup(mm, &ops, &child), 0);
	race_wait_for(&step, STEP_FAULTED, "W waits for R's fault to return");
	hook_set(NULL);
	atomic_store(&step, STEP_IDLE);

	CHECK(atomic_load(&tables[victim].present[page]));
	CHECK_EQ_U64(uvma_maps(child, 0, UINT64_MAX, check_child_area, NULL),
		     0);
	uvma_mm_destroy(child);
	uvma_mm_fault_stats(mm, &after);
	if (!race_violations()) {
		/* The real library: the fault waited, through the
		 * fallback, and returned after the dup. */
		CHECK(!atomic_load(&faulted_during_dup));
		CHECK_EQ_U64(after.fallback, before.fallback + 1);
	}
	for (unsigned i = 0; i < AREAS; i++)
		CHECK_EQ_U64(
			uvma_munmap(mm, ranges[i].start, PAGES * RACE_PAGE), 0);
}

int main(int argc, char **argv)
{
	uint64_t rounds = test_scaled(40, 10), round;
	pthread_t r;

	race_begin("race_dup_fault", argc, argv, rounds);
	mm = test_mm(fill, NULL);
	CHECK(pthread_create(&r, NULL, faulter, NULL) == 0);
	for (round = 0; round < rounds && !race_violations(); round++)
		run_round(round);
	atomic_store(&step, STEP_QUIT);
	CHECK(pthread_join(r, NULL) == 0);
	uvma_mm_destroy(mm);
	return race_finish(round, "every fault during a dup waited for it");
}
