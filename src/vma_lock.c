/*
 * vma_lock.c - the per-VMA lock: Linux's refcount design (DESIGN.md
 * section 2), one 32-bit count and one 32-bit sequence number per VMA.
 *
 * Locks: readers take nothing but the RCU read lock (vma_start_read) or
 * mmap_lock for reading (vma_start_read_locked); every other operation here
 * runs in the owning mm's writer, holding its mmap_lock for writing, so at
 * most one thread per mm ever waits on a VMA (DESIGN.md rule 2).
 *
 * Waiting: a writer or detacher that must let readers drain sleeps on the
 * VMA's own refcnt word (futex). The last reader to leave wakes it after its
 * decrement, when it may no longer touch the VMA or its owner: the wake only
 * names an address in the pool, which is never unmapped, so a wake that
 * lands on an object already reused is a spurious wake for whoever waits
 * there, never a use-after-free (DESIGN.md rule 5).
 */
#include "vma.h"

#include <limits.h>

#include "debug.h"
#include "futex.h"
#include "hook.h"
#include "mm.h"

#ifdef UVMA_TEST_HOOKS
_Atomic(hook_fn) hook_current;
#endif

/*
 * Does a VMA whose lock_seq is vma_seq count as write-locked when the mm's
 * sequence is mm_seq? Only while mmap_lock is write-held (mm_seq odd): the
 * 32-bit sequence wraps, and an even value can come back equal to a VMA's
 * stale lock_seq (mm.c resets them all to 0 at each wrap) while nobody
 * holds the lock.
 */
static inline bool seq_locks(uint32_t vma_seq, uint32_t mm_seq)
{
	return (mm_seq & 1) && vma_seq == mm_seq;
}

static struct uvma_mm *vma_owner(struct uvma_vma *vma)
{
	return atomic_load_explicit(&vma->mm, memory_order_relaxed);
}

/*
 * Rule 4. Called under RCU with a VMA pointer from mm's tree, which may be
 * stale: the object may have been detached, freed, even reused by another
 * mm since. The count decides first: the increment only succeeds on an
 * attached object below the limit, and from then on the object cannot be
 * detached or freed under us (detach waits for us), so its owner and
 * lock_seq can be checked.
 */
enum vma_read vma_start_read(struct uvma_mm *mm, struct uvma_vma *vma)
{
	uint32_t old;

	/* A shortcut only, with no ordering: a wrong answer either way is
	 * corrected (or made harmless) by the checks after the increment. */
	if (seq_locks(
		    atomic_load_explicit(&vma->lock_seq, memory_order_relaxed),
		    atomic_load_explicit(&mm->lock_seq, memory_order_relaxed)))
		return VMA_READ_BUSY;
	hook_run(HOOK_READ_EARLY_CHECKED, mm, vma);

	/*
	 * The bounded increment. Acquire: if it reads the count a writer left
	 * (its release when it dropped OFFSET, or the release of attach), the
	 * writer's stores to lock_seq, mm and the range are visible to the
	 * loads below. Failing needs no ordering: we touch nothing after.
	 */
	old = atomic_load_explicit(&vma->refcnt, memory_order_relaxed);
	do {
		if (old == 0)
			return VMA_READ_STALE;
		if (old >= VMA_REF_LIMIT)
			return VMA_READ_BUSY; /* writer, detacher or limit */
	} while (!atomic_compare_exchange_weak_explicit(
		&vma->refcnt, &old, old + 1, memory_order_acquire,
		memory_order_relaxed));
	hook_run(HOOK_READ_COUNTED, mm, vma);

#ifndef UVMA_BROKEN_NO_OWNER_CHECK
	/* Type-stable memory: the object may now belong to another mm, and
	 * its lock_seq would then be compared with the wrong sequence. */
	if (vma_owner(vma) != mm) {
		vma_end_read(vma);
		return VMA_READ_BUSY;
	}
#endif
	/*
	 * Write-locked in the current cycle? Acquire on mm_lock_seq: if the
	 * writer of lock_seq's cycle has ended it (mmap_write_unlock's release
	 * store), everything it wrote to this VMA is visible to us.
	 */
	if (seq_locks(
		    atomic_load_explicit(&vma->lock_seq, memory_order_relaxed),
		    atomic_load_explicit(&mm->lock_seq,
					 memory_order_acquire))) {
		vma_end_read(vma);
		return VMA_READ_BUSY;
	}
	return VMA_READ_LOCKED;
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
 * Rule 5. Release: our reads of the VMA happen before whatever the writer
 * does once it sees the count drop (it loads with acquire). After the
 * decrement the object is not ours: no field, not even mm, is read.
 */
void vma_end_read(struct uvma_vma *vma)
{
	uint32_t old = atomic_fetch_sub_explicit(&vma->refcnt, 1,
						 memory_order_release);

	UVMA_ASSERT(old != 0);
	if (old - 1 == VMA_LOCK_OFFSET || old - 1 == VMA_LOCK_OFFSET + 1)
		futex_wake(&vma->refcnt, INT_MAX);
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
