/*
 * test_tree_concurrent.c - RCU readers against one writer on the range tree.
 *
 * The address space is cut into REGIONS regions of REGION_PAGES pages, with
 * HOLE_PAGES never-used pages after each. The writer's pattern is designed
 * so that every state it publishes has properties a reader can check
 * without knowing which state it is looking at:
 *
 * - "covered" regions (even index) are always fully covered: the writer only
 *   ever stores non-NULL pointers in them (single stores over sub-ranges,
 *   exact replacements, and transactions that retile the whole region or
 *   erase and refill a part of it, whose intermediate holes must never be
 *   seen);
 * - "toggled" regions (odd index) go between completely empty and completely
 *   covered, each switch as one tree_store or one transaction of several
 *   pieces; while covered they may also be retiled.
 *
 * - below the regions, a background of a few thousand one-page ranges keeps
 *   the tree 3+ levels deep; the writer stores and erases pages there too,
 *   so splits and merges happen all over the tree.
 *
 * Every stored pointer is a token (never freed while readers run) recording
 * the region and the range it was stored with; a range read back must lie
 * inside its token's range and region.
 *
 * Readers, each check in one RCU read-side section, count violations:
 *   hole       a covered region's address found in no range
 *   entry      a range not inside its token's range or region, or a bad token
 *   torn       a toggled region neither empty nor fully covered
 *   cover      a covered region's iteration not a complete ordered cover
 *   above      find_above / find_below inconsistent with the probe address
 *   gap        a gap search that failed or returned an area overlapping a
 *              covered region or outside its window
 * All must stay 0. The run is bounded by the writer's operation count.
 *
 * Options: --seed N, --ops N (writer operations), --readers N.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "check.h"
#include "tree_valid.h"
#include "rcu.h"
#include "tree.h"

#define G	     4096ULL
#define REGIONS	     32
#define REGION_PAGES 64
#define HOLE_PAGES   4
#define STRIDE	     ((REGION_PAGES + HOLE_PAGES) * G)
#define BASE	     (1ULL << 36)
#define SPACE_END    (BASE + REGIONS * STRIDE)
#define TOKEN_MAGIC  0x70CE4u
/* Background ranges below the regions, so the tree is 3+ levels deep and
 * the writer's changes split and merge nodes all over it. */
#define BG_PAGES    8192
#define BG_BASE	    (BASE - (BG_PAGES + 1024) * G)
#define BG_REGION   REGIONS
#define MAX_PIECES  5
#define DEFAULT_OPS 1000000

struct token {
	uint64_t start, end; /* the range stored with this token */
	uint64_t lo, hi;     /* the region it was stored in */
	unsigned region;     /* its index, BG_REGION for the background */
	unsigned magic;
};

static struct tree tree;
static struct token *tokens;
static size_t ntokens, max_tokens;
static atomic_bool writer_done;

enum violation { V_HOLE, V_ENTRY, V_TORN, V_COVER, V_ABOVE, V_GAP, V_COUNT };

static const char *const violation_names[V_COUNT] = { "hole",  "entry", "torn",
						      "cover", "above", "gap" };

enum check_kind {
	C_FIND,
	C_ITER_TOGGLED,
	C_ITER_COVERED,
	C_ABOVE,
	C_GAP,
	C_KINDS
};

struct reader {
	pthread_t thread;
	uint64_t seed;
	uint64_t checks[C_KINDS];
	uint64_t seen_empty, seen_full; /* toggled regions, for the report */
	uint64_t violations[V_COUNT];
};

static uint64_t region_lo(unsigned r)
{
	return BASE + r * STRIDE;
}

static uint64_t region_hi(unsigned r)
{
	return region_lo(r) + REGION_PAGES * G;
}

static bool always_covered(unsigned r)
{
	return r % 2 == 0;
}

/* The region containing addr, or -1 for the holes and outside. */
static int region_of(uint64_t addr)
{
	uint64_t r;

	if (addr < BASE || addr >= SPACE_END)
		return -1;
	r = (addr - BASE) / STRIDE;
	return addr < region_hi((unsigned)r) ? (int)r : -1;
}

/* ---- the writer ---------------------------------------------------------- */

/* A token for [start, end) in region r. Written before the store that
 * publishes it; the tree's release/acquire on the root orders it for the
 * readers. */
static struct token *new_token(unsigned r, uint64_t start, uint64_t end)
{
	struct token *tk;

	CHECK(ntokens < max_tokens);
	tk = &tokens[ntokens++];
	tk->start = start;
	tk->end = end;
	tk->region = r;
	if (r == BG_REGION) {
		tk->lo = BG_BASE;
		tk->hi = BG_BASE + BG_PAGES * G;
	} else {
		tk->lo = region_lo(r);
		tk->hi = region_hi(r);
	}
	tk->magic = TOKEN_MAGIC;
	return tk;
}

/* A random sub-range [*s, *e) of region r. */
static void random_sub(unsigned r, uint64_t *s, uint64_t *e)
{
	uint64_t a = rng_below(REGION_PAGES);
	uint64_t len = 1 + rng_below(rng_chance(1, 2) ? 4 : REGION_PAGES - a);

	if (a + len > REGION_PAGES)
		len = REGION_PAGES - a;
	*s = region_lo(r) + a * G;
	*e = *s + len * G;
}

/* Cut region r into n adjacent pieces: cut[0..n] page boundaries. */
static void random_cuts(unsigned r, unsigned n, uint64_t *cut)
{
	cut[0] = region_lo(r);
	cut[n] = region_hi(r);
	for (unsigned i = 1; i < n; i++) {
		/* Strictly increasing, leaving room for the rest. */
		uint64_t min = cut[i - 1] + G;
		uint64_t max = region_hi(r) - (n - i) * G;

		cut[i] = min + rng_below((max - min) / G + 1) * G;
	}
}

/* A random order of 0..n-1. */
static void random_order(unsigned n, unsigned *order)
{
	for (unsigned i = 0; i < n; i++)
		order[i] = i;
	for (unsigned i = n; i > 1; i--) {
		unsigned j = (unsigned)rng_below(i), t = order[i - 1];

		order[i - 1] = order[j];
		order[j] = t;
	}
}

/* One transaction storing pieces (tokens, or NULL to erase) over region r
 * cut in n pieces, in random order; committed, or aborted when abort. */
static void txn_pieces(unsigned r, unsigned n, bool erase, bool abort)
{
	uint64_t cut[MAX_PIECES + 1];
	unsigned order[MAX_PIECES];

	random_cuts(r, n, cut);
	random_order(n, order);
	tree_begin(&tree);
	for (unsigned i = 0; i < n; i++) {
		uint64_t s = cut[order[i]], e = cut[order[i] + 1];
		void *ptr = erase ? NULL : new_token(r, s, e);

		CHECK_EQ_U64(tree_txn_store(&tree, s, e, ptr), 0);
	}
	if (abort)
		tree_abort(&tree);
	else
		tree_commit(&tree);
}

/* Replace exactly the range covering a random address of region r. */
static void exact_replace(unsigned r)
{
	uint64_t addr = region_lo(r) + rng_below(REGION_PAGES) * G;
	struct tree_entry e;

	/* The writer outside a transaction may read without RCU. */
	CHECK(tree_find(&tree, addr, &e));
	CHECK_EQ_U64(
		tree_store(&tree, e.start, e.end, new_token(r, e.start, e.end)),
		0);
}

/* Erase a sub-range and refill it (maybe in pieces) in one transaction:
 * readers must never see the hole. */
static void erase_refill(unsigned r)
{
	uint64_t s, e, mid;

	random_sub(r, &s, &e);
	tree_begin(&tree);
	CHECK_EQ_U64(tree_txn_store(&tree, s, e, NULL), 0);
	if (e - s >= 2 * G && rng_chance(1, 2)) {
		mid = s + (1 + rng_below((e - s) / G - 1)) * G;
		CHECK_EQ_U64(
			tree_txn_store(&tree, mid, e, new_token(r, mid, e)), 0);
		CHECK_EQ_U64(
			tree_txn_store(&tree, s, mid, new_token(r, s, mid)), 0);
	} else {
		CHECK_EQ_U64(tree_txn_store(&tree, s, e, new_token(r, s, e)),
			     0);
	}
	if (rng_chance(1, 8))
		tree_abort(&tree);
	else
		tree_commit(&tree);
}

/* Changes that keep a fully covered region fully covered. */
static void modify_covered(unsigned r)
{
	uint64_t s, e;

	switch (rng_below(8)) {
	case 0:
	case 1:
	case 2:
		random_sub(r, &s, &e);
		CHECK_EQ_U64(tree_store(&tree, s, e, new_token(r, s, e)), 0);
		break;
	case 3:
		exact_replace(r);
		break;
	case 4:
	case 5:
		txn_pieces(r, 1 + (unsigned)rng_below(MAX_PIECES), false,
			   rng_chance(1, 8));
		break;
	default:
		erase_refill(r);
		break;
	}
}

/* Switch toggled region r between empty and covered, in one step. */
static void toggle(unsigned r, bool *covered)
{
	bool abort = rng_chance(1, 8);

	if (rng_chance(1, 2)) {
		void *ptr = *covered ? NULL
				     : new_token(r, region_lo(r), region_hi(r));

		CHECK_EQ_U64(tree_store(&tree, region_lo(r), region_hi(r), ptr),
			     0);
		abort = false;
	} else {
		txn_pieces(r, 2 + (unsigned)rng_below(MAX_PIECES - 1), *covered,
			   abort);
	}
	if (!abort)
		*covered = !*covered;
}

static void check_structure(void)
{
	check_tree_valid(&tree);
}

/* The writer's own view at the end: every region as its history says. */
static void check_final(const bool *covered)
{
	for (unsigned r = 0; r < REGIONS; r++) {
		struct tree_iter it;
		struct tree_entry e;
		uint64_t next = region_lo(r);

		tree_iter_start(&it, &tree, region_lo(r), region_hi(r));
		while (tree_iter_next(&it, &e)) {
			CHECK_EQ_U64(e.start, next);
			next = e.end;
		}
		if (always_covered(r) || covered[r])
			CHECK_EQ_U64(next, region_hi(r));
		else
			CHECK_EQ_U64(next, region_lo(r));
	}
}

/* Store or erase one random background page. */
static void modify_background(void)
{
	uint64_t s = BG_BASE + rng_below(BG_PAGES) * G;
	void *ptr = rng_chance(1, 2) ? new_token(BG_REGION, s, s + G) : NULL;

	CHECK_EQ_U64(tree_store(&tree, s, s + G, ptr), 0);
}

static void run_writer(uint64_t ops, uint64_t seed)
{
	bool covered[REGIONS] = { false };

	rng_seed(rng_derive(seed, 0));
	for (uint64_t i = 0; i < ops; i++) {
		unsigned r = (unsigned)rng_below(REGIONS);

		if (rng_chance(1, 8))
			modify_background();
		else if (always_covered(r) || (covered[r] && rng_chance(1, 3)))
			modify_covered(r);
		else
			toggle(r, &covered[r]);
		if (i % 4096 == 0)
			check_structure();
	}
	check_structure();
	check_final(covered);
}

/* ---- the readers --------------------------------------------------------- */

/* The token of e, if it is one of ours (else NULL: a violation). */
static const struct token *token_of(const struct tree_entry *e)
{
	const struct token *tk = e->ptr;

	if (tk < tokens || tk >= tokens + max_tokens)
		return NULL;
	if ((uintptr_t)tk % _Alignof(struct token) || tk->magic != TOKEN_MAGIC)
		return NULL;
	return tk;
}

/* e lies inside its token's range, and in the token's region. */
static bool entry_ok(const struct tree_entry *e)
{
	const struct token *tk = token_of(e);

	return tk && tk->start <= e->start && e->end <= tk->end &&
	       e->start < e->end && tk->lo <= e->start && e->end <= tk->hi;
}

/* A background address: its range, if any, is a background one. */
static void check_find_background(struct reader *rd)
{
	uint64_t addr = BG_BASE + rng_below(BG_PAGES * G);
	struct tree_entry e;
	bool found;

	rcu_read_enter();
	found = tree_find(&tree, addr, &e);
	rcu_read_exit();
	if (found && (!entry_ok(&e) || e.start > addr || addr >= e.end ||
		      token_of(&e)->region != BG_REGION))
		rd->violations[V_ENTRY]++;
}

/* A covered region's address: always in a range of that region. */
static void check_find(struct reader *rd)
{
	unsigned r = 2 * (unsigned)rng_below(REGIONS / 2);
	uint64_t addr = region_lo(r) + rng_below(REGION_PAGES * G);
	struct tree_entry e;
	bool found;

	if (rng_chance(1, 8)) {
		check_find_background(rd);
		return;
	}
	rcu_read_enter();
	found = tree_find(&tree, addr, &e);
	rcu_read_exit();
	if (!found)
		rd->violations[V_HOLE]++;
	else if (!entry_ok(&e) || e.start > addr || addr >= e.end ||
		 token_of(&e)->region != r)
		rd->violations[V_ENTRY]++;
}

/*
 * Iterate region r in one section: the ranges must be in order, inside
 * their tokens, and either none or a gap-free cover of the region. Returns
 * whether it was empty.
 */
static bool check_iter(struct reader *rd, unsigned r, bool must_cover)
{
	uint64_t next = region_lo(r);
	struct tree_iter it;
	struct tree_entry e;
	bool gapless = true;
	size_t n = 0;

	rcu_read_enter();
	tree_iter_start(&it, &tree, region_lo(r), region_hi(r));
	while (tree_iter_next(&it, &e)) {
		if (!entry_ok(&e) || token_of(&e)->region != r)
			rd->violations[V_ENTRY]++;
		if (e.start != next)
			gapless = false;
		next = e.end;
		n++;
	}
	rcu_read_exit();
	if (next != region_hi(r) && n)
		gapless = false;
	if (must_cover && (!n || !gapless))
		rd->violations[V_COVER]++;
	else if (!must_cover && n && !gapless)
		rd->violations[V_TORN]++;
	return n == 0;
}

/* find_above(addr) and find_below(addr) against what is known of addr. */
static void check_above_below(struct reader *rd)
{
	uint64_t addr = BASE - 2 * G + rng_below(SPACE_END - BASE + 4 * G);
	int ra = region_of(addr), rb = region_of(addr - 1);
	struct tree_entry a, b;
	bool fa, fb;

	rcu_read_enter();
	fa = tree_find_above(&tree, addr, &a);
	fb = tree_find_below(&tree, addr, &b);
	rcu_read_exit();

	/* Covered regions span all but the last region's end. */
	if (!fa && addr < region_hi(REGIONS - 2))
		rd->violations[V_ABOVE]++;
	if (fa &&
	    (!entry_ok(&a) || a.end <= addr ||
	     (ra >= 0 && always_covered((unsigned)ra) && a.start > addr) ||
	     (ra < 0 && a.start <= addr)))
		rd->violations[V_ABOVE]++;
	if (!fb && addr > region_lo(0))
		rd->violations[V_ABOVE]++;
	if (fb && (!entry_ok(&b) || b.start >= addr ||
		   (rb >= 0 && always_covered((unsigned)rb) && b.end < addr) ||
		   (rb < 0 && b.end > addr - 1)))
		rd->violations[V_ABOVE]++;
}

/*
 * A gap search in a random window from the start of the space: the result
 * must lie in the window and miss every covered region; sizes up to a hole
 * always fit (the holes are never used).
 */
static void check_gap(struct reader *rd)
{
	unsigned last = (unsigned)rng_below(REGIONS);
	uint64_t high = region_hi(last) + HOLE_PAGES * G;
	uint64_t size = (1 + rng_below(REGION_PAGES)) * G;
	bool top = rng_chance(1, 2);
	uint64_t addr = 0;
	int err;

	rcu_read_enter();
	if (top)
		err = tree_gap_topdown(&tree, BASE, high, size, 0, &addr);
	else
		err = tree_gap_bottomup(&tree, BASE, high, size, 0, &addr);
	rcu_read_exit();
	if (err == -ENOMEM && size > HOLE_PAGES * G)
		return;
	if (err) {
		rd->violations[V_GAP]++;
		return;
	}
	if (addr < BASE || addr + size > high || addr % G)
		rd->violations[V_GAP]++;
	for (unsigned r = 0; r < REGIONS; r += 2)
		if (addr < region_hi(r) && region_lo(r) < addr + size)
			rd->violations[V_GAP]++;
}

static void *run_reader(void *arg)
{
	struct reader *rd = arg;

	rng_seed(rd->seed);
	while (!atomic_load_explicit(&writer_done, memory_order_acquire)) {
		unsigned kind = (unsigned)rng_below(16);
		unsigned r;

		if (kind < 6) {
			kind = C_FIND;
			check_find(rd);
		} else if (kind < 9) {
			kind = C_ITER_TOGGLED;
			r = 1 + 2 * (unsigned)rng_below(REGIONS / 2);
			if (check_iter(rd, r, false))
				rd->seen_empty++;
			else
				rd->seen_full++;
		} else if (kind < 11) {
			kind = C_ITER_COVERED;
			check_iter(rd, 2 * (unsigned)rng_below(REGIONS / 2),
				   true);
		} else if (kind < 15) {
			kind = C_ABOVE;
			check_above_below(rd);
		} else {
			kind = C_GAP;
			check_gap(rd);
		}
		rd->checks[kind]++;
	}
	return NULL;
}

/* ---- main ---------------------------------------------------------------- */

/* Before the threads start: covered regions covered, toggled ones empty,
 * every other background page stored. */
static void initial_state(void)
{
	for (uint64_t p = 0; p < BG_PAGES; p += 2) {
		uint64_t s = BG_BASE + p * G;

		CHECK_EQ_U64(tree_store(&tree, s, s + G,
					new_token(BG_REGION, s, s + G)),
			     0);
	}
	for (unsigned r = 0; r < REGIONS; r += 2)
		CHECK_EQ_U64(
			tree_store(&tree, region_lo(r), region_hi(r),
				   new_token(r, region_lo(r), region_hi(r))),
			0);
}

static uint64_t report(struct reader *readers, unsigned n)
{
	uint64_t bad = 0;

	for (unsigned i = 0; i < n; i++) {
		struct reader *rd = &readers[i];

		printf("reader %u: %" PRIu64 " finds, %" PRIu64
		       " toggled iterations (%" PRIu64 " empty, %" PRIu64
		       " full), %" PRIu64 " covered iterations, %" PRIu64
		       " above/below, %" PRIu64 " gap searches\n",
		       i, rd->checks[C_FIND], rd->checks[C_ITER_TOGGLED],
		       rd->seen_empty, rd->seen_full,
		       rd->checks[C_ITER_COVERED], rd->checks[C_ABOVE],
		       rd->checks[C_GAP]);
		printf("  violations:");
		for (int v = 0; v < V_COUNT; v++) {
			printf(" %s %" PRIu64, violation_names[v],
			       rd->violations[v]);
			bad += rd->violations[v];
		}
		printf("\n");
	}
	return bad;
}

int main(int argc, char **argv)
{
	uint64_t seed = test_seed(argc, argv);
	uint64_t ops =
		arg_u64(argc, argv, "--ops", test_scaled(DEFAULT_OPS, 50000));
	unsigned nreaders = (unsigned)arg_u64(argc, argv, "--readers", 3);
	struct reader *readers = calloc(nreaders, sizeof(*readers));
	struct tree_stats st;
	uint64_t bad;

	CHECK(readers && nreaders > 0);
	/* At most MAX_PIECES tokens per writer operation. */
	max_tokens = ops * MAX_PIECES + REGIONS + BG_PAGES;
	tokens = calloc(max_tokens, sizeof(*tokens));
	CHECK(tokens != NULL);
	CHECK_EQ_U64(tree_init(&tree, G), 0);
	initial_state();

	for (unsigned i = 0; i < nreaders; i++) {
		readers[i].seed = rng_derive(seed, i + 1);
		CHECK(pthread_create(&readers[i].thread, NULL, run_reader,
				     &readers[i]) == 0);
	}
	run_writer(ops, seed);
	atomic_store_explicit(&writer_done, true, memory_order_release);
	for (unsigned i = 0; i < nreaders; i++)
		CHECK(pthread_join(readers[i].thread, NULL) == 0);

	tree_stats(&tree, &st);
	printf("writer: %" PRIu64 " operations, %zu tokens; final tree %zu "
	       "entries, %zu nodes, height %u\n",
	       ops, ntokens, st.entries, st.nodes, st.height);
	bad = report(readers, nreaders);
	tree_destroy(&tree);
	free(tokens);
	free(readers);
	if (bad) {
		printf("tree_concurrent: FAILED, %" PRIu64
		       " violations (seed %" PRIu64 ")\n",
		       bad, seed);
		return 1;
	}
	printf("tree_concurrent: passed\n");
	return 0;
}
