/* Virtio transports (virtio-pci, virtio-mmio): how a transport drives the virtio core.
 *
 * The core owns the device state every transport shares (status state machine, feature
 * negotiation, queue configuration and validation, config generation); a transport maps
 * its registers onto these calls and raises interrupts when the core asks. A transport
 * knows nothing of the device it carries.
 */
#ifndef VDEV_VIRTIO_TRANSPORT_H
#define VDEV_VIRTIO_TRANSPORT_H

#include <vdev/export.h>
#include <vdev/virtio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The core calls these from inside the transport's own calls too (a bad queue found at
 * DRIVER_OK raises the configuration interrupt from within vdev_virtio_set_status), and
 * from device threads: do not hold a lock across a call into the core that these take. */
struct vdev_virtio_transport_ops {
    size_t size; /* sizeof(struct vdev_virtio_transport_ops); nothing beyond it is read */
    /* Raise queue q's interrupt (MSI-X vector of the queue, or ISR bit 0 + INTx/line).
     * Any thread. */
    void (*notify_queue)(void *t, unsigned q);
    /* Raise the configuration-change interrupt (ISR bit 1). Any thread. */
    void (*notify_config)(void *t);
    /* The core reset the device (status written 0, or machine reset): transport state
     * such as vectors and ISR goes back to defaults. Called on the thread that wrote the
     * status (inside vdev_virtio_set_status) or reset the machine, with no core lock held;
     * do not hold a lock of your own across vdev_virtio_set_status() that this takes. */
    void (*reset)(void *t);
    /* The machine is being freed (every device terminated, the event thread stopped):
     * free the transport's own state. May be NULL. */
    void (*destroy)(void *t);
};

/* Per-queue configuration as the driver writes it through the transport. */
struct vdev_virtq_config {
    uint16_t size;   /* defaults to queue_size_max */
    uint64_t desc;   /* guest-physical addresses of the three parts */
    uint64_t driver; /* avail ring */
    uint64_t device; /* used ring */
    bool enabled;    /* queue_enable / QueueReady */
};

/* vdev_virtio_attach creates the transport libvdev registered for the kind of the device's
 * `loc` (virtio-pci, virtio-mmio). The transport binds itself with
 * vdev_virtio_bind_transport(), creates one doorbell per queue (fire = NULL) and hands each
 * doorbell's fd to the core with vdev_virtio_set_kick_fd(); the core watches it when the
 * device has a queue_kick hook.
 *
 * Queue q's kicks arrive on `fd` (the transport keeps it and closes it). Any time, also
 * later than create (doorbells made when the guest first enables the BAR) and again; the
 * fd the device got from vdev_virtio_kick_fd() stays the same number and from now on
 * refers to this eventfd. Until then kicks (vdev_virtio_kick) go to a core eventfd. */
VDEV_API void vdev_virtio_set_kick_fd(struct vdev_virtio *vio, unsigned q, int fd);

/* What vdev_virtio_attach does before it picks a transport: checks the ops and allocates
 * the core's state (freed with the machine), with no transport bound. For tests and
 * transports that bind themselves. NULL with err set. */
VDEV_API struct vdev_virtio *vdev_virtio_new(struct vdev *d, const struct vdev_virtio_ops *ops,
                                             void *opaque, struct vdev_err *err);

VDEV_API void vdev_virtio_bind_transport(struct vdev_virtio *vio,
                                         const struct vdev_virtio_transport_ops *ops, void *t,
                                         const char *where);
VDEV_API struct vdev *vdev_virtio_vdev(struct vdev_virtio *vio);
VDEV_API const struct vdev_virtio_ops *vdev_virtio_device_ops(const struct vdev_virtio *vio);
VDEV_API unsigned vdev_virtio_num_queues(const struct vdev_virtio *vio);
VDEV_API uint16_t vdev_virtio_queue_size_max(const struct vdev_virtio *vio);

/* Feature words (sel 0 = bits 0-31, 1 = bits 32-63; others read 0 / are ignored). */
VDEV_API uint32_t vdev_virtio_device_features(const struct vdev_virtio *vio, uint32_t sel);
/* Ignored after FEATURES_OK (the driver may not change its mind without a reset). */
VDEV_API void vdev_virtio_set_driver_features(struct vdev_virtio *vio, uint32_t sel,
                                              uint32_t value);
VDEV_API uint32_t vdev_virtio_driver_features(const struct vdev_virtio *vio, uint32_t sel);

VDEV_API uint8_t vdev_virtio_get_status(const struct vdev_virtio *vio);
/* Status write: 0 resets (stop the device, forget queues and features); setting
 * FEATURES_OK checks the negotiated set; DRIVER_OK validates and maps every enabled queue
 * (a bad one → NEEDS_RESET) and starts the device. Clearing bits other than by reset is
 * ignored. */
VDEV_API void vdev_virtio_set_status(struct vdev_virtio *vio, uint8_t status);

/* Queue configuration; writes are ignored once DRIVER_OK is set or for q out of range
 * (then the pointer is to a dummy). The transport writes fields, then enables. */
VDEV_API struct vdev_virtq_config *vdev_virtio_queue_config(struct vdev_virtio *vio, unsigned q);
/* Sets size, checking it is a power of two <= queue_size_max; false if refused. */
VDEV_API bool vdev_virtio_set_queue_size(struct vdev_virtio *vio, unsigned q, uint32_t size);
/* Driver kicked queue q from a trapped path (the doorbell fd is the normal way). */
VDEV_API void vdev_virtio_kick(struct vdev_virtio *vio, unsigned q);

/* Device configuration space access through the transport (bounds-checked; reads out of
 * range give 0, writes are dropped). */
VDEV_API uint64_t vdev_virtio_config_read(struct vdev_virtio *vio, uint32_t off, unsigned size);
VDEV_API void vdev_virtio_config_write(struct vdev_virtio *vio, uint32_t off, unsigned size,
                                       uint64_t v);
VDEV_API uint32_t vdev_virtio_config_generation(const struct vdev_virtio *vio);

/* Machine reset. */
VDEV_API void vdev_virtio_reset(struct vdev_virtio *vio);

#ifdef __cplusplus
}
#endif
#endif
