/*
 * madvise.c - uvma_madvise with Linux's semantics: advice that sets hidden
 * flags splits and merges areas through the plan engine, as mprotect
 * does; advice about pages checks the areas as Linux does (and
 * MADV_POPULATE_* faults them in: populate.c). docs/semantics.md, "Flags
 * and locks", has each rule and its scenario.
 *
 * Locks: flag advice holds mmap_lock for writing (the plan write-locks the
 * areas that change); page advice holds it for reading, as Linux's.
 */
#include <errno.h>

#include "ops.h"
#include "pager.h"
#include "plan.h"
#include "populate.h"
#include "rcu.h"

/* The hidden flags an advice sets and clears (VMA_VM bits). */
struct flag_advice {
	unsigned set, clear;
	int advice;
};

/* Whether advice sets flags, and which: false for page advice. */
static bool flag_advice(int advice, struct flag_advice *f)
{
	static const struct {
		int advice;
		unsigned set, clear;
	} table[] = {
		{ UVMA_MADV_DONTFORK, UVMA_VM_DONTCOPY, 0 },
		{ UVMA_MADV_DOFORK, 0, UVMA_VM_DONTCOPY },
		{ UVMA_MADV_WIPEONFORK, UVMA_VM_WIPEONFORK, 0 },
		{ UVMA_MADV_KEEPONFORK, 0, UVMA_VM_WIPEONFORK },
		{ UVMA_MADV_DONTDUMP, UVMA_VM_DONTDUMP, 0 },
		{ UVMA_MADV_DODUMP, 0, UVMA_VM_DONTDUMP },
		{ UVMA_MADV_HUGEPAGE, UVMA_VM_HUGEPAGE, UVMA_VM_NOHUGEPAGE },
		{ UVMA_MADV_NOHUGEPAGE, UVMA_VM_NOHUGEPAGE, UVMA_VM_HUGEPAGE },
		{ UVMA_MADV_MERGEABLE, UVMA_VM_MERGEABLE, 0 },
		{ UVMA_MADV_UNMERGEABLE, 0, UVMA_VM_MERGEABLE },
		{ UVMA_MADV_SEQUENTIAL, UVMA_VM_SEQ_READ, UVMA_VM_RAND_READ },
		{ UVMA_MADV_RANDOM, UVMA_VM_RAND_READ, UVMA_VM_SEQ_READ },
		{ UVMA_MADV_NORMAL, 0, UVMA_VM_SEQ_READ | UVMA_VM_RAND_READ },
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (table[i].advice == advice) {
			f->set = VMA_VM(table[i].set);
			f->clear = VMA_VM(table[i].clear);
			f->advice = advice;
			return true;
		}
	}
	return false;
}

static bool page_advice(int advice)
{
	switch (advice) {
	case UVMA_MADV_WILLNEED:
	case UVMA_MADV_DONTNEED:
	case UVMA_MADV_DONTNEED_LOCKED:
	case UVMA_MADV_FREE:
	case UVMA_MADV_REMOVE:
	case UVMA_MADV_COLD:
	case UVMA_MADV_PAGEOUT:
	case UVMA_MADV_POPULATE_READ:
	case UVMA_MADV_POPULATE_WRITE:
		return true;
	default:
		return false;
	}
}

static bool is_private_anon(const struct uvma_vma *v)
{
	return (v->flags & (UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS)) ==
	       (UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS);
}

/*
 * A sealed private anonymous area that may not be written refuses advice
 * that would discard its pages, now or in a fork's child (Linux's mseal:
 * such memory cannot be changed by writing, so dropping it would be the
 * only way to change it).
 */
static bool sealed_discard(const struct uvma_vma *v, int advice)
{
	switch (advice) {
	case UVMA_MADV_DONTNEED:
	case UVMA_MADV_DONTNEED_LOCKED:
	case UVMA_MADV_FREE:
	case UVMA_MADV_REMOVE:
	case UVMA_MADV_DONTFORK:
	case UVMA_MADV_WIPEONFORK:
		return vma_sealed(v) && is_private_anon(v) &&
		       !(v->prot & UVMA_PROT_WRITE);
	default:
		return false;
	}
}

/* An area of the range under flag advice: Linux's per-area checks. */
static int advise_apply(struct uvma_mm *mm, const struct uvma_vma *v,
			struct area *a, const void *arg)
{
	const struct flag_advice *f = arg;

	(void)mm;
	if (sealed_discard(v, f->advice))
		return -EPERM;
	if (f->advice == UVMA_MADV_WIPEONFORK && !is_private_anon(v))
		return -EINVAL;
	/* KSM leaves shared memory alone, without an error. */
	if (f->advice == UVMA_MADV_MERGEABLE && (v->flags & UVMA_MAP_SHARED))
		return 0;
	a->flags = (a->flags & ~f->clear) | f->set;
	return 0;
}

static int advise_flags(struct uvma_mm *mm, uint64_t start, uint64_t end,
			const struct flag_advice *f)
{
	struct modify m = { advise_apply, f, true };
	struct plan p;
	int err, stop;

	mmap_write_lock(mm);
	plan_init(&p, mm);
	err = plan_modify(&p, start, end, &m, &stop);
	if (!err && plan_changes(&p))
		err = plan_apply(&p);
	plan_finish(&p);
	mmap_write_unlock(mm);
	/* Linux answers a split that cannot allocate with EAGAIN. */
	if (err)
		return -EAGAIN;
	return stop;
}

/* Page advice on one area: 0, or Linux's refusal. */
static int page_check(const struct uvma_vma *v, int advice)
{
	bool locked = v->flags & VMA_VM(UVMA_VM_LOCKED);

	if (sealed_discard(v, advice))
		return -EPERM;
	switch (advice) {
	case UVMA_MADV_DONTNEED:
	case UVMA_MADV_COLD:
	case UVMA_MADV_PAGEOUT:
		return locked ? -EINVAL : 0;
	case UVMA_MADV_FREE:
		return locked || !is_private_anon(v) ? -EINVAL : 0;
	case UVMA_MADV_REMOVE:
		if (locked || is_private_anon(v))
			return -EINVAL;
		return v->flags & UVMA_MAP_SHARED ? 0 : -EACCES;
	default:
		return 0; /* WILLNEED, DONTNEED_LOCKED */
	}
}

/* Page advice other than POPULATE_*: every area checked in order, holes
 * passed over and reported at the end. */
static int advise_pages(struct uvma_mm *mm, uint64_t start, uint64_t end,
			int advice)
{
	struct tree_iter it;
	struct tree_entry e;
	uint64_t pos = start;
	int err = 0, hole = 0;

	mmap_read_lock(mm);
	rcu_read_enter(); /* mmap_lock keeps the tree still; RCU: its rules */
	tree_iter_start(&it, &mm->tree, start, end);
	while (!err && tree_iter_next(&it, &e) && e.start < end) {
		if (e.start > pos)
			hole = -ENOMEM;
		err = page_check(e.ptr, advice);
		/* Real memory: each area's pages, in order, as Linux acts
		 * area by area. madvise(2) and fallocate(2) may block:
		 * outside the RCU section (mmap_lock keeps the walk valid). */
		if (!err && mm->pager) {
			rcu_read_exit();
			err = pager_advise(mm, e.ptr,
					   e.start > start ? e.start : start,
					   e.end < end ? e.end : end, advice);
			rcu_read_enter();
		}
		pos = e.end;
	}
	rcu_read_exit();
	mmap_read_unlock(mm);
	if (!err && pos < end)
		err = -ENOMEM;
	return err ? err : hole;
}

static int advise_populate(struct uvma_mm *mm, uint64_t start, uint64_t end,
			   int advice)
{
	int err;

	mmap_read_lock(mm);
	err = __mm_populate(mm, start, end,
			    advice == UVMA_MADV_POPULATE_READ ? POPULATE_READ
							      : POPULATE_WRITE,
			    false);
	mmap_read_unlock(mm);
	return err;
}

int uvma_madvise(struct uvma_mm *mm, uint64_t addr, uint64_t len, int advice)
{
	struct flag_advice f;
	bool flags = flag_advice(advice, &f);
	uint64_t end;

	/* Linux's order: the advice, the start, the length, the range. */
	if (!flags && !page_advice(advice))
		return -EINVAL;
	if (ops_range_end(mm, addr, len, &end))
		return -EINVAL;
	if (end == addr)
		return 0;
	if (flags)
		return advise_flags(mm, addr, end, &f);
	if (advice == UVMA_MADV_POPULATE_READ ||
	    advice == UVMA_MADV_POPULATE_WRITE)
		return advise_populate(mm, addr, end, advice);
	return advise_pages(mm, addr, end, advice);
}
