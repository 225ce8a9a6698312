/*
 * worker_util.c - what both sides of a worker share: result defaults and
 * the latency samples.
 */
#define _GNU_SOURCE /* sched_setaffinity, CPU_SET */
#include "worker.h"

#include <sched.h>
#include <unistd.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void wk_result_init(struct wk_result *r, uint64_t areas, unsigned threads)
{
	memset(r, 0, sizeof(*r));
	r->areas = areas;
	r->threads = threads;
	r->faults_per_s = -1;
	r->base_faults_per_s = -1;
	r->ops_per_s = -1;
	r->p50_ns = -1;
	r->p99_ns = -1;
	r->bytes_per_vma = -1;
	r->lock_bytes = -1;
	r->rcu_cbs_per_free = -1;
}

int wk_lat_init(struct wk_lat *l, size_t cap)
{
	l->n = 0;
	l->cap = cap;
	l->ns = malloc(cap * sizeof(*l->ns));
	return l->ns ? 0 : -ENOMEM;
}

void wk_lat_free(struct wk_lat *l)
{
	free(l->ns);
	l->ns = NULL;
	l->n = l->cap = 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

void wk_lat_percentiles(struct wk_lat *ls, size_t n, double *p50, double *p99)
{
	size_t total = 0, at = 0;
	uint32_t *all;

	*p50 = *p99 = -1;
	for (size_t i = 0; i < n; i++)
		total += ls[i].n;
	if (!total)
		return;
	all = malloc(total * sizeof(*all));
	if (!all)
		return;
	for (size_t i = 0; i < n; i++) {
		memcpy(all + at, ls[i].ns, ls[i].n * sizeof(*all));
		at += ls[i].n;
	}
	qsort(all, total, sizeof(*all), cmp_u32);
	*p50 = all[total / 2];
	*p99 = all[(size_t)((double)(total - 1) * 0.99)];
	free(all);
}

void wk_sleep_s(double seconds)
{
	struct timespec ts;

	if (seconds <= 0)
		return;
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

void wk_pin(unsigned index)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;

	if (n <= 0)
		return;
	CPU_ZERO(&set);
	CPU_SET((int)(index % (unsigned)n), &set);
	(void)sched_setaffinity(0, sizeof(set), &set);
}
