/* The peer link against a hostile peer: malformed HELLOs from a raw socket are refused with a
 * reason (and their fds closed), a fake peer that completes the handshake and then
 * corrupts the ring gets its records counted as bad frames, never an out-of-bounds access,
 * and a TAP it offers is taken only if it really is one (else closed, with a reason). */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "netpeer/peer_link.h"
#include "netpeer/peer_link_proto.h"
#include "netpeer/shm_ring.h"

static char dir[64], path_a[96], path_b[96];
static char logbuf[16384];
static unsigned ups, downs;
static bool accept_tap; /* open_a's NIC takes a TAP its peer offers */

static void on_state(void *opaque, bool up)
{
    if (up)
        ups++;
    else
        downs++;
}

static void on_log(void *opaque, enum vdev_log_level level, const char *msg)
{
    size_t n = strlen(logbuf);
    snprintf(logbuf + n, sizeof(logbuf) - n, "%s\n", msg);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/peerlink-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path_a, sizeof(path_a), "%s/curly", dir);
    snprintf(path_b, sizeof(path_b), "%s/moe", dir);
    logbuf[0] = 0;
    ups = downs = 0;
    accept_tap = false;
}

static void teardown(void)
{
    unlink(path_a);
    unlink(path_b);
    rmdir(dir);
}

static struct peer_link *open_a(void)
{
    struct peer_link_cfg cfg = {.bind_path = path_a,
                                .peer_path = path_b,
                                .mac = {0x52, 0x54, 0, 0, 0, 1},
                                .state_changed = on_state,
                                .log = on_log,
                                .accept_tap = accept_tap};
    struct vdev_err err;
    struct peer_link *l = peer_link_open(&cfg, &err);
    ck_assert_msg(l != NULL, "%s", err.msg);
    return l;
}

static void service_for(struct peer_link *l, int ms)
{
    for (int i = 0; i < ms; i += 2) {
        peer_link_service(l);
        usleep(2000);
    }
}

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static int connect_to(const char *path)
{
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    ck_assert_int_eq(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return s;
}

/* Services A until a message arrives on fd. */
static long recv_serviced(struct peer_link *a, int fd, union pl_msg *m)
{
    int rfds[PL_MAX_FDS], rn;
    for (int i = 0; i < 500; i++) {
        long n = pl_recv(fd, m, rfds, &rn);
        if (n != -EAGAIN) {
            pl_close_fds(rfds, rn < 0 ? 0 : rn);
            return n;
        }
        peer_link_service(a);
        usleep(2000);
    }
    return -EAGAIN;
}

static void good_hello(struct pl_hello *h)
{
    memset(h, 0, sizeof(*h));
    pl_hdr_init(&h->h, PL_HELLO);
    h->instance = 42;
    h->ring_size = SHM_RING_MIN_SIZE;
    h->mac[5] = 2;
    snprintf(h->bind_path, sizeof(h->bind_path), "%s", path_b);
    snprintf(h->peer_path, sizeof(h->peer_path), "%s", path_a);
}

/* Sends msg (with fds) to A's endpoint and expects a REFUSE whose reason contains `why`. */
static void expect_refused(struct peer_link *a, const void *msg, size_t len, int *fds, int nfds,
                           const char *why)
{
    int s = connect_to(path_a);
    ck_assert_int_eq(pl_send(s, msg, len, fds, nfds), 0);
    pl_close_fds(fds, nfds);
    service_for(a, 10);
    union pl_msg m;
    int rfds[PL_MAX_FDS], rn;
    long n = pl_recv(s, &m, rfds, &rn);
    ck_assert_int_eq(n, (long)sizeof(m.refuse));
    ck_assert_int_eq(m.h.type, PL_REFUSE);
    ck_assert_msg(strstr(m.refuse.reason, why), "reason '%s', expected '%s'", m.refuse.reason, why);
    ck_assert_ptr_nonnull(strstr(logbuf, why));
    close(s);
}

/* The three fds of a HELLO: a proper ring unless memfd_size says otherwise. */
static void make_fds(int fds[3], size_t memfd_size, bool seal)
{
    fds[0] = memfd_create("test-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    ck_assert_int_ge(fds[0], 0);
    ck_assert_int_eq(ftruncate(fds[0], (off_t)memfd_size), 0);
    if (seal)
        ck_assert_int_eq(fcntl(fds[0], F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
    fds[1] = eventfd(0, EFD_CLOEXEC);
    fds[2] = eventfd(0, EFD_CLOEXEC);
}

START_TEST(bad_hellos_are_refused)
{
    struct peer_link *a = open_a();
    service_for(a, 4);
    int before = count_fds();
    struct pl_hello h;
    int fds[4];
    size_t ring_bytes = shm_ring_map_size(SHM_RING_MIN_SIZE);

    expect_refused(a, "abc", 3, NULL, 0, "bad magic");

    good_hello(&h);
    h.h.magic = 0xdeadbeef;
    make_fds(fds, ring_bytes, true);
    expect_refused(a, &h, sizeof(h), fds, 3, "bad magic");

    good_hello(&h);
    h.h.version = 7;
    make_fds(fds, ring_bytes, true);
    expect_refused(a, &h, sizeof(h), fds, 3, "protocol version 7");

    good_hello(&h);
    make_fds(fds, ring_bytes, true);
    expect_refused(a, &h, sizeof(h) - 8, fds, 3, "malformed HELLO");

    good_hello(&h);
    snprintf(h.bind_path, sizeof(h.bind_path), "/run/vdevkit/other/larry");
    make_fds(fds, ring_bytes, true);
    expect_refused(a, &h, sizeof(h), fds, 3, "unexpected peer /run/vdevkit/other/larry");

    good_hello(&h);
    memset(h.peer_path, 'x', sizeof(h.peer_path));
    make_fds(fds, ring_bytes, true);
    expect_refused(a, &h, sizeof(h), fds, 3, "unterminated");

    good_hello(&h);
    make_fds(fds, 4096, true); /* tiny memfd */
    expect_refused(a, &h, sizeof(h), fds, 3, "wrong size");

    good_hello(&h);
    make_fds(fds, ring_bytes, true);
    close(fds[0]);
    char file[128];
    snprintf(file, sizeof(file), "%s/not-a-memfd", dir);
    fds[0] = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600); /* a regular file */
    ck_assert_int_ge(fds[0], 0);
    ck_assert_int_eq(ftruncate(fds[0], (off_t)ring_bytes), 0);
    unlink(file);
    expect_refused(a, &h, sizeof(h), fds, 3, "not a memory file");

    good_hello(&h);
    h.ring_size = (1u << 30);
    make_fds(fds, ring_bytes, true);
    expect_refused(a, &h, sizeof(h), fds, 3, "bad ring size");

    good_hello(&h);
    make_fds(fds, ring_bytes, false); /* could be truncated under A */
    expect_refused(a, &h, sizeof(h), fds, 3, "not sealed");

    good_hello(&h);
    make_fds(fds, ring_bytes, true);
    close(fds[1]);
    close(fds[2]);
    ck_assert_int_eq(pipe(fds + 1), 0); /* a pipe instead of two eventfds */
    expect_refused(a, &h, sizeof(h), fds, 3, "not eventfds");

    good_hello(&h);
    make_fds(fds, ring_bytes, true);
    fds[3] = eventfd(0, EFD_CLOEXEC);
    expect_refused(a, &h, sizeof(h), fds, 4, "too many fds");

    /* A peer may send many more; pl_send's control buffer once held 4 fds (ASan: a stack
     * overflow for more), found by fuzz_peer_ring. */
    int many[16];
    good_hello(&h);
    make_fds(many, ring_bytes, true);
    for (int i = 3; i < 16; i++)
        many[i] = eventfd(0, EFD_CLOEXEC);
    expect_refused(a, &h, sizeof(h), many, 16, "too many fds");
    ck_assert_int_eq(pl_send(0, &h, sizeof(h), many, 17), -EINVAL);

    good_hello(&h);
    make_fds(fds, ring_bytes, true);
    close(fds[2]);
    expect_refused(a, &h, sizeof(h), fds, 2, "2 fds");

    good_hello(&h);
    expect_refused(a, &h, sizeof(h), NULL, 0, "0 fds");

    /* A wrong kind of message first. */
    struct pl_features f;
    memset(&f, 0, sizeof(f));
    pl_hdr_init(&f.h, PL_FEATURES);
    expect_refused(a, &f, sizeof(f), NULL, 0, "malformed HELLO");

    /* A refusal is logged once, not once per attempt. */
    char *first = strstr(logbuf, "0 fds");
    ck_assert_ptr_null(strstr(first + 1, "0 fds"));

    service_for(a, 10);
    ck_assert_int_eq(count_fds(), before); /* every received fd was closed */
    ck_assert_uint_eq(ups, 0);
    peer_link_close(a);
}
END_TEST

START_TEST(silent_connections_are_bounded)
{
    struct peer_link *a = open_a();
    int s[6];
    for (int i = 0; i < 6; i++)
        s[i] = connect_to(path_a);
    service_for(a, 10);
    ck_assert_ptr_nonnull(strstr(logbuf, "too many connections"));
    /* They are dropped after the HELLO timeout. */
    service_for(a, 2300);
    for (int i = 0; i < 6; i++) {
        char c;
        ck_assert_int_eq(recv(s[i], &c, 1, MSG_DONTWAIT), 0); /* hung up */
        close(s[i]);
    }
    peer_link_close(a);
}
END_TEST

/* A fake B that speaks the protocol by hand and then misbehaves in shared memory. */
struct fake {
    int listen, out, in;
    int ring_fd, rx_efd, space_efd;
    void *own_ring;               /* the ring A writes into */
    struct shm_ring_shared *a_sh; /* A's receive ring, which we write */
    uint8_t *a_data;
    uint32_t a_size;
};

static void fake_handshake(struct fake *f, struct peer_link *a)
{
    f->listen = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path_b);
    ck_assert_int_eq(bind(f->listen, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(f->listen, 4), 0);
    ck_assert_int_eq(shm_ring_create(SHM_RING_MIN_SIZE, &f->ring_fd, &f->own_ring), 0);
    f->rx_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    f->space_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct pl_hello h;
    good_hello(&h);
    int fds[3] = {f->ring_fd, f->rx_efd, f->space_efd};
    f->out = connect_to(path_a);
    ck_assert_int_eq(pl_send(f->out, &h, sizeof(h), fds, 3), 0);
    /* A accepts our HELLO and connects to us with its own. */
    f->in = -1;
    for (int i = 0; i < 200 && f->in < 0; i++) {
        peer_link_service(a);
        usleep(2000);
        f->in = accept4(f->listen, NULL, NULL, SOCK_CLOEXEC);
    }
    ck_assert_int_ge(f->in, 0);
    union pl_msg m;
    int rfds[PL_MAX_FDS], rn;
    long n = recv_serviced(a, f->out, &m);
    ck_assert_int_eq(n, (long)sizeof(m.ack));
    ck_assert_int_eq(m.h.type, PL_ACK);
    struct pollfd p = {.fd = f->in, .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, 1000), 1);
    n = pl_recv(f->in, &m, rfds, &rn);
    ck_assert_int_eq(n, (long)sizeof(m.hello));
    ck_assert_int_eq(rn, 3);
    const char *why = NULL;
    f->a_size = m.hello.ring_size;
    void *map = shm_ring_map_peer(rfds[0], f->a_size, &why);
    ck_assert_ptr_nonnull(map);
    f->a_sh = map;
    f->a_data = (uint8_t *)map + SHM_RING_HDR_SIZE;
    pl_close_fds(rfds, rn);
    struct pl_ack ack;
    memset(&ack, 0, sizeof(ack));
    pl_hdr_init(&ack.h, PL_ACK);
    ack.instance = 42;
    ck_assert_int_eq(pl_send(f->in, &ack, sizeof(ack), NULL, 0), 0);
    service_for(a, 10);
    ck_assert(peer_link_up(a));
}

static void fake_close(struct fake *f)
{
    munmap(f->a_sh, shm_ring_map_size(f->a_size));
    munmap(f->own_ring, shm_ring_map_size(SHM_RING_MIN_SIZE));
    close(f->listen);
    close(f->out);
    close(f->in);
    close(f->ring_fd);
    close(f->rx_efd);
    close(f->space_efd);
}

/* Writes a record header {len} at byte position pos of A's ring and publishes tail. */
static void put(struct fake *f, uint32_t pos, uint32_t len, uint32_t tail)
{
    memcpy(f->a_data + (pos & (f->a_size - 1)), &len, 4);
    atomic_store(&f->a_sh->tail, tail);
}

static uint64_t bad_frames(struct peer_link *a)
{
    struct peer_link_stats st;
    peer_link_get_stats(a, &st);
    return st.bad_frames;
}

START_TEST(corrupted_ring_is_survived)
{
    struct peer_link *a = open_a();
    struct fake f;
    fake_handshake(&f, a);
    size_t len;
    uint32_t t = 0;

    /* A length far beyond the frame limit. */
    put(&f, t, 0x7fffffff, t + 16);
    t += 16;
    ck_assert_ptr_null(peer_link_rx_peek(a, &len));
    ck_assert_uint_eq(bad_frames(a), 1);
    /* A length running past what was published. */
    put(&f, t, 100, t + 16);
    t += 16;
    ck_assert_ptr_null(peer_link_rx_peek(a, &len));
    ck_assert_uint_eq(bad_frames(a), 2);
    /* Zero length. */
    put(&f, t, 0, t + 8);
    t += 8;
    ck_assert_ptr_null(peer_link_rx_peek(a, &len));
    ck_assert_uint_eq(bad_frames(a), 3);
    /* A wrap marker claiming more than was published. */
    put(&f, t, SHM_RING_WRAP, t + 8);
    t += 8;
    ck_assert_ptr_null(peer_link_rx_peek(a, &len));
    ck_assert_uint_eq(bad_frames(a), 4);
    /* Good records up to near the end of the ring, then one that would cross the end. */
    uint32_t mask = f.a_size - 1;
    while (f.a_size - (t & mask) > 65544 + 64) {
        put(&f, t, 65536, t + 65544);
        t += 65544;
        ck_assert_ptr_nonnull(peer_link_rx_peek(a, &len));
        ck_assert_uint_eq(len, 65536);
        peer_link_rx_release(a);
    }
    uint32_t r = f.a_size - (t & mask);
    put(&f, t, r, t + 8 + r);
    t += 8 + r;
    ck_assert_ptr_null(peer_link_rx_peek(a, &len));
    ck_assert_uint_eq(bad_frames(a), 5);
    /* A good record after all that arrives. */
    put(&f, t, 5, t + 16);
    memcpy(f.a_data + ((t + 8) & (f.a_size - 1)), "hello", 5);
    t += 16;
    const char *p = peer_link_rx_peek(a, &len);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(len, 5);
    ck_assert_int_eq(memcmp(p, "hello", 5), 0);
    peer_link_rx_release(a);
    ck_assert(peer_link_up(a));

    /* Nonsense head in our own ring (the one A writes): A fills at most the ring, no more. */
    atomic_store(&((struct shm_ring_shared *)f.own_ring)->head, 0x12345677u);
    unsigned sent = 0;
    while (sent < 100 && peer_link_tx_reserve(a, 65562)) {
        peer_link_tx_commit(a, 65562);
        sent++;
    }
    ck_assert_uint_le(sent, 4);
    ck_assert(!peer_link_tx_want_space(a, 60));

    /* An impossible tail: the ring is broken; A drops this connection and reconnects. */
    atomic_store(&f.a_sh->tail, t + 3);
    ck_assert_ptr_null(peer_link_rx_peek(a, &len));
    service_for(a, 10);
    ck_assert(!peer_link_up(a));
    ck_assert_uint_eq(downs, 1);
    ck_assert_ptr_nonnull(strstr(logbuf, "corrupted our receive ring"));
    fake_close(&f);
    peer_link_close(a);
}
END_TEST

START_TEST(stale_incoming_from_old_instance_is_dropped)
{
    /* The fake's incoming connection claims instance 42 but acknowledges A's HELLO as 43:
     * the link must not come up with halves from two different peers. */
    struct peer_link *a = open_a();
    struct fake f;
    f.listen = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path_b);
    ck_assert_int_eq(bind(f.listen, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(f.listen, 4), 0);
    ck_assert_int_eq(shm_ring_create(SHM_RING_MIN_SIZE, &f.ring_fd, &f.own_ring), 0);
    int fds[3] = {f.ring_fd, eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC)};
    struct pl_hello h;
    good_hello(&h);
    f.out = connect_to(path_a);
    ck_assert_int_eq(pl_send(f.out, &h, sizeof(h), fds, 3), 0);
    f.in = -1;
    for (int i = 0; i < 200 && f.in < 0; i++) {
        peer_link_service(a);
        usleep(2000);
        f.in = accept4(f.listen, NULL, NULL, SOCK_CLOEXEC);
    }
    ck_assert_int_ge(f.in, 0);
    struct pl_ack ack;
    memset(&ack, 0, sizeof(ack));
    pl_hdr_init(&ack.h, PL_ACK);
    ack.instance = 43;
    ck_assert_int_eq(pl_send(f.in, &ack, sizeof(ack), NULL, 0), 0);
    service_for(a, 20);
    ck_assert(!peer_link_up(a));
    ck_assert_uint_eq(ups, 0);
    union pl_msg m;
    ck_assert_int_eq(recv_serviced(a, f.out, &m), (long)sizeof(m.ack));
    ck_assert_int_eq(recv_serviced(a, f.out, &m), 0); /* then A hung up on "42" */
    close(f.out);
    close(f.in);
    close(f.listen);
    close(fds[1]);
    close(fds[2]);
    close(f.ring_fd);
    munmap(f.own_ring, shm_ring_map_size(SHM_RING_MIN_SIZE));
    peer_link_close(a);
}
END_TEST

START_TEST(impostor_cannot_break_a_live_link)
{
    /* A real B is linked; a third process claims to be B (right path, new instance). */
    struct peer_link *a = open_a();
    struct peer_link_cfg cfg = {.bind_path = path_b, .peer_path = path_a};
    struct vdev_err err;
    struct peer_link *b = peer_link_open(&cfg, &err);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < 500 && !(peer_link_up(a) && peer_link_up(b)); i++) {
        peer_link_service(a);
        peer_link_service(b);
        usleep(2000);
    }
    ck_assert(peer_link_up(a));
    struct pl_hello h;
    int fds[3];
    good_hello(&h);
    make_fds(fds, shm_ring_map_size(SHM_RING_MIN_SIZE), true);
    expect_refused(a, &h, sizeof(h), fds, 3, "is connected already");
    for (int i = 0; i < 20; i++) {
        peer_link_service(a);
        peer_link_service(b);
        usleep(2000);
    }
    ck_assert(peer_link_up(a));
    ck_assert_uint_eq(downs, 0);
    /* Frames still flow to the real B. */
    void *p = peer_link_tx_reserve(a, 60);
    ck_assert_ptr_nonnull(p);
    memset(p, 7, 60);
    peer_link_tx_commit(a, 60);
    size_t len;
    ck_assert_ptr_nonnull(peer_link_rx_peek(b, &len));
    ck_assert_uint_eq(len, 60);
    peer_link_close(b);
    peer_link_close(a);
}
END_TEST

/* How many fds this process has open (a refused TAP must not stay). */
static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* How many of them are TUN/TAP fds. */
static int tun_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));) {
        char p[300], l[64];
        snprintf(p, sizeof(p), "/proc/self/fd/%s", e->d_name);
        ssize_t k = readlink(p, l, sizeof(l) - 1);
        n += k == 12 && memcmp(l, "/dev/net/tun", 12) == 0;
    }
    closedir(d);
    return n;
}

/* Offers `fd` (and `extra` when >= 0) as PL_TAP on the fake's connection; A services. */
static void offer(struct fake *f, struct peer_link *a, int fd, int extra)
{
    struct pl_tap t;
    memset(&t, 0, sizeof(t));
    pl_hdr_init(&t.h, PL_TAP);
    snprintf(t.ifname, sizeof(t.ifname), "lies");
    int fds[2] = {fd, extra};
    ck_assert_int_eq(pl_send(f->out, &t, sizeof(t), fds, extra >= 0 ? 2 : 1), 0);
    service_for(a, 10);
}

/* PL_TAP_TAKE or PL_TAP_RELEASED from the fake; A services. */
static void send_step(struct fake *f, struct peer_link *a, enum pl_type type)
{
    struct pl_tap_step t;
    memset(&t, 0, sizeof(t));
    pl_hdr_init(&t.h, type);
    ck_assert_int_eq(pl_send(f->out, &t, sizeof(t), NULL, 0), 0);
    service_for(a, 10);
}

/* A TUN/TAP fd made here (persistent interfaces need none): -1 without /dev/net/tun or root. */
static int tun_fd(const char *name, short flags, int vnet_hdr)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = flags;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0 || (vnet_hdr && ioctl(fd, TUNSETVNETHDRSZ, &vnet_hdr) < 0)) {
        close(fd);
        return -1;
    }
    return fd;
}

START_TEST(offered_tap_is_checked)
{
    accept_tap = true;
    struct peer_link *a = open_a();
    struct fake f;
    fake_handshake(&f, a);
    char name[16];
    int base = open_fds();

    /* not a TAP: an eventfd, a regular file, two fds at once */
    int efd = eventfd(0, EFD_CLOEXEC);
    offer(&f, a, efd, -1);
    ck_assert_int_eq(peer_link_take_tap(a, name), -1);
    ck_assert_msg(strstr(logbuf, "offered a TAP: refused: not a TAP: anon_inode:[eventfd]"), "%s",
                  logbuf);
    offer(&f, a, efd, efd);
    ck_assert_int_eq(peer_link_take_tap(a, name), -1);
    close(efd);
    ck_assert_int_eq(open_fds(), base); /* what A refused, A closed */
    ck_assert(peer_link_up(a));

    int tun = tun_fd("vdkhtun0", IFF_TUN | IFF_NO_PI, 12);
    int plain = tun_fd("vdkhtap0", IFF_TAP | IFF_NO_PI, 0); /* no virtio-net header */
    int good = tun_fd("vdkhtap1", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, 12);
    if (tun < 0 || plain < 0 || good < 0) {
        fprintf(stderr, "offered_tap_is_checked: no /dev/net/tun or not root: the TAP part "
                        "skipped\n");
    } else {
        offer(&f, a, tun, -1);
        ck_assert_int_eq(peer_link_take_tap(a, name), -1);
        offer(&f, a, plain, -1);
        ck_assert_int_eq(peer_link_take_tap(a, name), -1);
        ck_assert_msg(strstr(logbuf, "want a TAP, no packet info, 12-byte virtio-net headers"),
                      "%s", logbuf);
        base = open_fds();
        offer(&f, a, good, -1);
        ck_assert_int_eq(open_fds(), base + 1); /* kept */
        /* a release nobody asked for is ignored */
        send_step(&f, a, PL_TAP_RELEASED);
        /* the first call asks the peer (PL_TAP_TAKE); the TAP is ours once it let go */
        ck_assert_int_eq(peer_link_take_tap(a, name), -1);
        union pl_msg m;
        int rfds[PL_MAX_FDS], rn = 0;
        struct pollfd p = {.fd = f.in, .events = POLLIN};
        ck_assert_int_eq(poll(&p, 1, 1000), 1);
        ck_assert_int_eq(pl_recv(f.in, &m, rfds, &rn), (long)sizeof(m.tap_step));
        ck_assert_int_eq(m.h.type, PL_TAP_TAKE);
        ck_assert_int_eq(rn, 0);
        ck_assert_int_eq(peer_link_take_tap(a, name), -1); /* not released yet */
        send_step(&f, a, PL_TAP_RELEASED);
        int got = peer_link_take_tap(a, name);
        ck_assert_int_ge(got, 0);
        ck_assert_str_eq(name, "vdkhtap1"); /* from the fd, not from the message */
        ck_assert_int_eq(open_fds(), base + 1);
        ck_assert(fcntl(got, F_GETFL) & O_NONBLOCK);
        ck_assert_int_eq(peer_link_take_tap(a, name), -1); /* taken once */
        close(got);
        /* an offer left untaken goes with the connection that made it */
        offer(&f, a, good, -1);
        ck_assert_int_eq(tun_fds(), 4); /* ours and the one A keeps */
        close(f.out);
        f.out = -1;
        service_for(a, 20);
        ck_assert(!peer_link_up(a));
        ck_assert_int_eq(peer_link_take_tap(a, name), -1);
        ck_assert_int_eq(tun_fds(), 3);
    }
    if (tun >= 0)
        close(tun);
    if (plain >= 0)
        close(plain);
    if (good >= 0)
        close(good);
    fake_close(&f);
    peer_link_close(a);
}
END_TEST

START_TEST(tap_offer_without_accept_is_closed)
{
    struct peer_link *a = open_a(); /* accept_tap off, as for two guests' NICs */
    struct fake f;
    fake_handshake(&f, a);
    int efd = eventfd(0, EFD_CLOEXEC);
    int base = open_fds();
    offer(&f, a, efd, -1);
    close(efd);
    ck_assert_int_eq(open_fds(), base - 1);
    char name[16];
    ck_assert_int_eq(peer_link_take_tap(a, name), -1);
    ck_assert(peer_link_up(a));
    fake_close(&f);
    peer_link_close(a);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("peer_link_hostile");
    TCase *tc = tcase_create("hostile");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, bad_hellos_are_refused);
    tcase_add_test(tc, silent_connections_are_bounded);
    tcase_add_test(tc, corrupted_ring_is_survived);
    tcase_add_test(tc, stale_incoming_from_old_instance_is_dropped);
    tcase_add_test(tc, impostor_cannot_break_a_live_link);
    tcase_add_test(tc, offered_tap_is_checked);
    tcase_add_test(tc, tap_offer_without_accept_is_closed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
