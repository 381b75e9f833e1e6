/* A PCI function: its type-0 configuration header, capabilities, BARs and INTx. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "pci_internal.h"

struct vdev_pci_func *pci_func_create(struct vdev_pci_host *h, struct vdev *d, uint8_t bus,
                                      uint8_t dev, const struct vdev_pci_ident *id)
{
    struct vdev_pci_func *f = calloc(1, sizeof(*f));
    struct vdev_pci_func **list = realloc(h->funcs, (h->nfuncs + 1) * sizeof(*list));
    if (!f || !list)
        abort();
    h->funcs = list;
    h->funcs[h->nfuncs++] = f;
    f->host = h;
    f->d = d;
    f->bus = bus;
    f->dev = dev;
    f->ident = *id;
    snprintf(f->name, sizeof(f->name), "pci %u:%u.0", bus, dev);
    uint8_t *c = f->cfg;
    put16(c + PCI_VENDOR_ID, id->vendor);
    put16(c + PCI_DEVICE_ID, id->device);
    c[PCI_REVISION] = id->revision;
    c[PCI_CLASS_PROG] = (uint8_t)id->class_code;
    c[PCI_CLASS_PROG + 1] = (uint8_t)(id->class_code >> 8);
    c[PCI_CLASS_PROG + 2] = (uint8_t)(id->class_code >> 16);
    put16(c + PCI_SUBSYS_VENDOR, id->subsystem_vendor);
    put16(c + PCI_SUBSYS_ID, id->subsystem);
    put16(f->wmask + PCI_COMMAND, PCI_CMD_IO | PCI_CMD_MEM | PCI_CMD_MASTER | PCI_CMD_PARITY |
                                      PCI_CMD_SERR | PCI_CMD_INTX_DISABLE);
    f->wmask[PCI_CACHE_LINE] = 0xff;
    f->wmask[PCI_LATENCY] = 0xff;
    f->wmask[PCI_INTERRUPT_LINE] = 0xff;
    if (d) {
        /* INTA#, routed as _PRT says; the line register is what firmware would write. */
        c[PCI_INTERRUPT_PIN] = 1;
        f->intx_gsi = h->intx_gsi[dev % 4];
        c[PCI_INTERRUPT_LINE] = f->intx_gsi < 0xff ? (uint8_t)f->intx_gsi : 0xff;
    }
    f->cap_end = PCI_CAP_FIRST;
    memcpy(f->reset_cfg, f->cfg, sizeof(f->cfg));
    return f;
}

struct vdev_pci_func *vdev_pci_func_new(struct vdev *d, const struct vdev_pci_ident *id,
                                        const struct vdev_pci_func_ops *ops, void *opaque,
                                        struct vdev_err *err)
{
    struct vdev_machine *m = vdev_machine_of(d);
    struct vdev_pci_host *h = pci_host_of(m);
    const char *label = vdev_label(d);
    const struct vdev_loc *loc = vdev_loc(d);
    if (!h) {
        vdev_err_set(err, "%s: this machine has no PCI bus", label);
        return NULL;
    }
    if (loc->kind != VDEV_LOC_PCI) {
        vdev_err_set(err, "%s: it does not sit on PCI (loc is not pci:B:D)", label);
        return NULL;
    }
    const bool in_range = loc->bus < h->desc.buses && loc->dev < PCI_SLOTS;
    if (in_range && h->slot_func[loc->bus][loc->dev] && h->slot_func[loc->bus][loc->dev]->d == d) {
        vdev_err_set(err, "%s: it already has a PCI function", label);
        return NULL;
    }
    if (vdev_machine_is_built(m) || h->nfuncs == 0 || h->funcs[h->nfuncs - 1]->bars_assigned) {
        vdev_err_set(err, "%s: PCI functions are made in the assign hook", label);
        return NULL;
    }
    if (!id || id->vendor == 0xffff || id->vendor == 0) {
        vdev_err_set(err, "%s: bad PCI vendor ID 0x%04x", label, id ? id->vendor : 0);
        return NULL;
    }
    if (!in_range || h->slot_owner[loc->bus][loc->dev] != label) {
        vdev_err_set(err, "%s: pci %u:%u.%u is not its slot", label, loc->bus, loc->dev, loc->fn);
        return NULL;
    }
    if (ops && ops->size < sizeof(ops->size)) {
        vdev_err_setc(err, VDEV_E_INVAL,
                      "%s: PCI function ops without a size (set .size = sizeof(struct "
                      "vdev_pci_func_ops))",
                      label);
        return NULL;
    }
    struct vdev_pci_func *f = pci_func_create(h, d, loc->bus, loc->dev, id);
    f->ops = ops;
    f->opaque = opaque;
    h->slot_func[f->bus][f->dev] = f;
    return f;
}

const char *vdev_pci_func_name(const struct vdev_pci_func *f)
{
    return f->name;
}

/* ---- BARs ---- */

static int bar_error(struct vdev_pci_func *f, struct vdev_err *err, unsigned index, const char *why)
{
    return vdev_err_set(err, "%s (%s): BAR%u: %s", f->d ? vdev_label(f->d) : "host bridge", f->name,
                        index, why);
}

static bool pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

int vdev_pci_set_bar(struct vdev_pci_func *f, unsigned index, const struct vdev_pci_bar *bar,
                     struct vdev_err *err)
{
    if (f->bars_assigned)
        return bar_error(f, err, index, "BARs are declared in the assign hook");
    if (index >= PCI_NBARS)
        return bar_error(f, err, index, "there are BARs 0-5 only");
    const bool io = bar->flags & VDEV_PCI_BAR_IO, is64 = bar->flags & VDEV_PCI_BAR_MEM64;
    if (bar->flags & ~(unsigned)(VDEV_PCI_BAR_IO | VDEV_PCI_BAR_MEM64 | VDEV_PCI_BAR_PREFETCH))
        return bar_error(f, err, index, "unknown flags");
    if (io && (bar->flags & (VDEV_PCI_BAR_MEM64 | VDEV_PCI_BAR_PREFETCH)))
        return bar_error(f, err, index, "an I/O BAR is neither 64-bit nor prefetchable");
    if (is64 && index == PCI_NBARS - 1)
        return bar_error(f, err, index, "a 64-bit BAR needs the next BAR too");
    if (f->bars[index].used || f->bars[index].upper || (is64 && f->bars[index + 1].used))
        return bar_error(f, err, index, "declared twice");
    if (!pow2(bar->size) || bar->size < (io ? 4u : 16u))
        return bar_error(f, err, index,
                         io ? "the size must be a power of two, at least 4"
                            : "the size must be a power of two, at least 16");
    if (io && bar->size > 256)
        return bar_error(f, err, index, "an I/O BAR is at most 256 ports");
    if (!is64 && bar->size > 0x80000000u)
        return bar_error(f, err, index, "a 32-bit BAR is at most 2 GiB");
    if (bar->kind == VDEV_REGION_DEVICE) {
        if (bar->ops && bar->ops->size < VDEV_SIZE_THROUGH(struct vdev_region_ops, sizes))
            return bar_error(f, err, index,
                             "its ops have no size (set .size = sizeof(struct vdev_region_ops))");
        if (!bar->ops || !bar->ops->read || !bar->ops->write)
            return bar_error(f, err, index, "a trapped BAR needs read and write handlers");
    } else if (bar->kind == VDEV_REGION_DEVMEM) {
        if (io || !bar->host || bar->size < 4096)
            return bar_error(f, err, index,
                             "device memory needs host memory and a memory BAR of 4 KiB or more");
    } else if (bar->kind == VDEV_REGION_WINDOW) {
        if (io || bar->size < 4096)
            return bar_error(f, err, index, "a window BAR is a memory BAR of 4 KiB or more");
    } else {
        return bar_error(f, err, index, "the kind must be DEVICE, DEVMEM or WINDOW");
    }
    struct pci_bar *b = &f->bars[index];
    b->used = true;
    b->desc = *bar;
    b->f = f;
    uint8_t *reg = f->cfg + PCI_BAR0 + 4 * index;
    uint8_t *mask = f->wmask + PCI_BAR0 + 4 * index;
    if (io) {
        put32(reg, PCI_BAR_IO_FLAG);
        put32(mask, (uint32_t) ~(bar->size - 1) & ~3u);
    } else {
        put32(reg, (is64 ? PCI_BAR_MEM64_FLAG : 0) |
                       (bar->flags & VDEV_PCI_BAR_PREFETCH ? PCI_BAR_PREF_FLAG : 0));
        put32(mask, (uint32_t) ~(bar->size - 1) & ~0xfu);
        if (is64) {
            f->bars[index + 1].upper = true;
            put32(mask + 4, (uint32_t)(~(bar->size - 1) >> 32));
        }
    }
    return 0;
}

/* The address the guest programmed into BAR i. */
static uint64_t bar_address(const struct vdev_pci_func *f, unsigned i)
{
    const struct pci_bar *b = &f->bars[i];
    uint32_t lo = get32(f->cfg + PCI_BAR0 + 4 * i);
    if (b->desc.flags & VDEV_PCI_BAR_IO)
        return lo & ~3u;
    uint64_t a = lo & ~0xfu;
    if (b->desc.flags & VDEV_PCI_BAR_MEM64)
        a |= (uint64_t)get32(f->cfg + PCI_BAR0 + 4 * (i + 1)) << 32;
    return a;
}

static void set_bar_address(struct vdev_pci_func *f, unsigned i, uint64_t a)
{
    uint8_t *reg = f->cfg + PCI_BAR0 + 4 * i;
    uint32_t mask = get32(f->wmask + PCI_BAR0 + 4 * i);
    put32(reg, (get32(reg) & ~mask) | ((uint32_t)a & mask));
    if (f->bars[i].desc.flags & VDEV_PCI_BAR_MEM64)
        put32(reg + 4, (uint32_t)(a >> 32));
}

uint64_t vdev_pci_bar_base(const struct vdev_pci_func *f, unsigned bar)
{
    return bar < PCI_NBARS ? atomic_load(&((struct vdev_pci_func *)f)->bars[bar].base) : 0;
}

struct vdev_region *vdev_pci_bar_region(struct vdev_pci_func *f, unsigned bar)
{
    return bar < PCI_NBARS ? f->bars[bar].region : NULL;
}

bool vdev_pci_bar_enabled(const struct vdev_pci_func *f, unsigned bar)
{
    return bar < PCI_NBARS && atomic_load(&((struct vdev_pci_func *)f)->bars[bar].enabled);
}

static uint64_t wrap_read(void *opaque, uint64_t off, unsigned size)
{
    struct pci_bar *b = opaque;
    struct vdev_pci_func *f = b->f;
    if (pci_msix_owns(f, (unsigned)(b - f->bars), off, size))
        return pci_msix_read(f, off, size);
    unsigned sizes = b->desc.ops->sizes ? b->desc.ops->sizes : 0xf;
    if (!(sizes & size))
        return UINT64_MAX;
    return b->desc.ops->read(b->desc.opaque, off, size);
}

static void wrap_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
    struct pci_bar *b = opaque;
    struct vdev_pci_func *f = b->f;
    if (pci_msix_owns(f, (unsigned)(b - f->bars), off, size)) {
        pci_msix_write(f, off, size, value);
        return;
    }
    unsigned sizes = b->desc.ops->sizes ? b->desc.ops->sizes : 0xf;
    if (sizes & size)
        b->desc.ops->write(b->desc.opaque, off, size, value);
}

/* Pre-assigns each BAR inside its window, as firmware would, and creates its region. */
int pci_func_assign_bars(struct vdev_pci_func *f, struct vdev_err *err)
{
    struct vdev_pci_host *h = f->host;
    const struct vdev_pci_host_desc *hd = &h->desc;
    for (unsigned i = 0; i < PCI_NBARS; i++) {
        struct pci_bar *b = &f->bars[i];
        if (!b->used)
            continue;
        const bool io = b->desc.flags & VDEV_PCI_BAR_IO;
        uint64_t size = b->desc.size, base = 0, wbase, wsize;
        uint64_t align = io || size >= 4096 ? size : 4096; /* one page each in memory */
        enum vdev_space space = io ? VDEV_SPACE_IO : VDEV_SPACE_MEM;
        if (io) {
            wbase = hd->io_base;
            wsize = hd->io_size;
        } else if ((b->desc.flags & VDEV_PCI_BAR_MEM64) && hd->mmio64_size) {
            wbase = hd->mmio64_base;
            wsize = hd->mmio64_size;
        } else {
            wbase = hd->mmio32_base;
            wsize = hd->mmio32_size;
        }
        if (!wsize || vdev_bus_find_free(vdev_machine_bus(h->m), space, wbase, wbase + wsize - 1,
                                         size, align, &base))
            return vdev_err_set(err,
                                "%s (%s): BAR%u: no room for 0x%" PRIx64 " bytes in the PCI %s "
                                "window",
                                vdev_label(f->d), f->name, i, size, io ? "I/O" : "memory");
        char owner[128];
        snprintf(owner, sizeof(owner), "%s BAR%u", vdev_label(f->d), i);
        struct vdev_region_desc rd = {.owner = owner,
                                      .space = space,
                                      .kind = b->desc.kind,
                                      .base = base,
                                      .size = size,
                                      .ops = b->desc.ops,
                                      .opaque = b->desc.opaque,
                                      .host = b->desc.host};
        if (f->msix && f->msix->bar == i) {
            b->wrap.size = sizeof(b->wrap);
            b->wrap.read = wrap_read;
            b->wrap.write = wrap_write;
            b->wrap.sizes = 0xf;
            rd.ops = &b->wrap;
            rd.opaque = b;
        }
        if (vdev_bus_add(vdev_machine_bus(h->m), &rd, &b->region, err))
            return -1;
        atomic_store(&b->base, base);
        b->assigned = base;
        b->reported_base = base;
        b->reported = true;
        set_bar_address(f, i, base);
    }
    if (f->rom && pci_rom_assign(f, err))
        return -1;
    f->bars_assigned = true;
    memcpy(f->reset_cfg, f->cfg, sizeof(f->cfg));
    return 0;
}

void pci_func_disable_bars(struct vdev_pci_func *f)
{
    for (unsigned i = 0; i < PCI_NBARS; i++)
        if (f->bars[i].region)
            vdev_region_set_enabled(f->bars[i].region, false, NULL);
    if (f->rom)
        pci_rom_disable(f);
}

/* Maps each BAR where the guest put it, when it decodes there and nothing else is:
 * a BAR over RAM, another BAR or a platform window stays off. Called with cfg_lock. */
static void update_bars(struct vdev_pci_func *f)
{
    const uint16_t cmd = get16(f->cfg + PCI_COMMAND);
    for (unsigned i = 0; i < PCI_NBARS; i++) {
        struct pci_bar *b = &f->bars[i];
        if (!b->used || !b->region)
            continue;
        const bool io = b->desc.flags & VDEV_PCI_BAR_IO;
        const uint64_t size = b->desc.size, addr = bar_address(f, i);
        const uint64_t limit = io ? 0xffff : UINT64_MAX;
        const bool valid = addr != 0 && addr <= limit && size - 1 <= limit - addr;
        const bool decode = cmd & (io ? PCI_CMD_IO : PCI_CMD_MEM);
        uint64_t base = atomic_load(&b->base);
        bool on = atomic_load(&b->enabled);
        struct vdev_err e;
        /* With decoding off the region stays where it was: sizing (all ones, then the old
         * value back) moves nothing. */
        if (decode && valid && addr != base) {
            if (on) {
                vdev_region_set_enabled(b->region, false, NULL);
                on = false;
            }
            if (vdev_region_move(b->region, addr, &e) == 0)
                base = addr;
        }
        if (decode && valid && base == addr) {
            if (!on) {
                if (vdev_region_set_enabled(b->region, true, &e) == 0) {
                    on = true;
                    b->refused = 0;
                } else if (b->refused != addr) {
                    b->refused = addr;
                    vdev_machine_log(f->host->m, VDEV_LOG_WARNING, "%s BAR%u left off: %s", f->name,
                                     i, e.msg);
                }
            }
        } else if (on) {
            vdev_region_set_enabled(b->region, false, NULL);
            on = false;
        }
        atomic_store(&b->base, base);
        atomic_store(&b->enabled, on);
        if (b->reported && b->reported_base == base && b->reported_enabled == on)
            continue;
        b->reported = true;
        b->reported_base = base;
        b->reported_enabled = on;
        if (FUNC_HOOK(f, bar_changed))
            FUNC_HOOK(f, bar_changed)(f->opaque, i, base, on);
    }
}

/* ---- capabilities ---- */

int vdev_pci_add_cap(struct vdev_pci_func *f, uint8_t cap_id, const void *body, size_t len,
                     uint8_t *offset, struct vdev_err *err)
{
    const char *who = f->d ? vdev_label(f->d) : "host bridge";
    if (f->bars_assigned)
        return vdev_err_set(err, "%s: capabilities are added in the assign hook", who);
    if ((len && !body) || len > PCI_CFG_SIZE || f->cap_end + 2 + len > PCI_CFG_SIZE)
        return vdev_err_set(err,
                            "%s: capability 0x%02x (%zu bytes) does not fit in the "
                            "configuration space",
                            who, cap_id, len);
    const uint8_t off = (uint8_t)f->cap_end;
    f->cfg[off] = cap_id;
    f->cfg[off + 1] = 0;
    if (len)
        memcpy(f->cfg + off + 2, body, len);
    if (f->cap_last)
        f->cfg[f->cap_last + 1] = off;
    else
        f->cfg[PCI_CAP_PTR] = off;
    f->cfg[PCI_STATUS] |= PCI_STATUS_CAPS;
    f->cap_last = off;
    f->cap_end = (unsigned)((off + 2 + len + 3) & ~(size_t)3); /* may reach 256: full */
    memcpy(f->reset_cfg, f->cfg, sizeof(f->cfg));
    if (offset)
        *offset = off;
    return 0;
}

/* ---- configuration space access (host->cfg_lock held) ---- */

static bool touches(unsigned reg, unsigned size, unsigned lo, unsigned len)
{
    return reg < lo + len && lo < reg + size;
}

/* What the core answers itself, whoever owns the rest of the config space. */
static bool core_owned(const struct vdev_pci_func *f, unsigned reg, unsigned size)
{
    return touches(reg, size, PCI_BAR0, 4 * PCI_NBARS) || touches(reg, size, PCI_ROM_BAR, 4) ||
           touches(reg, size, PCI_CAP_PTR, 1) || touches(reg, size, 0x3c, 2) ||
           (f->msix && touches(reg, size, f->msix->cap, 12)) || pci_msi_owns(f, reg, size);
}

uint32_t pci_func_cfg_read(struct vdev_pci_func *f, unsigned reg, unsigned size)
{
    uint32_t v = 0;
    if (FUNC_HOOK(f, config_read) && !core_owned(f, reg, size) &&
        FUNC_HOOK(f, config_read)(f->opaque, reg, size, &v))
        return size >= 4 ? v : v & ((1u << (8 * size)) - 1);
    for (unsigned i = 0; i < size && reg + i < PCI_CFG_SIZE; i++) {
        uint8_t byte = f->cfg[reg + i];
        if (reg + i == PCI_STATUS && atomic_load(&f->intx_level))
            byte |= PCI_STATUS_INTX;
        v |= (uint32_t)byte << (8 * i);
    }
    return v;
}

void pci_func_cfg_write(struct vdev_pci_func *f, unsigned reg, unsigned size, uint32_t value)
{
    for (unsigned i = 0; i < size && reg + i < PCI_CFG_SIZE; i++) {
        uint8_t m = f->wmask[reg + i], byte = (uint8_t)(value >> (8 * i));
        f->cfg[reg + i] = (uint8_t)((f->cfg[reg + i] & ~m) | (byte & m));
    }
    if (touches(reg, size, PCI_COMMAND, 2)) {
        atomic_store(&f->command, get16(f->cfg + PCI_COMMAND));
        pci_intx_update(f);
    }
    if (touches(reg, size, PCI_COMMAND, 2) || touches(reg, size, PCI_BAR0, 4 * PCI_NBARS))
        update_bars(f);
    if (f->rom && (touches(reg, size, PCI_COMMAND, 2) || touches(reg, size, PCI_ROM_BAR, 4)))
        pci_rom_update(f);
    if (f->msix && touches(reg, size, f->msix->cap + 2u, 2))
        pci_msix_control_written(f);
    if (pci_msi_owns(f, reg, size))
        pci_msi_written(f);
    if (FUNC_HOOK(f, config_write))
        FUNC_HOOK(f, config_write)(f->opaque, reg, size, value);
}

/* ---- INTx ---- */

void pci_intx_update(struct vdev_pci_func *f)
{
    struct vdev_pci_host *h = f->host;
    if (!f->d)
        return;
    pthread_mutex_lock(&h->intx_lock);
    bool want = atomic_load(&f->intx_level) && !(atomic_load(&f->command) & PCI_CMD_INTX_DISABLE);
    if (want != f->intx_counted) {
        unsigned line = f->dev % 4; /* INTA of slot S: (S + 0) % 4 */
        f->intx_counted = want;
        if (want && h->intx_count[line]++ == 0)
            vdev_machine_set_gsi(h->m, h->intx_gsi[line], true);
        else if (!want && --h->intx_count[line] == 0)
            vdev_machine_set_gsi(h->m, h->intx_gsi[line], false);
    }
    pthread_mutex_unlock(&h->intx_lock);
}

void vdev_pci_set_intx(struct vdev_pci_func *f, bool asserted)
{
    atomic_store(&f->intx_level, asserted);
    pci_intx_update(f);
}

uint32_t vdev_pci_intx_gsi(const struct vdev_pci_func *f)
{
    return f->intx_gsi;
}

int vdev_pci_set_intx_pin(struct vdev_pci_func *f, unsigned pin, struct vdev_err *err)
{
    if (!f->d || f->bars_assigned)
        return vdev_err_setc(err, VDEV_E_INVAL, "%s: the interrupt pin is set in the assign hook",
                             f->name);
    if (pin > 1)
        return vdev_err_setc(err, VDEV_E_INVAL, "%s: interrupt pin %u: INTA# (1) or none (0)",
                             f->name, pin);
    f->cfg[PCI_INTERRUPT_PIN] = (uint8_t)pin;
    memcpy(f->reset_cfg, f->cfg, sizeof(f->cfg));
    return 0;
}

int vdev_pci_intx_eventfds(struct vdev_pci_func *f, int *trigger, int *resample,
                           struct vdev_err *err)
{
    if (!f->d || !trigger || !resample)
        return vdev_err_setc(err, VDEV_E_INVAL, "%s: no INTx eventfds for this function", f->name);
    if (!f->cfg[PCI_INTERRUPT_PIN])
        return vdev_err_setc(err, VDEV_E_INVAL, "%s: it has no interrupt pin", f->name);
    if (!f->intx_irqfd && !(f->intx_irqfd = vdev_irqfd_gsi_resample(f->d, f->intx_gsi, err)))
        return -1;
    *trigger = vdev_irqfd_fd(f->intx_irqfd);
    *resample = vdev_irqfd_resample_fd(f->intx_irqfd);
    return 0;
}

/* ---- reset and free ---- */

void pci_func_reset(struct vdev_pci_func *f)
{
    pthread_mutex_lock(&f->host->cfg_lock);
    atomic_store(&f->intx_level, false);
    memcpy(f->cfg, f->reset_cfg, sizeof(f->cfg));
    atomic_store(&f->command, 0);
    pci_intx_update(f);
    if (f->msix)
        pci_msix_reset(f);
    if (f->rom)
        pci_rom_reset(f);
    if (f->msi)
        pci_msi_reset(f);
    /* BARs go back where the build put them, off (update_bars reports the change). */
    for (unsigned i = 0; i < PCI_NBARS; i++) {
        struct pci_bar *b = &f->bars[i];
        if (!b->region)
            continue;
        vdev_region_set_enabled(b->region, false, NULL);
        atomic_store(&b->enabled, false);
        if (vdev_region_move(b->region, b->assigned, NULL) == 0)
            atomic_store(&b->base, b->assigned);
    }
    update_bars(f);
    pthread_mutex_unlock(&f->host->cfg_lock);
    if (FUNC_HOOK(f, reset))
        FUNC_HOOK(f, reset)(f->opaque);
}

void pci_func_free(struct vdev_pci_func *f)
{
    if (f->msix)
        pci_msix_free(f);
    if (f->rom)
        pci_rom_free(f);
    if (f->msi)
        pci_msi_free(f);
    vdev_irqfd_free(f->intx_irqfd);
    free(f);
}
