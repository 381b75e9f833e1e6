/* The flattened device tree (FDT, libfdt): what the machine and a module's gen_fdt hook write.
 *
 * vdev_machine_gen_fdt() builds the whole tree with libfdt's read-write API: the root
 * (#address-cells and #size-cells 2), /memory nodes for the bus's RAM, /cpus, /chosen
 * (bootargs from `cmdline`, the initrd the platform placed), the interrupt controller the
 * platform describes (and, with vdev_machine_gen_fdt_ext, its ITS, /psci and /timer), the PCI
 * host bridge when the machine has one, then each device's gen_fdt(d, fdt, parent) in
 * configuration order,
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
 * label, "buffer too small"). The same as vdev_machine_gen_fdt_ext(m, p, NULL, ...). */
VDEV_API int vdev_machine_gen_fdt(struct vdev_machine *m, const struct vdev_fdt_platform *p,
                                  void *buf, size_t size, struct vdev_err *err);

/* ---- Since 0.3 (VDEVKIT_0.3): what an ARM guest needs besides ---- */

/* How /cpus/cpu@R gets its reg R when cpu_mpidr is NULL. */
enum vdev_fdt_cpu_reg {
    VDEV_FDT_CPU_REG_INDEX = 0, /* 0, 1, 2...: the old behaviour (x86) */
    VDEV_FDT_CPU_REG_KVM_MPIDR, /* KVM/arm64's default MPIDR of vCPU i: Aff0 i%16, Aff1 i/16 */
};

/* Appended to struct vdev_fdt_platform by vdev_machine_gen_fdt_ext; every member left 0 or
 * NULL writes nothing (the 0.2 tree). A sized table: the library reads nothing past `size`. */
struct vdev_fdt_platform_ext {
    size_t size; /* sizeof(struct vdev_fdt_platform_ext) */
    /* cpus: reg = cpu_mpidr[i] (the MPIDR affinity bits, ncpus values) or by cpu_reg. With
     * a psci node every cpu also gets enable-method "psci". */
    const uint64_t *cpu_mpidr;
    enum vdev_fdt_cpu_reg cpu_reg;
    /* /psci { compatible; method }: "arm,psci-0.2" (KVM_ARM_VCPU_PSCI_0_2), "hvc" or "smc".
     * NULL compatible: no node. */
    const char *psci_compatible;
    const char *psci_method;
    /* /timer "arm,armv8-timer", always-on, interrupts <1 PPI flags> for the secure
     * physical, non-secure physical, virtual and hypervisor timers (13, 14, 11, 10).
     * timer_ppis all 0: no node. timer_flags 0: level-high (GICv3 has no CPU mask). */
    uint32_t timer_ppis[4];
    uint32_t timer_flags;
    /* GICv3 ITS: a child of the interrupt controller (which then gets #address-cells 2,
     * #size-cells 2 and ranges) "arm,gic-v3-its", msi-controller, #msi-cells 1. The PCI host
     * points its msi-map at it. its_size 0: none. */
    uint64_t its_base, its_size;
    /* The CPU address the PCI host's I/O window is reached at (ARM has no port I/O): the
     * host node's I/O range. has_pci_io_cpu false: no I/O range. */
    bool has_pci_io_cpu;
    uint64_t pci_io_cpu_base;
    /* No port I/O on this platform: a device placed on port I/O (`loc io:`) has no address a
     * guest could use, and generating the tree fails naming it. */
    bool no_port_io;
    /* /chosen stdout-path: the first node this device writes (vdev_machine_device()...);
     * NULL: none. */
    const struct vdev *stdout_device;
};

/* vdev_machine_gen_fdt with the additions in ext (NULL: none). The PCI host, when the
 * machine has one, is written by either function. */
VDEV_API int vdev_machine_gen_fdt_ext(struct vdev_machine *m, const struct vdev_fdt_platform *p,
                                      const struct vdev_fdt_platform_ext *ext, void *buf,
                                      size_t size, struct vdev_err *err);

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
