/*
 * wait.h - bounded waiting for threaded tests: poll a condition and fail
 * the test (with the seed) when it does not come true in time, so that a
 * lost wake-up or a deadlock is reported by the test, not as a CTest
 * timeout.
 */
#ifndef UVMA_TEST_WAIT_H
#define UVMA_TEST_WAIT_H

#include <stdint.h>
#include <time.h>

#include "check.h"
#include "futex.h"

/* Long enough for a sanitizer build on a loaded machine, short next to the
 * CTest timeout. */
#define WAIT_NS (20ull * 1000000000ull)

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

/* Poll until cond holds; fail the test if it does not within WAIT_NS. */
#define WAIT_FOR(cond)                                                         \
	do {                                                                   \
		uint64_t wait_start_ = now_ns();                               \
		while (!(cond)) {                                              \
			if (now_ns() - wait_start_ > WAIT_NS)                  \
				check_fail(__FILE__, __LINE__,                 \
					   "timed out: " #cond);               \
			sleep_us(50);                                          \
		}                                                              \
	} while (0)

/*
 * Some CPU work between two reads of the same fields; the compiler barrier
 * makes the second read a real load, not a reuse of the first.
 */
static inline void busy_work(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		cpu_relax();
		__asm__ __volatile__("" ::: "memory");
	}
}

/*
 * Give a thread that should be blocked the time to go wrong: if it were not
 * blocked it would finish its step well within this.
 */
static inline void settle(void)
{
	sleep_us(30000);
}

#endif
