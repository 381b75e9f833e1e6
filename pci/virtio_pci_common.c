/* virtio-pci common configuration structure (virtio 1.2 §4.1.4.3), mapped onto the core.
 *
 * Each field answers accesses of its own width only; the 64-bit queue addresses also take
 * two 32-bit halves (what Linux writes). Anything else reads 0 and is dropped: the guest
 * is hostile, a wrong access never reaches the core.
 */
#include "virtio_pci.h"

enum {
    CC_DFSELECT = 0x00,
    CC_DF = 0x04,
    CC_GFSELECT = 0x08,
    CC_GF = 0x0c,
    CC_MSIX_CONFIG = 0x10,
    CC_NUM_QUEUES = 0x12,
    CC_STATUS = 0x14,
    CC_CFG_GENERATION = 0x15,
    CC_Q_SELECT = 0x16,
    CC_Q_SIZE = 0x18,
    CC_Q_MSIX = 0x1a,
    CC_Q_ENABLE = 0x1c,
    CC_Q_NOFF = 0x1e,
    CC_Q_DESC = 0x20,
    CC_Q_DRIVER = 0x28,
    CC_Q_DEVICE = 0x30,
    CC_Q_NDATA = 0x38,
    CC_Q_RESET = 0x3a,
    CC_ADMIN_Q_INDEX = 0x3c,
    CC_ADMIN_Q_NUM = 0x3e,
};

/* Width of the field at `off`, 0 if no field starts there. */
static unsigned field_size(uint64_t off)
{
    switch (off) {
    case CC_DFSELECT:
    case CC_DF:
    case CC_GFSELECT:
    case CC_GF:
        return 4;
    case CC_STATUS:
    case CC_CFG_GENERATION:
        return 1;
    case CC_Q_DESC:
    case CC_Q_DRIVER:
    case CC_Q_DEVICE:
        return 8;
    case CC_MSIX_CONFIG:
    case CC_NUM_QUEUES:
    case CC_Q_SELECT:
    case CC_Q_SIZE:
    case CC_Q_MSIX:
    case CC_Q_ENABLE:
    case CC_Q_NOFF:
    case CC_Q_NDATA:
    case CC_Q_RESET:
    case CC_ADMIN_Q_INDEX:
    case CC_ADMIN_Q_NUM:
        return 2;
    default:
        return 0;
    }
}

/* The selected queue, or -1 when queue_select is out of range. */
static int selected_queue(struct vpci *t)
{
    unsigned q = atomic_load(&t->queue_select);
    return q < t->nq ? (int)q : -1;
}

static uint64_t *queue_addr_field(struct vdev_virtq_config *c, uint64_t field)
{
    return field == CC_Q_DESC ? &c->desc : field == CC_Q_DRIVER ? &c->driver : &c->device;
}

static uint16_t vector_or_none(const struct vpci *t, uint64_t v)
{
    return v < t->nvec ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
}

static uint64_t queue_read(struct vpci *t, uint64_t field)
{
    int q = selected_queue(t);
    if (q < 0)
        return 0; /* queue_size 0: "not available" (§4.1.4.3.2) */
    struct vdev_virtq_config *c = vdev_virtio_queue_config(t->vio, (unsigned)q);
    switch (field) {
    case CC_Q_SIZE:
        return c->size;
    case CC_Q_MSIX:
        return atomic_load(&t->queue_vector[q]);
    case CC_Q_ENABLE:
        return c->enabled;
    case CC_Q_NOFF:
    case CC_Q_NDATA:
        return (unsigned)q;
    case CC_Q_DESC:
    case CC_Q_DRIVER:
    case CC_Q_DEVICE:
        return *queue_addr_field(c, field);
    default:
        return 0;
    }
}

static uint64_t field_read(struct vpci *t, uint64_t field)
{
    switch (field) {
    case CC_DFSELECT:
        return atomic_load(&t->device_feature_select);
    case CC_DF:
        return vdev_virtio_device_features(t->vio, atomic_load(&t->device_feature_select));
    case CC_GFSELECT:
        return atomic_load(&t->driver_feature_select);
    case CC_GF:
        return vdev_virtio_driver_features(t->vio, atomic_load(&t->driver_feature_select));
    case CC_MSIX_CONFIG:
        return atomic_load(&t->config_vector);
    case CC_NUM_QUEUES:
        return t->nq;
    case CC_STATUS:
        return vdev_virtio_get_status(t->vio);
    case CC_CFG_GENERATION:
        return vdev_virtio_config_generation(t->vio) & 0xff;
    case CC_Q_SELECT:
        return atomic_load(&t->queue_select);
    case CC_Q_RESET: /* VIRTIO_F_RING_RESET is not offered */
    case CC_ADMIN_Q_INDEX:
    case CC_ADMIN_Q_NUM:
        return 0;
    default:
        return queue_read(t, field);
    }
}

static void queue_write(struct vpci *t, uint64_t field, uint64_t v, uint64_t mask, unsigned shift)
{
    int q = selected_queue(t);
    if (q < 0)
        return;
    switch (field) {
    case CC_Q_SIZE:
        vdev_virtio_set_queue_size(t->vio, (unsigned)q, (uint32_t)v);
        return;
    case CC_Q_MSIX:
        atomic_store(&t->queue_vector[q], vector_or_none(t, v));
        return;
    case CC_Q_ENABLE:
        /* The driver may only write 1 (§4.1.4.3.2); 0 is ignored, reset disables. */
        if (v == 1)
            vdev_virtio_queue_config(t->vio, (unsigned)q)->enabled = true;
        return;
    case CC_Q_DESC:
    case CC_Q_DRIVER:
    case CC_Q_DEVICE: {
        uint64_t *p = queue_addr_field(vdev_virtio_queue_config(t->vio, (unsigned)q), field);
        *p = (*p & ~(mask << shift)) | ((v & mask) << shift);
        return;
    }
    default:
        return; /* read-only: queue_notify_off, queue_notify_data, queue_reset */
    }
}

static void field_write(struct vpci *t, uint64_t field, uint64_t v, uint64_t mask, unsigned shift)
{
    switch (field) {
    case CC_DFSELECT:
        atomic_store(&t->device_feature_select, (uint32_t)v);
        return;
    case CC_GFSELECT:
        atomic_store(&t->driver_feature_select, (uint32_t)v);
        return;
    case CC_GF:
        vdev_virtio_set_driver_features(t->vio, atomic_load(&t->driver_feature_select),
                                        (uint32_t)v);
        return;
    case CC_MSIX_CONFIG:
        atomic_store(&t->config_vector, vector_or_none(t, v));
        return;
    case CC_STATUS:
        /* 0 resets; the core calls our reset hook (vectors, ISR) from inside. */
        vdev_virtio_set_status(t->vio, (uint8_t)v);
        return;
    case CC_Q_SELECT:
        atomic_store(&t->queue_select, (uint16_t)v);
        return;
    case CC_DF:
    case CC_NUM_QUEUES:
    case CC_CFG_GENERATION:
    case CC_Q_RESET:
    case CC_ADMIN_Q_INDEX:
    case CC_ADMIN_Q_NUM:
        return; /* read-only */
    default:
        queue_write(t, field, v, mask, shift);
        return;
    }
}

/* Finds the field an access addresses: the whole field, or a 32-bit half of a 64-bit one.
 * Returns false for anything else. */
static bool decode(uint64_t off, unsigned size, uint64_t *field, uint64_t *mask, unsigned *shift)
{
    unsigned fs = field_size(off);
    if (fs && fs == size) {
        *field = off;
        *mask = size == 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
        *shift = 0;
        return true;
    }
    if (size == 4 && off >= 4 && field_size(off - 4) == 8) {
        *field = off - 4;
        *mask = 0xffffffffull;
        *shift = 32;
        return true;
    }
    if (size == 4 && fs == 8) {
        *field = off;
        *mask = 0xffffffffull;
        *shift = 0;
        return true;
    }
    return false;
}

uint64_t vpci_common_read(struct vpci *t, uint64_t off, unsigned size)
{
    uint64_t field, mask;
    unsigned shift;
    if (!decode(off, size, &field, &mask, &shift))
        return 0;
    pthread_mutex_lock(&t->cfg_lock);
    uint64_t v = field_read(t, field);
    pthread_mutex_unlock(&t->cfg_lock);
    return (v >> shift) & mask;
}

void vpci_common_write(struct vpci *t, uint64_t off, unsigned size, uint64_t v)
{
    uint64_t field, mask;
    unsigned shift;
    if (!decode(off, size, &field, &mask, &shift))
        return;
    pthread_mutex_lock(&t->cfg_lock);
    field_write(t, field, v & mask, mask, shift);
    pthread_mutex_unlock(&t->cfg_lock);
}

void vpci_common_reset(struct vpci *t)
{
    atomic_store(&t->device_feature_select, 0);
    atomic_store(&t->driver_feature_select, 0);
    atomic_store(&t->queue_select, 0);
    atomic_store(&t->config_vector, VIRTIO_MSI_NO_VECTOR);
    for (unsigned q = 0; q < VPCI_MAX_QUEUES; q++)
        atomic_store(&t->queue_vector[q], VIRTIO_MSI_NO_VECTOR);
}
