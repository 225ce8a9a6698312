/*
 * alloc.h - how often the library asks the system for memory: every site
 * that calls malloc (or its kin) or maps a chunk counts itself here, so a
 * benchmark can show that a map change in the steady state asks for none
 * (plan arrays inline, VMAs from the pool, tree nodes from the spare
 * list).
 *
 * The count is a process-wide relaxed atomic: a statistic, read after the
 * work it counts is done.
 */
#ifndef UVMA_ALLOC_H
#define UVMA_ALLOC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

extern _Atomic uint64_t alloc_calls;

static inline void alloc_note(void)
{
	atomic_fetch_add_explicit(&alloc_calls, 1, memory_order_relaxed);
}

/* A zeroed chunk straight from the system (mmap), counted; NULL when there
 * is no memory (and *size unchanged). *size is the size of the caller's
 * last chunk (0: none yet) and becomes this one's: twice the last, up to a
 * cap, or less when the system refuses that much. Chunks of 2 MiB and more
 * are advised to use huge pages (alloc.c). Never returned. */
void *alloc_chunk(size_t *size);

/* A pool's supply of never used objects: it carves them from chunks of
 * alloc_chunk, one after the other, and maps the next chunk when the
 * current one has too little left. Zero-initialized; the pool's lock
 * guards it. leak_root: each chunk is a LeakSanitizer root region (its
 * objects hold the only pointers to some heap memory). */
struct carver {
	char *next, *end; /* what is left of the current chunk */
	size_t size;	  /* the current chunk's size */
	uint64_t mapped;  /* bytes of all chunks (a statistic) */
	bool leak_root;
};

/* A zeroed object of the given size, or NULL when the system has no memory
 * for the next chunk. */
void *alloc_carve(struct carver *c, size_t bytes);

/* Calls counted so far in this process. */
static inline uint64_t alloc_count(void)
{
	return atomic_load_explicit(&alloc_calls, memory_order_relaxed);
}

#endif
