/* The machine's flattened device tree: the platform's nodes (fdt_platform.c), the buses'
 * (the PCI host), then each device's transport node and gen_fdt nodes. */
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vdev/fdt.h>

#include "fdt_internal.h"
#include "transport_api.h"

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

int vdev_fdt_gsi_cells(const struct vdev_machine *m, uint32_t gsi, bool level, uint32_t cells[3])
{
    const struct vdev_fdt_platform *p = m ? m->fdt_platform : NULL;
    if (!p || !m->fdt_intc_phandle)
        return -FDT_ERR_BADSTATE;
    int n = 0;
    if (p->intc.interrupt_cells == 3) {
        if (gsi < p->intc.spi_base)
            return -FDT_ERR_BADVALUE;
        cells[n++] = 0; /* GIC_SPI */
        cells[n++] = gsi - p->intc.spi_base;
    } else {
        cells[n++] = gsi;
    }
    cells[n++] = level ? VDEV_FDT_IRQ_LEVEL_HIGH : VDEV_FDT_IRQ_EDGE_RISING;
    return n;
}

uint32_t vdev_fdt_intc_address_cells(const struct vdev_machine *m)
{
    return m && m->fdt_ext && m->fdt_ext->its_size ? 2 : 0;
}

uint32_t vdev_fdt_msi_phandle(const struct vdev_machine *m)
{
    return m && m->fdt_ext && m->fdt_ext->its_size ? FDT_ITS_PHANDLE : 0;
}

bool vdev_fdt_pci_io_cpu(const struct vdev_machine *m, uint64_t *base)
{
    if (!m || !m->fdt_ext || !m->fdt_ext->has_pci_io_cpu)
        return false;
    *base = m->fdt_ext->pci_io_cpu_base;
    return true;
}

int vdev_fdt_set_gsi(struct vdev_machine *m, void *fdt, int node, uint32_t gsi, bool level)
{
    uint32_t v[3];
    int n = vdev_fdt_gsi_cells(m, gsi, level, v);
    if (n < 0)
        return n;
    fdt32_t cells[3];
    for (int i = 0; i < n; i++)
        cells[i] = cpu_to_fdt32(v[i]);
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

static int subnodes(const void *fdt, int node)
{
    int n = 0, c;
    fdt_for_each_subnode(c, fdt, node) n++;
    return n;
}

/* /chosen stdout-path: the first node the stdout device wrote, which libfdt put at index
 * added - 1 among the root's children (each new node goes first). */
static int note_stdout(void *fdt, int before, char *path, size_t size)
{
    int added = subnodes(fdt, 0) - before;
    if (added <= 0)
        return -FDT_ERR_NOTFOUND;
    int c = fdt_first_subnode(fdt, 0);
    for (int i = 0; i < added - 1; i++)
        c = fdt_next_subnode(fdt, c);
    const char *name = fdt_get_name(fdt, c, NULL);
    if (!name || (size_t)snprintf(path, size, "/%s", name) >= size)
        return -FDT_ERR_BADPATH;
    return 0;
}

/* A hook's failure: its own vdev_error() message, or libfdt's reason. */
static int device_nodes(struct vdev_machine *m, void *fdt, char *stdout_path, size_t size,
                        struct vdev_err *out)
{
    const struct vdev_fdt_platform_ext *x = m->fdt_ext;
    for (size_t i = 0; i < m->ndevs; i++) {
        struct vdev *d = m->devs[i];
        const char *what = "transport node";
        int rc = 0;
        out->msg[0] = '\0';
        if (x->no_port_io && !d->platform && d->loc.kind == VDEV_LOC_IO)
            return vdev_err_at(out, d->cfg->pos,
                               "vdev %s: FDT: it is on port I/O (io:0x%llx), which this "
                               "platform has not; give it a memory loc",
                               d->label, (unsigned long long)d->loc.addr);
        int before = subnodes(fdt, 0);
        if (d->transport_nodes.gen_fdt)
            rc = d->transport_nodes.gen_fdt(d, fdt, 0, d->transport_nodes.opaque);
        if (rc == 0 && d->type->gen_fdt) {
            what = "gen_fdt";
            rc = d->type->gen_fdt(d, fdt, 0);
        }
        if (rc == 0 && d == x->stdout_device) {
            what = "stdout-path";
            rc = note_stdout(fdt, before, stdout_path, size);
            if (rc == -FDT_ERR_NOTFOUND)
                return vdev_err_at(out, d->cfg->pos,
                                   "vdev %s: FDT: the stdout device writes no node", d->label);
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

/* The buses (the PCI host) before the devices, which may sit behind them. */
static int bus_nodes(struct vdev_machine *m, void *fdt, struct vdev_err *err)
{
    for (size_t i = 0; i < m->nbuses; i++) {
        const struct vdev_bus_slot *b = &m->buses[i];
        int rc = b->p->gen_fdt ? b->p->gen_fdt(b->bus, fdt, 0) : 0;
        if (rc)
            return vdev_err_set(err, "FDT: %s: %s", b->p->name, fdt_why(rc));
    }
    return 0;
}

/* What an ARM description needs, checked before anything is written. */
static int check_platform(const struct vdev_fdt_platform *p, const struct vdev_fdt_platform_ext *x,
                          struct vdev_err *err)
{
    if (p->intc.interrupt_cells != 2 && p->intc.interrupt_cells != 3)
        return vdev_err_set(err, "FDT: #interrupt-cells must be 2 or 3, not %u",
                            p->intc.interrupt_cells);
    bool timer = x->timer_ppis[0] | x->timer_ppis[1] | x->timer_ppis[2] | x->timer_ppis[3];
    if ((timer || x->its_size) && p->intc.interrupt_cells != 3)
        return vdev_err_set(err, "FDT: the timer and the ITS need a GIC (3 interrupt cells)");
    if (x->psci_compatible && !x->psci_method)
        return vdev_err_set(err, "FDT: psci needs a method (\"hvc\" or \"smc\")");
    if (x->cpu_reg != VDEV_FDT_CPU_REG_INDEX && x->cpu_reg != VDEV_FDT_CPU_REG_KVM_MPIDR)
        return vdev_err_set(err, "FDT: unknown cpu reg rule %d", (int)x->cpu_reg);
    return 0;
}

int vdev_machine_gen_fdt(struct vdev_machine *m, const struct vdev_fdt_platform *p, void *buf,
                         size_t size, struct vdev_err *err)
{
    return vdev_machine_gen_fdt_ext(m, p, NULL, buf, size, err);
}

int vdev_machine_gen_fdt_ext(struct vdev_machine *m, const struct vdev_fdt_platform *p,
                             const struct vdev_fdt_platform_ext *ext, void *buf, size_t size,
                             struct vdev_err *err)
{
    if (err)
        err->msg[0] = '\0';
    if (!m || !p || !buf)
        return vdev_err_set(err, "FDT: no machine, platform or buffer");
    if (!m->built)
        return vdev_err_set(err, "FDT: the machine is not built yet");
    /* A sized table: members past the caller's size read as 0. */
    struct vdev_fdt_platform_ext x = {0};
    if (ext) {
        if (ext->size < sizeof(ext->size))
            return vdev_err_set(err, "FDT: the platform extension has no size");
        memcpy(&x, ext, ext->size < sizeof(x) ? ext->size : sizeof(x));
    }
    x.size = sizeof(x);
    if (check_platform(p, &x, err))
        return -1;
    if (size > INT32_MAX)
        size = INT32_MAX;
    int rc = fdt_create_empty_tree(buf, (int)size);
    if (!rc)
        rc = fdt_platform_nodes(m, p, &x, buf);
    if (rc)
        return vdev_err_set(err, "FDT: %s", fdt_why(rc));

    struct vdev_err local;
    struct vdev_err *out = err ? err : &local;
    struct vdev_err *saved = m->build_err;
    char stdout_path[256] = "";
    m->build_err = out; /* where a hook's vdev_error() writes */
    m->fdt_platform = p;
    m->fdt_ext = &x;
    m->fdt_intc_phandle = FDT_INTC_PHANDLE;
    rc = bus_nodes(m, buf, out);
    if (!rc)
        rc = device_nodes(m, buf, stdout_path, sizeof(stdout_path), out);
    m->fdt_platform = NULL;
    m->fdt_ext = NULL;
    m->fdt_intc_phandle = 0;
    m->build_err = saved;
    if (rc)
        return -1;
    if (stdout_path[0])
        rc = fdt_setprop_string(buf, fdt_path_offset(buf, "/chosen"), "stdout-path", stdout_path);
    if (!rc)
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
