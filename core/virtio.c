/* The virtio core: device status state machine (§3.1.1), feature negotiation, queue
 * configuration, device configuration space and its generation, reset and NEEDS_RESET.
 * Transports (pci/, mmio/) call the vdev/virtio_transport.h half; device modules the
 * vdev/virtio.h half. The split virtqueues themselves are in virtio_queue.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "sized.h"
#include "virtio_internal.h"

/* Feature bits the core implements itself, always offered. */
#define CORE_FEATURES                                                                              \
    ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX) | (1ull << VIRTIO_F_INDIRECT_DESC))
/* Transport and ring feature bits (§6) a device may not offer: the core would have to
 * implement them (packed rings, notification data, an IOMMU, ...). */
#define RESERVED_FEATURES (((1ull << 41) - (1ull << 24)) & ~CORE_FEATURES)

#define CONFIG_SIZE_MAX 0x1000

static bool is_pow2(unsigned v)
{
    return v && !(v & (v - 1));
}

static int check_ops(const struct vdev_virtio_ops *ops, struct vdev_err *err)
{
    if (!ops)
        return vdev_err_setc(err, VDEV_E_INVAL, "virtio: no device operations");
    /* Every member of the 0.2 table is read: a smaller one was never built from our headers. */
    size_t min = VDEV_SIZE_THROUGH(struct vdev_virtio_ops, queue_kick);
    if (ops->size < min)
        return vdev_err_setc(err, VDEV_E_INVAL,
                             "virtio: device ops of %zu bytes, at least %zu (set .size = "
                             "sizeof(struct vdev_virtio_ops))",
                             ops->size, min);
    if (ops->device_id == 0)
        return vdev_err_set(err, "virtio: device ID 0 is reserved");
    if (ops->num_queues < 1 || ops->num_queues > VIRTIO_MAX_QUEUES)
        return vdev_err_set(err, "virtio: %u queues (1 to %u)", ops->num_queues, VIRTIO_MAX_QUEUES);
    if (!is_pow2(ops->queue_size_max) || ops->queue_size_max > VDEV_VIRTQ_MAX_SIZE)
        return vdev_err_set(err, "virtio: queue size %u is not a power of two up to %u",
                            ops->queue_size_max, VDEV_VIRTQ_MAX_SIZE);
    if (ops->config_size > CONFIG_SIZE_MAX)
        return vdev_err_set(err, "virtio: configuration space of %u bytes (at most %u)",
                            ops->config_size, CONFIG_SIZE_MAX);
    if (ops->config_size && !ops->config_read)
        return vdev_err_set(err, "virtio: a configuration space needs a config_read hook");
    if (ops->features & RESERVED_FEATURES)
        return vdev_err_set(err,
                            "virtio: feature bits 0x%llx are transport features the core "
                            "does not implement",
                            (unsigned long long)(ops->features & RESERVED_FEATURES));
    return 0;
}

/* ---- stopping the device ---- */

/* Stops the device if it runs: no queue_kick after this begins, `stop` returns once the
 * device let go of the queues, then the mappings go. Caller holds vio->lock, which the
 * data path never takes, so `stop` may wait for the device's threads. */
static void stop_locked(struct vdev_virtio *vio)
{
    pthread_mutex_lock(&vio->kick_lock);
    bool was = atomic_exchange(&vio->started, false);
    pthread_mutex_unlock(&vio->kick_lock);
    if (was && vio->ops->stop)
        vio->ops->stop(vio->opaque);
    for (unsigned i = 0; i < vio->nq; i++)
        vdev_virtq_unmap(&vio->q[i]);
}

static void fail_ready(void *opaque, int fd)
{
    struct vdev_virtio *vio = opaque;
    uint64_t v;
    while (read(fd, &v, sizeof(v)) == sizeof(v))
        ;
    pthread_mutex_lock(&vio->lock);
    if (atomic_load(&vio->status) & VIRTIO_STATUS_NEEDS_RESET)
        stop_locked(vio);
    pthread_mutex_unlock(&vio->lock);
}

void vdev_virtio_fail(struct vdev_virtio *vio, const char *fmt, ...)
{
    /* Lock-free: the data thread calls this from inside pop, and `stop` may be waiting
     * for that thread while holding vio->lock. */
    for (unsigned i = 0; i < vio->nq; i++)
        atomic_store(&vio->q[i].broken, true);
    uint8_t old = atomic_fetch_or(&vio->status, VIRTIO_STATUS_NEEDS_RESET);
    if (atomic_exchange(&vio->logged, true))
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    vdev_log(vio->d, VDEV_LOG_ERROR, "virtio: %s; the device needs a reset", msg);
    /* §2.1.2: with DRIVER_OK set the driver hears of it through a config interrupt. */
    if ((old & VIRTIO_STATUS_DRIVER_OK) && TRANSPORT_HOOK(vio, notify_config))
        TRANSPORT_HOOK(vio, notify_config)(vio->t);
    /* Stop the device on the event thread; never here (we may be its data thread). */
    if (vio->fail_fd >= 0) {
        uint64_t one = 1;
        if (write(vio->fail_fd, &one, sizeof(one)) < 0) {
            /* saturated: a stop is pending already */
        }
    }
}

/* ---- life-cycle ---- */

static void queue_config_defaults(struct vdev_virtio *vio, struct vdev_virtq *q)
{
    memset(&q->cfg, 0, sizeof(q->cfg));
    q->cfg.size = vio->ops->queue_size_max;
}

static void kick_ready(void *opaque, int fd)
{
    struct vdev_virtq *q = opaque;
    struct vdev_virtio *vio = q->vio;
    uint64_t v;
    while (read(fd, &v, sizeof(v)) == sizeof(v))
        ;
    pthread_mutex_lock(&vio->kick_lock);
    if (atomic_load(&vio->started) && !atomic_load_explicit(&q->broken, memory_order_relaxed))
        vio->ops->queue_kick(vio->opaque, q->index);
    pthread_mutex_unlock(&vio->kick_lock);
}

/* With a queue_kick hook the core's event thread waits for the queue's kicks. */
static bool watch_kicks(struct vdev_virtq *q, struct vdev_err *err)
{
    if (!q->vio->ops->queue_kick)
        return true;
    q->watch = vdev_watch_fd(q->vio->d, q->kick_fd, kick_ready, q, err);
    return q->watch != NULL;
}

struct vdev_virtio *vdev_virtio_new(struct vdev *d, const struct vdev_virtio_ops *ops, void *opaque,
                                    struct vdev_err *err)
{
    struct vdev_err local;
    if (!err)
        err = &local;
    if (check_ops(ops, err))
        return NULL;
    struct vdev_virtio *vio = calloc(1, sizeof(*vio) + ops->num_queues * sizeof(vio->q[0]));
    if (!vio) {
        vdev_err_set(err, "out of memory");
        return NULL;
    }
    vio->d = d;
    vio->ops = ops;
    vio->opaque = opaque;
    vio->offered = ops->features | CORE_FEATURES;
    vio->nq = ops->num_queues;
    snprintf(vio->where, sizeof(vio->where), "no transport");
    pthread_mutex_init(&vio->lock, NULL);
    pthread_mutex_init(&vio->kick_lock, NULL);
    vio->fail_fd = -1;
    for (unsigned i = 0; i < vio->nq; i++) {
        struct vdev_virtq *q = &vio->q[i];
        q->vio = vio;
        q->index = i;
        q->kick_fd = -1;
        queue_config_defaults(vio, q);
    }
    /* From here a failure leaves vio on the machine's list, freed with it. */
    vio->next = d->m->virtios;
    d->m->virtios = vio;
    for (unsigned i = 0; i < vio->nq; i++) {
        if ((vio->q[i].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
            vdev_err_set(err, "%s: eventfd: %s", d->label, strerror(errno));
            return NULL;
        }
    }
    if ((vio->fail_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        vdev_err_set(err, "%s: eventfd: %s", d->label, strerror(errno));
        return NULL;
    }
    vio->fail_watch = vdev_watch_fd(d, vio->fail_fd, fail_ready, vio, err);
    if (!vio->fail_watch)
        return NULL;
    for (unsigned i = 0; i < vio->nq; i++)
        if (!watch_kicks(&vio->q[i], err))
            return NULL;
    return vio;
}

struct vdev_virtio *vdev_virtio_attach(struct vdev *d, const struct vdev_virtio_ops *ops,
                                       void *opaque, struct vdev_err *err)
{
    struct vdev_err local;
    if (!err)
        err = &local;
    struct vdev_virtio *vio = vdev_virtio_new(d, ops, opaque, err);
    if (!vio)
        return NULL;
    /* The transport registered for the kind of loc; a device without one goes on PCI. */
    const struct vdev_virtio_transport *t =
        vdev_virtio_transport_find(d->loc.kind == VDEV_LOC_NONE ? VDEV_LOC_PCI : d->loc.kind);
    int rc;
    if (t)
        rc = t->create(d, vio, err);
    else if (d->loc.kind == VDEV_LOC_IO)
        rc = vdev_err_set(err,
                          "%s: a virtio device sits on PCI or in memory space, not in I/O "
                          "space",
                          d->label);
    else /* a program linked the static libvdev without -u for the transports */
        rc = vdev_err_set(err,
                          "%s: libvdev has no virtio transport for its loc (linked without "
                          "the transports' symbols: see vdevkit.pc)",
                          d->label);
    /* On failure vio stays on the machine's list (the transport may have pointed doorbells
     * at it) and goes with the machine. */
    return rc ? NULL : vio;
}

static void virtio_free(struct vdev_virtio *vio)
{
    if (TRANSPORT_HOOK(vio, destroy))
        TRANSPORT_HOOK(vio, destroy)(vio->t);
    for (unsigned i = 0; i < vio->nq; i++) {
        vdev_unwatch_fd(vio->q[i].watch);
        if (vio->q[i].kick_fd >= 0)
            close(vio->q[i].kick_fd);
    }
    vdev_unwatch_fd(vio->fail_watch);
    if (vio->fail_fd >= 0)
        close(vio->fail_fd);
    pthread_mutex_destroy(&vio->lock);
    pthread_mutex_destroy(&vio->kick_lock);
    free(vio);
}

void vdev_virtio_free_all(struct vdev_machine *m)
{
    while (m->virtios) {
        struct vdev_virtio *vio = m->virtios;
        m->virtios = vio->next;
        virtio_free(vio);
    }
}

void vdev_virtio_reset(struct vdev_virtio *vio)
{
    pthread_mutex_lock(&vio->lock);
    stop_locked(vio);
    for (unsigned i = 0; i < vio->nq; i++) {
        struct vdev_virtq *q = &vio->q[i];
        queue_config_defaults(vio, q);
        atomic_store(&q->broken, false);
    }
    atomic_store(&vio->driver_features, 0);
    atomic_store(&vio->logged, false);
    atomic_store(&vio->status, 0);
    /* The generation survives: a driver comparing it across the reset must see a change
     * that happened meanwhile. */
    pthread_mutex_unlock(&vio->lock);
    if (TRANSPORT_HOOK(vio, reset))
        TRANSPORT_HOOK(vio, reset)(vio->t);
}

void vdev_virtio_reset_all(struct vdev_machine *m)
{
    for (struct vdev_virtio *vio = m->virtios; vio; vio = vio->next)
        vdev_virtio_reset(vio);
}

/* ---- transport binding and identity ---- */

void vdev_virtio_bind_transport(struct vdev_virtio *vio,
                                const struct vdev_virtio_transport_ops *ops, void *t,
                                const char *where)
{
    vio->tops = ops;
    vio->t = t;
    snprintf(vio->where, sizeof(vio->where), "%s", where ? where : "?");
}

void vdev_virtio_set_kick_fd(struct vdev_virtio *vio, unsigned q, int fd)
{
    if (q >= vio->nq)
        return;
    struct vdev_virtq *vq = &vio->q[q];
    pthread_mutex_lock(&vio->lock);
    if (fd != vq->kick_fd) {
        /* The device may hold our fd number already (its thread polls it from `configured`
         * on, while a transport may bind its doorbells only when the guest enables them):
         * make that number refer to the doorbell's eventfd. A kick pending on the old one
         * is passed on. */
        vdev_unwatch_fd(vq->watch);
        vq->watch = NULL;
        uint64_t pending = 0;
        if (read(vq->kick_fd, &pending, sizeof(pending)) < 0)
            pending = 0;
        int src = fd >= 0 ? fd : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (src < 0 || dup3(src, vq->kick_fd, O_CLOEXEC) < 0)
            vdev_log(vio->d, VDEV_LOG_ERROR, "virtio: queue %u: kick fd: %s", q, strerror(errno));
        if (fd < 0 && src >= 0)
            close(src);
        if (pending)
            vdev_virtio_kick(vio, q);
        struct vdev_err err;
        if (!watch_kicks(vq, &err))
            vdev_log(vio->d, VDEV_LOG_ERROR, "virtio: queue %u: %s", q, err.msg);
    }
    pthread_mutex_unlock(&vio->lock);
}

int vdev_virtio_kick_fd(struct vdev_virtio *vio, unsigned q)
{
    return q < vio->nq ? vio->q[q].kick_fd : -1;
}

void vdev_virtio_kick(struct vdev_virtio *vio, unsigned q)
{
    /* The same eventfd as the doorbell: the device cannot tell the two paths apart. */
    int fd = vdev_virtio_kick_fd(vio, q);
    uint64_t one = 1;
    if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is saturated, the kick is pending anyway */
    }
}

struct vdev *vdev_virtio_vdev(struct vdev_virtio *vio)
{
    return vio->d;
}

const struct vdev_virtio_ops *vdev_virtio_device_ops(const struct vdev_virtio *vio)
{
    return vio->ops;
}

unsigned vdev_virtio_num_queues(const struct vdev_virtio *vio)
{
    return vio->nq;
}

uint16_t vdev_virtio_queue_size_max(const struct vdev_virtio *vio)
{
    return vio->ops->queue_size_max;
}

const char *vdev_virtio_where(const struct vdev_virtio *vio)
{
    return vio->where;
}

/* ---- features ---- */

uint32_t vdev_virtio_device_features(const struct vdev_virtio *vio, uint32_t sel)
{
    return sel < 2 ? (uint32_t)(vio->offered >> (32 * sel)) : 0;
}

void vdev_virtio_set_driver_features(struct vdev_virtio *vio, uint32_t sel, uint32_t value)
{
    if (sel >= 2)
        return;
    pthread_mutex_lock(&vio->lock);
    if (!(atomic_load(&vio->status) & VIRTIO_STATUS_FEATURES_OK)) {
        unsigned shift = 32 * sel;
        uint64_t f = atomic_load(&vio->driver_features);
        f = (f & ~(0xffffffffull << shift)) | ((uint64_t)value << shift);
        atomic_store(&vio->driver_features, f & vio->offered);
    }
    pthread_mutex_unlock(&vio->lock);
}

uint32_t vdev_virtio_driver_features(const struct vdev_virtio *vio, uint32_t sel)
{
    return sel < 2 ? (uint32_t)(atomic_load(&vio->driver_features) >> (32 * sel)) : 0;
}

uint64_t vdev_virtio_features(const struct vdev_virtio *vio)
{
    return atomic_load_explicit(&vio->driver_features, memory_order_relaxed);
}

/* ---- the status state machine (§3.1.1) ---- */

uint8_t vdev_virtio_get_status(const struct vdev_virtio *vio)
{
    return atomic_load(&vio->status);
}

/* FEATURES_OK: the driver's set must include VERSION_1 (no legacy interface) and satisfy
 * the device. Refused: the bit stays clear and the driver reads that back. */
static bool features_acceptable(struct vdev_virtio *vio)
{
    uint64_t f = atomic_load(&vio->driver_features);
    if (!(f >> VIRTIO_F_VERSION_1 & 1)) {
        vdev_log(vio->d, VDEV_LOG_WARNING,
                 "virtio: the driver did not accept VERSION_1 (legacy drivers are not "
                 "supported); FEATURES_OK refused");
        return false;
    }
    if (vio->ops->features_ok && vio->ops->features_ok(vio->opaque, f)) {
        vdev_log(vio->d, VDEV_LOG_WARNING,
                 "virtio: the device refused features 0x%llx; FEATURES_OK refused",
                 (unsigned long long)f);
        return false;
    }
    return true;
}

/* DRIVER_OK: map every enabled queue, then start the device. Caller holds vio->lock. */
static void driver_ok(struct vdev_virtio *vio)
{
    uint64_t f = atomic_load(&vio->driver_features);
    for (unsigned i = 0; i < vio->nq; i++)
        if (!vdev_virtq_map(&vio->q[i], f))
            return; /* NEEDS_RESET is set; the device never starts */
    atomic_store(&vio->started, true);
    if (vio->ops->start)
        vio->ops->start(vio->opaque);
}

void vdev_virtio_set_status(struct vdev_virtio *vio, uint8_t status)
{
    if (status == 0) {
        vdev_virtio_reset(vio);
        return;
    }
    pthread_mutex_lock(&vio->lock);
    uint8_t old = atomic_load(&vio->status);
    /* Bits are only ever added until a reset; NEEDS_RESET is the device's to set. */
    uint8_t add = status & ~old & ~VIRTIO_STATUS_NEEDS_RESET;
    /* After NEEDS_RESET, or once the driver gave up (FAILED: the device was stopped and its
     * queues forgotten), nothing but a reset brings the device back: a later DRIVER_OK
     * would restart it on rings whose indices it lost. */
    if (old & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED))
        add &= VIRTIO_STATUS_FAILED;
    if (add & VIRTIO_STATUS_FEATURES_OK) {
        if (!(old & VIRTIO_STATUS_DRIVER) && !(add & VIRTIO_STATUS_DRIVER))
            add &= ~VIRTIO_STATUS_FEATURES_OK;
        else if (!features_acceptable(vio))
            add &= ~(VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
    }
    if ((add & VIRTIO_STATUS_DRIVER_OK) && !((old | add) & VIRTIO_STATUS_FEATURES_OK)) {
        add &= ~VIRTIO_STATUS_DRIVER_OK;
        atomic_fetch_or(&vio->status, add);
        vdev_virtio_fail(vio, "DRIVER_OK without FEATURES_OK");
        pthread_mutex_unlock(&vio->lock);
        return;
    }
    atomic_fetch_or(&vio->status, add);
    if ((add & VIRTIO_STATUS_DRIVER_OK) && !(add & VIRTIO_STATUS_FAILED))
        driver_ok(vio);
    if (add & VIRTIO_STATUS_FAILED)
        stop_locked(vio); /* the driver gave up on the device */
    pthread_mutex_unlock(&vio->lock);
}

/* ---- queue configuration ---- */

struct vdev_virtq_config *vdev_virtio_queue_config(struct vdev_virtio *vio, unsigned q)
{
    /* After DRIVER_OK (or for a queue that does not exist) the transport gets a copy to
     * read from and write into; the queue itself no longer changes. */
    pthread_mutex_lock(&vio->lock);
    struct vdev_virtq_config *c;
    if (q >= vio->nq) {
        c = &vio->dummy;
        memset(c, 0, sizeof(*c));
    } else if (atomic_load(&vio->status) & VIRTIO_STATUS_DRIVER_OK) {
        c = &vio->q[q].frozen;
        *c = vio->q[q].cfg;
    } else {
        c = &vio->q[q].cfg;
    }
    pthread_mutex_unlock(&vio->lock);
    return c;
}

bool vdev_virtio_set_queue_size(struct vdev_virtio *vio, unsigned q, uint32_t size)
{
    if (q >= vio->nq || !is_pow2(size) || size > vio->ops->queue_size_max)
        return false;
    pthread_mutex_lock(&vio->lock);
    bool ok = !(atomic_load(&vio->status) & VIRTIO_STATUS_DRIVER_OK);
    if (ok)
        vio->q[q].cfg.size = (uint16_t)size;
    pthread_mutex_unlock(&vio->lock);
    return ok;
}

struct vdev_virtq *vdev_virtio_queue(struct vdev_virtio *vio, unsigned q)
{
    return q < vio->nq ? &vio->q[q] : NULL;
}

/* ---- device configuration space ---- */

static bool config_in_range(const struct vdev_virtio *vio, uint32_t off, unsigned size)
{
    uint32_t cs = vio->ops->config_size;
    return (size == 1 || size == 2 || size == 4 || size == 8) && off <= cs && size <= cs - off;
}

uint64_t vdev_virtio_config_read(struct vdev_virtio *vio, uint32_t off, unsigned size)
{
    uint64_t v = 0; /* little-endian host: the low `size` bytes are the value */
    if (config_in_range(vio, off, size))
        vio->ops->config_read(vio->opaque, off, &v, size);
    return v;
}

void vdev_virtio_config_write(struct vdev_virtio *vio, uint32_t off, unsigned size, uint64_t v)
{
    if (config_in_range(vio, off, size) && vio->ops->config_write)
        vio->ops->config_write(vio->opaque, off, &v, size);
}

uint32_t vdev_virtio_config_generation(const struct vdev_virtio *vio)
{
    return atomic_load(&vio->generation);
}

void vdev_virtio_config_changed(struct vdev_virtio *vio)
{
    atomic_fetch_add(&vio->generation, 1);
    if ((atomic_load(&vio->status) & VIRTIO_STATUS_DRIVER_OK) && TRANSPORT_HOOK(vio, notify_config))
        TRANSPORT_HOOK(vio, notify_config)(vio->t);
}
