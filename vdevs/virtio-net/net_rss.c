/* Receive-side scaling (VIRTIO_NET_F_RSS, virtio 1.2 §5.1.6.5.7): the driver's
 * VIRTIO_NET_CTRL_MQ_RSS_CONFIG is checked in full before anything changes (a refused one
 * leaves the previous configuration), then each frame's Toeplitz hash over the fields its
 * enabled hash types select picks an entry of the indirection table. */
#include <string.h>

#include "net.h"

uint32_t net_toeplitz(const uint8_t *key, size_t key_len, const uint8_t *in, size_t len)
{
    /* The input's bit i (most significant first) selects key bits i..i+31. */
    uint32_t result = 0, window = 0;
    for (size_t i = 0; i < 4; i++)
        window = window << 8 | (i < key_len ? key[i] : 0u);
    for (size_t i = 0; i < len; i++) {
        uint8_t next = i + 4 < key_len ? key[i + 4] : 0;
        for (int b = 7; b >= 0; b--) {
            if (in[i] >> b & 1)
                result ^= window;
            window = window << 1 | (uint32_t)(next >> b & 1);
        }
    }
    return result;
}

bool net_rss_hash(const struct net_rss *r, const struct net_flow *fl, uint32_t *hash)
{
    uint32_t t = r->hash_types, ip, tcp, udp;
    size_t alen;
    if (fl->family == 4) {
        ip = VIRTIO_NET_HASH_TYPE_IPv4, tcp = VIRTIO_NET_HASH_TYPE_TCPv4;
        udp = VIRTIO_NET_HASH_TYPE_UDPv4, alen = 4;
    } else if (fl->family == 6) {
        ip = VIRTIO_NET_HASH_TYPE_IPv6, tcp = VIRTIO_NET_HASH_TYPE_TCPv6;
        udp = VIRTIO_NET_HASH_TYPE_UDPv6, alen = 16;
    } else {
        return false;
    }
    bool ports = (fl->proto == 6 && (t & tcp)) || (fl->proto == 17 && (t & udp));
    if (!ports && !(t & ip))
        return false;
    uint8_t in[36]; /* source address, destination address, source port, destination port */
    memcpy(in, fl->src, alen);
    memcpy(in + alen, fl->dst, alen);
    size_t len = 2 * alen;
    if (ports) {
        memcpy(in + len, fl->sport, 2);
        memcpy(in + len + 2, fl->dport, 2);
        len += 4;
    }
    *hash = net_toeplitz(r->key, r->key_len, in, len);
    return true;
}

unsigned net_rss_pair(const struct net_rss *r, const uint8_t *frame, size_t len)
{
    struct net_flow fl;
    uint32_t hash;
    if (!r->hash_types)
        return r->unclassified;
    net_flow_parse(frame, len, &fl);
    if (!net_rss_hash(r, &fl, &hash))
        return r->unclassified;
    return r->table[hash & (r->table_len - 1u)];
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* struct virtio_net_rss_config { le32 hash_types; le16 indirection_table_mask;
 *   le16 unclassified_queue; le16 indirection_table[mask + 1]; le16 max_tx_vq;
 *   u8 hash_key_length; u8 hash_key_data[hash_key_length]; } */
uint8_t net_rss_command(struct net *n, const uint8_t *d, size_t len)
{
    if (!net_has(n, VIRTIO_NET_F_RSS) || len < 8)
        return VIRTIO_NET_ERR;
    struct net_rss r = {.hash_types = le32(d)};
    uint32_t table_len = (uint32_t)net_get16(d + 4) + 1u;
    if (table_len > NET_RSS_MAX_TABLE || (table_len & (table_len - 1u)))
        return VIRTIO_NET_ERR;
    size_t fixed = 8 + 2 * (size_t)table_len + 3; /* up to and with hash_key_length */
    if (len < fixed)
        return VIRTIO_NET_ERR;
    const uint8_t *tail = d + 8 + 2 * (size_t)table_len;
    uint16_t max_tx_vq = net_get16(tail);
    uint8_t key_len = tail[2];
    if (key_len > NET_RSS_MAX_KEY || len != fixed + key_len)
        return VIRTIO_NET_ERR;
    if ((r.hash_types & ~NET_RSS_HASH_TYPES) || (r.hash_types && !key_len))
        return VIRTIO_NET_ERR; /* a type we do not offer, or a hash without a key */
    if (max_tx_vq < 1 || max_tx_vq > n->pairs)
        return VIRTIO_NET_ERR;
    /* receive queue ids (rss_rq_id: the virtqueue index's bits 1..16, i.e. the pair; bit 15
     * is reserved and makes it out of range here) */
    r.unclassified = net_get16(d + 6);
    if (r.unclassified >= n->pairs)
        return VIRTIO_NET_ERR;
    r.table_len = (uint16_t)table_len;
    for (uint32_t i = 0; i < table_len; i++) {
        r.table[i] = net_get16(d + 8 + 2 * i);
        if (r.table[i] >= n->pairs)
            return VIRTIO_NET_ERR;
    }
    r.key_len = key_len;
    memcpy(r.key, tail + 3, key_len);
    n->mq.cfg = r;
    n->mq.rss = true;
    n->mq.active = max_tx_vq;
    return VIRTIO_NET_OK;
}
