/* Guest connections to a region: attach (a client slot = the guest's idx), status reads,
 * notifications across processes, detach. */
#include <stdlib.h>

#include "shm_object_internal.h"

static uint64_t others(struct shm_obj *o)
{
    return shm_hdr_live_users(o->hdr) & ~(1ull << o->me);
}

/* Takes a free client slot (lock held). -1 when all are in use. */
static int take_slot(struct shm_obj *o)
{
    struct shm_header *h = o->hdr;
    uint32_t att = shm_hdr_attached(h);
    /* Our own clients' slots are taken whatever the shared bitmap says. */
    uint32_t mine = 0;
    pthread_mutex_lock(&o->lk);
    for (unsigned i = 0; i < SHM_OBJ_MAX_CLIENTS; i++)
        mine |= o->clients[i] ? 1u << i : 0;
    pthread_mutex_unlock(&o->lk);
    for (unsigned i = 0; i < SHM_OBJ_MAX_CLIENTS; i++) {
        if ((att | mine) & (1u << i))
            continue;
        atomic_store(&h->clients[i].user, o->me);
        atomic_store(&h->clients[i].pending, 0);
        shm_bell_clear(h, i);
        atomic_store(&h->attached, att | (1u << i)); /* commits the attach */
        return (int)i;
    }
    return -1;
}

int shm_client_attach(struct shm_obj *o, void (*changed)(void *arg), void *arg,
                      struct shm_client **out)
{
    struct shm_header *h = o->hdr;
    struct shm_client *c = calloc(1, sizeof(*c));
    if (!c)
        return SHM_NO_MEMORY;
    if (shm_hdr_lock(h)) {
        free(c);
        return SHM_UNKNOWN;
    }
    int idx = take_slot(o);
    uint64_t dead = 0;
    if (idx < 0) {
        /* Full: slots of processes that died since the last sweep are not "in use". */
        dead = shm_hdr_sweep(h, o->me);
        idx = take_slot(o);
    }
    uint64_t wake = others(o);
    if (idx >= 0) {
        c->o = o;
        c->idx = (unsigned)idx;
        c->changed = changed;
        c->arg = arg;
        c->seen_seq = atomic_load(&h->clients[idx].seq);
        c->seen_attached = shm_hdr_attached(h);
        pthread_mutex_lock(&o->lk);
        o->clients[idx] = c;
        pthread_mutex_unlock(&o->lk);
    }
    shm_hdr_unlock(h);
    if (idx < 0) {
        if (dead)
            shm_hdr_wake(h, wake | (1ull << o->me));
        free(c);
        return SHM_CLIENT_MAX;
    }
    shm_hdr_wake(h, wake | (dead ? 1ull << o->me : 0));
    *out = c;
    return SHM_OK;
}

unsigned shm_client_idx(const struct shm_client *c)
{
    return c->idx;
}

uint32_t shm_client_read_status(struct shm_client *c)
{
    struct shm_header *h = c->o->hdr;
    uint32_t pending = atomic_exchange(&h->clients[c->idx].pending, 0) & SHM_ALL_CLIENTS;
    return pending | shm_hdr_attached(h) << 16;
}

uint32_t shm_client_pending(const struct shm_client *c)
{
    return atomic_load(&c->o->hdr->clients[c->idx].pending) & SHM_ALL_CLIENTS;
}

/* A target with a doorbell, rung after the header lock is released. */
struct bell_target {
    unsigned idx, user;
    int32_t pid, fd;
    uint32_t gen;
};

void shm_client_notify(struct shm_client *c, uint32_t mask)
{
    struct shm_obj *o = c->o;
    struct shm_header *h = o->hdr;
    if (shm_hdr_lock(h))
        return;
    uint32_t att = shm_hdr_attached(h);
    uint32_t targets = mask == ~0u ? att & ~(1u << c->idx) : mask & att;
    uint64_t users = 0;
    struct bell_target bells[SHM_OBJ_MAX_CLIENTS];
    unsigned nbells = 0;
    for (unsigned i = 0; i < SHM_OBJ_MAX_CLIENTS; i++) {
        if (!(targets & (1u << i)))
            continue;
        unsigned u = shm_hdr_client_user(h, i);
        if (u == SHM_NO_USER)
            continue;
        atomic_fetch_or(&h->clients[i].pending, 1u << c->idx);
        /* A doorbell counts only when published by the process owning the client's slot. */
        const struct shm_doorbell_slot *b = &h->doorbells[i];
        int32_t pid = atomic_load(&b->pid);
        if (pid > 0 && pid == h->users[u].pid) {
            bells[nbells++] =
                (struct bell_target){i, u, pid, atomic_load(&b->fd), atomic_load(&b->gen)};
            continue; /* no watcher hop: the interrupt is raised below */
        }
        atomic_fetch_add(&h->clients[i].seq, 1);
        users |= 1ull << u;
    }
    shm_hdr_unlock(h);
    for (unsigned k = 0; k < nbells; k++) {
        const struct bell_target *t = &bells[k];
        if (shm_bell_ring(o, t->idx, t->pid, t->fd, t->gen))
            continue;
        /* Cannot ring it: the owner's watcher raises the interrupt, as without a doorbell. */
        atomic_fetch_add(&h->clients[t->idx].seq, 1);
        users |= 1ull << t->user;
    }
    shm_hdr_wake(h, users);
}

void shm_client_detach(struct shm_client *c)
{
    struct shm_obj *o = c->o;
    struct shm_header *h = o->hdr;
    pthread_mutex_lock(&o->lk);
    /* A callback in flight on the watcher: wait for it (unless we are that callback). */
    bool on_watcher = o->watcher_started && pthread_equal(pthread_self(), o->watcher);
    while (c->busy && !on_watcher)
        pthread_cond_wait(&o->cv, &o->lk);
    if (o->clients[c->idx] == c)
        o->clients[c->idx] = NULL;
    /* Detached from its own callback: the watcher frees c when the callback returns. */
    bool later = c->busy;
    c->detached = true;
    pthread_mutex_unlock(&o->lk);
    if (shm_hdr_lock(h) == 0) {
        if (atomic_load(&h->clients[c->idx].user) == o->me) {
            atomic_store(&h->attached, shm_hdr_attached(h) & ~(1u << c->idx));
            atomic_store(&h->clients[c->idx].user, SHM_NO_USER);
            atomic_store(&h->clients[c->idx].pending, 0);
            shm_bell_clear(h, c->idx);
        }
        uint64_t wake = others(o);
        shm_hdr_unlock(h);
        shm_hdr_wake(h, wake);
    }
    if (!later)
        free(c);
}
