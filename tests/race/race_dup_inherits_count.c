/*
 * race_dup_inherits_count.c - a duplicated VMA that inherits its source's
 * count (DESIGN.md section 4; seeds/002 on copying a VMA field by field).
 *
 * A writer that copies a VMA (to split it, move it, or give a copy its new
 * place) gets a fresh object from the pool, and that object may be one a
 * stale reader still points at: a VMA freed moments ago, found in the tree
 * before it was unlinked. Born detached (count 0), the copy turns that
 * reader away ("stale": look again). Copied whole, lock fields included, the
 * copy carries the source's count - its attach reference plus its readers -
 * and the source's lock_seq: to the stale reader it looks attached and
 * unlocked, so the reader locks an object that is in no tree at all; and if
 * the writer has already given the copy the address the reader faulted on,
 * the fault returns it.
 *
 * Deterministic, one thread. Areas A and B in one space; a fault holds A
 * read-locked throughout (A's count is 2). Each round, a fault at b in B,
 * and inside it (HOOK_LOOKUP_FOUND: B found under RCU, nothing locked) the
 * writer:
 *   removes B (unlink, detach, free);
 *   copies A with vma_dup: the pool hands back B's object;
 *   odd round pairs: gives the copy B's old range (as a move into B's
 *     place would), else leaves it with A's range;
 *   even rounds: all of it in one write cycle, still open; odd rounds: B
 *     removed in a cycle of its own, the copy made in the next one, open;
 * then the fault goes on with vma_start_read(mm, the object).
 *   real:   the copy is detached (count 0): "stale" (or, if B was removed
 *           in this very cycle, "busy" at the early lock_seq check); the
 *           fault looks b up again, finds nothing: NULL;
 *   broken: the increment succeeds on the copy (count 2 -> 3): a reader
 *           counted on a detached object (HOOK_READ_COUNTED sees it), and
 *           with B's range the fault returns the copy.
 * The real writer then inserts the copy, and everything must be sound.
 */
#include "race_util.h"

#ifdef UVMA_TEST_HOOKS

static uint64_t cur_round; /* for the hook's messages */
static struct uvma_mm *mm;
static struct uvma_vma *area_a;	       /* read-locked all along */
static struct uvma_vma *victim;	       /* B, until the hook removes it */
static struct uvma_vma *copy;	       /* vma_dup(A), detached */
static struct race_range range_b;      /* B's range */
static bool same_cycle;		       /* remove and copy in one cycle */
static bool move_to_b;		       /* the copy takes B's range */
static uint32_t copy_count;	       /* the copy's count at birth */
static unsigned long counted_detached; /* increments on the copy */

static void hook(enum hook_point point, struct uvma_mm *hmm,
		 struct uvma_vma *vma)
{
	if (point == HOOK_READ_EARLY_CHECKED)
		return; /* this race needs the other two points */
	if (hmm != mm)
		return;
	if (point == HOOK_READ_COUNTED) {
		/* A reader just raised the count of a VMA in no tree. */
		if (vma == copy) {
			counted_detached++;
			race_violation("round %" PRIu64
				       ": a stale reader raised the count of a "
				       "detached copy of A (count now %u; the "
				       "copy was born with %u)",
				       cur_round, test_refcnt(vma), copy_count);
		}
		return;
	}
	if (vma != victim)
		return;
	victim = NULL; /* once per round */

	mmap_write_lock(mm);
	CHECK(__mm_remove_vma(mm, vma) == 0);
	if (!same_cycle) {
		mmap_write_unlock(mm);
		mmap_write_lock(mm);
	}
	copy = vma_dup(area_a);
	CHECK(copy == vma); /* the pool hands B's object back */
	copy_count = test_refcnt(copy);
	if (move_to_b) {
		copy->start = range_b.start;
		copy->end = range_b.end;
		copy->pgoff = range_b.start / RACE_PAGE;
	}
	/* mmap_lock stays held: the writer is not done with the copy. */
}

int main(int argc, char **argv)
{
	uint64_t rounds = test_scaled(1000, 100), round;
	struct uvma_fault_stats before, after;
	struct race_range range_a;
	struct uvma_vma *got;
	int tag_a, tag_b;

	race_begin("race_dup_inherits_count", argc, argv, rounds);
	range_a = race_place(0);
	mm = test_mm(NULL, NULL);
	area_a = test_map(mm, range_a.start, range_a.end,
			  UVMA_PROT_READ | UVMA_PROT_WRITE, &tag_a);
	/* A fault in A that lasts the whole test: A's count is 2. */
	got = uvma_vma_lock(mm, race_addr_in(range_a));
	CHECK(got == area_a);
	CHECK_EQ_U64(test_refcnt(area_a), 2);

	for (round = 0; round < rounds; round++) {
		struct race_range place;

		cur_round = round;
		range_b = race_place(1);
		place = race_place(2);
		same_cycle = !(round & 1);
		move_to_b = round & 2;
		victim = test_map(mm, range_b.start, range_b.end,
				  UVMA_PROT_READ, &tag_b);
		copy = NULL;
		uvma_mm_fault_stats(mm, &before);

		hook_set(hook);
		got = uvma_vma_lock(mm, race_addr_in(range_b));
		hook_set(NULL);
		CHECK(copy != NULL);
		if (got)
			race_violation("round %" PRIu64
				       ": a fault at B's old range "
				       "[%#" PRIx64 ", %#" PRIx64
				       ") returned %s, an object in no tree "
				       "(refcnt %u)",
				       round, range_b.start, range_b.end,
				       got == copy ? "the detached copy of A"
						   : "another area",
				       test_refcnt(got));
		if (race_violations()) {
			/* Stop here: inserting the copy would make the writer
			 * wait for A's reader, this very thread. */
			round++;
			break;
		}

		/* Real: the fault gave up, and the copy is still detached. */
		uvma_mm_fault_stats(mm, &after);
		CHECK_EQ_U64(after.abort, before.abort + 1);
		/* Which check turned it away: in the cycle that removed B,
		 * the object's lock_seq is the current one (busy, at the
		 * early check); in a later cycle only the count can: stale,
		 * a miss. */
		CHECK_EQ_U64(after.miss, before.miss + !same_cycle);
		CHECK_EQ_U64(copy_count, 0);
		CHECK_EQ_U64(test_refcnt(copy), 0);

		/* The writer finishes: the copy goes to its place. */
		if (!move_to_b) {
			copy->start = place.start;
			copy->end = place.end;
			copy->pgoff = place.start / RACE_PAGE;
		}
		CHECK(__mm_insert_vma(mm, copy) == 0);
		mmap_write_unlock(mm);

		/* Sound: the copy locks as A's twin, A still has its
		 * reader and nothing more. */
		CHECK_EQ_U64(test_refcnt(area_a), 2);
		CHECK_EQ_U64(test_refcnt(copy), 1);
		got = uvma_vma_lock(mm, copy->start);
		CHECK(got == copy);
		CHECK(got->user == &tag_a);
		uvma_vma_unlock(got);
		test_unmap(mm, copy);
	}

	if (race_violations())
		return race_finish(round, "");
	CHECK(counted_detached == 0);
	uvma_vma_unlock(area_a);
	CHECK_EQ_U64(test_refcnt(area_a), 1);
	uvma_mm_destroy(mm);
	return race_finish(rounds, "no reader ever counted on a copy before "
				   "it was inserted");
}

#else
RACE_SKIP_MAIN("race_dup_inherits_count")
#endif
