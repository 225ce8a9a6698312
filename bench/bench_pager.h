/*
 * bench_pager.h - the pager scenario of `uvma bench` (bench_pager.c,
 * docs/bench.md): what its files share. Four designs give a range of real
 * memory whose missing pages something fills: uvma's pager with SIGBUS or
 * with handler threads, the global pager (bench_pager_global.c) and the
 * running kernel; each is a side (bench_pager_sides.c) with the same few
 * calls, so that one workload drives all four alike.
 */
#ifndef UVMA_BENCH_PAGER_H
#define UVMA_BENCH_PAGER_H

#include <stdbool.h>
#include <stdint.h>

#include "bench.h"
#include <uvma.h>

#define PB_PAGE 4096u
/* Each side's space at a place of its own, side d at PB_BASE + d *
 * PB_STRIDE, a TiB apart, below where Linux puts a PIE program and its
 * heap (0x555555554000 and up). */
#define PB_BASE	  UINT64_C(0x500000000000)
#define PB_STRIDE (UINT64_C(1) << 40)

/* What a side's space is made with. */
struct pb_cfg {
	uint64_t base;	      /* the space's fixed place in the process */
	uint64_t size;	      /* bytes, a multiple of PB_PAGE */
	uint32_t anon_around; /* uvma: pager_anon_around (0: one page) */
	int fd;		      /* the file of file mappings, or -1 */
};

/*
 * A design. Every address is absolute, inside [base, base + size); map
 * puts a private mapping (of the file at offset 0 when file, else
 * anonymous) where nothing is mapped; unmap removes one whole mapping.
 * prot is PROT_*. Each returns 0 or a negative errno.
 */
struct pb_side {
	const char *name;
	int (*open)(const struct pb_cfg *c, void **space);
	int (*map)(void *space, uint64_t addr, uint64_t len, int prot,
		   bool file);
	int (*unmap)(void *space, uint64_t addr, uint64_t len);
	int (*protect)(void *space, uint64_t addr, uint64_t len, int prot);
	uint64_t (*faults)(void *space); /* taken so far by the space */
	void (*close)(void *space);
};

enum { PB_SIGBUS, PB_THREADS, PB_GLOBAL, PB_KERNEL, PB_NSIDES };
extern const struct pb_side pb_sides[PB_NSIDES];

/* 0 when userfaultfd may be used here, else the negative errno of trying
 * (uvma_mm_create of a small pager space). */
int pb_pager_usable(void);

/*
 * The global pager: one handler thread reading userfaultfd a message at a
 * time, one mutex around the region lookup and the fill, and around every
 * region change (bench_pager_global.c).
 */
struct gpager;
int gpager_create(uint64_t base, uint64_t size, struct gpager **out);
/* A region of the file fd at offset off (fd -1: anonymous) at [addr,
 * addr + len), made accessible with prot; -EEXIST over another. */
int gpager_map(struct gpager *g, uint64_t addr, uint64_t len, int prot, int fd,
	       uint64_t off);
/* Remove the region that starts at addr (its pages discarded, its range
 * inaccessible again); -ENOENT without one. */
int gpager_unmap(struct gpager *g, uint64_t addr);
int gpager_protect(struct gpager *g, uint64_t addr, uint64_t len, int prot);
uint64_t gpager_faults(struct gpager *g); /* messages handled */
uint64_t gpager_errors(struct gpager *g); /* fills that failed */
void gpager_destroy(struct gpager *g);

/* The churn workload (bench_pager_churn.c): rows "churn" of every chosen
 * side, o->repeat runs each, sides interleaved; 0 or -1. */
int pb_churn(const struct bench_opts *o, struct bench_report *rep,
	     const bool *on);

/* Pin the calling thread to CPU i modulo the CPUs online (best effort):
 * with as many threads as CPUs, each has one of its own. */
void pb_pin(unsigned i);

#endif
