/* The FADT with and without a CMOS RTC (vdev mc146818): x86_acpi_config_devices clears
 * "no CMOS RTC" and names the century byte (vmm/acpi_tables.c, linked from vdevkit_vmm as in
 * test_acpi_tables). The device's own DSDT node is checked in test_mc146818. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acpi_tables.h"

#include "fake_embedder.h"

#define AREA 0x10000
#define GPA  0x80000ull

static struct fake_embedder fe;
static uint8_t *area;

static void setup(void)
{
    area = calloc(1, AREA);
    ck_assert_ptr_nonnull(area);
    fake_machine_new(&fe);
}

static void teardown(void)
{
    free(area);
    fake_machine_free(&fe);
}

static uint64_t le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Builds `conf`, then the tables with the VMM's defaults (no VGA, no CMOS RTC) adapted to
 * the devices; returns the FADT. */
static const uint8_t *fadt_of(const char *conf)
{
    struct vdev_err err;
    ck_assert_msg(fake_machine_build_string(&fe, conf, &err) == 0, "build: %s", err.msg);
    struct x86_acpi_config cfg;
    x86_acpi_config_init(&cfg, 1);
    cfg.ioapic_id = 1;
    cfg.iapc_boot_arch = X86_ACPI_BOOT_NO_VGA | X86_ACPI_BOOT_NO_CMOS_RTC;
    x86_acpi_config_devices(&cfg, fe.m);
    uint64_t rsdp;
    size_t used;
    ck_assert_msg(x86_acpi_build(fe.m, &cfg, area, GPA, AREA, &rsdp, &used, &err) == 0, "%s",
                  err.msg);
    const uint8_t *r = area + (rsdp - GPA);
    const uint8_t *xsdt = area + (le(r + 24, 8) - GPA);
    const uint8_t *fadt = area + (le(xsdt + 36, 8) - GPA);
    ck_assert(!memcmp(fadt, "FACP", 4));
    uint8_t sum = 0;
    for (unsigned i = 0; i < le(fadt + 4, 4); i++)
        sum = (uint8_t)(sum + fadt[i]);
    ck_assert_uint_eq(sum, 0);
    return fadt;
}

START_TEST(without_rtc_fadt_says_none)
{
    const uint8_t *f = fadt_of("ram 16M vdev ser8250 hostdev /dev/null");
    ck_assert_uint_eq(le(f + 109, 2), X86_ACPI_BOOT_NO_VGA | X86_ACPI_BOOT_NO_CMOS_RTC);
    ck_assert_uint_eq(f[108], 0);
}
END_TEST

START_TEST(with_rtc_fadt_announces_it)
{
    const uint8_t *f = fadt_of("ram 16M vdev ser8250 hostdev /dev/null vdev mc146818");
    ck_assert_uint_eq(le(f + 109, 2), X86_ACPI_BOOT_NO_VGA);
    ck_assert_uint_eq(f[108], 0x32); /* CENTURY */
}
END_TEST

static Suite *acpi_rtc_suite(void)
{
    Suite *s = suite_create("acpi_rtc");
    TCase *tc = tcase_create("fadt");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, without_rtc_fadt_says_none);
    tcase_add_test(tc, with_rtc_fadt_announces_it);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(acpi_rtc_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
