/* Entering a guest in 64-bit long mode: the low-memory layout the loaders share, the boot
 * GDT and identity-mapped page tables, and the vCPU state at the entry point. */
#ifndef VMM_X86_BOOT_H
#define VMM_X86_BOOT_H

#include <linux/kvm.h>
#include <vdev/vdev.h>

/* Low memory (guest-physical), below the legacy hole at 0xa0000. */
#define X86_BOOT_GDT          0x500ull
#define X86_BOOT_ZERO_PAGE    0x7000ull /* Linux boot_params */
#define X86_BOOT_PML4         0x9000ull /* then the PDPT and four page directories */
#define X86_BOOT_CMDLINE      0x20000ull
#define X86_BOOT_CMDLINE_MAX  0x10000ull
#define X86_ACPI_BASE         0x80000ull /* firmware tables; e820 type ACPI */
#define X86_ACPI_SIZE         0x10000ull
#define X86_LEGACY_HOLE       0xa0000ull
#define X86_HIGH_MEMORY       0x100000ull
#define X86_BOOT_IDENTITY_MAP (4ull << 30) /* the boot page tables map [0, 4 GiB) */

#define X86_BOOT_CS 0x10 /* the selectors Linux's 64-bit boot protocol asks for */
#define X86_BOOT_DS 0x18

/* Where a vCPU starts and with which registers. */
struct x86_entry {
    uint64_t rip, rsi, rdi, rsp;
};

/* Writes the GDT and page tables into guest RAM (which must cover [0, 0x10000)). With
 * `user_pages` the identity map is user-accessible (test guests run code at CPL3). */
int x86_boot_write_tables(struct vdev_machine *m, bool user_pages, struct vdev_err *err);
/* A real-mode stub at the reset vector that resets through the ACPI reset register. */
void x86_boot_write_reset_vector(struct vdev_machine *m, uint16_t reset_port, uint8_t value);
/* Sets long-mode segment, control and paging registers in *s. */
void x86_boot_long_mode_sregs(struct kvm_sregs *s);

#endif
