/*
 * touch.h - touching real memory in tests of pager spaces (UVMA_MM_PAGER):
 * a load or a store that may meet SIGSEGV (an unmapped or protected range),
 * caught and reported instead of killing the test, and creating a pager
 * space or saying why the test cannot run here.
 */
#ifndef UVMA_TEST_TOUCH_H
#define UVMA_TEST_TOUCH_H

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "uvma.h"

/* CTest's SKIP_RETURN_CODE of the pager tests. */
#define TOUCH_SKIP 77

/* volatile: the handler reads it, so the stores around an access must
 * stay where they are. */
static inline sigjmp_buf *volatile *touch_jump_slot(void)
{
	static _Thread_local sigjmp_buf *volatile jump;

	return &jump;
}

/* The last signal a touch met on this thread, and its address. */
struct touch_signal {
	int signo;
	int code;
	uint64_t addr;
};

static inline volatile struct touch_signal *touch_last(void)
{
	static _Thread_local volatile struct touch_signal last;

	return &last;
}

static inline void touch_on_signal(int sig, siginfo_t *si, void *uc)
{
	sigjmp_buf *jb = *touch_jump_slot();

	(void)uc;
	if (!jb)
		abort(); /* a signal no test expected */
	touch_last()->signo = sig;
	touch_last()->code = si->si_code;
	touch_last()->addr = (uint64_t)(uintptr_t)si->si_addr;
	siglongjmp(*jb, 1);
}

/*
 * Once per process, before any thread touches memory and before the first
 * space with UVMA_MM_PAGER_SIGBUS (whose handler passes the signals it
 * does not resolve to this one): SIGSEGV and SIGBUS are caught.
 */
static inline void touch_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = touch_on_signal;
	sa.sa_flags = SA_NODEFER | SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
	CHECK(sigaction(SIGBUS, &sa, NULL) == 0);
}

/* A load at addr (into *out when not NULL), or a store of v: 0, or the
 * signal it met (SIGSEGV, SIGBUS; touch_last() tells the address). Any
 * thread. */
static inline int touch_sig(uint64_t addr, bool store, uint8_t v, uint8_t *out)
{
	volatile uint8_t *p = (volatile uint8_t *)(uintptr_t)addr;
	sigjmp_buf jb;
	volatile int sig = 0;

	touch_last()->signo = 0;
	if (sigsetjmp(jb, 1) == 0) {
		*touch_jump_slot() = &jb;
		if (store)
			*p = v;
		else if (out)
			*out = *p;
		else
			(void)*p;
	} else {
		sig = touch_last()->signo;
	}
	*touch_jump_slot() = NULL;
	return sig;
}

/* The same, true when no signal came. */
static inline bool touch(uint64_t addr, bool store, uint8_t v, uint8_t *out)
{
	return touch_sig(addr, store, v, out) == 0;
}

/* A pager space from cfg (UVMA_MM_PAGER is added), or exit with
 * TOUCH_SKIP where userfaultfd cannot be had (not root). */
static inline struct uvma_mm *touch_pager_or_skip(struct uvma_mm_config *cfg,
						  const char *test)
{
	struct uvma_mm *mm = NULL;
	int err;

	cfg->flags |= UVMA_MM_PAGER;
	err = uvma_mm_create(cfg, &mm);
	if (err == -EPERM || err == -ENOSYS) {
		printf("%s: skipped: userfaultfd unavailable (%s); run as "
		       "root\n",
		       test, uvma_strerror(err));
		exit(TOUCH_SKIP);
	}
	CHECK_EQ_U64(err, 0);
	return mm;
}

#endif
