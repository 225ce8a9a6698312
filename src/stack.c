/*
 * stack.c - stack growth: a fault just below a UVMA_MAP_GROWSDOWN area grows
 * it down to the faulting page, as Linux's expand_downwards does
 * (docs/design.md section 5; docs/semantics.md, "Stacks").
 *
 * Locks: the caller holds mmap_lock for writing. The fault path finds no
 * area under RCU, falls back to mmap_lock, and takes it for writing only
 * when the area above the address grows down (Linux since 6.5 does the
 * same: the per-VMA lock never expands a stack). The growth is a plan like
 * any map change, so the area is write-locked while its start moves.
 */
#include <errno.h>

#include "anon.h"
#include "mm.h"
#include "plan.h"
#include "tree.h"
#include "vma.h"

/* Linux's vma_is_accessible: an area a stack must keep its gap from. */
static bool accessible(const struct uvma_vma *v)
{
	return v->prot & (UVMA_PROT_READ | UVMA_PROT_WRITE | UVMA_PROT_EXEC);
}

/*
 * v becomes a: a plan of that one area alone. Linux's growth moves the
 * start and merges with nothing, even a stack it grows against (the area
 * below is not part of the plan, so it cannot merge).
 */
static int grow(struct uvma_mm *mm, struct uvma_vma *v, const struct area *a)
{
	struct plan p;
	int err;

	plan_init(&p, mm);
	err = plan_add_old(&p, v);
	if (!err)
		err = plan_add_area(&p, a);
	if (!err)
		err = plan_apply(&p);
	plan_finish(&p);
	return err;
}

bool mm_stack_above(struct uvma_mm *mm, uint64_t addr, struct tree_entry *e)
{
	return tree_find_above(&mm->tree, addr, e) && e->start > addr &&
	       (((struct uvma_vma *)e->ptr)->flags & UVMA_MAP_GROWSDOWN);
}

/*
 * Returns 0 (addr is covered now: grown, or by another thread's growth),
 * or -EFAULT (no growsdown area above addr, or it may not reach it: the
 * guard gap to an accessible area below, the size limit, the window),
 * or -ENOMEM (the plan's allocations).
 */
int __mm_expand_stack(struct uvma_mm *mm, uint64_t addr)
{
	struct tree_entry e, p;
	struct uvma_vma *v, *prev;
	struct area a;
	int err;

	mmap_assert_write_locked(mm);
	addr &= ~(mm->page_size - 1);
	if (tree_find(&mm->tree, addr, &e))
		return 0; /* another fault grew it meanwhile */
	if (!mm_stack_above(mm, addr, &e) || addr < mm->base)
		return -EFAULT;
	v = e.ptr;
	if (tree_find_below(&mm->tree, e.start, &p)) {
		prev = p.ptr;
		if (!(prev->flags & UVMA_MAP_GROWSDOWN) && accessible(prev) &&
		    addr - p.end < mm->stack_gap)
			return -EFAULT;
	}
	/* Linux gives the stack its anon_vma after the gap's check and
	 * before the size's: a growth past the limit leaves it touched. */
	err = __anon_prepare(mm, v);
	if (err)
		return err;
	/* Offsets may not run below 0 (Linux checks this before the size:
	 * a touched stack moved low keeps its small offset). */
	if ((e.start - addr) >> mm->page_shift > v->pgoff ||
	    e.end - addr > mm->stack_limit)
		return -EFAULT;
	a = area_of(v);
	a.start = addr;
	a.pgoff = v->pgoff - ((v->start - addr) >> mm->page_shift);
	return grow(mm, v, &a);
}
