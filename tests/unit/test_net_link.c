/* virtio-net end to end: two NICs in two machines of this process, joined by a real peer
 * link, each driven by a synthetic virtio driver through the transport API (a fake
 * transport that counts interrupts; rings in the fake guest RAM). Frames cross, software
 * offloads happen when the receiving guest lacks them, the receive filter works, and the
 * link goes down and comes back when the peer machine goes and returns. Also the
 * configuration errors of the module. */
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
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

static struct drv A, B;

static void setup(void)
{
    use_fake_transport();
    snprintf(rundir, sizeof(rundir), "/tmp/test_net_link_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(rundir));
    setenv("VDEVKIT_RUNTIME_DIR", rundir, 1);
    machine_up(&A, "sysa", "curly", "sysb/moe", NULL);
    machine_up(&B, "sysb", "moe", "sysa/curly", NULL);
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

#define BASIC_FEATURES                                                                             \
    (NET_BIT(VIRTIO_NET_F_MAC) | NET_BIT(VIRTIO_NET_F_STATUS) | NET_BIT(VIRTIO_NET_F_CTRL_VQ) |    \
     NET_BIT(VIRTIO_NET_F_CTRL_RX) | NET_BIT(VIRTIO_NET_F_MTU))

START_TEST(frames_cross_both_ways)
{
    ck_assert(wait_link(&A, true));
    ck_assert(wait_link(&B, true));
    drv_start(&A, BASIC_FEATURES);
    drv_start(&B, BASIC_FEATURES);
    ck_assert_uint_eq(cfg_status(&A), VIRTIO_NET_S_LINK_UP);
    ck_assert_uint_eq(vdev_virtio_config_read(A.vio, NET_CFG_MTU, 2), 1500);
    ck_assert_uint_eq(vdev_virtio_config_read(A.vio, NET_CFG_MAX_PAIRS, 2), 1);
    uint8_t ma[6], mb[6], want[6];
    mac_of(&A, ma);
    mac_of(&B, mb);
    net_mac_derive("sysa", "curly", want);
    ck_assert(memcmp(ma, want, 6) == 0);

    uint64_t rxa = drv_post_rx(&A, 8, 2048), rxb = drv_post_rx(&B, 8, 2048);
    static uint8_t f[2048];
    struct net_hdr h = {0};
    for (int dir = 0; dir < 2; dir++) {
        struct drv *from = dir ? &B : &A, *to = dir ? &A : &B;
        size_t len = udp_frame(f, dir ? ma : mb, dir ? mb : ma, 1000 + dir);
        drv_send(from, &h, f, len);
        uint32_t id, ulen;
        ck_assert_msg(drv_used(to, NET_Q_RX, &id, &ulen, 5000), "frame never arrived");
        ck_assert_uint_eq(id, 0);
        ck_assert_uint_eq(ulen, NET_HDR_LEN + len);
        const uint8_t *got = gpa(to, dir ? rxa : rxb);
        struct net_hdr gh;
        net_hdr_load(&gh, got);
        ck_assert_uint_eq(gh.flags, 0);
        ck_assert_uint_eq(gh.gso_type, 0);
        ck_assert_uint_eq(gh.num_buffers, 1);
        ck_assert(memcmp(got + NET_HDR_LEN, f, len) == 0);
        ck_assert_uint_ge(atomic_load(&to->ft->notify_queue[NET_Q_RX]), 1);
        ck_assert_uint_ge(atomic_load(&from->ft->notify_queue[NET_Q_TX]), 1);
    }
    ck_assert_uint_eq(net_read(&A.n->st.tx_frames), 1);
    ck_assert_uint_eq(net_read(&A.n->st.rx_frames), 1);
    ck_assert_uint_eq(net_read(&B.n->st.rx_bytes), udp_frame(f, ma, mb, 1000));

    char *line = NULL;
    size_t sz = 0;
    FILE *out = open_memstream(&line, &sz);
    vdev_module_virtio_net.status(A.d, out);
    fclose(out);
    ck_assert_msg(strstr(line, "fake 0 mac ") == line, "%s", line);
    ck_assert_msg(strstr(line, "link up peer ") && strstr(line, "/sysb/moe rx 1 frames "), "%s",
                  line);
    ck_assert_msg(strstr(line, " tx 1 frames 1042 bytes drops link-down 0 ring-full 0"), "%s",
                  line);
    ck_assert_msg(strstr(line, " link connects 1 disconnects 0 bad-records 0"), "%s", line);
    free(line);
}
END_TEST

START_TEST(link_down_and_back)
{
    ck_assert(wait_link(&A, true));
    drv_start(&A, BASIC_FEATURES);
    drv_start(&B, BASIC_FEATURES);
    unsigned cfg_irqs = atomic_load(&A.ft->notify_config);
    uint32_t gen = vdev_virtio_config_generation(A.vio);

    machine_down(&B);
    ck_assert(wait_link(&A, false));
    ck_assert_uint_eq(cfg_status(&A), 0);
    ck_assert_uint_gt(atomic_load(&A.ft->notify_config), cfg_irqs);
    ck_assert_uint_ne(vdev_virtio_config_generation(A.vio), gen);

    static uint8_t f[256];
    uint8_t ma[6], bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    mac_of(&A, ma);
    size_t len = udp_frame(f, bcast, ma, 100);
    struct net_hdr h = {0};
    for (int i = 0; i < 3; i++)
        drv_send(&A, &h, f, len); /* used at once, never blocks */
    ck_assert_uint_eq(net_read(&A.n->st.drop_link_down), 3);
    ck_assert_uint_eq(net_read(&A.n->st.tx_frames), 0);

    cfg_irqs = atomic_load(&A.ft->notify_config);
    machine_up(&B, "sysb", "moe", "sysa/curly", NULL);
    ck_assert(wait_link(&A, true));
    ck_assert_uint_eq(cfg_status(&A), VIRTIO_NET_S_LINK_UP);
    ck_assert_uint_gt(atomic_load(&A.ft->notify_config), cfg_irqs);
    drv_start(&B, BASIC_FEATURES);
    uint64_t rxb = drv_post_rx(&B, 4, 2048);
    drv_send(&A, &h, f, len);
    uint32_t id, ulen;
    ck_assert(drv_used(&B, NET_Q_RX, &id, &ulen, 5000));
    ck_assert(memcmp(gpa(&B, rxb) + NET_HDR_LEN, f, len) == 0);
}
END_TEST

/* A sends a 64 KiB TSO frame with a partial checksum; B's guest took neither TSO nor
 * checksum offload, so A segments and B gets complete, correct segments. */
START_TEST(tso_segmented_for_a_plain_peer)
{
    ck_assert(wait_link(&A, true));
    drv_start(&A, BASIC_FEATURES | NET_BIT(VIRTIO_NET_F_CSUM) | NET_BIT(VIRTIO_NET_F_HOST_TSO4));
    drv_start(&B, BASIC_FEATURES);
    uint64_t rxb = drv_post_rx(&B, 64, 2048);
    uint8_t ma[6], mb[6];
    mac_of(&A, ma);
    mac_of(&B, mb);

    static uint8_t f[NET_MAX_FRAME];
    size_t payload = 60000, l4 = 14 + 20, len = l4 + 20 + payload;
    memset(f, 0, len);
    memcpy(f, mb, 6);
    memcpy(f + 6, ma, 6);
    net_put_be16(f + 12, ETH_P_IP);
    f[14] = 0x45;
    f[14 + 8] = 64;
    f[14 + 9] = 6;
    memcpy(f + 14 + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
    net_put_be32(f + l4 + 4, 1000);
    f[l4 + 12] = 0x50;
    f[l4 + 13] = 0x18; /* ACK PSH */
    for (size_t i = 0; i < payload; i++)
        f[l4 + 20 + i] = (uint8_t)(i % 253);
    struct net_hdr h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                        .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
                        .hdr_len = (uint16_t)(l4 + 20),
                        .gso_size = 1448,
                        .csum_start = (uint16_t)l4,
                        .csum_offset = 16};
    drv_send(&A, &h, f, len);
    unsigned nsegs = (unsigned)((payload + 1447) / 1448);
    for (unsigned i = 0; i < nsegs; i++) {
        uint32_t id, ulen;
        ck_assert_msg(drv_used(&B, NET_Q_RX, &id, &ulen, 5000), "segment %u missing", i);
        ck_assert_uint_eq(id, i);
        const uint8_t *s = gpa(&B, rxb + 2048ull * i) + NET_HDR_LEN;
        size_t plen = i + 1 < nsegs ? 1448 : payload - 1448ull * i;
        ck_assert_uint_eq(ulen, NET_HDR_LEN + l4 + 20 + plen);
        ck_assert_uint_eq(gpa(&B, rxb + 2048ull * i)[0],
                          0); /* no NEEDS_CSUM: B did not take GUEST_CSUM */
        ck_assert_uint_eq(net_be32(s + l4 + 4), 1000 + 1448u * i);
        ck_assert_uint_eq(net_csum_fold(net_csum_add(0, s + 14, 20)), 0);
        uint64_t sum = net_csum_add(0, s + 14 + 12, 8) + 6 + 20 + plen;
        ck_assert_uint_eq(net_csum_fold(net_csum_add(sum, s + l4, 20 + plen)), 0);
        ck_assert(memcmp(s + l4 + 20, f + l4 + 20 + 1448ull * i, plen) == 0);
    }
    ck_assert_uint_eq(net_read(&A.n->st.sw_gso_frames), 1);
    ck_assert_uint_eq(net_read(&A.n->st.sw_gso_segments), nsegs);
    ck_assert_uint_eq(net_read(&B.n->st.rx_frames), nsegs);
}
END_TEST

/* Issue 13: a VLAN-tagged TSO frame may legally have gso_size up to 65495 (hdr_len + mss up
 * to 0xffff + the 18-byte L2 header); hdr_len + mss then exceeds the largest ring record.
 * Reserving that much stalled tx for 200 ms, dropped the frame as ring-full and left tx
 * dropping. Each frame must cross at once as its one segment, with nothing dropped, and a
 * full ring must still back-pressure afterwards. */
START_TEST(vlan_tso_with_the_largest_gso_size_crosses)
{
    ck_assert(wait_link(&A, true));
    drv_start(&A, BASIC_FEATURES | NET_BIT(VIRTIO_NET_F_CSUM) | NET_BIT(VIRTIO_NET_F_HOST_TSO4));
    drv_start(&B, BASIC_FEATURES); /* no GUEST_TSO4: A segments */
    uint64_t rxb = drv_post_rx(&B, 3, 4096);
    uint8_t ma[6], mb[6];
    mac_of(&A, ma);
    mac_of(&B, mb);
    static uint8_t f[4096];
    size_t l3 = 18, l4 = l3 + 20, payload = 2000, len = l4 + 20 + payload;
    memset(f, 0, len);
    memcpy(f, mb, 6);
    memcpy(f + 6, ma, 6);
    net_put_be16(f + 12, ETH_P_8021Q);
    net_put_be16(f + 14, 7);
    net_put_be16(f + 16, ETH_P_IP);
    f[l3] = 0x45;
    f[l3 + 8] = 64;
    f[l3 + 9] = 6;
    memcpy(f + l3 + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
    f[l4 + 12] = 0x50;
    f[l4 + 13] = 0x10;
    for (size_t i = 0; i < payload; i++)
        f[l4 + 20 + i] = (uint8_t)i;
    for (unsigned k = 0; k < 3; k++) {
        struct net_hdr h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                            .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
                            .hdr_len = (uint16_t)(l4 + 20),
                            .gso_size = (uint16_t)(65493 + k),
                            .csum_start = (uint16_t)l4,
                            .csum_offset = 16};
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        drv_send(&A, &h, f, len);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        uint32_t id, ulen;
        ck_assert_msg(drv_used(&B, NET_Q_RX, &id, &ulen, 5000), "gso_size %u: no segment",
                      65493 + k);
        ck_assert_uint_eq(ulen, NET_HDR_LEN + len);
        const uint8_t *s = gpa(&B, rxb + 4096ull * k) + NET_HDR_LEN;
        uint64_t sum = net_csum_add(0, s + l3 + 12, 8) + 6 + 20 + payload;
        ck_assert_uint_eq(net_csum_fold(net_csum_add(sum, s + l4, 20 + payload)), 0);
        long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        ck_assert_msg(ms < NET_TX_STALL_MS, "tx stalled %ld ms", ms);
    }
    ck_assert_uint_eq(net_read(&A.n->st.drop_ring_full), 0);
    ck_assert_uint_eq(net_read(&A.n->st.drop_too_big), 0);
    ck_assert_uint_eq(net_read(&A.n->st.tx_frames), 3);
    ck_assert_uint_eq(net_read(&B.n->st.rx_frames), 3);
    ck_assert(!A.n->tx_dropping); /* a full ring would back-pressure again */
}
END_TEST

/* Mergeable receive buffers: a frame larger than one buffer spreads over several. */
START_TEST(mergeable_rx_buffers)
{
    ck_assert(wait_link(&A, true));
    drv_start(&A, BASIC_FEATURES);
    drv_start(&B, BASIC_FEATURES | NET_BIT(VIRTIO_NET_F_MRG_RXBUF));
    uint64_t rxb = drv_post_rx(&B, 2, 512); /* not enough for 1526 bytes: it waits */
    uint8_t ma[6], mb[6];
    mac_of(&A, ma);
    mac_of(&B, mb);
    static uint8_t f[2048];
    size_t len = udp_frame(f, mb, ma, 1472);
    struct net_hdr h = {0};
    drv_send(&A, &h, f, len);
    uint32_t id, ulen;
    ck_assert(!drv_used(&B, NET_Q_RX, &id, &ulen, 200));
    drv_post_rx(&B, 2, 512);
    size_t got = 0;
    for (unsigned i = 0; i < 3; i++) {
        ck_assert_msg(drv_used(&B, NET_Q_RX, &id, &ulen, 5000), "chain %u", i);
        ck_assert_uint_eq(id, i);
        got += ulen;
    }
    ck_assert_uint_eq(got, NET_HDR_LEN + len);
    struct net_hdr gh;
    net_hdr_load(&gh, gpa(&B, rxb));
    ck_assert_uint_eq(gh.num_buffers, 3);
    /* the buffers are contiguous in guest memory here: compare the whole frame */
    ck_assert(memcmp(gpa(&B, rxb) + NET_HDR_LEN, f, len) == 0);
}
END_TEST

/* A frame half delivered into held chains when the link goes down is abandoned: the
 * chains go back and the next frame (from the peer's next life) starts afresh in them. */
START_TEST(held_chains_survive_a_link_drop)
{
    ck_assert(wait_link(&A, true));
    drv_start(&A, BASIC_FEATURES);
    drv_start(&B, BASIC_FEATURES | NET_BIT(VIRTIO_NET_F_MRG_RXBUF));
    uint64_t rxb = drv_post_rx(&B, 2, 512);
    uint8_t ma[6], mb[6];
    mac_of(&A, ma);
    mac_of(&B, mb);
    static uint8_t f[2048];
    size_t len = udp_frame(f, mb, ma, 1472);
    struct net_hdr h = {0};
    drv_send(&A, &h, f, len);
    uint32_t id, ulen;
    ck_assert(!drv_used(&B, NET_Q_RX, &id, &ulen, 200)); /* held: 2 of 3 chains */

    machine_down(&A);
    ck_assert(wait_link(&B, false));
    machine_up(&A, "sysa", "curly", "sysb/moe", NULL);
    ck_assert(wait_link(&B, true));
    drv_start(&A, BASIC_FEATURES);
    mac_of(&A, ma);
    len = udp_frame(f, mb, ma, 1400);
    f[100] = 0x77;
    drv_send(&A, &h, f, len);
    drv_post_rx(&B, 1, 512);
    size_t got = 0;
    for (unsigned i = 0; i < 3; i++) {
        ck_assert_msg(drv_used(&B, NET_Q_RX, &id, &ulen, 5000), "chain %u", i);
        ck_assert_uint_eq(id, i);
        got += ulen;
    }
    ck_assert_uint_eq(got, NET_HDR_LEN + len);
    struct net_hdr gh;
    net_hdr_load(&gh, gpa(&B, rxb));
    ck_assert_uint_eq(gh.num_buffers, 3);
    ck_assert(memcmp(gpa(&B, rxb) + NET_HDR_LEN, f, len) == 0);
    ck_assert_uint_eq(net_read(&B.n->st.rx_frames), 1);
}
END_TEST

/* Held chains survive the device's own transmissions: B's tx passes run between the attempt
 * that ran out of buffers and the one that finishes, and must not disturb the chains held
 * for the frame (a used entry naming a tx chain makes Linux report "id N is not a head!"
 * and stop its receive queue for good). */
START_TEST(held_chains_survive_transmissions)
{
    ck_assert(wait_link(&A, true));
    drv_start(&A, BASIC_FEATURES);
    drv_start(&B, BASIC_FEATURES | NET_BIT(VIRTIO_NET_F_MRG_RXBUF));
    uint8_t ma[6], mb[6];
    mac_of(&A, ma);
    mac_of(&B, mb);
    static uint8_t f[2048], g[2048];
    struct net_hdr h = {0};
    size_t glen = udp_frame(g, ma, mb, 200);
    drv_send(&B, &h, g, glen); /* tx chain 0: B's next tx chain is 2 */
    drv_post_rx(&A, 4, 2048);
    uint64_t rxb = drv_post_rx(&B, 2, 512);
    size_t len = udp_frame(f, mb, ma, 1472);
    drv_send(&A, &h, f, len);
    uint32_t id, ulen;
    ck_assert(!drv_used(&B, NET_Q_RX, &id, &ulen, 200)); /* held: 2 of 3 chains */
    drv_send(&B, &h, g, glen);                           /* tx chain 2, while held */
    drv_post_rx(&B, 1, 512);
    size_t got = 0;
    for (unsigned i = 0; i < 3; i++) {
        ck_assert_msg(drv_used(&B, NET_Q_RX, &id, &ulen, 5000), "chain %u", i);
        ck_assert_uint_eq(id, i);
        got += ulen;
    }
    ck_assert_uint_eq(got, NET_HDR_LEN + len);
    /* the first two chains are contiguous (the third was posted after B's tx buffers) */
    ck_assert(memcmp(gpa(&B, rxb) + NET_HDR_LEN, f, 1024 - NET_HDR_LEN) == 0);
    for (int i = 0; i < 5000 && net_read(&A.n->st.rx_frames) < 2; i++)
        usleep(1000); /* A's thread delivers B's second frame on its own time */
    ck_assert_uint_eq(net_read(&A.n->st.rx_frames), 2);
}
END_TEST

/* The receive filter set through the control queue; filtered frames are counted. */
START_TEST(rx_filter_and_mac_commands)
{
    ck_assert(wait_link(&A, true));
    drv_start(&A, BASIC_FEATURES);
    drv_start(&B, BASIC_FEATURES | NET_BIT(VIRTIO_NET_F_CTRL_MAC_ADDR));
    uint8_t off = 0;
    ck_assert_uint_eq(drv_ctrl(&B, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &off, 1),
                      VIRTIO_NET_OK);
    /* NOBCAST needs CTRL_RX_EXTRA, which B did not take */
    ck_assert_uint_eq(drv_ctrl(&B, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_NOBCAST, &off, 1),
                      VIRTIO_NET_ERR);
    uint8_t table[4 + 4 + 6] = {0, 0, 0, 0, 1, 0, 0, 0, 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
    ck_assert_uint_eq(
        drv_ctrl(&B, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, table, sizeof(table)),
        VIRTIO_NET_OK);
    ck_assert_uint_eq(drv_ctrl(&B, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, table, 9),
                      VIRTIO_NET_ERR); /* truncated */
    static const uint8_t newmac[6] = {0x02, 0, 0, 0, 0, 0x42}, mcast[6] = {1, 2, 3, 4, 5, 6};
    ck_assert_uint_eq(drv_ctrl(&B, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, mcast, 6),
                      VIRTIO_NET_ERR);
    ck_assert_uint_eq(drv_ctrl(&B, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, newmac, 6),
                      VIRTIO_NET_OK);
    uint8_t mb[6], ma[6];
    mac_of(&B, mb);
    mac_of(&A, ma);
    ck_assert(memcmp(mb, newmac, 6) == 0);

    uint64_t rxb = drv_post_rx(&B, 8, 2048);
    static uint8_t f[4][256];
    static const uint8_t other[6] = {0x02, 9, 9, 9, 9, 9}, other_mc[6] = {0x01, 0, 0x5e, 0, 0, 2},
                         bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    const uint8_t *dst[6] = {other, other_mc, newmac, table + 8, bcast};
    struct net_hdr h = {0};
    size_t len = 0;
    for (unsigned i = 0; i < 5; i++) {
        uint8_t fr[256];
        len = udp_frame(fr, dst[i], ma, 50);
        if (i >= 2)
            memcpy(f[i - 2], fr, len);
        drv_send(&A, &h, fr, len);
    }
    for (unsigned i = 0; i < 3; i++) {
        uint32_t id, ulen;
        ck_assert_msg(drv_used(&B, NET_Q_RX, &id, &ulen, 5000), "frame %u", i);
        ck_assert(memcmp(gpa(&B, rxb + 2048ull * i) + NET_HDR_LEN, f[i], len) == 0);
    }
    ck_assert_uint_eq(net_read(&B.n->st.drop_filtered), 2);
    ck_assert_uint_eq(net_read(&B.n->st.rx_frames), 3);
}
END_TEST

/* A frame with a partial checksum for a guest without GUEST_CSUM arrives complete. */
START_TEST(checksum_completed_for_the_peer)
{
    ck_assert(wait_link(&A, true));
    drv_start(&A, BASIC_FEATURES | NET_BIT(VIRTIO_NET_F_CSUM));
    drv_start(&B, BASIC_FEATURES);
    uint64_t rxb = drv_post_rx(&B, 2, 2048);
    uint8_t ma[6], mb[6];
    mac_of(&A, ma);
    mac_of(&B, mb);
    static uint8_t f[2048];
    size_t len = udp_frame(f, mb, ma, 333), l4 = 34;
    uint64_t pseudo = net_csum_add(0, f + 14 + 12, 8) + 17 + (len - l4);
    net_put_be16(f + l4 + 6, (uint16_t)~net_csum_fold(pseudo));
    struct net_hdr h = {
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = (uint16_t)l4, .csum_offset = 6};
    drv_send(&A, &h, f, len);
    uint32_t id, ulen;
    ck_assert(drv_used(&B, NET_Q_RX, &id, &ulen, 5000));
    const uint8_t *g = gpa(&B, rxb);
    ck_assert_uint_eq(g[0], 0);
    ck_assert_uint_eq(net_csum_fold(net_csum_add(pseudo, g + NET_HDR_LEN + l4, len - l4)), 0);
    ck_assert_uint_eq(net_read(&A.n->st.sw_csum), 1);

    /* a header that lies about the offsets is dropped and counted, the chain still used */
    h.csum_start = 2000;
    drv_send(&A, &h, f, len);
    ck_assert_uint_eq(net_read(&A.n->st.drop_bad_header), 1);
    /* GSO the driver did not negotiate */
    struct net_hdr g6 = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                         .gso_type = VIRTIO_NET_HDR_GSO_TCPV6,
                         .gso_size = 1000,
                         .csum_start = (uint16_t)l4,
                         .csum_offset = 16};
    drv_send(&A, &g6, f, len);
    ck_assert_uint_eq(net_read(&A.n->st.drop_bad_header), 2);
}
END_TEST

/* Both guests take TSO: the 64 KiB frame crosses in one piece, header and all. */
START_TEST(tso_passes_through_to_a_capable_peer)
{
    const uint64_t tso = NET_BIT(VIRTIO_NET_F_CSUM) | NET_BIT(VIRTIO_NET_F_HOST_TSO4) |
                         NET_BIT(VIRTIO_NET_F_GUEST_CSUM) | NET_BIT(VIRTIO_NET_F_GUEST_TSO4);
    ck_assert(wait_link(&A, true));
    drv_start(&A, BASIC_FEATURES | tso);
    drv_start(&B, BASIC_FEATURES | tso | NET_BIT(VIRTIO_NET_F_MRG_RXBUF));
    /* wait until A heard of B's features (a plain read of the link's state from the test
     * thread: good enough for a test) */
    for (int i = 0;
         i < 5000 && !(peer_link_peer_features(A.n->link) & NET_BIT(VIRTIO_NET_F_GUEST_TSO4)); i++)
        usleep(1000);
    uint64_t rxb = drv_post_rx(&B, 40, 4096);
    uint8_t ma[6], mb[6];
    mac_of(&A, ma);
    mac_of(&B, mb);
    static uint8_t f[NET_MAX_FRAME];
    size_t len = udp_frame(f, mb, ma, 60000);
    f[14 + 9] = 6; /* the content is not looked at on this path: call it TCP */
    struct net_hdr h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                        .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
                        .hdr_len = 54,
                        .gso_size = 1448,
                        .csum_start = 34,
                        .csum_offset = 16};
    drv_send(&A, &h, f, len);
    size_t got = 0;
    unsigned chains = 0;
    uint32_t id, ulen;
    while (got < NET_HDR_LEN + len) {
        ck_assert_msg(drv_used(&B, NET_Q_RX, &id, &ulen, 5000), "after %zu bytes", got);
        got += ulen;
        chains++;
    }
    ck_assert_uint_eq(got, NET_HDR_LEN + len);
    struct net_hdr gh;
    net_hdr_load(&gh, gpa(&B, rxb));
    ck_assert_uint_eq(gh.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
    ck_assert_uint_eq(gh.gso_size, 1448);
    ck_assert_uint_eq(gh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    ck_assert_uint_eq(gh.csum_start, 34);
    ck_assert_uint_eq(gh.num_buffers, chains);
    ck_assert(memcmp(gpa(&B, rxb) + NET_HDR_LEN, f, len) == 0);
    ck_assert_uint_eq(net_read(&A.n->st.sw_gso_frames), 0);
    ck_assert_uint_eq(net_read(&B.n->st.rx_frames), 1);
}
END_TEST

/* B's guest posts no receive buffers: B's ring fills, A waits a little, then drops and
 * counts; A's transmit queue never stops moving. When B drains, frames flow again. */
START_TEST(full_ring_stalls_then_drops)
{
    ck_assert(wait_link(&A, true));
    drv_start(&A, BASIC_FEATURES);
    drv_start(&B, BASIC_FEATURES);
    uint8_t ma[6], mb[6];
    mac_of(&A, ma);
    mac_of(&B, mb);
    static uint8_t f[NET_MAX_FRAME];
    size_t len = udp_frame(f, mb, ma, 60000);
    uint64_t ha = alloc_buf(&A, NET_HDR_LEN), fa = alloc_buf(&A, len);
    struct net_hdr h = {0};
    unsigned sent = 0;
    while (net_read(&A.n->st.drop_ring_full) < 3) {
        ck_assert_uint_lt(sent, 200); /* a 4 MiB ring holds about 70 of these */
        drv_send_at(&A, ha, fa, &h, f, len);
        sent++;
    }
    uint64_t through = net_read(&A.n->st.tx_frames);
    ck_assert_uint_gt(through, 10);
    ck_assert_uint_eq(through + net_read(&A.n->st.drop_ring_full), sent);

    uint64_t rxb = drv_post_rx(&B, (unsigned)through + 1, (uint32_t)(NET_HDR_LEN + len));
    uint32_t id, ulen;
    for (uint64_t i = 0; i < through; i++)
        ck_assert_msg(drv_used(&B, NET_Q_RX, &id, &ulen, 5000), "frame %u", (unsigned)i);
    f[100] ^= 0xff; /* a different last frame */
    drv_send_at(&A, ha, fa, &h, f, len);
    ck_assert_uint_eq(net_read(&A.n->st.tx_frames), through + 1);
    ck_assert(drv_used(&B, NET_Q_RX, &id, &ulen, 5000));
    ck_assert(memcmp(gpa(&B, rxb + ((NET_HDR_LEN + len + 63) & ~63ull) * through) + NET_HDR_LEN, f,
                     len) == 0);
}
END_TEST

/* B's guest has no driver: B drops what arrives (no-buffers) and its ring never fills, so
 * A never stalls or drops. */
START_TEST(peer_without_driver_drops_quietly)
{
    ck_assert(wait_link(&A, true));
    ck_assert(wait_link(&B, true));
    drv_start(&A, BASIC_FEATURES);
    static uint8_t f[NET_MAX_FRAME];
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t ma[6];
    mac_of(&A, ma);
    size_t len = udp_frame(f, bcast, ma, 60000);
    uint64_t ha = alloc_buf(&A, NET_HDR_LEN), fa = alloc_buf(&A, len);
    struct net_hdr h = {0};
    for (unsigned i = 0; i < 200; i++) /* about three rings' worth */
        drv_send_at(&A, ha, fa, &h, f, len);
    ck_assert_uint_eq(net_read(&A.n->st.tx_frames), 200);
    ck_assert_uint_eq(net_read(&A.n->st.drop_ring_full), 0);
    for (int i = 0; i < 5000 && net_read(&B.n->st.drop_no_buffers) < 200; i++)
        usleep(1000);
    ck_assert_uint_eq(net_read(&B.n->st.drop_no_buffers), 200);
}
END_TEST

/* A transmit chain too short for the header is a driver bug: the device needs a reset. */
START_TEST(short_tx_chain_needs_reset)
{
    drv_start(&A, BASIC_FEATURES);
    uint64_t a = alloc_buf(&A, 8);
    struct dbuf b = {a, 8, 0};
    drv_add(&A, NET_Q_TX, &b, 1);
    for (int i = 0; i < 5000 && !(vdev_virtio_get_status(A.vio) & VIRTIO_STATUS_NEEDS_RESET); i++)
        usleep(1000);
    ck_assert(vdev_virtio_get_status(A.vio) & VIRTIO_STATUS_NEEDS_RESET);
    ck_assert_uint_eq(net_read(&A.n->st.errors), 1);
    ck_assert_uint_ge(atomic_load(&A.ft->notify_config), 1);
    /* the event thread stops the device; a reset and a new start work */
    vdev_machine_poll(A.fe.m, 100);
    vdev_virtio_set_status(A.vio, 0);
    drv_start(&A, BASIC_FEATURES);
    ck_assert(!(vdev_virtio_get_status(A.vio) & VIRTIO_STATUS_NEEDS_RESET));
}
END_TEST

/* The peer process is not trusted: records from a hand-driven link end that break the
 * rules are dropped and counted; good ones still arrive (a partial checksum completed,
 * since A's guest did not take GUEST_CSUM). */
static void ignore_state(void *o, bool up)
{
    (void)o, (void)up;
}

static void send_record(struct peer_link *l, const struct net_hdr *h, const uint8_t *f, size_t len)
{
    uint8_t *p = NULL;
    for (int i = 0; i < 5000 && !(p = peer_link_tx_reserve(l, NET_HDR_LEN + len)); i++) {
        peer_link_service(l);
        usleep(1000);
    }
    ck_assert_ptr_nonnull(p);
    net_hdr_store(h, p);
    memcpy(p + NET_HDR_LEN, f, len);
    peer_link_tx_commit(l, NET_HDR_LEN + len);
    peer_link_tx_flush(l);
}

START_TEST(hostile_peer_records)
{
    machine_down(&B);
    ck_assert(wait_link(&A, false));
    char bind[128], peer[128];
    snprintf(bind, sizeof(bind), "%s/sysb/moe", rundir);
    snprintf(peer, sizeof(peer), "%s/sysa/curly", rundir);
    struct peer_link_cfg cfg = {.bind_path = bind,
                                .peer_path = peer,
                                .mac = {0x02, 1, 2, 3, 4, 5},
                                .state_changed = ignore_state};
    struct vdev_err err = {0};
    struct peer_link *l = peer_link_open(&cfg, &err);
    ck_assert_msg(l != NULL, "%s", err.msg);
    for (int i = 0; i < 10000 && !(peer_link_up(l) && atomic_load(&A.n->link_up)); i++) {
        peer_link_service(l);
        usleep(1000);
    }
    ck_assert(peer_link_up(l));
    drv_start(&A, BASIC_FEATURES);
    uint64_t rxa = drv_post_rx(&A, 8, 2048);
    uint8_t ma[6];
    mac_of(&A, ma);
    static uint8_t f[2048];
    size_t len = udp_frame(f, ma, cfg.mac, 200), l4 = 34;

    struct net_hdr plain = {0};
    send_record(l, &plain, f, 5); /* shorter than an Ethernet header */
    struct net_hdr bad_csum = {
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = (uint16_t)len, .csum_offset = 6};
    send_record(l, &bad_csum, f, len);
    struct net_hdr gso = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                          .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
                          .gso_size = 100,
                          .csum_start = (uint16_t)l4,
                          .csum_offset = 16};
    send_record(l, &gso, f, len); /* A's guest did not take GUEST_TSO4 */
    uint64_t pseudo = net_csum_add(0, f + 14 + 12, 8) + 17 + (len - l4);
    net_put_be16(f + l4 + 6, (uint16_t)~net_csum_fold(pseudo));
    struct net_hdr partial = {
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = (uint16_t)l4, .csum_offset = 6};
    send_record(l, &partial, f, len);
    send_record(l, &plain, f, len);

    uint32_t id, ulen;
    for (unsigned i = 0; i < 2; i++) {
        ck_assert_msg(drv_used(&A, NET_Q_RX, &id, &ulen, 5000), "frame %u", i);
        ck_assert_uint_eq(ulen, NET_HDR_LEN + len);
        const uint8_t *g = gpa(&A, rxa + 2048ull * i);
        ck_assert_uint_eq(g[0], 0); /* flags: nothing left for the guest to do */
        if (i == 0)                 /* the partial one, completed; the plain one came as it was */
            ck_assert_uint_eq(net_csum_fold(net_csum_add(pseudo, g + NET_HDR_LEN + l4, len - l4)),
                              0);
        else
            ck_assert(memcmp(g + NET_HDR_LEN, f, len) == 0);
    }
    ck_assert_uint_eq(net_read(&A.n->st.drop_bad_header), 3);
    ck_assert_uint_eq(net_read(&A.n->st.rx_frames), 2);
    ck_assert_uint_eq(net_read(&A.n->st.sw_csum), 1);
    peer_link_close(l);
}
END_TEST

/* A hostile driver: random headers, lengths and control commands. Every chain is used,
 * every frame is accounted for, nothing crashes (ASan watches the copies). */
START_TEST(random_driver_traffic)
{
    const uint64_t all = BASIC_FEATURES | NET_BIT(VIRTIO_NET_F_CSUM) |
                         NET_BIT(VIRTIO_NET_F_HOST_TSO4) | NET_BIT(VIRTIO_NET_F_HOST_TSO6) |
                         NET_BIT(VIRTIO_NET_F_HOST_ECN) | NET_BIT(VIRTIO_NET_F_CTRL_RX_EXTRA) |
                         NET_BIT(VIRTIO_NET_F_CTRL_MAC_ADDR);
    ck_assert(wait_link(&A, true));
    drv_start(&A, all);
    drv_start(&B, BASIC_FEATURES | NET_BIT(VIRTIO_NET_F_MRG_RXBUF));
    uint64_t rx = alloc_buf(&B, 256ull * 4096);
    for (unsigned i = 0; i < 200; i++) {
        struct dbuf b = {rx + 4096ull * i, 4096, F_WRITE};
        drv_add(&B, NET_Q_RX, &b, 1);
    }
    unsigned seed = 12345;
    static uint8_t f[NET_MAX_FRAME];
    uint64_t ha = alloc_buf(&A, NET_HDR_LEN), fa = alloc_buf(&A, sizeof(f));
    const unsigned frames = 300;
    for (unsigned i = 0; i < frames; i++) {
        size_t len = 14 + (size_t)rand_r(&seed) % (i % 10 ? 1500 : 20000);
        for (size_t k = 0; k < len; k++)
            f[k] = (uint8_t)rand_r(&seed);
        f[12] = 0x08, f[13] = rand_r(&seed) & 1 ? 0x00 : 0xdd;
        if (rand_r(&seed) & 1) {
            f[12] = 0x86;
            f[14] = 0x60;
        } else {
            f[14] = 0x45;
        }
        struct net_hdr h = {.flags = (uint8_t)(rand_r(&seed) % 3),
                            .gso_type = (uint8_t)(rand_r(&seed) % 6),
                            .hdr_len = (uint16_t)rand_r(&seed),
                            .gso_size = (uint16_t)(rand_r(&seed) % 3000),
                            .csum_start = (uint16_t)(rand_r(&seed) % (len + 10)),
                            .csum_offset = (uint16_t)(rand_r(&seed) % 20)};
        if (rand_r(&seed) & 1)
            h.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
        if (i % 2)
            memset(&h, 0, sizeof(h)); /* every other frame is plain */
        drv_send_at(&A, ha, fa, &h, f, len);
        uint8_t cmd[64];
        size_t cl = (size_t)rand_r(&seed) % sizeof(cmd);
        for (size_t k = 0; k < cl; k++)
            cmd[k] = (uint8_t)rand_r(&seed);
        uint8_t ack =
            drv_ctrl(&A, (uint8_t)(rand_r(&seed) % 3), (uint8_t)(rand_r(&seed) % 7), cmd, cl);
        ck_assert(ack == VIRTIO_NET_OK || ack == VIRTIO_NET_ERR);
        A.buf_next = fa + sizeof(f); /* reuse the control buffers */
    }
    const struct net_stats *st = &A.n->st;
    uint64_t segs = net_read(&st->sw_gso_segments), gso = net_read(&st->sw_gso_frames);
    ck_assert_uint_eq(net_read(&st->tx_frames) - segs + gso + net_read(&st->drop_bad_header) +
                          net_read(&st->drop_ring_full) + net_read(&st->drop_link_down),
                      frames);
    ck_assert_uint_eq(net_read(&st->errors), 0);
    ck_assert_uint_ge(net_read(&st->tx_frames), frames / 2); /* the plain ones at least */
    ck_assert_uint_gt(net_read(&st->drop_bad_header), 50);
    ck_assert(!(vdev_virtio_get_status(A.vio) & VIRTIO_STATUS_NEEDS_RESET));
}
END_TEST

START_TEST(feature_dependencies_enforced)
{
    vdev_virtio_set_status(A.vio, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    uint64_t f = NET_BIT(VIRTIO_NET_F_HOST_TSO4) | 1ull << VIRTIO_F_VERSION_1; /* no CSUM */
    vdev_virtio_set_driver_features(A.vio, 0, (uint32_t)f);
    vdev_virtio_set_driver_features(A.vio, 1, (uint32_t)(f >> 32));
    vdev_virtio_set_status(A.vio, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                      VIRTIO_STATUS_FEATURES_OK);
    ck_assert(!(vdev_virtio_get_status(A.vio) & VIRTIO_STATUS_FEATURES_OK));
}
END_TEST

/* ---- configuration errors (no link needed) ---- */

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
    expect_error("ram 1M vdev virtio-net loc 0xd0000000 peer /tmp/x",
                 "option 'peer' needs 'name' too (hint: ");
    expect_error("ram 1M vdev virtio-net mtu 67", "option 'mtu'");
    expect_error("ram 1M vdev virtio-net mtu 65536", "out of range");
    expect_error("ram 1M vdev virtio-net mac 01:00:5e:00:00:01", "multicast MAC");
    expect_error("ram 1M vdev virtio-net mac 00:00:00:00:00:00", "all-zero MAC");
    expect_error("ram 1M vdev virtio-net loc 0xd0000000 intr ioapic:5 legacy",
                 "test.conf:1:53: vdev virtio-net: option 'legacy' (virtio-mmio version 1) is not "
                 "supported (hint: drop it: stock kernels drive virtio-mmio version 2");
    expect_error("ram 1M vdev virtio-net peerfeat 3", "did you mean 'peerfeats'");
}
END_TEST

START_TEST(unnamed_nics_get_distinct_stable_macs)
{
    struct fake_embedder fe;
    struct vdev_err err = {0};
    memset(&fe, 0, sizeof(fe));
    fake_machine_new(&fe);
    if (fake_machine_build_string(
            &fe,
            "system s ram 1M vdev virtio-net loc 0xd0000000 intr ioapic:5 vdev virtio-net loc "
            "0xd0001000 intr ioapic:6",
            &err))
        ck_abort_msg("%s", err.msg);
    struct net *n0 = vdev_state(vdev_machine_device(fe.m, 0));
    struct net *n1 = vdev_state(vdev_machine_device(fe.m, 1));
    uint8_t want[6];
    net_mac_derive("s", "#0", want);
    ck_assert(memcmp(n0->mac, want, 6) == 0);
    ck_assert(memcmp(n0->mac, n1->mac, 6) != 0);
    ck_assert(!atomic_load(&n0->link_up)); /* no peer: the link stays down */
    fake_machine_free(&fe);
}
END_TEST

static Suite *net_link_suite(void)
{
    Suite *s = suite_create("net_link");
    TCase *tc = tcase_create("link");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, frames_cross_both_ways);
    tcase_add_test(tc, link_down_and_back);
    tcase_add_test(tc, tso_segmented_for_a_plain_peer);
    tcase_add_test(tc, vlan_tso_with_the_largest_gso_size_crosses);
    tcase_add_test(tc, mergeable_rx_buffers);
    tcase_add_test(tc, held_chains_survive_a_link_drop);
    tcase_add_test(tc, held_chains_survive_transmissions);
    tcase_add_test(tc, rx_filter_and_mac_commands);
    tcase_add_test(tc, checksum_completed_for_the_peer);
    tcase_add_test(tc, tso_passes_through_to_a_capable_peer);
    tcase_add_test(tc, full_ring_stalls_then_drops);
    tcase_add_test(tc, peer_without_driver_drops_quietly);
    tcase_add_test(tc, short_tx_chain_needs_reset);
    tcase_add_test(tc, hostile_peer_records);
    tcase_add_test(tc, random_driver_traffic);
    tcase_add_test(tc, feature_dependencies_enforced);
    suite_add_tcase(s, tc);
    TCase *te = tcase_create("config");
    tcase_add_checked_fixture(te, use_fake_transport, close_transports);
    tcase_add_test(te, option_errors);
    tcase_add_test(te, unnamed_nics_get_distinct_stable_macs);
    suite_add_tcase(s, te);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(net_link_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
