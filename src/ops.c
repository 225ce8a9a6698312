/*
 * ops.c - mmap, munmap, mprotect, mremap and brk with Linux's semantics
 * (DESIGN.md section 5).
 *
 * Locks: every operation holds mmap_lock for writing for its whole length
 * (uvma_munmap downgrades it before freeing). It write-locks exactly the
 * VMAs whose range or attributes change, or that go away, each before the
 * tree changes; new VMAs are write-locked before they are attached and
 * stored (rule 7); neighbours that do not change are never locked.
 *
 * How: every operation is a rewrite of the areas around the range it
 * touches. The planner reads the affected VMAs (plan.old), computes the
 * areas the range must end up with (plan.segs), merging neighbours as Linux
 * would, and plan_apply() turns the difference into tree stores inside one
 * transaction: readers see the map before or after, never half of it.
 * Objects are reused where a changed VMA overlaps a new area (its fields
 * are rewritten after the commit, while it is write-locked); areas with no
 * such object get a new one; old VMAs left over are detached and freed.
 * Everything that can fail (new objects, plan arrays, tree nodes) fails
 * before the commit, and the map is then exactly as it was.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "debug.h"
#include "mm.h"
#include "ops.h"
#include "rcu.h"
#include "vma_lock.h"

/* ---- allocation, with a test hook ---------------------------------------- */

static _Atomic long fail_countdown; /* test hook: fail the n-th array */

void ops_fail_alloc_after(long n)
{
	atomic_store(&fail_countdown, n > 0 ? n : 0);
}

static void *plan_realloc(void *p, size_t bytes)
{
	long n = atomic_load(&fail_countdown);

	if (n > 0 && atomic_fetch_sub(&fail_countdown, 1) == 1)
		return NULL;
	return realloc(p, bytes);
}

/* ---- the plan ---------------------------------------------------------------
 */

/* One area as it must be after the operation. */
struct seg {
	uint64_t start, end;
	uint32_t prot, flags;
	uint64_t pgoff, file_id;
	void *user;
	struct uvma_vma *obj; /* the object that will hold it */
	bool kept;	      /* an old VMA already is exactly this */
	bool fresh;	      /* obj is newly allocated */
};

#define PLAN_INLINE 8

struct plan {
	struct uvma_mm *mm;
	/* The VMAs the operation may change, in address order. */
	struct uvma_vma **old;
	size_t nold, capold;
	/* The areas that replace them, in address order. */
	struct seg *segs;
	size_t nsegs, capsegs;
	/* Per old VMA: 1 kept as is, 2 reused for a new area, 0 removed. */
	unsigned char *fate;
	struct uvma_vma *old_inline[PLAN_INLINE];
	struct seg segs_inline[PLAN_INLINE];
	unsigned char fate_inline[PLAN_INLINE];
};

enum { FATE_REMOVED, FATE_KEPT, FATE_REUSED };

static void plan_init(struct plan *p, struct uvma_mm *mm)
{
	memset(p, 0, sizeof(*p));
	p->mm = mm;
	p->old = p->old_inline;
	p->capold = PLAN_INLINE;
	p->segs = p->segs_inline;
	p->capsegs = PLAN_INLINE;
}

static void plan_release(struct plan *p)
{
	if (p->old != p->old_inline)
		free(p->old);
	if (p->segs != p->segs_inline)
		free(p->segs);
	if (p->fate && p->fate != p->fate_inline)
		free(p->fate);
}

/* Grow an array that starts in the plan's inline buffer. */
static int grow(void **arr, size_t *cap, size_t elem, void *inline_buf)
{
	size_t ncap = *cap * 2;
	void *n;

	if (*arr == inline_buf) {
		n = plan_realloc(NULL, ncap * elem);
		if (n)
			memcpy(n, *arr, *cap * elem);
	} else {
		n = plan_realloc(*arr, ncap * elem);
	}
	if (!n)
		return -ENOMEM;
	*arr = n;
	*cap = ncap;
	return 0;
}

static int plan_add_old(struct plan *p, struct uvma_vma *v)
{
	/* Callers add in address order, but a VMA can come up twice (the
	 * neighbour of one edit overlaps or neighbours the next): anything
	 * starting below the last one's end has been added already. */
	if (p->nold && v->start < p->old[p->nold - 1]->end)
		return 0;
	if (p->nold == p->capold &&
	    grow((void **)&p->old, &p->capold, sizeof(*p->old), p->old_inline))
		return -ENOMEM;
	p->old[p->nold++] = v;
	return 0;
}

static int plan_add_seg(struct plan *p, const struct seg *s)
{
	if (s->start >= s->end)
		return 0;
	if (p->nsegs == p->capsegs && grow((void **)&p->segs, &p->capsegs,
					   sizeof(*p->segs), p->segs_inline))
		return -ENOMEM;
	p->segs[p->nsegs++] = *s;
	return 0;
}

/* The area v describes, as a segment. */
static struct seg seg_of(const struct uvma_vma *v)
{
	struct seg s = {
		.start = v->start,
		.end = v->end,
		.prot = v->prot,
		.flags = v->flags,
		.pgoff = v->pgoff,
		.file_id = v->file_id,
		.user = v->user,
	};
	return s;
}

/* The part [start, end) of s, its page offset moved along. */
static struct seg seg_clip(const struct seg *s, uint64_t start, uint64_t end,
			   unsigned shift)
{
	struct seg c = *s;

	if (start > c.start) {
		c.pgoff += (start - c.start) >> shift;
		c.start = start;
	}
	if (end < c.end)
		c.end = end;
	return c;
}

/*
 * Linux's rule for two adjacent areas to be one: same protection, sharing,
 * backing and user pointer, and the second's offset continuing the first's.
 * Anonymous shared areas carry a private backing id (ops_shmem_id) so that
 * pieces of one mapping merge back and two mappings never do.
 */
static bool mergeable(const struct seg *a, const struct seg *b, unsigned shift)
{
	return a->end == b->start && a->prot == b->prot &&
	       a->flags == b->flags && a->file_id == b->file_id &&
	       a->user == b->user &&
	       a->pgoff + ((a->end - a->start) >> shift) == b->pgoff;
}

static void plan_merge(struct plan *p)
{
	unsigned shift = p->mm->page_shift;
	size_t i, out = 0;

	for (i = 0; i < p->nsegs; i++) {
		if (out && mergeable(&p->segs[out - 1], &p->segs[i], shift))
			p->segs[out - 1].end = p->segs[i].end;
		else
			p->segs[out++] = p->segs[i];
	}
	p->nsegs = out;
}

/* ---- reading the map (writer view, outside any transaction) ------------- */

static struct uvma_vma *vma_at(struct uvma_mm *mm, uint64_t addr)
{
	struct tree_entry e;

	return tree_find(&mm->tree, addr, &e) ? e.ptr : NULL;
}

/* The VMA ending exactly at addr, if any (merge candidate on the left). */
static struct uvma_vma *vma_ending_at(struct uvma_mm *mm, uint64_t addr)
{
	struct tree_entry e;

	if (addr == 0 || !tree_find(&mm->tree, addr - 1, &e))
		return NULL;
	return e.end == addr ? e.ptr : NULL;
}

/* Add to p->old every VMA overlapping [start, end), in order. */
static int plan_collect(struct plan *p, uint64_t start, uint64_t end)
{
	struct tree_iter it;
	struct tree_entry e;

	tree_iter_start(&it, &p->mm->tree, start, end);
	while (tree_iter_next(&it, &e)) {
		if (e.start >= end)
			break;
		if (plan_add_old(p, e.ptr))
			return -ENOMEM;
	}
	return 0;
}

/* ---- applying a plan ------------------------------------------------------
 */

static bool seg_is(const struct seg *s, const struct uvma_vma *v)
{
	return s->start == v->start && s->end == v->end && s->prot == v->prot &&
	       s->flags == v->flags && s->pgoff == v->pgoff &&
	       s->file_id == v->file_id && s->user == v->user;
}

static void seg_write(const struct seg *s, struct uvma_vma *v)
{
	v->start = s->start;
	v->end = s->end;
	v->prot = s->prot;
	v->flags = s->flags;
	v->pgoff = s->pgoff;
	v->file_id = s->file_id;
	v->user = s->user;
}

/* Decide which old VMA keeps, holds or leaves each area. */
static int plan_assign(struct plan *p)
{
	size_t i, j = 0;

	if (p->nold <= PLAN_INLINE) {
		p->fate = p->fate_inline;
	} else {
		p->fate = plan_realloc(NULL, p->nold);
		if (!p->fate)
			return -ENOMEM;
	}
	memset(p->fate, FATE_REMOVED, p->nold);
	/* Unchanged areas keep their VMA (it is not even locked). */
	for (i = 0; i < p->nsegs; i++) {
		struct seg *s = &p->segs[i];

		s->obj = NULL;
		s->kept = false;
		s->fresh = false;
		while (j < p->nold && p->old[j]->end <= s->start)
			j++;
		if (j < p->nold && seg_is(s, p->old[j])) {
			s->obj = p->old[j];
			s->kept = true;
			p->fate[j] = FATE_KEPT;
		}
	}
	/* Changed areas take the first free old VMA they overlap. */
	for (i = 0, j = 0; i < p->nsegs; i++) {
		struct seg *s = &p->segs[i];
		size_t k;

		if (s->kept)
			continue;
		while (j < p->nold && p->old[j]->end <= s->start)
			j++;
		for (k = j; k < p->nold && p->old[k]->start < s->end; k++) {
			if (p->fate[k] == FATE_REMOVED) {
				p->fate[k] = FATE_REUSED;
				s->obj = p->old[k];
				break;
			}
		}
	}
	return 0;
}

/* Objects for the areas no old VMA holds; all or none. */
static int plan_alloc_new(struct plan *p)
{
	size_t i;

	for (i = 0; i < p->nsegs; i++) {
		struct seg *s = &p->segs[i];

		if (s->obj)
			continue;
		s->obj = vma_alloc(p->mm);
		if (!s->obj)
			goto fail;
		s->fresh = true;
		seg_write(s, s->obj);
	}
	return 0;
fail:
	while (i-- > 0) {
		struct seg *s = &p->segs[i];

		if (s->fresh) {
			vma_free(s->obj);
			s->obj = NULL;
			s->fresh = false;
		}
	}
	return -ENOMEM;
}

/*
 * Is b the VMA right after a in the tree (nothing between them)? Plans
 * hold the VMAs of up to a few separate places (a mremap's source and
 * destination): one erase may only span VMAs with nothing else between.
 * Reads the published tree, which inside the transaction is still the map
 * the plan was made from.
 */
static bool tree_neighbours(struct uvma_mm *mm, const struct uvma_vma *a,
			    const struct uvma_vma *b)
{
	struct tree_entry e;

	if (a->end == b->start)
		return true;
	return tree_find_above(&mm->tree, a->end, &e) && e.ptr == b;
}

/* Tree stores: erase the ranges of changed old VMAs (runs of neighbours in
 * one store), then store every changed area. */
static int plan_stores(struct plan *p)
{
	size_t i = 0, j;
	int err;

	while (i < p->nold) {
		if (p->fate[i] == FATE_KEPT) {
			i++;
			continue;
		}
		for (j = i + 1;
		     j < p->nold && p->fate[j] != FATE_KEPT &&
		     tree_neighbours(p->mm, p->old[j - 1], p->old[j]);
		     j++)
			;
		err = tree_txn_store(&p->mm->tree, p->old[i]->start,
				     p->old[j - 1]->end, NULL);
		if (err)
			return err;
		i = j;
	}
	for (i = 0; i < p->nsegs; i++) {
		struct seg *s = &p->segs[i];

		if (s->kept)
			continue;
		err = tree_txn_store(&p->mm->tree, s->start, s->end, s->obj);
		if (err)
			return err;
	}
	return 0;
}

/*
 * Carry the plan out. On success the removed VMAs are detached and left
 * for plan_free_removed() (the caller may downgrade mmap_lock first, as
 * munmap does: nobody can reach them any more). On -ENOMEM nothing changed.
 */
static int plan_apply(struct plan *p)
{
	struct uvma_mm *mm = p->mm;
	size_t i;
	int err;

	mmap_assert_write_locked(mm);
	err = plan_assign(p);
	if (err)
		return err;
	err = plan_alloc_new(p);
	if (err)
		return err;
	/* Every old VMA that changes or goes, before the tree changes. */
	for (i = 0; i < p->nold; i++)
		if (p->fate[i] != FATE_KEPT)
			vma_start_write(p->old[i]);
	/* New ones: locked, then attached, then stored (rules 7 and 8). */
	for (i = 0; i < p->nsegs; i++) {
		if (p->segs[i].fresh) {
			vma_start_write(p->segs[i].obj);
			vma_mark_attached(p->segs[i].obj);
		}
	}
	tree_begin(&mm->tree);
	err = plan_stores(p);
	if (err) {
		tree_abort(&mm->tree);
		for (i = 0; i < p->nsegs; i++) {
			struct seg *s = &p->segs[i];

			if (s->fresh) {
				vma_mark_detached(s->obj);
				vma_free(s->obj);
				s->fresh = false;
			}
		}
		return err;
	}
	tree_commit(&mm->tree);
	/* Reused objects take their new shape; they are write-locked, so no
	 * reader sees the fields change. */
	for (i = 0; i < p->nsegs; i++)
		if (!p->segs[i].kept && !p->segs[i].fresh)
			seg_write(&p->segs[i], p->segs[i].obj);
	/* Unlinked in the commit: detach, waiting out transient readers. */
	for (i = 0; i < p->nold; i++)
		if (p->fate[i] == FATE_REMOVED)
			vma_mark_detached(p->old[i]);
	return 0;
}

static void plan_free_removed(struct plan *p)
{
	size_t i;

	for (i = 0; i < p->nold; i++)
		if (p->fate && p->fate[i] == FATE_REMOVED)
			vma_free(p->old[i]);
}

/* ---- argument checks --------------------------------------------------- */

static bool page_aligned(struct uvma_mm *mm, uint64_t x)
{
	return !(x & (mm->page_size - 1));
}

/* len rounded up to pages, or 0 when that overflows. */
static uint64_t page_round(struct uvma_mm *mm, uint64_t len)
{
	uint64_t r = (len + mm->page_size - 1) & ~(mm->page_size - 1);

	return r < len ? 0 : r;
}

#define PROT_ALL (UVMA_PROT_READ | UVMA_PROT_WRITE | UVMA_PROT_EXEC)

/* The largest file size Linux allows a mapping to reach. */
#define OPS_MAX_FILE_SIZE ((UINT64_C(1) << 63) - 1)

/* ---- building blocks ------------------------------------------------------
 */

/* One change of a plan: [start, end) becomes seg (or a hole when NULL). */
struct edit {
	uint64_t start, end;
	const struct seg *seg;
};

/* Add old's parts that no edit covers (edits sorted, disjoint). */
static int plan_add_remains(struct plan *p, const struct uvma_vma *old,
			    const struct edit *ed, size_t ned)
{
	unsigned shift = p->mm->page_shift;
	struct seg s = seg_of(old);
	uint64_t pos = s.start;
	size_t i;

	for (i = 0; i < ned && pos < s.end; i++) {
		struct seg c;

		if (ed[i].end <= pos || ed[i].start >= s.end)
			continue;
		if (ed[i].start > pos) {
			c = seg_clip(&s, pos, ed[i].start, shift);
			if (plan_add_seg(p, &c))
				return -ENOMEM;
		}
		pos = ed[i].end;
	}
	if (pos < s.end) {
		struct seg c = seg_clip(&s, pos, s.end, shift);

		if (plan_add_seg(p, &c))
			return -ENOMEM;
	}
	return 0;
}

static void plan_sort_segs(struct plan *p)
{
	size_t i, j;

	for (i = 1; i < p->nsegs; i++) {
		struct seg s = p->segs[i];

		for (j = i; j > 0 && p->segs[j - 1].start > s.start; j--)
			p->segs[j] = p->segs[j - 1];
		p->segs[j] = s;
	}
}

/*
 * Plan a set of edits (sorted by address, disjoint): the old VMAs are those
 * overlapping an edit plus, for edits that map something, the neighbours
 * touching it (merge candidates); the new areas are what the edits leave of
 * the old VMAs, plus the edits' areas, merged as Linux merges.
 */
static int plan_edits(struct plan *p, const struct edit *ed, size_t ned)
{
	size_t i;

	for (i = 0; i < ned; i++) {
		struct uvma_vma *v;

		if (ed[i].seg) {
			v = vma_ending_at(p->mm, ed[i].start);
			if (v && plan_add_old(p, v))
				return -ENOMEM;
		}
		if (plan_collect(p, ed[i].start, ed[i].end))
			return -ENOMEM;
		if (ed[i].seg) {
			v = vma_at(p->mm, ed[i].end);
			if (v && v->start == ed[i].end && plan_add_old(p, v))
				return -ENOMEM;
		}
	}
	for (i = 0; i < p->nold; i++)
		if (plan_add_remains(p, p->old[i], ed, ned))
			return -ENOMEM;
	for (i = 0; i < ned; i++)
		if (ed[i].seg && plan_add_seg(p, ed[i].seg))
			return -ENOMEM;
	plan_sort_segs(p);
	plan_merge(p);
	return 0;
}

/* Carry out edits; on success, removed VMAs are freed after an optional
 * downgrade (mmap_lock is then held for reading). */
static int apply_edits(struct uvma_mm *mm, const struct edit *ed, size_t ned,
		       bool downgrade)
{
	struct plan p;
	int err;

	plan_init(&p, mm);
	err = plan_edits(&p, ed, ned);
	if (!err)
		err = plan_apply(&p);
	if (!err && downgrade)
		mmap_write_downgrade(mm);
	if (!err)
		plan_free_removed(&p);
	plan_release(&p);
	return err;
}

static int replace_range(struct uvma_mm *mm, uint64_t start, uint64_t end,
			 const struct seg *n, bool downgrade)
{
	struct edit e = { start, end, n };

	return apply_edits(mm, &e, 1, downgrade);
}

/* Is [start, end) inside the window and free? (writer view) */
static bool range_free(struct uvma_mm *mm, uint64_t start, uint64_t end)
{
	struct tree_entry e;

	if (start < mm->base || end > mm->end || start >= end)
		return false;
	return !tree_find_above(&mm->tree, start, &e) || e.start >= end;
}

/* The highest free range of len in the window (Linux's top-down search). */
static int find_free(struct uvma_mm *mm, uint64_t len, uint64_t *addr)
{
	int err;

	if (len > mm->end - mm->base)
		return -ENOMEM;
	rcu_read_enter();
	err = tree_gap_topdown(&mm->tree, mm->base, mm->end, len, 0, addr);
	rcu_read_exit();
	return err;
}

/* ---- mmap -----------------------------------------------------------------
 */

static int mmap_check(struct uvma_mm *mm, uint64_t addr, uint64_t *len,
		      unsigned prot, unsigned flags, uint64_t file_id,
		      uint64_t offset)
{
	const unsigned known = UVMA_MAP_SHARED | UVMA_MAP_PRIVATE |
			       UVMA_MAP_FIXED | UVMA_MAP_ANONYMOUS |
			       UVMA_MAP_FIXED_NOREPLACE;
	unsigned sharing = flags & (UVMA_MAP_SHARED | UVMA_MAP_PRIVATE);

	if (!*len)
		return -EINVAL;
	if ((flags & ~known) || (prot & ~PROT_ALL) ||
	    (sharing != UVMA_MAP_SHARED && sharing != UVMA_MAP_PRIVATE))
		return -EINVAL;
	if (!page_aligned(mm, offset))
		return -EINVAL;
	*len = page_round(mm, *len);
	if (!*len)
		return -ENOMEM;
	/* A fixed range must lie in the window (ENOMEM), checked before its
	 * alignment (EINVAL), in Linux's order. */
	if (flags & (UVMA_MAP_FIXED | UVMA_MAP_FIXED_NOREPLACE)) {
		if (addr < mm->base || addr > mm->end || *len > mm->end - addr)
			return -ENOMEM;
		if (!page_aligned(mm, addr))
			return -EINVAL;
	}
	if (flags & UVMA_MAP_ANONYMOUS)
		return 0;
	if (file_id == 0 || file_id >= OPS_SHMEM_ID_BASE)
		return -EBADF;
	/* Linux's limit for a file: offset + len within the largest file
	 * size, 2^63 - 1. */
	if (*len > OPS_MAX_FILE_SIZE || offset > OPS_MAX_FILE_SIZE - *len)
		return -EOVERFLOW;
	return 0;
}

int uvma_mmap(struct uvma_mm *mm, uint64_t addr, uint64_t len, unsigned prot,
	      unsigned flags, uint64_t file_id, uint64_t offset, void *user,
	      uint64_t *out)
{
	bool fixed = flags & (UVMA_MAP_FIXED | UVMA_MAP_FIXED_NOREPLACE);
	struct seg n = { 0 };
	int err;

	err = mmap_check(mm, addr, &len, prot, flags, file_id, offset);
	if (err)
		return err;
	mmap_write_lock(mm);
	if (fixed) {
		if ((flags & UVMA_MAP_FIXED_NOREPLACE) &&
		    !range_free(mm, addr, addr + len)) {
			err = -EEXIST;
			goto out;
		}
	} else {
		/* A hint, rounded down to its page (and up to the window),
		 * is taken when the range there is free. */
		addr &= ~(mm->page_size - 1);
		if (addr && addr < mm->base)
			addr = mm->base;
		if (!addr || addr + len < addr ||
		    !range_free(mm, addr, addr + len)) {
			err = find_free(mm, len, &addr);
			if (err)
				goto out;
		}
	}
	n.start = addr;
	n.end = addr + len;
	n.prot = prot;
	n.user = user;
	if (flags & UVMA_MAP_ANONYMOUS) {
		n.flags = (flags & (UVMA_MAP_SHARED | UVMA_MAP_PRIVATE)) |
			  UVMA_MAP_ANONYMOUS;
		if (flags & UVMA_MAP_SHARED) {
			/* Its own backing object, offsets from 0. */
			n.file_id = OPS_SHMEM_ID_BASE + mm->next_shmem_id;
			n.pgoff = 0;
		} else {
			n.pgoff = addr >> mm->page_shift;
		}
	} else {
		n.flags = flags & (UVMA_MAP_SHARED | UVMA_MAP_PRIVATE);
		n.file_id = file_id;
		n.pgoff = offset >> mm->page_shift;
	}
	err = replace_range(mm, n.start, n.end, &n, false);
	if (!err && (flags & UVMA_MAP_ANONYMOUS) && (flags & UVMA_MAP_SHARED))
		mm->next_shmem_id++;
	if (!err && out)
		*out = addr;
out:
	mmap_write_unlock(mm);
	return err;
}

/* ---- munmap ---------------------------------------------------------------
 */

int uvma_munmap(struct uvma_mm *mm, uint64_t addr, uint64_t len)
{
	uint64_t end;
	int err;

	if (!page_aligned(mm, addr) || !len)
		return -EINVAL;
	len = page_round(mm, len);
	end = addr + len;
	if (!len || end < addr || addr < mm->base || end > mm->end)
		return -EINVAL;
	mmap_write_lock(mm);
	err = replace_range(mm, addr, end, NULL, true);
	if (err) {
		mmap_write_unlock(mm);
		return err;
	}
	/* Detached under the write lock; freed under the read lock. */
	mmap_read_unlock(mm);
	return 0;
}

/* ---- mprotect ------------------------------------------------------------ */

/*
 * Plan: every area in [start, end) gets prot, up to the first hole; *hole
 * is set when there is one (Linux then fails with -ENOMEM after changing
 * what came before it).
 */
static int plan_protect(struct plan *p, uint64_t start, uint64_t end,
			unsigned prot, bool *hole)
{
	unsigned shift = p->mm->page_shift;
	struct uvma_vma *prev, *next;
	uint64_t pos = start;
	size_t i, first;
	int err;

	*hole = false;
	prev = vma_ending_at(p->mm, start);
	if (prev && plan_add_old(p, prev))
		return -ENOMEM;
	first = p->nold;
	err = plan_collect(p, start, end);
	if (err)
		return err;
	/* Stop at the first hole. */
	for (i = first; i < p->nold; i++) {
		if (p->old[i]->start > pos)
			break;
		pos = p->old[i]->end;
	}
	if (pos < end) {
		*hole = true;
		p->nold = i;
		end = pos;
	}
	if (end <= start)
		return 0; /* nothing mapped at start */
	next = vma_at(p->mm, end);
	if (next && next->start == end && plan_add_old(p, next))
		return -ENOMEM;
	for (i = 0; i < p->nold; i++) {
		struct seg s = seg_of(p->old[i]);
		struct seg a = seg_clip(&s, s.start, start, shift);
		struct seg b = seg_clip(&s, start > s.start ? start : s.start,
					end < s.end ? end : s.end, shift);
		struct seg c = seg_clip(&s, end > s.start ? end : s.start,
					s.end, shift);

		if (s.start < start && plan_add_seg(p, &a))
			return -ENOMEM;
		if (b.start < b.end && s.start < end && s.end > start) {
			b.prot = prot;
			if (plan_add_seg(p, &b))
				return -ENOMEM;
		}
		if (s.end > end && plan_add_seg(p, &c))
			return -ENOMEM;
	}
	plan_merge(p);
	return 0;
}

int uvma_mprotect(struct uvma_mm *mm, uint64_t addr, uint64_t len,
		  unsigned prot)
{
	struct plan p;
	uint64_t end;
	bool hole;
	int err;

	/* Linux's order of checks: the start, an empty range (success),
	 * overflow, then the protection bits. */
	if (!page_aligned(mm, addr))
		return -EINVAL;
	if (!len)
		return 0;
	len = page_round(mm, len);
	end = addr + len;
	if (!len || end <= addr)
		return -ENOMEM;
	if (prot & ~PROT_ALL)
		return -EINVAL;
	mmap_write_lock(mm);
	plan_init(&p, mm);
	err = plan_protect(&p, addr, end, prot, &hole);
	if (!err && p.nsegs)
		err = plan_apply(&p);
	if (!err)
		plan_free_removed(&p);
	plan_release(&p);
	mmap_write_unlock(mm);
	if (!err && hole)
		err = -ENOMEM;
	return err;
}

/* ---- mremap ---------------------------------------------------------------
 */

/* A second mapping of a shared area's pages from addr on, at to (mremap
 * with old_len 0): same backing and offset, nothing unmapped. */
static int dup_shared(struct uvma_mm *mm, struct uvma_vma *vma, uint64_t addr,
		      uint64_t to, uint64_t len)
{
	struct seg n = seg_of(vma);

	n = seg_clip(&n, addr, vma->end, mm->page_shift);
	n.start = to;
	n.end = to + len;
	return replace_range(mm, to, to + len, &n, false);
}

/*
 * Move the areas of [addr, addr + src_len) to the same offsets from `to`,
 * and unmap [addr, addr + hole_len) (hole_len >= src_len: a FIXED move
 * that shrinks drops the tail too), all in one transaction. With one area
 * covering the whole source, dst_len may differ from src_len (a move that
 * resizes). Whatever the moved areas land on is replaced.
 * An anonymous private area's page offset follows its new address, as
 * Linux does for an area whose pages were never touched (uvma has none).
 */
static int move_range(struct uvma_mm *mm, uint64_t addr, uint64_t hole_len,
		      uint64_t src_len, uint64_t to, uint64_t dst_len)
{
	unsigned shift = mm->page_shift;
	struct seg *pieces = NULL;
	struct edit *ed = NULL;
	size_t np = 0, cap = 0, ne = 0, i;
	struct tree_iter it;
	struct tree_entry e;
	int err = -ENOMEM;

	bool resize = dst_len != src_len;

	/* An old range may run past the end of the window (Linux looks only
	 * at the areas in it): clip it there. */
	if (src_len > mm->end - addr)
		src_len = mm->end - addr;
	if (hole_len > mm->end - addr)
		hole_len = mm->end - addr;
	tree_iter_start(&it, &mm->tree, addr, addr + src_len);
	while (tree_iter_next(&it, &e)) {
		struct seg s;

		if (e.start >= addr + src_len)
			break;
		if (np == cap) {
			struct seg *n;

			cap = cap ? 2 * cap : 4;
			n = plan_realloc(pieces, cap * sizeof(*n));
			if (!n)
				goto out;
			pieces = n;
		}
		s = seg_of(e.ptr);
		s = seg_clip(&s, addr, addr + src_len, shift);
		s.start = s.start - addr + to;
		s.end = s.end - addr + to;
		if ((s.flags & UVMA_MAP_ANONYMOUS) &&
		    !(s.flags & UVMA_MAP_SHARED))
			s.pgoff = s.start >> shift;
		pieces[np++] = s;
	}
	if (resize && np == 1)
		pieces[0].end = to + dst_len;
	/* The source hole, then the pieces at the destination. Only the
	 * pieces' ranges are replaced there: what lies in the destination
	 * opposite a hole of the source stays (as Linux moves area by
	 * area). */
	ed = plan_realloc(NULL, (np + 1) * sizeof(*ed));
	if (!ed)
		goto out;
	ed[ne++] = (struct edit){ addr, addr + hole_len, NULL };
	for (i = 0; i < np; i++)
		ed[ne++] = (struct edit){ pieces[i].start, pieces[i].end,
					  &pieces[i] };
	if (to < addr) {
		/* The destination comes first: rotate the source to the end. */
		struct edit src = ed[0];

		memmove(ed, ed + 1, (ne - 1) * sizeof(*ed));
		ed[ne - 1] = src;
	}
	err = apply_edits(mm, ed, ne, false);
out:
	free(pieces);
	free(ed);
	return err;
}

static int mremap_check(struct uvma_mm *mm, uint64_t addr, uint64_t *old_len,
			uint64_t *new_len, unsigned flags, uint64_t new_addr)
{
	const unsigned known = UVMA_MREMAP_MAYMOVE | UVMA_MREMAP_FIXED;

	if ((flags & ~known) || !page_aligned(mm, addr))
		return -EINVAL;
	if ((flags & UVMA_MREMAP_FIXED) && !(flags & UVMA_MREMAP_MAYMOVE))
		return -EINVAL;
	*old_len = page_round(mm, *old_len);
	*new_len = page_round(mm, *new_len);
	/* Like Linux, the new length and the destination are checked against
	 * the end of the address space first; the old range is not (its areas
	 * are looked at; a shrink's unmap of the tail checks its range). */
	if (!*new_len || *new_len > mm->end)
		return -EINVAL;
	if (flags & UVMA_MREMAP_FIXED) {
		if (!page_aligned(mm, new_addr))
			return -EINVAL;
		if (new_addr < mm->base || new_addr > mm->end ||
		    *new_len > mm->end - new_addr)
			return -EINVAL;
		/* The destination may not overlap the source. */
		if (new_addr < addr + *old_len && addr < new_addr + *new_len)
			return -EINVAL;
	}
	return 0;
}

/* Grow vma's range, which ends where vma ends, in place: the new part
 * continues vma's offsets and merges into it (and into the next area, when
 * that continues it too). */
static int grow_in_place(struct uvma_mm *mm, struct uvma_vma *vma, uint64_t end,
			 uint64_t new_end)
{
	struct seg n = seg_of(vma);

	n.pgoff += (end - n.start) >> mm->page_shift;
	n.start = end;
	n.end = new_end;
	return replace_range(mm, end, new_end, &n, false);
}

/* A shrink unmaps the old tail and checks its range as munmap does
 * (after the areas: Linux's order). */
static bool tail_out_of_range(struct uvma_mm *mm, uint64_t addr,
			      uint64_t old_len, uint64_t new_len)
{
	return new_len < old_len &&
	       (addr + old_len < addr || addr + old_len > mm->end);
}

/*
 * MREMAP_FIXED, after Linux: a shrink drops the old tail and moves the
 * head, which must lie inside one area; growing needs the old range inside
 * one area; moving as much as it was (old_len == new_len) moves every area
 * of the range, holes kept (Linux 6.17 and later).
 */
static int mremap_fixed(struct uvma_mm *mm, struct uvma_vma *vma, uint64_t addr,
			uint64_t old_len, uint64_t new_len, uint64_t new_addr)
{
	uint64_t src_len = old_len < new_len ? old_len : new_len;

	if (!old_len) { /* a shared area (checked): a second mapping */
		/* Linux unmaps the destination first; when that held the
		 * source, the source is gone: -EFAULT, destination unmapped. */
		if (new_addr <= addr && addr < new_addr + new_len) {
			int err = replace_range(
				mm, new_addr, new_addr + new_len, NULL, false);

			return err ? err : -EFAULT;
		}
		return dup_shared(mm, vma, addr, new_addr, new_len);
	}
	/* Resizing moves take one area (the part that moves must be inside
	 * it); only a move of the same size may span several. */
	if (old_len != new_len && src_len > vma->end - addr)
		return -EFAULT;
	if (tail_out_of_range(mm, addr, old_len, new_len)) {
		/* Linux has unmapped the destination by then. */
		int err = replace_range(mm, new_addr, new_addr + new_len, NULL,
					false);

		return err ? err : -EINVAL;
	}
	return move_range(mm, addr, old_len > new_len ? old_len : src_len,
			  src_len, new_addr, new_len);
}

static int do_mremap(struct uvma_mm *mm, uint64_t addr, uint64_t old_len,
		     uint64_t new_len, unsigned flags, uint64_t new_addr,
		     uint64_t *out)
{
	struct uvma_vma *vma = vma_at(mm, addr);
	uint64_t to;
	int err;

	if (!vma)
		return -EFAULT;
	/* old_len 0 asks for a second mapping of the same pages, which
	 * only a shared area has. */
	if (!old_len && !(vma->flags & UVMA_MAP_SHARED))
		return -EINVAL;
	if (flags & UVMA_MREMAP_FIXED) {
		err = mremap_fixed(mm, vma, addr, old_len, new_len, new_addr);
		if (!err)
			*out = new_addr;
		return err;
	}
	if (new_len <= old_len) {
		if (tail_out_of_range(mm, addr, old_len, new_len))
			return -EINVAL;
		if (new_len < old_len) {
			err = replace_range(mm, addr + new_len, addr + old_len,
					    NULL, false);
			if (err)
				return err;
		}
		*out = addr;
		return 0;
	}
	if (old_len > vma->end - addr)
		return -EFAULT;
	/* Grow in place when the old range ends the area and room follows. */
	if (addr + old_len == vma->end && addr + new_len <= mm->end &&
	    range_free(mm, vma->end, addr + new_len)) {
		err = grow_in_place(mm, vma, vma->end, addr + new_len);
		if (!err)
			*out = addr;
		return err;
	}
	if (!(flags & UVMA_MREMAP_MAYMOVE))
		return -ENOMEM;
	err = find_free(mm, new_len, &to);
	if (err)
		return err;
	/* old_len 0 (a shared area): a second mapping, nothing unmapped. */
	err = old_len ? move_range(mm, addr, old_len, old_len, to, new_len)
		      : dup_shared(mm, vma, addr, to, new_len);
	if (!err)
		*out = to;
	return err;
}

int uvma_mremap(struct uvma_mm *mm, uint64_t old_addr, uint64_t old_len,
		uint64_t new_len, unsigned flags, uint64_t new_addr,
		uint64_t *out)
{
	uint64_t where = 0;
	int err;

	err = mremap_check(mm, old_addr, &old_len, &new_len, flags, new_addr);
	if (err)
		return err;
	mmap_write_lock(mm);
	err = do_mremap(mm, old_addr, old_len, new_len, flags, new_addr,
			&where);
	mmap_write_unlock(mm);
	if (!err && out)
		*out = where;
	return err;
}

/* ---- brk ------------------------------------------------------------------
 */

int uvma_brk(struct uvma_mm *mm, uint64_t brk, uint64_t *out)
{
	uint64_t old_end, new_end;
	struct seg n = { 0 };
	int err = 0;

	mmap_write_lock(mm);
	if (!mm->brk_start) {
		err = brk ? -ENOMEM : 0;
		goto out;
	}
	if (brk < mm->brk_start)
		goto out; /* a query */
	old_end = page_round(mm, mm->brk);
	new_end = page_round(mm, brk);
	if (!new_end || new_end > mm->end) {
		err = -ENOMEM;
		goto out;
	}
	if (new_end < old_end) {
		err = replace_range(mm, new_end, old_end, NULL, false);
	} else if (new_end > old_end) {
		/* Linux keeps a page free between the heap and whatever
		 * follows it. */
		if (!range_free(mm, old_end, new_end) ||
		    (new_end < mm->end &&
		     !range_free(mm, new_end, new_end + mm->page_size))) {
			err = -ENOMEM;
			goto out;
		}
		n.start = old_end;
		n.end = new_end;
		n.prot = UVMA_PROT_READ | UVMA_PROT_WRITE;
		n.flags = UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS;
		n.pgoff = old_end >> mm->page_shift;
		err = replace_range(mm, old_end, new_end, &n, false);
	}
	if (!err)
		mm->brk = brk;
out:
	if (out)
		*out = mm->brk;
	mmap_write_unlock(mm);
	return err;
}
