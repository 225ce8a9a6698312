/*
 * rwsem.h - the reader-writer semaphore behind mmap_lock: phase-fair, sleeps
 * on futexes, can be downgraded from write to read (rwsem.c explains the
 * design and argues it correct).
 *
 * Fair both ways: writers enter in FIFO order, a writer that is waiting
 * holds back readers that arrive after it, and readers that arrived while a
 * writer was in enter as soon as that writer leaves, before the next writer.
 * So no side starves the other: a writer waits for at most the readers that
 * were in when it arrived, plus the writers queued before it; a reader waits
 * for at most one writer.
 *
 * Not recursive: a thread holding it (for reading or writing) that asks for
 * it again may deadlock (debug builds catch the write-held cases).
 *
 * The rwsem must stay valid until every call on it has returned: an unlock
 * may still read its words (and issue a wake-up) just after another thread
 * has acquired it. An address space is only destroyed once no thread uses
 * it, which covers this.
 */
#ifndef UVMA_RWSEM_H
#define UVMA_RWSEM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * The fields, all private to rwsem.c. Entering readers write read_in,
 * leaving readers write read_out; padding keeps the two 64 bytes apart, on
 * different cache lines, so arrivals and departures do not bounce one line
 * between them. (Padding, not alignas(64): the struct is embedded in objects
 * that may come from plain malloc.)
 */
struct rwsem {
	/* Non-zero while write-held (debug builds: the holder's token). */
	_Atomic uintptr_t writer;
	/* Reader arrivals (count in bits 8-31) and the writer bits. */
	_Atomic uint32_t read_in;
	/* Writer tickets: next to hand out, and the one whose turn it is. */
	_Atomic uint32_t write_next;
	_Atomic uint32_t write_turn;
	char pad[64 - sizeof(uintptr_t) - 3 * sizeof(uint32_t)];
	/* Reader departures (count in bits 8-31) and the writer-sleeps bit. */
	_Atomic uint32_t read_out;
};

/* Set up an unlocked rwsem, before any other use (do not count on a zeroed
 * struct being one). Not concurrently with other calls on it. Never
 * sleeps. */
void rwsem_init(struct rwsem *s);

/*
 * Acquire for reading; may sleep (while a writer holds it or waits for it).
 * Once it returns, no writer is inside until rwsem_read_unlock, and
 * everything the last writer did before unlocking or downgrading is visible.
 */
void rwsem_read_lock(struct rwsem *s);

/* Acquire for reading if no writer holds it or waits for it; never sleeps.
 * True: read-held, as after rwsem_read_lock. False: nothing changed. */
bool rwsem_read_trylock(struct rwsem *s);

/*
 * Release a read hold; never sleeps (may wake a writer). Everything done
 * while read-held happens before the next writer's section.
 */
void rwsem_read_unlock(struct rwsem *s);

/*
 * Acquire for writing; may sleep (behind earlier writers, then until the
 * readers that were in when this writer arrived have left). Once it returns
 * the caller is alone, and sees everything done by every earlier holder.
 */
void rwsem_write_lock(struct rwsem *s);

/* Acquire for writing if nobody holds it or waits for it; never sleeps.
 * True: write-held, as after rwsem_write_lock. False: nothing held. */
bool rwsem_write_trylock(struct rwsem *s);

/* Release a write hold; never sleeps (may wake readers and the next
 * writer). Everything done while write-held happens before what any later
 * holder does. */
void rwsem_write_unlock(struct rwsem *s);

/*
 * Turn the caller's write hold into a read hold, in one step: no writer can
 * get in between, and the readers that were waiting behind this writer
 * enter now, beside the caller. Never sleeps. The caller then releases with
 * rwsem_read_unlock; a writer queued behind it enters after all of them.
 */
void rwsem_downgrade(struct rwsem *s);

/*
 * For assertions, never sleep. is_write_locked: some thread holds it for
 * writing (not merely waits for it). is_locked: held for reading or writing;
 * a reader that has arrived but still waits behind a writer counts as held,
 * which is exact whenever the caller itself holds the lock or no other
 * thread is using it.
 */
bool rwsem_is_write_locked(const struct rwsem *s);
bool rwsem_is_locked(const struct rwsem *s);

#endif
