/*
 * maps.c - uvma_maps: a consistent picture of the map for a reader that
 * does not want to stop the writers.
 *
 * Locks: the walk runs under RCU, read-locking each VMA while it copies it
 * (vma_start_read), and keeps the copy only if mm_lock_seq is the same even
 * value before and after, which means no write cycle began or ended
 * meanwhile: the copy is then the map at one instant. After a few attempts
 * spoiled by writers it walks once under mmap_lock for reading. Why the
 * sequence check is sound: a change the walk saw was made in a write cycle;
 * the walk saw it either through a VMA lock (whose acquire increment reads
 * after the writer's cycle began, so the later sequence load reads at least
 * the odd value) or through the tree root (acquire, published after the
 * cycle began): either way the final load differs from the first.
 */
#include <errno.h>
#include <stdlib.h>

#include "alloc.h"
#include "mm.h"
#include "rcu.h"
#include "vma_lock.h"

#if UVMA_DESIGN == UVMA_DESIGN_GLOBAL
#define MAPS_ATTEMPTS 0 /* the baseline has no VMA lock to walk with */
#else
#define MAPS_ATTEMPTS 4
#endif

struct area_buf {
	struct uvma_area_info *a;
	size_t n, cap;
};

static int buf_push(struct area_buf *b, const struct uvma_area_info *info)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 64;
		struct uvma_area_info *a;

		alloc_note();
		a = realloc(b->a, cap * sizeof(*a));

		if (!a)
			return -ENOMEM;
		b->a = a;
		b->cap = cap;
	}
	b->a[b->n++] = *info;
	return 0;
}

/* One walk under RCU: 0 (consistent copy), -EAGAIN (a writer got in the
 * way), -ENOMEM. */
static int walk_rcu(struct uvma_mm *mm, uint64_t start, uint64_t end,
		    struct area_buf *b)
{
	uint32_t seq =
		atomic_load_explicit(&mm->lock_seq, memory_order_acquire);
	struct tree_iter it;
	struct tree_entry e;
	int err = 0;

	if (seq & 1)
		return -EAGAIN; /* a writer is in its cycle */
	b->n = 0;
	rcu_read_enter();
	tree_iter_start(&it, &mm->tree, start, end);
	while (!err && tree_iter_next(&it, &e)) {
		struct uvma_vma *v = e.ptr;
		struct uvma_area_info info;

		if (e.start >= end)
			break;
		if (vma_start_read(mm, v) != VMA_READ_LOCKED) {
			err = -EAGAIN;
			break;
		}
		uvma_vma_info(v, &info);
		vma_end_read(v);
		if (info.start != e.start || info.end != e.end)
			err = -EAGAIN; /* changed since this tree snapshot */
		else
			err = buf_push(b, &info);
	}
	rcu_read_exit();
	if (err)
		return err;
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&mm->lock_seq, memory_order_relaxed) != seq)
		return -EAGAIN;
	return 0;
}

/* The walk of last resort: no writer can run. */
static int walk_locked(struct uvma_mm *mm, uint64_t start, uint64_t end,
		       struct area_buf *b)
{
	struct tree_iter it;
	struct tree_entry e;
	int err = 0;

	b->n = 0;
	mmap_read_lock(mm);
	rcu_read_enter();
	tree_iter_start(&it, &mm->tree, start, end);
	while (!err && tree_iter_next(&it, &e)) {
		struct uvma_area_info info;

		if (e.start >= end)
			break;
		uvma_vma_info(e.ptr, &info);
		err = buf_push(b, &info);
	}
	rcu_read_exit();
	mmap_read_unlock(mm);
	return err;
}

int uvma_maps(struct uvma_mm *mm, uint64_t start, uint64_t end, uvma_maps_fn fn,
	      void *arg)
{
	struct area_buf b = { 0 };
	int err = -EAGAIN;
	size_t i;

	if (start >= end)
		return 0;
	for (i = 0; i + 1 <= MAPS_ATTEMPTS && err == -EAGAIN; i++)
		err = walk_rcu(mm, start, end, &b);
	if (err == -EAGAIN)
		err = walk_locked(mm, start, end, &b);
	for (i = 0; !err && i < b.n; i++)
		err = fn(&b.a[i], arg);
	free(b.a);
	return err;
}
