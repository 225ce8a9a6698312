/*
 * test_alloc.c - the pools' chunks (src/alloc.c).
 *
 * 1. sizes: the first chunk is the smallest, each next twice the last up
 *    to the cap, which then repeats; every chunk is zeroed and counted.
 * 2. huge_advice: a chunk of 2 MiB or more carries the huge-page advice in
 *    the kernel's own view of the mapping (/proc/self/smaps, VmFlags "hg"),
 *    a smaller one does not (on a kernel with THP: without, the advice is
 *    refused and only the small chunk is checked). Without the advice, Debian's
 * THP setting
 *    ("madvise") gives the pools' random-access memory 4 KiB pages.
 *
 * 3. carve: a pool's supply carves objects in order and starts the next
 *    chunk when one does not fit.
 *
 * The chunks are the test's: it unmaps them (the pools never do).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "alloc.h"
#include "check.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)

static void test_sizes(void)
{
	static const uint64_t want[] = { 256 * KiB, 512 * KiB, 1 * MiB,
					 2 * MiB,   4 * MiB,   8 * MiB,
					 16 * MiB,  32 * MiB,  64 * MiB,
					 64 * MiB };
	size_t size = 0;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		uint64_t calls = alloc_count();
		unsigned char *c = alloc_chunk(&size);

		CHECK(c != NULL);
		CHECK_EQ_U64(size, want[i]);
		CHECK_EQ_U64(alloc_count(), calls + 1);
		CHECK_EQ_U64(c[0], 0);
		CHECK_EQ_U64(c[size - 1], 0);
		CHECK_EQ_U64(munmap(c, size), 0);
	}
}

/* Whether the mapping holding addr has the flag in its VmFlags line. */
static bool vm_flag(const void *addr, const char *flag)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool inside = false, found = false, seen = false;

	CHECK(f != NULL);
	while (!seen && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char *p;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			inside = (unsigned long)addr >= lo &&
				 (unsigned long)addr < hi;
			continue;
		}
		if (!inside || strncmp(line, "VmFlags:", 8))
			continue;
		seen = true;
		for (p = strtok(line + 8, " \n"); p; p = strtok(NULL, " \n"))
			found |= !strcmp(p, flag);
	}
	fclose(f);
	CHECK(seen);
	return found;
}

/* Whether the kernel takes the advice at all (asked of a page of its own,
 * so the chunks under test keep only what alloc_chunk gave them). */
static bool thp_supported(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int r, err;

	CHECK(p != MAP_FAILED);
	r = madvise(p, 4096, MADV_HUGEPAGE);
	err = errno;
	CHECK_EQ_U64(munmap(p, 4096), 0);
	CHECK(r == 0 || err == EINVAL);
	return r == 0;
}

/* After a chunk of 1 MiB comes one of 2 MiB, the first with the advice. A
 * kernel built without transparent huge pages refuses the advice (EINVAL)
 * and shows no flag: then only the small chunk is checked. */
static void test_huge_advice(void)
{
	size_t big_size = 1 * MiB, small_size = 0;
	char *big = alloc_chunk(&big_size);
	char *small = alloc_chunk(&small_size);
	bool thp;

	CHECK(big != NULL && small != NULL);
	CHECK_EQ_U64(big_size, 2 * MiB);
	CHECK_EQ_U64(small_size, 256 * KiB);
	thp = thp_supported();
	if (!thp)
		printf("huge_advice: this kernel has no transparent huge "
		       "pages; the large chunk is not checked\n");
	CHECK(!thp || vm_flag(big, "hg"));
	CHECK(!thp || vm_flag(big + big_size - 1, "hg"));
	CHECK(!vm_flag(small, "hg"));
	CHECK_EQ_U64(munmap(big, big_size), 0);
	CHECK_EQ_U64(munmap(small, small_size), 0);
}

/* Objects come one after the other from a chunk; one that does not fit in
 * what is left starts the next chunk (twice the size), and the statistic
 * counts both chunks. */
static void test_carve(void)
{
	struct carver c = { 0 };
	size_t obj = 100 * KiB; /* two fit in the first 256 KiB chunk */
	char *a = alloc_carve(&c, obj), *b = alloc_carve(&c, obj), *d;

	CHECK(a != NULL && b == a + obj);
	CHECK_EQ_U64(c.size, 256 * KiB);
	CHECK_EQ_U64(c.mapped, 256 * KiB);
	d = alloc_carve(&c, obj);
	CHECK(d != NULL && (d < a || d >= a + 256 * KiB));
	CHECK_EQ_U64(c.size, 512 * KiB);
	CHECK_EQ_U64(c.mapped, 768 * KiB);
	CHECK_EQ_U64(d[obj - 1], 0);
	CHECK_EQ_U64(munmap(a, 256 * KiB), 0);
	CHECK_EQ_U64(munmap(d, 512 * KiB), 0);
}

static const struct test_case case_table[] = {
	{ "sizes", test_sizes },
	{ "huge_advice", test_huge_advice },
	{ "carve", test_carve },
};

int main(int argc, char **argv)
{
	return test_run_cases(argc, argv, case_table,
			      sizeof(case_table) / sizeof(case_table[0]));
}
