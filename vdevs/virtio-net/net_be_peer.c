/* The peer-link backend: guest tx frames go into the peer's ring (one copy), converted
 * here when the peer's guest cannot take them (GSO segmented, NEEDS_CSUM completed); rx
 * frames are read from our ring in place. With no `peer` (n->link NULL) it is the empty
 * wire: sends drop as link-down, nothing arrives.
 *
 * Flow control: a full peer ring leaves the chain in the queue and the thread waits for
 * room (the guest's TCP sees back-pressure, not loss). If the ring stays full for
 * NET_TX_STALL_MS (a stuck peer) frames are dropped and counted until it takes one again,
 * so a dead peer never wedges the guest's transmit queue. A link that is down drops at
 * once.
 *
 * A host peer (`vdevkit net-peer`) hands its TAP over when the link comes up: then frames go
 * through the TAP with net_be_tap's calls, one hop and one copy fewer, until the link goes
 * down (what the rings still hold is delivered first). The link's state stays the peer
 * link's; the host peer keeps the interface and its carrier. */
#include <stdio.h>
#include <string.h>

#include "net.h"
#include "net_backend.h"
#include "netpeer/peer_link.h"

static void count_sent(struct net *n, size_t frame_len)
{
    net_count(&n->st.tx_frames, 1);
    net_count(&n->st.tx_bytes, frame_len);
}

/* Nothing reserved: the link went down, or the ring is full. */
static enum net_tx_result tx_no_room(struct net *n, size_t len)
{
    if (!peer_link_up(n->link)) {
        net_count(&n->st.drop_link_down, 1);
        return NET_TX_DROPPED;
    }
    if (len > PEER_LINK_MAX_FRAME) {
        /* no ring will ever take it: waiting for room would stall tx for nothing */
        net_count(&n->st.drop_too_big, 1);
        return NET_TX_DROPPED;
    }
    if (n->tx_dropping) {
        net_count(&n->st.drop_ring_full, 1);
        return NET_TX_DROPPED;
    }
    if (peer_link_tx_want_space(n->link, len))
        return NET_TX_BLOCKED; /* room appeared already: the retry succeeds at once */
    n->tx_blocked = true;
    n->tx_blocked_ms = net_now_ms();
    return NET_TX_BLOCKED;
}

/* Software TSO: every segment straight from the guest's buffers into the ring. A ring
 * that fills after the first segment drops the rest (counted); TCP recovers. */
static enum net_tx_result tx_segment(struct net *n, const struct net_hdr *h,
                                     const struct net_src *src)
{
    uint8_t hdrs[NET_TSO_MAX_HDR];
    size_t hl = net_src_read(src, 0, hdrs, sizeof(hdrs));
    struct net_tso t;
    const char *why;
    if (net_tso_prepare(&t, hdrs, hl, src->len, h->gso_type, h->gso_size, &why)) {
        net_count(&n->st.drop_bad_header, 1);
        net_log_limited(n, "tx: GSO frame dropped: %s", why);
        return NET_TX_DROPPED;
    }
    for (unsigned i = 0; i < t.nsegs; i++) {
        /* Exactly this segment's length: hdr_len + mss may exceed any record (a VLAN tag
         * lets gso_size reach 65495), a segment never exceeds the frame, which fits. */
        size_t len = NET_HDR_LEN + net_tso_seg_len(&t, i);
        uint8_t *p = peer_link_tx_reserve(n->link, len);
        if (!p) {
            if (i == 0)
                return tx_no_room(n, len);
            net_count(!peer_link_up(n->link) ? &n->st.drop_link_down : &n->st.drop_ring_full,
                      t.nsegs - i);
            break;
        }
        struct net_hdr out = {0};
        net_hdr_store(&out, p);
        size_t sl = net_tso_segment(&t, hdrs, src, i, p + NET_HDR_LEN);
        net_capture(n, p + NET_HDR_LEN, sl);
        peer_link_tx_commit(n->link, NET_HDR_LEN + sl);
        n->ring_sent = true;
        count_sent(n, sl);
        net_count(&n->st.sw_gso_segments, 1);
    }
    net_count(&n->st.sw_gso_frames, 1);
    n->tx_dropping = false;
    return NET_TX_SENT;
}

static bool handed(const struct net *n)
{
    return net_tap_ready(n);
}

static enum net_tx_result peer_tx(struct net *n, struct net_hdr *h, const struct net_src *src)
{
    if (handed(n) && peer_link_up(n->link))
        return net_be_tap.tx(n, h, src);
    if (!n->link || !peer_link_up(n->link)) {
        net_count(&n->st.drop_link_down, 1);
        return NET_TX_DROPPED;
    }
    uint64_t pf = peer_link_peer_features(n->link) & n->peerfeats;
    if (h->gso_type != VIRTIO_NET_HDR_GSO_NONE && !net_guest_takes_gso(pf, h->gso_type))
        return tx_segment(n, h, src);
    bool do_csum =
        (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !(pf & NET_BIT(VIRTIO_NET_F_GUEST_CSUM));

    size_t len = NET_HDR_LEN + src->len;
    uint8_t *p = peer_link_tx_reserve(n->link, len);
    if (!p)
        return tx_no_room(n, len);
    net_src_read(src, 0, p + NET_HDR_LEN, src->len);
    if (do_csum) {
        net_csum_complete(p + NET_HDR_LEN, src->len, h->csum_start, h->csum_offset);
        net_count(&n->st.sw_csum, 1);
        h->flags = 0;
        h->csum_start = h->csum_offset = 0;
    }
    h->num_buffers = 0;
    net_hdr_store(h, p);
    net_capture(n, p + NET_HDR_LEN, src->len);
    peer_link_tx_commit(n->link, len);
    n->ring_sent = true;
    count_sent(n, src->len);
    n->tx_dropping = false;
    return NET_TX_SENT;
}

/* Only after frames went into the ring: a flush wakes the peer if it sleeps, which for a
 * host peer that handed its TAP over would be a wake-up per batch for nothing. */
static void peer_tx_flush(struct net *n)
{
    if (n->ring_sent)
        peer_link_tx_flush(n->link);
    n->ring_sent = false;
}

/* The frame peeked stays the next one until released, wherever it came from: the ring's
 * first (frames the host peer put there before it handed the TAP over), then the TAP's. */
static const uint8_t *peer_rx_peek(struct net *n, size_t *len)
{
    if (!n->link)
        return NULL;
    const uint8_t *f = NULL;
    if (n->rx_src != NET_RX_SRC_TAP && (f = peer_link_rx_peek(n->link, len))) {
        n->rx_src = NET_RX_SRC_RING;
        return f;
    }
    if (handed(n) && (f = net_be_tap.rx_peek(n, len)))
        n->rx_src = NET_RX_SRC_TAP;
    return f;
}

static void peer_rx_release(struct net *n)
{
    if (n->rx_src == NET_RX_SRC_TAP)
        net_be_tap.rx_release(n);
    else
        peer_link_rx_release(n->link);
    n->rx_src = NET_RX_SRC_NONE;
}

/* With a TAP handed over the host peer puts nothing in the ring any more (what it put there
 * before it heard we took the TAP is found by the next rx_peek): no sleep announcement, no
 * system call for it. */
static bool peer_rx_sleep(struct net *n)
{
    return n->link && !handed(n) && peer_link_rx_sleep(n->link);
}

static void peer_features_changed(struct net *n)
{
    if (n->link)
        peer_link_set_features(n->link, n->features);
    if (handed(n))
        net_be_tap.features_changed(n); /* TUNSETOFFLOAD: we read the TAP */
}

/* After the link's service: take a TAP the host peer offers once the link is up, give it
 * back (close it) when the link is down or the TAP failed. Data thread, without run_lock:
 * n->tap is the data thread's alone. */
static void follow_handover(struct net *n)
{
    if (n->tap && (!peer_link_up(n->link) || !net_tap_ready(n))) {
        net_tap_close(n);
        if (n->rx_src == NET_RX_SRC_TAP)
            n->rx_src = NET_RX_SRC_NONE;
        n->rx_held_stale = true; /* chains held for a TAP frame go back */
        pthread_mutex_lock(&n->cfg_lock);
        n->handed_tap[0] = 0;
        pthread_mutex_unlock(&n->cfg_lock);
    }
    char name[16];
    int fd;
    if (!n->tap && peer_link_up(n->link) && (fd = peer_link_take_tap(n->link, name)) >= 0 &&
        net_tap_adopt(n, fd, name) == 0) {
        pthread_mutex_lock(&n->cfg_lock);
        snprintf(n->handed_tap, sizeof(n->handed_tap), "%s", name);
        pthread_mutex_unlock(&n->cfg_lock);
    }
}

enum { PFD_LINK, PFD_RX, PFD_SPACE, PFD_TAP };

static int peer_poll_prepare(struct net *n, struct pollfd *fds)
{
    int timeout = -1;
    uint64_t now = net_now_ms();
    if (n->link) {
        timeout = peer_link_timeout_ms(n->link);
        n->link_due = timeout >= 0 ? now + (uint64_t)timeout : UINT64_MAX;
    }
    if (n->tx_blocked) {
        uint64_t end = n->tx_blocked_ms + NET_TX_STALL_MS;
        int left = end > now ? (int)(end - now) : 0;
        if (timeout < 0 || left < timeout)
            timeout = left;
    }
    fds[PFD_LINK] = (struct pollfd){.fd = n->link ? peer_link_fd(n->link) : -1, .events = POLLIN};
    fds[PFD_RX] = (struct pollfd){.fd = n->link && !handed(n) ? peer_link_rx_fd(n->link) : -1,
                                  .events = POLLIN};
    fds[PFD_SPACE] = (struct pollfd){
        .fd = n->link && n->tx_blocked ? peer_link_tx_space_fd(n->link) : -1, .events = POLLIN};
    fds[PFD_TAP] = (struct pollfd){.fd = handed(n) ? net_tap_poll_fd(n) : -1, .events = POLLIN};
    return timeout;
}

static void peer_poll_done(struct net *n, const struct pollfd *fds, int r)
{
    if (r > 0 && (fds[PFD_RX].revents & POLLIN))
        net_drain_fd(fds[PFD_RX].fd);
    if (r > 0 && (fds[PFD_SPACE].revents & POLLIN)) {
        net_drain_fd(fds[PFD_SPACE].fd);
        n->tx_blocked = false;
    }
    uint64_t now = net_now_ms();
    if (n->tx_blocked && now >= n->tx_blocked_ms + NET_TX_STALL_MS) {
        /* the peer stopped draining its ring: drop rather than wedge the guest */
        n->tx_blocked = false;
        n->tx_dropping = true;
    }
    if (n->link &&
        ((r > 0 && (fds[PFD_LINK].revents & (POLLIN | POLLERR | POLLHUP))) || now >= n->link_due)) {
        peer_link_service(n->link);
        struct peer_link_stats ls;
        peer_link_get_stats(n->link, &ls);
        atomic_store_explicit(&n->st.link_connects, ls.connects, memory_order_relaxed);
        atomic_store_explicit(&n->st.link_disconnects, ls.disconnects, memory_order_relaxed);
        atomic_store_explicit(&n->st.link_bad_records, ls.bad_frames, memory_order_relaxed);
    }
    if (r > 0 && fds[PFD_TAP].fd >= 0)
        net_tap_poll_done(n, fds[PFD_TAP].revents);
    if (n->link)
        follow_handover(n);
}

const struct net_backend net_be_peer = {
    .tx = peer_tx,
    .tx_flush = peer_tx_flush,
    .rx_peek = peer_rx_peek,
    .rx_release = peer_rx_release,
    .rx_sleep = peer_rx_sleep,
    .features_changed = peer_features_changed,
    .poll_prepare = peer_poll_prepare,
    .poll_done = peer_poll_done,
};
