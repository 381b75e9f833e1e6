/* The watcher: one thread per region open in this process. It claims the process's user
 * slot (its robust "life" mutex is owned by this thread, so the kernel marks it when the
 * process dies), sleeps on the slot's futex wake word, runs the `changed` callbacks of the
 * local clients, and every SHM_OBJ_SWEEP_MS reclaims the slots of dead processes. */
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shm_object_internal.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Under the header lock: checks the object is still the named region and not stale, then
 * takes a free user slot with its life mutex. */
static int claim(struct shm_obj *o)
{
    struct shm_header *h = o->hdr;
    if (shm_hdr_lock(h))
        return SHM_UNKNOWN;
    int r = SHM_OK;
    if (!o->claim_new) {
        if (atomic_load(&h->unlinked)) {
            r = SHM_RETRY; /* removed between our open and our lock */
            goto out;
        }
        uint64_t dead = shm_hdr_sweep(h, SHM_NO_USER);
        uint64_t live = shm_hdr_live_users(h);
        if (dead && live)
            shm_hdr_wake(h, live);
        if (!live && !h->persistent) {
            /* Every user is dead: a stale region. Remove its name; the caller starts over. */
            char path[SHM_NAME_MAX + 32];
            shm_obj_path(path, sizeof(path), o->name);
            atomic_store(&h->unlinked, 1);
            shm_unlink(path);
            r = SHM_STALE;
            goto out;
        }
    }
    r = SHM_CLIENT_MAX; /* no free process slot */
    for (unsigned u = 0; u < SHM_OBJ_MAX_USERS; u++) {
        struct shm_user_slot *s = &h->users[u];
        if (atomic_load(&s->state) != SHM_USER_FREE || shm_life_take(h, u))
            continue;
        s->pid = getpid();
        s->gen++;
        memset(s->who, 0, sizeof(s->who));
        snprintf(s->who, sizeof(s->who), "%s", o->who);
        atomic_store(&s->state, SHM_USER_LIVE); /* commits the claim */
        o->me = u;
        r = SHM_OK;
        break;
    }
out:
    shm_hdr_unlock(h);
    return r;
}

static _Atomic unsigned long callbacks;

unsigned long shm_stat_callbacks(void)
{
    return atomic_load(&callbacks);
}

/* Runs `changed` for each local client whose notifications or attach bitmap moved. */
static void deliver(struct shm_obj *o)
{
    struct shm_header *h = o->hdr;
    uint32_t att = shm_hdr_attached(h);
    pthread_mutex_lock(&o->lk);
    for (unsigned i = 0; i < SHM_OBJ_MAX_CLIENTS; i++) {
        struct shm_client *c = o->clients[i];
        if (!c || !c->changed)
            continue;
        uint32_t seq = atomic_load(&h->clients[i].seq);
        if (seq == c->seen_seq && att == c->seen_attached)
            continue;
        c->seen_seq = seq;
        c->seen_attached = att;
        c->busy = true;
        pthread_mutex_unlock(&o->lk);
        atomic_fetch_add(&callbacks, 1);
        c->changed(c->arg); /* no lock of ours held: it may read status or notify */
        pthread_mutex_lock(&o->lk);
        c->busy = false; /* detach waits for this before it frees c */
        if (c->detached)
            free(c); /* it detached itself from its callback */
        pthread_cond_broadcast(&o->cv);
    }
    pthread_mutex_unlock(&o->lk);
}

static void sweep(struct shm_obj *o)
{
    struct shm_header *h = o->hdr;
    if (shm_hdr_lock(h))
        return;
    uint64_t dead = shm_hdr_sweep(h, o->me);
    uint64_t live = shm_hdr_live_users(h) & ~(1ull << o->me);
    shm_hdr_unlock(h);
    if (dead)
        shm_hdr_wake(h, live); /* we deliver our own change on the next loop */
}

static void report(struct shm_obj *o, int r)
{
    pthread_mutex_lock(&o->lk);
    o->claim_result = r;
    o->claim_done = true;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->lk);
}

static void *watch_main(void *arg)
{
    struct shm_obj *o = arg;
    int r = claim(o);
    report(o, r);
    if (r != SHM_OK)
        return NULL;
    struct shm_user_slot *me = &o->hdr->users[o->me];
    uint64_t next_sweep = now_ms() + SHM_OBJ_SWEEP_MS;
    while (!atomic_load(&o->stop)) {
        uint32_t w = atomic_load(&me->wake);
        deliver(o);
        uint64_t t = now_ms();
        if (t >= next_sweep) {
            sweep(o);
            next_sweep = t + SHM_OBJ_SWEEP_MS;
            continue;
        }
        uint64_t left = next_sweep - t;
        struct timespec to = {.tv_sec = (time_t)(left / 1000),
                              .tv_nsec = (long)(left % 1000) * 1000000L};
        if (!atomic_load(&o->stop))
            syscall(SYS_futex, &me->wake, FUTEX_WAIT, w, &to, NULL, 0);
    }
    pthread_mutex_unlock(&me->life);
    return NULL;
}

int shm_watch_start(struct shm_obj *o)
{
    o->claim_done = false;
    /* The watcher takes no signals: process signals go to the VMM's own threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&o->watcher, NULL, watch_main, o);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e)
        return SHM_NO_MEMORY;
    pthread_setname_np(o->watcher, "shm-watch");
    o->watcher_started = true;
    pthread_mutex_lock(&o->lk);
    while (!o->claim_done)
        pthread_cond_wait(&o->cv, &o->lk);
    int r = o->claim_result;
    pthread_mutex_unlock(&o->lk);
    if (r != SHM_OK) {
        pthread_join(o->watcher, NULL);
        o->watcher_started = false;
    }
    return r;
}

/* Ends the watcher (which releases the life mutex). The slot must be freed already. */
void shm_watch_stop(struct shm_obj *o)
{
    if (!o->watcher_started)
        return;
    atomic_store(&o->stop, true);
    struct shm_user_slot *me = &o->hdr->users[o->me];
    atomic_fetch_add(&me->wake, 1);
    syscall(SYS_futex, &me->wake, FUTEX_WAKE, 1 << 30, NULL, NULL, 0);
    pthread_join(o->watcher, NULL);
    o->watcher_started = false;
}
