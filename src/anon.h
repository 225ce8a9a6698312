/*
 * anon.h - what a write fault records in a private area (anon.c): the
 * model of Linux's anon_vma, which decides later merges and moves
 * (docs/design.md section 6, "Touched memory"; docs/semantics.md).
 *
 * An area's tag (uvma_vma.anon) is 0 until a write fault (or a stack's
 * growth) gives it one. Tags are per address space: two areas of one space
 * with the same tag share one anon_vma. Bit 0 says the tag came through a
 * fork (Linux: the area's anon_vma chain holds its parent's too, "uncowed
 * parents"); bits 1-31 are the serial.
 *
 * Shared areas have no anonymous pages and no tag. An anonymous shared
 * area holds in the same field the size, in pages, of the shmem object
 * Linux gives the mapping (its length when mapped: pieces and copies of it
 * share it); a fault past it is Linux's SIGBUS. ANON_SHM_UNLIMITED: too
 * large to count.
 *
 * Who writes a tag: the first write fault, holding mmap_lock for reading
 * and mm->anon_lock (Linux takes mmap_lock for reading and the page table
 * lock), or the mm's writer (mmap_lock for writing) with the VMA
 * write-locked or not yet attached. Readers: the fault path (relaxed: it
 * only asks whether the tag is 0), the writer, and preparers under
 * anon_lock.
 */
#ifndef UVMA_ANON_H
#define UVMA_ANON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vma.h"

#define ANON_FORKED	   1u
#define ANON_SERIAL_MAX	   ((1u << 31) - 1)
#define ANON_SHM_UNLIMITED UINT32_MAX

static inline uint32_t vma_anon(const struct uvma_vma *v)
{
	/* Relaxed: a tag names nothing in memory; its only use by a reader
	 * is "0 or not", and a stale 0 sends it to anon_lock, which orders. */
	return atomic_load_explicit(&v->anon, memory_order_relaxed);
}

static inline void vma_set_anon(struct uvma_vma *v, uint32_t tag)
{
	atomic_store_explicit(&v->anon, tag, memory_order_relaxed);
}

static inline bool vma_is_shmem(const struct uvma_vma *v)
{
	return (v->flags & (UVMA_MAP_SHARED | UVMA_MAP_ANONYMOUS)) ==
	       (UVMA_MAP_SHARED | UVMA_MAP_ANONYMOUS);
}

/* The size field of a new anonymous shared mapping of pages pages. */
static inline uint32_t anon_shm_size(uint64_t pages)
{
	return pages < ANON_SHM_UNLIMITED ? (uint32_t)pages
					  : ANON_SHM_UNLIMITED;
}

/* Whether page (an offset in pages in its object) lies past the end of an
 * anonymous shared area's object. */
static inline bool anon_shm_past_end(const struct uvma_vma *v, uint64_t page)
{
	uint32_t size = vma_anon(v);

	return size != ANON_SHM_UNLIMITED && page >= size;
}

/* Whether a write fault must give v a tag first: a private area without
 * one (shared areas have no anonymous pages). */
static inline bool anon_needed(const struct uvma_vma *v)
{
	return !(v->flags & UVMA_MAP_SHARED) && vma_anon(v) == 0;
}

/* Whether a fault of this kind must give v a tag first: a write to a
 * private area without one; or a read, when the space has no zero page
 * (UVMA_MM_NO_ZERO_PAGE) and v is private anonymous memory (a private
 * file area reads the file's page and stays untouched). */
static inline bool anon_needed_by(const struct uvma_vma *v, bool write,
				  bool no_zero_page)
{
	/* A read in a space with the zero page, the common fault, decides
	 * without reading the area. */
	if (!write && !no_zero_page)
		return false;
	if (!anon_needed(v))
		return false;
	return write || (v->flags & UVMA_MAP_ANONYMOUS);
}

/*
 * Linux 6.16+'s rule for two adjacent areas that agree in everything else:
 * both untouched; both the same anon_vma; or one untouched and the other's
 * anon_vma not inherited through fork. An area growing in place is
 * lenient: its own inherited tag does not stop it (Linux checks the area
 * being changed, and a growth has none). Measured: anon_fork_merge.
 * Pieces of one anonymous shared mapping hold the same size: equal.
 */
static inline bool anon_compatible(uint32_t a, bool a_lenient, uint32_t b,
				   bool b_lenient)
{
	if (!a || !b)
		return (!a || !(a & ANON_FORKED) || a_lenient) &&
		       (!b || !(b & ANON_FORKED) || b_lenient);
	return a == b;
}

struct uvma_mm;

/*
 * Give vma a tag if it has none, as Linux's anon_vma_prepare: the next
 * area's tag when it could share it, else the previous one's, else a new
 * one. Caller holds mmap_lock (reading or writing) and keeps vma in the
 * map (its read lock, or mmap_lock). 0 or -ENOMEM (the tags ran out and
 * their renumbering could not allocate).
 */
int __anon_prepare(struct uvma_mm *mm, struct uvma_vma *vma);

/* A new tag of child, which came through fork. Caller holds the child's
 * mmap_lock for writing and the child is not yet visible. */
uint32_t __anon_fork_tag(struct uvma_mm *child);

#ifdef UVMA_TEST_HOOKS
/* Test hook: the next serial mm gives out (no fault running). */
void anon_set_next(struct uvma_mm *mm, uint32_t serial);
#endif

#endif
