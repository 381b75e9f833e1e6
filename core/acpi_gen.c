/* The machine's share of the DSDT: Scope (\_SB) with every device's gen_acpi nodes. */
#include <vdev/acpi.h>

#include "internal.h"

int vdev_machine_gen_acpi(struct vdev_machine *m, struct vdev_aml *dsdt, struct vdev_err *err)
{
    if (err)
        err->msg[0] = '\0';
    if (!m || !dsdt)
        return vdev_err_set(err, "ACPI: no machine or no AML builder");
    if (!m->built)
        return vdev_err_set(err, "ACPI: the machine is not built yet");
    if (vdev_aml_error(dsdt))
        return vdev_err_set(err, "ACPI: %s", vdev_aml_error(dsdt));

    vdev_aml_scope_begin(dsdt, "\\_SB_");
    if (vdev_aml_error(dsdt))
        return vdev_err_set(err, "ACPI: %s", vdev_aml_error(dsdt));
    unsigned depth = vdev_aml_depth(dsdt);
    /* The buses (the PCI host bridge) come before the devices (which may sit behind them). */
    for (size_t i = 0; i < m->nbuses; i++) {
        const struct vdev_bus_slot *b = &m->buses[i];
        if (b->p->gen_acpi)
            b->p->gen_acpi(b->bus, dsdt);
        if (vdev_aml_error(dsdt))
            return vdev_err_set(err, "ACPI: %s: %s", b->p->name, vdev_aml_error(dsdt));
    }

    /* A hook reports with vdev_error(), which writes where a build would. */
    struct vdev_err local;
    struct vdev_err *out = err ? err : &local;
    struct vdev_err *saved = m->build_err;
    m->build_err = out;
    int rc = 0;
    for (size_t i = 0; i < m->ndevs && rc == 0; i++) {
        struct vdev *d = m->devs[i];
        const struct vdev_transport_nodes *tn = &d->transport_nodes;
        if (!d->type->gen_acpi && !tn->gen_acpi)
            continue;
        out->msg[0] = '\0';
        int hook_rc = d->type->gen_acpi ? d->type->gen_acpi(d, dsdt) : 0;
        if (hook_rc == 0 && !vdev_aml_error(dsdt) && tn->gen_acpi)
            hook_rc = tn->gen_acpi(d, dsdt, tn->opaque);
        const char *why = vdev_aml_error(dsdt);
        unsigned now = vdev_aml_depth(dsdt);
        if (hook_rc) {
            if (!out->msg[0]) /* the module said nothing itself */
                vdev_err_at(out, d->cfg->pos, "vdev %s: ACPI: %s", d->label,
                            why ? why : "describing the device failed");
            rc = -1;
        } else if (why) {
            rc = vdev_err_at(out, d->cfg->pos, "vdev %s: ACPI: %s", d->label, why);
        } else if (now != depth) {
            rc = vdev_err_at(out, d->cfg->pos, "vdev %s: ACPI: gen_acpi %s", d->label,
                             now > depth ? "left a construct open" : "closed Scope (\\_SB)");
        } else {
            out->msg[0] = '\0';
        }
    }
    m->build_err = saved;
    if (rc)
        return -1;
    vdev_aml_end(dsdt);
    if (vdev_aml_error(dsdt))
        return vdev_err_set(err, "ACPI: %s", vdev_aml_error(dsdt));
    return 0;
}
