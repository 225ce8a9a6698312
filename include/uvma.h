/*
 * uvma.h - the public interface of uvma, a userspace address space with
 * Linux's per-VMA locking (see README.md and docs/).
 *
 * Conventions, for every call in this header:
 * - Results are 0 (or a non-negative value where said) on success, or a
 *   negative errno. uvma_strerror() turns one into a message.
 * - Handles are opaque and come in create/destroy pairs; the creator owns
 *   what create returns until it passes it to destroy.
 * - Each function's comment states its locking and RCU context.
 */
#ifndef UVMA_H
#define UVMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UVMA_VERSION_MAJOR 0
#define UVMA_VERSION_MINOR 1
#define UVMA_VERSION_PATCH 0

/*
 * The library's version as "MAJOR.MINOR.PATCH". Any context; the string is
 * static and owned by the library.
 */
const char *uvma_version(void);

/*
 * A message for a result of a uvma call: err is 0 or a negative errno (a
 * positive errno is accepted too). Any context; the string is static and
 * owned by the library, never NULL.
 */
const char *uvma_strerror(int err);

/*
 * Address spaces and areas
 * ========================
 *
 * A struct uvma_mm is an address space: a map of areas (VMAs) over a window
 * of addresses. Every area has a range [start, end), a protection, flags and
 * a page offset, like a Linux VMA. Faults look areas up without any lock
 * shared by the whole space: each takes a read lock on the one area it hits
 * (Linux's per-VMA lock); threads that change the map hold the space's
 * mmap_lock for writing and write-lock each area they change.
 *
 * Threads need no registration: uvma registers a thread with RCU (liburcu)
 * the first time it calls in and unregisters it when it exits.
 */

/* Protections, with the values of PROT_* on Linux. */
#define UVMA_PROT_NONE	0x0
#define UVMA_PROT_READ	0x1
#define UVMA_PROT_WRITE 0x2
#define UVMA_PROT_EXEC	0x4

/* Area flags, with the values of MAP_* on Linux. */
#define UVMA_MAP_SHARED	   0x01
#define UVMA_MAP_PRIVATE   0x02
#define UVMA_MAP_ANONYMOUS 0x20

/* Kinds of access a fault reports (one or more). */
#define UVMA_ACCESS_READ  0x1
#define UVMA_ACCESS_WRITE 0x2
#define UVMA_ACCESS_EXEC  0x4

struct uvma_mm;
struct uvma_vma;

/* A copy of an area's description. */
struct uvma_area_info {
	uint64_t start;	  /* first address */
	uint64_t end;	  /* one past the last address */
	unsigned prot;	  /* UVMA_PROT_* */
	unsigned flags;	  /* UVMA_MAP_* */
	uint64_t pgoff;	  /* page offset: in the file, or start / page size
			   * at creation for anonymous areas */
	uint64_t file_id; /* the backing file's id (0 when anonymous) */
	void *user;	  /* the caller's pointer, given when mapping */
};

/* What a fault handler is told. */
struct uvma_fault {
	struct uvma_mm *mm;
	struct uvma_vma *vma; /* the area, read-locked or under mmap_lock */
	uint64_t addr;	      /* the faulting address */
	unsigned access;      /* UVMA_ACCESS_* */
	unsigned flags;	      /* UVMA_FAULT_MMAP_LOCKED or 0 */
	void *user;	      /* the area's user pointer */
	void *arg;	      /* the address space's fault_arg */
};

/* Set in uvma_fault.flags when the handler runs under mmap_lock (read). */
#define UVMA_FAULT_MMAP_LOCKED 0x1
/* A handler's result asking to be run again under mmap_lock. */
#define UVMA_FAULT_RETRY 1

/*
 * A fault handler. It runs with only the area's read lock held (or, when
 * flags has UVMA_FAULT_MMAP_LOCKED, with mmap_lock held for reading); the
 * area cannot change or go away while it runs. It must not call anything
 * that takes mmap_lock of the same space (a writer waiting for this very
 * reader would deadlock with it). It returns 0 (handled), UVMA_FAULT_RETRY
 * (only without UVMA_FAULT_MMAP_LOCKED: "run me again under mmap_lock", as
 * Linux's VM_FAULT_RETRY), or a negative errno that uvma_fault() passes on.
 */
typedef int (*uvma_fault_fn)(const struct uvma_fault *f);

/* How to build an address space. */
struct uvma_mm_config {
	uint64_t base;	     /* lowest address areas may use */
	uint64_t size;	     /* size of the window [base, base + size) */
	uint64_t page_size;  /* a power of two, at least 4096 */
	uvma_fault_fn fault; /* handler of every area of the space (per-area
			      * behaviour hangs off the area's user
			      * pointer); NULL: faults that pass the
			      * protection check just succeed */
	void *fault_arg;     /* passed to the handler as uvma_fault.arg */
};

/*
 * Fill cfg with the defaults: 4096-byte pages and the window of a 47-bit
 * Linux user space, [0x10000, 0x7ffffffff000) (65536 is Linux's default
 * vm.mmap_min_addr). Any context.
 */
void uvma_mm_config_init(struct uvma_mm_config *cfg);

/*
 * Create an empty address space. cfg may be NULL for the defaults. Any
 * context except an RCU read-side section of the caller's own making.
 * Returns 0 and *out, owned by the caller until uvma_mm_destroy();
 * -EINVAL for a page size that is not a power of two >= 4096, or a window
 * that is empty, unaligned to the page size or wraps; -ENOMEM.
 */
int uvma_mm_create(const struct uvma_mm_config *cfg, struct uvma_mm **out);

/*
 * Destroy an address space: detach and free every area, then the space.
 * The caller guarantees that no other thread uses mm any more (no fault,
 * no lock, no map change is running or will start on it), as Linux
 * guarantees for exit_mmap(). Must not be called from a fault handler or
 * with an area lock held. NULL is ignored.
 */
void uvma_mm_destroy(struct uvma_mm *mm);

/*
 * Handle a fault at addr with the given access (UVMA_ACCESS_*), the way a
 * Linux page fault runs: find the area and read-lock it under RCU, check
 * the access against its protection, and call the fault handler with only
 * that lock held; when the area cannot be locked at once (a writer holds
 * it, it is being removed, or too many readers), fall back to taking
 * mmap_lock for reading. Any thread; may sleep only in the fallback.
 * Returns 0, -EFAULT (no area covers addr: Linux's SEGV_MAPERR), -EACCES
 * (the protection forbids the access: SEGV_ACCERR), -EINVAL (access empty
 * or unknown bits), or the handler's negative errno.
 */
int uvma_fault(struct uvma_mm *mm, uint64_t addr, unsigned access);

/*
 * Read-lock the area covering addr without taking mmap_lock (the lock
 * under RCU). Returns the area, read-locked: it will not change or go away
 * until uvma_vma_unlock(). Returns NULL when the area could not be locked
 * at once or no area covers addr: the caller then falls back to
 * uvma_mm_read_lock() and uvma_vma_find(). Never sleeps. The caller must
 * not take mmap_lock of mm while holding the area.
 */
struct uvma_vma *uvma_vma_lock(struct uvma_mm *mm, uint64_t addr);

/*
 * Read-lock the area covering addr, falling back to mmap_lock when the fast
 * path fails; returns with only the area's read lock held (mmap_lock is
 * released again). May sleep. Returns 0 and *out, -EFAULT when no area
 * covers addr, -EAGAIN when the area has the maximum number of readers
 * (about 2^30).
 */
int uvma_vma_get(struct uvma_mm *mm, uint64_t addr, struct uvma_vma **out);

/* Drop a read lock from uvma_vma_lock() or uvma_vma_get(). Never sleeps. */
void uvma_vma_unlock(struct uvma_vma *vma);

/*
 * Copy an area's description into *out. The caller holds the area's read
 * lock, or mmap_lock of its space.
 */
void uvma_vma_info(const struct uvma_vma *vma, struct uvma_area_info *out);

/*
 * mmap_lock for reading: uvma_mm_read_lock() may sleep until a writer is
 * done (writers and readers are served fairly). Do not call it while
 * holding an area lock of the same space.
 */
void uvma_mm_read_lock(struct uvma_mm *mm);
void uvma_mm_read_unlock(struct uvma_mm *mm);

/*
 * The area covering addr, or NULL. The caller holds mmap_lock (read or
 * write); the area stays valid until the caller releases it.
 */
struct uvma_vma *uvma_vma_find(struct uvma_mm *mm, uint64_t addr);

/* Counters of the fault path, as Linux's vma_lock_* events. */
struct uvma_fault_stats {
	uint64_t success;  /* faults handled under the area's read lock */
	uint64_t abort;	   /* lock under RCU failed: fell back to mmap_lock */
	uint64_t retry;	   /* handler asked to run again under mmap_lock */
	uint64_t miss;	   /* the area found was stale: looked up again */
	uint64_t fallback; /* faults handled under mmap_lock */
};

/*
 * Sum the fault counters of mm over all threads. Any thread, no lock; the
 * sum is exact once the counted faults have returned.
 */
void uvma_mm_fault_stats(struct uvma_mm *mm, struct uvma_fault_stats *out);

#ifdef __cplusplus
}
#endif

#endif
