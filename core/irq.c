/* Interrupt controllers, line ownership and delivery through the embedder. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct vdev_pic *vdev_pic_find(struct vdev_machine *m, const char *name)
{
    for (size_t i = 0; i < m->npics; i++)
        if (strcmp(m->pics[i].name, name) == 0)
            return &m->pics[i];
    return NULL;
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
        return vdev_err_set(err, "no interrupt controller '%s' in this machine (it has: %s)",
                            intr->pic, m->npics ? names : "none");
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
