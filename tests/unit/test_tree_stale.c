/*
 * test_tree_stale.c - a reader that keeps an old root while the writer
 * commits twice more sees a state the tree held (src/tree.c, graft()).
 *
 * A reader loads the root, then (still in its RCU read-side section) the
 * writer commits twice, then the reader searches from the root it loaded:
 * find below and find above of every address must return what one of the
 * three states (before, between, after the commits) returns, since the
 * reader's search overlapped all three. The danger: a commit that
 * publishes a new root shares its untouched subtrees with the old one, and
 * a later commit that grafts into such a subtree in place is seen by the
 * old root's readers too, without the first commit. The model is a sorted
 * array. Stores and splices alike (a splice may graft a pending leaf).
 * Built twice: with the library's node capacities, and with 4-slot
 * nodes (unit_tree_stale_small) so that every case is near an edge.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "rcu.h"
#include "tree.h"

#define G     4096ULL
#define SLOTS 256 /* page slots of the model */

/* The model: slot i holds the index of its range's owner, or -1. */
struct state {
	int owner[SLOTS];
};

/* One object per store, never reused: the tree keeps every store's ranges
 * apart, and the model tells its runs apart by owner. */
#define OBJS 16384
static char objs[OBJS];

static int new_owner(int *next)
{
	CHECK(*next < OBJS);
	return (*next)++;
}

static void model_store(struct state *s, unsigned a, unsigned b, int who)
{
	for (unsigned i = a; i < b; i++)
		s->owner[i] = who;
}

/* The range covering slot i (its owner's run). */
static void run_of(const struct state *s, unsigned i, unsigned *a, unsigned *b)
{
	*a = i;
	*b = i + 1;
	while (*a > 0 && s->owner[*a - 1] == s->owner[i])
		(*a)--;
	while (*b < SLOTS && s->owner[*b] == s->owner[i])
		(*b)++;
}

/* What find below (largest start < addr) / find above (first range with
 * end > addr) return in state s; false when nothing. */
static bool model_below(const struct state *s, uint64_t addr,
			struct tree_entry *e)
{
	unsigned a, b;

	for (int i = (int)((addr + G - 1) / G) - 1; i >= 0; i--) {
		if (i >= SLOTS || s->owner[i] < 0)
			continue;
		run_of(s, (unsigned)i, &a, &b);
		if ((uint64_t)a * G >= addr)
			continue;
		e->start = a * G;
		e->end = b * G;
		e->ptr = &objs[s->owner[i]];
		return true;
	}
	return false;
}

static bool model_above(const struct state *s, uint64_t addr,
			struct tree_entry *e)
{
	unsigned a, b;

	for (unsigned i = (unsigned)(addr / G); i < SLOTS; i++) {
		if (s->owner[i] < 0)
			continue;
		run_of(s, i, &a, &b);
		e->start = a * G;
		e->end = b * G;
		e->ptr = &objs[s->owner[i]];
		return true;
	}
	return false;
}

static bool same(bool fa, const struct tree_entry *a, bool fb,
		 const struct tree_entry *b)
{
	if (fa != fb)
		return false;
	return !fa ||
	       (a->start == b->start && a->end == b->end && a->ptr == b->ptr);
}

/* Does (f, got) match what one of the three states answers? */
static bool held(bool f, const struct tree_entry *got, const struct state *st,
		 bool below, uint64_t addr)
{
	struct tree_entry want;

	for (int k = 0; k < 3; k++) {
		bool w = below ? model_below(&st[k], addr, &want)
			       : model_above(&st[k], addr, &want);

		if (same(f, got, w, &want))
			return true;
	}
	return false;
}

static void stale_fail(unsigned trial, const char *what, uint64_t addr,
		       const struct tree_entry *got, const struct state *st)
{
	fprintf(stderr,
		"trial %u: %s %#llx from the old root returned [%#llx, "
		"%#llx) %p, which no state held; they held:\n",
		trial, what, (unsigned long long)addr,
		(unsigned long long)got->start, (unsigned long long)got->end,
		got->ptr);
	for (int k = 0; k < 3; k++) {
		struct tree_entry w = { 0, 0, NULL };
		bool f = what[5] == 'b' ? model_below(&st[k], addr, &w)
					: model_above(&st[k], addr, &w);

		fprintf(stderr, "  state %d: %s [%#llx, %#llx) %p\n", k,
			f ? "found" : "none", (unsigned long long)w.start,
			(unsigned long long)w.end, w.ptr);
	}
	check_fail(__FILE__, __LINE__, "the stale reader saw a held state");
}

/* The stale reader's answers against the three states. */
static void check_reader(const void *root, const struct state *st,
			 unsigned trial)
{
	for (uint64_t addr = 0; addr <= SLOTS * G; addr += G / 2) {
		struct tree_entry got = { 0, 0, NULL };
		bool f = tree_find_below_from(root, addr, &got);

		if (!held(f, &got, st, true, addr))
			stale_fail(trial, "find below", addr, &got, st);
		f = tree_find_above_from(root, addr, &got);
		if (!held(f, &got, st, false, addr))
			stale_fail(trial, "find above", addr, &got, st);
	}
}

/* [a, b) of the tree to one range of obj (NULL: erased), in a commit of
 * its own: a plain store, or half the time a splice, whose change inside
 * one leaf that keeps the leaf's edge ranges is grafted without copying
 * the path above it (tree.c, "Pending leaves"). */
static void put(struct tree *t, unsigned a, unsigned b, void *obj)
{
	struct tree_entry e = { a * G, b * G, obj };

	if (rng_chance(1, 2)) {
		CHECK_EQ_U64(tree_store(t, a * G, b * G, obj), 0);
		return;
	}
	tree_begin(t);
	CHECK_EQ_U64(tree_txn_splice(t, a * G, b * G, &e, obj ? 1 : 0, NULL),
		     0);
	tree_commit(t);
}

/* One random store, in the tree and the model: a small range, mapped
 * (a new owner) or erased. */
static void random_store(struct tree *t, struct state *s, int *next)
{
	unsigned a = (unsigned)rng_below(SLOTS - 1), len = 1 + rng_below(3);
	unsigned b = a + len > SLOTS ? SLOTS : a + len;
	bool erase = rng_chance(1, 4);
	int who = erase ? -1 : new_owner(next);

	put(t, a, b, erase ? NULL : &objs[who]);
	model_store(s, a, b, who);
}

/*
 * The two commits of the dangerous shape: a new range X in a free slot
 * (when X is a subtree's first range, the commit changes its parent's
 * summary and publishes a new root), then the range that ends where X's
 * gap begins, cut so that its last page gets a new owner (a change that
 * keeps the subtree's last end, so the commit may graft in place).
 */
static void edge_commits(struct tree *t, struct state *st, int *next)
{
	unsigned x = (unsigned)rng_below(SLOTS), a, b;
	int who;

	while (x < SLOTS && st[1].owner[x] >= 0)
		x++;
	if (x == SLOTS)
		return; /* no free slot here: plain random stores */
	who = new_owner(next);
	put(t, x, x + 1, &objs[who]);
	model_store(&st[1], x, x + 1, who);
	st[2] = st[1];
	for (a = x; a > 0 && st[2].owner[a - 1] < 0; a--)
		;
	if (!a)
		return;
	run_of(&st[2], a - 1, &a, &b);
	who = new_owner(next);
	put(t, b - 1, b, &objs[who]);
	model_store(&st[2], b - 1, b, who);
}

static void test_stale_reader(void)
{
	struct tree t;
	struct state st[3];
	int next = 0;
	uint64_t trials = test_scaled(3000, 300);

	CHECK_EQ_U64(tree_init(&t, G), 0);
	memset(&st[0], 0xff, sizeof(st[0])); /* every owner -1 */
	for (int i = 0; i < 120; i++)
		random_store(&t, &st[0], &next);
	for (unsigned trial = 0; trial < trials; trial++) {
		const void *root;

		rcu_read_enter();
		root = tree_root_peek(&t);
		st[1] = st[0];
		st[2] = st[0];
		if (trial % 2) {
			random_store(&t, &st[1], &next);
			st[2] = st[1];
			random_store(&t, &st[2], &next);
		} else {
			edge_commits(&t, st, &next);
		}
		check_reader(root, st, trial);
		rcu_read_exit();
		st[0] = st[2];
		/* Keep about half the slots mapped. */
		if (trial % 50 == 49)
			for (int i = 0; i < 10; i++)
				random_store(&t, &st[0], &next);
	}
	tree_destroy(&t);
}

static const struct test_case case_table[] = {
	{ "stale_reader", test_stale_reader },
};

int main(int argc, char **argv)
{
	return test_run_cases(argc, argv, case_table,
			      sizeof(case_table) / sizeof(case_table[0]));
}
