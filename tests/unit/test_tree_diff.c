/*
 * test_tree_diff.c - randomized differential test of the range tree against
 * a reference model: a sorted array of ranges with obvious O(n) code for
 * every operation of src/tree.h.
 *
 * Each step applies one random operation (store, erase, exact replacement,
 * a committed or aborted transaction, an invalid call) to both, then checks
 * the tree's structure, its count, random lookups, a random iteration and
 * random gap searches against the model. The run goes through phases of
 * different address-space sizes: tiny and dense (every store overlaps
 * something), and large (thousands of entries, a tree of 3+ levels).
 *
 * Built twice: with the tree's own node capacities, and with 4-slot nodes
 * (test_tree_diff_small) so that deep trees and every split and merge path
 * appear with a few dozen entries.
 *
 * Options: --seed N, --steps N (overrides the scaled default), --trace
 * (print every operation, to cut a failing run down to a reproduction).
 */
#include <errno.h>
#include <stdio.h>

#include "check.h"
#include "tree_valid.h"
#include "rcu.h"
#include "tree.h"

#define G	      4096ULL
#define TOP	      (0ULL - G) /* the highest aligned address */
#define DEFAULT_STEPS 2000000

/* ---- the reference model ------------------------------------------------- */

struct model {
	struct tree_entry *e; /* sorted by start, non-overlapping */
	size_t n, cap;
};

/* Room for n ranges; never leaves e NULL, for memmove's sake. */
static void model_reserve(struct model *m, size_t n)
{
	if (n <= m->cap && m->e)
		return;
	m->cap = n * 2 + 16;
	m->e = realloc(m->e, m->cap * sizeof(*m->e));
	CHECK(m->e != NULL);
}

static void model_copy(struct model *dst, const struct model *src)
{
	dst->e = NULL;
	dst->n = dst->cap = 0;
	model_reserve(dst, src->n);
	if (src->n)
		memcpy(dst->e, src->e, src->n * sizeof(*src->e));
	dst->n = src->n;
}

static void model_free(struct model *m)
{
	free(m->e);
	m->e = NULL;
	m->n = m->cap = 0;
}

/* Index of the first range ending above addr (n if none). */
static size_t model_first_end_above(const struct model *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->e[mid].end > addr)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Index of the first range starting at or above addr (n if none). */
static size_t model_first_start_from(const struct model *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->e[mid].start >= addr)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/*
 * Store ptr (NULL: erase) over [start, end): ranges i..j-1 overlap it and
 * are replaced by at most three: the part of the first left of start, the
 * new range, and the part of the last right of end.
 */
static void model_store(struct model *m, uint64_t start, uint64_t end,
			void *ptr)
{
	size_t i = model_first_end_above(m, start);
	size_t j = model_first_start_from(m, end);
	struct tree_entry repl[3];
	size_t k = 0;

	if (j < i)
		j = i;
	if (i < j && m->e[i].start < start)
		repl[k++] = (struct tree_entry){ m->e[i].start, start,
						 m->e[i].ptr };
	if (ptr)
		repl[k++] = (struct tree_entry){ start, end, ptr };
	if (i < j && m->e[j - 1].end > end)
		repl[k++] = (struct tree_entry){ end, m->e[j - 1].end,
						 m->e[j - 1].ptr };
	model_reserve(m, m->n - (j - i) + k);
	memmove(&m->e[i + k], &m->e[j], (m->n - j) * sizeof(*m->e));
	memcpy(&m->e[i], repl, k * sizeof(*repl));
	m->n = m->n - (j - i) + k;
}

static const struct tree_entry *model_find(const struct model *m, uint64_t addr)
{
	size_t i = model_first_end_above(m, addr);

	return i < m->n && m->e[i].start <= addr ? &m->e[i] : NULL;
}

static const struct tree_entry *model_above(const struct model *m,
					    uint64_t addr)
{
	size_t i = model_first_end_above(m, addr);

	return i < m->n ? &m->e[i] : NULL;
}

static const struct tree_entry *model_below(const struct model *m,
					    uint64_t addr)
{
	size_t i = model_first_start_from(m, addr);

	return i > 0 ? &m->e[i - 1] : NULL;
}

/* The free range before range k ([end of k-1, start of k)), clipped to
 * [low, high); false when nothing of it is inside. */
static bool model_gap_k(const struct model *m, size_t k, uint64_t low,
			uint64_t high, uint64_t *gs, uint64_t *ge)
{
	uint64_t s = k ? m->e[k - 1].end : 0;
	uint64_t e = k < m->n ? m->e[k].start : high;

	if (s < low)
		s = low;
	if (e > high)
		e = high;
	*gs = s;
	*ge = e;
	return s < e;
}

static int model_gap_args(uint64_t low, uint64_t high, uint64_t size,
			  uint64_t *align)
{
	if (!size || size % G)
		return -EINVAL;
	if (!*align)
		*align = G;
	if ((*align & (*align - 1)) || *align < G)
		return -EINVAL;
	if (low % G || high % G || low >= high)
		return -EINVAL;
	return 0;
}

/*
 * Gap search by the letter of tree.h: the highest (or lowest) free range
 * whose part inside [low, high) is at least size + align - granule long
 * (computed without overflow), and its highest (lowest) aligned address.
 */
static int model_gap(const struct model *m, bool topdown, uint64_t low,
		     uint64_t high, uint64_t size, uint64_t align,
		     uint64_t *addr)
{
	unsigned __int128 need;
	size_t first, last;
	uint64_t gs, ge;
	int err = model_gap_args(low, high, size, &align);

	if (err)
		return err;
	need = (unsigned __int128)size + align - G;
	first = model_first_end_above(m, low);
	last = model_first_start_from(m, high);
	/* Free ranges before ranges first..last (last: the one after the
	 * final range overlapping the window) are all that can touch it. */
	for (size_t i = 0; i <= last - first; i++) {
		size_t k = topdown ? last - i : first + i;

		if (!model_gap_k(m, k, low, high, &gs, &ge))
			continue;
		if ((unsigned __int128)(ge - gs) < need)
			continue;
		if (topdown)
			*addr = (ge - size) & ~(align - 1);
		else
			*addr = (gs + align - 1) & ~(align - 1);
		return 0;
	}
	return -ENOMEM;
}

/* ---- the run's state ----------------------------------------------------- */

/*
 * A phase: an address space of pages pages at base, with a target number
 * of ranges around which the mix of operations keeps the tree, and the
 * longest "ordinary" range.
 */
struct phase {
	const char *name;
	uint64_t base;
	uint64_t pages;
	size_t target;
	uint64_t maxlen;
	uint64_t steps;
};

static struct tree tree;
static struct model model;
static const struct phase *phase;
static uint64_t step;
static const char *last_op = "none";
static bool trace;
static uintptr_t next_ptr = 0x100000; /* above the shared ones */
static size_t max_entries;
static unsigned max_height;

static struct {
	uint64_t stores, erases, exact, txn_commit, txn_abort, txn_stores;
	uint64_t splices;
	uint64_t invalid, probes, iters, gaps, gap_found, full_compares;
} count;

static void print_context(FILE *out)
{
	fprintf(out,
		"at step %" PRIu64 " in phase %s, last op %s, %zu "
		"entries in the model\n",
		step, phase ? phase->name : "-", last_op, model.n);
}

/* A fresh pointer, or one of a few shared ones: equal pointers side by
 * side must not be merged either. */
static void *new_ptr(void)
{
	if (rng_chance(1, 8))
		return (void *)(uintptr_t)(0x1000 + 0x10 * rng_below(4));
	next_ptr += 0x10;
	return (void *)next_ptr;
}

static uint64_t space_end(void)
{
	return phase->base + phase->pages * G;
}

/* ---- comparing the tree with the model ----------------------------------- */

static void check_same(const struct tree_entry *got, bool found,
		       const struct tree_entry *want)
{
	CHECK(found == (want != NULL));
	if (!want)
		return;
	CHECK_EQ_U64(got->start, want->start);
	CHECK_EQ_U64(got->end, want->end);
	CHECK(got->ptr == want->ptr);
}

/* find, find_above and find_below of addr against model m. */
static void probe(const struct model *m, uint64_t addr)
{
	struct tree_entry e;

	rcu_read_enter();
	check_same(&e, tree_find(&tree, addr, &e), model_find(m, addr));
	check_same(&e, tree_find_above(&tree, addr, &e), model_above(m, addr));
	check_same(&e, tree_find_below(&tree, addr, &e), model_below(m, addr));
	rcu_read_exit();
	count.probes++;
}

/* Iteration of [lo, hi) against model m. */
static void compare_iter(const struct model *m, uint64_t lo, uint64_t hi)
{
	size_t i = model_first_end_above(m, lo);
	struct tree_iter it;
	struct tree_entry e;

	rcu_read_enter();
	tree_iter_start(&it, &tree, lo, hi);
	while (tree_iter_next(&it, &e)) {
		CHECK(i < m->n && m->e[i].start < hi);
		check_same(&e, true, &m->e[i]);
		i++;
	}
	rcu_read_exit();
	CHECK(i == m->n || m->e[i].start >= hi);
	count.iters++;
}

static void compare_full(void)
{
	compare_iter(&model, 0, UINT64_MAX);
	count.full_compares++;
}

static void check_structure(void)
{
	struct tree_stats st;

	check_tree_valid(&tree);
	tree_stats(&tree, &st);
	CHECK_EQ_U64(st.entries, model.n);
	CHECK((st.nodes == 0) == (model.n == 0));
	CHECK((st.height == 0) == (model.n == 0));
	if (model.n > max_entries)
		max_entries = model.n;
	if (st.height > max_height)
		max_height = st.height;
}

/* An address near or inside the phase's space, any byte offset. */
static uint64_t random_addr(void)
{
	uint64_t margin = (phase->pages / 8 + 4) * G;
	uint64_t lo = phase->base > margin ? phase->base - margin : 0;
	uint64_t hi = space_end() + margin;

	if (hi < space_end() || hi > TOP)
		hi = TOP;
	switch (rng_below(16)) {
	case 0:
		return rng_chance(1, 2) ? 0 : UINT64_MAX - rng_below(2 * G);
	case 1:
	case 2:
	case 3:
	case 4: {
		/* At or next to the edge of an existing range. */
		const struct tree_entry *e;
		uint64_t a;

		if (!model.n)
			break;
		e = &model.e[rng_below(model.n)];
		a = rng_chance(1, 2) ? e->start : e->end;
		return a + rng_range(0, 2) - 1;
	}
	default:
		break;
	}
	return rng_range(lo, hi);
}

/* An aligned window [*low, *high) around the phase's space. */
static void random_window(uint64_t *low, uint64_t *high)
{
	uint64_t a = random_addr() & ~(G - 1);
	uint64_t b = random_addr() & ~(G - 1);

	if (a > b) {
		uint64_t t = a;

		a = b;
		b = t;
	}
	if (rng_chance(1, 4)) {
		/* All of the space, and a page around it. */
		a = phase->base >= G ? phase->base - G : 0;
		b = space_end() < TOP ? space_end() + G : TOP;
	}
	if (a == b) {
		/* Make it one page wide (b is at most TOP). */
		if (b < TOP)
			b += G;
		else
			a -= G;
	}
	*low = a;
	*high = b;
}

static uint64_t random_gap_size(void)
{
	switch (rng_below(8)) {
	case 0:
		return G;
	case 1:
	case 2:
	case 3:
		return (1 + rng_below(8)) * G;
	case 4:
	case 5:
		return (1 + rng_below(phase->maxlen * 2)) * G;
	case 6:
		return (1 + rng_below(phase->pages)) * G;
	default:
		/* Beyond anything; sizes near 2^64 check for overflow. */
		if (rng_chance(1, 4))
			return TOP - rng_below(4) * G;
		return (1 + rng_below(phase->pages * 4)) * G;
	}
}

static uint64_t random_align(void)
{
	unsigned max_shift = 64 - __builtin_clzll(phase->pages * G);

	switch (rng_below(6)) {
	case 0:
		return 0;
	case 1:
		return G;
	case 2:
	case 3:
		return G << rng_below(6);
	default:
		return 1ULL << rng_range(12, max_shift < 63 ? max_shift : 63);
	}
}

/* One gap search both ways, with random (mostly valid) arguments. */
static void compare_gaps(void)
{
	uint64_t low, high, size, align, got, want = 0;
	int err, want_err;

	random_window(&low, &high);
	size = random_gap_size();
	align = random_align();
	if (rng_chance(1, 64)) {
		/* Nearly the whole window, or the whole key space: where
		 * size + align - granule is near 2^64. */
		if (rng_chance(1, 2)) {
			low = 0;
			high = TOP;
		}
		size = high - low - rng_below(3) * G;
		if (!size)
			size = G;
		align = G << rng_below(4);
		if (rng_chance(1, 4))
			align = 1ULL << 63;
	}
	if (rng_chance(1, 64)) {
		/* Invalid arguments, one at a time. */
		switch (rng_below(6)) {
		case 0:
			size = rng_chance(1, 2) ? 0
						: size + 1 + rng_below(G - 1);
			break;
		case 1:
			align = (G << rng_below(4)) * 3;
			break;
		case 2:
			align = 1ULL << rng_below(12);
			break;
		case 3:
			low += 1 + rng_below(G - 1);
			break;
		case 4:
			high -= 1 + rng_below(G - 1);
			break;
		default:
			high = low - rng_below(2) * G;
			break;
		}
	}
	for (int top = 0; top < 2; top++) {
		want_err =
			model_gap(&model, top, low, high, size, align, &want);
		got = 0x5a5a;
		rcu_read_enter();
		if (top)
			err = tree_gap_topdown(&tree, low, high, size, align,
					       &got);
		else
			err = tree_gap_bottomup(&tree, low, high, size, align,
						&got);
		rcu_read_exit();
		if (err != want_err || (!err && got != want))
			fprintf(stderr,
				"gap %s low %#" PRIx64 " high %#" PRIx64
				" size %#" PRIx64 " align %#" PRIx64
				": got %d %#" PRIx64 ", want %d %#" PRIx64 "\n",
				top ? "topdown" : "bottomup", low, high, size,
				align, err, got, want_err, want);
		CHECK_EQ_U64(err, want_err);
		if (!err)
			CHECK_EQ_U64(got, want);
		count.gaps++;
		count.gap_found += !err;
	}
}

/* The checks after every step. */
static void check_step(void)
{
	uint64_t lo, hi;

	check_structure();
	for (int i = 0; i < 4; i++)
		probe(&model, random_addr());
	lo = random_addr();
	hi = rng_chance(1, 8) ? UINT64_MAX : random_addr();
	if (lo > hi) {
		uint64_t t = lo;

		lo = hi;
		hi = t;
	}
	if (lo == hi)
		hi = lo + 1;
	compare_iter(&model, lo, hi);
	compare_gaps();
	if (step % 128 == 0)
		compare_full();
}

/* ---- operations ---------------------------------------------------------- */

/* A random range [*start, *end) in the space, of a length suited to the
 * phase and to how far the tree is from its target size. */
static void random_range(uint64_t *start, uint64_t *end)
{
	uint64_t avg = phase->pages / (phase->target + 1);
	uint64_t len, s;

	if (avg < 1)
		avg = 1;
	if (model.n > phase->target)
		avg *= 4; /* longer ranges swallow several: the tree shrinks */
	/* Rarely a range over a good part of the space: one store that
	 * replaces or erases most of the tree. Rare enough that the tree
	 * regrows to its target in between. */
	if (rng_chance(1, 4 * phase->target + 100)) {
		len = 1 + rng_below(phase->pages);
		goto place;
	}
	switch (rng_below(100)) {
	case 0 ... 30:
		len = 1;
		break;
	case 31 ... 80:
		len = 1 + rng_below(avg);
		break;
	default:
		len = 1 + rng_below(phase->maxlen);
		break;
	}
	if (len > phase->pages)
		len = phase->pages;
place:
	s = rng_below(phase->pages - len + 1);
	*start = phase->base + s * G;
	*end = *start + len * G;
}

/* Exactly one range, or several adjacent ones, or the hole between two. */
static bool exact_range(const struct model *m, uint64_t *start, uint64_t *end)
{
	size_t i, j;

	if (!m->n)
		return false;
	i = rng_below(m->n);
	j = i + (rng_chance(1, 3) ? rng_below(4) : 0);
	if (j >= m->n)
		j = m->n - 1;
	if (rng_chance(1, 4) && i + 1 < m->n &&
	    m->e[i].end < m->e[i + 1].start) {
		*start = m->e[i].end;
		*end = m->e[i + 1].start;
		return true;
	}
	*start = m->e[i].start;
	*end = m->e[j].end;
	return true;
}

static void trace_store(const char *what, uint64_t start, uint64_t end,
			void *ptr, int err)
{
	if (trace)
		printf("%" PRIu64 ": %s [%#" PRIx64 ", %#" PRIx64
		       ") %p -> %d\n",
		       step, what, start, end, ptr, err);
}

/* Pick one store for an operation: new range, erase, or exact. */
static void *pick_store(const struct model *m, uint64_t *start, uint64_t *end)
{
	unsigned r = rng_below(100);
	unsigned erase_pct = m->n > phase->target ? 45 : 20;

	if (r < 15 && exact_range(m, start, end)) {
		count.exact++;
		return rng_chance(1, 6) ? NULL : new_ptr();
	}
	random_range(start, end);
	if (r < 15 + erase_pct) {
		count.erases++;
		return NULL;
	}
	count.stores++;
	return new_ptr();
}

static void op_store(void)
{
	uint64_t start, end;
	void *ptr = pick_store(&model, &start, &end);
	int err = tree_store(&tree, start, end, ptr);

	last_op = "store";
	trace_store("store", start, end, ptr, err);
	CHECK_EQ_U64(err, 0);
	model_store(&model, start, end, ptr);
}

/* An invalid store: -EINVAL, nothing changes (check_step verifies). */
static void op_invalid(void)
{
	uint64_t start, end;
	int err;

	random_range(&start, &end);
	switch (rng_below(4)) {
	case 0:
		end = start;
		break;
	case 1: {
		uint64_t t = start; /* inverted */

		start = end;
		end = t;
		break;
	}
	case 2:
		start += 1 + rng_below(G - 1);
		break;
	default:
		end -= 1 + rng_below(G - 1);
		break;
	}
	err = tree_store(&tree, start, end,
			 rng_chance(1, 2) ? new_ptr() : NULL);
	last_op = "invalid store";
	trace_store("invalid", start, end, NULL, err);
	CHECK_EQ_U64(err, -EINVAL);
	count.invalid++;
}

/* Readers see the old state while a transaction is open. */
static void probe_published(const struct model *old)
{
	struct tree_stats st;

	tree_stats(&tree, &st);
	CHECK_EQ_U64(st.entries, old->n);
	for (int i = 0; i < 2; i++)
		probe(old, random_addr());
	if (rng_chance(1, 16))
		compare_iter(old, 0, UINT64_MAX);
}

/*
 * What a splice at start is given as its planning walk (tree.h, struct
 * tree_hint): none; a walk from just below start, as a map change's plan
 * takes it, or from a random key at most a few granules below; or a walk
 * taken at an earlier splice, which commits since have made stale. The
 * tree must use a hint only while it is true: debug builds check every
 * used hint against a descent, and the model checks the result.
 */
static const struct tree_hint *splice_hint(uint64_t start)
{
	static struct tree_hint fresh, stale;
	struct tree_iter it;
	uint64_t below = rng_chance(3, 4) ? 1 : G * rng_below(8);

	switch (rng_below(3)) {
	case 0:
		return NULL;
	case 1:
		tree_iter_start(&it, &tree, start > below ? start - below : 0,
				UINT64_MAX);
		tree_hint_take(&fresh, &tree, &it);
		if (rng_chance(1, 4))
			stale = fresh;
		return &fresh;
	default:
		return &stale;
	}
}

/*
 * A splice: [start, end) (often exactly some ranges of the model, as a map
 * change's span is) rewritten as 0-4 ranges inside it, back to back or
 * apart, as a split, a merge or a hole would leave it.
 */
static void txn_splice(struct model *next)
{
	struct tree_entry e[4];
	uint64_t start, end, pos;
	unsigned n = 0, want = rng_below(5);

	if (!(rng_chance(2, 3) && exact_range(next, &start, &end)))
		random_range(&start, &end);
	for (pos = start; n < want && pos < end; n++) {
		uint64_t left = (end - pos) / G;

		if (rng_chance(1, 3) && left > 1)
			pos += G * (1 + rng_below(left - 1)); /* a hole */
		left = (end - pos) / G;
		e[n].start = pos;
		e[n].end =
			n + 1 == want ? end : pos + G * (1 + rng_below(left));
		e[n].ptr = new_ptr();
		pos = e[n].end;
	}
	CHECK_EQ_U64(
		tree_txn_splice(&tree, start, end, e, n, splice_hint(start)),
		0);
	trace_store("txn_splice", start, end, NULL, (int)n);
	model_store(next, start, end, NULL);
	for (unsigned k = 0; k < n; k++)
		model_store(next, e[k].start, e[k].end, e[k].ptr);
	count.splices++;
}

/*
 * 1-5 stores in one transaction, applied to a copy of the model; committed
 * (the copy becomes the model) or aborted (the copy is dropped). Sometimes
 * ends with an invalid store, after which the caller must abort.
 */
static void op_txn(void)
{
	unsigned nstores = 1 + rng_below(5);
	bool commit = rng_chance(1, 2);
	struct model next;
	uint64_t start, end;
	void *ptr;

	model_copy(&next, &model);
	tree_begin(&tree);
	last_op = "transaction";
	if (trace)
		printf("%" PRIu64 ": begin\n", step);
	for (unsigned i = 0; i < nstores; i++) {
		if (rng_chance(1, 3)) {
			txn_splice(&next);
			probe_published(&model);
			continue;
		}
		ptr = pick_store(&next, &start, &end);
		CHECK_EQ_U64(tree_txn_store(&tree, start, end, ptr), 0);
		trace_store("txn_store", start, end, ptr, 0);
		model_store(&next, start, end, ptr);
		count.txn_stores++;
		probe_published(&model);
	}
	if (rng_chance(1, 16)) {
		random_range(&start, &end);
		CHECK_EQ_U64(tree_txn_store(&tree, start + 1, end, NULL),
			     -EINVAL);
		trace_store("txn_store invalid", start + 1, end, NULL, -EINVAL);
		commit = false;
	}
	if (trace)
		printf("%" PRIu64 ": %s\n", step, commit ? "commit" : "abort");
	if (commit) {
		tree_commit(&tree);
		model_free(&model);
		model = next;
		count.txn_commit++;
	} else {
		tree_abort(&tree);
		model_free(&next);
		count.txn_abort++;
		if (rng_chance(1, 4))
			compare_full();
	}
}

/* Splices the tree did in one leaf (the fast path), ever, and of those the
 * ones that followed their hint instead of descending. */
static uint64_t splices_in_leaf(uint64_t *hinted)
{
	struct tree_stats st;

	tree_stats(&tree, &st);
	*hinted = st.hinted;
	return st.splices;
}

static void run_step(void)
{
	unsigned r = rng_below(100);

	if (r < 78)
		op_store();
	else if (r < 98)
		op_txn();
	else
		op_invalid();
	check_step();
}

/* ---- phases -------------------------------------------------------------- */

/* Fill quickly to the target size (checked once at the end), so the large
 * phases are deep even in short sanitizer runs. */
static void bulk_fill(void)
{
	uint64_t start, end;
	void *ptr;

	last_op = "bulk fill";
	while (model.n < phase->target) {
		uint64_t s = rng_below(phase->pages);
		uint64_t len = 1 + rng_below(2);

		/* In pages: the space may end at TOP, where end would wrap. */
		if (s + len > phase->pages)
			continue;
		start = phase->base + s * G;
		end = start + len * G;
		ptr = new_ptr();
		CHECK_EQ_U64(tree_store(&tree, start, end, ptr), 0);
		trace_store("fill", start, end, ptr, 0);
		model_store(&model, start, end, ptr);
	}
	check_structure();
	compare_full();
}

/* Start a phase from an empty tree: one store erases everything. */
static void clear_all(void)
{
	struct tree_stats st;

	last_op = "clear";
	CHECK_EQ_U64(tree_store(&tree, 0, TOP, NULL), 0);
	trace_store("clear", 0, TOP, NULL, 0);
	model.n = 0;
	check_structure();
	tree_stats(&tree, &st);
	CHECK_EQ_U64(st.nodes, 0);
	CHECK_EQ_U64(st.bytes, 0);
}

static void run_phase(const struct phase *p)
{
	size_t sum = 0, lo = SIZE_MAX, hi = 0;
	struct tree_stats st;

	phase = p;
	clear_all();
	if (p->target >= 100)
		bulk_fill();
	for (uint64_t i = 0; i < p->steps; i++) {
		step++;
		run_step();
		sum += model.n;
		lo = model.n < lo ? model.n : lo;
		hi = model.n > hi ? model.n : hi;
	}
	tree_stats(&tree, &st);
	printf("  phase %-6s %7" PRIu64 " steps, entries min %zu avg %zu "
	       "max %zu, ends with height %u\n",
	       p->name, p->steps, lo, p->steps ? sum / p->steps : 0, hi,
	       st.height);
}

static uint64_t parse_steps(int argc, char **argv)
{
	uint64_t n;

	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--steps") && !parse_u64(argv[i + 1], &n))
			return n;
	return test_scaled(DEFAULT_STEPS, 20000);
}

static bool parse_trace(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--trace"))
			return true;
	return getenv("UVMA_TRACE") != NULL;
}

/* --steps, read by main. */
static uint64_t steps;

static void case_random(void)
{
	uint64_t per_round;
	unsigned rounds;
	uint64_t in_leaf, hinted;

	/* About 100,000 steps per round of all phases. */
	rounds = steps / 100000 ? (unsigned)(steps / 100000) : 1;
	per_round = steps / rounds;
	{
		const struct phase phases[] = {
			{ "tiny", 0, 64, 16, 64, per_round * 25 / 100 },
			{ "small", 1ULL << 32, 2048, 200, 256,
			  per_round * 30 / 100 },
			{ "medium", 1ULL << 40, 65536, 1000, 512,
			  per_round * 20 / 100 },
			{ "large", TOP - 16384 * G, 16384, 4000, 8,
			  per_round * 25 / 100 },
		};

		CHECK_EQ_U64(tree_init(&tree, G), 0);
		printf("%" PRIu64 " steps in %u rounds, nodes of %zu bytes\n",
		       steps, rounds, tree_node_bytes());
		for (unsigned r = 0; r < rounds; r++)
			for (size_t i = 0; i < sizeof(phases) / sizeof(*phases);
			     i++)
				run_phase(&phases[i]);
	}
	clear_all();
	in_leaf = splices_in_leaf(&hinted);
	tree_destroy(&tree);
	model_free(&model);
	printf("tree_diff: %" PRIu64 " steps: %" PRIu64 " stores, %" PRIu64
	       " erases, %" PRIu64 " exact, %" PRIu64 " commits, %" PRIu64
	       " aborts (%" PRIu64 " stores in transactions), %" PRIu64
	       " invalid, %" PRIu64 " splices (%" PRIu64
	       " in one leaf, %" PRIu64 " of them after their planning walk)\n",
	       step, count.stores, count.erases, count.exact, count.txn_commit,
	       count.txn_abort, count.txn_stores, count.invalid, count.splices,
	       in_leaf, hinted);
	/* A third of the splices get a fresh hint; most of those are the
	 * transaction's first write in a leaf holding their key. */
	CHECK(hinted <= in_leaf);
	CHECK(count.splices < 300 || hinted > 0);
	printf("checked: %" PRIu64 " probes, %" PRIu64 " iterations (%" PRIu64
	       " full), %" PRIu64 " gap searches (%" PRIu64 " found); "
	       "at most %zu entries, height %u\n",
	       count.probes, count.iters, count.full_compares, count.gaps,
	       count.gap_found, max_entries, max_height);
}

static const struct test_case case_table[] = {
	{ "random", case_random },
};

int main(int argc, char **argv)
{
	steps = parse_steps(argc, argv);
	trace = parse_trace(argc, argv);
	test_set_context(print_context);
	return test_run_cases(argc, argv, case_table, 1);
}
