/*
 * populate.c - what faulting a range in does to the map: uvma_mlock,
 * uvma_mlockall, locked new mappings and MADV_POPULATE_* fault every page
 * of a range in, as Linux's populate does, and a private area written so
 * (or read, in a space without a zero page) gets its first-write tag
 * (anon.h), which decides its later merges
 * (docs/design.md section 5, "Flags and locks").
 *
 * Locks: the caller holds mmap_lock (reading or writing) for the whole
 * walk; the tree does not change under it. Tags are given by
 * __anon_prepare, under mm->anon_lock, as a first write fault gives them.
 * In a pager space the pages are filled too (pager_populate), outside
 * the RCU section.
 */
#include <errno.h>

#include "anon.h"
#include "pager.h"
#include "plan.h"
#include "populate.h"
#include "rcu.h"

/* Whether [start, end) of v reaches past its shmem object (Linux: the
 * populate meets SIGBUS there). */
static bool past_shm_end(const struct uvma_vma *v, uint64_t end, unsigned shift)
{
	return vma_is_shmem(v) &&
	       anon_shm_past_end(v, v->pgoff + ((end - v->start) >> shift) - 1);
}

/*
 * One area's part [start, end): 0 when faulted in (or nothing to do), a
 * negative errno when the area refuses it. how decides what a fault is:
 * mlock's populate writes a private writable area and reads any other
 * accessible one (Linux forces the read), skipping areas locked on fault;
 * MADV_POPULATE_* asks for exactly the access it names.
 */
static int populate_one(struct uvma_mm *mm, struct uvma_vma *v, uint64_t start,
			uint64_t end, enum populate_how how)
{
	bool write;
	int err;

	switch (how) {
	case POPULATE_LOCKED:
		if (v->flags & VMA_VM(UVMA_VM_LOCKONFAULT))
			return 0;
		if (v->prot == UVMA_PROT_NONE)
			return -EFAULT;
		write = !(v->flags & UVMA_MAP_SHARED) &&
			(v->prot & UVMA_PROT_WRITE);
		break;
	case POPULATE_READ:
		if (!(v->prot & UVMA_PROT_READ))
			return -EINVAL;
		write = false;
		break;
	default:
		if (!(v->prot & UVMA_PROT_WRITE))
			return -EINVAL;
		write = true;
		break;
	}
	if (past_shm_end(v, end, mm->page_shift))
		return -EFAULT;
	if (anon_needed_by(v, write, mm->no_zero_page)) {
		err = __anon_prepare(mm, v);
		if (err)
			return err;
	}
	/* Real memory: the pages are filled as faults would fill them. The
	 * fill may block (a read of the file): outside the RCU section, as
	 * mmap_lock keeps the tree, and so the walk, still. */
	if (mm->pager) {
		rcu_read_exit();
		err = pager_populate(mm, v, start, end, write);
		rcu_read_enter();
		return err;
	}
	return 0;
}

int __mm_populate(struct uvma_mm *mm, uint64_t start, uint64_t end,
		  enum populate_how how, bool ignore_errors)
{
	struct tree_iter it;
	struct tree_entry e;
	uint64_t pos = start;
	int err = 0;

	mmap_assert_locked(mm);
	rcu_read_enter(); /* mmap_lock keeps the tree still; RCU: its rules */
	tree_iter_start(&it, &mm->tree, start, end);
	while (!err && tree_iter_next(&it, &e) && e.start < end) {
		if (e.start > pos && !ignore_errors) {
			err = -ENOMEM;
			break;
		}
		err = populate_one(mm, e.ptr, e.start > start ? e.start : start,
				   e.end < end ? e.end : end, how);
		if (ignore_errors)
			err = 0;
		pos = e.end;
	}
	rcu_read_exit();
	if (!err && pos < end && !ignore_errors)
		err = -ENOMEM;
	return err;
}
