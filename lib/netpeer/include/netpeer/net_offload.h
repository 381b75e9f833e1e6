/* Software fall-backs for offloads a receiving guest did not negotiate: checksum completion
 * (VIRTIO_NET_HDR_F_NEEDS_CSUM) and TCP segmentation (GSO TCPV4/TCPV6). Pure functions on
 * host buffers; nothing here touches a queue or a link. */
#ifndef VDEV_NET_OFFLOAD_H
#define VDEV_NET_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Bytes [skip, skip + len) of data scattered over iovecs (a guest buffer chain). */
struct net_src {
    const struct iovec *iov;
    unsigned niov;
    size_t skip; /* where the frame starts in the iovecs */
    size_t len;  /* frame length */
};

/* Copies frame bytes [off, off + n) to dst; returns the bytes copied (less at the end). */
size_t net_src_read(const struct net_src *s, size_t off, void *dst, size_t n);
/* Copies n bytes from src into the iovecs starting `off` bytes in; returns bytes copied. */
size_t net_iov_write(const struct iovec *iov, unsigned niov, size_t off, const void *src, size_t n);

/* Ones'-complement sum of big-endian 16-bit words (an odd last byte is padded with zero),
 * added to `sum`; fold and invert with net_csum_fold. */
uint64_t net_csum_add(uint64_t sum, const void *data, size_t len);
uint16_t net_csum_fold(uint64_t sum); /* the checksum field value: ~folded sum */

/* Completes a partial checksum as a NEEDS_CSUM header asks: sums the frame from csum_start
 * to its end (the field at csum_start + csum_offset holds the pseudo-header sum) and stores
 * the result there (0 becomes 0xffff, which UDP needs and TCP does not mind). -1 when the
 * offsets do not fit the frame. */
int net_csum_complete(uint8_t *frame, size_t len, unsigned csum_start, unsigned csum_offset);

/* A TCP GSO frame, parsed and checked: Ethernet (optionally one 802.1Q tag), IPv4 without
 * fragmentation or IPv6 without extension headers, TCP. */
struct net_tso {
    size_t l3, l4;    /* IP and TCP header offsets in the frame */
    size_t hdr_len;   /* all headers: what every segment repeats */
    size_t frame_len; /* whole GSO frame */
    unsigned mss;     /* payload bytes per segment (the header's gso_size) */
    unsigned nsegs;
    bool v6;
};

/* The most header bytes a TSO frame may have (Ethernet + VLAN + IPv4 options + TCP
 * options fit easily). */
#define NET_TSO_MAX_HDR 256u

/* Parses the headers (`hdrs`: the frame's first min(frame_len, NET_TSO_MAX_HDR) bytes) of a
 * GSO frame of type gso_type (VIRTIO_NET_HDR_GSO_TCPV4/TCPV6, ECN bit ignored). 0, or -1
 * with *why set when the frame is not one we can segment. */
int net_tso_prepare(struct net_tso *t, const uint8_t *hdrs, size_t hdrs_len, size_t frame_len,
                    unsigned gso_type, unsigned gso_size, const char **why);
/* The length of segment i (0 <= i < nsegs): hdr_len + its share of the payload, never more
 * than frame_len (a segment is never longer than the frame it comes from, whatever mss). */
size_t net_tso_seg_len(const struct net_tso *t, unsigned i);
/* Writes segment i (0 <= i < nsegs) to dst (room for net_tso_seg_len(t, i) bytes): the headers with
 * IP length/ID/checksum, TCP sequence number, flags (FIN and PSH only on the last segment,
 * CWR only on the first) and a complete TCP checksum. Returns the segment's length. */
size_t net_tso_segment(const struct net_tso *t, const uint8_t *hdrs, const struct net_src *src,
                       unsigned i, uint8_t *dst);

#endif
