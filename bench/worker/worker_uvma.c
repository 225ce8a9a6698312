/*
 * worker_uvma.c - the design comparison's side of uvma (worker.h), in
 * whichever design this worker was linked with (src/design.h): the same
 * code runs for refcount, rwsem and global, only the library underneath
 * differs.
 *
 * Layout of the space: fault areas of AREA_PAGES pages (scale and memory:
 * one page), each followed by a one-page hole so that no two merge (one
 * VMA per area), from FAULT_BASE; the churn mapper's slots far above them,
 * so the fault threads never touch what the mapper changes. The fault
 * handler does nothing: what is measured is the lookup and the lock, which
 * is what the designs change.
 */
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rcu.h"
#include "uvma.h"
#include "vma.h"

#define PAGE	    4096ull
#define AREA_PAGES  16ull
#define FAULT_BASE  (1ull << 32)
#define CHURN_BASE  (1ull << 44)
#define SLOT_PAGES  4ull
#define SLOT_STRIDE ((SLOT_PAGES + 1) * PAGE)

struct space {
	struct uvma_mm *mm;
	uint64_t stride, pages, areas; /* area i at FAULT_BASE + i * stride */
	struct uvma_fault_stats since; /* the counters at the last look */
};

static int nothing_to_do(const struct uvma_fault *f)
{
	(void)f;
	return 0;
}

static int map_at(struct uvma_mm *mm, uint64_t addr, uint64_t len,
		  unsigned prot)
{
	return uvma_mmap(mm, addr, len, prot,
			 UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS | UVMA_MAP_FIXED,
			 0, 0, NULL, NULL);
}

static int space_new(uint64_t pages, void **out)
{
	struct uvma_mm_config cfg;
	struct space *s = calloc(1, sizeof(*s));
	int err = s ? 0 : -ENOMEM;

	uvma_mm_config_init(&cfg);
	cfg.fault = nothing_to_do;
	if (!err)
		err = uvma_mm_create(&cfg, &s->mm);
	if (err) {
		fprintf(stderr, "uvma: mm_create: %s\n", uvma_strerror(err));
		free(s);
		return err;
	}
	s->pages = pages;
	s->stride = (pages + 1) * PAGE;
	*out = s;
	return 0;
}

/* Maps areas up to n; 0 or the first error. */
static int map_areas(struct space *s, uint64_t n)
{
	for (; s->areas < n; s->areas++) {
		int err = map_at(s->mm, FAULT_BASE + s->areas * s->stride,
				 s->pages * PAGE,
				 UVMA_PROT_READ | UVMA_PROT_WRITE);

		if (err) {
			fprintf(stderr, "uvma: mmap of area %llu: %s\n",
				(unsigned long long)s->areas,
				uvma_strerror(err));
			return err;
		}
	}
	return 0;
}

/* hot: one area, as many pages as the threads would have among them in
 * the other scenarios' first areas. */
static int build(const struct bench_opts *p, void **space, uint64_t *areas)
{
	bool hot = !strcmp(p->scenario, "hot");
	int err = space_new(hot ? AREA_PAGES * p->threads : AREA_PAGES, space);

	*areas = hot ? 1 : p->sizes[0];
	return err ? err : map_areas(*space, *areas);
}

static int grow(const struct bench_opts *p, void **space, uint64_t n)
{
	int err = *space ? 0 : space_new(wk_grow_pages(p), space);

	return err ? err : map_areas(*space, n);
}

static void destroy(void *space)
{
	struct space *s = space;

	if (s)
		uvma_mm_destroy(s->mm);
	free(s);
}

/* A write fault at a random page of a random area, one in WK_SAMPLE_EVERY
 * timed; the stop flag is read once per batch, not per fault, and the
 * counts stay in registers. */
static void faults(struct wk_thread *t)
{
	struct space *s = t->ph->space;
	uint64_t rng = t->rng, n = 0;

	while (!wk_stopped(t->ph)) {
		for (unsigned i = 0; i < 4 * WK_SAMPLE_EVERY; i++, n++) {
			uint64_t addr =
				FAULT_BASE +
				bench_rand_below(&rng, s->areas) * s->stride +
				bench_rand_below(&rng, s->pages) * PAGE;
			bool timed = n % WK_SAMPLE_EVERY == 0;
			uint64_t t0 = timed ? bench_now_ns() : 0;

			if (uvma_fault(s->mm, addr, UVMA_ACCESS_WRITE))
				t->errors++;
			if (timed)
				wk_lat_add(&t->lat, bench_now_ns() - t0);
		}
	}
	t->faults = n;
}

static unsigned churn(void *space, unsigned slot)
{
	struct uvma_mm *mm = ((struct space *)space)->mm;
	uint64_t addr = CHURN_BASE + slot * SLOT_STRIDE;

	return (map_at(mm, addr, SLOT_PAGES * PAGE,
		       UVMA_PROT_READ | UVMA_PROT_WRITE) != 0) +
	       (uvma_mprotect(mm, addr, SLOT_PAGES / 2 * PAGE,
			      UVMA_PROT_READ) != 0) +
	       (uvma_munmap(mm, addr, SLOT_PAGES * PAGE) != 0);
}

/* Read-only, so that it merges with neither neighbour. */
static unsigned pair(void *space, uint64_t i)
{
	struct space *s = space;
	uint64_t hole = FAULT_BASE + i * s->stride + s->pages * PAGE;

	return (map_at(s->mm, hole, PAGE, UVMA_PROT_READ) != 0) +
	       (uvma_munmap(s->mm, hole, PAGE) != 0);
}

static unsigned split(void *space, uint64_t i)
{
	struct space *s = space;
	uint64_t mid = FAULT_BASE + i * s->stride + PAGE;

	return (uvma_mprotect(s->mm, mid, PAGE, UVMA_PROT_READ) != 0) +
	       (uvma_mprotect(s->mm, mid, PAGE,
			      UVMA_PROT_READ | UVMA_PROT_WRITE) != 0);
}

static int count_one(const struct uvma_area_info *a, void *arg)
{
	(void)a;
	++*(long *)arg;
	return 0;
}

static long count(void *space)
{
	struct space *s = space;
	long n = 0;

	return uvma_maps(s->mm, FAULT_BASE, FAULT_BASE + s->areas * s->stride,
			 count_one, &n)
		       ? -1
		       : n;
}

static void counters(void *space, double *v)
{
	struct space *s = space;
	struct uvma_fault_stats st;

	uvma_mm_fault_stats(s->mm, &st);
	v[BM_FALLBACKS] = (double)(st.fallback - s->since.fallback);
	v[BM_RETRIES] =
		(double)(st.miss + st.retry - s->since.miss - s->since.retry);
	s->since = st;
}

/*
 * memory: pool memory in use per VMA while n areas are mapped (the object
 * as the pool hands it out, alignment included), and RCU callbacks per VMA
 * freed by one munmap of all of them. The callback count is every callback
 * uvma queues (rcu.c counts them), so the tree's retired nodes are in it
 * too; one munmap of many VMAs makes those few per VMA.
 */
static int memory(const struct bench_opts *p, struct wk_result *r)
{
	uint64_t n = p->sizes[0], cbs, used;
	struct vma_pool_stats before, after;
	void *space = NULL;
	int err;

	wk_result_init(r, n);
	vma_pool_stats(&before);
	err = grow(p, &space, n);
	vma_pool_stats(&after);
	if (!err) {
		/* Objects in use, not chunks: a chunk's unused tail is for
		 * the next areas, not these. */
		used = (after.objects - after.free) -
		       (before.objects - before.free);
		r->v[BM_BYTES] =
			(double)(used * after.object_bytes) / (double)n;
		r->v[BM_LOCK] = (double)VMA_LOCK_BYTES;
		cbs = rcu_defer_count();
		err = uvma_munmap(((struct space *)space)->mm, FAULT_BASE,
				  n * 2 * PAGE);
		r->v[BM_RCU] = (double)(rcu_defer_count() - cbs) / (double)n;
		if (err)
			fprintf(stderr, "uvma: munmap: %s\n",
				uvma_strerror(err));
	}
	destroy(space);
	return err;
}

const struct wk_side wk_uvma = {
	.build = build,
	.grow = grow,
	.destroy = destroy,
	.faults = faults,
	.churn = churn,
	.pair = pair,
	.split = split,
	.count = count,
	.counters = counters,
	.memory = memory,
};
