/* The kernel's rtnetlink replies as hostdev reads them (lib/hostdev/hostdev_nl_msg.c, and the
 * exchanges of hostdev_nl.c): the kernel is trusted less than one would think, and a reply
 * is bytes with lengths inside lengths. The input's first byte picks what to drive:
 *   0  hd_nl_parse_link on the rest (an RTM_GETLINK reply for ifindex 4, sequence 1)
 *   1  hd_nl_parse_ack on the rest
 *   2  hd_nl_get_vf, the peer answering with the rest as datagrams ([u16 length][bytes]...)
 *   3  hd_nl_set_vf (MAC and VLAN), the same way
 * and the second the VF (0-3). Asserted, whatever the bytes:
 *   - an answer's VF has VLAN <= 4095 and priority <= 7, and was counted among the VFs;
 *   - a kernel error is an errno (1-4095) and its words hold no control byte;
 *   - every message (why, ext, err) is a terminated string, non-empty when it says why;
 *   - no read outside the datagram (each is an exact heap copy), no leak, no hang. */
/* FUZZ_ARGS: -max_len=8192 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "hostdev_internal.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_hostdev_netlink: invariant broken: %s\n", #cond);                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void check_text(const char *s, size_t cap, bool nonempty)
{
    size_t n = strnlen(s, cap);
    CHECK(n < cap);
    CHECK(!nonempty || n > 0);
}

static void check_ext(const char *ext, size_t cap)
{
    check_text(ext, cap, false);
    for (const char *p = ext; *p; p++)
        CHECK((unsigned char)*p >= ' ' && *p != 0x7f);
}

static void check_link(const struct hd_link *l)
{
    if (!l->found)
        return;
    CHECK(l->has_vfs && l->nvfs >= 1);
    CHECK(l->vf.vlan <= 4095 && l->vf.qos <= 7);
}

/* The peer: requests go nowhere, replies come from the input. */
static int peer_send(void *ctx, const void *msg, size_t len)
{
    (void)ctx;
    CHECK(len >= 16 && len <= HD_NL_REQ_MAX);
    uint32_t hlen;
    memcpy(&hlen, msg, 4);
    CHECK(hlen == len);
    return 0;
}

static ssize_t peer_recv(void *ctx, uint8_t **msg)
{
    struct fz_in *in = ctx;
    *msg = NULL;
    if (fz_left(in) < 2)
        return -ETIMEDOUT;
    size_t len = fz_u16(in);
    if (len == 0xffff)
        return 0; /* a datagram from someone else */
    len = len < fz_left(in) ? len : fz_left(in);
    *msg = malloc(len ? len : 1);
    fz_take(in, *msg, len);
    return (ssize_t)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = {data, size};
    uint8_t mode = fz_u8(&in) % 4;
    uint32_t vf = fz_u8(&in) % 4;
    char why[256], ext[128];
    int kerr = 0;
    if (mode < 2) {
        size_t len = fz_left(&in);
        uint8_t *copy = malloc(len ? len : 1); /* exactly the datagram: ASan sees past it */
        fz_take(&in, copy, len);
        struct hd_link l;
        enum hd_nl_status st =
            mode == 0 ? hd_nl_parse_link(copy, len, 1, 4, vf, &l, &kerr, ext, sizeof(ext), why,
                                         sizeof(why))
                      : hd_nl_parse_ack(copy, len, 1, &kerr, ext, sizeof(ext), why, sizeof(why));
        free(copy);
        CHECK(st <= HD_NL_MALFORMED);
        if (st == HD_NL_ANSWER && mode == 0)
            check_link(&l);
        if (st == HD_NL_ERROR) {
            CHECK(kerr >= 1 && kerr <= 4095);
            check_ext(ext, sizeof(ext));
        }
        if (st == HD_NL_MALFORMED)
            check_text(why, sizeof(why), true);
        return 0;
    }
    struct hd_hooks hooks = {.nl_send = peer_send, .nl_recv = peer_recv, .ctx = &in};
    struct hd_ctx c;
    struct vdev_err err = {0};
    if (hd_ctx_init(&c, NULL, &hooks, &err))
        abort();
    struct vdev_hostdev_vf v = {
        .bdf = "0000:01:10.0", .pf_ifname = "enp1s0", .pf_ifindex = 4, .vf = vf};
    int rc;
    if (mode == 2) {
        struct hd_link l;
        rc = hd_nl_get_vf(&c, &v, &l, &err);
        if (rc == 0) {
            CHECK(l.found);
            check_link(&l);
        }
    } else {
        static const uint8_t mac[6] = {0x02, 0, 0, 0, 0, 1};
        struct hd_vf_cfg vlan = {.vlan = 10, .qos = 1};
        rc = hd_nl_set_vf(&c, &v, mac, &vlan, &err);
    }
    CHECK(rc == 0 || rc == -1);
    if (rc)
        check_text(err.msg, sizeof(err.msg), true);
    hd_ctx_close(&c);
    return 0;
}
