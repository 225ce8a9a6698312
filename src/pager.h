/*
 * pager.h - real memory behind an address space (pager.c; docs/design.md
 * section 9): what the rest of the library calls.
 *
 * A pager space (UVMA_MM_PAGER) reserves a real range of the process, the
 * size of its window, and registers it with userfaultfd. Handler threads
 * turn each missing-page message into a uvma fault (uvma_fault): the page
 * is filled by the space's fault handler, which runs with the area's read
 * lock held, so a fill never lands in a range that has changed since the
 * lookup.
 */
#ifndef UVMA_PAGER_H
#define UVMA_PAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct uvma_mm;
struct uvma_mm_config;
struct plan;

/*
 * Reserve the real range and start the handler threads. Called by
 * uvma_mm_create before the space is visible; sets mm->base and mm->end to
 * the reserved range and mm->pager. 0, -EINVAL (page size not the
 * system's), -ENOMEM, -EEXIST (a base given and taken), or the error of
 * userfaultfd (-EPERM without the right to use it, -ENOSYS).
 */
int pager_create(struct uvma_mm *mm, const struct uvma_mm_config *cfg);

/* Stop the handler threads (uvma_mm_destroy, before the areas go). */
void pager_quiesce(struct uvma_mm *mm);

/* Stop the threads, close userfaultfd, unmap the real range. */
void pager_destroy(struct uvma_mm *mm);

/*
 * Make the real range follow a plan that was just applied: caller holds
 * mmap_lock for writing, the plan's changed areas are write-locked and its
 * removed VMAs detached (no fill of theirs is running or can start). What
 * the plan's edits made holes or new mappings loses its pages; holes
 * become inaccessible; every changed area gets its real protection.
 */
void pager_sync(const struct plan *p);

/*
 * Before the plan commits (caller holds mmap_lock for writing, the VMAs
 * the plan changes are write-locked): write back the dirty pages of shared
 * file areas in the ranges whose contents the plan's edits replace.
 */
void pager_plan_writeback(const struct plan *p);

/* Write back every shared file area of mm (destruction; takes mmap_lock
 * for reading). */
void pager_writeback_all(struct uvma_mm *mm);

/* mmap of a file on a pager space: 0, -EBADF (file_id not from
 * uvma_mm_file_add), -EACCES (shared and writable, file not opened for
 * writing). */
int pager_check_file(struct uvma_mm *mm, uint64_t file_id, unsigned prot,
		     unsigned flags);

/* Whether vma (a pager space's) may not get prot: a shared file area
 * whose file was not opened for writing, asked for PROT_WRITE. Caller
 * holds mmap_lock. */
struct uvma_vma;
bool pager_refuses_prot(struct uvma_mm *mm, const struct uvma_vma *vma,
			unsigned prot);

/*
 * MADV_POPULATE_READ / _WRITE in a pager space: the missing pages of
 * [start, end) of vma are filled as a fault of that kind fills them, and a
 * write makes a clean shared file page dirty. Caller holds mmap_lock, so
 * the area cannot change under the fills. 0 or the fill's negative errno
 * (-EFAULT: a page past the end of the file), the pages before it filled.
 */
int pager_populate(struct uvma_mm *mm, const struct uvma_vma *vma,
		   uint64_t start, uint64_t end, bool write);

/*
 * Page advice that acts on the real pages of [start, end) of vma (checked
 * by madvise.c as Linux checks it): DONTNEED and DONTNEED_LOCKED drop a
 * private area's pages (the next access fills them again: zeros, the
 * file, the space's fill function), and keep a shared area's, as Linux's
 * shmem and page cache keep them; FREE lets the kernel drop private
 * anonymous pages lazily; REMOVE punches the range out of a shared file
 * (fallocate) or zeroes shared anonymous memory, its pages dropped. Caller
 * holds mmap_lock. 0 or a negative errno (REMOVE: the file's refusal).
 */
int pager_advise(struct uvma_mm *mm, const struct uvma_vma *vma, uint64_t start,
		 uint64_t end, int advice);

#ifdef UVMA_TEST_HOOKS
/* Make every move take the page-copying path (tests). */
void pager_force_copy_moves(bool on);
#endif

#endif
