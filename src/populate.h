/*
 * populate.h - faulting a range in (populate.c), for mlock, mlockall,
 * locked new mappings and MADV_POPULATE_*.
 */
#ifndef UVMA_POPULATE_H
#define UVMA_POPULATE_H

#include <stdbool.h>
#include <stdint.h>

#include "mm.h"

enum populate_how {
	POPULATE_LOCKED, /* mlock's: write what is private and writable */
	POPULATE_READ,	 /* MADV_POPULATE_READ */
	POPULATE_WRITE,	 /* MADV_POPULATE_WRITE */
};

/*
 * Fault [start, end) in. Caller holds mmap_lock (reading or writing).
 * Returns 0; -ENOMEM at the first hole (-ENOMEM also when tags run out);
 * -EFAULT (POPULATE_LOCKED: an area without access; any: a page past an
 * anonymous shared mapping's object); -EINVAL (POPULATE_READ or _WRITE:
 * an area without that access). It stops at the first error, what came
 * before faulted in; with ignore_errors it skips holes and such areas and
 * returns 0 (Linux's mm_populate after mmap and mlockall).
 */
int __mm_populate(struct uvma_mm *mm, uint64_t start, uint64_t end,
		  enum populate_how how, bool ignore_errors);

#endif
