/* The state files: one record per VF in the state folder, which is ours (made 0700, every
 * folder up to it owned by this user or root and closed to others' writes, walked without
 * following links others made: core/host_owner.h) and locked while a record changes. A
 * record is written whole or not at all (temporary file, fsync, rename), read only when it
 * is a plain file of ours that others cannot write, and parsed strictly (hostdev_record.c):
 * what it says is set on the host's NIC by someone with CAP_NET_ADMIN. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host_owner.h"
#include "hostdev_internal.h"

#define SUFFIX   ".state"
#define HINT     "set VDEVKIT_RUNTIME_DIR to a folder of this user that others cannot write"
#define HINT_REC "(hint: remove it if no VM uses the VF)"

int hd_state_open(const struct hd_ctx *c, char *path, size_t len, struct vdev_err *err)
{
    char why[VDEV_ERR_MSG_MAX - 128];
    int n, fd = -1;
    if (c->state_dir && *c->state_dir) {
        n = snprintf(path, len, "%s", c->state_dir);
        if (n < 0 || (size_t)n >= len)
            return vdev_err_setc(err, VDEV_E_INVAL, "the state folder's name is too long");
    } else {
        const char *base = getenv("VDEVKIT_RUNTIME_DIR");
        base = base && *base ? base : "/run/vdevkit";
        n = snprintf(path, len, "%s/hostdev", base);
        if (n < 0 || (size_t)n >= len)
            return vdev_err_setc(err, VDEV_E_INVAL, "the run-time folder's name is too long");
        /* The run-time folder as core/runtime_dir.c makes it; ours below it is private. */
        fd = host_owner_open_dir(base, true, 0755, false, HINT, why, sizeof(why));
        if (fd < 0)
            return vdev_err_setc(err, VDEV_E_PERM, "hostdev state folder %s: %s", path, why);
        close(fd);
    }
    fd = host_owner_open_dir(path, true, 0700, false, HINT, why, sizeof(why));
    if (fd < 0)
        return vdev_err_setc(err, VDEV_E_PERM, "hostdev state folder %s: %s", path, why);
    /* One process at a time changes records (two VMMs starting with the same stale VF). */
    while (flock(fd, LOCK_EX)) {
        if (errno != EINTR) {
            int e = errno;
            close(fd);
            return vdev_err_setc(err, VDEV_E_IO, "hostdev state folder %s: cannot lock it: %s",
                                 path, strerror(e));
        }
    }
    return fd;
}

void hd_state_close(int dfd)
{
    if (dfd >= 0)
        close(dfd); /* drops the lock */
}

static void file_name(const char *bdf, char *buf, size_t len)
{
    snprintf(buf, len, "%s" SUFFIX, bdf);
}

int hd_state_read(int dfd, const char *dir, const char *bdf, struct hd_record *r,
                  struct vdev_err *err)
{
    char name[64], path[PATH_MAX + 64], why[VDEV_ERR_MSG_MAX - 256];
    file_name(bdf, name, sizeof(name));
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return 0;
    if (fd < 0)
        return vdev_err_setc(err, errno == ELOOP ? VDEV_E_PERM : VDEV_E_IO,
                             "record %s: %s: not used", path,
                             errno == ELOOP ? "a symbolic link" : strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st))
        rc = vdev_err_setc(err, VDEV_E_IO, "record %s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = vdev_err_setc(err, VDEV_E_PERM, "record %s is not a regular file: not used " HINT_REC,
                           path);
    else if (st.st_size > HD_RECORD_MAX)
        rc = vdev_err_setc(err, VDEV_E_PERM,
                           "record %s has %lld bytes, more than a record has: not used " HINT_REC,
                           path, (long long)st.st_size);
    else if (host_owner_check_stat(&st, path, S_IWGRP | S_IWOTH, NULL, why, sizeof(why)))
        rc = vdev_err_setc(err, VDEV_E_PERM, "record %s " HINT_REC, why);
    if (rc) {
        close(fd);
        return -1;
    }
    char text[HD_RECORD_MAX + 1];
    ssize_t n = read(fd, text, sizeof(text));
    int e = errno;
    close(fd);
    if (n < 0)
        return vdev_err_setc(err, VDEV_E_IO, "record %s: %s", path, strerror(e));
    if (hd_record_parse(text, (size_t)n, r, why, sizeof(why)))
        return vdev_err_setc(err, VDEV_E_IO,
                             "record %s is not valid: %s (hint: see it, set the "
                             "VF back by hand and remove it)",
                             path, why);
    if (strcmp(r->bdf, bdf))
        return vdev_err_setc(err, VDEV_E_IO, "record %s names another VF, %s", path, r->bdf);
    return 1;
}

/* Renames tmp to name; with `exclusive`, never over an existing name (EEXIST). A file system
 * without RENAME_NOREPLACE gets link + unlink, which is just as exclusive. */
static int publish(int dfd, const char *tmp, const char *name, bool exclusive)
{
    if (!renameat2(dfd, tmp, dfd, name, exclusive ? RENAME_NOREPLACE : 0))
        return 0;
    if (!exclusive || errno != EINVAL || linkat(dfd, tmp, dfd, name, 0))
        return -1;
    unlinkat(dfd, tmp, 0);
    return 0;
}

int hd_state_write(int dfd, const char *dir, const struct hd_record *r, bool exclusive,
                   struct vdev_err *err)
{
    char text[HD_RECORD_MAX], name[64], tmp[72], path[PATH_MAX + 64];
    size_t len = hd_record_format(r, text, sizeof(text));
    file_name(r->bdf, name, sizeof(name));
    snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (len == 0)
        return vdev_err_setc(err, VDEV_E_INVAL, "record %s: too long", path);
    if (unlinkat(dfd, tmp, 0) && errno != ENOENT) /* a crash's leftover */
        return vdev_err_setc(err, VDEV_E_IO, "record %s: removing %s: %s", path, tmp,
                             strerror(errno));
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return vdev_err_setc(err, VDEV_E_IO, "record %s: creating %s/%s: %s", path, dir, tmp,
                             strerror(errno));
    bool ok = !fchmod(fd, 0600) && write(fd, text, len) == (ssize_t)len && !fsync(fd);
    int e = errno;
    if (close(fd) && ok) {
        ok = false;
        e = errno;
    }
    if (ok && publish(dfd, tmp, name, exclusive)) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        unlinkat(dfd, tmp, 0);
        return vdev_err_setc(err, e == EEXIST ? VDEV_E_EXIST : VDEV_E_IO, "record %s: %s", path,
                             e == EEXIST ? "there is one already" : strerror(e));
    }
    fsync(dfd); /* the rename itself survives a crash */
    return 0;
}

int hd_state_remove(int dfd, const char *dir, const char *bdf, struct vdev_err *err)
{
    char name[64];
    file_name(bdf, name, sizeof(name));
    if (unlinkat(dfd, name, 0) && errno != ENOENT)
        return vdev_err_setc(err, VDEV_E_IO, "record %s/%s: cannot remove it: %s", dir, name,
                             strerror(errno));
    fsync(dfd);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

int hd_state_list(int dfd, const char *dir, char (**bdfs)[VDEV_HOSTDEV_BDF_MAX], size_t *n,
                  struct vdev_err *err)
{
    *bdfs = NULL;
    *n = 0;
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return vdev_err_setc(err, VDEV_E_IO, "hostdev state folder %s: %s", dir, strerror(e));
    }
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char bdf[VDEV_HOSTDEV_BDF_MAX], want[64];
        size_t len = strlen(e->d_name);
        if (len <= strlen(SUFFIX) || strcmp(e->d_name + len - strlen(SUFFIX), SUFFIX))
            continue;
        snprintf(want, sizeof(want), "%.*s", (int)(len - strlen(SUFFIX)), e->d_name);
        if (hd_parse_bdf(want, bdf) || strcmp(want, bdf))
            continue; /* not a name we give */
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            void *grown = realloc(*bdfs, cap * sizeof(**bdfs));
            if (!grown) {
                closedir(d);
                free(*bdfs);
                *bdfs = NULL;
                *n = 0;
                return vdev_err_setc(err, VDEV_E_NOMEM, "out of memory");
            }
            *bdfs = grown;
        }
        memcpy((*bdfs)[(*n)++], bdf, sizeof(bdf));
    }
    closedir(d);
    if (*n)
        qsort(*bdfs, *n, sizeof(**bdfs), by_name);
    return 0;
}

int hd_proc_start(pid_t pid, unsigned long long *start)
{
    char path[64], text[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = pid > 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    text[n] = '\0';
    /* "PID (COMM) STATE ..." where COMM may hold anything: fields count from the last ')'. */
    char *p = strrchr(text, ')');
    char state;
    if (!p || sscanf(p + 1,
                     " %c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
                     "%*s %*s %llu",
                     &state, start) != 2)
        return -1;
    return state == 'Z' || state == 'X' ? -1 : 0;
}

bool hd_owner_alive(pid_t pid, unsigned long long start)
{
    unsigned long long now;
    return hd_proc_start(pid, &now) == 0 && now == start;
}
