/*
 * bench_pager_sides.c - the four designs of the pager scenario behind one
 * set of calls (bench_pager.h): uvma's pager with SIGBUS delivery, uvma's
 * pager with two handler threads, the global pager, and the running
 * kernel's own mmap.
 */
#define _GNU_SOURCE /* sched_setaffinity, MAP_FIXED_NOREPLACE */
#include "bench_pager.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

void pb_pin(unsigned i)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET((int)(i % (unsigned)(n > 0 ? n : 1)), &set);
	(void)sched_setaffinity(0, sizeof(set), &set);
}

/* ---- uvma ---------------------------------------------------------------- */

struct pb_uvma {
	struct uvma_mm *mm;
	uint64_t file_id;
};

static int uvma_open(const struct pb_cfg *c, void **space, bool sigbus)
{
	struct pb_uvma *s = calloc(1, sizeof(*s));
	struct uvma_mm_config cfg;
	int err;

	if (!s)
		return -ENOMEM;
	uvma_mm_config_init(&cfg);
	cfg.base = c->base;
	cfg.size = c->size;
	cfg.flags = UVMA_MM_PAGER | (sigbus ? UVMA_MM_PAGER_SIGBUS : 0);
	cfg.pager_threads = sigbus ? 0 : 2;
	cfg.pager_anon_around = c->anon_around;
	err = uvma_mm_create(&cfg, &s->mm);
	if (!err && c->fd >= 0)
		err = uvma_mm_file_add(s->mm, c->fd, &s->file_id);
	if (err) {
		uvma_mm_destroy(s->mm);
		free(s);
		return err;
	}
	*space = s;
	return 0;
}

static int uvma_open_sigbus(const struct pb_cfg *c, void **space)
{
	return uvma_open(c, space, true);
}

static int uvma_open_threads(const struct pb_cfg *c, void **space)
{
	return uvma_open(c, space, false);
}

static int uvma_map(void *space, uint64_t addr, uint64_t len, int prot,
		    bool file)
{
	struct pb_uvma *s = space;
	uint64_t out;
	unsigned flags = UVMA_MAP_PRIVATE | UVMA_MAP_FIXED_NOREPLACE |
			 (file ? 0 : UVMA_MAP_ANONYMOUS);

	/* UVMA_PROT_* are PROT_* */
	return uvma_mmap(s->mm, addr, len, (unsigned)prot, flags,
			 file ? s->file_id : 0, 0, NULL, &out);
}

static int uvma_unmap(void *space, uint64_t addr, uint64_t len)
{
	return uvma_munmap(((struct pb_uvma *)space)->mm, addr, len);
}

static int uvma_protect(void *space, uint64_t addr, uint64_t len, int prot)
{
	return uvma_mprotect(((struct pb_uvma *)space)->mm, addr, len,
			     (unsigned)prot);
}

static uint64_t uvma_faults(void *space)
{
	struct uvma_pager_stats st;

	uvma_mm_pager_stats(((struct pb_uvma *)space)->mm, &st);
	return st.messages;
}

static void uvma_close(void *space)
{
	struct pb_uvma *s = space;

	uvma_mm_destroy(s->mm);
	free(s);
}

int pb_pager_usable(void)
{
	struct uvma_mm_config cfg;
	struct uvma_mm *mm = NULL;
	int err;

	uvma_mm_config_init(&cfg);
	cfg.base = 0;
	cfg.size = 1u << 20;
	cfg.flags = UVMA_MM_PAGER;
	err = uvma_mm_create(&cfg, &mm);
	uvma_mm_destroy(mm);
	return err;
}

/* ---- the global pager ---------------------------------------------------- */

struct pb_global {
	struct gpager *g;
	int fd;
};

static int global_open(const struct pb_cfg *c, void **space)
{
	struct pb_global *s = calloc(1, sizeof(*s));
	int err = s ? gpager_create(c->base, c->size, &s->g) : -ENOMEM;

	if (err) {
		free(s);
		return err;
	}
	s->fd = c->fd;
	*space = s;
	return 0;
}

static int global_map(void *space, uint64_t addr, uint64_t len, int prot,
		      bool file)
{
	struct pb_global *s = space;

	return gpager_map(s->g, addr, len, prot, file ? s->fd : -1, 0);
}

static int global_unmap(void *space, uint64_t addr, uint64_t len)
{
	(void)len; /* a region goes whole */
	return gpager_unmap(((struct pb_global *)space)->g, addr);
}

static int global_protect(void *space, uint64_t addr, uint64_t len, int prot)
{
	return gpager_protect(((struct pb_global *)space)->g, addr, len, prot);
}

static uint64_t global_faults(void *space)
{
	return gpager_faults(((struct pb_global *)space)->g);
}

static void global_close(void *space)
{
	struct pb_global *s = space;

	gpager_destroy(s->g);
	free(s);
}

/* ---- the kernel ---------------------------------------------------------- */

/* The kernel maps straight into the process: its space is only a window
 * of addresses that close clears. */
struct pb_kernel {
	uint64_t base, size;
	int fd;
};

static int kernel_open(const struct pb_cfg *c, void **space)
{
	struct pb_kernel *s = malloc(sizeof(*s));

	if (!s)
		return -ENOMEM;
	*s = (struct pb_kernel){ c->base, c->size, c->fd };
	*space = s;
	return 0;
}

/* Anonymous memory without transparent huge pages, so that the kernel
 * takes a fault per 4 KiB page as the pagers fill them (the machine's THP
 * setting would otherwise decide, 2 MiB a fault with "always"). */
static int kernel_map(void *space, uint64_t addr, uint64_t len, int prot,
		      bool file)
{
	struct pb_kernel *s = space;
	int flags =
		MAP_PRIVATE | MAP_FIXED_NOREPLACE | (file ? 0 : MAP_ANONYMOUS);
	void *p = mmap((void *)(uintptr_t)addr, len, prot, flags,
		       file ? s->fd : -1, 0);

	if (p == MAP_FAILED)
		return -errno;
	if ((uint64_t)(uintptr_t)p != addr) {
		munmap(p, len); /* an old kernel took it as a hint */
		return -EEXIST;
	}
	if (!file && madvise(p, len, MADV_NOHUGEPAGE))
		return -errno;
	return 0;
}

static int kernel_unmap(void *space, uint64_t addr, uint64_t len)
{
	(void)space;
	return munmap((void *)(uintptr_t)addr, len) ? -errno : 0;
}

static int kernel_protect(void *space, uint64_t addr, uint64_t len, int prot)
{
	(void)space;
	return mprotect((void *)(uintptr_t)addr, len, prot) ? -errno : 0;
}

/* The process's faults: the touching threads', while they run alone. */
static uint64_t kernel_faults(void *space)
{
	struct rusage ru;

	(void)space;
	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)ru.ru_minflt + (uint64_t)ru.ru_majflt;
}

static void kernel_close(void *space)
{
	struct pb_kernel *s = space;

	munmap((void *)(uintptr_t)s->base, s->size);
	free(s);
}

const struct pb_side pb_sides[PB_NSIDES] = {
	[PB_SIGBUS] = { "uvma-sigbus", uvma_open_sigbus, uvma_map, uvma_unmap,
			uvma_protect, uvma_faults, uvma_close },
	[PB_THREADS] = { "uvma-threads", uvma_open_threads, uvma_map,
			 uvma_unmap, uvma_protect, uvma_faults, uvma_close },
	[PB_GLOBAL] = { "global", global_open, global_map, global_unmap,
			global_protect, global_faults, global_close },
	[PB_KERNEL] = { "kernel", kernel_open, kernel_map, kernel_unmap,
			kernel_protect, kernel_faults, kernel_close },
};
