/*
 * bench_designs.c - the design comparison (docs/design.md section 8): runs the
 * scenarios fault, churn, hot, scale and memory for the designs refcount,
 * rwsem, global and kernel, each measurement in a worker process of its own
 * (bench/worker/worker.h), repeats interleaved across designs so that a
 * drift of the machine touches every design alike; reduces the repeats to
 * medians, prints one table, checks the goals, writes JSON and the picture.
 */
#define _GNU_SOURCE /* pipe2 */
#include "bench.h"
#include "bench_designs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define NDESIGNS 4
#define MAX_ROWS 128
#define MAX_RUNS 10 /* repeats of one configuration */
_Static_assert(sizeof(((struct design_row *)0)->runs) >=
		       MAX_RUNS * sizeof(double),
	       "design_row.runs holds every run");

static const char *const design_names[NDESIGNS] = { "refcount", "rwsem",
						    "global", "kernel" };
/* The kernel runs in the refcount worker: it never touches the library. */
static const char *const worker_of[NDESIGNS] = { "refcount", "rwsem", "global",
						 "refcount" };

static const char *const scenario_names[] = { "fault", "churn", "hot", "scale",
					      "memory" };
#define NSCEN (sizeof(scenario_names) / sizeof(*scenario_names))

static const uint64_t scale_default[] = { 1000, 10000, 100000, 1000000 };

bool bench_designs_has(const char *scenario)
{
	if (!strcmp(scenario, "all"))
		return true;
	for (size_t i = 0; i < NSCEN; i++)
		if (!strcmp(scenario, scenario_names[i]))
			return true;
	return false;
}

/* ---- configurations ------------------------------------------------------ */

/* One thing to measure, for every chosen design. */
struct config {
	const char *scenario;
	unsigned threads;
	uint64_t areas[8];
	size_t nareas;
};

struct plan {
	struct config cfg[8];
	size_t ncfg;
	bool design_on[NDESIGNS];
	unsigned repeat;
	double seconds;
	uint64_t seed;
	char workers[PATH_MAX]; /* directory of the worker programs */
};

static unsigned cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

static void add_config(struct plan *pl, const char *scenario, unsigned threads,
		       const uint64_t *areas, size_t nareas)
{
	struct config *c = &pl->cfg[pl->ncfg++];

	c->scenario = scenario;
	c->threads = threads;
	c->nareas = nareas;
	memcpy(c->areas, areas, nareas * sizeof(*areas));
}

/* The areas of a scenario: the flag's, or the scenario's default. */
static size_t areas_for(const struct bench_opts *o, const char *scenario,
			uint64_t *out)
{
	static const uint64_t few = 1000, memory = 100000;

	if (o->sizes_given && !strcmp(scenario, "scale")) {
		size_t n = o->nsizes < 8 ? o->nsizes : 8;

		for (size_t i = 0; i < n; i++)
			out[i] = o->sizes[i];
		return n;
	}
	if (o->sizes_given) {
		out[0] = o->sizes[0];
		return 1;
	}
	if (!strcmp(scenario, "scale")) {
		memcpy(out, scale_default, sizeof(scale_default));
		return sizeof(scale_default) / sizeof(*scale_default);
	}
	out[0] = !strcmp(scenario, "memory") ? memory : few;
	return 1;
}

/*
 * The configurations of one scenario. fault runs at 1 thread (the
 * uncontended cost) and at T; churn runs T - 1 fault threads beside its
 * mapper so that every thread has a core (on 2 cores: one fault thread, one
 * mapper), and is compared with fault at the same count; scale runs one
 * fault thread, the cost per fault being what it is about.
 */
static void add_scenario(struct plan *pl, const struct bench_opts *o,
			 const char *scenario, unsigned t)
{
	uint64_t areas[8];
	size_t n = areas_for(o, scenario, areas);
	unsigned churn_t = o->threads ? t : (t > 1 ? t - 1 : 1);

	if (!strcmp(scenario, "fault")) {
		if (!o->threads && t > 1)
			add_config(pl, scenario, 1, areas, n);
		add_config(pl, scenario, t, areas, n);
		if (!o->threads && churn_t != 1 && churn_t != t)
			add_config(pl, scenario, churn_t, areas, n);
	} else if (!strcmp(scenario, "churn")) {
		add_config(pl, scenario, churn_t, areas, n);
	} else if (!strcmp(scenario, "scale") || !strcmp(scenario, "memory")) {
		add_config(pl, scenario, o->threads ? t : 1, areas, n);
	} else {
		add_config(pl, scenario, t, areas, n);
	}
}

static int parse_designs(const char *list, bool *on)
{
	char buf[128], *save = NULL, *tok;

	if (!list) {
		for (int d = 0; d < NDESIGNS; d++)
			on[d] = true;
		return 0;
	}
	if (strlen(list) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, list);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		int d = 0;

		while (d < NDESIGNS && strcmp(tok, design_names[d]))
			d++;
		if (d == NDESIGNS) {
			fprintf(stderr, "bench: unknown design: %s\n", tok);
			return -EINVAL;
		}
		on[d] = true;
	}
	return 0;
}

/* Where the workers are: beside this program (the build tree), or in
 * ../libexec/uvma (an installed tree); UVMA_BENCH_WORKERS overrides. */
static int find_workers(char *dir, size_t len)
{
	const char *env = getenv("UVMA_BENCH_WORKERS");
	char self[PATH_MAX], probe[PATH_MAX + 32];
	ssize_t n;
	char *slash;

	if (env && *env) {
		snprintf(dir, len, "%s", env);
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -errno;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	snprintf(probe, sizeof(probe), "%s/uvma-bench-refcount", self);
	if (access(probe, X_OK) == 0) {
		snprintf(dir, len, "%s", self);
		return 0;
	}
	if ((size_t)snprintf(dir, len, "%s/../libexec/uvma", self) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static bool plot_ext_ok(const char *path)
{
	const char *dot = strrchr(path, '.');

	return dot && (!strcasecmp(dot, ".svg") || !strcasecmp(dot, ".png"));
}

static int make_plan(const struct bench_opts *o, struct plan *pl)
{
	unsigned t = o->threads ? o->threads : cores();

	memset(pl, 0, sizeof(*pl));
	if (parse_designs(o->designs, pl->design_on))
		return -EINVAL;
	if (o->plot_path && !plot_ext_ok(o->plot_path)) {
		/* Before a minute of measuring, not after. */
		fprintf(stderr,
			"bench: --plot %s: the picture must be a .svg "
			"or .png file\n",
			o->plot_path);
		return -EINVAL;
	}
	pl->repeat = o->repeat_given ? o->repeat : 3;
	pl->seconds = o->seconds > 0 ? o->seconds : 0.5;
	pl->seed = o->seed;
	for (size_t i = 0; i < NSCEN; i++)
		if (!strcmp(o->scenario, "all") ||
		    !strcmp(o->scenario, scenario_names[i]))
			add_scenario(pl, o, scenario_names[i], t);
	return find_workers(pl->workers, sizeof(pl->workers));
}

/* ---- running one worker -------------------------------------------------- */

/* The raw measurements of one (config, design), one per repeat and size. */
struct samples {
	struct design_row row[8];  /* per size: identity + medians */
	double v[8][MAX_RUNS][13]; /* [size][repeat][metric] */
	unsigned n[8];		   /* repeats gathered per size */
};

enum metric {
	M_FAULTS,
	M_BASE,
	M_OPS,
	M_P50,
	M_P99,
	M_FALLBACKS,
	M_RETRIES,
	M_ERRORS,
	M_BYTES,
	M_LOCK,
	M_RCU,
	NMETRICS,
};

static const char *const metric_keys[NMETRICS] = {
	"faults_per_s",	 "base_faults_per_s", "ops_per_s",	  "p50_ns",
	"p99_ns",	 "fallbacks",	      "retries",	  "errors",
	"bytes_per_vma", "lock_bytes",	      "rcu_cbs_per_free",
};

/* A "result key=value ..." line into areas and values; 0 or -EINVAL. */
static int parse_result(char *line, uint64_t *areas, double *v)
{
	char *save = NULL, *tok;
	unsigned seen = 0;

	if (strncmp(line, "result ", 7))
		return -EINVAL;
	for (tok = strtok_r(line + 7, " \n", &save); tok;
	     tok = strtok_r(NULL, " \n", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq)
			return -EINVAL;
		*eq++ = '\0';
		if (!strcmp(tok, "areas"))
			*areas = strtoull(eq, NULL, 10);
		for (int m = 0; m < NMETRICS; m++)
			if (!strcmp(tok, metric_keys[m])) {
				v[m] = strtod(eq, NULL);
				seen |= 1u << m;
			}
	}
	return seen == (1u << NMETRICS) - 1 ? 0 : -EINVAL;
}

static void format_areas(const struct config *c, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < c->nareas && at < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s%" PRIu64,
				       i ? "," : "", c->areas[i]);
}

/* Start the worker with its stdout on a pipe; -errno on failure. */
static int spawn_worker(const struct plan *pl, const struct config *c, int d,
			unsigned rep, pid_t *pid, int *fd)
{
	char path[PATH_MAX + 32], threads[16], areas[160], seconds[32],
		seed[32];
	char *argv[] = { path,
			 "--scenario",
			 (char *)c->scenario,
			 "--design",
			 (char *)design_names[d],
			 "--threads",
			 threads,
			 "--areas",
			 areas,
			 "--seconds",
			 seconds,
			 "--seed",
			 seed,
			 NULL };
	posix_spawn_file_actions_t fa;
	int p[2], err;

	snprintf(path, sizeof(path), "%s/uvma-bench-%s", pl->workers,
		 worker_of[d]);
	snprintf(threads, sizeof(threads), "%u", c->threads);
	format_areas(c, areas, sizeof(areas));
	snprintf(seconds, sizeof(seconds), "%g", pl->seconds);
	snprintf(seed, sizeof(seed), "%" PRIu64, pl->seed + rep);
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
	err = posix_spawn(pid, path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (err) {
		close(p[0]);
		fprintf(stderr, "bench: cannot run %s: %s\n", path,
			strerror(err));
		return -err;
	}
	*fd = p[0];
	return 0;
}

/* Run one measurement and file its results; 0 or nonzero on failure. */
static int run_worker(const struct plan *pl, const struct config *c, int d,
		      unsigned rep, struct samples *s)
{
	char line[1024];
	pid_t pid;
	int fd = -1, status, err = spawn_worker(pl, c, d, rep, &pid, &fd);
	FILE *f;

	if (err)
		return err;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		waitpid(pid, &status, 0);
		return -ENOMEM;
	}
	while (fgets(line, sizeof(line), f)) {
		double v[NMETRICS];
		uint64_t areas = 0;
		size_t i = 0;

		if (parse_result(line, &areas, v))
			continue;
		/* One size: whatever the worker reports (hot maps one area);
		 * several (scale): the size it names. */
		while (c->nareas > 1 && i < c->nareas && c->areas[i] != areas)
			i++;
		if (i < c->nareas && s->n[i] < MAX_RUNS) {
			memcpy(s->v[i][s->n[i]], v, sizeof(v));
			s->row[i].areas = areas;
			s->n[i]++;
		}
	}
	fclose(f);
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr,
			"bench: %s %s (%u threads) failed (status %d)\n",
			design_names[d], c->scenario, c->threads, status);
		return -EIO;
	}
	return 0;
}

/* ---- medians, rows ---------------------------------------------------------
 */

static double median_of(const struct samples *s, size_t i, int m)
{
	double v[MAX_RUNS];
	unsigned n = 0;

	for (unsigned r = 0; r < s->n[i]; r++)
		if (s->v[i][r][m] >= 0)
			v[n++] = s->v[i][r][m];
	return n ? bench_median(v, n) : -1;
}

/*
 * The ratio of a row, paired run by run: churn against the fault phase the
 * same worker ran just before it (base_faults_per_s); every other scenario
 * against refcount's run of the same repeat, which ran seconds apart. The
 * median of per-run ratios moves less with the machine's drift than a
 * ratio of medians.
 */
static double paired_ratio(const struct samples *s, const struct samples *ref,
			   size_t i, bool churn)
{
	double v[MAX_RUNS];
	unsigned n = 0;

	for (unsigned r = 0; r < s->n[i]; r++) {
		double x = s->v[i][r][M_FAULTS];
		double b =
			churn ? s->v[i][r][M_BASE]
			      : (ref && r < ref->n[i] ? ref->v[i][r][M_FAULTS]
						      : -1);

		if (x >= 0 && b > 0)
			v[n++] = x / b;
	}
	return n ? bench_median(v, n) : -1;
}

static void reduce(struct samples *s, const struct config *c, int d)
{
	for (size_t i = 0; i < c->nareas; i++) {
		struct design_row *r = &s->row[i];

		r->scenario = c->scenario;
		r->design = design_names[d];
		r->threads = c->threads;
		if (!s->n[i])
			r->areas = c->areas[i];
		r->repeats = s->n[i];
		r->nruns = s->n[i];
		for (unsigned k = 0; k < s->n[i]; k++)
			r->runs[k] = s->v[i][k][M_FAULTS];
		r->faults_per_s = median_of(s, i, M_FAULTS);
		r->base_faults_per_s = median_of(s, i, M_BASE);
		r->ops_per_s = median_of(s, i, M_OPS);
		r->p50_ns = median_of(s, i, M_P50);
		r->p99_ns = median_of(s, i, M_P99);
		r->fallbacks = median_of(s, i, M_FALLBACKS);
		r->retries = median_of(s, i, M_RETRIES);
		r->errors = median_of(s, i, M_ERRORS);
		r->bytes_per_vma = median_of(s, i, M_BYTES);
		r->lock_bytes = median_of(s, i, M_LOCK);
		r->rcu_cbs_per_free = median_of(s, i, M_RCU);
	}
}

/* The row of (scenario, design, threads, areas), or NULL. */
static const struct design_row *find_row(const struct design_row *rows,
					 size_t n, const char *scenario,
					 const char *design, unsigned threads,
					 uint64_t areas)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(rows[i].scenario, scenario) &&
		    !strcmp(rows[i].design, design) &&
		    (!threads || rows[i].threads == threads) &&
		    (!areas || rows[i].areas == areas) && rows[i].repeats)
			return &rows[i];
	return NULL;
}

/* ---- output -------------------------------------------------------------- */

static void print_num(double v, const char *fmt, int width)
{
	if (v < 0)
		printf(" %*s", width, "-");
	else
		printf(fmt, width, v);
}

static void print_rate(double v, int width)
{
	char buf[32];

	if (v < 0)
		snprintf(buf, sizeof(buf), "-");
	else if (v >= 1e6)
		snprintf(buf, sizeof(buf), "%.2fM", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, sizeof(buf), "%.1fk", v / 1e3);
	else
		snprintf(buf, sizeof(buf), "%.0f", v);
	printf(" %*s", width, buf);
}

static void print_fault_table(const struct design_row *rows, size_t n)
{
	printf("%-8s %3s %8s %-9s %9s %6s %9s %7s %8s %8s %7s\n", "scenario",
	       "thr", "areas", "design", "faults/s", "ratio", "ops/s", "p50 ns",
	       "p99 ns", "fallback", "retry");
	for (size_t i = 0; i < n; i++) {
		const struct design_row *r = &rows[i];

		if (!strcmp(r->scenario, "memory"))
			continue;
		printf("%-8s %3u %8" PRIu64 " %-9s", r->scenario, r->threads,
		       r->areas, r->design);
		if (!r->repeats) {
			printf(" (failed)\n");
			continue;
		}
		print_rate(r->faults_per_s, 9);
		print_num(r->ratio, "%*.2f", 6);
		print_rate(r->ops_per_s, 9);
		print_num(r->p50_ns, "%*.0f", 7);
		print_num(r->p99_ns, "%*.0f", 8);
		print_num(r->fallbacks, "%*.0f", 8);
		print_num(r->retries, "%*.0f", 7);
		putchar('\n');
	}
}

static void print_memory_table(const struct design_row *rows, size_t n)
{
	bool any = false;

	for (size_t i = 0; i < n; i++) {
		const struct design_row *r = &rows[i];

		if (strcmp(r->scenario, "memory") || !r->repeats)
			continue;
		if (!any)
			printf("\n%-9s %8s %12s %10s %22s\n", "memory", "areas",
			       "bytes/VMA", "lock B", "RCU callbacks/freed");
		any = true;
		printf("%-9s %8" PRIu64, r->design, r->areas);
		print_num(r->bytes_per_vma, "%*.1f", 12);
		print_num(r->lock_bytes, "%*.0f", 10);
		print_num(r->rcu_cbs_per_free, "%*.4f", 22);
		putchar('\n');
	}
}

static void print_legend(const struct plan *pl)
{
	printf("\nratio: churn = faults/s kept against the fault phase the "
	       "same process ran just\n"
	       "       before; others = faults/s against refcount's run of "
	       "the same repeat;\n"
	       "       both the median of per-run ratios.\n"
	       "medians of %u runs of %gs per phase; churn runs one mapper "
	       "thread besides its\nfault threads; fallback/retry per run.\n",
	       pl->repeat, pl->seconds);
}

/* ---- goals ------------------------------------------------------------------
 */

static const char *verdict(bool met)
{
	return met ? "met" : "NOT met";
}

static void goal_churn(const struct design_row *rows, size_t n)
{
	const struct design_row *c =
		find_row(rows, n, "churn", "refcount", 0, 0);
	const struct design_row *g;

	if (!c)
		return;
	g = find_row(rows, n, "churn", "global", c->threads, c->areas);
	if (c->ratio > 0)
		printf("goal churn: refcount keeps >= 90%% of its fault "
		       "rate: %.0f%%, %s\n",
		       100 * c->ratio, verdict(c->ratio >= 0.9));
	/* global's paired ratio is global / refcount, run by run. */
	if (g && g->ratio > 0)
		printf("goal churn: refcount >= 10x global: %.1fx, %s\n",
		       1 / g->ratio, verdict(1 / g->ratio >= 10));
}

static void goal_fault(const struct design_row *rows, size_t n)
{
	const struct design_row *g = find_row(rows, n, "fault", "global", 1, 0);

	if (g && g->ratio > 0)
		printf("goal fault, 1 thread: refcount within 10%% of global: "
		       "%.2fx, %s\n",
		       1 / g->ratio, verdict(1 / g->ratio >= 0.9));
}

static void goal_memory(const struct design_row *rows, size_t n)
{
	const struct design_row *r =
		find_row(rows, n, "memory", "refcount", 0, 0);

	if (r)
		printf("goal memory: refcount lock state <= 8 B/VMA and 0 RCU "
		       "callbacks per freed VMA: %.0f B, %.4f, %s\n",
		       r->lock_bytes, r->rcu_cbs_per_free,
		       verdict(r->lock_bytes <= 8 &&
			       r->rcu_cbs_per_free < 0.005));
}

static void goal_scale(const struct design_row *rows, size_t n)
{
	const struct design_row *lo =
		find_row(rows, n, "scale", "refcount", 0, 1000);
	const struct design_row *hi =
		find_row(rows, n, "scale", "refcount", 0, 1000000);

	if (!lo || !hi || hi->faults_per_s <= 0 || hi->ops_per_s <= 0)
		return;
	printf("goal scale: refcount 1M areas within 2x of 1k: faults "
	       "%.2fx, %s; mmap+munmap %.2fx, %s\n",
	       lo->faults_per_s / hi->faults_per_s,
	       verdict(lo->faults_per_s <= 2 * hi->faults_per_s),
	       lo->ops_per_s / hi->ops_per_s,
	       verdict(lo->ops_per_s <= 2 * hi->ops_per_s));
}

static void print_goals(const struct design_row *rows, size_t n)
{
	putchar('\n');
	goal_churn(rows, n);
	goal_fault(rows, n);
	goal_memory(rows, n);
	goal_scale(rows, n);
}

static void json_row(FILE *f, const struct design_row *r, double ratio)
{
	const double v[] = { r->faults_per_s,	 r->base_faults_per_s,
			     r->ops_per_s,	 r->p50_ns,
			     r->p99_ns,		 r->fallbacks,
			     r->retries,	 r->errors,
			     r->bytes_per_vma,	 r->lock_bytes,
			     r->rcu_cbs_per_free };

	fputs("  {\"scenario\": ", f);
	bench_json_string(f, r->scenario);
	fputs(", \"design\": ", f);
	bench_json_string(f, r->design);
	fprintf(f, ", \"threads\": %u, \"areas\": %" PRIu64, r->threads,
		r->areas);
	for (int m = 0; m < NMETRICS; m++) {
		fprintf(f, ", \"%s\": ", metric_keys[m]);
		bench_json_number(f, r->repeats ? v[m] : -1);
	}
	fputs(", \"ratio\": ", f);
	bench_json_number(f, ratio);
	fputs(", \"faults_per_s_runs\": [", f);
	for (unsigned k = 0; k < r->nruns; k++) {
		fputs(k ? ", " : "", f);
		bench_json_number(f, r->runs[k]);
	}
	fputc(']', f);
	fprintf(f, ", \"repeats\": %u}", r->repeats);
}

/* The i-th row as one JSON object (bench_json_array's callback). */
static void design_json_row(FILE *f, size_t i, const void *arg)
{
	const struct design_row *rows = arg;

	json_row(f, &rows[i], rows[i].ratio);
}

static int write_json(const char *path, const struct design_row *rows, size_t n)
{
	return bench_json_array(path, n, design_json_row, rows);
}

/* ---- the run
 * ------------------------------------------------------------------ */

static void progress(const struct config *c, int d, unsigned rep,
		     unsigned repeat, const struct samples *s)
{
	const double *v = s->n[0] ? s->v[0][s->n[0] - 1] : NULL;

	if (!v || c->nareas > 1) {
		bench_progress("%s %ut %s run %u/%u done", c->scenario,
			       c->threads, design_names[d], rep + 1, repeat);
		return;
	}
	if (v[M_FAULTS] >= 0)
		bench_progress("%s %ut %s run %u/%u: %.2fM faults/s",
			       c->scenario, c->threads, design_names[d],
			       rep + 1, repeat, v[M_FAULTS] / 1e6);
	else
		bench_progress("%s %s run %u/%u done", c->scenario,
			       design_names[d], rep + 1, repeat);
}

/* Every repeat of one configuration, designs interleaved. */
static int run_config(const struct plan *pl, const struct config *c,
		      struct design_row *rows, size_t *nrows)
{
	static struct samples s[NDESIGNS];
	int failed = 0;

	memset(s, 0, sizeof(s));
	for (unsigned rep = 0; rep < pl->repeat; rep++)
		for (int d = 0; d < NDESIGNS; d++) {
			if (!pl->design_on[d])
				continue;
			if (run_worker(pl, c, d, rep, &s[d]))
				failed = 1;
			progress(c, d, rep, pl->repeat, &s[d]);
		}
	for (int d = 0; d < NDESIGNS; d++) {
		bool churn = !strcmp(c->scenario, "churn");

		if (!pl->design_on[d])
			continue;
		reduce(&s[d], c, d);
		for (size_t i = 0; i < c->nareas && *nrows < MAX_ROWS; i++) {
			s[d].row[i].ratio = paired_ratio(
				&s[d], pl->design_on[0] ? &s[0] : NULL, i,
				churn);
			rows[(*nrows)++] = s[d].row[i];
		}
	}
	return failed;
}

static int finish(const struct bench_opts *o, const struct plan *pl,
		  const struct design_row *rows, size_t n)
{
	int err, ret = 0;

	print_fault_table(rows, n);
	print_memory_table(rows, n);
	print_legend(pl);
	print_goals(rows, n);
	fflush(stdout);
	if (o->json_path) {
		err = write_json(o->json_path, rows, n);
		if (err) {
			fprintf(stderr, "bench: cannot write %s: %s\n",
				o->json_path, strerror(-err));
			ret = 1;
		} else {
			bench_progress("wrote %s", o->json_path);
		}
	}
	if (o->plot_path) {
		if (bench_plot_designs(o->plot_path, rows, n))
			ret = 1;
		else
			bench_progress("wrote %s", o->plot_path);
	}
	return ret;
}

int bench_designs(const struct bench_opts *o, const char *argv0)
{
	static struct design_row rows[MAX_ROWS];
	struct plan pl;
	size_t n = 0;
	int failed = 0;

	(void)argv0;
	if (make_plan(o, &pl)) {
		fprintf(stderr, "bench: cannot plan the run\n");
		return 2;
	}
	if (pl.repeat > MAX_RUNS) {
		fprintf(stderr, "bench: at most %d repeats here\n", MAX_RUNS);
		return 2;
	}
	for (size_t i = 0; i < pl.ncfg; i++)
		failed |= run_config(&pl, &pl.cfg[i], rows, &n);
	if (finish(o, &pl, rows, n))
		failed = 1;
	return failed;
}
