/*
 * pager_fill.c - what fills a missing page, and what a write to a clean
 * shared file page does (pager_impl.h; docs/design.md section 9).
 *
 * Locks: pager_fault is the space's fault handler: uvma_fault runs it with
 * the area read-locked (or under mmap_lock for reading), so the area is
 * the one the address belongs to now and cannot be unmapped, moved or
 * reprotected until it returns. Everything here runs inside that: a fill
 * lands only in the area it was looked up in.
 *
 * Fault-around: a missing fault fills the window of file_around (file
 * areas) or anon_around (anonymous ones) bytes around the page, aligned to
 * it and clipped to the area; pages already there are skipped (EEXIST).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "debug.h"
#include "hook.h"
#include "mm.h"
#include "pager_impl.h"
#include "vma.h"

#define PAGER_EAGAIN_MAX 100 /* fill attempts before giving up */

_Thread_local struct pager_delivery pager_delivery
	__attribute__((tls_model("initial-exec")));

/* ---- the per-thread fill buffer --------------------------------------- */

/* Initial-exec: reachable from a signal handler without the dynamic TLS
 * allocator. Mapped at first use, unmapped at thread exit. */
static _Thread_local void *thread_buf
	__attribute__((tls_model("initial-exec")));
static pthread_key_t buf_key;
static pthread_once_t buf_once = PTHREAD_ONCE_INIT;
static int buf_key_err;

static void buf_release(void *p)
{
	munmap(p, UVMA_PAGER_AROUND_MAX);
	thread_buf = NULL;
}

static void buf_make_key(void)
{
	buf_key_err = pthread_key_create(&buf_key, buf_release);
}

int pager_buf_init(void)
{
	pthread_once(&buf_once, buf_make_key);
	return -buf_key_err;
}

void *pager_thread_buf(void)
{
	void *p;

	if (thread_buf)
		return thread_buf;
	/* mmap, not malloc: this may run in a signal handler. */
	p = mmap(NULL, UVMA_PAGER_AROUND_MAX, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	thread_buf = p;
	pthread_setspecific(buf_key, p);
	return p;
}

/* ---- placing pages ----------------------------------------------------- */

struct placed {
	uint64_t pages;	    /* pages put in place */
	bool fault_present; /* the faulting page was there already */
};

/* One UFFDIO_COPY (src) or UFFDIO_ZEROPAGE (src NULL) of [pos, end):
 * 0 or errno; *done the bytes placed before an error. */
static int place_once(struct pager *pg, uint64_t pos, uint64_t end,
		      const char *src, uint64_t mode, int64_t *done)
{
	if (src) {
		struct uffdio_copy c = {
			.dst = pos,
			.src = (uint64_t)(uintptr_t)src,
			.len = end - pos,
			.mode = mode,
		};

		if (!ioctl(pg->uffd, UFFDIO_COPY, &c))
			return 0;
		*done = c.copy;
		return errno;
	}
	struct uffdio_zeropage z = { .range = { .start = pos,
						.len = end - pos } };

	if (!ioctl(pg->uffd, UFFDIO_ZEROPAGE, &z))
		return 0;
	*done = z.zeropage;
	return errno;
}

/*
 * Put [start, end) in place from src (the bytes of start; NULL: the zero
 * page). A page already present is skipped (another fill won, or it is the
 * write-protected page a write faulted on); a partial copy goes on after
 * the pages it placed; EAGAIN (the kernel's map is changing) is retried a
 * bounded number of times. 0 or a negative errno.
 */
static int place(struct pager *pg, uint64_t start, uint64_t end,
		 const char *src, uint64_t mode, uint64_t fault_page,
		 struct placed *out)
{
	uint64_t pos = start;
	int tries = 0;

	while (pos < end) {
		int64_t done = 0;
		int e = place_once(pg, pos, end,
				   src ? src + (pos - start) : NULL, mode,
				   &done);

		if (!e) {
			out->pages += (end - pos) >> pg->page_shift;
			return 0;
		}
		if (done > 0) {
			out->pages += (uint64_t)done >> pg->page_shift;
			pos += (uint64_t)done;
		} else if (e == EEXIST) {
			out->fault_present |= pos == fault_page;
			pos += pg->page_size;
		} else if (e == EAGAIN && ++tries < PAGER_EAGAIN_MAX) {
			pager_count(pg, PC_EAGAIN);
			sched_yield();
		} else {
			return -e;
		}
	}
	return 0;
}

/* ---- sources ------------------------------------------------------------ */

/* pread until len bytes or the end of the file: bytes read or -errno. */
static int64_t read_full(int fd, char *buf, uint64_t len, uint64_t off)
{
	uint64_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (uint64_t)n;
	}
	return (int64_t)got;
}

/*
 * Linux reads around a missing file page of a mapping (the device's
 * read-ahead, 128 KiB by default) and maps the fault-around part of it;
 * a plain pread reads only what it is asked. So when the window is not in
 * the page cache (a read that may not wait comes back short), the aligned
 * read-around span is asked for first, in one I/O, and the window is then
 * read from it: a cold random fault costs one read of the span, not one
 * per window. A warm window costs the one read that may not wait.
 */
#define READ_AROUND (128u << 10)

static int64_t read_window(int fd, char *buf, uint64_t len, uint64_t off)
{
	struct iovec v = { .iov_base = buf, .iov_len = len };
	uint64_t span = len > READ_AROUND ? len : READ_AROUND;
	ssize_t n = preadv2(fd, &v, 1, (off_t)off, RWF_NOWAIT);

	if (n == (ssize_t)len)
		return n;
	(void)posix_fadvise(fd, (off_t)(off - off % span), (off_t)span,
			    POSIX_FADV_WILLNEED);
	return read_full(fd, buf, len, off);
}

struct window {
	uint64_t start, end;
};

/* The aligned window of around bytes holding addr, inside the area. */
static struct window fault_window(const struct uvma_area_info *a, uint64_t addr,
				  size_t around)
{
	struct window w;

	w.start = addr - addr % around;
	w.end = w.start + around;
	if (w.start < a->start)
		w.start = a->start;
	if (w.end > a->end)
		w.end = a->end;
	return w;
}

bool pager_area_shared_file(const struct uvma_area_info *a)
{
	return (a->flags & UVMA_MAP_SHARED) && !(a->flags & UVMA_MAP_ANONYMOUS);
}

bool pager_vma_shared_file(const struct uvma_vma *vma)
{
	return (vma->flags & UVMA_MAP_SHARED) &&
	       !(vma->flags & UVMA_MAP_ANONYMOUS);
}

/* The file's bytes for w into buf; w shrinks to the pages the file has.
 * A faulting page wholly past the end of the file: -EFAULT (SIGBUS). */
static int read_file(struct pager *pg, const struct uvma_area_info *a,
		     struct window *w, uint64_t addr, char *buf)
{
	int fd = pager_file_fd(pg, a->file_id);
	uint64_t off = (a->pgoff << pg->page_shift) + (w->start - a->start);
	uint64_t len = w->end - w->start, end;
	int64_t n;

	if (fd < 0)
		return -EBADF;
	n = read_window(fd, buf, len, off);
	if (n < 0)
		return (int)n;
	if ((uint64_t)n <= addr - w->start)
		return -EFAULT;
	end = ((uint64_t)n + pg->page_size - 1) & ~(pg->page_size - 1);
	memset(buf + n, 0, end - (uint64_t)n);
	w->end = w->start + end;
	return 0;
}

/* The space's fill function for w, into buf. */
static int read_user(struct pager *pg, const struct uvma_area_info *a,
		     const struct window *w, char *buf)
{
	int err = pg->fill(a->user, w->start, buf, w->end - w->start);

	return err > 0 ? -EIO : err;
}

static int unprotect(struct pager *pg, uint64_t addr)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = addr, .len = pg->page_size },
		.mode = 0, /* and wake the writer */
	};

	return ioctl(pg->uffd, UFFDIO_WRITEPROTECT, &wp) ? -errno : 0;
}

/*
 * Fill the missing page at addr of area a and, with fault-around, its
 * neighbours. Shared file pages come in write-protected (clean) unless
 * the fault is the write that dirties the page.
 */
static int fill_missing(struct pager *pg, const struct uvma_area_info *a,
			uint64_t addr, bool write)
{
	bool file = !(a->flags & UVMA_MAP_ANONYMOUS);
	struct window w =
		fault_window(a, addr, file ? pg->file_around : pg->anon_around);
	struct placed out = { 0, false };
	const char *src = write ? pg->zeros : NULL;
	uint64_t mode =
		file && (a->flags & UVMA_MAP_SHARED) ? UFFDIO_COPY_MODE_WP : 0;
	int err = 0;

	if (file || pg->fill) {
		char *buf = pager_thread_buf();

		if (!buf)
			return -ENOMEM;
		err = file ? read_file(pg, a, &w, addr, buf)
			   : read_user(pg, a, &w, buf);
		src = buf;
	}
	if (!err)
		err = place(pg, w.start, w.end, src, mode, addr, &out);
	/* ENOENT: the window spans two kernel mappings (a moved area and its
	 * grown tail): the faulting page alone, which lies in one. */
	if (err == -ENOENT && w.end - w.start > pg->page_size)
		err = place(pg, addr, addr + pg->page_size,
			    src ? src + (addr - w.start) : NULL, mode, addr,
			    &out);
	if (err)
		return err;
	pager_count_n(pg, PC_FILLED, out.pages);
	/* Only when fault-around filled something: one shared line fewer
	 * per fault when it is off. */
	if (out.pages > !out.fault_present)
		pager_count_n(pg, PC_AROUND, out.pages - !out.fault_present);
	if (out.fault_present) {
		pager_count(pg, PC_EEXIST);
		pager_wake(pg, addr);
	} else if (mode && write) {
		err = unprotect(pg, addr);
	}
	return err;
}

static bool page_present(struct pager *pg, uint64_t addr)
{
	unsigned char v = 0;

	return !mincore((void *)(uintptr_t)addr, pg->page_size, &v) && (v & 1);
}

/* A write to a clean shared file page: it is dirty from now on. */
static int fill_wp(struct pager *pg, uint64_t addr)
{
	pager_count(pg, PC_WP);
	pager_delivery.fill_err = unprotect(pg, addr);
	return pager_delivery.fill_err;
}

#ifdef UVMA_BROKEN_FILL_UNLOCKED
/* The historical mistake of hand-written pagers: look the area up under
 * the lock, fill after dropping it (pager_fill_deferred). */
static _Thread_local struct {
	bool pending;
	struct uvma_area_info area;
	uint64_t addr;
	bool write;
} deferred;

int pager_fill_deferred(struct pager *pg)
{
	if (!deferred.pending)
		return 0;
	deferred.pending = false;
	hook_run(HOOK_PAGER_FILL, pg->mm, NULL);
	return fill_missing(pg, &deferred.area, deferred.addr, deferred.write);
}
#endif

int pager_populate(struct uvma_mm *mm, const struct uvma_vma *vma,
		   uint64_t start, uint64_t end, bool write)
{
	struct pager *pg = mm->pager;
	bool shared_file = pager_vma_shared_file(vma);
	struct uvma_area_info a;
	int err = 0;

	uvma_vma_info(vma, &a);
	for (uint64_t addr = start; !err && addr < end; addr += pg->page_size) {
		if (!page_present(pg, addr))
			err = fill_missing(pg, &a, addr, write);
		else if (write && shared_file)
			err = unprotect(pg, addr); /* dirty from now on */
	}
	return err;
}

/* Zero pages over [start, end), whatever a fill would put there (REMOVE:
 * the backing is gone). 0 or a negative errno. */
static int place_zeros(struct pager *pg, uint64_t start, uint64_t end)
{
	struct placed out = { 0, false };
	int err = place(pg, start, end, NULL, 0, start, &out);

	pager_count_n(pg, PC_FILLED, out.pages);
	return err;
}

int pager_advise(struct uvma_mm *mm, const struct uvma_vma *vma, uint64_t start,
		 uint64_t end, int advice)
{
	struct pager *pg = mm->pager;
	void *at = (void *)(uintptr_t)start;
	size_t len = end - start;
	bool shared = vma->flags & UVMA_MAP_SHARED;

	switch (advice) {
	case UVMA_MADV_DONTNEED:
	case UVMA_MADV_DONTNEED_LOCKED:
		if (shared)
			return 0;
		return madvise(at, len, MADV_DONTNEED) ? -errno : 0;
	case UVMA_MADV_FREE:
		return madvise(at, len, MADV_FREE) ? -errno : 0;
	case UVMA_MADV_REMOVE:
		if (pager_vma_shared_file(vma)) {
			int fd = pager_file_fd(pg, vma->file_id);
			uint64_t off = (vma->pgoff << pg->page_shift) +
				       (start - vma->start);

			if (fd < 0)
				return -EBADF;
			if (fallocate(fd,
				      FALLOC_FL_PUNCH_HOLE |
					      FALLOC_FL_KEEP_SIZE,
				      (off_t)off, (off_t)len))
				return -errno;
			return madvise(at, len, MADV_DONTNEED) ? -errno : 0;
		}
		if (madvise(at, len, MADV_DONTNEED))
			return -errno;
		return place_zeros(pg, start, end);
	default:
		return 0; /* hints: WILLNEED, COLD, PAGEOUT */
	}
}

int pager_fault(const struct uvma_fault *f)
{
	struct pager *pg = f->arg;
	bool write = f->access & UVMA_ACCESS_WRITE;
	struct uvma_area_info a;

	if (f->flags & UVMA_FAULT_MMAP_LOCKED)
		pager_count(pg, PC_RETRIED);
	if (pager_delivery.wp)
		return fill_wp(pg, f->addr);
	/* SIGBUS does not say which fault it was (and off x86 not even
	 * whether it was a write): a present shared file page can only
	 * have faulted for write protection, which only a write meets. */
	if (pager_delivery.in_signal && pager_vma_shared_file(f->vma) &&
	    (f->vma->prot & UVMA_PROT_WRITE) && page_present(pg, f->addr))
		return fill_wp(pg, f->addr);
	pager_count(pg, PC_MISSING);
	uvma_vma_info(f->vma, &a);
#ifdef UVMA_BROKEN_FILL_UNLOCKED
	deferred.pending = true;
	deferred.area = a;
	deferred.addr = f->addr;
	deferred.write = write;
	return 0;
#else
	hook_run(HOOK_PAGER_FILL, pg->mm, f->vma);
	pager_delivery.fill_err = fill_missing(pg, &a, f->addr, write);
	return pager_delivery.fill_err;
#endif
}
