/* The device-tree nodes the platform describes: root, chosen, memory, cpus, the interrupt
 * controller with its ITS, psci and the architected timer. */
#include <libfdt.h>
#include <stdio.h>

#include "fdt_internal.h"

int fdt_set_reg(void *fdt, int node, const uint64_t *pairs, size_t npairs)
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
        w->rc = fdt_set_reg(w->fdt, node, reg, 1);
}

/* KVM/arm64 gives vCPU i the MPIDR Aff0 = i % 16, Aff1 = i / 16 (GICv3 SGIs target 16 CPUs
 * of a cluster), Aff2 = i / 4096 (arch/arm64/kvm/sys_regs.c, reset_mpidr). */
static uint64_t cpu_reg(const struct vdev_fdt_platform_ext *x, unsigned i)
{
    if (x->cpu_mpidr)
        return x->cpu_mpidr[i];
    if (x->cpu_reg == VDEV_FDT_CPU_REG_KVM_MPIDR)
        return (i & 0xfu) | ((i >> 4) & 0xffu) << 8 | ((i >> 12) & 0xffu) << 16;
    return i;
}

static int add_cpus(struct vdev_machine *m, const struct vdev_fdt_platform *p,
                    const struct vdev_fdt_platform_ext *x, void *fdt, int root)
{
    unsigned n = p->ncpus ? p->ncpus : (unsigned)m->cfg.ncpus;
    if (n == 0)
        n = 1;
    /* One reg cell unless an MPIDR has Aff3 (bits 32-39). */
    uint32_t cells = 1;
    for (unsigned i = 0; i < n; i++)
        if (cpu_reg(x, i) > UINT32_MAX)
            cells = 2;
    int cpus = fdt_add_subnode(fdt, root, "cpus");
    if (cpus < 0)
        return cpus;
    int rc = fdt_setprop_u32(fdt, cpus, "#address-cells", cells);
    if (!rc)
        rc = fdt_setprop_u32(fdt, cpus, "#size-cells", 0);
    for (unsigned i = 0; rc == 0 && i < n; i++) {
        uint64_t reg = cpu_reg(x, i);
        char name[32];
        snprintf(name, sizeof(name), "cpu@%llx", (unsigned long long)reg); /* as reg: dtc */
        int c = fdt_add_subnode(fdt, cpus, name);
        if (c < 0)
            return c;
        rc = fdt_setprop_string(fdt, c, "device_type", "cpu");
        if (!rc)
            rc = cells == 2 ? fdt_setprop_u64(fdt, c, "reg", reg)
                            : fdt_setprop_u32(fdt, c, "reg", (uint32_t)reg);
        if (!rc && p->cpu_compatible)
            rc = fdt_setprop_string(fdt, c, "compatible", p->cpu_compatible);
        /* Secondaries start powered off; the guest brings them up with PSCI CPU_ON. */
        if (!rc && x->psci_compatible)
            rc = fdt_setprop_string(fdt, c, "enable-method", "psci");
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

/* The ITS under the GIC: the GIC's children use the root's two-cell addresses (ranges). */
static int add_its(const struct vdev_fdt_platform_ext *x, void *fdt, int gic)
{
    char name[32];
    snprintf(name, sizeof(name), "its@%llx", (unsigned long long)x->its_base);
    int its = fdt_add_subnode(fdt, gic, name);
    if (its < 0)
        return its;
    uint64_t reg[2] = {x->its_base, x->its_size};
    int rc = fdt_setprop_string(fdt, its, "compatible", "arm,gic-v3-its");
    if (!rc)
        rc = fdt_set_reg(fdt, its, reg, 1);
    if (!rc)
        rc = fdt_setprop_empty(fdt, its, "msi-controller");
    if (!rc)
        rc = fdt_setprop_u32(fdt, its, "#msi-cells", 1); /* the device id */
    if (!rc)
        rc = fdt_setprop_u32(fdt, its, "phandle", FDT_ITS_PHANDLE);
    return rc;
}

static int add_intc(const struct vdev_fdt_platform *p, const struct vdev_fdt_platform_ext *x,
                    void *fdt, int root)
{
    const struct vdev_fdt_intc *ic = &p->intc;
    int node = fdt_add_subnode(fdt, root, ic->name ? ic->name : "interrupt-controller");
    if (node < 0)
        return node;
    int rc = 0;
    if (ic->compatible)
        rc = fdt_setprop_string(fdt, node, "compatible", ic->compatible);
    if (!rc && ic->reg && ic->nreg)
        rc = fdt_set_reg(fdt, node, ic->reg, ic->nreg);
    if (!rc)
        rc = fdt_setprop_empty(fdt, node, "interrupt-controller");
    if (!rc)
        rc = fdt_setprop_u32(fdt, node, "#interrupt-cells", ic->interrupt_cells);
    /* An interrupt-map entry carries the parent's unit address: none without children. */
    if (!rc)
        rc = fdt_setprop_u32(fdt, node, "#address-cells", x->its_size ? 2 : 0);
    if (!rc && x->its_size) {
        rc = fdt_setprop_u32(fdt, node, "#size-cells", 2);
        if (!rc)
            rc = fdt_setprop_empty(fdt, node, "ranges");
    }
    if (!rc)
        rc = fdt_setprop_u32(fdt, node, "phandle", FDT_INTC_PHANDLE);
    if (!rc && x->its_size)
        rc = add_its(x, fdt, node);
    return rc;
}

static int add_psci(const struct vdev_fdt_platform_ext *x, void *fdt, int root)
{
    int node = fdt_add_subnode(fdt, root, "psci");
    if (node < 0)
        return node;
    int rc = fdt_setprop_string(fdt, node, "compatible", x->psci_compatible);
    if (!rc)
        rc = fdt_setprop_string(fdt, node, "method", x->psci_method);
    return rc;
}

/* The architected timer's four PPIs: <1 (PPI) n flags> each. */
static int add_timer(const struct vdev_fdt_platform_ext *x, void *fdt, int root)
{
    int node = fdt_add_subnode(fdt, root, "timer");
    if (node < 0)
        return node;
    uint32_t flags = x->timer_flags ? x->timer_flags : VDEV_FDT_IRQ_LEVEL_HIGH;
    fdt32_t cells[12];
    for (int i = 0; i < 4; i++) {
        cells[3 * i] = cpu_to_fdt32(1);
        cells[3 * i + 1] = cpu_to_fdt32(x->timer_ppis[i]);
        cells[3 * i + 2] = cpu_to_fdt32(flags);
    }
    int rc = fdt_setprop_string(fdt, node, "compatible", "arm,armv8-timer");
    if (!rc)
        rc = fdt_setprop(fdt, node, "interrupts", cells, sizeof(cells));
    /* The virtual counter runs in every power state a guest sees. */
    if (!rc)
        rc = fdt_setprop_empty(fdt, node, "always-on");
    return rc;
}

int fdt_platform_nodes(struct vdev_machine *m, const struct vdev_fdt_platform *p,
                       const struct vdev_fdt_platform_ext *x, void *fdt)
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
        rc = fdt_setprop_u32(fdt, root, "interrupt-parent", FDT_INTC_PHANDLE);
    if (!rc)
        rc = add_chosen(m, p, fdt, root);
    if (!rc) {
        struct mem_walk w = {fdt, root, 0};
        vdev_bus_foreach(m->bus, VDEV_SPACE_MEM, add_memory, &w);
        rc = w.rc;
    }
    if (!rc)
        rc = add_cpus(m, p, x, fdt, root);
    if (!rc)
        rc = add_intc(p, x, fdt, root);
    if (!rc && x->psci_compatible)
        rc = add_psci(x, fdt, root);
    if (!rc && (x->timer_ppis[0] | x->timer_ppis[1] | x->timer_ppis[2] | x->timer_ppis[3]))
        rc = add_timer(x, fdt, root);
    return rc;
}
