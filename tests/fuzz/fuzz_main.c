/*
 * fuzz_main.c - runs the fuzz target of fuzz_ops.c without libFuzzer, so
 * that any compiler builds it and CTest runs it in every configuration.
 *
 *   test_fuzz_ops [--seed N] [--count N] [--max-len N] [FILE|DIR ...]
 *
 * First every FILE (and every file in each DIR) is replayed as one input:
 * reproducers saved by libFuzzer or by this driver. Then --count random
 * inputs (default 1500, scaled by test_scale()) of up to --max-len bytes
 * (default 400, about 30 operations), drawn from the seed. Random bytes
 * are a fair program for the target: every byte decodes to some operation
 * or argument. Each input ends by destroying its address space, which
 * waits for liburcu's callback thread (up to 10 ms): fewer, longer inputs
 * test more per second.
 *
 * When an input fails, the target prints what it found and aborts; just
 * before, this driver writes the input to fuzz_ops-crash-<seed>-<n>.bin in
 * the current directory, for `test_fuzz_ops FILE` or the libFuzzer build.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "check.h"
#include "fuzz_ops.h"

#define FUZZ_MAX_INPUT (1u << 20)

static uint64_t cur_index;

static void save_input(const uint8_t *data, size_t size)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path),
		 "fuzz_ops-crash-%" PRIu64 "-%" PRIu64 ".bin",
		 *test_seed_slot(), cur_index);
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size) {
		fprintf(stderr, "could not save the input to %s\n", path);
		if (f)
			fclose(f);
		return;
	}
	fclose(f);
	fprintf(stderr, "input saved to %s (replay: test_fuzz_ops %s)\n", path,
		path);
}

static void run_file(const char *path)
{
	static uint8_t buf[FUZZ_MAX_INPUT];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		exit(2);
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	printf("replay %s (%zu bytes)\n", path, n);
	fflush(stdout);
	LLVMFuzzerTestOneInput(buf, n);
}

static int skip_name(const char *name)
{
	return name[0] == '.' || !strcmp(name, "README.md");
}

static void run_path(const char *path)
{
	struct stat st;
	struct dirent **list;
	int n;

	if (stat(path, &st)) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		exit(2);
	}
	if (!S_ISDIR(st.st_mode)) {
		run_file(path);
		return;
	}
	/* Sorted, so runs are repeatable. */
	n = scandir(path, &list, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		exit(2);
	}
	for (int i = 0; i < n; i++) {
		char sub[4096];

		if (!skip_name(list[i]->d_name)) {
			snprintf(sub, sizeof(sub), "%s/%s", path,
				 list[i]->d_name);
			run_file(sub);
		}
		free(list[i]);
	}
	free(list);
}

int main(int argc, char **argv)
{
	static uint8_t buf[FUZZ_MAX_INPUT];
	uint64_t count = test_scaled(1500, 50), max_len = 400;
	struct fuzz_ops_stats st;
	struct timespec t0, t1;
	double secs;

	test_seed(argc, argv);
	fuzz_ops_fail_hook = save_input;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			i++;
		} else if (!strncmp(argv[i], "--seed=", 7)) {
			continue;
		} else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
			if (parse_u64(argv[++i], &count)) {
				fprintf(stderr, "bad --count\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "--max-len") && i + 1 < argc) {
			if (parse_u64(argv[++i], &max_len) || !max_len ||
			    max_len > FUZZ_MAX_INPUT) {
				fprintf(stderr, "bad --max-len\n");
				return 2;
			}
		} else if (argv[i][0] == '-') {
			fprintf(stderr,
				"usage: %s [--seed N] [--count N] "
				"[--max-len N] [FILE|DIR ...]\n",
				argv[0]);
			return 2;
		} else {
			run_path(argv[i]);
		}
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (cur_index = 0; cur_index < count; cur_index++) {
		size_t n = 1 + (size_t)rng_below(max_len);

		for (size_t i = 0; i < n; i += 8) {
			uint64_t x = rng_next();

			memcpy(buf + i, &x, n - i < 8 ? n - i : 8);
		}
		LLVMFuzzerTestOneInput(buf, n);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	fuzz_ops_get_stats(&st);
	printf("fuzz_ops: %" PRIu64 " inputs, %" PRIu64 " operations (%" PRIu64
	       " succeeded, %" PRIu64 " failed; %" PRIu64
	       " with an allocation failure armed, %" PRIu64
	       " of them -ENOMEM; %" PRIu64 " first writes, %" PRIu64
	       " on touched memory, %" PRIu64 " in a fork's child, %" PRIu64
	       " stack growths, %" PRIu64
	       " advice and locks changing the map), %" PRIu64
	       " random inputs in %.2f s: ok\n",
	       st.inputs, st.ops, st.ok, st.failed, st.injected, st.enomem,
	       st.touched, st.on_touched, st.forks, st.grown, st.flagged, count,
	       secs);
	return 0;
}
