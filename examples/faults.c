/*
 * faults.c - the shape of a program that uses uvma: one thread changes the
 * map (mmap, mprotect, munmap) while others take faults on it, each fault
 * locking only the area it hits.
 *
 * Build (installed library):  cc faults.c $(pkg-config --cflags --libs uvma)
 * Run:                        ./faults
 * It prints the fault counters and the final map, and exits 1 if a fault
 * returned something other than 0, -EFAULT or -EACCES.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "uvma.h"

#define PAGE	   4096u
#define AREAS	   64
#define AREA_PAGES 16

static struct uvma_mm *mm;
static uint64_t base;
static atomic_bool stop;
static atomic_ulong handled, bad;

/* The handler runs with only the faulting area's read lock held: here it
 * would fill the page (for example with UFFDIO_COPY). */
static int on_fault(const struct uvma_fault *f)
{
	(void)f;
	atomic_fetch_add(&handled, 1);
	return 0;
}

static void *faulter(void *arg)
{
	uint64_t x = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;

	while (!atomic_load(&stop)) {
		uint64_t page;
		int r;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		page = x % (AREAS * AREA_PAGES);
		r = uvma_fault(mm, base + page * PAGE, UVMA_ACCESS_WRITE);
		if (r && r != -EFAULT && r != -EACCES)
			atomic_fetch_add(&bad, 1);
	}
	return NULL;
}

/* Keep changing the map: areas come and go, protections flip. */
static void mapper(void)
{
	for (int round = 0; round < 20000; round++) {
		uint64_t a =
			base + (uint64_t)(round % AREAS) * AREA_PAGES * PAGE;
		uint64_t out;
		int err = 0;

		switch (round % 3) {
		case 0:
			err = uvma_munmap(mm, a, AREA_PAGES * PAGE);
			break;
		case 1:
			err = uvma_mmap(mm, a, AREA_PAGES * PAGE,
					UVMA_PROT_READ | UVMA_PROT_WRITE,
					UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS |
						UVMA_MAP_FIXED,
					0, 0, NULL, &out);
			break;
		case 2:
			/* -ENOMEM when part of the range is unmapped, as on
			 * Linux; what is mapped changes anyway. */
			err = uvma_mprotect(mm, a + PAGE, PAGE, UVMA_PROT_READ);
			if (err == -ENOMEM)
				err = 0;
			break;
		}
		if (err)
			atomic_fetch_add(&bad, 1);
	}
}

static int print_area(const struct uvma_area_info *a, void *arg)
{
	(void)arg;
	printf("  %#" PRIx64 "-%#" PRIx64 " %c%c%c%c\n", a->start, a->end,
	       a->prot & UVMA_PROT_READ ? 'r' : '-',
	       a->prot & UVMA_PROT_WRITE ? 'w' : '-',
	       a->prot & UVMA_PROT_EXEC ? 'x' : '-',
	       a->flags & UVMA_MAP_SHARED ? 's' : 'p');
	return 0;
}

int main(void)
{
	struct uvma_mm_config cfg;
	struct uvma_fault_stats st;
	pthread_t t[2];
	int err;

	uvma_mm_config_init(&cfg);
	cfg.fault = on_fault;
	err = uvma_mm_create(&cfg, &mm);
	if (err) {
		fprintf(stderr, "uvma_mm_create: %s\n", uvma_strerror(err));
		return 1;
	}
	/* Let uvma place the whole range (top-down, as Linux would). */
	err = uvma_mmap(mm, 0, AREAS * AREA_PAGES * PAGE,
			UVMA_PROT_READ | UVMA_PROT_WRITE,
			UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS, 0, 0, NULL,
			&base);
	if (err) {
		fprintf(stderr, "uvma_mmap: %s\n", uvma_strerror(err));
		return 1;
	}
	for (uintptr_t i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, faulter, (void *)(i + 1));
	mapper();
	atomic_store(&stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);

	uvma_mm_fault_stats(mm, &st);
	printf("faults handled %lu; under the area lock %" PRIu64
	       ", fell back to mmap_lock %" PRIu64 " (aborts %" PRIu64
	       ", stale retries %" PRIu64 ")\n",
	       atomic_load(&handled), st.success, st.fallback, st.abort,
	       st.miss);
	printf("map at the end:\n");
	uvma_maps(mm, 0, UINT64_MAX, print_area, NULL);
	uvma_mm_destroy(mm);
	return atomic_load(&bad) ? 1 : 0;
}
