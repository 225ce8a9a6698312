/*
 * mlock.h - locked memory against the space's RLIMIT_MEMLOCK (mlock.c;
 * uvma_mm_set_memlock_limit): what mmap, brk and mremap ask before they
 * make a locked area, as Linux's mlock_future_ok.
 *
 * Locks: the caller holds mmap_lock (the limit and the areas read under
 * it do not change).
 */
#ifndef UVMA_MLOCK_H
#define UVMA_MLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "mm.h"

/* Linux's can_do_mlock: false when the space may lock nothing at all. */
bool mm_can_mlock(const struct uvma_mm *mm);

/* Linux's mlock_future_ok: adding bytes of memory whose flags word is
 * flags keeps the locked pages within the limit (true when flags are not
 * locked, or there is no limit). */
bool mm_lock_future_ok(struct uvma_mm *mm, unsigned flags, uint64_t bytes);

#endif
