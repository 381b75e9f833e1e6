/* Peer-link endpoints and other users: an endpoint folder another user owns and an existing
 * socket file another user made are refused (the file is left alone); a peer path where a
 * process of another user listens never gets our HELLO (which hands over the receive ring),
 * and its connections to us are refused. Needs root to act as uid 65534 (skipped otherwise). */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "netpeer/peer_link.h"

#define OTHER_UID 65534

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/vdevkit-plo-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(chmod(dir, 0755), 0);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static struct peer_link *open_link(const char *bind, const char *peer, struct vdev_err *err)
{
    struct peer_link_cfg cfg = {.bind_path = bind, .peer_path = peer, .mac = {2, 0, 0, 0, 0, 1}};
    return peer_link_open(&cfg, err);
}

static int listen_at(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4))
        return -1;
    return fd;
}

START_TEST(endpoint_folder_of_another_user_refused)
{
    if (geteuid() != 0)
        return;
    char d[128], bind[160], peer[160];
    snprintf(d, sizeof(d), "%s/other", dir);
    ck_assert_int_eq(mkdir(d, 0755), 0);
    ck_assert_int_eq(chown(d, OTHER_UID, OTHER_UID), 0);
    snprintf(bind, sizeof(bind), "%s/a", d);
    snprintf(peer, sizeof(peer), "%s/b", dir);
    struct vdev_err err = {0};
    ck_assert_ptr_null(open_link(bind, peer, &err));
    char want[600];
    snprintf(want, sizeof(want), "endpoint %s: %s is owned by uid %d (", bind, d, OTHER_UID);
    ck_assert_msg(strstr(err.msg, want) == err.msg, "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "(hint: "), "%s", err.msg);
    ck_assert_int_eq(access(bind, F_OK), -1);
}
END_TEST

START_TEST(socket_file_of_another_user_refused)
{
    if (geteuid() != 0)
        return;
    char bind[160], peer[160];
    ck_assert_int_eq(chmod(dir, 01777), 0); /* shared and sticky, as /tmp */
    snprintf(bind, sizeof(bind), "%s/a", dir);
    snprintf(peer, sizeof(peer), "%s/b", dir);
    int fd = listen_at(bind);
    ck_assert_int_ge(fd, 0);
    close(fd); /* stale: the old code would remove and take it */
    ck_assert_int_eq(lchown(bind, OTHER_UID, OTHER_UID), 0);
    struct vdev_err err = {0};
    ck_assert_ptr_null(open_link(bind, peer, &err));
    ck_assert_msg(strstr(err.msg, "owned by uid 65534") && strstr(err.msg, bind), "%s", err.msg);
    struct stat st;
    ck_assert_int_eq(lstat(bind, &st), 0);
    ck_assert_uint_eq(st.st_uid, OTHER_UID);
}
END_TEST

static uint64_t ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A process of uid 65534 listens at our peer path: it is connected to (connect needs no
 * more), then dropped without a HELLO; the link stays down. */
START_TEST(peer_of_another_user_gets_no_hello)
{
    if (geteuid() != 0)
        return;
    char od[128], peer[160], bind[160];
    snprintf(od, sizeof(od), "%s/other", dir);
    ck_assert_int_eq(mkdir(od, 0755), 0);
    ck_assert_int_eq(chown(od, OTHER_UID, OTHER_UID), 0);
    snprintf(peer, sizeof(peer), "%s/b", od);
    snprintf(bind, sizeof(bind), "%s/a", dir);
    int ready[2], res[2];
    ck_assert_int_eq(pipe(ready), 0);
    ck_assert_int_eq(pipe(res), 0);
    pid_t pid = fork();
    if (pid == 0) {
        if (setgid(OTHER_UID) || setuid(OTHER_UID))
            _exit(2);
        int l = listen_at(peer);
        if (l < 0)
            _exit(3);
        (void)write(ready[1], "r", 1);
        /* Accept whatever comes for 1.5 s; report the bytes of HELLO received. */
        long got = 0;
        uint64_t end = ms() + 1500;
        while (ms() < end) {
            struct pollfd p = {.fd = l, .events = POLLIN};
            if (poll(&p, 1, 50) != 1)
                continue;
            int c = accept(l, NULL, NULL);
            if (c < 0)
                continue;
            char buf[4096];
            struct pollfd q = {.fd = c, .events = POLLIN};
            if (poll(&q, 1, 200) == 1) {
                ssize_t n = recv(c, buf, sizeof(buf), MSG_DONTWAIT);
                if (n > 0)
                    got += n;
            }
            close(c);
        }
        (void)write(res[1], &got, sizeof(got));
        _exit(0);
    }
    char c;
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    struct vdev_err err = {0};
    struct peer_link *lk = open_link(bind, peer, &err);
    ck_assert_msg(lk != NULL, "%s", err.msg);
    uint64_t end = ms() + 1200;
    while (ms() < end) {
        struct pollfd p = {.fd = peer_link_fd(lk), .events = POLLIN};
        poll(&p, 1, 20);
        peer_link_service(lk);
        ck_assert(!peer_link_up(lk));
    }
    long got = -1;
    ck_assert_int_eq(read(res[0], &got, sizeof(got)), (ssize_t)sizeof(got));
    ck_assert_int_eq(got, 0);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    peer_link_close(lk);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("peer_link_owner");
    TCase *tc = tcase_create("owner");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, endpoint_folder_of_another_user_refused);
    tcase_add_test(tc, socket_file_of_another_user_refused);
    tcase_add_test(tc, peer_of_another_user_gets_no_hello);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
