/* vdev vfio-pci, the device a `pass` makes, on a machine with a fake host: the host device
 * resolved and shown by dryrun, the options stored, and each refusal as one message with the
 * config position and a hint. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_embedder.h"
#include "fake_sysfs.h"
#include "vfio_pci_dev.h"
#include <vdev/pci.h>

extern const struct vdev_type vdev_module_vfio_pci;

static struct fake_embedder fe;
static struct fake_sysfs fs;
static struct vfio_host_root root;

static void setup(void)
{
    struct vdev_err err;
    vdev_register_type(&vdev_module_vfio_pci, &err); /* once per process; later calls refuse */
    fake_sysfs_new(&fs, true);
    root.sys = fs.sys;
    root.dev = fs.dev;
    vfio_pci_set_host_root(&root);
    fake_sysfs_add(&fs, "0000:01:00.0", 0x8086, 0x10c9, "igb", 1);
    fake_sysfs_add(&fs, "0000:01:10.0", 0x8086, 0x10ca, "vfio-pci", 2);
    fake_sysfs_add(&fs, "0000:01:10.2", 0x8086, 0x10ca, "igbvf", 3);
    memset(&fe, 0, sizeof(fe));
}

static void teardown(void)
{
    if (fe.m)
        fake_machine_free(&fe);
    vfio_pci_set_host_root(NULL);
    fake_sysfs_free(&fs);
}

static int build(const char *conf, struct vdev_err *err)
{
    fake_machine_new(&fe);
    struct vdev_pci_host_desc h = {.ecam_base = 0xe0000000,
                                   .buses = 1,
                                   .cf8_ports = true,
                                   .mmio32_base = 0xc0000000,
                                   .mmio32_size = 0x10000000,
                                   .io_base = 0xc000,
                                   .io_size = 0x1000,
                                   .intx_pic = "ioapic",
                                   .intx_lines = {16, 17, 18, 19}};
    ck_assert_int_eq(vdev_machine_add_pci(fe.m, &h, err), 0);
    return fake_machine_build_string(&fe, conf, err);
}

static const char *printout(void)
{
    static char buf[8192];
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    vdev_machine_print(fe.m, f);
    fclose(f);
    return buf;
}

START_TEST(pass_by_address)
{
    struct vdev_err err;
    ck_assert_msg(build("ram 16M\npass loc pci:0:3.0=pci:0000:01:10.0 mac 00:11:22:33:44:55 "
                        "vlan 12 name vf0",
                        &err) == 0,
                  "%s", err.msg);
    struct vdev *d = vdev_machine_find_device(fe.m, "vf0");
    ck_assert_ptr_nonnull(d);
    const struct vfio_pci *p = vdev_state(d);
    ck_assert_str_eq(p->host.bdf, "0000:01:10.0");
    ck_assert(p->mac_given && p->mac[5] == 0x55);
    ck_assert(p->vlan_given && p->vlan == 12);
    ck_assert(!p->managed);
    ck_assert_uint_eq(vdev_loc(d)->kind, VDEV_LOC_PCI);
    ck_assert_uint_eq(vdev_loc(d)->dev, 3);
    const char *out = printout();
    ck_assert_msg(strstr(out, "host 0000:01:10.0 (8086:10ca, vfio-pci, IOMMU group 2) mac "
                              "00:11:22:33:44:55 vlan 12"),
                  "%s", out);
}
END_TEST

START_TEST(pass_by_ids_managed)
{
    struct vdev_err err;
    ck_assert_msg(build("ram 16M\npass loc pci:0x8086/0x10ca/1 managed name vf1", &err) == 0, "%s",
                  err.msg);
    const struct vfio_pci *p = vdev_state(vdev_machine_find_device(fe.m, "vf1"));
    ck_assert_str_eq(p->host.bdf, "0000:01:10.2");
    ck_assert(p->managed);
    ck_assert_msg(strstr(printout(), "host 0000:01:10.2 (8086:10ca, igbvf, IOMMU group 3) managed"),
                  "%s", printout());
}
END_TEST

static void refused(const char *conf, const char *msg)
{
    struct vdev_err err;
    ck_assert_int_eq(build(conf, &err), -1);
    ck_assert_msg(strstr(err.msg, msg), "'%s' lacks '%s'", err.msg, msg);
    fake_machine_free(&fe);
    fe.m = NULL;
}

START_TEST(refusals)
{
    refused("ram 16M\npass loc pci:0:3.0=pci:0000:02:00.0",
            "test.conf:2:20: vdev vfio-pci: no host PCI device 0000:02:00.0 (hint: lspci -D");
    refused(
        "ram 16M\npass loc pci:0x8086/0x10ca/1",
        "test.conf:2:10: vdev vfio-pci: host device 0000:01:10.2 is bound to igbvf, not vfio-pci "
        "(hint: bind it:");
    refused("ram 16M\npass loc pci:0:3.0=pci:zz",
            "test.conf:2:20: vdev vfio-pci: option 'host': bad host device 'pci:zz': expected");
    refused("ram 16M\nvdev vfio-pci",
            "test.conf:2:6: vdev vfio-pci: no host device given (hint: pass loc");
    refused("ram 16M\npass loc pci:0x8086/0x10ca mac 01:00:00:00:00:01",
            "test.conf:2:32: vdev vfio-pci: option 'mac': bad MAC address '01:00:00:00:00:01' "
            "(multicast");
    refused("ram 16M\npass loc pci:0x8086/0x10ca vlan 4096", "option 'vlan'");
    refused("ram 16M\npass loc pci:0x8086/0x10ca loc mem:0x1000", "a second 'loc'");
    refused("ram 16M\nvdev vfio-pci host pci:1:10.0 loc 0xd0000000",
            "vfio-pci cannot sit in memory space");
    char p[160];
    snprintf(p, sizeof(p), "%s/vfio/vfio", fs.dev);
    ck_assert_int_eq(unlink(p), 0);
    refused("ram 16M\npass loc pci:0x8086/0x10ca",
            "test.conf:2:10: vdev vfio-pci: the host has no VFIO");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vfio_pci_module");
    TCase *tc = tcase_create("module");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, pass_by_address);
    tcase_add_test(tc, pass_by_ids_managed);
    tcase_add_test(tc, refusals);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
