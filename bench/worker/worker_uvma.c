/*
 * worker_uvma.c - uvma's side of the design comparison (worker.h), in the
 * design this worker was linked with (src/design.h). Areas of some pages,
 * each followed by a one-page hole so that no two merge, from BASE; the
 * churn mapper's slots far above them. The fault handler does nothing:
 * what is measured is the lookup and the lock, which the designs change.
 */
#include "worker.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "rcu.h"
#include "uvma.h"
#include "vma.h"

#define PAGE	    4096ull
#define AREA_PAGES  16ull
#define BASE	    (1ull << 32)
#define CHURN_BASE  (1ull << 44)
#define SLOT_PAGES  4ull
#define SLOT_STRIDE ((SLOT_PAGES + 1) * PAGE)
#define RW	    (UVMA_PROT_READ | UVMA_PROT_WRITE)

struct space {
	struct uvma_mm *mm;
	uint64_t stride, pages, areas; /* area i at BASE + i * stride */
	unsigned prot;
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

/* hot: one area, as many pages as the threads would have among them in
 * the other scenarios' first areas. */
static int map(const struct bench_opts *p, void **space, uint64_t *n)
{
	bool hot = !strcmp(p->scenario, "hot");
	struct uvma_mm_config cfg;
	struct space *s = *space;
	int err = 0;

	*n = hot ? 1 : *n;
	uvma_mm_config_init(&cfg);
	cfg.fault = nothing_to_do;
	if (!s && (s = *space = calloc(1, sizeof(*s)))) {
		s->pages = wk_grows(p) ? 1 + 2 * (uint64_t)wk_ops(p)
			   : hot       ? AREA_PAGES * p->threads
				       : AREA_PAGES;
		s->stride = (s->pages + 1) * PAGE;
		s->prot = wk_ops(p) ? UVMA_PROT_READ : RW;
		err = uvma_mm_create(&cfg, &s->mm);
	}
	for (; s && !err && s->areas < *n; s->areas++)
		err = map_at(s->mm, BASE + s->areas * s->stride,
			     s->pages * PAGE, s->prot);
	if (s && !err)
		return 0;
	fprintf(stderr, "uvma: areas up to %" PRIu64 ": %s\n", *n,
		uvma_strerror(s ? err : -ENOMEM));
	return -1;
}

struct uvma_mm *wk_uvma_mm(void *space)
{
	return ((struct space *)space)->mm;
}

static void destroy(void *space)
{
	struct space *s = space;

	if (s && s->mm)
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
				BASE +
				bench_rand_below(&rng, s->areas) * s->stride +
				bench_rand_below(&rng, s->pages) * PAGE;
			bool timed = n % WK_SAMPLE_EVERY == 0;
			uint64_t t0 = timed ? bench_now_ns() : 0;

			if (uvma_fault(s->mm, addr, UVMA_ACCESS_WRITE))
				t->errors++;
			if (timed)
				wk_lat_add(t, bench_now_ns() - t0);
		}
	}
	t->faults = n;
}

static unsigned churn(void *space, unsigned slot)
{
	struct uvma_mm *mm = ((struct space *)space)->mm;
	uint64_t at = CHURN_BASE + slot * SLOT_STRIDE;

	return (map_at(mm, at, SLOT_PAGES * PAGE, RW) != 0) +
	       (uvma_mprotect(mm, at, SLOT_PAGES / 2 * PAGE, UVMA_PROT_READ) !=
		0) +
	       (uvma_munmap(mm, at, SLOT_PAGES * PAGE) != 0);
}

/* The other protection than the areas', so that the page merges with
 * neither neighbour. */
static unsigned pair(void *space, uint64_t i)
{
	struct space *s = space;
	uint64_t hole = BASE + i * s->stride + s->pages * PAGE;

	return (map_at(s->mm, hole, PAGE, s->prot ^ UVMA_PROT_WRITE) != 0) +
	       (uvma_munmap(s->mm, hole, PAGE) != 0);
}

static unsigned split(void *space, uint64_t i)
{
	struct space *s = space;
	uint64_t mid = BASE + i * s->stride + PAGE;

	return (uvma_mprotect(s->mm, mid, PAGE, s->prot ^ UVMA_PROT_WRITE) !=
		0) +
	       (uvma_mprotect(s->mm, mid, PAGE, s->prot) != 0);
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
 * memory: pool memory in use per VMA while n one-page areas are mapped
 * (objects in use as the pool hands them out, alignment included, not
 * chunks: a chunk's unused tail is for the next areas, not these), and RCU
 * callbacks per VMA freed by one munmap of all of them. The callback count
 * is every callback uvma queues (rcu.c counts them), so the tree's retired
 * nodes are in it too; one munmap of many VMAs makes those few per VMA.
 */
static int memory(const struct bench_opts *p, struct wk_result *r)
{
	uint64_t n = p->sizes[0], cbs;
	struct vma_pool_stats before, after;
	void *space = NULL;
	int err;

	wk_result_init(r, n);
	vma_pool_stats(&before);
	err = map(p, &space, &n);
	vma_pool_stats(&after);
	if (!err) {
		r->v[BM_BYTES] = (double)(after.objects - after.free -
					  before.objects + before.free) *
				 (double)after.object_bytes / (double)n;
		r->v[BM_LOCK] = (double)VMA_LOCK_BYTES;
		cbs = rcu_defer_count();
		err = uvma_munmap(((struct space *)space)->mm, BASE,
				  n * 2 * PAGE);
		r->v[BM_RCU] = (double)(rcu_defer_count() - cbs) / (double)n;
	}
	destroy(space);
	return err;
}

const struct wk_side wk_uvma = {
	.map = map,
	.destroy = destroy,
	.faults = faults,
	.churn = churn,
	.pair = pair,
	.split = split,
	.counters = counters,
	.memory = memory,
};
