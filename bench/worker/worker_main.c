/*
 * worker_main.c - the workers (worker.h): the timed phases of a scenario,
 * with the threads of either side, and their results.
 */
#define _GNU_SOURCE /* sched_setaffinity, CPU_SET */
#include "worker.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "design.h"

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

/* The churn mapper: three map changes a cycle, slot after slot. */
static void *mapper_main(void *arg)
{
	struct wk_thread *m = arg;
	struct wk_phase *ph = m->ph;
	uint64_t t0;

	pin_and_wait(ph, m->index);
	t0 = bench_now_ns();
	for (unsigned s = 0; !wk_stopped(ph); s = (s + 1) % WK_CHURN_SLOTS) {
		m->errors += ph->side->churn(ph->space, s);
		m->faults += 3;
	}
	m->ns = bench_now_ns() - t0;
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* The rates of the n fault threads and of the mapper after them, the
 * errors, and p50 and p99 over every fault thread's samples. */
static void gather(const struct wk_thread *ts, unsigned n, bool mapper,
		   struct wk_result *r)
{
	size_t total = 0;
	uint32_t *all;

	r->v[BM_FAULTS] = 0;
	for (unsigned i = 0; i < n; i++) {
		r->v[BM_FAULTS] +=
			(double)ts[i].faults / (double)ts[i].ns * 1e9;
		r->v[BM_ERRORS] += (double)ts[i].errors;
		total += ts[i].nlat;
	}
	if (mapper) {
		r->v[BM_OPS] = (double)ts[n].faults / (double)ts[n].ns * 1e9;
		r->v[BM_ERRORS] += (double)ts[n].errors;
	}
	if (!total || !(all = malloc(total * sizeof(*all))))
		return;
	for (unsigned i = 0, at = 0; i < n; at += ts[i++].nlat)
		memcpy(all + at, ts[i].lat, ts[i].nlat * sizeof(*all));
	qsort(all, total, sizeof(*all), cmp_u32);
	r->v[BM_P50] = all[total / 2];
	r->v[BM_P99] = all[(size_t)((double)(total - 1) * 0.99)];
	free(all);
}

/* One timed phase of the fault threads, and the churn mapper after them
 * when churn, into r: all start at once when all are ready, and stop on
 * time. */
static int phase(const struct wk_side *side, void *space,
		 const struct bench_opts *p, double seconds, bool churn,
		 struct wk_result *r)
{
	struct wk_phase ph = { .side = side,
			       .space = space,
			       .nthreads = p->threads };
	unsigned nt = p->threads + churn, n = 0, i;
	struct wk_thread *ts = aligned_alloc(64, nt * sizeof(*ts));
	struct timespec sleep = { .tv_sec = (time_t)seconds };
	int err = ts ? 0 : -ENOMEM;

	sleep.tv_nsec = (long)((seconds - (double)sleep.tv_sec) * 1e9);
	for (i = 0; i < nt && !err; i++) {
		ts[i] = (struct wk_thread){ .ph = &ph, .index = i };
		ts[i].rng = p->seed * 1000003u + i;
		ts[i].lat = malloc(WK_LAT_CAP * sizeof(*ts[i].lat));
		err = ts[i].lat ? 0 : -ENOMEM;
		if (!err && i < p->threads && side->thread_init)
			err = side->thread_init(&ts[i]);
	}
	while (!err && n < nt &&
	       !pthread_create(&ts[n].tid, NULL,
			       n < p->threads ? fault_main : mapper_main,
			       &ts[n]))
		n++;
	if (err || n < nt) {
		fputs("worker: cannot set up the threads\n", stderr);
		err = -EAGAIN;
	}
	while (!err && atomic_load(&ph.ready) < nt)
		sched_yield();
	atomic_store_explicit(&ph.go, true, memory_order_release);
	while (!err && nanosleep(&sleep, &sleep) && errno == EINTR)
		;
	atomic_store(&ph.stop, true);
	while (n)
		pthread_join(ts[--n].tid, NULL);
	if (!err)
		gather(ts, p->threads, churn, r);
	while (ts && i--) {
		free(ts[i].own);
		free(ts[i].lat);
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
	err = side->map(p, &space, &r->areas);
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

	*nres = 0;
	half.seconds = p->seconds / 2;
	for (size_t i = 0; !err && i < p->nsizes; i++) {
		struct wk_result *r = &res[i];

		wk_result_init(r, p->sizes[i]);
		err = side->map(p, &space, &r->areas);
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
		*nres = i + !err;
	}
	side->destroy(space);
	return err;
}

/* The flags are `uvma bench`'s, every one given by the driver; a worker
 * refuses another library design than its own. */
int main(int argc, char **argv)
{
	struct wk_result res[BENCH_MAX_SIZES];
	uint64_t sizes[BENCH_MAX_SIZES];
	const struct wk_side *side = &wk_uvma;
	struct bench_opts p;
	size_t nres = 1;
	int err = bench_parse_opts(argc, argv, &p, sizes);

	if (!err && p.designs && !strcmp(p.designs, "kernel"))
		side = &wk_kernel;
	else if (err || !p.designs || strcmp(p.designs, UVMA_DESIGN_NAME))
		err = -1;
	for (size_t i = 1; i < p.nsizes; i++) /* scale grows the map */
		err |= p.sizes[i] <= p.sizes[i - 1];
	if (err || !p.threads || !p.nsizes) {
		fputs("uvma-bench-" UVMA_DESIGN_NAME ": run by uvma bench "
		      "(scale's areas ascending)\n",
		      stderr);
		return 2;
	}
	if (!strcmp(p.scenario, "scale"))
		err = run_scale(side, &p, res, &nres);
	else if (!strcmp(p.scenario, "memory"))
		err = side->memory(&p, res);
	else
		err = run_faults(side, &p, res);
	/* The results as they are: the driver is built from these sources. */
	if (fwrite(res, sizeof(*res), nres, stdout) != nres || fflush(stdout))
		err = -EIO;
	return err ? 1 : 0;
}
