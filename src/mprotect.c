/*
 * mprotect.c - uvma_mprotect with Linux's semantics: splits and merges,
 * and a hole in the range fails with -ENOMEM after what came before it has
 * changed (docs/design.md section 5; docs/semantics.md).
 *
 * Locks: mmap_lock for writing for the whole call; the plan (plan.c)
 * write-locks only the areas that change.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "pager.h"
#include "anon.h"
#include "plan.h"
#include "rcu.h"

/* An area of the range gets prot, unless the pager refuses it there. */
static int protect_apply(struct uvma_mm *mm, const struct uvma_vma *v,
			 struct area *a, const void *arg)
{
	unsigned prot = *(const unsigned *)arg;

	if (vma_sealed(v))
		return -EPERM;
	if (mm->pager && pager_refuses_prot(mm, v, prot))
		return -EACCES;
	a->prot = prot;
	a->flags = vma_account_protect(v->flags, v->prot, prot, a->anon);
	/* Linux faults a locked private area in when it becomes writable
	 * (mprotect_fixup), which gives it its first-write tag. */
	a->populate = (v->flags & VMA_LOCKED_MASK) == VMA_VM(UVMA_VM_LOCKED) &&
		      !(v->flags & UVMA_MAP_SHARED) &&
		      !(v->prot & UVMA_PROT_WRITE) && (prot & UVMA_PROT_WRITE);
	return 0;
}

/* The areas protect_apply marked, once applied (and merged). 0 or
 * -ENOMEM (the tags ran out and could not be renumbered). */
static int protect_populate(struct plan *p)
{
	int err = 0;

	for (size_t i = 0; i < p->nareas && !err; i++)
		if (p->areas[i].populate && anon_needed(p->areas[i].obj))
			err = __anon_prepare(p->mm, p->areas[i].obj);
	return err;
}

/* One plan over [start, end); *stop as plan_modify's. 0 or -ENOMEM. */
static int protect_plan(struct uvma_mm *mm, uint64_t start, uint64_t end,
			unsigned *prot, int *stop)
{
	struct modify m = { protect_apply, prot, false };
	struct plan p;
	int err;

	plan_init(&p, mm);
	err = plan_modify(&p, start, end, &m, stop);
	if (!err && plan_changes(&p)) {
		err = plan_apply(&p);
		if (!err)
			err = protect_populate(&p);
	}
	plan_finish(&p);
	return err;
}

/* Whether the change makes a locked private area writable (it is then
 * faulted in: protect_apply) before the first hole. */
static bool protect_fills(struct uvma_mm *mm, uint64_t start, uint64_t end,
			  unsigned prot)
{
	struct tree_iter it;
	struct tree_entry e;
	uint64_t pos = start;
	bool fills = false;

	if (!(prot & UVMA_PROT_WRITE))
		return false;
	rcu_read_enter(); /* mmap_lock keeps the tree still; RCU: its rules */
	tree_iter_start(&it, &mm->tree, start, end);
	/* Up to the first hole: nothing after it changes. */
	while (!fills && tree_iter_next(&it, &e) && e.start < end &&
	       e.start <= pos) {
		const struct uvma_vma *v = e.ptr;

		fills = (v->flags & VMA_LOCKED_MASK) ==
				VMA_VM(UVMA_VM_LOCKED) &&
			!(v->flags & UVMA_MAP_SHARED) &&
			!(v->prot & UVMA_PROT_WRITE);
		pos = e.end;
	}
	rcu_read_exit();
	return fills;
}

/*
 * Area by area, as Linux changes them: each area that is faulted in gets
 * its tag before the next area's change merges with it (one plan would
 * merge first and tag after, which can join areas Linux keeps apart).
 * Only when some area is faulted in; *stop as plan_modify's.
 */
static int protect_stepwise(struct uvma_mm *mm, uint64_t start, uint64_t end,
			    unsigned *prot, int *stop)
{
	uint64_t pos = start;
	int err = 0;

	*stop = 0;
	while (!err && !*stop && pos < end) {
		struct uvma_vma *v = mm_vma_at(mm, pos);
		uint64_t seg;

		if (!v) {
			*stop = -ENOMEM;
			break;
		}
		seg = v->end < end ? v->end : end;
		err = protect_plan(mm, pos, seg, prot, stop);
		pos = seg;
	}
	return err;
}

int uvma_mprotect(struct uvma_mm *mm, uint64_t addr, uint64_t len,
		  unsigned prot)
{
	uint64_t end;
	int err, stop;

	/* Linux's order of checks: the start, an empty range (success),
	 * overflow, then the protection bits. */
	if (!ops_page_aligned(mm, addr))
		return -EINVAL;
	if (!len)
		return 0;
	len = ops_page_round(mm, len);
	end = addr + len;
	if (!len || end <= addr)
		return -ENOMEM;
	if (prot & ~OPS_PROT_ALL)
		return -EINVAL;
	mmap_write_lock(mm);
	if (protect_fills(mm, addr, end, prot))
		err = protect_stepwise(mm, addr, end, &prot, &stop);
	else
		err = protect_plan(mm, addr, end, &prot, &stop);
	mmap_write_unlock(mm);
	if (!err)
		err = stop;
	return err;
}
