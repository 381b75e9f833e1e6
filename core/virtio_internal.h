/* Private state of the virtio core, shared by virtio.c (device status, features,
 * configuration, life-cycle) and virtio_queue.c (split virtqueues). */
#ifndef VDEV_CORE_VIRTIO_INTERNAL_H
#define VDEV_CORE_VIRTIO_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <vdev/virtio_transport.h>

#include "internal.h"

#define VIRTIO_MAX_QUEUES 64

/* Split virtqueue layout in guest memory (§2.7). Little-endian guests only (x86). */
struct vring_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
#define VRING_DESC_F_NEXT     1
#define VRING_DESC_F_WRITE    2
#define VRING_DESC_F_INDIRECT 4

struct vring_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[]; /* [size], then used_event with EVENT_IDX */
};
#define VRING_AVAIL_F_NO_INTERRUPT 1

struct vring_used_elem {
    uint32_t id;
    uint32_t len;
};
struct vring_used {
    uint16_t flags;
    uint16_t idx;
    struct vring_used_elem ring[]; /* [size], then avail_event with EVENT_IDX */
};
#define VRING_USED_F_NO_NOTIFY 1

struct vdev_virtq {
    struct vdev_virtio *vio;
    unsigned index;

    /* Written by the driver through the transport (vCPU threads, under vio->lock). */
    struct vdev_virtq_config cfg;
    /* After DRIVER_OK the transport gets this copy, so its writes change nothing. */
    struct vdev_virtq_config frozen;

    /* The mapping: set at DRIVER_OK before `start`, cleared after `stop`; between the two
     * only the device's data thread touches the rest of this block. */
    uint16_t size; /* 0: not mapped */
    uint16_t mask;
    bool event_idx, indirect;
    struct vring_desc *desc;
    struct vring_avail *avail;
    struct vring_used *used;
    uint16_t *used_event;   /* in the avail ring (EVENT_IDX) */
    uint16_t *avail_event;  /* in the used ring (EVENT_IDX) */
    uint16_t last_avail;    /* next avail entry to pop */
    uint16_t shadow_avail;  /* avail->idx as last read (already checked) */
    uint16_t used_idx;      /* next used entry to write */
    uint16_t notified_used; /* used_idx when the driver was last interrupted (or asked not) */
    bool notified_valid;
    struct vdev_gmem_span span; /* the guest memory the last buffer was in (size 0: none) */

    /* Set by vdev_virtio_fail from any thread: pop returns -1 at once. */
    atomic_bool broken;

    int kick_fd;              /* ours for the device's life; refers to the transport's
                                 doorbell eventfd once it gave us one (dup3) */
    struct vdev_watch *watch; /* on kick_fd, when the device has queue_kick */
};

/* The transport's hook `h` of vio, or NULL (none bound, or a table built before h). */
#define TRANSPORT_HOOK(vio, h) VDEV_HOOK((vio)->tops, struct vdev_virtio_transport_ops, h)

struct vdev_virtio {
    struct vdev *d;
    const struct vdev_virtio_ops *ops;
    void *opaque;
    uint64_t offered;

    const struct vdev_virtio_transport_ops *tops; /* read through TRANSPORT_HOOK only */
    void *t;
    char where[64];

    /* Serialises the transport's calls from vCPU threads (status, features, queue
     * configuration). Never taken by the data path, vdev_virtio_fail or config_changed. */
    pthread_mutex_t lock;
    /* Held around queue_kick callbacks; a stop clears `started` under it, so once `stop`
     * begins no queue_kick is running or will start. */
    pthread_mutex_t kick_lock;

    _Atomic uint8_t status;
    _Atomic uint64_t driver_features; /* as the driver wrote them, masked to `offered` */
    atomic_uint generation;
    atomic_bool started; /* `start` was called and `stop` not yet */
    atomic_bool logged;  /* the NEEDS_RESET of this episode was logged */

    int fail_fd;                   /* eventfd: a fail asks the event thread to stop the device */
    struct vdev_watch *fail_watch; /* NULL without an event loop: stopped at reset instead */

    struct vdev_virtq_config dummy; /* what queue_config returns for a queue that does not exist */
    struct vdev_virtio *next;       /* the machine's list, freed with it */
    unsigned nq;
    struct vdev_virtq q[];
};

/* virtio_queue.c: maps every enabled queue (false after vdev_virtio_fail) / forgets them. */
bool vdev_virtq_map(struct vdev_virtq *q, uint64_t features);
void vdev_virtq_unmap(struct vdev_virtq *q);

#endif
