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

/*
 * Every call of the library carries UVMA_API: the library is built with
 * hidden visibility, so these are all that libuvma.so exports. The calls
 * that create an object or change the map are marked so that ignoring
 * their result is a compiler warning (UVMA_MUST_CHECK); uvma_fault and
 * uvma_maps are not, since callers that count or ignore faults are common.
 */
#if defined(__GNUC__) || defined(__clang__)
#define UVMA_API	__attribute__((visibility("default")))
#define UVMA_MUST_CHECK __attribute__((warn_unused_result))
#else
#define UVMA_API
#define UVMA_MUST_CHECK
#endif

#define UVMA_VERSION_MAJOR 0
#define UVMA_VERSION_MINOR 1
#define UVMA_VERSION_PATCH 0

/*
 * The library's version as "MAJOR.MINOR.PATCH". Any context; the string is
 * static and owned by the library.
 */
UVMA_API const char *uvma_version(void);

/*
 * A message for a result of a uvma call: err is 0 or a negative errno (a
 * positive errno is accepted too). Any context; the string is static and
 * owned by the library, never NULL.
 */
UVMA_API const char *uvma_strerror(int err);

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

/* Area flags and uvma_mmap flags, with the values of MAP_* on Linux. Areas
 * carry SHARED or PRIVATE, and ANONYMOUS when no file backs them. */
#define UVMA_MAP_SHARED		 0x01
#define UVMA_MAP_PRIVATE	 0x02
#define UVMA_MAP_FIXED		 0x10
#define UVMA_MAP_ANONYMOUS	 0x20
#define UVMA_MAP_GROWSDOWN	 0x0100
#define UVMA_MAP_LOCKED		 0x2000
#define UVMA_MAP_NORESERVE	 0x4000
#define UVMA_MAP_POPULATE	 0x8000
#define UVMA_MAP_FIXED_NOREPLACE 0x100000

/*
 * Hidden area flags (uvma_area_info.vm_flags): set by uvma_madvise,
 * uvma_mlock, uvma_mlockall and uvma_mseal, and the accounting flags by
 * uvma_mmap and uvma_mprotect; invisible in the map's protection but part
 * of what keeps two areas apart, as Linux's VM_* flags. The comment gives
 * the code /proc/PID/smaps prints for each on its VmFlags line.
 */
#define UVMA_VM_LOCKED	    0x0001 /* lo: uvma_mlock */
#define UVMA_VM_LOCKONFAULT 0x0002 /* lf: UVMA_MLOCK_ONFAULT */
#define UVMA_VM_DONTCOPY    0x0004 /* dc: MADV_DONTFORK */
#define UVMA_VM_WIPEONFORK  0x0008 /* wf: MADV_WIPEONFORK */
#define UVMA_VM_DONTDUMP    0x0010 /* dd: MADV_DONTDUMP */
#define UVMA_VM_HUGEPAGE    0x0020 /* hg: MADV_HUGEPAGE */
#define UVMA_VM_NOHUGEPAGE  0x0040 /* nh: MADV_NOHUGEPAGE */
#define UVMA_VM_MERGEABLE   0x0080 /* mg: MADV_MERGEABLE */
#define UVMA_VM_SEQ_READ    0x0100 /* sr: MADV_SEQUENTIAL */
#define UVMA_VM_RAND_READ   0x0200 /* rr: MADV_RANDOM */
#define UVMA_VM_SEALED	    0x0400 /* sl: uvma_mseal */
/* Commit accounting, as Linux's with overcommit allowed (its default): a
 * private writable mapping is charged (VM_ACCOUNT) unless mapped with
 * UVMA_MAP_NORESERVE (VM_NORESERVE); uvma charges nothing, it only keeps
 * the flags, which decide merges. */
#define UVMA_VM_ACCOUNT	  0x0800 /* ac */
#define UVMA_VM_NORESERVE 0x1000 /* nr: UVMA_MAP_NORESERVE */

/* uvma_madvise advice, with the values of MADV_* on Linux. */
#define UVMA_MADV_NORMAL	  0
#define UVMA_MADV_RANDOM	  1
#define UVMA_MADV_SEQUENTIAL	  2
#define UVMA_MADV_WILLNEED	  3
#define UVMA_MADV_DONTNEED	  4
#define UVMA_MADV_FREE		  8
#define UVMA_MADV_REMOVE	  9
#define UVMA_MADV_DONTFORK	  10
#define UVMA_MADV_DOFORK	  11
#define UVMA_MADV_MERGEABLE	  12
#define UVMA_MADV_UNMERGEABLE	  13
#define UVMA_MADV_HUGEPAGE	  14
#define UVMA_MADV_NOHUGEPAGE	  15
#define UVMA_MADV_DONTDUMP	  16
#define UVMA_MADV_DODUMP	  17
#define UVMA_MADV_WIPEONFORK	  18
#define UVMA_MADV_KEEPONFORK	  19
#define UVMA_MADV_COLD		  20
#define UVMA_MADV_PAGEOUT	  21
#define UVMA_MADV_POPULATE_READ	  22
#define UVMA_MADV_POPULATE_WRITE  23
#define UVMA_MADV_DONTNEED_LOCKED 24

/* uvma_mlock and uvma_mlockall flags, Linux's MLOCK_* and MCL_*. */
#define UVMA_MLOCK_ONFAULT 0x1
#define UVMA_MCL_CURRENT   0x1
#define UVMA_MCL_FUTURE	   0x2
#define UVMA_MCL_ONFAULT   0x4

/* uvma_mremap flags, with the values of MREMAP_* on Linux. */
#define UVMA_MREMAP_MAYMOVE   0x1
#define UVMA_MREMAP_FIXED     0x2
#define UVMA_MREMAP_DONTUNMAP 0x4

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
	/* Private areas written to (uvma_fault with UVMA_ACCESS_WRITE): not 0,
	 * and equal for areas of one space that share Linux's anon_vma; bit 0
	 * set when it came through uvma_mm_dup. 0 for untouched and shared
	 * areas. Values may be renumbered (equal ones staying equal) after
	 * 2^31 first writes in one space. */
	uint32_t anon;
	unsigned vm_flags; /* UVMA_VM_* */
	void *user;	   /* the caller's pointer, given when mapping */
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
	uint64_t brk_start;  /* where the heap of uvma_brk() starts, page
			      * aligned, inside the window; 0: no heap
			      * (uvma_brk fails with -ENOMEM) */
	unsigned flags;	     /* UVMA_MM_* */
	unsigned
		pager_threads; /* UVMA_MM_PAGER: fault handler threads
				* (0: one; ignored with UVMA_MM_PAGER_SIGBUS) */
	/* UVMA_MM_PAGER: fault-around, in bytes (rounded to pages, at most
	 * UVMA_PAGER_AROUND_MAX): a missing-page fault fills up to this much
	 * of the area around the page, aligned to it, in one go (Linux's
	 * fault_around_bytes). 0 is the default: 64 KiB for file areas, one
	 * page (off) for anonymous ones; the page size turns it off. */
	uint32_t pager_file_around;
	uint32_t pager_anon_around;
	/* UVMA_MM_PAGER: fills a missing page of an anonymous area from the
	 * area's user pointer (NULL: zeros); see uvma_pager_fill_fn below. */
	int (*pager_fill)(void *user, uint64_t addr, void *page, size_t len);
	/* UVMA_MAP_GROWSDOWN areas (stacks): the most one may grow to, in
	 * bytes (Linux's RLIMIT_STACK; 0: 8 MiB), and the room a growth
	 * keeps from an accessible area below it, which mmap's placement
	 * keeps free too (Linux's stack_guard_gap; 0: 256 pages). */
	uint64_t stack_limit;
	uint64_t stack_guard_gap;
};

/*
 * A pager's fill function: write the len bytes at addr (page aligned, len
 * a multiple of the page size: one page, or more with fault-around) into
 * page, for the anonymous area whose user pointer is user. It runs with
 * only that area's read lock held (the area cannot change or go away
 * meanwhile): in a handler thread, or with UVMA_MM_PAGER_SIGBUS in a
 * signal handler of the faulting thread (it must then not take locks the
 * faulting code may hold, nor touch missing pages of the space). It must
 * not call the same space's map operations. Returns 0, or a negative
 * errno: the page stays missing and the faulting thread gets SIGBUS with
 * si_addr the faulting address, as a Linux thread does when a file page
 * cannot be read (si_code BUS_ADRERR with UVMA_MM_PAGER_SIGBUS; SI_QUEUE
 * from a handler thread, which the kernel does not let queue a fault's
 * code); the access is retried if the signal handler returns.
 */
typedef int (*uvma_pager_fill_fn)(void *user, uint64_t addr, void *page,
				  size_t len);

/*
 * UVMA_MM_PAGER: real memory behind the window. uvma_mm_create reserves a
 * range of the process (at base, or where the kernel chooses when base is
 * 0) of size bytes, and the space's window becomes that range: addresses
 * of areas are real addresses, and ordinary loads and stores by any thread
 * touch them. What fills a missing page, per area:
 *   - anonymous areas (private or shared; shared ones behave as private
 *     ones, since one space has no second process to share with): zeros
 *     (the zero page on a read), or the space's pager_fill function;
 *   - file areas (a file_id from uvma_mm_file_add): the file's bytes at
 *     the area's offset; a page wholly past the end of the file is SIGBUS,
 *     the part of the last page past it reads as zeros. MAP_PRIVATE areas
 *     are private copies. MAP_SHARED areas are written back to the file:
 *     their pages are write-protected when filled, a write marks a page
 *     dirty, and uvma_msync, uvma_munmap (and whatever else removes the
 *     pages: MAP_FIXED, a shrink) and uvma_mm_destroy write the dirty pages
 *     back. Two shared mappings of the same file page in one space are
 *     separate copies until written back (Linux shares one page).
 * The real protection follows the area's (uvma_mprotect); an unmapped
 * range is inaccessible (SIGSEGV); MAP_FIXED over pages discards them;
 * uvma_mremap moves the pages with their contents (a second mapping of a
 * shared area, old_len 0, fails with -EOPNOTSUPP).
 *
 * The guarantee: a page is filled only while the area it was looked up in
 * is read-locked (uvma_fault), so a fill can never land in a range that
 * was unmapped, remapped or protected differently since the lookup: a map
 * change write-locks the areas it changes, and detaches removed ones
 * (waiting out their fills) before it discards their pages.
 *
 * Faults are delivered by pager_threads handler threads reading
 * userfaultfd in batches, or, with UVMA_MM_PAGER_SIGBUS, in the faulting
 * thread itself: a SIGBUS handler runs the fault path and returns, and the
 * access is retried (no context switch). That handler is installed at the
 * first such space and passes signals for other addresses to the handler
 * that was there before: install your own SIGBUS handler first. With
 * SIGBUS delivery, a system call that touches a missing page of the space
 * (read(2) into it, say) fails with EFAULT instead of waiting for the page,
 * as userfaultfd's SIGBUS mode does.
 *
 * page_size must be the system's and fault NULL (the pager is the space's
 * handler). Needs userfaultfd (root, or vm.unprivileged_userfaultfd):
 * -EPERM otherwise. No thread may touch the range once uvma_mm_destroy has
 * started (debug builds check it); it writes back dirty shared pages, then
 * unmaps the range.
 */
#define UVMA_MM_PAGER 0x1
/* With UVMA_MM_PAGER: deliver faults in the faulting thread (SIGBUS). */
#define UVMA_MM_PAGER_SIGBUS 0x2
/*
 * No zero page: a read fault (uvma_fault, MADV_POPULATE_READ, mlock's
 * populate of an area it does not write) in a private anonymous area
 * allocates a page, so the area gets its anon_vma tag as a write fault
 * gives it, and the tag decides its later merges. Without the flag a read
 * maps Linux's shared zero page and leaves the area untouched. Linux does
 * the same where the zero page is forbidden (mm_forbids_zeropage: s390
 * KVM guests) or turned off by the kernel's boot options; model the kernel
 * you compare with (uvma-kernel-replay --probe says which).
 */
#define UVMA_MM_NO_ZERO_PAGE 0x4
/* The largest fault-around (pager_file_around, pager_anon_around). */
#define UVMA_PAGER_AROUND_MAX (256u << 10)

/*
 * Fill cfg with the defaults: 4096-byte pages and the window of a 47-bit
 * Linux user space, [0x10000, 0x7ffffffff000) (65536 is Linux's default
 * vm.mmap_min_addr). Any context.
 */
UVMA_API void uvma_mm_config_init(struct uvma_mm_config *cfg);

/*
 * Create an empty address space. cfg may be NULL for the defaults. Any
 * context except an RCU read-side section of the caller's own making.
 * Returns 0 and *out, owned by the caller until uvma_mm_destroy();
 * -EINVAL for a page size that is not a power of two >= 4096, or a window
 * that is empty, unaligned to the page size or wraps; -ENOMEM.
 */
UVMA_API UVMA_MUST_CHECK int uvma_mm_create(const struct uvma_mm_config *cfg,
					    struct uvma_mm **out);

/*
 * Destroy an address space: detach and free every area, then the space.
 * The caller guarantees that no other thread uses mm any more (no fault,
 * no lock, no map change is running or will start on it), as Linux
 * guarantees for exit_mmap(). Must not be called from a fault handler or
 * with an area lock held. NULL is ignored. It never waits for an RCU grace
 * period, so it may run inside an RCU read-side section; the map's last
 * retired tree nodes go back to the library's node pool from liburcu's
 * callback thread afterwards. Tree nodes and VMA objects come from pools
 * that grow to the most the process held at once and are never returned
 * to the system (docs/tree.md, "Memory"). A program that unloads
 * libuvma.so (dlclose) must first wait for those callbacks (liburcu's
 * rcu_barrier) after its last destroy; the pools' memory stays mapped.
 */
UVMA_API void uvma_mm_destroy(struct uvma_mm *mm);

/*
 * What uvma_mm_dup copies besides the map. copy runs once per area of the
 * parent, in address order, with the parent's mmap_lock held for writing
 * and that area write-locked: no fault runs in it until the dup returns,
 * so what its faults built (filled pages, a guest page table hanging off
 * the user pointer) holds still while copy copies it. parent describes the
 * area; *child_user is the child's area's user pointer, the parent's
 * until copy sets another. copy returns 0, or a negative errno that fails
 * the dup. undo runs, when a dup fails, for every child_user a successful
 * copy produced (NULL: nothing to undo). Neither may call into either
 * address space.
 */
struct uvma_dup_ops {
	int (*copy)(const struct uvma_area_info *parent, void **child_user,
		    void *arg);
	void (*undo)(void *child_user, void *arg);
	void *arg;
};

/*
 * Duplicate an address space, as Linux's fork duplicates a process's map
 * (dup_mmap). *out receives a new space with mm's window, page size, fault
 * handler and fault_arg, heap, and a copy of every area (start, end,
 * protection, flags, offset, file, user pointer; anonymous shared areas
 * stay one mapping in both, as after fork), except as Linux's fork: an
 * area with UVMA_VM_DONTCOPY (MADV_DONTFORK) is not copied (copy never
 * sees it), one with UVMA_VM_WIPEONFORK comes out untouched, no area is
 * locked and uvma_mlockall's MCL_FUTURE is not inherited. The map is
 * copied whole, node by node, not area by area.
 * Locking: takes mm's mmap_lock for writing for the whole copy and
 * write-locks each area of mm before copying it (Linux since 6.4.x: a
 * fault that ran in an area after the area was copied was lost to the
 * child). A fault in mm during the copy falls back to mmap_lock and waits
 * for the dup to end; faults elsewhere and in other spaces go on. Any
 * thread, not from a fault handler or with an area lock of mm held. ops
 * may be NULL (user pointers are copied as they are).
 * Returns 0; -EINVAL (mm or out NULL); -EOPNOTSUPP (a UVMA_MM_PAGER space:
 * duplicating its real memory is not built); -ENOMEM; or copy's error.
 * On error mm is as it was and nothing is left allocated. The child is
 * the caller's, to uvma_mm_destroy.
 */
UVMA_API UVMA_MUST_CHECK int uvma_mm_dup(struct uvma_mm *mm,
					 const struct uvma_dup_ops *ops,
					 struct uvma_mm **out);

/*
 * Handle a fault at addr with the given access (UVMA_ACCESS_*), the way a
 * Linux page fault runs: find the area and read-lock it under RCU, check
 * the access against its protection, and call the fault handler with only
 * that lock held; when the area cannot be locked at once (a writer holds
 * it, it is being removed, or too many readers), fall back to taking
 * mmap_lock for reading. When no area covers addr and the one above it is
 * a stack (UVMA_MAP_GROWSDOWN), the fallback takes mmap_lock for writing
 * and grows the stack down to addr's page (as Linux since 6.5), unless it
 * would then be larger than the space's stack_limit, come within
 * stack_guard_gap of an accessible area below, or need a page offset below
 * 0 (then -EFAULT, nothing changed but the stack's first-write tag); the
 * access is checked after the growth.
 * The first write to a private area gives it anonymous memory, as Linux's
 * first write fault gives it an anon_vma (uvma_area_info.anon): shared
 * with a neighbour that could later merge with it, else new. That needs
 * mmap_lock for reading, which the locked path only tries to take (it
 * falls back when a map change holds it, as Linux); the growth of a stack
 * does the same. From then on, which areas merge and how a moved area's
 * offset goes follow Linux (docs/semantics.md, "Touched memory").
 * Any thread; may sleep only in the fallback.
 * Returns 0, -EFAULT (no area covers addr: Linux's SEGV_MAPERR), -EACCES
 * (the protection forbids the access: SEGV_ACCERR), -EIO (the page lies
 * past the end of an anonymous shared mapping's object, which a growth by
 * uvma_mremap leaves: Linux's SIGBUS), -EINVAL (access empty or unknown
 * bits), -ENOMEM (a stack's growth or the first write could not allocate;
 * the map is unchanged), or the handler's negative errno.
 */
UVMA_API int uvma_fault(struct uvma_mm *mm, uint64_t addr, unsigned access);

/*
 * Read-lock the area covering addr without taking mmap_lock (the lock
 * under RCU). Returns the area, read-locked: it will not change or go away
 * until uvma_vma_unlock(). Returns NULL when the area could not be locked
 * at once or no area covers addr: the caller then falls back to
 * uvma_mm_read_lock() and uvma_vma_find(). Never sleeps. The caller must
 * not take mmap_lock of mm while holding the area.
 */
UVMA_API struct uvma_vma *uvma_vma_lock(struct uvma_mm *mm, uint64_t addr);

/*
 * Read-lock the area covering addr, falling back to mmap_lock when the fast
 * path fails; returns with only the area's read lock held (mmap_lock is
 * released again). May sleep. Returns 0 and *out, -EFAULT when no area
 * covers addr, -EAGAIN when the area has the maximum number of readers
 * (about 2^30).
 */
UVMA_API UVMA_MUST_CHECK int uvma_vma_get(struct uvma_mm *mm, uint64_t addr,
					  struct uvma_vma **out);

/* Drop a read lock from uvma_vma_lock() or uvma_vma_get(). Never sleeps. */
UVMA_API void uvma_vma_unlock(struct uvma_vma *vma);

/*
 * Copy an area's description into *out. The caller holds the area's read
 * lock, or mmap_lock of its space.
 */
UVMA_API void uvma_vma_info(const struct uvma_vma *vma,
			    struct uvma_area_info *out);

/*
 * mmap_lock for reading: uvma_mm_read_lock() may sleep until a writer is
 * done (writers and readers are served fairly). Do not call it while
 * holding an area lock of the same space.
 */
UVMA_API void uvma_mm_read_lock(struct uvma_mm *mm);
UVMA_API void uvma_mm_read_unlock(struct uvma_mm *mm);

/*
 * The area covering addr, or NULL. The caller holds mmap_lock (read or
 * write); the area stays valid until the caller releases it.
 */
UVMA_API struct uvma_vma *uvma_vma_find(struct uvma_mm *mm, uint64_t addr);

/*
 * Map changes
 * ===========
 *
 * Each takes mmap_lock of mm for writing (so it may sleep, and must not be
 * called from a fault handler or with an area lock of mm held), validates
 * its arguments first, and returns 0 or the negative errno Linux returns for
 * the same call. A failed call leaves the map exactly as it was, except
 * where Linux itself stops half-way: uvma_mprotect, uvma_madvise,
 * uvma_mlock and uvma_munlock over a hole or an area that refuses the
 * change (the areas before it are changed; madvise goes on past holes),
 * and two uvma_mremap FIXED cases whose destination
 * is unmapped before the failure (a duplicate, old_len 0, onto a range
 * covering the old address: -EFAULT; a shrink whose old tail leaves the
 * window: -EINVAL). Faults run
 * concurrently: only the areas a call changes are write-locked, each where
 * it changes.
 *
 * Areas merge as on Linux: adjacent areas with the same protection, flags,
 * file and user pointer merge when their page offsets are contiguous
 * (anonymous private areas have pgoff = start / page size at creation, and
 * keep it when moved while untouched); anonymous shared areas never merge
 * (Linux backs each with its own shmem file).
 */

/*
 * Map len bytes (rounded up to pages). flags: exactly one of
 * UVMA_MAP_SHARED / UVMA_MAP_PRIVATE, plus UVMA_MAP_ANONYMOUS (file_id and
 * offset then only checked, as Linux checks them) or a file (file_id != 0:
 * the caller's name for it; offset: the file offset, page aligned), plus
 * UVMA_MAP_FIXED (at addr exactly, unmapping what was there in the same
 * step) or UVMA_MAP_FIXED_NOREPLACE (at addr exactly, -EEXIST if anything is
 * there); without them addr is a hint, used when the range is free, else
 * the highest free range of the window is taken (top-down), never the
 * guard gap below a stack. After uvma_mlockall(UVMA_MCL_FUTURE) the area
 * is locked and faulted in (uvma_mlock); UVMA_MAP_LOCKED locks it too
 * (UVMA_VM_LOCKED) and UVMA_MAP_POPULATE only faults it in, as Linux's
 * populate after mmap (errors ignored). A private writable area gets
 * UVMA_VM_ACCOUNT, unless UVMA_MAP_NORESERVE, which gives UVMA_VM_NORESERVE
 * instead (nothing is charged: the flags only keep areas apart, as Linux's
 * do). UVMA_MAP_GROWSDOWN (private anonymous
 * areas only, not in a pager space) makes a stack: a write or read fault below
 * it grows it down to the faulting page (uvma_fault). user is the area's
 * user pointer. *out receives the address.
 * Errors: -EINVAL (len 0, unaligned addr with FIXED, unaligned offset,
 * unknown flags or prot bits, not exactly one of SHARED/PRIVATE,
 * GROWSDOWN on shared or file memory), -EOPNOTSUPP (GROWSDOWN in a pager
 * space), -ENOMEM
 * (no room, len rounding overflows, FIXED outside the window, out of
 * memory), -EEXIST (FIXED_NOREPLACE over a mapping), -EBADF (no
 * file_id for a file mapping), -EOVERFLOW (offset + len overflows),
 * -EPERM (UVMA_MAP_LOCKED with a memlock limit of 0, or a sealed area in
 * a FIXED range), -EAGAIN (a locked new area past the memlock limit:
 * uvma_mm_set_memlock_limit).
 */
UVMA_API UVMA_MUST_CHECK int uvma_mmap(struct uvma_mm *mm, uint64_t addr,
				       uint64_t len, unsigned prot,
				       unsigned flags, uint64_t file_id,
				       uint64_t offset, void *user,
				       uint64_t *out);

/*
 * Unmap [addr, addr + len) (len rounded up to pages); holes are fine.
 * Areas that straddle the edges are split; every area in the range is
 * write-locked, the range leaves the tree in one step (readers never see a
 * partial unmap), the areas are detached (waiting out readers that found
 * them just before) and freed. -EINVAL for an unaligned addr, len 0, or a
 * range outside the window; -ENOMEM when an edge split cannot allocate.
 */
UVMA_API UVMA_MUST_CHECK int uvma_munmap(struct uvma_mm *mm, uint64_t addr,
					 uint64_t len);

/*
 * Change the protection of [addr, addr + len), splitting and merging as
 * Linux does. An area made writable gets UVMA_VM_ACCOUNT when private and
 * not UVMA_VM_NORESERVE; a private anonymous area never written loses it
 * when write access goes (docs/semantics.md, "Accounting").
 * Locking: takes mmap_lock for writing; write-locks only the areas that
 * change. Errors: -EINVAL (unaligned addr, unknown prot bits), -ENOMEM (the
 * range is not fully mapped: the areas before the first hole have been
 * changed, as on Linux; or out of memory, with nothing changed, except
 * when a locked area becomes writable: that change runs area by area, as
 * Linux's, each locked area faulted in before the next, and the areas
 * before the failure stay changed), -EPERM (a sealed area: the areas
 * before it have been changed), -EACCES
 * (on a pager space, PROT_WRITE for a shared file area whose file is not
 * open for writing: the areas before it have been changed). len 0 is a
 * no-op.
 */
UVMA_API UVMA_MUST_CHECK int uvma_mprotect(struct uvma_mm *mm, uint64_t addr,
					   uint64_t len, unsigned prot);

/*
 * Resize and/or move the area at [old_addr, old_addr + old_len) (lengths
 * rounded up to pages), as Linux 6.17+: shrink in place (the tail is
 * unmapped), grow in place when the space after it is free, else move if
 * UVMA_MREMAP_MAYMOVE (anywhere, top-down) or to new_addr with
 * UVMA_MREMAP_FIXED (which needs MAYMOVE, and unmaps what was at the
 * destination). A FIXED move of the same size may span several areas and
 * holes: each area moves to the same offset from new_addr, one after the
 * other (each merging with what its destination has then). old_len 0 (a
 * shared area only) maps the same pages a second time, nothing unmapped.
 * UVMA_MREMAP_DONTUNMAP (needs MAYMOVE and old_len == new_len) moves the
 * pages and leaves the source mapped and empty: each source area loses
 * UVMA_VM_LOCKED and LOCKONFAULT (all of it, as Linux clears the VMA it
 * moved from) and, when moved whole, forgets it was touched; with several
 * areas they move one by one, each source cleared before the next lands.
 * A moved untouched anonymous private area takes its new address as page
 * offset; a touched one keeps its offset. A locked area's growth is
 * faulted in. *out receives the new address.
 * Locking: takes mmap_lock for writing; each plan write-locks the areas it
 * changes, so faults elsewhere go on.
 * Errors: -EINVAL (bad flags, unaligned addresses, new_len 0 or past the
 * window, overlapping old and new ranges with FIXED, old_len 0 of a
 * private area, DONTUNMAP without MAYMOVE or with a resize), -EFAULT (no
 * area at old_addr, or the range that must lie in one area does not),
 * -EPERM (a sealed area: the source, the destination or a shrink's tail;
 * a same-size move over several areas stops at the first sealed piece,
 * those before it moved), -ENOMEM (cannot grow in place without MAYMOVE,
 * no room, out of memory: nothing changed, except a move over several
 * areas, whose pieces before the failure moved, as on Linux),
 * -EAGAIN (a locked area growing past the memlock limit: checked before
 * anything changes), -EOPNOTSUPP (old_len 0 or DONTUNMAP in a pager
 * space: the real pages cannot move while the source stays open to other
 * threads).
 */
UVMA_API UVMA_MUST_CHECK int uvma_mremap(struct uvma_mm *mm, uint64_t old_addr,
					 uint64_t old_len, uint64_t new_len,
					 unsigned flags, uint64_t new_addr,
					 uint64_t *out);

/*
 * Set the end of the heap, which starts at the config's brk_start, as
 * Linux's brk(): brk 0 (or below the start) only reports the current end.
 * The heap is an anonymous private read-write area; as on Linux, it may
 * not grow to less than a page below the next mapping, nor so that that
 * page lies in a stack's guard gap (stack_guard_gap). Returns 0 with *out
 * the new end, or a negative errno (-ENOMEM: no heap configured, the
 * range is taken, or growth under MCL_FUTURE would pass the memlock
 * limit) with *out the unchanged end.
 */
UVMA_API UVMA_MUST_CHECK int uvma_brk(struct uvma_mm *mm, uint64_t brk,
				      uint64_t *out);

/*
 * Give advice about [addr, addr + len) (len rounded up to pages), as
 * Linux's madvise. Advice that sets hidden flags (uvma_area_info.vm_flags)
 * splits and merges areas as uvma_mprotect does: DONTFORK/DOFORK
 * (UVMA_VM_DONTCOPY: uvma_mm_dup leaves the area out of the child),
 * WIPEONFORK/KEEPONFORK (UVMA_VM_WIPEONFORK: the child's area starts
 * untouched; private anonymous areas only, else -EINVAL), DONTDUMP/DODUMP,
 * HUGEPAGE/NOHUGEPAGE (each clears the other), MERGEABLE/UNMERGEABLE
 * (shared areas are left as they are), SEQUENTIAL/RANDOM/NORMAL. Advice
 * about pages (WILLNEED, DONTNEED, DONTNEED_LOCKED, FREE, REMOVE, COLD,
 * PAGEOUT, POPULATE_READ, POPULATE_WRITE) checks the areas as Linux does and
 * changes no area; POPULATE_WRITE faults the range in for writing, so a
 * private area gets its first-write tag (uvma_area_info.anon). In a pager
 * space they act on the real pages, area by area, under mmap_lock for
 * reading: POPULATE_* fill the missing pages as faults would (a write
 * makes a shared file page dirty); DONTNEED and DONTNEED_LOCKED drop a
 * private area's pages (the next access fills them again: zeros, the
 * file's bytes or the space's fill function) and keep a shared area's
 * (Linux's shmem and page cache keep them); FREE hands private anonymous
 * pages to the kernel's lazy free; REMOVE punches the range out of a
 * shared file (fallocate: its error is returned) or zeroes shared
 * anonymous memory; the hints do nothing.
 * Holes: flag advice and the other kinds go on past a hole and return
 * -ENOMEM at the end; POPULATE_* stop at it with -ENOMEM. An area that
 * refuses the advice stops the call with its error, the areas before it
 * changed, as on Linux.
 * Locking: mmap_lock for writing (flag advice; the changed areas are
 * write-locked) or for reading (the rest). Not from a fault handler or
 * with an area lock of mm held.
 * Returns 0; -EINVAL (unaligned addr, unknown advice, len rounding to 0,
 * the range wrapping, or an area the advice does not apply to); -ENOMEM
 * (holes, above); -EAGAIN (out of memory: nothing changed, Linux's
 * answer when a split cannot allocate); -EACCES (REMOVE on a private
 * file area); -EFAULT (POPULATE_* on an area that forbids the access).
 */
UVMA_API UVMA_MUST_CHECK int uvma_madvise(struct uvma_mm *mm, uint64_t addr,
					  uint64_t len, int advice);

/*
 * Lock the pages of [addr, addr + len) in memory, as Linux's mlock2 (flags
 * 0 is mlock): addr is rounded down to its page and len up. The areas get
 * UVMA_VM_LOCKED (and UVMA_VM_LOCKONFAULT with UVMA_MLOCK_ONFAULT),
 * splitting and merging as flags do. Without ONFAULT the range is then
 * faulted in as Linux populates it: a private writable area is written,
 * so it gets its first-write tag (uvma_area_info.anon), and an area with
 * no access stops it (-ENOMEM, after the flags were set). The locked
 * pages are held to the space's limit (uvma_mm_set_memlock_limit; none by
 * default). In a pager space the pages are filled (as uvma_madvise's
 * POPULATE_*).
 * Locking: mmap_lock for writing; only changed areas are write-locked.
 * Returns 0; -EINVAL (unknown flags, the range wrapping); -EPERM (a limit
 * of 0); -ENOMEM (past the limit, nothing changed; a hole in the range:
 * the areas before it are changed, or nothing when addr is in a hole; an
 * area without access; out of memory, nothing changed).
 */
UVMA_API UVMA_MUST_CHECK int uvma_mlock(struct uvma_mm *mm, uint64_t addr,
					uint64_t len, unsigned flags);

/* Unlock [addr, addr + len), as Linux's munlock: clears UVMA_VM_LOCKED
 * and UVMA_VM_LOCKONFAULT; addresses, holes and errors as uvma_mlock
 * (-EINVAL only for a wrapping range). */
UVMA_API UVMA_MUST_CHECK int uvma_munlock(struct uvma_mm *mm, uint64_t addr,
					  uint64_t len);

/*
 * Lock every area (UVMA_MCL_CURRENT) and/or the areas mapped from now on
 * (UVMA_MCL_FUTURE: new mappings and heap growth are locked and faulted
 * in, as if uvma_mlock followed), with UVMA_MCL_ONFAULT as
 * UVMA_MLOCK_ONFAULT; as Linux's mlockall, each call replaces the
 * previous FUTURE setting, and MCL_CURRENT faults areas in ignoring those
 * without access. uvma_mm_dup's child inherits neither the setting nor
 * the locks. Locking as uvma_mlock. 0; -EINVAL (flags 0, unknown bits,
 * ONFAULT alone); -EPERM (a limit of 0: uvma_mm_set_memlock_limit);
 * -ENOMEM (MCL_CURRENT with more pages mapped than the limit; out of
 * memory; nothing changed).
 */
UVMA_API UVMA_MUST_CHECK int uvma_mlockall(struct uvma_mm *mm, unsigned flags);

/* Unlock every area and end UVMA_MCL_FUTURE, as Linux's munlockall.
 * Locking as uvma_mlock. 0 or -ENOMEM (nothing changed). */
UVMA_API UVMA_MUST_CHECK int uvma_munlockall(struct uvma_mm *mm);

/* No limit on locked memory: a new space's, as a process with
 * CAP_IPC_LOCK. */
#define UVMA_MEMLOCK_UNLIMITED UINT64_MAX

/*
 * Limit the memory mm may lock, as Linux's RLIMIT_MEMLOCK for a process
 * without CAP_IPC_LOCK (bytes; UVMA_MEMLOCK_UNLIMITED lifts it). From then
 * on, as Linux: uvma_mlock (not munlock) fails with -ENOMEM when the
 * locked pages would pass the limit (those already locked in the range
 * counted once) and -EPERM when the limit is 0; uvma_mlockall with
 * MCL_CURRENT fails with -ENOMEM when the mapped pages pass it, and any
 * with -EPERM for 0; a locked new mapping (UVMA_MAP_LOCKED, or under
 * MCL_FUTURE), heap growth under MCL_FUTURE and the growth of a locked area
 * by uvma_mremap fail with -EAGAIN (-EPERM for UVMA_MAP_LOCKED when the
 * limit is 0). Locks already held stay. uvma_mm_dup's child inherits the
 * limit. Takes mmap_lock for writing; not from a fault handler.
 */
UVMA_API void uvma_mm_set_memlock_limit(struct uvma_mm *mm, uint64_t bytes);

/*
 * Seal [addr, addr + len) (len rounded up to pages), as Linux's mseal
 * (6.10+): the areas get UVMA_VM_SEALED, splitting and merging as flags
 * do, and from then on refuse, with -EPERM, uvma_munmap and MAP_FIXED
 * over any part of them (nothing is unmapped), uvma_mprotect (the areas
 * before a sealed one are changed), uvma_mremap of them or onto them, a
 * uvma_brk shrink over them, and the discarding uvma_madvise advice
 * (DONTNEED, DONTNEED_LOCKED, FREE, REMOVE, DONTFORK, WIPEONFORK) on
 * private anonymous areas that may not be written. Sealed stacks still
 * grow, locks and other advice still apply, and uvma_mm_dup's child
 * inherits the seal. There is no unsealing.
 * Locking: mmap_lock for writing; only the areas that change are
 * write-locked. Returns 0; -EINVAL (flags not 0, unaligned addr, len
 * rounding to 0 or the range wrapping); -ENOMEM (a hole in the range:
 * nothing sealed; or out of memory, nothing changed). len 0 is a no-op.
 */
UVMA_API UVMA_MUST_CHECK int uvma_mseal(struct uvma_mm *mm, uint64_t addr,
					uint64_t len, unsigned long flags);

/*
 * Call fn for every area overlapping [start, end), in address order, with a
 * consistent picture of the map: the areas are collected under RCU, each
 * read-locked while it is copied, and the copy is kept only if no write
 * cycle of mm began or ended meanwhile (a few attempts, then once under
 * mmap_lock for reading), so an area split or merged during the walk shows
 * before or after, never both or neither. fn runs with no lock held; a
 * nonzero return stops the walk and is returned. Returns 0, fn's value, or
 * -ENOMEM (no memory for the copy). Any thread, not from a fault handler.
 */
typedef int (*uvma_maps_fn)(const struct uvma_area_info *area, void *arg);
UVMA_API int uvma_maps(struct uvma_mm *mm, uint64_t start, uint64_t end,
		       uvma_maps_fn fn, void *arg);

/* Counters of the fault path, as Linux's vma_lock_* events. */
struct uvma_fault_stats {
	uint64_t success;  /* faults handled under the area's read lock */
	uint64_t abort;	   /* lock under RCU failed: fell back to mmap_lock */
	uint64_t retry;	   /* handler asked to run again under mmap_lock */
	uint64_t miss;	   /* the area found was stale: looked up again */
	uint64_t fallback; /* faults handled under mmap_lock */
};

/* What a pager space did (UVMA_MM_PAGER). */
struct uvma_pager_stats {
	uint64_t messages;   /* faults delivered (messages read, or SIGBUS) */
	uint64_t missing;    /* missing-page faults handled */
	uint64_t wp;	     /* write-protect faults handled (a shared file
			      * page written: now dirty) */
	uint64_t filled;     /* pages filled, fault-around included */
	uint64_t around;     /* of those, pages filled around a fault */
	uint64_t retried;    /* faults run again under mmap_lock (the area
			      * could not be read-locked at once) */
	uint64_t eexist;     /* fills that found the page present: done */
	uint64_t eagain;     /* fill attempts the kernel asked to repeat */
	uint64_t woken;	     /* faults with no area (or no right) to fill:
			      * the thread was woken to retry and fault */
	uint64_t errors;     /* fills that failed: the thread got SIGBUS */
	uint64_t duplicate;  /* messages for a page already in the batch */
	uint64_t written;    /* dirty pages written back to files */
	uint64_t moved;	     /* pages moved by uvma_mremap */
	uint64_t lat_p50_ns; /* fault latency, from delivery to the fill's */
	uint64_t lat_p99_ns; /* end, median and 99th percentile (0: none) */
};

/* The pager counters of mm (all 0 for a space without UVMA_MM_PAGER).
 * Any thread, no lock; relaxed sums. */
UVMA_API void uvma_mm_pager_stats(struct uvma_mm *mm,
				  struct uvma_pager_stats *out);

/*
 * Make the open file fd available to mm's file areas (UVMA_MM_PAGER):
 * *file_id receives the id to pass to uvma_mmap. The space keeps its own
 * own open file, reopened from fd (the caller may close fd, and its flags
 * such as O_APPEND are not the space's), until uvma_mm_destroy. Shared
 * writable mappings need fd open for writing (uvma_mmap: -EACCES). Takes
 * mmap_lock for writing. 0, -EBADF (fd not open), -EACCES (fd open for
 * writing only), -EINVAL (a space without UVMA_MM_PAGER), -EMFILE (too
 * many files, or no descriptor left), or the error of reopening it
 * through /proc/self/fd (-ENOENT without /proc, -ENXIO for a socket).
 */
UVMA_API UVMA_MUST_CHECK int uvma_mm_file_add(struct uvma_mm *mm, int fd,
					      uint64_t *file_id);

/* uvma_msync flags, Linux's values. */
#define UVMA_MS_ASYNC	   0x1
#define UVMA_MS_INVALIDATE 0x2
#define UVMA_MS_SYNC	   0x4

/*
 * Write the dirty pages of the shared file areas in [addr, addr + len)
 * back to their files, as Linux's msync: with UVMA_MS_SYNC also wait for
 * them to reach the disk (fdatasync); UVMA_MS_ASYNC writes them too (a
 * userspace pager has no later writeback to leave them to). Each page is
 * write-protected again before it is written, so a store during the
 * write makes it dirty again. Takes mmap_lock for reading (faults go on).
 * 0; -EINVAL (unaligned addr, unknown flags, both ASYNC and SYNC);
 * -ENOMEM (part of the range is unmapped: the rest is written, as on
 * Linux); -EIO (a write to the file failed). A space without
 * UVMA_MM_PAGER has nothing to write and checks only.
 */
UVMA_API UVMA_MUST_CHECK int uvma_msync(struct uvma_mm *mm, uint64_t addr,
					uint64_t len, unsigned flags);

/*
 * Sum the fault counters of mm over all threads. Any thread, no lock; the
 * sum is exact once the counted faults have returned.
 */
UVMA_API void uvma_mm_fault_stats(struct uvma_mm *mm,
				  struct uvma_fault_stats *out);

#ifdef __cplusplus
}
#endif

#endif
