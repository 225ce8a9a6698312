/*
 * worker_main.c - the worker processes' entry point (see worker.h): parses
 * the flags the driver passes, runs the measurement, prints the results.
 *
 * Built once per library design (uvma-bench-refcount, -rwsem, -global);
 * UVMA_DESIGN (src/design.h) says which, and a worker refuses to measure a
 * design other than its own, except kernel, which any worker can run.
 */
#include "worker.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "design.h"

static const char usage_text[] =
	"usage: uvma-bench-" UVMA_DESIGN_NAME " [options]   (run by `uvma "
	"bench`)\n"
	"  --scenario NAME  fault, churn, hot, scale or memory\n"
	"  --design NAME    " UVMA_DESIGN_NAME " or kernel\n"
	"  --threads N      fault threads (default 1)\n"
	"  --areas LIST     areas (scale: comma-separated sizes, ascending)\n"
	"  --seconds S      length of each timed phase (default 1)\n"
	"  --seed N         seed of every random choice (default 1)\n";

static const char *const scenario_names[] = { "fault", "churn", "hot", "scale",
					      "memory" };

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (*end == 'k')
		v *= 1000, end++;
	else if (*end == 'M')
		v *= 1000000, end++;
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_areas(char *s, struct wk_params *p)
{
	char *save = NULL, *tok;

	p->nareas = 0;
	for (tok = strtok_r(s, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (p->nareas == WK_MAX_SIZES ||
		    parse_u64(tok, &p->areas[p->nareas]) ||
		    p->areas[p->nareas] == 0 ||
		    (p->nareas &&
		     p->areas[p->nareas] <= p->areas[p->nareas - 1]))
			return -EINVAL;
		p->nareas++;
	}
	return p->nareas ? 0 : -EINVAL;
}

static bool known_scenario(const char *s)
{
	for (size_t i = 0; i < sizeof(scenario_names) / sizeof(*scenario_names);
	     i++)
		if (!strcmp(s, scenario_names[i]))
			return true;
	return false;
}

static int parse(int argc, char **argv, struct wk_params *p)
{
	static const struct option opts[] = {
		{ "scenario", required_argument, NULL, 's' },
		{ "design", required_argument, NULL, 'd' },
		{ "threads", required_argument, NULL, 't' },
		{ "areas", required_argument, NULL, 'a' },
		{ "seconds", required_argument, NULL, 'S' },
		{ "seed", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	char *end;
	int c;

	memset(p, 0, sizeof(*p));
	p->scenario = "fault";
	p->design = UVMA_DESIGN_NAME;
	p->threads = 1;
	p->areas[0] = 1000;
	p->nareas = 1;
	p->seconds = 1;
	p->seed = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			p->scenario = optarg;
			break;
		case 'd':
			p->design = optarg;
			break;
		case 't':
			if (parse_u64(optarg, &v) || v == 0 || v > 1024)
				return -EINVAL;
			p->threads = (unsigned)v;
			break;
		case 'a':
			if (parse_areas(optarg, p))
				return -EINVAL;
			break;
		case 'S':
			p->seconds = strtod(optarg, &end);
			if (*end || !(p->seconds > 0) || p->seconds > 3600)
				return -EINVAL;
			break;
		case 'r':
			if (parse_u64(optarg, &p->seed))
				return -EINVAL;
			break;
		default:
			return -EINVAL;
		}
	}
	if (optind < argc || !known_scenario(p->scenario))
		return -EINVAL;
	if (strcmp(p->design, UVMA_DESIGN_NAME) && strcmp(p->design, "kernel"))
		return -EINVAL;
	return 0;
}

static void print_result(const struct wk_result *r)
{
	printf("result areas=%" PRIu64 " threads=%u faults_per_s=%.6g "
	       "base_faults_per_s=%.6g ops_per_s=%.6g p50_ns=%.6g p99_ns=%.6g "
	       "fallbacks=%" PRIu64 " retries=%" PRIu64 " errors=%" PRIu64
	       " bytes_per_vma=%.6g "
	       "lock_bytes=%.6g rcu_cbs_per_free=%.6g\n",
	       r->areas, r->threads, r->faults_per_s, r->base_faults_per_s,
	       r->ops_per_s, r->p50_ns, r->p99_ns, r->fallbacks, r->retries,
	       r->errors, r->bytes_per_vma, r->lock_bytes, r->rcu_cbs_per_free);
}

int main(int argc, char **argv)
{
	struct wk_result res[WK_MAX_SIZES];
	const struct wk_side *side;
	struct wk_params p;
	size_t nres = 0;
	int err;

	if (parse(argc, argv, &p)) {
		fputs(usage_text, stderr);
		return 2;
	}
	side = strcmp(p.design, "kernel") ? &wk_uvma : &wk_kernel;
	if (!strcmp(p.scenario, "scale")) {
		err = side->scale(&p, res, &nres);
	} else {
		err = !strcmp(p.scenario, "memory") ? side->memory(&p, res)
						    : side->faults(&p, res);
		nres = 1;
	}
	for (size_t i = 0; i < nres; i++)
		print_result(&res[i]);
	fflush(stdout);
	return err ? 1 : 0;
}
