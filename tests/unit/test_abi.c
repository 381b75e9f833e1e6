/* The stable-ABI rules a program can observe: versions, flags that must be 0, tables that
 * must carry their size, error codes (docs/api-stability.md). The old-binary test is
 * tests/abi. */
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <vdev/version.h>

#include "fake_embedder.h"

START_TEST(version_matches_the_headers)
{
    char want[32];
    snprintf(want, sizeof(want), "%d.%d.%d", VDEV_VERSION_MAJOR, VDEV_VERSION_MINOR,
             VDEV_VERSION_PATCH);
    ck_assert_str_eq(vdev_version(), want);
    ck_assert_uint_eq(vdev_version_number(), VDEV_VERSION_NUMBER);
    ck_assert(VDEV_VERSION_CHECK(0, 2, 0));
    ck_assert(!VDEV_VERSION_CHECK(VDEV_VERSION_MAJOR + 1, 0, 0));
}
END_TEST

START_TEST(create_wants_flags_zero_and_a_sized_table)
{
    struct vdev_err err;
    memset(&err, 0, sizeof(err));
    const struct vdev_embedder_ops sized = {.size = sizeof(sized)};
    ck_assert_ptr_null(vdev_machine_create(&sized, NULL, 1, &err));
    ck_assert_int_eq(err.code, VDEV_E_INVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "unknown flags 0x1"));
    const struct vdev_embedder_ops unsized = {.log = NULL};
    ck_assert_ptr_null(vdev_machine_create(&unsized, NULL, 0, &err));
    ck_assert_int_eq(err.code, VDEV_E_INVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "set .size = sizeof(struct vdev_embedder_ops)"));
    ck_assert_ptr_null(vdev_machine_new(&unsized, NULL));
    struct vdev_machine *m = vdev_machine_create(&sized, NULL, 0, &err);
    ck_assert_ptr_nonnull(m);
    vdev_machine_free(m);
    m = vdev_machine_create(NULL, NULL, 0, &err); /* no hooks at all is fine */
    ck_assert_ptr_nonnull(m);
    vdev_machine_free(m);
}
END_TEST

/* A table cut before a hook (an embedder built before it existed): the hook is NULL even
 * if the bytes after the table hold a pointer. */
static int stops;
static void count_stop(void *ctx, int status)
{
    stops++;
}

START_TEST(hooks_past_the_size_are_null)
{
    struct fake_embedder fe;
    struct vdev_err err;
    fake_machine_new(&fe);
    fe.ops.request_stop = count_stop;
    fe.ops.size = offsetof(struct vdev_embedder_ops, request_stop);
    ck_assert_msg(fake_machine_build_string(&fe, "ram 1M vdev testdev", &err) == 0, "%s", err.msg);
    vdev_request_stop(vdev_machine_device(fe.m, 0), 3);
    ck_assert_int_eq(vdev_machine_stop_status(fe.m), 3);
    ck_assert_int_eq(stops, 0);
    fake_machine_free(&fe);
}
END_TEST

START_TEST(error_codes)
{
    struct vdev_err err;
    ck_assert_uint_eq(sizeof(err), VDEV_ERR_MAX); /* the code did not grow the struct */
    ck_assert_int_eq(vdev_err_set(&err, "x %d", 1), -1);
    ck_assert_int_eq(err.code, VDEV_E_FAILED);
    ck_assert_str_eq(err.msg, "x 1");
    ck_assert_int_eq(vdev_err_setc(&err, VDEV_E_NOENT, "y"), -1);
    ck_assert_int_eq(err.code, VDEV_E_NOENT);
    ck_assert_str_eq(vdev_errc_name(VDEV_E_NOENT), "VDEV_E_NOENT");
    ck_assert_str_eq(vdev_errc_name(VDEV_E_ABI), "VDEV_E_ABI");
    ck_assert_str_eq(vdev_errc_name(-1), "VDEV_E_?");
    ck_assert_str_eq(vdev_errc_name(1000), "VDEV_E_?");
}
END_TEST

START_TEST(config_vars_through_the_accessor)
{
    size_t n = 0;
    while (vdev_config_var_at(n))
        n++;
    ck_assert_uint_ge(n, 5);
    ck_assert_ptr_null(vdev_config_var_at(n + 100));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("abi");
    TCase *tc = tcase_create("abi");
    tcase_add_test(tc, version_matches_the_headers);
    tcase_add_test(tc, create_wants_flags_zero_and_a_sized_table);
    tcase_add_test(tc, hooks_past_the_size_are_null);
    tcase_add_test(tc, error_codes);
    tcase_add_test(tc, config_vars_through_the_accessor);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
