/* ACPI tables for the x86 VMM: a hardware-reduced ACPI platform (no PM1/GPE blocks, no
 * SCI) like QEMU's microvm. Written into guest memory:
 *
 *   RSDP (revision 2, 16-byte aligned) -> XSDT -> FADT (revision 6) -> DSDT
 *                                             -> MADT
 *                                             -> MCFG (with a PCI host bridge)
 *                                             -> each table the devices add (the HPET's,
 *                                                vdev_machine_gen_acpi_tables), up to 16
 *
 * The DSDT holds Scope (\_SB) with every device's gen_acpi nodes, a power button
 * (\_SB.PWRB, PNP0C0C), a Generic Event Device (\_SB.GED0, ACPI0013) whose _EVT notifies
 * the button when its interrupt fires, and \_S5_ so the guest powers off through the
 * sleep control register. The VMM's side of the contract:
 *   - power off: the guest writes (5 << 2) | 0x20 (SLP_TYP 5, SLP_EN) to sleep_port;
 *   - reboot: the guest writes reset_value to reset_port;
 *   - ask the guest to shut down (SIGTERM): pulse GSI ged_gsi (edge, active-high);
 *   - sleep_port, sleep_port + 1 and reset_port must be I/O ports the VMM handles, and
 *     ged_gsi a line reserved for it (vdev_machine_reserve_line).
 */
#ifndef VMM_ACPI_TABLES_H
#define VMM_ACPI_TABLES_H

#include <stddef.h>
#include <stdint.h>
#include <vdev/acpi.h>
#include <vdev/vdev.h>

/* SLEEP_CONTROL_REG value that requests S5 (soft off): SLP_TYPx 5 in bits 2-4, SLP_EN. */
#define X86_ACPI_SLP_TYP_S5     5u
#define X86_ACPI_SLEEP_S5_VALUE ((X86_ACPI_SLP_TYP_S5 << 2) | 0x20u)

/* FADT IAPC_BOOT_ARCH flags */
#define X86_ACPI_BOOT_LEGACY_DEVICES (1u << 0)
#define X86_ACPI_BOOT_8042           (1u << 1)
#define X86_ACPI_BOOT_NO_VGA         (1u << 2)
#define X86_ACPI_BOOT_NO_MSI         (1u << 3)
#define X86_ACPI_BOOT_NO_ASPM        (1u << 4)
#define X86_ACPI_BOOT_NO_CMOS_RTC    (1u << 5)

struct x86_acpi_config {
    unsigned ncpus;       /* 1-255: one Processor Local APIC each, APIC ID = index */
    uint32_t lapic_addr;  /* 0xfee00000 */
    uint32_t ioapic_addr; /* 0xfec00000 */
    uint8_t ioapic_id;    /* its APIC ID; must differ from the CPUs' on real buses */
    bool pcat_compat;     /* MADT PCAT_COMPAT: a dual 8259 is present (KVM's irqchip) */
    uint16_t sleep_port;  /* SLEEP_CONTROL_REG; SLEEP_STATUS_REG is sleep_port + 1 */
    uint16_t reset_port;  /* RESET_REG */
    uint8_t reset_value;
    uint32_t ged_gsi;        /* the GED's interrupt */
    uint16_t iapc_boot_arch; /* X86_ACPI_BOOT_* */
    uint8_t century;         /* FADT CENTURY: the CMOS byte of the RTC's century; 0 = none */
    char oem_id[7];          /* up to 6 characters, padded with spaces; "" = "VDEVKT" */
    char oem_table_id[9];    /* up to 8 characters; "" = "VDEVKIT" */
    uint32_t oem_revision;
};

/* Fills the defaults: the addresses in x86_platform.h, sleep port 0x600 (status 0x601),
 * reset port 0x604 with value 1, GED on GSI 9, no VGA, PCAT_COMPAT. */
void x86_acpi_config_init(struct x86_acpi_config *cfg, unsigned ncpus);

/* Adapts cfg to the machine's devices: with a CMOS RTC (vdev mc146818) the FADT no longer
 * says "no CMOS RTC" (Linux would skip it) and CENTURY names its byte 0x32. */
void x86_acpi_config_devices(struct x86_acpi_config *cfg, struct vdev_machine *m);

/* Writes the tables into guest memory [gpa, gpa + size), which the VMM maps at `host`
 * (for example the BIOS area 0xe0000-0xfffff, where Linux also finds the RSDP by
 * scanning). `m` (built) contributes its devices' nodes; it may be NULL. On success
 * *rsdp_gpa is the RSDP's guest address (for boot_params.acpi_rsdp_addr) and *used how
 * many bytes from `host` on were written. Returns 0, or -1 with err set (nothing is
 * written then) when the configuration is invalid, a device's ACPI description fails or
 * `size` is too small. */
int x86_acpi_build(struct vdev_machine *m, const struct x86_acpi_config *cfg, void *host,
                   uint64_t gpa, size_t size, uint64_t *rsdp_gpa, size_t *used,
                   struct vdev_err *err);

#endif
