/*
 * fork.c - uvma_mm_dup: a copy of an address space, as Linux's fork copies
 * a process's map (docs/design.md section 10).
 *
 * Locks: the parent's mmap_lock for writing for the whole copy, then the
 * child's (no one else can know the child yet, so the order cannot
 * deadlock). Each parent VMA is write-locked before it is copied and stays
 * so until the parent's mmap_lock is released: a fault that finds it
 * falls back to mmap_lock and waits, so nothing a fault builds in an area
 * can land after the area's copy. The child's VMAs are write-locked and
 * attached before the child's tree is published, as the plan engine does
 * with new VMAs (rules 7 and 8).
 */
#include <errno.h>
#include <stddef.h>

#include "anon.h"
#include "hook.h"
#include "mm.h"
#include "plan.h"
#include "rcu.h"
#include "vma.h"
#include "vma_lock.h"

struct dup_ctx {
	struct uvma_mm *parent, *child;
	const struct uvma_dup_ops *ops;
	int err;       /* the first failure: -ENOMEM or copy's error */
	bool dontcopy; /* some area is MADV_DONTFORK */
};

static bool dontcopy(const struct uvma_vma *v)
{
	return v->flags & VMA_VM(UVMA_VM_DONTCOPY);
}

/*
 * The tree is copied whole, node by node; the MADV_DONTFORK areas it
 * copied then leave the child's map, a hole each, through the plan
 * engine (the child is not visible yet: nothing reads it). 0 or -ENOMEM.
 */
static int drop_dontcopy(struct uvma_mm *child)
{
	struct tree_iter it;
	struct tree_entry e;
	uint64_t pos = child->base;
	int err = 0;

	while (!err) {
		bool found = false;

		rcu_read_enter(); /* the writer's walk; RCU: its rules */
		tree_iter_start(&it, &child->tree, pos, child->end);
		while (tree_iter_next(&it, &e)) {
			if (dontcopy(e.ptr)) {
				found = true;
				break;
			}
		}
		rcu_read_exit();
		if (!found)
			break;
		pos = e.end;
		err = __mm_replace(child, e.start, e.end, NULL);
	}
	return err;
}

/* A dup that failed after its copy: undo what copy made for every area
 * of the child (destroying the child frees the rest). */
static void undo_all(struct dup_ctx *c)
{
	struct tree_iter it;
	struct tree_entry e;

	if (!c->ops || !c->ops->copy || !c->ops->undo)
		return;
	rcu_read_enter(); /* the writer's walk; RCU: its rules */
	tree_iter_start(&it, &c->child->tree, c->child->base, c->child->end);
	while (tree_iter_next(&it, &e))
		if (!dontcopy(e.ptr))
			c->ops->undo(((struct uvma_vma *)e.ptr)->user,
				     c->ops->arg);
	rcu_read_exit();
}

/* The child's VMA for the parent's v, or NULL (ctx->err says why). */
static void *dup_one(void *arg, const struct tree_entry *e)
{
	struct dup_ctx *c = arg;
	struct uvma_vma *v = e->ptr, *n;
	struct uvma_area_info info;
	void *user;
	int err;

#ifndef UVMA_BROKEN_DUP_UNLOCKED
	vma_start_write(v);
#endif
	n = vma_alloc(c->child);
	if (!n) {
		c->err = -ENOMEM;
		return NULL;
	}
	vma_copy_fields(n, v);
	/* Locks are not inherited (Linux clears VM_LOCKED in the child). */
	n->flags &= ~VMA_LOCKED_MASK;
	/* A touched area's child gets an anon_vma of its own, whose parent
	 * is the area's: a tag of the child's, marked as inherited; with
	 * MADV_WIPEONFORK it starts empty, untouched. */
	if (!(v->flags & UVMA_MAP_SHARED) && vma_anon(v))
		vma_set_anon(n, v->flags & VMA_VM(UVMA_VM_WIPEONFORK)
					? 0
					: __anon_fork_tag(c->child));
	user = v->user;
	c->dontcopy |= dontcopy(v);
	/* A MADV_DONTFORK area is copied only to be dropped (drop_dontcopy):
	 * copy never sees it. */
	if (c->ops && c->ops->copy && !dontcopy(v)) {
		uvma_vma_info(v, &info);
		err = c->ops->copy(&info, &user, c->ops->arg);
		if (err) {
			vma_free(n);
			c->err = err < 0 ? err : -EINVAL;
			return NULL;
		}
	}
	n->user = user;
	vma_start_write(n);
	vma_mark_attached(n);
	hook_run(HOOK_DUP_COPIED, c->parent, v);
	return n;
}

/* A dup failed after n was made: n goes, with what copy made for it. */
static void dup_undo(void *arg, void *ptr)
{
	struct dup_ctx *c = arg;
	struct uvma_vma *n = ptr;

	if (c->ops && c->ops->copy && c->ops->undo && !dontcopy(n))
		c->ops->undo(n->user, c->ops->arg);
	vma_mark_detached(n);
	vma_free(n);
}

/* An empty space configured as mm is. */
static int dup_space(struct uvma_mm *mm, struct uvma_mm **out)
{
	struct uvma_mm_config cfg;
	int err;

	uvma_mm_config_init(&cfg);
	cfg.base = mm->base;
	cfg.size = mm->end - mm->base;
	cfg.page_size = mm->page_size;
	cfg.fault = mm->fault;
	cfg.fault_arg = mm->fault_arg;
	cfg.brk_start = mm->brk_start;
	cfg.stack_limit = mm->stack_limit;
	cfg.stack_guard_gap = mm->stack_gap;
	if (mm->no_zero_page)
		cfg.flags |= UVMA_MM_NO_ZERO_PAGE;
	err = uvma_mm_create(&cfg, out);
	if (!err)
		(*out)->sealed = mm->sealed; /* the copies keep their seals */
	return err;
}

int uvma_mm_dup(struct uvma_mm *mm, const struct uvma_dup_ops *ops,
		struct uvma_mm **out)
{
	struct dup_ctx c = { mm, NULL, ops, 0, false };
	int err;

	if (!mm || !out)
		return -EINVAL;
	if (mm->pager)
		return -EOPNOTSUPP;
	err = dup_space(mm, &c.child);
	if (err)
		return err;
	mmap_write_lock(mm);
	mmap_write_lock(c.child);
	c.child->brk = mm->brk;
	c.child->next_shmem_id = mm->next_shmem_id;
	c.child->memlock_limit = mm->memlock_limit; /* rlimits are inherited */
	err = tree_clone(&c.child->tree, &mm->tree, dup_one, dup_undo, &c);
	if (!err && c.dontcopy) {
		err = drop_dontcopy(c.child);
		if (err)
			undo_all(&c);
	}
	mmap_write_unlock(c.child);
	mmap_write_unlock(mm);
	if (err) {
		uvma_mm_destroy(c.child);
		return c.err ? c.err : err;
	}
	*out = c.child;
	return 0;
}
