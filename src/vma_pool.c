/*
 * vma_pool.c - type-stable memory for VMA objects (docs/design.md section 4).
 *
 * One pool for the whole process, shared by every address space. Objects
 * are carved from chunks obtained with mmap() and never returned to the
 * system, so a reader holding a stale pointer from an RCU lookup can always
 * read the object's lock fields: they only ever hold the values of some
 * VMA's lifetime, and vma_start_read's checks tell which. A freed object
 * goes back on the free list at once (no RCU callback per free) and the
 * next allocation, from any address space, reuses it: last in, first out.
 *
 * The free list's link overlays the range, never refcnt, lock_seq or mm,
 * which stale readers may still read. Under AddressSanitizer the rest of a
 * free object is poisoned, so a use of a freed VMA's fields is reported.
 *
 * Locking: pool_lock (a mutex) protects the free list, the carving pointer
 * and the statistics. Allocation and free are writer-side operations (under
 * some mm's mmap_lock), rare next to faults.
 */
#include <pthread.h>
#include <stddef.h>

#include "alloc.h"
#include "debug.h"
#include "vma.h"

/* Everything after the free-list link (start) is unused while free. */
#define POOL_POISON_FROM offsetof(struct uvma_vma, end)

static void poison(struct uvma_vma *v)
{
	asan_poison((char *)v + POOL_POISON_FROM,
		    sizeof(*v) - POOL_POISON_FROM);
}

static void unpoison(struct uvma_vma *v)
{
	asan_unpoison((char *)v + POOL_POISON_FROM,
		      sizeof(*v) - POOL_POISON_FROM);
}

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct uvma_vma *free_list;	 /* under pool_lock */
static struct carver carver;		 /* under pool_lock */
static uint64_t stat_objects, stat_free; /* under pool_lock */
#ifdef UVMA_TEST_HOOKS
static long fail_countdown; /* under pool_lock */
#endif

/*
 * A detached object (refcnt 0) whose fields other than the lock fields and
 * mm are undefined, or NULL when memory is exhausted (or a test injected a
 * failure). Any thread.
 */
struct uvma_vma *vma_pool_get(void)
{
	struct uvma_vma *v;

	pthread_mutex_lock(&pool_lock);
#ifdef UVMA_TEST_HOOKS
	if (fail_countdown > 0 && --fail_countdown == 0) {
		pthread_mutex_unlock(&pool_lock);
		return NULL;
	}
#endif
	v = free_list;
	if (v) {
		unpoison(v);
		free_list = v->pool_next;
		stat_free--;
	} else if ((v = alloc_carve(&carver, sizeof(*v)))) {
		/* Fresh mmap memory is zero: refcnt 0 (detached), lock_seq
		 * 0. */
		stat_objects++;
	}
	pthread_mutex_unlock(&pool_lock);
	return v;
}

/* Return a detached object; it may be handed out again at once. */
void vma_pool_put(struct uvma_vma *v)
{
	vma_assert_detached(v);
	pthread_mutex_lock(&pool_lock);
	v->pool_next = free_list;
	poison(v);
	free_list = v;
	stat_free++;
	pthread_mutex_unlock(&pool_lock);
}

void vma_pool_stats(struct vma_pool_stats *st)
{
	pthread_mutex_lock(&pool_lock);
	st->objects = stat_objects;
	st->free = stat_free;
	st->bytes = carver.mapped;
	st->object_bytes = sizeof(struct uvma_vma);
	pthread_mutex_unlock(&pool_lock);
}

#ifdef UVMA_TEST_HOOKS
/* Make the n-th vma_pool_get() from now fail (n <= 0: none). */
void vma_pool_fail_after(long n)
{
	pthread_mutex_lock(&pool_lock);
	fail_countdown = n > 0 ? n : 0;
	pthread_mutex_unlock(&pool_lock);
}
#endif
