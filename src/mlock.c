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

#include "ops.h"
#include "plan.h"
#include "populate.h"

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
	if (end < start)
		return -EINVAL;
	if (end == start)
		return 0;
	mmap_write_lock(mm);
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
	return lock_all(mm, flags);
}

int uvma_munlockall(struct uvma_mm *mm)
{
	return lock_all(mm, 0);
}
