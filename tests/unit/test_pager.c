/*
 * test_pager.c - real memory behind a space (UVMA_MM_PAGER, src/pager*.c),
 * anonymous areas, every case in both delivery modes (handler threads, and
 * SIGBUS in the faulting thread): pages filled on first touch through the
 * per-VMA lock, fault-around, the real range kept in step with the map
 * (unmapped ranges fault with SIGSEGV, mprotect is the real protection,
 * MAP_FIXED and munmap discard pages, splits keep them, mremap moves them
 * with their contents), page advice acts on the real pages (populate,
 * DONTNEED, FREE, REMOVE), a fill error is SIGBUS at the address, and a
 * thread faulting on a range being unmapped is woken and gets SIGSEGV.
 * Needs userfaultfd (root here and in CI); elsewhere it says so and is
 * skipped (exit 77).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hook.h"
#include "pager.h"
#include "pager_util.h"
#include "vma_util.h"

#define NPAGES 64

/* ---- filling ------------------------------------------------------------- */

static void test_zero_fill(void)
{
	struct uvma_mm *mm = pager_new(NULL, 2);
	uint64_t a = pager_map(mm, 0, NPAGES, RW);
	struct uvma_pager_stats st;

	for (uint64_t i = 0; i < NPAGES; i++) {
		if (i % 2)
			CHECK_EQ_U64(*ptr(a + i * PAGE + 7), 0); /* read */
		*ptr(a + i * PAGE + 11) = (uint8_t)(i + 1);	 /* write */
	}
	for (uint64_t i = 0; i < NPAGES; i++) {
		CHECK_EQ_U64(*ptr(a + i * PAGE + 11), i + 1);
		CHECK_EQ_U64(*ptr(a + i * PAGE + 12), 0);
	}
	pager_stats_settled(mm, NPAGES, &st);
	CHECK_EQ_U64(st.filled, NPAGES);
	CHECK_EQ_U64(st.missing, NPAGES);
	CHECK_EQ_U64(st.around, 0); /* off for anonymous areas by default */
	CHECK_EQ_U64(st.woken, 0);
	CHECK_EQ_U64(st.errors, 0);
	CHECK(st.lat_p50_ns > 0 && st.lat_p99_ns >= st.lat_p50_ns);
	uvma_mm_destroy(mm);
}
PAGER_BOTH(test_zero_fill)

/* Fault-around: one fault fills the aligned 16-page window, clipped to
 * the area; pages already there are skipped. */
static void test_around(void)
{
	struct uvma_mm_config cfg;
	struct uvma_mm *mm;
	struct uvma_pager_stats st;
	uint64_t a;

	uvma_mm_config_init(&cfg);
	cfg.pager_anon_around = 64 << 10;
	mm = pager_new(&cfg, 1);
	a = pager_map(mm, 0, 40, RW);
	*ptr(a + 5 * PAGE) = 1; /* one window, clipped to the area */
	pager_stats_settled(mm, 1, &st);
	CHECK(st.filled >= 1 && st.filled <= 16);
	CHECK_EQ_U64(st.missing, 1);
	CHECK_EQ_U64(st.around, st.filled - 1);
	for (uint64_t i = 0; i < 40; i++)
		*ptr(a + i * PAGE + 3) = (uint8_t)i;
	pager_stats_settled(mm, 40, &st);
	CHECK_EQ_U64(st.filled, 40);
	CHECK(st.missing <= 4); /* 40 pages, at most 4 windows */
	for (uint64_t i = 0; i < 40; i++)
		CHECK_EQ_U64(*ptr(a + i * PAGE + 3), i);
	/* Over the maximum: refused. */
	cfg.pager_anon_around = UVMA_PAGER_AROUND_MAX + 4096;
	cfg.flags = UVMA_MM_PAGER;
	CHECK_EQ_U64(uvma_mm_create(&cfg, &mm), -EINVAL);
	uvma_mm_destroy(mm);
}
PAGER_BOTH(test_around)

/* ---- the real range follows the map ----------------------------------------
 */

/* munmap and MAP_FIXED discard pages; the range comes back as zeros. */
static void test_discard(void)
{
	struct uvma_mm *mm = pager_new(NULL, 1);
	uint64_t a = pager_map(mm, 0, 8, RW);

	for (uint64_t i = 0; i < 8; i++)
		*ptr(a + i * PAGE) = 0xa5;
	CHECK_EQ_U64(uvma_munmap(mm, a, 8 * PAGE), 0);
	CHECK_EQ_U64(touch_sig(a, false, 0, NULL), SIGSEGV);
	CHECK_EQ_U64(touch_sig(a + 7 * PAGE, true, 1, NULL), SIGSEGV);
	CHECK_EQ_U64(pager_map(mm, a, 8, RW), a);
	CHECK_EQ_U64(*ptr(a), 0);
	*ptr(a + PAGE) = 0x5a;
	CHECK_EQ_U64(pager_map(mm, a, 8, RW), a); /* MAP_FIXED over it */
	CHECK_EQ_U64(*ptr(a + PAGE), 0);
	uvma_mm_destroy(mm);
}
PAGER_BOTH(test_discard)

/* mprotect is the real protection, and a split keeps every page. */
static void test_protect(void)
{
	struct uvma_mm *mm = pager_new(NULL, 1);
	uint64_t a = pager_map(mm, 0, 8, RW);

	for (uint64_t i = 0; i < 8; i++)
		*ptr(a + i * PAGE + 1) = (uint8_t)(0x10 + i);
	CHECK_EQ_U64(uvma_mprotect(mm, a + 2 * PAGE, 3 * PAGE, UVMA_PROT_READ),
		     0);
	CHECK_EQ_U64(touch_sig(a + 3 * PAGE, true, 9, NULL), SIGSEGV);
	CHECK(!faults(a + 3 * PAGE, false, 0));
	CHECK(!faults(a + 6 * PAGE, true, 0x16));
	for (uint64_t i = 0; i < 8; i++)
		CHECK_EQ_U64(*ptr(a + i * PAGE + 1), 0x10 + i);
	/* A page never touched, read-only: filled on a read. */
	CHECK_EQ_U64(*ptr(a + 4 * PAGE + 100), 0);
	CHECK_EQ_U64(uvma_mprotect(mm, a, 8 * PAGE, UVMA_PROT_NONE), 0);
	CHECK(faults(a, false, 0));
	CHECK_EQ_U64(uvma_mprotect(mm, a, 8 * PAGE, RW), 0);
	CHECK_EQ_U64(*ptr(a + 7 * PAGE + 1), 0x17);
	uvma_mm_destroy(mm);
}
PAGER_BOTH(test_protect)

/* Advice and locks split and merge areas over real pages and keep every
 * one (POPULATE_WRITE fills the missing ones). */
static void test_flag_advice(void)
{
	struct uvma_mm *mm = pager_new(NULL, 1);
	uint64_t a = pager_map(mm, 0, 8, RW);

	for (uint64_t i = 0; i < 6; i++)
		*ptr(a + i * PAGE + 2) = (uint8_t)(0x30 + i);
	CHECK_EQ_U64(uvma_madvise(mm, a + PAGE, 2 * PAGE, UVMA_MADV_DONTDUMP),
		     0);
	CHECK_EQ_U64(uvma_mlock(mm, a + 2 * PAGE, 3 * PAGE, 0), 0);
	CHECK_EQ_U64(uvma_madvise(mm, a + 4 * PAGE, 4 * PAGE,
				  UVMA_MADV_POPULATE_WRITE),
		     0);
	CHECK_EQ_U64(test_area_at(mm, a + 2 * PAGE).vm_flags,
		     UVMA_VM_DONTDUMP | UVMA_VM_LOCKED | UVMA_VM_ACCOUNT);
	for (uint64_t i = 0; i < 6; i++)
		CHECK_EQ_U64(*ptr(a + i * PAGE + 2), 0x30 + i);
	*ptr(a + 7 * PAGE) = 7;
	CHECK_EQ_U64(uvma_munlockall(mm), 0);
	CHECK_EQ_U64(uvma_madvise(mm, a, 8 * PAGE, UVMA_MADV_DODUMP), 0);
	CHECK_EQ_U64(test_area_at(mm, a).end, a + 8 * PAGE);
	CHECK_EQ_U64(*ptr(a + 7 * PAGE), 7);
	CHECK_EQ_U64(*ptr(a + 3 * PAGE + 2), 0x33);
	uvma_mm_destroy(mm);
}
PAGER_BOTH(test_flag_advice)

/* The pages filled so far (every fill is counted before it returns). */
static uint64_t filled(struct uvma_mm *mm)
{
	struct uvma_pager_stats st;

	uvma_mm_pager_stats(mm, &st);
	return st.filled;
}

/*
 * Page advice acts on the real pages: POPULATE_* and mlock fill missing
 * pages without a fault; DONTNEED drops a private area's pages (they read
 * as zeros again) but keeps a shared area's; REMOVE zeroes shared
 * anonymous memory; FREE leaves each page either as it was or zero.
 */
static void test_page_advice(void)
{
	struct uvma_mm *mm = pager_new(NULL, 1);
	uint64_t a = pager_map(mm, 0, 16, RW), s = 0, n;

	CHECK_EQ_U64(uvma_madvise(mm, a, 4 * PAGE, UVMA_MADV_POPULATE_READ), 0);
	CHECK_EQ_U64(filled(mm), 4);
	CHECK_EQ_U64(uvma_madvise(mm, a + 4 * PAGE, 4 * PAGE,
				  UVMA_MADV_POPULATE_WRITE),
		     0);
	CHECK_EQ_U64(filled(mm), 8);
	CHECK_EQ_U64(uvma_mlock(mm, a + 8 * PAGE, 2 * PAGE, 0), 0);
	CHECK_EQ_U64(filled(mm), 10);
	for (uint64_t i = 0; i < 8; i++)
		*ptr(a + i * PAGE + 5) = (uint8_t)(0x40 + i);
	CHECK_EQ_U64(filled(mm), 10); /* no fault: they were there */
	CHECK_EQ_U64(
		uvma_madvise(mm, a + 2 * PAGE, 2 * PAGE, UVMA_MADV_DONTNEED),
		0);
	CHECK_EQ_U64(*ptr(a + 1 * PAGE + 5), 0x41);
	CHECK_EQ_U64(*ptr(a + 2 * PAGE + 5), 0);
	CHECK_EQ_U64(*ptr(a + 3 * PAGE + 5), 0);
	CHECK_EQ_U64(*ptr(a + 4 * PAGE + 5), 0x44);
	/* A locked area refuses DONTNEED (EINVAL), not DONTNEED_LOCKED. */
	*ptr(a + 8 * PAGE) = 9;
	CHECK_EQ_U64(uvma_madvise(mm, a + 8 * PAGE, PAGE, UVMA_MADV_DONTNEED),
		     -EINVAL);
	CHECK_EQ_U64(*ptr(a + 8 * PAGE), 9);
	CHECK_EQ_U64(
		uvma_madvise(mm, a + 8 * PAGE, PAGE, UVMA_MADV_DONTNEED_LOCKED),
		0);
	CHECK_EQ_U64(*ptr(a + 8 * PAGE), 0);
	CHECK_EQ_U64(uvma_madvise(mm, a + 5 * PAGE, PAGE, UVMA_MADV_FREE), 0);
	CHECK(*ptr(a + 5 * PAGE + 5) == 0x45 || *ptr(a + 5 * PAGE + 5) == 0);

	CHECK_EQ_U64(uvma_mmap(mm, 0, 4 * PAGE, RW,
			       UVMA_MAP_SHARED | UVMA_MAP_ANONYMOUS, 0, 0, NULL,
			       &s),
		     0);
	for (uint64_t i = 0; i < 4; i++)
		*ptr(s + i * PAGE + 1) = (uint8_t)(0x60 + i);
	CHECK_EQ_U64(uvma_madvise(mm, s, 4 * PAGE, UVMA_MADV_DONTNEED), 0);
	CHECK_EQ_U64(*ptr(s + 1), 0x60); /* shmem keeps its pages */
	n = filled(mm);
	CHECK_EQ_U64(uvma_madvise(mm, s + PAGE, 2 * PAGE, UVMA_MADV_REMOVE), 0);
	CHECK_EQ_U64(*ptr(s + PAGE + 1), 0);
	CHECK_EQ_U64(*ptr(s + 2 * PAGE + 1), 0);
	CHECK_EQ_U64(*ptr(s + 3 * PAGE + 1), 0x63);
	*ptr(s + PAGE + 1) = 7; /* zeros, but memory like any other */
	CHECK_EQ_U64(*ptr(s + PAGE + 1), 7);
	CHECK_EQ_U64(filled(mm), n + 2);
	/* A hole: the areas around it still act, -ENOMEM at the end. */
	CHECK_EQ_U64(uvma_munmap(mm, a + 12 * PAGE, PAGE), 0);
	*ptr(a + 11 * PAGE) = 1;
	*ptr(a + 13 * PAGE) = 1;
	CHECK_EQ_U64(
		uvma_madvise(mm, a + 11 * PAGE, 3 * PAGE, UVMA_MADV_DONTNEED),
		-ENOMEM);
	CHECK_EQ_U64(*ptr(a + 11 * PAGE), 0);
	CHECK_EQ_U64(*ptr(a + 13 * PAGE), 0);
	uvma_mm_destroy(mm);
}
PAGER_BOTH(test_page_advice)

/* Write a pattern over every byte of the given pages (a page left out
 * stays missing). */
static void fill_pattern(uint64_t a, uint64_t pages, uint64_t seed,
			 uint64_t skip_every)
{
	for (uint64_t p = 0; p < pages; p++) {
		if (skip_every && p % skip_every == 0)
			continue;
		for (uint64_t i = 0; i < PAGE; i++)
			*ptr(a + p * PAGE + i) = pattern(seed, p * PAGE + i);
	}
}

/* The pattern, byte for byte, where it was written; zeros elsewhere. */
static void check_pattern(uint64_t a, uint64_t pages, uint64_t seed,
			  uint64_t skip_every)
{
	for (uint64_t p = 0; p < pages; p++) {
		bool skipped = skip_every && p % skip_every == 0;

		for (uint64_t i = 0; i < PAGE; i++)
			CHECK_EQ_U64(*ptr(a + p * PAGE + i),
				     skipped ? 0 : pattern(seed, p * PAGE + i));
	}
}

/* mremap moves the pages with their contents: growing by moving, a FIXED
 * move that shrinks, over a populated destination; the source becomes
 * inaccessible, the new tail is zeros, pages never touched stay missing
 * (filled on touch at the new place). */
static void moves(bool copy)
{
	struct uvma_mm *mm = pager_new(NULL, 1);
	uint64_t seed = rng_next();
	uint64_t a = pager_map(mm, 0, 16, RW), b, c = pager_map(mm, 0, 12, RW);
	struct uvma_pager_stats st;

	pager_force_copy_moves(copy);
	fill_pattern(a, 16, seed, 5);
	fill_pattern(c, 12, seed + 1, 0); /* the FIXED destination's pages */
	CHECK_EQ_U64(uvma_mremap(mm, a, 16 * PAGE, 24 * PAGE,
				 UVMA_MREMAP_MAYMOVE, 0, &b),
		     0);
	CHECK(b != a);
	CHECK_EQ_U64(touch_sig(a + 3 * PAGE, false, 0, NULL), SIGSEGV);
	check_pattern(b, 16, seed, 5);
	for (uint64_t p = 16; p < 24; p++)
		CHECK_EQ_U64(*ptr(b + p * PAGE + 9), 0);
	*ptr(b + 20 * PAGE) = 0x77;
	/* FIXED over c, shrinking to 12 pages: c's old pages are gone. */
	CHECK_EQ_U64(uvma_mremap(mm, b, 24 * PAGE, 12 * PAGE,
				 UVMA_MREMAP_MAYMOVE | UVMA_MREMAP_FIXED, c,
				 &a),
		     0);
	CHECK_EQ_U64(a, c);
	check_pattern(c, 12, seed, 5);
	CHECK_EQ_U64(touch_sig(b, false, 0, NULL), SIGSEGV);
	/* A new area where the source was: empty, and filled on touch. */
	CHECK_EQ_U64(pager_map(mm, b, 24, RW), b);
	CHECK_EQ_U64(*ptr(b + 3 * PAGE), 0);
	*ptr(b + 4 * PAGE) = 3;
	CHECK_EQ_U64(*ptr(b + 4 * PAGE), 3);
	uvma_mm_pager_stats(mm, &st);
	CHECK(st.moved >= 16 + 12);
	/* A second mapping of shared pages cannot be had. */
	CHECK_EQ_U64(uvma_mremap(mm, b, 0, PAGE, UVMA_MREMAP_MAYMOVE, 0, &c),
		     -EOPNOTSUPP);
	pager_force_copy_moves(false);
	uvma_mm_destroy(mm);
}

static void test_move(void)
{
	moves(false);
}
PAGER_BOTH(test_move)

static void test_move_copy(void)
{
	moves(true);
}
PAGER_BOTH(test_move_copy)

/* Moving an area back and forth and growing it in place between moves
 * leaves pieces the kernel will not move in one go: the contents still
 * follow. */
static void test_move_many(void)
{
	struct uvma_mm *mm = pager_new(NULL, 1);
	uint64_t seed = rng_next(), a = pager_map(mm, 0, 4, RW), b;
	uint64_t pages = 4;

	fill_pattern(a, pages, seed, 0);
	for (int round = 0; round < 8; round++) {
		CHECK_EQ_U64(uvma_mremap(mm, a, pages * PAGE,
					 (pages + 2) * PAGE,
					 UVMA_MREMAP_MAYMOVE, 0, &b),
			     0);
		fill_pattern(b + pages * PAGE, 2, seed + pages, 0);
		check_pattern(b, 4, seed, 0);
		for (uint64_t p = 4; p < pages + 2; p += 2)
			check_pattern(b + p * PAGE, 2, seed + p, 0);
		pages += 2;
		a = b;
	}
	uvma_mm_destroy(mm);
}
PAGER_BOTH(test_move_many)

/* ---- errors
 * ------------------------------------------------------------------ */

static int fill_or_fail(void *user, uint64_t addr, void *page, size_t len)
{
	(void)addr;
	if (!user)
		return -EIO;
	memset(page, *(uint8_t *)user, len);
	return 0;
}

/* A fill that fails is SIGBUS at the faulting address; the space goes
 * on. */
static void test_fill_error(void)
{
	struct uvma_mm_config cfg;
	struct uvma_mm *mm;
	struct uvma_pager_stats st;
	uint8_t good = 0x3c, v = 0;
	uint64_t a, b;

	uvma_mm_config_init(&cfg);
	cfg.pager_fill = fill_or_fail;
	mm = pager_new(&cfg, 1);
	CHECK_EQ_U64(uvma_mmap(mm, 0, 4 * PAGE, RW, ANON, 0, 0, NULL, &a), 0);
	CHECK_EQ_U64(uvma_mmap(mm, 0, 4 * PAGE, RW, ANON, 0, 0, &good, &b), 0);
	CHECK_EQ_U64(touch_sig(a + 2 * PAGE + 123, false, 0, &v), SIGBUS);
	CHECK_EQ_U64(touch_last()->addr, a + 2 * PAGE + 123);
	/* The kernel's code in the faulting thread; queued by a handler
	 * thread, SI_QUEUE (src/pager.c). */
	CHECK_EQ_U64(touch_last()->code, pager_sigbus ? BUS_ADRERR : SI_QUEUE);
	CHECK_EQ_U64(touch_sig(a + 2 * PAGE, true, 1, NULL), SIGBUS);
	CHECK_EQ_U64(touch_sig(b + PAGE + 5, false, 0, &v), 0);
	CHECK_EQ_U64(v, 0x3c);
	uvma_mm_pager_stats(mm, &st);
	CHECK_EQ_U64(st.errors, 2);
	uvma_mm_destroy(mm);
}
PAGER_BOTH(test_fill_error)

/*
 * A thread faulting on a range being unmapped is woken and gets SIGSEGV,
 * deterministically: the one handler thread is held in a fill of area B
 * (hook), thread T faults on area A and waits in the kernel, A is
 * unmapped, then the handler goes on: it finds no area for T's fault,
 * waits for the writer, wakes T, and T's retry meets the inaccessible
 * range.
 */
/* Atomics: the handler thread reads them, ordered after main's writes by
 * the kernel's fault message, which ThreadSanitizer cannot see. */
static _Atomic(struct uvma_mm *) hold_mm;
static _Atomic uint64_t hold_addr;
static _Atomic int hold_step; /* 0 armed, 1 held, 2 released, 3 off */

static void hold_hook(enum hook_point point, struct uvma_mm *mm,
		      struct uvma_vma *vma)
{
	struct uvma_area_info a;
	int armed = 0;

	if (point != HOOK_PAGER_FILL || mm != atomic_load(&hold_mm) || !vma)
		return;
	uvma_vma_info(vma, &a);
	if (a.start != atomic_load(&hold_addr) ||
	    !atomic_compare_exchange_strong(&hold_step, &armed, 1))
		return;
	while (atomic_load(&hold_step) != 2)
		usleep(100);
}

static _Atomic int t_state; /* 1 about to touch, 2 done */
static int t_sig;
static pid_t t_tid;

static void *toucher_a(void *arg)
{
	t_tid = gettid();
	atomic_store(&t_state, 1);
	t_sig = touch_sig(*(uint64_t *)arg, false, 0, NULL);
	atomic_store(&t_state, 2);
	return NULL;
}

static void *toucher_b(void *arg)
{
	CHECK_EQ_U64(*ptr(*(uint64_t *)arg), 0);
	return NULL;
}

/* Whether thread tid sleeps (state S in /proc). */
static bool sleeping(pid_t tid)
{
	char path[64], buf[256], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'S';
}

static void test_woken(void)
{
	struct uvma_mm *mm;

	pager_sigbus = false; /* with SIGBUS, nothing waits in the kernel */
	mm = pager_new(NULL, 1);
	/* Two areas that do not merge. */
	uint64_t a = pager_map(mm, 0, 4, RW),
		 b = pager_map(mm, 0, 4, UVMA_PROT_READ);
	struct uvma_pager_stats st;
	pthread_t tb, ta;

	atomic_store(&hold_mm, mm);
	atomic_store(&hold_addr, b);
	atomic_store(&hold_step, 0);
	atomic_store(&t_state, 0);
	hook_set(hold_hook);
	CHECK(pthread_create(&tb, NULL, toucher_b, &b) == 0);
	while (atomic_load(&hold_step) != 1)
		usleep(100);
	CHECK(pthread_create(&ta, NULL, toucher_a, &a) == 0);
	while (atomic_load(&t_state) != 1)
		usleep(100);
	for (int i = 0; i < 20000 && !sleeping(t_tid); i++)
		usleep(100);
	usleep(2000); /* T is in the kernel's wait, its message queued */
	CHECK_EQ_U64(uvma_munmap(mm, a, 4 * PAGE), 0);
	CHECK_EQ_U64(atomic_load(&t_state), 1); /* still waiting */
	atomic_store(&hold_step, 2);
	CHECK(pthread_join(tb, NULL) == 0);
	CHECK(pthread_join(ta, NULL) == 0);
	hook_set(NULL);
	CHECK_EQ_U64(t_sig, SIGSEGV);
	uvma_mm_pager_stats(mm, &st);
	CHECK_EQ_U64(st.woken, 1);
	uvma_mm_destroy(mm);
}

/* ---- concurrency
 * ---------------------------------------------------------------- */

/* Threads write and check their own pages while the main thread maps,
 * splits, moves and unmaps other areas of the same space. */
struct toucher {
	pthread_t thread;
	uint64_t base;
	unsigned id;
	_Atomic bool *stop;
	uint64_t rounds;
};

static void *touch_main(void *arg)
{
	struct toucher *t = arg;

	while (!atomic_load(t->stop)) {
		for (uint64_t i = 0; i < NPAGES; i++) {
			volatile uint8_t *p = ptr(t->base + i * PAGE);
			uint8_t want = (uint8_t)(t->rounds + t->id);

			CHECK_EQ_U64(*p, t->rounds ? (uint8_t)(want - 1) : 0);
			*p = want;
		}
		t->rounds++;
	}
	return NULL;
}

static void churn_cycle(struct uvma_mm *mm)
{
	uint64_t b = pager_map(mm, 0, 4, RW), c;

	*ptr(b + PAGE) = 1;
	*ptr(b + 3 * PAGE) = 2;
	CHECK_EQ_U64(uvma_mprotect(mm, b, 2 * PAGE, UVMA_PROT_READ), 0);
	CHECK_EQ_U64(*ptr(b + PAGE), 1);
	/* The read-write half moves, growing. */
	CHECK_EQ_U64(uvma_mremap(mm, b + 2 * PAGE, 2 * PAGE, 6 * PAGE,
				 UVMA_MREMAP_MAYMOVE, 0, &c),
		     0);
	CHECK_EQ_U64(*ptr(c + PAGE), 2);
	CHECK_EQ_U64(uvma_munmap(mm, c, 6 * PAGE), 0);
	CHECK_EQ_U64(uvma_munmap(mm, b, 2 * PAGE), 0);
}

static void test_churn(void)
{
	struct uvma_mm *mm = pager_new(NULL, 2);
	struct toucher t[2];
	_Atomic bool stop = false;
	uint64_t cycles = test_scaled(2000, 200);

	for (unsigned i = 0; i < 2; i++) {
		t[i] = (struct toucher){ .base = pager_map(mm, 0, NPAGES, RW),
					 .id = i * 100,
					 .stop = &stop };
		CHECK(pthread_create(&t[i].thread, NULL, touch_main, &t[i]) ==
		      0);
	}
	for (uint64_t c = 0; c < cycles; c++)
		churn_cycle(mm);
	atomic_store(&stop, true);
	for (unsigned i = 0; i < 2; i++) {
		CHECK(pthread_join(t[i].thread, NULL) == 0);
		CHECK(t[i].rounds > 0);
	}
	uvma_mm_destroy(mm);
}
PAGER_BOTH(test_churn)

/* brk on a pager space: the heap is real memory; shrinking discards. */
static void test_brk(void)
{
	struct uvma_mm_config cfg;
	struct uvma_mm *mm;
	uint64_t base, top;
	void *probe = mmap(NULL, 64ull << 20, PROT_NONE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	CHECK(probe != MAP_FAILED);
	base = (uint64_t)(uintptr_t)probe;
	munmap(probe, 64ull << 20); /* a free place for the window */
	uvma_mm_config_init(&cfg);
	cfg.base = base;
	cfg.brk_start = base + (32ull << 20);
	mm = pager_new(&cfg, 1);
	CHECK_EQ_U64(uvma_brk(mm, cfg.brk_start + 8 * PAGE, &top), 0);
	CHECK_EQ_U64(top, cfg.brk_start + 8 * PAGE);
	*ptr(cfg.brk_start + 7 * PAGE) = 9;
	CHECK_EQ_U64(uvma_brk(mm, cfg.brk_start + 4 * PAGE, &top), 0);
	CHECK_EQ_U64(touch_sig(cfg.brk_start + 7 * PAGE, false, 0, NULL),
		     SIGSEGV);
	CHECK_EQ_U64(uvma_brk(mm, cfg.brk_start + 8 * PAGE, &top), 0);
	CHECK_EQ_U64(*ptr(cfg.brk_start + 7 * PAGE), 0);
	uvma_mm_destroy(mm);
}
PAGER_BOTH(test_brk)

static void test_config(void)
{
	struct uvma_mm_config cfg;
	struct uvma_mm *mm = NULL;

	uvma_mm_config_init(&cfg);
	cfg.flags = UVMA_MM_PAGER_SIGBUS; /* without UVMA_MM_PAGER */
	CHECK_EQ_U64(uvma_mm_create(&cfg, &mm), -EINVAL);
	uvma_mm_config_init(&cfg);
	CHECK_EQ_U64(uvma_mm_create(&cfg, &mm), 0);
	uint64_t id;
	CHECK_EQ_U64(uvma_mm_file_add(mm, 0, &id), -EINVAL); /* no pager */
	uvma_mm_destroy(mm);
}

static const struct test_case case_table[] = {
	PAGER_CASES("zero_fill", test_zero_fill),
	PAGER_CASES("around", test_around),
	PAGER_CASES("discard", test_discard),
	PAGER_CASES("protect", test_protect),
	PAGER_CASES("flag_advice", test_flag_advice),
	PAGER_CASES("page_advice", test_page_advice),
	PAGER_CASES("move", test_move),
	PAGER_CASES("move_copy", test_move_copy),
	PAGER_CASES("move_many", test_move_many),
	PAGER_CASES("fill_error", test_fill_error),
	{ "woken", test_woken },
	PAGER_CASES("churn", test_churn),
	PAGER_CASES("brk", test_brk),
	{ "config", test_config },
};

int main(int argc, char **argv)
{
	touch_init();			     /* before the first SIGBUS space */
	uvma_mm_destroy(pager_new(NULL, 1)); /* or skip, before any case */
	return test_run_cases(argc, argv, case_table,
			      sizeof(case_table) / sizeof(case_table[0]));
}
