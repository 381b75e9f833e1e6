/* The guest's PCI function for a passed device: identity, BARs and capabilities from the
 * device's config space; BARs mmapped where VFIO allows, trapped where not (and the BAR of
 * the MSI-X table, which the PCI core emulates: VFIO reads the real one as all ones); MSI-X
 * and MSI vectors as the core's per-vector eventfds handed to VFIO (device -> KVM with no
 * VMM hop), INTx as the core's level irqfd and its resampler; VFIO's ROM region behind the
 * core's ROM BAR; the command register and the copied capabilities passed through. */
#include <errno.h>
#include <string.h>
#include <vdev/bus.h>

#include "vfio_pci_dev.h"

#define CFG_CMD      0x04
#define CFG_BAR0     0x10
#define CFG_CAP_PTR  0x34
#define CFG_INT_PIN  0x3d
#define CMD_PASS     0x0407u /* I/O, memory, bus master, INTx disable */
#define CAP_MSI      0x05
#define CAP_MSIX     0x11
#define BAR_IO       0x1u
#define BAR_MEM64    0x4u
#define BAR_PREFETCH 0x8u

static uint32_t cfg32(const uint8_t *cfg, unsigned off)
{
    return (uint32_t)cfg[off] | (uint32_t)cfg[off + 1] << 8 | (uint32_t)cfg[off + 2] << 16 |
           (uint32_t)cfg[off + 3] << 24;
}

static uint16_t cfg16(const uint8_t *cfg, unsigned off)
{
    return (uint16_t)(cfg[off] | cfg[off + 1] << 8);
}

/* ---- trapped BARs: pread/pwrite on the VFIO region ---- */

static uint64_t bar_read(void *opaque, uint64_t off, unsigned size)
{
    struct vfio_pci_bar_ref *r = opaque;
    uint64_t v = 0;
    if (size > 8 || vfio_region_read(&r->p->vf, r->bar, off, &v, size))
        return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1; /* as a device that is gone */
    return v;
}

static void bar_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
    struct vfio_pci_bar_ref *r = opaque;
    if (size <= 8)
        vfio_region_write(&r->p->vf, r->bar, off, &value, size);
}

static const struct vdev_region_ops bar_ops = {
    .size = sizeof(struct vdev_region_ops), .read = bar_read, .write = bar_write};

/* ---- the expansion ROM: VFIO's ROM region, read on demand ---- */

static uint64_t rom_read(void *opaque, uint64_t off, unsigned size)
{
    struct vfio_pci *p = opaque;
    uint64_t v = 0;
    if (size > 8 || vfio_region_read(&p->vf, VFIO_REGION_ROM, off, &v, size))
        return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
    return v;
}

static void rom_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
    (void)opaque, (void)off, (void)size, (void)value; /* the core drops them anyway */
}

static const struct vdev_region_ops rom_ops = {
    .size = sizeof(struct vdev_region_ops), .read = rom_read, .write = rom_write};

/* ---- INTx: VFIO's trigger and unmask eventfds are the core's irqfd and its resampler ---- */

/* Arms INTx in VFIO (config lock held): the device's line -> VFIO masks it and writes the
 * trigger -> KVM raises the guest's INTA# -> guest EOI -> KVM lowers it and writes the
 * resampler -> VFIO unmasks, and fires again if the device still asserts. */
static void intx_arm(struct vfio_pci *p)
{
    if (!p->intx || p->intx_on || p->intx_refused || vdev_pci_msix_enabled(p->f) ||
        vdev_pci_msi_enabled(p->f))
        return;
    int trigger, resample;
    struct vdev_err e;
    if (vdev_pci_intx_eventfds(p->f, &trigger, &resample, &e)) {
        p->intx_refused = true;
        vdev_log(p->dev, VDEV_LOG_WARNING, "INTx not offered (the guest needs MSI-X): %s", e.msg);
        return;
    }
    int32_t fd = trigger;
    if (vfio_irq_set_eventfds(&p->vf, VFIO_IRQ_INTX, 0, 1, &fd) ||
        vfio_irq_intx_unmask_fd(&p->vf, resample)) {
        vdev_log(p->dev, VDEV_LOG_ERROR, "INTx: %s", strerror(errno));
        vfio_irq_set_eventfds(&p->vf, VFIO_IRQ_INTX, 0, 0, NULL);
        return;
    }
    p->intx_on = true;
}

/* VFIO runs one interrupt kind at a time: INTx goes before MSI-X comes. */
static void intx_disarm(struct vfio_pci *p)
{
    if (p->intx_on)
        vfio_irq_set_eventfds(&p->vf, VFIO_IRQ_INTX, 0, 0, NULL);
    p->intx_on = false;
}

/* ---- config space: the copied capabilities and the command register pass through ---- */

/* The host offset of guest config bytes [reg, reg+size) inside a copied capability's body. */
static int cap_host_off(const struct vfio_pci *p, unsigned reg, unsigned size)
{
    for (unsigned k = 0; k < p->ncaps; k++) {
        unsigned g = p->caps[k].guest;
        if (reg >= g + 2u && reg + size <= g + 2u + p->caps[k].len)
            return (int)(p->caps[k].host + (reg - g));
    }
    return -1;
}

static bool cfg_read(void *opaque, unsigned reg, unsigned size, uint32_t *value)
{
    struct vfio_pci *p = opaque;
    int host = cap_host_off(p, reg, size);
    *value = 0;
    return host >= 0 && vfio_region_read(&p->vf, VFIO_REGION_CFG, (uint64_t)host, value, size) == 0;
}

static void cfg_write(void *opaque, unsigned reg, unsigned size, uint32_t value)
{
    struct vfio_pci *p = opaque;
    if (reg == CFG_CMD && size >= 2) {
        uint16_t cmd = 0;
        if (vfio_region_read(&p->vf, VFIO_REGION_CFG, CFG_CMD, &cmd, 2) == 0) {
            cmd = (uint16_t)((cmd & ~CMD_PASS) | (value & CMD_PASS));
            vfio_region_write(&p->vf, VFIO_REGION_CFG, CFG_CMD, &cmd, 2);
        }
        intx_arm(p); /* the guest is using the device: its interrupt controller is up */
        return;
    }
    int host = cap_host_off(p, reg, size);
    if (host >= 0)
        vfio_region_write(&p->vf, VFIO_REGION_CFG, (uint64_t)host, &value, size);
}

static void msix_off(struct vfio_pci *p)
{
    if (p->msix_on && vfio_irq_set_eventfds(&p->vf, VFIO_IRQ_MSIX, 0, 0, NULL))
        vdev_log(p->dev, VDEV_LOG_ERROR, "MSI-X off: %s", strerror(errno));
    p->msix_on = false;
}

/* MSI-X on: each vector's eventfd to VFIO; off: VFIO's vectors go. Config lock held. */
static void msix_changed(void *opaque, bool enabled)
{
    struct vfio_pci *p = opaque;
    if (enabled) {
        intx_disarm(p);
        if (!p->msix_on &&
            vfio_irq_set_eventfds(&p->vf, VFIO_IRQ_MSIX, 0, p->msix_nvec, p->msix_fds) == 0)
            p->msix_on = true;
        else if (!p->msix_on)
            vdev_log(p->dev, VDEV_LOG_ERROR, "MSI-X on: %s", strerror(errno));
        return;
    }
    msix_off(p);
    intx_arm(p);
}

/* MSI: the enabled vectors' eventfds to VFIO (a new count replaces the old); 0: off. */
static void msi_changed(void *opaque, unsigned vectors)
{
    struct vfio_pci *p = opaque;
    if (p->msi_on && vfio_irq_set_eventfds(&p->vf, VFIO_IRQ_MSI, 0, 0, NULL))
        vdev_log(p->dev, VDEV_LOG_ERROR, "MSI off: %s", strerror(errno));
    p->msi_on = 0;
    if (!vectors) {
        intx_arm(p);
        return;
    }
    intx_disarm(p);
    if (vfio_irq_set_eventfds(&p->vf, VFIO_IRQ_MSI, 0, vectors, p->msi_fds) == 0)
        p->msi_on = vectors;
    else
        vdev_log(p->dev, VDEV_LOG_ERROR, "MSI on (%u vectors): %s", vectors, strerror(errno));
}

/* Back to power-on: no MSI-X (the core's reset turned it off already when it was on);
 * INTx stays armed, or is armed again at the next command write. */
static void func_reset(void *opaque)
{
    msix_off(opaque);
}

static const struct vdev_pci_func_ops func_ops = {.size = sizeof(struct vdev_pci_func_ops),
                                                  .reset = func_reset,
                                                  .msix_changed = msix_changed,
                                                  .msi_changed = msi_changed,
                                                  .config_read = cfg_read,
                                                  .config_write = cfg_write};

/* ---- building the function ---- */

/* msix_bar: the BAR the core traps for the MSI-X table (6: none). */
static int bars(struct vdev *d, struct vfio_pci *p, const uint8_t *cfg, unsigned msix_bar,
                struct vdev_err *e)
{
    for (unsigned i = 0; i < 6; i++) {
        uint64_t size = p->vf.region[i].size;
        uint32_t reg = cfg32(cfg, CFG_BAR0 + 4 * i);
        if (!size)
            continue;
        bool io = reg & BAR_IO, mem64 = !io && (reg & 0x6u) == BAR_MEM64;
        if ((size & (size - 1)) || (mem64 && i == 5))
            return vdev_error(d, vdev_pos(d), NULL, "host device %s: BAR %u: size 0x%llx",
                              p->host.bdf, i, (unsigned long long)size);
        p->bar_ref[i] = (struct vfio_pci_bar_ref){p, i};
        p->bar_size[i] = size;
        struct vdev_pci_bar b = {.size = size,
                                 .flags = (io ? VDEV_PCI_BAR_IO : 0) |
                                          (mem64 ? VDEV_PCI_BAR_MEM64 : 0) |
                                          (!io && (reg & BAR_PREFETCH) ? VDEV_PCI_BAR_PREFETCH : 0),
                                 .kind = VDEV_REGION_DEVICE,
                                 .ops = &bar_ops,
                                 .opaque = &p->bar_ref[i]};
        /* Mapped straight into the guest where VFIO lets the whole BAR be mapped, unless
         * the core must trap the MSI-X table in it. */
        bool msix_here = msix_bar == i;
        if (!io && !msix_here && size >= 4096 &&
            (p->bar_map[i] = vfio_region_mmap(&p->vf, i, 0, size))) {
            b.kind = VDEV_REGION_DEVMEM;
            b.ops = NULL;
            b.opaque = NULL;
            b.host = p->bar_map[i];
        }
        if (vdev_pci_set_bar(p->f, i, &b, e))
            return vdev_error(d, vdev_pos(d), NULL, "%s", e->msg);
        if (mem64)
            i++;
    }
    return 0;
}

/* Copies the capabilities other than MSI and MSI-X; finds those two. */
static int caps(struct vdev *d, struct vfio_pci *p, const uint8_t *cfg, unsigned *msix,
                unsigned *msi)
{
    *msix = *msi = 0;
    if (!(cfg16(cfg, 0x06) & 0x10))
        return 0;
    /* the end of each capability is where the next one (by offset) starts, or 0x100 */
    uint8_t offs[48];
    unsigned n = 0;
    for (unsigned at = cfg[CFG_CAP_PTR] & 0xfc; at && n < 48; at = cfg[at + 1] & 0xfc) {
        if (at < 0x40)
            return vdev_error(d, vdev_pos(d), NULL, "host device %s: capability at 0x%x",
                              p->host.bdf, at);
        for (unsigned k = 0; k < n; k++)
            if (offs[k] == at)
                return vdev_error(d, vdev_pos(d), NULL, "host device %s: capability loop",
                                  p->host.bdf);
        offs[n++] = (uint8_t)at;
    }
    for (unsigned k = 0; k < n; k++) {
        unsigned at = offs[k], end = 0x100;
        for (unsigned j = 0; j < n; j++)
            if (offs[j] > at && offs[j] < end)
                end = offs[j];
        uint8_t id = cfg[at];
        if (id == CAP_MSIX) {
            *msix = at;
            continue;
        }
        if (id == CAP_MSI) {
            *msi = at;
            continue;
        }
        if (p->ncaps == VFIO_PCI_MAX_CAPS)
            continue; /* beyond the table: dropped */
        unsigned len = end - at - 2;
        if (len > 64)
            len = 64; /* a capability is small; the rest would be padding */
        struct vdev_err e;
        uint8_t off;
        if (vdev_pci_add_cap(p->f, id, cfg + at + 2, len, &off, &e))
            continue; /* no room: the guest does without it */
        p->caps[p->ncaps].guest = off;
        p->caps[p->ncaps].host = (uint8_t)at;
        p->caps[p->ncaps++].len = (uint8_t)len;
    }
    return 0;
}

static int msix(struct vdev *d, struct vfio_pci *p, const uint8_t *cfg, unsigned at,
                struct vdev_err *e)
{
    unsigned nvec = (cfg16(cfg, at + 2) & 0x7ff) + 1u;
    uint32_t table = cfg32(cfg, at + 4), pba = cfg32(cfg, at + 8);
    if ((table & 7) != (pba & 7))
        return vdev_error(d, vdev_pos(d), "not supported yet",
                          "host device %s: its MSI-X table and PBA are in different BARs",
                          p->host.bdf);
    if (nvec > p->vf.irq_count[VFIO_IRQ_MSIX])
        nvec = p->vf.irq_count[VFIO_IRQ_MSIX];
    if (!nvec)
        return 0;
    if (vdev_pci_msix_init(p->f, nvec, table & 7, table & ~7u, pba & ~7u, e))
        return vdev_error(d, vdev_pos(d), NULL, "%s", e->msg);
    for (unsigned v = 0; v < nvec; v++)
        if ((p->msix_fds[v] = vdev_pci_msix_vector_eventfd(p->f, v, e)) < 0)
            return vdev_error(d, vdev_pos(d), NULL, "%s", e->msg);
    p->msix_bar = table & 7;
    p->msix_nvec = nvec;
    return 0;
}

/* MSI as the core's capability, with as many vectors as the device and VFIO offer. */
static int msi(struct vdev *d, struct vfio_pci *p, const uint8_t *cfg, unsigned at,
               struct vdev_err *e)
{
    unsigned nvec = 1u << ((cfg16(cfg, at + 2) >> 1) & 7);
    if (nvec > 32)
        nvec = 32; /* reserved MMC values */
    while (nvec > p->vf.irq_count[VFIO_IRQ_MSI])
        nvec >>= 1;
    if (!nvec)
        return 0;
    if (vdev_pci_msi_init(p->f, nvec, e))
        return vdev_error(d, vdev_pos(d), NULL, "%s", e->msg);
    for (unsigned v = 0; v < nvec; v++)
        if ((p->msi_fds[v] = vdev_pci_msi_vector_eventfd(p->f, v, e)) < 0)
            return vdev_error(d, vdev_pos(d), NULL, "%s", e->msg);
    p->msi_nvec = nvec;
    return 0;
}

/* The device's expansion ROM, when VFIO shows one of a size a ROM BAR can have. */
static int rom(struct vdev *d, struct vfio_pci *p, struct vdev_err *e)
{
    const struct vfio_region *r = &p->vf.region[VFIO_REGION_ROM];
    if (!r->size || !r->readable)
        return 0;
    if (r->size < 2048 || r->size > (16u << 20) || (r->size & (r->size - 1))) {
        vdev_info(d, "host device %s: its ROM (0x%llx bytes) is not offered", p->host.bdf,
                  (unsigned long long)r->size);
        return 0;
    }
    if (vdev_pci_set_rom(p->f, r->size, &rom_ops, p, e))
        return vdev_error(d, vdev_pos(d), NULL, "%s", e->msg);
    return 0;
}

int vfio_pci_func_create(struct vdev *d, struct vfio_pci *p)
{
    uint8_t cfg[256];
    struct vdev_err e;
    p->dev = d;
    if (vfio_region_read(&p->vf, VFIO_REGION_CFG, 0, cfg, sizeof(cfg)))
        return vdev_error(d, vdev_pos(d), NULL, "host device %s: cannot read its config space",
                          p->host.bdf);
    struct vdev_pci_ident id = {.vendor = cfg16(cfg, 0),
                                .device = cfg16(cfg, 2),
                                .revision = cfg[8],
                                .class_code = cfg32(cfg, 8) >> 8,
                                .subsystem_vendor = cfg16(cfg, 0x2c),
                                .subsystem = cfg16(cfg, 0x2e)};
    if (!(p->f = vdev_pci_func_new(d, &id, &func_ops, p, &e)))
        return vdev_error(d, vdev_pos(d), NULL, "%s", e.msg);
    unsigned msix_at, msi_at;
    if (caps(d, p, cfg, &msix_at, &msi_at) ||
        bars(d, p, cfg, msix_at ? cfg32(cfg, msix_at + 4) & 7 : 6, &e) ||
        (msix_at && msix(d, p, cfg, msix_at, &e)) || (msi_at && msi(d, p, cfg, msi_at, &e)) ||
        rom(d, p, &e))
        return -1;
    p->intx = p->vf.irq_count[VFIO_IRQ_INTX] > 0 && cfg[CFG_INT_PIN] != 0;
    if (!p->intx && vdev_pci_set_intx_pin(p->f, 0, &e))
        return vdev_error(d, vdev_pos(d), NULL, "%s", e.msg);
    return 0;
}

void vfio_pci_func_free(struct vfio_pci *p)
{
    for (unsigned i = 0; i < 6; i++)
        if (p->bar_map[i]) {
            vfio_region_unmap(&p->vf, p->bar_map[i], p->bar_size[i]);
            p->bar_map[i] = NULL;
        }
}
