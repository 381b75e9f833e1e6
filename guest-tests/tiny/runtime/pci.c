/* PCI for the tiny guests' drivers: see pci.h. */
#include "pci.h"

#include "rt.h"

#define PCI_CF8 0xcf8
#define PCI_CFC 0xcfc

static inline void outw(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port));
}

static inline uint16_t inw(uint16_t port)
{
    uint16_t v;
    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static void cfg_select(unsigned bdf, unsigned reg)
{
    outl(PCI_CF8, 0x80000000u | (uint32_t)bdf << 8 | (reg & 0xfc));
}

uint32_t pci_cfg_read(unsigned bdf, unsigned reg, unsigned size)
{
    cfg_select(bdf, reg);
    uint16_t port = (uint16_t)(PCI_CFC + (reg & 3));
    return size == 1 ? inb(port) : size == 2 ? inw(port) : inl(port);
}

void pci_cfg_write(unsigned bdf, unsigned reg, unsigned size, uint32_t v)
{
    cfg_select(bdf, reg);
    uint16_t port = (uint16_t)(PCI_CFC + (reg & 3));
    if (size == 1)
        outb(port, (uint8_t)v);
    else if (size == 2)
        outw(port, (uint16_t)v);
    else
        outl(port, v);
}

int pci_find_function(uint16_t vendor, uint16_t device)
{
    for (unsigned dev = 0; dev < 32; dev++) {
        uint32_t id = pci_cfg_read(dev << 3, 0, 4);
        if ((id & 0xffff) == vendor && id >> 16 == device)
            return (int)(dev << 3);
    }
    return -1;
}

unsigned pci_find_cap(unsigned bdf, unsigned id)
{
    if (!(pci_cfg_read(bdf, PCI_STATUS, 2) & PCI_STATUS_CAPS))
        return 0;
    unsigned p = pci_cfg_read(bdf, PCI_CAP_PTR, 1) & 0xfc;
    for (unsigned guard = 0; p && guard < 48; guard++) { /* 48: a loop in the list ends */
        if (pci_cfg_read(bdf, p, 1) == id)
            return p;
        p = pci_cfg_read(bdf, p + 1, 1) & 0xfc;
    }
    return 0;
}

uint32_t pci_bar32_place(unsigned bdf, unsigned bar, uint32_t addr)
{
    unsigned reg = PCI_BAR0 + 4 * bar;
    uint32_t lo = pci_cfg_read(bdf, reg, 4);
    if ((lo & 0x7) != 0) /* memory, 32-bit */
        return 0;
    if (lo & ~0xfu)
        return lo & ~0xfu;
    uint16_t cmd = (uint16_t)pci_cfg_read(bdf, PCI_COMMAND, 2);
    pci_cfg_write(bdf, PCI_COMMAND, 2, cmd & ~PCI_CMD_MEM);
    pci_cfg_write(bdf, reg, 4, 0xffffffffu);
    uint32_t size = ~(pci_cfg_read(bdf, reg, 4) & ~0xfu) + 1;
    uint32_t got = 0;
    if (size && !(addr & (size - 1))) {
        pci_cfg_write(bdf, reg, 4, addr);
        got = pci_cfg_read(bdf, reg, 4) & ~0xfu;
    } else {
        pci_cfg_write(bdf, reg, 4, lo);
    }
    pci_cfg_write(bdf, PCI_COMMAND, 2, cmd);
    return got == addr ? got : 0;
}

void pci_msix_route(volatile uint32_t *table, unsigned entry, unsigned vector, unsigned dest)
{
    volatile uint32_t *e = table + 4 * entry;
    e[3] = PCI_MSIX_VEC_MASK; /* masked while half written */
    e[0] = RT_LAPIC_BASE | dest << 12;
    e[1] = 0;
    e[2] = vector; /* fixed, edge */
    e[3] = 0;
}

void pci_msix_mask(volatile uint32_t *table, unsigned entry, bool masked)
{
    table[4 * entry + 3] = masked ? PCI_MSIX_VEC_MASK : 0;
}

void pci_msix_enable(unsigned bdf, unsigned cap, bool on)
{
    if (on) {
        uint16_t cmd = (uint16_t)pci_cfg_read(bdf, PCI_COMMAND, 2);
        pci_cfg_write(bdf, PCI_COMMAND, 2, cmd | PCI_CMD_MASTER);
    }
    uint16_t ctl = (uint16_t)pci_cfg_read(bdf, cap + 2, 2) & ~PCI_MSIX_FN_MASK;
    pci_cfg_write(bdf, cap + 2, 2, on ? ctl | PCI_MSIX_ENABLE : ctl & ~PCI_MSIX_ENABLE);
}
