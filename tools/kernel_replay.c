/*
 * kernel_replay.c - uvma-kernel-replay: run an operation script (script.h)
 * against the running kernel, in this very process, and print the result in
 * the format of `uvma replay`. It is the reference tests/conformance diffs
 * uvma against; it does not use the library at all.
 *
 * The window. Script offsets are relative to a 4 GiB window inside this
 * process, found at a fixed high address (0x500000000000, or lower ones if
 * that is taken) far below where the kernel places mappings of its own
 * choosing (top-down from under the stack) and far above the program and
 * its heap. Directly on both sides of the window sits a guard: a shared
 * anonymous PROT_NONE mapping (the one above as large as the window, the
 * one below 1 MiB). Shared anonymous memory never merges (each mapping has
 * its own shmem file), so no script area can merge with anything outside
 * the window, and the guard above keeps mremap from growing an area in
 * place past the window's end, as the end of the user address space would.
 * The window itself is left unmapped.
 *
 * Nothing outside the window is ever touched. An operation whose
 * page-rounded range does not fit inside the window models one that reaches
 * past the end of the address space (uvma's window is the whole space), so
 * the kernel is given an address past any user address instead (OFF +
 * 2^57, same page offset): it then answers with the error it gives for a
 * range past TASK_SIZE without touching anything. Ranges that start inside
 * and end outside need more care, because Linux acts on the part inside
 * before it fails, or without failing at all (checked against TASK_SIZE
 * itself): mprotect is given the part inside the window, and a success
 * reports ENOMEM, as the hole past the end would; mremap, madvise, mlock,
 * munlock and mseal are given the real range while the high guard steps
 * aside, leaving a hole past the window's end (mremap: except a shrink, which
 * unmaps its old range's tail whatever is there: its old range is made to end
 * past any user address instead; see kernel_remap and kernel_range). The one
 * thing not modelled: a remap that grows by more than the window can hold moves
 * on Linux, where uvma has no room (ENOMEM).
 *
 * A mapping is MAP_NORESERVE when its line says `noreserve`; otherwise a
 * private writable one is charged (VM_ACCOUNT, smaps' `ac`), as uvma
 * models with overcommit allowed (vm.overcommit_memory 0 or 1; under 2
 * Linux ignores MAP_NORESERVE, so the program refuses to run). No page is
 * touched but by a `touch` line (a real one-byte write, its SIGSEGV or SIGBUS
 * caught): a touched private area gets an anon_vma, which uvma models. Files
 * F0..F7 are memfds ("/memfd:F0 (deleted)" in /proc/self/maps), sparse 16 GiB,
 * read-write.
 *
 * The syscalls are made through syscall(2), not the libc wrappers, so that
 * the kernel, not libc, checks every argument.
 *
 * Single-threaded, and it must stay so: it reads /proc/self/maps and
 * expects nothing but the script to change the window.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "script.h"

#define WINDOW SCRIPT_WINDOW_SIZE
#define PAGE   SCRIPT_PAGE_SIZE
/* Below the window a page would do; above it, the guard must be as large
 * as the window (see kernel_remap). */
#define LOW_GUARD  (1ULL << 20)
#define HIGH_GUARD WINDOW
/* A guard merges with nothing: shared anonymous memory is its own file. */
#define GUARD_FLAGS (MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE)
/* Past any user address: 2^57 is above even a 5-level TASK_SIZE. */
#define BEYOND	  (1ULL << 57)
#define FILE_SIZE (16ULL << 30)

struct kernel_space {
	uint64_t base;
	int fd[SCRIPT_NR_FILES];
};

/* Raw syscalls: -1 and errno on failure, as syscall(2) returns. */
static long sys_mmap(uint64_t addr, uint64_t len, int prot, int flags, int fd,
		     uint64_t off)
{
	return syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

static long sys_munmap(uint64_t addr, uint64_t len)
{
	return syscall(SYS_munmap, addr, len);
}

static long sys_mprotect(uint64_t addr, uint64_t len, int prot)
{
	return syscall(SYS_mprotect, addr, len, prot);
}

static long sys_mremap(uint64_t old, uint64_t old_len, uint64_t new_len,
		       int flags, uint64_t new_addr)
{
	return syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
}

/* Reserve [base - guard, base + WINDOW + guard) exactly at base, or fail. */
static int reserve_at(uint64_t base)
{
	uint64_t lo = base - LOW_GUARD, total = LOW_GUARD + WINDOW + HIGH_GUARD;
	long r;

	r = sys_mmap(lo, total, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			     MAP_FIXED_NOREPLACE,
		     -1, 0);
	if (r == -1)
		return -1;
	if ((uint64_t)r != lo) {
		/* A kernel without MAP_FIXED_NOREPLACE took it as a hint. */
		sys_munmap((uint64_t)r, total);
		return -1;
	}
	return 0;
}

/* A touch's fault: where to go back to, and what the kernel said. */
static sigjmp_buf touch_env;
static volatile sig_atomic_t touch_code;

static volatile sig_atomic_t touch_sig;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	touch_sig = sig;
	touch_code = si->si_code;
	siglongjmp(touch_env, 1);
}

/* The SIGSEGV and SIGBUS handler for touch, and uvma's default stack
 * limit (8 MiB) as RLIMIT_STACK, so that growth stops where uvma's does. */
static int touch_init(void)
{
	struct rlimit rl = { 8ULL << 20, 8ULL << 20 };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	if (sigaction(SIGSEGV, &sa, NULL) || sigaction(SIGBUS, &sa, NULL) ||
	    getrlimit(RLIMIT_STACK, &rl))
		return -1;
	rl.rlim_cur = 8ULL << 20;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rl.rlim_cur)
		return -1;
	return setrlimit(RLIMIT_STACK, &rl);
}

/* Whether Linux honours MAP_NORESERVE here (vm.overcommit_memory is not
 * 2, "never"): what uvma models. */
static int overcommit_allowed(void)
{
	FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
	int mode = 0;

	if (!f)
		return 1; /* no procfs: assume the default */
	if (fscanf(f, "%d", &mode) != 1)
		mode = 0;
	fclose(f);
	return mode != 2;
}

static int kernel_for_each_area(void *arg, script_area_fn fn, void *fn_arg);

/* The end of the first writable area (the probe's written page). */
static int end_of_first_rw(const struct script_area *a, void *arg)
{
	if (!(a->prot & SCRIPT_PROT_WRITE))
		return 0;
	*(uint64_t *)arg = a->end;
	return 1;
}

/*
 * Whether this kernel maps the zero page on a read fault of private
 * anonymous memory (the usual case), or allocates a page and so gives the
 * area an anon_vma (mm_forbids_zeropage, or a kernel booted without a zero
 * page). Asked the way scripts see it, by a merge: a written page, a gap,
 * a page only read; the gap mapped joins all three only if the read page
 * is still untouched. Shared anonymous guards on both sides keep the
 * pages from merging with anything else. 1, 0, or -1 after printing why.
 */
static int kernel_has_zero_page(void)
{
	const uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE);
	const int rw = PROT_READ | PROT_WRITE;
	const int fixed = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
	struct kernel_space probe = { 0 };
	uint64_t end = 0;
	long r;
	int ret = -1;

	r = sys_mmap(0, 5 * ps, PROT_NONE, GUARD_FLAGS, -1, 0);
	if (r == -1)
		goto out;
	probe.base = (uint64_t)r;
	if (sys_mmap(probe.base + ps, ps, rw, fixed, -1, 0) == -1 ||
	    sys_mmap(probe.base + 3 * ps, ps, rw, fixed, -1, 0) == -1)
		goto out;
	*(volatile char *)(uintptr_t)(probe.base + ps) = 1;
	(void)*(volatile char *)(uintptr_t)(probe.base + 3 * ps);
	if (sys_mmap(probe.base + 2 * ps, ps, rw, fixed, -1, 0) == -1 ||
	    kernel_for_each_area(&probe, end_of_first_rw, &end) < 0)
		goto out;
	ret = end == 4 * ps;
out:
	if (ret < 0)
		perror("uvma-kernel-replay: probing the zero page");
	if (probe.base)
		sys_munmap(probe.base, 5 * ps);
	return ret;
}

static int kernel_probe(struct script_model *model)
{
	int zero = kernel_has_zero_page();

	if (zero < 0)
		return -1;
	model->no_zero_page = !zero;
	return 0;
}

static int kernel_init(void *arg, const struct script_model *model)
{
	static const uint64_t hints[] = {
		0x500000000000ULL, 0x400000000000ULL, 0x300000000000ULL,
		0x200000000000ULL, 0x100000000000ULL,
	};
	struct kernel_space *ks = arg;
	uint64_t base = 0;
	size_t i;
	int f;

	if (model->no_zero_page && kernel_has_zero_page() != 0) {
		fprintf(stderr, "uvma-kernel-replay: --no-zero-page: this "
				"kernel maps the zero page (see --probe)\n");
		return -1;
	}
	if (!overcommit_allowed()) {
		fprintf(stderr,
			"uvma-kernel-replay: vm.overcommit_memory is 2: "
			"Linux then ignores MAP_NORESERVE, which uvma "
			"models as with overcommit allowed\n");
		return -1;
	}
	for (f = 0; f < SCRIPT_NR_FILES; f++) {
		char name[8];

		snprintf(name, sizeof(name), "F%d", f);
		ks->fd[f] = memfd_create(name, MFD_CLOEXEC);
		if (ks->fd[f] < 0 || ftruncate(ks->fd[f], FILE_SIZE)) {
			perror("uvma-kernel-replay: memfd");
			return -1;
		}
	}

	for (i = 0; i < sizeof(hints) / sizeof(hints[0]); i++) {
		if (!reserve_at(hints[i])) {
			base = hints[i];
			break;
		}
	}
	if (!base) {
		fprintf(stderr, "uvma-kernel-replay: no free window\n");
		return -1;
	}

	/* The guards replace the reservation's ends in place, so nothing can
	 * slip in between; then the window is opened up. */
	if (sys_mmap(base - LOW_GUARD, LOW_GUARD, PROT_NONE,
		     GUARD_FLAGS | MAP_FIXED, -1, 0) == -1 ||
	    sys_mmap(base + WINDOW, HIGH_GUARD, PROT_NONE,
		     GUARD_FLAGS | MAP_FIXED, -1, 0) == -1 ||
	    sys_munmap(base, WINDOW)) {
		perror("uvma-kernel-replay: window");
		return -1;
	}
	ks->base = base;
	if (touch_init()) {
		perror("uvma-kernel-replay: SIGSEGV handler, RLIMIT_STACK");
		return -1;
	}
	return 0;
}

static void kernel_fini(void *arg)
{
	struct kernel_space *ks = arg;
	int f;

	sys_munmap(ks->base - LOW_GUARD, LOW_GUARD + WINDOW + HIGH_GUARD);
	for (f = 0; f < SCRIPT_NR_FILES; f++)
		close(ks->fd[f]);
}

/* len rounded up to pages; the caller checks that it cannot overflow. */
static uint64_t page_round(uint64_t len)
{
	return (len + PAGE - 1) & ~(PAGE - 1);
}

/*
 * Whether [off, off + len rounded up to pages) lies in the window; false
 * when the rounding or the sum overflows. off itself must be inside even
 * when len is 0: mremap with an old length of 0 looks at the area at off,
 * and at the window's end that would be the guard.
 */
static int in_window(uint64_t off, uint64_t len)
{
	if (len > UINT64_MAX - (PAGE - 1))
		return 0;
	return off < WINDOW && page_round(len) <= WINDOW - off;
}

/* The address the kernel is given for a script range (see the top). */
static uint64_t kaddr(const struct kernel_space *ks, uint64_t off, uint64_t len)
{
	if (in_window(off, len))
		return ks->base + off;
	return off >= BEYOND ? off : off + BEYOND;
}

static int kernel_map(void *arg, const struct script_cmd *c)
{
	struct kernel_space *ks = arg;
	int flags = MAP_FIXED;
	int fd = -1;
	uint64_t off = 0;

	flags |= c->shared ? MAP_SHARED : MAP_PRIVATE;
	if (c->growsdown)
		flags |= MAP_GROWSDOWN;
	if (c->noreserve)
		flags |= MAP_NORESERVE;
	if (c->locked)
		flags |= MAP_LOCKED;
	if (c->populate)
		flags |= MAP_POPULATE;
	if (c->file < 0) {
		flags |= MAP_ANONYMOUS;
	} else {
		fd = ks->fd[c->file];
		off = c->file_off;
	}
	if (sys_mmap(kaddr(ks, c->off, c->len), c->len, (int)c->prot, flags, fd,
		     off) == -1)
		return errno;
	return 0;
}

/* A real write of one byte; past the window, nothing is (EFAULT). */
static int kernel_touch(void *arg, const struct script_cmd *c)
{
	struct kernel_space *ks = arg;

	if (c->off >= WINDOW)
		return EFAULT;
	touch_code = 0;
	touch_sig = 0;
	if (sigsetjmp(touch_env, 1)) {
		if (touch_sig == SIGBUS)
			return EIO; /* past the end of a shmem object */
		return touch_code == SEGV_ACCERR ? EACCES : EFAULT;
	}
	*(volatile char *)(uintptr_t)(ks->base + c->off) = 1;
	return 0;
}

static int kernel_unmap(void *arg, const struct script_cmd *c)
{
	struct kernel_space *ks = arg;

	if (sys_munmap(kaddr(ks, c->off, c->len), c->len))
		return errno;
	return 0;
}

static int kernel_protect(void *arg, const struct script_cmd *c)
{
	struct kernel_space *ks = arg;

	/* Starts in the window, ends past it (without overflowing): the
	 * kernel sees the part inside, and the window's end is a hole. (A
	 * length of 0 is a no-op wherever it is.) */
	if (c->len && c->off <= WINDOW && !in_window(c->off, c->len) &&
	    c->len <= UINT64_MAX - (PAGE - 1)) {
		if (page_round(c->len) <= UINT64_MAX - c->off) {
			if (sys_mprotect(ks->base + c->off, WINDOW - c->off,
					 (int)c->prot))
				return errno;
			return ENOMEM;
		}
	}
	/* Inside the window, or an overflow the kernel rejects before
	 * anything else: the window's base only makes it overflow sooner. */
	if (sys_mprotect(c->off <= WINDOW ? ks->base + c->off
					  : kaddr(ks, c->off, c->len),
			 c->len, (int)c->prot))
		return errno;
	return 0;
}

/* The high guard steps aside, leaving a hole past the window's end as
 * past the end of the address space, and comes back: 0 or EPROTO. */
static int guard_open(const struct kernel_space *ks)
{
	if (sys_munmap(ks->base + WINDOW, HIGH_GUARD)) {
		perror("uvma-kernel-replay: opening the high guard");
		return EPROTO;
	}
	return 0;
}

/* Nothing can have taken the guard's place: the calls made while it was
 * away put areas only into the window, and nothing else runs. */
static int guard_close(const struct kernel_space *ks)
{
	if (sys_mmap(ks->base + WINDOW, HIGH_GUARD, PROT_NONE,
		     GUARD_FLAGS | MAP_FIXED_NOREPLACE, -1, 0) == -1) {
		perror("uvma-kernel-replay: closing the high guard");
		return EPROTO;
	}
	return 0;
}

/*
 * A call over [off, off + len) that acts on the areas of the range and
 * fails with ENOMEM at a hole (madvise, mlock, munlock): a range that
 * starts in the window and ends past it meets a real hole there, the
 * guard stepping aside for the call (cut at the guard's end: nothing past
 * the hole can matter), so that Linux fails as it does at the end of the
 * address space (mlock then faults nothing in).
 */
static int
kernel_range(const struct kernel_space *ks, const struct script_cmd *c,
	     long (*call)(uint64_t, uint64_t, const struct script_cmd *))
{
	if (c->len && c->off < WINDOW && !in_window(c->off, c->len) &&
	    c->len <= UINT64_MAX - (PAGE - 1) &&
	    page_round(c->len) <= UINT64_MAX - c->off) {
		uint64_t room = WINDOW + HIGH_GUARD - c->off;
		uint64_t len = page_round(c->len) < room ? c->len : room;
		int err = guard_open(ks);

		if (err)
			return err;
		err = call(ks->base + c->off, len, c) ? errno : 0;
		if (guard_close(ks))
			return EPROTO;
		return err;
	}
	/* At or past the window's end: past any user address, as in uvma
	 * (not the guard there). */
	if (call(c->off < WINDOW ? ks->base + c->off
				 : kaddr(ks, c->off, c->len),
		 c->len, c))
		return errno;
	return 0;
}

static long call_madvise(uint64_t addr, uint64_t len,
			 const struct script_cmd *c)
{
	return syscall(SYS_madvise, addr, len, c->advice);
}

static long call_mlock(uint64_t addr, uint64_t len, const struct script_cmd *c)
{
	if (c->has_flags)
		return syscall(SYS_mlock2, addr, len, c->flags);
	return syscall(SYS_mlock, addr, len);
}

static long call_munlock(uint64_t addr, uint64_t len,
			 const struct script_cmd *c)
{
	(void)c;
	return syscall(SYS_munlock, addr, len);
}

#ifndef SYS_mseal
#define SYS_mseal 462 /* Linux 6.10, every architecture */
#endif

static long call_mseal(uint64_t addr, uint64_t len, const struct script_cmd *c)
{
	return syscall(SYS_mseal, addr, len, c->flags);
}

/* mseal checks the whole range for holes before it seals anything: with
 * the real hole past the window's end (kernel_range) it seals nothing. */
static int kernel_seal(void *arg, const struct script_cmd *c)
{
	return kernel_range(arg, c, call_mseal);
}

static int kernel_advise(void *arg, const struct script_cmd *c)
{
	return kernel_range(arg, c, call_madvise);
}

static int kernel_lock(void *arg, const struct script_cmd *c)
{
	return kernel_range(arg, c, call_mlock);
}

static int kernel_unlock(void *arg, const struct script_cmd *c)
{
	return kernel_range(arg, c, call_munlock);
}

/* mlockall and munlockall act on the whole process: outside the window
 * only the guards (PROT_NONE: nothing to fault in) and the program. */
static int kernel_lockall(void *arg, const struct script_cmd *c)
{
	(void)arg;
	return syscall(SYS_mlockall, c->flags) ? errno : 0;
}

/* RLIMIT_MEMLOCK counts only for a process without CAP_IPC_LOCK: it
 * leaves the effective set (for good: nothing here needs it back). */
static int drop_ipc_lock(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return errno;
	d[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
	return syscall(SYS_capset, &h, d) ? errno : 0;
}

static int kernel_memlock(void *arg, const struct script_cmd *c)
{
	struct rlimit rl = { c->len, c->len };
	int err = drop_ipc_lock();

	(void)arg;
	if (err) {
		fprintf(stderr,
			"uvma-kernel-replay: dropping CAP_IPC_LOCK: %s\n",
			strerror(err));
		return EPROTO;
	}
	if (setrlimit(RLIMIT_MEMLOCK, &rl)) {
		perror("uvma-kernel-replay: setrlimit(RLIMIT_MEMLOCK)");
		return EPROTO;
	}
	return 0;
}

static int kernel_unlockall(void *arg, const struct script_cmd *c)
{
	(void)arg;
	(void)c;
	return syscall(SYS_munlockall) ? errno : 0;
}

static int kernel_remap(void *arg, const struct script_cmd *c)
{
	struct kernel_space *ks = arg;
	uint64_t old = kaddr(ks, c->off, c->len), old_len = c->len;
	uint64_t new_addr = 0;
	int flags = MREMAP_MAYMOVE, err = 0, open_top = 0;
	long r;

	/*
	 * An old range that starts in the window and ends past it. A shrink
	 * unmaps the old range's tail whatever is mapped there, so the tail
	 * is made to reach past the end of the address space, where its
	 * unmap fails as it would past TASK_SIZE. Anything else only looks
	 * at the areas in the old range (a pure move moves those before
	 * the end, the same size alone is a no-op, growing needs one area):
	 * past the window's end there must then be a hole, not the guard,
	 * so the guard steps aside for the call. It is as large as the
	 * window, so a range that fits in the window (every one the kernel
	 * would act on: the destination of a move is in the window) ends
	 * inside it.
	 */
	if (c->off < WINDOW && !in_window(c->off, c->len) &&
	    c->len <= UINT64_MAX - (PAGE - 1)) {
		if (c->new_len <= UINT64_MAX - (PAGE - 1) &&
		    page_round(c->new_len) < page_round(c->len)) {
			old = ks->base + c->off;
			old_len = BEYOND;
		} else if (page_round(c->len) <= WINDOW + HIGH_GUARD - c->off) {
			old = ks->base + c->off;
			open_top = 1;
		}
	}
	if (c->dontunmap)
		flags |= MREMAP_DONTUNMAP;
	if (c->has_new_off) {
		flags |= MREMAP_FIXED;
		new_addr = kaddr(ks, c->new_off, c->new_len);
	}
	if (open_top && guard_open(ks))
		return EPROTO;
	r = sys_mremap(old, old_len, c->new_len, flags, new_addr);
	if (r == -1)
		err = errno;
	if (open_top && guard_close(ks))
		return EPROTO;
	if (err)
		return err;
	if (!c->has_new_off && (uint64_t)r != old) {
		/* Wherever it went (likely outside the window), it goes. */
		if (sys_munmap((uint64_t)r, c->new_len)) {
			perror("uvma-kernel-replay: unmapping a moved area");
			return EPROTO;
		}
		return SCRIPT_MOVED_OUT;
	}
	return 0;
}

/* The file an area of /proc/self/maps belongs to, by its name. */
static int area_file(const char *name, char perms_share)
{
	int f;

	if (!*name && perms_share == 'p')
		return -1;
	/* Linux backs shared anonymous memory with a shmem file named so. */
	if (!strcmp(name, "/dev/zero (deleted)") && perms_share == 's')
		return -1;
	if (sscanf(name, "/memfd:F%d (deleted)", &f) == 1 && f >= 0 &&
	    f < SCRIPT_NR_FILES) {
		char expect[32];

		snprintf(expect, sizeof(expect), "/memfd:F%d (deleted)", f);
		if (!strcmp(name, expect))
			return f;
	}
	fprintf(stderr, "uvma-kernel-replay: unknown area name '%s'\n", name);
	return SCRIPT_NR_FILES;
}

/* The codes of a VmFlags line that scripts compare (script.h). */
static unsigned vm_flags_of(const char *line)
{
	char buf[512], *save, *tok;
	unsigned vm = 0;
	int i;

	snprintf(buf, sizeof(buf), "%s", line + strlen("VmFlags:"));
	for (tok = strtok_r(buf, " \n", &save); tok;
	     tok = strtok_r(NULL, " \n", &save))
		for (i = 0; i < SCRIPT_VM_NR; i++)
			if (!strcmp(tok, script_vm_codes[i]))
				vm |= 1u << i;
	return vm;
}

/* An area's first line in /proc/self/smaps, as in /proc/self/maps: 1 and
 * *a when line is one, 0 when it is one outside the window, -1 else. */
static int area_line(const struct kernel_space *ks, char *line,
		     struct script_area *a)
{
	unsigned long start, end, off;
	char perms[8];
	char *name;
	int n = 0;

	if (sscanf(line, "%lx-%lx %7s %lx %*s %*s%n", &start, &end, perms, &off,
		   &n) != 4 ||
	    !n || strlen(perms) != 4)
		return -1;
	if (start < ks->base || end > ks->base + WINDOW)
		return 0;
	name = line + n;
	name += strspn(name, " ");
	name[strcspn(name, "\n")] = '\0';
	a->start = start - ks->base;
	a->end = end - ks->base;
	a->prot = (perms[0] == 'r' ? SCRIPT_PROT_READ : 0) |
		  (perms[1] == 'w' ? SCRIPT_PROT_WRITE : 0) |
		  (perms[2] == 'x' ? SCRIPT_PROT_EXEC : 0);
	a->shared = perms[3] == 's';
	a->file = area_file(name, perms[3]);
	a->off = off;
	a->vm = 0;
	return 1;
}

/*
 * The areas of the window, from /proc/self/smaps: each area's first line
 * (as in /proc/self/maps), then lines "Key: value", the last of which is
 * VmFlags; an area is passed to fn once its VmFlags line is read.
 */
static int kernel_for_each_area(void *arg, script_area_fn fn, void *fn_arg)
{
	struct kernel_space *ks = arg;
	struct script_area a;
	char *line = NULL;
	size_t cap = 0;
	int ret = 0, in = 0;
	FILE *smaps;

	smaps = fopen("/proc/self/smaps", "r");
	if (!smaps) {
		perror("uvma-kernel-replay: /proc/self/smaps");
		return -1;
	}
	while (getline(&line, &cap, smaps) != -1) {
		size_t key = strcspn(line, " :");

		if (line[key] == ':') {
			if (in && !strncmp(line, "VmFlags:", 8)) {
				a.vm = vm_flags_of(line);
				in = 0;
				ret = fn(&a, fn_arg);
				if (ret)
					break;
			}
			continue;
		}
		in = area_line(ks, line, &a);
		if (in < 0) {
			fprintf(stderr, "uvma-kernel-replay: bad smaps line %s",
				line);
			ret = -1;
			break;
		}
	}
	free(line);
	fclose(smaps);
	return ret;
}

/*
 * A real fork: the child process goes on with the script's lines up to its
 * exit, prints its part and ends; the parent waits for it. Output is
 * flushed first, so that nothing buffered is printed twice.
 */
static int kernel_fork(void *arg)
{
	int status;
	pid_t pid;

	(void)arg;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return errno;
	if (!pid)
		return SCRIPT_FORK_HERE;
	if (waitpid(pid, &status, 0) != pid) {
		perror("uvma-kernel-replay: waitpid");
		return SCRIPT_FORK_FAILED;
	}
	return WIFEXITED(status) && !WEXITSTATUS(status) ? SCRIPT_FORK_DONE
							 : SCRIPT_FORK_FAILED;
}

static void kernel_exit(void *arg, int status)
{
	(void)arg;
	fflush(stdout);
	fflush(stderr);
	_exit(status ? 1 : 0);
}

int main(int argc, char **argv)
{
	static const struct script_backend be = {
		.name = "uvma-kernel-replay",
		.description = "Run an operation script against the running "
			       "kernel,\nin a 4 GiB window of this process.",
		.init = kernel_init,
		.probe = kernel_probe,
		.map = kernel_map,
		.unmap = kernel_unmap,
		.protect = kernel_protect,
		.remap = kernel_remap,
		.touch = kernel_touch,
		.advise = kernel_advise,
		.lock = kernel_lock,
		.unlock = kernel_unlock,
		.lockall = kernel_lockall,
		.unlockall = kernel_unlockall,
		.memlock = kernel_memlock,
		.seal = kernel_seal,
		.for_each_area = kernel_for_each_area,
		.fini = kernel_fini,
		.fork = kernel_fork,
		.exit = kernel_exit,
	};
	struct kernel_space ks = { 0 };

	return script_main(argc, argv, &be, &ks);
}
