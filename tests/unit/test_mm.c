/*
 * test_mm.c - the address space and the fault path, through the public API
 * (include/uvma.h) and, where the API has no way in yet, the internal layer:
 * creation and its argument checks, destruction returning every VMA to the
 * pool, uvma_fault's results and what its handler is told, the exact fault
 * counters, the area lock calls, and the pool's failure hook.
 *
 * Areas are mapped with tests/lib/vma_util.h (uvma_mmap, or the one-edit plan
 * it runs, inside a test's own write cycle). Leaks are left to
 * AddressSanitizer's exit check: every address space is destroyed. Like every
 * test, it links uvma_testlib, which has the hooks of src/hook.h.
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
#include "uvma.h"
#include "vma.h"
#include "vma_util.h"

#define PAGE	    4096ull
#define AREA	    0x40000000ull /* where each case maps its areas */
#define WINDOW_BASE 0x10000ull
#define WINDOW_END  0x7ffffffff000ull

#define R UVMA_ACCESS_READ
#define W UVMA_ACCESS_WRITE
#define X UVMA_ACCESS_EXEC

/* ---- a recording fault handler ------------------------------------------- */

#define MAX_CALLS 8

/* What one handler call was told. */
struct fault_call {
	struct uvma_mm *mm;
	struct uvma_vma *vma;
	uint64_t addr;
	unsigned access;
	unsigned flags;
	void *user;
	void *arg;
};

/* Written by whichever thread faults; read by the main thread only after
 * that thread has been joined, or with nothing else faulting. */
static struct fault_call calls[MAX_CALLS];
static _Atomic int ncalls;
static int script[MAX_CALLS]; /* what the i-th call returns */

static int mm_handler(const struct uvma_fault *f)
{
	int i = atomic_fetch_add(&ncalls, 1);

	CHECK(i < MAX_CALLS);
	calls[i].mm = f->mm;
	calls[i].vma = f->vma;
	calls[i].addr = f->addr;
	calls[i].access = f->access;
	calls[i].flags = f->flags;
	calls[i].user = f->user;
	calls[i].arg = f->arg;
	return script[i];
}

/* The next calls return r0, r1 (then 0). */
static void script_reset(int r0, int r1)
{
	for (int i = 0; i < MAX_CALLS; i++)
		script[i] = 0;
	script[0] = r0;
	script[1] = r1;
	atomic_store(&ncalls, 0);
}

static void check_call(int i, struct uvma_mm *mm, struct uvma_vma *vma,
		       uint64_t addr, unsigned access, unsigned flags,
		       void *user, void *arg)
{
	CHECK(calls[i].mm == mm);
	CHECK(calls[i].vma == vma);
	CHECK_EQ_U64(calls[i].addr, addr);
	CHECK_EQ_U64(calls[i].access, access);
	CHECK_EQ_U64(calls[i].flags, flags);
	CHECK(calls[i].user == user);
	CHECK(calls[i].arg == arg);
}

/* Distinct addresses to pass as user and fault_arg pointers. */
static int user_tag, user_tag2, arg_tag;

/* ---- small helpers ------------------------------------------------------- */

struct stats {
	uint64_t success, abort, retry, miss, fallback;
};

static void check_stats(struct uvma_mm *mm, struct stats want)
{
	struct uvma_fault_stats st;

	uvma_mm_fault_stats(mm, &st);
	CHECK_EQ_U64(st.success, want.success);
	CHECK_EQ_U64(st.abort, want.abort);
	CHECK_EQ_U64(st.retry, want.retry);
	CHECK_EQ_U64(st.miss, want.miss);
	CHECK_EQ_U64(st.fallback, want.fallback);
}

static uint64_t stat_fallback(struct uvma_mm *mm)
{
	struct uvma_fault_stats st;

	uvma_mm_fault_stats(mm, &st);
	return st.fallback;
}

/* The map as a list of entries, to compare before and after a failure. */
struct snap {
	size_t n;
	struct tree_entry *e;
};

static void snap_take(struct uvma_mm *mm, struct snap *s)
{
	struct tree_iter it;
	size_t cap = 16;

	s->n = 0;
	s->e = malloc(cap * sizeof(*s->e));
	CHECK(s->e != NULL);
	rcu_read_enter();
	tree_iter_start(&it, &mm->tree, 0, UINT64_MAX);
	while (tree_iter_next(&it, &s->e[s->n])) {
		if (++s->n == cap) {
			cap *= 2;
			s->e = realloc(s->e, cap * sizeof(*s->e));
			CHECK(s->e != NULL);
		}
	}
	rcu_read_exit();
}

/* mm's map is exactly s, every area attached (no reader holds one here) and
 * covering its range. */
static void snap_same(struct uvma_mm *mm, const struct snap *s)
{
	struct snap now;

	snap_take(mm, &now);
	CHECK_EQ_U64(now.n, s->n);
	for (size_t i = 0; i < s->n; i++) {
		struct uvma_vma *v = now.e[i].ptr;

		CHECK_EQ_U64(now.e[i].start, s->e[i].start);
		CHECK_EQ_U64(now.e[i].end, s->e[i].end);
		CHECK(now.e[i].ptr == s->e[i].ptr);
		CHECK_EQ_U64(v->start, now.e[i].start);
		CHECK_EQ_U64(v->end, now.e[i].end);
		CHECK_EQ_U64(test_refcnt(v), 1);
	}
	free(now.e);
}

static void snap_free(struct snap *s)
{
	free(s->e);
	s->e = NULL;
}

/* ---- creation ------------------------------------------------------------ */

static void test_config(void)
{
	struct uvma_mm_config cfg;
	struct uvma_mm *mm = NULL;

	memset(&cfg, 0xa5, sizeof(cfg));
	uvma_mm_config_init(&cfg);
	CHECK_EQ_U64(cfg.base, 0x10000);
	CHECK_EQ_U64(cfg.base + cfg.size, 0x7ffffffff000);
	CHECK_EQ_U64(cfg.size, 0x7ffffffef000);
	CHECK_EQ_U64(cfg.page_size, 4096);
	CHECK(cfg.fault == NULL);
	CHECK(cfg.fault_arg == NULL);

	/* NULL: the defaults. */
	CHECK_EQ_U64(uvma_mm_create(NULL, &mm), 0);
	CHECK(mm != NULL);
	CHECK_EQ_U64(mm->base, WINDOW_BASE);
	CHECK_EQ_U64(mm->end, WINDOW_END);
	CHECK_EQ_U64(mm->page_size, 4096);
	CHECK_EQ_U64(mm->page_shift, 12);
	CHECK(mm->fault == NULL);
	CHECK_EQ_U64(uvma_fault(mm, WINDOW_BASE, R), -EFAULT);
	uvma_mm_destroy(mm);

	/* A window of its own with 8 KiB pages. */
	uvma_mm_config_init(&cfg);
	cfg.base = 0x100000;
	cfg.size = 0x100000;
	cfg.page_size = 8192;
	cfg.fault = mm_handler;
	cfg.fault_arg = &arg_tag;
	mm = NULL;
	CHECK_EQ_U64(uvma_mm_create(&cfg, &mm), 0);
	CHECK_EQ_U64(mm->base, 0x100000);
	CHECK_EQ_U64(mm->end, 0x200000);
	CHECK_EQ_U64(mm->page_size, 8192);
	CHECK_EQ_U64(mm->page_shift, 13);
	CHECK(mm->fault == mm_handler);
	CHECK(mm->fault_arg == &arg_tag);
	{
		const unsigned fixed =
			UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS | UVMA_MAP_FIXED;
		struct snap s;

		snap_take(mm, &s);
		/* Below the window, outside it, misaligned for 8 KiB pages:
		 * refused in Linux's terms, the map unchanged. */
		CHECK_EQ_U64(uvma_mmap(mm, 0x100000 - 8192, 8192, R, fixed, 0,
				       0, NULL, NULL),
			     -ENOMEM);
		CHECK_EQ_U64(uvma_mmap(mm, 0x101000, 0x3000, R, fixed, 0, 0,
				       NULL, NULL),
			     -EINVAL);
		CHECK_EQ_U64(uvma_mmap(mm, 0x1fe000, 0x4000, R, fixed, 0, 0,
				       NULL, NULL),
			     -ENOMEM);
		snap_same(mm, &s);
		/* The last page. */
		CHECK_EQ_U64(uvma_mmap(mm, 0x1fe000, 0x2000, R, fixed, 0, 0,
				       NULL, NULL),
			     0);
		snap_free(&s);
	}
	script_reset(0, 0);
	CHECK_EQ_U64(uvma_fault(mm, 0x1fffff, R), 0);
	CHECK_EQ_U64(atomic_load(&ncalls), 1);
	CHECK_EQ_U64(uvma_fault(mm, 0x200000, R), -EFAULT);
	uvma_mm_destroy(mm);
	uvma_mm_destroy(NULL);
}

static void create_fails(const struct uvma_mm_config *cfg)
{
	static char sentinel;
	struct uvma_mm *out = (struct uvma_mm *)&sentinel;

	CHECK_EQ_U64(uvma_mm_create(cfg, &out), -EINVAL);
	CHECK(out == (struct uvma_mm *)&sentinel); /* untouched */
}

static void test_create_errors(void)
{
	static const uint64_t bad_pages[] = { 0,    1,	  1000, 2048,
					      4097, 8191, 12288 };
	struct uvma_mm_config cfg;

	uvma_mm_config_init(&cfg);
	CHECK_EQ_U64(uvma_mm_create(&cfg, NULL), -EINVAL);
	CHECK_EQ_U64(uvma_mm_create(NULL, NULL), -EINVAL);

	for (size_t i = 0; i < sizeof(bad_pages) / sizeof(bad_pages[0]); i++) {
		uvma_mm_config_init(&cfg);
		cfg.page_size = bad_pages[i];
		create_fails(&cfg);
	}

	uvma_mm_config_init(&cfg);
	cfg.base = 0x10001;
	create_fails(&cfg);
	cfg.base = 0x10800;
	create_fails(&cfg);
	uvma_mm_config_init(&cfg);
	cfg.size = 0x100001;
	create_fails(&cfg);
	cfg.size = 0x100800;
	create_fails(&cfg);
	cfg.size = 0;
	create_fails(&cfg);
	/* Aligned to 4 KiB but not to the 16 KiB page. */
	uvma_mm_config_init(&cfg);
	cfg.page_size = 16384;
	cfg.base = 0x11000;
	cfg.size = 0x100000;
	create_fails(&cfg);
	cfg.base = 0x10000;
	cfg.size = 0x101000;
	create_fails(&cfg);
	/* Windows that wrap past 2^64, or end exactly at it. */
	uvma_mm_config_init(&cfg);
	cfg.base = 0xfffffffffff00000;
	cfg.size = 0x200000;
	create_fails(&cfg);
	cfg.size = 0x100000;
	create_fails(&cfg);
	cfg.base = 0x1000;
	cfg.size = 0xfffffffffffff000;
	create_fails(&cfg);
}

/* ---- destruction returns every VMA to the pool --------------------------- */

#define MANY 10000

static void map_many(struct uvma_mm *mm)
{
	mmap_write_lock(mm);
	for (uint64_t i = 0; i < MANY; i++)
		__test_map(mm, AREA + 2 * i * PAGE, AREA + (2 * i + 1) * PAGE,
			   UVMA_PROT_READ, NULL);
	mmap_write_unlock(mm);
}

static void test_destroy_frees(void)
{
	struct vma_pool_stats st0, st1, st2, st3, st4;
	struct uvma_mm *mm = test_mm(NULL, NULL);

	vma_pool_stats(&st0);
	map_many(mm);
	vma_pool_stats(&st1);
	/* Taken from the free list first, then carved. */
	CHECK(st1.free <= st0.free);
	CHECK_EQ_U64((st1.objects - st0.objects) + (st0.free - st1.free), MANY);
	CHECK_EQ_U64(uvma_fault(mm, AREA + 2 * (MANY - 1) * PAGE, R), 0);
	uvma_mm_destroy(mm);
	vma_pool_stats(&st2);
	CHECK_EQ_U64(st2.free, st1.free + MANY);
	CHECK_EQ_U64(st2.objects, st1.objects);
	CHECK(st2.bytes == st1.bytes); /* pool memory stays */

	/* Another space reuses them all: nothing new is carved. */
	mm = test_mm(NULL, NULL);
	map_many(mm);
	vma_pool_stats(&st3);
	CHECK_EQ_U64(st3.objects, st2.objects);
	CHECK_EQ_U64(st3.free, st2.free - MANY);
	uvma_mm_destroy(mm);
	vma_pool_stats(&st4);
	CHECK_EQ_U64(st4.objects, st2.objects);
	CHECK_EQ_U64(st4.free, st2.free);
}

/* ---- uvma_fault's results ------------------------------------------------ */

/*
 * Linux's rule, written out: a write needs PROT_WRITE, an exec PROT_EXEC, a
 * read any protection but PROT_NONE. Row: the area's protection; column:
 * the access, 1 (R) to 7 (R|W|X).
 */
#define OK 0
#define NO (-EACCES)
static const int access_table[8][8] = {
	/*            -  R   W   RW  X   RX  WX  RWX */
	/* NONE */ { 0, NO, NO, NO, NO, NO, NO, NO },
	/* R    */ { 0, OK, NO, NO, NO, NO, NO, NO },
	/* W    */ { 0, OK, OK, OK, NO, NO, NO, NO },
	/* RW   */ { 0, OK, OK, OK, NO, NO, NO, NO },
	/* X    */ { 0, OK, NO, NO, OK, OK, NO, NO },
	/* RX   */ { 0, OK, NO, NO, OK, OK, NO, NO },
	/* WX   */ { 0, OK, OK, OK, OK, OK, OK, OK },
	/* RWX  */ { 0, OK, OK, OK, OK, OK, OK, OK },
};

static void test_fault_access(void)
{
	struct uvma_mm *mm = test_mm(NULL, NULL);
	uint64_t faults = 0;

	/* Area p has protection p: [AREA + 2p pages, + 1 page). */
	for (unsigned p = 0; p < 8; p++)
		test_map(mm, AREA + 2 * p * PAGE, AREA + (2 * p + 1) * PAGE, p,
			 NULL);
	for (unsigned p = 0; p < 8; p++) {
		uint64_t at = AREA + 2 * p * PAGE;

		for (unsigned a = 1; a < 8; a++) {
			CHECK_EQ_U64(uvma_fault(mm, at, a), access_table[p][a]);
			CHECK_EQ_U64(uvma_fault(mm, at + PAGE - 1, a),
				     access_table[p][a]);
			faults += 2;
		}
	}
	/* All decided under the area's read lock: counted as successes. */
	check_stats(mm, (struct stats){ .success = faults });
	uvma_mm_destroy(mm);
}

static void test_fault_errors(void)
{
	static const unsigned bad_access[] = {
		0, 8, 0x10, R | 8, W | X | 0x40, 0x80000000u
	};
	static const uint64_t holes[] = {
		0,
		PAGE,
		WINDOW_BASE - 1,
		WINDOW_BASE,
		AREA - 1,
		AREA + PAGE, /* the end is not in the area */
		AREA + 2 * PAGE - 1,
		AREA + 3 * PAGE,
		WINDOW_END - 1,
		WINDOW_END,
		UINT64_MAX,
	};
	struct uvma_mm *mm = test_mm(NULL, NULL);
	size_t nholes = sizeof(holes) / sizeof(holes[0]);

	test_map(mm, AREA, AREA + PAGE, UVMA_PROT_READ | UVMA_PROT_WRITE, NULL);
	test_map(mm, AREA + 2 * PAGE, AREA + 3 * PAGE, UVMA_PROT_READ, NULL);

	/* Bad access bits: refused before anything is looked up or counted,
	 * even where an area allows everything asked for. */
	for (size_t i = 0; i < sizeof(bad_access) / sizeof(bad_access[0]);
	     i++) {
		CHECK_EQ_U64(uvma_fault(mm, AREA, bad_access[i]), -EINVAL);
		CHECK_EQ_U64(uvma_fault(mm, AREA + PAGE, bad_access[i]),
			     -EINVAL);
	}
	check_stats(mm, (struct stats){ 0 });

	/* No area: the fast path gives up, mmap_lock confirms. */
	for (size_t i = 0; i < nholes; i++) {
		CHECK_EQ_U64(uvma_fault(mm, holes[i], R), -EFAULT);
		CHECK_EQ_U64(uvma_fault(mm, holes[i], W), -EFAULT);
	}
	check_stats(mm, (struct stats){ .abort = 2 * nholes,
					.fallback = 2 * nholes });
	CHECK_EQ_U64(uvma_fault(mm, AREA + PAGE - 1, R | W), 0);
	CHECK_EQ_U64(uvma_fault(mm, AREA + 2 * PAGE, R), 0);
	uvma_mm_destroy(mm);
}

/* ---- the handler --------------------------------------------------------- */

static void test_handler_args(void)
{
	struct uvma_mm *mm = test_mm(mm_handler, &arg_tag);
	struct uvma_vma *v =
		test_map(mm, AREA, AREA + 4 * PAGE,
			 UVMA_PROT_READ | UVMA_PROT_WRITE, &user_tag);
	struct uvma_vma *w = test_map(mm, AREA + 4 * PAGE, AREA + 5 * PAGE,
				      UVMA_PROT_READ, &user_tag2);

	script_reset(0, 0);
	CHECK_EQ_U64(uvma_fault(mm, AREA + 3 * PAGE + 17, W), 0);
	CHECK_EQ_U64(atomic_load(&ncalls), 1);
	check_call(0, mm, v, AREA + 3 * PAGE + 17, W, 0, &user_tag, &arg_tag);

	/* The handler's own errno is passed on. */
	script_reset(-EIO, 0);
	CHECK_EQ_U64(uvma_fault(mm, AREA + 4 * PAGE, R), -EIO);
	CHECK_EQ_U64(atomic_load(&ncalls), 1);
	check_call(0, mm, w, AREA + 4 * PAGE, R, 0, &user_tag2, &arg_tag);

	/* A refused access never reaches the handler. */
	script_reset(0, 0);
	CHECK_EQ_U64(uvma_fault(mm, AREA, X), -EACCES);
	CHECK_EQ_U64(uvma_fault(mm, AREA + 4 * PAGE, W), -EACCES);
	CHECK_EQ_U64(atomic_load(&ncalls), 0);

	script_reset(0, 0);
	CHECK_EQ_U64(uvma_fault(mm, AREA, R), 0);
	check_call(0, mm, v, AREA, R, 0, &user_tag, &arg_tag);

	check_stats(mm, (struct stats){ .success = 5 });
	uvma_mm_destroy(mm);
}

/*
 * UVMA_FAULT_RETRY from the lockless call: run again under mmap_lock
 * (flags UVMA_FAULT_MMAP_LOCKED), whose result is final; RETRY there has
 * nothing left to retry with and becomes -EAGAIN.
 */
static void test_handler_retry(void)
{
	static const struct {
		int first, second, result;
	} cases[] = {
		{ UVMA_FAULT_RETRY, 0, 0 },
		{ UVMA_FAULT_RETRY, -EIO, -EIO },
		{ UVMA_FAULT_RETRY, UVMA_FAULT_RETRY, -EAGAIN },
	};
	struct uvma_mm *mm = test_mm(mm_handler, &arg_tag);
	struct uvma_vma *v =
		test_map(mm, AREA, AREA + PAGE, UVMA_PROT_WRITE, &user_tag);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		script_reset(cases[i].first, cases[i].second);
		CHECK_EQ_U64(uvma_fault(mm, AREA + 8, W), cases[i].result);
		CHECK_EQ_U64(atomic_load(&ncalls), 2);
		check_call(0, mm, v, AREA + 8, W, 0, &user_tag, &arg_tag);
		check_call(1, mm, v, AREA + 8, W, UVMA_FAULT_MMAP_LOCKED,
			   &user_tag, &arg_tag);
		check_stats(mm, (struct stats){ .retry = i + 1,
						.fallback = i + 1 });
	}
	/* The lock is not left held: the next fault takes the fast path. */
	CHECK_EQ_U64(test_refcnt(v), 1);
	script_reset(0, 0);
	CHECK_EQ_U64(uvma_fault(mm, AREA, R), 0);
	check_call(0, mm, v, AREA, R, 0, &user_tag, &arg_tag);
	check_stats(mm,
		    (struct stats){ .success = 1, .retry = 3, .fallback = 3 });
	uvma_mm_destroy(mm);
}

/* ---- counters ------------------------------------------------------------ */

/* N faults on the fast path: N successes and nothing else. */
static void test_count_success(void)
{
	struct uvma_mm *mm = test_mm(NULL, NULL);
	uint64_t n = test_scaled(10000, 1000);

	test_map(mm, AREA, AREA + 16 * PAGE, UVMA_PROT_READ, NULL);
	for (uint64_t i = 0; i < n; i++)
		CHECK_EQ_U64(uvma_fault(mm, AREA + (i % 16) * PAGE, R), 0);
	check_stats(mm, (struct stats){ .success = n });
	uvma_mm_destroy(mm);
}

/*
 * A write-locked area: the lockless lock gives up (abort). uvma_vma_lock
 * shows it from the writer's own thread (uvma_fault would fall back to
 * mmap_lock, which that thread holds).
 */
static void test_count_abort(void)
{
	struct uvma_mm *mm = test_mm(NULL, NULL);
	struct uvma_vma *v =
		test_map(mm, AREA, AREA + PAGE, UVMA_PROT_READ, NULL);
	struct uvma_vma *got;

	mmap_write_lock(mm);
	vma_start_write(v);
	CHECK(uvma_vma_lock(mm, AREA) == NULL);
	CHECK(uvma_vma_lock(mm, AREA + PAGE - 1) == NULL);
	CHECK(uvma_vma_lock(mm, AREA + PAGE) == NULL); /* a hole */
	check_stats(mm, (struct stats){ .abort = 3 });
	CHECK_EQ_U64(test_refcnt(v), 1);
	mmap_write_unlock(mm);

	got = uvma_vma_lock(mm, AREA);
	CHECK(got == v);
	CHECK_EQ_U64(test_refcnt(v), 2);
	uvma_vma_unlock(got);
	CHECK_EQ_U64(test_refcnt(v), 1);
	check_stats(mm, (struct stats){ .success = 1, .abort = 3 });
	uvma_mm_destroy(mm);
}

struct fault_thread {
	pthread_t thread;
	struct uvma_mm *mm;
	uint64_t addr;
	unsigned access;
	_Atomic int done;
	int result;
	struct uvma_vma *got; /* for uvma_vma_get */
};

static void *fault_main(void *arg)
{
	struct fault_thread *t = arg;

	t->result = uvma_fault(t->mm, t->addr, t->access);
	atomic_store(&t->done, 1);
	return NULL;
}

static void *get_main(void *arg)
{
	struct fault_thread *t = arg;

	t->result = uvma_vma_get(t->mm, t->addr, &t->got);
	atomic_store(&t->done, 1);
	return NULL;
}

static void thread_start(struct fault_thread *t, void *(*fn)(void *),
			 struct uvma_mm *mm, uint64_t addr, unsigned access)
{
	t->mm = mm;
	t->addr = addr;
	t->access = access;
	t->result = 1;
	t->got = NULL;
	atomic_init(&t->done, 0);
	CHECK(pthread_create(&t->thread, NULL, fn, t) == 0);
}

/*
 * A fault on an area a writer holds: abort, then it waits for mmap_lock in
 * the fallback, and runs the handler under it once the writer is done.
 */
static void test_count_fallback(void)
{
	struct uvma_mm *mm = test_mm(mm_handler, &arg_tag);
	struct uvma_vma *v =
		test_map(mm, AREA, AREA + PAGE,
			 UVMA_PROT_READ | UVMA_PROT_WRITE, &user_tag);
	struct fault_thread t;

	script_reset(0, 0);
	mmap_write_lock(mm);
	vma_start_write(v);
	thread_start(&t, fault_main, mm, AREA + 64, W);
	WAIT_FOR(stat_fallback(mm) == 1);
	settle();
	CHECK(!atomic_load(&t.done));
	CHECK_EQ_U64(atomic_load(&ncalls), 0);
	check_stats(mm, (struct stats){ .abort = 1, .fallback = 1 });
	mmap_write_unlock(mm);
	CHECK(pthread_join(t.thread, NULL) == 0);
	CHECK_EQ_U64(t.result, 0);
	CHECK_EQ_U64(atomic_load(&ncalls), 1);
	check_call(0, mm, v, AREA + 64, W, UVMA_FAULT_MMAP_LOCKED, &user_tag,
		   &arg_tag);
	check_stats(mm, (struct stats){ .abort = 1, .fallback = 1 });
	uvma_mm_destroy(mm);
}

/*
 * Map changes made between the fault's lookup and its lock: the hook, on
 * the first lookup only, runs a writer in another thread (remap_fn under
 * mmap_lock) and waits for it. The faulting thread is in its RCU read-side
 * section meanwhile; writers never wait for a grace period, so that is
 * safe.
 */
static _Atomic int remap_armed;
static void (*remap_fn)(struct uvma_mm *mm, struct uvma_vma *old);
static struct uvma_vma *remap_new, *remap_moved; /* set by remap_fn */

static void *remap_main(void *arg)
{
	struct uvma_vma *old = arg;
	struct uvma_mm *mm = atomic_load(&old->mm);

	mmap_write_lock(mm);
	remap_fn(mm, old);
	mmap_write_unlock(mm);
	return NULL;
}

static void remap_hook(enum hook_point point, struct uvma_mm *mm,
		       struct uvma_vma *vma)
{
	pthread_t thread;

	(void)mm;
	if (point != HOOK_LOOKUP_FOUND || !atomic_exchange(&remap_armed, 0))
		return;
	CHECK(pthread_create(&thread, NULL, remap_main, vma) == 0);
	CHECK(pthread_join(thread, NULL) == 0);
}

/* Run one fault at addr with remap_fn armed for its first lookup. */
static int fault_remapped(struct uvma_mm *mm, uint64_t addr,
			  void (*fn)(struct uvma_mm *mm, struct uvma_vma *old))
{
	int ret;

	remap_fn = fn;
	remap_new = remap_moved = NULL;
	atomic_store(&remap_armed, 1);
	hook_set(remap_hook);
	ret = uvma_fault(mm, addr, R);
	hook_set(NULL);
	CHECK_EQ_U64(atomic_load(&remap_armed), 0); /* it did run */
	return ret;
}

/*
 * munmap + mmap of the same range, in one write cycle. The old object is
 * held out of the pool meanwhile, so the new area gets another object (the
 * pool would hand the old one straight back) and the old one stays
 * detached.
 */
static void replace_area(struct uvma_mm *mm, struct uvma_vma *old)
{
	const uint64_t start = old->start, end = old->end;
	struct uvma_vma *held;

	__test_unmap_range(mm, start, end);
	held = vma_pool_get(); /* old's object, kept out of the next map */
	CHECK(held == old);
	remap_new = __test_map(mm, start, end, UVMA_PROT_READ, &user_tag2);
	vma_pool_put(held);
}
/*
 * A miss: the lock finds the object it looked up detached (stale), looks
 * up again (one miss), and locks the new area, all on the fast path.
 */
static void test_count_miss(void)
{
	struct uvma_mm *mm = test_mm(mm_handler, &arg_tag);
	struct uvma_vma *old =
		test_map(mm, AREA, AREA + 2 * PAGE, UVMA_PROT_READ, &user_tag);

	script_reset(0, 0);
	CHECK_EQ_U64(fault_remapped(mm, AREA + PAGE, replace_area), 0);
	CHECK(remap_new != old);
	CHECK_EQ_U64(test_refcnt(old), 0);
	CHECK_EQ_U64(test_refcnt(remap_new), 1);
	CHECK_EQ_U64(atomic_load(&ncalls), 1);
	check_call(0, mm, remap_new, AREA + PAGE, R, 0, &user_tag2, &arg_tag);
	check_stats(mm, (struct stats){ .success = 1, .miss = 1 });
	uvma_mm_destroy(mm);
}

/*
 * The old area unmapped and its object reused at once (the pool hands out
 * the last object freed first) for an area elsewhere; with with_new, a new
 * object also maps the old range again.
 */
static void move_area(struct uvma_mm *mm, struct uvma_vma *old, bool with_new)
{
	const uint64_t start = old->start, end = old->end;

	__test_unmap_range(mm, start, end);
	remap_moved = __test_map(mm, AREA + 16 * PAGE, AREA + 17 * PAGE,
				 UVMA_PROT_READ, NULL);
	CHECK(remap_moved == old);
	if (with_new)
		remap_new =
			__test_map(mm, start, end, UVMA_PROT_READ, &user_tag2);
}
static void move_only(struct uvma_mm *mm, struct uvma_vma *old)
{
	move_area(mm, old, false);
}

static void move_and_replace(struct uvma_mm *mm, struct uvma_vma *old)
{
	move_area(mm, old, true);
}

/*
 * The object the lookup gave is locked (it is attached again, in the same
 * space) but no longer covers the address: the range check after locking
 * gives up (abort), and the fault is decided under mmap_lock.
 */
static void test_count_reused(void)
{
	struct uvma_mm *mm = test_mm(mm_handler, &arg_tag);
	struct uvma_vma *old =
		test_map(mm, AREA, AREA + 2 * PAGE, UVMA_PROT_READ, &user_tag);

	script_reset(0, 0);
	CHECK_EQ_U64(fault_remapped(mm, AREA + PAGE, move_only), -EFAULT);
	CHECK(remap_moved == old);
	CHECK_EQ_U64(test_refcnt(old), 1); /* the range check let it go */
	CHECK_EQ_U64(atomic_load(&ncalls), 0);
	check_stats(mm, (struct stats){ .abort = 1, .fallback = 1 });
	uvma_mm_destroy(mm);

	mm = test_mm(mm_handler, &arg_tag);
	old = test_map(mm, AREA, AREA + 2 * PAGE, UVMA_PROT_READ, &user_tag);
	CHECK_EQ_U64(fault_remapped(mm, AREA + PAGE, move_and_replace), 0);
	CHECK(remap_moved == old);
	CHECK(remap_new != old);
	CHECK_EQ_U64(test_refcnt(old), 1);
	CHECK_EQ_U64(test_refcnt(remap_new), 1);
	CHECK_EQ_U64(atomic_load(&ncalls), 1);
	check_call(0, mm, remap_new, AREA + PAGE, R, UVMA_FAULT_MMAP_LOCKED,
		   &user_tag2, &arg_tag);
	check_stats(mm, (struct stats){ .abort = 1, .fallback = 1 });
	uvma_mm_destroy(mm);
}

/* Threads faulting at once: the per-thread counters sum exactly. */
struct burst {
	pthread_t thread;
	struct uvma_mm *mm;
	uint64_t addr;
	uint64_t n;
	pthread_barrier_t *exit_together;
};

static void *burst_main(void *arg)
{
	struct burst *b = arg;

	for (uint64_t i = 0; i < b->n; i++)
		CHECK_EQ_U64(uvma_fault(b->mm, b->addr + (i % 4) * PAGE,
					(i & 1) ? W : R),
			     0);
	/* Hold the counter slot until every thread has counted, so that
	 * more threads than slots share the last one. */
	if (b->exit_together)
		pthread_barrier_wait(b->exit_together);
	return NULL;
}

static void run_bursts(unsigned nthreads, uint64_t n, bool together)
{
	struct uvma_mm *mm = test_mm(NULL, NULL);
	struct burst *b = calloc(nthreads, sizeof(*b));
	pthread_barrier_t barrier;

	CHECK(b != NULL);
	test_map(mm, AREA, AREA + 4 * PAGE, UVMA_PROT_READ | UVMA_PROT_WRITE,
		 NULL);
	test_map(mm, AREA + 8 * PAGE, AREA + 12 * PAGE,
		 UVMA_PROT_READ | UVMA_PROT_WRITE, NULL);
	if (together)
		CHECK(pthread_barrier_init(&barrier, NULL, nthreads) == 0);
	for (unsigned i = 0; i < nthreads; i++) {
		b[i].mm = mm;
		b[i].addr = AREA + (i % 2) * 8 * PAGE;
		b[i].n = n;
		b[i].exit_together = together ? &barrier : NULL;
		CHECK(pthread_create(&b[i].thread, NULL, burst_main, &b[i]) ==
		      0);
	}
	for (unsigned i = 0; i < nthreads; i++)
		CHECK(pthread_join(b[i].thread, NULL) == 0);
	if (together)
		pthread_barrier_destroy(&barrier);
	check_stats(mm, (struct stats){ .success = nthreads * n });
	free(b);
	uvma_mm_destroy(mm);
}

static void test_count_threads(void)
{
	run_bursts(4, test_scaled(100000, 5000), false);
	/* More threads than FAULT_SLOTS, all counting at once. */
	run_bursts(FAULT_SLOTS + 8, test_scaled(2000, 200), true);
}

/* ---- the area lock calls ------------------------------------------------- */

static void check_info(struct uvma_vma *v, uint64_t start, uint64_t end,
		       unsigned prot, void *user)
{
	struct uvma_area_info info;

	memset(&info, 0xa5, sizeof(info));
	uvma_vma_info(v, &info);
	CHECK_EQ_U64(info.start, start);
	CHECK_EQ_U64(info.end, end);
	CHECK_EQ_U64(info.prot, prot);
	CHECK_EQ_U64(info.flags, UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS);
	CHECK_EQ_U64(info.pgoff, start / PAGE);
	CHECK_EQ_U64(info.file_id, 0);
	CHECK(info.user == user);
}

struct writer_thread {
	pthread_t thread;
	struct uvma_mm *mm;
	_Atomic int done;
};

static void *write_lock_main(void *arg)
{
	struct writer_thread *t = arg;

	mmap_write_lock(t->mm);
	atomic_store(&t->done, 1);
	mmap_write_unlock(t->mm);
	return NULL;
}

static void test_area_lock_calls(void)
{
	struct uvma_mm *mm = test_mm(NULL, NULL);
	struct uvma_vma *v =
		test_map(mm, AREA, AREA + 3 * PAGE,
			 UVMA_PROT_READ | UVMA_PROT_EXEC, &user_tag);
	struct uvma_vma *w = test_map(mm, AREA + 5 * PAGE, AREA + 6 * PAGE,
				      UVMA_PROT_NONE, &user_tag2);
	struct uvma_vma *got, *got2;
	struct writer_thread wt = { .mm = mm };

	/* uvma_vma_lock: the area read-locked, or NULL. */
	got = uvma_vma_lock(mm, AREA + 3 * PAGE - 1);
	CHECK(got == v);
	CHECK_EQ_U64(test_refcnt(v), 2);
	check_info(got, AREA, AREA + 3 * PAGE, UVMA_PROT_READ | UVMA_PROT_EXEC,
		   &user_tag);
	got2 = uvma_vma_lock(mm, AREA);
	CHECK(got2 == v);
	CHECK_EQ_U64(test_refcnt(v), 3);
	uvma_vma_unlock(got2);
	uvma_vma_unlock(got);
	CHECK_EQ_U64(test_refcnt(v), 1);
	CHECK(uvma_vma_lock(mm, AREA + 3 * PAGE) == NULL);
	CHECK(uvma_vma_lock(mm, AREA - 1) == NULL);
	got = uvma_vma_lock(mm, AREA + 5 * PAGE); /* PROT_NONE: locks too */
	CHECK(got == w);
	check_info(got, AREA + 5 * PAGE, AREA + 6 * PAGE, UVMA_PROT_NONE,
		   &user_tag2);
	uvma_vma_unlock(got);
	check_stats(mm, (struct stats){ .success = 3, .abort = 2 });

	/* uvma_vma_get: the same on the fast path, -EFAULT in a hole (after
	 * asking mmap_lock). */
	got = NULL;
	CHECK_EQ_U64(uvma_vma_get(mm, AREA + PAGE, &got), 0);
	CHECK(got == v);
	CHECK_EQ_U64(test_refcnt(v), 2);
	uvma_vma_unlock(got);
	got = NULL;
	CHECK_EQ_U64(uvma_vma_get(mm, AREA + 4 * PAGE, &got), -EFAULT);
	CHECK(got == NULL);
	CHECK_EQ_U64(uvma_vma_get(mm, WINDOW_END, &got), -EFAULT);
	CHECK(got == NULL);
	check_stats(mm,
		    (struct stats){ .success = 4, .abort = 4, .fallback = 2 });

	/* Under mmap_lock for reading: find and info; a writer waits. */
	uvma_mm_read_lock(mm);
	CHECK(uvma_vma_find(mm, AREA) == v);
	CHECK(uvma_vma_find(mm, AREA + 3 * PAGE - 1) == v);
	CHECK(uvma_vma_find(mm, AREA + 3 * PAGE) == NULL);
	CHECK(uvma_vma_find(mm, AREA + 6 * PAGE - 1) == w);
	CHECK(uvma_vma_find(mm, AREA + 6 * PAGE) == NULL);
	CHECK(uvma_vma_find(mm, 0) == NULL);
	check_info(uvma_vma_find(mm, AREA + 5 * PAGE), AREA + 5 * PAGE,
		   AREA + 6 * PAGE, UVMA_PROT_NONE, &user_tag2);
	CHECK(pthread_create(&wt.thread, NULL, write_lock_main, &wt) == 0);
	settle();
	CHECK(!atomic_load(&wt.done));
	/* Lockless readers still get in beside a waiting writer. */
	got = uvma_vma_lock(mm, AREA);
	CHECK(got == v);
	uvma_vma_unlock(got);
	uvma_mm_read_unlock(mm);
	CHECK(pthread_join(wt.thread, NULL) == 0);
	CHECK(atomic_load(&wt.done));
	uvma_mm_destroy(mm);
}

/*
 * uvma_vma_get on an area another thread has write-locked: it falls back,
 * waits for mmap_lock, and returns the area read-locked, as the writer left
 * it, once the writer is done.
 */
static void test_vma_get_fallback(void)
{
	struct uvma_mm *mm = test_mm(NULL, NULL);
	struct uvma_vma *v =
		test_map(mm, AREA, AREA + 2 * PAGE, UVMA_PROT_READ, &user_tag);
	struct fault_thread t;

	mmap_write_lock(mm);
	vma_start_write(v);
	thread_start(&t, get_main, mm, AREA + PAGE, 0);
	WAIT_FOR(stat_fallback(mm) == 1);
	settle();
	CHECK(!atomic_load(&t.done));
	/* The writer changes the area while the getter waits. */
	v->prot = UVMA_PROT_READ | UVMA_PROT_WRITE;
	v->user = &user_tag2;
	mmap_write_unlock(mm);
	CHECK(pthread_join(t.thread, NULL) == 0);
	CHECK_EQ_U64(t.result, 0);
	CHECK(t.got == v);
	CHECK_EQ_U64(test_refcnt(v), 2);
	check_info(t.got, AREA, AREA + 2 * PAGE,
		   UVMA_PROT_READ | UVMA_PROT_WRITE, &user_tag2);
	check_stats(mm, (struct stats){ .abort = 1, .fallback = 1 });
	uvma_vma_unlock(t.got);
	CHECK_EQ_U64(test_refcnt(v), 1);
	uvma_mm_destroy(mm);
}

/* ---- the pool's failure hook --------------------------------------------- */

static void test_pool_fail(void)
{
	struct uvma_mm *mm = test_mm(NULL, NULL);
	struct uvma_vma *v =
		test_map(mm, AREA, AREA + PAGE, UVMA_PROT_READ, NULL);
	struct uvma_vma *a, *b;
	struct vma_pool_stats p0, p1;

	vma_pool_stats(&p0);
	vma_pool_fail_after(1);
	CHECK(vma_alloc(mm) == NULL);
	vma_pool_stats(&p1);
	CHECK_EQ_U64(p1.objects, p0.objects);
	CHECK_EQ_U64(p1.free, p0.free);
	a = vma_alloc(mm); /* it fired once */
	CHECK(a != NULL);
	vma_free(a);

	vma_pool_fail_after(2);
	a = vma_alloc(mm);
	CHECK(a != NULL);
	CHECK(vma_dup(v) == NULL);
	b = vma_dup(v);
	CHECK(b != NULL);
	CHECK_EQ_U64(test_refcnt(b), 0);
	vma_free(b);
	vma_free(a);

	vma_pool_fail_after(1);
	vma_pool_fail_after(0); /* cancelled */
	a = vma_alloc(mm);
	CHECK(a != NULL);
	vma_free(a);
	uvma_mm_destroy(mm);
}

static const struct test_case case_table[] = {
	{ "config", test_config },
	{ "create_errors", test_create_errors },
	{ "destroy_frees", test_destroy_frees },
	{ "fault_access", test_fault_access },
	{ "fault_errors", test_fault_errors },
	{ "handler_args", test_handler_args },
	{ "handler_retry", test_handler_retry },
	{ "count_success", test_count_success },
	{ "count_abort", test_count_abort },
	{ "count_fallback", test_count_fallback },
	{ "count_miss", test_count_miss },
	{ "count_reused", test_count_reused },
	{ "count_threads", test_count_threads },
	{ "area_lock_calls", test_area_lock_calls },
	{ "vma_get_fallback", test_vma_get_fallback },
	{ "pool_fail", test_pool_fail },
};

int main(int argc, char **argv)
{
	return test_run_cases(argc, argv, case_table,
			      sizeof(case_table) / sizeof(case_table[0]));
}
