/* The host bridge in the device tree: Linux's "pci-host-ecam-generic" binding
 * (Documentation/devicetree/bindings/pci/host-generic-pci.yaml) with its windows, the INTx
 * swizzle as an interrupt-map and MSIs to the platform's ITS through msi-map. */
#include <libfdt.h>
#include <stdio.h>
#include <vdev/fdt.h>

#include "pci_internal.h"

/* phys.hi of a ranges entry (IEEE 1275 PCI binding): the space code in bits 24-25. */
#define PCI_RANGE_IO    0x01000000u
#define PCI_RANGE_MEM32 0x02000000u
#define PCI_RANGE_MEM64 0x03000000u

/* <phys.hi pci-address(2) cpu-address(2) size(2)> */
static int add_range(void *fdt, int node, uint32_t space, uint64_t pci, uint64_t cpu, uint64_t size)
{
    fdt32_t c[7] = {cpu_to_fdt32(space),         cpu_to_fdt32((uint32_t)(pci >> 32)),
                    cpu_to_fdt32((uint32_t)pci), cpu_to_fdt32((uint32_t)(cpu >> 32)),
                    cpu_to_fdt32((uint32_t)cpu), cpu_to_fdt32((uint32_t)(size >> 32)),
                    cpu_to_fdt32((uint32_t)size)};
    return fdt_appendprop(fdt, node, "ranges", c, sizeof(c));
}

static int add_ranges(const struct vdev_pci_host *h, void *fdt, int node)
{
    const struct vdev_pci_host_desc *d = &h->desc;
    int rc = fdt_setprop(fdt, node, "ranges", NULL, 0);
    uint64_t io_cpu;
    /* I/O only where the CPU reaches it by address (ARM); x86 uses its port instructions. */
    if (!rc && d->io_size && vdev_fdt_pci_io_cpu(h->m, &io_cpu))
        rc = add_range(fdt, node, PCI_RANGE_IO, d->io_base, io_cpu, d->io_size);
    if (!rc)
        rc = add_range(fdt, node, PCI_RANGE_MEM32, d->mmio32_base, d->mmio32_base, d->mmio32_size);
    if (!rc && d->mmio64_size)
        rc = add_range(fdt, node, PCI_RANGE_MEM64, d->mmio64_base, d->mmio64_base, d->mmio64_size);
    return rc;
}

/* INTx: INTA..INTD (1..4) of slot S reach intx_gsi[(S + pin - 1) % 4], as _PRT says. The
 * mask keeps the slot's low two bits (the swizzle repeats every four slots) and the pin:
 * 16 entries <S<<11 0 0 pin  intc  parent-unit-address  specifier>. */
static int add_interrupt_map(const struct vdev_pci_host *h, void *fdt, int node)
{
    const fdt32_t mask[4] = {cpu_to_fdt32(0x1800), 0, 0, cpu_to_fdt32(7)};
    int rc = fdt_setprop(fdt, node, "interrupt-map-mask", mask, sizeof(mask));
    if (!rc)
        rc = fdt_setprop(fdt, node, "interrupt-map", NULL, 0);
    uint32_t parent_addr = vdev_fdt_intc_address_cells(h->m);
    for (uint32_t slot = 0; rc == 0 && slot < 4; slot++)
        for (uint32_t pin = 1; rc == 0 && pin <= 4; pin++) {
            uint32_t spec[3];
            int n = vdev_fdt_gsi_cells(h->m, h->intx_gsi[(slot + pin - 1) % 4], true, spec);
            if (n < 0)
                return n;
            fdt32_t e[4 + 1 + 2 + 3];
            unsigned k = 0;
            e[k++] = cpu_to_fdt32(slot << 11);
            e[k++] = 0;
            e[k++] = 0;
            e[k++] = cpu_to_fdt32(pin);
            e[k++] = cpu_to_fdt32(vdev_fdt_intc_phandle(h->m));
            for (uint32_t i = 0; i < parent_addr && i < 2; i++)
                e[k++] = 0;
            for (int i = 0; i < n; i++)
                e[k++] = cpu_to_fdt32(spec[i]);
            rc = fdt_appendprop(fdt, node, "interrupt-map", e, (int)(k * sizeof(e[0])));
        }
    return rc;
}

int pci_gen_fdt(void *host, void *fdt, int parent)
{
    const struct vdev_pci_host *h = host;
    const struct vdev_pci_host_desc *d = &h->desc;
    char name[32];
    snprintf(name, sizeof(name), "pcie@%llx", (unsigned long long)d->ecam_base);
    int node = fdt_add_subnode(fdt, parent, name);
    if (node < 0)
        return node;
    const fdt64_t reg[2] = {cpu_to_fdt64(d->ecam_base), cpu_to_fdt64((uint64_t)d->buses << 20)};
    const fdt32_t buses[2] = {0, cpu_to_fdt32(d->buses - 1u)};
    int rc = fdt_setprop_string(fdt, node, "compatible", "pci-host-ecam-generic");
    if (!rc)
        rc = fdt_setprop_string(fdt, node, "device_type", "pci");
    if (!rc)
        rc = fdt_setprop(fdt, node, "reg", reg, sizeof(reg));
    if (!rc)
        rc = fdt_setprop(fdt, node, "bus-range", buses, sizeof(buses));
    if (!rc)
        rc = fdt_setprop_u32(fdt, node, "linux,pci-domain", 0);
    if (!rc)
        rc = fdt_setprop_u32(fdt, node, "#address-cells", 3);
    if (!rc)
        rc = fdt_setprop_u32(fdt, node, "#size-cells", 2);
    if (!rc)
        rc = fdt_setprop_u32(fdt, node, "#interrupt-cells", 1);
    if (!rc)
        rc = fdt_setprop_empty(fdt, node, "dma-coherent");
    if (!rc)
        rc = add_ranges(h, fdt, node);
    if (!rc)
        rc = add_interrupt_map(h, fdt, node);
    /* Every requester id (bus << 8 | devfn) is the ITS device id of the same number. */
    uint32_t its = vdev_fdt_msi_phandle(h->m);
    if (!rc && its) {
        const fdt32_t map[4] = {0, cpu_to_fdt32(its), 0, cpu_to_fdt32(0x10000)};
        rc = fdt_setprop(fdt, node, "msi-map", map, sizeof(map));
    }
    return rc;
}
