/* Interrupt controllers, line ownership and delivery through the embedder. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct vdev_pic *vdev_pic_find(struct vdev_machine *m, const char *name)
{
    for (size_t i = 0; i < m->npics; i++)
        if (strcmp(m->pics[i].name, name) == 0)
            return &m->pics[i];
    for (size_t i = 0; i < m->npic_aliases; i++)
        if (strcmp(m->pic_aliases[i].name, name) == 0)
            return &m->pics[m->pic_aliases[i].pic];
    return NULL;
}

int vdev_pic_add_alias(struct vdev_machine *m, const char *alias, const char *pic,
                       struct vdev_err *err)
{
    struct vdev_pic *p = vdev_pic_find(m, pic);
    struct vdev_pic *same = vdev_pic_find(m, alias);
    if (!p)
        return vdev_err_setc(err, VDEV_E_NOENT, "no interrupt controller '%s'", pic);
    if (same && same != p)
        return vdev_err_setc(err, VDEV_E_EXIST, "'%s' already names interrupt controller %s", alias,
                             same->name);
    if (same)
        return 0; /* `name ioapic`: its own name */
    if (m->npic_aliases == VDEV_MAX_PICS || strlen(alias) >= VDEV_PIC_NAME_MAX)
        return vdev_err_setc(err, VDEV_E_INVAL, "too many names for interrupt controllers");
    struct vdev_pic_alias *a = &m->pic_aliases[m->npic_aliases++];
    snprintf(a->name, sizeof(a->name), "%s", alias);
    a->pic = (size_t)(p - m->pics);
    return 0;
}

int vdev_machine_add_pic(struct vdev_machine *m, const char *name, uint32_t lines,
                         uint32_t gsi_base, struct vdev_err *err)
{
    if (!name || !name[0] || strlen(name) >= VDEV_PIC_NAME_MAX)
        return vdev_err_set(err, "interrupt controller needs a name shorter than %d",
                            VDEV_PIC_NAME_MAX);
    if (vdev_pic_find(m, name))
        return vdev_err_set(err, "interrupt controller '%s' added twice", name);
    if (m->npics == VDEV_MAX_PICS || lines == 0 || lines > 1024)
        return vdev_err_set(err, "interrupt controller '%s': bad line count %u", name, lines);
    struct vdev_pic *p = &m->pics[m->npics];
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->lines = lines;
    p->gsi_base = gsi_base;
    p->line_owner = calloc(lines, sizeof(*p->line_owner));
    if (!p->line_owner)
        abort();
    m->npics++;
    return 0;
}

static int resolve(struct vdev_machine *m, const struct vdev_intr *intr, struct vdev_pic **out,
                   struct vdev_err *err)
{
    struct vdev_pic *p = vdev_pic_find(m, intr->pic);
    if (!p) {
        char names[256] = "";
        for (size_t i = 0; i < m->npics; i++) {
            size_t used = strlen(names);
            snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "", m->pics[i].name);
        }
        for (size_t i = 0; i < m->npic_aliases; i++) {
            size_t used = strlen(names);
            snprintf(names + used, sizeof(names) - used, ", %s", m->pic_aliases[i].name);
        }
        if (!m->npics)
            return vdev_err_setc(err, VDEV_E_NOENT,
                                 "no interrupt controller '%s': this machine has none", intr->pic);
        /* The same line on the machine's first controller is what x86 guests mean by an ISA
         * IRQ (`8259:4`: KVM raises IOAPIC pin 4 and 8259 input 4 as one GSI). */
        if (intr->line >= m->pics[0].lines)
            return vdev_err_setc(err, VDEV_E_NOENT,
                                 "no interrupt controller '%s' in this machine (it has: %s)",
                                 intr->pic, names);
        return vdev_err_setc(err, VDEV_E_NOENT,
                             "no interrupt controller '%s' in this machine (it has: %s; hint: "
                             "write %s:%u)",
                             intr->pic, names, m->pics[0].name, intr->line);
    }
    if (intr->line >= p->lines)
        return vdev_err_set(err, "line %u is out of range for %s (0-%u)", intr->line, p->name,
                            p->lines - 1);
    *out = p;
    return 0;
}

int vdev_machine_resolve_intr(struct vdev_machine *m, const struct vdev_intr *intr, uint32_t *gsi,
                              struct vdev_err *err)
{
    struct vdev_pic *p;
    if (!intr || !gsi)
        return vdev_err_setc(err, VDEV_E_INVAL, "vdev_machine_resolve_intr: %s is NULL",
                             intr ? "gsi" : "intr");
    if (resolve(m, intr, &p, err))
        return -1;
    *gsi = p->gsi_base + intr->line;
    return 0;
}

int vdev_claim_line(struct vdev_machine *m, const struct vdev_intr *intr, const char *owner,
                    bool shared_ok, uint32_t *gsi, struct vdev_srcpos pos, struct vdev_err *err)
{
    struct vdev_pic *p;
    if (resolve(m, intr, &p, err))
        return -1;
    const char *cur = p->line_owner[intr->line];
    if (cur && !shared_ok)
        return vdev_err_setc(err, VDEV_E_BUSY, "%s:%u is already used by %s", p->name, intr->line,
                             cur);
    if (!cur)
        p->line_owner[intr->line] = owner;
    *gsi = p->gsi_base + intr->line;
    return 0;
}

int vdev_machine_reserve_line(struct vdev_machine *m, const char *pic, uint32_t line,
                              const char *owner, struct vdev_err *err)
{
    struct vdev_intr intr = {.given = true, .line = line};
    snprintf(intr.pic, sizeof(intr.pic), "%s", pic);
    uint32_t gsi;
    struct vdev_srcpos none = {0};
    return vdev_claim_line(m, &intr, owner, false, &gsi, none, err);
}

int vdev_machine_set_gsi(struct vdev_machine *m, uint32_t gsi, bool level)
{
    if (!EMB_HOOK(m, set_irq_line))
        return -1;
    return EMB_HOOK(m, set_irq_line)(m->ctx, gsi, level);
}

int vdev_machine_send_msi(struct vdev_machine *m, const struct vdev_msi *msi)
{
    if (!EMB_HOOK(m, signal_msi))
        return -1;
    return EMB_HOOK(m, signal_msi)(m->ctx, msi);
}

int vdev_irq_set_level(struct vdev *d, bool asserted)
{
    if (!d->has_gsi)
        return -1;
    return vdev_machine_set_gsi(d->m, d->gsi, asserted);
}

int vdev_irq_pulse(struct vdev *d)
{
    if (!d->has_gsi)
        return -1;
    if (vdev_machine_set_gsi(d->m, d->gsi, true))
        return -1;
    return vdev_machine_set_gsi(d->m, d->gsi, false);
}

/* ---- more lines of a device (0.3) ---- */

int vdev_irq_claim_line(struct vdev *d, const char *pic, uint32_t line, unsigned flags,
                        struct vdev_srcpos pos, uint32_t *gsi)
{
    if (!d || !pic || !gsi || (flags & ~VDEV_LINE_BORROW))
        return d ? vdev_error(d, pos, NULL, "vdev_irq_claim_line: bad arguments") : -1;
    struct vdev_intr intr = {.given = true, .line = line};
    if (strlen(pic) >= sizeof(intr.pic))
        return vdev_error(d, pos, NULL, "no interrupt controller '%s' in this machine", pic);
    snprintf(intr.pic, sizeof(intr.pic), "%s", pic);
    struct vdev_err e;
    uint32_t g = 0; /* set on success; gcc -O3 cannot tell */
    int rc;
    if (flags & VDEV_LINE_BORROW) {
        struct vdev_pic *p;
        rc = resolve(d->m, &intr, &p, &e);
        g = rc ? 0 : p->gsi_base + line;
    } else {
        rc = vdev_claim_line(d->m, &intr, d->label, false, &g, pos, &e);
    }
    if (rc)
        return vdev_error(d, pos, NULL, "%s", e.msg);
    for (unsigned i = 0; i < d->nlines; i++)
        if (d->lines[i] == g) {
            *gsi = g;
            return 0;
        }
    if (d->nlines == VDEV_MAX_LINES)
        return vdev_error(d, pos, NULL, "more than %d interrupt lines", VDEV_MAX_LINES);
    d->lines[d->nlines++] = g;
    *gsi = g;
    return 0;
}

int vdev_irq_set_line(struct vdev *d, uint32_t gsi, bool asserted)
{
    bool mine = d->has_gsi && d->gsi == gsi;
    for (unsigned i = 0; i < d->nlines && !mine; i++)
        mine = d->lines[i] == gsi;
    if (!mine)
        return -1;
    return vdev_machine_set_gsi(d->m, gsi, asserted);
}
