/* Software checksum completion and TCP segmentation (see net_offload.h). */
#include "netpeer/net_offload.h"

#include <string.h>

#include "netpeer/net_hdr.h"

size_t net_src_read(const struct net_src *s, size_t off, void *dst, size_t n)
{
    if (off >= s->len)
        return 0;
    if (n > s->len - off)
        n = s->len - off;
    size_t pos = s->skip + off, done = 0;
    for (unsigned i = 0; i < s->niov && done < n; i++) {
        size_t l = s->iov[i].iov_len;
        if (pos >= l) {
            pos -= l;
            continue;
        }
        size_t c = l - pos < n - done ? l - pos : n - done;
        memcpy((uint8_t *)dst + done, (const uint8_t *)s->iov[i].iov_base + pos, c);
        done += c;
        pos = 0;
    }
    return done;
}

size_t net_iov_write(const struct iovec *iov, unsigned niov, size_t off, const void *src, size_t n)
{
    size_t done = 0;
    for (unsigned i = 0; i < niov && done < n; i++) {
        size_t l = iov[i].iov_len;
        if (off >= l) {
            off -= l;
            continue;
        }
        size_t c = l - off < n - done ? l - off : n - done;
        memcpy((uint8_t *)iov[i].iov_base + off, (const uint8_t *)src + done, c);
        done += c;
        off = 0;
    }
    return done;
}

uint64_t net_csum_add(uint64_t sum, const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t i = 0;
    for (; i + 1 < len; i += 2)
        sum += (uint64_t)(p[i] << 8 | p[i + 1]);
    if (i < len)
        sum += (uint64_t)p[i] << 8;
    return sum;
}

uint16_t net_csum_fold(uint64_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

int net_csum_complete(uint8_t *frame, size_t len, unsigned csum_start, unsigned csum_offset)
{
    if (csum_start >= len || (size_t)csum_start + csum_offset + 2 > len)
        return -1;
    uint16_t c = net_csum_fold(net_csum_add(0, frame + csum_start, len - csum_start));
    net_put_be16(frame + csum_start + csum_offset, c ? c : 0xffff);
    return 0;
}

#define TCP_FIN         0x01u
#define TCP_PSH         0x08u
#define TCP_CWR         0x80u
#define IPPROTO_TCP_NUM 6u

int net_tso_prepare(struct net_tso *t, const uint8_t *h, size_t hlen, size_t frame_len,
                    unsigned gso_type, unsigned gso_size, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    memset(t, 0, sizeof(*t));
    unsigned type = gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
    if (type != VIRTIO_NET_HDR_GSO_TCPV4 && type != VIRTIO_NET_HDR_GSO_TCPV6) {
        *why = "not a TCP GSO type";
        return -1;
    }
    if (hlen > frame_len)
        hlen = frame_len;
    if (hlen < ETH_HLEN) {
        *why = "frame shorter than an Ethernet header";
        return -1;
    }
    size_t l3 = ETH_HLEN;
    unsigned proto = net_be16(h + 12);
    if (proto == ETH_P_8021Q) {
        if (hlen < ETH_HLEN + 4) {
            *why = "truncated VLAN tag";
            return -1;
        }
        proto = net_be16(h + 16);
        l3 += 4;
    }
    t->v6 = type == VIRTIO_NET_HDR_GSO_TCPV6;
    size_t l4;
    if (!t->v6) {
        if (proto != ETH_P_IP || hlen < l3 + 20 || (h[l3] >> 4) != 4) {
            *why = "TCPV4 GSO frame without an IPv4 header";
            return -1;
        }
        size_t ihl = (size_t)(h[l3] & 0xf) * 4;
        if (ihl < 20 || h[l3 + 9] != IPPROTO_TCP_NUM) {
            *why = "IPv4 header is not followed by TCP";
            return -1;
        }
        if (net_be16(h + l3 + 6) & 0x3fff) {
            *why = "IPv4 fragment";
            return -1;
        }
        l4 = l3 + ihl;
    } else {
        if (proto != ETH_P_IPV6 || hlen < l3 + 40 || (h[l3] >> 4) != 6) {
            *why = "TCPV6 GSO frame without an IPv6 header";
            return -1;
        }
        if (h[l3 + 6] != IPPROTO_TCP_NUM) {
            *why = "IPv6 extension headers are not supported with GSO";
            return -1;
        }
        l4 = l3 + 40;
    }
    if (hlen < l4 + 20) {
        *why = "truncated TCP header";
        return -1;
    }
    size_t doff = (size_t)(h[l4 + 12] >> 4) * 4;
    if (doff < 20 || l4 + doff > hlen) {
        *why = "bad TCP header length";
        return -1;
    }
    if (gso_size == 0) {
        *why = "gso_size 0";
        return -1;
    }
    t->l3 = l3;
    t->l4 = l4;
    t->hdr_len = l4 + doff;
    t->frame_len = frame_len;
    t->mss = gso_size;
    if (t->hdr_len + t->mss > 0xffff + l3) {
        *why = "gso_size too large for an IP packet";
        return -1;
    }
    size_t payload = frame_len - t->hdr_len;
    size_t n = (payload + gso_size - 1) / gso_size;
    t->nsegs = n ? (unsigned)n : 1;
    return 0;
}

size_t net_tso_seg_len(const struct net_tso *t, unsigned i)
{
    size_t payload = t->frame_len - t->hdr_len;
    size_t off = (size_t)i * t->mss;
    size_t plen = off < payload ? payload - off : 0;
    return t->hdr_len + (plen > t->mss ? t->mss : plen);
}

size_t net_tso_segment(const struct net_tso *t, const uint8_t *hdrs, const struct net_src *src,
                       unsigned i, uint8_t *dst)
{
    size_t off = (size_t)i * t->mss;
    size_t seg_len = net_tso_seg_len(t, i);
    size_t plen = seg_len - t->hdr_len;
    bool first = i == 0, last = i + 1 == t->nsegs;

    memcpy(dst, hdrs, t->hdr_len);
    net_src_read(src, t->hdr_len + off, dst + t->hdr_len, plen);

    uint8_t *ip = dst + t->l3, *tcp = dst + t->l4;
    size_t tcp_len = seg_len - t->l4;
    uint64_t sum;
    if (!t->v6) {
        net_put_be16(ip + 2, (uint16_t)(seg_len - t->l3));
        net_put_be16(ip + 4, (uint16_t)(net_be16(hdrs + t->l3 + 4) + i));
        net_put_be16(ip + 10, 0);
        net_put_be16(ip + 10, net_csum_fold(net_csum_add(0, ip, t->l4 - t->l3)));
        sum = net_csum_add(0, ip + 12, 8); /* source and destination addresses */
    } else {
        net_put_be16(ip + 4, (uint16_t)(seg_len - t->l3 - 40));
        sum = net_csum_add(0, ip + 8, 32);
    }
    sum += IPPROTO_TCP_NUM + tcp_len; /* rest of the pseudo-header (v6: 32-bit length) */

    net_put_be32(tcp + 4, net_be32(hdrs + t->l4 + 4) + (uint32_t)off);
    uint8_t flags = hdrs[t->l4 + 13];
    if (!last)
        flags &= (uint8_t) ~(TCP_FIN | TCP_PSH);
    if (!first)
        flags &= (uint8_t)~TCP_CWR;
    tcp[13] = flags;
    net_put_be16(tcp + 16, 0);
    net_put_be16(tcp + 16, net_csum_fold(net_csum_add(sum, tcp, tcp_len)));
    return seg_len;
}
