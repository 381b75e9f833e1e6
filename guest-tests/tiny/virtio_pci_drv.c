/* Minimal virtio-pci driver for tiny guests: see virtio_pci_drv.h. */
#include "virtio_pci_drv.h"

#include "pci.h"
#include "rt.h"

static bool find_function(struct vpd *v, uint16_t virtio_id)
{
    int bdf = pci_find_function(0x1af4, (uint16_t)(0x1040u + virtio_id));
    v->bdf = (unsigned)bdf;
    return bdf >= 0;
}

/* Sizes BAR 0 (decoding off) and puts it at `addr`. */
static bool place_bar0(struct vpd *v, uint32_t addr)
{
    uint16_t cmd = (uint16_t)pci_cfg_read(v->bdf, PCI_COMMAND, 2);
    pci_cfg_write(v->bdf, PCI_COMMAND, 2, cmd & ~PCI_CMD_MEM);
    uint32_t lo = pci_cfg_read(v->bdf, PCI_BAR0, 4);
    if ((lo & 0x7) != 0x4) /* memory, 64-bit */
        return false;
    pci_cfg_write(v->bdf, PCI_BAR0, 4, 0xffffffffu);
    v->bar0_size = ~(pci_cfg_read(v->bdf, PCI_BAR0, 4) & ~0xfu) + 1;
    if (!v->bar0_size || (addr & (v->bar0_size - 1)))
        return false;
    pci_cfg_write(v->bdf, PCI_BAR0, 4, addr);
    pci_cfg_write(v->bdf, PCI_BAR0 + 4, 4, 0);
    v->bar0 = (uint64_t)pci_cfg_read(v->bdf, PCI_BAR0 + 4, 4) << 32 |
              (pci_cfg_read(v->bdf, PCI_BAR0, 4) & ~0xfu);
    pci_cfg_write(v->bdf, PCI_COMMAND, 2, cmd | PCI_CMD_MEM | PCI_CMD_MASTER);
    return v->bar0 == addr;
}

static volatile uint8_t *cap_ptr(struct vpd *v, unsigned cap)
{
    if (pci_cfg_read(v->bdf, cap + 4, 1) != 0) /* only BAR 0 is placed */
        return 0;
    uint32_t off = pci_cfg_read(v->bdf, cap + 8, 4);
    return (volatile uint8_t *)(uintptr_t)(v->bar0 + off);
}

bool vpd_find(struct vpd *v, uint16_t virtio_id, uint32_t bar_addr)
{
    *v = (struct vpd){0};
    if (!find_function(v, virtio_id) || !place_bar0(v, bar_addr))
        return false;
    if (!(pci_cfg_read(v->bdf, PCI_STATUS, 2) & PCI_STATUS_CAPS))
        return false;
    v->msix = (uint8_t)pci_find_cap(v->bdf, PCI_CAP_MSIX);
    unsigned p = pci_cfg_read(v->bdf, PCI_CAP_PTR, 1) & 0xfc;
    for (unsigned guard = 0; p && guard < 48; guard++) {
        if (pci_cfg_read(v->bdf, p, 1) == PCI_CAP_VNDR) {
            v->ncaps++;
            switch (pci_cfg_read(v->bdf, p + 3, 1)) { /* cfg_type; the first of each wins */
            case 1:
                v->common = v->common ? v->common : cap_ptr(v, p);
                break;
            case 2:
                if (!v->notify) {
                    v->notify = cap_ptr(v, p);
                    v->notify_mult = pci_cfg_read(v->bdf, p + 16, 4);
                }
                break;
            case 3:
                v->isr = v->isr ? v->isr : cap_ptr(v, p);
                break;
            case 4:
                if (!v->device) {
                    v->device = cap_ptr(v, p);
                    v->device_len = pci_cfg_read(v->bdf, p + 12, 4);
                }
                break;
            }
        }
        p = pci_cfg_read(v->bdf, p + 1, 1) & 0xfc;
    }
    return v->common && v->notify && v->isr;
}

uint8_t vpd_status(struct vpd *v)
{
    return v->common[VPD_STATUS];
}

void vpd_set_status(struct vpd *v, uint8_t s)
{
    v->common[VPD_STATUS] = s;
}

static volatile uint32_t *reg32(struct vpd *v, unsigned off)
{
    return (volatile uint32_t *)(v->common + off);
}

uint64_t vpd_device_features(struct vpd *v)
{
    *reg32(v, VPD_DFSELECT) = 0;
    uint64_t lo = *reg32(v, VPD_DF);
    *reg32(v, VPD_DFSELECT) = 1;
    return lo | (uint64_t)*reg32(v, VPD_DF) << 32;
}

void vpd_set_driver_features(struct vpd *v, uint64_t f)
{
    *reg32(v, VPD_GFSELECT) = 0;
    *reg32(v, VPD_GF) = (uint32_t)f;
    *reg32(v, VPD_GFSELECT) = 1;
    *reg32(v, VPD_GF) = (uint32_t)(f >> 32);
}

uint16_t vpd_num_queues(struct vpd *v)
{
    return *(volatile uint16_t *)(v->common + VPD_NUM_QUEUES);
}

uint8_t vpd_config_generation(struct vpd *v)
{
    return v->common[VPD_CFG_GEN];
}

uint8_t vpd_config8(struct vpd *v, unsigned off)
{
    return off < v->device_len ? v->device[off] : 0;
}

uint16_t vpd_config16(struct vpd *v, unsigned off)
{
    return off + 2 <= v->device_len ? *(volatile uint16_t *)(v->device + off) : 0;
}

unsigned vpd_intx_line(struct vpd *v)
{
    return pci_cfg_read(v->bdf, PCI_INTERRUPT_LINE, 1);
}

static volatile uint16_t *reg16(struct vpd *v, unsigned off)
{
    return (volatile uint16_t *)(v->common + off);
}

/* Linux writes 64-bit fields as two 32-bit halves; so do we. */
static void write64(struct vpd *v, unsigned off, uint64_t val)
{
    *reg32(v, off) = (uint32_t)val;
    *reg32(v, off + 4) = (uint32_t)(val >> 32);
}

bool vpd_queue_setup(struct vpd *v, struct vpd_queue *q, unsigned index, uint16_t vector)
{
    *reg16(v, VPD_Q_SELECT) = (uint16_t)index;
    if (*reg16(v, VPD_Q_SIZE) < VPD_QSIZE)
        return false;
    *reg16(v, VPD_Q_SIZE) = VPD_QSIZE;
    *reg16(v, 0x1a) = vector; /* queue_msix_vector */
    if (*reg16(v, 0x1a) != vector)
        return false;
    q->index = index;
    q->avail.idx = 0;
    q->used.idx = 0;
    write64(v, 0x20, (uintptr_t)q->desc);
    write64(v, 0x28, (uintptr_t)&q->avail);
    write64(v, 0x30, (uintptr_t)&q->used);
    q->notify = (volatile uint16_t *)(v->notify + *reg16(v, 0x1e) * v->notify_mult);
    *reg16(v, 0x1c) = 1; /* queue_enable */
    return *reg16(v, 0x1c) == 1;
}

void vpd_queue_kick(struct vpd_queue *q, uint16_t head)
{
    q->avail.ring[q->avail.idx % VPD_QSIZE] = head;
    __atomic_store_n(&q->avail.idx, (uint16_t)(q->avail.idx + 1), __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    *q->notify = (uint16_t)q->index; /* a 16-bit write, as Linux's iowrite16 */
}

/* The table in BAR 0 (the only BAR placed). */
static volatile uint32_t *msix_table(struct vpd *v)
{
    return (volatile uint32_t *)(uintptr_t)(v->bar0 + pci_msix_table_offset(v->bdf, v->msix));
}

void vpd_msix_route(struct vpd *v, unsigned entry, unsigned vector, unsigned dest)
{
    pci_msix_route(msix_table(v), entry, vector, dest);
}

void vpd_msix_enable(struct vpd *v)
{
    pci_msix_enable(v->bdf, v->msix, true);
}
