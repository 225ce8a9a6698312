/*
 * test_vma_lock.c - every state of the per-VMA refcount lock (docs/design.md
 * section 2) and every transition between them, each state checked by the
 * exact value of refcnt (and lock_seq against mm_lock_seq).
 *
 * The states where a writer or a detacher waits are reached with a second
 * thread doing the writer's part one step at a time on the main thread's
 * command (struct stepper): the main thread checks the count while the other
 * thread is blocked, then releases it. Every wait is bounded (WAIT_FOR): a
 * thread that never gets where it should fails the test instead of hanging.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "check.h"
#include "wait.h"
#include "hook.h"
#include "mm.h"
#include "rcu.h"
#include "tree.h"
#include "vma.h"
#include "vma_util.h"

#define PAGE 4096ull
#define AREA 0x40000000ull /* where each case maps its area */

/* ---- a second thread, one step at a time --------------------------------- */

/*
 * Runs fn(s, 1), fn(s, 2), ... each when the main thread asks for it, and
 * says when each is done; fn returns false after its last step. The writer
 * side of the lock has to run in a thread of its own (it sleeps), and the
 * debug assertions want every write-side call of a cycle from the thread
 * that took mmap_lock, so one thread does all of them.
 */
struct stepper {
	pthread_t thread;
	struct uvma_mm *mm;
	struct uvma_vma *vma;
	bool (*fn)(struct stepper *s, int step);
	_Atomic int asked;
	_Atomic int done;
};

static void *stepper_main(void *arg)
{
	struct stepper *s = arg;
	bool more = true;

	for (int i = 1; more; i++) {
		WAIT_FOR(atomic_load(&s->asked) >= i);
		more = s->fn(s, i);
		atomic_store(&s->done, i);
	}
	return NULL;
}

static void stepper_start(struct stepper *s, struct uvma_mm *mm,
			  struct uvma_vma *vma,
			  bool (*fn)(struct stepper *s, int step))
{
	s->mm = mm;
	s->vma = vma;
	s->fn = fn;
	atomic_init(&s->asked, 0);
	atomic_init(&s->done, 0);
	CHECK(pthread_create(&s->thread, NULL, stepper_main, s) == 0);
}

static void stepper_ask(struct stepper *s, int step)
{
	atomic_store(&s->asked, step);
}

static void stepper_wait(struct stepper *s, int step)
{
	WAIT_FOR(atomic_load(&s->done) >= step);
}

/* The step asked for is not done: its thread is blocked in it. */
static void stepper_stuck(struct stepper *s, int step)
{
	settle();
	CHECK(atomic_load(&s->done) < step);
}

static void stepper_join(struct stepper *s)
{
	CHECK(pthread_join(s->thread, NULL) == 0);
}

/* ---- the hook: park a reader before or after its increment --------------- */

/* Readers of this VMA stop in HOOK_READ_COUNTED until unpark is set. */
static _Atomic(struct uvma_vma *) park_vma;
static _Atomic int parked, unpark;
/*
 * A reader thread that set early_park_me stops in HOOK_READ_EARLY_CHECKED
 * (early check passed, count not raised) for early_vma until early_unpark is
 * set. Per thread, as the hook is global: the main thread's own readers of
 * the same VMA must not stop there.
 */
static _Atomic(struct uvma_vma *) early_vma;
static _Atomic int early_parked, early_unpark;
static _Thread_local bool early_park_me;
/* What the last HOOK_READ_COUNTED saw: the count just after the reader's
 * increment, and how many times it ran. */
static _Atomic uint32_t counted_refcnt;
static _Atomic int counted_calls;

static void lock_hook(enum hook_point point, struct uvma_mm *mm,
		      struct uvma_vma *vma)
{
	(void)mm;
	if (point == HOOK_READ_EARLY_CHECKED) {
		if (early_park_me && vma == atomic_load(&early_vma)) {
			atomic_store(&early_parked, 1);
			WAIT_FOR(atomic_load(&early_unpark));
		}
		return;
	}
	if (point != HOOK_READ_COUNTED)
		return;
	atomic_store(&counted_refcnt, test_refcnt(vma));
	atomic_fetch_add(&counted_calls, 1);
	if (vma == atomic_load(&park_vma)) {
		atomic_store(&parked, 1);
		WAIT_FOR(atomic_load(&unpark));
	}
}

/* ---- small helpers ------------------------------------------------------- */

/* vma_start_read as the fault path calls it: under the RCU read lock. */
static enum vma_read try_read(struct uvma_mm *mm, struct uvma_vma *v)
{
	enum vma_read r;

	rcu_read_enter();
	r = vma_start_read(mm, v);
	rcu_read_exit();
	return r;
}

static uint32_t mm_seq(struct uvma_mm *mm)
{
	return atomic_load(&mm->lock_seq);
}

static uint32_t vma_seq(struct uvma_vma *v)
{
	return atomic_load(&v->lock_seq);
}

static void set_refcnt(struct uvma_vma *v, uint32_t n)
{
	atomic_store(&v->refcnt, n);
}

/* A reader that fails must leave the count exactly as it found it. */
static void check_busy(struct uvma_mm *mm, struct uvma_vma *v)
{
	uint32_t before = test_refcnt(v);

	for (int i = 0; i < 3; i++) {
		CHECK_EQ_U64(try_read(mm, v), VMA_READ_BUSY);
		CHECK_EQ_U64(test_refcnt(v), before);
	}
}

/* An address space with one write cycle behind it (mm_lock_seq 2): a fresh
 * pool object has lock_seq 0, which equals the initial mm_lock_seq and would
 * read as "write-locked" to the early check of vma_start_read. */
static struct uvma_mm *new_mm(void)
{
	struct uvma_mm *mm = test_mm(NULL, NULL);

	mmap_write_lock(mm);
	mmap_write_unlock(mm);
	CHECK_EQ_U64(mm_seq(mm), 2);
	return mm;
}

/* ---- 0: detached --------------------------------------------------------- */

/*
 * A new VMA is detached (0): no reader can raise the count, and readers are
 * told it is stale. Write-locking a detached VMA just sets lock_seq; attach
 * makes it 1, and until the cycle ends readers are refused (rule 7).
 */
static void test_detached_attach(void)
{
	struct uvma_mm *mm = new_mm();
	struct uvma_vma *v = vma_alloc(mm);

	CHECK(v != NULL);
	CHECK_EQ_U64(test_refcnt(v), 0);
	CHECK(atomic_load(&v->mm) == mm);
	v->start = AREA;
	v->end = AREA + 4 * PAGE;
	v->prot = UVMA_PROT_READ;
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_U64(try_read(mm, v), VMA_READ_STALE);
		CHECK_EQ_U64(test_refcnt(v), 0);
	}

	mmap_write_lock(mm);
	CHECK_EQ_U64(mm_seq(mm), 3);
	vma_start_write(v);
	CHECK_EQ_U64(test_refcnt(v), 0); /* no OFFSET: nobody to exclude */
	CHECK_EQ_U64(vma_seq(v), 3);
	CHECK(vma_is_write_locked(v));
	vma_mark_attached(v);
	CHECK_EQ_U64(test_refcnt(v), 1);
	check_busy(mm, v);
	CHECK_EQ_U64(tree_store(&mm->tree, v->start, v->end, v), 0);
	mmap_write_unlock(mm);

	CHECK(!vma_is_write_locked(v));
	CHECK_EQ_U64(try_read(mm, v), VMA_READ_LOCKED);
	CHECK_EQ_U64(test_refcnt(v), 2);
	vma_end_read(v);
	CHECK_EQ_U64(test_refcnt(v), 1);
	uvma_mm_destroy(mm);
}

/* Detach with no reader: 1 -> 0 at once, then readers see a stale VMA. */
static void test_detach_no_readers(void)
{
	struct uvma_mm *mm = new_mm();
	struct uvma_vma *v =
		test_map(mm, AREA, AREA + PAGE, UVMA_PROT_READ, NULL);
	struct tree_entry e;

	mmap_write_lock(mm);
	vma_start_write(v);
	CHECK_EQ_U64(test_refcnt(v), 1);
	CHECK_EQ_U64(tree_store(&mm->tree, v->start, v->end, NULL), 0);
	CHECK(!tree_find(&mm->tree, AREA, &e));
	vma_mark_detached(v);
	CHECK_EQ_U64(test_refcnt(v), 0);
	mmap_write_unlock(mm);

	CHECK_EQ_U64(try_read(mm, v), VMA_READ_STALE);
	CHECK_EQ_U64(test_refcnt(v), 0);
	vma_free(v);
	uvma_mm_destroy(mm);
}

/* ---- 1 and 1 + n: attached ----------------------------------------------- */

static void test_readers(void)
{
	static const unsigned counts[] = { 1, 2, 3, 7, 64, 1000 };
	struct uvma_mm *mm = new_mm();
	struct uvma_vma *v =
		test_map(mm, AREA, AREA + PAGE, UVMA_PROT_READ, NULL);

	CHECK_EQ_U64(test_refcnt(v), 1);
	for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
		unsigned n = counts[k];

		for (unsigned i = 1; i <= n; i++) {
			CHECK_EQ_U64(try_read(mm, v), VMA_READ_LOCKED);
			CHECK_EQ_U64(test_refcnt(v), 1 + i);
		}
		CHECK(!vma_is_write_locked(v));
		for (unsigned i = n; i > 0; i--) {
			vma_end_read(v);
			CHECK_EQ_U64(test_refcnt(v), i);
		}
	}

	/* Readers under mmap_lock count the same way (rule 10), beside the
	 * lockless ones. */
	mmap_read_lock(mm);
	CHECK(vma_start_read_locked(v));
	CHECK_EQ_U64(test_refcnt(v), 2);
	CHECK_EQ_U64(try_read(mm, v), VMA_READ_LOCKED);
	CHECK_EQ_U64(test_refcnt(v), 3);
	CHECK(vma_start_read_locked(v));
	CHECK_EQ_U64(test_refcnt(v), 4);
	mmap_read_unlock(mm);
	for (unsigned i = 3; i > 0; i--) {
		vma_end_read(v);
		CHECK_EQ_U64(test_refcnt(v), i);
	}
	uvma_mm_destroy(mm);
}

/* ---- write-locked in the current cycle ----------------------------------- */

/*
 * lock_seq == mm_lock_seq (odd): readers are refused and leave the count as
 * it was; mmap_write_unlock ends the lock of every VMA at once (rule 3).
 */
static void test_write_locked_unlock(void)
{
	struct uvma_mm *mm = new_mm();
	struct uvma_vma *v =
		test_map(mm, AREA, AREA + PAGE, UVMA_PROT_READ, NULL);
	/* Its own user pointer, or the two would merge into one area. */
	struct uvma_vma *w =
		test_map(mm, AREA + PAGE, AREA + 2 * PAGE, UVMA_PROT_READ, &mm);

	CHECK_EQ_U64(mm_seq(mm), 6); /* two more cycles, one per test_map */
	mmap_write_lock(mm);
	CHECK_EQ_U64(mm_seq(mm), 7);
	CHECK(!vma_is_write_locked(v));
	vma_start_write(v);
	vma_start_write(w);
	CHECK_EQ_U64(vma_seq(v), 7);
	CHECK_EQ_U64(vma_seq(w), 7);
	CHECK_EQ_U64(test_refcnt(v), 1);
	CHECK(vma_is_write_locked(v));
	CHECK(vma_is_write_locked(w));
	check_busy(mm, v);
	check_busy(mm, w);
	mmap_write_unlock(mm);

	CHECK_EQ_U64(mm_seq(mm), 8);
	CHECK(!vma_is_write_locked(v));
	CHECK(!vma_is_write_locked(w));
	CHECK_EQ_U64(try_read(mm, v), VMA_READ_LOCKED);
	CHECK_EQ_U64(try_read(mm, w), VMA_READ_LOCKED);
	CHECK_EQ_U64(test_refcnt(v), 2);
	CHECK_EQ_U64(test_refcnt(w), 2);
	vma_end_read(v);
	vma_end_read(w);
	uvma_mm_destroy(mm);
}

/*
 * vma_start_write twice in one cycle: the second call returns at once. To
 * tell "returns at once" from "does it all again", a transient reader's
 * count is raised in between: doing it again would wait for that reader.
 */
static bool twice_steps(struct stepper *s, int step)
{
	switch (step) {
	case 1:
		mmap_write_lock(s->mm);
		vma_start_write(s->vma);
		return true;
	case 2:
		vma_start_write(s->vma);
		return true;
	default:
		mmap_write_unlock(s->mm);
		return false;
	}
}

static void test_write_lock_twice(void)
{
	struct uvma_mm *mm = new_mm();
	struct uvma_vma *v =
		test_map(mm, AREA, AREA + PAGE, UVMA_PROT_READ, NULL);
	struct stepper s;
	uint32_t seq;

	stepper_start(&s, mm, v, twice_steps);
	stepper_ask(&s, 1);
	stepper_wait(&s, 1);
	seq = mm_seq(mm);
	CHECK_EQ_U64(seq, 5);
	CHECK_EQ_U64(vma_seq(v), seq);
	CHECK_EQ_U64(test_refcnt(v), 1);

	/* A reader that incremented just now and has not yet checked. */
	atomic_fetch_add(&v->refcnt, 1);
	stepper_ask(&s, 2);
	stepper_wait(&s, 2);
	CHECK_EQ_U64(test_refcnt(v), 2);
	CHECK_EQ_U64(vma_seq(v), seq);
	/* The transient reader checks lock_seq, fails, and leaves. */
	CHECK_EQ_U64(vma_seq(v), mm_seq(mm));
	vma_end_read(v);
	CHECK_EQ_U64(test_refcnt(v), 1);

	stepper_ask(&s, 3);
	stepper_join(&s);
	CHECK_EQ_U64(mm_seq(mm), 6);
	CHECK_EQ_U64(try_read(mm, v), VMA_READ_LOCKED);
	vma_end_read(v);
	uvma_mm_destroy(mm);
}

/*
 * mmap_write_downgrade ends the VMA write locks too, while the downgrader
 * keeps mmap_lock for reading: lockless readers and readers under mmap_lock
 * get in, a writer does not until mmap_read_unlock.
 */
static bool lock_unlock_steps(struct stepper *s, int step)
{
	(void)step;
	mmap_write_lock(s->mm);
	mmap_write_unlock(s->mm);
	return false;
}

static void test_downgrade(void)
{
	struct uvma_mm *mm = new_mm();
	struct uvma_vma *v =
		test_map(mm, AREA, AREA + PAGE, UVMA_PROT_READ, NULL);
	struct stepper s;

	mmap_write_lock(mm);
	CHECK_EQ_U64(mm_seq(mm), 5);
	vma_start_write(v);
	CHECK(vma_is_write_locked(v));
	check_busy(mm, v);
	mmap_write_downgrade(mm);

	CHECK_EQ_U64(mm_seq(mm), 6);
	CHECK_EQ_U64(vma_seq(v), 5);
	CHECK(!vma_is_write_locked(v));
	CHECK_EQ_U64(try_read(mm, v), VMA_READ_LOCKED);
	CHECK_EQ_U64(test_refcnt(v), 2);
	CHECK(vma_start_read_locked(v)); /* we do hold mmap_lock for reading */
	CHECK_EQ_U64(test_refcnt(v), 3);
	vma_end_read(v);
	vma_end_read(v);
	CHECK_EQ_U64(test_refcnt(v), 1);

	stepper_start(&s, mm, v, lock_unlock_steps);
	stepper_ask(&s, 1);
	stepper_stuck(&s, 1);
	CHECK_EQ_U64(mm_seq(mm), 6); /* it has not got in */
	mmap_read_unlock(mm);
	stepper_wait(&s, 1);
	stepper_join(&s);
	CHECK_EQ_U64(mm_seq(mm), 8);
	uvma_mm_destroy(mm);
}

/* ---- above OFFSET + 1: a writer waiting for readers ---------------------- */

static bool write_steps(struct stepper *s, int step)
{
	switch (step) {
	case 1:
		mmap_write_lock(s->mm);
		vma_start_write(s->vma);
		return true;
	default:
		mmap_write_unlock(s->mm);
		return false;
	}
}

/*
 * n readers hold the VMA; a writer adds OFFSET and sleeps: the count is
 * OFFSET + 1 + n. New readers are refused without touching it; each leaving
 * reader brings it down by one, and the last one's leaving (OFFSET + 1)
 * wakes the writer, which sets lock_seq and drops OFFSET: 1.
 */
static void writer_waits(unsigned n)
{
	struct uvma_mm *mm = new_mm();
	struct uvma_vma *v =
		test_map(mm, AREA, AREA + PAGE, UVMA_PROT_READ, NULL);
	struct stepper s;

	for (unsigned i = 0; i < n; i++)
		CHECK_EQ_U64(try_read(mm, v), VMA_READ_LOCKED);
	CHECK_EQ_U64(test_refcnt(v), 1 + n);

	stepper_start(&s, mm, v, write_steps);
	stepper_ask(&s, 1);
	WAIT_FOR(test_refcnt(v) == VMA_LOCK_OFFSET + 1 + n ||
		 atomic_load(&s.done) >= 1);
	CHECK(atomic_load(&s.done) < 1);
	stepper_stuck(&s, 1);
	CHECK_EQ_U64(test_refcnt(v), VMA_LOCK_OFFSET + 1 + n);
	CHECK_EQ_U64(mm_seq(mm), 5);	 /* the writer holds mmap_lock */
	CHECK(vma_seq(v) != mm_seq(mm)); /* but not yet the VMA */
	check_busy(mm, v);

	for (unsigned i = n; i > 1; i--) {
		vma_end_read(v);
		CHECK_EQ_U64(test_refcnt(v), VMA_LOCK_OFFSET + i);
	}
	stepper_stuck(&s, 1);
	vma_end_read(v); /* the last reader: OFFSET + 1, wakes the writer */
	stepper_wait(&s, 1);
	CHECK_EQ_U64(test_refcnt(v), 1);
	CHECK_EQ_U64(vma_seq(v), 5);
	CHECK_EQ_U64(mm_seq(mm), 5);
	CHECK(vma_is_write_locked(v));
	check_busy(mm, v);

	stepper_ask(&s, 2);
	stepper_join(&s);
	CHECK_EQ_U64(try_read(mm, v), VMA_READ_LOCKED);
	CHECK_EQ_U64(test_refcnt(v), 2);
	vma_end_read(v);
	uvma_mm_destroy(mm);
}

static void test_writer_waits(void)
{
	writer_waits(1);
	writer_waits(3);
}

/* ---- OFFSET + n: a detacher waiting for transient readers ---------------- */

static bool detach_steps(struct stepper *s, int step)
{
	switch (step) {
	case 1:
		mmap_write_lock(s->mm);
		vma_start_write(s->vma);
		return true;
	case 2:
		/* munmap's order: unlink, then detach (rule 9). */
		CHECK_EQ_U64(tree_store(&s->mm->tree, s->vma->start,
					s->vma->end, NULL),
			     0);
		vma_mark_detached(s->vma);
		return true;
	default:
		mmap_write_unlock(s->mm);
		return false;
	}
}

/*
 * A transient reader found the VMA before it was unlinked, passed the early
 * check before the writer locked it, and incremented after: it will fail
 * its lock_seq check, but until it has dropped its reference the VMA cannot
 * be freed. Here the test makes that increment (and the reader's check and
 * leaving) itself; test_detach_waits_same_mm below has a real reader do it,
 * parked between its early check and its increment.
 */
static void test_detach_waits(void)
{
	struct uvma_mm *mm = new_mm();
	struct uvma_vma *v =
		test_map(mm, AREA, AREA + PAGE, UVMA_PROT_READ, NULL);
	struct stepper s;
	struct tree_entry e;

	stepper_start(&s, mm, v, detach_steps);
	stepper_ask(&s, 1);
	stepper_wait(&s, 1);
	CHECK_EQ_U64(test_refcnt(v), 1);
	CHECK_EQ_U64(vma_seq(v), 5);

	atomic_fetch_add(&v->refcnt, 1); /* the transient reader's increment */
	CHECK_EQ_U64(test_refcnt(v), 2);
	stepper_ask(&s, 2);
	/* The attach reference dropped, OFFSET added: OFFSET + the reader.
	 * (A detacher that does not wait finishes instead: fail at once.) */
	WAIT_FOR(test_refcnt(v) == VMA_LOCK_OFFSET + 1 ||
		 atomic_load(&s.done) >= 2);
	CHECK(atomic_load(&s.done) < 2);
	stepper_stuck(&s, 2);
	CHECK_EQ_U64(test_refcnt(v), VMA_LOCK_OFFSET + 1);
	rcu_read_enter();
	CHECK(!tree_find(&mm->tree, AREA, &e)); /* already unlinked */
	rcu_read_exit();
	check_busy(mm, v);

	/* The transient reader goes on: its check fails, it leaves. */
	CHECK_EQ_U64(vma_seq(v), mm_seq(mm));
	vma_end_read(v);
	stepper_wait(&s, 2);
	CHECK_EQ_U64(test_refcnt(v), 0);
	/* Detached but write-locked in the running cycle: the early check
	 * says busy before the count can say stale. */
	check_busy(mm, v);

	stepper_ask(&s, 3);
	stepper_join(&s);
	CHECK_EQ_U64(try_read(mm, v), VMA_READ_STALE);
	CHECK_EQ_U64(test_refcnt(v), 0);
	vma_free(v);
	uvma_mm_destroy(mm);
}

struct reader_arg {
	pthread_t thread;
	struct uvma_mm *mm;
	struct uvma_vma *vma;
	bool park_early;    /* stop in HOOK_READ_EARLY_CHECKED (early_vma) */
	_Atomic int result; /* enum vma_read, -1 until it returns */
};

static void *reader_main(void *arg)
{
	struct reader_arg *r = arg;

	early_park_me = r->park_early;
	atomic_store(&r->result, (int)try_read(r->mm, r->vma));
	return NULL;
}

/*
 * The same with a real vma_start_read, parked by the hook right after its
 * increment. To get past the early check against a VMA already
 * write-locked, this reader comes from another address space: a stale
 * pointer to an object since reused (section 4). After its increment it
 * fails the owner check instead of the lock_seq check; for the detacher it
 * is the same transient reference.
 */
static void test_detach_waits_hooked(void)
{
	struct uvma_mm *mm = new_mm();
	struct uvma_mm *other = new_mm();
	struct uvma_vma *v =
		test_map(mm, AREA, AREA + PAGE, UVMA_PROT_READ, NULL);
	struct stepper s;
	struct reader_arg r = { .mm = other, .vma = v };

	atomic_init(&r.result, -1);
	stepper_start(&s, mm, v, detach_steps);
	stepper_ask(&s, 1);
	stepper_wait(&s, 1);
	CHECK_EQ_U64(vma_seq(v), mm_seq(mm));

	atomic_store(&parked, 0);
	atomic_store(&unpark, 0);
	atomic_store(&park_vma, v);
	CHECK(pthread_create(&r.thread, NULL, reader_main, &r) == 0);
	WAIT_FOR(atomic_load(&parked));
	CHECK_EQ_U64(test_refcnt(v), 2);

	stepper_ask(&s, 2);
	WAIT_FOR(test_refcnt(v) == VMA_LOCK_OFFSET + 1 ||
		 atomic_load(&s.done) >= 2);
	CHECK(atomic_load(&s.done) < 2);
	stepper_stuck(&s, 2);
	CHECK_EQ_U64(test_refcnt(v), VMA_LOCK_OFFSET + 1);
	CHECK_EQ_U64(atomic_load(&r.result), -1);

	atomic_store(&park_vma, NULL);
	atomic_store(&unpark, 1);
	CHECK(pthread_join(r.thread, NULL) == 0);
	CHECK_EQ_U64(atomic_load(&r.result), VMA_READ_BUSY);
	stepper_wait(&s, 2);
	CHECK_EQ_U64(test_refcnt(v), 0);

	stepper_ask(&s, 3);
	stepper_join(&s);
	CHECK_EQ_U64(try_read(mm, v), VMA_READ_STALE);
	CHECK_EQ_U64(test_refcnt(v), 0);
	vma_free(v);
	uvma_mm_destroy(other);
	uvma_mm_destroy(mm);
}

/*
 * A reader thread of mm for v, stopped by the hook after the early check
 * passed and before its increment.
 */
static void start_early_reader(struct reader_arg *r, struct uvma_mm *mm,
			       struct uvma_vma *v)
{
	r->mm = mm;
	r->vma = v;
	r->park_early = true;
	atomic_init(&r->result, -1);
	atomic_store(&early_parked, 0);
	atomic_store(&early_unpark, 0);
	atomic_store(&early_vma, v);
	atomic_store(&counted_calls, 0);
	CHECK(pthread_create(&r->thread, NULL, reader_main, r) == 0);
	WAIT_FOR(atomic_load(&early_parked) || atomic_load(&r->result) != -1);
	CHECK_EQ_U64(atomic_load(&r->result), -1);
	CHECK(atomic_load(&early_parked));
}

static void release_early_reader(void)
{
	atomic_store(&early_vma, NULL);
	atomic_store(&early_unpark, 1);
}

static bool unlink_detach_steps(struct stepper *s, int step)
{
	switch (step) {
	case 1:
		mmap_write_lock(s->mm);
		vma_start_write(s->vma);
		CHECK_EQ_U64(tree_store(&s->mm->tree, s->vma->start,
					s->vma->end, NULL),
			     0);
		return true;
	case 2:
		vma_mark_detached(s->vma);
		return true;
	default:
		mmap_write_unlock(s->mm);
		return false;
	}
}

/*
 * test_detach_waits with a real reader of the same address space: it
 * passed the early check before the writer write-locked the VMA, and
 * increments after, once the VMA is write-locked and unlinked. Nothing
 * stops that increment (1 -> 2: the count is back below LIMIT), so only
 * the lock_seq check after it can refuse the reader, which must then drop
 * its reference. Meanwhile the reader is parked again, after the increment,
 * so that the detacher is seen waiting for it (OFFSET + 1).
 */
static void test_detach_waits_same_mm(void)
{
	struct uvma_mm *mm = new_mm();
	struct uvma_vma *v =
		test_map(mm, AREA, AREA + PAGE, UVMA_PROT_READ, NULL);
	struct stepper s;
	struct reader_arg r;
	struct tree_entry e;

	start_early_reader(&r, mm, v);
	CHECK_EQ_U64(test_refcnt(v), 1); /* not counted yet */
	CHECK_EQ_U64(atomic_load(&counted_calls), 0);

	/* Nobody counted: vma_start_write returns at once, no OFFSET. */
	stepper_start(&s, mm, v, unlink_detach_steps);
	stepper_ask(&s, 1);
	stepper_wait(&s, 1);
	CHECK_EQ_U64(mm_seq(mm), 5);
	CHECK_EQ_U64(vma_seq(v), 5);
	CHECK_EQ_U64(test_refcnt(v), 1);
	rcu_read_enter();
	CHECK(!tree_find(&mm->tree, AREA, &e)); /* unlinked */
	rcu_read_exit();
	check_busy(mm, v); /* new readers stop at the early check */

	/* The reader increments, and stops again right after. */
	atomic_store(&parked, 0);
	atomic_store(&unpark, 0);
	atomic_store(&park_vma, v);
	release_early_reader();
	WAIT_FOR(atomic_load(&parked) || atomic_load(&r.result) != -1);
	CHECK_EQ_U64(atomic_load(&r.result), -1);
	CHECK(atomic_load(&parked));
	CHECK_EQ_U64(atomic_load(&counted_calls), 1);
	CHECK_EQ_U64(atomic_load(&counted_refcnt), 2);
	CHECK_EQ_U64(test_refcnt(v), 2);

	/* The detacher drops the attach reference and waits for the reader. */
	stepper_ask(&s, 2);
	WAIT_FOR(test_refcnt(v) == VMA_LOCK_OFFSET + 1 ||
		 atomic_load(&s.done) >= 2);
	CHECK(atomic_load(&s.done) < 2);
	stepper_stuck(&s, 2);
	CHECK_EQ_U64(test_refcnt(v), VMA_LOCK_OFFSET + 1);
	CHECK_EQ_U64(atomic_load(&r.result), -1);

	/* The reader's lock_seq check fails: it leaves, the detacher ends. */
	atomic_store(&park_vma, NULL);
	atomic_store(&unpark, 1);
	CHECK(pthread_join(r.thread, NULL) == 0);
	CHECK_EQ_U64(atomic_load(&r.result), VMA_READ_BUSY);
	stepper_wait(&s, 2);
	CHECK_EQ_U64(test_refcnt(v), 0);
	CHECK_EQ_U64(atomic_load(&counted_calls), 1);
	check_busy(mm, v);

	stepper_ask(&s, 3);
	stepper_join(&s);
	CHECK_EQ_U64(try_read(mm, v), VMA_READ_STALE);
	CHECK_EQ_U64(test_refcnt(v), 0);
	vma_free(v);
	uvma_mm_destroy(mm);
}

/*
 * The same against a writer that did wait: a reader holds the VMA, a second
 * reader of the same address space passes the early check and stops. The
 * writer adds OFFSET and waits for the first reader (OFFSET + 2: the second
 * is not counted); when it leaves, the writer sets lock_seq and drops
 * OFFSET (1). Only now does the second reader increment (1 -> 2), on a VMA
 * write-locked in the running cycle: its lock_seq check must refuse it and
 * bring the count back to 1.
 */
static void test_write_waits_same_mm(void)
{
	struct uvma_mm *mm = new_mm();
	struct uvma_vma *v =
		test_map(mm, AREA, AREA + PAGE, UVMA_PROT_READ, NULL);
	struct stepper s;
	struct reader_arg r;

	CHECK_EQ_U64(try_read(mm, v), VMA_READ_LOCKED);
	CHECK_EQ_U64(test_refcnt(v), 2);
	start_early_reader(&r, mm, v);
	CHECK_EQ_U64(test_refcnt(v), 2);

	stepper_start(&s, mm, v, write_steps);
	stepper_ask(&s, 1);
	WAIT_FOR(test_refcnt(v) == VMA_LOCK_OFFSET + 2 ||
		 atomic_load(&s.done) >= 1);
	CHECK(atomic_load(&s.done) < 1);
	stepper_stuck(&s, 1);
	CHECK_EQ_U64(test_refcnt(v), VMA_LOCK_OFFSET + 2);
	CHECK_EQ_U64(mm_seq(mm), 5);
	CHECK(vma_seq(v) != mm_seq(mm));

	vma_end_read(v); /* the first reader: OFFSET + 1, wakes the writer */
	stepper_wait(&s, 1);
	CHECK_EQ_U64(test_refcnt(v), 1);
	CHECK_EQ_U64(vma_seq(v), 5);
	CHECK(vma_is_write_locked(v));
	CHECK_EQ_U64(atomic_load(&r.result), -1);
	CHECK_EQ_U64(atomic_load(&counted_calls), 0);

	release_early_reader();
	CHECK(pthread_join(r.thread, NULL) == 0);
	CHECK_EQ_U64(atomic_load(&counted_calls), 1);
	/* It got in (1 -> 2) and out again. */
	CHECK_EQ_U64(atomic_load(&counted_refcnt), 2);
	CHECK_EQ_U64(atomic_load(&r.result), VMA_READ_BUSY);
	CHECK_EQ_U64(test_refcnt(v), 1);
	CHECK(vma_is_write_locked(v));
	check_busy(mm, v);

	stepper_ask(&s, 2);
	stepper_join(&s);
	CHECK_EQ_U64(mm_seq(mm), 6);
	CHECK_EQ_U64(try_read(mm, v), VMA_READ_LOCKED);
	CHECK_EQ_U64(test_refcnt(v), 2);
	vma_end_read(v);
	CHECK_EQ_U64(test_refcnt(v), 1);
	uvma_mm_destroy(mm);
}

/* ---- the reader limit ---------------------------------------------------- */

/*
 * LIMIT = OFFSET - 1 is the highest count a reader may leave. The count is
 * set by hand: LIMIT - 1 stands for the attach reference plus 2^30 - 3
 * readers, which no test could take one by one.
 */
static void test_reader_limit(void)
{
	struct uvma_mm *mm = new_mm();
	struct uvma_vma *v =
		test_map(mm, AREA, AREA + PAGE, UVMA_PROT_READ, NULL);
	struct uvma_fault_stats st;
	struct uvma_vma *got = NULL;

	set_refcnt(v, VMA_REF_LIMIT - 1);
	CHECK_EQ_U64(try_read(mm, v), VMA_READ_LOCKED);
	CHECK_EQ_U64(test_refcnt(v), VMA_REF_LIMIT);
	check_busy(mm, v); /* at the limit: refused, and no wrap */
	CHECK_EQ_U64(test_refcnt(v), 0x3fffffff);

	mmap_read_lock(mm);
	CHECK(!vma_start_read_locked(v));
	CHECK_EQ_U64(test_refcnt(v), VMA_REF_LIMIT);
	mmap_read_unlock(mm);

	/* The fault path falls back to mmap_lock and still succeeds. */
	CHECK_EQ_U64(uvma_fault(mm, AREA, UVMA_ACCESS_READ), 0);
	uvma_mm_fault_stats(mm, &st);
	CHECK_EQ_U64(st.success, 0);
	CHECK_EQ_U64(st.abort, 1);
	CHECK_EQ_U64(st.fallback, 1);
	CHECK_EQ_U64(st.miss, 0);
	CHECK_EQ_U64(st.retry, 0);
	CHECK(uvma_vma_lock(mm, AREA) == NULL);
	CHECK_EQ_U64(uvma_vma_get(mm, AREA, &got), -EAGAIN);
	CHECK(got == NULL);
	CHECK_EQ_U64(test_refcnt(v), VMA_REF_LIMIT);

	vma_end_read(v);
	CHECK_EQ_U64(test_refcnt(v), VMA_REF_LIMIT - 1);
	set_refcnt(v, 1);
	CHECK_EQ_U64(try_read(mm, v), VMA_READ_LOCKED);
	CHECK_EQ_U64(test_refcnt(v), 2);
	vma_end_read(v);
	CHECK_EQ_U64(uvma_vma_get(mm, AREA, &got), 0);
	CHECK(got == v);
	CHECK_EQ_U64(test_refcnt(v), 2);
	uvma_vma_unlock(got);
	CHECK_EQ_U64(uvma_fault(mm, AREA, UVMA_ACCESS_READ), 0);
	uvma_mm_fault_stats(mm, &st);
	CHECK_EQ_U64(st.success, 2); /* the uvma_vma_get and the fault */
	CHECK_EQ_U64(st.abort, 3);
	CHECK_EQ_U64(st.fallback, 2);
	CHECK_EQ_U64(test_refcnt(v), 1);
	uvma_mm_destroy(mm);
}

/* ---- OFFSET and above ---------------------------------------------------- */

/*
 * Counts a writer or detacher leaves while it excludes readers, set by hand:
 * OFFSET (a detacher about to store 0), OFFSET + 1 (a writer holding the
 * VMA alone), OFFSET + 4 (a writer waiting for three readers), and the
 * highest count there can be, OFFSET + LIMIT. No reader gets in and none
 * changes the count.
 */
static void test_offset_counts(void)
{
	static const uint32_t counts[] = {
		VMA_LOCK_OFFSET,
		VMA_LOCK_OFFSET + 1,
		VMA_LOCK_OFFSET + 4,
		VMA_LOCK_OFFSET + VMA_REF_LIMIT,
	};
	struct uvma_mm *mm = new_mm();
	struct uvma_vma *v =
		test_map(mm, AREA, AREA + PAGE, UVMA_PROT_READ, NULL);

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		set_refcnt(v, counts[i]);
		check_busy(mm, v);
		CHECK(uvma_vma_lock(mm, AREA) == NULL);
		CHECK_EQ_U64(test_refcnt(v), counts[i]);
	}
	CHECK_EQ_U64(test_refcnt(v), 0x7fffffff); /* below 2^31 */
	set_refcnt(v, 1);
	CHECK_EQ_U64(try_read(mm, v), VMA_READ_LOCKED);
	vma_end_read(v);
	uvma_mm_destroy(mm);
}

/* ---- the owner check ----------------------------------------------------- */

/*
 * Pool objects are shared by every address space: a reader of one space may
 * hold a pointer to an object that another space owns now. It must be
 * refused after its increment (which it then drops), whatever the count.
 */
static void test_owner_check(void)
{
	struct uvma_mm *mm = new_mm();
	struct uvma_mm *other = new_mm();
	struct uvma_vma *v =
		test_map(mm, AREA, AREA + PAGE, UVMA_PROT_READ, NULL);
	struct uvma_vma *w;

	CHECK(vma_seq(v) != mm_seq(other)); /* the early check passes */
	atomic_store(&counted_calls, 0);
	check_busy(other, v);
	CHECK_EQ_U64(test_refcnt(v), 1);
	/* Refused after the increment, not before: the hook saw it. */
	CHECK_EQ_U64(atomic_load(&counted_calls), 3);
	CHECK_EQ_U64(atomic_load(&counted_refcnt), 2);

	CHECK_EQ_U64(try_read(mm, v), VMA_READ_LOCKED);
	CHECK_EQ_U64(try_read(mm, v), VMA_READ_LOCKED);
	CHECK_EQ_U64(test_refcnt(v), 3);
	check_busy(other, v);
	CHECK_EQ_U64(test_refcnt(v), 3);
	vma_end_read(v);
	vma_end_read(v);

	/* The object freed by mm and reused by other (the pool hands out the
	 * last object freed first): mm's stale pointer is refused, other's
	 * own lookups succeed. */
	test_unmap(mm, v);
	w = test_map(other, AREA, AREA + PAGE, UVMA_PROT_READ, NULL);
	CHECK(w == v);
	CHECK(atomic_load(&v->mm) == other);
	CHECK_EQ_U64(test_refcnt(v), 1);
	CHECK(vma_seq(v) != mm_seq(mm));
	check_busy(mm, v);
	CHECK_EQ_U64(test_refcnt(v), 1);
	CHECK_EQ_U64(try_read(other, v), VMA_READ_LOCKED);
	CHECK_EQ_U64(test_refcnt(v), 2);
	vma_end_read(v);
	uvma_mm_destroy(other);
	uvma_mm_destroy(mm);
}

/* ---- vma_dup ------------------------------------------------------------- */

/*
 * A copy is born detached (0) with a lock state of its own, whatever the
 * source's count or lock: never its readers' references, never its lock_seq.
 * The test first puts an object with lock_seq 0 at the head of the pool, so
 * that a copied lock_seq would show.
 */
static struct uvma_vma *dup_fresh(struct uvma_vma *src)
{
	struct uvma_vma *slot = vma_alloc(atomic_load(&src->mm));
	struct uvma_vma *copy;

	CHECK(slot != NULL);
	atomic_store(&slot->lock_seq, 0);
	vma_free(slot);
	copy = vma_dup(src);
	CHECK(copy == slot);
	return copy;
}

static void check_copy(struct uvma_vma *copy, struct uvma_vma *src)
{
	CHECK_EQ_U64(test_refcnt(copy), 0);
	CHECK_EQ_U64(vma_seq(copy), 0);
	CHECK(!vma_is_write_locked(copy));
	CHECK(atomic_load(&copy->mm) == atomic_load(&src->mm));
	CHECK_EQ_U64(copy->start, src->start);
	CHECK_EQ_U64(copy->end, src->end);
	CHECK_EQ_U64(copy->prot, src->prot);
	CHECK_EQ_U64(copy->flags, src->flags);
	CHECK_EQ_U64(copy->pgoff, src->pgoff);
	CHECK(copy->user == src->user);
	CHECK_EQ_U64(copy->file_id, src->file_id);
}

static int dup_user;

static void test_dup(void)
{
	struct uvma_mm *mm = new_mm();
	struct uvma_vma *v =
		test_map(mm, AREA, AREA + 2 * PAGE,
			 UVMA_PROT_READ | UVMA_PROT_WRITE, &dup_user);
	struct uvma_vma *copy;

	/* Source with two readers: 3. */
	CHECK_EQ_U64(try_read(mm, v), VMA_READ_LOCKED);
	CHECK_EQ_U64(try_read(mm, v), VMA_READ_LOCKED);
	copy = dup_fresh(v);
	check_copy(copy, v);
	CHECK_EQ_U64(test_refcnt(v), 3);
	CHECK_EQ_U64(try_read(mm, copy), VMA_READ_STALE);
	CHECK_EQ_U64(test_refcnt(copy), 0);

	/* The copy goes back to the pool unattached (a plan whose commit
	 * failed does that); the source keeps exactly its readers. */
	vma_free(copy);
	CHECK_EQ_U64(test_refcnt(v), 3);
	vma_end_read(v);
	vma_end_read(v);

	/* Source write-locked in the running cycle: the copy is not. */
	mmap_write_lock(mm);
	vma_start_write(v);
	copy = dup_fresh(v);
	check_copy(copy, v);
	CHECK(vma_is_write_locked(v));
	CHECK_EQ_U64(test_refcnt(v), 1);
	vma_free(copy);
	mmap_write_unlock(mm);
	uvma_mm_destroy(mm);
}

/* ---- mm_lock_seq --------------------------------------------------------- */

static void test_lock_seq(void)
{
	struct uvma_mm *mm = test_mm(NULL, NULL);

	CHECK_EQ_U64(mm_seq(mm), 0);
	for (uint32_t i = 0; i < 5; i++) {
		mmap_write_lock(mm);
		CHECK_EQ_U64(mm_seq(mm), 2 * i + 1);
		mmap_write_unlock(mm);
		CHECK_EQ_U64(mm_seq(mm), 2 * i + 2);
	}
	mmap_write_lock(mm);
	CHECK_EQ_U64(mm_seq(mm), 11);
	mmap_write_downgrade(mm);
	CHECK_EQ_U64(mm_seq(mm), 12);
	mmap_read_unlock(mm);
	mmap_read_lock(mm); /* readers do not move it */
	CHECK_EQ_U64(mm_seq(mm), 12);
	mmap_read_unlock(mm);
	mm_set_lock_seq(mm, 1000);
	mmap_write_lock(mm);
	CHECK_EQ_U64(mm_seq(mm), 1001);
	mmap_write_unlock(mm);
	CHECK_EQ_U64(mm_seq(mm), 1002);
	uvma_mm_destroy(mm);
}

static bool wrap_steps(struct stepper *s, int step)
{
	switch (step) {
	case 1:
		mmap_write_lock(s->mm);
		return true;
	case 2:
		vma_start_write(s->vma);
		return true;
	default:
		mmap_write_unlock(s->mm);
		return false;
	}
}

/*
 * The 32-bit sequence wraps: the cycle after 0xffffffff is 1 again, and A,
 * write-locked in the first cycle 1 and untouched since, still holds
 * lock_seq 1. Were it left so, the writer of the new cycle 1 would take A
 * for already locked and skip waiting for A's reader. mmap_write_lock
 * resets every VMA's lock_seq when the sequence wraps.
 */
static void test_lock_seq_wrap(void)
{
	struct uvma_mm *mm = test_mm(NULL, NULL);
	struct uvma_vma *a;
	struct stepper s;

	mm_set_lock_seq(mm, 0);
	a = test_map(mm, AREA, AREA + PAGE, UVMA_PROT_READ, NULL);
	CHECK_EQ_U64(vma_seq(a), 1);
	CHECK_EQ_U64(mm_seq(mm), 2);

	mm_set_lock_seq(mm, 0xfffffffe);
	mmap_write_lock(mm);
	CHECK_EQ_U64(mm_seq(mm), 0xffffffff);
	mmap_write_unlock(mm);
	CHECK_EQ_U64(mm_seq(mm), 0);
	CHECK(!vma_is_write_locked(a));

	/* A reader holds A across the wrap. */
	CHECK_EQ_U64(try_read(mm, a), VMA_READ_LOCKED);
	CHECK_EQ_U64(test_refcnt(a), 2);

	stepper_start(&s, mm, a, wrap_steps);
	stepper_ask(&s, 1);
	stepper_wait(&s, 1);
	CHECK_EQ_U64(mm_seq(mm), 1);
	CHECK(vma_seq(a) != 1);
	CHECK(!vma_is_write_locked(a));

	/* The writer must wait for the reader. */
	stepper_ask(&s, 2);
	WAIT_FOR(test_refcnt(a) == VMA_LOCK_OFFSET + 2 ||
		 atomic_load(&s.done) >= 2);
	CHECK(atomic_load(&s.done) < 2);
	CHECK_EQ_U64(test_refcnt(a), VMA_LOCK_OFFSET + 2);
	stepper_stuck(&s, 2);
	vma_end_read(a);
	stepper_wait(&s, 2);
	CHECK_EQ_U64(test_refcnt(a), 1);
	CHECK_EQ_U64(vma_seq(a), 1);
	CHECK(vma_is_write_locked(a));

	stepper_ask(&s, 3);
	stepper_join(&s);
	CHECK_EQ_U64(mm_seq(mm), 2);
	CHECK_EQ_U64(try_read(mm, a), VMA_READ_LOCKED);
	vma_end_read(a);
	uvma_mm_destroy(mm);
}

/*
 * After the wrap, A's lock_seq was reset to 0, and nothing touches A for
 * the next 2^31 cycles (the jump of mm_set_lock_seq stands for them). The
 * cycle 0xffffffff ends with mm_lock_seq 0, with nobody holding mmap_lock:
 * no VMA can be write-locked then (rule 3), so A must read as unlocked and
 * readers must get it, for as long as no writer comes.
 *
 * This failed before equality counted as "locked" only for odd sequences:
 * the reset value 0 equalled the even mm_lock_seq 0, so from that unlock
 * until the next mmap_write_lock every lockless reader of A (and of every
 * VMA untouched since the last wrap) was refused and fell back.
 */
static void test_lock_seq_wrap_twice(void)
{
	struct uvma_mm *mm = test_mm(NULL, NULL);
	struct uvma_fault_stats st;
	struct uvma_vma *a;

	mm_set_lock_seq(mm, 0);
	a = test_map(mm, AREA, AREA + PAGE, UVMA_PROT_READ, NULL);
	mm_set_lock_seq(mm, 0xfffffffe);
	mmap_write_lock(mm); /* 0xffffffff */
	mmap_write_unlock(mm);
	mmap_write_lock(mm); /* 1: the reset */
	mmap_write_unlock(mm);
	CHECK_EQ_U64(mm_seq(mm), 2);
	CHECK(!vma_is_write_locked(a));

	mm_set_lock_seq(mm, 0xfffffffe);
	mmap_write_lock(mm);
	mmap_write_unlock(mm);
	CHECK_EQ_U64(mm_seq(mm), 0);
	CHECK(!rwsem_is_write_locked(&mm->lock));
	CHECK(!vma_is_write_locked(a));
	CHECK_EQ_U64(try_read(mm, a), VMA_READ_LOCKED);
	CHECK_EQ_U64(test_refcnt(a), 2);
	vma_end_read(a);
	CHECK_EQ_U64(uvma_fault(mm, AREA, UVMA_ACCESS_READ), 0);
	uvma_mm_fault_stats(mm, &st);
	CHECK_EQ_U64(st.success, 1);
	CHECK_EQ_U64(st.abort, 0);
	CHECK_EQ_U64(st.fallback, 0);
	uvma_mm_destroy(mm);
}

/*
 * A thread's sequence bound (docs/design.md rule 4) skips mm_lock_seq only
 * for VMAs whose lock ended before the bound was read: A, locked again in a
 * later cycle, is refused while that cycle lasts; a VMA attached in the
 * cycle is refused too; after the unlock both read, and the bound has
 * risen to the sequence read on the way.
 */
static enum vma_read try_read_seen(struct uvma_mm *mm, struct uvma_vma *v,
				   _Atomic uint64_t *seen)
{
	enum vma_read r;

	rcu_read_enter();
	r = vma_start_read_seen(mm, v, seen);
	rcu_read_exit();
	return r;
}

static void test_seen_bound(void)
{
	struct uvma_mm *mm = test_mm(NULL, NULL);
	struct uvma_vma *a, *b;
	_Atomic uint64_t seen = 0;

	a = test_map(mm, AREA, AREA + PAGE, UVMA_PROT_READ, NULL);
	CHECK_EQ_U64(try_read_seen(mm, a, &seen), VMA_READ_LOCKED);
	vma_end_read(a);
	CHECK_EQ_U64((uint32_t)seen, mm_seq(mm));
	CHECK(vma_seq(a) < (uint32_t)seen);

	mmap_write_lock(mm);
	vma_start_write(a);
	CHECK(vma_seq(a) > (uint32_t)atomic_load(&seen));
	CHECK_EQ_U64(try_read_seen(mm, a, &seen), VMA_READ_BUSY);
	CHECK_EQ_U64(test_refcnt(a), 1);
	/* The early check refused it: the bound is as it was. */
	CHECK_EQ_U64((uint32_t)seen, mm_seq(mm) - 1);
	b = __test_map(mm, AREA + 4 * PAGE, AREA + 5 * PAGE, UVMA_PROT_READ,
		       NULL);
	CHECK_EQ_U64(try_read_seen(mm, b, &seen), VMA_READ_BUSY);
	mmap_write_unlock(mm);

	CHECK_EQ_U64(try_read_seen(mm, a, &seen), VMA_READ_LOCKED);
	vma_end_read(a);
	CHECK_EQ_U64((uint32_t)seen, mm_seq(mm));
	CHECK_EQ_U64(try_read_seen(mm, b, &seen), VMA_READ_LOCKED);
	vma_end_read(b);
	uvma_mm_destroy(mm);
}

static const struct test_case case_table[] = {
	{ "detached_attach", test_detached_attach },
	{ "seen_bound", test_seen_bound },
	{ "detach_no_readers", test_detach_no_readers },
	{ "readers", test_readers },
	{ "write_locked_unlock", test_write_locked_unlock },
	{ "write_lock_twice", test_write_lock_twice },
	{ "downgrade", test_downgrade },
	{ "writer_waits", test_writer_waits },
	{ "detach_waits", test_detach_waits },
	{ "detach_waits_hooked", test_detach_waits_hooked },
	{ "detach_waits_same_mm", test_detach_waits_same_mm },
	{ "write_waits_same_mm", test_write_waits_same_mm },
	{ "reader_limit", test_reader_limit },
	{ "offset_counts", test_offset_counts },
	{ "owner_check", test_owner_check },
	{ "dup", test_dup },
	{ "lock_seq", test_lock_seq },
	{ "lock_seq_wrap", test_lock_seq_wrap },
	{ "lock_seq_wrap_twice", test_lock_seq_wrap_twice },
};

int main(int argc, char **argv)
{
	hook_set(lock_hook); /* before any thread starts */
	return test_run_cases(argc, argv, case_table,
			      sizeof(case_table) / sizeof(case_table[0]));
}
