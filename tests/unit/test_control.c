/* The control socket (core/control.c) and `vdevkit stat`: requests served on the event
 * thread, errors as lines, stale sockets replaced, live ones refused, the file removed. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_embedder.h"

static char dir[64];
static char sock[96];
static struct fake_embedder fe;

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/vdevkit-ctl-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(sock, sizeof(sock), "%s/t1/control", dir);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* A machine named `system` with two testdevs (one named) in the temp run-time folder. */
static void build(struct fake_embedder *f, const char *system)
{
    char conf[512];
    snprintf(conf, sizeof(conf),
             "system %s set runtime-dir %s ram 16M "
             "vdev testdev name td results %s/r1.txt "
             "vdev testdev loc io:0x500 intr ioapic:6 results %s/r2.txt",
             system, dir, dir, dir);
    struct vdev_err err;
    fake_machine_new(f);
    if (fake_machine_build_string(f, conf, &err))
        ck_abort_msg("%s", err.msg);
}

static int connect_to(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect %s: %s", path,
                  strerror(errno));
    return fd;
}

/* Reads until the blank line that ends a reply, or EOF; 2 s at most. Caller frees. */
static char *read_reply(int fd)
{
    size_t cap = 1 << 17, len = 0;
    char *buf = calloc(1, cap);
    while (len < cap - 1) {
        if (len >= 2 && strcmp(buf + len - 2, "\n\n") == 0)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ck_assert_msg(poll(&p, 1, 2000) == 1, "no reply within 2 s (got '%s')", buf);
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    return buf;
}

static char *request(const char *line)
{
    int fd = connect_to(sock);
    ck_assert_int_eq(write(fd, line, strlen(line)), (ssize_t)strlen(line));
    char *r = read_reply(fd);
    close(fd);
    return r;
}

static void open_and_start(void)
{
    struct vdev_err err;
    build(&fe, "t1");
    ck_assert_msg(vdev_machine_control_open(fe.m, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(vdev_machine_control_path(fe.m), sock);
    ck_assert_int_eq(vdev_machine_start(fe.m), 0);
}

START_TEST(stat_lists_every_device)
{
    open_and_start();
    char *r = request("stat\n");
    ck_assert_str_eq(r, "testdev 'td': 0 bytes of an unfinished result line\n"
                        "testdev #2: 0 bytes of an unfinished result line\n\n");
    free(r);
    r = request("stat td\n");
    ck_assert_str_eq(r, "testdev 'td': 0 bytes of an unfinished result line\n\n");
    free(r);
    fake_machine_free(&fe);
}
END_TEST

START_TEST(errors_are_lines)
{
    open_and_start();
    char *r = request("frobnicate\n");
    ck_assert_str_eq(r, "error: unknown command 'frobnicate' (try 'help')\n\n");
    free(r);
    r = request("stat nosuch\n");
    ck_assert_str_eq(r, "error: no device named 'nosuch' (see 'stat')\n\n");
    free(r);
    r = request("\n");
    ck_assert_str_eq(r, "error: empty request (try 'help')\n\n");
    free(r);
    r = request("info extra\n");
    ck_assert_str_eq(r, "error: too many arguments to 'info' (try 'help')\n\n");
    free(r);
    /* A line that never ends: refused, then closed. */
    char big[1024];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    int fd = connect_to(sock);
    ck_assert_int_gt(write(fd, big, strlen(big)), 0);
    r = read_reply(fd);
    ck_assert_str_eq(r, "error: request line too long\n\n");
    free(r);
    char c;
    ck_assert_int_le(read(fd, &c, 1), 0); /* closed by the VM (reset: we left bytes unread) */
    close(fd);
    fake_machine_free(&fe);
}
END_TEST

/* Found by fuzz_control: a client that sent exactly one buffer (256 bytes) without a newline
 * and then waited got its error only once it sent more or hung up; the reply sat queued. */
START_TEST(too_long_line_answered_while_the_client_waits)
{
    open_and_start();
    char line[256];
    memset(line, 'y', sizeof(line));
    int fd = connect_to(sock);
    ck_assert_int_eq(write(fd, line, sizeof(line)), (ssize_t)sizeof(line));
    char *r = read_reply(fd); /* nothing more sent, the socket stays open */
    ck_assert_str_eq(r, "error: request line too long\n\n");
    free(r);
    char c;
    ck_assert_int_le(read(fd, &c, 1), 0); /* then closed by the VM */
    close(fd);
    fake_machine_free(&fe);
}
END_TEST

START_TEST(info_help_and_several_requests)
{
    open_and_start();
    int fd = connect_to(sock);
    const char *two = "info\r\nhelp\n";
    ck_assert_int_eq(write(fd, two, strlen(two)), (ssize_t)strlen(two));
    shutdown(fd, SHUT_WR); /* the VM answers both, then closes */
    char *r = read_reply(fd), *more = read_reply(fd);
    char all[4096], want[64];
    snprintf(all, sizeof(all), "%s%s", r, more);
    snprintf(want, sizeof(want), "system t1\npid %ld\nuptime ", (long)getpid());
    ck_assert_msg(strncmp(all, want, strlen(want)) == 0, "info: '%s'", all);
    char *help = strstr(all, "\ndevices 2\n\nstat ");
    ck_assert_msg(help && strstr(help, "stat NAME"), "'%s'", all);
    ck_assert_str_eq(all + strlen(all) - 2, "\n\n");
    free(r);
    free(more);
    close(fd);
    fake_machine_free(&fe);
}
END_TEST

/* Clients beyond the limit evict the oldest: one that never reads cannot lock others out. */
START_TEST(idle_clients_do_not_lock_out)
{
    open_and_start();
    int idle[12];
    for (int i = 0; i < 12; i++)
        idle[i] = connect_to(sock);
    char *r = request("stat td\n");
    ck_assert_ptr_nonnull(strstr(r, "testdev 'td'"));
    free(r);
    for (int i = 0; i < 12; i++)
        close(idle[i]);
    fake_machine_free(&fe);
}
END_TEST

/* A client that sends requests and never reads the replies is closed; others are served. */
START_TEST(unread_replies_close_the_client)
{
    open_and_start();
    int fd = connect_to(sock);
    ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    char reqs[4096];
    for (size_t i = 0; i + 5 <= sizeof(reqs); i += 5)
        memcpy(reqs + i, "help\n", 5);
    bool closed = false;
    for (int round = 0; round < 2000 && !closed; round++) {
        ssize_t n = send(fd, reqs, sizeof(reqs) / 5 * 5, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN)
            closed = true; /* EPIPE / ECONNRESET: the VM hung up */
        if (n < 0 && errno == EAGAIN)
            usleep(1000);
    }
    ck_assert_msg(closed, "a client that never reads was not closed");
    close(fd);
    char *r = request("stat td\n");
    ck_assert_ptr_nonnull(strstr(r, "testdev 'td'"));
    free(r);
    fake_machine_free(&fe);
}
END_TEST

START_TEST(stale_socket_replaced_live_refused_file_removed)
{
    /* A socket file left by a VM that died: bound, never listened, closed. */
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/t1", dir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    int stale = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    ck_assert_int_eq(bind(stale, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(stale);

    open_and_start();
    char *r = request("stat td\n");
    ck_assert_ptr_nonnull(strstr(r, "testdev 'td'"));
    free(r);

    /* A second VM with the same system name. */
    struct fake_embedder fe2;
    struct vdev_err err;
    build(&fe2, "t1");
    ck_assert_int_eq(vdev_machine_control_open(fe2.m, &err), -1);
    ck_assert_msg(strstr(err.msg, sock) && strstr(err.msg, "another VM"), "%s", err.msg);
    ck_assert_ptr_null(vdev_machine_control_path(fe2.m));
    fake_machine_free(&fe2);
    /* ... which leaves the first one's socket alone. */
    r = request("stat td\n");
    ck_assert_ptr_nonnull(strstr(r, "testdev 'td'"));
    free(r);

    fake_machine_free(&fe);
    struct stat st;
    ck_assert_int_eq(lstat(sock, &st), -1);
    ck_assert_int_eq(lstat(sub, &st), -1); /* the empty folder too */
}
END_TEST

START_TEST(not_a_socket_refused)
{
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/t1", dir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    FILE *f = fopen(sock, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    struct vdev_err err;
    build(&fe, "t1");
    ck_assert_int_eq(vdev_machine_control_open(fe.m, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "is not a control socket"));
    fake_machine_free(&fe);
    struct stat st;
    ck_assert_int_eq(lstat(sock, &st), 0); /* not ours to remove */
}
END_TEST

START_TEST(unusable_runtime_dir)
{
    struct vdev_err err;
    fake_machine_new(&fe);
    if (fake_machine_build_string(
            &fe, "system t1 set runtime-dir /proc/vdevkit-no-such-dir ram 16M", &err))
        ck_abort_msg("%s", err.msg);
    ck_assert_int_eq(vdev_machine_control_open(fe.m, &err), -2);
    ck_assert_ptr_nonnull(strstr(err.msg, "run-time folder"));
    fake_machine_free(&fe);
}
END_TEST

/* Runs a shell command, returning its exit status and output. */
static int run(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t cap = 1 << 16, len = 0, n;
    *out = calloc(1, cap);
    while ((n = fread(*out + len, 1, cap - 1 - len, p)) > 0)
        len += n;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(cli_stat)
{
    open_and_start();
    char cmd[2048], *out;
    snprintf(cmd, sizeof(cmd), "VDEVKIT_RUNTIME_DIR=%s %s stat t1 2>&1", dir, VDEVKIT_EXE);
    ck_assert_int_eq(run(cmd, &out), 0);
    ck_assert_str_eq(out, "testdev 'td': 0 bytes of an unfinished result line\n"
                          "testdev #2: 0 bytes of an unfinished result line\n");
    free(out);
    snprintf(cmd, sizeof(cmd), "%s stat %s td 2>&1", VDEVKIT_EXE, sock);
    ck_assert_int_eq(run(cmd, &out), 0);
    ck_assert_str_eq(out, "testdev 'td': 0 bytes of an unfinished result line\n");
    free(out);
    snprintf(cmd, sizeof(cmd), "VDEVKIT_RUNTIME_DIR=%s %s stat t1 nosuch 2>&1 >/dev/null", dir,
             VDEVKIT_EXE); /* the VM's error line goes to stderr, with the command's prefix */
    ck_assert_int_eq(run(cmd, &out), 1);
    ck_assert_str_eq(out, "vdevkit stat: t1: no device named 'nosuch' (see 'stat')\n");
    free(out);
    /* --json: what a real VM answers, parsed by a JSON parser */
    snprintf(cmd, sizeof(cmd),
             "VDEVKIT_RUNTIME_DIR=%s %s stat --json t1 >%s/stat.json && "
             "VDEVKIT_RUNTIME_DIR=%s %s info t1 --json >%s/info.json && "
             "VDEVKIT_RUNTIME_DIR=%s %s list --json >%s/list.json && "
             "%s stat %s td --json >%s/td.json 2>&1",
             dir, VDEVKIT_EXE, dir, dir, VDEVKIT_EXE, dir, dir, VDEVKIT_EXE, dir, VDEVKIT_EXE, sock,
             dir);
    ck_assert_int_eq(run(cmd, &out), 0);
    free(out);
    char script[2048];
    snprintf(script, sizeof(script),
             "cd %s && python3 -c \"\n"
             "import json\n"
             "s = json.load(open('stat.json'))\n"
             "assert s == {'socket': '%s', 'devices': ["
             "{'label': \\\"testdev 'td'\\\", 'type': 'testdev', 'name': 'td', "
             "'state': '0 bytes of an unfinished result line'}, "
             "{'label': 'testdev #2', 'type': 'testdev', 'name': None, "
             "'state': '0 bytes of an unfinished result line'}]}, s\n"
             "i = json.load(open('info.json'))\n"
             "assert i['system'] == 't1' and i['pid'] == %ld and i['devices'] == 2, i\n"
             "assert i['socket'] == '%s' and 0 <= i['uptime_s'] < 100, i\n"
             "l = json.load(open('list.json'))\n"
             "assert l == [{'system': 't1', 'socket': '%s', 'running': True, 'pid': %ld, "
             "'uptime_s': l[0]['uptime_s'], 'devices': 2, 'error': None}], l\n"
             "t = json.load(open('td.json'))\n"
             "assert t['devices'] == s['devices'][:1], t\n"
             "\" 2>&1",
             dir, sock, (long)getpid(), sock, sock, (long)getpid());
    ck_assert_msg(run(script, &out) == 0, "%s", out);
    free(out);
    snprintf(cmd, sizeof(cmd), "VDEVKIT_RUNTIME_DIR=%s %s list 2>&1", dir, VDEVKIT_EXE);
    ck_assert_int_eq(run(cmd, &out), 0);
    char want[64];
    snprintf(want, sizeof(want), "running, pid %ld,", (long)getpid());
    ck_assert_msg(strncmp(out, "t1 ", 3) == 0 && strstr(out, want), "list: '%s'", out);
    free(out);
    fake_machine_free(&fe);
    snprintf(cmd, sizeof(cmd), "VDEVKIT_RUNTIME_DIR=%s %s stat t1 2>&1", dir, VDEVKIT_EXE);
    ck_assert_int_eq(run(cmd, &out), 1);
    ck_assert_msg(strstr(out, "t1 is not running") && strstr(out, sock), "%s", out);
    free(out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("control");
    TCase *tc = tcase_create("control");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, stat_lists_every_device);
    tcase_add_test(tc, errors_are_lines);
    tcase_add_test(tc, too_long_line_answered_while_the_client_waits);
    tcase_add_test(tc, info_help_and_several_requests);
    tcase_add_test(tc, idle_clients_do_not_lock_out);
    tcase_add_test(tc, unread_replies_close_the_client);
    tcase_add_test(tc, stale_socket_replaced_live_refused_file_removed);
    tcase_add_test(tc, not_a_socket_refused);
    tcase_add_test(tc, unusable_runtime_dir);
    tcase_add_test(tc, cli_stat);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
