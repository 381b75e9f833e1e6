/* Interrupt moderation of the receive and transmit queues (net_coal.c): a used-buffer
 * notification may be held back until enough frames were used or enough time passed, as
 * VIRTIO_NET_F_NOTF_COAL describes (virtio 1.3 §5.1.6.5.6), with the device's own defaults
 * for drivers that set none. Data thread only (run_lock held), but for net_stop's flush,
 * which holds run_lock too. */
#ifndef VDEV_NET_COAL_H
#define VDEV_NET_COAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net_mq.h"

struct net;

#define NET_COAL_DIRS 2u /* indexed by NET_Q_RX (0) and NET_Q_TX (1); a data queue's is vq & 1 */
/* The most a guest may ask to wait (larger: VIRTIO_NET_ERR, so `ethtool -C` says EINVAL) */
#define NET_COAL_GUEST_MAX_US 100000u
/* The most an option may set as the device's default */
#define NET_COAL_OPT_MAX_US 10000u
/* Frames held at most: with more, EVENT_IDX's 16-bit crossing test could wrap */
#define NET_COAL_MAX_FRAMES 256u

struct net_coal_params {
    uint32_t usecs, frames; /* either 0: every frame is notified at once (as the spec says) */
};

struct net_coal {
    /* options (build thread) */
    bool offer;                                /* `notf-coal`: offer VIRTIO_NET_F_NOTF_COAL */
    bool adaptive;                             /* defaults hold only while frames keep coming */
    struct net_coal_params def[NET_COAL_DIRS]; /* the device's defaults */
    /* state (data thread): what the driver set since its last reset, and what is held */
    bool driver_set[NET_COAL_DIRS];
    struct net_coal_params set[NET_COAL_DIRS];
    /* per data queue (rx0 tx0 rx1 tx1 ...): each counts and times on its own (§5.1.6.5.6) */
    uint32_t held[NET_MAX_DATA_VQS];     /* frames used since the last notification */
    uint64_t first_ns[NET_MAX_DATA_VQS]; /* when the first of them was used */
    uint64_t due_ns[NET_MAX_DATA_VQS];   /* when they are notified at the latest */
    uint64_t last_ns[NET_MAX_DATA_VQS];  /* the last notification (adaptive) */
};

/* Driver start: the driver's settings and anything held are forgotten. */
void net_coal_reset(struct net *n);
/* `frames` were used on data queue `q` (rx0 tx0 rx1 ...): notify now or hold. */
void net_coal_used(struct net *n, unsigned q, unsigned frames);
/* Notifies what queue `q` holds, now (the guest must see it: no receive buffers left). */
void net_coal_flush(struct net *n, unsigned q);
/* Notifies what has waited long enough; returns the next deadline (ns, UINT64_MAX: none). */
uint64_t net_coal_tick(struct net *n);
/* The next deadline without acting (UINT64_MAX: none). */
uint64_t net_coal_due(const struct net *n);
/* VIRTIO_NET_CTRL_NOTF_COAL: the command's data; returns the ack. */
uint8_t net_coal_command(struct net *n, uint8_t cmd, const uint8_t *data, size_t len);
/* Notifies virtqueue q (vdev_virtq_notify) and counts the interrupt it sent, if it did. */
void net_notify(struct net *n, unsigned q);

#endif
