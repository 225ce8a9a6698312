/*
 * mremap.c - uvma_mremap with Linux's semantics: shrink, grow in place,
 * move (MAYMOVE, FIXED), and a second mapping of a shared area (old_len 0)
 * (docs/design.md section 5; docs/semantics.md).
 *
 * Locks: mmap_lock for writing for the whole call; a move is one plan
 * (plan.c), so readers see the source and the destination change at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mlock.h"
#include "ops.h"
#include "plan.h"
#include "populate.h"

/* A second mapping of a shared area's pages from addr on, at to (mremap
 * with old_len 0): same backing and offset, nothing unmapped. */
static int dup_shared(struct uvma_mm *mm, struct uvma_vma *vma, uint64_t addr,
		      uint64_t to, uint64_t len)
{
	struct area n = area_of(vma);

	n = area_clip(&n, addr, vma->end, mm->page_shift);
	n.start = to;
	n.end = to + len;
	return __mm_replace(mm, to, to + len, &n);
}

/*
 * Move the areas of [addr, addr + src_len) to the same offsets from `to`,
 * and unmap [addr, addr + hole_len) (hole_len >= src_len: a FIXED move
 * that shrinks drops the tail too), all in one transaction. With one area
 * covering the whole source, dst_len may differ from src_len (a move that
 * resizes). Whatever the moved areas land on is replaced.
 * An anonymous private area's page offset follows its new address, as
 * Linux does for an area whose pages were never touched; a touched one
 * (anon.h) keeps its offset, as its pages keep theirs.
 */
/*
 * A move of the same size goes area by area, as Linux 6.17+ moves it: the
 * first piece that is sealed (-1) or whose destination holds a sealed
 * area (1, its destination in *to, *len) stops it, the pieces before it
 * moved. Cuts the pieces and the source hole there; 0 when none stops.
 */
static int sealed_piece(struct uvma_mm *mm, const struct area *pieces,
			size_t *np, uint64_t *hole_len, uint64_t addr,
			uint64_t *to, uint64_t *len)
{
	for (size_t i = 0; i < *np; i++) {
		const struct area *a = &pieces[i];
		int stop = a->flags & VMA_VM(UVMA_VM_SEALED) ? -1 : 0;

		if (!stop && mm_range_sealed(mm, a->start, a->end))
			stop = 1;
		if (stop) {
			*np = i;
			*hole_len = a->from - addr;
			*to = a->start;
			*len = a->end - a->start;
			return stop;
		}
	}
	return 0;
}

/*
 * MREMAP_DONTUNMAP leaves each source area mapped: unlocked (all of it, as
 * Linux clears the flags of the VMA it moved from, merged with its copy or
 * not), and untouched when it was exactly the piece (Linux unlinks its
 * anon_vma then). plan_fix_at's fix; arg is the piece.
 */
static void keep_source(struct area *a, const void *arg)
{
	const struct area *piece = arg;

	a->flags &= ~VMA_LOCKED_MASK;
	if (a->start == piece->from &&
	    a->end == piece->from + piece->from_len &&
	    !(a->flags & UVMA_MAP_SHARED))
		a->anon = 0;
}

/* One transaction of edits; with keep, ed's one piece keeps its source
 * (keep_source). */
static int run_edits(struct uvma_mm *mm, struct edit *ed, size_t ne,
		     const struct area *keep)
{
	struct plan p;
	int err;

	plan_init(&p, mm);
	err = plan_edits(&p, ed, ne);
	if (!err && keep)
		err = plan_fix_at(&p, keep->from, keep_source, keep);
	if (!err)
		err = plan_apply(&p);
	plan_finish(&p);
	return err;
}

/*
 * The piece [from, from + len) of the area there now, placed at
 * from - addr + to: read when it moves, as Linux reads each VMA when it
 * moves it (an earlier piece may have merged into its area). An anonymous
 * private piece never touched takes its new address as page offset.
 */
static struct area piece_now(struct uvma_mm *mm, uint64_t from, uint64_t len,
			     uint64_t addr, uint64_t to)
{
	struct area s = area_of(mm_vma_at(mm, from));

	s = area_clip(&s, from, from + len, mm->page_shift);
	s.from = s.start;
	s.from_len = s.end - s.start;
	s.start = s.start - addr + to;
	s.end = s.end - addr + to;
	if ((s.flags & UVMA_MAP_ANONYMOUS) && !(s.flags & UVMA_MAP_SHARED) &&
	    !s.anon)
		s.pgoff = s.start >> mm->page_shift;
	return s;
}

/*
 * A move over several areas, or MREMAP_DONTUNMAP, goes piece by piece, as
 * Linux moves VMA by VMA: each piece lands (merging with what is around
 * its destination then, which a later piece may replace) and its source
 * goes (or stays, unlocked: keep_source) in one plan before the next. 0
 * or -ENOMEM (the pieces before moved, as on Linux).
 */
static int move_pieces(struct uvma_mm *mm, const struct area *pieces, size_t np,
		       uint64_t addr, uint64_t to, bool dontunmap)
{
	int err = 0;

	for (size_t i = 0; !err && i < np; i++) {
		struct area s = piece_now(mm, pieces[i].from,
					  pieces[i].from_len, addr, to);
		struct edit ed[2] = {
			{ s.start, s.end, &s },
			{ s.from, s.from + s.from_len, NULL },
		};

		if (dontunmap) {
			err = run_edits(mm, ed, 1, &s);
			continue;
		}
		if (s.from < s.start) { /* in address order */
			ed[1] = ed[0];
			ed[0] = (struct edit){ s.from, s.from + s.from_len,
					       NULL };
		}
		err = run_edits(mm, ed, 2, NULL);
	}
	return err;
}

static int move_range(struct uvma_mm *mm, uint64_t addr, uint64_t hole_len,
		      uint64_t src_len, uint64_t to, uint64_t dst_len,
		      bool dontunmap)
{
	unsigned shift = mm->page_shift;
	struct area *pieces = NULL;
	size_t np = 0, cap = 0;
	struct tree_iter it;
	struct tree_entry e;
	int err = -ENOMEM, seal_stop = 0;
	uint64_t seal_to = 0, seal_len = 0;
	bool resize = dst_len != src_len;

	/* An old range may run past the end of the window (Linux looks only
	 * at the areas in it): clip it there. */
	if (src_len > mm->end - addr)
		src_len = mm->end - addr;
	if (hole_len > mm->end - addr)
		hole_len = mm->end - addr;
	tree_iter_start(&it, &mm->tree, addr, addr + src_len);
	while (tree_iter_next(&it, &e)) {
		struct area s;

		if (e.start >= addr + src_len)
			break;
		if (np == cap) {
			struct area *n;

			cap = cap ? 2 * cap : 4;
			n = plan_realloc(pieces, cap * sizeof(*n));
			if (!n)
				goto out;
			pieces = n;
		}
		s = area_of(e.ptr);
		s = area_clip(&s, addr, addr + src_len, shift);
		s.from = s.start;
		s.from_len = s.end - s.start;
		s.start = s.start - addr + to;
		s.end = s.end - addr + to;
		if ((s.flags & UVMA_MAP_ANONYMOUS) &&
		    !(s.flags & UVMA_MAP_SHARED) && !s.anon)
			s.pgoff = s.start >> shift;
		pieces[np++] = s;
	}
	if (resize && np == 1)
		pieces[0].end = to + dst_len;
	if (!resize)
		seal_stop = sealed_piece(mm, pieces, &np, &hole_len, addr,
					 &seal_to, &seal_len);
	/* Only the pieces' ranges are replaced at the destination: what lies
	 * there opposite a hole of the source stays (as Linux moves area by
	 * area). */
	if (np > 1 || dontunmap) {
		err = move_pieces(mm, pieces, np, addr, to, dontunmap);
	} else {
		/* One area (a resize may drop a tail beyond it: the hole is
		 * the whole old range), one plan. */
		struct edit ed[2];
		size_t ne = 0;

		if (hole_len)
			ed[ne++] = (struct edit){ addr, addr + hole_len, NULL };
		if (np)
			ed[ne++] = (struct edit){ pieces[0].start,
						  pieces[0].end, &pieces[0] };
		if (ne == 2 && to < addr) {
			struct edit src = ed[0];

			ed[0] = ed[1];
			ed[1] = src;
		}
		err = ne ? run_edits(mm, ed, ne, NULL) : 0;
	}
	/* The piece that stopped the move: its destination unmapped as far
	 * as Linux gets before the seal (__mm_unmap_sealed). */
	if (!err && seal_stop)
		err = seal_stop > 0 ? __mm_unmap_sealed(mm, seal_to,
							seal_to + seal_len)
				    : -EPERM;
out:
	free(pieces);
	return err;
}

static int mremap_check(struct uvma_mm *mm, uint64_t addr, uint64_t *old_len,
			uint64_t *new_len, unsigned flags, uint64_t new_addr)
{
	const unsigned known =
		UVMA_MREMAP_MAYMOVE | UVMA_MREMAP_FIXED | UVMA_MREMAP_DONTUNMAP;

	if (flags & ~known)
		return -EINVAL;
	if ((flags & UVMA_MREMAP_FIXED) && !(flags & UVMA_MREMAP_MAYMOVE))
		return -EINVAL;
	if (!ops_page_aligned(mm, addr))
		return -EINVAL;
	*old_len = ops_page_round(mm, *old_len);
	*new_len = ops_page_round(mm, *new_len);
	/* DONTUNMAP always moves, and never resizes (the lengths compared
	 * rounded to pages). */
	if ((flags & UVMA_MREMAP_DONTUNMAP) &&
	    (!(flags & UVMA_MREMAP_MAYMOVE) || *old_len != *new_len))
		return -EINVAL;
	/* Like Linux, the new length and the destination are checked against
	 * the end of the address space first; the old range is not (its areas
	 * are looked at; a shrink's unmap of the tail checks its range). */
	if (!*new_len || *new_len > mm->end)
		return -EINVAL;
	if (flags & UVMA_MREMAP_FIXED) {
		if (!ops_page_aligned(mm, new_addr))
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
 * that continues it too: Linux checks the next area's tag against the
 * grown area's, but no area's history, so the new part is lenient). */
static int grow_in_place(struct uvma_mm *mm, struct uvma_vma *vma, uint64_t end,
			 uint64_t new_end)
{
	struct area n = area_of(vma);

	n.pgoff += (end - n.start) >> mm->page_shift;
	n.start = end;
	n.end = new_end;
	n.lenient = true;
	return __mm_replace(mm, end, new_end, &n);
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
			uint64_t old_len, uint64_t new_len, uint64_t new_addr,
			bool dontunmap)
{
	uint64_t src_len = old_len < new_len ? old_len : new_len;
	int err;

	if (!old_len) { /* a shared area (checked): a second mapping */
		if (!mm_lock_future_ok(mm, vma->flags, new_len))
			return -EAGAIN;
		err = __mm_unmap_sealed(mm, new_addr, new_addr + new_len);
		if (err)
			return err;
		/* Linux unmaps the destination first; when that held the
		 * source, the source is gone: -EFAULT, destination unmapped. */
		if (new_addr <= addr && addr < new_addr + new_len) {
			err = __mm_replace(mm, new_addr, new_addr + new_len,
					   NULL);
			return err ? err : -EFAULT;
		}
		return dup_shared(mm, vma, addr, new_addr, new_len);
	}
	/* Resizing moves take one area (the part that moves must be inside
	 * it); only a move of the same size may span several. */
	if (old_len != new_len && src_len > vma->end - addr)
		return -EFAULT;
	if (new_len > old_len &&
	    !mm_lock_future_ok(mm, vma->flags, new_len - old_len))
		return -EAGAIN;
	/* Nothing lands on a sealed area: a resizing move unmaps its whole
	 * destination first (a seal there stops it); one of the same size
	 * moves area by area, each stopped by a seal of its own
	 * (move_range). */
	if (old_len != new_len) {
		err = __mm_unmap_sealed(mm, new_addr, new_addr + new_len);
		if (err)
			return err;
	}
	if (tail_out_of_range(mm, addr, old_len, new_len)) {
		/* Linux has unmapped the destination by then. */
		err = __mm_replace(mm, new_addr, new_addr + new_len, NULL);
		return err ? err : -EINVAL;
	}
	/* A shrink unmaps the old tail next: a seal there stops it, the
	 * destination unmapped. */
	if (old_len > new_len &&
	    mm_range_sealed(mm, addr + new_len, addr + old_len)) {
		err = __mm_replace(mm, new_addr, new_addr + new_len, NULL);
		return err ? err
			   : __mm_unmap_sealed(mm, addr + new_len,
					       addr + old_len);
	}
	return move_range(mm, addr, old_len > new_len ? old_len : src_len,
			  src_len, new_addr, new_len, dontunmap);
}

static int do_mremap(struct uvma_mm *mm, uint64_t addr, uint64_t old_len,
		     uint64_t new_len, unsigned flags, uint64_t new_addr,
		     uint64_t *out)
{
	struct uvma_vma *vma = mm_vma_at(mm, addr);
	uint64_t to;
	int err;

	if (!vma)
		return -EFAULT;
	/* A sealed area neither moves nor changes size (uvma_mseal). */
	if (vma_sealed(vma))
		return -EPERM;
	/* old_len 0 asks for a second mapping of the same pages, which
	 * only a shared area has. */
	if (!old_len && !(vma->flags & UVMA_MAP_SHARED))
		return -EINVAL;
	if (flags & UVMA_MREMAP_FIXED) {
		err = mremap_fixed(mm, vma, addr, old_len, new_len, new_addr,
				   flags & UVMA_MREMAP_DONTUNMAP);
		if (!err)
			*out = new_addr;
		return err;
	}
	/* MREMAP_DONTUNMAP always moves (the same size: checked), an old
	 * range inside one area, anywhere free. */
	if (flags & UVMA_MREMAP_DONTUNMAP) {
		if (old_len > vma->end - addr)
			return -EFAULT;
		err = mm_find_free(mm, new_len, &to);
		if (!err)
			err = move_range(mm, addr, old_len, old_len, to,
					 new_len, true);
		if (!err)
			*out = to;
		return err;
	}
	if (new_len <= old_len) {
		if (tail_out_of_range(mm, addr, old_len, new_len))
			return -EINVAL;
		if (new_len < old_len) {
			err = __mm_unmap_sealed(mm, addr + new_len,
						addr + old_len);
			if (!err)
				err = __mm_replace(mm, addr + new_len,
						   addr + old_len, NULL);
			if (err)
				return err;
		}
		*out = addr;
		return 0;
	}
	if (old_len > vma->end - addr)
		return -EFAULT;
	/* A locked area grows only within the limit on locked memory. */
	if (!mm_lock_future_ok(mm, vma->flags, new_len - old_len))
		return -EAGAIN;
	/* Grow in place when the old range ends the area and room follows. */
	if (addr + old_len == vma->end && addr + new_len <= mm->end &&
	    mm_range_free(mm, vma->end, addr + new_len)) {
		err = grow_in_place(mm, vma, vma->end, addr + new_len);
		if (!err)
			*out = addr;
		return err;
	}
	if (!(flags & UVMA_MREMAP_MAYMOVE))
		return -ENOMEM;
	err = mm_find_free(mm, new_len, &to);
	if (err)
		return err;
	/* old_len 0 (a shared area): a second mapping, nothing unmapped. */
	err = old_len ? move_range(mm, addr, old_len, old_len, to, new_len,
				   false)
		      : dup_shared(mm, vma, addr, to, new_len);
	if (!err)
		*out = to;
	return err;
}

/* A locked area's growth is faulted in, errors ignored (Linux's
 * mm_populate after mremap). */
static void populate_growth(struct uvma_mm *mm, uint64_t start, uint64_t end)
{
	struct uvma_vma *v = mm_vma_at(mm, start);

	if (v && (v->flags & VMA_VM(UVMA_VM_LOCKED)))
		__mm_populate(mm, start, end, POPULATE_LOCKED, true);
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
	/* A pager space has no second mapping of the same pages, nor a
	 * source left mapped by DONTUNMAP (not built). */
	if (mm->pager && (!old_len || (flags & UVMA_MREMAP_DONTUNMAP)))
		return -EOPNOTSUPP;
	mmap_write_lock(mm);
	err = do_mremap(mm, old_addr, old_len, new_len, flags, new_addr,
			&where);
	if (!err && new_len > old_len)
		populate_growth(mm, where + old_len, where + new_len);
	mmap_write_unlock(mm);
	if (!err && out)
		*out = where;
	return err;
}
