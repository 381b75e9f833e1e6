/* A minimal virtio-pci (modern, virtio 1.2 §4.1) driver for tiny test guests: finds a
 * function through configuration mechanism #1 (ports 0xCF8/0xCFC), walks its vendor
 * capabilities, places BAR 0 below 4 GiB (the runtime maps only the first 4 GiB), gives
 * access to the common and device configuration, sets up split queues (rings in the guest
 * image, identity-mapped), kicks them and programs MSI-X vectors (runtime/pci.c). */
#ifndef TINY_VIRTIO_PCI_DRV_H
#define TINY_VIRTIO_PCI_DRV_H

#include <stdbool.h>
#include <stdint.h>

#include "pci.h" /* configuration access, MSI-X */

struct vpd {
    unsigned bdf;
    uint64_t bar0;
    uint32_t bar0_size;
    volatile uint8_t *common, *isr, *device, *notify; /* NULL when the cap is missing */
    uint32_t device_len, notify_mult;
    unsigned ncaps; /* vendor capabilities seen */
    uint8_t msix;   /* MSI-X capability offset, 0 if none */
};

/* Finds the first virtio function with device ID `virtio_id` (PCI device 0x1040 + ID), moves
 * BAR 0 to `bar_addr` (aligned to its size, inside the host bridge's 32-bit window) and turns
 * memory decoding on. false if there is none or a capability is missing. */
bool vpd_find(struct vpd *v, uint16_t virtio_id, uint32_t bar_addr);

/* Common configuration (struct virtio_pci_common_cfg offsets). */
#define VPD_DFSELECT   0x00
#define VPD_DF         0x04
#define VPD_GFSELECT   0x08
#define VPD_GF         0x0c
#define VPD_MSIX_CFG   0x10
#define VPD_NUM_QUEUES 0x12
#define VPD_STATUS     0x14
#define VPD_CFG_GEN    0x15
#define VPD_Q_SELECT   0x16
#define VPD_Q_SIZE     0x18

uint8_t vpd_status(struct vpd *v);
void vpd_set_status(struct vpd *v, uint8_t s);
uint64_t vpd_device_features(struct vpd *v);
void vpd_set_driver_features(struct vpd *v, uint64_t f);
uint16_t vpd_num_queues(struct vpd *v);
uint8_t vpd_config_generation(struct vpd *v);
uint8_t vpd_config8(struct vpd *v, unsigned off);
uint16_t vpd_config16(struct vpd *v, unsigned off); /* a 16-bit read (0 outside the config) */
/* The ISR status byte (bit 0 queue, bit 1 configuration change); reading it clears it and
 * lowers the INTx line. Callable at CPL0 (interrupt handlers) and CPL3. */
static inline uint8_t vpd_isr_read(struct vpd *v)
{
    return *v->isr;
}
/* The PCI interrupt line register: the IOAPIC input INTA# reaches (what firmware writes). */
unsigned vpd_intx_line(struct vpd *v);

/* ---- split queues (virtio 1.2 §2.7) ---- */
#define VPD_QSIZE        8
#define VPD_DESC_F_NEXT  1
#define VPD_DESC_F_WRITE 2

struct vpd_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};

struct vpd_queue {
    struct vpd_desc desc[VPD_QSIZE] __attribute__((aligned(16)));
    struct {
        uint16_t flags, idx, ring[VPD_QSIZE], used_event;
    } avail __attribute__((aligned(2)));
    struct {
        uint16_t flags, idx;
        struct {
            uint32_t id, len;
        } ring[VPD_QSIZE];
        uint16_t avail_event;
    } used __attribute__((aligned(4)));
    unsigned index;
    volatile uint16_t *notify; /* this queue's doorbell */
};

/* Sets up queue `index` with VPD_QSIZE entries and MSI-X vector `vector` (0xffff: none) and
 * enables it. false if the device refuses (queue missing, vector not taken). */
bool vpd_queue_setup(struct vpd *v, struct vpd_queue *q, unsigned index, uint16_t vector);
/* Makes descriptor chain `head` available and kicks the queue. */
void vpd_queue_kick(struct vpd_queue *q, uint16_t head);
static inline uint16_t vpd_used_idx(const struct vpd_queue *q)
{
    return __atomic_load_n(&q->used.idx, __ATOMIC_ACQUIRE);
}

/* MSI-X: entry `entry` sends `vector` to the LAPIC with id `dest`; then MSI-X is enabled. */
void vpd_msix_route(struct vpd *v, unsigned entry, unsigned vector, unsigned dest);
void vpd_msix_enable(struct vpd *v);

#endif
