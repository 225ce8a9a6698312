/*
 * rcu.c - thread registration with liburcu and the ThreadSanitizer bridge
 * (see rcu.h). The only state is per thread (the registered flag) plus a
 * process-wide key whose destructor unregisters exiting threads.
 */
#include "rcu.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

_Thread_local int rcu_thread_registered;
char rcu_tsan_token;

static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static void rcu_thread_exit(void *arg)
{
	(void)arg;
	if (rcu_thread_registered) {
		urcu_memb_unregister_thread();
		rcu_thread_registered = 0;
	}
}

static void make_exit_key(void)
{
	if (pthread_key_create(&exit_key, rcu_thread_exit) != 0)
		abort(); /* only at first use, with no key left: cannot go on */
}

void rcu_thread_register_slow(void)
{
	pthread_once(&exit_key_once, make_exit_key);
	urcu_memb_register_thread();
	rcu_thread_registered = 1;
	/* Any non-NULL value makes the destructor run at thread exit. */
	pthread_setspecific(exit_key, &rcu_thread_registered);
}

/* Callbacks queued by this process, for the benchmark's memory scenario.
 * Relaxed: a statistic, read after the work it counts has been joined. */
static _Atomic uint64_t defer_calls;

uint64_t rcu_defer_count(void)
{
	return atomic_load_explicit(&defer_calls, memory_order_relaxed);
}

void rcu_defer(struct rcu_head *head, void (*fn)(struct rcu_head *))
{
	atomic_fetch_add_explicit(&defer_calls, 1, memory_order_relaxed);
	rcu_thread_ensure();
	tsan_release(&rcu_tsan_token);
	urcu_memb_call_rcu(head, fn);
}

void rcu_wait_grace(void)
{
	rcu_thread_ensure();
	urcu_memb_synchronize_rcu();
}

/*
 * Not urcu_memb_barrier(): it hands a record allocated on this thread to the
 * callback thread through synchronization ThreadSanitizer cannot see. A marker
 * callback that signals a condition variable is ordered for everyone.
 */
struct callback_marker {
	struct rcu_head head;
	pthread_mutex_t lock;
	pthread_cond_t ran;
	bool done; /* under lock */
};

static void marker_run(struct rcu_head *head)
{
	struct callback_marker *m = (struct callback_marker *)head;

	rcu_reclaim_begin();
	pthread_mutex_lock(&m->lock);
	m->done = true;
	pthread_cond_signal(&m->ran);
	pthread_mutex_unlock(&m->lock); /* last touch: m may go away now */
}

void rcu_wait_callbacks(void)
{
	struct callback_marker m = { .done = false };

	pthread_mutex_init(&m.lock, NULL);
	pthread_cond_init(&m.ran, NULL);
	rcu_defer(&m.head, marker_run);
	pthread_mutex_lock(&m.lock);
	while (!m.done)
		pthread_cond_wait(&m.ran, &m.lock);
	pthread_mutex_unlock(&m.lock);
	pthread_cond_destroy(&m.ran);
	pthread_mutex_destroy(&m.lock);
}
