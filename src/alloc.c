/*
 * alloc.c - the count of alloc.h: how often the library asked the system
 * for memory.
 */
#include "alloc.h"

_Atomic uint64_t alloc_calls;
