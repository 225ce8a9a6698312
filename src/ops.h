/*
 * ops.h - what the map calls (mmap.c, mprotect.c, mremap.c) share with
 * each other, with maps.c and with the tests: argument checks in Linux's
 * terms, and the identity of anonymous shared areas.
 */
#ifndef UVMA_OPS_H
#define UVMA_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "mm.h"

/*
 * Anonymous shared areas behave like a file of their own (Linux backs each
 * with a shmem file): pieces of one mapping merge back, two mappings never
 * merge. Their file_id is OPS_SHMEM_ID_BASE + a per-mm counter, a range
 * callers cannot give (uvma_mmap refuses file ids from it with -EBADF);
 * uvma_vma_info reports 0 for it.
 */
#define OPS_SHMEM_ID_BASE (UINT64_C(1) << 63)

#define OPS_PROT_ALL (UVMA_PROT_READ | UVMA_PROT_WRITE | UVMA_PROT_EXEC)

static inline bool ops_page_aligned(const struct uvma_mm *mm, uint64_t x)
{
	return !(x & (mm->page_size - 1));
}

/* len rounded up to pages, or 0 when that overflows. */
static inline uint64_t ops_page_round(const struct uvma_mm *mm, uint64_t len)
{
	uint64_t r = (len + mm->page_size - 1) & ~(mm->page_size - 1);

	return r < len ? 0 : r;
}

/*
 * The range checks madvise and mseal share, in Linux's order after their
 * own first check: an unaligned start, a length that rounds to 0 or a
 * range that wraps are -EINVAL; otherwise 0 with *end the range's end
 * (*end == addr: an empty range, which succeeds doing nothing).
 */
static inline int ops_range_end(const struct uvma_mm *mm, uint64_t addr,
				uint64_t len, uint64_t *end)
{
	uint64_t r = ops_page_round(mm, len);

	if (!ops_page_aligned(mm, addr) || (len && !r) || addr + r < addr)
		return -EINVAL;
	*end = addr + r;
	return 0;
}

/*
 * Whether a call's result pointer lies in mm's own real memory (a pager
 * space): it must then be stored after mmap_lock is released, since the
 * store may fault into an area the call holds write-locked. Elsewhere it
 * is stored under the lock, which also orders it before any fault handler
 * that later looks at the area (the caller's user data often includes it).
 */
static inline bool ops_out_in_space(const struct uvma_mm *mm, const void *out)
{
	uint64_t a = (uint64_t)(uintptr_t)out;

	return mm->pager && a >= mm->base && a < mm->end;
}

#endif
