/*
 * test_flags.c - hidden area flags (src/madvise.c, src/mlock.c,
 * src/populate.c): advice and locks show in uvma_area_info.vm_flags and
 * not in flags, split areas and merge them back; a lock faults a private
 * writable area in for writing (it gets its first-write tag), a lock on
 * fault does not, a locked read-only area made writable is faulted in
 * then, and so is a locked area's growth; mlockall's MCL_FUTURE locks new
 * mappings and heap growth until munlockall, and a child of uvma_mm_dup
 * inherits neither it nor the locks; faults in every area go on while
 * other threads change the flags (and seal pages) around them. The
 * running kernel's answers to the same rules are the conformance
 * scenarios advise_*, lock_*, lockall, fork_flags, account_flags and
 * map_populate.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "check.h"
#include "map_check.h"
#include "map_state.h"
#include "uvma.h"
#include "vma_util.h"

#define PAGE 4096ull
#define AT   0x40000000ull
#define HEAP 0x20000000ull
#define RO   UVMA_PROT_READ
#define RW   (UVMA_PROT_READ | UVMA_PROT_WRITE)
#define PRIV (UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS | UVMA_MAP_FIXED)
#define SHRD (UVMA_MAP_SHARED | UVMA_MAP_ANONYMOUS | UVMA_MAP_FIXED)
#define LOCK UVMA_VM_LOCKED
#define LOCF (UVMA_VM_LOCKED | UVMA_VM_LOCKONFAULT)

static struct uvma_mm *space(void)
{
	struct uvma_mm_config cfg;
	struct uvma_mm *mm;

	uvma_mm_config_init(&cfg);
	cfg.brk_start = HEAP;
	CHECK_EQ_U64(uvma_mm_create(&cfg, &mm), 0);
	return mm;
}

static void map(struct uvma_mm *mm, uint64_t at, uint64_t pages, unsigned prot,
		unsigned flags)
{
	CHECK_EQ_U64(
		uvma_mmap(mm, at, pages * PAGE, prot, flags, 0, 0, NULL, NULL),
		0);
}

static struct uvma_area_info at(struct uvma_mm *mm, uint64_t page)
{
	return test_area_at(mm, AT + page * PAGE);
}

/* The hidden flags of the area at addr, accounting aside (test_account
 * checks that). */
static unsigned vm_at(struct uvma_mm *mm, uint64_t addr)
{
	return test_area_at(mm, addr).vm_flags & ~UVMA_VM_ACCOUNT;
}

static unsigned vm(struct uvma_mm *mm, uint64_t page)
{
	return vm_at(mm, AT + page * PAGE);
}

static void test_info(void)
{
	struct uvma_mm *mm = space();

	map(mm, AT, 8, RW, PRIV);
	CHECK_EQ_U64(uvma_madvise(mm, AT + PAGE, 2 * PAGE, UVMA_MADV_DONTDUMP),
		     0);
	CHECK_EQ_U64(uvma_madvise(mm, AT + 2 * PAGE, PAGE, UVMA_MADV_HUGEPAGE),
		     0);
	CHECK_EQ_U64(vm(mm, 1), UVMA_VM_DONTDUMP);
	CHECK_EQ_U64(at(mm, 1).end, AT + 2 * PAGE);
	CHECK_EQ_U64(vm(mm, 2), UVMA_VM_DONTDUMP | UVMA_VM_HUGEPAGE);
	CHECK_EQ_U64(at(mm, 1).flags, UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS);
	/* NOHUGEPAGE replaces HUGEPAGE; the opposites merge everything. */
	CHECK_EQ_U64(
		uvma_madvise(mm, AT + 2 * PAGE, PAGE, UVMA_MADV_NOHUGEPAGE), 0);
	CHECK_EQ_U64(vm(mm, 2), UVMA_VM_DONTDUMP | UVMA_VM_NOHUGEPAGE);
	CHECK_EQ_U64(uvma_madvise(mm, AT, 8 * PAGE, UVMA_MADV_DODUMP), 0);
	CHECK_EQ_U64(uvma_mlock(mm, AT, 8 * PAGE, UVMA_MLOCK_ONFAULT), 0);
	CHECK_EQ_U64(uvma_madvise(mm, AT, 8 * PAGE, UVMA_MADV_HUGEPAGE), 0);
	CHECK_EQ_U64(uvma_munlock(mm, AT + 3, 8 * PAGE - 3), 0);
	CHECK_EQ_U64(at(mm, 0).end, AT + 8 * PAGE);
	CHECK_EQ_U64(vm(mm, 0), UVMA_VM_HUGEPAGE);
	/* Errors. */
	CHECK_EQ_U64(uvma_madvise(mm, AT, PAGE, 5), -EINVAL);
	CHECK_EQ_U64(uvma_madvise(mm, AT + 1, PAGE, UVMA_MADV_NORMAL), -EINVAL);
	CHECK_EQ_U64(uvma_madvise(mm, AT + 8 * PAGE, PAGE, UVMA_MADV_NORMAL),
		     -ENOMEM);
	CHECK_EQ_U64(uvma_mlock(mm, AT, PAGE, 2), -EINVAL);
	CHECK_EQ_U64(uvma_mlockall(mm, UVMA_MCL_ONFAULT), -EINVAL);
	CHECK_EQ_U64(uvma_mlockall(mm, 0), -EINVAL);
	check_map_valid(mm);
	uvma_mm_destroy(mm);
}

static void test_populate(void)
{
	struct uvma_mm *mm = space();

	map(mm, AT, 2, RW, PRIV);
	map(mm, AT + 4 * PAGE, 2, RW, PRIV);
	map(mm, AT + 8 * PAGE, 2, RW, SHRD);
	map(mm, AT + 12 * PAGE, 2, RO, PRIV);
	map(mm, AT + 16 * PAGE, 2, RW, PRIV);
	map(mm, AT + 20 * PAGE, 2, RW, PRIV);
	CHECK_EQ_U64(uvma_mlock(mm, AT, 2 * PAGE, 0), 0);
	CHECK(at(mm, 0).anon != 0);
	CHECK_EQ_U64(uvma_mlock(mm, AT + 4 * PAGE, 2 * PAGE, 1), 0);
	CHECK_EQ_U64(at(mm, 4).anon, 0);
	CHECK_EQ_U64(uvma_mlock(mm, AT + 8 * PAGE, 2 * PAGE, 0), 0);
	CHECK_EQ_U64(at(mm, 8).anon, 0);
	/* Read-only: read, not written; a growth too; then writable. */
	CHECK_EQ_U64(uvma_mlock(mm, AT + 12 * PAGE, 2 * PAGE, 0), 0);
	CHECK_EQ_U64(at(mm, 12).anon, 0);
	CHECK_EQ_U64(
		uvma_mremap(mm, AT + 12 * PAGE, 2 * PAGE, 3 * PAGE, 0, 0, NULL),
		0);
	CHECK_EQ_U64(vm(mm, 14), LOCK);
	CHECK_EQ_U64(at(mm, 14).anon, 0);
	CHECK_EQ_U64(uvma_mprotect(mm, AT + 12 * PAGE, 3 * PAGE, RW), 0);
	CHECK(at(mm, 12).anon != 0);
	CHECK_EQ_U64(uvma_madvise(mm, AT + 16 * PAGE, 2 * PAGE,
				  UVMA_MADV_POPULATE_READ),
		     0);
	CHECK_EQ_U64(at(mm, 16).anon, 0);
	CHECK_EQ_U64(uvma_madvise(mm, AT + 16 * PAGE, 2 * PAGE,
				  UVMA_MADV_POPULATE_WRITE),
		     0);
	CHECK(at(mm, 16).anon != 0);
	/* An area without access stops a lock's populate after the flag. */
	CHECK_EQ_U64(uvma_mprotect(mm, AT + 20 * PAGE, PAGE, UVMA_PROT_NONE),
		     0);
	CHECK_EQ_U64(uvma_mlock(mm, AT + 20 * PAGE, 2 * PAGE, 0), -ENOMEM);
	CHECK_EQ_U64(vm(mm, 21), LOCK);
	CHECK_EQ_U64(at(mm, 21).anon, 0);
	check_map_valid(mm);
	uvma_mm_destroy(mm);
}

static void test_future(void)
{
	struct uvma_mm *mm = space(), *child;
	uint64_t end;

	map(mm, AT, 2, RW, PRIV);
	CHECK_EQ_U64(uvma_mlockall(mm, UVMA_MCL_FUTURE), 0);
	CHECK_EQ_U64(vm(mm, 0), 0); /* current ones: left */
	map(mm, AT + 4 * PAGE, 2, RW, PRIV);
	CHECK_EQ_U64(vm(mm, 4), LOCK);
	CHECK(at(mm, 4).anon != 0);
	CHECK_EQ_U64(uvma_brk(mm, HEAP + 2 * PAGE, &end), 0);
	CHECK_EQ_U64(vm_at(mm, HEAP), LOCK);
	CHECK(test_area_at(mm, HEAP).anon != 0);
	CHECK_EQ_U64(uvma_mlockall(mm, UVMA_MCL_FUTURE | UVMA_MCL_ONFAULT), 0);
	map(mm, AT + 8 * PAGE, 2, RW, PRIV);
	CHECK_EQ_U64(vm(mm, 8), LOCF);
	CHECK_EQ_U64(at(mm, 8).anon, 0);
	/* A child: no locks, no MCL_FUTURE. */
	CHECK_EQ_U64(uvma_mm_dup(mm, NULL, &child), 0);
	CHECK_EQ_U64(vm_at(child, AT + 4 * PAGE), 0);
	CHECK_EQ_U64(uvma_mmap(child, AT + 12 * PAGE, PAGE, RW, PRIV, 0, 0,
			       NULL, NULL),
		     0);
	CHECK_EQ_U64(vm_at(child, AT + 12 * PAGE), 0);
	check_map_valid(child);
	uvma_mm_destroy(child);
	CHECK_EQ_U64(uvma_munlockall(mm), 0);
	CHECK_EQ_U64(vm(mm, 4), 0);
	map(mm, AT + 12 * PAGE, 2, RW, PRIV);
	CHECK_EQ_U64(vm(mm, 12), 0);
	check_map_valid(mm);
	uvma_mm_destroy(mm);
}

/* ---- flags change while faults run ----------------------------------------
 */

#define AREA_PAGES 64

struct faulter {
	struct uvma_mm *mm;
	atomic_bool *stop;
	uint64_t seed, faults, failed;
};

static void *fault_loop(void *arg)
{
	struct faulter *f = arg;
	uint64_t x = f->seed | 1;

	while (!atomic_load_explicit(f->stop, memory_order_relaxed)) {
		uint64_t page;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		page = x % AREA_PAGES;
		if (uvma_fault(f->mm, AT + page * PAGE,
			       x & 0x100 ? UVMA_ACCESS_WRITE
					 : UVMA_ACCESS_READ))
			f->failed++;
		f->faults++;
	}
	return NULL;
}

/* One random change of flags in the area (never of its protection or
 * extent, so that every fault must succeed). */
static void change_flags(struct uvma_mm *mm)
{
	static const int advice[] = {
		UVMA_MADV_DONTFORK,	  UVMA_MADV_DOFORK,
		UVMA_MADV_DONTDUMP,	  UVMA_MADV_DODUMP,
		UVMA_MADV_HUGEPAGE,	  UVMA_MADV_NOHUGEPAGE,
		UVMA_MADV_RANDOM,	  UVMA_MADV_NORMAL,
		UVMA_MADV_POPULATE_WRITE,
	};
	uint64_t start = AT + rng_below(AREA_PAGES) * PAGE;
	uint64_t len = (1 + rng_below(8)) * PAGE;
	int r;

	if (start + len > AT + AREA_PAGES * PAGE)
		len = AT + AREA_PAGES * PAGE - start;
	/* Now and then a page sealed for good: it goes on splitting and
	 * merging with the flags, and faults in it go on. */
	if (rng_below(64) == 0) {
		CHECK_EQ_U64(uvma_mseal(mm, start, PAGE, 0), 0);
		return;
	}
	switch (rng_below(4)) {
	case 0:
		r = uvma_mlock(mm, start, len, (unsigned)rng_below(2));
		break;
	case 1:
		r = uvma_munlock(mm, start, len);
		break;
	default:
		r = uvma_madvise(
			mm, start, len,
			advice[rng_below(sizeof(advice) / sizeof(advice[0]))]);
		break;
	}
	CHECK_EQ_U64(r, 0);
}

static void test_concurrent(void)
{
	struct uvma_mm *mm = space();
	atomic_bool stop = false;
	struct faulter f[2];
	pthread_t th[2];
	uint64_t rounds = test_scaled(20000, 2000);

	map(mm, AT, AREA_PAGES, RW, PRIV);
	for (int i = 0; i < 2; i++) {
		f[i] = (struct faulter){ mm, &stop, rng_next(), 0, 0 };
		CHECK(pthread_create(&th[i], NULL, fault_loop, &f[i]) == 0);
	}
	/* (The map is checked after the faulters stop: a reader's count
	 * on an area is not an invariant's breach while they run.) */
	for (uint64_t i = 0; i < rounds; i++)
		change_flags(mm);
	atomic_store(&stop, true);
	for (int i = 0; i < 2; i++)
		CHECK(pthread_join(th[i], NULL) == 0);
	printf("%" PRIu64 " flag changes, %" PRIu64 " + %" PRIu64
	       " faults, %" PRIu64 " failed (must be 0)\n",
	       rounds, f[0].faults, f[1].faults, f[0].failed + f[1].failed);
	CHECK_EQ_U64(f[0].failed + f[1].failed, 0);
	check_map_valid(mm);
	uvma_mm_destroy(mm);
}

/*
 * Commit accounting: a private writable mapping is charged (ac), a
 * NORESERVE one is not (nr), and neither is shared or read-only memory;
 * mprotect charges what becomes writable and uncharges untouched private
 * anonymous memory that stops being so; the heap is charged. The flags
 * keep areas apart. (Scenario account_flags: the kernel's answers.)
 */
static void test_account(void)
{
	const unsigned AC = UVMA_VM_ACCOUNT, NR = UVMA_VM_NORESERVE;
	struct uvma_mm *mm = space();
	uint64_t out;

	map(mm, AT, 1, RW, PRIV);
	map(mm, AT + PAGE, 1, RW, PRIV | UVMA_MAP_NORESERVE);
	map(mm, AT + 2 * PAGE, 1, RW, SHRD);
	map(mm, AT + 3 * PAGE, 1, RO, PRIV);
	CHECK_EQ_U64(at(mm, 0).vm_flags, AC);
	CHECK_EQ_U64(at(mm, 1).vm_flags, NR);
	CHECK_EQ_U64(at(mm, 1).start, AT + PAGE); /* apart from page 0 */
	CHECK_EQ_U64(at(mm, 2).vm_flags, 0);
	CHECK_EQ_U64(at(mm, 3).vm_flags, 0);
	CHECK_EQ_U64(uvma_mprotect(mm, AT + 3 * PAGE, PAGE, RW), 0);
	CHECK_EQ_U64(at(mm, 3).vm_flags, AC);
	CHECK_EQ_U64(uvma_mprotect(mm, AT + PAGE, PAGE, RO), 0);
	CHECK_EQ_U64(at(mm, 1).vm_flags, NR);
	CHECK_EQ_U64(uvma_mprotect(mm, AT + PAGE, PAGE, RW), 0);
	CHECK_EQ_U64(at(mm, 1).vm_flags, NR); /* NORESERVE: never charged */
	/* Untouched, read-only: uncharged, and merged with a read-only
	 * neighbour; touched, it keeps the charge. */
	map(mm, AT + 8 * PAGE, 2, RO, PRIV);
	map(mm, AT + 10 * PAGE, 1, RW, PRIV);
	CHECK_EQ_U64(uvma_mprotect(mm, AT + 10 * PAGE, PAGE, RO), 0);
	CHECK_EQ_U64(at(mm, 10).vm_flags, 0);
	CHECK_EQ_U64(at(mm, 10).start, AT + 8 * PAGE);
	map(mm, AT + 12 * PAGE, 1, RW, PRIV);
	CHECK_EQ_U64(uvma_fault(mm, AT + 12 * PAGE, UVMA_ACCESS_WRITE), 0);
	CHECK_EQ_U64(uvma_mprotect(mm, AT + 12 * PAGE, PAGE, RO), 0);
	CHECK_EQ_U64(at(mm, 12).vm_flags, AC);
	CHECK_EQ_U64(at(mm, 12).start, AT + 12 * PAGE);
	CHECK_EQ_U64(uvma_brk(mm, HEAP + PAGE, &out), 0);
	CHECK_EQ_U64(test_area_at(mm, HEAP).vm_flags, AC);
	/* An unknown flag next to NORESERVE is still refused. */
	CHECK_EQ_U64(uvma_mmap(mm, AT + 20 * PAGE, PAGE, RW,
			       PRIV | UVMA_MAP_NORESERVE | 0x80000, 0, 0, NULL,
			       NULL),
		     -EINVAL);
	check_map_valid(mm);
	uvma_mm_destroy(mm);
}

/* MAP_POPULATE faults a new area in (written when private and writable:
 * it gets its tag), MAP_LOCKED locks it and does the same; a read-only or
 * inaccessible one gets no tag and no error. (Scenario map_populate.) */
static void test_map_flags(void)
{
	struct uvma_mm *mm = space();

	map(mm, AT, 2, RW, PRIV | UVMA_MAP_POPULATE);
	CHECK(at(mm, 0).anon != 0);
	CHECK_EQ_U64(vm(mm, 0), 0);
	map(mm, AT + 4 * PAGE, 2, RW, PRIV | UVMA_MAP_LOCKED);
	CHECK(at(mm, 4).anon != 0);
	CHECK_EQ_U64(vm(mm, 4), LOCK);
	map(mm, AT + 8 * PAGE, 2, RO, PRIV | UVMA_MAP_POPULATE);
	CHECK_EQ_U64(at(mm, 8).anon, 0);
	map(mm, AT + 12 * PAGE, 2, UVMA_PROT_NONE,
	    PRIV | UVMA_MAP_LOCKED | UVMA_MAP_POPULATE);
	CHECK_EQ_U64(at(mm, 12).anon, 0);
	CHECK_EQ_U64(vm(mm, 12), LOCK);
	map(mm, AT + 16 * PAGE, 2, RW, SHRD | UVMA_MAP_POPULATE);
	CHECK_EQ_U64(vm(mm, 16), 0);
	check_map_valid(mm);
	uvma_mm_destroy(mm);
}

/* Seals refuse munmap and MAP_FIXED from the first uvma_mseal on (a space
 * never sealed skips the check's walk), and in the child of uvma_mm_dup
 * too; an mseal refused for a hole seals nothing. (Scenarios
 * seal_refuses, seal_halfway: the kernel's answers.) */
static void test_seal(void)
{
	struct uvma_mm *mm = space(), *child;

	map(mm, AT, 4, RW, PRIV);
	CHECK_EQ_U64(uvma_munmap(mm, AT + 3 * PAGE, PAGE), 0);
	CHECK_EQ_U64(uvma_mseal(mm, AT, 4 * PAGE, 0), -ENOMEM);
	CHECK_EQ_U64(uvma_munmap(mm, AT + 2 * PAGE, PAGE), 0);
	CHECK_EQ_U64(uvma_mseal(mm, AT + PAGE, PAGE, 0), 0);
	CHECK_EQ_U64(vm(mm, 1), UVMA_VM_SEALED);
	CHECK_EQ_U64(uvma_munmap(mm, AT, 2 * PAGE), -EPERM);
	CHECK_EQ_U64(uvma_mmap(mm, AT + PAGE, PAGE, RO, PRIV, 0, 0, NULL, NULL),
		     -EPERM);
	CHECK_EQ_U64(uvma_mm_dup(mm, NULL, &child), 0);
	CHECK_EQ_U64(uvma_munmap(child, AT + PAGE, PAGE), -EPERM);
	CHECK_EQ_U64(uvma_munmap(child, AT, PAGE), 0);
	check_map_valid(child);
	uvma_mm_destroy(child);
	check_map_valid(mm);
	uvma_mm_destroy(mm);
}

/* The limit on locked memory (uvma_mm_set_memlock_limit): mlock past it
 * is -ENOMEM with nothing changed, a locked mapping -EAGAIN, a limit of 0
 * -EPERM; the child of uvma_mm_dup inherits it. (Scenario
 * memlock_limit: the kernel's answers.) */
static void test_memlock(void)
{
	struct uvma_mm *mm = space(), *child;
	uint64_t out;

	map(mm, AT, 8, RW, PRIV);
	uvma_mm_set_memlock_limit(mm, 4 * PAGE);
	CHECK_EQ_U64(uvma_mlock(mm, AT, 2 * PAGE, 0), 0);
	/* 3 more, 1 of them locked already: 4. */
	CHECK_EQ_U64(uvma_mlock(mm, AT + PAGE, 3 * PAGE, 0), 0);
	CHECK_EQ_U64(uvma_mlock(mm, AT + PAGE, 4 * PAGE, 0), -ENOMEM);
	CHECK_EQ_U64(at(mm, 4).vm_flags & LOCK, 0);
	CHECK_EQ_U64(uvma_mmap(mm, AT + 16 * PAGE, PAGE, RO,
			       PRIV | UVMA_MAP_LOCKED, 0, 0, NULL, NULL),
		     -EAGAIN);
	CHECK_EQ_U64(uvma_mlockall(mm, UVMA_MCL_CURRENT), -ENOMEM);
	CHECK_EQ_U64(uvma_mm_dup(mm, NULL, &child), 0);
	CHECK_EQ_U64(uvma_mlock(child, AT, 5 * PAGE, 0), -ENOMEM);
	CHECK_EQ_U64(uvma_mlock(child, AT, 4 * PAGE, 0), 0);
	uvma_mm_destroy(child);
	uvma_mm_set_memlock_limit(mm, 0);
	CHECK_EQ_U64(uvma_mlock(mm, AT, PAGE, 0), -EPERM);
	CHECK_EQ_U64(uvma_munlock(mm, AT, 8 * PAGE), 0);
	uvma_mm_set_memlock_limit(mm, UVMA_MEMLOCK_UNLIMITED);
	CHECK_EQ_U64(uvma_mlockall(mm, UVMA_MCL_CURRENT | UVMA_MCL_FUTURE), 0);
	CHECK_EQ_U64(uvma_brk(mm, HEAP + 2 * PAGE, &out), 0);
	CHECK_EQ_U64(vm_at(mm, HEAP), LOCK);
	check_map_valid(mm);
	uvma_mm_destroy(mm);
}

static const struct test_case case_table[] = {
	{ "memlock", test_memlock },	 { "seal", test_seal },
	{ "map_flags", test_map_flags }, { "info", test_info },
	{ "account", test_account },	 { "populate", test_populate },
	{ "future", test_future },	 { "concurrent", test_concurrent },
};

int main(int argc, char **argv)
{
	return test_run_cases(argc, argv, case_table,
			      sizeof(case_table) / sizeof(case_table[0]));
}
