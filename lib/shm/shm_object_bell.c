/* Doorbells: a notifier raises the target guest's interrupt itself, without a hop through
 * the target process's watcher thread.
 *
 * A client publishes {pid, fd, gen} in its header slot (shm_client_set_doorbell): fd is an
 * eventfd in process pid bound to its guest's interrupt (KVM irqfd). A notifier fetches its
 * own copy once (pidfd_open + pidfd_getfd), checks that it is a non-blocking eventfd, caches
 * it per region and per client until the doorbell changes, and writes 1 to it for each
 * notification. Any failure (no such process, no permission, not an eventfd) is remembered
 * for that (pid, fd, gen) and the notifier falls back to waking the owner's watcher.
 *
 * Trust: the header is writable by every process that can open the region, so such a
 * process can name any pid and fd here and make us fetch that fd (where the kernel lets us:
 * ptrace access to that process). We only ever write 8 bytes to something that proved to be
 * a non-blocking eventfd, and only for a pid that owns the client's user slot.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shm_object_internal.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

static _Atomic unsigned long bells_rung;

unsigned long shm_stat_bells_rung(void)
{
    return atomic_load(&bells_rung);
}

void shm_bells_init(struct shm_obj *o)
{
    pthread_mutex_init(&o->bell_lk, NULL);
    for (unsigned i = 0; i < SHM_OBJ_MAX_CLIENTS; i++)
        o->bells[i] = (struct shm_bell_cache){.local = -1};
}

void shm_bells_free(struct shm_obj *o)
{
    for (unsigned i = 0; i < SHM_OBJ_MAX_CLIENTS; i++)
        if (o->bells[i].local >= 0)
            close(o->bells[i].local);
    pthread_mutex_destroy(&o->bell_lk);
}

void shm_bell_clear(struct shm_header *h, unsigned idx)
{
    if (idx < SHM_OBJ_MAX_CLIENTS)
        atomic_store(&h->doorbells[idx].pid, 0);
}

/* A copy of a non-blocking eventfd that is descriptor fd of process pid, or -1. */
static int fetch(int32_t pid, int32_t fd)
{
    int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
    if (pidfd < 0)
        return -1;
    int local = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0); /* close-on-exec */
    close(pidfd);
    if (local < 0)
        return -1;
    char path[64], target[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", local);
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    int fl = fcntl(local, F_GETFL);
    /* A blocking eventfd could block us when its count is full: refused. */
    if (n < 0 || (target[n] = 0, strcmp(target, "anon_inode:[eventfd]")) || fl < 0 ||
        !(fl & O_NONBLOCK)) {
        close(local);
        return -1;
    }
    return local;
}

bool shm_bell_ring(struct shm_obj *o, unsigned idx, int32_t pid, int32_t fd, uint32_t gen)
{
    if (idx >= SHM_OBJ_MAX_CLIENTS || pid <= 0 || fd < 0)
        return false;
    struct shm_bell_cache *e = &o->bells[idx];
    pthread_mutex_lock(&o->bell_lk);
    if (!e->valid || e->pid != pid || e->fd != fd || e->gen != gen) {
        if (e->local >= 0)
            close(e->local);
        e->local = fetch(pid, fd);
        e->valid = true;
        e->pid = pid;
        e->fd = fd;
        e->gen = gen;
    }
    bool rung = false;
    if (e->local >= 0) {
        uint64_t one = 1;
        ssize_t n = write(e->local, &one, sizeof(one));
        /* EAGAIN: the count is full, so the interrupt is pending anyway. */
        rung = n == (ssize_t)sizeof(one) || (n < 0 && errno == EAGAIN);
        if (!rung) {
            close(e->local);
            e->local = -1;
        }
    }
    pthread_mutex_unlock(&o->bell_lk);
    if (rung)
        atomic_fetch_add(&bells_rung, 1);
    return rung;
}

void shm_client_set_doorbell(struct shm_client *c, int efd)
{
    struct shm_obj *o = c->o;
    struct shm_header *h = o->hdr;
    if (shm_hdr_lock(h))
        return; /* a hung peer: notifiers keep waking our watcher */
    if (atomic_load(&h->clients[c->idx].user) == o->me) {
        struct shm_doorbell_slot *b = &h->doorbells[c->idx];
        atomic_store(&b->pid, 0);
        if (efd >= 0) {
            atomic_store(&b->fd, efd);
            atomic_fetch_add(&b->gen, 1);
            atomic_store(&b->pid, (int32_t)getpid());
        }
    }
    shm_hdr_unlock(h);
}
