/*
 * plan.h - the plan engine (plan.c): the one write path of the map. Every
 * public call that changes the map (mmap.c, mprotect.c, mremap.c) describes
 * the change as a plan and runs it here, and nothing else in the library
 * attaches, stores, detaches or frees a VMA (docs/design.md section 5).
 *
 * A plan goes through these steps, all under mmap_lock held for writing:
 *   collect  the VMAs the change touches (plan.old), in address order;
 *   areas    the areas the touched range must end up with (plan.areas),
 *            merged as Linux merges (plan_merge);
 *   apply    assign an object to every area (keep, reuse or duplicate),
 *            write-lock what changes, commit one tree transaction, detach
 *            what left the tree (plan_apply);
 *   finish   the caller's choice, made explicitly: plan_finish() frees the
 *            detached VMAs and the plan's arrays, either still holding
 *            mmap_lock for writing or after mmap_write_downgrade() (munmap).
 * Anything that can fail fails before the commit, and the map is then
 * exactly as it was; plan_finish() is called on every path.
 */
#ifndef UVMA_PLAN_H
#define UVMA_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm.h"
#include "vma.h"

/* One area as the map must hold it after the change. */
struct area {
	uint64_t start, end;
	uint32_t prot, flags;
	uint64_t pgoff, file_id;
	/* The tag of touched memory (anon.h), 0 when untouched; lenient: the
	 * part an area grows by in place, whose inherited tag does not keep
	 * it from an untouched neighbour (Linux checks no area there). */
	uint32_t anon;
	bool lenient;
	/* Made by this change (a new area, a new protection, a moved or
	 * grown piece), not what is left of an old VMA around it: Linux
	 * merges only around what it changes (plan_merge). */
	bool changed;
	/* To be faulted in for writing once the plan is applied (a locked
	 * area mprotect makes writable: Linux populates it then). */
	bool populate;
	void *user;
	/* The VMA this area was cut from, if any: a new object for it is a
	 * copy of that VMA (a split, as Linux's), not a blank one. */
	const struct uvma_vma *src;
	/* A piece moved by mremap: its first from_len bytes were at from
	 * (the pager moves their pages); from_len 0 otherwise. */
	uint64_t from, from_len;
	/* Set by plan_apply: the object that holds the area, and whether it
	 * is an old VMA left exactly as it was, or a new object. */
	struct uvma_vma *obj;
	bool kept;
	bool fresh;
};

/* One change: [start, end) becomes *area, or a hole when area is NULL. */
struct edit {
	uint64_t start, end;
	const struct area *area;
};

#define PLAN_INLINE 8

struct plan {
	struct uvma_mm *mm;
	/* The VMAs the change may touch, in address order. */
	struct uvma_vma **old;
	size_t nold, capold;
	/* The areas that replace them, in address order. */
	struct area *areas;
	size_t nareas, capareas;
	/* The edits the plan was made from (plan_edits), for the pager;
	 * none for mprotect's plans. */
	const struct edit *ed;
	size_t ned;
	/* Per old VMA: PLAN_KEPT, PLAN_REUSED or PLAN_REMOVED (set by
	 * plan_apply; NULL before). */
	unsigned char *fate;
	bool applied;
	/* plan_modify changed some area's fields (plan_changes). */
	bool modified;
	/* plan_fix_at added a VMA away from the edits: the plan's span may
	 * hold VMAs it does not know (no splice). */
	bool apart;
	struct uvma_vma *old_inline[PLAN_INLINE];
	struct area areas_inline[PLAN_INLINE];
	unsigned char fate_inline[PLAN_INLINE];
	/* The planning walk of the first edit (or of mprotect's range), for
	 * the splice (tree.h, struct tree_hint). Last, and left out of
	 * plan_init's clearing but for its level count. */
	struct tree_hint hint;
};

/* Caller holds mmap_lock for writing from plan_init to plan_finish. */
void plan_init(struct plan *p, struct uvma_mm *mm);

/*
 * Building a plan. Each returns 0 or -ENOMEM (nothing changed in the map).
 * plan_add_old: a VMA the change touches (in address order; a repeat of
 * the last one is ignored). plan_collect: every VMA overlapping
 * [start, end). plan_add_area: an area of the result (empty ones are
 * ignored). plan_merge: join adjacent mergeable areas.
 */
int plan_add_old(struct plan *p, struct uvma_vma *v);
int plan_collect(struct plan *p, uint64_t start, uint64_t end);
int plan_add_area(struct plan *p, const struct area *a);
void plan_merge(struct plan *p);

/*
 * A whole plan from edits (sorted by address, disjoint): the touched VMAs
 * are those under an edit plus, for an edit that maps, its neighbours
 * (merge candidates); the result is what the edits leave of them plus the
 * edits' areas, merged. 0 or -ENOMEM.
 */
int plan_edits(struct plan *p, const struct edit *ed, size_t ned);

/*
 * After the merges (plan_edits): fix changes the fields of the area that
 * will hold addr, which merges with nothing more; a VMA holding addr that
 * the plan did not touch joins it. Nothing when addr stays unmapped. 0 or
 * -ENOMEM. (MREMAP_DONTUNMAP: the source, as it is after its copy landed.)
 */
int plan_fix_at(struct plan *p, uint64_t addr,
		void (*fix)(struct area *a, const void *arg), const void *arg);

/*
 * A change of the fields of every area in a range (mprotect, madvise,
 * mlock): plan_modify calls apply for each area of [start, end) with a,
 * the part of v inside the range; apply sets a's new protection or flags
 * and returns 0, or a negative errno that stops the change at v (the
 * areas before it still change, as on Linux). A part whose fields do not
 * change leaves its area whole and unlocked (Linux skips it). A hole stops
 * the change with -ENOMEM, or with skip_holes (madvise) is passed over and
 * reported as -ENOMEM at the end. *stop receives that result; the return
 * value is 0 or -ENOMEM (out of memory, nothing planned).
 */
struct modify {
	int (*apply)(struct uvma_mm *mm, const struct uvma_vma *v,
		     struct area *a, const void *arg);
	const void *arg;
	bool skip_holes;
};
int plan_modify(struct plan *p, uint64_t start, uint64_t end,
		const struct modify *m, int *stop);
/* Whether plan_modify's plan changes any area. */
bool plan_changes(const struct plan *p);

/*
 * Carry the plan out (see above). 0, or -ENOMEM with the map unchanged.
 * On success the VMAs that left the map are detached, waiting for
 * plan_finish().
 */
__attribute__((warn_unused_result)) int plan_apply(struct plan *p);

/* Free the VMAs the plan detached and the plan's arrays. Caller holds
 * mmap_lock, for writing or (after a downgrade) for reading. */
void plan_finish(struct plan *p);

/*
 * __mm_replace: caller holds mmap_lock for writing. [start, end) becomes
 * *a (or a hole when a is NULL) in one plan, finished before returning:
 * the building block of mmap, brk and most of mremap. 0 or -ENOMEM (map
 * unchanged).
 */
__attribute__((warn_unused_result)) int __mm_replace(struct uvma_mm *mm,
						     uint64_t start,
						     uint64_t end,
						     const struct area *a);

/*
 * __mm_rewrite: caller holds mmap_lock for writing. v's range becomes the
 * n areas a (in order, covering it exactly), merged with nothing: a split
 * that Linux leaves (mseal.c) or fields rewritten in place (mremap's
 * DONTUNMAP source). 0 or -ENOMEM (map unchanged).
 */
__attribute__((warn_unused_result)) int __mm_rewrite(struct uvma_mm *mm,
						     struct uvma_vma *v,
						     const struct area *a,
						     size_t n);

/* Caller holds mmap_lock for writing and destroys the tree next: detach
 * and free every VMA (uvma_mm_destroy). */
void __mm_teardown(struct uvma_mm *mm);

/* The area a VMA describes, with the VMA as its source. */
struct area area_of(const struct uvma_vma *v);
/* The part [start, end) of a, its page offset moved along. */
struct area area_clip(const struct area *a, uint64_t start, uint64_t end,
		      unsigned shift);

/*
 * The writer's view of the map (caller holds mmap_lock): the VMA covering
 * addr, whether [start, end) is inside the window and free, and the
 * highest free range of len (0 or -ENOMEM).
 */
struct uvma_vma *mm_vma_at(struct uvma_mm *mm, uint64_t addr);
bool mm_range_free(struct uvma_mm *mm, uint64_t start, uint64_t end);
/* Whether an area overlapping [start, end) is sealed (uvma_mseal), and
 * whether [start, end) is mapped without a hole (mseal.c). */
bool mm_range_sealed(struct uvma_mm *mm, uint64_t start, uint64_t end);
bool mm_range_mapped(struct uvma_mm *mm, uint64_t start, uint64_t end);
/*
 * Before unmapping [start, end) (munmap, MAP_FIXED, a brk shrink, an
 * mremap's destination): 0 when no area there is sealed; else -EPERM,
 * the map left as Linux leaves it, the unsealed area straddling start
 * split there (Linux splits it before it meets the seal), or -ENOMEM when
 * that split cannot allocate. Caller holds mmap_lock for writing.
 */
__attribute__((warn_unused_result)) int
__mm_unmap_sealed(struct uvma_mm *mm, uint64_t start, uint64_t end);
/* Whether a range ending at end would lie in the guard gap below a
 * growsdown area (stack.c): placement keeps that room free. */
bool mm_in_stack_gap(struct uvma_mm *mm, uint64_t end);
/* Whether the first area above addr (not covering it) grows down, and
 * that area in *e (stack.c; the tree's writer or an RCU reader). */
bool mm_stack_above(struct uvma_mm *mm, uint64_t addr, struct tree_entry *e);
/* Grow the growsdown area above addr down to addr's page (stack.c). */
__attribute__((warn_unused_result)) int __mm_expand_stack(struct uvma_mm *mm,
							  uint64_t addr);
__attribute__((warn_unused_result)) int
mm_find_free(struct uvma_mm *mm, uint64_t len, uint64_t *addr);

/* Allocation of the plan's arrays, with fault injection in test builds. */
void *plan_realloc(void *p, size_t bytes);
#ifdef UVMA_TEST_HOOKS
/* Make the n-th plan array allocation from now fail (n <= 0: none).
 * Process-wide. */
void plan_fail_alloc_after(long n);
#endif

#endif
