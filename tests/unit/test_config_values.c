/* Value syntax: numbers, locations, interrupts, MACs, "did you mean", set variables. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <vdev/config.h>

static const char why_number[] = "expected a number like 4096, 0x1000 or 32M";
static const char why_loc[] =
    "expected mem:ADDR[,LEN], io:PORT[,LEN], pci:BUS:DEV[.FN] or ADDR[,LEN]";
static const char why_intr[] = "expected PIC:LINE, like ioapic:4 or gic:40";
static const char why_mac[] = "expected a MAC address like 52:54:00:12:34:56";

static uint64_t u64_ok(const char *s)
{
    uint64_t v = 12345;
    const char *why = NULL;
    ck_assert_msg(vdev_parse_u64(s, &v, &why) == 0, "'%s' refused: %s", s, why);
    return v;
}

static const char *u64_bad(const char *s)
{
    uint64_t v = 12345;
    const char *why = NULL;
    ck_assert_msg(vdev_parse_u64(s, &v, &why) == -1, "'%s' accepted", s);
    ck_assert_uint_eq(v, 12345); /* untouched on error */
    ck_assert_ptr_nonnull(why);
    return why;
}

START_TEST(u64_decimal_and_hex)
{
    ck_assert_uint_eq(u64_ok("0"), 0);
    ck_assert_uint_eq(u64_ok("4096"), 4096);
    ck_assert_uint_eq(u64_ok("007"), 7); /* leading zeros are decimal, not octal */
    ck_assert_uint_eq(u64_ok("0x1000"), 0x1000);
    ck_assert_uint_eq(u64_ok("0X1f"), 0x1f);
    ck_assert_uint_eq(u64_ok("0xDeadBeef"), 0xdeadbeef);
    ck_assert_uint_eq(u64_ok("18446744073709551615"), UINT64_MAX);
    ck_assert_uint_eq(u64_ok("0xffffffffffffffff"), UINT64_MAX);
}
END_TEST

START_TEST(u64_suffixes)
{
    ck_assert_uint_eq(u64_ok("4k"), 4096);
    ck_assert_uint_eq(u64_ok("4K"), 4096);
    ck_assert_uint_eq(u64_ok("32m"), 32u << 20);
    ck_assert_uint_eq(u64_ok("1024M"), 1ull << 30);
    ck_assert_uint_eq(u64_ok("1023m"), 1023ull << 20);
    ck_assert_uint_eq(u64_ok("1G"), 1ull << 30);
    ck_assert_uint_eq(u64_ok("3g"), 3ull << 30);
    ck_assert_uint_eq(u64_ok("0x10M"), 16ull << 20);
    ck_assert_uint_eq(u64_ok("17179869183G"), 17179869183ull << 30);
}
END_TEST

START_TEST(u64_refused)
{
    ck_assert_str_eq(u64_bad(""), why_number);
    ck_assert_str_eq(u64_bad("-1"), why_number);
    ck_assert_str_eq(u64_bad("+1"), why_number);
    ck_assert_str_eq(u64_bad(" 1"), why_number);
    ck_assert_str_eq(u64_bad("1 "), why_number);
    ck_assert_str_eq(u64_bad("0x"), why_number);
    ck_assert_str_eq(u64_bad("x10"), why_number);
    ck_assert_str_eq(u64_bad("1KB"), why_number);
    ck_assert_str_eq(u64_bad("1k2"), why_number);
    ck_assert_str_eq(u64_bad("1.5M"), why_number);
    ck_assert_str_eq(u64_bad("12q"), why_number);
    ck_assert_str_eq(u64_bad("0x1g0"), why_number);
    ck_assert_str_eq(u64_bad("1T"), why_number);
    ck_assert_str_eq(u64_bad(NULL), why_number);
}
END_TEST

START_TEST(u64_overflow)
{
    ck_assert_str_eq(u64_bad("18446744073709551616"), "number too large");
    ck_assert_str_eq(u64_bad("0x10000000000000000"), "number too large");
    ck_assert_str_eq(u64_bad("99999999999999999999999999"), "number too large");
    ck_assert_str_eq(u64_bad("17179869184G"), "number too large"); /* exactly 2^64 */
    ck_assert_str_eq(u64_bad("0xffffffffffffffffk"), "number too large");
    /* a NULL why pointer is allowed */
    uint64_t v;
    ck_assert_int_eq(vdev_parse_u64("nope", &v, NULL), -1);
}
END_TEST

static struct vdev_loc loc_ok(const char *s)
{
    struct vdev_loc l;
    const char *why = NULL;
    memset(&l, 0xee, sizeof(l));
    ck_assert_msg(vdev_parse_loc(s, &l, &why) == 0, "'%s' refused: %s", s, why);
    return l;
}

static const char *loc_bad(const char *s)
{
    struct vdev_loc l;
    const char *why = NULL;
    ck_assert_msg(vdev_parse_loc(s, &l, &why) == -1, "'%s' accepted", s);
    ck_assert_ptr_nonnull(why);
    return why;
}

START_TEST(loc_memory_forms)
{
    struct vdev_loc l = loc_ok("0x1c090000");
    ck_assert_int_eq(l.kind, VDEV_LOC_MEM);
    ck_assert_uint_eq(l.addr, 0x1c090000);
    ck_assert_uint_eq(l.len, 0);

    l = loc_ok("mem:0x1c090000");
    ck_assert_int_eq(l.kind, VDEV_LOC_MEM);
    ck_assert_uint_eq(l.addr, 0x1c090000);
    ck_assert_uint_eq(l.len, 0);

    l = loc_ok("mem:0xd0000000,0x1000");
    ck_assert_int_eq(l.kind, VDEV_LOC_MEM);
    ck_assert_uint_eq(l.addr, 0xd0000000);
    ck_assert_uint_eq(l.len, 0x1000);

    l = loc_ok("0xd0000000,4k");
    ck_assert_int_eq(l.kind, VDEV_LOC_MEM);
    ck_assert_uint_eq(l.addr, 0xd0000000);
    ck_assert_uint_eq(l.len, 4096);

    l = loc_ok("mem:0xfffffffffffff000,0x1000"); /* ends exactly at the top */
    ck_assert_uint_eq(l.len, 0x1000);
}
END_TEST

START_TEST(loc_io_forms)
{
    struct vdev_loc l = loc_ok("io:0x2f8");
    ck_assert_int_eq(l.kind, VDEV_LOC_IO);
    ck_assert_uint_eq(l.addr, 0x2f8);
    ck_assert_uint_eq(l.len, 0);

    l = loc_ok("io:0x2f8,8");
    ck_assert_int_eq(l.kind, VDEV_LOC_IO);
    ck_assert_uint_eq(l.addr, 0x2f8);
    ck_assert_uint_eq(l.len, 8);

    l = loc_ok("io:0xfff8,8");
    ck_assert_uint_eq(l.addr, 0xfff8);
    l = loc_ok("io:0xffff");
    ck_assert_uint_eq(l.addr, 0xffff);
    l = loc_ok("io:0,0x10000");
    ck_assert_uint_eq(l.len, 0x10000);
}
END_TEST

START_TEST(loc_pci_forms)
{
    struct vdev_loc l = loc_ok("pci:0:3");
    ck_assert_int_eq(l.kind, VDEV_LOC_PCI);
    ck_assert_uint_eq(l.bus, 0);
    ck_assert_uint_eq(l.dev, 3);
    ck_assert_uint_eq(l.fn, 0);

    l = loc_ok("pci:1:31.7");
    ck_assert_uint_eq(l.bus, 1);
    ck_assert_uint_eq(l.dev, 31);
    ck_assert_uint_eq(l.fn, 7);

    l = loc_ok("pci:0xff:0x1f.0x7");
    ck_assert_uint_eq(l.bus, 255);
    ck_assert_uint_eq(l.dev, 31);
    ck_assert_uint_eq(l.fn, 7);
}
END_TEST

START_TEST(loc_refused)
{
    ck_assert_str_eq(loc_bad(""), why_loc);
    ck_assert_str_eq(loc_bad(NULL), why_loc);
    ck_assert_str_eq(loc_bad("serial"), why_loc);
    ck_assert_str_eq(loc_bad("mem:"), why_number);
    ck_assert_str_eq(loc_bad("mem:0x1000,"), why_number);
    ck_assert_str_eq(loc_bad("mem:0x1000,0x10,3"), why_number);
    ck_assert_str_eq(loc_bad("mem:0x1000,0"), "length must not be 0");
    ck_assert_str_eq(loc_bad("mem:0xffffffffffffffff,2"),
                     "range wraps past the end of the address space");
    ck_assert_str_eq(loc_bad("io:0x10000"), "I/O port must be below 0x10000");
    ck_assert_str_eq(loc_bad("io:0xfff8,9"), "I/O range ends past port 0xffff");
    ck_assert_str_eq(loc_bad("io:0x2f8,0x100000"), "I/O range ends past port 0xffff");
    ck_assert_str_eq(loc_bad("io:"), why_number);
    ck_assert_str_eq(loc_bad("pci:256:0"), "PCI bus must be 0..255");
    ck_assert_str_eq(loc_bad("pci:0:32"), "PCI device must be 0..31");
    ck_assert_str_eq(loc_bad("pci:0:1.8"), "PCI function must be 0..7");
    const char *pci = "expected pci:BUS:DEV or pci:BUS:DEV.FN";
    ck_assert_str_eq(loc_bad("pci:0"), pci);
    ck_assert_str_eq(loc_bad("pci:"), pci);
    ck_assert_str_eq(loc_bad("pci:a:b"), pci);
    ck_assert_str_eq(loc_bad("pci:0:3."), pci);
    ck_assert_str_eq(loc_bad("pci:0:3.1x"), pci);
    ck_assert_str_eq(loc_bad("pci:0:3:4"), pci);
    ck_assert_str_eq(loc_bad("pci:0:1k"), pci); /* no size suffixes in PCI numbers */
    ck_assert_str_eq(loc_bad("pci:99999999999999999999:0"), pci);
}
END_TEST

static const char *fmt(struct vdev_loc l)
{
    static char buf[64];
    vdev_loc_format(&l, buf, sizeof(buf));
    return buf;
}

START_TEST(loc_format_round_trip)
{
    ck_assert_str_eq(fmt(loc_ok("io:0x3f8,8")), "io:0x3f8,8");
    ck_assert_str_eq(fmt(loc_ok("io:1016")), "io:0x3f8");
    ck_assert_str_eq(fmt(loc_ok("mem:0xd0000000,0x1000")), "mem:0xd0000000,0x1000");
    ck_assert_str_eq(fmt(loc_ok("0x1c090000")), "mem:0x1c090000");
    ck_assert_str_eq(fmt(loc_ok("pci:0:3")), "pci:0:3.0");
    ck_assert_str_eq(fmt(loc_ok("pci:0x10:2.1")), "pci:16:2.1");
    struct vdev_loc none = {.kind = VDEV_LOC_NONE};
    ck_assert_str_eq(fmt(none), "none");
    /* each formatted text parses back to the same location */
    const char *forms[] = {"io:0x3f8,8", "mem:0xd0000000,0x1000", "pci:2:31.7", "mem:0x0"};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct vdev_loc a = loc_ok(forms[i]);
        struct vdev_loc b = loc_ok(fmt(a));
        ck_assert_int_eq(a.kind, b.kind);
        ck_assert_uint_eq(a.addr, b.addr);
        ck_assert_uint_eq(a.len, b.len);
        ck_assert_uint_eq(a.bus, b.bus);
        ck_assert_uint_eq(a.dev, b.dev);
        ck_assert_uint_eq(a.fn, b.fn);
    }
}
END_TEST

START_TEST(loc_format_small_buffers)
{
    struct vdev_loc l = loc_ok("mem:0xd0000000,0x1000");
    char buf[8];
    memset(buf, 'x', sizeof(buf));
    vdev_loc_format(&l, buf, sizeof(buf));
    ck_assert_str_eq(buf, "mem:0xd");
    vdev_loc_format(&l, buf, 1);
    ck_assert_str_eq(buf, "");
    vdev_loc_format(&l, NULL, 0); /* no crash */
    vdev_loc_format(NULL, buf, sizeof(buf));
    ck_assert_str_eq(buf, "none");
}
END_TEST

START_TEST(intr_forms)
{
    struct vdev_intr in;
    const char *why = NULL;
    ck_assert_int_eq(vdev_parse_intr("ioapic:3", &in, &why), 0);
    ck_assert(in.given);
    ck_assert_str_eq(in.pic, "ioapic");
    ck_assert_uint_eq(in.line, 3);

    ck_assert_int_eq(vdev_parse_intr("gic:40", &in, &why), 0);
    ck_assert_str_eq(in.pic, "gic");
    ck_assert_uint_eq(in.line, 40);

    ck_assert_int_eq(vdev_parse_intr("my_pic-2:0x10", &in, &why), 0);
    ck_assert_str_eq(in.pic, "my_pic-2");
    ck_assert_uint_eq(in.line, 16);

    ck_assert_int_eq(vdev_parse_intr("unknownpic:4294967295", &in, &why), 0);
    ck_assert_str_eq(in.pic, "unknownpic"); /* existence is the core's business */
    ck_assert_uint_eq(in.line, UINT32_MAX);

    char name[VDEV_PIC_NAME_MAX + 8];
    memset(name, 'p', VDEV_PIC_NAME_MAX - 1);
    strcpy(name + VDEV_PIC_NAME_MAX - 1, ":1");
    ck_assert_int_eq(vdev_parse_intr(name, &in, &why), 0);
    ck_assert_uint_eq(strlen(in.pic), VDEV_PIC_NAME_MAX - 1);
}
END_TEST

static const char *intr_bad(const char *s)
{
    struct vdev_intr in;
    const char *why = NULL;
    ck_assert_msg(vdev_parse_intr(s, &in, &why) == -1, "'%s' accepted", s);
    return why;
}

START_TEST(intr_refused)
{
    ck_assert_str_eq(intr_bad("ioapic"), why_intr);
    ck_assert_str_eq(intr_bad("5"), why_intr);
    ck_assert_str_eq(intr_bad(":3"), why_intr);
    ck_assert_str_eq(intr_bad("ioapic:"), why_intr);
    ck_assert_str_eq(intr_bad("io apic:3"), why_intr);
    ck_assert_str_eq(intr_bad("io.apic:3"), why_intr);
    ck_assert_str_eq(intr_bad("ioapic:3x"), why_intr);
    ck_assert_str_eq(intr_bad("ioapic:-1"), why_intr);
    ck_assert_str_eq(intr_bad("ioapic:3:4"), why_intr);
    ck_assert_str_eq(intr_bad(""), why_intr);
    ck_assert_str_eq(intr_bad(NULL), why_intr);
    ck_assert_str_eq(intr_bad("ioapic:4294967296"), "interrupt line too large");
    char name[VDEV_PIC_NAME_MAX + 8];
    memset(name, 'p', VDEV_PIC_NAME_MAX);
    strcpy(name + VDEV_PIC_NAME_MAX, ":1");
    ck_assert_str_eq(intr_bad(name), "interrupt controller name too long");
}
END_TEST

START_TEST(mac_forms)
{
    uint8_t mac[6];
    const char *why = NULL;
    ck_assert_int_eq(vdev_parse_mac("52:54:00:12:34:56", mac, &why), 0);
    const uint8_t want[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    ck_assert_mem_eq(mac, want, 6);
    ck_assert_int_eq(vdev_parse_mac("02:AB:cd:EF:00:ff", mac, &why), 0);
    const uint8_t want2[6] = {0x02, 0xab, 0xcd, 0xef, 0x00, 0xff};
    ck_assert_mem_eq(mac, want2, 6);
}
END_TEST

static const char *mac_bad(const char *s)
{
    uint8_t mac[6] = {9, 9, 9, 9, 9, 9};
    const uint8_t untouched[6] = {9, 9, 9, 9, 9, 9};
    const char *why = NULL;
    ck_assert_msg(vdev_parse_mac(s, mac, &why) == -1, "'%s' accepted", s);
    ck_assert_mem_eq(mac, untouched, 6);
    return why;
}

START_TEST(mac_refused)
{
    ck_assert_str_eq(mac_bad("01:00:5e:00:00:01"), "multicast MAC");
    ck_assert_str_eq(mac_bad("ff:ff:ff:ff:ff:ff"), "multicast MAC");
    ck_assert_str_eq(mac_bad("00:00:00:00:00:00"), "all-zero MAC");
    ck_assert_str_eq(mac_bad("52:54:00:12:34"), why_mac);
    ck_assert_str_eq(mac_bad("52-54-00-12-34-56"), why_mac);
    ck_assert_str_eq(mac_bad("52:54:00:12:34:5g"), why_mac);
    ck_assert_str_eq(mac_bad("52:54:00:12:34:567"), why_mac);
    ck_assert_str_eq(mac_bad("5:54:00:12:34:56:"), why_mac);
    ck_assert_str_eq(mac_bad(""), why_mac);
    ck_assert_str_eq(mac_bad(NULL), why_mac);
}
END_TEST

START_TEST(closest_word)
{
    static const char *const words[] = {"system",  "ram",    "rom",           "cpu",
                                        "load",    "initrd", "set",           "dryrun",
                                        "runmask", "sched",  "fdt-dump-file", NULL};
    ck_assert_str_eq(vdev_closest_word("rma", words), "ram"); /* transposition */
    ck_assert_str_eq(vdev_closest_word("rum", words), "ram");
    ck_assert_str_eq(vdev_closest_word("RAM", words), "ram"); /* case-insensitive */
    ck_assert_str_eq(vdev_closest_word("runmsk", words), "runmask");
    ck_assert_str_eq(vdev_closest_word("dryrn", words), "dryrun");
    ck_assert_str_eq(vdev_closest_word("sytsem", words), "system");
    ck_assert_str_eq(vdev_closest_word("fdt-dump-fle", words), "fdt-dump-file");
    ck_assert_str_eq(vdev_closest_word("fdt_dmp_file", words), "fdt-dump-file");
    ck_assert_ptr_null(vdev_closest_word("xyz", words));
    ck_assert_ptr_null(vdev_closest_word("vdev", words));
    ck_assert_ptr_null(vdev_closest_word("rxyz", words));
    /* short words allow one edit; a tie goes to the first candidate */
    ck_assert_str_eq(vdev_closest_word("rxm", words), "ram");
    char long_word[300];
    memset(long_word, 'a', sizeof(long_word) - 1);
    long_word[sizeof(long_word) - 1] = '\0';
    ck_assert_ptr_null(vdev_closest_word(long_word, words));
    static const char *const none[] = {NULL};
    ck_assert_ptr_null(vdev_closest_word("ram", none));
    ck_assert_ptr_null(vdev_closest_word(NULL, words));
    ck_assert_ptr_null(vdev_closest_word("ram", NULL));
}
END_TEST

START_TEST(var_table)
{
    const char *names[] = {"fdt-dump-file", "acpi-dump-file", "exit-on-halt", "runtime-dir",
                           "halt-poll"};
    for (size_t i = 0; i < 5; i++) {
        bool found = false;
        const struct vdev_config_var *var;
        for (size_t k = 0; (var = vdev_config_var_at(k)); k++) {
            if (strcmp(var->name, names[i]) == 0) {
                found = true;
                ck_assert_ptr_nonnull(var->arg);
                ck_assert_ptr_nonnull(var->help);
            }
        }
        ck_assert_msg(found, "%s missing", names[i]);
    }
}
END_TEST

START_TEST(config_init_free)
{
    struct vdev_config cfg;
    struct vdev_err err;
    memset(&cfg, 0x5a, sizeof(cfg));
    vdev_config_init(&cfg);
    ck_assert_ptr_null(cfg.system);
    ck_assert_uint_eq(cfg.nmem, 0);
    ck_assert_uint_eq(cfg.first_ram_seq, UINT32_MAX);
    ck_assert(!cfg.dryrun);
    ck_assert_ptr_null(vdev_config_var(&cfg, "fdt-dump-file"));

    ck_assert_int_eq(vdev_config_parse_string(&cfg, "t",
                                              "system s ram 1m cpu load k initrd load i "
                                              "cmdline c reserve intr a:1 set runtime-dir /r "
                                              "vdev x a b",
                                              &err),
                     0);
    ck_assert_str_eq(vdev_config_var(&cfg, "runtime-dir"), "/r");
    ck_assert_ptr_null(vdev_config_var(&cfg, "exit-on-halt"));
    ck_assert_ptr_null(vdev_config_var(NULL, "runtime-dir"));
    vdev_config_free(&cfg);
    /* free leaves an empty config behind: freeing again or reusing is fine */
    ck_assert_ptr_null(cfg.system);
    ck_assert_uint_eq(cfg.nvdevs, 0);
    ck_assert_uint_eq(cfg.first_ram_seq, UINT32_MAX);
    vdev_config_free(&cfg);
    vdev_config_free(NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("config_values");
    TCase *tc = tcase_create("numbers");
    tcase_add_test(tc, u64_decimal_and_hex);
    tcase_add_test(tc, u64_suffixes);
    tcase_add_test(tc, u64_refused);
    tcase_add_test(tc, u64_overflow);
    suite_add_tcase(s, tc);

    tc = tcase_create("loc");
    tcase_add_test(tc, loc_memory_forms);
    tcase_add_test(tc, loc_io_forms);
    tcase_add_test(tc, loc_pci_forms);
    tcase_add_test(tc, loc_refused);
    tcase_add_test(tc, loc_format_round_trip);
    tcase_add_test(tc, loc_format_small_buffers);
    suite_add_tcase(s, tc);

    tc = tcase_create("intr_mac");
    tcase_add_test(tc, intr_forms);
    tcase_add_test(tc, intr_refused);
    tcase_add_test(tc, mac_forms);
    tcase_add_test(tc, mac_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("misc");
    tcase_add_test(tc, closest_word);
    tcase_add_test(tc, var_table);
    tcase_add_test(tc, config_init_free);
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
