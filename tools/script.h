/*
 * script.h - operation scripts for `uvma replay` and its kernel twin,
 * `uvma-kernel-replay`: the parser, the driver and the printer they share.
 *
 * Both programs link their own copy of script.c, so the two print byte for
 * byte the same format; that is what lets tests/conformance diff them. A
 * program supplies a backend (how to map, unmap, protect, remap and list
 * areas) and calls script_main().
 *
 * The script format (the contract, see docs/semantics.md): one operation per
 * line, numbers in C notation (strtoull base 0), `#` starts a comment:
 *
 *   map OFF LEN PROT SHARING [FILE FILEOFF] [OPTION...]
 *   unmap OFF LEN
 *   protect OFF LEN PROT
 *   remap OFF OLDLEN NEWLEN [NEWOFF] [dontunmap]
 *   touch OFF
 *   advise OFF LEN ADVICE
 *   lock OFF LEN [onfault|FLAGS]
 *   unlock OFF LEN
 *   lockall [current] [future] [onfault] | lockall FLAGS
 *   unlockall
 *   memlock BYTES
 *   seal OFF LEN [FLAGS]
 *   fork
 *   exit
 *
 * map is mmap(2) with MAP_FIXED, plus an OPTION's flag: `growsdown`
 * (MAP_GROWSDOWN), `noreserve` (MAP_NORESERVE), `locked` (MAP_LOCKED),
 * `populate` (MAP_POPULATE), in any order.
 *
 * touch writes a byte at OFF (the kernel side really does; uvma runs a
 * write fault): EFAULT where nothing is mapped and no stack grows down to
 * it, EACCES where the area may not be written.
 *
 * advise is madvise(2): ADVICE is a name (dontfork, dofork, wipeonfork,
 * keeponfork, dontdump, dodump, hugepage, nohugepage, mergeable,
 * unmergeable, sequential, random, normal, willneed, dontneed, free,
 * remove, populate_read, populate_write, cold, pageout) or a number (an
 * unknown advice). lock is mlock(2), or mlock2(2) when flags are given
 * (onfault: MLOCK_ONFAULT); unlock is munlock(2); lockall is mlockall(2)
 * (MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT), unlockall munlockall(2); memlock
 * sets RLIMIT_MEMLOCK to BYTES for a process without CAP_IPC_LOCK (the
 * kernel side gives that capability up; uvma: uvma_mm_set_memlock_limit);
 * seal
 * is mseal(2) (FLAGS, default 0, must be 0). remap is mremap(2) with
 * MREMAP_MAYMOVE, plus MREMAP_FIXED with NEWOFF and MREMAP_DONTUNMAP with
 * `dontunmap`.
 *
 * fork duplicates the current space (a process forks) and the lines after
 * it act on the copy, until its exit (or the end of the script), which
 * prints `child LINE` (the fork's line), the child's failed lines and its
 * map, and goes back to the space that forked. Forks nest; at the end of
 * the script the children still open exit, innermost first, and then the
 * first space prints its failed lines and map as a script without fork.
 *
 * PROT is three characters, r/w/x or '-' in that order; SHARING is
 * `private` or `shared`; FILE is F0..F7 (absent: anonymous memory).
 * Offsets are relative to the base of a 4 GiB window.
 *
 * Single-threaded: nothing here takes a lock.
 */
#ifndef UVMA_TOOLS_SCRIPT_H
#define UVMA_TOOLS_SCRIPT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* The window every script runs in: [0, 4 GiB) of 4096-byte pages. */
#define SCRIPT_WINDOW_SIZE (4ULL << 30)
#define SCRIPT_PAGE_SIZE   4096ULL
#define SCRIPT_NR_FILES	   8

/* Protection bits: the values of PROT_* (and of UVMA_PROT_*). */
#define SCRIPT_PROT_READ  0x1
#define SCRIPT_PROT_WRITE 0x2
#define SCRIPT_PROT_EXEC  0x4

enum script_op {
	SCRIPT_MAP,
	SCRIPT_UNMAP,
	SCRIPT_PROTECT,
	SCRIPT_REMAP,
	SCRIPT_FORK,
	SCRIPT_EXIT,
	SCRIPT_TOUCH,
	SCRIPT_ADVISE,
	SCRIPT_LOCK,
	SCRIPT_UNLOCK,
	SCRIPT_LOCKALL,
	SCRIPT_UNLOCKALL,
	SCRIPT_SEAL,
	SCRIPT_MEMLOCK,
};

/* Values of Linux's madvise advice, mlock2 and mlockall flags (and of
 * uvma's UVMA_MADV_*, UVMA_MLOCK_*, UVMA_MCL_*). */
#define SCRIPT_MLOCK_ONFAULT 0x1
#define SCRIPT_MCL_CURRENT   0x1
#define SCRIPT_MCL_FUTURE    0x2
#define SCRIPT_MCL_ONFAULT   0x4

/*
 * Hidden flags of an area, as /proc/PID/smaps prints them on its VmFlags
 * line: bit i of script_area.vm is the code script_vm_codes[i] (the bits
 * of uvma's UVMA_VM_*). Only these are compared; the kernel prints more.
 */
#define SCRIPT_VM_NR 14
extern const char *const script_vm_codes[SCRIPT_VM_NR];
/* The last code, gd (VM_GROWSDOWN), is no UVMA_VM_* flag: uvma's
 * backend sets it for a UVMA_MAP_GROWSDOWN area. */
#define SCRIPT_VM_GROWSDOWN (1u << 13)

/* Forks deeper than this fail with EAGAIN (a process limit, as fork's). */
#define SCRIPT_MAX_DEPTH 8

/* A backend's fork, besides a positive errno: */
#define SCRIPT_FORK_HERE   0  /* the child goes on here, in this process */
#define SCRIPT_FORK_DONE   -2 /* the child ran to its exit elsewhere */
#define SCRIPT_FORK_FAILED -3 /* it ran elsewhere and failed (reported) */

/* One parsed line. Fields an operation does not use are zero. */
struct script_cmd {
	unsigned lineno; /* 1-based */
	enum script_op op;
	uint64_t off;	   /* OFF */
	uint64_t len;	   /* LEN, or OLDLEN for remap */
	uint64_t new_len;  /* remap: NEWLEN */
	bool has_new_off;  /* remap: NEWOFF given (MREMAP_FIXED) */
	bool dontunmap;	   /* remap: `dontunmap` (MREMAP_DONTUNMAP) */
	uint64_t new_off;  /* remap: NEWOFF */
	unsigned prot;	   /* map, protect: SCRIPT_PROT_* */
	bool shared;	   /* map: `shared` rather than `private` */
	bool growsdown;	   /* map: `growsdown` (MAP_GROWSDOWN) */
	bool noreserve;	   /* map: `noreserve` (MAP_NORESERVE) */
	bool locked;	   /* map: `locked` (MAP_LOCKED) */
	bool populate;	   /* map: `populate` (MAP_POPULATE) */
	int file;	   /* map: 0..7 for F0..F7, -1 for anonymous */
	uint64_t file_off; /* map: FILEOFF in bytes */
	int advice;	   /* advise: the MADV_* value */
	bool has_flags;	   /* lock: flags given (mlock2, not mlock) */
	unsigned flags;	   /* lock: MLOCK_*; lockall: MCL_*; seal */
};

/* An area of the final map, relative to the window base. */
struct script_area {
	uint64_t start;
	uint64_t end;
	unsigned prot; /* SCRIPT_PROT_* */
	bool shared;
	int file;     /* 0..7 for F0..F7, -1 for anonymous; anything else
		       * prints as `unknown` (a backend saw an area it
		       * cannot name, which the diff must show) */
	uint64_t off; /* file offset in bytes; printed as 0 for anon */
	unsigned vm;  /* hidden flags: bits of script_vm_codes */
};

/*
 * A backend's result for a line that did not fail as an errno says: the
 * remap without NEWOFF moved the area (and the backend has unmapped it
 * again, wherever it went).
 */
#define SCRIPT_MOVED_OUT (-1)

typedef int (*script_area_fn)(const struct script_area *area, void *arg);

/*
 * Which kernel a script's results model, where kernels differ (options of
 * script_main; uvma-kernel-replay --probe prints those of the running
 * kernel).
 */
struct script_model {
	/* --no-zero-page: a read fault in private anonymous memory
	 * allocates a page (the area gets its anon_vma) instead of mapping
	 * the zero page (UVMA_MM_NO_ZERO_PAGE). */
	bool no_zero_page;
};

/*
 * What a program plugs into script_main(). Each operation returns 0, a
 * positive errno (the line's error), or SCRIPT_MOVED_OUT (remap only).
 * A backend never sees a line that failed to parse.
 */
struct script_backend {
	const char *name;	 /* the program's name, for messages */
	const char *description; /* one line for --help */
	/* Set up a fresh space modelling model; 0, or -1 after printing
	 * why to stderr (a model the backend cannot follow, say). */
	int (*init)(void *ctx, const struct script_model *model);
	/* --probe (NULL: not offered): fill *model with what the running
	 * system does; 0, or -1 after printing why to stderr. */
	int (*probe)(struct script_model *model);
	int (*map)(void *ctx, const struct script_cmd *cmd);
	int (*unmap)(void *ctx, const struct script_cmd *cmd);
	int (*protect)(void *ctx, const struct script_cmd *cmd);
	int (*remap)(void *ctx, const struct script_cmd *cmd);
	int (*touch)(void *ctx, const struct script_cmd *cmd);
	int (*advise)(void *ctx, const struct script_cmd *cmd);
	int (*lock)(void *ctx, const struct script_cmd *cmd);
	int (*unlock)(void *ctx, const struct script_cmd *cmd);
	int (*lockall)(void *ctx, const struct script_cmd *cmd);
	int (*unlockall)(void *ctx, const struct script_cmd *cmd);
	int (*seal)(void *ctx, const struct script_cmd *cmd);
	int (*memlock)(void *ctx, const struct script_cmd *cmd);
	/*
	 * Call fn for every area of the window in address order; stop and
	 * return fn's value when it is nonzero. Returns 0, or -1 after
	 * printing why to stderr.
	 */
	int (*for_each_area)(void *ctx, script_area_fn fn, void *arg);
	void (*fini)(void *ctx);
	/*
	 * fork: a copy of the current space becomes current
	 * (SCRIPT_FORK_HERE), or the copy has run the lines up to its exit
	 * in a process of its own and printed what it prints
	 * (SCRIPT_FORK_DONE, SCRIPT_FORK_FAILED), or a positive errno.
	 * exit: the current space (a copy) goes and the one that forked it
	 * is current again; status nonzero when the child's lines could not
	 * be run or printed. A backend that forks processes does not return
	 * from it in the child.
	 */
	int (*fork)(void *ctx);
	void (*exit)(void *ctx, int status);
};

/*
 * Parse one line (without or with its newline). Returns 1 and fills *cmd
 * for an operation, 0 for a blank or comment-only line, -1 for a line that
 * cannot be parsed. cmd->lineno is left to the caller.
 */
int script_parse_line(const char *line, struct script_cmd *cmd);

/* "EINVAL", ..., "EOTHER" for a positive errno; "MOVED_OUT" for
 * SCRIPT_MOVED_OUT. */
const char *script_error_name(int err);

/* Print an area in the format of the contract. */
void script_print_area(FILE *out, const struct script_area *area);

/*
 * The whole program: `NAME [--verbose] SCRIPT`. Parses the options, runs
 * every line of SCRIPT through the backend, then prints the errors and the
 * final map to stdout. Returns the exit status: 0 when the script was
 * processed, 1 when it (or the backend's space) could not be set up or
 * read, 2 for a usage error.
 */
int script_main(int argc, char **argv, const struct script_backend *be,
		void *ctx);

/* `uvma replay`: tools/replay.c, called from the uvma command line. */
int replay_main(int argc, char **argv);

#endif
