/*
 * vma_lock.pml - a SPIN model of uvma's per-VMA refcount lock (docs/design.md,
 * section 2), checked for safety, deadlock (invalid end states) and
 * termination by check_model.sh (see README.md in this directory).
 *
 * What is modelled
 *
 *   One VMA object from the type-stable pool (docs/design.md section 4): it is
 *   never returned to the operating system, only freed to the pool and
 *   allocated again, possibly by another address space. Its fields: refcnt,
 *   lock_seq, owner (which mm), and whether it is in mm 1's and in mm 2's
 *   tree. Two address spaces, mm 1 and mm 2, each with mm_lock_seq (odd
 *   while its mmap_lock is write-held) and an mmap_lock that is a mutex for
 *   writers (the readers of the fast path never take it). Initially the VMA
 *   is attached in mm 1 with no readers (refcnt 1); mm 1's previous write
 *   cycle (sequence 1) created it, write-locking it first (rule 7), so
 *   lock_seq is 1 and mm 1's mm_lock_seq is 2.
 *
 *   Processes:
 *   - reader (two of them): the lock-under-RCU path of mm 1, tried
 *     READER_TRIES times. Look the object up in mm 1's tree (absent: a miss,
 *     give up), then vma_start_read as in rule 4, one atomic statement per
 *     step: the early lock_seq check, the bounded increment (fail on 0:
 *     "stale", or above LIMIT: "busy"), the owner check, the re-read of
 *     mm_lock_seq and its comparison with lock_seq. A failure after the
 *     increment drops the reference with vma_end_read (rule 5). A success
 *     runs a critical section, then vma_end_read.
 *   - writer: WRITER_CYCLES write cycles of mm 1. Takes mmap_lock, bumps
 *     mm_lock_seq to odd, write-locks the VMA if it is in mm 1's tree
 *     (rule 6), believes it has excluded every reader of that VMA until it
 *     ends the cycle (bumps mm_lock_seq, rule 3) and unlocks.
 *   - detacher: one munmap in mm 1. Takes mmap_lock, write-locks the VMA,
 *     unlinks it from mm 1's tree, vma_mark_detached (rule 9), frees it to
 *     the pool, ends the cycle.
 *   - reuser: mm 2 allocating the object as soon as it is free: owner = 2,
 *     write-lock it under mm 2's write cycle while detached (rule 7),
 *     vma_mark_attached (rule 8), insert it into mm 2's tree, end the cycle.
 *     It is its own process, so the reuse may happen before, during or after
 *     the rest of mm 1's activity (the detacher ending its cycle, the writer's
 *     next cycle), which covers reuse by the detacher's own thread as one of
 *     its interleavings.
 *   - monitor: evaluates the global invariants once, at an arbitrary point;
 *     the exhaustive search makes that "in every reachable state".
 *
 *   The futex is modelled explicitly, on the VMA's own refcnt word: a waiter
 *   reads the count; if it is not yet the target it calls futex_wait(count),
 *   which (atomically, as the kernel does) goes to sleep only if the word
 *   still holds that value; vma_end_read, after its decrement, wakes the
 *   sleeper when the new count is OFFSET or OFFSET + 1 (rule 5). So a missing
 *   or wrong wake-up shows up as a process asleep forever: an invalid end
 *   state.
 *
 * What is abstracted, and why that is sound
 *
 *   - Memory is sequentially consistent, and every C atomic (load, store,
 *     read-modify-write; the whole CAS loop of the bounded increment, whose
 *     effect is one atomic check-and-increment at the instant its CAS
 *     succeeds) is one Promela statement. So this checks the protocol's
 *     logic assuming the orderings of rules 4, 5, 6 and 8 make the accesses
 *     it depends on behave as if sequentially consistent; a missing barrier
 *     in the C code is outside what it can find (that is for review and the
 *     ThreadSanitizer runs).
 *   - Two loads that C performs separately are separate statements wherever
 *     a writer could change something between them (the final check reads
 *     mm_lock_seq, then compares with lock_seq), so the model allows at least
 *     every interleaving the code does. The early check of rule 4 is one
 *     statement: it only ever makes a reader give up without a reference,
 *     and giving up is always allowed (VARIANT_NO_EARLY_CHECK removes it and
 *     must still verify). The allocation and the store of the new owner
 *     are one step: the count is 0 then, so no reader gets as far as
 *     reading the owner. Ghost variables (what the processes hold and
 *     believe) change in the same atomic step as the action they record.
 *   - RCU is not modelled: type-stable memory makes every access to the
 *     object safe whenever it happens, so the only question RCU answers in
 *     the real code (is the memory still a VMA?) is always "yes" here. The
 *     tree is one boolean per mm, written with one store (docs/design.md
 *     section 3: a reader sees the entry or does not).
 *   - futex_wait has no spurious returns. A spurious return only makes the
 *     waiter re-read the count and sleep again; the count it waits for, once
 *     reached, stays until the waiter itself changes it (readers cannot raise
 *     a count above LIMIT), so early re-reads add no behaviour that matters
 *     for safety, and including them would hide a lost wake-up as a livelock
 *     instead of showing it as a deadlock.
 *   - Bounds: two readers trying twice, two writer cycles, one detach, one
 *     reuse (spin -DNREADERS=3 -DREADER_TRIES=3 -DWRITER_CYCLES=3 raises
 *     them). Every statement of the reader, writer and detacher is reached
 *     within them (pan's "unreached" report; the only unreached statements
 *     are the reuser's wait path of vma_start_write, which a detached VMA
 *     never takes). The reader limit itself (LIMIT readers) is not reached
 *     with two readers: the "busy" failure of the increment is exercised
 *     through the OFFSET of a writer or detacher.
 *   - Sequence numbers do not wrap (2^31 write cycles during one reader's
 *     critical section).
 *   - Not modelled: mmap_lock readers and downgrade, vma_start_read_locked
 *     (rule 10), readers of mm 2, reuse of the object in the same mm at
 *     another range (caught by the range check after locking, section 6,
 *     which is not modelled), more than one VMA, RCU grace periods.
 *
 * Properties (assertions, plus SPIN's invalid end state check)
 *
 *   (a) no reader of mm 1 is in its critical section while the writer or
 *       the detacher of mm 1 believes it has excluded all readers of the VMA
 *       (asserted when either side enters, and by the monitor);
 *   (b) a reader that succeeded holds an object owned by mm 1, in mm 1's
 *       tree, attached (its attach reference counted), not write-locked in
 *       the current cycle (lock_seq != mm_lock_seq), whose count holds its
 *       reference and the attach reference plus at most one OFFSET;
 *   (c) the object is freed and reused only with refcnt == 0 and no reader
 *       holding a reference; attach finds refcnt == 0 (nothing inherited);
 *   (d) refcnt is exactly attach reference + readers' references + OFFSET
 *       if a writer or detacher holds it, so it is never negative and never
 *       above OFFSET + 1 + readers;
 *   (e) no invalid end state (nobody blocked or asleep forever) and no
 *       cycle in the state graph (check_model.sh's second search, pan -l):
 *       every execution is finite, so every process ends, whatever the
 *       schedule.
 *
 * Mutants (spin -a -DMUTANT_... vma_lock.pml), each must be rejected:
 *   MUTANT_DETACH_NO_WAIT   rule 9 broken: detach drops the attach reference
 *                           and does not wait for transient readers;
 *   MUTANT_NO_OWNER_CHECK   rule 4's owner check skipped;
 *   MUTANT_NO_SEQ_RECHECK   rule 4's final mm_lock_seq re-check skipped;
 *   MUTANT_NO_WAKE_DETACHER rule 5 wakes only at OFFSET + 1, not at OFFSET.
 * Variant that must still verify:
 *   VARIANT_NO_EARLY_CHECK  rule 4's early lock_seq check removed (it is
 *                           only a shortcut).
 */

#define OFFSET 1073741824 /* 0x40000000 */
#define LIMIT (OFFSET - 1)

/* The bounds; spin -DREADER_TRIES=3 ... overrides them. */
#ifndef NREADERS
#define NREADERS 2
#endif
#ifndef READER_TRIES
#define READER_TRIES 2
#endif
#ifndef WRITER_CYCLES
#define WRITER_CYCLES 2
#endif

/* vma_start_read's outcome of the bounded increment */
#define INC_OK 0
#define INC_STALE 1
#define INC_BUSY 2

/* --- the VMA object (type-stable) ---------------------------------------- */

int refcnt = 1;     /* attached in mm 1, no readers */
int lock_seq = 1;   /* write-locked in mm 1's previous cycle (rule 7) */
byte owner = 1;
bool in_tree1 = true;
bool in_tree2 = false;
bool obj_free = false;      /* in the pool, allocatable */
bool futex_sleeper = false; /* a writer sleeps on &refcnt */

/* --- the address spaces ---------------------------------------------------- */

int mm1_seq = 2;  /* one write cycle (the one that created the VMA) is over */
int mm2_seq = 0;
bool mm1_locked = false;    /* mmap_lock held for writing */
bool mm2_locked = false;

/* --- ghost state: what the processes hold and believe -------------------- */

byte refs_held = 0;         /* references taken by readers, not yet dropped */
bit attach_ref = 1;         /* the attach reference is in refcnt */
bit offset_held = 0;        /* a writer or detacher has added OFFSET */
byte readers_in_cs = 0;     /* readers of mm 1 in their critical section */
bool mm1_excl = false;      /* mm 1's writer/detacher believes it excluded
                               every reader of the VMA */

/* --- helpers ------------------------------------------------------------ */

/* Sleep on &refcnt while it still holds `seen` (FUTEX_WAIT). */
inline futex_wait(seen)
{
	atomic {
		if
		:: refcnt == seen ->
			assert(!futex_sleeper); /* one waiter slot (rule 2) */
			futex_sleeper = true
		:: else -> skip
		fi;
		seen = 0 /* dead from here: keep it out of the state */
	};
	!futex_sleeper /* asleep until futex_wake */
}

/* Wake whoever sleeps on &refcnt (FUTEX_WAKE). */
inline futex_wake()
{
	futex_sleeper = false
}

/* Sleep until refcnt == target, re-checking after every wake-up. */
inline wait_refcnt(target, c)
{
	do
	:: c = refcnt;
		if
		:: c == target -> c = 0; break
		:: else -> futex_wait(c)
		fi
	od
}

/*
 * Add OFFSET unless the count is 0 (one atomic step), then wait until only
 * `target` is left: OFFSET + 1 (the attach reference) for vma_start_write,
 * OFFSET for vma_mark_detached. Sets `excluded` when OFFSET was added.
 */
inline exclude_readers(target, c, excluded)
{
	d_step {
		if
		:: refcnt == 0 -> excluded = false
		:: else ->
			refcnt = refcnt + OFFSET;
			offset_held = 1;
			excluded = true
		fi
	};
	if
	:: excluded -> wait_refcnt(target, c)
	:: else -> skip
	fi
}

/* Subtract the OFFSET that exclude_readers added. */
inline readers_allowed_again(excluded)
{
	d_step {
		refcnt = refcnt - OFFSET;
		offset_held = 0;
		excluded = false
	}
}

/* vma_start_write (rule 6), the caller holding mmap_lock of mm `seq`. */
inline vma_start_write(seq, c, excluded)
{
	if
	:: lock_seq == seq -> skip /* already write-locked this cycle */
	:: else ->
		exclude_readers(OFFSET + 1, c, excluded);
		lock_seq = seq;
		if
		:: excluded -> readers_allowed_again(excluded)
		:: else -> skip /* detached: no reader can get it */
		fi
	fi
}

/* vma_end_read (rule 5): after the decrement, touch only the futex word. */
inline vma_end_read(c)
{
	d_step {
		refcnt--;
		refs_held--;
		c = refcnt
	};
	if
#ifdef MUTANT_NO_WAKE_DETACHER
	:: c == OFFSET + 1 -> c = 0; futex_wake()
#else
	:: c == OFFSET || c == OFFSET + 1 -> c = 0; futex_wake()
#endif
	:: else -> c = 0
	fi
}

/*
 * The sequence bound of rule 4: lock_seq below the last mm_lock_seq this
 * reader read means its cycle had ended then. The mutant counts the value
 * read itself as ended too, which is wrong while that cycle still runs.
 */
#ifdef MUTANT_BOUND_INCLUSIVE
#define BOUND_ENDS(ls, bound) (ls <= bound)
#else
#define BOUND_ENDS(ls, bound) (ls < bound)
#endif

/* --- processes ----------------------------------------------------------- */

active [NREADERS] proctype reader()
{
	byte tries = 0;
	byte inc;
	int c, s;
	byte seen = 0; /* the thread's sequence bound (rule 4): no wrap here */

	do
	:: tries == READER_TRIES -> break
	:: else ->
		tries++;

		/* lookup under RCU: the object, or a miss */
		if
		:: in_tree1 -> skip
		:: else -> goto next
		fi;

		/* vma_start_read(mm 1, vma), rule 4 */
#ifndef VARIANT_NO_EARLY_CHECK
		if
		:: BOUND_ENDS(lock_seq, seen) -> skip /* no mm_lock_seq load */
		:: else ->
			if
			:: lock_seq == mm1_seq -> goto next /* busy, no ref */
			:: else -> skip
			fi
		fi;
#endif
		d_step {
			if
			:: refcnt == 0 -> inc = INC_STALE
			:: refcnt != 0 && refcnt + 1 > LIMIT -> inc = INC_BUSY
			:: else ->
				refcnt++;
				refs_held++;
				inc = INC_OK
			fi
		};
		if
		:: inc != INC_OK -> inc = INC_OK; goto next /* stale or busy */
		:: else -> skip
		fi;
#ifndef MUTANT_NO_OWNER_CHECK
		if
		:: owner != 1 -> goto drop /* reused by another mm */
		:: else -> skip
		fi;
#endif
#ifndef MUTANT_NO_SEQ_RECHECK
		if
		:: BOUND_ENDS(lock_seq, seen) -> skip /* its cycle had ended */
		:: else ->
			s = mm1_seq;
			seen = s; /* the bound rises to what was read */
			if
			:: s == lock_seq -> s = 0; goto drop /* locked: busy */
			:: else -> s = 0
			fi
		fi;
#endif

		/* critical section: the VMA is read-locked */
		d_step {
			readers_in_cs++;
			assert(owner == 1 && in_tree1 && !obj_free); /* (b) */
			assert(!mm1_excl);                         /* (a) */
			assert(attach_ref == 1 && lock_seq != mm1_seq);
			assert(refcnt % OFFSET >= 2 && refcnt / OFFSET <= 1)
		};
		d_step {
			assert(owner == 1 && in_tree1 && !obj_free); /* (b) */
			readers_in_cs--
		};
drop:
		vma_end_read(c);
next:
		skip
	od
}

active proctype writer()
{
	byte cycle = 0;
	int c;
	bool excluded;

	do
	:: cycle == WRITER_CYCLES -> break
	:: else ->
		cycle++;
		atomic { !mm1_locked -> mm1_locked = true };
		mm1_seq++;
		if
		:: in_tree1 ->
			vma_start_write(mm1_seq, c, excluded);
			d_step {
				assert(readers_in_cs == 0); /* (a) */
				mm1_excl = true
			};
			/* exclusive section: the VMA may change here */
			assert(readers_in_cs == 0) /* (a) */
		:: else -> skip
		fi;
		d_step {
			mm1_excl = false;
			mm1_seq++ /* ends every VMA write lock of mm 1 */
		};
		mm1_locked = false
	od
}

active proctype detacher()
{
	int c;
	bool excluded;

	atomic { !mm1_locked -> mm1_locked = true };
	mm1_seq++;
	assert(in_tree1 && owner == 1);
	vma_start_write(mm1_seq, c, excluded);
	d_step {
		assert(readers_in_cs == 0); /* (a) */
		mm1_excl = true
	};

	in_tree1 = false; /* unlink from mm 1's tree */

	/* vma_mark_detached (rule 9) */
	d_step {
		refcnt--;
		attach_ref = 0;
		c = refcnt
	};
#ifndef MUTANT_DETACH_NO_WAIT
	if
	:: c != 0 ->
		c = 0;
		exclude_readers(OFFSET, c, excluded);
		if
		:: excluded -> readers_allowed_again(excluded)
		:: else -> skip
		fi
	:: else -> skip
	fi;
#endif

	/* free to the pool: nobody holds it, nobody can get it (c) */
	d_step {
		assert(refcnt == 0 && refs_held == 0 && !in_tree1);
		assert(readers_in_cs == 0); /* (a) */
		obj_free = true
	};

	d_step {
		mm1_excl = false;
		mm1_seq++
	};
	mm1_locked = false
}

active proctype reuser()
{
	int c;
	bool excluded;

	/* allocate from the pool: the owner is set at allocation (c) */
	d_step {
		obj_free ->
		obj_free = false;
		assert(refcnt == 0 && refs_held == 0);
		owner = 2
	};
	atomic { !mm2_locked -> mm2_locked = true };
	mm2_seq++;
	/* rule 7: write-locked before it is attached and inserted */
	vma_start_write(mm2_seq, c, excluded);
	assert(!excluded && lock_seq == mm2_seq);
	/* vma_mark_attached (rule 8) */
	d_step {
		assert(refcnt == 0 && refs_held == 0); /* (c) */
		refcnt = 1;
		attach_ref = 1
	};
	in_tree2 = true;
	mm2_seq++;
	mm2_locked = false
}

active proctype monitor()
{
	d_step {
		/* (d) */
		assert(refcnt == attach_ref + refs_held + offset_held * OFFSET);
		assert(refcnt >= 0 && refcnt <= OFFSET + 1 + NREADERS);
		/* (a), (b) in every state, not only where a process looks */
		assert(readers_in_cs == 0 ||
		       (!mm1_excl && owner == 1 && in_tree1 && !obj_free &&
			attach_ref == 1 && lock_seq != mm1_seq));
		assert(readers_in_cs <= refs_held)
	}
}
