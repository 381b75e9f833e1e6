/* virtio-net tests' shared fixture: the synthetic guest of net_guest.h (a fake transport
 * bound instead of virtio-pci, a virtio driver with its rings in the fake guest RAM), with
 * Check for its failures, and the helpers the tests add to it (send and wait, receive
 * buffers, control commands, a UDP frame), for NICs in machines of this process
 * (test_net_link, test_net_capture, test_net_peer, test_net_tap). Include it once, after the
 * module's headers. */
#ifndef VDEVKIT_TEST_NET_FIXTURE_H
#define VDEVKIT_TEST_NET_FIXTURE_H

#include <check.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define NET_GUEST_FAIL(...) ck_abort_msg(__VA_ARGS__)
#include "net_guest.h"
#include "netpeer/net_offload.h"

#define NET_FIXTURE_UNUSED NET_GUEST_UNUSED

/* Writes the driver's used_event (EVENT_IDX): interrupt once the used index passes it. */
static NET_FIXTURE_UNUSED void drv_used_event(struct drv *v, unsigned q, uint16_t ev)
{
    __atomic_store_n((uint16_t *)gpa(v, v->q[q].avail + 4 + 2u * QSIZE), ev, __ATOMIC_RELEASE);
}

/* Waits for the next used entry of queue q. */
static NET_FIXTURE_UNUSED bool drv_used(struct drv *v, unsigned q, uint32_t *id, uint32_t *len,
                                        int timeout_ms)
{
    struct drvq *dq = &v->q[q];
    for (int t = 0; t <= timeout_ms; t++) {
        if (drv_used_idx(v, q) != dq->used_seen) {
            uint8_t *e = gpa(v, dq->used + 4 + 8u * (dq->used_seen % QSIZE));
            memcpy(id, e, 4);
            memcpy(len, e + 4, 4);
            dq->used_seen++;
            return true;
        }
        usleep(1000);
    }
    return false;
}

/* Posts `count` receive buffers of `size` bytes on rx queue `q`; returns the first's address. */
static NET_FIXTURE_UNUSED uint64_t drv_post_rx_q(struct drv *v, unsigned q, unsigned count,
                                                 uint32_t size)
{
    uint64_t first = 0;
    for (unsigned i = 0; i < count; i++) {
        struct dbuf b = {alloc_buf(v, size), size, F_WRITE};
        if (!i)
            first = b.addr;
        drv_add(v, q, &b, 1);
    }
    return first;
}

static NET_FIXTURE_UNUSED uint64_t drv_post_rx(struct drv *v, unsigned count, uint32_t size)
{
    return drv_post_rx_q(v, NET_Q_RX, count, size);
}

/* Sends header + frame (copied to guest addresses ha, fa) as a two-descriptor chain on tx
 * queue `q` and waits for it to be used. */
static NET_FIXTURE_UNUSED void drv_send_at_q(struct drv *v, unsigned q, uint64_t ha, uint64_t fa,
                                             const struct net_hdr *h, const uint8_t *frame,
                                             size_t len)
{
    net_hdr_store(h, gpa(v, ha));
    memcpy(gpa(v, fa), frame, len);
    struct dbuf b[2] = {{ha, NET_HDR_LEN, 0}, {fa, (uint32_t)len, 0}};
    uint16_t head = drv_add(v, q, b, 2);
    uint32_t id, ulen;
    ck_assert_msg(drv_used(v, q, &id, &ulen, 5000), "tx chain never used");
    ck_assert_uint_eq(id, head);
}

static NET_FIXTURE_UNUSED void drv_send_at(struct drv *v, uint64_t ha, uint64_t fa,
                                           const struct net_hdr *h, const uint8_t *frame,
                                           size_t len)
{
    drv_send_at_q(v, NET_Q_TX, ha, fa, h, frame, len);
}

static NET_FIXTURE_UNUSED void drv_send(struct drv *v, const struct net_hdr *h,
                                        const uint8_t *frame, size_t len)
{
    drv_send_at(v, alloc_buf(v, NET_HDR_LEN), alloc_buf(v, len), h, frame, len);
}

/* A control command; returns the ack byte. */
static NET_FIXTURE_UNUSED uint8_t drv_ctrl(struct drv *v, uint8_t cls, uint8_t cmd,
                                           const void *data, size_t len)
{
    uint64_t ca = alloc_buf(v, 2 + len), aa = alloc_buf(v, 1);
    uint8_t *c = gpa(v, ca);
    c[0] = cls;
    c[1] = cmd;
    memcpy(c + 2, data, len);
    *gpa(v, aa) = 0xee;
    struct dbuf b[2] = {{ca, (uint32_t)(2 + len), 0}, {aa, 1, F_WRITE}};
    drv_add(v, v->ctrlq, b, 2);
    uint32_t id, ulen;
    ck_assert(drv_used(v, v->ctrlq, &id, &ulen, 5000));
    ck_assert_uint_eq(ulen, 1);
    return *gpa(v, aa);
}

static NET_FIXTURE_UNUSED uint16_t cfg_status(struct drv *v)
{
    return (uint16_t)vdev_virtio_config_read(v->vio, NET_CFG_STATUS, 2);
}

/* A UDP/IPv4 frame to `dst` with `payload` bytes. */
static NET_FIXTURE_UNUSED size_t udp_frame(uint8_t *f, const uint8_t dst[6], const uint8_t src[6],
                                           size_t payload)
{
    memset(f, 0, 14 + 28 + payload);
    uint8_t *udp = eth_ipv4(f, dst, src, 17, 14 + 28 + payload);
    net_put_be16(udp, 1000);
    net_put_be16(udp + 2, 2000);
    net_put_be16(udp + 4, (uint16_t)(8 + payload));
    for (size_t i = 0; i < payload; i++)
        udp[8 + i] = (uint8_t)(i ^ 0x5a);
    return 14 + 28 + payload;
}

#endif
