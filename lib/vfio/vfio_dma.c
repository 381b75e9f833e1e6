/* Guest RAM in the device's IOMMU: IOVA = guest address, outside the reserved ranges. */
#include <errno.h>
#include <linux/vfio.h>
#include <stdlib.h>
#include <string.h>
#include <vfio/vfio_dev.h>

#include "vfio_internal.h"

#define INFO_MAX 4096

static int iova_cap(struct vfio_dev *d, const uint8_t *buf, uint32_t len, uint32_t off,
                    struct vfio_host_why *why)
{
    for (unsigned hops = 0; off; hops++) {
        struct vfio_info_cap_header h;
        if (hops > 16 || off < sizeof(struct vfio_iommu_type1_info) || off > len - sizeof(h))
            return vfio_fail(why, NULL, "IOMMU info: bad capability chain");
        memcpy(&h, buf + off, sizeof(h));
        if (h.id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
            struct vfio_iommu_type1_info_cap_iova_range c;
            if (off > len - sizeof(c))
                return vfio_fail(why, NULL, "IOMMU info: short IOVA range list");
            memcpy(&c, buf + off, sizeof(c));
            uint64_t need = (uint64_t)c.nr_iovas * sizeof(struct vfio_iova_range);
            if (c.nr_iovas == 0 || c.nr_iovas > VFIO_MAX_IOVA || need > len - off - sizeof(c))
                return vfio_fail(why, NULL, "IOMMU info: %u IOVA ranges", c.nr_iovas);
            uint64_t prev_end = 0;
            for (uint32_t k = 0; k < c.nr_iovas; k++) {
                struct vfio_iova_range r;
                memcpy(&r, buf + off + sizeof(c) + k * sizeof(r), sizeof(r));
                /* sorted and apart, as the kernel gives them; anything else is refused */
                if (r.start > r.end || (k && r.start <= prev_end))
                    return vfio_fail(why, NULL, "IOMMU info: IOVA ranges out of order");
                d->iova[k] = (struct vfio_range){r.start, r.end};
                prev_end = r.end;
            }
            d->niova = c.nr_iovas;
        }
        off = h.next;
    }
    return 0;
}

int vfio_iova_ranges(struct vfio_dev *d, struct vfio_host_why *why)
{
    d->iova[0] = (struct vfio_range){0, UINT64_MAX};
    d->niova = 1;
    struct vfio_iommu_type1_info first = {.argsz = sizeof(first)};
    if (d->be->ioctl(d->be->ctx, d->container, VFIO_IOMMU_GET_INFO, &first))
        return vfio_fail(why, NULL, "IOMMU info: %s", strerror(errno));
    if (!(first.flags & VFIO_IOMMU_INFO_CAPS) || first.argsz <= sizeof(first))
        return 0;
    uint32_t len = first.argsz;
    if (len > INFO_MAX)
        return vfio_fail(why, NULL, "IOMMU info: %u bytes", len);
    uint8_t *buf = calloc(1, len);
    if (!buf)
        return vfio_fail(why, NULL, "out of memory");
    ((struct vfio_iommu_type1_info *)(void *)buf)->argsz = len;
    int rc = d->be->ioctl(d->be->ctx, d->container, VFIO_IOMMU_GET_INFO, buf);
    if (rc)
        rc = vfio_fail(why, NULL, "IOMMU info: %s", strerror(errno));
    else {
        struct vfio_iommu_type1_info info;
        memcpy(&info, buf, sizeof(info));
        if (info.flags & VFIO_IOMMU_INFO_CAPS)
            rc = iova_cap(d, buf, len, info.cap_offset, why);
    }
    free(buf);
    return rc;
}

/* Calls fn on each piece of [gpa, gpa+size) inside an IOVA range; stops at a failure. */
static int pieces(struct vfio_dev *d, uint64_t gpa, uint64_t size, void *host,
                  int (*fn)(struct vfio_dev *, uint64_t, uint64_t, void *), unsigned *done)
{
    uint64_t last = gpa + size - 1;
    for (unsigned k = 0; k < d->niova; k++) {
        uint64_t s = gpa > d->iova[k].start ? gpa : d->iova[k].start;
        uint64_t e = last < d->iova[k].end ? last : d->iova[k].end;
        if (s > e)
            continue;
        if (fn(d, s, e - s + 1, host ? (uint8_t *)host + (s - gpa) : NULL))
            return -1;
        if (done)
            (*done)++;
    }
    return 0;
}

static int map_one(struct vfio_dev *d, uint64_t iova, uint64_t size, void *host)
{
    struct vfio_iommu_type1_dma_map m = {.argsz = sizeof(m),
                                         .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
                                         .vaddr = (uint64_t)(uintptr_t)host,
                                         .iova = iova,
                                         .size = size};
    return d->be->ioctl(d->be->ctx, d->container, VFIO_IOMMU_MAP_DMA, &m) ? -1 : 0;
}

static int unmap_one(struct vfio_dev *d, uint64_t iova, uint64_t size, void *host)
{
    (void)host;
    struct vfio_iommu_type1_dma_unmap u = {.argsz = sizeof(u), .iova = iova, .size = size};
    return d->be->ioctl(d->be->ctx, d->container, VFIO_IOMMU_UNMAP_DMA, &u) ? -1 : 0;
}

static bool valid(uint64_t gpa, uint64_t size, void *host)
{
    return size && !(gpa & 0xfff) && !(size & 0xfff) && gpa <= UINT64_MAX - (size - 1) &&
           !((uintptr_t)host & 0xfff);
}

int vfio_dma_map(struct vfio_dev *d, uint64_t gpa, uint64_t size, void *host)
{
    if (!valid(gpa, size, host) || !host) {
        errno = EINVAL;
        return -1;
    }
    unsigned done = 0;
    if (pieces(d, gpa, size, host, map_one, &done) == 0)
        return 0;
    int saved = errno;
    /* undo the pieces already mapped: all or nothing */
    for (unsigned k = 0, n = 0; k < d->niova && n < done; k++) {
        uint64_t s = gpa > d->iova[k].start ? gpa : d->iova[k].start;
        uint64_t e = gpa + size - 1 < d->iova[k].end ? gpa + size - 1 : d->iova[k].end;
        if (s <= e) {
            unmap_one(d, s, e - s + 1, NULL);
            n++;
        }
    }
    errno = saved;
    return -1;
}

int vfio_dma_unmap(struct vfio_dev *d, uint64_t gpa, uint64_t size)
{
    if (!valid(gpa, size, NULL)) {
        errno = EINVAL;
        return -1;
    }
    return pieces(d, gpa, size, NULL, unmap_one, NULL);
}
