/*
 * test_ops_allocfail.c - allocation failures inside the map operations
 * leave the map exactly as it was.
 *
 * Each operation below runs in a state that makes it allocate: tree nodes
 * (every change of the map), VMA objects (a split, a new area, a move) and
 * plan arrays (more than 8 areas touched at once). For each of the three
 * kinds of allocation, and n = 1, 2, ... until the operation succeeds, the
 * state is built afresh, the n-th allocation of that kind is made to fail
 * (tree_fail_alloc_after, vma_pool_fail_after, plan_fail_alloc_after), and
 * the operation must either succeed, with the same map as without
 * injection, or fail with -ENOMEM with the map exactly as before: the same
 * tree entries pointing to the same objects with the same fields, the same
 * brk and anonymous shared id counter. Either way no VMA may be left
 * write-locked or with a reader count other than 1, and the pool's live
 * objects must equal the VMAs in the tree (each case's space is the only
 * one in the process); under AddressSanitizer the exit check finds any
 * leaked plan array or tree node.
 *
 * n - 1 is the number of injected failures the operation survived; each
 * operation must reach the allocation sites its state is built for. Then
 * the same sweep runs over random states and operations made from the
 * run's seed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "map_state.h"
#include "mm.h"
#include "ops.h"
#include "plan.h"
#include "rcu.h"
#include "tree.h"
#include "uvma.h"
#include "vma.h"
#include "vma_lock.h"
#include "vma_util.h"

#define PAGE	 4096ull
#define PG(n)	 ((uint64_t)(n)*PAGE)
#define X	 0x40000000ull
#define HEAP	 0x10000000ull
#define SB	 0x100000ull /* the random cases' 64-page window */
#define SP	 64
#define ARRAY(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_N	 10000 /* no operation makes this many allocations */

#define RD   UVMA_PROT_READ
#define RW   (UVMA_PROT_READ | UVMA_PROT_WRITE)
#define AP   (UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS)
#define AS   (UVMA_MAP_SHARED | UVMA_MAP_ANONYMOUS)
#define FIX  UVMA_MAP_FIXED
#define NOR  UVMA_MAP_FIXED_NOREPLACE
#define MAY  UVMA_MREMAP_MAYMOVE
#define MFIX (UVMA_MREMAP_MAYMOVE | UVMA_MREMAP_FIXED)

static int tag_a, tag_b;

#define CHECK_ERR(call, err) CHECK_EQ_U64((int64_t)(call), (int64_t)(err))

enum inject { INJ_TREE, INJ_VMA, INJ_PLAN, INJ_KINDS };
static const char *const inj_names[INJ_KINDS] = { "tree nodes", "VMAs",
						  "plan arrays" };

/* ---- context ------------------------------------------------------------- */

static const char *cur_name = "";
static int cur_kind = -1;
static long cur_n;

static void print_context(FILE *out)
{
	fprintf(out, "operation %s, injecting %s, n = %ld\n", cur_name,
		cur_kind >= 0 ? inj_names[cur_kind] : "nothing", cur_n);
}

/* ---- snapshots (tests/lib/map_state.h), and the public view's count ----- */

static int count_cb(const struct uvma_area_info *a, void *arg)
{
	(void)a;
	++*(size_t *)arg;
	return 0;
}

/* A snapshot, checked against uvma_maps: the public view agrees on the
 * number of areas. */
static void state_take_checked(struct uvma_mm *mm, struct state *s)
{
	size_t maps = 0;

	state_take(mm, s);
	CHECK_EQ_U64(uvma_maps(mm, 0, UINT64_MAX, count_cb, &maps), 0);
	CHECK_EQ_U64(maps, s->n);
}

/* ---- injection ------------------------------------------------------------
 */

static void arm(struct uvma_mm *mm, enum inject kind, long n)
{
	switch (kind) {
	case INJ_TREE:
		tree_fail_alloc_after(&mm->tree, n);
		break;
	case INJ_VMA:
		vma_pool_fail_after(n);
		break;
	case INJ_PLAN:
		plan_fail_alloc_after(n);
		break;
	default:
		CHECK(!"injection kind");
	}
}

static void disarm(struct uvma_mm *mm)
{
	tree_fail_alloc_after(&mm->tree, 0);
	vma_pool_fail_after(0);
	plan_fail_alloc_after(0);
}

/* ---- the sweep ------------------------------------------------------------
 */

struct scenario {
	const char *name;
	void (*setup)(struct uvma_mm *mm, uint64_t arg);
	int (*op)(struct uvma_mm *mm, uint64_t arg);
	/* Injected failures the operation must survive, per kind: the
	 * allocation sites its state is built to reach. */
	long min[INJ_KINDS];
	/* What a failed attempt returns: -ENOMEM, or (not 0) this: madvise
	 * answers a failed split with -EAGAIN, as Linux. */
	int fail_err;
};

/* A move over several areas goes area by area, as Linux's: a failure may
 * leave the pieces before it moved (the map valid, nothing leaked), and
 * the next attempt gets a new space. */
static bool halfway_now;

static int op_mremap_twelve(struct uvma_mm *mm, uint64_t arg);

static bool halfway(const struct scenario *sc)
{
	return sc->op == op_mremap_twelve || halfway_now;
}

static struct uvma_mm *make_mm(uint64_t base, uint64_t size, uint64_t heap)
{
	struct uvma_mm_config cfg;
	struct uvma_mm *mm = NULL;

	uvma_mm_config_init(&cfg);
	if (size) {
		cfg.base = base;
		cfg.size = size;
	}
	cfg.brk_start = heap;
	CHECK(uvma_mm_create(&cfg, &mm) == 0);
	return mm;
}

/* Where the scenario's space lives: the default window with a heap, or
 * the random cases' small one. */
struct window {
	uint64_t base, size, heap;
};

static const struct window big = { 0, 0, HEAP };
static const struct window small = { SB, PG(SP), SB + PG(4) };

#define BALLAST 160 /* areas on each side of the named cases' areas */

/*
 * Areas far below and far above where the named cases work, none of which
 * merge: the tree is a few levels deep, so a store there copies a path of
 * several nodes and fails at each of them in turn.
 */
static void ballast(struct uvma_mm *mm)
{
	uint64_t out;

	for (int i = 0; i < BALLAST; i++) {
		unsigned prot = i & 1 ? RD : RW;

		CHECK_ERR(uvma_mmap(mm, X / 2 + PG(2 * i), PAGE, prot, AP | FIX,
				    0, 0, NULL, &out),
			  0);
		CHECK_ERR(uvma_mmap(mm, 2 * X + PG(2 * i), PAGE, prot, AP | FIX,
				    0, 0, NULL, &out),
			  0);
	}
}

static struct uvma_mm *build(const struct window *w, const struct scenario *sc,
			     uint64_t arg)
{
	struct uvma_mm *mm = make_mm(w->base, w->size, w->heap);

	if (w == &big)
		ballast(mm);
	sc->setup(mm, arg);
	check_quiet(mm);
	return mm;
}

/*
 * Run sc once without injection (it must succeed), then sweep each kind.
 * survived[kind] receives n - 1 for the n at which the operation first got
 * through. A failed attempt must leave the map exactly as it was (that is
 * checked), so attempt n + 1 runs on the same space: a space is built once
 * per kind, not once per attempt (each destruction waits for RCU
 * callbacks, milliseconds).
 */
static void sweep(const struct window *w, const struct scenario *sc,
		  uint64_t arg, long survived[INJ_KINDS])
{
	static struct state ref, before, after;
	struct uvma_mm *mm;

	cur_name = sc->name;
	cur_kind = -1;
	cur_n = 0;
	mm = build(w, sc, arg);
	CHECK_ERR(sc->op(mm, arg), 0);
	check_quiet(mm);
	state_take_checked(mm, &ref);
	uvma_mm_destroy(mm);

	for (int kind = 0; kind < INJ_KINDS; kind++) {
		long n;

		cur_kind = kind;
		mm = build(w, sc, arg);
		for (n = 1;; n++) {
			int r;

			CHECK(n < MAX_N);
			cur_n = n;
			state_take_checked(mm, &before);
			arm(mm, (enum inject)kind, n);
			r = sc->op(mm, arg);
			disarm(mm);
			check_quiet(mm);
			state_take_checked(mm, &after);
			if (r == 0) {
				CHECK_SAME(&ref, &after, false);
				break;
			}
			CHECK_ERR(r, sc->fail_err ? sc->fail_err : -ENOMEM);
			if (halfway(sc)) {
				uvma_mm_destroy(mm);
				mm = build(w, sc, arg);
				continue;
			}
			CHECK_SAME(&before, &after, true);
		}
		uvma_mm_destroy(mm);
		survived[kind] = n - 1;
	}
	cur_kind = -1;
}

/* ---- the named operations -------------------------------------------------
 */

static void map_ok(struct uvma_mm *mm, uint64_t addr, uint64_t len,
		   unsigned prot, unsigned flags, void *user)
{
	uint64_t out;

	CHECK_ERR(uvma_mmap(mm, addr, len, prot, flags | FIX, 0, 0, user, &out),
		  0);
}

static void setup_one(struct uvma_mm *mm, uint64_t arg)
{
	(void)arg;
	map_ok(mm, X, PG(8), RW, AP, NULL);
}

/* 20 areas of 2 pages with a page between them. */
static void setup_twenty(struct uvma_mm *mm, uint64_t arg)
{
	(void)arg;
	for (int i = 0; i < 20; i++)
		map_ok(mm, X + PG(3 * i), PG(2), i & 1 ? RD : RW, AP, NULL);
}

/* 12 touching areas that cannot merge (user pointers alternate). */
static void setup_twelve(struct uvma_mm *mm, uint64_t arg)
{
	(void)arg;
	for (int i = 0; i < 12; i++)
		map_ok(mm, X + PG(2 * i), PG(2), RW, AP,
		       i & 1 ? &tag_a : &tag_b);
}

static void setup_gap(struct uvma_mm *mm, uint64_t arg)
{
	(void)arg;
	map_ok(mm, X, PG(2), RW, AP, NULL);
	map_ok(mm, X + PG(3), PG(2), RW, AP, NULL);
	map_ok(mm, X + PG(8), PG(2), RD, AP, NULL);
}

static void setup_blocked(struct uvma_mm *mm, uint64_t arg)
{
	(void)arg;
	map_ok(mm, X, PG(4), RW, AP, NULL);
	map_ok(mm, X + PG(4), PAGE, RD, AP, NULL);
}

static void setup_heap(struct uvma_mm *mm, uint64_t arg)
{
	uint64_t out;

	if (arg)
		CHECK_ERR(uvma_brk(mm, arg, &out), 0);
}

static int op_munmap_split(struct uvma_mm *mm, uint64_t arg)
{
	(void)arg;
	return uvma_munmap(mm, X + PG(3), PG(2));
}

static int op_munmap_twenty(struct uvma_mm *mm, uint64_t arg)
{
	(void)arg;
	/* From inside the first area to inside the last. */
	return uvma_munmap(mm, X + PAGE, PG(3 * 19));
}

static int op_mmap_merge_both(struct uvma_mm *mm, uint64_t arg)
{
	uint64_t out;

	(void)arg;
	return uvma_mmap(mm, X + PG(2), PAGE, RW, AP | NOR, 0, 0, NULL, &out);
}

static int op_mmap_new(struct uvma_mm *mm, uint64_t arg)
{
	uint64_t out;

	(void)arg;
	return uvma_mmap(mm, 0, PG(4), RD, AP, 0, 0, NULL, &out);
}

static int op_mmap_shared(struct uvma_mm *mm, uint64_t arg)
{
	uint64_t out;

	(void)arg;
	return uvma_mmap(mm, X + PG(5), PG(2), RW, AS | FIX, 0, 0, NULL, &out);
}

static int op_mmap_fixed_twelve(struct uvma_mm *mm, uint64_t arg)
{
	uint64_t out;

	(void)arg;
	return uvma_mmap(mm, X + PAGE, PG(22), RD, AP | FIX, 0, 0, NULL, &out);
}

static int op_mremap_move(struct uvma_mm *mm, uint64_t arg)
{
	uint64_t out;

	(void)arg;
	return uvma_mremap(mm, X, PG(4), PG(8), MAY, 0, &out);
}

static int op_mremap_part(struct uvma_mm *mm, uint64_t arg)
{
	uint64_t out;

	(void)arg;
	return uvma_mremap(mm, X + PG(2), PG(2), PG(3), MFIX, X + PG(64), &out);
}

/* A same-size FIXED move of all twelve areas (Linux 6.17 and later). */
static int op_mremap_twelve(struct uvma_mm *mm, uint64_t arg)
{
	uint64_t out;

	(void)arg;
	return uvma_mremap(mm, X + PAGE, PG(22), PG(22), MFIX, X + PG(64),
			   &out);
}

/* One locked area (onfault: nothing to fault in). */
static void setup_one_locked(struct uvma_mm *mm, uint64_t arg)
{
	setup_one(mm, arg);
	CHECK_ERR(uvma_mlock(mm, X, PG(8), UVMA_MLOCK_ONFAULT), 0);
}

/* MREMAP_DONTUNMAP of a middle part: the copy lands and the source is
 * unlocked in one plan (a move over several areas is not one step: it
 * stops after any piece, as Linux's, so it is not swept here). */
static int op_mremap_dontunmap(struct uvma_mm *mm, uint64_t arg)
{
	uint64_t out;

	(void)arg;
	return uvma_mremap(mm, X + PG(2), PG(2), PG(2),
			   MFIX | UVMA_MREMAP_DONTUNMAP, X + PG(64), &out);
}

/* mseal of a middle part: two splits, one plan. */
static int op_mseal_middle(struct uvma_mm *mm, uint64_t arg)
{
	(void)arg;
	return uvma_mseal(mm, X + PG(2), PG(3), 0);
}

/* mseal over twelve areas: each gets the flag, none merge (their user
 * pointers differ). */
static int op_mseal_twelve(struct uvma_mm *mm, uint64_t arg)
{
	(void)arg;
	return uvma_mseal(mm, X + PAGE, PG(22), 0);
}

static int op_mremap_grow(struct uvma_mm *mm, uint64_t arg)
{
	uint64_t out;

	(void)arg;
	return uvma_mremap(mm, X, PG(8), PG(12), 0, 0, &out);
}

static int op_mremap_shrink(struct uvma_mm *mm, uint64_t arg)
{
	uint64_t out;

	(void)arg;
	return uvma_mremap(mm, X, PG(8), PG(3), 0, 0, &out);
}

static int op_mprotect_middle(struct uvma_mm *mm, uint64_t arg)
{
	(void)arg;
	return uvma_mprotect(mm, X + PG(3), PG(2), RD);
}

static int op_mprotect_twelve(struct uvma_mm *mm, uint64_t arg)
{
	(void)arg;
	return uvma_mprotect(mm, X + PAGE, PG(22), RD);
}

static int op_madvise_middle(struct uvma_mm *mm, uint64_t arg)
{
	(void)arg;
	return uvma_madvise(mm, X + PG(3), PG(2), UVMA_MADV_DONTFORK);
}

static int op_madvise_twelve(struct uvma_mm *mm, uint64_t arg)
{
	(void)arg;
	return uvma_madvise(mm, X + PAGE, PG(22), UVMA_MADV_DONTDUMP);
}

static int op_mlock_middle(struct uvma_mm *mm, uint64_t arg)
{
	(void)arg;
	return uvma_mlock(mm, X + PG(3), PG(2), 0);
}

static void setup_twelve_locked(struct uvma_mm *mm, uint64_t arg)
{
	setup_twelve(mm, arg);
	CHECK_ERR(uvma_mlock(mm, X + PAGE, PG(22), UVMA_MLOCK_ONFAULT), 0);
}

static int op_munlock_twelve(struct uvma_mm *mm, uint64_t arg)
{
	(void)arg;
	return uvma_munlock(mm, X + PG(3), PG(18));
}

static int op_mlockall(struct uvma_mm *mm, uint64_t arg)
{
	(void)arg;
	return uvma_mlockall(mm, UVMA_MCL_CURRENT | UVMA_MCL_FUTURE);
}

static int op_brk_first(struct uvma_mm *mm, uint64_t arg)
{
	uint64_t out;

	(void)arg;
	return uvma_brk(mm, HEAP + PG(3), &out);
}

static int op_brk_grow(struct uvma_mm *mm, uint64_t arg)
{
	uint64_t out;

	(void)arg;
	return uvma_brk(mm, HEAP + PG(9) - 5, &out);
}

static int op_brk_shrink(struct uvma_mm *mm, uint64_t arg)
{
	uint64_t out;

	(void)arg;
	return uvma_brk(mm, HEAP + PAGE, &out);
}

static const struct scenario scenarios[] = {
	/* name, setup, operation, minimum survived: tree, VMAs, plan (a
	 * change inside one leaf that keeps its edge ranges allocates one
	 * tree node: the new leaf, tree.c's pending leaf) */
	{ "munmap split in the middle",
	  setup_one,
	  op_munmap_split,
	  { 1, 1, 0 },
	  0 },
	{ "munmap of 20 areas",
	  setup_twenty,
	  op_munmap_twenty,
	  { 2, 0, 2 },
	  0 },
	{ "mmap merging both sides",
	  setup_gap,
	  op_mmap_merge_both,
	  { 1, 0, 0 },
	  0 },
	{ "mmap of a new area", setup_gap, op_mmap_new, { 1, 1, 0 }, 0 },
	{ "mmap anonymous shared", setup_gap, op_mmap_shared, { 1, 1, 0 }, 0 },
	{ "mmap FIXED over 12 areas",
	  setup_twelve,
	  op_mmap_fixed_twelve,
	  { 2, 0, 2 },
	  0 },
	{ "mremap move (MAYMOVE)",
	  setup_blocked,
	  op_mremap_move,
	  { 2, 1, 0 },
	  0 },
	{ "mremap move of a middle part (FIXED)",
	  setup_one,
	  op_mremap_part,
	  { 2, 2, 0 },
	  0 },
	{ "mremap FIXED moving 12 areas",
	  setup_twelve,
	  op_mremap_twelve,
	  { 2, 12, 2 },
	  0 },
	{ "mremap DONTUNMAP of a locked middle part",
	  setup_one_locked,
	  op_mremap_dontunmap,
	  { 2, 1, 1 },
	  0 },
	{ "mremap grow in place", setup_one, op_mremap_grow, { 1, 0, 0 }, 0 },
	{ "mremap shrink", setup_one, op_mremap_shrink, { 1, 0, 0 }, 0 },
	{ "mprotect split in the middle",
	  setup_one,
	  op_mprotect_middle,
	  { 1, 2, 0 },
	  0 },
	{ "mprotect over 12 areas",
	  setup_twelve,
	  op_mprotect_twelve,
	  { 2, 2, 2 },
	  0 },
	{ "madvise split in the middle",
	  setup_one,
	  op_madvise_middle,
	  { 1, 2, 0 },
	  -EAGAIN },
	{ "madvise over 12 areas",
	  setup_twelve,
	  op_madvise_twelve,
	  { 2, 2, 2 },
	  -EAGAIN },
	{ "mlock split in the middle",
	  setup_one,
	  op_mlock_middle,
	  { 1, 2, 0 },
	  0 },
	{ "munlock over 12 areas",
	  setup_twelve_locked,
	  op_munlock_twelve,
	  { 2, 2, 2 },
	  0 },
	{ "mlockall of every area", setup_twelve, op_mlockall, { 2, 0, 2 }, 0 },
	{ "mseal split in the middle",
	  setup_one,
	  op_mseal_middle,
	  { 1, 2, 0 },
	  0 },
	{ "mseal over 12 areas",
	  setup_twelve,
	  op_mseal_twelve,
	  { 2, 2, 2 },
	  0 },
	{ "brk, first page", setup_heap, op_brk_first, { 2, 1, 0 }, 0 },
	{ "brk grow", setup_heap, op_brk_grow, { 2, 0, 0 }, 0 },
	{ "brk shrink", setup_heap, op_brk_shrink, { 2, 0, 0 }, 0 },
};

/* setup_heap's argument per brk scenario: the heap's end before the op. */
static uint64_t scenario_arg(const struct scenario *sc)
{
	if (sc->op == op_brk_grow)
		return HEAP + PG(2);
	if (sc->op == op_brk_shrink)
		return HEAP + PG(6);
	return 0;
}

static void case_named(void)
{
	for (size_t i = 0; i < ARRAY(scenarios); i++) {
		const struct scenario *sc = &scenarios[i];
		long survived[INJ_KINDS];

		sweep(&big, sc, scenario_arg(sc), survived);
		printf("%-40s survived %ld tree, %ld VMA, %ld plan array "
		       "failures\n",
		       sc->name, survived[INJ_TREE], survived[INJ_VMA],
		       survived[INJ_PLAN]);
		for (int k = 0; k < INJ_KINDS; k++) {
			cur_name = sc->name;
			cur_kind = k;
			CHECK(survived[k] >= sc->min[k]);
		}
	}
	cur_kind = -1;
}

/* ---- random states and operations ------------------------------------------
 *
 * A random case is a seed: it replays 24 random calls in the small window
 * (their results do not matter, only that the same calls give the same
 * state) and then one random call that succeeds without injection.
 */

struct rcall {
	int kind;
	uint64_t a, b, c, d;
	unsigned prot, flags;
	void *user;
};

static const unsigned rprots[] = { RD, RW, UVMA_PROT_NONE };

static const int radvice[] = {
	UVMA_MADV_DONTFORK, UVMA_MADV_DOFORK,	UVMA_MADV_DONTDUMP,
	UVMA_MADV_DODUMP,   UVMA_MADV_HUGEPAGE, UVMA_MADV_WIPEONFORK,
};

static void rcall_pick(struct rcall *c)
{
	static const unsigned rflags[] = { 0, MAY, MFIX };

	memset(c, 0, sizeof(*c));
	c->kind = (int)rng_below(7);
	c->a = SB + PG(rng_below(SP));
	c->b = PG(rng_range(1, 12));
	c->prot = rprots[rng_below(ARRAY(rprots))];
	c->user = rng_chance(1, 4) ? &tag_a : NULL;
	switch (c->kind) {
	case 0: /* mmap */
		c->flags = rng_chance(1, 6) ? AS : AP;
		c->flags |= rng_chance(3, 4) ? FIX : 0;
		if (!(c->flags & FIX) && rng_chance(1, 2))
			c->a = 0;
		break;
	case 3: /* mremap */
		c->flags = rflags[rng_below(ARRAY(rflags))];
		c->c = PG(rng_range(1, 12));
		c->d = SB + PG(rng_below(SP));
		break;
	case 4: /* brk */
		c->a = SB + PG(4) + rng_below(PG(20));
		break;
	case 5: /* madvise, flag advice */
		c->flags = (unsigned)rng_below(ARRAY(radvice));
		break;
	case 6: /* mlock, munlock, mlockall */
		c->flags = (unsigned)rng_below(5);
		break;
	}
}

static int rcall_run(struct uvma_mm *mm, const struct rcall *c)
{
	uint64_t out;

	switch (c->kind) {
	case 0:
		return uvma_mmap(mm, c->a, c->b, c->prot, c->flags, 0, 0,
				 c->user, &out);
	case 1:
		return uvma_munmap(mm, c->a, c->b);
	case 2:
		return uvma_mprotect(mm, c->a, c->b, c->prot);
	case 3:
		return uvma_mremap(mm, c->a, c->b, c->c, c->flags, c->d, &out);
	case 5:
		return uvma_madvise(mm, c->a, c->b, radvice[c->flags]);
	case 6:
		/* Locks on fault only: an mprotect that makes a locked area
		 * writable runs area by area and may fail part-way, as
		 * Linux's (uvma.h), which this test's "unchanged" cannot
		 * take. */
		if (c->flags == 4)
			return uvma_mlockall(mm, UVMA_MCL_CURRENT |
							 UVMA_MCL_ONFAULT);
		if (c->flags == 3)
			return uvma_munlock(mm, c->a, c->b);
		return uvma_mlock(mm, c->a, c->b, UVMA_MLOCK_ONFAULT);
	default:
		return uvma_brk(mm, c->a, &out);
	}
}

#define RSETUP 24

static struct rcall rsetup[RSETUP], rlast;

static void setup_random(struct uvma_mm *mm, uint64_t arg)
{
	(void)arg;
	for (int i = 0; i < RSETUP; i++)
		(void)rcall_run(mm, &rsetup[i]);
}

static int op_random(struct uvma_mm *mm, uint64_t arg)
{
	(void)arg;
	return rcall_run(mm, &rlast);
}

static void case_random(uint64_t seed)
{
	struct scenario sc = {
		"random", setup_random, op_random, { 0, 0, 0 }, 0
	};
	uint64_t cases = test_scaled(30, 8);
	long total[INJ_KINDS] = { 0 };

	for (uint64_t i = 0; i < cases; i++) {
		long survived[INJ_KINDS];
		struct uvma_mm *mm;
		int r;

		rng_seed(rng_derive(seed, i));
		for (int k = 0; k < RSETUP; k++)
			rcall_pick(&rsetup[k]);
		/* A last call that succeeds on this state. A call that
		 * fails leaves the state as it was (test_ops checks that),
		 * except -ENOMEM at a hole (mprotect, madvise, mlock) or an
		 * area without access (mlock): rebuild after it. */
		mm = build(&small, &sc, 0);
		for (int tries = 0;; tries++) {
			CHECK(tries < 1000);
			rcall_pick(&rlast);
			r = op_random(mm, 0);
			if (!r)
				break;
			if ((rlast.kind == 2 || rlast.kind >= 5) &&
			    r == -ENOMEM) {
				uvma_mm_destroy(mm);
				mm = build(&small, &sc, 0);
			}
		}
		uvma_mm_destroy(mm);
		sc.fail_err = rlast.kind == 5 ? -EAGAIN : 0;
		/* A same-size FIXED move may span areas: piece by piece. */
		halfway_now = rlast.kind == 3 && rlast.flags == MFIX &&
			      rlast.b == rlast.c;
		sweep(&small, &sc, 0, survived);
		for (int k = 0; k < INJ_KINDS; k++)
			total[k] += survived[k];
	}
	halfway_now = false;
	printf("random: %" PRIu64 " states and operations, survived %ld tree, "
	       "%ld VMA, %ld plan array failures\n",
	       cases, total[INJ_TREE], total[INJ_VMA], total[INJ_PLAN]);
	/* Every state and operation needs tree nodes; new VMA objects only
	 * some: a short run (sanitizer builds) may draw none of those. */
	CHECK(total[INJ_TREE] > 0);
	CHECK(cases < 20 || total[INJ_VMA] > 0);
}

static void case_random_seeded(void)
{
	case_random(*test_seed_slot());
}

static const struct test_case case_table[] = {
	{ "named", case_named },
	{ "random", case_random_seeded },
};

int main(int argc, char **argv)
{
	test_set_context(print_context);
	return test_run_cases(argc, argv, case_table,
			      sizeof(case_table) / sizeof(case_table[0]));
}
