/*
 * fuzz_ops.h - what the map-operation fuzz target (fuzz_ops.c) offers the
 * standalone driver (fuzz_main.c), which runs it without libFuzzer.
 */
#ifndef UVMA_FUZZ_OPS_H
#define UVMA_FUZZ_OPS_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry point: one input, one address space. Always 0; a
 * violation aborts the process after printing what it found. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Called (when set) just before a violation aborts, with the input that
 * caused it, so a driver without libFuzzer can save a reproducer. */
extern void (*fuzz_ops_fail_hook)(const uint8_t *data, size_t size);

/* Counters since the start of the process, for a driver's summary. */
struct fuzz_ops_stats {
	uint64_t inputs;
	uint64_t ops;
	uint64_t ok;	   /* operations that succeeded */
	uint64_t failed;   /* operations that returned an error */
	uint64_t injected; /* operations run with an allocation failure armed */
	uint64_t enomem;   /* ... of which returned -ENOMEM */
	uint64_t touched;  /* first writes that gave an area its tag */
	uint64_t on_touched; /* operations on a map with a touched area */
	uint64_t forks;	     /* inputs that went on in a fork's child */
	uint64_t flagged;    /* advice and locks that changed the map */
	uint64_t grown;	     /* faults that grew a stack */
};
void fuzz_ops_get_stats(struct fuzz_ops_stats *st);

#endif
