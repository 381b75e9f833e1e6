/* lib/vfio's host side: `pass` host specs, and finding a host device in a fake sysfs with
 * every refusal (no VFIO, missing, unbound or on another driver, no IOMMU group, a group
 * shared with a device in use, no group file). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_sysfs.h"
#include <vfio/vfio_host.h>

static struct fake_sysfs fs;
static struct vfio_host_root root;

static void setup(void)
{
    fake_sysfs_new(&fs, true);
    root.sys = fs.sys;
    root.dev = fs.dev;
    /* an igb PF in group 1, its two VFs alone in groups 2 and 3 */
    fake_sysfs_add(&fs, "0000:01:00.0", 0x8086, 0x10c9, "igb", 1);
    fake_sysfs_add(&fs, "0000:01:10.2", 0x8086, 0x10ca, "igbvf", 3);
    fake_sysfs_add(&fs, "0000:01:10.0", 0x8086, 0x10ca, "vfio-pci", 2);
}

static void teardown(void)
{
    fake_sysfs_free(&fs);
}

static struct vfio_host_spec spec(const char *text)
{
    struct vfio_host_spec s;
    const char *why = NULL;
    ck_assert_msg(vfio_host_parse(text, &s, &why) == 0, "%s: %s", text, why);
    return s;
}

START_TEST(parse_forms)
{
    struct vfio_host_spec s = spec("pci:0000:01:10.0");
    ck_assert(!s.by_id);
    ck_assert_uint_eq(s.domain, 0);
    ck_assert_uint_eq(s.bus, 1);
    ck_assert_uint_eq(s.dev, 0x10);
    ck_assert_uint_eq(s.fn, 0);
    s = spec("pci:1:1f.7");
    ck_assert_uint_eq(s.bus, 1);
    ck_assert_uint_eq(s.dev, 0x1f);
    ck_assert_uint_eq(s.fn, 7);
    s = spec("pci:ffff:ff:1f.7");
    ck_assert_uint_eq(s.domain, 0xffff);
    ck_assert_uint_eq(s.bus, 0xff);
    s = spec("pci:0:2");
    ck_assert_uint_eq(s.dev, 2);
    ck_assert_uint_eq(s.fn, 0);
    s = spec("pci:0x8086/0x10ca");
    ck_assert(s.by_id);
    ck_assert_uint_eq(s.vendor, 0x8086);
    ck_assert_uint_eq(s.device, 0x10ca);
    ck_assert_uint_eq(s.index, 0);
    s = spec("pci:8086/10CA/12");
    ck_assert_uint_eq(s.device, 0x10ca);
    ck_assert_uint_eq(s.index, 12);
    char buf[32];
    vfio_host_spec_str(&s, buf, sizeof(buf));
    ck_assert_str_eq(buf, "0x8086/0x10ca/12");
    s = spec("pci:0:1.2");
    vfio_host_spec_str(&s, buf, sizeof(buf));
    ck_assert_str_eq(buf, "0000:00:01.2");
}
END_TEST

START_TEST(parse_refusals)
{
    static const char *const bad[] = {
        "0000:01:10.0",    "pci:",
        "pci:1",           "pci:0:0:0:0.0",
        "pci:0:20.0",      "pci:0:1f.8",
        "pci:100:0.0",     "pci:10000:0:0.0",
        "pci:0:1.",        "pci:0:1.0x",
        "pci:g:1.0",       "pci:0x10000/1",
        "pci:8086/",       "pci:8086/10ca/",
        "pci:8086/10ca/x", "pci:8086/10ca/1/2",
        "pci:/10ca",       "pci:8086/10ca/1234567",
        "pci:0:1.0.1",     "pci:0x:1.0",
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        const char *why = NULL;
        ck_assert_msg(vfio_host_parse(bad[k], NULL, &why) == -1, "%s accepted", bad[k]);
        ck_assert_ptr_nonnull(why);
        ck_assert(strncmp(why, "expected ", 9) == 0);
    }
    ck_assert_int_eq(vfio_host_parse("nope", NULL, NULL), -1);
}
END_TEST

static int resolve(const char *text, bool managed, struct vfio_host_dev *d,
                   struct vfio_host_why *why)
{
    struct vfio_host_spec s = spec(text);
    return vfio_host_resolve(&root, &s, managed, d, why);
}

START_TEST(by_address)
{
    struct vfio_host_dev d;
    struct vfio_host_why why;
    ck_assert_msg(resolve("pci:01:10.0", false, &d, &why) == 0, "%s", why.msg);
    ck_assert_str_eq(d.bdf, "0000:01:10.0");
    ck_assert_str_eq(d.driver, "vfio-pci");
    ck_assert_uint_eq(d.vendor, 0x8086);
    ck_assert_uint_eq(d.device, 0x10ca);
    ck_assert_uint_eq(d.group, 2);
}
END_TEST

/* The index counts equal devices in address order, not in directory order. */
START_TEST(by_ids_and_index)
{
    struct vfio_host_dev d;
    struct vfio_host_why why;
    ck_assert_int_eq(resolve("pci:0x8086/0x10ca", false, &d, &why), 0);
    ck_assert_str_eq(d.bdf, "0000:01:10.0");
    ck_assert_int_eq(resolve("pci:0x8086/0x10ca/1", true, &d, &why), 0);
    ck_assert_str_eq(d.bdf, "0000:01:10.2");
    ck_assert_str_eq(d.driver, "igbvf");
    ck_assert_uint_eq(d.group, 3);
}
END_TEST

static void refused(const char *text, bool managed, const char *msg, const char *hint)
{
    struct vfio_host_dev d;
    struct vfio_host_why why;
    ck_assert_int_eq(resolve(text, managed, &d, &why), -1);
    ck_assert_msg(strstr(why.msg, msg), "'%s' lacks '%s'", why.msg, msg);
    if (hint)
        ck_assert_msg(strstr(why.hint, hint), "'%s' lacks '%s'", why.hint, hint);
}

START_TEST(refusals)
{
    refused("pci:02:00.0", false, "no host PCI device 0000:02:00.0", "lspci -D");
    refused("pci:0x8086/0x1234", false, "no host PCI device has ids 8086:1234", "lspci -nn");
    refused("pci:0x8086/0x10ca/2", true,
            "the host has 2 devices with ids 8086:10ca, so there is no index 2", "from 0");
    refused("pci:0x8086/0x10c9/1", true, "the host has 1 device with ids", NULL);
    refused("pci:0x8086/0x10ca/1", false, "0000:01:10.2 is bound to igbvf, not vfio-pci",
            "or add 'managed'");
    fake_sysfs_add(&fs, "0000:03:00.0", 0x1af4, 0x1000, NULL, 5);
    refused("pci:3:0.0", false, "0000:03:00.0 is bound to no driver, not vfio-pci",
            "driver_override");
    fake_sysfs_add(&fs, "0000:04:00.0", 0x1af4, 0x1000, "vfio-pci", -1);
    refused("pci:4:0.0", false, "0000:04:00.0 is in no IOMMU group", "intel_iommu=on");
    /* a group shared with a device in use; an unbound one or a bridge is no problem */
    fake_sysfs_add(&fs, "0000:05:00.0", 0x1af4, 0x1000, "vfio-pci", 6);
    fake_sysfs_add(&fs, "0000:05:00.1", 0x1af4, 0x1000, NULL, 6);
    fake_sysfs_add(&fs, "0000:00:1c.0", 0x8086, 0x2448, "pcieport", 6);
    struct vfio_host_dev d;
    struct vfio_host_why why;
    ck_assert_msg(resolve("pci:5:0.0", false, &d, &why) == 0, "%s", why.msg);
    fake_sysfs_add(&fs, "0000:05:00.2", 0x1af4, 0x1000, "e1000e", 6);
    refused("pci:5:0.0", false,
            "0000:05:00.0 shares IOMMU group 6 with 0000:05:00.2, which e1000e uses",
            "unbind 0000:05:00.2 from e1000e");
    refused("pci:5:0.0", true, "shares IOMMU group 6", NULL);
    /* bound to vfio-pci but its group file is missing */
    fake_sysfs_add(&fs, "0000:07:00.0", 0x1af4, 0x1000, "vfio-pci", 7);
    char p[160];
    snprintf(p, sizeof(p), "%s/vfio/7", fs.dev);
    ck_assert_int_eq(unlink(p), 0);
    refused("pci:7:0.0", false, "no VFIO group file", NULL);
    ck_assert_int_eq(resolve("pci:7:0.0", true, &d, &why), 0); /* managed: bound later */
    /* a group that cannot be read */
    fake_sysfs_add(&fs, "0000:08:00.0", 0x1af4, 0x1000, "vfio-pci", 8);
    snprintf(p, sizeof(p), "rm -rf %s/kernel/iommu_groups/8/devices", fs.sys);
    ck_assert_int_eq(system(p), 0);
    refused("pci:8:0.0", false, "cannot read IOMMU group 8", NULL);
    /* a device whose id files are bad */
    fake_sysfs_add(&fs, "0000:09:00.0", 0x1af4, 0x1000, "vfio-pci", 9);
    snprintf(p, sizeof(p), "echo zz > %s/bus/pci/devices/0000:09:00.0/device", fs.sys);
    ck_assert_int_eq(system(p), 0);
    refused("pci:9:0.0", false, "cannot read its vendor and device ids", NULL);
}
END_TEST

START_TEST(no_vfio)
{
    char p[160];
    snprintf(p, sizeof(p), "%s/vfio/vfio", fs.dev);
    ck_assert_int_eq(unlink(p), 0);
    refused("pci:01:10.0", false, "the host has no VFIO", "modprobe vfio-pci");
}
END_TEST

START_TEST(no_sysfs)
{
    char p[160];
    snprintf(p, sizeof(p), "rm -rf %s/bus", fs.sys);
    ck_assert_int_eq(system(p), 0);
    refused("pci:0x8086/0x10ca", false, "cannot read", "sysfs");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vfio_host");
    TCase *tc = tcase_create("host");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, parse_forms);
    tcase_add_test(tc, parse_refusals);
    tcase_add_test(tc, by_address);
    tcase_add_test(tc, by_ids_and_index);
    tcase_add_test(tc, refusals);
    tcase_add_test(tc, no_vfio);
    tcase_add_test(tc, no_sysfs);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
