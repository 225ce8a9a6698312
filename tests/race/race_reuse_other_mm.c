/*
 * race_reuse_other_mm.c - an object reused by another address space between
 * lookup and lock (docs/design.md sections 2 and 4, rule 4; docs/design.md H2).
 *
 * VMA objects are type-stable and shared by every address space of the
 * process: once freed, the next allocation, from any space, may return the
 * same object at once, with no grace period. A fault that found a VMA in
 * its space's tree under RCU may therefore lock an object that is by now
 * another space's area, attached there, even over the same addresses. Only
 * the owner check after the increment (vma->mm == the caller's mm) tells;
 * without it the lock_seq check compares the other space's VMA with the
 * wrong space's sequence, and the range check passes when the new area
 * covers the same address.
 *
 * Deterministic, one thread: a fault in mm1 at x, and inside it (at
 * HOOK_LOOKUP_FOUND, under RCU, the VMA found, nothing locked) the writers
 * of both spaces do their work:
 *   unmap the area at x from mm1 (the object goes back to the pool);
 *   map an area over the same range in mm2 (the same object comes back),
 *     odd rounds: and keep mm2's mmap_lock, still building the area
 *     (write-locked by mm2's writer);
 * then the fault goes on with vma_start_read(mm1, object).
 *   real:   the owner check fails: busy, the fault falls back (NULL);
 *   broken: the fault returns mm2's area to a caller in mm1 (in odd rounds
 *           an area its own writer holds write-locked).
 */
#include "race_util.h"

static struct uvma_mm *mm1, *mm2;
static struct uvma_vma *victim;	     /* the area at x in mm1 */
static struct uvma_vma *reused;	     /* its object, now mm2's */
static struct race_range range_x;    /* where it is, in both spaces */
static bool keep_writing;	     /* this round: keep mm2 write-locked */
static int mm2_tag;		     /* mm2's areas' user pointer */
static unsigned long lookups_hooked; /* rounds the hook ran in */
static unsigned long counted_reused; /* mm1 readers counted on mm2's area */

static void hook(enum hook_point point, struct uvma_mm *mm,
		 struct uvma_vma *vma)
{
	if (point == HOOK_READ_EARLY_CHECKED || point == HOOK_PLAN_READY ||
	    point == HOOK_PLAN_COMMITTED)
		return; /* this race needs the other two points */
	if (point == HOOK_READ_COUNTED) {
		/* The early lock_seq check compared mm2's VMA with mm1's
		 * sequence and let the reader through to the increment: only
		 * the owner check is left to turn it away. */
		if (mm == mm1 && vma == reused)
			counted_reused++;
		return;
	}
	if (mm != mm1 || vma != victim)
		return;
	victim = NULL; /* once per round */
	lookups_hooked++;

	test_unmap(mm1, vma);
	if (keep_writing) {
		mmap_write_lock(mm2);
		reused = __test_map(mm2, range_x.start, range_x.end,
				    UVMA_PROT_READ, &mm2_tag);
	} else {
		reused = test_map(mm2, range_x.start, range_x.end,
				  UVMA_PROT_READ, &mm2_tag);
	}
	CHECK(reused == vma); /* the pool hands the same object back */
}

int main(int argc, char **argv)
{
	uint64_t rounds = test_scaled(1000, 100), round;
	struct uvma_fault_stats before, after;
	struct uvma_vma *v;
	int mm1_tag;

	race_begin("race_reuse_other_mm", argc, argv, rounds);
	mm1 = test_mm(NULL, NULL);
	mm2 = test_mm(NULL, NULL);
	/* Neighbours, so each tree holds more than the area of the race. */
	test_map(mm1, RACE_SLOT_BASE + 15 * RACE_SLOT_BYTES,
		 RACE_SLOT_BASE + 15 * RACE_SLOT_BYTES + RACE_PAGE,
		 UVMA_PROT_READ, NULL);
	test_map(mm2, RACE_SLOT_BASE + 14 * RACE_SLOT_BYTES,
		 RACE_SLOT_BASE + 14 * RACE_SLOT_BYTES + RACE_PAGE,
		 UVMA_PROT_READ, NULL);

	for (round = 0; round < rounds; round++) {
		struct uvma_vma *got;
		bool held;

		range_x = race_place(0);
		keep_writing = round & 1;
		v = test_map(mm1, range_x.start, range_x.end,
			     UVMA_PROT_READ | UVMA_PROT_WRITE, &mm1_tag);
		victim = v;
		reused = NULL;
		uvma_mm_fault_stats(mm1, &before);

		hook_set(hook);
		got = uvma_vma_lock(mm1, race_addr_in(range_x));
		hook_set(NULL);
		CHECK(reused == v);

		if (got) {
			held = vma_is_write_locked(got);
			race_violation(
				"round %" PRIu64
				": a fault in mm1 at [%#" PRIx64 ", %#" PRIx64
				") read-locked an area of %s "
				"(user %s)%s",
				round, range_x.start, range_x.end,
				race_owner(got) == mm2	 ? "mm2"
				: race_owner(got) == mm1 ? "mm1"
							 : "another space",
				got->user == &mm2_tag ? "mm2's" : "not mm2's",
				keep_writing && held
					? ", which mm2's writer holds "
					  "write-locked"
					: "");
		}
		if (keep_writing)
			mmap_write_unlock(mm2);
		if (got) {
			uvma_vma_unlock(got);
			round++;
			break;
		}

		/* Real: the fault gave up and counted it; nothing stuck. */
		uvma_mm_fault_stats(mm1, &after);
		CHECK_EQ_U64(after.abort, before.abort + 1);
		CHECK_EQ_U64(test_refcnt(reused), 1);
		/* mm1 has nothing at x any more; mm2's area locks. */
		CHECK(uvma_vma_lock(mm1, range_x.start) == NULL);
		got = uvma_vma_lock(mm2, race_addr_in(range_x));
		CHECK(got == reused);
		uvma_vma_unlock(got);
		/* Back to the pool, to be mm1's area next round. */
		test_unmap(mm2, reused);
	}

	if (race_violations())
		return race_finish(round, "");
	CHECK_EQ_U64(lookups_hooked, rounds);
	CHECK_EQ_U64(counted_reused, rounds);
	uvma_mm_destroy(mm1);
	uvma_mm_destroy(mm2);
	return race_finish(rounds,
			   "the owner check turned every reused object away");
}
