/* testdev: exit-status port, result-string port and signature, as a test guest uses them. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_embedder.h"

#define PORT 0xf4

static struct fake_embedder fe;
static char out_path[64];

static void setup(void)
{
    snprintf(out_path, sizeof(out_path), "/tmp/test_testdev_XXXXXX");
    int fd = mkstemp(out_path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    fake_machine_new(&fe);
}

static void teardown(void)
{
    if (fe.m)
        fake_machine_free(&fe);
    unlink(out_path);
}

static void build(const char *extra)
{
    char conf[512];
    struct vdev_err err;
    snprintf(conf, sizeof(conf), "ram 16M vdev testdev results %s %s", out_path, extra);
    int rc = fake_machine_build_string(&fe, conf, &err);
    ck_assert_msg(rc == 0, "build failed: %s", err.msg);
}

static uint64_t rd(unsigned off, unsigned size)
{
    uint64_t v = 0;
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_IO, PORT + off, size, false, &v),
                     VDEV_ACCESS_OK);
    return v;
}

static void wr(unsigned off, unsigned size, uint64_t v)
{
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_IO, PORT + off, size, true, &v),
                     VDEV_ACCESS_OK);
}

static void puts_port(const char *s)
{
    while (*s)
        wr(1, 1, (uint8_t)*s++);
}

static char *slurp(size_t *len)
{
    static char buf[8192];
    FILE *f = fopen(out_path, "rb");
    ck_assert_ptr_nonnull(f);
    *len = fread(buf, 1, sizeof(buf) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

START_TEST(signature)
{
    build("");
    ck_assert_uint_eq(rd(0, 1), 0xa5);
    ck_assert_uint_eq(rd(0, 2), 0xa5);
    ck_assert_uint_eq(rd(0, 4), 0xa5);
    ck_assert_int_eq(fe.stop_status, -1); /* reading does not stop anything */
}
END_TEST

START_TEST(exit_status)
{
    build("");
    wr(0, 1, 42);
    ck_assert_int_eq(fe.stop_status, 42);
    ck_assert_int_eq(vdev_machine_stop_status(fe.m), 42);
}
END_TEST

START_TEST(exit_status_low_byte)
{
    build("");
    wr(0, 4, 0x12345601);
    ck_assert_int_eq(fe.stop_status, 1);
}
END_TEST

START_TEST(exit_status_zero)
{
    build("");
    wr(0, 2, 0x300);
    ck_assert_int_eq(fe.stop_status, 0);
}
END_TEST

START_TEST(result_lines)
{
    build("");
    puts_port("PASS one\n");
    puts_port("FAIL two\r\n");
    size_t len;
    char *got = slurp(&len);
    ck_assert_str_eq(got, "testdev: PASS one\ntestdev: FAIL two\n");
    ck_assert_ptr_nonnull(strstr(fe.log, "PASS one"));
    ck_assert_ptr_nonnull(strstr(fe.log, "FAIL two"));
}
END_TEST

START_TEST(empty_line)
{
    build("");
    puts_port("\n");
    size_t len;
    ck_assert_str_eq(slurp(&len), "testdev: \n");
}
END_TEST

START_TEST(partial_line)
{
    build("");
    puts_port("abc");
    size_t len;
    slurp(&len);
    ck_assert_uint_eq(len, 0); /* nothing until the newline */
    puts_port("def\nxyz");
    ck_assert_str_eq(slurp(&len), "testdev: abcdef\n");
    fake_machine_free(&fe); /* the unfinished line is emitted at the end */
    ck_assert_str_eq(slurp(&len), "testdev: abcdef\ntestdev: xyz\n");
}
END_TEST

START_TEST(overlong_line)
{
    build("");
    char line[302];
    memset(line, 'x', 300);
    line[300] = '\n';
    line[301] = '\0';
    puts_port(line);
    char want[400];
    snprintf(want, sizeof(want), "testdev: %.256s\ntestdev: %.44s\n", line, line);
    size_t len;
    ck_assert_str_eq(slurp(&len), want);
}
END_TEST

START_TEST(binary_bytes_are_written_raw)
{
    build("");
    wr(1, 1, 0x01);
    wr(1, 1, 0xff);
    wr(1, 1, 0x00);
    wr(1, 1, 'k');
    wr(1, 1, '\n');
    size_t len;
    char *got = slurp(&len);
    ck_assert_uint_eq(len, 14);
    ck_assert_mem_eq(got, "testdev: \x01\xff\0k\n", 14);
    ck_assert_ptr_nonnull(strstr(fe.log, "???k")); /* the log gets printable text only */
}
END_TEST

START_TEST(reserved_ports)
{
    build("");
    ck_assert_uint_eq(rd(1, 1), 0);
    ck_assert_uint_eq(rd(2, 1), 0);
    ck_assert_uint_eq(rd(3, 1), 0);
    wr(2, 1, 0xff);
    wr(3, 1, '\n');
    ck_assert_int_eq(fe.stop_status, -1);
    size_t len;
    slurp(&len);
    ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(results_missing_directory_fails)
{
    struct vdev_err err;
    int rc = fake_machine_build_string(
        &fe, "ram 16M vdev testdev results /nonexistent-vdevkit-dir/r.txt", &err);
    ck_assert_int_ne(rc, 0);
    ck_assert_msg(strstr(err.msg, "results") != NULL, "error does not name the option: %s",
                  err.msg);
}
END_TEST

START_TEST(default_loc_has_no_interrupt)
{
    build("");
    uint64_t v = 0;
    /* the window ends at 0xff */
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_IO, PORT + 12, 1, false, &v),
                     VDEV_ACCESS_UNMAPPED);
    wr(2, 1, 1); /* no line: nothing happens */
    for (unsigned i = 0; i < FAKE_MAX_GSI; i++)
        ck_assert_uint_eq(fe.gsi_raises[i], 0);
}
END_TEST

START_TEST(line_and_msi)
{
    build("intr ioapic:7");
    wr(2, 1, 1);
    ck_assert(fe.gsi_level[7]);
    wr(2, 1, 0);
    ck_assert(!fe.gsi_level[7]);
    wr(2, 1, 2); /* a pulse */
    ck_assert_uint_eq(fe.gsi_raises[7], 2);
    ck_assert(!fe.gsi_level[7]);
    wr(4, 4, 0xfee01000);
    wr(8, 4, 0x4031);
    ck_assert_uint_eq(fe.nmsi, 1);
    ck_assert_uint_eq(fe.msis[0].addr, 0xfee01000);
    ck_assert_uint_eq(fe.msis[0].data, 0x4031);
    wr(8, 1, 0x31); /* MSI registers take dwords only */
    ck_assert_uint_eq(fe.nmsi, 1);
}
END_TEST

static Suite *testdev_suite(void)
{
    Suite *s = suite_create("testdev");
    TCase *tc = tcase_create("ports");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, signature);
    tcase_add_test(tc, exit_status);
    tcase_add_test(tc, exit_status_low_byte);
    tcase_add_test(tc, exit_status_zero);
    tcase_add_test(tc, result_lines);
    tcase_add_test(tc, empty_line);
    tcase_add_test(tc, partial_line);
    tcase_add_test(tc, overlong_line);
    tcase_add_test(tc, binary_bytes_are_written_raw);
    tcase_add_test(tc, reserved_ports);
    tcase_add_test(tc, results_missing_directory_fails);
    tcase_add_test(tc, default_loc_has_no_interrupt);
    tcase_add_test(tc, line_and_msi);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(testdev_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
