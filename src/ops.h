/*
 * ops.h - what ops.c shares with the rest of the library and the tests.
 */
#ifndef UVMA_OPS_H
#define UVMA_OPS_H

#include <stdint.h>

/*
 * Anonymous shared areas behave like a file of their own (Linux backs each
 * with a shmem file): pieces of one mapping merge back, two mappings never
 * merge. Their file_id is OPS_SHMEM_ID_BASE + a per-mm counter, a range
 * callers cannot give (uvma_mmap refuses file ids from it with -EBADF);
 * uvma_vma_info reports 0 for it.
 */
#define OPS_SHMEM_ID_BASE (UINT64_C(1) << 63)

/* Test hook: make the n-th plan array allocation from now fail (n <= 0:
 * none). Process-wide. */
void ops_fail_alloc_after(long n);

#endif
