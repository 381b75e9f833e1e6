/* vdev shmem: inter-guest shared memory with QNX's guest_shm interface (docs/shmem.md).
 *
 * Without `loc` the device is a PCI function (vendor 0x1C05, device 0x0001): BAR 0 is the
 * factory page, BAR 2 a 64-bit prefetchable window the attached regions appear in, BAR 4
 * the MSI-X table and PBA (one vector); the interrupt is INTA, or vector 0 while the guest
 * has MSI-X on (then other processes raise it through its eventfd: docs/shmem.md). With a memory
 * `loc` (and `intr`) the factory page sits there and the device places its window itself
 * (shmem_place_mmio_window) and describes both to ACPI and the device tree as "qvm,guest_shm".
 */
#include <inttypes.h>
#include <libfdt.h>
#include <stdio.h>
#include <string.h>
#include <vdev/acpi.h>
#include <vdev/fdt.h>
#include <vdev/machine.h>
#include <vdev/pci.h>

#include "shmem_dev.h"

/* ---- register windows ---- */

static uint64_t factory_mmio_read(struct vdev *d, uint64_t off, unsigned size)
{
    return shmem_factory_read(vdev_state(d), off, size);
}

static void factory_mmio_write(struct vdev *d, uint64_t off, unsigned size, uint64_t value)
{
    shmem_factory_write(vdev_state(d), off, size, value);
}

static uint64_t factory_bar_read(void *opaque, uint64_t off, unsigned size)
{
    return shmem_factory_read(opaque, off, size);
}

static void factory_bar_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
    shmem_factory_write(opaque, off, size, value);
}

static const struct vdev_region_ops factory_bar_ops = {.size = sizeof(struct vdev_region_ops),
                                                       .read = factory_bar_read,
                                                       .write = factory_bar_write,
                                                       .sizes = 0xf};

/* BAR4 outside the MSI-X table and PBA (which the PCI core answers): reads 0. */
static uint64_t msix_bar_read(void *opaque, uint64_t off, unsigned size)
{
    (void)opaque, (void)off, (void)size;
    return 0;
}

static void msix_bar_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
    (void)opaque, (void)off, (void)size, (void)value;
}

static const struct vdev_region_ops msix_bar_ops = {.size = sizeof(struct vdev_region_ops),
                                                    .read = msix_bar_read,
                                                    .write = msix_bar_write,
                                                    .sizes = 0xf};

static const struct vdev_pci_func_ops pci_ops = {.size = sizeof(struct vdev_pci_func_ops),
                                                 .msix_changed = shmem_msix_changed};

/* ---- placement ---- */

static int assign_pci(struct vdev *d, struct shmem *s)
{
    const struct vdev_pci_ident id = {.vendor = SHMEM_PCI_VENDOR,
                                      .device = SHMEM_PCI_DEVICE,
                                      .subsystem_vendor = SHMEM_PCI_VENDOR,
                                      .subsystem = SHMEM_PCI_DEVICE,
                                      .class_code = SHMEM_PCI_CLASS,
                                      .revision = 1};
    struct vdev_err err;
    s->pci = true;
    s->f = vdev_pci_func_new(d, &id, &pci_ops, s, &err);
    if (!s->f)
        return vdev_error(d, vdev_pos(d), NULL, "%s", err.msg);
    const struct vdev_pci_bar factory = {.size = SHMEM_FACTORY_SIZE,
                                         .kind = VDEV_REGION_DEVICE,
                                         .ops = &factory_bar_ops,
                                         .opaque = s};
    const struct vdev_pci_bar window = {.size = s->window_size,
                                        .flags = VDEV_PCI_BAR_MEM64 | VDEV_PCI_BAR_PREFETCH,
                                        .kind = VDEV_REGION_WINDOW};
    /* MSI-X in a BAR of its own: BAR0 stays exactly the guest_shm factory page. */
    const struct vdev_pci_bar msix = {
        .size = SHMEM_MSIX_SIZE, .kind = VDEV_REGION_DEVICE, .ops = &msix_bar_ops, .opaque = s};
    if (vdev_pci_set_bar(s->f, SHMEM_BAR_FACTORY, &factory, &err) ||
        vdev_pci_set_bar(s->f, SHMEM_BAR_WINDOW, &window, &err) ||
        vdev_pci_set_bar(s->f, SHMEM_BAR_MSIX, &msix, &err) ||
        vdev_pci_msix_init(s->f, 1, SHMEM_BAR_MSIX, SHMEM_MSIX_TABLE, SHMEM_MSIX_PBA, &err))
        return vdev_error(d, vdev_pos(d), NULL, "%s", err.msg);
    return 0;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return alen && blen && a <= b + (blen - 1) && b <= a + (alen - 1);
}

/* The MMIO device's region window: the first free window-size-aligned range from 64 GiB
 * up to the PCI 64-bit window (or 128 GiB without one), else from 4 GiB; never inside a
 * PCI window, RAM or another device. */
static int place_mmio_window(struct vdev *d, struct shmem *s)
{
    struct vdev_machine *m = vdev_machine_of(d);
    struct vdev_bus *bus = vdev_machine_bus(m);
    struct vdev_pci_host_desc h;
    bool pci = vdev_machine_pci_host(m, &h);
    uint64_t size = s->window_size, limit = (128ull << 30) - 1, base = 0;
    if (pci && h.mmio64_size && h.mmio64_base > (4ull << 30))
        limit = h.mmio64_base - 1;
    const uint64_t from[2] = {SHMEM_MMIO_WIN_FROM, 4ull << 30};
    int rc = -1;
    for (unsigned i = 0; i < 2 && rc; i++) {
        if (from[i] > limit)
            continue;
        rc = vdev_bus_find_free(bus, VDEV_SPACE_MEM, from[i], limit, size, size, &base);
        if (rc == 0 && pci &&
            (overlaps(base, size, h.mmio32_base, h.mmio32_size) ||
             overlaps(base, size, h.mmio64_base, h.mmio64_size)))
            rc = -1;
    }
    if (rc)
        return vdev_error(d, vdev_pos(d), "try a smaller 'window'",
                          "no free guest-physical range of 0x%" PRIx64
                          " bytes for the region window below 0x%" PRIx64,
                          size, limit + 1);
    struct vdev_region_desc desc = {.owner = vdev_label(d),
                                    .space = VDEV_SPACE_MEM,
                                    .kind = VDEV_REGION_WINDOW,
                                    .base = base,
                                    .size = size};
    struct vdev_err err;
    if (vdev_bus_add(bus, &desc, &s->win, &err))
        return vdev_error(d, vdev_pos(d), NULL, "region window: %s", err.msg);
    s->mmio_win_base = base;
    return 0;
}

static int shmem_assign(struct vdev *d)
{
    struct shmem *s = vdev_state(d);
    if (vdev_loc(d)->kind == VDEV_LOC_PCI)
        return assign_pci(d, s);
    uint32_t gsi;
    if (vdev_fdt_device_gsi(d, &gsi)) {
        s->vector = gsi;
        s->has_vector = true;
    }
    return place_mmio_window(d, s);
}

static int shmem_configured(struct vdev *d)
{
    struct shmem *s = vdev_state(d);
    if (s->pci) {
        s->win = vdev_pci_bar_region(s->f, SHMEM_BAR_WINDOW);
        s->vector = vdev_pci_intx_gsi(s->f);
        s->has_vector = true;
        if (!s->win)
            return vdev_error(d, vdev_pos(d), NULL, "the window BAR has no region");
        struct vdev_err err;
        s->msix_efd = vdev_pci_msix_vector_eventfd(s->f, 0, &err);
        if (s->msix_efd < 0)
            vdev_warn(d,
                      "no doorbell for other processes (notifications go through the "
                      "watcher): %s",
                      err.msg);
    }
    return shmem_create_regions(s);
}

/* ---- ACPI and the device tree (MMIO only: PCI describes itself) ---- */

static unsigned device_index(struct vdev *d)
{
    struct vdev_machine *m = vdev_machine_of(d);
    for (size_t i = 0; i < vdev_machine_device_count(m); i++)
        if (vdev_machine_device(m, i) == d)
            return (unsigned)i;
    return 0;
}

/* ToUUID ("daffd814-6eba-4d8c-8a91-bc9bbf4aa301"): _DSD device properties. */
static const uint8_t dsd_uuid[16] = {0x14, 0xd8, 0xff, 0xda, 0xba, 0x6e, 0x8c, 0x4d,
                                     0x8a, 0x91, 0xbc, 0x9b, 0xbf, 0x4a, 0xa3, 0x01};

static int shmem_gen_acpi(struct vdev *d, struct vdev_aml *dsdt)
{
    struct shmem *s = vdev_state(d);
    if (s->pci)
        return 0;
    const struct vdev_loc *loc = vdev_loc(d);
    if (loc->addr + SHMEM_FACTORY_SIZE > 0x100000000ull)
        return vdev_error(d, vdev_pos(d), "put 'loc' below 4 GiB for ACPI's Memory32Fixed",
                          "ACPI: the factory page 0x%" PRIx64 " is above 4 GiB", loc->addr);
    char name[5];
    unsigned idx = device_index(d);
    snprintf(name, sizeof(name), "SM%02X", idx & 0xff);
    vdev_aml_device_begin(dsdt, name);
    vdev_aml_name_string(dsdt, "_HID", "PRP0001"); /* bound by compatible, as OF drivers do */
    vdev_aml_name_int(dsdt, "_UID", idx);
    vdev_aml_name_begin(dsdt, "_DSD");
    vdev_aml_package_begin(dsdt);
    vdev_aml_buffer_begin(dsdt);
    vdev_aml_bytes(dsdt, dsd_uuid, sizeof(dsd_uuid));
    vdev_aml_end(dsdt);
    vdev_aml_package_begin(dsdt);
    vdev_aml_package_begin(dsdt);
    vdev_aml_string(dsdt, "compatible");
    vdev_aml_string(dsdt, "qvm,guest_shm");
    vdev_aml_end(dsdt);
    vdev_aml_end(dsdt);
    vdev_aml_end(dsdt);
    vdev_aml_name_begin(dsdt, "_CRS");
    vdev_aml_crs_begin(dsdt);
    vdev_aml_res_mem32(dsdt, loc->addr, SHMEM_FACTORY_SIZE);
    vdev_aml_res_qword_mem_consumer(dsdt, s->mmio_win_base, s->window_size, true);
    if (s->has_vector)
        vdev_aml_res_interrupt(dsdt, s->vector, true, true, true);
    vdev_aml_crs_end(dsdt);
    vdev_aml_end(dsdt);
    return 0;
}

static int shmem_gen_fdt(struct vdev *d, void *fdt, int parent)
{
    struct shmem *s = vdev_state(d);
    if (s->pci)
        return 0;
    const struct vdev_loc *loc = vdev_loc(d);
    char name[48];
    snprintf(name, sizeof(name), "guest_shm@%" PRIx64, loc->addr);
    int node = fdt_add_subnode(fdt, parent, name);
    if (node < 0)
        return node;
    /* The factory page, then the window the regions appear in. */
    const fdt64_t reg[4] = {cpu_to_fdt64(loc->addr), cpu_to_fdt64(SHMEM_FACTORY_SIZE),
                            cpu_to_fdt64(s->mmio_win_base), cpu_to_fdt64(s->window_size)};
    int rc = fdt_setprop_string(fdt, node, "compatible", "qvm,guest_shm");
    if (rc == 0)
        rc = fdt_setprop(fdt, node, "reg", reg, sizeof(reg));
    if (rc == 0)
        rc = vdev_fdt_set_interrupt(d, fdt, node, true);
    return rc;
}

/* ---- life-cycle ---- */

static void shmem_reset(struct vdev *d)
{
    struct shmem *s = vdev_state(d);
    if (s->lock_ready)
        shmem_detach_all(s);
}

static void shmem_status(struct vdev *d, FILE *out)
{
    struct shmem *s = vdev_state(d);
    if (!s->lock_ready)
        return;
    if (s->pci)
        fprintf(out, "%s, INTA GSI %u, ", vdev_pci_func_name(s->f), s->vector);
    else
        fprintf(out, "factory 0x%" PRIx64 ", GSI %u, ", vdev_loc(d)->addr, s->vector);
    shmem_print_status(s, out);
}

static void shmem_terminate(struct vdev *d)
{
    struct shmem *s = vdev_state(d);
    if (!s->lock_ready)
        return;
    shmem_detach_all(s);
    shmem_free_maps(s);
    shmem_options_free(s);
    pthread_mutex_destroy(&s->lock);
    s->lock_ready = false;
}

VDEV_MODULE(shmem, .name = "shmem",
            .summary = "inter-guest shared memory (guest_shm: factory page, named regions, "
                       "notifications)",
            .options = shmem_options, .state_size = sizeof(struct shmem),
            .places = VDEV_PLACE_PCI | VDEV_PLACE_MEM, .window_size = SHMEM_FACTORY_SIZE,
            .has_intr = true,
            .window = {.read = factory_mmio_read, .write = factory_mmio_write, .sizes = 0xf},
            .options_start = shmem_options_start, .option = shmem_option,
            .options_end = shmem_options_end, .assign = shmem_assign,
            .configured = shmem_configured, .gen_acpi = shmem_gen_acpi, .gen_fdt = shmem_gen_fdt,
            .reset = shmem_reset, .status = shmem_status, .terminate = shmem_terminate);
