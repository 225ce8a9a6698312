/*
 * tree.c - the RCU-safe range tree (contract in tree.h).
 *
 * Shape: a B-tree whose leaves hold sorted, disjoint ranges and whose
 * branches hold, per child, the child pointer and three summaries of the
 * child's subtree: the first start, the last end and the largest gap between
 * two of its ranges. The summaries steer every search: find by address (last
 * ends), find below (first starts), and the gap search (largest gaps, plus
 * the gaps between neighbouring children, first[i + 1] - last[i]).
 *
 * Concurrency: a node is immutable once published. A writer works inside a
 * transaction: the first change to a published node copies it (writable()),
 * the copy is "fresh" and is edited in place for the rest of the transaction;
 * the replaced node goes on the retired list. Commit publishes the new root
 * with one release store; once the retired list holds RETIRE_BATCH nodes
 * (several commits' worth) it goes to one call_rcu. Abort returns the fresh
 * nodes to the spare list and keeps the published tree as it was, which is
 * how an allocation failure leaves the tree unchanged.
 *
 * Locks: none here. The published root is the only field readers and the
 * writer share; every other field of struct tree, and the link and state
 * fields of every node, belong to the writer (serialized by the caller).
 *
 * Every structural operation works on one range at a time and keeps the
 * B-tree invariants (fill between min and cap, equal leaf depth), so each is
 * O(log n); a store over k ranges is k of them inside one transaction.
 */
#include "tree.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "debug.h"
#include "rcu.h"

/* Capacities fill the eight lines readers search; tests shrink them to grow
 * deep trees. */
#ifndef TREE_LEAF_CAP
#define TREE_LEAF_CAP 20
#endif
#ifndef TREE_BRANCH_CAP
#define TREE_BRANCH_CAP 15
#endif

/* Fill floors of non-root nodes. Any floor up to half the capacity keeps
 * merge-or-redistribute correct; a quarter lets a split at a node's end keep
 * three quarters on the full side, so ascending and descending insertions
 * (the pattern of top-down mmap placement) leave nodes mostly full. */
#define LEAF_MIN   (TREE_LEAF_CAP / 4 > 1 ? TREE_LEAF_CAP / 4 : 1)
#define BRANCH_MIN (TREE_BRANCH_CAP / 4 > 2 ? TREE_BRANCH_CAP / 4 : 2)

_Static_assert(TREE_LEAF_CAP >= 3 && TREE_LEAF_CAP <= 255, "leaf capacity");
_Static_assert(TREE_BRANCH_CAP >= 4 && TREE_BRANCH_CAP <= 255,
	       "branch capacity");

enum node_state {
	NODE_PUBLISHED, /* reachable by readers (or was): copy before change */
	NODE_FRESH,	/* allocated by the open transaction: edit in place */
	NODE_DEAD, /* fresh, then dropped: spare again at commit or abort */
};

/*
 * A node is the lines readers search (level, count and the arrays), then one
 * line of the writer's bookkeeping. Readers never read that last line, and
 * the writer stores to it in nodes readers are still searching: dropping a
 * published node puts it on the retired list, a graft takes it off again.
 * Kept on the readers' first line, those stores took it from every fault
 * thread's cache at each map change (docs/tree.md, "Lines readers read").
 */
struct tnode {
	/* Written while fresh, immutable once published (but see graft). */
	uint8_t level; /* 0 for a leaf */
	uint8_t count; /* ranges (leaf) or children (branch) */
	union {
		struct {
			uint64_t start[TREE_LEAF_CAP];
			uint64_t end[TREE_LEAF_CAP];
			void *ptr[TREE_LEAF_CAP];
		} leaf;
		struct {
			uint64_t first[TREE_BRANCH_CAP]; /* first start below */
			uint64_t last[TREE_BRANCH_CAP];	 /* last end below */
			uint64_t gap[TREE_BRANCH_CAP];	 /* largest gap below */
			struct tnode *child[TREE_BRANCH_CAP];
		} br;
	} u;

	/* Writer only, on a line of its own; readers never read these. */
	struct {
		union {
			struct rcu_head rcu; /* first node of a retired batch */
			struct { /* second node of a retired batch: */
				struct tnode *last; /* the batch's last node */
				size_t count; /* and its length, so the RCU
					       * callback need not walk it */
			} batch;
			/* While fresh: the published node this is a copy of,
			 * or NULL (tree_commit's graft). */
			struct tnode *orig;
		};
		struct tnode *link; /* next on the fresh or the retired list */
		uint8_t state;	    /* enum node_state */
	} __attribute__((aligned(64)));
};

#define NODE_ALIGN 64
#define NODE_BYTES                                                             \
	((sizeof(struct tnode) + NODE_ALIGN - 1) & ~(size_t)(NODE_ALIGN - 1))
/* What readers read, and what a copy copies: everything before the
 * writer's line. */
#define PAYLOAD_BYTES offsetof(struct tnode, rcu)

size_t tree_node_bytes(void)
{
	return NODE_BYTES;
}

static unsigned node_cap(const struct tnode *n)
{
	return n->level ? TREE_BRANCH_CAP : TREE_LEAF_CAP;
}

static unsigned node_min(const struct tnode *n)
{
	return n->level ? BRANCH_MIN : LEAF_MIN;
}

/* How many of a[0..n) are <= key (a is sorted): the index of the first
 * element above key. Branch-free: nodes are small and mispredicted
 * branches of a binary search cost more than the few extra compares. */
static inline unsigned count_le(const uint64_t *a, unsigned n, uint64_t key)
{
	unsigned i = 0;
	for (unsigned j = 0; j < n; j++)
		i += a[j] <= key;
	return i;
}

/* How many of a[0..n) are < key. */
static inline unsigned count_lt(const uint64_t *a, unsigned n, uint64_t key)
{
	unsigned i = 0;
	for (unsigned j = 0; j < n; j++)
		i += a[j] < key;
	return i;
}

/* Ask for every line of a node at once: the loads a search makes in it
 * (keys, then the one child or pointer it picks) would otherwise miss one
 * after the other. Measured: lookups at 1M ranges 30-40 ns faster, at 1k
 * (all in cache) about 1.5 ns slower. */
static inline void prefetch_node(const struct tnode *n)
{
	for (size_t off = 0; off < PAYLOAD_BYTES; off += NODE_ALIGN)
		__builtin_prefetch((const char *)n + off);
}

static void leaf_get(const struct tnode *n, unsigned j, struct tree_entry *e)
{
	e->start = n->u.leaf.start[j];
	e->end = n->u.leaf.end[j];
	e->ptr = n->u.leaf.ptr[j];
}

static void leaf_set(struct tnode *n, unsigned j, const struct tree_entry *e)
{
	n->u.leaf.start[j] = e->start;
	n->u.leaf.end[j] = e->end;
	n->u.leaf.ptr[j] = e->ptr;
}

/*
 * The top sentinel (docs/tree.md, "The top sentinel"): a tree that holds
 * any range also holds the empty range [UINT64_MAX, UINT64_MAX) as its very
 * last one, so that the tree's last range, and with it every last summary
 * down the right edge, never changes. A change at the top of the map then
 * keeps its leaf's edge ranges and grafts like any other, instead of
 * publishing a new root that every reader's next lookup misses on. It is
 * empty, so no address is in it, no search by address returns it (but
 * find_above, which is told here) and iterators stop before it; the tree's
 * entry count leaves it out.
 */
static const char sentinel_mark;
#define SENTINEL_KEY UINT64_MAX
#define SENTINEL_PTR ((void *)&sentinel_mark)

static bool is_sentinel(const struct tnode *leaf, unsigned j)
{
	return leaf->u.leaf.ptr[j] == SENTINEL_PTR;
}

/*
 * A published branch changes in place in two ways only (tree_commit's
 * graft): one child pointer swapped for a complete new subtree with the same
 * first and last (release store), and that child's gap summary (relaxed).
 * Readers therefore load children with acquire, pairing with the release:
 * the new subtree's nodes were fully written before. Gap summaries are a
 * search hint to readers (exact for the writer, the only one that stores
 * them).
 */
static inline struct tnode *child_load(const struct tnode *n, unsigned i)
{
	return __atomic_load_n(&n->u.br.child[i], __ATOMIC_ACQUIRE);
}

static inline uint64_t gap_load(const struct tnode *n, unsigned i)
{
	return __atomic_load_n(&n->u.br.gap[i], __ATOMIC_RELAXED);
}

/* Summaries of a non-empty node, as its parent stores them. */
static void node_summary(const struct tnode *n, uint64_t *first, uint64_t *last,
			 uint64_t *gap)
{
	uint64_t g = 0;
	unsigned c = n->count;

	UVMA_ASSERT(c > 0);
	if (!n->level) {
		for (unsigned j = 1; j < c; j++) {
			uint64_t d = n->u.leaf.start[j] - n->u.leaf.end[j - 1];
			g = d > g ? d : g;
		}
		*first = n->u.leaf.start[0];
		*last = n->u.leaf.end[c - 1];
	} else {
		for (unsigned i = 0; i < c; i++) {
			/* Readers call this too (gap searches, on the root). */
			uint64_t d = gap_load(n, i);
			if (i > 0 && n->u.br.first[i] - n->u.br.last[i - 1] > d)
				d = n->u.br.first[i] - n->u.br.last[i - 1];
			g = d > g ? d : g;
		}
		*first = n->u.br.first[0];
		*last = n->u.br.last[c - 1];
	}
	*gap = g;
}

static void set_child(struct tnode *p, unsigned i, struct tnode *c)
{
	p->u.br.child[i] = c;
	node_summary(c, &p->u.br.first[i], &p->u.br.last[i], &p->u.br.gap[i]);
}

/* Move k items (ranges or children with their summaries) from src[si] to
 * dst[di]; src and dst may be the same node, regions may overlap. */
static void node_move(struct tnode *dst, unsigned di, const struct tnode *src,
		      unsigned si, unsigned k)
{
	if (!k)
		return;
	if (!src->level) {
		memmove(&dst->u.leaf.start[di], &src->u.leaf.start[si], k * 8);
		memmove(&dst->u.leaf.end[di], &src->u.leaf.end[si], k * 8);
		memmove(&dst->u.leaf.ptr[di], &src->u.leaf.ptr[si],
			k * sizeof(void *));
	} else {
		memmove(&dst->u.br.first[di], &src->u.br.first[si], k * 8);
		memmove(&dst->u.br.last[di], &src->u.br.last[si], k * 8);
		memmove(&dst->u.br.gap[di], &src->u.br.gap[si], k * 8);
		memmove(&dst->u.br.child[di], &src->u.br.child[si],
			k * sizeof(void *));
	}
}

/* ---- Readers ---------------------------------------------------------- */

static const struct tnode *read_root(struct tree *t)
{
	/* Acquire pairs with the release store in tree_commit(): every node
	 * reachable from the root was fully written before it was published;
	 * published nodes change only as child_load() explains. */
	return atomic_load_explicit(&t->root, memory_order_acquire);
}

static bool find_above_in(const struct tnode *n, uint64_t addr,
			  struct tree_entry *out)
{
	if (!n)
		return false;
	while (n->level) {
		unsigned i = count_le(n->u.br.last, n->count, addr);
		if (i >= n->count)
			return false;
		n = child_load(n, i);
		prefetch_node(n);
	}
	unsigned j = count_le(n->u.leaf.end, n->count, addr);
	if (j >= n->count)
		return false;
	leaf_get(n, j, out);
	return true;
}

/* find_above_in without the sentinel, which it returns when nothing real
 * lies above addr. Its callers inside the tree (tree_find, the store's
 * trim) need not ask: no real range starts at SENTINEL_KEY, so their
 * bounds on the start turn it away already, and the fault path's lookup
 * pays nothing for it. */
static bool find_above_real(const struct tnode *n, uint64_t addr,
			    struct tree_entry *out)
{
	struct tree_entry e;

	if (!find_above_in(n, addr, &e) || e.start == SENTINEL_KEY)
		return false;
	*out = e;
	return true;
}

static bool find_below_in(const struct tnode *n, uint64_t addr,
			  struct tree_entry *out)
{
	if (!n)
		return false;
	while (n->level) {
		unsigned i = count_lt(n->u.br.first, n->count, addr);
		if (!i)
			return false;
		n = child_load(n, i - 1);
		prefetch_node(n);
	}
	unsigned j = count_lt(n->u.leaf.start, n->count, addr);
	if (!j)
		return false;
	leaf_get(n, j - 1, out);
	return true;
}

bool tree_find_above(struct tree *t, uint64_t addr, struct tree_entry *out)
{
	return find_above_real(read_root(t), addr, out);
}

bool tree_find_below(struct tree *t, uint64_t addr, struct tree_entry *out)
{
	return find_below_in(read_root(t), addr, out);
}

bool tree_find(struct tree *t, uint64_t addr, struct tree_entry *out)
{
	struct tree_entry e;

	if (!find_above_in(read_root(t), addr, &e) || e.start > addr)
		return false;
	*out = e;
	return true;
}

void tree_iter_start(struct tree_iter *it, struct tree *t, uint64_t lo,
		     uint64_t hi)
{
	const struct tnode *n = read_root(t);

	it->hi = hi;
	it->levels = 0;
	if (!n || lo >= hi)
		return;
	it->levels = n->level + 1;
	while (n->level) {
		unsigned i = count_le(n->u.br.last, n->count, lo);
		if (i >= n->count) {
			it->levels = 0;
			return;
		}
		it->node[n->level] = n;
		it->idx[n->level] = (unsigned char)i;
		n = child_load(n, i);
		prefetch_node(n);
	}
	it->node[0] = n;
	it->idx[0] = (unsigned char)count_le(n->u.leaf.end, n->count, lo);
}

/* Step to the first range of the next leaf; false at the end of the tree. */
static bool iter_next_leaf(struct tree_iter *it)
{
	int l = 1;

	while (l < it->levels && it->idx[l] + 1 >= it->node[l]->count)
		l++;
	if (l >= it->levels)
		return false;
	it->idx[l]++;
	const struct tnode *n = child_load(it->node[l], it->idx[l]);
	for (l--;; l--) {
		it->node[l] = n;
		it->idx[l] = 0;
		if (!l)
			break;
		n = child_load(n, 0);
	}
	return true;
}

bool tree_iter_next(struct tree_iter *it, struct tree_entry *out)
{
	if (!it->levels)
		return false;
	if (it->idx[0] >= it->node[0]->count && !iter_next_leaf(it)) {
		it->levels = 0;
		return false;
	}
	const struct tnode *leaf = it->node[0];
	unsigned j = it->idx[0];
	if (leaf->u.leaf.start[j] >= it->hi) {
		it->levels = 0;
		return false;
	}
	leaf_get(leaf, j, out);
	it->idx[0] = (unsigned char)(j + 1);
	return true;
}

/* ---- Gap search ------------------------------------------------------- */

struct gap_query {
	uint64_t low, high; /* the window */
	uint64_t size;	    /* of the area to place */
	uint64_t align;
	uint64_t need; /* size + align - granule: any free run this long fits */
	uint64_t addr; /* the answer */
};

/* Clip the free run [gs, ge) to the window: true when what is left is long
 * enough for any aligned placement. */
static bool usable(const struct gap_query *q, uint64_t *gs, uint64_t *ge)
{
	*gs = *gs > q->low ? *gs : q->low;
	*ge = *ge < q->high ? *ge : q->high;
	return *ge > *gs && *ge - *gs >= q->need;
}

/* Place the area at the top of the usable part of [gs, ge). */
static bool fits_down(struct gap_query *q, uint64_t gs, uint64_t ge)
{
	if (!usable(q, &gs, &ge))
		return false;
	q->addr = (ge - q->size) & ~(q->align - 1);
	return true;
}

/* Place the area at the bottom of the usable part of [gs, ge). */
static bool fits_up(struct gap_query *q, uint64_t gs, uint64_t ge)
{
	if (!usable(q, &gs, &ge))
		return false;
	q->addr = (gs + q->align - 1) & ~(q->align - 1);
	return true;
}

/*
 * Highest usable gap strictly inside n's subtree. A child is entered only when
 * its largest gap is long enough and it overlaps the window; a child wholly
 * inside the window then always succeeds, so only the (at most two per level)
 * children straddling the window's edges can fail: O(log n) nodes.
 */
static bool gap_down(const struct tnode *n, struct gap_query *q)
{
	if (!n->level) {
		for (unsigned j = n->count - 1; j > 0; j--) {
			if (n->u.leaf.start[j] <= q->low)
				return false;
			if (fits_down(q, n->u.leaf.end[j - 1],
				      n->u.leaf.start[j]))
				return true;
		}
		return false;
	}
	for (int i = n->count - 1; i >= 0; i--) {
		if (i + 1 < n->count) {
			if (n->u.br.first[i + 1] <= q->low)
				return false;
			if (fits_down(q, n->u.br.last[i], n->u.br.first[i + 1]))
				return true;
		}
		if (n->u.br.last[i] <= q->low)
			return false;
		if (n->u.br.first[i] < q->high && gap_load(n, i) >= q->need &&
		    gap_down(child_load(n, i), q))
			return true;
	}
	return false;
}

/* Lowest usable gap strictly inside n's subtree (mirror of gap_down). */
static bool gap_up(const struct tnode *n, struct gap_query *q)
{
	if (!n->level) {
		for (unsigned j = 1; j < n->count; j++) {
			if (n->u.leaf.end[j - 1] >= q->high)
				return false;
			if (fits_up(q, n->u.leaf.end[j - 1],
				    n->u.leaf.start[j]))
				return true;
		}
		return false;
	}
	for (unsigned i = 0; i < n->count; i++) {
		if (n->u.br.first[i] >= q->high)
			return false;
		if (n->u.br.last[i] > q->low && gap_load(n, i) >= q->need &&
		    gap_up(child_load(n, i), q))
			return true;
		if (i + 1 < n->count) {
			if (n->u.br.last[i] >= q->high)
				return false;
			if (fits_up(q, n->u.br.last[i], n->u.br.first[i + 1]))
				return true;
		}
	}
	return false;
}

static int gap_query_init(struct tree *t, struct gap_query *q, uint64_t low,
			  uint64_t high, uint64_t size, uint64_t align)
{
	uint64_t g = t->granule;

	if (!align)
		align = g;
	if (!size || (size & (g - 1)) || (align & (align - 1)) || align < g ||
	    (low & (g - 1)) || (high & (g - 1)) || low >= high)
		return -EINVAL;
	if (size > UINT64_MAX - (align - g))
		return -ENOMEM; /* need would not fit in 64 bits: never fits */
	q->low = low;
	q->high = high;
	q->size = size;
	q->align = align;
	q->need = size + (align - g);
	return 0;
}

/* The top of the key space: an empty tree is one free run up to it; in any
 * other the free run above the last range ends at the sentinel there and is
 * searched like every other gap. */
#define KEY_TOP UINT64_MAX

int tree_gap_topdown(struct tree *t, uint64_t low, uint64_t high, uint64_t size,
		     uint64_t align, uint64_t *addr)
{
	struct gap_query q;
	uint64_t first, last, gap;
	int err = gap_query_init(t, &q, low, high, size, align);

	if (err)
		return err;
	const struct tnode *root = read_root(t);
	if (!root) {
		first = KEY_TOP;
	} else {
		node_summary(root, &first, &last, &gap);
		if (gap >= q.need && gap_down(root, &q))
			goto found;
	}
	if (!fits_down(&q, 0, first))
		return -ENOMEM;
found:
	*addr = q.addr;
	return 0;
}

int tree_gap_bottomup(struct tree *t, uint64_t low, uint64_t high,
		      uint64_t size, uint64_t align, uint64_t *addr)
{
	struct gap_query q;
	uint64_t first, last, gap;
	int err = gap_query_init(t, &q, low, high, size, align);

	if (err)
		return err;
	const struct tnode *root = read_root(t);
	if (!root) {
		if (!fits_up(&q, 0, KEY_TOP))
			return -ENOMEM;
		goto found;
	}
	node_summary(root, &first, &last, &gap);
	if (fits_up(&q, 0, first))
		goto found;
	if (!(gap >= q.need && gap_up(root, &q)))
		return -ENOMEM;
found:
	*addr = q.addr;
	return 0;
}

/* ---- Writer: node life cycle ------------------------------------------ */

/*
 * The node pool: every tree's nodes come from chunks mapped once and never
 * returned to the system, as VMAs do (docs/tree.md, "Memory: nodes
 * recycle through RCU"). What a tree no longer needs (its surplus spare nodes,
 * its whole self when destroyed) goes back on the pool's free list, and
 * whichever tree runs dry next takes POOL_REFILL at once, or a copy the
 * source's count. Each chunk is twice the last (alloc_chunk), so the
 * system calls grow with the logarithm of the memory held: a steady stream
 * of map changes reaches none even when a late grace period holds more
 * nodes in flight than ever before (with a malloc per node, each such
 * delay cost thousands of calls), and a small program maps little. An
 * address space created after another was destroyed reuses its nodes.
 * Memory is bounded by the most nodes the process ever held at once, and
 * only what was carved is touched (up to its huge page, alloc.c). Free
 * nodes' payload is poisoned under AddressSanitizer.
 */
#define POOL_REFILL 64

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tnode *pool_free; /* under pool_lock, through link */
/* Under pool_lock. A node in flight points to its tree's bin, held by no
 * one else: chunks are LeakSanitizer roots. */
static struct carver carver = { .leak_root = true };
#ifdef UVMA_TEST_HOOKS
static uint64_t pool_carved; /* under pool_lock */
#endif

/* n, which no reader can reach, becomes one of t's spare nodes. */
static void spare_push(struct tree *t, struct tnode *n)
{
	n->link = t->spare;
	t->spare = n;
	t->spare_count++;
}

/* Give a NULL-terminated list of nodes nobody reads any more. */
static void pool_give(struct tnode *n)
{
	struct tnode *last = n;

	if (!n)
		return;
	for (;; last = last->link) {
		asan_poison(last, PAYLOAD_BYTES);
		if (!last->link)
			break;
	}
	pthread_mutex_lock(&pool_lock);
	last->link = pool_free;
	pool_free = n;
	pthread_mutex_unlock(&pool_lock);
}

/* Up to want nodes of the pool become t's spare ones (fewer only when
 * memory is exhausted). */
static void pool_take(struct tree *t, size_t want)
{
	pthread_mutex_lock(&pool_lock);
	for (size_t k = 0; k < want; k++) {
		struct tnode *n = pool_free;

		if (n) {
			asan_unpoison(n, PAYLOAD_BYTES);
			pool_free = n->link;
		} else if ((n = alloc_carve(&carver, NODE_BYTES))) {
#ifdef UVMA_TEST_HOOKS
			pool_carved++;
#endif
		} else {
			break;
		}
		spare_push(t, n);
	}
	pthread_mutex_unlock(&pool_lock);
}

/* Most nodes a writer needs are ones its earlier writes retired: they come
 * back from the RCU callback through t->recycled, so allocation rarely
 * reaches the node pool's lock. liburcu's callback thread runs grace
 * periods in batches (about every 10 ms), so a busy writer has many nodes
 * in flight: as many as it writes in that time. A returned pile is kept
 * whole (walking it would cost a cache miss per node), and nodes released
 * by the writer itself go back to the pool only once the spare list holds
 * twice as many as the tree plus the most nodes ever in flight (at least
 * SPARE_MIN): a grace period's worth of writes at the busiest rate seen,
 * and as much again, because the callback thread's delays have a long
 * tail and a peak seen once is passed later. Giving back below that only
 * moves the work to the next time the pile runs dry (when nodes went to
 * malloc, a steady stream of writes kept calling it: 0.65 calls per
 * pair). */
#define SPARE_MIN 1024

static void node_release(struct tree *t, struct tnode *n)
{
	if (t->spare_count >= SPARE_MIN &&
	    t->spare_count >= 2 * (t->nodes + t->inflight_peak)) {
		n->link = NULL;
		pool_give(n);
		return;
	}
	spare_push(t, n);
}

/*
 * A tree's bin: where its RCU callbacks push the nodes whose grace period is
 * over (any thread, release CAS) and where its writer takes them whole
 * (acquire exchange; pop-all only, so there is no ABA). recycled_count says
 * how many were pushed since the writer last looked (relaxed: it only sizes
 * the spare list, whose count resyncs whenever it empties). refs: one for
 * the tree, one per batch handed to RCU and not yet returned; whoever drops
 * the last frees the bin and gives what is in it to the pool, so destroying
 * a tree never waits for its callbacks.
 */
struct tree_bin {
	_Atomic(struct tnode *) recycled;
	_Atomic size_t recycled_count;
	_Atomic long refs;
};

/* Acq_rel: every push into the bin happens before the last reference's
 * holder frees it. The nodes in it go back to the node pool. */
static void bin_put(struct tree_bin *bin)
{
	if (atomic_fetch_sub_explicit(&bin->refs, 1, memory_order_acq_rel) != 1)
		return;
	pool_give(atomic_exchange_explicit(&bin->recycled, NULL,
					   memory_order_acquire));
	free(bin);
}

static void take_recycled(struct tree *t)
{
	/* Acquire pairs with the release CAS in recycle_batch(): the callback
	 * ran after the grace period, so no reader still holds these. */
	t->spare = atomic_exchange_explicit(&t->bin->recycled, NULL,
					    memory_order_acquire);
	t->spare_count = atomic_exchange_explicit(&t->bin->recycled_count, 0,
						  memory_order_relaxed);
	t->inflight =
		t->inflight > t->spare_count ? t->inflight - t->spare_count : 0;
}

static struct tnode *node_alloc(struct tree *t, unsigned level)
{
	struct tnode *n;

#ifdef UVMA_TEST_HOOKS
	if (t->fail_countdown > 0 && --t->fail_countdown == 0)
		return NULL;
#endif
	if (!t->spare)
		take_recycled(t);
	if (!t->spare)
		pool_take(t, POOL_REFILL);
	n = t->spare;
	if (!n)
		return NULL;
	t->spare = n->link;
	/* The count is a hint: resync when the list runs dry. */
	t->spare_count = t->spare && t->spare_count ? t->spare_count - 1 : 0;
	/* Spare nodes are cold; the next allocation will read the next one's
	 * link and then overwrite the whole node. */
	if (t->spare)
		for (size_t off = 0; off < NODE_BYTES; off += NODE_ALIGN)
			__builtin_prefetch((char *)t->spare + off, 1);
	n->state = NODE_FRESH;
	n->orig = NULL;
	n->level = (uint8_t)level;
	n->count = 0;
	n->link = t->fresh;
	t->fresh = n;
	t->nodes++;
	t->written++;
	return n;
}

/* n leaves the working tree. A fresh node was never seen by a reader and goes
 * back to the spare list at the end of the transaction; a published one waits
 * for a grace period after commit. */
static void node_drop(struct tree *t, struct tnode *n)
{
	t->nodes--;
	if (n->state == NODE_FRESH) {
		n->state = NODE_DEAD;
		return;
	}
	UVMA_ASSERT(n->state == NODE_PUBLISHED);
	if (!t->retired)
		t->retired_tail = n;
	n->link = t->retired;
	t->retired = n;
	t->retired_count++;
}

/* The node at *slot, made private to this transaction (copied if published).
 * *slot lives in a fresh parent or is t->work, so the swap is invisible. */
static struct tnode *writable(struct tree *t, struct tnode **slot)
{
	struct tnode *n = *slot;

	if (n->state == NODE_FRESH)
		return n;
	struct tnode *c = node_alloc(t, n->level);
	if (!c)
		return NULL;
	memcpy(c, n, PAYLOAD_BYTES);
	c->orig = n;
	node_drop(t, n);
	*slot = c;
	return c;
}

/*
 * A retired batch is a list through link whose last link is not NULL but the
 * owning tree's bin with bit 0 set: the callback needs the bin, and no node
 * field is free for it (a reader may still read every other field of a
 * retired node until the grace period ends).
 */
#define BATCH_END(bin)	((struct tnode *)((uintptr_t)(bin) | 1))
#define IS_BATCH_END(n) ((uintptr_t)(n)&1)

static void recycle_batch(struct rcu_head *head)
{
	struct tnode *first =
		(struct tnode *)((char *)head - offsetof(struct tnode, rcu));
	struct tnode *last = first;
	struct tree_bin *bin;
	size_t count = 1;

	rcu_reclaim_begin();
	/* O(1): the commit left the tail and the length in the second node
	 * (the nodes went cold during the grace period). */
	if (!IS_BATCH_END(first->link)) {
		last = first->link->batch.last;
		count = first->link->batch.count;
	}
	bin = (struct tree_bin *)((uintptr_t)last->link & ~(uintptr_t)1);
	atomic_fetch_add_explicit(&bin->recycled_count, count,
				  memory_order_relaxed);
	last->link = atomic_load_explicit(&bin->recycled, memory_order_relaxed);
	/* Release: the writer that takes these sees the list complete. */
	while (!atomic_compare_exchange_weak_explicit(
		&bin->recycled, &last->link, first, memory_order_release,
		memory_order_relaxed))
		;
	bin_put(bin); /* the tree may be gone: then this frees it all */
}

/* End of a transaction: fresh nodes become published (commit) or go back to
 * the spare list (abort, or dropped during the transaction). */
static void settle_fresh(struct tree *t, bool commit)
{
	struct tnode *n = t->fresh, *next;

	t->fresh = NULL;
	for (; n; n = next) {
		next = n->link;
		if (commit && n->state == NODE_FRESH)
			n->state = NODE_PUBLISHED;
		else
			node_release(t, n);
	}
}

/* ---- Writer: structural operations ------------------------------------ */

/* How many of the cap + 1 items stay in the left node when a full node takes
 * one more at pos: half, except at either end, where the growing side keeps
 * the minimum so the other side stays three quarters full or more. */
static unsigned split_keep(unsigned cap, unsigned min, unsigned pos)
{
	if (pos == cap)
		return cap + 1 - min;
	if (pos == 0)
		return min;
	return (cap + 1) / 2;
}

/* Open a hole at pos for one item, splitting n when it is full. Returns the
 * node and index of the hole in *dst, *dpos, and a new right sibling (or
 * NULL) in *right. */
static int node_open(struct tree *t, struct tnode *n, unsigned pos,
		     struct tnode **right, struct tnode **dst, unsigned *dpos)
{
	unsigned cap = node_cap(n);

	*right = NULL;
	if (n->count < cap) {
		node_move(n, pos + 1, n, pos, n->count - pos);
		n->count++;
		*dst = n;
		*dpos = pos;
		return 0;
	}
	struct tnode *r = node_alloc(t, n->level);
	if (!r)
		return -ENOMEM;
	/* Just before the top sentinel is the tree's end too: ascending
	 * maps at the top keep the full left node they always had. */
	bool at_end = pos == cap ||
		      (!n->level && pos == cap - 1 && is_sentinel(n, cap - 1));
	unsigned keep = split_keep(cap, node_min(n), at_end ? cap : pos);
	if (pos < keep) {
		node_move(r, 0, n, keep - 1, cap - (keep - 1));
		node_move(n, pos + 1, n, pos, keep - 1 - pos);
		*dst = n;
		*dpos = pos;
	} else {
		node_move(r, 0, n, keep, pos - keep);
		node_move(r, pos - keep + 1, n, pos, cap - pos);
		*dst = r;
		*dpos = pos - keep;
	}
	r->count = (uint8_t)(cap + 1 - keep);
	n->count = (uint8_t)keep;
	*right = r;
	return 0;
}

/* Even out two siblings that together are too many for one node. */
static void balance_pair(struct tnode *l, struct tnode *r)
{
	unsigned total = l->count + r->count, want = total / 2, k;

	if (l->count > want) {
		k = l->count - want;
		node_move(r, k, r, 0, r->count);
		node_move(r, 0, l, want, k);
	} else {
		k = want - l->count;
		node_move(l, l->count, r, 0, k);
		node_move(r, 0, r, k, r->count - k);
	}
	l->count = (uint8_t)want;
	r->count = (uint8_t)(total - want);
}

/*
 * Child i of p is a full leaf about to take one more range. If a neighbour
 * has room for two, share the ranges with it instead of splitting: nodes stay
 * fuller (memory per range) at the price of one more node copy. Updates *i to
 * the child that now covers key.
 */
static int leaf_shift(struct tree *t, struct tnode *p, unsigned *i,
		      uint64_t key)
{
	unsigned l;

	if (*i > 0 && p->u.br.child[*i - 1]->count + 2u <= TREE_LEAF_CAP)
		l = *i - 1;
	else if (*i + 1 < p->count &&
		 p->u.br.child[*i + 1]->count + 2u <= TREE_LEAF_CAP)
		l = *i;
	else
		return 0;
	struct tnode *left = writable(t, &p->u.br.child[l]);
	struct tnode *right = left ? writable(t, &p->u.br.child[l + 1]) : NULL;
	if (!right)
		return -ENOMEM;
	balance_pair(left, right);
	set_child(p, l, left);
	set_child(p, l + 1, right);
	*i = count_le(p->u.br.last, p->count, key);
	if (*i == p->count)
		(*i)--;
	return 0;
}

/* Insert e (overlapping nothing) below *slot; a split hands back *right. */
static int insert_below(struct tree *t, struct tnode **slot,
			const struct tree_entry *e, struct tnode **right)
{
	struct tnode *n = writable(t, slot), *d, *cr;
	unsigned i, dp;
	int err;

	if (!n)
		return -ENOMEM;
	if (!n->level) {
		i = count_le(n->u.leaf.end, n->count, e->start);
		err = node_open(t, n, i, right, &d, &dp);
		if (!err)
			leaf_set(d, dp, e);
		return err;
	}
	i = count_le(n->u.br.last, n->count, e->start);
	if (i == n->count)
		i--; /* beyond every child: append to the last */
	if (n->level == 1 && n->u.br.child[i]->count == TREE_LEAF_CAP) {
		err = leaf_shift(t, n, &i, e->start);
		if (err)
			return err;
	}
	err = insert_below(t, &n->u.br.child[i], e, &cr);
	if (err)
		return err;
	set_child(n, i, n->u.br.child[i]);
	*right = NULL;
	if (!cr)
		return 0;
	err = node_open(t, n, i + 1, right, &d, &dp);
	if (!err)
		set_child(d, dp, cr);
	return err;
}

static int tree_insert(struct tree *t, const struct tree_entry *e)
{
	struct tnode *r, *root;
	int err;

	if (!t->work) {
		root = node_alloc(t, 0);
		if (!root)
			return -ENOMEM;
		root->count = 2;
		leaf_set(root, 0, e);
		leaf_set(root, 1,
			 &(struct tree_entry){ SENTINEL_KEY, SENTINEL_KEY,
					       SENTINEL_PTR });
		t->work = root;
		t->entries++;
		return 0;
	}
	err = insert_below(t, &t->work, e, &r);
	if (err)
		return err;
	if (r) {
		UVMA_ASSERT(t->work->level + 1 < TREE_MAX_HEIGHT);
		root = node_alloc(t, t->work->level + 1u);
		if (!root)
			return -ENOMEM;
		root->count = 2;
		set_child(root, 0, t->work);
		set_child(root, 1, r);
		t->work = root;
	}
	t->entries++;
	return 0;
}

/* Child i of p fell below its minimum: merge it with a neighbour, or take
 * items from it. p has at least two children. */
static int rebalance(struct tree *t, struct tnode *p, unsigned i)
{
	unsigned l = i > 0 ? i - 1 : i;
	struct tnode *left = writable(t, &p->u.br.child[l]);
	struct tnode *right;

	if (!left)
		return -ENOMEM;
	right = p->u.br.child[l + 1];
	if (left->count + right->count <= node_cap(left)) {
		node_move(left, left->count, right, 0, right->count);
		left->count += right->count;
		node_drop(t, right);
		node_move(p, l + 1, p, l + 2, p->count - l - 2);
		p->count--;
		set_child(p, l, left);
		return 0;
	}
	right = writable(t, &p->u.br.child[l + 1]);
	if (!right)
		return -ENOMEM;
	balance_pair(left, right);
	set_child(p, l, left);
	set_child(p, l + 1, right);
	return 0;
}

/* Child i of p and the neighbour rebalance() would pair it with fit in three
 * quarters of one node: merging them then keeps nodes reasonably full under
 * deletions and still leaves room, so a merge is not undone by the next
 * insertion. */
static bool pair_is_sparse(const struct tnode *p, unsigned i)
{
	unsigned l = i > 0 ? i - 1 : i;
	const struct tnode *a = p->u.br.child[l], *b = p->u.br.child[l + 1];

	return a->count + b->count <= node_cap(a) * 3 / 4;
}

/* Remove the range starting at key from below *slot. */
static int remove_below(struct tree *t, struct tnode **slot, uint64_t key)
{
	struct tnode *n = writable(t, slot);
	unsigned i;
	int err;

	if (!n)
		return -ENOMEM;
	if (!n->level) {
		i = count_le(n->u.leaf.end, n->count, key);
		UVMA_ASSERT(i < n->count && n->u.leaf.start[i] == key);
		node_move(n, i, n, i + 1, n->count - i - 1);
		n->count--;
		return 0;
	}
	i = count_le(n->u.br.last, n->count, key);
	UVMA_ASSERT(i < n->count);
	err = remove_below(t, &n->u.br.child[i], key);
	if (err)
		return err;
	if (n->u.br.child[i]->count < node_min(n->u.br.child[i]) ||
	    pair_is_sparse(n, i))
		return rebalance(t, n, i);
	set_child(n, i, n->u.br.child[i]);
	return 0;
}

static int tree_remove(struct tree *t, uint64_t key)
{
	struct tnode *root;
	int err = remove_below(t, &t->work, key);

	if (err)
		return err;
	root = t->work;
	if (root->level && root->count == 1) {
		t->work = root->u.br.child[0];
		node_drop(t, root);
		root = t->work;
	}
	/* Only the sentinel left (also after a collapse, with the small
	 * nodes of the tests): the tree is empty and has no node. */
	if (!root->level && root->count == 1) {
		UVMA_ASSERT(is_sentinel(root, 0)); /* the last range went */
		t->work = NULL;
		node_drop(t, root);
	}
	t->entries--;
	return 0;
}

/* Rewrite the range starting at key as e. e must overlap no other range, so
 * order is kept and only the summaries on the path change. */
static int modify_below(struct tree *t, struct tnode **slot, uint64_t key,
			const struct tree_entry *e)
{
	struct tnode *n = writable(t, slot);
	unsigned i;
	int err;

	if (!n)
		return -ENOMEM;
	if (!n->level) {
		i = count_le(n->u.leaf.end, n->count, key);
		UVMA_ASSERT(i < n->count && n->u.leaf.start[i] == key);
		leaf_set(n, i, e);
		return 0;
	}
	i = count_le(n->u.br.last, n->count, key);
	UVMA_ASSERT(i < n->count);
	err = modify_below(t, &n->u.br.child[i], key, e);
	if (!err)
		set_child(n, i, n->u.br.child[i]);
	return err;
}

/* ---- Writer: transactions --------------------------------------------- */

static int check_range(struct tree *t, uint64_t start, uint64_t end)
{
	if (start >= end || ((start | end) & (t->granule - 1)))
		return -EINVAL;
	return 0;
}

void tree_begin(struct tree *t)
{
	UVMA_ASSERT(!t->in_txn && !t->pend_leaf);
	t->in_txn = true;
	/* Relaxed: only this writer ever stores the root. */
	t->work = atomic_load_explicit(&t->root, memory_order_relaxed);
	t->fresh = NULL;
	t->saved_retired = t->retired;
	t->saved_retired_count = t->retired_count;
	t->saved_entries = t->entries;
	t->saved_nodes = t->nodes;
}

static int pend_materialize(struct tree *t);

int tree_txn_store(struct tree *t, uint64_t start, uint64_t end, void *ptr)
{
	struct tree_entry e, piece;
	int err = check_range(t, start, end);

	UVMA_ASSERT(t->in_txn);
	if (!err)
		err = pend_materialize(t);
	if (err)
		return err;
	while (find_above_in(t->work, start, &e) && e.start < end) {
		uint64_t key = e.start;

		if (e.start < start && e.end > end) {
			/* Inside one range: it keeps both ends. */
			piece = (struct tree_entry){ end, e.end, e.ptr };
			e.end = start;
			err = modify_below(t, &t->work, key, &e);
			if (!err)
				err = tree_insert(t, &piece);
			if (err)
				return err;
			break;
		}
		if (e.start < start) {
			e.end = start;
			err = modify_below(t, &t->work, key, &e);
		} else if (e.end > end) {
			e.start = end;
			err = modify_below(t, &t->work, key, &e);
		} else if (ptr && e.start == start && e.end == end) {
			e.ptr = ptr;
			return modify_below(t, &t->work, key, &e);
		} else {
			err = tree_remove(t, key);
		}
		if (err)
			return err;
	}
	if (!ptr)
		return 0;
	piece = (struct tree_entry){ start, end, ptr };
	return tree_insert(t, &piece);
}

/*
 * A splice's fast path: the working tree's leaf that [lo, hi) falls in,
 * found by one descent that writes nothing. Fills the child index taken at
 * each level (idx[]) and the branch it was taken in (path[]; path[1] stays
 * NULL when the root is the leaf: no parent) and returns the leaf; *bound
 * is the first start after the
 * leaf (UINT64_MAX at the tree's right edge), so ranges beyond the leaf are
 * known not to overlap [lo, hi) without reading the next leaf.
 */
static struct tnode *splice_find(struct tnode *n, uint64_t lo,
				 unsigned char *idx, struct tnode **path,
				 uint64_t *bound)
{
	*bound = UINT64_MAX;
	path[1] = NULL;
	while (n->level) {
		unsigned i = count_le(n->u.br.last, n->count, lo);

		if (i >= n->count)
			i = n->count - 1; /* past every range: the last leaf */
		if (i + 1 < n->count)
			*bound = n->u.br.first[i + 1];
		idx[n->level] = (unsigned char)i;
		path[n->level] = n;
		n = n->u.br.child[i];
		prefetch_node(n);
	}
	return n;
}

void tree_hint_take(struct tree_hint *h, struct tree *t,
		    const struct tree_iter *it)
{
	h->levels = it->levels;
	h->commits = t->commits;
	for (int l = 0; l < it->levels; l++) {
		h->node[l] = it->node[l];
		h->idx[l] = it->idx[l];
	}
}

/* The leaf of h if splice_find(t->work, lo) would reach it now, else
 * NULL: nothing committed since the walk, nothing written by this
 * transaction (so t->work is the root the walk started from), and lo
 * inside the leaf's first and last ranges, where every descent for lo
 * ends whatever key the walk descended for. */
static struct tnode *hint_leaf(const struct tree *t, const struct tree_hint *h,
			       uint64_t lo)
{
	const struct tnode *leaf;

	if (!h || !h->levels || h->commits != t->commits || t->fresh ||
	    h->node[h->levels - 1] != t->work)
		return NULL;
	leaf = h->node[0];
	if (!leaf->count || leaf->u.leaf.start[0] > lo ||
	    leaf->u.leaf.end[leaf->count - 1] <= lo)
		return NULL;
	/* The writer's own published nodes: splice_find's result type. */
	return (struct tnode *)leaf;
}

/* splice_find's path and bound, read off the hint (hint_leaf said yes). */
static void hint_path(const struct tree_hint *h, unsigned char *idx,
		      struct tnode **path, uint64_t *bound)
{
	*bound = UINT64_MAX;
	path[1] = NULL;
	for (int l = h->levels - 1; l >= 1; l--) {
		const struct tnode *n = h->node[l];
		unsigned i = h->idx[l];

		if (i + 1 < n->count)
			*bound = n->u.br.first[i + 1];
		idx[l] = (unsigned char)i;
		path[l] = (struct tnode *)n;
	}
}

/* The leaf's ranges [a, b) overlap [lo, hi); the parts of a and b - 1
 * outside it stay (as pieces), and e[0..n) go between them. */
struct splice {
	unsigned a, b, count; /* count: the leaf's count afterwards */
	bool left, right;     /* a piece of a stays left, of b - 1 right */
	struct tree_entry lp, rp;
};

static void splice_plan(const struct tnode *leaf, uint64_t lo, uint64_t hi,
			unsigned n, struct splice *s)
{
	s->a = count_le(leaf->u.leaf.end, leaf->count, lo);
	for (s->b = s->a; s->b < leaf->count && leaf->u.leaf.start[s->b] < hi;)
		s->b++;
	s->lp = s->rp = (struct tree_entry){ 0, 0, NULL };
	s->left = s->a < s->b && leaf->u.leaf.start[s->a] < lo;
	s->right = s->a < s->b && leaf->u.leaf.end[s->b - 1] > hi;
	if (s->left) {
		leaf_get(leaf, s->a, &s->lp);
		s->lp.end = lo;
	}
	if (s->right) {
		leaf_get(leaf, s->b - 1, &s->rp);
		s->rp.start = hi;
	}
	s->count = leaf->count - (s->b - s->a) + s->left + n + s->right;
}

/* Whether the spliced leaf keeps the tree valid, and as full as the general
 * path would keep it (remove_below's merge of sparse pairs). */
static bool splice_fits(const struct tnode *parent, unsigned i,
			const struct splice *s, const struct tnode *leaf)
{
	if (s->count > TREE_LEAF_CAP)
		return false;
	if (!parent)
		return s->count > 1; /* else the tree empties: general path */
	if (s->count < LEAF_MIN)
		return false;
	if (s->count < leaf->count) {
		unsigned l = i > 0 ? i - 1 : i;
		unsigned other = parent->u.br.child[l == i ? i + 1 : l]->count;

		if (s->count + other <= TREE_LEAF_CAP * 3 / 4)
			return false;
	}
	return true;
}

/* Write the splice into leaf, a private copy. */
static void splice_write(struct tnode *leaf, const struct splice *s,
			 const struct tree_entry *e, unsigned n)
{
	unsigned at = s->a + s->left;

	node_move(leaf, at + n + s->right, leaf, s->b, leaf->count - s->b);
	if (s->left)
		leaf_set(leaf, s->a, &s->lp);
	for (unsigned k = 0; k < n; k++)
		leaf_set(leaf, at + k, &e[k]);
	if (s->right)
		leaf_set(leaf, at + n, &s->rp);
	leaf->count = (uint8_t)s->count;
}

/*
 * Pending leaves. Most map changes rewrite one leaf and keep its first and
 * last ranges, so that commit's graft (below) will swap the new leaf into
 * its published parent and drop every copy of the path above it. A splice
 * that is the transaction's first write and keeps both edge ranges skips
 * those copies: it writes only the new leaf, records the published path,
 * and commit swaps the leaf in (pend_graft). A later step of the same
 * transaction, which walks the working tree, first gets the path copied
 * as before (pend_materialize). At 1M ranges the path is 5 nodes: each a
 * node allocated, 8 lines copied and compared, for nothing.
 */

/* Whether leaves a and b hold the same range (pointer included) at ia, ib. */
static bool same_range(const struct tnode *a, unsigned ia,
		       const struct tnode *b, unsigned ib)
{
	return a->u.leaf.start[ia] == b->u.leaf.start[ib] &&
	       a->u.leaf.end[ia] == b->u.leaf.end[ib] &&
	       a->u.leaf.ptr[ia] == b->u.leaf.ptr[ib];
}

/* Give the working tree the pending leaf: copy the path above it (nodes
 * this transaction wrote already are used as they are), then put the leaf
 * in place of the one it copies. Also the general splice's way: a leaf
 * that cannot wait is made pending and given at once. */
static int pend_materialize(struct tree *t)
{
	struct tnode *path[TREE_MAX_HEIGHT], **slot = &t->work;
	int h = t->pend_h;

	if (!t->pend_leaf)
		return 0;
	for (int l = h; l > 0; l--) {
		path[l] = writable(t, slot);
		if (!path[l])
			return -ENOMEM; /* the transaction aborts */
		slot = &path[l]->u.br.child[t->pend_idx[l]];
	}
	UVMA_ASSERT(*slot == t->pend_leaf->orig);
	node_drop(t, *slot);
	path[0] = *slot = t->pend_leaf;
	for (int l = 1; l <= h; l++)
		set_child(path[l], t->pend_idx[l], path[l - 1]);
	t->pend_leaf = NULL;
	return 0;
}

/*
 * Commit of a pending leaf: graft()'s swap, without the copies. The leaf
 * keeps its edge ranges, so no summary but the largest gap changes on the
 * path, and a reader holding an older root that shares the parent sees
 * either its own state's edge ranges or the current state (graft's rule).
 * The gaps are stored upwards while they change.
 */
static void pend_graft(struct tree *t)
{
	struct tnode *f = t->pend_leaf, *p = t->pend_path[1];
	unsigned i = t->pend_idx[1];
	uint64_t first, last, gap;

	node_summary(f, &first, &last, &gap);
	UVMA_ASSERT(first == p->u.br.first[i] && last == p->u.br.last[i]);
	UVMA_ASSERT(p->u.br.child[i] == f->orig);
	/* Release: pairs with child_load(). */
	__atomic_store_n(&p->u.br.child[i], f, __ATOMIC_RELEASE);
	node_drop(t, f->orig);
	for (int l = 1; l <= t->pend_h; l++) {
		p = t->pend_path[l];
		i = t->pend_idx[l];
		if (p->u.br.gap[i] == gap)
			break;
		__atomic_store_n(&p->u.br.gap[i], gap, __ATOMIC_RELAXED);
		node_summary(p, &first, &last, &gap);
	}
	t->pend_leaf = NULL;
}

/* The fast path: 1 done, 0 not applicable (nothing written), or -ENOMEM. */
static int splice_leaf(struct tree *t, uint64_t lo, uint64_t hi,
		       const struct tree_entry *e, unsigned n,
		       const struct tree_hint *hint)
{
	unsigned char *idx = t->pend_idx;
	struct tnode **path = t->pend_path, *leaf, *f;
	struct splice s;
	uint64_t bound;
	bool pending, hinted;
	int h;

	if (!t->work)
		return 0;
	h = t->work->level;
	leaf = hint_leaf(t, hint, lo);
	hinted = leaf != NULL;
	if (hinted)
		hint_path(hint, idx, path, &bound);
	else
		leaf = splice_find(t->work, lo, idx, path, &bound);
#ifdef UVMA_DEBUG
	if (hinted) { /* the hint must say what the descent would */
		struct tnode *p2[TREE_MAX_HEIGHT];
		unsigned char i2[TREE_MAX_HEIGHT];
		uint64_t b2;

		UVMA_ASSERT(splice_find(t->work, lo, i2, p2, &b2) == leaf &&
			    b2 == bound);
		for (int l = 1; l <= h; l++)
			UVMA_ASSERT(p2[l] == path[l] && i2[l] == idx[l]);
	}
#endif
	splice_plan(leaf, lo, hi, n, &s);
	if (s.b == leaf->count && bound < hi)
		return 0; /* the next leaf holds ranges of [lo, hi) too */
	if (!splice_fits(path[1], h ? idx[1] : 0, &s, leaf))
		return 0;
	/* Pending only under a parent, on a path nothing has written yet
	 * (every node from the work root published): asked before f joins
	 * the fresh list. */
	pending = h && !t->fresh;
	f = node_alloc(t, 0);
	if (!f)
		return -ENOMEM;
	memcpy(f, leaf, PAYLOAD_BYTES);
	f->orig = leaf;
	t->entries = t->entries - f->count + s.count;
	splice_write(f, &s, e, n);
	t->pend_leaf = f;
	t->pend_h = h;
	if (!pending || !same_range(leaf, 0, f, 0) ||
	    !same_range(leaf, leaf->count - 1u, f, f->count - 1u)) {
		if (pend_materialize(t))
			return -ENOMEM;
	}
	t->splices++;
	t->hinted += hinted;
	return 1;
}

int tree_txn_splice(struct tree *t, uint64_t lo, uint64_t hi,
		    const struct tree_entry *e, unsigned n,
		    const struct tree_hint *hint)
{
	int err = check_range(t, lo, hi);

	UVMA_ASSERT(t->in_txn);
	if (err)
		return err;
	err = pend_materialize(t);
	if (err)
		return err;
	for (unsigned k = 0; k < n; k++) {
		err = check_range(t, e[k].start, e[k].end);
		if (err)
			return err;
		UVMA_ASSERT(e[k].ptr && e[k].start >= lo && e[k].end <= hi);
		UVMA_ASSERT(!k || e[k].start >= e[k - 1].end);
	}
	err = splice_leaf(t, lo, hi, e, n, hint);
	if (err)
		return err < 0 ? err : 0;
	err = tree_txn_store(t, lo, hi, NULL);
	for (unsigned k = 0; !err && k < n; k++)
		err = tree_insert(t, &e[k]);
	return err;
}

/*
 * Retired nodes wait for a grace period in batches of this many, gathered
 * over as many commits as it takes: a callback per commit would cost the
 * callback thread a few cache misses and a queue operation per map change,
 * on a core the faulting threads need. Asking for the grace period later
 * than the commit is always safe; the cost is at most this many nodes held
 * a little longer.
 */
#define RETIRE_BATCH 64

/* Hand the retired list to one RCU callback. */
static void retire_flush(struct tree *t)
{
	if (!t->retired)
		return;
	/* Relaxed: the tree's own reference keeps the count above 0 here;
	 * the callback's drop orders itself (bin_put). */
	atomic_fetch_add_explicit(&t->bin->refs, 1, memory_order_relaxed);
	t->retired_tail->link = BATCH_END(t->bin);
	if (t->retired_count > 1) {
		t->retired->link->batch.last = t->retired_tail;
		t->retired->link->batch.count = t->retired_count;
	}
	t->inflight += t->retired_count;
	if (t->inflight > t->inflight_peak)
		t->inflight_peak = t->inflight;
	rcu_defer(&t->retired->rcu, recycle_batch);
	t->retired = t->retired_tail = NULL;
	t->retired_count = 0;
}

/* Take p, retired by this transaction, off the retired list: it stays. */
static void unretire(struct tree *t, struct tnode *p)
{
	struct tnode *prev = NULL, *n = t->retired;

	while (n != p) {
		UVMA_ASSERT(n && n != t->saved_retired);
		prev = n;
		n = n->link;
	}
	if (prev)
		prev->link = p->link;
	else
		t->retired = p->link;
	if (t->retired_tail == p)
		t->retired_tail = prev;
	t->retired_count--;
}

/*
 * The one child where f, a fresh copy of the published branch p, differs
 * from it, when that is the only difference a reader could see: same count,
 * same first and last summaries, every other child the same. -1: no child
 * differs; -2: not graftable.
 */
static int single_child_diff(const struct tnode *p, const struct tnode *f)
{
	int at = -1;

	if (p->level != f->level || p->count != f->count)
		return -2;
	for (unsigned k = 0; k < f->count; k++) {
		if (p->u.br.first[k] != f->u.br.first[k] ||
		    p->u.br.last[k] != f->u.br.last[k])
			return -2;
		if (p->u.br.child[k] == f->u.br.child[k])
			continue;
		if (at >= 0)
			return -2;
		at = (int)k;
	}
	return at;
}

/*
 * Whether subtree b, about to replace the published subtree a, has the
 * same first (or last) range as a: start, end and pointer. Walks down the
 * edge while the two differ; shared nodes end it early.
 */
static bool same_edge(const struct tnode *a, const struct tnode *b, bool last)
{
	while (a != b) {
		unsigned ia = last ? a->count - 1u : 0,
			 ib = last ? b->count - 1u : 0;

		if (a->level != b->level || !a->count || !b->count)
			return false;
		if (!a->level)
			return a->u.leaf.start[ia] == b->u.leaf.start[ib] &&
			       a->u.leaf.end[ia] == b->u.leaf.end[ib] &&
			       a->u.leaf.ptr[ia] == b->u.leaf.ptr[ib];
		a = a->u.br.child[ia];
		b = b->u.br.child[ib];
	}
	return true;
}

/*
 * Apply f, a fresh copy of the published branch p, to p in place, so that
 * readers see one swapped child pointer deep in the tree instead of a new
 * path of nodes from the root: a writer that changes one area then takes
 * from the readers' caches only the lines it must (the root, in a COW
 * tree, would be new at every change). The swap keeps each transaction
 * atomic for readers, since a new child is a complete subtree whose first
 * and last ranges are where the old one's were; a change spanning two
 * children is grafted higher up, or the root is published as before.
 *
 * Below the root (top false), p may also be a node of an older root that
 * a reader still holds (a commit that published a new root shares its
 * untouched subtrees with the old one). That reader sees the swap but not
 * the commits since its root: its searches steer by the old summaries
 * above p, and one that runs past the new child's first or last range
 * returns that range. So below the root the new child must also keep
 * those two ranges exactly (pointer included): the reader's answer is then
 * either inside the new child, where it is the current state's, or one of
 * the two edge ranges, which its own (older) state held too. At the root
 * no older root can see the swap.
 *
 * Returns false, having changed nothing, when f differs from p otherwise.
 */
static bool graft(struct tree *t, struct tnode *p, struct tnode *f, bool top)
{
	int i;

	if (!p->level)
		return false; /* a leaf is replaced whole, by its parent */
	i = single_child_diff(p, f);
	if (i == -2)
		return false;
	if (i >= 0) {
		struct tnode *c = f->u.br.child[i], *q = p->u.br.child[i];

		if (!(c->state == NODE_FRESH && c->orig == q &&
		      graft(t, q, c, false))) {
			if (!top &&
			    !(same_edge(q, c, false) && same_edge(q, c, true)))
				return false;
			/* Release: pairs with child_load(). */
			__atomic_store_n(&p->u.br.child[i], c,
					 __ATOMIC_RELEASE);
		}
		if (p->u.br.gap[i] != f->u.br.gap[i])
			__atomic_store_n(&p->u.br.gap[i], f->u.br.gap[i],
					 __ATOMIC_RELAXED);
	}
	unretire(t, p);
	/* Never seen by a reader: spare again at settle_fresh(). Its node
	 * count and p's cancel out. */
	f->state = NODE_DEAD;
	return true;
}

void tree_commit(struct tree *t)
{
	struct tnode *pub =
		atomic_load_explicit(&t->root, memory_order_relaxed);
	struct tnode *w = t->work;

	UVMA_ASSERT(t->in_txn);
	if (t->pend_leaf) {
		UVMA_ASSERT(w == pub);
		pend_graft(t);
		t->grafts++;
	} else if (w && pub && w != pub && w->state == NODE_FRESH &&
		   w->orig == pub && graft(t, pub, w, true)) {
		t->work = pub;
		t->grafts++;
	} else if (w != pub) {
		/* Release: a reader that loads this root (acquire) sees every
		 * node this transaction wrote. */
		atomic_store_explicit(&t->root, w, memory_order_release);
	}
	settle_fresh(t, true);
	if (t->retired_count >= RETIRE_BATCH)
		retire_flush(t);
	t->commits++;
	t->in_txn = false;
}

void tree_abort(struct tree *t)
{
	UVMA_ASSERT(t->in_txn);
	t->pend_leaf = NULL; /* fresh: settle_fresh takes it back */
	settle_fresh(t, false);
	/* The nodes this transaction retired are still the published tree;
	 * those of earlier commits stay retired (a suffix of the list). */
	t->retired = t->saved_retired;
	t->retired_count = t->saved_retired_count;
	if (!t->retired)
		t->retired_tail = NULL;
	t->work = atomic_load_explicit(&t->root, memory_order_relaxed);
	t->entries = t->saved_entries;
	t->nodes = t->saved_nodes;
	t->in_txn = false;
}

int tree_store(struct tree *t, uint64_t start, uint64_t end, void *ptr)
{
	int err;

	tree_begin(t);
	err = tree_txn_store(t, start, end, ptr);
	if (err) {
		tree_abort(t);
		return err;
	}
	tree_commit(t);
	return 0;
}

/* ---- Writer: a whole copy --------------------------------------------- */

struct clone_ctx {
	void *(*copy)(void *ctx, const struct tree_entry *e);
	void *ctx;
};

/* A copy of n made of dst's nodes, or NULL (a node or a copy failed: the
 * leaves made so far hold, in their counts, the pointers to undo). */
static struct tnode *clone_node(struct tree *dst, const struct tnode *n,
				const struct clone_ctx *c)
{
	struct tnode *d = node_alloc(dst, n->level);

	if (!d)
		return NULL;
	/* copy reads (and, in uvma, write-locks) what each range points
	 * to: ask for a leaf's worth of them at once, so the misses
	 * overlap. */
	for (unsigned j = 0; !n->level && j < n->count; j++)
		__builtin_prefetch(n->u.leaf.ptr[j], 1);
	for (unsigned i = 0; i < n->count; i++) {
		if (!n->level) {
			struct tree_entry e;

			leaf_get(n, i, &e);
			if (!is_sentinel(n, i))
				e.ptr = c->copy(c->ctx, &e);
			if (!e.ptr)
				return NULL;
			leaf_set(d, i, &e);
		} else {
			struct tnode *k = clone_node(dst, n->u.br.child[i], c);

			if (!k)
				return NULL;
			d->u.br.first[i] = n->u.br.first[i];
			d->u.br.last[i] = n->u.br.last[i];
			d->u.br.gap[i] = n->u.br.gap[i];
			d->u.br.child[i] = k;
		}
		d->count = (uint8_t)(i + 1);
	}
	return d;
}

int tree_clone(struct tree *dst, struct tree *src,
	       void *(*copy)(void *ctx, const struct tree_entry *e),
	       void (*undo)(void *ctx, void *ptr), void *ctx)
{
	const struct clone_ctx c = { copy, ctx };
	struct tnode *root, *n;

	UVMA_ASSERT(!src->in_txn && !dst->in_txn && !dst->work);
	pool_take(dst, src->nodes);
	tree_begin(dst);
	/* Relaxed: src's writer is the caller, the only one to store it. */
	root = atomic_load_explicit(&src->root, memory_order_relaxed);
	if (!root) {
		tree_abort(dst);
		return 0;
	}
	dst->work = clone_node(dst, root, &c);
	if (!dst->work) {
		for (n = dst->fresh; n; n = n->link)
			for (unsigned j = 0; !n->level && j < n->count; j++)
				if (!is_sentinel(n, j))
					undo(ctx, n->u.leaf.ptr[j]);
		tree_abort(dst);
		return -ENOMEM;
	}
	dst->entries = src->entries;
	tree_commit(dst);
	return 0;
}

/* ---- Lifetime, stats, checks ------------------------------------------ */

#ifdef UVMA_TEST_HOOKS
static _Atomic long next_tree_fail; /* tree_fail_next_tree_after */
#endif

int tree_init(struct tree *t, uint64_t granule)
{
	if (!granule || (granule & (granule - 1)))
		return -EINVAL;
	memset(t, 0, sizeof(*t));
	alloc_note();
	t->bin = calloc(1, sizeof(*t->bin));
	if (!t->bin)
		return -ENOMEM;
	atomic_init(&t->bin->refs, 1);
	atomic_init(&t->root, NULL);
	t->granule = granule;
#ifdef UVMA_TEST_HOOKS
	t->fail_countdown = atomic_exchange(&next_tree_fail, 0);
#endif
	return 0;
}

/* The nodes of the subtree n onto the list *list. */
static void collect_subtree(struct tnode *n, struct tnode **list)
{
	if (n->level)
		for (unsigned i = 0; i < n->count; i++)
			collect_subtree(n->u.br.child[i], list);
	n->link = *list;
	*list = n;
}

void tree_destroy(struct tree *t)
{
	struct tnode *root =
		atomic_load_explicit(&t->root, memory_order_relaxed);
	struct tnode *list = t->spare;

	UVMA_ASSERT(!t->in_txn);
	/* No reader is left (the caller's contract): the live nodes go at
	 * once, with the spare ones, back to the pool. */
	if (root)
		collect_subtree(root, &list);
	pool_give(list);
	t->spare = NULL;
	t->spare_count = 0;
	atomic_store_explicit(&t->root, NULL, memory_order_relaxed);
	t->work = NULL;
	t->entries = t->nodes = 0;
	/* What still waits for a grace period goes with its callback. */
	retire_flush(t);
	bin_put(t->bin);
	t->bin = NULL;
}

void tree_stats(struct tree *t, struct tree_stats *st)
{
	const struct tnode *root = read_root(t);

	st->entries = t->in_txn ? t->saved_entries : t->entries;
	st->nodes = t->in_txn ? t->saved_nodes : t->nodes;
	st->bytes = st->nodes * NODE_BYTES;
	st->cached = t->spare_count;
	st->written = t->written;
	st->grafts = t->grafts;
	st->splices = t->splices;
	st->hinted = t->hinted;
	st->height = root ? root->level + 1u : 0;
}

#ifdef UVMA_TEST_HOOKS
uint64_t tree_pool_carved(void)
{
	uint64_t n;

	pthread_mutex_lock(&pool_lock);
	n = pool_carved;
	pthread_mutex_unlock(&pool_lock);
	return n;
}

void tree_fail_alloc_after(struct tree *t, long n)
{
	t->fail_countdown = n > 0 ? n : 0;
}

void tree_fail_next_tree_after(long n)
{
	atomic_store(&next_tree_fail, n > 0 ? n : 0);
}

const void *tree_root_peek(struct tree *t)
{
	return read_root(t);
}

bool tree_find_below_from(const void *root, uint64_t addr,
			  struct tree_entry *out)
{
	return find_below_in(root, addr, out);
}

bool tree_find_above_from(const void *root, uint64_t addr,
			  struct tree_entry *out)
{
	return find_above_real(root, addr, out);
}
#endif

struct check {
	struct tree *t;
	char *msg;
	size_t len;
	size_t entries, nodes;
	uint64_t prev_end; /* end of the last range seen, in order */
	bool sentinel;	   /* the top sentinel was seen */
	bool failed;
};

__attribute__((format(printf, 2, 3))) static bool fail(struct check *c,
						       const char *fmt, ...)
{
	va_list ap;

	if (!c->failed && c->msg && c->len) {
		va_start(ap, fmt);
		vsnprintf(c->msg, c->len, fmt, ap);
		va_end(ap);
	}
	c->failed = true;
	return false;
}

static bool check_leaf(struct check *c, const struct tnode *n)
{
	for (unsigned j = 0; j < n->count; j++) {
		uint64_t s = n->u.leaf.start[j], e = n->u.leaf.end[j];
		if (c->sentinel)
			return fail(c, "range %#lx-%#lx after the sentinel",
				    (unsigned long)s, (unsigned long)e);
		if (is_sentinel(n, j)) {
			if (s != SENTINEL_KEY || e != SENTINEL_KEY)
				return fail(c, "sentinel at %#lx-%#lx",
					    (unsigned long)s, (unsigned long)e);
			c->sentinel = true;
			continue;
		}
		if (s >= e || ((s | e) & (c->t->granule - 1)))
			return fail(c,
				    "leaf range %#lx-%#lx empty or unaligned",
				    (unsigned long)s, (unsigned long)e);
		if (s < c->prev_end)
			return fail(c,
				    "range %#lx-%#lx overlaps or precedes "
				    "the one ending at %#lx",
				    (unsigned long)s, (unsigned long)e,
				    (unsigned long)c->prev_end);
		if (!n->u.leaf.ptr[j])
			return fail(c, "range %#lx-%#lx maps NULL",
				    (unsigned long)s, (unsigned long)e);
		c->prev_end = e;
		c->entries++;
	}
	return true;
}

static bool check_node(struct check *c, const struct tnode *n, bool root,
		       unsigned level)
{
	uint64_t f, l, g;

	c->nodes++;
	if (n->level != level)
		return fail(c, "node at level %u says %u", level, n->level);
	if (n->state != NODE_PUBLISHED)
		return fail(c, "node in state %u outside a transaction",
			    n->state);
	if (n->count > node_cap(n) || !n->count)
		return fail(c, "node count %u out of range", n->count);
	if (!root && n->count < node_min(n))
		return fail(c, "level %u node holds %u, minimum %u", level,
			    n->count, node_min(n));
	if (root && n->level && n->count < 2)
		return fail(c, "branch root with one child");
	if (!n->level)
		return check_leaf(c, n);
	for (unsigned i = 0; i < n->count; i++) {
		const struct tnode *ch = child_load(n, i);
		if (!check_node(c, ch, false, level - 1))
			return false;
		node_summary(ch, &f, &l, &g);
		if (f != n->u.br.first[i] || l != n->u.br.last[i] ||
		    g != gap_load(n, i))
			return fail(c, "stale summary at level %u child %u",
				    level, i);
	}
	return true;
}

int tree_check(struct tree *t, char *msg, size_t msglen)
{
	struct check c = { .t = t, .msg = msg, .len = msglen };
	const struct tnode *root = read_root(t);

	if (msg && msglen)
		msg[0] = '\0';
	if (t->in_txn)
		fail(&c, "tree_check inside a transaction");
	else if (root && check_node(&c, root, true, root->level)) {
		if (!c.sentinel)
			fail(&c, "no sentinel after the last range");
		else if (!c.entries)
			fail(&c, "a tree of the sentinel alone");
		else if (c.entries != t->entries)
			fail(&c, "%zu ranges counted, %zu recorded", c.entries,
			     t->entries);
		else if (c.nodes != t->nodes)
			fail(&c, "%zu nodes counted, %zu recorded", c.nodes,
			     t->nodes);
	} else if (!root && (t->entries || t->nodes)) {
		fail(&c, "empty tree records %zu ranges, %zu nodes", t->entries,
		     t->nodes);
	}
	return c.failed ? -EUCLEAN : 0;
}
