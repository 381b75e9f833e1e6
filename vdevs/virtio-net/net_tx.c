/* Transmit: guest tx chains -> the peer's ring, one copy.
 *
 * Each chain is a virtio_net_hdr and a frame. The header is checked against what the
 * driver negotiated; a bad one drops the frame (counted). The frame then goes to the peer
 * as it is when the peer's guest can take it, else converted here: GSO frames the peer
 * cannot receive are segmented, NEEDS_CSUM frames get their checksum completed.
 *
 * Flow control: a full peer ring leaves the chain in the queue and the thread waits for
 * room (the guest's TCP sees back-pressure, not loss). If the ring stays full for
 * NET_TX_STALL_MS (a stuck peer) frames are dropped and counted until it takes one again,
 * so a dead peer never wedges the guest's transmit queue. A link that is down drops at
 * once.
 */
#include <string.h>

#include "net.h"
#include "net_offload.h"
#include "peer_link.h"

enum tx_result { TX_SENT, TX_DROPPED, TX_BLOCKED, TX_FAILED };

static bool tso_type_ok(unsigned type)
{
    return type == VIRTIO_NET_HDR_GSO_TCPV4 || type == VIRTIO_NET_HDR_GSO_TCPV6;
}

/* Checks a transmit header against the negotiated features (virtio 1.2 §5.1.6.2.1). */
static const char *tx_check_hdr(const struct net *n, const struct net_hdr *h, size_t frame_len)
{
    if (h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
        return "unknown flags";
    if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        if (!net_has(n, VIRTIO_NET_F_CSUM))
            return "NEEDS_CSUM without VIRTIO_NET_F_CSUM";
        if (h->csum_start >= frame_len || (size_t)h->csum_start + h->csum_offset + 2 > frame_len)
            return "checksum offsets outside the frame";
    }
    unsigned type = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
    if (type == VIRTIO_NET_HDR_GSO_NONE) {
        if (h->gso_type & VIRTIO_NET_HDR_GSO_ECN)
            return "ECN bit without a GSO type";
        return NULL;
    }
    if (!tso_type_ok(type))
        return "unsupported GSO type";
    if (type == VIRTIO_NET_HDR_GSO_TCPV4 && !net_has(n, VIRTIO_NET_F_HOST_TSO4))
        return "TCPV4 GSO without VIRTIO_NET_F_HOST_TSO4";
    if (type == VIRTIO_NET_HDR_GSO_TCPV6 && !net_has(n, VIRTIO_NET_F_HOST_TSO6))
        return "TCPV6 GSO without VIRTIO_NET_F_HOST_TSO6";
    if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !net_has(n, VIRTIO_NET_F_HOST_ECN))
        return "GSO ECN without VIRTIO_NET_F_HOST_ECN";
    if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
        return "GSO frame without NEEDS_CSUM";
    if (h->gso_size == 0)
        return "GSO frame with gso_size 0";
    return NULL;
}

/* Can the peer's guest receive this GSO frame as it is? */
static bool peer_takes_gso(uint64_t pf, unsigned gso_type)
{
    unsigned type = gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
    if (!(pf & NET_BIT(VIRTIO_NET_F_GUEST_CSUM)))
        return false;
    if (type == VIRTIO_NET_HDR_GSO_TCPV4 && !(pf & NET_BIT(VIRTIO_NET_F_GUEST_TSO4)))
        return false;
    if (type == VIRTIO_NET_HDR_GSO_TCPV6 && !(pf & NET_BIT(VIRTIO_NET_F_GUEST_TSO6)))
        return false;
    if ((gso_type & VIRTIO_NET_HDR_GSO_ECN) && !(pf & NET_BIT(VIRTIO_NET_F_GUEST_ECN)))
        return false;
    return true;
}

static void count_sent(struct net *n, size_t frame_len)
{
    net_count(&n->st.tx_frames, 1);
    net_count(&n->st.tx_bytes, frame_len);
}

/* Nothing reserved: the link went down, or the ring is full. */
static enum tx_result tx_no_room(struct net *n, size_t len, bool may_block)
{
    if (!peer_link_up(n->link)) {
        net_count(&n->st.drop_link_down, 1);
        return TX_DROPPED;
    }
    if (!may_block || n->tx_dropping) {
        net_count(&n->st.drop_ring_full, 1);
        return TX_DROPPED;
    }
    if (peer_link_tx_want_space(n->link, len))
        return TX_BLOCKED; /* room appeared already: the retry succeeds at once */
    n->tx_blocked = true;
    n->tx_blocked_ms = net_now_ms();
    return TX_BLOCKED;
}

/* Software TSO: every segment straight from the guest's buffers into the ring. A ring
 * that fills after the first segment drops the rest (counted); TCP recovers. */
static enum tx_result tx_segment(struct net *n, const struct net_hdr *h, const struct net_src *src)
{
    uint8_t hdrs[NET_TSO_MAX_HDR];
    size_t hl = net_src_read(src, 0, hdrs, sizeof(hdrs));
    struct net_tso t;
    const char *why;
    if (net_tso_prepare(&t, hdrs, hl, src->len, h->gso_type, h->gso_size, &why)) {
        net_count(&n->st.drop_bad_header, 1);
        net_log_limited(n, "tx: GSO frame dropped: %s", why);
        return TX_DROPPED;
    }
    size_t max = NET_HDR_LEN + t.hdr_len + t.mss;
    for (unsigned i = 0; i < t.nsegs; i++) {
        uint8_t *p = peer_link_tx_reserve(n->link, max);
        if (!p) {
            if (i == 0)
                return tx_no_room(n, max, true);
            net_count(!peer_link_up(n->link) ? &n->st.drop_link_down : &n->st.drop_ring_full,
                      t.nsegs - i);
            break;
        }
        struct net_hdr out = {0};
        net_hdr_store(&out, p);
        size_t sl = net_tso_segment(&t, hdrs, src, i, p + NET_HDR_LEN);
        net_capture(n, p + NET_HDR_LEN, sl);
        peer_link_tx_commit(n->link, NET_HDR_LEN + sl);
        count_sent(n, sl);
        net_count(&n->st.sw_gso_segments, 1);
    }
    net_count(&n->st.sw_gso_frames, 1);
    n->tx_dropping = false;
    return TX_SENT;
}

static enum tx_result tx_one(struct net *n, struct vdev_virtq_elem *e)
{
    if (e->out_len < NET_HDR_LEN) {
        net_driver_error(n);
        vdev_virtio_fail(n->vio, "tx chain of %zu bytes is shorter than the virtio-net header",
                         e->out_len);
        return TX_FAILED;
    }
    struct net_src src = {.iov = e->iov, .niov = e->nout, .skip = 0, .len = e->out_len};
    uint8_t raw[NET_HDR_LEN];
    net_src_read(&src, 0, raw, NET_HDR_LEN);
    struct net_hdr h;
    net_hdr_load(&h, raw);
    src.skip = NET_HDR_LEN;
    src.len = e->out_len - NET_HDR_LEN;

    const char *why = NULL;
    if (src.len < ETH_HLEN)
        why = "frame shorter than an Ethernet header";
    else if (src.len > NET_MAX_FRAME) {
        net_count(&n->st.drop_too_big, 1);
        net_log_limited(n, "tx: %zu-byte frame dropped (the limit is %u)", src.len, NET_MAX_FRAME);
        return TX_DROPPED;
    } else
        why = tx_check_hdr(n, &h, src.len);
    if (why) {
        net_count(&n->st.drop_bad_header, 1);
        net_log_limited(n, "tx: frame dropped: %s", why);
        return TX_DROPPED;
    }
    if (!n->link || !peer_link_up(n->link)) {
        net_count(&n->st.drop_link_down, 1);
        return TX_DROPPED;
    }

    uint64_t pf = peer_link_peer_features(n->link) & n->peerfeats;
    if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE && !peer_takes_gso(pf, h.gso_type))
        return tx_segment(n, &h, &src);
    bool do_csum =
        (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !(pf & NET_BIT(VIRTIO_NET_F_GUEST_CSUM));

    size_t len = NET_HDR_LEN + src.len;
    uint8_t *p = peer_link_tx_reserve(n->link, len);
    if (!p)
        return tx_no_room(n, len, true);
    net_src_read(&src, 0, p + NET_HDR_LEN, src.len);
    if (do_csum) {
        net_csum_complete(p + NET_HDR_LEN, src.len, h.csum_start, h.csum_offset);
        net_count(&n->st.sw_csum, 1);
        h.flags = 0;
        h.csum_start = h.csum_offset = 0;
    }
    h.num_buffers = 0;
    net_hdr_store(&h, p);
    net_capture(n, p + NET_HDR_LEN, src.len);
    peer_link_tx_commit(n->link, len);
    count_sent(n, src.len);
    n->tx_dropping = false;
    return TX_SENT;
}

bool net_tx_process(struct net *n)
{
    struct vdev_virtq *q = vdev_virtio_queue(n->vio, NET_Q_TX);
    if (!q || n->tx_blocked)
        return false;
    unsigned done = 0, sent = 0;
    bool failed = false;
    while (done < NET_BATCH) {
        int r = vdev_virtq_pop(q, n->elem);
        if (r < 0) {
            net_driver_error(n);
            failed = true;
            break;
        }
        if (r == 0)
            break;
        enum tx_result res = tx_one(n, n->elem);
        if (res == TX_BLOCKED) {
            vdev_virtq_unpop(q, 1);
            break;
        }
        if (res == TX_FAILED) {
            failed = true;
            break;
        }
        n->heads[done] = n->elem->head;
        n->lens[done] = 0;
        done++;
        sent += res == TX_SENT;
    }
    if (sent)
        peer_link_tx_flush(n->link);
    if (done && !failed && net_live(n)) {
        vdev_virtq_push_n(q, n->heads, n->lens, done);
        vdev_virtq_notify(q);
    }
    return done > 0;
}
