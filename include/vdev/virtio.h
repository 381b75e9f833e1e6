/* Virtio devices: what a virtio device module (virtio-net, ...) sees.
 *
 * A module describes its device (ID, features, queues, config space) and attaches in its
 * `assign` hook; the core picks the transport from the device's `loc` (PCI when left out
 * or pci:B:D.F, MMIO for a memory address) and the module never learns which one it got:
 *
 *   static int net_assign(struct vdev *d) {
 *       struct net *n = vdev_state(d);
 *       n->vio = vdev_virtio_attach(d, &net_virtio_ops, n, &err);
 *       ...
 *   }
 *
 * Queues are split virtqueues (virtio 1.2 §2.7). Every value the driver controls is
 * checked by the core; a violation puts the device into DEVICE_NEEDS_RESET (with a
 * configuration interrupt), is logged once, and the queue returns nothing until the driver
 * resets the device. Devices only see host pointers that were checked against guest RAM.
 */
#ifndef VDEV_VIRTIO_H
#define VDEV_VIRTIO_H

#include <sys/uio.h>
#include <vdev/export.h>
#include <vdev/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vdev;
struct vdev_virtio;
struct vdev_virtq;

/* Device status bits (§2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1u
#define VIRTIO_STATUS_DRIVER      2u
#define VIRTIO_STATUS_DRIVER_OK   4u
#define VIRTIO_STATUS_FEATURES_OK 8u
#define VIRTIO_STATUS_NEEDS_RESET 64u
#define VIRTIO_STATUS_FAILED      128u

/* Transport/ring feature bits the core handles (§6). */
#define VIRTIO_F_INDIRECT_DESC   28
#define VIRTIO_F_EVENT_IDX       29
#define VIRTIO_F_VERSION_1       32
#define VIRTIO_F_ACCESS_PLATFORM 33

/* Largest queue the core accepts, and the most buffers one element may have (direct plus
 * indirect descriptors; Linux uses at most MAX_SKB_FRAGS + 2 per packet). */
#define VDEV_VIRTQ_MAX_SIZE 1024
#define VDEV_VIRTQ_MAX_SEGS 1024

struct vdev_virtio_ops {
    size_t size;             /* sizeof(struct vdev_virtio_ops); nothing beyond it is read */
    uint32_t device_id;      /* 1 = network card, ... (§5) */
    uint64_t features;       /* device-specific bits offered; the core adds VERSION_1,
                                EVENT_IDX and INDIRECT_DESC */
    unsigned num_queues;     /* <= 64 */
    uint16_t queue_size_max; /* a power of two <= VDEV_VIRTQ_MAX_SIZE */
    uint32_t config_size;    /* bytes of device configuration space */

    /* Device configuration space; off + len <= config_size (the core checks). Any thread.
     * config_read is required when config_size > 0; config_write may be NULL (writes are
     * then dropped). */
    void (*config_read)(void *opaque, uint32_t off, void *buf, uint32_t len);
    void (*config_write)(void *opaque, uint32_t off, const void *buf, uint32_t len);
    /* The driver set FEATURES_OK with `features`; return 0 to accept, -1 to refuse (the core
     * then leaves FEATURES_OK clear, as §3.1.1 says). May be NULL. */
    int (*features_ok)(void *opaque, uint64_t features);
    /* DRIVER_OK: the enabled queues may be used from now on. */
    void (*start)(void *opaque);
    /* Reset or NEEDS_RESET: stop touching the queues. The core frees the queue mappings
     * when this returns, so it must wait for the device's threads to let go of them.
     * Runs on a vCPU thread (reset, FAILED) or, after a NEEDS_RESET, on the core's event
     * thread; never on a thread that called pop, and holding no lock the data path takes,
     * so joining the data thread here is safe. No queue_kick runs once it begins. */
    void (*stop)(void *opaque);
    /* A queue was kicked. Runs on the core's event thread. NULL: the device polls
     * vdev_virtio_kick_fd() in its own thread instead (the fast path for data queues). */
    void (*queue_kick)(void *opaque, unsigned q);
};

/* Attaches a virtio device to d on the transport its `loc` calls for. Call from `assign`.
 * NULL with err set (no PCI bus, MMIO not available, bad ops). */
VDEV_API struct vdev_virtio *vdev_virtio_attach(struct vdev *d, const struct vdev_virtio_ops *ops,
                                                void *opaque, struct vdev_err *err);

/* Negotiated features (valid from FEATURES_OK until reset). */
VDEV_API uint64_t vdev_virtio_features(const struct vdev_virtio *vio);
static inline bool vdev_virtio_has(const struct vdev_virtio *vio, unsigned bit)
{
    return (vdev_virtio_features(vio) >> bit) & 1u;
}
/* Queue q (NULL if q >= num_queues). Usable between `start` and `stop`. */
VDEV_API struct vdev_virtq *vdev_virtio_queue(struct vdev_virtio *vio, unsigned q);
/* The eventfd a kick of queue q signals (read it to clear; never close it), the same fd
 * for the device's life from attach on, whenever the transport binds its doorbells. */
VDEV_API int vdev_virtio_kick_fd(struct vdev_virtio *vio, unsigned q);
/* The device changed its configuration space (link status): new generation, config
 * interrupt. Any thread. */
VDEV_API void vdev_virtio_config_changed(struct vdev_virtio *vio);
/* The device found the driver misbehaving (a malformed header, say): NEEDS_RESET, logged
 * once, every queue's pop returns -1 from now on; `stop` follows on the event thread. Any
 * thread, including the data thread (it takes no lock and waits for nothing). */
VDEV_API void vdev_virtio_fail(struct vdev_virtio *vio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "pci 0:3.0" or "mmio 0xd0000000": where the transport put the device. */
VDEV_API const char *vdev_virtio_where(const struct vdev_virtio *vio);

/* ---- split virtqueues (device side) ---- */

/* Each queue is used by one thread at a time (between `start` and `stop`); different
 * queues may be used by different threads. Nothing here locks or makes a system call
 * except notify (the transport's interrupt). */

/* One available buffer chain: device-readable segments first, then device-writable ones.
 * The iovecs point into guest RAM (checked). Allocate one per thread; it is large. */
struct vdev_virtq_elem {
    uint16_t head;          /* give back with vdev_virtq_push */
    unsigned nout, nin;     /* out = iov[0..nout), in = iov[nout..nout+nin) */
    size_t out_len, in_len; /* total bytes of each direction */
    struct iovec iov[VDEV_VIRTQ_MAX_SEGS];
};

VDEV_API unsigned vdev_virtq_size(const struct vdev_virtq *q);
/* Takes the next available chain: 1 = got one, 0 = none, -1 = the driver broke a rule (the
 * device is now in NEEDS_RESET; stop using the queue). */
VDEV_API int vdev_virtq_pop(struct vdev_virtq *q, struct vdev_virtq_elem *e);
/* Gives `n` popped chains back in one go: used entry i = (heads[i], lens[i] bytes written).
 * Publishes the used index once. */
VDEV_API void vdev_virtq_push_n(struct vdev_virtq *q, const uint16_t *heads, const uint32_t *lens,
                                unsigned n);
static inline void vdev_virtq_push(struct vdev_virtq *q, uint16_t head, uint32_t len)
{
    vdev_virtq_push_n(q, &head, &len, 1);
}
/* Puts a popped chain back unconsumed (no room to use it yet). */
VDEV_API void vdev_virtq_unpop(struct vdev_virtq *q, unsigned n);
/* After pushing: interrupts the driver if it asked for one (used_event / NO_INTERRUPT). */
VDEV_API void vdev_virtq_notify(struct vdev_virtq *q);
/* The same, saying what it did: 1 = the driver was interrupted, 0 = it was not (nothing
 * pushed since the last notify, the driver suppressed it, the queue is broken or not
 * mapped), -1 = `flags` is not 0 (none are defined). For a device that counts its
 * interrupts. 0.3. */
VDEV_API int vdev_virtq_notify_ext(struct vdev_virtq *q, unsigned flags);
/* Kick suppression: while disabled the driver is asked not to kick. Enabling returns true
 * when buffers arrived meanwhile (check again before sleeping). Kicks are enabled at
 * DRIVER_OK; with EVENT_IDX "enabled" means "kick for a chain after those popped when it
 * was enabled", so a device that sleeps on its kick fd re-enables before every sleep:
 *
 *   for (;;) {
 *       while ((rc = vdev_virtq_pop(q, e)) == 1) { ...; vdev_virtq_push(...); }
 *       if (rc < 0) break;                      // NEEDS_RESET: wait for stop
 *       vdev_virtq_notify(q);
 *       if (vdev_virtq_set_kicks(q, true)) continue;
 *       wait for kick_fd (poll + read);
 *       vdev_virtq_set_kicks(q, false);
 *   }
 */
VDEV_API bool vdev_virtq_set_kicks(struct vdev_virtq *q, bool enabled);
/* True when the driver has made chains available that were not popped yet. */
VDEV_API bool vdev_virtq_has_avail(struct vdev_virtq *q);

#ifdef __cplusplus
}
#endif
#endif
