/*
 * test_tree_large.c - a million ranges (scaled, at least 50,000) inserted in
 * ascending, descending and random order: every range is looked up, the
 * structure checked, the memory per range reported, then all of them erased
 * one by one in random order down to an empty tree with no nodes.
 *
 * Ranges are one page each with a one-page hole before each, so every
 * lookup at a range's start, at its last byte, and in the hole before it has
 * a known answer.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "check.h"
#include "tree_valid.h"
#include "rcu.h"
#include "tree.h"

#define G		4096ULL
#define BASE		(1ULL << 40)
#define DEFAULT_ENTRIES 1000000

static uint64_t nentries;
static uint32_t *order; /* a permutation of 0..nentries-1 */

static uint64_t start_of(uint64_t i)
{
	return BASE + (2 * i + 1) * G;
}

/* Range i's pointer: derived from i, so lookups check the right range. */
static void *ptr_of(uint64_t i)
{
	return (void *)(uintptr_t)(0x10 + i * 0x10);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void shuffle(void)
{
	for (uint64_t i = nentries; i > 1; i--) {
		uint64_t j = rng_below(i);
		uint32_t t = order[i - 1];

		order[i - 1] = order[j];
		order[j] = t;
	}
}

static void insert(struct tree *t, uint64_t i)
{
	CHECK_EQ_U64(tree_store(t, start_of(i), start_of(i) + G, ptr_of(i)), 0);
}

/* Every range found at its start and its last byte; its hole is empty,
 * and the neighbours are where they should be. */
static void lookup_all(struct tree *t)
{
	struct tree_entry e;

	for (uint64_t i = 0; i < nentries; i++) {
		uint64_t s = start_of(i);

		CHECK(tree_find(t, s, &e));
		CHECK_EQ_U64(e.start, s);
		CHECK_EQ_U64(e.end, s + G);
		CHECK(e.ptr == ptr_of(i));
		CHECK(tree_find(t, s + G - 1, &e));
		CHECK(e.ptr == ptr_of(i));
		CHECK(!tree_find(t, s - G, &e));
		CHECK(!tree_find(t, s - 1, &e));
		CHECK(tree_find_above(t, s - G, &e));
		CHECK(e.ptr == ptr_of(i));
		if (i) {
			CHECK(tree_find_below(t, s, &e));
			CHECK(e.ptr == ptr_of(i - 1));
		}
	}
}

/* One in-order pass of the whole tree. */
static void iterate_all(struct tree *t)
{
	struct tree_iter it;
	struct tree_entry e;
	uint64_t i = 0;

	tree_iter_start(&it, t, 0, UINT64_MAX);
	while (tree_iter_next(&it, &e)) {
		CHECK(i < nentries);
		CHECK_EQ_U64(e.start, start_of(i));
		i++;
	}
	CHECK_EQ_U64(i, nentries);
}

/* Erase every range, one store each, in random order. */
static void erase_all(struct tree *t)
{
	struct tree_stats st;

	shuffle();
	for (uint64_t k = 0; k < nentries; k++) {
		uint64_t s = start_of(order[k]);

		CHECK_EQ_U64(tree_store(t, s, s + G, NULL), 0);
	}
	tree_stats(t, &st);
	CHECK_EQ_U64(st.entries, 0);
	CHECK_EQ_U64(st.nodes, 0);
	CHECK_EQ_U64(st.bytes, 0);
	CHECK_EQ_U64(st.height, 0);
	check_tree_valid(t);
	{
		struct tree_entry e;

		CHECK(!tree_find_above(t, 0, &e));
	}
}

static void run(const char *name, int how)
{
	struct tree t;
	struct tree_stats st;
	double t0 = now(), t1, t2, t3;

	CHECK_EQ_U64(tree_init(&t, G), 0);
	if (how == 2)
		shuffle();
	for (uint64_t k = 0; k < nentries; k++) {
		uint64_t i = how == 0	? k
			     : how == 1 ? nentries - 1 - k
					: order[k];

		insert(&t, i);
	}
	t1 = now();
	check_tree_valid(&t);
	tree_stats(&t, &st);
	CHECK_EQ_U64(st.entries, nentries);
	lookup_all(&t);
	iterate_all(&t);
	t2 = now();
	printf("%-10s %" PRIu64 " ranges: insert %.2f s, lookups %.2f s; "
	       "memory per entry: %.1f bytes (%zu nodes, %u levels)\n",
	       name, nentries, t1 - t0, t2 - t1,
	       (double)st.bytes / (double)st.entries, st.nodes, st.height);
	erase_all(&t);
	t3 = now();
	printf("%-10s erased one by one in random order: %.2f s\n", name,
	       t3 - t2);
	tree_destroy(&t);
}

static void case_ascending(void)
{
	run("ascending", 0);
}

static void case_descending(void)
{
	run("descending", 1);
}

static void case_random(void)
{
	run("random", 2);
}

static const struct test_case case_table[] = {
	{ "ascending", case_ascending },
	{ "descending", case_descending },
	{ "random", case_random },
};

int main(int argc, char **argv)
{
	int ret;

	nentries = test_scaled(DEFAULT_ENTRIES, 50000);
	order = malloc(nentries * sizeof(*order));
	CHECK(order != NULL);
	for (uint64_t i = 0; i < nentries; i++)
		order[i] = (uint32_t)i;
	ret = test_run_cases(argc, argv, case_table,
			     sizeof(case_table) / sizeof(case_table[0]));
	free(order);
	return ret;
}
