/*
 * race_free_without_detach.c - a VMA freed without being detached
 * (docs/design.md section 4: every VMA is detached before it is freed).
 *
 * Freeing is no grace period away from a reader: the pool hands the object
 * out again at once, and a reader that found the VMA in the tree under RCU
 * may still try to lock it afterwards. What turns it away is the count:
 * detach took it to 0, and nothing but attach raises a 0. A VMA unlinked
 * and freed without detach keeps its attach reference: the stale reader's
 * increment succeeds on a free object, the object's write lock ended with
 * the writer's cycle, so the reader holds a "read lock" on memory that
 * belongs to the pool (and whose range words now hold the pool's link).
 *
 * Deterministic, one thread. Each round, a fault at b in area B, and inside
 * it (HOOK_LOOKUP_FOUND: B found under RCU, nothing locked) a whole munmap
 * of B runs to its end (write lock, unlink, detach, free, unlock); then the
 * fault goes on with vma_start_read(mm, B).
 *   real:   count 0: "stale"; the fault looks b up again, finds nothing,
 *           returns NULL (one miss, one abort counted);
 *   broken: the increment succeeds on the freed object (HOOK_READ_COUNTED
 *           sees it: the violation); what the fault does next depends on
 *           the pool's link over the range (under AddressSanitizer, reading
 *           the freed object's end is reported as well).
 */
#include "race_util.h"

static uint64_t cur_round; /* for the hook's messages */
static struct uvma_mm *mm;
static struct uvma_vma *victim; /* B, until the hook frees it */
static struct uvma_vma *freed;	/* B's object, on the pool's free list */

static void hook(enum hook_point point, struct uvma_mm *hmm,
		 struct uvma_vma *vma)
{
	if (point == HOOK_READ_EARLY_CHECKED || point == HOOK_PLAN_READY ||
	    point == HOOK_PLAN_COMMITTED)
		return; /* this race needs the other two points */
	if (hmm != mm)
		return;
	if (point == HOOK_READ_COUNTED) {
		if (vma == freed)
			race_violation("round %" PRIu64
				       ": a stale reader raised the count of a "
				       "freed VMA object to %u",
				       cur_round, test_refcnt(vma));
		return;
	}
	if (vma != victim)
		return;
	victim = NULL; /* once per round */
	test_unmap(mm, vma);
	freed = vma;
}

int main(int argc, char **argv)
{
	uint64_t rounds = test_scaled(1000, 100), round;
	struct uvma_fault_stats before, after;
	int tag;

	race_begin("race_free_without_detach", argc, argv, rounds);
	mm = test_mm(NULL, NULL);
	test_map(mm, RACE_SLOT_BASE + 15 * RACE_SLOT_BYTES,
		 RACE_SLOT_BASE + 15 * RACE_SLOT_BYTES + RACE_PAGE,
		 UVMA_PROT_READ, NULL);

	for (round = 0; round < rounds; round++) {
		struct race_range b = race_place(round % 3);
		struct uvma_vma *v, *got;

		cur_round = round;
		v = test_map(mm, b.start, b.end, UVMA_PROT_READ, &tag);
		victim = v;
		freed = NULL;
		uvma_mm_fault_stats(mm, &before);

		hook_set(hook);
		got = uvma_vma_lock(mm, race_addr_in(b));
		hook_set(NULL);
		CHECK(freed == v);
		if (got)
			race_violation("round %" PRIu64
				       ": a fault at [%#" PRIx64 ", %#" PRIx64
				       ") returned a freed VMA object",
				       round, b.start, b.end);
		if (race_violations()) {
			round++;
			break;
		}

		/* Real: turned away as stale, looked up again, gave up. */
		uvma_mm_fault_stats(mm, &after);
		CHECK_EQ_U64(after.miss, before.miss + 1);
		CHECK_EQ_U64(after.abort, before.abort + 1);
		CHECK_EQ_U64(test_refcnt(freed), 0);
	}

	if (race_violations())
		return race_finish(round, "");
	uvma_mm_destroy(mm);
	return race_finish(rounds, "every stale reader of a freed VMA was "
				   "turned away");
}
