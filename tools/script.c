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

/* Most tokens a valid line has: map with a file and its four options. */
#define MAX_TOKENS 11

/* A map line's trailing option: sets its flag; false for anything else
 * (a given option again is refused too). */
static bool map_option(const char *t, struct script_cmd *cmd)
{
	bool *f = !strcmp(t, "growsdown")   ? &cmd->growsdown
		  : !strcmp(t, "noreserve") ? &cmd->noreserve
		  : !strcmp(t, "locked")    ? &cmd->locked
		  : !strcmp(t, "populate")  ? &cmd->populate
					    : NULL;

	if (!f || *f)
		return false;
	*f = true;
	return true;
}

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

const char *const script_vm_codes[SCRIPT_VM_NR] = {
	"lo", "lf", "dc", "wf", "dd", "hg", "nh",
	"mg", "sr", "rr", "sl", "ac", "nr", "gd",
};

/* madvise's advice by name, with Linux's values. */
static const struct {
	const char *name;
	int value;
} advice_names[] = {
	{ "normal", 0 },      { "random", 1 },	       { "sequential", 2 },
	{ "willneed", 3 },    { "dontneed", 4 },       { "free", 8 },
	{ "remove", 9 },      { "dontfork", 10 },      { "dofork", 11 },
	{ "mergeable", 12 },  { "unmergeable", 13 },   { "hugepage", 14 },
	{ "nohugepage", 15 }, { "dontdump", 16 },      { "dodump", 17 },
	{ "wipeonfork", 18 }, { "keeponfork", 19 },    { "cold", 20 },
	{ "pageout", 21 },    { "populate_read", 22 }, { "populate_write", 23 },
};

static int parse_advice(const char *s, int *out)
{
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(advice_names) / sizeof(advice_names[0]); i++) {
		if (!strcmp(s, advice_names[i].name)) {
			*out = advice_names[i].value;
			return 0;
		}
	}
	if (parse_number(s, &v) || v > 0x7fffffff)
		return -1;
	*out = (int)v;
	return 0;
}

/* lockall's words (or one number): MCL_* flags. */
static int parse_lockall(char **tok, int nr, unsigned *out)
{
	uint64_t v;
	int i;

	*out = 0;
	if (nr == 2 && !parse_number(tok[1], &v) && v <= 0xffffffff) {
		*out = (unsigned)v;
		return 0;
	}
	for (i = 1; i < nr; i++) {
		if (!strcmp(tok[i], "current"))
			*out |= SCRIPT_MCL_CURRENT;
		else if (!strcmp(tok[i], "future"))
			*out |= SCRIPT_MCL_FUTURE;
		else if (!strcmp(tok[i], "onfault"))
			*out |= SCRIPT_MCL_ONFAULT;
		else
			return -1;
	}
	return 0;
}

/* OFF LEN, the first two arguments of most lines. */
static int parse_range(char **tok, struct script_cmd *cmd)
{
	return parse_number(tok[1], &cmd->off) ||
	       parse_number(tok[2], &cmd->len);
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
		while (nr > 5 && map_option(tok[nr - 1], cmd))
			nr--;
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
		if (nr > 4 && !strcmp(tok[nr - 1], "dontunmap")) {
			cmd->dontunmap = true;
			nr--;
		}
		if ((nr != 4 && nr != 5) || parse_number(tok[1], &cmd->off) ||
		    parse_number(tok[2], &cmd->len) ||
		    parse_number(tok[3], &cmd->new_len))
			return -1;
		if (nr == 5) {
			cmd->has_new_off = true;
			if (parse_number(tok[4], &cmd->new_off))
				return -1;
		}
	} else if (!strcmp(tok[0], "touch")) {
		cmd->op = SCRIPT_TOUCH;
		if (nr != 2 || parse_number(tok[1], &cmd->off))
			return -1;
	} else if (!strcmp(tok[0], "advise")) {
		cmd->op = SCRIPT_ADVISE;
		if (nr != 4 || parse_range(tok, cmd) ||
		    parse_advice(tok[3], &cmd->advice))
			return -1;
	} else if (!strcmp(tok[0], "lock")) {
		uint64_t v;

		cmd->op = SCRIPT_LOCK;
		if ((nr != 3 && nr != 4) || parse_range(tok, cmd))
			return -1;
		if (nr == 4) {
			cmd->has_flags = true;
			if (!strcmp(tok[3], "onfault"))
				v = SCRIPT_MLOCK_ONFAULT;
			else if (parse_number(tok[3], &v) || v > 0xffffffff)
				return -1;
			cmd->flags = (unsigned)v;
		}
	} else if (!strcmp(tok[0], "unlock")) {
		cmd->op = SCRIPT_UNLOCK;
		if (nr != 3 || parse_range(tok, cmd))
			return -1;
	} else if (!strcmp(tok[0], "lockall")) {
		cmd->op = SCRIPT_LOCKALL;
		if (parse_lockall(tok, nr, &cmd->flags))
			return -1;
	} else if (!strcmp(tok[0], "seal")) {
		uint64_t v = 0;

		cmd->op = SCRIPT_SEAL;
		if ((nr != 3 && nr != 4) || parse_range(tok, cmd) ||
		    (nr == 4 && (parse_number(tok[3], &v) || v > 0xffffffff)))
			return -1;
		cmd->flags = (unsigned)v;
	} else if (!strcmp(tok[0], "unlockall")) {
		cmd->op = SCRIPT_UNLOCKALL;
		if (nr != 1)
			return -1;
	} else if (!strcmp(tok[0], "memlock")) {
		cmd->op = SCRIPT_MEMLOCK;
		if (nr != 2 || parse_number(tok[1], &cmd->len))
			return -1;
	} else if (!strcmp(tok[0], "fork") || !strcmp(tok[0], "exit")) {
		cmd->op = tok[0][0] == 'f' ? SCRIPT_FORK : SCRIPT_EXIT;
		if (nr != 1)
			return -1;
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
	case EIO:
		return "EIO";
	case EPERM:
		return "EPERM";
	case EBUSY:
		return "EBUSY";
	default:
		return "EOTHER";
	}
}

void script_print_area(FILE *out, const struct script_area *a)
{
	char perms[5], name[16];
	int i;

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
	fprintf(out, "%#lx-%#lx %s %#lx %s", (unsigned long)a->start,
		(unsigned long)a->end, perms,
		(unsigned long)(a->file < 0 ? 0 : a->off), name);
	for (i = 0; i < SCRIPT_VM_NR; i++)
		if (a->vm & (1u << i))
			fprintf(out, " %s", script_vm_codes[i]);
	fputc('\n', out);
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
	case SCRIPT_TOUCH:
		return be->touch(ctx, cmd);
	case SCRIPT_ADVISE:
		return be->advise(ctx, cmd);
	case SCRIPT_LOCK:
		return be->lock(ctx, cmd);
	case SCRIPT_UNLOCK:
		return be->unlock(ctx, cmd);
	case SCRIPT_LOCKALL:
		return be->lockall(ctx, cmd);
	case SCRIPT_UNLOCKALL:
		return be->unlockall(ctx, cmd);
	case SCRIPT_MEMLOCK:
		return be->memlock(ctx, cmd);
	case SCRIPT_SEAL:
		return be->seal(ctx, cmd);
	case SCRIPT_FORK:
	case SCRIPT_EXIT:
		break; /* the driver's (run_script) */
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
		"  -v, --verbose   trace each line and the map after it to "
		"stderr\n"
		"  --no-zero-page  model a kernel without the zero page: a "
		"read\n"
		"                  fault gives a private anonymous area its "
		"anon_vma\n"
		"%s"
		"  -h, --help      show this help and exit\n",
		be->name, be->description,
		be->probe ? "  --probe         print the options that model "
			    "the running\n"
			    "                  kernel, and exit\n"
			  : "");
}

/* The whole script, in memory: a parent process skips what its child
 * ran, so lines are read by index. */
struct lines {
	char **v;
	size_t nr;
};

static int read_lines(FILE *f, struct lines *l, const char *name)
{
	size_t cap = 0;
	char *line = NULL;
	size_t len = 0;

	l->v = NULL;
	l->nr = 0;
	while (getline(&line, &len, f) != -1) {
		if (l->nr == cap) {
			char **v = realloc(l->v,
					   (cap ? 2 * cap : 64) * sizeof(*v));

			if (!v)
				goto oom;
			l->v = v;
			cap = cap ? 2 * cap : 64;
		}
		l->v[l->nr] = strdup(line);
		if (!l->v[l->nr])
			goto oom;
		l->nr++;
	}
	free(line);
	if (!ferror(f))
		return 0;
	fprintf(stderr, "%s: read error: %s\n", name, strerror(errno));
	return -1;
oom:
	free(line);
	fprintf(stderr, "%s: out of memory\n", name);
	return -1;
}

static void free_lines(struct lines *l)
{
	for (size_t i = 0; i < l->nr; i++)
		free(l->v[i]);
	free(l->v);
}

/* The index of the exit that ends the child forked at line i (nested
 * forks counted), or l->nr when it runs to the end. */
static size_t child_end(const struct lines *l, size_t i)
{
	struct script_cmd cmd;
	unsigned depth = 0;

	for (i++; i < l->nr; i++) {
		if (script_parse_line(l->v[i], &cmd) != 1)
			continue;
		if (cmd.op == SCRIPT_FORK)
			depth++;
		else if (cmd.op == SCRIPT_EXIT && depth-- == 0)
			return i;
	}
	return l->nr;
}

/* A space's part of the output: its failed lines, then its map. */
struct level {
	unsigned fork_line; /* 0 for the first space */
	struct error_list errors;
};

static int print_level(const struct script_backend *be, void *ctx,
		       struct level *lv)
{
	size_t i;

	if (lv->fork_line)
		printf("child %u\n", lv->fork_line);
	for (i = 0; i < lv->errors.nr; i++)
		printf("error %u %s\n", lv->errors.v[i].lineno,
		       lv->errors.v[i].name);
	free(lv->errors.v);
	lv->errors = (struct error_list){ 0 };
	return be->for_each_area(ctx, print_area_cb, stdout) ? -1 : 0;
}

/* Line i, a fork or an exit; returns the next line's index. */
static size_t run_fork_exit(const struct script_backend *be, void *ctx,
			    const struct lines *l, size_t i,
			    const struct script_cmd *cmd, struct level *lv,
			    unsigned *depth, const char **name, int *ret)
{
	int r;

	if (cmd->op == SCRIPT_EXIT) {
		if (!*depth) {
			*name = "EINVAL";
			return i + 1;
		}
		r = print_level(be, ctx, &lv[*depth]);
		fflush(stdout);
		be->exit(ctx, r);
		if (r)
			*ret = -1;
		--*depth;
		return i + 1;
	}
	r = *depth + 1 >= SCRIPT_MAX_DEPTH ? EAGAIN : be->fork(ctx);
	if (r == SCRIPT_FORK_HERE) {
		++*depth;
		lv[*depth] = (struct level){ cmd->lineno, { 0 } };
		return i + 1;
	}
	if (r == SCRIPT_FORK_DONE || r == SCRIPT_FORK_FAILED) {
		if (r == SCRIPT_FORK_FAILED)
			*ret = -1;
		return child_end(l, i) + 1;
	}
	/* No child: its lines do not run (in any space). */
	*name = script_error_name(r);
	return child_end(l, i) + 1;
}

/* Run every line; 0, or -1 when out of memory or a map cannot be listed
 * (already reported). */
static int run_script(const struct lines *l, const struct script_backend *be,
		      void *ctx, bool verbose)
{
	struct level lv[SCRIPT_MAX_DEPTH] = { 0 };
	unsigned depth = 0;
	struct script_cmd cmd;
	int ret = 0;
	size_t i = 0;

	while (i < l->nr) {
		const char *name = NULL, *line = l->v[i];
		size_t next = i + 1;
		int r = script_parse_line(line, &cmd);

		if (r == 0) {
			i = next;
			continue;
		}
		cmd.lineno = (unsigned)i + 1;
		if (r < 0)
			name = "BADLINE";
		else if (cmd.op == SCRIPT_FORK || cmd.op == SCRIPT_EXIT)
			next = run_fork_exit(be, ctx, l, i, &cmd, lv, &depth,
					     &name, &ret);
		else if ((r = run_cmd(be, ctx, &cmd)))
			name = script_error_name(r);
		if (verbose) {
			fprintf(stderr, "%u: %.*s -> %s\n", cmd.lineno,
				(int)strcspn(line, "\n"), line,
				name ? name : "ok");
			be->for_each_area(ctx, trace_area_cb, NULL);
		}
		if (name && error_add(&lv[depth].errors, cmd.lineno, name)) {
			fprintf(stderr, "%s: out of memory\n", be->name);
			return -1;
		}
		i = next;
	}
	for (; depth > 0; depth--) {
		int r = print_level(be, ctx, &lv[depth]);

		fflush(stdout);
		be->exit(ctx, r);
		if (r)
			ret = -1;
	}
	return print_level(be, ctx, &lv[0]) ? -1 : ret;
}

/* --probe: the options that model the running system, on one line. */
static int print_probe(const struct script_backend *be)
{
	struct script_model model = { false };

	if (be->probe(&model))
		return 1;
	printf("%s\n", model.no_zero_page ? "--no-zero-page" : "");
	return fflush(stdout) || ferror(stdout) ? 1 : 0;
}

int script_main(int argc, char **argv, const struct script_backend *be,
		void *ctx)
{
	static const struct option options[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "no-zero-page", no_argument, NULL, 'z' },
		{ "probe", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct script_model model = { false };
	struct lines lines;
	bool verbose = false;
	FILE *f;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "vh", options, NULL)) != -1) {
		switch (opt) {
		case 'v':
			verbose = true;
			break;
		case 'z':
			model.no_zero_page = true;
			break;
		case 'p':
			if (!be->probe) {
				fprintf(stderr,
					"%s: --probe: only the kernel "
					"can be probed\n",
					be->name);
				return EXIT_USAGE;
			}
			return print_probe(be);
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
	if (read_lines(f, &lines, be->name)) {
		fclose(f);
		free_lines(&lines);
		return 1;
	}
	fclose(f);
	if (be->init(ctx, &model)) {
		free_lines(&lines);
		return 1;
	}
	ret = run_script(&lines, be, ctx, verbose);
	be->fini(ctx);
	free_lines(&lines);
	if (fflush(stdout) || ferror(stdout))
		return 1;
	return ret ? 1 : 0;
}
