/*
 * uvma.c - the uvma command line: `uvma [OPTIONS] COMMAND [ARGS...]`.
 *
 * This file only dispatches. It parses the options that come before the
 * command (--help, --version), then hands the rest of the command line to the
 * command's own entry point, whose argv[0] is the command's name. Commands
 * are rows of the table `commands` below: adding one (replay, stress, maps)
 * is a function and a row.
 *
 * No shared state and no locks: everything here runs on the main thread
 * before any command starts.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "uvma.h"
#include "bench.h"
#include "script.h"

/* Exit status for a command line we do not understand. */
#define EXIT_USAGE 2

struct command {
	const char *name;
	/* argv[0] is the command's name; returns the exit status. */
	int (*run)(int argc, char **argv);
	const char *help; /* one line */
};

static int cmd_bench(int argc, char **argv);
static int cmd_replay(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
	{ "bench", cmd_bench,
	  "run benchmarks (uvma bench --help for options)" },
	{ "replay", cmd_replay,
	  "run an operation script, print errors and the final map" },
	{ "help", cmd_help, "show this help" },
};

#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: uvma [OPTIONS] COMMAND [ARGS...]\n"
		     "\n"
		     "A userspace address space with Linux's per-VMA locking.\n"
		     "\n"
		     "Commands:\n");
	for (i = 0; i < NR_COMMANDS; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name,
			commands[i].help);
	fprintf(out, "\n"
		     "Options:\n"
		     "  -h, --help     show this help and exit\n"
		     "  -V, --version  show the version and exit\n");
}

static int cmd_bench(int argc, char **argv)
{
	return bench_main(argc, argv);
}

static int cmd_replay(int argc, char **argv)
{
	return replay_main(argc, argv);
}

static int cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	usage(stdout);
	return 0;
}

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < NR_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const struct command *cmd;
	int opt;

	/* '+': stop at the first non-option, the command; what follows it
	 * belongs to the command. getopt_long reports bad options itself. */
	while ((opt = getopt_long(argc, argv, "+hV", options, NULL)) != -1) {
		switch (opt) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("uvma %s\n", uvma_version());
			return 0;
		default:
			/* getopt_long has printed what was wrong. */
			usage(stderr);
			return EXIT_USAGE;
		}
	}

	if (optind >= argc) {
		fprintf(stderr, "uvma: no command given\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = find_command(argv[optind]);
	if (!cmd) {
		fprintf(stderr, "uvma: unknown command '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}

	argc -= optind;
	argv += optind;
	/* Let the command run getopt from a clean state: 0 makes glibc
	 * forget the '+' ordering and any half-scanned option above. */
	optind = 0;
	return cmd->run(argc, argv);
}
