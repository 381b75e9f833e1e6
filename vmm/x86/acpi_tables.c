/* ACPI tables for the x86 VMM (ACPI 6.5: 5.2 "ACPI System Description Tables"). */
#include "acpi_tables.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vdev/pci.h>

#include "x86_platform.h"

#define HEADER_LEN   36
#define RSDP_LEN     36  /* revision 2 */
#define FADT_LEN     276 /* revision 6, through the Hypervisor Vendor Identity */
#define FADT_REV     6
#define FADT_MINOR   5
#define MADT_REV     5
#define DSDT_REV     2 /* 64-bit integers */
#define XSDT_ENTRIES 2 /* FADT, MADT; and MCFG with a PCI host bridge */
#define MCFG_REV     1
#define MCFG_LEN     (HEADER_LEN + 8 + 16) /* one allocation: segment 0 */
#define EXTRA_MAX    16 /* tables the devices add (vdev_machine_gen_acpi_tables) */

/* FADT Flags (5.2.9, Table 5.10) */
#define FADT_PWR_BUTTON    (1u << 4) /* the power button is a control-method device */
#define FADT_SLP_BUTTON    (1u << 5) /* no fixed sleep button */
#define FADT_RESET_REG_SUP (1u << 10)
#define FADT_HW_REDUCED    (1u << 20)
#define FADT_LOW_POWER_S0  (1u << 21) /* left clear: no S0 idle */

/* Generic Address Structure (5.2.3.2) */
#define GAS_SYSTEM_IO   1
#define GAS_ACCESS_BYTE 1

/* MADT structures (5.2.12) */
#define MADT_LAPIC       0
#define MADT_IOAPIC      1
#define MADT_ISO         2
#define MADT_LAPIC_NMI   4
#define MADT_PCAT_COMPAT 1u

#define MADT_FIXED_LEN  (HEADER_LEN + 8) /* header, Local APIC address, flags */
#define MADT_LEN(ncpus) (MADT_FIXED_LEN + 8 * (ncpus) + 12 + 10 + 6)

void x86_acpi_config_init(struct x86_acpi_config *cfg, unsigned ncpus)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->ncpus = ncpus;
    cfg->lapic_addr = X86_LAPIC_BASE;
    cfg->ioapic_addr = X86_IOAPIC_BASE;
    cfg->ioapic_id = 0;
    cfg->pcat_compat = true;
    cfg->sleep_port = 0x600;
    cfg->reset_port = 0x604;
    cfg->reset_value = 1;
    cfg->ged_gsi = 9;
    cfg->iapc_boot_arch = X86_ACPI_BOOT_NO_VGA;
}

void x86_acpi_config_devices(struct x86_acpi_config *cfg, struct vdev_machine *m)
{
    for (size_t i = 0, n = m ? vdev_machine_device_count(m) : 0; i < n; i++) {
        if (!strcmp(vdev_type_name(vdev_machine_device(m, i)), "mc146818")) {
            cfg->iapc_boot_arch &= (uint16_t)~X86_ACPI_BOOT_NO_CMOS_RTC;
            cfg->century = 0x32; /* RTC_CENTURY in vdevs/mc146818 */
            return;
        }
    }
}

/* ---- little-endian stores ---- */

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint8_t checksum(const uint8_t *p, size_t n)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum = (uint8_t)(sum + p[i]);
    return (uint8_t)(0x100 - sum);
}

/* Copies `text` into a fixed field of `n` bytes, padded with spaces. */
static void put_padded(uint8_t *p, const char *text, size_t n)
{
    size_t l = strlen(text);
    memset(p, ' ', n);
    memcpy(p, text, l < n ? l : n);
}

struct oem {
    char id[7];
    char table_id[9];
    uint32_t revision;
};

static void header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev, const struct oem *oem)
{
    memcpy(t, sig, 4);
    put_le(t + 4, len, 4);
    t[8] = rev;
    /* t[9]: checksum, last */
    put_padded(t + 10, oem->id, 6);
    put_padded(t + 16, oem->table_id, 8);
    put_le(t + 24, oem->revision, 4);
    memcpy(t + 28, "VDKT", 4); /* creator ID */
    put_le(t + 32, 1, 4);      /* creator revision */
}

static void finish(uint8_t *t, uint32_t len)
{
    t[9] = 0;
    t[9] = checksum(t, len);
}

/* Generic Address Structure for a one-byte I/O port. */
static void gas_io8(uint8_t *p, uint16_t port)
{
    p[0] = GAS_SYSTEM_IO;
    p[1] = 8; /* register bit width */
    p[2] = 0; /* bit offset */
    p[3] = GAS_ACCESS_BYTE;
    put_le(p + 4, port, 8);
}

/* ---- the DSDT body ---- */

static int build_dsdt_aml(struct vdev_machine *m, const struct x86_acpi_config *cfg,
                          struct vdev_aml *a, struct vdev_err *err)
{
    if (m && vdev_machine_gen_acpi(m, a, err))
        return -1;

    vdev_aml_scope_begin(a, "\\_SB_");
    /* The power button: Linux's button driver reports Notify 0x80 as KEY_POWER, which
     * systemd-logind or acpid turn into a clean shutdown. */
    vdev_aml_device_begin(a, "PWRB");
    vdev_aml_name_eisaid(a, "_HID", "PNP0C0C");
    vdev_aml_name_int(a, "_UID", 0);
    vdev_aml_end(a);

    /* Generic Event Device: Linux's evged runs _EVT with the GSI when the line fires. */
    vdev_aml_device_begin(a, "GED0");
    vdev_aml_name_string(a, "_HID", "ACPI0013");
    vdev_aml_name_int(a, "_UID", 0);
    vdev_aml_name_begin(a, "_CRS");
    vdev_aml_crs_begin(a);
    vdev_aml_res_interrupt(a, cfg->ged_gsi, false, true, false); /* edge, active-high */
    vdev_aml_crs_end(a);
    vdev_aml_method_begin(a, "_EVT", 1, true);
    vdev_aml_if_arg_equal(a, 0, cfg->ged_gsi);
    vdev_aml_notify(a, "\\_SB_.PWRB", 0x80);
    vdev_aml_end(a); /* If */
    vdev_aml_end(a); /* Method */
    vdev_aml_end(a); /* GED0 */
    vdev_aml_end(a); /* \_SB */

    /* System State Package for S5 (7.4.2): SLP_TYPa = 5; the rest is ignored/reserved. */
    vdev_aml_name_begin(a, "\\_S5_");
    vdev_aml_package_begin(a);
    vdev_aml_int(a, X86_ACPI_SLP_TYP_S5);
    vdev_aml_int(a, 0);
    vdev_aml_int(a, 0);
    vdev_aml_int(a, 0);
    vdev_aml_end(a);

    if (vdev_aml_error(a))
        return vdev_err_set(err, "ACPI: DSDT: %s", vdev_aml_error(a));
    return 0;
}

/* ---- tables the devices add (the HPET's) ---- */

struct extra_table {
    char sig[4];
    uint8_t rev;
    uint8_t *body;
    size_t len;
};

struct extras {
    struct extra_table t[EXTRA_MAX];
    unsigned n;
    uint64_t bytes; /* headers, bodies and alignment: at most EXTRA_MAX * (64 KiB + 44) */
};

static int collect_extra(void *opaque, const char sig[4], uint8_t rev, const void *body, size_t len,
                         struct vdev_err *err)
{
    struct extras *x = opaque;
    if (x->n == EXTRA_MAX)
        return vdev_err_set(err, "more than %d device tables", EXTRA_MAX);
    struct extra_table *e = &x->t[x->n];
    e->body = malloc(len ? len : 1);
    if (!e->body)
        return vdev_err_set(err, "out of memory");
    memcpy(e->sig, sig, 4);
    e->rev = rev;
    if (len)
        memcpy(e->body, body, len);
    e->len = len;
    x->n++;
    x->bytes += HEADER_LEN + len + 8;
    return 0;
}

static void free_extras(struct extras *x)
{
    for (unsigned i = 0; i < x->n; i++)
        free(x->t[i].body);
    x->n = 0;
}

/* ---- the tables ---- */

static uint64_t align_up(uint64_t off, uint64_t gpa, uint64_t align)
{
    uint64_t at = (gpa + off) % align; /* gpa + off cannot overflow: checked by the caller */
    return at ? off + (align - at) : off;
}

static int check_config(const struct x86_acpi_config *cfg, struct vdev_err *err)
{
    if (cfg->ncpus < 1 || cfg->ncpus > 255)
        return vdev_err_set(err, "ACPI: %u vCPUs: the MADT describes 1-255 (xAPIC IDs 0-254)",
                            cfg->ncpus);
    if (cfg->sleep_port == 0xffff)
        return vdev_err_set(err, "ACPI: sleep port 0xffff leaves no room for the status port");
    if (strnlen(cfg->oem_id, sizeof(cfg->oem_id)) >= sizeof(cfg->oem_id) ||
        strnlen(cfg->oem_table_id, sizeof(cfg->oem_table_id)) >= sizeof(cfg->oem_table_id))
        return vdev_err_set(err, "ACPI: OEM ID (6 characters) or OEM table ID (8) too long");
    return 0;
}

int x86_acpi_build(struct vdev_machine *m, const struct x86_acpi_config *cfg, void *host,
                   uint64_t gpa, size_t size, uint64_t *rsdp_gpa, size_t *used,
                   struct vdev_err *err)
{
    if (err)
        err->msg[0] = '\0';
    if (!cfg || !host)
        return vdev_err_set(err, "ACPI: no configuration or no memory for the tables");
    if (check_config(cfg, err))
        return -1;
    struct oem oem = {.revision = cfg->oem_revision};
    snprintf(oem.id, sizeof(oem.id), "%s", cfg->oem_id[0] ? cfg->oem_id : "VDEVKT");
    snprintf(oem.table_id, sizeof(oem.table_id), "%s",
             cfg->oem_table_id[0] ? cfg->oem_table_id : "VDEVKIT");

    struct vdev_aml *aml = vdev_aml_new();
    if (!aml)
        return vdev_err_set(err, "ACPI: out of memory");
    int rc = -1;
    struct extras extra = {.n = 0};
    if (build_dsdt_aml(m, cfg, aml, err))
        goto out;
    if (m && vdev_machine_gen_acpi_tables(m, collect_extra, &extra, 0, err))
        goto out;
    size_t aml_len;
    const uint8_t *body = vdev_aml_data(aml, &aml_len);
    if (!body) {
        vdev_err_set(err, "ACPI: DSDT: %s", vdev_aml_error(aml));
        goto out;
    }

    /* Layout, as offsets from gpa: RSDP on 16 bytes, the tables on 8. The largest term is
     * bounded (AML below 256 MiB, 255 CPUs), so none of this overflows. */
    struct vdev_pci_host_desc pci;
    const bool has_mcfg = vdev_machine_pci_host(m, &pci);
    const unsigned nentries = XSDT_ENTRIES + (has_mcfg ? 1 : 0) + extra.n;
    uint64_t madt_len = MADT_LEN((uint64_t)cfg->ncpus);
    uint64_t dsdt_len = HEADER_LEN + (uint64_t)aml_len;
    uint64_t end_bound = 16 + RSDP_LEN + 8 + HEADER_LEN + 8 * nentries + 8 + FADT_LEN + 8 +
                         madt_len + 8 + dsdt_len + 8 + MCFG_LEN + extra.bytes;
    if (gpa > UINT64_MAX - end_bound) {
        vdev_err_set(err, "ACPI: the table area at 0x%llx wraps around", (unsigned long long)gpa);
        goto out;
    }
    uint64_t rsdp = align_up(0, gpa, 16);
    uint64_t xsdt = align_up(rsdp + RSDP_LEN, gpa, 8);
    uint64_t xsdt_len = HEADER_LEN + 8 * (uint64_t)nentries;
    uint64_t fadt = align_up(xsdt + xsdt_len, gpa, 8);
    uint64_t madt = align_up(fadt + FADT_LEN, gpa, 8);
    uint64_t dsdt = align_up(madt + madt_len, gpa, 8);
    uint64_t mcfg = align_up(dsdt + dsdt_len, gpa, 8);
    uint64_t end = has_mcfg ? mcfg + MCFG_LEN : dsdt + dsdt_len;
    uint64_t extra_at[EXTRA_MAX];
    for (unsigned i = 0; i < extra.n; i++) {
        extra_at[i] = align_up(end, gpa, 8);
        end = extra_at[i] + HEADER_LEN + extra.t[i].len;
    }
    if (dsdt_len > UINT32_MAX || end > size) {
        vdev_err_set(err, "ACPI: the tables need %llu bytes; the area at 0x%llx has %zu",
                     (unsigned long long)end, (unsigned long long)gpa, size);
        goto out;
    }

    uint8_t *base = host;
    memset(base, 0, (size_t)end);

    /* RSDP (5.2.5.3): no RSDT, only the XSDT. */
    uint8_t *p = base + rsdp;
    memcpy(p, "RSD PTR ", 8);
    put_padded(p + 9, oem.id, 6);
    p[15] = 2;            /* revision */
    put_le(p + 16, 0, 4); /* RsdtAddress */
    put_le(p + 20, RSDP_LEN, 4);
    put_le(p + 24, gpa + xsdt, 8);
    p[8] = checksum(p, 20);        /* the ACPI 1.0 part */
    p[32] = checksum(p, RSDP_LEN); /* extended checksum, over all of it */

    /* XSDT (5.2.8) */
    p = base + xsdt;
    header(p, "XSDT", (uint32_t)xsdt_len, 1, &oem);
    put_le(p + HEADER_LEN, gpa + fadt, 8);
    put_le(p + HEADER_LEN + 8, gpa + madt, 8);
    unsigned entry = XSDT_ENTRIES;
    if (has_mcfg)
        put_le(p + HEADER_LEN + 8 * entry++, gpa + mcfg, 8);
    for (unsigned i = 0; i < extra.n; i++)
        put_le(p + HEADER_LEN + 8 * entry++, gpa + extra_at[i], 8);
    finish(p, (uint32_t)xsdt_len);

    /* FADT (5.2.9): hardware-reduced, so no SCI, PM1, PM timer or GPE blocks. */
    p = base + fadt;
    header(p, "FACP", FADT_LEN, FADT_REV, &oem);
    uint64_t dsdt_gpa = gpa + dsdt;
    put_le(p + 40, dsdt_gpa <= UINT32_MAX ? dsdt_gpa : 0, 4); /* DSDT */
    p[108] = cfg->century;
    put_le(p + 109, cfg->iapc_boot_arch, 2);
    put_le(p + 112, FADT_HW_REDUCED | FADT_RESET_REG_SUP | FADT_PWR_BUTTON | FADT_SLP_BUTTON, 4);
    gas_io8(p + 116, cfg->reset_port); /* RESET_REG */
    p[128] = cfg->reset_value;
    p[131] = FADT_MINOR;
    put_le(p + 140, dsdt_gpa, 8);                      /* X_DSDT */
    gas_io8(p + 244, cfg->sleep_port);                 /* SLEEP_CONTROL_REG */
    gas_io8(p + 256, (uint16_t)(cfg->sleep_port + 1)); /* SLEEP_STATUS_REG */
    finish(p, FADT_LEN);

    /* MADT (5.2.12) */
    p = base + madt;
    header(p, "APIC", (uint32_t)madt_len, MADT_REV, &oem);
    put_le(p + 36, cfg->lapic_addr, 4);
    put_le(p + 40, cfg->pcat_compat ? MADT_PCAT_COMPAT : 0, 4);
    uint8_t *e = p + MADT_FIXED_LEN;
    for (unsigned i = 0; i < cfg->ncpus; i++, e += 8) {
        e[0] = MADT_LAPIC;
        e[1] = 8;
        e[2] = (uint8_t)i;   /* ACPI processor UID */
        e[3] = (uint8_t)i;   /* APIC ID */
        put_le(e + 4, 1, 4); /* Enabled */
    }
    e[0] = MADT_IOAPIC;
    e[1] = 12;
    e[2] = cfg->ioapic_id;
    put_le(e + 4, cfg->ioapic_addr, 4);
    put_le(e + 8, 0, 4); /* GSI base */
    e += 12;
    /* ISA IRQ 0 (the PIT) arrives on I/O APIC pin 2, as on every PC and in KVM's routing. */
    e[0] = MADT_ISO;
    e[1] = 10;
    e[2] = 0; /* bus: ISA */
    e[3] = 0; /* source IRQ */
    put_le(e + 4, 2, 4);
    put_le(e + 8, 0, 2); /* flags: conforms to the bus */
    e += 10;
    /* LINT1 of every processor is the NMI input. */
    e[0] = MADT_LAPIC_NMI;
    e[1] = 6;
    e[2] = 0xff; /* all processors */
    put_le(e + 3, 0, 2);
    e[5] = 1; /* LINT1 */
    finish(p, (uint32_t)madt_len);

    /* DSDT (5.2.11.1) */
    p = base + dsdt;
    header(p, "DSDT", (uint32_t)dsdt_len, DSDT_REV, &oem);
    memcpy(p + HEADER_LEN, body, aml_len);
    finish(p, (uint32_t)dsdt_len);

    /* MCFG (PCI Firmware 3.2, 4.1.2): the ECAM window of segment 0, buses 0..buses-1. */
    if (has_mcfg) {
        p = base + mcfg;
        header(p, "MCFG", MCFG_LEN, MCFG_REV, &oem);
        uint8_t *a = p + HEADER_LEN + 8; /* 8 reserved bytes, then the allocation */
        put_le(a, pci.ecam_base, 8);
        put_le(a + 8, 0, 2); /* segment */
        a[10] = 0;           /* start bus */
        a[11] = (uint8_t)(pci.buses - 1);
        finish(p, MCFG_LEN);
    }

    /* The devices' tables (the HPET's), after the platform's. */
    for (unsigned i = 0; i < extra.n; i++) {
        const struct extra_table *x = &extra.t[i];
        uint32_t len = (uint32_t)(HEADER_LEN + x->len);
        char sig[5] = {x->sig[0], x->sig[1], x->sig[2], x->sig[3], '\0'};
        p = base + extra_at[i];
        header(p, sig, len, x->rev, &oem);
        memcpy(p + HEADER_LEN, x->body, x->len);
        finish(p, len);
    }

    if (rsdp_gpa)
        *rsdp_gpa = gpa + rsdp;
    if (used)
        *used = (size_t)end;
    rc = 0;
out:
    free_extras(&extra);
    vdev_aml_free(aml);
    return rc;
}
