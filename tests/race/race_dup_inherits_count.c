/*
 * race_dup_inherits_count.c - a duplicated VMA that inherits its source's
 * count (docs/design.md section 4 and H2: a copy is made field by field,
 * never with the lock fields).
 *
 * A split (mprotect of part of an area) and a move (mremap) give the new
 * pieces objects that are copies of the area they were cut from (vma_dup,
 * run by the plan engine). The copy comes from the pool, and that object
 * may be one a stale reader still points at: a VMA freed moments ago,
 * found in the tree before it was unlinked. Born detached (count 0), the
 * copy turns that reader away ("stale": look again). Copied whole, lock
 * fields included, it carries the source's count (its attach reference)
 * and lock_seq: to the stale reader it looks attached and unlocked before
 * it is in any tree, so the reader locks it; and if the copy has already
 * been given the address the reader faulted on (a move onto it), the fault
 * returns it.
 *
 * R is the main thread (a fault), W a writer thread; only public calls
 * change the map. Each round, areas A and B in one space:
 *   R  uvma_vma_lock(mm, b) finds B under RCU    (HOOK_LOOKUP_FOUND)
 *      and, in the hook, uvma_munmap(B): B's object goes back to the pool;
 *      then lets W go and waits for it
 *   W  even rounds: uvma_mprotect of A's middle page (a split into three);
 *      odd rounds: uvma_mremap(MAYMOVE|FIXED) of A's head onto B's old
 *      range; either plan copies A into B's object (the pool is LIFO) and
 *      stops with the copy not yet attached      (HOOK_PLAN_READY)
 *   R  vma_start_read(mm, B's object), in the fault path:
 *        real:   count 0: stale; the lookup again finds nothing at b: NULL
 *        broken: the increment succeeds on the unattached copy
 *                (HOOK_READ_COUNTED sees it), and after a move onto b the
 *                fault returns the copy
 *   W  finishes its call; the copy is attached with count 1.
 */
#include <pthread.h>

#include "race_util.h"

enum step {
	STEP_IDLE,
	STEP_GO,    /* R: B is unmapped, W may change A */
	STEP_READY, /* W: its plan holds the copy, not attached */
	STEP_READ,  /* R: the fault is over, W may finish */
	STEP_DONE,  /* W: its call returned */
	STEP_QUIT,
};

static _Atomic int step;
static struct uvma_mm *mm;
static struct race_range range_a, range_b;
static bool move_to_b;		  /* this round's W call */
static struct uvma_vma *victim;	  /* B, until R's hook unmaps it */
static struct uvma_vma *freed;	  /* B's object, freed by the hook */
static _Atomic bool writer_armed; /* W's call is the one to stop */
static uint32_t copy_count;	  /* freed's count at HOOK_PLAN_READY */
static uint64_t cur_round;
static unsigned long counted_unattached; /* increments on the copy */
static int tag_a, tag_b;

static void set_step(int s)
{
	atomic_store(&step, s);
}

static void on_lookup(struct uvma_vma *vma)
{
	uint64_t len = range_b.end - range_b.start;

	if (vma != victim)
		return;
	victim = NULL; /* once per round */
	CHECK_EQ_U64(uvma_munmap(mm, range_b.start, len), 0);
	freed = vma;
	set_step(STEP_GO);
	race_wait_for(&step, STEP_READY, "R waits for W's plan");
}

static void on_plan_ready(void)
{
	if (!atomic_exchange(&writer_armed, false))
		return;
	copy_count = test_refcnt(freed);
	set_step(STEP_READY);
	race_wait_for(&step, STEP_READ, "W waits for R's fault to end");
}

static void hook(enum hook_point point, struct uvma_mm *hmm,
		 struct uvma_vma *vma)
{
	if (hmm != mm)
		return;
	switch (point) {
	case HOOK_LOOKUP_FOUND:
		on_lookup(vma);
		break;
	case HOOK_PLAN_READY:
		on_plan_ready();
		break;
	case HOOK_READ_COUNTED:
		if (vma == freed && atomic_load(&step) == STEP_READY) {
			counted_unattached++;
			race_violation("round %" PRIu64
				       ": a stale reader raised the count of "
				       "an unattached copy of A (count now "
				       "%u; the copy was born with %u)",
				       cur_round, test_refcnt(vma), copy_count);
		}
		break;
	default:
		break;
	}
}

/* W's call: a split of A, or a move of A's head onto B's old range. */
static void writer_call(void)
{
	uint64_t page = RACE_PAGE, len = range_b.end - range_b.start;
	uint64_t out = 0;

	atomic_store(&writer_armed, true);
	if (move_to_b) {
		CHECK_EQ_U64(
			uvma_mremap(mm, range_a.start, len, len,
				    UVMA_MREMAP_MAYMOVE | UVMA_MREMAP_FIXED,
				    range_b.start, &out),
			0);
		CHECK_EQ_U64(out, range_b.start);
	} else {
		CHECK_EQ_U64(uvma_mprotect(mm, range_a.start + page, page,
					   UVMA_PROT_READ),
			     0);
	}
	CHECK(!atomic_load(&writer_armed)); /* its plan did stop */
}

static void *writer(void *arg)
{
	(void)arg;
	for (;;) {
		struct race_wait w;
		int s;

		race_wait_start(&w);
		while ((s = atomic_load(&step)) != STEP_GO && s != STEP_QUIT)
			race_wait_step(&w, "W waits for a round");
		if (s == STEP_QUIT)
			return NULL;
		writer_call();
		set_step(STEP_DONE);
	}
}

/* After the round, real library: the copy went where W put it, count 1,
 * and locks as A's twin. */
static void check_round(struct uvma_vma *got)
{
	uint64_t where = move_to_b ? range_b.start : range_a.start + RACE_PAGE;
	struct uvma_vma *v;

	CHECK(got == NULL);
	CHECK_EQ_U64(copy_count, 0);
	v = uvma_vma_lock(mm, where);
	CHECK(v == freed); /* the copy took B's object */
	CHECK(v->user == &tag_a);
	CHECK_EQ_U64(test_refcnt(v), 2);
	uvma_vma_unlock(v);
}

static void run_round(uint64_t round, struct uvma_fault_stats *before)
{
	struct uvma_vma *got;

	cur_round = round;
	move_to_b = round & 1;
	range_b = race_place(1);
	/* A has room for a three-way split and for a head as long as B. */
	range_a = race_place(0);
	range_a.end =
		range_a.start + (range_b.end - range_b.start) + 3 * RACE_PAGE;
	test_map(mm, range_a.start, range_a.end,
		 UVMA_PROT_READ | UVMA_PROT_WRITE, &tag_a);
	victim = test_map(mm, range_b.start, range_b.end, UVMA_PROT_READ,
			  &tag_b);
	freed = NULL;
	copy_count = UINT32_MAX;
	uvma_mm_fault_stats(mm, before);

	hook_set(hook);
	got = uvma_vma_lock(mm, race_addr_in(range_b));
	set_step(STEP_READ);
	race_wait_for(&step, STEP_DONE, "R waits for W's call to return");
	hook_set(NULL);
	CHECK(freed != NULL);
	if (got)
		race_violation("round %" PRIu64 ": a fault at B's old range "
			       "[%#" PRIx64 ", %#" PRIx64 ") returned %s "
			       "(refcnt %u)",
			       round, range_b.start, range_b.end,
			       got == freed ? "the copy of A before its "
					      "plan attached it"
					    : "another area",
			       test_refcnt(got));
	if (race_violations())
		return;
	check_round(got);
}

int main(int argc, char **argv)
{
	uint64_t rounds = test_scaled(1000, 100), round;
	struct uvma_fault_stats before, after;
	pthread_t w;

	race_begin("race_dup_inherits_count", argc, argv, rounds);
	mm = test_mm(NULL, NULL);
	CHECK(pthread_create(&w, NULL, writer, NULL) == 0);
	for (round = 0; round < rounds; round++) {
		run_round(round, &before);
		if (race_violations()) {
			round++;
			break; /* W may be stuck on the corrupt count */
		}
		/* Stale at the first try (a miss), then nothing at b. */
		uvma_mm_fault_stats(mm, &after);
		CHECK_EQ_U64(after.miss, before.miss + 1);
		CHECK_EQ_U64(after.abort, before.abort + 1);
		/* Everything goes: A's pieces and the moved head. */
		CHECK_EQ_U64(uvma_munmap(mm, range_a.start,
					 range_a.end - range_a.start),
			     0);
		CHECK_EQ_U64(uvma_munmap(mm, range_b.start,
					 range_b.end - range_b.start),
			     0);
		set_step(STEP_IDLE);
	}
	if (race_violations())
		return race_finish(round, "");
	set_step(STEP_QUIT);
	CHECK(pthread_join(w, NULL) == 0);
	CHECK(counted_unattached == 0);
	uvma_mm_destroy(mm);
	return race_finish(rounds, "no reader ever counted on a copy before "
				   "its plan attached it");
}
