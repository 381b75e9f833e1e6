/* The direct-tap backend (`tap NAME`): the NIC's data thread reads and writes an existing
 * host TAP interface itself, with 12-byte virtio-net headers (tap_if.h), no other process
 * and no extra thread.
 *
 * guest -> tap: one writev of our copy of the checked header and the guest's buffers (the
 *   kernel copies; partial checksums and TSO frames cross as they are). A write the kernel
 *   refuses is dropped and counted (tap-errors); the TAP never blocks us.
 * tap -> guest: TUNSETOFFLOAD follows what the guest negotiated (again after each driver
 *   reset), so the kernel checksums and segments what the guest cannot take. A frame read
 *   across a feature change is converted here: GSO segmented (below), NEEDS_CSUM completed
 *   (net_rx.c). When the guest has no buffers the frame read stays here and the TAP is not
 *   polled until an rx kick: the kernel's queue holds, then drops.
 * The link is up while the TAP is attached (from `configured` to `terminate`); nothing on
 * the host side changes it, except the interface's deletion: the NIC's link goes down and
 * the NIC tries to attach again every second, so an interface made afresh under the same
 * name is taken up again.
 *
 * The same I/O serves a TAP the host peer hands over (net_tap_adopt, net_be_peer.c): then
 * the peer link owns the link state, and a TAP that fails is dropped, not looked for. */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net.h"
#include "net_backend.h"
#include "netpeer/peer_link.h"
#include "netpeer/tap_if.h"

#define TAP_READ_MAX (PEER_LINK_MAX_FRAME + 1u) /* one more: a longer frame is seen, dropped */
#define TAP_SEG_MAX  (NET_HDR_LEN + NET_TSO_MAX_HDR + 65536u)
#define TAP_RETRY_MS 1000u /* a deleted interface: how often to look for it again */

struct net_tap {
    int fd;
    char ifname[16]; /* for messages */
    bool handed;     /* the host peer's (net_tap_adopt): the link is the peer link's */
    uint8_t *buf;    /* the frame read, header first */
    size_t len;      /* its length; 0 = none */
    uint8_t *seg;    /* a GSO frame the guest cannot take: its segment seg_next */
    struct net_tso tso;
    unsigned seg_count; /* 0: the frame goes as it is */
    unsigned seg_next;
    size_t seg_len; /* of the segment built in seg; 0 = not built yet */
    uint64_t offload_applied;
    bool offload_valid;
    bool gone;         /* the interface was deleted: fd is -1, attach is retried */
    uint64_t retry_ms; /* when */
    bool tell_guest;   /* link_up changed: a configuration interrupt is due */
};

static struct net_tap *tap_alloc(void)
{
    struct net_tap *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->buf = malloc(TAP_READ_MAX);
    t->seg = malloc(TAP_SEG_MAX);
    t->fd = -1;
    if (!t->buf || !t->seg) {
        free(t->buf);
        free(t->seg);
        free(t);
        return NULL;
    }
    return t;
}

int net_tap_open(struct net *n, struct vdev_err *err)
{
    struct net_tap *t = tap_alloc();
    if (!t)
        return vdev_err_set(err, "out of memory");
    snprintf(t->ifname, sizeof(t->ifname), "%s", n->tap_name);
    t->fd = tap_if_attach(n->tap_name, err);
    if (t->fd < 0) {
        n->tap = t;
        net_tap_close(n);
        return -1;
    }
    n->tap = t;
    return 0;
}

int net_tap_adopt(struct net *n, int fd, const char *ifname)
{
    struct net_tap *t = tap_alloc();
    if (!t) {
        close(fd);
        return -1;
    }
    t->fd = fd;
    t->handed = true;
    snprintf(t->ifname, sizeof(t->ifname), "%s", ifname);
    n->tap = t;
    atomic_store(&n->features_dirty, true); /* the next pass sets its offloads */
    return 0;
}

bool net_tap_ready(const struct net *n)
{
    return n->tap && !n->tap->gone;
}

int net_tap_poll_fd(const struct net *n)
{
    /* a guest without buffers: leave the frames in the kernel until an rx kick; a broken
     * driver: until the device starts again (readable, the fd would keep us spinning) */
    bool paused = atomic_load(&n->running) && (n->rx_wait_buffers || n->broken);
    return !net_tap_ready(n) || paused ? -1 : n->tap->fd;
}

void net_tap_close(struct net *n)
{
    struct net_tap *t = n->tap;
    if (!t)
        return;
    if (t->fd >= 0)
        close(t->fd);
    free(t->buf);
    free(t->seg);
    free(t);
    n->tap = NULL;
}

/* The guest hears of it from poll_done, outside run_lock (the transport's interrupt path
 * must not run under it: the core holds its own locks when it calls start/stop, which take
 * run_lock). */
static void set_link(struct net *n, struct net_tap *t, bool up)
{
    atomic_store(&n->link_up, up);
    t->tell_guest = true;
}

/* The fd no longer reaches an interface (EBADFD: `ip link del`): link down until a new
 * interface of that name can be attached. Data thread. */
static void tap_gone(struct net *n, struct net_tap *t)
{
    if (t->gone)
        return;
    close(t->fd);
    t->fd = -1;
    t->gone = true;
    t->len = 0;
    t->seg_count = 0;
    n->rx_held_stale = true; /* chains held for that frame go back */
    if (t->handed) {         /* the host peer's business: frames go through the rings again */
        vdev_warn(n->d, "tap %s of the host peer failed: frames go through the peer link again",
                  t->ifname);
        return;
    }
    t->retry_ms = net_now_ms() + TAP_RETRY_MS;
    set_link(n, t, false);
    vdev_warn(n->d, "tap %s was deleted: link down (attaching again when it is back)", t->ifname);
}

void net_tap_poll_done(struct net *n, short revents)
{
    /* POLLIN: rx_peek reads. POLLERR: the interface is gone (a read says EBADFD). */
    if (n->tap && (revents & (POLLERR | POLLHUP | POLLNVAL)))
        tap_gone(n, n->tap);
}

static void tap_retry(struct net *n, struct net_tap *t)
{
    t->retry_ms = net_now_ms() + TAP_RETRY_MS;
    struct vdev_err err = {0};
    int fd = tap_if_attach(n->tap_name, &err);
    if (fd < 0)
        return;
    t->fd = fd;
    t->gone = false;
    t->offload_valid = false;
    atomic_store(&n->features_dirty, true); /* the next pass sets the offloads */
    set_link(n, t, true);
    vdev_info(n->d, "tap %s is back: link up", n->tap_name);
}

/* ---- guest -> tap ---- */

static enum net_tx_result tap_tx(struct net *n, struct net_hdr *h, const struct net_src *src)
{
    struct net_tap *t = n->tap;
    if (t->gone) {
        net_count(&n->st.drop_link_down, 1);
        return NET_TX_DROPPED;
    }
    uint8_t raw[NET_HDR_LEN];
    h->num_buffers = 0;
    net_hdr_store(h, raw);
    /* the header, then the frame's part of the guest's iovecs (elem->iov has room for
     * VDEV_VIRTQ_MAX_SEGS; one more than IOV_MAX would be refused: copy then) */
    struct iovec iov[VDEV_VIRTQ_MAX_SEGS + 1];
    unsigned cnt = 1;
    iov[0] = (struct iovec){raw, NET_HDR_LEN};
    size_t skip = src->skip, left = src->len;
    for (unsigned i = 0; i < src->niov && left; i++) {
        size_t l = src->iov[i].iov_len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        size_t take = l - skip < left ? l - skip : left;
        iov[cnt++] = (struct iovec){(uint8_t *)src->iov[i].iov_base + skip, take};
        left -= take;
        skip = 0;
    }
    bool copied = false;
    if (cnt > IOV_MAX || n->cap) {
        net_src_read(src, 0, n->scratch, src->len);
        iov[1] = (struct iovec){n->scratch, src->len};
        cnt = 2;
        copied = true;
    }
    if (writev(t->fd, iov, (int)cnt) < 0) {
        int e = errno;
        if (e == EAGAIN || e == ENOBUFS) {
            net_count(&n->st.drop_ring_full, 1);
        } else if (e == EBADFD) {
            net_count(&n->st.drop_link_down, 1);
            tap_gone(n, t);
        } else {
            net_count(&n->st.tap_errors, 1); /* EINVAL: the kernel refused the header */
            net_log_limited(n, "tx: writing a %zu-byte frame to tap %s: %s", src->len, t->ifname,
                            strerror(e));
        }
        return NET_TX_DROPPED;
    }
    if (copied)
        net_capture(n, n->scratch, src->len);
    net_count(&n->st.tx_frames, 1);
    net_count(&n->st.tx_bytes, src->len);
    return NET_TX_SENT;
}

static void tap_tx_flush(struct net *n)
{
    (void)n;
}

/* ---- tap -> guest ---- */

/* Reads the next frame into t->buf; false when the TAP has none. */
static bool tap_read(struct net *n, struct net_tap *t)
{
    if (t->gone)
        return false;
    for (;;) {
        ssize_t r = read(t->fd, t->buf, TAP_READ_MAX);
        if (r < 0) {
            int e = errno;
            if (e == EBADFD) {
                tap_gone(n, t);
            } else if (e != EAGAIN && e != EINTR) {
                net_count(&n->st.tap_errors, 1);
                net_log_limited(n, "rx: reading tap %s: %s", t->ifname, strerror(e));
            }
            return false;
        }
        if (r == 0)
            return false;
        if ((size_t)r > PEER_LINK_MAX_FRAME) {
            net_count(&n->st.drop_too_big, 1);
            continue;
        }
        t->len = (size_t)r; /* a short one is for net_rx's checks */
        t->seg_count = 0;
        return true;
    }
}

/* The frame read is GSO of a kind the guest did not negotiate (read across a feature
 * change): segment it. false when it cannot be (dropped, counted). */
static bool tap_start_segments(struct net *n, struct net_tap *t, const struct net_hdr *h)
{
    size_t flen = t->len - NET_HDR_LEN;
    const char *why;
    size_t hl = flen < NET_TSO_MAX_HDR ? flen : NET_TSO_MAX_HDR;
    if (net_tso_prepare(&t->tso, t->buf + NET_HDR_LEN, hl, flen, h->gso_type, h->gso_size, &why)) {
        net_count(&n->st.drop_bad_header, 1);
        net_log_limited(n, "rx: GSO frame from tap %s dropped: %s", t->ifname, why);
        return false;
    }
    t->seg_count = t->tso.nsegs;
    t->seg_next = 0;
    t->seg_len = 0;
    net_count(&n->st.sw_gso_frames, 1);
    return true;
}

static const uint8_t *tap_rx_peek(struct net *n, size_t *len)
{
    struct net_tap *t = n->tap;
    for (;;) {
        if (!t->len && !tap_read(n, t))
            return NULL;
        if (t->seg_count || t->len < NET_HDR_LEN + ETH_HLEN)
            break;
        struct net_hdr h;
        net_hdr_load(&h, t->buf);
        unsigned type = h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
        if (type == VIRTIO_NET_HDR_GSO_NONE || net_guest_takes_gso(n->features, h.gso_type) ||
            (type != VIRTIO_NET_HDR_GSO_TCPV4 && type != VIRTIO_NET_HDR_GSO_TCPV6))
            break; /* as it is (net_rx refuses a type nobody negotiated) */
        if (tap_start_segments(n, t, &h))
            break;
        t->len = 0;
    }
    if (!t->seg_count) {
        *len = t->len;
        return t->buf;
    }
    if (!t->seg_len) {
        size_t flen = t->len - NET_HDR_LEN;
        struct iovec iv = {t->buf + NET_HDR_LEN, flen};
        struct net_src src = {.iov = &iv, .niov = 1, .skip = 0, .len = flen};
        memset(t->seg, 0, NET_HDR_LEN); /* complete checksums: no flags */
        t->seg_len = NET_HDR_LEN + net_tso_segment(&t->tso, t->buf + NET_HDR_LEN, &src, t->seg_next,
                                                   t->seg + NET_HDR_LEN);
    }
    *len = t->seg_len;
    return t->seg;
}

static void tap_rx_release(struct net *n)
{
    struct net_tap *t = n->tap;
    if (t->seg_count) {
        net_count(&n->st.sw_gso_segments, 1);
        t->seg_len = 0;
        if (++t->seg_next < t->seg_count)
            return;
        t->seg_count = 0;
    }
    t->len = 0;
}

static bool tap_rx_sleep(struct net *n)
{
    (void)n;
    return false; /* the TAP's fd is polled as it is: nothing to announce */
}

/* TUNSETOFFLOAD follows the guest's receive offloads (none while no driver runs). */
static void tap_features_changed(struct net *n)
{
    struct net_tap *t = n->tap;
    uint64_t want = n->features & NET_GUEST_OFFLOADS;
    if (t->gone || (t->offload_valid && want == t->offload_applied))
        return;
    int r = tap_if_set_offload(t->fd, want);
    if (r < 0)
        vdev_warn(n->d, "tap %s: TUNSETOFFLOAD: %s (the kernel keeps its previous offloads)",
                  t->ifname, strerror(-r));
    t->offload_valid = true;
    t->offload_applied = want;
}

static int tap_poll_prepare(struct net *n, struct pollfd *fds)
{
    struct net_tap *t = n->tap;
    fds[0] = (struct pollfd){.fd = net_tap_poll_fd(n), .events = POLLIN};
    for (unsigned i = 1; i < NET_BE_FDS; i++)
        fds[i] = (struct pollfd){.fd = -1};
    if (t->tell_guest)
        return 0;
    if (!t->gone)
        return -1;
    uint64_t now = net_now_ms();
    return t->retry_ms > now ? (int)(t->retry_ms - now) : 0;
}

/* Without run_lock: touches only the backend's own state and link_up. */
static void tap_poll_done(struct net *n, const struct pollfd *fds, int r)
{
    struct net_tap *t = n->tap;
    if (r > 0)
        net_tap_poll_done(n, fds[0].revents);
    if (t->gone && net_now_ms() >= t->retry_ms)
        tap_retry(n, t);
    if (t->tell_guest) {
        t->tell_guest = false;
        if (atomic_load(&n->running))
            vdev_virtio_config_changed(n->vio);
    }
}

const struct net_backend net_be_tap = {
    .tx = tap_tx,
    .tx_flush = tap_tx_flush,
    .rx_peek = tap_rx_peek,
    .rx_release = tap_rx_release,
    .rx_sleep = tap_rx_sleep,
    .features_changed = tap_features_changed,
    .poll_prepare = tap_poll_prepare,
    .poll_done = tap_poll_done,
};
