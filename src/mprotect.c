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

/* An area of the range gets prot, unless the pager refuses it there. */
static int protect_apply(struct uvma_mm *mm, const struct uvma_vma *v,
			 struct area *a, const void *arg)
{
	unsigned prot = *(const unsigned *)arg;

	if (mm->pager && pager_refuses_prot(mm, v, prot))
		return -EACCES;
	a->prot = prot;
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

int uvma_mprotect(struct uvma_mm *mm, uint64_t addr, uint64_t len,
		  unsigned prot)
{
	struct modify m = { protect_apply, &prot, false };
	struct plan p;
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
	plan_init(&p, mm);
	err = plan_modify(&p, addr, end, &m, &stop);
	if (!err && plan_changes(&p)) {
		err = plan_apply(&p);
		if (!err)
			err = protect_populate(&p);
	}
	plan_finish(&p);
	mmap_write_unlock(mm);
	if (!err)
		err = stop;
	return err;
}
