/*
 * test_rwsem.c - the mmap_lock rwsem on its own.
 *
 * 1. single: every state of one rwsem in one thread, and which trylocks
 *    succeed in it; once from the initial state and once with every counter
 *    just below its wrap-around.
 * 2. exclusion: threads doing random read, write, write+downgrade and
 *    trylock sections. Writers change a plain pair of counters that readers
 *    must always see equal; atomic counts of readers and writers inside are
 *    checked at every entry; a downgraded section must still see its own
 *    writes. Some sections sleep, so waiters go to sleep on the futexes.
 * 3. writer starvation: readers whose sections overlap, so the lock is
 *    never free of readers; a writer must still get in within a bound.
 * 4. reader starvation: writers that hand the lock from one to the next,
 *    always one holding and more queued; a reader arriving among them must
 *    get in within a bound.
 * 5. downgrade: readers blocked behind a writer get in when it downgrades,
 *    beside it; a second writer, queued, waits until all of them (the
 *    downgrader too) have left, and readers arriving after it wait for it.
 *
 * Tests 1, 4 and 5 look at the rwsem's words (to start counters near the
 * wrap, and to know when threads wait: arrived(), writers_queued()), so
 * they know the layout described in rwsem.c.
 *
 * Options: --seed N, --ops N (operations per thread in test 2), --threads N
 * (threads in test 2). UVMA_TEST_SCALE scales --ops.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "check.h"
#include "rwsem.h"

/* How long a waiter may take before we call it starved. Fair, it takes
 * microseconds to milliseconds; the bound leaves room for a loaded machine
 * and sanitizers. */
#define STARVE_LIMIT_NS (10 * 1000000000LL)

/* rwsem.c's layout, for the white-box parts of the tests. */
#define RW_PRESENT 0x2u
#define RW_READER  0x100u

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ns(long ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000L,
			       .tv_nsec = ns % 1000000000L };

	nanosleep(&ts, NULL);
}

/* Busy for about ns nanoseconds. */
static void spin_ns(int64_t ns)
{
	int64_t end = now_ns() + ns;

	while (now_ns() < end)
		;
}

/* Poll cond (an expression) until true or STARVE_LIMIT_NS; its value. */
#define WAIT_FOR(cond)                                                         \
	({                                                                     \
		int64_t wait_end_ = now_ns() + STARVE_LIMIT_NS;                \
		bool wait_ok_;                                                 \
		while (!(wait_ok_ = (cond)) && now_ns() < wait_end_)           \
			sleep_ns(50000);                                       \
		wait_ok_;                                                      \
	})

/* Readers that have arrived (in or waiting) and not left. */
static uint32_t arrived(struct rwsem *s)
{
	uint32_t in = atomic_load(&s->read_in);
	uint32_t out = atomic_load(&s->read_out);

	return (in / RW_READER - out / RW_READER) & 0xffffff;
}

/* Writers holding a ticket (in or queued). */
static uint32_t writers_queued(struct rwsem *s)
{
	return atomic_load(&s->write_next) - atomic_load(&s->write_turn);
}

/* ---- 1. single thread ------------------------------------------------- */

static void check_free(struct rwsem *s)
{
	CHECK(!rwsem_is_locked(s));
	CHECK(!rwsem_is_write_locked(s));
}

static void check_read_held(struct rwsem *s)
{
	CHECK(rwsem_is_locked(s));
	CHECK(!rwsem_is_write_locked(s));
	CHECK(!rwsem_write_trylock(s));
}

static void check_write_held(struct rwsem *s)
{
	CHECK(rwsem_is_locked(s));
	CHECK(rwsem_is_write_locked(s));
	CHECK(!rwsem_read_trylock(s));
	CHECK(!rwsem_write_trylock(s));
}

/* One round through every state. */
static void single_round(struct rwsem *s)
{
	check_free(s);

	/* Readers nest with readers. */
	rwsem_read_lock(s);
	check_read_held(s);
	CHECK(rwsem_read_trylock(s));
	rwsem_read_lock(s);
	check_read_held(s);
	rwsem_read_unlock(s);
	rwsem_read_unlock(s);
	check_read_held(s);
	rwsem_read_unlock(s);
	check_free(s);

	/* A write hold by trylock, then by lock. */
	CHECK(rwsem_write_trylock(s));
	check_write_held(s);
	rwsem_write_unlock(s);
	check_free(s);
	rwsem_write_lock(s);
	check_write_held(s);
	rwsem_write_unlock(s);
	check_free(s);

	/* Downgrade: read-held, readers may join, free after the unlock. */
	rwsem_write_lock(s);
	rwsem_downgrade(s);
	check_read_held(s);
	CHECK(rwsem_read_trylock(s));
	rwsem_read_unlock(s);
	check_read_held(s);
	rwsem_read_unlock(s);
	check_free(s);

	/* And a trylock'd writer downgrades the same way. */
	CHECK(rwsem_write_trylock(s));
	rwsem_downgrade(s);
	check_read_held(s);
	rwsem_read_unlock(s);
	check_free(s);

	/* A read hold from trylock on a free rwsem. */
	CHECK(rwsem_read_trylock(s));
	check_read_held(s);
	rwsem_read_unlock(s);
	check_free(s);
}

static void test_single(void)
{
	struct rwsem s;

	rwsem_init(&s);
	/* Many rounds: both writer phases, many reader counts. */
	for (int i = 0; i < 1000; i++)
		single_round(&s);

	/*
	 * Counters just below the wrap: the reader counts wrap within a few
	 * rounds, the ticket counters within one. (Done on a fresh, free
	 * rwsem: only equal counts and the tickets' parity matter.)
	 */
	rwsem_init(&s);
	atomic_store(&s.read_in, 0xfffff000u);
	atomic_store(&s.read_out, 0xfffff000u);
	atomic_store(&s.write_next, 0xfffffffdu);
	atomic_store(&s.write_turn, 0xfffffffdu);
	for (int i = 0; i < 100; i++)
		single_round(&s);
	CHECK(atomic_load(&s.read_in) < 0xfffff000u);
	CHECK(atomic_load(&s.write_turn) < 0xfffffffdu);
	printf("single: passed\n");
}

/* ---- 2. mutual exclusion stress ---------------------------------------- */

static struct rwsem xsem;
/* Written only under the write lock, always equal outside it. Plain, so
 * ThreadSanitizer also reports any section the lock failed to order. */
static uint64_t pair_a, pair_b;
static _Atomic int readers_inside, writers_inside;
static _Atomic uint64_t violations;

struct xthread {
	pthread_t thread;
	uint64_t seed, ops;
	uint64_t writes, reads, downgrades, tries_ok, tries_failed;
};

static void violation(void)
{
	atomic_fetch_add(&violations, 1);
}

/* Length of a section: mostly short, sometimes a sleep so that the others
 * run out of spinning and sleep on the futexes. */
static void section_work(void)
{
	if (rng_chance(1, 200))
		sleep_ns(20000 + (long)rng_below(50000));
	else
		for (volatile unsigned i = rng_below(64); i > 0; i--)
			;
}

static void read_section(void)
{
	atomic_fetch_add(&readers_inside, 1);
	if (atomic_load(&writers_inside) != 0)
		violation();
	if (!rwsem_is_locked(&xsem) || rwsem_is_write_locked(&xsem))
		violation();
	if (pair_a != pair_b)
		violation();
	section_work();
	if (pair_a != pair_b)
		violation();
	atomic_fetch_sub(&readers_inside, 1);
}

/* Enter as the writer, change the pair (unequal for a while), and return
 * its new value; still counted as the writer inside. */
static uint64_t write_section(void)
{
	uint64_t v;

	if (atomic_fetch_add(&writers_inside, 1) != 0)
		violation();
	if (atomic_load(&readers_inside) != 0)
		violation();
	if (!rwsem_is_write_locked(&xsem))
		violation();
	if (pair_a != pair_b)
		violation();
	v = ++pair_a;
	section_work();
	pair_b = v;
	return v;
}

static void write_leave(void)
{
	atomic_fetch_sub(&writers_inside, 1);
}

static void *run_exclusion(void *arg)
{
	struct xthread *t = arg;

	rng_seed(t->seed);
	for (uint64_t i = 0; i < t->ops; i++) {
		uint64_t r = rng_below(100), v;

		if (r < 50) {
			rwsem_read_lock(&xsem);
			read_section();
			rwsem_read_unlock(&xsem);
			t->reads++;
		} else if (r < 70) {
			rwsem_write_lock(&xsem);
			write_section();
			write_leave();
			rwsem_write_unlock(&xsem);
			t->writes++;
		} else if (r < 85) {
			rwsem_write_lock(&xsem);
			v = write_section();
			/* Become a reader while still alone, so the counts
			 * never show the downgrader as both. */
			atomic_fetch_add(&readers_inside, 1);
			write_leave();
			rwsem_downgrade(&xsem);
			section_work();
			/* Our writes are still there: no writer got in. */
			if (pair_a != v || pair_b != v)
				violation();
			if (atomic_load(&writers_inside) != 0)
				violation();
			atomic_fetch_sub(&readers_inside, 1);
			read_section();
			if (pair_a != v)
				violation();
			rwsem_read_unlock(&xsem);
			t->writes++;
			t->downgrades++;
		} else if (r < 93) {
			if (rwsem_read_trylock(&xsem)) {
				read_section();
				rwsem_read_unlock(&xsem);
				t->tries_ok++;
			} else {
				t->tries_failed++;
			}
		} else {
			if (rwsem_write_trylock(&xsem)) {
				write_section();
				write_leave();
				rwsem_write_unlock(&xsem);
				t->writes++;
				t->tries_ok++;
			} else {
				t->tries_failed++;
			}
		}
	}
	return NULL;
}

static void test_exclusion(uint64_t seed, unsigned nthreads, uint64_t ops)
{
	struct xthread *t = calloc(nthreads, sizeof(*t));
	uint64_t writes = 0, reads = 0, downgrades = 0, ok = 0, failed = 0;
	int64_t start = now_ns();

	CHECK(t != NULL);
	rwsem_init(&xsem);
	for (unsigned i = 0; i < nthreads; i++) {
		t[i].seed = rng_derive(seed, 100 + i);
		t[i].ops = ops;
		CHECK(pthread_create(&t[i].thread, NULL, run_exclusion,
				     &t[i]) == 0);
	}
	for (unsigned i = 0; i < nthreads; i++) {
		CHECK(pthread_join(t[i].thread, NULL) == 0);
		writes += t[i].writes;
		reads += t[i].reads;
		downgrades += t[i].downgrades;
		ok += t[i].tries_ok;
		failed += t[i].tries_failed;
	}
	printf("exclusion: %u threads x %" PRIu64 " ops in %.2f s: %" PRIu64
	       " reads, %" PRIu64 " writes (%" PRIu64
	       " downgraded), trylocks %" PRIu64 " ok %" PRIu64 " failed\n",
	       nthreads, ops, (double)(now_ns() - start) / 1e9, reads, writes,
	       downgrades, ok, failed);
	CHECK_EQ_U64(atomic_load(&violations), 0);
	CHECK_EQ_U64(pair_a, writes);
	CHECK_EQ_U64(pair_b, writes);
	check_free(&xsem);
	free(t);
}

/* ---- 3. and 4. starvation ---------------------------------------------- */

static struct rwsem ssem;
static atomic_bool stop;
/* Stream threads in the lock (readers) or in and queued (writers). */
static _Atomic int inside;
static _Atomic int64_t waited_ns;
static atomic_bool waiter_in;

/*
 * A reader of the stream: holds the lock until another reader has joined
 * (or a while has passed, at most 200 us), then a little longer, so that
 * the sections overlap and the lock is never free of readers.
 */
static void *stream_reader(void *arg)
{
	rng_seed(*(uint64_t *)arg);
	while (!atomic_load(&stop)) {
		int64_t until;

		rwsem_read_lock(&ssem);
		atomic_fetch_add(&inside, 1);
		until = now_ns() + 200000;
		while (atomic_load(&inside) < 2 && now_ns() < until)
			sched_yield();
		spin_ns((int64_t)rng_below(20000));
		atomic_fetch_sub(&inside, 1);
		rwsem_read_unlock(&ssem);
	}
	return NULL;
}

/*
 * A writer of the stream: holds the lock until another writer is queued
 * (or at most 200 us), then a little longer, so that the lock goes from
 * writer to writer and is never free.
 */
static void *stream_writer(void *arg)
{
	rng_seed(*(uint64_t *)arg);
	while (!atomic_load(&stop)) {
		int64_t until;

		atomic_fetch_add(&inside, 1);
		rwsem_write_lock(&ssem);
		until = now_ns() + 200000;
		while (atomic_load(&inside) < 2 && now_ns() < until)
			sched_yield();
		spin_ns((int64_t)rng_below(20000));
		atomic_fetch_sub(&inside, 1);
		rwsem_write_unlock(&ssem);
	}
	return NULL;
}

static void *late_writer(void *arg)
{
	int64_t t0 = now_ns();

	(void)arg;
	rwsem_write_lock(&ssem);
	atomic_store(&waited_ns, now_ns() - t0);
	atomic_store(&waiter_in, true);
	atomic_store(&stop, true);
	rwsem_write_unlock(&ssem);
	return NULL;
}

static void *late_reader(void *arg)
{
	int64_t t0;

	(void)arg;
	/* Arrive while one writer holds it and another is queued. */
	while (writers_queued(&ssem) < 2)
		sched_yield();
	t0 = now_ns();
	rwsem_read_lock(&ssem);
	atomic_store(&waited_ns, now_ns() - t0);
	atomic_store(&waiter_in, true);
	atomic_store(&stop, true);
	rwsem_read_unlock(&ssem);
	return NULL;
}

/*
 * nstream threads run stream_fn; after a warm-up, late_fn tries to get in
 * and must within STARVE_LIMIT_NS. While warming up, count how often a
 * probe finds the stream not holding the lock: for readers, a
 * write_trylock that succeeds; for writers, no writer holding or queued
 * (between two writers the lock is briefly free while the next one wakes
 * up, and a reader may slip in then, but a lock that preferred queued
 * writers would still starve it).
 */
static void starvation(const char *name, void *(*stream_fn)(void *),
		       void *(*late_fn)(void *), uint64_t seed)
{
	enum { NSTREAM = 3 };
	pthread_t th[NSTREAM], late;
	uint64_t seeds[NSTREAM];
	unsigned probes = 0, free_seen = 0;
	int64_t warm_end;

	rwsem_init(&ssem);
	atomic_store(&stop, false);
	atomic_store(&waiter_in, false);
	atomic_store(&inside, 0);
	for (int i = 0; i < NSTREAM; i++) {
		seeds[i] = rng_derive(seed, 200 + i);
		CHECK(pthread_create(&th[i], NULL, stream_fn, &seeds[i]) == 0);
	}
	/* Warm up for about 100 ms, probing. A write_trylock that succeeds
	 * holds the lock for no time; that perturbs the stream only a
	 * little. */
	warm_end = now_ns() + 100000000;
	while (now_ns() < warm_end) {
		probes++;
		if (stream_fn == stream_reader) {
			if (rwsem_write_trylock(&ssem)) {
				free_seen++;
				rwsem_write_unlock(&ssem);
			}
		} else if (writers_queued(&ssem) == 0) {
			free_seen++;
		}
		sleep_ns(100000);
	}
	CHECK(pthread_create(&late, NULL, late_fn, NULL) == 0);
	/* Starved means not in within the limit: fail rather than hang. */
	CHECK(WAIT_FOR(atomic_load(&waiter_in)));
	CHECK(pthread_join(late, NULL) == 0);
	for (int i = 0; i < NSTREAM; i++)
		CHECK(pthread_join(th[i], NULL) == 0);
	printf("%s: got in after %.3f ms (limit %.0f s); the lock was free of "
	       "the stream at %u of %u probes\n",
	       name, (double)atomic_load(&waited_ns) / 1e6,
	       (double)STARVE_LIMIT_NS / 1e9, free_seen, probes);
	CHECK(atomic_load(&waited_ns) < STARVE_LIMIT_NS);
	check_free(&ssem);
}

/* ---- 5. downgrade lets waiting readers in ------------------------------ */

enum { DG_READERS = 3 };

static struct rwsem dsem;
static _Atomic int dg_readers_in, dg_readers_done;
static atomic_bool dg_release, dg_writer_in;
static _Atomic int dg_readers_seen_by_writer = -1;

static void *dg_reader(void *arg)
{
	(void)arg;
	rwsem_read_lock(&dsem);
	atomic_fetch_add(&dg_readers_in, 1);
	while (!atomic_load(&dg_release))
		sleep_ns(100000);
	atomic_fetch_sub(&dg_readers_in, 1);
	atomic_fetch_add(&dg_readers_done, 1);
	rwsem_read_unlock(&dsem);
	return NULL;
}

static void *dg_writer(void *arg)
{
	(void)arg;
	rwsem_write_lock(&dsem);
	atomic_store(&dg_readers_seen_by_writer, atomic_load(&dg_readers_in));
	atomic_store(&dg_writer_in, true);
	rwsem_write_unlock(&dsem);
	return NULL;
}

static void test_downgrade(void)
{
	pthread_t readers[DG_READERS], writer;

	rwsem_init(&dsem);
	rwsem_write_lock(&dsem);

	/* Readers arrive and wait behind us. */
	for (int i = 0; i < DG_READERS; i++)
		CHECK(pthread_create(&readers[i], NULL, dg_reader, NULL) == 0);
	CHECK(WAIT_FOR(arrived(&dsem) == DG_READERS));
	/* A second writer queues behind us. */
	CHECK(pthread_create(&writer, NULL, dg_writer, NULL) == 0);
	CHECK(WAIT_FOR(writers_queued(&dsem) == 2));
	sleep_ns(10000000);
	CHECK_EQ_U64(atomic_load(&dg_readers_in), 0);
	CHECK(!atomic_load(&dg_writer_in));

	/* Downgrade: the waiting readers get in beside us. */
	rwsem_downgrade(&dsem);
	CHECK(!rwsem_is_write_locked(&dsem));
	CHECK(WAIT_FOR(atomic_load(&dg_readers_in) == DG_READERS));

	/* The second writer now has the turn and waits for all of us; a
	 * reader arriving now must wait for it. */
	CHECK(WAIT_FOR(atomic_load(&dsem.read_in) & RW_PRESENT));
	CHECK(!rwsem_read_trylock(&dsem));
	CHECK(!rwsem_write_trylock(&dsem));
	sleep_ns(10000000);
	CHECK(!atomic_load(&dg_writer_in));

	/* The other readers leave; we still hold it: the writer waits. */
	atomic_store(&dg_release, true);
	CHECK(WAIT_FOR(atomic_load(&dg_readers_done) == DG_READERS));
	sleep_ns(10000000);
	CHECK(!atomic_load(&dg_writer_in));
	CHECK(rwsem_is_locked(&dsem));

	/* We leave: now it gets in, and found no reader inside. */
	rwsem_read_unlock(&dsem);
	CHECK(WAIT_FOR(atomic_load(&dg_writer_in)));
	CHECK_EQ_U64(atomic_load(&dg_readers_seen_by_writer), 0);
	CHECK(pthread_join(writer, NULL) == 0);
	for (int i = 0; i < DG_READERS; i++)
		CHECK(pthread_join(readers[i], NULL) == 0);
	check_free(&dsem);
	printf("downgrade: passed\n");
}

/* A lost wake-up or a deadlock shows as a hang: turn it into a failure. */
static void watchdog(int sig)
{
	static const char msg[] = "test_rwsem: timed out: a thread is stuck "
				  "(lost wake-up or deadlock); rerun with "
				  "the seed printed above\n";
	ssize_t r = write(STDERR_FILENO, msg, sizeof(msg) - 1);

	(void)sig;
	(void)r;
	abort();
}

/* --ops and --threads, read by main before the cases run. */
static uint64_t arg_ops;
static unsigned arg_threads;

static void case_exclusion(void)
{
	test_exclusion(*test_seed_slot(), arg_threads, arg_ops);
}

static void case_writer_starvation(void)
{
	starvation("writer starvation", stream_reader, late_writer,
		   *test_seed_slot());
}

static void case_reader_starvation(void)
{
	starvation("reader starvation", stream_writer, late_reader,
		   *test_seed_slot());
}

static const struct test_case case_table[] = {
	{ "single", test_single },
	{ "exclusion", case_exclusion },
	{ "writer_starvation", case_writer_starvation },
	{ "reader_starvation", case_reader_starvation },
	{ "downgrade", test_downgrade },
};

int main(int argc, char **argv)
{
	arg_ops = arg_u64(argc, argv, "--ops", test_scaled(100000, 2000));
	arg_threads = (unsigned)arg_u64(argc, argv, "--threads", 4);
	CHECK(arg_threads > 0);
	/* A few seconds normally; this leaves ample room, and stays under
	 * CTest's timeout for the default amount of work. */
	signal(SIGALRM, watchdog);
	alarm(120 + (unsigned)(arg_ops / 1000));
	return test_run_cases(argc, argv, case_table,
			      sizeof(case_table) / sizeof(case_table[0]));
}
