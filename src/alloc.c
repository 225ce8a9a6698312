/*
 * alloc.c - the count of alloc.h: how often the library asked the system
 * for memory, and the pools' chunks, which it counts.
 */
#include "alloc.h"

#include <sys/mman.h>

_Atomic uint64_t alloc_calls;

void *alloc_chunk(size_t bytes)
{
	void *chunk;

	alloc_note();
	chunk = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return chunk == MAP_FAILED ? NULL : chunk;
}
