/* hostdev's rtnetlink (lib/hostdev/hostdev_nl*.c): the requests byte for byte, the reply
 * parsers against kernel-shaped replies, every truncation of one, lying lengths, values out
 * of range and random bytes, and the exchanges through a fake peer that fails the ways the
 * kernel does (EPERM, EOPNOTSUPP, ENODEV, no answer, garbage), each with its message. */
#include <check.h>
#include <errno.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>

#include "hostdev_fake.h"

static struct hd_fake f;
static struct hd_ctx c;
static struct vdev_err err;
static char why[256], ext[256];
static const struct vdev_hostdev_vf vf1 = {.bdf = FAKE_VF1,
                                           .pf_bdf = FAKE_PF,
                                           .pf_ifname = FAKE_IFNAME,
                                           .pf_ifindex = FAKE_IFINDEX,
                                           .vf = 1,
                                           .driver = "igbvf"};

static void setup(void)
{
    hd_fake_init(&f);
    ck_assert_int_eq(hd_ctx_init(&c, &f.env, &f.hooks, &err), 0);
    memset(&err, 0, sizeof(err));
}

static void teardown(void)
{
    hd_ctx_close(&c);
    hd_fake_fini(&f);
}

/* Little-endian fields of an expected message. */
struct want {
    uint8_t b[256];
    size_t n;
};

static void w16(struct want *w, uint16_t v)
{
    w->b[w->n++] = v & 0xff;
    w->b[w->n++] = v >> 8;
}

static void w32(struct want *w, uint32_t v)
{
    w16(w, v & 0xffff);
    w16(w, v >> 16);
}

static void wzero(struct want *w, size_t n)
{
    memset(w->b + w->n, 0, n);
    w->n += n;
}

/* The header and ifinfomsg of a request for ifindex 4. */
static void whead(struct want *w, uint32_t len, uint16_t type, uint16_t flags, uint32_t seq)
{
    w32(w, len);
    w16(w, type);
    w16(w, flags);
    w32(w, seq);
    w32(w, 0);   /* nlmsg_pid: the kernel fills it */
    w32(w, 0);   /* ifi_family AF_UNSPEC, pad, ifi_type */
    w32(w, 4);   /* ifi_index */
    wzero(w, 8); /* ifi_flags, ifi_change */
}

START_TEST(getlink_request_bytes)
{
    uint8_t buf[HD_NL_REQ_MAX];
    struct want w = {.n = 0};
    whead(&w, 40, 18 /* RTM_GETLINK */, 1 /* NLM_F_REQUEST */, 7);
    w16(&w, 8);
    w16(&w, 29); /* IFLA_EXT_MASK */
    w32(&w, 1);  /* RTEXT_FILTER_VF */
    size_t n = hd_nl_getlink_req(buf, sizeof(buf), 7, 4);
    ck_assert_uint_eq(n, w.n);
    ck_assert_mem_eq(buf, w.b, n);
    ck_assert_uint_eq(hd_nl_getlink_req(buf, 39, 7, 4), 0); /* does not fit: nothing */
}
END_TEST

START_TEST(setlink_request_bytes)
{
    uint8_t buf[HD_NL_REQ_MAX];
    static const uint8_t mac[6] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55};
    struct hd_vf_cfg vlan = {.vlan = 100, .qos = 3};
    /* MAC and VLAN: IFLA_VFINFO_LIST > IFLA_VF_INFO > IFLA_VF_MAC, IFLA_VF_VLAN */
    struct want w = {.n = 0};
    whead(&w, 96, 19 /* RTM_SETLINK */, 5 /* NLM_F_REQUEST | NLM_F_ACK */, 9);
    w16(&w, 64);
    w16(&w, 22 | 0x8000); /* IFLA_VFINFO_LIST, NLA_F_NESTED */
    w16(&w, 60);
    w16(&w, 1 | 0x8000); /* IFLA_VF_INFO, NLA_F_NESTED */
    w16(&w, 40);
    w16(&w, 1); /* IFLA_VF_MAC {vf, mac[32]} */
    w32(&w, 1);
    memcpy(w.b + w.n, mac, 6);
    w.n += 6;
    wzero(&w, 26);
    w16(&w, 16);
    w16(&w, 2); /* IFLA_VF_VLAN {vf, vlan, qos} */
    w32(&w, 1);
    w32(&w, 100);
    w32(&w, 3);
    size_t n = hd_nl_setvf_req(buf, sizeof(buf), 9, 4, 1, mac, &vlan);
    ck_assert_uint_eq(n, w.n);
    ck_assert_mem_eq(buf, w.b, n);
    /* MAC alone, VLAN alone */
    ck_assert_uint_eq(hd_nl_setvf_req(buf, sizeof(buf), 9, 4, 1, mac, NULL), 80);
    ck_assert_mem_eq(buf + 40, w.b + 40, 40);
    ck_assert_uint_eq(hd_nl_setvf_req(buf, sizeof(buf), 9, 4, 1, NULL, &vlan), 56);
    ck_assert_mem_eq(buf + 40, w.b + 80, 16);
    ck_assert_uint_eq(hd_nl_setvf_req(buf, 95, 9, 4, 1, mac, &vlan), 0);
}
END_TEST

static enum hd_nl_status link_of(const uint8_t *msg, size_t len, uint32_t vf, struct hd_link *l)
{
    int kerr;
    /* An exact heap copy: a read past the end is an ASan report. */
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, msg, len);
    enum hd_nl_status st = hd_nl_parse_link(copy, len, 7, FAKE_IFINDEX, vf, l, &kerr, ext,
                                            sizeof(ext), why, sizeof(why));
    free(copy);
    return st;
}

START_TEST(parses_a_kernel_reply)
{
    uint8_t buf[4096];
    struct fake_vf vfs[3] = {{.mac = {0x52, 0x54, 0, 1, 2, 3}},
                             {.mac = {0x02, 0, 0, 0, 0, 1}, .vlan = 100, .qos = 5},
                             {.vlan = 4095}};
    size_t n = hd_fake_newlink(buf, sizeof(buf), 7, FAKE_IFINDEX, true, vfs, 3);
    struct hd_link l;
    ck_assert_int_eq(link_of(buf, n, 1, &l), HD_NL_ANSWER);
    ck_assert(l.up && l.has_vfs && l.found);
    ck_assert_uint_eq(l.nvfs, 3);
    ck_assert_mem_eq(l.vf.mac, vfs[1].mac, 6);
    ck_assert_uint_eq(l.vf.vlan, 100);
    ck_assert_uint_eq(l.vf.qos, 5);
    ck_assert_int_eq(link_of(buf, n, 2, &l), HD_NL_ANSWER);
    ck_assert_uint_eq(l.vf.vlan, 4095);
    /* no such VF; a PF that is down */
    ck_assert_int_eq(link_of(buf, n, 3, &l), HD_NL_ANSWER);
    ck_assert(l.has_vfs && !l.found);
    n = hd_fake_newlink(buf, sizeof(buf), 7, FAKE_IFINDEX, false, vfs, 0);
    ck_assert_int_eq(link_of(buf, n, 0, &l), HD_NL_ANSWER);
    ck_assert(!l.up && l.has_vfs && !l.found && l.nvfs == 0);
    /* no list at all (a NIC without SR-IOV) */
    struct hd_fake_msg m = {buf, sizeof(buf), 0};
    struct nlmsghdr h = {.nlmsg_type = RTM_NEWLINK, .nlmsg_seq = 7};
    struct ifinfomsg ifi = {.ifi_index = FAKE_IFINDEX};
    hd_fake_put(&m, &h, sizeof(h));
    hd_fake_put(&m, &ifi, sizeof(ifi));
    hd_fake_attr_put(&m, IFLA_IFNAME, "eth0", 5);
    n = hd_fake_done(&m);
    ck_assert_int_eq(link_of(buf, n, 0, &l), HD_NL_ANSWER);
    ck_assert(!l.has_vfs && !l.found);
}
END_TEST

/* Other requests' replies and NOOPs before ours are passed over; only them: read on. */
START_TEST(skips_what_is_not_the_answer)
{
    uint8_t buf[8192];
    struct fake_vf vfs[2] = {{.vlan = 1}, {.vlan = 2}};
    size_t a = hd_fake_error(buf, sizeof(buf), 6, -EINVAL, NULL, true);
    struct nlmsghdr noop = {.nlmsg_len = sizeof(noop), .nlmsg_type = NLMSG_NOOP, .nlmsg_seq = 7};
    memcpy(buf + a, &noop, sizeof(noop));
    a += sizeof(noop);
    size_t n = a + hd_fake_newlink(buf + a, sizeof(buf) - a, 7, FAKE_IFINDEX, true, vfs, 2);
    struct hd_link l;
    ck_assert_int_eq(link_of(buf, n, 1, &l), HD_NL_ANSWER);
    ck_assert_uint_eq(l.vf.vlan, 2);
    ck_assert_int_eq(link_of(buf, a, 1, &l), HD_NL_UNRELATED);
    ck_assert_int_eq(link_of(buf, 0, 1, &l), HD_NL_UNRELATED);
    int kerr;
    ck_assert_int_eq(hd_nl_parse_ack(buf, a, 7, &kerr, ext, sizeof(ext), why, sizeof(why)),
                     HD_NL_UNRELATED);
}
END_TEST

START_TEST(errors_and_acks)
{
    uint8_t buf[512];
    int kerr;
    struct hd_link l;
    size_t n = hd_fake_error(buf, sizeof(buf), 7, 0, NULL, true);
    ck_assert_int_eq(hd_nl_parse_ack(buf, n, 7, &kerr, ext, sizeof(ext), why, sizeof(why)),
                     HD_NL_ANSWER);
    ck_assert_int_eq(link_of(buf, n, 0, &l), HD_NL_MALFORMED);
    ck_assert_str_eq(why, "an ACK where the link was expected");
    /* the kernel's words, capped or after the quoted request */
    for (int capped = 0; capped < 2; capped++) {
        n = hd_fake_error(buf, sizeof(buf), 7, -EPERM, "VF MAC not allowed\n\x1b[2J", capped);
        ck_assert_int_eq(hd_nl_parse_ack(buf, n, 7, &kerr, ext, sizeof(ext), why, sizeof(why)),
                         HD_NL_ERROR);
        ck_assert_int_eq(kerr, EPERM);
        ck_assert_str_eq(ext, "VF MAC not allowed??[2J");
        ck_assert_int_eq(link_of(buf, n, 0, &l), HD_NL_ERROR);
    }
    /* words without their NUL are not read; an error without words has none */
    n = hd_fake_error(buf, sizeof(buf), 7, -EOPNOTSUPP, "abc", true);
    memset(buf + n - 4, 'x', 4); /* "abc" and its NUL: no padding after them */
    ck_assert_int_eq(hd_nl_parse_ack(buf, n, 7, &kerr, ext, sizeof(ext), why, sizeof(why)),
                     HD_NL_ERROR);
    ck_assert_int_eq(kerr, EOPNOTSUPP);
    ck_assert_str_eq(ext, "");
    /* a small ext buffer cuts the words */
    n = hd_fake_error(buf, sizeof(buf), 7, -EPERM, "a long explanation", true);
    char small[5];
    ck_assert_int_eq(hd_nl_parse_ack(buf, n, 7, &kerr, small, sizeof(small), why, sizeof(why)),
                     HD_NL_ERROR);
    ck_assert_str_eq(small, "a lo");
}
END_TEST

/* Every prefix of a good reply: never read past it, never taken for an answer. */
START_TEST(every_truncation_is_refused)
{
    uint8_t buf[4096];
    struct fake_vf vfs[2] = {{.vlan = 1}, {.vlan = 2}};
    size_t n = hd_fake_newlink(buf, sizeof(buf), 7, FAKE_IFINDEX, true, vfs, 2);
    struct hd_link l;
    for (size_t len = 1; len < n; len++) {
        enum hd_nl_status st = link_of(buf, len, 1, &l);
        ck_assert_msg(st == HD_NL_MALFORMED, "%zu of %zu bytes: %d", len, n, st);
    }
    /* and with the header's length cut to match: the attributes no longer add up, or the
     * VF is not there */
    for (size_t len = 32; len < n; len += 4) {
        uint32_t l32 = (uint32_t)len;
        uint8_t copy[4096];
        memcpy(copy, buf, len);
        memcpy(copy, &l32, 4);
        enum hd_nl_status st = link_of(copy, len, 1, &l);
        ck_assert_msg(st == HD_NL_MALFORMED || (st == HD_NL_ANSWER && !l.found), "%zu: %d", len,
                      st);
    }
    n = hd_fake_error(buf, sizeof(buf), 7, -EPERM, "words", false);
    for (size_t len = 1; len < n; len++) {
        int kerr;
        uint8_t *copy = malloc(len);
        memcpy(copy, buf, len);
        enum hd_nl_status st =
            hd_nl_parse_ack(copy, len, 7, &kerr, ext, sizeof(ext), why, sizeof(why));
        free(copy);
        ck_assert_msg(st == HD_NL_MALFORMED, "%zu of %zu bytes: %d", len, n, st);
    }
}
END_TEST

/* A reply for VF 1 whose parts can be spoiled: IFLA_VF_INFO holds what `info` adds. */
static size_t reply_with(uint8_t *buf, size_t cap, void (*info)(struct hd_fake_msg *m))
{
    struct hd_fake_msg m = {buf, cap, 0};
    struct nlmsghdr h = {.nlmsg_type = RTM_NEWLINK, .nlmsg_seq = 7};
    struct ifinfomsg ifi = {.ifi_index = FAKE_IFINDEX};
    hd_fake_put(&m, &h, sizeof(h));
    hd_fake_put(&m, &ifi, sizeof(ifi));
    size_t list = hd_fake_nest(&m, IFLA_VFINFO_LIST);
    size_t vi = hd_fake_nest(&m, IFLA_VF_INFO);
    info(&m);
    hd_fake_end(&m, vi);
    hd_fake_end(&m, list);
    return hd_fake_done(&m);
}

static void vf_mac(struct hd_fake_msg *m, uint32_t vf, size_t len)
{
    struct ifla_vf_mac mac = {.vf = vf};
    hd_fake_attr_put(m, IFLA_VF_MAC, &mac, len);
}

static void vf_vlan(struct hd_fake_msg *m, uint32_t vf, uint32_t vlan, uint32_t qos, size_t len)
{
    struct ifla_vf_vlan v = {.vf = vf, .vlan = vlan, .qos = qos};
    hd_fake_attr_put(m, IFLA_VF_VLAN, &v, len);
}

static void good(struct hd_fake_msg *m)
{
    vf_mac(m, 1, sizeof(struct ifla_vf_mac));
    vf_vlan(m, 1, 7, 1, sizeof(struct ifla_vf_vlan));
}
static void short_mac(struct hd_fake_msg *m)
{
    vf_mac(m, 1, 20);
    vf_vlan(m, 1, 7, 1, sizeof(struct ifla_vf_vlan));
}
static void short_vlan(struct hd_fake_msg *m)
{
    vf_mac(m, 1, sizeof(struct ifla_vf_mac));
    vf_vlan(m, 1, 7, 1, 8);
}
static void no_mac(struct hd_fake_msg *m)
{
    vf_vlan(m, 1, 7, 1, sizeof(struct ifla_vf_vlan));
}
static void no_vlan(struct hd_fake_msg *m)
{
    vf_mac(m, 1, sizeof(struct ifla_vf_mac));
}
static void two_macs(struct hd_fake_msg *m)
{
    good(m);
    vf_mac(m, 1, sizeof(struct ifla_vf_mac));
}
static void two_vlans(struct hd_fake_msg *m)
{
    good(m);
    vf_vlan(m, 1, 7, 1, sizeof(struct ifla_vf_vlan));
}
static void mixed_vfs(struct hd_fake_msg *m)
{
    vf_mac(m, 1, sizeof(struct ifla_vf_mac));
    vf_vlan(m, 0, 7, 1, sizeof(struct ifla_vf_vlan));
}
static void vlan_too_big(struct hd_fake_msg *m)
{
    vf_mac(m, 1, sizeof(struct ifla_vf_mac));
    vf_vlan(m, 1, 4096, 0, sizeof(struct ifla_vf_vlan));
}
static void qos_too_big(struct hd_fake_msg *m)
{
    vf_mac(m, 1, sizeof(struct ifla_vf_mac));
    vf_vlan(m, 1, 1, 8, sizeof(struct ifla_vf_vlan));
}

START_TEST(lies_and_values_out_of_range)
{
    static const struct {
        void (*info)(struct hd_fake_msg *m);
        const char *why;
    } cases[] = {
        {short_mac, "an IFLA_VF_MAC of 20 bytes"},
        {short_vlan, "an IFLA_VF_VLAN of 8 bytes"},
        {no_mac, "an IFLA_VF_INFO without its IFLA_VF_MAC"},
        {no_vlan, "an IFLA_VF_INFO without its IFLA_VF_VLAN"},
        {two_macs, "an IFLA_VF_MAC of 36 bytes, the second in one VF entry"},
        {two_vlans, "an IFLA_VF_VLAN of 12 bytes, the second in one VF entry"},
        {mixed_vfs, "an IFLA_VF_INFO whose MAC is VF 1's and VLAN VF 0's"},
        {vlan_too_big, "VF 1 with VLAN 4096, priority 0 (beyond 4095 and 7)"},
        {qos_too_big, "VF 1 with VLAN 1, priority 8 (beyond 4095 and 7)"},
    };
    uint8_t buf[1024];
    struct hd_link l;
    size_t n = reply_with(buf, sizeof(buf), good);
    ck_assert_int_eq(link_of(buf, n, 1, &l), HD_NL_ANSWER);
    ck_assert(l.found && l.vf.vlan == 7 && l.vf.qos == 1);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n = reply_with(buf, sizeof(buf), cases[i].info);
        ck_assert_int_eq(link_of(buf, n, 1, &l), HD_NL_MALFORMED);
        ck_assert_str_eq(why, cases[i].why);
    }
    /* an attribute longer than what holds it, or shorter than its header */
    n = reply_with(buf, sizeof(buf), good);
    uint16_t big = 200, tiny = 2;
    memcpy(buf + 32, &big, 2); /* IFLA_VFINFO_LIST's nla_len */
    ck_assert_int_eq(link_of(buf, n, 1, &l), HD_NL_MALFORMED);
    ck_assert_str_eq(why, "an RTM_NEWLINK whose attribute lengths do not add up");
    n = reply_with(buf, sizeof(buf), good);
    memcpy(buf + 36, &big, 2); /* IFLA_VF_INFO's */
    ck_assert_int_eq(link_of(buf, n, 1, &l), HD_NL_MALFORMED);
    ck_assert_str_eq(why, "an IFLA_VFINFO_LIST whose attribute lengths do not add up");
    n = reply_with(buf, sizeof(buf), good);
    memcpy(buf + 40, &tiny, 2); /* IFLA_VF_MAC's */
    ck_assert_int_eq(link_of(buf, n, 1, &l), HD_NL_MALFORMED);
    ck_assert_str_eq(why, "an IFLA_VF_INFO whose attribute lengths do not add up");
    /* another interface's reply; another type; too short for an ifinfomsg */
    n = reply_with(buf, sizeof(buf), good);
    int32_t other = 5;
    memcpy(buf + 20, &other, 4);
    ck_assert_int_eq(link_of(buf, n, 1, &l), HD_NL_MALFORMED);
    ck_assert_str_eq(why, "a reply about interface 5, not 4");
    n = reply_with(buf, sizeof(buf), good);
    uint16_t type = RTM_NEWADDR;
    memcpy(buf + 4, &type, 2);
    ck_assert_int_eq(link_of(buf, n, 1, &l), HD_NL_MALFORMED);
    ck_assert_str_eq(why, "a message of type 20 where RTM_NEWLINK was expected");
    struct nlmsghdr h = {.nlmsg_len = 24, .nlmsg_type = RTM_NEWLINK, .nlmsg_seq = 7};
    memset(buf, 0, 24);
    memcpy(buf, &h, sizeof(h));
    ck_assert_int_eq(link_of(buf, 24, 1, &l), HD_NL_MALFORMED);
    ck_assert_str_eq(why, "an RTM_NEWLINK of 8 bytes");
    /* a message length below its header */
    h.nlmsg_len = 8;
    memcpy(buf, &h, sizeof(h));
    ck_assert_int_eq(link_of(buf, 24, 1, &l), HD_NL_MALFORMED);
    ck_assert_str_eq(why, "message lengths that do not add up (24 bytes)");
}
END_TEST

START_TEST(a_vf_listed_twice_and_two_lists)
{
    uint8_t buf[1024];
    struct hd_fake_msg m = {buf, sizeof(buf), 0};
    struct nlmsghdr h = {.nlmsg_type = RTM_NEWLINK, .nlmsg_seq = 7};
    struct ifinfomsg ifi = {.ifi_index = FAKE_IFINDEX};
    hd_fake_put(&m, &h, sizeof(h));
    hd_fake_put(&m, &ifi, sizeof(ifi));
    size_t list = hd_fake_nest(&m, IFLA_VFINFO_LIST);
    for (int i = 0; i < 2; i++) {
        size_t vi = hd_fake_nest(&m, IFLA_VF_INFO);
        good(&m);
        hd_fake_end(&m, vi);
    }
    hd_fake_end(&m, list);
    size_t n = hd_fake_done(&m);
    struct hd_link l;
    ck_assert_int_eq(link_of(buf, n, 1, &l), HD_NL_MALFORMED);
    ck_assert_str_eq(why, "VF 1 listed twice");
    ck_assert_int_eq(link_of(buf, n, 0, &l), HD_NL_ANSWER); /* another VF: both entries count */
    ck_assert(!l.found && l.nvfs == 2);
    /* a second IFLA_VFINFO_LIST */
    m.len = n;
    list = hd_fake_nest(&m, IFLA_VFINFO_LIST);
    hd_fake_end(&m, list);
    n = hd_fake_done(&m);
    ck_assert_int_eq(link_of(buf, n, 0, &l), HD_NL_MALFORMED);
    ck_assert_str_eq(why, "two IFLA_VFINFO_LISTs");
}
END_TEST

START_TEST(bad_error_messages)
{
    uint8_t buf[512];
    int kerr;
    size_t n = hd_fake_error(buf, sizeof(buf), 7, 5, NULL, true);
    ck_assert_int_eq(hd_nl_parse_ack(buf, n, 7, &kerr, ext, sizeof(ext), why, sizeof(why)),
                     HD_NL_MALFORMED);
    ck_assert_str_eq(why, "an NLMSG_ERROR with error 5, which is no errno");
    n = hd_fake_error(buf, sizeof(buf), 7, -5000, NULL, true);
    ck_assert_int_eq(hd_nl_parse_ack(buf, n, 7, &kerr, ext, sizeof(ext), why, sizeof(why)),
                     HD_NL_MALFORMED);
    n = hd_fake_error(buf, sizeof(buf), 7, -EPERM, "w", false);
    uint32_t quoted = 8; /* less than a header */
    memcpy(buf + 20, &quoted, 4);
    ck_assert_int_eq(hd_nl_parse_ack(buf, n, 7, &kerr, ext, sizeof(ext), why, sizeof(why)),
                     HD_NL_MALFORMED);
    ck_assert_str_eq(why, "an NLMSG_ERROR quoting a request of 8 bytes");
    quoted = 0xfffffff0; /* more than there is: the words are not looked for */
    memcpy(buf + 20, &quoted, 4);
    ck_assert_int_eq(hd_nl_parse_ack(buf, n, 7, &kerr, ext, sizeof(ext), why, sizeof(why)),
                     HD_NL_ERROR);
    ck_assert_str_eq(ext, "");
    struct nlmsghdr h = {.nlmsg_len = 26, .nlmsg_type = NLMSG_ERROR, .nlmsg_seq = 7};
    memset(buf, 0, 28);
    memcpy(buf, &h, sizeof(h));
    ck_assert_int_eq(hd_nl_parse_ack(buf, 26, 7, &kerr, ext, sizeof(ext), why, sizeof(why)),
                     HD_NL_MALFORMED);
    ck_assert_str_eq(why, "an NLMSG_ERROR of 10 bytes (20 expected)");
    h.nlmsg_type = RTM_NEWLINK;
    memcpy(buf, &h, sizeof(h));
    ck_assert_int_eq(hd_nl_parse_ack(buf, 26, 7, &kerr, ext, sizeof(ext), why, sizeof(why)),
                     HD_NL_MALFORMED);
    ck_assert_str_eq(why, "a message of type 16 where an ACK was expected");
}
END_TEST

/* Random bytes, and random bytes behind a valid header: any status, no crash, no overread
 * (ASan), and an answer's values in range. */
START_TEST(random_bytes)
{
    uint32_t x = 12345;
    uint8_t buf[600];
    for (int i = 0; i < 20000; i++) {
        size_t n = 0;
        x = x * 1103515245 + 12345;
        size_t len = (x >> 8) % sizeof(buf);
        for (size_t j = 0; j < len; j++) {
            x = x * 1103515245 + 12345;
            buf[j] = (uint8_t)(x >> 16);
        }
        if (i % 2 && len >= 16) { /* a believable header */
            struct nlmsghdr h = {.nlmsg_len = (uint32_t)len,
                                 .nlmsg_type = i % 4 == 1 ? RTM_NEWLINK : NLMSG_ERROR,
                                 .nlmsg_seq = 7};
            memcpy(buf, &h, sizeof(h));
            if (len >= 36 && i % 8 == 1) {
                int32_t idx = FAKE_IFINDEX;
                memcpy(buf + 20, &idx, 4);
            }
        }
        n = len;
        struct hd_link l;
        enum hd_nl_status st = link_of(buf, n, (x >> 4) % 3, &l);
        ck_assert_int_le(st, HD_NL_MALFORMED);
        if (st == HD_NL_ANSWER && l.found)
            ck_assert(l.vf.vlan <= 4095 && l.vf.qos <= 7);
        int kerr;
        st = hd_nl_parse_ack(buf, n, 7, &kerr, ext, sizeof(ext), why, sizeof(why));
        if (st == HD_NL_ERROR)
            ck_assert(kerr > 0 && kerr <= 4095);
    }
}
END_TEST

/* ---- the exchanges, through the fake peer ---- */

START_TEST(reads_and_sets_a_vf)
{
    struct hd_link l;
    ck_assert_int_eq(hd_nl_get_vf(&c, &vf1, &l, &err), 0);
    ck_assert(l.found && l.up);
    ck_assert_mem_eq(l.vf.mac, f.vf[1].mac, 6);
    static const uint8_t mac[6] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55};
    struct hd_vf_cfg vlan = {.vlan = 10, .qos = 2};
    ck_assert_int_eq(hd_nl_set_vf(&c, &vf1, mac, &vlan, &err), 0);
    ck_assert_mem_eq(f.vf[1].mac, mac, 6);
    ck_assert_uint_eq(f.vf[1].vlan, 10);
    ck_assert_uint_eq(f.vf[1].qos, 2);
    ck_assert_int_eq(hd_nl_set_vf(&c, &vf1, NULL, NULL, &err), 0); /* nothing to send */
    ck_assert_uint_eq(f.nreqs, 2);
    /* sequence numbers grow */
    struct nlmsghdr h0, h1;
    memcpy(&h0, f.req[0], sizeof(h0));
    memcpy(&h1, f.req[1], sizeof(h1));
    ck_assert_uint_eq(h1.nlmsg_seq, h0.nlmsg_seq + 1);
}
END_TEST

START_TEST(kernel_errors_have_messages)
{
    static const uint8_t mac[6] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55};
    f.set_errno = EPERM;
    f.set_ext = "not allowed";
    ck_assert_int_eq(hd_nl_set_vf(&c, &vf1, mac, NULL, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_PERM);
    ck_assert_str_eq(err.msg, "0000:01:10.2 (enp1s0 vf 1): setting MAC 00:11:22:33:44:55: "
                              "Operation not permitted: not allowed (hint: this needs "
                              "CAP_NET_ADMIN: run it as root)");
    f.set_errno = EOPNOTSUPP;
    f.set_ext = NULL;
    struct hd_vf_cfg vlan = {.vlan = 10, .qos = 2};
    ck_assert_int_eq(hd_nl_set_vf(&c, &vf1, NULL, &vlan, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_UNSUPPORTED);
    ck_assert_str_eq(err.msg, "0000:01:10.2 (enp1s0 vf 1): setting VLAN 10 (priority 2): "
                              "Operation not supported (hint: the PF's driver does not let its "
                              "VFs be configured this way)");
    f.set_errno = EINVAL;
    ck_assert_int_eq(hd_nl_set_vf(&c, &vf1, mac, &vlan, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_IO);
    ck_assert_str_eq(err.msg, "0000:01:10.2 (enp1s0 vf 1): setting MAC 00:11:22:33:44:55 and "
                              "VLAN 10 (priority 2): Invalid argument");
    f.get_errno = ENODEV;
    struct hd_link l;
    ck_assert_int_eq(hd_nl_get_vf(&c, &vf1, &l, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_NOENT);
    ck_assert_str_eq(err.msg, "0000:01:10.2 (enp1s0 vf 1): reading its MAC and VLAN: No such "
                              "device (hint: the PF's interface is gone)");
    ck_assert_uint_eq(f.nsets, 0);
}
END_TEST

START_TEST(transport_failures_have_messages)
{
    struct hd_link l;
    f.send_errno = ENOBUFS;
    ck_assert_int_eq(hd_nl_get_vf(&c, &vf1, &l, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_IO);
    ck_assert_str_eq(err.msg, "0000:01:10.2 (enp1s0 vf 1): reading its MAC and VLAN: No buffer "
                              "space available");
    f.send_errno = 0;
    f.silent = true;
    ck_assert_int_eq(hd_nl_get_vf(&c, &vf1, &l, &err), -1);
    ck_assert_str_eq(err.msg, "0000:01:10.2 (enp1s0 vf 1): reading its MAC and VLAN: Connection "
                              "timed out (the kernel did not answer within 5 s)");
    f.silent = false;
    f.recv_errno = ENOMEM;
    ck_assert_int_eq(hd_nl_get_vf(&c, &vf1, &l, &err), -1);
    ck_assert_str_eq(err.msg, "0000:01:10.2 (enp1s0 vf 1): reading its MAC and VLAN: Cannot "
                              "allocate memory");
    f.recv_errno = 0;
    /* garbage instead of the answer */
    f.canned = calloc(1, 20);
    f.canned_len = 20;
    uint32_t len = 40;
    memcpy(f.canned, &len, 4);
    ck_assert_int_eq(hd_nl_get_vf(&c, &vf1, &l, &err), -1);
    ck_assert_str_eq(err.msg, "0000:01:10.2 (enp1s0 vf 1): reading its MAC and VLAN: the "
                              "kernel's reply is malformed: message lengths that do not add up "
                              "(20 bytes)");
    /* a stale reply first (another sequence number): read on to ours */
    hd_fake_flush(&f);
    uint8_t buf[256];
    size_t n = hd_fake_error(buf, sizeof(buf), 1000, -EINVAL, NULL, true);
    f.canned = malloc(n);
    memcpy(f.canned, buf, n);
    f.canned_len = n;
    ck_assert_int_eq(hd_nl_get_vf(&c, &vf1, &l, &err), 0);
    ck_assert(l.found);
    /* a PF without VFs; a VF it does not list */
    struct vdev_hostdev_vf other = vf1;
    other.vf = 5;
    ck_assert_int_eq(hd_nl_get_vf(&c, &other, &l, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_NOENT);
    ck_assert_str_eq(err.msg, "0000:01:10.2 (enp1s0 vf 5): enp1s0 reports no such VF (hint: is "
                              "SR-IOV enabled on it? see its sriov_numvfs)");
}
END_TEST

/* A peer that only ever sends what is not the answer, or datagrams of someone else. */
static int flood_send(void *ctx, const void *msg, size_t len)
{
    return 0;
}
static ssize_t flood_recv(void *ctx, uint8_t **msg)
{
    int *calls = ctx;
    *msg = NULL;
    if ((*calls)++ % 2)
        return 0; /* not the kernel's */
    struct nlmsghdr noop = {.nlmsg_len = sizeof(noop), .nlmsg_type = NLMSG_NOOP, .nlmsg_seq = 1};
    *msg = malloc(sizeof(noop));
    memcpy(*msg, &noop, sizeof(noop));
    return sizeof(noop);
}

START_TEST(gives_up_after_unrelated_replies)
{
    int calls = 0;
    struct hd_hooks flood = {.nl_send = flood_send, .nl_recv = flood_recv, .ctx = &calls};
    struct hd_ctx fc;
    ck_assert_int_eq(hd_ctx_init(&fc, &f.env, &flood, &err), 0);
    struct hd_link l;
    ck_assert_int_eq(hd_nl_get_vf(&fc, &vf1, &l, &err), -1);
    ck_assert_int_eq(calls, 16);
    ck_assert_str_eq(err.msg, "0000:01:10.2 (enp1s0 vf 1): reading its MAC and VLAN: no answer "
                              "among 16 messages from the kernel");
}
END_TEST

/* The real socket, read-only: the loopback interface has no VFs. */
START_TEST(real_socket_reads_the_loopback)
{
    struct hd_ctx rc;
    ck_assert_int_eq(hd_ctx_init(&rc, NULL, NULL, &err), 0);
    struct vdev_hostdev_vf lo = {.bdf = "0000:00:00.0", .pf_ifname = "lo", .pf_ifindex = 1};
    struct hd_link l;
    ck_assert_int_eq(hd_nl_get_vf(&rc, &lo, &l, &err), -1);
    ck_assert_msg(strstr(err.msg, "lo reports no VFs"), "%s", err.msg);
    ck_assert(l.up && !l.has_vfs);
    ck_assert_int_ge(rc.nl_fd, 0);
    hd_ctx_close(&rc);
    ck_assert_int_eq(rc.nl_fd, -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hostdev_netlink");
    TCase *tc = tcase_create("netlink");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, getlink_request_bytes);
    tcase_add_test(tc, setlink_request_bytes);
    tcase_add_test(tc, parses_a_kernel_reply);
    tcase_add_test(tc, skips_what_is_not_the_answer);
    tcase_add_test(tc, errors_and_acks);
    tcase_add_test(tc, every_truncation_is_refused);
    tcase_add_test(tc, lies_and_values_out_of_range);
    tcase_add_test(tc, a_vf_listed_twice_and_two_lists);
    tcase_add_test(tc, bad_error_messages);
    tcase_add_test(tc, random_bytes);
    tcase_add_test(tc, reads_and_sets_a_vf);
    tcase_add_test(tc, kernel_errors_have_messages);
    tcase_add_test(tc, transport_failures_have_messages);
    tcase_add_test(tc, gives_up_after_unrelated_replies);
    tcase_add_test(tc, real_socket_reads_the_loopback);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
