/* API misuse from an embedder returns an error, never a crash or a silent no-op: parsing
 * after the build, accesses before it, NULL out-pointers (docs/embedding.md). */
#include <check.h>
#include <string.h>
#include <vdev/fdt.h>

#include "fake_embedder.h"

START_TEST(parse_after_build_is_refused)
{
    struct fake_embedder fe;
    struct vdev_err err;
    memset(&err, 0, sizeof(err));
    fake_machine_new(&fe);
    ck_assert_int_eq(fake_machine_build_string(&fe, "ram 16M vdev testdev", &err), 0);
    const struct vdev_config *cfg = vdev_machine_config(fe.m);
    size_t nvdevs = cfg->nvdevs;

    ck_assert_int_eq(vdev_machine_parse_string(fe.m, "late.conf", "vdev testdev", &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_INVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "already built"));
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(vdev_machine_parse_file(fe.m, TEST_DATA_DIR "/nonexistent.conf", &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_INVAL);
    char *argv[] = {"vdev", "testdev", NULL};
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(vdev_machine_parse_args(fe.m, 2, argv, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_INVAL);
    ck_assert_int_eq(vdev_machine_parse_string(fe.m, "late.conf", "vdev testdev", NULL), -1);
    ck_assert_uint_eq(vdev_machine_config(fe.m)->nvdevs, nvdevs); /* nothing was added */

    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(vdev_machine_build(fe.m, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_INVAL);
    fake_machine_free(&fe);
}
END_TEST

static unsigned reads, writes;
static uint64_t probe_read(void *opaque, uint64_t off, unsigned size)
{
    reads++;
    return 0;
}
static void probe_write(void *opaque, uint64_t off, unsigned size, uint64_t v)
{
    writes++;
}
static const struct vdev_region_ops probe_ops = {
    .size = sizeof(probe_ops), .read = probe_read, .write = probe_write};

START_TEST(access_before_build_is_unclaimed)
{
    struct fake_embedder fe;
    struct vdev_err err;
    fake_machine_new(&fe);
    /* A window of the embedder's own, added before the build, as a platform device is. */
    struct vdev_region_desc desc = {.owner = "probe",
                                    .space = VDEV_SPACE_IO,
                                    .kind = VDEV_REGION_DEVICE,
                                    .base = 0x500,
                                    .size = 8,
                                    .ops = &probe_ops};
    ck_assert_int_eq(vdev_bus_add(vdev_machine_bus(fe.m), &desc, NULL, &err), 0);
    reads = writes = 0;
    static const struct {
        enum vdev_space space;
        uint64_t addr;
        unsigned size;
        uint64_t ones;
    } cases[] = {
        {VDEV_SPACE_IO, 0x500, 1, 0xff},         {VDEV_SPACE_IO, 0x500, 2, 0xffff},
        {VDEV_SPACE_IO, 0x500, 4, 0xffffffff},   {VDEV_SPACE_IO, 0x500, 8, UINT64_MAX},
        {VDEV_SPACE_IO, 0xf4, 1, 0xff},          /* testdev's port, before testdev exists */
        {VDEV_SPACE_MEM, 0x1000, 4, 0xffffffff}, /* RAM, before it is placed */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t v = 0;
        ck_assert_int_eq(
            vdev_machine_access(fe.m, cases[i].space, cases[i].addr, cases[i].size, false, &v),
            VDEV_ACCESS_UNMAPPED);
        ck_assert_uint_eq(v, cases[i].ones);
        v = 0x12;
        ck_assert_int_eq(
            vdev_machine_access(fe.m, cases[i].space, cases[i].addr, cases[i].size, true, &v),
            VDEV_ACCESS_UNMAPPED);
    }
    ck_assert_uint_eq(reads, 0);
    ck_assert_uint_eq(writes, 0);

    /* Once built, the same window answers. */
    ck_assert_int_eq(fake_machine_build_string(&fe, "ram 16M", &err), 0);
    uint64_t v = 0xff;
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_IO, 0x500, 1, false, &v), VDEV_ACCESS_OK);
    ck_assert_uint_eq(v, 0);
    ck_assert_uint_eq(reads, 1);
    fake_machine_free(&fe);
}
END_TEST

START_TEST(access_with_null_value_is_refused)
{
    struct fake_embedder fe;
    struct vdev_err err;
    fake_machine_new(&fe);
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_IO, 0xf4, 1, false, NULL),
                     VDEV_ACCESS_INVAL);
    ck_assert_int_eq(fake_machine_build_string(&fe, "ram 16M vdev testdev", &err), 0);
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_IO, 0xf4, 1, true, NULL),
                     VDEV_ACCESS_INVAL);
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_IO, 0xf4, 1, false, NULL),
                     VDEV_ACCESS_INVAL);
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_MEM, 0x1000, 4, false, NULL),
                     VDEV_ACCESS_INVAL);
    ck_assert_int_eq(vdev_bus_access(vdev_machine_bus(fe.m), VDEV_SPACE_MEM, 0x1000, 4, true, NULL),
                     VDEV_ACCESS_INVAL);
    ck_assert_int_eq(vdev_machine_stop_status(fe.m), -1); /* testdev saw no write */
    fake_machine_free(&fe);
}
END_TEST

START_TEST(null_out_pointers_are_refused)
{
    struct fake_embedder fe;
    struct vdev_err err;
    fake_machine_new(&fe);
    ck_assert_int_eq(fake_machine_build_string(&fe, "ram 16M vdev testdev intr ioapic:5", &err), 0);

    struct vdev_intr intr = {.given = true, .pic = "ioapic", .line = 3};
    uint32_t gsi = 0;
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(vdev_machine_resolve_intr(fe.m, &intr, NULL, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_INVAL);
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(vdev_machine_resolve_intr(fe.m, NULL, &gsi, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_INVAL);
    ck_assert_int_eq(vdev_machine_resolve_intr(fe.m, &intr, NULL, NULL), -1);
    ck_assert_int_eq(vdev_machine_resolve_intr(fe.m, &intr, &gsi, NULL), 0);
    ck_assert_uint_eq(gsi, 3);

    struct vdev_bus *bus = vdev_machine_bus(fe.m);
    ck_assert_int_ne(vdev_bus_find_free(bus, VDEV_SPACE_MEM, 0, UINT64_MAX, 4096, 4096, NULL), 0);
    vdev_region_get_info(vdev_bus_find(bus, VDEV_SPACE_MEM, 0x1000), NULL);
    vdev_region_get_info(NULL, NULL);

    ck_assert_int_eq(vdev_gmem_read(fe.m, 0x1000, NULL, 4), -1);
    ck_assert_int_eq(vdev_gmem_write(fe.m, 0x1000, NULL, 4), -1);

    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(vdev_machine_runtime_path(fe.m, "leaf", NULL, 64, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_INVAL);

    ck_assert_int_eq(vdev_aml_eisaid_value("PNP0501", NULL), -1);
    ck_assert(!vdev_fdt_device_gsi(vdev_machine_device(fe.m, 0), NULL));
    uint32_t dgsi = 0;
    ck_assert(vdev_fdt_device_gsi(vdev_machine_device(fe.m, 0), &dgsi));
    ck_assert_uint_eq(dgsi, 5);

    /* The value parsers only check when out is NULL (as loc, intr and mac always did). */
    const char *why = NULL;
    ck_assert_int_eq(vdev_parse_u64("32M", NULL, NULL), 0);
    ck_assert_int_eq(vdev_parse_u64("32Q", NULL, &why), -1);
    ck_assert_ptr_nonnull(why);
    fake_machine_free(&fe);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("api_misuse");
    TCase *tc = tcase_create("api_misuse");
    tcase_add_test(tc, parse_after_build_is_refused);
    tcase_add_test(tc, access_before_build_is_unclaimed);
    tcase_add_test(tc, access_with_null_value_is_refused);
    tcase_add_test(tc, null_out_pointers_are_refused);
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
