/* Per-NIC counters: written by the NIC's data thread only, read by any thread (`status`,
 * `vdevkit stat`), so relaxed atomics and no read-modify-write instruction are enough. */
#ifndef VDEV_NET_STATS_H
#define VDEV_NET_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "net_mq.h"

struct net_stats {
    _Atomic uint64_t rx_frames, rx_bytes; /* delivered to our guest */
    _Atomic uint64_t tx_frames, tx_bytes; /* put on the link (segments count one each) */
    _Atomic uint64_t drop_link_down;      /* guest sent while the link was down */
    _Atomic uint64_t drop_ring_full;      /* the peer's ring stayed full (TAP: EAGAIN) */
    _Atomic uint64_t drop_no_buffers;     /* frames for a guest without a running driver */
    _Atomic uint64_t drop_too_big;        /* frame larger than the guest's receive buffers */
    _Atomic uint64_t drop_filtered;       /* refused by the guest's receive filter */
    _Atomic uint64_t drop_bad_header;     /* malformed virtio_net_hdr or frame, either side */
    _Atomic uint64_t errors;              /* driver protocol violations (device needs reset) */
    _Atomic uint64_t sw_gso_frames;       /* GSO frames segmented in software ... */
    _Atomic uint64_t sw_gso_segments;     /* ... into this many segments */
    _Atomic uint64_t sw_csum;             /* checksums completed in software */
    _Atomic uint64_t tap_errors;          /* the TAP refused a write or failed a read */
    /* the link's own counters, copied by the data thread (the link is single-threaded) */
    _Atomic uint64_t link_connects, link_disconnects, link_bad_records;
    /* Guest exits and interrupts per queue, indexed by net_stat_index: rx0 tx0 rx1 tx1 ...,
     * the control queue at 2 * `queues` (with one pair: NET_Q_RX, NET_Q_TX, NET_Q_CTRL). */
    _Atomic uint64_t kicks[NET_MAX_VQS];         /* doorbell writes the data thread consumed */
    _Atomic uint64_t irqs[NET_MAX_VQS];          /* used-buffer notifications that interrupted */
    _Atomic uint64_t held[NET_MAX_DATA_VQS];     /* notifications interrupt moderation held back */
    _Atomic uint64_t q_frames[NET_MAX_DATA_VQS]; /* frames delivered (rx) or taken (tx) */
    _Atomic uint64_t poll_hits, poll_misses;     /* busy-poll windows that found work / ran out */
};

static inline void net_count(_Atomic uint64_t *c, uint64_t v)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
                          memory_order_relaxed);
}
static inline uint64_t net_read(const _Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

#endif
