/* The module loader: search path, ABI refusal, missing modules with "did you mean". */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "fake_embedder.h"

static struct fake_embedder fe;
static struct vdev_err err;

static void setup(void)
{
    memset(&err, 0, sizeof(err));
    fake_machine_new(&fe);
}

static void teardown(void)
{
    fake_machine_free(&fe);
}

START_TEST(loads_module_from_search_path)
{
    ck_assert_msg(fake_machine_build_string(&fe, "ram 1M vdev testdev", &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(vdev_machine_device_count(fe.m), 1);
    ck_assert_str_eq(vdev_type_name(vdev_machine_device(fe.m, 0)), "testdev");
}
END_TEST

START_TEST(two_instances_one_module)
{
    ck_assert_msg(fake_machine_build_string(&fe,
                                            "ram 1M vdev ser8250 vdev ser8250 loc io:0x2f8 "
                                            "intr ioapic:3",
                                            &err) == 0,
                  "%s", err.msg);
    ck_assert_uint_eq(vdev_machine_device_count(fe.m), 2);
}
END_TEST

START_TEST(missing_module_did_you_mean)
{
    ck_assert_int_eq(fake_machine_build_string(&fe, "ram 1M\nvdev ser8520", &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_NOENT);
    ck_assert_ptr_nonnull(strstr(err.msg, "test.conf:2:6: vdev ser8520: no such device module: "
                                          "vdev-ser8520.so is not in "));
    ck_assert_ptr_nonnull(strstr(err.msg, "(did you mean 'ser8250'?)"));
}
END_TEST

START_TEST(wrong_abi_refused)
{
    ck_assert_int_eq(fake_machine_build_string(&fe, "ram 1M vdev badabi", &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_ABI);
    /* The message names the module, its file and both versions. */
    ck_assert_ptr_nonnull(strstr(err.msg, "vdev badabi: "));
    ck_assert_ptr_nonnull(strstr(err.msg, "vdev-badabi.so: module built for vdev ABI 42, this "
                                          "vdevkit has ABI 2"));
}
END_TEST

/* ABI 1 came before the sized tables: such a module would be read past its tables. */
START_TEST(old_abi_refused)
{
    ck_assert_int_eq(fake_machine_build_string(&fe, "ram 1M vdev oldabi", &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_ABI);
    ck_assert_ptr_nonnull(strstr(err.msg, "vdev oldabi: "));
    ck_assert_ptr_nonnull(strstr(err.msg, "vdev-oldabi.so: module built for vdev ABI 1, this "
                                          "vdevkit has ABI 2 (rebuild the module"));
}
END_TEST

START_TEST(not_a_module_refused)
{
    ck_assert_int_eq(fake_machine_build_string(&fe, "ram 1M vdev nosym", &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_ABI);
    ck_assert_ptr_nonnull(strstr(err.msg, "is not a vdevkit module (no symbol vdev_module_nosym)"));
}
END_TEST

START_TEST(type_names_cannot_reach_outside)
{
    ck_assert_int_eq(fake_machine_build_string(&fe, "ram 1M vdev ../../tmp/x", &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.msg, "vdev ../../tmp/x: not a device type name"));
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_int_eq(fake_machine_build_string(&fe, "ram 1M vdev Ser8250", &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a device type name"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("loader");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, loads_module_from_search_path);
    tcase_add_test(tc, two_instances_one_module);
    tcase_add_test(tc, missing_module_did_you_mean);
    tcase_add_test(tc, wrong_abi_refused);
    tcase_add_test(tc, old_abi_refused);
    tcase_add_test(tc, not_a_module_refused);
    tcase_add_test(tc, type_names_cannot_reach_outside);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    /* the real modules, then the test-only ones */
    setenv("VDEVKIT_MODULE_PATH", BUILD_MODULE_DIR ":" TEST_MODULE_DIR, 1);
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
