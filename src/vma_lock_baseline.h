/*
 * vma_lock_baseline.h - the fast paths of the two baseline designs the
 * benchmark compares with (src/design.h): vma_start_read and vma_end_read
 * for UVMA_DESIGN_RWSEM and UVMA_DESIGN_GLOBAL. Included by vma_lock.h in
 * those builds only; the real library never sees this file.
 */
#ifndef UVMA_VMA_LOCK_BASELINE_H
#define UVMA_VMA_LOCK_BASELINE_H

#include <stdatomic.h>
#include <stdbool.h>

#include "design.h"
#include "mm.h"
#include "vma.h"

#if UVMA_DESIGN == UVMA_DESIGN_RWSEM

#include "rwsem.h"

/* Only odd (write-held) sequences lock, as in the real design. */
static inline bool seq_locks(uint32_t vma_seq, uint32_t mm_seq)
{
	return (mm_seq & 1) && vma_seq == mm_seq;
}

static inline void vma_end_read(struct uvma_vma *vma)
{
	rwsem_read_unlock(&vma->vm_lock);
}

/*
 * Linux 6.4 to 6.14. Under RCU, with a pointer from the tree: VMAs are
 * freed only after a grace period, so the object is this mm's VMA or one
 * that left the tree; never reused. Try the rwsem for reading (fails while
 * a writer holds or waits for it); then the write cycle's sequence says
 * whether the VMA is write-locked, and the flag whether it has left.
 */
static inline enum vma_read vma_start_read(struct uvma_mm *mm,
					   struct uvma_vma *vma)
{
	/* Shortcut only, corrected below. */
	if (seq_locks(
		    atomic_load_explicit(&vma->lock_seq, memory_order_relaxed),
		    atomic_load_explicit(&mm->lock_seq, memory_order_relaxed)))
		return VMA_READ_BUSY;
	if (!rwsem_read_trylock(&vma->vm_lock))
		return VMA_READ_BUSY;
	/* Acquire: if the writer that locked or detached this VMA has ended
	 * its cycle (release store of an even sequence), its stores to
	 * lock_seq, detached and the fields are visible below. A writer
	 * still in its cycle wrote lock_seq under vm_lock, which our
	 * trylock acquired. */
	if (seq_locks(
		    atomic_load_explicit(&vma->lock_seq, memory_order_relaxed),
		    atomic_load_explicit(&mm->lock_seq,
					 memory_order_acquire))) {
		vma_end_read(vma);
		return VMA_READ_BUSY;
	}
	if (atomic_load_explicit(&vma->detached, memory_order_relaxed)) {
		vma_end_read(vma);
		return VMA_READ_STALE;
	}
	return VMA_READ_LOCKED;
}

#else /* UVMA_DESIGN_GLOBAL */

/* No per-VMA lock: nobody locks a VMA without mmap_lock (fault.c and
 * maps.c go straight to it). */
static inline enum vma_read vma_start_read(struct uvma_mm *mm,
					   struct uvma_vma *vma)
{
	(void)mm;
	(void)vma;
	return VMA_READ_BUSY;
}

static inline void vma_end_read(struct uvma_vma *vma)
{
	(void)vma;
}

#endif

/* The baselines keep the reads their Linux had: no sequence bound
 * (vma_lock.h), mm_lock_seq is read on every lock. */
static inline enum vma_read vma_start_read_seen(struct uvma_mm *mm,
						struct uvma_vma *vma,
						_Atomic uint64_t *seen)
{
	(void)seen;
	return vma_start_read(mm, vma);
}

#endif
