/* Host objects and folders that already exist are used only when they are ours (see
 * host_owner.h): the owner and mode checks, and a folder walk that never follows a
 * component another user could have planted. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host_owner.h"

#define LINKS_MAX 40 /* as the kernel's own limit on symbolic links in one lookup */

bool host_owner_trusted(uid_t uid)
{
    return uid == 0 || uid == geteuid();
}

void host_owner_describe(uid_t uid, char *buf, size_t len)
{
    struct passwd pw, *res = NULL;
    char tmp[1024];
    if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) || !res)
        snprintf(buf, len, "uid %u (?)", (unsigned)uid);
    else
        snprintf(buf, len, "uid %u (%s)", (unsigned)uid, res->pw_name);
}

static void set_why(char *why, size_t len, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_why(char *why, size_t len, const char *hint, const char *fmt, ...)
{
    if (!why || !len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(why, len, fmt, ap);
    va_end(ap);
    if (hint && n >= 0 && (size_t)n < len)
        snprintf(why + n, len - (size_t)n, " (hint: %s)", hint);
}

/* "group-writable", "readable by others", ...: the forbidden bits the mode has. */
static void describe_bits(mode_t bad, char *buf, size_t len)
{
    static const struct {
        mode_t bit;
        const char *what;
    } names[] = {
        {S_IWGRP, "writable by its group"},
        {S_IWOTH, "writable by others"},
        {S_IRGRP, "readable by its group"},
        {S_IROTH, "readable by others"},
    };
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && n < len; i++) {
        if (!(bad & names[i].bit))
            continue;
        int w = snprintf(buf + n, len - n, "%s%s", n ? " and " : "", names[i].what);
        n += w > 0 ? (size_t)w : 0;
    }
    if (!buf[0])
        snprintf(buf, len, "open to others");
}

static int check_owner(const struct stat *st, const char *path, const char *hint, char *why,
                       size_t len)
{
    if (host_owner_trusted(st->st_uid))
        return 0;
    char owner[300], me[300];
    host_owner_describe(st->st_uid, owner, sizeof(owner));
    host_owner_describe(geteuid(), me, sizeof(me));
    set_why(why, len, hint, "%s is owned by %s, not by this user (%s) or root: not used", path,
            owner, me);
    return -1;
}

int host_owner_check_stat(const struct stat *st, const char *path, mode_t forbid, const char *hint,
                          char *why, size_t len)
{
    if (!S_ISREG(st->st_mode) && !S_ISSOCK(st->st_mode)) {
        set_why(why, len, hint, "%s is not a regular file or socket: not used", path);
        return -1;
    }
    if (check_owner(st, path, hint, why, len))
        return -1;
    mode_t bad = st->st_mode & forbid & 0777;
    if (bad) {
        char what[128];
        describe_bits(bad, what, sizeof(what));
        set_why(why, len, hint, "%s is %s (mode %04o): not used", path, what,
                (unsigned)(st->st_mode & 07777));
        return -1;
    }
    return 0;
}

int host_owner_check_fd(int fd, const char *path, mode_t forbid, const char *hint, char *why,
                        size_t len)
{
    struct stat st;
    if (fstat(fd, &st)) {
        set_why(why, len, hint, "%s: fstat: %s", path, strerror(errno));
        return -1;
    }
    return host_owner_check_stat(&st, path, forbid, hint, why, len);
}

/* A folder we walk through: trusted owner, and nobody else may rename its entries (not
 * writable by group or others, unless sticky where that is allowed). */
static int check_dir(int fd, const char *path, bool sticky_ok, const char *hint, char *why,
                     size_t len)
{
    struct stat st;
    if (fstat(fd, &st)) {
        set_why(why, len, hint, "%s: fstat: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        set_why(why, len, hint, "%s is not a folder", path);
        return -1;
    }
    if (check_owner(&st, path, hint, why, len))
        return -1;
    mode_t bad = st.st_mode & (S_IWGRP | S_IWOTH);
    if (bad && !(sticky_ok && (st.st_mode & S_ISVTX))) {
        char what[128];
        describe_bits(bad, what, sizeof(what));
        set_why(why, len, hint, "folder %s is %s (mode %04o): not used", path, what,
                (unsigned)(st.st_mode & 07777));
        return -1;
    }
    return 0;
}

/* Appends component `c` (length n) to the walked path `done`. */
static void walked(char *done, size_t cap, const char *c, size_t n)
{
    size_t dl = strlen(done);
    if (dl + 1 + n + 1 > cap)
        return; /* only used in messages: a cut name is better than none */
    if (dl == 0 || done[dl - 1] != '/')
        done[dl++] = '/';
    memcpy(done + dl, c, n);
    done[dl + n] = '\0';
}

int host_owner_open_dir(const char *path, bool create, mode_t mode, bool sticky_last,
                        const char *hint, char *why, size_t len)
{
    /* rest: what is left to walk; a symbolic link splices its target in front of it. */
    char *rest = malloc(2 * PATH_MAX + 2), *tmp = malloc(2 * PATH_MAX + 2);
    char done[PATH_MAX + 1] = "/";
    int fd = -1, links = 0;
    if (!rest || !tmp) {
        set_why(why, len, NULL, "out of memory");
        goto fail;
    }
    if (!path || !*path) {
        set_why(why, len, hint, "no folder name");
        goto fail;
    }
    if (path[0] == '/') {
        snprintf(rest, 2 * PATH_MAX + 2, "%s", path);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd))) {
            set_why(why, len, hint, "%s: cannot find the current folder: %s", path,
                    strerror(errno));
            goto fail;
        }
        snprintf(rest, 2 * PATH_MAX + 2, "%s/%s", cwd, path);
    }
    fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || check_dir(fd, "/", true, hint, why, len)) {
        if (fd < 0)
            set_why(why, len, hint, "/: %s", strerror(errno));
        goto fail;
    }
    char *p = rest;
    for (;;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char *after = p + n;
        while (*after == '/')
            after++;
        bool last = *after == '\0';
        char comp[NAME_MAX + 1];
        if (n > NAME_MAX) {
            set_why(why, len, hint, "%s: a name in it is too long", path);
            goto fail;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        p = after;
        if (!strcmp(comp, "."))
            continue;
        int nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (nfd < 0 && errno == ENOENT && create && strcmp(comp, "..")) {
            if (mkdirat(fd, comp, mode) && errno != EEXIST) {
                int e = errno;
                walked(done, sizeof(done), comp, n);
                set_why(why, len, hint, "cannot create the folder %s: %s", done, strerror(e));
                goto fail;
            }
            nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (nfd < 0 && (errno == ELOOP || errno == ENOTDIR)) {
            struct stat st;
            walked(done, sizeof(done), comp, n);
            if (fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) || !S_ISLNK(st.st_mode)) {
                set_why(why, len, hint, "%s is not a folder", done);
                goto fail;
            }
            /* A link another user made would lead us wherever that user likes. */
            if (check_owner(&st, done, hint, why, len))
                goto fail;
            if (++links > LINKS_MAX) {
                set_why(why, len, hint, "%s: too many symbolic links", path);
                goto fail;
            }
            ssize_t tl = readlinkat(fd, comp, tmp, PATH_MAX);
            if (tl <= 0 || tl >= PATH_MAX) {
                set_why(why, len, hint, "%s: cannot read the link", done);
                goto fail;
            }
            tmp[tl] = '\0';
            if (strlen(tmp) + 1 + strlen(p) + 1 > 2 * PATH_MAX + 2) {
                set_why(why, len, hint, "%s: name too long", path);
                goto fail;
            }
            /* The link's target, then what was left after it. */
            size_t tlen = strlen(tmp);
            tmp[tlen] = '/';
            memmove(tmp + tlen + 1, p, strlen(p) + 1);
            if (tmp[0] == '/') {
                close(fd);
                fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0) {
                    set_why(why, len, hint, "/: %s", strerror(errno));
                    goto fail;
                }
                snprintf(done, sizeof(done), "/");
            } else {
                char *slash = strrchr(done, '/'); /* back to the link's folder */
                if (slash)
                    slash[slash == done ? 1 : 0] = '\0';
            }
            char *swap = rest;
            rest = tmp;
            tmp = swap;
            p = rest;
            continue;
        }
        walked(done, sizeof(done), comp, n);
        if (nfd < 0) {
            set_why(why, len, hint, "cannot open the folder %s: %s", done, strerror(errno));
            goto fail;
        }
        close(fd);
        fd = nfd;
        if (check_dir(fd, done, !last || sticky_last, hint, why, len))
            goto fail;
    }
    free(rest);
    free(tmp);
    return fd;
fail:
    if (fd >= 0)
        close(fd);
    free(rest);
    free(tmp);
    return -1;
}

int host_owner_check_parent(const char *path, bool create, mode_t mode, bool sticky_last,
                            const char *hint, char *why, size_t len)
{
    char d[PATH_MAX];
    if (snprintf(d, sizeof(d), "%s", path) >= (int)sizeof(d)) {
        set_why(why, len, hint, "%s: name too long", path);
        return -1;
    }
    char *slash = strrchr(d, '/');
    if (!slash)
        snprintf(d, sizeof(d), ".");
    else if (slash == d)
        d[1] = '\0';
    else
        *slash = '\0';
    int fd = host_owner_open_dir(d, create, mode, sticky_last, hint, why, len);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}
