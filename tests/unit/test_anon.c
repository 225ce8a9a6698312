/*
 * test_anon.c - what a write fault records in a private area (src/anon.c):
 * only a permitted write to a private area gives it a tag; the pieces of a
 * split share it, and so does a neighbour written later when only the
 * protection keeps them apart; a fork gives each touched area of the child
 * a tag of its own, marked inherited, and leaves the parent's alone; the
 * serials, run out, are renumbered with equal tags kept equal; a write to
 * an anonymous shared mapping's page past its object is -EIO; two threads
 * writing neighbours at once leave a valid map; without a zero page
 * (UVMA_MM_NO_ZERO_PAGE) a read of private anonymous memory tags as a
 * write does. The running kernel's
 * answers to the same rules are the conformance scenarios anon_*.
 */
#include <errno.h>
#include <pthread.h>

#include "anon.h"
#include "check.h"
#include "map_check.h"
#include "map_state.h"
#include "mm.h"
#include "uvma.h"
#include "vma_util.h"

#define PAGE 4096ull
#define AT   0x40000000ull
#define RW   (UVMA_PROT_READ | UVMA_PROT_WRITE)
#define RX   (UVMA_PROT_READ | UVMA_PROT_EXEC)
#define PRIV (UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS | UVMA_MAP_FIXED)

static struct uvma_mm *space(void)
{
	struct uvma_mm *mm;

	CHECK_EQ_U64(uvma_mm_create(NULL, &mm), 0);
	return mm;
}

static void map(struct uvma_mm *mm, uint64_t at, uint64_t len, unsigned prot,
		unsigned flags)
{
	CHECK_EQ_U64(uvma_mmap(mm, at, len, prot, flags, 0, 0, NULL, NULL), 0);
}

static void test_write_only(void)
{
	struct uvma_mm *mm = space();

	map(mm, AT, 2 * PAGE, RW, PRIV);
	map(mm, AT + 4 * PAGE, PAGE, UVMA_PROT_READ, PRIV);
	map(mm, AT + 8 * PAGE, PAGE, RW,
	    UVMA_MAP_SHARED | UVMA_MAP_ANONYMOUS | UVMA_MAP_FIXED);
	CHECK_EQ_U64(uvma_fault(mm, AT, UVMA_ACCESS_READ), 0);
	CHECK_EQ_U64(test_area_at(mm, AT).anon, 0);
	CHECK_EQ_U64(uvma_fault(mm, AT + 4 * PAGE, UVMA_ACCESS_WRITE), -EACCES);
	CHECK_EQ_U64(test_area_at(mm, AT + 4 * PAGE).anon, 0);
	CHECK_EQ_U64(uvma_fault(mm, AT + 8 * PAGE, UVMA_ACCESS_WRITE), 0);
	CHECK_EQ_U64(test_area_at(mm, AT + 8 * PAGE).anon, 0);
	CHECK_EQ_U64(uvma_fault(mm, AT + PAGE, UVMA_ACCESS_WRITE), 0);
	CHECK(test_area_at(mm, AT).anon != 0);
	CHECK_EQ_U64(test_area_at(mm, AT).anon & ANON_FORKED, 0);
	check_map_valid(mm);
	uvma_mm_destroy(mm);
}

static void test_split_shares(void)
{
	struct uvma_mm *mm = space();
	uint32_t t;

	map(mm, AT, 4 * PAGE, RW, PRIV);
	CHECK_EQ_U64(uvma_fault(mm, AT, UVMA_ACCESS_WRITE), 0);
	t = test_area_at(mm, AT).anon;
	CHECK_EQ_U64(uvma_mprotect(mm, AT + PAGE, PAGE, UVMA_PROT_READ), 0);
	CHECK_EQ_U64(test_area_at(mm, AT + 2 * PAGE).anon, t);
	CHECK_EQ_U64(test_area_at(mm, AT + PAGE).anon, t);
	CHECK_EQ_U64(uvma_mprotect(mm, AT + PAGE, PAGE, RW), 0);
	CHECK_EQ_U64(test_area_at(mm, AT).end, AT + 4 * PAGE);
	/* An untouched area mapped next to it merges and takes the tag. */
	map(mm, AT + 4 * PAGE, PAGE, RW, PRIV);
	CHECK_EQ_U64(test_area_at(mm, AT).end, AT + 5 * PAGE);
	CHECK_EQ_U64(test_area_at(mm, AT).anon, t);
	check_map_valid(mm);
	uvma_mm_destroy(mm);
}

static void test_neighbour(void)
{
	struct uvma_mm *mm = space();

	/* Apart only by protection: the second write shares the tag. */
	map(mm, AT, PAGE, RW, PRIV);
	map(mm, AT + PAGE, PAGE, RW | UVMA_PROT_EXEC, PRIV);
	CHECK_EQ_U64(uvma_fault(mm, AT + PAGE, UVMA_ACCESS_WRITE), 0);
	CHECK_EQ_U64(uvma_fault(mm, AT, UVMA_ACCESS_WRITE), 0);
	CHECK_EQ_U64(test_area_at(mm, AT).anon,
		     test_area_at(mm, AT + PAGE).anon);
	/* Apart by a hole when written: two tags, never one area. */
	map(mm, AT + 8 * PAGE, PAGE, RW, PRIV);
	map(mm, AT + 10 * PAGE, PAGE, RW, PRIV);
	CHECK_EQ_U64(uvma_fault(mm, AT + 8 * PAGE, UVMA_ACCESS_WRITE), 0);
	CHECK_EQ_U64(uvma_fault(mm, AT + 10 * PAGE, UVMA_ACCESS_WRITE), 0);
	CHECK(test_area_at(mm, AT + 8 * PAGE).anon !=
	      test_area_at(mm, AT + 10 * PAGE).anon);
	map(mm, AT + 9 * PAGE, PAGE, RW, PRIV);
	CHECK_EQ_U64(test_area_at(mm, AT + 8 * PAGE).end, AT + 10 * PAGE);
	CHECK_EQ_U64(test_area_at(mm, AT + 10 * PAGE).start, AT + 10 * PAGE);
	check_map_valid(mm);
	uvma_mm_destroy(mm);
}

static void test_fork(void)
{
	struct uvma_mm *mm = space(), *child;
	uint32_t t, c1, c2;

	map(mm, AT, 2 * PAGE, RW, PRIV);
	map(mm, AT + 4 * PAGE, PAGE, RW, PRIV);
	CHECK_EQ_U64(uvma_fault(mm, AT, UVMA_ACCESS_WRITE), 0);
	CHECK_EQ_U64(uvma_mprotect(mm, AT + PAGE, PAGE, RX), 0);
	t = test_area_at(mm, AT).anon;
	CHECK_EQ_U64(uvma_mm_dup(mm, NULL, &child), 0);
	c1 = test_area_at(child, AT).anon;
	c2 = test_area_at(child, AT + PAGE).anon;
	CHECK(c1 && c2 && c1 != c2);
	CHECK(c1 & c2 & ANON_FORKED);
	CHECK_EQ_U64(test_area_at(child, AT + 4 * PAGE).anon, 0);
	CHECK_EQ_U64(test_area_at(mm, AT).anon, t);
	/* The child's pieces no longer merge; the parent's still do. */
	CHECK_EQ_U64(uvma_mprotect(child, AT + PAGE, PAGE, RW), 0);
	CHECK_EQ_U64(test_area_at(child, AT).end, AT + PAGE);
	CHECK_EQ_U64(uvma_mprotect(mm, AT + PAGE, PAGE, RW), 0);
	CHECK_EQ_U64(test_area_at(mm, AT).end, AT + 2 * PAGE);
	check_map_valid(child);
	check_map_valid(mm);
	uvma_mm_destroy(child);
	uvma_mm_destroy(mm);
}

static void test_renumber(void)
{
	struct uvma_mm *mm = space();
	uint32_t a, b;

	map(mm, AT, 2 * PAGE, RW, PRIV);
	map(mm, AT + 4 * PAGE, PAGE, RW, PRIV);
	anon_set_next(mm, ANON_SERIAL_MAX);
	CHECK_EQ_U64(uvma_fault(mm, AT, UVMA_ACCESS_WRITE), 0);
	CHECK_EQ_U64(uvma_mprotect(mm, AT + PAGE, PAGE, RX), 0);
	CHECK_EQ_U64(test_area_at(mm, AT).anon >> 1, ANON_SERIAL_MAX);
	/* The serials ran out: the next write renumbers, equal tags stay
	 * equal, the new one differs. */
	CHECK_EQ_U64(uvma_fault(mm, AT + 4 * PAGE, UVMA_ACCESS_WRITE), 0);
	a = test_area_at(mm, AT).anon;
	b = test_area_at(mm, AT + 4 * PAGE).anon;
	CHECK_EQ_U64(a, 1u << 1);
	CHECK_EQ_U64(test_area_at(mm, AT + PAGE).anon, a);
	CHECK_EQ_U64(b, 2u << 1);
	CHECK_EQ_U64(mm->anon_next, 3);
	check_map_valid(mm);
	uvma_mm_destroy(mm);
}

static void test_shm_end(void)
{
	struct uvma_mm *mm = space();
	const unsigned shared =
		UVMA_MAP_SHARED | UVMA_MAP_ANONYMOUS | UVMA_MAP_FIXED;
	uint64_t out;

	map(mm, AT, 2 * PAGE, RW, shared);
	CHECK_EQ_U64(uvma_mremap(mm, AT, 2 * PAGE, 4 * PAGE, 0, 0, &out), 0);
	CHECK_EQ_U64(uvma_fault(mm, AT + PAGE, UVMA_ACCESS_WRITE), 0);
	CHECK_EQ_U64(uvma_fault(mm, AT + 2 * PAGE, UVMA_ACCESS_READ), -EIO);
	/* The access check comes first, as on Linux. */
	CHECK_EQ_U64(uvma_mprotect(mm, AT, 4 * PAGE, UVMA_PROT_READ), 0);
	CHECK_EQ_U64(uvma_fault(mm, AT + 3 * PAGE, UVMA_ACCESS_WRITE), -EACCES);
	uvma_mm_destroy(mm);
}

#define NEIGH 64

struct writer {
	struct uvma_mm *mm;
	bool down;
};

static void *write_all(void *arg)
{
	struct writer *w = arg;

	for (int i = 0; i < NEIGH; i++) {
		int k = w->down ? NEIGH - 1 - i : i;

		CHECK_EQ_U64(uvma_fault(w->mm, AT + (uint64_t)k * PAGE,
					UVMA_ACCESS_WRITE),
			     0);
	}
	return NULL;
}

/*
 * Neighbours apart only by protection, written by two threads from both
 * ends at once while a third changes protections elsewhere: every area
 * gets a tag, and with the protections made equal the map is valid (the
 * areas whose tags agree merged, no others).
 */
static void test_concurrent(void)
{
	unsigned rounds = test_scaled(50, 5);

	for (unsigned r = 0; r < rounds; r++) {
		struct uvma_mm *mm = space();
		struct writer w[2] = { { mm, false }, { mm, true } };
		pthread_t th[2];

		for (int k = 0; k < NEIGH; k++)
			map(mm, AT + (uint64_t)k * PAGE, PAGE,
			    k % 2 ? RW | UVMA_PROT_EXEC : RW, PRIV);
		map(mm, AT + 2 * NEIGH * PAGE, 8 * PAGE, RW, PRIV);
		for (int i = 0; i < 2; i++)
			CHECK(pthread_create(&th[i], NULL, write_all, &w[i]) ==
			      0);
		for (int i = 0; i < 20; i++)
			CHECK_EQ_U64(uvma_mprotect(mm,
						   AT + (2 * NEIGH + 2) * PAGE,
						   PAGE, i % 2 ? RW : RX),
				     0);
		for (int i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
		for (int k = 0; k < NEIGH; k++)
			CHECK(test_area_at(mm, AT + (uint64_t)k * PAGE).anon !=
			      0);
		CHECK_EQ_U64(uvma_mprotect(mm, AT, NEIGH * PAGE, RW), 0);
		check_map_valid(mm);
		uvma_mm_destroy(mm);
	}
}

/* A read-written-read row [AT, AT + 3 pages) with the middle mapped last:
 * whether it became one area says whether the read tagged its page. */
static uint64_t read_row(struct uvma_mm *mm, uint64_t at, unsigned flags,
			 uint64_t file_id, int how)
{
	CHECK_EQ_U64(uvma_mmap(mm, at, PAGE, RW, flags, file_id, 0, NULL, NULL),
		     0);
	CHECK_EQ_U64(uvma_mmap(mm, at + 2 * PAGE, PAGE, RW, flags, file_id,
			       2 * PAGE, NULL, NULL),
		     0);
	CHECK_EQ_U64(uvma_fault(mm, at, UVMA_ACCESS_WRITE), 0);
	switch (how) {
	case 0:
		CHECK_EQ_U64(uvma_fault(mm, at + 2 * PAGE, UVMA_ACCESS_READ),
			     0);
		break;
	case 1:
		CHECK_EQ_U64(uvma_madvise(mm, at + 2 * PAGE, PAGE,
					  UVMA_MADV_POPULATE_READ),
			     0);
		break;
	default: /* mlock reads what it does not write */
		CHECK_EQ_U64(
			uvma_mprotect(mm, at + 2 * PAGE, PAGE, UVMA_PROT_READ),
			0);
		CHECK_EQ_U64(uvma_mlock(mm, at + 2 * PAGE, PAGE, 0), 0);
		CHECK_EQ_U64(uvma_munlock(mm, at + 2 * PAGE, PAGE), 0);
		CHECK_EQ_U64(uvma_mprotect(mm, at + 2 * PAGE, PAGE, RW), 0);
		break;
	}
	CHECK_EQ_U64(uvma_mmap(mm, at + PAGE, PAGE, RW, flags, file_id, PAGE,
			       NULL, NULL),
		     0);
	return test_area_at(mm, at).end - at;
}

/* UVMA_MM_NO_ZERO_PAGE: a read of private anonymous memory tags its area
 * (the middle joins only the written page), as on a kernel without the zero
 * page; without the flag, or in a private file area, a read leaves it
 * untouched. The flag goes with a fork. The kernel's answer: conformance
 * advise_pages, modelled with uvma-kernel-replay --probe's options. */
static void test_no_zero_page(void)
{
	struct uvma_mm_config cfg;
	struct uvma_mm *mm, *nz, *child;
	int how;

	uvma_mm_config_init(&cfg);
	cfg.flags = UVMA_MM_NO_ZERO_PAGE;
	CHECK_EQ_U64(uvma_mm_create(&cfg, &nz), 0);
	mm = space();
	for (how = 0; how < 3; how++) {
		uint64_t at = AT + (uint64_t)how * 16 * PAGE;

		CHECK_EQ_U64(read_row(mm, at, PRIV, 0, how), 3 * PAGE);
		CHECK_EQ_U64(read_row(nz, at, PRIV, 0, how), 2 * PAGE);
		CHECK(test_area_at(nz, at + 2 * PAGE).anon != 0);
		CHECK_EQ_U64(read_row(nz, at + 8 * PAGE,
				      UVMA_MAP_PRIVATE | UVMA_MAP_FIXED, 1,
				      how),
			     3 * PAGE);
	}
	check_map_valid(nz);
	check_map_valid(mm);
	CHECK_EQ_U64(uvma_mm_dup(nz, NULL, &child), 0);
	CHECK_EQ_U64(read_row(child, AT + 64 * PAGE, PRIV, 0, 0), 2 * PAGE);
	uvma_mm_destroy(child);
	cfg.flags = UVMA_MM_NO_ZERO_PAGE << 1;
	CHECK_EQ_U64(uvma_mm_create(&cfg, &child), -EINVAL);
	uvma_mm_destroy(nz);
	uvma_mm_destroy(mm);
}

static const struct test_case case_table[] = {
	{ "write_only", test_write_only },
	{ "split_shares", test_split_shares },
	{ "neighbour", test_neighbour },
	{ "fork", test_fork },
	{ "renumber", test_renumber },
	{ "shm_end", test_shm_end },
	{ "concurrent", test_concurrent },
	{ "no_zero_page", test_no_zero_page },
};

int main(int argc, char **argv)
{
	return test_run_cases(argc, argv, case_table,
			      sizeof(case_table) / sizeof(case_table[0]));
}
