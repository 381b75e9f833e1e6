/* virtio-net tests' shared fixture: a fake transport bound instead of virtio-pci (it counts
 * interrupts and hands out the kick eventfds) and a synthetic virtio driver with its rings in
 * the fake guest RAM, for NICs in machines of this process (test_net_link, test_net_capture,
 * test_net_peer). Include it once, after the module's headers. */
#ifndef VDEVKIT_TEST_NET_FIXTURE_H
#define VDEVKIT_TEST_NET_FIXTURE_H

#include <check.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <vdev/virtio_transport.h>

#include "fake_embedder.h"
#include "net.h"
#include "netpeer/net_offload.h"

#define NET_FIXTURE_UNUSED __attribute__((unused)) /* not every test uses every helper */

extern const struct vdev_type vdev_module_virtio_net;

/* ---- a fake transport, bound instead of virtio-pci ---- */

struct fake_transport {
    atomic_uint notify_queue[NET_NUM_QUEUES];
    atomic_uint notify_config;
    int kick[NET_NUM_QUEUES];
    struct vdev_virtio *vio;
};
static NET_FIXTURE_UNUSED struct fake_transport transports[4];
static NET_FIXTURE_UNUSED unsigned ntransports;

static NET_FIXTURE_UNUSED void ft_notify_queue(void *t, unsigned q)
{
    struct fake_transport *ft = t;
    if (q < NET_NUM_QUEUES)
        atomic_fetch_add(&ft->notify_queue[q], 1);
}
static NET_FIXTURE_UNUSED void ft_notify_config(void *t)
{
    struct fake_transport *ft = t;
    atomic_fetch_add(&ft->notify_config, 1);
}
static NET_FIXTURE_UNUSED void ft_reset(void *t)
{
    (void)t;
}
static const struct vdev_virtio_transport_ops ft_ops = {
    .size = sizeof(struct vdev_virtio_transport_ops),
    .notify_queue = ft_notify_queue,
    .notify_config = ft_notify_config,
    .reset = ft_reset};

static NET_FIXTURE_UNUSED struct vdev_virtio *
fake_attach(struct vdev *d, const struct vdev_virtio_ops *ops, void *opaque, struct vdev_err *err)
{
    struct vdev_virtio *vio = vdev_virtio_new(d, ops, opaque, err);
    if (!vio)
        return NULL;
    ck_assert_uint_lt(ntransports, 4);
    struct fake_transport *ft = &transports[ntransports++];
    memset(ft, 0, sizeof(*ft));
    ft->vio = vio;
    vdev_virtio_bind_transport(vio, &ft_ops, ft, "fake 0");
    /* Like virtio-pci, the doorbells (kick fds) appear only when the driver gets going
     * (drv_start), after the device's thread started. */
    for (unsigned q = 0; q < NET_NUM_QUEUES; q++)
        ft->kick[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return vio;
}

static NET_FIXTURE_UNUSED void close_transports(void)
{
    for (unsigned i = 0; i < ntransports; i++)
        for (unsigned q = 0; q < NET_NUM_QUEUES; q++)
            if (transports[i].kick[q] > 0)
                close(transports[i].kick[q]);
}

static NET_FIXTURE_UNUSED struct fake_transport *transport_of(struct vdev_virtio *vio)
{
    for (unsigned i = ntransports; i-- > 0;) /* newest first: a freed vio's address returns */
        if (transports[i].vio == vio)
            return &transports[i];
    ck_abort_msg("no transport");
    return NULL;
}

/* ---- a synthetic driver ---- */

#define QBASE   0x10000ull /* queue q: desc at QBASE + q * 0x4000, avail +0x1000, used +0x2000 */
#define BUFBASE 0x100000ull
#define QSIZE   256u
#define F_NEXT  1u
#define F_WRITE 2u

struct drvq {
    uint64_t desc, avail, used;
    uint16_t avail_idx, used_seen, next_desc;
};

struct drv {
    struct fake_embedder fe;
    struct vdev *d;
    struct net *n;
    struct vdev_virtio *vio;
    struct fake_transport *ft;
    struct drvq q[NET_NUM_QUEUES];
    uint64_t buf_next;
    uint64_t features; /* negotiated (drv_start) */
    bool polite;       /* kick only when the device asks (else after every chain) */
};

static NET_FIXTURE_UNUSED char rundir[64];

static NET_FIXTURE_UNUSED uint8_t *gpa(struct drv *v, uint64_t a)
{
    return (uint8_t *)v->fe.ram[0] + a;
}

static NET_FIXTURE_UNUSED uint64_t alloc_buf(struct drv *v, size_t len)
{
    uint64_t a = v->buf_next;
    v->buf_next += (len + 63) & ~63ull;
    ck_assert_uint_lt(v->buf_next, 0x800000);
    return a;
}

static NET_FIXTURE_UNUSED void machine_up(struct drv *v, const char *system, const char *name,
                                          const char *peer, const char *extra)
{
    char cfg[512];
    snprintf(cfg, sizeof(cfg),
             "system %s ram 8M vdev virtio-net loc 0xd0000000 intr ioapic:5 name %s peer %s/%s %s",
             system, name, rundir, peer, extra ? extra : "");
    struct vdev_err err = {0};
    memset(&v->fe, 0, sizeof(v->fe));
    fake_machine_new(&v->fe);
    if (fake_machine_build_string(&v->fe, cfg, &err))
        ck_abort_msg("%s", err.msg);
    v->d = vdev_machine_device(v->fe.m, 0);
    v->n = vdev_state(v->d);
    v->vio = v->n->vio;
    v->ft = transport_of(v->vio);
    v->buf_next = BUFBASE;
}

static NET_FIXTURE_UNUSED void machine_down(struct drv *v)
{
    fake_machine_free(&v->fe);
    v->fe.m = NULL;
}

/* Negotiates `features` (+VERSION_1), sets up the three queues, DRIVER_OK. */
static NET_FIXTURE_UNUSED void drv_start(struct drv *v, uint64_t features)
{
    for (unsigned q = 0; q < NET_NUM_QUEUES; q++)
        vdev_virtio_set_kick_fd(v->vio, q, v->ft->kick[q]);
    vdev_virtio_set_status(v->vio, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    features |= 1ull << VIRTIO_F_VERSION_1;
    v->features = features;
    vdev_virtio_set_driver_features(v->vio, 0, (uint32_t)features);
    vdev_virtio_set_driver_features(v->vio, 1, (uint32_t)(features >> 32));
    vdev_virtio_set_status(v->vio, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                       VIRTIO_STATUS_FEATURES_OK);
    ck_assert(vdev_virtio_get_status(v->vio) & VIRTIO_STATUS_FEATURES_OK);
    for (unsigned q = 0; q < NET_NUM_QUEUES; q++) {
        struct drvq *dq = &v->q[q];
        memset(dq, 0, sizeof(*dq));
        dq->desc = QBASE + q * 0x4000ull;
        dq->avail = dq->desc + 0x1000;
        dq->used = dq->desc + 0x2000;
        memset(gpa(v, dq->desc), 0, 0x4000);
        ck_assert(vdev_virtio_set_queue_size(v->vio, q, QSIZE));
        struct vdev_virtq_config *c = vdev_virtio_queue_config(v->vio, q);
        c->desc = dq->desc;
        c->driver = dq->avail;
        c->device = dq->used;
        c->enabled = true;
    }
    vdev_virtio_set_status(v->vio, vdev_virtio_get_status(v->vio) | VIRTIO_STATUS_DRIVER_OK);
    ck_assert(vdev_virtio_get_status(v->vio) & VIRTIO_STATUS_DRIVER_OK);
}

struct dbuf {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
};

/* Makes one chain available and kicks. Returns its head. */
static NET_FIXTURE_UNUSED uint16_t drv_add(struct drv *v, unsigned q, const struct dbuf *b,
                                           unsigned n)
{
    struct drvq *dq = &v->q[q];
    uint16_t head = dq->next_desc % QSIZE;
    for (unsigned i = 0; i < n; i++) {
        uint16_t idx = (uint16_t)((head + i) % QSIZE);
        uint8_t *d = gpa(v, dq->desc + 16u * idx);
        uint16_t flags = (uint16_t)(b[i].flags | (i + 1 < n ? F_NEXT : 0));
        uint16_t next = (uint16_t)((idx + 1) % QSIZE);
        memcpy(d, &b[i].addr, 8);
        memcpy(d + 8, &b[i].len, 4);
        memcpy(d + 12, &flags, 2);
        memcpy(d + 14, &next, 2);
    }
    dq->next_desc = (uint16_t)(dq->next_desc + n);
    uint16_t *ring = (uint16_t *)gpa(v, dq->avail + 4);
    ring[dq->avail_idx % QSIZE] = head;
    dq->avail_idx++;
    __atomic_store_n((uint16_t *)gpa(v, dq->avail + 2), dq->avail_idx, __ATOMIC_RELEASE);
    if (v->polite) {
        /* As Linux: publish, full barrier, then read what the device asked for. */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        uint16_t old = (uint16_t)(dq->avail_idx - 1);
        bool kick;
        if (v->features >> VIRTIO_F_EVENT_IDX & 1) {
            uint16_t ev =
                __atomic_load_n((uint16_t *)gpa(v, dq->used + 4 + 8u * QSIZE), __ATOMIC_RELAXED);
            kick = (uint16_t)(dq->avail_idx - ev - 1) < (uint16_t)(dq->avail_idx - old);
        } else {
            kick = !(__atomic_load_n((uint16_t *)gpa(v, dq->used), __ATOMIC_RELAXED) & 1);
        }
        if (!kick)
            return head;
    }
    uint64_t one = 1;
    ck_assert_int_eq(write(v->ft->kick[q], &one, 8), 8);
    return head;
}

/* Writes the driver's used_event (EVENT_IDX): interrupt once the used index passes it. */
static NET_FIXTURE_UNUSED void drv_used_event(struct drv *v, unsigned q, uint16_t ev)
{
    __atomic_store_n((uint16_t *)gpa(v, v->q[q].avail + 4 + 2u * QSIZE), ev, __ATOMIC_RELEASE);
}

/* Waits for the next used entry of queue q. */
static NET_FIXTURE_UNUSED bool drv_used(struct drv *v, unsigned q, uint32_t *id, uint32_t *len,
                                        int timeout_ms)
{
    struct drvq *dq = &v->q[q];
    for (int t = 0; t <= timeout_ms; t++) {
        uint16_t idx = __atomic_load_n((uint16_t *)gpa(v, dq->used + 2), __ATOMIC_ACQUIRE);
        if (idx != dq->used_seen) {
            uint8_t *e = gpa(v, dq->used + 4 + 8u * (dq->used_seen % QSIZE));
            memcpy(id, e, 4);
            memcpy(len, e + 4, 4);
            dq->used_seen++;
            return true;
        }
        usleep(1000);
    }
    return false;
}

/* Posts `count` receive buffers of `size` bytes; returns the address of the first. */
static NET_FIXTURE_UNUSED uint64_t drv_post_rx(struct drv *v, unsigned count, uint32_t size)
{
    uint64_t first = 0;
    for (unsigned i = 0; i < count; i++) {
        struct dbuf b = {alloc_buf(v, size), size, F_WRITE};
        if (!i)
            first = b.addr;
        drv_add(v, NET_Q_RX, &b, 1);
    }
    return first;
}

/* Sends header + frame (copied to guest addresses ha, fa) as a two-descriptor chain and
 * waits for it to be used. */
static NET_FIXTURE_UNUSED void drv_send_at(struct drv *v, uint64_t ha, uint64_t fa,
                                           const struct net_hdr *h, const uint8_t *frame,
                                           size_t len)
{
    net_hdr_store(h, gpa(v, ha));
    memcpy(gpa(v, fa), frame, len);
    struct dbuf b[2] = {{ha, NET_HDR_LEN, 0}, {fa, (uint32_t)len, 0}};
    uint16_t head = drv_add(v, NET_Q_TX, b, 2);
    uint32_t id, ulen;
    ck_assert_msg(drv_used(v, NET_Q_TX, &id, &ulen, 5000), "tx chain never used");
    ck_assert_uint_eq(id, head);
}

static NET_FIXTURE_UNUSED void drv_send(struct drv *v, const struct net_hdr *h,
                                        const uint8_t *frame, size_t len)
{
    drv_send_at(v, alloc_buf(v, NET_HDR_LEN), alloc_buf(v, len), h, frame, len);
}

/* A control command; returns the ack byte. */
static NET_FIXTURE_UNUSED uint8_t drv_ctrl(struct drv *v, uint8_t cls, uint8_t cmd,
                                           const void *data, size_t len)
{
    uint64_t ca = alloc_buf(v, 2 + len), aa = alloc_buf(v, 1);
    uint8_t *c = gpa(v, ca);
    c[0] = cls;
    c[1] = cmd;
    memcpy(c + 2, data, len);
    *gpa(v, aa) = 0xee;
    struct dbuf b[2] = {{ca, (uint32_t)(2 + len), 0}, {aa, 1, F_WRITE}};
    drv_add(v, NET_Q_CTRL, b, 2);
    uint32_t id, ulen;
    ck_assert(drv_used(v, NET_Q_CTRL, &id, &ulen, 5000));
    ck_assert_uint_eq(ulen, 1);
    return *gpa(v, aa);
}

static NET_FIXTURE_UNUSED bool wait_link(struct drv *v, bool up)
{
    for (int i = 0; i < 10000; i++) {
        if (atomic_load(&v->n->link_up) == up)
            return true;
        usleep(1000);
    }
    return false;
}

static NET_FIXTURE_UNUSED uint16_t cfg_status(struct drv *v)
{
    return (uint16_t)vdev_virtio_config_read(v->vio, NET_CFG_STATUS, 2);
}

static NET_FIXTURE_UNUSED void mac_of(struct drv *v, uint8_t mac[6])
{
    for (unsigned i = 0; i < 6; i++)
        mac[i] = (uint8_t)vdev_virtio_config_read(v->vio, NET_CFG_MAC + i, 1);
}

/* A UDP/IPv4 frame to `dst` with `payload` bytes. */
static NET_FIXTURE_UNUSED size_t udp_frame(uint8_t *f, const uint8_t dst[6], const uint8_t src[6],
                                           size_t payload)
{
    memset(f, 0, 14 + 28 + payload);
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    net_put_be16(f + 12, ETH_P_IP);
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    net_put_be16(ip + 2, (uint16_t)(28 + payload));
    ip[8] = 64;
    ip[9] = 17;
    memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
    net_put_be16(ip + 10, net_csum_fold(net_csum_add(0, ip, 20)));
    uint8_t *udp = ip + 20;
    net_put_be16(udp, 1000);
    net_put_be16(udp + 2, 2000);
    net_put_be16(udp + 4, (uint16_t)(8 + payload));
    for (size_t i = 0; i < payload; i++)
        udp[8 + i] = (uint8_t)(i ^ 0x5a);
    return 14 + 28 + payload;
}

static NET_FIXTURE_UNUSED bool fake_transport_on;

/* Replaces the module's net_attach.c (link-time: the module is linked as an archive). */
struct vdev_virtio *net_virtio_attach(struct vdev *d, const struct vdev_virtio_ops *ops,
                                      void *opaque, struct vdev_err *err)
{
    if (!fake_transport_on)
        return vdev_virtio_attach(d, ops, opaque, err);
    return fake_attach(d, ops, opaque, err);
}

static NET_FIXTURE_UNUSED void use_fake_transport(void)
{
    struct vdev_err err;
    vdev_register_type(&vdev_module_virtio_net, &err); /* later calls: duplicates, ignored */
    fake_transport_on = true;
    ntransports = 0;
}

#endif
