/*
 * bench_report.c - the one pipeline of `uvma bench` (bench.h): rows and
 * their runs, medians and ratios, the tables and the JSON.
 */
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *const keys[BM_N] = {
	"faults_per_s",	    "base_faults_per_s",
	"ops_per_s",	    "p50_ns",
	"p99_ns",	    "fallbacks",
	"retries",	    "errors",
	"bytes_per_vma",    "lock_bytes",
	"rcu_cbs_per_free", "ns_per_op",
	"ns_per_page",	    "faults_per_page",
	"base_p99_ns",	    "floor_ns_per_op",
};

/* A column of a table: a metric, or one of the BC_ values. */
struct bench_col {
	const char *head;
	int width; /* negative: left-aligned */
	int what;
	const char *fmt; /* a number's conversion, "%*.2f"; NULL: a rate */
};
/* BC_PIVOT: a column per name (design), of the lines of one scenario and
 * thread count each: the headline and the ratio (print_pivot). */
enum { BC_SCENARIO = BM_N, BC_NAME, BC_THREADS, BC_SIZE, BC_RATIO, BC_PIVOT };

struct bench_kind {
	const int *metrics; /* in JSON, ended by BM_N; the first is the
			     * headline of a row unless it sets its own */
	const char *scenario_key, *name_key, *size_key;
	const struct bench_col *table[2]; /* each ends with a NULL head */
	const char *apart; /* table[1] takes the rows of this scenario */
};

static const struct bench_col fault_cols[] = {
	{ "scenario", -8, BC_SCENARIO, NULL },
	{ "thr", 3, BC_THREADS, NULL },
	{ "areas", 8, BC_SIZE, NULL },
	{ "design", -9, BC_NAME, NULL },
	{ "faults/s", 9, BM_FAULTS, NULL },
	{ "ratio", 6, BC_RATIO, "%*.2f" },
	{ "ops/s", 9, BM_OPS, NULL },
	{ "p50 ns", 7, BM_P50, "%*.0f" },
	{ "p99 ns", 8, BM_P99, "%*.0f" },
	{ "fallback", 8, BM_FALLBACKS, "%*.0f" },
	{ "retry", 7, BM_RETRIES, "%*.0f" },
	{ NULL, 0, 0, NULL },
};

static const struct bench_col memory_cols[] = {
	{ "memory", -9, BC_NAME, NULL },
	{ "areas", 8, BC_SIZE, NULL },
	{ "bytes/VMA", 12, BM_BYTES, "%*.1f" },
	{ "lock B", 10, BM_LOCK, "%*.0f" },
	{ "RCU callbacks/freed", 22, BM_RCU, "%*.4f" },
	{ NULL, 0, 0, NULL },
};

static const struct bench_col micro_cols[] = {
	{ "entries", -10, BC_SIZE, NULL },
	{ "op", -12, BC_NAME, NULL },
	{ "ns/op", 10, BM_NS, "%*.1f" },
	{ "floor ns/op", 13, BM_FLOOR, "%*.1f" },
	{ "ratio", 8, BC_RATIO, "%*.2f" },
	{ NULL, 0, 0, NULL },
};

/* The pager's workloads, a line each with the designs side by side, and
 * its churn rows apart (bench_pager.c). */
static const struct bench_col pager_cols[] = {
	{ "workload", -16, BC_SCENARIO, NULL },
	{ "thr", 3, BC_THREADS, NULL },
	{ "ns/page ratio", 13, BC_PIVOT, "%*.0f" },
	{ NULL, 0, 0, NULL },
};

static const struct bench_col churn_cols[] = {
	{ "churn", -12, BC_NAME, NULL },
	{ "faults/s", 9, BM_FAULTS, NULL },
	{ "alone", 8, BM_BASE, NULL },
	{ "mapper/s", 8, BM_OPS, NULL },
	{ "p50 ns", 7, BM_P50, "%*.0f" },
	{ "p99 ns", 8, BM_P99, "%*.0f" },
	{ "alone p99", 9, BM_BASE_P99, "%*.0f" },
	{ "p99 x", 6, BC_RATIO, "%*.2f" },
	{ NULL, 0, 0, NULL },
};

static const int designs_metrics[] = { BM_FAULTS,  BM_BASE,   BM_OPS,
				       BM_P50,	   BM_P99,    BM_FALLBACKS,
				       BM_RETRIES, BM_ERRORS, BM_BYTES,
				       BM_LOCK,	   BM_RCU,    BM_N };
static const int micro_metrics[] = { BM_NS, BM_FLOOR, BM_N };
static const int pager_metrics[] = { BM_NS_PAGE, BM_FAULTS_PAGE, BM_FAULTS,
				     BM_BASE,	 BM_OPS,	 BM_P50,
				     BM_P99,	 BM_BASE_P99,	 BM_N };

const struct bench_kind bench_kind_designs = { designs_metrics,
					       "scenario",
					       "design",
					       "areas",
					       { fault_cols, memory_cols },
					       "memory" };
const struct bench_kind bench_kind_micro = {
	micro_metrics, "scenario", "op", "size", { micro_cols, NULL }, NULL
};
const struct bench_kind bench_kind_pager = { pager_metrics,
					     "workload",
					     "design",
					     "pages",
					     { pager_cols, churn_cols },
					     "churn" };

struct bench_row *bench_row(struct bench_report *rep, const char *scenario,
			    const char *name, unsigned threads, uint64_t size)
{
	struct bench_row *r = rep->rows;

	for (; r < rep->rows + rep->nrows; r++)
		if (!strcmp(r->scenario, scenario) && !strcmp(r->name, name) &&
		    r->threads == threads && r->size == size)
			return r;
	if (rep->nrows == BENCH_MAX_ROWS) {
		fprintf(stderr, "bench: more than %d rows\n", BENCH_MAX_ROWS);
		return NULL;
	}
	rep->nrows++;
	*r = (struct bench_row){ .scenario = scenario,
				 .name = name,
				 .threads = threads,
				 .size = size,
				 .head = rep->kind->metrics[0] };
	return r;
}

void bench_run(struct bench_row *r, const double *v)
{
	if (r->nruns < BENCH_MAX_RUNS)
		memcpy(r->run[r->nruns++], v, sizeof(r->run[0]));
}

int bench_run_ns(struct bench_report *rep, const char *scenario, const char *op,
		 uint64_t size, double ns, double floor)
{
	struct bench_row *r = bench_row(rep, scenario, op, 1, size);
	double v[BM_N];

	for (int m = 0; m < BM_N; m++)
		v[m] = m == BM_NS ? ns : m == BM_FLOOR ? floor : -1;
	if (r)
		bench_run(r, v);
	return r ? 0 : -1;
}

/*
 * The median of metric m over the runs that measured it, or -1; m < 0:
 * of the runs' ratios of the headline to BM_FLOOR, taken run by run so
 * that a drift of the machine between runs moves it less than a ratio of
 * the medians would.
 */
static double median_of(const struct bench_row *r, int m, int head)
{
	double v[BENCH_MAX_RUNS];
	unsigned n = 0;

	for (unsigned k = 0; k < r->nruns; k++) {
		const double *x = r->run[k];

		if (m >= 0 && x[m] >= 0)
			v[n++] = x[m];
		else if (m < 0 && x[head] >= 0 && x[BM_FLOOR] > 0)
			v[n++] = x[head] / x[BM_FLOOR];
	}
	return n ? bench_median(v, n) : -1;
}

void bench_reduce(struct bench_report *rep)
{
	for (struct bench_row *r = rep->rows; r < rep->rows + rep->nrows; r++) {
		for (int m = 0; m < BM_N; m++)
			r->v[m] = median_of(r, m, 0);
		r->ratio = median_of(r, -1, r->head);
	}
}

const struct bench_row *bench_find(const struct bench_report *rep,
				   const char *scenario, const char *name,
				   unsigned threads, uint64_t size)
{
	for (const struct bench_row *r = rep->rows; r < rep->rows + rep->nrows;
	     r++)
		if (r->nruns && !strcmp(r->scenario, scenario) &&
		    (!name || !strcmp(r->name, name)) &&
		    (!threads || r->threads == threads) &&
		    (!size || r->size == size))
			return r;
	return NULL;
}

void bench_note(struct bench_report *rep, const char *fmt, ...)
{
	size_t len = strlen(rep->notes), room = sizeof(rep->notes) - len;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(rep->notes + len, room, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n + 1 < room)
		strcat(rep->notes, "\n");
}

/* A rate as it is read: 23.13M, 40.9k. */
static void print_rate(double v, int width)
{
	char buf[32];

	if (v >= 1e6)
		snprintf(buf, sizeof(buf), "%.2fM", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, sizeof(buf), "%.1fk", v / 1e3);
	else
		snprintf(buf, sizeof(buf), "%.0f", v);
	printf("%*s", width, buf);
}

static void print_cell(const struct bench_row *r, const struct bench_col *c)
{
	/* the ratio for BC_RATIO; unused by the names and counts */
	double v = c->what < BM_N ? r->v[c->what] : r->ratio;

	if (c->what == BC_SCENARIO || c->what == BC_NAME)
		printf("%*s", c->width,
		       c->what == BC_NAME ? r->name : r->scenario);
	else if (c->what == BC_THREADS || c->what == BC_SIZE)
		printf("%*" PRIu64, c->width,
		       c->what == BC_SIZE ? r->size : r->threads);
	else if (v < 0)
		printf("%*s", c->width, "-");
	else if (c->fmt)
		printf(c->fmt, c->width, v);
	else
		print_rate(v, c->width);
}

/* Whether table t takes row r: the apart scenario's rows go to table 1. */
static bool in_table(const struct bench_report *rep, const struct bench_row *r,
		     int t)
{
	const char *apart = rep->kind->apart;

	return !apart || (strcmp(r->scenario, apart) == 0) == (t == 1);
}

/* The row of name with r's scenario and threads, or NULL. */
static const struct bench_row *pivot_cell(const struct bench_report *rep,
					  const struct bench_row *r,
					  const char *name)
{
	for (const struct bench_row *x = rep->rows; x < rep->rows + rep->nrows;
	     x++)
		if (x->threads == r->threads && !strcmp(x->name, name) &&
		    !strcmp(x->scenario, r->scenario))
			return x;
	return NULL;
}

/* The headline and the ratio of a row, as "812 1.45x", in width w. */
static void print_pivot_cell(const struct bench_row *r,
			     const struct bench_col *c)
{
	char v[32], buf[48];

	if (!r || !r->nruns || r->v[r->head] < 0) {
		printf("%*s", c->width, r && !r->nruns ? "(failed)" : "-");
		return;
	}
	snprintf(v, sizeof(v), c->fmt, 1, r->v[r->head]);
	if (r->ratio >= 0)
		snprintf(buf, sizeof(buf), "%s %.2fx", v, r->ratio);
	else
		snprintf(buf, sizeof(buf), "%s", v);
	printf("%*s", c->width, buf);
}

/*
 * Table t as a pivot (a BC_PIVOT column, the last): a line per scenario
 * and thread count, in the order met, with the columns before BC_PIVOT,
 * then a column per name, in the order met, so that the designs of one
 * workload read side by side.
 */
static void print_pivot(const struct bench_report *rep, int t)
{
	const struct bench_col *cols = rep->kind->table[t], *c;
	const char *names[16];
	size_t nnames = 0, i;
	const struct bench_row *r, *x;

	for (r = rep->rows; r < rep->rows + rep->nrows; r++) {
		for (i = 0; i < nnames && strcmp(names[i], r->name); i++)
			;
		if (in_table(rep, r, t) && i == nnames && nnames < 16)
			names[nnames++] = r->name;
	}
	if (!nnames)
		return;
	for (c = cols; c->what != BC_PIVOT; c++)
		printf(c == cols ? "%*s" : " %*s", c->width, c->head);
	for (i = 0; i < nnames; i++)
		printf(" %*s", c->width, names[i]);
	putchar('\n');
	for (r = rep->rows; r < rep->rows + rep->nrows; r++) {
		if (!in_table(rep, r, t))
			continue;
		/* a line per scenario and thread count: its first row */
		for (x = rep->rows; x < r && (!in_table(rep, x, t) ||
					      x->threads != r->threads ||
					      strcmp(x->scenario, r->scenario));
		     x++)
			;
		if (x != r)
			continue;
		for (c = cols; c->what != BC_PIVOT; c++) {
			fputs(c == cols ? "" : " ", stdout);
			print_cell(r, c);
		}
		for (i = 0; i < nnames; i++) {
			putchar(' ');
			print_pivot_cell(pivot_cell(rep, r, names[i]), c);
		}
		putchar('\n');
	}
}

/* Table t of the report, with its header when it has any row; a row that
 * was never measured says so after its name. */
static void print_table(const struct bench_report *rep, int t)
{
	const struct bench_col *cols = rep->kind->table[t], *c;
	bool any = false;

	for (c = cols; c->head; c++)
		if (c->what == BC_PIVOT) {
			print_pivot(rep, t);
			return;
		}

	for (const struct bench_row *r = rep->rows; r < rep->rows + rep->nrows;
	     r++) {
		if (!in_table(rep, r, t))
			continue;
		for (c = cols; !any && c->head; c++)
			printf(c == cols ? "%s%*s" : "%s %*s",
			       c == cols && t ? "\n" : "", c->width, c->head);
		if (!any)
			putchar('\n');
		any = true;
		for (c = cols; c->head; c++) {
			fputs(c == cols ? "" : " ", stdout);
			if (!r->nruns && c->what < BC_SCENARIO) {
				fputs("(failed)", stdout);
				break;
			}
			print_cell(r, c);
		}
		putchar('\n');
	}
}

void bench_print(const struct bench_report *rep)
{
	if (rep->title[0])
		printf("%s\n", rep->title);
	for (int t = 0; t < 2 && rep->kind->table[t]; t++)
		print_table(rep, t);
	fputs(rep->notes, stdout);
	fflush(stdout);
}

/* Not applicable (negative) is null. */
static void json_number(FILE *f, const char *sep, double v)
{
	if (v < 0)
		fprintf(f, "%snull", sep);
	else
		fprintf(f, "%s%.3f", sep, v);
}

/* The names are our own identifiers: nothing to escape. The runs are
 * every run's headline value, the medians' raw data. */
static void json_row(FILE *f, const struct bench_kind *k,
		     const struct bench_row *r)
{
	fprintf(f,
		"  {\"%s\": \"%s\", \"%s\": \"%s\", \"threads\": %u, "
		"\"%s\": %" PRIu64,
		k->scenario_key, r->scenario, k->name_key, r->name, r->threads,
		k->size_key, r->size);
	for (const int *m = k->metrics; *m < BM_N; m++) {
		fprintf(f, ", \"%s\": ", keys[*m]);
		json_number(f, "", r->v[*m]);
	}
	json_number(f, ", \"ratio\": ", r->ratio);
	fprintf(f, ", \"%s_runs\": [", keys[r->head]);
	for (unsigned i = 0; i < r->nruns; i++)
		json_number(f, i ? ", " : "", r->run[i][r->head]);
	fprintf(f, "], \"repeats\": %u}", r->nruns);
}

int bench_json(const char *path, const struct bench_report *rep)
{
	FILE *f = fopen(path, "w");
	int err = f ? 0 : errno;

	for (size_t i = 0; f && i < rep->nrows; i++) {
		fputs(i ? ",\n" : "[\n", f);
		json_row(f, rep->kind, &rep->rows[i]);
	}
	/* Write errors (a full disk) surface at flush time. */
	if (f && (fputs(rep->nrows ? "\n]\n" : "[\n]\n", f) < 0 || ferror(f)))
		err = EIO;
	if (f && fclose(f) && !err)
		err = errno;
	if (err)
		fprintf(stderr, "bench: cannot write %s: %s\n", path,
			strerror(err));
	return err ? -1 : 0;
}
