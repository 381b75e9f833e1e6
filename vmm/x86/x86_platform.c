#include "x86_platform.h"

#include <cpuid.h>
#include <vdev/fdt.h>

#include "acpi_pm.h"
#include "platform.h"

/* The 64-bit PCI window must lie below the guest's physical address width (CPUID
 * 0x80000008, which KVM passes through from the host): 0x40_0000_0000-0x7f_ffff_ffff needs
 * 39 bits; narrower machines get the top half of the upper quarter of what they have. */
static void mmio64_window(uint64_t *base, uint64_t *size)
{
    unsigned a, b, c, d, bits = 36;
    if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x80000008 &&
        __get_cpuid(0x80000008, &a, &b, &c, &d))
        bits = a & 0xff;
    if (bits >= 40 || (bits >= 39 && X86_PCI_MMIO64_BASE + X86_PCI_MMIO64_SIZE <= 1ull << bits)) {
        *base = X86_PCI_MMIO64_BASE;
        *size = X86_PCI_MMIO64_SIZE;
    } else {
        *base = 3ull << (bits - 2); /* 36 bits: 48 GiB, 16 GiB long */
        *size = 1ull << (bits - 2);
    }
}

static int add_pci(struct vdev_machine *m, struct vdev_err *err)
{
    struct vdev_pci_host_desc h = {.ecam_base = X86_PCI_ECAM_BASE,
                                   .buses = X86_PCI_BUSES,
                                   .cf8_ports = true,
                                   .mmio32_base = X86_PCI_MMIO32_BASE,
                                   .mmio32_size = X86_PCI_MMIO32_SIZE,
                                   .io_base = X86_PCI_IO_BASE,
                                   .io_size = X86_PCI_IO_SIZE,
                                   .intx_pic = "ioapic"};
    for (unsigned i = 0; i < 4; i++)
        h.intx_lines[i] = X86_PCI_INTX_LINE0 + i;
    mmio64_window(&h.mmio64_base, &h.mmio64_size);
    return vdev_machine_add_pci(m, &h, err);
}

/* qvm's basic x86 vdevs that KVM's in-kernel irqchip and PIT, and this VMM, provide: a
 * configuration may declare them (`vdev ioapic loc 0xfec00000 intr apic name myioapic`,
 * `vdev timer8254 intr myioapic:0`) and their loc/intr must say where they are. */
static int add_platform_vdevs(struct vdev_machine *m, struct vdev_err *err)
{
    static const char *const ioapic_loc[] = {"mem:0xfec00000", NULL};
    static const char *const pit_loc[] = {"io:0x40", NULL};
    static const char *const kbd_loc[] = {"io:0x60", NULL};
    static const char *const pic_locs[] = {"io:0x20", "io:0xa0", NULL};
    const struct vdev_platform_vdev devs[] = {
        {.size = sizeof(devs[0]),
         .type = "ioapic",
         .summary = "I/O APIC (KVM's in-kernel one, 24 lines)",
         .locs = ioapic_loc,
         .intr = "apic",
         .pic = "ioapic"},
        {.size = sizeof(devs[0]),
         .type = "timer8254",
         .summary = "8254 PIT (KVM's in-kernel one)",
         .locs = pit_loc,
         .intr = "ioapic:0"},
        {.size = sizeof(devs[0]),
         .type = "pckeyboard",
         .summary = "i8042 keyboard controller (as far as a guest resets through it)",
         .locs = kbd_loc,
         .intr = "ioapic:1"},
        {.size = sizeof(devs[0]),
         .type = "8259",
         .summary = "8259 PIC pair (KVM's in-kernel ones; devices interrupt through the I/O APIC)",
         .locs = pic_locs},
    };
    for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++)
        if (vdev_machine_add_platform_vdev(m, &devs[i], err))
            return -1;
    return 0;
}

int x86_platform_describe(struct vdev_machine *m, struct vdev_err *err)
{
    /* KVM's in-kernel IOAPIC: line N is GSI N. The PIT's interrupt is GSI 0, wired to pin 2
     * as on a PC (see kvm_vm.c), so neither line is for devices; 9 is the power button's. */
    if (vdev_machine_add_pic(m, "ioapic", X86_IOAPIC_LINES, 0, err) ||
        vdev_machine_reserve_line(m, "ioapic", 0, "pit (platform)", err) ||
        vdev_machine_reserve_line(m, "ioapic", 2, "pit (platform)", err) ||
        vdev_machine_reserve_line(m, "ioapic", 1, "i8042 (platform)", err) ||
        vdev_machine_reserve_line(m, "ioapic", X86_GED_GSI, "acpi power button (platform)", err) ||
        add_platform_vdevs(m, err))
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
    return add_pci(m, err);
}

/* ---- the platform as the command line sees it (vmm/platform.h) ---- */

static bool x86_boots(enum image_kind kind)
{
    return kind == IMAGE_BZIMAGE || kind == IMAGE_ELF64;
}

static int x86_dryrun_devices(struct vdev_machine *m, struct vdev_err *err)
{
    return x86_pm_add(m, NULL, NULL, err);
}

/* The machine's device tree as an x86 platform sees it (the guest itself boots with ACPI). */
static int x86_gen_fdt(struct vdev_machine *m, void *buf, size_t size, struct vdev_err *err)
{
    static const uint64_t ioapic_reg[2] = {X86_IOAPIC_BASE, 0x1000};
    const struct vdev_fdt_platform p = {
        .compatible = "vdevkit,x86",
        .model = "vdevkit x86 (KVM)",
        .intc = {.name = "interrupt-controller@fec00000",
                 .compatible = "intel,ce4100-ioapic",
                 .reg = ioapic_reg,
                 .nreg = 1,
                 .interrupt_cells = 2},
    };
    return vdev_machine_gen_fdt(m, &p, buf, size, err);
}

const struct vmm_platform vmm_platform_x86 = {
    .name = "x86",
    .describe = x86_platform_describe,
    .boots = x86_boots,
    .images = "a Linux bzImage or a 64-bit ELF image",
    .not_images = "neither a Linux bzImage nor a 64-bit ELF image",
    .nimage_kinds = 2,
    .dryrun_devices = x86_dryrun_devices,
    .gen_fdt = x86_gen_fdt,
};
