/*
 * test_tree_allocfail.c - node allocation failures leave the tree unchanged.
 *
 * For each operation below, on a tree in a known state: fail the 1st node
 * allocation, then the 2nd, the 3rd, ... (tree_fail_alloc_after). Every run
 * that hits the failure must return -ENOMEM with the tree exactly as it was
 * (same ranges, same stats, valid structure); the first n that the
 * operation gets through without failing ends the loop, and its result must
 * equal the same operation on an identical tree without injection. n - 1 is
 * the number of allocation sites the operation reached: each operation that
 * allocates must reach at least one (and a pending leaf's splice exactly
 * one: the leaf). Leaks are left to AddressSanitizer's
 * exit check (every tree is destroyed).
 */
#include <errno.h>
#include <stdio.h>

#include "check.h"
#include "tree_valid.h"
#include "rcu.h"
#include "tree.h"

#define G     4096ULL
#define K(n)  ((uint64_t)(n)*G)
#define DENSE 3000 /* ranges of the dense layout: a tree of 3+ levels */

#define P(i) ((void *)(uintptr_t)(0x1000 + 0x10 * (i)))

/* ---- snapshots ----------------------------------------------------------- */

struct snapshot {
	struct tree_entry *e;
	size_t n;
	struct tree_stats st;
};

static void snap_take(struct tree *t, struct snapshot *s)
{
	struct tree_iter it;
	size_t cap = 64;

	tree_stats(t, &s->st);
	s->n = 0;
	s->e = malloc(cap * sizeof(*s->e));
	CHECK(s->e != NULL);
	tree_iter_start(&it, t, 0, UINT64_MAX);
	while (tree_iter_next(&it, &s->e[s->n])) {
		if (++s->n == cap) {
			cap *= 2;
			s->e = realloc(s->e, cap * sizeof(*s->e));
			CHECK(s->e != NULL);
		}
	}
	CHECK_EQ_U64(s->n, s->st.entries);
}

static void snap_free(struct snapshot *s)
{
	free(s->e);
	s->e = NULL;
}

/* t holds exactly what s recorded, and is valid. */
static void snap_compare(struct tree *t, const struct snapshot *s)
{
	struct snapshot now;

	check_tree_valid(t);
	snap_take(t, &now);
	CHECK_EQ_U64(now.n, s->n);
	CHECK_EQ_U64(now.st.entries, s->st.entries);
	CHECK_EQ_U64(now.st.nodes, s->st.nodes);
	CHECK_EQ_U64(now.st.bytes, s->st.bytes);
	CHECK_EQ_U64(now.st.height, s->st.height);
	for (size_t i = 0; i < s->n; i++) {
		CHECK_EQ_U64(now.e[i].start, s->e[i].start);
		CHECK_EQ_U64(now.e[i].end, s->e[i].end);
		CHECK(now.e[i].ptr == s->e[i].ptr);
	}
	snap_free(&now);
}

/* ---- layouts: the known states ------------------------------------------- */

/* DENSE one-page ranges with one-page holes: [2i, 2i + 1). */
static void build_dense(struct tree *t)
{
	for (unsigned i = 0; i < DENSE; i++)
		CHECK_EQ_U64(tree_store(t, K(2 * i), K(2 * i + 1), P(i % 7)),
			     0);
}

/* DENSE two-page ranges with one-page holes: [3i, 3i + 2). */
static void build_pairs(struct tree *t)
{
	for (unsigned i = 0; i < DENSE; i++)
		CHECK_EQ_U64(tree_store(t, K(3 * i), K(3 * i + 2), P(i % 7)),
			     0);
}

/* The dense layout plus one long range after it. */
static void build_long(struct tree *t)
{
	build_dense(t);
	CHECK_EQ_U64(
		tree_store(t, K(2 * DENSE + 100), K(2 * DENSE + 300), P(9)), 0);
}

static void build_empty(struct tree *t)
{
	(void)t;
}

/*
 * Ascending one-page ranges up to the one whose insertion would grow the
 * tree to its third level: found by inserting on a scratch tree until the
 * height reaches 3.
 */
static unsigned root_split_at;

static void find_root_split(void)
{
	struct tree t;
	struct tree_stats st;
	unsigned i;

	CHECK_EQ_U64(tree_init(&t, G), 0);
	for (i = 0;; i++) {
		CHECK(i < 1000000);
		CHECK_EQ_U64(tree_store(&t, K(2 * i), K(2 * i + 1), P(i % 7)),
			     0);
		tree_stats(&t, &st);
		if (st.height >= 3)
			break;
	}
	tree_destroy(&t);
	root_split_at = i;
}

static void build_before_root_split(struct tree *t)
{
	for (unsigned i = 0; i < root_split_at; i++)
		CHECK_EQ_U64(tree_store(t, K(2 * i), K(2 * i + 1), P(i % 7)),
			     0);
}

/* ---- operations ---------------------------------------------------------- */

static int op_first_insert(struct tree *t)
{
	return tree_store(t, K(10), K(20), P(1));
}

static int op_root_split(struct tree *t)
{
	return tree_store(t, K(2 * root_split_at), K(2 * root_split_at + 1),
			  P(1));
}

/* One range into a hole in the middle. */
static int op_insert_middle(struct tree *t)
{
	return tree_store(t, K(2 * 1500 + 1), K(2 * 1500 + 2), P(2));
}

/* The end of an operation's transaction: commit, or abort on err. */
static int finish(struct tree *t, int err)
{
	if (err)
		tree_abort(t);
	else
		tree_commit(t);
	return err;
}

/* Twelve holes side by side filled in one transaction: more than the
 * leaves around them have room for, so they split. */
static int op_fill_holes(struct tree *t)
{
	int err = 0;

	tree_begin(t);
	for (unsigned i = 0; i < 12 && !err; i++)
		err = tree_txn_store(t, K(2 * (1500 + i) + 1),
				     K(2 * (1500 + i) + 2), P(2));
	return finish(t, err);
}

/* Erase 600 ranges in the middle: leaves empty out and merge. */
static int op_erase_many(struct tree *t)
{
	return tree_store(t, K(2 * 1000), K(2 * 1600), NULL);
}

/* One range over 200 others, trimming the two at the edges. */
static int op_replace_across(struct tree *t)
{
	return tree_store(t, K(3 * 500 + 1), K(3 * 700 + 1), P(3));
}

/* Exactly over one range: only its pointer changes. */
static int op_exact(struct tree *t)
{
	return tree_store(t, K(3 * 1234), K(3 * 1234 + 2), P(4));
}

/* Over the middle of the long range: it splits in three. */
static int op_split_three(struct tree *t)
{
	return tree_store(t, K(2 * DENSE + 150), K(2 * DENSE + 160), P(5));
}

/* Erase inside the long range: it splits in two around the hole. */
static int op_erase_inside(struct tree *t)
{
	return tree_store(t, K(2 * DENSE + 150), K(2 * DENSE + 160), NULL);
}

/* Three stores in one transaction, far apart; any failure aborts all. */
static int op_txn3(struct tree *t)
{
	int err;

	tree_begin(t);
	err = tree_txn_store(t, K(2 * 10 + 1), K(2 * 10 + 2), P(6));
	if (!err)
		err = tree_txn_store(t, K(2 * 900), K(2 * 1300), NULL);
	if (!err)
		err = tree_txn_store(t, K(2 * 2500 + 1), K(2 * 2600), P(7));
	return finish(t, err);
}

/* A splice giving one range a new object: inside its leaf, the first
 * write of its transaction, so only the new leaf is allocated (tree.c,
 * "Pending leaves"). With store, a store far away follows in the same
 * transaction: it first copies the path above the pending leaf, and a
 * failure there or in the store itself must take the pending leaf back
 * too. */
static int splice_txn(struct tree *t, bool store)
{
	struct tree_entry e = { K(2 * 1503), K(2 * 1503 + 1), P(9) };
	int err;

	tree_begin(t);
	err = tree_txn_splice(t, e.start, e.end, &e, 1, NULL);
	if (!err && store)
		err = tree_txn_store(t, K(2 * 100 + 1), K(2 * 100 + 2), P(10));
	return finish(t, err);
}

static int op_splice_pending(struct tree *t)
{
	return splice_txn(t, false);
}

static int op_splice_then_store(struct tree *t)
{
	return splice_txn(t, true);
}

/* Everything erased by one store. */
static int op_erase_all(struct tree *t)
{
	return tree_store(t, 0, K(2 * DENSE), NULL);
}

/* ---- the driver ---------------------------------------------------------- */

struct alloc_case {
	const char *name;
	void (*build)(struct tree *t);
	int (*op)(struct tree *t);
	bool allocates; /* must reach at least one allocation */
	unsigned most;	/* and at most this many (0: any) */
};

static const struct alloc_case cases[] = {
	{ "first_insert", build_empty, op_first_insert, true, 0 },
	{ "root_split", build_before_root_split, op_root_split, true, 0 },
	{ "insert_in_hole", build_dense, op_insert_middle, true, 0 },
	{ "fill_holes", build_dense, op_fill_holes, true, 0 },
	{ "erase_many", build_dense, op_erase_many, true, 0 },
	{ "replace_across", build_pairs, op_replace_across, true, 0 },
	{ "exact_replace", build_pairs, op_exact, true, 0 },
	{ "split_in_three", build_long, op_split_three, true, 0 },
	{ "erase_inside", build_long, op_erase_inside, true, 0 },
	{ "txn_of_three", build_dense, op_txn3, true, 0 },
	{ "erase_all", build_dense, op_erase_all, false, 0 },
	{ "splice_pending", build_dense, op_splice_pending, true, 1 },
	{ "splice_then_store", build_dense, op_splice_then_store, true, 0 },
};

static unsigned run_case(const struct alloc_case *c)
{
	struct snapshot before, want;
	struct tree t, ref;
	long n;
	int err;

	/* The expected result: the same operation without injection. */
	CHECK_EQ_U64(tree_init(&ref, G), 0);
	c->build(&ref);
	CHECK_EQ_U64(c->op(&ref), 0);
	check_tree_valid(&ref);
	snap_take(&ref, &want);
	tree_destroy(&ref);

	CHECK_EQ_U64(tree_init(&t, G), 0);
	c->build(&t);
	snap_take(&t, &before);
	for (n = 1;; n++) {
		CHECK(n < 100000);
		tree_fail_alloc_after(&t, n);
		err = c->op(&t);
		if (!err)
			break;
		CHECK_EQ_U64(err, -ENOMEM);
		snap_compare(&t, &before);
	}
	tree_fail_alloc_after(&t, 0);
	snap_compare(&t, &want);
	printf("  %-26s %3ld allocation sites failed cleanly "
	       "(%zu -> %zu ranges, %zu -> %zu nodes, height %u -> %u)\n",
	       c->name, n - 1, before.st.entries, want.st.entries,
	       before.st.nodes, want.st.nodes, before.st.height,
	       want.st.height);
	if (c->allocates)
		CHECK(n - 1 >= 1);
	if (c->most)
		CHECK(n - 1 <= (long)c->most);

	/* The tree still works after all those failures. */
	CHECK_EQ_U64(tree_store(&t, K(1) << 30, (K(1) << 30) + G, P(8)), 0);
	check_tree_valid(&t);
	tree_destroy(&t);
	snap_free(&before);
	snap_free(&want);
	return (unsigned)(n - 1);
}

#define NCASES (sizeof(cases) / sizeof(*cases))

/* The runner's case: the alloc_case of the same name. */
static void run_named(void)
{
	for (size_t i = 0; i < NCASES; i++)
		if (!strcmp(cases[i].name, *test_case_slot()))
			run_case(&cases[i]);
}

int main(int argc, char **argv)
{
	struct test_case table[NCASES];

	find_root_split();
	printf("root split at range %u\n", root_split_at);
	for (size_t i = 0; i < NCASES; i++)
		table[i] = (struct test_case){ cases[i].name, run_named };
	return test_run_cases(argc, argv, table, NCASES);
}
