/*
 * pager.c - real memory behind an address space, through userfaultfd
 * (pager.h; docs/design.md section 9).
 *
 * Locks: a handler thread resolves a missing page with uvma_fault, so the
 * fill runs in the space's fault handler with the area's read lock held
 * (or mmap_lock for reading, on the fallback). Map changes keep the real
 * range in step from plan_apply (pager_sync), under mmap_lock for writing,
 * after the areas that go away are detached: their fills are over, and no
 * new fill can find them. The counters are atomics, written by the handler
 * threads and summed by anyone (relaxed: they are statistics).
 *
 * This first step fills anonymous private areas, with zeros or from the
 * space's fill function; moves (mremap that must move, old_len 0 copies)
 * are refused on pager spaces.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "debug.h"
#include "hook.h"
#include "mm.h"
#include "pager.h"
#include "plan.h"

#define PAGER_MAX_THREADS 64
#define PAGER_BATCH	  16  /* messages read at once */
#define PAGER_EAGAIN_MAX  100 /* fill attempts before giving up */

enum pager_counter {
	PC_MESSAGES,
	PC_ZERO,
	PC_EEXIST,
	PC_EAGAIN,
	PC_WOKEN,
	PC_DUPLICATE,
	PC_N,
};

struct pager {
	int uffd;
	int stop_fd; /* eventfd: the threads leave when it is readable */
	void *base;
	size_t size;
	uint64_t page_size;
	unsigned nthreads;
	pthread_t threads[PAGER_MAX_THREADS];
	struct uvma_mm *mm;
	uvma_pager_fill_fn fill; /* NULL: zeros */
	_Atomic uint64_t n[PC_N];
};

/* Each handler thread's page buffer for fill functions. */
static _Thread_local char *fill_buf;

/* One page of zeros, the source of every write fill. */
static const char zero_page[65536] __attribute__((aligned(65536)));

static void pager_count(struct pager *pg, enum pager_counter c)
{
	atomic_fetch_add_explicit(&pg->n[c], 1, memory_order_relaxed);
}

static void pager_wake(struct pager *pg, uint64_t addr)
{
	struct uffdio_range r = { .start = addr, .len = pg->page_size };

	/* Fails only for a range outside the registration: nothing sleeps
	 * there. */
	(void)ioctl(pg->uffd, UFFDIO_WAKE, &r);
}

/* A page from the fill function, copied in. */
static int fill_user(struct pager *pg, void *user, uint64_t addr)
{
	struct uffdio_copy c = { .dst = addr, .len = pg->page_size };
	int err;

	if (!fill_buf) {
		fill_buf = aligned_alloc(pg->page_size, pg->page_size);
		if (!fill_buf)
			return ENOMEM;
	}
	err = pg->fill(user, addr, fill_buf, pg->page_size);
	if (err)
		return -err;
	c.src = (uint64_t)(uintptr_t)fill_buf;
	return ioctl(pg->uffd, UFFDIO_COPY, &c) ? errno : 0;
}

/* One fill attempt: 0, or the errno of the ioctl. */
static int fill_once(struct pager *pg, void *user, uint64_t addr, bool write)
{
	if (pg->fill)
		return fill_user(pg, user, addr);
	if (write && pg->page_size <= sizeof(zero_page)) {
		struct uffdio_copy c = {
			.dst = addr,
			.src = (uint64_t)(uintptr_t)zero_page,
			.len = pg->page_size,
		};

		return ioctl(pg->uffd, UFFDIO_COPY, &c) ? errno : 0;
	}
	struct uffdio_zeropage z = {
		.range = { .start = addr, .len = pg->page_size },
	};

	return ioctl(pg->uffd, UFFDIO_ZEROPAGE, &z) ? errno : 0;
}

/*
 * The space's fault handler: runs with the area read-locked (or under
 * mmap_lock), so the area is the one the address belongs to now and cannot
 * be unmapped, moved or reprotected until we return (docs/design.md
 * section 9). A fill that finds the page present lost to another fill
 * (EEXIST): the waiter still needs waking. EAGAIN: the kernel's map is
 * changing; retried a bounded number of times.
 */
static int pager_fill(struct pager *pg, struct uvma_vma *vma, void *user,
		      uint64_t addr, bool write)
{
	int err = 0;

	(void)vma; /* for the test hook only */
	hook_run(HOOK_PAGER_FILL, pg->mm, vma);
	for (int i = 0; i < PAGER_EAGAIN_MAX; i++) {
		err = fill_once(pg, user, addr, write);
		if (err != EAGAIN)
			break;
		pager_count(pg, PC_EAGAIN);
		sched_yield();
	}
	if (!err) {
		pager_count(pg, PC_ZERO);
		return 0;
	}
	if (err == EEXIST) {
		pager_count(pg, PC_EEXIST);
		pager_wake(pg, addr);
		return 0;
	}
	return -err;
}

#ifdef UVMA_BROKEN_FILL_UNLOCKED
/* The historical mistake of hand-written pagers: look the area up under
 * the lock, fill after dropping it. */
static _Thread_local struct {
	bool pending;
	void *user;
	uint64_t addr;
	bool write;
} deferred_fill;
#endif

static int pager_fault(const struct uvma_fault *f)
{
	bool write = f->access & UVMA_ACCESS_WRITE;

#ifdef UVMA_BROKEN_FILL_UNLOCKED
	deferred_fill.pending = true;
	deferred_fill.user = f->user;
	deferred_fill.addr = f->addr;
	deferred_fill.write = write;
	return 0;
#else
	return pager_fill(f->arg, f->vma, f->user, f->addr, write);
#endif
}

/* A message's page, and whether this batch saw it already (one fill
 * wakes every thread waiting on the page). */
static bool seen_before(const uint64_t *pages, int n, uint64_t page)
{
	for (int i = 0; i < n; i++)
		if (pages[i] == page)
			return true;
	return false;
}

static void handle_batch(struct pager *pg, const struct uffd_msg *m, int n)
{
	uint64_t pages[PAGER_BATCH];

	for (int i = 0; i < n; i++) {
		uint64_t page;
		unsigned access;

		if (m[i].event != UFFD_EVENT_PAGEFAULT)
			continue;
		pager_count(pg, PC_MESSAGES);
		page = m[i].arg.pagefault.address & ~(pg->page_size - 1);
		pages[i] = page;
		if (seen_before(pages, i, page)) {
			pager_count(pg, PC_DUPLICATE);
			continue;
		}
		access = (m[i].arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE)
				 ? UVMA_ACCESS_WRITE
				 : UVMA_ACCESS_READ;
		/* No area there any more, or no right to this access: the
		 * faulting thread retries and meets the real protection
		 * (SIGSEGV) instead of sleeping for ever. */
		if (uvma_fault(pg->mm, page, access)) {
			pager_count(pg, PC_WOKEN);
			pager_wake(pg, page);
		}
#ifdef UVMA_BROKEN_FILL_UNLOCKED
		if (deferred_fill.pending) {
			deferred_fill.pending = false;
			(void)pager_fill(pg, NULL, deferred_fill.user,
					 deferred_fill.addr,
					 deferred_fill.write);
		}
#endif
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
	free(fill_buf);
	fill_buf = NULL;
	return NULL;
}

static int uffd_open(void)
{
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
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

static int pager_register(struct pager *pg)
{
	struct uffdio_register reg = {
		.range = { .start = (uint64_t)(uintptr_t)pg->base,
			   .len = pg->size },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
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

static void pager_free(struct pager *pg)
{
	if (pg->nthreads)
		pager_stop(pg);
	if (pg->uffd >= 0)
		close(pg->uffd);
	if (pg->stop_fd >= 0)
		close(pg->stop_fd);
	if (pg->base)
		munmap(pg->base, pg->size);
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

int pager_create(struct uvma_mm *mm, const struct uvma_mm_config *cfg)
{
	unsigned nthreads = cfg->pager_threads ? cfg->pager_threads : 1;
	struct pager *pg;
	int err;

	if ((long)cfg->page_size != sysconf(_SC_PAGESIZE) || cfg->fault ||
	    nthreads > PAGER_MAX_THREADS || cfg->size > SIZE_MAX)
		return -EINVAL;
	pg = calloc(1, sizeof(*pg));
	if (!pg)
		return -ENOMEM;
	pg->uffd = pg->stop_fd = -1;
	pg->size = (size_t)cfg->size;
	pg->page_size = cfg->page_size;
	pg->mm = mm;
	pg->fill = cfg->pager_fill;
	err = pager_reserve(pg, cfg->base);
	if (!err) {
		pg->uffd = uffd_open();
		err = pg->uffd < 0 ? pg->uffd : 0;
	}
	if (!err)
		err = pager_register(pg);
	if (!err) {
		pg->stop_fd = eventfd(0, EFD_CLOEXEC);
		err = pg->stop_fd < 0 ? -errno : 0;
	}
	if (!err)
		err = pager_start(pg, nthreads);
	if (err) {
		pager_free(pg);
		return err;
	}
	mm->pager = pg;
	mm->base = (uint64_t)(uintptr_t)pg->base;
	mm->end = mm->base + pg->size;
	mm->fault = pager_fault;
	mm->fault_arg = pg;
	return 0;
}

void pager_destroy(struct uvma_mm *mm)
{
	if (mm->pager)
		pager_free(mm->pager);
	mm->pager = NULL;
}

/* Threads first: no handler may run a fault while the space goes. */
void pager_quiesce(struct uvma_mm *mm)
{
	if (mm->pager && mm->pager->nthreads)
		pager_stop(mm->pager);
}

/* ---- keeping the real range in step with the map ------------------------ */

static void real_call(int ret)
{
	/* Our own reservation, page-aligned ranges: these cannot fail but
	 * for a bug. */
	UVMA_ASSERT(ret == 0);
	(void)ret;
}

void pager_sync(const struct plan *p)
{
	size_t i;

	/* Holes and new mappings start without pages (MAP_FIXED over a
	 * mapped range discards it); pieces of existing areas keep theirs. */
	for (i = 0; i < p->ned; i++) {
		const struct edit *e = &p->ed[i];
		void *at = (void *)(uintptr_t)e->start;

		if (e->area && e->area->src)
			continue;
		real_call(madvise(at, e->end - e->start, MADV_DONTNEED));
		if (!e->area)
			real_call(mprotect(at, e->end - e->start, PROT_NONE));
	}
	/* UVMA_PROT_* are PROT_*. */
	for (i = 0; i < p->nareas; i++) {
		const struct area *a = &p->areas[i];

		if (!a->kept)
			real_call(mprotect((void *)(uintptr_t)a->start,
					   a->end - a->start, (int)a->prot));
	}
}

void uvma_mm_pager_stats(struct uvma_mm *mm, struct uvma_pager_stats *out)
{
	struct pager *pg = mm->pager;

	memset(out, 0, sizeof(*out));
	if (!pg)
		return;
	out->messages =
		atomic_load_explicit(&pg->n[PC_MESSAGES], memory_order_relaxed);
	out->filled =
		atomic_load_explicit(&pg->n[PC_ZERO], memory_order_relaxed);
	out->eexist =
		atomic_load_explicit(&pg->n[PC_EEXIST], memory_order_relaxed);
	out->eagain =
		atomic_load_explicit(&pg->n[PC_EAGAIN], memory_order_relaxed);
	out->woken =
		atomic_load_explicit(&pg->n[PC_WOKEN], memory_order_relaxed);
	out->duplicate = atomic_load_explicit(&pg->n[PC_DUPLICATE],
					      memory_order_relaxed);
}
