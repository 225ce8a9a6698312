/*
 * worker_kernel.c - the running kernel's side of the design comparison
 * (worker.h): real map changes and page faults, in a window at WIN_BASE
 * (80 TiB: above the program and its heap, below where the kernel maps
 * top-down) claimed with MAP_FIXED_NOREPLACE, so that nothing else of the
 * process is replaced. vm.max_map_count is raised for the run when the
 * areas need it (root), and put back when the space goes or on SIGINT,
 * SIGTERM and SIGHUP.
 *
 * A fault is a write to a page that is not present. Each fault thread owns
 * pages (a chunk of every area, or every T-th area when areas have fewer
 * pages than there are threads), touches them in a random order without
 * repeating one, and zaps a batch of them with MADV_DONTNEED outside the
 * timed part, so that the next touch faults again; ru_minflt checks that
 * the touches did fault.
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
#define AREA_PAGES 16u /* a fault area, as on uvma's side */
/* hot: each thread's pages fill a page table of its own, so that what the
 * threads share is the VMA, not a page-table lock; and a zap, which
 * interrupts the other threads, comes once per 512 faults. */
#define HOT_CHUNK   512u
#define SLOT_PAGES  4u
#define SLOT_STRIDE ((SLOT_PAGES + 1) * PAGE)
#define SLOTS_GAP   (1ul << 20) /* between the areas and the slots */
/* Pages a thread touches between zaps (64 MiB): with fewer, the touched
 * pages of a large map lie too far apart to be zapped together. */
#define BATCH	   16384u
#define STOP_EVERY 64u
#define ZAP_GAP	   64u /* pages between two touched ones zapped by one call */
/* Mappings the process may make besides the window (thread stacks, the
 * heap growing), on top of those it has. */
#define MAP_COUNT_SLACK 4096
#define MAX_MAP_COUNT	"/proc/sys/vm/max_map_count"

/* Area i at WIN_BASE + i * stride: pages, then a one-page hole. */
struct space {
	size_t stride, len;  /* len: what is ours to unmap */
	uint64_t areas, fit; /* fit: the areas vm.max_map_count allows */
	unsigned pages;
	int prot;
	char *slots; /* the churn mapper's first slot */
};

/*
 * The pages one thread owns: its unit u is page poff + u % chunk of area
 * (u / chunk) * astep + aoff; perm[next..] are the units not touched in
 * this sweep, batch the pages of the batch in touch order.
 */
struct own {
	uint64_t units, next;
	unsigned chunk, astep, aoff, poff;
	uint32_t *perm;
	char **batch;
};

static char *area_at(const struct space *s, uint64_t i)
{
	return (char *)WIN_BASE + i * s->stride;
}

/* The old limit as text, for the signal handler, which may not format;
 * empty while the limit is not raised. */
static char limit_old[32];
static size_t limit_old_len;

/* open/write/close only: the signal handler uses it too. */
static int write_limit(const char *text, size_t len)
{
	int fd = open(MAX_MAP_COUNT, O_WRONLY);
	ssize_t n = fd < 0 ? -1 : write(fd, text, len);

	if (fd >= 0)
		close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

/* An interrupted run must not leave the machine with the raised limit. */
static void limit_on_signal(int sig)
{
	write_limit(limit_old, limit_old_len);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* The processes that raise the limit start with the default actions. */
static void limit_catch(bool on)
{
	signal(SIGINT, on ? limit_on_signal : SIG_DFL);
	signal(SIGTERM, on ? limit_on_signal : SIG_DFL);
	signal(SIGHUP, on ? limit_on_signal : SIG_DFL);
}

/* Room for vmas more mappings: the limit raised for the run when it is too
 * low and we may. How many fit: vmas, or fewer after saying why. */
static uint64_t limit_raise(uint64_t vmas)
{
	FILE *f = fopen("/proc/self/maps", "r");
	long old = -1, have = 0, need;
	char text[32];

	while (f && !feof(f))
		have += getc(f) == '\n';
	if (f)
		fclose(f);
	if ((f = fopen(MAX_MAP_COUNT, "r")) && fscanf(f, "%ld", &old) != 1)
		old = -1;
	if (f)
		fclose(f);
	need = (long)vmas + have + MAP_COUNT_SLACK;
	/* Unknown: let mmap say when it runs out. Raised: by this run. */
	if (old < 0 || limit_old_len || old >= need)
		return vmas;
	limit_old_len = (size_t)snprintf(limit_old, 32, "%ld\n", old);
	/* Caught before the write, so that no moment is left uncovered. */
	limit_catch(true);
	if (!write_limit(text, (size_t)snprintf(text, 32, "%ld\n", need))) {
		fprintf(stderr, "kernel: vm.max_map_count %ld for the run\n",
			need);
		return vmas;
	}
	limit_catch(false);
	limit_old_len = 0;
	fprintf(stderr, "kernel: vm.max_map_count is %ld, cannot raise it\n",
		old);
	return old > have + MAP_COUNT_SLACK
		       ? (uint64_t)(old - have - MAP_COUNT_SLACK)
		       : 0;
}

/*
 * Areas up to n, each a VMA of its own, and extra bytes after them found
 * free. MAP_NORESERVE: only the pages touched are ever used; no huge page,
 * which would make one fault fill many. A writable mapping gets its
 * anon_vma before it is split into areas, and every area shares it: the
 * first write fault of a VMA allocates one under mmap_lock, a one-time
 * cost that is not the steady fault path compared here, and a million of
 * them would take seconds.
 */
static int extend(struct space *s, uint64_t n, size_t extra)
{
	char *from = area_at(s, s->areas);
	size_t len = (n - s->areas) * s->stride + extra;
	void *q = mmap(from, len, s->prot,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			       MAP_FIXED_NOREPLACE,
		       -1, 0);

	if (q == from)
		s->len = n * s->stride + extra;
	else if (q != MAP_FAILED)
		munmap(q, len);
	if (q != from || madvise(from, len, MADV_NOHUGEPAGE) ||
	    (extra && munmap(area_at(s, n), extra)))
		goto fail;
	if (s->prot & PROT_WRITE)
		*(volatile char *)from = 1;
	if (madvise(from, PAGE, MADV_DONTNEED))
		goto fail;
	for (; s->areas < n; s->areas++)
		if (munmap(area_at(s, s->areas) + s->pages * PAGE, PAGE))
			goto fail;
	return 0;
fail:
	fprintf(stderr, "kernel: areas up to %" PRIu64 ": %s\n", n,
		strerror(errno));
	return -1;
}

/*
 * fault, churn, hot: the fault areas, then the mapper's slots; hot: one
 * area, a chunk per thread; elsewhere at least a page per thread in every
 * area. scale, ops: areas grown size after size, the limit raised once,
 * for the largest size.
 */
static int map(const struct bench_opts *p, void **space, uint64_t *n)
{
	bool hot = !strcmp(p->scenario, "hot"), grows = wk_grows(p);
	unsigned pages = grows			   ? 1 + 2 * (unsigned)wk_ops(p)
			 : hot			   ? HOT_CHUNK * p->threads
			 : p->threads > AREA_PAGES ? p->threads
						   : AREA_PAGES;
	uint64_t vmas = hot ? 1 : *n;
	struct space *s = *space;

	for (size_t i = 0; grows && i < p->nsizes; i++)
		vmas = p->sizes[i] > vmas ? p->sizes[i] : vmas;
	if (!s && !(s = *space = calloc(1, sizeof(*s))))
		return -1;
	if (!s->stride) {
		s->pages = pages;
		s->stride = (pages + 1) * PAGE;
		s->prot = wk_ops(p) ? PROT_READ : PROT_READ | PROT_WRITE;
		s->fit = limit_raise(vmas + WK_CHURN_SLOTS);
	}
	*n = hot ? 1 : *n;
	if (*n + WK_CHURN_SLOTS > s->fit) {
		fprintf(stderr, "kernel: %" PRIu64 " areas not measured\n", *n);
		return 1;
	}
	s->slots = area_at(s, *n) + SLOTS_GAP;
	return extend(s, *n,
		      grows ? 0 : SLOTS_GAP + WK_CHURN_SLOTS * SLOT_STRIDE);
}

/* Only what was ours: a failed claim may have met someone else's. */
static void destroy(void *space)
{
	struct space *s = space;

	if (s && s->len)
		munmap((void *)WIN_BASE, s->len);
	if (limit_old_len) {
		if (write_limit(limit_old, limit_old_len))
			fputs("kernel: vm.max_map_count stays raised\n",
			      stderr);
		limit_catch(false);
	}
	limit_old_len = 0;
	free(s);
}

/* The thread's share, in one allocation that the engine frees. */
static int thread_init(struct wk_thread *t)
{
	const struct space *s = t->ph->space;
	unsigned nt = t->ph->nthreads, i = t->index;
	struct own sh = { .chunk = s->pages, .astep = nt, .aoff = i }, *o;

	if (s->pages >= nt)
		sh = (struct own){ .chunk = s->pages / nt,
				   .astep = 1,
				   .poff = i * (s->pages / nt),
				   .units = s->areas * (s->pages / nt) };
	else if (s->areas > i)
		sh.units = (s->areas - i + nt - 1) / nt * s->pages;
	if (sh.units > UINT32_MAX ||
	    !(o = t->own = malloc(sizeof(*o) + BATCH * sizeof(char *) +
				  sh.units * sizeof(uint32_t))))
		return -ENOMEM;
	*o = sh;
	o->batch = (char **)(o + 1);
	o->perm = (uint32_t *)(o->batch + BATCH);
	for (uint64_t u = 0; u < o->units; u++)
		o->perm[u] = (uint32_t)u;
	return 0;
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
			wk_lat_add(t, bench_now_ns() - t0);
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

	getrusage(RUSAGE_THREAD, &r0);
	while (o->units && !wk_stopped(t->ph)) {
		size_t k = prepare_batch(t, o);
		uint64_t t0 = bench_now_ns();

		k = touch_batch(t, o, k);
		t->ns += bench_now_ns() - t0;
		zap_batch(t, o, k);
	}
	getrusage(RUSAGE_THREAD, &r1);
	if ((double)(r1.ru_minflt - r0.ru_minflt) < 0.9 * (double)t->faults) {
		fprintf(stderr, "kernel: %" PRIu64 " touches, %ld faults\n",
			t->faults, r1.ru_minflt - r0.ru_minflt);
		t->errors++;
	}
}

static unsigned churn(void *space, unsigned slot)
{
	char *at = ((struct space *)space)->slots + slot * SLOT_STRIDE;
	size_t len = SLOT_PAGES * PAGE;

	return (mmap(at, len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != at) +
	       (mprotect(at, len / 2, PROT_READ) != 0) + (munmap(at, len) != 0);
}

/* The other protection than the areas', so that the page merges with
 * neither neighbour. */
static unsigned pair(void *space, uint64_t i)
{
	const struct space *s = space;
	char *hole = area_at(s, i) + s->pages * PAGE;
	void *q =
		mmap(hole, PAGE, s->prot ^ PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (q == hole)
		return munmap(hole, PAGE) != 0;
	if (q != MAP_FAILED)
		munmap(q, PAGE);
	return 1;
}

static unsigned split(void *space, uint64_t i)
{
	const struct space *s = space;
	char *mid = area_at(s, i) + PAGE;

	return (mprotect(mid, PAGE, s->prot ^ PROT_WRITE) != 0) +
	       (mprotect(mid, PAGE, s->prot) != 0);
}

/* memory: the object size of vm_area_struct in /proc/slabinfo. */
static int memory(const struct bench_opts *p, struct wk_result *r)
{
	FILE *f = fopen("/proc/slabinfo", "r");
	char line[512], name[64];
	unsigned long active, num, size;

	wk_result_init(r, p->sizes[0]);
	while (f && r->v[BM_BYTES] < 0 && fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %lu %lu %lu", name, &active, &num,
			   &size) == 4 &&
		    !strcmp(name, "vm_area_struct"))
			r->v[BM_BYTES] = (double)size;
	if (f)
		fclose(f);
	if (r->v[BM_BYTES] < 0)
		fputs("kernel: no vm_area_struct in /proc/slabinfo (root?)\n",
		      stderr);
	return 0;
}

const struct wk_side wk_kernel = {
	.map = map,
	.destroy = destroy,
	.thread_init = thread_init,
	.faults = faults,
	.churn = churn,
	.pair = pair,
	.split = split,
	.memory = memory,
};
