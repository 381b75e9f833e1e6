/* A frame's flow: IPv4/IPv6 addresses and TCP/UDP ports, for automatic steering and RSS.
 * Every offset is checked against the frame's length: the frame comes from the peer or the
 * guest. */
#include <string.h>

#include "net_mq.h"

enum { PROTO_TCP = 6, PROTO_UDP = 17 };
enum { V6_HOP = 0, V6_ROUTING = 43, V6_FRAGMENT = 44, V6_AH = 51, V6_DEST = 60 };
#define V6_MAX_EXT 8u /* extension headers skipped at most (a chain of them costs a loop each) */

/* Skips IPv6 extension headers from `off` (next header *nh); false for a fragment or a
 * header that runs past the frame: addresses only. */
static bool v6_skip_ext(const uint8_t *f, size_t len, size_t *off, uint8_t *nh)
{
    for (unsigned i = 0; i < V6_MAX_EXT; i++) {
        if (*nh == V6_FRAGMENT)
            return false;
        if (*nh != V6_HOP && *nh != V6_ROUTING && *nh != V6_AH && *nh != V6_DEST)
            return true;
        if (len - *off < 8)
            return false;
        size_t hl = *nh == V6_AH ? ((size_t)f[*off + 1] + 2) * 4 : ((size_t)f[*off + 1] + 1) * 8;
        if (hl > len - *off)
            return false;
        *nh = f[*off];
        *off += hl;
    }
    return true; /* still an extension header: no ports (*nh is not TCP or UDP) */
}

void net_flow_parse(const uint8_t *f, size_t len, struct net_flow *fl)
{
    memset(fl, 0, sizeof(*fl));
    if (len < ETH_HLEN)
        return;
    size_t off = ETH_HLEN;
    uint16_t type = net_be16(f + 12);
    if (type == ETH_P_8021Q) {
        if (len < ETH_HLEN + 4)
            return;
        type = net_be16(f + 16);
        off += 4;
    }
    uint8_t proto;
    if (type == ETH_P_IP) {
        const uint8_t *ip = f + off;
        if (len - off < 20 || ip[0] >> 4 != 4)
            return;
        size_t ihl = (size_t)(ip[0] & 15) * 4;
        if (ihl < 20 || ihl > len - off)
            return;
        fl->family = 4;
        memcpy(fl->src, ip + 12, 4);
        memcpy(fl->dst, ip + 16, 4);
        if (net_be16(ip + 6) & 0x3fff) /* MF or an offset: a fragment */
            return;
        proto = ip[9];
        off += ihl;
    } else if (type == ETH_P_IPV6) {
        const uint8_t *ip = f + off;
        if (len - off < 40 || ip[0] >> 4 != 6)
            return;
        fl->family = 6;
        memcpy(fl->src, ip + 8, 16);
        memcpy(fl->dst, ip + 24, 16);
        proto = ip[6];
        off += 40;
        if (!v6_skip_ext(f, len, &off, &proto))
            return;
    } else {
        return;
    }
    size_t l4_min = proto == PROTO_TCP ? 20 : 8; /* the whole TCP or UDP header is there */
    if ((proto == PROTO_TCP || proto == PROTO_UDP) && len - off >= l4_min) {
        fl->proto = proto;
        memcpy(fl->sport, f + off, 2);
        memcpy(fl->dport, f + off + 2, 2);
    }
}
