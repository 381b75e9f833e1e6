/* virtio-pci modern transport (virtio 1.2 §4.1): a PCI function whose BAR 0 holds the
 * virtio structures, described by vendor capabilities. It knows nothing of the device it
 * carries: everything device-specific comes from the virtio core. */
#include <stdlib.h>
#include <string.h>

#include "../core/transport_api.h"
#include "virtio_pci.h"

/* struct virtio_pci_cap without its ID and next bytes (the PCI core writes those). */
struct vpci_cap_body {
    uint8_t cap_len;
    uint8_t cfg_type;
    uint8_t bar;
    uint8_t id;
    uint8_t padding[2];
    uint32_t offset; /* little-endian, as is the host */
    uint32_t length;
    uint32_t notify_off_multiplier; /* notify cap only */
} __attribute__((packed));

enum {
    VIRTIO_PCI_CAP_COMMON_CFG = 1,
    VIRTIO_PCI_CAP_NOTIFY_CFG = 2,
    VIRTIO_PCI_CAP_ISR_CFG = 3,
    VIRTIO_PCI_CAP_DEVICE_CFG = 4,
};

#define PCI_CAP_ID_VNDR      0x09
#define VIRTIO_PCI_VENDOR    0x1af4
#define VIRTIO_PCI_DEVICE_V1 0x1040

static uint32_t class_of(uint32_t device_id)
{
    switch (device_id) {
    case 1:
        return 0x020000; /* network controller, ethernet */
    case 2:
        return 0x010000; /* mass storage, SCSI (what QEMU's virtio-blk says) */
    default:
        return 0xff0000; /* unclassified */
    }
}

/* First access to BAR 0 while the doorbells do not exist: the BAR decodes, so make them
 * (covers a BAR enabled before we could be told, e.g. by the platform). */
static void ensure_doorbells(struct vpci *t)
{
    if (!atomic_load_explicit(&t->db_ready, memory_order_acquire))
        vpci_doorbells_sync(t, vdev_pci_bar_base(t->f, VPCI_BAR),
                            vdev_pci_bar_enabled(t->f, VPCI_BAR));
}

static bool in(uint64_t off, unsigned size, uint64_t base, uint64_t len)
{
    return off >= base && off - base < len && size <= len - (off - base);
}

static uint64_t bar_read(void *opaque, uint64_t off, unsigned size)
{
    struct vpci *t = opaque;
    ensure_doorbells(t);
    if (in(off, size, VPCI_COMMON_OFF, VPCI_COMMON_LEN))
        return vpci_common_read(t, off - VPCI_COMMON_OFF, size);
    if (off == VPCI_ISR_OFF)
        return vpci_isr_read_clear(t);
    if (in(off, size, VPCI_DEVCFG_OFF, t->devcfg_len))
        return vdev_virtio_config_read(t->vio, (uint32_t)(off - VPCI_DEVCFG_OFF), size);
    return 0; /* the notify area reads 0, gaps read 0 */
}

static void bar_write(void *opaque, uint64_t off, unsigned size, uint64_t v)
{
    struct vpci *t = opaque;
    ensure_doorbells(t);
    if (in(off, size, VPCI_COMMON_OFF, VPCI_COMMON_LEN))
        vpci_common_write(t, off - VPCI_COMMON_OFF, size, v);
    else if (in(off, size, VPCI_DEVCFG_OFF, t->devcfg_len))
        vdev_virtio_config_write(t->vio, (uint32_t)(off - VPCI_DEVCFG_OFF), size, v);
    else if (in(off, size, VPCI_NOTIFY_OFF, (uint64_t)VPCI_NOTIFY_MULT * t->nq))
        vpci_notify_write(t, off - VPCI_NOTIFY_OFF, size, v);
    /* the ISR is read-only; gaps drop writes */
}

static const struct vdev_region_ops bar_ops = {
    .size = sizeof(struct vdev_region_ops),
    .read = bar_read,
    .write = bar_write,
    .sizes = 0xf,
};

static void func_bar_changed(void *opaque, unsigned bar, uint64_t base, bool enabled)
{
    if (bar == VPCI_BAR)
        vpci_doorbells_sync(opaque, base, enabled);
}

/* Machine reset: the PCI core put the config space (and BAR 0) back; the doorbells follow.
 * The virtio device and this transport's state are reset by the machine's virtio reset
 * (vdev_virtio_reset → transport_reset), as for every transport. */
static void func_reset(void *opaque)
{
    struct vpci *t = opaque;
    vpci_doorbells_sync(t, vdev_pci_bar_base(t->f, VPCI_BAR), vdev_pci_bar_enabled(t->f, VPCI_BAR));
}

static const struct vdev_pci_func_ops func_ops = {
    .size = sizeof(struct vdev_pci_func_ops),
    .bar_changed = func_bar_changed,
    .reset = func_reset,
};

/* The core reset the device (status 0 or machine reset). */
static void transport_reset(void *opaque)
{
    struct vpci *t = opaque;
    vpci_common_reset(t);
    vpci_irq_reset(t);
}

/* The machine is being freed: the doorbells go with it, our state goes here. */
static void transport_destroy(void *opaque)
{
    struct vpci *t = opaque;
    pthread_mutex_destroy(&t->cfg_lock);
    pthread_mutex_destroy(&t->isr_lock);
    pthread_mutex_destroy(&t->db_lock);
    free(t);
}

static const struct vdev_virtio_transport_ops transport_ops = {
    .size = sizeof(struct vdev_virtio_transport_ops),
    .notify_queue = vpci_notify_queue,
    .notify_config = vpci_notify_config,
    .reset = transport_reset,
    .destroy = transport_destroy,
};

static int add_cap(struct vpci *t, uint8_t type, uint32_t off, uint32_t len, bool notify,
                   struct vdev_err *err)
{
    struct vpci_cap_body b = {.cfg_type = type, .bar = VPCI_BAR, .offset = off, .length = len};
    size_t body_len = notify ? sizeof(b) : offsetof(struct vpci_cap_body, notify_off_multiplier);
    b.cap_len = (uint8_t)(body_len + 2); /* with the ID and next bytes */
    if (notify)
        b.notify_off_multiplier = VPCI_NOTIFY_MULT;
    uint8_t where;
    return vdev_pci_add_cap(t->f, PCI_CAP_ID_VNDR, &b, body_len, &where, err);
}

static int setup_function(struct vpci *t, const struct vdev_virtio_ops *ops, struct vdev_err *err)
{
    struct vdev_pci_ident id = {
        .vendor = VIRTIO_PCI_VENDOR,
        .device = (uint16_t)(VIRTIO_PCI_DEVICE_V1 + ops->device_id),
        .subsystem_vendor = VIRTIO_PCI_VENDOR,
        .subsystem = (uint16_t)ops->device_id,
        .class_code = class_of(ops->device_id),
        .revision = 1, /* non-transitional (§4.1.2.1) */
    };
    t->f = vdev_pci_func_new(t->d, &id, &func_ops, t, err);
    if (!t->f)
        return -1;
    struct vdev_pci_bar bar = {.size = VPCI_BAR_SIZE,
                               .flags = VDEV_PCI_BAR_MEM64,
                               .kind = VDEV_REGION_DEVICE,
                               .ops = &bar_ops,
                               .opaque = t};
    if (vdev_pci_set_bar(t->f, VPCI_BAR, &bar, err))
        return -1;
    /* Linux takes the first capability of each type; order as QEMU's. */
    if (add_cap(t, VIRTIO_PCI_CAP_COMMON_CFG, VPCI_COMMON_OFF, VPCI_COMMON_LEN, false, err) ||
        add_cap(t, VIRTIO_PCI_CAP_ISR_CFG, VPCI_ISR_OFF, VPCI_ISR_LEN, false, err) ||
        (t->devcfg_len &&
         add_cap(t, VIRTIO_PCI_CAP_DEVICE_CFG, VPCI_DEVCFG_OFF, t->devcfg_len, false, err)) ||
        add_cap(t, VIRTIO_PCI_CAP_NOTIFY_CFG, VPCI_NOTIFY_OFF, VPCI_NOTIFY_MULT * t->nq, true, err))
        return -1;
    return vdev_pci_msix_init(t->f, t->nvec, VPCI_BAR, VPCI_MSIX_TABLE, VPCI_MSIX_PBA, err);
}

static int create(struct vdev *d, struct vdev_virtio *vio, struct vdev_err *err)
{
    const struct vdev_virtio_ops *ops = vdev_virtio_device_ops(vio);
    unsigned nq = vdev_virtio_num_queues(vio);
    if (nq == 0 || nq > VPCI_MAX_QUEUES)
        return vdev_err_set(err, "%s: virtio-pci carries 1 to %u queues, not %u", vdev_label(d),
                            VPCI_MAX_QUEUES, nq);
    if (ops->config_size > VPCI_DEVCFG_MAX)
        return vdev_err_set(err, "%s: virtio-pci device configuration is at most %u bytes",
                            vdev_label(d), VPCI_DEVCFG_MAX);
    struct vpci *t = calloc(1, sizeof(*t));
    if (!t)
        return vdev_err_set(err, "out of memory");
    t->d = d;
    t->vio = vio;
    t->nq = nq;
    t->nvec = nq + 1;
    t->devcfg_len = ops->config_size;
    pthread_mutex_init(&t->cfg_lock, NULL);
    pthread_mutex_init(&t->isr_lock, NULL);
    pthread_mutex_init(&t->db_lock, NULL);
    vpci_common_reset(t);
    /* Bound first so the core frees t with the machine even if the function is half made. */
    vdev_virtio_bind_transport(vio, &transport_ops, t, "pci");
    if (setup_function(t, ops, err))
        return -1;
    vdev_virtio_bind_transport(vio, &transport_ops, t, vdev_pci_func_name(t->f));
    return 0;
}

/* A virtio device on PCI (`loc pci:B:D`, or no loc). */
VDEV_VIRTIO_TRANSPORT(vdev_virtio_pci_transport, .name = "virtio-pci", .kind = VDEV_LOC_PCI,
                      .create = create)
