/*
 * fault.c - the fault path (docs/design.md section 6): lock the area under RCU,
 * run the handler with only the area's read lock, fall back to mmap_lock
 * when the lock cannot be had at once; and the fault counters.
 *
 * Locks: the fast path takes the RCU read lock for the lookup and the VMA's
 * read lock (vma_start_read); the fallback takes mmap_lock for reading.
 * Neither holds RCU while a handler runs (handlers may sleep).
 *
 * Counters: each thread owns one slot (a cache line) in every mm's
 * counter array, so counting writes only lines no other thread writes. A
 * thread's slot index is taken at its first count and given back when it
 * exits; threads beyond FAULT_SLOTS - 1 share the last slot.
 */
#include <errno.h>
#include <pthread.h>

#include "anon.h"
#include "debug.h"
#include "hook.h"
#include "mm.h"
#include "plan.h"
#include "rcu.h"
#include "vma_lock.h"

#define SHARED_SLOT (FAULT_SLOTS - 1)

static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t slot_used;     /* bit i: slot i owned; slot_lock */
static pthread_key_t slot_key; /* its destructor frees the slot */
static pthread_once_t slot_key_once = PTHREAD_ONCE_INIT;
/* This thread's slot, -1: none yet. Initial-exec: one instruction to reach
 * it, even from the shared library. */
static _Thread_local int my_slot __attribute__((tls_model("initial-exec"))) =
	-1;

static void slot_release(void *arg)
{
	(void)arg;
	if (my_slot < 0 || my_slot == SHARED_SLOT)
		return;
	pthread_mutex_lock(&slot_lock);
	slot_used &= ~(1ull << my_slot);
	pthread_mutex_unlock(&slot_lock);
	my_slot = -1;
}

static void slot_make_key(void)
{
	if (pthread_key_create(&slot_key, slot_release) != 0)
		abort(); /* no key left at first use: cannot count */
}

static int slot_assign(void)
{
	int i;

	pthread_once(&slot_key_once, slot_make_key);
	pthread_mutex_lock(&slot_lock);
	for (i = 0; i < SHARED_SLOT; i++)
		if (!(slot_used & (1ull << i)))
			break;
	if (i < SHARED_SLOT)
		slot_used |= 1ull << i;
	pthread_mutex_unlock(&slot_lock);
	my_slot = i;
	/* Any non-NULL value makes the destructor run at thread exit. */
	pthread_setspecific(slot_key, &my_slot);
	return i;
}

static inline int slot_index(void)
{
	int i = my_slot;

	return __builtin_expect(i < 0, 0) ? slot_assign() : i;
}

static inline void count(struct uvma_mm *mm, enum fault_counter c)
{
	int i = slot_index();
	_Atomic uint64_t *n;

	n = &mm->slots[i].n[c];
	if (__builtin_expect(i == SHARED_SLOT, 0)) {
		atomic_fetch_add_explicit(n, 1, memory_order_relaxed);
		return;
	}
	/* The only writer of this slot: a plain increment, atomic only so
	 * that readers summing the counters read whole values. The slot
	 * changed hands (if ever) under slot_lock, which orders us after
	 * its previous owner. */
	atomic_store_explicit(n,
			      atomic_load_explicit(n, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

void uvma_mm_fault_stats(struct uvma_mm *mm, struct uvma_fault_stats *out)
{
	uint64_t sum[FAULT_NCOUNTERS] = { 0 };

	for (int i = 0; i < FAULT_SLOTS; i++)
		for (int c = 0; c < FAULT_NCOUNTERS; c++)
			sum[c] += atomic_load_explicit(&mm->slots[i].n[c],
						       memory_order_relaxed);
	out->success = sum[FAULT_SUCCESS];
	out->abort = sum[FAULT_ABORT];
	out->retry = sum[FAULT_RETRY];
	out->miss = sum[FAULT_MISS];
	out->fallback = sum[FAULT_FALLBACK];
}

#if UVMA_DESIGN == UVMA_DESIGN_GLOBAL
/*
 * The global baseline (src/design.h): no per-VMA lock, so no lookup under
 * RCU either; a fault holds mmap_lock for reading, and so does a caller of
 * uvma_vma_get until uvma_vma_unlock. Counted as successes: this is the
 * design's one path, not a fallback from a faster one.
 */
#else
/*
 * Lock under RCU: the area covering addr, read-locked, or NULL (counted as
 * an abort) when there is none or it cannot be locked at once. A stale area
 * (detached since the lookup) is looked up again (counted as a miss).
 */
static struct uvma_vma *lock_vma_under_rcu(struct uvma_mm *mm, uint64_t addr)
{
	/* This thread's bound on mm_lock_seq (vma_lock.h): its own slot's
	 * line, which the writer never stores to. */
	_Atomic uint64_t *seen = &mm->slots[slot_index()].seen;
	struct tree_entry e;
	struct uvma_vma *vma;

	rcu_read_enter();
	for (;;) {
		if (!tree_find(&mm->tree, addr, &e))
			goto abort;
		vma = e.ptr;
		hook_run(HOOK_LOOKUP_FOUND, mm, vma);
		switch (vma_start_read_seen(mm, vma, seen)) {
		case VMA_READ_LOCKED:
			rcu_read_exit();
			/* The object may have been split or reused after the
			 * lookup; its range is stable now that we hold it. */
			if (addr < vma->start || addr >= vma->end) {
				vma_end_read(vma);
				count(mm, FAULT_ABORT);
				return NULL;
			}
			return vma;
		case VMA_READ_STALE:
			count(mm, FAULT_MISS);
			continue;
		case VMA_READ_BUSY:
			goto abort;
		}
	}
abort:
	rcu_read_exit();
	count(mm, FAULT_ABORT);
	return NULL;
}
#endif

/* The area under mmap_lock (held by the caller), or NULL. */
static struct uvma_vma *find_locked(struct uvma_mm *mm, uint64_t addr)
{
	struct tree_entry e;
	bool found;

	mmap_assert_locked(mm);
	/* mmap_lock keeps the writer out; RCU only for the tree's rules. */
	rcu_read_enter();
	found = tree_find(&mm->tree, addr, &e);
	rcu_read_exit();
	return found ? e.ptr : NULL;
}

struct uvma_vma *uvma_vma_find(struct uvma_mm *mm, uint64_t addr)
{
	return find_locked(mm, addr);
}

#if UVMA_DESIGN == UVMA_DESIGN_GLOBAL
struct uvma_vma *uvma_vma_lock(struct uvma_mm *mm, uint64_t addr)
{
	(void)mm;
	(void)addr;
	return NULL; /* never without mmap_lock */
}

void uvma_vma_unlock(struct uvma_vma *vma)
{
	mmap_read_unlock(atomic_load_explicit(&vma->mm, memory_order_relaxed));
}

int uvma_vma_get(struct uvma_mm *mm, uint64_t addr, struct uvma_vma **out)
{
	struct uvma_vma *vma;

	mmap_read_lock(mm);
	vma = find_locked(mm, addr);
	if (!vma) {
		mmap_read_unlock(mm);
		return -EFAULT;
	}
	count(mm, FAULT_SUCCESS);
	*out = vma; /* mmap_lock stays held until uvma_vma_unlock */
	return 0;
}
#else
struct uvma_vma *uvma_vma_lock(struct uvma_mm *mm, uint64_t addr)
{
	struct uvma_vma *vma = lock_vma_under_rcu(mm, addr);

	if (vma)
		count(mm, FAULT_SUCCESS);
	return vma;
}

void uvma_vma_unlock(struct uvma_vma *vma)
{
	vma_end_read(vma);
}

int uvma_vma_get(struct uvma_mm *mm, uint64_t addr, struct uvma_vma **out)
{
	struct uvma_vma *vma = lock_vma_under_rcu(mm, addr);
	int err = 0;

	if (vma) {
		count(mm, FAULT_SUCCESS);
		*out = vma;
		return 0;
	}
	count(mm, FAULT_FALLBACK);
	mmap_read_lock(mm);
	vma = find_locked(mm, addr);
	if (!vma)
		err = -EFAULT;
	else if (!vma_start_read_locked(vma))
		err = -EAGAIN;
	mmap_read_unlock(mm);
	if (!err)
		*out = vma;
	return err;
}
#endif

void uvma_vma_info(const struct uvma_vma *vma, struct uvma_area_info *out)
{
	out->start = vma->start;
	out->end = vma->end;
	out->prot = vma->prot;
	out->flags = vma->flags & VMA_MAP_MASK;
	out->vm_flags = vma->flags >> VMA_VM_SHIFT;
	out->pgoff = vma->pgoff;
	/* Anonymous shared areas carry a hidden backing id (ops.h). */
	out->file_id = vma->flags & UVMA_MAP_ANONYMOUS ? 0 : vma->file_id;
	out->anon = vma->flags & UVMA_MAP_SHARED ? 0 : vma_anon(vma);
	out->user = vma->user;
}

/*
 * Linux's rule: a write needs PROT_WRITE, an instruction fetch PROT_EXEC,
 * and a read any access at all (a write-only or exec-only area is readable
 * on the hardware Linux runs on).
 */
static bool access_allowed(unsigned prot, unsigned access)
{
	if ((access & UVMA_ACCESS_WRITE) && !(prot & UVMA_PROT_WRITE))
		return false;
	if ((access & UVMA_ACCESS_EXEC) && !(prot & UVMA_PROT_EXEC))
		return false;
	if ((access & UVMA_ACCESS_READ) &&
	    !(prot & (UVMA_PROT_READ | UVMA_PROT_WRITE | UVMA_PROT_EXEC)))
		return false;
	return true;
}

/*
 * A write to a private area without a tag gives it one first (Linux's
 * vmf_anon_prepare), and so does a read of private anonymous memory in a
 * space without a zero page (anon_needed_by): under mmap_lock for
 * reading. From under the VMA lock only a trylock, as Linux: the first
 * write fault never waits for a map change; when the lock is busy it
 * retries under mmap_lock instead.
 */
static int prepare_anon(struct uvma_mm *mm, struct uvma_vma *vma,
			unsigned access, unsigned flags)
{
	int err;

	if (!anon_needed_by(vma, access & UVMA_ACCESS_WRITE, mm->no_zero_page))
		return 0;
	if (flags & UVMA_FAULT_MMAP_LOCKED)
		return __anon_prepare(mm, vma);
	if (!mmap_read_trylock(mm))
		return UVMA_FAULT_RETRY;
	err = __anon_prepare(mm, vma);
	mmap_read_unlock(mm);
	return err;
}

/* Run the area's handler; the caller holds the area (or mmap_lock). */
static int run_handler(struct uvma_mm *mm, struct uvma_vma *vma, uint64_t addr,
		       unsigned access, unsigned flags)
{
	uvma_fault_fn fn = mm->fault;
	struct uvma_fault f;
	int err;

	if (!access_allowed(vma->prot, access))
		return -EACCES;
	if (vma_is_shmem(vma) &&
	    anon_shm_past_end(
		    vma, vma->pgoff + ((addr - vma->start) >> mm->page_shift)))
		return -EIO; /* Linux: SIGBUS */
	err = prepare_anon(mm, vma, access, flags);
	if (err)
		return err;
	if (!fn)
		return 0;
	f.mm = mm;
	f.vma = vma;
	f.addr = addr;
	f.access = access;
	f.flags = flags;
	f.user = vma->user;
	f.arg = mm->fault_arg;
	return fn(&f);
}

/* Under mmap_lock (read): does the area above addr grow down to it? */
static bool below_stack(struct uvma_mm *mm, uint64_t addr)
{
	struct tree_entry e;
	bool found;

	rcu_read_enter();
	found = mm_stack_above(mm, addr, &e);
	rcu_read_exit();
	return found;
}

/*
 * The fallback's lookup, with mmap_lock held for reading: the area at
 * addr, or NULL. A fault just below a stack grows it first (Linux's
 * lock_mm_and_find_vma): mmap_lock is retaken for writing, the growth is
 * planned and applied, and the lock goes back to reading for the handler.
 */
static struct uvma_vma *find_or_grow(struct uvma_mm *mm, uint64_t addr,
				     int *err)
{
	struct uvma_vma *vma = find_locked(mm, addr);

	*err = -EFAULT;
	if (vma || !below_stack(mm, addr))
		return vma;
	mmap_read_unlock(mm);
	mmap_write_lock(mm);
	*err = __mm_expand_stack(mm, addr);
	vma = *err ? NULL : find_locked(mm, addr);
	mmap_write_downgrade(mm);
	return vma;
}

int uvma_fault(struct uvma_mm *mm, uint64_t addr, unsigned access)
{
	struct uvma_vma *vma;
	int ret;

	if (!access ||
	    (access & ~(unsigned)(UVMA_ACCESS_READ | UVMA_ACCESS_WRITE |
				  UVMA_ACCESS_EXEC)))
		return -EINVAL;
#if UVMA_DESIGN == UVMA_DESIGN_GLOBAL
	mmap_read_lock(mm);
	vma = find_or_grow(mm, addr, &ret);
	if (vma)
		ret = run_handler(mm, vma, addr, access,
				  UVMA_FAULT_MMAP_LOCKED);
	mmap_read_unlock(mm);
	count(mm, FAULT_SUCCESS);
	return ret == UVMA_FAULT_RETRY ? -EAGAIN : ret;
#else
	vma = lock_vma_under_rcu(mm, addr);
	if (vma) {
		ret = run_handler(mm, vma, addr, access, 0);
		vma_end_read(vma);
		if (ret != UVMA_FAULT_RETRY) {
			count(mm, FAULT_SUCCESS);
			return ret;
		}
		count(mm, FAULT_RETRY);
	}
	count(mm, FAULT_FALLBACK);
	mmap_read_lock(mm);
	vma = find_or_grow(mm, addr, &ret);
	if (vma)
		ret = run_handler(mm, vma, addr, access,
				  UVMA_FAULT_MMAP_LOCKED);
	mmap_read_unlock(mm);
	/* Under mmap_lock there is nothing further to retry with. */
	return ret == UVMA_FAULT_RETRY ? -EAGAIN : ret;
#endif
}
