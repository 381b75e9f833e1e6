/* Minimal virtio-mmio driver for tiny guests: see virtio_mmio_drv.h. */
#include "virtio_mmio_drv.h"

bool vmd_find(struct vmd *m, uint32_t base, uint32_t virtio_id)
{
    *m = (struct vmd){.base = (volatile uint8_t *)(uintptr_t)base};
    if (vmd_read(m, VMD_MAGIC) != VMD_MAGIC_VALUE)
        return false;
    m->version = vmd_read(m, VMD_VERSION);
    m->device_id = vmd_read(m, VMD_DEVICE_ID);
    return m->version == 2 && m->device_id == virtio_id;
}

uint8_t vmd_status(struct vmd *m)
{
    return (uint8_t)vmd_read(m, VMD_STATUS);
}

void vmd_set_status(struct vmd *m, uint8_t s)
{
    vmd_write(m, VMD_STATUS, s);
}

uint64_t vmd_device_features(struct vmd *m)
{
    vmd_write(m, VMD_DEV_FEAT_SEL, 0);
    uint64_t lo = vmd_read(m, VMD_DEV_FEAT);
    vmd_write(m, VMD_DEV_FEAT_SEL, 1);
    return lo | (uint64_t)vmd_read(m, VMD_DEV_FEAT) << 32;
}

void vmd_set_driver_features(struct vmd *m, uint64_t f)
{
    vmd_write(m, VMD_DRV_FEAT_SEL, 0);
    vmd_write(m, VMD_DRV_FEAT, (uint32_t)f);
    vmd_write(m, VMD_DRV_FEAT_SEL, 1);
    vmd_write(m, VMD_DRV_FEAT, (uint32_t)(f >> 32));
}

uint8_t vmd_config8(struct vmd *m, unsigned off)
{
    return m->base[VMD_CONFIG + off];
}

uint16_t vmd_config16(struct vmd *m, unsigned off)
{
    return *(volatile uint16_t *)(m->base + VMD_CONFIG + off);
}

static void write64(struct vmd *m, unsigned off, uint64_t v)
{
    vmd_write(m, off, (uint32_t)v);
    vmd_write(m, off + 4, (uint32_t)(v >> 32));
}

bool vmd_queue_setup(struct vmd *m, struct vpd_queue *q, unsigned index)
{
    vmd_write(m, VMD_QUEUE_SEL, index);
    if (vmd_read(m, VMD_QUEUE_READY) != 0 || vmd_read(m, VMD_QUEUE_NUM_MAX) < VPD_QSIZE)
        return false;
    vmd_write(m, VMD_QUEUE_NUM, VPD_QSIZE);
    if (vmd_read(m, VMD_QUEUE_NUM) != VPD_QSIZE)
        return false;
    q->index = index;
    q->avail.idx = 0;
    q->used.idx = 0;
    q->notify = 0; /* MMIO kicks go through vmd_queue_kick */
    write64(m, VMD_QUEUE_DESC, (uintptr_t)q->desc);
    write64(m, VMD_QUEUE_DRIVER, (uintptr_t)&q->avail);
    write64(m, VMD_QUEUE_DEVICE, (uintptr_t)&q->used);
    if (vmd_read(m, VMD_QUEUE_DESC) != (uint32_t)(uintptr_t)q->desc)
        return false;
    vmd_write(m, VMD_QUEUE_READY, 1);
    return vmd_read(m, VMD_QUEUE_READY) == 1;
}

void vmd_queue_kick(struct vmd *m, struct vpd_queue *q, uint16_t head)
{
    q->avail.ring[q->avail.idx % VPD_QSIZE] = head;
    __atomic_store_n(&q->avail.idx, (uint16_t)(q->avail.idx + 1), __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    vmd_write(m, VMD_QUEUE_NOTIFY, q->index); /* 32 bits: the doorbell matches on the index */
}
