/*
 * vma_util.h - building address spaces for the lock and fault tests. Areas
 * are made and removed by the code the public calls run: test_map() is
 * uvma_mmap, test_unmap() is uvma_munmap, and the __ variants (caller holds
 * mmap_lock for writing, the write cycle stays open) are __mm_replace, the
 * one-edit plan mmap itself runs (src/plan.h). Each returns the VMA object
 * that holds the new area, for tests that look at its lock state.
 */
#ifndef UVMA_TEST_VMA_UTIL_H
#define UVMA_TEST_VMA_UTIL_H

#include "check.h"
#include "mm.h"
#include "plan.h"
#include "uvma.h"
#include "vma_lock.h"

/* The area covering addr as uvma_vma_info describes it, read under
 * mmap_lock; all zero (start == end == 0) when none does. */
static inline struct uvma_area_info test_area_at(struct uvma_mm *mm,
						 uint64_t addr)
{
	struct uvma_area_info info = { 0 };
	struct uvma_vma *v;

	uvma_mm_read_lock(mm);
	v = uvma_vma_find(mm, addr);
	if (v)
		uvma_vma_info(v, &info);
	uvma_mm_read_unlock(mm);
	return info;
}

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

/* Caller holds mmap_lock: the VMA that holds exactly [start, end). The
 * tests give neighbours different user pointers or leave holes, so that
 * nothing merges; a merge would fail here. */
static inline struct uvma_vma *__test_vma(struct uvma_mm *mm, uint64_t start,
					  uint64_t end)
{
	struct uvma_vma *v = mm_vma_at(mm, start);

	CHECK(v != NULL);
	CHECK_EQ_U64(v->start, start);
	CHECK_EQ_U64(v->end, end);
	return v;
}

/* The area a test maps: anonymous, private, its page offset that of its
 * address (as uvma_mmap gives it). */
static inline struct area test_area(uint64_t start, uint64_t end, unsigned prot,
				    void *user)
{
	struct area a = {
		.start = start,
		.end = end,
		.prot = prot,
		.flags = UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS,
		.pgoff = start / 4096,
		.user = user,
	};
	return a;
}

/* Caller holds mmap_lock for writing: a new area [start, end), replacing
 * whatever was there, in the caller's write cycle. */
static inline struct uvma_vma *__test_map(struct uvma_mm *mm, uint64_t start,
					  uint64_t end, unsigned prot,
					  void *user)
{
	struct area a = test_area(start, end, prot, user);

	CHECK_EQ_U64(__mm_replace(mm, start, end, &a), 0);
	return __test_vma(mm, start, end);
}

/* Caller holds mmap_lock for writing: [start, end) unmapped. */
static inline void __test_unmap_range(struct uvma_mm *mm, uint64_t start,
				      uint64_t end)
{
	CHECK_EQ_U64(__mm_replace(mm, start, end, NULL), 0);
}

/* A new area [start, end) by uvma_mmap (MAP_FIXED_NOREPLACE). */
static inline struct uvma_vma *test_map(struct uvma_mm *mm, uint64_t start,
					uint64_t end, unsigned prot, void *user)
{
	struct uvma_vma *v;
	uint64_t at = 0;

	CHECK_EQ_U64(uvma_mmap(mm, start, end - start, prot,
			       UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS |
				       UVMA_MAP_FIXED_NOREPLACE,
			       0, 0, user, &at),
		     0);
	CHECK_EQ_U64(at, start);
	mmap_read_lock(mm);
	v = __test_vma(mm, start, end);
	mmap_read_unlock(mm);
	return v;
}

/* Remove the area v holds by uvma_munmap. */
static inline void test_unmap(struct uvma_mm *mm, struct uvma_vma *v)
{
	uint64_t start, end;

	mmap_read_lock(mm);
	start = v->start;
	end = v->end;
	mmap_read_unlock(mm);
	CHECK_EQ_U64(uvma_munmap(mm, start, end - start), 0);
}

static inline uint32_t test_refcnt(struct uvma_vma *v)
{
	return atomic_load_explicit(&v->refcnt, memory_order_relaxed);
}

#endif
