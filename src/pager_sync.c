/*
 * pager_sync.c - the real range follows the map (pager.h; docs/design.md
 * section 9): pages written back before they go, moved with their areas,
 * discarded where the map made holes or new mappings; protections set;
 * and uvma_msync.
 *
 * Locks: the plan engine calls pager_plan_writeback and pager_sync under
 * mmap_lock for writing with every VMA the plan changes write-locked (no
 * fill or write-protect fault of theirs runs, new ones wait in the
 * fallback for mmap_lock). uvma_msync holds mmap_lock for reading: the
 * areas stay, their faults go on.
 *
 * Dirty pages: a shared file page comes in write-protected (userfaultfd
 * write-protect); the first write faults and unprotects it. So a dirty page
 * is one present (or swapped out) and not write-protected, which the
 * kernel's pagemap shows. Write-back protects the dirty pages again first,
 * then writes them: a store that comes after the protection faults and
 * dirties the page anew (msync), or waits in the fallback until the range
 * is gone (munmap), so no store is lost.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/userfaultfd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "debug.h"
#include "mm.h"
#include "pager.h"
#include "pager_impl.h"
#include "plan.h"
#include "tree.h"

#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)
#define PM_UFFD_WP (1ull << 57)
#define PM_CHUNK   512 /* pagemap entries read at once */

static void real_call(int ret)
{
	/* Our own reservation, page-aligned ranges: these cannot fail but
	 * for a bug. */
	UVMA_ASSERT(ret == 0);
	(void)ret;
}

/* Whether a pagemap entry has a page behind it (in memory or in swap). */
static bool has_page(uint64_t ent)
{
	return ent & (PM_PRESENT | PM_SWAPPED);
}

/* ---- write-back --------------------------------------------------------- */

static bool dirty(uint64_t ent)
{
	return has_page(ent) && !(ent & PM_UFFD_WP);
}

/*
 * Write n bytes of the pages at addr to fd at off through a bounce buffer
 * read from /proc/self/mem, which reads pages the process itself may not
 * (an area made PROT_NONE or exec-only after it was written: Linux writes
 * those back all the same). Bytes written, or -1.
 */
static ssize_t write_bounced(struct pager *pg, int fd, uint64_t addr,
			     uint64_t n, uint64_t off)
{
	char *buf = pager_thread_buf();
	ssize_t got;

	if (!buf || pg->mem_fd < 0)
		return -1;
	if (n > UVMA_PAGER_AROUND_MAX)
		n = UVMA_PAGER_AROUND_MAX;
	got = pread(pg->mem_fd, buf, n, (off_t)addr);
	return got <= 0 ? -1 : pwrite(fd, buf, (size_t)got, (off_t)off);
}

/* The pages left unwritten are dirty again (unprotected): a later
 * write-back tries them once more, none is lost. */
static int write_failed(struct pager *pg, uint64_t addr, uint64_t len)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = addr, .len = len },
		.mode = UFFDIO_WRITEPROTECT_MODE_DONTWAKE,
	};

	(void)ioctl(pg->uffd, UFFDIO_WRITEPROTECT, &wp);
	return -EIO;
}

/* Protect, then write [addr, addr + len) at file offset off, not past the
 * end of the file (Linux's write-back never extends it). */
static int write_run(struct pager *pg, int fd, uint64_t addr, uint64_t len,
		     uint64_t off, uint64_t size)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = addr, .len = len },
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};
	uint64_t done = 0, run = len, page = pg->page_size;

	if (ioctl(pg->uffd, UFFDIO_WRITEPROTECT, &wp))
		return -EIO;
	if (off >= size)
		return 0;
	if (len > size - off)
		len = size - off;
	while (done < len) {
		/* Other threads may store to these pages while the kernel
		 * copies them (as they may during the kernel's own
		 * write-back): a store after the protection faults and leaves
		 * the page dirty for the next write-back, so a torn copy is
		 * never the last one. The bare system call is not
		 * intercepted, so ThreadSanitizer does not count that copy as
		 * a racing read of the program's. */
		ssize_t n = syscall(SYS_pwrite64, fd,
				    (const char *)(uintptr_t)addr + done,
				    len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EFAULT)
			n = write_bounced(pg, fd, addr + done, len - done,
					  off + done);
		if (n <= 0) {
			uint64_t from = done & ~(page - 1);

			return write_failed(pg, addr + from, run - from);
		}
		done += (uint64_t)n;
	}
	pager_count_n(pg, PC_WRITTEN, (len + page - 1) >> pg->page_shift);
	return 0;
}

/* The dirty runs of one chunk of pages starting at addr. */
static int write_chunk(struct pager *pg, const struct uvma_area_info *a, int fd,
		       uint64_t size, uint64_t addr, const uint64_t *ent,
		       size_t n)
{
	unsigned sh = pg->page_shift;
	size_t i = 0;

	while (i < n) {
		size_t j;
		uint64_t at, off;
		int err;

		if (!dirty(ent[i])) {
			i++;
			continue;
		}
		for (j = i + 1; j < n && dirty(ent[j]); j++)
			;
		at = addr + ((uint64_t)i << sh);
		off = (a->pgoff << sh) + (at - a->start);
		err = write_run(pg, fd, at, (uint64_t)(j - i) << sh, off, size);
		if (err)
			return err;
		i = j;
	}
	return 0;
}

static int writeback_area(struct pager *pg, const struct uvma_area_info *a,
			  uint64_t start, uint64_t end)
{
	int fd = pager_file_fd(pg, a->file_id);
	unsigned sh = pg->page_shift;
	uint64_t ent[PM_CHUNK];
	struct stat st;

	if (!pager_area_shared_file(a) || fd < 0)
		return 0;
	if (fstat(fd, &st))
		return -EIO;
	while (start < end) {
		size_t n = (end - start) >> sh;
		ssize_t got;

		if (n > PM_CHUNK)
			n = PM_CHUNK;
		got = pread(pg->pagemap_fd, ent, n * sizeof(ent[0]),
			    (off_t)((start >> sh) * sizeof(ent[0])));
		if (got != (ssize_t)(n * sizeof(ent[0])))
			return -EIO;
		if (write_chunk(pg, a, fd, (uint64_t)st.st_size, start, ent, n))
			return -EIO;
		start += (uint64_t)n << sh;
	}
	return 0;
}

int pager_writeback(struct pager *pg, const struct uvma_vma *vma,
		    uint64_t start, uint64_t end)
{
	struct uvma_area_info a;

	uvma_vma_info(vma, &a);
	if (start < a.start)
		start = a.start;
	if (end > a.end)
		end = a.end;
	return start < end ? writeback_area(pg, &a, start, end) : 0;
}

/* Whether an edit puts new contents (or none) where it lands. */
static bool edit_replaces(const struct edit *e)
{
	return !e->area || !e->area->src || e->area->from_len;
}

void pager_plan_writeback(const struct plan *p)
{
	struct pager *pg = p->mm->pager;

	for (size_t i = 0; i < p->ned; i++) {
		const struct edit *e = &p->ed[i];

		if (!edit_replaces(e))
			continue;
		for (size_t j = 0; j < p->nold; j++)
			if (pager_vma_shared_file(p->old[j]))
				/* An I/O error here cannot stop the change
				 * (munmap does not fail for it on Linux
				 * either); msync reports them. */
				(void)pager_writeback(pg, p->old[j], e->start,
						      e->end);
	}
}

void pager_writeback_all(struct uvma_mm *mm)
{
	struct tree_iter it;
	struct tree_entry e;

	mmap_read_lock(mm);
	tree_iter_start(&it, &mm->tree, 0, UINT64_MAX);
	while (tree_iter_next(&it, &e))
		if (pager_vma_shared_file(e.ptr))
			(void)pager_writeback(mm->pager, e.ptr, e.start, e.end);
	mmap_read_unlock(mm);
}

/* ---- moves -------------------------------------------------------------- */

#ifdef UVMA_TEST_HOOKS
static _Atomic bool force_copy;

void pager_force_copy_moves(bool on)
{
	atomic_store(&force_copy, on);
}
#endif

/*
 * The kernel moves the page tables: the source made inaccessible first (so
 * the destination arrives inaccessible, and no access can fault in it
 * before it is registered again), then mremap leaving the source mapped
 * and empty (MREMAP_DONTUNMAP), then both registered again (a move drops
 * the destination's registration). Fails when the source range is not one
 * kernel mapping.
 */
static int move_kernel(struct pager *pg, uint64_t from, uint64_t to,
		       uint64_t len)
{
	void *r;

#ifdef UVMA_TEST_HOOKS
	if (atomic_load(&force_copy))
		return -EFAULT;
#endif
	if (mprotect((void *)(uintptr_t)from, len, PROT_NONE))
		return -errno;
	r = mremap((void *)(uintptr_t)from, len, len,
		   MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP,
		   (void *)(uintptr_t)to);
	if (r == MAP_FAILED)
		return -errno;
	real_call(pager_register(pg, to, len));
	real_call(pager_register(pg, from, len));
	return 0;
}

/* The slow way: copy each page the source has (present or swapped out:
 * the copy reads it back in) into the (emptied) destination. */
static void move_copy(struct pager *pg, uint64_t from, uint64_t to,
		      uint64_t len)
{
	unsigned sh = pg->page_shift;
	uint64_t ent[PM_CHUNK];

	real_call(mprotect((void *)(uintptr_t)from, len, PROT_READ));
	real_call(madvise((void *)(uintptr_t)to, len, MADV_DONTNEED));
	for (uint64_t off = 0; off < len; off += (uint64_t)PM_CHUNK << sh) {
		uint64_t n = (len - off) >> sh;

		if (n > PM_CHUNK)
			n = PM_CHUNK;
		ssize_t got =
			pread(pg->pagemap_fd, ent, n * sizeof(ent[0]),
			      (off_t)(((from + off) >> sh) * sizeof(ent[0])));

		real_call(got == (ssize_t)(n * sizeof(ent[0])) ? 0 : -1);
		for (uint64_t i = 0; i < n; i++) {
			struct uffdio_copy c = {
				.dst = to + off + (i << sh),
				.src = from + off + (i << sh),
				.len = pg->page_size,
			};

			if (has_page(ent[i]))
				real_call(ioctl(pg->uffd, UFFDIO_COPY, &c));
		}
	}
}

static void move_pages(struct pager *pg, uint64_t from, uint64_t to,
		       uint64_t len)
{
	if (move_kernel(pg, from, to, len))
		move_copy(pg, from, to, len);
	pager_count_n(pg, PC_MOVED, len >> pg->page_shift);
}

/* ---- the plan's real-range changes ----------------------------------------
 */

void pager_sync(const struct plan *p)
{
	struct pager *pg = p->mm->pager;
	size_t i;

	/* Moves first, while their sources still hold the pages. */
	for (i = 0; i < p->ned; i++) {
		const struct area *a = p->ed[i].area;

		if (a && a->from_len)
			move_pages(pg, a->from, a->start, a->from_len);
	}
	/* Holes and new mappings start without pages (MAP_FIXED over a
	 * mapped range discards it); pieces of existing areas keep theirs;
	 * what a move resized beyond its source is new. */
	for (i = 0; i < p->ned; i++) {
		const struct edit *e = &p->ed[i];
		uint64_t start = e->start;

		if (e->area && e->area->from_len)
			start += e->area->from_len;
		else if (e->area && e->area->src)
			continue;
		if (start < e->end)
			real_call(madvise((void *)(uintptr_t)start,
					  e->end - start, MADV_DONTNEED));
		if (!e->area)
			real_call(mprotect((void *)(uintptr_t)start,
					   e->end - start, PROT_NONE));
	}
	/* UVMA_PROT_* are PROT_*. */
	for (i = 0; i < p->nareas; i++) {
		const struct area *a = &p->areas[i];

		if (!a->kept)
			real_call(mprotect((void *)(uintptr_t)a->start,
					   a->end - a->start, (int)a->prot));
	}
}

/* ---- msync ----------------------------------------------------------------
 */

static int msync_check(struct uvma_mm *mm, uint64_t addr, uint64_t *len,
		       unsigned flags)
{
	const unsigned known =
		UVMA_MS_ASYNC | UVMA_MS_INVALIDATE | UVMA_MS_SYNC;

	if ((flags & ~known) || (addr & (mm->page_size - 1)))
		return -EINVAL;
	if ((flags & UVMA_MS_ASYNC) && (flags & UVMA_MS_SYNC))
		return -EINVAL;
	if (*len > UINT64_MAX - addr - (mm->page_size - 1))
		return -ENOMEM;
	*len = (*len + mm->page_size - 1) & ~(mm->page_size - 1);
	return 0;
}

/* Write back one area's part of the range; fdatasync for MS_SYNC. */
static int msync_area(struct uvma_mm *mm, const struct tree_entry *e,
		      uint64_t start, uint64_t end, unsigned flags)
{
	struct uvma_vma *v = e->ptr;
	int err;

	if (!mm->pager || !pager_vma_shared_file(v))
		return 0;
	err = pager_writeback(mm->pager, v, start, end);
	if (!err && (flags & UVMA_MS_SYNC) &&
	    fdatasync(pager_file_fd(mm->pager, v->file_id)))
		err = -EIO;
	return err;
}

int uvma_msync(struct uvma_mm *mm, uint64_t addr, uint64_t len, unsigned flags)
{
	struct tree_iter it;
	struct tree_entry e;
	uint64_t at = addr, end;
	int err = msync_check(mm, addr, &len, flags), unmapped = 0;

	if (err || !len)
		return err;
	end = addr + len;
	mmap_read_lock(mm);
	tree_iter_start(&it, &mm->tree, addr, end);
	while (!err && tree_iter_next(&it, &e)) {
		if (e.start > at)
			unmapped = -ENOMEM;
		err = msync_area(mm, &e, at > e.start ? at : e.start,
				 end < e.end ? end : e.end, flags);
		at = e.end;
	}
	mmap_read_unlock(mm);
	if (!err && at < end)
		unmapped = -ENOMEM;
	return err ? err : unmapped;
}
