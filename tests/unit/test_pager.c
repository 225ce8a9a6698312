/*
 * test_pager.c - real memory behind a space (UVMA_MM_PAGER, src/pager.c):
 * ordinary loads and stores on the addresses uvma_mmap returns, pages
 * filled with zeros on first touch by the handler threads through the
 * per-VMA lock, and the real range kept in step with the map: unmapped
 * ranges fault (SIGSEGV), mprotect is the real protection, MAP_FIXED and
 * munmap discard pages, splits keep them. Needs userfaultfd (root here and
 * in CI); elsewhere it says so and is skipped (exit 77).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "touch.h"
#include "uvma.h"

#define PAGE   4096ull
#define RW     (UVMA_PROT_READ | UVMA_PROT_WRITE)
#define ANON   (UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS)
#define NPAGES 64

static struct uvma_mm *new_pager(unsigned threads)
{
	struct uvma_mm_config cfg;

	uvma_mm_config_init(&cfg);
	cfg.base = 0;
	cfg.size = 64ull << 20;
	cfg.pager_threads = threads;
	return touch_pager_or_skip(&cfg, "test_pager");
}

static uint64_t map(struct uvma_mm *mm, uint64_t at, uint64_t pages,
		    unsigned prot)
{
	uint64_t out = 0;
	unsigned flags = ANON | (at ? UVMA_MAP_FIXED : 0);

	CHECK_EQ_U64(
		uvma_mmap(mm, at, pages * PAGE, prot, flags, 0, 0, NULL, &out),
		0);
	return out;
}

static volatile uint8_t *ptr(uint64_t addr)
{
	return (volatile uint8_t *)(uintptr_t)addr;
}

/* Does a load (or a store of v) at addr fault? */
static bool faults(uint64_t addr, bool store, uint8_t v)
{
	return !touch(addr, store, v, NULL);
}

/* ---- cases --------------------------------------------------------------- */

static void test_zero_fill(void)
{
	struct uvma_mm *mm = new_pager(2);
	uint64_t a = map(mm, 0, NPAGES, RW);
	struct uvma_pager_stats st;

	for (uint64_t i = 0; i < NPAGES; i++) {
		if (i % 2)
			CHECK_EQ_U64(*ptr(a + i * PAGE + 7), 0); /* read */
		*ptr(a + i * PAGE + 11) = (uint8_t)(i + 1);	 /* write */
	}
	for (uint64_t i = 0; i < NPAGES; i++) {
		CHECK_EQ_U64(*ptr(a + i * PAGE + 11), i + 1);
		CHECK_EQ_U64(*ptr(a + i * PAGE + 12), 0);
	}
	/* A fill wakes its thread before the handler counts it: wait
	 * (bounded) for the last counts. */
	for (int tries = 0; tries < 5000; tries++) {
		uvma_mm_pager_stats(mm, &st);
		if (st.filled >= NPAGES)
			break;
		usleep(1000);
	}
	CHECK_EQ_U64(st.filled, NPAGES);
	CHECK_EQ_U64(st.woken, 0);
	uvma_mm_destroy(mm);
}

/* munmap and MAP_FIXED discard pages; the range comes back as zeros. */
static void test_discard(void)
{
	struct uvma_mm *mm = new_pager(1);
	uint64_t a = map(mm, 0, 8, RW);

	for (uint64_t i = 0; i < 8; i++)
		*ptr(a + i * PAGE) = 0xa5;
	CHECK_EQ_U64(uvma_munmap(mm, a, 8 * PAGE), 0);
	CHECK(faults(a, false, 0));
	CHECK(faults(a + 7 * PAGE, true, 1));
	CHECK_EQ_U64(map(mm, a, 8, RW), a);
	CHECK_EQ_U64(*ptr(a), 0);
	*ptr(a + PAGE) = 0x5a;
	CHECK_EQ_U64(map(mm, a, 8, RW), a); /* MAP_FIXED over it */
	CHECK_EQ_U64(*ptr(a + PAGE), 0);
	uvma_mm_destroy(mm);
}

/* mprotect is the real protection, and a split keeps every page. */
static void test_protect(void)
{
	struct uvma_mm *mm = new_pager(1);
	uint64_t a = map(mm, 0, 8, RW);

	for (uint64_t i = 0; i < 8; i++)
		*ptr(a + i * PAGE + 1) = (uint8_t)(0x10 + i);
	CHECK_EQ_U64(uvma_mprotect(mm, a + 2 * PAGE, 3 * PAGE, UVMA_PROT_READ),
		     0);
	CHECK(faults(a + 3 * PAGE, true, 9));
	CHECK(!faults(a + 3 * PAGE, false, 0));
	CHECK(!faults(a + 6 * PAGE, true, 0x16));
	for (uint64_t i = 0; i < 8; i++)
		CHECK_EQ_U64(*ptr(a + i * PAGE + 1), 0x10 + i);
	/* A page never touched, read-only: filled on a read. */
	CHECK_EQ_U64(*ptr(a + 4 * PAGE + 100), 0);
	CHECK_EQ_U64(uvma_mprotect(mm, a, 8 * PAGE, UVMA_PROT_NONE), 0);
	CHECK(faults(a, false, 0));
	CHECK_EQ_U64(uvma_mprotect(mm, a, 8 * PAGE, RW), 0);
	CHECK_EQ_U64(*ptr(a + 7 * PAGE + 1), 0x17);
	uvma_mm_destroy(mm);
}

static void test_refused(void)
{
	struct uvma_mm *mm = new_pager(1);
	uint64_t a = map(mm, 0, 8, RW), out = 0;

	CHECK_EQ_U64(uvma_mremap(mm, a, 8 * PAGE, 16 * PAGE,
				 UVMA_MREMAP_MAYMOVE, 0, &out),
		     -EOPNOTSUPP);
	CHECK_EQ_U64(uvma_mremap(mm, a, 8 * PAGE, 4 * PAGE, 0, 0, &out), 0);
	CHECK(faults(a + 5 * PAGE, false, 0)); /* the shrunk tail is gone */
	uvma_mm_destroy(mm);
}

/* Threads write and check their own pages while the main thread maps,
 * splits and unmaps other areas of the same space. */
struct toucher {
	pthread_t thread;
	uint64_t base;
	unsigned id;
	_Atomic bool *stop;
	uint64_t rounds;
};

static void *touch_main(void *arg)
{
	struct toucher *t = arg;

	while (!atomic_load(t->stop)) {
		for (uint64_t i = 0; i < NPAGES; i++) {
			volatile uint8_t *p = ptr(t->base + i * PAGE);
			uint8_t want = (uint8_t)(t->rounds + t->id);

			CHECK_EQ_U64(*p, t->rounds ? (uint8_t)(want - 1) : 0);
			*p = want;
		}
		t->rounds++;
	}
	return NULL;
}

static void test_churn(void)
{
	struct uvma_mm *mm = new_pager(2);
	struct toucher t[2];
	_Atomic bool stop = false;
	uint64_t cycles = test_scaled(3000, 300);

	for (unsigned i = 0; i < 2; i++) {
		t[i] = (struct toucher){ .base = map(mm, 0, NPAGES, RW),
					 .id = i * 100,
					 .stop = &stop };
		CHECK(pthread_create(&t[i].thread, NULL, touch_main, &t[i]) ==
		      0);
	}
	for (uint64_t c = 0; c < cycles; c++) {
		uint64_t b = map(mm, 0, 4, RW);

		*ptr(b + PAGE) = 1;
		CHECK_EQ_U64(uvma_mprotect(mm, b, 2 * PAGE, UVMA_PROT_READ), 0);
		CHECK_EQ_U64(*ptr(b + PAGE), 1);
		CHECK_EQ_U64(uvma_munmap(mm, b, 4 * PAGE), 0);
	}
	atomic_store(&stop, true);
	for (unsigned i = 0; i < 2; i++) {
		CHECK(pthread_join(t[i].thread, NULL) == 0);
		CHECK(t[i].rounds > 0);
	}
	uvma_mm_destroy(mm);
}

static const struct test_case case_table[] = {
	{ "zero_fill", test_zero_fill }, { "discard", test_discard },
	{ "protect", test_protect },	 { "refused", test_refused },
	{ "churn", test_churn },
};

int main(int argc, char **argv)
{
	uvma_mm_destroy(new_pager(1)); /* or skip, before any case */
	touch_init();
	return test_run_cases(argc, argv, case_table,
			      sizeof(case_table) / sizeof(case_table[0]));
}
