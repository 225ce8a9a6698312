/*
 * replay.c - `uvma replay SCRIPT`: run an operation script (script.h) on a
 * fresh uvma address space whose window is [0, 4 GiB) of 4096-byte pages,
 * and print the failed lines and the final map. uvma-kernel-replay
 * (kernel_replay.c) prints the same for the running kernel; the two outputs
 * must be identical (tests/conformance).
 *
 * Files F0..F7 are file ids 1..8 (0 means anonymous to uvma). Every area
 * gets the same user pointer (NULL), so it never keeps areas apart.
 *
 * Single-threaded: the space is private to this command.
 */
#include <errno.h>
#include <stdio.h>

#include "uvma.h"
#include "script.h"

/* mm[depth] is the current space; mm[0..depth) forked the ones after
 * them (script.h: fork). */
struct replay_space {
	struct uvma_mm *mm[SCRIPT_MAX_DEPTH];
	unsigned depth;
};

#define CUR(rs) ((rs)->mm[(rs)->depth])

static int replay_init(void *arg, const struct script_model *model)
{
	struct replay_space *rs = arg;
	struct uvma_mm_config cfg;
	int r;

	uvma_mm_config_init(&cfg);
	cfg.base = 0;
	cfg.size = SCRIPT_WINDOW_SIZE;
	cfg.page_size = SCRIPT_PAGE_SIZE;
	if (model->no_zero_page)
		cfg.flags |= UVMA_MM_NO_ZERO_PAGE;
	r = uvma_mm_create(&cfg, &rs->mm[0]);
	if (r) {
		fprintf(stderr, "uvma replay: cannot create the space: %s\n",
			uvma_strerror(r));
		return -1;
	}
	return 0;
}

static void replay_fini(void *arg)
{
	struct replay_space *rs = arg;

	for (;;) {
		uvma_mm_destroy(CUR(rs));
		if (!rs->depth)
			break;
		rs->depth--;
	}
}

static int replay_fork(void *arg)
{
	struct replay_space *rs = arg;
	struct uvma_mm *child;
	int r;

	if (rs->depth + 1 >= SCRIPT_MAX_DEPTH)
		return EAGAIN;
	r = uvma_mm_dup(CUR(rs), NULL, &child);
	if (r)
		return -r;
	rs->mm[++rs->depth] = child;
	return SCRIPT_FORK_HERE;
}

static void replay_exit(void *arg, int status)
{
	struct replay_space *rs = arg;

	(void)status; /* the driver has it */
	uvma_mm_destroy(CUR(rs));
	rs->depth--;
}

static int replay_map(void *arg, const struct script_cmd *c)
{
	struct replay_space *rs = arg;
	unsigned flags = UVMA_MAP_FIXED;
	uint64_t file_id = 0, offset = 0, out = 0;
	int r;

	flags |= c->shared ? UVMA_MAP_SHARED : UVMA_MAP_PRIVATE;
	if (c->growsdown)
		flags |= UVMA_MAP_GROWSDOWN;
	if (c->noreserve)
		flags |= UVMA_MAP_NORESERVE;
	if (c->locked)
		flags |= UVMA_MAP_LOCKED;
	if (c->populate)
		flags |= UVMA_MAP_POPULATE;
	if (c->file < 0) {
		flags |= UVMA_MAP_ANONYMOUS;
	} else {
		file_id = (uint64_t)c->file + 1;
		offset = c->file_off;
	}
	r = uvma_mmap(CUR(rs), c->off, c->len, c->prot, flags, file_id, offset,
		      NULL, &out);
	if (r)
		return -r;
	if (out != c->off) {
		/* MAP_FIXED must map exactly there; say so loudly, and fail
		 * the line so the diff with the kernel shows it too. */
		fprintf(stderr,
			"uvma replay: line %u: MAP_FIXED at %#lx mapped at "
			"%#lx\n",
			c->lineno, (unsigned long)c->off, (unsigned long)out);
		return EPROTO;
	}
	return 0;
}

/* A write of one byte: a write fault, which may grow a stack. */
static int replay_touch(void *arg, const struct script_cmd *c)
{
	struct replay_space *rs = arg;

	return -uvma_fault(CUR(rs), c->off, UVMA_ACCESS_WRITE);
}

static int replay_unmap(void *arg, const struct script_cmd *c)
{
	struct replay_space *rs = arg;

	return -uvma_munmap(CUR(rs), c->off, c->len);
}

static int replay_protect(void *arg, const struct script_cmd *c)
{
	struct replay_space *rs = arg;

	return -uvma_mprotect(CUR(rs), c->off, c->len, c->prot);
}

static int replay_remap(void *arg, const struct script_cmd *c)
{
	struct replay_space *rs = arg;
	unsigned flags = UVMA_MREMAP_MAYMOVE;
	uint64_t out = 0;
	int r;

	if (c->has_new_off)
		flags |= UVMA_MREMAP_FIXED;
	if (c->dontunmap)
		flags |= UVMA_MREMAP_DONTUNMAP;
	r = uvma_mremap(CUR(rs), c->off, c->len, c->new_len, flags, c->new_off,
			&out);
	if (r)
		return -r;
	if (c->has_new_off && out != c->new_off) {
		fprintf(stderr,
			"uvma replay: line %u: MREMAP_FIXED to %#lx moved to "
			"%#lx\n",
			c->lineno, (unsigned long)c->new_off,
			(unsigned long)out);
		return EPROTO;
	}
	if (!c->has_new_off && out != c->off) {
		/* Where a moved area lands is the implementation's choice;
		 * the output must not depend on it. */
		r = uvma_munmap(CUR(rs), out, c->new_len);
		if (r) {
			fprintf(stderr,
				"uvma replay: line %u: unmapping the moved "
				"area at %#lx: %s\n",
				c->lineno, (unsigned long)out,
				uvma_strerror(r));
			return EPROTO;
		}
		return SCRIPT_MOVED_OUT;
	}
	return 0;
}

static int replay_advise(void *arg, const struct script_cmd *c)
{
	struct replay_space *rs = arg;

	return -uvma_madvise(CUR(rs), c->off, c->len, c->advice);
}

static int replay_lock(void *arg, const struct script_cmd *c)
{
	struct replay_space *rs = arg;

	return -uvma_mlock(CUR(rs), c->off, c->len, c->flags);
}

static int replay_unlock(void *arg, const struct script_cmd *c)
{
	struct replay_space *rs = arg;

	return -uvma_munlock(CUR(rs), c->off, c->len);
}

static int replay_lockall(void *arg, const struct script_cmd *c)
{
	struct replay_space *rs = arg;

	return -uvma_mlockall(CUR(rs), c->flags);
}

static int replay_memlock(void *arg, const struct script_cmd *c)
{
	struct replay_space *rs = arg;

	uvma_mm_set_memlock_limit(CUR(rs), c->len);
	return 0;
}

static int replay_unlockall(void *arg, const struct script_cmd *c)
{
	struct replay_space *rs = arg;

	(void)c;
	return -uvma_munlockall(CUR(rs));
}

static int replay_seal(void *arg, const struct script_cmd *c)
{
	struct replay_space *rs = arg;

	return -uvma_mseal(CUR(rs), c->off, c->len, c->flags);
}

struct list_arg {
	script_area_fn fn;
	void *arg;
};

static int list_one(const struct uvma_area_info *info, void *arg)
{
	struct list_arg *la = arg;
	struct script_area a;

	a.start = info->start;
	a.end = info->end;
	a.prot = info->prot;
	a.shared = info->flags & UVMA_MAP_SHARED;
	if (info->file_id == 0)
		a.file = -1;
	else if (info->file_id <= SCRIPT_NR_FILES)
		a.file = (int)info->file_id - 1;
	else
		a.file = SCRIPT_NR_FILES; /* prints as unknown */
	a.off = info->pgoff * SCRIPT_PAGE_SIZE;
	/* The script's bits are UVMA_VM_*'s (script.h). */
	a.vm = info->vm_flags;
	if (info->flags & UVMA_MAP_GROWSDOWN)
		a.vm |= SCRIPT_VM_GROWSDOWN;
	return la->fn(&a, la->arg);
}

static int replay_for_each_area(void *arg, script_area_fn fn, void *fn_arg)
{
	struct replay_space *rs = arg;
	struct list_arg la = { fn, fn_arg };
	int r;

	r = uvma_maps(CUR(rs), 0, SCRIPT_WINDOW_SIZE, list_one, &la);
	if (r < 0) {
		fprintf(stderr, "uvma replay: listing the map: %s\n",
			uvma_strerror(r));
		return -1;
	}
	return r;
}

int replay_main(int argc, char **argv)
{
	static const struct script_backend be = {
		.name = "uvma replay",
		.description =
			"Run an operation script on a fresh uvma address "
			"space, window [0, 4 GiB).",
		.init = replay_init,
		.map = replay_map,
		.unmap = replay_unmap,
		.protect = replay_protect,
		.remap = replay_remap,
		.touch = replay_touch,
		.advise = replay_advise,
		.lock = replay_lock,
		.unlock = replay_unlock,
		.lockall = replay_lockall,
		.unlockall = replay_unlockall,
		.memlock = replay_memlock,
		.seal = replay_seal,
		.for_each_area = replay_for_each_area,
		.fini = replay_fini,
		.fork = replay_fork,
		.exit = replay_exit,
	};
	struct replay_space rs = { { NULL }, 0 };

	return script_main(argc, argv, &be, &rs);
}
