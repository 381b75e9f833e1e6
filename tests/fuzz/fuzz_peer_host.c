/* The host peer `vdevkit net-peer` (tools/net_peer.c) as a hostile guest and the kernel reach
 * it: records from the guest's NIC of any header and size (up to the largest record), frames
 * from the TAP with any header (GSO frames the guest did not negotiate are segmented, partial
 * checksums completed, bad offsets dropped), the guest renegotiating its features, a guest
 * ring that fills (the TAP is then not read until room appears) and drains.
 *
 * The target links the tools' library and drives the data path (tools/net_peer_path.c)
 * through net_peer_internal.h. One peer: its link is a real peer link to a "guest" end in
 * this process (made afresh every 1000 inputs, which are kept for a replay); its TAP is a
 * SOCK_SEQPACKET socket pair (one frame per read and write, as a TAP), tap_if.c's ioctls and
 * net_peer_tap_open replaced below (the definitions here keep the library's from being linked).
 * Invariants, per input:
 *   - every frame written to the TAP has a header the kernel takes (known flags, checksum
 *     offsets inside the frame, TCP GSO only with gso_size and NEEDS_CSUM); as many as to-tap;
 *   - every record put in the guest's ring is within the record limit and carries only
 *     offloads the guest negotiated (and offload= allows); as many as to-guest;
 *   - a single-segment frame from the TAP, with the guest's ring empty, is never dropped as
 *     ring-full (the segment's record is never larger than the frame's);
 *   - once the guest drains, the TAP is read again (no wedge); no leak, no OOB access. */
/* FUZZ_ARGS: -max_len=4096 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "net_peer_internal.h"
#include "netpeer/net_hdr.h"
#include "netpeer/net_offload.h"
#include "netpeer/tap_if.h"

static void dump_window(void);

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_peer_host: invariant broken: %s: ", #cond);                      \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            dump_window();                                                                         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* ---- the TAP's ioctls, replaced (no TAP is made) ---- */

int tap_if_vnet_setup(int fd)
{
    (void)fd;
    return 0;
}
int tap_if_attach(const char *name, struct vdev_err *err)
{
    (void)name;
    return vdev_err_set(err, "no TAP in the fuzzer");
}
int tap_if_set_offload(int fd, uint64_t guest_features)
{
    (void)fd, (void)guest_features;
    return 0;
}
int tap_if_set_carrier(int fd, bool on)
{
    (void)fd, (void)on;
    return 0;
}
int net_peer_tap_open(struct net_peer_opts *o, struct vdev_err *err)
{
    (void)o;
    return vdev_err_set(err, "no TAP in the fuzzer");
}

/* ---- one peer, its link to a guest end, the TAP stand-in ---- */

static struct np hp;
static struct np_peer *peer;
static struct peer_link *guest;
static int kernel = -1; /* the far end of the TAP stand-in */
static char dir[64], path_host[96], path_guest[96];
static uint8_t buf[NET_HDR_LEN + NET_MAX_FRAME + 64];
static uint8_t pattern[256 + NET_MAX_FRAME + 64];

static void guest_state(void *opaque, bool up)
{
    (void)opaque, (void)up;
}
static void quiet(void *opaque, enum vdev_log_level level, const char *msg)
{
    (void)opaque, (void)level, (void)msg;
}

static void wait_up(void)
{
    for (int i = 0; i < 4000 && !(peer_link_up(peer->link) && peer_link_up(guest)); i++) {
        peer_link_service(peer->link);
        peer_link_service(guest);
        if (i > 10)
            usleep(500);
    }
    CHECK(peer_link_up(peer->link) && peer_link_up(guest), "the in-process link is down");
}

/* State (ring positions, the peer's waiting state, eventfd counts) carries across the inputs
 * of a window of WINDOW inputs; then the peer, link and TAP stand-in are made afresh. The
 * window's inputs are kept: a broken invariant writes them, in order, to $FUZZ_TRACE_DIR
 * (default ./fuzz_peer_host-trace-PID) as 00000.in, 00001.in, ..., and running the target on
 * them (`fuzz_peer_host DIR/0*.in`) replays the failure from a fresh start, as libFuzzer's
 * single reproducer could not once state carried across all inputs. */
#define WINDOW 1000
static uint8_t *window_in[WINDOW];
static size_t window_len[WINDOW];
static unsigned window_n;

static void window_keep(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    window_in[window_n] = copy;
    window_len[window_n++] = size;
}

static void window_clear(void)
{
    for (unsigned i = 0; i < window_n; i++)
        free(window_in[i]);
    window_n = 0;
}

static void dump_window(void)
{
    char dirname[256];
    const char *env = getenv("FUZZ_TRACE_DIR");
    if (env)
        snprintf(dirname, sizeof(dirname), "%s", env);
    else
        snprintf(dirname, sizeof(dirname), "fuzz_peer_host-trace-%d", (int)getpid());
    mkdir(dirname, 0755);
    for (unsigned i = 0; i < window_n; i++) {
        char path[300];
        snprintf(path, sizeof(path), "%s/%05u.in", dirname, i);
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(window_in[i], 1, window_len[i], f);
            fclose(f);
        }
    }
    fprintf(stderr, "fuzz_peer_host: the window's %u inputs are in %s/ (replay: %s/0*.in)\n",
            window_n, dirname, dirname);
}
static void close_peer(void)
{
    if (!peer || !peer->link)
        return;
    epoll_ctl(hp.ep, EPOLL_CTL_DEL, peer->tap, NULL);
    close(peer->tap);
    close(kernel);
    peer_link_close(guest);
    peer_link_close(peer->link);
    guest = NULL;
    peer->link = NULL;
}

static void cleanup(void)
{
    close_peer();
    rmdir(dir);
}

static void init(void)
{
    atexit(cleanup);
    for (size_t i = 0; i < sizeof(pattern); i++)
        pattern[i] = (uint8_t)(i * 31 + 7);
    snprintf(dir, sizeof(dir), "/tmp/fuzz_peer_host_XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(path_host, sizeof(path_host), "%s/vp0", dir);
    snprintf(path_guest, sizeof(path_guest), "%s/eth0", dir);
    hp.p = calloc(1, sizeof(*hp.p));
    hp.n = 1;
    hp.scratch = malloc(PEER_LINK_MAX_FRAME);
    hp.ep = epoll_create1(EPOLL_CLOEXEC);
    hp.sfd = -1;
    peer = &hp.p[0];
}

static void open_peer(void)
{
    memset(peer, 0, sizeof(*peer));
    peer->np = &hp;
    snprintf(peer->o.ifname, sizeof(peer->o.ifname), "vp0");
    peer->o.peer = path_guest;
    peer->o.bind = path_host;
    peer->o.offload = true;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
        abort();
    int big = 1 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    peer->tap = sv[0];
    kernel = sv[1];
    struct peer_link_cfg hc = {.bind_path = path_host,
                               .peer_path = path_guest,
                               .features = NET_GUEST_OFFLOADS,
                               .state_changed = np_state_changed,
                               .log = quiet,
                               .opaque = peer};
    struct peer_link_cfg gc = {.bind_path = path_guest,
                               .peer_path = path_host,
                               .mac = {0x52, 0x54, 0, 0, 0, 1},
                               .state_changed = guest_state,
                               .log = quiet,
                               .ring_size = 256u << 10};
    struct vdev_err err = {0};
    peer->link = peer_link_open(&hc, &err);
    guest = peer->link ? peer_link_open(&gc, &err) : NULL;
    if (!guest) {
        fprintf(stderr, "fuzz_peer_host: %s\n", err.msg);
        abort();
    }
    if (np_ep_add(hp.ep, peer->tap, EPOLLIN, TAG(0, TAG_TAP)))
        abort();
    wait_up();
}

/* ---- what reached each side ---- */

static uint64_t guest_records, kernel_frames;
/* Records in the ring may follow features older than the guest's current ones: set when the
 * guest renegotiates, cleared once the ring is empty and the host peer has read the guest's
 * last features message (a burst of them takes several services to arrive; the guest's NIC
 * completes a stale partial checksum and drops a stale GSO type, net_rx.c). */
static bool renegotiated;
static uint64_t sent_features; /* what the guest last sent */

static void guest_drain(unsigned max)
{
    size_t len;
    const uint8_t *r;
    uint64_t gf = peer->o.offload ? peer_link_peer_features(peer->link) : 0;
    while (max-- && (r = peer_link_rx_peek(guest, &len))) {
        CHECK(len >= NET_HDR_LEN + ETH_HLEN && len <= PEER_LINK_MAX_FRAME, "record of %zu", len);
        struct net_hdr h;
        net_hdr_load(&h, r);
        CHECK(renegotiated || !(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) ||
                  (gf & NET_BIT(VIRTIO_NET_F_GUEST_CSUM)),
              "partial checksum for a guest without GUEST_CSUM");
        CHECK(renegotiated || (h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) == VIRTIO_NET_HDR_GSO_NONE ||
                  net_guest_takes_gso(gf, h.gso_type),
              "GSO type 0x%x for a guest that cannot take it", h.gso_type);
        CHECK(h.num_buffers == 0, "num_buffers %u", h.num_buffers);
        guest_records++;
        peer_link_rx_release(guest);
    }
    if (!peer_link_rx_peek(guest, &len) && peer_link_peer_features(peer->link) == sent_features)
        renegotiated = false; /* what comes now follows the current features */
    peer_link_tx_flush(guest);
}

static void kernel_drain(void)
{
    for (;;) {
        ssize_t r = recv(kernel, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
        if (r <= 0)
            break;
        CHECK((size_t)r >= NET_HDR_LEN + ETH_HLEN && (size_t)r <= NET_HDR_LEN + NET_MAX_FRAME,
              "a %zd-byte write to the tap", r);
        struct net_hdr h;
        net_hdr_load(&h, buf);
        size_t flen = (size_t)r - NET_HDR_LEN;
        unsigned type = h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
        CHECK(!(h.flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID)),
              "flags 0x%x", h.flags);
        CHECK(!(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) ||
                  (size_t)h.csum_start + h.csum_offset + 2 <= flen,
              "checksum offsets outside the frame");
        CHECK(type == VIRTIO_NET_HDR_GSO_NONE ||
                  ((type == VIRTIO_NET_HDR_GSO_TCPV4 || type == VIRTIO_NET_HDR_GSO_TCPV6) &&
                   h.gso_size && (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)),
              "GSO header the kernel refuses: type 0x%x size %u", h.gso_type, h.gso_size);
        kernel_frames++;
    }
}

/* The host peer's loop reacts to the space eventfd (run()). */
static void space_events(void)
{
    struct pollfd pf = {.fd = peer_link_tx_space_fd(peer->link), .events = POLLIN};
    if (poll(&pf, 1, 0) == 1) {
        np_drain_fd(pf.fd);
        peer->waiting_space = false;
        np_tap_events(peer, true);
    }
    pf = (struct pollfd){.fd = peer_link_rx_fd(peer->link), .events = POLLIN};
    if (poll(&pf, 1, 0) == 1)
        np_drain_fd(pf.fd);
}

/* ---- frames ---- */

static size_t make_frame(struct fz_in *in, uint8_t *f, size_t len, size_t *l4, bool *v6)
{
    uint8_t shape = fz_u8(in);
    memcpy(f, pattern + shape, len);
    fz_take(in, f, len < 48 ? len : 48);
    *l4 = 0;
    *v6 = shape & 4;
    if (!(shape & 1) || len < 80)
        return len;
    bool vlan = shape & 2;
    size_t l3 = vlan ? 18 : 14;
    net_put_be16(f + 12, vlan ? ETH_P_8021Q : (*v6 ? ETH_P_IPV6 : ETH_P_IP));
    if (vlan)
        net_put_be16(f + 16, *v6 ? ETH_P_IPV6 : ETH_P_IP);
    size_t ipopt = (shape >> 3 & 3) * 4, tcpopt = (shape >> 5 & 3) * 4;
    size_t t4 = l3 + (*v6 ? 40 : 20 + ipopt);
    if (t4 + 20 + tcpopt > len)
        return len;
    uint8_t *ip = f + l3;
    if (*v6) {
        ip[0] = 0x60;
        ip[6] = 6;
    } else {
        ip[0] = (uint8_t)(0x40 | (20 + ipopt) / 4);
        net_put_be16(ip + 6, shape & 0x80 ? 0x2000 : 0x4000);
        ip[9] = 6;
    }
    f[t4 + 12] = (uint8_t)((20 + tcpopt) / 4 << 4);
    *l4 = t4;
    return len;
}

static void header(struct fz_in *in, struct net_hdr *h, uint8_t mode, size_t l4, bool v6)
{
    uint8_t raw[NET_HDR_LEN];
    fz_take(in, raw, sizeof(raw));
    net_hdr_load(h, raw);
    if (mode & 2) {
        h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h->csum_start = (uint16_t)(l4 ? l4 : 34);
        h->csum_offset = 16;
        h->gso_type = mode & 4 ? 0 : (v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4);
        if (mode & 8)
            h->gso_size = (uint16_t)(65535 - (h->gso_size & 0x7f));
        if (l4)
            h->hdr_len = (uint16_t)(l4 + 20);
    }
}

static void guest_send(struct fz_in *in)
{
    uint8_t mode = fz_u8(in);
    size_t len = fz_u16(in);
    if (mode & 0x80)
        len += 65536u - 4096u;
    size_t rec = NET_HDR_LEN + len;
    if (rec > PEER_LINK_MAX_FRAME || !len)
        return;
    uint8_t *p = peer_link_tx_reserve(guest, rec);
    if (!p)
        return;
    size_t l4;
    bool v6;
    make_frame(in, p + NET_HDR_LEN, len, &l4, &v6);
    struct net_hdr h;
    header(in, &h, mode, l4, v6);
    net_hdr_store(&h, p);
    peer_link_tx_commit(guest, rec);
    peer_link_tx_flush(guest);
}

static bool single_pending; /* a single-segment GSO frame waits in the TAP */
static unsigned pending;    /* frames sent to the TAP since the last round */

static void kernel_send(struct fz_in *in)
{
    uint8_t mode = fz_u8(in);
    size_t len = fz_u16(in);
    if (mode & 0x80)
        len += 65536u - 4096u;
    if (len > NET_MAX_FRAME + 64)
        len = NET_MAX_FRAME + 64;
    size_t l4;
    bool v6;
    make_frame(in, buf + NET_HDR_LEN, len, &l4, &v6);
    struct net_hdr h;
    header(in, &h, mode, l4, v6);
    net_hdr_store(&h, buf);
    if (send(kernel, buf, NET_HDR_LEN + len, MSG_DONTWAIT) < 0)
        return;
    pending++;
    /* a frame the guest cannot take as it is, that is one segment: its record always fits */
    if (l4 && h.gso_type && h.gso_size >= len && NET_HDR_LEN + len <= PEER_LINK_MAX_FRAME)
        single_pending = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!peer)
        init();
    if (window_n == WINDOW || !peer->link) {
        close_peer();
        window_clear();
        open_peer();
    }
    window_keep(data, size);
    wait_up();
    struct fz_in in = {data, size};
    peer->o.offload = fz_u8(&in) & 1;
    sent_features = fz_u32(&in) & 0x3ffu;
    peer_link_set_features(guest, sent_features);
    for (int i = 0; i < 4; i++) {
        peer_link_service(guest);
        peer_link_service(peer->link);
    }
    renegotiated = peer_link_peer_features(peer->link) != sent_features; /* the ring is empty */
    guest_records = kernel_frames = 0;
    struct np_stats st0 = peer->st;
    single_pending = false;
    pending = 0;
    for (unsigned steps = 0; fz_left(&in) && steps < 256; steps++) {
        uint8_t op = fz_u8(&in);
        switch (op % 8) {
        case 0:
        case 1:
            guest_send(&in);
            break;
        case 2:
        case 3:
            kernel_send(&in);
            break;
        case 4: { /* the host peer's loop: one round */
            bool empty = !peer_link_rx_peek(guest, &(size_t){0});
            uint64_t full = peer->st.drop_ring_full;
            bool single = single_pending && pending == 1; /* alone: nothing else can fill */
            single_pending = false;
            pending = 0;
            space_events();
            np_pump(&hp, peer);
            peer_link_service(guest);
            if (empty && single && !peer->waiting_space)
                CHECK(peer->st.drop_ring_full == full,
                      "a one-segment frame dropped as ring-full with the guest's ring empty");
            break;
        }
        case 5:
            guest_drain(op >> 3);
            break;
        case 6:
            kernel_drain();
            break;
        default: /* the guest renegotiates */
            sent_features = fz_u32(&in) & 0x3ffu;
            peer_link_set_features(guest, sent_features);
            peer_link_service(guest);
            renegotiated = true;
            break;
        }
    }
    /* the guest drains: the host peer goes back to reading the TAP, nothing stays stuck */
    for (unsigned i = 0; i < 64; i++) {
        guest_drain(~0u);
        space_events();
        np_pump(&hp, peer);
        peer_link_service(guest);
        kernel_drain();
        struct pollfd pf = {.fd = peer->tap, .events = POLLIN};
        if (poll(&pf, 1, 0) == 0 && !peer_link_rx_peek(guest, &(size_t){0}))
            break;
    }
    guest_drain(~0u);
    kernel_drain();
    struct pollfd pf = {.fd = peer->tap, .events = POLLIN};
    CHECK(poll(&pf, 1, 0) == 0, "the TAP is no longer read (waiting_space %d)",
          peer->waiting_space);
    CHECK(guest_records == peer->st.guest_frames - st0.guest_frames,
          "%llu records in the guest's ring, %llu counted", (unsigned long long)guest_records,
          (unsigned long long)(peer->st.guest_frames - st0.guest_frames));
    CHECK(kernel_frames == peer->st.tap_frames - st0.tap_frames,
          "%llu frames on the TAP, %llu counted", (unsigned long long)kernel_frames,
          (unsigned long long)(peer->st.tap_frames - st0.tap_frames));
    return 0;
}
