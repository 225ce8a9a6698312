/*
 * bench_ops.c - the "ops" scenario: what a map change costs among many
 * areas, uvma against the running kernel, in the same run, with the two
 * sides of the design comparison's workers (worker/worker.h) run
 * in-process: uvma as linked (the refcount design), and the kernel in its
 * private window (kwin.c).
 *
 * Per size N (default 1000 and 1000000), each side holds N areas of 3
 * pages, each followed by a one-page hole. Every operation picks an area
 * at random:
 *   map    mmap of one page into the hole after it (read-only, so that it
 *          merges with neither neighbour), then munmap of that page: the
 *          scale scenario's pair
 *   mprot  mprotect of the area's middle page (the area splits in three),
 *          then back (the three merge into one again)
 * Rows report ns per pair of calls; a uvma row's floor is the kernel's run
 * of the same repeat, so its ratio is uvma's time over the kernel's (below
 * 1: uvma is faster). One thread; the repeats alternate between the sides,
 * so that a drift of the machine hits both alike. --ops N: min(N, 100000)
 * pairs a measurement for uvma, min(N, 50000) for the kernel. A size
 * beyond what vm.max_map_count allows (kwin.c raises it when it may) is
 * measured on uvma only.
 *
 * Before and after the measurements each side must hold exactly its N
 * areas: a split that did not merge back, or a page left mapped, fails the
 * run.
 */
#include "bench.h"
#include "worker.h"

#include <inttypes.h>

#define UVMA_OPS_MAX   100000u
#define KERNEL_OPS_MAX 50000u

/* Odd rows are the kernel's, the last two mprotect's. */
enum { MAP_UVMA, MAP_KERNEL, MPROT_UVMA, MPROT_KERNEL, NROWS };
static const char *const row_names[NROWS] = { "map uvma", "map kernel",
					      "mprot uvma", "mprot kernel" };

/* ns of nops pairs of a row at random areas, or 0 when a call failed. */
static uint64_t time_row(int row, void *space, uint64_t n, uint64_t nops,
			 uint64_t *rng)
{
	const struct wk_side *side = row & 1 ? &wk_kernel : &wk_uvma;
	unsigned (*pair)(void *, uint64_t) =
		row >= MPROT_UVMA ? side->split : side->pair;
	uint64_t t0 = bench_now_ns(), bad = 0;

	for (uint64_t i = 0; i < nops; i++)
		bad += pair(space, bench_rand_below(rng, n));
	if (!bad)
		return bench_now_ns() - t0;
	fprintf(stderr, "bench: %s: %" PRIu64 " calls failed\n", row_names[row],
		bad);
	return 0;
}

/* A warm-up (caches, page tables, the allocator), then the repeats; the
 * kernel's rows without a space are left out. */
static int measure(const struct bench_opts *o, struct bench_report *rep,
		   void **spaces, uint64_t n, uint64_t *rng)
{
	uint64_t nops[2] = { o->ops < UVMA_OPS_MAX ? o->ops : UVMA_OPS_MAX,
			     o->ops < KERNEL_OPS_MAX ? o->ops
						     : KERNEL_OPS_MAX };
	double ns[NROWS];
	int k;

	for (unsigned r = 0; r <= o->repeat; r++) {
		for (k = 0; k < NROWS; k++) {
			uint64_t c = r ? nops[k & 1] : nops[k & 1] / 10 + 1;
			uint64_t t = spaces[k & 1] ? time_row(k, spaces[k & 1],
							      n, c, rng)
						   : 1;

			if (!t)
				return -1;
			ns[k] = spaces[k & 1] ? (double)t / (double)c : -1;
		}
		for (k = 0; r && k < NROWS; k++)
			if (ns[k] >= 0 &&
			    bench_run_ns(rep, "ops", row_names[k], 1, n, ns[k],
					 k & 1 ? -1 : ns[k + 1]))
				return -1;
	}
	return 0;
}

/* Each side holds exactly its n areas. */
static int check(void **spaces, uint64_t n)
{
	for (int s = 0; s < 2; s++) {
		long have =
			spaces[s]
				? (s ? &wk_kernel : &wk_uvma)->count(spaces[s])
				: (long)n;

		if (have != (long)n) {
			fprintf(stderr,
				"bench: %s holds %ld areas, expected %" PRIu64
				"\n",
				s ? "the kernel" : "uvma", have, n);
			return -1;
		}
	}
	return 0;
}

static int run_size(const struct bench_opts *o, struct bench_report *rep,
		    uint64_t n, uint64_t *rng)
{
	void *spaces[2] = { NULL, NULL };
	uint64_t t0 = bench_now_ns();
	int err = wk_uvma.grow(o, &spaces[0], n), kerr;

	kerr = err ? 0 : wk_kernel.grow(o, &spaces[1], n);
	if (kerr > 0) {
		bench_note(rep,
			   "kernel not measured at %" PRIu64
			   " areas: vm.max_map_count",
			   n);
		wk_kernel.destroy(spaces[1]);
		spaces[1] = NULL;
	}
	err = err || kerr < 0 || check(spaces, n);
	if (!err) {
		bench_progress("ops: %" PRIu64 " areas built in %.2f s", n,
			       (double)(bench_now_ns() - t0) / 1e9);
		err = measure(o, rep, spaces, n, rng) || check(spaces, n);
	}
	wk_uvma.destroy(spaces[0]);
	wk_kernel.destroy(spaces[1]);
	return err;
}

/* uvma at least 3x the kernel's rate at 1000 areas, and uvma at 1M areas
 * within 2x of uvma at 1000. */
void bench_ops_goals(const struct bench_opts *o, struct bench_report *rep)
{
	for (int k = MAP_UVMA; k < NROWS; k += 2) {
		const char *op = k == MAP_UVMA ? "map" : "mprot";
		const struct bench_row *u =
			bench_find(rep, "ops", row_names[k], 0, 1000);
		const struct bench_row *u1m =
			bench_find(rep, "ops", row_names[k], 0, 1000000);
		double x;

		if (u && u->ratio > 0)
			bench_note(rep,
				   "goal %s: uvma at least 3x the kernel's "
				   "rate at 1000 areas: %.2fx, %s",
				   op, 1 / u->ratio,
				   BENCH_VERDICT(1 / u->ratio >= 3));
		x = u && u1m ? u1m->v[BM_NS] / u->v[BM_NS] : -1;
		if (x >= 0)
			bench_note(rep,
				   "goal %s: uvma at 1000000 areas within 2x "
				   "of 1000: %.2fx, %s",
				   op, x, BENCH_VERDICT(x <= 2));
	}
	bench_note(rep,
		   "pairs per measurement: uvma %" PRIu64 ", kernel %" PRIu64,
		   o->ops < UVMA_OPS_MAX ? o->ops : (uint64_t)UVMA_OPS_MAX,
		   o->ops < KERNEL_OPS_MAX ? o->ops : (uint64_t)KERNEL_OPS_MAX);
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
		 "merge), median of %u; floor = kernel",
		 o->repeat);
	for (size_t i = 0; i < p.nsizes && !err; i++) {
		bench_progress("ops: %" PRIu64 " areas", p.sizes[i]);
		err = run_size(&p, rep, p.sizes[i], &rng);
	}
	return err;
}
