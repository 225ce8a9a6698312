/*
 * test_tree_basic.c - deterministic cases of the range tree (src/tree.h),
 * each with its expected result written out, on a 4 KiB granule.
 *
 * Single-threaded: this thread is the writer. Reads made while a transaction
 * is open, and gap searches, take the RCU read lock as tree.h asks of
 * readers; other reads rely on "the writer outside a transaction" may read.
 */
#include <errno.h>
#include <stdio.h>

#include "alloc.h"
#include "check.h"
#include "tree_valid.h"
#include "rcu.h"
#include "tree.h"

#define G    4096ULL
#define K(n) ((uint64_t)(n)*G) /* n pages */
#define M    (2ULL << 20)      /* 2 MiB, the huge page alignment */
#define TOP  (0ULL - G)	       /* the highest aligned address */

/* Distinct pointers to store; the tree never dereferences them. */
static char objs[16];
#define P(i) ((void *)&objs[i])

struct want {
	uint64_t start, end;
	void *ptr;
};

static void check_entry(const struct tree_entry *e, uint64_t start,
			uint64_t end, void *ptr)
{
	CHECK_EQ_U64(e->start, start);
	CHECK_EQ_U64(e->end, end);
	CHECK(e->ptr == ptr);
}

/* The ranges overlapping [lo, hi) are exactly want[0..n), in order. */
static void check_iter(struct tree *t, uint64_t lo, uint64_t hi,
		       const struct want *want, size_t n)
{
	struct tree_iter it;
	struct tree_entry e;
	size_t i = 0;

	rcu_read_enter();
	tree_iter_start(&it, t, lo, hi);
	while (tree_iter_next(&it, &e)) {
		CHECK(i < n);
		check_entry(&e, want[i].start, want[i].end, want[i].ptr);
		i++;
	}
	/* An exhausted iterator stays exhausted. */
	CHECK(!tree_iter_next(&it, &e));
	rcu_read_exit();
	CHECK_EQ_U64(i, n);
}

/* The whole tree is want[0..n): contents, count, and a valid structure. */
static void check_tree(struct tree *t, const struct want *want, size_t n)
{
	struct tree_stats st;

	check_iter(t, 0, UINT64_MAX, want, n);
	tree_stats(t, &st);
	CHECK_EQ_U64(st.entries, n);
	CHECK((st.nodes == 0) == (n == 0));
	CHECK((st.height == 0) == (n == 0));
	CHECK(st.bytes >= st.nodes * tree_node_bytes());
	check_tree_valid(t);
}

static void check_find(struct tree *t, uint64_t addr, const struct want *w)
{
	struct tree_entry e;
	bool found = tree_find(t, addr, &e);

	CHECK(found == (w != NULL));
	if (w)
		check_entry(&e, w->start, w->end, w->ptr);
}

static void check_above(struct tree *t, uint64_t addr, const struct want *w)
{
	struct tree_entry e;
	bool found = tree_find_above(t, addr, &e);

	CHECK(found == (w != NULL));
	if (w)
		check_entry(&e, w->start, w->end, w->ptr);
}

static void check_below(struct tree *t, uint64_t addr, const struct want *w)
{
	struct tree_entry e;
	bool found = tree_find_below(t, addr, &e);

	CHECK(found == (w != NULL));
	if (w)
		check_entry(&e, w->start, w->end, w->ptr);
}

/* Both gap searches under the RCU read lock, as readers call them. */
static int gap_top(struct tree *t, uint64_t low, uint64_t high, uint64_t size,
		   uint64_t align, uint64_t *addr)
{
	int err;

	rcu_read_enter();
	err = tree_gap_topdown(t, low, high, size, align, addr);
	rcu_read_exit();
	return err;
}

static int gap_bottom(struct tree *t, uint64_t low, uint64_t high,
		      uint64_t size, uint64_t align, uint64_t *addr)
{
	int err;

	rcu_read_enter();
	err = tree_gap_bottomup(t, low, high, size, align, addr);
	rcu_read_exit();
	return err;
}

static void check_gap(struct tree *t, uint64_t low, uint64_t high,
		      uint64_t size, uint64_t align, int want_err,
		      uint64_t want_top, uint64_t want_bottom)
{
	uint64_t top = 0x5a5a, bottom = 0x5a5a;
	int err_top = gap_top(t, low, high, size, align, &top);
	int err_bottom = gap_bottom(t, low, high, size, align, &bottom);

	if (err_top != want_err || err_bottom != want_err ||
	    (!want_err && (top != want_top || bottom != want_bottom)))
		fprintf(stderr,
			"gap low %#" PRIx64 " high %#" PRIx64 " size %#" PRIx64
			" align %#" PRIx64 ": topdown %d %#" PRIx64
			", bottomup %d %#" PRIx64 "; want %d %#" PRIx64
			", %#" PRIx64 "\n",
			low, high, size, align, err_top, top, err_bottom,
			bottom, want_err, want_top, want_bottom);
	CHECK_EQ_U64(err_top, want_err);
	CHECK_EQ_U64(err_bottom, want_err);
	if (!want_err) {
		CHECK_EQ_U64(top, want_top);
		CHECK_EQ_U64(bottom, want_bottom);
	}
}

static void test_init(void)
{
	struct tree t;

	CHECK_EQ_U64(tree_init(&t, 0), -EINVAL);
	CHECK_EQ_U64(tree_init(&t, 3), -EINVAL);
	CHECK_EQ_U64(tree_init(&t, 4096 + 4096 / 2), -EINVAL);
	CHECK_EQ_U64(tree_init(&t, (1ULL << 63) + 1), -EINVAL);

	/* Granule 1: any range is aligned. */
	CHECK_EQ_U64(tree_init(&t, 1), 0);
	CHECK_EQ_U64(tree_store(&t, 5, 7, P(1)), 0);
	CHECK_EQ_U64(tree_store(&t, 6, 9, P(2)), 0);
	{
		const struct want w[] = { { 5, 6, P(1) }, { 6, 9, P(2) } };

		check_tree(&t, w, 2);
		check_find(&t, 6, &w[1]);
		check_find(&t, 4, NULL);
	}
	tree_destroy(&t);
}

static void test_empty(void)
{
	struct tree t;
	struct tree_stats st;

	CHECK_EQ_U64(tree_init(&t, G), 0);
	check_tree(&t, NULL, 0);
	tree_stats(&t, &st);
	CHECK_EQ_U64(st.entries, 0);
	CHECK_EQ_U64(st.nodes, 0);
	CHECK_EQ_U64(st.bytes, 0);
	CHECK_EQ_U64(st.height, 0);

	check_find(&t, 0, NULL);
	check_find(&t, K(5), NULL);
	check_find(&t, UINT64_MAX, NULL);
	check_above(&t, 0, NULL);
	check_above(&t, K(5), NULL);
	check_below(&t, UINT64_MAX, NULL);
	check_below(&t, K(5), NULL);
	check_below(&t, 0, NULL);
	check_iter(&t, 0, UINT64_MAX, NULL, 0);

	/* The whole window is free. */
	check_gap(&t, K(16), K(32), K(4), 0, 0, K(28), K(16));
	check_gap(&t, K(16), K(32), K(16), 0, 0, K(16), K(16));
	check_gap(&t, K(16), K(32), K(17), 0, -ENOMEM, 0, 0);
	check_gap(&t, 0, TOP, K(1), 0, 0, TOP - K(1), 0);
	check_gap(&t, 0, TOP, M, M, 0, 0 - 2 * M, 0);

	/* The whole key space, where size + align - granule is just below
	 * 2^64 although size + align is not: still exactly long enough. */
	check_gap(&t, 0, TOP, TOP, 0, 0, 0, 0);
	check_gap(&t, 0, TOP, 1ULL << 63, 1ULL << 63, 0, 0, 0);
	check_gap(&t, 0, TOP, TOP - K(1), K(2), 0, 0, 0);
	check_gap(&t, G, TOP, TOP, 0, -ENOMEM, 0, 0);
	check_gap(&t, 0, TOP, (1ULL << 63) + G, 1ULL << 63, -ENOMEM, 0, 0);

	/* Erasing nothing is a successful no-op. */
	CHECK_EQ_U64(tree_store(&t, K(1), K(9), NULL), 0);
	check_tree(&t, NULL, 0);
	tree_destroy(&t);
}

/* One entry [10, 20): every lookup at and around its edges. */
static void test_one(void)
{
	const struct want w = { K(10), K(20), P(1) };
	struct tree t;
	struct tree_stats st;

	CHECK_EQ_U64(tree_init(&t, G), 0);
	CHECK_EQ_U64(tree_store(&t, K(10), K(20), P(1)), 0);
	check_tree(&t, &w, 1);
	tree_stats(&t, &st);
	CHECK_EQ_U64(st.entries, 1);
	CHECK_EQ_U64(st.nodes, 1);
	CHECK_EQ_U64(st.height, 1);
	CHECK_EQ_U64(st.bytes, tree_node_bytes());

	check_find(&t, K(10), &w);
	check_find(&t, K(15) + 123, &w);
	check_find(&t, K(20) - 1, &w);
	check_find(&t, K(20), NULL);
	check_find(&t, K(10) - 1, NULL);
	check_find(&t, 0, NULL);
	check_find(&t, UINT64_MAX, NULL);

	check_above(&t, 0, &w);
	check_above(&t, K(10) - 1, &w);
	check_above(&t, K(10), &w);
	check_above(&t, K(20) - 1, &w);
	check_above(&t, K(20), NULL);
	check_above(&t, UINT64_MAX, NULL);

	check_below(&t, 0, NULL);
	check_below(&t, K(10), NULL);
	check_below(&t, K(10) + 1, &w);
	check_below(&t, K(20) - 1, &w);
	check_below(&t, K(20), &w);
	check_below(&t, K(20) + 1, &w);
	check_below(&t, UINT64_MAX, &w);

	check_iter(&t, 0, K(10), NULL, 0);
	check_iter(&t, K(20), K(30), NULL, 0);
	check_iter(&t, K(10) - 1, K(10) + 1, &w, 1);
	check_iter(&t, K(20) - 1, K(20), &w, 1);
	check_iter(&t, K(12), K(13), &w, 1);
	check_iter(&t, K(12), K(12), NULL, 0);

	/* The free space on both sides of it. */
	check_gap(&t, 0, K(30), K(10), 0, 0, K(20), 0);
	check_gap(&t, 0, K(30), K(11), 0, -ENOMEM, 0, 0);
	check_gap(&t, K(5), K(25), K(5), 0, 0, K(20), K(5));
	check_gap(&t, K(5), K(25), K(6), 0, -ENOMEM, 0, 0);
	check_gap(&t, K(10), K(20), K(1), 0, -ENOMEM, 0, 0);
	tree_destroy(&t);
}

/* Stores and erases that replace parts of what is there. */
static void test_store_over(void)
{
	struct tree t;

	CHECK_EQ_U64(tree_init(&t, G), 0);
	CHECK_EQ_U64(tree_store(&t, K(10), K(20), P(1)), 0);

	/* Over the middle of one entry: it splits in three. */
	CHECK_EQ_U64(tree_store(&t, K(12), K(15), P(2)), 0);
	{
		const struct want w[] = { { K(10), K(12), P(1) },
					  { K(12), K(15), P(2) },
					  { K(15), K(20), P(1) } };

		check_tree(&t, w, 3);
		check_find(&t, K(12) - 1, &w[0]);
		check_find(&t, K(12), &w[1]);
		check_find(&t, K(15) - 1, &w[1]);
		check_find(&t, K(15), &w[2]);
		check_below(&t, K(12), &w[0]);
		check_above(&t, K(15), &w[2]);
	}

	/* Exactly over one entry: only its pointer changes. */
	CHECK_EQ_U64(tree_store(&t, K(12), K(15), P(3)), 0);
	{
		const struct want w[] = { { K(10), K(12), P(1) },
					  { K(12), K(15), P(3) },
					  { K(15), K(20), P(1) } };

		check_tree(&t, w, 3);
	}

	/* Over the start of one entry and the end of another. */
	CHECK_EQ_U64(tree_store(&t, K(30), K(40), P(4)), 0);
	CHECK_EQ_U64(tree_store(&t, K(40), K(50), P(5)), 0);
	CHECK_EQ_U64(tree_store(&t, K(60), K(70), P(6)), 0);
	CHECK_EQ_U64(tree_store(&t, K(35), K(65), P(7)), 0);
	{
		const struct want w[] = {
			{ K(10), K(12), P(1) }, { K(12), K(15), P(3) },
			{ K(15), K(20), P(1) }, { K(30), K(35), P(4) },
			{ K(35), K(65), P(7) }, { K(65), K(70), P(6) }
		};

		check_tree(&t, w, 6);
		check_find(&t, K(50), &w[4]);
		check_find(&t, K(55), &w[4]);
		check_find(&t, K(65), &w[5]);
	}

	/* Erase across several entries, trimming the two at the edges. */
	CHECK_EQ_U64(tree_store(&t, K(11), K(33), NULL), 0);
	{
		const struct want w[] = { { K(10), K(11), P(1) },
					  { K(33), K(35), P(4) },
					  { K(35), K(65), P(7) },
					  { K(65), K(70), P(6) } };

		check_tree(&t, w, 4);
		check_find(&t, K(11), NULL);
		check_find(&t, K(33) - 1, NULL);
		check_above(&t, K(11), &w[1]);
		check_below(&t, K(33), &w[0]);
	}

	/* Erase inside one entry: it splits in two around the hole. */
	CHECK_EQ_U64(tree_store(&t, K(40), K(50), NULL), 0);
	{
		const struct want w[] = { { K(10), K(11), P(1) },
					  { K(33), K(35), P(4) },
					  { K(35), K(40), P(7) },
					  { K(50), K(65), P(7) },
					  { K(65), K(70), P(6) } };

		check_tree(&t, w, 5);
		check_find(&t, K(40), NULL);
		check_find(&t, K(50) - 1, NULL);
		check_find(&t, K(40) - 1, &w[2]);
		check_find(&t, K(50), &w[3]);
		check_above(&t, K(40), &w[3]);
		check_above(&t, K(45), &w[3]);
		check_below(&t, K(50), &w[2]);
		check_below(&t, K(50) + 1, &w[3]);
		check_above(&t, K(70), NULL);
		check_below(&t, K(10), NULL);

		/* Iteration returns exactly the overlapping ranges. */
		check_iter(&t, K(34), K(51), &w[1], 3);
		check_iter(&t, K(40), K(50), NULL, 0);
		check_iter(&t, K(39), K(40), &w[2], 1);
		check_iter(&t, K(40), K(50) + 1, &w[3], 1);
		check_iter(&t, K(11), K(33), NULL, 0);
		check_iter(&t, 0, K(10) + 1, &w[0], 1);
		check_iter(&t, K(69), UINT64_MAX, &w[4], 1);
		check_iter(&t, K(70), UINT64_MAX, NULL, 0);

		/* Erasing a hole changes nothing. */
		CHECK_EQ_U64(tree_store(&t, K(100), K(110), NULL), 0);
		CHECK_EQ_U64(tree_store(&t, K(41), K(49), NULL), 0);
		check_tree(&t, w, 5);

		/* Invalid ranges change nothing either. */
		CHECK_EQ_U64(tree_store(&t, K(5), K(5), P(1)), -EINVAL);
		CHECK_EQ_U64(tree_store(&t, K(6), K(5), P(1)), -EINVAL);
		CHECK_EQ_U64(tree_store(&t, K(5) + 1, K(6), P(1)), -EINVAL);
		CHECK_EQ_U64(tree_store(&t, K(5), K(6) + 1, P(1)), -EINVAL);
		CHECK_EQ_U64(tree_store(&t, K(5) + 8, K(6) - 8, P(1)), -EINVAL);
		CHECK_EQ_U64(tree_store(&t, K(36), K(34), NULL), -EINVAL);
		CHECK_EQ_U64(tree_store(&t, K(36), K(36), NULL), -EINVAL);
		CHECK_EQ_U64(tree_store(&t, K(35), K(38) + 1, NULL), -EINVAL);
		check_tree(&t, w, 5);
	}

	/* Erase everything. */
	CHECK_EQ_U64(tree_store(&t, 0, TOP, NULL), 0);
	check_tree(&t, NULL, 0);
	tree_destroy(&t);
}

/* Ranges at the very bottom and top of the 64-bit space. */
static void test_edges(void)
{
	const struct want w[] = { { 0, K(1), P(1) },
				  { TOP - K(1), TOP, P(2) } };
	struct tree t;

	CHECK_EQ_U64(tree_init(&t, G), 0);
	CHECK_EQ_U64(tree_store(&t, 0, K(1), P(1)), 0);
	CHECK_EQ_U64(tree_store(&t, TOP - K(1), TOP, P(2)), 0);
	check_tree(&t, w, 2);
	check_find(&t, 0, &w[0]);
	check_find(&t, K(1), NULL);
	check_find(&t, TOP - 1, &w[1]);
	check_find(&t, TOP, NULL);
	check_find(&t, UINT64_MAX, NULL);
	check_above(&t, 0, &w[0]);
	check_above(&t, K(1), &w[1]);
	check_above(&t, TOP, NULL);
	check_above(&t, UINT64_MAX, NULL);
	check_below(&t, 1, &w[0]);
	check_below(&t, TOP - K(1), &w[0]);
	check_below(&t, TOP, &w[1]);
	check_below(&t, UINT64_MAX, &w[1]);
	check_iter(&t, 0, 1, &w[0], 1);
	check_iter(&t, UINT64_MAX - 1, UINT64_MAX, NULL, 0);
	check_iter(&t, TOP - 1, UINT64_MAX, &w[1], 1);

	check_gap(&t, 0, TOP, K(1), 0, 0, TOP - K(2), K(1));
	check_gap(&t, TOP - K(8), TOP, K(2), 0, 0, TOP - K(3), TOP - K(8));
	check_gap(&t, 0, K(8), K(1), 0, 0, K(7), K(1));
	check_gap(&t, 0, K(1), K(1), 0, -ENOMEM, 0, 0);
	check_gap(&t, TOP - K(1), TOP, K(1), 0, -ENOMEM, 0, 0);
	tree_destroy(&t);
}

/*
 * Alignment with Linux's rule: a free range is usable when its part inside
 * the window is >= size + align - granule, even where an aligned area would
 * fit in less.
 *
 *   [0, M+4p) P1 | free 2M-1p | [3M+3p, 6M) P2 | free M | [7M, 8M) P3
 *
 * (M is 2 MiB, p a page.)
 */
static void test_gap_align(void)
{
	const struct want w[] = { { 0, M + K(4), P(1) },
				  { 3 * M + K(3), 6 * M, P(2) },
				  { 7 * M, 8 * M, P(3) } };
	struct tree t;

	CHECK_EQ_U64(tree_init(&t, G), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_U64(tree_store(&t, w[i].start, w[i].end, w[i].ptr), 0);
	check_tree(&t, w, 3);

	/* M aligned to M needs 2M - 1p: only the first gap qualifies. */
	check_gap(&t, 0, 8 * M, M, M, 0, 2 * M, 2 * M);
	/* Without alignment, [6M, 7M) is the highest that fits. */
	check_gap(&t, 0, 8 * M, M, 0, 0, 6 * M, M + K(4));
	check_gap(&t, 0, 8 * M, M, G, 0, 6 * M, M + K(4));
	check_gap(&t, 0, 8 * M, K(1), 0, 0, 7 * M - K(1), M + K(4));
	/* The aligned area [6M, 7M) fits, but the rule says no. */
	check_gap(&t, 5 * M, 8 * M, M, M, -ENOMEM, 0, 0);
	/* Clipped to [2M, 8M): [2M, 3M+3p) is too short by the rule. */
	check_gap(&t, 2 * M, 8 * M, M, M, -ENOMEM, 0, 0);
	/* Clipped at the top by one page less than needed. */
	check_gap(&t, 0, 3 * M + K(2), M, M, -ENOMEM, 0, 0);
	check_gap(&t, 0, 3 * M + K(3), M, M, 0, 2 * M, 2 * M);
	/* The space above the last entry. */
	check_gap(&t, 0, 16 * M, M, M, 0, 15 * M, 2 * M);
	check_gap(&t, M + K(8), 16 * M, M, M, 0, 15 * M, 8 * M);
	check_gap(&t, 0, 16 * M, 4 * M, 4 * M, 0, 12 * M, 8 * M);
	check_gap(&t, 0, 16 * M, 8 * M, 4 * M, -ENOMEM, 0, 0);
	/* An area of 2M does not fit in 2M - 1p, at any alignment. */
	check_gap(&t, 0, 6 * M, 2 * M, 0, -ENOMEM, 0, 0);
	check_gap(&t, 0, 6 * M, 2 * M - K(1), 0, 0, M + K(4), M + K(4));

	/* Full: nothing fits anywhere in the window. */
	CHECK_EQ_U64(tree_store(&t, 0, 8 * M, P(4)), 0);
	check_gap(&t, 0, 8 * M, K(1), 0, -ENOMEM, 0, 0);
	check_gap(&t, K(100), 8 * M, K(1), M, -ENOMEM, 0, 0);
	check_gap(&t, 0, 9 * M, K(1), 0, 0, 9 * M - K(1), 8 * M);
	tree_destroy(&t);
}

static void test_gap_invalid(void)
{
	struct tree t;

	CHECK_EQ_U64(tree_init(&t, G), 0);
	CHECK_EQ_U64(tree_store(&t, K(10), K(20), P(1)), 0);
	check_gap(&t, 0, K(100), 0, 0, -EINVAL, 0, 0);
	check_gap(&t, 0, K(100), K(1) + 1, 0, -EINVAL, 0, 0);
	check_gap(&t, 0, K(100), 100, 0, -EINVAL, 0, 0);
	check_gap(&t, 0, K(100), K(1), 3 * G, -EINVAL, 0, 0);
	check_gap(&t, 0, K(100), K(1), G + 1, -EINVAL, 0, 0);
	check_gap(&t, 0, K(100), K(1), G / 2, -EINVAL, 0, 0);
	check_gap(&t, 0, K(100), K(1), 1, -EINVAL, 0, 0);
	check_gap(&t, K(50), K(50), K(1), 0, -EINVAL, 0, 0);
	check_gap(&t, K(51), K(50), K(1), 0, -EINVAL, 0, 0);
	check_gap(&t, 1, K(100), K(1), 0, -EINVAL, 0, 0);
	check_gap(&t, 0, K(100) - 1, K(1), 0, -EINVAL, 0, 0);
	check_gap(&t, 0, UINT64_MAX, K(1), 0, -EINVAL, 0, 0);
	/* Valid but too big for the window is -ENOMEM, not -EINVAL. */
	check_gap(&t, 0, K(2), K(4), 0, -ENOMEM, 0, 0);
	tree_destroy(&t);
}

/* Published state during a transaction: the old one, until commit. */
static void check_published(struct tree *t, const struct want *w, size_t n)
{
	struct tree_stats st;

	check_iter(t, 0, UINT64_MAX, w, n);
	rcu_read_enter();
	for (size_t i = 0; i < n; i++) {
		check_find(t, w[i].start, &w[i]);
		check_find(t, w[i].end - 1, &w[i]);
		check_above(t, w[i].start, &w[i]);
		check_below(t, w[i].end, &w[i]);
	}
	rcu_read_exit();
	tree_stats(t, &st);
	CHECK_EQ_U64(st.entries, n);
}

static void test_txn(void)
{
	const struct want old[] = { { K(10), K(20), P(1) },
				    { K(30), K(40), P(2) },
				    { K(50), K(60), P(3) } };
	const struct want new[] = {
		{ K(5), K(15), P(4) },	{ K(15), K(20), P(1) },
		{ K(30), K(33), P(2) }, { K(37), K(40), P(2) },
		{ K(55), K(60), P(3) }, { K(70), K(80), P(5) }
	};
	struct tree t;

	CHECK_EQ_U64(tree_init(&t, G), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_U64(
			tree_store(&t, old[i].start, old[i].end, old[i].ptr),
			0);
	check_tree(&t, old, 3);

	/* Several stores, invisible until commit. */
	tree_begin(&t);
	CHECK_EQ_U64(tree_txn_store(&t, K(5), K(15), P(4)), 0);
	check_published(&t, old, 3);
	CHECK_EQ_U64(tree_txn_store(&t, K(33), K(37), NULL), 0);
	CHECK_EQ_U64(tree_txn_store(&t, K(45), K(55), NULL), 0);
	CHECK_EQ_U64(tree_txn_store(&t, K(70), K(80), P(5)), 0);
	check_published(&t, old, 3);
	tree_commit(&t);
	check_tree(&t, new, 6);
	check_published(&t, new, 6);

	/* Abort restores exactly what was there. */
	tree_begin(&t);
	CHECK_EQ_U64(tree_txn_store(&t, 0, K(100), P(6)), 0);
	CHECK_EQ_U64(tree_txn_store(&t, K(10), K(20), NULL), 0);
	CHECK_EQ_U64(tree_txn_store(&t, K(200), K(300), P(7)), 0);
	check_published(&t, new, 6);
	tree_abort(&t);
	check_tree(&t, new, 6);

	/* An empty transaction changes nothing. */
	tree_begin(&t);
	tree_commit(&t);
	check_tree(&t, new, 6);
	tree_begin(&t);
	tree_abort(&t);
	check_tree(&t, new, 6);

	/* A failed store inside a transaction: the caller aborts. */
	tree_begin(&t);
	CHECK_EQ_U64(tree_txn_store(&t, K(1), K(2), P(8)), 0);
	CHECK_EQ_U64(tree_txn_store(&t, K(3), K(3), P(8)), -EINVAL);
	CHECK_EQ_U64(tree_txn_store(&t, K(3) + 1, K(4), P(8)), -EINVAL);
	tree_abort(&t);
	check_tree(&t, new, 6);

	/* Stores in a transaction see the earlier ones of the same one. */
	tree_begin(&t);
	CHECK_EQ_U64(tree_txn_store(&t, K(100), K(120), P(9)), 0);
	CHECK_EQ_U64(tree_txn_store(&t, K(110), K(115), P(10)), 0);
	CHECK_EQ_U64(tree_txn_store(&t, K(0), K(60), NULL), 0);
	tree_commit(&t);
	{
		const struct want w[] = { { K(70), K(80), P(5) },
					  { K(100), K(110), P(9) },
					  { K(110), K(115), P(10) },
					  { K(115), K(120), P(9) } };

		check_tree(&t, w, 4);
	}
	tree_destroy(&t);
}

/* Counts and sizes as the tree grows to several levels and shrinks back. */
static void test_stats(void)
{
	struct tree t;
	struct tree_stats st, prev = { 0 };
	const unsigned n = 5000;

	CHECK_EQ_U64(tree_init(&t, G), 0);
	CHECK(tree_node_bytes() > 0);
	for (unsigned i = 0; i < n; i++) {
		CHECK_EQ_U64(tree_store(&t, K(2 * i), K(2 * i + 1), P(i % 16)),
			     0);
		tree_stats(&t, &st);
		CHECK_EQ_U64(st.entries, i + 1);
		CHECK(st.height >= prev.height);
		CHECK(st.nodes >= 1);
		CHECK(st.bytes >= st.nodes * tree_node_bytes());
		prev = st;
	}
	check_tree_valid(&t);
	/* 5000 entries cannot sit in one or two levels of sane nodes. */
	CHECK(st.height >= 2);
	CHECK(st.nodes < st.entries);
	printf("stats: %zu entries, %zu nodes, %zu bytes, height %u\n",
	       st.entries, st.nodes, st.bytes, st.height);

	/* Adjacent ranges are never merged, even with the same pointer
	 * ([1, 2) and [2, 3) both hold P(1)): the count is what was stored. */
	CHECK_EQ_U64(tree_store(&t, K(1), K(2), P(1)), 0);
	tree_stats(&t, &st);
	CHECK_EQ_U64(st.entries, n + 1);

	/* One store erases everything: back to an empty tree. */
	CHECK_EQ_U64(tree_store(&t, 0, K(2 * n), NULL), 0);
	tree_stats(&t, &st);
	CHECK_EQ_U64(st.entries, 0);
	CHECK_EQ_U64(st.nodes, 0);
	CHECK_EQ_U64(st.bytes, 0);
	CHECK_EQ_U64(st.height, 0);
	check_tree_valid(&t);
	tree_destroy(&t);
}

/*
 * A change confined to one leaf of a deep tree is grafted in place: the
 * published root stays the same node, a reader holding it sees the change,
 * and the tree stays valid, at the top of the map too (the sentinel). A
 * change that moves the tree's first range is not (the root is new). Contents
 * are checked against the stores.
 */
static void test_graft(void)
{
	struct tree t;
	struct tree_stats st0, st1;
	struct tree_entry e;
	const unsigned n = 2000;
	const struct tnode *root;

	CHECK_EQ_U64(tree_init(&t, G), 0);
	for (unsigned i = 0; i < n; i++)
		CHECK_EQ_U64(tree_store(&t, K(4 * i), K(4 * i + 2), P(0)), 0);
	tree_stats(&t, &st0);
	CHECK(st0.height >= 3);
	root = atomic_load(&t.root);

	/* Inside one leaf, away from its edges: new pointer, same range. */
	CHECK_EQ_U64(tree_store(&t, K(4 * 1001), K(4 * 1001 + 2), P(1)), 0);
	tree_stats(&t, &st1);
	CHECK_EQ_U64(st1.grafts, st0.grafts + 1);
	CHECK(atomic_load(&t.root) == root);
	rcu_read_enter();
	CHECK(tree_find(&t, K(4 * 1001), &e) && e.ptr == P(1));
	CHECK(tree_find(&t, K(4 * 1002), &e) && e.ptr == P(0));
	rcu_read_exit();
	check_tree_valid(&t);

	/* A hole filled inside the leaf: the gap summaries above change in
	 * place, and the writer's gap search sees them exactly. */
	CHECK_EQ_U64(tree_store(&t, K(4 * 1001 + 2), K(4 * 1002), P(2)), 0);
	tree_stats(&t, &st1);
	CHECK_EQ_U64(st1.grafts, st0.grafts + 2);
	check_tree_valid(&t);

	/* The last range of the tree grows, and one goes in above it: the
	 * top sentinel stays the leaf's last range, so both are grafted and
	 * the root stays (a reader holding it finds the new range). */
	CHECK_EQ_U64(tree_store(&t, K(4 * (n - 1)), K(4 * n), P(3)), 0);
	CHECK_EQ_U64(tree_store(&t, K(4 * n + 8), K(4 * n + 9), P(4)), 0);
	tree_stats(&t, &st1);
	CHECK_EQ_U64(st1.grafts, st0.grafts + 4);
	CHECK(atomic_load(&t.root) == root);
	rcu_read_enter();
	CHECK(tree_find(&t, K(4 * n + 8), &e) && e.ptr == P(4));
	CHECK(!tree_find_above(&t, K(4 * n + 9), &e));
	rcu_read_exit();
	check_tree_valid(&t);

	/* The first range of the tree moves: every first summary on the
	 * path changes, so a new root is published. */
	CHECK_EQ_U64(tree_store(&t, K(0), K(1), NULL), 0);
	tree_stats(&t, &st1);
	CHECK_EQ_U64(st1.grafts, st0.grafts + 4);
	CHECK(atomic_load(&t.root) != root);
	check_tree_valid(&t);
	tree_destroy(&t);
}

static int copies;

static void *count_copy(void *ctx, const struct tree_entry *e)
{
	(void)ctx;
	copies++;
	return e->ptr;
}

static void no_undo(void *ctx, void *ptr)
{
	(void)ctx;
	(void)ptr;
}

/*
 * The top sentinel (docs/tree.md) is invisible: with a granule of 1 a range
 * can end at the top of the key space, just below it, and every search,
 * iteration, count and copy sees only the real ranges; removing the last
 * one empties the tree (no node left).
 */
static void test_sentinel(void)
{
	const uint64_t top = UINT64_MAX;
	const struct want w[] = { { 5, 6, P(2) }, { top - 10, top, P(1) } };
	struct tree t, c;
	struct tree_stats st;

	CHECK_EQ_U64(tree_init(&t, 1), 0);
	CHECK_EQ_U64(tree_store(&t, top - 10, top, P(1)), 0);
	CHECK_EQ_U64(tree_store(&t, 5, 6, P(2)), 0);
	check_tree(&t, w, 2);
	check_find(&t, top - 1, &w[1]);
	check_find(&t, top, NULL);
	check_above(&t, 6, &w[1]);
	check_above(&t, top - 1, &w[1]);
	check_above(&t, top, NULL);
	check_below(&t, top, &w[1]);
	check_iter(&t, 0, top, w, 2);
	check_gap(&t, 0, top - 15, 4, 0, 0, top - 19, 0);
	check_gap(&t, 6, top - 15, 4, 0, 0, top - 19, 6);

	CHECK_EQ_U64(tree_init(&c, 1), 0);
	copies = 0;
	CHECK_EQ_U64(tree_clone(&c, &t, count_copy, no_undo, NULL), 0);
	CHECK_EQ_U64(copies, 2);
	check_tree(&c, w, 2);
	tree_destroy(&c);

	CHECK_EQ_U64(tree_store(&t, 0, top, NULL), 0);
	tree_stats(&t, &st);
	CHECK_EQ_U64(st.entries, 0);
	CHECK_EQ_U64(st.nodes, 0);

	/* Ascending maps at the top, each just before the sentinel: the
	 * leaves stay full (2000 ranges in fewer than 2000 / 14 nodes; 115
	 * today, split like an append and shared with the left neighbour;
	 * splitting them evenly would write 3% more nodes, not more
	 * memory, which this does not see). */
	for (uint64_t i = 0; i < 2000; i++)
		CHECK_EQ_U64(tree_store(&t, 8 * i, 8 * i + 4, P(3)), 0);
	tree_stats(&t, &st);
	CHECK_EQ_U64(st.entries, 2000);
	CHECK(st.nodes < 2000 / 14);
	check_tree_valid(&t);
	CHECK_EQ_U64(tree_store(&t, 0, top, NULL), 0);
	tree_stats(&t, &st);
	CHECK_EQ_U64(st.entries, 0);
	CHECK_EQ_U64(st.nodes, 0);
	CHECK(!atomic_load(&t.root));
	check_above(&t, 0, NULL);
	check_tree_valid(&t);
	tree_destroy(&t);
}

/*
 * Destroy with batches still waiting for their grace period: tree_destroy
 * returns at once, and the callbacks that run afterwards return their
 * nodes to the bin, the last one freeing it. Under AddressSanitizer a
 * callback that touched the destroyed tree, or a bin freed twice or never,
 * is reported; the reader holding RCU meanwhile keeps the first batches
 * from running before the destroy.
 */
static void test_destroy_pending(void)
{
	uint64_t queued = rcu_defer_count();
	struct tree t;

	CHECK_EQ_U64(tree_init(&t, G), 0);
	rcu_read_enter();
	for (uint64_t i = 0; i < 2000; i++)
		CHECK_EQ_U64(tree_store(&t, K(2 * i), K(2 * i + 1), P(i % 16)),
			     0);
	/* Stores copy nodes, so batches were handed to RCU already. */
	CHECK(rcu_defer_count() > queued);
	tree_destroy(&t);
	rcu_read_exit();
	rcu_wait_callbacks(); /* they all ran, after the tree was gone */
}

/* 3000 ascending ranges under one read-side section, so that no node
 * comes back from RCU while they are stored: every tree built this way
 * asks for the same nodes. */
static void build_held(struct tree *t)
{
	rcu_read_enter();
	for (uint64_t i = 0; i < 3000; i++)
		CHECK_EQ_U64(tree_store(t, K(2 * i), K(2 * i + 1), P(i % 16)),
			     0);
	rcu_read_exit();
}

/*
 * A destroyed tree's nodes, and those its callbacks still held, go back to
 * the node pool, and the next tree takes them from there: building the
 * same tree again carves no new node and asks the system for nothing.
 * (When destroyed trees gave their nodes to malloc, it asked once per
 * node.)
 */
static void test_pool_reuse(void)
{
	struct tree a, b;
	struct tree_stats st;
	uint64_t calls, carved;

	CHECK_EQ_U64(tree_init(&a, G), 0);
	build_held(&a);
	tree_stats(&a, &st);
	CHECK(st.nodes > 100);
	tree_destroy(&a);
	rcu_wait_callbacks(); /* the retired nodes reach the pool too */

	CHECK_EQ_U64(tree_init(&b, G), 0);
	calls = alloc_count();
	carved = tree_pool_carved();
	build_held(&b);
	CHECK_EQ_U64(tree_pool_carved(), carved);
	CHECK_EQ_U64(alloc_count(), calls);
	check_tree_valid(&b);
	tree_destroy(&b);
	rcu_wait_callbacks();
}

static const struct test_case case_table[] = {
	{ "init", test_init },
	{ "empty", test_empty },
	{ "one", test_one },
	{ "store_over", test_store_over },
	{ "edges", test_edges },
	{ "gap_align", test_gap_align },
	{ "gap_invalid", test_gap_invalid },
	{ "txn", test_txn },
	{ "stats", test_stats },
	{ "graft", test_graft },
	{ "destroy_pending", test_destroy_pending },
	{ "sentinel", test_sentinel },
	{ "pool_reuse", test_pool_reuse },
};

int main(int argc, char **argv)
{
	return test_run_cases(argc, argv, case_table,
			      sizeof(case_table) / sizeof(case_table[0]));
}
