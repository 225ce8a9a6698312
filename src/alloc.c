/*
 * alloc.c - the count of alloc.h: how often the library asked the system
 * for memory, and the pools' chunks, which it counts.
 */
#include "alloc.h"

#include "debug.h"

#include <sys/mman.h>

_Atomic uint64_t alloc_calls;

/* Chunks from 256 KiB to 64 MiB, each twice the last: system calls grow
 * with the logarithm of the memory held, and a small program maps little. */
#define CHUNK_MIN (256u << 10)
#define CHUNK_MAX (64u << 20)

/* From 2 MiB on, a chunk may hold huge pages. Linux (6.7 and later) places
 * an anonymous mapping whose length is a multiple of 2 MiB on a 2 MiB
 * boundary, and with transparent huge pages in "madvise" mode (Debian's
 * default) only this advice makes it use them; older kernels, or kernels
 * without THP, leave the chunk in small pages, which works as well. What
 * fills these chunks is read at random (a million areas: 64 MiB of VMAs,
 * 34 MiB of tree nodes), where a TLB miss per access is a walk of the page
 * tables (two levels of them in a virtual machine). Measured, mmap+munmap
 * at 1,000,000 areas, six alternating pairs of runs: 1,420-1,750 ns a pair
 * with the advice, 1,540-2,000 without, the advice faster in every pair
 * (docs/bench.md, "Map operations"). The cost: a touched huge page is
 * 2 MiB of memory at once, so a pool may hold up to 2 MiB more than it
 * carved. */
#define HUGE_PAGE (2u << 20)

static size_t next_size(size_t last)
{
	if (last < CHUNK_MIN)
		return CHUNK_MIN;
	return last >= CHUNK_MAX / 2 ? CHUNK_MAX : 2 * last;
}

void *alloc_chunk(size_t *size)
{
	size_t bytes = next_size(*size);
	void *chunk;

	alloc_note();
	/* A large chunk the system refuses (an address-space limit, strict
	 * overcommit) may still be had smaller: halve down to the least. */
	for (;;) {
		chunk = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (chunk != MAP_FAILED || bytes == CHUNK_MIN)
			break;
		bytes /= 2;
	}
	if (chunk == MAP_FAILED)
		return NULL;
	if (bytes >= HUGE_PAGE)
		(void)madvise(chunk, bytes, MADV_HUGEPAGE);
	*size = bytes;
	return chunk;
}

void *alloc_carve(struct carver *c, size_t bytes)
{
	void *obj;

	/* Not "==": objects need not divide a chunk evenly (the baselines'
	 * VMAs, src/design.h); the tail of a chunk is left. */
	if ((size_t)(c->end - c->next) < bytes) {
		char *chunk = alloc_chunk(&c->size);

		if (!chunk)
			return NULL;
		if (c->leak_root)
			lsan_root(chunk, c->size);
		c->next = chunk;
		c->end = chunk + c->size;
		c->mapped += c->size;
	}
	obj = c->next;
	c->next += bytes;
	return obj;
}
