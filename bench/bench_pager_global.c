/*
 * bench_pager_global.c - the global pager of the pager scenario
 * (bench_pager.h): the design of LLNL UMap and of most hand-written
 * userfaultfd handlers, as a reference for uvma's pager. One reservation
 * registered with userfaultfd (missing pages), ONE handler thread that
 * reads one message at a time, and ONE mutex held around the region lookup
 * (a plain array) and the fill (pread of the file page into a buffer, then
 * UFFDIO_COPY; zeros for anonymous regions). Region changes take the same
 * mutex, so a fill can never land in a region removed since its lookup:
 * the guarantee uvma gives with per-area locks, here bought by stopping
 * every fault for the duration of every change.
 */
#define _GNU_SOURCE
#include "bench_pager.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define GP_MAX_REGIONS 256

struct gregion {
	uint64_t start, end;
	int fd; /* -1: anonymous */
	uint64_t off;
};

struct gpager {
	int uffd, stop_fd;
	uint64_t base, size;
	pthread_t thread;
	bool reserved, running;
	pthread_mutex_t lock; /* the regions, and every fill */
	struct gregion regions[GP_MAX_REGIONS];
	size_t nregions;
	char *buf; /* the handler's page buffer */
	_Atomic uint64_t faults, errors;
};

static const char zeros[PB_PAGE] __attribute__((aligned(PB_PAGE)));

static struct gregion *find(struct gpager *g, uint64_t addr)
{
	for (size_t i = 0; i < g->nregions; i++)
		if (addr >= g->regions[i].start && addr < g->regions[i].end)
			return &g->regions[i];
	return NULL;
}

/* No region (removed since the fault): the thread runs again and meets
 * the range's PROT_NONE (SIGSEGV) instead of waiting for ever. */
static void wake(struct gpager *g, uint64_t page)
{
	struct uffdio_range r = { .start = page, .len = PB_PAGE };

	(void)ioctl(g->uffd, UFFDIO_WAKE, &r);
}

/* The page's bytes: the file's (zeros past its end) or zeros. */
static const char *page_source(struct gpager *g, const struct gregion *r,
			       uint64_t page)
{
	ssize_t got;

	if (r->fd < 0)
		return zeros;
	got = pread(r->fd, g->buf, PB_PAGE, (off_t)(r->off + page - r->start));
	if (got < 0) {
		/* zeros rather than a thread that faults for ever: the run
		 * fails its check and counts the error */
		atomic_fetch_add_explicit(&g->errors, 1, memory_order_relaxed);
		got = 0;
	}
	memset(g->buf + got, 0, PB_PAGE - (size_t)got);
	return g->buf;
}

static void fill(struct gpager *g, const struct gregion *r, uint64_t page)
{
	struct uffdio_copy c = {
		.dst = page,
		.src = (uint64_t)(uintptr_t)page_source(g, r, page),
		.len = PB_PAGE,
	};

	/* EAGAIN: the address space was changing; EEXIST: the page is there
	 * (a second message for it), and the copy woke no one. */
	while (ioctl(g->uffd, UFFDIO_COPY, &c) && errno == EAGAIN)
		c.copy = 0;
	if (c.copy != PB_PAGE)
		wake(g, page);
}

static void handle(struct gpager *g, uint64_t page)
{
	const struct gregion *r;

	pthread_mutex_lock(&g->lock);
	r = find(g, page);
	if (r)
		fill(g, r, page);
	else
		wake(g, page);
	pthread_mutex_unlock(&g->lock);
	atomic_fetch_add_explicit(&g->faults, 1, memory_order_relaxed);
}

static void *handler_main(void *arg)
{
	struct gpager *g = arg;
	struct pollfd fds[2] = { { .fd = g->uffd, .events = POLLIN },
				 { .fd = g->stop_fd, .events = POLLIN } };
	struct uffd_msg m;

	for (;;) {
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			break;
		if (fds[1].revents)
			break;
		if (read(g->uffd, &m, sizeof(m)) != sizeof(m))
			continue; /* EAGAIN */
		if (m.event == UFFD_EVENT_PAGEFAULT)
			handle(g, m.arg.pagefault.address &
					  ~(uint64_t)(PB_PAGE - 1));
	}
	return NULL;
}

/* The reservation, inaccessible until regions are mapped, registered for
 * missing pages. */
static int reserve(struct gpager *g)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = g->base, .len = g->size },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	void *p = mmap((void *)(uintptr_t)g->base, g->size, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			       MAP_FIXED_NOREPLACE,
		       -1, 0);

	if (p == MAP_FAILED)
		return -errno;
	if ((uint64_t)(uintptr_t)p != g->base) {
		munmap(p, g->size); /* an old kernel took it as a hint */
		return -EEXIST;
	}
	g->reserved = true;
	g->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (g->uffd < 0 || ioctl(g->uffd, UFFDIO_API, &api) ||
	    ioctl(g->uffd, UFFDIO_REGISTER, &reg))
		return -errno;
	g->stop_fd = eventfd(0, EFD_CLOEXEC);
	return g->stop_fd < 0 ? -errno : 0;
}

int gpager_create(uint64_t base, uint64_t size, struct gpager **out)
{
	struct gpager *g = calloc(1, sizeof(*g));
	int err;

	if (!g)
		return -ENOMEM;
	g->uffd = g->stop_fd = -1;
	g->base = base;
	g->size = size;
	pthread_mutex_init(&g->lock, NULL);
	g->buf = aligned_alloc(PB_PAGE, PB_PAGE);
	err = g->buf ? reserve(g) : -ENOMEM;
	if (!err) {
		err = -pthread_create(&g->thread, NULL, handler_main, g);
		g->running = !err;
	}
	if (err) {
		gpager_destroy(g);
		return err;
	}
	*out = g;
	return 0;
}

int gpager_map(struct gpager *g, uint64_t addr, uint64_t len, int prot, int fd,
	       uint64_t off)
{
	int err = 0;

	pthread_mutex_lock(&g->lock);
	for (size_t i = 0; i < g->nregions && !err; i++)
		if (addr < g->regions[i].end &&
		    g->regions[i].start < addr + len)
			err = -EEXIST;
	if (!err && g->nregions == GP_MAX_REGIONS)
		err = -ENOMEM;
	if (!err && mprotect((void *)(uintptr_t)addr, len, prot))
		err = -errno;
	if (!err)
		g->regions[g->nregions++] =
			(struct gregion){ addr, addr + len, fd, off };
	pthread_mutex_unlock(&g->lock);
	return err;
}

int gpager_unmap(struct gpager *g, uint64_t addr)
{
	struct gregion *r;
	int err = 0;

	pthread_mutex_lock(&g->lock);
	r = find(g, addr);
	if (!r || r->start != addr) {
		err = -ENOENT;
	} else {
		void *p = (void *)(uintptr_t)r->start;
		size_t len = r->end - r->start;

		if (madvise(p, len, MADV_DONTNEED) ||
		    mprotect(p, len, PROT_NONE))
			err = -errno;
		*r = g->regions[--g->nregions];
	}
	pthread_mutex_unlock(&g->lock);
	return err;
}

int gpager_protect(struct gpager *g, uint64_t addr, uint64_t len, int prot)
{
	int err;

	pthread_mutex_lock(&g->lock);
	err = mprotect((void *)(uintptr_t)addr, len, prot) ? -errno : 0;
	pthread_mutex_unlock(&g->lock);
	return err;
}

uint64_t gpager_faults(struct gpager *g)
{
	return atomic_load_explicit(&g->faults, memory_order_relaxed);
}

uint64_t gpager_errors(struct gpager *g)
{
	return atomic_load_explicit(&g->errors, memory_order_relaxed);
}

void gpager_destroy(struct gpager *g)
{
	uint64_t one = 1;

	if (!g)
		return;
	if (g->running && write(g->stop_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(g->thread, NULL);
	if (g->uffd >= 0)
		close(g->uffd);
	if (g->stop_fd >= 0)
		close(g->stop_fd);
	if (g->reserved)
		munmap((void *)(uintptr_t)g->base, g->size);
	pthread_mutex_destroy(&g->lock);
	free(g->buf);
	free(g);
}
