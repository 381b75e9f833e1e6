/* A synthetic virtio-net guest for NICs in machines of this process, shared by the device's
 * white-box tests (through net_fixture.h) and bench_net_path: a fake transport bound instead
 * of virtio-pci (the kick eventfds are the doorbells, as KVM's ioeventfds; each queue's
 * interrupt is counted and signals an eventfd, as KVM's irqfd) and the parts of a virtio
 * driver whose rings lie in the fake guest RAM. Include it once, after the module's headers
 * (net.h); link the module's whitebox archive, which this replaces net_attach.c of.
 *
 * Check-free, so a benchmark can use it: a broken expectation calls NET_GUEST_FAIL (define
 * it before including; the tests use ck_abort_msg), by default it prints and aborts. */
#ifndef VDEVKIT_NET_GUEST_H
#define VDEVKIT_NET_GUEST_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <vdev/virtio_transport.h>

#include "fake_embedder.h"
#include "net.h"
#include "netpeer/net_offload.h"

#define NET_GUEST_UNUSED __attribute__((unused)) /* not every user uses every helper */

#ifndef NET_GUEST_FAIL
#define NET_GUEST_FAIL(...)                                                                        \
    do {                                                                                           \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        abort();                                                                                   \
    } while (0)
#endif
#define NET_GUEST_CHECK(cond, ...)                                                                 \
    do {                                                                                           \
        if (!(cond))                                                                               \
            NET_GUEST_FAIL(__VA_ARGS__);                                                           \
    } while (0)

extern const struct vdev_type vdev_module_virtio_net;

/* ---- a fake transport, bound instead of virtio-pci ---- */

#define NET_GUEST_TRANSPORTS 4

/* Queues are indexed as the device has them: rx0 tx0 (rx1 tx1 ... with `queues N`) ctrl. */
struct fake_transport {
    atomic_uint notify_queue[NET_MAX_VQS];
    atomic_uint notify_config;
    int kick[NET_MAX_VQS];
    int irq[NET_MAX_VQS]; /* signalled with each queue interrupt, as an irqfd */
    unsigned nq;
    struct vdev_virtio *vio;
};
static NET_GUEST_UNUSED struct fake_transport transports[NET_GUEST_TRANSPORTS];
static NET_GUEST_UNUSED unsigned ntransports;

static NET_GUEST_UNUSED void ft_notify_queue(void *t, unsigned q)
{
    struct fake_transport *ft = t;
    if (q >= ft->nq)
        return;
    atomic_fetch_add(&ft->notify_queue[q], 1);
    uint64_t one = 1;
    if (write(ft->irq[q], &one, sizeof(one)) < 0) {
        /* a saturated counter still reads as readable */
    }
}
static NET_GUEST_UNUSED void ft_notify_config(void *t)
{
    struct fake_transport *ft = t;
    atomic_fetch_add(&ft->notify_config, 1);
}
static NET_GUEST_UNUSED void ft_reset(void *t)
{
    (void)t;
}
static const struct vdev_virtio_transport_ops ft_ops = {
    .size = sizeof(struct vdev_virtio_transport_ops),
    .notify_queue = ft_notify_queue,
    .notify_config = ft_notify_config,
    .reset = ft_reset};

static NET_GUEST_UNUSED struct vdev_virtio *
fake_attach(struct vdev *d, const struct vdev_virtio_ops *ops, void *opaque, struct vdev_err *err)
{
    struct vdev_virtio *vio = vdev_virtio_new(d, ops, opaque, err);
    if (!vio)
        return NULL;
    NET_GUEST_CHECK(ntransports < NET_GUEST_TRANSPORTS, "more than %d fake transports",
                    NET_GUEST_TRANSPORTS);
    struct fake_transport *ft = &transports[ntransports++];
    memset(ft, 0, sizeof(*ft));
    ft->vio = vio;
    vdev_virtio_bind_transport(vio, &ft_ops, ft, "fake 0");
    /* Like virtio-pci, the doorbells (kick fds) appear only when the driver gets going
     * (drv_start), after the device's thread started. */
    ft->nq = vdev_virtio_num_queues(vio);
    for (unsigned q = 0; q < ft->nq; q++) {
        ft->kick[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        ft->irq[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    }
    return vio;
}

static NET_GUEST_UNUSED void close_transports(void)
{
    for (unsigned i = 0; i < ntransports; i++)
        for (unsigned q = 0; q < transports[i].nq; q++) {
            if (transports[i].kick[q] > 0)
                close(transports[i].kick[q]);
            if (transports[i].irq[q] > 0)
                close(transports[i].irq[q]);
        }
}

static NET_GUEST_UNUSED struct fake_transport *transport_of(struct vdev_virtio *vio)
{
    for (unsigned i = ntransports; i-- > 0;) /* newest first: a freed vio's address returns */
        if (transports[i].vio == vio)
            return &transports[i];
    NET_GUEST_FAIL("no transport");
    return NULL;
}

static NET_GUEST_UNUSED bool fake_transport_on;

/* Replaces the module's net_attach.c (link-time: the module is linked as an archive). */
struct vdev_virtio *net_virtio_attach(struct vdev *d, const struct vdev_virtio_ops *ops,
                                      void *opaque, struct vdev_err *err)
{
    if (!fake_transport_on)
        return vdev_virtio_attach(d, ops, opaque, err);
    return fake_attach(d, ops, opaque, err);
}

static NET_GUEST_UNUSED void use_fake_transport(void)
{
    struct vdev_err err;
    vdev_register_type(&vdev_module_virtio_net, &err); /* later calls: duplicates, ignored */
    fake_transport_on = true;
    ntransports = 0;
}

/* ---- the driver's machine and rings ---- */

#define QBASE 0x10000ull /* queue q: desc at QBASE + q * 0x4000, avail +0x1000, used +0x2000 */
_Static_assert(QBASE + NET_MAX_VQS * 0x4000ull <= 0x100000ull, "queues below BUFBASE");
#define BUFBASE 0x100000ull
#define QSIZE   256u
#define F_NEXT  1u
#define F_WRITE 2u
#define F_INDIR 4u

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
    struct drvq q[NET_MAX_VQS];
    unsigned nq;    /* the device's queues (2 * `queues` + 1) */
    unsigned ctrlq; /* the control queue in the layout the features give (drv_start) */
    uint64_t buf_next, ram_size;
    uint64_t features; /* negotiated (drv_start) */
    bool polite;       /* drv_add kicks only when the device asks (else after every chain) */
};

static NET_GUEST_UNUSED char rundir[64];

static NET_GUEST_UNUSED uint8_t *gpa(struct drv *v, uint64_t a)
{
    return (uint8_t *)v->fe.ram[0] + a;
}

static NET_GUEST_UNUSED uint64_t alloc_buf(struct drv *v, size_t len)
{
    uint64_t a = v->buf_next;
    v->buf_next += (len + 63) & ~63ull;
    NET_GUEST_CHECK(v->buf_next < v->ram_size, "guest RAM (%llu bytes) is full",
                    (unsigned long long)v->ram_size);
    return a;
}

/* Takes the machine v->fe built (its first device a NIC, `ram_mb` MiB of RAM at 0). */
static NET_GUEST_UNUSED void drv_adopt(struct drv *v, unsigned ram_mb)
{
    v->d = vdev_machine_device(v->fe.m, 0);
    v->n = vdev_state(v->d);
    v->vio = v->n->vio;
    v->ft = transport_of(v->vio);
    v->buf_next = BUFBASE;
    v->ram_size = (uint64_t)ram_mb << 20;
}

/* A machine with `ram_mb` MiB of RAM and one NIC `name` whose peer is RUNDIR/peer. */
static NET_GUEST_UNUSED void machine_up_ram(struct drv *v, unsigned ram_mb, const char *system,
                                            const char *name, const char *peer, const char *extra)
{
    char cfg[512];
    snprintf(cfg, sizeof(cfg),
             "system %s ram %uM vdev virtio-net loc 0xd0000000 intr ioapic:5 name %s peer %s/%s %s",
             system, ram_mb, name, rundir, peer, extra ? extra : "");
    struct vdev_err err = {0};
    memset(&v->fe, 0, sizeof(v->fe));
    fake_machine_new(&v->fe);
    if (fake_machine_build_string(&v->fe, cfg, &err))
        NET_GUEST_FAIL("%s", err.msg);
    drv_adopt(v, ram_mb);
}

static NET_GUEST_UNUSED void machine_up(struct drv *v, const char *system, const char *name,
                                        const char *peer, const char *extra)
{
    machine_up_ram(v, 8, system, name, peer, extra);
}

static NET_GUEST_UNUSED void machine_down(struct drv *v)
{
    fake_machine_free(&v->fe);
    v->fe.m = NULL;
}

/* Negotiates `features` (+VERSION_1), sets up every queue the device has (with MQ or RSS
 * rx0 tx0 rx1 tx1 ... ctrl; without them rx0 tx0 ctrl, the others enabled all the same, as
 * a hostile driver could), DRIVER_OK. */
static NET_GUEST_UNUSED void drv_start(struct drv *v, uint64_t features)
{
    v->nq = v->ft->nq;
    vdev_virtio_set_status(v->vio, 0); /* a reset: drv_start may come again */
    for (unsigned q = 0; q < v->nq; q++)
        vdev_virtio_set_kick_fd(v->vio, q, v->ft->kick[q]);
    vdev_virtio_set_status(v->vio, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    features |= 1ull << VIRTIO_F_VERSION_1;
    v->features = features;
    vdev_virtio_set_driver_features(v->vio, 0, (uint32_t)features);
    vdev_virtio_set_driver_features(v->vio, 1, (uint32_t)(features >> 32));
    vdev_virtio_set_status(v->vio, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                       VIRTIO_STATUS_FEATURES_OK);
    NET_GUEST_CHECK(vdev_virtio_get_status(v->vio) & VIRTIO_STATUS_FEATURES_OK,
                    "features 0x%llx refused", (unsigned long long)features);
    bool mq = features & (NET_BIT(VIRTIO_NET_F_MQ) | NET_BIT(VIRTIO_NET_F_RSS));
    v->ctrlq = mq ? v->nq - 1 : NET_Q_CTRL;
    for (unsigned q = 0; q < v->nq; q++) {
        struct drvq *dq = &v->q[q];
        memset(dq, 0, sizeof(*dq));
        dq->desc = QBASE + q * 0x4000ull;
        dq->avail = dq->desc + 0x1000;
        dq->used = dq->desc + 0x2000;
        memset(gpa(v, dq->desc), 0, 0x4000);
        NET_GUEST_CHECK(vdev_virtio_set_queue_size(v->vio, q, QSIZE), "queue size refused");
        struct vdev_virtq_config *c = vdev_virtio_queue_config(v->vio, q);
        c->desc = dq->desc;
        c->driver = dq->avail;
        c->device = dq->used;
        c->enabled = true;
    }
    vdev_virtio_set_status(v->vio, vdev_virtio_get_status(v->vio) | VIRTIO_STATUS_DRIVER_OK);
    NET_GUEST_CHECK(vdev_virtio_get_status(v->vio) & VIRTIO_STATUS_DRIVER_OK, "DRIVER_OK refused");
}

/* Writes descriptor `idx` of the table at guest address `table`. */
static NET_GUEST_UNUSED void drv_desc(struct drv *v, uint64_t table, uint16_t idx, uint64_t addr,
                                      uint32_t len, uint16_t flags, uint16_t next)
{
    uint8_t *d = gpa(v, table + 16u * idx);
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
}

/* Puts chain `head` in the available ring; drv_publish makes what was put there visible. */
static NET_GUEST_UNUSED void drv_avail(struct drv *v, unsigned q, uint16_t head)
{
    struct drvq *dq = &v->q[q];
    ((uint16_t *)gpa(v, dq->avail + 4))[dq->avail_idx % QSIZE] = head;
    dq->avail_idx++;
}

static NET_GUEST_UNUSED void drv_publish(struct drv *v, unsigned q)
{
    struct drvq *dq = &v->q[q];
    __atomic_store_n((uint16_t *)gpa(v, dq->avail + 2), dq->avail_idx, __ATOMIC_RELEASE);
}

static NET_GUEST_UNUSED void drv_kick(struct drv *v, unsigned q)
{
    uint64_t one = 1;
    NET_GUEST_CHECK(write(v->ft->kick[q], &one, 8) == 8, "kick failed");
}

/* The used ring's index, as the device last published it. */
static NET_GUEST_UNUSED uint16_t drv_used_idx(struct drv *v, unsigned q)
{
    return __atomic_load_n((uint16_t *)gpa(v, v->q[q].used + 2), __ATOMIC_ACQUIRE);
}

struct dbuf {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
};

/* Makes one chain available and kicks. Returns its head. */
static NET_GUEST_UNUSED uint16_t drv_add(struct drv *v, unsigned q, const struct dbuf *b,
                                         unsigned n)
{
    struct drvq *dq = &v->q[q];
    uint16_t head = dq->next_desc % QSIZE;
    for (unsigned i = 0; i < n; i++) {
        uint16_t idx = (uint16_t)((head + i) % QSIZE);
        uint16_t flags = (uint16_t)(b[i].flags | (i + 1 < n ? F_NEXT : 0));
        drv_desc(v, dq->desc, idx, b[i].addr, b[i].len, flags, (uint16_t)((idx + 1) % QSIZE));
    }
    dq->next_desc = (uint16_t)(dq->next_desc + n);
    drv_avail(v, q, head);
    drv_publish(v, q);
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
    drv_kick(v, q);
    return head;
}

static NET_GUEST_UNUSED bool wait_link(struct drv *v, bool up)
{
    for (int i = 0; i < 10000; i++) {
        if (atomic_load(&v->n->link_up) == up)
            return true;
        usleep(1000);
    }
    return false;
}

static NET_GUEST_UNUSED void mac_of(struct drv *v, uint8_t mac[6])
{
    for (unsigned i = 0; i < 6; i++)
        mac[i] = (uint8_t)vdev_virtio_config_read(v->vio, NET_CFG_MAC + i, 1);
}

/* The Ethernet and IPv4 headers (10.0.0.1 -> 10.0.0.2, checksummed) of a `len`-byte frame
 * carrying IP protocol `proto`; returns where its L4 header goes. */
static NET_GUEST_UNUSED uint8_t *eth_ipv4(uint8_t *f, const uint8_t dst[6], const uint8_t src[6],
                                          uint8_t proto, size_t len)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    net_put_be16(f + 12, ETH_P_IP);
    uint8_t *ip = f + ETH_HLEN;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    net_put_be16(ip + 2, (uint16_t)(len - ETH_HLEN));
    ip[8] = 64;
    ip[9] = proto;
    memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
    net_put_be16(ip + 10, net_csum_fold(net_csum_add(0, ip, 20)));
    return ip + 20;
}

#endif
