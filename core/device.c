/* A device instance: its identity, placement (loc/intr) and the API modules call. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct vdev *vdev_device_new(struct vdev_machine *m, const struct vdev_type *type,
                             const struct vdev_vdev_cfg *cfg, size_t index)
{
    struct vdev *d = calloc(1, sizeof(*d));
    if (!d)
        abort();
    d->m = m;
    d->type = type;
    d->cfg = cfg;
    d->index = index;
    d->log_fd = -1;
    d->log_mask = (1u << VDEV_LOG_FATAL) | (1u << VDEV_LOG_INTERNAL) | (1u << VDEV_LOG_ERROR) |
                  (1u << VDEV_LOG_WARNING) | (1u << VDEV_LOG_INFO);
    if (type->state_size && !(d->state = calloc(1, type->state_size)))
        abort();
    snprintf(d->label, sizeof(d->label), "%s", type->name);
    return d;
}

void vdev_device_free(struct vdev *d)
{
    if (!d)
        return;
    vdev_log_close(d);
    for (size_t i = 0; i < d->nsettings; i++) {
        free(d->settings[i].text);
        free(d->settings[i].text2);
    }
    free(d->settings);
    free(d->user_name);
    free(d->state);
    free(d);
}

static uint64_t window_read(void *opaque, uint64_t offset, unsigned size)
{
    struct vdev *d = opaque;
    return d->type->window.read(d, offset, size);
}

static void window_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    struct vdev *d = opaque;
    if (d->type->window.write)
        d->type->window.write(d, offset, size, value);
}

static int place_error(struct vdev *d, struct vdev_err *err, struct vdev_srcpos pos,
                       const char *what)
{
    const unsigned p = d->type->places;
    char can[64] = "";
    if (p & VDEV_PLACE_IO)
        strcat(can, " io:PORT");
    if (p & VDEV_PLACE_MEM)
        strcat(can, " mem:ADDR");
    if (p & VDEV_PLACE_PCI)
        strcat(can, " pci:BUS:DEV");
    if (d->type->default_loc) /* what the type is made for */
        return vdev_err_at(err, pos,
                           "vdev %s: option 'loc': %s cannot sit in %s (it takes:%s) (hint: "
                           "leave 'loc' out for its default, %s)",
                           d->type->name, d->type->name, what, can, d->type->default_loc);
    return vdev_err_at(err, pos, "vdev %s: option 'loc': %s cannot sit in %s (it takes:%s)",
                       d->type->name, d->type->name, what, can);
}

static bool ranges_meet(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return alen && blen && a <= b + (blen - 1) && b <= a + (alen - 1);
}

/* A bus's memory windows (PCI's) are not bus regions (BARs come and go inside them), so a
 * device placed in memory is checked against them here. */
static int check_bus_windows(struct vdev *d, uint64_t len, struct vdev_err *err)
{
    struct vdev_bus_window w[4];
    size_t n = 0;
    for (size_t b = 0; len && b < d->m->nbuses && n < sizeof(w) / sizeof(w[0]); b++) {
        const struct vdev_bus_slot *s = &d->m->buses[b];
        if (s->p->mem_windows)
            n += s->p->mem_windows(s->bus, w + n, sizeof(w) / sizeof(w[0]) - n);
    }
    for (size_t i = 0; i < n; i++)
        if (ranges_meet(d->loc.addr, len, w[i].base, w[i].size))
            return vdev_err_atc(err, VDEV_E_BUSY, d->loc_pos,
                                "vdev %s: option 'loc': %s 0x%llx-0x%llx overlaps %s "
                                "0x%llx-0x%llx (hint: the window is kept for BARs; give a "
                                "'loc' outside it)",
                                d->type->name, d->label, (unsigned long long)d->loc.addr,
                                (unsigned long long)(d->loc.addr + len - 1), w[i].what,
                                (unsigned long long)w[i].base,
                                (unsigned long long)(w[i].base + w[i].size - 1));
    return 0;
}

/* Fills in loc from the type's default and checks it against where the type may sit. */
static int settle_loc(struct vdev *d, struct vdev_err *err)
{
    const struct vdev_type *t = d->type;
    const struct vdev_bus_slot *pci = vdev_bus_for(d->m, VDEV_LOC_PCI);
    if (!d->loc_given && (t->places & VDEV_PLACE_PCI) && pci) {
        /* On a machine with PCI, a type that can sit there does, in the next free slot
         * (pinned slots were claimed before any device was placed). */
        struct vdev_err e;
        if (pci->p->alloc(pci->bus, &d->loc, d->label, &e))
            return vdev_err_atc(err, VDEV_AT_CODE(e), d->cfg->pos, "vdev %s: %s", t->name, e.msg);
        d->loc_pos = d->cfg->pos;
        return 0;
    }
    if (!d->loc_given) {
        const char *why = NULL;
        if (!t->default_loc) {
            if (t->places & VDEV_PLACE_PCI)
                return vdev_err_at(err, d->cfg->pos,
                                   "vdev %s: this machine has no PCI bus, so the device "
                                   "needs a 'loc' (hint: loc mem:ADDR intr PIC:LINE)",
                                   t->name);
            return vdev_err_at(err, d->cfg->pos, "vdev %s: 'loc' is required", t->name);
        }
        if (vdev_parse_loc(t->default_loc, &d->loc, &why))
            return vdev_err_at(err, d->cfg->pos, "vdev %s: module default loc '%s' is invalid (%s)",
                               t->name, t->default_loc, why);
        d->loc_pos = d->cfg->pos;
    }
    switch (d->loc.kind) {
    case VDEV_LOC_IO:
        if (!(t->places & VDEV_PLACE_IO))
            return place_error(d, err, d->loc_pos, "I/O space");
        break;
    case VDEV_LOC_MEM:
        if (!(t->places & VDEV_PLACE_MEM))
            return place_error(d, err, d->loc_pos, "memory space");
        break;
    case VDEV_LOC_PCI:
        if (!(t->places & VDEV_PLACE_PCI))
            return place_error(d, err, d->loc_pos, "a PCI slot");
        if (!pci)
            return vdev_err_at(err, d->loc_pos,
                               "vdev %s: option 'loc': this machine has no PCI bus", t->name);
        return 0; /* the slot was claimed by vdev_device_claim_pinned */
    case VDEV_LOC_NONE:
        return vdev_err_at(err, d->cfg->pos, "vdev %s: no location", t->name);
    }
    uint64_t window = t->window_size;
    const struct vdev_virtio_transport *mem = vdev_virtio_transport_find(VDEV_LOC_MEM);
    if (!window && d->loc.kind == VDEV_LOC_MEM && (t->places & VDEV_PLACE_PCI) && mem)
        window = mem->window_size; /* a type that can sit on PCI: its transport adds it */
    if (d->loc.kind == VDEV_LOC_MEM && check_bus_windows(d, window, err))
        return -1;
    if (d->loc.len && d->loc.len != window)
        return vdev_err_at(err, d->loc_pos,
                           "vdev %s: option 'loc': length 0x%llx does not match the device's "
                           "window of 0x%llx (hint: leave the length out)",
                           t->name, (unsigned long long)d->loc.len, (unsigned long long)window);
    d->loc.len = window;
    return 0;
}

/* Fills in intr (the default applies only where the device also sits at its default loc)
 * and claims the line. */
static int settle_intr(struct vdev *d, struct vdev_err *err)
{
    const struct vdev_type *t = d->type;
    if (d->loc.kind == VDEV_LOC_PCI) {
        if (d->intr_given)
            return vdev_err_at(err, d->intr_pos,
                               "vdev %s: option 'intr': a PCI device interrupts through its "
                               "slot (INTx) or MSI-X (hint: leave 'intr' out)",
                               t->name);
        return 0;
    }
    if (!t->has_intr)
        return 0;
    if (!d->intr_given && d->loc.kind == VDEV_LOC_MEM && (t->places & VDEV_PLACE_PCI))
        return vdev_err_at(err, d->loc_pos,
                           "vdev %s: a device placed in memory (loc 0x%llx) needs 'intr' too "
                           "(hint: add e.g. 'intr ioapic:10', or leave 'loc' out to sit on PCI)",
                           t->name, (unsigned long long)d->loc.addr);
    if (!d->intr_given) {
        const char *why = NULL;
        if (t->intr_optional && !t->default_intr)
            return 0;
        if (d->loc_given)
            return vdev_err_at(err, d->loc_pos,
                               "vdev %s: a device placed with 'loc' needs 'intr' too (hint: "
                               "add e.g. 'intr ioapic:5')",
                               t->name);
        if (!t->default_intr)
            return vdev_err_at(err, d->cfg->pos,
                               "vdev %s: 'intr' is required (hint: add e.g. 'intr ioapic:5')",
                               t->name);
        if (vdev_parse_intr(t->default_intr, &d->intr, &why))
            return vdev_err_at(err, d->cfg->pos,
                               "vdev %s: module default intr '%s' is invalid (%s)", t->name,
                               t->default_intr, why);
        d->intr.given = true;
        d->intr_pos = d->cfg->pos;
    }
    struct vdev_err lerr;
    if (vdev_claim_line(d->m, &d->intr, d->label, false, &d->gsi, d->intr_pos, &lerr))
        return vdev_err_atc(err, VDEV_AT_CODE(lerr), d->intr_pos, "vdev %s: %s", t->name, lerr.msg);
    d->has_gsi = true;
    return 0;
}

/* Pinned PCI slots (`loc pci:B:D`) are claimed before any device is placed, so a device
 * without `loc` never takes a slot a later line asks for. */
int vdev_device_claim_pinned(struct vdev_machine *m, struct vdev_err *err)
{
    const struct vdev_bus_slot *pci = vdev_bus_for(m, VDEV_LOC_PCI);
    for (size_t i = 0; pci && i < m->ndevs; i++) {
        struct vdev *d = m->devs[i];
        struct vdev_err e;
        if (!d->loc_given || d->loc.kind != VDEV_LOC_PCI || !(d->type->places & VDEV_PLACE_PCI))
            continue;
        if (pci->p->claim(pci->bus, &d->loc, d->label, &e))
            return vdev_err_atc(err, VDEV_AT_CODE(e), d->loc_pos, "vdev %s: option 'loc': %s: %s",
                                d->type->name, d->label, e.msg);
    }
    return 0;
}

int vdev_device_assign(struct vdev *d, struct vdev_err *err)
{
    if (d->platform)
        return vdev_platform_assign(d, err);
    if (settle_loc(d, err) || settle_intr(d, err))
        return -1;
    if (d->type->window_size && d->loc.kind != VDEV_LOC_PCI) {
        d->window_ops.size = sizeof(d->window_ops);
        d->window_ops.read = window_read;
        d->window_ops.write = window_write;
        d->window_ops.sizes = d->type->window.sizes;
        struct vdev_region_desc desc = {
            .owner = d->label,
            .space = d->loc.kind == VDEV_LOC_IO ? VDEV_SPACE_IO : VDEV_SPACE_MEM,
            .kind = VDEV_REGION_DEVICE,
            .base = d->loc.addr,
            .size = d->type->window_size,
            .ops = &d->window_ops,
            .opaque = d,
        };
        struct vdev_err berr;
        if (vdev_bus_add(d->m->bus, &desc, &d->window, &berr))
            return vdev_err_atc(err, VDEV_AT_CODE(berr), d->loc_pos, "vdev %s: %s", d->type->name,
                                berr.msg);
    }
    if (d->type->assign && d->type->assign(d)) {
        if (err && !err->msg[0])
            vdev_err_at(err, d->cfg->pos, "vdev %s: placement refused by the module",
                        d->type->name);
        return -1;
    }
    return 0;
}

/* ---- the module-facing API ---- */

void *vdev_state(struct vdev *d)
{
    return d->state;
}

const char *vdev_type_name(const struct vdev *d)
{
    return d->type->name;
}

const char *vdev_user_name(const struct vdev *d)
{
    return d->user_name;
}

const char *vdev_label(const struct vdev *d)
{
    return d->label;
}

struct vdev_machine *vdev_machine_of(struct vdev *d)
{
    return d->m;
}

const struct vdev_loc *vdev_loc(const struct vdev *d)
{
    return &d->loc;
}

const struct vdev_intr *vdev_intr(const struct vdev *d)
{
    return &d->intr;
}

struct vdev_srcpos vdev_pos(const struct vdev *d)
{
    return d->cfg->pos;
}

/* ---- for transports (transport_api.h) ---- */

struct vdev_srcpos vdev_loc_pos(const struct vdev *d)
{
    return d->loc_pos;
}

bool vdev_gsi(const struct vdev *d, uint32_t *gsi)
{
    if (d->has_gsi && gsi)
        *gsi = d->gsi;
    return d->has_gsi;
}

size_t vdev_index(const struct vdev *d)
{
    return d->index;
}

void vdev_set_transport_nodes(struct vdev *d, const struct vdev_transport_nodes *nodes)
{
    d->transport_nodes = *nodes;
}

int vdev_error(struct vdev *d, struct vdev_srcpos pos, const char *hint, const char *fmt, ...)
{
    struct vdev_err *err = d->m->build_err;
    if (!err)
        return -1;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (hint)
        return vdev_err_at(err, pos, "vdev %s: %s (hint: %s)", d->type->name, msg, hint);
    return vdev_err_at(err, pos, "vdev %s: %s", d->type->name, msg);
}

void vdev_request_stop(struct vdev *d, int status)
{
    struct vdev_machine *m = d->m;
    int expected = -1;
    /* The first request decides the exit status. */
    if (__atomic_compare_exchange_n(&m->stop_status, &expected, status & 0xff, false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) &&
        EMB_HOOK(m, request_stop))
        EMB_HOOK(m, request_stop)(m->ctx, status & 0xff);
}
