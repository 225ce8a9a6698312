/*
 * bench_ops.c - the "ops" scenario: what a map change costs among many
 * areas, uvma against the running kernel, measured in the same run.
 *
 * Per size N (default 1000 and 1000000 areas), both designs hold N areas
 * of 3 pages, PROT_READ, anonymous private, each followed by a 1-page hole
 * (a stride of 4 pages). Every operation picks an area at random:
 *   map    mmap of one page into the hole after it (MAP_FIXED_NOREPLACE,
 *          PROT_READ|PROT_WRITE, so that it merges with neither
 *          neighbour), then munmap of that page
 *   mprot  mprotect of the area's middle page to PROT_READ|PROT_WRITE (the
 *          area splits in three), then back to PROT_READ (the three merge
 *          into one again)
 * Rows report ns per pair of calls, the median of --repeat measurements:
 *   "<op> uvma"    uvma_mmap / uvma_munmap / uvma_mprotect on a uvma space
 *   "<op> kernel"  mmap(2) / munmap(2) / mprotect(2) in a private window of
 *                  this process, reserved with PROT_NONE and MAP_NORESERVE
 *                  at a fixed high address (KERNEL_BASE)
 * A uvma row's floor is the kernel row of the same size, so its ratio is
 * uvma's time over the kernel's (below 1: uvma is faster). One thread; the
 * repeats alternate between the designs so that drift hits both alike.
 *
 * --ops N sets the pairs per measurement: min(N, 100000) for uvma and
 * min(N, 50000) for the kernel.
 *
 * The kernel limits a process to vm.max_map_count mappings (65530 by
 * default). When a size needs more, the scenario raises the limit through
 * /proc/sys/vm/max_map_count for the run (root only) and restores the old
 * value at the end; when it cannot, the kernel is measured at the largest
 * count the limit allows and a note says so. Both are printed.
 *
 * After the measurements each design is checked to hold exactly its N
 * areas again (uvma through uvma_maps, the kernel through /proc/self/maps):
 * a split that did not merge back, or a page left mapped, fails the run.
 */
#include "bench.h"
#include "uvma.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define OPS_PAGE       4096u
#define OPS_STRIDE     4u /* pages: an area of 3, a hole of 1 */
#define OPS_AREA_PAGES 3u
#define UVMA_OPS_BASE  (UINT64_C(1) << 32)
/* 80 TiB: far below where the kernel places mappings top-down (near
 * 128 TiB), far above the heap and the program. */
#define KERNEL_BASE    UINT64_C(0x500000000000)
#define UVMA_OPS_MAX   100000u
#define KERNEL_OPS_MAX 50000u
/* Mappings the process may make besides the window while it runs (the
 * heap growing, thread stacks, libraries), on top of those it has. */
#define MAP_COUNT_SLACK 4096
#define MAX_MAP_COUNT	"/proc/sys/vm/max_map_count"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

enum { ROW_MAP_UVMA, ROW_MAP_KERNEL, ROW_MPROT_UVMA, ROW_MPROT_KERNEL, NROWS };

static const char *const row_names[NROWS] = {
	"map uvma",
	"map kernel",
	"mprot uvma",
	"mprot kernel",
};

/* The areas of one size, in both designs. */
struct ops_run {
	size_t n;  /* uvma areas */
	size_t kn; /* kernel areas (n, or fewer under the limit) */
	struct uvma_mm *mm;
	char *win; /* the kernel window, NULL when not reserved */
	size_t win_len;
	uint64_t uops, kops; /* pairs per measurement */
};

/* ---- vm.max_map_count ------------------------------------------------------
 */

static int write_long_file(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int err = 0;

	if (!f)
		return -errno;
	if (fprintf(f, "%ld\n", v) < 0)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

/*
 * Mappings of this process, with those starting in [lo, hi) counted apart
 * into *in_range (when not NULL). Returns the total, or -1.
 */
static long count_mappings(uint64_t lo, uint64_t hi, long *in_range)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	long n = 0, in = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		uint64_t start = strtoull(line, NULL, 16);
		size_t len = strlen(line);

		n++;
		if (start >= lo && start < hi)
			in++;
		/* A path longer than the buffer: skip the rest of it. */
		while (len && line[len - 1] != '\n' &&
		       fgets(line, sizeof(line), f))
			len = strlen(line);
	}
	fclose(f);
	if (in_range)
		*in_range = in;
	return n;
}

/* What the scenario did to the limit, to undo and to report. */
struct map_limit {
	long old; /* the limit found, -1: unknown */
	long now; /* the limit in force */
	bool raised;
};

/*
 * Make room for the largest size: raise vm.max_map_count when it is too
 * low and we may. Notes what happened; never fails (the kernel rows then
 * use fewer areas).
 */
static void limit_prepare(struct map_limit *ml, size_t largest,
			  struct bench_report *rep)
{
	long have = count_mappings(0, 0, NULL);
	/* Twice the slack: kernel_areas() keeps one, counted later. */
	long need = (long)largest + (have > 0 ? have : 0) + 2 * MAP_COUNT_SLACK;
	int err;

	ml->old = bench_read_long(MAX_MAP_COUNT);
	ml->now = ml->old;
	ml->raised = false;
	if (ml->old < 0 || ml->old >= need)
		return;
	err = write_long_file(MAX_MAP_COUNT, need);
	if (err) {
		bench_note(rep,
			   "kernel: vm.max_map_count is %ld and could not be "
			   "raised (%s): kernel rows use at most %ld areas",
			   ml->old, strerror(-err),
			   ml->old - have - MAP_COUNT_SLACK);
		return;
	}
	ml->now = need;
	ml->raised = true;
	bench_progress("ops: vm.max_map_count raised from %ld to %ld", ml->old,
		       need);
	bench_note(rep,
		   "kernel: vm.max_map_count raised from %ld to %ld for the "
		   "run, restored at the end",
		   ml->old, need);
}

static void limit_restore(const struct map_limit *ml)
{
	int err;

	if (!ml->raised)
		return;
	err = write_long_file(MAX_MAP_COUNT, ml->old);
	if (err)
		fprintf(stderr,
			"bench: could not restore vm.max_map_count to %ld: "
			"%s\n",
			ml->old, strerror(-err));
	else
		bench_progress("ops: vm.max_map_count restored to %ld",
			       ml->old);
}

/* Kernel areas a size may use under the limit in force. */
static size_t kernel_areas(const struct map_limit *ml, size_t n)
{
	long have = count_mappings(0, 0, NULL);
	long room;

	if (ml->now < 0 || have < 0)
		return n;
	room = ml->now - have - MAP_COUNT_SLACK;
	if (room < 2)
		return 0;
	return (size_t)room < n ? (size_t)room : n;
}

/* ---- building the areas
 * ------------------------------------------------------ */

static uint64_t uvma_area(size_t i)
{
	return UVMA_OPS_BASE + (uint64_t)i * OPS_STRIDE * OPS_PAGE;
}

static char *kernel_area(const struct ops_run *run, size_t i)
{
	return run->win + i * OPS_STRIDE * OPS_PAGE;
}

static int build_uvma(struct ops_run *run)
{
	int err = uvma_mm_create(NULL, &run->mm);

	for (size_t i = 0; i < run->n && !err; i++) {
		uint64_t out;

		err = uvma_mmap(run->mm, uvma_area(i),
				OPS_AREA_PAGES * OPS_PAGE, UVMA_PROT_READ,
				UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS |
					UVMA_MAP_FIXED,
				0, 0, NULL, &out);
	}
	if (err)
		fprintf(stderr, "bench: uvma: cannot map %zu areas: %s\n",
			run->n, uvma_strerror(err));
	return err;
}

/*
 * The kernel's areas: reserve the window (PROT_NONE, no commit charge),
 * make it readable (one mapping), then punch the holes (each munmap splits
 * off one area).
 */
static int build_kernel(struct ops_run *run)
{
	size_t len = run->kn * OPS_STRIDE * OPS_PAGE;
	void *p;

	p = mmap((void *)(uintptr_t)KERNEL_BASE, len, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			 MAP_FIXED_NOREPLACE,
		 -1, 0);
	if (p == MAP_FAILED || p != (void *)(uintptr_t)KERNEL_BASE) {
		fprintf(stderr,
			"bench: kernel: cannot reserve %zu bytes at %#" PRIx64
			": %s\n",
			len, KERNEL_BASE,
			p == MAP_FAILED ? strerror(errno) : "placed elsewhere");
		if (p != MAP_FAILED)
			munmap(p, len);
		return -1;
	}
	run->win = p;
	run->win_len = len;
	if (mprotect(run->win, len, PROT_READ)) {
		fprintf(stderr, "bench: kernel: mprotect of the window: %s\n",
			strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < run->kn; i++) {
		if (munmap(kernel_area(run, i) + OPS_AREA_PAGES * OPS_PAGE,
			   OPS_PAGE)) {
			fprintf(stderr,
				"bench: kernel: hole %zu of %zu: %s "
				"(vm.max_map_count?)\n",
				i, run->kn, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void run_free(struct ops_run *run)
{
	if (run->mm)
		uvma_mm_destroy(run->mm);
	if (run->win)
		munmap(run->win, run->win_len);
	run->mm = NULL;
	run->win = NULL;
}

/* ---- the timed loops
 * ----------------------------------------------------------- */

/* Each returns the ns of nops pairs, or 0 when a call failed. */

static uint64_t map_uvma(struct ops_run *run, uint64_t nops, uint64_t *rng)
{
	const unsigned flags = UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS |
			       UVMA_MAP_FIXED_NOREPLACE;
	uint64_t t0 = bench_now_ns(), bad = 0;

	for (uint64_t i = 0; i < nops; i++) {
		uint64_t hole = uvma_area(bench_rand_below(rng, run->n)) +
				OPS_AREA_PAGES * OPS_PAGE;
		uint64_t out;

		bad += uvma_mmap(run->mm, hole, OPS_PAGE,
				 UVMA_PROT_READ | UVMA_PROT_WRITE, flags, 0, 0,
				 NULL, &out) != 0;
		bad += uvma_munmap(run->mm, hole, OPS_PAGE) != 0;
	}
	if (bad) {
		fprintf(stderr, "bench: uvma: %" PRIu64 " map calls failed\n",
			bad);
		return 0;
	}
	return bench_now_ns() - t0;
}

static uint64_t mprot_uvma(struct ops_run *run, uint64_t nops, uint64_t *rng)
{
	uint64_t t0 = bench_now_ns(), bad = 0;

	for (uint64_t i = 0; i < nops; i++) {
		uint64_t mid =
			uvma_area(bench_rand_below(rng, run->n)) + OPS_PAGE;

		bad += uvma_mprotect(run->mm, mid, OPS_PAGE,
				     UVMA_PROT_READ | UVMA_PROT_WRITE) != 0;
		bad += uvma_mprotect(run->mm, mid, OPS_PAGE, UVMA_PROT_READ) !=
		       0;
	}
	if (bad) {
		fprintf(stderr,
			"bench: uvma: %" PRIu64 " mprotect calls failed\n",
			bad);
		return 0;
	}
	return bench_now_ns() - t0;
}

static uint64_t map_kernel(struct ops_run *run, uint64_t nops, uint64_t *rng)
{
	uint64_t t0 = bench_now_ns(), bad = 0;

	for (uint64_t i = 0; i < nops; i++) {
		char *hole = kernel_area(run, bench_rand_below(rng, run->kn)) +
			     OPS_AREA_PAGES * OPS_PAGE;
		void *p =
			mmap(hole, OPS_PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			     -1, 0);

		if (p != hole) {
			bad++;
			if (p != MAP_FAILED)
				munmap(p, OPS_PAGE);
			continue;
		}
		bad += munmap(hole, OPS_PAGE) != 0;
	}
	if (bad) {
		fprintf(stderr, "bench: kernel: %" PRIu64 " map calls failed\n",
			bad);
		return 0;
	}
	return bench_now_ns() - t0;
}

static uint64_t mprot_kernel(struct ops_run *run, uint64_t nops, uint64_t *rng)
{
	uint64_t t0 = bench_now_ns(), bad = 0;

	for (uint64_t i = 0; i < nops; i++) {
		char *mid = kernel_area(run, bench_rand_below(rng, run->kn)) +
			    OPS_PAGE;

		bad += mprotect(mid, OPS_PAGE, PROT_READ | PROT_WRITE) != 0;
		bad += mprotect(mid, OPS_PAGE, PROT_READ) != 0;
	}
	if (bad) {
		fprintf(stderr,
			"bench: kernel: %" PRIu64 " mprotect calls failed\n",
			bad);
		return 0;
	}
	return bench_now_ns() - t0;
}

/* ---- checks, measurement, report
 * ------------------------------------------------ */

static int count_area(const struct uvma_area_info *a, void *arg)
{
	(void)a;
	++*(size_t *)arg;
	return 0;
}

/* Both designs hold exactly their areas: every split merged back, every
 * page mapped into a hole unmapped again. */
static int check_areas(struct ops_run *run)
{
	size_t n = 0;
	long kn = 0;

	if (uvma_maps(run->mm, UVMA_OPS_BASE, uvma_area(run->n), count_area,
		      &n) ||
	    n != run->n) {
		fprintf(stderr, "bench: uvma holds %zu areas, expected %zu\n",
			n, run->n);
		return -1;
	}
	if (count_mappings(KERNEL_BASE, KERNEL_BASE + run->win_len, &kn) < 0 ||
	    (size_t)kn != run->kn) {
		fprintf(stderr,
			"bench: the kernel window holds %ld mappings, expected "
			"%zu\n",
			kn, run->kn);
		return -1;
	}
	return 0;
}

typedef uint64_t (*ops_loop)(struct ops_run *run, uint64_t nops, uint64_t *rng);

static const ops_loop row_loops[NROWS] = {
	map_uvma,
	map_kernel,
	mprot_uvma,
	mprot_kernel,
};

static bool row_is_kernel(int k)
{
	return k == ROW_MAP_KERNEL || k == ROW_MPROT_KERNEL;
}

static int measure(struct ops_run *run, const struct bench_opts *o,
		   uint64_t *rng, double *med)
{
	double *s[NROWS] = { 0 };
	int err = 0;

	for (int k = 0; k < NROWS; k++) {
		s[k] = calloc(o->repeat, sizeof(double));
		if (!s[k])
			err = -1;
	}
	/* Warm up both (caches, page tables, the allocator). */
	for (int k = 0; k < NROWS && !err; k++) {
		uint64_t nops = row_is_kernel(k) ? run->kops : run->uops;

		if (!row_loops[k](run, nops / 10 + 1, rng))
			err = -1;
	}
	for (unsigned r = 0; r < o->repeat && !err; r++) {
		for (int k = 0; k < NROWS && !err; k++) {
			uint64_t nops =
				row_is_kernel(k) ? run->kops : run->uops;
			uint64_t ns = row_loops[k](run, nops, rng);

			if (!ns)
				err = -1;
			s[k][r] = (double)ns / (double)nops;
		}
		bench_progress("ops: %zu areas: repeat %u/%u", run->n, r + 1,
			       o->repeat);
	}
	for (int k = 0; k < NROWS; k++) {
		if (!err)
			med[k] = bench_median(s[k], o->repeat);
		free(s[k]);
	}
	return err;
}

static int report(struct bench_report *rep, const struct bench_opts *o,
		  const struct ops_run *run, const double *med)
{
	for (int k = 0; k < NROWS; k++) {
		bool kernel = row_is_kernel(k);
		struct bench_result res = {
			.scenario = "ops",
			.op = row_names[k],
			.size = kernel ? run->kn : run->n,
			.ns_per_op = med[k],
			.floor_ns_per_op = -1,
			.repeats = o->repeat,
		};

		/* uvma against the kernel with as many areas. */
		if (!kernel && run->kn == run->n)
			res.floor_ns_per_op = med[k + 1];
		if (bench_report_add(rep, &res))
			return -1;
	}
	return 0;
}

static int run_size(const struct bench_opts *o, struct bench_report *rep,
		    const struct map_limit *ml, size_t n, uint64_t *rng)
{
	struct ops_run run = {
		.n = n,
		.uops = o->ops < UVMA_OPS_MAX ? o->ops : UVMA_OPS_MAX,
		.kops = o->ops < KERNEL_OPS_MAX ? o->ops : KERNEL_OPS_MAX,
	};
	double med[NROWS];
	uint64_t t0;
	int err = -1;

	run.kn = kernel_areas(ml, n);
	if (run.kn < 2) {
		fprintf(stderr, "bench: no room for kernel mappings\n");
		return -1;
	}
	if (run.kn < n)
		bench_note(rep,
			   "kernel at %zu areas instead of %zu: "
			   "vm.max_map_count is %ld",
			   run.kn, n, ml->now);
	t0 = bench_now_ns();
	if (build_uvma(&run))
		goto out;
	bench_progress("ops: %zu uvma areas built in %.2f s", n,
		       (double)(bench_now_ns() - t0) / 1e9);
	t0 = bench_now_ns();
	if (build_kernel(&run))
		goto out;
	bench_progress("ops: %zu kernel areas built in %.2f s", run.kn,
		       (double)(bench_now_ns() - t0) / 1e9);
	if (check_areas(&run))
		goto out;
	if (measure(&run, o, rng, med) || check_areas(&run))
		goto out;
	err = report(rep, o, &run, med);
out:
	run_free(&run);
	return err;
}

static const struct bench_result *find_row(const struct bench_report *rep,
					   int k, size_t n)
{
	return bench_report_find(rep, row_names[k], n);
}

/* The goals: uvma at least 3x the kernel's rate at 1000 areas, and uvma
 * at 1M areas within 2x of uvma at 1000. */
static void goals(struct bench_report *rep)
{
	static const int ops[2][2] = { { ROW_MAP_UVMA, ROW_MAP_KERNEL },
				       { ROW_MPROT_UVMA, ROW_MPROT_KERNEL } };
	static const char *const names[2] = { "map", "mprot" };

	for (int i = 0; i < 2; i++) {
		const struct bench_result *u = find_row(rep, ops[i][0], 1000);
		const struct bench_result *k = find_row(rep, ops[i][1], 1000);
		const struct bench_result *u1m =
			find_row(rep, ops[i][0], 1000000);
		double x;

		if (u && k) {
			x = k->ns_per_op / u->ns_per_op;
			bench_note(rep,
				   "goal %s: uvma at least 3x the kernel's "
				   "rate at 1000 areas: %.2fx, %s",
				   names[i], x, x >= 3 ? "met" : "NOT met");
		}
		if (u && u1m) {
			x = u1m->ns_per_op / u->ns_per_op;
			bench_note(rep,
				   "goal %s: uvma at 1000000 areas within 2x "
				   "of 1000: %.2fx, %s",
				   names[i], x, x <= 2 ? "met" : "NOT met");
		}
	}
}

int bench_ops(const struct bench_opts *o, struct bench_report *rep)
{
	static const size_t default_sizes[] = { 1000, 1000000 };
	const size_t *sizes = o->sizes_given ? o->sizes : default_sizes;
	size_t nsizes = o->sizes_given ? o->nsizes : 2;
	struct map_limit ml;
	uint64_t rng = o->seed;
	size_t largest = 0;
	int err = 0;

	snprintf(rep->title, sizeof(rep->title),
		 "ops: ns per pair of calls (map: mmap+munmap, mprot: split+"
		 "merge), median of %u; floor = kernel",
		 o->repeat);
	for (size_t i = 0; i < nsizes; i++) {
		if (sizes[i] < 2) {
			fprintf(stderr, "bench: ops needs at least 2 areas\n");
			return -1;
		}
		if (sizes[i] > largest)
			largest = sizes[i];
	}
	limit_prepare(&ml, largest, rep);
	for (size_t i = 0; i < nsizes && !err; i++) {
		bench_progress("ops: %zu areas", sizes[i]);
		err = run_size(o, rep, &ml, sizes[i], &rng);
	}
	limit_restore(&ml);
	if (!err)
		goals(rep);
	bench_note(rep,
		   "pairs per measurement: uvma %" PRIu64 ", kernel %" PRIu64
		   "; kernel %s",
		   o->ops < UVMA_OPS_MAX ? o->ops : (uint64_t)UVMA_OPS_MAX,
		   o->ops < KERNEL_OPS_MAX ? o->ops : (uint64_t)KERNEL_OPS_MAX,
		   ml.raised ? "limit raised and restored"
			     : "limit left as it was");
	return err;
}
