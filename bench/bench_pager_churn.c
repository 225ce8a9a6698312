/*
 * bench_pager_churn.c - the churn workload of the pager scenario
 * (bench_pager.h): one fault thread stores to fresh pages of 64 areas of
 * 1 MiB, a page at a time, each store timed on its own (one store on a
 * missing page is one fault), and discards an area (unmap, map again)
 * once it has touched all of it, so that faults go on; first alone, then
 * beside a mapper thread that, in 8 slots of its own, maps an area,
 * touches all of it, mprotects half of the previous one and back (a split
 * and a merge) and unmaps that one: a zap of 256 pages. The same space
 * serves both phases of a run, so the growth of the p99 is the mapper's
 * doing. Anonymous memory with uvma's default fault-around (one page), so
 * that every store the fault thread times is a fault.
 */
#define _GNU_SOURCE
#include "bench_pager.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define CH_AREAS 64
#define CH_SLOTS 8
#define CH_AREA	 (1u << 20)
#define CH_PAGES (CH_AREA / PB_PAGE)
/* A page of hole after every area, so that no two merge: each is a VMA
 * of its own in every design. */
#define CH_STEP	   (CH_AREA + PB_PAGE)
#define CH_SIZE	   (UINT64_C(128) << 20)
#define CH_LAT_CAP (4u << 20) /* timed faults a phase (16 MiB) */

struct churn {
	const struct pb_side *s;
	void *space;
	uint64_t base;
	pthread_barrier_t start; /* the phase's threads and the timer */
	_Atomic bool stop;
	unsigned area; /* the fault thread's next area */
	/* the fault thread's phase */
	uint32_t *lat;
	size_t nlat;
	uint64_t faults, fault_ns;
	/* the mapper's phase */
	uint64_t cycles, mapper_ns;
	_Atomic int err; /* the first failure of either thread */
};

static uint64_t area_at(const struct churn *c, unsigned i)
{
	return c->base + (uint64_t)i * CH_STEP;
}

static bool stopped(struct churn *c)
{
	return atomic_load_explicit(&c->stop, memory_order_relaxed);
}

static void failed(struct churn *c, int err)
{
	int none = 0;

	if (err)
		atomic_compare_exchange_strong(&c->err, &none, err);
}

static int failure(struct churn *c)
{
	return atomic_load_explicit(&c->err, memory_order_relaxed);
}

/* A fresh area: its pages discarded, as the fault thread's side sees it
 * (the mapping goes and comes back). */
static int recycle(struct churn *c, uint64_t a)
{
	int err = c->s->unmap(c->space, a, CH_AREA);

	return err ? err
		   : c->s->map(c->space, a, CH_AREA, PROT_READ | PROT_WRITE,
			       false);
}

static void *fault_main(void *arg)
{
	struct churn *c = arg;
	uint64_t t0, away = 0;

	pb_pin(0);
	pthread_barrier_wait(&c->start);
	t0 = bench_now_ns();
	while (!stopped(c) && !failure(c)) {
		uint64_t a = area_at(c, c->area), r0;

		for (uint64_t p = 0; p < CH_PAGES; p++) {
			uint64_t s = bench_now_ns(), e;

			*(volatile uint64_t *)(uintptr_t)(a + p * PB_PAGE) = p;
			e = bench_now_ns();
			if (c->nlat < CH_LAT_CAP)
				c->lat[c->nlat++] = e - s > UINT32_MAX
							    ? UINT32_MAX
							    : (uint32_t)(e - s);
		}
		c->faults += CH_PAGES;
		/* faults/s counts the faulting, not the discarding */
		r0 = bench_now_ns();
		failed(c, recycle(c, a));
		away += bench_now_ns() - r0;
		c->area = (c->area + 1) % CH_AREAS;
	}
	c->fault_ns = bench_now_ns() - t0 - away;
	return NULL;
}

/* One cycle of the mapper in slot i; the previous slot split, merged
 * and unmapped once this one is full. */
static int mapper_cycle(struct churn *c, uint64_t i)
{
	uint64_t a = area_at(c, CH_AREAS + (unsigned)(i % CH_SLOTS));
	uint64_t prev = area_at(c, CH_AREAS + (unsigned)((i - 1) % CH_SLOTS));
	int err =
		c->s->map(c->space, a, CH_AREA, PROT_READ | PROT_WRITE, false);

	for (uint64_t p = 0; !err && p < CH_PAGES; p++)
		*(volatile uint64_t *)(uintptr_t)(a + p * PB_PAGE) = p;
	if (!err && i > 0)
		err = c->s->protect(c->space, prev, CH_AREA / 2, PROT_READ);
	if (!err && i > 0)
		err = c->s->protect(c->space, prev, CH_AREA / 2,
				    PROT_READ | PROT_WRITE);
	if (!err && i > 0)
		err = c->s->unmap(c->space, prev, CH_AREA);
	return err;
}

static void *mapper_main(void *arg)
{
	struct churn *c = arg;
	uint64_t t0, i = 0;
	int err = 0;

	pb_pin(1);
	pthread_barrier_wait(&c->start);
	t0 = bench_now_ns();
	for (; !stopped(c) && !err; i++)
		err = mapper_cycle(c, i);
	c->mapper_ns = bench_now_ns() - t0;
	c->cycles = i;
	/* the last slot filled, so that the next phase starts empty */
	if (!err && i > 0)
		err = c->s->unmap(
			c->space,
			area_at(c, CH_AREAS + (unsigned)((i - 1) % CH_SLOTS)),
			CH_AREA);
	failed(c, err);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Percentile q of the phase's latencies, sorted. */
static double percentile(const struct churn *c, double q)
{
	if (!c->nlat)
		return -1;
	return (double)c->lat[(size_t)(q * (double)(c->nlat - 1) + 0.5)];
}

/* One phase of seconds, with the mapper or without; 0 or an error. */
static int phase(struct churn *c, double seconds, bool mapper)
{
	pthread_t ft, mt;
	struct timespec ts = { (time_t)seconds,
			       (long)((seconds - (double)(time_t)seconds) *
				      1e9) };

	c->nlat = 0;
	c->faults = c->cycles = 0;
	atomic_store(&c->stop, false);
	pthread_barrier_init(&c->start, NULL, mapper ? 3 : 2);
	if (pthread_create(&ft, NULL, fault_main, c) ||
	    (mapper && pthread_create(&mt, NULL, mapper_main, c))) {
		fprintf(stderr, "bench: pager: cannot start threads\n");
		exit(1); /* one thread waits at the barrier for ever */
	}
	pthread_barrier_wait(&c->start);
	nanosleep(&ts, NULL);
	atomic_store(&c->stop, true);
	pthread_join(ft, NULL);
	if (mapper)
		pthread_join(mt, NULL);
	pthread_barrier_destroy(&c->start);
	qsort(c->lat, c->nlat, sizeof(*c->lat), cmp_u32);
	return failure(c);
}

/* One run of side d: the space, its fault areas, the two phases; the
 * results filed into row. 0 or -1 after saying what failed. */
static int run_one(const struct bench_opts *o, struct bench_row *row,
		   uint64_t base, int d, uint32_t *lat)
{
	struct churn c = { .s = &pb_sides[d], .base = base, .lat = lat };
	struct pb_cfg cfg = { .base = base, .size = CH_SIZE, .fd = -1 };
	double v[BM_N];
	int err = c.s->open(&cfg, &c.space);

	for (unsigned i = 0; !err && i < CH_AREAS; i++)
		err = c.s->map(c.space, area_at(&c, i), CH_AREA,
			       PROT_READ | PROT_WRITE, false);
	for (int m = 0; m < BM_N; m++)
		v[m] = -1;
	if (!err && !(err = phase(&c, o->seconds, false))) {
		v[BM_BASE] = (double)c.faults * 1e9 / (double)c.fault_ns;
		v[BM_BASE_P99] = percentile(&c, 0.99);
		err = phase(&c, o->seconds, true);
	}
	if (c.space)
		c.s->close(c.space);
	if (err) {
		fprintf(stderr, "bench: pager: churn %s: %s\n", c.s->name,
			strerror(-err));
		return -1;
	}
	v[BM_FAULTS] = (double)c.faults * 1e9 / (double)c.fault_ns;
	v[BM_OPS] = (double)c.cycles * 1e9 / (double)c.mapper_ns;
	v[BM_P50] = percentile(&c, 0.5);
	v[BM_P99] = percentile(&c, 0.99);
	v[BM_FLOOR] = v[BM_BASE_P99];
	bench_run(row, v);
	return 0;
}

int pb_churn(const struct bench_opts *o, struct bench_report *rep,
	     const bool *on)
{
	struct bench_row *rows[PB_NSIDES] = { NULL };
	uint32_t *lat = malloc(CH_LAT_CAP * sizeof(*lat));
	int failed = 0;

	if (!lat)
		return -1;
	for (int d = 0; d < PB_NSIDES; d++) {
		if (!on[d])
			continue;
		rows[d] = bench_row(rep, "churn", pb_sides[d].name, 1,
				    (uint64_t)CH_AREAS * CH_PAGES);
		if (!rows[d]) {
			free(lat);
			return -1;
		}
		/* the headline: p99, against the same run without the
		 * mapper */
		rows[d]->head = BM_P99;
	}
	for (unsigned k = 0; k < o->repeat; k++) {
		for (int d = 0; d < PB_NSIDES; d++)
			if (on[d])
				failed |= run_one(o, rows[d],
						  PB_BASE + (uint64_t)d *
								    PB_STRIDE,
						  d, lat);
		bench_progress("pager: churn, run %u/%u done", k + 1,
			       o->repeat);
	}
	free(lat);
	bench_note(rep,
		   "churn: one fault thread on 64 areas of 1 MiB (a fresh "
		   "page each store, every\n"
		   "       store timed; an area unmapped and mapped again once "
		   "full, not counted in\n"
		   "       faults/s), %gs alone, then %gs beside a mapper "
		   "(map 1 MiB, fill it,\n"
		   "       mprotect half of the previous one and back, unmap "
		   "it: mapper/s cycles).",
		   o->seconds, o->seconds);
	return failed;
}
