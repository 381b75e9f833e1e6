/* Opening and closing regions: the per-process registry, race-free creation (initialise
 * under a temporary name, then link(2) it to the final one), stale regions, accessors. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host_owner.h"
#include "shm_object_internal.h"

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shm_obj *reg_head;
static atomic_uint tmp_counter;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* A fork while another thread opens or closes a region must not leave the child's registry
 * locked forever. (The child never uses its parent's objects: see owner_pid.) */
static void reg_prepare(void)
{
    pthread_mutex_lock(&reg_lock);
}

static void reg_release(void)
{
    pthread_mutex_unlock(&reg_lock);
}

static void atfork_register(void)
{
    pthread_atfork(reg_prepare, reg_release, reg_release);
}

struct shm_obj *shm_obj_new(const char *name, const char *who)
{
    struct shm_obj *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    snprintf(o->name, sizeof(o->name), "%s", name);
    snprintf(o->who, sizeof(o->who), "%s", who ? who : "");
    o->owner_pid = getpid();
    o->refs = 1;
    o->fd = -1;
    o->me = SHM_NO_USER;
    pthread_mutex_init(&o->lk, NULL);
    pthread_cond_init(&o->cv, NULL);
    shm_bells_init(o);
    return o;
}

/* Unmaps and frees an object whose user slot is released (or never was taken). */
void shm_obj_free(struct shm_obj *o)
{
    shm_watch_stop(o);
    if (o->data)
        munmap(o->data, o->pages * SHM_OBJ_PAGE);
    if (o->hdr)
        munmap(o->hdr, SHM_HDR_SIZE);
    if (o->fd >= 0)
        close(o->fd);
    pthread_mutex_destroy(&o->lk);
    pthread_cond_destroy(&o->cv);
    shm_bells_free(o);
    free(o);
}

/* Releases our user slot; the last user of a non-persistent region removes its name. */
static void release_slot(struct shm_obj *o, bool may_unlink)
{
    struct shm_header *h = o->hdr;
    if (o->me == SHM_NO_USER)
        return;
    if (shm_hdr_lock(h))
        return; /* our watcher's exit releases the life mutex: peers reclaim the slot */
    shm_hdr_reclaim_user(h, o->me);
    /* Users that died since the last sweep must not keep a non-persistent region alive. */
    shm_hdr_sweep(h, o->me);
    uint64_t others = shm_hdr_live_users(h);
    if (may_unlink && !others && !h->persistent && !atomic_load(&h->unlinked)) {
        char path[SHM_NAME_MAX + 32];
        shm_obj_path(path, sizeof(path), o->name);
        atomic_store(&h->unlinked, 1);
        shm_unlink(path);
    }
    shm_hdr_unlock(h);
    shm_hdr_wake(h, others);
}

static int map_data(struct shm_obj *o, char *why, size_t whylen)
{
    o->pages = o->hdr->pages; /* checked by shm_hdr_check, fixed since creation */
    void *p = mmap(NULL, o->pages * SHM_OBJ_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, o->fd,
                   SHM_HDR_SIZE);
    if (p == MAP_FAILED) {
        shm_setwhy(why, whylen, "mmap %llu pages: %s", (unsigned long long)o->pages,
                   strerror(errno));
        return SHM_NO_MEMORY;
    }
    o->data = p;
    return SHM_OK;
}

static int refused(const char *name, int err, char *why, size_t whylen)
{
    char path[SHM_NAME_MAX + 64];
    snprintf(path, sizeof(path), SHM_DIR "/%s%s", SHM_OBJ_PREFIX, name);
    struct stat st;
    if ((err == EACCES || err == EPERM) && stat(path, &st) == 0)
        shm_setwhy(why, whylen, "mode %04o (uid %u gid %u) refuses uid %u",
                   (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, (unsigned)st.st_gid,
                   (unsigned)geteuid());
    else
        shm_setwhy(why, whylen, "%s: %s", path, strerror(err));
    return shm_errno_status(err);
}

int shm_obj_trusted(int fd, const char *name, unsigned mode, char *why, size_t whylen)
{
    char path[SHM_NAME_MAX + 64], hint[SHM_NAME_MAX + 96];
    snprintf(path, sizeof(path), SHM_DIR "/%s%s", SHM_OBJ_PREFIX, name);
    snprintf(hint, sizeof(hint), "its owner or root may remove it: vdevkit shmem remove %s", name);
    struct stat st;
    if (fstat(fd, &st)) {
        shm_setwhy(why, whylen, "%s: fstat: %s", path, strerror(errno));
        return SHM_UNKNOWN;
    }
    /* Others' bits beyond what this process would give a new region: only an administrator's
     * (root's) region may be more open than that; group bits are the owner's way to share. */
    mode_t forbid = st.st_uid == 0 ? 0 : (S_IROTH | S_IWOTH) & ~(mode_t)mode;
    char w[1024];
    if (!S_ISREG(st.st_mode))
        shm_setwhy(why, whylen, "%s is not a regular file: not used (hint: %s)", path, hint);
    else if (host_owner_check_stat(&st, path, forbid, hint, w, sizeof(w)) == 0)
        return SHM_OK;
    else
        shm_setwhy(why, whylen, "%s", w);
    return SHM_NO_PERMISSION;
}

/* The name exists: validate it, then claim a user slot (which also detects stale regions). */
static int open_existing(struct shm_obj *o, char *why, size_t whylen)
{
    int r = shm_map_header(o->fd, true, &o->hdr, NULL, why, whylen);
    if (r)
        return r;
    o->claim_new = false;
    r = shm_watch_start(o);
    if (r == SHM_CLIENT_MAX)
        shm_setwhy(why, whylen, "all %d process slots in use", SHM_OBJ_MAX_USERS);
    else if (r == SHM_UNKNOWN)
        shm_setwhy(why, whylen, "header lock unavailable (hung or corrupt peer)");
    if (r)
        return r;
    return map_data(o, why, whylen);
}

/* Creates and initialises an object under a temporary name (nobody can see it half-made).
 * Returns SHM_OK with o->fd, o->hdr set and *tmp filled. */
int shm_create_tmp(struct shm_obj *o, uint64_t pages, bool persistent, unsigned mode, gid_t gid,
                   char *tmp, size_t tmplen, char *why, size_t whylen)
{
    int fd = -1;
    /* O_EXCL: never an object someone else made; a name taken (a squatter guessing our
     * pid) only costs another try. */
    for (int i = 0; i < 64 && fd < 0; i++) {
        snprintf(tmp, tmplen, "/%s%d.%u", SHM_TMP_PREFIX, (int)getpid(),
                 atomic_fetch_add(&tmp_counter, 1));
        fd = shm_open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int e = errno;
        shm_setwhy(why, whylen, "create %s: %s", tmp, strerror(e));
        return shm_errno_status(e);
    }
    o->fd = fd;
    int r = SHM_OK;
    off_t size = (off_t)(SHM_HDR_SIZE + pages * SHM_OBJ_PAGE);
    if (fchmod(fd, mode & 0777)) {
        r = SHM_UNKNOWN;
        shm_setwhy(why, whylen, "fchmod %04o: %s", mode & 0777, strerror(errno));
    } else if (gid != (gid_t)-1 && fchown(fd, (uid_t)-1, gid)) {
        r = SHM_NO_PERMISSION;
        shm_setwhy(why, whylen, "cannot give the region to group %u: %s", (unsigned)gid,
                   strerror(errno));
    } else if (ftruncate(fd, size)) {
        int e = errno;
        r = e == EINVAL ? SHM_NO_MEMORY : shm_errno_status(e);
        shm_setwhy(why, whylen, "size %llu pages: %s", (unsigned long long)pages, strerror(e));
    } else {
        /* Reserve the memory now (tmpfs): a later shortage would be a SIGBUS in a guest. */
        int e = posix_fallocate(fd, 0, size);
        if (e && e != EOPNOTSUPP && e != EINVAL) {
            r = SHM_NO_MEMORY;
            shm_setwhy(why, whylen, "reserve %llu pages: %s", (unsigned long long)pages,
                       strerror(e));
        }
    }
    if (!r) {
        void *p = mmap(NULL, SHM_HDR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            r = SHM_NO_MEMORY;
            shm_setwhy(why, whylen, "mmap header: %s", strerror(errno));
        } else {
            o->hdr = p;
            if (shm_hdr_init(o->hdr, pages, persistent)) {
                r = SHM_UNKNOWN;
                shm_setwhy(why, whylen, "cannot initialise the header mutexes");
            }
        }
    }
    if (r)
        shm_unlink(tmp);
    return r;
}

/* Publishes a temporary object under its final name. SHM_RETRY when the name exists. */
int shm_publish_tmp(const char *tmp, const char *name, char *why, size_t whylen)
{
    char from[SHM_NAME_MAX + 64], to[SHM_NAME_MAX + 64];
    snprintf(from, sizeof(from), SHM_DIR "%s", tmp);
    snprintf(to, sizeof(to), SHM_DIR "/%s%s", SHM_OBJ_PREFIX, name);
    int r = link(from, to) ? errno : 0;
    shm_unlink(tmp);
    if (r == EEXIST)
        return SHM_RETRY;
    if (r) {
        shm_setwhy(why, whylen, "link %s: %s", to, strerror(r));
        return shm_errno_status(r);
    }
    return SHM_OK;
}

static int create_new(struct shm_obj *o, const struct shm_open_args *a, char *why, size_t whylen)
{
    char tmp[96];
    int r =
        shm_create_tmp(o, a->pages, a->persistent, a->mode, a->gid, tmp, sizeof(tmp), why, whylen);
    if (r)
        return r;
    /* Take our user slot before the name appears: nobody may see it without a live user
     * and take it for stale. */
    o->claim_new = true;
    r = shm_watch_start(o);
    if (r) {
        shm_unlink(tmp);
        shm_setwhy(why, whylen, "cannot claim a slot in a new region");
        return SHM_UNKNOWN;
    }
    r = shm_publish_tmp(tmp, o->name, why, whylen);
    if (r)
        return r;
    return map_data(o, why, whylen);
}

static int open_new(const char *name, const struct shm_open_args *a, struct shm_obj **out,
                    char *why, size_t whylen)
{
    char path[SHM_NAME_MAX + 32];
    shm_obj_path(path, sizeof(path), name);
    for (int attempt = 0; attempt < 32; attempt++) {
        struct shm_obj *o = shm_obj_new(name, a->who);
        if (!o) {
            shm_setwhy(why, whylen, "out of memory");
            return SHM_NO_MEMORY;
        }
        int r;
        o->fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
        if (o->fd >= 0) {
            /* Checked before anything is mapped: a squatter's object never gets a guest's
             * pages, nor our process's trust in its mutexes. */
            r = shm_obj_trusted(o->fd, name, a->mode, why, whylen);
            if (!r)
                r = open_existing(o, why, whylen);
        } else if (errno == ENOENT) {
            if (!a->create) {
                shm_obj_free(o);
                shm_setwhy(why, whylen, "no region '%s'", name);
                return SHM_DOES_NOT_EXIST;
            }
            r = create_new(o, a, why, whylen);
        } else {
            r = refused(name, errno, why, whylen);
        }
        if (r == SHM_OK) {
            *out = o;
            return SHM_OK;
        }
        release_slot(o, false);
        shm_obj_free(o);
        if (r == SHM_STALE && !a->create) {
            shm_setwhy(why, whylen, "region '%s' was stale (all its users died)", name);
            return SHM_DOES_NOT_EXIST;
        }
        if (r != SHM_RETRY && r != SHM_STALE)
            return r;
    }
    shm_setwhy(why, whylen, "region '%s' keeps changing under us", name);
    return SHM_UNKNOWN;
}

int shm_obj_open(const char *name, const struct shm_open_args *a, struct shm_obj **out, char *why,
                 size_t whylen)
{
    if (why && whylen)
        why[0] = 0;
    if (!a || !out) {
        shm_setwhy(why, whylen, "bad arguments");
        return SHM_UNKNOWN;
    }
    if (shm_name_check(name)) {
        shm_setwhy(why, whylen,
                   "a name is 1-%d bytes without '/' or control characters, not . or ..",
                   SHM_NAME_MAX);
        return SHM_ILLEGAL_NAME;
    }
    if (a->create && (a->pages < 1 || a->pages > SHM_OBJ_MAX_PAGES)) {
        shm_setwhy(why, whylen, "size %llu pages out of range 1..%u", (unsigned long long)a->pages,
                   SHM_OBJ_MAX_PAGES);
        return a->pages ? SHM_NO_MEMORY : SHM_UNKNOWN;
    }
    pthread_once(&atfork_once, atfork_register);
    pthread_mutex_lock(&reg_lock);
    for (struct shm_obj *o = reg_head; o; o = o->next) {
        /* Skip objects of a parent process (fork) and removed ones: a new open after
         * `shmem remove` gets the new region. */
        if (o->owner_pid == getpid() && strcmp(o->name, name) == 0 &&
            !atomic_load(&o->hdr->unlinked)) {
            o->refs++;
            pthread_mutex_unlock(&reg_lock);
            *out = o;
            return SHM_OK;
        }
    }
    struct shm_obj *o = NULL;
    int r = open_new(name, a, &o, why, whylen);
    if (r == SHM_OK) {
        o->next = reg_head;
        reg_head = o;
        *out = o;
    }
    pthread_mutex_unlock(&reg_lock);
    return r;
}

void shm_obj_close(struct shm_obj *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&reg_lock);
    if (--o->refs > 0) {
        pthread_mutex_unlock(&reg_lock);
        return;
    }
    for (struct shm_obj **pp = &reg_head; *pp; pp = &(*pp)->next) {
        if (*pp == o) {
            *pp = o->next;
            break;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    for (unsigned i = 0; i < SHM_OBJ_MAX_CLIENTS; i++) {
        pthread_mutex_lock(&o->lk);
        struct shm_client *c = o->clients[i];
        pthread_mutex_unlock(&o->lk);
        if (c)
            shm_client_detach(c);
    }
    release_slot(o, true);
    shm_obj_free(o);
}

const char *shm_obj_name(const struct shm_obj *o)
{
    return o->name;
}

uint64_t shm_obj_pages(const struct shm_obj *o)
{
    return o->pages;
}

void *shm_obj_data(const struct shm_obj *o)
{
    return o->data;
}

uint32_t shm_obj_attached(const struct shm_obj *o)
{
    return shm_hdr_attached(o->hdr);
}
