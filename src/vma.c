/*
 * vma.c - VMA lifetime: allocate, duplicate, free. Only the plan engine
 * (plan.c) calls these, under the mm's mmap_lock held for writing.
 *
 * vma_alloc and vma_dup produce detached objects that no reader can lock;
 * vma_free takes detached ones only (docs/design.md section 4).
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
	atomic_store_explicit(&v->anon, 0, memory_order_relaxed);
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
 * is in any tree (docs/design.md section 4).
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
	vma_copy_fields(v, src);
	return v;
}

void vma_copy_fields(struct uvma_vma *dst, const struct uvma_vma *src)
{
	dst->start = src->start;
	dst->end = src->end;
	dst->prot = src->prot;
	dst->flags = src->flags;
	dst->pgoff = src->pgoff;
	atomic_store_explicit(
		&dst->anon,
		atomic_load_explicit(&src->anon, memory_order_relaxed),
		memory_order_relaxed);
	dst->user = src->user;
	dst->file_id = src->file_id;
}

void vma_free(struct uvma_vma *vma)
{
	vma_assert_detached(vma);
	vma_release(vma);
}
