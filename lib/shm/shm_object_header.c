/* The shared header: initialisation, validation, the robust lock and its repair, dead-user
 * sweeps and cross-process wake-ups. Everything here distrusts what it reads. */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shm_object_internal.h"

int shm_name_check(const char *name)
{
    if (!name)
        return SHM_ILLEGAL_NAME;
    size_t n = strnlen(name, SHM_NAME_MAX + 1);
    if (n == 0 || n > SHM_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return SHM_ILLEGAL_NAME;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch == '/' || ch < 0x20 || ch == 0x7f)
            return SHM_ILLEGAL_NAME;
    }
    return SHM_OK;
}

void shm_obj_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "/%s%s", SHM_OBJ_PREFIX, name);
}

void shm_setwhy(char *why, size_t whylen, const char *fmt, ...)
{
    if (!why || !whylen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

int shm_errno_status(int err)
{
    switch (err) {
    case EACCES:
    case EPERM:
        return SHM_NO_PERMISSION;
    case ENOMEM:
    case ENOSPC:
    case EFBIG:
    case EMFILE:
    case ENFILE:
        return SHM_NO_MEMORY;
    case ENOENT:
        return SHM_DOES_NOT_EXIST;
    case ENAMETOOLONG:
    case EINVAL:
        return SHM_ILLEGAL_NAME;
    default:
        return SHM_UNKNOWN;
    }
}

static int robust_init(pthread_mutex_t *m)
{
    pthread_mutexattr_t at;
    int r = pthread_mutexattr_init(&at);
    if (r)
        return r;
    r = pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
    if (!r)
        r = pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST);
    if (!r)
        r = pthread_mutex_init(m, &at);
    pthread_mutexattr_destroy(&at);
    return r;
}

int shm_hdr_init(struct shm_header *h, uint64_t pages, bool persistent)
{
    memset(h, 0, sizeof(*h));
    h->magic = SHM_HDR_MAGIC;
    h->version = SHM_HDR_VERSION;
    h->header_size = (uint32_t)SHM_HDR_SIZE;
    h->pages = pages;
    h->persistent = persistent;
    int r = robust_init(&h->lock);
    for (unsigned i = 0; !r && i < SHM_OBJ_MAX_USERS; i++)
        r = robust_init(&h->users[i].life);
    for (unsigned i = 0; i < SHM_OBJ_MAX_CLIENTS; i++)
        atomic_store(&h->clients[i].user, SHM_NO_USER);
    return r;
}

int shm_hdr_check(const struct shm_header *h, off_t size, char *why, size_t whylen)
{
    /* One read of each field: another process may be changing them. */
    uint64_t magic = ((volatile const struct shm_header *)h)->magic;
    uint32_t version = ((volatile const struct shm_header *)h)->version;
    uint32_t hsize = ((volatile const struct shm_header *)h)->header_size;
    uint64_t pages = ((volatile const struct shm_header *)h)->pages;
    if (magic != SHM_HDR_MAGIC || version != SHM_HDR_VERSION || hsize != SHM_HDR_SIZE) {
        shm_setwhy(why, whylen, "not a vdevkit shmem object (bad magic or version)");
        return SHM_UNKNOWN;
    }
    if (pages < 1 || pages > SHM_OBJ_MAX_PAGES) {
        shm_setwhy(why, whylen, "corrupt header: %llu data pages", (unsigned long long)pages);
        return SHM_UNKNOWN;
    }
    if (size < 0 || (uint64_t)size != SHM_HDR_SIZE + pages * SHM_OBJ_PAGE) {
        shm_setwhy(why, whylen, "corrupt object: size %lld, header says %llu pages",
                   (long long)size, (unsigned long long)pages);
        return SHM_UNKNOWN;
    }
    return SHM_OK;
}

int shm_map_header(int fd, bool writable, struct shm_header **out, off_t *size, char *why,
                   size_t whylen)
{
    struct stat st;
    if (fstat(fd, &st)) {
        shm_setwhy(why, whylen, "fstat: %s", strerror(errno));
        return SHM_UNKNOWN;
    }
    if (st.st_size < (off_t)SHM_HDR_SIZE) {
        shm_setwhy(why, whylen, "corrupt object: %lld bytes, smaller than its header",
                   (long long)st.st_size);
        return SHM_UNKNOWN;
    }
    int prot = PROT_READ | (writable ? PROT_WRITE : 0);
    void *p = mmap(NULL, SHM_HDR_SIZE, prot, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        shm_setwhy(why, whylen, "mmap header: %s", strerror(e));
        return e == ENOMEM ? SHM_NO_MEMORY : SHM_UNKNOWN;
    }
    int r = shm_hdr_check(p, st.st_size, why, whylen);
    if (r) {
        munmap(p, SHM_HDR_SIZE);
        return r;
    }
    *out = p;
    if (size)
        *size = st.st_size;
    return SHM_OK;
}

int shm_hdr_lock(struct shm_header *h)
{
    /* timedlock (CLOCK_REALTIME) rather than clocklock: sanitizers intercept it. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += SHM_LOCK_TIMEOUT_MS / 1000;
    ts.tv_nsec += (SHM_LOCK_TIMEOUT_MS % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    int r = pthread_mutex_timedlock(&h->lock, &ts);
    if (r == EOWNERDEAD) {
        /* A process died in the middle of an update: make the slots consistent. */
        shm_hdr_repair(h);
        r = pthread_mutex_consistent(&h->lock);
        if (r) {
            pthread_mutex_unlock(&h->lock);
            return r;
        }
    }
    return r;
}

void shm_hdr_unlock(struct shm_header *h)
{
    pthread_mutex_unlock(&h->lock);
}

unsigned shm_hdr_client_user(struct shm_header *h, unsigned idx)
{
    if (idx >= SHM_OBJ_MAX_CLIENTS)
        return SHM_NO_USER;
    uint32_t u = atomic_load(&h->clients[idx].user);
    return u < SHM_OBJ_MAX_USERS ? u : SHM_NO_USER;
}

uint32_t shm_hdr_attached(struct shm_header *h)
{
    return atomic_load(&h->attached) & SHM_ALL_CLIENTS;
}

/* Every update under the lock ends with one write that commits it (an attach bit, a user
 * state), so a half-done update is undone by dropping slots that are not committed. */
void shm_hdr_repair(struct shm_header *h)
{
    for (unsigned u = 0; u < SHM_OBJ_MAX_USERS; u++) {
        uint32_t s = atomic_load(&h->users[u].state);
        if (s != SHM_USER_FREE && s != SHM_USER_LIVE)
            atomic_store(&h->users[u].state, SHM_USER_FREE);
        h->users[u].who[sizeof(h->users[u].who) - 1] = 0;
    }
    uint32_t att = shm_hdr_attached(h);
    for (unsigned i = 0; i < SHM_OBJ_MAX_CLIENTS; i++) {
        unsigned u = shm_hdr_client_user(h, i);
        bool ok = (att & (1u << i)) && u != SHM_NO_USER &&
                  atomic_load(&h->users[u].state) == SHM_USER_LIVE;
        if (!ok) {
            att &= ~(1u << i);
            atomic_store(&h->clients[i].user, SHM_NO_USER);
            atomic_store(&h->clients[i].pending, 0);
            shm_bell_clear(h, i);
        }
    }
    atomic_store(&h->attached, att);
}

/* Frees user slot u and the client slots it owned (lock held). */
void shm_hdr_reclaim_user(struct shm_header *h, unsigned u)
{
    if (u >= SHM_OBJ_MAX_USERS)
        return;
    uint32_t att = shm_hdr_attached(h);
    for (unsigned i = 0; i < SHM_OBJ_MAX_CLIENTS; i++) {
        if (atomic_load(&h->clients[i].user) == u) {
            att &= ~(1u << i);
            atomic_store(&h->attached, att);
            atomic_store(&h->clients[i].user, SHM_NO_USER);
            atomic_store(&h->clients[i].pending, 0);
            shm_bell_clear(h, i);
        }
    }
    atomic_store(&h->users[u].state, SHM_USER_FREE);
    h->users[u].pid = 0;
    memset(h->users[u].who, 0, sizeof(h->users[u].who));
}

/* Reclaims the slots of users whose process died (lock held). `self` is skipped. Returns
 * the reclaimed users. */
uint64_t shm_hdr_sweep(struct shm_header *h, unsigned self)
{
    uint64_t dead = 0;
    for (unsigned u = 0; u < SHM_OBJ_MAX_USERS; u++) {
        if (u == self || atomic_load(&h->users[u].state) != SHM_USER_LIVE)
            continue;
        pthread_mutex_t *life = &h->users[u].life;
        int r = pthread_mutex_trylock(life);
        if (r == EBUSY)
            continue; /* its watcher holds it: alive */
        if (r == EOWNERDEAD) {
            pthread_mutex_consistent(life);
            pthread_mutex_unlock(life);
        } else if (r == 0) {
            /* LIVE but nobody holds it: the owner left without freeing the slot. */
            pthread_mutex_unlock(life);
        } else {
            /* Unrecoverable or garbage: nobody can hold it; start it afresh. */
            robust_init(life);
        }
        shm_hdr_reclaim_user(h, u);
        dead |= 1ull << u;
    }
    return dead;
}

uint64_t shm_hdr_live_users(struct shm_header *h)
{
    uint64_t m = 0;
    for (unsigned u = 0; u < SHM_OBJ_MAX_USERS; u++)
        if (atomic_load(&h->users[u].state) == SHM_USER_LIVE)
            m |= 1ull << u;
    return m;
}

void shm_hdr_wake(struct shm_header *h, uint64_t users)
{
    for (unsigned u = 0; u < SHM_OBJ_MAX_USERS; u++) {
        if (!(users & (1ull << u)))
            continue;
        atomic_fetch_add(&h->users[u].wake, 1);
        syscall(SYS_futex, &h->users[u].wake, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
    }
}

/* Takes user slot u's life mutex for the calling thread. 0, or EBUSY when held. */
int shm_life_take(struct shm_header *h, unsigned u)
{
    pthread_mutex_t *life = &h->users[u].life;
    int r = pthread_mutex_trylock(life);
    if (r == EOWNERDEAD)
        r = pthread_mutex_consistent(life);
    else if (r == ENOTRECOVERABLE || r == EINVAL) {
        if (robust_init(life))
            return EBUSY;
        r = pthread_mutex_trylock(life);
    }
    return r == 0 ? 0 : EBUSY;
}
