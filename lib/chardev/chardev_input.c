/* A serial device's host input: pending bytes, the watch, flow control (chardev.h). */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vdev/events.h>

#include "chardev/chardev.h"

static bool listening(const struct chardev *c)
{
    return c->rx->listening(c->ctx);
}

static bool has_room(const struct chardev *c)
{
    return c->rx->has_room(c->ctx);
}

/* Moves pending host bytes into the receiver as far as they fit: host input never overruns. */
static void deliver(struct chardev *c)
{
    if (!listening(c))
        return;
    while (c->in_off < c->in_len && has_room(c)) {
        c->rx->put(c->ctx, c->in_buf[c->in_off++]);
        c->bytes_in++;
    }
}

/* One read into the empty pending buffer. False when nothing came (none yet, or EOF). */
static bool read_some(struct chardev *c)
{
    ssize_t n = read(c->in_fd, c->in_buf, sizeof(c->in_buf));
    if (n > 0) {
        c->in_off = 0;
        c->in_len = (unsigned)n;
        return true;
    }
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        if (n < 0)
            vdev_warn(c->d, "input: %s; no more input", strerror(errno));
        c->in_eof = true; /* a regular file or a pipe ends; a tty after ^D */
    }
    return false;
}

static bool idle(const struct chardev *c)
{
    return c->in_fd < 0 || c->in_eof || !listening(c);
}

static void pause_watch(struct chardev *c)
{
    if (c->watching) {
        vdev_watch_set_enabled(c->watch, false);
        c->watching = false;
    }
}

void chardev_input_feed(struct chardev *c)
{
    deliver(c);
    while (!c->watching && !idle(c) && c->in_off == c->in_len && has_room(c)) {
        struct pollfd p = {.fd = c->in_fd, .events = POLLIN};
        if (!c->in_regular && poll(&p, 1, 0) <= 0)
            break;
        if (!read_some(c))
            break;
        deliver(c);
    }
    if (!c->watching && c->watch && !idle(c) && c->in_off == c->in_len) {
        vdev_watch_set_enabled(c->watch, true);
        c->watching = true;
    }
}

void chardev_input_ready(struct chardev *c)
{
    if (c->in_off == c->in_len)
        read_some(c);
    deliver(c);
    if (c->in_off < c->in_len || c->in_eof)
        pause_watch(c); /* the guest must drain first: chardev_input_feed goes on */
}

int chardev_configured(struct chardev *c, void (*ready)(void *opaque, int fd), void *opaque)
{
    if (c->in_fd < 0)
        return 0;
    struct stat st;
    c->in_regular = fstat(c->in_fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
    if (c->in_regular)
        return 0;
    struct vdev_err err;
    c->watch = vdev_watch_fd(c->d, c->in_fd, ready, opaque, &err);
    c->watching = c->watch != NULL;
    if (c->watch)
        return 0;
    if (c->in_owned)
        return vdev_error(c->d, vdev_pos(c->d), NULL, "input: %s", err.msg);
    /* stdin is often /dev/null (CI, services), which cannot be watched: no input then. */
    vdev_warn(c->d, "input stdin: %s; no input", err.msg);
    c->in_eof = true;
    return 0;
}
