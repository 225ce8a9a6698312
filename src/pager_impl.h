/*
 * pager_impl.h - what the pager's files share (pager.c: creation, handler
 * threads, counters; pager_fill.c: what fills a page; pager_sync.c: the
 * real range following the map, write-back, msync; pager_signal.c: SIGBUS
 * delivery). docs/design.md section 9.
 *
 * Who writes what: every field is set by pager_create before the space is
 * visible and read-only after, except files/file_writable (written under
 * mmap_lock for writing by uvma_mm_file_add, published by nfiles with
 * release; fills read nfiles with acquire first), nthreads (the creating
 * and destroying thread only) and the counters (relaxed atomics, written
 * by whoever handles a fault; statistics only).
 */
#ifndef UVMA_PAGER_IMPL_H
#define UVMA_PAGER_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "uvma.h"

#define PAGER_MAX_THREADS 64
#define PAGER_MAX_FILES	  256
#define PAGER_LAT_BUCKETS 256 /* 4 per power of two of nanoseconds */

enum pager_counter {
	PC_MESSAGES,
	PC_MISSING,
	PC_WP,
	PC_FILLED,
	PC_AROUND,
	PC_RETRIED,
	PC_EEXIST,
	PC_EAGAIN,
	PC_WOKEN,
	PC_ERRORS,
	PC_DUPLICATE,
	PC_WRITTEN,
	PC_MOVED,
	PC_N,
};

struct pager {
	int uffd;
	int stop_fd;	/* eventfd: the threads leave when it is readable */
	int pagemap_fd; /* /proc/self/pagemap: which pages are dirty */
	int mem_fd;	/* /proc/self/mem: pages the process cannot read */
	bool sigbus;	/* faults come as SIGBUS in the faulting thread */
	void *base;
	size_t size;
	uint64_t page_size;
	unsigned page_shift;
	size_t file_around, anon_around; /* bytes, whole pages */
	const void *zeros; /* UVMA_PAGER_AROUND_MAX bytes of zero pages */
	unsigned nthreads;
	pthread_t threads[PAGER_MAX_THREADS];
	struct uvma_mm *mm;
	uvma_pager_fill_fn fill; /* NULL: zeros */
	int files[PAGER_MAX_FILES];
	bool file_writable[PAGER_MAX_FILES];
	_Atomic unsigned nfiles;
	/* Set when uvma_mm_destroy begins (relaxed: only a debug check
	 * reads it, for a contract breach, not for ordering). */
	_Atomic bool destroying;
	_Atomic uint64_t n[PC_N];
	_Atomic uint64_t lat[PAGER_LAT_BUCKETS];
};

/* What the deliverer knows of the fault it hands to uvma_fault; the
 * space's fault handler (pager_fault) reads it. One per thread: a fault
 * is handled start to end by one thread. */
struct pager_delivery {
	bool wp;	/* a write-protect fault (handler threads know it) */
	bool in_signal; /* delivered by SIGBUS: the kind is unknown */
	int fill_err;	/* set by the handler: the fill failed (not the
			 * lookup), the thread must get SIGBUS */
};
extern _Thread_local struct pager_delivery pager_delivery
	__attribute__((tls_model("initial-exec")));

static inline void pager_count(struct pager *pg, enum pager_counter c)
{
	atomic_fetch_add_explicit(&pg->n[c], 1, memory_order_relaxed);
}

static inline void pager_count_n(struct pager *pg, enum pager_counter c,
				 uint64_t n)
{
	atomic_fetch_add_explicit(&pg->n[c], n, memory_order_relaxed);
}

/* Nanoseconds now (CLOCK_MONOTONIC; async-signal-safe). */
uint64_t pager_now_ns(void);
/* One fault's latency, from its delivery to now. */
void pager_latency(struct pager *pg, uint64_t t0);

/*
 * Deliver one fault at addr (the page) to the space: run uvma_fault with
 * the access, then settle what the result means for the thread that
 * faulted. Returns 0 (filled, or nothing to fill: the retry meets the real
 * protection), or the fill's negative errno (the thread must get SIGBUS).
 */
int pager_deliver(struct pager *pg, uint64_t addr, unsigned access, bool wp);

/* The space's fault handler (uvma_mm.fault): fill or unprotect. */
int pager_fault(const struct uvma_fault *f);

/* Wake threads waiting on the page at addr. */
void pager_wake(struct pager *pg, uint64_t addr);

/* The file of a file_id, or -1 (acquire: the slot was published), and
 * whether it was opened for writing. */
int pager_file_fd(struct pager *pg, uint64_t file_id);
bool pager_file_writable(struct pager *pg, uint64_t file_id);

/* Register [start, start + len) for missing and write-protect faults. */
int pager_register(struct pager *pg, uint64_t start, uint64_t len);

/* This thread's fill buffer of UVMA_PAGER_AROUND_MAX bytes, or NULL. */
void *pager_thread_buf(void);
/* Once per process, before any thread may need a buffer: 0 or -errno. */
int pager_buf_init(void);

/* SIGBUS delivery: add a space (installs the handler at the first), or
 * take it away. 0 or -errno. */
int pager_signal_add(struct pager *pg);
void pager_signal_remove(struct pager *pg);

/* Write the dirty pages of [start, end) of a shared file area back
 * (vma's file and offset); the caller keeps the area from changing. 0 or
 * -EIO. */
struct uvma_vma;
int pager_writeback(struct pager *pg, const struct uvma_vma *vma,
		    uint64_t start, uint64_t end);

/* Whether the area's pages are written back to a file. */
bool pager_vma_shared_file(const struct uvma_vma *vma);
bool pager_area_shared_file(const struct uvma_area_info *a);

#ifdef UVMA_BROKEN_FILL_UNLOCKED
/* The broken variant's fill, run after the area lock was dropped. */
int pager_fill_deferred(struct pager *pg);
#endif

#endif
