/*
 * race_util.h - what the race reproductions of tests/race/ share (see
 * docs/races.md): reporting a violation, bounded waits between the threads
 * of a scenario, random placement of areas, and the verdict.
 *
 * Every test here runs in two builds: against the real library (it must
 * pass) and against a copy of the library with one historical bug put back
 * (UVMA_BROKEN_<NAME>, see src/hook.h), where it must fail. A broken run
 * must end by itself, quickly, with "VIOLATION: ..." in its output (that is
 * what tests/race/expect_fail.sh looks for), so:
 * - every wait is bounded (RACE_WAIT_SECONDS), and a timeout says TIMEOUT,
 *   never VIOLATION: a broken variant that hangs has not caught its race;
 * - once a violation is seen the state is corrupt by definition (a count
 *   that is off by one can make the next writer wait forever), so the test
 *   stops there and exits without tearing anything down.
 *
 * The scenarios drive the interleavings through the hooks of src/hook.h,
 * compiled in only with UVMA_TEST_HOOKS: into uvma_testlib, which every test
 * links whatever the build type, and into every broken build.
 */
#ifndef UVMA_TEST_RACE_UTIL_H
#define UVMA_TEST_RACE_UTIL_H

#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "hook.h"
#include "rcu.h"
#include "vma_util.h"

/* Longest a thread of a scenario waits for the other one. Generous: the
 * other side only has a handful of uncontended operations to do, but a
 * sanitizer build on a loaded machine can be slow. */
#define RACE_WAIT_SECONDS 30

/* The test's name, for every line it prints (set by race_begin). */
static inline const char **race_name_slot(void)
{
	static const char *name = "race";

	return &name;
}

/* Violations seen so far (any thread). */
static inline _Atomic unsigned long *race_violation_slot(void)
{
	static _Atomic unsigned long n;

	return &n;
}

/* Which library this binary runs: the real code, or which bug is back. */
static inline const char *race_variant(void)
{
#if defined(UVMA_BROKEN_DETACH_NO_WAIT)
	return "BROKEN detach_no_wait (vma_mark_detached does not wait)";
#elif defined(UVMA_BROKEN_NO_OWNER_CHECK)
	return "BROKEN no_owner_check (vma_start_read skips vma->mm == mm)";
#elif defined(UVMA_BROKEN_ATTACH_UNLOCKED)
	return "BROKEN attach_unlocked (a plan attaches new VMAs unlocked)";
#elif defined(UVMA_BROKEN_DUP_COPIES_COUNT)
	return "BROKEN dup_copies_count (vma_dup copies refcnt, lock_seq)";
#elif defined(UVMA_BROKEN_FILL_UNLOCKED)
	return "BROKEN fill_unlocked (the pager fills after dropping the lock)";
#elif defined(UVMA_BROKEN_DUP_UNLOCKED)
	return "BROKEN dup_unlocked (uvma_mm_dup copies areas unlocked)";
#elif defined(UVMA_BROKEN_SEEN_NO_EPOCH)
	return "BROKEN seen_no_epoch (sequence bounds compared across a wrap)";
#elif defined(UVMA_BROKEN_FREE_ATTACHED)
	return "BROKEN free_attached (a plan frees without detaching)";
#else
	return "real";
#endif
}

/*
 * The broken builds must not have the library's assertions (UVMA_DEBUG):
 * the race has to be caught by the test's own checks, as it would be in a
 * release build. tests/race/CMakeLists.txt defines RACE_BROKEN_BUILD for
 * them and takes UVMA_DEBUG away; this makes sure it really is gone.
 */
#ifndef UVMA_TEST_HOOKS
#error "the race tests need the hooks of src/hook.h: link uvma_testlib"
#endif
#if defined(RACE_BROKEN_BUILD) && defined(UVMA_DEBUG)
#error "a broken race variant must be built without UVMA_DEBUG"
#endif

/* Print the seed and what runs; seeds this thread's PRNG. */
static inline uint64_t race_begin(const char *name, int argc, char **argv,
				  uint64_t rounds)
{
	uint64_t seed = test_seed(argc, argv);

	*race_name_slot() = name;
	printf("%s: library %s, %" PRIu64 " rounds\n", name, race_variant(),
	       rounds);
	fflush(stdout);
	return seed;
}

/*
 * Report a violation of the lock's guarantees: one line starting with
 * "VIOLATION:", flushed at once, since a broken variant may crash (or a
 * sanitizer may abort it) right after the test has seen the race.
 */
__attribute__((format(printf, 1, 2))) static inline void
race_violation(const char *fmt, ...)
{
	va_list ap;

	atomic_fetch_add(race_violation_slot(), 1);
	printf("VIOLATION: %s: ", *race_name_slot());
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" (seed %" PRIu64 ")\n", *test_seed_slot());
	fflush(stdout);
}

static inline unsigned long race_violations(void)
{
	return atomic_load(race_violation_slot());
}

/*
 * The end of a run: one verdict line. With violations the process exits
 * nonzero right here, without tearing down the address spaces: their
 * counts are wrong, and a teardown could wait forever on them.
 */
static inline int race_finish(uint64_t rounds, const char *what)
{
	unsigned long n = race_violations();

	if (n) {
		printf("%s: FAIL: %lu violation(s) after %" PRIu64
		       " round(s) (seed %" PRIu64 ")\n",
		       *race_name_slot(), n, rounds, *test_seed_slot());
		fflush(stdout);
		fflush(stderr);
		_exit(1);
	}
	printf("%s: PASS: %" PRIu64 " rounds, %s\n", *race_name_slot(), rounds,
	       what);
	fflush(stdout);
	return 0;
}

/* A wait between the threads of a scenario that has run too long: the
 * scenario is stuck, which is a failure, but not the race it looks for. */
__attribute__((noreturn, cold)) static inline void
race_timeout(const char *what)
{
	printf("TIMEOUT: %s: no progress in %d s while %s (seed %" PRIu64 ")\n",
	       *race_name_slot(), RACE_WAIT_SECONDS, what, *test_seed_slot());
	fflush(stdout);
	fflush(stderr);
	_exit(2);
}

/* A bounded wait: spin briefly, then yield; give up at the deadline. */
struct race_wait {
	struct timespec deadline;
	unsigned spins;
};

static inline void race_wait_start(struct race_wait *w)
{
	clock_gettime(CLOCK_MONOTONIC, &w->deadline);
	w->deadline.tv_sec += RACE_WAIT_SECONDS;
	w->spins = 0;
}

/* One more turn of a wait for what; never returns past the deadline. */
static inline void race_wait_step(struct race_wait *w, const char *what)
{
	struct timespec now;

	if (++w->spins < 64)
		return;
	sched_yield();
	if (w->spins % 1024)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec > w->deadline.tv_sec ||
	    (now.tv_sec == w->deadline.tv_sec &&
	     now.tv_nsec >= w->deadline.tv_nsec))
		race_timeout(what);
}

/* Wait (bounded) until *step is want or beyond; returns the value seen. */
static inline int race_wait_for(_Atomic int *step, int want, const char *what)
{
	struct race_wait w;
	int now;

	race_wait_start(&w);
	while ((now = atomic_load(step)) < want)
		race_wait_step(&w, what);
	return now;
}

/* Wait (bounded) until *flag is true. */
static inline void race_wait_for_flag(_Atomic bool *flag, const char *what)
{
	struct race_wait w;

	race_wait_start(&w);
	while (!atomic_load(flag))
		race_wait_step(&w, what);
}

/*
 * Page-aligned places for areas, drawn from the seeded PRNG: area slot i
 * (0..15) lives somewhere in its own 256 MiB window, so areas of different
 * slots never overlap, and each round moves them around.
 */
#define RACE_PAGE	4096ull
#define RACE_SLOT_BYTES 0x10000000ull
#define RACE_SLOT_BASE	0x100000000ull

struct race_range {
	uint64_t start;
	uint64_t end;
};

static inline struct race_range race_place(unsigned slot)
{
	struct race_range r;
	uint64_t pages = rng_range(1, 16);

	r.start = RACE_SLOT_BASE + slot * RACE_SLOT_BYTES +
		  rng_below(4096) * RACE_PAGE;
	r.end = r.start + pages * RACE_PAGE;
	return r;
}

/* Some address inside r. */
static inline uint64_t race_addr_in(struct race_range r)
{
	return r.start + rng_below((r.end - r.start) / RACE_PAGE) * RACE_PAGE +
	       rng_below(RACE_PAGE);
}

static inline struct uvma_mm *race_owner(struct uvma_vma *v)
{
	return atomic_load_explicit(&v->mm, memory_order_relaxed);
}

#endif
