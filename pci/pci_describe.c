/* How the host bridge shows itself: its DSDT nodes and its dryrun section. */
#include <inttypes.h>

#include "pci_internal.h"

/* Device (PCI0): a PCI Express root bridge (PNP0A08, compatible PNP0A03) with its bus range,
 * config ports and windows, and the INTx routing table; then the ECAM window as a
 * motherboard resource (PNP0C02), which Linux wants before it trusts MCFG. */
void pci_gen_acpi(void *host, struct vdev_aml *a)
{
    const struct vdev_pci_host *h = host;
    const struct vdev_pci_host_desc *d = &h->desc;
    vdev_aml_device_begin(a, "PCI0");
    vdev_aml_name_eisaid(a, "_HID", "PNP0A08");
    vdev_aml_name_eisaid(a, "_CID", "PNP0A03");
    vdev_aml_name_int(a, "_SEG", 0);
    vdev_aml_name_int(a, "_BBN", 0);
    vdev_aml_name_int(a, "_UID", 0);
    vdev_aml_name_begin(a, "_CRS");
    vdev_aml_crs_begin(a);
    vdev_aml_res_word_bus(a, 0, d->buses - 1u);
    if (d->cf8_ports)
        vdev_aml_res_io(a, 0xcf8, 8);
    if (d->io_size)
        vdev_aml_res_dword_io(a, d->io_base, d->io_size);
    vdev_aml_res_dword_mem(a, d->mmio32_base, d->mmio32_size, false);
    if (d->mmio64_size)
        vdev_aml_res_qword_mem(a, d->mmio64_base, d->mmio64_size, false);
    vdev_aml_crs_end(a);
    /* _PRT: Package { address (slot << 16 | 0xFFFF), pin (0 = INTA), source 0, GSI } */
    vdev_aml_name_begin(a, "_PRT");
    vdev_aml_package_begin(a);
    for (unsigned slot = 0; slot < PCI_SLOTS; slot++)
        for (unsigned pin = 0; pin < 4; pin++) {
            vdev_aml_package_begin(a);
            vdev_aml_int(a, (uint64_t)slot << 16 | 0xffff);
            vdev_aml_int(a, pin);
            vdev_aml_int(a, 0);
            vdev_aml_int(a, h->intx_gsi[(slot + pin) % 4]);
            vdev_aml_end(a);
        }
    vdev_aml_end(a);
    vdev_aml_end(a); /* PCI0 */

    vdev_aml_device_begin(a, "PCIR");
    vdev_aml_name_eisaid(a, "_HID", "PNP0C02");
    vdev_aml_name_int(a, "_UID", 0x50434952); /* "PCIR" */
    vdev_aml_name_begin(a, "_CRS");
    vdev_aml_crs_begin(a);
    vdev_aml_res_mem32(a, d->ecam_base, (uint64_t)d->buses << 20);
    vdev_aml_crs_end(a);
    vdev_aml_end(a);
}

static const char *bar_kind(const struct pci_bar *b)
{
    if (b->desc.flags & VDEV_PCI_BAR_IO)
        return "io";
    if (b->desc.flags & VDEV_PCI_BAR_MEM64)
        return b->desc.flags & VDEV_PCI_BAR_PREFETCH ? "mem64 pref" : "mem64";
    return b->desc.flags & VDEV_PCI_BAR_PREFETCH ? "mem32 pref" : "mem32";
}

void pci_print(void *host, FILE *out)
{
    const struct vdev_pci_host *h = host;
    const struct vdev_pci_host_desc *d = &h->desc;
    fprintf(out, "pci host bridge: ecam 0x%" PRIx64 " (buses 0-%u)%s\n", d->ecam_base,
            d->buses - 1u, d->cf8_ports ? ", ports 0xcf8-0xcff" : "");
    fprintf(out, "  windows: mem32 0x%" PRIx64 "-0x%" PRIx64, d->mmio32_base,
            d->mmio32_base + d->mmio32_size - 1);
    if (d->mmio64_size)
        fprintf(out, ", mem64 0x%" PRIx64 "-0x%" PRIx64, d->mmio64_base,
                d->mmio64_base + d->mmio64_size - 1);
    if (d->io_size)
        fprintf(out, ", io 0x%x-0x%x", d->io_base, d->io_base + d->io_size - 1);
    fprintf(out, "\n  INTx: %s:%u,%u,%u,%u (GSI %u,%u,%u,%u)\n", h->intx_pic, d->intx_lines[0],
            d->intx_lines[1], d->intx_lines[2], d->intx_lines[3], h->intx_gsi[0], h->intx_gsi[1],
            h->intx_gsi[2], h->intx_gsi[3]);
    for (unsigned bus = 0; bus < d->buses; bus++)
        for (unsigned dev = 0; dev < PCI_SLOTS; dev++) {
            const struct vdev_pci_func *f = h->slot_func[bus][dev];
            if (!f) {
                if (h->slot_owner[bus][dev])
                    fprintf(out, "  %u:%u.0  (reserved for %s)\n", bus, dev,
                            h->slot_owner[bus][dev]);
                continue;
            }
            fprintf(out, "  %u:%u.0  %04x:%04x class %06x  %s", bus, dev, f->ident.vendor,
                    f->ident.device, f->ident.class_code, f->d ? vdev_label(f->d) : "host bridge");
            if (f->d)
                fprintf(out, "  INTA -> GSI %u", f->intx_gsi);
            if (f->msix)
                fprintf(out, "  MSI-X %u vectors in BAR%u", f->msix->nvec, f->msix->bar);
            fprintf(out, "\n");
            for (unsigned i = 0; i < PCI_NBARS; i++) {
                const struct pci_bar *b = &f->bars[i];
                if (!b->used)
                    continue;
                uint64_t base = atomic_load(&((struct pci_bar *)b)->base);
                fprintf(out, "    BAR%u  %-10s 0x%" PRIx64 "-0x%" PRIx64 "  %s%s\n", i, bar_kind(b),
                        base, base + b->desc.size - 1,
                        b->desc.kind == VDEV_REGION_DEVMEM   ? "devmem"
                        : b->desc.kind == VDEV_REGION_WINDOW ? "window"
                                                             : "trapped",
                        atomic_load(&((struct pci_bar *)b)->enabled) ? ""
                                                                     : " (off until the guest "
                                                                       "enables it)");
            }
        }
}
