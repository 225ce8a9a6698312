/*
 * gen_script.c - random operation scripts for the conformance tests: the
 * same seed always gives the same script, which starts with a comment
 * naming its seed and options.
 *
 *   gen_script [--seed N] [--ops N] [--pages N] [--base ADDR] [--fixed PCT]
 *
 * The operations fall in a small region (64 pages by default) so that
 * areas touch all the time: most maps, protects, unmaps and remaps then
 * split or merge something. The choices lean towards what makes merges
 * possible: few protections, file offsets that mostly follow the address
 * (so file areas line up), and remap destinations inside the region. A
 * few lines are argument errors (unaligned offsets, zero lengths). Writes
 * (touch) give areas their anon_vma, which then decides merges and moves.
 * Advice, locks, mlockall and (rarely) seals set hidden flags, which split and
 * merge areas too (and a lock faults a range in, writing it); page advice is
 * there for its errors. No advice that harms the machine (MADV_HWPOISON)
 * is ever written, and locked ranges stay small.
 *
 * Single-threaded; no state but the PRNG.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define PAGE ((uint64_t)4096)

static uint64_t rng_state;

/* splitmix64: tiny, and every seed (0 included) gives a good stream. */
static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0 (the bias of the modulo does not matter). */
static uint64_t rnd(uint64_t n)
{
	return rng_next() % n;
}

/* True with probability pct percent. */
static int chance(unsigned pct)
{
	return rnd(100) < pct;
}

struct gen {
	uint64_t base;	/* first address of the region */
	uint64_t pages; /* its size in pages */
	uint64_t fixed; /* percentage of remaps given a NEWOFF */
};

/*
 * Protections: mostly two, so that neighbours often agree and merge; the
 * others often enough to split.
 */
static const char *pick_prot(void)
{
	static const char *const prots[] = { "rw-", "rw-", "rw-", "r--",
					     "r--", "---", "r-x", "rwx" };

	return prots[rnd(sizeof(prots) / sizeof(prots[0]))];
}

/* A page index in the region, sometimes just outside it. */
static uint64_t pick_page(const struct gen *g)
{
	return rnd(g->pages + 4);
}

/* A length in pages: mostly short, sometimes long. */
static uint64_t pick_len(void)
{
	return chance(80) ? 1 + rnd(4) : 1 + rnd(16);
}

/*
 * An address: the page's address, except for the rare deliberate argument
 * error (an address off a page boundary).
 */
static uint64_t addr_of(const struct gen *g, uint64_t page)
{
	uint64_t a = g->base + page * PAGE;

	return chance(1) ? a + 8 * (1 + rnd(500)) : a;
}

static uint64_t len_of(uint64_t pages)
{
	if (chance(1))
		return 0;
	/* Now and then a length that is not a whole number of pages. */
	return chance(5) ? pages * PAGE - 1 - rnd(PAGE - 1) : pages * PAGE;
}

static void gen_map(const struct gen *g)
{
	uint64_t page = pick_page(g), len = pick_len();
	int shared = chance(25);

	printf("map %#" PRIx64 " %#" PRIx64 " %s %s", addr_of(g, page),
	       len_of(len), pick_prot(), shared ? "shared" : "private");
	if (chance(55)) {
		/* A file offset that follows the address (a linear map of
		 * the file over the region) most of the time, so file areas
		 * line up; otherwise shifted by a few pages. */
		uint64_t file = chance(70) ? 0 : 1 + rnd(2);
		int64_t shift = chance(75) ? 0 : (int64_t)rnd(9) - 4;
		int64_t fpage = (int64_t)page + shift + 16;
		uint64_t foff = (uint64_t)(fpage < 0 ? 0 : fpage) * PAGE;

		if (chance(1))
			foff += 512; /* unaligned: EINVAL */
		printf(" F%" PRIu64 " %#" PRIx64, file, foff);
	} else if (!shared && chance(30)) {
		/* A stack: never merges with a plain area, does with a
		 * stack; a touch just below grows it. */
		printf(" growsdown");
	}
	/* Not charged (nr, never ac): apart from a charged neighbour. */
	if (chance(15))
		printf(" noreserve");
	/* Faulted in (touched when private and writable), or locked too. */
	if (chance(6))
		printf(" populate");
	if (chance(4))
		printf(" locked");
	printf("\n");
}

static void gen_unmap(const struct gen *g)
{
	/* Now and then a clean slate, so that scripts go through sparse
	 * phases as well as crowded ones. */
	if (chance(2)) {
		printf("unmap %#" PRIx64 " %#" PRIx64 "\n", g->base,
		       (g->pages + 32) * PAGE);
		return;
	}
	printf("unmap %#" PRIx64 " %#" PRIx64 "\n", addr_of(g, pick_page(g)),
	       len_of(pick_len()));
}

static void gen_protect(const struct gen *g)
{
	printf("protect %#" PRIx64 " %#" PRIx64 " %s\n",
	       addr_of(g, pick_page(g)), len_of(pick_len()), pick_prot());
}

static void gen_remap(const struct gen *g)
{
	uint64_t page = pick_page(g), old = pick_len(), old_len, new_len;

	/* Grow, shrink or keep the size, about equally. */
	switch (rnd(3)) {
	case 0:
		new_len = old + 1 + rnd(4);
		break;
	case 1:
		new_len = old > 1 ? 1 + rnd(old - 1) : 1;
		break;
	default:
		new_len = old;
		break;
	}
	/* Rarely an old length of 0 (Linux duplicates a shared mapping,
	 * refuses a private one) or one that is not a whole number of
	 * pages (rounded up). */
	if (chance(2))
		old_len = 0;
	else if (chance(3))
		old_len = old * PAGE - 1 - rnd(PAGE - 1);
	else
		old_len = old * PAGE;
	printf("remap %#" PRIx64 " %#" PRIx64 " %#" PRIx64, addr_of(g, page),
	       old_len, len_of(new_len));
	if (chance((unsigned)g->fixed))
		printf(" %#" PRIx64, addr_of(g, pick_page(g)));
	/* MREMAP_DONTUNMAP: the source stays (sizes must match, else
	 * EINVAL). */
	if (chance(12))
		printf(" dontunmap");
	printf("\n");
}

/* A write to any byte of a page: it gives a private area its anon_vma,
 * grows a stack from below, or faults. */
static void gen_touch(const struct gen *g)
{
	printf("touch %#" PRIx64 "\n",
	       g->base + pick_page(g) * PAGE + rnd(PAGE));
}

static void gen_advise(const struct gen *g)
{
	static const char *const advice[] = {
		"dontfork",  "dofork",	    "wipeonfork",    "keeponfork",
		"dontdump",  "dodump",	    "hugepage",	     "nohugepage",
		"mergeable", "unmergeable", "sequential",    "random",
		"normal",    "dontfork",    "wipeonfork",    "dontdump",
		"willneed",  "dontneed",    "free",	     "remove",
		"cold",	     "pageout",	    "populate_read", "populate_write",
		"24",	     "5",
	};

	printf("advise %#" PRIx64 " %#" PRIx64 " %s\n",
	       addr_of(g, pick_page(g)), len_of(pick_len()),
	       advice[rnd(sizeof(advice) / sizeof(advice[0]))]);
}

static void gen_lock(const struct gen *g)
{
	uint64_t page = pick_page(g), len = len_of(pick_len());

	if (chance(35)) {
		printf("unlock %#" PRIx64 " %#" PRIx64 "\n", addr_of(g, page),
		       len);
		return;
	}
	printf("lock %#" PRIx64 " %#" PRIx64 "%s\n", addr_of(g, page), len,
	       chance(40)  ? " onfault"
	       : chance(3) ? " 2"
			   : "");
}

static void gen_lockall(void)
{
	static const char *const how[] = {
		"current",	  "future",
		"current future", "current onfault",
		"future onfault", "current future onfault",
		"onfault",	  "0",
	};

	if (chance(40))
		printf("unlockall\n");
	else
		printf("lockall %s\n", how[rnd(sizeof(how) / sizeof(how[0]))]);
}

/* A seal, rarely: a sealed area stays for good (nothing may unmap it). */
static void gen_seal(const struct gen *g)
{
	printf("seal %#" PRIx64 " %#" PRIx64 "%s\n", addr_of(g, pick_page(g)),
	       len_of(pick_len()), chance(3) ? " 1" : "");
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: gen_script [OPTIONS]\n"
		"\n"
		"Print a random operation script for uvma replay and\n"
		"uvma-kernel-replay (tests/conformance).\n"
		"\n"
		"Options:\n"
		"  -s, --seed N    PRNG seed (default: from the clock)\n"
		"  -n, --ops N     number of operations (default 200)\n"
		"  -p, --pages N   size of the region in pages (default 64)\n"
		"  -b, --base A    first address of the region, page aligned\n"
		"                  (default 0x10000000; near 0x100000000, the\n"
		"                  top of the window, to test its end)\n"
		"  -f, --fixed P   percentage of remaps with a NEWOFF "
		"(MREMAP_FIXED;\n"
		"                  default 60)\n"
		"  -h, --help      show this help and exit\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno || *end ? -1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "ops", required_argument, NULL, 'n' },
		{ "pages", required_argument, NULL, 'p' },
		{ "base", required_argument, NULL, 'b' },
		{ "fixed", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct gen g = { .base = 0x10000000, .pages = 64, .fixed = 60 };
	uint64_t seed = 0, ops = 200, i;
	unsigned depth = 0; /* forks not yet exited */
	int have_seed = 0, opt;

	while ((opt = getopt_long(argc, argv, "s:n:p:b:f:h", options, NULL)) !=
	       -1) {
		uint64_t *dst = NULL;

		switch (opt) {
		case 's':
			dst = &seed;
			have_seed = 1;
			break;
		case 'n':
			dst = &ops;
			break;
		case 'p':
			dst = &g.pages;
			break;
		case 'b':
			dst = &g.base;
			break;
		case 'f':
			dst = &g.fixed;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (parse_u64(optarg, dst)) {
			fprintf(stderr, "gen_script: bad number '%s'\n",
				optarg);
			return 2;
		}
	}
	if (optind != argc || !g.pages || g.base % PAGE || g.fixed > 100 ||
	    g.pages > (4ULL << 30) / PAGE ||
	    g.base > (4ULL << 30) - g.pages * PAGE) {
		/* Operations may run a little past the region: near the
		 * window's top that tests its end, which is fine. */
		fprintf(stderr, "gen_script: bad arguments (the region must "
				"fit in [0, 4 GiB))\n");
		usage(stderr);
		return 2;
	}
	if (!have_seed) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_sec * 1000000000ULL +
		       (uint64_t)ts.tv_nsec + (uint64_t)getpid();
	}

	rng_state = seed;
	printf("# gen_script --seed %" PRIu64 " --ops %" PRIu64
	       " --pages %" PRIu64 " --base %#" PRIx64 " --fixed %" PRIu64 "\n",
	       seed, ops, g.pages, g.base, g.fixed);
	for (i = 0; i < ops; i++) {
		unsigned r = (unsigned)rnd(100), f = (unsigned)rnd(1000);

		/* Now and then a fork, and an exit back to the forker (a
		 * stray one at the top is EINVAL): children live a few dozen
		 * lines, some to the end. */
		if (f < 15 && depth < 3) {
			printf("fork\n");
			depth++;
			continue;
		}
		if (f < 32 && (depth || f < 17)) {
			printf("exit\n");
			depth -= depth > 0;
			continue;
		}
		if (r < 30)
			gen_map(&g);
		else if (r < 42)
			gen_unmap(&g);
		else if (r < 60)
			gen_protect(&g);
		else if (r < 78)
			gen_remap(&g);
		else if (r < 88)
			gen_touch(&g);
		else if (r < 95)
			gen_advise(&g);
		else if (r < 99)
			gen_lock(&g);
		else if (chance(50))
			gen_lockall();
		else
			gen_seal(&g);
	}
	return 0;
}
