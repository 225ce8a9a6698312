/*
 * design.h - which per-VMA lock design this build of the library is.
 *
 * The library proper is UVMA_DESIGN_REFCOUNT (the default): Linux 6.15+'s
 * refcount lock over type-stable VMAs. The two others exist only as
 * baselines for the benchmark (docs/design.md section 8, bench/worker/), built
 * from the same sources with -DUVMA_DESIGN=... into libraries of their own,
 * so that nothing of theirs is on the real fast path:
 *   UVMA_DESIGN_RWSEM   a reader-writer semaphore, a lock sequence and a
 *                       detached flag per VMA, VMAs freed after an RCU
 *                       grace period (Linux 6.4 to 6.14;
 *                       vma_lock_baseline.c)
 *   UVMA_DESIGN_GLOBAL  no per-VMA lock: every fault takes mmap_lock for
 *                       reading (Linux before 6.4; the #if branches of
 *                       fault.c)
 */
#ifndef UVMA_DESIGN_H
#define UVMA_DESIGN_H

#define UVMA_DESIGN_REFCOUNT 0
#define UVMA_DESIGN_RWSEM    1
#define UVMA_DESIGN_GLOBAL   2

#ifndef UVMA_DESIGN
#define UVMA_DESIGN UVMA_DESIGN_REFCOUNT
#endif

#if UVMA_DESIGN == UVMA_DESIGN_REFCOUNT
#define UVMA_DESIGN_NAME "refcount"
#elif UVMA_DESIGN == UVMA_DESIGN_RWSEM
#define UVMA_DESIGN_NAME "rwsem"
#elif UVMA_DESIGN == UVMA_DESIGN_GLOBAL
#define UVMA_DESIGN_NAME "global"
#else
#error "UVMA_DESIGN: expected 0 (refcount), 1 (rwsem) or 2 (global)"
#endif

#endif
