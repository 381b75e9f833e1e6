/* A VFIO device's regions: their info (with the sparse-mmap areas) and checked access. */
#include <errno.h>
#include <linux/vfio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <vfio/vfio_dev.h>

#include "vfio_internal.h"

#define INFO_MAX 4096 /* more caps than this is not a device we understand */

/* The sparse-mmap capability, checked against the buffer and the region. */
static int sparse_areas(struct vfio_dev *d, unsigned r, const uint8_t *buf, uint32_t len,
                        uint32_t off, struct vfio_host_why *why)
{
    struct vfio_region *reg = &d->region[r];
    for (unsigned hops = 0; off; hops++) {
        struct vfio_info_cap_header h;
        if (hops > 16 || off < sizeof(struct vfio_region_info) || off > len - sizeof(h))
            return vfio_fail(why, NULL, "%s: region %u: bad capability chain", d->bdf, r);
        memcpy(&h, buf + off, sizeof(h));
        if (h.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
            struct vfio_region_info_cap_sparse_mmap sp;
            if (off > len - sizeof(sp))
                return vfio_fail(why, NULL, "%s: region %u: short sparse-mmap list", d->bdf, r);
            memcpy(&sp, buf + off, sizeof(sp));
            uint64_t need = (uint64_t)sp.nr_areas * sizeof(struct vfio_region_sparse_mmap_area);
            if (sp.nr_areas > VFIO_MAX_SPARSE || need > len - off - sizeof(sp))
                return vfio_fail(why, NULL, "%s: region %u: %u sparse-mmap areas", d->bdf, r,
                                 sp.nr_areas);
            reg->nmmap = 0;
            for (uint32_t k = 0; k < sp.nr_areas; k++) {
                struct vfio_region_sparse_mmap_area a;
                memcpy(&a, buf + off + sizeof(sp) + k * sizeof(a), sizeof(a));
                if (a.size == 0)
                    continue;
                if (a.offset > reg->size || a.size > reg->size - a.offset)
                    return vfio_fail(why, NULL, "%s: region %u: sparse area past its end", d->bdf,
                                     r);
                reg->mmap_areas[reg->nmmap++] = (struct vfio_area){a.offset, a.size};
            }
        }
        off = h.next;
    }
    return 0;
}

int vfio_region_info(struct vfio_dev *d, unsigned r, struct vfio_host_why *why)
{
    struct vfio_region_info first = {.argsz = sizeof(first), .index = r};
    if (d->be->ioctl(d->be->ctx, d->device, VFIO_DEVICE_GET_REGION_INFO, &first)) {
        /* vfio-pci lists the VGA region for every device and refuses its info (EINVAL) when
         * the device has none (seen with an igb VF): absent, not an error */
        if (r == VFIO_PCI_VGA_REGION_INDEX && errno == EINVAL) {
            memset(&d->region[r], 0, sizeof(d->region[r]));
            return 0;
        }
        return vfio_fail(why, NULL, "%s: region %u info: %s", d->bdf, r, strerror(errno));
    }
    uint32_t len = first.argsz > sizeof(first) ? first.argsz : (uint32_t)sizeof(first);
    if (len > INFO_MAX)
        return vfio_fail(why, NULL, "%s: region %u: %u bytes of info", d->bdf, r, len);
    uint8_t *buf = calloc(1, len);
    if (!buf)
        return vfio_fail(why, NULL, "out of memory");
    struct vfio_region_info info = first;
    int rc = 0;
    if (len > sizeof(first)) { /* again, with room for the capabilities */
        memcpy(buf, &first, sizeof(first));
        ((struct vfio_region_info *)(void *)buf)->argsz = len;
        if (d->be->ioctl(d->be->ctx, d->device, VFIO_DEVICE_GET_REGION_INFO, buf))
            rc = vfio_fail(why, NULL, "%s: region %u info: %s", d->bdf, r, strerror(errno));
        memcpy(&info, buf, sizeof(info));
    }
    struct vfio_region *reg = &d->region[r];
    if (rc == 0 && info.size && info.offset > UINT64_MAX - info.size)
        rc = vfio_fail(why, NULL, "%s: region %u: wraps", d->bdf, r);
    if (rc == 0) {
        reg->size = info.size;
        reg->offset = info.offset;
        reg->readable = info.flags & VFIO_REGION_INFO_FLAG_READ;
        reg->writable = info.flags & VFIO_REGION_INFO_FLAG_WRITE;
        reg->mmap = (info.flags & VFIO_REGION_INFO_FLAG_MMAP) && info.size;
        reg->nmmap = 0;
        if (reg->mmap)
            reg->mmap_areas[reg->nmmap++] = (struct vfio_area){0, info.size};
        if (reg->mmap && (info.flags & VFIO_REGION_INFO_FLAG_CAPS) && len > sizeof(first))
            rc = sparse_areas(d, r, buf, len, info.cap_offset, why);
    }
    free(buf);
    return rc;
}

static int in_region(struct vfio_dev *d, unsigned region, uint64_t off, size_t len, bool write)
{
    if (region >= d->nregions || len == 0 || off > d->region[region].size ||
        len > d->region[region].size - off ||
        !(write ? d->region[region].writable : d->region[region].readable)) {
        errno = EINVAL;
        return 0;
    }
    return 1;
}

int vfio_region_read(struct vfio_dev *d, unsigned region, uint64_t off, void *buf, size_t len)
{
    if (!in_region(d, region, off, len, false))
        return -1;
    ssize_t n =
        d->be->pread(d->be->ctx, d->device, buf, len, (off_t)(d->region[region].offset + off));
    return n == (ssize_t)len ? 0 : -1;
}

int vfio_region_write(struct vfio_dev *d, unsigned region, uint64_t off, const void *buf,
                      size_t len)
{
    if (!in_region(d, region, off, len, true))
        return -1;
    ssize_t n =
        d->be->pwrite(d->be->ctx, d->device, buf, len, (off_t)(d->region[region].offset + off));
    return n == (ssize_t)len ? 0 : -1;
}

void *vfio_region_mmap(struct vfio_dev *d, unsigned region, uint64_t off, uint64_t len)
{
    if (region >= d->nregions || !d->region[region].mmap || !len || (off | len) & 0xfff)
        return NULL;
    const struct vfio_region *r = &d->region[region];
    for (unsigned k = 0; k < r->nmmap; k++) {
        const struct vfio_area *a = &r->mmap_areas[k];
        if (off >= a->offset && len <= a->size && off - a->offset <= a->size - len) {
            int prot = (r->readable ? PROT_READ : 0) | (r->writable ? PROT_WRITE : 0);
            return d->be->mmap(d->be->ctx, len, prot, d->device, (off_t)(r->offset + off));
        }
    }
    return NULL;
}

void vfio_region_unmap(struct vfio_dev *d, void *addr, uint64_t len)
{
    if (addr)
        d->be->munmap(d->be->ctx, addr, len);
}
