/*
 * test_vma_stress.c - the per-VMA lock under fire, with type-stable reuse.
 *
 * Two address spaces share the process-wide VMA pool. mm1 is cut into
 * NSLOTS slots of SLOT_PAGES pages; each slot is empty or holds one area
 * inside it. mm2 uses the very same slot addresses, so that an object freed
 * by mm1 and reused by mm2 at once (the pool is LIFO) sits at an address a
 * stale mm1 lookup may be asking about: only the owner check of
 * vma_start_read keeps such a reader out.
 *
 * Threads:
 * - readers (--readers, default 3), alternately of two kinds, mostly in mm1
 *   and one time in eight in mm2: "lock" readers take uvma_vma_lock() (the
 *   lock under RCU) or sometimes uvma_vma_get(), and on failure fall back
 *   the way a fault would, with uvma_mm_read_lock() + uvma_vma_find();
 *   "fault" readers call uvma_fault(), whose handler does the checks (and
 *   sometimes asks for a retry under mmap_lock);
 * - a writer for mm1: in each write cycle it write-locks one or several
 *   areas and changes their fields one at a time with delays in between
 *   (prot, pgoff, generation, checksums), or replaces an area by a new one
 *   over the same range in the same cycle (the plan engine's unmap and map,
 *   src/plan.h), finishing the new one after it is in the tree (rule 7 keeps
 * readers out until the cycle ends); it ends the cycle with mmap_write_unlock
 * or a downgrade;
 * - a detacher for mm1: removes random areas the way munmap does (write-lock
 *   them all, then unlink, detach waiting for transient readers, and free
 *   into the pool each) and maps empty slots again;
 * - an mm2 thread: maps, unmaps (the same way) and changes areas of mm2 all
 *   the time, so that objects freed by mm1 are reused by mm2 (and back),
 *   and locks and faults in mm2 itself.
 * Half of every thread's choices go to a few hot slots, so that they meet.
 *
 * Every area points (user) at its slot's tag, a side structure of the test
 * that never moves: the writer sets the tag's "writing" flag (atomic) while
 * it changes a write-locked area, and keeps the generation (= the area's
 * pgoff) and a second checksum there. The area's file_id is a checksum of
 * all its other fields. A thread holding an area (its read lock, or
 * mmap_lock for reading) reads every field twice with some work in between
 * and counts, per kind, the violations:
 *   owner    the area (or the fault's mm) is not of the space it came from
 *   refcnt   the count is outside [2, LIMIT] under the area's read lock
 *            (OFFSET aside, added by a writer waiting for us), or outside
 *            [1, LIMIT] under mmap_lock
 *   range    the address is outside the area, or the area outside the
 *            address's slot
 *   changed  a field differs between the two reads
 *   torn     the fields disagree with each other (checksums, generation)
 *   writing  the writer's flag is set while we hold the area
 *   tag      the user pointer is not the tag of the address's slot
 *   result   an API call returned what it never should here
 *   fresh    the object of a new area is not attached, not write-locked
 *            in its writer's cycle, or not owned by the space asking
 *   final    found by the end checks below
 * All must stay 0. The plain fields are read plainly, so ThreadSanitizer
 * sees a reader and the writer touching one at once as a data race: a
 * second detector of the same bug.
 *
 * At the end ("final"): every attached area of both spaces has refcnt
 * exactly 1 and matches the test's own map, the library's fault counters
 * agree with the calls made, both spaces are destroyed (skipped when the
 * areas are not quiet: the destroy could hang on a broken count), the
 * pool's free list holds every object it ever carved (no other space lives
 * in this process), and none of the objects the test got is still counted.
 *
 * With test hooks compiled in (Debug and the broken variants), a hook adds
 * random delays and yields in the lock path (after the lookup, after the
 * early lock_seq check, after the increment) to widen the windows where
 * stale and transient readers live (--no-jitter turns it off). A watchdog
 * fails the run when a thread makes no progress for STALL_SECONDS, while
 * running or while stopping (a broken count tends to hang someone).
 *
 * Options: --seed N, --duration-ms N (default 5000, scaled by
 * UVMA_TEST_SCALE; sanitizer builds 3000), --readers N, --no-jitter. The
 * seed fixes every thread's stream of random numbers, and so the map the
 * threads start from; it cannot fix the timing, which decides how the
 * threads interleave and therefore what each draw ends up choosing (a
 * lookup that misses draws less than one that hits). A failure may need a
 * few runs with its seed, or a few seeds, to come back.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "check.h"
#include "wait.h"
#include "futex.h"
#include "hook.h"
#include "rcu.h"
#include "tree.h"
#include "vma_util.h"

#define G		      4096ULL
#define NSLOTS		      256
#define HOT_SLOTS	      8
#define SLOT_PAGES	      16
#define SLOT_BYTES	      (SLOT_PAGES * G)
#define BASE		      (1ULL << 32)
#define SPACE_END	      (BASE + NSLOTS * SLOT_BYTES)
#define AREA_FLAGS	      (UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS)
#define MIN_CYCLES	      200 /* per map-changing thread, whatever the time */
#define MIN_READS	      200 /* per reader */
#define STALL_SECONDS	      20
#define MAX_BATCH	      4 /* areas a detacher cycle may touch */
#define MAX_WORKERS	      16
#define VIOLATION_PRINT_LIMIT 8 /* per thread, on stderr */

enum space_id { MM1, MM2, NSPACES };

/*
 * The side structure of a slot. space and slot are written before the
 * threads start. writing, gen and sum belong to the area currently mapped
 * in the slot: written by the space's writer only while that area is
 * write-locked (or before it is attached), read under its read lock or
 * mmap_lock, exactly like the area's own fields.
 */
struct tag {
	struct space *space;
	unsigned slot;
	_Atomic int writing;
	uint64_t gen;
	uint64_t sum;
} __attribute__((aligned(64)));

/*
 * An address space of the test. slot_vma, next_gen and mapped are the
 * test's own map: read and written only under the space's mmap_lock held
 * for writing (and by main once the threads are joined).
 */
struct space {
	struct uvma_mm *mm;
	enum space_id id;
	const char *name;
	struct tag tags[NSLOTS];
	struct uvma_vma *slot_vma[NSLOTS];
	uint64_t next_gen;
	unsigned mapped;
};

static struct space spaces[NSPACES];

enum violation {
	V_OWNER,
	V_REFCNT,
	V_RANGE,
	V_CHANGED,
	V_TORN,
	V_WRITING,
	V_TAG,
	V_RESULT,
	V_FRESH,
	V_FINAL,
	V_COUNT
};

static const char *const violation_names[V_COUNT] = {
	"owner",   "refcnt", "range",  "changed", "torn",
	"writing", "tag",    "result", "fresh",	  "final",
};

/* What one thread did in one space (readers' side). */
struct counts {
	uint64_t lock_ok;	 /* uvma_vma_lock gave the area */
	uint64_t lock_null;	 /* it gave NULL: fell back to mmap_lock */
	uint64_t fallback_found; /* ... and the fallback found an area */
	uint64_t get_calls;	 /* uvma_vma_get */
	uint64_t get_efault;	 /* ... with no area there */
	uint64_t fault_calls;	 /* uvma_fault */
	uint64_t fault_fast;	 /* handler ran under the area's read lock */
	uint64_t fault_locked;	 /* handler ran under mmap_lock */
	uint64_t fault_retry;	 /* handler asked to run again */
	uint64_t fault_efault;	 /* no area there */
	uint64_t checks;	 /* held areas checked */
	uint64_t writer_waits;	 /* held areas a writer was waiting on */
};

enum role {
	ROLE_LOCK_READER,
	ROLE_FAULT_READER,
	ROLE_WRITER,
	ROLE_DETACHER,
	ROLE_MM2,
	ROLE_MAIN /* setup and the final checks */
};

static const char *const role_names[] = { "lock-reader", "fault-reader",
					  "writer",	 "detacher",
					  "mm2",	 "main" };

struct worker {
	pthread_t thread;
	enum role role;
	unsigned id;
	uint64_t seed;
	/* Operations done, for the watchdog: relaxed, only ever a number. */
	_Atomic uint64_t progress;
	atomic_bool done; /* the thread has returned */
	struct counts c[NSPACES];
	/* Map changes (writer, detacher, mm2 thread). */
	uint64_t cycles, multi, downgrades, modified, replaced, mapped, removed,
		cross_reuse;
	/* Reader counts the lock path took only to back off (test hooks):
	 * on an area write-locked in its own space, or on an object that
	 * belongs to another space by now. */
	uint64_t transient_locked, transient_other;
	uint64_t viol[V_COUNT];
};

static struct worker workers[MAX_WORKERS];
static unsigned nworkers;
static atomic_bool stop;
static _Thread_local struct worker *self;

/* ---- small helpers ------------------------------------------------------- */

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	h *= 0xbf58476d1ce4e5b9ULL;
	return h ^ (h >> 31);
}

/* The area's file_id: a checksum of every other field a reader sees. */
static uint64_t area_sum(uint64_t start, uint64_t end, unsigned prot,
			 unsigned flags, uint64_t pgoff, const void *user)
{
	uint64_t h = mix(0x51ab, start);

	h = mix(h, end);
	h = mix(h, prot);
	h = mix(h, flags);
	h = mix(h, pgoff);
	return mix(h, (uintptr_t)user) | 1;
}

/* The tag's own checksum, of the generation and what it was given with. */
static uint64_t tag_sum(uint64_t gen, unsigned prot, uint64_t start,
			uint64_t end)
{
	return mix(mix(mix(mix(0x7a6, gen), prot), start), end);
}

static unsigned random_prot(void)
{
	static const unsigned prots[] = {
		UVMA_PROT_READ,
		UVMA_PROT_READ | UVMA_PROT_WRITE,
		UVMA_PROT_READ | UVMA_PROT_EXEC,
		UVMA_PROT_READ | UVMA_PROT_WRITE | UVMA_PROT_EXEC,
	};

	return prots[rng_below(4)];
}

static bool prot_valid(unsigned prot)
{
	return (prot & UVMA_PROT_READ) &&
	       !(prot & ~(unsigned)(UVMA_PROT_READ | UVMA_PROT_WRITE |
				    UVMA_PROT_EXEC));
}

static uint64_t slot_lo(unsigned slot)
{
	return BASE + slot * SLOT_BYTES;
}

/*
 * Half of all choices go to the first HOT_SLOTS slots, so that readers
 * and writers meet there often: readers held while a writer waits, busy
 * fallbacks, transient readers of areas being detached.
 */
static unsigned random_slot(void)
{
	return (unsigned)rng_below(rng_chance(1, 2) ? HOT_SLOTS : NSLOTS);
}

static uint64_t random_addr(void)
{
	return slot_lo(random_slot()) + rng_below(SLOT_BYTES);
}

/* The tag user points at, if it is one of ours; else NULL (not to be
 * dereferenced: it is garbage, and that is a violation). Compared as
 * integers: user may point anywhere. */
static struct tag *tag_of(void *user)
{
	uintptr_t u = (uintptr_t)user;

	for (int i = 0; i < NSPACES; i++) {
		uintptr_t lo = (uintptr_t)spaces[i].tags;

		if (u >= lo && u < lo + sizeof(spaces[i].tags) &&
		    (u - lo) % sizeof(struct tag) == 0)
			return user;
	}
	return NULL;
}

static void violation(struct worker *w, enum violation v, struct space *sp,
		      uint64_t addr, const char *fmt, ...)
{
	uint64_t n = 0;
	va_list ap;

	w->viol[v]++;
	for (int i = 0; i < V_COUNT; i++)
		n += w->viol[i];
	if (n > VIOLATION_PRINT_LIMIT)
		return;
	fprintf(stderr, "violation %s: %s %u in %s at %#" PRIx64 ": ",
		violation_names[v], role_names[w->role], w->id, sp->name, addr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (seed %" PRIu64 ")\n", *test_seed_slot());
}

/* ---- the checks of a held area ------------------------------------------- */

/* Everything a holder of an area may read: its fields and its tag's. */
struct snap {
	uint64_t start, end, pgoff, file_id;
	unsigned prot, flags;
	void *user;
	struct tag *tag; /* NULL: user is not a tag */
	struct space *tag_space;
	unsigned tag_slot;
	uint64_t tag_gen, tag_sum;
};

/* First read: the fields themselves, plainly (ThreadSanitizer watches). */
static void read_fields(const struct uvma_vma *v, struct snap *s)
{
	s->start = v->start;
	s->end = v->end;
	s->prot = v->prot;
	s->flags = v->flags;
	s->pgoff = v->pgoff;
	s->file_id = v->file_id;
	s->user = v->user;
}

/* Second read: through the public call, which reads them plainly too. */
static void read_info(const struct uvma_vma *v, struct snap *s)
{
	struct uvma_area_info info;

	uvma_vma_info(v, &info);
	s->start = info.start;
	s->end = info.end;
	s->prot = info.prot;
	s->flags = info.flags;
	s->pgoff = info.pgoff;
	/* uvma_vma_info reports 0 as the file of anonymous areas (their
	 * file_id field holds a hidden backing id for shared ones, and here
	 * the test's checksum): read the field itself. */
	s->file_id = v->file_id;
	s->user = info.user;
}

static void read_tag(struct snap *s)
{
	s->tag = tag_of(s->user);
	if (!s->tag)
		return;
	s->tag_space = s->tag->space;
	s->tag_slot = s->tag->slot;
	s->tag_gen = s->tag->gen;
	s->tag_sum = s->tag->sum;
}

static bool snap_equal(const struct snap *a, const struct snap *b)
{
	return a->start == b->start && a->end == b->end && a->prot == b->prot &&
	       a->flags == b->flags && a->pgoff == b->pgoff &&
	       a->file_id == b->file_id && a->user == b->user &&
	       a->tag == b->tag &&
	       (!a->tag ||
		(a->tag_gen == b->tag_gen && a->tag_sum == b->tag_sum));
}

static void check_writing(struct worker *w, struct space *sp, uint64_t addr,
			  const struct snap *s)
{
	/*
	 * Relaxed is enough: either we locked the area after the writer's
	 * cycle ended (our acquire of mm_lock_seq or of the count orders its
	 * clearing of the flag before us), or the writer write-locks it after
	 * we leave (its wait for our release orders our load before its
	 * store). Seeing 1 means neither held.
	 */
	if (s->tag &&
	    atomic_load_explicit(&s->tag->writing, memory_order_relaxed))
		violation(w, V_WRITING, sp, addr,
			  "slot %u is being written, gen %" PRIu64, s->tag_slot,
			  s->pgoff);
}

/* refcnt of an area held by the caller: read-locked, or under mmap_lock. */
static void check_refcnt(struct worker *w, struct space *sp, uint64_t addr,
			 struct uvma_vma *v, bool read_locked, bool count)
{
	uint32_t ref = test_refcnt(v);
	uint32_t readers = ref;

	if (read_locked) {
		/* A writer waiting for us has added OFFSET over the attach
		 * reference and ours; a detacher never can while we hold
		 * it (it write-locks first, which waits for us). */
		if (ref >= VMA_LOCK_OFFSET) {
			readers = ref - VMA_LOCK_OFFSET;
			if (count)
				w->c[sp->id].writer_waits++;
		}
		if (readers < 2 || readers > VMA_REF_LIMIT)
			violation(w, V_REFCNT, sp, addr,
				  "refcnt %#x while read-locked", ref);
	} else if (ref < 1 || ref > VMA_REF_LIMIT) {
		violation(w, V_REFCNT, sp, addr, "refcnt %#x under mmap_lock",
			  ref);
	}
}

/* The fields agree with each other, with addr and with the space. */
static void check_consistent(struct worker *w, struct space *sp, uint64_t addr,
			     const struct snap *s)
{
	unsigned slot = (unsigned)((addr - BASE) / SLOT_BYTES);

	if (addr < s->start || addr >= s->end || s->start < slot_lo(slot) ||
	    s->end > slot_lo(slot) + SLOT_BYTES || s->start % G || s->end % G)
		violation(w, V_RANGE, sp, addr,
			  "area [%#" PRIx64 ", %#" PRIx64 ") for slot %u",
			  s->start, s->end, slot);
	if (s->tag != &sp->tags[slot] || !s->tag || s->tag_space != sp ||
	    s->tag_slot != slot) {
		violation(w, V_TAG, sp, addr,
			  "user %p is not the tag of slot %u (%p)", s->user,
			  slot, (void *)&sp->tags[slot]);
		return;
	}
	if (s->flags != AREA_FLAGS || !prot_valid(s->prot) ||
	    s->pgoff != s->tag_gen ||
	    s->file_id != area_sum(s->start, s->end, s->prot, s->flags,
				   s->pgoff, s->user) ||
	    s->tag_sum != tag_sum(s->tag_gen, s->prot, s->start, s->end))
		violation(w, V_TORN, sp, addr,
			  "prot %#x flags %#x pgoff %" PRIu64
			  " tag gen %" PRIu64 " file_id %#" PRIx64
			  " tag sum %#" PRIx64,
			  s->prot, s->flags, s->pgoff, s->tag_gen, s->file_id,
			  s->tag_sum);
}

/*
 * Check an area the caller holds: read-locked (read_locked) or found under
 * mmap_lock held for reading. A held area never changes, its writer is
 * never in it, and it is the one addr asked for in sp.
 */
static void check_held(struct worker *w, struct space *sp, uint64_t addr,
		       struct uvma_vma *v, bool read_locked)
{
	struct uvma_mm *owner =
		atomic_load_explicit(&v->mm, memory_order_relaxed);
	struct snap a, b;

	w->c[sp->id].checks++;
	if (owner != sp->mm)
		violation(w, V_OWNER, sp, addr, "area of mm %p, locked in %p",
			  (void *)owner, (void *)sp->mm);
	check_refcnt(w, sp, addr, v, read_locked, true);

	read_fields(v, &a);
	read_tag(&a);
	check_writing(w, sp, addr, &a);
	busy_work((unsigned)rng_below(64));
	read_info(v, &b);
	read_tag(&b);
	check_writing(w, sp, addr, &b);

	if (!snap_equal(&a, &b))
		violation(w, V_CHANGED, sp, addr,
			  "[%#" PRIx64 ", %#" PRIx64 ") prot %#x pgoff %" PRIu64
			  " file_id %#" PRIx64 " tag gen %" PRIu64
			  " became [%#" PRIx64 ", %#" PRIx64 ") prot %#x pgoff "
			  "%" PRIu64 " file_id %#" PRIx64 " tag gen %" PRIu64,
			  a.start, a.end, a.prot, a.pgoff, a.file_id,
			  a.tag ? a.tag_gen : 0, b.start, b.end, b.prot,
			  b.pgoff, b.file_id, b.tag ? b.tag_gen : 0);
	check_consistent(w, sp, addr, &a);
	check_refcnt(w, sp, addr, v, read_locked, false);
}

/* ---- readers ------------------------------------------------------------- */

/*
 * Runs with the area's read lock (fast path) or mmap_lock for reading
 * (fallback); takes no lock itself.
 */
static int fault_handler(const struct uvma_fault *f)
{
	struct space *sp = f->arg;
	struct worker *w = self;
	bool locked = f->flags & UVMA_FAULT_MMAP_LOCKED;

	if (f->mm != sp->mm)
		violation(w, V_OWNER, sp, f->addr, "fault in mm %p for %p",
			  (void *)f->mm, (void *)sp->mm);
	if (f->user != f->vma->user)
		violation(w, V_CHANGED, sp, f->addr,
			  "fault's user %p, area's %p", f->user, f->vma->user);
	check_held(w, sp, f->addr, f->vma, !locked);
	if (locked) {
		w->c[sp->id].fault_locked++;
		return 0;
	}
	w->c[sp->id].fault_fast++;
	if (rng_chance(1, 16)) {
		w->c[sp->id].fault_retry++;
		return UVMA_FAULT_RETRY;
	}
	return 0;
}

/* The fallback of a failed lock: find the area under mmap_lock. */
static void read_under_mmap_lock(struct worker *w, struct space *sp,
				 uint64_t addr)
{
	struct uvma_vma *v;

	uvma_mm_read_lock(sp->mm);
	v = uvma_vma_find(sp->mm, addr);
	if (v) {
		w->c[sp->id].fallback_found++;
		check_held(w, sp, addr, v, false);
	}
	uvma_mm_read_unlock(sp->mm);
}

static void read_by_lock(struct worker *w, struct space *sp, uint64_t addr)
{
	struct counts *c = &w->c[sp->id];
	struct uvma_vma *v;
	int err;

	if (rng_chance(1, 8)) {
		c->get_calls++;
		err = uvma_vma_get(sp->mm, addr, &v);
		if (err == -EFAULT) {
			c->get_efault++;
			return;
		}
		if (err) {
			violation(w, V_RESULT, sp, addr, "uvma_vma_get: %d",
				  err);
			return;
		}
		check_held(w, sp, addr, v, true);
		uvma_vma_unlock(v);
		return;
	}
	v = uvma_vma_lock(sp->mm, addr);
	if (v) {
		c->lock_ok++;
		check_held(w, sp, addr, v, true);
		uvma_vma_unlock(v);
		return;
	}
	c->lock_null++;
	read_under_mmap_lock(w, sp, addr);
}

static void read_by_fault(struct worker *w, struct space *sp, uint64_t addr)
{
	struct counts *c = &w->c[sp->id];
	int err;

	c->fault_calls++;
	err = uvma_fault(sp->mm, addr, UVMA_ACCESS_READ);
	if (err == -EFAULT)
		c->fault_efault++;
	else if (err)
		violation(w, V_RESULT, sp, addr, "uvma_fault: %d", err);
}

static void *run_reader(void *arg)
{
	struct worker *w = arg;

	self = w;
	rng_seed(w->seed);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		struct space *sp = &spaces[rng_chance(1, 8) ? MM2 : MM1];
		uint64_t addr = random_addr();

		if (w->role == ROLE_LOCK_READER)
			read_by_lock(w, sp, addr);
		else
			read_by_fault(w, sp, addr);
		atomic_fetch_add_explicit(&w->progress, 1,
					  memory_order_relaxed);
	}
	atomic_store_explicit(&w->done, true, memory_order_relaxed);
	return NULL;
}

/* ---- map changes (mmap_lock held for writing) ---------------------------- */

/*
 * The pool's objects and the space that last allocated each, to count the
 * objects that move between the spaces. Under owners_lock.
 */
#define OWNER_SLOTS 16384
static pthread_mutex_t owners_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	struct uvma_vma *obj;
	int space;
} owners[OWNER_SLOTS];

/*
 * The object the plan gave a new area, in the writer's still open cycle:
 * owned by sp, attached, and write-locked in this cycle (rule 7), so that
 * no reader can have it yet. Also counts the objects that come from the
 * other space.
 */
static void check_new(struct worker *w, struct space *sp, struct uvma_vma *v)
{
	size_t i = (size_t)(mix(0, (uintptr_t)v) % OWNER_SLOTS);
	uint32_t ref = test_refcnt(v);
	size_t n;

	if (ref == 0 || ref >= VMA_LOCK_OFFSET || !vma_is_write_locked(v) ||
	    atomic_load_explicit(&v->mm, memory_order_relaxed) != sp->mm)
		violation(w, V_FRESH, sp, 0,
			  "new area's object %p with refcnt %#x, %s", (void *)v,
			  ref,
			  vma_is_write_locked(v) ? "write-locked"
						 : "not write-locked");
	pthread_mutex_lock(&owners_lock);
	for (n = 0; n < OWNER_SLOTS; n++, i = (i + 1) % OWNER_SLOTS)
		if (!owners[i].obj || owners[i].obj == v)
			break;
	CHECK(n < OWNER_SLOTS);
	if (owners[i].obj == v && owners[i].space != (int)sp->id)
		w->cross_reuse++;
	owners[i].obj = v;
	owners[i].space = (int)sp->id;
	pthread_mutex_unlock(&owners_lock);
}

/*
 * Once both spaces are destroyed: objects of the pool still counted (a
 * free without detach, or a detach that left a transient reader's count).
 */
static unsigned counted_in_pool(void)
{
	unsigned n = 0;

	for (size_t i = 0; i < OWNER_SLOTS; i++)
		if (owners[i].obj && test_refcnt(owners[i].obj) != 0)
			n++;
	return n;
}

/* A few steps of a writer's change, with room for readers in between. */
static void writer_pause(void)
{
	busy_work((unsigned)rng_below(32));
}

/* The tag's values for the area as it now is: its generation and sum. */
static void tag_publish(struct tag *t, const struct uvma_vma *v)
{
	t->gen = v->pgoff;
	t->sum = tag_sum(v->pgoff, v->prot, v->start, v->end);
}

/* A random range inside slot: the whole slot half of the time. */
static void random_range(unsigned slot, uint64_t *start, uint64_t *end)
{
	uint64_t a = 0, b = SLOT_PAGES;

	if (rng_chance(1, 2)) {
		a = rng_below(SLOT_PAGES);
		b = a + 1 + rng_below(SLOT_PAGES - a);
	}
	*start = slot_lo(slot) + a * G;
	*end = slot_lo(slot) + b * G;
}

/* Caller holds mmap_lock for writing: the area a over its range, by the
 * one-edit plan mmap runs; returns the object that holds it. */
static struct uvma_vma *plan_map(struct worker *w, struct space *sp,
				 const struct area *a)
{
	struct uvma_vma *v;

	CHECK_EQ_U64(__mm_replace(sp->mm, a->start, a->end, a), 0);
	v = mm_vma_at(sp->mm, a->start);
	CHECK(v != NULL && v->start == a->start && v->end == a->end);
	check_new(w, sp, v);
	return v;
}

/* Map a new, complete area over [start, end) in the empty slot. */
static void map_area(struct worker *w, struct space *sp, unsigned slot,
		     uint64_t start, uint64_t end)
{
	struct tag *t = &sp->tags[slot];
	struct area a = {
		.start = start,
		.end = end,
		.prot = random_prot(),
		.flags = AREA_FLAGS,
		.pgoff = ++sp->next_gen,
		.user = t,
	};
	struct uvma_vma *v;

	CHECK(!sp->slot_vma[slot]);
	a.file_id = area_sum(a.start, a.end, a.prot, a.flags, a.pgoff, a.user);
	v = plan_map(w, sp, &a);
	/* The new area is write-locked until the cycle ends: nobody reads
	 * the tag yet. */
	tag_publish(t, v);
	sp->slot_vma[slot] = v;
	sp->mapped++;
	w->mapped++;
}

static void map_random(struct worker *w, struct space *sp, unsigned slot)
{
	uint64_t start, end;

	random_range(slot, &start, &end);
	map_area(w, sp, slot, start, end);
}

static void remove_area(struct worker *w, struct space *sp, unsigned slot)
{
	struct uvma_vma *v = sp->slot_vma[slot];

	CHECK_EQ_U64(__mm_replace(sp->mm, v->start, v->end, NULL), 0);
	sp->slot_vma[slot] = NULL;
	sp->mapped--;
	w->removed++;
}

/*
 * Change a mapped area in place, one field at a time, under the writing
 * flag: every intermediate state is inconsistent, and a reader that could
 * lock the area now would see it.
 */
static void modify_area(struct worker *w, struct space *sp, unsigned slot)
{
	struct uvma_vma *v = sp->slot_vma[slot];
	struct tag *t = v->user;

	vma_start_write(v);
	atomic_store_explicit(&t->writing, 1, memory_order_relaxed);
	v->prot = random_prot();
	writer_pause();
	v->pgoff = ++sp->next_gen;
	writer_pause();
	t->gen = v->pgoff;
	writer_pause();
	v->file_id = area_sum(v->start, v->end, v->prot, v->flags, v->pgoff,
			      v->user);
	writer_pause();
	t->sum = tag_sum(t->gen, v->prot, v->start, v->end);
	atomic_store_explicit(&t->writing, 0, memory_order_relaxed);
	w->modified++;
}

/*
 * Replace a mapped area by a new object over the same range with a new
 * generation: remove the old one (detach, free), insert the new one
 * half-finished, and finish it after it is in the tree. Rule 7 makes the
 * new area write-locked from before its insertion to the end of the cycle,
 * so no reader may see the unfinished state; the writing flag stays set
 * across all of it.
 */
static void replace_area(struct worker *w, struct space *sp, unsigned slot)
{
	struct uvma_vma *old = sp->slot_vma[slot];
	struct tag *t = old->user;
	struct uvma_vma *v;
	struct area a = {
		.start = old->start,
		.end = old->end,
		.flags = old->flags,
		.user = old->user,
	};

	vma_start_write(old);
	atomic_store_explicit(&t->writing, 1, memory_order_relaxed);
	remove_area(w, sp, slot);
	a.prot = random_prot();
	a.pgoff = ++sp->next_gen;
	a.file_id = 0; /* unfinished: no checksum matches it */
	v = plan_map(w, sp, &a);
	sp->slot_vma[slot] = v;
	sp->mapped++;
	writer_pause();
	v->file_id = area_sum(v->start, v->end, v->prot, v->flags, v->pgoff,
			      v->user);
	writer_pause();
	tag_publish(t, v);
	atomic_store_explicit(&t->writing, 0, memory_order_relaxed);
	w->replaced++;
}

/* After a downgrade: mmap_lock held for reading, like a fallback. */
static void check_downgraded(struct worker *w, struct space *sp)
{
	uint64_t addr = random_addr();
	struct uvma_vma *v = uvma_vma_find(sp->mm, addr);

	if (v)
		check_held(w, sp, addr, v, false);
}

/* One write cycle of the writer: change one or several areas. */
static void writer_cycle(struct worker *w, struct space *sp)
{
	unsigned n = rng_chance(1, 4) ? 2 + (unsigned)rng_below(3) : 1;

	mmap_write_lock(sp->mm);
	for (unsigned i = 0; i < n; i++) {
		unsigned slot = random_slot();

		if (!sp->slot_vma[slot])
			map_random(w, sp, slot);
		else if (rng_chance(1, 4))
			replace_area(w, sp, slot);
		else
			modify_area(w, sp, slot);
	}
	if (n > 1)
		w->multi++;
	if (rng_chance(1, 4)) {
		mmap_write_downgrade(sp->mm);
		w->downgrades++;
		check_downgraded(w, sp);
		mmap_read_unlock(sp->mm);
	} else {
		mmap_write_unlock(sp->mm);
	}
	w->cycles++;
}

/*
 * Slot has not been chosen for removal yet in this cycle (the list is
 * short: at most MAX_BATCH).
 */
static bool not_chosen(const unsigned *chosen, unsigned n, unsigned slot)
{
	for (unsigned i = 0; i < n; i++)
		if (chosen[i] == slot)
			return false;
	return true;
}

/*
 * Remove the chosen areas the way munmap does: every one of them was
 * write-locked when chosen; after a pause (other work of the cycle), each
 * is unlinked, detached and freed. Between its lock and its detach, an
 * area can still take transient counts: from readers that passed their
 * early lock_seq check just before the lock, and from stale readers of
 * the other space (the object may have been theirs), whose early check
 * compares its lock_seq with their own space's sequence and so cannot
 * stop them. The detach must wait them all out.
 */
static void remove_chosen(struct worker *w, struct space *sp,
			  const unsigned *chosen, unsigned n)
{
	if (!n)
		return;
	busy_work((unsigned)rng_below(256));
	for (unsigned i = 0; i < n; i++)
		remove_area(w, sp, chosen[i]);
}

/*
 * One cycle of the detacher: map the empty slots among a few random ones
 * and remove half of the mapped ones, munmap-style (about two thirds of
 * the slots stay mapped).
 */
static void detacher_cycle(struct worker *w, struct space *sp)
{
	unsigned n = 1 + (unsigned)rng_below(MAX_BATCH);
	unsigned chosen[MAX_BATCH], nchosen = 0;

	mmap_write_lock(sp->mm);
	for (unsigned i = 0; i < n; i++) {
		unsigned slot = random_slot();

		if (!sp->slot_vma[slot]) {
			map_random(w, sp, slot);
		} else if (rng_chance(1, 2) &&
			   not_chosen(chosen, nchosen, slot)) {
			vma_start_write(sp->slot_vma[slot]);
			chosen[nchosen++] = slot;
		}
	}
	remove_chosen(w, sp, chosen, nchosen);
	mmap_write_unlock(sp->mm);
	w->cycles++;
}

/* One cycle of the mm2 thread: change mm2, then read in it. */
static void mm2_cycle(struct worker *w, struct space *sp)
{
	unsigned n = 1 + (unsigned)rng_below(MAX_BATCH);
	unsigned chosen[MAX_BATCH], nchosen = 0;

	mmap_write_lock(sp->mm);
	for (unsigned i = 0; i < n; i++) {
		unsigned slot = random_slot();

		if (!sp->slot_vma[slot]) {
			map_random(w, sp, slot);
		} else if (!not_chosen(chosen, nchosen, slot)) {
			continue; /* locked for removal already */
		} else if (rng_chance(1, 2)) {
			vma_start_write(sp->slot_vma[slot]);
			chosen[nchosen++] = slot;
		} else {
			modify_area(w, sp, slot);
		}
	}
	remove_chosen(w, sp, chosen, nchosen);
	mmap_write_unlock(sp->mm);
	w->cycles++;
	for (int i = 0; i < 4; i++) {
		if (i % 2)
			read_by_fault(w, sp, random_addr());
		else
			read_by_lock(w, sp, random_addr());
	}
}

static void *run_changer(void *arg)
{
	struct worker *w = arg;

	self = w;
	rng_seed(w->seed);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		switch (w->role) {
		case ROLE_WRITER:
			writer_cycle(w, &spaces[MM1]);
			break;
		case ROLE_DETACHER:
			detacher_cycle(w, &spaces[MM1]);
			/* Let mm2 take what was just freed, now and then. */
			if (rng_chance(1, 8))
				sched_yield();
			break;
		default:
			mm2_cycle(w, &spaces[MM2]);
			break;
		}
		atomic_fetch_add_explicit(&w->progress, 1,
					  memory_order_relaxed);
	}
	atomic_store_explicit(&w->done, true, memory_order_relaxed);
	return NULL;
}

/* ---- jitter in the lock path (test hooks) -------------------------------- */

#ifdef UVMA_TEST_HOOKS
/*
 * A stream of its own, so that jitter (whose count depends on timing)
 * does not shift the thread's reproducible choices.
 */
static _Thread_local uint64_t jitter_state;

static void jitter(enum hook_point point, struct uvma_mm *mm,
		   struct uvma_vma *vma)
{
	uint64_t r = mix(jitter_state += 0x9e3779b97f4a7c15ULL,
			 (uintptr_t)&jitter_state);
	struct worker *w = self;
	uint32_t seq =
		atomic_load_explicit(&mm->lock_seq, memory_order_relaxed);
	bool transient = false;

	/*
	 * Counted, nothing checked yet: will this reader back off? Such a
	 * transient count is what a detacher must wait out, so it is held
	 * longer than the others.
	 */
	if (point == HOOK_READ_COUNTED && w) {
		if (atomic_load_explicit(&vma->mm, memory_order_relaxed) !=
		    mm) {
			w->transient_other++;
			transient = true;
		} else if ((seq & 1) &&
			   atomic_load_explicit(&vma->lock_seq,
						memory_order_relaxed) == seq) {
			w->transient_locked++;
			transient = true;
		}
	}
	/* A yield lets the writer, the detacher and mm2 run in the window:
	 * after the lookup, the object may be detached, freed and reused. */
	if (r % 64 == 0 || (transient && r % 4 == 0))
		sched_yield();
	else if (r % 8 == 0 || transient)
		busy_work((unsigned)(r >> 56));
}
#endif

/* ---- setup, watchdog, final checks --------------------------------------- */

static void space_init(struct space *sp, enum space_id id, const char *name)
{
	sp->id = id;
	sp->name = name;
	sp->mm = test_mm(fault_handler, sp);
	for (unsigned s = 0; s < NSLOTS; s++) {
		sp->tags[s].space = sp;
		sp->tags[s].slot = s;
	}
}

static void populate(struct worker *w, struct space *sp, unsigned num,
		     unsigned den)
{
	mmap_write_lock(sp->mm);
	for (unsigned s = 0; s < NSLOTS; s++)
		if (rng_chance(num, den))
			map_random(w, sp, s);
	mmap_write_unlock(sp->mm);
}

/*
 * With every thread joined: the tree of sp and the test's map agree, and
 * every attached area is quiet (refcnt 1), consistent and not being
 * written. Problems are "final" violations of w.
 */
static void check_final_space(struct worker *w, struct space *sp)
{
	struct tree_iter it;
	struct tree_entry e;
	unsigned n = 0;

	mmap_write_lock(sp->mm);
	rcu_read_enter();
	tree_iter_start(&it, &sp->mm->tree, 0, UINT64_MAX);
	while (tree_iter_next(&it, &e)) {
		struct uvma_vma *v = e.ptr;
		uint32_t ref = test_refcnt(v);
		unsigned slot;
		struct snap s;

		n++;
		if (e.start < BASE || e.end > SPACE_END) {
			violation(w, V_FINAL, sp, e.start,
				  "tree entry outside the slots");
			continue;
		}
		slot = (unsigned)((e.start - BASE) / SLOT_BYTES);
		if (sp->slot_vma[slot] != v || v->start != e.start ||
		    v->end != e.end || ref != 1 ||
		    atomic_load_explicit(&v->mm, memory_order_relaxed) !=
			    sp->mm)
			violation(w, V_FINAL, sp, e.start,
				  "area %p [%#" PRIx64 ", %#" PRIx64
				  ") refcnt %#x, the test's map has %p",
				  (void *)v, v->start, v->end, ref,
				  (void *)sp->slot_vma[slot]);
		read_fields(v, &s);
		read_tag(&s);
		check_writing(w, sp, e.start, &s);
		check_consistent(w, sp, e.start, &s);
	}
	rcu_read_exit();
	mmap_write_unlock(sp->mm);
	if (n != sp->mapped)
		violation(w, V_FINAL, sp, 0, "%u areas in the tree, %u mapped",
			  n, sp->mapped);
}

/*
 * The library's counters of sp against the calls made: each uvma_vma_lock
 * that succeeded counts one success; each uvma_vma_get and uvma_fault
 * exactly one success or one fallback; each retry asked one retry.
 */
static void check_fault_stats(struct worker *w, struct space *sp)
{
	struct uvma_fault_stats st;
	uint64_t calls = 0, retries = 0;

	uvma_mm_fault_stats(sp->mm, &st);
	for (unsigned i = 0; i < nworkers; i++) {
		struct counts *c = &workers[i].c[sp->id];

		calls += c->lock_ok + c->get_calls + c->fault_calls;
		retries += c->fault_retry;
	}
	printf("%s fault stats: success %" PRIu64 " abort %" PRIu64
	       " retry %" PRIu64 " miss %" PRIu64 " fallback %" PRIu64 "\n",
	       sp->name, st.success, st.abort, st.retry, st.miss, st.fallback);
	if (st.success + st.fallback != calls || st.retry != retries)
		violation(w, V_FINAL, sp, 0,
			  "fault stats: success + fallback %" PRIu64
			  " for %" PRIu64 " calls, retry %" PRIu64
			  " for %" PRIu64,
			  st.success + st.fallback, calls, st.retry, retries);
}

/*
 * Run the threads for duration_ns (and at least their minimum of
 * operations), then stop them and wait until they are done. Fails the run
 * when some thread makes no progress for STALL_SECONDS, before or after
 * the stop: a broken count can leave a writer waiting forever, or a reader
 * looking up a stale area again and again.
 */
static void watch(uint64_t duration_ns)
{
	struct watch_thread th[MAX_WORKERS];

	for (unsigned i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];

		th[i] = (struct watch_thread){
			.progress = &w->progress,
			.done = &w->done,
			.min_steps =
				w->role == ROLE_LOCK_READER ||
						w->role == ROLE_FAULT_READER
					? MIN_READS
					: MIN_CYCLES,
			.name = role_names[w->role],
			.id = w->id,
		};
	}
	watch_threads(th, nworkers, duration_ns, &stop, STALL_SECONDS);
}

static bool arg_flag(int argc, char **argv, const char *name)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return false;
}

static struct worker *add_worker(enum role role, unsigned id, uint64_t seed)
{
	struct worker *w;

	CHECK(nworkers < MAX_WORKERS);
	w = &workers[nworkers];
	w->role = role;
	w->id = id;
	w->seed = rng_derive(seed, nworkers + 1);
	nworkers++;
	return w;
}

int main(int argc, char **argv)
{
	uint64_t seed = test_seed(argc, argv);
	uint64_t duration_ms =
		arg_u64(argc, argv, "--duration-ms", test_scaled(5000, 3000));
	unsigned nreaders = (unsigned)arg_u64(argc, argv, "--readers", 3);
	bool jitter_on = !arg_flag(argc, argv, "--no-jitter");
	struct worker setup = { .role = ROLE_MAIN };
	struct counts r[NSPACES] = { 0 };
	uint64_t viol[V_COUNT] = { 0 };
	struct vma_pool_stats ps = { 0 };
	uint64_t t0, elapsed, bad = 0;
	uint64_t transient_locked = 0, transient_other = 0;
	unsigned counted = 0;

	CHECK(nreaders >= 1 && nreaders + 3 <= MAX_WORKERS);
	space_init(&spaces[MM1], MM1, "mm1");
	space_init(&spaces[MM2], MM2, "mm2");
	self = &setup;
	populate(&setup, &spaces[MM1], 3, 4);
	populate(&setup, &spaces[MM2], 1, 2);

	for (unsigned i = 0; i < nreaders; i++)
		add_worker(i % 2 ? ROLE_FAULT_READER : ROLE_LOCK_READER, i,
			   seed);
	add_worker(ROLE_WRITER, 0, seed);
	add_worker(ROLE_DETACHER, 0, seed);
	add_worker(ROLE_MM2, 0, seed);
#ifdef UVMA_TEST_HOOKS
	if (jitter_on)
		hook_set(jitter);
#else
	jitter_on = false;
#endif
	printf("vma_stress: %u readers, writer, detacher, mm2 thread; %u "
	       "slots of %u pages; %" PRIu64 " ms%s\n",
	       nreaders, NSLOTS, SLOT_PAGES, duration_ms,
	       jitter_on ? ", jitter in the lock path" : "");
	fflush(stdout);

	t0 = now_ns();
	for (unsigned i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];
		bool reader = w->role == ROLE_LOCK_READER ||
			      w->role == ROLE_FAULT_READER;

		CHECK(pthread_create(&w->thread, NULL,
				     reader ? run_reader : run_changer,
				     w) == 0);
	}
	watch(duration_ms * 1000000ull);
	for (unsigned i = 0; i < nworkers; i++)
		CHECK(pthread_join(workers[i].thread, NULL) == 0);
	elapsed = now_ns() - t0;
#ifdef UVMA_TEST_HOOKS
	hook_set(NULL);
#endif

	for (unsigned i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];

		for (int s = 0; s < NSPACES; s++) {
			r[s].lock_ok += w->c[s].lock_ok;
			r[s].lock_null += w->c[s].lock_null;
			r[s].fallback_found += w->c[s].fallback_found;
			r[s].get_calls += w->c[s].get_calls;
			r[s].fault_calls += w->c[s].fault_calls;
			r[s].fault_fast += w->c[s].fault_fast;
			r[s].fault_locked += w->c[s].fault_locked;
			r[s].fault_retry += w->c[s].fault_retry;
			r[s].checks += w->c[s].checks;
			r[s].writer_waits += w->c[s].writer_waits;
		}
		for (int v = 0; v < V_COUNT; v++)
			viol[v] += w->viol[v];
	}
	for (int s = 0; s < NSPACES; s++)
		printf("%s readers: %" PRIu64 " locks, %" PRIu64
		       " fallbacks (%" PRIu64 " found an area), %" PRIu64
		       " gets, %" PRIu64 " faults (%" PRIu64 " handled "
		       "under the area lock, %" PRIu64
		       " under mmap_lock, %" PRIu64 " retries), %" PRIu64
		       " areas checked, %" PRIu64
		       " held with a writer waiting\n",
		       spaces[s].name, r[s].lock_ok, r[s].lock_null,
		       r[s].fallback_found, r[s].get_calls, r[s].fault_calls,
		       r[s].fault_fast, r[s].fault_locked, r[s].fault_retry,
		       r[s].checks, r[s].writer_waits);
	for (unsigned i = nreaders; i < nworkers; i++) {
		struct worker *w = &workers[i];

		printf("%s: %" PRIu64 " cycles (%" PRIu64 " multi, %" PRIu64
		       " downgraded), %" PRIu64 " modified, %" PRIu64
		       " replaced, %" PRIu64 " mapped, %" PRIu64
		       " removed, %" PRIu64
		       " objects taken from the other space\n",
		       role_names[w->role], w->cycles, w->multi, w->downgrades,
		       w->modified, w->replaced, w->mapped, w->removed,
		       w->cross_reuse);
	}

	check_final_space(&setup, &spaces[MM1]);
	check_final_space(&setup, &spaces[MM2]);
	check_fault_stats(&setup, &spaces[MM1]);
	check_fault_stats(&setup, &spaces[MM2]);
	if (!setup.viol[V_FINAL]) {
		uvma_mm_destroy(spaces[MM1].mm);
		uvma_mm_destroy(spaces[MM2].mm);
		vma_pool_stats(&ps);
		counted = counted_in_pool();
		if (ps.free != ps.objects || counted)
			violation(&setup, V_FINAL, &spaces[MM1], 0,
				  "pool: %" PRIu64 " of %" PRIu64
				  " objects free, %u still counted",
				  ps.free, ps.objects, counted);
	} else {
		printf("areas not quiet at the end: spaces not destroyed\n");
	}
	for (unsigned i = 0; i < nworkers; i++) {
		transient_locked += workers[i].transient_locked;
		transient_other += workers[i].transient_other;
	}
	if (jitter_on)
		printf("transient reader counts: %" PRIu64
		       " on an area write-locked in its space, %" PRIu64
		       " on another space's object\n",
		       transient_locked, transient_other);
	for (int v = 0; v < V_COUNT; v++)
		viol[v] += setup.viol[v];

	{
		struct worker *wr = &workers[nreaders];
		struct worker *de = &workers[nreaders + 1];
		struct worker *m2 = &workers[nreaders + 2];

		printf("vma_stress: seed %" PRIu64 ", %.1f s: %" PRIu64
		       " reader locks, %" PRIu64 " fallbacks, %" PRIu64
		       " fault calls, %" PRIu64 " writer cycles, %" PRIu64
		       " replacements, %" PRIu64 " detaches, %" PRIu64
		       " mm2 reuses; pool %" PRIu64 "/%" PRIu64
		       " free; violations:",
		       seed, (double)elapsed / 1e9,
		       r[MM1].lock_ok + r[MM2].lock_ok,
		       r[MM1].lock_null + r[MM2].lock_null,
		       r[MM1].fault_calls + r[MM2].fault_calls, wr->cycles,
		       wr->replaced, de->removed + wr->removed, m2->cross_reuse,
		       ps.free, ps.objects);
		for (int v = 0; v < V_COUNT; v++) {
			printf(" %s %" PRIu64, violation_names[v], viol[v]);
			bad += viol[v];
		}
		printf("\n");
		fflush(stdout);
		CHECK_EQ_U64(bad, 0);
		/* The run did what it is for. */
		CHECK(r[MM1].lock_ok > 0 && r[MM1].lock_null > 0);
		CHECK(r[MM1].fault_fast > 0 && r[MM1].fault_locked > 0);
		CHECK(wr->replaced > 0 && de->removed > 0);
	}
	printf("vma_stress: passed\n");
	return 0;
}
