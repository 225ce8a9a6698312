/*
 * mmap.c - uvma_mmap, uvma_munmap and uvma_brk with Linux's semantics
 * (docs/design.md section 5; docs/semantics.md).
 *
 * Locks: each call holds mmap_lock for writing while it checks the map and
 * runs its plan (plan.c); munmap downgrades it to reading before the
 * removed VMAs are freed. Arguments are checked before any lock, in
 * Linux's order, so each error is the one Linux gives.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "anon.h"
#include "mlock.h"
#include "ops.h"
#include "pager.h"
#include "plan.h"
#include "populate.h"

/* The largest file size Linux allows a mapping to reach. */
#define OPS_MAX_FILE_SIZE ((UINT64_C(1) << 63) - 1)

/* ---- mmap ------------------------------------------------------------ */

static int mmap_check(struct uvma_mm *mm, uint64_t addr, uint64_t *len,
		      unsigned prot, unsigned flags, uint64_t file_id,
		      uint64_t offset)
{
	const unsigned known = UVMA_MAP_SHARED | UVMA_MAP_PRIVATE |
			       UVMA_MAP_FIXED | UVMA_MAP_ANONYMOUS |
			       UVMA_MAP_FIXED_NOREPLACE | UVMA_MAP_GROWSDOWN |
			       UVMA_MAP_NORESERVE | UVMA_MAP_LOCKED |
			       UVMA_MAP_POPULATE;
	unsigned sharing = flags & (UVMA_MAP_SHARED | UVMA_MAP_PRIVATE);

	if (!*len)
		return -EINVAL;
	if ((flags & ~known) || (prot & ~OPS_PROT_ALL) ||
	    (sharing != UVMA_MAP_SHARED && sharing != UVMA_MAP_PRIVATE))
		return -EINVAL;
	if (!ops_page_aligned(mm, offset))
		return -EINVAL;
	*len = ops_page_round(mm, *len);
	if (!*len)
		return -ENOMEM;
	/* A fixed range must lie in the window (ENOMEM), checked before its
	 * alignment (EINVAL), in Linux's order. */
	if (flags & (UVMA_MAP_FIXED | UVMA_MAP_FIXED_NOREPLACE)) {
		if (addr < mm->base || addr > mm->end || *len > mm->end - addr)
			return -ENOMEM;
		if (!ops_page_aligned(mm, addr))
			return -EINVAL;
	}
	/* A stack is private anonymous memory (Linux refuses the rest), and
	 * not built for a pager's real memory. */
	if ((flags & UVMA_MAP_GROWSDOWN) &&
	    (sharing != UVMA_MAP_PRIVATE || !(flags & UVMA_MAP_ANONYMOUS)))
		return -EINVAL;
	if ((flags & UVMA_MAP_GROWSDOWN) && mm->pager)
		return -EOPNOTSUPP;
	if (flags & UVMA_MAP_ANONYMOUS)
		return 0;
	if (file_id == 0 || file_id >= OPS_SHMEM_ID_BASE)
		return -EBADF;
	/* A pager space reads the file: it must be one it was given
	 * (file ids are only added, so the check holds after it). */
	if (mm->pager) {
		int err = pager_check_file(mm, file_id, prot, flags);

		if (err)
			return err;
	}
	/* Linux's limit for a file: offset + len within the largest file
	 * size, 2^63 - 1. */
	if (*len > OPS_MAX_FILE_SIZE || offset > OPS_MAX_FILE_SIZE - *len)
		return -EOVERFLOW;
	return 0;
}

/* A new area that is locked (not on fault: MAP_LOCKED, uvma_mlockall's
 * MCL_FUTURE) or asked for with MAP_POPULATE is faulted in, errors
 * ignored (Linux's mm_populate after mmap and brk). */
static void populate_new(struct uvma_mm *mm, const struct area *n,
			 bool populate)
{
	if (populate || (n->flags & VMA_LOCKED_MASK) == VMA_VM(UVMA_VM_LOCKED))
		__mm_populate(mm, n->start, n->end, POPULATE_LOCKED, true);
}

/* Linux's checks of a locked new mapping (after its place is found,
 * before anything is unmapped): MAP_LOCKED needs the right to lock
 * (-EPERM), and the locked pages must stay within the limit (-EAGAIN). */
static int lock_allowed(struct uvma_mm *mm, unsigned flags, uint64_t len)
{
	unsigned vm = mm->def_flags |
		      (flags & UVMA_MAP_LOCKED ? VMA_VM(UVMA_VM_LOCKED) : 0);

	if ((flags & UVMA_MAP_LOCKED) && !mm_can_mlock(mm))
		return -EPERM;
	return mm_lock_future_ok(mm, vm, len) ? 0 : -EAGAIN;
}

int uvma_mmap(struct uvma_mm *mm, uint64_t addr, uint64_t len, unsigned prot,
	      unsigned flags, uint64_t file_id, uint64_t offset, void *user,
	      uint64_t *out)
{
	bool fixed = flags & (UVMA_MAP_FIXED | UVMA_MAP_FIXED_NOREPLACE);
	struct area n = { 0 };
	int err;

	err = mmap_check(mm, addr, &len, prot, flags, file_id, offset);
	if (err)
		return err;
	mmap_write_lock(mm);
	if (fixed) {
		if ((flags & UVMA_MAP_FIXED_NOREPLACE) &&
		    !mm_range_free(mm, addr, addr + len)) {
			err = -EEXIST;
			goto out;
		}
	} else {
		/* A hint, rounded down to its page (and up to the window),
		 * is taken when the range there is free. */
		addr &= ~(mm->page_size - 1);
		if (addr && addr < mm->base)
			addr = mm->base;
		if (!addr || addr + len < addr ||
		    !mm_range_free(mm, addr, addr + len) ||
		    mm_in_stack_gap(mm, addr + len)) {
			err = mm_find_free(mm, len, &addr);
			if (err)
				goto out;
		}
	}
	/* Once the place is known, before anything is unmapped: the lock
	 * limit, then (MAP_FIXED) the seals, which never are replaced. */
	err = lock_allowed(mm, flags, len);
	if (!err && fixed)
		err = __mm_unmap_sealed(mm, addr, addr + len);
	if (err)
		goto out;
	n.start = addr;
	n.end = addr + len;
	n.prot = prot;
	n.user = user;
	if (flags & UVMA_MAP_ANONYMOUS) {
		n.flags = (flags & (UVMA_MAP_SHARED | UVMA_MAP_PRIVATE |
				    UVMA_MAP_GROWSDOWN)) |
			  UVMA_MAP_ANONYMOUS;
		if (flags & UVMA_MAP_SHARED) {
			/* Its own backing object, offsets from 0. */
			n.file_id = OPS_SHMEM_ID_BASE + mm->next_shmem_id;
			n.pgoff = 0;
			n.anon = anon_shm_size(len >> mm->page_shift);
		} else {
			n.pgoff = addr >> mm->page_shift;
		}
	} else {
		n.flags = flags & (UVMA_MAP_SHARED | UVMA_MAP_PRIVATE);
		n.file_id = file_id;
		n.pgoff = offset >> mm->page_shift;
	}
	n.flags |= mm->def_flags;
	if (flags & UVMA_MAP_NORESERVE)
		n.flags |= VMA_VM(UVMA_VM_NORESERVE);
	if (flags & UVMA_MAP_LOCKED)
		n.flags |= VMA_VM(UVMA_VM_LOCKED);
	n.flags = vma_account_new(n.flags, prot);
	err = __mm_replace(mm, n.start, n.end, &n);
	if (!err)
		populate_new(mm, &n, flags & UVMA_MAP_POPULATE);
	if (!err && (flags & UVMA_MAP_ANONYMOUS) && (flags & UVMA_MAP_SHARED))
		mm->next_shmem_id++;
	if (!err && out && !ops_out_in_space(mm, out))
		*out = addr;
out:
	mmap_write_unlock(mm);
	if (!err && out && ops_out_in_space(mm, out))
		*out = addr;
	return err;
}

/* ---- munmap ----------------------------------------------------------- */

int uvma_munmap(struct uvma_mm *mm, uint64_t addr, uint64_t len)
{
	struct edit hole;
	struct plan p;
	int err;

	if (!ops_page_aligned(mm, addr) || !len)
		return -EINVAL;
	len = ops_page_round(mm, len);
	hole = (struct edit){ addr, addr + len, NULL };
	if (!len || hole.end < addr || addr < mm->base || hole.end > mm->end)
		return -EINVAL;
	mmap_write_lock(mm);
	plan_init(&p, mm);
	/* Nothing is unmapped when any of it is sealed (uvma_mseal). */
	err = __mm_unmap_sealed(mm, hole.start, hole.end);
	if (!err)
		err = plan_edits(&p, &hole, 1);
	if (!err)
		err = plan_apply(&p);
	if (err) {
		plan_finish(&p);
		mmap_write_unlock(mm);
		return err;
	}
	/* Detached under the write lock; freed under the read lock, which
	 * lets faults on other areas fall back meanwhile. */
	mmap_write_downgrade(mm);
	plan_finish(&p);
	mmap_read_unlock(mm);
	return 0;
}

/* ---- brk ------------------------------------------------------------- */

int uvma_brk(struct uvma_mm *mm, uint64_t brk, uint64_t *out)
{
	uint64_t old_end, new_end;
	struct area n = { 0 };
	int err = 0;

	mmap_write_lock(mm);
	if (!mm->brk_start) {
		err = brk ? -ENOMEM : 0;
		goto out;
	}
	if (brk < mm->brk_start)
		goto out; /* a query */
	old_end = ops_page_round(mm, mm->brk);
	new_end = ops_page_round(mm, brk);
	if (!new_end || new_end > mm->end) {
		err = -ENOMEM;
		goto out;
	}
	if (new_end < old_end) {
		err = __mm_unmap_sealed(mm, new_end, old_end);
		if (!err)
			err = __mm_replace(mm, new_end, old_end, NULL);
	} else if (new_end > old_end) {
		/* Linux keeps a page free between the heap and whatever
		 * follows it, and that page out of a stack's guard gap. */
		if (!mm_range_free(mm, old_end, new_end) ||
		    (new_end < mm->end &&
		     (!mm_range_free(mm, new_end, new_end + mm->page_size) ||
		      mm_in_stack_gap(mm, new_end + mm->page_size))) ||
		    !mm_lock_future_ok(mm, mm->def_flags, new_end - old_end)) {
			err = -ENOMEM;
			goto out;
		}
		n.start = old_end;
		n.end = new_end;
		n.prot = UVMA_PROT_READ | UVMA_PROT_WRITE;
		/* Linux charges the heap always (VM_ACCOUNT). */
		n.flags = UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS |
			  mm->def_flags | VMA_VM(UVMA_VM_ACCOUNT);
		n.pgoff = old_end >> mm->page_shift;
		err = __mm_replace(mm, old_end, new_end, &n);
		if (!err)
			populate_new(mm, &n, false);
	}
	if (!err)
		mm->brk = brk;
out:
	old_end = mm->brk;
	if (out && !ops_out_in_space(mm, out))
		*out = old_end;
	mmap_write_unlock(mm);
	if (out && ops_out_in_space(mm, out))
		*out = old_end;
	return err;
}
