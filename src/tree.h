/*
 * tree.h - the RCU-safe range tree (docs/design.md section 3).
 *
 * A B-tree of non-overlapping ranges [start, end), each mapping to a non-NULL
 * pointer. Gaps between ranges are explicit: every node keeps, per child, the
 * first start, the last end and the largest gap inside it, so a free range of
 * a given size is found in O(log n).
 *
 * Locking:
 * - Readers hold the RCU read lock (rcu_read_enter() from rcu.h) and take no
 *   lock. They see every transaction whole or not at all: a published node
 *   changes only by having one child pointer swapped for a complete new
 *   subtree over the same first and last ranges (and that child's gap
 *   summary updated), never in any way a reader could see half of.
 * - Exactly one writer at a time; the caller serializes writers (in uvma,
 *   mmap_lock held for writing). A write is a transaction: it copies every
 *   node it changes and edits the private copies in place; at commit it
 *   publishes the new root with one release store or, when the change is
 *   confined to one child of a branch, swaps that child in place (tree.c,
 *   graft). The nodes it replaced wait for a grace period, one call_rcu per
 *   64 of them; then they come back to the writer for reuse (see
 *   docs/tree.md).
 * - Reader functions read the published tree. During a transaction the
 *   writer's own changes are not visible to them until tree_commit().
 *
 * All addresses are uint64_t; ranges and gap sizes are multiples of the
 * tree's granule (the page size in uvma). Results are 0 or a negative errno.
 * A tree holding ranges also holds, after them, an empty sentinel range at
 * UINT64_MAX that no call returns or counts (docs/tree.md, "The top
 * sentinel"): the tree's last range never changes, so changes at the top
 * of the map graft like any other.
 */
#ifndef UVMA_TREE_H
#define UVMA_TREE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tnode;

/* Deep enough for any tree that fits in a 64-bit address space. */
#define TREE_MAX_HEIGHT 48

/* One range of the tree, as a reader receives it (a copy). */
struct tree_entry {
	uint64_t start; /* first address of the range */
	uint64_t end;	/* one past its last address */
	void *ptr;	/* what the range maps to, never NULL */
};

struct tree_stats {
	size_t entries; /* ranges stored */
	size_t nodes;	/* nodes in the tree */
	size_t bytes;	/* memory held by those nodes */
	size_t cached; /* nodes kept for reuse, not in the tree (approximate) */
	uint64_t written; /* nodes written (copied or new) since tree_init */
	uint64_t grafts;  /* commits applied in place (a child pointer
			   * swapped in a published branch, the root
			   * included) */
	uint64_t splices; /* tree_txn_splice calls done in one leaf */
	uint64_t hinted;  /* of those, the ones that followed a hint */
	unsigned height;  /* levels, 0 for an empty tree */
};

struct tree {
	/* The published root. Written by the writer with a release store at
	 * commit (so every node it reaches is fully written first); read by
	 * readers with an acquire load. */
	_Atomic(struct tnode *) root;

	/* Everything below belongs to the writer (serialized by the caller),
	 * from the next cache line on: the writer stores to these many times
	 * per change, and each store would take the root's line away from
	 * every reader's cache. */
	struct tnode *work
		__attribute__((aligned(64))); /* working root in a txn */
	struct tnode *fresh; /* nodes allocated by this transaction */
	/* Published nodes replaced by commits whose grace period has not
	 * been asked for yet, newest first: one call_rcu per RETIRE_BATCH
	 * nodes, not per commit (tree.c). retired_tail is the oldest. */
	struct tnode *retired;
	struct tnode *retired_tail;
	size_t retired_count;
	struct tnode *saved_retired; /* retired at tree_begin(), for abort */
	size_t saved_retired_count;
	uint64_t granule;     /* alignment of every key, a power of two */
	size_t entries;	      /* ranges in the working tree */
	size_t nodes;	      /* nodes in the working tree */
	size_t saved_entries; /* entries and nodes at tree_begin(), */
	size_t saved_nodes;   /* restored by tree_abort() */
	long fail_countdown;  /* test hook: fail the n-th node allocation */
	struct tnode *spare;  /* nodes out of the tree, ready for reuse */
	size_t spare_count;
	size_t inflight;      /* nodes handed to RCU, not yet taken back */
	size_t inflight_peak; /* the most there ever were */
	uint64_t written;     /* nodes allocated by transactions, ever */
	uint64_t grafts;      /* commits that swapped a child in place */
	uint64_t splices;     /* splices done in one leaf */
	uint64_t commits;     /* tree_commit calls, ever (struct tree_hint) */
	uint64_t hinted;      /* splices that followed a hint */

	/* Where the RCU callbacks return retired nodes (tree.c). Allocated
	 * by tree_init; it outlives the tree while callbacks are pending, so
	 * tree_destroy never waits for them. */
	struct tree_bin *bin;
	bool in_txn;

	/* A splice's new leaf whose commit will swap it in place of the
	 * published one (pend_leaf->orig), under the published branches
	 * pend_path[1..pend_h] at positions pend_idx[]: the path above it is
	 * not copied unless a later step of the transaction needs it
	 * (tree.c, "Pending leaves"). NULL when none; the writer's. */
	struct tnode *pend_leaf;
	int pend_h;
	struct tnode *pend_path[TREE_MAX_HEIGHT];
	unsigned char pend_idx[TREE_MAX_HEIGHT];
};

/*
 * Lifetime. tree_init: granule must be a power of two (>= 1): 0, -EINVAL,
 * or -ENOMEM. tree_destroy: no reader may still look at the tree and no
 * transaction may be open; gives every node it can back to the node pool
 * at once and leaves the nodes still waiting for a grace period to their
 * RCU callbacks, which give them back when it ends. It never waits, so it
 * may run anywhere, an RCU read-side section included.
 */
int tree_init(struct tree *t, uint64_t granule);
void tree_destroy(struct tree *t);

/*
 * Readers: caller holds the RCU read lock, or is the writer outside a
 * transaction. Each fills *out (a copy) and returns true when found.
 *   tree_find        the range covering addr
 *   tree_find_above  the first range ending above addr (Linux's find_vma):
 *                    the one covering addr, else the next one after it
 *   tree_find_below  the last range starting below addr: the one covering
 *                    addr - 1, else the one before it
 * The previous range of e is tree_find_below(e.start); the next one is
 * tree_find_above(e.end).
 */
bool tree_find(struct tree *t, uint64_t addr, struct tree_entry *out);
bool tree_find_above(struct tree *t, uint64_t addr, struct tree_entry *out);
bool tree_find_below(struct tree *t, uint64_t addr, struct tree_entry *out);

/*
 * Iteration of the ranges overlapping [lo, hi), in address order. Each
 * subtree it enters is read as one state of it, and every transaction is
 * seen whole or not at all, but a long iteration is not one snapshot of the
 * whole tree: a transaction confined to a subtree it has not reached yet
 * may show while an earlier one behind it does not (callers that need a
 * snapshot check for writers around it, as uvma_maps does with
 * mm_lock_seq). The caller holds the RCU read lock from tree_iter_start
 * until it is done with the iterator. O(log n) to start, O(1) amortized per
 * step.
 */
struct tree_iter {
	const struct tnode *node[TREE_MAX_HEIGHT]; /* path, [0] is the leaf */
	unsigned char idx[TREE_MAX_HEIGHT];	   /* position at each level */
	int levels;				   /* 0 when exhausted */
	uint64_t hi;
};
void tree_iter_start(struct tree_iter *it, struct tree *t, uint64_t lo,
		     uint64_t hi);
bool tree_iter_next(struct tree_iter *it, struct tree_entry *out);

/*
 * Gap search, with Linux's rule for alignment: a free range is usable when
 * its part inside [low, high) is at least size + align - granule long, so any
 * such range fits an aligned area. tree_gap_topdown returns the highest
 * usable range's highest aligned address, tree_gap_bottomup the lowest
 * usable range's lowest aligned address; [*addr, *addr + size) is free and
 * inside [low, high). align 0 means the granule.
 * Returns 0, -ENOMEM when nothing fits, -EINVAL when size is 0 or not a
 * multiple of the granule, align is not a power of two >= granule, low or
 * high is unaligned, or low >= high. Reader context (RCU read lock); exact
 * for the writer, while a reader racing a writer may miss a gap the
 * writer's change just opened (gap summaries are updated in place).
 */
int tree_gap_topdown(struct tree *t, uint64_t low, uint64_t high, uint64_t size,
		     uint64_t align, uint64_t *addr);
int tree_gap_bottomup(struct tree *t, uint64_t low, uint64_t high,
		      uint64_t size, uint64_t align, uint64_t *addr);

/*
 * Writer. tree_store stores ptr over [start, end), replacing every range it
 * overlaps: a range inside [start, end) is removed, the part of a range
 * outside [start, end) stays with its old pointer. ptr NULL erases. Readers
 * see the whole old state or the whole new one, never a mix.
 * Returns 0, -EINVAL (start >= end, or either not a multiple of the
 * granule), -ENOMEM (a node allocation failed: the tree is exactly as it
 * was). tree_store is a transaction of its own; tree_txn_store adds one store
 * to an open transaction (on error, the caller must tree_abort()).
 */
int tree_store(struct tree *t, uint64_t start, uint64_t end, void *ptr);
void tree_begin(struct tree *t);
int tree_txn_store(struct tree *t, uint64_t start, uint64_t end, void *ptr);

/*
 * A writer's walk, remembered for the splice that follows it (a map change
 * walks its neighbourhood to plan, then splices the same place): the path
 * tree_iter_start took, and the tree's commit count then. Taken by the
 * writer (under its lock) right after tree_iter_start, before any
 * tree_iter_next. tree_txn_splice follows it instead of descending again
 * when nothing was committed since, the transaction has written nothing
 * yet, and the walk's leaf holds the splice's low key; otherwise it
 * descends as without one. levels 0: no hint.
 */
struct tree_hint {
	const struct tnode *node[TREE_MAX_HEIGHT]; /* [0] the leaf */
	unsigned char idx[TREE_MAX_HEIGHT];
	int levels;
	uint64_t commits;
};
void tree_hint_take(struct tree_hint *h, struct tree *t,
		    const struct tree_iter *it);

/*
 * Writer, in a transaction: what tree_txn_store(t, lo, hi, NULL) followed
 * by storing each of e[0..n) would do (e sorted, disjoint, inside
 * [lo, hi), every ptr non-NULL), in one descent that copies one path when
 * the result fits in the leaf [lo, hi) falls in, as it does for almost
 * every map change; as the transaction's first write, keeping the leaf's
 * first and last ranges, it copies the leaf alone and tree_commit() swaps
 * it in (tree.c, "Pending leaves"). hint (or NULL): the planning walk of
 * the same place, which spares the descent when still true. Returns 0,
 * -EINVAL, -ENOMEM (the caller aborts).
 */
int tree_txn_splice(struct tree *t, uint64_t lo, uint64_t hi,
		    const struct tree_entry *e, unsigned n,
		    const struct tree_hint *hint);
void tree_commit(struct tree *t);
void tree_abort(struct tree *t);

/*
 * A whole copy of src (whose writer is the caller, outside a transaction)
 * into dst (empty, its writer the caller too), node by node, not range by
 * range: the same shape, each range's pointer replaced by copy(ctx, e), in
 * address order. copy returns NULL to fail. Returns 0, or -ENOMEM (a node
 * allocation or a copy failed): dst is then still empty, and undo(ctx, p)
 * has run for every pointer p copy returned.
 */
int tree_clone(struct tree *dst, struct tree *src,
	       void *(*copy)(void *ctx, const struct tree_entry *e),
	       void (*undo)(void *ctx, void *ptr), void *ctx);

/* Writer (or no writer running): size of the published tree. */
void tree_stats(struct tree *t, struct tree_stats *st);

/*
 * Writer, outside a transaction: checks every structural invariant (node
 * fill, key order, alignment, equal leaf depth, summaries, counts). Returns 0,
 * or -EUCLEAN with a description of the first violation in msg.
 */
int tree_check(struct tree *t, char *msg, size_t msglen);

/*
 * Test hook: the n-th node allocation from now fails (1 = the next one);
 * 0 turns it off. Fires once.
 */
#ifdef UVMA_TEST_HOOKS
void tree_fail_alloc_after(struct tree *t, long n);
/* The same, armed in the next tree tree_init makes (a space a call
 * creates: uvma_mm_dup's child). Process-wide, fires once. */
void tree_fail_next_tree_after(long n);

/* Test hook: nodes the pool has carved from its chunks so far (never
 * used before), process-wide. */
uint64_t tree_pool_carved(void);

/*
 * Test hooks: a reader that keeps the root it loaded. tree_root_peek
 * returns the published root (caller inside an RCU read-side section,
 * which keeps it); the _from lookups search from such a root, as a reader
 * that loaded it before later commits would.
 */
const void *tree_root_peek(struct tree *t);
bool tree_find_below_from(const void *root, uint64_t addr,
			  struct tree_entry *out);
bool tree_find_above_from(const void *root, uint64_t addr,
			  struct tree_entry *out);
#endif

/* Size of one node in bytes (for reports). */
size_t tree_node_bytes(void);

#endif
