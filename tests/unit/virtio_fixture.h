/* Shared by the virtio core tests: a machine with a tiny virtio device type ("vtest") bound
 * to a fake transport that counts interrupts, and a synthetic driver that builds split
 * rings in the fake guest RAM. Included by one test file each (static functions). */
#ifndef VIRTIO_FIXTURE_H
#define VIRTIO_FIXTURE_H

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <vdev/virtio_transport.h>

#include "fake_embedder.h"

#define VT_QUEUES   2
#define VT_QMAX     8
#define VT_CFG_SIZE 12

/* Guest-physical layout of queue 0 (RAM is 1M at 0). */
#define VT_DESC  0x10000ull
#define VT_AVAIL 0x11000ull
#define VT_USED  0x12000ull
#define VT_BUF   0x20000ull /* data buffers from here */
#define VT_INDIR 0x30000ull /* indirect tables */

struct vt_transport {
    atomic_uint notify_queue[VT_QUEUES];
    atomic_uint notify_config;
    unsigned resets;
};

struct vt_dev {
    struct vdev_virtio *vio;
    struct vt_transport t;
    int kick_fd[VT_QUEUES];
    atomic_uint starts, stops, kicks[VT_QUEUES];
    bool refuse_features;
    uint64_t features_seen;
    uint8_t config[VT_CFG_SIZE];
    unsigned config_writes;
    void (*on_stop)(struct vt_dev *v); /* a test's hook: join its data thread */
};

static inline void vt_notify_queue(void *t, unsigned q)
{
    struct vt_transport *vt = t;
    if (q < VT_QUEUES)
        atomic_fetch_add(&vt->notify_queue[q], 1);
}

static inline void vt_notify_config(void *t)
{
    struct vt_transport *vt = t;
    atomic_fetch_add(&vt->notify_config, 1);
}

static inline void vt_reset(void *t)
{
    struct vt_transport *vt = t;
    vt->resets++;
}

static const struct vdev_virtio_transport_ops vt_transport_ops = {
    .size = sizeof(struct vdev_virtio_transport_ops),
    .notify_queue = vt_notify_queue,
    .notify_config = vt_notify_config,
    .reset = vt_reset};

static inline void vt_config_read(void *opaque, uint32_t off, void *buf, uint32_t len)
{
    struct vt_dev *v = opaque;
    ck_assert_uint_le(off + len, VT_CFG_SIZE);
    memcpy(buf, v->config + off, len);
}

static inline void vt_config_write(void *opaque, uint32_t off, const void *buf, uint32_t len)
{
    struct vt_dev *v = opaque;
    ck_assert_uint_le(off + len, VT_CFG_SIZE);
    memcpy(v->config + off, buf, len);
    v->config_writes++;
}

static inline int vt_features_ok(void *opaque, uint64_t f)
{
    struct vt_dev *v = opaque;
    v->features_seen = f;
    return v->refuse_features ? -1 : 0;
}

static inline void vt_start(void *opaque)
{
    struct vt_dev *v = opaque;
    atomic_fetch_add(&v->starts, 1);
}

static inline void vt_stop(void *opaque)
{
    struct vt_dev *v = opaque;
    if (v->on_stop)
        v->on_stop(v);
    atomic_fetch_add(&v->stops, 1);
}

static inline void vt_queue_kick(void *opaque, unsigned q)
{
    struct vt_dev *v = opaque;
    atomic_fetch_add(&v->kicks[q], 1);
}

#define VT_DEVICE_FEATURES (1ull << 5 | 1ull << 23 | 1ull << 63) /* arbitrary device bits */

static const struct vdev_virtio_ops vt_ops = {
    .size = sizeof(struct vdev_virtio_ops),
    .device_id = 42,
    .features = VT_DEVICE_FEATURES,
    .num_queues = VT_QUEUES,
    .queue_size_max = VT_QMAX,
    .config_size = VT_CFG_SIZE,
    .config_read = vt_config_read,
    .config_write = vt_config_write,
    .features_ok = vt_features_ok,
    .start = vt_start,
    .stop = vt_stop,
    .queue_kick = vt_queue_kick,
};

static inline int vt_assign(struct vdev *d)
{
    struct vt_dev *v = vdev_state(d);
    struct vdev_err err;
    v->vio = vdev_virtio_new(d, &vt_ops, v, &err);
    if (!v->vio)
        return vdev_error(d, vdev_pos(d), NULL, "%s", err.msg);
    vdev_virtio_bind_transport(v->vio, &vt_transport_ops, &v->t, "fake 1");
    for (unsigned q = 0; q < VT_QUEUES; q++) {
        v->kick_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        vdev_virtio_set_kick_fd(v->vio, q, v->kick_fd[q]);
    }
    return 0;
}

static inline void vt_terminate(struct vdev *d)
{
    struct vt_dev *v = vdev_state(d);
    for (unsigned q = 0; q < VT_QUEUES; q++)
        if (v->kick_fd[q] > 0)
            close(v->kick_fd[q]);
}

static const struct vdev_type vt_type = {
    .abi_version = VDEV_ABI_VERSION,
    .type_size = sizeof(struct vdev_type),
    .name = "vtest",
    .state_size = sizeof(struct vt_dev),
    .places = VDEV_PLACE_MEM,
    .assign = vt_assign,
    .terminate = vt_terminate,
};

static struct fake_embedder fe;
static struct vdev *dev;
static struct vt_dev *vt;
static struct vdev_virtio *vio;

static inline void vt_build(void)
{
    struct vdev_err err;
    vdev_register_type(&vt_type, &err); /* once per process; later calls are duplicates */
    fake_machine_new(&fe);
    if (fake_machine_build_string(&fe, "ram 1M vdev vtest loc 0xd0000000", &err))
        ck_abort_msg("%s", err.msg);
    dev = vdev_machine_device(fe.m, 0);
    vt = vdev_state(dev);
    vio = vt->vio;
}

static inline void vt_free(void)
{
    fake_machine_free(&fe);
}

/* ---- the synthetic driver ---- */

static inline void *gpa(uint64_t a)
{
    return (uint8_t *)fe.ram[0] + a;
}

static inline unsigned count_log(const char *what)
{
    unsigned n = 0;
    for (const char *p = fe.log; (p = strstr(p, what)); p++)
        n++;
    return n;
}

/* ACKNOWLEDGE, DRIVER, features, FEATURES_OK: returns the status read back. */
static inline uint8_t drv_negotiate(uint64_t features)
{
    vdev_virtio_set_status(vio, VIRTIO_STATUS_ACKNOWLEDGE);
    vdev_virtio_set_status(vio, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    vdev_virtio_set_driver_features(vio, 0, (uint32_t)features);
    vdev_virtio_set_driver_features(vio, 1, (uint32_t)(features >> 32));
    vdev_virtio_set_status(vio, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                    VIRTIO_STATUS_FEATURES_OK);
    return vdev_virtio_get_status(vio);
}

static inline void drv_queue(unsigned q, uint16_t size, uint64_t desc, uint64_t avail,
                             uint64_t used)
{
    struct vdev_virtq_config *c = vdev_virtio_queue_config(vio, q);
    c->size = size;
    c->desc = desc;
    c->driver = avail;
    c->device = used;
    c->enabled = true;
}

static inline void drv_driver_ok(void)
{
    vdev_virtio_set_status(vio, vdev_virtio_get_status(vio) | VIRTIO_STATUS_DRIVER_OK);
}

/* Queue 0 at the usual place, with `features` (VERSION_1 added), running. */
static inline void drv_start(uint64_t features, uint16_t size)
{
    memset(gpa(VT_DESC), 0, 0x3000);
    drv_negotiate(features | 1ull << VIRTIO_F_VERSION_1);
    drv_queue(0, size, VT_DESC, VT_AVAIL, VT_USED);
    drv_driver_ok();
}

struct drv_buf {
    uint64_t addr;
    uint32_t len;
    uint16_t flags; /* VRING_DESC_F_WRITE = 2, INDIRECT = 4 */
};

/* Writes descriptors [first, first+n) as one chain (NEXT links added). */
static inline void drv_descs(uint64_t table, unsigned first, const struct drv_buf *b, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint8_t *d = gpa(table + 16 * (first + i));
        uint16_t flags = b[i].flags | (i + 1 < n ? 1 : 0);
        uint16_t next = (uint16_t)(first + i + 1);
        memcpy(d, &b[i].addr, 8);
        memcpy(d + 8, &b[i].len, 4);
        memcpy(d + 12, &flags, 2);
        memcpy(d + 14, &next, 2);
    }
}

static inline uint16_t *avail_idx(void)
{
    return (uint16_t *)gpa(VT_AVAIL + 2);
}

/* Makes head available on queue 0 (ring of `size`). */
static inline void drv_publish(uint16_t head, uint16_t size)
{
    uint16_t idx = *avail_idx();
    uint16_t *ring = (uint16_t *)gpa(VT_AVAIL + 4);
    ring[idx % size] = head;
    __atomic_store_n(avail_idx(), (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

static inline uint16_t used_idx(void)
{
    return __atomic_load_n((uint16_t *)gpa(VT_USED + 2), __ATOMIC_ACQUIRE);
}

static inline void used_elem(unsigned i, uint32_t *id, uint32_t *len)
{
    memcpy(id, gpa(VT_USED + 4 + 8 * i), 4);
    memcpy(len, gpa(VT_USED + 8 + 8 * i), 4);
}

#endif
