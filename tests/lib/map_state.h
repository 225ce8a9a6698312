/*
 * map_state.h - a snapshot of an address space for tests that check what
 * an operation changed, or that a failed one changed nothing: every tree
 * entry with its VMA's object, fields and count, plus brk, the anonymous
 * shared id counter and the tree's entry count. Also check_quiet(), the
 * state every operation must leave (tests/lib/map_check.h).
 *
 * state_take reads the tree as the writer may (no writer may run: the
 * caller holds mmap_lock or is the only thread using mm).
 */
#ifndef UVMA_TEST_MAP_STATE_H
#define UVMA_TEST_MAP_STATE_H

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "check.h"
#include "map_check.h"
#include "mm.h"
#include "rcu.h"
#include "vma_util.h"

#ifndef MAP_STATE_MAX
#define MAP_STATE_MAX 1024 /* areas a snapshot can hold */
#endif

struct map_area {
	uint64_t start, end;
	struct uvma_vma *obj;
	uint32_t prot, flags;
	uint64_t pgoff, file_id;
	void *user;
	uint32_t refcnt;
};

struct state {
	size_t n;
	struct map_area a[MAP_STATE_MAX];
	uint64_t brk, shmem_id;
	size_t entries;
};

static inline void state_take(struct uvma_mm *mm, struct state *s)
{
	struct tree_stats ts;
	struct tree_iter it;
	struct tree_entry e;

	s->n = 0;
	rcu_read_enter();
	tree_iter_start(&it, &mm->tree, 0, UINT64_MAX);
	while (tree_iter_next(&it, &e)) {
		struct uvma_vma *v = e.ptr;
		struct map_area *a = &s->a[s->n];

		CHECK(s->n < MAP_STATE_MAX);
		memset(a, 0, sizeof(*a)); /* padding too: compared by memcmp */
		a->start = e.start;
		a->end = e.end;
		a->obj = v;
		a->prot = v->prot;
		a->flags = v->flags;
		a->pgoff = v->pgoff;
		a->file_id = v->file_id;
		a->user = v->user;
		a->refcnt = test_refcnt(v);
		s->n++;
	}
	rcu_read_exit();
	tree_stats(&mm->tree, &ts);
	s->entries = ts.entries;
	s->brk = mm->brk;
	s->shmem_id = mm->next_shmem_id;
}

/* Same map; with objects, the very same VMA objects too. */
static inline bool state_same(const struct state *a, const struct state *b,
			      bool objects)
{
	if (a->n != b->n || a->brk != b->brk || a->shmem_id != b->shmem_id ||
	    a->entries != b->entries)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		struct map_area x = a->a[i], y = b->a[i];

		if (!objects)
			x.obj = y.obj = NULL;
		if (memcmp(&x, &y, sizeof(x)))
			return false;
	}
	return true;
}

static inline bool state_has(const struct state *s, const struct uvma_vma *v)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->a[i].obj == v)
			return true;
	return false;
}

static inline void print_state(FILE *out, const char *what,
			       const struct state *s)
{
	fprintf(out, "%s (%zu areas, brk %#" PRIx64 "):\n", what, s->n, s->brk);
	for (size_t i = 0; i < s->n; i++)
		fprintf(out,
			"  [%#" PRIx64 ", %#" PRIx64 ") %p prot %u flags %#x "
			"pgoff %#" PRIx64 " file %#" PRIx64 " user %p "
			"refcnt %#x\n",
			s->a[i].start, s->a[i].end, (void *)s->a[i].obj,
			s->a[i].prot, s->a[i].flags, s->a[i].pgoff,
			s->a[i].file_id, s->a[i].user, s->a[i].refcnt);
}

#define CHECK_SAME(a, b, objects)                                              \
	do {                                                                   \
		if (!state_same((a), (b), (objects))) {                        \
			fflush(stdout);                                        \
			print_state(stderr, "expected", (a));                  \
			print_state(stderr, "got", (b));                       \
			check_fail(__FILE__, __LINE__,                         \
				   "state_same(" #a ", " #b ")");              \
		}                                                              \
	} while (0)

/* The map's invariants with other spaces alive in the process (the pool
 * is not asked to balance). */
static inline void check_map_valid(struct uvma_mm *mm)
{
	char msg[256];

	if (check_map_invariants(mm, msg, sizeof(msg))) {
		fprintf(stderr, "map invariants: %s\n", msg);
		CHECK(!"map invariants hold");
	}
}

/* No VMA locked or read, each covering its entry, merged as Linux would,
 * the pool balanced (mm is the only live space). */
static inline void check_quiet(struct uvma_mm *mm)
{
	const struct map_check_opts o = { .expect_count = -1, .only_mm = true };
	char msg[256];

	if (check_map_invariants_ex(mm, &o, msg, sizeof(msg))) {
		fprintf(stderr, "map invariants: %s\n", msg);
		CHECK(!"map invariants hold");
	}
}

#endif
