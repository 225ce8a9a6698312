/*
 * test_ops.c - the map operations of include/uvma.h (uvma_mmap, uvma_munmap,
 * uvma_mprotect, uvma_mremap, uvma_brk) through the public API, checked
 * against the header and Linux:
 *
 * - argument validation, one bad argument at a time, with the exact errno;
 * - results in clear cases: addresses returned, top-down placement from the
 *   window's top, hints, MAP_FIXED replacing in one step, FIXED_NOREPLACE,
 *   munmap over holes, mprotect stopping at a hole, mremap shrink, grow in
 *   place, move and FIXED, page offsets following moves, anonymous shared
 *   areas (pieces merge back, two mappings never merge, hidden file id),
 *   file offsets and user pointers deciding merges, brk;
 * - locking: after every operation no VMA is write-locked or has readers,
 *   VMAs that left the map are detached, the pool balances; an operation
 *   does not wait for readers of areas it does not change, and does wait
 *   for readers of areas it changes; a MAP_FIXED replacement never shows a
 *   hole to a concurrent fault;
 * - a random differential run against the page-level model of Linux the
 *   tests share (tests/lib/linux_model.h: maximal merging, top-down
 *   placement, mremap as Linux 6.17 and later do it, checked against the
 *   running kernel where it was unclear).
 *
 * Every call goes through a wrapper (x_mmap, ...) that checks the lock
 * state afterwards and, when the call failed, that the map is exactly as
 * before; a failing check prints the map before and after the last call.
 * `--case NAME` runs one case; the cases written for bugs found while
 * writing these tests run after the rest, so that a regression there does
 * not hide the others.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "linux_model.h"
#include "map_state.h"
#include "mm.h"
#include "ops.h"
#include "rcu.h"
#include "tree.h"
#include "uvma.h"
#include "vma.h"
#include "vma_lock.h"
#include "vma_util.h"
#include "wait.h"

#define PAGE	 4096ull
#define PG(n)	 ((uint64_t)(n)*PAGE)
#define WBASE	 0x10000ull	   /* the default window */
#define WEND	 0x7ffffffff000ull /* its end */
#define X	 0x40000000ull	   /* where most cases map */
#define SB	 0x100000ull	   /* base of the small windows */
#define ARRAY(a) (sizeof(a) / sizeof((a)[0]))

#define RD   UVMA_PROT_READ
#define RW   (UVMA_PROT_READ | UVMA_PROT_WRITE)
#define RX   (UVMA_PROT_READ | UVMA_PROT_EXEC)
#define NONE UVMA_PROT_NONE
#define PRIV UVMA_MAP_PRIVATE
#define SHR  UVMA_MAP_SHARED
#define ANON UVMA_MAP_ANONYMOUS
#define AP   (UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS)
#define AS   (UVMA_MAP_SHARED | UVMA_MAP_ANONYMOUS)
#define FIX  UVMA_MAP_FIXED
#define NOR  UVMA_MAP_FIXED_NOREPLACE
#define MAY  UVMA_MREMAP_MAYMOVE
#define MFIX (UVMA_MREMAP_MAYMOVE | UVMA_MREMAP_FIXED)

/* Distinct user pointers. */
static int tag_a, tag_b;
#define UA ((void *)&tag_a)
#define UB ((void *)&tag_b)

/* ---- context for failure messages ---------------------------------------- */

static struct uvma_mm *cur_mm;
static char cur_op[160];
static bool have_before; /* before_op holds the map before cur_op */

/* The map as the writer sees it (the test is the only thread then). */
static void print_map(FILE *out, struct uvma_mm *mm)
{
	struct tree_iter it;
	struct tree_entry e;

	rcu_read_enter();
	tree_iter_start(&it, &mm->tree, 0, UINT64_MAX);
	while (tree_iter_next(&it, &e)) {
		struct uvma_vma *v = e.ptr;

		fprintf(out,
			"  [%#" PRIx64 ", %#" PRIx64 ") prot %u flags %#x "
			"pgoff %#" PRIx64 " file %#" PRIx64
			" user %p refcnt %#x\n",
			e.start, e.end, v->prot, v->flags, v->pgoff, v->file_id,
			v->user, test_refcnt(v));
	}
	rcu_read_exit();
}

static void print_before(FILE *out);

static void print_context(FILE *out)
{
	fprintf(out, "last operation: %s\n", cur_op);
	if (cur_mm) {
		print_before(out);
		fprintf(out, "map now:\n");
		print_map(out, cur_mm);
	}
}

static struct uvma_mm *new_mm_cfg(uint64_t base, uint64_t size,
				  uint64_t brk_start)
{
	struct uvma_mm_config cfg;
	struct uvma_mm *mm = NULL;

	uvma_mm_config_init(&cfg);
	if (size) {
		cfg.base = base;
		cfg.size = size;
	}
	cfg.brk_start = brk_start;
	CHECK(uvma_mm_create(&cfg, &mm) == 0);
	cur_mm = mm;
	return mm;
}

static struct uvma_mm *new_mm(void)
{
	return new_mm_cfg(0, 0, 0);
}

static void done_mm(struct uvma_mm *mm)
{
	struct vma_pool_stats ps;

	cur_mm = NULL;
	have_before = false;
	uvma_mm_destroy(mm);
	/* Every case's space is the only one: all objects are back. */
	vma_pool_stats(&ps);
	CHECK_EQ_U64(ps.objects, ps.free);
}

/* ---- snapshots (tests/lib/map_state.h) ---------------------------------- */

/* The map before the operation in progress (or the last one). */
static struct state before_op;

static void print_before(FILE *out)
{
	if (!have_before)
		return;
	fprintf(out, "map before it:\n");
	for (size_t i = 0; i < before_op.n; i++) {
		const struct map_area *a = &before_op.a[i];

		fprintf(out,
			"  [%#" PRIx64 ", %#" PRIx64 ") prot %u flags %#x "
			"pgoff %#" PRIx64 " file %#" PRIx64 " user %p\n",
			a->start, a->end, a->prot, a->flags, a->pgoff,
			a->file_id, a->user);
	}
}

/*
 * After an operation: quiet, the VMAs that left the map detached (no
 * allocation can have taken them since), and, when it failed (keep:
 * Linux's half-done mprotect excepted), the map exactly as before.
 */
static void after_op(struct uvma_mm *mm, const struct state *before, int r,
		     bool keep)
{
	static struct state now;

	check_quiet(mm);
	state_take(mm, &now);
	for (size_t i = 0; i < before->n; i++)
		if (!state_has(&now, before->a[i].obj))
			CHECK_EQ_U64(test_refcnt(before->a[i].obj), 0);
	if (r && keep)
		CHECK(state_same(before, &now, true));
}

/* ---- the operations, checked --------------------------------------------- */

static int x_mmap(struct uvma_mm *mm, uint64_t addr, uint64_t len,
		  unsigned prot, unsigned flags, uint64_t file_id,
		  uint64_t offset, void *user, uint64_t *out)
{
	int r;

	snprintf(cur_op, sizeof(cur_op),
		 "mmap(%#" PRIx64 ", %#" PRIx64 ", %u, %#x, %" PRIu64
		 ", %#" PRIx64 ")",
		 addr, len, prot, flags, file_id, offset);
	state_take(mm, &before_op);
	have_before = true;
	r = uvma_mmap(mm, addr, len, prot, flags, file_id, offset, user, out);
	after_op(mm, &before_op, r, true);
	return r;
}

static int x_munmap(struct uvma_mm *mm, uint64_t addr, uint64_t len)
{
	int r;

	snprintf(cur_op, sizeof(cur_op), "munmap(%#" PRIx64 ", %#" PRIx64 ")",
		 addr, len);
	state_take(mm, &before_op);
	have_before = true;
	r = uvma_munmap(mm, addr, len);
	after_op(mm, &before_op, r, true);
	return r;
}

static int x_mprotect(struct uvma_mm *mm, uint64_t addr, uint64_t len,
		      unsigned prot)
{
	int r;

	snprintf(cur_op, sizeof(cur_op),
		 "mprotect(%#" PRIx64 ", %#" PRIx64 ", %u)", addr, len, prot);
	state_take(mm, &before_op);
	have_before = true;
	r = uvma_mprotect(mm, addr, len, prot);
	/* -ENOMEM may come after changing what lies before a hole. */
	after_op(mm, &before_op, r, r != -ENOMEM);
	return r;
}

static int x_mremap(struct uvma_mm *mm, uint64_t addr, uint64_t old_len,
		    uint64_t new_len, unsigned flags, uint64_t new_addr,
		    uint64_t *out)
{
	int r;

	snprintf(cur_op, sizeof(cur_op),
		 "mremap(%#" PRIx64 ", %#" PRIx64 ", %#" PRIx64
		 ", %#x, %#" PRIx64 ")",
		 addr, old_len, new_len, flags, new_addr);
	state_take(mm, &before_op);
	have_before = true;
	r = uvma_mremap(mm, addr, old_len, new_len, flags, new_addr, out);
	after_op(mm, &before_op, r, true);
	return r;
}

static int x_brk(struct uvma_mm *mm, uint64_t brk, uint64_t *out)
{
	int r;

	snprintf(cur_op, sizeof(cur_op), "brk(%#" PRIx64 ")", brk);
	state_take(mm, &before_op);
	have_before = true;
	r = uvma_brk(mm, brk, out);
	after_op(mm, &before_op, r, true);
	return r;
}

/* Shorthands for calls that must succeed, returning the address. */
static uint64_t map_at(struct uvma_mm *mm, uint64_t addr, uint64_t len,
		       unsigned prot, unsigned flags, uint64_t file_id,
		       uint64_t offset, void *user)
{
	uint64_t out = 0;

	CHECK_EQ_U64(x_mmap(mm, addr, len, prot, flags | FIX, file_id, offset,
			    user, &out),
		     0);
	CHECK_EQ_U64(out, addr);
	return out;
}

static uint64_t anon_at(struct uvma_mm *mm, uint64_t addr, uint64_t len,
			unsigned prot)
{
	return map_at(mm, addr, len, prot, AP, 0, 0, NULL);
}

#define CHECK_ERR(call, err) CHECK_EQ_U64((int64_t)(call), (int64_t)(err))

/* ---- expected maps ---------------------------------------------------------
 */

#define MAPS_MAX 256

struct maps_buf {
	size_t n;
	struct uvma_area_info a[MAPS_MAX];
};

static int maps_cb(const struct uvma_area_info *a, void *arg)
{
	struct maps_buf *b = arg;

	CHECK(b->n < MAPS_MAX);
	b->a[b->n++] = *a;
	return 0;
}

static void print_areas(const char *what, const struct uvma_area_info *a,
			size_t n)
{
	fprintf(stderr, "%s (%zu):\n", what, n);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr,
			"  [%#" PRIx64 ", %#" PRIx64 ") prot %u flags %#x "
			"pgoff %#" PRIx64 " file %" PRIu64 " user %p\n",
			a[i].start, a[i].end, a[i].prot, a[i].flags, a[i].pgoff,
			a[i].file_id, a[i].user);
}

/* What uvma_maps shows of [lo, hi) is exactly want[0..n). */
static void expect_map(struct uvma_mm *mm, uint64_t lo, uint64_t hi,
		       const struct uvma_area_info *want, size_t n, int line)
{
	static struct maps_buf got;
	bool same;

	got.n = 0;
	CHECK_EQ_U64(uvma_maps(mm, lo, hi, maps_cb, &got), 0);
	same = got.n == n;
	for (size_t i = 0; same && i < n; i++) {
		const struct uvma_area_info *g = &got.a[i], *w = &want[i];

		same = g->start == w->start && g->end == w->end &&
		       g->prot == w->prot && g->flags == w->flags &&
		       g->pgoff == w->pgoff && g->file_id == w->file_id &&
		       g->user == w->user;
	}
	if (!same) {
		fflush(stdout);
		print_areas("want", want, n);
		print_areas("got", got.a, got.n);
		check_fail(__FILE__, line, "the map is not as expected");
	}
}

/* An area as uvma_area_info: anonymous private areas that never moved have
 * pgoff = start / page size, whatever splits and merges they went through. */
#define AREA(s, e, pr, fl, pg, fid, u)                                         \
	{                                                                      \
		.start = (s), .end = (e), .prot = (pr), .flags = (fl),         \
		.pgoff = (pg), .file_id = (fid), .user = (u)                   \
	}
#define ANONA(s, e, pr) AREA((s), (e), (pr), AP, (s) / PAGE, 0, NULL)

#define EXPECT(mm, lo, hi, ...)                                                \
	do {                                                                   \
		const struct uvma_area_info want_[] = { __VA_ARGS__ };         \
		expect_map((mm), (lo), (hi), want_, ARRAY(want_), __LINE__);   \
	} while (0)
#define EXPECT_NONE(mm, lo, hi) expect_map((mm), (lo), (hi), NULL, 0, __LINE__)

/* The VMA object covering addr (the test is the only thread). */
static struct uvma_vma *obj_at(struct uvma_mm *mm, uint64_t addr)
{
	struct tree_entry e;
	bool found;

	rcu_read_enter();
	found = tree_find(&mm->tree, addr, &e);
	rcu_read_exit();
	return found ? e.ptr : NULL;
}

/* ---- mmap ------------------------------------------------------------------
 */

static void case_mmap_args(void)
{
	struct uvma_mm *mm = new_mm();
	uint64_t out = 0xdead;

	/* One bad argument at a time; everything else is valid. */
	CHECK_ERR(x_mmap(mm, 0, 0, RW, AP, 0, 0, NULL, &out), -EINVAL);
	CHECK_ERR(x_mmap(mm, X, 0, RW, AP | FIX, 0, 0, NULL, &out), -EINVAL);
	CHECK_ERR(x_mmap(mm, 0, PAGE, RW, AP | 0x40, 0, 0, NULL, &out),
		  -EINVAL);
	CHECK_ERR(x_mmap(mm, 0, PAGE, RW, AP | 0x80000000u, 0, 0, NULL, &out),
		  -EINVAL);
	CHECK_ERR(x_mmap(mm, 0, PAGE, 0x10, AP, 0, 0, NULL, &out), -EINVAL);
	CHECK_ERR(x_mmap(mm, 0, PAGE, RW | 0x100, AP, 0, 0, NULL, &out),
		  -EINVAL);
	/* Not exactly one of SHARED and PRIVATE. */
	CHECK_ERR(x_mmap(mm, 0, PAGE, RW, ANON, 0, 0, NULL, &out), -EINVAL);
	CHECK_ERR(x_mmap(mm, 0, PAGE, RW, AP | SHR, 0, 0, NULL, &out), -EINVAL);
	CHECK_ERR(x_mmap(mm, 0, PAGE, RD, PRIV | SHR, 3, 0, NULL, &out),
		  -EINVAL);
	CHECK_ERR(x_mmap(mm, 0, PAGE, RD, 0, 3, 0, NULL, &out), -EINVAL);
	/* Unaligned offsets, anonymous (checked all the same) or file. */
	CHECK_ERR(x_mmap(mm, 0, PAGE, RW, AP, 0, 0x800, NULL, &out), -EINVAL);
	CHECK_ERR(x_mmap(mm, 0, PAGE, RD, PRIV, 3, 1, NULL, &out), -EINVAL);
	/* Unaligned addresses with FIXED or FIXED_NOREPLACE. */
	CHECK_ERR(x_mmap(mm, X + 0x800, PAGE, RW, AP | FIX, 0, 0, NULL, &out),
		  -EINVAL);
	CHECK_ERR(x_mmap(mm, X + 1, PAGE, RW, AP | NOR, 0, 0, NULL, &out),
		  -EINVAL);
	/* Lengths that overflow when rounded, or exceed the window. */
	CHECK_ERR(x_mmap(mm, 0, UINT64_MAX, RW, AP, 0, 0, NULL, &out), -ENOMEM);
	CHECK_ERR(
		x_mmap(mm, 0, UINT64_MAX - PAGE + 2, RW, AP, 0, 0, NULL, &out),
		-ENOMEM);
	CHECK_ERR(x_mmap(mm, 0, WEND - WBASE + PAGE, RW, AP, 0, 0, NULL, &out),
		  -ENOMEM);
	/* FIXED outside the window. */
	CHECK_ERR(x_mmap(mm, PAGE, PAGE, RW, AP | FIX, 0, 0, NULL, &out),
		  -ENOMEM);
	CHECK_ERR(
		x_mmap(mm, WBASE - PAGE, PG(2), RW, AP | FIX, 0, 0, NULL, &out),
		-ENOMEM);
	CHECK_ERR(
		x_mmap(mm, WEND - PAGE, PG(2), RW, AP | FIX, 0, 0, NULL, &out),
		-ENOMEM);
	CHECK_ERR(x_mmap(mm, WEND, PAGE, RW, AP | FIX, 0, 0, NULL, &out),
		  -ENOMEM);
	CHECK_ERR(x_mmap(mm, UINT64_MAX & ~(PAGE - 1), PAGE, RW, AP | NOR, 0, 0,
			 NULL, &out),
		  -ENOMEM);
	/* A file mapping needs a file id, and not one of the hidden ones. */
	CHECK_ERR(x_mmap(mm, 0, PAGE, RD, PRIV, 0, 0, NULL, &out), -EBADF);
	CHECK_ERR(
		x_mmap(mm, 0, PAGE, RD, SHR, OPS_SHMEM_ID_BASE, 0, NULL, &out),
		-EBADF);
	CHECK_ERR(x_mmap(mm, 0, PAGE, RD, SHR, UINT64_MAX, 0, NULL, &out),
		  -EBADF);
	CHECK_EQ_U64(out, 0xdead);
	EXPECT_NONE(mm, 0, UINT64_MAX);

	/* Edges that are fine: the window's first and last pages, a length
	 * rounded up, an anonymous mapping given a file id (ignored, as
	 * Linux ignores the fd), and FIXED_NOREPLACE on a free range. */
	map_at(mm, WBASE, PAGE, RW, AP, 0, 0, NULL);
	map_at(mm, WEND - PAGE, PAGE, RD, AP, 0, 0, NULL);
	CHECK_ERR(x_mmap(mm, X, 1, RX, AP | FIX, 99, PG(5), NULL, &out), 0);
	CHECK_EQ_U64(out, X);
	CHECK_ERR(
		x_mmap(mm, X + PG(4), PG(2) - 7, RW, AP | NOR, 0, 0, UA, &out),
		0);
	CHECK_EQ_U64(out, X + PG(4));
	EXPECT(mm, 0, UINT64_MAX, ANONA(WBASE, WBASE + PAGE, RW),
	       ANONA(X, X + PAGE, RX),
	       AREA(X + PG(4), X + PG(6), RW, AP, (X + PG(4)) / PAGE, 0, UA),
	       ANONA(WEND - PAGE, WEND, RD));
	/* out may be NULL. */
	CHECK_ERR(x_mmap(mm, X + PG(8), PAGE, RW, AP | FIX, 0, 0, UA, NULL), 0);
	/* FIXED_NOREPLACE over anything mapped, even one page of it. */
	CHECK_ERR(x_mmap(mm, X, PAGE, RW, AP | NOR, 0, 0, NULL, &out), -EEXIST);
	CHECK_ERR(x_mmap(mm, X + PG(2), PG(3), RW, AP | NOR, 0, 0, NULL, &out),
		  -EEXIST);
	CHECK_ERR(x_mmap(mm, X + PG(5), PG(8), RW, AP | NOR, 0, 0, NULL, &out),
		  -EEXIST);
	/* Both FIXED flags: NOREPLACE wins, as on Linux. */
	CHECK_ERR(x_mmap(mm, X + PG(5), PAGE, RW, AP | FIX | NOR, 0, 0, NULL,
			 &out),
		  -EEXIST);
	done_mm(mm);
}

/* Placement in a 32-page window [SB, SB + 32 pages). */
static void case_mmap_place(void)
{
	const uint64_t top = SB + PG(32);
	struct uvma_mm *mm = new_mm_cfg(SB, PG(32), 0);
	uint64_t out = 0;

	/* No hint: the highest free range, from the window's top down. */
	CHECK_ERR(x_mmap(mm, 0, PG(4), RW, AP, 0, 0, NULL, &out), 0);
	CHECK_EQ_U64(out, top - PG(4));
	CHECK_ERR(x_mmap(mm, 0, PG(2), RD, AP, 0, 0, NULL, &out), 0);
	CHECK_EQ_U64(out, top - PG(6));
	/* The next one continues the previous one's offsets: it merges. */
	CHECK_ERR(x_mmap(mm, 0, PG(2) - 100, RD, AP, 0, 0, NULL, &out), 0);
	CHECK_EQ_U64(out, top - PG(8));
	EXPECT(mm, 0, UINT64_MAX, ANONA(top - PG(8), top - PG(4), RD),
	       ANONA(top - PG(4), top, RW));
	/* A free hint is taken. */
	CHECK_ERR(x_mmap(mm, SB + PG(2), PAGE, RW, AP, 0, 0, NULL, &out), 0);
	CHECK_EQ_U64(out, SB + PG(2));
	/* A hint that is taken, partly taken, or runs past the window's end
	 * is not: the highest free range is. */
	CHECK_ERR(x_mmap(mm, SB + PG(2), PAGE, RX, AP, 0, 0, NULL, &out), 0);
	CHECK_EQ_U64(out, top - PG(9));
	CHECK_ERR(x_mmap(mm, SB + PG(1), PG(2), RD, AP, 0, 0, NULL, &out), 0);
	CHECK_EQ_U64(out, top - PG(11));
	CHECK_ERR(x_mmap(mm, top - PAGE, PG(2), NONE, AP, 0, 0, NULL, &out), 0);
	CHECK_EQ_U64(out, top - PG(13));
	EXPECT(mm, 0, UINT64_MAX, ANONA(SB + PG(2), SB + PG(3), RW),
	       ANONA(top - PG(13), top - PG(11), NONE),
	       ANONA(top - PG(11), top - PG(9), RD),
	       ANONA(top - PG(9), top - PG(8), RX),
	       ANONA(top - PG(8), top - PG(4), RD),
	       ANONA(top - PG(4), top, RW));
	/* Open a 2-page hole high up: a 2-page request takes it, a 3-page
	 * one goes below everything. */
	CHECK_ERR(x_munmap(mm, top - PG(11), PG(2)), 0);
	CHECK_ERR(x_mmap(mm, 0, PG(3), RW, AP, 0, 0, UA, &out), 0);
	CHECK_EQ_U64(out, top - PG(16));
	CHECK_ERR(x_mmap(mm, 0, PG(2), RW, AP, 0, 0, UB, &out), 0);
	CHECK_EQ_U64(out, top - PG(11));
	/* Free now: [SB, SB + 2p) and [SB + 3p, top - 16p), 13 pages. */
	CHECK_ERR(x_mmap(mm, 0, PG(14), RW, AP, 0, 0, NULL, &out), -ENOMEM);
	CHECK_ERR(x_mmap(mm, 0, PG(33), RW, AP, 0, 0, NULL, &out), -ENOMEM);
	CHECK_ERR(x_mmap(mm, 0, PG(13), RW, AP, 0, 0, NULL, &out), 0);
	CHECK_EQ_U64(out, SB + PG(3));
	CHECK_ERR(x_mmap(mm, 0, PG(3), RW, AP, 0, 0, NULL, &out), -ENOMEM);
	CHECK_ERR(x_mmap(mm, 0, PG(2), RD, AP, 0, 0, NULL, &out), 0);
	CHECK_EQ_U64(out, SB);
	CHECK_ERR(x_mmap(mm, 0, PAGE, RW, AP, 0, 0, NULL, &out), -ENOMEM);
	done_mm(mm);
}

/* MAP_FIXED replaces whatever is in its range, in one step. */
static void case_mmap_fixed(void)
{
	struct uvma_mm *mm = new_mm();

	anon_at(mm, X, PG(4), RW);
	anon_at(mm, X + PG(4), PG(4), RD);
	anon_at(mm, X + PG(8), PG(4), RW);
	anon_at(mm, X + PG(14), PG(2), RX);
	/* Over part of the first, all of the second, part of the third. */
	map_at(mm, X + PG(2), PG(8), RD, AP, 0, 0, UA);
	EXPECT(mm, X, X + PG(16), ANONA(X, X + PG(2), RW),
	       AREA(X + PG(2), X + PG(10), RD, AP, (X + PG(2)) / PAGE, 0, UA),
	       ANONA(X + PG(10), X + PG(12), RW),
	       ANONA(X + PG(14), X + PG(16), RX));
	/* Over a hole and the edge of an area. */
	map_at(mm, X + PG(11), PG(4), RW, AP, 0, 0, NULL);
	EXPECT(mm, X, X + PG(16), ANONA(X, X + PG(2), RW),
	       AREA(X + PG(2), X + PG(10), RD, AP, (X + PG(2)) / PAGE, 0, UA),
	       ANONA(X + PG(10), X + PG(15), RW),
	       ANONA(X + PG(15), X + PG(16), RX));
	/* The same attributes mapped again over the middle of an area merge
	 * back into one area (the offsets are those of the address). */
	map_at(mm, X + PG(12), PG(2), RW, AP, 0, 0, NULL);
	EXPECT(mm, X, X + PG(16), ANONA(X, X + PG(2), RW),
	       AREA(X + PG(2), X + PG(10), RD, AP, (X + PG(2)) / PAGE, 0, UA),
	       ANONA(X + PG(10), X + PG(15), RW),
	       ANONA(X + PG(15), X + PG(16), RX));
	/* Bridging two areas with the same attributes: one area. */
	map_at(mm, X + PG(2), PG(8), RW, AP, 0, 0, NULL);
	EXPECT(mm, X, X + PG(16), ANONA(X, X + PG(15), RW),
	       ANONA(X + PG(15), X + PG(16), RX));
	done_mm(mm);
}

/* ---- munmap ----------------------------------------------------------------
 */

static void case_munmap(void)
{
	struct uvma_mm *mm = new_mm();
	const uint64_t y = X + 0x100000;

	anon_at(mm, X, PG(4), RW);
	CHECK_ERR(x_munmap(mm, X + 1, PAGE), -EINVAL);
	CHECK_ERR(x_munmap(mm, X + 0x800, PAGE), -EINVAL);
	CHECK_ERR(x_munmap(mm, X, 0), -EINVAL);
	CHECK_ERR(x_munmap(mm, WBASE - PAGE, PG(2)), -EINVAL);
	CHECK_ERR(x_munmap(mm, WEND - PAGE, PG(2)), -EINVAL);
	CHECK_ERR(x_munmap(mm, WEND, PAGE), -EINVAL);
	CHECK_ERR(x_munmap(mm, X, UINT64_MAX), -EINVAL);
	CHECK_ERR(x_munmap(mm, X, UINT64_MAX - X - PAGE + 2), -EINVAL);
	CHECK_ERR(x_munmap(mm, X, UINT64_MAX - PG(2)), -EINVAL);
	EXPECT(mm, 0, UINT64_MAX, ANONA(X, X + PG(4), RW));

	/* Nothing mapped there: fine. The window's edges: fine. */
	CHECK_ERR(x_munmap(mm, y, PG(16)), 0);
	CHECK_ERR(x_munmap(mm, WBASE, PAGE), 0);
	CHECK_ERR(x_munmap(mm, WEND - PAGE, PAGE), 0);
	/* A length rounds up to pages. */
	CHECK_ERR(x_munmap(mm, X, 1), 0);
	EXPECT(mm, 0, UINT64_MAX, ANONA(X + PAGE, X + PG(4), RW));

	/* Over a hole, splitting an area on each side. */
	anon_at(mm, X + PG(6), PG(4), RD);
	CHECK_ERR(x_munmap(mm, X + PG(2), PG(6)), 0);
	EXPECT(mm, 0, UINT64_MAX, ANONA(X + PAGE, X + PG(2), RW),
	       ANONA(X + PG(8), X + PG(10), RD));
	/* In the middle of one area: two pieces with their offsets. */
	map_at(mm, y, PG(8), RD, PRIV, 7, PG(16), UA);
	CHECK_ERR(x_munmap(mm, y + PG(2), PG(3)), 0);
	EXPECT(mm, y, y + PG(8), AREA(y, y + PG(2), RD, PRIV, 16, 7, UA),
	       AREA(y + PG(5), y + PG(8), RD, PRIV, 21, 7, UA));
	/* Several areas and holes at once, exact edges. */
	CHECK_ERR(x_munmap(mm, X, y + PG(8) - X), 0);
	EXPECT_NONE(mm, 0, UINT64_MAX);
	done_mm(mm);
}

/* ---- mprotect --------------------------------------------------------------
 */

static void case_mprotect(void)
{
	struct uvma_mm *mm = new_mm();
	struct uvma_vma *v;

	anon_at(mm, X, PG(8), RW);
	/* Linux's order: the start's alignment, len 0 (success, even with
	 * bad bits), the end's overflow, then the bits. */
	CHECK_ERR(x_mprotect(mm, X + 1, PAGE, RD), -EINVAL);
	CHECK_ERR(x_mprotect(mm, X + 1, 0, RD), -EINVAL);
	CHECK_ERR(x_mprotect(mm, X, 0, 0x10), 0);
	CHECK_ERR(x_mprotect(mm, 0x1000, 0, RD), 0);
	CHECK_ERR(x_mprotect(mm, X, PAGE, 0x10), -EINVAL);
	CHECK_ERR(x_mprotect(mm, X, PAGE, RW | 0x1000), -EINVAL);
	CHECK_ERR(x_mprotect(mm, X, UINT64_MAX, RD), -ENOMEM);
	CHECK_ERR(x_mprotect(mm, X, 0 - X, RD), -ENOMEM);
	CHECK_ERR(x_mprotect(mm, X, 0 - X, 0x10), -ENOMEM);
	/* Nothing mapped at the start: -ENOMEM, nothing changed. */
	CHECK_ERR(x_mprotect(mm, X - PAGE, PG(2), RD), -ENOMEM);
	CHECK_ERR(x_mprotect(mm, X + PG(8), PAGE, RD), -ENOMEM);
	CHECK_ERR(x_mprotect(mm, WEND, PAGE, RD), -ENOMEM);
	EXPECT(mm, 0, UINT64_MAX, ANONA(X, X + PG(8), RW));

	/* The same protection changes nothing, not even the object. */
	v = obj_at(mm, X);
	CHECK_ERR(x_mprotect(mm, X + PAGE, PAGE, RW), 0);
	CHECK(obj_at(mm, X) == v);
	EXPECT(mm, 0, UINT64_MAX, ANONA(X, X + PG(8), RW));

	/* A split in the middle, then back: one area again. A length rounds
	 * up to pages. */
	CHECK_ERR(x_mprotect(mm, X + PG(2), PG(2) - 5, RD), 0);
	EXPECT(mm, 0, UINT64_MAX, ANONA(X, X + PG(2), RW),
	       ANONA(X + PG(2), X + PG(4), RD),
	       ANONA(X + PG(4), X + PG(8), RW));
	CHECK_ERR(x_mprotect(mm, X + PG(2), PG(2), RW), 0);
	EXPECT(mm, 0, UINT64_MAX, ANONA(X, X + PG(8), RW));

	/* The head and the tail: merging into the previous, then the next. */
	anon_at(mm, X - PG(2), PG(2), RD);
	anon_at(mm, X + PG(8), PG(2), NONE);
	CHECK_ERR(x_mprotect(mm, X, PAGE, RD), 0);
	EXPECT(mm, 0, UINT64_MAX, ANONA(X - PG(2), X + PAGE, RD),
	       ANONA(X + PAGE, X + PG(8), RW),
	       ANONA(X + PG(8), X + PG(10), NONE));
	CHECK_ERR(x_mprotect(mm, X + PG(7), PAGE, NONE), 0);
	EXPECT(mm, 0, UINT64_MAX, ANONA(X - PG(2), X + PAGE, RD),
	       ANONA(X + PAGE, X + PG(7), RW),
	       ANONA(X + PG(7), X + PG(10), NONE));
	/* A whole area matching both neighbours: all three become one. */
	CHECK_ERR(x_mprotect(mm, X + PG(7), PG(3), RD), 0);
	CHECK_ERR(x_mprotect(mm, X + PAGE, PG(6), RD), 0);
	EXPECT(mm, 0, UINT64_MAX, ANONA(X - PG(2), X + PG(10), RD));
	/* Over several areas at once, and EXEC and NONE kept as given. */
	CHECK_ERR(x_mprotect(mm, X - PG(2), PG(3), RX), 0);
	CHECK_ERR(x_mprotect(mm, X + PG(3), PG(3), NONE), 0);
	CHECK_ERR(x_mprotect(mm, X, PG(4), RW | UVMA_PROT_EXEC), 0);
	EXPECT(mm, 0, UINT64_MAX, ANONA(X - PG(2), X, RX),
	       ANONA(X, X + PG(4), RW | UVMA_PROT_EXEC),
	       ANONA(X + PG(4), X + PG(6), NONE),
	       ANONA(X + PG(6), X + PG(10), RD));

	/* A hole: the part before it changes, then -ENOMEM. */
	CHECK_ERR(x_munmap(mm, X + PG(5), PAGE), 0);
	CHECK_ERR(x_mprotect(mm, X + PG(2), PG(6), RD), -ENOMEM);
	check_quiet(mm);
	EXPECT(mm, 0, UINT64_MAX, ANONA(X - PG(2), X, RX),
	       ANONA(X, X + PG(2), RW | UVMA_PROT_EXEC),
	       ANONA(X + PG(2), X + PG(5), RD),
	       ANONA(X + PG(6), X + PG(10), RD));
	/* Beyond the end of the last area. */
	CHECK_ERR(x_mprotect(mm, X + PG(6), PG(8), RW), -ENOMEM);
	EXPECT(mm, X + PG(6), UINT64_MAX, ANONA(X + PG(6), X + PG(10), RW));
	done_mm(mm);
}

/* ---- mremap ----------------------------------------------------------------
 */

static void case_mremap_args(void)
{
	struct uvma_mm *mm = new_mm();
	uint64_t out = 0xdead;

	anon_at(mm, X, PG(4), RW);
	anon_at(mm, X + PG(4), PG(4), RD);
	CHECK_ERR(x_mremap(mm, X, PAGE, PAGE, 0x4, 0, &out), -EINVAL);
	CHECK_ERR(x_mremap(mm, X, PAGE, PAGE, MAY | 0x100, 0, &out), -EINVAL);
	CHECK_ERR(x_mremap(mm, X, PAGE, PAGE, UVMA_MREMAP_FIXED, X + PG(20),
			   &out),
		  -EINVAL);
	CHECK_ERR(x_mremap(mm, X + 1, PAGE, PAGE, 0, 0, &out), -EINVAL);
	CHECK_ERR(x_mremap(mm, X, PAGE, 0, 0, 0, &out), -EINVAL);
	CHECK_ERR(x_mremap(mm, X, PAGE, UINT64_MAX, MAY, 0, &out), -EINVAL);
	CHECK_ERR(x_mremap(mm, X, PAGE, PAGE, MFIX, X + PG(20) + 1, &out),
		  -EINVAL);
	/* FIXED: old and new ranges may not overlap, even by a page. */
	CHECK_ERR(x_mremap(mm, X, PG(2), PG(2), MFIX, X + PAGE, &out), -EINVAL);
	CHECK_ERR(x_mremap(mm, X + PAGE, PG(2), PG(2), MFIX, X, &out), -EINVAL);
	CHECK_ERR(x_mremap(mm, X, PG(2), PG(8), MFIX, X - PG(4), &out),
		  -EINVAL);
	/* FIXED: a destination past the window's end, or below its start. */
	CHECK_ERR(x_mremap(mm, X, PAGE, PG(2), MFIX, WEND - PAGE, &out),
		  -EINVAL);
	CHECK_ERR(x_mremap(mm, X, PAGE, PAGE, MFIX, WBASE - PAGE, &out),
		  -EINVAL);
	CHECK_ERR(x_mremap(mm, X, PAGE, PG(2), MFIX, WBASE - PAGE, &out),
		  -EINVAL);
	CHECK_ERR(x_mremap(mm, X, PAGE, PAGE, MFIX, UINT64_MAX & ~(PAGE - 1),
			   &out),
		  -EINVAL);
	/* Nothing mapped at the old address. */
	CHECK_ERR(x_mremap(mm, X - PAGE, PAGE, PG(2), MAY, 0, &out), -EFAULT);
	CHECK_ERR(x_mremap(mm, X - PAGE, PAGE, PAGE, 0, 0, &out), -EFAULT);
	CHECK_ERR(x_mremap(mm, X - PAGE, PAGE, PAGE, MFIX, X + PG(20), &out),
		  -EFAULT);
	/* Growing an old range that runs past its area (into the next
	 * one), in place, moved or FIXED. */
	CHECK_ERR(x_mremap(mm, X + PG(2), PG(4), PG(6), MAY, 0, &out), -EFAULT);
	CHECK_ERR(x_mremap(mm, X + PG(2), PG(4), PG(6), 0, 0, &out), -EFAULT);
	CHECK_ERR(x_mremap(mm, X, PG(5), PG(6), MFIX, X + PG(20), &out),
		  -EFAULT);
	/* Growing without room or MAYMOVE. */
	CHECK_ERR(x_mremap(mm, X, PG(4), PG(5), 0, 0, &out), -ENOMEM);
	CHECK_ERR(x_mremap(mm, X + PG(2), PG(2), PG(3), 0, 0, &out), -ENOMEM);
	/* Part of an area that does not end it cannot grow in place. */
	CHECK_ERR(x_mremap(mm, X + PG(4), PAGE, PG(2), 0, 0, &out), -ENOMEM);
	CHECK_EQ_U64(out, 0xdead);
	EXPECT(mm, 0, UINT64_MAX, ANONA(X, X + PG(4), RW),
	       ANONA(X + PG(4), X + PG(8), RD));
	done_mm(mm);
}

static void case_mremap(void)
{
	const uint64_t top = SB + PG(64);
	struct uvma_mm *mm = new_mm_cfg(SB, PG(64), 0);
	uint64_t out = 0;

	/* Shrink: the tail is unmapped, the address stays; the same size is
	 * a no-op. Lengths round up. */
	anon_at(mm, SB, PG(8), RW);
	CHECK_ERR(x_mremap(mm, SB, PG(8), PG(3) - 9, 0, 0, &out), 0);
	CHECK_EQ_U64(out, SB);
	EXPECT(mm, 0, UINT64_MAX, ANONA(SB, SB + PG(3), RW));
	CHECK_ERR(x_mremap(mm, SB, PG(3), PG(3), 0, 0, &out), 0);
	CHECK_EQ_U64(out, SB);
	/* Shrinking runs over holes and other areas like munmap. */
	anon_at(mm, SB + PG(4), PG(2), RD);
	CHECK_ERR(x_mremap(mm, SB, PG(8), PAGE, 0, 0, &out), 0);
	EXPECT(mm, 0, UINT64_MAX, ANONA(SB, SB + PAGE, RW));

	/* Grow in place when the range after the area is free; it merges
	 * into a next area that continues it. */
	anon_at(mm, SB + PG(6), PG(2), RW);
	CHECK_ERR(x_mremap(mm, SB, PAGE, PG(4), 0, 0, &out), 0);
	CHECK_EQ_U64(out, SB);
	EXPECT(mm, 0, UINT64_MAX, ANONA(SB, SB + PG(4), RW),
	       ANONA(SB + PG(6), SB + PG(8), RW));
	CHECK_ERR(x_mremap(mm, SB + PG(2), PG(2), PG(4), 0, 0, &out), 0);
	CHECK_EQ_U64(out, SB + PG(2));
	EXPECT(mm, 0, UINT64_MAX, ANONA(SB, SB + PG(8), RW));

	/* No room after it: MAYMOVE moves it to the top of the window; an
	 * anonymous private area's offset follows its new address. */
	anon_at(mm, SB + PG(8), PAGE, RD);
	CHECK_ERR(x_mremap(mm, SB, PG(8), PG(10), MAY, 0, &out), 0);
	CHECK_EQ_U64(out, top - PG(10));
	EXPECT(mm, 0, UINT64_MAX, ANONA(SB + PG(8), SB + PG(9), RD),
	       ANONA(top - PG(10), top, RW));
	/* Part of an area, moved: the rest stays, with its offsets. */
	CHECK_ERR(x_mremap(mm, top - PG(6), PG(2), PG(3), MAY, 0, &out), 0);
	CHECK_EQ_U64(out, top - PG(13));
	/* The moved piece merged with what lies above it: its offset
	 * continues it, as an untouched area's does on Linux. */
	EXPECT(mm, 0, UINT64_MAX, ANONA(SB + PG(8), SB + PG(9), RD),
	       ANONA(top - PG(13), top - PG(6), RW),
	       ANONA(top - PG(4), top, RW));

	/* FIXED: to new_addr, replacing what was there; the old range is
	 * gone; the destination may lie right next to the source. */
	CHECK_ERR(
		x_mremap(mm, SB + PG(8), PAGE, PG(2), MFIX, top - PG(12), &out),
		0);
	CHECK_EQ_U64(out, top - PG(12));
	EXPECT(mm, 0, UINT64_MAX, ANONA(top - PG(13), top - PG(12), RW),
	       ANONA(top - PG(12), top - PG(10), RD),
	       ANONA(top - PG(10), top - PG(6), RW),
	       ANONA(top - PG(4), top, RW));
	CHECK_ERR(x_mremap(mm, top - PG(12), PG(2), PG(2), MFIX, top - PG(14),
			   &out),
		  0);
	EXPECT(mm, 0, UINT64_MAX, ANONA(top - PG(14), top - PG(12), RD),
	       ANONA(top - PG(10), top - PG(6), RW),
	       ANONA(top - PG(4), top, RW));
	/* FIXED shrinking: the whole old range goes, new_len arrives. */
	CHECK_ERR(x_mremap(mm, top - PG(10), PG(4), PAGE, MFIX, SB, &out), 0);
	EXPECT(mm, 0, UINT64_MAX, ANONA(SB, SB + PAGE, RW),
	       ANONA(top - PG(14), top - PG(12), RD),
	       ANONA(top - PG(4), top, RW));
	/* No room anywhere for a move. */
	CHECK_ERR(x_mremap(mm, SB, PAGE, PG(60), MAY, 0, &out), -ENOMEM);
	done_mm(mm);
}

/* File areas keep their offsets when they move; anonymous shared ones
 * keep theirs and their backing. */
static void case_mremap_offsets(void)
{
	struct uvma_mm *mm = new_mm();
	const uint64_t y = X + 0x1000000;
	struct uvma_vma *v;
	uint64_t out = 0, id;

	map_at(mm, X, PG(4), RD, SHR, 9, PG(100), UA);
	CHECK_ERR(x_mremap(mm, X + PAGE, PG(2), PG(3), MFIX, y, &out), 0);
	EXPECT(mm, 0, UINT64_MAX, AREA(X, X + PAGE, RD, SHR, 100, 9, UA),
	       AREA(X + PG(3), X + PG(4), RD, SHR, 103, 9, UA),
	       AREA(y, y + PG(3), RD, SHR, 101, 9, UA));
	/* Grown in place, the offsets continue. */
	CHECK_ERR(x_mremap(mm, X, PAGE, PG(2), 0, 0, &out), 0);
	EXPECT(mm, X, X + PG(4), AREA(X, X + PG(2), RD, SHR, 100, 9, UA),
	       AREA(X + PG(3), X + PG(4), RD, SHR, 103, 9, UA));
	/* The page of offset 102 moved back where it came from: one area
	 * again. */
	CHECK_ERR(x_mremap(mm, y + PAGE, PAGE, PAGE, MFIX, X + PG(2), &out), 0);
	CHECK_ERR(x_munmap(mm, y, PG(3)), 0);
	EXPECT(mm, 0, UINT64_MAX, AREA(X, X + PG(4), RD, SHR, 100, 9, UA));
	CHECK_ERR(x_munmap(mm, X, PG(4)), 0);

	/* Anonymous shared: offsets from 0, a backing of its own. */
	map_at(mm, X, PG(4), RW, AS, 0, 0, NULL);
	id = obj_at(mm, X)->file_id;
	CHECK(id >= OPS_SHMEM_ID_BASE);
	CHECK_ERR(x_mremap(mm, X + PG(3), PAGE, PG(2), MFIX, y, &out), 0);
	EXPECT(mm, 0, UINT64_MAX, AREA(X, X + PG(3), RW, AS, 0, 0, NULL),
	       AREA(y, y + PG(2), RW, AS, 3, 0, NULL));
	v = obj_at(mm, y);
	CHECK_EQ_U64(v->file_id, id);
	/* Back next to its origin, with the offset that continues it. */
	CHECK_ERR(x_mremap(mm, y, PAGE, PAGE, MFIX, X + PG(3), &out), 0);
	CHECK_ERR(x_munmap(mm, y, PG(2)), 0);
	EXPECT(mm, 0, UINT64_MAX, AREA(X, X + PG(4), RW, AS, 0, 0, NULL));
	/* Grown in place: one area. */
	CHECK_ERR(x_mremap(mm, X, PG(4), PG(6), 0, 0, &out), 0);
	EXPECT(mm, 0, UINT64_MAX, AREA(X, X + PG(6), RW, AS, 0, 0, NULL));
	CHECK_EQ_U64(obj_at(mm, X)->file_id, id);
	done_mm(mm);
}

/*
 * MREMAP_FIXED over several areas, as the running kernel (6.18) does it
 * (Linux 6.17 and later): a move of the same size takes every area of the
 * range along, holes kept; a move that resizes needs the part that moves
 * (new_len when shrinking, old_len when growing) inside one area, and a
 * shrink drops the rest of the old range; the old address must be mapped.
 */
static void case_mremap_fixed_multi(void)
{
	struct uvma_mm *mm = new_mm();
	const uint64_t y = X + PG(20);
	uint64_t out = 0;

	anon_at(mm, X, PG(4), RW);
	anon_at(mm, X + PG(4), PG(4), RD);
	CHECK_ERR(x_mremap(mm, X, PG(5), PG(5), MFIX, y, &out), 0);
	CHECK_EQ_U64(out, y);
	EXPECT(mm, 0, UINT64_MAX, ANONA(X + PG(5), X + PG(8), RD),
	       ANONA(y, y + PG(4), RW), ANONA(y + PG(4), y + PG(5), RD));
	CHECK_ERR(x_munmap(mm, X, PG(64)), 0);

	/* A hole inside the range stays a hole; file offsets move along. */
	anon_at(mm, X, PG(4), RW);
	map_at(mm, X + PG(6), PG(4), RD, PRIV, 4, PG(10), UA);
	CHECK_ERR(x_mremap(mm, X, PG(10), PG(10), MFIX, y, &out), 0);
	EXPECT(mm, 0, UINT64_MAX, ANONA(y, y + PG(4), RW),
	       AREA(y + PG(6), y + PG(10), RD, PRIV, 10, 4, UA));
	/* What lies at the destination under the source's holes stays (the
	 * running kernel moves area by area, each replacing its own part). */
	anon_at(mm, X, PAGE, RD);
	anon_at(mm, X + PG(2), PAGE, RX);
	anon_at(mm, X + PG(40), PG(4), RW);
	CHECK_ERR(x_mremap(mm, X, PG(3), PG(3), MFIX, X + PG(40), &out), 0);
	EXPECT(mm, X + PG(40), X + PG(44), ANONA(X + PG(40), X + PG(41), RD),
	       ANONA(X + PG(41), X + PG(42), RW),
	       ANONA(X + PG(42), X + PG(43), RX),
	       ANONA(X + PG(43), X + PG(44), RW));
	CHECK_ERR(x_munmap(mm, X + PG(40), PG(4)), 0);
	/* Starting in a hole: -EFAULT. */
	CHECK_ERR(x_mremap(mm, y + PG(4), PG(4), PG(4), MFIX, X, &out),
		  -EFAULT);
	CHECK_ERR(x_munmap(mm, y, PG(10)), 0);

	/* Growth across areas: -EFAULT, nothing changed. */
	anon_at(mm, X, PG(4), RW);
	anon_at(mm, X + PG(4), PG(4), RD);
	CHECK_ERR(x_mremap(mm, X, PG(5), PG(6), MFIX, y, &out), -EFAULT);
	/* A shrink whose kept part spans both areas: -EFAULT too. */
	CHECK_ERR(x_mremap(mm, X, PG(8), PG(5), MFIX, y, &out), -EFAULT);
	/* A shrink across areas: the tail goes, the rest moves. */
	CHECK_ERR(x_mremap(mm, X, PG(6), PG(2), MFIX, y, &out), 0);
	EXPECT(mm, 0, UINT64_MAX, ANONA(X + PG(6), X + PG(8), RD),
	       ANONA(y, y + PG(2), RW));
	CHECK_ERR(x_munmap(mm, X, PG(64)), 0);

	/* Destination pieces that touch, each replacing part of a different
	 * area: the plan meets the area between them from both sides. */
	anon_at(mm, X, PAGE, RW);
	anon_at(mm, X + PAGE, PAGE, RX);
	anon_at(mm, y - PAGE, PG(2), RD);
	anon_at(mm, y + PAGE, PG(2), UVMA_PROT_NONE);
	CHECK_ERR(x_mremap(mm, X, PG(2), PG(2), MFIX, y, &out), 0);
	EXPECT(mm, 0, UINT64_MAX, ANONA(y - PAGE, y, RD),
	       ANONA(y, y + PAGE, RW), ANONA(y + PAGE, y + PG(2), RX),
	       ANONA(y + PG(2), y + PG(3), UVMA_PROT_NONE));
	CHECK_ERR(x_munmap(mm, X, PG(64)), 0);

	/* Running past the last area into a hole is a same-size move too. */
	anon_at(mm, X, PG(4), RW);
	CHECK_ERR(x_mremap(mm, X, PG(6), PG(6), MFIX, y, &out), 0);
	EXPECT(mm, 0, UINT64_MAX, ANONA(y, y + PG(4), RW));
	/* Without FIXED the same size is a no-op, whatever the range. */
	anon_at(mm, X, PG(4), RW);
	anon_at(mm, X + PG(4), PG(4), RD);
	CHECK_ERR(x_mremap(mm, X, PG(5), PG(5), MAY, 0, &out), 0);
	CHECK_EQ_U64(out, X);
	EXPECT(mm, X, X + PG(8), ANONA(X, X + PG(4), RW),
	       ANONA(X + PG(4), X + PG(8), RD));
	done_mm(mm);
}

/*
 * old_len 0 on a shared area: a second mapping of the same pages (same
 * backing, the offset of old_addr), the original left as it is.
 */
static void case_mremap_dup_shared(void)
{
	struct uvma_mm *mm = new_mm();
	const uint64_t y = X + PG(64);
	uint64_t out = 0, id;

	map_at(mm, X, PG(4), RW, AS, 0, 0, NULL);
	id = obj_at(mm, X)->file_id;
	CHECK_ERR(x_mremap(mm, X + PAGE, 0, PG(2), MAY, 0, &out), 0);
	CHECK_EQ_U64(out, WEND - PG(2));
	EXPECT(mm, 0, UINT64_MAX, AREA(X, X + PG(4), RW, AS, 0, 0, NULL),
	       AREA(WEND - PG(2), WEND, RW, AS, 1, 0, NULL));
	CHECK_EQ_U64(obj_at(mm, WEND - PG(2))->file_id, id);
	/* FIXED, replacing what is there. */
	map_at(mm, y, PG(4), RD, PRIV, 3, PG(8), NULL);
	CHECK_ERR(x_mremap(mm, X + PG(2), 0, PAGE, MFIX, y + PAGE, &out), 0);
	CHECK_EQ_U64(out, y + PAGE);
	EXPECT(mm, y, y + PG(4), AREA(y, y + PAGE, RD, PRIV, 8, 3, NULL),
	       AREA(y + PAGE, y + PG(2), RW, AS, 2, 0, NULL),
	       AREA(y + PG(2), y + PG(4), RD, PRIV, 10, 3, NULL));
	CHECK_EQ_U64(obj_at(mm, y + PAGE)->file_id, id);
	/* A shared file area, too; a private one may not (-EINVAL). */
	map_at(mm, y + PG(8), PG(2), RD, SHR, 5, PG(20), UA);
	CHECK_ERR(x_mremap(mm, y + PG(8), 0, PG(2), MFIX, y + PG(16), &out), 0);
	EXPECT(mm, y + PG(8), y + PG(32),
	       AREA(y + PG(8), y + PG(10), RD, SHR, 20, 5, UA),
	       AREA(y + PG(16), y + PG(18), RD, SHR, 20, 5, UA));
	CHECK_ERR(x_mremap(mm, y, 0, PAGE, MAY, 0, &out), -EINVAL);
	done_mm(mm);
}

/* ---- merging rules ---------------------------------------------------------
 */

static void case_anon_shared(void)
{
	struct uvma_mm *mm = new_mm();
	uint64_t out = 0, id1, id2;

	map_at(mm, X, PG(4), RW, AS, 0, 0, NULL);
	/* Split, and restored: the pieces of one mapping merge back. */
	CHECK_ERR(x_mprotect(mm, X + PAGE, PAGE, RD), 0);
	EXPECT(mm, 0, UINT64_MAX, AREA(X, X + PAGE, RW, AS, 0, 0, NULL),
	       AREA(X + PAGE, X + PG(2), RD, AS, 1, 0, NULL),
	       AREA(X + PG(2), X + PG(4), RW, AS, 2, 0, NULL));
	CHECK_ERR(x_mprotect(mm, X + PAGE, PAGE, RW), 0);
	EXPECT(mm, 0, UINT64_MAX, AREA(X, X + PG(4), RW, AS, 0, 0, NULL));

	/* Two mappings never merge, even where the offsets would continue:
	 * the new one (offset 0, 2 pages) ends where the old one's remaining
	 * piece (offset 2) starts. */
	CHECK_ERR(x_munmap(mm, X, PG(2)), 0);
	map_at(mm, X, PG(2), RW, AS, 0, 0, NULL);
	EXPECT(mm, 0, UINT64_MAX, AREA(X, X + PG(2), RW, AS, 0, 0, NULL),
	       AREA(X + PG(2), X + PG(4), RW, AS, 2, 0, NULL));
	id1 = obj_at(mm, X)->file_id;
	id2 = obj_at(mm, X + PG(2))->file_id;
	CHECK(id1 != id2);
	CHECK(id1 >= OPS_SHMEM_ID_BASE && id2 >= OPS_SHMEM_ID_BASE);
	/* Nor do two placed top-down, one under the other. */
	CHECK_ERR(x_mmap(mm, 0, PG(2), RW, AS, 0, 0, NULL, &out), 0);
	CHECK_EQ_U64(out, WEND - PG(2));
	CHECK_ERR(x_mmap(mm, 0, PG(2), RW, AS, 0, 0, NULL, &out), 0);
	CHECK_EQ_U64(out, WEND - PG(4));
	EXPECT(mm, WEND - PG(4), WEND,
	       AREA(WEND - PG(4), WEND - PG(2), RW, AS, 0, 0, NULL),
	       AREA(WEND - PG(2), WEND, RW, AS, 0, 0, NULL));
	/* Nor with an anonymous private area next to them. */
	anon_at(mm, X + PG(4), PG(2), RW);
	EXPECT(mm, X + PG(2), X + PG(6),
	       AREA(X + PG(2), X + PG(4), RW, AS, 2, 0, NULL),
	       ANONA(X + PG(4), X + PG(6), RW));
	/* A failed mapping does not use up a backing id. */
	CHECK_ERR(x_mmap(mm, X, PAGE, RW, AS | NOR, 0, 0, NULL, &out), -EEXIST);
	done_mm(mm);
}

static void case_file(void)
{
	struct uvma_mm *mm = new_mm();

	/* Same file, contiguous offsets: one area. */
	map_at(mm, X, PG(2), RD, PRIV, 5, 0, NULL);
	map_at(mm, X + PG(2), PG(2), RD, PRIV, 5, PG(2), NULL);
	EXPECT(mm, 0, UINT64_MAX, AREA(X, X + PG(4), RD, PRIV, 0, 5, NULL));
	/* Same file, a gap in the offsets. */
	map_at(mm, X + PG(4), PG(2), RD, PRIV, 5, PG(10), NULL);
	/* Another file whose offset would continue. */
	map_at(mm, X + PG(6), PG(2), RD, PRIV, 6, PG(12), NULL);
	/* The same file, shared rather than private. */
	map_at(mm, X + PG(8), PG(2), RD, SHR, 6, PG(14), NULL);
	/* Anonymous after a file area. */
	anon_at(mm, X + PG(10), PG(2), RD);
	EXPECT(mm, 0, UINT64_MAX, AREA(X, X + PG(4), RD, PRIV, 0, 5, NULL),
	       AREA(X + PG(4), X + PG(6), RD, PRIV, 10, 5, NULL),
	       AREA(X + PG(6), X + PG(8), RD, PRIV, 12, 6, NULL),
	       AREA(X + PG(8), X + PG(10), RD, SHR, 14, 6, NULL),
	       ANONA(X + PG(10), X + PG(12), RD));
	/* Bridging a file gap with the right offsets merges both sides. */
	map_at(mm, X + PG(14), PG(2), RW, SHR, 8, PG(4), NULL);
	map_at(mm, X + PG(12), PG(2), RW, SHR, 8, PG(2), NULL);
	map_at(mm, X + PG(16), PG(2), RW, SHR, 8, PG(6), NULL);
	EXPECT(mm, X + PG(12), UINT64_MAX,
	       AREA(X + PG(12), X + PG(18), RW, SHR, 2, 8, NULL));
	/* mprotect splits keep offsets; restoring merges. */
	CHECK_ERR(x_mprotect(mm, X + PG(13), PG(2), RD), 0);
	EXPECT(mm, X + PG(12), UINT64_MAX,
	       AREA(X + PG(12), X + PG(13), RW, SHR, 2, 8, NULL),
	       AREA(X + PG(13), X + PG(15), RD, SHR, 3, 8, NULL),
	       AREA(X + PG(15), X + PG(18), RW, SHR, 5, 8, NULL));
	CHECK_ERR(x_mprotect(mm, X + PG(12), PG(6), RW), 0);
	EXPECT(mm, X + PG(12), UINT64_MAX,
	       AREA(X + PG(12), X + PG(18), RW, SHR, 2, 8, NULL));
	done_mm(mm);
}

static void case_user(void)
{
	struct uvma_mm *mm = new_mm();

	map_at(mm, X, PG(2), RW, AP, 0, 0, UA);
	map_at(mm, X + PG(2), PG(2), RW, AP, 0, 0, UB);
	map_at(mm, X + PG(4), PG(2), RW, AP, 0, 0, UB);
	map_at(mm, X + PG(6), PG(2), RW, AP, 0, 0, NULL);
	EXPECT(mm, 0, UINT64_MAX, AREA(X, X + PG(2), RW, AP, X / PAGE, 0, UA),
	       AREA(X + PG(2), X + PG(6), RW, AP, (X + PG(2)) / PAGE, 0, UB),
	       AREA(X + PG(6), X + PG(8), RW, AP, (X + PG(6)) / PAGE, 0, NULL));
	/* A change that makes everything else equal still leaves them. */
	CHECK_ERR(x_mprotect(mm, X, PG(8), RD), 0);
	CHECK_ERR(x_mprotect(mm, X, PG(8), RW), 0);
	EXPECT(mm, 0, UINT64_MAX, AREA(X, X + PG(2), RW, AP, X / PAGE, 0, UA),
	       AREA(X + PG(2), X + PG(6), RW, AP, (X + PG(2)) / PAGE, 0, UB),
	       AREA(X + PG(6), X + PG(8), RW, AP, (X + PG(6)) / PAGE, 0, NULL));
	done_mm(mm);
}

/* ---- brk -------------------------------------------------------------------
 */

static void case_brk(void)
{
	const uint64_t h = 0x10000000;
	struct uvma_mm *mm = new_mm();
	uint64_t out = 0xdead;

	/* No heap: a query says 0, anything else -ENOMEM. */
	CHECK_ERR(x_brk(mm, 0, &out), 0);
	CHECK_EQ_U64(out, 0);
	out = 0xdead;
	CHECK_ERR(x_brk(mm, h, &out), -ENOMEM);
	CHECK_EQ_U64(out, 0);
	done_mm(mm);

	mm = new_mm_cfg(0, 0, h);
	/* Queries: 0, or anything below the start. */
	CHECK_ERR(x_brk(mm, 0, &out), 0);
	CHECK_EQ_U64(out, h);
	CHECK_ERR(x_brk(mm, h - 1, &out), 0);
	CHECK_EQ_U64(out, h);
	EXPECT_NONE(mm, 0, UINT64_MAX);
	/* Grow: the end is kept exactly, the area rounds up. */
	CHECK_ERR(x_brk(mm, h + PG(3) - 100, &out), 0);
	CHECK_EQ_U64(out, h + PG(3) - 100);
	EXPECT(mm, 0, UINT64_MAX, ANONA(h, h + PG(3), RW));
	CHECK_ERR(x_brk(mm, h + PG(5), &out), 0);
	CHECK_EQ_U64(out, h + PG(5));
	EXPECT(mm, 0, UINT64_MAX, ANONA(h, h + PG(5), RW));
	CHECK_ERR(x_brk(mm, 0, &out), 0);
	CHECK_EQ_U64(out, h + PG(5));
	/* Shrink. */
	CHECK_ERR(x_brk(mm, h + PG(2) - 1, &out), 0);
	CHECK_EQ_U64(out, h + PG(2) - 1);
	EXPECT(mm, 0, UINT64_MAX, ANONA(h, h + PG(2), RW));
	/* Within the same page: only the value changes. */
	CHECK_ERR(x_brk(mm, h + PG(1) + 1, &out), 0);
	CHECK_EQ_U64(out, h + PAGE + 1);
	EXPECT(mm, 0, UINT64_MAX, ANONA(h, h + PG(2), RW));
	/* A mapping in the way: -ENOMEM, the end unchanged. */
	anon_at(mm, h + PG(4), PAGE, RD);
	out = 0;
	CHECK_ERR(x_brk(mm, h + PG(6), &out), -ENOMEM);
	CHECK_EQ_U64(out, h + PAGE + 1);
	/* Linux keeps a free page between the heap and the next mapping:
	 * the heap may reach h + 3 pages, not h + 4. */
	CHECK_ERR(x_brk(mm, h + PG(4), &out), -ENOMEM);
	CHECK_EQ_U64(out, h + PAGE + 1);
	CHECK_ERR(x_brk(mm, h + PG(3), &out), 0);
	CHECK_EQ_U64(out, h + PG(3));
	EXPECT(mm, 0, UINT64_MAX, ANONA(h, h + PG(3), RW),
	       ANONA(h + PG(4), h + PG(5), RD));
	/* Past the window, or rounding past 2^64. */
	CHECK_ERR(x_brk(mm, WEND + PAGE, &out), -ENOMEM);
	CHECK_EQ_U64(out, h + PG(3));
	CHECK_ERR(x_brk(mm, UINT64_MAX, &out), -ENOMEM);
	CHECK_EQ_U64(out, h + PG(3));
	/* Back to the start: no heap area; out may be NULL. */
	CHECK_ERR(x_brk(mm, h, NULL), 0);
	EXPECT(mm, 0, UINT64_MAX, ANONA(h + PG(4), h + PG(5), RD));
	CHECK_ERR(x_brk(mm, 0, &out), 0);
	CHECK_EQ_U64(out, h);
	done_mm(mm);
}

/* ---- locking with other threads ------------------------------------------ */

enum job_kind { JOB_MMAP, JOB_MPROTECT, JOB_MUNMAP, JOB_MREMAP };

struct job {
	struct uvma_mm *mm;
	enum job_kind kind;
	uint64_t addr, len, len2;
	unsigned prot, flags;
	void *user;
	int ret;
	_Atomic bool done;
	pthread_t thread;
};

static void *job_run(void *arg)
{
	struct job *j = arg;
	uint64_t out;

	switch (j->kind) {
	case JOB_MMAP:
		j->ret = uvma_mmap(j->mm, j->addr, j->len, j->prot, j->flags, 0,
				   0, j->user, &out);
		break;
	case JOB_MPROTECT:
		j->ret = uvma_mprotect(j->mm, j->addr, j->len, j->prot);
		break;
	case JOB_MUNMAP:
		j->ret = uvma_munmap(j->mm, j->addr, j->len);
		break;
	case JOB_MREMAP:
		j->ret = uvma_mremap(j->mm, j->addr, j->len, j->len2, j->flags,
				     0, &out);
		break;
	}
	atomic_store(&j->done, true);
	return NULL;
}

static void job_start(struct job *j)
{
	atomic_store(&j->done, false);
	CHECK(pthread_create(&j->thread, NULL, job_run, j) == 0);
}

static void job_join(struct job *j)
{
	CHECK(pthread_join(j->thread, NULL) == 0);
}

/* The job must finish while the caller holds a read lock on an area the
 * job does not change. */
static void run_beside(struct uvma_mm *mm, uint64_t held, struct job j)
{
	struct uvma_vma *v = uvma_vma_lock(mm, held);

	CHECK(v != NULL);
	j.mm = mm;
	job_start(&j);
	WAIT_FOR(atomic_load(&j.done));
	job_join(&j);
	CHECK_ERR(j.ret, 0);
	uvma_vma_unlock(v);
	check_quiet(mm);
}

/* The job must wait for the caller's read lock on an area it changes. */
static void run_against(struct uvma_mm *mm, uint64_t held, struct job j)
{
	struct uvma_vma *v = uvma_vma_lock(mm, held);

	CHECK(v != NULL);
	j.mm = mm;
	job_start(&j);
	settle();
	CHECK(!atomic_load(&j.done));
	uvma_vma_unlock(v);
	WAIT_FOR(atomic_load(&j.done));
	job_join(&j);
	CHECK_ERR(j.ret, 0);
	check_quiet(mm);
}

static void case_locks(void)
{
	struct uvma_mm *mm = new_mm();

	snprintf(cur_op, sizeof(cur_op), "threads");
	anon_at(mm, X, PG(2), RD);
	/* Neighbours that do not change are not locked: a new area next to
	 * a held one, a change of that area, its removal, its growth. */
	run_beside(mm, X,
		   (struct job){ .kind = JOB_MMAP,
				 .addr = X + PG(2),
				 .len = PG(2),
				 .prot = RW,
				 .flags = AP | FIX });
	run_beside(mm, X,
		   (struct job){ .kind = JOB_MPROTECT,
				 .addr = X + PG(2),
				 .len = PG(2),
				 .prot = RX });
	run_beside(mm, X,
		   (struct job){ .kind = JOB_MREMAP,
				 .addr = X + PG(2),
				 .len = PG(2),
				 .len2 = PG(4) });
	run_beside(mm, X,
		   (struct job){ .kind = JOB_MUNMAP,
				 .addr = X + PG(2),
				 .len = PG(4) });
	/* Same attributes but another user pointer: no merge, no lock. */
	run_beside(mm, X,
		   (struct job){ .kind = JOB_MMAP,
				 .addr = X - PG(2),
				 .len = PG(2),
				 .prot = RD,
				 .flags = AP | FIX,
				 .user = UA });
	/* An mprotect over both, where the held one already has the
	 * protection and stays as it is. */
	run_beside(mm, X,
		   (struct job){ .kind = JOB_MPROTECT,
				 .addr = X - PG(2),
				 .len = PG(4),
				 .prot = RD });
	EXPECT(mm, 0, UINT64_MAX,
	       AREA(X - PG(2), X, RD, AP, (X - PG(2)) / PAGE, 0, UA),
	       ANONA(X, X + PG(2), RD));

	/* An area that changes is locked, so the change waits for the
	 * reader: mprotect of part of it, a merge into it, its removal. */
	run_against(mm, X,
		    (struct job){ .kind = JOB_MPROTECT,
				  .addr = X + PAGE,
				  .len = PAGE,
				  .prot = RW });
	run_against(mm, X + PAGE,
		    (struct job){ .kind = JOB_MMAP,
				  .addr = X + PG(2),
				  .len = PAGE,
				  .prot = RW,
				  .flags = AP | FIX });
	EXPECT(mm, X, UINT64_MAX, ANONA(X, X + PAGE, RD),
	       ANONA(X + PAGE, X + PG(3), RW));
	run_against(mm, X + PAGE,
		    (struct job){ .kind = JOB_MREMAP,
				  .addr = X + PAGE,
				  .len = PG(2),
				  .len2 = PAGE });
	run_against(mm, X,
		    (struct job){ .kind = JOB_MUNMAP, .addr = X, .len = PAGE });
	EXPECT(mm, X, UINT64_MAX, ANONA(X + PAGE, X + PG(2), RW));
	done_mm(mm);
}

/* A MAP_FIXED replacement never shows a hole to a concurrent fault. */
struct faulter {
	struct uvma_mm *mm;
	_Atomic bool stop;
	_Atomic uint64_t faults, holes, other;
};

static void *faulter_run(void *arg)
{
	struct faulter *f = arg;

	while (!atomic_load(&f->stop)) {
		int r = uvma_fault(f->mm, X + PAGE, UVMA_ACCESS_READ);

		atomic_fetch_add(&f->faults, 1);
		if (r == -EFAULT)
			atomic_fetch_add(&f->holes, 1);
		else if (r)
			atomic_fetch_add(&f->other, 1);
	}
	return NULL;
}

static void case_fixed_one_step(void)
{
	struct uvma_mm *mm = new_mm();
	uint64_t rounds = test_scaled(3000, 300);
	struct faulter f = { .mm = mm };
	pthread_t t;
	uint64_t out;

	snprintf(cur_op, sizeof(cur_op), "FIXED replacements under faults");
	anon_at(mm, X, PG(4), RD);
	CHECK(pthread_create(&t, NULL, faulter_run, &f) == 0);
	for (uint64_t i = 0; i < rounds; i++) {
		/* Alternating protections, so every round really replaces;
		 * both allow the reader's access. */
		unsigned prot = i & 1 ? RW : RD;

		CHECK_ERR(uvma_mmap(mm, X, PG(4), prot, AP | FIX, 0, 0,
				    i & 2 ? UA : NULL, &out),
			  0);
		if (i % 64 == 0)
			WAIT_FOR(atomic_load(&f.faults) > i / 64);
	}
	atomic_store(&f.stop, true);
	CHECK(pthread_join(t, NULL) == 0);
	printf("fixed_one_step: %" PRIu64 " replacements, %" PRIu64
	       " faults, %" PRIu64 " saw a hole\n",
	       rounds, atomic_load(&f.faults), atomic_load(&f.holes));
	CHECK_EQ_U64(atomic_load(&f.holes), 0);
	CHECK_EQ_U64(atomic_load(&f.other), 0);
	check_quiet(mm);
	done_mm(mm);
}

/* ---- a random differential run against the model -------------------------
 *
 * tests/lib/linux_model.h keeps, per page of a 64-page window, what Linux
 * would say of it and predicts each call's result; its areas are the
 * maximal runs of pages that continue each other (uvma merges as far as
 * Linux's rule allows). Where Linux leaves a choice the model's own outcome
 * is the one uvma must give: moved anonymous areas were never touched.
 */

#define MP   64
#define MB   SB
#define MBRK (MB + PG(4))

static struct lm *model_new(void)
{
	static struct lm m;

	/* uvma's own first shmem id: the model's ids are the ones uvma keeps
	 * in the VMAs. */
	lm_init(&m, MB, MP, PAGE, OPS_SHMEM_ID_BASE);
	lm_set_heap(&m, MBRK);
	return &m;
}

/* uvma's map is the model's areas, field by field. */
static void m_compare(struct uvma_mm *mm, const struct lm *m)
{
	static struct state s;
	uint64_t rs, re;
	size_t k = 0;

	state_take(mm, &s);
	for (uint64_t a = MB; lm_next_area(m, a, &rs, &re); a = re) {
		const struct lm_page *p = lm_at(m, rs);
		const struct map_area *ar;

		CHECK(k < s.n);
		ar = &s.a[k++];
		CHECK_EQ_U64(ar->start, rs);
		CHECK_EQ_U64(ar->end, re);
		CHECK_EQ_U64(ar->prot, p->prot);
		/* The flags word: the hidden flags above the MAP bits. */
		CHECK_EQ_U64(ar->flags, p->flags | VMA_VM(p->vm));
		CHECK_EQ_U64(ar->pgoff, p->pgoff);
		CHECK_EQ_U64(ar->file_id, p->id);
		CHECK(ar->user == p->user);
	}
	CHECK_EQ_U64(s.n, k);
	CHECK_EQ_U64(mm->brk, m->brk);
}

static const unsigned prots[] = { RD, RW, NONE, RX };

/* Per operation: calls that succeeded and that failed, to show the run
 * exercised both. */
enum { R_MMAP, R_MUNMAP, R_MPROTECT, R_MREMAP, R_BRK, R_KINDS };
static const char *const r_names[R_KINDS] = { "mmap", "munmap", "mprotect",
					      "mremap", "brk" };
static uint64_t r_ok[R_KINDS], r_err[R_KINDS];

static void r_count(int kind, int r)
{
	if (r)
		r_err[kind]++;
	else
		r_ok[kind]++;
}

/* A page where an area starts, ends or lies, more often than not. */
static uint64_t pick_page(const struct lm *m)
{
	if (rng_chance(2, 3)) {
		uint64_t p = rng_below(MP);

		for (uint64_t i = 0; i < MP; i++)
			if (m->pg[(p + i) % MP].mapped)
				return (p + i) % MP;
	}
	return rng_below(MP);
}

static uint64_t pick_len(void)
{
	return rng_chance(1, 8) ? rng_range(1, 40) : rng_range(1, 6);
}

static void random_step(struct uvma_mm *mm, struct lm *m)
{
	uint64_t out = 0, outp = 0, p, n, q;
	int r, want;

	switch (rng_below(10)) {
	case 0:
	case 1:
	case 2: { /* mmap */
		unsigned prot = prots[rng_below(ARRAY(prots))];
		unsigned kind = (unsigned)rng_below(8), flags;
		bool fixed = rng_chance(2, 3), nor = fixed && rng_chance(1, 4);
		void *user = rng_chance(1, 4) ? UA : NULL;
		uint64_t fid = 0, off = 0;

		p = pick_page(m);
		n = pick_len();
		if (kind < 5) {
			flags = AP;
		} else if (kind < 6) {
			flags = AS;
		} else {
			flags = kind == 6 ? PRIV : SHR;
			fid = rng_range(1, 2);
			/* Offsets that follow the address make neighbours
			 * with contiguous offsets. */
			off = rng_chance(1, 2) ? p : rng_below(MP);
		}
		if (fixed)
			flags |= nor ? NOR : FIX;
		else if (rng_chance(1, 3))
			p = 0; /* no hint */
		/* (Page 0 of the window stands for "no hint": address 0.) */
		q = fixed || p ? MB + PG(p) : 0;
		want = lm_mmap(m, q, PG(n), prot, flags, fid, PG(off), user,
			       &outp);
		r = x_mmap(mm, q,
			   PG(n) - (rng_chance(1, 4) ? rng_below(PAGE) : 0),
			   prot, flags, fid, PG(off), user, &out);
		CHECK_ERR(r, want);
		if (!r)
			CHECK_EQ_U64(out, outp);
		r_count(R_MMAP, r);
		break;
	}
	case 3: /* munmap */
		p = pick_page(m);
		n = pick_len();
		if (p + n > MP)
			n = MP - p;
		want = lm_munmap(m, MB + PG(p), PG(n));
		r = x_munmap(mm, MB + PG(p), PG(n));
		CHECK_ERR(r, want);
		r_count(R_MUNMAP, r);
		break;
	case 4:
	case 5: { /* mprotect */
		unsigned prot = prots[rng_below(ARRAY(prots))];

		p = pick_page(m);
		n = pick_len();
		want = lm_mprotect(m, MB + PG(p), PG(n), prot);
		r = x_mprotect(mm, MB + PG(p), PG(n), prot);
		CHECK_ERR(r, want);
		r_count(R_MPROTECT, r);
		break;
	}
	case 6:
	case 7:
	case 8: { /* mremap */
		static const unsigned fl[] = { 0, MAY, MAY, MFIX, MFIX };
		unsigned flags = fl[rng_below(ARRAY(fl))];
		p = pick_page(m);
		n = rng_range(1, 6);
		/* Mostly a range inside its area. */
		if (m->pg[p].mapped && rng_chance(3, 4)) {
			uint64_t re = (lm_area_end(m, MB + PG(p)) - MB) / PAGE;

			if (n > re - p)
				n = re - p;
		}
		if (p + n > MP)
			n = MP - p;
		q = rng_below(MP);
		{
			uint64_t n2 = pick_len();

			/* FIXED destinations inside the window. */
			if ((flags & UVMA_MREMAP_FIXED) && q + n2 > MP)
				q = MP - n2;
			want = lm_mremap(m, MB + PG(p), PG(n), PG(n2), flags,
					 MB + PG(q), &outp);
			r = x_mremap(mm, MB + PG(p), PG(n), PG(n2), flags,
				     MB + PG(q), &out);
		}
		CHECK_ERR(r, want);
		if (!r)
			CHECK_EQ_U64(out, outp);
		r_count(R_MREMAP, r);
		break;
	}
	default: { /* brk */
		uint64_t b = rng_chance(1, 8) ? rng_below(MBRK)
					      : MBRK + rng_below(PG(24));

		want = lm_brk(m, b);
		r = x_brk(mm, b, &out);
		CHECK_ERR(r, want);
		CHECK_EQ_U64(out, m->brk);
		r_count(R_BRK, r);
		break;
	}
	}
}

static void case_random(void)
{
	uint64_t steps = test_scaled(40000, 10000), seeds = 8;

	for (uint64_t s = 0; s < seeds; s++) {
		struct uvma_mm *mm = new_mm_cfg(MB, PG(MP), MBRK);
		struct lm *m = model_new();

		for (uint64_t i = 0; i < steps / seeds; i++) {
			random_step(mm, m);
			m_compare(mm, m);
		}
		done_mm(mm);
	}
	printf("random: %" PRIu64 " operations against the model:", steps);
	for (int k = 0; k < R_KINDS; k++)
		printf(" %s %" PRIu64 " ok %" PRIu64 " failed%s", r_names[k],
		       r_ok[k], r_err[k], k + 1 < R_KINDS ? "," : "\n");
}

/* ---- Linux details (the cases that showed bugs run last) ----------------- */

/* "-EOVERFLOW (offset + len overflows)". */
static void case_mmap_eoverflow(void)
{
	struct uvma_mm *mm = new_mm();
	uint64_t out = 0;

	CHECK_ERR(x_mmap(mm, 0, PG(2), RD, PRIV, 3, UINT64_MAX & ~(PAGE - 1),
			 NULL, &out),
		  -EOVERFLOW);
	CHECK_ERR(
		x_mmap(mm, X, PG(16), RD, SHR | FIX, 3, 0 - PG(8), NULL, &out),
		-EOVERFLOW);
	EXPECT_NONE(mm, 0, UINT64_MAX);
	done_mm(mm);
}

/* Linux rounds a hint down to its page (round_hint_to_min masks it with
 * PAGE_MASK) and uses it when the range there is free. */
static void case_mmap_hint_unaligned(void)
{
	struct uvma_mm *mm = new_mm();
	uint64_t out = 0;

	CHECK_ERR(x_mmap(mm, X + 0x123, PAGE, RW, AP, 0, 0, NULL, &out), 0);
	CHECK_EQ_U64(out, X);
	done_mm(mm);
}

/*
 * A move whose plan holds two VMAs far apart (the source, and a VMA at the
 * destination that is replaced or merged into) must leave the areas in
 * between alone.
 */
static void case_mremap_far(void)
{
	const uint64_t top = SB + PG(64);
	struct uvma_mm *mm = new_mm_cfg(SB, PG(64), 0);
	uint64_t out = 0;

	/* FIXED onto an area, with another area between source and
	 * destination. */
	anon_at(mm, SB, PG(2), RW);
	anon_at(mm, SB + PG(10), PG(2), RD);
	anon_at(mm, SB + PG(20), PG(2), RX);
	CHECK_ERR(x_mremap(mm, SB, PG(2), PG(2), MFIX, SB + PG(20), &out), 0);
	EXPECT(mm, 0, UINT64_MAX, ANONA(SB + PG(10), SB + PG(12), RD),
	       ANONA(SB + PG(20), SB + PG(22), RW));
	CHECK_ERR(x_munmap(mm, SB, PG(64)), 0);

	/* MAYMOVE to the top, merging into the area there. */
	anon_at(mm, top - PG(2), PG(2), RW);
	anon_at(mm, SB + PG(10), PG(2), RD);
	anon_at(mm, SB, PG(2), RW);
	anon_at(mm, SB + PG(2), PAGE, RX);
	CHECK_ERR(x_mremap(mm, SB, PG(2), PG(3), MAY, 0, &out), 0);
	CHECK_EQ_U64(out, top - PG(5));
	EXPECT(mm, 0, UINT64_MAX, ANONA(SB + PG(2), SB + PG(3), RX),
	       ANONA(SB + PG(10), SB + PG(12), RD),
	       ANONA(top - PG(5), top, RW));
	done_mm(mm);
}

/*
 * mremap shrinking unmaps [addr + new_len, addr + old_len): Linux checks
 * that range as munmap does (-EINVAL past the address space), and uvma's
 * munmap refuses a range outside the window. An old_len reaching far past
 * the window must not unmap everything above addr + new_len.
 */
static void case_mremap_huge_old_len(void)
{
	struct uvma_mm *mm = new_mm();
	uint64_t out = 0;

	anon_at(mm, X, PG(4), RW);
	anon_at(mm, X + 0x40000000, PG(2), RD);
	CHECK_ERR(x_mremap(mm, X, 1ull << 62, PAGE, 0, 0, &out), -EINVAL);
	CHECK_ERR(x_mremap(mm, X, UINT64_MAX & ~(PAGE - 1), PAGE, 0, 0, &out),
		  -EINVAL);
	EXPECT(mm, 0, UINT64_MAX, ANONA(X, X + PG(4), RW),
	       ANONA(X + 0x40000000, X + 0x40000000 + PG(2), RD));
	done_mm(mm);
}

/*
 * old_len 0 asks Linux to duplicate a shared mapping; for a private one
 * Linux 6.x refuses with -EINVAL (its resize check), as the running kernel
 * does. uvma must not create an unrelated second private area.
 */
static void case_mremap_zero_old_len(void)
{
	struct uvma_mm *mm = new_mm();
	uint64_t out = 0;

	anon_at(mm, X, PG(4), RW);
	CHECK_ERR(x_mremap(mm, X, 0, PG(2), MAY, 0, &out), -EINVAL);
	CHECK_ERR(x_mremap(mm, X, 0, PG(2), MFIX, X + PG(16), &out), -EINVAL);
	EXPECT(mm, 0, UINT64_MAX, ANONA(X, X + PG(4), RW));
	done_mm(mm);
}

/* ---- main -----------------------------------------------------------------
 */

static const struct test_case cases[] = {
	{ "mmap_args", case_mmap_args },
	{ "mmap_place", case_mmap_place },
	{ "mmap_fixed", case_mmap_fixed },
	{ "munmap", case_munmap },
	{ "mprotect", case_mprotect },
	{ "mremap_args", case_mremap_args },
	{ "mremap", case_mremap },
	{ "mremap_offsets", case_mremap_offsets },
	{ "mremap_fixed_multi", case_mremap_fixed_multi },
	{ "mremap_dup_shared", case_mremap_dup_shared },
	{ "anon_shared", case_anon_shared },
	{ "file", case_file },
	{ "user", case_user },
	{ "brk", case_brk },
	{ "locks", case_locks },
	{ "fixed_one_step", case_fixed_one_step },
	{ "mmap_eoverflow", case_mmap_eoverflow },
	{ "mmap_hint_unaligned", case_mmap_hint_unaligned },
	{ "mremap_far", case_mremap_far },
	{ "mremap_huge_old_len", case_mremap_huge_old_len },
	{ "mremap_zero_old_len", case_mremap_zero_old_len },
	{ "random", case_random },
};

int main(int argc, char **argv)
{
	test_set_context(print_context);
	return test_run_cases(argc, argv, cases, ARRAY(cases));
}
