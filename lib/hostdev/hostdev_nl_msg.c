/* The rtnetlink messages of the hostdev code: RTM_GETLINK and RTM_SETLINK requests for a
 * PF's VF settings, and the parsers of the kernel's replies. No I/O here: the parsers take
 * any bytes (tests/fuzz/fuzz_hostdev_netlink.c), check every length against what holds it
 * and read through memcpy, since a datagram's bytes have no alignment we could rely on. */
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hostdev_internal.h"

#define ERRNO_MAX 4095 /* the kernel's errors are -1 .. -4095 */

/* NLMSG_ALIGN and NLA_ALIGN (both 4) in size_t: theirs mask with an unsigned int. */
static size_t align4(size_t n)
{
    return (n + 3) & ~(size_t)3;
}

/* ---- building ---- */

struct builder {
    uint8_t *buf;
    size_t cap, len;
    bool over; /* did not fit: the length returned is 0 */
};

static void put(struct builder *b, const void *data, size_t n)
{
    if (b->over || n > b->cap - b->len) {
        b->over = true;
        return;
    }
    if (data)
        memcpy(b->buf + b->len, data, n);
    else
        memset(b->buf + b->len, 0, n);
    b->len += n;
}

static void pad(struct builder *b)
{
    put(b, NULL, align4(b->len) - b->len);
}

/* An attribute's header with its length to fill in (attr_end); its offset. */
static size_t attr_begin(struct builder *b, uint16_t type)
{
    size_t at = b->len;
    struct nlattr a = {.nla_type = type};
    put(b, &a, sizeof(a));
    return at;
}

static void attr_end(struct builder *b, size_t at)
{
    if (b->over)
        return;
    uint16_t len = (uint16_t)(b->len - at);
    memcpy(b->buf + at + offsetof(struct nlattr, nla_len), &len, sizeof(len));
    pad(b);
}

static void attr_put(struct builder *b, uint16_t type, const void *data, size_t n)
{
    size_t at = attr_begin(b, type);
    put(b, data, n);
    attr_end(b, at);
}

/* The header and the ifinfomsg every request here starts with. */
static void link_head(struct builder *b, uint16_t type, uint16_t flags, uint32_t seq,
                      int32_t ifindex)
{
    struct nlmsghdr h = {.nlmsg_type = type, .nlmsg_flags = flags, .nlmsg_seq = seq};
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex};
    put(b, &h, sizeof(h));
    put(b, &ifi, sizeof(ifi));
}

static size_t finish(struct builder *b)
{
    if (b->over || b->len > UINT32_MAX)
        return 0;
    uint32_t len = (uint32_t)b->len;
    memcpy(b->buf + offsetof(struct nlmsghdr, nlmsg_len), &len, sizeof(len));
    return b->len;
}

size_t hd_nl_getlink_req(uint8_t *buf, size_t cap, uint32_t seq, int32_t ifindex)
{
    struct builder b = {.buf = buf, .cap = cap};
    link_head(&b, RTM_GETLINK, NLM_F_REQUEST, seq, ifindex);
    uint32_t mask = RTEXT_FILTER_VF;
    attr_put(&b, IFLA_EXT_MASK, &mask, sizeof(mask));
    return finish(&b);
}

size_t hd_nl_setvf_req(uint8_t *buf, size_t cap, uint32_t seq, int32_t ifindex, uint32_t vf,
                       const uint8_t *mac, const struct hd_vf_cfg *vlan)
{
    struct builder b = {.buf = buf, .cap = cap};
    link_head(&b, RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, seq, ifindex);
    size_t list = attr_begin(&b, IFLA_VFINFO_LIST | NLA_F_NESTED);
    size_t info = attr_begin(&b, IFLA_VF_INFO | NLA_F_NESTED);
    if (mac) {
        struct ifla_vf_mac m = {.vf = vf};
        memcpy(m.mac, mac, 6);
        attr_put(&b, IFLA_VF_MAC, &m, sizeof(m));
    }
    if (vlan) {
        struct ifla_vf_vlan v = {.vf = vf, .vlan = vlan->vlan, .qos = vlan->qos};
        attr_put(&b, IFLA_VF_VLAN, &v, sizeof(v));
    }
    attr_end(&b, info);
    attr_end(&b, list);
    return finish(&b);
}

/* ---- parsing ---- */

struct span {
    const uint8_t *p;
    size_t len;
};

static enum hd_nl_status bad(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum hd_nl_status bad(char *why, size_t len, const char *fmt, ...)
{
    if (why && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
    }
    return HD_NL_MALFORMED;
}

/* The next attribute of *rest: 1 (its type without flags, its payload), 0 at the end, -1 when
 * the lengths do not add up. The last attribute may lack its padding. */
static int next_attr(struct span *rest, uint16_t *type, struct span *payload)
{
    if (rest->len == 0)
        return 0;
    struct nlattr a;
    if (rest->len < sizeof(a))
        return -1;
    memcpy(&a, rest->p, sizeof(a));
    if (a.nla_len < NLA_HDRLEN || a.nla_len > rest->len)
        return -1;
    *type = a.nla_type & NLA_TYPE_MASK;
    payload->p = rest->p + NLA_HDRLEN;
    payload->len = a.nla_len - NLA_HDRLEN;
    size_t step = align4(a.nla_len);
    step = step < rest->len ? step : rest->len;
    rest->p += step;
    rest->len -= step;
    return 1;
}

/* The next message of a datagram, as next_attr. */
static int next_msg(struct span *rest, struct nlmsghdr *h, struct span *payload)
{
    if (rest->len == 0)
        return 0;
    if (rest->len < sizeof(*h))
        return -1;
    memcpy(h, rest->p, sizeof(*h));
    if (h->nlmsg_len < NLMSG_HDRLEN || h->nlmsg_len > rest->len)
        return -1;
    payload->p = rest->p + NLMSG_HDRLEN;
    payload->len = h->nlmsg_len - NLMSG_HDRLEN;
    size_t step = align4(h->nlmsg_len);
    step = step < rest->len ? step : rest->len;
    rest->p += step;
    rest->len -= step;
    return 1;
}

/* The kernel's own words (NLMSGERR_ATTR_MSG) when it sent them, control bytes as '?'. The
 * rest of an extended ACK is not needed, and a malformed one costs only the words. */
static void ext_ack(struct span tlvs, char *ext, size_t extlen)
{
    uint16_t type;
    struct span a;
    while (next_attr(&tlvs, &type, &a) == 1) {
        const uint8_t *nul = a.len ? memchr(a.p, '\0', a.len) : NULL;
        if (type != NLMSGERR_ATTR_MSG || !nul || !ext || !extlen)
            continue;
        size_t n = (size_t)(nul - a.p) < extlen - 1 ? (size_t)(nul - a.p) : extlen - 1;
        for (size_t i = 0; i < n; i++)
            ext[i] = a.p[i] < ' ' || a.p[i] == 0x7f ? '?' : (char)a.p[i];
        ext[n] = '\0';
        return;
    }
}

/* NLMSG_ERROR: 0 (an ACK), or the errno in *kerr. */
static enum hd_nl_status parse_error(const struct nlmsghdr *h, struct span p, int *kerr, char *ext,
                                     size_t extlen, char *why, size_t whylen)
{
    struct nlmsgerr e;
    if (p.len < sizeof(e))
        return bad(why, whylen, "an NLMSG_ERROR of %zu bytes (%zu expected)", p.len, sizeof(e));
    memcpy(&e, p.p, sizeof(e));
    if (e.error > 0 || e.error < -ERRNO_MAX)
        return bad(why, whylen, "an NLMSG_ERROR with error %d, which is no errno", e.error);
    if (e.error == 0)
        return HD_NL_ANSWER;
    *kerr = -e.error;
    if (h->nlmsg_flags & NLM_F_ACK_TLVS) {
        /* after the request's header, or the whole request unless NLM_F_CAPPED */
        size_t quoted = 0;
        if (!(h->nlmsg_flags & NLM_F_CAPPED)) {
            if (e.msg.nlmsg_len < NLMSG_HDRLEN)
                return bad(why, whylen, "an NLMSG_ERROR quoting a request of %u bytes",
                           e.msg.nlmsg_len);
            quoted = e.msg.nlmsg_len - NLMSG_HDRLEN;
        }
        if (quoted <= p.len - sizeof(e) && align4(sizeof(e) + quoted) <= p.len) {
            size_t at = align4(sizeof(e) + quoted);
            ext_ack((struct span){p.p + at, p.len - at}, ext, extlen);
        }
    }
    return HD_NL_ERROR;
}

/* One VF's IFLA_VF_INFO: its number, MAC and VLAN, each required and checked. */
static enum hd_nl_status parse_vf_info(struct span info, uint32_t *num, struct hd_vf_cfg *cfg,
                                       char *why, size_t whylen)
{
    bool has_mac = false, has_vlan = false;
    struct ifla_vf_mac m;
    struct ifla_vf_vlan v;
    uint16_t type;
    struct span a;
    int rc;
    while ((rc = next_attr(&info, &type, &a)) == 1) {
        if (type == IFLA_VF_MAC) {
            if (has_mac || a.len < sizeof(m))
                return bad(why, whylen, "an IFLA_VF_MAC of %zu bytes%s", a.len,
                           has_mac ? ", the second in one VF entry" : "");
            memcpy(&m, a.p, sizeof(m));
            has_mac = true;
        } else if (type == IFLA_VF_VLAN) {
            if (has_vlan || a.len < sizeof(v))
                return bad(why, whylen, "an IFLA_VF_VLAN of %zu bytes%s", a.len,
                           has_vlan ? ", the second in one VF entry" : "");
            memcpy(&v, a.p, sizeof(v));
            has_vlan = true;
        }
    }
    if (rc < 0)
        return bad(why, whylen, "an IFLA_VF_INFO whose attribute lengths do not add up");
    if (!has_mac || !has_vlan)
        return bad(why, whylen, "an IFLA_VF_INFO without its %s",
                   has_mac ? "IFLA_VF_VLAN" : "IFLA_VF_MAC");
    if (v.vf != m.vf)
        return bad(why, whylen, "an IFLA_VF_INFO whose MAC is VF %u's and VLAN VF %u's", m.vf,
                   v.vf);
    if (v.vlan > 4095 || v.qos > 7)
        return bad(why, whylen, "VF %u with VLAN %u, priority %u (beyond 4095 and 7)", v.vf, v.vlan,
                   v.qos);
    *num = m.vf;
    memcpy(cfg->mac, m.mac, 6);
    cfg->vlan = (uint16_t)v.vlan;
    cfg->qos = (uint8_t)v.qos;
    return HD_NL_ANSWER;
}

static enum hd_nl_status parse_vf_list(struct span list, uint32_t vf, struct hd_link *link,
                                       char *why, size_t whylen)
{
    uint16_t type;
    struct span a;
    int rc;
    while ((rc = next_attr(&list, &type, &a)) == 1) {
        if (type != IFLA_VF_INFO)
            continue; /* nothing else is there today; a later kernel's addition */
        uint32_t num = 0;
        struct hd_vf_cfg cfg = {0};
        if (parse_vf_info(a, &num, &cfg, why, whylen) != HD_NL_ANSWER)
            return HD_NL_MALFORMED;
        link->nvfs++;
        if (num != vf)
            continue;
        if (link->found)
            return bad(why, whylen, "VF %u listed twice", vf);
        link->found = true;
        link->vf = cfg;
    }
    if (rc < 0)
        return bad(why, whylen, "an IFLA_VFINFO_LIST whose attribute lengths do not add up");
    return HD_NL_ANSWER;
}

static enum hd_nl_status parse_newlink(struct span p, int32_t ifindex, uint32_t vf,
                                       struct hd_link *link, char *why, size_t whylen)
{
    struct ifinfomsg ifi;
    if (p.len < align4(sizeof(ifi)))
        return bad(why, whylen, "an RTM_NEWLINK of %zu bytes", p.len);
    memcpy(&ifi, p.p, sizeof(ifi));
    if (ifi.ifi_index != ifindex)
        return bad(why, whylen, "a reply about interface %d, not %d", ifi.ifi_index, ifindex);
    link->up = ifi.ifi_flags & IFF_UP;
    struct span attrs = {p.p + align4(sizeof(ifi)), p.len - align4(sizeof(ifi))};
    uint16_t type;
    struct span a;
    int rc;
    while ((rc = next_attr(&attrs, &type, &a)) == 1) {
        if (type != IFLA_VFINFO_LIST)
            continue;
        if (link->has_vfs)
            return bad(why, whylen, "two IFLA_VFINFO_LISTs");
        link->has_vfs = true;
        if (parse_vf_list(a, vf, link, why, whylen) != HD_NL_ANSWER)
            return HD_NL_MALFORMED;
    }
    if (rc < 0)
        return bad(why, whylen, "an RTM_NEWLINK whose attribute lengths do not add up");
    return HD_NL_ANSWER;
}

enum hd_nl_status hd_nl_parse_link(const uint8_t *msg, size_t len, uint32_t seq, int32_t ifindex,
                                   uint32_t vf, struct hd_link *link, int *kerr, char *ext,
                                   size_t extlen, char *why, size_t whylen)
{
    memset(link, 0, sizeof(*link));
    *kerr = 0;
    if (ext && extlen)
        ext[0] = '\0';
    struct span rest = {msg, len};
    struct nlmsghdr h;
    struct span p;
    int rc;
    while ((rc = next_msg(&rest, &h, &p)) == 1) {
        if (h.nlmsg_seq != seq || h.nlmsg_type == NLMSG_NOOP)
            continue;
        if (h.nlmsg_type == NLMSG_ERROR) {
            enum hd_nl_status st = parse_error(&h, p, kerr, ext, extlen, why, whylen);
            return st == HD_NL_ANSWER ? bad(why, whylen, "an ACK where the link was expected") : st;
        }
        if (h.nlmsg_type != RTM_NEWLINK)
            return bad(why, whylen, "a message of type %u where RTM_NEWLINK was expected",
                       h.nlmsg_type);
        return parse_newlink(p, ifindex, vf, link, why, whylen);
    }
    if (rc < 0)
        return bad(why, whylen, "message lengths that do not add up (%zu bytes)", len);
    return HD_NL_UNRELATED;
}

enum hd_nl_status hd_nl_parse_ack(const uint8_t *msg, size_t len, uint32_t seq, int *kerr,
                                  char *ext, size_t extlen, char *why, size_t whylen)
{
    *kerr = 0;
    if (ext && extlen)
        ext[0] = '\0';
    struct span rest = {msg, len};
    struct nlmsghdr h;
    struct span p;
    int rc;
    while ((rc = next_msg(&rest, &h, &p)) == 1) {
        if (h.nlmsg_seq != seq || h.nlmsg_type == NLMSG_NOOP)
            continue;
        if (h.nlmsg_type != NLMSG_ERROR)
            return bad(why, whylen, "a message of type %u where an ACK was expected", h.nlmsg_type);
        return parse_error(&h, p, kerr, ext, extlen, why, whylen);
    }
    if (rc < 0)
        return bad(why, whylen, "message lengths that do not add up (%zu bytes)", len);
    return HD_NL_UNRELATED;
}
