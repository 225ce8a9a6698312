/*
 * worker_kernel.c - the scenarios of the design comparison on the running
 * Linux kernel: real mmap, mprotect and munmap, and real page faults, as
 * the reference next to uvma's designs (worker.h).
 *
 * Everything lives in a private window at KWIN_BASE, claimed with
 * MAP_FIXED_NOREPLACE so that nothing else of the process is ever
 * replaced. Fault areas are anonymous private read-write mappings, each
 * followed by a one-page hole so that no two merge (one VMA per area); the
 * churn mapper's slots lie above them, where no fault thread goes.
 *
 * A fault is a write to a page that is not present. Each fault thread owns
 * pages of its own (a chunk of every area, or every T-th area when areas
 * have fewer pages than there are threads), touches them in a random order
 * without repeating one, and after a batch zaps what it touched with
 * MADV_DONTNEED, outside the timed part, so that the next touch of a page
 * faults again. The areas are cut from one mapping written once before
 * (warm()), so that none of them pays for an anon_vma in the timed phase.
 * Each thread's ru_minflt checks afterwards that the touches did fault.
 *
 * Areas beyond vm.max_map_count need the limit raised (root): it is, for
 * the run, and restored before returning, or on SIGINT, SIGTERM or SIGHUP.
 */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define PAGE	   4096ul
#define AREA_PAGES 16u /* a fault area, as on uvma's side */
/* hot: each thread's pages fill a page table of its own, so that what the
 * threads share is the VMA, not a page-table lock; and a zap, which
 * interrupts the other threads, comes once per 512 faults. */
#define HOT_CHUNK 512u
/* 80 TiB: far above the program and its heap, far below where the kernel
 * places mappings top-down (near 128 TiB); KWIN_MAX keeps below that. */
#define KWIN_BASE   0x500000000000ul
#define KWIN_MAX    (1ul << 45)
#define CHURN_SLOTS 64u
#define SLOT_PAGES  4u
#define SLOT_STRIDE ((SLOT_PAGES + 1) * PAGE)
#define SLOT_GAP    (1ul << 20)
/* Pages a thread touches between zaps (64 MiB): with fewer, the touched
 * pages of a large map lie too far apart to be zapped together. */
#define BATCH	   16384u
#define STOP_EVERY 64u
#define ZAP_GAP	   64u /* pages between two touched ones zapped by one call */
#define LAT_CAP	   (1u << 20)
#define GROW_QUIET 400000u /* areas mapped without a progress line */
/* Mappings the process may make besides the window (thread stacks, the
 * heap growing), on top of those it has. */
#define MAP_COUNT_SLACK 4096
#define MAX_MAP_COUNT	"/proc/sys/vm/max_map_count"

/* ---- vm.max_map_count ---------------------------------------------------- */

/* What was done to the limit, to undo. */
struct map_limit {
	long old;
	bool raised;
};

/* The old limit as text, for the signal handler, which may not format. */
static char limit_old_text[32];
static size_t limit_old_len;
static const int limit_signals[] = { SIGINT, SIGTERM, SIGHUP };
static struct sigaction limit_saved[3];

/* open/write/close only: the signal handler uses it too. */
static int write_text(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY), err = 0;

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
	write_text(MAX_MAP_COUNT, limit_old_text, limit_old_len);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void limit_catch(bool on)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = limit_on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < 3; i++) {
		if (on)
			sigaction(limit_signals[i], &sa, &limit_saved[i]);
		else
			sigaction(limit_signals[i], &limit_saved[i], NULL);
	}
}

/* Lines of /proc/self/maps; -1 when unreadable. */
static long count_mappings(void)
{
	char buf[65536];
	long n = 0;
	ssize_t got;
	int fd = open("/proc/self/maps", O_RDONLY);

	if (fd < 0)
		return -1;
	while ((got = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < got; i++)
			n += buf[i] == '\n';
	close(fd);
	return got < 0 ? -1 : n;
}

static int limit_raise(struct map_limit *ml, long need)
{
	char text[32];
	int len = snprintf(text, sizeof(text), "%ld\n", need), err;

	limit_old_len = (size_t)snprintf(limit_old_text, sizeof(limit_old_text),
					 "%ld\n", ml->old);
	/* Caught before the write, so that no moment is left uncovered. */
	limit_catch(true);
	err = write_text(MAX_MAP_COUNT, text, (size_t)len);
	if (err) {
		limit_catch(false);
		return err;
	}
	ml->raised = true;
	return 0;
}

/*
 * Room for vmas more mappings: raises the limit when it is too low and we
 * may. Returns how many fit (vmas, or fewer when the limit stays low).
 */
static uint64_t limit_prepare(struct map_limit *ml, uint64_t vmas)
{
	long have = count_mappings(), need;
	int err;

	ml->old = bench_read_long(MAX_MAP_COUNT);
	ml->raised = false;
	/* Unknown: let mmap say when it runs out. */
	if (ml->old < 0 || have < 0)
		return vmas;
	need = (long)vmas + have + MAP_COUNT_SLACK;
	if (ml->old >= need)
		return vmas;
	err = limit_raise(ml, need);
	if (!err)
		return vmas;
	fprintf(stderr,
		"kernel: vm.max_map_count is %ld and cannot be raised to %ld: "
		"%s\n",
		ml->old, need, strerror(-err));
	return ml->old > have + MAP_COUNT_SLACK
		       ? (uint64_t)(ml->old - have - MAP_COUNT_SLACK)
		       : 0;
}

static void limit_restore(const struct map_limit *ml)
{
	int err;

	if (!ml->raised)
		return;
	err = write_text(MAX_MAP_COUNT, limit_old_text, limit_old_len);
	limit_catch(false);
	if (err)
		fprintf(stderr,
			"kernel: could not restore vm.max_map_count to %ld: "
			"%s\n",
			ml->old, strerror(-err));
}

/* ---- the areas ----------------------------------------------------------- */

/* Area i at base + i * stride: pages, then a one-page hole. */
struct layout {
	char *base;
	size_t stride;
	uint64_t areas;
	unsigned pages;
};

static char *area_at(const struct layout *l, uint64_t i)
{
	return l->base + i * l->stride;
}

/*
 * One read-write mapping over [addr, addr + len), which must be free.
 * MAP_NORESERVE: a window of many areas can exceed what the kernel would
 * commit, and only the pages touched are ever used.
 */
static int reserve(char *addr, size_t len)
{
	void *q = mmap(addr, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			       MAP_FIXED_NOREPLACE,
		       -1, 0);

	if (q != addr) {
		fprintf(stderr, "kernel: cannot map %zu bytes at %p: %s\n", len,
			(void *)addr,
			q == MAP_FAILED ? strerror(errno) : "moved");
		if (q != MAP_FAILED)
			munmap(q, len);
		return -1;
	}
	/* Before any write: a huge page would make one fault fill many. */
	if (madvise(addr, len, MADV_NOHUGEPAGE)) {
		fprintf(stderr, "kernel: MADV_NOHUGEPAGE: %s\n",
			strerror(errno));
		munmap(addr, len);
		return -1;
	}
	return 0;
}

/* Areas [from, to) of the reserved mapping become VMAs of their own. */
static int punch_holes(const struct layout *l, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to; i++) {
		if (munmap(area_at(l, i) + l->pages * PAGE, PAGE)) {
			fprintf(stderr,
				"kernel: hole after area %" PRIu64 ": %s "
				"(vm.max_map_count?)\n",
				i, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/*
 * Give a fresh mapping its anon_vma before it is split into areas, and
 * every area shares it: the first write fault of a VMA allocates one under
 * mmap_lock, a one-time cost that is not the steady fault path compared
 * here, and a million of them would take seconds.
 */
static int warm(char *start)
{
	*(volatile char *)start = 1;
	if (!madvise(start, PAGE, MADV_DONTNEED))
		return 0;
	fprintf(stderr, "kernel: MADV_DONTNEED: %s\n", strerror(errno));
	return -1;
}

/* ---- fault threads ------------------------------------------------------- */

/* What the threads of one timed phase share. */
struct phase {
	struct layout lay;
	unsigned nthreads;
	char *slots; /* churn: the mapper's first slot; NULL: no mapper */
	_Atomic unsigned ready;
	_Atomic bool go, stop;
};

/*
 * The pages one thread owns: its unit u is page poff + u % chunk of area
 * (u / chunk) * astep + aoff.
 */
struct share {
	uint64_t units;
	unsigned chunk, astep, aoff, poff;
};

struct faulter {
	pthread_t tid;
	struct phase *ph;
	unsigned index; /* for wk_pin */
	struct share sh;
	uint64_t rng;
	uint32_t *perm; /* units; perm[next..] untouched this sweep */
	uint64_t next;
	char **batch; /* the batch's pages, in touch order */
	uint64_t faults, errors, minflt, ns;
	struct wk_lat lat;
};

static void share_of(const struct layout *l, unsigned t, unsigned nthreads,
		     struct share *s)
{
	if (l->pages >= nthreads) {
		s->chunk = l->pages / nthreads;
		s->astep = 1;
		s->aoff = 0;
		s->poff = t * s->chunk;
		s->units = l->areas * s->chunk;
		return;
	}
	s->chunk = l->pages;
	s->astep = nthreads;
	s->aoff = t;
	s->poff = 0;
	s->units = l->areas > t
			   ? (l->areas - t + nthreads - 1) / nthreads * l->pages
			   : 0;
}

static char *unit_addr(const struct layout *l, const struct share *s,
		       uint64_t u)
{
	uint64_t area = u / s->chunk * s->astep + s->aoff;

	return area_at(l, area) + (s->poff + u % s->chunk) * PAGE;
}

/* Both kinds of thread start together, once all are ready. */
static void gate_wait(struct phase *ph)
{
	atomic_fetch_add_explicit(&ph->ready, 1, memory_order_relaxed);
	while (!atomic_load_explicit(&ph->go, memory_order_acquire))
		sched_yield();
}

static bool stopped(struct phase *ph)
{
	return atomic_load_explicit(&ph->stop, memory_order_relaxed);
}

/*
 * The next batch. Its Fisher-Yates steps are taken here, out of the timed
 * loop, one batch at a time: no page repeats within a sweep, and a sweep
 * of millions of pages costs nothing up front.
 */
static size_t prepare_batch(struct faulter *f)
{
	uint64_t n = f->sh.units, k;

	/* A new sweep: every page of the last one was zapped. */
	if (f->next == n)
		f->next = 0;
	k = n - f->next < BATCH ? n - f->next : BATCH;
	for (uint64_t i = 0; i < k; i++) {
		uint64_t at = f->next + i;
		uint64_t j = at + bench_rand_below(&f->rng, n - at);
		uint32_t u = f->perm[j];

		f->perm[j] = f->perm[at];
		f->perm[at] = u;
		f->batch[i] = unit_addr(&f->ph->lay, &f->sh, u);
	}
	return (size_t)k;
}

/* The timed part: one write per page, so one fault each. */
static size_t touch_batch(struct faulter *f, size_t k)
{
	size_t i;

	for (i = 0; i < k; i++) {
		/* Read once per few faults: it costs a shared line. */
		if (i % STOP_EVERY == 0 && stopped(f->ph))
			break;
		if ((f->faults + i) % WK_SAMPLE_EVERY == 0) {
			uint64_t t0 = bench_now_ns();

			*(volatile char *)f->batch[i] = 1;
			wk_lat_add(&f->lat, bench_now_ns() - t0);
		} else {
			*(volatile char *)f->batch[i] = 1;
		}
	}
	f->faults += i;
	f->next += i;
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
static void zap_batch(struct faulter *f, size_t k)
{
	qsort(f->batch, k, sizeof(*f->batch), cmp_addr);
	for (size_t i = 0, j; i < k; i = j) {
		for (j = i + 1; j < k && f->batch[j] - f->batch[j - 1] <=
						 (ptrdiff_t)(ZAP_GAP * PAGE);
		     j++)
			;
		if (madvise(f->batch[i],
			    (size_t)(f->batch[j - 1] - f->batch[i]) + PAGE,
			    MADV_DONTNEED) &&
		    errno != ENOMEM)
			f->errors++;
	}
}

static void *faulter_main(void *arg)
{
	struct faulter *f = arg;
	struct rusage r0, r1;

	wk_pin(f->index);
	gate_wait(f->ph);
	getrusage(RUSAGE_THREAD, &r0);
	while (f->sh.units && !stopped(f->ph)) {
		size_t k = prepare_batch(f);
		uint64_t t0 = bench_now_ns();

		k = touch_batch(f, k);
		f->ns += bench_now_ns() - t0;
		zap_batch(f, k);
	}
	getrusage(RUSAGE_THREAD, &r1);
	f->minflt = (uint64_t)(r1.ru_minflt - r0.ru_minflt);
	return NULL;
}

static int faulter_init(struct faulter *f, struct phase *ph, unsigned t,
			uint64_t seed)
{
	memset(f, 0, sizeof(*f));
	f->ph = ph;
	f->index = t;
	f->rng = seed * 1000003u + t;
	share_of(&ph->lay, t, ph->nthreads, &f->sh);
	if (f->sh.units > UINT32_MAX) {
		fprintf(stderr, "kernel: too many pages per thread\n");
		return -EINVAL;
	}
	f->perm = malloc((f->sh.units ? f->sh.units : 1) * sizeof(*f->perm));
	f->batch = malloc(BATCH * sizeof(*f->batch));
	if (!f->perm || !f->batch || wk_lat_init(&f->lat, LAT_CAP)) {
		fprintf(stderr, "kernel: out of memory\n");
		return -ENOMEM;
	}
	for (uint64_t u = 0; u < f->sh.units; u++)
		f->perm[u] = (uint32_t)u;
	return 0;
}

static void faulter_free(struct faulter *f)
{
	free(f->perm);
	free(f->batch);
	wk_lat_free(&f->lat);
}

/* ---- the churn mapper ---------------------------------------------------- */

struct mapper {
	pthread_t tid;
	struct phase *ph;
	uint64_t ops, errors, ns;
};

/* Map, split by mprotect, unmap: three map changes. */
static void mapper_cycle(struct mapper *m, char *slot)
{
	size_t len = SLOT_PAGES * PAGE;
	void *q = mmap(slot, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

	m->errors += q != slot;
	m->errors += mprotect(slot, len / 2, PROT_READ) != 0;
	m->errors += munmap(slot, len) != 0;
	m->ops += 3;
}

static void *mapper_main(void *arg)
{
	struct mapper *m = arg;
	struct phase *ph = m->ph;
	uint64_t t0;

	wk_pin(ph->nthreads); /* after the fault threads, as on uvma's side */
	gate_wait(ph);
	t0 = bench_now_ns();
	for (unsigned s = 0; !stopped(ph); s = (s + 1) % CHURN_SLOTS)
		mapper_cycle(m, ph->slots + s * SLOT_STRIDE);
	m->ns = bench_now_ns() - t0;
	return NULL;
}

/* ---- one timed phase ----------------------------------------------------- */

struct phase_out {
	double faults_per_s, ops_per_s, p50, p99;
	uint64_t errors;
};

/* Threads started: all of them, or fewer after saying why. */
static int start_threads(struct phase *ph, struct faulter *fs, struct mapper *m,
			 unsigned *nf, bool *mapper_on)
{
	for (*nf = 0; *nf < ph->nthreads; ++*nf)
		if (pthread_create(&fs[*nf].tid, NULL, faulter_main,
				   &fs[*nf])) {
			fputs("kernel: cannot start a fault thread\n", stderr);
			return -EAGAIN;
		}
	*mapper_on =
		ph->slots && !pthread_create(&m->tid, NULL, mapper_main, m);
	if (ph->slots && !*mapper_on) {
		fputs("kernel: cannot start the mapper\n", stderr);
		return -EAGAIN;
	}
	return 0;
}

/* The main thread's part: start them all at once, stop them on time. */
static void time_phase(struct phase *ph, unsigned nthreads, double seconds)
{
	while (atomic_load_explicit(&ph->ready, memory_order_relaxed) <
	       nthreads)
		sched_yield();
	atomic_store_explicit(&ph->go, true, memory_order_release);
	wk_sleep_s(seconds);
}

/* Touches that took no fault would make the rate a lie. */
static uint64_t check_faults(const struct faulter *f, unsigned t)
{
	if ((double)f->minflt >= 0.9 * (double)f->faults)
		return 0;
	fprintf(stderr,
		"kernel: thread %u touched %" PRIu64 " pages but took %" PRIu64
		" page faults\n",
		t, f->faults, f->minflt);
	return 1;
}

static void gather(struct faulter *fs, unsigned n, struct phase_out *out)
{
	struct wk_lat lats[n ? n : 1];

	out->p50 = out->p99 = -1;
	for (unsigned t = 0; t < n; t++) {
		if (fs[t].ns)
			out->faults_per_s +=
				(double)fs[t].faults / ((double)fs[t].ns / 1e9);
		out->errors += fs[t].errors + check_faults(&fs[t], t);
		lats[t] = fs[t].lat;
	}
	wk_lat_percentiles(lats, n, &out->p50, &out->p99);
}

static int run_threads(struct phase *ph, struct faulter *fs, double seconds,
		       struct phase_out *out)
{
	struct mapper m = { .ph = ph };
	unsigned nf = 0;
	bool mapper_on = false;
	int err = start_threads(ph, fs, &m, &nf, &mapper_on);

	if (!err)
		time_phase(ph, nf + mapper_on, seconds);
	atomic_store(&ph->stop, true);
	atomic_store(&ph->go, true);
	for (unsigned t = 0; t < nf; t++)
		pthread_join(fs[t].tid, NULL);
	if (mapper_on)
		pthread_join(m.tid, NULL);
	memset(out, 0, sizeof(*out));
	gather(fs, nf, out);
	out->ops_per_s = m.ns ? (double)m.ops / ((double)m.ns / 1e9) : -1;
	out->errors += m.errors;
	return err;
}

static int phase_run(struct phase *ph, double seconds, uint64_t seed,
		     struct phase_out *out)
{
	struct faulter *fs = calloc(ph->nthreads, sizeof(*fs));
	int err = fs ? 0 : -ENOMEM;

	for (unsigned t = 0; !err && t < ph->nthreads; t++)
		err = faulter_init(&fs[t], ph, t, seed);
	if (!err)
		err = run_threads(ph, fs, seconds, out);
	for (unsigned t = 0; fs && t < ph->nthreads; t++)
		faulter_free(&fs[t]);
	free(fs);
	return err;
}

static void fill_phase(struct wk_result *r, const struct phase_out *o)
{
	r->faults_per_s = o->faults_per_s;
	r->p50_ns = o->p50;
	r->p99_ns = o->p99;
	r->errors += o->errors;
	if (o->ops_per_s >= 0)
		r->ops_per_s = o->ops_per_s;
}

/* ---- fault, churn, hot --------------------------------------------------- */

/* The fault areas, then the mapper's slots, left free. */
static int build_window(const struct layout *l, size_t len, bool *owned)
{
	size_t areas_len = l->areas * l->stride;

	if (reserve(l->base, len))
		return -1;
	*owned = true;
	if (munmap(l->base + areas_len, len - areas_len)) {
		fprintf(stderr, "kernel: munmap: %s\n", strerror(errno));
		return -1;
	}
	if (warm(l->base))
		return -1;
	return punch_holes(l, 0, l->areas);
}

static void fault_layout(const struct wk_params *p, struct layout *l)
{
	bool hot = !strcmp(p->scenario, "hot");

	l->base = (char *)KWIN_BASE;
	/* hot: one area, a chunk per thread; elsewhere at least a page per
	 * thread in every area. */
	l->areas = hot ? 1 : p->areas[0];
	l->pages = hot			     ? HOT_CHUNK * p->threads
		   : p->threads > AREA_PAGES ? p->threads
					     : AREA_PAGES;
	l->stride = (l->pages + 1) * PAGE;
}

static int run_faults(const struct wk_params *p, struct wk_result *r)
{
	struct phase ph = { .nthreads = p->threads };
	struct map_limit ml = { .raised = false };
	struct phase_out out;
	bool owned = false;
	size_t len;
	int err = -1;

	fault_layout(p, &ph.lay);
	wk_result_init(r, ph.lay.areas, p->threads);
	if (ph.lay.areas >
	    (KWIN_MAX - SLOT_GAP) / ph.lay.stride - CHURN_SLOTS) {
		fputs("kernel: too many areas for the window\n", stderr);
		return -1;
	}
	len = ph.lay.areas * ph.lay.stride + SLOT_GAP +
	      CHURN_SLOTS * SLOT_STRIDE;
	if (limit_prepare(&ml, ph.lay.areas + CHURN_SLOTS) <
	    ph.lay.areas + CHURN_SLOTS)
		fputs("kernel: too many areas for vm.max_map_count\n", stderr);
	else
		err = build_window(&ph.lay, len, &owned);
	if (!err && !strcmp(p->scenario, "churn")) {
		/* The reference, just before and in the same process. */
		err = phase_run(&ph, p->seconds, p->seed, &out);
		r->base_faults_per_s = out.faults_per_s;
		r->errors += out.errors;
		atomic_store(&ph.ready, 0);
		atomic_store(&ph.go, false);
		atomic_store(&ph.stop, false);
		ph.slots = area_at(&ph.lay, ph.lay.areas) + SLOT_GAP;
	}
	if (!err)
		err = phase_run(&ph, p->seconds, p->seed + 1, &out);
	if (!err)
		fill_phase(r, &out);
	/* Only what was ours: a failed claim may have met someone else's. */
	if (owned)
		munmap(ph.lay.base, len);
	limit_restore(&ml);
	return err;
}

/* ---- scale --------------------------------------------------------------- */

/* Grows the map to n one-page areas, each its own VMA. */
static int grow(struct layout *l, uint64_t n)
{
	uint64_t from = l->areas;

	/* About 5 us an area: say so before a wait of seconds. */
	if (n - from >= GROW_QUIET)
		fprintf(stderr, "kernel: scale: mapping %" PRIu64 " areas\n",
			n - from);
	if (reserve(area_at(l, from), (n - from) * l->stride))
		return -1;
	l->areas = n;
	if (warm(area_at(l, from)) || punch_holes(l, from, n))
		return -1;
	return 0;
}

/* A page into the hole after area i, read-only so that it merges with
 * neither neighbour, and out again. Returns the calls that failed. */
static uint64_t probe_pair(const struct layout *l, uint64_t i)
{
	char *hole = area_at(l, i) + l->pages * PAGE;
	void *q =
		mmap(hole, PAGE, PROT_READ,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (q != hole) {
		if (q != MAP_FAILED)
			munmap(q, PAGE);
		return 1;
	}
	return munmap(hole, PAGE) != 0;
}

static void pairs_phase(const struct layout *l, double seconds, uint64_t *rng,
			struct wk_result *r)
{
	uint64_t t0 = bench_now_ns(), now, pairs = 0;

	do {
		/* The clock is read once per 64 pairs, not per pair. */
		for (int i = 0; i < 64; i++)
			r->errors +=
				probe_pair(l, bench_rand_below(rng, l->areas));
		pairs += 64;
		now = bench_now_ns();
	} while ((double)(now - t0) < seconds * 1e9);
	r->ops_per_s = (double)pairs / ((double)(now - t0) / 1e9);
}

static int scale_size(const struct layout *l, const struct wk_params *p,
		      uint64_t *rng, struct wk_result *r)
{
	struct phase ph = { .lay = *l, .nthreads = p->threads };
	struct phase_out out;
	int err;

	pairs_phase(l, p->seconds / 2, rng, r);
	err = phase_run(&ph, p->seconds / 2, bench_rand(rng), &out);
	if (!err)
		fill_phase(r, &out);
	return err;
}

static int run_scale(const struct wk_params *p, struct wk_result *res,
		     size_t *nres)
{
	struct layout l = { .base = (char *)KWIN_BASE,
			    .stride = 2 * PAGE,
			    .pages = 1 };
	uint64_t largest = p->areas[p->nareas - 1], fit, rng = p->seed;
	struct map_limit ml;
	int err = 0;

	if (largest > KWIN_MAX / l.stride) {
		fputs("kernel: too many areas for the window\n", stderr);
		return -1;
	}
	fit = limit_prepare(&ml, largest);
	for (size_t i = 0; !err && i < p->nareas; i++) {
		if (p->areas[i] > fit) {
			fprintf(stderr,
				"kernel: scale: %" PRIu64 " areas and more "
				"not measured (vm.max_map_count)\n",
				p->areas[i]);
			break;
		}
		wk_result_init(&res[i], p->areas[i], p->threads);
		err = grow(&l, p->areas[i]);
		if (!err)
			err = scale_size(&l, p, &rng, &res[i]);
		if (!err)
			*nres = i + 1;
	}
	munmap(l.base, l.areas * l.stride);
	limit_restore(&ml);
	/* Not one size fitted: nothing measured is a failure. */
	return err ? err : *nres ? 0 : -1;
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

static int run_memory(const struct wk_params *p, struct wk_result *r)
{
	wk_result_init(r, p->areas[0], 0);
	r->bytes_per_vma = slab_objsize("vm_area_struct");
	if (r->bytes_per_vma < 0)
		fputs("kernel: vm_area_struct not found in /proc/slabinfo "
		      "(root?): bytes_per_vma not measured\n",
		      stderr);
	return 0;
}

const struct wk_side wk_kernel = {
	.faults = run_faults,
	.scale = run_scale,
	.memory = run_memory,
};
