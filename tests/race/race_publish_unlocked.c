/*
 * race_publish_unlocked.c - a new VMA published before it is write-locked
 * (docs/design.md rule 7; docs/design.md H4, and docs/design.md H2 on attach
 * against the fields a reader checks).
 *
 * A writer building a new area inserts it into the tree, then may go on
 * setting it up (its protection, its neighbours, a merge) until it releases
 * mmap_lock; the VMA write lock taken before the insertion is what keeps
 * faults out of it meanwhile. A new VMA that is attached and stored without
 * that lock is lockable the moment it is in the tree: a fault can read-lock
 * it and then watch the writer change it under its read lock.
 *
 * Deterministic, one thread (a fault may run while any writer holds
 * mmap_lock, and the lock under RCU never waits): each round
 *   writer: mmap_write_lock; insert a new area at x with PROT_NONE (its
 *           real protection comes later in the cycle);
 *   fault:  uvma_vma_lock(mm, x)
 *             real:   busy (the VMA is write-locked in this cycle): NULL;
 *             broken: read-locks the area;
 *   writer: finishes the area (PROT_READ|PROT_WRITE), mmap_write_unlock;
 *   fault:  uvma_vma_lock(mm, x) now succeeds in both, and sees the
 *           finished area.
 * Rounds alternate between an object fresh from the pool's memory and one
 * reused from an earlier area, whose lock_seq holds an old cycle's value.
 */
#include "race_util.h"

int main(int argc, char **argv)
{
	uint64_t rounds = test_scaled(1000, 100), round;
	struct uvma_fault_stats before, after;
	struct uvma_mm *mm;
	uint64_t fresh = 0, held = 0;
	struct uvma_vma **held_objects;
	int tag;

	race_begin("race_publish_unlocked", argc, argv, rounds);
	held_objects = calloc(rounds, sizeof(*held_objects));
	CHECK(held_objects != NULL);
	mm = test_mm(NULL, NULL);
	test_map(mm, RACE_SLOT_BASE + 15 * RACE_SLOT_BYTES,
		 RACE_SLOT_BASE + 15 * RACE_SLOT_BYTES + RACE_PAGE,
		 UVMA_PROT_READ, NULL);

	for (round = 0; round < rounds; round++) {
		struct race_range x = race_place(0);
		struct vma_pool_stats ps;
		struct uvma_vma *v, *got;

		/* Even rounds: the new area gets an object never used before
		 * (lock_seq 0): the free ones are taken out of the pool for
		 * the rest of the run, so it has to carve one. */
		vma_pool_stats(&ps);
		if (!(round & 1)) {
			while (ps.free) {
				CHECK(held < rounds);
				held_objects[held++] = vma_pool_get();
				vma_pool_stats(&ps);
			}
			fresh++;
		}
		mmap_write_lock(mm);
		v = __test_map(mm, x.start, x.end, UVMA_PROT_NONE, &tag);

		/* The writer still holds mmap_lock, building the area. */
		uvma_mm_fault_stats(mm, &before);
		got = uvma_vma_lock(mm, race_addr_in(x));
		if (got) {
			unsigned seen = got->prot;

			/* The writer finishes the area it believes locked. */
			v->prot = UVMA_PROT_READ | UVMA_PROT_WRITE;
			race_violation(
				"round %" PRIu64
				": a fault read-locked the new "
				"area [%#" PRIx64 ", %#" PRIx64
				") while its writer still held mmap_lock: it "
				"saw prot %#x, then the writer changed it to "
				"%#x under the fault's read lock",
				round, x.start, x.end, seen, got->prot);
			mmap_write_unlock(mm);
			uvma_vma_unlock(got);
			round++;
			break;
		}
		v->prot = UVMA_PROT_READ | UVMA_PROT_WRITE;
		mmap_write_unlock(mm);
		uvma_mm_fault_stats(mm, &after);
		CHECK_EQ_U64(after.abort, before.abort + 1);

		/* The cycle is over: the fault gets the finished area. */
		got = uvma_vma_lock(mm, race_addr_in(x));
		CHECK(got == v);
		CHECK_EQ_U64(got->prot, UVMA_PROT_READ | UVMA_PROT_WRITE);
		CHECK(got->user == &tag);
		uvma_vma_unlock(got);
		CHECK_EQ_U64(test_refcnt(v), 1);
		test_unmap(mm, v);
	}

	if (race_violations())
		return race_finish(round, "");
	CHECK(fresh > 0);
	while (held)
		vma_pool_put(held_objects[--held]);
	free(held_objects);
	uvma_mm_destroy(mm);
	return race_finish(rounds, "no fault ever locked an area before its "
				   "writer's cycle ended");
}
