/*
 * bench_designs.c - the design comparison (docs/bench.md): fault, churn,
 * hot, scale and memory for refcount, rwsem, global and kernel, each run
 * in a worker process (worker/worker.h), the designs interleaved in every
 * repeat so that a drift of the machine touches them alike; the goals on
 * the medians, and the data bench.gp draws.
 */
#define _GNU_SOURCE /* pipe2, memrchr */
#include "bench.h"
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define NDESIGNS  4
#define MAX_SCALE 8 /* sizes of the scale scenario */

/* The designs, in the order of the table, the runs and the picture. */
static const char *const design_names[NDESIGNS] = { "refcount", "rwsem",
						    "global", "kernel" };

/* The run, and the configuration measured for every chosen design. */
struct config {
	const struct bench_opts *o;
	struct bench_report *rep;
	bool on[NDESIGNS];
	char workers[PATH_MAX]; /* directory of the worker programs */
	const char *scenario;
	unsigned threads;
	uint64_t areas[MAX_SCALE];
	size_t nareas;
	struct bench_row *rows[NDESIGNS][MAX_SCALE];
};

static int self_dir(char *dir, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", dir, len - 1);
	char *slash = n > 0 ? memrchr(dir, '/', (size_t)n) : NULL;

	if (slash)
		*slash = '\0';
	return slash ? 0 : -1;
}

/* Starts argv[0] (found in PATH when it has no slash), without a shell so
 * that nothing in the paths is interpreted, with its stdout on a pipe read
 * from *out when out is not NULL; the pid, or -1. */
static pid_t spawn(char **argv, int *out)
{
	posix_spawn_file_actions_t fa;
	int p[2] = { -1, -1 }, err;
	pid_t pid;

	if (out && pipe2(p, O_CLOEXEC))
		return -1;
	posix_spawn_file_actions_init(&fa);
	if (out)
		posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
	err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (out) {
		close(p[1]);
		*out = p[0];
	}
	if (err)
		fprintf(stderr, "bench: %s: %s\n", argv[0], strerror(err));
	return err ? -1 : pid;
}

/* 0 when pid exited with 0, or -1 after saying so. */
static int reap(pid_t pid, const char *what)
{
	int status = -1;

	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (pid > 0 && WIFEXITED(status) && !WEXITSTATUS(status))
		return 0;
	fprintf(stderr, "bench: %s failed\n", what);
	return -1;
}

/* Run k of design d, its results filed into their rows: one size takes
 * whatever the worker reports (hot maps one area), several (scale) the
 * size each names. The kernel runs in the refcount worker: it never
 * touches the library. */
static int run_worker(const struct config *c, int d, unsigned k)
{
	char path[PATH_MAX + 32], a[6][200];
	char *argv[] = { path, a[0], a[1], a[2], a[3], a[4], a[5], NULL };
	struct wk_result r;
	int fd = -1;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/uvma-bench-%s", c->workers,
		 design_names[d == 3 ? 0 : d]);
	snprintf(a[0], 200, "--scenario=%s", c->scenario);
	snprintf(a[1], 200, "--design=%s", design_names[d]);
	snprintf(a[2], 200, "--threads=%u", c->threads);
	snprintf(a[3], 200, "--seconds=%g", c->o->seconds);
	snprintf(a[4], 200, "--seed=%" PRIu64, c->o->seed + k);
	for (size_t i = 0, at = 0; i < c->nareas; i++)
		at += (size_t)snprintf(a[5] + at, 200 - at, "%s%" PRIu64,
				       i ? "," : "--areas=", c->areas[i]);
	pid = spawn(argv, &fd);
	while (pid > 0 && read(fd, &r, sizeof(r)) == sizeof(r)) {
		size_t i = 0;

		while (c->nareas > 1 && i < c->nareas && c->areas[i] != r.areas)
			i++;
		if (i < c->nareas) {
			c->rows[d][i]->size = r.areas;
			bench_run(c->rows[d][i], r.v);
		}
	}
	close(fd);
	return reap(pid, path);
}

/*
 * Every repeat of one configuration, designs interleaved; then what each
 * run's ratio divides by: for churn, the fault phase the same worker ran
 * just before it (base_faults_per_s); for the others, refcount's run of
 * the same repeat, which ran seconds apart.
 */
static int run_config(struct config *c)
{
	const struct bench_row *ref;
	int failed = 0;

	for (int d = 0; d < NDESIGNS; d++)
		for (size_t i = 0; c->on[d] && i < c->nareas; i++)
			if (!(c->rows[d][i] = bench_row(
				      c->rep, c->scenario, design_names[d],
				      c->threads, c->areas[i])))
				return -1;
	for (unsigned k = 0; k < c->o->repeat; k++)
		for (int d = 0; d < NDESIGNS; d++) {
			if (!c->on[d])
				continue;
			failed |= run_worker(c, d, k);
			bench_progress("%s %ut %s run %u/%u done", c->scenario,
				       c->threads, design_names[d], k + 1,
				       c->o->repeat);
		}
	for (int d = 0; d < NDESIGNS; d++)
		for (size_t i = 0; c->on[d] && i < c->nareas; i++)
			for (unsigned k = 0; k < c->rows[d][i]->nruns; k++) {
				double *run = c->rows[d][i]->run[k];

				ref = c->rows[0][i];
				run[BM_FLOOR] = !strcmp(c->scenario, "churn")
							? run[BM_BASE]
						: ref && k < ref->nruns
							? ref->run[k][BM_FAULTS]
							: -1;
			}
	return failed;
}

/*
 * The configurations of one scenario, fewer threads first. fault runs at
 * 1 thread (the uncontended cost) and at T; churn runs T - 1 fault threads
 * beside its mapper so that every thread has a core (on 2 cores: one
 * fault thread, one mapper), and is compared with fault at the same
 * count; scale and memory run one thread, the cost per fault being what
 * they are about. Areas: --areas (scale: every size), or the default.
 */
static int run_scenario(struct config *c, const char *scenario, unsigned t)
{
	static const uint64_t scale[] = { 1000, 10000, 100000, 1000000 };
	const struct bench_opts *o = c->o;
	unsigned churn_t = o->threads ? t : (t > 1 ? t - 1 : 1);
	unsigned ts[3] = { t }, nt = 1;
	int failed = 0;

	c->scenario = scenario;
	c->nareas = strcmp(scenario, "scale") ? 1
		    : !o->nsizes	      ? 4
		    : o->nsizes < MAX_SCALE   ? o->nsizes
					      : MAX_SCALE;
	memcpy(c->areas, o->nsizes ? o->sizes : scale,
	       c->nareas * sizeof(*c->areas));
	if (!o->nsizes && c->nareas == 1)
		c->areas[0] = strcmp(scenario, "memory") ? 1000 : 100000;
	if (!strcmp(scenario, "fault") && !o->threads && t > 1) {
		ts[0] = 1;
		if (churn_t != 1 && churn_t != t)
			ts[nt++] = churn_t;
		ts[nt++] = t;
	} else if (!strcmp(scenario, "churn")) {
		ts[0] = churn_t;
	} else if (strcmp(scenario, "hot") && strcmp(scenario, "fault") &&
		   !o->threads) {
		ts[0] = 1;
	}
	for (unsigned i = 0; i < nt; i++) {
		c->threads = ts[i];
		failed |= run_config(c);
	}
	return failed;
}

int bench_designs(const struct bench_opts *o, struct bench_report *rep)
{
	static const char *const scenarios[] = { "fault", "churn", "hot",
						 "scale", "memory" };
	struct config c = { .o = o, .rep = rep };
	char probe[PATH_MAX + 32], list[128] = "", *save = NULL, *tok;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned t = o->threads ? o->threads : cpus > 0 ? (unsigned)cpus : 1;
	int failed = 0, d;

	/* The workers: beside this program (the build tree), or in
	 * ../libexec/uvma (an installed tree). */
	if (self_dir(c.workers, sizeof(c.workers) - sizeof("/../libexec/uvma")))
		return -1;
	snprintf(probe, sizeof(probe), "%s/uvma-bench-refcount", c.workers);
	if (access(probe, X_OK))
		strcat(c.workers, "/../libexec/uvma");
	snprintf(list, sizeof(list), "%s", o->designs ? o->designs : "");
	for (d = 0; d < NDESIGNS; d++)
		c.on[d] = !o->designs;
	for (tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (d = 0; d < NDESIGNS && strcmp(tok, design_names[d]); d++)
			;
		if (d == NDESIGNS) {
			fprintf(stderr, "bench: unknown design: %s\n", tok);
			return -1;
		}
		c.on[d] = true;
	}
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(*scenarios); i++)
		if (!strcmp(o->scenario, "all") ||
		    !strcmp(o->scenario, scenarios[i]))
			failed |= run_scenario(&c, scenarios[i], t);
	return failed;
}

void bench_designs_goals(const struct bench_opts *o, struct bench_report *rep)
{
	const struct bench_row *c = bench_find(rep, "churn", "refcount", 0, 0);
	const struct bench_row *g =
		c ? bench_find(rep, "churn", "global", c->threads, c->size)
		  : NULL;
	const struct bench_row *f = bench_find(rep, "fault", "global", 1, 0);
	const struct bench_row *m = bench_find(rep, "memory", "refcount", 0, 0);
	const struct bench_row *lo =
		bench_find(rep, "scale", "refcount", 0, 1000);
	const struct bench_row *hi =
		bench_find(rep, "scale", "refcount", 0, 1000000);

	if (!rep->nrows)
		return;
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
	if (c && c->ratio > 0)
		bench_note(rep,
			   "goal churn: refcount keeps >= 90%% of its fault "
			   "rate: %.0f%%, %s",
			   100 * c->ratio, BENCH_VERDICT(c->ratio >= 0.9));
	/* global's ratios are global / refcount, run by run. */
	if (g && g->ratio > 0)
		bench_note(rep, "goal churn: refcount >= 10x global: %.1fx, %s",
			   1 / g->ratio, BENCH_VERDICT(1 / g->ratio >= 10));
	if (f && f->ratio > 0)
		bench_note(rep,
			   "goal fault, 1 thread: refcount within 10%% of "
			   "global: %.2fx, %s",
			   1 / f->ratio, BENCH_VERDICT(1 / f->ratio >= 0.9));
	if (m)
		bench_note(rep,
			   "goal memory: refcount lock state <= 8 B/VMA and 0 "
			   "RCU callbacks per freed VMA: %.0f B, %.4f, %s",
			   m->v[BM_LOCK], m->v[BM_RCU],
			   BENCH_VERDICT(m->v[BM_LOCK] <= 8 &&
					 m->v[BM_RCU] < 0.005));
	if (lo && hi && hi->v[BM_FAULTS] > 0 && hi->v[BM_OPS] > 0)
		bench_note(
			rep,
			"goal scale: refcount 1M areas within 2x of 1k: "
			"faults %.2fx, %s; mmap+munmap %.2fx, %s",
			lo->v[BM_FAULTS] / hi->v[BM_FAULTS],
			BENCH_VERDICT(lo->v[BM_FAULTS] <= 2 * hi->v[BM_FAULTS]),
			lo->v[BM_OPS] / hi->v[BM_OPS],
			BENCH_VERDICT(lo->v[BM_OPS] <= 2 * hi->v[BM_OPS]));
}

/*
 * The block of design d in the data (bench.gp says what it holds): its
 * name, then a line per configuration of the bars (x, the same for every
 * design, and a label) or of the scale curve (areas), with its medians;
 * NaN: not measured.
 */
static void put_block(FILE *f, const struct bench_report *rep, int d, bool bars)
{
	static const int ms[2][3] = { { BM_FAULTS, BM_OPS },
				      { BM_FAULTS, BM_P50, BM_P99 } };
	const struct bench_row *prev = NULL;
	size_t x = 0;

	fprintf(f, bars ? "x scenario %s p50 p99\n" : "areas %s pairs\n",
		design_names[d]);
	for (const struct bench_row *r = rep->rows; r < rep->rows + rep->nrows;
	     r++) {
		/* the bars: fault, churn and hot; else the scale curves */
		if (bars ? strcmp(r->scenario, "fault") &&
				    strcmp(r->scenario, "churn") &&
				    strcmp(r->scenario, "hot")
			 : strcmp(r->scenario, "scale"))
			continue;
		x += prev && (prev->threads != r->threads ||
			      strcmp(prev->scenario, r->scenario));
		prev = r;
		if (strcmp(r->name, design_names[d]))
			continue;
		if (bars)
			fprintf(f, "%zu \"%s %ut%s\"", x, r->scenario,
				r->threads,
				strcmp(r->scenario, "churn") ? "" : "+mapper");
		else
			fprintf(f, "%" PRIu64, r->size);
		for (int i = 0; i < 2 + bars; i++)
			if (r->v[ms[bars][i]] >= 0)
				fprintf(f, " %.6g", r->v[ms[bars][i]]);
			else
				fputs(" NaN", f);
		fputc('\n', f);
	}
	fputs(bars || d < NDESIGNS - 1 ? "\n\n" : "", f);
}

static int put_data(const char *dat, const struct bench_report *rep)
{
	FILE *f = fopen(dat, "w");
	int err;

	if (!f)
		return -1;
	fputs("# uvma bench: the medians of the design comparison, drawn by "
	      "bench.gp\n",
	      f);
	for (int i = 0; i < 2 * NDESIGNS; i++)
		put_block(f, rep, i % NDESIGNS, i < NDESIGNS);
	err = ferror(f);
	return fclose(f) || err ? -1 : 0;
}

/*
 * A gnuplot script of uvma bench: installed relative to this program (so
 * that an installed tree can move), beside the sources for a program in
 * the build tree, or where it was to be installed (bench/CMakeLists.txt
 * passes the directories).
 */
int bench_gnuplot(const char *script, const char *dat, const char *out)
{
	char gp[3][PATH_MAX];
	char *argv[] = {
		"gnuplot", "-c", NULL, (char *)dat, (char *)out, NULL
	};

	if (self_dir(gp[0], sizeof(gp[0]) - sizeof(UVMA_BENCH_GP_FROM_BIN) -
				    strlen(script) - 2))
		gp[0][0] = '\0';
	else
		snprintf(gp[0] + strlen(gp[0]), PATH_MAX - strlen(gp[0]),
			 "/%s/%s", UVMA_BENCH_GP_FROM_BIN, script);
	snprintf(gp[1], PATH_MAX, "%s/%s", UVMA_BENCH_GP_SOURCE, script);
	snprintf(gp[2], PATH_MAX, "%s/%s", UVMA_BENCH_GP_INSTALL, script);
	for (int i = 0; i < 3 && !argv[2]; i++)
		if (gp[i][0] && !access(gp[i], R_OK))
			argv[2] = gp[i];
	if (argv[2])
		return reap(spawn(argv, NULL), "gnuplot");
	fprintf(stderr, "bench: no %s at %s, %s or %s\n", script, gp[0], gp[1],
		gp[2]);
	return -1;
}

/* path.dat, kept next to the picture so that it can be redrawn, drawn by
 * bench.gp. */
int bench_designs_plot(const char *path, const struct bench_report *rep)
{
	char dat[PATH_MAX];

	snprintf(dat, sizeof(dat), "%s.dat", path);
	if (put_data(dat, rep)) {
		fprintf(stderr, "bench: cannot write %s\n", dat);
		return -1;
	}
	return bench_gnuplot("bench.gp", dat, path);
}
