/* hostdev's sysfs side (lib/hostdev/hostdev_sysfs.c, hostdev_names.c) on a fake tree: a VF's
 * PF, index, interface and driver, each way the tree can fail to say so, and the exact writes
 * that move a `managed` VF to vfio-pci and back, with their failures. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hostdev_fake.h"

static struct hd_fake f;
static struct hd_ctx c;
static struct vdev_err err;
static struct vdev_hostdev_vf vf;

static void setup(void)
{
    hd_fake_init(&f);
    ck_assert_int_eq(hd_ctx_init(&c, &f.env, &f.hooks, &err), 0);
    memset(&err, 0, sizeof(err));
}

static void teardown(void)
{
    hd_ctx_close(&c);
    hd_fake_fini(&f);
}

START_TEST(addresses_and_names)
{
    char out[VDEV_HOSTDEV_BDF_MAX];
    static const struct {
        const char *in, *out;
    } ok[] = {{"0000:01:10.0", "0000:01:10.0"},
              {"01:10.2", "0000:01:10.2"},
              {"ABCD:EF:1F.7", "abcd:ef:1f.7"},
              {"ffff:ff:00.0", "ffff:ff:00.0"}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ck_assert_int_eq(hd_parse_bdf(ok[i].in, out), 0);
        ck_assert_str_eq(out, ok[i].out);
    }
    static const char *const bad[] = {NULL,           "",           "0:1:2.3",       "01:10.8",
                                      "01:20.0",      "0000:01:10", "0000:01:10.0x", "0000-01:10.0",
                                      "000g:01:10.0", "01:10:0",    "../01:10.0",    " 01:10.0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(hd_parse_bdf(bad[i], out) == -1, "'%s'", bad[i] ? bad[i] : "NULL");
    ck_assert(hd_name_ok("igbvf", 32) && hd_name_ok("vfio-pci", 32) && hd_name_ok("a.b_c:1", 32));
    ck_assert(!hd_name_ok("", 32) && !hd_name_ok(".", 32) && !hd_name_ok("..", 32) &&
              !hd_name_ok("a/b", 32) && !hd_name_ok("a b", 32) && !hd_name_ok("abcd", 4) &&
              !hd_name_ok(NULL, 32));
    ck_assert(hd_ifname_ok("enp1s0") && hd_ifname_ok("eth0.100") && hd_ifname_ok("\xc3\xa9t"));
    ck_assert(!hd_ifname_ok("") && !hd_ifname_ok("a:b") && !hd_ifname_ok("a/b") &&
              !hd_ifname_ok("a\nb") && !hd_ifname_ok("0123456789abcdef") && !hd_ifname_ok("..") &&
              !hd_ifname_ok("a\x7f"));
    char mac[18];
    hd_format_mac((const uint8_t[6]){0, 0x11, 0xa2, 0x33, 0x44, 0xff}, mac);
    ck_assert_str_eq(mac, "00:11:a2:33:44:ff");
}
END_TEST

START_TEST(finds_a_vf)
{
    ck_assert_int_eq(hd_find_vf(&c, FAKE_VF1, &vf, &err), 0);
    ck_assert_str_eq(vf.bdf, FAKE_VF1);
    ck_assert_str_eq(vf.pf_bdf, FAKE_PF);
    ck_assert_str_eq(vf.pf_ifname, FAKE_IFNAME);
    ck_assert_int_eq(vf.pf_ifindex, FAKE_IFINDEX);
    ck_assert_uint_eq(vf.vf, 1);
    ck_assert_str_eq(vf.driver, "igbvf");
    hd_fake_bind(&f, FAKE_VF0, NULL);
    ck_assert_int_eq(hd_find_vf(&c, FAKE_VF0, &vf, &err), 0);
    ck_assert_uint_eq(vf.vf, 0);
    ck_assert_str_eq(vf.driver, "");
    /* through the API: the short form, and the environment's sysfs */
    ck_assert_int_eq(vdev_hostdev_find(&f.env, "01:10.2", &vf, &err), 0);
    ck_assert_str_eq(vf.bdf, FAKE_VF1);
    ck_assert_int_eq(vdev_hostdev_find(&f.env, "1:10.2", &vf, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_INVAL);
    ck_assert_str_eq(err.msg,
                     "'1:10.2' is not a PCI address (expected DDDD:BB:DD.F, e.g. 0000:01:10.0)");
    ck_assert_int_eq(vdev_hostdev_find(&f.env, FAKE_VF0, NULL, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_INVAL);
    struct vdev_hostdev_env small = {.size = sizeof(size_t)};
    ck_assert_int_eq(vdev_hostdev_find(&small, FAKE_VF0, &vf, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_INVAL);
    ck_assert_str_eq(err.msg, "struct vdev_hostdev_env of 8 bytes: set its size to sizeof");
}
END_TEST

/* The messages of a tree that does not describe a usable VF, each with what to do. */
START_TEST(trees_that_say_no)
{
    char want[512];
    ck_assert_int_eq(hd_find_vf(&c, "0000:02:00.0", &vf, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_NOENT);
    snprintf(want, sizeof(want),
             "no PCI device 0000:02:00.0 (%s/bus/pci/devices/0000:02:00.0: No such file or "
             "directory)",
             f.sysfs);
    ck_assert_str_eq(err.msg, want);

    ck_assert_int_eq(hd_find_vf(&c, FAKE_PF, &vf, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_NOENT);
    snprintf(want, sizeof(want),
             "0000:01:00.0 is not an SR-IOV virtual function (no physfn) (hint: name a VF of the "
             "NIC, one of the virtfn* links of its PF in %s/bus/pci/devices)",
             f.sysfs);
    ck_assert_str_eq(err.msg, want);

    hd_fake_link(&f, "bus/pci/devices/" FAKE_VF0 "/physfn", "../not-a-device");
    ck_assert_int_eq(hd_find_vf(&c, FAKE_VF0, &vf, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "cannot read its PF from"));
    ck_assert_ptr_nonnull(strstr(err.msg, "/physfn (not a PCI address)"));
    hd_fake_link(&f, "bus/pci/devices/" FAKE_VF0 "/physfn", "../" FAKE_PF);

    hd_fake_rm(&f, "bus/pci/devices/" FAKE_PF "/virtfn0");
    hd_fake_link(&f, "bus/pci/devices/" FAKE_PF "/virtfn00", "../" FAKE_VF0); /* not a name */
    ck_assert_int_eq(hd_find_vf(&c, FAKE_VF0, &vf, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_NOENT);
    snprintf(want, sizeof(want),
             "0000:01:10.0 is not among the VFs of its PF 0000:01:00.0 (no virtfnN link in "
             "%s/bus/pci/devices/0000:01:00.0 names it)",
             f.sysfs);
    ck_assert_str_eq(err.msg, want);

    hd_fake_rm(&f, "bus/pci/devices/" FAKE_PF "/net/" FAKE_IFNAME "/ifindex");
    ck_assert_int_eq(hd_find_vf(&c, FAKE_VF1, &vf, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "0000:01:10.2: cannot read the index of enp1s0 from"));
    ck_assert_ptr_nonnull(strstr(err.msg, "/ifindex: No such file or directory"));
    hd_fake_file(&f, "bus/pci/devices/" FAKE_PF "/net/" FAKE_IFNAME "/ifindex", "4x\n");
    ck_assert_int_eq(hd_find_vf(&c, FAKE_VF1, &vf, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "/ifindex (not a number)"));
    hd_fake_file(&f, "bus/pci/devices/" FAKE_PF "/net/" FAKE_IFNAME "/ifindex", "0\n");
    ck_assert_int_eq(hd_find_vf(&c, FAKE_VF1, &vf, &err), -1);

    hd_fake_rm(&f, "bus/pci/devices/" FAKE_PF "/net/" FAKE_IFNAME);
    ck_assert_int_eq(hd_find_vf(&c, FAKE_VF1, &vf, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_UNSUPPORTED);
    snprintf(want, sizeof(want),
             "0000:01:10.2: its PF 0000:01:00.0 has no network interface "
             "(%s/bus/pci/devices/0000:01:00.0/net is empty or missing) (hint: is the PF's NIC "
             "driver loaded?)",
             f.sysfs);
    ck_assert_str_eq(err.msg, want);

    hd_fake_file(&f, "bus/pci/devices/" FAKE_PF "/net/eth0", "");
    hd_fake_file(&f, "bus/pci/devices/" FAKE_PF "/net/eth1", "");
    ck_assert_int_eq(hd_find_vf(&c, FAKE_VF1, &vf, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "0000:01:10.2: its PF 0000:01:00.0 has 2 network "
                                          "interfaces ("));
    ck_assert_ptr_nonnull(strstr(err.msg, "...): a PF with several ports is not supported"));

    hd_fake_rm(&f, "bus/pci/devices/" FAKE_PF "/net/eth1");
    hd_fake_rm(&f, "bus/pci/devices/" FAKE_PF "/net/eth0");
    hd_fake_file(&f, "bus/pci/devices/" FAKE_PF "/net/a:b", "");
    ck_assert_int_eq(hd_find_vf(&c, FAKE_VF1, &vf, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "its PF's interface name in"));
}
END_TEST

START_TEST(current_driver)
{
    char d[32];
    ck_assert_int_eq(hd_current_driver(&c, FAKE_VF0, d, sizeof(d)), 1);
    ck_assert_str_eq(d, "igbvf");
    hd_fake_bind(&f, FAKE_VF0, NULL);
    ck_assert_int_eq(hd_current_driver(&c, FAKE_VF0, d, sizeof(d)), 1);
    ck_assert_str_eq(d, "");
    ck_assert_int_eq(hd_current_driver(&c, "0000:09:00.0", d, sizeof(d)), 0);
    ck_assert_str_eq(d, "");
}
END_TEST

START_TEST(binds_to_vfio_with_exact_writes)
{
    bool touched;
    ck_assert_int_eq(hd_bind_vfio(&c, FAKE_VF0, "igbvf", &touched, &err), 0);
    ck_assert(touched);
    ck_assert_str_eq(f.writes, "bus/pci/devices/0000:01:10.0/driver_override=vfio-pci\n"
                               "bus/pci/devices/0000:01:10.0/driver/unbind=0000:01:10.0\n"
                               "bus/pci/drivers_probe=0000:01:10.0\n");
    ck_assert_str_eq(hd_fake_driver(&f, FAKE_VF0), "vfio-pci");
    /* already there: nothing to do */
    f.writes[0] = '\0';
    ck_assert_int_eq(hd_bind_vfio(&c, FAKE_VF0, "vfio-pci", &touched, &err), 0);
    ck_assert(!touched);
    ck_assert_str_eq(f.writes, "");
    /* no driver before: no unbind */
    hd_fake_bind(&f, FAKE_VF1, NULL);
    ck_assert_int_eq(hd_bind_vfio(&c, FAKE_VF1, "", &touched, &err), 0);
    ck_assert_str_eq(f.writes, "bus/pci/devices/0000:01:10.2/driver_override=vfio-pci\n"
                               "bus/pci/drivers_probe=0000:01:10.2\n");
}
END_TEST

START_TEST(binding_failures)
{
    bool touched;
    /* vfio-pci not loaded: the probe leaves it without a driver */
    f.vfio_loaded = false;
    ck_assert_int_eq(hd_bind_vfio(&c, FAKE_VF0, "igbvf", &touched, &err), -1);
    ck_assert(touched);
    ck_assert_int_eq(err.code, VDEV_E_IO);
    ck_assert_str_eq(err.msg,
                     "0000:01:10.0: vfio-pci did not take it (its driver now: none) (hint: "
                     "modprobe vfio-pci)");
    f.vfio_loaded = true;
    hd_fake_bind(&f, FAKE_VF0, "igbvf");
    /* not root: the first write fails, nothing was touched */
    f.nwrites = 0;
    f.write_fail_at = 1;
    f.write_errno = EACCES;
    ck_assert_int_eq(hd_bind_vfio(&c, FAKE_VF0, "igbvf", &touched, &err), -1);
    ck_assert(!touched);
    ck_assert_int_eq(err.code, VDEV_E_PERM);
    char want[512];
    snprintf(want, sizeof(want),
             "0000:01:10.0: binding it to vfio-pci: writing "
             "%s/bus/pci/devices/0000:01:10.0/driver_override: Permission denied (hint: moving a "
             "VF between drivers needs root)",
             f.sysfs);
    ck_assert_str_eq(err.msg, want);
    /* the unbind fails after the override went through */
    f.nwrites = 0;
    f.write_fail_at = 2;
    f.write_errno = EBUSY;
    ck_assert_int_eq(hd_bind_vfio(&c, FAKE_VF0, "igbvf", &touched, &err), -1);
    ck_assert(touched);
    ck_assert_int_eq(err.code, VDEV_E_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "0000:01:10.0: unbinding it from its driver: writing"));
    ck_assert_ptr_nonnull(strstr(err.msg, "/driver/unbind: Device or resource busy"));
    /* a kernel without driver_override */
    f.write_fail_at = 0;
    hd_fake_rm(&f, "bus/pci/devices/" FAKE_VF0 "/driver_override");
    ck_assert_int_eq(hd_bind_vfio(&c, FAKE_VF0, "igbvf", &touched, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "/driver_override: No such file or directory (hint: "
                                          "the kernel has no driver_override: 3.16 or later is "
                                          "needed)"));
}
END_TEST

START_TEST(gives_back_with_exact_writes)
{
    hd_fake_bind(&f, FAKE_VF0, "vfio-pci");
    hd_fake_file(&f, "bus/pci/devices/" FAKE_VF0 "/driver_override", "vfio-pci");
    ck_assert_int_eq(hd_give_back(&c, FAKE_VF0, "igbvf", &err), 0);
    ck_assert_str_eq(f.writes, "bus/pci/devices/0000:01:10.0/driver/unbind=0000:01:10.0\n"
                               "bus/pci/devices/0000:01:10.0/driver_override=\\n\n"
                               "bus/pci/drivers_probe=0000:01:10.0\n");
    ck_assert_str_eq(hd_fake_driver(&f, FAKE_VF0), "igbvf");
    /* it had no driver: it stays without one, no probe */
    f.writes[0] = '\0';
    hd_fake_bind(&f, FAKE_VF0, "vfio-pci");
    ck_assert_int_eq(hd_give_back(&c, FAKE_VF0, "", &err), 0);
    ck_assert_str_eq(f.writes, "bus/pci/devices/0000:01:10.0/driver/unbind=0000:01:10.0\n"
                               "bus/pci/devices/0000:01:10.0/driver_override=\\n\n");
    ck_assert_str_eq(hd_fake_driver(&f, FAKE_VF0), "");
    /* a bind that stopped half way (override written, still on its driver): clear only */
    f.writes[0] = '\0';
    hd_fake_bind(&f, FAKE_VF0, "igbvf");
    ck_assert_int_eq(hd_give_back(&c, FAKE_VF0, "igbvf", &err), 0);
    ck_assert_str_eq(f.writes, "bus/pci/devices/0000:01:10.0/driver_override=\\n\n");
}
END_TEST

START_TEST(giving_back_failures)
{
    char want[512];
    /* the probe finds no driver (no ID match): bound by name */
    hd_fake_bind(&f, FAKE_VF0, "vfio-pci");
    f.native_probe = false;
    ck_assert_int_eq(hd_give_back(&c, FAKE_VF0, "igbvf", &err), 0);
    ck_assert_str_eq(f.writes, "bus/pci/devices/0000:01:10.0/driver/unbind=0000:01:10.0\n"
                               "bus/pci/devices/0000:01:10.0/driver_override=\\n\n"
                               "bus/pci/drivers_probe=0000:01:10.0\n"
                               "bus/pci/drivers/igbvf/bind=0000:01:10.0\n");
    ck_assert_str_eq(hd_fake_driver(&f, FAKE_VF0), "igbvf");
    /* ... and where that driver is gone too: an error with the command to use */
    hd_fake_bind(&f, FAKE_VF0, "vfio-pci");
    hd_fake_rm(&f, "bus/pci/drivers/igbvf");
    ck_assert_int_eq(hd_give_back(&c, FAKE_VF0, "igbvf", &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_IO);
    snprintf(want, sizeof(want),
             "0000:01:10.0: it did not go back to igbvf (its driver now: none) (hint: echo "
             "0000:01:10.0 > %s/bus/pci/drivers/igbvf/bind)",
             f.sysfs);
    ck_assert_str_eq(err.msg, want);
    /* another driver took it */
    hd_fake_bind(&f, FAKE_VF0, "igb");
    ck_assert_int_eq(hd_give_back(&c, FAKE_VF0, "igbvf", &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "it did not go back to igbvf (its driver now: igb)"));
    /* each write failing */
    for (unsigned at = 1; at <= 3; at++) {
        hd_fake_bind(&f, FAKE_VF1, "vfio-pci");
        f.native_probe = true;
        f.nwrites = 0;
        f.write_fail_at = at;
        f.write_errno = EPERM;
        ck_assert_int_eq(hd_give_back(&c, FAKE_VF1, "igbvf", &err), -1);
        ck_assert_int_eq(err.code, VDEV_E_PERM);
        static const char *const what[] = {"unbinding it from vfio-pci",
                                           "clearing its driver_override",
                                           "giving it back to its driver"};
        ck_assert_msg(strstr(err.msg, what[at - 1]), "%u: %s", at, err.msg);
        ck_assert_ptr_nonnull(strstr(err.msg, "(hint: moving a VF between drivers needs root)"));
    }
}
END_TEST

/* The real writer: a plain file takes the value; a link or a missing attribute does not. */
START_TEST(real_writes)
{
    char p[256], l[256];
    snprintf(p, sizeof(p), "%s/bus/pci/drivers_probe", f.sysfs);
    ck_assert_int_eq(hd_real_sys_write(NULL, p, "0000:01:10.0"), 0);
    ck_assert_str_eq(hd_fake_attr(&f, "bus/pci/drivers_probe"), "0000:01:10.0");
    snprintf(l, sizeof(l), "%s/bus/pci/planted", f.sysfs);
    ck_assert_int_eq(symlink(p, l), 0);
    ck_assert_int_eq(hd_real_sys_write(NULL, l, "x"), -ELOOP);
    snprintf(p, sizeof(p), "%s/bus/pci/none", f.sysfs);
    ck_assert_int_eq(hd_real_sys_write(NULL, p, "x"), -ENOENT);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hostdev_sysfs");
    TCase *tc = tcase_create("sysfs");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, addresses_and_names);
    tcase_add_test(tc, finds_a_vf);
    tcase_add_test(tc, trees_that_say_no);
    tcase_add_test(tc, current_driver);
    tcase_add_test(tc, binds_to_vfio_with_exact_writes);
    tcase_add_test(tc, binding_failures);
    tcase_add_test(tc, gives_back_with_exact_writes);
    tcase_add_test(tc, giving_back_failures);
    tcase_add_test(tc, real_writes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
