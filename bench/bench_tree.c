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
#include <stdio.h>
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
	const struct bench_opts *o;
	size_t n;
	struct range *ranges; /* sorted; the tree's ptrs point at these */
	uint64_t span_end;    /* lookups fall in [BASE, span_end) */
	uint64_t *addrs;      /* o->ops lookup addresses */
	uint64_t *gaps;	      /* k free pages, each in a different gap */
	size_t k;
	unsigned rounds; /* k stores + k erases per round */
	uint64_t rng;
	struct tree t;
	bool tree_live;
	double nodes_store; /* nodes written per store, last measurement */
	double nodes_erase; /* and per erase */
};

/* The medians of one size, for the rows. */
struct tree_medians {
	double lookup, lookup_rcu, floor, store, erase;
};

/* Keeps results alive past the optimizer. */
static volatile uint64_t sink;

/* What stores put into gaps: any non-NULL pointer not in ranges[]. */
static char store_mark;

static uint64_t rand_pages(struct tree_run *run)
{
	return (1 + bench_rand_below(&run->rng, MAX_PAGES)) * GRANULE;
}

static void gen_ranges(struct tree_run *run)
{
	uint64_t cur = BASE;
	size_t i;

	for (i = 0; i < run->n; i++) {
		cur += rand_pages(run); /* the gap before range i */
		run->ranges[i].start = cur;
		cur += rand_pages(run);
		run->ranges[i].end = cur;
	}
	/* A trailing gap, so misses above the last range are tried too. */
	run->span_end = cur + rand_pages(run);
}

static void gen_addrs(struct tree_run *run)
{
	uint64_t span = run->span_end - BASE;
	uint64_t i;

	for (i = 0; i < run->o->ops; i++)
		run->addrs[i] = BASE + bench_rand_below(&run->rng, span);
}

/* Fisher-Yates: idx becomes a random permutation of 0..n-1. */
static void shuffle(size_t *idx, size_t n, uint64_t *rng)
{
	size_t i, j, tmp;

	for (i = 0; i < n; i++)
		idx[i] = i;
	for (i = n; i > 1; i--) {
		j = (size_t)bench_rand_below(rng, i);
		tmp = idx[i - 1];
		idx[i - 1] = idx[j];
		idx[j] = tmp;
	}
}

/* One page in each of k distinct gaps (gap i lies before range i), so the
 * k stores of a round never touch each other. */
static void gen_gaps(struct tree_run *run, const size_t *perm)
{
	uint64_t lo, pages;
	size_t i, g;

	for (i = 0; i < run->k; i++) {
		g = perm[i];
		lo = g ? run->ranges[g - 1].end : BASE;
		pages = (run->ranges[g].start - lo) / GRANULE;
		run->gaps[i] =
			lo + bench_rand_below(&run->rng, pages) * GRANULE;
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
	const struct range *r;
	size_t i;
	int err;

	tree_begin(&run->t);
	for (i = 0; i < run->n; i++) {
		r = &run->ranges[perm[i]];
		err = tree_txn_store(&run->t, r->start, r->end, (void *)r);
		if (err) {
			tree_abort(&run->t);
			fprintf(stderr, "bench: tree_txn_store: %s\n",
				strerror(-err));
			return err;
		}
	}
	tree_commit(&run->t);
	return 0;
}

/* The floor: branchless bisection for the last range starting at or below
 * addr, then one compare against its end. */
static const struct range *floor_find(const struct range *r, size_t n,
				      uint64_t addr)
{
	size_t half;

	while (n > 1) {
		half = n / 2;
		r = r[half].start <= addr ? r + half : r;
		n -= half;
	}
	if (r->start <= addr && addr < r->end)
		return r;
	return NULL;
}

/* Both structures must give the same answers, or the ratio means nothing. */
static int check_agree(struct tree_run *run)
{
	size_t i, n = run->o->ops < CHECK_SAMPLE ? run->o->ops : CHECK_SAMPLE;
	const struct range *want;
	struct tree_entry e;
	bool found;

	for (i = 0; i < n; i++) {
		want = floor_find(run->ranges, run->n, run->addrs[i]);
		rcu_read_enter();
		found = tree_find(&run->t, run->addrs[i], &e);
		rcu_read_exit();
		if (found != !!want ||
		    (want && (e.ptr != want || e.start != want->start ||
			      e.end != want->end))) {
			fprintf(stderr,
				"bench: tree_find(%#llx) disagrees with the "
				"sorted array (found %d, want %d)\n",
				(unsigned long long)run->addrs[i], found,
				!!want);
			return -EUCLEAN;
		}
	}
	return 0;
}

static int check_tree(struct tree_run *run, const char *when)
{
	struct tree_stats st;
	char msg[256];
	int err;

	err = tree_check(&run->t, msg, sizeof(msg));
	if (err) {
		fprintf(stderr, "bench: tree_check %s: %s\n", when, msg);
		return err;
	}
	tree_stats(&run->t, &st);
	if (st.entries != run->n) {
		fprintf(stderr, "bench: %zu entries %s, want %zu\n", st.entries,
			when, run->n);
		return -EUCLEAN;
	}
	return 0;
}

static uint64_t lookup_batched(struct tree *t, const uint64_t *a, size_t n)
{
	struct tree_entry e;
	uint64_t sum = 0;
	size_t i, j, end;

	for (i = 0; i < n; i = end) {
		end = n - i > BATCH ? i + BATCH : n;
		rcu_read_enter();
		for (j = i; j < end; j++) {
			if (tree_find(t, a[j], &e))
				sum += e.start + (uintptr_t)e.ptr;
		}
		rcu_read_exit();
	}
	return sum;
}

/* What a fault handler pays: a read-side section around every lookup. */
static uint64_t lookup_each_rcu(struct tree *t, const uint64_t *a, size_t n)
{
	struct tree_entry e;
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		rcu_read_enter();
		if (tree_find(t, a[i], &e))
			sum += e.start + (uintptr_t)e.ptr;
		rcu_read_exit();
	}
	return sum;
}

static uint64_t lookup_floor(const struct range *r, size_t nr,
			     const uint64_t *a, size_t n)
{
	const struct range *hit;
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		hit = floor_find(r, nr, a[i]);
		if (hit)
			sum += hit->start + (uintptr_t)hit;
	}
	return sum;
}

enum lookup_kind { LOOKUP_BATCHED, LOOKUP_EACH_RCU, LOOKUP_FLOOR };

/* ns per lookup over all o->ops addresses. */
static double time_lookup(struct tree_run *run, enum lookup_kind kind)
{
	size_t n = run->o->ops;
	uint64_t t0, sum;

	t0 = bench_now_ns();
	if (kind == LOOKUP_BATCHED)
		sum = lookup_batched(&run->t, run->addrs, n);
	else if (kind == LOOKUP_EACH_RCU)
		sum = lookup_each_rcu(&run->t, run->addrs, n);
	else
		sum = lookup_floor(run->ranges, run->n, run->addrs, n);
	t0 = bench_now_ns() - t0;
	sink += sum;
	return (double)t0 / (double)n;
}

/* Stores (ptr non-NULL) or erases (ptr NULL) one page in each chosen gap;
 * returns the elapsed ns, or 0 on failure. */
static uint64_t store_pass(struct tree_run *run, void *ptr)
{
	uint64_t t0 = bench_now_ns();
	size_t i;
	int err;

	for (i = 0; i < run->k; i++) {
		err = tree_store(&run->t, run->gaps[i], run->gaps[i] + GRANULE,
				 ptr);
		if (err) {
			fprintf(stderr, "bench: tree_store: %s\n",
				strerror(-err));
			return 0;
		}
	}
	return bench_now_ns() - t0;
}

/*
 * One measurement of stores and of erases. The deferred frees of a pass are
 * drained before the next pass starts, outside the timing, so each pass
 * pays only for its own reclaim running beside it.
 */
static uint64_t nodes_written(struct tree_run *run)
{
	struct tree_stats st;

	tree_stats(&run->t, &st);
	return st.written;
}

static int time_store_erase(struct tree_run *run, double *store, double *erase)
{
	uint64_t ts = 0, te = 0, ws = 0, we = 0, d, w;
	double ops = (double)run->k * run->rounds;
	unsigned r;

	for (r = 0; r < run->rounds; r++) {
		w = nodes_written(run);
		d = store_pass(run, &store_mark);
		ws += nodes_written(run) - w;
		rcu_wait_callbacks();
		if (!d)
			return -ENOMEM;
		ts += d;
		w = nodes_written(run);
		d = store_pass(run, NULL);
		we += nodes_written(run) - w;
		rcu_wait_callbacks();
		if (!d)
			return -ENOMEM;
		te += d;
	}
	*store = (double)ts / ops;
	*erase = (double)te / ops;
	/* Work, not time: the same on any machine, so it shows the O(log n)
	 * shape apart from cache misses. */
	run->nodes_store = (double)ws / ops;
	run->nodes_erase = (double)we / ops;
	return 0;
}

/* Each repeat measures every lookup kind back to back, so slow drift on a
 * noisy machine hits the tree and the floor alike. */
static void measure_lookups(struct tree_run *run, double *s,
			    struct tree_medians *m)
{
	unsigned rep = run->o->repeat, r;
	double *b = s + rep, *f = s + 2 * rep;

	for (r = 0; r < rep; r++) {
		s[r] = time_lookup(run, LOOKUP_BATCHED);
		b[r] = time_lookup(run, LOOKUP_EACH_RCU);
		f[r] = time_lookup(run, LOOKUP_FLOOR);
	}
	m->lookup = bench_median(s, rep);
	m->lookup_rcu = bench_median(b, rep);
	m->floor = bench_median(f, rep);
}

static int measure_stores(struct tree_run *run, double *s,
			  struct tree_medians *m)
{
	unsigned rep = run->o->repeat, r;
	double *e = s + rep;
	int err;

	for (r = 0; r < rep; r++) {
		err = time_store_erase(run, &s[r], &e[r]);
		if (err)
			return err;
	}
	m->store = bench_median(s, rep);
	m->erase = bench_median(e, rep);
	return 0;
}

static int add_row(struct bench_report *rep, const struct tree_run *run,
		   const char *op, double ns, double floor)
{
	struct bench_result r = {
		.scenario = "tree",
		.op = op,
		.size = run->n,
		.ns_per_op = ns,
		.floor_ns_per_op = floor,
		.repeats = run->o->repeat,
	};

	return bench_report_add(rep, &r);
}

static int add_rows(struct bench_report *rep, const struct tree_run *run,
		    const struct tree_medians *m)
{
	if (add_row(rep, run, "lookup", m->lookup, m->floor) ||
	    add_row(rep, run, "lookup+rcu", m->lookup_rcu, m->floor) ||
	    add_row(rep, run, "store", m->store, -1) ||
	    add_row(rep, run, "erase", m->erase, -1))
		return -ENOMEM;
	return 0;
}

static void run_free(struct tree_run *run)
{
	if (run->tree_live)
		tree_destroy(&run->t);
	free(run->ranges);
	free(run->addrs);
	free(run->gaps);
}

/* Store passes are sized by o->ops too (capped), and small trees repeat
 * their few gaps over several rounds so every measurement is long enough to
 * time. */
static void plan_stores(struct tree_run *run)
{
	uint64_t target =
		run->o->ops < MAX_STORE_OPS ? run->o->ops : MAX_STORE_OPS;

	run->k = run->n < target ? run->n : (size_t)target;
	run->rounds = (unsigned)((target + run->k - 1) / run->k);
}

/* Generates the data and builds the tree; nothing here is timed. */
static int run_setup(struct tree_run *run)
{
	size_t *perm;
	uint64_t t0;
	int err;

	plan_stores(run);
	run->ranges = malloc(run->n * sizeof(*run->ranges));
	run->addrs = malloc(run->o->ops * sizeof(*run->addrs));
	run->gaps = malloc(run->k * sizeof(*run->gaps));
	perm = malloc(run->n * sizeof(*perm));
	if (!run->ranges || !run->addrs || !run->gaps || !perm) {
		free(perm);
		fprintf(stderr, "bench: out of memory for %zu entries\n",
			run->n);
		return -ENOMEM;
	}
	gen_ranges(run);
	gen_addrs(run);
	shuffle(perm, run->n, &run->rng);
	gen_gaps(run, perm); /* the first k of a random order: distinct */
	shuffle(perm, run->n, &run->rng);
	t0 = bench_now_ns();
	err = build_tree(run, perm);
	free(perm);
	if (err)
		return err;
	bench_progress("tree: %zu entries built in %.0f ms", run->n,
		       (double)(bench_now_ns() - t0) / 1e6);
	err = check_tree(run, "after build");
	return err ? err : check_agree(run);
}

/* Nodes written per store + erase, per size, for the goal notes. */
struct size_work {
	size_t n;
	double nodes;
};

/* Measures one size and adds its rows; *st receives the tree's size, *work
 * the nodes written per store + erase. */
static int run_size(const struct bench_opts *o, size_t n,
		    struct bench_report *rep, struct tree_stats *st,
		    struct size_work *work)
{
	struct tree_run run = { .o = o, .n = n, .rng = o->seed ^ n };
	struct tree_medians m;
	double *samples = malloc(3 * o->repeat * sizeof(*samples));
	int err = -ENOMEM;

	if (!samples)
		goto out;
	err = tree_init(&run.t, GRANULE);
	if (err)
		goto out;
	run.tree_live = true;
	err = run_setup(&run);
	if (err)
		goto out;
	tree_stats(&run.t, st);
	measure_lookups(&run, samples, &m);
	bench_progress("tree: %zu entries: lookups done", n);
	err = measure_stores(&run, samples, &m);
	if (!err)
		err = check_tree(&run, "after store+erase");
	if (!err)
		err = add_rows(rep, &run, &m);
	work->n = n;
	work->nodes = run.nodes_store + run.nodes_erase;
	bench_progress("tree: %zu entries: stores and erases done", n);
out:
	free(samples);
	run_free(&run);
	return err;
}

static void note_goals(struct bench_report *rep)
{
	const struct bench_result *big, *small, *bigerase, *smallerase;
	double ratio;

	big = bench_report_find(rep, "lookup", 1000000);
	if (big) {
		ratio = bench_ratio(big);
		bench_note(rep,
			   "lookup at 1M within 2x of sorted-array floor: "
			   "%s (%.2f)",
			   ratio <= 2 ? "yes" : "no", ratio);
	}
	big = bench_report_find(rep, "store", 1000000);
	small = bench_report_find(rep, "store", 1000);
	bigerase = bench_report_find(rep, "erase", 1000000);
	smallerase = bench_report_find(rep, "erase", 1000);
	if (big && small && bigerase && smallerase) {
		ratio = (big->ns_per_op + bigerase->ns_per_op) /
			(small->ns_per_op + smallerase->ns_per_op);
		bench_note(rep, "store+erase at 1M within 2x of 1k: %s (%.2f)",
			   ratio <= 2 ? "yes" : "no", ratio);
	}
}

static void note_work(struct bench_report *rep, const struct size_work *w,
		      size_t n)
{
	const struct size_work *small = NULL, *big = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		bench_note(rep,
			   "nodes written per store+erase at %zu entries: "
			   "%.2f",
			   w[i].n, w[i].nodes);
		small = w[i].n == 1000 ? &w[i] : small;
		big = w[i].n == 1000000 ? &w[i] : big;
	}
	if (small && big && small->nodes > 0)
		bench_note(rep,
			   "nodes written per store+erase, 1M over 1k: "
			   "%.2f (the O(log n) work; the time ratio adds cache "
			   "misses)",
			   big->nodes / small->nodes);
}

static void note_memory(struct bench_report *rep, const size_t *sizes,
			const struct tree_stats *st, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		bench_note(rep,
			   "memory at %zu entries: %.1f bytes/entry "
			   "(%zu nodes of %zu bytes, height %u)",
			   sizes[i], (double)st[i].bytes / (double)sizes[i],
			   st[i].nodes, tree_node_bytes(), st[i].height);
	}
}

int bench_tree(const struct bench_opts *o, struct bench_report *rep)
{
	struct tree_stats *st = calloc(o->nsizes, sizeof(*st));
	struct size_work *work = calloc(o->nsizes, sizeof(*work));
	size_t i;
	int err = 0;

	if (!st || !work) {
		free(st);
		free(work);
		return -ENOMEM;
	}
	snprintf(rep->title, sizeof(rep->title),
		 "tree benchmark (granule %u, %u repeats, medians)", GRANULE,
		 o->repeat);
	for (i = 0; i < o->nsizes && !err; i++) {
		bench_progress("tree: %zu entries, %llu lookups, seed %llu",
			       o->sizes[i], (unsigned long long)o->ops,
			       (unsigned long long)o->seed);
		err = run_size(o, o->sizes[i], rep, &st[i], &work[i]);
	}
	note_goals(rep);
	/* Only the sizes that completed; a failed one stops the sweep. */
	note_work(rep, work, err ? i - 1 : i);
	note_memory(rep, o->sizes, st, err ? i - 1 : i);
	free(st);
	free(work);
	return err;
}
