/*
 * mlock.c - uvma_mlock, uvma_munlock, uvma_mlockall, uvma_munlockall with
 * Linux's semantics: UVMA_VM_LOCKED and UVMA_VM_LOCKONFAULT split and
 * merge areas through the plan engine, then the range is faulted in
 * (populate.c), which gives written private areas their first-write tag.
 * docs/semantics.md, "Flags and locks".
 *
 * Locks: mmap_lock for writing for the flag change and the populate that
 * follows (Linux populates after downgrading to reading; nothing in a
 * space without real memory waits for the populate, so uvma keeps it).
 */
#include <errno.h>

#include "mlock.h"
#include "ops.h"
#include "plan.h"
#include "populate.h"
#include "rcu.h"

/* ---- the limit (Linux's RLIMIT_MEMLOCK) ---------------------------------- */

static bool limited(const struct uvma_mm *mm)
{
	return mm->memlock_limit != UVMA_MEMLOCK_UNLIMITED;
}

static uint64_t limit_pages(const struct uvma_mm *mm)
{
	return mm->memlock_limit >> mm->page_shift;
}

/* Pages of [start, end) in areas that are (locked: VM_LOCKED) or all
 * mapped pages (locked false): Linux's locked_vm and total_vm over the
 * whole space, count_mm_mlocked_page_nr over a range. Caller holds
 * mmap_lock. */
static uint64_t pages_in(struct uvma_mm *mm, uint64_t start, uint64_t end,
			 bool locked)
{
	struct tree_iter it;
	struct tree_entry e;
	uint64_t n = 0;

	rcu_read_enter(); /* mmap_lock keeps the tree still; RCU: its rules */
	tree_iter_start(&it, &mm->tree, start, end);
	while (tree_iter_next(&it, &e) && e.start < end) {
		const struct uvma_vma *v = e.ptr;
		uint64_t s = e.start > start ? e.start : start;
		uint64_t t = e.end < end ? e.end : end;

		if (!locked || (v->flags & VMA_VM(UVMA_VM_LOCKED)))
			n += (t - s) >> mm->page_shift;
	}
	rcu_read_exit();
	return n;
}

bool mm_can_mlock(const struct uvma_mm *mm)
{
	return mm->memlock_limit != 0;
}

bool mm_lock_future_ok(struct uvma_mm *mm, unsigned flags, uint64_t bytes)
{
	if (!(flags & VMA_VM(UVMA_VM_LOCKED)) || !limited(mm))
		return true;
	return (bytes >> mm->page_shift) +
		       pages_in(mm, mm->base, mm->end, true) <=
	       limit_pages(mm);
}

/* Linux's do_mlock check: the pages the range adds to those locked (the
 * ones it holds locked already counted once) within the limit. */
static bool lock_fits(struct uvma_mm *mm, uint64_t start, uint64_t len)
{
	uint64_t locked;

	if (!limited(mm))
		return true;
	locked =
		(len >> mm->page_shift) + pages_in(mm, mm->base, mm->end, true);
	if (locked > limit_pages(mm) && start + len > start)
		locked -= pages_in(mm, start, start + len, true);
	return locked <= limit_pages(mm);
}

void uvma_mm_set_memlock_limit(struct uvma_mm *mm, uint64_t bytes)
{
	mmap_write_lock(mm);
	mm->memlock_limit = bytes;
	mmap_write_unlock(mm);
}

/* An area of the range gets the lock bits (VMA_VM) in arg. */
static int lock_apply(struct uvma_mm *mm, const struct uvma_vma *v,
		      struct area *a, const void *arg)
{
	unsigned bits = *(const unsigned *)arg;

	(void)mm;
	(void)v;
	a->flags = (a->flags & ~VMA_LOCKED_MASK) | bits;
	return 0;
}

/* Set the lock bits of [start, end) (skip_holes for mlockall); *stop as
 * plan_modify's. 0 or -ENOMEM (out of memory, nothing changed). */
static int __set_lock_bits(struct uvma_mm *mm, uint64_t start, uint64_t end,
			   unsigned bits, bool skip_holes, int *stop)
{
	struct modify m = { lock_apply, &bits, skip_holes };
	struct plan p;
	int err;

	plan_init(&p, mm);
	err = plan_modify(&p, start, end, &m, stop);
	if (!err && plan_changes(&p))
		err = plan_apply(&p);
	plan_finish(&p);
	return err;
}

/*
 * Linux's do_mlock: the start rounded down to its page, the length
 * (grown by that) rounded up, wrapping as Linux's unsigned arithmetic
 * does; then an empty range succeeds and a wrapping one fails.
 */
static int lock_range(struct uvma_mm *mm, uint64_t addr, uint64_t len,
		      unsigned bits)
{
	uint64_t mask = mm->page_size - 1, start = addr & ~mask, end;
	int err, stop;

	len = (len + (addr & mask) + mask) & ~mask;
	end = start + len;
	mmap_write_lock(mm);
	/* Linux checks the limit before the range (a wrapping one too). */
	if ((bits & VMA_VM(UVMA_VM_LOCKED)) && !lock_fits(mm, start, len)) {
		mmap_write_unlock(mm);
		return -ENOMEM;
	}
	if (end <= start) {
		mmap_write_unlock(mm);
		return end < start ? -EINVAL : 0;
	}
	err = __set_lock_bits(mm, start, end, bits, false, &stop);
	if (!err)
		err = stop;
	/* Only a complete change is faulted in; an area without access
	 * stops it, and Linux reports that as ENOMEM. */
	if (!err && (bits & VMA_VM(UVMA_VM_LOCKED)))
		err = __mm_populate(mm, start, end, POPULATE_LOCKED, false)
			      ? -ENOMEM
			      : 0;
	mmap_write_unlock(mm);
	return err;
}

int uvma_mlock(struct uvma_mm *mm, uint64_t addr, uint64_t len, unsigned flags)
{
	unsigned bits = VMA_VM(UVMA_VM_LOCKED);

	if (flags & ~UVMA_MLOCK_ONFAULT)
		return -EINVAL;
	if (!mm_can_mlock(mm))
		return -EPERM;
	if (flags & UVMA_MLOCK_ONFAULT)
		bits |= VMA_VM(UVMA_VM_LOCKONFAULT);
	return lock_range(mm, addr, len, bits);
}

int uvma_munlock(struct uvma_mm *mm, uint64_t addr, uint64_t len)
{
	return lock_range(mm, addr, len, 0);
}

/* Linux's apply_mlockall_flags: the future setting is replaced; with
 * MCL_CURRENT (or none: munlockall) every area gets the new bits. */
static int lock_all(struct uvma_mm *mm, unsigned flags)
{
	unsigned onfault =
		flags & UVMA_MCL_ONFAULT ? VMA_VM(UVMA_VM_LOCKONFAULT) : 0;
	unsigned bits = 0;
	int err = 0, stop;

	mmap_write_lock(mm);
	/* Linux compares every mapped page (total_vm) with the limit. */
	if ((flags & UVMA_MCL_CURRENT) && limited(mm) &&
	    pages_in(mm, mm->base, mm->end, false) > limit_pages(mm)) {
		mmap_write_unlock(mm);
		return -ENOMEM;
	}
	if (flags & UVMA_MCL_CURRENT)
		bits = VMA_VM(UVMA_VM_LOCKED) | onfault;
	if (!(flags & UVMA_MCL_FUTURE) || (flags & UVMA_MCL_CURRENT))
		err = __set_lock_bits(mm, mm->base, mm->end, bits, true, &stop);
	if (!err) {
		mm->def_flags &= ~VMA_LOCKED_MASK;
		if (flags & UVMA_MCL_FUTURE)
			mm->def_flags |= VMA_VM(UVMA_VM_LOCKED) | onfault;
	}
	if (!err && (flags & UVMA_MCL_CURRENT))
		__mm_populate(mm, mm->base, mm->end, POPULATE_LOCKED, true);
	mmap_write_unlock(mm);
	return err;
}

int uvma_mlockall(struct uvma_mm *mm, unsigned flags)
{
	if (!flags ||
	    (flags &
	     ~(UVMA_MCL_CURRENT | UVMA_MCL_FUTURE | UVMA_MCL_ONFAULT)) ||
	    flags == UVMA_MCL_ONFAULT)
		return -EINVAL;
	if (!mm_can_mlock(mm))
		return -EPERM;
	return lock_all(mm, flags);
}

int uvma_munlockall(struct uvma_mm *mm)
{
	return lock_all(mm, 0);
}
