/* The flattened device tree (FDT, libfdt): what the machine and a module's gen_fdt hook write.
 *
 * vdev_machine_gen_fdt() builds the whole tree with libfdt's read-write API: the root
 * (#address-cells and #size-cells 2), /memory nodes for the bus's RAM, /cpus, /chosen
 * (bootargs from `cmdline`, the initrd the platform placed), the interrupt controller the
 * platform describes, then each device's gen_fdt(d, fdt, parent) in configuration order,
 * parent being the root's offset. A device on a transport (virtio-mmio) gets its transport's
 * node first, written by the transport without the module knowing.
 *
 * A hook adds its nodes with plain libfdt calls (fdt_add_subnode, fdt_setprop_*) and returns
 * 0, or a negative libfdt error (-FDT_ERR_NOSPACE...) or -1 after vdev_error(). A UART:
 *
 *   int node = fdt_add_subnode(fdt, parent, "serial@3f8");
 *   if (node < 0)
 *       return node;
 *   fdt_setprop_string(fdt, node, "compatible", "ns16550a");
 *   ...
 *   return vdev_fdt_set_interrupt(d, fdt, node, false);
 */
#ifndef VDEV_FDT_H
#define VDEV_FDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vdev/export.h>
#include <vdev/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vdev;
struct vdev_machine;

/* Interrupt-specifier trigger types (the Linux dt-bindings values). */
#define VDEV_FDT_IRQ_EDGE_RISING 1
#define VDEV_FDT_IRQ_LEVEL_HIGH  4

/* The interrupt controller node: an x86 IOAPIC ("intel,ce4100-ioapic") or an ARM GIC. */
struct vdev_fdt_intc {
    const char *name;       /* node name under the root: "interrupt-controller@fec00000" */
    const char *compatible; /* "intel,ce4100-ioapic", "arm,gic-v3" */
    const uint64_t *reg;    /* address/size pairs; may be NULL */
    size_t nreg;            /* pairs in reg */
    /* 2: <gsi type>; 3: a GIC's <0 (SPI) gsi-gsi_base type> */
    uint32_t interrupt_cells;
    uint32_t spi_base; /* GSI of SPI 0, with 3 cells */
};

/* What the platform (the VMM) knows and the machine does not. */
struct vdev_fdt_platform {
    const char *compatible;     /* root compatible: "linux,dummy-virt", "vdevkit,x86" */
    const char *model;          /* root model */
    unsigned ncpus;             /* cpu nodes; 0 = one per `cpu` in the config (at least 1) */
    const char *cpu_compatible; /* NULL: none */
    bool has_initrd;            /* where the platform loaded the initrd */
    uint64_t initrd_start, initrd_end;
    struct vdev_fdt_intc intc;
};

/* Builds the tree into buf (size bytes; 64 KiB fits most machines) and packs it. Call after
 * vdev_machine_build. Returns 0, or -1 with err saying what failed (a device's hook by its
 * label, "buffer too small"). */
VDEV_API int vdev_machine_gen_fdt(struct vdev_machine *m, const struct vdev_fdt_platform *p,
                                  void *buf, size_t size, struct vdev_err *err);

/* The interrupt controller's phandle while the tree is being built (0 outside). */
VDEV_API uint32_t vdev_fdt_intc_phandle(const struct vdev_machine *m);

/* Sets `interrupt-parent` and `interrupts` of node for the device's resolved line, in the
 * platform controller's format: level-high when level, else edge-rising. Returns 0 or a
 * negative libfdt error. */
VDEV_API int vdev_fdt_set_interrupt(struct vdev *d, void *fdt, int node, bool level);
/* The same for any GSI (a transport's node). */
VDEV_API int vdev_fdt_set_gsi(struct vdev_machine *m, void *fdt, int node, uint32_t gsi,
                              bool level);

/* The device's resolved GSI; false when it has no interrupt. */
VDEV_API bool vdev_fdt_device_gsi(const struct vdev *d, uint32_t *gsi);

#ifdef __cplusplus
}
#endif
#endif
