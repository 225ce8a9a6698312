/*
 * vma_lock_baseline.c - the writer side of the two baseline designs the
 * benchmark compares with (src/design.h, docs/design.md section 8); built only
 * into the benchmark's libraries, never into libuvma.
 *
 * rwsem (Linux 6.4 to 6.14): each VMA has a reader-writer semaphore, the
 * sequence of the write cycle that locked it and a detached flag. A writer
 * write-locks a VMA by taking the rwsem for writing, which waits for the
 * readers inside, storing the cycle's sequence and dropping the rwsem:
 * readers that come later see the sequence and back off until mmap_lock's
 * cycle ends. VMAs are freed through an RCU callback, one per VMA, so a
 * reader's stale pointer always points at a VMA of this mm.
 *
 * global (Linux before 6.4): no per-VMA lock; faults hold mmap_lock for
 * reading, so a removed VMA can be freed at once.
 *
 * Locks: as in vma_lock.c, every call but the readers' runs in the owning
 * mm's writer, holding mmap_lock for writing.
 */
#include "vma_lock.h"

#if UVMA_DESIGN == UVMA_DESIGN_RWSEM

void vma_lock_init(struct uvma_vma *vma)
{
	/* No stale reader can hold this object: it was freed after a grace
	 * period, or never used. */
	rwsem_init(&vma->vm_lock);
	atomic_store_explicit(&vma->lock_seq, 0, memory_order_relaxed);
	atomic_store_explicit(&vma->detached, true, memory_order_relaxed);
}

static void release_after_grace(struct rcu_head *head)
{
	struct uvma_vma *vma =
		(struct uvma_vma *)((char *)head -
				    offsetof(struct uvma_vma, rcu));

	rcu_reclaim_begin();
	vma_pool_put(vma);
}

void vma_release(struct uvma_vma *vma)
{
	rcu_defer(&vma->rcu, release_after_grace);
}

/* Rule 10's equivalent: under mmap_lock no writer can hold the rwsem. */
bool vma_start_read_locked(struct uvma_vma *vma)
{
	mmap_assert_locked(
		atomic_load_explicit(&vma->mm, memory_order_relaxed));
	rwsem_read_lock(&vma->vm_lock);
	return true;
}

void vma_start_write(struct uvma_vma *vma)
{
	struct uvma_mm *mm =
		atomic_load_explicit(&vma->mm, memory_order_relaxed);
	/* Relaxed: only this thread writes mm_lock_seq now. */
	uint32_t seq =
		atomic_load_explicit(&mm->lock_seq, memory_order_relaxed);

	mmap_assert_write_locked(mm);
	if (atomic_load_explicit(&vma->lock_seq, memory_order_relaxed) == seq)
		return;
	/* The write lock waits for the readers inside; readers after it see
	 * the sequence (the unlock releases it to their trylock). */
	rwsem_write_lock(&vma->vm_lock);
	atomic_store_explicit(&vma->lock_seq, seq, memory_order_relaxed);
	rwsem_write_unlock(&vma->vm_lock);
}

bool vma_is_write_locked(struct uvma_vma *vma)
{
	struct uvma_mm *mm =
		atomic_load_explicit(&vma->mm, memory_order_relaxed);

	return seq_locks(
		atomic_load_explicit(&vma->lock_seq, memory_order_relaxed),
		atomic_load_explicit(&mm->lock_seq, memory_order_relaxed));
}

/* Relaxed: readers read the flag only after the trylock and the acquire
 * of mm_lock_seq, which order them after this cycle's stores. */
void vma_mark_attached(struct uvma_vma *vma)
{
	vma_assert_write_locked(vma);
	atomic_store_explicit(&vma->detached, false, memory_order_relaxed);
}

/* No waiting: vma_start_write already drained the readers, and later ones
 * fail on the sequence, then on this flag. */
void vma_mark_detached(struct uvma_vma *vma)
{
	vma_assert_write_locked(vma);
	atomic_store_explicit(&vma->detached, true, memory_order_relaxed);
}

void vma_assert_write_locked(struct uvma_vma *vma)
{
	mmap_assert_write_locked(
		atomic_load_explicit(&vma->mm, memory_order_relaxed));
	UVMA_ASSERT(vma_is_write_locked(vma));
}

void vma_assert_attached(struct uvma_vma *vma)
{
	UVMA_ASSERT(
		!atomic_load_explicit(&vma->detached, memory_order_relaxed));
	(void)vma;
}

void vma_assert_detached(struct uvma_vma *vma)
{
	UVMA_ASSERT(atomic_load_explicit(&vma->detached, memory_order_relaxed));
	(void)vma;
}

#elif UVMA_DESIGN == UVMA_DESIGN_GLOBAL

void vma_lock_init(struct uvma_vma *vma)
{
	(void)vma;
}

/* Readers hold mmap_lock, which the remover holds for writing. */
void vma_release(struct uvma_vma *vma)
{
	vma_pool_put(vma);
}

/* Holding mmap_lock for reading is the lock. */
bool vma_start_read_locked(struct uvma_vma *vma)
{
	(void)vma;
	return true;
}

void vma_start_write(struct uvma_vma *vma)
{
	mmap_assert_write_locked(
		atomic_load_explicit(&vma->mm, memory_order_relaxed));
}

bool vma_is_write_locked(struct uvma_vma *vma)
{
	struct uvma_mm *mm =
		atomic_load_explicit(&vma->mm, memory_order_relaxed);

	return atomic_load_explicit(&mm->lock_seq, memory_order_relaxed) & 1;
}

void vma_mark_attached(struct uvma_vma *vma)
{
	vma_assert_write_locked(vma);
}

void vma_mark_detached(struct uvma_vma *vma)
{
	vma_assert_write_locked(vma);
}

void vma_assert_write_locked(struct uvma_vma *vma)
{
	mmap_assert_write_locked(
		atomic_load_explicit(&vma->mm, memory_order_relaxed));
}

void vma_assert_attached(struct uvma_vma *vma)
{
	(void)vma;
}

void vma_assert_detached(struct uvma_vma *vma)
{
	(void)vma;
}

#endif
