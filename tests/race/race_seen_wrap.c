/*
 * race_seen_wrap.c - a fault thread's bound on mm_lock_seq kept across a
 * wrap of the 32-bit sequence (docs/design.md rule 4, "Sequence bounds";
 * docs/races.md).
 *
 * A fault skips reading mm_lock_seq for a VMA whose lock_seq is below the
 * last value its thread read. After the sequence wraps, a VMA write-locked
 * in the new cycle 1 has lock_seq 1, below any bound read before the wrap:
 * compared across the wrap, the bound calls a write-locked VMA unlocked.
 * seq_epoch, bumped at the wrap, keeps values of different epochs apart.
 *
 * Each round, on a new space: A is mapped, the sequence is moved to just
 * before the wrap (the test hook stands for 2^31 cycles), and the fault
 * thread faults on A (its bound is now the value before the wrap). The
 * writer then runs write cycles until the sequence wraps, and in the cycle
 * that makes it 1 write-locks A and holds it while the fault thread faults
 * on A again.
 *   real:   the bound's epoch is old: the fault reads mm_lock_seq, finds A
 *           locked, falls back to mmap_lock and waits for the writer; the
 *           handler runs after the writer let go;
 *   broken: 1 is below the bound: the fault takes A's read lock while the
 *           writer holds it, and the handler runs inside the writer's cycle
 *           (the violation).
 */
#include <pthread.h>

#include "race_util.h"

#define AREA 0x40000000ull
#define PAGE 4096ull

static _Atomic int writer_holds; /* the writer has A write-locked */
static _Atomic int handled;	 /* handler calls this round */
static uint64_t cur_round;

static int handler(const struct uvma_fault *f)
{
	(void)f;
	if (atomic_load(&writer_holds))
		race_violation("round %" PRIu64 ": a fault ran on A while its "
			       "writer held it write-locked",
			       cur_round);
	atomic_fetch_add(&handled, 1);
	return 0;
}

struct faulter {
	struct uvma_mm *mm;
	int err;
};

static void *fault_once(void *arg)
{
	struct faulter *f = arg;

	f->err = uvma_fault(f->mm, AREA, UVMA_ACCESS_READ);
	return NULL;
}

/* The fault thread: one fault, then (asked) another; the same thread, so
 * that its bound (its fault slot) carries over. */
struct reader {
	struct uvma_mm *mm;
	_Atomic int go, done;
	int err[2];
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct race_wait w;

	r->err[0] = uvma_fault(r->mm, AREA, UVMA_ACCESS_READ);
	atomic_store(&r->done, 1);
	race_wait_start(&w);
	while (!atomic_load(&r->go))
		race_wait_step(&w, "waiting for the writer's wrap");
	r->err[1] = uvma_fault(r->mm, AREA, UVMA_ACCESS_READ);
	atomic_store(&r->done, 2);
	return NULL;
}

static void one_round(void)
{
	struct uvma_mm *mm = test_mm(handler, NULL);
	struct uvma_vma *a;
	struct reader r = { .mm = mm };
	struct race_wait w;
	pthread_t t;

	mm_set_lock_seq(mm, 0);
	a = test_map(mm, AREA, AREA + PAGE, UVMA_PROT_READ, NULL);
	mm_set_lock_seq(mm, 0xfffffff8);
	atomic_store(&handled, 0);
	CHECK(pthread_create(&t, NULL, reader_main, &r) == 0);
	race_wait_start(&w);
	while (atomic_load(&r.done) < 1)
		race_wait_step(&w, "waiting for the first fault");
	CHECK_EQ_U64(r.err[0], 0);

	/* Cycles up to the wrap; the one that makes the sequence 1 keeps A. */
	do {
		mmap_write_lock(mm);
		if (atomic_load(&mm->lock_seq) == 1)
			break;
		mmap_write_unlock(mm);
	} while (1);
	vma_start_write(a);
	atomic_store(&writer_holds, 1);
	atomic_store(&r.go, 1);
	/* Long enough for a fault that gets past the lock to run its
	 * handler; a correct one waits for mmap_lock meanwhile. */
	usleep(20000);
	atomic_store(&writer_holds, 0);
	mmap_write_unlock(mm);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK_EQ_U64(r.err[1], 0);
	CHECK_EQ_U64(atomic_load(&handled), 2);

	/* And a thread with no bound yet faults on A as well. */
	struct faulter f = { mm, -1 };
	CHECK(pthread_create(&t, NULL, fault_once, &f) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK_EQ_U64(f.err, 0);
	uvma_mm_destroy(mm);
}

int main(int argc, char **argv)
{
	const uint64_t rounds = 10;

	race_begin("seen_wrap", argc, argv, rounds);
	for (cur_round = 0; cur_round < rounds; cur_round++) {
		one_round();
		if (race_violations())
			break;
	}
	return race_finish(cur_round, "no fault ran on a write-locked VMA");
}
