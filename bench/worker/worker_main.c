/*
 * worker_main.c - the worker processes (worker.h): the scenario's timed
 * phases, run with the threads of either side, and their results.
 *
 * Built once per library design (uvma-bench-refcount, -rwsem, -global);
 * UVMA_DESIGN (src/design.h) says which, and a worker refuses to measure a
 * design other than its own, except kernel, which any worker can run.
 */
#define _GNU_SOURCE /* sched_setaffinity, CPU_SET */
#include "worker.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "design.h"

#define LAT_CAP (1u << 20) /* latency samples per thread and phase */

struct mapper {
	pthread_t tid;
	struct wk_phase *ph;
	uint64_t ops, errors, ns;
};

/*
 * Thread i of a measurement always on CPU i % (CPUs online), fault threads
 * first, then the churn mapper: with as many threads as CPUs each has one
 * of its own, and the result does not depend on where the scheduler
 * happened to put them. Best effort. Then every thread starts at once,
 * when all are ready.
 */
static void pin_and_wait(struct wk_phase *ph, unsigned index)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET((int)(index % (unsigned)(n > 0 ? n : 1)), &set);
	(void)sched_setaffinity(0, sizeof(set), &set);
	atomic_fetch_add_explicit(&ph->ready, 1, memory_order_relaxed);
	while (!atomic_load_explicit(&ph->go, memory_order_acquire))
		sched_yield();
}

static void *fault_main(void *arg)
{
	struct wk_thread *t = arg;
	uint64_t t0;

	pin_and_wait(t->ph, t->index);
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

	pin_and_wait(ph, ph->nthreads);
	t0 = bench_now_ns();
	for (unsigned s = 0; !wk_stopped(ph); s = (s + 1) % WK_CHURN_SLOTS) {
		m->errors += ph->side->churn(ph->space, s);
		m->ops += 3;
	}
	m->ns = bench_now_ns() - t0;
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* The rates, the errors, and p50 and p99 over every thread's samples. */
static void gather(const struct wk_thread *ts, unsigned n,
		   const struct mapper *m, struct wk_result *r)
{
	size_t total = 0;
	uint32_t *all;

	r->v[BM_FAULTS] = 0;
	for (unsigned i = 0; i < n; i++) {
		r->v[BM_FAULTS] +=
			(double)ts[i].faults / (double)ts[i].ns * 1e9;
		r->v[BM_ERRORS] += (double)ts[i].errors;
		total += ts[i].lat.n;
	}
	if (m) {
		r->v[BM_OPS] = (double)m->ops / (double)m->ns * 1e9;
		r->v[BM_ERRORS] += (double)m->errors;
	}
	if (!total || !(all = malloc(total * sizeof(*all))))
		return;
	for (unsigned i = 0, at = 0; i < n; at += ts[i++].lat.n)
		memcpy(all + at, ts[i].lat.ns, ts[i].lat.n * sizeof(*all));
	qsort(all, total, sizeof(*all), cmp_u32);
	r->v[BM_P50] = all[total / 2];
	r->v[BM_P99] = all[(size_t)((double)(total - 1) * 0.99)];
	free(all);
}

/* Starts the threads, all at once when ready, and stops them on time:
 * 0, or -EAGAIN after saying so, with *n and *m_on telling which ran. */
static int run_threads(struct wk_phase *ph, struct wk_thread *ts,
		       struct mapper *m, double seconds, unsigned *n,
		       bool *m_on)
{
	struct timespec sleep = { .tv_sec = (time_t)seconds };

	sleep.tv_nsec = (long)((seconds - (double)sleep.tv_sec) * 1e9);
	for (*n = 0; *n < ph->nthreads; ++*n)
		if (pthread_create(&ts[*n].tid, NULL, fault_main, &ts[*n]))
			break;
	*m_on = *n == ph->nthreads && m &&
		!pthread_create(&m->tid, NULL, mapper_main, m);
	if (*n < ph->nthreads || (m && !*m_on)) {
		fputs("worker: cannot start a thread\n", stderr);
		return -EAGAIN;
	}
	while (atomic_load_explicit(&ph->ready, memory_order_relaxed) <
	       *n + *m_on)
		sched_yield();
	atomic_store_explicit(&ph->go, true, memory_order_release);
	while (nanosleep(&sleep, &sleep) && errno == EINTR)
		;
	return 0;
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
	unsigned n = 0, i;
	bool m_on = false;
	int err = ts ? 0 : -ENOMEM;

	for (i = 0; i < p->threads && !err; i++) {
		ts[i] = (struct wk_thread){ .ph = &ph, .index = i };
		ts[i].rng = p->seed * 1000003u + i;
		ts[i].lat.cap = LAT_CAP;
		ts[i].lat.ns = malloc(LAT_CAP * sizeof(*ts[i].lat.ns));
		err = ts[i].lat.ns ? 0 : -ENOMEM;
		if (!err && side->thread_init)
			err = side->thread_init(&ts[i]);
	}
	if (err)
		fputs("worker: cannot set up the threads\n", stderr);
	if (!err)
		err = run_threads(&ph, ts, churn ? &m : NULL, seconds, &n,
				  &m_on);
	atomic_store(&ph.stop, true);
	atomic_store(&ph.go, true);
	while (n)
		pthread_join(ts[--n].tid, NULL);
	if (m_on)
		pthread_join(m.tid, NULL);
	if (!err)
		gather(ts, p->threads, churn ? &m : NULL, r);
	while (ts && i--) {
		if (side->thread_free)
			side->thread_free(&ts[i]);
		free(ts[i].lat.ns);
	}
	free(ts);
	return err;
}

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

/* scale: the map grown size after size; at each, mmap+munmap pairs at
 * random holes for half the phase (the clock read once per 64 pairs), then
 * faults on random areas. */
static int run_scale(const struct wk_side *side, const struct bench_opts *p,
		     struct wk_result *res, size_t *nres)
{
	struct bench_opts half = *p;
	void *space = NULL;
	uint64_t rng = p->seed, t0, now, done;
	int err = 0;

	half.seconds = p->seconds / 2;
	for (size_t i = 0; !err && i < p->nsizes; i++) {
		struct wk_result *r = &res[i];

		wk_result_init(r, p->sizes[i]);
		err = side->grow(p, &space, r->areas);
		if (err > 0) /* no room: nothing measured at all fails */
			err = i ? 0 : -1;
		if (err)
			break;
		t0 = now = bench_now_ns();
		for (done = 0; (double)(now - t0) < half.seconds * 1e9;
		     done += 64) {
			for (int k = 0; k < 64; k++)
				r->v[BM_ERRORS] += side->pair(
					space,
					bench_rand_below(&rng, r->areas));
			now = bench_now_ns();
		}
		r->v[BM_OPS] = (double)done / (double)(now - t0) * 1e9;
		half.seed = bench_rand(&rng);
		err = phase(side, space, &half, half.seconds, false, r);
		if (!err && side->counters)
			side->counters(space, r->v);
		*nres = i + (err ? 0 : 1);
	}
	side->destroy(space);
	return err;
}

int main(int argc, char **argv)
{
	static const char *const scenarios = " fault churn hot scale memory ";
	struct wk_result res[BENCH_MAX_SIZES];
	uint64_t sizes[BENCH_MAX_SIZES];
	const struct wk_side *side;
	struct bench_opts p;
	char word[32];
	size_t nres = 1;
	int err = bench_parse_opts(argc, argv, &p, sizes);

	snprintf(word, sizeof(word), " %s ", p.scenario);
	for (size_t i = 1; !err && i < p.nsizes; i++)
		err = p.sizes[i] <= p.sizes[i - 1];
	if (err || !strstr(scenarios, word) || !p.designs || !p.threads ||
	    !p.nsizes ||
	    (strcmp(p.designs, UVMA_DESIGN_NAME) &&
	     strcmp(p.designs, "kernel"))) {
		fputs("usage: uvma-bench-" UVMA_DESIGN_NAME
		      " --scenario=S --design=" UVMA_DESIGN_NAME
		      "|kernel --threads=N --areas=N[,N...] (ascending) "
		      "--seconds=S --seed=N: run by `uvma bench`\n",
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
	/* The results as they are: the driver is built from these sources. */
	if (fwrite(res, sizeof(*res), nres, stdout) != nres || fflush(stdout))
		err = -EIO;
	return err ? 1 : 0;
}
