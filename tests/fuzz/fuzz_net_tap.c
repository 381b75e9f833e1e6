/* virtio-net's direct tap (`tap NAME`, net_be_tap.c) as the kernel and a hostile guest drive
 * it: frames with virtio-net headers as a TAP hands them (any header, GSO frames the guest
 * did not negotiate, which are segmented here, frames too long for the read buffer, empty
 * and short reads), guest transmissions written to the TAP, TUNSETOFFLOAD refusals, the
 * interface going away, driver resets. No TAP is made: tap_if.c's calls are replaced below
 * (so tap_if.o is not linked) and the TAP is a SOCK_SEQPACKET socket pair, which keeps one
 * frame per read and write as a TAP does. Invariants: fuzz_net.h, and every frame written to
 * the "TAP" has a header the guest's features allow and a length within the limit. */
/* FUZZ_ARGS: -max_len=4096 */
#include "fuzz_net.h"
#include "netpeer/tap_if.h"

static int tap_far = -1; /* the "kernel" end of the pair net_tap_open attached to */
static bool refuse_offload;

int tap_if_vnet_setup(int fd)
{
    (void)fd;
    return 0;
}

int tap_if_attach(const char *name, struct vdev_err *err)
{
    (void)name;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
        return vdev_err_set(err, "socketpair: %s", strerror(errno));
    int big = 1 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    if (tap_far >= 0)
        close(tap_far);
    tap_far = sv[1];
    return sv[0];
}

int tap_if_set_offload(int fd, uint64_t guest_features)
{
    (void)fd, (void)guest_features;
    return refuse_offload ? -EINVAL : 0;
}

int tap_if_set_carrier(int fd, bool on)
{
    (void)fd, (void)on;
    return 0;
}

static uint64_t tap_written; /* frames the NIC wrote to the TAP */

/* What the NIC wrote: one header + frame per message, checked as the kernel would. */
static void tap_drain(struct fn *f)
{
    static uint8_t buf[NET_HDR_LEN + NET_MAX_FRAME + 64];
    for (;;) {
        ssize_t r = recv(tap_far, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
        if (r < 0 && errno == ECONNRESET)
            continue; /* the NIC closed its end with frames unread: said once, then the data */
        if (r <= 0)
            break; /* 0: the NIC closed its end (the interface went away) */
        FN_CHECK((size_t)r >= NET_HDR_LEN + ETH_HLEN && (size_t)r <= NET_HDR_LEN + NET_MAX_FRAME,
                 "a %zd-byte write to the tap", r);
        struct net_hdr h;
        net_hdr_load(&h, buf);
        unsigned type = h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
        FN_CHECK(!(h.flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM), "flags 0x%x to the tap", h.flags);
        FN_CHECK(!(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) ||
                     (size_t)h.csum_start + h.csum_offset + 2 <= (size_t)r - NET_HDR_LEN,
                 "checksum offsets outside the frame");
        FN_CHECK(
            type == VIRTIO_NET_HDR_GSO_NONE ||
                ((type == VIRTIO_NET_HDR_GSO_TCPV4 &&
                  (f->features >> VIRTIO_NET_F_HOST_TSO4 & 1)) ||
                 (type == VIRTIO_NET_HDR_GSO_TCPV6 && (f->features >> VIRTIO_NET_F_HOST_TSO6 & 1))),
            "GSO type 0x%x the guest did not negotiate", h.gso_type);
        FN_CHECK(h.num_buffers == 0, "num_buffers on the tap");
        tap_written++;
    }
}

static void tap_setup(struct fn *f)
{
    struct vdev_err err = {0};
    if (net_tap_open(f->n, &err)) {
        fprintf(stderr, "fuzz_net_tap: %s\n", err.msg);
        abort();
    }
    atomic_store(&f->n->link_up, true);
}

/* The kernel hands the NIC a frame (or the interface goes away, or offloads are refused). */
static void tap_wire(struct fn *f, struct fz_in *in, uint8_t op)
{
    if (getenv("FUZZ_NET_TRACE"))
        fprintf(stderr, "trace: tap op 0x%02x (tx so far %llu)\n", op,
                (unsigned long long)net_read(&f->n->st.tx_frames));
    if (op >> 4 == 15 && (op & 15) == 15) { /* rare: `ip link del` */
        struct pollfd fds[NET_BE_FDS] = {{.fd = -1}, {.fd = -1}, {.fd = -1}};
        fds[0].revents = POLLHUP;
        f->n->be->poll_done(f->n, fds, 1);
        return;
    }
    if ((op & 15) == 9) {
        tap_drain(f);
        return;
    }
    if ((op & 15) == 14) {
        refuse_offload = !refuse_offload;
        return;
    }
    uint8_t mode = fz_u8(in);
    size_t len = fz_u16(in);
    if (mode & 0x80)
        len += 65536u - 4096u;
    if (len > NET_MAX_FRAME + 64)
        len = NET_MAX_FRAME + 64;
    static uint8_t buf[NET_HDR_LEN + NET_MAX_FRAME + 64];
    static const uint8_t mac[6] = {0x52, 0x54, 0, 0, 0, 1};
    size_t l4;
    fn_frame(in, buf + NET_HDR_LEN, len, mode & 1 ? NULL : mac, &l4);
    uint8_t raw[NET_HDR_LEN];
    fz_take(in, raw, sizeof(raw));
    struct net_hdr h;
    net_hdr_load(&h, raw);
    if (mode & 2) { /* what the kernel gives with offloads on */
        h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h.csum_start = (uint16_t)(l4 ? l4 : 34);
        h.csum_offset = 16;
        h.gso_type = mode & 4 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
        if (mode & 8)
            h.gso_type = 0;
        if (l4)
            h.hdr_len = (uint16_t)(l4 + 20);
    }
    if (h.gso_type)
        f->nomatch = true; /* it may arrive as segments */
    net_hdr_store(&h, buf);
    size_t total = (mode & 0x40) ? fz_u8(in) % NET_HDR_LEN : NET_HDR_LEN + len; /* short */
    if (send(tap_far, buf, total, MSG_DONTWAIT) < 0)
        return;
    if (total == NET_HDR_LEN + len)
        fn_sent_add(f, buf, len);
}

static void tap_end(struct fn *f)
{
    tap_drain(f);
    FN_CHECK(tap_written == net_read(&f->n->st.tx_frames), "%llu frames on the tap, %llu counted",
             (unsigned long long)tap_written, (unsigned long long)net_read(&f->n->st.tx_frames));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fn_at_end = tap_end;
    fn_before_reset = tap_drain; /* checked against the features they were sent under */
    refuse_offload = false;
    tap_written = 0;
    return fn_run(data, size, FN_OP_TAP | FN_OP_TX | FN_OP_RX | FN_OP_RAW | FN_OP_RESET, "tap vt0",
                  tap_setup, tap_wire);
}
