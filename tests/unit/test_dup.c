/*
 * test_dup.c - uvma_mm_dup (src/fork.c): the child's map is the parent's,
 * area for area, in objects of its own; the two then live apart; the copy
 * callback runs once per area in order and what it returns becomes the
 * child's user pointer; every failure (the callback's, a VMA allocation
 * at each point of the copy) leaves the parent as it was and nothing
 * allocated; a pager space and bad arguments are refused.
 *
 * Maps are random (seeded, printed): areas of mixed protection, file and
 * anonymous, private and shared, with user pointers, split by mprotect so
 * that neighbours differ. Leaks are left to AddressSanitizer's exit check.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define MAP_STATE_MAX 32768 /* test_large's areas */

#include "check.h"
#include "map_check.h"
#include "map_state.h"
#include "tree_valid.h"
#include "mm.h"
#include "rcu.h"
#include "tree.h"
#include "uvma.h"
#include "vma.h"

#define PAGE  4096ull
#define BASE  0x10000000ull
#define SLOTS 64 /* 4-page slots of the random maps */

static uint64_t map_flags(unsigned r)
{
	switch (r % 4) {
	case 0:
		return UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS;
	case 1:
		return UVMA_MAP_SHARED | UVMA_MAP_ANONYMOUS;
	case 2:
		return UVMA_MAP_PRIVATE;
	default:
		return UVMA_MAP_SHARED;
	}
}

/* A random map in slots [0, slots): areas of 1-4 pages, some split. */
static void random_map(struct uvma_mm *mm, unsigned slots)
{
	for (unsigned i = 0; i < slots; i++) {
		uint64_t at = BASE + i * 4 * PAGE,
			 len = (1 + rng_below(4)) * PAGE;
		unsigned flags = (unsigned)map_flags((unsigned)rng_below(4));
		uint64_t file =
			flags & UVMA_MAP_ANONYMOUS ? 0 : 1 + rng_below(3);
		uint64_t out;

		if (rng_chance(1, 5))
			continue; /* a hole */
		CHECK_EQ_U64(uvma_mmap(mm, at, len, UVMA_PROT_READ,
				       flags | UVMA_MAP_FIXED, file,
				       file ? i * 4 * PAGE : 0,
				       (void *)(uintptr_t)(rng_below(3) * 8),
				       &out),
			     0);
		if (len > PAGE && rng_chance(1, 2))
			CHECK_EQ_U64(
				uvma_mprotect(mm, at + PAGE, PAGE,
					      UVMA_PROT_READ | UVMA_PROT_WRITE),
				0);
	}
}

static struct uvma_mm *new_space(void)
{
	struct uvma_mm_config cfg;
	struct uvma_mm *mm;

	uvma_mm_config_init(&cfg);
	cfg.brk_start = 0x7000000000ull;
	CHECK_EQ_U64(uvma_mm_create(&cfg, &mm), 0);
	return mm;
}

static void check_valid(struct uvma_mm *mm)
{
	check_map_valid(mm);
	check_tree_valid(&mm->tree);
}

/* The child is the parent, in objects of its own, every one attached. */
static void check_copy(struct uvma_mm *parent, struct uvma_mm *child)
{
	static struct state a, b;

	state_take(parent, &a);
	state_take(child, &b);
	CHECK_SAME(&a, &b, false);
	for (size_t i = 0; i < b.n; i++) {
		CHECK(!state_has(&a, b.a[i].obj));
		CHECK(atomic_load(&b.a[i].obj->mm) == child);
	}
	check_valid(parent);
	check_valid(child);
}

static void test_copy(void)
{
	struct uvma_mm *mm = new_space(), *child;
	uint64_t out;

	random_map(mm, SLOTS);
	CHECK_EQ_U64(uvma_brk(mm, 0x7000000000ull + 5 * PAGE, &out), 0);
	CHECK_EQ_U64(uvma_mm_dup(mm, NULL, &child), 0);
	check_copy(mm, child);
	CHECK_EQ_U64(child->brk, mm->brk);

	/* Apart from now on: a change in one is not in the other. */
	CHECK_EQ_U64(uvma_munmap(child, BASE, SLOTS * 4 * PAGE), 0);
	CHECK_EQ_U64(uvma_fault(child, BASE, UVMA_ACCESS_READ), -EFAULT);
	CHECK_EQ_U64(uvma_mmap(mm, BASE + SLOTS * 4 * PAGE, PAGE,
			       UVMA_PROT_READ,
			       UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS |
				       UVMA_MAP_FIXED,
			       0, 0, NULL, &out),
		     0);
	CHECK_EQ_U64(
		uvma_fault(child, BASE + SLOTS * 4 * PAGE, UVMA_ACCESS_READ),
		-EFAULT);
	/* The heap goes on from the parent's break. */
	CHECK_EQ_U64(uvma_brk(child, 0x7000000000ull + 9 * PAGE, &out), 0);
	CHECK_EQ_U64(out, 0x7000000000ull + 9 * PAGE);
	check_valid(mm);
	check_valid(child);
	uvma_mm_destroy(child);
	uvma_mm_destroy(mm);
}

static void test_empty(void)
{
	struct uvma_mm *mm = new_space(), *child;

	CHECK_EQ_U64(uvma_mm_dup(mm, NULL, &child), 0);
	check_copy(mm, child);
	uvma_mm_destroy(child);
	uvma_mm_destroy(mm);
}

/* Faults in the child run under its own area locks, with its handler. */
static _Atomic int child_faults;

static int count_fault(const struct uvma_fault *f)
{
	(void)f;
	atomic_fetch_add(&child_faults, 1);
	return 0;
}

static void test_child_faults(void)
{
	struct uvma_mm_config cfg;
	struct uvma_mm *mm, *child;
	struct uvma_fault_stats st;
	uint64_t out;

	uvma_mm_config_init(&cfg);
	cfg.fault = count_fault;
	CHECK_EQ_U64(uvma_mm_create(&cfg, &mm), 0);
	CHECK_EQ_U64(uvma_mmap(mm, BASE, 4 * PAGE,
			       UVMA_PROT_READ | UVMA_PROT_WRITE,
			       UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS |
				       UVMA_MAP_FIXED,
			       0, 0, NULL, &out),
		     0);
	CHECK_EQ_U64(uvma_mm_dup(mm, NULL, &child), 0);
	CHECK_EQ_U64(uvma_fault(child, BASE + PAGE, UVMA_ACCESS_WRITE), 0);
	CHECK_EQ_U64(atomic_load(&child_faults), 1);
	uvma_mm_fault_stats(child, &st);
	CHECK_EQ_U64(st.success, 1);
	CHECK_EQ_U64(uvma_fault(mm, BASE, UVMA_ACCESS_WRITE), 0);
	uvma_mm_destroy(child);
	uvma_mm_destroy(mm);
}

/* ---- the copy callback ----------------------------------------------------
 */

struct copier {
	unsigned calls, fail_at; /* fail the fail_at-th call (1-based; 0 no) */
	uint64_t last_start;
	unsigned live; /* child user pointers made and not undone */
	unsigned undone;
};

static int copy_area(const struct uvma_area_info *parent, void **child_user,
		     void *arg)
{
	struct copier *c = arg;
	uintptr_t *box;

	c->calls++;
	CHECK(c->calls == 1 || parent->start >= c->last_start);
	CHECK(*child_user == parent->user);
	c->last_start = parent->start;
	if (c->calls == c->fail_at)
		return -EIO;
	box = malloc(sizeof(*box));
	CHECK(box != NULL);
	*box = parent->start;
	*child_user = box;
	c->live++;
	return 0;
}

static void undo_area(void *child_user, void *arg)
{
	struct copier *c = arg;

	free(child_user);
	c->live--;
	c->undone++;
}

static int free_box(const struct uvma_area_info *area, void *arg)
{
	(void)arg;
	CHECK(*(uintptr_t *)area->user == area->start);
	free(area->user);
	return 0;
}

static void test_copy_callback(void)
{
	struct uvma_mm *mm = new_space(), *child;
	struct copier c = { 0 };
	const struct uvma_dup_ops ops = { copy_area, undo_area, &c };
	struct tree_stats ts;

	random_map(mm, SLOTS);
	tree_stats(&mm->tree, &ts);
	CHECK_EQ_U64(uvma_mm_dup(mm, &ops, &child), 0);
	CHECK_EQ_U64(c.calls, ts.entries);
	CHECK_EQ_U64(c.live, ts.entries);
	CHECK_EQ_U64(c.undone, 0);
	/* Each child area holds its own box, made from its parent area. */
	CHECK_EQ_U64(uvma_maps(child, 0, UINT64_MAX, free_box, NULL), 0);
	check_valid(child);
	uvma_mm_destroy(child);
	uvma_mm_destroy(mm);
}

/* Every failure point: the parent unchanged, nothing left over. */
static void check_fails(struct uvma_mm *mm, const struct uvma_dup_ops *ops,
			int want)
{
	static struct state before, after;
	struct vma_pool_stats p0, p1;
	struct uvma_mm *child = (void *)1;

	state_take(mm, &before);
	vma_pool_stats(&p0);
	CHECK_EQ_U64(uvma_mm_dup(mm, ops, &child), want);
	CHECK(child == (void *)1); /* not written */
	vma_pool_stats(&p1);
	CHECK_EQ_U64(p1.objects - p1.free, p0.objects - p0.free);
	state_take(mm, &after);
	CHECK_SAME(&before, &after, true);
	check_valid(mm);
}

static void test_copy_fails(void)
{
	struct uvma_mm *mm = new_space();
	struct tree_stats ts;

	random_map(mm, SLOTS);
	tree_stats(&mm->tree, &ts);
	for (unsigned k = 1; k <= ts.entries; k++) {
		struct copier c = { .fail_at = k };
		const struct uvma_dup_ops ops = { copy_area, undo_area, &c };

		check_fails(mm, &ops, -EIO);
		CHECK_EQ_U64(c.undone, k - 1);
		CHECK_EQ_U64(c.live, 0);
	}
	uvma_mm_destroy(mm);
}

static void test_alloc_fails(void)
{
	struct uvma_mm *mm = new_space();
	struct tree_stats ts;

	random_map(mm, SLOTS);
	tree_stats(&mm->tree, &ts);
	for (unsigned k = 1; k <= ts.entries; k++) {
		struct copier c = { 0 };
		const struct uvma_dup_ops ops = { copy_area, undo_area, &c };

		vma_pool_fail_after(k);
		check_fails(mm, &ops, -ENOMEM);
		vma_pool_fail_after(0);
		CHECK_EQ_U64(c.undone, k - 1);
		CHECK_EQ_U64(c.live, 0);
	}
	uvma_mm_destroy(mm);
}

/* Mark about a third of mm's areas MADV_DONTFORK; returns how many. */
static unsigned dontfork_some(struct uvma_mm *mm)
{
	struct tree_iter it;
	struct tree_entry e;
	uint64_t at[4 * SLOTS];
	unsigned n = 0, marked = 0;

	rcu_read_enter();
	tree_iter_start(&it, &mm->tree, 0, UINT64_MAX);
	while (tree_iter_next(&it, &e) && n < 4 * SLOTS)
		at[n++] = e.start;
	rcu_read_exit();
	for (unsigned i = 0; i < n; i++) {
		struct uvma_vma *v;
		struct uvma_area_info info;

		if (!rng_chance(1, 3))
			continue;
		CHECK_EQ_U64(uvma_madvise(mm, at[i], PAGE, UVMA_MADV_DONTFORK),
			     0);
		CHECK_EQ_U64(uvma_vma_get(mm, at[i], &v), 0);
		uvma_vma_info(v, &info);
		uvma_vma_unlock(v);
		CHECK(info.vm_flags & UVMA_VM_DONTCOPY);
		marked++;
	}
	return marked;
}

static int no_dontcopy(const struct uvma_area_info *a, void *arg)
{
	unsigned *n = arg;

	CHECK(!(a->vm_flags & (UVMA_VM_DONTCOPY | UVMA_VM_LOCKED)));
	++*n;
	return 0;
}

static int count_dontcopy(const struct uvma_area_info *a, void *arg)
{
	unsigned *n = arg;

	*n += !!(a->vm_flags & UVMA_VM_DONTCOPY);
	return 0;
}

/*
 * MADV_DONTFORK areas stay out of the child (and copy never sees them);
 * locks stay behind. Then every tree allocation of the child (its copy,
 * then the removal of those areas) fails in turn: the parent as it was,
 * every copy undone.
 */
static void test_dontfork(void)
{
	struct uvma_mm *mm = new_space(), *child;
	struct copier c = { 0 };
	const struct uvma_dup_ops ops = { copy_area, undo_area, &c };
	unsigned marked, pieces = 0, areas = 0;
	struct tree_stats ts;
	long k;

	random_map(mm, SLOTS);
	marked = dontfork_some(mm);
	CHECK_EQ_U64(uvma_mlockall(mm, UVMA_MCL_CURRENT | UVMA_MCL_ONFAULT), 0);
	CHECK_EQ_U64(uvma_maps(mm, 0, UINT64_MAX, count_dontcopy, &pieces), 0);
	CHECK(marked == 0 || pieces > 0);
	tree_stats(&mm->tree, &ts);
	CHECK_EQ_U64(uvma_mm_dup(mm, &ops, &child), 0);
	CHECK_EQ_U64(c.calls, ts.entries - pieces);
	CHECK_EQ_U64(uvma_maps(child, 0, UINT64_MAX, no_dontcopy, &areas), 0);
	CHECK_EQ_U64(areas, ts.entries - pieces);
	CHECK_EQ_U64(uvma_maps(child, 0, UINT64_MAX, free_box, NULL), 0);
	check_valid(child);
	uvma_mm_destroy(child);
	printf("%u of %u areas not copied\n", pieces, (unsigned)ts.entries);

	for (k = 1;; k++) {
		struct copier f = { 0 };
		const struct uvma_dup_ops fops = { copy_area, undo_area, &f };
		static struct state before, after;
		int r;

		CHECK(k < 100000);
		state_take(mm, &before);
		tree_fail_next_tree_after(k);
		r = uvma_mm_dup(mm, &fops, &child);
		tree_fail_next_tree_after(0);
		state_take(mm, &after);
		CHECK_SAME(&before, &after, true);
		if (!r)
			break;
		CHECK_EQ_U64(r, -ENOMEM);
		CHECK_EQ_U64(f.live, 0);
	}
	printf("dup survived %ld tree allocation failures\n", k - 1);
	CHECK(k > 1);
	CHECK_EQ_U64(uvma_maps(child, 0, UINT64_MAX, free_box, NULL), 0);
	uvma_mm_destroy(child);
	uvma_mm_destroy(mm);
}

static void test_refused(void)
{
	struct uvma_mm_config cfg;
	struct uvma_mm *mm = new_space(), *pg, *child;

	CHECK_EQ_U64(uvma_mm_dup(NULL, NULL, &child), -EINVAL);
	CHECK_EQ_U64(uvma_mm_dup(mm, NULL, NULL), -EINVAL);
	uvma_mm_config_init(&cfg);
	cfg.base = 0;
	cfg.size = 64 * PAGE;
	cfg.flags = UVMA_MM_PAGER;
	CHECK_EQ_U64(uvma_mm_create(&cfg, &pg), 0);
	CHECK_EQ_U64(uvma_mm_dup(pg, NULL, &child), -EOPNOTSUPP);
	uvma_mm_destroy(pg);
	uvma_mm_destroy(mm);
}

/* A map of many areas (a tree of several levels), copied node by node. */
static void test_large(void)
{
	uint64_t n = test_scaled(20000, 2000), out;
	struct uvma_mm *mm = new_space(), *child, *grandchild;
	struct tree_stats a, b;

	for (uint64_t i = 0; i < n; i++)
		CHECK_EQ_U64(uvma_mmap(mm, BASE + 2 * i * PAGE, PAGE,
				       i % 3 ? UVMA_PROT_READ : UVMA_PROT_NONE,
				       UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS |
					       UVMA_MAP_FIXED,
				       0, 0, NULL, &out),
			     0);
	CHECK_EQ_U64(uvma_mm_dup(mm, NULL, &child), 0);
	tree_stats(&mm->tree, &a);
	tree_stats(&child->tree, &b);
	CHECK_EQ_U64(b.entries, n);
	CHECK_EQ_U64(b.nodes, a.nodes);
	CHECK_EQ_U64(b.height, a.height);
	check_valid(child);
	/* A copy of a copy, after the parent goes. */
	uvma_mm_destroy(mm);
	CHECK_EQ_U64(uvma_mm_dup(child, NULL, &grandchild), 0);
	check_copy(child, grandchild);
	uvma_mm_destroy(child);
	uvma_mm_destroy(grandchild);
}

static const struct test_case case_table[] = {
	{ "copy", test_copy },
	{ "empty", test_empty },
	{ "child_faults", test_child_faults },
	{ "copy_callback", test_copy_callback },
	{ "copy_fails", test_copy_fails },
	{ "alloc_fails", test_alloc_fails },
	{ "dontfork", test_dontfork },
	{ "refused", test_refused },
	{ "large", test_large },
};

int main(int argc, char **argv)
{
	return test_run_cases(argc, argv, case_table,
			      sizeof(case_table) / sizeof(case_table[0]));
}
