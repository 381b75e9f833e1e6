/* The machine's flattened device tree: root, memory, cpus, chosen, the interrupt controller,
 * then each device's transport node and gen_fdt nodes. */
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vdev/fdt.h>

#include "internal.h"

#define INTC_PHANDLE 1

uint32_t vdev_fdt_intc_phandle(const struct vdev_machine *m)
{
    return m ? m->fdt_intc_phandle : 0;
}

bool vdev_fdt_device_gsi(const struct vdev *d, uint32_t *gsi)
{
    if (!d || !gsi || !d->has_gsi)
        return false;
    *gsi = d->gsi;
    return true;
}

int vdev_fdt_set_gsi(struct vdev_machine *m, void *fdt, int node, uint32_t gsi, bool level)
{
    const struct vdev_fdt_platform *p = m ? m->fdt_platform : NULL;
    if (!p || !m->fdt_intc_phandle)
        return -FDT_ERR_BADSTATE;
    uint32_t type = level ? VDEV_FDT_IRQ_LEVEL_HIGH : VDEV_FDT_IRQ_EDGE_RISING;
    fdt32_t cells[3];
    int n = 0;
    if (p->intc.interrupt_cells == 3) {
        if (gsi < p->intc.spi_base)
            return -FDT_ERR_BADVALUE;
        cells[n++] = cpu_to_fdt32(0); /* GIC_SPI */
        cells[n++] = cpu_to_fdt32(gsi - p->intc.spi_base);
    } else {
        cells[n++] = cpu_to_fdt32(gsi);
    }
    cells[n++] = cpu_to_fdt32(type);
    int rc = fdt_setprop_u32(fdt, node, "interrupt-parent", m->fdt_intc_phandle);
    if (rc == 0)
        rc = fdt_setprop(fdt, node, "interrupts", cells, (int)(n * sizeof(cells[0])));
    return rc;
}

int vdev_fdt_set_interrupt(struct vdev *d, void *fdt, int node, bool level)
{
    uint32_t gsi;
    if (!vdev_fdt_device_gsi(d, &gsi))
        return -FDT_ERR_NOTFOUND;
    return vdev_fdt_set_gsi(d->m, fdt, node, gsi, level);
}

/* reg = <address size> pairs with two cells each. */
static int set_reg(void *fdt, int node, const uint64_t *pairs, size_t npairs)
{
    int rc = fdt_setprop(fdt, node, "reg", NULL, 0);
    for (size_t i = 0; rc == 0 && i < 2 * npairs; i++)
        rc = fdt_appendprop_u64(fdt, node, "reg", pairs[i]);
    return rc;
}

struct mem_walk {
    void *fdt;
    int root;
    int rc;
};

static void add_memory(const struct vdev_region_info *r, void *arg)
{
    struct mem_walk *w = arg;
    if (w->rc || r->kind != VDEV_REGION_RAM)
        return;
    char name[32];
    snprintf(name, sizeof(name), "memory@%llx", (unsigned long long)r->base);
    int node = fdt_add_subnode(w->fdt, w->root, name);
    if (node < 0) {
        w->rc = node;
        return;
    }
    uint64_t reg[2] = {r->base, r->size};
    w->rc = fdt_setprop_string(w->fdt, node, "device_type", "memory");
    if (!w->rc)
        w->rc = set_reg(w->fdt, node, reg, 1);
}

static int add_cpus(struct vdev_machine *m, const struct vdev_fdt_platform *p, void *fdt, int root)
{
    unsigned n = p->ncpus ? p->ncpus : (unsigned)m->cfg.ncpus;
    if (n == 0)
        n = 1;
    int cpus = fdt_add_subnode(fdt, root, "cpus");
    if (cpus < 0)
        return cpus;
    int rc = fdt_setprop_u32(fdt, cpus, "#address-cells", 1);
    if (!rc)
        rc = fdt_setprop_u32(fdt, cpus, "#size-cells", 0);
    for (unsigned i = 0; rc == 0 && i < n; i++) {
        char name[24];
        snprintf(name, sizeof(name), "cpu@%u", i);
        int c = fdt_add_subnode(fdt, cpus, name);
        if (c < 0)
            return c;
        rc = fdt_setprop_string(fdt, c, "device_type", "cpu");
        if (!rc)
            rc = fdt_setprop_u32(fdt, c, "reg", i);
        if (!rc && p->cpu_compatible)
            rc = fdt_setprop_string(fdt, c, "compatible", p->cpu_compatible);
    }
    return rc;
}

static int add_chosen(struct vdev_machine *m, const struct vdev_fdt_platform *p, void *fdt,
                      int root)
{
    int chosen = fdt_add_subnode(fdt, root, "chosen");
    if (chosen < 0)
        return chosen;
    int rc = 0;
    if (m->cfg.cmdline)
        rc = fdt_setprop_string(fdt, chosen, "bootargs", m->cfg.cmdline);
    if (!rc && p->has_initrd) {
        rc = fdt_setprop_u64(fdt, chosen, "linux,initrd-start", p->initrd_start);
        if (!rc)
            rc = fdt_setprop_u64(fdt, chosen, "linux,initrd-end", p->initrd_end);
    }
    return rc;
}

static int add_intc(const struct vdev_fdt_platform *p, void *fdt, int root)
{
    const struct vdev_fdt_intc *ic = &p->intc;
    int node = fdt_add_subnode(fdt, root, ic->name ? ic->name : "interrupt-controller");
    if (node < 0)
        return node;
    int rc = 0;
    if (ic->compatible)
        rc = fdt_setprop_string(fdt, node, "compatible", ic->compatible);
    if (!rc && ic->reg && ic->nreg)
        rc = set_reg(fdt, node, ic->reg, ic->nreg);
    if (!rc)
        rc = fdt_setprop_empty(fdt, node, "interrupt-controller");
    if (!rc)
        rc = fdt_setprop_u32(fdt, node, "#interrupt-cells", ic->interrupt_cells);
    if (!rc)
        rc = fdt_setprop_u32(fdt, node, "#address-cells", 0);
    if (!rc)
        rc = fdt_setprop_u32(fdt, node, "phandle", INTC_PHANDLE);
    return rc;
}

static int platform_nodes(struct vdev_machine *m, const struct vdev_fdt_platform *p, void *fdt)
{
    int root = 0;
    int rc = fdt_setprop_u32(fdt, root, "#address-cells", 2);
    if (!rc)
        rc = fdt_setprop_u32(fdt, root, "#size-cells", 2);
    if (!rc && p->compatible)
        rc = fdt_setprop_string(fdt, root, "compatible", p->compatible);
    if (!rc && p->model)
        rc = fdt_setprop_string(fdt, root, "model", p->model);
    if (!rc)
        rc = fdt_setprop_u32(fdt, root, "interrupt-parent", INTC_PHANDLE);
    if (!rc)
        rc = add_chosen(m, p, fdt, root);
    if (!rc) {
        struct mem_walk w = {fdt, root, 0};
        vdev_bus_foreach(m->bus, VDEV_SPACE_MEM, add_memory, &w);
        rc = w.rc;
    }
    if (!rc)
        rc = add_cpus(m, p, fdt, root);
    if (!rc)
        rc = add_intc(p, fdt, root);
    return rc;
}

/* ---- Writing order ----
 * libfdt's read-write API puts a new property or node first among its siblings, so the tree
 * lists everything in reverse order of writing. Copying it with the sequential-write API,
 * children and properties taken last to first, gives back the order things were written in
 * (the order dtc then shows). */

/* The idx-th property (props) or subnode of node, or how many there are (idx -1); siblings
 * are few, so walking again is cheap. */
static int child(const void *src, int node, bool props, int idx)
{
    int off = props ? fdt_first_property_offset(src, node) : fdt_first_subnode(src, node);
    int i = 0;
    while (off >= 0) {
        if (i == idx)
            return off;
        i++;
        off = props ? fdt_next_property_offset(src, off) : fdt_next_subnode(src, off);
    }
    return idx < 0 ? i : -FDT_ERR_NOTFOUND;
}

static int copy_reversed(const void *src, int node, void *dst, unsigned depth)
{
    if (depth > 32) /* our own trees are three deep; this only bounds the recursion */
        return -FDT_ERR_BADSTRUCTURE;
    const char *name = node == 0 ? "" : fdt_get_name(src, node, NULL);
    int rc = fdt_begin_node(dst, name ? name : "");
    for (int i = child(src, node, true, -1); rc == 0 && i-- > 0;) {
        const char *pname;
        int len;
        const void *val = fdt_getprop_by_offset(src, child(src, node, true, i), &pname, &len);
        rc = val ? fdt_property(dst, pname, val, len) : len;
    }
    for (int i = child(src, node, false, -1); rc == 0 && i-- > 0;) {
        int kid = child(src, node, false, i);
        rc = kid < 0 ? kid : copy_reversed(src, kid, dst, depth + 1);
    }
    return rc ? rc : fdt_end_node(dst);
}

/* Rewrites buf (a packed tree) in writing order; tmp has size bytes. */
static int write_in_order(void *buf, void *tmp, int size)
{
    memcpy(tmp, buf, fdt_totalsize(buf));
    int rc = fdt_create(buf, size);
    if (!rc)
        rc = fdt_finish_reservemap(buf);
    if (!rc)
        rc = copy_reversed(tmp, 0, buf, 0);
    if (!rc)
        rc = fdt_finish(buf);
    return rc;
}

static const char *fdt_why(int rc)
{
    return rc == -FDT_ERR_NOSPACE ? "the buffer is too small" : fdt_strerror(rc);
}

/* A hook's failure: its own vdev_error() message, or libfdt's reason. */
static int device_nodes(struct vdev_machine *m, void *fdt, struct vdev_err *out)
{
    for (size_t i = 0; i < m->ndevs; i++) {
        struct vdev *d = m->devs[i];
        const char *what = "transport node";
        int rc = 0;
        out->msg[0] = '\0';
        if (d->transport_nodes.gen_fdt)
            rc = d->transport_nodes.gen_fdt(d, fdt, 0, d->transport_nodes.opaque);
        if (rc == 0 && d->type->gen_fdt) {
            what = "gen_fdt";
            rc = d->type->gen_fdt(d, fdt, 0);
        }
        if (rc == 0)
            continue;
        if (!out->msg[0]) {
            if (rc < -1)
                vdev_err_at(out, d->cfg->pos, "vdev %s: FDT: %s: %s", d->label, what, fdt_why(rc));
            else
                vdev_err_at(out, d->cfg->pos, "vdev %s: FDT: %s failed", d->label, what);
        }
        return -1;
    }
    out->msg[0] = '\0';
    return 0;
}

int vdev_machine_gen_fdt(struct vdev_machine *m, const struct vdev_fdt_platform *p, void *buf,
                         size_t size, struct vdev_err *err)
{
    if (err)
        err->msg[0] = '\0';
    if (!m || !p || !buf)
        return vdev_err_set(err, "FDT: no machine, platform or buffer");
    if (!m->built)
        return vdev_err_set(err, "FDT: the machine is not built yet");
    if (size > INT32_MAX)
        size = INT32_MAX;
    if (p->intc.interrupt_cells != 2 && p->intc.interrupt_cells != 3)
        return vdev_err_set(err, "FDT: #interrupt-cells must be 2 or 3, not %u",
                            p->intc.interrupt_cells);
    int rc = fdt_create_empty_tree(buf, (int)size);
    if (!rc)
        rc = platform_nodes(m, p, buf);
    if (rc)
        return vdev_err_set(err, "FDT: %s", fdt_why(rc));

    struct vdev_err local;
    struct vdev_err *out = err ? err : &local;
    struct vdev_err *saved = m->build_err;
    m->build_err = out; /* where a hook's vdev_error() writes */
    m->fdt_platform = p;
    m->fdt_intc_phandle = INTC_PHANDLE;
    rc = device_nodes(m, buf, out);
    m->fdt_platform = NULL;
    m->fdt_intc_phandle = 0;
    m->build_err = saved;
    if (rc)
        return -1;
    rc = fdt_pack(buf);
    if (rc)
        return vdev_err_set(err, "FDT: %s", fdt_why(rc));
    void *tmp = malloc(fdt_totalsize(buf));
    if (!tmp)
        return vdev_err_set(err, "FDT: out of memory");
    rc = write_in_order(buf, tmp, (int)size);
    free(tmp);
    if (rc)
        return vdev_err_set(err, "FDT: %s", fdt_why(rc));
    return 0;
}
