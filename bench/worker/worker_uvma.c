/*
 * worker_uvma.c - the scenarios of the design comparison on uvma's address
 * space, in whichever design this worker was linked with (src/design.h).
 * The same code runs for refcount, rwsem and global: only the library
 * underneath differs.
 *
 * Layout of the space: fault areas of AREA_PAGES pages, each followed by a
 * one-page hole so that no two merge (one VMA per area), from FAULT_BASE;
 * the churn mapper's slots far above them, so the fault threads never touch
 * what the mapper changes. The fault handler does nothing: what is measured
 * is the lookup and the lock, which is what the designs change.
 */
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "rcu.h"
#include "uvma.h"
#include "vma.h"

#define PAGE	     4096ull
#define AREA_PAGES   16ull
#define AREA_STRIDE  ((AREA_PAGES + 1) * PAGE)
#define FAULT_BASE   (1ull << 32)
#define CHURN_BASE   (1ull << 44)
#define CHURN_SLOTS  64u
#define SLOT_PAGES   4ull
#define SLOT_STRIDE  ((SLOT_PAGES + 1) * PAGE)
#define SCALE_STRIDE (2 * PAGE) /* scale and memory: 1-page areas */
#define LAT_CAP	     (1u << 20)

/* What the fault threads of one timed phase share. */
struct phase {
	struct uvma_mm *mm;
	uint64_t base, stride, pages; /* areas: base + i * stride */
	uint64_t areas;
	_Atomic bool go, stop;
	_Atomic unsigned ready;
};

/* One fault thread's own state and results. */
struct faulter {
	pthread_t tid;
	struct phase *ph;
	unsigned index; /* for wk_pin */
	uint64_t seed;
	uint64_t faults, errors;
	double seconds;
	struct wk_lat lat;
};

static int nothing_to_do(const struct uvma_fault *f)
{
	(void)f;
	return 0;
}

static int mm_new(struct uvma_mm **mm)
{
	struct uvma_mm_config cfg;
	int err;

	uvma_mm_config_init(&cfg);
	cfg.fault = nothing_to_do;
	err = uvma_mm_create(&cfg, mm);
	if (err)
		fprintf(stderr, "uvma: mm_create: %s\n", uvma_strerror(err));
	return err;
}

static int map_at(struct uvma_mm *mm, uint64_t addr, uint64_t len,
		  unsigned prot)
{
	return uvma_mmap(mm, addr, len, prot,
			 UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS | UVMA_MAP_FIXED,
			 0, 0, NULL, NULL);
}

/* Areas [from, to) of a layout; 0 or the first error. */
static int map_areas(struct uvma_mm *mm, uint64_t base, uint64_t stride,
		     uint64_t pages, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to; i++) {
		int err = map_at(mm, base + i * stride, pages * PAGE,
				 UVMA_PROT_READ | UVMA_PROT_WRITE);

		if (err) {
			fprintf(stderr, "uvma: mmap of area %llu: %s\n",
				(unsigned long long)i, uvma_strerror(err));
			return err;
		}
	}
	return 0;
}

/* One fault at a random page of a random area; sampled ones are timed. */
static void fault_once(struct faulter *f, uint64_t *rng, bool timed)
{
	struct phase *ph = f->ph;
	uint64_t area = bench_rand_below(rng, ph->areas);
	uint64_t page = bench_rand_below(rng, ph->pages);
	uint64_t addr = ph->base + area * ph->stride + page * PAGE;
	uint64_t t0 = timed ? bench_now_ns() : 0;

	if (uvma_fault(ph->mm, addr, UVMA_ACCESS_WRITE))
		f->errors++;
	if (timed)
		wk_lat_add(&f->lat, bench_now_ns() - t0);
}

static void *faulter_main(void *arg)
{
	struct faulter *f = arg;
	struct phase *ph = f->ph;
	uint64_t rng = f->seed, t0, n = 0;

	wk_pin(f->index);
	atomic_fetch_add_explicit(&ph->ready, 1, memory_order_relaxed);
	while (!atomic_load_explicit(&ph->go, memory_order_acquire))
		;
	t0 = bench_now_ns();
	while (!atomic_load_explicit(&ph->stop, memory_order_relaxed)) {
		/* The flag is read once per batch, not per fault. */
		for (unsigned i = 0; i < 4 * WK_SAMPLE_EVERY; i++, n++)
			fault_once(f, &rng, n % WK_SAMPLE_EVERY == 0);
	}
	f->seconds = (double)(bench_now_ns() - t0) / 1e9;
	f->faults = n;
	return NULL;
}

/* The churn mapper: map, split by mprotect, unmap, slot after slot. */
struct mapper {
	pthread_t tid;
	struct phase *ph;
	unsigned index; /* its place among the threads, for wk_pin */
	uint64_t ops, errors;
	double seconds;
};

static void mapper_cycle(struct mapper *m, unsigned slot)
{
	struct uvma_mm *mm = m->ph->mm;
	uint64_t addr = CHURN_BASE + slot * SLOT_STRIDE;

	m->errors += map_at(mm, addr, SLOT_PAGES * PAGE,
			    UVMA_PROT_READ | UVMA_PROT_WRITE) != 0;
	m->errors += uvma_mprotect(mm, addr, SLOT_PAGES / 2 * PAGE,
				   UVMA_PROT_READ) != 0;
	m->errors += uvma_munmap(mm, addr, SLOT_PAGES * PAGE) != 0;
	m->ops += 3;
}

static void *mapper_main(void *arg)
{
	struct mapper *m = arg;
	struct phase *ph = m->ph;
	uint64_t t0;
	unsigned slot = 0;

	wk_pin(m->index);
	atomic_fetch_add_explicit(&ph->ready, 1, memory_order_relaxed);
	while (!atomic_load_explicit(&ph->go, memory_order_acquire))
		;
	t0 = bench_now_ns();
	while (!atomic_load_explicit(&ph->stop, memory_order_relaxed))
		mapper_cycle(m, slot++ % CHURN_SLOTS);
	m->seconds = (double)(bench_now_ns() - t0) / 1e9;
	return NULL;
}

/* What one timed phase measured. */
struct phase_out {
	double faults_per_s, ops_per_s, p50, p99;
	uint64_t errors;
};

static int start_faulters(struct phase *ph, struct faulter *fs, unsigned n,
			  uint64_t seed)
{
	for (unsigned i = 0; i < n; i++) {
		memset(&fs[i], 0, sizeof(fs[i]));
		fs[i].ph = ph;
		fs[i].index = i;
		fs[i].seed = seed * 1000003u + i;
		if (wk_lat_init(&fs[i].lat, LAT_CAP) ||
		    pthread_create(&fs[i].tid, NULL, faulter_main, &fs[i])) {
			fprintf(stderr, "uvma: cannot start fault thread\n");
			/* Threads already started must still be joined. */
			atomic_store(&ph->stop, true);
			atomic_store(&ph->go, true);
			for (unsigned j = 0; j < i; j++)
				pthread_join(fs[j].tid, NULL);
			for (unsigned j = 0; j <= i; j++)
				wk_lat_free(&fs[j].lat);
			return -EAGAIN;
		}
	}
	return 0;
}

/* Run the started threads for seconds, then gather. */
static void run_phase(struct phase *ph, unsigned nthreads, double seconds)
{
	while (atomic_load_explicit(&ph->ready, memory_order_relaxed) <
	       nthreads)
		;
	atomic_store_explicit(&ph->go, true, memory_order_release);
	wk_sleep_s(seconds);
	atomic_store_explicit(&ph->stop, true, memory_order_relaxed);
}

static void gather_faulters(struct faulter *fs, unsigned n,
			    struct phase_out *out)
{
	struct wk_lat lats[n];

	out->faults_per_s = 0;
	out->errors = 0;
	for (unsigned i = 0; i < n; i++) {
		pthread_join(fs[i].tid, NULL);
		if (fs[i].seconds > 0)
			out->faults_per_s +=
				(double)fs[i].faults / fs[i].seconds;
		out->errors += fs[i].errors;
		lats[i] = fs[i].lat;
	}
	wk_lat_percentiles(lats, n, &out->p50, &out->p99);
	for (unsigned i = 0; i < n; i++)
		wk_lat_free(&fs[i].lat);
}

/* Fault threads over the phase's areas, with or without the mapper. */
static int fault_phase(struct phase *ph, unsigned nthreads, bool churn,
		       const struct wk_params *p, struct phase_out *out)
{
	struct faulter *fs = calloc(nthreads, sizeof(*fs));
	struct mapper m = { .ph = ph, .index = nthreads };
	int err;

	if (!fs)
		return -ENOMEM;
	err = start_faulters(ph, fs, nthreads, p->seed);
	if (!err && churn && pthread_create(&m.tid, NULL, mapper_main, &m)) {
		fprintf(stderr, "uvma: cannot start the mapper\n");
		err = -EAGAIN;
		churn = false;
	}
	if (!err)
		run_phase(ph, nthreads + churn, err ? 0 : p->seconds);
	else
		atomic_store(&ph->go, true), atomic_store(&ph->stop, true);
	gather_faulters(fs, nthreads, out);
	out->ops_per_s = -1;
	if (churn) {
		pthread_join(m.tid, NULL);
		out->ops_per_s = (double)m.ops / m.seconds;
		out->errors += m.errors;
	}
	free(fs);
	return err;
}

/* Counters since *since (zeroed: since the start); *since moves on. */
static void fill_stats(struct uvma_mm *mm, struct wk_result *r,
		       struct uvma_fault_stats *since)
{
	struct uvma_fault_stats st;

	uvma_mm_fault_stats(mm, &st);
	r->fallbacks = st.fallback - since->fallback;
	r->retries = st.miss + st.retry - since->miss - since->retry;
	*since = st;
}

static void fill_phase(struct wk_result *r, const struct phase_out *o)
{
	r->faults_per_s = o->faults_per_s;
	r->ops_per_s = o->ops_per_s;
	r->p50_ns = o->p50;
	r->p99_ns = o->p99;
	r->errors += o->errors;
}

/* fault, churn and hot: one timed phase over a fresh space (churn: two,
 * without the mapper and with it). */
static int run_faults(const struct wk_params *p, struct wk_result *r)
{
	bool hot = !strcmp(p->scenario, "hot");
	bool churn = !strcmp(p->scenario, "churn");
	struct phase ph = { .base = FAULT_BASE, .stride = AREA_STRIDE };
	struct phase_out out;
	int err;

	/* hot: one area, as many pages as the threads would have among
	 * them in the other scenarios' first areas. */
	ph.areas = hot ? 1 : p->areas[0];
	ph.pages = hot ? AREA_PAGES * p->threads : AREA_PAGES;
	ph.stride = (ph.pages + 1) * PAGE;
	wk_result_init(r, ph.areas, p->threads);
	err = mm_new(&ph.mm);
	if (err)
		return err;
	err = map_areas(ph.mm, ph.base, ph.stride, ph.pages, 0, ph.areas);
	if (!err && churn) {
		/* The reference, seconds before and in the same process: the
		 * ratio then measures the mapper, not the machine's drift. */
		err = fault_phase(&ph, p->threads, false, p, &out);
		r->base_faults_per_s = out.faults_per_s;
		r->errors += out.errors;
		atomic_store(&ph.go, false);
		atomic_store(&ph.stop, false);
		atomic_store(&ph.ready, 0);
	}
	if (!err)
		err = fault_phase(&ph, p->threads, churn, p, &out);
	if (!err) {
		struct uvma_fault_stats zero = { 0 };

		fill_phase(r, &out);
		fill_stats(ph.mm, r, &zero);
	}
	uvma_mm_destroy(ph.mm);
	return err;
}

/* scale: mmap + munmap pairs at random holes of n one-page areas, each
 * mapped read-only so that it does not merge with its neighbours. */
static int pairs_phase(struct uvma_mm *mm, uint64_t n, double seconds,
		       uint64_t *rng, struct wk_result *r)
{
	uint64_t t0 = bench_now_ns(), now, pairs = 0;
	double limit = seconds * 1e9;

	do {
		for (int i = 0; i < 64; i++) {
			uint64_t hole =
				FAULT_BASE +
				bench_rand_below(rng, n) * SCALE_STRIDE + PAGE;

			r->errors +=
				map_at(mm, hole, PAGE, UVMA_PROT_READ) != 0;
			r->errors += uvma_munmap(mm, hole, PAGE) != 0;
		}
		pairs += 64;
		now = bench_now_ns();
	} while ((double)(now - t0) < limit);
	r->ops_per_s = (double)pairs / ((double)(now - t0) / 1e9);
	return 0;
}

static int scale_size(struct uvma_mm *mm, const struct wk_params *p, uint64_t n,
		      uint64_t *rng, struct wk_result *r)
{
	struct phase ph = { .mm = mm, .base = FAULT_BASE };
	struct wk_params half = *p;
	struct uvma_fault_stats st;
	struct phase_out out;
	int err;

	uvma_mm_fault_stats(mm, &st);
	ph.stride = SCALE_STRIDE;
	ph.pages = 1;
	ph.areas = n;
	err = pairs_phase(mm, n, p->seconds / 2, rng, r);
	if (err)
		return err;
	half.seconds = p->seconds / 2;
	err = fault_phase(&ph, p->threads, false, &half, &out);
	if (!err) {
		double pairs_per_s = r->ops_per_s;

		fill_phase(r, &out);
		r->ops_per_s = pairs_per_s;
		fill_stats(mm, r, &st);
	}
	return err;
}

static int run_scale(const struct wk_params *p, struct wk_result *res,
		     size_t *nres)
{
	struct uvma_mm *mm = NULL;
	uint64_t have = 0, rng = p->seed;
	int err = mm_new(&mm);

	for (size_t i = 0; !err && i < p->nareas; i++) {
		wk_result_init(&res[i], p->areas[i], p->threads);
		err = map_areas(mm, FAULT_BASE, SCALE_STRIDE, 1, have,
				p->areas[i]);
		have = p->areas[i];
		if (!err)
			err = scale_size(mm, p, have, &rng, &res[i]);
		if (!err)
			*nres = i + 1;
	}
	uvma_mm_destroy(mm);
	return err;
}

/*
 * memory: pool memory in use per VMA while n areas are mapped (the object
 * as the pool hands it out, alignment included), and RCU callbacks
 * per VMA freed by one munmap of all of them. The callback count is every
 * callback uvma queues (rcu.c counts them), so the tree's retired nodes are
 * in it too; one munmap of many VMAs makes those few per VMA.
 */
static int run_memory(const struct wk_params *p, struct wk_result *r)
{
	uint64_t n = p->areas[0], cbs;
	struct vma_pool_stats before, after;
	struct uvma_mm *mm;
	int err;

	wk_result_init(r, n, 0);
	err = mm_new(&mm);
	if (err)
		return err;
	vma_pool_stats(&before);
	err = map_areas(mm, FAULT_BASE, SCALE_STRIDE, 1, 0, n);
	vma_pool_stats(&after);
	if (!err) {
		/* Objects in use, not chunks: a chunk's unused tail is for
		 * the next areas, not these. */
		uint64_t used = (after.objects - after.free) -
				(before.objects - before.free);

		r->bytes_per_vma =
			(double)(used * after.object_bytes) / (double)n;
		r->lock_bytes = (double)VMA_LOCK_BYTES;
		cbs = rcu_defer_count();
		err = uvma_munmap(mm, FAULT_BASE, n * SCALE_STRIDE);
		r->rcu_cbs_per_free =
			(double)(rcu_defer_count() - cbs) / (double)n;
		if (err)
			fprintf(stderr, "uvma: munmap: %s\n",
				uvma_strerror(err));
	}
	uvma_mm_destroy(mm);
	return err;
}

const struct wk_side wk_uvma = {
	.faults = run_faults,
	.scale = run_scale,
	.memory = run_memory,
};
