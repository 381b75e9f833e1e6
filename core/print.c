/* Prints the built machine: what `vdevkit run … dryrun` shows a user. */
#include <inttypes.h>
#include <string.h>

#include "internal.h"

static void human_size(uint64_t n, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    unsigned u = 0;
    while (u < 4 && n >= 1024 && n % 1024 == 0) {
        n /= 1024;
        u++;
    }
    snprintf(buf, len, "%" PRIu64 " %s", n, units[u]);
}

static void print_mem_region(const struct vdev_region_info *r, void *arg)
{
    FILE *out = arg;
    char size[32];
    human_size(r->size, size, sizeof(size));
    fprintf(out, "  0x%016" PRIx64 "-0x%016" PRIx64 "  %-8s  %-9s  %s%s\n", r->base,
            r->base + r->size - 1, vdev_region_kind_name(r->kind), size, r->owner,
            r->enabled ? "" : " (disabled)");
}

static void print_io_region(const struct vdev_region_info *r, void *arg)
{
    FILE *out = arg;
    fprintf(out, "  0x%04" PRIx64 "-0x%04" PRIx64 "  %-8s  %s%s\n", r->base, r->base + r->size - 1,
            vdev_region_kind_name(r->kind), r->owner, r->enabled ? "" : " (disabled)");
}

static void print_runmask(FILE *out, uint64_t mask)
{
    const char *sep = "";
    for (unsigned i = 0; i < 64; i++) {
        if (!(mask & (UINT64_C(1) << i)))
            continue;
        unsigned j = i;
        while (j + 1 < 64 && (mask & (UINT64_C(1) << (j + 1))))
            j++;
        if (j > i)
            fprintf(out, "%s%u-%u", sep, i, j);
        else
            fprintf(out, "%s%u", sep, i);
        sep = ",";
        i = j;
    }
}

static void print_config(const struct vdev_machine *m, FILE *out)
{
    const struct vdev_config *c = &m->cfg;
    fprintf(out, "cpus: %zu%s\n", c->ncpus ? c->ncpus : 1, c->ncpus ? "" : " (default)");
    for (size_t i = 0; i < c->ncpus; i++) {
        fprintf(out, "  cpu %zu:", i);
        if (c->cpus[i].runmask_given) {
            fprintf(out, " runmask ");
            print_runmask(out, c->cpus[i].runmask);
        }
        if (c->cpus[i].sched_given) {
            const char p = c->cpus[i].sched_policy;
            fprintf(out, " sched %d%s", c->cpus[i].sched,
                    p == 'r'   ? " round-robin"
                    : p == 'f' ? " FIFO"
                    : p == 'o' ? " other"
                    : p == 's' ? " sporadic"
                               : "");
        }
        fprintf(out, "\n");
    }
    for (size_t i = 0; i < c->nloads; i++) {
        if (c->loads[i].addr_given)
            fprintf(out, "load: %s at 0x%" PRIx64 "\n", c->loads[i].path, c->loads[i].addr);
        else
            fprintf(out, "load: %s\n", c->loads[i].path);
    }
    if (c->initrd)
        fprintf(out, "initrd: %s\n", c->initrd);
    if (c->cmdline)
        fprintf(out, "cmdline: \"%s\"\n", c->cmdline);
    for (size_t i = 0; i < c->nvars; i++)
        fprintf(out, "set %s %s\n", c->vars[i].name, c->vars[i].value);
}

static void print_pics(const struct vdev_machine *m, FILE *out)
{
    fprintf(out, "interrupt controllers:\n");
    for (size_t i = 0; i < m->npics; i++) {
        const struct vdev_pic *p = &m->pics[i];
        fprintf(out, "  %s: %u lines (GSI %u-%u)\n", p->name, p->lines, p->gsi_base,
                p->gsi_base + p->lines - 1);
        for (size_t a = 0; a < m->npic_aliases; a++)
            if (m->pic_aliases[a].pic == i)
                fprintf(out, "    also named %s\n", m->pic_aliases[a].name);
        for (uint32_t l = 0; l < p->lines; l++)
            if (p->line_owner[l])
                fprintf(out, "    %s:%u  %s\n", p->name, l, p->line_owner[l]);
    }
}

static void print_setting(FILE *out, const char *name, const char *value, const char *value2,
                          const char *note)
{
    fprintf(out, "      %-10s %s%s%s%s\n", name, value, value2 ? " " : "", value2 ? value2 : "",
            note);
}

/* Every option of the type with its value after defaults, then the common ones given. */
static void print_options(const struct vdev *d, FILE *out)
{
    bool any = false;
    for (const struct vdev_option *o = d->type->options; o && o->name; o++) {
        bool seen = false;
        for (size_t i = 0; i < d->nsettings; i++) {
            if (d->settings[i].opt != o)
                continue;
            print_setting(out, o->name, o->kind == VDEV_OPT_FLAG ? "on" : d->settings[i].text,
                          d->settings[i].text2, "");
            seen = any = true;
        }
        if (!seen) {
            const char *def = o->def ? o->def : (o->kind == VDEV_OPT_FLAG ? "off" : "(not set)");
            print_setting(out, o->name, def, NULL,
                          o->def || o->kind == VDEV_OPT_FLAG ? "  (default)" : "");
            any = true;
        }
    }
    for (size_t i = 0; i < d->nsettings; i++) {
        const char *n = d->settings[i].opt->name;
        if (strcmp(n, "name") == 0 || strcmp(n, "log") == 0) {
            print_setting(out, n, d->settings[i].text, d->settings[i].text2, "");
            any = true;
        }
    }
    if (!any)
        fprintf(out, "      (no options)\n");
}

static void print_device(struct vdev *d, FILE *out)
{
    char loc[96];
    vdev_loc_format(&d->loc, loc, sizeof(loc));
    fprintf(out, "  %s  (%s:%u)\n", d->label, d->cfg->pos.file, d->cfg->pos.line);
    fprintf(out, "    loc   %s%s\n", loc, d->loc_given ? "" : "  (default)");
    if (d->has_gsi)
        fprintf(out, "    intr  %s:%u (GSI %u)%s\n", d->intr.pic, d->intr.line, d->gsi,
                d->intr_given ? "" : "  (default)");
    else if (d->platform && vdev_platform_is_pic(d->platform))
        fprintf(out, "    intr  %s (what it signals)\n", vdev_platform_intr(d->platform));
    if (d->platform)
        fprintf(out, "    provided by the platform: %s\n", vdev_platform_summary(d->platform));
    fprintf(out, "    options:\n");
    print_options(d, out);
    if (d->type->status) {
        fprintf(out, "    status: ");
        d->type->status(d, out);
        fprintf(out, "\n");
    }
}

void vdev_machine_print(struct vdev_machine *m, FILE *out)
{
    fprintf(out, "machine '%s'%s\n", m->cfg.system ? m->cfg.system : "(unnamed)",
            m->built ? "" : " (not built)");
    print_config(m, out);
    fprintf(out, "memory map:\n");
    vdev_bus_foreach(m->bus, VDEV_SPACE_MEM, print_mem_region, out);
    fprintf(out, "io ports:\n");
    vdev_bus_foreach(m->bus, VDEV_SPACE_IO, print_io_region, out);
    print_pics(m, out);
    for (size_t i = 0; i < m->nbuses; i++)
        if (m->buses[i].p->print)
            m->buses[i].p->print(m->buses[i].bus, out);
    fprintf(out, "devices: %zu\n", m->ndevs);
    for (size_t i = 0; i < m->ndevs; i++)
        print_device(m->devs[i], out);
}
