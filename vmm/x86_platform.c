#include "x86_platform.h"

int x86_platform_describe(struct vdev_machine *m, struct vdev_err *err)
{
    /* KVM's in-kernel IOAPIC: lines 0-23 are GSIs 0-23. Line 2 is the PIT's (wired as GSI 2
     * by KVM's default routing), so no device gets it. */
    if (vdev_machine_add_pic(m, "ioapic", X86_IOAPIC_LINES, 0, err) ||
        vdev_machine_reserve_line(m, "ioapic", 2, "pit (platform)", err))
        return -1;
    if (vdev_machine_reserve(m, VDEV_SPACE_MEM, X86_IOAPIC_BASE, 0x1000, "ioapic (platform)", err) ||
        vdev_machine_reserve(m, VDEV_SPACE_MEM, X86_LAPIC_BASE, 0x1000, "lapic (platform)", err))
        return -1;
    /* The legacy VGA/BIOS hole: Linux expects no RAM there. */
    if (vdev_machine_reserve(m, VDEV_SPACE_MEM, 0xa0000, 0x60000, "legacy vga/bios (platform)", err))
        return -1;
    /* Ports the in-kernel PIC and PIT answer. */
    if (vdev_machine_reserve(m, VDEV_SPACE_IO, 0x20, 2, "pic master (platform)", err) ||
        vdev_machine_reserve(m, VDEV_SPACE_IO, 0xa0, 2, "pic slave (platform)", err) ||
        vdev_machine_reserve(m, VDEV_SPACE_IO, 0x40, 4, "pit (platform)", err) ||
        vdev_machine_reserve(m, VDEV_SPACE_IO, 0x4d0, 2, "elcr (platform)", err))
        return -1;
    return 0;
}
