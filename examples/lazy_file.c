/*
 * lazy_file.c - a file read through uvma's pager while the address space
 * changes around it. Uses only include/uvma.h.
 *
 * It writes a file of FILE_PAGES pages, gives it to a pager space
 * (uvma_mm_file_add) and maps it MAP_PRIVATE. Two reader threads sum the
 * mapping's bytes with ordinary loads (each page comes in from the file on
 * its first touch, 64 KiB at a time by fault-around), while a third thread
 * maps, touches, mprotects, moves and unmaps other areas of the same space
 * as fast as it can. Each reader's sum must equal the file's, read with
 * pread beforehand. Faults are delivered by handler threads, or with
 * --sigbus in the reading threads themselves.
 * Needs userfaultfd (root); elsewhere it says so and exits 77.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uvma.h>

#define PAGE	   4096u
#define FILE_PAGES 4096u /* 16 MiB */
#define RW	   (UVMA_PROT_READ | UVMA_PROT_WRITE)
#define ANON	   (UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS)

static struct uvma_mm *mm;
static uint64_t file_at;
static _Atomic bool readers_done;
static uint64_t mapper_rounds;

static int die(const char *what, int err)
{
	fprintf(stderr, "lazy_file: %s: %s\n", what, uvma_strerror(err));
	exit(1);
}

/* A file of FILE_PAGES pages of a pattern, and its sum read with pread. */
static int make_file(uint64_t *sum)
{
	char path[] = "/tmp/uvma-lazy-XXXXXX";
	int fd = mkstemp(path);
	static uint8_t buf[PAGE];

	if (fd < 0)
		die("mkstemp", -errno);
	unlink(path);
	*sum = 0;
	for (uint64_t p = 0; p < FILE_PAGES; p++) {
		for (unsigned i = 0; i < PAGE; i++)
			buf[i] = (uint8_t)(p * 131 + i * 7 + (i >> 8));
		if (pwrite(fd, buf, PAGE, (off_t)(p * PAGE)) != PAGE)
			die("pwrite", -errno);
	}
	for (uint64_t p = 0; p < FILE_PAGES; p++) {
		if (pread(fd, buf, PAGE, (off_t)(p * PAGE)) != PAGE)
			die("pread", -errno);
		for (unsigned i = 0; i < PAGE; i++)
			*sum += buf[i];
	}
	return fd;
}

/* Sum the mapping with plain loads; reader r starts at its own end so
 * the two fault on different pages first. */
static void *reader(void *arg)
{
	uint64_t r = (uint64_t)(uintptr_t)arg, sum = 0;
	const volatile uint8_t *m =
		(const volatile uint8_t *)(uintptr_t)file_at;

	for (uint64_t k = 0; k < FILE_PAGES; k++) {
		uint64_t p = r ? FILE_PAGES - 1 - k : k;

		for (unsigned i = 0; i < PAGE; i++)
			sum += m[p * PAGE + i];
	}
	return (void *)(uintptr_t)sum;
}

/* One round of the mapper: map, touch, split, move and unmap an area. */
static void mapper_round(void)
{
	uint64_t a, b;
	int err = uvma_mmap(mm, 0, 16 * PAGE, RW, ANON, 0, 0, NULL, &a);

	if (err)
		die("mmap", err);
	for (unsigned p = 0; p < 16; p++)
		((volatile uint8_t *)(uintptr_t)a)[p * PAGE] = (uint8_t)p;
	err = uvma_mprotect(mm, a, 8 * PAGE, UVMA_PROT_READ);
	if (!err)
		err = uvma_mremap(mm, a + 8 * PAGE, 8 * PAGE, 16 * PAGE,
				  UVMA_MREMAP_MAYMOVE, 0, &b);
	if (err)
		die("mprotect/mremap", err);
	if (((volatile uint8_t *)(uintptr_t)b)[3 * PAGE] != 11) {
		fprintf(stderr, "lazy_file: a moved page lost its contents\n");
		exit(1);
	}
	if ((err = uvma_munmap(mm, a, 8 * PAGE)) ||
	    (err = uvma_munmap(mm, b, 16 * PAGE)))
		die("munmap", err);
}

static void *mapper(void *arg)
{
	(void)arg;
	while (!atomic_load(&readers_done)) {
		mapper_round();
		mapper_rounds++;
	}
	return NULL;
}

static struct uvma_mm *make_space(int argc, char **argv)
{
	struct uvma_mm_config cfg;
	struct uvma_mm *m = NULL;
	int err;

	uvma_mm_config_init(&cfg);
	cfg.base = 0; /* where the kernel puts it */
	cfg.size = 256ull << 20;
	cfg.flags = UVMA_MM_PAGER;
	cfg.pager_threads = 2;
	if (argc > 1 && !strcmp(argv[1], "--sigbus"))
		cfg.flags |= UVMA_MM_PAGER_SIGBUS;
	err = uvma_mm_create(&cfg, &m);
	if (err == -EPERM || err == -ENOSYS) {
		printf("lazy_file: skipped: userfaultfd unavailable (%s); run "
		       "as root\n",
		       uvma_strerror(err));
		exit(77);
	}
	if (err)
		die("uvma_mm_create", err);
	return m;
}

int main(int argc, char **argv)
{
	uint64_t want, id, got[2];
	struct uvma_pager_stats st;
	pthread_t r[2], w;
	int fd, err;

	mm = make_space(argc, argv);
	fd = make_file(&want);
	err = uvma_mm_file_add(mm, fd, &id);
	if (!err)
		err = uvma_mmap(mm, 0, (uint64_t)FILE_PAGES * PAGE,
				UVMA_PROT_READ, UVMA_MAP_PRIVATE, id, 0, NULL,
				&file_at);
	if (err)
		die("mapping the file", err);
	close(fd); /* the space keeps its own descriptor */
	pthread_create(&w, NULL, mapper, NULL);
	for (uintptr_t i = 0; i < 2; i++)
		pthread_create(&r[i], NULL, reader, (void *)i);
	for (int i = 0; i < 2; i++) {
		void *v;

		pthread_join(r[i], &v);
		got[i] = (uint64_t)(uintptr_t)v;
	}
	atomic_store(&readers_done, true);
	pthread_join(w, NULL);
	uvma_mm_pager_stats(mm, &st);
	printf("lazy_file: file sum %" PRIu64 ", readers %" PRIu64
	       " and %" PRIu64 "; %" PRIu64 " pages filled (%" PRIu64
	       " by fault-around), %" PRIu64 " faults, p50 %" PRIu64
	       " ns, p99 %" PRIu64 " ns; mapper: %" PRIu64 " rounds\n",
	       want, got[0], got[1], st.filled, st.around, st.messages,
	       st.lat_p50_ns, st.lat_p99_ns, mapper_rounds);
	uvma_mm_destroy(mm);
	if (got[0] != want || got[1] != want) {
		fprintf(stderr, "lazy_file: checksum mismatch\n");
		return 1;
	}
	return 0;
}
