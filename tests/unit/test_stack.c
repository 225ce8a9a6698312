/*
 * test_stack.c - stack growth (src/stack.c, the fault path's fallback):
 * a write fault below a UVMA_MAP_GROWSDOWN area grows it down to the page,
 * in the same object, under mmap_lock; the size limit and the guard gap
 * refuse (-EFAULT) and leave the map as it was; a read-only stack grows
 * and then refuses the write; only private anonymous memory may grow down;
 * placement keeps the gap below a stack free (but not the room under an
 * area inside it), and so does brk; two threads faulting below
 * one stack at once both end in the grown area; a duplicated space keeps
 * its stacks and limits. The running kernel's answers to the same cases
 * are the conformance scenarios stack_grow and stack_gap.
 */
#include <errno.h>
#include <pthread.h>

#include "check.h"
#include "map_check.h"
#include "map_state.h"
#include "mm.h"
#include "tree.h"
#include "uvma.h"
#include "vma_util.h"

#define PAGE  4096ull
#define STACK 0x40000000ull
#define RW    (UVMA_PROT_READ | UVMA_PROT_WRITE)
#define W     UVMA_ACCESS_WRITE

static struct uvma_mm *space(uint64_t limit, uint64_t gap)
{
	struct uvma_mm_config cfg;
	struct uvma_mm *mm;

	uvma_mm_config_init(&cfg);
	cfg.stack_limit = limit;
	cfg.stack_guard_gap = gap;
	CHECK_EQ_U64(uvma_mm_create(&cfg, &mm), 0);
	return mm;
}

static void map(struct uvma_mm *mm, uint64_t at, uint64_t len, unsigned prot,
		unsigned flags)
{
	CHECK_EQ_U64(uvma_mmap(mm, at, len, prot,
			       UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS |
				       UVMA_MAP_FIXED | flags,
			       0, 0, NULL, NULL),
		     0);
}

/* A space of 256 pages from base (gap 0: the default; brk_start 0: no
 * heap). */
static struct uvma_mm *window(uint64_t base, uint64_t gap, uint64_t brk_start)
{
	struct uvma_mm_config cfg;
	struct uvma_mm *mm;

	uvma_mm_config_init(&cfg);
	cfg.base = base;
	cfg.size = 256 * PAGE;
	cfg.stack_guard_gap = gap;
	cfg.brk_start = brk_start;
	CHECK_EQ_U64(uvma_mm_create(&cfg, &mm), 0);
	return mm;
}

/* An anonymous private mapping placed by uvma (hint 0: top-down): where. */
static uint64_t place(struct uvma_mm *mm, uint64_t hint, uint64_t len)
{
	uint64_t out = 0;

	CHECK_EQ_U64(uvma_mmap(mm, hint, len, RW,
			       UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS, 0, 0,
			       NULL, &out),
		     0);
	return out;
}

static struct uvma_vma *object_at(struct uvma_mm *mm, uint64_t addr)
{
	struct uvma_vma *v;

	uvma_mm_read_lock(mm);
	v = uvma_vma_find(mm, addr);
	uvma_mm_read_unlock(mm);
	return v;
}

static void test_grows(void)
{
	struct uvma_mm *mm = space(0, 0);
	struct uvma_fault_stats a, b;
	struct uvma_vma *obj;
	struct uvma_area_info info;

	map(mm, STACK, 4 * PAGE, RW, UVMA_MAP_GROWSDOWN);
	obj = object_at(mm, STACK);
	uvma_mm_fault_stats(mm, &a);
	CHECK_EQ_U64(uvma_fault(mm, STACK - 100 * PAGE + 123, W), 0);
	uvma_mm_fault_stats(mm, &b);
	CHECK_EQ_U64(b.fallback, a.fallback + 1);
	info = test_area_at(mm, STACK - 100 * PAGE);
	CHECK_EQ_U64(info.start, STACK - 100 * PAGE);
	CHECK_EQ_U64(info.end, STACK + 4 * PAGE);
	CHECK_EQ_U64(info.pgoff, (STACK - 100 * PAGE) / PAGE);
	CHECK(info.flags & UVMA_MAP_GROWSDOWN);
	CHECK(object_at(mm, STACK) == obj); /* the same area, grown */
	/* A fault inside is an ordinary one, under the area's lock. */
	uvma_mm_fault_stats(mm, &a);
	CHECK_EQ_U64(uvma_fault(mm, STACK - 50 * PAGE, W), 0);
	uvma_mm_fault_stats(mm, &b);
	CHECK_EQ_U64(b.success, a.success + 1);
	CHECK_EQ_U64(b.fallback, a.fallback);
	check_map_valid(mm);
	uvma_mm_destroy(mm);
}

static void test_limit(void)
{
	struct uvma_mm *mm = space(64 * PAGE, 0);
	static struct state before, after;

	map(mm, STACK, 4 * PAGE, RW, UVMA_MAP_GROWSDOWN);
	state_take(mm, &before);
	/* 61 pages below makes 65: one too many. */
	CHECK_EQ_U64(uvma_fault(mm, STACK - 61 * PAGE, W), -EFAULT);
	state_take(mm, &after);
	CHECK_SAME(&before, &after, true);
	CHECK_EQ_U64(uvma_fault(mm, STACK - 60 * PAGE, W), 0);
	CHECK_EQ_U64(test_area_at(mm, STACK).start, STACK - 60 * PAGE);
	uvma_mm_destroy(mm);

	/* The default: 8 MiB. */
	mm = space(0, 0);
	map(mm, STACK, 4 * PAGE, RW, UVMA_MAP_GROWSDOWN);
	CHECK_EQ_U64(uvma_fault(mm, STACK + 4 * PAGE - (8ull << 20) - PAGE, W),
		     -EFAULT);
	CHECK_EQ_U64(uvma_fault(mm, STACK + 4 * PAGE - (8ull << 20), W), 0);
	uvma_mm_destroy(mm);
}

static void test_gap(void)
{
	struct uvma_mm *mm = space(0, 16 * PAGE);
	uint64_t below = STACK - 40 * PAGE;

	map(mm, STACK, 4 * PAGE, RW, UVMA_MAP_GROWSDOWN);
	map(mm, below, PAGE, UVMA_PROT_READ, 0);
	/* The area below ends at STACK - 39 pages: 16 pages must stay. */
	CHECK_EQ_U64(uvma_fault(mm, STACK - 24 * PAGE, W), -EFAULT);
	CHECK_EQ_U64(test_area_at(mm, STACK).start, STACK);
	CHECK_EQ_U64(uvma_fault(mm, STACK - 23 * PAGE, W), 0);
	/* Inaccessible, it is a guard, not a neighbour: right up to it. */
	CHECK_EQ_U64(uvma_mprotect(mm, below, PAGE, UVMA_PROT_NONE), 0);
	CHECK_EQ_U64(uvma_fault(mm, below + PAGE, W), 0);
	CHECK_EQ_U64(test_area_at(mm, STACK).start, below + PAGE);
	check_map_valid(mm);
	uvma_mm_destroy(mm);
}

static void test_read_only(void)
{
	struct uvma_mm *mm = space(0, 0);

	map(mm, STACK, 4 * PAGE, UVMA_PROT_READ, UVMA_MAP_GROWSDOWN);
	/* Linux grows first, then checks the access. */
	CHECK_EQ_U64(uvma_fault(mm, STACK - 2 * PAGE, W), -EACCES);
	CHECK_EQ_U64(test_area_at(mm, STACK).start, STACK - 2 * PAGE);
	CHECK_EQ_U64(uvma_fault(mm, STACK - 3 * PAGE, UVMA_ACCESS_READ), 0);
	/* Below a plain area nothing grows. */
	map(mm, 2 * STACK, 4 * PAGE, RW, 0);
	CHECK_EQ_U64(uvma_fault(mm, 2 * STACK - PAGE, W), -EFAULT);
	uvma_mm_destroy(mm);
}

/* A growth that cannot allocate: -ENOMEM, the map as it was. */
static void test_nomem(void)
{
	struct uvma_mm *mm = space(0, 0);
	static struct state before, after;

	map(mm, STACK, 4 * PAGE, RW, UVMA_MAP_GROWSDOWN);
	state_take(mm, &before);
	tree_fail_alloc_after(&mm->tree, 1);
	CHECK_EQ_U64(uvma_fault(mm, STACK - 3 * PAGE, W), -ENOMEM);
	tree_fail_alloc_after(&mm->tree, 0);
	state_take(mm, &after);
	CHECK_SAME(&before, &after, true);
	CHECK_EQ_U64(uvma_fault(mm, STACK - 3 * PAGE, W), 0);
	check_map_valid(mm);
	uvma_mm_destroy(mm);
}

static void test_refused(void)
{
	struct uvma_mm *mm = space(0, 0);
	struct uvma_mm_config cfg;

	CHECK_EQ_U64(uvma_mmap(mm, STACK, PAGE, RW,
			       UVMA_MAP_SHARED | UVMA_MAP_ANONYMOUS |
				       UVMA_MAP_FIXED | UVMA_MAP_GROWSDOWN,
			       0, 0, NULL, NULL),
		     -EINVAL);
	CHECK_EQ_U64(uvma_mmap(mm, STACK, PAGE, RW,
			       UVMA_MAP_PRIVATE | UVMA_MAP_FIXED |
				       UVMA_MAP_GROWSDOWN,
			       1, 0, NULL, NULL),
		     -EINVAL);
	uvma_mm_destroy(mm);
	uvma_mm_config_init(&cfg);
	cfg.stack_guard_gap = 100; /* not a whole page */
	CHECK_EQ_U64(uvma_mm_create(&cfg, &mm), -EINVAL);
	cfg.stack_guard_gap = 0;
	cfg.base = 0;
	cfg.size = 64 * PAGE;
	cfg.flags = UVMA_MM_PAGER;
	CHECK_EQ_U64(uvma_mm_create(&cfg, &mm), 0);
	CHECK_EQ_U64(uvma_mmap(mm, 0, PAGE, RW,
			       UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS |
				       UVMA_MAP_GROWSDOWN,
			       0, 0, NULL, NULL),
		     -EOPNOTSUPP);
	uvma_mm_destroy(mm);
}

/* A space whose window ends at a stack: placement stays below its gap. */
static void test_placement(void)
{
	struct uvma_mm *mm = window(0x100000, 32 * PAGE, 0);
	uint64_t out, top = 0x100000 + 256 * PAGE;

	map(mm, top - 8 * PAGE, 8 * PAGE, RW, UVMA_MAP_GROWSDOWN);
	CHECK_EQ_U64(place(mm, 0, 4 * PAGE),
		     top - 8 * PAGE - 32 * PAGE - 4 * PAGE);
	/* A hint in the gap is not taken; one below it is. */
	CHECK(place(mm, top - 12 * PAGE, PAGE) + PAGE <=
	      top - 8 * PAGE - 32 * PAGE);
	CHECK_EQ_U64(place(mm, 0x100000, PAGE), 0x100000);
	/* MAP_FIXED may go into the gap. */
	map(mm, top - 9 * PAGE, PAGE, UVMA_PROT_READ, 0);
	/* A request only the gap could hold: none. */
	CHECK_EQ_U64(uvma_mmap(mm, 0, 240 * PAGE, RW,
			       UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS, 0, 0,
			       NULL, &out),
		     -ENOMEM);
	check_map_valid(mm);
	uvma_mm_destroy(mm);
}

/*
 * A free range under an area that lies in a stack's gap is whole: Linux's
 * gap is the next area's, so only a range ending at the stack itself is
 * cut short. (uvma once searched below the whole gap instead.)
 */
static void test_placement_under_area(void)
{
	struct uvma_mm *mm = window(0x100000, 32 * PAGE, 0);
	uint64_t top = 0x100000 + 256 * PAGE;

	map(mm, top - 8 * PAGE, 8 * PAGE, RW, UVMA_MAP_GROWSDOWN);
	map(mm, top - 20 * PAGE, 2 * PAGE, RW, 0);
	/* [top - 18, top - 8) is free but in the gap; under the area it is
	 * not. */
	CHECK_EQ_U64(place(mm, 0, 4 * PAGE), top - 24 * PAGE);
	/* Ten pages fit under the stack only in its gap: below the area. */
	CHECK_EQ_U64(place(mm, 0, 10 * PAGE), top - 34 * PAGE);
	check_map_valid(mm);
	uvma_mm_destroy(mm);
}

/* The heap keeps out of a stack's gap too: brk may not grow so that the
 * page after its end lies in it (Linux's brk checks vm_start_gap). */
static void test_brk_gap(void)
{
	uint64_t base = 0x100000, out;
	struct uvma_mm *mm = window(base, 16 * PAGE, base);

	map(mm, base + 64 * PAGE, 8 * PAGE, RW, UVMA_MAP_GROWSDOWN);
	/* The page after the end at 64 - 16 - 1: out of the gap. */
	CHECK_EQ_U64(uvma_brk(mm, base + 47 * PAGE, &out), 0);
	CHECK_EQ_U64(out, base + 47 * PAGE);
	CHECK_EQ_U64(uvma_brk(mm, base + 48 * PAGE, &out), -ENOMEM);
	CHECK_EQ_U64(out, base + 47 * PAGE);
	/* A plain area there keeps one page only. */
	CHECK_EQ_U64(uvma_munmap(mm, base + 64 * PAGE, 8 * PAGE), 0);
	map(mm, base + 64 * PAGE, 8 * PAGE, RW, 0);
	CHECK_EQ_U64(uvma_brk(mm, base + 63 * PAGE, &out), 0);
	CHECK_EQ_U64(uvma_brk(mm, base + 64 * PAGE, &out), -ENOMEM);
	check_map_valid(mm);
	uvma_mm_destroy(mm);
}

/* A touched stack moved low keeps its small page offset: it may grow only
 * until that offset reaches 0 (Linux's expand_downwards). */
static void test_pgoff_floor(void)
{
	uint64_t base = 0x10000, out;
	struct uvma_mm *mm = window(base, 0, 0);

	map(mm, base + PAGE, PAGE, RW, UVMA_MAP_GROWSDOWN);
	CHECK_EQ_U64(uvma_fault(mm, base + PAGE, W), 0);
	CHECK_EQ_U64(uvma_mremap(mm, base + PAGE, PAGE, PAGE,
				 UVMA_MREMAP_MAYMOVE | UVMA_MREMAP_FIXED,
				 base + 128 * PAGE, &out),
		     0);
	CHECK_EQ_U64(test_area_at(mm, base + 128 * PAGE).pgoff, 0x11);
	CHECK_EQ_U64(uvma_fault(mm, base + 110 * PAGE, W), -EFAULT);
	CHECK_EQ_U64(uvma_fault(mm, base + 111 * PAGE, W), 0);
	CHECK_EQ_U64(test_area_at(mm, base + 111 * PAGE).pgoff, 0);
	check_map_valid(mm);
	uvma_mm_destroy(mm);
}

static struct uvma_mm *race_mm;
static _Atomic int race_go;

static void *grow_thread(void *arg)
{
	uint64_t pages = (uint64_t)(uintptr_t)arg;

	while (!atomic_load(&race_go))
		;
	CHECK_EQ_U64(uvma_fault(race_mm, STACK - pages * PAGE, W), 0);
	return NULL;
}

/* Two faults below one stack at once: the lower one decides where it
 * starts, whichever grows first. */
static void test_concurrent(void)
{
	uint64_t rounds = test_scaled(200, 20);

	for (uint64_t r = 0; r < rounds; r++) {
		pthread_t t[2];
		uint64_t low = 2 + rng_below(50), high = 1 + rng_below(low - 1);

		race_mm = space(0, 0);
		map(race_mm, STACK, 4 * PAGE, RW, UVMA_MAP_GROWSDOWN);
		atomic_store(&race_go, 0);
		CHECK(pthread_create(&t[0], NULL, grow_thread,
				     (void *)(uintptr_t)low) == 0);
		CHECK(pthread_create(&t[1], NULL, grow_thread,
				     (void *)(uintptr_t)high) == 0);
		atomic_store(&race_go, 1);
		CHECK(pthread_join(t[0], NULL) == 0);
		CHECK(pthread_join(t[1], NULL) == 0);
		CHECK_EQ_U64(test_area_at(race_mm, STACK).start,
			     STACK - low * PAGE);
		check_map_valid(race_mm);
		uvma_mm_destroy(race_mm);
	}
}

static void test_dup(void)
{
	struct uvma_mm *mm = space(32 * PAGE, 0), *child;

	map(mm, STACK, 4 * PAGE, RW, UVMA_MAP_GROWSDOWN);
	CHECK_EQ_U64(uvma_mm_dup(mm, NULL, &child), 0);
	CHECK_EQ_U64(uvma_fault(child, STACK - 28 * PAGE, W), 0);
	CHECK_EQ_U64(uvma_fault(child, STACK - 29 * PAGE, W), -EFAULT);
	CHECK_EQ_U64(test_area_at(mm, STACK).start,
		     STACK); /* not the parent's */
	uvma_mm_destroy(child);
	uvma_mm_destroy(mm);
}

static const struct test_case case_table[] = {
	{ "grows", test_grows },
	{ "limit", test_limit },
	{ "gap", test_gap },
	{ "read_only", test_read_only },
	{ "refused", test_refused },
	{ "placement", test_placement },
	{ "placement_under_area", test_placement_under_area },
	{ "brk_gap", test_brk_gap },
	{ "pgoff_floor", test_pgoff_floor },
	{ "concurrent", test_concurrent },
	{ "dup", test_dup },
	{ "nomem", test_nomem },
};

int main(int argc, char **argv)
{
	return test_run_cases(argc, argv, case_table,
			      sizeof(case_table) / sizeof(case_table[0]));
}
