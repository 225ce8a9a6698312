/*
 * race_detach_transient.c - a transient reader during detach (docs/design.md
 * section 7; docs/design.md H0, the end of the thread).
 *
 * A reader raises a VMA's count, then finds it must back off and drops the
 * count again. If the VMA is detached in between and detach does not wait
 * for such readers (it just drops the attach reference and returns), the
 * object is freed with the reader's reference still in its count, reused,
 * attached anew with count 1, and the reader's late decrement takes the new
 * VMA to 0: attached, in a tree, and "detached" to every reader, for ever.
 *
 * The reader raises the count after the writer has write-locked and
 * unlinked the VMA. In one address space a reader can only get there in the
 * instant between its early lock_seq check and its increment, which no hook
 * can hold open. But objects are type-stable and reused across spaces
 * (docs/design.md section 4): a reader of space mm1 holding a stale pointer to
 * an object now owned by mm2 compares lock_seq with mm1's sequence, so it
 * passes the early check and increments while mm2's writer holds the VMA,
 * and only then fails (owner check). That makes the race deterministic.
 *
 * R is the main thread (a fault in mm1), W a writer thread. Each round:
 *   R  uvma_vma_lock(mm1, x) finds B under RCU      (HOOK_LOOKUP_FOUND:
 *                                                     R waits for W)
 *   W  uvma_munmap(mm1, B) and uvma_mmap(mm2, y): the pool (LIFO) hands
 *      B's object to mm2; then uvma_munmap(mm2, y), whose plan write-locks
 *      B and unlinks it       (HOOK_PLAN_COMMITTED: W waits for R)
 *   R  vma_start_read(mm1, B): the early check passes (B's lock_seq is
 *      mm2's), the count goes 1 -> 2              (HOOK_READ_COUNTED: R
 *                                                   waits for W)
 *   W  the plan's vma_mark_detached(B)
 *        real:   2 -> 1, excludes R with OFFSET, sleeps until R leaves;
 *                R sees OFFSET, fails the owner check, drops its count
 *                and wakes W
 *        broken: 2 -> 1 and returns at once, R still counted
 *   W  the plan frees B, munmap returns; uvma_mmap(mm2, z) takes the
 *      object again
 *   R  (broken: only now) fails the owner check, drops its count: on the
 *      new area at z, 1 -> 0
 * Then the area at z in mm2 must have count 1 and be lockable. R never
 * takes W's word for where W is: it watches B's count, and W does not
 * raise the object's count again (the new area's write lock) before R has
 * seen detach return without it.
 */
#include <pthread.h>

#include "race_util.h"

/* Where a round is; only ever moves forward within a round. */
enum step {
	STEP_IDLE,
	STEP_FOUND,	/* R: B found under RCU, nothing locked */
	STEP_UNLINKED,	/* W: B is mm2's, write-locked, out of the tree */
	STEP_COUNTED,	/* R: holds a count on B, checks not done */
	STEP_DETACHING, /* W: calling vma_mark_detached(B) */
	STEP_DETACHED,	/* W: vma_mark_detached returned */
	STEP_REUSED,	/* W: the object is mapped at z in mm2, cycle over */
	STEP_QUIT,
};

static _Atomic int step;
static struct uvma_mm *mm1, *mm2;

/* The round, written by R before STEP_FOUND, read by W after it. */
static struct race_range range_y, range_z;
static struct uvma_vma *victim; /* B */
/* Written by W before STEP_REUSED. */
static struct uvma_vma *reused;
/* R saw W sleep in vma_mark_detached for it (this round). */
static bool saw_detach_wait;
/* R is out of its hook, or past the point of looking at B's count. */
static _Atomic bool reader_done;
/* W's next uvma_munmap of mm2 is the one to stop before its detach. */
static _Atomic bool writer_armed;

static void set_step(int s)
{
	atomic_store(&step, s);
}

/*
 * R's hook. It runs in lock_vma_under_rcu, under RCU, and holds the reader
 * at the two points of the interleaving until W has done its part.
 */
static void reader_hook(enum hook_point point, struct uvma_mm *mm,
			struct uvma_vma *vma)
{
	struct race_wait w;

	if (point == HOOK_PLAN_COMMITTED) {
		/* W's munmap of y: B is unlinked from mm2's tree and
		 * write-locked, not yet detached. */
		if (mm != mm2 || !atomic_exchange(&writer_armed, false))
			return;
		set_step(STEP_UNLINKED);
		race_wait_for(&step, STEP_COUNTED,
			      "W waits for R to count on B");
		set_step(STEP_DETACHING);
		return; /* on to vma_mark_detached */
	}
	if (point == HOOK_READ_EARLY_CHECKED || point == HOOK_PLAN_READY)
		return; /* this race needs the other points */
	if (mm != mm1 || vma != victim)
		return;
	if (point == HOOK_LOOKUP_FOUND) {
		set_step(STEP_FOUND);
		race_wait_for(&step, STEP_UNLINKED,
			      "R waits for W to move B to mm2 and unlink it");
		return;
	}
	/* HOOK_READ_COUNTED: our count is in B; let W detach it. */
	set_step(STEP_COUNTED);
	race_wait_start(&w);
	for (;;) {
		int s = atomic_load(&step);

		if (s >= STEP_DETACHED) {
			/* Detach returned with our count still in B: let W
			 * free and reuse the object, then go on with the
			 * checks, as a reader delayed there would. */
			atomic_store(&reader_done, true);
			race_wait_for(&step, STEP_REUSED,
				      "R waits for W to reuse B's object");
			return;
		}
		/*
		 * W is in vma_mark_detached: OFFSET in the count means it
		 * excluded us and sleeps until we leave. (While the step
		 * is STEP_DETACHING, nothing else can add OFFSET: the
		 * object's next vma_start_write comes after reader_done.)
		 */
		if (s == STEP_DETACHING &&
		    test_refcnt(vma) >= VMA_LOCK_OFFSET) {
			saw_detach_wait = true;
			atomic_store(&reader_done, true);
			return;
		}
		race_wait_step(&w, "R (counted) waits for W to detach B");
	}
}

static void *writer(void *arg)
{
	(void)arg;
	for (;;) {
		struct uvma_vma *v;
		struct race_wait wt;
		int s;

		/* Exactly STEP_FOUND: the previous round's last step is
		 * beyond it until R starts the next one. */
		race_wait_start(&wt);
		while ((s = atomic_load(&step)) != STEP_FOUND && s != STEP_QUIT)
			race_wait_step(&wt, "W waits for a round");
		if (s == STEP_QUIT)
			return NULL;

		/* B leaves mm1; its object becomes mm2's area at y. */
		test_unmap(mm1, victim);
		v = test_map(mm2, range_y.start, range_y.end,
			     UVMA_PROT_READ | UVMA_PROT_WRITE, &range_y);
		CHECK(v == victim); /* the pool hands the same object back */

		/* Unmap y with uvma_munmap. Its plan stops in the hook
		 * between the unlink and the detach (STEP_UNLINKED, then
		 * STEP_DETACHING once R counts on B), then detaches B and
		 * frees it. */
		atomic_store(&writer_armed, true);
		CHECK_EQ_U64(uvma_munmap(mm2, range_y.start,
					 range_y.end - range_y.start),
			     0);
		set_step(STEP_DETACHED);
		/* Real: R left while detach waited for it. Broken: R still
		 * counts on B, and must see STEP_DETACHED before this thread
		 * raises B's count again (the new area's write lock). */
		race_wait_for_flag(&reader_done,
				   "W waits for R to leave its hook");

		/* The freed object's next life: a new area at z in mm2. */
		reused = test_map(mm2, range_z.start, range_z.end,
				  UVMA_PROT_READ, &range_z);
		set_step(STEP_REUSED);
	}
}

/* After W is done with the round: is the new area at z sound? */
static bool check_reused(uint64_t round)
{
	struct uvma_vma *got;
	uint32_t c = test_refcnt(reused);

	if (c != 1) {
		enum vma_read r;

		rcu_read_enter();
		r = vma_start_read(mm2, reused);
		if (r == VMA_READ_LOCKED)
			vma_end_read(reused);
		rcu_read_exit();
		race_violation(
			"round %" PRIu64 ": mm2's new area [%#" PRIx64
			", %#" PRIx64
			") is in mm2's tree with refcnt %u, not 1 "
			"(a reader's decrement outlived detach and landed on "
			"the reused object); vma_start_read on it says %s%s",
			round, range_z.start, range_z.end, c,
			r == VMA_READ_STALE  ? "STALE"
			: r == VMA_READ_BUSY ? "BUSY"
					     : "LOCKED",
			r == VMA_READ_STALE ? ": every fault there retries "
					      "for ever"
					    : "");
		return false;
	}
	/* Sound: it locks, and its count is back to 1 afterwards. */
	got = uvma_vma_lock(mm2, race_addr_in(range_z));
	CHECK(got == reused);
	CHECK(got->user == &range_z);
	uvma_vma_unlock(got);
	CHECK_EQ_U64(test_refcnt(reused), 1);
	return true;
}

int main(int argc, char **argv)
{
	uint64_t rounds = test_scaled(1000, 50), round, waited = 0;
	struct race_range range_x;
	pthread_t w;

	race_begin("race_detach_transient", argc, argv, rounds);
	mm1 = test_mm(NULL, NULL);
	mm2 = test_mm(NULL, NULL);
	/* A neighbour in each space, so the trees have more than one area. */
	test_map(mm1, RACE_SLOT_BASE + 15 * RACE_SLOT_BYTES,
		 RACE_SLOT_BASE + 15 * RACE_SLOT_BYTES + RACE_PAGE,
		 UVMA_PROT_READ, NULL);
	test_map(mm2, RACE_SLOT_BASE + 15 * RACE_SLOT_BYTES,
		 RACE_SLOT_BASE + 15 * RACE_SLOT_BYTES + RACE_PAGE,
		 UVMA_PROT_READ, NULL);
	CHECK(pthread_create(&w, NULL, writer, NULL) == 0);

	for (round = 0; round < rounds; round++) {
		struct uvma_vma *got;

		range_x = race_place(0);
		range_y = race_place(1);
		range_z = race_place(2);
		victim = test_map(mm1, range_x.start, range_x.end,
				  UVMA_PROT_READ, &range_x);
		reused = NULL;
		saw_detach_wait = false;
		atomic_store(&reader_done, false);

		hook_set(reader_hook);
		got = uvma_vma_lock(mm1, race_addr_in(range_x));
		hook_set(NULL);
		if (got) {
			/* B is not mm1's any more: whatever was locked, it is
			 * not an area of mm1. */
			race_violation("round %" PRIu64 ": a fault in mm1 "
				       "locked an area owned by %s",
				       round,
				       race_owner(got) == mm1
					       ? "mm1"
					       : "another space");
		}
		race_wait_for(&step, STEP_REUSED,
			      "R waits for W to finish the round");
		if (saw_detach_wait)
			waited++;
		if (got || !check_reused(round)) {
			round++;
			break;
		}
		/* The object goes back to the pool, to be B next round. */
		test_unmap(mm2, reused);
		set_step(STEP_IDLE);
	}

	if (race_violations()) {
		/* W waits for the next round; leave it there. */
		return race_finish(round, "");
	}
	set_step(STEP_QUIT);
	CHECK(pthread_join(w, NULL) == 0);
	CHECK_EQ_U64(waited, rounds);
	uvma_mm_destroy(mm1);
	uvma_mm_destroy(mm2);
	return race_finish(rounds, "vma_mark_detached waited for the transient "
				   "reader every round, and the reused object "
				   "always came back with count 1");
}
