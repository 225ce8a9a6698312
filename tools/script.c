/*
 * script.c - parse, run and print operation scripts (see script.h).
 *
 * Kept free of uvma and of the kernel's calls, so that uvma-kernel-replay
 * can be built from it without the library: the two programs differ only in
 * their backend.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "script.h"

#define EXIT_USAGE 2

/* Most tokens a valid line has: remap with NEWOFF, map with a file. */
#define MAX_TOKENS 7

/*
 * A number in C notation. strtoull alone would take "-1" (as ULLONG_MAX),
 * leading blanks and "0x" with no digits; a script with those is wrong, not
 * a test of huge values, so refuse them.
 */
static int parse_number(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || end == s)
		return -1;
	*out = v;
	return 0;
}

static int parse_prot(const char *s, unsigned *out)
{
	static const char letters[3] = { 'r', 'w', 'x' };
	unsigned prot = 0;
	int i;

	if (strlen(s) != 3)
		return -1;
	for (i = 0; i < 3; i++) {
		if (s[i] == letters[i])
			prot |= 1U << i;
		else if (s[i] != '-')
			return -1;
	}
	*out = prot;
	return 0;
}

static int parse_file(const char *s, int *out)
{
	if (s[0] != 'F' || s[1] < '0' || s[1] >= '0' + SCRIPT_NR_FILES || s[2])
		return -1;
	*out = s[1] - '0';
	return 0;
}

int script_parse_line(const char *line, struct script_cmd *cmd)
{
	char buf[512], *tok[MAX_TOKENS + 1], *save, *p;
	size_t n;
	int nr = 0;

	n = strcspn(line, "#\n");
	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, line, n);
	buf[n] = '\0';

	for (p = strtok_r(buf, " \t\r\v\f", &save); p;
	     p = strtok_r(NULL, " \t\r\v\f", &save)) {
		if (nr == MAX_TOKENS)
			return -1;
		tok[nr++] = p;
	}
	if (nr == 0)
		return 0;

	memset(cmd, 0, sizeof(*cmd));
	cmd->file = -1;
	if (!strcmp(tok[0], "map")) {
		cmd->op = SCRIPT_MAP;
		if (nr != 5 && nr != 7)
			return -1;
		if (parse_number(tok[1], &cmd->off) ||
		    parse_number(tok[2], &cmd->len) ||
		    parse_prot(tok[3], &cmd->prot))
			return -1;
		if (!strcmp(tok[4], "shared"))
			cmd->shared = true;
		else if (strcmp(tok[4], "private"))
			return -1;
		if (nr == 7 && (parse_file(tok[5], &cmd->file) ||
				parse_number(tok[6], &cmd->file_off)))
			return -1;
	} else if (!strcmp(tok[0], "unmap")) {
		cmd->op = SCRIPT_UNMAP;
		if (nr != 3 || parse_number(tok[1], &cmd->off) ||
		    parse_number(tok[2], &cmd->len))
			return -1;
	} else if (!strcmp(tok[0], "protect")) {
		cmd->op = SCRIPT_PROTECT;
		if (nr != 4 || parse_number(tok[1], &cmd->off) ||
		    parse_number(tok[2], &cmd->len) ||
		    parse_prot(tok[3], &cmd->prot))
			return -1;
	} else if (!strcmp(tok[0], "remap")) {
		cmd->op = SCRIPT_REMAP;
		if ((nr != 4 && nr != 5) || parse_number(tok[1], &cmd->off) ||
		    parse_number(tok[2], &cmd->len) ||
		    parse_number(tok[3], &cmd->new_len))
			return -1;
		if (nr == 5) {
			cmd->has_new_off = true;
			if (parse_number(tok[4], &cmd->new_off))
				return -1;
		}
	} else {
		return -1;
	}
	return 1;
}

const char *script_error_name(int err)
{
	switch (err) {
	case SCRIPT_MOVED_OUT:
		return "MOVED_OUT";
	case EINVAL:
		return "EINVAL";
	case ENOMEM:
		return "ENOMEM";
	case EEXIST:
		return "EEXIST";
	case EFAULT:
		return "EFAULT";
	case EACCES:
		return "EACCES";
	case EAGAIN:
		return "EAGAIN";
	default:
		return "EOTHER";
	}
}

void script_print_area(FILE *out, const struct script_area *a)
{
	char perms[5], name[16];

	perms[0] = a->prot & SCRIPT_PROT_READ ? 'r' : '-';
	perms[1] = a->prot & SCRIPT_PROT_WRITE ? 'w' : '-';
	perms[2] = a->prot & SCRIPT_PROT_EXEC ? 'x' : '-';
	perms[3] = a->shared ? 's' : 'p';
	perms[4] = '\0';
	if (a->file < 0)
		strcpy(name, "anon");
	else if (a->file < SCRIPT_NR_FILES)
		snprintf(name, sizeof(name), "F%d", a->file);
	else
		strcpy(name, "unknown");
	fprintf(out, "%#lx-%#lx %s %#lx %s\n", (unsigned long)a->start,
		(unsigned long)a->end, perms,
		(unsigned long)(a->file < 0 ? 0 : a->off), name);
}

/* The failed lines, kept to be printed before the map. */
struct error_list {
	struct script_error {
		unsigned lineno;
		const char *name;
	} * v;
	size_t nr, cap;
};

static int error_add(struct error_list *el, unsigned lineno, const char *name)
{
	if (el->nr == el->cap) {
		size_t cap = el->cap ? 2 * el->cap : 64;
		struct script_error *v = realloc(el->v, cap * sizeof(*v));

		if (!v)
			return -1;
		el->v = v;
		el->cap = cap;
	}
	el->v[el->nr].lineno = lineno;
	el->v[el->nr].name = name;
	el->nr++;
	return 0;
}

static int run_cmd(const struct script_backend *be, void *ctx,
		   const struct script_cmd *cmd)
{
	switch (cmd->op) {
	case SCRIPT_MAP:
		return be->map(ctx, cmd);
	case SCRIPT_UNMAP:
		return be->unmap(ctx, cmd);
	case SCRIPT_PROTECT:
		return be->protect(ctx, cmd);
	case SCRIPT_REMAP:
		return be->remap(ctx, cmd);
	}
	return EINVAL;
}

static int print_area_cb(const struct script_area *area, void *arg)
{
	script_print_area(arg, area);
	return 0;
}

/* For --verbose: the map after each line, to stderr. */
static int trace_area_cb(const struct script_area *area, void *arg)
{
	(void)arg;
	fputs("    ", stderr);
	script_print_area(stderr, area);
	return 0;
}

static void usage(FILE *out, const struct script_backend *be)
{
	fprintf(out,
		"usage: %s [OPTIONS] SCRIPT\n"
		"\n"
		"%s\n"
		"Prints `error LINE NAME` for each failed line, then the "
		"final\n"
		"map of the window, one area per line. Script format: see\n"
		"docs/semantics.md.\n"
		"\n"
		"Options:\n"
		"  -v, --verbose  trace each line and the map after it to "
		"stderr\n"
		"  -h, --help     show this help and exit\n",
		be->name, be->description);
}

/* Run every line of f; 0, or -1 when out of memory or the map cannot be
 * listed (already reported). */
static int run_script(FILE *f, const struct script_backend *be, void *ctx,
		      bool verbose)
{
	struct error_list errors = { 0 };
	struct script_cmd cmd;
	unsigned lineno = 0;
	char *line = NULL;
	size_t cap = 0;
	int ret = 0;
	size_t i;

	while (getline(&line, &cap, f) != -1) {
		const char *name = NULL;
		int r;

		lineno++;
		r = script_parse_line(line, &cmd);
		if (r == 0)
			continue;
		if (r < 0) {
			name = "BADLINE";
		} else {
			cmd.lineno = lineno;
			r = run_cmd(be, ctx, &cmd);
			if (r)
				name = script_error_name(r);
		}
		if (verbose) {
			fprintf(stderr, "%u: %.*s -> %s\n", lineno,
				(int)strcspn(line, "\n"), line,
				name ? name : "ok");
			be->for_each_area(ctx, trace_area_cb, NULL);
		}
		if (name && error_add(&errors, lineno, name)) {
			fprintf(stderr, "%s: out of memory\n", be->name);
			ret = -1;
			goto out;
		}
	}
	if (ferror(f)) {
		fprintf(stderr, "%s: read error: %s\n", be->name,
			strerror(errno));
		ret = -1;
		goto out;
	}

	for (i = 0; i < errors.nr; i++)
		printf("error %u %s\n", errors.v[i].lineno, errors.v[i].name);
	if (be->for_each_area(ctx, print_area_cb, stdout))
		ret = -1;
out:
	free(line);
	free(errors.v);
	return ret;
}

int script_main(int argc, char **argv, const struct script_backend *be,
		void *ctx)
{
	static const struct option options[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool verbose = false;
	FILE *f;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "vh", options, NULL)) != -1) {
		switch (opt) {
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout, be);
			return 0;
		default:
			usage(stderr, be);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "%s: expected one SCRIPT\n", be->name);
		usage(stderr, be);
		return EXIT_USAGE;
	}

	f = fopen(argv[optind], "r");
	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", be->name, argv[optind],
			strerror(errno));
		return 1;
	}
	if (be->init(ctx)) {
		fclose(f);
		return 1;
	}
	ret = run_script(f, be, ctx, verbose);
	be->fini(ctx);
	fclose(f);
	if (fflush(stdout) || ferror(stdout))
		return 1;
	return ret ? 1 : 0;
}
