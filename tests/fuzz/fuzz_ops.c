/*
 * fuzz_ops.c - a fuzz target for the map operations (uvma_mmap, munmap,
 * mprotect, mremap, brk) and what faults change in the map (the first
 * write's tag of touched memory, stack growth, fork), on a small address
 * space, so that operations collide: a 1 MiB window at 0x10000, 4 KiB
 * pages, 256 of them, stacks with an 8-page guard gap and a 32-page limit.
 *
 * The input is a program: its first byte places the heap (brk_start), then
 * each operation takes one control byte (which operation, and whether to
 * arm an allocation failure before it) and a few argument bytes. Arguments
 * are mostly sensible (aligned addresses in or near the window, a few pages
 * long, areas that exist) and sometimes deliberately bad (unaligned, zero,
 * huge, overflowing, unknown bits), so that both the semantics and the
 * argument checks run.
 *
 * After every operation:
 * - tests/lib/map_check.h's invariants (tree shape, ranges, owners, lock state,
 *   maximal merging, the pool's count of live objects), with this space as
 *   the only one in the process, so a leaked or doubly freed VMA shows;
 * - uvma_maps() must describe the same areas as the tree;
 * - every VMA that left the tree must be detached (refcnt 0);
 * - the result (address, error) and the map, page by page, must be one of
 *   the outcomes allowed: the one of the page-level model of Linux the
 *   tests share (tests/lib/linux_model.h), or where Linux and the header
 *   leave a choice (an anonymous shared area's page offset after a move,
 *   ranges that straddle the window's edge, the header's readings of a few
 *   corners) one of the others; tags of touched memory pair one to one
 *   with the model's (pages_diff);
 * - a failed operation must leave the map exactly as it was (area by area),
 *   except mprotect over a hole, which changes the areas before the hole;
 * - with an allocation failure armed (tree nodes, VMA objects or the
 *   planner's arrays), the operation must succeed as predicted or fail with
 *   -ENOMEM and leave the map unchanged.
 * - the read side agrees (a probe operation): uvma_fault's result for the
 *   page's protection, uvma_vma_lock/get/find, a partial uvma_maps and one
 *   stopped by its callback; uvma_brk(0) reports the model's heap end;
 *   a probe's write gives a private area its tag (lm_touch), a fault below
 *   a stack grows it (lm_grow_stack), and a probe may fork and go on in the
 *   child (lm_fork);
 * - after uvma_mm_destroy, every VMA object is back in the pool.
 * Any violation prints the operations so far, both maps and the input, and
 * aborts (libFuzzer then saves the input as a crash). UVMA_FUZZ_SKIP steers
 * the generator around known bugs while they are being fixed (see
 * skip_mask()).
 *
 * Built twice: with libFuzzer (make fuzz) and, with fuzz_main.c, as an
 * ordinary program that runs random inputs from a seed (CTest).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anon.h"
#include "fuzz_ops.h"
#include "linux_model.h"
#include "map_check.h"
#include "mm.h"
#include "rcu.h"
#include "tree.h"
#include "uvma.h"
#include "vma.h"
#include "ops.h"
#include "plan.h"

/* ---- the space ----------------------------------------------------------- */

#define PG    UINT64_C(4096)
#define NP    256 /* pages in the window */
#define WBASE UINT64_C(0x10000)
#define WSIZE ((uint64_t)NP * PG)
#define WEND  (WBASE + WSIZE)

#define MAX_OPS	  256
#define MAX_AREAS 512 /* more than NP: room to see a broken map whole */
#define LOG_LEN	  200

#define PROT_ALL   (UVMA_PROT_READ | UVMA_PROT_WRITE | UVMA_PROT_EXEC)
#define TYPE_MASK  (UVMA_MAP_SHARED | UVMA_MAP_PRIVATE)
#define ANON	   UVMA_MAP_ANONYMOUS
#define FIXED	   UVMA_MAP_FIXED
#define NOREPLACE  UVMA_MAP_FIXED_NOREPLACE
#define GROWSDOWN  UVMA_MAP_GROWSDOWN
#define NORESERVE  UVMA_MAP_NORESERVE
#define MLOCKED	   UVMA_MAP_LOCKED
#define POPULATE   UVMA_MAP_POPULATE
#define MAYMOVE	   UVMA_MREMAP_MAYMOVE
#define RFIXED	   UVMA_MREMAP_FIXED
#define KEEP	   UVMA_MREMAP_DONTUNMAP
#define ALIGNED(x) (((x) & (PG - 1)) == 0)

void (*fuzz_ops_fail_hook)(const uint8_t *data, size_t size);

/* Two user pointers besides NULL: areas that differ only in it must not
 * merge. */
static char user_tags[2];

/* One area, from uvma_maps() or from the tree. */
struct fz_area {
	uint64_t start, end;
	unsigned prot, flags;
	uint64_t pgoff, file_id;
	void *user;
	uint32_t anon;	      /* the tag of touched memory (uvma_area_info) */
	struct uvma_vma *vma; /* from the tree only */
};

struct snap {
	struct fz_area a[MAX_AREAS];
	size_t n;
	bool overflow;
};

/*
 * An outcome an operation may have: what it returns (and the address or
 * heap end it reports, when check_out) and the model after it. The model's
 * own outcome (tests/lib/linux_model.h) comes first; the others are what
 * Linux or the header also allow there, an allocation failure armed
 * included. unchanged: the model's pages did not change, so the map must be
 * exactly as it was, area by area.
 */
struct cand {
	const char *what;
	int ret;
	bool check_out;
	uint64_t out;
	bool unchanged;
	bool model; /* m holds the model after it (else: the model as is) */
	struct lm m;
};

#define MAX_CANDS 6

static struct fz {
	struct uvma_mm *mm;
	struct lm m; /* the model: what the map must be */
	bool injected;
	int last_ret;
	uint64_t last_out;
	uint32_t seq_before, seq_after; /* mm_lock_seq around the operation */
	const uint8_t *input;
	size_t input_len;
	int nops;
	char log[MAX_OPS + 1][LOG_LEN];
	struct snap pre, post, tpre, tpost;
	struct lm_page act[NP]; /* the map after the operation, per page */
	struct cand c[MAX_CANDS];
	int nc;
	char msg[512];
	struct fuzz_ops_stats stats;
} F;

void fuzz_ops_get_stats(struct fuzz_ops_stats *st)
{
	*st = F.stats;
}

/* ---- reporting ----------------------------------------------------------- */

static void print_snap(const char *title, const struct snap *s)
{
	fprintf(stderr, "%s (%zu areas%s):\n", title, s->n,
		s->overflow ? ", more not shown" : "");
	for (size_t i = 0; i < s->n; i++)
		fprintf(stderr,
			"  [%#" PRIx64 ", %#" PRIx64 ") prot %u flags %#x file "
			"%#" PRIx64 " pgoff %#" PRIx64 " user %p anon %#x\n",
			s->a[i].start, s->a[i].end, s->a[i].prot, s->a[i].flags,
			s->a[i].file_id, s->a[i].pgoff, s->a[i].user,
			s->a[i].anon);
}

static int snap_cb(const struct uvma_area_info *ai, void *arg);
static void snap_tree(struct snap *s);
static void snap_maps(struct snap *s);
static void pages_of(const struct snap *s, struct lm_page *pg);
static int pages_diff(const struct lm_page *act, const struct lm *m);

__attribute__((noreturn, format(printf, 1, 2))) static void
fz_fail(const char *fmt, ...)
{
	static bool failing;
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "\nfuzz_ops: VIOLATION: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr,
		"\nheap: brk_start %#" PRIx64 ", model brk %#" PRIx64
		"\noperations of this input (the last one failed):\n",
		F.m.brk_start, F.m.brk);
	for (int i = 0; i <= F.nops && i <= MAX_OPS; i++)
		if (F.log[i][0])
			fprintf(stderr, "  %3d %s\n", i, F.log[i]);
	print_snap("map before the operation", &F.pre);
	if (F.mm && !failing) {
		/* The map now, as uvma_maps tells it (once: a failure in
		 * here must not recurse). */
		failing = true;
		F.post.n = 0;
		F.post.overflow = false;
		uvma_maps(F.mm, 0, UINT64_MAX, snap_cb, &F.post);
		print_snap("map now", &F.post);
	}
	lm_print(stderr, "model before the operation", &F.m);
	for (int k = 0; k < F.nc; k++) {
		const struct cand *c = &F.c[k];
		char t[160];

		snprintf(t, sizeof(t), "allowed outcome %d, %s: returns %d", k,
			 c->what, c->ret);
		if (c->check_out)
			snprintf(t + strlen(t), sizeof(t) - strlen(t),
				 " out %#" PRIx64, c->out);
		if (!c->model || c->unchanged)
			fprintf(stderr, "%s, the map unchanged\n", t);
		else
			lm_print(stderr, t, &c->m);
	}
	fprintf(stderr, "input (%zu bytes):", F.input_len);
	for (size_t i = 0; i < F.input_len; i++)
		fprintf(stderr, "%s%02x", i % 32 ? "" : "\n  ", F.input[i]);
	fprintf(stderr, "\n");
	if (fuzz_ops_fail_hook)
		fuzz_ops_fail_hook(F.input, F.input_len);
	abort();
}

__attribute__((format(printf, 1, 2))) static void oplog(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(F.log[F.nops], LOG_LEN, fmt, ap);
	va_end(ap);
}

/* Append the result to the current operation's line. */
static void oplog_ret(int ret, uint64_t out)
{
	size_t n = strlen(F.log[F.nops]);

	F.last_ret = ret;
	F.last_out = out;
	snprintf(F.log[F.nops] + n, LOG_LEN - n, " = %d (%s)%s out %#" PRIx64,
		 ret, ret ? uvma_strerror(ret) : "ok",
		 F.injected ? " [fail armed]" : "", out);
}

/*
 * Known bugs the generator can steer around, so that a long run finds the
 * next one instead of the same one again: UVMA_FUZZ_SKIP holds a
 * comma-separated list of names. Empty by default: CTest and `make fuzz`
 * look for everything.
 *   mremap-oldlen0  no old_len that page-rounds to 0
 *   mremap-wrap     no old range that wraps past 2^64
 *   mremap-move     no mremap that moves (FIXED, or MAYMOVE growth)
 *   inject          arm no allocation failure (to triage a finding: does
 *                   it need one?)
 */
enum {
	SKIP_MREMAP_OLDLEN0 = 1,
	SKIP_INJECT = 2,
	SKIP_MREMAP_WRAP = 4,
	SKIP_MREMAP_MOVE = 8,
};

static unsigned skip_mask(void)
{
	static int done;
	static unsigned mask;

	if (!done) {
		const char *e = getenv("UVMA_FUZZ_SKIP");

		done = 1;
		if (e && strstr(e, "mremap-oldlen0"))
			mask |= SKIP_MREMAP_OLDLEN0;
		if (e && strstr(e, "inject"))
			mask |= SKIP_INJECT;
		if (e && strstr(e, "mremap-wrap"))
			mask |= SKIP_MREMAP_WRAP;
		if (e && strstr(e, "mremap-move"))
			mask |= SKIP_MREMAP_MOVE;
	}
	return mask;
}

/* ---- reading the input --------------------------------------------------- */

struct rd {
	const uint8_t *p;
	size_t n, i;
};

/* Past the end, zeros: every op decodes, the program just ends there. */
static uint8_t u8(struct rd *r)
{
	return r->i < r->n ? r->p[r->i++] : 0;
}

/* An address: mostly a page of the window (or just past it), sometimes
 * unaligned, below the window or absurd. */
static uint64_t p_addr(struct rd *r)
{
	static const uint64_t special[] = {
		0,
		UINT64_MAX & ~(PG - 1),
		1ull << 63,
		WEND,
		WEND - PG,
		UINT64_MAX - 2 * PG + 1,
		0x7ffffffff000ull,
		WBASE + WSIZE / 2 + 123,
	};
	uint8_t k = u8(r), v = u8(r);

	if (k < 208)
		return WBASE + (uint64_t)v * PG;
	if (k < 224)
		return WEND + (uint64_t)(v % 8) * PG;
	if (k < 240)
		return WBASE + (uint64_t)v * PG + 1 +
		       (uint64_t)k * 97 % (PG - 1);
	if (k < 248)
		return v & 1 ? 0 : WBASE - (uint64_t)(1 + v % 4) * PG;
	return special[v % (sizeof(special) / sizeof(special[0]))];
}

/* A length: mostly a few pages, sometimes the window or more, unaligned
 * (rounds up), zero or absurd. */
static uint64_t p_len(struct rd *r)
{
	static const uint64_t special[] = {
		UINT64_MAX,	   UINT64_MAX - PG + 2,
		1ull << 63,	   WSIZE,
		WSIZE + PG,	   UINT64_MAX & ~(PG - 1),
		(1ull << 63) + PG, 2 * WSIZE,
	};
	uint8_t k = u8(r), v = u8(r);

	if (k < 160)
		return (1 + (uint64_t)(v % 16)) * PG;
	if (k < 200)
		return (1 + (uint64_t)v) * PG;
	if (k < 224)
		return (uint64_t)(v % 16) * PG + 1 +
		       (uint64_t)k * 131 % (PG - 1);
	if (k < 232)
		return 0;
	return special[v % (sizeof(special) / sizeof(special[0]))];
}

static unsigned p_prot(struct rd *r)
{
	uint8_t b = u8(r);

	if (b < 240)
		return b & 7;
	return (b & 7) | (b & 1 ? 0x10u : 0x40000000u);
}

static void *p_user(struct rd *r)
{
	uint8_t b = u8(r);

	return b < 200 ? NULL : &user_tags[b & 1];
}

/* ---- the model's outcomes -------------------------------------------------
 *
 * The model is tests/lib/linux_model.h, in F.m. Each operation first checks
 * its arguments here (the sets of errors Linux and the header allow), then
 * lists its outcomes: the model's, on a copy of the model, and the others
 * allowed. post_check() takes the first outcome that returned what the call
 * returned and left the map it left.
 */

static bool in_window(uint64_t a, uint64_t len)
{
	return a >= WBASE && len <= WSIZE && a - WBASE <= WSIZE - len;
}

static int pidx(uint64_t a)
{
	return (int)((a - WBASE) / PG);
}

/* A new outcome: the map as it is, returning ret. */
static struct cand *cand_add(const char *what, int ret)
{
	struct cand *c;

	if (F.nc == MAX_CANDS)
		fz_fail("model: too many outcomes");
	c = &F.c[F.nc++];
	c->what = what;
	c->ret = ret;
	c->check_out = false;
	c->out = 0;
	c->unchanged = true;
	c->model = false;
	return c;
}

/* A new outcome the model computes: c->m starts as the model is now, for
 * the operation to run on, then cand_ran(). */
static struct cand *cand_model(const char *what)
{
	struct cand *c = cand_add(what, 0);

	lm_copy(&c->m, &F.m);
	c->model = true;
	return c;
}

/* The operation ran on c->m and returned ret (and out, when
 * check_out). */
static void cand_ran(struct cand *c, int ret, bool check_out, uint64_t out)
{
	c->ret = ret;
	c->check_out = check_out;
	c->out = out;
	c->unchanged = lm_same_pages(&c->m, &F.m);
}

/* With an allocation failure armed, any operation may fail with -ENOMEM
 * and leave the map as it was. */
static struct cand *cand_enomem(void)
{
	return F.injected ? cand_add("allocation failure", -ENOMEM) : NULL;
}

/* A set of errors the arguments allow. */
struct errs {
	int v[8];
	int n;
};

static void eadd(struct errs *e, int err)
{
	for (int i = 0; i < e->n; i++)
		if (e->v[i] == err)
			return;
	if (e->n < 8)
		e->v[e->n++] = err;
}

static bool ein(const struct errs *e, int err)
{
	for (int i = 0; i < e->n; i++)
		if (e->v[i] == err)
			return true;
	return false;
}

static void expect_one_of(const char *op, int ret, const struct errs *e)
{
	char list[96] = "";
	size_t n = 0;

	if (ein(e, ret) || (F.injected && ret == -ENOMEM))
		return;
	for (int i = 0; i < e->n; i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, " %d",
				      e->v[i]);
	fz_fail("%s returned %d (%s), expected one of:%s", op, ret,
		uvma_strerror(ret), list);
}

static void expect_ret(const char *op, int ret, int want)
{
	if (ret != want)
		fz_fail("%s returned %d (%s), expected %d (%s)", op, ret,
			uvma_strerror(ret), want, uvma_strerror(want));
}

/* The area of s that covers a, or NULL. */
static const struct fz_area *snap_area_at(const struct snap *s, uint64_t a)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->a[i].start <= a && a < s->a[i].end)
			return &s->a[i];
	return NULL;
}

/* The area of the map before the operation that covers a, or NULL. */
static const struct fz_area *pre_area_at(uint64_t a)
{
	return snap_area_at(&F.pre, a);
}

/* ---- allocation failures ------------------------------------------------- */

/* The control byte's top bits arm a failure: the n-th tree node, VMA
 * object or plan array allocation of the coming operation fails. */
static void arm(struct rd *r, uint8_t ctl)
{
	unsigned kind = (ctl >> 4) & 15;
	long n;

	F.injected = false;
	if (kind < 12)
		return;
	n = 1 + u8(r) % 12;
	if (skip_mask() & SKIP_INJECT)
		return;
	F.injected = true;
	F.stats.injected++;
	switch (kind) {
	case 12:
	case 13:
		tree_fail_alloc_after(&F.mm->tree, n);
		break;
	case 14:
		vma_pool_fail_after(n);
		break;
	default:
		plan_fail_alloc_after(n);
		break;
	}
}

static void disarm(void)
{
	tree_fail_alloc_after(&F.mm->tree, 0);
	vma_pool_fail_after(0);
	plan_fail_alloc_after(0);
}

/* ---- the operations ------------------------------------------------------ */

struct mmap_args {
	uint64_t addr, len;
	unsigned prot, flags;
	uint64_t file_id, off;
	void *user;
};

/*
 * A hint is taken when the range there is free, else the search runs
 * top-down. The model rounds the hint down (x86) and raises one below
 * mmap_min_addr (the window's base) to it; Linux's generic code rounds it
 * up, and the header reads a hint below the window as "not free". Is at
 * one of these placements for len bytes?
 */
static bool hint_allowed(uint64_t hint, uint64_t len, uint64_t at)
{
	uint64_t td = 0, h;
	bool have_td = lm_topdown(&F.m, len, &td) == 0;
	int nfree = 0;

	if (!hint)
		return false; /* top-down only: the model's own answer */
	for (int round = 0; round < 2; round++) {
		if (!round && hint > UINT64_MAX - PG + 1)
			continue;
		h = round ? hint & ~(PG - 1) : (hint + PG - 1) & ~(PG - 1);
		if (h < WBASE)
			h = WBASE;
		if (lm_fits(&F.m, h, len)) {
			nfree++;
			if (at == h)
				return true;
		}
	}
	/* Top-down when the hint is taken in neither reading. */
	return have_td && at == td && (nfree < 2 || hint < WBASE);
}

static void do_mmap(struct mmap_args *a, struct rd *r, uint8_t ctl)
{
	const unsigned known = TYPE_MASK | ANON | FIXED | NOREPLACE |
			       GROWSDOWN | NORESERVE | MLOCKED | POPULATE;
	unsigned type = a->flags & TYPE_MASK;
	bool anon = a->flags & ANON;
	bool fixed = a->flags & (FIXED | NOREPLACE);
	struct errs e = { 0 }, soft = { 0 };
	uint64_t alen = 0, out = 0, at = 0;
	struct cand *c;
	int ret, want;

	if (!a->len)
		eadd(&e, -EINVAL);
	else if (a->len > UINT64_MAX - PG + 1)
		eadd(&e, -ENOMEM); /* rounding up overflows */
	else
		alen = (a->len + PG - 1) & ~(PG - 1);
	if (!ALIGNED(a->off) || (a->prot & ~PROT_ALL) ||
	    (type != UVMA_MAP_SHARED && type != UVMA_MAP_PRIVATE) ||
	    (a->flags & ~known))
		eadd(&e, -EINVAL);
	if (!anon && (a->file_id == 0 || a->file_id >= (1ull << 63)))
		eadd(&e, -EBADF);
	/* Only private anonymous memory grows down. */
	if ((a->flags & GROWSDOWN) && (!anon || type != UVMA_MAP_PRIVATE))
		eadd(&e, -EINVAL);
	/* A fixed range must lie in the window (-ENOMEM; -EPERM below
	 * mmap_min_addr on Linux), checked before its alignment (-EINVAL). */
	if (fixed && !ALIGNED(a->addr))
		eadd(&e, -EINVAL);
	if (fixed && alen && !in_window(a->addr, alen)) {
		eadd(&e, -ENOMEM);
		if (a->addr < WBASE)
			eadd(&e, -EPERM);
	}
	/* Linux never overflows the page offset on 64 bits, but limits a
	 * file mapping to the largest file size: offset + len < 2^63. */
	if (alen && ALIGNED(a->off) &&
	    (alen > INT64_MAX || a->off > INT64_MAX - alen))
		eadd(&soft, -EOVERFLOW);

	oplog("mmap(%#" PRIx64 ", %#" PRIx64 ", prot %#x, flags %#x, file "
	      "%" PRIu64 ", off %#" PRIx64 ", user %p)",
	      a->addr, a->len, a->prot, a->flags, a->file_id, a->off, a->user);
	arm(r, ctl);
	ret = uvma_mmap(F.mm, a->addr, a->len, a->prot, a->flags, a->file_id,
			a->off, a->user, &out);
	disarm();
	oplog_ret(ret, out);

	if (e.n) {
		for (int i = 0; i < soft.n; i++)
			eadd(&e, soft.v[i]);
		expect_one_of("mmap", ret, &e);
		cand_add("mmap (bad arguments)", ret);
		return;
	}
	if (soft.n)
		cand_add("mmap (offset past the largest file)", -EOVERFLOW);
	cand_enomem();
	c = cand_model("mmap");
	want = lm_mmap(&c->m, a->addr, alen, a->prot, a->flags, a->file_id,
		       a->off, a->user, &at);
	cand_ran(c, want, !want, at);
	if (!fixed && !ret && (want || out != at) &&
	    hint_allowed(a->addr, alen, out)) {
		/* The same mapping, where uvma put it. */
		c = cand_model("mmap (a hint read another way)");
		want = lm_mmap(&c->m, out, alen, a->prot,
			       (a->flags & ~NOREPLACE) | FIXED, a->file_id,
			       a->off, a->user, &at);
		cand_ran(c, want, true, out);
	}
}

static void op_mmap(struct rd *r, uint8_t ctl)
{
	struct mmap_args a;
	uint8_t f, b;

	a.addr = p_addr(r);
	a.len = p_len(r);
	a.prot = p_prot(r);
	f = u8(r);
	switch (f & 3) {
	case 0:
	case 2:
		a.flags = UVMA_MAP_PRIVATE;
		break;
	case 1:
		a.flags = UVMA_MAP_SHARED;
		break;
	default: {
		/* Mostly shared; one mmap in 16 has a bad sharing type or an
		 * unknown flag. */
		static const unsigned bad[] = {
			0,
			UVMA_MAP_SHARED | UVMA_MAP_PRIVATE,
			UVMA_MAP_PRIVATE | 0x04,
			UVMA_MAP_SHARED | 0x200000,
		};
		a.flags = (f & 0xc0) == 0xc0 ? bad[(f >> 4) & 3]
					     : UVMA_MAP_SHARED;
		break;
	}
	}
	if (((f >> 2) & 3) != 3)
		a.flags |= ANON;
	switch ((f >> 4) & 3) {
	case 1:
	case 3:
		a.flags |= FIXED;
		break;
	case 2:
		a.flags |= NOREPLACE;
		break;
	}
	b = u8(r);
	if (a.flags & ANON)
		a.file_id = b < 224 ? 0 : 1 + b % 3;
	else
		a.file_id = b < 16 ? 0 : (b < 20 ? 1ull << 63 : 1u + b % 3u);
	b = u8(r);
	/* One anonymous mapping in 8 is a stack (shared ones: -EINVAL). */
	if ((a.flags & ANON) && (b & 0x70) == 0x70)
		a.flags |= GROWSDOWN;
	/* One in 8 is not charged (VM_NORESERVE), one in 8 faulted in,
	 * one in 16 locked. */
	if ((b & 0x70) == 0x10)
		a.flags |= NORESERVE;
	if ((b & 0x70) == 0x20)
		a.flags |= POPULATE;
	if ((f & 0xc0) == 0x40 && (b & 0x80))
		a.flags |= MLOCKED;
	if (b < 200)
		a.off = (uint64_t)(b % 16) * PG;
	else if (b < 224)
		a.off = (uint64_t)(b % 16) * PG + 1 + b;
	else
		a.off = b & 1 ? UINT64_MAX & ~(PG - 1) : (1ull << 63) - PG;
	a.user = p_user(r);
	do_mmap(&a, r, ctl);
}

/*
 * mmap next to an existing area with everything it needs to merge (same
 * prot, flags, file, user; continuing offset), sometimes spoilt by one
 * field: random arguments rarely line file offsets up.
 */
static void op_mmap_adjacent(struct rd *r, uint8_t ctl)
{
	uint8_t k = u8(r), v = u8(r), w = u8(r);
	const struct fz_area *ar;
	struct mmap_args a;
	uint64_t n = 1 + (uint64_t)(v % 8), pages;

	if (!F.pre.n) {
		op_mmap(r, ctl);
		return;
	}
	ar = &F.pre.a[w % F.pre.n];
	pages = (ar->end - ar->start) / PG;
	memset(&a, 0, sizeof(a));
	a.len = n * PG;
	a.prot = ar->prot;
	a.flags = (ar->flags & (TYPE_MASK | ANON | GROWSDOWN)) |
		  (k & 8 ? NOREPLACE : FIXED);
	if (ar->flags & VMA_VM(UVMA_VM_NORESERVE))
		a.flags |= NORESERVE;
	a.file_id = ar->file_id;
	a.user = ar->user;
	if (k & 1) { /* after it */
		a.addr = ar->end;
		a.off = (ar->pgoff + pages) * PG;
	} else { /* before it */
		a.addr = ar->start - a.len;
		a.off = ar->pgoff >= n ? (ar->pgoff - n) * PG : 0;
	}
	switch ((k >> 4) & 7) {
	case 0:
		a.prot ^= 1u << (v % 3);
		break;
	case 1:
		a.off += PG;
		break;
	case 2:
		a.user = a.user ? NULL : &user_tags[0];
		break;
	case 3:
		a.flags ^= NORESERVE; /* charged next to not, or back */
		break;
	}
	do_mmap(&a, r, ctl);
}

static void do_munmap(uint64_t addr, uint64_t len, struct rd *r, uint8_t ctl)
{
	uint64_t alen = 0, end = 0;
	struct errs e = { 0 };
	struct cand *c;
	int ret;

	if (!ALIGNED(addr) || !len || len > UINT64_MAX - PG + 1)
		eadd(&e, -EINVAL);
	else
		alen = (len + PG - 1) & ~(PG - 1);
	if (alen && addr + alen < addr)
		eadd(&e, -EINVAL);
	else if (alen)
		end = addr + alen;
	/* Entirely outside the window: -EINVAL (the header). */
	if (alen && end && (end <= WBASE || addr >= WEND))
		eadd(&e, -EINVAL);

	oplog("munmap(%#" PRIx64 ", %#" PRIx64 ")", addr, len);
	arm(r, ctl);
	ret = uvma_munmap(F.mm, addr, len);
	disarm();
	oplog_ret(ret, 0);

	if (e.n) {
		expect_one_of("munmap", ret, &e);
		cand_add("munmap (bad arguments)", ret);
		return;
	}
	cand_enomem();
	c = cand_model("munmap");
	cand_ran(c, lm_munmap(&c->m, addr, alen), false, 0);
	if (!in_window(addr, alen)) {
		/* Straddles an edge of the window: the model (and uvma)
		 * refuses it as leaving the address space; unmapping the part
		 * inside is allowed too. */
		c = cand_model("munmap (the part in the window)");
		lm_clear(&c->m, addr, alen);
		cand_ran(c, 0, false, 0);
	}
}

/* Whether mprotect makes a locked (not on fault) private area of the
 * model writable. */
static bool protect_fills(uint64_t addr, uint64_t len, unsigned prot)
{
	if (!(prot & UVMA_PROT_WRITE))
		return false;
	for (uint64_t a = addr; a - addr < len; a += PG) {
		const struct lm_page *p = lm_at(&F.m, a);

		if (!p || !p->mapped)
			return false;
		if (lm_locked_fill(p) && !(p->flags & UVMA_MAP_SHARED) &&
		    !(p->prot & UVMA_PROT_WRITE))
			return true;
	}
	return false;
}

static void do_mprotect(uint64_t addr, uint64_t len, unsigned prot,
			struct rd *r, uint8_t ctl)
{
	uint64_t alen = 0;
	struct errs e = { 0 };
	struct cand *c;
	int ret;

	/* Linux: unaligned start, then len 0 (a no-op, whatever prot is),
	 * then an end that wraps (-ENOMEM), then prot. The header does not
	 * fix the order between the last two, so with several defects any
	 * of their errors is accepted. */
	if (!ALIGNED(addr))
		eadd(&e, -EINVAL);
	if (len > UINT64_MAX - PG + 1)
		eadd(&e, -ENOMEM);
	else if (len)
		alen = (len + PG - 1) & ~(PG - 1);
	if (alen && addr + alen < addr)
		eadd(&e, -ENOMEM);
	if (len && (prot & ~PROT_ALL))
		eadd(&e, -EINVAL);
	if (ein(&e, -ENOMEM))
		eadd(&e, -EINVAL); /* an impossible range is also "invalid" */

	oplog("mprotect(%#" PRIx64 ", %#" PRIx64 ", %#x)", addr, len, prot);
	arm(r, ctl);
	/* A locked area made writable is changed area by area (each faulted
	 * in before the next: uvma_mprotect), so a failed allocation may
	 * leave the areas before it changed, as on Linux: not armed. */
	if (F.injected && protect_fills(addr, alen, prot)) {
		disarm();
		F.injected = false;
	}
	ret = uvma_mprotect(F.mm, addr, len, prot);
	disarm();
	oplog_ret(ret, 0);

	if (e.n) {
		expect_one_of("mprotect", ret, &e);
		cand_add("mprotect (bad arguments)", ret);
		return;
	}
	/* (len 0 returns before anything could fail to allocate.) */
	if (len)
		cand_enomem();
	c = cand_model("mprotect");
	cand_ran(c, lm_mprotect(&c->m, addr, alen, prot), false, 0);
}

/* ---- advice and locks ---------------------------------------------------- */

/* madvise: Linux's checks first (the advice, the start, a length that
 * rounds to 0 or wraps, all -EINVAL; length 0 succeeds), then the model.
 * A failed split is -EAGAIN for flag advice (nothing changed). */
static void do_madvise(uint64_t addr, uint64_t len, int advice, struct rd *r,
		       uint8_t ctl)
{
	uint32_t set, clr;
	bool flag = lm_flag_advice(advice, &set, &clr);
	bool known =
		flag ||
		(advice >= UVMA_MADV_WILLNEED &&
		 advice <= UVMA_MADV_DONTNEED_LOCKED && advice != 5 &&
		 advice != 6 && advice != 7 &&
		 (advice < UVMA_MADV_DONTFORK || advice >= UVMA_MADV_COLD));
	uint64_t alen = (len + PG - 1) & ~(PG - 1);
	struct cand *c;
	int ret;

	oplog("madvise(%#" PRIx64 ", %#" PRIx64 ", %d)", addr, len, advice);
	arm(r, ctl);
	ret = uvma_madvise(F.mm, addr, len, advice);
	disarm();
	oplog_ret(ret, 0);
	if (!known || !ALIGNED(addr) || (len && !alen) || addr + alen < addr) {
		expect_ret("madvise", ret, -EINVAL);
		cand_add("madvise (bad arguments)", ret);
		return;
	}
	if (!len) {
		cand_add("madvise of nothing", 0);
		return;
	}
	if (flag && F.injected)
		cand_add("allocation failure", -EAGAIN);
	c = cand_model("madvise");
	cand_ran(c, lm_madvise(&c->m, addr, alen, advice), false, 0);
	F.stats.flagged += !c->unchanged;
}

/* mlock2 (bits) or munlock (unlock): the start rounded down, the length
 * (grown by that) rounded up, wrapping as Linux's arithmetic does; an
 * empty range succeeds, a wrapping one is -EINVAL. */
static void do_mlock(uint64_t addr, uint64_t len, unsigned flags, bool unlock,
		     struct rd *r, uint8_t ctl)
{
	uint64_t start = addr & ~(PG - 1);
	uint64_t rlen = (len + (addr & (PG - 1)) + PG - 1) & ~(PG - 1);
	uint32_t bits = 0;
	struct cand *c;
	int ret;

	if (!unlock)
		bits = UVMA_VM_LOCKED |
		       (flags & UVMA_MLOCK_ONFAULT ? UVMA_VM_LOCKONFAULT : 0);
	oplog("%s(%#" PRIx64 ", %#" PRIx64 ", %#x)",
	      unlock ? "munlock" : "mlock", addr, len, flags);
	arm(r, ctl);
	ret = unlock ? uvma_munlock(F.mm, addr, len)
		     : uvma_mlock(F.mm, addr, len, flags);
	disarm();
	oplog_ret(ret, 0);
	if (!unlock && (flags & ~UVMA_MLOCK_ONFAULT)) {
		expect_ret("mlock", ret, -EINVAL);
		cand_add("mlock (bad arguments)", ret);
		return;
	}
	/* The limit on locked memory, before the range is looked at. */
	if (!unlock && !F.m.memlock) {
		expect_ret("mlock (nothing may be locked)", ret, -EPERM);
		cand_add("mlock (nothing may be locked)", ret);
		return;
	}
	if (!unlock && !lm_lock_fits(&F.m, start, rlen)) {
		expect_ret("mlock (past the limit)", ret, -ENOMEM);
		cand_add("mlock (past the limit)", ret);
		return;
	}
	if (start + rlen < start) {
		expect_ret("mlock", ret, -EINVAL);
		cand_add("mlock (bad arguments)", ret);
		return;
	}
	if (start + rlen == start) {
		cand_add("mlock of nothing", 0);
		return;
	}
	cand_enomem();
	c = cand_model(unlock ? "munlock" : "mlock");
	cand_ran(c, lm_mlock(&c->m, start, rlen, bits), false, 0);
	F.stats.flagged += !c->unchanged;
}

static void do_mlockall(unsigned flags, struct rd *r, uint8_t ctl)
{
	const unsigned all =
		UVMA_MCL_CURRENT | UVMA_MCL_FUTURE | UVMA_MCL_ONFAULT;
	struct cand *c;
	int ret;

	oplog(flags ? "mlockall(%#x)" : "munlockall()", flags);
	arm(r, ctl);
	ret = flags ? uvma_mlockall(F.mm, flags) : uvma_munlockall(F.mm);
	disarm();
	oplog_ret(ret, 0);
	if (flags && ((flags & ~all) || flags == UVMA_MCL_ONFAULT)) {
		expect_ret("mlockall", ret, -EINVAL);
		cand_add("mlockall (bad arguments)", ret);
		return;
	}
	cand_enomem();
	c = cand_model(flags ? "mlockall" : "munlockall");
	cand_ran(c, lm_mlockall(&c->m, flags), false, 0);
	F.stats.flagged += !c->unchanged;
	/* MCL_FUTURE changes no page, but the model's: keep it. */
	c->unchanged = false;
}

/* mseal: Linux's checks (flags, the start, a length that rounds to 0 or
 * wraps: -EINVAL; length 0 succeeds), then the model. */
static void do_mseal(uint64_t addr, uint64_t len, unsigned long flags,
		     struct rd *r, uint8_t ctl)
{
	uint64_t alen = (len + PG - 1) & ~(PG - 1);
	struct cand *c;
	int ret;

	oplog("mseal(%#" PRIx64 ", %#" PRIx64 ", %#lx)", addr, len, flags);
	arm(r, ctl);
	ret = uvma_mseal(F.mm, addr, len, flags);
	disarm();
	oplog_ret(ret, 0);
	if (flags || !ALIGNED(addr) || (len && !alen) || addr + alen < addr) {
		expect_ret("mseal", ret, -EINVAL);
		cand_add("mseal (bad arguments)", ret);
		return;
	}
	if (!len) {
		cand_add("mseal of nothing", 0);
		return;
	}
	cand_enomem();
	c = cand_model("mseal");
	cand_ran(c, lm_mseal(&c->m, addr, alen), false, 0);
	F.stats.flagged += !c->unchanged;
}

/* Advice (flag advice mostly), locks, mlockall, seals. */
/* RLIMIT_MEMLOCK: none, nothing, or a few pages (mostly some). */
static void set_memlock(uint8_t v, uint8_t k)
{
	uint64_t lim = v % 4 == 0 ? UVMA_MEMLOCK_UNLIMITED
		       : v % 4 == 1
			       ? 0
			       : (uint64_t)(k % 16) * PG + (k & 1 ? 100 : 0);

	oplog("memlock(%#" PRIx64 ")", lim);
	uvma_mm_set_memlock_limit(F.mm, lim);
	oplog_ret(0, 0);
	F.m.memlock = lim;
	cand_add("memlock", 0);
}

static void op_flags(struct rd *r, uint8_t ctl)
{
	static const int advice[] = {
		UVMA_MADV_DONTFORK,
		UVMA_MADV_DOFORK,
		UVMA_MADV_WIPEONFORK,
		UVMA_MADV_KEEPONFORK,
		UVMA_MADV_DONTDUMP,
		UVMA_MADV_DODUMP,
		UVMA_MADV_HUGEPAGE,
		UVMA_MADV_NOHUGEPAGE,
		UVMA_MADV_MERGEABLE,
		UVMA_MADV_UNMERGEABLE,
		UVMA_MADV_SEQUENTIAL,
		UVMA_MADV_RANDOM,
		UVMA_MADV_NORMAL,
		UVMA_MADV_WILLNEED,
		UVMA_MADV_DONTNEED,
		UVMA_MADV_DONTNEED_LOCKED,
		UVMA_MADV_FREE,
		UVMA_MADV_REMOVE,
		UVMA_MADV_COLD,
		UVMA_MADV_PAGEOUT,
		UVMA_MADV_POPULATE_READ,
		UVMA_MADV_POPULATE_WRITE,
		5,
		999,
	};
	uint8_t k = u8(r), v = u8(r);
	uint64_t addr = p_addr(r), len = p_len(r);

	/* Mostly aimed at an area: its start, or a page or two in. */
	if ((k & 0x30) && F.pre.n) {
		const struct fz_area *a =
			&F.pre.a[((unsigned)v * 13 + (k >> 6)) % F.pre.n];
		uint64_t in = (uint64_t)(k >> 4 & 3) * PG;

		addr = a->start + (in < a->end - a->start ? in : 0);
	}
	switch (k % 8) {
	case 0:
	case 1:
	case 2:
	case 3:
		do_madvise(addr, len,
			   advice[v % (sizeof(advice) / sizeof(advice[0]))], r,
			   ctl);
		break;
	case 4:
	case 5:
		do_mlock(addr, len, v < 240 ? v & 1 : v, false, r, ctl);
		break;
	case 6:
		do_mlock(addr, len, 0, true, r, ctl);
		break;
	default:
		if (v >= 232) /* rarely: a sealed area stays for good */
			do_mseal(addr, len, v >= 252 ? v : 0, r, ctl);
		else if (v >= 216)
			set_memlock(v, k);
		else
			do_mlockall(v < 208 ? v % 8 : v, r, ctl);
		break;
	}
}

static void op_munmap(struct rd *r, uint8_t ctl)
{
	uint64_t addr = p_addr(r), len = p_len(r);

	do_munmap(addr, len, r, ctl);
}

static void op_mprotect(struct rd *r, uint8_t ctl)
{
	uint64_t addr = p_addr(r), len = p_len(r);
	unsigned prot = p_prot(r);

	do_mprotect(addr, len, prot, r, ctl);
}

/*
 * A move over several areas (or with MREMAP_DONTUNMAP) goes piece by piece
 * (uvma_mremap): a failed allocation may stop it after any piece, those
 * before moved. The outcome
 * is the model stopped after as many pieces as the map shows moved, if
 * there is such a number (one candidate, however many pieces).
 */
static void pieces_partial(uint64_t oa, uint64_t olr, uint64_t nlr, unsigned fl,
			   uint64_t na)
{
	static struct snap s;
	static struct lm t;

	if (F.last_ret != -ENOMEM)
		return;
	snap_maps(&s);
	pages_of(&s, F.act);
	for (unsigned k = 1; k < NP; k++) {
		uint64_t at = 0;
		struct cand *c;

		lm_copy(&t, &F.m);
		t.move_limit = k;
		if (lm_mremap(&t, oa, olr, nlr, fl, na, &at) != -ENOMEM)
			return;	  /* the whole move: no more partial ones */
		t.move_limit = 0; /* the model may go on from here */
		for (unsigned j = 0; j < t.nchoice; j++) {
			const struct lm_page *x =
				&F.act[pidx(t.choice[j].addr)];

			if (x->mapped)
				lm_choose(&t, j, x->pgoff);
		}
		if (pages_diff(F.act, &t) >= 0)
			continue;
		c = cand_model("mremap piece by piece (stopped by an "
			       "allocation failure)");
		lm_copy(&c->m, &t);
		cand_ran(c, -ENOMEM, false, 0);
		return;
	}
}

static void op_mremap(struct rd *r, uint8_t ctl)
{
	uint8_t k = u8(r), b;
	uint64_t oa, ol, nl, na = 0, out = 0, at = 0, olr, nlr;
	unsigned fl;
	struct errs e = { 0 };
	const struct fz_area *A;
	struct cand *c;
	bool inside, tail_out;
	int ret, want;

	if (F.pre.n && k < 200) {
		const struct fz_area *ar = &F.pre.a[u8(r) % F.pre.n];
		uint64_t pages = (ar->end - ar->start) / PG;
		uint8_t w = u8(r);

		oa = k & 1 ? ar->start + (uint64_t)(w % pages) * PG : ar->start;
		if (k >= 192) /* Linux's "duplicate a shared mapping" */
			ol = 0;
		else if (k & 2)
			ol = p_len(r);
		else
			ol = ar->end - oa;
		if ((k & 12) == 12 && ol)
			ol += PG; /* one page past the area */
	} else {
		oa = p_addr(r);
		ol = p_len(r);
	}
	b = u8(r);
	if (b < 64)
		nl = ol ? ol : PG;
	else if (b < 128)
		nl = ol + (uint64_t)(1 + b % 8) * PG;
	else if (b < 192)
		nl = ol > (uint64_t)(1 + b % 8) * PG
			     ? ol - (uint64_t)(1 + b % 8) * PG
			     : PG;
	else
		nl = p_len(r);
	b = u8(r);
	switch (b % 8) {
	case 0:
	case 1:
		fl = 0;
		break;
	case 2:
	case 3:
		fl = MAYMOVE;
		break;
	case 4:
	case 5:
		fl = MAYMOVE | RFIXED;
		break;
	case 6:
		fl = RFIXED;
		break;
	default:
		fl = MAYMOVE | (b & 8 ? 0x8u : 0x100u);
		break;
	}
	/* MREMAP_DONTUNMAP on a quarter of the moves, mostly at the same
	 * size (anything else is EINVAL). */
	if ((fl & MAYMOVE) && !(fl & ~(unsigned)(MAYMOVE | RFIXED)) &&
	    (b & 0x60) == 0x60) {
		fl |= KEEP;
		if (b & 0x80)
			nl = ol;
	}
	if (fl & RFIXED)
		na = p_addr(r);
	if (!ol && (fl & RFIXED) && (b & 0x10))
		na = oa; /* the duplicate over its own source */
	if ((skip_mask() & SKIP_MREMAP_OLDLEN0) &&
	    ((ol + PG - 1) & ~(PG - 1)) == 0)
		ol = PG;
	if ((skip_mask() & SKIP_MREMAP_WRAP) && oa + ol < oa)
		ol = PG;
	if (skip_mask() & SKIP_MREMAP_MOVE)
		fl &= ~(unsigned)(MAYMOVE | RFIXED | KEEP);

	A = ALIGNED(oa) ? pre_area_at(oa) : NULL;
	/* Rounded as Linux's PAGE_ALIGN: a length near 2^64 wraps to 0 (an
	 * old_len of 0 is the duplicate case, a new_len of 0 invalid). */
	olr = (ol + PG - 1) & ~(PG - 1);
	nlr = (nl + PG - 1) & ~(PG - 1);
	/* Linux 6.17 and later check, before looking anything up: flags,
	 * alignment, a new length beyond the address space (the window's end
	 * plays TASK_SIZE), and for FIXED the destination and its overlap
	 * with the source (in wrapping arithmetic, as Linux computes it). The
	 * old range is only checked later, against its areas. */
	if ((fl & ~(unsigned)(MAYMOVE | RFIXED | KEEP)) ||
	    ((fl & RFIXED) && !(fl & MAYMOVE)) || !ALIGNED(oa) || !nlr ||
	    nlr > WEND || ((fl & KEEP) && olr != nlr))
		eadd(&e, -EINVAL);
	if ((fl & RFIXED) && !ALIGNED(na))
		eadd(&e, -EINVAL);
	if ((fl & RFIXED) && nlr && nlr <= WEND && ALIGNED(na) &&
	    !in_window(na, nlr)) {
		eadd(&e, -EINVAL);
		eadd(&e, -ENOMEM);
	}
	if ((fl & RFIXED) && nlr && oa + olr > na && na + nlr > oa)
		eadd(&e, -EINVAL);

	oplog("mremap(%#" PRIx64 ", %#" PRIx64 ", %#" PRIx64 ", %#x, %#" PRIx64
	      ")",
	      oa, ol, nl, fl, na);
	arm(r, ctl);
	ret = uvma_mremap(F.mm, oa, ol, nl, fl, na, &out);
	disarm();
	oplog_ret(ret, out);

	if (e.n) {
		/* Older kernels look the old address up between the argument
		 * checks: a missing area may be reported first. */
		if (!A)
			eadd(&e, -EFAULT);
		expect_one_of("mremap", ret, &e);
		cand_add("mremap (bad arguments)", ret);
		return;
	}
	cand_enomem();
	c = cand_model("mremap");
	want = lm_mremap(&c->m, oa, olr, nlr, fl, na, &at);
	cand_ran(c, want, !want, at);
	/* Same-size moves may span areas: piece by piece. */
	if (F.injected && (fl & RFIXED) && olr == nlr && olr)
		pieces_partial(oa, olr, nlr, fl, na);
	else if (F.injected && (fl & KEEP))
		pieces_partial(oa, olr, nlr, fl, na);
	if (!A)
		return; /* -EFAULT, nothing else */

	/* What the header also allows where Linux does something else. */
	inside = olr <= A->end - oa;
	tail_out = nlr < olr && (oa + olr < oa || oa + olr > WEND);
	if ((fl & RFIXED) && want && !c->unchanged) {
		/* Linux unmapped the destination and then failed (a copy
		 * onto its own source, an old tail out of range): uvma.h's
		 * "unchanged" is fine too. */
		cand_add("mremap FIXED (nothing unmapped)", want);
	} else if ((fl & RFIXED) && !want && olr && olr != nlr && !inside) {
		/* A resizing move whose old range runs past its area: Linux
		 * unmaps that tail and never asks; the header refuses. */
		cand_add("mremap FIXED (old range not in one area)", -EFAULT);
	} else if (!(fl & RFIXED) && tail_out) {
		/* A shrink whose tail leaves the address space: Linux's
		 * munmap refuses it (-EINVAL), the header's check -EFAULT. */
		cand_add("mremap shrink (old tail out of range)", -EFAULT);
	} else if (!(fl & RFIXED) && nlr <= olr && !inside &&
		   (ret == -EFAULT || ret == -EINVAL || ret == -ENOMEM)) {
		/* Linux shrinks without checking the old range (it unmaps
		 * whatever lies in the tail); the header may refuse. */
		cand_add("mremap shrink (old range not in one area)", ret);
	}
}

static void op_brk(struct rd *r, uint8_t ctl)
{
	static const uint64_t special[] = { UINT64_MAX, 1ull << 63, WEND,
					    WEND + 1, UINT64_MAX - PG + 2 };
	uint8_t k = u8(r), v = u8(r);
	uint64_t cur = F.m.brk, start = F.m.brk_start, q, out = 0xdead;
	uint64_t oldA, newA, step = (uint64_t)(1 + v % 16) * PG;
	struct cand *c;
	int ret, want;

	switch (k % 8) {
	case 0:
		q = 0;
		break;
	case 1:
		q = start > WBASE ? start - PG : (uint64_t)v * PG;
		break;
	case 2:
	case 3:
		q = cur + step;
		break;
	case 4:
		q = cur > step ? cur - step : cur / 2;
		break;
	case 5:
		q = cur + v;
		break;
	case 6:
		q = WBASE + (uint64_t)(v % (NP + 8)) * PG + (k & 8 ? v : 0);
		break;
	default:
		q = special[v % (sizeof(special) / sizeof(special[0]))];
		break;
	}

	oplog("brk(%#" PRIx64 ") [heap %#" PRIx64 ", end %#" PRIx64 "]", q,
	      start, cur);
	arm(r, ctl);
	ret = uvma_brk(F.mm, q, &out);
	disarm();
	oplog_ret(ret, out);

	/* The end reported is the model's after each outcome: the old one
	 * when the call fails. */
	c = cand_enomem();
	if (c) {
		c->check_out = true;
		c->out = cur;
	}
	c = cand_model("brk");
	want = lm_brk(&c->m, q);
	cand_ran(c, want, true, c->m.brk);
	if (!start) {
		/* No heap: a query of 0 may fail as well. */
		if (!q)
			cand_add("brk without a heap", -ENOMEM);
		return;
	}
	if (q < start || q > UINT64_MAX - PG + 1)
		return;
	newA = (q + PG - 1) & ~(PG - 1);
	oldA = (cur + PG - 1) & ~(PG - 1);
	if (newA < oldA && !want) {
		/* Linux refuses to shrink when nothing is mapped there, and
		 * unmaps all of [newA, oldA) otherwise; uvma may refuse. */
		c = cand_add("brk shrink refused", -ENOMEM);
		c->check_out = true;
		c->out = cur;
	}
}

/* Stop a uvma_maps walk after the first area. */
static int maps_stop(const struct uvma_area_info *ai, void *arg)
{
	(void)ai;
	++*(int *)arg;
	return 7;
}

/* Read-side calls on the unchanged map: fault, the area locks, find, a
 * partial uvma_maps. */
static bool same_area(const struct fz_area *a, const struct fz_area *b)
{
	return a->start == b->start && a->end == b->end && a->prot == b->prot &&
	       a->flags == b->flags && a->pgoff == b->pgoff &&
	       a->file_id == b->file_id && a->user == b->user;
}

/*
 * A fork (uvma_mm_dup) in a probe: the child is the map, area for area,
 * user pointers included, and valid; each touched area has a tag of its
 * own there, inherited; with a VMA allocation failure armed (fail 1-8
 * allocations from now) it fails with -ENOMEM or succeeds. Then either
 * the child goes again before the checks after the operation, which count
 * the pool's live objects as this space's alone, and the parent must be
 * exactly as it was; or (stay) the parent goes and the input goes on in
 * the child, whose map must be the model's after lm_fork. True when the
 * input goes on in the child.
 */
static bool probe_fork(uint8_t k, bool stay)
{
	static const struct map_check_opts child_opts = { .expect_count = -1,
							  .unmerged_ok = true };
	static struct snap child, parent, kept;
	long fail = k & 0x10 ? 1 + k % 8 : 0;
	struct uvma_mm *c = NULL;
	char msg[256];
	int ret;

	if (skip_mask() & SKIP_INJECT)
		fail = 0;
	vma_pool_fail_after(fail);
	ret = uvma_mm_dup(F.mm, NULL, &c);
	vma_pool_fail_after(0);
	if (ret == -ENOMEM && fail && !c)
		return false;
	/* The parent as it is now: the probe's write may have tagged an
	 * area since F.pre. */
	snap_maps(&parent);
	if (ret || !c)
		fz_fail("uvma_mm_dup: %d", ret);
	child.n = 0;
	child.overflow = false;
	ret = uvma_maps(c, 0, UINT64_MAX, snap_cb, &child);
	/* What the child must have: the parent's areas but the
	 * MADV_DONTFORK ones, unlocked, MADV_WIPEONFORK ones untouched. */
	kept.n = 0;
	for (size_t i = 0; i < parent.n; i++) {
		struct fz_area a = parent.a[i];

		if (a.flags & VMA_VM(UVMA_VM_DONTCOPY))
			continue;
		a.flags &= ~VMA_LOCKED_MASK;
		if (a.flags & VMA_VM(UVMA_VM_WIPEONFORK))
			a.anon = 0;
		kept.a[kept.n++] = a;
	}
	if (ret || child.n != kept.n)
		fz_fail("uvma_mm_dup: the child has %zu areas, the parent %zu "
			"to copy",
			child.n, kept.n);
	for (size_t i = 0; i < child.n; i++)
		if (!same_area(&child.a[i], &kept.a[i]))
			fz_fail("uvma_mm_dup: the child's area %zu is "
				"[%#" PRIx64 ", %#" PRIx64
				"), not the parent's",
				i, child.a[i].start, child.a[i].end);
	for (size_t i = 0; i < child.n; i++) {
		uint32_t t = child.a[i].anon;

		if (!t != !kept.a[i].anon || (t && !(t & ANON_FORKED)))
			fz_fail("uvma_mm_dup: the child's area %zu has tag "
				"%#x, the parent's %#x",
				i, t, kept.a[i].anon);
		for (size_t j = 0; t && j < i; j++)
			if (child.a[j].anon == t)
				fz_fail("uvma_mm_dup: the child's areas %zu "
					"and %zu share tag %#x",
					j, i, t);
	}
	if (check_map_invariants_ex(c, &child_opts, msg, sizeof(msg)))
		fz_fail("uvma_mm_dup: the child: %s", msg);
	if (!stay) {
		uvma_mm_destroy(c);
		return false;
	}
	/* The child's objects are all new: the checks after the operation
	 * compare its tree with itself, and its lock sequence. */
	uvma_mm_destroy(F.mm);
	F.mm = c;
	snap_tree(&F.tpre);
	F.seq_before =
		atomic_load_explicit(&F.mm->lock_seq, memory_order_relaxed);
	return true;
}

/* The probe itself: the fault and the read-side calls at addr; k, v, w
 * pick the rest (a partial uvma_maps, a fork). */
static void op_probe_at(uint8_t k, uint8_t v, uint8_t w, uint64_t addr,
			unsigned access)
{
	static struct snap now;
	bool fork = (w & 0xf8) == 0xf8, stay = fork && (v & 0x40);
	bool valid = access && !(access & ~7u), mapped;
	const struct snap *S = &F.pre; /* the map after the fault */
	const struct fz_area *ar;
	struct uvma_area_info info;
	struct uvma_vma *vma;
	struct cand *c;
	uint64_t lo, hi;
	int ret, want, calls = 0;
	size_t nexp = 0;

	oplog("probe(%#" PRIx64 ", access %#x%s)", addr, access,
	      !fork  ? ""
	      : stay ? ", then a fork, going on in the child"
		     : ", then a fork");
	ret = uvma_fault(F.mm, addr, access);
	oplog_ret(ret, 0);
	/* The outcome: below a stack the fault grows it (lm_grow_stack),
	 * and the access is checked after; a write the area allows gives a
	 * private area its tag (lm_touch). */
	c = cand_model("probe");
	if (valid && !lm_mapped(&F.m, addr) && lm_at(&F.m, addr) &&
	    lm_grow_stack(&c->m, addr) == 0) {
		F.stats.grown++;
		snap_maps(&now);
		S = &now;
	}
	mapped = lm_mapped(&c->m, addr);
	ar = snap_area_at(S, addr);
	if (!valid)
		want = -EINVAL;
	else if (!mapped)
		want = -EFAULT;
	else {
		unsigned prot = lm_at(&c->m, addr)->prot;

		want = 0;
		if (((access & UVMA_ACCESS_WRITE) &&
		     !(prot & UVMA_PROT_WRITE)) ||
		    ((access & UVMA_ACCESS_EXEC) && !(prot & UVMA_PROT_EXEC)) ||
		    ((access & UVMA_ACCESS_READ) && !prot))
			want = -EACCES;
		else if (lm_past_end(&c->m, addr))
			want = -EIO;
	}
	expect_ret("uvma_fault", ret, want);
	if ((mapped != (ar != NULL)))
		fz_fail("model and map disagree at %#" PRIx64, addr);

	/* No writer runs: the lock under RCU must succeed on a mapped
	 * address, and find the area the map shows. */
	vma = uvma_vma_lock(F.mm, addr);
	if (mapped != (vma != NULL))
		fz_fail("uvma_vma_lock(%#" PRIx64 ") = %p, mapped %d", addr,
			(void *)vma, mapped);
	if (vma) {
		uvma_vma_info(vma, &info);
		if (info.start != ar->start || info.end != ar->end)
			fz_fail("uvma_vma_lock(%#" PRIx64 ") locked [%#" PRIx64
				", %#" PRIx64 ")",
				addr, info.start, info.end);
		uvma_vma_unlock(vma);
	}
	ret = uvma_vma_get(F.mm, addr, &vma);
	expect_ret("uvma_vma_get", ret, mapped ? 0 : -EFAULT);
	if (!ret)
		uvma_vma_unlock(vma);
	uvma_mm_read_lock(F.mm);
	vma = uvma_vma_find(F.mm, addr);
	if (mapped != (vma != NULL))
		fz_fail("uvma_vma_find(%#" PRIx64 ") = %p, mapped %d", addr,
			(void *)vma, mapped);
	uvma_mm_read_unlock(F.mm);

	/* uvma_maps over part of the map: exactly the areas overlapping. */
	lo = addr;
	hi = lo + 1 + (uint64_t)(k >> 3) * PG * 3;
	F.tpost.n = 0;
	F.tpost.overflow = false;
	ret = uvma_maps(F.mm, lo, hi, snap_cb, &F.tpost);
	expect_ret("uvma_maps (part)", ret, 0);
	for (size_t i = 0; i < S->n; i++) {
		const struct fz_area *x = &S->a[i];

		if (x->end <= lo || x->start >= hi)
			continue;
		if (nexp >= F.tpost.n || F.tpost.a[nexp].start != x->start ||
		    F.tpost.a[nexp].end != x->end)
			fz_fail("uvma_maps(%#" PRIx64 ", %#" PRIx64
				") misses or misplaces [%#" PRIx64 ", %#" PRIx64
				")",
				lo, hi, x->start, x->end);
		nexp++;
	}
	if (nexp != F.tpost.n)
		fz_fail("uvma_maps(%#" PRIx64 ", %#" PRIx64
			") gave %zu areas, %zu overlap",
			lo, hi, F.tpost.n, nexp);
	ret = uvma_maps(F.mm, lo, hi, maps_stop, &calls);
	if (ret != (nexp ? 7 : 0) || calls != (nexp ? 1 : 0))
		fz_fail("uvma_maps with a stopping callback returned %d after "
			"%d calls (%zu areas)",
			ret, calls, nexp);
	/* A fork that goes on in the child: the child's map. One probe in
	 * 32 forks: a fork copies the whole map, and more would slow the
	 * fuzzer down (1 in 8 cost it 10-20% of its inputs). */
	if (want == 0 && (access & UVMA_ACCESS_WRITE)) {
		lm_touch(&c->m, addr);
		F.stats.touched += !lm_same_pages(&c->m, &F.m);
	}
	if (fork && probe_fork(k, stay)) {
		lm_fork(&c->m);
		F.stats.forks++;
	}
	cand_ran(c, F.last_ret, false, 0);
}

/*
 * A probe at a page of the window (or just outside), with any access; or,
 * aimed, a write to a page of an area the map has, so that first writes
 * (touched memory) are common enough to meet moves, merges and forks.
 */
static void op_probe(struct rd *r, bool aim)
{
	uint8_t k = u8(r), v = u8(r), w = u8(r);
	uint64_t addr = WBASE - PG + (uint64_t)(v % (NP + 2)) * PG +
			(uint64_t)(w % 16) * 255;
	unsigned access = (k & 7) | (k & 0x80 ? 0x10u : 0);

	if (aim && F.pre.n) {
		const struct fz_area *ar = &F.pre.a[v % F.pre.n], *below;

		/* Mostly below a stack, if there is one: grow it, near or
		 * far. */
		for (size_t i = 0; i < F.pre.n && (k & 6); i++) {
			const struct fz_area *x = &F.pre.a[(v + i) % F.pre.n];

			if (x->flags & GROWSDOWN) {
				ar = x;
				break;
			}
		}
		addr = ar->start +
		       (uint64_t)(w % 16) * PG % (ar->end - ar->start);
		if ((ar->flags & GROWSDOWN) && (k & 6)) {
			addr = ar->start - (uint64_t)(1 + (w >> 4) % 12) * PG;
			/* Or right down to the area below: a stack meeting
			 * a piece of itself stays apart from it. */
			below = ar > F.pre.a ? ar - 1 : NULL;
			if (below && (k & 0x18) == 0x18 &&
			    below->end < ar->start)
				addr = below->end;
		}
		access = UVMA_ACCESS_WRITE | (k & 1 ? UVMA_ACCESS_READ : 0);
	}
	op_probe_at(k, v, w, addr, access);
}

/* ---- reading the map back ------------------------------------------------ */

static int snap_cb(const struct uvma_area_info *ai, void *arg)
{
	struct snap *s = arg;

	if (s->n == MAX_AREAS) {
		s->overflow = true;
		return 0;
	}
	s->a[s->n++] =
		(struct fz_area){ .start = ai->start,
				  .end = ai->end,
				  .prot = ai->prot,
				  /* the tree's word: MAP and VM */
				  .flags = ai->flags | VMA_VM(ai->vm_flags),
				  .pgoff = ai->pgoff,
				  .file_id = ai->file_id,
				  .user = ai->user,
				  .anon = ai->anon };
	return 0;
}

static void snap_maps(struct snap *s)
{
	int ret;

	s->n = 0;
	s->overflow = false;
	ret = uvma_maps(F.mm, 0, UINT64_MAX, snap_cb, s);
	if (ret)
		fz_fail("uvma_maps returned %d (%s)", ret, uvma_strerror(ret));
}

/* The tree as the writer sees it (no writer runs now). */
static void snap_tree(struct snap *s)
{
	struct tree_iter it;
	struct tree_entry e;

	s->n = 0;
	s->overflow = false;
	rcu_read_enter();
	tree_iter_start(&it, &F.mm->tree, 0, UINT64_MAX);
	while (tree_iter_next(&it, &e)) {
		struct uvma_vma *v = e.ptr;

		if (s->n == MAX_AREAS) {
			s->overflow = true;
			break;
		}
		s->a[s->n++] = (struct fz_area){
			.start = v->start,
			.end = v->end,
			.prot = v->prot,
			.flags = v->flags,
			.pgoff = v->pgoff,
			/* uvma_maps reports no file for anonymous areas */
			.file_id = (v->flags & ANON) ? 0 : v->file_id,
			.user = v->user,
			/* uvma_maps reports no tag for shared areas */
			.anon = v->flags & UVMA_MAP_SHARED ? 0 : vma_anon(v),
			.vma = v,
		};
	}
	rcu_read_exit();
}

static bool area_eq(const struct fz_area *a, const struct fz_area *b)
{
	return same_area(a, b) && a->anon == b->anon;
}

/* Index of the first difference, or -1. */
static long snap_diff(const struct snap *a, const struct snap *b)
{
	size_t i;

	for (i = 0; i < a->n && i < b->n; i++)
		if (!area_eq(&a->a[i], &b->a[i]))
			return (long)i;
	return a->n == b->n && a->overflow == b->overflow ? -1 : (long)i;
}

/* The pages of the areas s shows; id is the file id uvma_maps gives. */
static void pages_of(const struct snap *s, struct lm_page *pg)
{
	memset(pg, 0, sizeof(*pg) * NP);
	for (size_t i = 0; i < s->n; i++) {
		const struct fz_area *a = &s->a[i];

		if (!in_window(a->start, a->end - a->start) ||
		    a->start >= a->end || !ALIGNED(a->start) ||
		    !ALIGNED(a->end))
			fz_fail("uvma_maps shows [%#" PRIx64 ", %#" PRIx64
				"): empty, unaligned or outside the window",
				a->start, a->end);
		for (uint64_t p = a->start; p < a->end; p += PG) {
			struct lm_page *x = &pg[pidx(p)];

			x->mapped = true;
			x->prot = (uint8_t)a->prot;
			x->flags = a->flags & VMA_MAP_MASK;
			x->vm = a->flags >> VMA_VM_SHIFT;
			x->id = a->file_id;
			x->cut = p == a->start; /* uvma's area boundary */
			x->pgoff = a->pgoff + (p - a->start) / PG;
			x->user = a->user;
			x->anon = a->anon;
		}
	}
}

/*
 * Tags are numbers of their own in the model and in uvma: they must pair
 * one to one (0 with 0, inherited with inherited), not be equal. Record
 * or check the pair (model tag m, uvma's tag a); false on a conflict.
 */
struct tag_pairs {
	uint32_t m[NP], a[NP];
	int n;
};

static bool tag_pair(struct tag_pairs *tp, uint32_t m, uint32_t a)
{
	if (!m || !a || (m & LM_FORKED) != (a & ANON_FORKED))
		return m == a;
	for (int k = 0; k < tp->n; k++)
		if (tp->m[k] == m || tp->a[k] == a)
			return tp->m[k] == m && tp->a[k] == a;
	tp->m[tp->n] = m;
	tp->a[tp->n++] = a;
	return true;
}

/* First page where act and the model differ, or -1. uvma_maps shows no
 * file for anonymous memory: the shmem id stays hidden. */
static int pages_diff(const struct lm_page *act, const struct lm *m)
{
	static struct tag_pairs tp;

	tp.n = 0;
	for (int i = 0; i < NP; i++) {
		const struct lm_page *a = &act[i], *s = &m->pg[i];

		if (a->mapped != s->mapped)
			return i;
		if (a->mapped &&
		    (a->prot != s->prot || a->flags != s->flags ||
		     a->vm != s->vm || a->id != (s->flags & ANON ? 0 : s->id) ||
		     a->pgoff != s->pgoff || a->user != s->user ||
		     !tag_pair(&tp, s->anon, a->anon)))
			return i;
		/* Area boundaries: uvma's (cut marks each area's first
		 * page) where the model's areas end. */
		if (i > 0 && a->mapped && act[i - 1].mapped &&
		    a->cut != !lm_continues(&m->pg[i - 1], s))
			return i;
	}
	return -1;
}

/*
 * The objects of the tree before and after the operation, paired by a
 * hash of after's (a sort of both cost a quarter of the fuzzer's time).
 * pair_slot holds an index into F.tpost plus 1; 0 is empty.
 */
#define PAIR_SLOTS 2048 /* a power of two, well above MAX_AREAS */
static int pair_slot[PAIR_SLOTS];

static unsigned pair_hash(const struct uvma_vma *v)
{
	uint64_t x = (uint64_t)(uintptr_t)v;

	x ^= x >> 29;
	x *= UINT64_C(0x9e3779b97f4a7c15);
	return (unsigned)(x >> 40) & (PAIR_SLOTS - 1);
}

/* The slot holding v, or the empty one where it would go. */
static int *pair_find(const struct uvma_vma *v)
{
	unsigned h = pair_hash(v);

	while (pair_slot[h] && F.tpost.a[pair_slot[h] - 1].vma != v)
		h = (h + 1) & (PAIR_SLOTS - 1);
	return &pair_slot[h];
}

static void check_write_locked(const struct fz_area *old,
			       const struct fz_area *now)
{
	const struct fz_area *x = now ? now : old;
	uint32_t seq;

	/* A first write fault gives an area its tag without the write lock
	 * (mmap_lock for reading and anon_lock; docs/design.md section 6):
	 * only the other fields count. */
	if (old && now && same_area(old, now))
		return; /* untouched */
	seq = atomic_load_explicit(&x->vma->lock_seq, memory_order_relaxed);
	if (!(seq & 1) || seq <= F.seq_before || seq >= F.seq_after)
		fz_fail("VMA %p [%#" PRIx64 ", %#" PRIx64
			") was %s by the operation without being "
			"write-locked in it (lock_seq %" PRIu32
			", the operation's cycles lie in (%" PRIu32 ", %" PRIu32
			"))",
			(void *)x->vma, x->start, x->end,
			!now   ? "removed"
			: !old ? "created"
			       : "changed",
			seq, F.seq_before, F.seq_after);
}

/*
 * Every VMA the operation changed (fields rewritten, or a new object) and
 * every VMA it removed must have been write-locked by it: lock_seq set to
 * the odd sequence of one of the operation's write cycles, which all lie
 * between the sequences read before and after it. A reader holding such
 * a VMA would otherwise see it change under its read lock. And the ones
 * it removed are freed, so they must be detached (nothing else allocates
 * in this process meanwhile).
 */
static void check_objects(void)
{
	static struct uvma_vma *gone[MAX_AREAS];
	static bool paired[MAX_AREAS];
	static int *slot[MAX_AREAS];
	size_t ng = 0;

	for (size_t j = 0; j < F.tpost.n; j++) {
		slot[j] = pair_find(F.tpost.a[j].vma);
		*slot[j] = (int)j + 1;
		paired[j] = false;
	}
	for (size_t i = 0; i < F.tpre.n; i++) {
		const struct fz_area *old = &F.tpre.a[i];
		int k = *pair_find(old->vma);

		if (k) {
			paired[k - 1] = true;
			check_write_locked(old, &F.tpost.a[k - 1]);
		} else {
			check_write_locked(old, NULL);
			gone[ng++] = old->vma;
		}
	}
	for (size_t j = 0; j < F.tpost.n; j++) {
		if (!paired[j])
			check_write_locked(NULL, &F.tpost.a[j]);
		*slot[j] = 0; /* by slot: a probe chain is not to be cut */
	}
	if (check_freed_detached_msg(gone, ng, F.msg, sizeof(F.msg)))
		fz_fail("%s", F.msg);
}

static void check_brk(void)
{
	uint64_t out = 0;
	int ret;

	if (!F.m.brk_start)
		return;
	ret = uvma_brk(F.mm, 0, &out);
	if (ret || out != F.m.brk)
		fz_fail("brk query: %d, end %#" PRIx64
			"; the model says %#" PRIx64,
			ret, out, F.m.brk);
}

/* Only the areas in use: a whole snapshot is 28 KiB, and two copies of it
 * per operation were most of an input's time. */
static void snap_copy(struct snap *dst, const struct snap *src)
{
	memcpy(dst->a, src->a, src->n * sizeof(src->a[0]));
	dst->n = src->n;
	dst->overflow = src->overflow;
}

/* The call returned what outcome c returns. */
static bool cand_returned(const struct cand *c)
{
	return c->ret == F.last_ret && (!c->check_out || c->out == F.last_out);
}

/* After every operation: its result, invariants, maps against tree, then
 * the map against the outcomes that return that result. */
static void post_check(void)
{
	/* Boundaries are checked exactly against the model (pages_diff). */
	struct map_check_opts o = { .expect_count = -1,
				    .only_mm = true,
				    .unmerged_ok = true };
	int ok = -1, first = -1;
	long d;

	if (!F.nc)
		fz_fail("model: no outcome for this operation");
	for (int k = 0; k < F.nc && first < 0; k++)
		if (cand_returned(&F.c[k]))
			first = k;
	if (first < 0)
		fz_fail("the operation returned %d (%s), out %#" PRIx64
			": no allowed outcome (below) returns that",
			F.last_ret, uvma_strerror(F.last_ret), F.last_out);
	if (check_map_invariants_ex(F.mm, &o, F.msg, sizeof(F.msg)))
		fz_fail("map invariant: %s", F.msg);
	snap_maps(&F.post);
	snap_tree(&F.tpost);
	d = snap_diff(&F.post, &F.tpost);
	if (d >= 0) {
		print_snap("map after (uvma_maps)", &F.post);
		print_snap("map after (tree)", &F.tpost);
		fz_fail("uvma_maps and the tree disagree at area %ld", d);
	}
	check_objects();
	pages_of(&F.post, F.act);

	for (int k = first; k < F.nc && ok < 0; k++) {
		struct cand *c = &F.c[k];

		if (!cand_returned(c))
			continue;
		if (c->unchanged) {
			if (snap_diff(&F.pre, &F.post) < 0)
				ok = k;
			continue;
		}
		/* Where Linux leaves a choice, what the map shows, if it is
		 * one of the allowed outcomes. */
		for (unsigned j = 0; j < c->m.nchoice; j++) {
			const struct lm_page *x =
				&F.act[pidx(c->m.choice[j].addr)];

			if (x->mapped)
				lm_choose(&c->m, j, x->pgoff);
		}
		if (pages_diff(F.act, &c->m) < 0)
			ok = k;
	}
	if (ok < 0) {
		const struct cand *c = &F.c[first];
		int p = c->unchanged ? -1 : pages_diff(F.act, &c->m);

		print_snap("map after", &F.post);
		if (p >= 0)
			fz_fail("page %#" PRIx64
				" differs from the model (outcome %d)",
				WBASE + (uint64_t)p * PG, first);
		fz_fail("the map changed (area %ld), but the operation must "
			"leave it as it was",
			snap_diff(&F.pre, &F.post));
	}
	if (F.c[ok].model)
		lm_copy(&F.m, &F.c[ok].m);

	/* Anonymous shared mappings never merge with one another: no area
	 * may span two of them. */
	for (size_t i = 0; i < F.post.n; i++) {
		const struct fz_area *a = &F.post.a[i];
		uint64_t id = F.m.pg[pidx(a->start)].id;

		for (uint64_t p = a->start; p < a->end; p += PG)
			if (F.m.pg[pidx(p)].id != id)
				fz_fail("area [%#" PRIx64 ", %#" PRIx64
					") joins two anonymous shared "
					"mappings",
					a->start, a->end);
	}
	check_brk();
	for (size_t i = 0; i < F.post.n; i++)
		if (F.post.a[i].anon) {
			F.stats.on_touched++;
			break;
		}

	/* The map after is the map before the next operation. */
	snap_copy(&F.pre, &F.post);
	snap_copy(&F.tpre, &F.tpost);
}

/* ---- the target ---------------------------------------------------------- */

static void op_begin(void)
{
	F.nops++;
	if (F.nops <= MAX_OPS)
		F.log[F.nops][0] = '\0'; /* not the last input's line */
	F.nc = 0;
	F.stats.ops++;
	F.seq_before =
		atomic_load_explicit(&F.mm->lock_seq, memory_order_relaxed);
}

static void op_end(void)
{
	F.seq_after =
		atomic_load_explicit(&F.mm->lock_seq, memory_order_relaxed);
	post_check();
	if (F.last_ret)
		F.stats.failed++;
	else
		F.stats.ok++;
	if (F.injected && F.last_ret == -ENOMEM)
		F.stats.enomem++;
}

/*
 * A comb: up to 16 one-page mappings side by side that cannot merge
 * (alternating protection), so that later operations meet many areas at
 * once and the planner's arrays outgrow their inline room (the only way
 * their allocation failures run).
 */
static void op_comb(struct rd *r)
{
	uint64_t addr = WBASE + (uint64_t)u8(r) * PG;
	uint8_t b = u8(r);
	int n = 2 + b % 15;

	for (int i = 0; i < n && F.nops < MAX_OPS; i++) {
		struct mmap_args a = {
			.addr = addr + (uint64_t)i * PG,
			.len = PG,
			.prot = i & 1 ? UVMA_PROT_READ
				      : UVMA_PROT_READ | UVMA_PROT_WRITE,
			.flags = UVMA_MAP_PRIVATE | FIXED |
				 (b & 0x80 ? 0 : ANON),
			.file_id = b & 0x80 ? 1 : 0,
			.off = (uint64_t)i * PG,
		};

		op_begin();
		do_mmap(&a, r, 0);
		op_end();
	}
}

/*
 * A stack split in two and grown back together: map a stack, unmap a few
 * pages of its middle, write at the lower piece's end (the upper piece
 * grows down to meet it, and stays apart: Linux's growth merges nothing),
 * then change the protection of both to what it is (Linux skips areas
 * whose flags stay: still apart). Random inputs rarely line this up.
 */
static void op_stack_pieces(struct rd *r)
{
	uint64_t addr = WBASE + (uint64_t)u8(r) * PG;
	uint8_t b = u8(r);
	uint64_t n = 4 + b % 12, low = 1 + (b >> 4) % 2,
		 hole = 1 + (b >> 5) % 2;
	unsigned prot =
		b & 0x80 ? UVMA_PROT_READ : UVMA_PROT_READ | UVMA_PROT_WRITE;
	struct mmap_args a = {
		.addr = addr,
		.len = n * PG,
		.prot = prot,
		.flags = UVMA_MAP_PRIVATE | ANON | GROWSDOWN | FIXED,
	};

	for (int step = 0; step < 4 && F.nops < MAX_OPS; step++) {
		op_begin();
		switch (step) {
		case 0:
			do_mmap(&a, r, 0);
			break;
		case 1:
			do_munmap(addr + low * PG, hole * PG, r, 0);
			break;
		case 2:
			op_probe_at(b, 0, 0, addr + low * PG, UVMA_ACCESS_READ);
			break;
		default:
			do_mprotect(addr, n * PG, prot, r, 0);
			break;
		}
		op_end();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rd r = { data, size, 0 };
	struct uvma_mm_config cfg;
	struct vma_pool_stats ps;
	uint8_t b;
	int ret;

	F.input = data;
	F.input_len = size;
	F.nops = 0;
	F.nc = 0;
	F.injected = false;
	F.pre.n = F.tpre.n = 0;
	F.pre.overflow = F.tpre.overflow = false;
	F.log[0][0] = '\0'; /* op_begin clears each next line */
	F.stats.inputs++;

	uvma_mm_config_init(&cfg);
	cfg.base = WBASE;
	cfg.size = WSIZE;
	cfg.page_size = PG;
	b = u8(&r);
	cfg.brk_start = b < 32 ? 0 : WBASE + (uint64_t)b * PG;
	if (b >= 32 && b < 64)
		cfg.brk_start = WBASE + (uint64_t)(b - 32) * 8 * PG;
	/* Stacks small enough for the window: a gap of 8 pages, at most 32
	 * pages. */
	cfg.stack_guard_gap = 8 * PG;
	cfg.stack_limit = 32 * PG;
	/* The model's shmem ids are uvma's own (hidden from uvma_maps). */
	lm_init(&F.m, WBASE, NP, PG, OPS_SHMEM_ID_BASE);
	lm_set_heap(&F.m, cfg.brk_start);
	lm_set_stack(&F.m, cfg.stack_guard_gap, cfg.stack_limit);
	snprintf(F.log[0], LOG_LEN, "create: brk_start %#" PRIx64,
		 cfg.brk_start);
	ret = uvma_mm_create(&cfg, &F.mm);
	if (ret)
		fz_fail("uvma_mm_create: %d", ret);
	check_brk();

	while (r.i < r.n && F.nops < MAX_OPS) {
		uint8_t ctl = u8(&r);

		if (ctl % 8 == 2 && (ctl & 8)) {
			op_comb(&r); /* several operations of its own */
			continue;
		}
		if (ctl % 8 == 6 && (ctl & 0x38) == 0x38) {
			op_stack_pieces(&r); /* the same */
			continue;
		}
		op_begin();
		switch (ctl % 8) {
		case 0:
		case 1:
			op_mmap(&r, ctl);
			break;
		case 2:
			op_mmap_adjacent(&r, ctl);
			break;
		case 3:
			op_munmap(&r, ctl);
			break;
		case 4:
			if (ctl & 0x10)
				op_flags(&r, ctl);
			else
				op_mprotect(&r, ctl);
			break;
		case 5:
			op_mremap(&r, ctl);
			break;
		case 6:
			op_brk(&r, ctl);
			break;
		default:
			op_probe(&r, ctl & 8);
			break;
		}
		op_end();
	}

	uvma_mm_destroy(F.mm);
	F.mm = NULL;
	/* Destroying the only space returns every object to the pool. */
	vma_pool_stats(&ps);
	if (ps.objects != ps.free)
		fz_fail("after uvma_mm_destroy: %" PRIu64
			" pool objects still live",
			ps.objects - ps.free);
	return 0;
}
