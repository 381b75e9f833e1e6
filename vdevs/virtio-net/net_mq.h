/* Multiqueue (VIRTIO_NET_F_MQ, VIRTIO_NET_F_RSS, `queues N`): which receive queue a frame
 * from the backend goes to. The backends are single-queue, so one data thread serves every
 * queue pair; what multiqueue buys is that the guest's vCPUs share the work (each pair has
 * its own interrupt and NAPI context).
 *
 *   net_flow.c  a frame's IPv4/IPv6 addresses and TCP/UDP ports (a bounded parser: frames
 *               from the peer and from the guest are untrusted)
 *   net_mq.c    the pairs in use, automatic receive steering (a flow's frames go to the rx
 *               queue paired with the tx queue that last sent it, from a fixed-size table of
 *               flows), VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET
 *   net_rss.c   RSS: VIRTIO_NET_CTRL_MQ_RSS_CONFIG checked and applied, the Toeplitz hash
 *
 * Queue layout (virtio 1.2 §5.1.2): rx0 tx0 rx1 tx1 ... and the control queue after the
 * last pair, or at 2 when the driver negotiated neither MQ nor RSS. */
#ifndef VDEV_NET_MQ_H
#define VDEV_NET_MQ_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netpeer/net_hdr.h"
#include "netpeer/net_offload.h"

struct net;

#define NET_MAX_PAIRS     16u                     /* `queues` at most */
#define NET_MAX_DATA_VQS  (2u * NET_MAX_PAIRS)    /* rx and tx queues */
#define NET_MAX_VQS       (NET_MAX_DATA_VQS + 1u) /* and the control queue */
#define NET_FLOW_SLOTS    256u /* automatic steering's flows (a power of two; fixed memory) */
#define NET_RSS_MAX_KEY   40u  /* rss_max_key_size (the spec's minimum) */
#define NET_RSS_MAX_TABLE 128u /* rss_max_indirection_table_length: Linux 6.1 keeps 128 */
#define NET_RSS_HASH_TYPES                                                                         \
    (VIRTIO_NET_HASH_TYPE_IPv4 | VIRTIO_NET_HASH_TYPE_TCPv4 | VIRTIO_NET_HASH_TYPE_UDPv4 |         \
     VIRTIO_NET_HASH_TYPE_IPv6 | VIRTIO_NET_HASH_TYPE_TCPv6 | VIRTIO_NET_HASH_TYPE_UDPv6)

/* What steering and RSS look at in a frame. */
struct net_flow {
    uint8_t family;           /* 4 or 6; 0: not IP (or a malformed IP header) */
    uint8_t proto;            /* 6 (TCP) or 17 (UDP) when the ports are known, else 0 */
    uint8_t src[16], dst[16]; /* addresses (4 bytes for IPv4), network order */
    uint8_t sport[2], dport[2];
};

/* Parses an Ethernet frame (optionally behind one 802.1Q tag): IPv4 or IPv6 (extension
 * headers skipped, at most 8), then TCP or UDP. Fragments have addresses but no ports. */
void net_flow_parse(const uint8_t *frame, size_t len, struct net_flow *fl);

/* The RSS configuration the driver set (VIRTIO_NET_CTRL_MQ_RSS_CONFIG), checked. */
struct net_rss {
    uint32_t hash_types;
    uint16_t table_len;                /* a power of two, <= NET_RSS_MAX_TABLE */
    uint16_t unclassified;             /* pair of the frames no hash type applies to */
    uint16_t table[NET_RSS_MAX_TABLE]; /* pairs, each < `queues` */
    uint8_t key_len;
    uint8_t key[NET_RSS_MAX_KEY];
};

struct net_flow_slot {
    uint32_t key; /* the flow's symmetric hash */
    uint8_t pair; /* whose tx queue sent it last */
    bool used;
};

/* Written by the data thread (run_lock held; net_mq_reset at every driver start); `active`
 * and `rss` are read by `status` too, hence atomic. */
struct net_mq {
    _Atomic unsigned active; /* pairs in use: 1 after a reset, VQ_PAIRS_SET, RSS max_tx_vq */
    atomic_bool rss; /* the last MQ command was RSS_CONFIG (the spec: the last one decides) */
    struct net_rss cfg;
    struct net_flow_slot flows[NET_FLOW_SLOTS];
};

/* net_mq.c */
void net_mq_reset(struct net *n);
/* The driver negotiated MQ or RSS: the layout has `queues` pairs. */
bool net_mq_on(const struct net *n);
/* Pairs whose queues the driver may use (the layout): `queues` with MQ/RSS, else 1. */
unsigned net_mq_pairs(const struct net *n);
/* The control queue's index in the layout the driver negotiated. */
unsigned net_ctrl_vq(const struct net *n);
/* Index into the per-queue counters for virtqueue vq: the data queues by index, the control
 * queue at 2 * `queues` whatever the layout; NET_MAX_VQS for a queue the NIC does not use. */
unsigned net_stat_index(const struct net *n, unsigned vq);
/* The pair whose rx queue gets this frame. */
unsigned net_mq_rx_pair(struct net *n, const uint8_t *frame, size_t len);
/* Automatic steering: a frame of `pair`'s tx queue (src: after the virtio-net header). */
void net_mq_note_tx(struct net *n, unsigned pair, const struct net_src *src);
/* VIRTIO_NET_CTRL_MQ commands: the data; returns the ack. */
uint8_t net_mq_command(struct net *n, uint8_t cmd, const uint8_t *data, size_t len);

/* net_rss.c */
uint8_t net_rss_command(struct net *n, const uint8_t *data, size_t len);
/* The Toeplitz hash of `in` under `key` (missing key bytes count as zero). */
uint32_t net_toeplitz(const uint8_t *key, size_t key_len, const uint8_t *in, size_t len);
/* The hash of a flow under the enabled hash types (virtio 1.2 §5.1.6.4.3); false: none
 * applies (the frame is unclassified). */
bool net_rss_hash(const struct net_rss *r, const struct net_flow *fl, uint32_t *hash);
/* The pair an RSS configuration sends a frame to. */
unsigned net_rss_pair(const struct net_rss *r, const uint8_t *frame, size_t len);

#endif
