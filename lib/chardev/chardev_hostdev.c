/* A serial device's `hostdev` forms (qvm: `hostdev [<|>]NAME`, repeatable; `hostdev >"|cmd"`). */
#include "chardev_hostdev.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <vdev/config.h>
#include <vdev/hostio.h>
#include <vdev/machine.h>

extern char **environ;

static bool dryrun(struct vdev *d)
{
    return vdev_machine_config(vdev_machine_of(d))->dryrun;
}

/* The value with its `<`/`>` taken off, and its path resolved as the core resolved the whole
 * value (against the configuration file's folder). */
static void strip(const struct vdev_optval *v, size_t skip, char *name, size_t nlen, char *path,
                  size_t plen)
{
    const char *rest = v->text + skip;
    snprintf(name, nlen, "%s", rest);
    size_t tl = strlen(v->text), pl = v->path ? strlen(v->path) : 0;
    if (rest[0] != '/' && v->path && pl >= tl && strcmp(v->path + pl - tl, v->text) == 0)
        snprintf(path, plen, "%.*s%s", (int)(pl - tl), v->path, rest);
    else
        snprintf(path, plen, "%s", rest);
}

static int open_out(struct vdev *d, const struct vdev_optval *v, const char *name, const char *path,
                    struct chardev_hostdev *h)
{
    struct vdev_optval v2 = *v;
    v2.text = strcmp(name, "-") == 0 ? "stdout" : name;
    v2.path = path;
    struct vdev_host_out o;
    vdev_host_out_init(&o);
    if (vdev_host_out_open(d, &o, &v2))
        return -1;
    h->set_out = true;
    h->out_fd = o.fd;
    h->out_owned = o.owned;
    return 0;
}

static int open_in(struct vdev *d, const struct vdev_optval *v, const char *name, const char *path,
                   struct chardev_hostdev *h)
{
    h->set_in = true;
    if (strcmp(name, "-") == 0 || strcmp(name, "stdin") == 0) {
        h->in_fd = STDIN_FILENO; /* left blocking: its flags are shared with other processes */
        return 0;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return vdev_error(d, v->pos, NULL, "hostdev <%s: %s", path, strerror(errno));
    h->in_fd = fd;
    h->in_owned = true;
    return 0;
}

/* One fd for both ways (a terminal, FIFO or socket): input gets its own duplicate. */
static int both_ways(struct vdev *d, const struct vdev_optval *v, int fd, struct chardev_hostdev *h)
{
    int in = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (in < 0) {
        int e = errno;
        close(fd);
        return vdev_error(d, v->pos, NULL, "hostdev %s: %s", v->text, strerror(e));
    }
    h->set_out = h->set_in = true;
    h->out_fd = fd;
    h->out_owned = true;
    h->in_fd = in;
    h->in_owned = true;
    return 0;
}

/* A new pseudo-terminal, raw, as QEMU's `-serial pty`; its name goes to the log. The
 * terminal side stays open here so the master never reads as hung up before a user attaches. */
static int open_pty(struct vdev *d, const struct vdev_optval *v, struct chardev_hostdev *h)
{
    if (dryrun(d))
        return 0;
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    if (m < 0 || grantpt(m) || unlockpt(m) || ptsname_r(m, h->pty, sizeof(h->pty))) {
        int e = errno;
        if (m >= 0)
            close(m);
        return vdev_error(d, v->pos, NULL, "hostdev pty: %s", strerror(e));
    }
    int s = open(h->pty, O_RDWR | O_NOCTTY | O_CLOEXEC);
    struct termios t;
    if (s >= 0 && tcgetattr(s, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(s, TCSANOW, &t);
    }
    h->keep_fd = s;
    vdev_log(d, VDEV_LOG_WARNING, "hostdev pty: the console is %s", h->pty);
    return both_ways(d, v, m, h);
}

static int open_cmd(struct vdev *d, const struct vdev_optval *v, const char *cmd,
                    struct chardev_hostdev *h)
{
    if (!cmd[0])
        return vdev_error(d, v->pos, "write hostdev >\"|COMMAND\"",
                          "hostdev: no command after '|'");
    if (dryrun(d))
        return 0;
    int p[2];
    if (pipe2(p, O_CLOEXEC))
        return vdev_error(d, v->pos, NULL, "hostdev >|%s: pipe: %s", cmd, strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[0], STDIN_FILENO);
    char *argv[] = {"sh", "-c", (char *)cmd, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[0]);
    if (rc) {
        close(p[1]);
        return vdev_error(d, v->pos, NULL, "hostdev >|%s: %s", cmd, strerror(rc));
    }
    h->set_out = true;
    h->out_fd = p[1];
    h->out_owned = true;
    h->child = pid;
    return 0;
}

int chardev_hostdev_open(struct vdev *d, const struct vdev_optval *v, struct chardev_hostdev *h)
{
    memset(h, 0, sizeof(*h));
    h->out_fd = h->in_fd = h->keep_fd = -1;
    char name[512], path[4096];
    const char *t = v->text;
    if (t[0] == '>' && t[1] == '|')
        return open_cmd(d, v, t + 2, h);
    if (t[0] == '>' || t[0] == '<') {
        strip(v, 1, name, sizeof(name), path, sizeof(path));
        if (!name[0])
            return vdev_error(d, v->pos, "write e.g. 'hostdev >-' (standard output)",
                              "hostdev %c: no device or file named", t[0]);
        return t[0] == '>' ? open_out(d, v, name, path, h) : open_in(d, v, name, path, h);
    }
    strip(v, 0, name, sizeof(name), path, sizeof(path));
    if (strcmp(name, "-") == 0) {
        h->set_in = true;
        h->in_fd = STDIN_FILENO;
        return open_out(d, v, "-", "-", h);
    }
    if (strcmp(name, "pty") == 0)
        return open_pty(d, v, h);
    struct stat st;
    if (strcmp(name, "stdout") == 0 || strcmp(name, "stderr") == 0 || stat(path, &st) != 0 ||
        !S_ISCHR(st.st_mode))
        return open_out(d, v, name, path, h); /* errors (a folder, no such folder) named there */
    if (dryrun(d)) {
        if (access(path, R_OK | W_OK))
            return vdev_error(d, v->pos, NULL, "hostdev %s: %s", path, strerror(errno));
        return 0;
    }
    int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return vdev_error(d, v->pos, NULL, "hostdev %s: %s", path, strerror(errno));
    if (!isatty(fd)) { /* /dev/null and the like: written to, never read */
        close(fd);
        return open_out(d, v, name, path, h);
    }
    return both_ways(d, v, fd, h);
}

void chardev_hostdev_reap(pid_t child)
{
    for (int i = 0; child > 0 && i < 20; i++) {
        if (waitpid(child, NULL, WNOHANG) != 0)
            return;
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    }
}
