/* The peer link as a hostile peer process reaches it.
 *
 * Ring records (shm_ring.c): our consumer reads a ring whose records, tail and flags the
 * peer writes at will (lengths of every kind, wrap markers, tails that run ahead, behind or
 * unaligned, records across the end); our producer writes into a ring whose head and flags
 * the peer scribbles. Both rings are mapped between PROT_NONE guard pages (ASan does not
 * watch shared mappings), and every frame the consumer hands out is read whole and must lie
 * inside the data area; every reservation is written whole.
 *
 * Control messages (peer_link_proto.c, peer_link.c): HELLOs and other messages of any size
 * and content with any fds (right and wrong memfds, eventfds, pipes, too many, none) sent
 * to a live link's endpoint, sometimes after a real handshake (then FEATURES, junk, ACKs and
 * REFUSEs on both connections, hang-ups). The link must refuse or survive, never leak an fd
 * (the count of open fds is the same after every input), never come up with a peer that is
 * not its peer_path, and never report a frame outside its ring.
 */
/* FUZZ_ARGS: -max_len=2048 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "netpeer/peer_link.h"
#include "netpeer/peer_link_proto.h"
#include "netpeer/shm_ring.h"

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_peer_ring: invariant broken: %s: ", #cond);                      \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define RING  SHM_RING_MIN_SIZE
#define GUARD 4096u

/* ---- rings between guard pages ---- */

struct guarded {
    uint8_t *map; /* header page, then RING bytes of data */
    struct shm_ring_shared *sh;
    uint8_t *data;
};

static void guarded_map(struct guarded *g)
{
    size_t len = shm_ring_map_size(RING);
    uint8_t *area = mmap(NULL, len + 2 * GUARD, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED)
        abort();
    g->map = mmap(area + GUARD, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED,
                  -1, 0);
    if (g->map == MAP_FAILED)
        abort();
    g->sh = (struct shm_ring_shared *)g->map;
    g->data = g->map + SHM_RING_HDR_SIZE;
}

static struct guarded rc, rp; /* we consume rc, we produce into rp */
static uint8_t sink[PEER_LINK_MAX_FRAME];

static uint32_t pick_len(struct fz_in *in)
{
    uint8_t k = fz_u8(in);
    switch (k & 7) {
    case 0:
        return 0;
    case 1:
        return SHM_RING_WRAP;
    case 2:
        return PEER_LINK_MAX_FRAME - (k >> 3);
    case 3:
        return PEER_LINK_MAX_FRAME + (k >> 3);
    case 4:
        return RING - (k >> 3) * 8;
    case 5:
        return fz_u32(in);
    default:
        return 1 + fz_u16(in);
    }
}

static void ring_input(struct fz_in *in)
{
    memset(rc.map, 0, shm_ring_map_size(RING));
    memset(rp.map, 0, shm_ring_map_size(RING));
    struct shm_ring_consumer c;
    struct shm_ring_producer p;
    shm_ring_consumer_init(&c, rc.map, RING, PEER_LINK_MAX_FRAME);
    shm_ring_producer_init(&p, rp.map, RING, PEER_LINK_MAX_FRAME);
    uint32_t htail = 0; /* the hostile producer's own idea of its tail */
    uint64_t bad = 0;
    unsigned nops = fz_u8(in) % 64 + 1;
    for (unsigned i = 0; i < nops && fz_left(in); i++) {
        uint8_t op = fz_u8(in);
        switch (op % 10) {
        case 0:
        case 1: { /* the peer writes a record at its tail (or elsewhere) and publishes */
            uint32_t len = pick_len(in);
            uint32_t pos = op & 0x10 ? fz_u32(in) : htail;
            uint32_t off = pos & (RING - 1) & ~3u;
            memcpy(rc.data + off, &len, 4);
            uint8_t fill[64];
            size_t k = fz_take(in, fill, fz_u8(in) % sizeof(fill));
            if (off + 8 + k <= RING)
                memcpy(rc.data + off + 8, fill, k);
            uint32_t adv = len == SHM_RING_WRAP ? RING - (htail & (RING - 1))
                                                : SHM_RING_REC_HDR + ((len + 7u) & ~7u);
            if (op & 0x20)
                adv = fz_u32(in);
            htail += adv;
            atomic_store(&rc.sh->tail, op & 0x40 ? htail | (op >> 7) : htail);
            break;
        }
        case 2: /* the peer publishes any tail */
            htail = fz_u32(in);
            atomic_store(&rc.sh->tail, htail);
            break;
        case 3:
        case 4: { /* we read what is there, whole */
            for (unsigned k = 0; k < 8; k++) {
                uint32_t len;
                const uint8_t *f = shm_ring_peek(&c, &len);
                if (!f)
                    break;
                CHECK(len > 0 && len <= PEER_LINK_MAX_FRAME, "len %u", len);
                CHECK(f >= rc.data + SHM_RING_REC_HDR && f + len <= rc.data + RING,
                      "frame at %td+%u outside the ring", f - rc.data, len);
                memcpy(sink, f, len);
                shm_ring_release(&c);
            }
            CHECK(c.bad_records >= bad, "bad_records went back");
            bad = c.bad_records;
            break;
        }
        case 5: /* we announce sleep; the peer fiddles with the flags */
            shm_ring_sleep(&c);
            atomic_store(&rc.sh->sleeping, fz_u32(in));
            atomic_store(&rc.sh->want_space, fz_u32(in));
            break;
        case 6:
        case 7: { /* we produce; the consumer scribbled its head */
            uint32_t len = pick_len(in);
            uint8_t *w = shm_ring_reserve(&p, len);
            if (w) {
                CHECK(len <= PEER_LINK_MAX_FRAME && w >= rp.data + SHM_RING_REC_HDR &&
                          w + len <= rp.data + RING,
                      "reservation of %u at %td outside the ring", len, w - rp.data);
                memset(w, 0xa5, len);
                shm_ring_commit(&p, op & 0x10 ? len / 2 : len);
            }
            shm_ring_flush(&p);
            shm_ring_want_space(&p, len);
            break;
        }
        case 8: /* the hostile consumer moves its head anywhere, or behaves */
            if (op & 0x10)
                atomic_store(&rp.sh->head, fz_u32(in));
            else
                atomic_store(&rp.sh->head, atomic_load(&rp.sh->tail));
            atomic_store(&rp.sh->sleeping, fz_u8(in) & 1);
            break;
        case 9: /* a well-formed record, so deep states after bad ones are reached */
        {
            uint32_t len = 1 + fz_u16(in) % 2048;
            htail &= ~7u; /* the hostile tail may be anything; realign it */
            uint32_t pos = htail & (RING - 1);
            if (pos + SHM_RING_REC_HDR + len > RING) {
                uint32_t wrap = SHM_RING_WRAP;
                memcpy(rc.data + pos, &wrap, 4);
                htail += RING - pos;
                pos = 0;
            }
            memcpy(rc.data + pos, &len, 4);
            htail += SHM_RING_REC_HDR + ((len + 7u) & ~7u);
            atomic_store(&rc.sh->tail, htail);
            break;
        }
        }
    }
}

/* ---- control messages to a live link ---- */

static char dir[64], path_a[96], path_b[96];
static unsigned ups;

static void on_state(void *opaque, bool up)
{
    (void)opaque;
    ups += up;
}

static void on_log(void *opaque, enum vdev_log_level level, const char *msg)
{
    (void)opaque, (void)level, (void)msg;
}

static int count_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        n += fcntl(fd, F_GETFD) >= 0;
    return n;
}

static int connect_to(const char *path)
{
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0)
        return s;
    if (s >= 0)
        close(s);
    return -1;
}

/* One fd of a kind the input picks; -1 for none. */
static int make_fd(uint8_t kind)
{
    int fd = -1;
    switch (kind % 8) {
    case 0: /* a proper ring */
    case 1: {
        void *m;
        if (shm_ring_create(RING, &fd, &m) == 0)
            munmap(m, shm_ring_map_size(RING));
        break;
    }
    case 2: /* a memfd of the wrong size or unsealed */
        fd = memfd_create("fz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd >= 0 && ftruncate(fd, kind & 8 ? 4096 : (off_t)shm_ring_map_size(RING)))
            abort();
        break;
    case 3:
    case 4:
        fd = eventfd(0, EFD_CLOEXEC);
        break;
    case 5: {
        int p[2];
        if (pipe2(p, O_CLOEXEC) == 0) {
            close(p[1]);
            fd = p[0];
        }
        break;
    }
    case 6:
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        break;
    default:
        break;
    }
    return fd;
}

static void service(struct peer_link *a, unsigned times)
{
    for (unsigned i = 0; i < times; i++)
        peer_link_service(a);
}

/* sendmsg with up to 8 fds (pl_send takes at most PL_MAX_FDS: a peer may send more). */
static void raw_send(int s, const void *msg, size_t len, const int *fds, int nfds)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * 8)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = (void *)msg, .iov_len = len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    if (sendmsg(s, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        /* a full or closed socket: the message is not sent */
    }
}

static void send_msg(int s, struct fz_in *in, bool hello_like)
{
    union pl_msg m;
    memset(&m, 0, sizeof(m));
    size_t len = sizeof(m.hello);
    uint8_t shape = fz_u8(in);
    if (hello_like) {
        pl_hdr_init(&m.h, PL_HELLO);
        m.hello.instance = shape & 1 ? 42 : fz_u64(in);
        m.hello.ring_size = shape & 2 ? RING : fz_u32(in);
        m.hello.features = fz_u64(in);
        snprintf(m.hello.bind_path, sizeof(m.hello.bind_path), "%s", path_b);
        snprintf(m.hello.peer_path, sizeof(m.hello.peer_path), "%s", path_a);
    }
    if (shape & 4) { /* bytes from the input over it */
        size_t off = fz_u16(in) % sizeof(m);
        fz_take(in, m.raw + off, fz_u8(in) % (sizeof(m) - off + 1));
    }
    if (shape & 8)
        len = fz_u16(in) % (sizeof(m) + 64);
    if (shape & 16) {
        m.h.magic = PL_MAGIC;
        m.h.version = PL_VERSION;
        m.h.type = fz_u8(in) % 9; /* up to PL_TAP_RELEASED and one past */
    }
    int fds[PL_MAX_FDS + 2];
    int nfds = (shape >> 5) % 6;
    if (!(shape & 8) && hello_like && (shape >> 5) == 0)
        nfds = 3;
    for (int i = 0; i < nfds; i++)
        fds[i] =
            make_fd(i < 3 && hello_like && !(shape & 4) ? (uint8_t)(i == 0 ? 0 : 3) : fz_u8(in));
    int k = 0;
    for (int i = 0; i < nfds; i++)
        if (fds[i] >= 0)
            fds[k++] = fds[i];
    static char big[sizeof(m) + 64];
    memcpy(big, &m, sizeof(m));
    raw_send(s, big, len ? len : 1, fds, k);
    pl_close_fds(fds, k);
}

static void drain(int s)
{
    union pl_msg m;
    int fds[PL_MAX_FDS], n;
    for (unsigned i = 0; i < 8; i++) {
        long r = pl_recv(s, &m, fds, &n);
        if (r <= 0)
            break;
        pl_close_fds(fds, n < 0 ? 0 : n);
    }
}

/* A fake B that completes the handshake properly (then misbehaves on both connections). */
static void proto_input(struct fz_in *in)
{
    ups = 0;
    uint8_t mode = fz_u8(in);
    struct peer_link_cfg cfg = {.bind_path = path_a,
                                .peer_path = path_b,
                                .mac = {0x52, 0x54, 0, 0, 0, 1},
                                .state_changed = on_state,
                                .log = on_log,
                                .accept_tap = mode & 1}; /* a NIC: checks offered TAPs */
    struct vdev_err err = {0};
    struct peer_link *a = peer_link_open(&cfg, &err);
    if (!a) {
        fprintf(stderr, "fuzz_peer_ring: %s\n", err.msg);
        abort();
    }
    int listen_b = -1, in_b = -1, out_b = -1;
    int conns[4] = {-1, -1, -1, -1};
    unsigned nconn = 0;
    unsigned nops = fz_u8(in) % 24 + 1;
    for (unsigned i = 0; i < nops && fz_left(in); i++) {
        uint8_t op = fz_u8(in);
        switch (op % 8) {
        case 0: /* a stranger connects and says something */
        case 1:
            if (nconn < 4 && (conns[nconn] = connect_to(path_a)) >= 0)
                send_msg(conns[nconn++], in, op & 0x10);
            break;
        case 2: /* B listens at peer_path (the real peer's place) */
            if (listen_b < 0) {
                listen_b = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                struct sockaddr_un sa = {.sun_family = AF_UNIX};
                snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path_b);
                if (bind(listen_b, (struct sockaddr *)&sa, sizeof(sa)) || listen(listen_b, 4)) {
                    close(listen_b);
                    listen_b = -1;
                }
            }
            break;
        case 3: /* B connects to A (its "out") and sends a HELLO, well-formed or not */
            if (out_b < 0 && (out_b = connect_to(path_a)) >= 0)
                send_msg(out_b, in, true);
            break;
        case 4: /* B accepts A's connection and answers whatever it likes */
            service(a, 2);
            if (listen_b >= 0 && in_b < 0)
                in_b = accept4(listen_b, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (in_b >= 0) {
                drain(in_b);
                if (op & 0x20) { /* a proper ACK: the link comes up, deeper states follow */
                    struct pl_ack ack;
                    memset(&ack, 0, sizeof(ack));
                    pl_hdr_init(&ack.h, PL_ACK);
                    ack.instance = 42;
                    pl_send(in_b, &ack, sizeof(ack), NULL, 0);
                } else {
                    send_msg(in_b, in, false);
                }
            }
            break;
        case 5: /* more on B's out connection (FEATURES, junk) */
            if (out_b >= 0)
                send_msg(out_b, in, false);
            break;
        case 6: /* hang-ups */
            if (op & 0x10 && out_b >= 0) {
                close(out_b);
                out_b = -1;
            } else if (in_b >= 0) {
                close(in_b);
                in_b = -1;
            } else if (nconn) {
                close(conns[--nconn]);
            }
            break;
        default:
            service(a, 1 + op % 4);
            break;
        }
        /* A never hands out an fd the peer sent that is not a TAP (no fuzzer input makes one) */
        char tap_name[16];
        int tap = peer_link_take_tap(a, tap_name);
        CHECK(tap < 0, "took fd %d as a TAP", tap);
        /* A never reports a frame from a ring it did not map, or past its end */
        size_t len;
        const void *f = peer_link_rx_peek(a, &len);
        if (f) {
            CHECK(len > 0 && len <= PEER_LINK_MAX_FRAME, "len %zu", len);
            memcpy(sink, f, len);
            peer_link_rx_release(a);
        }
        void *w = peer_link_tx_reserve(a, 64);
        if (w) {
            memset(w, 1, 64);
            peer_link_tx_commit(a, 64);
            peer_link_tx_flush(a);
        }
    }
    service(a, 2);
    if (getenv("FUZZ_NET_VERBOSE")) {
        struct peer_link_stats st;
        peer_link_get_stats(a, &st);
        fprintf(stderr, "link ups %u, up now %d, bad records %llu\n", ups, peer_link_up(a),
                (unsigned long long)st.bad_frames);
    }
    peer_link_close(a);
    for (unsigned i = 0; i < nconn; i++)
        close(conns[i]);
    if (in_b >= 0)
        close(in_b);
    if (out_b >= 0)
        close(out_b);
    if (listen_b >= 0)
        close(listen_b);
    unlink(path_b);
    unlink(path_a);
}

static void cleanup(void)
{
    rmdir(dir); /* each input removed its endpoints */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int base_fds = -1;
    if (!rc.map) {
        guarded_map(&rc);
        guarded_map(&rp);
        snprintf(dir, sizeof(dir), "/tmp/fuzz_peer_ring_XXXXXX");
        if (!mkdtemp(dir))
            abort();
        snprintf(path_a, sizeof(path_a), "%s/a", dir);
        snprintf(path_b, sizeof(path_b), "%s/b", dir);
        atexit(cleanup);
    }
    /* counted per input: libFuzzer itself opens fds between inputs (the symbolizer's pipes
     * when it prints a new function) */
    base_fds = count_fds();
    struct fz_in in = {data, size};
    if (fz_u8(&in) & 1)
        ring_input(&in);
    else
        proto_input(&in);
    int now = count_fds();
    if (now != base_fds) { /* say which */
        for (int fd = 0; fd < 1024; fd++) {
            char l[64], t[256] = "";
            snprintf(l, sizeof(l), "/proc/self/fd/%d", fd);
            if (readlink(l, t, sizeof(t) - 1) > 0)
                fprintf(stderr, "fd %d: %s\n", fd, t);
        }
    }
    CHECK(now == base_fds, "%d fds open, %d before (a leak)", now, base_fds);
    return 0;
}
