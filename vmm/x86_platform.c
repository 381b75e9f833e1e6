#include "x86_platform.h"

int x86_platform_describe(struct vdev_machine *m, struct vdev_err *err)
{
    /* KVM's in-kernel IOAPIC: line N is GSI N. The PIT's interrupt is GSI 0, wired to pin 2
     * as on a PC (see kvm_vm.c), so neither line is for devices; 9 is the power button's. */
    if (vdev_machine_add_pic(m, "ioapic", X86_IOAPIC_LINES, 0, err) ||
        vdev_machine_reserve_line(m, "ioapic", 0, "pit (platform)", err) ||
        vdev_machine_reserve_line(m, "ioapic", 2, "pit (platform)", err) ||
        vdev_machine_reserve_line(m, "ioapic", X86_GED_GSI, "acpi power button (platform)", err))
        return -1;
    if (vdev_machine_reserve(m, VDEV_SPACE_MEM, X86_IOAPIC_BASE, 0x1000, "ioapic (platform)",
                             err) ||
        vdev_machine_reserve(m, VDEV_SPACE_MEM, X86_LAPIC_BASE, 0x1000, "lapic (platform)", err))
        return -1;
    if (vdev_machine_reserve(m, VDEV_SPACE_MEM, X86_KVM_IDMAP_BASE, 0x4000, "kvm tss (platform)",
                             err))
        return -1;
    /* RAM may cover the legacy VGA/BIOS hole (0xa0000-0xfffff); the e820 map leaves it out. */
    /* Ports the in-kernel PIC and PIT answer. */
    if (vdev_machine_reserve(m, VDEV_SPACE_IO, 0x20, 2, "pic master (platform)", err) ||
        vdev_machine_reserve(m, VDEV_SPACE_IO, 0xa0, 2, "pic slave (platform)", err) ||
        vdev_machine_reserve(m, VDEV_SPACE_IO, 0x40, 4, "pit (platform)", err) ||
        vdev_machine_reserve(m, VDEV_SPACE_IO, 0x4d0, 2, "elcr (platform)", err))
        return -1;
    return 0;
}
