/* The virtio core's state machine and queue setup as any transport drives it, in any order:
 * status writes (a handshake step or any byte), feature words of any selector, queue
 * configuration of any size and address (in RAM, across two RAM regions, outside it, for
 * queues that do not exist), reset, failures from the device, kicks through the event loop,
 * a transport handing over new kick fds, and the device's data path (pop, push, unpop,
 * notify, kick suppression) on whatever got mapped. fuzz_virtq covers the ring contents of
 * one well-formed queue; this covers how the queues get there and what happens around them.
 *
 * Invariants: DRIVER_OK only with FEATURES_OK, FEATURES_OK only with VERSION_1 and what the
 * device accepts, driver features a subset of the offer and frozen after FEATURES_OK, queue
 * configuration frozen after DRIVER_OK, the device started only at DRIVER_OK without
 * NEEDS_RESET and stopped by a reset, FAILED or (once the event loop ran) NEEDS_RESET, a
 * pop that fails means NEEDS_RESET, every popped buffer inside guest RAM, the configuration
 * generation never going back, and mapped queues of a power-of-two size.
 */
/* FUZZ_ARGS: -max_len=4096 */
#include <sys/eventfd.h>
#include <unistd.h>

#include "fz_transport.h"

#define RAM0_SIZE 0x100000ull /* ram 0,1M */
#define RAM1_BASE 0x100000ull /* ram 0x100000,64K: adjacent, a buffer may not span both */
#define RAM1_SIZE 0x10000ull
#define MAX_OPS   512
#define MAX_FDS   16

struct core_dev {
    struct fzv_dev v; /* the device half (start/stop/queue_kick/config) */
    unsigned notify_queue[FZV_QUEUES], notify_config, resets;
};

static struct core_dev *core;

static void t_notify_queue(void *t, unsigned q)
{
    struct core_dev *c = t;
    FZ_ASSERT(q < FZV_QUEUES);
    c->notify_queue[q]++;
}

static void t_notify_config(void *t)
{
    struct core_dev *c = t;
    c->notify_config++;
}

static void t_reset(void *t)
{
    struct core_dev *c = t;
    c->resets++;
}

static const struct vdev_virtio_transport_ops fake_transport = {
    .size = sizeof(struct vdev_virtio_transport_ops),
    .notify_queue = t_notify_queue,
    .notify_config = t_notify_config,
    .reset = t_reset};

static int core_assign(struct vdev *d)
{
    struct core_dev *c = vdev_state(d);
    struct vdev_err err;
    c->v.t = fzv_machine;
    if (!(c->v.vio = vdev_virtio_new(d, &fzv_ops, &c->v, &err)))
        return vdev_error(d, vdev_pos(d), NULL, "%s", err.msg);
    vdev_virtio_bind_transport(c->v.vio, &fake_transport, c, "fuzz");
    core = c;
    return 0;
}

static const struct vdev_type core_type = {
    .abi_version = VDEV_ABI_VERSION,
    .type_size = sizeof(struct vdev_type),
    .name = "fzcore",
    .state_size = sizeof(struct core_dev),
    .places = VDEV_PLACE_MEM,
    .assign = core_assign,
};

/* What the checks remember between operations. */
struct model {
    bool features_frozen;
    uint64_t features; /* as frozen at FEATURES_OK */
    bool queues_frozen;
    struct vdev_virtq_config frozen[FZV_QUEUES];
    uint32_t generation;
    int fds[MAX_FDS];
    unsigned nfds;
};

static uint64_t driver_features(struct vdev_virtio *vio)
{
    return vdev_virtio_driver_features(vio, 0) | (uint64_t)vdev_virtio_driver_features(vio, 1)
                                                     << 32;
}

static uint64_t offered(struct vdev_virtio *vio)
{
    return vdev_virtio_device_features(vio, 0) | (uint64_t)vdev_virtio_device_features(vio, 1)
                                                     << 32;
}

static void check(struct fzt *t, struct model *md, bool polled)
{
    struct vdev_virtio *vio = core->v.vio;
    uint8_t s = vdev_virtio_get_status(vio);
    uint64_t f = driver_features(vio);
    FZ_ASSERT(!(f & ~offered(vio)));
    if (s & VIRTIO_STATUS_DRIVER_OK)
        FZ_ASSERT(s & VIRTIO_STATUS_FEATURES_OK);
    if (s & VIRTIO_STATUS_FEATURES_OK) {
        FZ_ASSERT(f >> VIRTIO_F_VERSION_1 & 1);
        FZ_ASSERT(!((f >> 5 & 1) && !(f >> 23 & 1))); /* what fzv_features_ok refuses */
        if (!md->features_frozen) {
            md->features_frozen = true;
            md->features = f;
        }
        FZ_ASSERT(f == md->features);
    } else {
        md->features_frozen = false;
    }
    FZ_ASSERT(core->v.starts - core->v.stops == (unsigned)core->v.running);
    if (core->v.running) {
        FZ_ASSERT(s & VIRTIO_STATUS_DRIVER_OK);
        FZ_ASSERT(!(s & VIRTIO_STATUS_FAILED)); /* the driver gave up: stopped */
    }
    if (polled)
        FZ_ASSERT(!core->v.running); /* the event loop stopped it */
    if (s & VIRTIO_STATUS_DRIVER_OK) {
        for (unsigned q = 0; q < FZV_QUEUES; q++) {
            struct vdev_virtq_config c = *vdev_virtio_queue_config(vio, q);
            if (!md->queues_frozen)
                md->frozen[q] = c;
            FZ_ASSERT(!memcmp(&c, &md->frozen[q], sizeof(c)));
        }
        md->queues_frozen = true;
    } else {
        md->queues_frozen = false;
    }
    for (unsigned q = 0; q < FZV_QUEUES; q++) {
        unsigned n = vdev_virtq_size(vdev_virtio_queue(vio, q));
        FZ_ASSERT(n == 0 || (!(n & (n - 1)) && n <= FZV_QMAX));
        if (n)
            FZ_ASSERT(s & VIRTIO_STATUS_DRIVER_OK);
    }
    uint32_t g = vdev_virtio_config_generation(vio);
    FZ_ASSERT(g - md->generation < 0x80000000u);
    md->generation = g;
    (void)t;
}

/* A guest address: mostly inside RAM 0 on a useful alignment, sometimes near the boundary
 * of the two RAM regions or the end of RAM, sometimes anything. */
static uint64_t pick_addr(struct fz_in *in)
{
    uint8_t how = fz_u8(in);
    switch (how & 3) {
    case 0:
        return (uint64_t)fz_u16(in) << 4; /* RAM 0, 16-byte aligned */
    case 1:
        return RAM1_BASE - 0x100 + (fz_u16(in) & 0x1ff); /* across the two regions */
    case 2:
        return RAM1_BASE + RAM1_SIZE - (fz_u16(in) & 0xfff); /* the end of RAM */
    default:
        return fz_u64(in);
    }
}

/* Driver side helpers writing through the queue's configured addresses (if in RAM 0). */
static void *ram_at(struct fzt *t, uint64_t gpa, size_t len)
{
    if (gpa >= RAM0_SIZE || len > RAM0_SIZE - gpa)
        return NULL;
    return fzt_ram(t, gpa);
}

static void drv_desc(struct fzt *t, struct fz_in *in)
{
    unsigned q = fz_u8(in) % FZV_QUEUES;
    struct vdev_virtq_config c = *vdev_virtio_queue_config(core->v.vio, q);
    unsigned i = fz_u8(in) % FZV_QMAX;
    uint8_t d[16];
    uint64_t addr = pick_addr(in);
    uint32_t len = fz_u8(in) & 1 ? fz_u16(in) & 0xfff : fz_u32(in);
    uint16_t flags = fz_u8(in) & 7, next = fz_u8(in) % (FZV_QMAX + 1);
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
    uint8_t *p = ram_at(t, c.desc + 16 * i, 16);
    if (p)
        memcpy(p, d, 16);
}

static void drv_publish(struct fzt *t, struct fz_in *in)
{
    unsigned q = fz_u8(in) % FZV_QUEUES;
    struct vdev_virtq_config c = *vdev_virtio_queue_config(core->v.vio, q);
    uint16_t head = fz_u8(in) % (FZV_QMAX + 1);
    unsigned size = c.size ? c.size : 1;
    uint8_t *idxp = ram_at(t, c.driver + 2, 2);
    if (!idxp)
        return;
    uint16_t idx;
    memcpy(&idx, idxp, 2);
    uint8_t *slot = ram_at(t, c.driver + 4 + 2 * (idx % size), 2);
    if (slot)
        memcpy(slot, &head, 2);
    idx++;
    __atomic_store_n((uint16_t *)idxp, idx, __ATOMIC_RELEASE);
}

/* The next status bit of a well-behaved handshake. */
static void handshake_step(struct vdev_virtio *vio, uint8_t extra)
{
    static const uint8_t order[] = {VIRTIO_STATUS_ACKNOWLEDGE, VIRTIO_STATUS_DRIVER,
                                    VIRTIO_STATUS_FEATURES_OK, VIRTIO_STATUS_DRIVER_OK};
    uint8_t s = vdev_virtio_get_status(vio);
    for (unsigned i = 0; i < sizeof(order); i++) {
        if (!(s & order[i])) {
            if (order[i] == VIRTIO_STATUS_FEATURES_OK) {
                /* A set the device takes: VERSION_1, maybe EVENT_IDX/INDIRECT, bits 5+23. */
                uint64_t f = 1ull << VIRTIO_F_VERSION_1 | 1ull << 5 | 1ull << 23 |
                             (uint64_t)(extra & 1) << VIRTIO_F_EVENT_IDX |
                             (uint64_t)(extra >> 1 & 1) << VIRTIO_F_INDIRECT_DESC;
                vdev_virtio_set_driver_features(vio, 0, (uint32_t)f);
                vdev_virtio_set_driver_features(vio, 1, (uint32_t)(f >> 32));
            }
            vdev_virtio_set_status(vio, (uint8_t)(s | order[i]));
            return;
        }
    }
}

/* A ready queue q: rings laid out one page each from 0x10000 * (q + 1). */
static void queue_setup(struct fzt *t, unsigned q, uint16_t size)
{
    struct vdev_virtq_config *c = vdev_virtio_queue_config(core->v.vio, q);
    uint64_t base = 0x10000ull * (q + 1);
    c->size = size;
    c->desc = base;
    c->driver = base + 0x1000;
    c->device = base + 0x2000;
    c->enabled = true;
    (void)t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool registered;
    struct vdev_err err;
    if (!registered && vdev_register_type(&core_type, &err)) {
        fprintf(stderr, "fzcore: %s\n", err.msg);
        abort();
    }
    registered = true;
    static struct fzt t;
    fzv_machine = &t;
    core = NULL;
    fzt_build(&t, "ram 0,1M ram 0x100000,64K vdev fzcore loc 0xd0000000", false);
    FZ_ASSERT(core && t.fm.nram == 2);
    struct vdev_virtio *vio = core->v.vio;
    struct model md = {0};
    struct fz_in in = {data, size};
    for (unsigned op = 0; op < MAX_OPS && fz_left(&in); op++) {
        uint8_t code = fz_u8(&in);
        bool polled = false;
        switch (code % 20) {
        case 0:
            vdev_virtio_set_status(vio, fz_u8(&in));
            break;
        case 1:
        case 2:
            handshake_step(vio, fz_u8(&in));
            break;
        case 3: {
            uint32_t sel = fz_u8(&in) % 4;
            vdev_virtio_set_driver_features(vio, sel, fz_u32(&in));
            break;
        }
        case 4: {
            unsigned q = fz_u8(&in) % (FZV_QUEUES + 2);
            struct vdev_virtq_config *c = vdev_virtio_queue_config(vio, q);
            switch (fz_u8(&in) % 5) {
            case 0:
                c->size = fz_u16(&in);
                break;
            case 1:
                c->desc = pick_addr(&in);
                break;
            case 2:
                c->driver = pick_addr(&in);
                break;
            case 3:
                c->device = pick_addr(&in);
                break;
            default:
                c->enabled = fz_u8(&in) & 1;
                break;
            }
            break;
        }
        case 5: {
            unsigned q = fz_u8(&in) % (FZV_QUEUES + 2);
            uint32_t n = fz_u8(&in) & 1 ? 1u << (fz_u8(&in) % 12) : fz_u32(&in);
            bool ok = vdev_virtio_set_queue_size(vio, q, n);
            if (ok)
                FZ_ASSERT(q < FZV_QUEUES && n <= FZV_QMAX && !(n & (n - 1)) &&
                          vdev_virtio_queue_config(vio, q)->size == n);
            break;
        }
        case 6:
            queue_setup(&t, fz_u8(&in) % FZV_QUEUES, (uint16_t)(1u << (fz_u8(&in) % 6)));
            break;
        case 7:
            if (fz_u8(&in) & 1)
                vdev_virtio_reset(vio);
            else
                vdev_virtio_set_status(vio, 0);
            FZ_ASSERT(vdev_virtio_get_status(vio) == 0 && driver_features(vio) == 0);
            FZ_ASSERT(!core->v.running);
            for (unsigned q = 0; q < FZV_QUEUES; q++) {
                const struct vdev_virtq_config *c = vdev_virtio_queue_config(vio, q);
                FZ_ASSERT(!c->enabled && c->size == FZV_QMAX);
                FZ_ASSERT(vdev_virtq_size(vdev_virtio_queue(vio, q)) == 0);
            }
            break;
        case 8:
            vdev_virtio_fail(vio, "fuzz: device failure %u", op);
            FZ_ASSERT(vdev_virtio_get_status(vio) & VIRTIO_STATUS_NEEDS_RESET);
            break;
        case 9: {
            uint32_t off = fz_u8(&in) & 0x1f;
            unsigned sz = fz_u8(&in) % 10;
            if (fz_u8(&in) & 1) {
                uint64_t v = vdev_virtio_config_read(vio, off, sz);
                bool ok = (sz == 1 || sz == 2 || sz == 4 || sz == 8) && off + sz <= FZV_CFG_SIZE;
                if (!ok)
                    FZ_ASSERT(v == 0);
            } else {
                vdev_virtio_config_write(vio, off, sz, fz_u64(&in));
            }
            break;
        }
        case 10:
            vdev_virtio_config_changed(vio);
            break;
        case 11:
            vdev_virtio_kick(vio, fz_u8(&in) % (FZV_QUEUES + 2));
            /* fall through: the event loop runs the queue_kick hook */
        case 12:
            /* A failure found before the loop ran is handled by it (one found while it ran,
             * in a queue_kick hook, on its next round). */
            polled = vdev_virtio_get_status(vio) & VIRTIO_STATUS_NEEDS_RESET;
            vdev_machine_poll(t.fm.m, 0);
            break;
        case 13:
            fzv_service(&core->v, fz_u8(&in) % FZV_QUEUES, fz_u8(&in) % (2 * FZV_QMAX + 2));
            break;
        case 14: {
            uint64_t gpa = (uint64_t)fz_u16(&in) << 4;
            fzt_fill(&t, &in, gpa, fz_u8(&in) % 64);
            break;
        }
        case 15:
            drv_desc(&t, &in);
            break;
        case 16:
            drv_publish(&t, &in);
            break;
        case 17: {
            /* A transport hands a (new) doorbell eventfd over, as virtio-pci does when
             * the guest first enables BAR 0; the transport keeps and closes it. */
            unsigned q = fz_u8(&in) % (FZV_QUEUES + 1);
            int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
            FZ_ASSERT(fd >= 0);
            int before = vdev_virtio_kick_fd(vio, q);
            vdev_virtio_set_kick_fd(vio, q, fd);
            FZ_ASSERT(vdev_virtio_kick_fd(vio, q) == before); /* the device's fd stays */
            if (md.nfds < MAX_FDS)
                md.fds[md.nfds++] = fd;
            else
                close(fd);
            break;
        }
        case 18: {
            struct vdev_virtq *q = vdev_virtio_queue(vio, fz_u8(&in) % FZV_QUEUES);
            if (!core->v.running)
                break; /* the data path is the device's between start and stop */
            switch (fz_u8(&in) % 3) {
            case 0:
                vdev_virtq_set_kicks(q, fz_u8(&in) & 1);
                break;
            case 1:
                vdev_virtq_has_avail(q);
                break;
            default:
                vdev_virtq_notify(q);
                break;
            }
            break;
        }
        default:
            vdev_machine_reset(t.fm.m);
            FZ_ASSERT(vdev_virtio_get_status(vio) == 0 && !core->v.running);
            break;
        }
        check(&t, &md, polled);
    }
    fzv_report(&t, &core->v);
    fzt_free(&t);
    for (unsigned i = 0; i < md.nfds; i++)
        close(md.fds[i]);
    return 0;
}
