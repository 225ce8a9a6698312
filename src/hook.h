/*
 * hook.h - test hooks: named points in the lock paths where a test can run
 * code of its own, to force an interleaving deterministically (the race
 * reproductions in tests/race/). Compiled in only with UVMA_TEST_HOOKS:
 * into uvma_testlib (what the tests link) and the broken variants; the
 * library users get has none.
 *
 * Also the broken variants of section 7 of docs/design.md: building with
 * -DUVMA_BROKEN_<NAME> (CMake: -DUVMA_BROKEN=<name>) puts back one historical
 * bug, so that the test reproducing it can show that it fails.
 */
#ifndef UVMA_HOOK_H
#define UVMA_HOOK_H

#include <stdatomic.h>

struct uvma_mm;
struct uvma_vma;

enum hook_point {
	/* lock under RCU: the tree gave vma, nothing is locked yet */
	HOOK_LOOKUP_FOUND,
	/* vma_start_read: past the early lock_seq check, count not raised */
	HOOK_READ_EARLY_CHECKED,
	/* vma_start_read: the count was raised, nothing checked yet */
	HOOK_READ_COUNTED,
	/* plan_apply (writer, mmap_lock held for writing; vma is NULL): the
	 * plan's new objects are allocated, nothing is locked yet */
	HOOK_PLAN_READY,
	/* plan_apply: the tree transaction is committed, the VMAs that left
	 * the map are not detached yet (vma is NULL) */
	HOOK_PLAN_COMMITTED,
	/* pager (handler thread): the page at vma's fault is about to be
	 * filled; vma is the area it was looked up in (NULL in the broken
	 * variant, which holds no lock here) */
	HOOK_PAGER_FILL,
	/* uvma_mm_dup (writer of the parent, mm): the parent's area vma has
	 * just been copied into the child, the next is not locked yet */
	HOOK_DUP_COPIED,
};

typedef void (*hook_fn)(enum hook_point point, struct uvma_mm *mm,
			struct uvma_vma *vma);

#ifdef UVMA_TEST_HOOKS
extern _Atomic(hook_fn) hook_current;

static inline void hook_run(enum hook_point point, struct uvma_mm *mm,
			    struct uvma_vma *vma)
{
	/* Relaxed: tests install the hook before starting the threads that
	 * may run it. */
	hook_fn fn = atomic_load_explicit(&hook_current, memory_order_relaxed);

	if (fn)
		fn(point, mm, vma);
}

static inline void hook_set(hook_fn fn)
{
	atomic_store_explicit(&hook_current, fn, memory_order_relaxed);
}
#else
#define hook_run(point, mm, vma) ((void)0)
#endif

#endif
