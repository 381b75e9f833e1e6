/* Queue pairs (VIRTIO_NET_F_MQ) and automatic receive steering (virtio 1.2 §5.1.6.5.5):
 * after the driver sent a flow's frame on tx queue X, the flow's incoming frames go to rx
 * queue X; flows never sent, and frames that are not IP, go to hash % pairs in use. Flows
 * live in a direct-mapped table of NET_FLOW_SLOTS (a new flow replaces whatever shared its
 * slot): a guest or a peer making many flows costs no memory and no time, only misses. */
#include <string.h>

#include "net.h"

void net_mq_reset(struct net *n)
{
    memset(&n->mq.cfg, 0, sizeof(n->mq.cfg));
    memset(n->mq.flows, 0, sizeof(n->mq.flows));
    atomic_store(&n->mq.rss, false);
    atomic_store(&n->mq.active, 1); /* "after reset, ... only on receiveq1" (§5.1.6.5.5) */
}

bool net_mq_on(const struct net *n)
{
    return net_has(n, VIRTIO_NET_F_MQ) || net_has(n, VIRTIO_NET_F_RSS);
}

unsigned net_mq_pairs(const struct net *n)
{
    return net_mq_on(n) ? n->pairs : 1u;
}

unsigned net_ctrl_vq(const struct net *n)
{
    return 2u * net_mq_pairs(n);
}

unsigned net_stat_index(const struct net *n, unsigned vq)
{
    unsigned data = 2u * net_mq_pairs(n);
    if (vq == data)
        return 2u * n->pairs;
    return vq < data ? vq : NET_MAX_VQS;
}

static uint32_t fnv(uint32_t h, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* A flow's key, the same for both directions (our rx sees the addresses of our tx swapped):
 * the two endpoints are hashed in a fixed order. */
static bool flow_key(const struct net_flow *fl, uint32_t *key)
{
    if (!fl->family)
        return false;
    size_t alen = fl->family == 4 ? 4 : 16;
    int c = memcmp(fl->src, fl->dst, alen);
    if (!c)
        c = memcmp(fl->sport, fl->dport, 2);
    const uint8_t *a = c <= 0 ? fl->src : fl->dst, *b = c <= 0 ? fl->dst : fl->src;
    const uint8_t *pa = c <= 0 ? fl->sport : fl->dport, *pb = c <= 0 ? fl->dport : fl->sport;
    uint8_t kind[2] = {fl->family, fl->proto};
    uint32_t h = fnv(2166136261u, kind, 2);
    h = fnv(fnv(h, a, alen), pa, 2);
    h = fnv(fnv(h, b, alen), pb, 2);
    *key = h;
    return true;
}

/* Not IP: both MAC addresses (symmetrically) and the EtherType, so an ARP exchange stays on
 * one queue. */
static uint32_t l2_key(const uint8_t *f, size_t len)
{
    if (len < ETH_HLEN)
        return 0;
    uint8_t k[8];
    for (unsigned i = 0; i < 6; i++)
        k[i] = f[i] ^ f[6 + i];
    k[6] = f[12], k[7] = f[13];
    return fnv(2166136261u, k, sizeof(k));
}

unsigned net_mq_rx_pair(struct net *n, const uint8_t *frame, size_t len)
{
    struct net_mq *m = &n->mq;
    if (!net_mq_on(n))
        return 0;
    if (m->rss)
        return net_rss_pair(&m->cfg, frame, len);
    unsigned active = m->active;
    if (active <= 1)
        return 0;
    struct net_flow fl;
    uint32_t key;
    net_flow_parse(frame, len, &fl);
    if (flow_key(&fl, &key)) {
        const struct net_flow_slot *s = &m->flows[key & (NET_FLOW_SLOTS - 1u)];
        if (s->used && s->key == key && s->pair < active)
            return s->pair;
    } else {
        key = l2_key(frame, len);
    }
    return key % active;
}

#define NET_MQ_PEEK 128u /* header bytes of a transmitted frame read to find its flow */

void net_mq_note_tx(struct net *n, unsigned pair, const struct net_src *src)
{
    struct net_mq *m = &n->mq;
    if (m->rss || m->active <= 1 || pair >= n->pairs)
        return;
    uint8_t hdrs[NET_MQ_PEEK];
    size_t len = net_src_read(src, 0, hdrs, src->len < sizeof(hdrs) ? src->len : sizeof(hdrs));
    struct net_flow fl;
    uint32_t key;
    net_flow_parse(hdrs, len, &fl);
    if (!flow_key(&fl, &key))
        return;
    struct net_flow_slot *s = &m->flows[key & (NET_FLOW_SLOTS - 1u)];
    *s = (struct net_flow_slot){.key = key, .pair = (uint8_t)pair, .used = true};
}

uint8_t net_mq_command(struct net *n, uint8_t cmd, const uint8_t *data, size_t len)
{
    if (cmd == VIRTIO_NET_CTRL_MQ_RSS_CONFIG)
        return net_rss_command(n, data, len);
    /* HASH_CONFIG needs VIRTIO_NET_F_HASH_REPORT, not offered */
    if (cmd != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET || !net_has(n, VIRTIO_NET_F_MQ) || len != 2)
        return VIRTIO_NET_ERR;
    uint16_t pairs = net_get16(data);
    if (pairs < 1 || pairs > n->pairs)
        return VIRTIO_NET_ERR;
    n->mq.active = pairs;
    n->mq.rss = false; /* automatic steering from now on */
    return VIRTIO_NET_OK;
}
