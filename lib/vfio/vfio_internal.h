/* lib/vfio's own helpers, shared by its files. */
#ifndef VFIO_INTERNAL_H
#define VFIO_INTERNAL_H

#include <vfio/vfio_dev.h>

/* Fills why; returns -1. */
int vfio_fail(struct vfio_host_why *why, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* VFIO_DEVICE_GET_REGION_INFO for region r, with its sparse-mmap areas. */
int vfio_region_info(struct vfio_dev *d, unsigned r, struct vfio_host_why *why);
/* VFIO_IOMMU_GET_INFO's IOVA ranges (after VFIO_SET_IOMMU). */
int vfio_iova_ranges(struct vfio_dev *d, struct vfio_host_why *why);

#endif
