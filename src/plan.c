/*
 * plan.c - the plan engine: the one place where VMAs are attached, stored,
 * detached and freed (plan.h; docs/design.md section 5).
 *
 * Locks: every function runs under the mm's mmap_lock held for writing,
 * except plan_finish, which may run after a downgrade. plan_apply
 * write-locks exactly the old VMAs whose range or fields change or that go
 * away, each before the tree changes; new objects are write-locked before
 * they are attached and stored (rule 7); unchanged neighbours are never
 * locked. Readers see the map before or after the one tree transaction,
 * never half of it.
 *
 * Objects: an old VMA that is exactly one of the new areas keeps it; every
 * other area takes the first changed old VMA it overlaps (its fields are
 * rewritten after the commit, while it is write-locked) or a new object,
 * a copy of the VMA it was cut from when there is one (vma_dup: a split);
 * old VMAs left over are unlinked by the commit, then detached, then freed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "debug.h"
#include "hook.h"
#include "alloc.h"
#include "anon.h"
#include "pager.h"
#include "plan.h"
#include "rcu.h"
#include "vma_lock.h"

enum { PLAN_REMOVED, PLAN_KEPT, PLAN_REUSED };

/* ---- allocation, with fault injection in test builds --------------------- */

#ifdef UVMA_TEST_HOOKS
static _Atomic long fail_countdown; /* fail the n-th array allocation */

void plan_fail_alloc_after(long n)
{
	atomic_store(&fail_countdown, n > 0 ? n : 0);
}
#endif

void *plan_realloc(void *p, size_t bytes)
{
#ifdef UVMA_TEST_HOOKS
	long n = atomic_load(&fail_countdown);

	if (n > 0 && atomic_fetch_sub(&fail_countdown, 1) == 1)
		return NULL;
#endif
	alloc_note();
	return realloc(p, bytes);
}

/* ---- building -------------------------------------------------------------
 */

void plan_init(struct plan *p, struct uvma_mm *mm)
{
	mmap_assert_write_locked(mm);
	memset(p, 0, offsetof(struct plan, hint));
	p->hint.levels = 0;
	p->mm = mm;
	p->old = p->old_inline;
	p->capold = PLAN_INLINE;
	p->areas = p->areas_inline;
	p->capareas = PLAN_INLINE;
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

int plan_add_old(struct plan *p, struct uvma_vma *v)
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

int plan_add_area(struct plan *p, const struct area *a)
{
	if (a->start >= a->end)
		return 0;
	if (p->nareas == p->capareas &&
	    grow((void **)&p->areas, &p->capareas, sizeof(*p->areas),
		 p->areas_inline))
		return -ENOMEM;
	p->areas[p->nareas++] = *a;
	return 0;
}

struct area area_of(const struct uvma_vma *v)
{
	struct area a = {
		.start = v->start,
		.end = v->end,
		.prot = v->prot,
		.flags = v->flags,
		.pgoff = v->pgoff,
		.file_id = v->file_id,
		.anon = vma_anon(v),
		.user = v->user,
		.src = v,
	};
	return a;
}

struct area area_clip(const struct area *a, uint64_t start, uint64_t end,
		      unsigned shift)
{
	struct area c = *a;

	if (start > c.start) {
		c.pgoff += (start - c.start) >> shift;
		c.start = start;
	}
	if (end < c.end)
		c.end = end;
	return c;
}

static bool area_is(const struct area *a, const struct uvma_vma *v)
{
	return a->start == v->start && a->end == v->end && a->prot == v->prot &&
	       a->flags == v->flags && a->pgoff == v->pgoff &&
	       a->file_id == v->file_id && a->user == v->user &&
	       a->anon == vma_anon(v);
}

/*
 * Linux's rule for two adjacent areas to be one: same protection, sharing,
 * backing and user pointer, the second's offset continuing the first's,
 * and compatible tags of touched memory (anon.h). Anonymous shared areas
 * carry a backing id of their own (ops.h), so that pieces of one mapping
 * merge back and two mappings never do.
 */
static bool mergeable(const struct area *a, const struct area *b,
		      unsigned shift)
{
	return a->end == b->start && a->prot == b->prot &&
	       a->flags == b->flags && a->file_id == b->file_id &&
	       a->user == b->user &&
	       a->pgoff + ((a->end - a->start) >> shift) == b->pgoff &&
	       anon_compatible(a->anon, a->lenient, b->anon, b->lenient);
}

/*
 * Left to right, each area joins the one before when it may: where three
 * could merge only in pairs (a touched area, an untouched one, another
 * touched one), the left pair wins, as in Linux's vma_merge. The joined
 * area takes the tag either had (Linux's dup_anon_vma). Areas join only
 * next to what the change made (struct area's changed): two areas it did
 * not make stay apart, even where what is left of an old VMA forms it
 * again or one of them has just joined a changed area, as Linux merges
 * only around the range it changes; a stack that grew against an area
 * (stack.c) may meet it mergeable but unmerged. Measured: anon_stack_meet,
 * anon_merge_edges.
 */
void plan_merge(struct plan *p)
{
	unsigned shift = p->mm->page_shift;
	size_t i, out = 0;

	for (i = 0; i < p->nareas; i++) {
		struct area *a = out ? &p->areas[out - 1] : NULL;
		const struct area *b = &p->areas[i];

		if (a && (a->changed || b->changed) && mergeable(a, b, shift)) {
			a->end = b->end;
			a->anon = a->anon ? a->anon : b->anon;
			a->lenient = a->lenient || b->lenient;
			a->populate = a->populate || b->populate;
			/* Its end is b's: the next pair merges only where
			 * one side was made by the change. */
			a->changed = b->changed;
		} else {
			p->areas[out++] = *b;
		}
	}
	p->nareas = out;
}

int plan_collect(struct plan *p, uint64_t start, uint64_t end)
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

/* Add old's parts that no edit covers (edits sorted, disjoint). */
static int plan_add_remains(struct plan *p, const struct uvma_vma *old,
			    const struct edit *ed, size_t ned)
{
	unsigned shift = p->mm->page_shift;
	struct area a = area_of(old), c;
	uint64_t pos = a.start;
	size_t i;

	for (i = 0; i < ned && pos < a.end; i++) {
		if (ed[i].end <= pos || ed[i].start >= a.end)
			continue;
		if (ed[i].start > pos) {
			c = area_clip(&a, pos, ed[i].start, shift);
			if (plan_add_area(p, &c))
				return -ENOMEM;
		}
		pos = ed[i].end;
	}
	c = area_clip(&a, pos, a.end, shift);
	return pos < a.end ? plan_add_area(p, &c) : 0;
}

static void plan_sort_areas(struct plan *p)
{
	size_t i, j;

	for (i = 1; i < p->nareas; i++) {
		struct area a = p->areas[i];

		for (j = i; j > 0 && p->areas[j - 1].start > a.start; j--)
			p->areas[j] = p->areas[j - 1];
		p->areas[j] = a;
	}
}

/* An edit's touched VMAs: what it covers, plus its neighbours when it maps
 * something (they may merge with it). */
/*
 * The VMAs under one edit, plus, for an edit that maps, the one ending
 * where it starts and the one starting where it ends (merge candidates):
 * one walk of [start - 1, end + 1), not three searches.
 */
static int plan_collect_edit(struct plan *p, const struct edit *e)
{
	uint64_t lo = e->start, hi = e->end;
	struct tree_iter it;
	struct tree_entry t;

	if (e->area) {
		lo = lo ? lo - 1 : 0;
		hi = hi + 1 ? hi + 1 : hi;
	}
	tree_iter_start(&it, &p->mm->tree, lo, hi);
	if (e == p->ed)
		tree_hint_take(&p->hint, &p->mm->tree, &it);
	while (tree_iter_next(&it, &t)) {
		if (t.start >= hi)
			break;
		/* Neighbours count only when they touch the edit. */
		if (t.end < e->start || (t.end == e->start && !e->area))
			continue;
		if (t.start > e->end || (t.start == e->end && !e->area))
			break;
		if (plan_add_old(p, t.ptr))
			return -ENOMEM;
	}
	return 0;
}

int plan_edits(struct plan *p, const struct edit *ed, size_t ned)
{
	size_t i;

	p->ed = ed;
	p->ned = ned;
	for (i = 0; i < ned; i++)
		if (plan_collect_edit(p, &ed[i]))
			return -ENOMEM;
	for (i = 0; i < p->nold; i++)
		if (plan_add_remains(p, p->old[i], ed, ned))
			return -ENOMEM;
	for (i = 0; i < ned; i++) {
		struct area a;

		if (!ed[i].area)
			continue;
		a = *ed[i].area;
		a.changed = true;
		if (plan_add_area(p, &a))
			return -ENOMEM;
	}
	plan_sort_areas(p);
	plan_merge(p);
	return 0;
}

/* v joins the plan's old VMAs in address order (not if it is there). */
static int plan_insert_old(struct plan *p, struct uvma_vma *v)
{
	size_t i = p->nold;

	while (i > 0 && p->old[i - 1]->start >= v->start)
		i--;
	if (i < p->nold && p->old[i] == v)
		return 0;
	if (p->nold == p->capold &&
	    grow((void **)&p->old, &p->capold, sizeof(*p->old), p->old_inline))
		return -ENOMEM;
	memmove(&p->old[i + 1], &p->old[i], (p->nold - i) * sizeof(*p->old));
	p->old[i] = v;
	p->nold++;
	return 0;
}

int plan_fix_at(struct plan *p, uint64_t addr,
		void (*fix)(struct area *a, const void *arg), const void *arg)
{
	struct uvma_vma *v;
	struct area a;

	for (size_t i = 0; i < p->nareas; i++) {
		if (p->areas[i].start <= addr && addr < p->areas[i].end) {
			fix(&p->areas[i], arg);
			return 0;
		}
	}
	v = mm_vma_at(p->mm, addr);
	if (!v)
		return 0;
	a = area_of(v);
	fix(&a, arg);
	if (plan_insert_old(p, v) || plan_add_area(p, &a))
		return -ENOMEM;
	p->apart = true;
	plan_sort_areas(p);
	return 0;
}

int __mm_rewrite(struct uvma_mm *mm, struct uvma_vma *v, const struct area *a,
		 size_t n)
{
	struct plan p;
	int err;

	plan_init(&p, mm);
	err = plan_add_old(&p, v);
	for (size_t i = 0; i < n && !err; i++) {
		struct area x = a[i];

		x.changed = false; /* merges with nothing */
		err = plan_add_area(&p, &x);
	}
	if (!err)
		err = plan_apply(&p);
	plan_finish(&p);
	return err;
}

/* ---- changing fields over a range ---------------------------------------- */

/* The areas of [start, end) and the ones that end at start or begin at end
 * (merge candidates), in one walk of [start - 1, end + 1). */
static int modify_collect(struct plan *p, uint64_t start, uint64_t end)
{
	struct tree_iter it;
	struct tree_entry e;

	tree_iter_start(&it, &p->mm->tree, start ? start - 1 : 0, end + 1);
	tree_hint_take(&p->hint, &p->mm->tree, &it);
	while (tree_iter_next(&it, &e)) {
		if (e.start > end)
			break;
		if (e.end >= start && plan_add_old(p, e.ptr))
			return -ENOMEM;
	}
	return 0;
}

/* The areas of s, an old VMA inside the range: unchanged whole, or split
 * around n, its part in the range with new fields. */
static int modify_one(struct plan *p, const struct area *s,
		      const struct area *n)
{
	unsigned shift = p->mm->page_shift;
	struct area a = area_clip(s, s->start, n->start, shift);
	struct area c = area_clip(s, n->end, s->end, shift);
	struct area b = *n;

	if (n->prot == s->prot && n->flags == s->flags)
		return plan_add_area(p, s);
	b.changed = true;
	p->modified = true;
	if ((a.start < a.end && plan_add_area(p, &a)) || plan_add_area(p, &b) ||
	    (c.start < c.end && plan_add_area(p, &c)))
		return -ENOMEM;
	return 0;
}

bool plan_changes(const struct plan *p)
{
	return p->modified;
}

int plan_modify(struct plan *p, uint64_t start, uint64_t end,
		const struct modify *m, int *stop)
{
	unsigned shift = p->mm->page_shift;
	uint64_t pos = start;
	int hole = 0;
	size_t i;

	*stop = 0;
	if (modify_collect(p, start, end))
		return -ENOMEM;
	for (i = 0; i < p->nold; i++) {
		const struct uvma_vma *v = p->old[i];
		struct area s = area_of(v), n;
		bool inside = v->start < end && v->end > start;

		if (inside && !*stop && v->start > pos) {
			if (m->skip_holes)
				hole = -ENOMEM;
			else
				*stop = -ENOMEM;
		}
		if (!inside || *stop) {
			/* A neighbour, or beyond where the change stopped:
			 * kept as it is. */
			if (plan_add_area(p, &s))
				return -ENOMEM;
			continue;
		}
		n = area_clip(&s, v->start > start ? v->start : start,
			      v->end < end ? v->end : end, shift);
		*stop = m->apply(p->mm, v, &n, m->arg);
		if ((*stop ? plan_add_area(p, &s) : modify_one(p, &s, &n)))
			return -ENOMEM;
		pos = v->end;
	}
	if (!*stop && pos < end)
		*stop = -ENOMEM;
	if (!*stop)
		*stop = hole;
	plan_merge(p);
	return 0;
}

/* ---- applying ------------------------------------------------------------ */

static void area_write(const struct area *a, struct uvma_vma *v)
{
	v->start = a->start;
	v->end = a->end;
	v->prot = a->prot;
	v->flags = a->flags;
	v->pgoff = a->pgoff;
	v->file_id = a->file_id;
	vma_set_anon(v, a->anon);
	v->user = a->user;
}

/* Areas an old VMA already is exactly keep it (it is not even locked). */
static void assign_kept(struct plan *p)
{
	size_t i, j = 0;

	for (i = 0; i < p->nareas; i++) {
		struct area *a = &p->areas[i];

		a->obj = NULL;
		a->kept = false;
		a->fresh = false;
		while (j < p->nold && p->old[j]->end <= a->start)
			j++;
		if (j < p->nold && area_is(a, p->old[j])) {
			a->obj = p->old[j];
			a->kept = true;
			p->fate[j] = PLAN_KEPT;
		}
	}
}

/* Changed areas take the first free old VMA they overlap. */
static void assign_reused(struct plan *p)
{
	size_t i, j = 0, k;

	for (i = 0; i < p->nareas; i++) {
		struct area *a = &p->areas[i];

		if (a->kept)
			continue;
		while (j < p->nold && p->old[j]->end <= a->start)
			j++;
		for (k = j; k < p->nold && p->old[k]->start < a->end; k++) {
			if (p->fate[k] == PLAN_REMOVED) {
				p->fate[k] = PLAN_REUSED;
				a->obj = p->old[k];
				break;
			}
		}
	}
}

static int plan_assign(struct plan *p)
{
	if (p->nold <= PLAN_INLINE) {
		p->fate = p->fate_inline;
	} else {
		p->fate = plan_realloc(NULL, p->nold);
		if (!p->fate)
			return -ENOMEM;
	}
	memset(p->fate, PLAN_REMOVED, p->nold);
	assign_kept(p);
	assign_reused(p);
	return 0;
}

static void free_fresh(struct plan *p, size_t n)
{
	while (n-- > 0) {
		struct area *a = &p->areas[n];

		if (a->fresh) {
			vma_free(a->obj);
			a->obj = NULL;
			a->fresh = false;
		}
	}
}

/* Objects for the areas no old VMA holds; all or none. */
static int plan_alloc_new(struct plan *p)
{
	size_t i;

	for (i = 0; i < p->nareas; i++) {
		struct area *a = &p->areas[i];

		if (a->obj)
			continue;
		a->obj = a->src ? vma_dup(a->src) : vma_alloc(p->mm);
		if (!a->obj) {
			free_fresh(p, i);
			return -ENOMEM;
		}
		a->fresh = true;
		area_write(a, a->obj);
	}
	return 0;
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

/* Erase the ranges of changed old VMAs, runs of neighbours in one store. */
static int plan_erase_old(struct plan *p)
{
	size_t i = 0, j;
	int err;

	while (i < p->nold) {
		if (p->fate[i] == PLAN_KEPT) {
			i++;
			continue;
		}
		for (j = i + 1;
		     j < p->nold && p->fate[j] != PLAN_KEPT &&
		     tree_neighbours(p->mm, p->old[j - 1], p->old[j]);
		     j++)
			;
		err = tree_txn_store(&p->mm->tree, p->old[i]->start,
				     p->old[j - 1]->end, NULL);
		if (err)
			return err;
		i = j;
	}
	return 0;
}

/*
 * The span a plan with one place of change rewrites: from the first to the
 * last old VMA that changes or new area that is not kept. false when
 * nothing changes in the tree.
 */
static bool plan_span(const struct plan *p, uint64_t *lo, uint64_t *hi)
{
	size_t i;

	*lo = UINT64_MAX;
	*hi = 0;
	for (i = 0; i < p->nold; i++) {
		if (p->fate[i] == PLAN_KEPT)
			continue;
		*lo = p->old[i]->start < *lo ? p->old[i]->start : *lo;
		*hi = p->old[i]->end > *hi ? p->old[i]->end : *hi;
	}
	for (i = 0; i < p->nareas; i++) {
		if (p->areas[i].kept)
			continue;
		*lo = p->areas[i].start < *lo ? p->areas[i].start : *lo;
		*hi = p->areas[i].end > *hi ? p->areas[i].end : *hi;
	}
	return *lo < *hi;
}

#define SPLICE_MAX 16

/*
 * One place of change (one edit, or mprotect's range): the old VMAs were
 * collected from a walk that saw every VMA of the span, so the span holds
 * nothing the plan does not know, and one splice rewrites it (kept areas
 * inside it are written back as they are). 1: done; 0: not this way.
 */
static int plan_splice(struct plan *p)
{
	struct tree_entry e[SPLICE_MAX];
	uint64_t lo, hi;
	unsigned n = 0;
	size_t i;
	int err;

	if (p->ned > 1 || p->apart)
		return 0; /* places apart: the span may hold other VMAs */
	if (!plan_span(p, &lo, &hi))
		return 1; /* nothing to store */
	for (i = 0; i < p->nareas; i++) {
		const struct area *a = &p->areas[i];

		if (a->end <= lo || a->start >= hi)
			continue;
		if (n == SPLICE_MAX)
			return 0;
		e[n++] = (struct tree_entry){ a->start, a->end, a->obj };
	}
	err = tree_txn_splice(&p->mm->tree, lo, hi, e, n, &p->hint);
	return err ? err : 1;
}

static int plan_stores(struct plan *p)
{
	size_t i;
	int err = plan_splice(p);

	if (err)
		return err < 0 ? err : 0;
	err = plan_erase_old(p);

	for (i = 0; !err && i < p->nareas; i++) {
		struct area *a = &p->areas[i];

		if (!a->kept)
			err = tree_txn_store(&p->mm->tree, a->start, a->end,
					     a->obj);
	}
	return err;
}

/* Every old VMA that changes or goes, and every new one, before the tree
 * changes; new ones are then attached (rules 7 and 8). */
static void plan_lock(struct plan *p)
{
	size_t i;

	for (i = 0; i < p->nold; i++)
		if (p->fate[i] != PLAN_KEPT)
			vma_start_write(p->old[i]);
	for (i = 0; i < p->nareas; i++) {
		if (!p->areas[i].fresh)
			continue;
#ifndef UVMA_BROKEN_ATTACH_UNLOCKED
		vma_start_write(p->areas[i].obj);
#endif
		vma_mark_attached(p->areas[i].obj);
	}
}

/* The commit failed: the new objects never were in the tree, but stale
 * readers of their past lives may have raised their counts since attach,
 * so they are detached (which waits those out) before they are freed. */
static void plan_unwind(struct plan *p)
{
	size_t i;

	for (i = 0; i < p->nareas; i++)
		if (p->areas[i].fresh)
			vma_mark_detached(p->areas[i].obj);
	free_fresh(p, p->nareas);
}

int plan_apply(struct plan *p)
{
	struct uvma_mm *mm = p->mm;
	size_t i;
	int err;

	mmap_assert_write_locked(mm);
	UVMA_ASSERT(!p->applied);
	err = plan_assign(p);
	if (!err)
		err = plan_alloc_new(p);
	if (err)
		return err;
	hook_run(HOOK_PLAN_READY, mm, NULL);
	plan_lock(p);
	/* What the plan replaces is written back while its areas are
	 * write-locked and still in place. */
	if (mm->pager)
		pager_plan_writeback(p);
	tree_begin(&mm->tree);
	err = plan_stores(p);
	if (err) {
		tree_abort(&mm->tree);
		plan_unwind(p);
		return err;
	}
	tree_commit(&mm->tree);
	p->applied = true;
	/* Reused objects take their new shape; they are write-locked, so no
	 * reader sees the fields change. */
	for (i = 0; i < p->nareas; i++)
		if (!p->areas[i].kept && !p->areas[i].fresh)
			area_write(&p->areas[i], p->areas[i].obj);
	hook_run(HOOK_PLAN_COMMITTED, mm, NULL);
#ifndef UVMA_BROKEN_FREE_ATTACHED
	/* Unlinked by the commit: detach, waiting out transient readers
	 * (rule 9). No new reader can find them any more. */
	for (i = 0; i < p->nold; i++)
		if (p->fate[i] == PLAN_REMOVED)
			vma_mark_detached(p->old[i]);
#endif
	/* The real memory follows, while the changed areas are still
	 * write-locked and the removed ones have no reader left. */
	if (mm->pager)
		pager_sync(p);
	return 0;
}

void plan_finish(struct plan *p)
{
	size_t i;

	mmap_assert_locked(p->mm);
	for (i = 0; p->applied && i < p->nold; i++)
		if (p->fate[i] == PLAN_REMOVED)
			vma_free(p->old[i]);
	if (p->old != p->old_inline)
		free(p->old);
	if (p->areas != p->areas_inline)
		free(p->areas);
	if (p->fate && p->fate != p->fate_inline)
		free(p->fate);
	p->old = NULL;
	p->areas = NULL;
	p->fate = NULL;
}

int __mm_replace(struct uvma_mm *mm, uint64_t start, uint64_t end,
		 const struct area *a)
{
	struct edit e = { start, end, a };
	struct plan p;
	int err;

	plan_init(&p, mm);
	err = plan_edits(&p, &e, 1);
	if (!err)
		err = plan_apply(&p);
	plan_finish(&p);
	return err;
}

/*
 * The end of an address space (uvma_mm_destroy): every VMA is write-locked,
 * detached and freed, with no tree store, since the tree goes whole right
 * after. No fault runs in a space being destroyed (the caller's contract),
 * so detach finds no reader to wait for.
 */
void __mm_teardown(struct uvma_mm *mm)
{
	struct tree_iter it;
	struct tree_entry e;

	mmap_assert_write_locked(mm);
	tree_iter_start(&it, &mm->tree, 0, UINT64_MAX);
	while (tree_iter_next(&it, &e)) {
		struct uvma_vma *v = e.ptr;

		vma_start_write(v);
#ifndef UVMA_BROKEN_FREE_ATTACHED
		vma_mark_detached(v);
#endif
		vma_free(v);
	}
}

/* ---- the writer's view of the map ---------------------------------------- */

struct uvma_vma *mm_vma_at(struct uvma_mm *mm, uint64_t addr)
{
	struct tree_entry e;

	return tree_find(&mm->tree, addr, &e) ? e.ptr : NULL;
}

bool mm_range_free(struct uvma_mm *mm, uint64_t start, uint64_t end)
{
	struct tree_entry e;

	if (start < mm->base || end > mm->end || start >= end)
		return false;
	return !tree_find_above(&mm->tree, start, &e) || e.start >= end;
}

/* The stack whose guard gap a free range ending at end would reach
 * into: its start in *stack. */
static bool stack_gap_at(struct uvma_mm *mm, uint64_t end, uint64_t *stack)
{
	struct tree_entry e;

	if (!tree_find_above(&mm->tree, end - 1, &e) || e.start < end ||
	    !(((struct uvma_vma *)e.ptr)->flags & UVMA_MAP_GROWSDOWN) ||
	    e.start - end >= mm->stack_gap)
		return false;
	*stack = e.start;
	return true;
}

bool mm_in_stack_gap(struct uvma_mm *mm, uint64_t end)
{
	uint64_t stack;

	return stack_gap_at(mm, end, &stack);
}

/*
 * Top-down, as Linux's unmapped_area_topdown: the highest free range, where
 * the room just below a growsdown area is not free (its guard gap). When
 * the highest range found ends in a stack's gap, the free gap holding it
 * still has room below the guard gap, or the search goes on below that
 * free gap: a lower free gap may end at another area inside the guard gap,
 * and is then whole (Linux's vm_start_gap counts only the next area).
 */
int mm_find_free(struct uvma_mm *mm, uint64_t len, uint64_t *addr)
{
	uint64_t high = mm->end, stack, limit;
	struct tree_entry e;
	int err;

	if (len > mm->end - mm->base)
		return -ENOMEM;
	for (;;) {
		rcu_read_enter();
		err = tree_gap_topdown(&mm->tree, mm->base, high, len, 0, addr);
		rcu_read_exit();
		if (err || !stack_gap_at(mm, *addr + len, &stack))
			return err;
		/* The highest range below the gap, if the free gap under the
		 * stack reaches that low. */
		if (stack - mm->base >= mm->stack_gap + len) {
			limit = stack - mm->stack_gap;
			if (mm_range_free(mm, limit - len, stack)) {
				*addr = limit - len;
				return 0;
			}
		}
		/* Below this free gap, if there is room left. */
		high = tree_find_below(&mm->tree, *addr + len, &e) ? e.end
								   : mm->base;
		if (high - mm->base < len)
			return -ENOMEM;
	}
}
