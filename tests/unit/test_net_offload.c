/* virtio-net software offloads: TCP segmentation of 64 KiB GSO frames (IPv4 and IPv6, the
 * source scattered over odd-sized buffers) and checksum completion, every result checked
 * by recomputation; and the default MAC rule. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netpeer/net_hdr.h"
#include "netpeer/net_mac.h"
#include "netpeer/net_offload.h"

#define TCP_OPT_LEN 12 /* NOP NOP timestamps: a 32-byte TCP header */

static uint8_t frame[NET_MAX_FRAME];
static uint8_t seg[NET_MAX_FRAME];
static uint8_t joined[NET_MAX_FRAME];

/* Independent checksum for verification (RFC 1071, byte by byte). */
static uint32_t ref_sum(uint32_t sum, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        sum += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
    return sum;
}
static uint16_t ref_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

/* Sum of a TCP/UDP segment with its pseudo-header: 0xffff when the checksum is right. */
static uint16_t l4_verify(const uint8_t *ip, bool v6, const uint8_t *l4, size_t l4_len,
                          unsigned proto)
{
    uint32_t s = v6 ? ref_sum(0, ip + 8, 32) : ref_sum(0, ip + 12, 8);
    s += proto + (uint32_t)l4_len;
    return ref_fold(ref_sum(s, l4, l4_len));
}

/* Ethernet [+VLAN] + IP + TCP(32) + payload pattern; returns frame length. */
static size_t build_tcp(bool v6, bool vlan, size_t payload, uint8_t tcp_flags)
{
    memset(frame, 0, sizeof(frame));
    uint8_t *p = frame;
    memcpy(p, "\x52\x54\x00\x00\x00\x02\x52\x54\x00\x00\x00\x01", 12);
    size_t l3 = ETH_HLEN;
    if (vlan) {
        net_put_be16(p + 12, ETH_P_8021Q);
        net_put_be16(p + 14, 42);
        l3 += 4;
    }
    net_put_be16(p + l3 - 2, v6 ? ETH_P_IPV6 : ETH_P_IP);
    uint8_t *ip = p + l3;
    size_t l4 = l3 + (v6 ? 40 : 20);
    size_t tcp_len = 20 + TCP_OPT_LEN + payload;
    if (!v6) {
        ip[0] = 0x45;
        net_put_be16(ip + 2, (uint16_t)(20 + tcp_len > 0xffff ? 0 : 20 + tcp_len));
        net_put_be16(ip + 4, 0xfff0); /* the ID wraps during the burst */
        net_put_be16(ip + 6, 0x4000); /* DF */
        ip[8] = 64;
        ip[9] = 6;
        memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
    } else {
        ip[0] = 0x60;
        net_put_be16(ip + 4, (uint16_t)tcp_len);
        ip[6] = 6;
        ip[7] = 64;
        for (int i = 0; i < 32; i++)
            ip[8 + i] = (uint8_t)(0xfd + i);
    }
    uint8_t *tcp = p + l4;
    net_put_be16(tcp, 40000);
    net_put_be16(tcp + 2, 5201);
    net_put_be32(tcp + 4, 0xfffff000u); /* the sequence number wraps too */
    net_put_be32(tcp + 8, 77);
    tcp[12] = (20 + TCP_OPT_LEN) / 4 << 4;
    tcp[13] = tcp_flags;
    net_put_be16(tcp + 14, 512);
    memcpy(tcp + 20, "\x01\x01\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x02", TCP_OPT_LEN);
    for (size_t i = 0; i < payload; i++)
        tcp[32 + i] = (uint8_t)(i * 7 + i / 251);
    return l4 + 32 + payload;
}

/* The frame scattered over buffers of awkward sizes, as a guest chain would be. */
static unsigned scatter(struct iovec *iov, size_t len)
{
    static const size_t sizes[] = {10, 3, 61, 1, 4096, 777};
    unsigned n = 0;
    size_t off = 0;
    while (off < len) {
        size_t l = sizes[n % 6];
        if (l > len - off)
            l = len - off;
        iov[n].iov_base = frame + off;
        iov[n].iov_len = l;
        off += l;
        n++;
    }
    return n;
}

static void check_segmentation(bool v6, bool vlan)
{
    const uint8_t flags = 0x80 | 0x10 | 0x08 | 0x01; /* CWR ACK PSH FIN */
    size_t l3 = ETH_HLEN + (vlan ? 4 : 0);
    size_t ipl = v6 ? 40 : 20;
    /* IPv4: the largest IP packet; IPv6: a 64 KiB frame (what Linux's GSO limit allows) */
    size_t payload = v6 ? 65536 - (l3 + ipl + 32) : 0xffff - 20 - 32;
    size_t len = build_tcp(v6, vlan, payload, flags);
    const unsigned mss = v6 ? 1428 : 1448;

    static struct iovec iov[4096];
    struct net_src src = {.iov = iov, .niov = scatter(iov, len), .skip = 0, .len = len};
    struct net_tso t;
    const char *why = NULL;
    ck_assert_int_eq(net_tso_prepare(&t, frame, NET_TSO_MAX_HDR, len,
                                     v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4, mss,
                                     &why),
                     0);
    ck_assert_uint_eq(t.hdr_len, l3 + ipl + 32);
    ck_assert_uint_eq(t.nsegs, (payload + mss - 1) / mss);

    size_t got = 0;
    for (unsigned i = 0; i < t.nsegs; i++) {
        size_t sl = net_tso_segment(&t, frame, &src, i, seg);
        size_t plen = i + 1 < t.nsegs ? mss : payload - (size_t)mss * i;
        ck_assert_uint_eq(sl, t.hdr_len + plen);
        ck_assert(memcmp(seg, frame, l3) == 0); /* Ethernet and VLAN untouched */
        const uint8_t *ip = seg + l3, *tcp = seg + l3 + ipl;
        if (!v6) {
            ck_assert_uint_eq(net_be16(ip + 2), sl - l3);
            ck_assert_uint_eq(net_be16(ip + 4), (uint16_t)(0xfff0 + i));
            ck_assert_uint_eq(ref_fold(ref_sum(0, ip, 20)), 0xffff);
        } else {
            ck_assert_uint_eq(net_be16(ip + 4), sl - l3 - 40);
        }
        ck_assert_uint_eq(net_be32(tcp + 4), 0xfffff000u + (uint32_t)(i * mss));
        uint8_t want = 0x10;
        if (i == 0)
            want |= 0x80;
        if (i + 1 == t.nsegs)
            want |= 0x08 | 0x01;
        ck_assert_uint_eq(tcp[13], want);
        ck_assert(memcmp(tcp + 20, frame + l3 + ipl + 20, TCP_OPT_LEN) == 0);
        ck_assert_uint_eq(l4_verify(ip, v6, tcp, sl - l3 - ipl, 6), 0xffff);
        memcpy(joined + got, seg + t.hdr_len, plen);
        got += plen;
    }
    ck_assert_uint_eq(got, payload);
    ck_assert(memcmp(joined, frame + t.hdr_len, payload) == 0);
}

START_TEST(tso_ipv4_64k)
{
    check_segmentation(false, false);
}
END_TEST

START_TEST(tso_ipv6_64k_vlan)
{
    check_segmentation(true, true);
}
END_TEST

START_TEST(tso_small_frame_is_one_segment)
{
    size_t len = build_tcp(false, false, 100, 0x18);
    struct iovec iov = {frame, len};
    struct net_src src = {&iov, 1, 0, len};
    struct net_tso t;
    ck_assert_int_eq(net_tso_prepare(&t, frame, len, len, VIRTIO_NET_HDR_GSO_TCPV4, 1448, NULL), 0);
    ck_assert_uint_eq(t.nsegs, 1);
    size_t sl = net_tso_segment(&t, frame, &src, 0, seg);
    ck_assert_uint_eq(sl, len);
    ck_assert_uint_eq(seg[ETH_HLEN + 20 + 13], 0x18); /* PSH kept on the only segment */
    ck_assert_uint_eq(l4_verify(seg + ETH_HLEN, false, seg + ETH_HLEN + 20, sl - ETH_HLEN - 20, 6),
                      0xffff);
}
END_TEST

START_TEST(tso_refuses_what_it_cannot_segment)
{
    const char *why = NULL;
    struct net_tso t;
    size_t len = build_tcp(false, false, 3000, 0x10);
    ck_assert_int_eq(net_tso_prepare(&t, frame, 256, len, VIRTIO_NET_HDR_GSO_TCPV4, 0, &why), -1);
    ck_assert_str_eq(why, "gso_size 0");
    ck_assert_int_eq(net_tso_prepare(&t, frame, 256, len, VIRTIO_NET_HDR_GSO_TCPV6, 1000, &why),
                     -1);
    ck_assert_int_eq(net_tso_prepare(&t, frame, 256, len, VIRTIO_NET_HDR_GSO_UDP, 1000, &why), -1);
    frame[ETH_HLEN + 6] = 0x20; /* MF: a fragment */
    ck_assert_int_eq(net_tso_prepare(&t, frame, 256, len, VIRTIO_NET_HDR_GSO_TCPV4, 1000, &why),
                     -1);
    ck_assert_str_eq(why, "IPv4 fragment");
    len = build_tcp(false, false, 3000, 0x10);
    frame[ETH_HLEN + 20 + 12] = 0xf0; /* data offset 60: past the frame's headers we gave */
    ck_assert_int_eq(net_tso_prepare(&t, frame, 60, len, VIRTIO_NET_HDR_GSO_TCPV4, 1000, &why), -1);
    ck_assert_int_eq(net_tso_prepare(&t, frame, 10, 10, VIRTIO_NET_HDR_GSO_TCPV4, 1000, &why), -1);
    len = build_tcp(true, false, 3000, 0x10);
    frame[ETH_HLEN + 6] = 0; /* hop-by-hop extension header */
    ck_assert_int_eq(net_tso_prepare(&t, frame, 256, len, VIRTIO_NET_HDR_GSO_TCPV6, 1000, &why),
                     -1);
}
END_TEST

/* A CHECKSUM_PARTIAL frame: the field holds the folded pseudo-header sum (not inverted). */
static void put_pseudo(uint8_t *field, const uint8_t *ip, bool v6, size_t l4_len, unsigned proto)
{
    uint32_t s = v6 ? ref_sum(0, ip + 8, 32) : ref_sum(0, ip + 12, 8);
    net_put_be16(field, ref_fold(s + proto + (uint32_t)l4_len));
}

START_TEST(csum_complete_tcp_and_udp)
{
    /* TCP over IPv6 */
    size_t len = build_tcp(true, false, 1001, 0x18);
    size_t l4 = ETH_HLEN + 40;
    put_pseudo(frame + l4 + 16, frame + ETH_HLEN, true, len - l4, 6);
    ck_assert_int_eq(net_csum_complete(frame, len, (unsigned)l4, 16), 0);
    ck_assert_uint_eq(l4_verify(frame + ETH_HLEN, true, frame + l4, len - l4, 6), 0xffff);

    /* UDP over IPv4 (turn the TCP frame into UDP) */
    len = build_tcp(false, false, 999, 0);
    l4 = ETH_HLEN + 20;
    frame[ETH_HLEN + 9] = 17;
    net_put_be16(frame + l4 + 4, (uint16_t)(len - l4));
    put_pseudo(frame + l4 + 6, frame + ETH_HLEN, false, len - l4, 17);
    ck_assert_int_eq(net_csum_complete(frame, len, (unsigned)l4, 6), 0);
    ck_assert_uint_ne(net_be16(frame + l4 + 6), 0); /* 0 would mean "no checksum" for UDP */
    ck_assert_uint_eq(l4_verify(frame + ETH_HLEN, false, frame + l4, len - l4, 17), 0xffff);

    /* offsets outside the frame are refused, nothing written */
    ck_assert_int_eq(net_csum_complete(frame, len, (unsigned)len, 0), -1);
    ck_assert_int_eq(net_csum_complete(frame, len, (unsigned)len - 1, 0), -1);
    ck_assert_int_eq(net_csum_complete(frame, len, 14, 0xffff), -1);
}
END_TEST

START_TEST(csum_helpers)
{
    static const uint8_t odd[] = {0x45, 0x00, 0x00, 0x73, 0x01};
    ck_assert_uint_eq(net_csum_add(0, odd, 5), 0x4500u + 0x0073u + 0x0100u);
    ck_assert_uint_eq(net_csum_fold(0x1fffe), 0x0000);
    ck_assert_uint_eq(net_csum_fold(0), 0xffff);
    /* reading and writing across iovec boundaries */
    uint8_t a[3] = {1, 2, 3}, b[2] = {4, 5}, out[5];
    struct iovec iov[2] = {{a, 3}, {b, 2}};
    struct net_src s = {iov, 2, 1, 4};
    ck_assert_uint_eq(net_src_read(&s, 1, out, 10), 3);
    ck_assert(memcmp(out, "\x03\x04\x05", 3) == 0);
    ck_assert_uint_eq(net_src_read(&s, 4, out, 1), 0);
    ck_assert_uint_eq(net_iov_write(iov, 2, 2, "\x09\x08\x07\x06", 4), 3);
    ck_assert(a[2] == 9 && b[0] == 8 && b[1] == 7);
}
END_TEST

START_TEST(mac_derivation)
{
    uint8_t m1[6], m2[6], m3[6], m4[6];
    net_mac_derive("sys0", "curly", m1);
    net_mac_derive("sys0", "curly", m2);
    net_mac_derive("sys0", "moe", m3);
    net_mac_derive("sys1", "curly", m4);
    ck_assert(memcmp(m1, m2, 6) == 0);
    ck_assert(memcmp(m1, m3, 6) != 0);
    ck_assert(memcmp(m1, m4, 6) != 0);
    for (unsigned i = 0; i < 1000; i++) {
        char name[16];
        snprintf(name, sizeof(name), "#%u", i);
        net_mac_derive("s", name, m1);
        ck_assert_uint_eq(m1[0] & 3, 2); /* locally administered, unicast */
    }
    /* pin the rule (computed independently) so it never drifts */
    net_mac_derive("a", "b", m1);
    char text[18];
    net_mac_format(m1, text);
    ck_assert_str_eq(text, "62:cf:68:04:19:c3");
}
END_TEST

static Suite *net_offload_suite(void)
{
    Suite *s = suite_create("net_offload");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, tso_ipv4_64k);
    tcase_add_test(tc, tso_ipv6_64k_vlan);
    tcase_add_test(tc, tso_small_frame_is_one_segment);
    tcase_add_test(tc, tso_refuses_what_it_cannot_segment);
    tcase_add_test(tc, csum_complete_tcp_and_udp);
    tcase_add_test(tc, csum_helpers);
    tcase_add_test(tc, mac_derivation);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(net_offload_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
