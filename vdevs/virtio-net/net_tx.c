/* Transmit: guest tx chains -> the backend (the peer's ring, or a TAP).
 *
 * Each chain is a virtio_net_hdr and a frame. The header is checked against what the
 * driver negotiated; a bad one drops the frame (counted). The backend then sends it,
 * converting what its far end cannot take (net_be_peer.c), and may block tx when its
 * wire is full (flow control: net_be_peer.c).
 */
#include <string.h>

#include "net.h"
#include "net_backend.h"
#include "netpeer/net_offload.h"

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

static enum net_tx_result tx_one(struct net *n, struct vdev_virtq_elem *e, unsigned pair)
{
    if (e->out_len < NET_HDR_LEN) {
        net_driver_error(n);
        vdev_virtio_fail(n->vio, "tx chain of %zu bytes is shorter than the virtio-net header",
                         e->out_len);
        return NET_TX_FAILED;
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
        return NET_TX_DROPPED;
    } else
        why = tx_check_hdr(n, &h, src.len);
    if (why) {
        net_count(&n->st.drop_bad_header, 1);
        net_log_limited(n, "tx: frame dropped: %s", why);
        return NET_TX_DROPPED;
    }
    if (n->mq.active > 1) /* automatic steering learns the flow's queue */
        net_mq_note_tx(n, pair, &src);
    return n->be->tx(n, &h, &src);
}

/* Up to NET_BATCH chains of one pair's tx queue. */
static bool tx_queue(struct net *n, unsigned pair)
{
    unsigned vq = 2 * pair + 1;
    struct vdev_virtq *q = vdev_virtio_queue(n->vio, vq);
    if (!q)
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
        enum net_tx_result res = tx_one(n, n->elem, pair);
        if (res == NET_TX_BLOCKED) {
            vdev_virtq_unpop(q, 1);
            break;
        }
        if (res == NET_TX_FAILED) {
            failed = true;
            break;
        }
        n->heads[done] = n->elem->head;
        n->lens[done] = 0;
        done++;
        sent += res == NET_TX_SENT;
    }
    if (sent)
        n->be->tx_flush(n);
    if (done && !failed && net_live(n)) {
        vdev_virtq_push_n(q, n->heads, n->lens, done);
        net_count(&n->st.q_frames[vq], done);
        net_coal_used(n, vq, done);
    }
    return done > 0;
}

/* Every pair's tx queue, not only those in use: the spec lets the device take what a
 * driver queued anywhere. The first queue rotates, so none waits behind the others when
 * the backend blocks. */
bool net_tx_process(struct net *n)
{
    unsigned pairs = net_mq_pairs(n);
    bool progress = false;
    for (unsigned i = 0; i < pairs && !n->tx_blocked && net_live(n); i++)
        progress |= tx_queue(n, (n->tx_next + i) % pairs);
    n->tx_next = (n->tx_next + 1) % pairs;
    return progress;
}
