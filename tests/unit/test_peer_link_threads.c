/* The peer link's data path across threads and processes: a producer thread and a consumer
 * thread that both sleep on the link's eventfds (a lost wakeup shows up as a timeout), and
 * an echo peer in a forked process, killed and restarted. */
#include <check.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "netpeer/peer_link.h"
#include "netpeer/shm_ring.h"

static char dir[64], path_a[96], path_b[96];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/peerlink-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path_a, sizeof(path_a), "%s/curly", dir);
    snprintf(path_b, sizeof(path_b), "%s/moe", dir);
}

static void teardown(void)
{
    unlink(path_a);
    unlink(path_b);
    rmdir(dir);
}

static struct peer_link *open_end(const char *bind, const char *peer, uint32_t ring)
{
    struct peer_link_cfg cfg = {.bind_path = bind, .peer_path = peer, .ring_size = ring};
    struct vdev_err err;
    return peer_link_open(&cfg, &err);
}

static bool wait_up(struct peer_link *a, struct peer_link *b, int ms)
{
    for (int i = 0; i < ms / 2; i++) {
        if (a)
            peer_link_service(a);
        if (b)
            peer_link_service(b);
        if ((!a || peer_link_up(a)) && (!b || peer_link_up(b)))
            return true;
        usleep(2000);
    }
    return false;
}

static bool wait_fd(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) == 1;
}

static size_t frame_len(uint32_t i)
{
    static const size_t sizes[] = {60, 1514, 65562, 1, 128, 9000, 64, 4000};
    return sizes[(i * 7u + (i >> 3)) % 8];
}

#define NFRAMES 20000u

struct run {
    struct peer_link *l;
    unsigned timeouts, errors;
};

static void *producer(void *arg)
{
    struct run *r = arg;
    for (uint32_t i = 0; i < NFRAMES;) {
        size_t len = frame_len(i);
        uint8_t *p = peer_link_tx_reserve(r->l, len);
        if (!p) {
            peer_link_tx_flush(r->l);
            if (!peer_link_tx_want_space(r->l, len) && !wait_fd(peer_link_tx_space_fd(r->l), 2000))
                r->timeouts++;
            if (r->timeouts > 3)
                break;
            continue;
        }
        memcpy(p, &i, len < 4 ? len : 4);
        if (len > 4)
            p[len - 1] = (uint8_t)(i ^ len);
        peer_link_tx_commit(r->l, len);
        if (++i % 16 == 0)
            peer_link_tx_flush(r->l);
    }
    peer_link_tx_flush(r->l);
    return NULL;
}

static void *consumer(void *arg)
{
    struct run *r = arg;
    for (uint32_t i = 0; i < NFRAMES;) {
        size_t len;
        const uint8_t *p = peer_link_rx_peek(r->l, &len);
        if (!p) {
            if (!peer_link_rx_sleep(r->l) && !wait_fd(peer_link_rx_fd(r->l), 2000))
                r->timeouts++;
            if (r->timeouts > 3)
                break;
            continue;
        }
        size_t want = frame_len(i);
        uint32_t seq = 0;
        memcpy(&seq, p, want < 4 ? want : 4);
        if (len != want || (want >= 4 && seq != i) ||
            (want > 4 && p[len - 1] != (uint8_t)(i ^ len)))
            r->errors++;
        peer_link_rx_release(r->l);
        i++;
    }
    return NULL;
}

START_TEST(two_threads_no_lost_wakeups)
{
    struct peer_link *a = open_end(path_a, path_b, 0);
    struct peer_link *b = open_end(path_b, path_a, SHM_RING_MIN_SIZE); /* often full */
    ck_assert(a && b);
    ck_assert(wait_up(a, b, 2000));
    struct run pr = {.l = a}, cr = {.l = b};
    pthread_t tp, tc;
    pthread_create(&tc, NULL, consumer, &cr);
    pthread_create(&tp, NULL, producer, &pr);
    pthread_join(tp, NULL);
    pthread_join(tc, NULL);
    ck_assert_uint_eq(pr.timeouts, 0);
    ck_assert_uint_eq(cr.timeouts, 0);
    ck_assert_uint_eq(cr.errors, 0);
    struct peer_link_stats st;
    peer_link_get_stats(b, &st);
    ck_assert_uint_eq(st.bad_frames, 0);
    peer_link_close(a);
    peer_link_close(b);
}
END_TEST

/* The child: B, echoing every frame back until it gets a one-byte 'Q'. */
static void echo_child(void)
{
    alarm(20);
    struct peer_link *b = open_end(path_b, path_a, 0);
    if (!b)
        _exit(2);
    for (;;) {
        struct pollfd p[2] = {{.fd = peer_link_fd(b), .events = POLLIN},
                              {.fd = peer_link_rx_fd(b), .events = POLLIN}};
        int t = peer_link_timeout_ms(b);
        if (!peer_link_rx_sleep(b))
            poll(p, 2, t < 0 || t > 50 ? 50 : t);
        peer_link_service(b);
        size_t len;
        const uint8_t *f;
        while ((f = peer_link_rx_peek(b, &len))) {
            if (len == 1 && f[0] == 'Q') {
                peer_link_rx_release(b);
                peer_link_close(b);
                _exit(0);
            }
            uint8_t *o = peer_link_tx_reserve(b, len);
            if (!o)
                _exit(3); /* the parent never has more than one frame in flight */
            memcpy(o, f, len);
            peer_link_tx_commit(b, len);
            peer_link_rx_release(b);
        }
        peer_link_tx_flush(b);
    }
}

static pid_t start_child(void)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        echo_child();
    return pid;
}

/* Sends a frame and waits (sleeping on the rx eventfd) for its echo. */
static bool echo(struct peer_link *a, size_t len, uint8_t seed)
{
    uint8_t *p = peer_link_tx_reserve(a, len);
    if (!p)
        return false;
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(seed + i);
    peer_link_tx_commit(a, len);
    peer_link_tx_flush(a);
    for (int tries = 0; tries < 200; tries++) {
        size_t got;
        const uint8_t *f = peer_link_rx_peek(a, &got);
        if (f) {
            bool ok = got == len;
            for (size_t i = 0; ok && i < len; i++)
                ok = f[i] == (uint8_t)(seed + i);
            peer_link_rx_release(a);
            return ok;
        }
        if (!peer_link_rx_sleep(a))
            wait_fd(peer_link_rx_fd(a), 10);
        peer_link_service(a);
    }
    return false;
}

START_TEST(echo_peer_in_another_process)
{
    pid_t pid = start_child();
    struct peer_link *a = open_end(path_a, path_b, 0);
    ck_assert_ptr_nonnull(a);
    ck_assert(wait_up(a, NULL, 3000));
    for (unsigned i = 0; i < 200; i++)
        ck_assert_msg(echo(a, frame_len(i), (uint8_t)i), "echo %u", i);

    /* The peer dies without closing anything: A notices and waits for it. */
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    for (int i = 0; i < 500 && peer_link_up(a); i++) {
        peer_link_service(a);
        usleep(2000);
    }
    ck_assert(!peer_link_up(a));
    /* A new peer process at the same endpoint (its stale socket file is replaced). */
    pid = start_child();
    ck_assert(wait_up(a, NULL, 3000));
    for (unsigned i = 0; i < 50; i++)
        ck_assert(echo(a, frame_len(i), (uint8_t)(i + 3)));
    uint8_t *q = peer_link_tx_reserve(a, 1);
    ck_assert_ptr_nonnull(q);
    q[0] = 'Q';
    peer_link_tx_commit(a, 1);
    peer_link_tx_flush(a);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    peer_link_close(a);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("peer_link_threads");
    TCase *tc = tcase_create("threads");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, two_threads_no_lost_wakeups);
    tcase_add_test(tc, echo_peer_in_another_process);
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
