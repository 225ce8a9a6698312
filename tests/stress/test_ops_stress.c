/*
 * test_ops_stress.c - faults racing mmap, munmap, mprotect and mremap.
 *
 * One address space whose whole window is a small range of NPAGES pages, so
 * that every map change lands where faults are running, and every placement
 * the library chooses (mmap with a hint, mremap that moves) stays where the
 * test can see it.
 *
 * Threads:
 * - fault threads (--faulters, default 2) call uvma_fault, and one time in
 *   eight uvma_vma_get, on random addresses of the window with random
 *   accesses (reads and instruction fetches; writes too with --touch);
 * - mappers (--mappers, default 2) run random uvma_mmap (MAP_FIXED,
 *   MAP_FIXED_NOREPLACE, a hint or none), uvma_munmap, uvma_mprotect,
 *   uvma_mremap (in place, MAYMOVE, MAYMOVE|FIXED, and with DONTUNMAP
 *   where the source left behind merges as page states show), uvma_madvise
 *   (DONTDUMP, DODUMP) and uvma_mlock (on fault) / uvma_munlock over the
 *   window, the last two changing hidden flags (state bits S_DUMP, S_LOCK);
 * - a maps reader calls uvma_maps over the window or a part of it.
 *
 * The model. Every page has one atomic 64-bit word: its state in the low
 * byte (mapped, prot, which of the two user pointers its area has) and a
 * generation above it, used as a sequence count per page. A mapper first
 * claims every page its operation may change, in ascending order, by moving
 * each page's generation from even to odd (a compare-and-swap: an odd page
 * belongs to the other mapper, whose claim is waited out). Which pages
 * those are follows from the arguments alone: the range of an mmap, munmap
 * or mprotect; the old range and the new one of an mremap; every page for
 * an mmap with a hint and an mremap that may move (they may land anywhere
 * that is free). With the pages claimed, their states are exactly the map
 * there, so the mapper predicts the call's result, its address and the
 * pages' states after it with the page-level model of Linux the tests
 * share (tests/lib/linux_model.h), loaded with the pages it owns; every
 * other page stands there as another mapper's area, which is never free
 * and never merges, and which the prediction may not change (that would
 * mean a claim too small). The areas here are anonymous private ones that
 * were never touched, whose page offset is always their address, so a
 * page's state byte says all the model needs. Then the mapper makes the
 * call, compares, checks the map (uvma_maps)
 * against the prediction on the pages it owns and against the words of
 * the pages it does not own that stayed stable, and publishes each owned
 * page's new state with the next even generation (one release store per
 * page). Two mappers run at once when their claims are disjoint.
 *
 * A reader judges a page only when it read the same even word before and
 * after what it judges: then no operation on that page was in flight at
 * any moment in between (its claim would have made the word odd), so the
 * map's state of the page was the word's state all along. Why that holds:
 * the mapper's odd store comes before its call in program order, and the
 * library publishes the call's effect with release stores (the tree root,
 * mmap_lock's release) that a reader that saw the effect has acquired; so a
 * reader that saw any effect of the call also sees at least the odd word at
 * its second load. Conversely, the even word is stored after the call, with
 * release: a reader that loaded it (acquire) sees the whole effect.
 *
 * What the readers check (violation kinds, all must stay 0):
 *   fault    a judged uvma_fault / uvma_vma_get returned the wrong result:
 *            the key invariant is that a fault on a page unmapped before it
 *            started and still unmapped after it returned fails with
 *            -EFAULT; a mapped page gives 0 when its prot allows the access,
 *            -EACCES when it does not
 *   result   a fault or get returned a code it never may here
 *   changed  the area's description changed while the handler held it
 *            (read twice, around some work and sometimes a yield)
 *   access   the handler ran for an address outside the area, or for an
 *            access the area's prot forbids
 *   area     an area held or listed has bad fields (outside the window,
 *            unaligned, flags, page offset, user pointer), or a read-locked
 *            area's count is out of range
 *   held     a held area disagrees with the stable pages it covers, or a
 *            stable page next to it has its very attributes (a merge Linux
 *            would have made)
 *   maps     uvma_maps gave areas out of order, overlapping, outside the
 *            asked range, or two adjacent areas that should be one (a torn
 *            picture of the map shows as one of these or as mapsmodel)
 *   mapsmodel  uvma_maps disagrees with a stable page
 *   op       a map change returned other than the model predicts
 *   effect   after a map change, the pages its mapper owns differ from the
 *            prediction, or a stable page outside them changed
 *   final    found by the end checks: every page published, the map equal
 *            to the model, every area's count 1, the fault counters equal
 *            to the calls made
 *
 * With test hooks compiled in (Debug), a hook adds random delays and yields
 * in the lock path, between the lookup and the lock, to widen the windows
 * where stale and transient readers live (--no-jitter turns it off).
 *
 * Options: --seed N, --duration-ms N (default 5000 scaled by
 * UVMA_TEST_SCALE, at least 4000: sanitizer builds run 4 s), --faulters N,
 * --mappers N, --no-jitter, --touch (faults write too, giving areas their
 * tags of touched memory while map changes run; then no mremap, and the
 * merge checks follow the tags: see random_access). With --mappers 1 the
 * mapper's choices depend on the seed alone (its claims never wait), so an "op"
 * or "effect" failure replays exactly.
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
#include "linux_model.h"
#include "wait.h"
#include "futex.h"
#include "hook.h"
#include "rcu.h"
#include "tree.h"
#include "vma_util.h"

#define G	   4096ULL
#define NPAGES	   256
#define BASE	   (1ULL << 32)
#define WIN_END	   (BASE + NPAGES * G)
#define AREA_FLAGS (UVMA_MAP_PRIVATE | UVMA_MAP_ANONYMOUS)
/* Mapped uncharged, so that no area's accounting flag depends on its
 * history (mprotect and first writes): every area has VM_NORESERVE. */
#define MAP_FLAGS	      (AREA_FLAGS | UVMA_MAP_NORESERVE)
#define MAX_WORKERS	      16
#define MIN_STEPS	      200 /* per thread, whatever the time */
#define STALL_SECONDS	      20
#define VIOLATION_PRINT_LIMIT 8 /* per thread, on stderr */

/* A page's word: state in the low byte, generation above it. */
#define S_PROT	 0x07u
#define S_MAPPED 0x08u
#define S_USER	 0x10u /* the area's user pointer is &users[1] */
#define S_DUMP	 0x20u /* UVMA_VM_DONTDUMP (MADV_DONTDUMP) */
#define S_LOCK	 0x40u /* UVMA_VM_LOCKED | LOCKONFAULT (mlock on fault) */
#define S_VM	 (S_DUMP | S_LOCK)
#define S_MASK	 0xffull
#define GEN_ONE	 0x100ull /* odd generation: claimed by a mapper */

static _Atomic uint64_t page_words[NPAGES];
/* The two user pointers areas get (areas with different ones never
 * merge), and the one of the pages a mapper's model does not own. */
static int users[2], foreign;

static struct uvma_mm *mm;

enum violation {
	V_FAULT,
	V_RESULT,
	V_CHANGED,
	V_ACCESS,
	V_AREA,
	V_HELD,
	V_MAPS,
	V_MAPS_MODEL,
	V_OP,
	V_EFFECT,
	V_FINAL,
	V_COUNT
};

static const char *const violation_names[V_COUNT] = {
	"fault", "result",    "changed", "access", "area",  "held",
	"maps",	 "mapsmodel", "op",	 "effect", "final",
};

enum op_kind {
	OP_MMAP_FIXED,
	OP_MMAP_NOREPLACE,
	OP_MMAP_HINT,
	OP_MUNMAP,
	OP_MPROTECT,
	OP_MREMAP,
	OP_MADVISE,
	OP_MLOCK,
	NKINDS
};

static const char *const kind_names[NKINDS] = {
	"mmap-fixed", "mmap-noreplace", "mmap-hint", "munmap",
	"mprotect",   "mremap",		"madvise",   "mlock",
};

enum role { ROLE_FAULTER, ROLE_MAPPER, ROLE_MAPS, ROLE_MAIN };

static const char *const role_names[] = { "faulter", "mapper", "maps", "main" };

/* A mapper's pages for one operation. */
struct claim {
	bool own[NPAGES];
	uint64_t word[NPAGES]; /* the odd word we stored */
	struct lm m;	       /* the owned pages: as claimed, then predicted */
	uint8_t after[NPAGES]; /* predicted state after the call */
	uint64_t seen[NPAGES]; /* words of the others, just before the call */
	unsigned lo, hi;       /* owned pages lie in [lo, hi) */
};

/* What a call should return. */
struct expect {
	int ret;
	uint64_t out; /* the address, when ret is 0 and the call gives one */
	bool has_out;
};

struct worker {
	pthread_t thread;
	enum role role;
	unsigned id;
	uint64_t seed;
	/* Steps done, for the watchdog: relaxed, only ever a number. */
	_Atomic uint64_t progress;
	atomic_bool done;
	/* fault threads */
	uint64_t faults, gets, fault_fast, fault_locked, retries, held;
	uint64_t judged_unmapped, judged_allowed, judged_denied, unjudged;
	uint64_t writes;     /* write faults that succeeded */
	uint64_t side_locks; /* areas side_tags read-locked */
	/* mappers */
	uint64_t calls[NKINDS], ok[NKINDS], moved, grown, kept, claim_waits;
	char last[200]; /* the operation under way, for failure reports */
	struct claim claim;
	/* maps reader */
	uint64_t snapshots, areas_seen, pages_judged, touched_seen;
	uint64_t viol[V_COUNT];
};

static struct worker workers[MAX_WORKERS];
static unsigned nworkers;
static atomic_bool stop;
static _Thread_local struct worker *self;

/* ---- small helpers ------------------------------------------------------- */

static uint64_t addr_of(unsigned page)
{
	return BASE + page * G;
}

static unsigned page_of(uint64_t addr)
{
	return (unsigned)((addr - BASE) / G);
}

static uint64_t load_word(unsigned page)
{
	return atomic_load_explicit(&page_words[page], memory_order_acquire);
}

/* Same even word twice: nothing touched the page in between. */
static bool stable(uint64_t a, uint64_t b)
{
	return a == b && !(a & GEN_ONE);
}

static unsigned random_prot(void)
{
	static const unsigned prots[] = {
		UVMA_PROT_NONE,
		UVMA_PROT_READ,
		UVMA_PROT_READ,
		UVMA_PROT_READ | UVMA_PROT_WRITE,
		UVMA_PROT_READ | UVMA_PROT_WRITE,
		UVMA_PROT_READ | UVMA_PROT_EXEC,
		UVMA_PROT_READ | UVMA_PROT_WRITE | UVMA_PROT_EXEC,
		UVMA_PROT_WRITE,
		UVMA_PROT_EXEC,
	};

	return prots[rng_below(sizeof(prots) / sizeof(prots[0]))];
}

/*
 * Writes only with --touch: a first write gives a private area its tag of
 * touched memory (anon_vma), which the page words cannot hold. The tag
 * keeps areas apart that the words say are one, and keeps a moved area's
 * offset; so with --touch nothing moves or grows (no mremap: whether its
 * old range lies in one area depends on tags too), offsets stay the
 * address, and a merge is asked only of areas whose tags allow it
 * (tags_compatible).
 */
static bool touch_mode;

static unsigned random_access(void)
{
	static const unsigned acc[] = {
		UVMA_ACCESS_READ,
		UVMA_ACCESS_EXEC,
		UVMA_ACCESS_READ | UVMA_ACCESS_EXEC,
		UVMA_ACCESS_READ,
		UVMA_ACCESS_WRITE,
		UVMA_ACCESS_READ | UVMA_ACCESS_WRITE,
	};

	return acc[rng_below(touch_mode ? 6 : 4)];
}

/* Two adjacent areas whose other fields agree are one unless their tags
 * keep them apart: both set and different (no fork here, so no tag is
 * inherited). A tag goes from 0 to set and never back, and merges run
 * only under mmap_lock, so tags seen compatible at any moment were so at
 * the last change of either area. */
static bool tags_compatible(uint32_t a, uint32_t b)
{
	return !a || !b || a == b;
}

/*
 * Linux's rule, as uvma.h states it: a write needs PROT_WRITE, an
 * instruction fetch PROT_EXEC, a read any protection but none.
 */
static bool access_ok(unsigned prot, unsigned access)
{
	if ((access & UVMA_ACCESS_WRITE) && !(prot & UVMA_PROT_WRITE))
		return false;
	if ((access & UVMA_ACCESS_EXEC) && !(prot & UVMA_PROT_EXEC))
		return false;
	return prot != UVMA_PROT_NONE;
}

static uint8_t mapped_state(unsigned prot, unsigned user)
{
	return (uint8_t)(S_MAPPED | prot | (user ? S_USER : 0));
}

/* The state bits of hidden flags (only those this test sets), or 0xff
 * for any other. */
static unsigned vm_state(uint32_t vm)
{
	const uint32_t lock = UVMA_VM_LOCKED | UVMA_VM_LOCKONFAULT;
	unsigned st = 0;

	if (!(vm & UVMA_VM_NORESERVE))
		return 0xff; /* every area is mapped so (MAP_FLAGS) */
	vm &= ~(uint32_t)UVMA_VM_NORESERVE;
	if (vm & UVMA_VM_DONTDUMP)
		st |= S_DUMP;
	if ((vm & lock) == lock)
		st |= S_LOCK;
	else if (vm & lock)
		return 0xff;
	return vm & ~(lock | UVMA_VM_DONTDUMP) ? 0xff : st;
}

static uint32_t vm_of_state(uint8_t s)
{
	return UVMA_VM_NORESERVE | (s & S_DUMP ? UVMA_VM_DONTDUMP : 0) |
	       (s & S_LOCK ? UVMA_VM_LOCKED | UVMA_VM_LOCKONFAULT : 0);
}

/* The user index of an area's pointer, or -1 when it is not ours. */
static int user_index(const void *user)
{
	if (user == &users[0])
		return 0;
	if (user == &users[1])
		return 1;
	return -1;
}

static void violation(struct worker *w, enum violation v, uint64_t addr,
		      const char *fmt, ...)
{
	uint64_t n = 0;
	va_list ap;

	w->viol[v]++;
	for (int i = 0; i < V_COUNT; i++)
		n += w->viol[i];
	if (n > VIOLATION_PRINT_LIMIT)
		return;
	fprintf(stderr, "violation %s: %s %u at %#" PRIx64 ": ",
		violation_names[v], role_names[w->role], w->id, addr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (seed %" PRIu64 ")\n", *test_seed_slot());
}

/* ---- areas as uvma_maps lists them --------------------------------------- */

struct area_list {
	struct uvma_area_info a[NPAGES + 1];
	unsigned n;
	bool overflow;
};

static int collect(const struct uvma_area_info *info, void *arg)
{
	struct area_list *l = arg;

	if (l->n == NPAGES + 1) {
		l->overflow = true;
		return 1;
	}
	l->a[l->n++] = *info;
	return 0;
}

/*
 * The fields of one area, whoever got it: inside the window, aligned, an
 * anonymous private area whose page offset is its address (it was never
 * touched), one of our user pointers, known prot bits. Returns its state,
 * or 0 when it is bad (after counting kind).
 */
static uint8_t area_state(struct worker *w, enum violation kind,
			  const struct uvma_area_info *a)
{
	int u = user_index(a->user);
	unsigned vm = vm_state(a->vm_flags);

	if (a->start < BASE || a->end > WIN_END || a->start >= a->end ||
	    a->start % G || a->end % G || a->flags != AREA_FLAGS ||
	    a->pgoff != a->start / G || a->file_id != 0 || u < 0 ||
	    (a->prot & ~S_PROT) || vm == 0xff) {
		violation(w, kind, a->start,
			  "area [%#" PRIx64 ", %#" PRIx64
			  ") prot %#x flags %#x vm %#x pgoff %#" PRIx64
			  " file %" PRIu64 " user %p",
			  a->start, a->end, a->prot, a->flags, a->vm_flags,
			  a->pgoff, a->file_id, a->user);
		return 0;
	}
	return (uint8_t)(mapped_state(a->prot, (unsigned)u) | vm);
}

/*
 * Check a list uvma_maps gave for [lo, hi): every area overlaps the range,
 * has good fields, comes after the previous one, and is not one Linux
 * would have merged with it. Fills st[] with the state of each page the
 * list covers (0: unmapped).
 */
static void check_list(struct worker *w, enum violation kind,
		       const struct area_list *l, uint64_t lo, uint64_t hi,
		       uint8_t *st)
{
	uint64_t prev_end = 0;
	uint8_t prev_state = 0;
	uint32_t prev_anon = 0;

	memset(st, 0, NPAGES);
	if (l->overflow)
		violation(w, kind, lo, "more than %u areas listed", NPAGES);
	for (unsigned i = 0; i < l->n; i++) {
		const struct uvma_area_info *a = &l->a[i];
		uint8_t s = area_state(w, kind, a);

		if (!s)
			continue;
		if (a->end <= lo || a->start >= hi)
			violation(w, kind, a->start,
				  "area [%#" PRIx64 ", %#" PRIx64
				  ") outside the asked [%#" PRIx64 ", %#" PRIx64
				  ")",
				  a->start, a->end, lo, hi);
		if (a->start < prev_end)
			violation(w, kind, a->start,
				  "area [%#" PRIx64 ", %#" PRIx64
				  ") after one ending at %#" PRIx64,
				  a->start, a->end, prev_end);
		else if (a->start == prev_end && s == prev_state &&
			 tags_compatible(prev_anon, a->anon))
			violation(w, kind, a->start,
				  "area [%#" PRIx64 ", %#" PRIx64
				  ") not merged with the one before (state "
				  "%#x)",
				  a->start, a->end, s);
		for (uint64_t p = a->start; p < a->end; p += G)
			st[page_of(p)] = s;
		prev_end = a->end;
		prev_state = s;
		prev_anon = a->anon;
	}
}

/* ---- the fault side --------------------------------------------------------
 */

static void side_tags(uint64_t start, uint64_t end, uint32_t *anon, bool *seen);

/*
 * Check the area the caller holds (read lock, or mmap_lock for reading):
 * its description does not change while held, addr is in it, the access is
 * allowed (access 0: none to check), its fields are good, and it agrees
 * with every stable page it covers and with the stable pages around it.
 */
static void check_held(struct worker *w, struct uvma_vma *v, uint64_t addr,
		       unsigned access, bool read_locked)
{
	uint64_t before[NPAGES], after[NPAGES];
	struct uvma_area_info a, b;
	uint32_t side_anon[2] = { 0, 0 };
	bool side_seen[2] = { false, false };
	unsigned lo, hi;
	uint8_t s;

	w->held++;
	uvma_vma_info(v, &a);
	s = area_state(w, V_AREA, &a);
	if (!s)
		return;
	/* The pages of the area and one on each side. */
	lo = page_of(a.start) - (a.start > BASE);
	hi = page_of(a.end) + (a.end < WIN_END);
	for (unsigned p = lo; p < hi; p++)
		before[p] = load_word(p);
	if (read_locked) {
		uint32_t ref = test_refcnt(v);

		/* A writer waiting for us may have added OFFSET. */
		if (ref >= VMA_LOCK_OFFSET)
			ref -= VMA_LOCK_OFFSET;
		if (ref < 2 || ref > VMA_REF_LIMIT)
			violation(w, V_AREA, addr,
				  "refcnt %#x while read-locked",
				  test_refcnt(v));
	}
	busy_work((unsigned)rng_below(64));
	if (rng_chance(1, 64))
		sched_yield(); /* a writer may come and wait for us */
	if (touch_mode)
		side_tags(a.start, a.end, side_anon, side_seen);
	uvma_vma_info(v, &b);
	for (unsigned p = lo; p < hi; p++)
		after[p] = load_word(p);

	if (a.start != b.start || a.end != b.end || a.prot != b.prot ||
	    a.flags != b.flags || a.vm_flags != b.vm_flags ||
	    a.pgoff != b.pgoff || a.user != b.user)
		violation(w, V_CHANGED, addr,
			  "[%#" PRIx64 ", %#" PRIx64
			  ") prot %#x became [%#" PRIx64 ", %#" PRIx64
			  ") prot %#x while held",
			  a.start, a.end, a.prot, b.start, b.end, b.prot);
	if (addr < a.start || addr >= a.end)
		violation(w, V_ACCESS, addr,
			  "handler for an address outside [%#" PRIx64
			  ", %#" PRIx64 ")",
			  a.start, a.end);
	if (access && !access_ok(a.prot, access))
		violation(w, V_ACCESS, addr, "handler for access %#x, prot %#x",
			  access, a.prot);
	for (unsigned p = lo; p < hi; p++) {
		uint8_t ps = (uint8_t)(before[p] & S_MASK);
		bool inside = addr_of(p) >= a.start && addr_of(p) < a.end;

		if (!stable(before[p], after[p]))
			continue;
		if (inside && ps != s)
			violation(w, V_HELD, addr_of(p),
				  "page of held area [%#" PRIx64 ", %#" PRIx64
				  ") state %#x, the model has %#x",
				  a.start, a.end, s, ps);
		else if (!inside && ps == s &&
			 (!touch_mode ||
			  (side_seen[addr_of(p) >= a.end] &&
			   tags_compatible(b.anon,
					   side_anon[addr_of(p) >= a.end]))))
			violation(w, V_HELD, addr_of(p),
				  "page next to held area [%#" PRIx64
				  ", %#" PRIx64
				  ") has its state %#x: not merged",
				  a.start, a.end, s);
	}
}

/*
 * The tags of the areas just below start and at end, when they can be
 * read-locked at once (never waiting: the caller holds an area, and maybe
 * mmap_lock). Read between the two loads of the page words around them,
 * so a stable word says no map change ran meanwhile.
 */
static void side_tags(uint64_t start, uint64_t end, uint32_t *anon, bool *seen)
{
	uint64_t at[2] = { start - G, end };
	struct uvma_area_info info;

	for (int i = 0; i < 2; i++) {
		struct uvma_vma *n;

		if (at[i] < BASE || at[i] >= WIN_END)
			continue;
		n = uvma_vma_lock(mm, at[i]);
		if (!n)
			continue;
		self->side_locks++;
		uvma_vma_info(n, &info);
		uvma_vma_unlock(n);
		anon[i] = info.anon;
		seen[i] = true;
	}
}

/* Runs with the area's read lock, or mmap_lock for reading (fallback). */
static int fault_handler(const struct uvma_fault *f)
{
	struct worker *w = self;
	bool locked = f->flags & UVMA_FAULT_MMAP_LOCKED;

	if (f->mm != mm || f->user != f->vma->user)
		violation(w, V_AREA, f->addr, "fault for mm %p user %p",
			  (void *)f->mm, f->user);
	check_held(w, f->vma, f->addr, f->access, !locked);
	if (locked) {
		w->fault_locked++;
		return 0;
	}
	w->fault_fast++;
	if (rng_chance(1, 16)) {
		w->retries++;
		return UVMA_FAULT_RETRY;
	}
	return 0;
}

/* The result a fault on a page in state s must give. */
static int fault_expected(uint8_t s, unsigned access)
{
	if (!(s & S_MAPPED))
		return -EFAULT;
	return access_ok(s & S_PROT, access) ? 0 : -EACCES;
}

static void fault_step(struct worker *w)
{
	unsigned p = (unsigned)rng_below(NPAGES);
	uint64_t addr = addr_of(p) + rng_below(G);
	unsigned access = random_access();
	bool get = rng_chance(1, 8);
	uint64_t w1, w2;
	int ret, want;

	w1 = load_word(p);
	if (get) {
		struct uvma_vma *v;

		w->gets++;
		ret = uvma_vma_get(mm, addr, &v);
		if (!ret) {
			/* Held without a handler: the same checks, but
			 * no access to check. */
			check_held(w, v, addr, 0, true);
			uvma_vma_unlock(v);
		}
	} else {
		w->faults++;
		ret = uvma_fault(mm, addr, access);
		w->writes += !ret && (access & UVMA_ACCESS_WRITE);
	}
	w2 = load_word(p);
	if (ret != 0 && ret != -EFAULT && (get || ret != -EACCES)) {
		violation(w, V_RESULT, addr, "%s: %d",
			  get ? "uvma_vma_get" : "uvma_fault", ret);
		return;
	}
	if (!stable(w1, w2)) {
		w->unjudged++;
		return;
	}
	want = fault_expected((uint8_t)(w1 & S_MASK), access);
	if (get)
		want = want == -EFAULT ? -EFAULT : 0;
	if (want == -EFAULT)
		w->judged_unmapped++;
	else if (want == 0)
		w->judged_allowed++;
	else
		w->judged_denied++;
	if (ret != want)
		violation(w, V_FAULT, addr,
			  "%s access %#x on page %u (state %#x, word %#" PRIx64
			  " before and after): %d, expected %d",
			  get ? "uvma_vma_get" : "uvma_fault", access, p,
			  (unsigned)(w1 & S_MASK), w1, ret, want);
}

/* ---- the maps reader
 * --------------------------------------------------------- */

static void maps_step(struct worker *w)
{
	static _Thread_local struct area_list l;
	uint64_t before[NPAGES], after[NPAGES];
	uint8_t st[NPAGES];
	unsigned lo = 0, hi = NPAGES;
	int ret;

	if (rng_chance(1, 4)) {
		lo = (unsigned)rng_below(NPAGES);
		hi = lo + 1 + (unsigned)rng_below(NPAGES - lo);
	}
	for (unsigned p = lo; p < hi; p++)
		before[p] = load_word(p);
	l.n = 0;
	l.overflow = false;
	ret = uvma_maps(mm, addr_of(lo), addr_of(hi), collect, &l);
	for (unsigned p = lo; p < hi; p++)
		after[p] = load_word(p);
	w->snapshots++;
	if (ret && !(ret == 1 && l.overflow)) {
		violation(w, V_MAPS, addr_of(lo), "uvma_maps: %d", ret);
		return;
	}
	w->areas_seen += l.n;
	for (unsigned i = 0; i < l.n; i++)
		w->touched_seen += l.a[i].anon != 0;
	check_list(w, V_MAPS, &l, addr_of(lo), addr_of(hi), st);
	for (unsigned p = lo; p < hi; p++) {
		uint8_t ms = (uint8_t)(before[p] & S_MASK);

		if (!stable(before[p], after[p]))
			continue;
		w->pages_judged++;
		if (st[p] != ms)
			violation(w, V_MAPS_MODEL, addr_of(p),
				  "uvma_maps gives state %#x, the model %#x",
				  st[p], ms);
	}
}

/* ---- the mappers
 * ------------------------------------------------------------- */

/* The model's page for state s at page p: anonymous private, never
 * touched, so its offset is its address. */
static struct lm_page model_page(unsigned p, uint8_t s)
{
	struct lm_page g = { 0 };

	if (s & S_MAPPED) {
		g.mapped = true;
		g.prot = s & S_PROT;
		g.flags = AREA_FLAGS;
		g.pgoff = addr_of(p) / G;
		g.user = &users[s & S_USER ? 1 : 0];
		g.vm = vm_of_state(s);
	}
	return g;
}

/* A page this mapper does not own: some area of another's, never free,
 * never continuing one of ours. */
static struct lm_page foreign_page(unsigned p)
{
	struct lm_page g = model_page(p, S_MAPPED);

	g.user = &foreign;
	return g;
}

static void claim_reset(struct claim *c)
{
	memset(c->own, 0, sizeof(c->own));
	c->lo = NPAGES;
	c->hi = 0;
	for (unsigned p = 0; p < NPAGES; p++)
		c->m.pg[p] = foreign_page(p);
}

static void claim_range(struct claim *c, unsigned p, unsigned n)
{
	for (unsigned i = p; i < p + n && i < NPAGES; i++)
		c->own[i] = true;
	if (p < c->lo)
		c->lo = p;
	if (p + n > c->hi)
		c->hi = p + n > NPAGES ? NPAGES : p + n;
}

/*
 * Make every page of the claim odd, in ascending order (two mappers never
 * wait for each other in a cycle), and read their states into the model:
 * from now on only this mapper changes them.
 */
static void claim_take(struct worker *w, struct claim *c)
{
	for (unsigned p = c->lo; p < c->hi; p++) {
		unsigned spins = 0;
		uint64_t v;

		if (!c->own[p])
			continue;
		for (;;) {
			v = atomic_load_explicit(&page_words[p],
						 memory_order_relaxed);
			if (!(v & GEN_ONE) &&
			    atomic_compare_exchange_weak_explicit(
				    &page_words[p], &v, v + GEN_ONE,
				    memory_order_seq_cst, memory_order_relaxed))
				break;
			if (++spins == 1)
				w->claim_waits++;
			if (spins % 16 == 0)
				sched_yield();
			else
				cpu_relax();
		}
		c->word[p] = v + GEN_ONE;
		c->m.pg[p] = model_page(p, (uint8_t)(v & S_MASK));
		c->after[p] = (uint8_t)(v & S_MASK);
	}
}

/*
 * The model has run the operation: the states to publish for the owned
 * pages. A page the mapper does not own must be as it was (else the claim
 * missed a page the call may change), and an owned one must hold what a
 * state byte can say: an area of this test, its address as offset.
 */
static void claim_predicted(struct claim *c)
{
	for (unsigned p = 0; p < NPAGES; p++) {
		const struct lm_page *g = &c->m.pg[p];
		struct lm_page f = foreign_page(p);

		if (!c->own[p]) {
			CHECK(lm_page_eq(g, &f));
			continue;
		}
		c->after[p] = 0;
		if (!g->mapped)
			continue;
		CHECK(g->flags == AREA_FLAGS && g->pgoff == addr_of(p) / G &&
		      user_index(g->user) >= 0);
		CHECK(vm_state(g->vm) != 0xff);
		c->after[p] =
			(uint8_t)(mapped_state(g->prot,
					       (unsigned)user_index(g->user)) |
				  vm_state(g->vm));
	}
}

/* Publish the new states with the next (even) generation. */
static void claim_release(struct claim *c)
{
	for (unsigned p = c->lo; p < c->hi; p++) {
		if (!c->own[p])
			continue;
		atomic_store_explicit(&page_words[p],
				      ((c->word[p] + GEN_ONE) & ~S_MASK) |
					      c->after[p],
				      memory_order_release);
	}
}

/* Just before the call: the words of the pages it must not change. */
static void claim_see_others(struct claim *c)
{
	for (unsigned p = 0; p < NPAGES; p++)
		if (!c->own[p])
			c->seen[p] = load_word(p);
}

/*
 * After a call: its result against the prediction, then the pages this
 * mapper owns against the map (uvma_maps), and the pages it does not own
 * that stayed stable across the call and the listing (the call must not
 * have changed them). On a surprise the owned pages take the map's
 * states, so that one bug is reported once.
 */
static void check_call(struct worker *w, struct claim *c, enum op_kind kind,
		       int ret, uint64_t out, const struct expect *e)
{
	static _Thread_local struct area_list l;
	uint8_t st[NPAGES];
	bool bad = false;
	int err;

	w->calls[kind]++;
	if (!ret)
		w->ok[kind]++;
	if (ret != e->ret || (!ret && e->has_out && out != e->out)) {
		violation(w, V_OP, 0,
			  "%s: returned %d at %#" PRIx64
			  ", expected %d at %#" PRIx64,
			  w->last, ret, ret ? 0 : out, e->ret,
			  e->ret ? 0 : e->out);
		bad = true;
	}
	l.n = 0;
	l.overflow = false;
	err = uvma_maps(mm, BASE, WIN_END, collect, &l);
	if (err) {
		violation(w, V_EFFECT, 0, "uvma_maps: %d", err);
		return;
	}
	check_list(w, V_EFFECT, &l, BASE, WIN_END, st);
	for (unsigned p = c->lo; p < c->hi; p++) {
		if (!c->own[p] || st[p] == c->after[p])
			continue;
		if (!bad)
			violation(w, V_EFFECT, addr_of(p),
				  "%s: page %u has state %#x, expected %#x",
				  w->last, p, st[p], c->after[p]);
		bad = true;
		c->after[p] = st[p];
	}
	for (unsigned p = 0; p < NPAGES; p++) {
		uint64_t now;

		if (c->own[p])
			continue;
		now = load_word(p);
		if (stable(c->seen[p], now) && st[p] != (now & S_MASK)) {
			violation(w, V_EFFECT, addr_of(p),
				  "%s: page %u outside the call's range has "
				  "state %#x, expected %#x",
				  w->last, p, st[p], (unsigned)(now & S_MASK));
			break;
		}
	}
}

static unsigned random_len(void)
{
	return 1 + (unsigned)rng_below(rng_chance(3, 4) ? 4 : 16);
}

static void op_mmap(struct worker *w, struct claim *c, enum op_kind kind)
{
	unsigned len = random_len(), prot = random_prot();
	unsigned user = (unsigned)rng_below(2);
	unsigned p = (unsigned)rng_below(NPAGES - len + 1);
	unsigned flags = MAP_FLAGS;
	uint64_t hint = addr_of(p), out = 0;
	struct expect e = { .has_out = true };
	int ret;

	if (kind == OP_MMAP_FIXED)
		flags |= UVMA_MAP_FIXED;
	else if (kind == OP_MMAP_NOREPLACE)
		flags |= UVMA_MAP_FIXED_NOREPLACE;
	else if (rng_chance(1, 4))
		hint = 0; /* no hint at all */
	if (kind == OP_MMAP_HINT)
		claim_range(c, 0, NPAGES); /* it may land anywhere free */
	else
		claim_range(c, p, len);
	claim_take(w, c);
	e.ret = lm_mmap(&c->m, hint, len * G, prot, flags, 0, 0, &users[user],
			&e.out);
	claim_predicted(c);
	snprintf(w->last, sizeof(w->last),
		 "%s %#" PRIx64 " len %u pages prot %#x user %u",
		 kind_names[kind], hint, len, prot, user);
	claim_see_others(c);
	ret = uvma_mmap(mm, hint, len * G, prot, flags, 0, 0, &users[user],
			&out);
	check_call(w, c, kind, ret, out, &e);
}

static void op_munmap(struct worker *w, struct claim *c)
{
	unsigned len = random_len();
	unsigned p = (unsigned)rng_below(NPAGES - len + 1);
	struct expect e = { 0 };
	int ret;

	claim_range(c, p, len);
	claim_take(w, c);
	e.ret = lm_munmap(&c->m, addr_of(p), len * G);
	claim_predicted(c);
	snprintf(w->last, sizeof(w->last), "munmap %#" PRIx64 " len %u pages",
		 addr_of(p), len);
	claim_see_others(c);
	ret = uvma_munmap(mm, addr_of(p), len * G);
	check_call(w, c, OP_MUNMAP, ret, 0, &e);
}

static void op_mprotect(struct worker *w, struct claim *c)
{
	unsigned len = random_len(), prot = random_prot();
	unsigned p = (unsigned)rng_below(NPAGES - len + 1);
	struct expect e = { 0 };
	int ret;

	claim_range(c, p, len);
	claim_take(w, c);
	e.ret = lm_mprotect(&c->m, addr_of(p), len * G, prot);
	claim_predicted(c);
	snprintf(w->last, sizeof(w->last),
		 "mprotect %#" PRIx64 " len %u pages prot %#x", addr_of(p), len,
		 prot);
	claim_see_others(c);
	ret = uvma_mprotect(mm, addr_of(p), len * G, prot);
	check_call(w, c, OP_MPROTECT, ret, 0, &e);
}

/*
 * Whether a DONTUNMAP move of len pages from page p to page q would leave
 * two areas of one state side by side unmerged (Linux unlocks the source
 * and merges nothing: the model's cut). Page states cannot tell those from
 * a missed merge, which the readers here flag, so such moves are not made.
 */
static bool keep_would_cut(const struct claim *c, unsigned p, unsigned len,
			   unsigned q)
{
	static _Thread_local struct lm t;
	uint64_t out;

	lm_copy(&t, &c->m);
	if (lm_mremap(&t, addr_of(p), len * G, len * G,
		      UVMA_MREMAP_MAYMOVE | UVMA_MREMAP_FIXED |
			      UVMA_MREMAP_DONTUNMAP,
		      addr_of(q), &out))
		return false;
	for (unsigned i = 0; i < NPAGES; i++)
		if (t.pg[i].cut)
			return true;
	return false;
}

static void op_mremap(struct worker *w, struct claim *c)
{
	unsigned p = (unsigned)rng_below(NPAGES);
	unsigned old_len = 1 + (unsigned)rng_below(4);
	unsigned new_len = 1 + (unsigned)rng_below(8);
	unsigned r = (unsigned)rng_below(4), flags, q = 0;
	struct expect e = { .has_out = true };
	uint64_t out = 0;
	bool fixed;
	int ret;

	flags = r == 0	 ? 0
		: r == 3 ? UVMA_MREMAP_MAYMOVE | UVMA_MREMAP_FIXED
			 : UVMA_MREMAP_MAYMOVE;
	fixed = flags & UVMA_MREMAP_FIXED;
	if (p + old_len > NPAGES)
		old_len = NPAGES - p;
	/* One FIXED move in 4 leaves its source mapped (DONTUNMAP: the
	 * same length). */
	if (fixed && rng_chance(1, 4)) {
		flags |= UVMA_MREMAP_DONTUNMAP;
		new_len = old_len;
	}
	if (flags & UVMA_MREMAP_DONTUNMAP) {
		/* The source areas change whole (unlocked), wherever they
		 * end: the whole window is claimed. */
		q = (unsigned)rng_below(NPAGES - new_len + 1);
		claim_range(c, 0, NPAGES);
	} else if (fixed) {
		q = (unsigned)rng_below(NPAGES - new_len + 1);
		claim_range(c, p, old_len);
		claim_range(c, q, new_len);
	} else if (new_len <= old_len || !(flags & UVMA_MREMAP_MAYMOVE)) {
		claim_range(c, p, new_len > old_len ? new_len : old_len);
	} else {
		claim_range(c, 0, NPAGES); /* it may move anywhere free */
	}
	claim_take(w, c);
	/*
	 * Mostly an old range inside one area, so that the call works. A
	 * shorter old range stays inside the claim, but a shrink must stay a
	 * shrink (a growth with MAYMOVE could move anywhere). The area ends
	 * where the claim does at the latest: past it lie foreign pages.
	 */
	if (lm_mapped(&c->m, addr_of(p)) && rng_chance(3, 4)) {
		bool shrink = new_len <= old_len;
		unsigned run = page_of(lm_area_end(&c->m, addr_of(p))) - p;

		old_len =
			1 + (unsigned)rng_below(run < old_len ? run : old_len);
		if (shrink && new_len > old_len)
			new_len = old_len;
	}
	if (flags & UVMA_MREMAP_DONTUNMAP) {
		new_len = old_len;
		if (keep_would_cut(c, p, old_len, q))
			flags &= ~(unsigned)UVMA_MREMAP_DONTUNMAP;
	}
	e.ret = lm_mremap(&c->m, addr_of(p), old_len * G, new_len * G, flags,
			  fixed ? addr_of(q) : 0, &e.out);
	claim_predicted(c);
	snprintf(w->last, sizeof(w->last),
		 "mremap %#" PRIx64
		 " %u pages to %u pages flags %#x new %#" PRIx64,
		 addr_of(p), old_len, new_len, flags, fixed ? addr_of(q) : 0);
	claim_see_others(c);
	ret = uvma_mremap(mm, addr_of(p), old_len * G, new_len * G, flags,
			  fixed ? addr_of(q) : 0, &out);
	if (!ret && (flags & UVMA_MREMAP_DONTUNMAP))
		w->kept++;
	if (!ret && out != addr_of(p))
		w->moved++;
	else if (!ret && new_len > old_len)
		w->grown++;
	check_call(w, c, OP_MREMAP, ret, out, &e);
}

/* MADV_DONTDUMP or MADV_DODUMP over a range: splits and merges, holes
 * passed over (-ENOMEM at the end). */
static void op_madvise(struct worker *w, struct claim *c)
{
	unsigned len = random_len();
	unsigned p = (unsigned)rng_below(NPAGES - len + 1);
	int advice = rng_chance(1, 2) ? UVMA_MADV_DONTDUMP : UVMA_MADV_DODUMP;
	struct expect e = { 0 };
	int ret;

	claim_range(c, p, len);
	claim_take(w, c);
	e.ret = lm_madvise(&c->m, addr_of(p), len * G, advice);
	claim_predicted(c);
	snprintf(w->last, sizeof(w->last),
		 "madvise %#" PRIx64 " len %u pages advice %d", addr_of(p), len,
		 advice);
	claim_see_others(c);
	ret = uvma_madvise(mm, addr_of(p), len * G, advice);
	check_call(w, c, OP_MADVISE, ret, 0, &e);
}

/* mlock on fault (nothing faulted in, so no area is touched) or munlock
 * over a range: splits and merges, a hole stops it (-ENOMEM). */
static void op_mlock(struct worker *w, struct claim *c)
{
	unsigned len = random_len();
	unsigned p = (unsigned)rng_below(NPAGES - len + 1);
	bool unlock = rng_chance(1, 2);
	struct expect e = { 0 };
	int ret;

	claim_range(c, p, len);
	claim_take(w, c);
	e.ret = lm_mlock(&c->m, addr_of(p), len * G,
			 unlock ? 0 : UVMA_VM_LOCKED | UVMA_VM_LOCKONFAULT);
	claim_predicted(c);
	snprintf(w->last, sizeof(w->last), "%s %#" PRIx64 " len %u pages",
		 unlock ? "munlock" : "mlock onfault", addr_of(p), len);
	claim_see_others(c);
	ret = unlock ? uvma_munlock(mm, addr_of(p), len * G)
		     : uvma_mlock(mm, addr_of(p), len * G, UVMA_MLOCK_ONFAULT);
	check_call(w, c, OP_MLOCK, ret, 0, &e);
}

/* Pages mapped now, roughly (racy on purpose: only to steer the mix). */
static unsigned mapped_now(void)
{
	unsigned n = 0;

	for (unsigned p = 0; p < NPAGES; p++)
		n += !!(atomic_load_explicit(&page_words[p],
					     memory_order_relaxed) &
			S_MAPPED);
	return n;
}

static enum op_kind random_kind(void)
{
	unsigned r = (unsigned)rng_below(100), mapped = mapped_now();
	enum op_kind k;

	if (r < 16)
		k = OP_MMAP_FIXED;
	else if (r < 24)
		k = OP_MMAP_NOREPLACE;
	else if (r < 32)
		k = OP_MMAP_HINT;
	else if (r < 50)
		k = OP_MUNMAP;
	else if (r < 64)
		k = OP_MPROTECT;
	else if (r < 72)
		k = r < 68 ? OP_MADVISE : OP_MLOCK;
	else
		k = touch_mode ? OP_MPROTECT : OP_MREMAP;
	/* Keep about half of the window mapped. */
	if (mapped > NPAGES * 3 / 5 && k <= OP_MMAP_HINT && rng_chance(1, 2))
		k = OP_MUNMAP;
	if (mapped < NPAGES * 2 / 5 && k == OP_MUNMAP && rng_chance(1, 2))
		k = OP_MMAP_FIXED;
	return k;
}

static void mapper_step(struct worker *w)
{
	struct claim *c = &w->claim;
	enum op_kind k = random_kind();

	claim_reset(c);
	switch (k) {
	case OP_MUNMAP:
		op_munmap(w, c);
		break;
	case OP_MPROTECT:
		op_mprotect(w, c);
		break;
	case OP_MREMAP:
		op_mremap(w, c);
		break;
	case OP_MADVISE:
		op_madvise(w, c);
		break;
	case OP_MLOCK:
		op_mlock(w, c);
		break;
	default:
		op_mmap(w, c, k);
		break;
	}
	claim_release(c);
}

/* ---- threads
 * ------------------------------------------------------------------ */

static void *run_worker(void *arg)
{
	struct worker *w = arg;

	self = w;
	rng_seed(w->seed);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		switch (w->role) {
		case ROLE_FAULTER:
			fault_step(w);
			break;
		case ROLE_MAPPER:
			mapper_step(w);
			break;
		default:
			maps_step(w);
			break;
		}
		atomic_fetch_add_explicit(&w->progress, 1,
					  memory_order_relaxed);
	}
	atomic_store_explicit(&w->done, true, memory_order_relaxed);
	return NULL;
}

#ifdef UVMA_TEST_HOOKS
/* A stream of its own: the jitter's draws depend on timing. */
static _Thread_local uint64_t jitter_state;

static void jitter(enum hook_point point, struct uvma_mm *hmm,
		   struct uvma_vma *vma)
{
	uint64_t r = (jitter_state += 0x9e3779b97f4a7c15ULL);

	(void)point;
	(void)hmm;
	(void)vma;
	r = (r ^ (r >> 31)) * 0xbf58476d1ce4e5b9ULL;
	r ^= r >> 29;
	if (r % 64 == 0)
		sched_yield();
	else if (r % 8 == 0)
		busy_work((unsigned)(r >> 58));
}
#endif

/* What each mapper was doing, printed when a check fails. */
static void print_context(FILE *out)
{
	for (unsigned i = 0; i < nworkers; i++)
		if (workers[i].role == ROLE_MAPPER)
			fprintf(out, "mapper %u: last operation: %s\n",
				workers[i].id, workers[i].last);
}

/*
 * Run the threads for duration_ns and at least MIN_STEPS steps each, then
 * stop them and wait until they are done; fail when one makes no progress
 * for STALL_SECONDS (a lost wake-up, a writer waiting forever).
 */
static void watch(uint64_t duration_ns)
{
	struct watch_thread th[MAX_WORKERS];

	for (unsigned i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];

		th[i] = (struct watch_thread){
			.progress = &w->progress,
			.done = &w->done,
			.min_steps = MIN_STEPS,
			.name = role_names[w->role],
			.id = w->id,
		};
	}
	watch_threads(th, nworkers, duration_ns, &stop, STALL_SECONDS);
}

/* ---- setup and the final checks
 * ---------------------------------------------- */

/* Map about half of the window before the threads start. */
static void populate(void)
{
	for (unsigned p = 0; p < NPAGES;) {
		unsigned len = random_len(), prot = random_prot();
		unsigned user = (unsigned)rng_below(2);
		uint64_t out;

		if (p + len > NPAGES)
			len = NPAGES - p;
		if (rng_chance(1, 2)) {
			CHECK(uvma_mmap(mm, addr_of(p), len * G, prot,
					MAP_FLAGS | UVMA_MAP_FIXED, 0, 0,
					&users[user], &out) == 0);
			for (unsigned i = p; i < p + len; i++)
				atomic_store(&page_words[i],
					     mapped_state(prot, user));
		}
		p += len;
	}
}

/* With every thread joined: the model is published and equals the map,
 * and every area is quiet. */
static void check_final(struct worker *w)
{
	static struct area_list l;
	uint8_t st[NPAGES];
	struct tree_iter it;
	struct tree_entry e;
	unsigned n = 0;

	for (unsigned p = 0; p < NPAGES; p++) {
		uint64_t v = load_word(p);

		if (v & GEN_ONE)
			violation(w, V_FINAL, addr_of(p),
				  "page still claimed: %#" PRIx64, v);
	}
	l.n = 0;
	l.overflow = false;
	if (uvma_maps(mm, BASE, WIN_END, collect, &l))
		violation(w, V_FINAL, BASE, "uvma_maps failed");
	check_list(w, V_FINAL, &l, BASE, WIN_END, st);
	for (unsigned p = 0; p < NPAGES; p++)
		if (st[p] != (load_word(p) & S_MASK))
			violation(w, V_FINAL, addr_of(p),
				  "map state %#x, model %#x", st[p],
				  (unsigned)(load_word(p) & S_MASK));
	mmap_write_lock(mm);
	rcu_read_enter();
	tree_iter_start(&it, &mm->tree, 0, UINT64_MAX);
	while (tree_iter_next(&it, &e)) {
		struct uvma_vma *v = e.ptr;

		n++;
		if (test_refcnt(v) != 1 || v->start != e.start ||
		    v->end != e.end)
			violation(w, V_FINAL, e.start,
				  "area %p [%#" PRIx64 ", %#" PRIx64
				  ") refcnt %#x in tree entry [%#" PRIx64
				  ", %#" PRIx64 ")",
				  (void *)v, v->start, v->end, test_refcnt(v),
				  e.start, e.end);
	}
	rcu_read_exit();
	mmap_write_unlock(mm);
	if (n != l.n)
		violation(w, V_FINAL, BASE, "%u areas in the tree, %u listed",
			  n, l.n);
}

/* The library's counters against the calls: each uvma_fault and
 * uvma_vma_get counts one success or one fallback, each retry one retry. */
static void check_stats(struct worker *w, const struct uvma_fault_stats *st)
{
	uint64_t calls = 0, retries = 0;

	for (unsigned i = 0; i < nworkers; i++) {
		calls += workers[i].faults + workers[i].gets +
			 workers[i].side_locks;
		retries += workers[i].retries;
	}
	/* A first write retries under mmap_lock too when its trylock fails
	 * (prepare_anon): more retries than handlers asked for. */
	if (st->success + st->fallback != calls ||
	    (touch_mode ? st->retry < retries : st->retry != retries))
		violation(w, V_FINAL, 0,
			  "fault stats: success + fallback %" PRIu64
			  " for %" PRIu64 " calls, retry %" PRIu64
			  " for %" PRIu64,
			  st->success + st->fallback, calls, st->retry,
			  retries);
}

static bool arg_flag(int argc, char **argv, const char *name)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return false;
}

static void add_workers(enum role role, unsigned n, uint64_t seed)
{
	for (unsigned i = 0; i < n; i++) {
		struct worker *w;

		CHECK(nworkers < MAX_WORKERS);
		w = &workers[nworkers];
		w->role = role;
		w->id = i;
		w->seed = rng_derive(seed, nworkers + 1);
		/* The window as the model of a mapper's claims sees it. */
		lm_init(&w->claim.m, BASE, NPAGES, G, 1);
		nworkers++;
	}
}

int main(int argc, char **argv)
{
	uint64_t seed = test_seed(argc, argv);
	uint64_t duration_ms =
		arg_u64(argc, argv, "--duration-ms", test_scaled(5000, 4000));
	unsigned nfaulters = (unsigned)arg_u64(argc, argv, "--faulters", 2);
	unsigned nmappers = (unsigned)arg_u64(argc, argv, "--mappers", 2);
	bool jitter_on = !arg_flag(argc, argv, "--no-jitter");

	touch_mode = arg_flag(argc, argv, "--touch");
	struct worker setup = { .role = ROLE_MAIN };
	struct worker sum = { .role = ROLE_MAIN };
	struct uvma_mm_config cfg;
	struct uvma_fault_stats st;
	uint64_t t0, elapsed, bad = 0, ops = 0, ops_ok = 0;

	CHECK(nfaulters >= 1 && nmappers >= 1 &&
	      nfaulters + nmappers + 1 <= MAX_WORKERS);
	uvma_mm_config_init(&cfg);
	cfg.base = BASE;
	cfg.size = NPAGES * G;
	cfg.fault = fault_handler;
	CHECK(uvma_mm_create(&cfg, &mm) == 0);
	self = &setup;
	populate();
	add_workers(ROLE_FAULTER, nfaulters, seed);
	add_workers(ROLE_MAPPER, nmappers, seed);
	add_workers(ROLE_MAPS, 1, seed);
	test_set_context(print_context);
#ifdef UVMA_TEST_HOOKS
	if (jitter_on)
		hook_set(jitter);
#else
	jitter_on = false;
#endif
	printf("ops_stress: %u fault threads, %u mappers, a maps reader; "
	       "window of %u pages; %" PRIu64 " ms%s%s\n",
	       nfaulters, nmappers, NPAGES, duration_ms,
	       jitter_on ? ", jitter in the lock path" : "",
	       touch_mode ? "; faults write, nothing moves" : "");
	fflush(stdout);

	t0 = now_ns();
	for (unsigned i = 0; i < nworkers; i++)
		CHECK(pthread_create(&workers[i].thread, NULL, run_worker,
				     &workers[i]) == 0);
	watch(duration_ms * 1000000ull);
	for (unsigned i = 0; i < nworkers; i++)
		CHECK(pthread_join(workers[i].thread, NULL) == 0);
	elapsed = now_ns() - t0;
#ifdef UVMA_TEST_HOOKS
	hook_set(NULL);
#endif

	self = &setup;
	check_final(&setup);
	uvma_mm_fault_stats(mm, &st);
	check_stats(&setup, &st);
	for (unsigned i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];

		sum.faults += w->faults;
		sum.gets += w->gets;
		sum.fault_fast += w->fault_fast;
		sum.fault_locked += w->fault_locked;
		sum.retries += w->retries;
		sum.held += w->held;
		sum.judged_unmapped += w->judged_unmapped;
		sum.judged_allowed += w->judged_allowed;
		sum.judged_denied += w->judged_denied;
		sum.unjudged += w->unjudged;
		sum.writes += w->writes;
		sum.touched_seen += w->touched_seen;
		sum.moved += w->moved;
		sum.grown += w->grown;
		sum.kept += w->kept;
		sum.claim_waits += w->claim_waits;
		sum.snapshots += w->snapshots;
		sum.areas_seen += w->areas_seen;
		sum.pages_judged += w->pages_judged;
		for (int k = 0; k < NKINDS; k++) {
			sum.calls[k] += w->calls[k];
			sum.ok[k] += w->ok[k];
		}
		for (int v = 0; v < V_COUNT; v++)
			sum.viol[v] += w->viol[v];
	}
	for (int v = 0; v < V_COUNT; v++)
		sum.viol[v] += setup.viol[v];

	printf("faults: %" PRIu64 " uvma_fault + %" PRIu64
	       " uvma_vma_get; handler %" PRIu64
	       " times under the area lock, %" PRIu64
	       " under mmap_lock, %" PRIu64 " retries; judged: %" PRIu64
	       " unmapped (-EFAULT), %" PRIu64 " allowed (0), %" PRIu64
	       " denied (-EACCES); %" PRIu64 " not judged (an operation ran)\n",
	       sum.faults, sum.gets, sum.fault_fast, sum.fault_locked,
	       sum.retries, sum.judged_unmapped, sum.judged_allowed,
	       sum.judged_denied, sum.unjudged);
	printf("library counters: success %" PRIu64 " abort %" PRIu64
	       " retry %" PRIu64 " miss %" PRIu64 " fallback %" PRIu64 "\n",
	       st.success, st.abort, st.retry, st.miss, st.fallback);
	printf("operations (ok/calls):");
	for (int k = 0; k < NKINDS; k++) {
		printf(" %s %" PRIu64 "/%" PRIu64, kind_names[k], sum.ok[k],
		       sum.calls[k]);
		ops += sum.calls[k];
		ops_ok += sum.ok[k];
	}
	printf("; mremap moved %" PRIu64 " (%" PRIu64
	       " keeping the source), grew in place %" PRIu64
	       "; claims that waited %" PRIu64 "\n",
	       sum.moved, sum.kept, sum.grown, sum.claim_waits);
	printf("maps: %" PRIu64 " snapshots, %" PRIu64 " areas (%" PRIu64
	       " touched), %" PRIu64 " stable pages compared; %" PRIu64
	       " write faults\n",
	       sum.snapshots, sum.areas_seen, sum.touched_seen,
	       sum.pages_judged, sum.writes);
	printf("ops_stress: seed %" PRIu64 ", %.1f s: %" PRIu64
	       " faults (%" PRIu64 " judged, %" PRIu64 " fallbacks), %" PRIu64
	       " map changes (%" PRIu64 " ok), %" PRIu64
	       " maps snapshots; violations:",
	       seed, (double)elapsed / 1e9, sum.faults + sum.gets,
	       sum.judged_unmapped + sum.judged_allowed + sum.judged_denied,
	       st.fallback, ops, ops_ok, sum.snapshots);
	for (int v = 0; v < V_COUNT; v++) {
		printf(" %s %" PRIu64, violation_names[v], sum.viol[v]);
		bad += sum.viol[v];
	}
	printf("\n");
	fflush(stdout);
	CHECK_EQ_U64(bad, 0);
	/* The run did what it is for. */
	CHECK(sum.judged_unmapped > 0 && sum.judged_allowed > 0 &&
	      sum.judged_denied > 0 && sum.unjudged > 0);
	CHECK(sum.fault_fast > 0 && sum.fault_locked > 0);
	for (int k = 0; k < NKINDS; k++)
		CHECK(sum.ok[k] > 0 || (touch_mode && k == OP_MREMAP));
	CHECK(sum.pages_judged > 0);
	if (touch_mode)
		CHECK(sum.writes > 0 && sum.touched_seen > 0);
	else
		CHECK(sum.moved > 0);
	uvma_mm_destroy(mm);
	printf("ops_stress: passed\n");
	return 0;
}
