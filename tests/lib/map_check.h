/*
 * map_check.h - the invariants of an address space's map, checked from the
 * outside after any map operation: what the tree holds, what each VMA
 * says about itself, the lock state a quiescent map must be in, Linux's
 * merge rule, and the VMA pool's count. Used by the fuzzer (tests/fuzz/)
 * and by any test that changes the map.
 *
 * Context: no writer runs while these run (the caller holds mmap_lock, for
 * reading or writing, or is the only thread using mm). The checks read the
 * tree as its writer would; the walk also holds the RCU read lock, so a
 * caller that only holds mmap_lock for reading is safe as well.
 *
 * Each check returns 0, or -EUCLEAN with a description of the first
 * violation in msg (always NUL-terminated when len > 0).
 */
#ifndef UVMA_TEST_MAP_CHECK_H
#define UVMA_TEST_MAP_CHECK_H

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "anon.h"
#include "mm.h"
#if __has_include("ops.h")
#include "ops.h"
#endif
#include "rcu.h"
#include "tree.h"
#include "uvma.h"
#include "vma.h"

#ifndef EUCLEAN
#define EUCLEAN 117
#endif

/*
 * Anonymous shared areas may carry a private backing id in file_id (ops.h:
 * each mapping is its own shmem object, as on Linux), from this value up;
 * uvma_vma_info reports 0 for them. Without such an id the checker cannot
 * tell pieces of one mapping from two mappings, and asks no merge of them.
 */
#ifdef OPS_SHMEM_ID_BASE
#define MAP_CHECK_SHMEM_ID_BASE OPS_SHMEM_ID_BASE
#else
#define MAP_CHECK_SHMEM_ID_BASE (UINT64_C(1) << 63)
#endif

#define MAP_CHECK_PROT_MASK (UVMA_PROT_READ | UVMA_PROT_WRITE | UVMA_PROT_EXEC)
#define MAP_CHECK_TYPE_MASK (UVMA_MAP_SHARED | UVMA_MAP_PRIVATE)

/* What the caller knows about the rest of the process. */
struct map_check_opts {
	/* The number of VMAs the tree must hold, or -1 for "don't know". */
	long expect_count;
	/* mm is the only live address space in the process: the pool's live
	 * objects (objects - free) must equal the VMAs in this tree, so an
	 * object leaked by a failed operation shows here. Otherwise they
	 * only have to cover them. */
	bool only_mm;
	/* Two adjacent areas Linux's rule would merge may stay apart: a fork
	 * child's areas that only their locks kept apart are (Linux leaves
	 * them so); a test that knows the exact boundaries (the fuzzer's
	 * model) checks them instead. */
	bool unmerged_ok;
};

__attribute__((format(printf, 3, 4))) static inline int
map_check_fail(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (msg && len) {
		va_start(ap, fmt);
		vsnprintf(msg, len, fmt, ap);
		va_end(ap);
	}
	return -EUCLEAN;
}

/*
 * Would Linux have merged prev and next, which touch (prev->end ==
 * next->start)? The rule of include/uvma.h: same protection, flags, file
 * and user pointer, page offsets that continue. Anonymous shared areas are
 * each their own shmem object on Linux: two of them merge only when they
 * are pieces of one mapping, which the backing id tells; with no id (0)
 * nothing is asked. A stack that grew against another stack stays apart
 * (Linux's growth merges nothing), so two growsdown areas are not asked
 * either. Touched areas follow the rule of their tags (anon.h).
 */
static inline bool map_check_mergeable(const struct uvma_vma *prev,
				       const struct uvma_vma *next,
				       unsigned page_shift)
{
	unsigned anon_shared = UVMA_MAP_SHARED | UVMA_MAP_ANONYMOUS;

	if (prev->end != next->start)
		return false;
	if (prev->prot != next->prot || prev->flags != next->flags ||
	    prev->file_id != next->file_id || prev->user != next->user)
		return false;
	if ((prev->flags & anon_shared) == anon_shared && prev->file_id == 0)
		return false;
	if (prev->flags & UVMA_MAP_GROWSDOWN)
		return false;
	if (!anon_compatible(vma_anon(prev), false, vma_anon(next), false))
		return false;
	return prev->pgoff + ((prev->end - prev->start) >> page_shift) ==
	       next->pgoff;
}

/* One VMA on its own: range, owner, lock state, fields. */
static inline int map_check_one(struct uvma_mm *mm, const struct tree_entry *e,
				uint32_t mm_seq, char *msg, size_t len)
{
	struct uvma_vma *v = e->ptr;
	uint64_t mask = mm->page_size - 1;
	uint32_t ref = atomic_load_explicit(&v->refcnt, memory_order_relaxed);
	uint32_t seq = atomic_load_explicit(&v->lock_seq, memory_order_relaxed);
	uint64_t pages;

	if (e->start >= e->end || (e->start & mask) || (e->end & mask))
		return map_check_fail(msg, len,
				      "tree entry [%#" PRIx64 ", %#" PRIx64
				      ") is empty or not page aligned",
				      e->start, e->end);
	if (e->start < mm->base || e->end > mm->end)
		return map_check_fail(msg, len,
				      "tree entry [%#" PRIx64 ", %#" PRIx64
				      ") outside the window [%#" PRIx64
				      ", %#" PRIx64 ")",
				      e->start, e->end, mm->base, mm->end);
	if (v->start != e->start || v->end != e->end)
		return map_check_fail(msg, len,
				      "tree entry [%#" PRIx64 ", %#" PRIx64
				      ") holds a VMA that says [%#" PRIx64
				      ", %#" PRIx64 ")",
				      e->start, e->end, v->start, v->end);
	if (atomic_load_explicit(&v->mm, memory_order_relaxed) != mm)
		return map_check_fail(msg, len,
				      "VMA [%#" PRIx64 ", %#" PRIx64
				      ") belongs to another mm (%p, not %p)",
				      v->start, v->end,
				      (void *)atomic_load_explicit(
					      &v->mm, memory_order_relaxed),
				      (void *)mm);
	/* No reader and no writer may be left over once the operation
	 * returned: 1 is "attached, nobody inside". */
	if (ref != 1)
		return map_check_fail(msg, len,
				      "VMA [%#" PRIx64 ", %#" PRIx64
				      ") has refcnt %#" PRIx32
				      ", expected 1 (attached, idle)",
				      v->start, v->end, ref);
	/* lock_seq only ever takes odd sequences of this mm's past cycles, or
	 * 0 after a wrap (mm.c). Outside a write cycle none may equal the
	 * current one; inside one (the caller holds mmap_lock for writing)
	 * the caller's own write locks are legitimate. */
	if (seq != 0 && !(seq & 1))
		return map_check_fail(msg, len,
				      "VMA [%#" PRIx64 ", %#" PRIx64
				      ") has an even lock_seq %" PRIu32,
				      v->start, v->end, seq);
	if (seq > mm_seq)
		return map_check_fail(
			msg, len,
			"VMA [%#" PRIx64 ", %#" PRIx64 ") has lock_seq %" PRIu32
			" from the future (mm_lock_seq %" PRIu32 ")",
			v->start, v->end, seq, mm_seq);
	if (!(mm_seq & 1) && seq == mm_seq)
		return map_check_fail(msg, len,
				      "VMA [%#" PRIx64 ", %#" PRIx64
				      ") write-locked outside a write cycle",
				      v->start, v->end);
	if (v->prot & ~(uint32_t)MAP_CHECK_PROT_MASK)
		return map_check_fail(msg, len,
				      "VMA [%#" PRIx64 ", %#" PRIx64
				      ") has unknown prot bits %#" PRIx32,
				      v->start, v->end, v->prot);
	if ((v->flags & MAP_CHECK_TYPE_MASK) != UVMA_MAP_SHARED &&
	    (v->flags & MAP_CHECK_TYPE_MASK) != UVMA_MAP_PRIVATE)
		return map_check_fail(msg, len,
				      "VMA [%#" PRIx64 ", %#" PRIx64
				      ") flags %#" PRIx32
				      " not exactly one of SHARED/PRIVATE",
				      v->start, v->end, v->flags);
	/* Anonymous private: no backing at all. Anonymous shared: none, or
	 * its own shmem id. A file: a caller's id, never a shmem one. */
	if ((v->flags & UVMA_MAP_ANONYMOUS) && v->file_id != 0 &&
	    (!(v->flags & UVMA_MAP_SHARED) ||
	     v->file_id < MAP_CHECK_SHMEM_ID_BASE))
		return map_check_fail(msg, len,
				      "anonymous VMA [%#" PRIx64 ", %#" PRIx64
				      ") flags %#" PRIx32
				      " has file_id %#" PRIx64,
				      v->start, v->end, v->flags, v->file_id);
	if (!(v->flags & UVMA_MAP_ANONYMOUS) &&
	    (v->file_id == 0 || v->file_id >= MAP_CHECK_SHMEM_ID_BASE))
		return map_check_fail(msg, len,
				      "file VMA [%#" PRIx64 ", %#" PRIx64
				      ") has file_id %#" PRIx64,
				      v->start, v->end, v->file_id);
	pages = (v->end - v->start) >> mm->page_shift;
	if (v->pgoff + pages < v->pgoff)
		return map_check_fail(msg, len,
				      "VMA [%#" PRIx64 ", %#" PRIx64
				      ") pgoff %#" PRIx64 " + its pages wraps",
				      v->start, v->end, v->pgoff);
	return 0;
}

/* Walk the tree in order; *count receives the number of VMAs. */
static inline int map_check_walk(struct uvma_mm *mm, size_t *count,
				 bool unmerged_ok, char *msg, size_t len)
{
	uint32_t mm_seq =
		atomic_load_explicit(&mm->lock_seq, memory_order_relaxed);
	const struct uvma_vma *prev = NULL;
	struct tree_iter it;
	struct tree_entry e;
	uint64_t prev_end = 0;
	size_t n = 0;
	int err = 0;

	rcu_read_enter();
	tree_iter_start(&it, &mm->tree, 0, UINT64_MAX);
	while (!err && tree_iter_next(&it, &e)) {
		struct uvma_vma *v = e.ptr;

		if (n && e.start < prev_end) {
			err = map_check_fail(
				msg, len,
				"tree entries out of order or overlapping: "
				"[%#" PRIx64 ", ...) after one ending at "
				"%#" PRIx64,
				e.start, prev_end);
			break;
		}
		err = map_check_one(mm, &e, mm_seq, msg, len);
		if (err)
			break;
		if (prev && !unmerged_ok &&
		    map_check_mergeable(prev, v, mm->page_shift)) {
			err = map_check_fail(
				msg, len,
				"not merged: [%#" PRIx64 ", %#" PRIx64
				") and [%#" PRIx64 ", %#" PRIx64
				") touch with prot %#" PRIx32
				", flags %#" PRIx32 ", file %" PRIu64
				", pgoff %#" PRIx64 " + %#" PRIx64
				" pages = %#" PRIx64,
				prev->start, prev->end, v->start, v->end,
				v->prot, v->flags, v->file_id, prev->pgoff,
				(prev->end - prev->start) >> mm->page_shift,
				v->pgoff);
			break;
		}
		prev = v;
		prev_end = e.end;
		n++;
	}
	rcu_read_exit();
	*count = n;
	return err;
}

static inline int check_map_invariants_ex(struct uvma_mm *mm,
					  const struct map_check_opts *o,
					  char *msg, size_t len)
{
	struct vma_pool_stats ps;
	struct tree_stats ts;
	size_t n = 0;
	uint64_t live;
	int err;

	if (msg && len)
		msg[0] = '\0';
	err = tree_check(&mm->tree, msg, len);
	if (err)
		return err;
	err = map_check_walk(mm, &n, o && o->unmerged_ok, msg, len);
	if (err)
		return err;
	tree_stats(&mm->tree, &ts);
	if (ts.entries != n)
		return map_check_fail(msg, len,
				      "tree_stats counts %zu entries, the walk "
				      "%zu",
				      ts.entries, n);
	if (o && o->expect_count >= 0 && (size_t)o->expect_count != n)
		return map_check_fail(msg, len,
				      "%zu VMAs in the tree, expected %ld", n,
				      o->expect_count);
	vma_pool_stats(&ps);
	if (ps.free > ps.objects)
		return map_check_fail(msg, len,
				      "pool: %" PRIu64 " free of %" PRIu64
				      " objects",
				      ps.free, ps.objects);
	live = ps.objects - ps.free;
	if (live < n)
		return map_check_fail(msg, len,
				      "pool: %" PRIu64
				      " live objects but %zu VMAs in the tree",
				      live, n);
	if (o && o->only_mm && live != n)
		return map_check_fail(msg, len,
				      "pool: %" PRIu64
				      " live objects but %zu VMAs in the only "
				      "tree (a leak, or a double free)",
				      live, n);
	return 0;
}

/* The checks that need no knowledge of the rest of the process. */
static inline int check_map_invariants(struct uvma_mm *mm, char *msg,
				       size_t len)
{
	return check_map_invariants_ex(mm, NULL, msg, len);
}

/*
 * Objects the caller saw leave the map (freed by an operation) and that no
 * allocation can have taken since: each must be detached (refcnt 0), or a
 * stale reader could still lock it. Reads only the lock fields, which stay
 * readable (and unpoisoned) while an object is free.
 */
static inline int check_freed_detached_msg(struct uvma_vma *const *objs,
					   size_t n, char *msg, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t ref = atomic_load_explicit(&objs[i]->refcnt,
						    memory_order_relaxed);

		if (ref != 0)
			return map_check_fail(
				msg, len,
				"freed VMA %p has refcnt %#" PRIx32
				", expected 0 (detached)",
				(void *)objs[i], ref);
	}
	return 0;
}

static inline int check_freed_detached(struct uvma_vma *const *objs, size_t n)
{
	return check_freed_detached_msg(objs, n, NULL, 0);
}

#endif
