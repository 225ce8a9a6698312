/*
 * mm.h - the address space object and its mmap_lock (mm.c).
 *
 * Who writes what:
 * - tree: the writer (mmap_lock held for writing); readers walk it under RCU.
 * - lock: the rwsem behind mmap_lock.
 * - lock_seq: mm_lock_seq, written only by the mmap_lock writer: made odd
 *   when it takes the lock, even again when it unlocks or downgrades (which
 *   ends every VMA write lock of this cycle at once, docs/design.md rule 3).
 * - seq_epoch: bumped by the writer when lock_seq wraps (mm.c).
 * - base, end, page_size, page_shift, fault, fault_arg: set at creation,
 *   read-only after.
 * - counters: per-thread slots, see fault.c.
 * - anon_lock, anon_next: the tags of touched areas (anon.c, anon.h).
 */
#ifndef UVMA_MM_H
#define UVMA_MM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "debug.h"
#include "rwsem.h"
#include "tree.h"
#include "uvma.h"

/* Fault counters of one thread slot, on a cache line of its own, and the
 * thread's bound on mm_lock_seq (vma_lock.h, "Sequence bounds"). */
enum fault_counter {
	FAULT_SUCCESS,
	FAULT_ABORT,
	FAULT_RETRY,
	FAULT_MISS,
	FAULT_FALLBACK,
	FAULT_NCOUNTERS,
};
struct fault_slot {
	_Atomic uint64_t n[FAULT_NCOUNTERS];
	/* (seq_epoch << 32) | mm_lock_seq as this slot's thread last read
	 * them (acquire); written and read only by the slot's threads, with
	 * release and acquire, so that a thread given the slot later, or
	 * sharing it, inherits the order that made the value true. */
	_Atomic uint64_t seen;
} __attribute__((aligned(64)));

/* Threads get slots 0 .. FAULT_SLOTS - 2 of their own; any further threads
 * share the last one (with atomic adds). */
#define FAULT_SLOTS 64

struct uvma_mm {
	struct tree tree;
	struct rwsem lock;
	/* The writer's line: written twice per write cycle, so faults must
	 * not need anything else on it (they read lock_seq only for VMAs
	 * locked since their thread's bound, vma_lock.h). */
	_Atomic uint32_t lock_seq __attribute__((aligned(64)));
	/* The thread holding mmap_lock for writing (its tid), or 0; kept by
	 * debug builds only, but always present so that objects built with
	 * and without UVMA_DEBUG agree on the layout. */
	_Atomic long write_owner;
	/* The line every fault reads, written (nearly) never: seq_epoch,
	 * then what creation sets. seq_epoch counts the wraps of lock_seq
	 * (and test jumps of it); written by the mmap_lock writer with
	 * release, after the wrapped value (mm.c). */
	_Atomic uint32_t seq_epoch __attribute__((aligned(64)));
	uint64_t base;
	uint64_t end;
	uint64_t page_size;
	unsigned page_shift;
	/* UVMA_MM_NO_ZERO_PAGE: a read fault in a private anonymous area
	 * tags it as a write does (anon.h); set at creation, read-only
	 * after. Here, in page_shift's padding on the line every fault reads
	 * anyway, so that read faults do not take one more line to ask. */
	bool no_zero_page;
	uvma_fault_fn fault;
	void *fault_arg;
	/* Real memory behind the window (pager.c), or NULL; set at creation,
	 * read-only after. */
	struct pager *pager;
	/* The heap (uvma_brk): its start (0: none) and current end, written
	 * under mmap_lock for writing. */
	uint64_t brk_start;
	uint64_t brk;
	/* Identity of the next anonymous shared mapping (ops.h); under
	 * mmap_lock for writing. */
	uint64_t next_shmem_id;
	/* Stack growth (stack.c): the largest a growsdown area may become
	 * and the gap it keeps below; set at creation, read-only after. */
	uint64_t stack_limit;
	uint64_t stack_gap;
	/* Whether an area was ever sealed (uvma_mseal, or inherited by
	 * uvma_mm_dup): until then the seal checks of munmap, MAP_FIXED and
	 * mremap skip their walk (mseal.c). Written under mmap_lock for
	 * writing, read under mmap_lock; never cleared. */
	bool sealed;
	/* Tags of touched areas (anon.c): anon_lock orders the faults that
	 * give them (each holding mmap_lock for reading); anon_next, the
	 * next serial, is written under anon_lock with mmap_lock held, or
	 * under mmap_lock for writing. */
	pthread_mutex_t anon_lock;
	/* Hidden flags every new mapping and heap growth gets (VMA_VM bits:
	 * uvma_mlockall's MCL_FUTURE, Linux's def_flags); the writer's,
	 * under mmap_lock for writing. */
	unsigned def_flags;
	/* RLIMIT_MEMLOCK in bytes (UVMA_MEMLOCK_UNLIMITED: none, a process
	 * with CAP_IPC_LOCK); written and read under mmap_lock for writing
	 * (uvma_mm_set_memlock_limit, mlock.h). */
	uint64_t memlock_limit;
	uint32_t anon_next;
	struct fault_slot slots[FAULT_SLOTS];
};

/*
 * mmap_lock. mmap_write_lock makes mm_lock_seq odd; mmap_write_unlock and
 * mmap_write_downgrade make it even (release), ending every VMA write lock
 * taken in the cycle. All may sleep; none from an RCU read-side section.
 */
void mmap_write_lock(struct uvma_mm *mm);
void mmap_write_unlock(struct uvma_mm *mm);
void mmap_write_downgrade(struct uvma_mm *mm);
void mmap_read_lock(struct uvma_mm *mm);
bool mmap_read_trylock(struct uvma_mm *mm);
void mmap_read_unlock(struct uvma_mm *mm);

#ifdef UVMA_TEST_HOOKS
/* Test hook: jump mm_lock_seq to seq (even; no lock held), a new epoch.
 * Jump only forwards past every VMA's lock_seq (or with no VMA): a VMA
 * holding a value the sequence comes back to would read as already
 * locked to vma_start_write. */
void mm_set_lock_seq(struct uvma_mm *mm, uint32_t seq);
#endif

#ifdef UVMA_DEBUG
long mm_thread_id(void);
#define mmap_assert_write_locked(mm)                                           \
	UVMA_ASSERT(atomic_load_explicit(&(mm)->write_owner,                   \
					 memory_order_relaxed) ==              \
		    mm_thread_id())
#define mmap_assert_locked(mm) UVMA_ASSERT(rwsem_is_locked(&(mm)->lock))
#else
#define mmap_assert_write_locked(mm) ((void)(mm))
#define mmap_assert_locked(mm)	     ((void)(mm))
#endif

#endif
