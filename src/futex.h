/*
 * futex.h - sleeping on a 32-bit word until another thread changes it.
 *
 * Process-private futexes (FUTEX_PRIVATE_FLAG): every word we sleep on lives
 * in this process (the mmap_lock words of an address space, the refcnt of a
 * VMA in the never-unmapped pool). Callers always re-check their condition in
 * a loop: a wait may return early (a signal, a spurious wake, the word having
 * changed before the kernel looked), and a wake may reach a waiter that no
 * longer cares (harmless, it re-checks and sleeps again).
 */
#ifndef UVMA_FUTEX_H
#define UVMA_FUTEX_H

#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * Sleep while *word == expected. The kernel compares and queues atomically
 * with respect to futex_wake() on the same word, so a waker that changes the
 * word and then wakes cannot be missed.
 */
static inline void futex_wait(_Atomic uint32_t *word, uint32_t expected)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, NULL,
		NULL, 0);
}

/* Wake up to n threads sleeping on word (INT_MAX: all of them). */
static inline void futex_wake(_Atomic uint32_t *word, int n)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, n, NULL, NULL,
		0);
}

/* Tell the CPU we are spinning (frees the core's other thread, saves power). */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

#endif
