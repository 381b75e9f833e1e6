/* A fake host for passthrough tests: /sys PCI devices, drivers and IOMMU groups, and
 * /dev/vfio, under a temporary folder. */
#ifndef FAKE_SYSFS_H
#define FAKE_SYSFS_H

#include <stdbool.h>

struct fake_sysfs {
    char root[64]; /* the temporary folder */
    char sys[96];  /* root/sys */
    char dev[96];  /* root/dev */
};

/* Creates the tree with /dev/vfio/vfio when `vfio`. Aborts the test on failure. */
void fake_sysfs_new(struct fake_sysfs *fs, bool vfio);
/* Adds device bdf ("0000:01:10.0") with ids, bound to driver (NULL: none), in IOMMU group
 * `group` (negative: none); /dev/vfio/GROUP appears when the driver is vfio-pci. */
void fake_sysfs_add(struct fake_sysfs *fs, const char *bdf, unsigned vendor, unsigned device,
                    const char *driver, int group);
void fake_sysfs_free(struct fake_sysfs *fs);

#endif
