/* virtio-pci modern transport (virtio 1.2 §4.1): private state shared by its files.
 *
 * Everything lives in BAR 0 (64-bit memory, VPCI_BAR_SIZE bytes) at fixed offsets:
 *   common cfg 0x0000, ISR 0x1000, device cfg 0x2000, notify 0x3000 (4 bytes per queue),
 *   MSI-X table 0x8000 and PBA 0xC000 (answered by the PCI core).
 */
#ifndef VDEV_VIRTIO_PCI_H
#define VDEV_VIRTIO_PCI_H

#include <pthread.h>
#include <stdatomic.h>
#include <vdev/events.h>
#include <vdev/module.h>
#include <vdev/pci.h>
#include <vdev/virtio_transport.h>

#define VPCI_BAR             0
#define VPCI_BAR_SIZE        0x10000u
#define VPCI_COMMON_OFF      0x0000u
#define VPCI_COMMON_LEN      0x40u /* through queue_reset and the admin queue fields (1.3) */
#define VPCI_ISR_OFF         0x1000u
#define VPCI_ISR_LEN         4u
#define VPCI_DEVCFG_OFF      0x2000u
#define VPCI_DEVCFG_MAX      0x1000u
#define VPCI_NOTIFY_OFF      0x3000u
#define VPCI_NOTIFY_MULT     4u
#define VPCI_MSIX_TABLE      0x8000u
#define VPCI_MSIX_PBA        0xc000u
#define VPCI_MAX_QUEUES      64u
#define VIRTIO_MSI_NO_VECTOR 0xffffu

/* ISR bits (§4.1.4.5). */
#define VPCI_ISR_QUEUE  1u
#define VPCI_ISR_CONFIG 2u

struct vpci {
    struct vdev *d;
    struct vdev_virtio *vio;
    struct vdev_pci_func *f;
    unsigned nq;
    unsigned nvec; /* MSI-X vectors: one per queue plus one for configuration changes */
    uint32_t devcfg_len;

    /* Common configuration registers of the transport itself; cfg_lock serialises the
     * driver's register accesses (select-then-access sequences, status changes). */
    pthread_mutex_t cfg_lock;
    _Atomic uint32_t device_feature_select;
    _Atomic uint32_t driver_feature_select;
    _Atomic uint16_t queue_select;
    /* Vectors are read by notify paths on device threads: atomics, no lock. */
    _Atomic uint16_t config_vector;
    _Atomic uint16_t queue_vector[VPCI_MAX_QUEUES];

    /* ISR and the INTx level change together under isr_lock, so a read-to-clear racing a
     * notification never leaves the line asserted with the ISR empty. */
    pthread_mutex_t isr_lock;
    uint8_t isr;

    /* Doorbells (one per queue), created when BAR 0 is first enabled. */
    pthread_mutex_t db_lock;
    _Atomic bool db_ready;
    uint64_t db_base; /* BAR address the doorbells are at */
    struct vdev_doorbell *db[VPCI_MAX_QUEUES];
};

/* virtio_pci_common.c: the common configuration structure. */
uint64_t vpci_common_read(struct vpci *t, uint64_t off, unsigned size);
void vpci_common_write(struct vpci *t, uint64_t off, unsigned size, uint64_t v);
/* Transport defaults after a device reset: vectors NO_VECTOR, selectors 0. */
void vpci_common_reset(struct vpci *t);

/* virtio_pci_irq.c: interrupts and the ISR. */
void vpci_notify_queue(void *opaque, unsigned q);
void vpci_notify_config(void *opaque);
uint8_t vpci_isr_read_clear(struct vpci *t);
void vpci_irq_reset(struct vpci *t);

/* virtio_pci_notify.c: doorbells following BAR 0. */
void vpci_doorbells_sync(struct vpci *t, uint64_t base, bool enabled);
void vpci_notify_write(struct vpci *t, uint64_t off, unsigned size, uint64_t v);

#endif
