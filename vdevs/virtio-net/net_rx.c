/* Receive: frames from the backend (our peer-link ring, or a TAP) -> guest rx buffers.
 *
 * The peer process is not trusted: every length and offset read from the ring is checked,
 * and the header is read once into local memory before use. A frame in a form the guest
 * did not negotiate is converted (checksum completed) or dropped (GSO; the sender
 * converts according to our features, and the TAP backend segments what it read across a
 * feature change, so this only happens across a feature change on a peer link).
 *
 * With VIRTIO_NET_F_MRG_RXBUF a frame spreads over as many chains as it needs and
 * num_buffers says how many; without it, one chain per frame. When the guest has not
 * posted enough buffers the chains go back, the frame stays in the ring and the thread
 * waits for an rx kick.
 *
 * With several queue pairs each frame goes to the rx queue net_mq_rx_pair picks (automatic
 * steering or RSS); the backend is one queue, so a frame whose queue has no buffers holds up
 * the ones behind it, as on a single queue.
 */
#include <string.h>

#include "net.h"
#include "net_backend.h"
#include "netpeer/net_mac.h"
#include "netpeer/net_offload.h"
#include "netpeer/peer_link.h"

enum rx_result { RX_DONE, RX_DROPPED, RX_NO_BUFFERS, RX_FAILED };

static bool in_table(const uint8_t (*t)[6], unsigned n, const uint8_t *mac)
{
    for (unsigned i = 0; i < n; i++)
        if (!memcmp(t[i], mac, 6))
            return true;
    return false;
}

bool net_filter_accepts(struct net *n, const uint8_t dest[6])
{
    const struct net_filter *f = &n->filter;
    if (f->promisc)
        return true;
    if (net_mac_is_broadcast(dest))
        return !f->nobcast;
    if (net_mac_is_multicast(dest)) {
        if (f->nomulti)
            return false;
        return f->allmulti || f->multi_overflow || in_table(f->multi, f->n_multi, dest);
    }
    if (f->nouni)
        return false;
    if (f->alluni || f->uni_overflow)
        return true;
    uint8_t mac[6];
    net_get_mac(n, mac);
    return !memcmp(mac, dest, 6) || in_table(f->uni, f->n_uni, dest);
}

/* Checks the peer's header against what our guest negotiated; on success `h` is the header
 * the guest gets and *csum says the checksum must be completed here. NULL = fine. */
static const char *rx_check_hdr(const struct net *n, struct net_hdr *h, size_t flen, bool *csum)
{
    *csum = false;
    if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        if (h->csum_start >= flen || (size_t)h->csum_start + h->csum_offset + 2 > flen)
            return "checksum offsets outside the frame";
        if (!net_has(n, VIRTIO_NET_F_GUEST_CSUM))
            *csum = true;
    }
    unsigned type = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
    if (type != VIRTIO_NET_HDR_GSO_NONE) {
        if ((type == VIRTIO_NET_HDR_GSO_TCPV4 && !net_has(n, VIRTIO_NET_F_GUEST_TSO4)) ||
            (type == VIRTIO_NET_HDR_GSO_TCPV6 && !net_has(n, VIRTIO_NET_F_GUEST_TSO6)) ||
            (type != VIRTIO_NET_HDR_GSO_TCPV4 && type != VIRTIO_NET_HDR_GSO_TCPV6) ||
            ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !net_has(n, VIRTIO_NET_F_GUEST_ECN)))
            return "GSO type the guest did not negotiate";
        if (h->gso_size == 0)
            return "GSO frame with gso_size 0";
    } else if (flen > NET_MAX_FRAME) {
        return "frame too long";
    }
    uint8_t keep = net_has(n, VIRTIO_NET_F_GUEST_CSUM)
                       ? VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID
                       : 0;
    h->flags &= keep;
    if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !*csum)
        h->csum_start = h->csum_offset = 0; /* with *csum the caller needs them once more */
    if (type == VIRTIO_NET_HDR_GSO_NONE)
        h->gso_type = 0, h->gso_size = 0, h->hdr_len = 0;
    return NULL;
}

/* Without mergeable buffers: one chain holds header and frame. */
static enum rx_result rx_single(struct net *n, struct vdev_virtq *q, const uint8_t *frame,
                                size_t flen, struct net_hdr *h)
{
    struct vdev_virtq_elem *e = n->rx_elem;
    int r = vdev_virtq_pop(q, e);
    if (r < 0) {
        net_driver_error(n);
        return RX_FAILED;
    }
    if (r == 0)
        return RX_NO_BUFFERS;
    if (e->in_len < NET_HDR_LEN + flen) {
        vdev_virtq_unpop(q, 1); /* the buffer stays for a frame that fits */
        net_count(&n->st.drop_too_big, 1);
        return RX_DROPPED;
    }
    const struct iovec *in = e->iov + e->nout;
    h->num_buffers = 1;
    uint8_t raw[NET_HDR_LEN];
    net_hdr_store(h, raw);
    net_iov_write(in, e->nin, 0, raw, NET_HDR_LEN);
    net_iov_write(in, e->nin, NET_HDR_LEN, frame, flen);
    vdev_virtq_push(q, e->head, (uint32_t)(NET_HDR_LEN + flen));
    return RX_DONE;
}

/* Mergeable buffers: fill chains in turn; the first one starts with the header, written
 * last once num_buffers is known. When the guest runs out of chains midway, the ones
 * filled so far stay popped ("held") and the frame stays in the ring: the guest is then
 * asked to kick for chains after them, and the next attempt continues where this one
 * stopped. Putting them back instead would leave the kick request behind chains that
 * already exist, and an event-index driver would never kick. */
static enum rx_result rx_merge(struct net *n, struct vdev_virtq *q, unsigned vq,
                               const uint8_t *frame, size_t flen, struct net_hdr *h)
{
    size_t total = NET_HDR_LEN + flen, off = 0;
    unsigned count = 0, qsize = vdev_virtq_size(q);
    if (n->rx_held) {
        struct vdev_virtq *hq = vdev_virtio_queue(n->vio, n->rx_held_vq);
        if (!n->rx_held_stale && n->rx_held_len == flen && hq == q) {
            count = n->rx_held;
            off = n->rx_held_off;
        } else if (hq) {
            vdev_virtq_unpop(hq, n->rx_held); /* another frame, or steered elsewhere now */
        }
        n->rx_held = 0;
    }
    while (off < total) {
        struct vdev_virtq_elem *e = count ? n->elem2 : n->rx_elem;
        if (count == qsize || count == VDEV_VIRTQ_MAX_SIZE) {
            /* every buffer the queue can hold is not enough: it never fits */
            vdev_virtq_unpop(q, count);
            net_count(&n->st.drop_too_big, 1);
            return RX_DROPPED;
        }
        int r = vdev_virtq_pop(q, e);
        if (r < 0) {
            net_driver_error(n);
            return RX_FAILED;
        }
        if (r == 0) {
            n->rx_held = count;
            n->rx_held_vq = vq;
            n->rx_held_off = off;
            n->rx_held_len = flen;
            n->rx_held_stale = false;
            return RX_NO_BUFFERS;
        }
        if (e->in_len < (count ? 1 : NET_HDR_LEN)) {
            net_driver_error(n);
            vdev_virtio_fail(n->vio, "rx buffer of %zu bytes cannot hold a frame", e->in_len);
            return RX_FAILED;
        }
        const struct iovec *in = e->iov + e->nout;
        size_t room = e->in_len < total - off ? e->in_len : total - off;
        size_t skip = count ? 0 : NET_HDR_LEN; /* the header goes in last */
        net_iov_write(in, e->nin, skip, frame + off + skip - NET_HDR_LEN, room - skip);
        n->rx_heads[count] = e->head;
        n->rx_lens[count] = (uint32_t)room;
        off += room;
        count++;
    }
    h->num_buffers = (uint16_t)count;
    uint8_t raw[NET_HDR_LEN];
    net_hdr_store(h, raw);
    /* rx_elem still describes the first chain (later ones went to elem2) */
    net_iov_write(n->rx_elem->iov + n->rx_elem->nout, n->rx_elem->nin, 0, raw, NET_HDR_LEN);
    vdev_virtq_push_n(q, n->rx_heads, n->rx_lens, count);
    return RX_DONE;
}

/* Chains held for a frame that is not delivered after all go back to their queue. */
static void rx_unhold(struct net *n)
{
    struct vdev_virtq *q = vdev_virtio_queue(n->vio, n->rx_held_vq);
    if (n->rx_held && q)
        vdev_virtq_unpop(q, n->rx_held);
    n->rx_held = 0;
}

/* Checks, filters and delivers one record; *vq is the rx queue it went to (or waits for). */
static enum rx_result rx_convert_deliver(struct net *n, const uint8_t *p, size_t len, unsigned *vq)
{
    if (len < NET_HDR_LEN + ETH_HLEN || len > PEER_LINK_MAX_FRAME) {
        net_count(&n->st.drop_bad_header, 1);
        net_log_limited(n, "rx: %zu-byte record from the peer dropped", len);
        return RX_DROPPED;
    }
    struct net_hdr h;
    net_hdr_load(&h, p);
    const uint8_t *frame = p + NET_HDR_LEN;
    size_t flen = len - NET_HDR_LEN;
    uint8_t dest[6];
    memcpy(dest, frame, 6);
    if (!net_filter_accepts(n, dest)) {
        net_count(&n->st.drop_filtered, 1);
        return RX_DROPPED;
    }
    bool csum;
    const char *why = rx_check_hdr(n, &h, flen, &csum);
    if (why) {
        net_count(&n->st.drop_bad_header, 1);
        net_log_limited(n, "rx: frame from the peer dropped: %s", why);
        return RX_DROPPED;
    }
    if (csum) {
        /* our ring is shared with the peer: convert a private copy */
        memcpy(n->scratch, frame, flen);
        net_csum_complete(n->scratch, flen, h.csum_start, h.csum_offset);
        frame = n->scratch;
        h.flags = 0;
        h.csum_start = h.csum_offset = 0;
    }
    *vq = 2 * net_mq_rx_pair(n, frame, flen);
    struct vdev_virtq *q = vdev_virtio_queue(n->vio, *vq);
    if (!q)
        return RX_NO_BUFFERS; /* not reached: pairs are checked where they are set */
    enum rx_result r = net_has(n, VIRTIO_NET_F_MRG_RXBUF) ? rx_merge(n, q, *vq, frame, flen, &h)
                                                          : rx_single(n, q, frame, flen, &h);
    if (r == RX_DONE) {
        net_capture(n, frame, flen);
        if (csum)
            net_count(&n->st.sw_csum, 1);
        net_count(&n->st.rx_frames, 1);
        net_count(&n->st.rx_bytes, flen);
    }
    return r;
}

static enum rx_result rx_one(struct net *n, const uint8_t *p, size_t len, unsigned *vq)
{
    enum rx_result r = rx_convert_deliver(n, p, len, vq);
    if (r != RX_NO_BUFFERS)
        rx_unhold(n); /* dropped before reaching rx_merge: nothing held any more */
    return r;
}

bool net_rx_process(struct net *n)
{
    unsigned frames = 0;
    unsigned delivered[NET_MAX_PAIRS] = {0};
    while (frames < NET_BATCH) {
        size_t len;
        const uint8_t *p = n->be->rx_peek(n, &len);
        if (!p) {
            rx_unhold(n); /* the link went down under a held frame */
            break;
        }
        unsigned vq = 0;
        enum rx_result r = rx_one(n, p, len, &vq);
        if (r == RX_NO_BUFFERS) {
            n->rx_wait_buffers = true; /* the frame stays in the ring */
            n->rx_wait_vq = vq;
            break;
        }
        n->be->rx_release(n);
        if (r == RX_FAILED)
            break;
        frames++;
        if (r == RX_DONE)
            delivered[vq / 2]++;
        if (!net_live(n))
            break;
    }
    for (unsigned pair = 0; pair < n->pairs && net_live(n); pair++)
        if (delivered[pair]) {
            net_count(&n->st.q_frames[2 * pair], delivered[pair]);
            net_coal_used(n, 2 * pair, delivered[pair]);
        }
    if (n->rx_wait_buffers && net_live(n))
        net_coal_flush(n, n->rx_wait_vq); /* the guest refills only once it sees what was used */
    return frames > 0;
}

bool net_rx_discard(struct net *n)
{
    size_t len;
    for (unsigned i = 0; i < NET_BATCH; i++) {
        if (!n->be->rx_peek(n, &len))
            return false;
        n->be->rx_release(n);
        net_count(&n->st.drop_no_buffers, 1);
    }
    return true;
}
