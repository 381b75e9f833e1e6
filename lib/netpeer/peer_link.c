/* The peer link: endpoint sockets, the handshake, reconnection, and the data path over the
 * two shared rings. Protocol and behaviour: docs/peer-link.md.
 *
 * Two connections make a link. Our own connection to the peer's endpoint ("out") carries
 * our HELLO with the ring we receive on; the peer's connection to our endpoint ("in")
 * carries its HELLO with the ring we send into. Each direction comes and goes on its own;
 * the link is up while both exist and come from the same peer instance. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "netpeer/peer_link.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "host_owner.h"
#include "netpeer/peer_link_proto.h"
#include "netpeer/shm_ring.h"
#include "netpeer/tap_if.h"

#define PL_RETRY_MS          150  /* peer endpoint absent or refusing: try again */
#define PL_FEATURES_RETRY_MS 2    /* features the full socket did not take: send them again */
#define PL_REFUSED_RETRY_MS  1000 /* the peer refused us: it will not change its mind soon */
#define PL_HELLO_TIMEOUT_MS  2000 /* an accepted connection must say HELLO by then */
#define PL_MAX_PENDING       4
#define PL_DEFAULT_RING      (4u << 20)
/* A peer flooding us with messages or connections cannot keep one service call going:
 * the rest waits for the next call (the epoll set stays readable). */
#define PL_MSGS_PER_SERVICE 32

enum { TAG_LISTEN, TAG_TIMER, TAG_OUT, TAG_IN, TAG_PENDING0 };

/* Kinds of messages that repeat while nothing changes (one per retry): each is logged again
 * only when its text changes, or after the link was up. */
enum { NOTE_ALWAYS = -1, NOTE_CONNECT, NOTE_REFUSED_IN, NOTE_REFUSED_OUT, NOTE_SLOTS };

struct pending_conn {
    int fd;
    uint64_t deadline;
};

struct peer_link {
    char bind_path[PL_PATH_MAX], peer_path[PL_PATH_MAX];
    uint8_t mac[6];
    uint64_t features;
    uint32_t ring_size;
    void (*state_changed)(void *opaque, bool up);
    void (*log)(void *opaque, enum vdev_log_level level, const char *msg);
    void *opaque;

    uint64_t instance;
    int ep, listen_fd, timer_fd;
    int rx_efd, space_efd; /* ours: the peer writes them, we poll them */
    dev_t bind_dev;
    ino_t bind_ino;

    /* out: our connection to the peer, offering our receive ring */
    int out_fd;
    bool out_acked, out_failed;
    bool features_pending; /* the peer reads slowly: the latest features go out at a service */
    uint64_t out_instance; /* the peer instance that acknowledged */
    uint64_t retry_at;     /* when out_fd < 0: next connection attempt */
    int rx_memfd;
    void *rx_map;
    struct shm_ring_consumer rx;

    /* in: the peer's connection to us, with the ring we send into */
    int in_fd;
    uint64_t in_instance;
    void *tx_map;
    uint32_t tx_size;
    struct shm_ring_producer tx;
    int peer_rx_efd, peer_space_efd;
    uint64_t peer_features;

    /* TAP hand-over: offer_tap is a host peer's own TAP (not ours to close), tap_taken says
     * the NIC asked for it and we released it; a NIC keeps the TAP offered on the "in"
     * connection in in_tap, asks for it (take_sent) and may use it once released */
    int offer_tap;
    bool tap_taken;
    bool accept_tap;
    int in_tap;
    char in_tap_name[16];
    bool take_sent, tap_released;

    struct pending_conn pending[PL_MAX_PENDING];
    bool up;
    bool kick; /* the data path found trouble: service as soon as possible */
    struct peer_link_stats stats;
    char last_note[NOTE_SLOTS][160]; /* repeated warnings are logged once per kind */
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Copies with truncation. */
static void copy_str(char *dst, size_t len, const char *src)
{
    size_t n = strnlen(src, len - 1);
    memcpy(dst, src, n);
    dst[n] = 0;
}

static void note(struct peer_link *l, enum vdev_log_level level, int slot, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void note(struct peer_link *l, enum vdev_log_level level, int slot, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (slot >= 0) {
        char *last = l->last_note[slot];
        if (strncmp(msg, last, sizeof(l->last_note[0]) - 1) == 0)
            return;
        copy_str(last, sizeof(l->last_note[0]), msg);
    }
    if (l->log)
        l->log(l->opaque, level, msg);
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void drain_eventfd(int fd)
{
    uint64_t v;
    if (read(fd, &v, sizeof(v)) < 0) {
        /* EAGAIN: nothing was pending */
    }
}

static void signal_eventfd(int fd)
{
    uint64_t one = 1;
    if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is saturated, the other side has a wakeup pending anyway */
    }
}

static int fill_addr(struct sockaddr_un *a, const char *path)
{
    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(a->sun_path))
        return -1;
    memcpy(a->sun_path, path, strlen(path) + 1);
    return 0;
}

static void ep_add(struct peer_link *l, int fd, uint64_t tag)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        note(l, VDEV_LOG_INTERNAL, NOTE_ALWAYS, "peer link %s: epoll_ctl: %s", l->bind_path,
             strerror(errno));
}

static void ep_del(struct peer_link *l, int fd)
{
    if (fd >= 0)
        epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL);
}

/* ---- the two directions ---- */

static void close_out(struct peer_link *l, unsigned retry_ms)
{
    ep_del(l, l->out_fd);
    close_fd(&l->out_fd);
    if (l->rx_map) {
        munmap(l->rx_map, shm_ring_map_size(l->ring_size));
        l->stats.bad_frames += l->rx.bad_records;
    }
    l->rx_map = NULL;
    memset(&l->rx, 0, sizeof(l->rx));
    close_fd(&l->rx_memfd);
    l->out_acked = l->out_failed = l->features_pending = false; /* a HELLO carries them */
    l->retry_at = now_ms() + retry_ms;
}

static void close_in(struct peer_link *l)
{
    ep_del(l, l->in_fd);
    close_fd(&l->in_fd);
    if (l->tx_map)
        munmap(l->tx_map, shm_ring_map_size(l->tx_size));
    l->tx_map = NULL;
    memset(&l->tx, 0, sizeof(l->tx));
    close_fd(&l->peer_rx_efd);
    close_fd(&l->peer_space_efd);
    close_fd(&l->in_tap); /* offered by the instance that hung up */
    l->take_sent = l->tap_released = false;
    l->peer_features = 0;
}

/* The process at the other end of a connection runs as this user or root (SO_PEERCRED, the
 * kernel's word, not a file's owner that a path could fake); else `who` names its uid. */
static bool peer_trusted(int fd, char *who, size_t len)
{
    struct ucred cr;
    socklen_t cl = sizeof(cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) || cl != sizeof(cr)) {
        snprintf(who, len, "an unknown user");
        return false;
    }
    if (host_owner_trusted(cr.uid))
        return true;
    host_owner_describe(cr.uid, who, len);
    return false;
}

static void try_connect(struct peer_link *l)
{
    struct sockaddr_un a;
    fill_addr(&a, l->peer_path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        l->retry_at = now_ms() + PL_RETRY_MS;
        return;
    }
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        note(l, VDEV_LOG_DEBUG, NOTE_CONNECT, "peer link %s: waiting for peer %s (%s)",
             l->bind_path, l->peer_path, strerror(errno));
        close(fd);
        l->retry_at = now_ms() + PL_RETRY_MS;
        return;
    }
    char who[256];
    if (!peer_trusted(fd, who, sizeof(who))) {
        /* Our HELLO hands over the guest's receive ring: never to another user's socket. */
        note(l, VDEV_LOG_ERROR, NOTE_CONNECT,
             "peer link %s: peer %s is bound by %s, not by this user or root: not used (hint: "
             "remove it; peers run as the same user)",
             l->bind_path, l->peer_path, who);
        close(fd);
        l->retry_at = now_ms() + PL_REFUSED_RETRY_MS;
        return;
    }
    /* A fresh ring for every connection: whatever an old peer still writes into the last
     * one cannot reach this one. */
    int r = shm_ring_create(l->ring_size, &l->rx_memfd, &l->rx_map);
    if (r < 0) {
        note(l, VDEV_LOG_ERROR, NOTE_CONNECT, "peer link %s: cannot create the receive ring: %s",
             l->bind_path, strerror(-r));
        close(fd);
        l->retry_at = now_ms() + PL_REFUSED_RETRY_MS;
        return;
    }
    shm_ring_consumer_init(&l->rx, l->rx_map, l->ring_size, PEER_LINK_MAX_FRAME);
    drain_eventfd(l->rx_efd);
    drain_eventfd(l->space_efd);

    struct pl_hello h;
    memset(&h, 0, sizeof(h));
    pl_hdr_init(&h.h, PL_HELLO);
    h.instance = l->instance;
    h.features = l->features;
    h.ring_size = l->ring_size;
    memcpy(h.mac, l->mac, 6);
    h.bind_dev = (uint64_t)l->bind_dev;
    h.bind_ino = (uint64_t)l->bind_ino;
    memcpy(h.bind_path, l->bind_path, sizeof(h.bind_path));
    memcpy(h.peer_path, l->peer_path, sizeof(h.peer_path));
    int fds[3] = {l->rx_memfd, l->rx_efd, l->space_efd};
    l->out_fd = fd;
    r = pl_send(fd, &h, sizeof(h), fds, 3);
    if (r < 0) {
        note(l, VDEV_LOG_WARNING, NOTE_CONNECT, "peer link %s: cannot send HELLO to %s: %s",
             l->bind_path, l->peer_path, strerror(-r));
        close_out(l, PL_RETRY_MS);
        return;
    }
    l->out_acked = false;
    ep_add(l, fd, TAG_OUT);
}

static bool is_eventfd(int fd)
{
    char link[64], proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(proc, link, sizeof(link) - 1);
    if (n < 0)
        return false;
    link[n] = 0;
    return strcmp(link, "anon_inode:[eventfd]") == 0;
}

static void fmt_mac(char *buf, size_t len, const uint8_t *m)
{
    snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* The peer's endpoint as it names it and ours for it may be spelled differently (a symlink
 * such as /var/run, "//", a relative runtime folder): the same socket file is the same
 * endpoint. The sender states the identity of its socket file; we stat only the path in our
 * own configuration, never one the peer sent (a path into a FUSE mount could block us).
 * This guards against misconfiguration, not impersonation: anyone can claim a path. */
static bool same_endpoint(const struct peer_link *l, const struct pl_hello *h)
{
    struct stat st;
    if (strcmp(h->bind_path, l->peer_path) == 0)
        return true;
    return stat(l->peer_path, &st) == 0 && S_ISSOCK(st.st_mode) &&
           (uint64_t)st.st_dev == h->bind_dev && (uint64_t)st.st_ino == h->bind_ino;
}

static bool hung_up(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR));
}

/* A HELLO from another instance while the link is up and both its connections are alive is
 * not our peer restarting (a dead process's sockets hang up at once, before a new one could
 * even bind the endpoint): it is someone else claiming our peer's path. */
static bool impostor(const struct peer_link *l, const struct pl_hello *h)
{
    return l->in_fd >= 0 && h->instance != l->in_instance && l->out_fd >= 0 && l->out_acked &&
           l->out_instance == l->in_instance && !hung_up(l->out_fd) && !hung_up(l->in_fd);
}

/* Validates a HELLO on a pending connection and maps its ring: 0, or -1 with why set. */
static int check_hello(struct peer_link *l, const union pl_msg *m, long n, int *fds, int nfds,
                       void **map, char *why, size_t whylen)
{
    const struct pl_hello *h = &m->hello;
    const char *reason;
    if (nfds < 0) {
        snprintf(why, whylen, "malformed message (truncated, or too many fds)");
    } else if ((size_t)n < sizeof(struct pl_hdr) || h->h.magic != PL_MAGIC) {
        snprintf(why, whylen, "not a peer link (bad magic)");
    } else if (h->h.version != PL_VERSION) {
        snprintf(why, whylen, "protocol version %u (this end speaks %u)", h->h.version, PL_VERSION);
    } else if (h->h.type != PL_HELLO || (size_t)n != sizeof(*h)) {
        snprintf(why, whylen, "malformed HELLO");
    } else if (nfds != 3) {
        snprintf(why, whylen, "HELLO with %d fds instead of 3", nfds);
    } else if (!memchr(h->bind_path, 0, sizeof(h->bind_path)) ||
               !memchr(h->peer_path, 0, sizeof(h->peer_path))) {
        snprintf(why, whylen, "HELLO with unterminated paths");
    } else if (h->instance == l->instance) {
        snprintf(why, whylen, "the peer path %s leads back to this end", l->peer_path);
    } else if (!same_endpoint(l, h)) {
        snprintf(why, whylen, "unexpected peer %s (this end's peer is %s)", h->bind_path,
                 l->peer_path);
    } else if (impostor(l, h)) {
        snprintf(why, whylen, "peer %s is connected already", l->peer_path);
    } else if (!is_eventfd(fds[1]) || !is_eventfd(fds[2])) {
        snprintf(why, whylen, "the wakeup fds are not eventfds");
    } else if (!(*map = shm_ring_map_peer(fds[0], h->ring_size, &reason))) {
        snprintf(why, whylen, "%s", reason);
    } else {
        return 0;
    }
    return -1;
}

static void in_readable(struct peer_link *l);

static void pending_readable(struct peer_link *l, unsigned i)
{
    struct pending_conn *p = &l->pending[i];
    union pl_msg m;
    int fds[PL_MAX_FDS], nfds;
    long n = pl_recv(p->fd, &m, fds, &nfds);
    if (n == -EAGAIN)
        return;
    if (n <= 0) { /* hung up before saying anything */
        pl_close_fds(fds, nfds < 0 ? 0 : nfds);
        ep_del(l, p->fd);
        close_fd(&p->fd);
        return;
    }
    char why[300];
    void *map = NULL;
    if (check_hello(l, &m, n, fds, nfds, &map, why, sizeof(why)) < 0) {
        note(l, VDEV_LOG_WARNING, NOTE_REFUSED_IN, "peer link %s: refused a connection: %s",
             l->bind_path, why);
        struct pl_refuse r;
        memset(&r, 0, sizeof(r));
        pl_hdr_init(&r.h, PL_REFUSE);
        copy_str(r.reason, sizeof(r.reason), why);
        pl_send(p->fd, &r, sizeof(r), NULL, 0);
        pl_close_fds(fds, nfds < 0 ? 0 : nfds);
        ep_del(l, p->fd);
        close_fd(&p->fd);
        return;
    }
    const struct pl_hello *h = &m.hello;
    /* A new HELLO from our peer replaces whatever we had from it (a restart we may not have
     * noticed yet). */
    close_in(l);
    fcntl(fds[1], F_SETFL, O_NONBLOCK);
    fcntl(fds[2], F_SETFL, O_NONBLOCK);
    close(fds[0]);
    l->in_fd = p->fd;
    p->fd = -1;
    epoll_ctl(l->ep, EPOLL_CTL_DEL, l->in_fd, NULL);
    ep_add(l, l->in_fd, TAG_IN);
    l->tx_map = map;
    l->tx_size = h->ring_size;
    shm_ring_producer_init(&l->tx, map, h->ring_size, PEER_LINK_MAX_FRAME);
    l->peer_rx_efd = fds[1];
    l->peer_space_efd = fds[2];
    l->in_instance = h->instance;
    l->peer_features = h->features;
    if (memcmp(h->mac, l->mac, 6) == 0) {
        char mac[20];
        fmt_mac(mac, sizeof(mac), l->mac);
        note(l, VDEV_LOG_WARNING, NOTE_ALWAYS, "peer link %s: both ends of the link use MAC %s",
             l->bind_path, mac);
    }
    struct pl_ack a;
    memset(&a, 0, sizeof(a));
    pl_hdr_init(&a.h, PL_ACK);
    a.instance = l->instance;
    int r = pl_send(l->in_fd, &a, sizeof(a), NULL, 0);
    if (r < 0) {
        note(l, VDEV_LOG_WARNING, NOTE_ALWAYS, "peer link %s: cannot answer peer %s: %s",
             l->bind_path, l->peer_path, strerror(-r));
        close_in(l);
        return;
    }
    /* The peer is alive now: our own connection, if it went to an older instance, is
     * stale; if we have none, do not wait for the retry timer. */
    if (l->out_fd >= 0 && l->out_acked && l->out_instance != l->in_instance)
        close_out(l, 0);
    if (l->out_fd < 0)
        l->retry_at = now_ms();
    in_readable(l); /* FEATURES may follow right behind */
}

static bool msg_ok(const union pl_msg *m, long n, size_t want)
{
    return (size_t)n == want && m->h.magic == PL_MAGIC && m->h.version == PL_VERSION;
}

static void out_readable(struct peer_link *l)
{
    for (unsigned k = 0; k < PL_MSGS_PER_SERVICE && l->out_fd >= 0; k++) {
        union pl_msg m;
        int fds[PL_MAX_FDS], nfds;
        long n = pl_recv(l->out_fd, &m, fds, &nfds);
        if (n == -EAGAIN)
            return;
        pl_close_fds(fds, nfds < 0 ? 0 : nfds); /* no fds expected on this connection */
        if (n <= 0) {
            if (l->out_acked)
                note(l, VDEV_LOG_DEBUG, NOTE_ALWAYS, "peer link %s: peer %s hung up", l->bind_path,
                     l->peer_path);
            close_out(l, PL_RETRY_MS);
            return;
        }
        if (m.h.type == PL_ACK && msg_ok(&m, n, sizeof(m.ack))) {
            l->out_acked = true;
            l->out_instance = m.ack.instance;
            if (l->in_fd >= 0 && l->in_instance != l->out_instance)
                close_in(l); /* from an older instance; the live one connects again */
        } else if (m.h.type == PL_REFUSE && msg_ok(&m, n, sizeof(m.refuse))) {
            m.refuse.reason[sizeof(m.refuse.reason) - 1] = 0;
            note(l, VDEV_LOG_WARNING, NOTE_REFUSED_OUT,
                 "peer link %s: peer %s refused the link: %s", l->bind_path, l->peer_path,
                 m.refuse.reason);
            close_out(l, PL_REFUSED_RETRY_MS);
            return;
        }
        /* anything else: ignored (a newer peer may say more) */
    }
}

/* A TAP the peer offers (accept_tap): kept until the owner takes it, if it is one. */
static void in_tap_offered(struct peer_link *l, int fd)
{
    char why[160], name[16];
    if (!tap_if_check_handed(fd, name, why, sizeof(why))) {
        note(l, VDEV_LOG_WARNING, NOTE_ALWAYS, "peer link %s: peer %s offered a TAP: refused: %s",
             l->bind_path, l->peer_path, why);
        close(fd);
        return;
    }
    close_fd(&l->in_tap);
    l->in_tap = fd;
    l->take_sent = l->tap_released = false;
    memcpy(l->in_tap_name, name, sizeof(l->in_tap_name));
}

static int send_step(int fd, enum pl_type type)
{
    struct pl_tap_step t;
    memset(&t, 0, sizeof(t));
    pl_hdr_init(&t.h, type);
    return fd < 0 ? -EBADF : pl_send(fd, &t, sizeof(t), NULL, 0);
}

int peer_link_take_tap(struct peer_link *l, char *ifname)
{
    if (!l->up || l->in_tap < 0)
        return -1;
    if (!l->take_sent) {
        /* ask; the TAP is ours once the peer says it let go (PL_TAP_RELEASED) */
        if (send_step(l->out_fd, PL_TAP_TAKE) < 0)
            close_fd(&l->in_tap); /* untold, the peer keeps it: keep to the rings */
        else
            l->take_sent = true;
        return -1;
    }
    if (!l->tap_released)
        return -1;
    int fd = l->in_tap;
    l->in_tap = -1;
    l->take_sent = l->tap_released = false;
    memcpy(ifname, l->in_tap_name, sizeof(l->in_tap_name));
    note(l, VDEV_LOG_INFO, NOTE_ALWAYS, "peer link %s: frames go through tap %s of peer %s",
         l->bind_path, l->in_tap_name, l->peer_path);
    return fd;
}

bool peer_link_tap_taken(const struct peer_link *l)
{
    return l->up && l->tap_taken;
}

/* A host peer's link came up: offer its TAP on our connection, after the HELLO. */
static void offer_tap(struct peer_link *l)
{
    struct pl_tap t;
    memset(&t, 0, sizeof(t));
    pl_hdr_init(&t.h, PL_TAP);
    int r = pl_send(l->out_fd, &t, sizeof(t), &l->offer_tap, 1);
    if (r < 0)
        note(l, VDEV_LOG_WARNING, NOTE_ALWAYS, "peer link %s: cannot offer the TAP to peer %s: %s",
             l->bind_path, l->peer_path, strerror(-r));
}

static void in_readable(struct peer_link *l)
{
    for (unsigned k = 0; k < PL_MSGS_PER_SERVICE && l->in_fd >= 0; k++) {
        union pl_msg m;
        int fds[PL_MAX_FDS], nfds;
        long n = pl_recv(l->in_fd, &m, fds, &nfds);
        if (n == -EAGAIN)
            return;
        if (n > 0 && m.h.type == PL_TAP && msg_ok(&m, n, sizeof(m.tap)) && nfds == 1 &&
            l->accept_tap) {
            in_tap_offered(l, fds[0]);
            continue;
        }
        pl_close_fds(fds, nfds < 0 ? 0 : nfds);
        if (n <= 0) {
            note(l, VDEV_LOG_DEBUG, NOTE_ALWAYS, "peer link %s: peer %s disconnected", l->bind_path,
                 l->peer_path);
            close_in(l);
            return;
        }
        if (m.h.type == PL_FEATURES && msg_ok(&m, n, sizeof(m.features))) {
            l->peer_features = m.features.features;
        } else if (m.h.type == PL_TAP_TAKE && msg_ok(&m, n, sizeof(m.tap_step)) && l->up &&
                   l->offer_tap >= 0 && !l->tap_taken) {
            /* We are inside the owner's service call: it has not touched the TAP since its
             * last one and will not before it sees peer_link_tap_taken(). Released only if
             * the peer hears it; else the frames keep going through us. */
            l->tap_taken = send_step(l->out_fd, PL_TAP_RELEASED) == 0;
        } else if (m.h.type == PL_TAP_RELEASED && msg_ok(&m, n, sizeof(m.tap_step)) &&
                   l->take_sent) {
            l->tap_released = true;
        }
    }
}

static void accept_all(struct peer_link *l)
{
    for (unsigned k = 0; k < PL_MSGS_PER_SERVICE; k++) {
        int fd = accept4(l->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        char who[256];
        if (!peer_trusted(fd, who, sizeof(who))) {
            note(l, VDEV_LOG_WARNING, NOTE_REFUSED_IN,
                 "peer link %s: refused a connection from %s (not this user or root)", l->bind_path,
                 who);
            close(fd);
            continue;
        }
        unsigned i = 0;
        while (i < PL_MAX_PENDING && l->pending[i].fd >= 0)
            i++;
        if (i == PL_MAX_PENDING) {
            note(l, VDEV_LOG_WARNING, NOTE_REFUSED_IN,
                 "peer link %s: too many connections without HELLO; refusing more", l->bind_path);
            close(fd);
            continue;
        }
        l->pending[i].fd = fd;
        l->pending[i].deadline = now_ms() + PL_HELLO_TIMEOUT_MS;
        ep_add(l, fd, TAG_PENDING0 + i);
        pending_readable(l, i); /* the HELLO is usually there already */
    }
}

static void update_state(struct peer_link *l)
{
    bool up = l->out_fd >= 0 && l->out_acked && !l->rx.broken && l->in_fd >= 0 &&
              l->out_instance == l->in_instance;
    if (up == l->up)
        return;
    l->up = up;
    l->tap_taken = false;
    if (up && l->offer_tap >= 0)
        offer_tap(l);
    if (up) {
        l->stats.connects++;
        memset(l->last_note, 0, sizeof(l->last_note));
        note(l, VDEV_LOG_INFO, NOTE_ALWAYS, "peer link %s: connected to peer %s", l->bind_path,
             l->peer_path);
    } else {
        l->stats.disconnects++;
        note(l, VDEV_LOG_INFO, NOTE_ALWAYS, "peer link %s: link to peer %s is down", l->bind_path,
             l->peer_path);
    }
    if (l->state_changed)
        l->state_changed(l->opaque, up);
}

/* The earliest time service must run, or UINT64_MAX. */
static uint64_t next_deadline(const struct peer_link *l)
{
    uint64_t d = UINT64_MAX;
    if (l->kick)
        return 0;
    if (l->out_fd < 0)
        d = l->retry_at;
    else if (l->features_pending)
        d = now_ms() + PL_FEATURES_RETRY_MS;
    for (unsigned i = 0; i < PL_MAX_PENDING; i++)
        if (l->pending[i].fd >= 0 && l->pending[i].deadline < d)
            d = l->pending[i].deadline;
    return d;
}

static void arm_timer(struct peer_link *l)
{
    uint64_t d = next_deadline(l), now = now_ms();
    struct itimerspec its;
    memset(&its, 0, sizeof(its));
    if (d != UINT64_MAX) {
        uint64_t ms = d > now ? d - now : 0;
        its.it_value.tv_sec = (time_t)(ms / 1000);
        its.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
        if (ms == 0)
            its.it_value.tv_nsec = 1; /* due now: make the fd readable */
    }
    timerfd_settime(l->timer_fd, 0, &its, NULL);
}

/* From the data path: have the owner call peer_link_service() soon. */
static void send_features(struct peer_link *l);

static void kick(struct peer_link *l)
{
    if (l->kick)
        return;
    l->kick = true;
    arm_timer(l);
}

void peer_link_service(struct peer_link *l)
{
    struct epoll_event evs[16];
    drain_eventfd(l->timer_fd); /* a timerfd reads like an eventfd */
    l->kick = false;
    int n = epoll_wait(l->ep, evs, 16, 0);
    for (int i = 0; i < n; i++) {
        uint64_t tag = evs[i].data.u64;
        /* Events may be stale (the fd was replaced earlier in this loop): each handler
         * acts on what recv() says, never on the event flags. */
        if (tag == TAG_LISTEN)
            accept_all(l);
        else if (tag == TAG_OUT)
            out_readable(l);
        else if (tag == TAG_IN)
            in_readable(l);
        else if (tag >= TAG_PENDING0 && tag < TAG_PENDING0 + PL_MAX_PENDING &&
                 l->pending[tag - TAG_PENDING0].fd >= 0)
            pending_readable(l, (unsigned)(tag - TAG_PENDING0));
    }
    if (l->out_fd >= 0 && l->features_pending && !l->out_failed)
        send_features(l);
    uint64_t now = now_ms();
    if (l->out_fd >= 0 && (l->out_failed || l->rx.broken)) {
        if (l->rx.broken)
            note(l, VDEV_LOG_WARNING, NOTE_ALWAYS,
                 "peer link %s: peer %s corrupted our receive ring; reconnecting", l->bind_path,
                 l->peer_path);
        close_out(l, 0);
    }
    for (unsigned i = 0; i < PL_MAX_PENDING; i++) {
        if (l->pending[i].fd >= 0 && now >= l->pending[i].deadline) {
            ep_del(l, l->pending[i].fd);
            close_fd(&l->pending[i].fd);
        }
    }
    if (l->out_fd < 0 && now >= l->retry_at)
        try_connect(l);
    update_state(l);
    arm_timer(l);
}

/* ---- opening and closing ---- */

/* Binds the endpoint, replacing a stale socket file but never a live endpoint. */
static int bind_endpoint(struct peer_link *l, struct vdev_err *err)
{
    struct sockaddr_un a;
    fill_addr(&a, l->bind_path);
    struct stat st;
    /* The folder must be one no other user can change (a sticky one such as /tmp is fine:
     * the socket's own owner is checked), and an existing socket must be ours or root's. */
    char why[VDEV_ERR_MAX];
    static const char hint[] =
        "bind endpoints in a folder of this user, such as the run-time folder";
    if (host_owner_check_parent(l->bind_path, false, 0755, true, hint, why, sizeof(why)))
        return vdev_err_set(err, "endpoint %s: %s", l->bind_path, why);
    if (lstat(l->bind_path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return vdev_err_set(err, "%s exists and is not a socket", l->bind_path);
        if (host_owner_check_stat(&st, l->bind_path, 0, "remove it if nobody uses it", why,
                                  sizeof(why)))
            return vdev_err_set(err, "endpoint %s", why);
        int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (probe < 0)
            return vdev_err_set(err, "socket: %s", strerror(errno));
        int r = connect(probe, (struct sockaddr *)&a, sizeof(a));
        int e = errno;
        close(probe);
        if (r == 0 || e == EAGAIN || e == EPROTOTYPE)
            return vdev_err_set(err, "endpoint %s is in use", l->bind_path);
        if (e != ECONNREFUSED)
            return vdev_err_set(err, "cannot check endpoint %s: %s", l->bind_path, strerror(e));
        if (unlink(l->bind_path) < 0 && errno != ENOENT)
            return vdev_err_set(err, "cannot remove stale endpoint %s: %s", l->bind_path,
                                strerror(errno));
    }
    l->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->listen_fd < 0)
        return vdev_err_set(err, "socket: %s", strerror(errno));
    if (bind(l->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0)
        return vdev_err_set(err, "cannot bind endpoint %s: %s", l->bind_path, strerror(errno));
    if (listen(l->listen_fd, 8) < 0 || stat(l->bind_path, &st) < 0) {
        int e = errno;
        unlink(l->bind_path);
        return vdev_err_set(err, "cannot listen on %s: %s", l->bind_path, strerror(e));
    }
    l->bind_dev = st.st_dev;
    l->bind_ino = st.st_ino;
    return 0;
}

static int check_path(const char *what, const char *p, struct vdev_err *err)
{
    if (!p || !*p)
        return vdev_err_set(err, "no %s", what);
    if (strlen(p) >= PL_PATH_MAX)
        return vdev_err_set(err, "%s %s is too long (at most %u bytes)", what, p, PL_PATH_MAX - 1);
    return 0;
}

struct peer_link *peer_link_open(const struct peer_link_cfg *cfg, struct vdev_err *err)
{
    if (check_path("endpoint path", cfg->bind_path, err) ||
        check_path("peer path", cfg->peer_path, err))
        return NULL;
    uint32_t ring = cfg->ring_size ? cfg->ring_size : PL_DEFAULT_RING;
    if (!shm_ring_size_valid(ring)) {
        vdev_err_set(err, "ring size %u is not a power of two in 256 KiB..64 MiB", ring);
        return NULL;
    }
    struct peer_link *l = calloc(1, sizeof(*l));
    if (!l) {
        vdev_err_set(err, "out of memory");
        return NULL;
    }
    snprintf(l->bind_path, sizeof(l->bind_path), "%s", cfg->bind_path);
    snprintf(l->peer_path, sizeof(l->peer_path), "%s", cfg->peer_path);
    memcpy(l->mac, cfg->mac, 6);
    l->features = cfg->features;
    l->ring_size = ring;
    l->state_changed = cfg->state_changed;
    l->log = cfg->log;
    l->opaque = cfg->opaque;
    l->listen_fd = l->out_fd = l->in_fd = l->rx_memfd = -1;
    l->peer_rx_efd = l->peer_space_efd = -1;
    l->in_tap = -1;
    l->offer_tap = cfg->offer_tap && cfg->tap_fd >= 0 ? cfg->tap_fd : -1;
    l->accept_tap = cfg->accept_tap;
    for (unsigned i = 0; i < PL_MAX_PENDING; i++)
        l->pending[i].fd = -1;
    if (getrandom(&l->instance, sizeof(l->instance), GRND_NONBLOCK) != sizeof(l->instance))
        l->instance = now_ms() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)l;
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    l->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    l->rx_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    l->space_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->ep < 0 || l->timer_fd < 0 || l->rx_efd < 0 || l->space_efd < 0) {
        vdev_err_set(err, "%s", strerror(errno));
        goto fail;
    }
    if (bind_endpoint(l, err) < 0)
        goto fail;
    ep_add(l, l->listen_fd, TAG_LISTEN);
    ep_add(l, l->timer_fd, TAG_TIMER);
    l->retry_at = now_ms(); /* first attempt at the first service */
    arm_timer(l);
    return l;
fail:
    close_fd(&l->listen_fd);
    close_fd(&l->ep);
    close_fd(&l->timer_fd);
    close_fd(&l->rx_efd);
    close_fd(&l->space_efd);
    free(l);
    return NULL;
}

void peer_link_close(struct peer_link *l)
{
    if (!l)
        return;
    close_out(l, 0);
    close_in(l);
    for (unsigned i = 0; i < PL_MAX_PENDING; i++)
        close_fd(&l->pending[i].fd);
    struct stat st;
    /* Remove the endpoint only if it is still ours. */
    if (stat(l->bind_path, &st) == 0 && st.st_dev == l->bind_dev && st.st_ino == l->bind_ino)
        unlink(l->bind_path);
    close_fd(&l->listen_fd);
    close_fd(&l->ep);
    close_fd(&l->timer_fd);
    close_fd(&l->rx_efd);
    close_fd(&l->space_efd);
    free(l);
}

/* ---- queries ---- */

int peer_link_fd(const struct peer_link *l)
{
    return l->ep;
}

int peer_link_timeout_ms(const struct peer_link *l)
{
    uint64_t d = next_deadline(l), now = now_ms();
    if (d == UINT64_MAX)
        return -1;
    return d > now ? (int)(d - now) : 0;
}

bool peer_link_up(const struct peer_link *l)
{
    return l->up;
}

uint64_t peer_link_peer_features(const struct peer_link *l)
{
    return l->up ? l->peer_features : 0;
}

/* Sends the current features. A full socket (a guest renegotiating faster than the peer
 * reads) keeps them pending for the next service instead of breaking the link: only the
 * latest features matter. Any other failure reconnects (the HELLO carries them). */
static void send_features(struct peer_link *l)
{
    struct pl_features f;
    memset(&f, 0, sizeof(f));
    pl_hdr_init(&f.h, PL_FEATURES);
    f.features = l->features;
    int r = pl_send(l->out_fd, &f, sizeof(f), NULL, 0);
    l->features_pending = r == -EAGAIN;
    if (r < 0 && r != -EAGAIN) {
        l->out_failed = true;
        kick(l);
    }
}

void peer_link_set_features(struct peer_link *l, uint64_t features)
{
    l->features = features;
    if (l->out_fd < 0)
        return; /* the next HELLO carries them */
    send_features(l);
}

void peer_link_get_stats(const struct peer_link *l, struct peer_link_stats *out)
{
    *out = l->stats;
    out->bad_frames += l->rx.bad_records;
}

/* ---- data path ---- */

void *peer_link_tx_reserve(struct peer_link *l, size_t len)
{
    if (!l->up || len > PEER_LINK_MAX_FRAME)
        return NULL;
    return shm_ring_reserve(&l->tx, (uint32_t)len);
}

void peer_link_tx_commit(struct peer_link *l, size_t len)
{
    if (l->up)
        shm_ring_commit(&l->tx, len > PEER_LINK_MAX_FRAME ? PEER_LINK_MAX_FRAME : (uint32_t)len);
}

void peer_link_tx_flush(struct peer_link *l)
{
    if (l->up && shm_ring_flush(&l->tx))
        signal_eventfd(l->peer_rx_efd);
}

int peer_link_tx_space_fd(const struct peer_link *l)
{
    return l->space_efd;
}

bool peer_link_tx_want_space(struct peer_link *l, size_t len)
{
    if (!l->up || len == 0 || len > PEER_LINK_MAX_FRAME)
        return false;
    drain_eventfd(l->space_efd);
    return shm_ring_want_space(&l->tx, (uint32_t)len);
}

const void *peer_link_rx_peek(struct peer_link *l, size_t *len)
{
    if (!l->up)
        return NULL;
    uint32_t n;
    const void *p = shm_ring_peek(&l->rx, &n);
    if (!p) {
        if (l->rx.broken)
            kick(l);
        return NULL;
    }
    *len = n;
    return p;
}

void peer_link_rx_release(struct peer_link *l)
{
    if (l->up && shm_ring_release(&l->rx))
        signal_eventfd(l->peer_space_efd);
}

int peer_link_rx_fd(const struct peer_link *l)
{
    return l->rx_efd;
}

bool peer_link_rx_sleep(struct peer_link *l)
{
    if (!l->up)
        return false;
    drain_eventfd(l->rx_efd);
    return shm_ring_sleep(&l->rx);
}
