/*
 * mm.c - the address space: creation and destruction, mmap_lock and
 * mm_lock_seq.
 *
 * Locks: mmap_lock (mm->lock) serializes every change of the map; its
 * writer alone writes mm_lock_seq and the tree. mm_lock_seq is odd while
 * mmap_lock is held for writing; a VMA is write-locked when its lock_seq
 * equals it, so making it even again ends all VMA write locks at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "alloc.h"
#include "debug.h"
#include "mm.h"
#include "pager.h"
#include "plan.h"
#include "rcu.h"
#include "vma.h"

#ifdef UVMA_DEBUG
long mm_thread_id(void)
{
	static _Thread_local long tid;

	if (!tid)
		tid = syscall(SYS_gettid);
	return tid;
}
#endif

/*
 * VMA lock_seq values are the odd values mm_lock_seq takes while
 * write-held. After 2^31 write cycles the 32-bit sequence comes back to a
 * value some untouched VMA may still hold, and vma_start_write would take
 * that VMA for already locked and skip waiting for its readers. So when the
 * sequence wraps (the lock that makes it 1), every VMA's lock_seq is reset
 * to 0, which no write cycle uses (0 is even, and only odd sequences lock:
 * see seq_locks in vma_lock.c): one walk per 2^31 cycles. (Linux keeps a
 * 32-bit vm_lock_seq and does not do this.)
 */
static void reset_lock_seqs(struct uvma_mm *mm)
{
#if UVMA_DESIGN == UVMA_DESIGN_GLOBAL
	(void)mm; /* no VMA lock, no sequence in the VMAs */
#else
	struct tree_iter it;
	struct tree_entry e;

	tree_iter_start(&it, &mm->tree, 0, UINT64_MAX);
	while (tree_iter_next(&it, &e)) {
		struct uvma_vma *v = e.ptr;

		/* A reader that still sees the old value either compares
		 * it with the current odd sequence, 1 (at worst a spurious
		 * "busy": fall back), or finds it below its bound of the old
		 * epoch, which is then right: its cycle had ended before
		 * that bound was read (vma_lock.h). Release: a reader
		 * that sees 0 takes the VMA without reading mm_lock_seq
		 * (below every bound, vma_lock.h), so 0 must bring the
		 * changes of the cycles before it. */
		atomic_store_explicit(&v->lock_seq, 0, memory_order_release);
	}
#endif
}

/*
 * The sequence starts over (a wrap, or a test's jump): the bounds readers
 * keep (vma_lock.h) compare values of one epoch only. Release, after the
 * new sequence value: a reader that reads this epoch and then mm_lock_seq
 * gets a value of this epoch or a later one (seen_refresh).
 */
static void new_epoch(struct uvma_mm *mm)
{
	atomic_fetch_add_explicit(&mm->seq_epoch, 1, memory_order_release);
}

void mmap_write_lock(struct uvma_mm *mm)
{
	uint32_t seq;

	rwsem_write_lock(&mm->lock);
#ifdef UVMA_DEBUG
	atomic_store_explicit(&mm->write_owner, mm_thread_id(),
			      memory_order_relaxed);
#endif
	seq = atomic_load_explicit(&mm->lock_seq, memory_order_relaxed) + 1;
	UVMA_ASSERT(seq & 1);
	if (seq == 1)
		reset_lock_seqs(mm);
	/*
	 * Release, though no reader needs the odd value early (a reader only
	 * acts on it through a VMA whose lock_seq we set in vma_start_write,
	 * and that publishes it with a release of its own): a reader whose
	 * acquire load in vma_start_read reads this value must also see the
	 * changes of the previous write cycles, which happen before this store
	 * through the rwsem. The previous cycle's release store is not enough
	 * once this store has overwritten it.
	 */
	atomic_store_explicit(&mm->lock_seq, seq, memory_order_release);
	if (seq == 1)
		new_epoch(mm);
}

/* End the write cycle: release, so that a reader whose acquire load sees the
 * even value sees every change made to the VMAs locked in the cycle. */
static void end_write_cycle(struct uvma_mm *mm)
{
	uint32_t seq =
		atomic_load_explicit(&mm->lock_seq, memory_order_relaxed);

	mmap_assert_write_locked(mm);
	UVMA_ASSERT(seq & 1);
#ifdef UVMA_DEBUG
	atomic_store_explicit(&mm->write_owner, 0, memory_order_relaxed);
#endif
	atomic_store_explicit(&mm->lock_seq, seq + 1, memory_order_release);
}

void mmap_write_unlock(struct uvma_mm *mm)
{
	end_write_cycle(mm);
	rwsem_write_unlock(&mm->lock);
}

void mmap_write_downgrade(struct uvma_mm *mm)
{
	end_write_cycle(mm);
	rwsem_downgrade(&mm->lock);
}

void mmap_read_lock(struct uvma_mm *mm)
{
	rwsem_read_lock(&mm->lock);
}

bool mmap_read_trylock(struct uvma_mm *mm)
{
	return rwsem_read_trylock(&mm->lock);
}

void mmap_read_unlock(struct uvma_mm *mm)
{
	rwsem_read_unlock(&mm->lock);
}

#ifdef UVMA_TEST_HOOKS
void mm_set_lock_seq(struct uvma_mm *mm, uint32_t seq)
{
	UVMA_ASSERT(!(seq & 1) && !rwsem_is_locked(&mm->lock));
	atomic_store_explicit(&mm->lock_seq, seq, memory_order_relaxed);
	new_epoch(mm);
}
#endif

void uvma_mm_read_lock(struct uvma_mm *mm)
{
	mmap_read_lock(mm);
}

void uvma_mm_read_unlock(struct uvma_mm *mm)
{
	mmap_read_unlock(mm);
}

/* 47-bit user space; 65536 is Linux's default vm.mmap_min_addr. */
#define DEFAULT_BASE 0x10000ull
#define DEFAULT_END  0x7ffffffff000ull

void uvma_mm_config_init(struct uvma_mm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->base = DEFAULT_BASE;
	cfg->size = DEFAULT_END - DEFAULT_BASE;
	cfg->page_size = 4096;
}

static int config_check(const struct uvma_mm_config *cfg)
{
	uint64_t ps = cfg->page_size;

	if (ps < 4096 || (ps & (ps - 1)) || ps > (1ull << 30))
		return -EINVAL;
	if (cfg->size == 0 || (cfg->base | cfg->size) & (ps - 1))
		return -EINVAL;
	if (cfg->base + cfg->size < cfg->base)
		return -EINVAL; /* wraps */
	if (cfg->brk_start &&
	    ((cfg->brk_start & (ps - 1)) || cfg->brk_start < cfg->base ||
	     cfg->brk_start >= cfg->base + cfg->size))
		return -EINVAL;
	if (cfg->flags & ~(unsigned)(UVMA_MM_PAGER | UVMA_MM_PAGER_SIGBUS |
				     UVMA_MM_NO_ZERO_PAGE))
		return -EINVAL;
	if ((cfg->flags & UVMA_MM_PAGER_SIGBUS) &&
	    !(cfg->flags & UVMA_MM_PAGER))
		return -EINVAL;
	/* A pager's window is where the kernel puts it when base is 0: a
	 * heap needs a known place. */
	if ((cfg->flags & UVMA_MM_PAGER) && cfg->brk_start && !cfg->base)
		return -EINVAL;
	if (cfg->stack_guard_gap & (ps - 1))
		return -EINVAL;
	return 0;
}

int uvma_mm_create(const struct uvma_mm_config *cfg, struct uvma_mm **out)
{
	struct uvma_mm_config defaults;
	struct uvma_mm *mm;
	int err;

	if (!out)
		return -EINVAL;
	if (!cfg) {
		uvma_mm_config_init(&defaults);
		cfg = &defaults;
	}
	err = config_check(cfg);
	if (err)
		return err;
	alloc_note();
	mm = aligned_alloc(64, sizeof(*mm));
	if (!mm)
		return -ENOMEM;
	memset(mm, 0, sizeof(*mm));
	err = tree_init(&mm->tree, cfg->page_size);
	if (err) {
		free(mm);
		return err;
	}
	rwsem_init(&mm->lock);
	atomic_init(&mm->lock_seq, 0);
	pthread_mutex_init(&mm->anon_lock, NULL);
	mm->anon_next = 1;
	mm->base = cfg->base;
	mm->end = cfg->base + cfg->size;
	mm->page_size = cfg->page_size;
	mm->page_shift = (unsigned)__builtin_ctzll(cfg->page_size);
	mm->fault = cfg->fault;
	mm->fault_arg = cfg->fault_arg;
	mm->brk_start = cfg->brk_start;
	mm->stack_limit = cfg->stack_limit ? cfg->stack_limit : 8ull << 20;
	mm->stack_gap = cfg->stack_guard_gap ? cfg->stack_guard_gap
					     : 256 * cfg->page_size;
	mm->brk = cfg->brk_start;
	mm->memlock_limit = UVMA_MEMLOCK_UNLIMITED;
	mm->no_zero_page = cfg->flags & UVMA_MM_NO_ZERO_PAGE;
	if (cfg->flags & UVMA_MM_PAGER) {
		err = pager_create(mm, cfg);
		if (err) {
			tree_destroy(&mm->tree);
			free(mm);
			return err;
		}
	}
	*out = mm;
	return 0;
}

/*
 * No fault can run in a space being destroyed (the caller's contract, as
 * for Linux's exit_mmap), so no RCU reader can be looking at these VMAs:
 * they are detached and freed straight away, without a grace period
 * (docs/design.md H3). The tree's own nodes still go through RCU
 * (tree_destroy).
 */
void uvma_mm_destroy(struct uvma_mm *mm)
{
	if (!mm)
		return;
	pager_quiesce(mm); /* no handler thread faults in it any more */
	mmap_write_lock(mm);
	__mm_teardown(mm);
	mmap_write_unlock(mm);
	tree_destroy(&mm->tree);
	pager_destroy(mm);
	pthread_mutex_destroy(&mm->anon_lock);
	free(mm);
}
