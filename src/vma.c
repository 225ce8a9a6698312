/*
 * vma.c - VMA lifetime (allocate, duplicate, free) and the two basic map
 * changes everything else is built from: insert a new VMA, remove one.
 *
 * Locks: every function but vma_alloc/vma_dup/vma_free runs under the mm's
 * mmap_lock held for writing, and write-locks the VMAs it changes at the
 * place it changes them (seeds/001). vma_alloc and vma_dup produce detached
 * objects that no reader can lock; vma_free takes detached ones only.
 */
#include <errno.h>
#include <string.h>

#include "debug.h"
#include "hook.h"
#include "mm.h"
#include "vma.h"

#ifdef UVMA_TEST_HOOKS
_Atomic(hook_fn) hook_current;
#endif

/* Clear what is ours to clear: never refcnt or lock_seq (stale readers). */
static void vma_clear_fields(struct uvma_vma *v)
{
	v->start = 0;
	v->end = 0;
	v->prot = 0;
	v->flags = 0;
	v->pgoff = 0;
	v->user = NULL;
	v->file_id = 0;
}

struct uvma_vma *vma_alloc(struct uvma_mm *mm)
{
	struct uvma_vma *v = vma_pool_get();

	if (!v)
		return NULL;
	vma_lock_init(v);
	vma_assert_detached(v);
	/* Relaxed: published to readers by vma_mark_attached's release. */
	atomic_store_explicit(&v->mm, mm, memory_order_relaxed);
	vma_clear_fields(v);
	return v;
}

/*
 * A copy never inherits the lock fields: the source may have readers, and
 * a copy born with their count would look attached and lockable before it
 * is in any tree (DESIGN.md section 4).
 */
struct uvma_vma *vma_dup(const struct uvma_vma *src)
{
	struct uvma_mm *mm =
		atomic_load_explicit(&src->mm, memory_order_relaxed);
	struct uvma_vma *v = vma_alloc(mm);

	if (!v)
		return NULL;
#if defined(UVMA_BROKEN_DUP_COPIES_COUNT) && UVMA_DESIGN == UVMA_DESIGN_REFCOUNT
	/* The historical bug: a whole-object copy, lock fields included. */
	atomic_store_explicit(
		&v->refcnt,
		atomic_load_explicit(&src->refcnt, memory_order_relaxed),
		memory_order_relaxed);
	atomic_store_explicit(
		&v->lock_seq,
		atomic_load_explicit(&src->lock_seq, memory_order_relaxed),
		memory_order_relaxed);
#endif
	v->start = src->start;
	v->end = src->end;
	v->prot = src->prot;
	v->flags = src->flags;
	v->pgoff = src->pgoff;
	v->user = src->user;
	v->file_id = src->file_id;
	return v;
}

void vma_free(struct uvma_vma *vma)
{
	vma_assert_detached(vma);
	vma_release(vma);
}

static bool range_ok(struct uvma_mm *mm, uint64_t start, uint64_t end)
{
	uint64_t mask = mm->page_size - 1;

	return start < end && !(start & mask) && !(end & mask) &&
	       start >= mm->base && end <= mm->end;
}

int __mm_insert_vma(struct uvma_mm *mm, struct uvma_vma *vma)
{
	struct tree_entry e;
	int err;

	mmap_assert_write_locked(mm);
	UVMA_ASSERT(atomic_load_explicit(&vma->mm, memory_order_relaxed) == mm);
	vma_assert_detached(vma);
	if (!range_ok(mm, vma->start, vma->end))
		return -EINVAL;
	if (tree_find_above(&mm->tree, vma->start, &e) && e.start < vma->end)
		return -EEXIST;
#ifndef UVMA_BROKEN_ATTACH_UNLOCKED
	/* Rule 7: a reader that finds it in the tree fails until the
	 * writer's cycle ends. */
	vma_start_write(vma);
#endif
	vma_mark_attached(vma);
	err = tree_store(&mm->tree, vma->start, vma->end, vma);
	if (err) {
		/* Never published, but stale readers of the object's past
		 * lives may have raised the count since attach: detach waits
		 * them out. */
		vma_mark_detached(vma);
		return err;
	}
	return 0;
}

int __mm_remove_vma(struct uvma_mm *mm, struct uvma_vma *vma)
{
	int err;

	mmap_assert_write_locked(mm);
	vma_start_write(vma);
	err = tree_store(&mm->tree, vma->start, vma->end, NULL);
	if (err)
		return err;
#ifndef UVMA_BROKEN_FREE_ATTACHED
	/* Detach after the unlink (seeds/000): no new reader finds it. */
	vma_mark_detached(vma);
#endif
	vma_free(vma);
	return 0;
}
