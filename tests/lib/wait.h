/*
 * wait.h - bounded waiting for threaded tests: poll a condition and fail
 * the test (with the seed) when it does not come true in time, so that a
 * lost wake-up or a deadlock is reported by the test, not as a CTest
 * timeout.
 */
#ifndef UVMA_TEST_WAIT_H
#define UVMA_TEST_WAIT_H

#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

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

/*
 * The stress tests' watchdog. Each watched thread counts its steps in
 * *progress and sets *done when it returns. watch_threads runs them for
 * duration_ns and until each has made min_steps, then sets *stop and waits
 * until all are done; it fails the test when one makes no progress for
 * stall_s seconds (a lost wake-up, a writer waiting forever), naming every
 * thread that stalled.
 */
struct watch_thread {
	_Atomic uint64_t *progress;
	atomic_bool *done;
	uint64_t min_steps;
	const char *name; /* its role, for the message */
	unsigned id;
};

/* One poll: false when th stalled; *enough cleared while it is short of
 * its minimum. */
static inline bool watch_one(const struct watch_thread *th, uint64_t *last,
			     uint64_t *since, uint64_t t, int stall_s,
			     bool stopping, bool *enough)
{
	uint64_t p = atomic_load_explicit(th->progress, memory_order_relaxed);

	if (p < th->min_steps)
		*enough = false;
	if (p != *last) {
		*last = p;
		*since = t;
		return true;
	}
	if (t - *since <= (uint64_t)stall_s * 1000000000ull)
		return true;
	fprintf(stderr,
		"%s %u made no progress for %d s (%" PRIu64 " steps done%s)\n",
		th->name, th->id, stall_s, p,
		stopping ? ", asked to stop" : "");
	return false;
}

static inline void watch_threads(const struct watch_thread *th, unsigned n,
				 uint64_t duration_ns, atomic_bool *stop,
				 int stall_s)
{
	uint64_t start = now_ns(), last[n], since[n];
	bool stopping = false;

	for (unsigned i = 0; i < n; i++) {
		last[i] = 0;
		since[i] = start;
	}
	for (;;) {
		bool enough = true, all_done = true, stalled = false;
		uint64_t t;

		usleep(20000);
		t = now_ns();
		for (unsigned i = 0; i < n; i++) {
			if (atomic_load_explicit(th[i].done,
						 memory_order_relaxed))
				continue;
			all_done = false;
			if (!watch_one(&th[i], &last[i], &since[i], t, stall_s,
				       stopping, &enough))
				stalled = true;
		}
		if (stalled)
			check_fail(__FILE__, __LINE__,
				   "every thread makes progress");
		if (stopping && all_done)
			return;
		if (!stopping && t - start >= duration_ns && enough) {
			atomic_store_explicit(stop, true, memory_order_relaxed);
			stopping = true;
		}
	}
}

#endif
