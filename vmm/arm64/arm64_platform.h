/* The arm64 platform the reference VMM describes: QEMU virt's memory map (docs/arm64.md),
 * KVM's in-kernel GICv3 with an ITS, PSCI 0.2 through KVM, and a PCI host on ECAM. This
 * part has no KVM in it and builds on every host: the x86 build uses it for
 * `vdevkit run --platform arm64 ... dryrun` and the unit tests. */
#ifndef VMM_ARM64_PLATFORM_H
#define VMM_ARM64_PLATFORM_H

#include <stdint.h>
#include <vdev/machine.h>
#include <vdev/vdev.h>

/* Guest-physical map (QEMU virt's, hw/arm/virt.c). Below RAM only devices; RAM from 1 GiB. */
#define ARM64_GICD_BASE        0x08000000ull /* GICv3 distributor */
#define ARM64_GICD_SIZE        0x10000ull
#define ARM64_GITS_BASE        0x08080000ull /* GICv3 ITS: control frame and translater */
#define ARM64_GITS_SIZE        0x20000ull
#define ARM64_GICR_BASE        0x080a0000ull /* redistributors, one 128 KiB frame pair per vCPU */
#define ARM64_GICR_STRIDE      0x20000ull
#define ARM64_GICR_WINDOW      0x00f60000ull /* up to 0x09000000: 123 vCPUs */
#define ARM64_UART_BASE        0x09000000ull /* where configurations put their UART */
#define ARM64_UART_SPI         1u
#define ARM64_VIRTIO_MMIO_BASE 0x0a000000ull /* 32 virtio-mmio slots of 0x200, SPIs 16-47 */
#define ARM64_VIRTIO_MMIO_SIZE 0x4000ull
#define ARM64_VIRTIO_MMIO_SPI0 16u
#define ARM64_BOARD_BASE       0x10000000ull /* free for configurations' devices: qvm's ARM */
#define ARM64_BOARD_SIZE       0x10000000ull /* examples' Versatile Express places (0x1c090000) */
#define ARM64_PCI_MMIO32_BASE  0x20000000ull /* QEMU virt's starts at 0x10000000 */
#define ARM64_PCI_MMIO32_SIZE  0x1eff0000ull
#define ARM64_PCI_IO_CPU_BASE  0x3eff0000ull /* the PCI I/O space, reached through memory */
#define ARM64_PCI_IO_SIZE      0x10000ull
#define ARM64_PCI_ECAM_BASE    0x3f000000ull /* QEMU's low ECAM: 16 buses */
#define ARM64_PCI_BUSES        16u
#define ARM64_RAM_BASE         0x40000000ull
#define ARM64_PCI_MMIO64_BASE  0x8000000000ull /* 512 GiB at 512 GiB: a 40-bit IPA space */
#define ARM64_PCI_MMIO64_SIZE  0x8000000000ull
#define ARM64_PCI_INTX_SPI0    3u /* INTA-D on SPIs 3-6 */

/* Interrupts: the controller `gic`; `intr gic:N` is SPI N, GSI = INTID = 32 + N. */
#define ARM64_GIC_NAME     "gic"
#define ARM64_SPI_BASE     32u
#define ARM64_GIC_NR_IRQS  256u /* INTIDs 0-255 (KVM_DEV_ARM_VGIC_GRP_NR_IRQS) */
#define ARM64_GIC_SPIS     (ARM64_GIC_NR_IRQS - ARM64_SPI_BASE)
#define ARM64_MAX_VCPUS    64u
#define ARM64_TIMER_PPI_S  13u /* the armv8 timer's PPIs: secure, non-secure physical, */
#define ARM64_TIMER_PPI_NS 14u /* virtual, hypervisor */
#define ARM64_TIMER_PPI_V  11u
#define ARM64_TIMER_PPI_H  10u

/* KVM_IRQ_LINE's irq field on arm64 (KVM's uapi, the same on every host: checked against
 * <asm/kvm.h> in arm64_kvm.c): type << 24 | vcpu << 16 | number. */
#define ARM64_KVM_IRQ_TYPE_SHIFT 24
#define ARM64_KVM_IRQ_TYPE_SPI   1u

/* One window of the map, for the docs, the tests and the dryrun. */
struct arm64_region {
    const char *name;
    uint64_t base, size;
};

/* The fixed platform windows, in address order; returns how many. */
size_t arm64_memory_map(const struct arm64_region **out);

/* Registers the `gic` controller, the platform's windows and vdevs, and the PCI host. */
int arm64_platform_describe(struct vdev_machine *m, struct vdev_err *err);

/* The redistributor region of `ncpus` vCPUs. */
static inline uint64_t arm64_gicr_size(unsigned ncpus)
{
    return ARM64_GICR_STRIDE * ncpus;
}

/* What KVM_IRQ_LINE takes for GSI `gsi` (an SPI's INTID). */
static inline uint32_t arm64_kvm_irq_line(uint32_t gsi)
{
    return ARM64_KVM_IRQ_TYPE_SPI << ARM64_KVM_IRQ_TYPE_SHIFT | gsi;
}

/* KVM/arm64's irqfd and routing GSIs count SPIs from 0 (routing pin N is INTID 32 + N). */
static inline uint32_t arm64_kvm_spi_gsi(uint32_t gsi)
{
    return gsi - ARM64_SPI_BASE;
}

/* A guest MMIO access: the PCI I/O window goes to port space (offset = port), everything
 * else to the memory bus. */
enum vdev_access_result arm64_mmio_access(struct vdev_machine *m, uint64_t addr, unsigned size,
                                          bool is_write, uint64_t *value);

/* The device tree of the built machine (vdev_machine_gen_fdt_ext): the GIC with `ncpus`
 * redistributors and the ITS, psci 0.2 over hvc, the armv8 timer, KVM's MPIDRs, the PCI
 * host with its I/O window and msi-map, stdout-path at the first UART (pl011 or ser8250, in
 * configuration order), the initrd when has_initrd. ncpus 0: one per `cpu` line (at least
 * 1). */
int arm64_gen_fdt(struct vdev_machine *m, unsigned ncpus, bool has_initrd, uint64_t initrd_start,
                  uint64_t initrd_end, void *buf, size_t size, struct vdev_err *err);

#endif
