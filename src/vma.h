/*
 * vma.h - the VMA object, its per-VMA lock (vma_lock.c), its type-stable
 * pool (vma_pool.c) and its lifetime (vma.c).
 *
 * Who writes what:
 * - refcnt: readers (bounded increment, decrement), the mm's writer (OFFSET
 *   add/subtract, attach, detach). Atomic; see vma_lock.c for the orders.
 * - lock_seq: only the writer of the owning mm (holding mmap_lock for
 *   writing), in vma_start_write(); read by anyone (atomic, relaxed).
 * - mm: whoever allocates the object, before it is attached; read by readers
 *   after their increment (atomic, relaxed: the increment orders it).
 * - anon: a private area's tag of touched memory (anon.h), written by the
 *   first write fault under mmap_lock (reading) and mm->anon_lock, or by
 *   the writer as below; an anonymous shared area's object size (anon.h),
 *   written by the writer only.
 * - every other field: the owning mm's writer, only while the VMA is
 *   write-locked or not yet attached; read under the VMA's read lock or
 *   mmap_lock.
 */
#ifndef UVMA_VMA_H
#define UVMA_VMA_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "design.h"
#include "uvma.h"
#if UVMA_DESIGN == UVMA_DESIGN_RWSEM
#include "rcu.h"
#include "rwsem.h"
#endif

/*
 * refcnt values (docs/design.md section 2):
 *   0                 detached: no reader can raise it, only attach can
 *   1                 attached, no readers
 *   1 + n             attached, n readers (some maybe about to back off)
 *   VMA_LOCK_OFFSET   a detacher excluded readers; about to become 0
 *   VMA_LOCK_OFFSET+1 a writer excluded every reader of an attached VMA
 *   above that        a writer or detacher waits for readers to leave
 * A reader never takes the count above VMA_REF_LIMIT, so with OFFSET added
 * the count stays at most 0x7fffffff. The writer's mark is 0x40000000, not
 * the top bit: a count type that treats 2^31 and above as saturated (as
 * Linux's refcount_t does) would refuse the top bit (docs/design.md H4).
 */
#define VMA_LOCK_OFFSET 0x40000000u
#define VMA_REF_LIMIT	(VMA_LOCK_OFFSET - 1)

struct uvma_vma {
	/* One cache line, and the fault path reads nothing else: a fault
	 * touches the tree and this line only. */
#if UVMA_DESIGN == UVMA_DESIGN_REFCOUNT
	_Atomic uint32_t refcnt;
	_Atomic uint32_t lock_seq;
#elif UVMA_DESIGN == UVMA_DESIGN_RWSEM
	/* The baseline's lock state (vma_lock_baseline.c): the rwsem, the
	 * sequence of the write cycle that locked it, and whether it has left
	 * its tree. lock_seq and detached are written by the mm's writer
	 * holding vm_lock for writing or (detached) the VMA write-locked. */
	struct rwsem vm_lock;
	_Atomic uint32_t lock_seq;
	_Atomic bool detached;
#endif /* UVMA_DESIGN_GLOBAL: no lock state, mmap_lock guards it all */
	_Atomic(struct uvma_mm *) mm;
	union {
		struct {
			uint64_t start;
			uint64_t end;
		};
		/* While the object is free: the pool's list. It overlays
		 * the range, never the lock fields or mm, which stale
		 * readers may still read (docs/design.md section 4). */
		struct uvma_vma *pool_next;
#if UVMA_DESIGN == UVMA_DESIGN_RWSEM
		/* From the free until the grace period ends: no reader
		 * reads the range of a detached VMA. */
		struct rcu_head rcu;
#endif
	};
	unsigned prot : 8;   /* UVMA_PROT_* */
	unsigned flags : 24; /* UVMA_MAP_* kept in the map, and the hidden
			      * UVMA_VM_* above them (VMA_VM) */
	_Atomic uint32_t anon;
	uint64_t pgoff;
	void *user;
	uint64_t file_id; /* 0 for anonymous areas */
} __attribute__((aligned(64)));

/*
 * An area's flags word (uvma_vma.flags, struct area's flags): the
 * UVMA_MAP_* bits it keeps below VMA_VM_SHIFT, the hidden UVMA_VM_* flags
 * above, so that one comparison of the word compares both, as Linux
 * compares vm_flags.
 */
#define VMA_VM_SHIFT 9
#define VMA_MAP_MASK ((1u << VMA_VM_SHIFT) - 1)
#define VMA_VM(vm)   ((unsigned)(vm) << VMA_VM_SHIFT)
#define VMA_VM_ALL   0x1fffu /* every UVMA_VM_* */
_Static_assert(UVMA_MAP_GROWSDOWN <= VMA_MAP_MASK, "MAP bits fit below");
_Static_assert(VMA_VM(VMA_VM_ALL) < (1u << 24), "VM bits fit the word");
#define VMA_LOCKED_MASK VMA_VM(UVMA_VM_LOCKED | UVMA_VM_LOCKONFAULT)

static inline bool vma_sealed(const struct uvma_vma *v)
{
	return v->flags & VMA_VM(UVMA_VM_SEALED);
}

/*
 * Commit accounting (docs/semantics.md, "Accounting"): the flags word of a
 * new mapping gets UVMA_VM_ACCOUNT when it is private and writable and not
 * UVMA_VM_NORESERVE, as Linux's accountable_mapping with overcommit
 * allowed.
 */
static inline unsigned vma_account_new(unsigned flags, unsigned prot)
{
	if ((flags & (UVMA_MAP_SHARED | VMA_VM(UVMA_VM_NORESERVE))) ||
	    !(prot & UVMA_PROT_WRITE))
		return flags;
	return flags | VMA_VM(UVMA_VM_ACCOUNT);
}

/*
 * The flags word of an area mprotect gives prot (Linux's mprotect_fixup):
 * made writable, a private area neither charged nor NORESERVE is charged;
 * given no write access, an anonymous private area never written (anon,
 * its tag, 0) gives its charge back. The same protection again, and
 * everything else, keeps the flags.
 */
static inline unsigned vma_account_protect(unsigned flags, unsigned old_prot,
					   unsigned prot, uint32_t anon)
{
	const unsigned ac = VMA_VM(UVMA_VM_ACCOUNT);
	const unsigned keep = ac | UVMA_MAP_SHARED | VMA_VM(UVMA_VM_NORESERVE);

	/* The same protection again changes nothing, not even the charge
	 * (Linux returns before it looks at accounting). */
	if (prot == old_prot)
		return flags;
	if (prot & UVMA_PROT_WRITE) {
		if (!(old_prot & UVMA_PROT_WRITE) && !(flags & keep))
			flags |= ac;
	} else if ((flags & ac) && (flags & UVMA_MAP_ANONYMOUS) &&
		   !(flags & UVMA_MAP_SHARED) && !anon) {
		flags &= ~ac;
	}
	return flags;
}

#if UVMA_DESIGN != UVMA_DESIGN_RWSEM
_Static_assert(sizeof(struct uvma_vma) == 64, "a VMA is one cache line");
#endif

/* Bytes of per-VMA lock state, for the benchmark's memory scenario. */
#if UVMA_DESIGN == UVMA_DESIGN_REFCOUNT
#define VMA_LOCK_BYTES                                                         \
	(sizeof(((struct uvma_vma *)0)->refcnt) +                              \
	 sizeof(((struct uvma_vma *)0)->lock_seq))
#elif UVMA_DESIGN == UVMA_DESIGN_RWSEM
#define VMA_LOCK_BYTES                                                         \
	(sizeof(((struct uvma_vma *)0)->vm_lock) +                             \
	 sizeof(((struct uvma_vma *)0)->lock_seq) +                            \
	 sizeof(((struct uvma_vma *)0)->detached))
#else
#define VMA_LOCK_BYTES 0
#endif

/* Results of vma_start_read(). */
enum vma_read {
	VMA_READ_LOCKED = 0, /* read-locked: call vma_end_read() later */
	VMA_READ_STALE,	     /* detached: look the address up again */
	VMA_READ_BUSY,	     /* write-locked, reader limit, or reused by
			      * another mm: fall back to mmap_lock */
};

/* vma_lock.c: the lock operations (docs/design.md section 2, rules 4-11);
 * vma_start_read and vma_end_read are inline, in vma_lock.h. The baseline
 * designs implement the same calls in vma_lock_baseline.c/.h.
 * vma_lock_init readies a fresh object's lock state (vma_alloc); vma_release
 * gives a freed, detached VMA back to the pool, at once or (rwsem) after a
 * grace period. */
void vma_lock_init(struct uvma_vma *vma);
void vma_release(struct uvma_vma *vma);
bool vma_start_read_locked(struct uvma_vma *vma);
void vma_start_write(struct uvma_vma *vma);
void vma_mark_attached(struct uvma_vma *vma);
void vma_mark_detached(struct uvma_vma *vma);
bool vma_is_write_locked(struct uvma_vma *vma);

/* Assertions of the rules (no-ops unless UVMA_DEBUG). */
void vma_assert_write_locked(struct uvma_vma *vma);
void vma_assert_attached(struct uvma_vma *vma);
void vma_assert_detached(struct uvma_vma *vma);

/* vma_pool.c: type-stable objects, shared by every mm in the process. */
struct vma_pool_stats {
	uint64_t objects;      /* ever carved from the pool's memory */
	uint64_t free;	       /* on the free list now */
	uint64_t bytes;	       /* pool memory, never returned to the system */
	uint64_t object_bytes; /* one object, alignment included */
};
struct uvma_vma *vma_pool_get(void);
void vma_pool_put(struct uvma_vma *vma);
void vma_pool_stats(struct vma_pool_stats *st);
#ifdef UVMA_TEST_HOOKS
void vma_pool_fail_after(long n); /* fail the n-th get from now */
#endif

/*
 * vma.c: object lifetime, for the plan engine (plan.c) only.
 * vma_alloc: a detached VMA owned by mm with every field cleared, or NULL.
 * vma_dup: a detached copy of src (fields copied one by one, never the
 * lock fields), or NULL. vma_copy_fields: src's description into dst,
 * field by field (the same copy, into an object of another mm: fork).
 * vma_free: the VMA must be detached.
 */
struct uvma_vma *vma_alloc(struct uvma_mm *mm);
struct uvma_vma *vma_dup(const struct uvma_vma *src);
void vma_copy_fields(struct uvma_vma *dst, const struct uvma_vma *src);
void vma_free(struct uvma_vma *vma);

#endif
