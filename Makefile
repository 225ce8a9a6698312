# Makefile - the two commands, `make run` and `make test`, plus housekeeping.
# The build itself is CMake's (CMakeLists.txt); this file only drives it.
#
#   make / make build   install missing packages, build Release into build/
#   make run            build, then run $(RUN_CMD) and $(PAGER_RUN_CMD)
#   make test           build and run every test in three configurations:
#                       normal, ASan+UBSan, TSan (build/test-*)
#   make fuzz           libFuzzer on the map operations for $(FUZZ_SECONDS) s
#                       (clang, ASan+UBSan, build/fuzz; see tests/fuzz/)
#   make install        build, then install under $(PREFIX) (/usr/local)
#   make format         clang-format every C file in place
#   make format-check   fail if any C file is not formatted
#   make clean          remove build/

SHELL := /bin/bash
.DEFAULT_GOAL := build

BUILD_DIR := build
JOBS ?= 2
PREFIX ?= /usr/local
CLANG_FORMAT ?= clang-format

# The main job: the design comparison (refcount, rwsem, global, kernel) on
# every scenario, as a table on stdout, with JSON and a picture in build/.
# One variable, so it can change without touching the rules.
RUN_CMD = ./$(BUILD_DIR)/uvma bench --scenario all \
	--json $(BUILD_DIR)/bench.json --plot $(BUILD_DIR)/bench.svg
# Then the pager: uvma's pager (SIGBUS and handler threads), a global
# pager and the kernel filling real memory, file and anonymous, with its
# own JSON and picture (docs/bench.md, "Pager"). It needs userfaultfd
# (root) and says it skipped without it.
PAGER_RUN_CMD = ./$(BUILD_DIR)/uvma bench --scenario pager \
	--json $(BUILD_DIR)/pager.json --plot $(BUILD_DIR)/pager.svg

# Debian packages the build, the tests and the tools need.
DEB_PACKAGES := cmake make gcc pkg-config liburcu-dev clang \
	libclang-rt-14-dev spin gnuplot-nox

FORMAT_DIRS := include src tests bench tools examples

# Test configurations: build directory suffix -> UVMA_SANITIZE value.
TEST_CONFIGS := normal asan tsan
SANITIZE_normal :=
SANITIZE_asan := address,undefined
SANITIZE_tsan := thread

# Sanitizer run-time options for the ctest runs (the environment wins).
ASAN_OPTIONS ?= detect_leaks=1:abort_on_error=1:halt_on_error=1
UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1
TSAN_OPTIONS ?= halt_on_error=1:second_deadlock_stack=1
export ASAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS

# The fuzz target of the map operations (tests/fuzz/fuzz_ops.c), built by
# clang with libFuzzer, ASan and UBSan in $(FUZZ_DIR); the library is
# instrumented for coverage too. The corpus stays in $(FUZZ_DIR)/corpus
# between runs (tests/fuzz/regress/ seeds it); a crash is written to
# $(FUZZ_DIR)/artifacts/ and fails the target. `make test` ends with a
# short run of $(FUZZ_TEST_SECONDS) s.
FUZZ_CC ?= clang-14
FUZZ_DIR := $(BUILD_DIR)/fuzz
FUZZ_SECONDS ?= 60
FUZZ_TEST_SECONDS ?= 20
# Independent libFuzzer processes on one corpus: one per core. Each input
# creates and destroys an address space; destruction never waits for RCU
# (the tree's pending batches go back to the node pool by themselves,
# src/tree.c), so a job is busy all the time.
FUZZ_JOBS ?= 2
# -detect_leaks=0: libFuzzer's per-input leak check would run after every
# input, because the tree's bin (one calloc per address space) is freed by
# the last RCU callback after the input has returned (more mallocs than
# frees within the input), costing a full LeakSanitizer scan each time
# until libFuzzer gives up after 1000 of them. LeakSanitizer still checks
# the whole process when each job exits, and the CTest replay
# (unit_fuzz_ops_replay) runs under ASan's leak check too.
FUZZ_ARGS ?= -max_len=1024 -timeout=30 -rss_limit_mb=2048 \
	-detect_leaks=0
# What `make fuzz` prints at the end: inputs per second, against this goal.
FUZZ_GOAL_PER_S ?= 2000

.PHONY: all build run test install deps format format-check clean fuzz \
	fuzz-build

all: build

deps:
	@if ! command -v dpkg-query >/dev/null 2>&1; then \
		echo "make deps: dpkg-query not found; not a Debian system?" \
		     "Install by hand: $(DEB_PACKAGES)" >&2; \
		exit 0; \
	fi; \
	missing=""; \
	for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null \
			| grep -q "install ok installed" \
			|| missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	echo "make deps: missing packages:$$missing"; \
	if [ "$$(id -u)" -eq 0 ]; then \
		apt-get update && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y \
			--no-install-recommends $$missing; \
	else \
		echo "make deps: not root; run:" >&2; \
		echo "  sudo apt-get install -y$$missing" >&2; \
		exit 1; \
	fi

build: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(RUN_CMD)
	$(PAGER_RUN_CMD)

# Every configuration runs to the end even if an earlier one failed; the
# target fails if any did, or if a configuration found no tests to run. TSan runs under `setarch -R` (no address space
# randomization), which some kernels need to avoid TSan's "unexpected memory
# mapping"; where setarch is not permitted, TSan runs without it.
test: deps
	@failed=""; \
	$(foreach c,$(TEST_CONFIGS), \
	echo "== make test: $(c) =="; \
	dir=$(BUILD_DIR)/test-$(c); \
	wrap=""; \
	if [ "$(c)" = tsan ] && setarch "$$(uname -m)" -R true 2>/dev/null; \
	then wrap="setarch $$(uname -m) -R"; fi; \
	if cmake -S . -B "$$dir" -DCMAKE_BUILD_TYPE=Debug \
		-DUVMA_SANITIZE="$(SANITIZE_$(c))" && \
	   cmake --build "$$dir" -j $(JOBS) && \
	   $$wrap ctest --test-dir "$$dir" --output-on-failure \
		--no-tests=error -j $(JOBS) --timeout 600; \
	then echo "== make test: $(c): passed =="; \
	else echo "== make test: $(c): FAILED =="; failed="$$failed $(c)"; \
	fi;) \
	echo "== make test: fuzz ($(FUZZ_TEST_SECONDS) s of libFuzzer) =="; \
	if $(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_TEST_SECONDS); \
	then echo "== make test: fuzz: passed =="; \
	else echo "== make test: fuzz: FAILED =="; failed="$$failed fuzz"; \
	fi; \
	if [ -n "$$failed" ]; then \
		echo "== make test: failed:$$failed =="; exit 1; \
	fi; \
	echo "== make test: all configurations passed =="

fuzz-build: deps
	cmake -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=Debug \
		-DCMAKE_C_COMPILER=$(FUZZ_CC) -DUVMA_SANITIZE=address,undefined \
		-DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link -DUVMA_FUZZ=ON
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzz_ops

# libFuzzer exits nonzero on a crash, a leak or a timeout, after saving the
# input; its first corpus directory is the one it adds to.
# tests/fuzz/run_fuzz.sh runs the jobs and prints the summary line.
fuzz: fuzz-build
	bash tests/fuzz/run_fuzz.sh ./$(FUZZ_DIR)/tests/fuzz/fuzz_ops \
		$(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_JOBS) $(FUZZ_GOAL_PER_S) \
		$(FUZZ_ARGS)

install: build
	cmake --install $(BUILD_DIR) --prefix $(PREFIX)

format:
	find $(FORMAT_DIRS) -name '*.[ch]' -print0 2>/dev/null \
		| xargs -0 -r $(CLANG_FORMAT) -i

format-check:
	find $(FORMAT_DIRS) -name '*.[ch]' -print0 2>/dev/null \
		| xargs -0 -r $(CLANG_FORMAT) --dry-run --Werror

clean:
	rm -rf $(BUILD_DIR)
