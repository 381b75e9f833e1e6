/* Interrupt moderation (VIRTIO_NET_F_NOTF_COAL, virtio 1.3 §5.1.6.5.6): after frames are
 * used on the receive or transmit queue the notification may wait until `frames` were used
 * or `usecs` passed since the first of them, so that a busy guest takes one interrupt per
 * batch rather than one per burst of the data thread.
 *
 * Parameters: what the driver set with VIRTIO_NET_CTRL_NOTF_COAL since its last reset, else
 * the device's defaults from the options (`coalesce-rx-us` ...), which the spec's "the device
 * MAY generate notifications more or less frequently" allows for a driver that set none.
 * With `coalesce-adaptive` the defaults hold only while frames keep coming: a frame on a
 * queue whose last notification is older than `usecs` is notified at once.
 *
 * Holding only delays the call to vdev_virtq_notify: it still honours the driver's
 * suppression (used_event crossed anywhere in the held range, NO_INTERRUPT), so EVENT_IDX
 * stays right; at most NET_COAL_MAX_FRAMES frames are held so the 16-bit crossing test
 * cannot wrap. */
#include <string.h>

#include "net.h"

void net_notify(struct net *n, unsigned q)
{
    struct vdev_virtq *vq = vdev_virtio_queue(n->vio, q);
    unsigned i = net_stat_index(n, q);
    if (vq && vdev_virtq_notify_ext(vq, 0) == 1 && i < NET_MAX_VQS)
        net_count(&n->st.irqs[i], 1);
}

/* Parameters are per direction (TX_SET, RX_SET): a data queue's direction is vq & 1. */
static struct net_coal_params params(const struct net *n, unsigned q, bool *adaptive)
{
    const struct net_coal *c = &n->coal;
    unsigned dir = q & 1u;
    *adaptive = !c->driver_set[dir] && c->adaptive;
    return c->driver_set[dir] ? c->set[dir] : c->def[dir];
}

static bool active(struct net_coal_params p)
{
    return p.usecs && p.frames > 1;
}

static uint32_t frame_limit(struct net_coal_params p)
{
    return p.frames < NET_COAL_MAX_FRAMES ? p.frames : NET_COAL_MAX_FRAMES;
}

static void fire(struct net *n, unsigned q, uint64_t now)
{
    n->coal.held[q] = 0;
    n->coal.last_ns[q] = now;
    net_notify(n, q);
}

void net_coal_reset(struct net *n)
{
    struct net_coal *c = &n->coal;
    memset(c->driver_set, 0, sizeof(c->driver_set));
    memset(c->set, 0, sizeof(c->set));
    memset(c->held, 0, sizeof(c->held));
    memset(c->last_ns, 0, sizeof(c->last_ns));
}

/* Held frames under (possibly new) parameters: notify when they are met already. */
static void check(struct net *n, unsigned q, uint64_t now)
{
    struct net_coal *c = &n->coal;
    bool adaptive;
    struct net_coal_params p = params(n, q, &adaptive);
    if (!c->held[q])
        return;
    if (!active(p) || c->held[q] >= frame_limit(p)) {
        fire(n, q, now);
        return;
    }
    uint64_t span = (uint64_t)p.usecs * 1000u;
    c->due_ns[q] = (adaptive ? c->last_ns[q] : c->first_ns[q]) + span;
    if (now >= c->due_ns[q])
        fire(n, q, now);
}

void net_coal_used(struct net *n, unsigned q, unsigned frames)
{
    struct net_coal *c = &n->coal;
    bool adaptive;
    struct net_coal_params p = params(n, q, &adaptive);
    if (!active(p)) {
        c->held[q] = 0;
        net_notify(n, q); /* the common case: no clock read */
        return;
    }
    uint64_t now = n->now_ns();
    if (!c->held[q]) {
        if (adaptive && now - c->last_ns[q] >= (uint64_t)p.usecs * 1000u) {
            fire(n, q, now); /* a quiet queue: this frame is not delayed */
            return;
        }
        c->first_ns[q] = now;
    }
    c->held[q] += frames < NET_COAL_MAX_FRAMES ? frames : NET_COAL_MAX_FRAMES;
    check(n, q, now);
    if (c->held[q])
        net_count(&n->st.held[q], 1);
}

void net_coal_flush(struct net *n, unsigned q)
{
    if (n->coal.held[q])
        fire(n, q, n->now_ns());
}

uint64_t net_coal_due(const struct net *n)
{
    uint64_t due = UINT64_MAX;
    for (unsigned q = 0; q < 2u * n->pairs; q++)
        if (n->coal.held[q] && n->coal.due_ns[q] < due)
            due = n->coal.due_ns[q];
    return due;
}

uint64_t net_coal_tick(struct net *n)
{
    if (net_coal_due(n) == UINT64_MAX)
        return UINT64_MAX;
    uint64_t now = n->now_ns();
    for (unsigned q = 0; q < 2u * n->pairs; q++)
        if (n->coal.held[q] && now >= n->coal.due_ns[q])
            fire(n, q, now);
    return net_coal_due(n);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint8_t net_coal_command(struct net *n, uint8_t cmd, const uint8_t *data, size_t len)
{
    if (!net_has(n, VIRTIO_NET_F_NOTF_COAL) || len != VIRTIO_NET_CTRL_COAL_LEN)
        return VIRTIO_NET_ERR;
    unsigned dir;
    if (cmd == VIRTIO_NET_CTRL_NOTF_COAL_TX_SET)
        dir = NET_Q_TX;
    else if (cmd == VIRTIO_NET_CTRL_NOTF_COAL_RX_SET)
        dir = NET_Q_RX;
    else
        return VIRTIO_NET_ERR; /* VQ_SET/VQ_GET need VIRTIO_NET_F_VQ_NOTF_COAL, not offered */
    struct net_coal_params p = {.frames = le32(data), .usecs = le32(data + 4)};
    if (p.usecs > NET_COAL_GUEST_MAX_US)
        return VIRTIO_NET_ERR;
    n->coal.set[dir] = p;
    n->coal.driver_set[dir] = true;
    uint64_t now = n->now_ns();
    for (unsigned q = dir; q < 2u * n->pairs; q += 2)
        check(n, q, now); /* new conditions may be met already (§5.1.6.5.6.4) */
    return VIRTIO_NET_OK;
}
