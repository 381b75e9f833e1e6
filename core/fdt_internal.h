/* Between the device-tree files of the core: fdt_gen.c (the build, interrupts, devices) and
 * fdt_platform.c (the nodes the platform describes). */
#ifndef VDEV_CORE_FDT_INTERNAL_H
#define VDEV_CORE_FDT_INTERNAL_H

#include <vdev/fdt.h>

#include "internal.h"

#define FDT_INTC_PHANDLE 1
#define FDT_ITS_PHANDLE  2

/* reg = <address size> pairs with two cells each. */
int fdt_set_reg(void *fdt, int node, const uint64_t *pairs, size_t npairs);

/* The root's properties, /chosen, /memory, /cpus, the interrupt controller (and its ITS),
 * /psci and /timer. x is complete (members past the caller's size zeroed). */
int fdt_platform_nodes(struct vdev_machine *m, const struct vdev_fdt_platform *p,
                       const struct vdev_fdt_platform_ext *x, void *fdt);

#endif
