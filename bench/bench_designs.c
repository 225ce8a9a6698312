/*
 * bench_designs.c - the design comparison (DESIGN.md section 8,
 * docs/bench.md): the scenarios fault, churn, hot, scale and memory for the
 * designs refcount, rwsem, global and kernel, each measurement in a worker
 * process of its own (worker/worker.h). The repeats interleave the designs,
 * so that a drift of the machine touches every design alike. Every run
 * goes into the report's rows (bench.h); the goals are checked on their
 * medians, and bench.gp draws the picture from the data written here.
 */
#define _GNU_SOURCE /* pipe2 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define NDESIGNS  4
#define MAX_SCALE 8 /* sizes of the scale scenario */

/* The designs, in the order of the table, the runs and the picture. */
static const char *const design_names[NDESIGNS] = { "refcount", "rwsem",
						    "global", "kernel" };

/* One thing to measure, for every chosen design. */
struct config {
	const char *scenario;
	unsigned threads;
	uint64_t areas[MAX_SCALE];
	size_t nareas;
};

struct plan {
	const struct bench_opts *o;
	struct bench_report *rep;
	bool on[NDESIGNS];
	char workers[PATH_MAX]; /* directory of the worker programs */
};

/* ---- running a worker ---------------------------------------------------- */

/* A "result areas=N key=value ..." line into *areas and v[0 .. BM_NS - 1],
 * which must all be there; 0 or -EINVAL. */
static int parse_result(char *line, uint64_t *areas, double *v)
{
	char *save = NULL, *tok, *eq;
	unsigned seen = 0;

	if (strncmp(line, "result ", 7))
		return -EINVAL;
	for (tok = strtok_r(line + 7, " \n", &save); tok;
	     tok = strtok_r(NULL, " \n", &save)) {
		if (!(eq = strchr(tok, '=')))
			return -EINVAL;
		*eq++ = '\0';
		if (!strcmp(tok, "areas"))
			*areas = strtoull(eq, NULL, 10);
		for (int m = 0; m < BM_NS; m++)
			if (!strcmp(tok, bench_metric_keys[m])) {
				v[m] = strtod(eq, NULL);
				seen |= 1u << m;
			}
	}
	return seen == (1u << BM_NS) - 1 ? 0 : -EINVAL;
}

/* Start the worker with its stdout on a pipe; 0 or -errno. The kernel runs
 * in the refcount worker: it never touches the library. */
static int spawn_worker(const struct plan *pl, const struct config *c, int d,
			unsigned k, pid_t *pid, int *fd)
{
	char path[PATH_MAX + 32], threads[16], areas[200], sec[32], seed[32];
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
			 sec,
			 "--seed",
			 seed,
			 NULL };
	posix_spawn_file_actions_t fa;
	int p[2], err;

	snprintf(path, sizeof(path), "%s/uvma-bench-%s", pl->workers,
		 design_names[d == 3 ? 0 : d]);
	snprintf(threads, sizeof(threads), "%u", c->threads);
	for (size_t i = 0, at = 0; i < c->nareas; i++)
		at += (size_t)snprintf(areas + at, sizeof(areas) - at,
				       "%s%" PRIu64, i ? "," : "", c->areas[i]);
	snprintf(sec, sizeof(sec), "%g", pl->o->seconds);
	snprintf(seed, sizeof(seed), "%" PRIu64, pl->o->seed + k);
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
	err = posix_spawn(pid, path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	*fd = p[0];
	if (!err)
		return 0;
	close(p[0]);
	fprintf(stderr, "bench: cannot run %s: %s\n", path, strerror(err));
	return -err;
}

/* Run k of design d, its results filed into rows[0 .. c->nareas - 1]; 0 or
 * nonzero on failure. */
static int run_worker(const struct plan *pl, const struct config *c, int d,
		      unsigned k, struct bench_row **rows)
{
	char line[1024];
	pid_t pid;
	int fd = -1, status, err = spawn_worker(pl, c, d, k, &pid, &fd);
	FILE *f = err ? NULL : fdopen(fd, "r");

	if (err)
		return err;
	while (f && fgets(line, sizeof(line), f)) {
		double v[BM_N];
		uint64_t areas = 0;
		size_t i = 0;

		for (int m = 0; m < BM_N; m++)
			v[m] = -1;
		if (parse_result(line, &areas, v))
			continue;
		/* One size: whatever the worker reports (hot maps one area);
		 * several (scale): the size it names. */
		while (c->nareas > 1 && i < c->nareas && c->areas[i] != areas)
			i++;
		if (i < c->nareas) {
			rows[i]->size = areas;
			bench_run(rows[i], v);
		}
	}
	if (f)
		fclose(f);
	else
		close(fd);
	if (waitpid(pid, &status, 0) == pid && f && WIFEXITED(status) &&
	    !WEXITSTATUS(status))
		return 0;
	fprintf(stderr, "bench: %s %s (%u threads) failed (status %d)\n",
		design_names[d], c->scenario, c->threads, status);
	return -EIO;
}

static void progress(const struct config *c, int d, unsigned k, unsigned repeat,
		     const struct bench_row *r)
{
	const double *v = r->nruns ? r->run[r->nruns - 1] : NULL;

	if (v && c->nareas == 1 && v[BM_FAULTS] >= 0)
		bench_progress("%s %ut %s run %u/%u: %.2fM faults/s",
			       c->scenario, c->threads, design_names[d], k + 1,
			       repeat, v[BM_FAULTS] / 1e6);
	else
		bench_progress("%s %ut %s run %u/%u done", c->scenario,
			       c->threads, design_names[d], k + 1, repeat);
}

/* What each run's ratio divides by: for churn, the fault phase the same
 * worker ran just before it (base_faults_per_s); for the others,
 * refcount's run of the same repeat, which ran seconds apart. */
static void set_floors(struct bench_row *r, const struct bench_row *ref,
		       bool churn)
{
	for (unsigned k = 0; k < r->nruns; k++)
		r->run[k][BM_FLOOR] = churn ? r->run[k][BM_BASE]
				      : ref && k < ref->nruns
					      ? ref->run[k][BM_FAULTS]
					      : -1;
}

/* Every repeat of one configuration, designs interleaved. */
static int run_config(const struct plan *pl, const struct config *c)
{
	struct bench_row *rows[NDESIGNS][MAX_SCALE] = { { NULL } };
	int failed = 0;

	for (int d = 0; d < NDESIGNS; d++)
		for (size_t i = 0; pl->on[d] && i < c->nareas; i++)
			if (!(rows[d][i] = bench_row(pl->rep, c->scenario,
						     design_names[d],
						     c->threads, c->areas[i])))
				return -1;
	for (unsigned k = 0; k < pl->o->repeat; k++)
		for (int d = 0; d < NDESIGNS; d++) {
			if (!pl->on[d])
				continue;
			failed |= run_worker(pl, c, d, k, rows[d]) != 0;
			progress(c, d, k, pl->o->repeat, rows[d][0]);
		}
	for (int d = 0; d < NDESIGNS; d++)
		for (size_t i = 0; pl->on[d] && i < c->nareas; i++)
			set_floors(rows[d][i], rows[0][i],
				   !strcmp(c->scenario, "churn"));
	return failed;
}

/* ---- the plan ------------------------------------------------------------ */

/*
 * The configurations of one scenario, fewer threads first, each run at
 * once. fault runs at 1 thread (the uncontended cost) and at T; churn runs
 * T - 1 fault threads beside its mapper so that every thread has a core
 * (on 2 cores: one fault thread, one mapper), and is compared with fault
 * at the same count; scale and memory run one thread, the cost per fault
 * being what they are about. Areas: --areas (scale: every size), or the
 * scenario's default.
 */
static int run_scenario(const struct plan *pl, const char *scenario, unsigned t)
{
	static const uint64_t scale[] = { 1000, 10000, 100000, 1000000 };
	const struct bench_opts *o = pl->o;
	bool is_scale = !strcmp(scenario, "scale");
	struct config c = { .scenario = scenario, .nareas = 1 };
	unsigned churn_t = o->threads ? t : (t > 1 ? t - 1 : 1);
	unsigned ts[3] = { t }, nt = 1;
	int failed = 0;

	if (is_scale) {
		c.nareas = !o->nsizes		   ? 4
			   : o->nsizes < MAX_SCALE ? o->nsizes
						   : MAX_SCALE;
		memcpy(c.areas, o->nsizes ? o->sizes : scale,
		       c.nareas * sizeof(*c.areas));
	} else {
		c.areas[0] = o->nsizes			   ? o->sizes[0]
			     : !strcmp(scenario, "memory") ? 100000
							   : 1000;
	}
	if (!strcmp(scenario, "fault") && !o->threads && t > 1) {
		ts[0] = 1;
		if (churn_t != 1 && churn_t != t)
			ts[nt++] = churn_t;
		ts[nt++] = t;
	} else if (!strcmp(scenario, "churn")) {
		ts[0] = churn_t;
	} else if ((is_scale || !strcmp(scenario, "memory")) && !o->threads) {
		ts[0] = 1;
	}
	for (unsigned i = 0; i < nt; i++) {
		c.threads = ts[i];
		failed |= run_config(pl, &c);
	}
	return failed;
}

/* Where the workers are: beside this program (the build tree), or in
 * ../libexec/uvma (an installed tree); UVMA_BENCH_WORKERS overrides. */
static int find_workers(char *dir, size_t len)
{
	const char *env = getenv("UVMA_BENCH_WORKERS");
	char self[PATH_MAX], probe[PATH_MAX + 32];

	if (env && *env)
		return snprintf(dir, len, "%s", env) < (int)len ? 0 : -1;
	if (bench_self_dir(self, sizeof(self)))
		return -1;
	snprintf(probe, sizeof(probe), "%s/uvma-bench-refcount", self);
	return snprintf(dir, len, "%s%s", self,
			access(probe, X_OK) ? "/../libexec/uvma" : "") <
			       (int)len
		       ? 0
		       : -1;
}

static int parse_designs(const char *list, bool *on)
{
	char buf[128], *save = NULL, *tok;
	int d;

	for (d = 0; d < NDESIGNS; d++)
		on[d] = !list;
	if (!list || strlen(list) >= sizeof(buf))
		return list ? -EINVAL : 0;
	strcpy(buf, list);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (d = 0; d < NDESIGNS && strcmp(tok, design_names[d]); d++)
			;
		if (d == NDESIGNS) {
			fprintf(stderr, "bench: unknown design: %s\n", tok);
			return -EINVAL;
		}
		on[d] = true;
	}
	return 0;
}

int bench_designs(const struct bench_opts *o, struct bench_report *rep)
{
	static const char *const scenarios[] = { "fault", "churn", "hot",
						 "scale", "memory" };
	struct plan pl = { .o = o, .rep = rep };
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned t = o->threads ? o->threads : cpus > 0 ? (unsigned)cpus : 1;
	int failed = 0;

	if (parse_designs(o->designs, pl.on) ||
	    find_workers(pl.workers, sizeof(pl.workers))) {
		fprintf(stderr, "bench: cannot plan the run\n");
		return -1;
	}
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(*scenarios); i++)
		if (!strcmp(o->scenario, "all") ||
		    !strcmp(o->scenario, scenarios[i]))
			failed |= run_scenario(&pl, scenarios[i], t);
	return failed;
}

/* ---- goals --------------------------------------------------------------- */

static void goal_churn(struct bench_report *rep)
{
	const struct bench_row *c = bench_find(rep, "churn", "refcount", 0, 0);
	const struct bench_row *g =
		c ? bench_find(rep, "churn", "global", c->threads, c->size)
		  : NULL;

	if (c && c->ratio > 0)
		bench_note(rep,
			   "goal churn: refcount keeps >= 90%% of its fault "
			   "rate: %.0f%%, %s",
			   100 * c->ratio, BENCH_VERDICT(c->ratio >= 0.9));
	/* global's ratio is global / refcount, run by run. */
	if (g && g->ratio > 0)
		bench_note(rep, "goal churn: refcount >= 10x global: %.1fx, %s",
			   1 / g->ratio, BENCH_VERDICT(1 / g->ratio >= 10));
}

static void goal_others(struct bench_report *rep)
{
	const struct bench_row *g = bench_find(rep, "fault", "global", 1, 0);
	const struct bench_row *m = bench_find(rep, "memory", "refcount", 0, 0);
	const struct bench_row *lo =
		bench_find(rep, "scale", "refcount", 0, 1000);
	const struct bench_row *hi =
		bench_find(rep, "scale", "refcount", 0, 1000000);
	double faults, ops;

	if (g && g->ratio > 0)
		bench_note(rep,
			   "goal fault, 1 thread: refcount within 10%% of "
			   "global: %.2fx, %s",
			   1 / g->ratio, BENCH_VERDICT(1 / g->ratio >= 0.9));
	if (m)
		bench_note(rep,
			   "goal memory: refcount lock state <= 8 B/VMA and 0 "
			   "RCU callbacks per freed VMA: %.0f B, %.4f, %s",
			   m->v[BM_LOCK], m->v[BM_RCU],
			   BENCH_VERDICT(m->v[BM_LOCK] <= 8 &&
					 m->v[BM_RCU] < 0.005));
	if (!lo || !hi || hi->v[BM_FAULTS] <= 0 || hi->v[BM_OPS] <= 0)
		return;
	faults = lo->v[BM_FAULTS] / hi->v[BM_FAULTS];
	ops = lo->v[BM_OPS] / hi->v[BM_OPS];
	bench_note(rep,
		   "goal scale: refcount 1M areas within 2x of 1k: faults "
		   "%.2fx, %s; mmap+munmap %.2fx, %s",
		   faults, BENCH_VERDICT(faults <= 2), ops,
		   BENCH_VERDICT(ops <= 2));
}

void bench_designs_goals(const struct bench_opts *o, struct bench_report *rep)
{
	bench_note(rep,
		   "\nratio: churn = faults/s kept against the fault phase "
		   "the same process ran just\n"
		   "       before; others = faults/s against refcount's run of "
		   "the same repeat;\n"
		   "       both the median of per-run ratios.\n"
		   "medians of %u runs of %gs per phase; churn runs one mapper "
		   "thread besides its\n"
		   "fault threads; fallback/retry per run.\n",
		   o->repeat, o->seconds);
	goal_churn(rep);
	goal_others(rep);
}

/* ---- the picture's data (bench.gp) --------------------------------------- */

/* Every design's medians of metrics ms for the configuration of r (a
 * row of the first design); NaN: not measured. */
static void put_designs(FILE *f, const struct bench_report *rep,
			const struct bench_row *r, const int *ms, int n)
{
	bool bars = strcmp(r->scenario, "scale");

	for (int d = 0; d < NDESIGNS; d++) {
		const struct bench_row *b =
			bench_find(rep, r->scenario, design_names[d],
				   bars ? r->threads : 0, bars ? 0 : r->size);

		for (int i = 0; i < n; i++) {
			if (b && b->v[ms[i]] >= 0)
				fprintf(f, " %.6g", b->v[ms[i]]);
			else
				fputs(" NaN", f);
		}
	}
	fputc('\n', f);
}

/* A line per configuration of the bars (fault, churn, hot) or of the
 * scale curves; the rows of the first design planned stand for them. */
static void put_block(FILE *f, const struct bench_report *rep, bool bars)
{
	static const int bar_ms[] = { BM_FAULTS, BM_P50, BM_P99 };
	static const int scale_ms[] = { BM_FAULTS, BM_OPS };
	const char *lead = NULL;
	size_t x = 0;

	for (const struct bench_row *r = rep->rows; r < rep->rows + rep->nrows;
	     r++) {
		bool churn = !strcmp(r->scenario, "churn");

		if (bars ? !churn && strcmp(r->scenario, "fault") &&
				    strcmp(r->scenario, "hot")
			 : strcmp(r->scenario, "scale"))
			continue;
		lead = lead ? lead : r->name;
		if (strcmp(r->name, lead))
			continue;
		if (bars)
			fprintf(f, "%zu \"%s %ut%s\"", x++, r->scenario,
				r->threads, churn ? "+mapper" : "");
		else
			fprintf(f, "%" PRIu64, r->size);
		put_designs(f, rep, r, bars ? bar_ms : scale_ms, bars ? 3 : 2);
	}
}

/* The blocks are found by the names in their first lines, which the
 * other blocks' first lines must not contain. */
static void put_data(FILE *f, const struct bench_report *rep)
{
	fputs("# uvma bench: the medians of the design comparison (NaN: not "
	      "measured),\n# drawn by bench.gp: gnuplot -c bench.gp "
	      "THIS_FILE OUT.svg\n\n\n# bars: faults/s, p50 and p99 ns of "
	      "every design per fault scenario\nx scenario",
	      f);
	for (int d = 0; d < NDESIGNS; d++)
		fprintf(f, " %s p50 p99", design_names[d]);
	fputc('\n', f);
	put_block(f, rep, true);
	fputs("\n\n# scale: faults/s and mmap+munmap pairs/s of every design "
	      "per number of areas\nareas",
	      f);
	for (int d = 0; d < NDESIGNS; d++)
		fprintf(f, " %s pairs", design_names[d]);
	fputc('\n', f);
	put_block(f, rep, false);
}

/* path.dat, kept next to the picture so that it can be redrawn. */
int bench_designs_plot(const char *path, const struct bench_report *rep)
{
	char dat[PATH_MAX];
	FILE *f = NULL;
	int err = 0;

	if ((size_t)snprintf(dat, sizeof(dat), "%s.dat", path) >= sizeof(dat))
		err = ENAMETOOLONG;
	else if (!(f = fopen(dat, "w")))
		err = errno;
	if (f) {
		put_data(f, rep);
		if (ferror(f))
			err = EIO;
		if (fclose(f) && !err)
			err = errno;
	}
	if (!err)
		return bench_gnuplot(dat, path);
	fprintf(stderr, "bench: cannot write %s: %s\n", dat, strerror(err));
	return -1;
}
