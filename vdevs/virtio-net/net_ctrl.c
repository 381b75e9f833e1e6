/* The control queue (virtio 1.2 §5.1.6.5): receive-filter modes, MAC tables, the MAC
 * address, notification coalescing (net_coal.c) and multiqueue (net_mq.c, net_rss.c). Each chain is
 * class, command, data (device-readable) then one ack byte. */
#include <string.h>

#include "net.h"
#include "netpeer/net_mac.h"
#include "netpeer/net_offload.h"

#define CTRL_MAX_CMD (2 + 2 * (4 + 6 * 1024)) /* a MAC_TABLE_SET with 1024 entries a list */

static uint8_t ctrl_rx(struct net *n, uint8_t cmd, const uint8_t *data, size_t len)
{
    if (!net_has(n, VIRTIO_NET_F_CTRL_RX) || len != 1)
        return VIRTIO_NET_ERR;
    if (cmd > VIRTIO_NET_CTRL_RX_ALLMULTI && !net_has(n, VIRTIO_NET_F_CTRL_RX_EXTRA))
        return VIRTIO_NET_ERR;
    bool on = data[0] != 0;
    struct net_filter *f = &n->filter;
    switch (cmd) {
    case VIRTIO_NET_CTRL_RX_PROMISC:
        f->promisc = on;
        break;
    case VIRTIO_NET_CTRL_RX_ALLMULTI:
        f->allmulti = on;
        break;
    case VIRTIO_NET_CTRL_RX_ALLUNI:
        f->alluni = on;
        break;
    case VIRTIO_NET_CTRL_RX_NOMULTI:
        f->nomulti = on;
        break;
    case VIRTIO_NET_CTRL_RX_NOUNI:
        f->nouni = on;
        break;
    case VIRTIO_NET_CTRL_RX_NOBCAST:
        f->nobcast = on;
        break;
    default:
        return VIRTIO_NET_ERR;
    }
    return VIRTIO_NET_OK;
}

/* One list of MAC_TABLE_SET: le32 count, then count MACs. Returns bytes used or 0. */
static size_t mac_list(const uint8_t *p, size_t len, uint8_t (*table)[6], unsigned *n,
                       bool *overflow)
{
    if (len < 4)
        return 0;
    uint32_t count =
        (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    if (count > (len - 4) / 6)
        return 0;
    *overflow = count > NET_MAC_TABLE;
    *n = *overflow ? 0 : count;
    if (!*overflow)
        memcpy(table, p + 4, (size_t)count * 6);
    return 4 + (size_t)count * 6;
}

static uint8_t ctrl_mac(struct net *n, uint8_t cmd, const uint8_t *data, size_t len)
{
    if (cmd == VIRTIO_NET_CTRL_MAC_ADDR_SET) {
        if (!net_has(n, VIRTIO_NET_F_CTRL_MAC_ADDR) || len != 6 || net_mac_is_multicast(data))
            return VIRTIO_NET_ERR;
        static const uint8_t zero[6];
        if (!memcmp(data, zero, 6))
            return VIRTIO_NET_ERR;
        net_set_mac(n, data);
        return VIRTIO_NET_OK;
    }
    if (cmd != VIRTIO_NET_CTRL_MAC_TABLE_SET || !net_has(n, VIRTIO_NET_F_CTRL_RX))
        return VIRTIO_NET_ERR;
    struct net_filter f = n->filter;
    size_t a = mac_list(data, len, f.uni, &f.n_uni, &f.uni_overflow);
    if (!a)
        return VIRTIO_NET_ERR;
    size_t b = mac_list(data + a, len - a, f.multi, &f.n_multi, &f.multi_overflow);
    if (!b || a + b != len)
        return VIRTIO_NET_ERR;
    n->filter = f;
    return VIRTIO_NET_OK;
}

static uint8_t ctrl_command(struct net *n, const uint8_t *cmd, size_t len)
{
    switch (cmd[0]) {
    case VIRTIO_NET_CTRL_RX:
        return ctrl_rx(n, cmd[1], cmd + 2, len - 2);
    case VIRTIO_NET_CTRL_MAC:
        return ctrl_mac(n, cmd[1], cmd + 2, len - 2);
    case VIRTIO_NET_CTRL_NOTF_COAL:
        return net_coal_command(n, cmd[1], cmd + 2, len - 2);
    case VIRTIO_NET_CTRL_MQ:
        return net_mq_command(n, cmd[1], cmd + 2, len - 2);
    default:
        return VIRTIO_NET_ERR;
    }
}

bool net_ctrl_process(struct net *n)
{
    unsigned vq = net_ctrl_vq(n);
    struct vdev_virtq *q = vdev_virtio_queue(n->vio, vq);
    if (!q || !net_has(n, VIRTIO_NET_F_CTRL_VQ))
        return false;
    unsigned done = 0;
    for (; done < NET_BATCH; done++) {
        struct vdev_virtq_elem *e = n->elem;
        int r = vdev_virtq_pop(q, e);
        if (r < 0)
            net_driver_error(n);
        if (r <= 0)
            break;
        if (e->out_len < 2 || e->in_len < 1) {
            net_driver_error(n);
            vdev_virtio_fail(n->vio, "control command of %zu+%zu bytes is malformed", e->out_len,
                             e->in_len);
            return true;
        }
        uint8_t ack = VIRTIO_NET_ERR;
        struct net_src src = {.iov = e->iov, .niov = e->nout, .skip = 0, .len = e->out_len};
        bool fits = e->out_len <= CTRL_MAX_CMD;
        net_src_read(&src, 0, n->scratch, fits ? e->out_len : 2);
        if (fits)
            ack = ctrl_command(n, n->scratch, e->out_len);
        if (ack != VIRTIO_NET_OK)
            net_log_limited(n, "control command class %u cmd %u refused", n->scratch[0],
                            n->scratch[1]);
        net_iov_write(e->iov + e->nout, e->nin, 0, &ack, 1);
        vdev_virtq_push(q, e->head, 1);
    }
    if (done && net_live(n))
        net_notify(n, vq);
    return done > 0;
}
