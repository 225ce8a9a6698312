/*
 * tree_valid.h - the tree tests' shared assertion that a tree passes
 * tree_check(), printing the first violation it found.
 */
#ifndef UVMA_TESTS_TREE_VALID_H
#define UVMA_TESTS_TREE_VALID_H

#include <stdio.h>

#include "check.h"
#include "tree.h"

static inline void check_tree_valid(struct tree *t)
{
	char msg[256] = "";
	int err = tree_check(t, msg, sizeof(msg));

	if (err)
		fprintf(stderr, "tree_check: %d: %s\n", err, msg);
	CHECK(err == 0);
}

#endif
