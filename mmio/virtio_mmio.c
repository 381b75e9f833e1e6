/* virtio-mmio transport, version 2 (virtio 1.2 §4.2.2): a 0x200-byte register window at the
 * device's memory `loc` and a level-triggered interrupt line (`intr`). It knows nothing of
 * the device it carries: everything device-specific comes from the virtio core. */
#include <libfdt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <vdev/acpi.h>
#include <vdev/events.h>
#include <vdev/fdt.h>
#include <vdev/module.h>
#include <vdev/virtio_transport.h>

#include "../core/transport_api.h"
#include "virtio_mmio.h"

struct vmmio {
    struct vdev *d;
    struct vdev_virtio *vio;
    unsigned nq;
    uint32_t device_id;
    uint32_t config_size;
    uint32_t gsi; /* the device's `intr` line */
    struct vdev_region *window;
    struct vdev_doorbell *db[VMMIO_MAX_QUEUES];

    pthread_mutex_t lock; /* the selectors and the interrupt status */
    uint32_t dev_feat_sel, drv_feat_sel, queue_sel;
    uint32_t isr;

    /* The line's level as last driven. It is driven directly (KVM_IRQ_LINE under KVM), only
     * when it changes: an irqfd with resample costs a kernel worker wake-up per interrupt
     * and an event-thread wake-up per EOI, and pulses it even when the line is already up;
     * in the nested harness that made MMIO NICs ~20x slower than INTx on PCI. */
    bool level;
};

/* Called with t->lock held: the line follows InterruptStatus (level-triggered). */
static void line_update(struct vmmio *t)
{
    bool want = t->isr != 0;
    if (want == t->level)
        return;
    t->level = want;
    vdev_irq_set_level(t->d, want);
}

static void raise_bits(struct vmmio *t, uint32_t bits)
{
    pthread_mutex_lock(&t->lock);
    t->isr |= bits;
    line_update(t);
    pthread_mutex_unlock(&t->lock);
}

static void ack_bits(struct vmmio *t, uint32_t bits)
{
    pthread_mutex_lock(&t->lock);
    t->isr &= ~bits;
    line_update(t);
    pthread_mutex_unlock(&t->lock);
}

static void notify_queue(void *opaque, unsigned q)
{
    (void)q;
    raise_bits(opaque, VMMIO_INT_VRING);
}

static void notify_config(void *opaque)
{
    raise_bits(opaque, VMMIO_INT_CONFIG);
}

static void transport_reset(void *opaque)
{
    struct vmmio *t = opaque;
    pthread_mutex_lock(&t->lock);
    t->dev_feat_sel = t->drv_feat_sel = t->queue_sel = 0;
    t->isr = 0;
    line_update(t);
    pthread_mutex_unlock(&t->lock);
}

static void transport_destroy(void *opaque)
{
    struct vmmio *t = opaque;
    /* The doorbells go with the machine. */
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static const struct vdev_virtio_transport_ops transport_ops = {
    .size = sizeof(struct vdev_virtio_transport_ops),
    .notify_queue = notify_queue,
    .notify_config = notify_config,
    .reset = transport_reset,
    .destroy = transport_destroy,
};

static uint32_t sel_queue(struct vmmio *t)
{
    pthread_mutex_lock(&t->lock);
    uint32_t q = t->queue_sel;
    pthread_mutex_unlock(&t->lock);
    return q;
}

static uint32_t reg_read(struct vmmio *t, uint64_t off)
{
    uint32_t q = sel_queue(t);
    /* Out-of-range queues read as absent (QueueNumMax 0, the core's dummy config). */
    bool qok = q < t->nq;
    struct vdev_virtq_config *qc = vdev_virtio_queue_config(t->vio, q);
    uint32_t v = 0;
    switch (off) {
    case VMMIO_MAGIC:
        return VMMIO_MAGIC_VALUE;
    case VMMIO_VERSION:
        return 2;
    case VMMIO_DEVICE_ID:
        return t->device_id;
    case VMMIO_VENDOR_ID:
        return VMMIO_VENDOR;
    case VMMIO_DEVICE_FEATURES:
        pthread_mutex_lock(&t->lock);
        v = t->dev_feat_sel;
        pthread_mutex_unlock(&t->lock);
        return vdev_virtio_device_features(t->vio, v);
    case VMMIO_QUEUE_NUM_MAX:
        return qok ? vdev_virtio_queue_size_max(t->vio) : 0;
    case VMMIO_QUEUE_NUM:
        return qok ? qc->size : 0;
    case VMMIO_QUEUE_READY:
        return qok && qc->enabled;
    case VMMIO_INTERRUPT_STATUS:
        pthread_mutex_lock(&t->lock);
        v = t->isr;
        pthread_mutex_unlock(&t->lock);
        return v;
    case VMMIO_STATUS:
        return vdev_virtio_get_status(t->vio);
    case VMMIO_QUEUE_DESC_LOW:
        return qok ? (uint32_t)qc->desc : 0;
    case VMMIO_QUEUE_DESC_HIGH:
        return qok ? (uint32_t)(qc->desc >> 32) : 0;
    case VMMIO_QUEUE_DRIVER_LOW:
        return qok ? (uint32_t)qc->driver : 0;
    case VMMIO_QUEUE_DRIVER_HIGH:
        return qok ? (uint32_t)(qc->driver >> 32) : 0;
    case VMMIO_QUEUE_DEVICE_LOW:
        return qok ? (uint32_t)qc->device : 0;
    case VMMIO_QUEUE_DEVICE_HIGH:
        return qok ? (uint32_t)(qc->device >> 32) : 0;
    case VMMIO_CONFIG_GENERATION:
        return vdev_virtio_config_generation(t->vio);
    default:
        return 0; /* write-only registers and gaps */
    }
}

static void set_low(uint64_t *field, uint32_t v)
{
    *field = (*field & ~0xffffffffull) | v;
}

static void set_high(uint64_t *field, uint32_t v)
{
    *field = (*field & 0xffffffffull) | (uint64_t)v << 32;
}

static void reg_write(struct vmmio *t, uint64_t off, uint32_t v)
{
    uint32_t q = sel_queue(t);
    /* Queue fields are ignored out of range or after DRIVER_OK (the core hands a dummy). */
    struct vdev_virtq_config *qc = vdev_virtio_queue_config(t->vio, q);
    uint32_t sel;
    switch (off) {
    case VMMIO_DEVICE_FEATURES_SEL:
        pthread_mutex_lock(&t->lock);
        t->dev_feat_sel = v;
        pthread_mutex_unlock(&t->lock);
        break;
    case VMMIO_DRIVER_FEATURES:
        pthread_mutex_lock(&t->lock);
        sel = t->drv_feat_sel;
        pthread_mutex_unlock(&t->lock);
        vdev_virtio_set_driver_features(t->vio, sel, v);
        break;
    case VMMIO_DRIVER_FEATURES_SEL:
        pthread_mutex_lock(&t->lock);
        t->drv_feat_sel = v;
        pthread_mutex_unlock(&t->lock);
        break;
    case VMMIO_QUEUE_SEL:
        pthread_mutex_lock(&t->lock);
        t->queue_sel = v;
        pthread_mutex_unlock(&t->lock);
        break;
    case VMMIO_QUEUE_NUM:
        if (q < t->nq)
            vdev_virtio_set_queue_size(t->vio, q, v);
        break;
    case VMMIO_QUEUE_READY:
        qc->enabled = (v & 1) != 0;
        break;
    case VMMIO_QUEUE_NOTIFY:
        /* The doorbell (datamatch = queue index) normally takes these; trapped leftovers
         * (no doorbell made) still kick. */
        if (v < t->nq)
            vdev_virtio_kick(t->vio, v);
        break;
    case VMMIO_INTERRUPT_ACK:
        ack_bits(t, v);
        break;
    case VMMIO_STATUS:
        /* No lock of ours held: a reset calls back into transport_reset. */
        vdev_virtio_set_status(t->vio, (uint8_t)v);
        break;
    case VMMIO_QUEUE_DESC_LOW:
        set_low(&qc->desc, v);
        break;
    case VMMIO_QUEUE_DESC_HIGH:
        set_high(&qc->desc, v);
        break;
    case VMMIO_QUEUE_DRIVER_LOW:
        set_low(&qc->driver, v);
        break;
    case VMMIO_QUEUE_DRIVER_HIGH:
        set_high(&qc->driver, v);
        break;
    case VMMIO_QUEUE_DEVICE_LOW:
        set_low(&qc->device, v);
        break;
    case VMMIO_QUEUE_DEVICE_HIGH:
        set_high(&qc->device, v);
        break;
    default:
        break; /* read-only registers and gaps drop writes */
    }
}

static uint64_t window_read(void *opaque, uint64_t off, unsigned size)
{
    struct vmmio *t = opaque;
    if (off >= VMMIO_CONFIG)
        return vdev_virtio_config_read(t->vio, (uint32_t)(off - VMMIO_CONFIG), size);
    if (size != 4 || (off & 3))
        return 0; /* registers are 32-bit only (§4.2.2.2) */
    return reg_read(t, off);
}

static void window_write(void *opaque, uint64_t off, unsigned size, uint64_t v)
{
    struct vmmio *t = opaque;
    if (off >= VMMIO_CONFIG)
        vdev_virtio_config_write(t->vio, (uint32_t)(off - VMMIO_CONFIG), size, v);
    else if (size == 4 && !(off & 3))
        reg_write(t, off, (uint32_t)v);
}

static const struct vdev_region_ops window_ops = {
    .size = sizeof(struct vdev_region_ops),
    .read = window_read,
    .write = window_write,
    .sizes = 0, /* any size: the config space takes 1, 2, 4 and 8 */
};

/* DSDT node (virtio-mmio's ACPI binding in Linux: _HID LNRO0005). */
static int gen_acpi(struct vdev *d, struct vdev_aml *dsdt, void *opaque)
{
    const struct vmmio *t = opaque;
    const uint64_t addr = vdev_loc(d)->addr;
    if (addr + VMMIO_WINDOW_SIZE > 0x100000000ull)
        return vdev_error(d, vdev_loc_pos(d), "leave it below 4 GiB for ACPI's Memory32Fixed",
                          "ACPI: virtio-mmio window 0x%llx is above 4 GiB",
                          (unsigned long long)addr);
    const size_t index = vdev_index(d);
    char name[5];
    snprintf(name, sizeof(name), "VR%02X", (unsigned)(index & 0xff));
    vdev_aml_device_begin(dsdt, name);
    vdev_aml_name_string(dsdt, "_HID", "LNRO0005");
    vdev_aml_name_int(dsdt, "_UID", index);
    vdev_aml_name_int(dsdt, "_CCA", 1);
    vdev_aml_name_begin(dsdt, "_CRS");
    vdev_aml_crs_begin(dsdt);
    vdev_aml_res_mem32(dsdt, addr, VMMIO_WINDOW_SIZE);
    vdev_aml_res_interrupt(dsdt, t->gsi, true, true, false);
    vdev_aml_crs_end(dsdt);
    vdev_aml_end(dsdt);
    return 0;
}

/* Device-tree node (the "virtio,mmio" binding): reg, a level interrupt, dma-coherent. */
static int gen_fdt(struct vdev *d, void *fdt, int parent, void *opaque)
{
    const struct vmmio *t = opaque;
    const uint64_t addr = vdev_loc(d)->addr;
    char name[40];
    snprintf(name, sizeof(name), "virtio_mmio@%llx", (unsigned long long)addr);
    int node = fdt_add_subnode(fdt, parent, name);
    if (node < 0)
        return node;
    const fdt64_t reg[2] = {cpu_to_fdt64(addr), cpu_to_fdt64(VMMIO_WINDOW_SIZE)};
    int rc = fdt_setprop_string(fdt, node, "compatible", "virtio,mmio");
    if (rc == 0)
        rc = fdt_setprop(fdt, node, "reg", reg, sizeof(reg));
    if (rc == 0)
        rc = fdt_setprop_empty(fdt, node, "dma-coherent");
    if (rc == 0)
        rc = vdev_fdt_set_gsi(vdev_machine_of(d), fdt, node, t->gsi, true);
    return rc;
}

static int make_doorbells(struct vmmio *t, struct vdev_err *err)
{
    for (unsigned q = 0; q < t->nq; q++) {
        /* Linux writes the queue index with writel; one eventfd per queue, matched on it. */
        struct vdev_doorbell_desc desc = {.space = VDEV_SPACE_MEM,
                                          .addr = vdev_loc(t->d)->addr + VMMIO_QUEUE_NOTIFY,
                                          .len = 4,
                                          .match = true,
                                          .data = q};
        if (vdev_doorbell_add(t->d, &desc, &t->db[q], err))
            return -1;
        vdev_virtio_set_kick_fd(t->vio, q, vdev_doorbell_fd(t->db[q]));
    }
    return 0;
}

static int create(struct vdev *d, struct vdev_virtio *vio, struct vdev_err *err)
{
    const struct vdev_virtio_ops *ops = vdev_virtio_device_ops(vio);
    const struct vdev_srcpos pos = vdev_loc_pos(d);
    const char *type = vdev_type_name(d);
    unsigned nq = vdev_virtio_num_queues(vio);
    uint32_t gsi;
    if (nq == 0 || nq > VMMIO_MAX_QUEUES)
        return vdev_err_at(err, pos, "vdev %s: virtio-mmio carries 1 to %u queues, not %u", type,
                           VMMIO_MAX_QUEUES, nq);
    if (ops->config_size > VMMIO_WINDOW_SIZE - VMMIO_CONFIG)
        return vdev_err_at(err, pos,
                           "vdev %s: virtio-mmio device configuration is at most %u bytes", type,
                           VMMIO_WINDOW_SIZE - VMMIO_CONFIG);
    if (!vdev_gsi(d, &gsi))
        return vdev_err_at(err, pos,
                           "vdev %s: a virtio-mmio device needs 'intr' (hint: add e.g. "
                           "'intr ioapic:10')",
                           type);
    struct vmmio *t = calloc(1, sizeof(*t));
    if (!t)
        return vdev_err_set(err, "out of memory");
    t->d = d;
    t->gsi = gsi;
    t->vio = vio;
    t->nq = nq;
    t->device_id = ops->device_id;
    t->config_size = ops->config_size;
    pthread_mutex_init(&t->lock, NULL);
    /* Bound first so the core frees t with the machine even if the rest fails. */
    vdev_virtio_bind_transport(vio, &transport_ops, t, "mmio");

    struct vdev_region_desc desc = {.owner = vdev_label(d),
                                    .space = VDEV_SPACE_MEM,
                                    .kind = VDEV_REGION_DEVICE,
                                    .base = vdev_loc(d)->addr,
                                    .size = VMMIO_WINDOW_SIZE,
                                    .ops = &window_ops,
                                    .opaque = t};
    struct vdev_err e;
    if (vdev_bus_add(vdev_machine_bus(vdev_machine_of(d)), &desc, &t->window, &e))
        return vdev_err_at(err, pos, "vdev %s: option 'loc': %s", type, e.msg);
    if (make_doorbells(t, err))
        return -1;
    vdev_set_transport_nodes(
        d, &(struct vdev_transport_nodes){.gen_acpi = gen_acpi, .gen_fdt = gen_fdt, .opaque = t});
    return 0;
}

/* A virtio device placed in memory (`loc mem:ADDR`, with an `intr`). */
VDEV_VIRTIO_TRANSPORT(vdev_virtio_mmio_transport, .name = "virtio-mmio", .kind = VDEV_LOC_MEM,
                      .window_size = VMMIO_WINDOW_SIZE, .create = create)
