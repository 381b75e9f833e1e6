/* The vdevkit command: `run … dryrun` prints the machine; bad configurations exit 2 with one
 * message and never start. Runs the real executable. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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

static char *read_file(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t cap = 1 << 16;
    char *buf = calloc(1, cap);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Runs `ENV vdevkit ARGS` in `dir` with standard output and error apart. */
static int run_split(const char *env, const char *args, char **out, char **err)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "cd %s && %s %s %s >stdout.txt 2>stderr.txt", dir, env, VDEVKIT_EXE,
             args);
    int st = system(cmd);
    *out = read_file("stdout.txt");
    *err = read_file("stderr.txt");
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs python3 on `script` with the file `json` as argument: 0 when every assert held. The
 * file is read as strict UTF-8, as a JSON parser must be able to. */
static int python_check(const char *json, const char *script)
{
    write_file("check.py", script);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "cd %s && python3 check.py %s 1>&2", dir, json);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
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
                          "vdevkit run: the VM was not started\n");
    free(out);
    write_file("guest.conf", "ram 64M\nvdev ser8250 loc io:0x2f8 intr gic:40\n");
    rc = run("run @guest.conf dryrun", &out);
    ck_assert_int_eq(rc, 2);
    ck_assert_str_eq(out, "guest.conf:2:32: vdev ser8250: no interrupt controller 'gic' in this "
                          "machine (it has: ioapic)\nvdevkit run: the VM was not started\n");
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
    static const char *cmds[] = {"run",   "stat",     "capture",         "info",    "list",
                                 "shmem", "net-peer", "hostdev-cleanup", "version", "help"};
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

/* Every usage error, on every command: one line on standard error, in the one message form
 * with a hint, nothing on standard output, status 2. */
START_TEST(usage_errors_on_every_command)
{
    static const struct {
        const char *args, *line;
    } cases[] = {
        {"frobnicate", "vdevkit: unknown command 'frobnicate' (try 'vdevkit help')\n"},
        {"--frobnicate", "vdevkit: unknown option '--frobnicate' (try 'vdevkit help')\n"},
        {"run", "vdevkit run: missing the configuration (e.g. 'vdevkit run @FILE') "
                "(try 'vdevkit help run')\n"},
        {"stat", "vdevkit stat: missing operand (expected SYSTEM|SOCKET [NAME]) "
                 "(try 'vdevkit help stat')\n"},
        {"stat a b c", "vdevkit stat: unexpected operand 'c' (expected SYSTEM|SOCKET [NAME]) "
                       "(try 'vdevkit help stat')\n"},
        {"stat --frob a", "vdevkit stat: unknown option '--frob' (try 'vdevkit help stat')\n"},
        {"stat a --jsonx", "vdevkit stat: unknown option '--jsonx' (try 'vdevkit help stat')\n"},
        {"capture a b", "vdevkit capture: missing operand (expected SYSTEM|SOCKET NAME FILE|off) "
                        "(try 'vdevkit help capture')\n"},
        {"capture a b c d", "vdevkit capture: unexpected operand 'd' (expected SYSTEM|SOCKET "
                            "NAME FILE|off) (try 'vdevkit help capture')\n"},
        {"capture --json a b c",
         "vdevkit capture: unknown option '--json' (try 'vdevkit help capture')\n"},
        {"info", "vdevkit info: missing operand (expected SYSTEM|SOCKET) "
                 "(try 'vdevkit help info')\n"},
        {"info a b", "vdevkit info: unexpected operand 'b' (expected SYSTEM|SOCKET) "
                     "(try 'vdevkit help info')\n"},
        {"info -x a", "vdevkit info: unknown option '-x' (try 'vdevkit help info')\n"},
        {"list x", "vdevkit list: unexpected operand 'x' (expected no operands) "
                   "(try 'vdevkit help list')\n"},
        {"list -l", "vdevkit list: unknown option '-l' (try 'vdevkit help list')\n"},
        {"shmem", "vdevkit shmem: missing command (list, create or remove) "
                  "(try 'vdevkit help shmem')\n"},
        {"shmem frob", "vdevkit shmem: unknown command 'frob' (list, create or remove) "
                       "(try 'vdevkit help shmem')\n"},
        {"shmem list x", "vdevkit shmem list: unexpected operand 'x' (expected none) "
                         "(try 'vdevkit help shmem')\n"},
        {"shmem list -a", "vdevkit shmem: unknown option '-a' (try 'vdevkit help shmem')\n"},
        {"shmem create r", "vdevkit shmem create: missing operand (expected NAME SIZE [MODE "
                           "[GID]]) (try 'vdevkit help shmem')\n"},
        {"shmem create r 4k 0600 0 x", "vdevkit shmem create: unexpected operand 'x' (expected "
                                       "NAME SIZE [MODE [GID]]) (try 'vdevkit help shmem')\n"},
        {"shmem create r lots", NULL},
        {"shmem remove", "vdevkit shmem remove: missing operand (expected NAME) "
                         "(try 'vdevkit help shmem')\n"},
        {"net-peer", "vdevkit net-peer: missing peer=PATH,bind=PATH (one argument per guest NIC) "
                     "(try 'vdevkit help net-peer')\n"},
        {"net-peer -x", "vdevkit net-peer: unknown option '-x' (try 'vdevkit help net-peer')\n"},
        {"net-peer bogus=1", NULL},
        {"hostdev-cleanup -x", "vdevkit hostdev-cleanup: unknown option '-x' (try 'vdevkit "
                               "help hostdev-cleanup')\n"},
        {"hostdev-cleanup --json 0000:01:10.0 01:1", "vdevkit hostdev-cleanup: '01:1' is not a "
                                                     "PCI address (expected DDDD:BB:DD.F, e.g. "
                                                     "0000:01:10.0) (try 'vdevkit help "
                                                     "hostdev-cleanup')\n"},
        {"hostdev-cleanup -- -1", "vdevkit hostdev-cleanup: '-1' is not a PCI address (expected "
                                  "DDDD:BB:DD.F, e.g. 0000:01:10.0) (try 'vdevkit help "
                                  "hostdev-cleanup')\n"},
        {"version x", "vdevkit version: unexpected operand 'x' (try 'vdevkit help version')\n"},
        {"-V --frob", "vdevkit version: unexpected option '--frob' (try 'vdevkit help version')\n"},
        {"help stat x", "vdevkit help: unexpected operand 'x' (expected [COMMAND]) "
                        "(try 'vdevkit help')\n"},
        {"help frobnicate", "vdevkit help: unknown command 'frobnicate' (try 'vdevkit help')\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *out, *err;
        int rc = run_split("", cases[i].args, &out, &err);
        ck_assert_msg(rc == 2, "vdevkit %s: status %d, stderr '%s'", cases[i].args, rc, err);
        ck_assert_msg(out[0] == '\0', "vdevkit %s: stdout '%s'", cases[i].args, out);
        if (cases[i].line) {
            ck_assert_msg(strcmp(err, cases[i].line) == 0, "vdevkit %s: stderr '%s'", cases[i].args,
                          err);
        } else { /* the form, with the command's own words */
            char *nl = strchr(err, '\n');
            ck_assert_msg(strncmp(err, "vdevkit ", 8) == 0 && nl && !nl[1] &&
                              strstr(err, " (try 'vdevkit help ") && !strncmp(nl - 2, "')", 2),
                          "vdevkit %s: stderr '%s'", cases[i].args, err);
        }
        free(out);
        free(err);
    }
    /* no command: the list of commands, then the line */
    char *out, *err;
    ck_assert_int_eq(run_split("", "", &out, &err), 2);
    ck_assert_str_eq(out, "");
    ck_assert_ptr_nonnull(strstr(err, "usage: vdevkit run"));
    ck_assert_str_eq(err + strlen(err) - strlen("vdevkit: no command given (try 'vdevkit help')\n"),
                     "vdevkit: no command given (try 'vdevkit help')\n");
    free(out);
    free(err);
    /* --help wins over mistakes, anywhere before `--`; after it, it is an operand */
    ck_assert_int_eq(run_split("", "stat a b c --help", &out, &err), 0);
    ck_assert_msg(!strncmp(out, "usage: vdevkit stat", 19) && !err[0], "%s|%s", out, err);
    free(out);
    free(err);
    ck_assert_int_eq(run_split("", "list -- --help", &out, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "unexpected operand '--help'"));
    free(out);
    free(err);
}
END_TEST

/* `vdevkit help` lists the subcommands of the manual page, each of which answers help. */
START_TEST(help_lists_the_manual_pages_commands)
{
    char *out, *err;
    ck_assert_int_eq(run_split("", "help", &out, &err), 0);
    char *man = NULL;
    size_t len = 0;
    FILE *f = fopen(MAN_PAGE, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_gt(getdelim(&man, &len, '\0', f), 0);
    fclose(f);
    const char *subs = strstr(man, "\n.SH SUBCOMMANDS\n");
    const char *end = subs ? strstr(subs + 1, "\n.SH ") : NULL;
    ck_assert_ptr_nonnull(end);
    unsigned n = 0;
    for (const char *p = subs; (p = strstr(p, "\n.B ")) && p < end; p++) {
        char name[32], want[64];
        ck_assert_int_eq(sscanf(p + 4, "%31[a-z\\-]", name), 1);
        char *bs; /* roff's "\-" is "-" */
        while ((bs = strstr(name, "\\-")))
            memmove(bs, bs + 1, strlen(bs));
        snprintf(want, sizeof(want), "vdevkit %s ", name);
        ck_assert_msg(strstr(out, want), "'%s' is in vdevkit.1, not in 'vdevkit help'", name);
        n++;
    }
    /* ... and every command of `vdevkit help` is in the manual page */
    unsigned listed = 0;
    for (const char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        size_t pre = strspn(p, " ");
        if (strncmp(p, "usage: vdevkit ", 15) && (pre != 7 || strncmp(p + pre, "vdevkit ", 8)))
            continue;
        char name[32], want[64];
        ck_assert_int_eq(sscanf(p + 15, "%31[a-z-]", name), 1);
        /* roff writes "-" as "\-" */
        size_t w = (size_t)snprintf(want, sizeof(want), "\n.B ");
        for (const char *c = name; *c && w + 3 < sizeof(want); c++) {
            if (*c == '-')
                want[w++] = '\\';
            want[w++] = *c;
        }
        want[w] = '\0';
        ck_assert_msg(strstr(subs, want) && strstr(subs, want) < end,
                      "'%s' is in 'vdevkit help', not in vdevkit.1's SUBCOMMANDS", name);
        listed++;
    }
    ck_assert_uint_eq(n, 10);
    ck_assert_uint_eq(listed, 10);
    free(man);
    free(out);
    free(err);
}
END_TEST

/* A control socket served by a child process, as another user's process could: replies with
 * quotes, backslashes, control bytes and bytes that are not UTF-8. */
static pid_t stub_serve(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid > 0) {
        close(fd);
        return pid;
    }
    for (;;) {
        int c = accept(fd, NULL, NULL);
        if (c < 0)
            _exit(1);
        char req[300] = ""; /* the request line: it may come in pieces */
        ssize_t n = 0, r;
        while (!memchr(req, '\n', (size_t)n) && n < (ssize_t)sizeof(req) - 1 &&
               (r = read(c, req + n, sizeof(req) - 1 - (size_t)n)) > 0)
            n += r;
        const char *reply = "error: unknown command\n\n";
        if (n > 0 && !strncmp(req, "info\n", 5))
            reply = "system a\"b\x01\\c\xff\npid 42\nuptime 12.5 s\ndevices 3\n"
                    "added-later x\n\n";
        else if (n > 0 && !strncmp(req, "stat\n", 5))
            reply = "testdev 'td': 5 \x1b]0;owned\x07 \"x\"\nser8250: -\nfoo #2: a: b\\\n\n";
        else if (n > 0 && !strncmp(req, "stat garbage\n", 13))
            reply = "testdev 'td': fine\nno colon here\n\n";
        else if (n > 0 && !strncmp(req, "stat nosuch\n", 12))
            reply = "error: no device named 'nosuch' (see 'stat')\n\n";
        else if (n > 0 && !strncmp(req, "stat empty\n", 11))
            reply = "(no devices)\n\n";
        if (write(c, reply, strlen(reply)) < 0)
            _exit(1);
        close(c);
    }
}

START_TEST(json_output_is_escaped_and_parses)
{
    char rt[128], weird[256], sock[320], env[160];
    snprintf(rt, sizeof(rt), "%s/rt", dir);
    ck_assert_int_eq(mkdir(rt, 0700), 0);
    /* a folder named with a quote, a control byte, a backslash and a byte that is not UTF-8 */
    snprintf(weird, sizeof(weird), "%s/we\"ird\x01\\\xff", rt);
    ck_assert_int_eq(mkdir(weird, 0700), 0);
    snprintf(sock, sizeof(sock), "%s/control", weird);
    pid_t stub = stub_serve(sock);
    /* a socket nobody listens on: a VM that died */
    char dead[192];
    snprintf(dead, sizeof(dead), "%s/dead", rt);
    ck_assert_int_eq(mkdir(dead, 0700), 0);
    snprintf(dead, sizeof(dead), "%s/dead/control", rt);
    int d = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    ck_assert_uint_lt(strlen(dead), sizeof(sa.sun_path));
    memcpy(sa.sun_path, dead, strlen(dead) + 1);
    ck_assert_int_eq(bind(d, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(d);
    snprintf(env, sizeof(env), "VDEVKIT_RUNTIME_DIR=%s", rt);

    char *out, *err;
    ck_assert_int_eq(run_split(env, "list --json", &out, &err), 0);
    ck_assert_msg(!err[0], "%s", err);
    free(out);
    free(err);
    ck_assert_int_eq(
        python_check("stdout.txt",
                     "import json, sys\n"
                     "d = json.load(open(sys.argv[1], encoding='utf-8'))\n"
                     "assert d[0] == {'system': 'dead', 'socket': d[0]['socket'], 'running': False,"
                     " 'pid': None, 'uptime_s': None, 'devices': None, 'error': None}, d\n"
                     "assert d[0]['socket'].endswith('/rt/dead/control'), d\n"
                     "w = d[1]\n"
                     "assert w['system'] == 'we\"ird\\x01\\\\\\ufffd', w\n"
                     "assert w['running'] is True and w['pid'] == 42 and w['devices'] == 3, w\n"
                     "assert w['uptime_s'] == 12.5 and w['error'] is None, w\n"
                     "assert len(d) == 2, d\n"),
        0);
    /* info: the same VM by its socket's path */
    char args[512];
    snprintf(args, sizeof(args), "info --json '%s'", sock);
    ck_assert_msg(run_split("", args, &out, &err) == 0, "%s", err);
    free(out);
    free(err);
    ck_assert_int_eq(
        python_check("stdout.txt",
                     "import json, sys\n"
                     "d = json.load(open(sys.argv[1], encoding='utf-8'))\n"
                     "assert d['system'] == 'a\"b\\x01\\\\c\\ufffd', d\n"
                     "assert d['pid'] == 42 and d['uptime_s'] == 12.5 and d['devices'] == 3, d\n"
                     "assert d['socket'].endswith('/control'), d\n"
                     "assert sorted(d) == ['devices', 'pid', 'socket', 'system', 'uptime_s']\n"),
        0);
    /* stat: labels split into type and name; "-" is no state */
    snprintf(args, sizeof(args), "stat '%s' --json", sock);
    ck_assert_int_eq(run_split("", args, &out, &err), 0);
    free(out);
    free(err);
    ck_assert_int_eq(
        python_check("stdout.txt",
                     "import json, sys\n"
                     "d = json.load(open(sys.argv[1], encoding='utf-8'))['devices']\n"
                     "assert d[0] == {'label': \"testdev 'td'\", 'type': 'testdev', 'name': 'td',"
                     " 'state': '5 \\x1b]0;owned\\x07 \"x\"'}, d\n"
                     "assert d[1] == {'label': 'ser8250', 'type': 'ser8250', 'name': None,"
                     " 'state': None}, d\n"
                     "assert d[2] == {'label': 'foo #2', 'type': 'foo', 'name': None,"
                     " 'state': 'a: b\\\\'}, d\n"
                     "assert len(d) == 3\n"),
        0);
    /* the text form does not pass the escape sequence to the terminal */
    snprintf(args, sizeof(args), "stat '%s'", sock);
    ck_assert_int_eq(run_split("", args, &out, &err), 0);
    ck_assert_msg(!strchr(out, '\x1b') && !strchr(out, '\x07') &&
                      strstr(out, "testdev 'td': 5 ?]0;owned? \"x\"\n"),
                  "%s", out);
    free(out);
    free(err);
    /* no devices: an empty array */
    snprintf(args, sizeof(args), "stat --json '%s' empty", sock);
    ck_assert_int_eq(run_split("", args, &out, &err), 0);
    ck_assert_str_eq(out + strlen(out) - 15, "\"devices\": []}\n");
    free(out);
    free(err);
    /* a reply that is not LABEL: STATE: nothing on stdout, status 1 */
    snprintf(args, sizeof(args), "stat --json '%s' garbage", sock);
    ck_assert_int_eq(run_split("", args, &out, &err), 1);
    ck_assert_str_eq(out, "");
    ck_assert_msg(strstr(err, "vdevkit stat: ") == err &&
                      strstr(err, ": line 2 of the reply is not 'LABEL: STATE'\n") &&
                      !strchr(err, '\x01'),
                  "%s", err);
    free(out);
    free(err);
    /* the VM's error line: standard error, the command's prefix */
    snprintf(args, sizeof(args), "stat --json '%s' nosuch", sock);
    ck_assert_int_eq(run_split("", args, &out, &err), 1);
    ck_assert_str_eq(out, "");
    ck_assert_msg(strstr(err, "vdevkit stat: ") == err &&
                      strstr(err, ": no device named 'nosuch' (see 'stat')\n"),
                  "%s", err);
    free(out);
    free(err);
    /* nothing there: an empty array */
    char none[160];
    snprintf(none, sizeof(none), "VDEVKIT_RUNTIME_DIR=%s/none", dir);
    ck_assert_int_eq(run_split(none, "list --json", &out, &err), 0);
    ck_assert_str_eq(out, "[]\n");
    free(out);
    free(err);
    kill(stub, SIGKILL);
    waitpid(stub, NULL, 0);
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
    tcase_add_test(tc, usage_errors_on_every_command);
    tcase_add_test(tc, help_lists_the_manual_pages_commands);
    tcase_add_test(tc, json_output_is_escaped_and_parses);
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
