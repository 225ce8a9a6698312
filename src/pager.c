/*
 * pager.c - real memory behind an address space, through userfaultfd
 * (pager.h, pager_impl.h; docs/design.md section 9): creation and
 * destruction, the handler threads, the files, the counters.
 *
 * Locks: a fault, however delivered, is resolved by uvma_fault, so the fill
 * runs in the space's fault handler (pager_fill.c) with the area's read
 * lock held (or mmap_lock for reading, on the fallback). Map changes keep
 * the real range in step from the plan engine (pager_sync.c), under
 * mmap_lock for writing. The counters are relaxed atomics (statistics).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "debug.h"
#include "mm.h"
#include "pager.h"
#include "pager_impl.h"
#include "plan.h"

#define PAGER_BATCH 16 /* messages read at once */

uint64_t pager_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Bucket of a latency: 4 buckets per power of two. */
static unsigned lat_bucket(uint64_t ns)
{
	unsigned lg, sub;

	if (ns < 4)
		return (unsigned)ns;
	lg = 63u - (unsigned)__builtin_clzll(ns);
	sub = (unsigned)(ns >> (lg - 2)) & 3u;
	return lg * 4 + sub < PAGER_LAT_BUCKETS ? lg * 4 + sub
						: PAGER_LAT_BUCKETS - 1;
}

/* The smallest latency of a bucket (the inverse of lat_bucket). */
static uint64_t lat_value(unsigned b)
{
	unsigned lg = b / 4, sub = b % 4;

	if (b < 4)
		return b;
	return (1ull << lg) + ((uint64_t)sub << (lg - 2));
}

void pager_latency(struct pager *pg, uint64_t t0)
{
	uint64_t t = pager_now_ns();

	atomic_fetch_add_explicit(&pg->lat[lat_bucket(t > t0 ? t - t0 : 0)], 1,
				  memory_order_relaxed);
}

void pager_wake(struct pager *pg, uint64_t addr)
{
	struct uffdio_range r = { .start = addr, .len = pg->page_size };

	/* SIGBUS delivery has no sleepers; otherwise it fails only for a
	 * range outside the registration, where nothing sleeps. */
	if (!pg->sigbus)
		(void)ioctl(pg->uffd, UFFDIO_WAKE, &r);
}

/*
 * A fault with no area (or no right) to fill: a map change is under way or
 * done. Waiting for its writer (mmap_lock for reading, briefly) means the
 * retried access meets the real protection the change left (SIGSEGV), not
 * a page still missing (another round).
 */
static void wait_writer(struct pager *pg)
{
	uvma_mm_read_lock(pg->mm);
	uvma_mm_read_unlock(pg->mm);
}

int pager_deliver(struct pager *pg, uint64_t addr, unsigned access, bool wp)
{
	int ret;

	/* No thread may touch a space being destroyed (uvma.h). */
	UVMA_ASSERT(
		!atomic_load_explicit(&pg->destroying, memory_order_relaxed));
	pager_count(pg, PC_MESSAGES);
	pager_delivery.wp = wp;
	pager_delivery.fill_err = 0;
	ret = uvma_fault(pg->mm, addr, access);
#ifdef UVMA_BROKEN_FILL_UNLOCKED
	if (!ret)
		ret = pager_delivery.fill_err = pager_fill_deferred(pg);
#endif
	if (pager_delivery.fill_err) {
		pager_count(pg, PC_ERRORS);
		return pager_delivery.fill_err;
	}
	if (ret) {
		/* No area there any more, or no right to this access. */
		pager_count(pg, PC_WOKEN);
		wait_writer(pg);
		pager_wake(pg, addr);
	}
	return 0;
}

/*
 * A thread that faulted and whose page cannot be filled: SIGBUS at the
 * address, then woken, so that it takes the signal before it retries.
 * The kernel lets only a process's main thread queue a fault's si_code
 * (BUS_ADRERR) to its other threads, so a handler thread queues SI_QUEUE,
 * with si_addr set all the same.
 */
static void send_sigbus(struct pager *pg, pid_t tid, uint64_t addr)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = SIGBUS;
	si.si_code = SI_QUEUE;
	si.si_addr = (void *)(uintptr_t)addr;
	(void)syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, SIGBUS, &si);
	pager_wake(pg, addr);
}

/* Whether this batch saw the page already (one fill wakes every thread
 * waiting on the page). */
static bool seen_before(const uint64_t *pages, int n, uint64_t page)
{
	for (int i = 0; i < n; i++)
		if (pages[i] == page)
			return true;
	return false;
}

static void handle_message(struct pager *pg, const struct uffd_msg *m,
			   uint64_t page)
{
	uint64_t t0 = pager_now_ns();
	bool wp = m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP;
	unsigned access = (m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE)
				  ? UVMA_ACCESS_WRITE
				  : UVMA_ACCESS_READ;

	if (pager_deliver(pg, page, access, wp))
		send_sigbus(pg, (pid_t)m->arg.pagefault.feat.ptid,
			    m->arg.pagefault.address);
	pager_latency(pg, t0);
}

static void handle_batch(struct pager *pg, const struct uffd_msg *m, int n)
{
	uint64_t pages[PAGER_BATCH];

	for (int i = 0; i < n; i++) {
		uint64_t page;

		pages[i] = 0;
		if (m[i].event != UFFD_EVENT_PAGEFAULT)
			continue;
		page = m[i].arg.pagefault.address & ~(pg->page_size - 1);
		pages[i] = page;
		/* A write-protect fault after a missing one of the same page
		 * is a second fault, not a duplicate. */
		if (!(m[i].arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) &&
		    seen_before(pages, i, page)) {
			pager_count(pg, PC_DUPLICATE);
			continue;
		}
		handle_message(pg, &m[i], page);
	}
}

static void *handler_main(void *arg)
{
	struct pager *pg = arg;
	struct uffd_msg msgs[PAGER_BATCH];
	struct pollfd fds[2] = {
		{ .fd = pg->uffd, .events = POLLIN },
		{ .fd = pg->stop_fd, .events = POLLIN },
	};

	for (;;) {
		ssize_t got;

		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			break;
		if (fds[1].revents)
			break;
		got = read(pg->uffd, msgs, sizeof(msgs));
		if (got <= 0)
			continue; /* EAGAIN: another thread took them */
		handle_batch(pg, msgs, (int)(got / (ssize_t)sizeof(msgs[0])));
	}
	return NULL;
}

static int uffd_open(bool sigbus)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = sigbus ? UFFD_FEATURE_SIGBUS
				   : UFFD_FEATURE_THREAD_ID |
					     UFFD_FEATURE_EXACT_ADDRESS,
	};
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int pager_reserve(struct pager *pg, uint64_t base)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	void *p;

	if (base)
		flags |= MAP_FIXED_NOREPLACE;
	p = mmap((void *)(uintptr_t)base, pg->size, PROT_NONE, flags, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	if (base && p != (void *)(uintptr_t)base) {
		munmap(p, pg->size); /* an old kernel took it as a hint */
		return -EEXIST;
	}
	pg->base = p;
	return 0;
}

int pager_register(struct pager *pg, uint64_t start, uint64_t len)
{
	struct uffdio_register reg = {
		.range = { .start = start, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP,
	};

	return ioctl(pg->uffd, UFFDIO_REGISTER, &reg) ? -errno : 0;
}

static void pager_stop(struct pager *pg)
{
	uint64_t one = 1;

	if (write(pg->stop_fd, &one, sizeof(one)) != sizeof(one))
		abort(); /* an eventfd write of 1 cannot fail */
	for (unsigned i = 0; i < pg->nthreads; i++)
		pthread_join(pg->threads[i], NULL);
	pg->nthreads = 0;
}

static void close_fd(int fd)
{
	if (fd >= 0)
		close(fd);
}

static void pager_free(struct pager *pg)
{
	unsigned nfiles =
		atomic_load_explicit(&pg->nfiles, memory_order_relaxed);

	if (pg->nthreads)
		pager_stop(pg);
	if (pg->sigbus)
		pager_signal_remove(pg);
	close_fd(pg->uffd);
	close_fd(pg->stop_fd);
	close_fd(pg->pagemap_fd);
	close_fd(pg->mem_fd);
	for (unsigned i = 0; i < nfiles; i++)
		close_fd(pg->files[i]);
	if (pg->base)
		munmap(pg->base, pg->size);
	if (pg->zeros)
		munmap((void *)pg->zeros, UVMA_PAGER_AROUND_MAX);
	free(pg);
}

static int pager_start(struct pager *pg, unsigned nthreads)
{
	for (unsigned i = 0; i < nthreads; i++) {
		int err =
			pthread_create(&pg->threads[i], NULL, handler_main, pg);

		if (err)
			return -err;
		pg->nthreads++;
	}
	return 0;
}

/* Fault-around in bytes: whole pages, at most the maximum; 0 is dflt. */
static int around_bytes(uint32_t asked, size_t dflt, uint64_t ps, size_t *out)
{
	uint64_t b = asked ? asked : dflt;

	if (b > UVMA_PAGER_AROUND_MAX)
		return -EINVAL;
	b = (b + ps - 1) & ~(ps - 1);
	*out = b < ps ? ps : b;
	return 0;
}

static int pager_config(struct pager *pg, const struct uvma_mm_config *cfg)
{
	unsigned nthreads = cfg->pager_threads ? cfg->pager_threads : 1;

	if ((long)cfg->page_size != sysconf(_SC_PAGESIZE) || cfg->fault ||
	    nthreads > PAGER_MAX_THREADS || cfg->size > SIZE_MAX)
		return -EINVAL;
	pg->size = (size_t)cfg->size;
	pg->page_size = cfg->page_size;
	pg->page_shift = (unsigned)__builtin_ctzll(cfg->page_size);
	pg->fill = cfg->pager_fill;
	pg->sigbus = cfg->flags & UVMA_MM_PAGER_SIGBUS;
	if (around_bytes(cfg->pager_file_around, 64u << 10, pg->page_size,
			 &pg->file_around) ||
	    around_bytes(cfg->pager_anon_around, 0, pg->page_size,
			 &pg->anon_around))
		return -EINVAL;
	return 0;
}

/* The read-only zero pages fills copy from, and the dirty-page map. */
static int pager_resources(struct pager *pg)
{
	void *z = mmap(NULL, UVMA_PAGER_AROUND_MAX, PROT_READ,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (z == MAP_FAILED)
		return -errno;
	pg->zeros = z;
	pg->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pg->pagemap_fd < 0)
		return -errno;
	/* Optional: without it, unreadable dirty pages stay dirty. */
	pg->mem_fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	pg->stop_fd = eventfd(0, EFD_CLOEXEC);
	return pg->stop_fd < 0 ? -errno : pager_buf_init();
}

static int pager_open(struct pager *pg, const struct uvma_mm_config *cfg)
{
	int err = pager_resources(pg);

	if (!err)
		err = pager_reserve(pg, cfg->base);
	if (!err) {
		pg->uffd = uffd_open(pg->sigbus);
		err = pg->uffd < 0 ? pg->uffd : 0;
	}
	if (!err)
		err = pager_register(pg, (uint64_t)(uintptr_t)pg->base,
				     pg->size);
	return err;
}

/* Faults may come from here on: the space is complete before. */
static int pager_deliveries(struct pager *pg, const struct uvma_mm_config *cfg)
{
	if (pg->sigbus)
		return pager_signal_add(pg);
	return pager_start(pg, cfg->pager_threads ? cfg->pager_threads : 1);
}

int pager_create(struct uvma_mm *mm, const struct uvma_mm_config *cfg)
{
	struct pager *pg = calloc(1, sizeof(*pg));
	int err;

	if (!pg)
		return -ENOMEM;
	pg->mm = mm;
	pg->uffd = pg->stop_fd = pg->pagemap_fd = pg->mem_fd = -1;
	err = pager_config(pg, cfg);
	if (!err)
		err = pager_open(pg, cfg);
	if (!err) {
		mm->pager = pg;
		mm->base = (uint64_t)(uintptr_t)pg->base;
		mm->end = mm->base + pg->size;
		mm->fault = pager_fault;
		mm->fault_arg = pg;
		err = pager_deliveries(pg, cfg);
	}
	if (err) {
		mm->pager = NULL;
		pager_free(pg);
	}
	return err;
}

void pager_destroy(struct uvma_mm *mm)
{
	if (mm->pager)
		pager_free(mm->pager);
	mm->pager = NULL;
}

/* Threads first: no handler may run a fault while the space goes. Then
 * the dirty pages of shared file areas reach their files, as on exit. */
void pager_quiesce(struct uvma_mm *mm)
{
	if (!mm->pager)
		return;
	if (mm->pager->nthreads)
		pager_stop(mm->pager);
	atomic_store_explicit(&mm->pager->destroying, true,
			      memory_order_relaxed);
	pager_writeback_all(mm);
}

/* ---- files ----------------------------------------------------------- */

int pager_file_fd(struct pager *pg, uint64_t file_id)
{
	unsigned n = atomic_load_explicit(&pg->nfiles, memory_order_acquire);

	return file_id && file_id <= n ? pg->files[file_id - 1] : -1;
}

bool pager_file_writable(struct pager *pg, uint64_t file_id)
{
	return pager_file_fd(pg, file_id) >= 0 &&
	       pg->file_writable[file_id - 1];
}

/*
 * The space's own open file for fd: a new open file description (through
 * /proc/self/fd), not a duplicate, so that the caller's flags (O_APPEND,
 * which would send every write-back to the end of the file; O_DIRECT;
 * later fcntl changes) are not the space's. -errno on failure.
 */
static int file_reopen(int fd, int accmode)
{
	char path[64];
	int mine;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	mine = open(path, accmode | O_CLOEXEC);
	return mine < 0 ? -errno : mine;
}

int uvma_mm_file_add(struct uvma_mm *mm, int fd, uint64_t *file_id)
{
	struct pager *pg = mm ? mm->pager : NULL;
	int flags, mine = -1, err = 0;
	unsigned n;

	if (!pg || !file_id)
		return -EINVAL;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		return -EBADF;
	/* A file that cannot be read cannot fill a page (Linux's mmap says
	 * EACCES too). */
	if ((flags & O_ACCMODE) == O_WRONLY)
		return -EACCES;
	mine = file_reopen(fd, flags & O_ACCMODE);
	if (mine < 0)
		return mine == -EMFILE || mine == -ENFILE ? -EMFILE : mine;
	mmap_write_lock(mm);
	n = atomic_load_explicit(&pg->nfiles, memory_order_relaxed);
	if (n >= PAGER_MAX_FILES) {
		err = -EMFILE;
	} else {
		pg->files[n] = mine;
		pg->file_writable[n] = (flags & O_ACCMODE) == O_RDWR;
		/* Release: a fill that sees the count sees the slot. */
		atomic_store_explicit(&pg->nfiles, n + 1, memory_order_release);
	}
	mmap_write_unlock(mm);
	if (err) {
		close(mine);
		return err;
	}
	*file_id = n + 1; /* after the unlock, as uvma_mmap's result */
	return 0;
}

int pager_check_file(struct uvma_mm *mm, uint64_t file_id, unsigned prot,
		     unsigned flags)
{
	if (pager_file_fd(mm->pager, file_id) < 0)
		return -EBADF;
	if ((flags & UVMA_MAP_SHARED) && (prot & UVMA_PROT_WRITE) &&
	    !pager_file_writable(mm->pager, file_id))
		return -EACCES;
	return 0;
}

bool pager_refuses_prot(struct uvma_mm *mm, const struct uvma_vma *vma,
			unsigned prot)
{
	return (prot & UVMA_PROT_WRITE) && pager_vma_shared_file(vma) &&
	       !pager_file_writable(mm->pager, vma->file_id);
}

/* ---- counters --------------------------------------------------------- */

/* The latency below which a fraction q of the faults fell. */
static uint64_t lat_quantile(struct pager *pg, double q)
{
	uint64_t n[PAGER_LAT_BUCKETS], total = 0, seen = 0;

	for (unsigned b = 0; b < PAGER_LAT_BUCKETS; b++) {
		n[b] = atomic_load_explicit(&pg->lat[b], memory_order_relaxed);
		total += n[b];
	}
	if (!total)
		return 0;
	for (unsigned b = 0; b < PAGER_LAT_BUCKETS; b++) {
		seen += n[b];
		if ((double)seen >= q * (double)total)
			return lat_value(b);
	}
	return lat_value(PAGER_LAT_BUCKETS - 1);
}

/* Where each counter goes in struct uvma_pager_stats. */
static const size_t stat_field[PC_N] = {
	[PC_MESSAGES] = offsetof(struct uvma_pager_stats, messages),
	[PC_MISSING] = offsetof(struct uvma_pager_stats, missing),
	[PC_WP] = offsetof(struct uvma_pager_stats, wp),
	[PC_FILLED] = offsetof(struct uvma_pager_stats, filled),
	[PC_AROUND] = offsetof(struct uvma_pager_stats, around),
	[PC_RETRIED] = offsetof(struct uvma_pager_stats, retried),
	[PC_EEXIST] = offsetof(struct uvma_pager_stats, eexist),
	[PC_EAGAIN] = offsetof(struct uvma_pager_stats, eagain),
	[PC_WOKEN] = offsetof(struct uvma_pager_stats, woken),
	[PC_ERRORS] = offsetof(struct uvma_pager_stats, errors),
	[PC_DUPLICATE] = offsetof(struct uvma_pager_stats, duplicate),
	[PC_WRITTEN] = offsetof(struct uvma_pager_stats, written),
	[PC_MOVED] = offsetof(struct uvma_pager_stats, moved),
};

void uvma_mm_pager_stats(struct uvma_mm *mm, struct uvma_pager_stats *out)
{
	struct pager *pg = mm->pager;

	memset(out, 0, sizeof(*out));
	if (!pg)
		return;
	for (int c = 0; c < PC_N; c++) {
		uint64_t v =
			atomic_load_explicit(&pg->n[c], memory_order_relaxed);

		memcpy((char *)out + stat_field[c], &v, sizeof(v));
	}
	out->lat_p50_ns = lat_quantile(pg, 0.50);
	out->lat_p99_ns = lat_quantile(pg, 0.99);
}
