/* PCI for the tiny guests' drivers (virtio_pci_drv.c, shmem_drv.c): configuration mechanism #1
 * (ports 0xCF8/0xCFC, bus 0), functions by ID, the capability list, 32-bit memory BARs and
 * MSI-X (table entries routed to a LAPIC, per-entry masks, enable). Callable at CPL3 (IOPL 3)
 * and, for the MSI-X table, from interrupt handlers. */
#ifndef TINY_PCI_H
#define TINY_PCI_H

#include <stdbool.h>
#include <stdint.h>

#define PCI_COMMAND        0x04
#define PCI_STATUS         0x06
#define PCI_BAR0           0x10
#define PCI_CAP_PTR        0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_CMD_MEM        0x2u
#define PCI_CMD_MASTER     0x4u
#define PCI_STATUS_CAPS    0x10u
#define PCI_CAP_VNDR       0x09
#define PCI_CAP_MSIX       0x11

/* Configuration space of bus 0, function `bdf` (dev << 3 | fn); size 1, 2 or 4. */
uint32_t pci_cfg_read(unsigned bdf, unsigned reg, unsigned size);
void pci_cfg_write(unsigned bdf, unsigned reg, unsigned size, uint32_t v);

/* The first function 0 on bus 0 with this vendor and device ID: its bdf, or -1. */
int pci_find_function(uint16_t vendor, uint16_t device);
/* The offset of the first capability `id` in the function's list, 0 if none. */
unsigned pci_find_cap(unsigned bdf, unsigned id);

/* A 32-bit memory BAR (register PCI_BAR0 + 4 * bar): its address; if it has none (0), sizes it
 * with decoding off and puts it at `addr` (aligned to its size). 0 if the BAR is not 32-bit
 * memory or would not take the address. Leaves memory decoding as it was. */
uint32_t pci_bar32_place(unsigned bdf, unsigned bar, uint32_t addr);

/* ---- MSI-X (PCI 3.0 §6.8.2): the table is an array of 16-byte entries (address low, address
 * high, data, vector control) at an offset in the BAR the capability's BIR names. ---- */
#define PCI_MSIX_ENABLE   0x8000u /* message control */
#define PCI_MSIX_FN_MASK  0x4000u
#define PCI_MSIX_VEC_MASK 0x1u /* an entry's vector control */

static inline unsigned pci_msix_table_bar(unsigned bdf, unsigned cap)
{
    return pci_cfg_read(bdf, cap + 4, 4) & 7;
}
static inline uint32_t pci_msix_table_offset(unsigned bdf, unsigned cap)
{
    return pci_cfg_read(bdf, cap + 4, 4) & ~7u;
}
static inline unsigned pci_msix_size(unsigned bdf, unsigned cap) /* entries */
{
    return (pci_cfg_read(bdf, cap + 2, 2) & 0x7ff) + 1;
}
/* Entry `entry` of the table at `table` sends fixed, edge `vector` to the LAPIC with id `dest`;
 * it is left unmasked. */
void pci_msix_route(volatile uint32_t *table, unsigned entry, unsigned vector, unsigned dest);
void pci_msix_mask(volatile uint32_t *table, unsigned entry, bool masked);
/* MSI-X on (function unmasked, bus mastering on: the messages are memory writes) or off. */
void pci_msix_enable(unsigned bdf, unsigned cap, bool on);

#endif
