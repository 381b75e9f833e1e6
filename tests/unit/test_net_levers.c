/* virtio-net's levers against guest exits and interrupts, with the synthetic driver of
 * net_fixture.h on two linked NICs: the kick and interrupt counters (and their status line),
 * busy polling (`poll-us`), interrupt moderation from the options (`coalesce-*`, adaptive)
 * and from the driver (VIRTIO_NET_F_NOTF_COAL commands), with EVENT_IDX, running out of
 * receive buffers and a reset; the options' errors. Moderation runs on a clock the test
 * holds still and moves, so what is held and when it goes out is exact. */
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <vdev/virtio_transport.h>

#include "fake_embedder.h"
#include "net.h"
#include "netpeer/net_offload.h"

extern const struct vdev_type vdev_module_virtio_net;

#include "net_fixture.h"

static struct drv A, B;

#define BASIC_FEATURES                                                                             \
    (NET_BIT(VIRTIO_NET_F_MAC) | NET_BIT(VIRTIO_NET_F_STATUS) | NET_BIT(VIRTIO_NET_F_CTRL_VQ) |    \
     NET_BIT(VIRTIO_NET_F_CTRL_RX) | NET_BIT(VIRTIO_NET_F_MTU))
#define F_NOTF_COAL NET_BIT(VIRTIO_NET_F_NOTF_COAL)
#define F_EVENT_IDX (1ull << VIRTIO_F_EVENT_IDX)
#define TXQ         NET_Q_TX
#define RXQ         NET_Q_RX
#define CTRLQ       NET_Q_CTRL
#define IRQS(v, q)  atomic_load(&(v)->ft->notify_queue[q])
#define COUNT(v, c) net_read(&(v)->n->st.c)

#define WAIT_FOR(cond)                                                                             \
    do {                                                                                           \
        for (int i_ = 0; i_ < 5000 && !(cond); i_++)                                               \
            usleep(1000);                                                                          \
        ck_assert_msg(cond, "%s", #cond);                                                          \
    } while (0)

/* ---- the clock moderation reads: still until a test moves it ---- */

static _Atomic uint64_t fake_ns = 1000000000000ull;

static uint64_t fake_now(void)
{
    return atomic_load(&fake_ns);
}

/* Moves the clock and wakes the data thread, which looks at what is due. */
static void advance_us(struct drv *v, uint64_t us)
{
    atomic_fetch_add(&fake_ns, us * 1000u);
    uint64_t one = 1;
    ck_assert_int_eq(write(v->n->wake_fd, &one, sizeof(one)), (int)sizeof(one));
}

static void setup(void)
{
    use_fake_transport();
    snprintf(rundir, sizeof(rundir), "/tmp/test_net_levers_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(rundir));
    setenv("VDEVKIT_RUNTIME_DIR", rundir, 1);
    machine_up(&B, "sysb", "moe", "sysa/curly", NULL);
    A.fe.m = NULL;
}

static void teardown(void)
{
    if (A.fe.m)
        machine_down(&A);
    if (B.fe.m)
        machine_down(&B);
    close_transports();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", rundir);
    ck_assert_int_eq(system(cmd), 0);
}

/* NIC A with `extra` options (the clock held still when `still`), both drivers started, B
 * with `rx` receive buffers. */
static void pair_up(const char *extra, bool still, uint64_t features_a, unsigned rx)
{
    machine_up(&A, "sysa", "curly", "sysb/moe", extra);
    A.polite = B.polite = false;
    if (still)
        A.n->now_ns = fake_now; /* before the driver starts: the thread reads it after */
    ck_assert(wait_link(&A, true));
    ck_assert(wait_link(&B, true));
    drv_start(&A, features_a);
    drv_start(&B, BASIC_FEATURES);
    if (rx)
        drv_post_rx(&B, rx, 2048);
}

static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* A broadcast frame from A (waits until A's driver has it back). */
static void send_ab(void)
{
    static uint8_t f[256];
    uint8_t ma[6];
    mac_of(&A, ma);
    size_t len = udp_frame(f, bcast, ma, 100);
    struct net_hdr h = {0};
    drv_send(&A, &h, f, len);
}

static char *status_of(struct drv *v)
{
    char *line = NULL;
    size_t sz = 0;
    FILE *out = open_memstream(&line, &sz);
    vdev_module_virtio_net.status(v->d, out);
    fclose(out);
    return line;
}

/* ---- counters ---- */

START_TEST(kicks_and_interrupts_are_counted)
{
    pair_up(NULL, false, BASIC_FEATURES, 8);
    for (int i = 0; i < 5; i++)
        send_ab();
    for (int i = 0; i < 5; i++) {
        uint32_t id, len;
        ck_assert_msg(drv_used(&B, RXQ, &id, &len, 5000), "frame %d never arrived", i);
    }
    /* Every doorbell write is consumed and counted: an eventfd read returns them all. */
    WAIT_FOR(COUNT(&A, kicks[TXQ]) == 5);
    WAIT_FOR(COUNT(&B, kicks[RXQ]) == 8);
    vdev_virtio_kick(A.vio, TXQ); /* a trapped notify signals the same eventfd */
    WAIT_FOR(COUNT(&A, kicks[TXQ]) == 6);
    /* Interrupts: exactly the ones the transport raised. */
    WAIT_FOR(COUNT(&B, irqs[RXQ]) >= 1 && COUNT(&B, irqs[RXQ]) == IRQS(&B, RXQ));
    WAIT_FOR(COUNT(&A, irqs[TXQ]) >= 1 && COUNT(&A, irqs[TXQ]) == IRQS(&A, TXQ));
    uint8_t on = 1;
    ck_assert_uint_eq(drv_ctrl(&A, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &on, 1),
                      VIRTIO_NET_OK);
    WAIT_FOR(COUNT(&A, kicks[CTRLQ]) == 1 && COUNT(&A, irqs[CTRLQ]) == 1);
    ck_assert_uint_eq(COUNT(&A, irqs[RXQ]), 0);
    ck_assert_uint_eq(COUNT(&A, held[TXQ]), 0);

    char *line = status_of(&A), want[200];
    snprintf(want, sizeof(want),
             " kicks rx 0 tx 6 ctrl 1 interrupts rx 0 tx %llu ctrl 1 held rx 0 tx 0 busy-poll "
             "hits 0 misses 0",
             (unsigned long long)COUNT(&A, irqs[TXQ]));
    ck_assert_msg(strstr(line, want), "'%s' not in '%s'", want, line);
    free(line);
}
END_TEST

/* ---- busy polling ---- */

/* Spins (no sleep) until queue q of v has a new used entry. */
static void spin_used(struct drv *v, unsigned q)
{
    struct drvq *dq = &v->q[q];
    for (long i = 0; i < 2000000000L; i++)
        if (__atomic_load_n((uint16_t *)gpa(v, dq->used + 2), __ATOMIC_ACQUIRE) != dq->used_seen) {
            dq->used_seen++;
            return;
        }
    ck_abort_msg("never used");
}

START_TEST(busy_poll_takes_chains_without_kicks)
{
    /* The clock held still: a window never runs out by itself, so the chain the test adds
     * next is found by polling however the two threads are scheduled (with one free CPU a
     * real 1 ms window could expire before the test thread ran again, every time). */
    pair_up("poll-us 1000", true, BASIC_FEATURES, 0);
    /* B's driver has no receive buffers: the 20 frames wait in the link (room for far
     * more), so A's queue never waits either. */
    A.polite = true; /* kicks only when the device asks for them */
    static uint8_t f[256];
    uint8_t ma[6];
    mac_of(&A, ma);
    size_t len = udp_frame(f, bcast, ma, 100);
    uint64_t ha = alloc_buf(&A, NET_HDR_LEN), fa = alloc_buf(&A, len);
    struct net_hdr h = {0};
    net_hdr_store(&h, gpa(&A, ha));
    memcpy(gpa(&A, fa), f, len);
    unsigned sent = 0;
    /* One chain at a time, each a millisecond after the last came back: meanwhile the
     * thread's next pass finds nothing and it polls (kicks off), in a window that never
     * ends by itself, so the chain is a poll hit however the threads are scheduled (a chain
     * that comes before the empty pass is simply taken by that pass: no hit, no kick). */
    while (sent < 20 || (COUNT(&A, poll_hits) == 0 && sent < 2000)) {
        struct dbuf b[2] = {{ha, NET_HDR_LEN, 0}, {fa, (uint32_t)len, 0}};
        drv_add(&A, TXQ, b, 2);
        spin_used(&A, TXQ);
        sent++;
        usleep(1000);
    }
    ck_assert_uint_ge(COUNT(&A, poll_hits), 1);
    ck_assert_uint_eq(COUNT(&A, poll_misses), 0);
    advance_us(&A, 1001); /* idle now: the window runs out */
    WAIT_FOR(COUNT(&A, poll_misses) >= 1);
    WAIT_FOR(COUNT(&A, tx_frames) == sent);
    ck_assert_uint_lt(COUNT(&A, kicks[TXQ]), sent);
}
END_TEST

START_TEST(busy_poll_off_by_default)
{
    pair_up(NULL, false, BASIC_FEATURES, 16);
    ck_assert_uint_eq(A.n->poll_us, 0);
    for (int i = 0; i < 3; i++)
        send_ab();
    usleep(20000);
    ck_assert_uint_eq(COUNT(&A, poll_hits) + COUNT(&A, poll_misses), 0);
}
END_TEST

/* ---- interrupt moderation from the options ---- */

START_TEST(coalesce_tx_frames_then_time)
{
    pair_up("coalesce-tx-us 5000 coalesce-tx-frames 4", true, BASIC_FEATURES, 16);
    for (unsigned i = 1; i <= 3; i++) {
        send_ab();
        WAIT_FOR(COUNT(&A, held[TXQ]) == i); /* decided: held */
    }
    ck_assert_uint_eq(IRQS(&A, TXQ), 0);
    send_ab(); /* the 4th frame: the limit */
    WAIT_FOR(IRQS(&A, TXQ) == 1);
    send_ab();
    WAIT_FOR(COUNT(&A, held[TXQ]) == 4);
    advance_us(&A, 4999);
    usleep(20000);
    ck_assert_uint_eq(IRQS(&A, TXQ), 1); /* not yet */
    advance_us(&A, 1);
    WAIT_FOR(IRQS(&A, TXQ) == 2);
    ck_assert_uint_eq(COUNT(&A, irqs[TXQ]), 2);
}
END_TEST

START_TEST(coalesce_rx_flushes_when_buffers_run_out)
{
    /* B moderates its receive interrupts; A sends. */
    machine_down(&B);
    machine_up(&B, "sysb", "moe", "sysa/curly", "coalesce-rx-us 5000 coalesce-rx-frames 8");
    B.n->now_ns = fake_now;
    pair_up(NULL, false, BASIC_FEATURES, 0);
    drv_post_rx(&B, 2, 2048);
    for (int i = 0; i < 3; i++)
        send_ab();
    uint32_t id, len;
    ck_assert(drv_used(&B, RXQ, &id, &len, 5000));
    ck_assert(drv_used(&B, RXQ, &id, &len, 5000));
    /* The third frame found no buffer: what was held goes out, or the guest never refills. */
    WAIT_FOR(IRQS(&B, RXQ) == 1);
    uint64_t held = COUNT(&B, held[RXQ]); /* 1 or 2: the two frames may come in one pass */
    drv_post_rx(&B, 4, 2048);
    ck_assert(drv_used(&B, RXQ, &id, &len, 5000));
    WAIT_FOR(COUNT(&B, held[RXQ]) == held + 1);
    ck_assert_uint_eq(IRQS(&B, RXQ), 1);
    advance_us(&B, 5000);
    WAIT_FOR(IRQS(&B, RXQ) == 2);
}
END_TEST

START_TEST(coalesce_adaptive_holds_only_while_busy)
{
    pair_up("coalesce-tx-us 1000 coalesce-adaptive", true, BASIC_FEATURES, 16);
    send_ab(); /* a quiet queue: at once */
    WAIT_FOR(IRQS(&A, TXQ) == 1);
    send_ab(); /* right after the last one: held */
    WAIT_FOR(COUNT(&A, held[TXQ]) == 1);
    ck_assert_uint_eq(IRQS(&A, TXQ), 1);
    advance_us(&A, 1000); /* 1000 us after the last notification */
    WAIT_FOR(IRQS(&A, TXQ) == 2);
    advance_us(&A, 5000); /* quiet again */
    send_ab();
    WAIT_FOR(IRQS(&A, TXQ) == 3);
    ck_assert_uint_eq(COUNT(&A, held[TXQ]), 1);
}
END_TEST

START_TEST(coalesce_with_event_idx)
{
    pair_up("coalesce-tx-us 5000 coalesce-tx-frames 4", true, BASIC_FEATURES | F_EVENT_IDX, 16);
    drv_used_event(&A, TXQ, 1); /* interrupt once the used index passes 1 */
    for (int i = 0; i < 4; i++)
        send_ab();
    WAIT_FOR(IRQS(&A, TXQ) == 1);
    drv_used_event(&A, TXQ, 100); /* the driver is not interested for a while */
    for (int i = 0; i < 4; i++)
        send_ab();
    drv_used_event(&A, TXQ, 9); /* a crossing inside the next held range */
    for (int i = 0; i < 4; i++)
        send_ab();
    WAIT_FOR(COUNT(&A, held[TXQ]) == 9);
    WAIT_FOR(IRQS(&A, TXQ) == 2);
    usleep(20000);
    ck_assert_uint_eq(IRQS(&A, TXQ), 2);
    ck_assert_uint_eq(COUNT(&A, irqs[TXQ]), 2);
}
END_TEST

START_TEST(reset_sends_what_is_held)
{
    pair_up("coalesce-tx-us 5000 coalesce-tx-frames 8", true, BASIC_FEATURES, 16);
    send_ab();
    send_ab();
    WAIT_FOR(COUNT(&A, held[TXQ]) == 2);
    ck_assert_uint_eq(IRQS(&A, TXQ), 0);
    vdev_virtio_set_status(A.vio, 0);
    ck_assert_uint_eq(IRQS(&A, TXQ), 1);
    /* the next driver starts without anything held */
    drv_start(&A, BASIC_FEATURES);
    send_ab();
    WAIT_FOR(COUNT(&A, held[TXQ]) == 3);
    ck_assert_uint_eq(IRQS(&A, TXQ), 1);
}
END_TEST

/* ---- VIRTIO_NET_F_NOTF_COAL ---- */

static uint8_t coal_cmd(struct drv *v, uint8_t cmd, uint32_t frames, uint32_t usecs)
{
    uint8_t data[8];
    memcpy(data, &frames, 4); /* little-endian host */
    memcpy(data + 4, &usecs, 4);
    return drv_ctrl(v, VIRTIO_NET_CTRL_NOTF_COAL, cmd, data, sizeof(data));
}

START_TEST(notf_coal_offered_only_with_the_option)
{
    pair_up("notf-coal", true, BASIC_FEATURES, 0);
    uint32_t bit = 1u << (VIRTIO_NET_F_NOTF_COAL - 32);
    ck_assert(vdev_virtio_device_features(A.vio, 1) & bit);
    ck_assert(!(vdev_virtio_device_features(B.vio, 1) & bit));
    /* Not negotiated: the commands are refused. */
    ck_assert_uint_eq(coal_cmd(&A, VIRTIO_NET_CTRL_NOTF_COAL_TX_SET, 2, 100), VIRTIO_NET_ERR);
    /* It needs the control queue (virtio 1.3 §5.1.3.1). */
    vdev_virtio_set_status(A.vio, 0);
    vdev_virtio_set_status(A.vio, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    vdev_virtio_set_driver_features(A.vio, 0, 0);
    vdev_virtio_set_driver_features(A.vio, 1, bit | 1u /* VERSION_1 */);
    vdev_virtio_set_status(A.vio, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                      VIRTIO_STATUS_FEATURES_OK);
    ck_assert(!(vdev_virtio_get_status(A.vio) & VIRTIO_STATUS_FEATURES_OK));
}
END_TEST

START_TEST(notf_coal_commands)
{
    pair_up("notf-coal coalesce-tx-us 3000", true, BASIC_FEATURES | F_NOTF_COAL, 16);
    machine_down(&B); /* A's frames are dropped (link down): only A's queues matter */
    ck_assert(wait_link(&A, false));
    uint8_t short_cmd[7] = {0};
    ck_assert_uint_eq(drv_ctrl(&A, VIRTIO_NET_CTRL_NOTF_COAL, VIRTIO_NET_CTRL_NOTF_COAL_TX_SET,
                               short_cmd, sizeof(short_cmd)),
                      VIRTIO_NET_ERR);
    ck_assert_uint_eq(coal_cmd(&A, 2 /* VQ_SET */, 2, 100), VIRTIO_NET_ERR);
    ck_assert_uint_eq(coal_cmd(&A, 3 /* VQ_GET */, 2, 100), VIRTIO_NET_ERR);
    ck_assert_uint_eq(coal_cmd(&A, VIRTIO_NET_CTRL_NOTF_COAL_TX_SET, 2, NET_COAL_GUEST_MAX_US + 1),
                      VIRTIO_NET_ERR);

    /* The driver's settings replace the device's defaults (frames 256, 3000 us). */
    ck_assert_uint_eq(coal_cmd(&A, VIRTIO_NET_CTRL_NOTF_COAL_TX_SET, 10, 5000), VIRTIO_NET_OK);
    for (int i = 0; i < 3; i++)
        send_ab();
    WAIT_FOR(COUNT(&A, held[TXQ]) == 3);
    advance_us(&A, 3000); /* the default would have gone by now */
    usleep(20000);
    ck_assert_uint_eq(IRQS(&A, TXQ), 0);
    /* New conditions that are met already: at once (§5.1.6.5.6.4's example). */
    ck_assert_uint_eq(coal_cmd(&A, VIRTIO_NET_CTRL_NOTF_COAL_TX_SET, 2, 5000), VIRTIO_NET_OK);
    ck_assert_uint_eq(IRQS(&A, TXQ), 1);
    send_ab();
    send_ab(); /* 2 frames: the limit */
    WAIT_FOR(IRQS(&A, TXQ) == 2);
    /* Zeros: every frame at once. */
    ck_assert_uint_eq(coal_cmd(&A, VIRTIO_NET_CTRL_NOTF_COAL_TX_SET, 0, 0), VIRTIO_NET_OK);
    send_ab();
    WAIT_FOR(IRQS(&A, TXQ) == 3);
    /* RX_SET reaches the receive queue only. */
    ck_assert_uint_eq(coal_cmd(&A, VIRTIO_NET_CTRL_NOTF_COAL_RX_SET, 3, 5000), VIRTIO_NET_OK);
    ck_assert_uint_eq(A.n->coal.set[RXQ].frames, 3);
    ck_assert_uint_eq(A.n->coal.set[RXQ].usecs, 5000);
    ck_assert_uint_eq(A.n->coal.set[TXQ].frames, 0);
    /* A reset forgets them: the defaults again. */
    vdev_virtio_set_status(A.vio, 0);
    drv_start(&A, BASIC_FEATURES | F_NOTF_COAL);
    ck_assert(!A.n->coal.driver_set[TXQ] && !A.n->coal.driver_set[RXQ]);
    unsigned before = IRQS(&A, TXQ);
    uint64_t held = COUNT(&A, held[TXQ]);
    send_ab();
    WAIT_FOR(COUNT(&A, held[TXQ]) == held + 1);
    ck_assert_uint_eq(IRQS(&A, TXQ), before);
    advance_us(&A, 3000);
    WAIT_FOR(IRQS(&A, TXQ) == before + 1);
}
END_TEST

/* ---- options ---- */

static void expect_error(const char *cfg, const char *want)
{
    struct fake_embedder fe;
    struct vdev_err err = {0};
    memset(&fe, 0, sizeof(fe));
    fake_machine_new(&fe);
    ck_assert_int_ne(fake_machine_build_string(&fe, cfg, &err), 0);
    ck_assert_msg(strstr(err.msg, want), "'%s' not in '%s'", want, err.msg);
    fake_machine_free(&fe);
}

START_TEST(option_errors)
{
    expect_error("ram 1M vdev virtio-net poll-us 1001",
                 "test.conf:1:32: vdev virtio-net: poll-us 1001 is out of range (0 to 1000 "
                 "microseconds) (hint: the data thread spins");
    expect_error("ram 1M vdev virtio-net coalesce-rx-us 10001",
                 "coalesce-rx-us 10001 is out of range (0 to 10000 microseconds) (hint: ");
    expect_error("ram 1M vdev virtio-net coalesce-tx-us 10 coalesce-tx-frames 1",
                 "coalesce-tx-frames 1 is out of range (2 to 256 frames) (hint: ");
    expect_error("ram 1M vdev virtio-net coalesce-tx-us 10 coalesce-tx-frames 257",
                 "out of range (2 to 256 frames)");
    expect_error("ram 1M vdev virtio-net coalesce-rx-frames 8",
                 "option 'coalesce-rx-frames' does nothing without 'coalesce-rx-us' (hint: add "
                 "'coalesce-rx-us N'");
    expect_error("ram 1M vdev virtio-net coalesce-adaptive",
                 "option 'coalesce-adaptive' needs 'coalesce-rx-us' or 'coalesce-tx-us' (hint: ");
    expect_error("ram 1M vdev virtio-net poll-us x", "option 'poll-us': bad number 'x'");
    expect_error("ram 1M vdev virtio-net notf-coal 1", "");
}
END_TEST

START_TEST(options_reach_the_nic)
{
    machine_up(&A, "sysa", "curly", "sysb/moe",
               "poll-us 50 notf-coal coalesce-rx-us 40 coalesce-rx-frames 16 coalesce-tx-us 80 "
               "coalesce-adaptive");
    ck_assert_uint_eq(A.n->poll_us, 50);
    ck_assert(A.n->coal.offer && A.n->coal.adaptive);
    ck_assert_uint_eq(A.n->coal.def[RXQ].usecs, 40);
    ck_assert_uint_eq(A.n->coal.def[RXQ].frames, 16);
    ck_assert_uint_eq(A.n->coal.def[TXQ].usecs, 80);
    ck_assert_uint_eq(A.n->coal.def[TXQ].frames, NET_COAL_MAX_FRAMES);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("net_levers");
    TCase *tc = tcase_create("levers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, kicks_and_interrupts_are_counted);
    tcase_add_test(tc, busy_poll_takes_chains_without_kicks);
    tcase_add_test(tc, busy_poll_off_by_default);
    tcase_add_test(tc, coalesce_tx_frames_then_time);
    tcase_add_test(tc, coalesce_rx_flushes_when_buffers_run_out);
    tcase_add_test(tc, coalesce_adaptive_holds_only_while_busy);
    tcase_add_test(tc, coalesce_with_event_idx);
    tcase_add_test(tc, reset_sends_what_is_held);
    tcase_add_test(tc, notf_coal_offered_only_with_the_option);
    tcase_add_test(tc, notf_coal_commands);
    tcase_add_test(tc, option_errors);
    tcase_add_test(tc, options_reach_the_nic);
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
