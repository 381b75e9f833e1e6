/* Host output files for devices: one implementation of "stdout|stderr|PATH". */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include <vdev/hostio.h>

void vdev_host_out_init(struct vdev_host_out *o)
{
    o->fd = STDOUT_FILENO;
    o->owned = false;
    o->failed = false;
}

void vdev_host_out_close(struct vdev_host_out *o)
{
    if (o->owned)
        close(o->fd);
    vdev_host_out_init(o);
}

/* `dryrun` creates nothing: an existing file is opened (and closed) as a run would open it,
 * a missing one needs a folder we may create it in. 0, or -1 with errno set. */
int vdev_host_file_check(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    if (errno != ENOENT)
        return -1;
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) {
        snprintf(dir, sizeof(dir), ".");
    } else {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        if (n >= sizeof(dir)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    return access(dir, W_OK | X_OK);
}

int vdev_host_out_open(struct vdev *d, struct vdev_host_out *o, const struct vdev_optval *v)
{
    vdev_host_out_close(o);
    if (!strcmp(v->text, "stdout"))
        return 0;
    if (!strcmp(v->text, "stderr")) {
        o->fd = STDERR_FILENO;
        return 0;
    }
    const char *path = v->path ? v->path : v->text;
    if (vdev_machine_config(d->m)->dryrun) {
        if (vdev_host_file_check(path))
            return vdev_error(d, v->pos, NULL, "%s %s: %s", v->opt->name, path, strerror(errno));
        return 0; /* nothing runs: the output stays stdout */
    }
    /* Non-blocking open so a FIFO without a reader fails instead of hanging the build. */
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0666);
    if (fd < 0)
        return vdev_error(d, v->pos, NULL, "%s %s: %s", v->opt->name, path, strerror(errno));
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    o->fd = fd;
    o->owned = true;
    return 0;
}

int vdev_host_out_write(struct vdev *d, struct vdev_host_out *o, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(o->fd, p, len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            struct pollfd pfd = {.fd = o->fd, .events = POLLOUT};
            (void)poll(&pfd, 1, -1);
        } else if (n == 0 || errno != EINTR) {
            if (!o->failed)
                vdev_log(d, VDEV_LOG_ERROR, "output: write failed: %s",
                         n == 0 ? "no progress" : strerror(errno));
            o->failed = true;
            return -1;
        }
    }
    return 0;
}
