/* The x86 VMM's ACPI tables (vmm/acpi_tables.c, linked from vdevkit_vmm): layout, checksums, the
 * FADT and MADT fields, failure on a short area, and a decompile of every table by iasl. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vdev/pci.h>

#include "acpi_tables.h"
#include "asl_check.h"
#include "fake_embedder.h"

#define AREA     0x10000
#define GPA      0x80000ull
#define TWO_UART "ram 16M vdev ser8250 vdev ser8250 loc io:0x2f8 intr ioapic:3"

static struct fake_embedder fe;
static uint8_t *host;
static struct x86_acpi_config cfg;
static char tmpdir[64];

static void setup(void)
{
    host = malloc(AREA);
    ck_assert_ptr_nonnull(host);
    memset(host, 0xaa, AREA);
    x86_acpi_config_init(&cfg, 2);
    cfg.ioapic_id = 2;
    cfg.ged_gsi = 9;
    fe.m = NULL;
    tmpdir[0] = '\0';
}

static void teardown(void)
{
    free(host);
    if (fe.m)
        fake_machine_free(&fe);
    if (tmpdir[0] && !getenv("KEEP_ACPI_TMP")) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
        if (system(cmd))
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
}

static void machine(const char *conf)
{
    struct vdev_err err;
    fake_machine_new(&fe);
    ck_assert_msg(fake_machine_build_string(&fe, conf, &err) == 0, "build: %s", err.msg);
}

static uint64_t rd(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

/* The tables built at `gpa`, found the way a guest finds them. */
struct tables {
    uint64_t gpa;
    size_t used;
    const uint8_t *rsdp, *xsdt, *fadt, *madt, *dsdt;
};

/* Guest address to host pointer, checking that [addr, addr + len) lies in what was written. */
static const uint8_t *at(const struct tables *t, uint64_t addr, uint64_t len)
{
    ck_assert_msg(addr >= t->gpa && addr - t->gpa + len <= t->used,
                  "0x%llx+%llu lies outside the tables", (unsigned long long)addr,
                  (unsigned long long)len);
    return host + (addr - t->gpa);
}

/* A table at `addr`: signature, checksum, alignment. */
static const uint8_t *table(const struct tables *t, uint64_t addr, const char *sig)
{
    const uint8_t *h = at(t, addr, 36);
    ck_assert_msg(!memcmp(h, sig, 4), "expected %s, found %.4s", sig, (const char *)h);
    uint32_t len = (uint32_t)rd(h + 4, 4);
    at(t, addr, len);
    ck_assert_msg(sum(h, len) == 0, "%s checksum", sig);
    ck_assert_msg(addr % 8 == 0, "%s at 0x%llx is not 8-byte aligned", sig,
                  (unsigned long long)addr);
    return h;
}

static void build_at(struct tables *t, uint64_t gpa)
{
    struct vdev_err err;
    uint64_t rsdp = 0;
    memset(t, 0, sizeof(*t));
    t->gpa = gpa;
    int rc = x86_acpi_build(fe.m, &cfg, host, gpa, AREA, &rsdp, &t->used, &err);
    ck_assert_msg(rc == 0, "x86_acpi_build: %s", err.msg);
    ck_assert_uint_le(t->used, AREA);
    ck_assert_uint_eq(rsdp % 16, 0);
    ck_assert_uint_lt(rsdp - gpa, 16);
    t->rsdp = at(t, rsdp, 36);
    ck_assert(!memcmp(t->rsdp, "RSD PTR ", 8));
    ck_assert_uint_eq(sum(t->rsdp, 20), 0);
    ck_assert_uint_eq(sum(t->rsdp, 36), 0);
    ck_assert_uint_eq(t->rsdp[15], 2);
    ck_assert_uint_eq(rd(t->rsdp + 16, 4), 0); /* no RSDT */
    ck_assert_uint_eq(rd(t->rsdp + 20, 4), 36);
    uint64_t xsdt = rd(t->rsdp + 24, 8);
    t->xsdt = table(t, xsdt, "XSDT");
    ck_assert_uint_eq(rd(t->xsdt + 4, 4), 36 + 16);
    t->fadt = table(t, rd(t->xsdt + 36, 8), "FACP");
    t->madt = table(t, rd(t->xsdt + 44, 8), "APIC");
    t->dsdt = table(t, rd(t->fadt + 140, 8), "DSDT");
    /* Laid out in order, without gaps beyond alignment, ending with the DSDT. */
    ck_assert_uint_eq(t->dsdt + rd(t->dsdt + 4, 4) - host, t->used);
    ck_assert(t->xsdt < t->fadt && t->fadt < t->madt && t->madt < t->dsdt);
    ck_assert_uint_lt(t->xsdt - (t->rsdp + 36), 8);
    ck_assert_uint_lt(t->fadt - (t->xsdt + 52), 8);
    ck_assert_uint_lt(t->madt - (t->fadt + 276), 8);
    ck_assert_uint_lt(t->dsdt - (t->madt + rd(t->madt + 4, 4)), 8);
}

START_TEST(layout_and_checksums)
{
    machine(TWO_UART);
    struct tables t;
    build_at(&t, GPA);
    ck_assert_ptr_eq(t.rsdp, host); /* an aligned area starts with the RSDP */
    /* Nothing beyond `used` was touched. */
    for (size_t i = t.used; i < AREA; i++)
        ck_assert_uint_eq(host[i], 0xaa);
    /* Each table names the OEM. */
    ck_assert(!memcmp(t.rsdp + 9, "VDEVKT", 6));
    ck_assert(!memcmp(t.fadt + 10, "VDEVKTVDEVKIT ", 14));
}
END_TEST

START_TEST(unaligned_area)
{
    machine(TWO_UART);
    struct tables t;
    build_at(&t, GPA + 3); /* the RSDP moves to GPA + 16, the tables stay 8-byte aligned */
    ck_assert_ptr_eq(t.rsdp, host + 13);
    for (size_t i = 0; i < 13; i++)
        ck_assert_uint_eq(host[i], 0); /* padding is zeroed */
}
END_TEST

START_TEST(fadt_fields)
{
    machine(TWO_UART);
    struct tables t;
    build_at(&t, GPA);
    const uint8_t *f = t.fadt;
    ck_assert_uint_eq(rd(f + 4, 4), 276);
    ck_assert_uint_eq(f[8], 6);          /* revision */
    ck_assert_uint_eq(f[131], 5);        /* minor version: 6.5 */
    ck_assert_uint_eq(rd(f + 36, 4), 0); /* no FACS */
    ck_assert_uint_eq(rd(f + 132, 8), 0);
    ck_assert_uint_eq(rd(f + 40, 4), rd(f + 140, 8)); /* DSDT below 4 GiB: both fields */
    ck_assert_uint_eq(rd(f + 46, 2), 0);              /* SCI_INT: none in hardware-reduced ACPI */
    ck_assert_uint_eq(rd(f + 48, 4), 0);              /* SMI_CMD */
    for (unsigned off = 56; off < 88; off += 4)
        ck_assert_uint_eq(rd(f + off, 4), 0); /* PM1/PM2/PM timer/GPE blocks */
    uint32_t flags = (uint32_t)rd(f + 112, 4);
    ck_assert(flags & (1u << 20));    /* HW_REDUCED_ACPI */
    ck_assert(flags & (1u << 10));    /* RESET_REG_SUP */
    ck_assert(flags & (1u << 4));     /* PWR_BUTTON: a control-method button */
    ck_assert(!(flags & (1u << 21))); /* LOW_POWER_S0_IDLE_CAPABLE */
    ck_assert_uint_eq(rd(f + 109, 2), X86_ACPI_BOOT_NO_VGA);
    /* RESET_REG: system I/O, 8 bits, byte access, at reset_port; RESET_VALUE. */
    const uint8_t reset[] = {1, 8, 0, 1, 0x04, 0x06, 0, 0, 0, 0, 0, 0};
    ck_assert(!memcmp(f + 116, reset, 12));
    ck_assert_uint_eq(f[128], 1);
    /* SLEEP_CONTROL_REG at sleep_port, SLEEP_STATUS_REG at sleep_port + 1. */
    const uint8_t ctl[] = {1, 8, 0, 1, 0x00, 0x06, 0, 0, 0, 0, 0, 0};
    const uint8_t sts[] = {1, 8, 0, 1, 0x01, 0x06, 0, 0, 0, 0, 0, 0};
    ck_assert(!memcmp(f + 244, ctl, 12));
    ck_assert(!memcmp(f + 256, sts, 12));
    ck_assert_uint_eq(X86_ACPI_SLEEP_S5_VALUE, 0x34);
}
END_TEST

START_TEST(dsdt_above_4g)
{
    machine(TWO_UART);
    struct tables t;
    build_at(&t, 0x100000000ull);
    ck_assert_uint_eq(rd(t.fadt + 40, 4), 0);
    ck_assert_uint_eq(rd(t.fadt + 140, 8), 0x100000000ull + (uint64_t)(t.dsdt - host));
}
END_TEST

/* Counts MADT entries of `type`; returns the first. */
static const uint8_t *madt_entries(const uint8_t *m, uint8_t type, unsigned *count)
{
    uint32_t len = (uint32_t)rd(m + 4, 4);
    const uint8_t *first = NULL;
    *count = 0;
    for (uint32_t off = 44; off < len;) {
        const uint8_t *e = m + off;
        ck_assert_uint_ge(e[1], 2);
        ck_assert_uint_le(off + e[1], len);
        if (e[0] == type) {
            if (!first)
                first = e;
            (*count)++;
        }
        off += e[1];
    }
    return first;
}

START_TEST(madt_entries_for_two_cpus)
{
    machine(TWO_UART);
    struct tables t;
    build_at(&t, GPA);
    const uint8_t *m = t.madt;
    ck_assert_uint_eq(rd(m + 36, 4), 0xfee00000);
    ck_assert_uint_eq(rd(m + 40, 4), 1); /* PCAT_COMPAT */
    ck_assert_uint_eq(rd(m + 4, 4), 44 + 2 * 8 + 12 + 10 + 6);
    unsigned n;
    const uint8_t *e = madt_entries(m, 0, &n);
    ck_assert_uint_eq(n, 2);
    for (unsigned i = 0; i < 2; i++, e += 8) {
        ck_assert_uint_eq(e[1], 8);
        ck_assert_uint_eq(e[2], i); /* processor UID */
        ck_assert_uint_eq(e[3], i); /* APIC ID */
        ck_assert_uint_eq(rd(e + 4, 4), 1);
    }
    e = madt_entries(m, 1, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(e[2], 2);
    ck_assert_uint_eq(rd(e + 4, 4), 0xfec00000);
    ck_assert_uint_eq(rd(e + 8, 4), 0);
    e = madt_entries(m, 2, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(e[2], 0); /* ISA */
    ck_assert_uint_eq(e[3], 0); /* IRQ 0 */
    ck_assert_uint_eq(rd(e + 4, 4), 2);
    ck_assert_uint_eq(rd(e + 8, 2), 0);
    e = madt_entries(m, 4, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(e[2], 0xff);
    ck_assert_uint_eq(e[5], 1);

    /* 255 vCPUs still fit; 0 and 256 do not. */
    cfg.ncpus = 255;
    build_at(&t, GPA);
    madt_entries(t.madt, 0, &n);
    ck_assert_uint_eq(n, 255);
    struct vdev_err err;
    size_t used;
    uint64_t rsdp;
    cfg.ncpus = 0;
    ck_assert_int_eq(x86_acpi_build(fe.m, &cfg, host, GPA, AREA, &rsdp, &used, &err), -1);
    ck_assert_msg(strstr(err.msg, "1-255"), "%s", err.msg);
    cfg.ncpus = 256;
    ck_assert_int_eq(x86_acpi_build(fe.m, &cfg, host, GPA, AREA, &rsdp, &used, &err), -1);
}
END_TEST

START_TEST(too_small_area_fails_cleanly)
{
    machine(TWO_UART);
    struct tables t;
    build_at(&t, GPA);
    size_t need = t.used;
    memset(host, 0xaa, AREA);
    struct vdev_err err;
    uint64_t rsdp = 7;
    size_t used = 7;
    ck_assert_int_eq(x86_acpi_build(fe.m, &cfg, host, GPA, need - 1, &rsdp, &used, &err), -1);
    ck_assert_msg(strstr(err.msg, "need") && strstr(err.msg, "0x80000"), "%s", err.msg);
    ck_assert_uint_eq(rsdp, 7);
    ck_assert_uint_eq(used, 7);
    for (size_t i = 0; i < AREA; i++)
        ck_assert_uint_eq(host[i], 0xaa); /* nothing written */
    ck_assert_int_eq(x86_acpi_build(fe.m, &cfg, host, GPA, 0, &rsdp, &used, &err), -1);
    ck_assert_int_eq(x86_acpi_build(fe.m, &cfg, host, GPA, need, &rsdp, &used, &err), 0);
    ck_assert_uint_eq(used, need);
    /* An area at the top of the address space does not wrap. */
    ck_assert_int_eq(x86_acpi_build(fe.m, &cfg, host, UINT64_MAX - 64, AREA, &rsdp, &used, &err),
                     -1);
    ck_assert_msg(strstr(err.msg, "wraps"), "%s", err.msg);
}
END_TEST

START_TEST(bad_config_and_machine)
{
    struct vdev_err err;
    size_t used;
    uint64_t rsdp;
    cfg.sleep_port = 0xffff;
    ck_assert_int_eq(x86_acpi_build(NULL, &cfg, host, GPA, AREA, &rsdp, &used, &err), -1);
    ck_assert_msg(strstr(err.msg, "sleep port"), "%s", err.msg);
    x86_acpi_config_init(&cfg, 1);
    memcpy(cfg.oem_id, "TOOLONG", 7);
    ck_assert_int_eq(x86_acpi_build(NULL, &cfg, host, GPA, AREA, &rsdp, &used, &err), -1);
    ck_assert_msg(strstr(err.msg, "OEM"), "%s", err.msg);
    x86_acpi_config_init(&cfg, 1);
    ck_assert_int_eq(x86_acpi_build(NULL, &cfg, NULL, GPA, AREA, &rsdp, &used, &err), -1);
    ck_assert_int_eq(x86_acpi_build(NULL, NULL, host, GPA, AREA, &rsdp, &used, &err), -1);
    /* A machine that is not built cannot describe its devices. */
    fake_machine_new(&fe);
    ck_assert_int_eq(x86_acpi_build(fe.m, &cfg, host, GPA, AREA, &rsdp, &used, &err), -1);
    ck_assert_msg(strstr(err.msg, "not built"), "%s", err.msg);
    /* Without a machine: only the platform's nodes; custom OEM IDs are space-padded. */
    snprintf(cfg.oem_id, sizeof(cfg.oem_id), "ACME");
    snprintf(cfg.oem_table_id, sizeof(cfg.oem_table_id), "BOX");
    cfg.oem_revision = 7;
    ck_assert_int_eq(x86_acpi_build(NULL, &cfg, host, GPA, AREA, &rsdp, &used, &err), 0);
    ck_assert(!memcmp(host + 9, "ACME  ", 6));
    const uint8_t *x = host + rd(host + 24, 8) - GPA;
    ck_assert(!memcmp(x + 10, "ACME  BOX     ", 14));
    ck_assert_uint_eq(rd(x + 24, 4), 7);
}
END_TEST

/* With a PCI host bridge the XSDT lists a third table, MCFG, after the DSDT. */
START_TEST(mcfg_with_pci)
{
    struct vdev_err err;
    fake_machine_new(&fe);
    struct vdev_pci_host_desc h = {.ecam_base = 0xe0000000,
                                   .buses = 2,
                                   .cf8_ports = true,
                                   .mmio32_base = 0xc0000000,
                                   .mmio32_size = 0x10000000,
                                   .intx_pic = "ioapic",
                                   .intx_lines = {16, 17, 18, 19}};
    ck_assert_msg(vdev_machine_add_pci(fe.m, &h, &err) == 0, "%s", err.msg);
    ck_assert_msg(fake_machine_build_string(&fe, "ram 16M", &err) == 0, "%s", err.msg);
    uint64_t rsdp;
    size_t used;
    ck_assert_int_eq(x86_acpi_build(fe.m, &cfg, host, GPA, AREA, &rsdp, &used, &err), 0);
    const uint8_t *x = host + rd(host + 24, 8) - GPA;
    ck_assert_uint_eq(rd(x + 4, 4), 36 + 24);
    ck_assert(sum(x, 36 + 24) == 0);
    const uint8_t *mcfg = host + rd(x + 52, 8) - GPA;
    ck_assert(!memcmp(mcfg, "MCFG", 4));
    ck_assert_uint_eq(rd(mcfg + 4, 4), 60);
    ck_assert(sum(mcfg, 60) == 0);
    ck_assert_uint_eq(rd(mcfg + 44, 8), 0xe0000000u); /* base */
    ck_assert_uint_eq(rd(mcfg + 52, 2), 0);           /* segment */
    ck_assert_uint_eq(mcfg[54], 0);                   /* buses 0-1 */
    ck_assert_uint_eq(mcfg[55], 1);
    ck_assert_uint_eq(mcfg + 60 - host, used);
}
END_TEST

/* ---- iasl ---- */

static const char *iasl_disassemble(const char *name, const uint8_t *data, size_t len)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_acpi_tables_XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    }
    return asl_disassemble(tmpdir, name, data, len);
}

static size_t len_of(const uint8_t *t)
{
    return (size_t)rd(t + 4, 4);
}

START_TEST(iasl_decompiles_every_table)
{
    machine(TWO_UART);
    struct tables t;
    build_at(&t, GPA);

    /* iasl cannot load a binary RSDP ("Loading an RSDP is not supported"): build_at checked
     * it field by field. */
    const char *dsl = iasl_disassemble("xsdt", t.xsdt, len_of(t.xsdt));
    asl_must_contain(dsl, "ACPI Table Address 0 : 0000000000080060");

    dsl = iasl_disassemble("facp", t.fadt, len_of(t.fadt));
    asl_must_contain(dsl, "Revision : 06");
    asl_must_contain(dsl, "Hardware Reduced (V5) : 1");
    asl_must_contain(dsl, "Reset Register Supported (V2) : 1");
    asl_must_contain(dsl, "Low Power S0 Idle (V5) : 0");

    dsl = iasl_disassemble("apic", t.madt, len_of(t.madt));
    asl_must_contain(dsl, "Subtable Type : 00 [Processor Local APIC]");
    asl_must_contain(dsl, "Local Apic ID : 01");
    asl_must_contain(dsl, "Subtable Type : 01 [I/O APIC]");
    asl_must_contain(dsl, "Address : FEC00000");
    asl_must_contain(dsl, "Subtable Type : 02 [Interrupt Source Override]");
    asl_must_contain(dsl, "Interrupt : 00000002");

    dsl = iasl_disassemble("dsdt", t.dsdt, len_of(t.dsdt));
    asl_must_contain(dsl, "Device (COM1)");
    asl_must_contain(dsl, "Name (_HID, EisaId (\"PNP0501\")");
    asl_must_contain(dsl, "Name (_UID, Zero)");
    asl_must_contain(dsl, "IO (Decode16, 0x03F8, // Range Minimum 0x03F8, // Range Maximum");
    asl_must_contain(dsl, "IRQNoFlags () {4}");
    asl_must_contain(dsl, "Device (COM2)");
    asl_must_contain(dsl, "IO (Decode16, 0x02F8,");
    asl_must_contain(dsl, "IRQNoFlags () {3}");
    asl_must_contain(dsl, "Device (PWRB) { Name (_HID, EisaId (\"PNP0C0C\")");
    asl_must_contain(dsl, "Device (GED0) { Name (_HID, \"ACPI0013\"");
    asl_must_contain(dsl, "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, ) { "
                          "0x00000009, }");
    asl_must_contain(dsl, "Method (_EVT, 1, Serialized)");
    asl_must_contain(dsl, "If ((Arg0 == 0x09)) { Notify (\\_SB.PWRB, 0x80)");
    asl_must_contain(dsl, "Name (\\_S5, Package (0x04)");
}
END_TEST

static Suite *acpi_tables_suite(void)
{
    Suite *s = suite_create("acpi_tables");
    TCase *tc = tcase_create("tables");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, layout_and_checksums);
    tcase_add_test(tc, unaligned_area);
    tcase_add_test(tc, fadt_fields);
    tcase_add_test(tc, dsdt_above_4g);
    tcase_add_test(tc, madt_entries_for_two_cpus);
    tcase_add_test(tc, too_small_area_fails_cleanly);
    tcase_add_test(tc, bad_config_and_machine);
    tcase_add_test(tc, mcfg_with_pci);
    tcase_add_test(tc, iasl_decompiles_every_table);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(acpi_tables_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
