/*
 * snapshot_restore.c - restore a memory snapshot lazily with uvma's pager:
 * the program runs on its memory at once, and each page comes in from the
 * snapshot file on first touch, filled by a handler thread while only that
 * page's area is locked. Uses only include/uvma.h.
 *
 * It writes a snapshot file of PAGES pages (page i holds a pattern of i),
 * maps it into a pager space as one area whose fill function reads the
 * file, then "runs": it checks a few pages, writes to some, and sums every
 * page. The sum must equal the file's, and the pager must have filled each
 * page exactly once, on first touch, and none before the program touched
 * it. Needs userfaultfd (root); elsewhere it says so and exits 77.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uvma.h>

#define PAGE  4096u
#define PAGES 256u

/* What an area's user pointer says: where its pages are in the file. */
struct snapshot {
	int fd;
	uint64_t start; /* the area's first address */
};

/* Runs in a handler thread with the area read-locked. */
static int fill_from_file(void *user, uint64_t addr, void *page, size_t len)
{
	const struct snapshot *s = user;
	off_t off = (off_t)(addr - s->start);

	return pread(s->fd, page, len, off) == (ssize_t)len ? 0 : -EIO;
}

static uint8_t pattern(unsigned page, unsigned i)
{
	return (uint8_t)(page * 31u + i);
}

static int write_snapshot(int fd, uint64_t *sum)
{
	static uint8_t buf[PAGE];

	*sum = 0;
	for (unsigned p = 0; p < PAGES; p++) {
		for (unsigned i = 0; i < PAGE; i++) {
			buf[i] = pattern(p, i);
			*sum += buf[i];
		}
		if (write(fd, buf, PAGE) != (ssize_t)PAGE)
			return -EIO;
	}
	return 0;
}

/* Pages the pager filled, once it has counted at least want of them (a
 * fill wakes its thread just before the handler counts it; bounded). */
static uint64_t filled(struct uvma_mm *mm, uint64_t want)
{
	struct uvma_pager_stats st;

	for (int tries = 0; tries < 2000; tries++) {
		uvma_mm_pager_stats(mm, &st);
		if (st.filled >= want)
			break;
		usleep(1000);
	}
	return st.filled;
}

static int restore(int fd, uint64_t want_sum)
{
	struct snapshot snap = { .fd = fd };
	struct uvma_mm_config cfg;
	struct uvma_mm *mm = NULL;
	volatile uint8_t *mem;
	uint64_t sum = 0, before;
	int err;

	uvma_mm_config_init(&cfg);
	cfg.base = 0; /* wherever the kernel puts it */
	cfg.size = 4 * PAGES * PAGE;
	cfg.flags = UVMA_MM_PAGER;
	cfg.pager_fill = fill_from_file;
	err = uvma_mm_create(&cfg, &mm);
	if (err == -EPERM || err == -ENOSYS) {
		printf("snapshot_restore: skipped: no userfaultfd here (%s)\n",
		       uvma_strerror(err));
		return 77;
	}
	if (!err)
		err = uvma_mmap(mm, 0, PAGES * PAGE,
				UVMA_PROT_READ | UVMA_PROT_WRITE,
				UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS, 0, 0,
				&snap, &snap.start);
	if (err) {
		fprintf(stderr, "snapshot_restore: %s\n", uvma_strerror(err));
		uvma_mm_destroy(mm);
		return 1;
	}
	mem = (volatile uint8_t *)(uintptr_t)snap.start;

	/* Nothing is read before the program touches it. */
	before = filled(mm, 0);
	/* The program: a few reads, a write, then a sum of everything. */
	err = mem[7 * PAGE + 5] != pattern(7, 5) ||
	      mem[200 * PAGE + 4095] != pattern(200, 4095);
	mem[9 * PAGE] = pattern(9, 0); /* writes the value it had */
	for (unsigned i = 0; i < PAGES * PAGE; i++)
		sum += mem[i];
	printf("snapshot_restore: %u pages at %#" PRIx64 ", %" PRIu64
	       " filled before the program ran, %" PRIu64 " after; sum %" PRIu64
	       " (file %" PRIu64 ")\n",
	       PAGES, snap.start, before, filled(mm, PAGES), sum, want_sum);
	err = err || before != 0 || filled(mm, PAGES) != PAGES ||
	      sum != want_sum;
	uvma_mm_destroy(mm);
	return err ? 1 : 0;
}

int main(void)
{
	char path[] = "/tmp/uvma-snapshot-XXXXXX";
	uint64_t sum;
	int fd = mkstemp(path), ret;

	if (fd < 0) {
		perror("snapshot_restore: mkstemp");
		return 1;
	}
	unlink(path); /* gone when closed */
	ret = write_snapshot(fd, &sum) ? 1 : restore(fd, sum);
	close(fd);
	return ret;
}
