/*
 * check.h - the test harness shared by every test program: checks that
 * abort with the failing expression, the case and the seed, the seed
 * itself, a fast per-thread PRNG, the run-length scale, and the one case
 * runner of the unit tests (test_run_cases: --case, --seed, --list).
 *
 * Header-only and static, so each test is one self-contained executable.
 * A failing check aborts at once: the seed printed with the failure is all
 * that is needed to replay the run (--seed N or UVMA_SEED=N).
 */
#ifndef UVMA_TEST_CHECK_H
#define UVMA_TEST_CHECK_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The run's seed, kept so every failure message can repeat it. */
static inline uint64_t *test_seed_slot(void)
{
	static uint64_t seed;

	return &seed;
}

/* The case running now (test_run_cases), for failure messages. */
static inline const char **test_case_slot(void)
{
	static const char *name;

	return &name;
}

/*
 * A test may register a function that prints where it was (a step number,
 * the last operation) when a check fails: the seed replays the run, this
 * says where to look in it.
 */
typedef void (*test_context_fn)(FILE *out);

static inline test_context_fn *test_context_slot(void)
{
	static test_context_fn fn;

	return &fn;
}

static inline void test_set_context(test_context_fn fn)
{
	*test_context_slot() = fn;
}

static inline void check_print_context(void)
{
	test_context_fn fn = *test_context_slot();

	fflush(stdout);
	if (*test_case_slot())
		fprintf(stderr, "in case %s (rerun alone with --case %s)\n",
			*test_case_slot(), *test_case_slot());
	if (fn)
		fn(stderr);
}

__attribute__((noreturn, cold)) static inline void
check_fail(const char *file, int line, const char *expr)
{
	uint64_t seed = *test_seed_slot();

	check_print_context();
	fprintf(stderr,
		"%s:%d: check failed: %s (seed %" PRIu64
		", rerun with --seed %" PRIu64 ")\n",
		file, line, expr, seed, seed);
	abort();
}

__attribute__((noreturn, cold)) static inline void
check_fail_u64(const char *file, int line, const char *a, const char *b,
	       uint64_t va, uint64_t vb)
{
	uint64_t seed = *test_seed_slot();

	check_print_context();
	fprintf(stderr,
		"%s:%d: check failed: %s == %s (0x%" PRIx64 " != 0x%" PRIx64
		", %" PRId64 " != %" PRId64 ") (seed %" PRIu64
		", rerun with --seed %" PRIu64 ")\n",
		file, line, a, b, va, vb, (int64_t)va, (int64_t)vb, seed, seed);
	abort();
}

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (__builtin_expect(!(cond), 0))                              \
			check_fail(__FILE__, __LINE__, #cond);                 \
	} while (0)

#define CHECK_EQ_U64(a, b)                                                     \
	do {                                                                   \
		uint64_t check_a_ = (uint64_t)(a);                             \
		uint64_t check_b_ = (uint64_t)(b);                             \
		if (__builtin_expect(check_a_ != check_b_, 0))                 \
			check_fail_u64(__FILE__, __LINE__, #a, #b, check_a_,   \
				       check_b_);                              \
	} while (0)

/*
 * The PRNG: splitmix64. One 64-bit word of state per thread, so threads of a
 * stress test draw independent streams without sharing anything.
 */
static inline uint64_t *rng_state(void)
{
	static _Thread_local uint64_t state;

	return &state;
}

static inline void rng_seed(uint64_t seed)
{
	*rng_state() = seed;
}

static inline uint64_t rng_next(void)
{
	uint64_t z = (*rng_state() += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/*
 * Uniform in [0, n), n > 0. Multiply-shift with rejection of the few
 * values that would make low results more likely than high ones.
 */
static inline uint64_t rng_below(uint64_t n)
{
	uint64_t threshold = -n % n;
	unsigned __int128 m;

	do {
		m = (unsigned __int128)rng_next() * n;
	} while ((uint64_t)m < threshold);
	return (uint64_t)(m >> 64);
}

/* Uniform in [lo, hi], lo <= hi. */
static inline uint64_t rng_range(uint64_t lo, uint64_t hi)
{
	if (hi - lo == UINT64_MAX)
		return rng_next();
	return lo + rng_below(hi - lo + 1);
}

/* True with probability num/den. */
static inline int rng_chance(uint64_t num, uint64_t den)
{
	return rng_below(den) < num;
}

/* Derive an independent stream seed (for a thread) from the run's seed. */
static inline uint64_t rng_derive(uint64_t seed, uint64_t stream)
{
	uint64_t z = seed + (stream + 1) * 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || !*s)
		return -1;
	*out = strtoull(s, &end, 0);
	return *end ? -1 : 0;
}

/* The value of a flag given as "NAME VALUE" on the command line, or dflt. */
static inline uint64_t arg_u64(int argc, char **argv, const char *name,
			       uint64_t dflt)
{
	uint64_t v;

	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], name) && !parse_u64(argv[i + 1], &v))
			return v;
	return dflt;
}

/*
 * The run's seed: --seed N (or --seed=N), else $UVMA_SEED, else from the
 * clock. Always printed first, so a failure in CI can be replayed. Also
 * seeds the calling thread's PRNG.
 */
static inline uint64_t test_seed(int argc, char **argv)
{
	struct timespec ts;
	uint64_t seed = 0;
	int found = 0;

	for (int i = 1; i < argc && !found; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			found = !parse_u64(argv[i + 1], &seed);
		else if (!strncmp(argv[i], "--seed=", 7))
			found = !parse_u64(argv[i] + 7, &seed);
	}
	if (!found)
		found = !parse_u64(getenv("UVMA_SEED"), &seed);
	if (!found) {
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = rng_derive((uint64_t)ts.tv_sec * 1000000000ULL +
					  (uint64_t)ts.tv_nsec,
				  (uint64_t)getpid());
	}
	*test_seed_slot() = seed;
	rng_seed(seed);
	printf("seed: %" PRIu64 " (rerun with --seed %" PRIu64 ")\n", seed,
	       seed);
	fflush(stdout);
	return seed;
}

/*
 * How much work to do: 1.0 normally, 0.1 in sanitizer builds (which run
 * several times slower), or $UVMA_TEST_SCALE when set to a positive number.
 */
static inline double test_scale(void)
{
	const char *env = getenv("UVMA_TEST_SCALE");
	double scale;

#ifdef UVMA_SANITIZER
	scale = 0.1;
#else
	scale = 1.0;
#endif
	if (env && *env) {
		char *end;
		double v = strtod(env, &end);

		if (!*end && v > 0)
			scale = v;
	}
	return scale;
}

/* n scaled by test_scale(), never below min. */
static inline uint64_t test_scaled(uint64_t n, uint64_t min)
{
	double v = (double)n * test_scale();

	return v < (double)min ? min : (uint64_t)v;
}

/*
 * The case runner every unit test uses. A test is a table of named cases;
 * its main is `return test_run_cases(argc, argv, cases, n);`.
 *   --seed N     the run's seed (test_seed); each case's PRNG is seeded
 *                from it and the case's name, so a case draws the same
 *                numbers alone (--case) as within the whole run
 *   --case NAME  run only this case (may be given more than once)
 *   --list       print the case names and exit
 * Prints "ok NAME" after each case and a closing "N passed, 0 failed" (a
 * failing check aborts before it). An unknown case name is an error.
 */
struct test_case {
	const char *name;
	void (*fn)(void);
};

static inline bool test_case_wanted(int argc, char **argv, const char *name,
				    int *selected)
{
	bool any = false;

	*selected = 0;
	for (int i = 1; i + 1 < argc; i++) {
		if (strcmp(argv[i], "--case"))
			continue;
		(*selected)++;
		any = any || !strcmp(argv[i + 1], name);
	}
	return !*selected || any;
}

static inline uint64_t test_name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static inline int test_run_cases(int argc, char **argv,
				 const struct test_case *cases, size_t n)
{
	uint64_t seed;
	int selected = 0, ran = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--list"))
			continue;
		for (size_t k = 0; k < n; k++)
			printf("%s\n", cases[k].name);
		return 0;
	}
	for (int i = 1; i + 1 < argc; i++) {
		size_t k;

		if (strcmp(argv[i], "--case"))
			continue;
		for (k = 0; k < n && strcmp(cases[k].name, argv[i + 1]); k++)
			;
		if (k == n) {
			fprintf(stderr, "no case named %s (--list)\n",
				argv[i + 1]);
			return 2;
		}
	}
	seed = test_seed(argc, argv);
	for (size_t k = 0; k < n; k++) {
		if (!test_case_wanted(argc, argv, cases[k].name, &selected))
			continue;
		*test_case_slot() = cases[k].name;
		rng_seed(rng_derive(seed, test_name_hash(cases[k].name)));
		cases[k].fn();
		*test_case_slot() = NULL;
		printf("ok %s\n", cases[k].name);
		fflush(stdout);
		ran++;
	}
	printf("%d passed, 0 failed\n", ran);
	return 0;
}

#endif
