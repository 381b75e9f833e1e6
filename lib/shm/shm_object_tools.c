/* Host tools (`vdevkit shmem list|create|remove`): listing with reclaim of dead users,
 * persistent regions, removal. They never take a user slot. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shm_object_internal.h"

/* Under the lock: reclaims dead users; a region left without users that is not persistent
 * is stale: its name is removed. Returns true when it was. */
static bool sweep_stale(struct shm_header *h, const char *name)
{
    uint64_t dead = shm_hdr_sweep(h, SHM_NO_USER);
    uint64_t live = shm_hdr_live_users(h);
    if (dead && live)
        shm_hdr_wake(h, live);
    if (live || h->persistent || atomic_load(&h->unlinked))
        return false;
    char path[SHM_NAME_MAX + 32];
    shm_obj_path(path, sizeof(path), name);
    atomic_store(&h->unlinked, 1);
    shm_unlink(path);
    return true;
}

static void fill_info(struct shm_header *h, struct shm_obj_info *info)
{
    info->pages = h->pages;
    info->persistent = h->persistent != 0;
    uint64_t live = shm_hdr_live_users(h);
    info->users = (unsigned)__builtin_popcountll(live);
    info->attached = shm_hdr_attached(h);
    for (unsigned i = 0; i < SHM_OBJ_MAX_CLIENTS; i++) {
        unsigned u = shm_hdr_client_user(h, i);
        if (!(info->attached & (1u << i)) || u == SHM_NO_USER)
            continue;
        info->clients[i].pid = h->users[u].pid;
        memcpy(info->clients[i].who, h->users[u].who, sizeof(info->clients[i].who));
        info->clients[i].who[sizeof(info->clients[i].who) - 1] = 0;
    }
}

/* 0 = filled, 1 = skip (stale or vanished). */
static int list_one(const char *name, struct shm_obj_info *info)
{
    char path[SHM_NAME_MAX + 32];
    shm_obj_path(path, sizeof(path), name);
    memset(info, 0, sizeof(*info));
    snprintf(info->name, sizeof(info->name), "%s", name);
    bool rw = true;
    int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0 && (errno == EACCES || errno == EPERM)) {
        rw = false;
        fd = shm_open(path, O_RDONLY | O_CLOEXEC, 0);
    }
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        /* Not even readable: show what the directory says. */
        char full[SHM_NAME_MAX + 64];
        snprintf(full, sizeof(full), SHM_DIR "%s", path);
        struct stat st;
        if (stat(full, &st))
            return 1;
        info->mode = st.st_mode & 07777;
        info->uid = st.st_uid;
        info->gid = st.st_gid;
        info->readonly = true;
        info->corrupt = st.st_size < (off_t)SHM_HDR_SIZE;
        return 0;
    }
    struct stat st;
    if (fstat(fd, &st)) {
        close(fd);
        return 1;
    }
    info->mode = st.st_mode & 07777;
    info->uid = st.st_uid;
    info->gid = st.st_gid;
    info->readonly = !rw;
    /* Another user's object under our prefix: shown, never mapped nor swept (its mutexes
     * are whatever that user wrote). */
    if (shm_obj_trusted(fd, name, 0777, NULL, 0)) {
        info->foreign = true;
        info->readonly = true;
        info->corrupt = !S_ISREG(st.st_mode) || st.st_size < (off_t)SHM_HDR_SIZE;
        close(fd);
        return 0;
    }
    struct shm_header *h;
    if (shm_map_header(fd, rw, &h, NULL, NULL, 0)) {
        info->corrupt = true;
        close(fd);
        return 0;
    }
    int r = 0;
    if (rw) {
        if (shm_hdr_lock(h)) {
            fill_info(h, info); /* lock unavailable: an unlocked look */
        } else {
            r = sweep_stale(h, name) ? 1 : 0;
            if (!r)
                fill_info(h, info);
            shm_hdr_unlock(h);
        }
    } else {
        fill_info(h, info);
    }
    munmap(h, SHM_HDR_SIZE);
    close(fd);
    return r;
}

/* A temporary object ("vdevkit-shmtmp.PID.N") whose creator died before publishing it is
 * garbage. Removed only when PID is gone and the object is old enough (shm_object_reap.c). */
static void reap_tmp(const char *entry)
{
    int pid = 0;
    unsigned n = 0;
    char tail;
    if (sscanf(entry + strlen(SHM_TMP_PREFIX), "%d.%u%c", &pid, &n, &tail) != 2 || pid <= 0)
        return;
    if (kill(pid, 0) == 0 || errno != ESRCH)
        return;
    char full[SHM_NAME_MAX + 64];
    snprintf(full, sizeof(full), SHM_DIR "/%s", entry);
    struct stat st;
    if (lstat(full, &st) || time(NULL) - st.st_ctime < shm_tmp_reap_age_s())
        return;
    char path[SHM_NAME_MAX + 32];
    snprintf(path, sizeof(path), "/%s", entry);
    shm_unlink(path);
}

int shm_obj_list(void (*fn)(const struct shm_obj_info *info, void *arg), void *arg)
{
    DIR *d = opendir(SHM_DIR);
    if (!d)
        return -1;
    size_t plen = strlen(SHM_OBJ_PREFIX);
    int count = 0;
    struct dirent *e;
    struct shm_obj_info *info = malloc(sizeof(*info)); /* 1 KiB+: off small thread stacks */
    if (!info) {
        closedir(d);
        errno = ENOMEM;
        return -1;
    }
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, SHM_TMP_PREFIX, strlen(SHM_TMP_PREFIX)) == 0)
            reap_tmp(e->d_name);
        if (strncmp(e->d_name, SHM_OBJ_PREFIX, plen) != 0)
            continue;
        const char *name = e->d_name + plen;
        if (shm_name_check(name) || list_one(name, info))
            continue;
        fn(info, arg);
        count++;
    }
    free(info);
    closedir(d);
    return count;
}

int shm_obj_create_persistent(const char *name, uint64_t pages, unsigned mode, gid_t gid, char *why,
                              size_t whylen)
{
    if (why && whylen)
        why[0] = 0;
    if (shm_name_check(name)) {
        shm_setwhy(why, whylen,
                   "a name is 1-%d bytes without '/' or control characters, not . or ..",
                   SHM_NAME_MAX);
        return SHM_ILLEGAL_NAME;
    }
    if (pages < 1 || pages > SHM_OBJ_MAX_PAGES) {
        shm_setwhy(why, whylen, "size %llu pages out of range 1..%u", (unsigned long long)pages,
                   SHM_OBJ_MAX_PAGES);
        return pages ? SHM_NO_MEMORY : SHM_UNKNOWN;
    }
    char path[SHM_NAME_MAX + 32];
    shm_obj_path(path, sizeof(path), name);
    for (int attempt = 0; attempt < 32; attempt++) {
        struct shm_obj *o = shm_obj_new(name, NULL);
        if (!o)
            return SHM_NO_MEMORY;
        char tmp[96];
        int r = shm_create_tmp(o, pages, true, mode, gid, tmp, sizeof(tmp), why, whylen);
        if (!r)
            r = shm_publish_tmp(tmp, name, why, whylen);
        shm_obj_free(o);
        if (r != SHM_RETRY)
            return r;
        /* The name exists: fine if it is only a stale leftover. */
        int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
        if (fd < 0) {
            if (errno == ENOENT)
                continue;
            shm_setwhy(why, whylen, "exists");
            return SHM_UNKNOWN;
        }
        char fw[512];
        if (shm_obj_trusted(fd, name, 0777, fw, sizeof(fw))) {
            close(fd); /* another user's: not ours to sweep or replace */
            shm_setwhy(why, whylen, "exists: %s", fw);
            return SHM_UNKNOWN;
        }
        struct shm_header *h;
        bool stale = false;
        if (shm_map_header(fd, true, &h, NULL, NULL, 0) == SHM_OK) {
            if (shm_hdr_lock(h) == 0) {
                stale = sweep_stale(h, name);
                shm_hdr_unlock(h);
            }
            munmap(h, SHM_HDR_SIZE);
        }
        close(fd);
        if (!stale) {
            shm_setwhy(why, whylen, "exists");
            return SHM_UNKNOWN;
        }
    }
    shm_setwhy(why, whylen, "region '%s' keeps changing under us", name);
    return SHM_UNKNOWN;
}

int shm_obj_remove(const char *name)
{
    if (shm_name_check(name)) {
        errno = EINVAL;
        return -1;
    }
    char path[SHM_NAME_MAX + 32];
    shm_obj_path(path, sizeof(path), name);
    int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd >= 0) {
        /* Tell its users the name is gone, so the last one does not unlink a successor
         * (not in another user's object: we do not lock its mutexes). */
        struct shm_header *h;
        if (shm_obj_trusted(fd, name, 0777, NULL, 0) == SHM_OK &&
            shm_map_header(fd, true, &h, NULL, NULL, 0) == SHM_OK) {
            if (shm_hdr_lock(h) == 0) {
                atomic_store(&h->unlinked, 1);
                shm_hdr_unlock(h);
            }
            munmap(h, SHM_HDR_SIZE);
        }
        close(fd);
    }
    return shm_unlink(path);
}
