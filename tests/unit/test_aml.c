/* The AML writer (core/aml.c) and vdev_machine_gen_acpi: encodings byte by byte, the
 * builder's error rules, ser8250's nodes, and a round trip through `iasl -d`. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vdev/acpi.h>

#include "asl_check.h"
#include "fake_embedder.h"

static struct vdev_aml *a;

static void setup(void)
{
    a = vdev_aml_new();
    ck_assert_ptr_nonnull(a);
}

static void teardown(void)
{
    vdev_aml_free(a);
    a = NULL;
}

static void hexdump(const char *what, const uint8_t *p, size_t n)
{
    fprintf(stderr, "%s (%zu bytes):", what, n);
    for (size_t i = 0; i < n && i < 256; i++)
        fprintf(stderr, "%s%02x", i % 16 ? " " : "\n  ", p[i]);
    fprintf(stderr, "\n");
}

/* The builder's whole output must be exactly `exp`. */
static void expect_bytes(const uint8_t *exp, size_t n)
{
    size_t len;
    const uint8_t *got = vdev_aml_data(a, &len);
    ck_assert_msg(got, "builder error: %s", vdev_aml_error(a));
    if (len != n || memcmp(got, exp, n)) {
        hexdump("expected", exp, n);
        hexdump("got", got, len);
        ck_abort_msg("AML differs (%zu bytes, expected %zu)", len, n);
    }
}
#define EXPECT(...)                                                                                \
    do {                                                                                           \
        const uint8_t exp_[] = {__VA_ARGS__};                                                      \
        expect_bytes(exp_, sizeof(exp_));                                                          \
    } while (0)

/* The builder failed with a message containing `part`. */
static void expect_error(const char *part)
{
    const char *e = vdev_aml_error(a);
    ck_assert_msg(e, "expected an error containing '%s'", part);
    ck_assert_msg(strstr(e, part), "error '%s' lacks '%s'", e, part);
    size_t len = 1;
    ck_assert_ptr_null(vdev_aml_data(a, &len));
    ck_assert_uint_eq(len, 0);
}

static void fresh(void)
{
    vdev_aml_free(a);
    a = vdev_aml_new();
    ck_assert_ptr_nonnull(a);
}

static const uint8_t *find(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
    for (size_t i = 0; m <= n && i <= n - m; i++)
        if (!memcmp(hay + i, needle, m))
            return hay + i;
    return NULL;
}
#define CONTAINS(data, len, ...)                                                                   \
    do {                                                                                           \
        const uint8_t pat_[] = {__VA_ARGS__};                                                      \
        if (!find((data), (len), pat_, sizeof(pat_))) {                                            \
            hexdump("pattern", pat_, sizeof(pat_));                                                \
            hexdump("in", (data), (len));                                                          \
            ck_abort_msg("pattern not found");                                                     \
        }                                                                                          \
    } while (0)

/* ---- encodings ---- */

START_TEST(pkglength_boundaries)
{
    uint8_t b[4];
    ck_assert_uint_eq(vdev_aml_pkglength_encode(0, b), 1);
    ck_assert_uint_eq(b[0], 0x00);
    ck_assert_uint_eq(vdev_aml_pkglength_encode(63, b), 1);
    ck_assert_uint_eq(b[0], 0x3f);
    ck_assert_uint_eq(vdev_aml_pkglength_encode(64, b), 2);
    ck_assert_uint_eq(b[0], 0x40);
    ck_assert_uint_eq(b[1], 0x04);
    ck_assert_uint_eq(vdev_aml_pkglength_encode(4095, b), 2);
    ck_assert_uint_eq(b[0], 0x4f);
    ck_assert_uint_eq(b[1], 0xff);
    ck_assert_uint_eq(vdev_aml_pkglength_encode(4096, b), 3);
    ck_assert_uint_eq(b[0], 0x80);
    ck_assert_uint_eq(b[1], 0x00);
    ck_assert_uint_eq(b[2], 0x01);
    ck_assert_uint_eq(vdev_aml_pkglength_encode(0xfffff, b), 3);
    ck_assert_uint_eq(b[0], 0x8f);
    ck_assert_uint_eq(b[1], 0xff);
    ck_assert_uint_eq(b[2], 0xff);
    ck_assert_uint_eq(vdev_aml_pkglength_encode(1u << 20, b), 4); /* 1 MiB */
    ck_assert_uint_eq(b[0], 0xc0);
    ck_assert_uint_eq(b[1], 0x00);
    ck_assert_uint_eq(b[2], 0x00);
    ck_assert_uint_eq(b[3], 0x01);
    ck_assert_uint_eq(vdev_aml_pkglength_encode(0x0fffffff, b), 4);
    ck_assert_uint_eq(b[0], 0xcf);
    ck_assert_uint_eq(b[3], 0xff);
    ck_assert_uint_eq(vdev_aml_pkglength_encode(0x10000000, b), 0);
}
END_TEST

/* Scope (\) { N raw bytes }: the PkgLength counts itself, the name (5C 00) and the body. */
static void scope_with_body(size_t n, size_t *pl_len, uint32_t *pl_value)
{
    fresh();
    uint8_t *body = calloc(1, n ? n : 1);
    ck_assert_ptr_nonnull(body);
    vdev_aml_scope_begin(a, "\\");
    vdev_aml_bytes(a, body, n);
    vdev_aml_end(a);
    free(body);
    size_t len;
    const uint8_t *p = vdev_aml_data(a, &len);
    ck_assert_msg(p, "%s", vdev_aml_error(a));
    ck_assert_uint_eq(p[0], 0x10);
    size_t k = (p[1] >> 6) + 1;
    uint32_t v = k == 1 ? (uint32_t)(p[1] & 0x3f) : (uint32_t)(p[1] & 0x0f);
    for (size_t i = 1; i < k; i++)
        v |= (uint32_t)p[1 + i] << (4 + 8 * (i - 1));
    ck_assert_uint_eq(len, 1 + k + 2 + n);
    ck_assert_uint_eq(v, k + 2 + n); /* everything after the opcode */
    ck_assert_uint_eq(p[1 + k], 0x5c);
    ck_assert_uint_eq(p[2 + k], 0x00);
    *pl_len = k;
    *pl_value = v;
}

START_TEST(pkglength_in_constructs)
{
    size_t k;
    uint32_t v;
    scope_with_body(60, &k, &v); /* 1 + 2 + 60 = 63 */
    ck_assert_uint_eq(k, 1);
    ck_assert_uint_eq(v, 63);
    scope_with_body(61, &k, &v); /* 64 does not fit one byte: two, 65 */
    ck_assert_uint_eq(k, 2);
    ck_assert_uint_eq(v, 65);
    scope_with_body(4091, &k, &v); /* 2 + 2 + 4091 = 4095 */
    ck_assert_uint_eq(k, 2);
    ck_assert_uint_eq(v, 4095);
    scope_with_body(4092, &k, &v);
    ck_assert_uint_eq(k, 3);
    ck_assert_uint_eq(v, 4097);
    scope_with_body(1u << 20, &k, &v);
    ck_assert_uint_eq(k, 4);
    ck_assert_uint_eq(v, (1u << 20) + 6);
}
END_TEST

START_TEST(name_segments_and_paths)
{
    vdev_aml_name_int(a, "A", 0);
    EXPECT(0x08, 'A', '_', '_', '_', 0x00);
    fresh();
    vdev_aml_name_int(a, "_UID", 1);
    EXPECT(0x08, '_', 'U', 'I', 'D', 0x01);
    fresh();
    vdev_aml_scope_begin(a, "\\_SB");
    vdev_aml_end(a);
    EXPECT(0x10, 0x06, 0x5c, '_', 'S', 'B', '_');
    fresh();
    vdev_aml_scope_begin(a, "\\");
    vdev_aml_end(a);
    EXPECT(0x10, 0x03, 0x5c, 0x00);
    fresh();
    vdev_aml_scope_begin(a, "_SB.PCI0");
    vdev_aml_end(a);
    EXPECT(0x10, 0x0a, 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0');
    fresh();
    vdev_aml_scope_begin(a, "\\_SB.PCI0.S8");
    vdev_aml_end(a);
    EXPECT(0x10, 0x10, 0x5c, 0x2f, 0x03, '_', 'S', 'B', '_', 'P', 'C', 'I', '0', 'S', '8', '_',
           '_');
    fresh();
    vdev_aml_scope_begin(a, "^^X1");
    vdev_aml_end(a);
    EXPECT(0x10, 0x07, 0x5e, 0x5e, 'X', '1', '_', '_');
}
END_TEST

START_TEST(name_errors)
{
    static const struct {
        const char *name, *why;
    } bad[] = {
        {"com1", "upper-case"},     {"1ABC", "starts with a digit"},
        {"ABCDE", "longer than 4"}, {"", "empty name"},
        {"A..B", "empty segment"},  {"A.", "empty segment"},
        {".A", "empty segment"},    {"A-B", "upper-case"},
        {"\\\\A", "upper-case"},    {"_SB.9X", "starts with a digit"},
        {"A B", "upper-case"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fresh();
        vdev_aml_device_begin(a, bad[i].name);
        expect_error(bad[i].why);
    }
    fresh();
    vdev_aml_name_int(a, NULL, 0);
    expect_error("missing name");
}
END_TEST

START_TEST(integers_of_each_width)
{
    static const struct {
        uint64_t v;
        uint8_t enc[9];
        size_t n;
    } t[] = {
        {0, {0x00}, 1},
        {1, {0x01}, 1},
        {2, {0x0a, 0x02}, 2},
        {0xff, {0x0a, 0xff}, 2},
        {0x100, {0x0b, 0x00, 0x01}, 3},
        {0xffff, {0x0b, 0xff, 0xff}, 3},
        {0x10000, {0x0c, 0x00, 0x00, 0x01, 0x00}, 5},
        {0xffffffff, {0x0c, 0xff, 0xff, 0xff, 0xff}, 5},
        {0x100000000ull, {0x0e, 0, 0, 0, 0, 1, 0, 0, 0}, 9},
        {UINT64_MAX, {0x0e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 9},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        fresh();
        vdev_aml_name_int(a, "X", t[i].v);
        uint8_t exp[16] = {0x08, 'X', '_', '_', '_'};
        memcpy(exp + 5, t[i].enc, t[i].n);
        expect_bytes(exp, 5 + t[i].n);
    }
}
END_TEST

START_TEST(eisa_ids)
{
    uint32_t v;
    ck_assert_int_eq(vdev_aml_eisaid_value("PNP0501", &v), 0);
    ck_assert_uint_eq(v, 0x0105d041);
    ck_assert_int_eq(vdev_aml_eisaid_value("PNP0C0C", &v), 0);
    ck_assert_uint_eq(v, 0x0c0cd041);
    ck_assert_int_eq(vdev_aml_eisaid_value("PNP0A08", &v), 0);
    ck_assert_uint_eq(v, 0x080ad041);
    static const char *const bad[] = {"pnp0501", "PNP050",  "PNP05011", "PNP05G1",
                                      "P1P0501", "PNP05-1", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(vdev_aml_eisaid_value(bad[i], &v) == -1, "%s accepted", bad[i]);
    ck_assert_int_eq(vdev_aml_eisaid_value(NULL, &v), -1);

    vdev_aml_name_eisaid(a, "_HID", "PNP0501");
    EXPECT(0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01);
    fresh();
    vdev_aml_name_eisaid(a, "_HID", "PNP501");
    expect_error("EISA ID");
}
END_TEST

START_TEST(strings)
{
    vdev_aml_name_string(a, "_HID", "ACPI0013");
    EXPECT(0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C', 'P', 'I', '0', '0', '1', '3', 0x00);
    fresh();
    vdev_aml_name_string(a, "_STR", "");
    EXPECT(0x08, '_', 'S', 'T', 'R', 0x0d, 0x00);
    fresh();
    vdev_aml_name_string(a, "_STR", "caf\xc3\xa9");
    expect_error("ASCII");
    fresh();
    vdev_aml_name_string(a, "_STR", NULL);
    expect_error("missing string");
}
END_TEST

START_TEST(packages_and_buffers)
{
    vdev_aml_name_begin(a, "_S5");
    vdev_aml_package_begin(a);
    vdev_aml_int(a, 5);
    vdev_aml_int(a, 0);
    vdev_aml_string(a, "x");
    vdev_aml_package_begin(a);
    vdev_aml_end(a);
    vdev_aml_end(a);
    /* 12 PkgLength NumElements 4: 0A 05, 00, 0D 'x' 00, 12 02 00 */
    EXPECT(0x08, '_', 'S', '5', '_', 0x12, 0x0b, 0x04, 0x0a, 0x05, 0x00, 0x0d, 'x', 0x00, 0x12,
           0x02, 0x00);
    fresh();
    vdev_aml_name_begin(a, "BUF");
    vdev_aml_buffer_begin(a);
    vdev_aml_bytes(a, "\x01\x02\x03", 3);
    vdev_aml_end(a);
    EXPECT(0x08, 'B', 'U', 'F', '_', 0x11, 0x06, 0x0a, 0x03, 0x01, 0x02, 0x03);
    fresh();
    vdev_aml_name_begin(a, "BUF");
    vdev_aml_buffer_begin(a);
    vdev_aml_end(a);
    EXPECT(0x08, 'B', 'U', 'F', '_', 0x11, 0x02, 0x00);
    fresh();
    vdev_aml_name_begin(a, "PKG");
    vdev_aml_package_begin(a);
    for (int i = 0; i < 256; i++)
        vdev_aml_int(a, 1);
    expect_error("255 elements");
}
END_TEST

/* The template's bytes, from the first descriptor through the end tag, sum to zero. */
static void check_template_sum(const uint8_t *p, size_t n)
{
    ck_assert_uint_ge(n, 2);
    ck_assert_uint_eq(p[n - 2], 0x79);
    uint8_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum = (uint8_t)(sum + p[i]);
    ck_assert_uint_eq(sum, 0);
}

START_TEST(resource_template)
{
    vdev_aml_name_begin(a, "_CRS");
    vdev_aml_crs_begin(a);
    vdev_aml_res_io(a, 0x3f8, 8);
    vdev_aml_res_irq(a, 4);
    vdev_aml_crs_end(a);
    const uint8_t tmpl[] = {0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01,
                            0x08, 0x22, 0x10, 0x00, 0x79, 0x00};
    uint8_t sum = 0;
    for (size_t i = 0; i < sizeof(tmpl) - 1; i++)
        sum = (uint8_t)(sum + tmpl[i]);
    EXPECT(0x08, '_', 'C', 'R', 'S', 0x11, 0x10, 0x0a, 0x0d, 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03,
           0x01, 0x08, 0x22, 0x10, 0x00, 0x79, (uint8_t)(0x100 - sum));
    size_t len;
    const uint8_t *p = vdev_aml_data(a, &len);
    check_template_sum(p + 9, len - 9);

    fresh();
    vdev_aml_name_begin(a, "_CRS");
    vdev_aml_crs_begin(a);
    vdev_aml_res_mem32(a, 0xd0000000, 0x1000);
    vdev_aml_res_interrupt(a, 5, false, true, false);   /* edge, high, exclusive */
    vdev_aml_res_interrupt(a, 0x20, true, false, true); /* level, low, shared */
    vdev_aml_end(a);                                    /* the same as crs_end */
    p = vdev_aml_data(a, &len);
    ck_assert_msg(p, "%s", vdev_aml_error(a));
    ck_assert_uint_eq(len, 9 + 32);
    CONTAINS(p, len, 0x08, '_', 'C', 'R', 'S', 0x11, 0x23, 0x0a, 0x20,
             /* Memory32Fixed */ 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xd0, 0x00, 0x10, 0x00,
             0x00,
             /* Interrupt */ 0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00,
             /* Interrupt */ 0x89, 0x06, 0x00, 0x0d, 0x01, 0x20, 0x00, 0x00, 0x00, 0x79);
    check_template_sum(p + 9, len - 9);

    fresh();
    vdev_aml_name_begin(a, "_CRS");
    vdev_aml_crs_begin(a);
    vdev_aml_crs_end(a);
    EXPECT(0x08, '_', 'C', 'R', 'S', 0x11, 0x05, 0x0a, 0x02, 0x79, 0x87);
}
END_TEST

START_TEST(address_space_windows)
{
    vdev_aml_name_begin(a, "_CRS");
    vdev_aml_crs_begin(a);
    vdev_aml_res_word_bus(a, 0, 0xff);
    vdev_aml_res_dword_io(a, 0x1000, 0xf000);
    vdev_aml_res_dword_mem(a, 0xc0000000, 0x3ec00000, false);
    vdev_aml_res_qword_mem(a, 0x8000000000ull, 0x8000000000ull, true);
    vdev_aml_crs_end(a);
    size_t len;
    const uint8_t *p = vdev_aml_data(a, &len);
    ck_assert_msg(p, "%s", vdev_aml_error(a));
    /* Buffer size: 16 + 26 + 26 + 46 + 2 = 116 */
    ck_assert_uint_eq(len, 5 + 1 + 2 + 2 + 116);
    ck_assert_uint_eq(p[9], 116);
    CONTAINS(p, len, 0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00,
             0x00, 0x00, 0x01);
    CONTAINS(p, len, 0x87, 0x17, 0x00, 0x01, 0x0c, 0x03, 0, 0, 0, 0, 0x00, 0x10, 0, 0, 0xff, 0xff,
             0, 0, 0, 0, 0, 0, 0x00, 0xf0, 0, 0);
    CONTAINS(p, len, 0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0xc0, 0xff,
             0xff, 0xbf, 0xfe);
    CONTAINS(p, len, 0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x07);
    check_template_sum(p + 10, len - 10);
}
END_TEST

START_TEST(resource_errors)
{
    static const char *const why[] = {
        "IO (",          "IO (",          "IO (",       "IRQ 16",        "Memory32Fixed",
        "Memory32Fixed", "WordBusNumber", "I/O window", "memory window", "memory window"};
    for (int i = 0; i < 10; i++) {
        fresh();
        vdev_aml_name_begin(a, "_CRS");
        vdev_aml_crs_begin(a);
        switch (i) {
        case 0:
            vdev_aml_res_io(a, 0x10000, 1);
            break;
        case 1:
            vdev_aml_res_io(a, 0xfffc, 8);
            break;
        case 2:
            vdev_aml_res_io(a, 0x3f8, 256);
            break;
        case 3:
            vdev_aml_res_irq(a, 16);
            break;
        case 4:
            vdev_aml_res_mem32(a, 0xfffff000, 0x2000);
            break;
        case 5:
            vdev_aml_res_mem32(a, 0x1000, 0);
            break;
        case 6:
            vdev_aml_res_word_bus(a, 1, 256);
            break;
        case 7:
            vdev_aml_res_dword_io(a, 0xffffff00, 0x1000);
            break;
        case 8:
            vdev_aml_res_dword_mem(a, 0x100000000ull, 0x1000, false);
            break;
        case 9:
            vdev_aml_res_qword_mem(a, UINT64_MAX, 2, false);
            break;
        }
        expect_error(why[i]);
    }
    /* Descriptors only inside a template, and a template only as a value. */
    fresh();
    vdev_aml_res_io(a, 0x3f8, 8);
    expect_error("inside a ResourceTemplate");
    fresh();
    vdev_aml_device_begin(a, "DEV");
    vdev_aml_crs_begin(a);
    expect_error("is a value");
    fresh();
    vdev_aml_crs_end(a);
    expect_error("without an open ResourceTemplate");
    fresh();
    vdev_aml_name_begin(a, "_CRS");
    vdev_aml_crs_begin(a);
    vdev_aml_bytes(a, "\x22\x10\x00", 3);
    expect_error("raw bytes cannot stand inside a ResourceTemplate");
}
END_TEST

START_TEST(methods_and_statements)
{
    vdev_aml_method_begin(a, "_STA", 0, false);
    vdev_aml_return_int(a, 0x0f);
    vdev_aml_end(a);
    EXPECT(0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xa4, 0x0a, 0x0f);
    fresh();
    vdev_aml_method_begin(a, "_EVT", 1, true);
    vdev_aml_if_arg_equal(a, 0, 9);
    vdev_aml_notify(a, "\\_SB.PWRB", 0x80);
    vdev_aml_end(a);
    vdev_aml_end(a);
    EXPECT(0x14, 0x19, '_', 'E', 'V', 'T', 0x09, /* Method, 1 arg, Serialized */
           0xa0, 0x12, 0x93, 0x68, 0x0a, 0x09,   /* If (LEqual (Arg0, 9)) */
           0x86, 0x5c, 0x2e, '_', 'S', 'B', '_', 'P', 'W', 'R', 'B', 0x0a, 0x80); /* Notify */
}
END_TEST

START_TEST(placement_errors)
{
    vdev_aml_end(a);
    expect_error("end without an open construct");
    fresh();
    vdev_aml_device_begin(a, "DEV");
    size_t len;
    ck_assert_ptr_null(vdev_aml_data(a, &len));
    expect_error("Device left open");
    fresh();
    vdev_aml_name_begin(a, "_HID");
    ck_assert_ptr_null(vdev_aml_data(a, &len));
    expect_error("Name (_HID) has no value");
    fresh();
    vdev_aml_device_begin(a, "DEV");
    vdev_aml_name_begin(a, "_HID");
    vdev_aml_end(a);
    expect_error("has no value");
    fresh();
    vdev_aml_name_begin(a, "_HID");
    vdev_aml_device_begin(a, "DEV");
    expect_error("needs a value before Device");
    fresh();
    vdev_aml_int(a, 1);
    expect_error("is a value");
    fresh();
    vdev_aml_return_int(a, 1);
    expect_error("inside a Method");
    fresh();
    vdev_aml_device_begin(a, "DEV");
    vdev_aml_notify(a, "PWRB", 0x80);
    expect_error("inside a Method, not Device");
    fresh();
    vdev_aml_method_begin(a, "M", 0, false);
    vdev_aml_device_begin(a, "DEV");
    expect_error("Device cannot stand inside a Method");
    fresh();
    vdev_aml_method_begin(a, "M", 8, false);
    expect_error("at most 7");
    fresh();
    vdev_aml_method_begin(a, "M", 1, false);
    vdev_aml_if_arg_equal(a, 1, 0);
    expect_error("takes 1 argument");
    fresh();
    vdev_aml_method_begin(a, "M", 0, false);
    vdev_aml_int(a, 0);
    expect_error("is a value");
    fresh();
    for (int i = 0; i <= VDEV_AML_MAX_DEPTH; i++)
        vdev_aml_scope_begin(a, "S");
    expect_error("nesting deeper");
    fresh();
    vdev_aml_name_begin(a, "X");
    vdev_aml_package_begin(a);
    vdev_aml_bytes(a, "\x00", 1);
    expect_error("raw bytes cannot stand inside a Package");
}
END_TEST

START_TEST(errors_are_sticky)
{
    vdev_aml_device_begin(a, "COM1");
    vdev_aml_name_eisaid(a, "_HID", "bad");
    const char *first = vdev_aml_error(a);
    ck_assert_ptr_nonnull(first);
    char copy[256];
    snprintf(copy, sizeof(copy), "%s", first);
    vdev_aml_name_int(a, "lower", 0); /* would be another error */
    vdev_aml_end(a);
    vdev_aml_end(a);
    ck_assert_str_eq(vdev_aml_error(a), copy);
    ck_assert_uint_eq(vdev_aml_depth(a), 1);
    expect_error("EISA ID 'bad'");
    ck_assert_str_eq(vdev_aml_error(NULL), "no AML builder");
}
END_TEST

/* ---- the machine ---- */

static struct fake_embedder fe;

static void machine(const char *conf)
{
    struct vdev_err err;
    fake_machine_new(&fe);
    ck_assert_msg(fake_machine_build_string(&fe, conf, &err) == 0, "build: %s", err.msg);
}

static void machine_teardown(void)
{
    teardown();
    if (fe.m)
        fake_machine_free(&fe);
}

static const uint8_t *gen(size_t *len)
{
    struct vdev_err err;
    ck_assert_msg(vdev_machine_gen_acpi(fe.m, a, &err) == 0, "gen_acpi: %s", err.msg);
    const uint8_t *p = vdev_aml_data(a, len);
    ck_assert_msg(p, "%s", vdev_aml_error(a));
    return p;
}

START_TEST(two_uarts)
{
    machine("ram 16M vdev ser8250 vdev ser8250 loc io:0x2f8 intr ioapic:3");
    size_t len;
    const uint8_t *p = gen(&len);
    /* Scope (\_SB_) { Device (COM1) {...} Device (COM2) {...} } */
    ck_assert_uint_eq(p[0], 0x10);
    CONTAINS(p, len, 0x5c, '_', 'S', 'B', '_', 0x5b, 0x82);
    CONTAINS(p, len, 'C', 'O', 'M', '1', 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01,
             0x08, '_', 'U', 'I', 'D', 0x00);
    CONTAINS(p, len, 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08, 0x22, 0x10, 0x00, 0x79);
    CONTAINS(p, len, 'C', 'O', 'M', '2', 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01,
             0x08, '_', 'U', 'I', 'D', 0x01);
    CONTAINS(p, len, 0x47, 0x01, 0xf8, 0x02, 0xf8, 0x02, 0x01, 0x08, 0x22, 0x08, 0x00, 0x79);
    ck_assert(find(p, len, "COM1", 4) < find(p, len, "COM2", 4)); /* config order */
}
END_TEST

START_TEST(uart_names_and_mmio)
{
    /* COM2 first in the configuration keeps its name; the others are numbered after COM4. */
    machine("ram 16M vdev ser8250 loc io:0x2f8 intr ioapic:3 "
            "vdev ser8250 loc mem:0xd0000000 intr ioapic:5 "
            "vdev ser8250 loc io:0x200 intr ioapic:17 "
            "vdev ser8250 loc mem:0xd0001000 intr ioapic:18");
    size_t len;
    const uint8_t *p = gen(&len);
    CONTAINS(p, len, 'C', 'O', 'M', '2', 0x08, '_', 'H', 'I', 'D');
    CONTAINS(p, len, 'C', 'O', 'M', '5', 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01,
             0x08, '_', 'U', 'I', 'D', 0x0a, 0x04);
    /* MMIO, ISA line: Memory32Fixed + Interrupt (edge, high) {5} */
    CONTAINS(p, len, 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xd0, 0x08, 0x00, 0x00, 0x00, 0x89,
             0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00, 0x79);
    CONTAINS(p, len, 'C', 'O', 'M', '6', 0x08, '_', 'H', 'I', 'D');
    /* I/O, line 17: IO + Interrupt (level, high) {17} */
    CONTAINS(p, len, 0x47, 0x01, 0x00, 0x02, 0x00, 0x02, 0x01, 0x08, 0x89, 0x06, 0x00, 0x01, 0x01,
             0x11, 0x00, 0x00, 0x00, 0x79);
    CONTAINS(p, len, 'C', 'O', 'M', '7', 0x08, '_', 'H', 'I', 'D');
    CONTAINS(p, len, 0x89, 0x06, 0x00, 0x01, 0x01, 0x12, 0x00, 0x00, 0x00, 0x79);
}
END_TEST

/* Test device types whose gen_acpi hooks misbehave in the ways the core must report. */
static uint64_t bad_read(struct vdev *d, uint64_t offset, unsigned size)
{
    return 0;
}

static void bad_write(struct vdev *d, uint64_t offset, unsigned size, uint64_t value)
{
}

static int bad_gen(struct vdev *d, struct vdev_aml *dsdt)
{
    const char *t = vdev_type_name(d);
    if (!strcmp(t, "acpibadname")) {
        vdev_aml_device_begin(dsdt, "dev0");
        vdev_aml_end(dsdt);
        return 0;
    }
    if (!strcmp(t, "acpiopen")) {
        vdev_aml_device_begin(dsdt, "DEV0");
        return 0;
    }
    if (!strcmp(t, "acpifail"))
        return vdev_error(d, vdev_pos(d), NULL, "no room for my node");
    if (!strcmp(t, "acpisilent"))
        return -1;
    vdev_aml_end(dsdt); /* acpiclose: closes the core's Scope */
    return 0;
}

#define BAD_TYPE(n)                                                                                \
    {                                                                                              \
        .abi_version = VDEV_ABI_VERSION, .type_size = sizeof(struct vdev_type), .name = n,         \
        .places = VDEV_PLACE_MEM, .window_size = 0x100,                                            \
        .window = {.read = bad_read, .write = bad_write, .sizes = 0xf}, .gen_acpi = bad_gen        \
    }
static const struct vdev_type bad_types[] = {BAD_TYPE("acpibadname"), BAD_TYPE("acpiopen"),
                                             BAD_TYPE("acpifail"), BAD_TYPE("acpisilent"),
                                             BAD_TYPE("acpiclose")};

static void expect_gen_error(const char *conf, const char *part1, const char *part2)
{
    static bool registered;
    if (!registered) {
        struct vdev_err err;
        for (size_t i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++)
            ck_assert_msg(vdev_register_type(&bad_types[i], &err) == 0, "%s", err.msg);
        registered = true;
    }
    machine(conf);
    fresh();
    struct vdev_err err;
    ck_assert_int_eq(vdev_machine_gen_acpi(fe.m, a, &err), -1);
    ck_assert_msg(strstr(err.msg, part1) && strstr(err.msg, part2), "message '%s' lacks '%s'/'%s'",
                  err.msg, part1, part2);
    fake_machine_free(&fe);
}

START_TEST(gen_acpi_errors_name_the_device)
{
    expect_gen_error("ram 1M vdev ser8250 vdev acpibadname loc 0xd0000000",
                     "test.conf:1:26: vdev acpibadname: ACPI: name 'dev0'", "upper-case");
    expect_gen_error("ram 1M vdev acpiopen loc 0xd0000000",
                     "vdev acpiopen: ACPI:", "left a construct open");
    expect_gen_error("ram 1M vdev acpifail loc 0xd0000000 name x",
                     "vdev acpifail: no room for my node", "test.conf:1:13: ");
    expect_gen_error("ram 1M vdev acpisilent loc 0xd0000000 vdev acpisilent loc 0xd0001000",
                     "vdev acpisilent #1: ACPI:", "describing the device failed");
    expect_gen_error("ram 1M vdev acpiclose loc 0xd0000000",
                     "vdev acpiclose: ACPI:", "closed Scope");
    /* A builder that already failed, and a machine that is not built. */
    machine("ram 1M");
    vdev_aml_end(a);
    struct vdev_err err;
    ck_assert_int_eq(vdev_machine_gen_acpi(fe.m, a, &err), -1);
    ck_assert_msg(strstr(err.msg, "ACPI: end without"), "%s", err.msg);
    fake_machine_free(&fe);
    fresh();
    fake_machine_new(&fe);
    ck_assert_int_eq(vdev_machine_gen_acpi(fe.m, a, &err), -1);
    ck_assert_msg(strstr(err.msg, "not built"), "%s", err.msg);
    ck_assert_int_eq(vdev_machine_gen_acpi(NULL, a, &err), -1);
}
END_TEST

START_TEST(no_devices_gives_empty_scope)
{
    machine("ram 1M");
    size_t len;
    const uint8_t *p = gen(&len);
    EXPECT(0x10, 0x06, 0x5c, '_', 'S', 'B', '_');
    (void)p;
}
END_TEST

/* ---- iasl round trip ---- */

static char tmpdir[64];

/* Runs `iasl -d NAME` in tmpdir. */
static const char *iasl_disassemble(const char *name, const uint8_t *data, size_t len)
{
    return asl_disassemble(tmpdir, name, data, len);
}

static void tmp_setup(void)
{
    setup();
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_aml_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void tmp_teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd))
        fprintf(stderr, "could not remove %s\n", tmpdir);
    machine_teardown();
}

/* Wraps AML in a DSDT header with a correct checksum. */
static uint8_t *as_dsdt(const uint8_t *aml, size_t n, size_t *len)
{
    *len = 36 + n;
    uint8_t *t = calloc(1, *len);
    ck_assert_ptr_nonnull(t);
    memcpy(t, "DSDT", 4);
    for (int i = 0; i < 4; i++)
        t[4 + i] = (uint8_t)(*len >> (8 * i));
    t[8] = 2;
    memcpy(t + 10, "VDEVKTTESTAML   ", 14);
    memcpy(t + 28, "VDKT", 4);
    t[32] = 1;
    memcpy(t + 36, aml, n);
    uint8_t sum = 0;
    for (size_t i = 0; i < *len; i++)
        sum = (uint8_t)(sum + t[i]);
    t[9] = (uint8_t)(0x100 - sum);
    return t;
}

START_TEST(iasl_round_trip)
{
    machine("ram 16M vdev ser8250 vdev ser8250 loc io:0x2f8 intr ioapic:3 "
            "vdev ser8250 loc mem:0xd0000000 intr ioapic:17");
    struct vdev_err err;
    ck_assert_msg(vdev_machine_gen_acpi(fe.m, a, &err) == 0, "%s", err.msg);
    vdev_aml_scope_begin(a, "\\_SB");
    vdev_aml_device_begin(a, "PCI0");
    vdev_aml_name_eisaid(a, "_HID", "PNP0A08");
    vdev_aml_name_string(a, "_STR", "host bridge");
    vdev_aml_name_int(a, "BIG_", 0x123456789abcdefull);
    vdev_aml_name_begin(a, "_CRS");
    vdev_aml_crs_begin(a);
    vdev_aml_res_word_bus(a, 0, 0xff);
    vdev_aml_res_dword_io(a, 0x1000, 0xf000);
    vdev_aml_res_dword_mem(a, 0xc0000000, 0x3ec00000, false);
    vdev_aml_res_qword_mem(a, 0x8000000000ull, 0x8000000000ull, true);
    vdev_aml_crs_end(a);
    vdev_aml_name_begin(a, "RAW_");
    vdev_aml_buffer_begin(a);
    vdev_aml_bytes(a, "\x01\x02\x03", 3);
    vdev_aml_end(a);
    vdev_aml_method_begin(a, "_STA", 0, false);
    vdev_aml_return_int(a, 0x0f);
    vdev_aml_end(a);
    vdev_aml_end(a);
    vdev_aml_end(a);
    vdev_aml_name_begin(a, "\\_S5");
    vdev_aml_package_begin(a);
    vdev_aml_int(a, 5);
    vdev_aml_int(a, 0);
    vdev_aml_end(a);
    size_t n, len;
    const uint8_t *aml = vdev_aml_data(a, &n);
    ck_assert_msg(aml, "%s", vdev_aml_error(a));
    uint8_t *t = as_dsdt(aml, n, &len);
    const char *dsl = iasl_disassemble("dsdt", t, len);
    free(t);
    asl_must_contain(dsl, "Device (COM1)");
    asl_must_contain(dsl, "Device (COM2)");
    asl_must_contain(dsl, "Device (COM5)");
    asl_must_contain(dsl, "Name (_HID, EisaId (\"PNP0501\")");
    asl_must_contain(dsl, "Name (_UID, Zero)");
    asl_must_contain(dsl, "Name (_UID, One)");
    asl_must_contain(dsl, "IO (Decode16,\n                    0x03F8,");
    asl_must_contain(dsl, "IO (Decode16,\n                    0x02F8,");
    asl_must_contain(dsl, "IRQNoFlags ()\n                    {4}");
    asl_must_contain(dsl, "IRQNoFlags ()\n                    {3}");
    asl_must_contain(dsl, "Memory32Fixed (ReadWrite,\n                    0xD0000000,");
    asl_must_contain(dsl, "Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive, ,, )\n"
                          "                {\n                    0x00000011,");
    asl_must_contain(dsl, "Name (_HID, EisaId (\"PNP0A08\")");
    asl_must_contain(dsl, "Name (_STR, \"host bridge\")");
    asl_must_contain(dsl, "0x0123456789ABCDEF");
    asl_must_contain(dsl, "WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,");
    asl_must_contain(dsl, "DWordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,");
    asl_must_contain(dsl,
                     "DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, "
                     "ReadWrite,");
    asl_must_contain(dsl,
                     "QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Prefetchable, "
                     "ReadWrite,");
    asl_must_contain(dsl, "Name (RAW, Buffer (0x03)");
    asl_must_contain(dsl, "Method (_STA, 0, NotSerialized)");
    asl_must_contain(dsl, "Return (0x0F)");
    asl_must_contain(dsl, "Name (\\_S5, Package (0x02) // _S5_: S5 System State { 0x05, Zero })");
}
END_TEST

static Suite *aml_suite(void)
{
    Suite *s = suite_create("aml");
    TCase *tc = tcase_create("encoding");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, pkglength_boundaries);
    tcase_add_test(tc, pkglength_in_constructs);
    tcase_add_test(tc, name_segments_and_paths);
    tcase_add_test(tc, name_errors);
    tcase_add_test(tc, integers_of_each_width);
    tcase_add_test(tc, eisa_ids);
    tcase_add_test(tc, strings);
    tcase_add_test(tc, packages_and_buffers);
    tcase_add_test(tc, resource_template);
    tcase_add_test(tc, address_space_windows);
    tcase_add_test(tc, resource_errors);
    tcase_add_test(tc, methods_and_statements);
    tcase_add_test(tc, placement_errors);
    tcase_add_test(tc, errors_are_sticky);
    suite_add_tcase(s, tc);

    tc = tcase_create("machine");
    tcase_add_checked_fixture(tc, setup, machine_teardown);
    tcase_add_test(tc, two_uarts);
    tcase_add_test(tc, uart_names_and_mmio);
    tcase_add_test(tc, gen_acpi_errors_name_the_device);
    tcase_add_test(tc, no_devices_gives_empty_scope);
    suite_add_tcase(s, tc);

    tc = tcase_create("iasl");
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, iasl_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(aml_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
