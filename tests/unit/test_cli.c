/* The vdevkit command: `run … dryrun` prints the machine; bad configurations exit 2 with one
 * message and never start. Runs the real executable. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];

/* Runs `vdevkit ARGS` in `dir`, returning the exit status; output (stdout+stderr) in *out. */
static int run(const char *args, char **out)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cd %s && %s %s 2>&1", dir, VDEVKIT_EXE, args);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t cap = 1 << 16, len = 0;
    *out = calloc(1, cap);
    size_t n;
    while ((n = fread(*out + len, 1, cap - 1 - len, p)) > 0)
        len += n;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/vdevkit-cli-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Every form of loc and intr the language has, on the two first modules. */
static const char *every_form =
    "system demo\n"
    "ram 1m,255m\n"
    "ram 0,0xa0000\n"
    "cpu runmask 0 sched 8\n"
    "cpu\n"
    "vdev ser8250                      # default loc io:0x3f8, intr ioapic:4\n"
    "  name console\n"
    "vdev ser8250 loc io:0x2f8 intr ioapic:3\n"
    "vdev ser8250 loc mem:0xd0000000 intr ioapic:5\n"
    "vdev ser8250 loc 0xd0001000 intr ioapic:6   # bare address = mem\n"
    "vdev ser8250 loc io:0x3e8,8 intr ioapic:7\n"
    "vdev testdev                      # default loc io:0xf4\n"
    "vdev testdev loc io:0x500\n"
    "reserve loc io:0x700,16 intr ioapic:11\n";

START_TEST(dryrun_prints_machine)
{
    write_file("guest.conf", every_form);
    char *out;
    int rc = run("run @guest.conf dryrun", &out);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
    ck_assert_ptr_nonnull(strstr(out, "machine 'demo'\n"));
    ck_assert_ptr_nonnull(strstr(out, "cpus: 2\n"));
    ck_assert_ptr_nonnull(strstr(out, "  cpu 0: runmask 0 sched 8\n"));
    ck_assert_ptr_nonnull(
        strstr(out, "0x0000000000100000-0x000000000fffffff  ram       255 MiB    ram"));
    ck_assert_ptr_nonnull(
        strstr(out, "0x0000000000000000-0x000000000009ffff  ram       640 KiB    ram"));
    ck_assert_ptr_nonnull(
        strstr(out, "0x00000000d0000000-0x00000000d0000007  device    8 B        ser8250 #"));
    ck_assert_ptr_nonnull(strstr(out, "  0x03f8-0x03ff  device    ser8250 'console'\n"));
    ck_assert_ptr_nonnull(strstr(out, "  0x02f8-0x02ff  device    ser8250"));
    ck_assert_ptr_nonnull(strstr(out, "  0x00f4-0x00ff  device    testdev"));
    ck_assert_ptr_nonnull(strstr(out, "  0x0700-0x070f  reserved  reserve (line 14)\n"));
    ck_assert_ptr_nonnull(strstr(out, "    intr  ioapic:4 (GSI 4)  (default)\n"));
    ck_assert_ptr_nonnull(strstr(out, "    ioapic:11  reserve\n"));
    ck_assert_ptr_nonnull(strstr(out, "devices: 7\n"));
    free(out);
}
END_TEST

START_TEST(options_after_the_file)
{
    write_file("guest.conf", "ram 64M vdev testdev\n");
    char *out;
    int rc = run("run @guest.conf set fdt-dump-file /tmp/x.dtb dryrun", &out);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
    ck_assert_ptr_nonnull(strstr(out, "set fdt-dump-file /tmp/x.dtb\n"));
    free(out);
}
END_TEST

START_TEST(bad_config_exits_2_with_one_message)
{
    write_file("guest.conf",
               "ram 64M\nvdev ser8250\n    hostdev stdout\n    intr ioapic:4 speeed 9600\n");
    char *out;
    int rc = run("run @guest.conf dryrun", &out);
    ck_assert_int_eq(rc, 2);
    ck_assert_str_eq(out, "guest.conf:4:19: vdev ser8250: unknown option 'speeed'\n"
                          "vdevkit: the VM was not started\n");
    free(out);
    write_file("guest.conf", "ram 64M\nvdev ser8250 loc io:0x2f8 intr gic:40\n");
    rc = run("run @guest.conf dryrun", &out);
    ck_assert_int_eq(rc, 2);
    ck_assert_str_eq(out, "guest.conf:2:32: vdev ser8250: no interrupt controller 'gic' in this "
                          "machine (it has: ioapic)\nvdevkit: the VM was not started\n");
    free(out);
    /* the platform's own lines are not for devices */
    write_file("guest.conf", "ram 64M\nvdev ser8250 loc io:0x2f8 intr ioapic:2\n");
    rc = run("run @guest.conf dryrun", &out);
    ck_assert_int_eq(rc, 2);
    ck_assert_ptr_nonnull(strstr(out, "ioapic:2 is already used by pit (platform)"));
    free(out);
}
END_TEST

START_TEST(usage_and_version)
{
    char *out;
    ck_assert_int_eq(run("version", &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "vdev ABI 2"));
    free(out);
    ck_assert_int_eq(run("frobnicate", &out), 2);
    ck_assert_ptr_nonnull(strstr(out, "unknown command 'frobnicate'"));
    free(out);
}
END_TEST

/* An option never takes the next option's name as its value; quoted, the word is a value. */
START_TEST(option_name_is_not_a_value)
{
    char *out;
    write_file("swallow.conf", "ram 1M\nvdev virtio-net mac\n  name net0\n");
    ck_assert_int_eq(run("run @swallow.conf dryrun", &out), 2);
    ck_assert_msg(strstr(out, "swallow.conf:3:3: vdev virtio-net: option 'mac' needs "
                              "XX:XX:XX:XX:XX:XX, but the next word is the option 'name'"),
                  "%s", out);
    free(out);
    write_file("quoted.conf", "ram 1M\nvdev virtio-net name \"mac\"\n");
    ck_assert_msg(run("run @quoted.conf dryrun", &out) == 0, "%s", out);
    free(out);
}
END_TEST

/* Two NICs of one VM with the same MAC: refused, naming both lines. */
START_TEST(duplicate_mac_is_refused)
{
    char *out;
    write_file("dupmac.conf", "ram 1M\n"
                              "vdev virtio-net name a mac 52:54:00:00:00:01\n"
                              "vdev virtio-net name b mac 52:54:00:00:00:02\n"
                              "vdev virtio-net name c mac 52:54:00:00:00:01\n");
    ck_assert_int_eq(run("run @dupmac.conf dryrun", &out), 2);
    ck_assert_msg(strstr(out, "dupmac.conf:4:") &&
                      strstr(out, "MAC 52:54:00:00:00:01 is already the MAC of the NIC at "
                                  "dupmac.conf:2"),
                  "%s", out);
    free(out);
    write_file("twomacs.conf", "ram 1M\nvdev virtio-net name a\nvdev virtio-net name b\n");
    ck_assert_msg(run("run @twomacs.conf dryrun", &out) == 0, "%s", out); /* derived: distinct */
    free(out);
}
END_TEST

/* qvm's peer form /dev/qvm/SYSTEM/NAME is the endpoint NAME of VM SYSTEM in the run-time
 * folder. */
START_TEST(qvm_peer_path_maps_to_the_runtime_folder)
{
    char *out;
    write_file("qvmpeer.conf", "system s0\nset runtime-dir /tmp/vdevkit-cli-rt\nram 1M\n"
                               "vdev virtio-net name curly peer /dev/qvm/s1/moe\n");
    ck_assert_int_eq(run("run @qvmpeer.conf dryrun", &out), 0);
    ck_assert_msg(strstr(out, "link down peer /tmp/vdevkit-cli-rt/s1/moe "), "%s", out);
    free(out);
}
END_TEST

/* dryrun creates no file (ser8250's hostdev, testdev's results, a log DEST), and still
 * refuses one that could not be created. */
START_TEST(dryrun_creates_nothing)
{
    char *out, path[128];
    write_file("quiet.conf", "ram 1M\nvdev ser8250 hostdev out.log log all dev.log\n"
                             "vdev testdev results res.txt\n");
    ck_assert_msg(run("run @quiet.conf dryrun", &out) == 0, "%s", out);
    free(out);
    static const char *files[] = {"out.log", "dev.log", "res.txt"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        ck_assert_msg(access(path, F_OK) != 0, "dryrun created %s", files[i]);
    }
    write_file("nodir.conf", "ram 1M\nvdev ser8250 hostdev no/such/dir/out.log\n");
    ck_assert_int_eq(run("run @nodir.conf dryrun", &out), 2);
    ck_assert_msg(strstr(out, "nodir.conf:2:22: vdev ser8250: hostdev "), "%s", out);
    free(out);
}
END_TEST

/* Every subcommand answers --help (and -h) on stdout with status 0, as a Unix tool does; a
 * usage error exits 2. */
START_TEST(every_command_answers_help)
{
    static const char *cmds[] = {"run",   "stat",     "capture", "info", "list",
                                 "shmem", "net-peer", "version", "help"};
    char *out, args[64], want[64];
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        for (int h = 0; h < 2; h++) {
            snprintf(args, sizeof(args), "%s %s 2>/dev/null", cmds[i], h ? "-h" : "--help");
            ck_assert_msg(run(args, &out) == 0, "vdevkit %s: %s", args, out);
            snprintf(want, sizeof(want), "usage: vdevkit %s", cmds[i]);
            ck_assert_msg(strncmp(out, want, strlen(want)) == 0 ||
                              (!strcmp(cmds[i], "help") && !strncmp(out, "usage: vdevkit", 14)),
                          "vdevkit %s: %s", args, out);
            free(out);
        }
        snprintf(args, sizeof(args), "help %s 2>/dev/null", cmds[i]);
        ck_assert_int_eq(run(args, &out), 0);
        ck_assert_ptr_nonnull(strstr(out, "usage: vdevkit "));
        free(out);
    }
    ck_assert_int_eq(run("-V", &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "vdev ABI 2"));
    free(out);
    ck_assert_int_eq(run("--version", &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "libvdev 0.2"));
    free(out);
    ck_assert_int_eq(run("help frobnicate", &out), 2);
    ck_assert_ptr_nonnull(strstr(out, "unknown command 'frobnicate'"));
    free(out);
    ck_assert_int_eq(run("", &out), 2); /* no command: usage on stderr */
    ck_assert_ptr_nonnull(strstr(out, "usage: vdevkit run"));
    free(out);
    ck_assert_int_eq(run("stat", &out), 2); /* a missing operand */
    free(out);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, dryrun_prints_machine);
    tcase_add_test(tc, options_after_the_file);
    tcase_add_test(tc, bad_config_exits_2_with_one_message);
    tcase_add_test(tc, usage_and_version);
    tcase_add_test(tc, every_command_answers_help);
    tcase_add_test(tc, option_name_is_not_a_value);
    tcase_add_test(tc, duplicate_mac_is_refused);
    tcase_add_test(tc, qvm_peer_path_maps_to_the_runtime_folder);
    tcase_add_test(tc, dryrun_creates_nothing);
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
