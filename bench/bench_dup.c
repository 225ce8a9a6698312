/*
 * bench_dup.c - the "dup" scenario: duplicating an address space of N
 * areas (3 pages and a hole each, read-only, as in the ops scenario),
 * uvma_mm_dup followed by the child's uvma_mm_destroy, against the running
 * kernel's fork of this process (holding as many extra VMAs) followed by
 * the child's exit and the parent's wait. Both sides copy the map and tear
 * the copy down; neither has pages to copy. A uvma row's floor is the
 * kernel's run of the same repeat.
 */
#include "bench.h"
#include "uvma.h"
#include "worker.h"

#include <inttypes.h>
#include <sys/wait.h>
#include <unistd.h>

/* Each measurement copies about this many areas in all (at least 3
 * copies), so that small and large maps take a similar time. */
#define AREAS_PER_MEASUREMENT 4000000ull

static uint64_t copies_of(uint64_t n)
{
	uint64_t c = AREAS_PER_MEASUREMENT / n;

	return c < 3 ? 3 : c;
}

/* ns per dup + destroy of the child, or -1. */
static double dup_uvma(void *space, uint64_t copies)
{
	struct uvma_mm *mm = wk_uvma_mm(space);
	uint64_t t0 = bench_now_ns();

	for (uint64_t c = 0; c < copies; c++) {
		struct uvma_mm *child;

		if (uvma_mm_dup(mm, NULL, &child))
			return -1;
		uvma_mm_destroy(child);
	}
	return (double)(bench_now_ns() - t0) / (double)copies;
}

/* ns per fork + the child's exit + wait, or -1. */
static double dup_kernel(uint64_t copies)
{
	uint64_t t0 = bench_now_ns();

	for (uint64_t c = 0; c < copies; c++) {
		int status;
		pid_t pid = fork();

		if (pid < 0)
			return -1;
		if (!pid)
			_exit(0);
		if (waitpid(pid, &status, 0) != pid || status)
			return -1;
	}
	return (double)(bench_now_ns() - t0) / (double)copies;
}

static int measure(const struct bench_opts *o, struct bench_report *rep,
		   void *space, uint64_t n)
{
	uint64_t copies = copies_of(n);

	for (unsigned r = 0; r <= o->repeat; r++) {
		/* Repeat 0 warms up, with fewer copies. */
		uint64_t c = r ? copies : 1;
		double k = dup_kernel(c), u = dup_uvma(space, c);

		if (k < 0 || u < 0) {
			fprintf(stderr, "bench: dup: a call failed\n");
			return -1;
		}
		if (r && (bench_run_ns(rep, "dup", "dup uvma", n, u, k) ||
			  bench_run_ns(rep, "dup", "dup kernel", n, k, -1)))
			return -1;
	}
	return 0;
}

void bench_dup_goals(const struct bench_opts *o, struct bench_report *rep)
{
	for (size_t i = 0; i < o->nsizes || (!o->nsizes && i < 2); i++) {
		uint64_t n = o->nsizes ? o->sizes[i] : i ? 100000 : 1000;
		const struct bench_row *u =
			bench_find(rep, "dup", "dup uvma", 0, n);

		if (u && u->ratio > 0)
			bench_note(rep,
				   "goal dup: uvma at least 5x the kernel's "
				   "fork rate at %" PRIu64 " areas: %.2fx, %s",
				   n, 1 / u->ratio,
				   BENCH_VERDICT(1 / u->ratio >= 5));
	}
}

int bench_dup(const struct bench_opts *o, struct bench_report *rep)
{
	static const uint64_t defaults[] = { 1000, 100000 };
	struct bench_opts p = *o;
	int err = 0;

	if (!p.nsizes) {
		p.sizes = defaults;
		p.nsizes = 2;
	}
	snprintf(rep->title, sizeof(rep->title),
		 "dup: ns per copy of an address space and its teardown "
		 "(uvma: uvma_mm_dup + destroy; kernel: fork + exit + wait), "
		 "median of %u runs; floor = kernel",
		 o->repeat);
	for (size_t i = 0; i < p.nsizes && !err; i++) {
		void *spaces[2] = { NULL, NULL };
		uint64_t n = p.sizes[i];

		bench_progress("dup: %" PRIu64 " areas", n);
		err = wk_uvma.map(&p, &spaces[0], &n) ||
		      wk_kernel.map(&p, &spaces[1], &n) ||
		      measure(&p, rep, spaces[0], n);
		wk_uvma.destroy(spaces[0]);
		wk_kernel.destroy(spaces[1]);
	}
	return err;
}
