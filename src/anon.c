/*
 * anon.c - the tags a write fault gives private areas: Linux's anon_vma,
 * modelled by what it decides (docs/design.md section 6, "Touched memory").
 *
 * Locks: __anon_prepare runs with mmap_lock held for reading or writing;
 * it takes mm->anon_lock, so that two faults giving tags to neighbours
 * see each other's choice (Linux serialises them on the page table lock
 * and takes mmap_lock for reading, never waiting for it from under a VMA
 * lock). mmap_lock keeps the tree and every other field of the areas
 * still; only tags change under anon_lock.
 */
#include <errno.h>
#include <stdlib.h>

#include "anon.h"
#include "mm.h"
#include "plan.h"
#include "rcu.h"
#include "tree.h"

/*
 * Linux's anon_vma_compatible: a and b (a below b) touch, have the same
 * backing and continuing offsets, and differ at most in protection; then
 * a fault in one may take the other's anon_vma, because mprotect could
 * make them one area later.
 */
static bool could_share(const struct uvma_vma *a, const struct uvma_vma *b,
			unsigned shift)
{
	return a->end == b->start && a->flags == b->flags &&
	       a->file_id == b->file_id &&
	       a->pgoff + ((a->end - a->start) >> shift) == b->pgoff;
}

/* The tag of old, if vma may take it: not inherited (Linux asks for an
 * anon_vma chain of one). */
static uint32_t reusable(const struct uvma_vma *old)
{
	uint32_t t = vma_anon(old);

	return t & ANON_FORKED ? 0 : t;
}

/* Linux's find_mergeable_anon_vma: the next area first, then the
 * previous one. */
static uint32_t neighbour_tag(struct uvma_mm *mm, const struct uvma_vma *vma)
{
	unsigned shift = mm->page_shift;
	struct tree_entry e;
	uint32_t t = 0;

	rcu_read_enter(); /* mmap_lock keeps the tree still; RCU: its rules */
	if (tree_find(&mm->tree, vma->end, &e) &&
	    could_share(vma, e.ptr, shift))
		t = reusable(e.ptr);
	if (!t && vma->start > mm->base &&
	    tree_find(&mm->tree, vma->start - 1, &e) &&
	    could_share(e.ptr, vma, shift))
		t = reusable(e.ptr);
	rcu_read_exit();
	return t;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Collect the serials in use (tags without the fork bit), sorted, unique;
 * *n their number. NULL and *n 0 when none; NULL and *n 1 on -ENOMEM. */
static uint32_t *serials_in_use(struct uvma_mm *mm, size_t *n)
{
	struct tree_iter it;
	struct tree_entry e;
	uint32_t *s = NULL;
	size_t k = 0, cap = 0, i, out = 0;

	rcu_read_enter();
	tree_iter_start(&it, &mm->tree, mm->base, mm->end);
	while (tree_iter_next(&it, &e)) {
		uint32_t t = vma_anon(e.ptr);

		if (!t || (((struct uvma_vma *)e.ptr)->flags & UVMA_MAP_SHARED))
			continue;
		if (k == cap) {
			uint32_t *m;

			cap = cap ? 2 * cap : 64;
			m = plan_realloc(s, cap * sizeof(*s));
			if (!m) {
				rcu_read_exit();
				free(s);
				*n = 1;
				return NULL;
			}
			s = m;
		}
		s[k++] = t >> 1;
	}
	rcu_read_exit();
	if (k)
		qsort(s, k, sizeof(*s), cmp_u32);
	for (i = 0; i < k; i++)
		if (!out || s[out - 1] != s[i])
			s[out++] = s[i];
	*n = out;
	return s;
}

/*
 * The serials ran out: give the ones in use the numbers 1..k, in order, so
 * that equal tags stay equal and different ones different. Tags of areas
 * change while faults may read them, but a fault only asks whether a tag
 * is 0, which no renumbering changes.
 */
static int renumber(struct uvma_mm *mm)
{
	struct tree_iter it;
	struct tree_entry e;
	uint32_t *s;
	size_t n;

	s = serials_in_use(mm, &n);
	if (!s && n)
		return -ENOMEM;
	rcu_read_enter();
	tree_iter_start(&it, &mm->tree, mm->base, mm->end);
	while (tree_iter_next(&it, &e)) {
		uint32_t t = vma_anon(e.ptr), key, *at;

		if (!t || (((struct uvma_vma *)e.ptr)->flags & UVMA_MAP_SHARED))
			continue;
		key = t >> 1;
		at = bsearch(&key, s, n, sizeof(*s), cmp_u32);
		UVMA_ASSERT(at);
		vma_set_anon(e.ptr,
			     (uint32_t)(at - s + 1) << 1 | (t & ANON_FORKED));
	}
	rcu_read_exit();
	free(s);
	mm->anon_next = (uint32_t)n + 1;
	return 0;
}

/* A fresh serial's tag; caller holds anon_lock and mmap_lock, or mmap_lock
 * for writing. */
static int new_tag(struct uvma_mm *mm, uint32_t forked, uint32_t *tag)
{
	if (mm->anon_next > ANON_SERIAL_MAX) {
		int err = renumber(mm);

		if (err)
			return err;
		/* Every serial in use is a live area's: there are fewer
		 * areas than serials. */
		UVMA_ASSERT(mm->anon_next <= ANON_SERIAL_MAX);
	}
	*tag = mm->anon_next++ << 1 | forked;
	return 0;
}

int __anon_prepare(struct uvma_mm *mm, struct uvma_vma *vma)
{
	uint32_t t;
	int err = 0;

	mmap_assert_locked(mm);
	pthread_mutex_lock(&mm->anon_lock);
	if (vma_anon(vma) == 0) {
		t = neighbour_tag(mm, vma);
		if (!t)
			err = new_tag(mm, 0, &t);
		if (!err)
			vma_set_anon(vma, t);
	}
	pthread_mutex_unlock(&mm->anon_lock);
	return err;
}

uint32_t __anon_fork_tag(struct uvma_mm *child)
{
	/* A child's serials start at 1, one per area it copies: they
	 * cannot run out. */
	mmap_assert_write_locked(child);
	UVMA_ASSERT(child->anon_next <= ANON_SERIAL_MAX);
	return child->anon_next++ << 1 | ANON_FORKED;
}

#ifdef UVMA_TEST_HOOKS
void anon_set_next(struct uvma_mm *mm, uint32_t serial)
{
	mm->anon_next = serial;
}
#endif
