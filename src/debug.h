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

#endif
