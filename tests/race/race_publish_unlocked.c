/*
 * race_publish_unlocked.c - a new VMA published before it is write-locked
 * (docs/design.md rule 7; docs/design.md H4, and docs/design.md H2 on attach
 * against the fields a reader checks).
 *
 * A writer's plan stores its new areas in the tree, then goes on (reused
 * objects take their new fields, removed ones are detached) until it
 * releases mmap_lock; the VMA write lock taken before the store is what
 * keeps faults out of a new area meanwhile. A new VMA that is attached and
 * stored without that lock is lockable the moment the tree is committed: a
 * fault can read-lock an area whose writer has not finished with it.
 *
 * Deterministic, one thread (a fault may run while any writer holds
 * mmap_lock, and the lock under RCU never waits). Each round, a public call
 * makes a new area at x:
 *   even rounds: uvma_mmap(x, MAP_FIXED_NOREPLACE);
 *   odd rounds:  uvma_mprotect of the middle of an area around x (a split:
 *                the middle piece is a new object, a copy of the area);
 * and inside the call, once its plan has committed (HOOK_PLAN_COMMITTED,
 * mmap_lock still held for writing), a fault at x: uvma_vma_lock(mm, x)
 *   real:   busy (the new VMA is write-locked in this cycle): NULL;
 *   broken: read-locks the new area before its writer's cycle ended.
 * After the call, uvma_vma_lock(mm, x) succeeds in both and sees the area.
 * Rounds of each kind alternate between an object fresh from the pool's
 * memory (lock_seq 0) and one reused from an earlier area (an old cycle's
 * lock_seq). --first-round N starts at round N (1: a split first).
 */
#include "race_util.h"

static struct uvma_mm *mm;
static struct race_range x;  /* the new area of this round */
static bool armed;	     /* the next HOOK_PLAN_COMMITTED is the round's */
static uint64_t cur_round;   /* for messages */
static unsigned hook_checks; /* faults run inside a committed plan */

static void hook(enum hook_point point, struct uvma_mm *hmm,
		 struct uvma_vma *vma)
{
	struct uvma_fault_stats before, after;
	struct uvma_vma *got;

	(void)vma;
	if (point != HOOK_PLAN_COMMITTED || hmm != mm || !armed)
		return;
	armed = false;
	hook_checks++;
	uvma_mm_fault_stats(mm, &before);
	got = uvma_vma_lock(mm, race_addr_in(x));
	if (got) {
		race_violation("round %" PRIu64 ": a fault read-locked the new "
			       "area [%#" PRIx64 ", %#" PRIx64
			       ") while its writer's plan still held "
			       "mmap_lock (refcnt %u)",
			       cur_round, x.start, x.end, test_refcnt(got));
		uvma_vma_unlock(got);
		return;
	}
	uvma_mm_fault_stats(mm, &after);
	CHECK_EQ_U64(after.abort, before.abort + 1);
}

/* Take every free object out of the pool, so that the next new area gets
 * an object carved from fresh memory. */
static void drain_pool(struct uvma_vma **held, uint64_t *nheld, uint64_t cap)
{
	struct vma_pool_stats ps;

	vma_pool_stats(&ps);
	while (ps.free) {
		CHECK(*nheld < cap);
		held[(*nheld)++] = vma_pool_get();
		vma_pool_stats(&ps);
	}
}

/* The round's call, with the hook armed for the plan that makes x. */
static void make_area(bool split, int *tag)
{
	const uint64_t page = RACE_PAGE;
	const unsigned rw = UVMA_PROT_READ | UVMA_PROT_WRITE;

	if (!split) {
		armed = true;
		CHECK_EQ_U64(uvma_mmap(mm, x.start, x.end - x.start, rw,
				       UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS |
					       UVMA_MAP_FIXED_NOREPLACE,
				       0, 0, tag, NULL),
			     0);
		return;
	}
	/* An area one page wider on each side; its middle becomes x. */
	CHECK_EQ_U64(uvma_mmap(mm, x.start - page, x.end - x.start + 2 * page,
			       rw,
			       UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS |
				       UVMA_MAP_FIXED_NOREPLACE,
			       0, 0, tag, NULL),
		     0);
	armed = true;
	CHECK_EQ_U64(
		uvma_mprotect(mm, x.start, x.end - x.start, UVMA_PROT_READ), 0);
}

int main(int argc, char **argv)
{
	uint64_t rounds = test_scaled(1000, 100), round, first;
	uint64_t fresh = 0, held = 0;
	struct uvma_vma **held_objects;
	struct uvma_vma *got;
	int tag;

	race_begin("race_publish_unlocked", argc, argv, rounds);
	first = arg_u64(argc, argv, "--first-round", 0);
	CHECK(first < rounds);
	held_objects = calloc(rounds * 2, sizeof(*held_objects));
	CHECK(held_objects != NULL);
	mm = test_mm(NULL, NULL);
	test_map(mm, RACE_SLOT_BASE + 15 * RACE_SLOT_BYTES,
		 RACE_SLOT_BASE + 15 * RACE_SLOT_BYTES + RACE_PAGE,
		 UVMA_PROT_READ, NULL);
	hook_set(hook);

	for (round = first; round < rounds; round++) {
		bool split = round & 1;

		cur_round = round;
		x = race_place(0);
		x.start += RACE_PAGE; /* room for the split's left piece */
		x.end += RACE_PAGE;
		if (!(round & 2)) {
			drain_pool(held_objects, &held, rounds * 2);
			fresh++;
		}
		make_area(split, &tag);
		CHECK(!armed); /* the plan did reach the hook */
		if (race_violations())
			return race_finish(round - first + 1, "");

		/* The cycle is over: the fault gets the finished area. */
		got = uvma_vma_lock(mm, race_addr_in(x));
		CHECK(got != NULL);
		CHECK_EQ_U64(got->start, x.start);
		CHECK_EQ_U64(got->end, x.end);
		CHECK(got->user == &tag);
		uvma_vma_unlock(got);
		CHECK_EQ_U64(test_refcnt(got), 1);
		CHECK_EQ_U64(uvma_munmap(mm, x.start - RACE_PAGE,
					 x.end - x.start + 2 * RACE_PAGE),
			     0);
	}
	hook_set(NULL);
	CHECK(fresh > 0);
	CHECK_EQ_U64(hook_checks, rounds - first);
	while (held)
		vma_pool_put(held_objects[--held]);
	free(held_objects);
	uvma_mm_destroy(mm);
	return race_finish(rounds - first,
			   "no fault ever locked a new area before its "
			   "writer's cycle ended");
}
