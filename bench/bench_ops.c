/*
 * bench_ops.c - the "ops" scenario: what a map change costs among N areas
 * of 3 pages and a hole, uvma (refcount) against the running kernel, with
 * the sides of the comparison's workers (worker/worker.h) in-process, on a
 * random area: "map" maps a page into the hole after it and unmaps it (the
 * scale scenario's pair), "mprot" mprotects its middle page (the area
 * splits in three) and back (they merge again). A uvma row's floor is the
 * kernel's run of the same repeat; the repeats alternate the sides, so
 * that a drift of the machine hits both alike. The library's allocations
 * (alloc.h) are counted over every timed uvma pair.
 *
 * "life" is an address space's whole lifetime: uvma creates a space, maps
 * 10 areas and destroys it; the kernel forks a process that maps 10 areas
 * and exits, and waits for it.
 */
#include "alloc.h"
#include "bench.h"
#include "mm.h"
#include "uvma.h"
#include "worker.h"

#include <inttypes.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MAP_UVMA, MAP_KERNEL, MPROT_UVMA, MPROT_KERNEL, NROWS };
static const char *const row_names[NROWS] = { "map uvma", "map kernel",
					      "mprot uvma", "mprot kernel" };

/* Library allocations and pairs over the timed uvma rows after the
 * warm-up, per op (map, mprot), every size: the steady state's
 * allocations per pair. */
static uint64_t allocs[2], allocs_pairs[2];

/* The tree's work over the timed uvma rows of the size being measured,
 * per op: nodes written (copied or new), commits that grafted in place,
 * splices that followed their planning walk instead of descending again
 * (tree.h, struct tree_stats), and pairs. Reported and reset per size. */
struct tree_work {
	uint64_t written, grafts, hinted, pairs;
};
static struct tree_work work[2];

#define LIFE_AREAS 10

/* Pairs a measurement: --ops, at most 100000 (kernel: 50000). */
static uint64_t pairs_of(const struct bench_opts *o, bool kernel)
{
	uint64_t max = kernel ? 50000 : 100000;

	return o->ops < max ? o->ops : max;
}

/* ns per pair of a row at random areas, or -1 when a call failed. */
static double time_row(int row, void *space, uint64_t n, uint64_t pairs,
		       uint64_t *rng, bool count)
{
	const struct wk_side *side = row & 1 ? &wk_kernel : &wk_uvma;
	unsigned (*pair)(void *, uint64_t) =
		row >= MPROT_UVMA ? side->split : side->pair;
	struct tree *tree = row & 1 ? NULL : &wk_uvma_mm(space)->tree;
	struct tree_stats ts0, ts1;
	uint64_t a0 = alloc_count(), t0, bad = 0;

	if (tree)
		tree_stats(tree, &ts0);
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < pairs; i++)
		bad += pair(space, bench_rand_below(rng, n));
	if (count && tree) {
		struct tree_work *w = &work[row / 2];

		tree_stats(tree, &ts1);
		allocs[row / 2] += alloc_count() - a0;
		allocs_pairs[row / 2] += pairs;
		w->written += ts1.written - ts0.written;
		w->grafts += ts1.grafts - ts0.grafts;
		w->hinted += ts1.hinted - ts0.hinted;
		w->pairs += pairs;
	}
	if (!bad)
		return (double)(bench_now_ns() - t0) / (double)pairs;
	fprintf(stderr, "bench: %s: %" PRIu64 " calls failed\n", row_names[row],
		bad);
	return -1;
}

/*
 * A uvma row warms up for at least WARM_NS: the tree's retired nodes come
 * back from liburcu's callback thread in rounds of about 10 ms, so the
 * spare nodes reach the size the row's rate needs (rate times that delay)
 * only after several rounds. It goes on, up to WARM_MAX_NS, while its last
 * pass still allocated: counted earlier, the allocations would be the pool
 * still growing, not the steady state. The longest wait seen decides how
 * many nodes a tree keeps, so a later, longer one still allocates in the
 * counted runs (docs/tree.md, "Writers").
 */
#define WARM_NS	    200000000ull
#define WARM_MAX_NS 1000000000ull

/* Repeat 0 of a row: the warm-up, uncounted. */
static double warm_row(int row, void *space, uint64_t n, uint64_t pairs,
		       uint64_t *rng)
{
	uint64_t t0 = bench_now_ns(), a0, dt;
	double ns;

	do {
		a0 = alloc_count();
		ns = time_row(row, space, n, pairs, rng, false);
		dt = bench_now_ns() - t0;
	} while (ns >= 0 && !(row & 1) &&
		 (dt < WARM_NS || (alloc_count() != a0 && dt < WARM_MAX_NS)));
	return ns;
}

/* What the tree did per pair at n areas, for each op; then reset. */
static void tree_work_note(struct bench_report *rep, uint64_t n)
{
	for (int op = 0; op < 2; op++) {
		struct tree_work *w = &work[op];

		if (w->pairs)
			bench_note(rep,
				   "%s at %" PRIu64 " areas: %.2f tree nodes "
				   "written and %.2f commits grafted in place "
				   "per pair of calls (%.2f splices followed "
				   "the plan's walk)",
				   op ? "mprot" : "map", n,
				   (double)w->written / (double)w->pairs,
				   (double)w->grafts / (double)w->pairs,
				   (double)w->hinted / (double)w->pairs);
		*w = (struct tree_work){ 0 };
	}
}

/* A warm-up (caches, page tables, the allocator), then the repeats. */
static int measure(const struct bench_opts *o, struct bench_report *rep,
		   void **spaces, uint64_t n, uint64_t *rng)
{
	double ns[NROWS];

	for (unsigned r = 0; r <= o->repeat; r++) {
		for (int k = 0; k < NROWS; k++) {
			uint64_t pairs = pairs_of(o, k & 1);

			ns[k] = r ? time_row(k, spaces[k & 1], n, pairs, rng,
					     true)
				  : warm_row(k, spaces[k & 1], n,
					     pairs / 10 + 1, rng);
			if (ns[k] < 0)
				return -1;
		}
		for (int k = 0; r && k < NROWS; k++)
			if (bench_run_ns(rep, "ops", row_names[k], n, ns[k],
					 k & 1 ? -1 : ns[k + 1]))
				return -1;
	}
	tree_work_note(rep, n);
	return 0;
}

/* ---- an address space's lifetime --------------------------------------- */

/* ns per uvma space created, given LIFE_AREAS areas and destroyed; -1 if
 * a call failed. */
static double life_uvma(uint64_t cycles)
{
	uint64_t t0 = bench_now_ns();

	for (uint64_t c = 0; c < cycles; c++) {
		struct uvma_mm *mm;
		uint64_t at;

		if (uvma_mm_create(NULL, &mm))
			return -1;
		for (uint64_t i = 0; i < LIFE_AREAS; i++)
			if (uvma_mmap(mm, 0, (i + 1) * 4096,
				      UVMA_PROT_READ | UVMA_PROT_WRITE,
				      UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS, 0,
				      0, NULL, &at))
				return -1;
		uvma_mm_destroy(mm);
	}
	return (double)(bench_now_ns() - t0) / (double)cycles;
}

/* ns per process forked, given LIFE_AREAS mappings, exited and reaped. */
static double life_kernel(uint64_t cycles)
{
	uint64_t t0 = bench_now_ns();

	for (uint64_t c = 0; c < cycles; c++) {
		int status;
		pid_t pid = fork();

		if (pid < 0)
			return -1;
		if (!pid) {
			for (uint64_t i = 0; i < LIFE_AREAS; i++)
				if (mmap(NULL, (i + 1) * 4096,
					 PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS, -1,
					 0) == MAP_FAILED)
					_exit(1);
			_exit(0);
		}
		if (waitpid(pid, &status, 0) != pid || status)
			return -1;
	}
	return (double)(bench_now_ns() - t0) / (double)cycles;
}

static int measure_life(const struct bench_opts *o, struct bench_report *rep)
{
	for (unsigned r = 0; r <= o->repeat; r++) {
		/* Repeat 0 warms up. */
		double k = life_kernel(r ? 500 : 50);
		double u = life_uvma(r ? 20000 : 2000);

		if (k < 0 || u < 0) {
			fprintf(stderr, "bench: ops: life: a call failed\n");
			return -1;
		}
		if (r &&
		    (bench_run_ns(rep, "ops", "life uvma", LIFE_AREAS, u, k) ||
		     bench_run_ns(rep, "ops", "life kernel", LIFE_AREAS, k,
				  -1)))
			return -1;
	}
	return 0;
}

static void life_goal(struct bench_report *rep)
{
	const struct bench_row *u =
		bench_find(rep, "ops", "life uvma", 0, LIFE_AREAS);

	if (u && u->ratio > 0)
		bench_note(rep,
			   "goal life: create + %d maps + destroy at least "
			   "10x the kernel's fork + maps + exit rate: %.1fx, "
			   "%s",
			   LIFE_AREAS, 1 / u->ratio,
			   BENCH_VERDICT(1 / u->ratio >= 10));
}

static void alloc_goal(struct bench_report *rep)
{
	for (int op = 0; op < 2; op++)
		if (allocs_pairs[op])
			bench_note(rep,
				   "%s: %.4f library allocations per pair "
				   "(%" PRIu64 " in %" PRIu64 " timed pairs)",
				   op ? "mprot" : "map",
				   (double)allocs[op] /
					   (double)allocs_pairs[op],
				   allocs[op], allocs_pairs[op]);
	if (allocs_pairs[0])
		bench_note(rep,
			   "goal map: no allocation per mmap+munmap pair in "
			   "the steady state: %" PRIu64 ", %s",
			   allocs[0], BENCH_VERDICT(allocs[0] == 0));
}

void bench_ops_goals(const struct bench_opts *o, struct bench_report *rep)
{
	(void)o;
	life_goal(rep);
	alloc_goal(rep);
	for (int k = MAP_UVMA; k < NROWS; k += 2) {
		const char *op = k == MAP_UVMA ? "map" : "mprot";
		const struct bench_row *u =
			bench_find(rep, "ops", row_names[k], 0, 1000);
		const struct bench_row *u1m =
			bench_find(rep, "ops", row_names[k], 0, 1000000);

		if (u && u->ratio > 0)
			bench_note(rep,
				   "goal %s: uvma at least 3x the kernel's "
				   "rate at 1000 areas: %.2fx, %s",
				   op, 1 / u->ratio,
				   BENCH_VERDICT(1 / u->ratio >= 3));
		if (u1m && u1m->ratio > 0)
			bench_note(rep,
				   "goal %s: uvma at least 2x the kernel's "
				   "rate at 1000000 areas: %.2fx, %s",
				   op, 1 / u1m->ratio,
				   BENCH_VERDICT(1 / u1m->ratio >= 2));
		if (u && u1m)
			bench_note(rep,
				   "goal %s: uvma at 1000000 areas within 2x "
				   "of 1000: %.2fx, %s",
				   op, u1m->v[BM_NS] / u->v[BM_NS],
				   BENCH_VERDICT(u1m->v[BM_NS] <=
						 2 * u->v[BM_NS]));
	}
}

int bench_ops(const struct bench_opts *o, struct bench_report *rep)
{
	static const uint64_t defaults[] = { 1000, 1000000 };
	struct bench_opts p = *o;
	uint64_t rng = o->seed;
	int err = 0;

	if (!p.nsizes) {
		p.sizes = defaults;
		p.nsizes = 2;
	}
	snprintf(rep->title, sizeof(rep->title),
		 "ops: ns per pair of calls (map: mmap+munmap, mprot: split+"
		 "merge), median of %u runs of %" PRIu64 " (kernel %" PRIu64
		 "); floor = kernel",
		 o->repeat, pairs_of(o, false), pairs_of(o, true));
	bench_progress("ops: address space lifetime");
	err = measure_life(&p, rep);
	for (size_t i = 0; i < p.nsizes && !err; i++) {
		void *spaces[2] = { NULL, NULL };
		uint64_t n = p.sizes[i];

		bench_progress("ops: %" PRIu64 " areas", n);
		err = wk_uvma.map(&p, &spaces[0], &n) ||
		      wk_kernel.map(&p, &spaces[1], &n) ||
		      measure(&p, rep, spaces, n, &rng);
		wk_uvma.destroy(spaces[0]);
		wk_kernel.destroy(spaces[1]);
	}
	return err;
}
