/* The direct tap (`vdev virtio-net tap NAME`, net_be_tap.c) against a synthetic driver
 * (net_fixture.h): each test runs in a network namespace of its own, makes the TAP
 * interface the way `ip tuntap add` does (TUNSETIFF + TUNSETPERSIST), attaches a NIC of
 * this process to it and talks to it through a packet socket. Frames cross byte for byte
 * both ways, TSO frames cross whole in both directions, the TAP's offloads follow the
 * guest (the kernel segments for a guest without TSO, and a GSO frame read across a
 * feature change is segmented here), a guest without receive buffers stops the reading
 * without spinning and gets the queued frames later, capture records both directions, and
 * a missing interface, a missing permission or `tap` with `peer` give clear errors. Needs
 * root (CAP_NET_ADMIN, to make namespaces and interfaces) and /dev/net/tun. */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "net_capture.h"
#include "netpeer/net_mac.h"
#include "netpeer/net_offload.h"

/* linux/if_tun.h would clash with net_hdr.h's Ethernet constants: what we use of it */
#define TUNSETIFF     _IOW('T', 202, int)
#define TUNSETPERSIST _IOW('T', 203, int)
#define TUNSETOWNER   _IOW('T', 204, int)
#define TUNGETIFF     _IOR('T', 210, unsigned int)
#define TUNSETOFFLOAD _IOW('T', 208, unsigned int)
#define IFF_TAP_      0x0002
#define IFF_NO_PI_    0x1000
#define TUN_F_CSUM    0x01
#define TUN_F_TSO4    0x02

#include "net_fixture.h"
#include "tap_fixture.h"

#define BASIC_FEATURES                                                                             \
    (NET_BIT(VIRTIO_NET_F_MAC) | NET_BIT(VIRTIO_NET_F_STATUS) | NET_BIT(VIRTIO_NET_F_MTU))
#define TSO_FEATURES                                                                               \
    (NET_BIT(VIRTIO_NET_F_CSUM) | NET_BIT(VIRTIO_NET_F_HOST_TSO4) |                                \
     NET_BIT(VIRTIO_NET_F_GUEST_CSUM) | NET_BIT(VIRTIO_NET_F_GUEST_TSO4) |                         \
     NET_BIT(VIRTIO_NET_F_MRG_RXBUF))

static const uint8_t host_mac[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0xaa};
static struct drv G;
static char capdir[64];

static void set_up(const char *name)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    ck_assert_int_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
    ifr.ifr_flags |= IFF_UP;
    ck_assert_int_eq(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
    close(s);
}

/* `ip tuntap add NAME mode tap [user UID]`, then `ip link set NAME up`. */
static void tap_make(const char *name, int owner)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP_ | IFF_NO_PI_;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    ck_assert_int_eq(ioctl(fd, TUNSETIFF, &ifr), 0);
    if (owner >= 0)
        ck_assert_int_eq(ioctl(fd, TUNSETOWNER, (unsigned long)owner), 0);
    ck_assert_int_eq(ioctl(fd, TUNSETPERSIST, 1UL), 0);
    close(fd);
    set_up(name);
}

static void setup(void)
{
    ck_assert_msg(geteuid() == 0 && access("/dev/net/tun", R_OK | W_OK) == 0,
                  "test_net_tap needs root and /dev/net/tun");
    ck_assert_int_eq(unshare(CLONE_NEWNET), 0);
    /* IPv6 off: the kernel then sends nothing of its own through the TAP */
    write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
    write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
    use_fake_transport();
    memset(&G, 0, sizeof(G));
    snprintf(capdir, sizeof(capdir), "/tmp/test_net_tap_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(capdir));
}

static void teardown(void)
{
    if (G.fe.m)
        machine_down(&G);
    close_transports();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", capdir);
    ck_assert_int_eq(system(cmd), 0);
}

static int tap_build(struct drv *v, const char *opts, struct vdev_err *err)
{
    char cfg[512];
    snprintf(cfg, sizeof(cfg),
             "system sysg ram 8M vdev virtio-net loc 0xd0000000 intr ioapic:5 mac "
             "52:54:00:00:00:01 %s",
             opts);
    memset(&v->fe, 0, sizeof(v->fe));
    fake_machine_new(&v->fe);
    int r = fake_machine_build_string(&v->fe, cfg, err);
    if (r) {
        fake_machine_free(&v->fe);
        v->fe.m = NULL;
    }
    return r;
}

static void tap_machine_up(struct drv *v, const char *opts)
{
    struct vdev_err err = {0};
    if (tap_build(v, opts, &err))
        ck_abort_msg("%s", err.msg);
    drv_adopt(v, 8);
}

static const char *status_of(struct drv *v)
{
    static char buf[2048];
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    vdev_module_virtio_net.status(v->d, f);
    fclose(f);
    return buf;
}

/* The NIC's TAP fd, found as this process's /dev/net/tun fd attached to `name`. */
static int nic_tap_fd(const char *name)
{
    DIR *dir = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(dir);
    struct dirent *de;
    int found = -1;
    while ((de = readdir(dir)) && found < 0) {
        char path[300], link[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
        ssize_t l = readlink(path, link, sizeof(link) - 1);
        if (l <= 0)
            continue;
        link[l] = '\0';
        if (strcmp(link, "/dev/net/tun"))
            continue;
        struct ifreq ifr;
        memset(&ifr, 0, sizeof(ifr));
        int fd = atoi(de->d_name);
        if (ioctl(fd, TUNGETIFF, &ifr) == 0 && !strcmp(ifr.ifr_name, name))
            found = fd;
    }
    closedir(dir);
    ck_assert_int_ge(found, 0);
    return found;
}

/* ---- frames ---- */

START_TEST(frames_cross_both_ways)
{
    tap_make("vt0", -1);
    ck_assert(wait_carrier("vt0", false));
    tap_machine_up(&G, "tap vt0");
    ck_assert(atomic_load(&G.n->link_up));
    ck_assert(wait_carrier("vt0", true));
    drv_start(&G, BASIC_FEATURES);
    ck_assert(cfg_status(&G) & VIRTIO_NET_S_LINK_UP);
    uint64_t rx = drv_post_rx(&G, 16, 2048);
    uint8_t gmac[6];
    mac_of(&G, gmac);
    int s = tap_socket("vt0", false, true);

    static uint8_t f[2048], got[2048];
    for (unsigned i = 0; i < 3; i++) {
        size_t len = udp_frame(f, host_mac, gmac, 1000 + i);
        struct net_hdr h = {0};
        drv_send(&G, &h, f, len);
        ck_assert_int_eq(tap_recv(s, got, sizeof(got)), (ssize_t)len);
        ck_assert(memcmp(got, f, len) == 0);
    }
    for (unsigned i = 0; i < 3; i++) {
        size_t len = udp_frame(f, gmac, host_mac, 700 + i);
        tap_send(s, f, len);
        uint64_t at;
        ck_assert_uint_eq(guest_recv(&G, rx, 2048, &at), NET_HDR_LEN + len);
        ck_assert(memcmp(gpa(&G, at) + NET_HDR_LEN, f, len) == 0);
    }
    close(s);
    const char *st = status_of(&G);
    ck_assert_msg(strstr(st, " mac 52:54:00:00:00:01 link up tap vt0 rx 3 frames 2229 bytes tx 3 "
                             "frames 3129 bytes drops link-down 0"),
                  "%s", st);
    ck_assert_msg(strstr(st, " tap-errors 0"), "%s", st);
    /* the interface stays when the VM goes (it was not ours), its carrier goes off */
    machine_down(&G);
    ck_assert_uint_ne(if_nametoindex("vt0"), 0);
    ck_assert(wait_carrier("vt0", false));
}
END_TEST

START_TEST(tso_crosses_whole_both_ways)
{
    tap_make("vt0", -1);
    tap_machine_up(&G, "tap vt0");
    ck_assert(!tap_tso_on("vt0")); /* nothing before the guest's driver says so */
    drv_start(&G, BASIC_FEATURES | TSO_FEATURES);
    ck_assert_msg(wait_tso("vt0", true), "TSO never enabled on the tap");
    uint64_t rx = drv_post_rx(&G, 32, 4096);
    uint8_t gmac[6];
    mac_of(&G, gmac);
    int s = tap_socket("vt0", true, true);

    tso_frame_reaches_tap(&G, s, host_mac, gmac);
    static uint8_t f[NET_MAX_FRAME], got[NET_MAX_FRAME];
    size_t len;

    /* tap -> guest: a 30000-byte TSO frame reaches the guest in one piece */
    len = tcp_frame(f, gmac, host_mac, 30000);
    tso_vnet_hdr(got, 1400);
    memcpy(got + 10, f, len);
    tap_send(s, got, 10 + len);
    uint64_t at;
    ck_assert_uint_eq(guest_recv(&G, rx, 4096, &at), NET_HDR_LEN + len);
    struct net_hdr gh;
    net_hdr_load(&gh, gpa(&G, at));
    ck_assert_uint_eq(gh.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
    ck_assert_uint_eq(gh.gso_size, 1400);
    close(s);
    const char *st = status_of(&G);
    ck_assert_msg(strstr(st, "sw-gso 0 frames 0 segments sw-csum 0"), "%s", st);
    ck_assert_msg(strstr(st, " rx 1 frames ") && strstr(st, " tx 1 frames "), "%s", st);
}
END_TEST

/* The TAP's offloads follow the driver, again after a reset: without TSO the kernel
 * segments for the guest. */
START_TEST(guest_without_tso_gets_kernel_segments)
{
    tap_make("vt0", -1);
    tap_machine_up(&G, "tap vt0");
    drv_start(&G, BASIC_FEATURES | TSO_FEATURES);
    ck_assert(wait_tso("vt0", true));
    vdev_virtio_set_status(G.vio, 0);
    ck_assert(wait_tso("vt0", false)); /* no driver, no offloads */
    drv_start(&G, BASIC_FEATURES);
    ck_assert(!tap_tso_on("vt0"));
    uint64_t rx = drv_post_rx(&G, 64, 2048);
    uint8_t gmac[6];
    mac_of(&G, gmac);
    int s = tap_socket("vt0", true, false);
    static uint8_t f[NET_MAX_FRAME], out[NET_MAX_FRAME];
    size_t len = tcp_frame(f, gmac, host_mac, 4000);
    tso_vnet_hdr(out, 1000);
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
    ck_assert_uint_eq(net_read(&G.n->st.sw_gso_frames), 0); /* the kernel did it */
}
END_TEST

/* A GSO frame read across a feature change (here: the TAP still allows TSO while the guest
 * did not negotiate it) is segmented in software, with complete checksums. */
START_TEST(gso_across_a_feature_change_is_segmented_here)
{
    tap_make("vt0", -1);
    tap_machine_up(&G, "tap vt0");
    drv_start(&G, BASIC_FEATURES);
    uint8_t gmac[6];
    mac_of(&G, gmac);
    static uint8_t f[NET_MAX_FRAME], out[NET_MAX_FRAME], joined[NET_MAX_FRAME];
    /* a frame sent makes sure the data thread has set the offloads for this driver */
    struct net_hdr h0 = {0};
    drv_send(&G, &h0, f, udp_frame(f, host_mac, gmac, 10));
    int fd = nic_tap_fd("vt0");
    ck_assert_int_eq(ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4)), 0);
    ck_assert(wait_tso("vt0", true));
    uint64_t rx = drv_post_rx(&G, 64, 2048);
    int s = tap_socket("vt0", true, true);
    size_t payload = 10000, mss = 1400, nseg = (payload + mss - 1) / mss;
    size_t len = tcp_frame(f, gmac, host_mac, payload);
    /* the packet socket wants the pseudo-header sum in the checksum field */
    uint8_t ph[12];
    memcpy(ph, f + 26, 8);
    ph[8] = 0;
    ph[9] = 6;
    net_put_be16(ph + 10, (uint16_t)(len - 34));
    net_put_be16(f + 50, (uint16_t)~net_csum_fold(net_csum_add(0, ph, 12)));
    tso_vnet_hdr(out, (uint16_t)mss);
    memcpy(out + 10, f, len);
    tap_send(s, out, 10 + len);
    size_t got = 0;
    for (size_t i = 0; i < nseg; i++) {
        uint64_t at;
        size_t sl = guest_recv(&G, rx, 2048, &at) - NET_HDR_LEN;
        struct net_hdr gh;
        net_hdr_load(&gh, gpa(&G, at));
        ck_assert_uint_eq(gh.gso_type, 0);
        ck_assert_uint_eq(gh.flags, 0);
        const uint8_t *seg = gpa(&G, at) + NET_HDR_LEN;
        ck_assert_uint_eq(sl, 54 + (i + 1 < nseg ? mss : payload - mss * (nseg - 1)));
        ck_assert_uint_eq(net_be16(seg + 16), sl - 14); /* IPv4 total length */
        ck_assert_uint_eq(net_csum_fold(net_csum_add(0, seg + 14, 20)), 0);
        /* TCP checksum over the pseudo-header and the segment: valid */
        memcpy(ph, seg + 26, 8);
        net_put_be16(ph + 10, (uint16_t)(sl - 34));
        uint64_t sum = net_csum_add(net_csum_add(0, ph, 12), seg + 34, sl - 34);
        ck_assert_uint_eq(net_csum_fold(sum), 0);
        memcpy(joined + got, seg + 54, sl - 54);
        got += sl - 54;
    }
    ck_assert_uint_eq(got, payload);
    ck_assert(memcmp(joined, f + 54, payload) == 0);
    close(s);
    ck_assert_uint_eq(net_read(&G.n->st.sw_gso_frames), 1);
    ck_assert_uint_eq(net_read(&G.n->st.sw_gso_segments), nseg);
}
END_TEST

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* No receive buffers: the NIC stops reading the TAP (and does not spin), transmit goes on,
 * and the frames the kernel kept arrive once buffers come. */
START_TEST(guest_without_buffers_does_not_wedge)
{
    tap_make("vt0", -1);
    tap_machine_up(&G, "tap vt0");
    drv_start(&G, BASIC_FEATURES);
    uint8_t gmac[6];
    mac_of(&G, gmac);
    int s = tap_socket("vt0", false, true);
    static uint8_t f[2048], got[2048];
    for (unsigned i = 0; i < 20; i++) {
        size_t len = udp_frame(f, gmac, host_mac, 100 + i);
        tap_send(s, f, len);
    }
    usleep(50000);
    double c0 = cpu_seconds();
    usleep(300000);
    double used = cpu_seconds() - c0;
    ck_assert_msg(used < 0.1, "%.3f s of CPU in 0.3 s while waiting for buffers", used);
    ck_assert_uint_eq(net_read(&G.n->st.rx_frames), 0);

    size_t len = udp_frame(f, host_mac, gmac, 500);
    struct net_hdr h = {0};
    drv_send(&G, &h, f, len);
    ck_assert_int_eq(tap_recv(s, got, sizeof(got)), (ssize_t)len);

    uint64_t rx = drv_post_rx(&G, 32, 2048);
    for (unsigned i = 0; i < 20; i++) {
        uint64_t at;
        ck_assert_uint_eq(guest_recv(&G, rx, 2048, &at), NET_HDR_LEN + 14 + 28 + 100 + i);
    }
    ck_assert_uint_eq(net_read(&G.n->st.rx_frames), 20);
    close(s);
}
END_TEST

/* `ip link del`: the guest's link goes down; the interface made again: it comes back. */
START_TEST(deleted_interface_link_down_and_back)
{
    if (system("ip -V >/dev/null 2>&1") != 0) {
        fprintf(stderr, "test_net_tap: no 'ip' command: deleted_interface skipped\n");
        return;
    }
    tap_make("vt0", -1);
    tap_machine_up(&G, "tap vt0");
    drv_start(&G, BASIC_FEATURES);
    uint8_t gmac[6];
    mac_of(&G, gmac);
    unsigned cfg0 = atomic_load(&G.ft->notify_config);
    ck_assert_int_eq(system("ip link del vt0"), 0);
    ck_assert(wait_link(&G, false));
    ck_assert(!(cfg_status(&G) & VIRTIO_NET_S_LINK_UP));
    ck_assert_uint_gt(atomic_load(&G.ft->notify_config), cfg0);
    ck_assert_uint_eq(if_nametoindex("vt0"), 0); /* not made again by the NIC */
    static uint8_t f[2048], got[2048];
    size_t len = udp_frame(f, host_mac, gmac, 100);
    struct net_hdr h = {0};
    drv_send(&G, &h, f, len);
    ck_assert_uint_eq(net_read(&G.n->st.drop_link_down), 1);
    ck_assert_msg(strstr(status_of(&G), " link down tap vt0 "), "%s", status_of(&G));

    tap_make("vt0", -1);
    ck_assert(wait_link(&G, true));
    ck_assert(cfg_status(&G) & VIRTIO_NET_S_LINK_UP);
    int s = tap_socket("vt0", false, true);
    drv_send(&G, &h, f, len);
    ck_assert_int_eq(tap_recv(s, got, sizeof(got)), (ssize_t)len);
    ck_assert(memcmp(got, f, len) == 0);
    uint64_t rx = drv_post_rx(&G, 4, 2048);
    len = udp_frame(f, gmac, host_mac, 200);
    tap_send(s, f, len);
    uint64_t at;
    ck_assert_uint_eq(guest_recv(&G, rx, 2048, &at), NET_HDR_LEN + len);
    close(s);
}
END_TEST

/* A driver that broke a rule: the NIC leaves the TAP alone until the device starts again. */
START_TEST(broken_driver_does_not_spin)
{
    tap_make("vt0", -1);
    tap_machine_up(&G, "tap vt0");
    drv_start(&G, BASIC_FEATURES);
    uint8_t gmac[6];
    mac_of(&G, gmac);
    struct dbuf b = {alloc_buf(&G, 4), 4, 0}; /* shorter than the virtio-net header */
    drv_add(&G, NET_Q_TX, &b, 1);
    for (int i = 0; i < 5000 && !net_read(&G.n->st.errors); i++)
        usleep(1000);
    ck_assert_uint_eq(net_read(&G.n->st.errors), 1);
    int s = tap_socket("vt0", false, true);
    static uint8_t f[2048];
    tap_send(s, f, udp_frame(f, gmac, host_mac, 100));
    usleep(50000);
    double c0 = cpu_seconds();
    usleep(300000);
    double used = cpu_seconds() - c0;
    ck_assert_msg(used < 0.1, "%.3f s of CPU in 0.3 s with a broken driver", used);
    /* a new start of the driver gets frames again */
    vdev_virtio_set_status(G.vio, 0);
    drv_start(&G, BASIC_FEATURES);
    uint64_t rx = drv_post_rx(&G, 8, 2048);
    size_t len = udp_frame(f, gmac, host_mac, 300);
    tap_send(s, f, len);
    uint64_t at;
    size_t got = guest_recv(&G, rx, 2048, &at);
    if (got != NET_HDR_LEN + len) /* the frame of the broken run, if the kernel kept it */
        got = guest_recv(&G, rx, 2048, &at);
    ck_assert_uint_eq(got, NET_HDR_LEN + len);
    ck_assert(memcmp(gpa(&G, at) + NET_HDR_LEN, f, len) == 0);
    close(s);
}
END_TEST

static size_t read_whole(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

START_TEST(capture_records_both_directions)
{
    tap_make("vt0", -1);
    char opts[160], path[128];
    snprintf(path, sizeof(path), "%s/vt0.pcap", capdir);
    snprintf(opts, sizeof(opts), "tap vt0 capture %s", path);
    tap_machine_up(&G, opts);
    drv_start(&G, BASIC_FEATURES);
    uint64_t rx = drv_post_rx(&G, 4, 2048);
    uint8_t gmac[6];
    mac_of(&G, gmac);
    int s = tap_socket("vt0", false, true);
    static uint8_t out[2048], in[2048], got[2048], file[8192];
    size_t olen = udp_frame(out, host_mac, gmac, 300);
    struct net_hdr h = {0};
    drv_send(&G, &h, out, olen);
    ck_assert_int_eq(tap_recv(s, got, sizeof(got)), (ssize_t)olen);
    size_t ilen = udp_frame(in, gmac, host_mac, 200);
    tap_send(s, in, ilen);
    uint64_t at;
    guest_recv(&G, rx, 2048, &at);
    close(s);
    machine_down(&G); /* closes the capture */
    size_t n = read_whole(path, file, sizeof(file));
    ck_assert_uint_eq(n, PCAP_GLOBAL_HDR_LEN + 2 * PCAP_RECORD_HDR_LEN + olen + ilen);
    const uint8_t *r1 = file + PCAP_GLOBAL_HDR_LEN;
    ck_assert(memcmp(r1 + PCAP_RECORD_HDR_LEN, out, olen) == 0);
    const uint8_t *r2 = r1 + PCAP_RECORD_HDR_LEN + olen;
    ck_assert(memcmp(r2 + PCAP_RECORD_HDR_LEN, in, ilen) == 0);
}
END_TEST

/* ---- errors and permissions ---- */

START_TEST(missing_interface_is_an_error_not_created)
{
    struct vdev_err err = {0};
    ck_assert_int_ne(tap_build(&G, "tap nosuch0", &err), 0);
    ck_assert_msg(strstr(err.msg, "test.conf:1:") &&
                      strstr(err.msg, "vdev virtio-net: tap nosuch0: no interface 'nosuch0' "
                                      "(hint: create it first: ip tuntap add nosuch0 mode tap"),
                  "%s", err.msg);
    ck_assert_uint_eq(if_nametoindex("nosuch0"), 0);
    /* something that is not a TAP */
    ck_assert_int_ne(tap_build(&G, "tap lo", &err), 0);
    ck_assert_msg(strstr(err.msg, "tap lo: cannot attach to 'lo': Invalid argument (hint: "), "%s",
                  err.msg);
    /* a dry run opens nothing */
    ck_assert_msg(tap_build(&G, "tap nosuch0 dryrun", &err) == 0, "%s", err.msg);
    machine_down(&G);
}
END_TEST

/* CAP_NET_ADMIN in or out of the effective set (uid 0 stays: /dev/net/tun is often 0600). */
static void net_admin(bool on)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[2];
    ck_assert_int_eq(syscall(SYS_capget, &hdr, data), 0);
    if (on)
        data[0].effective |= 1u << CAP_NET_ADMIN;
    else
        data[0].effective &= ~(1u << CAP_NET_ADMIN);
    ck_assert_int_eq(syscall(SYS_capset, &hdr, data), 0);
}

/* An interface another NIC (or process) holds. */
START_TEST(busy_interface_is_refused)
{
    struct vdev_err err = {0};
    /* an interface another NIC (process) holds */
    tap_make("vt0", -1);
    tap_machine_up(&G, "tap vt0");
    struct drv other;
    ck_assert_int_ne(tap_build(&other, "tap vt0", &err), 0);
    ck_assert_msg(strstr(err.msg, "tap vt0: cannot attach to 'vt0': Device or resource busy "
                                  "(hint: another process has it open"),
                  "%s", err.msg);
    machine_down(&G);
}
END_TEST

/* `ip tuntap add NAME mode tap user U`: U attaches without CAP_NET_ADMIN, others may not. */
START_TEST(owner_attaches_others_are_refused)
{
    tap_make("vt0", 0);
    tap_make("vt1", 65534);
    net_admin(false);
    struct vdev_err err = {0}, err0 = {0};
    int refused = tap_build(&G, "tap vt1", &err);
    int ok = tap_build(&G, "tap vt0", &err0);
    net_admin(true);
    ck_assert_int_ne(refused, 0);
    ck_assert_msg(strstr(err.msg, "tap vt1: cannot attach to 'vt1': Operation not permitted "
                                  "(hint: make it with 'ip tuntap add NAME mode tap user USER'"),
                  "%s", err.msg);
    ck_assert_msg(ok == 0, "%s", err0.msg);
    machine_down(&G);
}
END_TEST

static void expect_error(const char *opts, const char *want)
{
    struct drv v;
    struct vdev_err err = {0};
    ck_assert_int_ne(tap_build(&v, opts, &err), 0);
    ck_assert_msg(strstr(err.msg, want), "'%s' not in '%s'", want, err.msg);
}

/* A hostile guest: random virtio-net headers (GSO types, sizes, checksum offsets) on random
 * frames, half of them plain. Every frame is sent, dropped as a bad header or refused by the
 * kernel and counted; the device never fails, and a good frame still crosses afterwards. */
START_TEST(random_guest_headers)
{
    tap_make("vt0", -1);
    tap_machine_up(&G, "tap vt0");
    drv_start(&G, BASIC_FEATURES | TSO_FEATURES | NET_BIT(VIRTIO_NET_F_HOST_TSO6) |
                      NET_BIT(VIRTIO_NET_F_HOST_ECN));
    unsigned seed = 4242;
    static uint8_t f[NET_MAX_FRAME];
    uint64_t ha = alloc_buf(&G, NET_HDR_LEN), fa = alloc_buf(&G, sizeof(f));
    const unsigned frames = 300;
    for (unsigned i = 0; i < frames; i++) {
        size_t len = 14 + (size_t)rand_r(&seed) % (i % 10 ? 1500 : 20000);
        for (size_t k = 0; k < len; k++)
            f[k] = (uint8_t)rand_r(&seed);
        memcpy(f, host_mac, 6);
        f[12] = 0x08, f[13] = 0x00, f[14] = 0x45;
        struct net_hdr h = {.flags = (uint8_t)(rand_r(&seed) % 3),
                            .gso_type = (uint8_t)(rand_r(&seed) % 6),
                            .hdr_len = (uint16_t)rand_r(&seed),
                            .gso_size = (uint16_t)(rand_r(&seed) % 3000),
                            .csum_start = (uint16_t)(rand_r(&seed) % (len + 10)),
                            .csum_offset = (uint16_t)(rand_r(&seed) % 20)};
        if (rand_r(&seed) & 1)
            h.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
        if (i % 2)
            memset(&h, 0, sizeof(h));
        drv_send_at(&G, ha, fa, &h, f, len);
    }
    const struct net_stats *st = &G.n->st;
    ck_assert_uint_eq(net_read(&st->tx_frames) + net_read(&st->drop_bad_header) +
                          net_read(&st->tap_errors) + net_read(&st->drop_link_down),
                      frames);
    ck_assert_uint_ge(net_read(&st->tx_frames), frames / 2);
    ck_assert_uint_gt(net_read(&st->drop_bad_header) + net_read(&st->tap_errors), 50);
    ck_assert_uint_eq(net_read(&st->errors), 0);
    ck_assert(!(vdev_virtio_get_status(G.vio) & VIRTIO_STATUS_NEEDS_RESET));
    udp_frame_reaches_tap(&G, "vt0", host_mac, 500); /* still a working NIC */
}
END_TEST

START_TEST(option_errors)
{
    /* the position is the `tap` option's */
    expect_error("name a peer /tmp/x tap vt0",
                 "test.conf:1:110: vdev virtio-net: option 'tap' cannot be combined with 'peer' "
                 "(hint: keep one: ");
    expect_error("tap vt0 peer /tmp/x name a", "option 'tap' cannot be combined with 'peer'");
    expect_error("tap a/b", "tap 'a/b': not an interface name (hint: ");
    expect_error("tap abcdefghijklmnop", "not an interface name");
}
END_TEST

/* ---- figures (VDEVKIT_NET_TAP_BENCH=FRAMES) ---- */

START_TEST(throughput)
{
    const char *env = getenv("VDEVKIT_NET_TAP_BENCH");
    if (!env)
        return;
    unsigned frames = (unsigned)strtoul(env, NULL, 0);
    tap_make("vt0", -1);
    tap_machine_up(&G, "tap vt0");
    drv_start(&G, BASIC_FEATURES);
    uint8_t gmac[6];
    mac_of(&G, gmac);
    /* guest -> tap: batches of 64 chains of one 1514-byte frame (the kernel drops them:
     * nobody listens) */
    static uint8_t f[2048];
    size_t len = udp_frame(f, host_mac, gmac, 1472);
    uint64_t ha = alloc_buf(&G, NET_HDR_LEN), fa = alloc_buf(&G, len);
    struct net_hdr h = {0};
    net_hdr_store(&h, gpa(&G, ha));
    memcpy(gpa(&G, fa), f, len);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct drvq *dq = &G.q[NET_Q_TX];
    for (unsigned done = 0; done < frames; done += 64) {
        struct dbuf b[2] = {{ha, NET_HDR_LEN, 0}, {fa, (uint32_t)len, 0}};
        for (unsigned i = 0; i < 64; i++)
            drv_add(&G, NET_Q_TX, b, 2);
        /* spin (drv_used sleeps a millisecond at a time) */
        uint16_t want = (uint16_t)(dq->used_seen + 64);
        while (__atomic_load_n((uint16_t *)gpa(&G, dq->used + 2), __ATOMIC_ACQUIRE) != want)
            sched_yield();
        dq->used_seen = want;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr, "test_net_tap: guest -> tap, %zu-byte frames: %.0f frames/s, %.2f Gbit/s\n",
            len, frames / s, frames * (double)len * 8 / s / 1e9);
    ck_assert_uint_eq(net_read(&G.n->st.tap_errors), 0);

    /* tap -> guest: rounds of 128 frames sent through a packet socket (one send each) into
     * 128 posted buffers, timed until the guest has them all */
    int sock = tap_socket("vt0", false, true);
    len = udp_frame(f, gmac, host_mac, 1472);
    uint64_t rxa = alloc_buf(&G, 128u * 2048u);
    struct drvq *rq = &G.q[NET_Q_RX];
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned done = 0; done < frames; done += 128) {
        for (unsigned i = 0; i < 128; i++) {
            struct dbuf b = {rxa + i * 2048u, 2048, F_WRITE};
            drv_add(&G, NET_Q_RX, &b, 1);
        }
        for (unsigned i = 0; i < 128; i++)
            tap_send(sock, f, len);
        uint16_t want = (uint16_t)(rq->used_seen + 128);
        while (__atomic_load_n((uint16_t *)gpa(&G, rq->used + 2), __ATOMIC_ACQUIRE) != want)
            sched_yield();
        rq->used_seen = want;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr, "test_net_tap: tap -> guest, %zu-byte frames: %.0f frames/s, %.2f Gbit/s\n",
            len, frames / s, frames * (double)len * 8 / s / 1e9);
    close(sock);
}
END_TEST

static Suite *net_tap_suite(void)
{
    Suite *s = suite_create("net_tap");
    TCase *tc = tcase_create("direct tap");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, frames_cross_both_ways);
    tcase_add_test(tc, tso_crosses_whole_both_ways);
    tcase_add_test(tc, guest_without_tso_gets_kernel_segments);
    tcase_add_test(tc, gso_across_a_feature_change_is_segmented_here);
    tcase_add_test(tc, guest_without_buffers_does_not_wedge);
    tcase_add_test(tc, broken_driver_does_not_spin);
    tcase_add_test(tc, deleted_interface_link_down_and_back);
    tcase_add_test(tc, capture_records_both_directions);
    tcase_add_test(tc, missing_interface_is_an_error_not_created);
    tcase_add_test(tc, busy_interface_is_refused);
    tcase_add_test(tc, owner_attaches_others_are_refused);
    tcase_add_test(tc, random_guest_headers);
    tcase_add_test(tc, option_errors);
    tcase_add_test(tc, throughput);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(net_tap_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
