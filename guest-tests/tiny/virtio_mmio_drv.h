/* A minimal virtio-mmio (version 2, virtio 1.2 §4.2.2) driver for tiny test guests: checks a
 * register window at a known address, gives access to the status, features and device
 * configuration, sets up split queues (struct vpd_queue from virtio_pci_drv.h: the rings are
 * the same on every transport), kicks them through QueueNotify and reads/ACKs the interrupt
 * status. Every register access is 32 bits wide, as the transport requires; the device
 * configuration at 0x100 takes 8- and 16-bit reads. */
#ifndef TINY_VIRTIO_MMIO_DRV_H
#define TINY_VIRTIO_MMIO_DRV_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio_pci_drv.h" /* struct vpd_queue, VPD_QSIZE */

/* Register offsets (virtio 1.2 §4.2.2). */
#define VMD_MAGIC         0x000
#define VMD_VERSION       0x004
#define VMD_DEVICE_ID     0x008
#define VMD_DEV_FEAT      0x010
#define VMD_DEV_FEAT_SEL  0x014
#define VMD_DRV_FEAT      0x020
#define VMD_DRV_FEAT_SEL  0x024
#define VMD_QUEUE_SEL     0x030
#define VMD_QUEUE_NUM_MAX 0x034
#define VMD_QUEUE_NUM     0x038
#define VMD_QUEUE_READY   0x044
#define VMD_QUEUE_NOTIFY  0x050
#define VMD_INT_STATUS    0x060
#define VMD_INT_ACK       0x064
#define VMD_STATUS        0x070
#define VMD_QUEUE_DESC    0x080 /* low; high at +4 */
#define VMD_QUEUE_DRIVER  0x090
#define VMD_QUEUE_DEVICE  0x0a0
#define VMD_CFG_GEN       0x0fc
#define VMD_CONFIG        0x100
#define VMD_MAGIC_VALUE   0x74726976u /* "virt" */

struct vmd {
    volatile uint8_t *base;
    uint32_t version, device_id;
};

/* Looks at the window at `base`: true if it has the magic value, version 2 and device ID
 * `virtio_id`. Safe on an address nothing claims (it reads as 0 or all ones). */
bool vmd_find(struct vmd *m, uint32_t base, uint32_t virtio_id);

static inline uint32_t vmd_read(struct vmd *m, unsigned off)
{
    return *(volatile uint32_t *)(m->base + off);
}
static inline void vmd_write(struct vmd *m, unsigned off, uint32_t v)
{
    *(volatile uint32_t *)(m->base + off) = v;
}

uint8_t vmd_status(struct vmd *m);
void vmd_set_status(struct vmd *m, uint8_t s);
uint64_t vmd_device_features(struct vmd *m);
void vmd_set_driver_features(struct vmd *m, uint64_t f);
uint8_t vmd_config8(struct vmd *m, unsigned off);
uint16_t vmd_config16(struct vmd *m, unsigned off);
/* InterruptStatus (bit 0 used buffer, bit 1 configuration change) and its ACK, which clears
 * the bits written and lowers the line once none is left. Callable at CPL0 and CPL3. */
static inline uint32_t vmd_int_status(struct vmd *m)
{
    return vmd_read(m, VMD_INT_STATUS);
}
static inline void vmd_int_ack(struct vmd *m, uint32_t bits)
{
    vmd_write(m, VMD_INT_ACK, bits);
}

/* Sets up queue `index` with VPD_QSIZE entries and makes it ready. false if the device
 * refuses (queue missing or too small, already ready, not kept). */
bool vmd_queue_setup(struct vmd *m, struct vpd_queue *q, unsigned index);
/* Makes descriptor chain `head` available and writes the queue index to QueueNotify. */
void vmd_queue_kick(struct vmd *m, struct vpd_queue *q, uint16_t head);

#endif
