/*
 * bench_util.c - helpers shared by the benchmark scenarios: timing, medians,
 * random numbers, the result report and its JSON form.
 */
#include "bench.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	if (n % 2)
		return v[n / 2];
	return (v[n / 2 - 1] + v[n / 2]) / 2;
}

uint64_t bench_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t bench_rand_below(uint64_t *state, uint64_t n)
{
	/* Multiply-shift instead of modulo: no division on the hot setup
	 * paths, and the bias is negligible for the n we use (< 2^32). */
	return (uint64_t)(((unsigned __int128)bench_rand(state) * n) >> 64);
}

void bench_progress(const char *fmt, ...)
{
	va_list ap;

	fputs("bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int bench_report_add(struct bench_report *rep, const struct bench_result *r)
{
	if (rep->nrows == rep->cap) {
		size_t cap = rep->cap ? rep->cap * 2 : 16;
		struct bench_result *rows;

		rows = realloc(rep->rows, cap * sizeof(*rows));
		if (!rows)
			return -ENOMEM;
		rep->rows = rows;
		rep->cap = cap;
	}
	rep->rows[rep->nrows++] = *r;
	return 0;
}

int bench_note(struct bench_report *rep, const char *fmt, ...)
{
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (len < 0)
		return -EINVAL;
	/* Room for the line, its newline and the terminating NUL. */
	while (rep->notes_len + (size_t)len + 2 > rep->notes_cap) {
		size_t cap = rep->notes_cap ? rep->notes_cap * 2 : 256;
		char *notes = realloc(rep->notes, cap);

		if (!notes)
			return -ENOMEM;
		rep->notes = notes;
		rep->notes_cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(rep->notes + rep->notes_len, (size_t)len + 1, fmt, ap);
	va_end(ap);
	rep->notes_len += (size_t)len;
	rep->notes[rep->notes_len++] = '\n';
	rep->notes[rep->notes_len] = '\0';
	return 0;
}

void bench_report_free(struct bench_report *rep)
{
	free(rep->rows);
	free(rep->notes);
	memset(rep, 0, sizeof(*rep));
}

const struct bench_result *bench_report_find(const struct bench_report *rep,
					     const char *op, size_t size)
{
	size_t i;

	for (i = 0; i < rep->nrows; i++) {
		if (rep->rows[i].size == size && !strcmp(rep->rows[i].op, op))
			return &rep->rows[i];
	}
	return NULL;
}

double bench_ratio(const struct bench_result *r)
{
	if (r->floor_ns_per_op <= 0)
		return -1;
	return r->ns_per_op / r->floor_ns_per_op;
}

/* Our strings are plain identifiers, but escape anyway so the output stays
 * valid JSON whatever a future scenario names its rows. */
void bench_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* A negative value means "not applicable", which JSON spells null. */
void bench_json_number(FILE *f, double v)
{
	if (v < 0)
		fputs("null", f);
	else
		fprintf(f, "%.3f", v);
}

static void json_row(FILE *f, const struct bench_result *r)
{
	fputs("  {\"scenario\": ", f);
	bench_json_string(f, r->scenario);
	fprintf(f, ", \"size\": %zu, \"op\": ", r->size);
	bench_json_string(f, r->op);
	fputs(", \"ns_per_op\": ", f);
	bench_json_number(f, r->ns_per_op);
	fputs(", \"floor_ns_per_op\": ", f);
	bench_json_number(f, r->floor_ns_per_op);
	fputs(", \"ratio\": ", f);
	bench_json_number(f, bench_ratio(r));
	fprintf(f, ", \"repeats\": %u}", r->repeats);
}

int bench_json_array(const char *path, size_t n,
		     void (*row)(FILE *f, size_t i, const void *arg),
		     const void *arg)
{
	FILE *f = fopen(path, "w");
	int err = 0;

	if (!f)
		return -errno;
	fputs("[\n", f);
	for (size_t i = 0; i < n; i++) {
		row(f, i, arg);
		fputs(i + 1 < n ? ",\n" : "\n", f);
	}
	fputs("]\n", f);
	/* Write errors (a full disk) surface at flush time. */
	if (ferror(f))
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

static void report_row(FILE *f, size_t i, const void *arg)
{
	const struct bench_report *rep = arg;

	json_row(f, &rep->rows[i]);
}

int bench_json_write(const char *path, const struct bench_report *rep)
{
	return bench_json_array(path, rep->nrows, report_row, rep);
}

long bench_read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}
