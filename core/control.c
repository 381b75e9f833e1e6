/* The control socket: a Unix stream socket in the VM's run-time folder that answers one-line
 * text requests (`stat`, `stat NAME`, `info`, `help`, and device commands such as
 * `capture NAME FILE|off`) with text ending in a blank line.
 *
 * Served on the core's event thread, which must never wait for a client: every socket is
 * non-blocking, replies are bounded and buffered, and a client that misbehaves (too long a
 * line, not reading its replies) is closed. The listening socket and the clients sit in a
 * private epoll set, so the core's loop watches one fd and clients need no watch each.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "errc.h"
#include "internal.h"

#define CONTROL_MAX_CLIENTS 8
#define CONTROL_LINE_MAX    256        /* a request longer than this is refused */
#define CONTROL_OUT_MAX     (64 << 10) /* unread reply bytes a client may leave pending */

struct control_client {
    int fd;          /* -1: free slot */
    uint64_t serial; /* accept order: when full, the oldest client makes room */
    char in[CONTROL_LINE_MAX];
    size_t inlen;
    char *out;
    size_t outlen, outpos;
    bool closing; /* close once the reply is flushed */
};

struct vdev_control {
    struct vdev_machine *m;
    int listen_fd;
    int epfd;
    struct vdev_watch *watch;
    struct timespec started;
    uint64_t accepted;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct control_client clients[CONTROL_MAX_CLIENTS];
};

/* ---- replies ---- */

/* One line of a device's state: its `status` hook, newlines and control bytes flattened. */
static void append_status(struct vdev *d, FILE *out)
{
    fputs(d->label, out);
    if (!d->type->status) {
        fputs(": -\n", out);
        return;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        fputs(": (out of memory)\n", out);
        return;
    }
    d->type->status(d, f);
    fclose(f);
    fputs(": ", out);
    for (size_t i = 0; i < len && i < 4096; i++)
        fputc((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f ? ' ' : buf[i], out);
    fputc('\n', out);
    free(buf);
}

static void reply_stat(struct vdev_control *c, const char *name, FILE *out)
{
    struct vdev_machine *m = c->m;
    if (name) {
        struct vdev *d = vdev_machine_find_device(m, name);
        if (d)
            append_status(d, out);
        else
            fprintf(out, "error: no device named '%.64s' (see 'stat')\n", name);
        return;
    }
    if (m->ndevs == 0)
        fputs("(no devices)\n", out);
    for (size_t i = 0; i < m->ndevs; i++)
        append_status(m->devs[i], out);
}

static void reply_info(struct vdev_control *c, FILE *out)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double up =
        (double)(now.tv_sec - c->started.tv_sec) + (double)(now.tv_nsec - c->started.tv_nsec) / 1e9;
    fprintf(out, "system %s\npid %ld\nuptime %.1f s\ndevices %zu\n", vdev_machine_system_name(c->m),
            (long)getpid(), up, c->m->ndevs);
}

/* A device command (`capture NAME ARG`): the device's `control` hook answers one line. */
static void reply_device(struct vdev_control *c, char *cmd, char *name, char *arg, FILE *out)
{
    struct vdev *d = vdev_machine_find_device(c->m, name);
    if (!d) {
        fprintf(out, "error: no device named '%.64s' (see 'stat')\n", name);
        return;
    }
    if (!d->type->control) {
        fprintf(out, "error: %s takes no '%s' command\n", d->label, cmd);
        return;
    }
    char reply[512] = "";
    char *argv[] = {cmd, arg, NULL};
    int rc = d->type->control(d, 2, argv, reply, sizeof(reply));
    if (!reply[0])
        snprintf(reply, sizeof(reply), "%s", rc ? "failed" : "done");
    fputs(rc ? "error: " : "", out);
    for (size_t i = 0; reply[i]; i++)
        fputc((unsigned char)reply[i] < 0x20 || reply[i] == 0x7f ? ' ' : reply[i], out);
    fputc('\n', out);
}

static void reply_help(FILE *out)
{
    fputs("stat                   every device: its label, then its state and counters\n"
          "stat NAME              one device, by its 'name'\n"
          "capture NAME FILE|off  start (or switch) / stop a NIC's pcap capture\n"
          "info                   system name, pid, uptime\n"
          "help                   this list\n",
          out);
}

/* Answers one request line into `out`; the blank line that ends a reply is added here. */
static void answer(struct vdev_control *c, char *line, FILE *out)
{
    char *save = NULL;
    char *cmd = strtok_r(line, " \t\r", &save);
    char *arg = cmd ? strtok_r(NULL, " \t\r", &save) : NULL;
    if (cmd && arg && strcmp(cmd, "capture") == 0) {
        /* the rest of the line is the file: a name may hold spaces */
        char *file = save ? save + strspn(save, " \t") : NULL;
        size_t flen = file ? strlen(file) : 0;
        while (flen && (file[flen - 1] == '\r' || file[flen - 1] == ' ' || file[flen - 1] == '\t'))
            file[--flen] = '\0';
        if (flen)
            reply_device(c, cmd, arg, file, out);
        else
            fputs("error: usage: capture NAME FILE|off\n", out);
        fputc('\n', out);
        return;
    }
    char *extra = arg ? strtok_r(NULL, " \t\r", &save) : NULL;
    if (!cmd)
        fputs("error: empty request (try 'help')\n", out);
    else if (strcmp(cmd, "capture") == 0)
        fputs("error: usage: capture NAME FILE|off\n", out);
    else if (strcmp(cmd, "stat") == 0 && !extra)
        reply_stat(c, arg, out);
    else if (strcmp(cmd, "info") == 0 && !arg)
        reply_info(c, out);
    else if (strcmp(cmd, "help") == 0 && !arg)
        reply_help(out);
    else if (strcmp(cmd, "stat") == 0 || strcmp(cmd, "info") == 0 || strcmp(cmd, "help") == 0)
        fprintf(out, "error: too many arguments to '%s' (try 'help')\n", cmd);
    else
        fprintf(out, "error: unknown command '%.64s' (try 'help')\n", cmd);
    fputc('\n', out);
}

/* ---- clients ---- */

static void client_close(struct vdev_control *c, struct control_client *cl)
{
    if (cl->fd < 0)
        return;
    epoll_ctl(c->epfd, EPOLL_CTL_DEL, cl->fd, NULL);
    close(cl->fd);
    free(cl->out);
    *cl = (struct control_client){.fd = -1};
}

/* Writes what the socket takes now; waits for EPOLLOUT for the rest. Returns -1 when the
 * client is gone (closed here). */
static int client_flush(struct vdev_control *c, struct control_client *cl)
{
    while (cl->outpos < cl->outlen) {
        ssize_t n = send(cl->fd, cl->out + cl->outpos, cl->outlen - cl->outpos,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            client_close(c, cl);
            return -1;
        }
        cl->outpos += (size_t)n;
    }
    bool pending = cl->outpos < cl->outlen;
    if (!pending) {
        cl->outpos = cl->outlen = 0;
        if (cl->closing) {
            client_close(c, cl);
            return -1;
        }
    }
    struct epoll_event ev = {.events = pending ? EPOLLOUT : EPOLLIN, .data.ptr = cl};
    epoll_ctl(c->epfd, EPOLL_CTL_MOD, cl->fd, &ev);
    return 0;
}

/* Queues `text` for the client; a client that leaves too much unread is closed. */
static int client_queue(struct vdev_control *c, struct control_client *cl, const char *text,
                        size_t len)
{
    size_t pending = cl->outlen - cl->outpos;
    if (pending + len > CONTROL_OUT_MAX) {
        client_close(c, cl);
        return -1;
    }
    if (cl->outpos) {
        memmove(cl->out, cl->out + cl->outpos, pending);
        cl->outpos = 0;
        cl->outlen = pending;
    }
    char *grown = realloc(cl->out, pending + len);
    if (!grown) {
        client_close(c, cl);
        return -1;
    }
    cl->out = grown;
    memcpy(cl->out + cl->outlen, text, len);
    cl->outlen += len;
    return 0;
}

static int client_answer(struct vdev_control *c, struct control_client *cl, char *line)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (!out) {
        client_close(c, cl);
        return -1;
    }
    answer(c, line, out);
    fclose(out);
    if (len > CONTROL_OUT_MAX - 64) { /* bounded: say so rather than send it all */
        static const char cut[] = "... (reply truncated)\n\n";
        /* Room for the notice inside what open_memstream gave us (len bytes). */
        len = CONTROL_OUT_MAX - 64 - (sizeof(cut) - 1);
        char *nl = memrchr(buf, '\n', len);
        len = nl ? (size_t)(nl - buf) + 1 : 0;
        memcpy(buf + len, cut, sizeof(cut) - 1);
        len += sizeof(cut) - 1;
    }
    int rc = client_queue(c, cl, buf, len);
    free(buf);
    return rc;
}

static void client_readable(struct vdev_control *c, struct control_client *cl)
{
    for (;;) {
        if (cl->closing)
            return;
        ssize_t n = recv(cl->fd, cl->in + cl->inlen, sizeof(cl->in) - cl->inlen, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) { /* end of requests: finish the replies, then close */
            cl->closing = true;
            break;
        }
        cl->inlen += (size_t)n;
        char *nl;
        while ((nl = memchr(cl->in, '\n', cl->inlen))) {
            *nl = '\0';
            if (client_answer(c, cl, cl->in))
                return;
            size_t used = (size_t)(nl - cl->in) + 1;
            memmove(cl->in, cl->in + used, cl->inlen - used);
            cl->inlen -= used;
        }
        if (cl->inlen == sizeof(cl->in)) {
            static const char msg[] = "error: request line too long\n\n";
            cl->closing = true;
            if (client_queue(c, cl, msg, sizeof(msg) - 1))
                return;
            break; /* send it now: the client may be waiting with nothing more to send */
        }
    }
    client_flush(c, cl);
}

static void accept_clients(struct vdev_control *c)
{
    for (;;) {
        int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or an error we cannot act on; epoll tells us again */
        struct control_client *slot = NULL, *oldest = NULL;
        for (size_t i = 0; i < CONTROL_MAX_CLIENTS && !slot; i++) {
            struct control_client *cl = &c->clients[i];
            if (cl->fd < 0)
                slot = cl;
            else if (!oldest || cl->serial < oldest->serial)
                oldest = cl;
        }
        if (!slot) { /* full: a client that lingers must not lock the others out */
            client_close(c, oldest);
            slot = oldest;
        }
        *slot = (struct control_client){.fd = fd, .serial = ++c->accepted};
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = slot};
        if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev)) {
            close(fd);
            slot->fd = -1;
        }
    }
}

/* The core's loop says our epoll set has something ready. */
static void control_ready(void *opaque, int fd)
{
    struct vdev_control *c = opaque;
    struct epoll_event evs[CONTROL_MAX_CLIENTS + 1];
    int n = epoll_wait(fd, evs, CONTROL_MAX_CLIENTS + 1, 0);
    for (int i = 0; i < n; i++) {
        struct control_client *cl = evs[i].data.ptr;
        if (!cl) {
            accept_clients(c);
        } else if (cl->fd >= 0) {
            if (evs[i].events & (EPOLLERR | EPOLLHUP) && !(evs[i].events & EPOLLIN))
                client_close(c, cl);
            else if (cl->outpos < cl->outlen)
                client_flush(c, cl);
            else
                client_readable(c, cl);
        }
    }
}

/* ---- opening and closing ---- */

/* Something is at `path`: a stale socket of a VM that died is replaced; a live one (or
 * anything that is not a socket) is an error. */
static int claim_path(const char *path, const char *system, struct vdev_err *err)
{
    struct stat st;
    if (lstat(path, &st))
        return errno == ENOENT ? 0 : vdev_err_set(err, "%s: %s", path, strerror(errno));
    if (!S_ISSOCK(st.st_mode))
        return vdev_err_set(err, "%s exists and is not a control socket; remove it", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return vdev_err_set(err, "socket: %s", strerror(errno));
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    int e = errno;
    close(fd);
    if (rc == 0 || e == EAGAIN || e == EINPROGRESS)
        return vdev_err_setc(err, VDEV_E_BUSY,
                             "another VM with system name '%s' is running: its control socket %s "
                             "answers (hint: give each VM its own 'system' name)",
                             system, path);
    if (unlink(path) && errno != ENOENT)
        return vdev_err_set(err, "cannot remove the stale control socket %s: %s", path,
                            strerror(errno));
    return 0;
}

static void control_free(struct vdev_control *c)
{
    for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++)
        client_close(c, &c->clients[i]);
    if (c->listen_fd >= 0) {
        close(c->listen_fd);
        unlink(c->path);
        /* The VM's folder goes too when nothing else lives there (vm-PID folders pile up). */
        char *slash = strrchr(c->path, '/');
        if (slash) {
            *slash = '\0';
            rmdir(c->path);
        }
    }
    if (c->epfd >= 0)
        close(c->epfd);
    free(c);
}

int vdev_machine_control_open(struct vdev_machine *m, struct vdev_err *err)
{
    struct vdev_err local;
    if (!err)
        err = &local;
    if (m->control)
        return vdev_err_set(err, "the control socket is already open at %s", m->control->path);
    struct vdev_control *c = calloc(1, sizeof(*c));
    if (!c)
        return vdev_err_set(err, "out of memory");
    c->m = m;
    c->listen_fd = c->epfd = -1;
    for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++)
        c->clients[i].fd = -1;
    clock_gettime(CLOCK_MONOTONIC, &c->started);
    int rc = -2; /* the host's folder is unusable, until we know whose path it is */
    char path[512];
    if (vdev_machine_runtime_path(m, "control", path, sizeof(path), err))
        goto fail;
    if (strlen(path) >= sizeof(c->path)) {
        vdev_err_set(err,
                     "control socket path %s is longer than a Unix socket allows (%zu bytes; "
                     "hint: a shorter VDEVKIT_RUNTIME_DIR or 'set runtime-dir')",
                     path, sizeof(c->path) - 1);
        goto fail;
    }
    if (claim_path(path, vdev_machine_system_name(m), err)) {
        rc = -1;
        goto fail;
    }
    c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (c->listen_fd < 0 || c->epfd < 0) {
        vdev_err_set(err, "control socket: %s", strerror(errno));
        goto fail;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa))) {
        vdev_err_setc(err, vdev_errc_from_errno(errno), "cannot create the control socket %s: %s",
                      path, strerror(errno));
        close(c->listen_fd);
        c->listen_fd = -1; /* not ours: do not unlink it */
        goto fail;
    }
    memcpy(c->path, path, strlen(path) + 1);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (listen(c->listen_fd, 16) || epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->listen_fd, &ev)) {
        vdev_err_set(err, "control socket %s: %s", path, strerror(errno));
        goto fail;
    }
    c->watch = vdev_machine_watch_fd(m, c->epfd, control_ready, c, err);
    if (!c->watch)
        goto fail;
    m->control = c;
    return 0;
fail:
    control_free(c);
    return rc;
}

const char *vdev_machine_control_path(const struct vdev_machine *m)
{
    return m->control ? m->control->path : NULL;
}

/* After the event loop stopped: no callback can be running. */
void vdev_control_close(struct vdev_machine *m)
{
    if (!m->control)
        return;
    vdev_unwatch_fd(m->control->watch);
    control_free(m->control);
    m->control = NULL;
}
