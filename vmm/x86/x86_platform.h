/* The x86 platform the reference VMM emulates (with KVM's in-kernel irqchip). */
#ifndef VMM_X86_PLATFORM_H
#define VMM_X86_PLATFORM_H

#include <vdev/pci.h>
#include <vdev/vdev.h>

#define X86_IOAPIC_BASE  0xfec00000u
#define X86_IOAPIC_LINES 24
#define X86_LAPIC_BASE   0xfee00000u
/* KVM's real-mode helpers on Intel: the identity-map page, then three TSS pages. */
#define X86_KVM_IDMAP_BASE 0xfffbc000u
#define X86_KVM_TSS_BASE   0xfffbd000u
/* The ACPI hardware-reduced power registers (our own small device, see acpi_pm.c). */
#define X86_PM_PORT  0x600u
#define X86_PM_PORTS 8u
/* The GSI of the Generic Event Device that carries the ACPI power button. */
#define X86_GED_GSI 9u

/* The PCI host bridge (see docs/pci.md): ECAM for bus 0, a 32-bit window below the
 * 0xd0000000 area left to MMIO devices placed with loc, a 64-bit window far above RAM,
 * and INTA-D on IOAPIC lines 16-19. */
#define X86_PCI_ECAM_BASE   0xe0000000u
#define X86_PCI_BUSES       1u
#define X86_PCI_MMIO32_BASE 0xc0000000u
#define X86_PCI_MMIO32_SIZE 0x10000000u
#define X86_PCI_MMIO64_BASE 0x4000000000ull
#define X86_PCI_MMIO64_SIZE 0x4000000000ull
#define X86_PCI_IO_BASE     0xc000u
#define X86_PCI_IO_SIZE     0x4000u
#define X86_PCI_INTX_LINE0  16u

/* Registers the interrupt controllers and platform windows with the machine. */
int x86_platform_describe(struct vdev_machine *m, struct vdev_err *err);

#endif
