/*
 * worker_kernel.c - the design comparison's side of the running Linux
 * kernel (worker.h): real mmap, mprotect and munmap, and real page faults,
 * as the reference next to uvma's designs. The one place that maps in the
 * kernel's window, for the workers and for the ops scenario.
 *
 * Everything lives in a private window at WIN_BASE (80 TiB: far above the
 * program and its heap, below where the kernel places mappings top-down,
 * near 128 TiB), claimed with MAP_FIXED_NOREPLACE so that nothing else of
 * the process is ever replaced. Areas are anonymous private read-write
 * mappings, each followed by a one-page hole so that no two merge (one VMA
 * per area); the churn mapper's slots lie above them, where no fault
 * thread goes. Areas beyond vm.max_map_count need the limit raised (root):
 * it is, for the run, and put back when the space goes, or on SIGINT,
 * SIGTERM or SIGHUP.
 *
 * A fault is a write to a page that is not present. Each fault thread owns
 * pages of its own (a chunk of every area, or every T-th area when areas
 * have fewer pages than there are threads), touches them in a random order
 * without repeating one, and after a batch zaps what it touched with
 * MADV_DONTNEED, outside the timed part, so that the next touch of a page
 * faults again. The areas are cut from one mapping written once before
 * (extend()), so that none of them pays for an anon_vma in the timed
 * phase. Each thread's ru_minflt checks afterwards that the touches did
 * fault.
 */
#define _GNU_SOURCE /* RUSAGE_THREAD, MAP_FIXED_NOREPLACE */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#define PAGE	   4096ul
#define WIN_BASE   0x500000000000ul
#define WIN_MAX	   (1ul << 45) /* bytes the window may span */
#define AREA_PAGES 16u	       /* a fault area, as on uvma's side */
/* hot: each thread's pages fill a page table of its own, so that what the
 * threads share is the VMA, not a page-table lock; and a zap, which
 * interrupts the other threads, comes once per 512 faults. */
#define HOT_CHUNK   512u
#define SLOT_PAGES  4u
#define SLOT_STRIDE ((SLOT_PAGES + 1) * PAGE)
#define SLOTS_LEN   ((1ul << 20) + WK_CHURN_SLOTS * SLOT_STRIDE) /* + gap */
/* Pages a thread touches between zaps (64 MiB): with fewer, the touched
 * pages of a large map lie too far apart to be zapped together. */
#define BATCH	   16384u
#define STOP_EVERY 64u
#define ZAP_GAP	   64u /* pages between two touched ones zapped by one call */
#define GROW_QUIET 400000u /* areas mapped without a progress line */
/* Mappings the process may make besides the window (thread stacks, the
 * heap growing), on top of those it has. */
#define MAP_COUNT_SLACK 4096
#define MAX_MAP_COUNT	"/proc/sys/vm/max_map_count"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/* Area i at base + i * stride: pages, then a one-page hole. */
struct space {
	char *base;
	size_t stride, len; /* len: what is ours to unmap */
	uint64_t areas;
	unsigned pages;
	char *slots;  /* the churn mapper's first slot */
	uint64_t fit; /* the areas vm.max_map_count allows */
};

/*
 * The pages one thread owns: its unit u is page poff + u % chunk of area
 * (u / chunk) * astep + aoff; perm[next..] are the units not touched in
 * this sweep, batch the pages of the batch in touch order.
 */
struct own {
	uint64_t units;
	unsigned chunk, astep, aoff, poff;
	uint32_t *perm;
	uint64_t next;
	char **batch;
};

static char *area_at(const struct space *s, uint64_t i)
{
	return s->base + i * s->stride;
}

/* ---- vm.max_map_count ---------------------------------------------------- */

/* The old limit as text, for the signal handler, which may not format;
 * empty while the limit is not raised. */
static char limit_old[32];
static size_t limit_old_len;
static const int limit_signals[] = { SIGINT, SIGTERM, SIGHUP };
static struct sigaction limit_saved[3];

/* open/write/close only: the signal handler uses it too. */
static int write_limit(const char *text, size_t len)
{
	int fd = open(MAX_MAP_COUNT, O_WRONLY), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		err = -EIO;
	close(fd);
	return err;
}

/* An interrupted run must not leave the machine with the raised limit. */
static void limit_on_signal(int sig)
{
	write_limit(limit_old, limit_old_len);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void limit_catch(bool on)
{
	struct sigaction sa = { .sa_handler = limit_on_signal };

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < 3; i++)
		sigaction(limit_signals[i], on ? &sa : &limit_saved[i],
			  on ? &limit_saved[i] : NULL);
}

/* Mappings of the process starting in [lo, hi), or -1. A line longer than
 * the buffer (a long path) comes in pieces. */
static long mappings(uintptr_t lo, uintptr_t hi)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	bool at_start = true;
	long n = 0;

	while (f && fgets(line, sizeof(line), f)) {
		uintptr_t start = strtoull(line, NULL, 16);

		n += at_start && start >= lo && start < hi;
		at_start = strchr(line, '\n') != NULL;
	}
	if (f)
		fclose(f);
	return f ? n : -1;
}

/* Room for vmas more mappings: the limit raised when it is too low and we
 * may. How many fit: vmas, or fewer after saying why. */
static uint64_t limit_raise(uint64_t vmas)
{
	FILE *f = fopen(MAX_MAP_COUNT, "r");
	long old = -1, have = mappings(0, UINTPTR_MAX), need;
	char text[32];
	int err;

	if (f && fscanf(f, "%ld", &old) != 1)
		old = -1;
	if (f)
		fclose(f);
	need = (long)vmas + have + MAP_COUNT_SLACK;
	/* Unknown: let mmap say when it runs out. Raised: by this run. */
	if (old < 0 || have < 0 || limit_old_len || old >= need)
		return vmas;
	limit_old_len =
		(size_t)snprintf(limit_old, sizeof(limit_old), "%ld\n", old);
	/* Caught before the write, so that no moment is left uncovered. */
	limit_catch(true);
	err = write_limit(text,
			  (size_t)snprintf(text, sizeof(text), "%ld\n", need));
	if (!err) {
		fprintf(stderr,
			"kernel: vm.max_map_count raised from %ld to "
			"%ld for the run\n",
			old, need);
		return vmas;
	}
	limit_catch(false);
	limit_old_len = 0;
	fprintf(stderr,
		"kernel: vm.max_map_count is %ld and cannot be raised to %ld: "
		"%s\n",
		old, need, strerror(-err));
	return old > have + MAP_COUNT_SLACK
		       ? (uint64_t)(old - have - MAP_COUNT_SLACK)
		       : 0;
}

static void limit_restore(void)
{
	int err = limit_old_len ? write_limit(limit_old, limit_old_len) : 0;

	if (limit_old_len)
		limit_catch(false);
	limit_old_len = 0;
	if (err)
		fprintf(stderr,
			"kernel: could not restore vm.max_map_count to %s",
			limit_old);
}

/* ---- the space ----------------------------------------------------------- */

/* A space of areas of pages, with room under vm.max_map_count for vmas
 * mappings and in the window for span bytes. */
static int space_new(unsigned pages, uint64_t vmas, double span, void **out)
{
	struct space *s = calloc(1, sizeof(*s));

	if (!(*out = s))
		return -ENOMEM;
	s->base = (char *)WIN_BASE;
	s->pages = pages;
	s->stride = (pages + 1) * PAGE;
	if (span > (double)WIN_MAX) {
		fputs("kernel: too many areas for the window\n", stderr);
		return -1;
	}
	s->fit = limit_raise(vmas);
	return 0;
}

/*
 * Areas up to n, each a VMA of its own, and extra bytes after them found
 * free (MAP_NORESERVE: only the pages touched are ever used; no huge page,
 * which would make one fault fill many). The new mapping gets its anon_vma
 * before it is split into areas, and every area shares it: the first write
 * fault of a VMA allocates one under mmap_lock, a one-time cost that is
 * not the steady fault path compared here, and a million of them would
 * take seconds.
 */
static int extend(struct space *s, uint64_t n, size_t extra)
{
	char *from = area_at(s, s->areas);
	size_t len = (n - s->areas) * s->stride + extra;
	void *q = mmap(from, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			       MAP_FIXED_NOREPLACE,
		       -1, 0);

	if (q != from) {
		fprintf(stderr, "kernel: cannot map %zu bytes at %p: %s\n", len,
			(void *)from,
			q == MAP_FAILED ? strerror(errno) : "taken");
		if (q != MAP_FAILED)
			munmap(q, len);
		return -1;
	}
	s->len = n * s->stride + extra;
	if (madvise(from, len, MADV_NOHUGEPAGE) ||
	    (extra && munmap(area_at(s, n), extra)))
		goto fail;
	*(volatile char *)from = 1;
	if (madvise(from, PAGE, MADV_DONTNEED))
		goto fail;
	for (; s->areas < n; s->areas++)
		if (munmap(area_at(s, s->areas) + s->pages * PAGE, PAGE)) {
			fprintf(stderr,
				"kernel: hole after area %" PRIu64 ": %s "
				"(vm.max_map_count?)\n",
				s->areas, strerror(errno));
			return -1;
		}
	return 0;
fail:
	fprintf(stderr, "kernel: madvise or munmap: %s\n", strerror(errno));
	return -1;
}

/* The fault areas, then the mapper's slots. hot: one area, a chunk per
 * thread; elsewhere at least a page per thread in every area. */
static int build(const struct bench_opts *p, void **space, uint64_t *areas)
{
	bool hot = !strcmp(p->scenario, "hot");
	unsigned pages = hot			   ? HOT_CHUNK * p->threads
			 : p->threads > AREA_PAGES ? p->threads
						   : AREA_PAGES;
	uint64_t n = *areas = hot ? 1 : p->sizes[0];
	struct space *s;

	if (space_new(pages, n + WK_CHURN_SLOTS,
		      (double)n * (pages + 1) * PAGE + SLOTS_LEN, space))
		return -1;
	s = *space;
	s->slots = area_at(s, n) + SLOTS_LEN - WK_CHURN_SLOTS * SLOT_STRIDE;
	if (s->fit < n + WK_CHURN_SLOTS)
		return -1;
	return extend(s, n, SLOTS_LEN);
}

/* scale and ops: the limit is raised once, for the largest size. */
static int grow(const struct bench_opts *p, void **space, uint64_t n)
{
	unsigned pages = wk_grow_pages(p);
	uint64_t largest = n;
	struct space *s = *space;

	for (size_t i = 0; i < p->nsizes; i++)
		largest = p->sizes[i] > largest ? p->sizes[i] : largest;
	if (!s && space_new(pages, largest,
			    (double)largest * (pages + 1) * PAGE, space))
		return -1;
	s = *space;
	if (n > s->fit) {
		fprintf(stderr,
			"kernel: %" PRIu64 " areas and more not measured "
			"(vm.max_map_count)\n",
			n);
		return 1;
	}
	/* About 5 us an area: say so before a wait of seconds. */
	if (n - s->areas >= GROW_QUIET)
		fprintf(stderr, "kernel: mapping %" PRIu64 " areas\n",
			n - s->areas);
	return extend(s, n, 0);
}

/* Only what was ours: a failed claim may have met someone else's. */
static void destroy(void *space)
{
	struct space *s = space;

	if (s && s->len)
		munmap(s->base, s->len);
	if (s)
		limit_restore();
	free(s);
}

/* ---- fault threads ------------------------------------------------------- */

static void share_of(const struct space *s, unsigned t, unsigned nthreads,
		     struct own *o)
{
	if (s->pages >= nthreads) {
		o->chunk = s->pages / nthreads;
		o->astep = 1;
		o->poff = t * o->chunk;
		o->units = s->areas * o->chunk;
		return;
	}
	o->chunk = s->pages;
	o->astep = nthreads;
	o->aoff = t;
	o->units = s->areas > t
			   ? (s->areas - t + nthreads - 1) / nthreads * s->pages
			   : 0;
}

static int thread_init(struct wk_thread *t)
{
	struct own *o = calloc(1, sizeof(*o));

	t->own = o;
	if (!o)
		return -ENOMEM;
	share_of(t->ph->space, t->index, t->ph->nthreads, o);
	if (o->units > UINT32_MAX) {
		fprintf(stderr, "kernel: too many pages per thread\n");
		return -EINVAL;
	}
	o->perm = malloc((o->units ? o->units : 1) * sizeof(*o->perm));
	o->batch = malloc(BATCH * sizeof(*o->batch));
	if (!o->perm || !o->batch) {
		fprintf(stderr, "kernel: out of memory\n");
		return -ENOMEM;
	}
	for (uint64_t u = 0; u < o->units; u++)
		o->perm[u] = (uint32_t)u;
	return 0;
}

static void thread_free(struct wk_thread *t)
{
	struct own *o = t->own;

	if (o) {
		free(o->perm);
		free(o->batch);
	}
	free(o);
}

/*
 * The next batch. Its Fisher-Yates steps are taken here, out of the timed
 * loop, one batch at a time: no page repeats within a sweep, and a sweep
 * of millions of pages costs nothing up front.
 */
static size_t prepare_batch(struct wk_thread *t, struct own *o)
{
	const struct space *s = t->ph->space;
	uint64_t n = o->units, k;

	/* A new sweep: every page of the last one was zapped. */
	if (o->next == n)
		o->next = 0;
	k = n - o->next < BATCH ? n - o->next : BATCH;
	for (uint64_t i = 0; i < k; i++) {
		uint64_t at = o->next + i;
		uint64_t j = at + bench_rand_below(&t->rng, n - at);
		uint32_t u = o->perm[j];

		o->perm[j] = o->perm[at];
		o->perm[at] = u;
		o->batch[i] = area_at(s, u / o->chunk * o->astep + o->aoff) +
			      (o->poff + u % o->chunk) * PAGE;
	}
	return (size_t)k;
}

/* The timed part: one write per page, so one fault each. */
static size_t touch_batch(struct wk_thread *t, struct own *o, size_t k)
{
	size_t i;

	for (i = 0; i < k; i++) {
		/* Read once per few faults: it costs a shared line. */
		if (i % STOP_EVERY == 0 && wk_stopped(t->ph))
			break;
		if ((t->faults + i) % WK_SAMPLE_EVERY == 0) {
			uint64_t t0 = bench_now_ns();

			*(volatile char *)o->batch[i] = 1;
			wk_lat_add(&t->lat, bench_now_ns() - t0);
		} else {
			*(volatile char *)o->batch[i] = 1;
		}
	}
	t->faults += i;
	o->next += i;
	return i;
}

static int cmp_addr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (char *const *)a;
	uintptr_t y = (uintptr_t) * (char *const *)b;

	return (x > y) - (x < y);
}

/*
 * Pages close together are zapped by one call, holes and other threads'
 * pages between them included: every call flushes the TLB of each CPU
 * running the process, an interrupt in the other fault threads' timed
 * loops, and a page zapped under another thread was not touched in its
 * sweep yet, or was and would be zapped anyway. A range over a hole fails
 * with ENOMEM after zapping every mapped part of it.
 */
static void zap_batch(struct wk_thread *t, struct own *o, size_t k)
{
	char **b = o->batch;

	qsort(b, k, sizeof(*b), cmp_addr);
	for (size_t i = 0, j; i < k; i = j) {
		for (j = i + 1;
		     j < k && b[j] - b[j - 1] <= (ptrdiff_t)(ZAP_GAP * PAGE);
		     j++)
			;
		if (madvise(b[i], (size_t)(b[j - 1] - b[i]) + PAGE,
			    MADV_DONTNEED) &&
		    errno != ENOMEM)
			t->errors++;
	}
}

/* Touches that took no fault would make the rate a lie. */
static void faults(struct wk_thread *t)
{
	struct own *o = t->own;
	struct rusage r0, r1;
	uint64_t minflt;

	getrusage(RUSAGE_THREAD, &r0);
	while (o->units && !wk_stopped(t->ph)) {
		size_t k = prepare_batch(t, o);
		uint64_t t0 = bench_now_ns();

		k = touch_batch(t, o, k);
		t->ns += bench_now_ns() - t0;
		zap_batch(t, o, k);
	}
	getrusage(RUSAGE_THREAD, &r1);
	minflt = (uint64_t)(r1.ru_minflt - r0.ru_minflt);
	if ((double)minflt >= 0.9 * (double)t->faults)
		return;
	fprintf(stderr,
		"kernel: thread %u touched %" PRIu64 " pages but took %" PRIu64
		" page faults\n",
		t->index, t->faults, minflt);
	t->errors++;
}

/* ---- map changes --------------------------------------------------------- */

static unsigned churn(void *space, unsigned slot)
{
	char *at = ((struct space *)space)->slots + slot * SLOT_STRIDE;
	size_t len = SLOT_PAGES * PAGE;

	return (mmap(at, len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != at) +
	       (mprotect(at, len / 2, PROT_READ) != 0) + (munmap(at, len) != 0);
}

/* Read-only, so that it merges with neither neighbour. */
static unsigned pair(void *space, uint64_t i)
{
	const struct space *s = space;

	char *hole = area_at(s, i) + s->pages * PAGE;
	void *q =
		mmap(hole, PAGE, PROT_READ,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (q == hole)
		return munmap(hole, PAGE) != 0;
	if (q != MAP_FAILED)
		munmap(q, PAGE);
	return 1;
}

static unsigned split(void *space, uint64_t i)
{
	char *mid = area_at(space, i) + PAGE;

	return (mprotect(mid, PAGE, PROT_READ) != 0) +
	       (mprotect(mid, PAGE, PROT_READ | PROT_WRITE) != 0);
}

static long count(void *space)
{
	const struct space *s = space;

	return mappings((uintptr_t)s->base, (uintptr_t)area_at(s, s->areas));
}

/* ---- memory -------------------------------------------------------------- */

/* The objsize column of a slab cache in /proc/slabinfo, or -1. */
static double slab_objsize(const char *cache)
{
	FILE *f = fopen("/proc/slabinfo", "r");
	char line[512], name[64];
	unsigned long active, num, objsize;
	double v = -1;

	if (!f)
		return -1;
	while (v < 0 && fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %lu %lu %lu", name, &active, &num,
			   &objsize) == 4 &&
		    !strcmp(name, cache))
			v = (double)objsize;
	fclose(f);
	return v;
}

static int memory(const struct bench_opts *p, struct wk_result *r)
{
	wk_result_init(r, p->sizes[0]);
	r->v[BM_BYTES] = slab_objsize("vm_area_struct");
	if (r->v[BM_BYTES] < 0)
		fputs("kernel: vm_area_struct not found in /proc/slabinfo "
		      "(root?): bytes_per_vma not measured\n",
		      stderr);
	return 0;
}

const struct wk_side wk_kernel = {
	.build = build,
	.grow = grow,
	.destroy = destroy,
	.thread_init = thread_init,
	.thread_free = thread_free,
	.faults = faults,
	.churn = churn,
	.pair = pair,
	.split = split,
	.count = count,
	.memory = memory,
};
