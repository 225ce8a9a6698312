/*
 * debug.h - assertions of the rules the code relies on, and sanitizer hooks.
 *
 * UVMA_ASSERT(cond) is checked in debug builds (UVMA_DEBUG defined, which the
 * Debug configuration does) and compiles to nothing otherwise, so it may sit
 * on hot paths.
 */
#ifndef UVMA_DEBUG_H
#define UVMA_DEBUG_H

#include <stdio.h>
#include <stdlib.h>

#ifdef UVMA_DEBUG
#define UVMA_ASSERT(cond)                                                      \
	do {                                                                   \
		if (__builtin_expect(!(cond), 0))                              \
			uvma_assert_fail(#cond, __FILE__, __LINE__);           \
	} while (0)
#else
#define UVMA_ASSERT(cond)                                                      \
	do {                                                                   \
		(void)sizeof(cond);                                            \
	} while (0)
#endif

__attribute__((noreturn, cold)) static inline void
uvma_assert_fail(const char *what, const char *file, int line)
{
	fprintf(stderr, "uvma: assertion failed: %s (%s:%d)\n", what, file,
		line);
	abort();
}

#if defined(__SANITIZE_THREAD__)
#define UVMA_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UVMA_TSAN 1
#endif
#endif

#ifdef UVMA_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define tsan_acquire(addr) __tsan_acquire(addr)
#define tsan_release(addr) __tsan_release(addr)
#else
#define tsan_acquire(addr) ((void)(addr))
#define tsan_release(addr) ((void)(addr))
#endif

#if defined(__SANITIZE_ADDRESS__)
#define UVMA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UVMA_ASAN 1
#endif
#endif

/* A pool's free object: AddressSanitizer reports any use of the poisoned
 * bytes until they are handed out again. A pool's chunk, mapped by the
 * library, is not heap to LeakSanitizer: lsan_root() tells it to look in
 * the chunk for pointers to the heap (a tree node points to its tree's
 * bin). */
#ifdef UVMA_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/lsan_interface.h>
#define asan_poison(addr, len)	 ASAN_POISON_MEMORY_REGION(addr, len)
#define asan_unpoison(addr, len) ASAN_UNPOISON_MEMORY_REGION(addr, len)
#define lsan_root(addr, len)	 __lsan_register_root_region(addr, len)
#else
#define asan_poison(addr, len)	 ((void)(addr), (void)(len))
#define asan_unpoison(addr, len) ((void)(addr), (void)(len))
#define lsan_root(addr, len)	 ((void)(addr), (void)(len))
#endif

#endif
