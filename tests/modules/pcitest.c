/* vdev-pcitest.so: a PCI function with no purpose but to be enumerated, for checking by hand
 * (and in a tier-3 guest) how a guest sees the PCI core: a 64-bit BAR with MSI-X, a 32-bit
 * BAR and an I/O BAR whose registers read back their offsets and ignore writes. */
#include <vdev/pci.h>
#include <vdev/vdev.h>

struct pcitest {
    struct vdev_pci_func *f;
};

static uint64_t bar_read(void *opaque, uint64_t off, unsigned size)
{
    (void)opaque;
    (void)size;
    return off;
}

static void bar_write(void *opaque, uint64_t off, unsigned size, uint64_t v)
{
    (void)opaque;
    (void)off;
    (void)size;
    (void)v;
}

static const struct vdev_region_ops bar_ops = {
    .size = sizeof(struct vdev_region_ops), .read = bar_read, .write = bar_write};

static void bar_changed(void *opaque, unsigned bar, uint64_t base, bool enabled)
{
    struct vdev *d = opaque;
    vdev_info(d, "BAR%u at 0x%llx %s", bar, (unsigned long long)base, enabled ? "on" : "off");
}

static const struct vdev_pci_func_ops func_ops = {.size = sizeof(struct vdev_pci_func_ops),
                                                  .bar_changed = bar_changed};

static int pcitest_assign(struct vdev *d)
{
    struct pcitest *s = vdev_state(d);
    struct vdev_err e;
    const struct vdev_pci_ident id = {
        .vendor = 0x1234, .device = 0x7e57, .class_code = 0xff0000, .revision = 1};
    const struct vdev_pci_bar b0 = {.size = 0x4000,
                                    .flags = VDEV_PCI_BAR_MEM64 | VDEV_PCI_BAR_PREFETCH,
                                    .kind = VDEV_REGION_DEVICE,
                                    .ops = &bar_ops};
    const struct vdev_pci_bar b2 = {.size = 0x1000, .kind = VDEV_REGION_DEVICE, .ops = &bar_ops};
    const struct vdev_pci_bar b4 = {
        .size = 0x20, .flags = VDEV_PCI_BAR_IO, .kind = VDEV_REGION_DEVICE, .ops = &bar_ops};
    if (!(s->f = vdev_pci_func_new(d, &id, &func_ops, d, &e)) ||
        vdev_pci_set_bar(s->f, 0, &b0, &e) || vdev_pci_set_bar(s->f, 2, &b2, &e) ||
        vdev_pci_set_bar(s->f, 4, &b4, &e) || vdev_pci_msix_init(s->f, 2, 0, 0x2000, 0x3000, &e))
        return vdev_error(d, vdev_pos(d), NULL, "%s", e.msg);
    return 0;
}

VDEV_MODULE(pcitest, .name = "pcitest", .summary = "PCI test function (BARs, MSI-X)",
            .state_size = sizeof(struct pcitest), .places = VDEV_PLACE_PCI,
            .assign = pcitest_assign);
