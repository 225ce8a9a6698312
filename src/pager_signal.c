/*
 * pager_signal.c - fault delivery in the faulting thread (UVMA_MM_PAGER_SIGBUS;
 * docs/design.md section 9). userfaultfd's SIGBUS mode makes a missing or
 * write-protect fault a SIGBUS of the thread that took it; our handler runs
 * the ordinary fault path (uvma_fault: the area read-locked under RCU, the
 * fill inside) and returns, and the access is retried. No handler thread,
 * no context switch.
 *
 * Locks: spaces are added and removed under reg_lock; the handler reads
 * the table without it (acquire loads of published pointers). A space
 * leaves the table only in uvma_mm_destroy, when no thread may touch its
 * range any more (the documented contract), so no handler can be using
 * it then.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <ucontext.h>

#include "pager_impl.h"

#define SIGNAL_SPACES 64

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(struct pager *) spaces[SIGNAL_SPACES];
static struct sigaction previous; /* reg_lock; set once, read after */
static bool installed;		  /* reg_lock */

static struct pager *space_of(uint64_t addr)
{
	for (int i = 0; i < SIGNAL_SPACES; i++) {
		struct pager *pg =
			atomic_load_explicit(&spaces[i], memory_order_acquire);
		uint64_t base = pg ? (uint64_t)(uintptr_t)pg->base : 0;

		if (pg && addr >= base && addr - base < pg->size)
			return pg;
	}
	return NULL;
}

/* What the hardware said about the access (x86-64: the page fault error
 * code's write bit); elsewhere a read, which is always safe: a write then
 * faults once more, on the page now present. */
static unsigned access_of(const void *uc)
{
#if defined(__x86_64__)
	const ucontext_t *u = uc;

	return (u->uc_mcontext.gregs[REG_ERR] & 2) ? UVMA_ACCESS_WRITE
						   : UVMA_ACCESS_READ;
#else
	(void)uc;
	return UVMA_ACCESS_READ;
#endif
}

/* Not ours, or a page that cannot be filled: what the program asked for
 * SIGBUS before us. A default (or ignored) disposition becomes the
 * default again, so the retried access ends the process as the kernel's
 * SIGBUS would. */
static void pass_on(int sig, siginfo_t *si, void *uc)
{
	if (previous.sa_flags & SA_SIGINFO) {
		previous.sa_sigaction(sig, si, uc);
		return;
	}
	if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
		previous.sa_handler(sig);
		return;
	}
	signal(SIGBUS, SIG_DFL);
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	uint64_t addr = (uint64_t)(uintptr_t)si->si_addr;
	struct pager *pg = si->si_code == BUS_ADRERR ? space_of(addr) : NULL;
	int saved = errno;
	uint64_t t0;

	if (!pg) {
		pass_on(sig, si, uc);
		errno = saved;
		return;
	}
	t0 = pager_now_ns();
	pager_delivery.in_signal = true;
	if (pager_deliver(pg, addr & ~(pg->page_size - 1), access_of(uc),
			  false))
		pass_on(sig, si, uc);
	pager_delivery.in_signal = false;
	pager_latency(pg, t0);
	errno = saved;
}

static int install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	/* NODEFER: a fill function may itself touch another space's
	 * missing page; RESTART: the interrupted system calls go on. */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, &previous) ? -errno : 0;
}

int pager_signal_add(struct pager *pg)
{
	int err = 0, i;

	pthread_mutex_lock(&reg_lock);
	if (!installed) {
		err = install();
		installed = !err;
	}
	for (i = 0; !err && i < SIGNAL_SPACES; i++) {
		if (!atomic_load_explicit(&spaces[i], memory_order_relaxed)) {
			atomic_store_explicit(&spaces[i], pg,
					      memory_order_release);
			break;
		}
	}
	if (!err && i == SIGNAL_SPACES)
		err = -EMFILE;
	pthread_mutex_unlock(&reg_lock);
	return err;
}

void pager_signal_remove(struct pager *pg)
{
	pthread_mutex_lock(&reg_lock);
	for (int i = 0; i < SIGNAL_SPACES; i++)
		if (atomic_load_explicit(&spaces[i], memory_order_relaxed) ==
		    pg)
			atomic_store_explicit(&spaces[i], NULL,
					      memory_order_relaxed);
	pthread_mutex_unlock(&reg_lock);
}
