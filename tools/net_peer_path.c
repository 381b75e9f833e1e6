/* `vdevkit net-peer`'s data path: frames between a peer's link and its TAP (the
 * conversions are described in net_peer.c), the carrier and the TAP's offloads. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "net_peer_internal.h"
#include "netpeer/net_hdr.h"
#include "netpeer/net_offload.h"
#include "netpeer/tap_if.h"

/* ---- logging and counters ---- */

void np_log(struct np_peer *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vdevkit net-peer: %s: ", p->o.ifname);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Per-frame trouble: at most 10 messages a second per peer (a guest can make errors fast). */
static bool log_allowed(struct np_peer *p)
{
    uint64_t now = (uint64_t)time(NULL);
    if (now != p->log_window)
        p->log_window = now, p->log_used = 0;
    return p->log_used++ < 10;
}

void np_link_log(void *opaque, enum vdev_log_level level, const char *msg)
{
    if (level <= VDEV_LOG_INFO)
        np_log(opaque, "%s", msg);
}

/* ---- link state ---- */

void np_tap_events(struct np_peer *p, bool on)
{
    if (p->tap_paused == !on)
        return;
    struct epoll_event ev = {.events = on ? EPOLLIN : 0, .data.u64 = TAG(p - p->np->p, TAG_TAP)};
    epoll_ctl(p->np->ep, EPOLL_CTL_MOD, p->tap, &ev);
    p->tap_paused = !on;
}

void np_state_changed(void *opaque, bool up)
{
    struct np_peer *p = opaque;
    p->up = up;
    if (!up) {
        p->offload_valid = false; /* the next guest may negotiate otherwise */
        p->waiting_space = false;
        np_tap_events(p, true); /* drain (and count) what the TAP gives while down */
    }
    int r = tap_if_set_carrier(p->tap, up);
    if (r < 0 && !p->carrier_warned) {
        p->carrier_warned = true;
        np_log(p, "cannot set the carrier (TUNSETCARRIER needs Linux 5.0): %s", strerror(-r));
    }
    np_log(p, "link %s, carrier %s", up ? "up" : "down", up ? "on" : "off");
}

/* TUNSETOFFLOAD follows what the guest negotiated (again after each driver reset). */
static void sync_offload(struct np_peer *p)
{
    if (!p->up)
        return;
    uint64_t want = p->o.offload ? peer_link_peer_features(p->link) & NET_GUEST_OFFLOADS : 0;
    if (p->offload_valid && want == p->offload_applied)
        return;
    int r = tap_if_set_offload(p->tap, want);
    if (r < 0)
        np_log(p, "TUNSETOFFLOAD: %s (the kernel keeps its previous offloads)", strerror(-r));
    p->offload_valid = true;
    p->offload_applied = want;
}

/* ---- guest -> tap ---- */

static void to_tap(struct np_peer *p, const uint8_t *f, size_t len)
{
    if (len < NET_HDR_LEN + ETH_HLEN || len > PEER_LINK_MAX_FRAME) {
        p->st.bad_header++;
        if (log_allowed(p))
            np_log(p, "%zu-byte record from the guest dropped", len);
        return;
    }
    uint8_t raw[NET_HDR_LEN];
    memcpy(raw, f, NET_HDR_LEN); /* once: the guest's process may change the ring meanwhile */
    struct net_hdr h;
    net_hdr_load(&h, raw);
    size_t flen = len - NET_HDR_LEN;
    unsigned type = h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
    const char *why = NULL;
    if (h.flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID))
        why = "unknown flags";
    else if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
             (h.csum_start >= flen || (size_t)h.csum_start + h.csum_offset + 2 > flen))
        why = "checksum offsets outside the frame";
    else if (type != VIRTIO_NET_HDR_GSO_NONE && type != VIRTIO_NET_HDR_GSO_TCPV4 &&
             type != VIRTIO_NET_HDR_GSO_TCPV6)
        why = "unsupported GSO type";
    else if (type != VIRTIO_NET_HDR_GSO_NONE &&
             (!h.gso_size || !(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)))
        why = "GSO frame without gso_size or NEEDS_CSUM";
    if (why) {
        p->st.bad_header++;
        if (log_allowed(p))
            np_log(p, "frame from the guest dropped: %s", why);
        return;
    }
    h.num_buffers = 0;
    net_hdr_store(&h, raw);
    struct iovec iov[2] = {{raw, NET_HDR_LEN}, {(void *)(f + NET_HDR_LEN), flen}};
    if (writev(p->tap, iov, 2) < 0) {
        int e = errno;
        p->st.tap_errors++; /* EINVAL: the kernel refused the header */
        if (log_allowed(p))
            np_log(p, "writing a %zu-byte frame to the tap: %s", flen, strerror(e));
        return;
    }
    p->st.tap_frames++;
    p->st.tap_bytes += flen;
}

/* ---- tap -> guest ---- */

/* A GSO frame the guest cannot take (read across a feature change): segment it from a
 * private copy into the ring. */
static bool segment_to_guest(struct np *np, struct np_peer *p, const struct net_hdr *h, size_t flen)
{
    struct net_tso t;
    const char *why;
    size_t hl = flen < NET_TSO_MAX_HDR ? flen : NET_TSO_MAX_HDR;
    if (net_tso_prepare(&t, np->scratch, hl, flen, h->gso_type, h->gso_size, &why)) {
        p->st.bad_header++;
        if (log_allowed(p))
            np_log(p, "GSO frame from the tap dropped: %s", why);
        return false;
    }
    struct iovec iv = {np->scratch, flen};
    struct net_src src = {.iov = &iv, .niov = 1, .skip = 0, .len = flen};
    bool sent = false;
    for (unsigned i = 0; i < t.nsegs; i++) {
        /* this segment's length: hdr_len + mss may exceed any record, a segment never
         * exceeds the frame */
        uint8_t *q = peer_link_tx_reserve(p->link, NET_HDR_LEN + net_tso_seg_len(&t, i));
        if (!q) {
            p->st.drop_ring_full += t.nsegs - i; /* TCP retransmits them */
            break;
        }
        memset(q, 0, NET_HDR_LEN);
        size_t sl = net_tso_segment(&t, np->scratch, &src, i, q + NET_HDR_LEN);
        peer_link_tx_commit(p->link, NET_HDR_LEN + sl);
        p->st.guest_frames++;
        p->st.guest_bytes += sl;
        p->st.sw_gso_segments++;
        sent = true;
    }
    p->st.sw_gso_frames++;
    return sent;
}

/* Converts the frame just read into the ring at d (n bytes with the header) for the guest's
 * features and publishes it. True if something was published. */
static bool publish(struct np *np, struct np_peer *p, uint8_t *d, size_t n)
{
    struct net_hdr h;
    net_hdr_load(&h, d);
    size_t flen = n - NET_HDR_LEN;
    uint64_t pf = p->o.offload ? peer_link_peer_features(p->link) : 0;
    if ((h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) != VIRTIO_NET_HDR_GSO_NONE &&
        !net_guest_takes_gso(pf, h.gso_type)) {
        memcpy(np->scratch, d + NET_HDR_LEN, flen);
        peer_link_tx_commit(p->link, 0); /* cancel: the segments take its place */
        return segment_to_guest(np, p, &h, flen);
    }
    if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !(pf & NET_BIT(VIRTIO_NET_F_GUEST_CSUM))) {
        if (net_csum_complete(d + NET_HDR_LEN, flen, h.csum_start, h.csum_offset)) {
            peer_link_tx_commit(p->link, 0);
            p->st.bad_header++;
            return false;
        }
        p->st.sw_csum++;
        h.flags = 0;
        h.csum_start = h.csum_offset = 0;
    }
    h.num_buffers = 0;
    net_hdr_store(&h, d);
    peer_link_tx_commit(p->link, n);
    p->st.guest_frames++;
    p->st.guest_bytes += flen;
    return true;
}

/* Up to NP_BATCH frames from the TAP; returns how many were taken. */
static unsigned from_tap(struct np *np, struct np_peer *p)
{
    unsigned k;
    bool sent = false;
    for (k = 0; k < NP_BATCH; k++) {
        if (!peer_link_up(p->link)) {
            if (read(p->tap, np->scratch, PEER_LINK_MAX_FRAME) < 0)
                break;
            p->st.drop_link_down++;
            continue;
        }
        uint8_t *d = peer_link_tx_reserve(p->link, PEER_LINK_MAX_FRAME);
        if (!d && !peer_link_tx_want_space(p->link, PEER_LINK_MAX_FRAME)) {
            p->waiting_space = true; /* tx_space_fd says when */
            np_tap_events(p, false);
            break;
        }
        if (!d && !(d = peer_link_tx_reserve(p->link, PEER_LINK_MAX_FRAME)))
            break;
        ssize_t n = read(p->tap, d, PEER_LINK_MAX_FRAME);
        if (n < 0) {
            int e = errno;
            peer_link_tx_commit(p->link, 0);
            if (e != EAGAIN && e != EINTR) {
                p->st.tap_errors++;
                if (log_allowed(p))
                    np_log(p, "reading the tap: %s", strerror(e));
            }
            break;
        }
        if ((size_t)n < NET_HDR_LEN + ETH_HLEN) {
            peer_link_tx_commit(p->link, 0);
            p->st.bad_header++;
            continue;
        }
        sent |= publish(np, p, d, (size_t)n);
    }
    if (sent)
        peer_link_tx_flush(p->link);
    return k;
}

/* Services one peer; true when there is more to do at once. */
bool np_pump(struct np *np, struct np_peer *p)
{
    peer_link_service(p->link);
    bool handed = peer_link_tap_taken(p->link);
    if (handed != p->handed) {
        /* the NIC reads the TAP and sets its offloads now, until the link goes down */
        p->handed = handed;
        p->offload_valid = false;
        np_tap_events(p, !handed && !p->waiting_space);
        np_log(p, handed ? "the guest's NIC took the TAP: its frames bypass this process"
                         : "the TAP is back here");
    }
    if (!handed)
        sync_offload(p);
    bool busy = false;
    unsigned k = 0;
    size_t len;
    const uint8_t *f;
    while (k < NP_BATCH && (f = peer_link_rx_peek(p->link, &len))) {
        to_tap(p, f, len);
        peer_link_rx_release(p->link);
        k++;
    }
    busy |= k == NP_BATCH;
    if (!p->waiting_space && !p->handed) /* handed: what the ring still brings goes out above */
        busy |= from_tap(np, p) == NP_BATCH;
    if (!busy && peer_link_up(p->link) && peer_link_rx_sleep(p->link))
        busy = true;
    return busy;
}
