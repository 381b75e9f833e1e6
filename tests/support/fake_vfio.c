/* A fake kernel VFIO (fake_vfio.h). */
#include "fake_vfio.h"

#include <errno.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* Set-up that fails is a broken test machine: stop there (no Check: fuzz targets use it). */
#define FAKE_OK(c)                                                                                 \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, #c);                         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int f_open(void *ctx, const char *path, int flags)
{
    struct fake_vfio *f = ctx;
    (void)flags;
    if (f->fail_open && strstr(path, f->fail_open)) {
        errno = f->fail_errno ? f->fail_errno : ENOENT;
        return -1;
    }
    f->opens++;
    return eventfd(0, EFD_CLOEXEC);
}

static int f_close(void *ctx, int fd)
{
    struct fake_vfio *f = ctx;
    f->closes++;
    return fd == f->memfd ? 0 : close(fd);
}

static int region_info(struct fake_vfio *f, struct vfio_region_info *ri)
{
    unsigned r = ri->index;
    /* as vfio-pci: the VGA region of a device without VGA answers EINVAL */
    if (r >= VFIO_NREGIONS || r == VFIO_PCI_VGA_REGION_INDEX) {
        errno = EINVAL;
        return -1;
    }
    uint32_t argsz = ri->argsz;
    bool sparse = r == 0 && f->nsparse;
    uint32_t need =
        sizeof(*ri) + (sparse ? sizeof(struct vfio_region_info_cap_sparse_mmap) +
                                    f->nsparse * sizeof(struct vfio_region_sparse_mmap_area)
                              : 0);
    ri->flags = f->region_flags[r] | (sparse ? VFIO_REGION_INFO_FLAG_CAPS : 0);
    ri->size = f->region_size[r];
    ri->offset = FAKE_VFIO_REGION_OFF(r);
    ri->cap_offset = 0;
    ri->argsz = need;
    if (sparse && argsz >= need) {
        ri->cap_offset = sizeof(*ri);
        struct vfio_region_info_cap_sparse_mmap *sp = (void *)((char *)ri + sizeof(*ri));
        sp->header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
        sp->header.version = 1;
        sp->header.next = 0;
        sp->nr_areas = f->nsparse;
        for (unsigned k = 0; k < f->nsparse; k++) {
            sp->areas[k].offset = f->sparse[k].offset;
            sp->areas[k].size = f->sparse[k].size;
        }
    }
    return 0;
}

static int iommu_info(struct fake_vfio *f, struct vfio_iommu_type1_info *ii)
{
    uint32_t argsz = ii->argsz;
    uint32_t need = sizeof(*ii) + (f->niova ? sizeof(struct vfio_iommu_type1_info_cap_iova_range) +
                                                  f->niova * sizeof(struct vfio_iova_range)
                                            : 0);
    ii->flags = VFIO_IOMMU_INFO_PGSIZES | (f->niova ? VFIO_IOMMU_INFO_CAPS : 0);
    ii->iova_pgsizes = 0x40201000;
    ii->argsz = need;
    ii->cap_offset = 0;
    if (f->niova && argsz >= need) {
        ii->cap_offset = sizeof(*ii);
        struct vfio_iommu_type1_info_cap_iova_range *c = (void *)((char *)ii + sizeof(*ii));
        c->header.id = VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE;
        c->header.version = 1;
        c->header.next = 0;
        c->nr_iovas = f->niova;
        for (unsigned k = 0; k < f->niova; k++) {
            c->iova_ranges[k].start = f->iova[k].start;
            c->iova_ranges[k].end = f->iova[k].end;
        }
    }
    return 0;
}

/* vfio-pci's rules (vfio_pci_set_irqs_ioctl): triggers of one kind while another is on are
 * refused; INTx's unmask needs INTx on; count 0 with no data turns the kind off. */
static int set_irqs_rule(struct fake_vfio *f, const struct vfio_irq_set *s)
{
    const bool eventfds = s->flags & VFIO_IRQ_SET_DATA_EVENTFD;
    int32_t fd0 = -1;
    if (eventfds && s->count)
        memcpy(&fd0, s->data, 4);
    if (s->index >= VFIO_NIRQ_KINDS || (s->count && s->start + s->count > f->irq_count[s->index]))
        goto inval;
    if (s->flags & VFIO_IRQ_SET_ACTION_UNMASK) {
        if (s->index != VFIO_IRQ_INTX || f->irq_kind != VFIO_IRQ_INTX)
            goto inval;
        if (eventfds)
            f->intx_unmask = fd0;
        return 0;
    }
    if (!(s->flags & VFIO_IRQ_SET_ACTION_TRIGGER))
        return 0;
    if (s->count == 0) { /* turning off a kind that is not on is refused too */
        if (f->irq_kind != (int)s->index)
            goto inval;
        f->irq_kind = -1;
        if (s->index == VFIO_IRQ_INTX)
            f->intx_trigger = f->intx_unmask = -1;
        return 0;
    }
    if (f->irq_kind != -1 && f->irq_kind != (int)s->index)
        goto inval;
    f->irq_kind = (int)s->index;
    if (s->index == VFIO_IRQ_INTX)
        f->intx_trigger = fd0;
    return 0;
inval:
    f->irq_sets_refused++;
    errno = EINVAL;
    return -1;
}

static int f_ioctl(void *ctx, int fd, unsigned long req, void *arg)
{
    struct fake_vfio *f = ctx;
    (void)fd;
    unsigned nr = _IOC_NR(req) - VFIO_BASE;
    if (nr < 64)
        f->seen[nr]++;
    if (req == f->fail_req && nr < 64 && f->seen[nr] == (f->fail_nth ? f->fail_nth : 1)) {
        errno = f->fail_errno ? f->fail_errno : EIO;
        return -1;
    }
    switch (req) {
    case VFIO_GET_API_VERSION:
        return f->api_version;
    case VFIO_CHECK_EXTENSION:
        return (uintptr_t)arg == VFIO_TYPE1v2_IOMMU && !f->no_type1v2;
    case VFIO_GROUP_GET_STATUS:
        ((struct vfio_group_status *)arg)->flags =
            f->not_viable ? 0 : VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET;
        return 0;
    case VFIO_GROUP_SET_CONTAINER:
    case VFIO_GROUP_UNSET_CONTAINER:
    case VFIO_SET_IOMMU:
        return 0;
    case VFIO_IOMMU_GET_INFO:
        return iommu_info(f, arg);
    case VFIO_GROUP_GET_DEVICE_FD:
        return f->memfd;
    case VFIO_DEVICE_GET_INFO: {
        struct vfio_device_info *di = arg;
        di->flags = f->dev_flags;
        di->num_regions = f->num_regions;
        di->num_irqs = f->num_irqs;
        return 0;
    }
    case VFIO_DEVICE_GET_REGION_INFO:
        return region_info(f, arg);
    case VFIO_DEVICE_GET_IRQ_INFO: {
        struct vfio_irq_info *ii = arg;
        ii->count = ii->index < VFIO_NIRQ_KINDS ? f->irq_count[ii->index] : 0;
        ii->flags = ii->count
                        ? VFIO_IRQ_INFO_EVENTFD |
                              (ii->index == 0 ? VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED
                                              : VFIO_IRQ_INFO_NORESIZE)
                        : 0;
        return 0;
    }
    case VFIO_DEVICE_RESET:
        f->resets++;
        return 0;
    case VFIO_DEVICE_SET_IRQS: {
        struct vfio_irq_set *s = arg;
        if (set_irqs_rule(f, s))
            return -1;
        f->last_irq_set.flags = s->flags;
        f->last_irq_set.index = s->index;
        f->last_irq_set.start = s->start;
        f->last_irq_set.count = s->count;
        for (unsigned k = 0; k < s->count && k < 8 && (s->flags & VFIO_IRQ_SET_DATA_EVENTFD); k++)
            memcpy(&f->last_irq_fds[k], s->data + 4 * k, 4);
        f->irq_sets++;
        return 0;
    }
    case VFIO_IOMMU_MAP_DMA:
    case VFIO_IOMMU_UNMAP_DMA:
        FAKE_OK((f->ndma) < FAKE_VFIO_MAX_DMA);
        f->dma[f->ndma].map = req == VFIO_IOMMU_MAP_DMA;
        if (req == VFIO_IOMMU_MAP_DMA) {
            struct vfio_iommu_type1_dma_map *m = arg;
            f->dma[f->ndma].iova = m->iova;
            f->dma[f->ndma].size = m->size;
            f->dma[f->ndma].vaddr = m->vaddr;
        } else {
            struct vfio_iommu_type1_dma_unmap *u = arg;
            f->dma[f->ndma].iova = u->iova;
            f->dma[f->ndma].size = u->size;
        }
        f->ndma++;
        return 0;
    }
    errno = ENOTTY;
    return -1;
}

static ssize_t f_pread(void *ctx, int fd, void *buf, size_t len, off_t off)
{
    (void)ctx;
    return pread(fd, buf, len, off);
}

static ssize_t f_pwrite(void *ctx, int fd, const void *buf, size_t len, off_t off)
{
    (void)ctx;
    return pwrite(fd, buf, len, off);
}

static void *f_mmap(void *ctx, size_t len, int prot, int fd, off_t off)
{
    struct fake_vfio *f = ctx;
    f->mmaps++;
    void *p = mmap(NULL, len, prot, MAP_SHARED, fd, off);
    return p == MAP_FAILED ? NULL : p;
}

static int f_munmap(void *ctx, void *addr, size_t len)
{
    struct fake_vfio *f = ctx;
    f->munmaps++;
    return munmap(addr, len);
}

void fake_vfio_init(struct fake_vfio *f)
{
    memset(f, 0, sizeof(*f));
    f->be = (struct vfio_backend){f, f_open, f_close, f_ioctl, f_pread, f_pwrite, f_mmap, f_munmap};
    f->api_version = VFIO_API_VERSION;
    f->dev_flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
    f->num_regions = VFIO_PCI_NUM_REGIONS;
    f->num_irqs = VFIO_PCI_NUM_IRQS;
    const uint32_t rw = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
    f->region_size[0] = f->region_size[3] = 0x4000;
    f->region_flags[0] = f->region_flags[3] = rw | VFIO_REGION_INFO_FLAG_MMAP;
    f->region_size[VFIO_REGION_CFG] = 256;
    f->region_flags[VFIO_REGION_CFG] = rw;
    f->irq_count[VFIO_IRQ_MSIX] = 3;
    f->irq_kind = -1;
    f->intx_trigger = f->intx_unmask = -1;
    f->iova[0] = (struct vfio_range){0, 0xfedfffff};
    f->iova[1] = (struct vfio_range){0xfef00000, (1ull << 48) - 1};
    f->niova = 2;
    f->memfd = memfd_create("fake-vfio", MFD_CLOEXEC);
    FAKE_OK((f->memfd) >= 0);
    FAKE_OK((ftruncate(f->memfd, (off_t)FAKE_VFIO_REGION_OFF(VFIO_NREGIONS))) == 0);
    /* the config space of an igb VF: MSI-X at 0x70 (3 vectors, table and PBA in BAR3),
     * PCI Express at 0xa0 */
    uint8_t cfg[256] = {0};
    const uint8_t head[] = {0x86, 0x80, 0xca, 0x10, 0, 0, 0x10, 0, 0x01, 0, 0, 0x02};
    memcpy(cfg, head, sizeof(head));
    cfg[0x2c] = 0x86, cfg[0x2d] = 0x80, cfg[0x2e] = 0x01;
    cfg[0x34] = 0x70;
    const uint8_t msix[] = {0x11, 0xa0, 0x02, 0x00, 0x03, 0, 0, 0, 0x03, 0x20, 0, 0};
    memcpy(cfg + 0x70, msix, sizeof(msix));
    const uint8_t pcie[] = {0x10, 0x00, 0x02, 0x00, 0xc2, 0x8c, 0x00, 0x10};
    memcpy(cfg + 0xa0, pcie, sizeof(pcie));
    fake_vfio_set_cfg(f, cfg);
}

void fake_vfio_give_intx_rom(struct fake_vfio *f)
{
    f->irq_count[VFIO_IRQ_INTX] = 1;
    uint8_t pin = 1;
    FAKE_OK(pwrite(f->memfd, &pin, 1, (off_t)FAKE_VFIO_REGION_OFF(VFIO_REGION_CFG) + 0x3d) == 1);
    f->region_size[VFIO_REGION_ROM] = 0x4000;
    f->region_flags[VFIO_REGION_ROM] = VFIO_REGION_INFO_FLAG_READ;
    uint8_t rom[0x4000];
    for (unsigned i = 0; i < sizeof(rom); i++)
        rom[i] = i & 1 ? 0xaa : 0x55;
    FAKE_OK(pwrite(f->memfd, rom, sizeof(rom), (off_t)FAKE_VFIO_REGION_OFF(VFIO_REGION_ROM)) ==
            (ssize_t)sizeof(rom));
}

void fake_vfio_give_msi(struct fake_vfio *f)
{
    f->irq_count[VFIO_IRQ_MSI] = 4;
    const uint8_t msi[] = {0x05, 0x70, 0x84, 0x00};
    const off_t cfg = (off_t)FAKE_VFIO_REGION_OFF(VFIO_REGION_CFG);
    uint8_t ptr = 0x50;
    FAKE_OK(pwrite(f->memfd, msi, sizeof(msi), cfg + 0x50) == (ssize_t)sizeof(msi));
    FAKE_OK(pwrite(f->memfd, &ptr, 1, cfg + 0x34) == 1);
}

void fake_vfio_set_cfg(struct fake_vfio *f, const uint8_t cfg[256])
{
    FAKE_OK((pwrite(f->memfd, cfg, 256, (off_t)FAKE_VFIO_REGION_OFF(VFIO_REGION_CFG))) == 256);
}

void fake_vfio_free(struct fake_vfio *f)
{
    close(f->memfd);
}
