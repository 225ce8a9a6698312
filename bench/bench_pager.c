/*
 * bench_pager.c - the "pager" scenario (docs/bench.md): real memory whose
 * missing pages a pager fills, four designs side by side on the same
 * workloads (bench_pager.h): uvma's pager with SIGBUS delivery and with
 * two handler threads, the global pager of bench_pager_global.c, and the
 * running kernel's own mmap.
 *
 *   file   a file of --size bytes (256 MiB) mapped MAP_PRIVATE, one 8-byte
 *          store per page, in order or shuffled, page cache cold or warm;
 *   anon   the same size of anonymous memory, first touch;
 *   churn  faults on fresh pages while a mapper thread maps, fills,
 *          mprotects and unmaps other areas (bench_pager_churn.c).
 *
 * A run of file or anon builds the design's space, maps the memory,
 * (cold) drops the file's pages from the page cache, then times the
 * touching threads from the first store to the last: ns per page is that
 * wall time over the pages. Every store is checked afterwards, with the
 * file's bytes beside it. Designs are interleaved in each repeat, so that
 * a drift of the machine touches them alike; a run's ratio is against the
 * kernel's run of the same repeat.
 */
#define _GNU_SOURCE
#include "bench_pager.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define PB_MAX_THREADS 2
#define DEFAULT_BYTES  (UINT64_C(256) << 20)
#define ANON_AROUND    (64u << 10) /* uvma's pager_anon_around for anon */
#define CHUNK	       (1u << 20)  /* file writes and warming reads */
#define TMPFS_MAGIC    0x01021994

enum {
	W_FILE_SEQ_COLD,
	W_FILE_SHUF_COLD,
	W_FILE_SEQ_WARM,
	W_FILE_SHUF_WARM,
	W_ANON_SEQ,
	W_ANON_SHUF,
	NW
};

static const struct workload {
	const char *name;
	bool file, shuffled, cold;
} workloads[NW] = {
	{ "file seq cold", true, false, true },
	{ "file shuf cold", true, true, true },
	{ "file seq warm", true, false, false },
	{ "file shuf warm", true, true, false },
	{ "anon seq", false, false, false },
	{ "anon shuf", false, true, false },
};

/* The scenario's state: the file, the order of the pages, what was done
 * to make the cache cold. */
struct pager_bench {
	const struct bench_opts *o;
	struct bench_report *rep;
	bool on[PB_NSIDES];
	unsigned threads[PB_MAX_THREADS], nthreads;
	uint64_t bytes, pages;
	uint32_t *perm; /* a random order of the pages (--seed) */
	char dir[PATH_MAX], path[PATH_MAX + 16];
	int fd;
	bool root, tmpfs;
	double resident_max; /* of the file after a drop, fraction */
	struct bench_row *rows[NW][PB_MAX_THREADS][PB_NSIDES];
};

/* The file's 8-byte word w; the store a touch leaves at page p. */
static uint64_t pattern(uint64_t w)
{
	return w * UINT64_C(0x9e3779b97f4a7c15) + 1;
}

static uint64_t stamp(uint64_t p)
{
	return p ^ UINT64_C(0xfeedfacecafebeef);
}

/* ---- the file ------------------------------------------------------------ */

/* A size as it was given: in MiB when whole ones, else KiB. */
static uint64_t size_num(uint64_t bytes)
{
	return bytes % (1u << 20) ? bytes >> 10 : bytes >> 20;
}

static const char *size_unit(uint64_t bytes)
{
	return bytes % (1u << 20) ? "KiB" : "MiB";
}

static int write_file(struct pager_bench *b)
{
	uint64_t *buf = malloc(CHUNK);
	int err = buf ? 0 : -ENOMEM;

	for (uint64_t at = 0; at < b->bytes && !err; at += CHUNK) {
		size_t n = b->bytes - at < CHUNK ? b->bytes - at : CHUNK;

		for (size_t i = 0; i < n / 8; i++)
			buf[i] = pattern(at / 8 + i);
		if (pwrite(b->fd, buf, n, (off_t)at) != (ssize_t)n)
			err = -EIO;
	}
	free(buf);
	return err || fsync(b->fd) ? -EIO : 0;
}

/* The file, in a directory of its own under $TMPDIR (or /tmp), on the
 * disk unless that is tmpfs (then cold is warm, and the notes say so). */
static int make_file(struct pager_bench *b)
{
	const char *tmp = getenv("TMPDIR");
	struct statfs fs;

	snprintf(b->dir, sizeof(b->dir), "%s/uvma-pager-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(b->dir)) {
		fprintf(stderr, "bench: pager: mkdtemp %s: %s\n", b->dir,
			strerror(errno));
		b->dir[0] = '\0';
		return -1;
	}
	snprintf(b->path, sizeof(b->path), "%s/file", b->dir);
	b->fd = open(b->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (b->fd < 0 || write_file(b)) {
		fprintf(stderr, "bench: pager: cannot write %s\n", b->path);
		return -1;
	}
	b->tmpfs = !fstatfs(b->fd, &fs) && fs.f_type == TMPFS_MAGIC;
	return 0;
}

static void remove_file(struct pager_bench *b)
{
	if (b->fd >= 0)
		close(b->fd);
	if (b->path[0])
		unlink(b->path);
	if (b->dir[0])
		rmdir(b->dir);
}

/* The file's pages out of the page cache: written back (fsync), dropped
 * (POSIX_FADV_DONTNEED), and as root every clean page cache page too
 * (drop_caches), so that nothing of it stays behind. */
static void drop_cache(struct pager_bench *b)
{
	int fd;

	(void)fsync(b->fd);
	(void)posix_fadvise(b->fd, 0, 0, POSIX_FADV_DONTNEED);
	if (!b->root)
		return;
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "1", 1) != 1)
		b->root = false; /* a container may forbid it: say so */
	if (fd >= 0)
		close(fd);
}

/* Every page of the file read once, so that a warm run finds it cached. */
static void warm_cache(struct pager_bench *b)
{
	char *buf = malloc(CHUNK);

	for (uint64_t at = 0; buf && at < b->bytes; at += CHUNK)
		if (pread(b->fd, buf, CHUNK, (off_t)at) <= 0)
			break;
	free(buf);
}

/* The fraction of the file in the page cache (mincore of a mapping that
 * is never touched), or -1. */
static double resident(struct pager_bench *b)
{
	unsigned char *vec = malloc(b->pages);
	void *p = mmap(NULL, b->bytes, PROT_READ, MAP_SHARED, b->fd, 0);
	uint64_t in = 0;
	double r = -1;

	if (vec && p != MAP_FAILED && !mincore(p, b->bytes, vec)) {
		for (uint64_t i = 0; i < b->pages; i++)
			in += vec[i] & 1;
		r = (double)in / (double)b->pages;
	}
	if (p != MAP_FAILED)
		munmap(p, b->bytes);
	free(vec);
	return r;
}

/* ---- touching ------------------------------------------------------------ */

struct toucher {
	pthread_t tid;
	unsigned cpu;
	uint64_t base, first, n; /* pages [first, first + n) of the order */
	const uint32_t *order;	 /* NULL: page i is i */
	pthread_barrier_t *start;
	uint64_t t0, t1;
};

static void *touch_main(void *arg)
{
	struct toucher *t = arg;

	pb_pin(t->cpu);
	pthread_barrier_wait(t->start);
	t->t0 = bench_now_ns();
	for (uint64_t i = t->first; i < t->first + t->n; i++) {
		uint64_t p = t->order ? t->order[i] : i;

		*(volatile uint64_t *)(uintptr_t)(t->base + p * PB_PAGE) =
			stamp(p);
	}
	t->t1 = bench_now_ns();
	return NULL;
}

/* The touching phase: nthreads threads, each on a CPU of its own and a
 * share of the pages; the wall time from the first start to the last
 * end, or 0 when a thread could not start. */
static uint64_t touch(const struct pager_bench *b, uint64_t base, bool shuffled,
		      unsigned nthreads)
{
	struct toucher t[PB_MAX_THREADS];
	pthread_barrier_t start;
	uint64_t t0 = UINT64_MAX, t1 = 0;
	unsigned i, started = 0;

	pthread_barrier_init(&start, NULL, nthreads);
	for (i = 0; i < nthreads; i++) {
		t[i] = (struct toucher){
			.cpu = i,
			.base = base,
			.first = b->pages * i / nthreads,
			.n = b->pages * (i + 1) / nthreads -
			     b->pages * i / nthreads,
			.order = shuffled ? b->perm : NULL,
			.start = &start,
		};
		if (pthread_create(&t[i].tid, NULL, touch_main, &t[i]))
			break;
		started++;
	}
	/* a thread that did not start leaves the others at the barrier:
	 * there is no way out but to stop */
	if (started < nthreads) {
		fprintf(stderr, "bench: pager: cannot start threads\n");
		exit(1);
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(t[i].tid, NULL);
		t0 = t[i].t0 < t0 ? t[i].t0 : t0;
		t1 = t[i].t1 > t1 ? t[i].t1 : t1;
	}
	pthread_barrier_destroy(&start);
	return t1 - t0;
}

/* Every page holds its store, and next to it the file's word (or zero):
 * the fill was the right one. The first bad page, or -1. */
static int64_t check(const struct pager_bench *b, uint64_t base, bool file)
{
	for (uint64_t p = 0; p < b->pages; p++) {
		const volatile uint64_t *w =
			(const volatile uint64_t *)(uintptr_t)(base +
							       p * PB_PAGE);

		if (w[0] != stamp(p) ||
		    w[1] != (file ? pattern(p * (PB_PAGE / 8) + 1) : 0))
			return (int64_t)p;
	}
	return -1;
}

/* ---- a run --------------------------------------------------------------- */

/*
 * One run of workload w by side d with nthreads: its ns per page and
 * faults per page filed into its row; 0, or -1 after saying what failed.
 */
static int run_one(struct pager_bench *b, int w, unsigned ti, int d)
{
	const struct workload *wl = &workloads[w];
	const struct pb_side *s = &pb_sides[d];
	/* A file description of the run's own: the kernel keeps readahead
	 * state in it, which one run must not hand to the next. */
	struct pb_cfg cfg = {
		.base = PB_BASE + (uint64_t)d * PB_STRIDE,
		.size = b->bytes + PB_PAGE,
		.anon_around = wl->file ? 0 : ANON_AROUND,
		.fd = wl->file ? open(b->path, O_RDONLY | O_CLOEXEC) : -1,
	};
	double v[BM_N];
	uint64_t ns = 0, f0 = 0, f1 = 0;
	int64_t bad = -1;
	void *space = NULL;
	int err = wl->file && cfg.fd < 0 ? -errno : s->open(&cfg, &space);

	if (!err)
		err = s->map(space, cfg.base, b->bytes, PROT_READ | PROT_WRITE,
			     wl->file);
	if (!err && wl->file && wl->cold) {
		double r;

		drop_cache(b);
		r = resident(b);
		b->resident_max = r > b->resident_max ? r : b->resident_max;
	} else if (!err && wl->file) {
		warm_cache(b);
	}
	if (!err) {
		f0 = s->faults(space);
		ns = touch(b, cfg.base, wl->shuffled, b->threads[ti]);
		f1 = s->faults(space);
		bad = check(b, cfg.base, wl->file);
	}
	if (space)
		s->close(space);
	if (cfg.fd >= 0)
		close(cfg.fd);
	if (err || bad >= 0 || !ns) {
		fprintf(stderr, "bench: pager: %s %ut %s: %s\n", wl->name,
			b->threads[ti], s->name,
			err ? strerror(-err) : "a page holds wrong bytes");
		return -1;
	}
	for (int m = 0; m < BM_N; m++)
		v[m] = -1;
	v[BM_NS_PAGE] = (double)ns / (double)b->pages;
	v[BM_FAULTS_PAGE] = (double)(f1 - f0) / (double)b->pages;
	bench_run(b->rows[w][ti][d], v);
	return 0;
}

/* Fisher-Yates with the scenario's seed: the shuffled order, the same for
 * every design and run. */
static int shuffle(struct pager_bench *b)
{
	uint64_t rng = b->o->seed;

	b->perm = malloc(b->pages * sizeof(*b->perm));
	if (!b->perm)
		return -1;
	for (uint64_t i = 0; i < b->pages; i++)
		b->perm[i] = (uint32_t)i;
	for (uint64_t i = b->pages; i > 1; i--) {
		uint64_t j = bench_rand_below(&rng, i);
		uint32_t tmp = b->perm[i - 1];

		b->perm[i - 1] = b->perm[j];
		b->perm[j] = tmp;
	}
	return 0;
}

/* Every run's ratio: against the kernel's run of the same repeat. */
static void set_floors(struct pager_bench *b)
{
	for (int w = 0; w < NW; w++)
		for (unsigned ti = 0; ti < b->nthreads; ti++) {
			const struct bench_row *k = b->rows[w][ti][PB_KERNEL];

			for (int d = 0; d < PB_NSIDES; d++) {
				struct bench_row *r = b->rows[w][ti][d];

				for (unsigned i = 0; r && i < r->nruns; i++)
					r->run[i][BM_FLOOR] =
						k && i < k->nruns
							? k->run[i][BM_NS_PAGE]
							: -1;
			}
		}
}

/*
 * The rows, in the order of the table, then every repeat: workloads,
 * thread counts and designs interleaved, so that each design of a
 * configuration runs seconds after the others.
 */
static int run_touches(struct pager_bench *b)
{
	int failed = 0;

	for (int w = 0; w < NW; w++)
		for (unsigned ti = 0; ti < b->nthreads; ti++)
			for (int d = 0; d < PB_NSIDES; d++)
				if (b->on[d] &&
				    !(b->rows[w][ti][d] = bench_row(
					      b->rep, workloads[w].name,
					      pb_sides[d].name, b->threads[ti],
					      b->pages)))
					return -1;
	for (unsigned k = 0; k < b->o->repeat; k++) {
		for (int w = 0; w < NW; w++)
			for (unsigned ti = 0; ti < b->nthreads; ti++)
				for (int d = 0; d < PB_NSIDES; d++)
					if (b->on[d])
						failed |= run_one(b, w, ti, d);
		bench_progress("pager: file and anon, run %u/%u done", k + 1,
			       b->o->repeat);
	}
	set_floors(b);
	return failed;
}

/* --design: the chosen sides; 0 or -1 after naming a wrong one. */
static int choose(struct pager_bench *b)
{
	char list[128], *save = NULL, *tok;
	int d;

	snprintf(list, sizeof(list), "%s", b->o->designs ? b->o->designs : "");
	for (d = 0; d < PB_NSIDES; d++)
		b->on[d] = !b->o->designs;
	for (tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (d = 0; d < PB_NSIDES && strcmp(tok, pb_sides[d].name); d++)
			;
		if (d == PB_NSIDES) {
			fprintf(stderr, "bench: pager: unknown design: %s\n",
				tok);
			return -1;
		}
		b->on[d] = true;
	}
	return 0;
}

static void say_setup(struct pager_bench *b)
{
	char thp[64] = "?";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

	if (f && fgets(thp, sizeof(thp), f))
		thp[strcspn(thp, "\n")] = '\0';
	if (f)
		fclose(f);
	bench_note(b->rep,
		   "\nfile: %" PRIu64 " %s (%" PRIu64 " pages) in %s,\n"
		   "      mapped MAP_PRIVATE, one 8-byte store a page, every "
		   "page checked after;\n"
		   "      cold: fsync + POSIX_FADV_DONTNEED%s before each "
		   "run,\n"
		   "      then at most %.1f%% of the file cached; warm: read "
		   "through first.%s",
		   size_num(b->bytes), size_unit(b->bytes), b->pages, b->dir,
		   b->root ? " + drop_caches (root)"
			   : " (not root: no "
			     "drop_caches)",
		   b->resident_max * 100,
		   b->tmpfs ? "\n      The file is on tmpfs: cold is warm "
			      "there."
			    : "");
	bench_note(b->rep,
		   "anon: the same size, first touch; uvma with "
		   "pager_anon_around = %u KiB,\n"
		   "      the kernel with MADV_NOHUGEPAGE (a fault per 4 KiB);"
		   "\n      THP here: %s.\n"
		   "uvma: file fault-around the default (64 KiB); "
		   "uvma-threads: pager_threads = 2.\n"
		   "shuf: one random order of the pages (seed %" PRIu64 "); "
		   "2 threads take half each.\n"
		   "ratio: ns/page over the kernel's in the same repeat, "
		   "median of per-run ratios;\n"
		   "       faults per page are in the JSON.",
		   ANON_AROUND >> 10, thp, b->o->seed);
}

int bench_pager(const struct bench_opts *o, struct bench_report *rep)
{
	struct pager_bench b = { .o = o, .rep = rep, .fd = -1 };
	uint64_t t0 = bench_now_ns();
	int err = choose(&b);

	if (err)
		return err;
	err = pb_pager_usable();
	if (err == -EPERM || err == -ENOSYS) {
		printf("pager: skipped: userfaultfd is not available here "
		       "(%s); it needs root or\n"
		       "vm.unprivileged_userfaultfd = 1\n",
		       strerror(-err));
		return 0;
	}
	b.bytes = ((o->bytes ? o->bytes : DEFAULT_BYTES) + PB_PAGE - 1) &
		  ~(uint64_t)(PB_PAGE - 1);
	b.pages = b.bytes / PB_PAGE;
	b.root = geteuid() == 0;
	b.threads[0] = o->threads ? o->threads : 1;
	b.threads[1] = 2;
	b.nthreads = o->threads ? 1 : 2;
	if (b.threads[0] > PB_MAX_THREADS) {
		fprintf(stderr, "bench: pager: at most %d threads\n",
			PB_MAX_THREADS);
		return -1;
	}
	snprintf(rep->title, sizeof(rep->title),
		 "pager: ns per page (ratio to the kernel), median of %u "
		 "runs, %" PRIu64 " pages",
		 o->repeat, b.pages);
	bench_progress("pager: writing a %" PRIu64 " %s file",
		       size_num(b.bytes), size_unit(b.bytes));
	err = make_file(&b) || shuffle(&b) || run_touches(&b);
	remove_file(&b);
	free(b.perm);
	/* churn needs neither the file nor the other workloads */
	err |= pb_churn(o, rep, b.on);
	say_setup(&b);
	bench_note(rep, "the pager scenario took %.0f s",
		   (double)(bench_now_ns() - t0) / 1e9);
	return err;
}

/* ---- goals --------------------------------------------------------------- */

/* The median over the repeats of a's metric m over b's, run by run (runs
 * of the same repeat ran seconds apart), or -1. */
static double run_ratio(const struct bench_row *a, const struct bench_row *b,
			int m)
{
	double v[BENCH_MAX_RUNS];
	unsigned n = 0;

	for (unsigned k = 0; a && b && k < a->nruns && k < b->nruns; k++)
		if (a->run[k][m] > 0 && b->run[k][m] > 0)
			v[n++] = a->run[k][m] / b->run[k][m];
	return n ? bench_median(v, n) : -1;
}

/* The better uvma design on a workload (the lower median ns/page), or
 * NULL when neither ran. */
static const struct bench_row *best_uvma(const struct bench_report *rep,
					 const char *workload, unsigned t)
{
	const struct bench_row *s =
		bench_find(rep, workload, "uvma-sigbus", t, 0);
	const struct bench_row *h =
		bench_find(rep, workload, "uvma-threads", t, 0);

	if (!s || !h)
		return s ? s : h;
	return s->v[BM_NS_PAGE] <= h->v[BM_NS_PAGE] ? s : h;
}

/* Goal: the best uvma design's ratio to the kernel on a workload at one
 * thread, at most max (below it when strict). */
static void goal_kernel(struct bench_report *rep, const char *workload,
			double max, bool strict, const char *what)
{
	const struct bench_row *u = best_uvma(rep, workload, 1);

	if (u && u->ratio > 0)
		bench_note(rep, "goal %s, 1 thread: uvma %s: %s %.2fx, %s",
			   workload, what, u->name, u->ratio,
			   BENCH_VERDICT(strict ? u->ratio < max
						: u->ratio <= max));
}

void bench_pager_goals(const struct bench_opts *o, struct bench_report *rep)
{
	const struct bench_row *u2 = best_uvma(rep, "file shuf cold", 2);
	const struct bench_row *g2 =
		bench_find(rep, "file shuf cold", "global", 2, 0);
	const struct bench_row *gc = bench_find(rep, "churn", "global", 0, 0);
	char global[32] = "";
	double x;

	(void)o;
	if (!rep->nrows)
		return;
	bench_note(rep, "uvma = the better of uvma-sigbus and uvma-threads "
			"(lower ns/page), named.");
	goal_kernel(rep, "file seq cold", 2, false, "within 2x of the kernel");
	goal_kernel(rep, "file shuf cold", 2, false, "within 2x of the kernel");
	x = run_ratio(g2, u2, BM_NS_PAGE);
	if (x > 0)
		bench_note(rep,
			   "goal file shuf cold, 2 threads: uvma >= 2x the "
			   "global pager's rate: %s %.2fx, %s",
			   u2->name, x, BENCH_VERDICT(x >= 2));
	if (gc && gc->ratio > 0)
		snprintf(global, sizeof(global), " (global %.2fx)", gc->ratio);
	for (int d = PB_SIGBUS; d <= PB_THREADS; d++) {
		const struct bench_row *c =
			bench_find(rep, "churn", pb_sides[d].name, 0, 0);

		if (c && c->ratio > 0)
			bench_note(rep,
				   "goal churn: %s p99 with the mapper <= 2x "
				   "alone: %.2fx%s, %s",
				   c->name, c->ratio, global,
				   BENCH_VERDICT(c->ratio <= 2));
	}
	goal_kernel(rep, "anon seq", 1, true, "faster than the kernel");
	goal_kernel(rep, "anon shuf", 2, false, "within 2x of the kernel");
}

/* ---- the picture's data -------------------------------------------------- */

static void put_value(FILE *f, const struct bench_row *r, int m)
{
	if (r && r->nruns && r->v[m] >= 0)
		fprintf(f, " %.6g", r->v[m]);
	else
		fputs(" NaN", f);
}

/*
 * pager.gp's data: a block of ns/page, a line per workload and thread
 * count with a column per design (NaN: not measured), then a block of the
 * churn p99, a line per design, alone and with the mapper.
 */
static int put_data(const char *dat, const struct bench_report *rep)
{
	FILE *f = fopen(dat, "w");
	const struct bench_row *r, *x;
	size_t n = 0;
	int err;

	if (!f)
		return -1;
	fputs("# uvma bench pager: medians, drawn by pager.gp\nx workload", f);
	for (int d = 0; d < PB_NSIDES; d++)
		fprintf(f, " %s", pb_sides[d].name);
	fputc('\n', f);
	for (r = rep->rows; r < rep->rows + rep->nrows; r++) {
		if (!strcmp(r->scenario, "churn"))
			continue;
		for (x = rep->rows; x < r && (x->threads != r->threads ||
					      strcmp(x->scenario, r->scenario));
		     x++)
			;
		if (x != r)
			continue; /* a line per workload and thread count */
		fprintf(f, "%zu \"%s %ut\"", n++, r->scenario, r->threads);
		for (int d = 0; d < PB_NSIDES; d++)
			put_value(f,
				  bench_find(rep, r->scenario, pb_sides[d].name,
					     r->threads, 0),
				  BM_NS_PAGE);
		fputc('\n', f);
	}
	fputs("\n\nx design alone with-mapper\n", f);
	for (int d = 0; d < PB_NSIDES; d++) {
		r = bench_find(rep, "churn", pb_sides[d].name, 0, 0);
		fprintf(f, "%d \"%s\"", d, pb_sides[d].name);
		put_value(f, r, BM_BASE_P99);
		put_value(f, r, BM_P99);
		fputc('\n', f);
	}
	err = ferror(f);
	return fclose(f) || err ? -1 : 0;
}

/* path.dat, kept next to the picture so that it can be redrawn, drawn by
 * pager.gp. */
int bench_pager_plot(const char *path, const struct bench_report *rep)
{
	char dat[PATH_MAX];

	snprintf(dat, sizeof(dat), "%s.dat", path);
	if (put_data(dat, rep)) {
		fprintf(stderr, "bench: cannot write %s\n", dat);
		return -1;
	}
	return bench_gnuplot("pager.gp", dat, path);
}
