/* The host peer (`vdevkit net-peer`, tools/net_peer*.c) against a synthetic guest NIC: a
 * machine of this process with a virtio-net driven by a synthetic driver (the machinery of
 * test_net_link.c), linked to a real `vdevkit net-peer` child whose TAP interface lives in a
 * network namespace made for the test. Frames cross both ways (read and written through a
 * packet socket on the TAP), a TSO frame crosses with its virtio-net header in both
 * directions, the carrier follows the guest, the host peer survives the guest's restart and
 * the guest survives the host peer's, netns= puts the interface elsewhere, and bad options
 * or a missing CAP_NET_ADMIN give clear errors. Needs root and /dev/net/tun (else skipped);
 * nothing leaves the test's namespaces. */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <vdev/virtio_transport.h>

#include "fake_embedder.h"
#include "net.h"
#include "netpeer/net_mac.h"
#include "netpeer/net_offload.h"
#include "netpeer/peer_link.h"
extern const struct vdev_type vdev_module_virtio_net;

#include "net_fixture.h"
#include "tap_fixture.h"

#define BASIC_FEATURES                                                                             \
    (NET_BIT(VIRTIO_NET_F_MAC) | NET_BIT(VIRTIO_NET_F_STATUS) | NET_BIT(VIRTIO_NET_F_MTU))
#define TSO_FEATURES                                                                               \
    (NET_BIT(VIRTIO_NET_F_CSUM) | NET_BIT(VIRTIO_NET_F_HOST_TSO4) |                                \
     NET_BIT(VIRTIO_NET_F_GUEST_CSUM) | NET_BIT(VIRTIO_NET_F_GUEST_TSO4) |                         \
     NET_BIT(VIRTIO_NET_F_MRG_RXBUF))

static const uint8_t tap_mac[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0xaa};
static bool skipped;
static pid_t np_pid = -1;
static int np_out = -1; /* the host peer's stdout (status lines) */

static bool can_run(void)
{
    if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
        fprintf(stderr, "test_net_peer: needs root and /dev/net/tun: skipped\n");
        return false;
    }
    return true;
}

/* A fresh network namespace for this test's process (Check forks one per test); IPv6 off
 * so the kernel sends no neighbour discovery of its own through the TAP. */
static void fresh_netns(void)
{
    ck_assert_int_eq(unshare(CLONE_NEWNET), 0);
    write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
    write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
}

/* Starts `vdevkit net-peer` for the guest NIC sysg/eth0 with the endpoint RUNDIR/vp0. */
/* Starts `vdevkit net-peer SPEC [SPEC2]`. */
static void np_exec(const char *spec, const char *spec2)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    np_pid = fork();
    ck_assert_int_ge(np_pid, 0);
    if (np_pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        execl(VDEVKIT_EXE, "vdevkit", "net-peer", spec, spec2, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    np_out = p[0];
}

/* Starts it for the guest NIC sysg/eth0 with the endpoint RUNDIR/vp0. */
static void np_start(const char *extra)
{
    char spec[512];
    snprintf(spec, sizeof(spec), "peer=%s/sysg/eth0,bind=%s/vp0,mac=52:54:00:00:00:aa%s", rundir,
             rundir, extra ? extra : "");
    np_exec(spec, NULL);
}

/* SIGUSR1: the status lines, read from its standard output. */
static char *np_status(void)
{
    kill(np_pid, SIGUSR1);
    static char buf[4096];
    size_t n = 0;
    while (n + 1 < sizeof(buf)) {
        struct pollfd pf = {.fd = np_out, .events = POLLIN};
        ck_assert_msg(poll(&pf, 1, 5000) == 1, "no status line");
        ssize_t r = read(np_out, buf + n, 1);
        ck_assert_int_eq(r, 1);
        if (buf[n++] == '\n')
            break;
    }
    buf[n] = '\0';
    return buf;
}

/* Stops it with `sig` and returns what it printed (caller frees). */
static char *np_stop(int sig)
{
    kill(np_pid, sig);
    int st;
    ck_assert_int_eq(waitpid(np_pid, &st, 0), np_pid);
    np_pid = -1;
    if (sig == SIGTERM)
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    static char buf[8192];
    size_t n = 0;
    ssize_t r;
    while (n + 1 < sizeof(buf) && (r = read(np_out, buf + n, sizeof(buf) - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    close(np_out);
    np_out = -1;
    return strdup(buf);
}

static bool wait_ifindex(const char *name, bool present)
{
    for (int i = 0; i < 5000; i++) {
        if ((if_nametoindex(name) != 0) == present)
            return true;
        usleep(1000);
    }
    return false;
}

static struct drv G;

static void setup(void)
{
    skipped = !can_run();
    if (skipped)
        return;
    fresh_netns();
    use_fake_transport();
    snprintf(rundir, sizeof(rundir), "/tmp/test_net_peer_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(rundir));
    setenv("VDEVKIT_RUNTIME_DIR", rundir, 1);
    machine_up(&G, "sysg", "eth0", "vp0", "mac 52:54:00:00:00:01");
}

static void teardown(void)
{
    if (skipped)
        return;
    if (np_pid > 0)
        free(np_stop(SIGKILL));
    if (G.fe.m)
        machine_down(&G);
    close_transports();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", rundir);
    ck_assert_int_eq(system(cmd), 0);
}

/* The relay (handoff=off): the host peer itself moves the frames between ring and TAP. */
START_TEST(frames_cross_both_ways)
{
    if (skipped)
        return;
    np_start(",handoff=off");
    ck_assert(wait_link(&G, true));
    ck_assert(wait_carrier("vp0", true));
    drv_start(&G, BASIC_FEATURES);
    uint64_t rx = drv_post_rx(&G, 16, 2048);
    uint8_t gmac[6];
    mac_of(&G, gmac);
    int s = tap_socket("vp0", false, true);

    static uint8_t f[2048], got[2048];
    size_t len = udp_frame(f, tap_mac, gmac, 1000);
    struct net_hdr h = {0};
    drv_send(&G, &h, f, len);
    ck_assert_int_eq(tap_recv(s, got, sizeof(got)), (ssize_t)len);
    ck_assert(memcmp(got, f, len) == 0);

    len = udp_frame(f, gmac, tap_mac, 700);
    tap_send(s, f, len);
    uint64_t at;
    ck_assert_uint_eq(guest_recv(&G, rx, 2048, &at), NET_HDR_LEN + len);
    ck_assert(memcmp(gpa(&G, at) + NET_HDR_LEN, f, len) == 0);
    close(s);
    const char *now = np_status();
    ck_assert_msg(strstr(now, "vp0 peer ") == now && strstr(now, " to-tap 1 frames 1042 bytes "),
                  "%s", now);

    char *st = np_stop(SIGTERM);
    ck_assert_msg(strstr(st, "vp0 peer ") == st, "%s", st);
    ck_assert_msg(strstr(st, " mac 52:54:00:00:00:aa link up to-tap 1 frames 1042 bytes "
                             "to-guest 1 frames 742 bytes drops link-down 0"),
                  "%s", st);
    ck_assert_msg(strstr(st, "link connects 1 disconnects 0 bad-records 0"), "%s", st);
    free(st);
    /* a clean stop removes the interface and the endpoint */
    ck_assert(wait_ifindex("vp0", false));
    char ep[128];
    snprintf(ep, sizeof(ep), "%s/vp0", rundir);
    ck_assert_int_ne(access(ep, F_OK), 0);
    ck_assert(wait_link(&G, false));
}
END_TEST

START_TEST(tso_crosses_with_its_header)
{
    if (skipped)
        return;
    np_start(NULL);
    ck_assert(wait_link(&G, true));
    drv_start(&G, BASIC_FEATURES | TSO_FEATURES);
    /* the host peer hears of the guest's features and sets the TAP's offloads */
    ck_assert_msg(wait_tso("vp0", true), "TSO never enabled on the tap");
    uint64_t rx = drv_post_rx(&G, 32, 4096);
    uint8_t gmac[6];
    mac_of(&G, gmac);
    int s = tap_socket("vp0", true, true);

    tso_frame_reaches_tap(&G, s, tap_mac, gmac);
    static uint8_t f[NET_MAX_FRAME], got[NET_MAX_FRAME];
    size_t len;

    /* tap -> guest: a TSO frame sent by the host reaches the guest in one piece */
    len = tcp_frame(f, gmac, tap_mac, 30000);
    tso_vnet_hdr(got, 1400);
    memcpy(got + 10, f, len);
    tap_send(s, got, 10 + len);
    uint64_t at;
    size_t total = guest_recv(&G, rx, 4096, &at);
    ck_assert_uint_eq(total, NET_HDR_LEN + len);
    struct net_hdr gh;
    net_hdr_load(&gh, gpa(&G, at));
    ck_assert_uint_eq(gh.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
    ck_assert_uint_eq(gh.gso_size, 1400);
    ck_assert_uint_eq(net_read(&G.n->st.rx_frames), 1);
    close(s);

    char *st = np_stop(SIGTERM);
    ck_assert_msg(strstr(st, "sw-gso 0 frames 0 segments sw-csum 0"), "%s", st);
    free(st);
}
END_TEST

/* A guest without TSO: the kernel segments for it (the TAP's offloads follow the guest's
 * driver, again after a reset). */
START_TEST(guest_without_tso_gets_segments)
{
    if (skipped)
        return;
    np_start(NULL);
    ck_assert(wait_link(&G, true));
    /* first a driver with TSO, then (after a reset) one without: the TAP follows */
    drv_start(&G, BASIC_FEATURES | TSO_FEATURES);
    ck_assert(wait_tso("vp0", true));
    vdev_virtio_set_status(G.vio, 0);
    drv_start(&G, BASIC_FEATURES);
    ck_assert(wait_tso("vp0", false));
    uint64_t rx = drv_post_rx(&G, 64, 2048);
    uint8_t gmac[6];
    mac_of(&G, gmac);
    int s = tap_socket("vp0", true, false);
    static uint8_t f[NET_MAX_FRAME], out[NET_MAX_FRAME];
    size_t len = tcp_frame(f, gmac, tap_mac, 4000);
    uint8_t vh[10] = {VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4};
    net_put16(vh + 2, 54);
    net_put16(vh + 4, 1000);
    net_put16(vh + 6, 34);
    net_put16(vh + 8, 16);
    memcpy(out, vh, 10);
    memcpy(out + 10, f, len);
    tap_send(s, out, 10 + len);
    for (int i = 0; i < 4; i++) {
        uint64_t at;
        ck_assert_uint_eq(guest_recv(&G, rx, 2048, &at), NET_HDR_LEN + 54 + 1000);
        struct net_hdr gh;
        net_hdr_load(&gh, gpa(&G, at));
        ck_assert_uint_eq(gh.gso_type, 0);
        ck_assert_uint_eq(gh.flags, 0);
    }
    close(s);
}
END_TEST

START_TEST(carrier_follows_the_guest_and_restarts)
{
    if (skipped)
        return;
    np_start(NULL);
    ck_assert(wait_link(&G, true));
    ck_assert(wait_carrier("vp0", true));

    /* the guest goes away: carrier off, the interface stays; it comes back: carrier on */
    machine_down(&G);
    ck_assert(wait_carrier("vp0", false));
    ck_assert_uint_ne(if_nametoindex("vp0"), 0);
    machine_up(&G, "sysg", "eth0", "vp0", "mac 52:54:00:00:00:01");
    ck_assert(wait_link(&G, true));
    ck_assert(wait_carrier("vp0", true));

    /* the host peer is killed: the guest's link goes down and the interface with it */
    free(np_stop(SIGKILL));
    ck_assert(wait_link(&G, false));
    ck_assert(wait_ifindex("vp0", false));
    /* restarted (its stale endpoint is replaced): the link comes back and frames cross */
    np_start(NULL);
    ck_assert(wait_link(&G, true));
    ck_assert(wait_carrier("vp0", true));
    drv_start(&G, BASIC_FEATURES);
    udp_frame_reaches_tap(&G, "vp0", tap_mac, 100);
    char *st = np_stop(SIGTERM);
    ck_assert_msg(strstr(st, "link connects 1 disconnects 0"), "%s", st);
    free(st);
}
END_TEST

/* tap=: a persistent TAP made beforehand (with an address) is attached, not created; it and
 * its address outlive the host peer, which a restart attaches again. */
START_TEST(existing_tap_outlives_the_host_peer)
{
    if (skipped)
        return;
    ck_assert_int_eq(system("ip tuntap add pt0 mode tap && ip addr add 10.9.9.1/24 dev pt0 && "
                            "ip link set pt0 up"),
                     0);
    unsigned idx = if_nametoindex("pt0");
    ck_assert_uint_ne(idx, 0);
    np_start(",tap=pt0");
    ck_assert(wait_link(&G, true));
    ck_assert(wait_carrier("pt0", true));
    ck_assert_uint_eq(if_nametoindex("vp0"), 0); /* nothing made */
    drv_start(&G, BASIC_FEATURES);
    udp_frame_reaches_tap(&G, "pt0", tap_mac, 300);
    char *st = np_stop(SIGTERM);
    ck_assert_msg(strstr(st, "pt0 peer ") == st && strstr(st, " mac 52:54:00:00:00:aa link up"),
                  "%s", st);
    free(st);
    /* the interface, same index, and its address stay; the guest's link goes down */
    ck_assert(wait_link(&G, false));
    ck_assert_uint_eq(if_nametoindex("pt0"), idx);
    ck_assert_int_eq(system("ip -4 addr show dev pt0 | grep -q 10.9.9.1/24"), 0);
    ck_assert(wait_carrier("pt0", false));
    np_start(",tap=pt0");
    ck_assert(wait_link(&G, true));
    ck_assert(wait_carrier("pt0", true));
    free(np_stop(SIGKILL));
    ck_assert_uint_eq(if_nametoindex("pt0"), idx);
    ck_assert_int_eq(system("ip link del pt0"), 0);
}
END_TEST

START_TEST(netns_option_places_the_interface)
{
    if (skipped)
        return;
    pid_t holder = fork(); /* keeps another namespace alive */
    ck_assert_int_ge(holder, 0);
    if (holder == 0) {
        if (unshare(CLONE_NEWNET) == 0)
            pause();
        _exit(1);
    }
    char ns[64], opt[96];
    snprintf(ns, sizeof(ns), "/proc/%d/ns/net", (int)holder);
    /* wait until the holder is in its own namespace */
    char mine[64] = "", its[64] = "";
    for (int i = 0; i < 5000 && !strcmp(mine, its); i++) {
        ssize_t a = readlink("/proc/self/ns/net", mine, sizeof(mine) - 1);
        ssize_t b = readlink(ns, its, sizeof(its) - 1);
        mine[a > 0 ? a : 0] = its[b > 0 ? b : 0] = '\0';
        usleep(1000);
    }
    snprintf(opt, sizeof(opt), ",netns=%s", ns);
    np_start(opt);
    ck_assert(wait_link(&G, true));
    ck_assert_uint_eq(if_nametoindex("vp0"), 0);
    int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    int there = open(ns, O_RDONLY | O_CLOEXEC);
    ck_assert_int_eq(setns(there, CLONE_NEWNET), 0);
    ck_assert_uint_ne(if_nametoindex("vp0"), 0);
    ck_assert(wait_carrier("vp0", true));
    ck_assert_int_eq(setns(home, CLONE_NEWNET), 0);
    close(home);
    close(there);
    free(np_stop(SIGTERM));
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
}
END_TEST

/* ---- a raw guest: the test's own end of the peer link instead of a NIC ---- */

static void raw_state(void *o, bool up)
{
    *(bool *)o = up;
}

static bool raw_up_flag;

static struct peer_link *raw_open(uint32_t ring, uint64_t features)
{
    machine_down(&G); /* the raw end takes the NIC's endpoint */
    char bind[128], peer[128];
    snprintf(bind, sizeof(bind), "%s/sysg/eth0", rundir);
    snprintf(peer, sizeof(peer), "%s/vp0", rundir);
    struct peer_link_cfg cfg = {.bind_path = bind,
                                .peer_path = peer,
                                .mac = {0x52, 0x54, 0, 0, 0, 1},
                                .features = features,
                                .state_changed = raw_state,
                                .opaque = &raw_up_flag,
                                .ring_size = ring};
    struct vdev_err err = {0};
    struct peer_link *l = peer_link_open(&cfg, &err);
    ck_assert_msg(l, "%s", err.msg);
    for (int i = 0; i < 5000 && !peer_link_up(l); i++) {
        peer_link_service(l);
        usleep(1000);
    }
    ck_assert(peer_link_up(l));
    return l;
}

static void raw_send(struct peer_link *l, const struct net_hdr *h, const uint8_t *f, size_t len)
{
    uint8_t *p = peer_link_tx_reserve(l, NET_HDR_LEN + len);
    ck_assert_ptr_nonnull(p);
    net_hdr_store(h, p);
    memcpy(p + NET_HDR_LEN, f, len);
    peer_link_tx_commit(l, NET_HDR_LEN + len);
    peer_link_tx_flush(l);
}

/* A hostile guest's records are dropped and counted; the host peer carries on. */
START_TEST(hostile_guest_records_are_counted)
{
    if (skipped)
        return;
    np_start(NULL);
    struct peer_link *l = raw_open(0, NET_GUEST_OFFLOADS);
    ck_assert(wait_carrier("vp0", true));
    int s = tap_socket("vp0", false, true);
    static uint8_t f[2048], got[2048];
    const uint8_t gmac[6] = {0x52, 0x54, 0, 0, 0, 1};
    size_t len = udp_frame(f, tap_mac, gmac, 200);

    uint8_t *p = peer_link_tx_reserve(l, 10); /* shorter than a header */
    memset(p, 0, 10);
    peer_link_tx_commit(l, 10);
    struct net_hdr bad[] = {
        {.flags = 0x80},                                                         /* unknown flag */
        {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 5000},              /* outside */
        {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = 3, .gso_size = 8},    /* UDP GSO */
        {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = 1, .csum_start = 34}, /* size 0 */
        {.gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 100},                 /* no NEEDS_CSUM */
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        raw_send(l, &bad[i], f, len);
    struct net_hdr good = {0};
    raw_send(l, &good, f, len);
    ck_assert_int_eq(tap_recv(s, got, sizeof(got)), (ssize_t)len);
    ck_assert(memcmp(got, f, len) == 0);
    close(s);
    char *st = np_stop(SIGTERM);
    ck_assert_msg(strstr(st, "to-tap 1 frames 242 bytes"), "%s", st);
    ck_assert_msg(strstr(st, "bad-header 6 tap-errors 0"), "%s", st);
    free(st);
    peer_link_close(l);
}
END_TEST

/* A guest that does not drain: the host peer stops reading the TAP (the kernel's queue holds
 * the frames) and resumes when the guest makes room; nothing is lost, order is kept. */
START_TEST(full_guest_ring_holds_the_tap)
{
    if (skipped)
        return;
    np_start(NULL);
    struct peer_link *l = raw_open(256u * 1024u, 0);
    ck_assert(wait_carrier("vp0", true));
    int s = tap_socket("vp0", false, true);
    static uint8_t f[2048];
    const uint8_t gmac[6] = {0x52, 0x54, 0, 0, 0, 1};
    const unsigned total = 300; /* 420 KB: more than the 256 KiB ring, less than the queue */
    for (unsigned i = 0; i < total; i++) {
        size_t len = udp_frame(f, gmac, tap_mac, 1358);
        net_put_be32(f + 42, i);
        tap_send(s, f, len);
    }
    unsigned got = 0;
    size_t len;
    for (int t = 0; t < 5000 && got < total; t++) {
        peer_link_service(l);
        const uint8_t *r;
        while ((r = peer_link_rx_peek(l, &len))) {
            ck_assert_uint_eq(len, NET_HDR_LEN + 1400);
            ck_assert_uint_eq(net_be32(r + NET_HDR_LEN + 42), got);
            got++;
            peer_link_rx_release(l);
        }
        if (got < total)
            usleep(1000);
    }
    ck_assert_uint_eq(got, total);
    close(s);
    char *st = np_stop(SIGTERM);
    ck_assert_msg(strstr(st, "to-guest 300 frames 420000 bytes drops link-down 0 ring-full 0"),
                  "%s", st);
    free(st);
    peer_link_close(l);
}
END_TEST

/* offload=off: the host peer announces no offloads, so the guest's NIC segments its TSO
 * frames itself, and the TAP gives plain frames. */
START_TEST(offload_off_gives_plain_frames)
{
    if (skipped)
        return;
    np_start(",offload=off");
    ck_assert(wait_link(&G, true));
    drv_start(&G, BASIC_FEATURES | TSO_FEATURES);
    usleep(200 * 1000); /* the guest's features reach the host peer, which keeps TSO off */
    ck_assert(!tap_tso_on("vp0"));
    uint8_t gmac[6];
    mac_of(&G, gmac);
    int s = tap_socket("vp0", true, true);
    static uint8_t f[NET_MAX_FRAME], got[NET_MAX_FRAME];
    size_t len = tcp_frame(f, tap_mac, gmac, 3000);
    struct net_hdr h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                        .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
                        .hdr_len = 54,
                        .gso_size = 1000,
                        .csum_start = 34,
                        .csum_offset = 16};
    drv_send(&G, &h, f, len);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(tap_recv(s, got, sizeof(got)), 10 + 54 + 1000);
        ck_assert_uint_eq(got[1], 0); /* no GSO */
    }
    ck_assert_uint_eq(net_read(&G.n->st.sw_gso_frames), 1);
    close(s);
}
END_TEST

/* Figures, not a check: VDEVKIT_NET_PEER_BENCH=FRAMES sends FRAMES 1514-byte frames and
 * FRAMES/20 64 KiB TSO frames from a raw guest through the host peer into the TAP (where
 * the host stack drops them: no address). */
START_TEST(throughput_guest_to_tap)
{
    const char *env = getenv("VDEVKIT_NET_PEER_BENCH");
    if (skipped || !env)
        return;
    unsigned frames = (unsigned)strtoul(env, NULL, 0);
    np_start(NULL);
    struct peer_link *l = raw_open(0, NET_GUEST_OFFLOADS);
    ck_assert(wait_carrier("vp0", true));
    static uint8_t f[NET_MAX_FRAME];
    const uint8_t gmac[6] = {0x52, 0x54, 0, 0, 0, 1};
    for (int kind = 0; kind < 2; kind++) {
        unsigned n = kind ? frames / 20 : frames;
        size_t len = kind ? tcp_frame(f, tap_mac, gmac, 65000) : udp_frame(f, tap_mac, gmac, 1472);
        struct net_hdr h = {0};
        if (kind)
            h = (struct net_hdr){.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                                 .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
                                 .hdr_len = 54,
                                 .gso_size = 1448,
                                 .csum_start = 34,
                                 .csum_offset = 16};
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (unsigned i = 0; i < n;) {
            uint8_t *p = peer_link_tx_reserve(l, NET_HDR_LEN + len);
            if (!p) {
                peer_link_tx_flush(l);
                if (!peer_link_tx_want_space(l, NET_HDR_LEN + len)) {
                    struct pollfd pf = {.fd = peer_link_tx_space_fd(l), .events = POLLIN};
                    poll(&pf, 1, 100);
                }
                peer_link_service(l);
                continue;
            }
            net_hdr_store(&h, p);
            memcpy(p + NET_HDR_LEN, f, len);
            peer_link_tx_commit(l, NET_HDR_LEN + len);
            if (++i % 32 == 0)
                peer_link_tx_flush(l);
        }
        peer_link_tx_flush(l);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        fprintf(stderr, "test_net_peer: guest -> tap, %zu-byte %s: %.0f frames/s, %.2f Gbit/s\n",
                len, kind ? "TSO frames" : "frames", n / s, n * (double)len * 8 / s / 1e9);
    }
    free(np_stop(SIGTERM));
    peer_link_close(l);
}
END_TEST

static const char *nic_status(struct drv *v)
{
    static char buf[2048];
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    vdev_module_virtio_net.status(v->d, f);
    fclose(f);
    return buf;
}

/* Until the NIC's status line has `want` (present) or no longer has it (!present). */
static bool wait_nic_status(struct drv *v, const char *want, bool present)
{
    for (int i = 0; i < 5000; i++) {
        if ((strstr(nic_status(v), want) != NULL) == present)
            return true;
        usleep(1000);
    }
    return false;
}

/* The default: the host peer hands its TAP to the guest's NIC, which then moves the frames
 * itself (the host peer counts none of them); a new guest gets it handed again. */
START_TEST(tap_is_handed_to_the_nic)
{
    if (skipped)
        return;
    np_start(NULL);
    ck_assert(wait_link(&G, true));
    ck_assert(wait_carrier("vp0", true));
    ck_assert_msg(wait_nic_status(&G, " via-tap vp0", true), "%s", nic_status(&G));
    drv_start(&G, BASIC_FEATURES | TSO_FEATURES);
    ck_assert_msg(wait_tso("vp0", true), "the NIC never set the TAP's offloads");
    uint64_t rx = drv_post_rx(&G, 16, 2048);
    uint8_t gmac[6];
    mac_of(&G, gmac);
    int s = tap_socket("vp0", false, true);
    static uint8_t f[2048], got[2048];
    for (int round = 0; round < 2; round++) {
        size_t len = udp_frame(f, tap_mac, gmac, 1000 + (size_t)round);
        struct net_hdr h = {0};
        drv_send(&G, &h, f, len);
        ck_assert_int_eq(tap_recv(s, got, sizeof(got)), (ssize_t)len);
        ck_assert(memcmp(got, f, len) == 0);
        len = udp_frame(f, gmac, tap_mac, 700 + (size_t)round);
        tap_send(s, f, len);
        uint64_t at;
        ck_assert_uint_eq(guest_recv(&G, rx, 2048, &at), NET_HDR_LEN + len);
        ck_assert(memcmp(gpa(&G, at) + NET_HDR_LEN, f, len) == 0);
        const char *st = np_status();
        ck_assert_msg(strstr(st, " link up to-tap 0 frames 0 bytes to-guest 0 frames 0 bytes ") &&
                          strstr(st, " tap handed-over"),
                      "%s", st);
        ck_assert_msg(strstr(nic_status(&G), round ? " rx 1 frames 743 bytes tx 1 frames 1043 "
                                                   : " rx 1 frames 742 bytes tx 1 frames 1042 "),
                      "%s", nic_status(&G));
        if (round)
            break;
        /* the guest's VM goes: the TAP comes back to the host peer; a new VM (its counters
         * from 0) gets it again */
        machine_down(&G);
        ck_assert(wait_carrier("vp0", false));
        ck_assert_msg(strstr(np_status(), " link down ") && strstr(np_status(), " tap here"), "%s",
                      np_status());
        machine_up(&G, "sysg", "eth0", "vp0", "mac 52:54:00:00:00:01");
        ck_assert(wait_link(&G, true));
        ck_assert_msg(wait_nic_status(&G, " via-tap vp0", true), "%s", nic_status(&G));
        drv_start(&G, BASIC_FEATURES);
        rx = drv_post_rx(&G, 16, 2048);
        mac_of(&G, gmac);
    }
    close(s);
    /* the host peer still owns the interface: a clean stop removes it */
    free(np_stop(SIGTERM));
    ck_assert(wait_ifindex("vp0", false));
    ck_assert(wait_link(&G, false));
    ck_assert_msg(wait_nic_status(&G, "via-tap", false), "%s", nic_status(&G));
}
END_TEST

/* Several peers in one process: vp0 and vp1, each joined to its own guest. */
START_TEST(two_peers_in_one_process)
{
    if (skipped)
        return;
    static struct drv H;
    machine_up(&H, "sysh", "eth0", "host/vp1", "mac 52:54:00:00:00:02");
    char a[512], b[512];
    snprintf(a, sizeof(a), "peer=%s/sysg/eth0,bind=%s/vp0,mac=52:54:00:00:00:aa,handoff=off",
             rundir, rundir);
    /* (the second endpoint's folder does not exist yet: net-peer makes it) */
    snprintf(b, sizeof(b), "peer=%s/sysh/eth0,bind=%s/host/vp1,handoff=off", rundir, rundir);
    np_exec(a, b);
    ck_assert(wait_link(&G, true));
    ck_assert(wait_link(&H, true));
    ck_assert(wait_carrier("vp0", true));
    ck_assert(wait_carrier("vp1", true));
    drv_start(&G, BASIC_FEATURES);
    drv_start(&H, BASIC_FEATURES);
    int s0 = tap_socket("vp0", false, true), s1 = tap_socket("vp1", false, true);
    static uint8_t f[2048], got[2048];
    struct drv *g[2] = {&G, &H};
    int sk[2] = {s0, s1};
    for (int i = 0; i < 2; i++) {
        uint8_t gmac[6];
        mac_of(g[i], gmac);
        size_t len = udp_frame(f, tap_mac, gmac, 100 + (size_t)i);
        struct net_hdr h = {0};
        drv_send(g[i], &h, f, len);
        ck_assert_int_eq(tap_recv(sk[i], got, sizeof(got)), (ssize_t)len);
        ck_assert(memcmp(got, f, len) == 0);
    }
    close(s0);
    close(s1);
    char *st = np_stop(SIGTERM);
    char *second = strstr(st, "\nvp1 peer ");
    ck_assert_msg(strstr(st, "vp0 peer ") == st && second, "%s", st);
    ck_assert_msg(strstr(st, "to-tap 1 frames 142 bytes") < second, "%s", st);
    ck_assert_msg(strstr(second, "to-tap 1 frames 143 bytes"), "%s", st);
    free(st);
    machine_down(&H);
}
END_TEST

/* Runs vdevkit net-peer ARGS (as `uid` if not -1; -2: root without CAP_NET_ADMIN) and
 * returns its stderr and status. */
static char *run_np(const char *args, uid_t uid, int *status)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        /* root without CAP_NET_ADMIN: out of the bounding set, it is not regained at exec */
        if (uid == (uid_t)-2 && prctl(PR_CAPBSET_DROP, 12 /* CAP_NET_ADMIN */, 0, 0, 0))
            _exit(126);
        if (uid != (uid_t)-1 && uid != (uid_t)-2 && (setgid(uid) || setuid(uid)))
            _exit(126);
        char cmd[1024];
        snprintf(cmd, sizeof(cmd), "exec %s net-peer %s", VDEVKIT_EXE, args);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    static char buf[4096];
    size_t n = 0;
    ssize_t r;
    while (n + 1 < sizeof(buf) && (r = read(p[0], buf + n, sizeof(buf) - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    close(p[0]);
    waitpid(pid, status, 0);
    return buf;
}

static void expect_error(const char *args, const char *want, int code)
{
    int st;
    char *msg = run_np(args, (uid_t)-1, &st);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == code, "%s: status %d", args, st);
    ck_assert_msg(strstr(msg, want), "%s: got '%s', want '%s'", args, msg, want);
}

START_TEST(option_errors)
{
    expect_error("", "vdevkit net-peer: missing peer=PATH,bind=PATH", 2);
    expect_error("bogus=1",
                 "vdevkit net-peer: in 'bogus=1': unknown option 'bogus' (hint: peer=PATH", 2);
    expect_error("-x peer=/x,bind=/y",
                 "vdevkit net-peer: unknown option '-x' (try 'vdevkit help "
                 "net-peer')\n",
                 2);
    expect_error("peer=/x", "missing bind=PATH (hint:", 2);
    expect_error("bind=/x", "missing peer=PATH (hint:", 2);
    expect_error("peer=/x,bind=/y,mac=zz",
                 "mac=zz: expected a MAC address like 52:54:00:12:34:56 (hint:", 2);
    expect_error("peer=/x,bind=/y,mac=01:00:00:00:00:01",
                 "mac=01:00:00:00:00:01: multicast MAC (hint:", 2);
    expect_error("peer=/x,bind=/y,mac=00:00:00:00:00:00",
                 "mac=00:00:00:00:00:00: all-zero MAC (hint:", 2);
    expect_error("peer=/x,bind=/y,name=waytoolongprefix", "name=waytoolongprefix is not", 2);
    expect_error("peer=/x,bind=/y,offload=maybe", "offload=maybe: expected 'on' or 'off'", 2);
    expect_error("peer=/x,bind=/y,junk", "'junk' is not KEY=VALUE", 2);
    expect_error("-p", "-p needs a peer's options", 2);
    expect_error("peer=/x,bind=/y,tap=a/b", "tap=a/b is not an interface name", 2);
    expect_error("peer=/x,bind=/y,tap=t0,name=vp", "tap= and name= exclude each other", 2);
}
END_TEST

START_TEST(clear_errors_without_privileges)
{
    if (skipped)
        return;
    int st;
    char args[256];
    snprintf(args, sizeof(args), "peer=%s/g,bind=%s/h", rundir, rundir);
    char *msg = run_np(args, 65534, &st);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d: %s", st, msg);
    ck_assert_msg(strstr(msg, "vdevkit net-peer: ") == msg &&
                      strstr(msg, "(hint: run as root or give vdevkit CAP_NET_ADMIN)"),
                  "%s", msg);
    msg = run_np(args, (uid_t)-2, &st);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d: %s", st, msg);
    ck_assert_msg(strstr(msg, "net-peer: creating tap 'vp0': Operation not permitted (hint: run "
                              "as root or give vdevkit CAP_NET_ADMIN)"),
                  "%s", msg);
    snprintf(args, sizeof(args), "peer=%s/g,bind=%s/h,netns=no-such-ns-%d", rundir, rundir,
             (int)getpid());
    msg = run_np(args, (uid_t)-1, &st);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d: %s", st, msg);
    ck_assert_msg(strstr(msg, "No such file or directory (hint: create it with 'ip netns add"),
                  "%s", msg);
    ck_assert_uint_eq(if_nametoindex("vp0"), 0);
}
END_TEST

static Suite *net_peer_suite(void)
{
    Suite *s = suite_create("net_peer");
    TCase *tc = tcase_create("host peer");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, frames_cross_both_ways);
    tcase_add_test(tc, tap_is_handed_to_the_nic);
    tcase_add_test(tc, tso_crosses_with_its_header);
    tcase_add_test(tc, guest_without_tso_gets_segments);
    tcase_add_test(tc, carrier_follows_the_guest_and_restarts);
    tcase_add_test(tc, existing_tap_outlives_the_host_peer);
    tcase_add_test(tc, netns_option_places_the_interface);
    tcase_add_test(tc, clear_errors_without_privileges);
    tcase_add_test(tc, hostile_guest_records_are_counted);
    tcase_add_test(tc, full_guest_ring_holds_the_tap);
    tcase_add_test(tc, two_peers_in_one_process);
    tcase_add_test(tc, offload_off_gives_plain_frames);
    tcase_add_test(tc, throughput_guest_to_tap);
    suite_add_tcase(s, tc);
    TCase *te = tcase_create("options");
    tcase_add_test(te, option_errors);
    suite_add_tcase(s, te);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(net_peer_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
