/* Whole ACPI tables from device modules (the HPET's "HPET"): the core checks each and hands
 * it to the embedder, which writes the header and lists the table in its XSDT. */
#include <string.h>
#include <vdev/acpi.h>

#include "internal.h"

struct vdev_acpi_tables {
    struct vdev *d;
    vdev_acpi_table_fn emit;
    void *opaque;
    struct vdev_err *err; /* the embedder's reason when emit fails */
};

/* Tables there is one of, which the embedder writes itself. */
static const char *const embedder_tables[] = {"RSDT", "XSDT", "FACP", "FACS",
                                              "DSDT", "APIC", "MCFG"};

static bool signature_ok(const char *sig)
{
    if (!sig || strlen(sig) != 4)
        return false;
    for (int i = 0; i < 4; i++)
        if (!((sig[i] >= 'A' && sig[i] <= 'Z') || (sig[i] >= '0' && sig[i] <= '9') ||
              sig[i] == '_'))
            return false;
    return true;
}

int vdev_acpi_table_add(struct vdev_acpi_tables *t, const char *signature, uint8_t revision,
                        const void *body, size_t len, unsigned flags)
{
    if (!t)
        return -1;
    struct vdev_srcpos pos = vdev_pos(t->d);
    if (flags)
        return vdev_error(t->d, pos, NULL, "ACPI: vdev_acpi_table_add: unknown flags 0x%x", flags);
    if (!signature_ok(signature))
        return vdev_error(t->d, pos, NULL, "ACPI: bad table signature");
    for (size_t i = 0; i < sizeof(embedder_tables) / sizeof(embedder_tables[0]); i++)
        if (!strcmp(signature, embedder_tables[i]))
            return vdev_error(t->d, pos, NULL, "ACPI: the %s table is the embedder's", signature);
    if ((!body && len) || len > VDEV_ACPI_TABLE_MAX)
        return vdev_error(t->d, pos, NULL, "ACPI: %s: a body of %zu bytes (at most %d)", signature,
                          len, VDEV_ACPI_TABLE_MAX);
    if (t->emit(t->opaque, signature, revision, body, len, t->err))
        return vdev_error(t->d, pos, NULL, "ACPI: %s: %s", signature, t->err->msg);
    return 0;
}

int vdev_machine_gen_acpi_tables(struct vdev_machine *m, vdev_acpi_table_fn emit, void *opaque,
                                 unsigned flags, struct vdev_err *err)
{
    if (err)
        err->msg[0] = '\0';
    if (!m || !emit || flags)
        return vdev_err_setc(err, VDEV_E_INVAL, "ACPI: tables: no machine, no callback or flags");
    if (!m->built)
        return vdev_err_set(err, "ACPI: the machine is not built yet");
    struct vdev_err local, why;
    struct vdev_err *out = err ? err : &local;
    struct vdev_err *saved = m->build_err;
    m->build_err = out; /* where the hooks' vdev_error() writes */
    int rc = 0;
    for (size_t i = 0; i < m->ndevs && rc == 0; i++) {
        struct vdev *d = m->devs[i];
        int (*hook)(struct vdev *, struct vdev_acpi_tables *) =
            VDEV_TYPE_HAS(d->type, gen_acpi_tables) ? d->type->gen_acpi_tables : NULL;
        if (!hook)
            continue;
        struct vdev_acpi_tables t = {.d = d, .emit = emit, .opaque = opaque, .err = &why};
        why.msg[0] = '\0';
        out->msg[0] = '\0';
        if (hook(d, &t)) {
            if (!out->msg[0])
                vdev_err_at(out, d->cfg->pos, "vdev %s: ACPI: describing the device failed",
                            d->label);
            rc = -1;
        }
    }
    m->build_err = saved;
    return rc;
}
