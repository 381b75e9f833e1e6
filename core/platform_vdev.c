/* Devices the platform provides itself (KVM's in-kernel I/O APIC, PIT, 8259s, ...) that a
 * qvm configuration still declares with `vdev TYPE`. Such a line makes no module instance:
 * the core checks that its `loc` and `intr` say what the platform has, records its `name`,
 * and makes a controller's `name` another name of that controller (`intr myioapic:4`). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define PLATFORM_MAX_LOCS    8
#define PLATFORM_MAX_OPTIONS 16

struct vdev_platform_dev {
    struct vdev_type type; /* synthesized: qvm's options only, no window, no life-cycle */
    char *name, *summary, *intr, *pic;
    struct vdev_loc locs[PLATFORM_MAX_LOCS];
    char *loc_text[PLATFORM_MAX_LOCS];
    const struct vdev *taken[PLATFORM_MAX_LOCS]; /* the instance that sits there */
    size_t nlocs;
    struct vdev_option opts[PLATFORM_MAX_OPTIONS + 1]; /* the type's: each takes one word */
    struct vdev_platform_option popts[PLATFORM_MAX_OPTIONS];
    size_t nopts;
};

static void platform_free(struct vdev_platform_dev *p)
{
    free(p->name);
    free(p->summary);
    free(p->intr);
    free(p->pic);
    for (size_t i = 0; i < p->nlocs; i++)
        free(p->loc_text[i]);
    for (size_t i = 0; i < p->nopts; i++) {
        free((char *)p->popts[i].name);
        free((char *)p->popts[i].arg);
        free((char *)p->popts[i].value);
        free((char *)p->popts[i].refused);
    }
    free(p);
}

/* qvm's other options: the value the platform has, any value, or a refusal with its hint. */
static int platform_option(struct vdev *d, const struct vdev_optval *v)
{
    const struct vdev_platform_dev *p = d->platform;
    const struct vdev_platform_option *o = NULL;
    for (size_t i = 0; i < p->nopts && !o; i++)
        if (strcmp(p->popts[i].name, v->opt->name) == 0)
            o = &p->popts[i];
    if (!o || (!o->refused && !o->value))
        return 0;
    if (o->refused)
        return vdev_error(d, v->pos, o->refused, "option '%s' does not apply to this machine's %s",
                          o->name, p->summary);
    uint64_t a, b;
    bool same = vdev_parse_u64(v->text, &a, NULL) == 0 && vdev_parse_u64(o->value, &b, NULL) == 0
                    ? a == b
                    : strcmp(v->text, o->value) == 0;
    if (same)
        return 0;
    char hint[128];
    snprintf(hint, sizeof(hint), "write '%s %s' or leave it out", o->name, o->value);
    return vdev_error(d, v->pos, hint, "option '%s': this machine's %s has %s, not %s", o->name,
                      p->summary, o->value, v->text);
}

/* Copies pv's options (the table is the caller's) and makes them the type's. */
static int copy_options(struct vdev_platform_dev *p, const struct vdev_platform_vdev *pv)
{
    if (pv->size < VDEV_SIZE_THROUGH(struct vdev_platform_vdev, options) || !pv->options)
        return 0;
    for (const struct vdev_platform_option *o = pv->options; o->name; o++) {
        if (p->nopts == PLATFORM_MAX_OPTIONS || !o->name[0] || (o->value && o->refused))
            return -1;
        struct vdev_platform_option *c = &p->popts[p->nopts];
        c->name = vdev_strdup(o->name);
        c->arg = vdev_strdup(o->arg ? o->arg : "VALUE");
        c->value = o->value ? vdev_strdup(o->value) : NULL;
        c->refused = o->refused ? vdev_strdup(o->refused) : NULL;
        p->opts[p->nopts] =
            (struct vdev_option){.name = c->name,
                                 .kind = VDEV_OPT_STRING,
                                 .arg = c->arg,
                                 .help = c->refused ? "qvm's; refused here"
                                         : c->value ? "qvm's; must be the platform's"
                                                    : "qvm's; accepted, no effect"};
        p->nopts++;
    }
    p->type.options = p->opts;
    p->type.option = platform_option;
    return 0;
}

void vdev_platform_free_all(struct vdev_machine *m)
{
    for (size_t i = 0; i < m->nplatform; i++)
        platform_free(m->platform[i]);
    m->nplatform = 0;
}

struct vdev_platform_dev *vdev_platform_find(const struct vdev_machine *m, const char *type)
{
    for (size_t i = 0; i < m->nplatform; i++)
        if (strcmp(m->platform[i]->name, type) == 0)
            return m->platform[i];
    return NULL;
}

const struct vdev_type *vdev_platform_type(const struct vdev_platform_dev *p)
{
    return &p->type;
}

const char *vdev_platform_summary(const struct vdev_platform_dev *p)
{
    return p->summary;
}

bool vdev_platform_is_pic(const struct vdev_platform_dev *p)
{
    return p->pic != NULL;
}

const char *vdev_platform_intr(const struct vdev_platform_dev *p)
{
    return p->intr;
}

int vdev_machine_add_platform_vdev(struct vdev_machine *m, const struct vdev_platform_vdev *pv,
                                   struct vdev_err *err)
{
    if (!m || !pv)
        return vdev_err_setc(err, VDEV_E_INVAL, "no machine or no platform device given");
    if (pv->size < VDEV_SIZE_THROUGH(struct vdev_platform_vdev, pic))
        return vdev_err_setc(err, VDEV_E_ABI,
                             "platform device table of %zu bytes (set .size = sizeof(struct "
                             "vdev_platform_vdev))",
                             pv->size);
    if (m->built)
        return vdev_err_setc(err, VDEV_E_INVAL, "platform devices are described before build");
    if (!pv->type || !pv->type[0] || !pv->summary)
        return vdev_err_setc(err, VDEV_E_INVAL, "a platform device needs a type and a summary");
    if (vdev_platform_find(m, pv->type))
        return vdev_err_setc(err, VDEV_E_EXIST, "platform device '%s' added twice", pv->type);
    if (m->nplatform == VDEV_MAX_PLATFORM_VDEVS)
        return vdev_err_setc(err, VDEV_E_INVAL, "too many platform devices");
    if (pv->pic && (!vdev_pic_find(m, pv->pic) || !pv->intr))
        return vdev_err_setc(err, VDEV_E_INVAL,
                             "platform device '%s': controller '%s' is not in the machine (add it "
                             "first) or no 'intr' says what it signals",
                             pv->type, pv->pic);
    struct vdev_platform_dev *p = calloc(1, sizeof(*p));
    if (!p)
        return vdev_err_setc(err, VDEV_E_NOMEM, "out of memory");
    const char *why = NULL;
    for (size_t i = 0; pv->locs && pv->locs[i]; i++) {
        if (p->nlocs == PLATFORM_MAX_LOCS ||
            vdev_parse_loc(pv->locs[i], &p->locs[p->nlocs], &why) ||
            p->locs[p->nlocs].kind == VDEV_LOC_PCI) {
            platform_free(p);
            return vdev_err_setc(err, VDEV_E_INVAL, "platform device '%s': bad location '%s'",
                                 pv->type, pv->locs[i]);
        }
        p->loc_text[p->nlocs++] = vdev_strdup(pv->locs[i]);
    }
    struct vdev_intr intr;
    if (!p->nlocs || (!pv->pic && pv->intr && vdev_parse_intr(pv->intr, &intr, &why))) {
        platform_free(p);
        return vdev_err_setc(err, VDEV_E_INVAL, "platform device '%s': %s", pv->type,
                             p->nlocs ? "bad interrupt" : "no location");
    }
    p->name = vdev_strdup(pv->type);
    p->summary = vdev_strdup(pv->summary);
    p->intr = pv->intr ? vdev_strdup(pv->intr) : NULL;
    p->pic = pv->pic ? vdev_strdup(pv->pic) : NULL;
    p->type.abi_version = VDEV_ABI_VERSION;
    p->type.type_size = sizeof(p->type);
    p->type.name = p->name;
    p->type.summary = p->summary;
    p->type.places = VDEV_PLACE_IO | VDEV_PLACE_MEM;
    p->type.has_intr = pv->intr != NULL;
    p->type.intr_optional = true;
    if (copy_options(p, pv)) {
        platform_free(p);
        return vdev_err_setc(err, VDEV_E_INVAL,
                             "platform device '%s': bad options table (at most %d, each with a "
                             "name and a value or a refusal, not both)",
                             pv->type, PLATFORM_MAX_OPTIONS);
    }
    m->platform[m->nplatform++] = p;
    return 0;
}

/* `intr` of a controller names what it signals (qvm: `vdev ioapic intr apic`). */
int vdev_platform_intr_out(struct vdev *d, const struct vdev_optval *v, struct vdev_err *err)
{
    const struct vdev_platform_dev *p = d->platform;
    if (strcmp(v->text, p->intr) != 0)
        return vdev_err_at(err, v->pos,
                           "vdev %s: option 'intr': this machine's %s signals '%s', not '%s' "
                           "(hint: write 'intr %s' or leave it out)",
                           p->name, p->summary, p->intr, v->text, p->intr);
    d->intr_given = true;
    d->intr_pos = v->pos;
    return 0;
}

/* A controller's `name` becomes another name for it. */
int vdev_platform_alias(struct vdev *d, const struct vdev_optval *v, struct vdev_err *err)
{
    struct vdev_intr probe;
    char spec[VDEV_PIC_NAME_MAX + 4];
    snprintf(spec, sizeof(spec), "%s:0", v->text);
    if (strlen(v->text) >= VDEV_PIC_NAME_MAX || vdev_parse_intr(spec, &probe, NULL))
        return vdev_err_at(err, v->pos,
                           "vdev %s: option 'name': '%s' cannot name an interrupt controller "
                           "(letters, digits, '_' and '-', at most %d)",
                           d->platform->name, v->text, VDEV_PIC_NAME_MAX - 1);
    struct vdev_err e;
    if (vdev_pic_add_alias(d->m, v->text, d->platform->pic, &e))
        return vdev_err_atc(err, VDEV_AT_CODE(e), v->pos, "vdev %s: option 'name': %s",
                            d->platform->name, e.msg);
    return 0;
}

/* A bare address (`loc 0x20`) is in the platform device's own space, as qvm reads it for
 * devices that live in I/O space (`vdev 8259 loc 0x20`); `mem:` and `io:` say which. */
static bool bare_loc(const struct vdev *d)
{
    const char *text = NULL;
    for (size_t i = 0; i < d->nsettings; i++)
        if (strcmp(d->settings[i].opt->name, "loc") == 0)
            text = d->settings[i].text;
    return text && strncmp(text, "mem:", 4) != 0 && strncmp(text, "io:", 3) != 0;
}

static bool same_loc(const struct vdev_loc *a, bool bare, const struct vdev_loc *b)
{
    return (a->kind == b->kind || bare) && a->addr == b->addr;
}

/* Instead of placing a window: the instance takes one of the platform's places. */
int vdev_platform_assign(struct vdev *d, struct vdev_err *err)
{
    struct vdev_platform_dev *p = d->platform;
    size_t slot = p->nlocs;
    char all[160] = "";
    for (size_t i = 0; i < p->nlocs; i++) {
        size_t used = strlen(all);
        snprintf(all + used, sizeof(all) - used, "%s%s", i ? ", " : "", p->loc_text[i]);
    }
    bool bare = d->loc_given && bare_loc(d);
    for (size_t i = 0; i < p->nlocs && slot == p->nlocs; i++)
        if (d->loc_given ? same_loc(&d->loc, bare, &p->locs[i]) : !p->taken[i])
            slot = i;
    if (slot == p->nlocs) {
        if (d->loc_given) {
            char at[96];
            vdev_loc_format(&d->loc, at, sizeof(at));
            return vdev_err_at(err, d->loc_pos,
                               "vdev %s: option 'loc': this machine's %s is at %s, not %s (it is "
                               "the VMM's own and cannot move; hint: write 'loc %s' or leave "
                               "'loc' out)",
                               p->name, p->summary, all, at, p->loc_text[0]);
        }
        return vdev_err_at(err, d->cfg->pos,
                           "vdev %s: this machine has %zu (at %s), all declared already (hint: "
                           "remove this line)",
                           p->name, p->nlocs, all);
    }
    if (p->taken[slot]) {
        const struct vdev *o = p->taken[slot];
        return vdev_err_at(err, d->loc_given ? d->loc_pos : d->cfg->pos,
                           "vdev %s: %s is declared twice (also at %s:%u)", p->name,
                           p->loc_text[slot], o->cfg->pos.file, o->cfg->pos.line);
    }
    p->taken[slot] = d;
    d->loc = p->locs[slot];
    if (p->pic || !p->intr)
        return 0;
    struct vdev_intr want;
    uint32_t want_gsi, gsi;
    struct vdev_err e;
    if (vdev_parse_intr(p->intr, &want, NULL) ||
        vdev_machine_resolve_intr(d->m, &want, &want_gsi, &e))
        return vdev_err_at(err, d->cfg->pos,
                           "vdev %s: the platform's line %s is not in the machine", p->name,
                           p->intr);
    if (d->intr_given) {
        if (vdev_machine_resolve_intr(d->m, &d->intr, &gsi, &e))
            return vdev_err_atc(err, VDEV_AT_CODE(e), d->intr_pos, "vdev %s: option 'intr': %s",
                                p->name, e.msg);
        if (gsi != want_gsi)
            return vdev_err_at(err, d->intr_pos,
                               "vdev %s: option 'intr': this machine's %s interrupts on %s, not "
                               "%s:%u (hint: write 'intr %s', or another name of that "
                               "controller, or leave 'intr' out)",
                               p->name, p->summary, p->intr, d->intr.pic, d->intr.line, p->intr);
    } else {
        d->intr = want;
        d->intr.given = true;
        gsi = want_gsi;
    }
    d->gsi = gsi;
    d->has_gsi = true;
    return 0;
}
