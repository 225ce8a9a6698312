/*
 * linux_model.h - the reference model of what Linux does to a map, page by
 * page: the one prediction that the unit test (tests/unit/test_ops.c), the
 * fuzz target (tests/fuzz/fuzz_ops.c) and the stress test
 * (tests/stress/test_ops_stress.c) check uvma against. docs/semantics.md
 * says where each rule comes from (measured on a running kernel).
 *
 * The model is a window of pages, [base, base + npages * page), that stands
 * for the whole address space as uvma's window does: a range that leaves it
 * leaves the address space. Each page holds what Linux would say of it:
 * mapped or not, its protection, its flags (SHARED or PRIVATE, and
 * ANONYMOUS), its backing id (the file's id; for anonymous shared memory
 * the mapping's own id, standing for the shmem object Linux gives each
 * such mapping; 0 for anonymous private memory), its page offset and its
 * user pointer. An area is a maximal run of pages that continue one another
 * (lm_continues): Linux merges as far as its rule allows, and so must uvma.
 *
 * The operations take arguments that passed the argument checks: addresses
 * page aligned (a hint may be anything), lengths rounded up to pages and
 * not 0 (mremap's old_len may be 0, mprotect's len too), known flags and
 * protections, MREMAP_FIXED only with MREMAP_MAYMOVE. Errors that depend on
 * the map or on the window are theirs. Each returns what the call must
 * return, 0 (and the address in *out for mmap and mremap) or a negative
 * errno, and leaves the model as the map must be after the call, Linux's
 * half-done failures included.
 *
 * Touched memory (docs/semantics.md): a page's anon is its area's tag, 0
 * until a write fault (lm_touch) gives the area one, as Linux's first write
 * fault gives it an anon_vma; bit 0 says it came through a fork
 * (lm_fork). The model's tags are its own numbers: a test compares them
 * with uvma's by a one-to-one pairing, never by value. With tags an area
 * is no longer any maximal run of continuing pages: two areas merge only
 * where an operation changed one of them (the pages it marks dirty), left
 * to right, with Linux's rule for tags (lm_settle); and a stack that grew
 * against an area (lm_grow_stack) meets it unmerged (cut).
 *
 * Hidden flags (docs/semantics.md, "Flags and locks"): a page's vm holds
 * its area's UVMA_VM_* flags, which keep areas apart as the other fields
 * do; lm_madvise, lm_mlock and lm_mlockall change them, and a lock faults
 * a range in (lm_populate), writing private writable areas, which gives
 * them tags. def_vm is mlockall's MCL_FUTURE: every new mapping and heap
 * growth gets it (and is faulted in unless on fault).
 *
 * Where Linux leaves a choice, the model applies one outcome and records
 * the other as a choice (struct lm_choice, kept until the next operation):
 * an anonymous shared mapping's offsets run from 0 in its shmem object
 * (applied), where uvma.h's description of anonymous areas (start / page
 * size at creation) reads otherwise. A test that accepts either passes
 * what it found to lm_choose(); the others just take the model's outcome.
 *
 * Header-only and static, like the other helpers of tests/lib; it needs
 * nothing of uvma but the constants of uvma.h.
 */
#ifndef UVMA_TEST_LINUX_MODEL_H
#define UVMA_TEST_LINUX_MODEL_H

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uvma.h"

#ifndef LM_MAX_PAGES
#define LM_MAX_PAGES 256 /* the largest window a test models */
#endif

#define LM_TYPE	     (UVMA_MAP_SHARED | UVMA_MAP_PRIVATE)
#define LM_GROWSDOWN UVMA_MAP_GROWSDOWN
#define LM_ANON_PRIV (UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS)

struct lm_page {
	bool mapped;
	uint8_t prot;	/* UVMA_PROT_* */
	uint32_t flags; /* SHARED or PRIVATE, | ANONYMOUS */
	uint32_t vm;	/* UVMA_VM_* */
	uint64_t id;	/* backing: file id, anonymous shared mapping's id */
	uint64_t pgoff; /* this page's offset */
	/* An anonymous shared mapping's object size in pages (its length
	 * when mapped): a fault past it is SIGBUS (lm_past_end). */
	uint64_t shm_pages;
	void *user;
	/* Private pages: the area's tag (LM_FORKED: inherited), 0 while
	 * never written. */
	uint32_t anon;
	/* An area boundary before this page although the page continues the
	 * one before: a stack grew against it (Linux's growth merges
	 * nothing). */
	bool cut;
};

#define LM_FORKED 1u

/* What an operation did to a page (struct lm's dirty): changed it, and
 * changed it by growing an area in place (lenient about the area's
 * inherited tag, as uvma's anon_compatible). */
#define LM_DIRTY   1u
#define LM_LENIENT 2u

/* The pages [addr, addr + len) may continue from either offset; the model
 * applied pgoff[0]. */
struct lm_choice {
	uint64_t addr, len;
	uint64_t pgoff[2];
};

struct lm {
	uint64_t base, end, page; /* the window, its page size */
	unsigned shift, npages;
	uint64_t brk_start, brk; /* the heap (brk_start 0: none) */
	/* Stacks (UVMA_MAP_GROWSDOWN): the room kept below one, the most one
	 * grows to (uvma_mm_config's stack_guard_gap and stack_limit). */
	uint64_t stack_gap, stack_limit;
	uint64_t next_id; /* the next anonymous shared mapping's id */
	uint32_t def_vm;  /* UVMA_VM_* of new mappings (MCL_FUTURE) */
	/* RLIMIT_MEMLOCK in bytes (UVMA_MEMLOCK_UNLIMITED: none). */
	uint64_t memlock;
	uint32_t next_anon; /* the next tag's serial */
	/* Tests: a move over several areas (or MREMAP_DONTUNMAP) fails
	 * (-ENOMEM) once this many pieces moved, as an allocation failure
	 * may stop it (0: never). */
	unsigned move_limit;
	struct lm_page pg[LM_MAX_PAGES];
	/* Per page, what the last operation did (LM_DIRTY, LM_LENIENT). */
	uint8_t dirty[LM_MAX_PAGES];
	/* The choices the last operation left; last, so that lm_copy can
	 * leave them behind. */
	unsigned nchoice;
	struct lm_choice choice[LM_MAX_PAGES];
};

/*
 * An empty map over npages pages of page bytes from base. Anonymous shared
 * mappings get ids from first_id on, one per mapping that succeeds: given
 * uvma's own first id (OPS_SHMEM_ID_BASE), they are the ids uvma keeps in
 * its VMAs.
 */
static inline void lm_init(struct lm *m, uint64_t base, unsigned npages,
			   uint64_t page, uint64_t first_id)
{
	if (npages > LM_MAX_PAGES || !page || (page & (page - 1)))
		abort(); /* a test's mistake: no model to check against */
	m->base = base;
	m->page = page;
	m->shift = 0;
	while ((UINT64_C(1) << m->shift) < page)
		m->shift++;
	m->npages = npages;
	m->end = base + (uint64_t)npages * page;
	m->brk_start = m->brk = 0;
	m->def_vm = 0;
	m->memlock = UVMA_MEMLOCK_UNLIMITED;
	m->stack_gap = 256 * page;
	m->stack_limit = UINT64_C(8) << 20;
	m->next_id = first_id;
	m->next_anon = 1;
	m->nchoice = 0;
	memset(m->pg, 0, sizeof(m->pg));
	memset(m->dirty, 0, sizeof(m->dirty));
}

/* An operation starts: no choices, no page changed yet. */
static inline void lm_begin(struct lm *m)
{
	m->nchoice = 0;
	memset(m->dirty, 0, sizeof(m->dirty));
}

/* dst becomes src without its choices, which belong to the operation that
 * made them: cheaper than a copy of the whole model. */
static inline void lm_copy(struct lm *dst, const struct lm *src)
{
	memcpy(dst, src, offsetof(struct lm, nchoice));
	dst->nchoice = 0;
}

/* Stacks' guard gap and size limit, in bytes (the defaults: uvma's). */
static inline void lm_set_stack(struct lm *m, uint64_t gap, uint64_t limit)
{
	m->stack_gap = gap;
	m->stack_limit = limit;
}

/* A heap from start on (uvma_mm_config.brk_start; 0: none). */
static inline void lm_set_heap(struct lm *m, uint64_t start)
{
	m->brk_start = m->brk = start;
}

/* ---- pages --------------------------------------------------------------- */

/* [addr, addr + len) lies in the window; no sum here can wrap. */
static inline bool lm_in_window(const struct lm *m, uint64_t addr, uint64_t len)
{
	return addr >= m->base && addr <= m->end && len <= m->end - addr;
}

static inline unsigned lm_index(const struct lm *m, uint64_t addr)
{
	return (unsigned)((addr - m->base) >> m->shift);
}

static inline uint64_t lm_addr(const struct lm *m, unsigned i)
{
	return m->base + ((uint64_t)i << m->shift);
}

/* The page holding addr, or NULL outside the window. */
static inline const struct lm_page *lm_at(const struct lm *m, uint64_t addr)
{
	return addr >= m->base && addr < m->end ? &m->pg[lm_index(m, addr)]
						: NULL;
}

static inline bool lm_mapped(const struct lm *m, uint64_t addr)
{
	const struct lm_page *p = lm_at(m, addr);

	return p && p->mapped;
}

/* b could continue a, tags aside: everything else of Linux's merge rule
 * at page level. */
static inline bool lm_joinable(const struct lm_page *a, const struct lm_page *b)
{
	return a->mapped && b->mapped && a->prot == b->prot &&
	       a->flags == b->flags && a->vm == b->vm && a->id == b->id &&
	       a->user == b->user && a->pgoff + 1 == b->pgoff;
}

/* b continues a: both are one area. */
static inline bool lm_continues(const struct lm_page *a,
				const struct lm_page *b)
{
	return lm_joinable(a, b) && a->anon == b->anon && !b->cut;
}

/* The same page, as far as the map shows it (tags by value: the same
 * model's). */
static inline bool lm_page_eq(const struct lm_page *a, const struct lm_page *b)
{
	if (a->mapped != b->mapped)
		return false;
	return !a->mapped ||
	       (a->prot == b->prot && a->flags == b->flags && a->vm == b->vm &&
		a->id == b->id && a->pgoff == b->pgoff && a->user == b->user &&
		a->anon == b->anon);
}

/* Two models with the same pages and areas (the heap's end aside): a
 * merge that joins two areas of equal pages changes the map too. */
static inline bool lm_same_pages(const struct lm *a, const struct lm *b)
{
	for (unsigned i = 0; i < a->npages; i++)
		if (!lm_page_eq(&a->pg[i], &b->pg[i]) ||
		    a->pg[i].cut != b->pg[i].cut)
			return false;
	return true;
}

/*
 * The end of the area holding the mapped page at addr. It only looks at
 * the area's pages from addr on and at the page after it, so that a test
 * that knows part of the map (the stress test's claimed pages) can ask.
 */
static inline uint64_t lm_area_end(const struct lm *m, uint64_t addr)
{
	unsigned i = lm_index(m, addr);

	while (i + 1 < m->npages && lm_continues(&m->pg[i], &m->pg[i + 1]))
		i++;
	return lm_addr(m, i + 1);
}

static inline uint64_t lm_area_start(const struct lm *m, uint64_t addr)
{
	unsigned i = lm_index(m, addr);

	while (i > 0 && lm_continues(&m->pg[i - 1], &m->pg[i]))
		i--;
	return lm_addr(m, i);
}

/* The first area that ends after addr: [*start, *end); false if none. A
 * walk: for (a = 0; lm_next_area(m, a, &s, &e); a = e). */
static inline bool lm_next_area(const struct lm *m, uint64_t addr,
				uint64_t *start, uint64_t *end)
{
	if (addr < m->base)
		addr = m->base;
	for (; addr < m->end; addr += m->page) {
		if (!m->pg[lm_index(m, addr)].mapped)
			continue;
		*start = lm_area_start(m, addr);
		*end = lm_area_end(m, addr);
		return true;
	}
	return false;
}

/* [addr, addr + len) lies in the window and nothing is mapped there. */
static inline bool lm_free(const struct lm *m, uint64_t addr, uint64_t len)
{
	if (!lm_in_window(m, addr, len))
		return false;
	for (uint64_t a = addr; a < addr + len; a += m->page)
		if (m->pg[lm_index(m, a)].mapped)
			return false;
	return true;
}

/* The pages of [addr, addr + len) (page aligned) that lie in the window:
 * [*first, *last). Only the window has pages. */
static inline void lm_clip(const struct lm *m, uint64_t addr, uint64_t len,
			   unsigned *first, unsigned *last)
{
	uint64_t end = addr + len < addr ? UINT64_MAX : addr + len;

	if (addr < m->base)
		addr = m->base;
	if (end > m->end)
		end = m->end;
	*first = *last = 0;
	if (addr < end) {
		*first = lm_index(m, addr);
		*last = lm_index(m, end);
	}
}

/* Anything mapped in [addr, addr + len)? */
static inline bool lm_any(const struct lm *m, uint64_t addr, uint64_t len)
{
	unsigned i, last;

	for (lm_clip(m, addr, len, &i, &last); i < last; i++)
		if (m->pg[i].mapped)
			return true;
	return false;
}

/* Unmap the pages of [addr, addr + len) that lie in the window. */
static inline void lm_clear(struct lm *m, uint64_t addr, uint64_t len)
{
	unsigned i, last;

	for (lm_clip(m, addr, len, &i, &last); i < last; i++)
		memset(&m->pg[i], 0, sizeof(m->pg[i]));
}

/* Pages [addr, addr + len), in the window, become t with offsets from
 * pgoff on: changed by the operation (dirty). */
static inline void lm_set(struct lm *m, uint64_t addr, uint64_t len,
			  const struct lm_page *t, uint64_t pgoff)
{
	unsigned first = lm_index(m, addr), n = (unsigned)(len >> m->shift);

	for (unsigned k = 0; k < n; k++) {
		struct lm_page *p = &m->pg[first + k];

		*p = *t;
		p->mapped = true;
		p->cut = false;
		p->pgoff = pgoff + k;
		m->dirty[first + k] |= LM_DIRTY;
	}
}

/* ---- touched memory ------------------------------------------------------ */

/* uvma's anon_compatible (Linux 6.16+): both untouched, the same tag, or
 * one untouched and the other's tag not inherited, unless the side that
 * has it grows in place (lenient). */
static inline bool lm_anon_compatible(uint32_t a, bool a_lenient, uint32_t b,
				      bool b_lenient)
{
	if (!a || !b)
		return (!a || !(a & LM_FORKED) || a_lenient) &&
		       (!b || !(b & LM_FORKED) || b_lenient);
	return a == b;
}

/* What the last operation did to any page of the area [s, e) (indexes):
 * LM_DIRTY and LM_LENIENT or-ed. */
static inline unsigned lm_run_dirty(const struct lm *m, unsigned s, unsigned e)
{
	unsigned d = 0;

	for (unsigned i = s; i < e; i++)
		d |= m->dirty[i];
	return d;
}

static inline void lm_retag(struct lm *m, unsigned s, unsigned e, uint32_t tag)
{
	for (unsigned i = s; i < e; i++)
		m->pg[i].anon = tag;
}

/*
 * The merges that follow an operation, as uvma's plan and Linux's
 * vma_merge make them: at each boundary, left to right, the two areas join
 * when everything but the tags continues, the tags are compatible, and the
 * operation changed a page next to the boundary (Linux merges only around
 * what it changes: an area next to a changed one, but not the area beyond
 * it, nor two areas it leaves alone). The joined area takes the tag either
 * had; where three could join only in pairs the left pair wins. An area
 * with a page grown in place is lenient (LM_LENIENT).
 */
static inline void lm_settle(struct lm *m)
{
	for (unsigned i = 1; i < m->npages; i++) {
		struct lm_page *a = &m->pg[i - 1], *b = &m->pg[i];
		unsigned ls, re, dl, dr;

		if (!((m->dirty[i - 1] | m->dirty[i]) & LM_DIRTY) ||
		    !lm_joinable(a, b) || lm_continues(a, b))
			continue;
		ls = lm_index(m, lm_area_start(m, lm_addr(m, i - 1)));
		re = lm_index(m, lm_area_end(m, lm_addr(m, i)));
		dl = lm_run_dirty(m, ls, i);
		dr = lm_run_dirty(m, i, re);
		if (!lm_anon_compatible(a->anon, dl & LM_LENIENT, b->anon,
					dr & LM_LENIENT))
			continue;
		lm_retag(m, ls, re, a->anon ? a->anon : b->anon);
		b->cut = false;
	}
}

/* A new tag: inherited (LM_FORKED) or not. */
static inline uint32_t lm_new_tag(struct lm *m, uint32_t forked)
{
	return m->next_anon++ << 1 | forked;
}

/* The tag of the area [s, e) (indexes) may be taken by a neighbour: set
 * and not inherited (Linux asks for an anon_vma chain of one). */
static inline uint32_t lm_reusable(const struct lm *m, unsigned i)
{
	uint32_t t = m->pg[i].anon;

	return t & LM_FORKED ? 0 : t;
}

/* Linux's anon_vma_compatible at page level: b continues a's backing
 * and flags; protection (and the user pointer, uvma's) may differ. */
static inline bool lm_could_share(const struct lm_page *a,
				  const struct lm_page *b)
{
	return a->mapped && b->mapped && a->flags == b->flags &&
	       a->vm == b->vm && a->id == b->id && a->pgoff + 1 == b->pgoff;
}

/*
 * The mapped page at addr is written: a private area without a tag takes
 * one as Linux's anon_vma_prepare picks it (the next area's when the two
 * could become one by mprotect, then the previous one's, else a new one).
 * Merges nothing; the operation's choices stay.
 */
static inline void lm_tag_area(struct lm *m, uint64_t addr)
{
	const struct lm_page *p = lm_at(m, addr);
	unsigned s, e;
	uint32_t t = 0;

	if (!p || !p->mapped || (p->flags & UVMA_MAP_SHARED) || p->anon)
		return;
	s = lm_index(m, lm_area_start(m, addr));
	e = lm_index(m, lm_area_end(m, addr));
	if (e < m->npages && lm_could_share(&m->pg[e - 1], &m->pg[e]))
		t = lm_reusable(m, e);
	if (!t && s > 0 && lm_could_share(&m->pg[s - 1], &m->pg[s]))
		t = lm_reusable(m, s - 1);
	lm_retag(m, s, e, t ? t : lm_new_tag(m, 0));
	/* A neighbour whose tag it took stays apart (a source left by
	 * MREMAP_DONTUNMAP, untouched again, next to touched memory). */
	if (s > 0 && lm_continues(&m->pg[s - 1], &m->pg[s]))
		m->pg[s].cut = true;
	if (e < m->npages && lm_continues(&m->pg[e - 1], &m->pg[e]))
		m->pg[e].cut = true;
}

/* A write fault at addr, which the area's protection allows (an
 * operation of its own: no choices left). */
static inline void lm_touch(struct lm *m, uint64_t addr)
{
	m->nchoice = 0;
	lm_tag_area(m, addr);
}

/*
 * A fault at the unmapped addr (in the window) just below a stack: grow
 * the stack down to addr's page, as Linux's expand_downwards. -EFAULT when
 * the next area above is not a stack, or an accessible area below that is
 * not one either lies closer than stack_gap to addr; the stack takes its
 * tag (lm_touch) before the checks that its offsets stay >= 0 and its size
 * within stack_limit (-EFAULT), so a refused one is touched all the same.
 * The growth merges nothing: where it meets an area below that it
 * continues, the two stay apart (cut).
 */
static inline int lm_grow_stack(struct lm *m, uint64_t addr)
{
	unsigned i = lm_index(m, addr), j = i, k = i;
	struct lm_page t;

	lm_begin(m);
	while (j < m->npages && !m->pg[j].mapped)
		j++;
	if (j == m->npages || !(m->pg[j].flags & LM_GROWSDOWN))
		return -EFAULT;
	while (k > 0 && !m->pg[k - 1].mapped)
		k--;
	if (k > 0 && !(m->pg[k - 1].flags & LM_GROWSDOWN) &&
	    m->pg[k - 1].prot && ((uint64_t)(i - k) << m->shift) < m->stack_gap)
		return -EFAULT;
	lm_touch(m, lm_addr(m, j));
	if (j - i > m->pg[j].pgoff ||
	    lm_area_end(m, lm_addr(m, j)) - lm_addr(m, i) > m->stack_limit)
		return -EFAULT;
	t = m->pg[j];
	lm_set(m, lm_addr(m, i), (uint64_t)(j - i) << m->shift, &t,
	       t.pgoff - (j - i));
	m->pg[j].cut = false; /* from a meeting since undone */
	m->pg[i].cut = i > 0 && m->pg[i - 1].mapped;
	return 0;
}

/*
 * The map of a fork's child: MADV_DONTFORK areas are not copied; each
 * touched area gets a tag of its own, inherited (Linux gives each a new
 * anon_vma whose parent is the old one), except a MADV_WIPEONFORK one,
 * which starts untouched; no area is locked and MCL_FUTURE is gone. Two
 * areas that only their locks kept apart stay apart (cut).
 */
static inline void lm_fork(struct lm *m)
{
	const uint32_t locks = UVMA_VM_LOCKED | UVMA_VM_LOCKONFAULT;
	bool apart[LM_MAX_PAGES];

	lm_begin(m);
	m->def_vm = 0;
	for (unsigned i = 0; i < m->npages; i++)
		apart[i] = i > 0 && !lm_continues(&m->pg[i - 1], &m->pg[i]);
	for (unsigned i = 0; i < m->npages;) {
		unsigned e;

		if (!m->pg[i].mapped) {
			i++;
			continue;
		}
		e = lm_index(m, lm_area_end(m, lm_addr(m, i)));
		if (m->pg[i].vm & UVMA_VM_DONTCOPY)
			lm_clear(m, lm_addr(m, i),
				 (uint64_t)(e - i) << m->shift);
		else if (m->pg[i].vm & UVMA_VM_WIPEONFORK)
			lm_retag(m, i, e, 0);
		else if (m->pg[i].anon && !(m->pg[i].flags & UVMA_MAP_SHARED))
			lm_retag(m, i, e, lm_new_tag(m, LM_FORKED));
		i = e;
	}
	for (unsigned i = 0; i < m->npages; i++) {
		m->pg[i].vm &= ~locks;
		if (apart[i] && m->pg[i].mapped &&
		    lm_continues(&m->pg[i - 1], &m->pg[i]))
			m->pg[i].cut = true;
	}
}

/* ---- choices ------------------------------------------------------------- */

static inline void lm_choice_add(struct lm *m, uint64_t addr, uint64_t len,
				 uint64_t other)
{
	struct lm_choice *c;

	if (m->nchoice == LM_MAX_PAGES)
		abort(); /* one per area an operation makes: cannot happen */
	c = &m->choice[m->nchoice++];
	c->addr = addr;
	c->len = len;
	c->pgoff[0] = m->pg[lm_index(m, addr)].pgoff;
	c->pgoff[1] = other;
}

/*
 * Take the outcome of choice k whose first page has offset pgoff (what the
 * map shows). False, with the model unchanged, when pgoff is none of the
 * allowed ones: the model's own outcome then stands, and the comparison
 * with the map fails.
 */
static inline bool lm_choose(struct lm *m, unsigned k, uint64_t pgoff)
{
	const struct lm_choice *c = &m->choice[k];
	unsigned first = lm_index(m, c->addr);

	if (pgoff != c->pgoff[0] && pgoff != c->pgoff[1])
		return false;
	for (unsigned i = 0; i < (unsigned)(c->len >> m->shift); i++)
		m->pg[first + i].pgoff = pgoff + i;
	return true;
}

/* Whether a fault at the mapped addr lies past the end of an anonymous
 * shared mapping's object (Linux: SIGBUS; uvma_fault: -EIO). Its offset
 * is read as the model applied it: from 0 in the object. */
static inline bool lm_past_end(const struct lm *m, uint64_t addr)
{
	const struct lm_page *p = lm_at(m, addr);

	return (p->flags & (UVMA_MAP_SHARED | UVMA_MAP_ANONYMOUS)) ==
		       (UVMA_MAP_SHARED | UVMA_MAP_ANONYMOUS) &&
	       p->pgoff >= p->shm_pages;
}

/* ---- placement ----------------------------------------------------------- */

/* A free range ending at end would lie in a stack's guard gap: the next
 * area above is a stack starting less than stack_gap above end (Linux's
 * vm_start_gap). */
static inline bool lm_in_stack_gap(const struct lm *m, uint64_t end)
{
	for (uint64_t a = end; a < m->end; a += m->page) {
		const struct lm_page *p = &m->pg[lm_index(m, a)];

		if (p->mapped)
			return (p->flags & LM_GROWSDOWN) &&
			       a - end < m->stack_gap;
	}
	return false;
}

/* Free for a placement without MAP_FIXED: free, and not in a stack's
 * gap. */
static inline bool lm_fits(const struct lm *m, uint64_t addr, uint64_t len)
{
	return lm_free(m, addr, len) && !lm_in_stack_gap(m, addr + len);
}

/* A top-down search for len bytes: the top of the highest gap that holds
 * them (Linux's default layout; uvma's window stands for it), where the
 * room just below a stack is not free. */
static inline int lm_topdown(const struct lm *m, uint64_t len, uint64_t *out)
{
	uint64_t need = len >> m->shift, run = 0;
	unsigned above = m->npages; /* the mapped page above the run */

	if (!len || len > m->end - m->base)
		return -ENOMEM;
	for (unsigned i = m->npages; i-- > 0;) {
		if (m->pg[i].mapped) {
			run = 0;
			above = i;
			continue;
		}
		if (++run < need)
			continue;
		/* [i, i + need): fits unless it ends in a stack's gap. */
		if (above == m->npages ||
		    !(m->pg[above].flags & LM_GROWSDOWN) ||
		    ((uint64_t)(above - i) - need) << m->shift >=
			    m->stack_gap) {
			*out = lm_addr(m, i);
			return 0;
		}
	}
	return -ENOMEM;
}

/*
 * mmap's placement without MAP_FIXED: the hint, rounded down to its page
 * (x86's round_hint_to_min masks it) and raised to the window's base
 * (mmap_min_addr), when the range there is free; else top-down.
 */
static inline int lm_place(const struct lm *m, uint64_t hint, uint64_t len,
			   uint64_t *out)
{
	uint64_t h = hint & ~(m->page - 1);

	if (h && h < m->base)
		h = m->base;
	if (h && lm_fits(m, h, len)) {
		*out = h;
		return 0;
	}
	return lm_topdown(m, len, out);
}

/* ---- the operations ------------------------------------------------------ */

/* ---- sealing --------------------------------------------------------------
 */

static inline bool lm_sealed(const struct lm_page *p)
{
	return p->mapped && (p->vm & UVMA_VM_SEALED);
}

/* Whether a page of [addr, addr + len) (clipped to the window) is
 * sealed. */
static inline bool lm_sealed_any(const struct lm *m, uint64_t addr,
				 uint64_t len)
{
	uint64_t lo = addr > m->base ? addr : m->base;
	uint64_t hi = len > m->end - lo ? m->end : lo + len;

	if (addr >= m->end || (addr < m->base && len <= m->base - addr))
		return false;
	for (uint64_t a = lo; a < hi; a += m->page)
		if (lm_sealed(&m->pg[lm_index(m, a)]))
			return true;
	return false;
}

/*
 * Before unmapping [addr, addr + len) (munmap, MAP_FIXED, brk, mremap):
 * 0 when nothing there is sealed; else -EPERM, the unsealed area across
 * addr split there (Linux splits it before it meets the seal).
 */
static inline int lm_unmap_sealed(struct lm *m, uint64_t addr, uint64_t len)
{
	const struct lm_page *p = lm_at(m, addr);
	unsigned i;

	if (!lm_sealed_any(m, addr, len))
		return 0;
	i = p ? lm_index(m, addr) : 0;
	if (p && p->mapped && !lm_sealed(p) && i > 0 &&
	    lm_continues(&m->pg[i - 1], p))
		m->pg[i].cut = true;
	return -EPERM;
}

/* A sealed private anonymous area that may not be written refuses the
 * advice that would discard its pages. */
static inline bool lm_sealed_discard(const struct lm_page *p, int advice)
{
	switch (advice) {
	case UVMA_MADV_DONTNEED:
	case UVMA_MADV_DONTNEED_LOCKED:
	case UVMA_MADV_FREE:
	case UVMA_MADV_REMOVE:
	case UVMA_MADV_DONTFORK:
	case UVMA_MADV_WIPEONFORK:
		return lm_sealed(p) &&
		       (p->flags & LM_ANON_PRIV) == LM_ANON_PRIV &&
		       !(p->prot & UVMA_PROT_WRITE);
	default:
		return false;
	}
}

/* mseal over a range that passed the argument checks (aligned, not
 * empty, no wrap): a hole anywhere seals nothing (-ENOMEM). */
static inline int lm_mseal(struct lm *m, uint64_t addr, uint64_t len)
{
	lm_begin(m);
	for (uint64_t a = addr; a - addr < len; a += m->page)
		if (!lm_mapped(m, a))
			return -ENOMEM;
	for (uint64_t a = addr; a - addr < len; a += m->page) {
		unsigned i = lm_index(m, a);

		if (!(m->pg[i].vm & UVMA_VM_SEALED))
			m->dirty[i] |= LM_DIRTY;
		m->pg[i].vm |= UVMA_VM_SEALED;
	}
	lm_settle(m);
	return 0;
}

/* ---- faulting in, advice, locks ------------------------------------------ */

enum lm_populate_how {
	LM_POPULATE_LOCKED, /* a lock's: writes private writable areas */
	LM_POPULATE_READ,   /* MADV_POPULATE_READ */
	LM_POPULATE_WRITE,  /* MADV_POPULATE_WRITE */
};

/* Locked, not on fault: the pages a lock faults in. */
static inline bool lm_locked_fill(const struct lm_page *p)
{
	return (p->vm & (UVMA_VM_LOCKED | UVMA_VM_LOCKONFAULT)) ==
	       UVMA_VM_LOCKED;
}

/*
 * Fault [addr, addr + len) in as Linux's populate: page by page, a write
 * where a lock's populate writes or MADV_POPULATE_WRITE asks (which tags
 * a private area). It stops at the first hole (-ENOMEM), area without
 * access (a lock's, -EFAULT) or without the access asked (-EINVAL), or
 * page past a shmem object (-EFAULT); with ignore it skips them and
 * returns 0. A lock's populate skips areas locked on fault.
 */
static inline int lm_populate(struct lm *m, uint64_t addr, uint64_t len,
			      enum lm_populate_how how, bool ignore)
{
	for (uint64_t a = addr; a - addr < len; a += m->page) {
		const struct lm_page *p = lm_at(m, a);
		bool write = how == LM_POPULATE_WRITE;
		int err = 0;

		if (!p || !p->mapped)
			err = -ENOMEM;
		else if (how == LM_POPULATE_LOCKED &&
			 (p->vm & UVMA_VM_LOCKONFAULT))
			continue;
		else if (how == LM_POPULATE_LOCKED && !p->prot)
			err = -EFAULT;
		else if (how == LM_POPULATE_READ && !(p->prot & UVMA_PROT_READ))
			err = -EINVAL;
		else if (write && !(p->prot & UVMA_PROT_WRITE))
			err = -EINVAL;
		else if ((p->flags & UVMA_MAP_ANONYMOUS) &&
			 (p->flags & UVMA_MAP_SHARED) &&
			 p->pgoff >= p->shm_pages)
			err = -EFAULT;
		if (err && ignore)
			continue;
		if (err)
			return err;
		if (how == LM_POPULATE_LOCKED)
			write = !(p->flags & UVMA_MAP_SHARED) &&
				(p->prot & UVMA_PROT_WRITE);
		if (write)
			lm_tag_area(m, a);
	}
	return 0;
}

/* A new mapping or heap growth under MCL_FUTURE is faulted in. */
static inline void lm_populate_new(struct lm *m, uint64_t addr, uint64_t len)
{
	if ((m->def_vm & (UVMA_VM_LOCKED | UVMA_VM_LOCKONFAULT)) ==
	    UVMA_VM_LOCKED)
		lm_populate(m, addr, len, LM_POPULATE_LOCKED, true);
}

/* The flags an advice sets and clears; false for advice about pages. */
static inline bool lm_flag_advice(int advice, uint32_t *set, uint32_t *clr)
{
	*set = *clr = 0;
	switch (advice) {
	case UVMA_MADV_DONTFORK:
	case UVMA_MADV_DOFORK:
		*(advice == UVMA_MADV_DONTFORK ? set : clr) = UVMA_VM_DONTCOPY;
		return true;
	case UVMA_MADV_WIPEONFORK:
	case UVMA_MADV_KEEPONFORK:
		*(advice == UVMA_MADV_WIPEONFORK ? set : clr) =
			UVMA_VM_WIPEONFORK;
		return true;
	case UVMA_MADV_DONTDUMP:
	case UVMA_MADV_DODUMP:
		*(advice == UVMA_MADV_DONTDUMP ? set : clr) = UVMA_VM_DONTDUMP;
		return true;
	case UVMA_MADV_MERGEABLE:
	case UVMA_MADV_UNMERGEABLE:
		*(advice == UVMA_MADV_MERGEABLE ? set : clr) =
			UVMA_VM_MERGEABLE;
		return true;
	case UVMA_MADV_HUGEPAGE:
		*set = UVMA_VM_HUGEPAGE;
		*clr = UVMA_VM_NOHUGEPAGE;
		return true;
	case UVMA_MADV_NOHUGEPAGE:
		*set = UVMA_VM_NOHUGEPAGE;
		*clr = UVMA_VM_HUGEPAGE;
		return true;
	case UVMA_MADV_SEQUENTIAL:
		*set = UVMA_VM_SEQ_READ;
		*clr = UVMA_VM_RAND_READ;
		return true;
	case UVMA_MADV_RANDOM:
		*set = UVMA_VM_RAND_READ;
		*clr = UVMA_VM_SEQ_READ;
		return true;
	case UVMA_MADV_NORMAL:
		*clr = UVMA_VM_SEQ_READ | UVMA_VM_RAND_READ;
		return true;
	default:
		return false;
	}
}

/* Advice about pages on one page: 0 or Linux's refusal. */
static inline int lm_page_advice(const struct lm_page *p, int advice)
{
	bool locked = p->vm & UVMA_VM_LOCKED;
	bool priv_anon = (p->flags & LM_ANON_PRIV) == LM_ANON_PRIV;

	switch (advice) {
	case UVMA_MADV_DONTNEED:
	case UVMA_MADV_COLD:
	case UVMA_MADV_PAGEOUT:
		return locked ? -EINVAL : 0;
	case UVMA_MADV_FREE:
		return locked || !priv_anon ? -EINVAL : 0;
	case UVMA_MADV_REMOVE:
		if (locked || priv_anon)
			return -EINVAL;
		return p->flags & UVMA_MAP_SHARED ? 0 : -EACCES;
	default:
		return 0;
	}
}

/*
 * madvise with a known advice over a range that passed the argument
 * checks (addr aligned, len rounded up and not 0, no wrap). Flag advice
 * and the other kinds go page by page past holes (-ENOMEM at the end),
 * stopping at the first page that refuses (its error, what came before
 * changed); POPULATE_* stop at a hole (lm_populate).
 */
static inline int lm_madvise(struct lm *m, uint64_t addr, uint64_t len,
			     int advice)
{
	uint32_t set, clr;
	bool flags = lm_flag_advice(advice, &set, &clr);
	uint64_t lo, hi;
	int hole = 0, err = 0;

	lm_begin(m);
	if (advice == UVMA_MADV_POPULATE_READ ||
	    advice == UVMA_MADV_POPULATE_WRITE)
		return lm_populate(m, addr, len,
				   advice == UVMA_MADV_POPULATE_READ
					   ? LM_POPULATE_READ
					   : LM_POPULATE_WRITE,
				   false);
	/* Outside the window is a hole; only the pages inside are walked. */
	lo = addr > m->base ? addr : m->base;
	hi = addr + len < m->end ? addr + len : m->end;
	if (addr < m->base || addr + len > m->end)
		hole = -ENOMEM;
	for (uint64_t a = lo; a < hi && !err; a += m->page) {
		struct lm_page *p = &m->pg[lm_index(m, a)];
		uint32_t vm;

		if (!p->mapped) {
			hole = -ENOMEM;
			continue;
		}
		if (lm_sealed_discard(p, advice)) {
			err = -EPERM;
			break;
		}
		if (!flags) {
			err = lm_page_advice(p, advice);
			continue;
		}
		if (advice == UVMA_MADV_WIPEONFORK &&
		    (p->flags & LM_ANON_PRIV) != LM_ANON_PRIV) {
			err = -EINVAL;
			break;
		}
		if (advice == UVMA_MADV_MERGEABLE &&
		    (p->flags & UVMA_MAP_SHARED))
			continue;
		vm = (p->vm & ~clr) | set;
		if (vm != p->vm)
			m->dirty[lm_index(m, a)] |= LM_DIRTY;
		p->vm = vm;
	}
	lm_settle(m);
	return err ? err : hole;
}

/* ---- the limit on locked memory (RLIMIT_MEMLOCK) ------------------------ */

/* Pages of [addr, addr + len) in the window that are mapped (locked
 * false) or locked (VM_LOCKED). */
static inline uint64_t lm_pages_in(const struct lm *m, uint64_t addr,
				   uint64_t len, bool locked)
{
	unsigned i, last;
	uint64_t n = 0;

	for (lm_clip(m, addr, len, &i, &last); i < last; i++)
		if (m->pg[i].mapped &&
		    (!locked || (m->pg[i].vm & UVMA_VM_LOCKED)))
			n++;
	return n;
}

static inline bool lm_limited(const struct lm *m)
{
	return m->memlock != UVMA_MEMLOCK_UNLIMITED;
}

/* Linux's mlock_future_ok: bytes more of memory with flags vm stay within
 * the limit. */
static inline bool lm_lock_future_ok(const struct lm *m, uint32_t vm,
				     uint64_t bytes)
{
	if (!(vm & UVMA_VM_LOCKED) || !lm_limited(m))
		return true;
	return (bytes >> m->shift) +
		       lm_pages_in(m, m->base, m->end - m->base, true) <=
	       m->memlock >> m->shift;
}

/* Linux's do_mlock check of [start, start + len) (len already rounded,
 * wrapping allowed): the pages it adds within the limit, those it holds
 * locked already counted once. */
static inline bool lm_lock_fits(const struct lm *m, uint64_t start,
				uint64_t len)
{
	uint64_t locked, limit = m->memlock >> m->shift;

	if (!lm_limited(m))
		return true;
	locked = (len >> m->shift) +
		 lm_pages_in(m, m->base, m->end - m->base, true);
	if (locked > limit && start + len > start)
		locked -= lm_pages_in(m, start, len, true);
	return locked <= limit;
}

/* Set the lock bits (UVMA_VM_LOCKED, LOCKONFAULT or none) of the mapped
 * page at addr. */
static inline void lm_set_locks(struct lm *m, uint64_t addr, uint32_t bits)
{
	unsigned i = lm_index(m, addr);
	uint32_t vm =
		(m->pg[i].vm & ~(UVMA_VM_LOCKED | UVMA_VM_LOCKONFAULT)) | bits;

	if (vm != m->pg[i].vm)
		m->dirty[i] |= LM_DIRTY;
	m->pg[i].vm = vm;
}

/*
 * mlock2 (bits UVMA_VM_LOCKED, | LOCKONFAULT) or munlock (bits 0) over a
 * range that passed the argument checks (aligned, not empty, no wrap):
 * page by page up to the first hole (-ENOMEM, what came before changed);
 * then, for a lock, the range is faulted in, an area without access
 * failing it (-ENOMEM).
 */
static inline int lm_mlock(struct lm *m, uint64_t addr, uint64_t len,
			   uint32_t bits)
{
	int ret = 0;

	lm_begin(m);
	for (uint64_t a = addr; a - addr < len; a += m->page) {
		if (!lm_mapped(m, a)) {
			ret = -ENOMEM;
			break;
		}
		lm_set_locks(m, a, bits);
	}
	lm_settle(m);
	if (!ret && (bits & UVMA_VM_LOCKED) &&
	    lm_populate(m, addr, len, LM_POPULATE_LOCKED, false))
		ret = -ENOMEM;
	return ret;
}

/* mlockall with valid flags (UVMA_MCL_*), or munlockall (flags 0): 0,
 * -EPERM (no locked memory allowed at all), -ENOMEM (MCL_CURRENT with
 * more pages mapped than the limit). */
static inline int lm_mlockall(struct lm *m, unsigned flags)
{
	uint32_t onfault = flags & UVMA_MCL_ONFAULT ? UVMA_VM_LOCKONFAULT : 0;
	uint32_t bits = flags & UVMA_MCL_CURRENT ? UVMA_VM_LOCKED | onfault : 0;

	lm_begin(m);
	/* The limit: none at all (mlockall, not munlockall), or fewer pages
	 * than are mapped (MCL_CURRENT: Linux's total_vm). */
	if (flags && !m->memlock)
		return -EPERM;
	if ((flags & UVMA_MCL_CURRENT) && lm_limited(m) &&
	    lm_pages_in(m, m->base, m->end - m->base, false) > m->memlock >>
		    m->shift)
		return -ENOMEM;
	m->def_vm &= ~(UVMA_VM_LOCKED | UVMA_VM_LOCKONFAULT);
	if (flags & UVMA_MCL_FUTURE)
		m->def_vm |= UVMA_VM_LOCKED | onfault;
	if ((flags & UVMA_MCL_FUTURE) && !(flags & UVMA_MCL_CURRENT))
		return 0;
	for (unsigned i = 0; i < m->npages; i++)
		if (m->pg[i].mapped)
			lm_set_locks(m, lm_addr(m, i), bits);
	lm_settle(m);
	if (flags & UVMA_MCL_CURRENT)
		lm_populate(m, m->base, m->end - m->base, LM_POPULATE_LOCKED,
			    true);
	return 0;
}

/*
 * mmap: MAP_FIXED replaces whatever is in the range, MAP_FIXED_NOREPLACE
 * fails with -EEXIST over anything, both need the range in the window
 * (-ENOMEM, Linux's answer past TASK_SIZE); without them addr is a hint
 * (lm_place). Anonymous private pages take their address as offset; an
 * anonymous shared mapping is a new shmem object, offsets from 0; a file
 * mapping's offsets follow offset.
 */
static inline int lm_mmap(struct lm *m, uint64_t addr, uint64_t len,
			  unsigned prot, unsigned flags, uint64_t file_id,
			  uint64_t offset, void *user, uint64_t *out)
{
	struct lm_page t = { .mapped = true, .prot = (uint8_t)prot };
	uint32_t lock =
		m->def_vm | (flags & UVMA_MAP_LOCKED ? UVMA_VM_LOCKED : 0);
	uint64_t at = addr;
	int err;

	lm_begin(m);
	if (flags & (UVMA_MAP_FIXED | UVMA_MAP_FIXED_NOREPLACE)) {
		if (!lm_in_window(m, addr, len))
			return -ENOMEM;
		if ((flags & UVMA_MAP_FIXED_NOREPLACE) && lm_any(m, addr, len))
			return -EEXIST;
	} else {
		err = lm_place(m, addr, len, &at);
		if (err)
			return err;
	}
	/* Locked: allowed at all (MAP_LOCKED), within the limit. */
	if ((flags & UVMA_MAP_LOCKED) && !m->memlock)
		return -EPERM;
	if (!lm_lock_future_ok(m, lock, len))
		return -EAGAIN;
	if (flags & (UVMA_MAP_FIXED | UVMA_MAP_FIXED_NOREPLACE)) {
		err = lm_unmap_sealed(m, addr, len);
		if (err)
			return err;
	}
	t.flags = flags & (LM_TYPE | LM_GROWSDOWN);
	t.vm = m->def_vm |
	       (flags & UVMA_MAP_NORESERVE ? UVMA_VM_NORESERVE : 0) |
	       (flags & UVMA_MAP_LOCKED ? UVMA_VM_LOCKED : 0);
	/* Charged: private, writable, not NORESERVE (overcommit allowed). */
	if (!(flags & (UVMA_MAP_SHARED | UVMA_MAP_NORESERVE)) &&
	    (prot & UVMA_PROT_WRITE))
		t.vm |= UVMA_VM_ACCOUNT;
	t.user = user;
	if (!(flags & UVMA_MAP_ANONYMOUS)) {
		t.id = file_id;
		lm_set(m, at, len, &t, offset >> m->shift);
	} else if (flags & UVMA_MAP_SHARED) {
		t.flags |= UVMA_MAP_ANONYMOUS;
		t.id = m->next_id++;
		t.shm_pages = len >> m->shift;
		lm_set(m, at, len, &t, 0);
		lm_choice_add(m, at, len, at >> m->shift);
	} else {
		t.flags |= UVMA_MAP_ANONYMOUS;
		lm_set(m, at, len, &t, at >> m->shift);
	}
	lm_settle(m);
	/* Linux's populate after mmap: MAP_POPULATE, or locked (not on
	 * fault: MAP_LOCKED, MCL_FUTURE), errors ignored. */
	if ((flags & UVMA_MAP_POPULATE) ||
	    (t.vm & (UVMA_VM_LOCKED | UVMA_VM_LOCKONFAULT)) == UVMA_VM_LOCKED)
		lm_populate(m, at, len, LM_POPULATE_LOCKED, true);
	*out = at;
	return 0;
}

/* munmap: holes are fine; a range that leaves the window (the address
 * space) is -EINVAL. */
static inline int lm_munmap(struct lm *m, uint64_t addr, uint64_t len)
{
	int err;

	lm_begin(m);
	if (!lm_in_window(m, addr, len))
		return -EINVAL;
	err = lm_unmap_sealed(m, addr, len);
	if (err)
		return err;
	lm_clear(m, addr, len);
	return 0;
}

/*
 * Commit accounting under mprotect to prot (Linux's mprotect_fixup): made
 * writable, a private page neither charged nor NORESERVE is charged; given
 * no write access, an anonymous private page never written (untagged)
 * gives its charge back. The page's new UVMA_VM_* flags.
 */
static inline uint32_t lm_account_protect(const struct lm_page *p,
					  unsigned prot)
{
	const uint32_t ac = UVMA_VM_ACCOUNT;

	if (prot == p->prot)
		return p->vm; /* no change, the charge included */
	if (prot & UVMA_PROT_WRITE) {
		if (!(p->prot & UVMA_PROT_WRITE) &&
		    !(p->flags & UVMA_MAP_SHARED) &&
		    !(p->vm & (ac | UVMA_VM_NORESERVE)))
			return p->vm | ac;
	} else if ((p->vm & ac) && (p->flags & LM_ANON_PRIV) == LM_ANON_PRIV &&
		   !p->anon) {
		return p->vm & ~ac;
	}
	return p->vm;
}

/*
 * mprotect: len 0 does nothing; an end that wraps is -ENOMEM; page by page
 * up to the first hole (or the window's end), which fails with -ENOMEM
 * after what came before it changed: Linux stops half-way.
 */
static inline int lm_mprotect(struct lm *m, uint64_t addr, uint64_t len,
			      unsigned prot)
{
	uint64_t a = addr, end = addr + len;

	lm_begin(m);
	if (!len)
		return 0;
	if (end < addr)
		return -ENOMEM;
	/* Area by area, as Linux's loop: each area changes and merges, and
	 * a locked private one made writable is faulted in (tagged), before
	 * the next one changes. */
	while (a < end) {
		const struct lm_page *p = lm_at(m, a);
		uint64_t seg;
		bool fill;

		if (!p || !p->mapped)
			return -ENOMEM;
		if (lm_sealed(p))
			return -EPERM;
		seg = lm_area_end(m, a) < end ? lm_area_end(m, a) : end;
		fill = lm_locked_fill(p) && !(p->flags & UVMA_MAP_SHARED) &&
		       !(p->prot & UVMA_PROT_WRITE) && (prot & UVMA_PROT_WRITE);
		memset(m->dirty, 0, sizeof(m->dirty));
		for (uint64_t x = a; x < seg; x += m->page) {
			unsigned i = lm_index(m, x);

			/* A page keeping its protection is not changed: an
			 * area the call leaves as it was merges with
			 * nothing. */
			uint32_t vm = lm_account_protect(&m->pg[i], prot);

			if (m->pg[i].prot != (uint8_t)prot || m->pg[i].vm != vm)
				m->dirty[i] |= LM_DIRTY;
			m->pg[i].prot = (uint8_t)prot;
			m->pg[i].vm = vm;
		}
		lm_settle(m);
		if (fill)
			lm_tag_area(m, a);
		a = seg;
	}
	return 0;
}

/*
 * A moved piece lands at to: t's pages, offsets from pgoff on, replacing
 * what is there. An anonymous private piece takes its new address as
 * offset while never touched (Linux has no anon_vma for it yet) and keeps
 * its own once touched; an anonymous shared one keeps its offsets in its
 * shmem object, or reads as uvma.h's start / page size.
 */
static inline void lm_put(struct lm *m, const struct lm_page *t, uint64_t pgoff,
			  uint64_t to, uint64_t len)
{
	uint64_t here = to >> m->shift;

	if ((t->flags & LM_ANON_PRIV) == LM_ANON_PRIV) {
		lm_set(m, to, len, t, t->anon ? pgoff : here);
	} else {
		lm_set(m, to, len, t, pgoff);
		if (t->flags & UVMA_MAP_ANONYMOUS)
			lm_choice_add(m, to, len, here);
	}
}

/* A move that may resize: [addr, addr + old_len) lies in one area, whose
 * first min(old_len, new_len) bytes go to [to, to + new_len) and continue
 * there (growing); the whole old range goes. */
static inline void lm_move(struct lm *m, uint64_t addr, uint64_t old_len,
			   uint64_t to, uint64_t new_len)
{
	struct lm_page t = *lm_at(m, addr);

	lm_clear(m, addr, old_len);
	lm_put(m, &t, t.pgoff, to, new_len);
}

/*
 * A move of the same size (MREMAP_FIXED, Linux 6.17 and later): every area
 * of [addr, addr + len), clipped to the window (Linux looks only at the
 * areas in the range), moves to the same offset from to, piece by piece;
 * what the destination holds opposite a hole of the source stays. Each
 * piece merges before the next lands (lm_move_piece); with keep
 * (MREMAP_DONTUNMAP) each source stays, lm_keep_source. The
 * ranges do not overlap, so the pieces are read before the old range goes.
 */
/*
 * MREMAP_DONTUNMAP after the piece [from, from + len) moved: the area now
 * at from (the source, or the source and its copy merged) loses its locks,
 * all of it, and forgets its tag when it was exactly the piece (Linux
 * unlinks its anon_vma). Nothing merges: where it now continues a
 * neighbour, the boundary stays (cut).
 */
static inline void lm_keep_source(struct lm *m, uint64_t from, uint64_t len)
{
	unsigned s = lm_index(m, lm_area_start(m, from));
	unsigned e = lm_index(m, lm_area_end(m, from));
	bool whole = lm_addr(m, s) == from && lm_addr(m, e) == from + len &&
		     !(m->pg[s].flags & UVMA_MAP_SHARED);

	for (unsigned i = s; i < e; i++) {
		m->pg[i].vm &=
			~(uint32_t)(UVMA_VM_LOCKED | UVMA_VM_LOCKONFAULT);
		if (whole)
			m->pg[i].anon = 0;
	}
	if (s > 0 && lm_continues(&m->pg[s - 1], &m->pg[s]))
		m->pg[s].cut = true;
	if (e < m->npages && lm_continues(&m->pg[e - 1], &m->pg[e]))
		m->pg[e].cut = true;
}

/* lm_move_all's piece [a, e) lands at a - addr + to and merges at once
 * (a later piece may replace what it merged with); its source goes, or
 * with keep (MREMAP_DONTUNMAP) stays. */
static inline void lm_move_piece(struct lm *m, const struct lm_page *t,
				 uint64_t a, uint64_t e, uint64_t addr,
				 uint64_t to, bool keep)
{
	lm_put(m, t, t->pgoff, a - addr + to, e - a);
	if (!keep)
		lm_clear(m, a, e - a);
	lm_settle(m);
	/* Later pieces merge only around what they change. */
	memset(m->dirty, 0, sizeof(m->dirty));
	if (keep)
		lm_keep_source(m, a, e - a);
}

static inline int lm_move_all(struct lm *m, uint64_t addr, uint64_t len,
			      uint64_t to, bool keep)
{
	uint64_t end = len > m->end - addr ? m->end : addr + len;
	unsigned moved = 0;
	int err = 0;
	uint64_t a;

	for (a = addr; a < end;) {
		struct lm_page t = m->pg[lm_index(m, a)];
		uint64_t e;

		if (!t.mapped) {
			a += m->page;
			continue;
		}
		e = lm_area_end(m, a);
		if (e > end)
			e = end;
		/* Area by area: a sealed one, or one whose destination holds
		 * a sealed area, stops the move (those before it moved). */
		if (lm_sealed(&t)) {
			err = -EPERM;
			break;
		}
		if (moved++ == m->move_limit && m->move_limit) {
			err = -ENOMEM;
			break;
		}
		err = lm_unmap_sealed(m, a - addr + to, e - a);
		if (err)
			break;
		lm_move_piece(m, &t, a, e, addr, to, keep);
		a = e;
	}
	return err;
}

/* old_len 0: a second mapping of the shared area's pages from addr on,
 * len long, at to (replacing what is there); the source stays. */
static inline void lm_dup(struct lm *m, uint64_t addr, uint64_t to,
			  uint64_t len)
{
	struct lm_page t = *lm_at(m, addr);

	lm_set(m, to, len, &t, t.pgoff);
}

/*
 * mremap, as Linux 6.17 and later (docs/semantics.md, "mremap"):
 * - before any area: new_len past the address space, a FIXED destination
 *   outside it or overlapping the old range (in Linux's wrapping sums):
 *   -EINVAL;
 * - no area at addr: -EFAULT; old_len 0 of a private area: -EINVAL;
 * - FIXED: old_len 0 copies the shared area to new_addr (onto its own
 *   address: the destination's unmap takes the source, -EFAULT); the same
 *   size moves every area of the range (MREMAP_DONTUNMAP: keeping them);
 *   a resize moves one area (the part that moves must lie in it: -EFAULT),
 *   unmapping the old tail too, whose range must not leave the address
 *   space (-EINVAL, with the destination already unmapped);
 * - MREMAP_DONTUNMAP (valid: MAYMOVE, the same size) without FIXED moves
 *   one area's range (-EFAULT past it) top-down, keeping the source;
 * - shrinking unmaps the tail whatever is there (its range checked as
 *   munmap's: -EINVAL);
 * - growing needs the old range in one area (-EFAULT); in place when it
 *   ends the area and the space after it is free, else MAYMOVE moves it
 *   top-down (-ENOMEM without MAYMOVE or room).
 */
static inline int lm_mremap_(struct lm *m, uint64_t addr, uint64_t old_len,
			     uint64_t new_len, unsigned flags,
			     uint64_t new_addr, uint64_t *out)
{
	bool fixed = flags & UVMA_MREMAP_FIXED;
	bool dontunmap = flags & UVMA_MREMAP_DONTUNMAP;
	bool tail_out = new_len < old_len &&
			(addr + old_len < addr || addr + old_len > m->end);
	uint64_t keep = old_len < new_len ? old_len : new_len, area_end, to;
	int err;

	lm_begin(m);
	if (new_len > m->end)
		return -EINVAL;
	if (fixed && (!lm_in_window(m, new_addr, new_len) ||
		      (new_addr < addr + old_len && addr < new_addr + new_len)))
		return -EINVAL;
	if (!lm_mapped(m, addr))
		return -EFAULT;
	if (lm_sealed(lm_at(m, addr)))
		return -EPERM; /* a sealed area neither moves nor resizes */
	if (!old_len && !(lm_at(m, addr)->flags & UVMA_MAP_SHARED))
		return -EINVAL;
	area_end = lm_area_end(m, addr);
	if (fixed) {
		if (!old_len) {
			if (!lm_lock_future_ok(m, lm_at(m, addr)->vm, new_len))
				return -EAGAIN;
			err = lm_unmap_sealed(m, new_addr, new_len);
			if (err)
				return err;
			if (new_addr <= addr && addr < new_addr + new_len) {
				lm_clear(m, new_addr, new_len);
				return -EFAULT;
			}
			lm_dup(m, addr, new_addr, new_len);
		} else if (old_len == new_len) {
			err = lm_move_all(m, addr, old_len, new_addr,
					  dontunmap);
			lm_settle(m);
			if (err)
				return err;
		} else if (keep > area_end - addr) {
			return -EFAULT;
		} else if (new_len > old_len &&
			   !lm_lock_future_ok(m, lm_at(m, addr)->vm,
					      new_len - old_len)) {
			return -EAGAIN;
		} else {
			/* The destination is unmapped first, then a shrink's
			 * old tail; a seal stops either. */
			err = lm_unmap_sealed(m, new_addr, new_len);
			if (err)
				return err;
			if (tail_out) {
				lm_clear(m, new_addr, new_len);
				return -EINVAL;
			}
			if (old_len > new_len &&
			    lm_sealed_any(m, addr + new_len,
					  old_len - new_len)) {
				lm_clear(m, new_addr, new_len);
				return lm_unmap_sealed(m, addr + new_len,
						       old_len - new_len);
			}
			lm_move(m, addr, old_len, new_addr, new_len);
		}
		lm_settle(m);
		*out = new_addr;
		return 0;
	}
	if (dontunmap) {
		/* Same size, one area, anywhere free. */
		if (old_len > area_end - addr)
			return -EFAULT;
		err = lm_topdown(m, new_len, &to);
		if (err)
			return err;
		lm_move_all(m, addr, old_len, to, true);
		*out = to;
		return 0;
	}
	if (new_len <= old_len) {
		if (tail_out)
			return -EINVAL;
		err = lm_unmap_sealed(m, addr + new_len, old_len - new_len);
		if (err)
			return err;
		lm_clear(m, addr + new_len, old_len - new_len);
		*out = addr;
		return 0;
	}
	if (old_len > area_end - addr)
		return -EFAULT;
	if (!lm_lock_future_ok(m, lm_at(m, addr)->vm, new_len - old_len))
		return -EAGAIN;
	if (addr + old_len == area_end &&
	    lm_free(m, area_end, addr + new_len - area_end)) {
		struct lm_page t = *lm_at(m, area_end - m->page);

		lm_set(m, area_end, addr + new_len - area_end, &t, t.pgoff + 1);
		for (uint64_t a = area_end; a < addr + new_len; a += m->page)
			m->dirty[lm_index(m, a)] |= LM_LENIENT;
		lm_settle(m);
		*out = addr;
		return 0;
	}
	if (!(flags & UVMA_MREMAP_MAYMOVE))
		return -ENOMEM;
	err = lm_topdown(m, new_len, &to);
	if (err)
		return err;
	if (old_len)
		lm_move(m, addr, old_len, to, new_len);
	else
		lm_dup(m, addr, to, new_len);
	lm_settle(m);
	*out = to;
	return 0;
}

/* mremap (above); a locked area's growth is faulted in, errors
 * ignored. */
static inline int lm_mremap(struct lm *m, uint64_t addr, uint64_t old_len,
			    uint64_t new_len, unsigned flags, uint64_t new_addr,
			    uint64_t *out)
{
	int ret = lm_mremap_(m, addr, old_len, new_len, flags, new_addr, out);

	if (!ret && new_len > old_len && (lm_at(m, *out)->vm & UVMA_VM_LOCKED))
		lm_populate(m, *out + old_len, new_len - old_len,
			    LM_POPULATE_LOCKED, true);
	return ret;
}

/*
 * brk: below the heap's start only a query (0, nothing changes); the end
 * rounded up to pages must stay in the window; shrinking unmaps what the
 * heap gave up, growing needs the range free and, as Linux keeps it, the
 * page after the new end free too (a guard), and that page not in a
 * stack's guard gap. The heap is anonymous private
 * read-write memory. Without a heap (uvma's brk_start 0) everything but a
 * query of 0 is -ENOMEM. The end to report afterwards is m->brk.
 * One difference from Linux, uvma's: Linux keeps the old end when nothing
 * is mapped where the heap shrinks, uvma (and the model) shrinks all the
 * same; the fuzz target accepts both.
 */
static inline int lm_brk(struct lm *m, uint64_t brk)
{
	uint64_t mask = m->page - 1, old_end, new_end;
	struct lm_page t = {
		.mapped = true,
		.prot = UVMA_PROT_READ | UVMA_PROT_WRITE,
		.flags = LM_ANON_PRIV,
	};

	lm_begin(m);
	if (!m->brk_start)
		return brk ? -ENOMEM : 0;
	if (brk < m->brk_start)
		return 0;
	old_end = (m->brk + mask) & ~mask;
	new_end = brk > UINT64_MAX - mask ? 0 : (brk + mask) & ~mask;
	if (!new_end || new_end > m->end)
		return -ENOMEM;
	if (new_end < old_end) {
		int err = lm_unmap_sealed(m, new_end, old_end - new_end);

		if (err)
			return err;
		lm_clear(m, new_end, old_end - new_end);
	} else if (new_end > old_end) {
		if (!lm_free(m, old_end, new_end - old_end) ||
		    lm_mapped(m, new_end) ||
		    (new_end < m->end &&
		     lm_in_stack_gap(m, new_end + m->page)) ||
		    !lm_lock_future_ok(m, m->def_vm, new_end - old_end))
			return -ENOMEM;
		t.vm = m->def_vm | UVMA_VM_ACCOUNT; /* the heap is charged */
		lm_set(m, old_end, new_end - old_end, &t, old_end >> m->shift);
		lm_settle(m);
		lm_populate_new(m, old_end, new_end - old_end);
	}
	m->brk = brk;
	return 0;
}

/* ---- printing ------------------------------------------------------------ */

static inline void lm_print(FILE *out, const char *title, const struct lm *m)
{
	uint64_t s, e;

	fprintf(out, "%s (brk %#" PRIx64 "):\n", title, m->brk);
	for (uint64_t a = m->base; lm_next_area(m, a, &s, &e); a = e) {
		const struct lm_page *p = lm_at(m, s);

		fprintf(out,
			"  [%#" PRIx64 ", %#" PRIx64 ") prot %u flags %#x "
			"vm %#x id %#" PRIx64 " pgoff %#" PRIx64
			" user %p anon %#x%s\n",
			s, e, p->prot, p->flags, p->vm, p->id, p->pgoff,
			p->user, p->anon, p->cut ? " (cut)" : "");
	}
	for (unsigned k = 0; k < m->nchoice; k++)
		fprintf(out,
			"  choice: [%#" PRIx64 ", %#" PRIx64 ") from pgoff "
			"%#" PRIx64 " or %#" PRIx64 "\n",
			m->choice[k].addr, m->choice[k].addr + m->choice[k].len,
			m->choice[k].pgoff[0], m->choice[k].pgoff[1]);
}

#endif
