/*
 * vma_util.h - building address spaces for tests through the internal
 * layer (src/vma.h, src/mm.h): until the public map operations exist, a test
 * maps an area with test_map() and removes it with test_unmap().
 */
#ifndef UVMA_TEST_VMA_UTIL_H
#define UVMA_TEST_VMA_UTIL_H

#include "check.h"
#include "mm.h"
#include "uvma.h"
#include "vma_lock.h"

/* A new space with the default window (and handler, if any). */
static inline struct uvma_mm *test_mm(uvma_fault_fn fault, void *arg)
{
	struct uvma_mm_config cfg;
	struct uvma_mm *mm = NULL;

	uvma_mm_config_init(&cfg);
	cfg.fault = fault;
	cfg.fault_arg = arg;
	CHECK(uvma_mm_create(&cfg, &mm) == 0);
	return mm;
}

/* Caller holds mmap_lock for writing: a new area [start, end). */
static inline struct uvma_vma *__test_map(struct uvma_mm *mm, uint64_t start,
					  uint64_t end, unsigned prot,
					  void *user)
{
	struct uvma_vma *v = vma_alloc(mm);

	CHECK(v != NULL);
	v->start = start;
	v->end = end;
	v->prot = prot;
	v->flags = UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS;
	v->pgoff = start / 4096;
	v->user = user;
	CHECK(__mm_insert_vma(mm, v) == 0);
	return v;
}

/* A new area [start, end), in a write cycle of its own. */
static inline struct uvma_vma *test_map(struct uvma_mm *mm, uint64_t start,
					uint64_t end, unsigned prot, void *user)
{
	struct uvma_vma *v;

	mmap_write_lock(mm);
	v = __test_map(mm, start, end, prot, user);
	mmap_write_unlock(mm);
	return v;
}

/* Remove an area, in a write cycle of its own. */
static inline void test_unmap(struct uvma_mm *mm, struct uvma_vma *v)
{
	mmap_write_lock(mm);
	CHECK(__mm_remove_vma(mm, v) == 0);
	mmap_write_unlock(mm);
}

static inline uint32_t test_refcnt(struct uvma_vma *v)
{
	return atomic_load_explicit(&v->refcnt, memory_order_relaxed);
}

#endif
