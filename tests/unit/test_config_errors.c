/* Every kind of configuration mistake and its exact message: "FILE:LINE:COL: message". */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <vdev/config.h>

#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "tests/data"
#endif
#define CONF_DIR TEST_DATA_DIR "/config"

#define NUMBER "expected a number like 4096, 0x1000 or 32M"
#define MEMORY_FIRST                                                                               \
    "refers to guest memory before any 'ram' or 'rom' (hint: put the ram lines first)"
#define CPULIST "expected host CPU numbers and ranges below 64, like 0-1,3"
#define PRIO                                                                                       \
    "expected PRIORITY[r|f|o] (1-255, like 10 or 10r) or HIGH,LOW,MAX_REPL,PERIOD_NS,BUDGET_NS "   \
    "followed by s (sporadic)"
#define PASS_SHAPE                                                                                 \
    "loc pci:BUS:DEV[.FN]=pci:[DOMAIN:]BUS:DEV.FN, loc pci:BUS:DEV[.FN]=pci:0xVID/0xDID[/INDEX] "  \
    "or loc pci:0xVID/0xDID[/INDEX]"
#define PRIO_RANGE "priority out of range (1-255)"

static const struct {
    const char *text;
    const char *msg;
} cases[] = {
    /* unknown options, with and without a suggestion */
    {"rma 32m", "t:1:1: unknown option 'rma' (did you mean 'ram'?)"},
    {"ram 1m\n  xyz", "t:2:3: unknown option 'xyz'"},
    {"dryrn", "t:1:1: unknown option 'dryrn' (did you mean 'dryrun'?)"},
    {"sytsem x", "t:1:1: unknown option 'sytsem' (did you mean 'system'?)"},
    {"\"ram\" 1m", "t:1:1: unknown option 'ram' (keywords must not be quoted)"},
    {"loc 0x1000", "t:1:1: unknown option 'loc'"},
    {"cpu runmsk 3", "t:1:5: cpu: unknown option 'runmsk' (did you mean 'runmask'?)"},
    {"cpu shced 3", "t:1:5: cpu: unknown option 'shced' (did you mean 'sched'?)"},
    {"cpu rma 1m", "t:1:5: cpu: unknown option 'rma' (did you mean 'ram'?)"},
    {"cpu loc 0x1000", "t:1:5: cpu: unknown option 'loc'"},
    {"reserve lco 0x1000", "t:1:9: reserve: unknown option 'lco' (did you mean 'loc'?)"},
    {"reserve intr a:1 itnr b:2", "t:1:18: reserve: unknown option 'itnr' (did you mean 'intr'?)"},
    {"reserve intr a:1 name x", "t:1:18: reserve: unknown option 'name'"},

    /* a missing argument points at the keyword */
    {"ram", "t:1:1: 'ram' needs an argument: [START,]LENGTH"},
    {"ram 1m\nrom", "t:2:1: 'rom' needs an argument: START,LENGTH"},
    {"system", "t:1:1: 'system' needs an argument: NAME"},
    {"ram 1m load", "t:1:8: 'load' needs an argument: [ADDRESS,]FILE"},
    {"initrd", "t:1:1: 'initrd' needs an argument: load FILE"},
    {"initrd load", "t:1:1: 'initrd load' needs an argument: FILE"},
    {"cmdline", "t:1:1: 'cmdline' needs an argument: \"TEXT\""},
    {"set", "t:1:1: 'set' needs an argument: VAR VALUE"},
    {"set fdt-dump-file", "t:1:1: 'set fdt-dump-file' needs an argument: PATH"},
    {"set exit-on-halt", "t:1:1: 'set exit-on-halt' needs an argument: yes|no"},
    {"vdev", "t:1:1: 'vdev' needs an argument: TYPE"},
    {"cpu sched", "t:1:5: 'sched' needs an argument: PRIORITY"},
    {"cpu runmask", "t:1:5: 'runmask' needs an argument: CPU list like 0-1,3"},
    {"reserve loc", "t:1:9: 'loc' needs an argument: LOCATION"},
    {"reserve intr", "t:1:9: 'intr' needs an argument: PIC:LINE"},
    /* ... also when a keyword follows instead */
    {"ram cpu", "t:1:1: 'ram' needs an argument: [START,]LENGTH"},
    {"system ram 1m", "t:1:1: 'system' needs an argument: NAME"},
    {"initrd cpu", "t:1:1: 'initrd' needs an argument: load FILE"},
    {"cpu sched ram 1m", "t:1:5: 'sched' needs an argument: PRIORITY"},
    {"vdev dryrun", "t:1:1: 'vdev' needs an argument: TYPE"},
    {"set runtime-dir dryrun", "t:1:1: 'set runtime-dir' needs an argument: PATH"},

    /* system */
    {"ram 1m\nsystem x", "t:2:1: 'system' must be the first entry"},
    {"system a system b", "t:1:10: 'system' given twice (first at t:1:1)"},
    {"system a/b",
     "t:1:8: 'system': bad name 'a/b': use up to 63 letters, digits, '_', '-' or '.'"},
    {"system ..", "t:1:8: 'system': bad name '..': use up to 63 letters, digits, '_', '-' or '.'"},
    {"system \"\"", "t:1:8: 'system': bad name '': use up to 63 letters, digits, '_', '-' or '.'"},

    /* ram and rom */
    {"ram 0", "t:1:5: 'ram': length must not be 0"},
    {"ram 1m,0", "t:1:5: 'ram': length must not be 0"},
    {"rom 0x1000,0", "t:1:5: 'rom': length must not be 0"},
    {"ram 1q", "t:1:5: 'ram': bad length '1q': " NUMBER},
    {"ram -1m", "t:1:5: 'ram': bad length '-1m': " NUMBER},
    {"ram x,1m", "t:1:5: 'ram': bad start 'x': " NUMBER},
    {"ram ,1m", "t:1:5: 'ram': bad start '': " NUMBER},
    {"ram 1m,2m,3m", "t:1:5: 'ram': bad length '2m,3m': " NUMBER},
    {"ram 99999999999999999999",
     "t:1:5: 'ram': bad length '99999999999999999999': number too large"},
    {"rom 32m", "t:1:5: 'rom' needs START,LENGTH, got '32m'"},
    {"ram 0xffffffffffff0000,1m",
     "t:1:5: 'ram': 0xffffffffffff0000,1m ends past the end of the address space"},

    /* ram and rom come before anything that refers to guest memory */
    {"load 0x100000,k.elf\nram 1m", "t:1:1: 'load' " MEMORY_FIRST},
    {"cpu\n load 0x100000,k.elf", "t:2:2: 'load' " MEMORY_FIRST},
    {"reserve loc 0x1000\nram 1m", "t:1:9: 'loc' " MEMORY_FIRST},
    {"reserve loc mem:0x1000,0x1000", "t:1:9: 'loc' " MEMORY_FIRST},
    {"vdev pl011 loc 0x1c090000 intr gic:5\nram 1m", "t:1:12: 'loc' " MEMORY_FIRST},
    {"vdev x intr gic:1 loc 0x1000,0x100", "t:1:19: 'loc' " MEMORY_FIRST},
    {"vdev x loc mem:junk", "t:1:8: 'loc' " MEMORY_FIRST},

    /* load, initrd, cmdline */
    {"ram 1m load 0x1q,k", "t:1:13: 'load': bad address '0x1q': " NUMBER},
    {"ram 1m load 0x1000,", "t:1:13: 'load' needs a file name: [ADDRESS,]FILE"},
    {"load \"\"", "t:1:6: 'load' needs a file name: [ADDRESS,]FILE"},
    {"initrd k.img", "t:1:8: 'initrd': expected 'load FILE', got 'k.img'"},
    {"initrd load \"\"", "t:1:13: 'initrd load' needs a file name"},

    /* cpu options */
    {"cpu runmask 64", "t:1:13: 'runmask': bad CPU list '64': " CPULIST},
    {"cpu runmask 1-0", "t:1:13: 'runmask': bad CPU list '1-0': " CPULIST},
    {"cpu runmask 0,,1", "t:1:13: 'runmask': bad CPU list '0,,1': " CPULIST},
    {"cpu runmask 1-", "t:1:13: 'runmask': bad CPU list '1-': " CPULIST},
    {"cpu runmask 0,", "t:1:13: 'runmask': bad CPU list '0,': " CPULIST},
    {"cpu runmask 0x3", "t:1:13: 'runmask': bad CPU list '0x3': " CPULIST},
    {"cpu runmask a", "t:1:13: 'runmask': bad CPU list 'a': " CPULIST},
    {"cpu runmask \"\"", "t:1:13: 'runmask': bad CPU list '': " CPULIST},
    {"cpu runmask 99999999999999999999",
     "t:1:13: 'runmask': bad CPU list '99999999999999999999': " CPULIST},
    {"cpu sched 0", "t:1:11: 'sched': bad value '0': " PRIO_RANGE},
    {"cpu sched 256", "t:1:11: 'sched': bad value '256': " PRIO_RANGE},
    {"cpu sched 10,20,5,1000000,500000s",
     "t:1:11: 'sched': bad value '10,20,5,1000000,500000s': sporadic: priorities 1-255, the low "
     "one at most the high one"},
    {"cpu sched 20,10,5,1000,5000s",
     "t:1:11: 'sched': bad value '20,10,5,1000,5000s': sporadic: replenishments, period and "
     "budget above 0, the budget at most the period"},
    {"cpu sched 20,10,5,1000,500", "t:1:11: 'sched': bad value '20,10,5,1000,500': " PRIO},
    {"cpu sched 20,10s", "t:1:11: 'sched': bad value '20,10s': " PRIO},
    {"cpu sched 8x", "t:1:11: 'sched': bad value '8x': " PRIO},
    {"cpu sched 8rr", "t:1:11: 'sched': bad value '8rr': " PRIO},
    {"cpu sched r", "t:1:11: 'sched': bad value 'r': " PRIO},
    {"cpu sched -1", "t:1:11: 'sched': bad value '-1': " PRIO},
    {"cpu sched 99999999999999999999", "t:1:11: 'sched': bad value '99999999999999999999': " PRIO},

    /* reserve */
    {"reserve\ncpu", "t:1:1: 'reserve' needs 'loc LOCATION' or 'intr PIC:LINE'"},
    {"ram 1m reserve", "t:1:8: 'reserve' needs 'loc LOCATION' or 'intr PIC:LINE'"},
    {"reserve loc io:0x10000",
     "t:1:13: 'loc': bad location 'io:0x10000': I/O port must be below 0x10000"},
    {"reserve loc pci:0:32", "t:1:13: 'loc': bad location 'pci:0:32': PCI device must be 0..31"},
    {"reserve intr ioapic",
     "t:1:14: 'intr': bad interrupt 'ioapic': expected PIC:LINE, like ioapic:4 or gic:40"},

    /* set */
    {"set fdt-dump-fle x",
     "t:1:5: set: unknown variable 'fdt-dump-fle' (did you mean 'fdt-dump-file'?)"},
    {"set exit-on-hlat yes",
     "t:1:5: set: unknown variable 'exit-on-hlat' (did you mean 'exit-on-halt'?)"},
    {"set color red", "t:1:5: set: unknown variable 'color'"},
    {"set exit-on-halt maybe", "t:1:18: 'set exit-on-halt': expected yes|no, got 'maybe'"},
    {"set runtime-dir \"\"", "t:1:17: 'set runtime-dir': the value must not be empty"},
    {"set halt-poll lots",
     "t:1:15: 'set halt-poll': expected microseconds from 0 to 1000000, got 'lots'"},
    {"set halt-poll 1000001",
     "t:1:15: 'set halt-poll': expected microseconds from 0 to 1000000, got '1000001'"},

    /* pass-through and vdev */
    {"ram 1m\npass loc 0x1000",
     "t:2:10: pass: passing host memory or I/O ports ('0x1000') is not supported: vdevkit passes "
     "whole PCI devices (hint: " PASS_SHAPE ")"},
    {"pass loc mem:0x1000=mem:0x2000",
     "t:1:10: pass: passing host memory or I/O ports ('mem:0x1000=mem:0x2000') is not supported: "
     "vdevkit passes whole PCI devices (hint: " PASS_SHAPE ")"},
    {"pass loc io:0x3f8", "t:1:10: pass: passing host memory or I/O ports ('io:0x3f8') is not "
                          "supported: vdevkit passes whole PCI devices (hint: " PASS_SHAPE ")"},
    {"pass", "t:1:1: 'pass' needs " PASS_SHAPE},
    {"pass managed", "t:1:1: 'pass' needs " PASS_SHAPE},
    {"pass loc", "t:1:6: 'loc' needs an argument: " PASS_SHAPE},
    {"pass loc pci:0:1.0=0000:01:00.0",
     "t:1:10: pass: bad location 'pci:0:1.0=0000:01:00.0': expected " PASS_SHAPE},
    {"pass loc 0:1.0=pci:1:0.0",
     "t:1:10: pass: passing host memory or I/O ports ('0:1.0=pci:1:0.0') "
     "is not supported: vdevkit passes whole PCI devices (hint: " PASS_SHAPE ")"},
    {"pass loc x:1.0=pci:1:0.0",
     "t:1:10: pass: bad location 'x:1.0=pci:1:0.0': expected " PASS_SHAPE},
    {"pass loc foo", "t:1:10: pass: bad location 'foo': expected " PASS_SHAPE},
    {"pass loc pci:0:99.0=pci:1:0.0",
     "t:1:10: pass: bad guest slot 'pci:0:99.0': expected pci:BUS:DEV[.FN]"},
    {"pass loc pci:0:1.0=pci:1:0.0 loc pci:0:2.0=pci:2:0.0",
     "t:1:30: pass: a second 'loc': one 'pass' passes one device (hint: start another 'pass' for "
     "the next one)"},
    {"pass loc pci:0x8086/0x10ca intr ioapic:5=5",
     "t:1:33: pass: 'intr GUEST=HOST' (a host interrupt line) is not supported: a passed PCI "
     "device interrupts through its own MSI-X, MSI or INTx (hint: leave 'intr' out)"},
    {"pass loc pci:0x8086/0x10ca intr", "t:1:28: 'intr' needs an argument: PIC:LINE"},
    {"vdev \"\"", "t:1:6: 'vdev' needs a device type, like ser8250"},

    /* lexer */
    {"cmdline \"abc", "t:1:9: unterminated quote"},
    {"ram 1m\n\n   x\"y\nz\"", "t:3:5: unterminated quote"},
    {"x \"a\\\"", "t:1:3: unterminated quote"},
    {"ram @", "t:1:5: '@' needs a file name"},

    /* tokens shown in messages: control bytes as '?', long ones cut */
    {"x\001y", "t:1:1: unknown option 'x?y'"},
    {"cpu \"tab\there\"", "t:1:5: cpu: unknown option 'tab?here'"},
};

static struct vdev_config cfg;
static struct vdev_err err;

static void setup(void)
{
    vdev_config_init(&cfg);
    memset(&err, 0, sizeof(err));
}

static void teardown(void)
{
    vdev_config_free(&cfg);
}

START_TEST(exact_message)
{
    const char *text = cases[_i].text;
    ck_assert_msg(vdev_config_parse_string(&cfg, "t", text, &err) == -1, "accepted: %s", text);
    ck_assert_str_eq(err.msg, cases[_i].msg);
    ck_assert_msg(err.code == VDEV_E_CONFIG, "%s: %s", text, vdev_errc_name(err.code));
}
END_TEST

START_TEST(system_after_an_earlier_call)
{
    ck_assert_int_eq(vdev_config_parse_string(&cfg, "a", "ram 1m", &err), 0);
    ck_assert_int_eq(vdev_config_parse_string(&cfg, "b", "system s", &err), -1);
    ck_assert_str_eq(err.msg, "b:1:1: 'system' must be the first entry");
}
END_TEST

START_TEST(empty_reserve_at_the_end_of_a_call)
{
    ck_assert_int_eq(vdev_config_parse_string(&cfg, "a", "ram 1m\nreserve # nothing", &err), -1);
    ck_assert_str_eq(err.msg, "a:2:1: 'reserve' needs 'loc LOCATION' or 'intr PIC:LINE'");
}
END_TEST

START_TEST(long_token_is_cut)
{
    char text[101];
    memset(text, 'a', 100);
    text[100] = '\0';
    ck_assert_int_eq(vdev_config_parse_string(&cfg, "t", text, &err), -1);
    char want[200];
    snprintf(want, sizeof(want), "t:1:1: unknown option '%.57s...'", text);
    ck_assert_str_eq(err.msg, want);
}
END_TEST

START_TEST(command_line_positions)
{
    char *zero[] = {"ram", "0"};
    ck_assert_int_eq(vdev_config_parse_args(&cfg, 2, zero, &err), -1);
    ck_assert_str_eq(err.msg, "command line:1:2: 'ram': length must not be 0");
    char *missing[] = {"cpu", "ram"};
    ck_assert_int_eq(vdev_config_parse_args(&cfg, 2, missing, &err), -1);
    ck_assert_str_eq(err.msg, "command line:1:2: 'ram' needs an argument: [START,]LENGTH");
    char *unknown[] = {"ram", "1m", "cpu", "sched", "9", "bogus"};
    vdev_config_free(&cfg);
    ck_assert_int_eq(vdev_config_parse_args(&cfg, 6, unknown, &err), -1);
    ck_assert_str_eq(err.msg, "command line:1:6: cpu: unknown option 'bogus'");
}
END_TEST

START_TEST(error_inside_an_included_file)
{
    char *argv[] = {"ram", "1m", "@" CONF_DIR "/bad_sched.conf"};
    ck_assert_int_eq(vdev_config_parse_args(&cfg, 3, argv, &err), -1);
    ck_assert_str_eq(err.msg, CONF_DIR "/bad_sched.conf:2:9: 'sched': bad value '0': " PRIO_RANGE);
    ck_assert_int_eq(err.code, VDEV_E_CONFIG);
}
END_TEST

START_TEST(include_cycle_message)
{
    ck_assert_int_eq(chdir(CONF_DIR), 0);
    char *argv[] = {"@cycle_a.conf", "dryrun"};
    ck_assert_int_eq(vdev_config_parse_args(&cfg, 2, argv, &err), -1);
    ck_assert_str_eq(err.msg, "cycle_b.conf:1:1: @cycle_a.conf: include cycle: "
                              "cycle_a.conf -> cycle_b.conf -> cycle_a.conf");
}
END_TEST

START_TEST(include_missing_message)
{
    ck_assert_int_eq(vdev_config_parse_file(&cfg, CONF_DIR "/missing.conf", &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_NOENT);
    ck_assert_str_eq(err.msg, CONF_DIR
                     "/missing.conf:2:3: @nothere.conf: cannot open: No such file or directory");
    ck_assert_int_eq(vdev_config_parse_file(&cfg, "/nonexistent/x.conf", &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_NOENT);
    ck_assert_int_eq(vdev_config_parse_file(&cfg, NULL, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_INVAL);
}
END_TEST

START_TEST(null_config)
{
    ck_assert_int_eq(vdev_config_parse_string(NULL, "t", "ram 1m", &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_INVAL);
    ck_assert_int_eq(vdev_config_parse_string(&cfg, "t", "bogus", NULL), -1); /* no err: fine */
}
END_TEST

/* Hostile input: random text from the language's own pieces never crashes, and every
 * refusal carries a position. Run under ASan/UBSan to catch out-of-bounds reads. */
START_TEST(random_input_never_crashes)
{
    static const char *const pieces[] = {"ram",
                                         "rom",
                                         "cpu",
                                         "sched",
                                         "runmask",
                                         "load",
                                         "initrd",
                                         "cmdline",
                                         "reserve",
                                         "loc",
                                         "intr",
                                         "set",
                                         "fdt-dump-file",
                                         "exit-on-halt",
                                         "yes",
                                         "vdev",
                                         "ser8250",
                                         "pass",
                                         "system",
                                         "dryrun",
                                         "1m",
                                         "0x1000",
                                         "0,4k",
                                         "io:0x3f8",
                                         "gic:5",
                                         "mem:0x1000,0x10",
                                         "pci:0:3.1",
                                         "0-63",
                                         "8r",
                                         "\"q q\"",
                                         "#",
                                         "\n",
                                         "\"",
                                         "\\",
                                         "@",
                                         "@nope",
                                         "@.",
                                         ",",
                                         ":",
                                         "-",
                                         "\t",
                                         "\r",
                                         "0xffffffffffffffff",
                                         "99999999999999999999",
                                         "",
                                         "\001",
                                         "\377",
                                         "a\"b\\\"c\"",
                                         "=",
                                         "runtime-dir",
                                         "rma"};
    const size_t npieces = sizeof(pieces) / sizeof(pieces[0]);
    char tmp[] = "/tmp/vdev-fuzz-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    ck_assert_int_eq(chdir(tmp), 0); /* @includes find nothing here */
    uint32_t rng = 12345;
    char text[512];
    for (int iter = 0; iter < 4000; iter++) {
        size_t len = 0;
        text[0] = '\0';
        rng = rng * 1103515245u + 12345u;
        int words = (int)(rng >> 16) % 24;
        for (int w = 0; w < words; w++) {
            rng = rng * 1103515245u + 12345u;
            const char *p = pieces[(rng >> 16) % npieces];
            rng = rng * 1103515245u + 12345u;
            const char *sep = (rng >> 16) % 4 ? " " : "";
            if (len + strlen(p) + 2 >= sizeof(text))
                break;
            len += (size_t)sprintf(text + len, "%s%s", p, sep);
        }
        struct vdev_config c;
        struct vdev_err e = {0};
        vdev_config_init(&c);
        int rc = vdev_config_parse_string(&c, "t", text, &e);
        ck_assert_msg(rc == 0 || rc == -1, "rc %d for '%s'", rc, text);
        if (rc)
            ck_assert_msg(strncmp(e.msg, "t:", 2) == 0, "no position for '%s': %s", text, e.msg);
        /* continuing after a failure must stay safe too */
        vdev_config_parse_string(&c, "u", "sched 5 loc 0x10 x", &e);
        vdev_config_free(&c);
    }
    ck_assert_int_eq(chdir("/"), 0);
    ck_assert_int_eq(rmdir(tmp), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("config_errors");
    TCase *tc = tcase_create("messages");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, exact_message, 0, (int)(sizeof(cases) / sizeof(cases[0])));
    tcase_add_test(tc, system_after_an_earlier_call);
    tcase_add_test(tc, empty_reserve_at_the_end_of_a_call);
    tcase_add_test(tc, long_token_is_cut);
    tcase_add_test(tc, command_line_positions);
    tcase_add_test(tc, error_inside_an_included_file);
    tcase_add_test(tc, include_cycle_message);
    tcase_add_test(tc, include_missing_message);
    tcase_add_test(tc, null_config);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, random_input_never_crashes);
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
