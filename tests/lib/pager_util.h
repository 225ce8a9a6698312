/*
 * pager_util.h - what the pager tests share: a pager space in either
 * delivery mode (handler threads or SIGBUS in the faulting thread), every
 * case run in both, and a few helpers on real memory.
 */
#ifndef UVMA_TEST_PAGER_UTIL_H
#define UVMA_TEST_PAGER_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "check.h"
#include "touch.h"
#include "uvma.h"

#define PAGE 4096ull
#define RW   (UVMA_PROT_READ | UVMA_PROT_WRITE)
#define ANON (UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS)

/* The delivery mode of the case running now. */
static bool pager_sigbus;

/* A pager space of 64 MiB in the current mode, with cfg's other fields
 * as given (cfg NULL: defaults, threads handler threads). */
static inline struct uvma_mm *pager_new(struct uvma_mm_config *cfg,
					unsigned threads)
{
	struct uvma_mm_config c;

	if (!cfg) {
		uvma_mm_config_init(&c);
		cfg = &c;
	}
	if (!cfg->brk_start) /* a heap needs the window at a known place */
		cfg->base = 0;
	cfg->size = 64ull << 20;
	cfg->pager_threads = threads;
	if (pager_sigbus)
		cfg->flags |= UVMA_MM_PAGER_SIGBUS;
	return touch_pager_or_skip(cfg, "pager test");
}

static inline uint64_t pager_map(struct uvma_mm *mm, uint64_t at,
				 uint64_t pages, unsigned prot)
{
	uint64_t out = 0;
	unsigned flags = ANON | (at ? UVMA_MAP_FIXED : 0);

	CHECK_EQ_U64(
		uvma_mmap(mm, at, pages * PAGE, prot, flags, 0, 0, NULL, &out),
		0);
	return out;
}

static inline volatile uint8_t *ptr(uint64_t addr)
{
	return (volatile uint8_t *)(uintptr_t)addr;
}

/* Does a load (or a store of v) at addr fault? */
static inline bool faults(uint64_t addr, bool store, uint8_t v)
{
	return !touch(addr, store, v, NULL);
}

/* The byte a pattern with seed puts at offset i. */
static inline uint8_t pattern(uint64_t seed, uint64_t i)
{
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull ^ seed;

	return (uint8_t)(x >> 29 ^ x);
}

/* The counters once the handler threads have counted what the test saw
 * (a fill wakes its thread before the handler counts it): wait, bounded,
 * until filled reaches at least want. */
static inline void pager_stats_settled(struct uvma_mm *mm, uint64_t want,
				       struct uvma_pager_stats *st)
{
	for (int tries = 0; tries < 5000; tries++) {
		uvma_mm_pager_stats(mm, st);
		if (st->filled >= want)
			return;
		usleep(1000);
	}
}

/* Both modes of a case: name (threads) and name_sigbus. */
#define PAGER_BOTH(fn)                                                         \
	static void fn##_threads(void)                                         \
	{                                                                      \
		pager_sigbus = false;                                          \
		fn();                                                          \
	}                                                                      \
	static void fn##_sigbus(void)                                          \
	{                                                                      \
		pager_sigbus = true;                                           \
		fn();                                                          \
	}
#define PAGER_CASES(name, fn)                                                  \
	{ name, fn##_threads },                                                \
	{                                                                      \
		name "_sigbus", fn##_sigbus                                    \
	}

#endif
