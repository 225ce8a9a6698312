/*
 * bench_tree.c - the "tree" scenario: the range tree against the simplest
 * structure that answers the same question, a sorted array of ranges
 * searched by bisection: the floor, which a structure that also supports
 * RCU readers, gap search and O(log n) updates cannot reasonably beat. Per
 * size N: N ranges of 1..16 pages after gaps of 1..16 pages, random
 * lookups over the span (hits and misses), then 1-page stores into
 * distinct gaps and their erases.
 */
#include "bench.h"
#include "rcu.h"
#include "tree.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define GRANULE	  4096u
#define MAX_PAGES 16u /* ranges and gaps are 1..16 pages */
/* First address of the span: not 0, so a bug that yields 0 cannot look like
 * a hit. */
#define BASE	      (UINT64_C(1) << 32)
#define BATCH	      1024   /* lookups per read-side section */
#define MAX_STORE_OPS 100000 /* stores (and erases) per measurement */

struct range {
	uint64_t start, end;
};

struct tree_run {
	size_t n, k;	      /* ranges; gaps stored into, k per round */
	uint64_t nops;	      /* lookups per measurement */
	struct range *ranges; /* sorted; the tree's ptrs point at these */
	uint64_t *addrs;      /* nops lookup addresses */
	uint64_t *gaps;	      /* a free page in each of k gaps */
	size_t *perm;	      /* a random order of the ranges */
	unsigned rounds;      /* k stores + k erases a round */
	uint64_t rng;
	struct tree t;
	double nodes; /* written per store + erase, last measurement */
};

static char store_mark; /* what stores put into gaps: not in ranges[] */

static uint64_t rand_pages(struct tree_run *run)
{
	return (1 + bench_rand_below(&run->rng, MAX_PAGES)) * GRANULE;
}

/* Fisher-Yates: perm becomes a random order of 0..n-1. */
static void shuffle(struct tree_run *run)
{
	for (size_t i = 0; i < run->n; i++)
		run->perm[i] = i;
	for (size_t i = run->n, j, tmp; i > 1; i--) {
		j = (size_t)bench_rand_below(&run->rng, i);
		tmp = run->perm[i - 1];
		run->perm[i - 1] = run->perm[j];
		run->perm[j] = tmp;
	}
}

/*
 * The ranges, each after a gap; the lookups over the span and a trailing
 * gap (misses above the last range are tried too); a page in each of k
 * distinct gaps (gap g lies before range g), so that the k stores of a
 * round never touch each other. Then the ranges go into the tree in random
 * order, as one transaction: random order gives the node fill of a tree
 * that grew by scattered mmaps rather than the special case of appends,
 * and one transaction keeps the setup from copying a path per insert.
 */
static int build(struct tree_run *run)
{
	uint64_t cur = BASE, lo;
	int err = 0;

	for (size_t i = 0; i < run->n; i++) {
		run->ranges[i].start = cur += rand_pages(run);
		run->ranges[i].end = cur += rand_pages(run);
	}
	cur += rand_pages(run);
	for (uint64_t i = 0; i < run->nops; i++)
		run->addrs[i] = BASE + bench_rand_below(&run->rng, cur - BASE);
	shuffle(run);
	for (size_t i = 0, g; i < run->k; i++) {
		g = run->perm[i];
		lo = g ? run->ranges[g - 1].end : BASE;
		run->gaps[i] =
			lo + GRANULE * bench_rand_below(&run->rng,
							(run->ranges[g].start -
							 lo) / GRANULE);
	}
	shuffle(run);
	tree_begin(&run->t);
	for (size_t i = 0; i < run->n && !err; i++) {
		const struct range *r = &run->ranges[run->perm[i]];

		err = tree_txn_store(&run->t, r->start, r->end, (void *)r);
	}
	if (err)
		tree_abort(&run->t);
	else
		tree_commit(&run->t);
	return err;
}

/* The floor: branchless bisection for the last range starting at or below
 * addr, then one compare against its end. */
static const struct range *floor_find(const struct range *r, size_t n,
				      uint64_t addr)
{
	for (size_t half; n > 1; n -= half) {
		half = n / 2;
		r = r[half].start <= addr ? r + half : r;
	}
	return r->start <= addr && addr < r->end ? r : NULL;
}

/* The tree is sound and whole. */
static int check(struct tree_run *run)
{
	struct tree_stats st;
	char msg[256] = "wrong size";
	int err = tree_check(&run->t, msg, sizeof(msg));

	tree_stats(&run->t, &st);
	if (!err && st.entries == run->n)
		return 0;
	fprintf(stderr, "bench: tree of %zu entries: %s\n", run->n, msg);
	return -EUCLEAN;
}

/* ns per lookup over every address: batch lookups per read-side section
 * (1: what a fault handler pays), or the floor's (batch 0); *sum adds up
 * what they found, which must be the same for the tree and the floor, or
 * the ratio means nothing. */
static double time_lookup(struct tree_run *run, uint64_t batch, uint64_t *sum)
{
	uint64_t t0 = bench_now_ns(), n = run->nops, acc = 0;
	const struct range *hit;
	struct tree_entry e;

	for (uint64_t i = 0, j, end; batch && i < n; i = end) {
		end = n - i > batch ? i + batch : n;
		rcu_read_enter();
		for (j = i; j < end; j++)
			if (tree_find(&run->t, run->addrs[j], &e))
				acc += e.start + (uintptr_t)e.ptr;
		rcu_read_exit();
	}
	for (uint64_t i = 0; !batch && i < n; i++)
		if ((hit = floor_find(run->ranges, run->n, run->addrs[i])))
			acc += hit->start + (uintptr_t)hit;
	*sum = acc;
	return (double)(bench_now_ns() - t0) / (double)n;
}

/*
 * One measurement of stores and of erases (ptr NULL), ns per operation
 * into ns[0..1], and the nodes written per store + erase: work, not time,
 * the same on any machine, so it shows the O(log n) shape apart from cache
 * misses. The deferred frees of a pass are drained before the next pass
 * starts, outside the timing, so each pass pays only for its own reclaim.
 */
static int time_store_erase(struct tree_run *run, double *ns)
{
	double ops = (double)run->k * run->rounds;
	struct tree_stats st[2];
	uint64_t sum[2] = { 0, 0 }, t0;
	int err = 0;

	tree_stats(&run->t, &st[0]);
	for (unsigned r = 0; r < 2 * run->rounds && !err; r++) {
		t0 = bench_now_ns();
		for (size_t i = 0; i < run->k && !err; i++)
			err = tree_store(&run->t, run->gaps[i],
					 run->gaps[i] + GRANULE,
					 r % 2 ? NULL : &store_mark);
		sum[r % 2] += bench_now_ns() - t0;
		rcu_wait_callbacks();
	}
	tree_stats(&run->t, &st[1]);
	ns[0] = (double)sum[0] / ops;
	ns[1] = (double)sum[1] / ops;
	run->nodes = (double)(st[1].written - st[0].written) / ops;
	if (err)
		fprintf(stderr, "bench: tree_store: %s\n", strerror(-err));
	return err;
}

/*
 * Measures one size into rows and notes. Each repeat times every lookup
 * kind back to back, so that a slow drift of the machine hits the tree and
 * the floor alike; stores and erases follow. Store passes are sized by
 * --ops too (capped), and small trees repeat their few gaps over several
 * rounds, so that every measurement is long enough to time.
 */
static int run_size(const struct bench_opts *o, size_t n,
		    struct bench_report *rep)
{
	uint64_t stores = o->ops < MAX_STORE_OPS ? o->ops : MAX_STORE_OPS;
	struct tree_run run = { .n = n, .nops = o->ops, .rng = o->seed ^ n };
	double l, lr, f, ns[2];
	uint64_t sums[3];
	struct tree_stats st;
	int err = tree_init(&run.t, GRANULE);

	if (err)
		return err;
	run.k = n < stores ? n : (size_t)stores;
	run.rounds = (unsigned)((stores + run.k - 1) / run.k);
	run.ranges = malloc(n * sizeof(*run.ranges));
	run.addrs = malloc(o->ops * sizeof(*run.addrs));
	run.gaps = malloc(run.k * sizeof(*run.gaps));
	run.perm = malloc(n * sizeof(*run.perm));
	err = !run.ranges || !run.addrs || !run.gaps || !run.perm ||
	      build(&run) || check(&run);
	tree_stats(&run.t, &st);
	for (unsigned r = 0; r < o->repeat && !err; r++) {
		l = time_lookup(&run, BATCH, &sums[0]);
		lr = time_lookup(&run, 1, &sums[1]);
		f = time_lookup(&run, 0, &sums[2]);
		err = bench_run_ns(rep, "tree", "lookup", n, l, f) ||
		      bench_run_ns(rep, "tree", "lookup+rcu", n, lr, f);
		if (sums[0] != sums[2] || sums[1] != sums[2]) {
			fputs("bench: the tree's lookups disagree with the "
			      "sorted array's\n",
			      stderr);
			err = -EUCLEAN;
		}
	}
	for (unsigned r = 0; r < o->repeat && !err; r++)
		err = time_store_erase(&run, ns) ||
		      bench_run_ns(rep, "tree", "store", n, ns[0], -1) ||
		      bench_run_ns(rep, "tree", "erase", n, ns[1], -1);
	if (!err && !(err = check(&run))) {
		bench_note(
			rep,
			"at %zu entries: %.2f nodes written per store+erase, "
			"%.1f bytes/entry (%zu nodes of %zu bytes, height %u)",
			n, run.nodes, (double)st.bytes / (double)n, st.nodes,
			tree_node_bytes(), st.height);
	}
	tree_destroy(&run.t);
	free(run.ranges);
	free(run.addrs);
	free(run.gaps);
	free(run.perm);
	return err;
}

void bench_tree_goals(const struct bench_opts *o, struct bench_report *rep)
{
	const struct bench_row *l =
		bench_find(rep, "tree", "lookup", 0, 1000000);
	const struct bench_row *s[4] = {
		bench_find(rep, "tree", "store", 0, 1000),
		bench_find(rep, "tree", "erase", 0, 1000),
		bench_find(rep, "tree", "store", 0, 1000000),
		bench_find(rep, "tree", "erase", 0, 1000000),
	};
	double x;

	(void)o;
	if (l && l->ratio > 0)
		bench_note(rep,
			   "goal lookup: at 1M entries within 2x of the "
			   "sorted-array floor: %.2fx, %s",
			   l->ratio, BENCH_VERDICT(l->ratio <= 2));
	if (!s[0] || !s[1] || !s[2] || !s[3])
		return;
	x = (s[2]->v[BM_NS] + s[3]->v[BM_NS]) /
	    (s[0]->v[BM_NS] + s[1]->v[BM_NS]);
	bench_note(rep,
		   "goal store+erase: at 1M entries within 2x of 1k: %.2fx, %s",
		   x, BENCH_VERDICT(x <= 2));
}

int bench_tree(const struct bench_opts *o, struct bench_report *rep)
{
	static const uint64_t defaults[] = { 1000, 100000, 1000000 };
	const uint64_t *sizes = o->nsizes ? o->sizes : defaults;
	int err = 0;

	snprintf(rep->title, sizeof(rep->title),
		 "tree benchmark (granule %u, %u repeats, medians)", GRANULE,
		 o->repeat);
	for (size_t i = 0; i < (o->nsizes ? o->nsizes : 3) && !err; i++) {
		bench_progress("tree: %" PRIu64 " entries", sizes[i]);
		err = run_size(o, (size_t)sizes[i], rep);
	}
	return err;
}
