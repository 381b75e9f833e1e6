/* virtio-net multiqueue (`queues N`): the queue layout and configuration space, the feature
 * rules, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, automatic receive steering (a flow sent on tx queue
 * X comes back on rx queue X; flows never sent spread over the pairs in use, and only over
 * them), a reset back to one pair, RSS (VIRTIO_NET_CTRL_MQ_RSS_CONFIG refused in every way it
 * can be wrong, the Toeplitz hash against Microsoft's RSS verification suite, frames placed
 * by it) and the status line; with the synthetic driver of net_fixture.h on two linked NICs:
 * A (one pair) sends, B (`queues 2` or 4) receives. */
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
#define F_MQ  NET_BIT(VIRTIO_NET_F_MQ)
#define F_RSS NET_BIT(VIRTIO_NET_F_RSS)

static void setup(void)
{
    use_fake_transport();
    snprintf(rundir, sizeof(rundir), "/tmp/test_net_mq_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(rundir));
    setenv("VDEVKIT_RUNTIME_DIR", rundir, 1);
    A.fe.m = B.fe.m = NULL;
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

/* A with one pair, B with `b_extra` (its `queues`), both drivers started; B's rx queues get
 * `rx` buffers each. */
static void pair_up(const char *b_extra, uint64_t features_b, unsigned rx)
{
    machine_up(&B, "sysb", "moe", "sysa/curly", b_extra);
    machine_up(&A, "sysa", "curly", "sysb/moe", NULL);
    ck_assert(wait_link(&A, true));
    ck_assert(wait_link(&B, true));
    drv_start(&A, BASIC_FEATURES);
    drv_start(&B, features_b);
    unsigned pairs = (features_b & (F_MQ | F_RSS)) ? B.n->pairs : 1;
    for (unsigned p = 0; rx && p < pairs; p++)
        drv_post_rx_q(&B, 2 * p, rx, 2048);
}

/* An Ethernet + IPv4 + TCP or UDP frame (header lengths complete, no payload). */
static size_t l4_frame(uint8_t *f, const uint8_t src_ip[4], const uint8_t dst_ip[4], uint16_t sport,
                       uint16_t dport, uint8_t proto)
{
    static const uint8_t dst[6] = {0x52, 0x54, 0, 0, 0, 0x22}, src[6] = {0x52, 0x54, 0, 0, 0, 0x11};
    size_t l4 = proto == 6 ? 20 : 8, len = ETH_HLEN + 20 + l4;
    memset(f, 0, len);
    uint8_t *p = eth_ipv4(f, dst, src, proto, len);
    memcpy(f + ETH_HLEN + 12, src_ip, 4);
    memcpy(f + ETH_HLEN + 16, dst_ip, 4);
    net_put_be16(p, sport);
    net_put_be16(p + 2, dport);
    if (proto == 6)
        p[12] = 5 << 4;
    else
        net_put_be16(p + 4, 8);
    return len;
}

static void send_from(struct drv *v, unsigned txq, const uint8_t *f, size_t len)
{
    struct net_hdr h = {0};
    drv_send_at_q(v, txq, alloc_buf(v, NET_HDR_LEN), alloc_buf(v, len), &h, f, len);
}

/* The rx queue (of B's) the next frame arrives on; -1 when none comes. */
static int arrives_on(struct drv *v)
{
    for (int t = 0; t < 5000; t++) {
        for (unsigned q = 0; q + 1 < v->nq; q += 2)
            if (drv_used_idx(v, q) != v->q[q].used_seen) {
                uint32_t id, len;
                ck_assert(drv_used(v, q, &id, &len, 0));
                return (int)q;
            }
        usleep(1000);
    }
    return -1;
}

static void ip4(uint8_t out[4], unsigned a, unsigned b, unsigned c, unsigned d)
{
    out[0] = (uint8_t)a, out[1] = (uint8_t)b, out[2] = (uint8_t)c, out[3] = (uint8_t)d;
}

static uint8_t pairs_set(struct drv *v, uint16_t pairs)
{
    uint8_t d[2];
    net_put16(d, pairs);
    return drv_ctrl(v, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, d, 2);
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

/* ---- layout, configuration, features ---- */

START_TEST(layout_and_config_space)
{
    machine_up(&B, "sysb", "moe", "sysa/curly", "queues 4");
    ck_assert_uint_eq(vdev_virtio_num_queues(B.vio), 9); /* rx0 tx0 .. rx3 tx3 ctrl */
    ck_assert_uint_eq(vdev_virtio_config_read(B.vio, NET_CFG_MAX_PAIRS, 2), 4);
    ck_assert_uint_eq(vdev_virtio_config_read(B.vio, NET_CFG_RSS_MAX_KEY, 1), 40);
    ck_assert_uint_eq(vdev_virtio_config_read(B.vio, NET_CFG_RSS_MAX_TABLE, 2), 128);
    ck_assert_uint_eq(vdev_virtio_config_read(B.vio, NET_CFG_HASH_TYPES, 4), 0x3f);
    uint32_t lo = vdev_virtio_device_features(B.vio, 0), hi = vdev_virtio_device_features(B.vio, 1);
    ck_assert(lo & (1u << VIRTIO_NET_F_MQ));
    ck_assert(hi & (1u << (VIRTIO_NET_F_RSS - 32)));
    /* One pair (the default): no MQ, no RSS, three queues, max_virtqueue_pairs 1 */
    machine_up(&A, "sysa", "curly", "sysb/moe", NULL);
    ck_assert_uint_eq(vdev_virtio_num_queues(A.vio), 3);
    ck_assert_uint_eq(vdev_virtio_config_read(A.vio, NET_CFG_MAX_PAIRS, 2), 1);
    ck_assert(!(vdev_virtio_device_features(A.vio, 0) & (1u << VIRTIO_NET_F_MQ)));
    ck_assert(!(vdev_virtio_device_features(A.vio, 1) & (1u << (VIRTIO_NET_F_RSS - 32))));
    /* The control queue: after the last pair with MQ, at 2 without (virtio 1.2 §5.1.2). */
    ck_assert(wait_link(&A, true));
    drv_start(&B, BASIC_FEATURES | F_MQ);
    ck_assert_uint_eq(B.ctrlq, 8);
    ck_assert_uint_eq(net_ctrl_vq(B.n), 8);
    ck_assert_uint_eq(drv_ctrl(&B, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, "\1", 1),
                      VIRTIO_NET_OK);
    drv_start(&B, BASIC_FEATURES);
    ck_assert_uint_eq(B.ctrlq, 2);
    ck_assert_uint_eq(drv_ctrl(&B, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, "\1", 1),
                      VIRTIO_NET_OK);
}
END_TEST

static bool features_accepted(struct drv *v, uint64_t f)
{
    f |= 1ull << VIRTIO_F_VERSION_1;
    vdev_virtio_set_status(v->vio, 0);
    vdev_virtio_set_status(v->vio, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    vdev_virtio_set_driver_features(v->vio, 0, (uint32_t)f);
    vdev_virtio_set_driver_features(v->vio, 1, (uint32_t)(f >> 32));
    vdev_virtio_set_status(v->vio, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                       VIRTIO_STATUS_FEATURES_OK);
    return vdev_virtio_get_status(v->vio) & VIRTIO_STATUS_FEATURES_OK;
}

START_TEST(mq_and_rss_need_the_control_queue)
{
    machine_up(&B, "sysb", "moe", "sysa/curly", "queues 2");
    uint64_t plain = NET_BIT(VIRTIO_NET_F_MAC);
    ck_assert(!features_accepted(&B, plain | F_MQ));
    ck_assert(!features_accepted(&B, plain | F_RSS));
    ck_assert(features_accepted(&B, plain | F_MQ | NET_BIT(VIRTIO_NET_F_CTRL_VQ)));
    ck_assert(features_accepted(&B, plain | F_RSS | NET_BIT(VIRTIO_NET_F_CTRL_VQ)));
}
END_TEST

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

START_TEST(queues_option_errors)
{
    expect_error("ram 1M vdev virtio-net queues 0",
                 "test.conf:1:31: vdev virtio-net: queues 0 is out of range (1 to 16 queue pairs) "
                 "(hint: one pair per guest vCPU");
    expect_error("ram 1M vdev virtio-net queues 17", "queues 17 is out of range (1 to 16");
    expect_error("ram 1M vdev virtio-net queues two", "option 'queues': bad number 'two'");
}
END_TEST

/* ---- VQ_PAIRS_SET and automatic steering ---- */

START_TEST(vq_pairs_set_checked)
{
    pair_up("queues 2", BASIC_FEATURES | F_MQ, 0);
    ck_assert_uint_eq(B.n->mq.active, 1);
    ck_assert_uint_eq(pairs_set(&B, 0), VIRTIO_NET_ERR);
    ck_assert_uint_eq(pairs_set(&B, 3), VIRTIO_NET_ERR);
    ck_assert_uint_eq(pairs_set(&B, 0x8000), VIRTIO_NET_ERR);
    uint8_t three[3] = {2, 0, 0};
    ck_assert_uint_eq(drv_ctrl(&B, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, three, 3),
                      VIRTIO_NET_ERR);
    ck_assert_uint_eq(drv_ctrl(&B, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_HASH_CONFIG, three, 3),
                      VIRTIO_NET_ERR);
    ck_assert_uint_eq(drv_ctrl(&B, VIRTIO_NET_CTRL_MQ, 9, three, 2), VIRTIO_NET_ERR);
    ck_assert_uint_eq(B.n->mq.active, 1);
    ck_assert_uint_eq(pairs_set(&B, 2), VIRTIO_NET_OK);
    ck_assert_uint_eq(B.n->mq.active, 2);
    ck_assert_uint_eq(pairs_set(&B, 1), VIRTIO_NET_OK);
    ck_assert_uint_eq(B.n->mq.active, 1);
    /* RSS_CONFIG without RSS negotiated, VQ_PAIRS_SET without MQ */
    uint8_t rss[8 + 2 + 3] = {0};
    ck_assert_uint_eq(
        drv_ctrl(&B, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, rss, sizeof(rss)),
        VIRTIO_NET_ERR);
    drv_start(&B, BASIC_FEATURES | F_RSS);
    ck_assert_uint_eq(pairs_set(&B, 2), VIRTIO_NET_ERR);
}
END_TEST

/* Flows never sent, from 32 source ports: before VQ_PAIRS_SET all on rx0; after it over
 * both pairs; after a reset all on rx0 again. */
START_TEST(unknown_flows_spread_over_active_pairs_only)
{
    pair_up("queues 2", BASIC_FEATURES | F_MQ, 64);
    uint8_t f[128], a[4], b[4];
    ip4(a, 10, 0, 0, 1), ip4(b, 10, 0, 0, 2);
    for (unsigned i = 0; i < 32; i++) {
        size_t len = l4_frame(f, a, b, (uint16_t)(4000 + i), 80, 17);
        send_from(&A, NET_Q_TX, f, len);
        ck_assert_int_eq(arrives_on(&B), 0);
    }
    ck_assert_uint_eq(pairs_set(&B, 2), VIRTIO_NET_OK);
    unsigned on[2] = {0};
    for (unsigned i = 0; i < 32; i++) {
        size_t len = l4_frame(f, a, b, (uint16_t)(5000 + i), 80, 17);
        send_from(&A, NET_Q_TX, f, len);
        int q = arrives_on(&B);
        ck_assert(q == 0 || q == 2);
        on[q / 2]++;
    }
    ck_assert_msg(on[0] >= 4 && on[1] >= 4, "32 flows: %u on rx0, %u on rx1", on[0], on[1]);
    /* A flow's frames stay on one queue. */
    size_t len = l4_frame(f, a, b, 5007, 80, 17);
    send_from(&A, NET_Q_TX, f, len);
    int first = arrives_on(&B);
    for (unsigned i = 0; i < 4; i++) {
        send_from(&A, NET_Q_TX, f, len);
        ck_assert_int_eq(arrives_on(&B), first);
    }
    /* A reset goes back to one pair. */
    drv_start(&B, BASIC_FEATURES | F_MQ);
    ck_assert_uint_eq(B.n->mq.active, 1);
    drv_post_rx_q(&B, 0, 16, 2048);
    drv_post_rx_q(&B, 2, 16, 2048);
    for (unsigned i = 0; i < 16; i++) {
        len = l4_frame(f, a, b, (uint16_t)(5000 + i), 80, 17);
        send_from(&A, NET_Q_TX, f, len);
        ck_assert_int_eq(arrives_on(&B), 0);
    }
}
END_TEST

/* B sends flows on tx0 and tx1; A's answers (the same flows, addresses and ports swapped)
 * come back on the rx queue of the pair that sent. */
START_TEST(a_flow_comes_back_on_the_pair_that_sent_it)
{
    pair_up("queues 2", BASIC_FEATURES | F_MQ, 64);
    drv_post_rx(&A, 64, 2048);
    ck_assert_uint_eq(pairs_set(&B, 2), VIRTIO_NET_OK);
    uint8_t f[128], a[4], b[4];
    ip4(a, 10, 0, 0, 1), ip4(b, 10, 0, 0, 2);
    for (unsigned i = 0; i < 16; i++) {
        unsigned pair = i & 1;
        uint8_t proto = i & 2 ? 6 : 17;
        size_t len = l4_frame(f, b, a, (uint16_t)(6000 + i), 5201, proto);
        send_from(&B, 2 * pair + 1, f, len); /* B: b:port -> a:5201 on tx `pair` */
        uint32_t id, ulen;
        ck_assert(drv_used(&A, NET_Q_RX, &id, &ulen, 5000));
        len = l4_frame(f, a, b, 5201, (uint16_t)(6000 + i), proto); /* A answers */
        for (unsigned k = 0; k < 3; k++) {
            send_from(&A, NET_Q_TX, f, len);
            ck_assert_int_eq(arrives_on(&B), (int)(2 * pair));
        }
    }
    /* The flow moves when its sender does. */
    size_t len = l4_frame(f, b, a, 6001, 5201, 17);
    send_from(&B, NET_Q_TX, f, len); /* flow 6001 was pair 1's, now pair 0 sends it */
    len = l4_frame(f, a, b, 5201, 6001, 17);
    send_from(&A, NET_Q_TX, f, len);
    ck_assert_int_eq(arrives_on(&B), 0);
    /* Back to one pair: pair 1's flows come to rx0. */
    ck_assert_uint_eq(pairs_set(&B, 1), VIRTIO_NET_OK);
    len = l4_frame(f, a, b, 5201, 6003, 6);
    send_from(&A, NET_Q_TX, f, len);
    ck_assert_int_eq(arrives_on(&B), 0);
    /* Per-queue counters: rx1's interrupts are the ones the transport raised on queue 2,
     * tx1's kicks the 8 chains sent on queue 3; the control queue's at index 2 * pairs. */
    for (int i = 0;
         i < 2000 && (net_read(&B.n->st.kicks[3]) < 8 || net_read(&B.n->st.kicks[4]) < 2); i++)
        usleep(1000); /* a kick is counted when the thread next polls its eventfd */
    ck_assert_uint_eq(net_read(&B.n->st.kicks[3]), 8);
    ck_assert_uint_ge(net_read(&B.n->st.irqs[2]), 1);
    ck_assert_uint_eq(net_read(&B.n->st.irqs[2]), atomic_load(&B.ft->notify_queue[2]));
    ck_assert_uint_eq(net_read(&B.n->st.irqs[4]), atomic_load(&B.ft->notify_queue[4]));
    ck_assert_uint_eq(net_read(&B.n->st.kicks[4]), 2); /* the two VQ_PAIRS_SET */
    /* The status line's per-pair detail */
    char *line = status_of(&B);
    ck_assert_msg(strstr(line, " queue-pairs 2 active 1 steering auto pair 0 frames rx "), "%s",
                  line);
    ck_assert_msg(strstr(line, " pair 1 frames rx 24 tx 8 kicks rx "), "%s", line);
    free(line);
    line = status_of(&A); /* one pair: no per-pair detail */
    ck_assert_msg(!strstr(line, "queue-pairs"), "%s", line);
    free(line);
}
END_TEST

/* ---- RSS ---- */

static const uint8_t ms_key[40] = {0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67,
                                   0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
                                   0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
                                   0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};

/* Microsoft's RSS verification suite ("Verifying the RSS Hash Calculation"). */
static const struct {
    uint8_t dst[4], src[4];
    uint16_t dport, sport;
    uint32_t ip, tcp;
} v4_vectors[] = {
    {{161, 142, 100, 80}, {66, 9, 149, 187}, 1766, 2794, 0x323e8fc2, 0x51ccc178},
    {{65, 69, 140, 83}, {199, 92, 111, 2}, 4739, 14230, 0xd718262a, 0xc626b0ea},
    {{12, 22, 207, 184}, {24, 19, 198, 95}, 38024, 12898, 0xd2d0a5de, 0x5c2b394a},
    {{209, 142, 163, 6}, {38, 27, 205, 30}, 2217, 48228, 0x82989176, 0xafc7327f},
    {{202, 188, 127, 2}, {153, 39, 163, 191}, 1303, 44251, 0x5d1809c5, 0x10e828a2},
};

static const struct {
    uint8_t dst[16], src[16];
    uint16_t dport, sport;
    uint32_t ip, tcp;
} v6_vectors[] = {
    {{0x3f, 0xfe, 0x25, 0x01, 0x02, 0, 0, 0x03, 0, 0, 0, 0, 0, 0, 0, 0x01},
     {0x3f, 0xfe, 0x25, 0x01, 0x02, 0, 0x1f, 0xff, 0, 0, 0, 0, 0, 0, 0, 0x07},
     1766,
     2794,
     0x2cc18cd5,
     0x40207d3d},
    {{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01},
     {0x3f, 0xfe, 0x05, 0x01, 0, 0x08, 0, 0, 0x02, 0x60, 0x97, 0xff, 0xfe, 0x40, 0xef, 0xab},
     4739,
     14230,
     0x0f0c461c,
     0xdde51bbf},
    {{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0, 0xf8, 0xff, 0xfe, 0x21, 0x67, 0xcf},
     {0x3f, 0xfe, 0x19, 0x00, 0x45, 0x45, 0, 0x03, 0x02, 0, 0xf8, 0xff, 0xfe, 0x21, 0x67, 0xcf},
     38024,
     44251,
     0x4b61e985,
     0x02d1feef},
};

START_TEST(toeplitz_matches_the_verification_suite)
{
    for (unsigned i = 0; i < sizeof(v4_vectors) / sizeof(v4_vectors[0]); i++) {
        uint8_t in[12];
        memcpy(in, v4_vectors[i].src, 4);
        memcpy(in + 4, v4_vectors[i].dst, 4);
        net_put_be16(in + 8, v4_vectors[i].sport);
        net_put_be16(in + 10, v4_vectors[i].dport);
        ck_assert_uint_eq(net_toeplitz(ms_key, 40, in, 8), v4_vectors[i].ip);
        ck_assert_uint_eq(net_toeplitz(ms_key, 40, in, 12), v4_vectors[i].tcp);
    }
    for (unsigned i = 0; i < sizeof(v6_vectors) / sizeof(v6_vectors[0]); i++) {
        uint8_t in[36];
        memcpy(in, v6_vectors[i].src, 16);
        memcpy(in + 16, v6_vectors[i].dst, 16);
        net_put_be16(in + 32, v6_vectors[i].sport);
        net_put_be16(in + 34, v6_vectors[i].dport);
        ck_assert_uint_eq(net_toeplitz(ms_key, 40, in, 32), v6_vectors[i].ip);
        ck_assert_uint_eq(net_toeplitz(ms_key, 40, in, 36), v6_vectors[i].tcp);
    }
}
END_TEST

/* The same through the frame parser and the hash types (IPv6 frames with an extension
 * header to skip, VLAN-tagged IPv4). */
START_TEST(rss_hash_of_frames)
{
    struct net_rss r = {.hash_types = NET_RSS_HASH_TYPES, .key_len = 40};
    memcpy(r.key, ms_key, 40);
    uint8_t f[256];
    struct net_flow fl;
    uint32_t h;
    for (unsigned i = 0; i < sizeof(v4_vectors) / sizeof(v4_vectors[0]); i++) {
        for (unsigned vlan = 0; vlan < 2; vlan++) {
            size_t len = l4_frame(f + 4 * vlan, v4_vectors[i].src, v4_vectors[i].dst,
                                  v4_vectors[i].sport, v4_vectors[i].dport, 6);
            if (vlan) {
                memmove(f, f + 4, 12);
                net_put_be16(f + 12, ETH_P_8021Q);
                net_put_be16(f + 14, 7);
                len += 4;
            }
            net_flow_parse(f, len, &fl);
            ck_assert(net_rss_hash(&r, &fl, &h));
            ck_assert_uint_eq(h, v4_vectors[i].tcp);
        }
        /* UDP with only the TCP type: the addresses (IPv4 type) */
        size_t len = l4_frame(f, v4_vectors[i].src, v4_vectors[i].dst, v4_vectors[i].sport,
                              v4_vectors[i].dport, 17);
        r.hash_types = VIRTIO_NET_HASH_TYPE_TCPv4 | VIRTIO_NET_HASH_TYPE_IPv4;
        net_flow_parse(f, len, &fl);
        ck_assert(net_rss_hash(&r, &fl, &h));
        ck_assert_uint_eq(h, v4_vectors[i].ip);
        r.hash_types = VIRTIO_NET_HASH_TYPE_TCPv4; /* ... or nothing: unclassified */
        ck_assert(!net_rss_hash(&r, &fl, &h));
        /* a fragment has no ports */
        l4_frame(f, v4_vectors[i].src, v4_vectors[i].dst, v4_vectors[i].sport, v4_vectors[i].dport,
                 6);
        net_put_be16(f + ETH_HLEN + 6, 0x2000); /* MF */
        r.hash_types = NET_RSS_HASH_TYPES;
        net_flow_parse(f, len, &fl);
        ck_assert(net_rss_hash(&r, &fl, &h));
        ck_assert_uint_eq(h, v4_vectors[i].ip);
    }
    for (unsigned i = 0; i < sizeof(v6_vectors) / sizeof(v6_vectors[0]); i++) {
        memset(f, 0, sizeof(f));
        net_put_be16(f + 12, ETH_P_IPV6);
        uint8_t *ip = f + ETH_HLEN;
        ip[0] = 0x60;
        ip[6] = 60; /* destination options, 8 bytes, then TCP */
        memcpy(ip + 8, v6_vectors[i].src, 16);
        memcpy(ip + 24, v6_vectors[i].dst, 16);
        ip[40] = 6;
        uint8_t *tcp = ip + 48;
        net_put_be16(tcp, v6_vectors[i].sport);
        net_put_be16(tcp + 2, v6_vectors[i].dport);
        size_t len = ETH_HLEN + 48 + 20;
        net_flow_parse(f, len, &fl);
        ck_assert(net_rss_hash(&r, &fl, &h));
        ck_assert_uint_eq(h, v6_vectors[i].tcp);
        r.hash_types = VIRTIO_NET_HASH_TYPE_IPv6;
        ck_assert(net_rss_hash(&r, &fl, &h));
        ck_assert_uint_eq(h, v6_vectors[i].ip);
        net_flow_parse(f, len - 1, &fl); /* the TCP header cut short: addresses only */
        r.hash_types = VIRTIO_NET_HASH_TYPE_TCPv6;
        ck_assert(!net_rss_hash(&r, &fl, &h));
        r.hash_types = NET_RSS_HASH_TYPES;
    }
    /* not IP */
    memset(f, 0, 64);
    net_put_be16(f + 12, 0x0806);
    net_flow_parse(f, 60, &fl);
    ck_assert(!net_rss_hash(&r, &fl, &h));
}
END_TEST

/* struct virtio_net_rss_config with `table_len` entries (entry i = table[i % ntable]). */
static size_t rss_cmd(uint8_t *c, uint32_t types, uint32_t table_len, const uint16_t *table,
                      unsigned ntable, uint16_t unclassified, uint16_t max_tx, uint8_t key_len)
{
    c[0] = (uint8_t)types, c[1] = (uint8_t)(types >> 8), c[2] = (uint8_t)(types >> 16);
    c[3] = (uint8_t)(types >> 24);
    net_put16(c + 4, (uint16_t)(table_len - 1));
    net_put16(c + 6, unclassified);
    size_t off = 8;
    for (uint32_t i = 0; i < table_len; i++, off += 2)
        net_put16(c + off, table[i % ntable]);
    net_put16(c + off, max_tx);
    c[off + 2] = key_len;
    for (unsigned i = 0; i < key_len; i++)
        c[off + 3 + i] = ms_key[i % 40];
    return off + 3 + key_len;
}

static uint8_t rss_send(struct drv *v, const uint8_t *c, size_t len)
{
    return drv_ctrl(v, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_RSS_CONFIG, c, len);
}

START_TEST(rss_config_checked)
{
    pair_up("queues 4", BASIC_FEATURES | F_MQ | F_RSS, 0);
    static uint8_t c[8 + 2 * 256 + 3 + 64];
    const uint16_t ident[4] = {0, 1, 2, 3}, bad[2] = {0, 4};
    uint32_t t = VIRTIO_NET_HASH_TYPE_TCPv4;
    /* good ones first: the largest table and key, then the smallest */
    size_t len = rss_cmd(c, NET_RSS_HASH_TYPES, 128, ident, 4, 3, 4, 40);
    ck_assert_uint_eq(rss_send(&B, c, len), VIRTIO_NET_OK);
    ck_assert(B.n->mq.rss);
    ck_assert_uint_eq(B.n->mq.active, 4);
    ck_assert_uint_eq(B.n->mq.cfg.table_len, 128);
    len = rss_cmd(c, 0, 1, ident, 1, 0, 1, 0); /* no hash: everything unclassified */
    ck_assert_uint_eq(rss_send(&B, c, len), VIRTIO_NET_OK);
    ck_assert_uint_eq(B.n->mq.active, 1);
    /* bad ones: each leaves the configuration as it was */
    struct net_rss before = B.n->mq.cfg;
    unsigned nc = 0;
#define BAD(expr, what)                                                                            \
    do {                                                                                           \
        len = (expr);                                                                              \
        ck_assert_msg(rss_send(&B, c, len) == VIRTIO_NET_ERR, "accepted: %s", what);               \
        nc++;                                                                                      \
    } while (0)
    BAD(rss_cmd(c, t, 3, ident, 4, 0, 4, 40), "a table of 3 entries");
    BAD(rss_cmd(c, t, 256, ident, 4, 0, 4, 40), "a table of 256 entries");
    BAD(rss_cmd(c, t, 2, bad, 2, 0, 4, 40), "a table entry of 4 with 4 pairs");
    BAD(rss_cmd(c, t, 2, ident, 2, 4, 4, 40), "unclassified queue 4");
    BAD(rss_cmd(c, t, 2, ident, 2, 0x8000, 4, 40), "unclassified with the reserved bit");
    BAD(rss_cmd(c, t, 2, ident, 2, 0, 0, 40), "max_tx_vq 0");
    BAD(rss_cmd(c, t, 2, ident, 2, 0, 5, 40), "max_tx_vq 5");
    BAD(rss_cmd(c, t, 2, ident, 2, 0, 4, 41), "a key of 41 bytes");
    BAD(rss_cmd(c, t, 2, ident, 2, 0, 4, 0), "a hash without a key");
    BAD(rss_cmd(c, 1u << 6, 2, ident, 2, 0, 4, 40), "hash type IP_EX (not offered)");
    BAD(rss_cmd(c, 1u << 31, 2, ident, 2, 0, 4, 40), "an unknown hash type");
    BAD(rss_cmd(c, t, 2, ident, 2, 0, 4, 40) - 1, "a key cut short");
    BAD(rss_cmd(c, t, 2, ident, 2, 0, 4, 40) + 1, "a trailing byte");
    BAD(7, "7 bytes");
    BAD(8 + 2 * 2 + 2, "no key length");
    ck_assert_uint_eq(nc, 15);
#undef BAD
    ck_assert(!memcmp(&before, &B.n->mq.cfg, sizeof(before)));
    ck_assert_uint_eq(B.n->mq.active, 1);
    /* VQ_PAIRS_SET after RSS: automatic steering again (the last command decides) */
    ck_assert_uint_eq(pairs_set(&B, 2), VIRTIO_NET_OK);
    ck_assert(!B.n->mq.rss);
}
END_TEST

/* With the published key and an identity table of 4, each test vector's frame lands on rx
 * queue hash & 3; what no enabled type classifies goes to unclassified_queue. */
START_TEST(rss_places_frames)
{
    pair_up("queues 4", BASIC_FEATURES | F_MQ | F_RSS, 32);
    static uint8_t c[8 + 2 * 4 + 3 + 40];
    const uint16_t ident[4] = {0, 1, 2, 3};
    size_t len = rss_cmd(c, VIRTIO_NET_HASH_TYPE_TCPv4, 4, ident, 4, 1, 4, 40);
    ck_assert_uint_eq(rss_send(&B, c, len), VIRTIO_NET_OK);
    uint8_t f[128];
    unsigned seen = 0;
    for (unsigned i = 0; i < sizeof(v4_vectors) / sizeof(v4_vectors[0]); i++) {
        len = l4_frame(f, v4_vectors[i].src, v4_vectors[i].dst, v4_vectors[i].sport,
                       v4_vectors[i].dport, 6);
        send_from(&A, NET_Q_TX, f, len);
        int q = arrives_on(&B);
        ck_assert_int_eq(q, (int)(2 * (v4_vectors[i].tcp & 3)));
        seen |= 1u << (q / 2);
    }
    ck_assert_uint_eq(seen, 0xd); /* hashes & 3: 0, 2, 2, 3, 2 */
    /* UDP (only TCPv4 enabled) and ARP: unclassified, pair 1 */
    len = l4_frame(f, v4_vectors[0].src, v4_vectors[0].dst, 1, 2, 17);
    send_from(&A, NET_Q_TX, f, len);
    ck_assert_int_eq(arrives_on(&B), 2);
    memset(f + 12, 0, 50);
    net_put_be16(f + 12, 0x0806);
    send_from(&A, NET_Q_TX, f, 60);
    ck_assert_int_eq(arrives_on(&B), 2);
    char *line = status_of(&B);
    ck_assert_msg(strstr(line, " queue-pairs 4 active 4 steering rss "), "%s", line);
    free(line);
}
END_TEST

/* A frame held (mergeable buffers, too few posted) on a queue that then stops being the
 * one it is steered to goes back there and is delivered on the new queue. */
START_TEST(held_frame_follows_new_steering)
{
    pair_up("queues 2", BASIC_FEATURES | F_MQ | NET_BIT(VIRTIO_NET_F_MRG_RXBUF), 0);
    ck_assert_uint_eq(pairs_set(&B, 2), VIRTIO_NET_OK);
    drv_post_rx_q(&B, 0, 4, 2048);
    drv_post_rx_q(&B, 2, 1, 256); /* too small for the frame below */
    uint8_t f[1200], a[4], b[4];
    ip4(a, 10, 0, 0, 1), ip4(b, 10, 0, 0, 2);
    /* a flow that hashes to pair 1 */
    uint16_t port = 0;
    size_t len = 0;
    for (uint16_t p = 7000; p < 7100 && !port; p++) {
        len = l4_frame(f, a, b, p, 80, 17);
        if (net_mq_rx_pair(B.n, f, len) == 1)
            port = p;
    }
    ck_assert(port);
    len = l4_frame(f, a, b, port, 80, 17) + 900;
    memset(f + len - 900, 0x33, 900);
    send_from(&A, NET_Q_TX, f, len);
    for (int i = 0; i < 2000 && !B.n->rx_wait_buffers; i++)
        usleep(1000);
    ck_assert(B.n->rx_wait_buffers);
    ck_assert_uint_eq(B.n->rx_wait_vq, 2);
    ck_assert_uint_eq(pairs_set(&B, 1), VIRTIO_NET_OK); /* now everything goes to rx0 */
    uint32_t id, ulen;
    ck_assert(drv_used(&B, 0, &id, &ulen, 5000));
    ck_assert_uint_eq(ulen, NET_HDR_LEN + len);
    ck_assert(!drv_used(&B, 2, &id, &ulen, 50)); /* rx1's small buffer went back unused */
    ck_assert_uint_eq(B.n->rx_held, 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("net_mq");
    TCase *tc = tcase_create("mq");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, layout_and_config_space);
    tcase_add_test(tc, mq_and_rss_need_the_control_queue);
    tcase_add_test(tc, queues_option_errors);
    tcase_add_test(tc, vq_pairs_set_checked);
    tcase_add_test(tc, unknown_flows_spread_over_active_pairs_only);
    tcase_add_test(tc, a_flow_comes_back_on_the_pair_that_sent_it);
    tcase_add_test(tc, toeplitz_matches_the_verification_suite);
    tcase_add_test(tc, rss_hash_of_frames);
    tcase_add_test(tc, rss_config_checked);
    tcase_add_test(tc, rss_places_frames);
    tcase_add_test(tc, held_frame_follows_new_steering);
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
