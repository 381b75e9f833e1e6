/* The machine build: option tables and their validation, the life-cycle, loc/intr
 * placement and its errors, names, logging, printing. A statically registered "probe"
 * type records what the core delivers. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_embedder.h"

static char events[2048];

__attribute__((format(printf, 1, 2))) static void note(const char *fmt, ...)
{
    size_t used = strlen(events);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(events + used, sizeof(events) - used, fmt, ap);
    va_end(ap);
}

struct probe {
    uint8_t mac[6];
    char file[256];
};

static int probe_start(struct vdev *d)
{
    note("start;");
    return 0;
}

static int probe_option(struct vdev *d, const struct vdev_optval *v)
{
    struct probe *p = vdev_state(d);
    const char *n = v->opt->name;
    if (strcmp(n, "refuse") == 0 && strcmp(v->text, "bad") == 0)
        return vdev_error(d, v->pos, "use 'good'", "option 'refuse': '%s' is not acceptable",
                          v->text);
    if (strcmp(n, "num") == 0)
        note("num=%llu;", (unsigned long long)v->num);
    else if (strcmp(n, "mac") == 0)
        memcpy(p->mac, v->mac, 6);
    else if (strcmp(n, "file") == 0)
        snprintf(p->file, sizeof(p->file), "%s", v->path);
    else if (strcmp(n, "mode") == 0)
        note("mode=%u;", v->choice);
    else if (strcmp(n, "pair") == 0) {
        note("pair=%s,%s;", v->text, v->text2);
    } else
        note("%s;", n);
    return 0;
}

static int probe_end(struct vdev *d)
{
    note("end;");
    return 0;
}

static int probe_assign(struct vdev *d)
{
    note("assign@%llx;", (unsigned long long)vdev_loc(d)->addr);
    return 0;
}

static int probe_configured(struct vdev *d)
{
    note("configured;");
    vdev_log(d, VDEV_LOG_INFO, "info line");
    vdev_log(d, VDEV_LOG_WARNING, "warning line");
    return 0;
}

static void probe_terminate(struct vdev *d)
{
    note("terminate;");
}

static uint64_t probe_read(struct vdev *d, uint64_t off, unsigned size)
{
    return off;
}

static const char *const modes[] = {"fast", "slow", NULL};
static const struct vdev_option probe_options[] = {
    {.name = "flag", .kind = VDEV_OPT_FLAG, .help = "a flag"},
    {.name = "str", .kind = VDEV_OPT_STRING, .arg = "TEXT", .def = "none"},
    {.name = "num", .kind = VDEV_OPT_U64, .arg = "N", .min = 1, .max = 0x1000, .def = "16"},
    {.name = "mac", .kind = VDEV_OPT_MAC, .arg = "XX:XX:XX:XX:XX:XX"},
    {.name = "file", .kind = VDEV_OPT_PATH, .arg = "PATH"},
    {.name = "mode", .kind = VDEV_OPT_CHOICE, .choices = modes, .def = "fast"},
    {.name = "pair", .kind = VDEV_OPT_STRING2, .arg = "A B"},
    {.name = "allow", .kind = VDEV_OPT_STRING, .flags = VDEV_OPT_REPEAT, .arg = "PATTERN"},
    {.name = "refuse", .kind = VDEV_OPT_STRING, .arg = "WORD"},
    {0}};

static const struct vdev_type probe_type = {
    .abi_version = VDEV_ABI_VERSION,
    .type_size = sizeof(struct vdev_type),
    .name = "probe",
    .summary = "records what the core delivers",
    .options = probe_options,
    .state_size = sizeof(struct probe),
    .places = VDEV_PLACE_MEM,
    .window_size = 0x10,
    .has_intr = true,
    .window = {.read = probe_read, .sizes = 0xf},
    .options_start = probe_start,
    .option = probe_option,
    .options_end = probe_end,
    .assign = probe_assign,
    .configured = probe_configured,
    .terminate = probe_terminate,
};

static struct fake_embedder fe;
static struct vdev_err err;

static void setup(void)
{
    struct vdev_err e;
    if (vdev_register_type(&probe_type, &e))
        ck_abort_msg("%s", e.msg);
    events[0] = '\0';
    memset(&err, 0, sizeof(err));
    fake_machine_new(&fe);
}

static void teardown(void)
{
    fake_machine_free(&fe);
}

static int build(const char *text)
{
    return fake_machine_build_string(&fe, text, &err);
}

#define PROBE_DEV "vdev probe loc 0xd0000000 intr ioapic:5 "
#define PROBE     "ram 1M\n" PROBE_DEV

START_TEST(lifecycle_and_delivery)
{
    ck_assert_msg(build(PROBE "num 32 allow a* flag allow b* num 0x40 mode slow pair x y "
                              "mac 52:54:00:12:34:56") == 0,
                  "%s", err.msg);
    /* last wins for num (one delivery, 64), repeatable allow delivered twice, in order */
    ck_assert_str_eq(events, "start;allow;flag;allow;num=64;mode=1;pair=x,y;end;assign@d0000000;"
                             "configured;");
    struct vdev *d = vdev_machine_device(fe.m, 0);
    struct probe *p = vdev_state(d);
    static const uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
    ck_assert_mem_eq(p->mac, mac, 6);
    uint64_t v;
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_MEM, 0xd0000008, 4, false, &v),
                     VDEV_ACCESS_OK);
    ck_assert_uint_eq(v, 8);
    fake_machine_free(&fe);
    ck_assert_ptr_nonnull(strstr(events, "configured;terminate;"));
    fake_machine_new(&fe); /* for teardown */
}
END_TEST

START_TEST(unknown_option_did_you_mean)
{
    ck_assert_int_eq(build("ram 1M\nvdev probe alow x"), -1);
    ck_assert_str_eq(err.msg,
                     "test.conf:2:12: vdev probe: unknown option 'alow' (did you mean 'allow'?)");
    /* nothing close: no hint; a common option misspelt is found too */
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_int_eq(build("ram 1M\nvdev probe zzzzzz 1"), -1);
    ck_assert_str_eq(err.msg, "test.conf:2:12: vdev probe: unknown option 'zzzzzz'");
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_int_eq(build("ram 1M\nvdev probe lco 0x1000"), -1);
    ck_assert_str_eq(err.msg,
                     "test.conf:2:12: vdev probe: unknown option 'lco' (did you mean 'loc'?)");
}
END_TEST

START_TEST(missing_and_bad_arguments)
{
    ck_assert_int_eq(build(PROBE "num"), -1);
    ck_assert_str_eq(err.msg, "test.conf:2:41: vdev probe: option 'num' needs an argument: N");
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_int_eq(build(PROBE "pair x"), -1);
    ck_assert_str_eq(err.msg, "test.conf:2:41: vdev probe: option 'pair' needs two arguments: A B");
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_int_eq(build(PROBE "num 12q"), -1);
    ck_assert_ptr_nonnull(
        strstr(err.msg, "test.conf:2:45: vdev probe: option 'num': bad number '12q'"));
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_int_eq(build(PROBE "num 0x1001"), -1);
    ck_assert_str_eq(err.msg, "test.conf:2:45: vdev probe: option 'num': 0x1001 is out of range "
                              "(expected 1 to 4096)");
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_int_eq(build(PROBE "mac 52:54:00:12:34"), -1);
    ck_assert_ptr_nonnull(
        strstr(err.msg, "vdev probe: option 'mac': bad MAC address '52:54:00:12:34'"));
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_int_eq(build(PROBE "mode fsat"), -1);
    ck_assert_str_eq(err.msg, "test.conf:2:46: vdev probe: option 'mode': 'fsat' is not one of "
                              "fast, slow (did you mean 'fast'?)");
}
END_TEST

START_TEST(module_refusal_with_hint)
{
    ck_assert_int_eq(build(PROBE "refuse bad"), -1);
    ck_assert_str_eq(err.msg,
                     "test.conf:2:48: vdev probe: option 'refuse': 'bad' is not acceptable "
                     "(hint: use 'good')");
}
END_TEST

START_TEST(interrupt_errors)
{
    ck_assert_int_eq(build("ram 1M vdev probe loc 0xd0000000 intr gic:40"), -1);
    ck_assert_str_eq(err.msg, "test.conf:1:39: vdev probe: no interrupt controller 'gic' in this "
                              "machine (it has: ioapic)");
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_int_eq(build("ram 1M vdev probe loc 0xd0000000 intr ioapic:24"), -1);
    ck_assert_str_eq(err.msg,
                     "test.conf:1:39: vdev probe: line 24 is out of range for ioapic (0-23)");
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    /* an MMIO device must give intr */
    ck_assert_int_eq(build("ram 1M vdev probe loc 0xd0000000"), -1);
    ck_assert_str_eq(err.msg, "test.conf:1:23: vdev probe: a device placed with 'loc' needs 'intr' "
                              "too (hint: add e.g. 'intr ioapic:5')");
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_int_eq(build("ram 1M vdev probe loc 0xd0000000 intr ioapic:5 "
                           "vdev probe loc 0xd0001000 intr ioapic:5"),
                     -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "vdev probe: ioapic:5 is already used by probe"));
    ck_assert_int_eq(err.code, VDEV_E_BUSY);
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_int_eq(build("ram 1M reserve intr ioapic:5 vdev probe loc 0xd0000000 intr ioapic:5"),
                     -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "ioapic:5 is already used by reserve"));
}
END_TEST

START_TEST(location_errors)
{
    ck_assert_int_eq(build("ram 1M vdev probe loc io:0x100 intr ioapic:5"), -1);
    ck_assert_str_eq(err.msg, "test.conf:1:23: vdev probe: option 'loc': probe cannot sit in I/O "
                              "space (it takes: mem:ADDR)");
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_int_eq(build("ram 1M vdev probe intr ioapic:5"), -1);
    ck_assert_str_eq(err.msg, "test.conf:1:13: vdev probe: 'loc' is required");
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    /* overlapping windows name both devices */
    ck_assert_int_eq(build("ram 1M vdev probe name a loc 0xd0000000 intr ioapic:5 "
                           "vdev probe name b loc 0xd0000008 intr ioapic:6"),
                     -1);
    ck_assert_str_eq(err.msg, "test.conf:1:77: vdev probe: probe 'b' mem:0xd0000008-0xd0000017 "
                              "overlaps probe 'a' mem:0xd0000000-0xd000000f");
    ck_assert_int_eq(err.code, VDEV_E_BUSY);
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    /* a device on top of RAM or a platform window */
    ck_assert_int_eq(build("ram 1M vdev probe loc 0xfec00000 intr ioapic:5"), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "overlaps ioapic mem:0xfec00000-0xfec00fff"));
    ck_assert_int_eq(err.code, VDEV_E_BUSY);
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_int_eq(build("ram 1M vdev probe loc 0x1000 intr ioapic:5"), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "overlaps ram mem:0x0-0xfffff"));
    ck_assert_int_eq(err.code, VDEV_E_BUSY);
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_int_eq(build("ram 1M vdev probe loc mem:0xd0000000,0x20 intr ioapic:5"), -1);
    ck_assert_ptr_nonnull(
        strstr(err.msg, "length 0x20 does not match the device's window of 0x10"));
    ck_assert_int_eq(err.code, VDEV_E_CONFIG);
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_int_eq(
        build("ram 1M reserve loc 0xd0000000,0x1000 vdev probe loc 0xd0000800 intr ioapic:5"), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "overlaps reserve (line 1)"));
    ck_assert_int_eq(err.code, VDEV_E_BUSY);
}
END_TEST

START_TEST(names_unique_and_valid)
{
    ck_assert_int_eq(build("ram 1M vdev probe name x loc 0xd0000000 intr ioapic:5 "
                           "vdev probe name x loc 0xd0001000 intr ioapic:6"),
                     -1);
    ck_assert_str_eq(err.msg,
                     "test.conf:1:60: vdev probe: name 'x' is already used by vdev probe at "
                     "test.conf:1");
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_int_eq(build("ram 1M vdev probe name ../x loc 0xd0000000 intr ioapic:5"), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "option 'name': '../x' is not a valid name"));
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_int_eq(build("ram 1M vdev probe name console loc 0xd0000000 intr ioapic:5"), 0);
    ck_assert_ptr_nonnull(vdev_machine_find_device(fe.m, "console"));
    ck_assert_str_eq(vdev_label(vdev_machine_find_device(fe.m, "console")), "probe 'console'");
    ck_assert_ptr_null(vdev_machine_find_device(fe.m, "other"));
}
END_TEST

START_TEST(no_ram_is_an_error)
{
    ck_assert_int_eq(build("cpu cpu"), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "no 'ram' line"));
    ck_assert_ptr_nonnull(strstr(err.msg, "hint: add e.g. 'ram 256M'"));
}
END_TEST

START_TEST(paths_relative_to_config_file)
{
    char dir[] = "/tmp/vdevkit-test-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char conf[300];
    snprintf(conf, sizeof(conf), "%s/guest.conf", dir);
    FILE *f = fopen(conf, "w");
    fprintf(f, "ram 1M\nvdev probe loc 0xd0000000 intr ioapic:5 file data.bin log all probe.log\n");
    fclose(f);
    ck_assert_int_eq(vdev_machine_parse_file(fe.m, conf, &err), 0);
    ck_assert_msg(vdev_machine_build(fe.m, &err) == 0, "%s", err.msg);
    struct probe *p = vdev_state(vdev_machine_device(fe.m, 0));
    char want[300];
    snprintf(want, sizeof(want), "%s/data.bin", dir);
    ck_assert_str_eq(p->file, want);
    /* the log file too lands beside the configuration, with the device's lines in it */
    char log[300];
    snprintf(log, sizeof(log), "%s/probe.log", dir);
    FILE *lf = fopen(log, "r");
    ck_assert_ptr_nonnull(lf);
    char line[128] = "";
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), lf));
    fclose(lf);
    ck_assert_str_eq(line, "probe: info: info line\n");
    unlink(log);
    unlink(conf);
    rmdir(dir);
}
END_TEST

START_TEST(log_filters_and_destination)
{
    char path[] = "/tmp/vdevkit-log-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    char cfg[512];
    snprintf(cfg, sizeof(cfg), PROBE "log warning+ %s", path);
    ck_assert_msg(build(cfg) == 0, "%s", err.msg);
    char buf[512] = {0};
    FILE *f = fopen(path, "r");
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    unlink(path);
    buf[n] = '\0';
    ck_assert_str_eq(buf, "probe: warning: warning line\n");
    /* without `log`, info and up go to the embedder */
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_int_eq(build(PROBE), 0);
    ck_assert_ptr_nonnull(strstr(fe.log, "probe: info line\n"));
    ck_assert_ptr_nonnull(strstr(fe.log, "probe: warning line\n"));
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_int_eq(build(PROBE "log loud stderr"), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "vdev probe: option 'log': FILTERS is a comma list"));
}
END_TEST

START_TEST(print_shows_options_after_defaults)
{
    ck_assert_int_eq(
        build("system demo ram 1M cpu cpu " PROBE_DEV "name p0 num 32 allow x allow y"), 0);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    vdev_machine_print(fe.m, out);
    fclose(out);
    ck_assert_ptr_nonnull(strstr(text, "machine 'demo'\n"));
    ck_assert_ptr_nonnull(strstr(text, "cpus: 2\n"));
    ck_assert_ptr_nonnull(
        strstr(text, "  0x0000000000000000-0x00000000000fffff  ram       1 MiB      ram\n"));
    ck_assert_ptr_nonnull(
        strstr(text, "  0x00000000d0000000-0x00000000d000000f  device    16 B       probe 'p0'\n"));
    ck_assert_ptr_nonnull(strstr(text, "    loc   mem:0xd0000000,0x10\n"));
    ck_assert_ptr_nonnull(strstr(text, "    intr  ioapic:5 (GSI 5)\n"));
    ck_assert_ptr_nonnull(strstr(text, "      num        32\n"));
    ck_assert_ptr_nonnull(strstr(text, "      mode       fast  (default)\n"));
    ck_assert_ptr_nonnull(strstr(text, "      flag       off  (default)\n"));
    ck_assert_ptr_nonnull(strstr(text, "      allow      x\n      allow      y\n"));
    ck_assert_ptr_nonnull(strstr(text, "      name       p0\n"));
    ck_assert_ptr_nonnull(strstr(text, "    ioapic:5  probe 'p0'\n"));
    free(text);
}
END_TEST

START_TEST(static_registration_checks)
{
    struct vdev_type bad = probe_type;
    bad.abi_version = 99;
    ck_assert_int_eq(vdev_register_type(&bad, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_ABI);
    ck_assert_str_eq(err.msg, "module built for vdev ABI 99, this vdevkit has ABI 2 (rebuild the "
                              "module against this vdevkit's headers)");
    static const struct vdev_option clash[] = {{.name = "loc", .kind = VDEV_OPT_STRING}, {0}};
    struct vdev_type t2 = probe_type;
    t2.name = "clash";
    t2.options = clash;
    ck_assert_int_eq(vdev_register_type(&t2, &err), -1);
    ck_assert_str_eq(err.msg, "module clash: option 'loc' is reserved by the core");
    ck_assert_int_eq(err.code, VDEV_E_INVAL);
    static const struct vdev_type other = {
        .abi_version = VDEV_ABI_VERSION, .type_size = sizeof(struct vdev_type), .name = "probe"};
    ck_assert_int_eq(vdev_register_type(&other, &err), -1);
    ck_assert_str_eq(err.msg, "device type 'probe' is registered twice");
    ck_assert_int_eq(err.code, VDEV_E_EXIST);
    ck_assert_int_eq(vdev_register_type(&probe_type, &err), 0); /* the same type again is fine */
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("machine");
    TCase *tc = tcase_create("machine");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, lifecycle_and_delivery);
    tcase_add_test(tc, unknown_option_did_you_mean);
    tcase_add_test(tc, missing_and_bad_arguments);
    tcase_add_test(tc, module_refusal_with_hint);
    tcase_add_test(tc, interrupt_errors);
    tcase_add_test(tc, location_errors);
    tcase_add_test(tc, names_unique_and_valid);
    tcase_add_test(tc, no_ram_is_an_error);
    tcase_add_test(tc, paths_relative_to_config_file);
    tcase_add_test(tc, log_filters_and_destination);
    tcase_add_test(tc, print_shows_options_after_defaults);
    tcase_add_test(tc, static_registration_checks);
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
