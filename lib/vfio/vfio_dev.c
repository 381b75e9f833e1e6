/* Opening a VFIO device: container (type1v2), group, device fd, its info and reset. */
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <vfio/vfio_dev.h>

#include "vfio_internal.h"

int vfio_fail(struct vfio_host_why *why, const char *hint, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why->msg, sizeof(why->msg), fmt, ap);
    va_end(ap);
    snprintf(why->hint, sizeof(why->hint), "%s", hint ? hint : "");
    return -1;
}

static int closefd(struct vfio_dev *d, int *fd)
{
    if (*fd >= 0)
        d->be->close(d->be->ctx, *fd);
    *fd = -1;
    return 0;
}

void vfio_dev_close(struct vfio_dev *d)
{
    if (!d->be)
        return;
    closefd(d, &d->device);
    if (d->group >= 0)
        d->be->ioctl(d->be->ctx, d->group, VFIO_GROUP_UNSET_CONTAINER, NULL);
    closefd(d, &d->group); /* the container's mappings go with its last group */
    closefd(d, &d->container);
}

static int open_container(struct vfio_dev *d, const char *devdir, struct vfio_host_why *why)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/vfio/vfio", devdir);
    d->container = d->be->open(d->be->ctx, path, O_RDWR);
    if (d->container < 0)
        return vfio_fail(why, "is vfio-pci loaded, and may this user open it?", "%s: %s", path,
                         strerror(errno));
    if (d->be->ioctl(d->be->ctx, d->container, VFIO_GET_API_VERSION, NULL) != VFIO_API_VERSION)
        return vfio_fail(why, NULL, "%s: not VFIO API version %d", path, VFIO_API_VERSION);
    if (d->be->ioctl(d->be->ctx, d->container, VFIO_CHECK_EXTENSION,
                     (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU) <= 0)
        return vfio_fail(why, NULL, "the host's VFIO has no type1v2 IOMMU");
    return 0;
}

static int open_group(struct vfio_dev *d, const char *devdir, unsigned group,
                      struct vfio_host_why *why)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/vfio/%u", devdir, group);
    d->group = d->be->open(d->be->ctx, path, O_RDWR);
    if (d->group < 0)
        return vfio_fail(why, errno == EBUSY ? "another process (a VM?) has the group" : NULL,
                         "%s: %s", path, strerror(errno));
    struct vfio_group_status st = {.argsz = sizeof(st)};
    if (d->be->ioctl(d->be->ctx, d->group, VFIO_GROUP_GET_STATUS, &st))
        return vfio_fail(why, NULL, "IOMMU group %u: status: %s", group, strerror(errno));
    if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE))
        return vfio_fail(why, "bind every device of the group to vfio-pci or unbind it",
                         "IOMMU group %u is not viable: a device in it has a host driver", group);
    if (d->be->ioctl(d->be->ctx, d->group, VFIO_GROUP_SET_CONTAINER, &d->container))
        return vfio_fail(why, NULL, "IOMMU group %u: set container: %s", group, strerror(errno));
    if (d->be->ioctl(d->be->ctx, d->container, VFIO_SET_IOMMU,
                     (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU))
        return vfio_fail(why, NULL, "IOMMU group %u: type1v2 IOMMU: %s", group, strerror(errno));
    return 0;
}

static int device_info(struct vfio_dev *d, struct vfio_host_why *why)
{
    struct vfio_device_info info = {.argsz = sizeof(info)};
    if (d->be->ioctl(d->be->ctx, d->device, VFIO_DEVICE_GET_INFO, &info))
        return vfio_fail(why, NULL, "%s: device info: %s", d->bdf, strerror(errno));
    if (!(info.flags & VFIO_DEVICE_FLAGS_PCI))
        return vfio_fail(why, NULL, "%s: VFIO does not call it a PCI device", d->bdf);
    if (info.num_regions <= VFIO_REGION_CFG || info.num_irqs <= VFIO_IRQ_MSIX)
        return vfio_fail(why, NULL, "%s: VFIO lists %u regions and %u interrupt kinds", d->bdf,
                         info.num_regions, info.num_irqs);
    d->can_reset = info.flags & VFIO_DEVICE_FLAGS_RESET;
    d->nregions = info.num_regions < VFIO_NREGIONS ? info.num_regions : VFIO_NREGIONS;
    d->nirqs = info.num_irqs;
    for (unsigned k = 0; k < VFIO_NIRQ_KINDS; k++) {
        struct vfio_irq_info irq = {.argsz = sizeof(irq), .index = k};
        if (d->be->ioctl(d->be->ctx, d->device, VFIO_DEVICE_GET_IRQ_INFO, &irq))
            return vfio_fail(why, NULL, "%s: interrupt info %u: %s", d->bdf, k, strerror(errno));
        d->irq_count[k] = (irq.flags & VFIO_IRQ_INFO_EVENTFD) ? irq.count : 0;
        d->irq_maskable[k] = irq.flags & VFIO_IRQ_INFO_MASKABLE;
    }
    if (d->irq_count[VFIO_IRQ_MSIX] > 2048 || d->irq_count[VFIO_IRQ_MSI] > 32 ||
        d->irq_count[VFIO_IRQ_INTX] > 1)
        return vfio_fail(why, NULL, "%s: VFIO lists impossible interrupt counts", d->bdf);
    for (unsigned r = 0; r < d->nregions; r++)
        if (vfio_region_info(d, r, why))
            return -1;
    return 0;
}

int vfio_dev_open(struct vfio_dev *d, const struct vfio_backend *be, const char *devdir,
                  const struct vfio_host_dev *dev, struct vfio_host_why *why)
{
    memset(d, 0, sizeof(*d));
    memset(why, 0, sizeof(*why));
    d->be = be ? be : &vfio_backend_sys;
    d->container = d->group = d->device = -1;
    snprintf(d->bdf, sizeof(d->bdf), "%s", dev->bdf);
    devdir = devdir ? devdir : "/dev";
    if (open_container(d, devdir, why) || open_group(d, devdir, dev->group, why) ||
        vfio_iova_ranges(d, why))
        goto fail;
    d->device = d->be->ioctl(d->be->ctx, d->group, VFIO_GROUP_GET_DEVICE_FD, d->bdf);
    if (d->device < 0) {
        vfio_fail(why, NULL, "%s: no device fd from IOMMU group %u: %s", d->bdf, dev->group,
                  strerror(errno));
        goto fail;
    }
    if (device_info(d, why))
        goto fail;
    return 0;
fail:
    vfio_dev_close(d);
    return -1;
}

int vfio_dev_reset(struct vfio_dev *d)
{
    if (!d->can_reset) {
        errno = ENOTSUP;
        return -1;
    }
    return d->be->ioctl(d->be->ctx, d->device, VFIO_DEVICE_RESET, NULL) ? -1 : 0;
}
