/*
 * rwsem.c - mmap_lock's reader-writer semaphore: phase-fair, with tickets
 * for writers, futexes for sleeping, and downgrade.
 *
 * State (four 32-bit words, all changed only by atomic read-modify-writes
 * after rwsem_init):
 *
 *   read_in     arrivals of readers, counted in steps of RW_READER (bits
 *               8-31, wrapping), and in the low byte: RW_PRESENT (a writer
 *               has the turn: it waits for readers or is inside), RW_PHASE
 *               (flipped by each writer as it announces itself, kept after
 *               it leaves, so consecutive writers differ in it) and
 *               RW_READERS_SLEEP (a reader may sleep on read_in waiting for
 *               the present writer). A writer's "bits" are RW_PRESENT and
 *               RW_PHASE together.
 *   read_out    departures of readers, same steps, and RW_WRITER_SLEEPS (the
 *               present writer may sleep on read_out waiting for readers).
 *   write_next  the next writer ticket to hand out.
 *   write_turn  the ticket whose turn it is.
 *
 * Reader: add RW_READER to read_in. If RW_PRESENT is clear in what it got
 * back, it is in. Otherwise it waits until read_in's writer bits differ from
 * the ones it saw, then is in (even if another writer has meanwhile announced
 * itself: that writer counted this reader and waits for it). Leaving adds
 * RW_READER to read_out.
 *
 * Writer: take a ticket from write_next, wait until write_turn equals it,
 * then set RW_PRESENT and flip RW_PHASE in read_in (one exclusive or), which
 * returns the number of readers that arrived before it (its target), and
 * wait until read_out's count reaches the target. Unlocking clears
 * RW_PRESENT (and RW_READERS_SLEEP), then passes the turn (write_turn + 1).
 * Downgrading clears them and adds one reader in a single compare-and-swap,
 * then passes the turn.
 *
 * (The phase is kept in read_in rather than taken from the ticket's parity
 * because a failed write_trylock uses up a ticket without a writer phase;
 * two writers in a row could then have the same parity, and a reader that
 * had not yet looked would wait for the second one, which waits for it.)
 *
 * Why it is correct:
 *
 * - Writers exclude writers: only the thread whose ticket equals write_turn
 *   goes on, and write_turn moves only when that thread unlocks, downgrades
 *   or (a failed trylock) gives its turn back.
 *
 * - Writers exclude readers. Take writer W's read-modify-write X that sets
 *   its bits in read_in. Readers whose arrival precedes X in read_in's
 *   modification order are counted in W's target; readers arriving after X
 *   see W's bits and wait until W clears RW_PRESENT (a later writer's bits
 *   only appear after W passed the turn, so after W cleared its own), and
 *   read_trylock fails on them. So while W waits, every departure is of a
 *   reader counted in the target, and read_out reaching the target means
 *   they have all left; until W unlocks or downgrades, no reader enters.
 *
 * - Downgrade: one successful compare-and-swap takes RW_PRESENT away
 *   and counts the downgrader as a reader, so there is no instant at which
 *   the lock is free of both. The next writer gets the turn only after it,
 *   finds the downgrader (and the readers just let in) in its target, and
 *   waits for all of them.
 *
 * - Fairness. Writers enter in ticket order. A writer waits for the readers
 *   present when it announced itself; new readers wait behind it. A reader
 *   that saw writer bits w waits for exactly that writer: the bits cannot
 *   come back to w before the reader looks, because the next writer flips
 *   the phase bit, and the one after that only announces itself once the
 *   next one has finished, which needs our reader (counted in its target)
 *   to have left. So a reader waits for at most one writer phase.
 *
 * - Counts wrap: only equality of read_in's and read_out's counts is ever
 *   tested, which is exact modulo 2^24 as long as fewer than 2^24 readers
 *   are in or waiting at once.
 *
 * Sleeping, and why no wake-up is lost:
 *
 * - A reader waiting for writer bits w first sets RW_READERS_SLEEP with a
 *   compare-and-swap that succeeds only while the bits are still w, then
 *   sleeps on read_in. The writer's clearing read-modify-write (unlock or
 *   downgrade) comes after it in read_in's modification order, so it sees
 *   the flag and wakes every sleeper. The flag is cleared by that same
 *   operation and can only be set while RW_PRESENT is set, so it
 *   never outlives its phase. Readers that never sleep cost the writer
 *   nothing.
 *
 * - The writer waiting for readers sets RW_WRITER_SLEEPS in read_out with a
 *   compare-and-swap on the value it last checked (so it has accounted for
 *   every departure before), then sleeps. Every later departure is an
 *   atomic add that returns the flag, and wakes it. Only the writer clears
 *   the flag, once all its readers are gone (no departure can happen then),
 *   so rwsem_read_unlock is one atomic add, plus a wake only when a writer
 *   sleeps.
 *
 * - Writers waiting for their turn sleep on write_turn. Here the two sides
 *   each write one word and read the other (a Dekker pattern), so all four
 *   accesses are seq_cst: a waiter adds to write_next, then reads
 *   write_turn; the passer adds to write_turn, then reads write_next and
 *   wakes the writers if a ticket beyond the new turn is out. In the single
 *   total order of seq_cst operations either the passer's read of
 *   write_next comes after the waiter's ticket (it sees the ticket and
 *   wakes), or the passer's add to write_turn comes before the waiter's read
 *   of write_turn (the waiter sees its turn and never sleeps). A change
 *   between a waiter's check and its sleep makes futex_wait return at once.
 *
 * Every waiter spins briefly before sleeping, and nothing on the
 * uncontended paths makes a system call: read lock and unlock are one
 * atomic add each; write lock is two read-modify-writes and two loads,
 * write unlock two read-modify-writes and one load (each also stores the
 * holder, relaxed, for the assertions).
 *
 * Memory ordering: every read-modify-write of read_in, read_out and
 * write_turn continues the release sequence of the releases before it
 * (C11 5.1.2.4: read-modify-writes by any thread do), so an acquire that
 * reads any later value still synchronizes with those releases. Each
 * atomic below says which releases and acquires it relies on.
 */
#include "rwsem.h"

#include <limits.h>

#include "debug.h"
#include "futex.h"

#define RW_PHASE	 0x1u
#define RW_PRESENT	 0x2u
#define RW_WRITER_BITS	 (RW_PRESENT | RW_PHASE)
#define RW_READERS_SLEEP 0x4u
#define RW_LOW		 0xffu
#define RW_READER	 0x100u
#define RW_WRITER_SLEEPS 0x1u

/* Checks of a condition before a waiter goes to sleep: a few microseconds,
 * about the length of a short critical section, far less than a futex
 * sleep and wake-up. */
#define RW_SPINS 100

/* What struct rwsem's writer field holds while write-held. Debug builds
 * tell threads apart (the address of a per-thread variable), so misuse by
 * the holder can be caught; other builds only need "held". */
#ifdef UVMA_DEBUG
static _Thread_local char rwsem_thread_mark;

static uintptr_t rwsem_self(void)
{
	return (uintptr_t)&rwsem_thread_mark;
}
#else
static uintptr_t rwsem_self(void)
{
	return 1;
}
#endif

static bool counts_equal(uint32_t a, uint32_t b)
{
	return ((a ^ b) & ~RW_LOW) == 0;
}

/* Context: any. The caller publishes the rwsem to other threads (thread
 * creation, a lock, a release store), which orders these plain stores. */
void rwsem_init(struct rwsem *s)
{
	atomic_init(&s->read_in, 0);
	atomic_init(&s->read_out, 0);
	atomic_init(&s->write_next, 0);
	atomic_init(&s->write_turn, 0);
	atomic_init(&s->writer, 0);
}

/* A reader that saw writer bits w at arrival waits until that writer has
 * unlocked or downgraded. May sleep. */
static void read_wait(struct rwsem *s, uint32_t w)
{
	/* The caller holding it for writing would wait for itself forever. */
	UVMA_ASSERT(atomic_load_explicit(&s->writer, memory_order_relaxed) !=
		    rwsem_self());

	for (unsigned spins = 0;; spins++) {
		/*
		 * acquire: bits other than w mean writer w cleared its bits
		 * with a release (unlock or downgrade); whatever we read is
		 * that operation or a later read-modify-write in its release
		 * sequence, so w's section happens before ours.
		 */
		uint32_t in =
			atomic_load_explicit(&s->read_in, memory_order_acquire);

		if ((in & RW_WRITER_BITS) != w)
			return;
		if (spins < RW_SPINS) {
			cpu_relax();
			continue;
		}
		if (!(in & RW_READERS_SLEEP)) {
			/*
			 * relaxed: only atomicity matters. Succeeding means
			 * the bits are still w, so w's clearing operation
			 * comes later in read_in's order and sees the flag.
			 */
			if (!atomic_compare_exchange_strong_explicit(
				    &s->read_in, &in, in | RW_READERS_SLEEP,
				    memory_order_relaxed, memory_order_relaxed))
				continue;
			in |= RW_READERS_SLEEP;
		}
		futex_wait(&s->read_in, in);
	}
}

/* Context: may sleep. */
void rwsem_read_lock(struct rwsem *s)
{
	/*
	 * acquire: with RW_PRESENT clear, we read the last writer's release on
	 * read_in (unlock or downgrade) or a later read-modify-write in its
	 * release sequence, so that writer's section happens before ours.
	 */
	uint32_t in = atomic_fetch_add_explicit(&s->read_in, RW_READER,
						memory_order_acquire);

	if (__builtin_expect((in & RW_PRESENT) != 0, 0))
		read_wait(s, in & RW_WRITER_BITS);
}

/* Context: any; never sleeps. */
bool rwsem_read_trylock(struct rwsem *s)
{
	/* relaxed: a first guess; the compare-and-swap checks it. */
	uint32_t in = atomic_load_explicit(&s->read_in, memory_order_relaxed);

	do {
		if (in & RW_PRESENT)
			return false;
		/*
		 * acquire on success, as in rwsem_read_lock. relaxed on
		 * failure: we only look at the value we get back.
		 */
	} while (!atomic_compare_exchange_weak_explicit(
		&s->read_in, &in, in + RW_READER, memory_order_acquire,
		memory_order_relaxed));
	return true;
}

/* Context: any; never sleeps. */
void rwsem_read_unlock(struct rwsem *s)
{
	uint32_t out;

#ifdef UVMA_DEBUG
	{
		/*
		 * Someone must be in as a reader. acquire: each departure we
		 * count happens after its arrival, which the relaxed load of
		 * read_in then cannot miss; our own arrival is ours. So while
		 * we are in, read_in's count is ahead of read_out's.
		 */
		uint32_t o = atomic_load_explicit(&s->read_out,
						  memory_order_acquire);
		uint32_t i =
			atomic_load_explicit(&s->read_in, memory_order_relaxed);

		UVMA_ASSERT(!counts_equal(i, o));
		/* A write hold is released with rwsem_write_unlock. */
		UVMA_ASSERT(atomic_load_explicit(&s->writer,
						 memory_order_relaxed) !=
			    rwsem_self());
	}
#endif
	/*
	 * release: the writer that sees this departure (by an acquire load of
	 * read_out reading it or a later add) sees our whole section.
	 */
	out = atomic_fetch_add_explicit(&s->read_out, RW_READER,
					memory_order_release);
	/* Only the writer that has the turn ever sleeps on read_out. */
	if (__builtin_expect((out & RW_WRITER_SLEEPS) != 0, 0))
		futex_wake(&s->read_out, 1);
}

/* Wait for our ticket's turn. May sleep. */
static void wait_turn(struct rwsem *s, uint32_t ticket)
{
	for (unsigned spins = 0;; spins++) {
		/*
		 * seq_cst: the reading half of the Dekker pair with
		 * pass_turn (top comment). Also an acquire of the passer's
		 * add, so the previous writer's section happens before ours.
		 */
		uint32_t turn = atomic_load_explicit(&s->write_turn,
						     memory_order_seq_cst);

		if (turn == ticket)
			return;
		if (spins < RW_SPINS) {
			cpu_relax();
			continue;
		}
		futex_wait(&s->write_turn, turn);
	}
}

/* Give the turn to the next ticket, waking the writers if one holds a
 * ticket. Never sleeps. */
static void pass_turn(struct rwsem *s)
{
	/*
	 * seq_cst: the writing half of the Dekker pair with a waiting writer
	 * (top comment); it is also a release, so our section (and, after a
	 * downgrade, the state we leave) happens before the next writer's.
	 */
	uint32_t turn = atomic_fetch_add_explicit(&s->write_turn, 1,
						  memory_order_seq_cst);

	/* seq_cst: the reading half of the pair. */
	if (atomic_load_explicit(&s->write_next, memory_order_seq_cst) !=
	    turn + 1)
		futex_wake(&s->write_turn, INT_MAX);
}

/* With the turn and our bits in read_in, wait until read_out's count
 * reaches target: every reader that arrived before us has left. May
 * sleep. */
static void wait_readers(struct rwsem *s, uint32_t target)
{
	uint32_t out;

	for (unsigned spins = 0;; spins++) {
		/*
		 * acquire: reading the target count, we read the add of the
		 * last reader to leave or the writer-sleeps flag operations
		 * after it; each reader's release add heads a release sequence
		 * containing what we read, so all their sections happen
		 * before ours.
		 */
		out = atomic_load_explicit(&s->read_out, memory_order_acquire);
		if (counts_equal(out, target))
			break;
		if (spins < RW_SPINS) {
			cpu_relax();
			continue;
		}
		if (!(out & RW_WRITER_SLEEPS)) {
			/*
			 * relaxed: only atomicity matters. If this succeeds,
			 * every later departure is an add after it in
			 * read_out's order, returns the flag and wakes us; if a
			 * departure came first, it fails and we look again.
			 */
			if (!atomic_compare_exchange_strong_explicit(
				    &s->read_out, &out, out | RW_WRITER_SLEEPS,
				    memory_order_relaxed, memory_order_relaxed))
				continue;
			out |= RW_WRITER_SLEEPS;
		}
		futex_wait(&s->read_out, out);
	}
	if (out & RW_WRITER_SLEEPS) {
		/*
		 * relaxed: no reader can leave now (ours are gone, new ones
		 * wait for us), and our release on read_in when we unlock or
		 * downgrade orders this before every later departure.
		 */
		atomic_fetch_and_explicit(&s->read_out, ~RW_WRITER_SLEEPS,
					  memory_order_relaxed);
	}
}

/* With the turn: announce ourselves to readers, wait for the
 * ones already in, and record the hold. May sleep. */
static void write_enter(struct rwsem *s)
{
	/*
	 * Set RW_PRESENT (clear: the previous writer cleared it before
	 * passing the turn) and flip RW_PHASE. relaxed: atomicity alone
	 * splits the readers into those before us (counted in what we get
	 * back) and those after (they see our bits). Ordering with earlier
	 * sections comes from the acquires of write_turn (writers) and
	 * read_out (readers).
	 */
	uint32_t in = atomic_fetch_xor_explicit(
		&s->read_in, RW_PRESENT | RW_PHASE, memory_order_relaxed);

	UVMA_ASSERT((in & RW_LOW & ~RW_PHASE) == 0);
	wait_readers(s, in);
	/* relaxed: only read by assertions (see rwsem_is_write_locked). */
	atomic_store_explicit(&s->writer, rwsem_self(), memory_order_relaxed);
}

/* Context: may sleep. */
void rwsem_write_lock(struct rwsem *s)
{
	uint32_t ticket;

	/* Not recursive: we would wait for ourselves. */
	UVMA_ASSERT(atomic_load_explicit(&s->writer, memory_order_relaxed) !=
		    rwsem_self());
	/* seq_cst: the writing half of the Dekker pair with pass_turn. */
	ticket = atomic_fetch_add_explicit(&s->write_next, 1,
					   memory_order_seq_cst);
	wait_turn(s, ticket);
	write_enter(s);
}

/* Context: any; never sleeps. */
bool rwsem_write_trylock(struct rwsem *s)
{
	/*
	 * acquire: if the turn is free and we take it, the previous writer's
	 * pass (a release) happens before our section.
	 */
	uint32_t turn =
		atomic_load_explicit(&s->write_turn, memory_order_acquire);
	uint32_t expected = turn;
	uint32_t in, out;

	/*
	 * Take ticket `turn` only if it is the next one to hand out: then no
	 * writer holds or waits, and the turn is already ours (it never runs
	 * ahead of the tickets handed out). relaxed: taking the ticket
	 * publishes nothing; the acquire above orders us after the previous
	 * writer, and if we give the turn back, pass_turn does the Dekker
	 * part with writers that took tickets after ours.
	 */
	if (!atomic_compare_exchange_strong_explicit(
		    &s->write_next, &expected, turn + 1, memory_order_relaxed,
		    memory_order_relaxed))
		return false;
	/*
	 * acquire: as in wait_readers, the readers whose departures we count
	 * have finished their sections before ours. Their arrivals happen
	 * before this load, so the compare-and-swap below, expecting as many
	 * arrivals as departures, succeeds only with no reader in.
	 */
	out = atomic_load_explicit(&s->read_out, memory_order_acquire);
	/* relaxed: a first guess; the compare-and-swap checks it. */
	in = atomic_load_explicit(&s->read_in, memory_order_relaxed);
	/*
	 * relaxed: as in write_enter, atomicity alone makes later readers see
	 * our bits.
	 */
	if ((in & RW_LOW & ~RW_PHASE) == 0 && counts_equal(in, out) &&
	    atomic_compare_exchange_strong_explicit(
		    &s->read_in, &in, in ^ (RW_PRESENT | RW_PHASE),
		    memory_order_relaxed, memory_order_relaxed)) {
		/* relaxed: only read by assertions. */
		atomic_store_explicit(&s->writer, rwsem_self(),
				      memory_order_relaxed);
		return true;
	}
	/* Readers are in or arriving: give the turn back. */
	pass_turn(s);
	return false;
}

/* Debug checks on a write hold being released by its holder. */
static void assert_write_held(struct rwsem *s)
{
#ifdef UVMA_DEBUG
	/* relaxed: our own stores, or racy reads that only feed checks. */
	uint32_t in = atomic_load_explicit(&s->read_in, memory_order_relaxed);
	uint32_t turn =
		atomic_load_explicit(&s->write_turn, memory_order_relaxed);

	UVMA_ASSERT(atomic_load_explicit(&s->writer, memory_order_relaxed) ==
		    rwsem_self());
	UVMA_ASSERT(in & RW_PRESENT);
	UVMA_ASSERT(atomic_load_explicit(&s->write_next,
					 memory_order_relaxed) != turn);
#else
	(void)s;
#endif
}

/* Context: any; never sleeps. */
void rwsem_write_unlock(struct rwsem *s)
{
	uint32_t in;

	assert_write_held(s);
	/* relaxed: only read by assertions; the release below orders it
	 * before what the next holder does. */
	atomic_store_explicit(&s->writer, 0, memory_order_relaxed);
	/*
	 * release: readers that find the bits gone (an acquire reading this
	 * or a later read-modify-write) see our section.
	 */
	in = atomic_fetch_and_explicit(&s->read_in,
				       ~(RW_PRESENT | RW_READERS_SLEEP),
				       memory_order_release);
	if (in & RW_READERS_SLEEP)
		futex_wake(&s->read_in, INT_MAX);
	/* After clearing our bits: the next writer sets its own. */
	pass_turn(s);
}

/* Context: any; never sleeps. */
void rwsem_downgrade(struct rwsem *s)
{
	/* relaxed: a first guess; the compare-and-swap checks it. */
	uint32_t in = atomic_load_explicit(&s->read_in, memory_order_relaxed);
	uint32_t want;

	assert_write_held(s);
	/* relaxed: as in rwsem_write_unlock. */
	atomic_store_explicit(&s->writer, 0, memory_order_relaxed);
	/*
	 * One step from writer to reader: drop RW_PRESENT (and the
	 * sleeping readers' flag, they are woken below) and count ourselves
	 * as a reader. Arriving readers may change the count meanwhile, hence
	 * the loop. release on success: readers we let in see our section.
	 * relaxed on failure: we only use the value we get back.
	 */
	do {
		want = ((in & ~RW_LOW) | (in & RW_PHASE)) + RW_READER;
	} while (!atomic_compare_exchange_weak_explicit(&s->read_in, &in, want,
							memory_order_release,
							memory_order_relaxed));
	if (in & RW_READERS_SLEEP)
		futex_wake(&s->read_in, INT_MAX);
	pass_turn(s);
}

/* Context: any; never sleeps. */
bool rwsem_is_write_locked(const struct rwsem *s)
{
	/* relaxed: exact for the holder (its own store) and for a reader
	 * (the release it acquired came after the holder's clearing). */
	return atomic_load_explicit(&s->writer, memory_order_relaxed) != 0;
}

/* Context: any; never sleeps. */
bool rwsem_is_locked(const struct rwsem *s)
{
	/* acquire, then relaxed: as in rwsem_read_unlock's check, so that a
	 * reader asking about itself is never missed. */
	uint32_t out = atomic_load_explicit(&s->read_out, memory_order_acquire);
	uint32_t in = atomic_load_explicit(&s->read_in, memory_order_relaxed);

	return (in & RW_PRESENT) || !counts_equal(in, out);
}
