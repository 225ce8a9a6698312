/*
 * vma_lock.h - the fast paths of the per-VMA lock, inline: the two calls
 * every fault makes (vma_start_read, vma_end_read). Everything else of the
 * lock, and the reasoning about it, is in vma_lock.c.
 */
#ifndef UVMA_VMA_LOCK_H
#define UVMA_VMA_LOCK_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "debug.h"
#include "futex.h"
#include "hook.h"
#include "mm.h"
#include "vma.h"

#if UVMA_DESIGN != UVMA_DESIGN_REFCOUNT
#include "vma_lock_baseline.h"
#else

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

/*
 * Sequence bounds (docs/design.md, rule 4). Every fault would read
 * mm_lock_seq, on a line the writer stores to twice per map change: under
 * churn that line is a cache miss per change for every faulting thread.
 * So each thread keeps, per mm (its fault slot's seen), the last
 * mm_lock_seq it read with acquire, tagged with seq_epoch. A VMA whose
 * lock_seq is below that value (same epoch) was last write-locked in a
 * cycle that had ended when the thread read it: rule 3 ended that lock, and
 * the acquire made the cycle's changes visible, so the VMA is not
 * write-locked now unless a later cycle locked it, and then its lock_seq
 * would be that later, higher value (the reader's increment sees it, rule
 * 4). Only a VMA locked since the bound costs the read of mm_lock_seq,
 * which also raises the bound. The epoch makes the comparison safe across
 * a wrap of the 32-bit sequence: values of different epochs are never
 * compared.
 */
static inline uint64_t seen_make(uint32_t epoch, uint32_t seq)
{
	return (uint64_t)epoch << 32 | seq;
}

static inline bool seen_ends(uint64_t seen, uint32_t epoch, uint32_t vma_seq)
{
#ifdef UVMA_BROKEN_SEEN_NO_EPOCH
	/* The bound compared across a wrap of the sequence. */
	(void)epoch;
	return vma_seq < (uint32_t)seen;
#else
	return (uint32_t)(seen >> 32) == epoch && vma_seq < (uint32_t)seen;
#endif
}

/* Whether mm's bound says vma_seq's cycle had ended (the epoch read
 * relaxed: see vma_start_read_seen for why each use may). */
static inline bool seen_covers(struct uvma_mm *mm, uint64_t bound,
			       uint32_t vma_seq)
{
	return seen_ends(
		bound,
		atomic_load_explicit(&mm->seq_epoch, memory_order_relaxed),
		vma_seq);
}

/*
 * mm_lock_seq with acquire, and the bound raised to it. The epoch is read
 * first (acquire): the writer stores the wrapped sequence before the new
 * epoch, so the sequence read after it belongs to that epoch or a later
 * one, and a later one only ends more cycles of this epoch (all of them).
 */
static inline uint32_t seen_refresh(struct uvma_mm *mm, _Atomic uint64_t *seen)
{
	uint32_t epoch =
		atomic_load_explicit(&mm->seq_epoch, memory_order_acquire);
	uint32_t seq =
		atomic_load_explicit(&mm->lock_seq, memory_order_acquire);

	if (seen)
		atomic_store_explicit(seen, seen_make(epoch, seq),
				      memory_order_release);
	return seq;
}

static inline struct uvma_mm *vma_owner(struct uvma_vma *vma)
{
	return atomic_load_explicit(&vma->mm, memory_order_relaxed);
}

/*
 * Rule 5. Release: our reads of the VMA happen before whatever the writer
 * does once it sees the count drop (it loads with acquire). After the
 * decrement the object is not ours: no field, not even mm, is read.
 */
static inline void vma_end_read(struct uvma_vma *vma)
{
	uint32_t old = atomic_fetch_sub_explicit(&vma->refcnt, 1,
						 memory_order_release);

	UVMA_ASSERT(old != 0);
	if (old - 1 == VMA_LOCK_OFFSET || old - 1 == VMA_LOCK_OFFSET + 1)
		futex_wake(&vma->refcnt, INT_MAX);
}

/*
 * Rule 4. Called under RCU with a VMA pointer from mm's tree, which may be
 * stale: the object may have been detached, freed, even reused by another
 * mm since. The count decides first: the increment only succeeds on an
 * attached object below the limit, and from then on the object cannot be
 * detached or freed under us (detach waits for us), so its owner and
 * lock_seq can be checked. seen: the calling thread's sequence bound for mm
 * (above), or NULL to read mm_lock_seq every time.
 */
static inline enum vma_read vma_start_read_seen(struct uvma_mm *mm,
						struct uvma_vma *vma,
						_Atomic uint64_t *seen)
{
	uint64_t bound =
		seen ? atomic_load_explicit(seen, memory_order_acquire) : 0;
	uint32_t old, vseq;

	/* A shortcut only, with no ordering: a wrong answer either way is
	 * corrected (or made harmless) by the checks after the increment. */
	vseq = atomic_load_explicit(&vma->lock_seq, memory_order_relaxed);
	if (!seen_covers(mm, bound, vseq) &&
	    seq_locks(vseq, atomic_load_explicit(&mm->lock_seq,
						 memory_order_relaxed)))
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
	 * Write-locked in the current cycle? Acquire on lock_seq: a value the
	 * wrap stored (0, mm.c) comes with the cycles before it. Then the
	 * bound, whose epoch is read after the increment: a lock_seq of a
	 * newer epoch was stored after that epoch was, and the increment's
	 * acquire made both visible. Else acquire on mm_lock_seq: if the
	 * writer of lock_seq's cycle has ended it (mmap_write_unlock's
	 * release store), everything it wrote to this VMA is visible to us.
	 */
	vseq = atomic_load_explicit(&vma->lock_seq, memory_order_acquire);
	if (seen_covers(mm, bound, vseq))
		return VMA_READ_LOCKED;
	if (seq_locks(vseq, seen_refresh(mm, seen))) {
		vma_end_read(vma);
		return VMA_READ_BUSY;
	}
	return VMA_READ_LOCKED;
}

/* vma_start_read_seen without a bound: mm_lock_seq read every time. */
static inline enum vma_read vma_start_read(struct uvma_mm *mm,
					   struct uvma_vma *vma)
{
	return vma_start_read_seen(mm, vma, NULL);
}

#endif /* UVMA_DESIGN_REFCOUNT */

#endif
