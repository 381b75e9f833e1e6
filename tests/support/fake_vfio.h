/* A fake kernel VFIO for lib/vfio's tests: a device whose regions live in a memfd, ioctls
 * answered from the tables below and recorded, any ioctl or open made to fail. */
#ifndef FAKE_VFIO_H
#define FAKE_VFIO_H

#include <linux/vfio.h>
#include <stdbool.h>
#include <stdint.h>
#include <vfio/vfio_dev.h>

#define FAKE_VFIO_MAX_DMA 16

struct fake_vfio {
    struct vfio_backend be; /* hand this to vfio_dev_open */
    /* the device: set before opening */
    uint64_t region_size[VFIO_NREGIONS];
    uint32_t region_flags[VFIO_NREGIONS]; /* VFIO_REGION_INFO_FLAG_* (CAPS added for sparse) */
    struct vfio_area sparse[4];           /* BAR0's sparse-mmap areas */
    unsigned nsparse;
    uint32_t irq_count[VFIO_NIRQ_KINDS];
    uint32_t dev_flags; /* VFIO_DEVICE_FLAGS_*; default PCI | RESET */
    uint32_t num_regions, num_irqs;
    struct vfio_range iova[4]; /* the IOMMU's usable ranges; none = no capability */
    unsigned niova;
    bool not_viable, no_type1v2;
    int api_version;
    /* failures: the n-th (from 1) ioctl with this request number, and opens of a path
     * containing fail_open */
    unsigned long fail_req;
    unsigned fail_nth;
    const char *fail_open;
    int fail_errno;
    /* what happened */
    int memfd; /* the regions, each at index << 40... packed: region r at r * 1 MiB */
    unsigned opens, closes, resets, mmaps, munmaps;
    struct {
        bool map;
        uint64_t iova, size, vaddr;
    } dma[FAKE_VFIO_MAX_DMA];
    unsigned ndma;
    struct {
        uint32_t flags, index, start, count;
    } last_irq_set; /* the last VFIO_DEVICE_SET_IRQS, without its data */
    int32_t last_irq_fds[8];
    unsigned irq_sets;
    /* as vfio-pci: one interrupt kind at a time (-1: none); INTx's trigger and unmask fds */
    int irq_kind;
    int32_t intx_trigger, intx_unmask;
    unsigned irq_sets_refused; /* SET_IRQS that broke those rules (the kernel's EINVAL) */
    unsigned seen[64];         /* calls per request (by _IOC_NR - VFIO_BASE) */
};

/* A device like the igb VF: BAR0 and BAR3 16 KiB mmappable, config 256 bytes, 3 MSI-X
 * vectors, no INTx, no ROM, the MSI window reserved. fake_vfio_give_intx_rom makes it more
 * like a PF: INTA# (pin register 1, one VFIO INTx) and a 16 KiB ROM filled with 0x55aa.. */
void fake_vfio_init(struct fake_vfio *f);
void fake_vfio_free(struct fake_vfio *f);
void fake_vfio_give_intx_rom(struct fake_vfio *f);
/* ... and an MSI capability (64-bit, 4 vectors) at 0x50, first in the list; VFIO lists 4. */
void fake_vfio_give_msi(struct fake_vfio *f);
/* Replaces the device's config space (what VFIO's config region reads). */
void fake_vfio_set_cfg(struct fake_vfio *f, const uint8_t cfg[256]);
/* The offset of region r in the device fd. */
#define FAKE_VFIO_REGION_OFF(r) ((uint64_t)(r) << 20)

#endif
