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
#include "plan.h"

/*
 * The areas of [start, end) and the ones that end at start or begin at end
 * (merge candidates), in one walk of [start - 1, end + 1).
 */
static int protect_collect(struct plan *p, uint64_t start, uint64_t end)
{
	struct tree_iter it;
	struct tree_entry e;

	tree_iter_start(&it, &p->mm->tree, start ? start - 1 : 0, end + 1);
	while (tree_iter_next(&it, &e)) {
		if (e.start > end)
			break;
		if (e.end >= start && plan_add_old(p, e.ptr))
			return -ENOMEM;
	}
	return 0;
}

/*
 * Where the change stops: the end of the range, or the first hole or the
 * first area that may not have prot (*stop then -ENOMEM or -EACCES: Linux
 * fails with it after changing what came before). Drops from the plan what
 * lies beyond, except an area starting right there (a merge candidate).
 */
static uint64_t protect_reach(struct plan *p, size_t first, uint64_t start,
			      uint64_t end, unsigned prot, int *stop)
{
	uint64_t pos = start;
	size_t i;

	for (i = first; i < p->nold && p->old[i]->start < end; i++) {
		if (p->old[i]->start > pos)
			break;
		if (p->mm->pager &&
		    pager_refuses_prot(p->mm, p->old[i], prot)) {
			*stop = -EACCES;
			break;
		}
		pos = p->old[i]->end;
	}
	if (pos >= end)
		return end;
	*stop = *stop ? *stop : -ENOMEM;
	p->nold = i < p->nold && p->old[i]->start == pos ? i + 1 : i;
	return pos;
}

/*
 * Plan: every area in [start, end) gets prot, up to the first hole or the
 * first area that may not have it (protect_reach).
 */
static int plan_protect(struct plan *p, uint64_t start, uint64_t end,
			unsigned prot, int *stop)
{
	unsigned shift = p->mm->page_shift;
	size_t i, first;
	int err;

	*stop = 0;
	err = protect_collect(p, start, end);
	if (err)
		return err;
	first = p->nold && p->old[0]->end == start;
	end = protect_reach(p, first, start, end, prot, stop);
	if (end <= start)
		return 0; /* nothing mapped at start */
	for (i = 0; i < p->nold; i++) {
		struct area s = area_of(p->old[i]);
		struct area a = area_clip(&s, s.start, start, shift);
		struct area b, c;

		/* An area that keeps its protection is left whole, as Linux
		 * skips it: cut in pieces that merge back, it would read as
		 * changed and merge with a neighbour Linux leaves apart (a
		 * stack grown against it). */
		if (s.prot == prot) {
			if (plan_add_area(p, &s))
				return -ENOMEM;
			continue;
		}
		b = area_clip(&s, start > s.start ? start : s.start,
			      end < s.end ? end : s.end, shift);
		c = area_clip(&s, end > s.start ? end : s.start, s.end, shift);
		if (s.start < start && plan_add_area(p, &a))
			return -ENOMEM;
		if (b.start < b.end && s.start < end && s.end > start) {
			b.prot = prot;
			b.changed = true;
			if (plan_add_area(p, &b))
				return -ENOMEM;
		}
		if (s.end > end && plan_add_area(p, &c))
			return -ENOMEM;
	}
	plan_merge(p);
	return 0;
}

int uvma_mprotect(struct uvma_mm *mm, uint64_t addr, uint64_t len,
		  unsigned prot)
{
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
	err = plan_protect(&p, addr, end, prot, &stop);
	if (!err && p.nareas)
		err = plan_apply(&p);
	plan_finish(&p);
	mmap_write_unlock(mm);
	if (!err)
		err = stop;
	return err;
}
