/* virtio-net wire constants (virtio 1.2 §5.1): feature bits, the per-packet header, the
 * configuration space and the control-queue commands. */
#ifndef VDEV_NET_HDR_H
#define VDEV_NET_HDR_H

#include <stdint.h>

#define VIRTIO_ID_NET 1u

/* Feature bits. */
#define VIRTIO_NET_F_CSUM          0
#define VIRTIO_NET_F_GUEST_CSUM    1
#define VIRTIO_NET_F_MTU           3
#define VIRTIO_NET_F_MAC           5
#define VIRTIO_NET_F_GUEST_TSO4    7
#define VIRTIO_NET_F_GUEST_TSO6    8
#define VIRTIO_NET_F_GUEST_ECN     9
#define VIRTIO_NET_F_GUEST_UFO     10
#define VIRTIO_NET_F_HOST_TSO4     11
#define VIRTIO_NET_F_HOST_TSO6     12
#define VIRTIO_NET_F_HOST_ECN      13
#define VIRTIO_NET_F_HOST_UFO      14
#define VIRTIO_NET_F_MRG_RXBUF     15
#define VIRTIO_NET_F_STATUS        16
#define VIRTIO_NET_F_CTRL_VQ       17
#define VIRTIO_NET_F_CTRL_RX       18
#define VIRTIO_NET_F_CTRL_VLAN     19
#define VIRTIO_NET_F_CTRL_RX_EXTRA 20
#define VIRTIO_NET_F_MQ            22 /* queue pairs with automatic receive steering */
#define VIRTIO_NET_F_CTRL_MAC_ADDR 23
#define VIRTIO_NET_F_NOTF_COAL     53 /* notifications coalescing (virtio 1.3 §5.1.6.5.6) */
#define VIRTIO_NET_F_RSS           60 /* receive-side scaling, Toeplitz (virtio 1.2 §5.1.6.5.7) */

#define NET_BIT(b) (1ull << (b))

/* The bits that describe what a guest can receive (what `peerfeats` masks). */
#define NET_GUEST_OFFLOADS                                                                         \
    (NET_BIT(VIRTIO_NET_F_GUEST_CSUM) | NET_BIT(VIRTIO_NET_F_GUEST_TSO4) |                         \
     NET_BIT(VIRTIO_NET_F_GUEST_TSO6) | NET_BIT(VIRTIO_NET_F_GUEST_ECN))

/* Can a guest that negotiated `f` receive a GSO frame of `gso_type` as it is (TCPV4/TCPV6,
 * optionally with the ECN bit)? Else the sender segments it. */
static inline int net_guest_takes_gso(uint64_t f, unsigned gso_type)
{
    unsigned type = gso_type & ~0x80u; /* VIRTIO_NET_HDR_GSO_ECN */
    if (!(f & NET_BIT(VIRTIO_NET_F_GUEST_CSUM)))
        return 0;
    if (type == 1u /* TCPV4 */)
        return (f & NET_BIT(VIRTIO_NET_F_GUEST_TSO4)) &&
               (!(gso_type & 0x80u) || (f & NET_BIT(VIRTIO_NET_F_GUEST_ECN)));
    if (type == 4u /* TCPV6 */)
        return (f & NET_BIT(VIRTIO_NET_F_GUEST_TSO6)) &&
               (!(gso_type & 0x80u) || (f & NET_BIT(VIRTIO_NET_F_GUEST_ECN)));
    return 0;
}

/* struct virtio_net_hdr (v1 layout, little-endian fields), 12 bytes. */
#define NET_HDR_LEN 12u
struct net_hdr {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;
};
_Static_assert(sizeof(struct net_hdr) == NET_HDR_LEN, "virtio_net_hdr is 12 bytes");

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1u
#define VIRTIO_NET_HDR_F_DATA_VALID 2u

#define VIRTIO_NET_HDR_GSO_NONE  0u
#define VIRTIO_NET_HDR_GSO_TCPV4 1u
#define VIRTIO_NET_HDR_GSO_UDP   3u
#define VIRTIO_NET_HDR_GSO_TCPV6 4u
#define VIRTIO_NET_HDR_GSO_ECN   0x80u

/* Configuration space. */
#define NET_CFG_MAC       0u
#define NET_CFG_STATUS    6u
#define NET_CFG_MAX_PAIRS 8u
#define NET_CFG_MTU       10u
#define NET_CFG_SIZE      12u
/* ... and with VIRTIO_NET_F_RSS (speed and duplex at 12..16 stay 0: SPEED_DUPLEX is not offered) */
#define NET_CFG_RSS_MAX_KEY   17u /* u8 rss_max_key_size */
#define NET_CFG_RSS_MAX_TABLE 18u /* le16 rss_max_indirection_table_length */
#define NET_CFG_HASH_TYPES    20u /* le32 supported_hash_types */
#define NET_CFG_SIZE_RSS      24u

#define VIRTIO_NET_S_LINK_UP 1u

/* Control queue. */
#define VIRTIO_NET_OK  0u
#define VIRTIO_NET_ERR 1u

#define VIRTIO_NET_CTRL_RX          0u
#define VIRTIO_NET_CTRL_RX_PROMISC  0u
#define VIRTIO_NET_CTRL_RX_ALLMULTI 1u
#define VIRTIO_NET_CTRL_RX_ALLUNI   2u
#define VIRTIO_NET_CTRL_RX_NOMULTI  3u
#define VIRTIO_NET_CTRL_RX_NOUNI    4u
#define VIRTIO_NET_CTRL_RX_NOBCAST  5u

#define VIRTIO_NET_CTRL_MAC           1u
#define VIRTIO_NET_CTRL_MAC_TABLE_SET 0u
#define VIRTIO_NET_CTRL_MAC_ADDR_SET  1u

/* Multiqueue (virtio 1.2 §5.1.6.5.5 and .7): le16 virtqueue_pairs; struct virtio_net_rss_config */
#define VIRTIO_NET_CTRL_MQ              4u
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0u
#define VIRTIO_NET_CTRL_MQ_RSS_CONFIG   1u
#define VIRTIO_NET_CTRL_MQ_HASH_CONFIG  2u

/* Hash types (supported_hash_types, virtio_net_rss_config.hash_types) */
#define VIRTIO_NET_HASH_TYPE_IPv4  (1u << 0)
#define VIRTIO_NET_HASH_TYPE_TCPv4 (1u << 1)
#define VIRTIO_NET_HASH_TYPE_UDPv4 (1u << 2)
#define VIRTIO_NET_HASH_TYPE_IPv6  (1u << 3)
#define VIRTIO_NET_HASH_TYPE_TCPv6 (1u << 4)
#define VIRTIO_NET_HASH_TYPE_UDPv6 (1u << 5)

/* struct virtio_net_ctrl_coal { le32 max_packets; le32 max_usecs; } for all rx or tx queues */
#define VIRTIO_NET_CTRL_NOTF_COAL        6u
#define VIRTIO_NET_CTRL_NOTF_COAL_TX_SET 0u
#define VIRTIO_NET_CTRL_NOTF_COAL_RX_SET 1u
#define VIRTIO_NET_CTRL_COAL_LEN         8u

/* Ethernet. */
#define ETH_HLEN      14u
#define ETH_ALEN      6u
#define ETH_P_IP      0x0800u
#define ETH_P_IPV6    0x86ddu
#define ETH_P_8021Q   0x8100u
#define NET_MAX_FRAME 65550u /* 64 KiB GSO frame + Ethernet and VLAN headers */

static inline uint16_t net_get16(const uint8_t *p) /* little-endian (virtio) */
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static inline void net_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline uint16_t net_be16(const uint8_t *p) /* big-endian (network) */
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static inline void net_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline uint32_t net_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void net_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Header from/to its 12 wire bytes. */
static inline void net_hdr_load(struct net_hdr *h, const uint8_t *p)
{
    h->flags = p[0];
    h->gso_type = p[1];
    h->hdr_len = net_get16(p + 2);
    h->gso_size = net_get16(p + 4);
    h->csum_start = net_get16(p + 6);
    h->csum_offset = net_get16(p + 8);
    h->num_buffers = net_get16(p + 10);
}
static inline void net_hdr_store(const struct net_hdr *h, uint8_t *p)
{
    p[0] = h->flags;
    p[1] = h->gso_type;
    net_put16(p + 2, h->hdr_len);
    net_put16(p + 4, h->gso_size);
    net_put16(p + 6, h->csum_start);
    net_put16(p + 8, h->csum_offset);
    net_put16(p + 10, h->num_buffers);
}

#endif
