/* Guest-memory accessors: bounds, overflow, ROM, gaps, regions side by side. */
#include <check.h>
#include <string.h>

#include "fake_embedder.h"

static struct fake_embedder fe;

static void setup(void)
{
    struct vdev_err err;
    fake_machine_new(&fe);
    /* two adjacent RAM regions, a hole, then ROM */
    if (fake_machine_build_string(&fe, "ram 0,1M ram 1M,1M rom 0x400000,0x2000", &err))
        ck_abort_msg("%s", err.msg);
}

static void teardown(void)
{
    fake_machine_free(&fe);
}

START_TEST(ptr_inside_one_region)
{
    uint8_t *p = vdev_gmem_ptr(fe.m, 0x1000, 16, true);
    ck_assert_ptr_nonnull(p);
    p[0] = 0x42;
    uint8_t b = 0;
    ck_assert_int_eq(vdev_gmem_read(fe.m, 0x1000, &b, 1), 0);
    ck_assert_uint_eq(b, 0x42);
    /* the last byte of RAM, but not one further */
    ck_assert_ptr_nonnull(vdev_gmem_ptr(fe.m, 0x1fffff, 1, true));
    ck_assert_ptr_null(vdev_gmem_ptr(fe.m, 0x1fffff, 2, true));
    /* a span across the two regions has no single host pointer */
    ck_assert_ptr_null(vdev_gmem_ptr(fe.m, 0xffff0, 0x20, true));
    ck_assert_ptr_null(vdev_gmem_ptr(fe.m, 0x1000, 0, true));
}
END_TEST

START_TEST(overflowing_ranges_refused)
{
    uint8_t buf[16];
    ck_assert_ptr_null(vdev_gmem_ptr(fe.m, 0x1000, UINT64_MAX, false));
    ck_assert_ptr_null(vdev_gmem_ptr(fe.m, UINT64_MAX, 2, false));
    ck_assert_ptr_null(vdev_gmem_ptr(fe.m, 0x10, UINT64_MAX - 8, false));
    ck_assert_int_eq(vdev_gmem_read(fe.m, UINT64_MAX - 4, buf, sizeof(buf)), -1);
    ck_assert_int_eq(vdev_gmem_write(fe.m, UINT64_MAX, buf, 1), -1);
}
END_TEST

START_TEST(copies_across_adjacent_regions)
{
    uint8_t in[64], out[64] = {0};
    for (unsigned i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i * 7 + 1);
    ck_assert_int_eq(vdev_gmem_write(fe.m, 0x100000 - 32, in, sizeof(in)), 0);
    ck_assert_int_eq(vdev_gmem_read(fe.m, 0x100000 - 32, out, sizeof(out)), 0);
    ck_assert_mem_eq(in, out, sizeof(in));
}
END_TEST

START_TEST(gaps_and_rom)
{
    uint8_t buf[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    /* the end of RAM runs into the hole: nothing is written */
    uint8_t *last = vdev_gmem_ptr(fe.m, 0x1ffffc, 4, true);
    memset(last, 0xee, 4);
    ck_assert_int_eq(vdev_gmem_write(fe.m, 0x1ffffc, buf, 8), -1);
    ck_assert_uint_eq(last[0], 0xee);
    ck_assert_int_eq(vdev_gmem_read(fe.m, 0x300000, buf, 1), -1);
    /* ROM reads, never writes */
    ck_assert_ptr_nonnull(vdev_gmem_ptr(fe.m, 0x400000, 8, false));
    ck_assert_ptr_null(vdev_gmem_ptr(fe.m, 0x400000, 8, true));
    ck_assert_int_eq(vdev_gmem_read(fe.m, 0x400000, buf, 8), 0);
    ck_assert_int_eq(vdev_gmem_write(fe.m, 0x400000, buf, 8), -1);
    /* platform windows (the IOAPIC) are not memory */
    ck_assert_int_eq(vdev_gmem_read(fe.m, 0xfec00000, buf, 4), -1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("gmem");
    TCase *tc = tcase_create("gmem");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, ptr_inside_one_region);
    tcase_add_test(tc, overflowing_ranges_refused);
    tcase_add_test(tc, copies_across_adjacent_regions);
    tcase_add_test(tc, gaps_and_rom);
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
