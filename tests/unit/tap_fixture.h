/* Helpers for tests that put a NIC's frames on a host TAP (test_net_peer: the host peer's
 * TAP; test_net_tap: the NIC's direct tap): interface state, a packet socket on the TAP,
 * the synthetic guest's received frames, a TCP frame. Include after net_fixture.h. */
#ifndef VDEVKIT_TEST_TAP_FIXTURE_H
#define VDEVKIT_TEST_TAP_FIXTURE_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "net_fixture.h"

static NET_FIXTURE_UNUSED void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t r = write(fd, text, strlen(text));
        (void)r;
        close(fd);
    }
}

static NET_FIXTURE_UNUSED short if_flags(const char *name)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    int r = ioctl(s, SIOCGIFFLAGS, &ifr);
    close(s);
    return r < 0 ? -1 : ifr.ifr_flags;
}

/* IFF_RUNNING: the carrier as the stack sees it (it follows after a short delay). */
static NET_FIXTURE_UNUSED bool wait_carrier(const char *name, bool on)
{
    for (int i = 0; i < 5000; i++) {
        short f = if_flags(name);
        if (f >= 0 && !!(f & IFF_RUNNING) == on)
            return true;
        usleep(1000);
    }
    return false;
}

/* A packet socket on the TAP; with vnet, frames carry a struct virtio_net_hdr (10 bytes). */
static NET_FIXTURE_UNUSED int tap_socket(const char *name, bool vnet, bool bypass)
{
    int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(0x0003 /* ETH_P_ALL */));
    ck_assert_int_ge(s, 0);
    int one = 1;
    if (vnet)
        ck_assert_int_eq(setsockopt(s, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)), 0);
    struct sockaddr_ll a = {.sll_family = AF_PACKET,
                            .sll_protocol = htons(0x0003),
                            .sll_ifindex = (int)if_nametoindex(name)};
    ck_assert_int_ne(a.sll_ifindex, 0);
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    /* Sends skip the qdisc: the kernel reports the carrier (IFF_RUNNING) a moment before it
     * activates the qdisc, which drops until then. (Not for a GSO frame the kernel must
     * segment: the direct path refuses those.) */
    if (bypass)
        ck_assert_int_eq(setsockopt(s, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return s;
}

/* The next frame that came in from the wire side (not one the host sent): its length. */
static NET_FIXTURE_UNUSED ssize_t tap_recv(int s, uint8_t *buf, size_t len)
{
    for (;;) {
        struct sockaddr_ll from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(s, buf, len, 0, (struct sockaddr *)&from, &fl);
        if (n < 0 || from.sll_pkttype != PACKET_OUTGOING)
            return n;
    }
}

static NET_FIXTURE_UNUSED void tap_send(int s, const void *frame, size_t len)
{
    ssize_t r = send(s, frame, len, 0);
    ck_assert_msg(r == (ssize_t)len, "send: %zd %s", r, strerror(errno));
}

/* The guest's next received frame: returns its length (header included), the address of
 * its first buffer in *at. */
static NET_FIXTURE_UNUSED size_t guest_recv(struct drv *v, uint64_t first, uint32_t bufsize,
                                            uint64_t *at)
{
    uint32_t id, ulen;
    ck_assert_msg(drv_used(v, NET_Q_RX, &id, &ulen, 5000), "no frame reached the guest");
    *at = first + (uint64_t)id * ((bufsize + 63) & ~63u);
    struct net_hdr h;
    net_hdr_load(&h, gpa(v, *at));
    size_t total = ulen;
    for (unsigned i = 1; i < h.num_buffers; i++) {
        ck_assert(drv_used(v, NET_Q_RX, &id, &ulen, 5000));
        total += ulen;
    }
    return total;
}

/* A TCP/IPv4 frame of `payload` bytes (content unchecked by anyone on these paths). */
static NET_FIXTURE_UNUSED size_t tcp_frame(uint8_t *f, const uint8_t dst[6], const uint8_t src[6],
                                           size_t payload)
{
    size_t len = udp_frame(f, dst, src, payload + 12); /* 28 + 12 = IPv4 + TCP headers */
    uint8_t *ip = f + 14;
    ip[9] = 6;
    net_put_be16(ip + 10, 0);
    net_put_be16(ip + 10, net_csum_fold(net_csum_add(0, ip, 20)));
    uint8_t *tcp = ip + 20;
    memset(tcp, 0, 20);
    net_put_be16(tcp, 1000);
    net_put_be16(tcp + 2, 2000);
    tcp[12] = 5 << 4;
    tcp[13] = 0x18; /* PSH|ACK */
    net_put_be16(tcp + 14, 65535);
    return len;
}

/* linux/ethtool.h would clash with net_hdr.h's Ethernet constants */
#define ETHTOOL_GTSO 0x0000001e
struct ethtool_value {
    uint32_t cmd, data;
};

static NET_FIXTURE_UNUSED bool tap_tso_on(const char *name)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ethtool_value ev = {.cmd = ETHTOOL_GTSO};
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    ifr.ifr_data = (void *)&ev;
    int r = ioctl(s, SIOCETHTOOL, &ifr);
    close(s);
    return r == 0 && ev.data;
}

/* A TSO frame's 10-byte header as a packet socket takes it. */
static NET_FIXTURE_UNUSED void tso_vnet_hdr(uint8_t out[10], uint16_t mss)
{
    memset(out, 0, 10);
    out[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    out[1] = VIRTIO_NET_HDR_GSO_TCPV4;
    net_put16(out + 2, 54);
    net_put16(out + 4, mss);
    net_put16(out + 6, 34);
    net_put16(out + 8, 16);
}

static NET_FIXTURE_UNUSED bool wait_tso(const char *name, bool on)
{
    for (int i = 0; i < 5000; i++) {
        if (tap_tso_on(name) == on)
            return true;
        usleep(1000);
    }
    return false;
}

/* Guest -> TAP: one 20000-byte TSO frame from the synthetic guest `v` (MAC gmac) to host_mac
 * must reach the TAP's packet socket `s` (opened with vnet) whole, with its GSO header. */
static NET_FIXTURE_UNUSED void
tso_frame_reaches_tap(struct drv *v, int s, const uint8_t host_mac[6], const uint8_t gmac[6])
{
    static uint8_t f[NET_MAX_FRAME], got[NET_MAX_FRAME];
    size_t len = tcp_frame(f, host_mac, gmac, 20000);
    struct net_hdr h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                        .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
                        .hdr_len = 54,
                        .gso_size = 1448,
                        .csum_start = 34,
                        .csum_offset = 16};
    drv_send(v, &h, f, len);
    ssize_t n = tap_recv(s, got, sizeof(got));
    ck_assert_int_eq(n, 10 + (ssize_t)len);
    ck_assert_uint_eq(got[1], VIRTIO_NET_HDR_GSO_TCPV4);
    ck_assert_uint_eq(net_get16(got + 4), 1448);
    ck_assert(memcmp(got + 10, f, len) == 0);
}

/* Guest -> TAP: a plain UDP frame of `payload` bytes from the synthetic guest `v` to
 * host_mac reaches interface `ifname` byte for byte. */
static NET_FIXTURE_UNUSED void udp_frame_reaches_tap(struct drv *v, const char *ifname,
                                                     const uint8_t host_mac[6], size_t payload)
{
    uint8_t gmac[6];
    mac_of(v, gmac);
    int s = tap_socket(ifname, false, true);
    static uint8_t f[2048], got[2048];
    size_t len = udp_frame(f, host_mac, gmac, payload);
    struct net_hdr h = {0};
    drv_send(v, &h, f, len);
    ck_assert_int_eq(tap_recv(s, got, sizeof(got)), (ssize_t)len);
    ck_assert(memcmp(got, f, len) == 0);
    close(s);
}

#endif
