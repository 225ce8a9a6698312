/*
 * race_pager_fill_unlocked.c - a pager fill that lands in a mapping made
 * after the fault was taken (docs/design.md section 9: a page is filled
 * only while the area it was found in is read-locked).
 *
 * Hand-written userfaultfd pagers look the region up (under a lock, or
 * none), drop it, then fill. If the region is unmapped and the range mapped
 * again with another backing in between, the fill writes the old backing's
 * data into the new mapping: silent data corruption. uvma's pager fills
 * inside the fault handler, with the area read-locked, and munmap waits
 * for readers (detach) before it zaps the real range.
 *
 * Threads: T (touches a page), the pager's handler thread (H; with SIGBUS
 * delivery, T itself in its signal handler), W (unmaps), and the main
 * thread M. The rounds run in both delivery modes. Each round:
 *   M  maps area A at x, whose fill function writes A's byte (0xAA);
 *   T  reads x: a missing page, T sleeps in the kernel;
 *   H  looks x up, finds A, and stops before the fill (HOOK_PAGER_FILL);
 *   W  uvma_munmap(x);
 *   M  waits up to WAIT_MS for W:
 *        real:   W cannot finish (detach waits for H's read lock); M lets
 *                H fill A's page, then W finishes (zapping it), and M maps
 *                area B at x, whose byte is 0xBB;
 *        broken: H holds no lock, W finishes, M maps B at x, then lets H
 *                fill: A's page lands in B's mapping;
 *   M  reads x: B's byte (0xBB) or a VIOLATION.
 * Needs userfaultfd (root); elsewhere it is skipped (exit 77).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "race_util.h"
#include "touch.h"

#define PAGE	4096ull
#define WAIT_MS 200

enum step { S_IDLE, S_PAUSED, S_RELEASED };

static _Atomic int step;
static _Atomic bool armed;  /* the next fill is the one to stop */
static _Atomic bool w_done; /* W's munmap returned */
static struct uvma_mm *mm;
static uint64_t x; /* the round's page */
static uint8_t byte_a = 0xaa, byte_b = 0xbb;
static volatile uint8_t seen; /* what T read */

static int fill(void *user, uint64_t addr, void *page, size_t len)
{
	(void)addr;
	memset(page, *(uint8_t *)user, len);
	return 0;
}

static void hook(enum hook_point point, struct uvma_mm *hmm,
		 struct uvma_vma *vma)
{
	(void)vma;
	if (point != HOOK_PAGER_FILL || hmm != mm ||
	    !atomic_exchange(&armed, false))
		return;
	atomic_store(&step, S_PAUSED);
	race_wait_for(&step, S_RELEASED, "H waits to be let fill");
}

/* T's load may meet the range already unmapped when it retries after the
 * fill (W zaps right after H lets go): SIGSEGV, as in any process whose
 * thread reads memory another thread unmaps. */
static volatile bool t_segv;

static void *toucher(void *arg)
{
	uint8_t v = 0;

	(void)arg;
	t_segv = !touch(x, false, 0, &v);
	seen = v;
	return NULL;
}

static void *unmapper(void *arg)
{
	(void)arg;
	CHECK_EQ_U64(uvma_munmap(mm, x, PAGE), 0);
	atomic_store(&w_done, true);
	return NULL;
}

static void map_at(uint8_t *user)
{
	uint64_t out = 0;

	CHECK_EQ_U64(uvma_mmap(mm, x, PAGE, UVMA_PROT_READ | UVMA_PROT_WRITE,
			       UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS |
				       UVMA_MAP_FIXED,
			       0, 0, user, &out),
		     0);
	CHECK_EQ_U64(out, x);
}

/* Did W finish within WAIT_MS? */
static bool unmapper_finished(void)
{
	for (int i = 0; i < WAIT_MS; i++) {
		if (atomic_load(&w_done))
			return true;
		usleep(1000);
	}
	return atomic_load(&w_done);
}

static void run_round(uint64_t round, uint64_t base)
{
	pthread_t t, w;
	bool early;

	x = base + (round % 16) * PAGE;
	atomic_store(&step, S_IDLE);
	atomic_store(&w_done, false);
	map_at(&byte_a);
	atomic_store(&armed, true);
	CHECK(pthread_create(&t, NULL, toucher, NULL) == 0);
	race_wait_for(&step, S_PAUSED, "M waits for H to stop before a fill");
	CHECK(pthread_create(&w, NULL, unmapper, NULL) == 0);
	early = unmapper_finished();
	if (early) {
		/* munmap ended while a fill of its area was pending. */
		map_at(&byte_b);
		atomic_store(&step, S_RELEASED);
		CHECK(pthread_join(w, NULL) == 0);
	} else {
		atomic_store(&step, S_RELEASED);
		CHECK(pthread_join(w, NULL) == 0);
		map_at(&byte_b);
	}
	CHECK(pthread_join(t, NULL) == 0);
	if (*(volatile uint8_t *)(uintptr_t)x != byte_b)
		race_violation("round %" PRIu64 ": the new mapping at %#" PRIx64
			       " holds %#x, a fill for the unmapped area "
			       "(0xaa) landed in it instead of its own "
			       "(0xbb)%s",
			       round, x, *(volatile uint8_t *)(uintptr_t)x,
			       early ? "; munmap had not waited for the fill"
				     : "");
	else if (early)
		race_violation("round %" PRIu64 ": munmap returned while a "
			       "fill of its area was pending",
			       round);
	/* T faulted on A. Its retried load, after the fill woke it, may
	 * see A's page, the hole after the unmap (SIGSEGV), or already B. */
	CHECK(t_segv || seen == byte_a || seen == byte_b);
	CHECK_EQ_U64(uvma_munmap(mm, x, PAGE), 0);
}

/* The rounds in one delivery mode: handler threads (H is the pager's
 * thread) or SIGBUS (H is T itself, in its signal handler). */
static uint64_t run_mode(uint64_t rounds, unsigned flags)
{
	struct uvma_mm_config cfg;
	uint64_t round;

	uvma_mm_config_init(&cfg);
	cfg.base = 0;
	cfg.size = 16 * PAGE;
	cfg.pager_fill = fill;
	cfg.flags = flags;
	mm = touch_pager_or_skip(&cfg, "race_pager_fill_unlocked");
	hook_set(hook);
	for (round = 0; round < rounds && !race_violations(); round++)
		run_round(round, mm->base);
	hook_set(NULL);
	if (!race_violations())
		uvma_mm_destroy(mm);
	return round;
}

int main(int argc, char **argv)
{
	uint64_t rounds = test_scaled(20, 4), done;

	race_begin("race_pager_fill_unlocked", argc, argv, 2 * rounds);
	touch_init(); /* before the SIGBUS space */
	done = run_mode(rounds, 0);
	if (!race_violations())
		done += run_mode(rounds, UVMA_MM_PAGER_SIGBUS);
	if (race_violations())
		return race_finish(done, "");
	return race_finish(done, "every fill landed in the area it was "
				 "looked up in, before munmap went on (handler "
				 "threads and SIGBUS)");
}
