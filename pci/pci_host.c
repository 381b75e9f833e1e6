/* The PCI host bridge: configuration cycles (ports 0xCF8/0xCFC and ECAM), slots, and the
 * hand-over from the machine build (placement, BAR assignment, reset). */
#include <stdlib.h>
#include <string.h>

#include "pci_internal.h"

#define CF8_PORT      0xcf8
#define CF8_ENABLE    0x80000000u
#define CF8_ADDR_MASK 0x80fffffcu /* enable, bus, device, function, dword register */

/* The host bridge's own function: like QEMU's q35 (Intel 82G33 DRAM controller). */
static const struct vdev_pci_ident host_bridge_ident = {
    .vendor = 0x8086, .device = 0x29c0, .class_code = 0x060000};

static struct vdev_pci_func *lookup(struct vdev_pci_host *h, unsigned bus, unsigned dev,
                                    unsigned fn)
{
    /* slot_func is written while building only, before any vCPU runs. */
    if (bus >= h->desc.buses || dev >= PCI_SLOTS || fn != 0)
        return NULL;
    return h->slot_func[bus][dev];
}

static uint32_t ones(unsigned size)
{
    return size >= 4 ? 0xffffffffu : (1u << (size * 8)) - 1;
}

static uint32_t cfg_read(struct vdev_pci_host *h, unsigned bus, unsigned dev, unsigned fn,
                         unsigned reg, unsigned size)
{
    struct vdev_pci_func *f = lookup(h, bus, dev, fn);
    if (!f)
        return ones(size); /* nothing answers: master abort */
    if (reg & (size - 1))
        return ones(size);
    if (reg >= PCI_CFG_SIZE)
        return 0; /* no extended capabilities */
    pthread_mutex_lock(&h->cfg_lock);
    uint32_t v = pci_func_cfg_read(f, reg, size);
    pthread_mutex_unlock(&h->cfg_lock);
    return v;
}

static void cfg_write(struct vdev_pci_host *h, unsigned bus, unsigned dev, unsigned fn,
                      unsigned reg, unsigned size, uint32_t value)
{
    struct vdev_pci_func *f = lookup(h, bus, dev, fn);
    if (!f || (reg & (size - 1)) || reg >= PCI_CFG_SIZE)
        return;
    pthread_mutex_lock(&h->cfg_lock);
    pci_func_cfg_write(f, reg, size, value);
    pthread_mutex_unlock(&h->cfg_lock);
}

/* ---- configuration mechanism #1: address at 0xCF8 (dword), data at 0xCFC-0xCFF ---- */

static uint64_t cf8_read(void *opaque, uint64_t off, unsigned size)
{
    struct vdev_pci_host *h = opaque;
    if (off < 4)
        return off == 0 && size == 4 ? atomic_load(&h->cf8_addr) : ones(size);
    uint32_t a = atomic_load(&h->cf8_addr);
    unsigned n = (unsigned)off - 4;
    if (size > 4 || n + size > 4 || !(a & CF8_ENABLE))
        return ones(size);
    return cfg_read(h, (a >> 16) & 0xff, (a >> 11) & 0x1f, (a >> 8) & 7, (a & 0xfc) + n, size);
}

static void cf8_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
    struct vdev_pci_host *h = opaque;
    if (off < 4) {
        if (off == 0 && size == 4)
            atomic_store(&h->cf8_addr, (uint32_t)value & CF8_ADDR_MASK);
        return; /* byte writes to 0xCF9 (reset control on a PC) are not ours */
    }
    uint32_t a = atomic_load(&h->cf8_addr);
    unsigned n = (unsigned)off - 4;
    if (size > 4 || n + size > 4 || !(a & CF8_ENABLE))
        return;
    cfg_write(h, (a >> 16) & 0xff, (a >> 11) & 0x1f, (a >> 8) & 7, (a & 0xfc) + n, size,
              (uint32_t)value);
}

static const struct vdev_region_ops cf8_ops = {.size = sizeof(struct vdev_region_ops),
                                               .read = cf8_read,
                                               .write = cf8_write,
                                               .sizes = 1 | 2 | 4};

/* ---- ECAM: bus << 20 | device << 15 | function << 12 | register ---- */

static uint64_t ecam_read(void *opaque, uint64_t off, unsigned size)
{
    return cfg_read(opaque, (unsigned)(off >> 20), (off >> 15) & 0x1f, (off >> 12) & 7, off & 0xfff,
                    size);
}

static void ecam_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
    cfg_write(opaque, (unsigned)(off >> 20), (off >> 15) & 0x1f, (off >> 12) & 7, off & 0xfff, size,
              (uint32_t)value);
}

static const struct vdev_region_ops ecam_ops = {.size = sizeof(struct vdev_region_ops),
                                                .read = ecam_read,
                                                .write = ecam_write,
                                                .sizes = 1 | 2 | 4};

/* ---- the platform's call ---- */

static const struct vdev_bus_provider pci_bus;
static void host_free(void *host);

static bool window_ok(uint64_t base, uint64_t size, uint64_t limit)
{
    return size == 0 || (base <= limit && size - 1 <= limit - base);
}

static int check_desc(const struct vdev_pci_host_desc *d, struct vdev_err *err)
{
    if (d->buses == 0)
        return vdev_err_set(err, "PCI host bridge: it needs at least one bus");
    if (d->ecam_base & 0xfffff)
        return vdev_err_set(err, "PCI host bridge: ECAM window 0x%llx is not 1 MiB aligned",
                            (unsigned long long)d->ecam_base);
    if (!d->mmio32_size || !window_ok(d->mmio32_base, d->mmio32_size, 0xffffffffu))
        return vdev_err_set(err, "PCI host bridge: the 32-bit memory window must be non-empty "
                                 "and below 4 GiB");
    if (!window_ok(d->mmio64_base, d->mmio64_size, UINT64_MAX))
        return vdev_err_set(err, "PCI host bridge: the 64-bit memory window wraps around");
    if (!window_ok(d->io_base, d->io_size, 0xffff))
        return vdev_err_set(err, "PCI host bridge: the I/O window runs past port 0xffff");
    if (!d->intx_pic)
        return vdev_err_set(err, "PCI host bridge: no interrupt controller for INTx");
    return 0;
}

int vdev_machine_add_pci(struct vdev_machine *m, const struct vdev_pci_host_desc *desc,
                         struct vdev_err *err)
{
    if (pci_host_of(m))
        return vdev_err_set(err, "PCI host bridge added twice");
    if (vdev_machine_is_built(m))
        return vdev_err_set(err, "PCI host bridge: add it before building the machine");
    if (check_desc(desc, err))
        return -1;
    struct vdev_pci_host *h = calloc(1, sizeof(*h));
    if (!h)
        return vdev_err_set(err, "out of memory");
    h->m = m;
    h->desc = *desc;
    snprintf(h->intx_pic, sizeof(h->intx_pic), "%s", desc->intx_pic);
    h->desc.intx_pic = h->intx_pic;
    pthread_mutex_init(&h->cfg_lock, NULL);
    pthread_mutex_init(&h->intx_lock, NULL);
    h->slot_owner = calloc(desc->buses, sizeof(*h->slot_owner));
    h->slot_func = calloc(desc->buses, sizeof(*h->slot_func));
    if (!h->slot_owner || !h->slot_func) {
        host_free(h);
        return vdev_err_set(err, "out of memory");
    }
    if (vdev_machine_add_bus_provider(m, &pci_bus, h, err)) {
        host_free(h);
        return -1;
    }
    /* From here on freed with the machine. */

    /* INTA-D lines: shared by every function, so nothing else may take them. */
    for (unsigned i = 0; i < 4; i++) {
        struct vdev_intr intr = {.given = true, .line = desc->intx_lines[i]};
        snprintf(intr.pic, sizeof(intr.pic), "%s", h->intx_pic);
        struct vdev_err e;
        if (vdev_machine_resolve_intr(m, &intr, &h->intx_gsi[i], &e) ||
            vdev_machine_reserve_line(m, h->intx_pic, desc->intx_lines[i], "pci INTx", &e))
            return vdev_err_set(err, "PCI host bridge: INT%c: %s", 'A' + i, e.msg);
    }
    struct vdev_region_desc ecam = {.owner = "pci ecam",
                                    .space = VDEV_SPACE_MEM,
                                    .kind = VDEV_REGION_DEVICE,
                                    .base = desc->ecam_base,
                                    .size = (uint64_t)desc->buses << 20,
                                    .ops = &ecam_ops,
                                    .opaque = h};
    if (vdev_bus_add(vdev_machine_bus(m), &ecam, &h->ecam, err))
        return -1;
    if (desc->cf8_ports) {
        struct vdev_region_desc cf8 = {.owner = "pci config ports",
                                       .space = VDEV_SPACE_IO,
                                       .kind = VDEV_REGION_DEVICE,
                                       .base = CF8_PORT,
                                       .size = 8,
                                       .ops = &cf8_ops,
                                       .opaque = h};
        if (vdev_bus_add(vdev_machine_bus(m), &cf8, &h->cf8, err))
            return -1;
    }
    struct vdev_pci_func *hb = pci_func_create(h, NULL, 0, 0, &host_bridge_ident);
    snprintf(hb->name, sizeof(hb->name), "pci 0:0.0");
    h->slot_owner[0][0] = "the host bridge";
    h->slot_func[0][0] = hb;
    return 0;
}

bool vdev_machine_pci_host(const struct vdev_machine *m, struct vdev_pci_host_desc *out)
{
    const struct vdev_pci_host *h = pci_host_of(m);
    if (!h)
        return false;
    if (out)
        *out = h->desc;
    return true;
}

struct vdev_pci_host *pci_host_of(const struct vdev_machine *m)
{
    return vdev_machine_bus_provider(m, &pci_bus);
}

/* ---- slots ---- */

static int check_slot(struct vdev_pci_host *h, const struct vdev_loc *loc, struct vdev_err *err)
{
    if (loc->bus >= h->desc.buses)
        return vdev_err_set(err, "PCI bus %u does not exist (this machine has buses 0-%u)",
                            loc->bus, h->desc.buses - 1u);
    if (loc->dev >= PCI_SLOTS)
        return vdev_err_set(err, "PCI device number %u is out of range (0-31)", loc->dev);
    if (loc->fn != 0)
        return vdev_err_set(err,
                            "pci %u:%u.%u: multi-function devices are not supported "
                            "(hint: use pci:%u:%u, function 0)",
                            loc->bus, loc->dev, loc->fn, loc->bus, loc->dev);
    return 0;
}

/* Claims slot B:D for `owner` (a `reserve` line or a device's pinned loc). */
static int claim_slot(void *host, const struct vdev_loc *loc, const char *owner,
                      struct vdev_err *err)
{
    struct vdev_pci_host *h = host;
    if (check_slot(h, loc, err))
        return -1;
    const char *cur = h->slot_owner[loc->bus][loc->dev];
    if (cur)
        return vdev_err_set(err, "pci %u:%u.0 is already used by %s", loc->bus, loc->dev, cur);
    h->slot_owner[loc->bus][loc->dev] = owner;
    return 0;
}

/* The lowest free slot for `owner`, filling loc. */
static int alloc_slot(void *host, struct vdev_loc *loc, const char *owner, struct vdev_err *err)
{
    struct vdev_pci_host *h = host;
    for (unsigned bus = 0; bus < h->desc.buses; bus++)
        for (unsigned dev = 1; dev < PCI_SLOTS; dev++)
            if (!h->slot_owner[bus][dev]) {
                h->slot_owner[bus][dev] = owner;
                memset(loc, 0, sizeof(*loc));
                loc->kind = VDEV_LOC_PCI;
                loc->bus = (uint8_t)bus;
                loc->dev = (uint8_t)dev;
                return 0;
            }
    return vdev_err_set(err, "every PCI slot is taken (%u per bus, slot 0 is the host bridge)",
                        PCI_SLOTS);
}

/* `reserve loc pci:B:D`: the owner string lives as long as the host. */
static int reserve_slot(void *host, const struct vdev_loc *loc, unsigned line, struct vdev_err *err)
{
    struct vdev_pci_host *h = host;
    char **p = realloc(h->names, (h->nnames + 1) * sizeof(*p));
    if (!p)
        return vdev_err_set(err, "out of memory");
    h->names = p;
    char name[48];
    snprintf(name, sizeof(name), "reserve (line %u)", line);
    h->names[h->nnames] = vdev_strdup(name);
    return claim_slot(h, loc, h->names[h->nnames++], err);
}

/* ---- build, reset, free ---- */

/* After every assign hook ran: gives every BAR its address and region. */
static int assign_bars(void *host, struct vdev_err *err)
{
    struct vdev_pci_host *h = host;
    /* Every region is added enabled so the next search sees it, then all are turned off:
     * the guest enables decoding itself, as after firmware. */
    for (size_t i = 0; i < h->nfuncs; i++)
        if (pci_func_assign_bars(h->funcs[i], err))
            return -1;
    for (size_t i = 0; i < h->nfuncs; i++)
        pci_func_disable_bars(h->funcs[i]);
    return 0;
}

static void host_reset(void *host)
{
    struct vdev_pci_host *h = host;
    for (size_t i = 0; i < h->nfuncs; i++)
        pci_func_reset(h->funcs[i]);
    atomic_store(&h->cf8_addr, 0);
}

static void host_free(void *host)
{
    struct vdev_pci_host *h = host;
    if (!h)
        return;
    for (size_t i = 0; i < h->nfuncs; i++)
        pci_func_free(h->funcs[i]);
    free(h->funcs);
    for (size_t i = 0; i < h->nnames; i++)
        free(h->names[i]);
    free(h->names);
    free(h->slot_owner);
    free(h->slot_func);
    pthread_mutex_destroy(&h->cfg_lock);
    pthread_mutex_destroy(&h->intx_lock);
    free(h);
}

/* The memory windows BARs are placed in: a device placed in memory stays out of them. */
static size_t mem_windows(void *host, struct vdev_bus_window *out, size_t max)
{
    const struct vdev_pci_host_desc *d = &((struct vdev_pci_host *)host)->desc;
    const struct vdev_bus_window w[] = {
        {"the PCI 32-bit memory window", d->mmio32_base, d->mmio32_size},
        {"the PCI 64-bit memory window", d->mmio64_base, d->mmio64_size}};
    size_t n = 0;
    for (; n < max && n < sizeof(w) / sizeof(w[0]); n++)
        out[n] = w[n];
    return n;
}

/* How the machine build drives the host bridge (core/transport_api.h). */
static const struct vdev_bus_provider pci_bus = {
    .size = sizeof(struct vdev_bus_provider),
    .name = "PCI host bridge",
    .kind = VDEV_LOC_PCI,
    .claim = claim_slot,
    .reserve = reserve_slot,
    .alloc = alloc_slot,
    .mem_windows = mem_windows,
    .assign = assign_bars,
    .reset = host_reset,
    .print = pci_print,
    .gen_acpi = pci_gen_acpi,
    .destroy = host_free,
    .gen_fdt = pci_gen_fdt,
};
