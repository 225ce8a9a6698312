/*
 * mseal.c - uvma_mseal with Linux's semantics (6.10+): a range without
 * holes gets UVMA_VM_SEALED through the plan engine (plan_modify), and
 * the checks that sealed areas make the other calls do (mm_range_sealed:
 * munmap, MAP_FIXED, mremap, brk; mprotect and madvise look at each area
 * they change). docs/semantics.md, "Sealing". A space never sealed
 * (mm->sealed) skips the checks' walk: every munmap and MAP_FIXED made one
 * more descent of the tree for it (an mmap+munmap pair 0.91x the time
 * without it at 1k areas, 0.95x at 1M).
 *
 * Locks: mmap_lock for writing (uvma_mseal); the checks' callers hold it.
 */
#include <errno.h>

#include "ops.h"
#include "plan.h"
#include "rcu.h"

bool mm_range_sealed(struct uvma_mm *mm, uint64_t start, uint64_t end)
{
	struct tree_iter it;
	struct tree_entry e;
	bool sealed = false;

	mmap_assert_locked(mm);
	if (!mm->sealed)
		return false; /* no area was ever sealed: nothing to walk */
	rcu_read_enter(); /* mmap_lock keeps the tree still; RCU: its rules */
	tree_iter_start(&it, &mm->tree, start, end);
	while (!sealed && tree_iter_next(&it, &e) && e.start < end)
		sealed = vma_sealed(e.ptr);
	rcu_read_exit();
	return sealed;
}

bool mm_range_mapped(struct uvma_mm *mm, uint64_t start, uint64_t end)
{
	struct tree_iter it;
	struct tree_entry e;
	uint64_t pos = start;

	mmap_assert_locked(mm);
	rcu_read_enter(); /* mmap_lock keeps the tree still; RCU: its rules */
	tree_iter_start(&it, &mm->tree, start, end);
	while (pos < end && tree_iter_next(&it, &e) && e.start <= pos)
		pos = e.end;
	rcu_read_exit();
	return pos >= end;
}

/* Split v at addr; the pieces stay apart. 0 or -ENOMEM. */
static int split_at(struct uvma_mm *mm, struct uvma_vma *v, uint64_t addr)
{
	struct area s = area_of(v);
	struct area ab[2] = {
		area_clip(&s, s.start, addr, mm->page_shift),
		area_clip(&s, addr, s.end, mm->page_shift),
	};

	return __mm_rewrite(mm, v, ab, 2);
}

int __mm_unmap_sealed(struct uvma_mm *mm, uint64_t start, uint64_t end)
{
	struct uvma_vma *v;
	int err;

	if (!mm_range_sealed(mm, start, end))
		return 0;
	v = mm_vma_at(mm, start);
	if (v && v->start < start && !vma_sealed(v)) {
		err = split_at(mm, v, start);
		if (err)
			return err;
	}
	return -EPERM;
}

static int seal_apply(struct uvma_mm *mm, const struct uvma_vma *v,
		      struct area *a, const void *arg)
{
	(void)mm;
	(void)v;
	(void)arg;
	a->flags |= VMA_VM(UVMA_VM_SEALED);
	return 0;
}

int uvma_mseal(struct uvma_mm *mm, uint64_t addr, uint64_t len,
	       unsigned long flags)
{
	struct modify m = { seal_apply, NULL, false };
	uint64_t end;
	struct plan p;
	int err, stop;

	/* Linux's order: flags, the start, the length, the range. */
	if (flags || ops_range_end(mm, addr, len, &end))
		return -EINVAL;
	if (end == addr)
		return 0;
	mmap_write_lock(mm);
	/* A hole anywhere: nothing is sealed (Linux checks first). */
	if (!mm_range_mapped(mm, addr, end)) {
		mmap_write_unlock(mm);
		return -ENOMEM;
	}
	/* Before the plan: a seal half applied must still be checked. */
	mm->sealed = true;
	plan_init(&p, mm);
	err = plan_modify(&p, addr, end, &m, &stop);
	if (!err && plan_changes(&p))
		err = plan_apply(&p);
	plan_finish(&p);
	mmap_write_unlock(mm);
	return err ? err : stop;
}
