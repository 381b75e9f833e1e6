/* Grace periods for lock-free readers (see epoch.h).
 *
 * Each thread that reads owns a slot holding the global epoch it saw when its outermost
 * section began (0 while outside). Retiring an object advances the global epoch past the
 * value it had after the object was unpublished; the object is safe to free once no slot
 * holds an epoch that old. Slots live on a list that only grows (one per thread that ever
 * read at the same time) and are reused after their thread exits.
 */
#include "epoch.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

struct reader {
    _Atomic uint64_t epoch; /* 0: not in a section */
    atomic_bool used;
    struct reader *next;
};

static _Atomic uint64_t global_epoch = 1;
static struct reader *_Atomic readers;
static pthread_key_t slot_key;
static pthread_once_t slot_once = PTHREAD_ONCE_INIT;
static _Thread_local struct reader *self;
static _Thread_local unsigned depth;

static void slot_release(void *p)
{
    struct reader *r = p;
    atomic_store(&r->epoch, 0);
    atomic_store_explicit(&r->used, false, memory_order_release);
}

/* In a child of fork() only the forking thread exists: the others' slots are released, or
 * a section they had open at the fork would block every grace period forever. */
static void after_fork_child(void)
{
    for (struct reader *r = atomic_load(&readers); r; r = r->next)
        if (r != self)
            slot_release(r);
}

static void slot_key_init(void)
{
    if (pthread_key_create(&slot_key, slot_release) != 0 ||
        pthread_atfork(NULL, NULL, after_fork_child) != 0)
        abort(); /* no thread-exit hook: slots could never be reused */
}

static struct reader *slot_get(void)
{
    pthread_once(&slot_once, slot_key_init);
    for (struct reader *r = atomic_load(&readers); r; r = r->next) {
        bool expect = false;
        if (atomic_compare_exchange_strong(&r->used, &expect, true)) {
            pthread_setspecific(slot_key, r);
            return r;
        }
    }
    struct reader *r = calloc(1, sizeof(*r));
    if (!r)
        abort(); /* a reader cannot proceed unprotected */
    atomic_store(&r->used, true);
    r->next = atomic_load(&readers);
    while (!atomic_compare_exchange_weak(&readers, &r->next, r))
        ;
    pthread_setspecific(slot_key, r);
    return r;
}

void vdev_epoch_enter(void)
{
    if (depth++)
        return;
    if (!self)
        self = slot_get();
    atomic_store_explicit(&self->epoch, atomic_load_explicit(&global_epoch, memory_order_relaxed),
                          memory_order_relaxed);
    /* The slot must be visible before this thread loads any published pointer. */
    atomic_thread_fence(memory_order_seq_cst);
}

void vdev_epoch_leave(void)
{
    if (depth == 0 || --depth)
        return;
    atomic_store_explicit(&self->epoch, 0, memory_order_release);
}

bool vdev_epoch_in_section(void)
{
    return depth > 0;
}

/* The oldest epoch an open section began in (UINT64_MAX if none), of other threads only
 * with `others`. */
static uint64_t oldest_reader(bool others)
{
    atomic_thread_fence(memory_order_seq_cst);
    uint64_t min = UINT64_MAX;
    for (struct reader *r = atomic_load(&readers); r; r = r->next) {
        if (others && r == self)
            continue;
        uint64_t e = atomic_load(&r->epoch);
        if (e && e < min)
            min = e;
    }
    return min;
}

static uint64_t advance(void)
{
    atomic_thread_fence(memory_order_seq_cst); /* the unpublishing store comes first */
    return atomic_fetch_add(&global_epoch, 1) + 1;
}

void vdev_epoch_synchronize(void)
{
    uint64_t e = advance();
    for (unsigned spins = 0; oldest_reader(true) < e; spins++)
        if (spins > 64)
            sched_yield(); /* sections are short: a few lookups and a memcpy of <= 8 bytes */
}

void vdev_epoch_reclaim(struct vdev_retire_list *l, bool wait)
{
    if (wait && l->n)
        vdev_epoch_synchronize();
    /* The caller's own open section counts here: it may still hold retired pointers. */
    uint64_t oldest = oldest_reader(false);
    size_t kept = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (l->items[i].epoch <= oldest)
            l->items[i].free_fn(l->items[i].ptr);
        else
            l->items[kept++] = l->items[i];
    }
    l->n = kept;
    if (wait && l->n == 0) { /* kept between publishes: no allocation per map change */
        free(l->items);
        l->items = NULL;
        l->cap = 0;
    }
}

void vdev_epoch_retire(struct vdev_retire_list *l, void *ptr, void (*free_fn)(void *))
{
    if (!ptr)
        return;
    uint64_t e = advance();
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct vdev_retired *p = realloc(l->items, cap * sizeof(*p));
        if (!p) {
            vdev_epoch_synchronize(); /* no room to defer: wait instead */
            free_fn(ptr);
            return;
        }
        l->items = p;
        l->cap = cap;
    }
    l->items[l->n++] = (struct vdev_retired){ptr, free_fn, e};
    vdev_epoch_reclaim(l, l->n > VDEV_RETIRE_MAX);
}
