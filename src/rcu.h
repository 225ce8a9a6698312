/*
 * rcu.h - uvma's use of liburcu (memb flavour), in one place.
 *
 * Threads need no registration ceremony: the first rcu_read_enter() or
 * rcu_defer() of a thread registers it with liburcu, and a thread-exit
 * destructor unregisters it.
 *
 * ThreadSanitizer cannot see liburcu's grace periods (membarrier and the
 * call_rcu queue live in an uninstrumented library). We tell it here, and only
 * here: every read-side exit and every deferral is a release on one token,
 * and every reclaim callback starts with an acquire of it. So whatever a
 * reader did inside its section happens before the memory is freed, which is
 * exactly what a grace period guarantees.
 */
#ifndef UVMA_RCU_H
#define UVMA_RCU_H

#include <stdint.h>

#include "debug.h"

/* Inline the read-side fast path (a few lines, as liburcu documents), except
 * under ThreadSanitizer: inlined, liburcu's own wake-up bookkeeping would be
 * instrumented while the other half of its synchronization (in the library)
 * is not, which shows as races that are not ours. */
#if !defined(_LGPL_SOURCE) && !defined(UVMA_TSAN)
#define _LGPL_SOURCE
#endif
#include <urcu/urcu-memb.h>

extern _Thread_local int rcu_thread_registered;
extern char rcu_tsan_token;

void rcu_thread_register_slow(void);

static inline void rcu_thread_ensure(void)
{
	if (__builtin_expect(!rcu_thread_registered, 0))
		rcu_thread_register_slow();
}

/* Enter an RCU read-side section (nests). */
static inline void rcu_read_enter(void)
{
	rcu_thread_ensure();
	urcu_memb_read_lock();
}

static inline void rcu_read_exit(void)
{
	tsan_release(&rcu_tsan_token);
	urcu_memb_read_unlock();
}

/* Queue fn(head) to run after a grace period; from any thread, not from a
 * read-side section's caller that holds locks the callback needs. */
void rcu_defer(struct rcu_head *head, void (*fn)(struct rcu_head *));

/* rcu_defer calls so far, process-wide (a statistic). */
uint64_t rcu_defer_count(void);

/* First statement of every reclaim callback. */
static inline void rcu_reclaim_begin(void)
{
	tsan_acquire(&rcu_tsan_token);
}

/* Wait for a grace period (not from a read-side section). */
void rcu_wait_grace(void);

/* Wait until every callback queued so far has run (not from a read-side
 * section or a callback). uvma queues all its callbacks on liburcu's default
 * callback thread, which runs them in order; this queues one more and waits
 * for it. uvma_mm_destroy does not call it: the tree's pending batches
 * free themselves (tree.c, struct tree_bin). */
void rcu_wait_callbacks(void);

#endif
