/* The expansion ROM behind a function's ROM BAR (0x30): placed in the 32-bit window like a
 * BAR, decoding where the guest puts it while the ROM's enable bit and the command
 * register's memory bit are both set (PCI Local Bus 3.0, 6.2.5.2). Read-only: the owner's
 * read handler answers, writes are dropped. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "pci_internal.h"

#define ROM_MIN (2u << 10)
#define ROM_MAX (16u << 20)

struct pci_rom {
    uint64_t size;
    const struct vdev_region_ops *ops;
    void *opaque;
    struct vdev_region_ops wrap; /* read-only view of ops */
    struct vdev_region *region;
    uint64_t base, assigned; /* where the region is; where the build put it */
    bool enabled;
};

static uint64_t rom_read(void *opaque, uint64_t off, unsigned size)
{
    struct pci_rom *r = opaque;
    unsigned sizes = r->ops->sizes ? r->ops->sizes : 0xf;
    if (!(sizes & size))
        return UINT64_MAX;
    return r->ops->read(r->opaque, off, size);
}

static void rom_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
    (void)opaque, (void)off, (void)size, (void)value; /* a ROM */
}

int vdev_pci_set_rom(struct vdev_pci_func *f, uint64_t size, const struct vdev_region_ops *ops,
                     void *opaque, struct vdev_err *err)
{
    const char *who = f->d ? vdev_label(f->d) : "host bridge";
    if (!f->d || f->bars_assigned)
        return vdev_err_setc(err, VDEV_E_INVAL, "%s (%s): the ROM is declared in the assign hook",
                             who, f->name);
    if (f->rom)
        return vdev_err_setc(err, VDEV_E_INVAL, "%s (%s): ROM declared twice", who, f->name);
    if (size < ROM_MIN || size > ROM_MAX || (size & (size - 1)))
        return vdev_err_setc(err, VDEV_E_INVAL,
                             "%s (%s): ROM of 0x%" PRIx64 " bytes: a power of two from 2 KiB to "
                             "16 MiB",
                             who, f->name, size);
    if (!ops || ops->size < VDEV_SIZE_THROUGH(struct vdev_region_ops, sizes) || !ops->read)
        return vdev_err_setc(err, VDEV_E_INVAL,
                             "%s (%s): the ROM needs sized ops with a read handler", who, f->name);
    struct pci_rom *r = calloc(1, sizeof(*r));
    if (!r)
        return vdev_err_set(err, "out of memory");
    r->size = size;
    r->ops = ops;
    r->opaque = opaque;
    r->wrap = (struct vdev_region_ops){
        .size = sizeof(r->wrap), .read = rom_read, .write = rom_write, .sizes = 0xf};
    f->rom = r;
    put32(f->wmask + PCI_ROM_BAR, ((uint32_t) ~(size - 1) & PCI_ROM_ADDR_MASK) | PCI_ROM_ENABLE);
    return 0;
}

int pci_rom_assign(struct vdev_pci_func *f, struct vdev_err *err)
{
    struct pci_rom *r = f->rom;
    const struct vdev_pci_host_desc *hd = &f->host->desc;
    struct vdev_bus *bus = vdev_machine_bus(f->host->m);
    uint64_t base = 0, align = r->size >= 4096 ? r->size : 4096;
    if (!hd->mmio32_size ||
        vdev_bus_find_free(bus, VDEV_SPACE_MEM, hd->mmio32_base,
                           hd->mmio32_base + hd->mmio32_size - 1, r->size, align, &base))
        return vdev_err_set(err,
                            "%s (%s): ROM: no room for 0x%" PRIx64 " bytes in the PCI "
                            "memory window",
                            vdev_label(f->d), f->name, r->size);
    char owner[128];
    snprintf(owner, sizeof(owner), "%s ROM", vdev_label(f->d));
    struct vdev_region_desc rd = {.owner = owner,
                                  .space = VDEV_SPACE_MEM,
                                  .kind = VDEV_REGION_DEVICE,
                                  .base = base,
                                  .size = r->size,
                                  .ops = &r->wrap,
                                  .opaque = r};
    if (vdev_bus_add(bus, &rd, &r->region, err))
        return -1;
    /* as firmware leaves it: placed, not enabled */
    vdev_region_set_enabled(r->region, false, NULL);
    r->base = r->assigned = base;
    put32(f->cfg + PCI_ROM_BAR, (uint32_t)base);
    return 0;
}

void pci_rom_update(struct vdev_pci_func *f)
{
    struct pci_rom *r = f->rom;
    if (!r->region)
        return;
    const uint32_t reg = get32(f->cfg + PCI_ROM_BAR);
    const uint64_t addr = reg & PCI_ROM_ADDR_MASK;
    const bool want = (f->cfg[PCI_COMMAND] & PCI_CMD_MEM) && (reg & PCI_ROM_ENABLE) && addr &&
                      addr <= 0xffffffffu - (r->size - 1);
    if (r->enabled && (!want || addr != r->base)) {
        vdev_region_set_enabled(r->region, false, NULL);
        r->enabled = false;
    }
    if (!want)
        return;
    struct vdev_err e;
    if (addr != r->base && vdev_region_move(r->region, addr, &e) == 0)
        r->base = addr;
    /* over RAM or another window it stays off, as a BAR does */
    if (addr == r->base && !r->enabled && vdev_region_set_enabled(r->region, true, &e) == 0)
        r->enabled = true;
}

void pci_rom_disable(struct vdev_pci_func *f)
{
    if (f->rom->region)
        vdev_region_set_enabled(f->rom->region, false, NULL);
    f->rom->enabled = false;
}

void pci_rom_reset(struct vdev_pci_func *f)
{
    struct pci_rom *r = f->rom;
    pci_rom_disable(f);
    if (r->region && vdev_region_move(r->region, r->assigned, NULL) == 0)
        r->base = r->assigned;
}

void pci_rom_free(struct vdev_pci_func *f)
{
    free(f->rom);
    f->rom = NULL;
}
