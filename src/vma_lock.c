/*
 * vma_lock.c - the per-VMA lock: Linux's refcount design (docs/design.md
 * section 2), one 32-bit count and one 32-bit sequence number per VMA.
 *
 * Locks: readers take nothing but the RCU read lock (vma_start_read) or
 * mmap_lock for reading (vma_start_read_locked); every other operation here
 * runs in the owning mm's writer, holding its mmap_lock for writing, so at
 * most one thread per mm ever waits on a VMA (docs/design.md rule 2).
 *
 * Waiting: a writer or detacher that must let readers drain sleeps on the
 * VMA's own refcnt word (futex). The last reader to leave wakes it after its
 * decrement, when it may no longer touch the VMA or its owner: the wake only
 * names an address in the pool, which is never unmapped, so a wake that
 * lands on an object already reused is a spurious wake for whoever waits
 * there, never a use-after-free (docs/design.md rule 5).
 */
#include "vma_lock.h"

#if UVMA_DESIGN == UVMA_DESIGN_REFCOUNT

/* A fresh object keeps the lock fields of its past lives: stale readers may
 * still be reading them (docs/design.md section 4), and refcnt 0 already says
 * detached. */
void vma_lock_init(struct uvma_vma *vma)
{
	(void)vma;
}

/* Type-stable memory: reusable at once, no grace period, no callback. */
void vma_release(struct uvma_vma *vma)
{
	vma_pool_put(vma);
}

/*
 * Rule 10: the caller holds mmap_lock for reading, so no writer can hold or
 * be taking this VMA, and it is attached: only the limit can refuse.
 */
bool vma_start_read_locked(struct uvma_vma *vma)
{
	uint32_t old;

	mmap_assert_locked(vma_owner(vma));
	/* Acquire, as in vma_start_read: pairs with the last writer's
	 * release (already ordered by mmap_lock, but cheap to keep exact). */
	old = atomic_load_explicit(&vma->refcnt, memory_order_relaxed);
	do {
		UVMA_ASSERT(old != 0 && old < VMA_LOCK_OFFSET);
		if (old >= VMA_REF_LIMIT)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(
		&vma->refcnt, &old, old + 1, memory_order_acquire,
		memory_order_relaxed));
	return true;
}

/*
 * Sleep until the count is target, that is until every reader that raised
 * it before OFFSET was added has left. Acquire: their reads of the VMA
 * happen before what the caller does next. A short spin first, since
 * readers hold a VMA for the length of one fault.
 */
static void wait_for_count(struct uvma_vma *vma, uint32_t target)
{
	uint32_t now;
	int spins = 0;

	while ((now = atomic_load_explicit(&vma->refcnt,
					   memory_order_acquire)) != target) {
		UVMA_ASSERT(now > target);
		if (++spins < 100) {
			cpu_relax();
			continue;
		}
		futex_wait(&vma->refcnt, now);
	}
}

/*
 * Rule 6. Only the holder of mmap_lock for writing (rule 2); the lock lasts
 * until mmap_lock is released or downgraded (rule 3).
 */
void vma_start_write(struct uvma_vma *vma)
{
	struct uvma_mm *mm = vma_owner(vma);
	/* Relaxed: only this thread writes mm_lock_seq now. */
	uint32_t seq =
		atomic_load_explicit(&mm->lock_seq, memory_order_relaxed);
	uint32_t old;

	mmap_assert_write_locked(mm);
	UVMA_ASSERT(seq & 1);
	if (atomic_load_explicit(&vma->lock_seq, memory_order_relaxed) == seq)
		return; /* already ours in this cycle */

	/* Only this thread can attach or detach, so a zero count stays zero:
	 * a new VMA, nobody to exclude. Its lock_seq is published by the
	 * release of vma_mark_attached. */
	if (atomic_load_explicit(&vma->refcnt, memory_order_relaxed) == 0) {
		atomic_store_explicit(&vma->lock_seq, seq,
				      memory_order_relaxed);
		return;
	}
	/* Relaxed add: from here new readers fail (count > LIMIT); ordering
	 * against the readers already in comes from wait_for_count. */
	old = atomic_fetch_add_explicit(&vma->refcnt, VMA_LOCK_OFFSET,
					memory_order_relaxed);
	UVMA_ASSERT(old != 0 && old < VMA_LOCK_OFFSET);
	wait_for_count(vma, VMA_LOCK_OFFSET + 1);
	atomic_store_explicit(&vma->lock_seq, seq, memory_order_relaxed);
	/* Release: a reader whose increment reads this value (or a later
	 * one) sees lock_seq == seq and backs off. */
	atomic_fetch_sub_explicit(&vma->refcnt, VMA_LOCK_OFFSET,
				  memory_order_release);
}

bool vma_is_write_locked(struct uvma_vma *vma)
{
	struct uvma_mm *mm = vma_owner(vma);

	return seq_locks(
		atomic_load_explicit(&vma->lock_seq, memory_order_relaxed),
		atomic_load_explicit(&mm->lock_seq, memory_order_relaxed));
}

/*
 * Rule 8. Release: every field a reader checks after its increment (mm,
 * lock_seq, the range) was written before, and the reader's acquire
 * increment reads this value or a later one.
 */
void vma_mark_attached(struct uvma_vma *vma)
{
	vma_assert_write_locked(vma);
	vma_assert_detached(vma);
	atomic_store_explicit(&vma->refcnt, 1, memory_order_release);
}

/*
 * Rule 9, after the VMA left the tree: drop the attach reference, then
 * wait out the transient readers (they found the VMA before it was
 * unlinked and will fail, since it is write-locked). On return nobody holds
 * the VMA and nobody can get it: it may be freed.
 */
void vma_mark_detached(struct uvma_vma *vma)
{
	uint32_t old;

	vma_assert_write_locked(vma);
	vma_assert_attached(vma);
	/* Acquire as well as release: when we see the last reader leave here
	 * (old == 1), its reads happen before the caller frees the VMA. */
	old = atomic_fetch_sub_explicit(&vma->refcnt, 1, memory_order_acq_rel);
	if (old == 1)
		return;
#ifdef UVMA_BROKEN_DETACH_NO_WAIT
	/* The historical bug: free with transient readers still counted. */
	return;
#endif
	/* Exclude the rest, unless they all left meanwhile. */
	old = atomic_load_explicit(&vma->refcnt, memory_order_acquire);
	do {
		if (old == 0)
			return;
		UVMA_ASSERT(old < VMA_LOCK_OFFSET);
	} while (!atomic_compare_exchange_weak_explicit(
		&vma->refcnt, &old, old + VMA_LOCK_OFFSET, memory_order_acquire,
		memory_order_acquire));
	wait_for_count(vma, VMA_LOCK_OFFSET);
	/* At OFFSET no reader can change the count (every increment fails
	 * above LIMIT), so a plain store ends the exclusion. Relaxed: a reader
	 * that sees 0 fails without reading anything. */
	atomic_store_explicit(&vma->refcnt, 0, memory_order_relaxed);
}

void vma_assert_write_locked(struct uvma_vma *vma)
{
	mmap_assert_write_locked(vma_owner(vma));
	UVMA_ASSERT(vma_is_write_locked(vma));
}

void vma_assert_attached(struct uvma_vma *vma)
{
	UVMA_ASSERT(atomic_load_explicit(&vma->refcnt, memory_order_relaxed) !=
		    0);
	(void)vma;
}

void vma_assert_detached(struct uvma_vma *vma)
{
	UVMA_ASSERT(atomic_load_explicit(&vma->refcnt, memory_order_relaxed) ==
		    0);
	(void)vma;
}

#endif /* UVMA_DESIGN_REFCOUNT */
