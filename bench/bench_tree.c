/*
 * bench_tree.c - the "tree" scenario: the range tree against the simplest
 * structure that answers the same question, a sorted array of ranges
 * searched by bisection. The array is the floor: a lookup in a structure
 * that also supports RCU readers, gap search and O(log n) updates cannot
 * reasonably beat it, so ratio = tree / floor says what those features cost.
 *
 * Per size N: N ranges of 1..16 pages separated by gaps of 1..16 pages (about
 * half of the span is mapped), random lookups over the whole span (hits and
 * misses), then 1-page stores into distinct gaps and their erases.
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
#define CHECK_SAMPLE  10000  /* lookups compared before timing */

struct range {
	uint64_t start, end;
};

/* Everything one size needs; set up before any timing. */
struct tree_run {
	size_t n;
	uint64_t nops;	      /* lookups per measurement */
	struct range *ranges; /* sorted; the tree's ptrs point at these */
	uint64_t *addrs;      /* nops lookup addresses */
	uint64_t *gaps;	      /* k free pages, each in a different gap */
	size_t k;
	unsigned rounds; /* k stores + k erases per round */
	uint64_t rng;
	struct tree t;
	double nodes; /* written per store + erase, last measurement */
};

static volatile uint64_t sink; /* keeps results alive past the optimizer */
static char store_mark;	       /* what stores put into gaps: not in ranges[] */

static uint64_t rand_pages(struct tree_run *run)
{
	return (1 + bench_rand_below(&run->rng, MAX_PAGES)) * GRANULE;
}

/* Fisher-Yates: idx becomes a random permutation of 0..n-1. */
static void shuffle(size_t *idx, size_t n, uint64_t *rng)
{
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	for (size_t i = n, j, tmp; i > 1; i--) {
		j = (size_t)bench_rand_below(rng, i);
		tmp = idx[i - 1];
		idx[i - 1] = idx[j];
		idx[j] = tmp;
	}
}

/* The ranges, each after a gap, then the lookups over the span and a
 * trailing gap (misses above the last range are tried too), and one page
 * in each of k distinct gaps (gap g lies before range g), so that the k
 * stores of a round never touch each other. */
static void gen_data(struct tree_run *run, size_t *perm)
{
	uint64_t cur = BASE, lo;

	for (size_t i = 0; i < run->n; i++) {
		run->ranges[i].start = cur += rand_pages(run);
		run->ranges[i].end = cur += rand_pages(run);
	}
	cur += rand_pages(run);
	for (uint64_t i = 0; i < run->nops; i++)
		run->addrs[i] = BASE + bench_rand_below(&run->rng, cur - BASE);
	shuffle(perm, run->n, &run->rng);
	for (size_t i = 0, g; i < run->k; i++) {
		g = perm[i];
		lo = g ? run->ranges[g - 1].end : BASE;
		run->gaps[i] =
			lo + bench_rand_below(&run->rng, (run->ranges[g].start -
							  lo) / GRANULE) *
				     GRANULE;
	}
}

/*
 * Inserts the ranges in random order, as one transaction: random order
 * gives the node fill of a tree that grew by scattered mmaps rather than
 * the special case of appends, and one transaction keeps the setup from
 * copying a path per insert.
 */
static int build_tree(struct tree_run *run, const size_t *perm)
{
	int err = 0;

	tree_begin(&run->t);
	for (size_t i = 0; i < run->n && !err; i++) {
		const struct range *r = &run->ranges[perm[i]];

		err = tree_txn_store(&run->t, r->start, r->end, (void *)r);
	}
	if (!err) {
		tree_commit(&run->t);
		return 0;
	}
	tree_abort(&run->t);
	fprintf(stderr, "bench: tree_txn_store: %s\n", strerror(-err));
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

/* The tree is sound and whole, and gives the floor's answers, or the ratio
 * means nothing. */
static int check(struct tree_run *run, const char *when, uint64_t nlookups)
{
	struct tree_entry e;
	struct tree_stats st;
	char msg[256];
	int err = tree_check(&run->t, msg, sizeof(msg));

	tree_stats(&run->t, &st);
	if (err || st.entries != run->n) {
		fprintf(stderr, "bench: tree %s: %s (%zu entries, want %zu)\n",
			when, err ? msg : "wrong size", st.entries, run->n);
		return err ? err : -EUCLEAN;
	}
	for (uint64_t i = 0; i < nlookups; i++) {
		const struct range *want =
			floor_find(run->ranges, run->n, run->addrs[i]);
		bool found;

		rcu_read_enter();
		found = tree_find(&run->t, run->addrs[i], &e);
		rcu_read_exit();
		if (found != !!want ||
		    (want && (e.ptr != want || e.start != want->start ||
			      e.end != want->end))) {
			fprintf(stderr,
				"bench: tree_find(%#" PRIx64 ") disagrees "
				"with the sorted array\n",
				run->addrs[i]);
			return -EUCLEAN;
		}
	}
	return 0;
}

/* batch lookups per read-side section; 1 is what a fault handler pays. */
static uint64_t lookup_rcu(struct tree *t, const uint64_t *a, uint64_t n,
			   uint64_t batch)
{
	struct tree_entry e;
	uint64_t sum = 0;

	for (uint64_t i = 0, j, end; i < n; i = end) {
		end = n - i > batch ? i + batch : n;
		rcu_read_enter();
		for (j = i; j < end; j++)
			if (tree_find(t, a[j], &e))
				sum += e.start + (uintptr_t)e.ptr;
		rcu_read_exit();
	}
	return sum;
}

static uint64_t lookup_floor(const struct range *r, size_t nr,
			     const uint64_t *a, uint64_t n)
{
	const struct range *hit;
	uint64_t sum = 0;

	for (uint64_t i = 0; i < n; i++)
		if ((hit = floor_find(r, nr, a[i])))
			sum += hit->start + (uintptr_t)hit;
	return sum;
}

/* ns per lookup over every address: batch lookups per read-side section,
 * or the floor (batch 0). */
static double time_lookup(struct tree_run *run, uint64_t batch)
{
	uint64_t t0 = bench_now_ns();

	if (batch)
		sink += lookup_rcu(&run->t, run->addrs, run->nops, batch);
	else
		sink += lookup_floor(run->ranges, run->n, run->addrs,
				     run->nops);
	return (double)(bench_now_ns() - t0) / (double)run->nops;
}

/* Stores (ptr non-NULL) or erases (ptr NULL) one page in each chosen gap;
 * the elapsed ns, or 0 on failure. */
static uint64_t store_pass(struct tree_run *run, void *ptr)
{
	uint64_t t0 = bench_now_ns();

	for (size_t i = 0; i < run->k; i++) {
		int err = tree_store(&run->t, run->gaps[i],
				     run->gaps[i] + GRANULE, ptr);

		if (err) {
			fprintf(stderr, "bench: tree_store: %s\n",
				strerror(-err));
			return 0;
		}
	}
	return bench_now_ns() - t0;
}

/*
 * One measurement of stores and of erases, ns per operation, and the nodes
 * written per store + erase: work, not time, the same on any machine, so
 * that it shows the O(log n) shape apart from cache misses. The deferred
 * frees of a pass are drained before the next pass starts, outside the
 * timing, so each pass pays only for its own reclaim running beside it.
 */
static int time_store_erase(struct tree_run *run, double *ns)
{
	double ops = (double)run->k * run->rounds;
	struct tree_stats st[2];
	uint64_t sum[2] = { 0, 0 }, d;

	tree_stats(&run->t, &st[0]);
	for (unsigned r = 0; r < 2 * run->rounds; r++) {
		d = store_pass(run, r % 2 ? NULL : &store_mark);
		rcu_wait_callbacks();
		if (!d)
			return -ENOMEM;
		sum[r % 2] += d;
	}
	tree_stats(&run->t, &st[1]);
	ns[0] = (double)sum[0] / ops;
	ns[1] = (double)sum[1] / ops;
	run->nodes = (double)(st[1].written - st[0].written) / ops;
	return 0;
}

/* Each repeat times every lookup kind back to back, so that a slow drift
 * of the machine hits the tree and the floor alike; stores and erases
 * follow. */
static int measure(struct tree_run *run, const struct bench_opts *o,
		   struct bench_report *rep)
{
	double l, lr, f, ns[2];
	int err = 0;

	for (unsigned r = 0; r < o->repeat && !err; r++) {
		l = time_lookup(run, BATCH);
		lr = time_lookup(run, 1);
		f = time_lookup(run, 0);
		err = bench_run_ns(rep, "tree", "lookup", 1, run->n, l, f) ||
		      bench_run_ns(rep, "tree", "lookup+rcu", 1, run->n, lr, f);
	}
	for (unsigned r = 0; r < o->repeat && !err; r++)
		err = time_store_erase(run, ns) ||
		      bench_run_ns(rep, "tree", "store", 1, run->n, ns[0],
				   -1) ||
		      bench_run_ns(rep, "tree", "erase", 1, run->n, ns[1], -1);
	return err;
}

/*
 * Generates the data and builds the tree, untimed. Store passes are sized
 * by --ops too (capped), and small trees repeat their few gaps over
 * several rounds, so that every measurement is long enough to time.
 */
static int setup(struct tree_run *run)
{
	uint64_t stores = run->nops < MAX_STORE_OPS ? run->nops : MAX_STORE_OPS;
	size_t *perm = malloc(run->n * sizeof(*perm));
	uint64_t t0 = bench_now_ns();
	int err = -ENOMEM;

	run->k = run->n < stores ? run->n : (size_t)stores;
	run->rounds = (unsigned)((stores + run->k - 1) / run->k);
	run->ranges = malloc(run->n * sizeof(*run->ranges));
	run->addrs = malloc(run->nops * sizeof(*run->addrs));
	run->gaps = malloc(run->k * sizeof(*run->gaps));
	if (perm && run->ranges && run->addrs && run->gaps) {
		gen_data(run, perm);
		shuffle(perm, run->n, &run->rng);
		err = build_tree(run, perm);
	} else {
		fprintf(stderr, "bench: out of memory for %zu entries\n",
			run->n);
	}
	free(perm);
	if (err)
		return err;
	bench_progress("tree: %zu entries built in %.0f ms", run->n,
		       (double)(bench_now_ns() - t0) / 1e6);
	return check(run, "after build",
		     run->nops < CHECK_SAMPLE ? run->nops : CHECK_SAMPLE);
}

/* Measures one size into rows and notes. */
static int run_size(const struct bench_opts *o, size_t n,
		    struct bench_report *rep, double *nodes)
{
	struct tree_run run = { .n = n, .nops = o->ops, .rng = o->seed ^ n };
	struct tree_stats st;
	int err = tree_init(&run.t, GRANULE);

	if (err)
		return err;
	err = setup(&run);
	tree_stats(&run.t, &st);
	if (!err)
		err = measure(&run, o, rep);
	if (!err)
		err = check(&run, "after store+erase", 0);
	if (!err) {
		*nodes = run.nodes;
		bench_note(rep,
			   "nodes written per store+erase at %zu entries: %.2f",
			   n, run.nodes);
		bench_note(rep,
			   "memory at %zu entries: %.1f bytes/entry (%zu nodes "
			   "of %zu bytes, height %u)",
			   n, (double)st.bytes / (double)n, st.nodes,
			   tree_node_bytes(), st.height);
	}
	tree_destroy(&run.t);
	free(run.ranges);
	free(run.addrs);
	free(run.gaps);
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
	size_t nsizes = o->nsizes ? o->nsizes : 3;
	double nodes, small = 0, big = 0;
	int err = 0;

	snprintf(rep->title, sizeof(rep->title),
		 "tree benchmark (granule %u, %u repeats, medians)", GRANULE,
		 o->repeat);
	for (size_t i = 0; i < nsizes && !err; i++) {
		bench_progress("tree: %" PRIu64 " entries, %" PRIu64
			       " lookups, seed %" PRIu64,
			       sizes[i], o->ops, o->seed);
		err = run_size(o, (size_t)sizes[i], rep, &nodes);
		small = sizes[i] == 1000 && !err ? nodes : small;
		big = sizes[i] == 1000000 && !err ? nodes : big;
	}
	if (small > 0 && big > 0)
		bench_note(rep,
			   "nodes written per store+erase, 1M over 1k: %.2f "
			   "(the O(log n) work; the time ratio adds cache "
			   "misses)",
			   big / small);
	return err;
}
