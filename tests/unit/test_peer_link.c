/* The peer link between two ends in one process (serviced alternately from one thread):
 * handshake in either order, frames, a full ring, wakeup suppression, restarts, endpoints. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "netpeer/peer_link.h"
#include "netpeer/shm_ring.h"

struct end {
    struct peer_link *l;
    unsigned ups, downs;
    char log[8192];
};

static char dir[64], path_a[96], path_b[96];

static void on_state(void *opaque, bool up)
{
    struct end *e = opaque;
    if (up)
        e->ups++;
    else
        e->downs++;
}

static void on_log(void *opaque, enum vdev_log_level level, const char *msg)
{
    struct end *e = opaque;
    size_t n = strlen(e->log);
    snprintf(e->log + n, sizeof(e->log) - n, "%s\n", msg);
}

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

static struct peer_link *open_end(struct end *e, const char *bind, const char *peer, uint8_t mac5,
                                  uint32_t ring)
{
    struct peer_link_cfg cfg = {.bind_path = bind,
                                .peer_path = peer,
                                .mac = {0x52, 0x54, 0, 0, 0, mac5},
                                .features = 0x100u + mac5,
                                .state_changed = on_state,
                                .log = on_log,
                                .opaque = e,
                                .ring_size = ring};
    struct vdev_err err = {0};
    e->l = peer_link_open(&cfg, &err);
    ck_assert_msg(e->l != NULL, "open %s: %s", bind, err.msg);
    return e->l;
}

static uint64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Services both ends (either may be NULL) as an owner would: poll their fds with their
 * timeouts. Stops when both live ends are in state `up`, or after max_ms. */
static bool pump(struct end *a, struct end *b, bool up, int max_ms)
{
    uint64_t end = ms_now() + (uint64_t)max_ms;
    struct end *ends[2] = {a, b};
    for (;;) {
        bool done = true;
        for (int i = 0; i < 2; i++)
            if (ends[i] && ends[i]->l && peer_link_up(ends[i]->l) != up)
                done = false;
        if (done)
            return true;
        if (ms_now() >= end)
            return false;
        struct pollfd p[2];
        int n = 0, timeout = 20;
        for (int i = 0; i < 2; i++) {
            if (!ends[i] || !ends[i]->l)
                continue;
            p[n].fd = peer_link_fd(ends[i]->l);
            p[n++].events = POLLIN;
            int t = peer_link_timeout_ms(ends[i]->l);
            if (t >= 0 && t < timeout)
                timeout = t;
        }
        poll(p, (nfds_t)n, timeout);
        for (int i = 0; i < 2; i++)
            if (ends[i] && ends[i]->l)
                peer_link_service(ends[i]->l);
    }
}

static void run_for(struct end *a, struct end *b, int ms)
{
    uint64_t end = ms_now() + (uint64_t)ms;
    while (ms_now() < end) {
        if (a && a->l)
            peer_link_service(a->l);
        if (b && b->l)
            peer_link_service(b->l);
        usleep(5000);
    }
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(seed * 31u + i * 7u + (i >> 8));
}

static bool send_frame(struct peer_link *l, size_t len, unsigned seed)
{
    uint8_t *p = peer_link_tx_reserve(l, len);
    if (!p)
        return false;
    fill(p, len, seed);
    peer_link_tx_commit(l, len);
    return true;
}

static void expect_frame(struct peer_link *l, size_t len, unsigned seed)
{
    size_t got = 0;
    const uint8_t *p = peer_link_rx_peek(l, &got);
    ck_assert_msg(p != NULL, "no frame of %zu bytes", len);
    ck_assert_uint_eq(got, len);
    uint8_t *want = malloc(len);
    fill(want, len, seed);
    ck_assert_msg(memcmp(p, want, len) == 0, "frame of %zu bytes corrupted", len);
    free(want);
    peer_link_rx_release(l);
}

static uint64_t read_eventfd(int fd)
{
    uint64_t v = 0;
    if (read(fd, &v, sizeof(v)) != sizeof(v))
        return 0;
    return v;
}

static bool fd_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

START_TEST(a_first_then_b)
{
    struct end a = {0}, b = {0};
    open_end(&a, path_a, path_b, 1, 0);
    run_for(&a, NULL, 400); /* A retries against a missing endpoint */
    ck_assert(!peer_link_up(a.l));
    ck_assert_ptr_null(peer_link_tx_reserve(a.l, 60));
    open_end(&b, path_b, path_a, 2, 0);
    ck_assert(pump(&a, &b, true, 2000));
    ck_assert_uint_eq(a.ups, 1);
    ck_assert_uint_eq(b.ups, 1);
    ck_assert_uint_eq(peer_link_peer_features(a.l), 0x102);
    ck_assert_uint_eq(peer_link_peer_features(b.l), 0x101);
    ck_assert_ptr_nonnull(strstr(a.log, "connected to peer"));
    struct peer_link_stats st;
    peer_link_get_stats(a.l, &st);
    ck_assert_uint_eq(st.connects, 1);
    peer_link_close(a.l);
    peer_link_close(b.l);
    ck_assert_int_ne(access(path_a, F_OK), 0); /* endpoint removed */
}
END_TEST

START_TEST(b_first_then_a)
{
    struct end a = {0}, b = {0};
    open_end(&b, path_b, path_a, 2, 0);
    run_for(NULL, &b, 300);
    open_end(&a, path_a, path_b, 1, 0);
    ck_assert(pump(&a, &b, true, 2000));
    ck_assert_uint_eq(a.ups, 1);
    ck_assert_uint_eq(b.ups, 1);
    peer_link_close(a.l);
    peer_link_close(b.l);
}
END_TEST

START_TEST(both_at_once)
{
    /* Both open before either services: each connects to the other simultaneously. */
    struct end a = {0}, b = {0};
    open_end(&a, path_a, path_b, 1, 0);
    open_end(&b, path_b, path_a, 2, 0);
    ck_assert(pump(&a, &b, true, 2000));
    run_for(&a, &b, 100);
    ck_assert_uint_eq(a.ups, 1);
    ck_assert_uint_eq(b.ups, 1);
    ck_assert_uint_eq(a.downs, 0);
    peer_link_close(a.l);
    peer_link_close(b.l);
}
END_TEST

START_TEST(frames_arrive_intact_in_order)
{
    struct end a = {0}, b = {0};
    open_end(&a, path_a, path_b, 1, 0);
    open_end(&b, path_b, path_a, 2, 0);
    ck_assert(pump(&a, &b, true, 2000));
    static const size_t sizes[] = {1, 60, 1514, 65562, 61, 7, 8, 9};
    for (int round = 0; round < 40; round++) { /* enough to wrap the ring several times */
        for (unsigned i = 0; i < 8; i++)
            ck_assert(send_frame(a.l, sizes[i], round * 8 + i));
        peer_link_tx_flush(a.l);
        ck_assert(send_frame(b.l, 1514, round)); /* the other direction too */
        peer_link_tx_flush(b.l);
        for (unsigned i = 0; i < 8; i++)
            expect_frame(b.l, sizes[i], round * 8 + i);
        expect_frame(a.l, 1514, round);
        size_t len;
        ck_assert_ptr_null(peer_link_rx_peek(b.l, &len));
    }
    ck_assert_ptr_null(peer_link_tx_reserve(a.l, PEER_LINK_MAX_FRAME + 1));
    ck_assert_ptr_null(peer_link_tx_reserve(a.l, 0));
    /* A shorter commit than reserved. */
    uint8_t *p = peer_link_tx_reserve(a.l, 1514);
    ck_assert_ptr_nonnull(p);
    fill(p, 100, 77);
    peer_link_tx_commit(a.l, 100);
    expect_frame(b.l, 100, 77);
    struct peer_link_stats st;
    peer_link_get_stats(b.l, &st);
    ck_assert_uint_eq(st.bad_frames, 0);
    peer_link_close(a.l);
    peer_link_close(b.l);
}
END_TEST

START_TEST(full_ring_and_space_wakeup)
{
    struct end a = {0}, b = {0};
    open_end(&a, path_a, path_b, 1, 0);
    open_end(&b, path_b, path_a, 2, SHM_RING_MIN_SIZE); /* A sends into B's small ring */
    ck_assert(pump(&a, &b, true, 2000));
    unsigned sent = 0;
    while (send_frame(a.l, 65562, sent))
        sent++;
    ck_assert_uint_eq(sent, SHM_RING_MIN_SIZE / (65562 + 8 + 6)); /* 3 */
    /* Small frames still fit in what is left. */
    ck_assert(send_frame(a.l, 60, 1000));
    peer_link_tx_flush(a.l);
    ck_assert(!peer_link_tx_want_space(a.l, 65562));
    ck_assert(!fd_readable(peer_link_tx_space_fd(a.l)));
    expect_frame(b.l, 65562, 0);
    ck_assert(fd_readable(peer_link_tx_space_fd(a.l)));
    ck_assert_uint_eq(read_eventfd(peer_link_tx_space_fd(a.l)), 1);
    ck_assert(send_frame(a.l, 65562, 3));
    /* No wakeup when nobody asked. */
    expect_frame(b.l, 65562, 1);
    ck_assert(!fd_readable(peer_link_tx_space_fd(a.l)));
    /* Asking when there is room: true, no wakeup needed. */
    ck_assert(peer_link_tx_want_space(a.l, 1514));
    expect_frame(b.l, 65562, 2);
    ck_assert(!fd_readable(peer_link_tx_space_fd(a.l)));
    expect_frame(b.l, 60, 1000);
    expect_frame(b.l, 65562, 3);
    peer_link_close(a.l);
    peer_link_close(b.l);
}
END_TEST

START_TEST(sleep_and_wakeup_are_suppressed)
{
    struct end a = {0}, b = {0};
    open_end(&a, path_a, path_b, 1, 0);
    open_end(&b, path_b, path_a, 2, 0);
    ck_assert(pump(&a, &b, true, 2000));
    int rx = peer_link_rx_fd(b.l);
    /* B awake: A's flushes write nothing. */
    for (unsigned i = 0; i < 5; i++) {
        ck_assert(send_frame(a.l, 60, i));
        peer_link_tx_flush(a.l);
    }
    ck_assert(!fd_readable(rx));
    for (unsigned i = 0; i < 5; i++)
        expect_frame(b.l, 60, i);
    /* B asleep: one batch, exactly one write. */
    ck_assert(!peer_link_rx_sleep(b.l));
    peer_link_tx_flush(a.l); /* nothing committed: no write */
    ck_assert(!fd_readable(rx));
    for (unsigned i = 0; i < 3; i++)
        ck_assert(send_frame(a.l, 1514, i));
    ck_assert(!fd_readable(rx)); /* not before the flush */
    peer_link_tx_flush(a.l);
    ck_assert_uint_eq(read_eventfd(rx), 1);
    ck_assert(send_frame(a.l, 60, 9));
    peer_link_tx_flush(a.l); /* the flag was consumed: no second write */
    ck_assert(!fd_readable(rx));
    for (unsigned i = 0; i < 3; i++)
        expect_frame(b.l, 1514, i);
    /* Announcing sleep with frames waiting: do not sleep. */
    ck_assert(peer_link_rx_sleep(b.l));
    expect_frame(b.l, 60, 9); /* peek ends the announcement */
    ck_assert(send_frame(a.l, 60, 10));
    peer_link_tx_flush(a.l);
    ck_assert(!fd_readable(rx));
    expect_frame(b.l, 60, 10);
    peer_link_close(a.l);
    peer_link_close(b.l);
}
END_TEST

START_TEST(peer_closes_and_comes_back)
{
    struct end a = {0}, b = {0};
    open_end(&a, path_a, path_b, 1, 0);
    open_end(&b, path_b, path_a, 2, 0);
    ck_assert(pump(&a, &b, true, 2000));
    peer_link_close(b.l);
    b.l = NULL;
    ck_assert(pump(&a, NULL, false, 2000));
    ck_assert_uint_eq(a.downs, 1);
    ck_assert_ptr_null(peer_link_tx_reserve(a.l, 60));
    ck_assert_uint_eq(peer_link_peer_features(a.l), 0);
    run_for(&a, NULL, 300); /* A keeps retrying, quietly */
    ck_assert_uint_eq(a.downs, 1);
    struct end b2 = {0};
    open_end(&b2, path_b, path_a, 2, 0);
    ck_assert(pump(&a, &b2, true, 2000));
    ck_assert_uint_eq(a.ups, 2);
    ck_assert(send_frame(a.l, 1514, 5));
    peer_link_tx_flush(a.l);
    expect_frame(b2.l, 1514, 5);
    ck_assert(send_frame(b2.l, 60, 6));
    expect_frame(a.l, 60, 6);
    struct peer_link_stats st;
    peer_link_get_stats(a.l, &st);
    ck_assert_uint_eq(st.connects, 2);
    ck_assert_uint_eq(st.disconnects, 1);
    peer_link_close(a.l);
    peer_link_close(b2.l);
}
END_TEST

START_TEST(quick_restart_without_servicing)
{
    /* B goes away and a new B appears before A services anything: A must end up with one
     * clean link to the new B. */
    struct end a = {0}, b = {0}, b2 = {0};
    open_end(&a, path_a, path_b, 1, 0);
    open_end(&b, path_b, path_a, 2, 0);
    ck_assert(pump(&a, &b, true, 2000));
    peer_link_close(b.l);
    b.l = NULL;
    open_end(&b2, path_b, path_a, 2, 0);
    peer_link_service(b2.l); /* B2's HELLO is waiting at A together with the hang-ups */
    ck_assert(pump(&a, &b2, true, 2000));
    run_for(&a, &b2, 100);
    ck_assert(peer_link_up(a.l));
    ck_assert(send_frame(a.l, 1514, 8));
    expect_frame(b2.l, 1514, 8);
    ck_assert(send_frame(b2.l, 1514, 9));
    expect_frame(a.l, 1514, 9);
    peer_link_close(a.l);
    peer_link_close(b2.l);
}
END_TEST

START_TEST(peer_path_spelled_differently)
{
    /* A names B's endpoint through a symlinked folder and an extra slash: same socket. */
    char alias[128], peer[160];
    snprintf(alias, sizeof(alias), "%s/alias", dir);
    ck_assert_int_eq(symlink(dir, alias), 0);
    snprintf(peer, sizeof(peer), "%s//moe", alias);
    struct end a = {0}, b = {0};
    open_end(&b, path_b, path_a, 2, 0);
    open_end(&a, path_a, peer, 1, 0);
    ck_assert(pump(&a, &b, true, 2000));
    peer_link_close(a.l);
    peer_link_close(b.l);
    unlink(alias);
}
END_TEST

START_TEST(features_and_duplicate_mac)
{
    struct end a = {0}, b = {0};
    open_end(&a, path_a, path_b, 1, 0);
    open_end(&b, path_b, path_a, 1, 0); /* same MAC */
    ck_assert(pump(&a, &b, true, 2000));
    ck_assert_ptr_nonnull(strstr(a.log, "both ends of the link use MAC 52:54:00:00:00:01"));
    peer_link_set_features(a.l, 0x3);
    run_for(&a, &b, 50);
    ck_assert_uint_eq(peer_link_peer_features(b.l), 0x3);
    peer_link_close(a.l);
    peer_link_close(b.l);
}
END_TEST

/* A guest renegotiating faster than its peer reads (a driver-reset storm): the socket fills,
 * the latest features stay pending and go out later; the link never drops. */
START_TEST(feature_storm_keeps_the_link)
{
    struct end a = {0}, b = {0};
    open_end(&a, path_a, path_b, 1, 0);
    open_end(&b, path_b, path_a, 2, 0);
    ck_assert(pump(&a, &b, true, 2000));
    unsigned ups = a.ups + b.ups;
    for (uint64_t i = 1; i <= 100000; i++)
        peer_link_set_features(a.l, i & 0x3ff); /* b is not serviced meanwhile */
    peer_link_set_features(a.l, 0x2a5);
    run_for(&a, &b, 100);
    ck_assert(peer_link_up(a.l) && peer_link_up(b.l));
    ck_assert_uint_eq(a.downs + b.downs, 0);
    ck_assert_uint_eq(a.ups + b.ups, ups);
    ck_assert_uint_eq(peer_link_peer_features(b.l), 0x2a5);
    peer_link_close(a.l);
    peer_link_close(b.l);
}
END_TEST

START_TEST(endpoint_in_use_and_stale)
{
    struct end a = {0}, x = {0};
    open_end(&a, path_a, path_b, 1, 0);
    struct peer_link_cfg cfg = {
        .bind_path = path_a, .peer_path = path_b, .log = on_log, .opaque = &x};
    struct vdev_err err = {0};
    ck_assert_ptr_null(peer_link_open(&cfg, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "is in use"));
    ck_assert_int_eq(access(path_a, F_OK), 0); /* the live endpoint is untouched */
    run_for(&a, NULL, 20);                     /* its probe connection is dropped quietly */
    peer_link_close(a.l);

    /* A socket file left by a dead process is replaced. */
    int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path_a);
    ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(s);
    ck_assert_int_eq(access(path_a, F_OK), 0);
    open_end(&a, path_a, path_b, 1, 0);
    peer_link_close(a.l);

    /* Not a socket: refused, not removed. */
    FILE *f = fopen(path_a, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_ptr_null(peer_link_open(&cfg, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "not a socket"));
    unlink(path_a);

    /* An end whose peer is itself never comes up. */
    struct end self = {0};
    open_end(&self, path_a, path_a, 1, 0);
    run_for(&self, NULL, 50);
    ck_assert(!peer_link_up(self.l));
    ck_assert_ptr_nonnull(strstr(self.log, "leads back to this end"));
    peer_link_close(self.l);

    /* Missing folder, overlong path. */
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/nope/ep", dir);
    cfg.bind_path = missing;
    ck_assert_ptr_null(peer_link_open(&cfg, &err));
    char longp[200];
    memset(longp, 'x', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = 0;
    cfg.bind_path = longp;
    ck_assert_ptr_null(peer_link_open(&cfg, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "too long"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("peer_link");
    TCase *tc = tcase_create("peer_link");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, a_first_then_b);
    tcase_add_test(tc, b_first_then_a);
    tcase_add_test(tc, both_at_once);
    tcase_add_test(tc, frames_arrive_intact_in_order);
    tcase_add_test(tc, full_ring_and_space_wakeup);
    tcase_add_test(tc, sleep_and_wakeup_are_suppressed);
    tcase_add_test(tc, peer_closes_and_comes_back);
    tcase_add_test(tc, quick_restart_without_servicing);
    tcase_add_test(tc, peer_path_spelled_differently);
    tcase_add_test(tc, features_and_duplicate_mac);
    tcase_add_test(tc, feature_storm_keeps_the_link);
    tcase_add_test(tc, endpoint_in_use_and_stale);
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
