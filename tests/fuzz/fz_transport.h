/* Shared by the transport fuzz targets (fuzz_virtio_core, fuzz_virtio_pci, fuzz_virtio_mmio,
 * fuzz_pci_config): a machine like fz_machine_build's but optionally with a PCI host bridge
 * (the unit tests' layout), an embedder that remembers every GSI's level and the last MSI,
 * and "fzvio", a small virtio device whose queue_kick hook plays the device's data thread
 * synchronously (pops every chain, checks it, writes into it, pushes it). Static functions:
 * included by one target each. */
#ifndef FZ_TRANSPORT_H
#define FZ_TRANSPORT_H

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vdev/pci.h>
#include <vdev/virtio_transport.h>

#include "fuzz_common.h"

/* An invariant failed: libFuzzer reports the abort with the input. */
#define FZ_ASSERT(c)                                                                               \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define FZT_GSIS        32
#define FZT_ECAM        0xe0000000ull
#define FZT_MMIO32      0xc0000000ull
#define FZT_MMIO32_SIZE 0x10000000ull
#define FZT_MMIO64      0x100000000ull
#define FZT_MMIO64_SIZE 0x100000000ull
#define FZT_IOWIN       0xc000u
#define FZT_IOWIN_SIZE  0x1000u
#define FZT_INTX_GSI0   16

#define FZT_MAX_BINDINGS 256

/* What the embedder bound in "the kernel" (exitless mode): ioeventfds and irqfds. */
struct fzt_binding {
    int fd;
    bool irqfd, msi;
    enum vdev_space space;
    uint64_t addr, data;
    unsigned len;
    bool match;
    struct vdev_msi m;
    uint32_t gsi;
};

struct fzt {
    struct fz_machine fm; /* RAM, counters; fm.ops is this machine's embedder */
    bool level[FZT_GSIS]; /* each GSI as last driven */
    struct vdev_msi last_msi;
    /* Exitless mode: the embedder takes ioeventfds and irqfds as KVM does; fzt_io matches
     * writes against the ioeventfds before dispatching, fzt_kernel delivers the irqfds. */
    bool exitless;
    struct fzt_binding bind[FZT_MAX_BINDINGS];
    unsigned nbind;
    bool taken; /* the last fzt_io write went to an ioeventfd, not to the bus */
};

/* Set before fzt_build: the next machine's embedder binds doorbells and irqfds. */
static bool fzt_exitless;

static inline int fzt_set_irq_line(void *ctx, uint32_t gsi, bool level)
{
    struct fzt *t = ctx;
    FZ_ASSERT(gsi < FZT_GSIS);
    t->level[gsi] = level;
    t->fm.irq_raises += level;
    return 0;
}

static inline int fzt_signal_msi(void *ctx, const struct vdev_msi *msi)
{
    struct fzt *t = ctx;
    t->fm.msis++;
    t->last_msi = *msi;
    return 0;
}

static inline void fzt_log(void *ctx, enum vdev_log_level level, const char *who, const char *msg)
{
    struct fzt *t = ctx; /* counted, not printed: too many while fuzzing */
    (void)level;
    (void)who;
    (void)msg;
    t->fm.log_lines++;
}

static inline void fzt_request_stop(void *ctx, int status)
{
    struct fzt *t = ctx;
    t->fm.stop_status = status;
}

static inline int fzt_find_binding(struct fzt *t, bool irqfd, int fd)
{
    for (unsigned i = 0; i < t->nbind; i++)
        if (t->bind[i].irqfd == irqfd && t->bind[i].fd == fd)
            return (int)i;
    return -1;
}

static inline void fzt_unbind(struct fzt *t, unsigned i)
{
    t->bind[i] = t->bind[--t->nbind];
}

/* KVM_IOEVENTFD: refuses a second one on the same address, length and match (EEXIST);
 * removing one that is not there is a bookkeeping bug of the caller. */
static inline int fzt_ioeventfd(void *ctx, int fd, enum vdev_space space, uint64_t addr,
                                unsigned len, bool match, uint64_t data, bool assign)
{
    struct fzt *t = ctx;
    for (unsigned i = 0; i < t->nbind; i++) {
        struct fzt_binding *b = &t->bind[i];
        if (b->irqfd || b->space != space || b->addr != addr || b->len != len)
            continue;
        if (!assign && b->fd == fd && b->match == match && (!match || b->data == data)) {
            fzt_unbind(t, i);
            return 0;
        }
        if (assign && (!match || !b->match || b->data == data))
            return -1;
    }
    FZ_ASSERT(assign); /* unbinding a doorbell that was never bound (or bound elsewhere) */
    FZ_ASSERT(t->nbind < FZT_MAX_BINDINGS);
    t->bind[t->nbind++] = (struct fzt_binding){
        .fd = fd, .space = space, .addr = addr, .data = data, .len = len, .match = match};
    return 0;
}

static inline int fzt_irqfd_line(void *ctx, int fd, int resample_fd, uint32_t gsi, bool assign)
{
    struct fzt *t = ctx;
    (void)resample_fd;
    int i = fzt_find_binding(t, true, fd);
    if (!assign) {
        FZ_ASSERT(i >= 0 && !t->bind[i].msi && t->bind[i].gsi == gsi);
        fzt_unbind(t, (unsigned)i);
        return 0;
    }
    FZ_ASSERT(i < 0 && t->nbind < FZT_MAX_BINDINGS && gsi < FZT_GSIS);
    t->bind[t->nbind++] = (struct fzt_binding){.fd = fd, .irqfd = true, .gsi = gsi};
    return 0;
}

/* KVM_IRQFD with a GSI routed to the message; assigning again reprograms it. */
static inline int fzt_irqfd_msi(void *ctx, int fd, const struct vdev_msi *msi, bool assign)
{
    struct fzt *t = ctx;
    int i = fzt_find_binding(t, true, fd);
    if (!assign) {
        FZ_ASSERT(i >= 0 && t->bind[i].msi);
        fzt_unbind(t, (unsigned)i);
        return 0;
    }
    FZ_ASSERT(msi);
    if (i >= 0) {
        FZ_ASSERT(t->bind[i].msi);
        t->bind[i].m = *msi;
        return 0;
    }
    FZ_ASSERT(t->nbind < FZT_MAX_BINDINGS);
    t->bind[t->nbind++] = (struct fzt_binding){.fd = fd, .irqfd = true, .msi = true, .m = *msi};
    return 0;
}

/* What KVM does on its own: each signalled irqfd delivers its message or pulses its line. */
static inline void fzt_kernel(struct fzt *t)
{
    for (unsigned i = 0; i < t->nbind; i++) {
        struct fzt_binding *b = &t->bind[i];
        struct pollfd p = {.fd = b->fd, .events = POLLIN};
        uint64_t n;
        if (!b->irqfd || poll(&p, 1, 0) != 1 || read(b->fd, &n, sizeof(n)) != sizeof(n))
            continue;
        if (b->msi) {
            t->fm.msis++;
            t->last_msi = b->m;
        } else {
            t->fm.irq_raises++;
        }
    }
}

struct fzt_back {
    struct fzt *t;
    struct vdev_bus *bus;
};

static inline void fzt_back_one(const struct vdev_region_info *r, void *arg)
{
    struct fzt_back *a = arg;
    struct fz_machine *fm = &a->t->fm;
    if ((r->kind != VDEV_REGION_RAM && r->kind != VDEV_REGION_ROM) || r->host ||
        fm->nram >= FZ_MAX_RAM)
        return;
    uint8_t *p = calloc(1, r->size);
    if (!p)
        abort();
    fm->ram[fm->nram].host = p;
    fm->ram[fm->nram].base = r->base;
    fm->ram[fm->nram].size = r->size;
    fm->nram++;
    vdev_region_set_host(vdev_bus_find(a->bus, r->space, r->base), p);
}

/* fz_machine_build's machine (ioapic with 24 lines, IOAPIC and LAPIC reserved), plus a PCI
 * host bridge when `pci`: ECAM at FZT_ECAM, ports 0xCF8, the windows above, INTA-D on
 * GSI 16-19. */
static inline void fzt_build(struct fzt *t, const char *config, bool pci)
{
    memset(t, 0, sizeof(*t));
    struct fz_machine *fm = &t->fm;
    fm->stop_status = -1;
    fm->ops.size = sizeof(fm->ops);
    fm->ops.set_irq_line = fzt_set_irq_line;
    fm->ops.signal_msi = fzt_signal_msi;
    fm->ops.log = fzt_log;
    fm->ops.request_stop = fzt_request_stop;
    t->exitless = fzt_exitless;
    if (t->exitless) {
        fm->ops.ioeventfd = fzt_ioeventfd;
        fm->ops.irqfd_line = fzt_irqfd_line;
        fm->ops.irqfd_msi = fzt_irqfd_msi;
    }
    struct vdev_err err = {0};
    struct vdev_pci_host_desc h = {
        .ecam_base = FZT_ECAM,
        .buses = 1,
        .cf8_ports = true,
        .mmio32_base = FZT_MMIO32,
        .mmio32_size = FZT_MMIO32_SIZE,
        .mmio64_base = FZT_MMIO64,
        .mmio64_size = FZT_MMIO64_SIZE,
        .io_base = FZT_IOWIN,
        .io_size = FZT_IOWIN_SIZE,
        .intx_pic = "ioapic",
        .intx_lines = {FZT_INTX_GSI0, FZT_INTX_GSI0 + 1, FZT_INTX_GSI0 + 2, FZT_INTX_GSI0 + 3}};
    fm->m = vdev_machine_new(&fm->ops, t);
    if (!fm->m || vdev_machine_add_pic(fm->m, "ioapic", 24, 0, &err) ||
        vdev_machine_reserve(fm->m, VDEV_SPACE_MEM, 0xfec00000, 0x1000, "ioapic", &err) ||
        vdev_machine_reserve(fm->m, VDEV_SPACE_MEM, 0xfee00000, 0x1000, "lapic", &err) ||
        (pci && vdev_machine_add_pci(fm->m, &h, &err)) ||
        vdev_machine_parse_string(fm->m, "fuzz.conf", config, &err) ||
        vdev_machine_build(fm->m, &err)) {
        fprintf(stderr, "fuzz machine: %s\n", err.msg);
        abort();
    }
    struct fzt_back a = {t, vdev_machine_bus(fm->m)};
    vdev_bus_foreach(a.bus, VDEV_SPACE_MEM, fzt_back_one, &a);
}

/* Frees the machine; everything it bound in the embedder must be unbound by then. */
static inline void fzt_free(struct fzt *t)
{
    fz_machine_free(&t->fm);
    FZ_ASSERT(t->nbind == 0);
}

/* A host pointer into RAM region 0 for guest address gpa (gpa inside it). */
static inline uint8_t *fzt_ram(struct fzt *t, uint64_t gpa)
{
    return t->fm.ram[0].host + (gpa - t->fm.ram[0].base);
}

static inline uint64_t fzt_io(struct fzt *t, enum vdev_space sp, uint64_t addr, unsigned size,
                              bool wr, uint64_t v, enum vdev_access_result *res)
{
    enum vdev_access_result r = VDEV_ACCESS_OK;
    bool taken = false;
    for (unsigned i = 0; wr && i < t->nbind && !taken; i++) {
        struct fzt_binding *b = &t->bind[i];
        uint64_t mask = size >= 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
        if (!b->irqfd && b->space == sp && b->addr == addr && b->len == size &&
            (!b->match || b->data == (v & mask))) {
            uint64_t one = 1; /* the kernel signals the eventfd; no exit */
            if (write(b->fd, &one, sizeof(one)) < 0) {
                /* saturated: the kick is pending anyway */
            }
            taken = true;
        }
    }
    t->taken = taken;
    if (!taken)
        r = vdev_machine_access(t->fm.m, sp, addr, size, wr, &v);
    if (res)
        *res = r;
    if (!wr && r != VDEV_ACCESS_OK) /* nothing answered: all ones, whatever the cause */
        FZ_ASSERT(v == (size >= 8 || size == 0 || (size & (size - 1)) ? UINT64_MAX
                                                                      : (1ull << (8 * size)) - 1));
    return v;
}

/* ---- fzvio: a virtio device for the transport targets ---- */

#define FZV_QUEUES   3
#define FZV_QMAX     16
#define FZV_CFG_SIZE 12
#define FZV_ID       42
#define FZV_FEATURES (1ull << 0 | 1ull << 5 | 1ull << 23 | 1ull << 63)

struct fzv_dev {
    struct vdev_virtio *vio;
    struct fzt *t;
    uint8_t cfg[FZV_CFG_SIZE];
    unsigned starts, stops, popped, pushed, fails;
    bool running;
    uint8_t checksum;
    struct vdev_virtq_elem elem;
};

/* The one machine's device (each target builds one at a time). */
static struct fzv_dev *fzv_current;
static struct fzt *fzv_machine;

static inline void fzv_config_read(void *opaque, uint32_t off, void *buf, uint32_t len)
{
    struct fzv_dev *v = opaque;
    FZ_ASSERT(off <= FZV_CFG_SIZE && len <= FZV_CFG_SIZE - off);
    memcpy(buf, v->cfg + off, len);
}

static inline void fzv_config_write(void *opaque, uint32_t off, const void *buf, uint32_t len)
{
    struct fzv_dev *v = opaque;
    FZ_ASSERT(off <= FZV_CFG_SIZE && len <= FZV_CFG_SIZE - off);
    memcpy(v->cfg + off, buf, len);
}

/* Refuses bit 5 without bit 23, as a device with dependent features would. */
static inline int fzv_features_ok(void *opaque, uint64_t f)
{
    (void)opaque;
    FZ_ASSERT(!(f & ~(FZV_FEATURES | 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_EVENT_IDX |
                      1ull << VIRTIO_F_INDIRECT_DESC)));
    return (f >> 5 & 1) && !(f >> 23 & 1) ? -1 : 0;
}

static inline void fzv_start(void *opaque)
{
    struct fzv_dev *v = opaque;
    FZ_ASSERT(!v->running);
    uint8_t s = vdev_virtio_get_status(v->vio);
    FZ_ASSERT((s & VIRTIO_STATUS_DRIVER_OK) && (s & VIRTIO_STATUS_FEATURES_OK));
    FZ_ASSERT(!(s & VIRTIO_STATUS_NEEDS_RESET));
    v->running = true;
    v->starts++;
}

static inline void fzv_stop(void *opaque)
{
    struct fzv_dev *v = opaque;
    FZ_ASSERT(v->running);
    v->running = false;
    v->stops++;
}

/* Every popped buffer lies inside guest RAM and the lengths add up. */
static inline void fzv_check_elem(struct fzt *t, const struct vdev_virtq_elem *e, unsigned qsize)
{
    size_t out = 0, in = 0;
    FZ_ASSERT(e->nout + e->nin <= VDEV_VIRTQ_MAX_SEGS);
    FZ_ASSERT(e->head < qsize);
    for (unsigned i = 0; i < e->nout + e->nin; i++) {
        FZ_ASSERT(e->iov[i].iov_len > 0);
        FZ_ASSERT(fz_in_ram(&t->fm, e->iov[i].iov_base, e->iov[i].iov_len));
        if (i < e->nout)
            out += e->iov[i].iov_len;
        else
            in += e->iov[i].iov_len;
    }
    FZ_ASSERT(out == e->out_len && in == e->in_len);
}

/* The data thread's pass over queue q, run synchronously: pop everything, read the driver's
 * bytes, fill the writable ones, push, notify. Some chains are given back unconsumed, some
 * make the device fail the driver (as a device checking a header would). */
static inline void fzv_service(struct fzv_dev *v, unsigned q, unsigned limit)
{
    struct vdev_virtq *vq = vdev_virtio_queue(v->vio, q);
    if (!vq || !v->running)
        return;
    unsigned qsize = vdev_virtq_size(vq);
    for (unsigned n = 0; n < limit; n++) {
        int rc = vdev_virtq_pop(vq, &v->elem);
        if (rc < 0) {
            FZ_ASSERT(vdev_virtio_get_status(v->vio) & VIRTIO_STATUS_NEEDS_RESET);
            return;
        }
        if (rc == 0)
            break;
        FZ_ASSERT(qsize);
        fzv_check_elem(v->t, &v->elem, qsize);
        v->popped++;
        uint8_t sum = 0; /* touch the driver's bytes: ASan sees a buffer outside RAM */
        for (unsigned i = 0; i < v->elem.nout; i++)
            sum ^= ((const uint8_t *)v->elem.iov[i].iov_base)[v->elem.iov[i].iov_len - 1];
        v->checksum ^= sum;
        for (unsigned i = v->elem.nout; i < v->elem.nout + v->elem.nin; i++)
            memset(v->elem.iov[i].iov_base, 0xa5, v->elem.iov[i].iov_len);
        if (v->elem.out_len == 7) {
            vdev_virtio_fail(v->vio, "fuzz: a header of 7 bytes");
            v->fails++;
            FZ_ASSERT(vdev_virtio_get_status(v->vio) & VIRTIO_STATUS_NEEDS_RESET);
            FZ_ASSERT(vdev_virtq_pop(vq, &v->elem) == -1);
            return;
        }
        if (v->elem.in_len == 3) {
            vdev_virtq_unpop(vq, 1); /* no room yet: taken again on the next pass */
            break;
        }
        vdev_virtq_push(vq, v->elem.head, (uint32_t)v->elem.in_len);
        v->pushed++;
    }
    vdev_virtq_notify(vq);
    vdev_virtq_set_kicks(vq, true);
}

static inline void fzv_queue_kick(void *opaque, unsigned q)
{
    struct fzv_dev *v = opaque;
    FZ_ASSERT(q < FZV_QUEUES);
    FZ_ASSERT(v->running); /* no kick before start or after stop */
    fzv_service(v, q, 2 * FZV_QMAX);
}

static const struct vdev_virtio_ops fzv_ops = {
    .size = sizeof(struct vdev_virtio_ops),
    .device_id = FZV_ID,
    .features = FZV_FEATURES,
    .num_queues = FZV_QUEUES,
    .queue_size_max = FZV_QMAX,
    .config_size = FZV_CFG_SIZE,
    .config_read = fzv_config_read,
    .config_write = fzv_config_write,
    .features_ok = fzv_features_ok,
    .start = fzv_start,
    .stop = fzv_stop,
    .queue_kick = fzv_queue_kick,
};

static inline int fzv_assign(struct vdev *d)
{
    struct fzv_dev *v = vdev_state(d);
    struct vdev_err err;
    memcpy(v->cfg, "\x52\x54\x00\x12\x34\x56\x01\x00\xde\xad\xbe\xef", FZV_CFG_SIZE);
    v->t = fzv_machine;
    if (!(v->vio = vdev_virtio_attach(d, &fzv_ops, v, &err)))
        return vdev_error(d, vdev_pos(d), NULL, "%s", err.msg);
    fzv_current = v;
    return 0;
}

static const struct vdev_type fzv_type = {
    .abi_version = VDEV_ABI_VERSION,
    .type_size = sizeof(struct vdev_type),
    .name = "fzvio",
    .state_size = sizeof(struct fzv_dev),
    .places = VDEV_PLACE_PCI | VDEV_PLACE_MEM,
    .has_intr = true, /* virtio-mmio's line; PCI takes none */
    .intr_optional = true,
    .assign = fzv_assign,
};

/* FZ_VERBOSE=1: how deep an input got (for writing seeds). */
static inline void fzv_report(const struct fzt *t, const struct fzv_dev *v)
{
    if (!getenv("FZ_VERBOSE"))
        return;
    fprintf(stderr,
            "fzvio: status 0x%02x starts %u popped %u pushed %u fails %u; msis %lu raises %lu\n",
            v ? vdev_virtio_get_status(v->vio) : 0, v ? v->starts : 0, v ? v->popped : 0,
            v ? v->pushed : 0, v ? v->fails : 0, t->fm.msis, t->fm.irq_raises);
}

/* Builds `config` (which names one fzvio) and returns its device. */
static inline struct fzv_dev *fzv_build(struct fzt *t, const char *config, bool pci)
{
    static bool registered;
    struct vdev_err err;
    if (!registered && vdev_register_type(&fzv_type, &err)) {
        fprintf(stderr, "fzvio: %s\n", err.msg);
        abort();
    }
    registered = true;
    fzv_current = NULL;
    fzv_machine = t;
    fzt_build(t, config, pci);
    FZ_ASSERT(fzv_current);
    return fzv_current;
}

/* Splits the input into guest-RAM contents: `len` bytes at gpa (clipped to RAM 0). */
static inline void fzt_fill(struct fzt *t, struct fz_in *in, uint64_t gpa, size_t len)
{
    uint64_t base = t->fm.ram[0].base, size = t->fm.ram[0].size;
    if (gpa < base || gpa - base >= size)
        return;
    if (len > size - (gpa - base))
        len = (size_t)(size - (gpa - base));
    fz_take(in, fzt_ram(t, gpa), len);
}

#endif
