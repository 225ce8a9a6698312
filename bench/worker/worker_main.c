/*
 * worker_main.c - the worker processes (worker.h): parses the flags the
 * driver passes, runs the scenario's timed phases with the threads of
 * either side, prints the results.
 *
 * Built once per library design (uvma-bench-refcount, -rwsem, -global);
 * UVMA_DESIGN (src/design.h) says which, and a worker refuses to measure a
 * design other than its own, except kernel, which any worker can run.
 */
#define _GNU_SOURCE /* sched_setaffinity, CPU_SET */
#include "worker.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "design.h"

#define LAT_CAP (1u << 20) /* latency samples per thread and phase */

/*
 * Thread i of a measurement always on CPU i % (CPUs online), fault threads
 * first, then the churn mapper: with as many threads as CPUs each has one
 * of its own, and the result does not depend on where the scheduler
 * happened to put them. Best effort: a refused affinity leaves the thread
 * where it is.
 */
static void pin(unsigned index)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;

	if (n <= 0)
		return;
	CPU_ZERO(&set);
	CPU_SET((int)(index % (unsigned)n), &set);
	(void)sched_setaffinity(0, sizeof(set), &set);
}

/* ---- latency ------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* p50 and p99 over every sample of the threads; -1 when none. */
static void percentiles(const struct wk_thread *ts, unsigned n, double *v)
{
	size_t total = 0, at = 0;
	uint32_t *all;

	for (unsigned i = 0; i < n; i++)
		total += ts[i].lat.n;
	all = total ? malloc(total * sizeof(*all)) : NULL;
	if (!all)
		return;
	for (unsigned i = 0; i < n; i++) {
		memcpy(all + at, ts[i].lat.ns, ts[i].lat.n * sizeof(*all));
		at += ts[i].lat.n;
	}
	qsort(all, total, sizeof(*all), cmp_u32);
	v[BM_P50] = all[total / 2];
	v[BM_P99] = all[(size_t)((double)(total - 1) * 0.99)];
	free(all);
}

/* ---- the threads of a timed phase ---------------------------------------- */

struct mapper {
	pthread_t tid;
	struct wk_phase *ph;
	uint64_t ops, errors, ns;
};

/* Every thread starts at once, when all are ready. */
static void gate(struct wk_phase *ph)
{
	atomic_fetch_add_explicit(&ph->ready, 1, memory_order_relaxed);
	while (!atomic_load_explicit(&ph->go, memory_order_acquire))
		sched_yield();
}

static void *fault_main(void *arg)
{
	struct wk_thread *t = arg;
	uint64_t t0;

	pin(t->index);
	gate(t->ph);
	t0 = bench_now_ns();
	t->ph->side->faults(t);
	if (!t->ns)
		t->ns = bench_now_ns() - t0;
	return NULL;
}

/* Three map changes a cycle, slot after slot. */
static void *mapper_main(void *arg)
{
	struct mapper *m = arg;
	struct wk_phase *ph = m->ph;
	uint64_t t0;

	pin(ph->nthreads);
	gate(ph);
	t0 = bench_now_ns();
	for (unsigned s = 0; !wk_stopped(ph); s = (s + 1) % WK_CHURN_SLOTS) {
		m->errors += ph->side->churn(ph->space, s);
		m->ops += 3;
	}
	m->ns = bench_now_ns() - t0;
	return NULL;
}

/* The main thread's part: start them all at once, stop them on time. */
static void time_phase(struct wk_phase *ph, unsigned nthreads, double seconds)
{
	struct timespec ts = { .tv_sec = (time_t)seconds };

	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	while (atomic_load_explicit(&ph->ready, memory_order_relaxed) <
	       nthreads)
		sched_yield();
	atomic_store_explicit(&ph->go, true, memory_order_release);
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Starts the fault threads, then the mapper when m is not NULL: 0, or
 * -EAGAIN after saying so, with *n and *m_on telling which run. */
static int start(struct wk_phase *ph, struct wk_thread *ts, struct mapper *m,
		 unsigned *n, bool *m_on)
{
	for (*n = 0; *n < ph->nthreads; ++*n)
		if (pthread_create(&ts[*n].tid, NULL, fault_main, &ts[*n]))
			break;
	*m_on = *n == ph->nthreads && m &&
		!pthread_create(&m->tid, NULL, mapper_main, m);
	if (*n == ph->nthreads && (!m || *m_on))
		return 0;
	fputs("worker: cannot start a thread\n", stderr);
	return -EAGAIN;
}

static void gather(const struct wk_thread *ts, unsigned n,
		   const struct mapper *m, struct wk_result *r)
{
	r->v[BM_FAULTS] = 0;
	for (unsigned i = 0; i < n; i++) {
		if (ts[i].ns)
			r->v[BM_FAULTS] +=
				(double)ts[i].faults / ((double)ts[i].ns / 1e9);
		r->v[BM_ERRORS] += (double)ts[i].errors;
	}
	percentiles(ts, n, r->v);
	if (m && m->ns) {
		r->v[BM_OPS] = (double)m->ops / ((double)m->ns / 1e9);
		r->v[BM_ERRORS] += (double)m->errors;
	}
}

/* One timed phase of the fault threads, with the churn mapper or without,
 * into r. */
static int phase(const struct wk_side *side, void *space,
		 const struct bench_opts *p, double seconds, bool churn,
		 struct wk_result *r)
{
	struct wk_phase ph = { .side = side,
			       .space = space,
			       .nthreads = p->threads };
	struct wk_thread *ts = aligned_alloc(64, p->threads * sizeof(*ts));
	struct mapper m = { .ph = &ph };
	unsigned n = 0;
	bool m_on = false;
	int err = ts ? 0 : -ENOMEM;

	if (ts)
		memset(ts, 0, p->threads * sizeof(*ts));
	for (unsigned i = 0; i < p->threads && !err; i++) {
		ts[i] = (struct wk_thread){ .ph = &ph, .index = i };
		ts[i].rng = p->seed * 1000003u + i;
		ts[i].lat.cap = LAT_CAP;
		ts[i].lat.ns = malloc(LAT_CAP * sizeof(*ts[i].lat.ns));
		err = ts[i].lat.ns ? 0 : -ENOMEM;
		if (!err && side->thread_init)
			err = side->thread_init(&ts[i]);
	}
	if (!err)
		err = start(&ph, ts, churn ? &m : NULL, &n, &m_on);
	if (!err)
		time_phase(&ph, n + m_on, seconds);
	atomic_store(&ph.stop, true);
	atomic_store(&ph.go, true);
	for (unsigned i = 0; i < n; i++)
		pthread_join(ts[i].tid, NULL);
	if (m_on)
		pthread_join(m.tid, NULL);
	if (!err)
		gather(ts, n, churn ? &m : NULL, r);
	for (unsigned i = 0; ts && i < p->threads; i++) {
		if (side->thread_free)
			side->thread_free(&ts[i]);
		free(ts[i].lat.ns);
	}
	free(ts);
	return err;
}

/* ---- the scenarios ------------------------------------------------------- */

/* fault, churn and hot: one timed phase over a fresh space (churn: two,
 * without the mapper and with it). */
static int run_faults(const struct wk_side *side, const struct bench_opts *p,
		      struct wk_result *r)
{
	bool churn = !strcmp(p->scenario, "churn");
	void *space = NULL;
	int err;

	wk_result_init(r, p->sizes[0]);
	err = side->build(p, &space, &r->areas);
	if (!err && churn) {
		/* The reference, just before and in the same process: the
		 * ratio then measures the mapper, not the machine's drift. */
		err = phase(side, space, p, p->seconds, false, r);
		r->v[BM_BASE] = r->v[BM_FAULTS];
	}
	if (!err)
		err = phase(side, space, p, p->seconds, churn, r);
	if (!err && side->counters)
		side->counters(space, r->v);
	side->destroy(space);
	return err;
}

/* mmap + munmap pairs at random holes of the n areas. */
static void pairs(const struct wk_side *side, void *space, uint64_t n,
		  double seconds, uint64_t *rng, struct wk_result *r)
{
	uint64_t t0 = bench_now_ns(), now, done = 0;

	do {
		/* The clock is read once per 64 pairs, not per pair. */
		for (int i = 0; i < 64; i++)
			r->v[BM_ERRORS] +=
				side->pair(space, bench_rand_below(rng, n));
		done += 64;
		now = bench_now_ns();
	} while ((double)(now - t0) < seconds * 1e9);
	r->v[BM_OPS] = (double)done / ((double)(now - t0) / 1e9);
}

/* scale: the map grown size after size; at each, mmap+munmap pairs for
 * half the phase, then faults on random areas. */
static int run_scale(const struct wk_side *side, const struct bench_opts *p,
		     struct wk_result *res, size_t *nres)
{
	struct bench_opts half = *p;
	void *space = NULL;
	uint64_t rng = p->seed;
	int err = 0;

	half.seconds = p->seconds / 2;
	for (size_t i = 0; !err && i < p->nsizes; i++) {
		wk_result_init(&res[i], p->sizes[i]);
		err = side->grow(p, &space, p->sizes[i]);
		if (err > 0) {
			/* Not one size fitted: nothing measured fails. */
			err = i ? 0 : -1;
			break;
		}
		if (!err)
			pairs(side, space, p->sizes[i], half.seconds, &rng,
			      &res[i]);
		half.seed = bench_rand(&rng);
		if (!err)
			err = phase(side, space, &half, half.seconds, false,
				    &res[i]);
		if (!err && side->counters)
			side->counters(space, res[i].v);
		if (!err)
			*nres = i + 1;
	}
	side->destroy(space);
	return err;
}

/* ---- the command line ---------------------------------------------------- */

/* The flags are bench_parse_opts'; the driver passes every one. */
static bool usable(const struct bench_opts *p)
{
	static const char *const scenarios[] = { "fault", "churn", "hot",
						 "scale", "memory" };
	bool known = false;

	for (size_t i = 0; i < sizeof(scenarios) / sizeof(*scenarios); i++)
		known |= !strcmp(p->scenario, scenarios[i]);
	for (size_t i = 1; i < p->nsizes; i++)
		known &= p->sizes[i] > p->sizes[i - 1];
	return known && p->designs && p->threads && p->nsizes &&
	       (!strcmp(p->designs, UVMA_DESIGN_NAME) ||
		!strcmp(p->designs, "kernel"));
}

int main(int argc, char **argv)
{
	struct wk_result res[BENCH_MAX_SIZES];
	uint64_t sizes[BENCH_MAX_SIZES];
	const struct wk_side *side;
	struct bench_opts p;
	size_t nres = 1;
	int err;

	if (bench_parse_opts(argc, argv, &p, sizes) || !usable(&p)) {
		fputs("usage: uvma-bench-" UVMA_DESIGN_NAME
		      " --scenario fault|churn|hot|scale|memory "
		      "--design " UVMA_DESIGN_NAME
		      "|kernel --threads N --areas N[,N...] "
		      "(ascending) --seconds S --seed N (run by `uvma "
		      "bench`)\n",
		      stderr);
		return 2;
	}
	side = strcmp(p.designs, "kernel") ? &wk_uvma : &wk_kernel;
	if (!strcmp(p.scenario, "scale")) {
		nres = 0;
		err = run_scale(side, &p, res, &nres);
	} else if (!strcmp(p.scenario, "memory")) {
		err = side->memory(&p, res);
	} else {
		err = run_faults(side, &p, res);
	}
	for (size_t i = 0; i < nres; i++) {
		printf("result areas=%" PRIu64, res[i].areas);
		for (int m = 0; m < BM_NS; m++)
			printf(" %s=%.6g", bench_metric_keys[m], res[i].v[m]);
		putchar('\n');
	}
	fflush(stdout);
	return err ? 1 : 0;
}
