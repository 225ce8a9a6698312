/*
 * test_pager_file.c - file areas of a pager space (uvma_mm_file_add,
 * src/pager_fill.c, src/pager_sync.c), every case in both delivery modes:
 * private mappings read the file and keep their writes to themselves; a
 * page past the end of the file is SIGBUS; shared mappings write their
 * dirty pages back on uvma_msync, munmap, MAP_FIXED over them, mremap
 * moves and destruction (each test reads the file back), a store during
 * msync is never lost; page advice acts on the pages and the file; and
 * the errors of the calls. Needs userfaultfd
 * (root here and in CI); elsewhere it says so and is skipped (exit 77).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pager_util.h"

/* A temporary file of len bytes of the pattern seed, unlinked at once
 * (the descriptor keeps it). */
static int pattern_file(uint64_t len, uint64_t seed, int mode)
{
	char path[] = "/tmp/uvma-pager-XXXXXX";
	int fd = mkstemp(path);
	uint8_t buf[4096];

	CHECK(fd >= 0);
	unlink(path);
	for (uint64_t off = 0; off < len; off += sizeof(buf)) {
		uint64_t n = len - off < sizeof(buf) ? len - off : sizeof(buf);

		for (uint64_t i = 0; i < n; i++)
			buf[i] = pattern(seed, off + i);
		CHECK(pwrite(fd, buf, n, (off_t)off) == (ssize_t)n);
	}
	if (mode == O_RDONLY) {
		char again[64];
		int ro;

		snprintf(again, sizeof(again), "/proc/self/fd/%d", fd);
		ro = open(again, O_RDONLY);
		CHECK(ro >= 0);
		close(fd);
		fd = ro;
	}
	return fd;
}

static uint8_t file_byte(int fd, uint64_t off)
{
	uint8_t b = 0;

	CHECK(pread(fd, &b, 1, (off_t)off) == 1);
	return b;
}

static uint64_t map_file(struct uvma_mm *mm, uint64_t id, uint64_t pages,
			 unsigned prot, unsigned share, uint64_t off)
{
	uint64_t a = 0;

	CHECK_EQ_U64(
		uvma_mmap(mm, 0, pages * PAGE, prot, share, id, off, NULL, &a),
		0);
	return a;
}

/* ---- private ---------------------------------------------------------------
 */

static void test_private(void)
{
	uint64_t seed = rng_next(), id, a, len = 40 * PAGE + 100;
	int fd = pattern_file(len, seed, O_RDWR);
	struct uvma_mm *mm = pager_new(NULL, 2);
	struct uvma_pager_stats st;

	CHECK_EQ_U64(uvma_mm_file_add(mm, fd, &id), 0);
	/* From page 2 of the file on: 39 pages and 100 bytes are in it. */
	a = map_file(mm, id, 40, RW, UVMA_MAP_PRIVATE, 2 * PAGE);
	for (uint64_t i = 0; i < 38 * PAGE + 100; i++)
		CHECK_EQ_U64(*ptr(a + i), pattern(seed, 2 * PAGE + i));
	for (uint64_t i = 38 * PAGE + 100; i < 39 * PAGE; i++)
		CHECK_EQ_U64(*ptr(a + i), 0); /* past the end: zeros */
	CHECK_EQ_U64(touch_sig(a + 39 * PAGE + 8, false, 0, NULL), SIGBUS);
	CHECK_EQ_U64(touch_last()->addr, a + 39 * PAGE + 8);
	/* A private write stays private. */
	*ptr(a + 5) = (uint8_t)~pattern(seed, 2 * PAGE + 5);
	CHECK_EQ_U64(file_byte(fd, 2 * PAGE + 5), pattern(seed, 2 * PAGE + 5));
	CHECK_EQ_U64(uvma_msync(mm, a, 40 * PAGE, UVMA_MS_SYNC), 0);
	CHECK_EQ_U64(file_byte(fd, 2 * PAGE + 5), pattern(seed, 2 * PAGE + 5));
	uvma_mm_pager_stats(mm, &st);
	CHECK(st.around > 0); /* 64 KiB windows: 16 pages */
	CHECK(st.missing >= 3 && st.missing < 16); /* 39 pages */
	CHECK_EQ_U64(st.written, 0);
	uvma_mm_destroy(mm);
	CHECK_EQ_U64(file_byte(fd, 2 * PAGE + 5), pattern(seed, 2 * PAGE + 5));
	close(fd);
}
PAGER_BOTH(test_private)

/* ---- shared ----------------------------------------------------------------
 */

/* Store v at the start of every page in [first, first + n) of a. */
static void store_pages(uint64_t a, uint64_t first, uint64_t n, uint8_t v)
{
	for (uint64_t p = first; p < first + n; p++)
		*ptr(a + p * PAGE + 17) = v;
}

static void check_file_pages(int fd, uint64_t first, uint64_t n, uint8_t v)
{
	for (uint64_t p = first; p < first + n; p++)
		CHECK_EQ_U64(file_byte(fd, p * PAGE + 17), v);
}

static void test_msync(void)
{
	uint64_t seed = rng_next(), id, a;
	int fd = pattern_file(32 * PAGE, seed, O_RDWR);
	struct uvma_mm *mm = pager_new(NULL, 1);
	struct uvma_pager_stats st;

	CHECK_EQ_U64(uvma_mm_file_add(mm, fd, &id), 0);
	a = map_file(mm, id, 32, RW, UVMA_MAP_SHARED, 0);
	CHECK_EQ_U64(*ptr(a + 3 * PAGE + 1), pattern(seed, 3 * PAGE + 1));
	store_pages(a, 4, 6, 0xd1); /* 4 of them came in clean: wp faults */
	CHECK_EQ_U64(uvma_msync(mm, a, 32 * PAGE, UVMA_MS_SYNC), 0);
	check_file_pages(fd, 4, 6, 0xd1);
	CHECK_EQ_U64(file_byte(fd, 3 * PAGE + 17),
		     pattern(seed, 3 * PAGE + 17));
	uvma_mm_pager_stats(mm, &st);
	CHECK_EQ_U64(st.written, 6);
	CHECK(st.wp >= 1);
	/* Clean now: nothing more to write. Then one page again. */
	CHECK_EQ_U64(uvma_msync(mm, a, 32 * PAGE, UVMA_MS_ASYNC), 0);
	uvma_mm_pager_stats(mm, &st);
	CHECK_EQ_U64(st.written, 6);
	store_pages(a, 5, 1, 0xd2);
	CHECK_EQ_U64(uvma_msync(mm, a + 4 * PAGE, 2 * PAGE, 0), 0);
	check_file_pages(fd, 5, 1, 0xd2);
	uvma_mm_pager_stats(mm, &st);
	CHECK_EQ_U64(st.written, 7);
	/* Errors, Linux's. */
	CHECK_EQ_U64(uvma_msync(mm, a + 1, PAGE, 0), -EINVAL);
	CHECK_EQ_U64(uvma_msync(mm, a, PAGE, UVMA_MS_SYNC | UVMA_MS_ASYNC),
		     -EINVAL);
	CHECK_EQ_U64(uvma_msync(mm, a, PAGE, 0x8), -EINVAL);
	CHECK_EQ_U64(uvma_msync(mm, a, 0, 0), 0);
	CHECK_EQ_U64(uvma_munmap(mm, a + 8 * PAGE, PAGE), 0);
	store_pages(a, 7, 1, 0xd3);
	/* A hole: -ENOMEM, and the rest is written all the same. */
	CHECK_EQ_U64(uvma_msync(mm, a, 32 * PAGE, 0), -ENOMEM);
	check_file_pages(fd, 7, 1, 0xd3);
	uvma_mm_destroy(mm);
	close(fd);
}
PAGER_BOTH(test_msync)

/*
 * Page advice on file areas: DONTNEED makes a private area read the file
 * again (its own writes gone) and keeps a shared area's dirty pages;
 * POPULATE_WRITE makes shared pages dirty (msync writes them); REMOVE
 * punches the range out of the file (zeros in the file and the map); a
 * private file area refuses REMOVE (EACCES).
 */
static void test_page_advice(void)
{
	uint64_t seed = rng_next(), id, p, sh;
	int fd = pattern_file(16 * PAGE, seed, O_RDWR);
	struct uvma_mm *mm = pager_new(NULL, 1);
	struct uvma_pager_stats st;

	CHECK_EQ_U64(uvma_mm_file_add(mm, fd, &id), 0);
	p = map_file(mm, id, 8, RW, UVMA_MAP_PRIVATE, 0);
	store_pages(p, 0, 2, 0xe1);
	CHECK_EQ_U64(uvma_madvise(mm, p, PAGE, UVMA_MADV_DONTNEED), 0);
	CHECK_EQ_U64(*ptr(p + 17), pattern(seed, 17)); /* the file again */
	CHECK_EQ_U64(*ptr(p + PAGE + 17), 0xe1);
	CHECK_EQ_U64(uvma_madvise(mm, p, PAGE, UVMA_MADV_REMOVE), -EACCES);

	sh = map_file(mm, id, 8, RW, UVMA_MAP_SHARED, 8 * PAGE);
	store_pages(sh, 0, 1, 0xe2);
	CHECK_EQ_U64(uvma_madvise(mm, sh, PAGE, UVMA_MADV_DONTNEED), 0);
	CHECK_EQ_U64(*ptr(sh + 17), 0xe2); /* the page cache keeps it */
	CHECK_EQ_U64(
		uvma_madvise(mm, sh + PAGE, 3 * PAGE, UVMA_MADV_POPULATE_WRITE),
		0);
	CHECK_EQ_U64(uvma_msync(mm, sh, 8 * PAGE, UVMA_MS_SYNC), 0);
	uvma_mm_pager_stats(mm, &st);
	CHECK_EQ_U64(st.written, 4); /* the stored page, 3 made dirty */
	check_file_pages(fd, 8, 1, 0xe2);
	CHECK_EQ_U64(
		uvma_madvise(mm, sh + 4 * PAGE, 2 * PAGE, UVMA_MADV_REMOVE), 0);
	CHECK_EQ_U64(file_byte(fd, 12 * PAGE + 17), 0);
	CHECK_EQ_U64(file_byte(fd, 14 * PAGE + 17),
		     pattern(seed, 14 * PAGE + 17));
	CHECK_EQ_U64(*ptr(sh + 4 * PAGE + 17), 0);
	CHECK_EQ_U64(*ptr(sh + 5 * PAGE + 100), 0);
	CHECK_EQ_U64(*ptr(sh + 6 * PAGE + 17), pattern(seed, 14 * PAGE + 17));
	uvma_mm_destroy(mm);
	close(fd);
}
PAGER_BOTH(test_page_advice)

/* Whatever takes the pages away writes them back first: munmap (part of
 * an area), MAP_FIXED over it, a shrink, a move (which keeps them dirty),
 * and destruction. */
static void test_writeback(void)
{
	uint64_t seed = rng_next(), id, a, b;
	int fd = pattern_file(64 * PAGE, seed, O_RDWR);
	struct uvma_mm *mm = pager_new(NULL, 1);

	CHECK_EQ_U64(uvma_mm_file_add(mm, fd, &id), 0);
	a = map_file(mm, id, 64, RW, UVMA_MAP_SHARED, 0);
	store_pages(a, 0, 64, 0xe1);
	CHECK_EQ_U64(uvma_munmap(mm, a + 10 * PAGE, 4 * PAGE), 0);
	check_file_pages(fd, 10, 4, 0xe1);
	CHECK_EQ_U64(file_byte(fd, 20 * PAGE + 17),
		     pattern(seed, 20 * PAGE + 17));
	CHECK_EQ_U64(uvma_mmap(mm, a + 20 * PAGE, 2 * PAGE, RW,
			       ANON | UVMA_MAP_FIXED, 0, 0, NULL, &b),
		     0);
	check_file_pages(fd, 20, 2, 0xe1);
	CHECK_EQ_U64(*ptr(a + 20 * PAGE + 17), 0); /* the new area's */
	/* Move pages 30..40 away and back: still dirty, still the data. */
	CHECK_EQ_U64(uvma_mremap(mm, a + 30 * PAGE, 10 * PAGE, 10 * PAGE,
				 UVMA_MREMAP_MAYMOVE | UVMA_MREMAP_FIXED,
				 a - 16 * PAGE, &b),
		     0);
	CHECK_EQ_U64(*ptr(b + 17), 0xe1);
	store_pages(b, 2, 1, 0xe2);
	CHECK_EQ_U64(uvma_msync(mm, b, 10 * PAGE, UVMA_MS_SYNC), 0);
	check_file_pages(fd, 30, 2, 0xe1);
	check_file_pages(fd, 32, 1, 0xe2);
	check_file_pages(fd, 33, 7, 0xe1);
	/* The rest goes with the space. */
	CHECK_EQ_U64(file_byte(fd, 50 * PAGE + 17),
		     pattern(seed, 50 * PAGE + 17));
	uvma_mm_destroy(mm);
	check_file_pages(fd, 40, 24, 0xe1);
	check_file_pages(fd, 0, 10, 0xe1);
	close(fd);
}
PAGER_BOTH(test_writeback)

/* A writer stores a counter into every page, over and over, while the
 * main thread syncs; after the last store and a final msync, the file
 * holds every page's last value: no store lost between a page's
 * protection and its write. */
struct writer {
	uint64_t a, pages;
	_Atomic bool stop;
	uint32_t rounds;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	while (!atomic_load(&w->stop)) {
		w->rounds++;
		for (uint64_t p = 0; p < w->pages; p++)
			*(volatile uint32_t *)(uintptr_t)(w->a + p * PAGE) =
				w->rounds;
	}
	return NULL;
}

static void test_msync_race(void)
{
	uint64_t id, rounds = test_scaled(300, 30);
	int fd = pattern_file(64 * PAGE, 1, O_RDWR);
	struct uvma_mm *mm = pager_new(NULL, 1);
	struct writer w = { .pages = 64 };
	pthread_t t;

	CHECK_EQ_U64(uvma_mm_file_add(mm, fd, &id), 0);
	w.a = map_file(mm, id, 64, RW, UVMA_MAP_SHARED, 0);
	CHECK(pthread_create(&t, NULL, writer_main, &w) == 0);
	for (uint64_t i = 0; i < rounds; i++)
		CHECK_EQ_U64(uvma_msync(mm, w.a, 64 * PAGE, 0), 0);
	atomic_store(&w.stop, true);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK_EQ_U64(uvma_msync(mm, w.a, 64 * PAGE, UVMA_MS_SYNC), 0);
	for (uint64_t p = 0; p < 64; p++) {
		uint32_t v = 0;

		CHECK(pread(fd, &v, 4, (off_t)(p * PAGE)) == 4);
		CHECK_EQ_U64(v,
			     *(volatile uint32_t *)(uintptr_t)(w.a + p * PAGE));
	}
	uvma_mm_destroy(mm);
	close(fd);
}
PAGER_BOTH(test_msync_race)

/* ---- errors
 * ------------------------------------------------------------------ */

static void test_errors(void)
{
	uint64_t id = 0, a;
	int ro = pattern_file(4 * PAGE, 2, O_RDONLY);
	struct uvma_mm *mm = pager_new(NULL, 1);

	CHECK_EQ_U64(uvma_mm_file_add(mm, -1, &id), -EBADF);
	CHECK_EQ_U64(uvma_mm_file_add(mm, ro, NULL), -EINVAL);
	CHECK_EQ_U64(uvma_mm_file_add(mm, ro, &id), 0);
	CHECK_EQ_U64(id, 1);
	/* An id the space was not given. */
	CHECK_EQ_U64(uvma_mmap(mm, 0, PAGE, UVMA_PROT_READ, UVMA_MAP_PRIVATE, 7,
			       0, NULL, &a),
		     -EBADF);
	/* Shared and writable needs a file open for writing; private or
	 * read-only does not. */
	CHECK_EQ_U64(
		uvma_mmap(mm, 0, PAGE, RW, UVMA_MAP_SHARED, id, 0, NULL, &a),
		-EACCES);
	a = map_file(mm, id, 4, UVMA_PROT_READ, UVMA_MAP_SHARED, 0);
	CHECK_EQ_U64(*ptr(a + PAGE), pattern(2, PAGE));
	/* Nor may mprotect make it writable (after changing what comes
	 * before it, as Linux does). */
	CHECK_EQ_U64(uvma_mprotect(mm, a, 4 * PAGE, RW), -EACCES);
	CHECK_EQ_U64(uvma_mprotect(mm, a, 4 * PAGE, UVMA_PROT_NONE), 0);
	CHECK_EQ_U64(uvma_mprotect(mm, a, 4 * PAGE, UVMA_PROT_READ), 0);
	a = map_file(mm, id, 4, RW, UVMA_MAP_PRIVATE, 0);
	*ptr(a) = 1;
	CHECK_EQ_U64(file_byte(ro, 0), pattern(2, 0));
	uvma_mm_destroy(mm);
	close(ro);
}
PAGER_BOTH(test_errors)

/* The space's file is its own: an O_APPEND descriptor does not send the
 * write-back to the end; a write-only one is refused. Pages made
 * unreadable (PROT_NONE) after a store are written back all the same. */
static void test_own_file(void)
{
	uint64_t id, a, seed = rng_next();
	int fd = pattern_file(8 * PAGE, seed, O_RDWR);
	char path[64];
	int app, wo;
	struct uvma_mm *mm = pager_new(NULL, 1);

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	app = open(path, O_RDWR | O_APPEND);
	wo = open(path, O_WRONLY);
	CHECK(app >= 0 && wo >= 0);
	CHECK_EQ_U64(uvma_mm_file_add(mm, wo, &id), -EACCES);
	CHECK_EQ_U64(uvma_mm_file_add(mm, app, &id), 0);
	a = map_file(mm, id, 8, RW, UVMA_MAP_SHARED, 0);
	store_pages(a, 2, 2, 0xf1);
	store_pages(a, 6, 1, 0xf2);
	CHECK_EQ_U64(uvma_msync(mm, a, 4 * PAGE, UVMA_MS_SYNC), 0);
	check_file_pages(fd, 2, 2, 0xf1);
	CHECK_EQ_U64(lseek(fd, 0, SEEK_END), 8 * PAGE); /* nothing appended */
	CHECK_EQ_U64(uvma_mprotect(mm, a + 4 * PAGE, 4 * PAGE, UVMA_PROT_NONE),
		     0);
	CHECK_EQ_U64(uvma_munmap(mm, a, 8 * PAGE), 0);
	check_file_pages(fd, 6, 1, 0xf2);
	uvma_mm_destroy(mm);
	close(app);
	close(wo);
	close(fd);
}
PAGER_BOTH(test_own_file)

/* A file area grown by a move reads the file everywhere, across the
 * boundary between the moved part and the new tail (which may be two
 * kernel mappings: a window across them is filled a page at a time, see
 * fill_missing; on this kernel they merge, so this does not force it). */
static void test_window_split(void)
{
	uint64_t id, a, b, seed = rng_next();
	int fd = pattern_file(64 * PAGE, seed, O_RDWR);
	struct uvma_mm *mm = pager_new(NULL, 1);

	CHECK_EQ_U64(uvma_mm_file_add(mm, fd, &id), 0);
	a = map_file(mm, id, 20, UVMA_PROT_READ, UVMA_MAP_PRIVATE, 0);
	CHECK_EQ_U64(*ptr(a + 3), pattern(seed, 3));
	CHECK_EQ_U64(uvma_mremap(mm, a, 20 * PAGE, 40 * PAGE,
				 UVMA_MREMAP_MAYMOVE, 0, &b),
		     0);
	for (uint64_t p = 0; p < 40; p++)
		CHECK_EQ_U64(*ptr(b + p * PAGE + 9),
			     pattern(seed, p * PAGE + 9));
	uvma_mm_destroy(mm);
	close(fd);
}
PAGER_BOTH(test_window_split)

static const struct test_case case_table[] = {
	PAGER_CASES("private", test_private),
	PAGER_CASES("msync", test_msync),
	PAGER_CASES("page_advice", test_page_advice),
	PAGER_CASES("writeback", test_writeback),
	PAGER_CASES("msync_race", test_msync_race),
	PAGER_CASES("errors", test_errors),
	PAGER_CASES("own_file", test_own_file),
	PAGER_CASES("window_split", test_window_split),
};

int main(int argc, char **argv)
{
	touch_init();			     /* before the first SIGBUS space */
	uvma_mm_destroy(pager_new(NULL, 1)); /* or skip, before any case */
	return test_run_cases(argc, argv, case_table,
			      sizeof(case_table) / sizeof(case_table[0]));
}
