/* The virtio-net fuzz targets' shared harness (fuzz_net_tx, _ctrl, _rx, _tap): one NIC in a
 * machine built with `dryrun` (so no data thread starts: the harness runs the thread's passes
 * itself, synchronously), bound to a fake transport, driven by a synthetic virtio driver
 * whose rings and buffers lie in guest RAM. The wire is either a real peer link to a "sink"
 * end in this process (made once, kept across inputs, both rings drained after each input)
 * or, for fuzz_net_tap, a SOCK_SEQPACKET socket pair standing in for the TAP (tap_if.c's
 * calls are replaced at link time, see fuzz_net_tap.c).
 *
 * The input is a sequence of operations (fn_step); each target allows a subset. What every
 * input must keep true (fn_check_*, abort on failure):
 *   - nothing the NIC put on the wire is longer than a ring record or carries a header the
 *     far end cannot take (offload bits beyond what it announced and `peerfeats` allow);
 *     the sink receives exactly tx_frames records;
 *   - every used entry names a chain the driver made available and still had outstanding;
 *     a tx entry has length 0, an rx entry no more than its chain can hold; a delivered
 *     frame (its chains put together by num_buffers) is a frame the far end sent, in order;
 *   - a broken driver leaves the device in NEEDS_RESET (errors counted once);
 *   - once the far end drains, every tx chain is used within a few passes without any time
 *     passing (back-pressure never wedges: a frame that can never fit must not block);
 *   - interrupt moderation (FN_OP_COAL, on a clock of the harness's own): what the
 *     interrupt counters say is what the transport raised, per queue; nothing stays held
 *     past its deadline nor beyond NET_COAL_MAX_FRAMES; acknowledged NOTF_COAL commands are
 *     what the device applies (a model); once the longest hold has passed, nothing is held;
 *   - multiqueue (fuzz_net_ctrl's NIC has `queues 4`): an acknowledged VQ_PAIRS_SET or
 *     RSS_CONFIG is one the spec allows (a model checks every field); a frame is delivered
 *     only on an rx queue in use (automatic steering: below the pairs set; RSS: any pair);
 *     with several rx queues, deliveries are matched in any order (each queue is reaped
 *     apart); tx chains on every pair's queue are used;
 *   - ASan/UBSan: no out-of-bounds access, no leak.
 */
#ifndef FUZZ_NET_H
#define FUZZ_NET_H

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vdev/virtio_transport.h>

#include "fuzz_common.h"
#include "net.h"
#include "net_backend.h"
#include "netpeer/net_mac.h"
#include "netpeer/net_offload.h"
#include "netpeer/peer_link.h"

extern const struct vdev_type vdev_module_virtio_net;

#define FN_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Guest-physical layout (RAM at 0): queue q's descriptors at FN_QBASE + q * 0x4000, its
 * available ring 0x1000 after them, its used ring 0x2000 after; buffers from FN_BUF, never
 * reused within an input (so a delivered frame can be compared with what was sent). */
#define FN_RAM    (4u << 20)
#define FN_QBASE  0x10000ull
#define FN_BUF    0x40000ull
#define FN_QMAX   256u
#define FN_MAX_VQ 9u /* `queues 4` at most: the queues end below FN_BUF */
_Static_assert(FN_QBASE + FN_MAX_VQ * 0x4000ull <= FN_BUF, "queues below the buffers");
#define FN_F_NEXT 1u
#define FN_F_WRT  2u
#define FN_F_IND  4u

enum fn_ops {
    FN_OP_TX = 1u << 0,    /* guest transmit chains */
    FN_OP_RX = 1u << 1,    /* guest receive buffers, frames from the far end */
    FN_OP_CTRL = 1u << 2,  /* control-queue commands */
    FN_OP_RAW = 1u << 3,   /* raw descriptor / ring scribbles (a hostile driver) */
    FN_OP_FLOW = 1u << 4,  /* far end stops draining, time passes, peerfeats change */
    FN_OP_RESET = 1u << 5, /* driver resets and restarts with other features */
    FN_OP_TAP = 1u << 6,   /* the wire is the TAP stand-in (fuzz_net_tap) */
    FN_OP_COAL = 1u << 7,  /* NOTF_COAL commands, coalescing defaults, the clock moves */
};

struct fn_coal { /* what the driver set with an acked NOTF_COAL command, per direction */
    bool set;
    uint32_t frames, usecs;
};

struct fn_chain { /* one chain the driver made available */
    bool live;
    unsigned ndesc;
    uint32_t in_len;     /* writable bytes */
    uint64_t in_addr[8]; /* writable buffers (rx), in order */
    uint32_t in_size[8];
    unsigned nin;
};

struct fn_q {
    uint16_t size;
    uint16_t avail_idx, used_seen, next_desc;
    unsigned outstanding; /* descriptors in chains not yet used */
    struct fn_chain chain[FN_QMAX];
};

struct fn_sent { /* a frame the far end sent, for matching deliveries */
    uint32_t len;
    uint32_t hash;
    bool loose; /* its checksum may be completed on the way, at csum_at */
    uint32_t csum_at;
    uint8_t csum_orig[2]; /* what was there */
    uint8_t dst[6];       /* as sent: a completed checksum may land anywhere, even on it */
};

#define FN_MAX_SENT 512

struct fn {
    struct fz_machine fm;
    struct vdev *d;
    struct net *n;
    struct vdev_virtio *vio;
    uint8_t *ram;
    unsigned ops;
    uint64_t features; /* negotiated (0: driver not running) */
    bool hostile;      /* raw scribbles happened: chain bookkeeping no longer holds */
    bool nomatch;      /* deliveries may be segments of what was sent (TAP): no matching */
    bool pf_changed;   /* peerfeats changed with records in the sink's ring (made before) */
    bool started;
    uint64_t buf_next;
    struct fn_q q[FN_MAX_VQ];
    unsigned nq;    /* queues the driver set up: the layout its features give */
    unsigned ctrlq; /* the control queue among them */
    struct fn_sent sent[FN_MAX_SENT];
    unsigned nsent, sent_pos;
    uint64_t sink_records;
    uint8_t *asm_buf; /* a delivered frame put together */
    size_t asm_len;
    unsigned asm_left; /* chains still to come for it */
    int tap_far;       /* the "kernel" end of the TAP stand-in */
    /* receive-filter model (fuzz_net_ctrl), updated from acked commands */
    struct net_filter model;
    bool model_valid;
    struct fn_coal coal_model[NET_COAL_DIRS];
    /* multiqueue model: from acked VQ_PAIRS_SET / RSS_CONFIG since the driver started */
    unsigned mq_active;
    bool mq_rss;
};

/* ---- the wire: a peer link to a sink end, made once ---- */

static char fn_dir[64];
static struct peer_link *fn_nic_link, *fn_sink;
static struct net *fn_cur; /* the NIC the link's callback reports to */
static uint64_t fn_sink_features = NET_GUEST_OFFLOADS;

static void fn_nic_state(void *opaque, bool up)
{
    (void)opaque;
    struct net *n = fn_cur;
    if (!n)
        return;
    atomic_store(&n->link_up, up);
    n->tx_blocked = n->tx_dropping = false;
    n->rx_held_stale = true;
    if (atomic_load(&n->running))
        vdev_virtio_config_changed(n->vio);
}

static void fn_sink_state(void *opaque, bool up)
{
    (void)opaque, (void)up;
}

static void fn_quiet(void *opaque, enum vdev_log_level level, const char *msg)
{
    (void)opaque, (void)level, (void)msg;
}

static void fn_link_wait_up(void)
{
    for (int i = 0; i < 4000 && !(peer_link_up(fn_nic_link) && peer_link_up(fn_sink)); i++) {
        peer_link_service(fn_nic_link);
        peer_link_service(fn_sink);
        if (i > 10)
            usleep(500);
    }
    FN_CHECK(peer_link_up(fn_nic_link) && peer_link_up(fn_sink), "the in-process link is down");
}

/* At exit: the endpoints and their folder go (a CI smoke run leaves nothing in /tmp). */
static void fn_link_cleanup(void)
{
    if (fn_cur && fn_cur->link)
        fn_cur->link = NULL;
    peer_link_close(fn_sink);
    peer_link_close(fn_nic_link);
    fn_sink = fn_nic_link = NULL;
    rmdir(fn_dir);
}

static void fn_link_init(void)
{
    if (fn_nic_link)
        return;
    atexit(fn_link_cleanup);
    snprintf(fn_dir, sizeof(fn_dir), "/tmp/fuzz_net_XXXXXX");
    if (!mkdtemp(fn_dir))
        abort();
    char a[128], b[128];
    snprintf(a, sizeof(a), "%s/nic", fn_dir);
    snprintf(b, sizeof(b), "%s/sink", fn_dir);
    /* Small rings: a few 64 KiB frames fill them, so flow control is reachable. */
    struct peer_link_cfg ca = {.bind_path = a,
                               .peer_path = b,
                               .mac = {0x52, 0x54, 0, 0, 0, 1},
                               .state_changed = fn_nic_state,
                               .log = fn_quiet,
                               .ring_size = 256u << 10};
    struct peer_link_cfg cb = {.bind_path = b,
                               .peer_path = a,
                               .mac = {0x52, 0x54, 0, 0, 0, 2},
                               .features = fn_sink_features,
                               .state_changed = fn_sink_state,
                               .log = fn_quiet,
                               .ring_size = 256u << 10};
    struct vdev_err err = {0};
    fn_nic_link = peer_link_open(&ca, &err);
    fn_sink = fn_nic_link ? peer_link_open(&cb, &err) : NULL;
    if (!fn_sink) {
        fprintf(stderr, "fuzz_net: %s\n", err.msg);
        abort();
    }
    fn_link_wait_up();
}

/* ---- fake transport ---- */

static unsigned long fn_notifies, fn_config_notifies;
static uint64_t fn_notifies_q[NET_MAX_VQS]; /* since the input began, by net_stat_index */
static struct net *fn_nic;                  /* the NIC of the current input */

static void fn_notify_queue(void *t, unsigned q)
{
    (void)t;
    fn_notifies++;
    unsigned i = fn_nic ? net_stat_index(fn_nic, q) : NET_MAX_VQS;
    if (i < NET_MAX_VQS)
        fn_notifies_q[i]++;
}

/* The clock interrupt moderation reads: it moves only when an input says so (and never
 * back, also across inputs). */
static uint64_t fn_clock_ns = 1000000000000ull;

static uint64_t fn_now(void)
{
    return fn_clock_ns;
}
static void fn_notify_config(void *t)
{
    (void)t;
    fn_config_notifies++;
}
static void fn_reset(void *t)
{
    (void)t;
}
static const struct vdev_virtio_transport_ops fn_transport = {
    .size = sizeof(struct vdev_virtio_transport_ops),
    .notify_queue = fn_notify_queue,
    .notify_config = fn_notify_config,
    .reset = fn_reset};

/* Replaces the module's net_attach.c (link-time: the module is linked as an archive). */
struct vdev_virtio *net_virtio_attach(struct vdev *d, const struct vdev_virtio_ops *ops,
                                      void *opaque, struct vdev_err *err)
{
    struct vdev_virtio *vio = vdev_virtio_new(d, ops, opaque, err);
    if (vio)
        vdev_virtio_bind_transport(vio, &fn_transport, NULL, "fuzz 0");
    return vio;
}

/* ---- machine ---- */

static void fn_init_once(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    struct vdev_err err = {0};
    vdev_register_type(&vdev_module_virtio_net, &err);
}

/* What the data thread allocates (net_thread_start): freed by the module's terminate. */
static void fn_thread_buffers(struct net *n)
{
    n->elem = malloc(sizeof(*n->elem));
    n->elem2 = malloc(sizeof(*n->elem2));
    n->rx_elem = malloc(sizeof(*n->rx_elem));
    n->scratch = malloc(NET_HDR_LEN + NET_MAX_FRAME);
    if (!n->elem || !n->elem2 || !n->rx_elem || !n->scratch)
        abort();
}

static void fn_destroy(struct fn *f)
{
    if (f->n && f->n->link) {
        f->n->link = NULL; /* the link outlives the NIC */
        fn_cur = NULL;
    }
    fz_machine_free(&f->fm);
    free(f->asm_buf);
    f->asm_buf = NULL;
    f->n = NULL;
}

/* The NIC for the next input. The machine is kept from input to input (building one per
 * input costs more than the input: guest RAM is faulted in afresh each time) and the driver
 * reset instead, which forgets what a guest can change (features, queues, filter, MAC); the
 * counters are zeroed. The TAP target builds a new machine for every input: its backend keeps
 * state a driver reset does not clear (offloads applied, a deleted interface's retry), and a
 * finding must reproduce from its input alone (one did not, when the machine was kept). */
static void fn_new(struct fn *f, unsigned ops, const char *extra, void (*setup)(struct fn *))
{
    fn_init_once();
    bool reuse = f->fm.m && !(ops & FN_OP_TAP);
    if (f->fm.m && !reuse)
        fn_destroy(f);
    if (!reuse) {
        memset(f, 0, sizeof(*f));
        f->tap_far = -1;
        char cfg[256];
        snprintf(cfg, sizeof(cfg),
                 "dryrun ram 4M vdev virtio-net loc 0xd0000000 intr ioapic:5 name nic0 mac "
                 "52:54:00:00:00:01 %s",
                 extra ? extra : "");
        fz_machine_build(&f->fm, cfg);
        f->d = vdev_machine_device(f->fm.m, 0);
        f->n = vdev_state(f->d);
        f->vio = f->n->vio;
        f->ram = f->fm.ram[0].host;
        FN_CHECK(f->fm.nram == 1 && f->fm.ram[0].base == 0 && f->fm.ram[0].size == FN_RAM, "ram");
        fn_thread_buffers(f->n);
        f->asm_buf = malloc(NET_HDR_LEN + NET_MAX_FRAME + 64);
        if (!(ops & FN_OP_TAP)) {
            fn_link_init();
            fn_cur = f->n;
            f->n->link = fn_nic_link;
            atomic_store(&f->n->link_up, true);
        }
        if (setup)
            setup(f);
    } else {
        vdev_virtio_reset(f->vio);
        memset(&f->n->st, 0, sizeof(f->n->st));
    }
    f->n->now_ns = fn_now;
    fn_nic = f->n;
    memset(fn_notifies_q, 0, sizeof(fn_notifies_q));
    memset(f->coal_model, 0, sizeof(f->coal_model));
    if (!(ops & FN_OP_TAP))
        fn_link_wait_up();
    f->ops = ops;
    f->features = 0;
    f->hostile = f->nomatch = f->started = f->pf_changed = false;
    f->buf_next = FN_BUF;
    memset(f->q, 0, sizeof(f->q));
    f->nq = NET_NUM_QUEUES, f->ctrlq = NET_Q_CTRL;
    f->nsent = f->sent_pos = 0;
    f->sink_records = 0;
    f->asm_left = 0;
    f->model_valid = false;
    f->n->peerfeats = NET_GUEST_OFFLOADS;
    /* nothing from the last input may arrive in this one */
    size_t len;
    for (unsigned i = 0; i < (1u << 20) && f->n->be->rx_peek(f->n, &len); i++) /* 64 Ki segments */
        f->n->be->rx_release(f->n);
}

/* ---- the synthetic driver ---- */

static uint8_t *fn_gpa(struct fn *f, uint64_t a)
{
    return f->ram + a;
}

static uint64_t fn_qdesc(unsigned q)
{
    return FN_QBASE + q * 0x4000ull;
}

/* Buffer space, 64-byte aligned; 0 when guest RAM is used up (the op is skipped). */
static uint64_t fn_alloc(struct fn *f, size_t len)
{
    uint64_t a = f->buf_next;
    uint64_t next = a + ((len + 63) & ~63ull);
    if (next > FN_RAM)
        return 0;
    f->buf_next = next;
    return a;
}

/* qsize_log: the sizes of the rx, tx and control queues (every pair's alike) */
static bool fn_driver_start(struct fn *f, uint64_t features, const uint8_t qsize_log[3])
{
    if (getenv("FUZZ_NET_TRACE"))
        fprintf(stderr, "trace: driver start 0x%llx\n", (unsigned long long)features);
    struct vdev_virtio *vio = f->vio;
    vdev_virtio_reset(vio);
    vdev_virtio_set_status(vio, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    features |= 1ull << VIRTIO_F_VERSION_1;
    vdev_virtio_set_driver_features(vio, 0, (uint32_t)features);
    vdev_virtio_set_driver_features(vio, 1, (uint32_t)(features >> 32));
    vdev_virtio_set_status(vio, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                    VIRTIO_STATUS_FEATURES_OK);
    f->features = 0;
    memset(f->q, 0, sizeof(f->q));
    f->nq = NET_NUM_QUEUES, f->ctrlq = NET_Q_CTRL;
    f->asm_left = 0;
    if (!(vdev_virtio_get_status(vio) & VIRTIO_STATUS_FEATURES_OK))
        return false; /* refused (a dependency missing): the driver gives up */
    bool mq = features & (NET_BIT(VIRTIO_NET_F_MQ) | NET_BIT(VIRTIO_NET_F_RSS));
    f->nq = mq ? vdev_virtio_num_queues(vio) : NET_NUM_QUEUES;
    f->ctrlq = f->nq - 1;
    FN_CHECK(f->nq <= FN_MAX_VQ, "%u queues", f->nq);
    for (unsigned q = 0; q < f->nq; q++) {
        unsigned kind = q == f->ctrlq ? 2 : q & 1;
        uint16_t size = (uint16_t)(1u << (qsize_log[kind] % 9)); /* 1..256 */
        uint64_t desc = fn_qdesc(q);
        memset(fn_gpa(f, desc), 0, 0x4000);
        if (!vdev_virtio_set_queue_size(vio, q, size))
            return false;
        f->q[q].size = size;
        struct vdev_virtq_config *c = vdev_virtio_queue_config(vio, q);
        c->desc = desc;
        c->driver = desc + 0x1000;
        c->device = desc + 0x2000;
        c->enabled = true;
    }
    vdev_virtio_set_status(vio, vdev_virtio_get_status(vio) | VIRTIO_STATUS_DRIVER_OK);
    if (!(vdev_virtio_get_status(vio) & VIRTIO_STATUS_DRIVER_OK))
        return false;
    f->features = vdev_virtio_features(vio);
    f->started = true;
    /* the model's start: a reset filter, no coalescing of the driver's */
    memset(&f->model, 0, sizeof(f->model));
    f->model.promisc = true;
    f->model_valid = true;
    memset(f->coal_model, 0, sizeof(f->coal_model));
    f->mq_active = 1, f->mq_rss = false;
    return true;
}

struct fn_seg {
    uint64_t addr;
    uint32_t len;
    bool write;
};

/* Makes one chain available (indirect when asked and negotiated). false when there is no
 * room (descriptors or RAM). */
static bool fn_add(struct fn *f, unsigned q, const struct fn_seg *s, unsigned n, bool indirect)
{
    struct fn_q *fq = &f->q[q];
    if (!fq->size || !n || n > 64)
        return false;
    indirect = indirect && (f->features >> VIRTIO_F_INDIRECT_DESC & 1);
    unsigned need = indirect ? 1 : n;
    if (fq->outstanding + need > fq->size)
        return false;
    uint64_t desc = fn_qdesc(q);
    uint16_t head = (uint16_t)(fq->next_desc % fq->size);
    uint64_t table = 0;
    if (indirect && !(table = fn_alloc(f, 16u * n)))
        return false;
    for (unsigned i = 0; i < n; i++) {
        uint8_t *d =
            indirect ? fn_gpa(f, table + 16u * i) : fn_gpa(f, desc + 16u * ((head + i) % fq->size));
        uint16_t flags = (uint16_t)((s[i].write ? FN_F_WRT : 0) | (i + 1 < n ? FN_F_NEXT : 0));
        uint16_t next = indirect ? (uint16_t)(i + 1) : (uint16_t)((head + i + 1) % fq->size);
        memcpy(d, &s[i].addr, 8);
        memcpy(d + 8, &s[i].len, 4);
        memcpy(d + 12, &flags, 2);
        memcpy(d + 14, &next, 2);
    }
    if (indirect) {
        uint8_t *d = fn_gpa(f, desc + 16u * head);
        uint32_t len = 16u * n;
        uint16_t flags = FN_F_IND, next = 0;
        memcpy(d, &table, 8);
        memcpy(d + 8, &len, 4);
        memcpy(d + 12, &flags, 2);
        memcpy(d + 14, &next, 2);
    }
    struct fn_chain *c = &fq->chain[head];
    FN_CHECK(f->hostile || !c->live, "descriptor %u reused while outstanding", head);
    memset(c, 0, sizeof(*c));
    c->live = true;
    c->ndesc = need;
    for (unsigned i = 0; i < n; i++)
        if (s[i].write) {
            c->in_len += s[i].len;
            if (c->nin < 8) {
                c->in_addr[c->nin] = s[i].addr;
                c->in_size[c->nin] = s[i].len;
            }
            c->nin++;
        }
    fq->next_desc = (uint16_t)(fq->next_desc + need);
    fq->outstanding += need;
    uint64_t avail = desc + 0x1000;
    memcpy(fn_gpa(f, avail + 4 + 2u * (fq->avail_idx % fq->size)), &head, 2);
    fq->avail_idx++;
    __atomic_store_n((uint16_t *)fn_gpa(f, avail + 2), fq->avail_idx, __ATOMIC_RELEASE);
    return true;
}

/* Bytes written by the device into a chain's writable buffers, in order. */
static size_t fn_read_in(struct fn *f, const struct fn_chain *c, uint32_t len, uint8_t *out,
                         size_t room)
{
    size_t done = 0;
    for (unsigned i = 0; i < c->nin && i < 8 && done < len; i++) {
        size_t take = c->in_size[i] < len - done ? c->in_size[i] : len - done;
        if (done + take > room)
            take = room - done;
        memcpy(out + done, fn_gpa(f, c->in_addr[i]), take);
        done += take;
    }
    return done;
}

static uint32_t fn_hash(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* Remembers a frame the far end sent (frame = header + frame bytes). */
static void fn_sent_add(struct fn *f, const uint8_t *rec, size_t len)
{
    if (f->nsent >= FN_MAX_SENT)
        return;
    struct net_hdr h;
    net_hdr_load(&h, rec);
    const uint8_t *frame = rec + NET_HDR_LEN;
    struct fn_sent *s = &f->sent[f->nsent++];
    memset(s, 0, sizeof(*s));
    s->len = (uint32_t)len;
    s->hash = fn_hash(frame, len);
    memcpy(s->dst, frame, len < 6 ? len : 6);
    s->loose = (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0;
    s->csum_at = (uint32_t)h.csum_start + h.csum_offset;
    if (s->csum_at + 2 <= len)
        memcpy(s->csum_orig, frame + s->csum_at, 2);
}

/* A frame delivered to the guest must be the next one sent, or one after it (the ones in
 * between were dropped: filtered, too big, bad header). */
static const struct fn_sent *fn_delivered(struct fn *f, const uint8_t *frame, size_t len,
                                          bool converted)
{
    uint32_t h = fn_hash(frame, len);
    /* several rx queues are reaped one after the other: any frame sent may come */
    bool any_order = f->nq > NET_NUM_QUEUES;
    unsigned any_pos = 0;
    while (any_order ? any_pos < f->nsent : f->sent_pos < f->nsent) {
        const struct fn_sent *s = &f->sent[any_order ? any_pos++ : f->sent_pos++];
        if (s->len != len)
            continue;
        if (s->hash == h)
            return s;
        if (converted && s->loose && s->csum_at + 2 <= len) {
            /* equal but for the two checksum bytes */
            uint8_t save[2] = {frame[s->csum_at], frame[s->csum_at + 1]};
            uint8_t *w = (uint8_t *)frame;
            w[s->csum_at] = s->csum_orig[0], w[s->csum_at + 1] = s->csum_orig[1];
            bool same = fn_hash(frame, len) == s->hash;
            w[s->csum_at] = save[0], w[s->csum_at + 1] = save[1];
            if (same)
                return s;
        }
    }
    FN_CHECK(f->nsent >= FN_MAX_SENT, "delivered a %zu-byte frame that was never sent", len);
    return NULL;
}

struct fn_ctrl_rec { /* where an outstanding command's bytes and ack are */
    uint64_t cmd, ack;
    uint32_t len;
};
static struct fn_ctrl_rec fn_ctrl_recs[FN_QMAX];
static void fn_model_apply(struct fn *f, const uint8_t *c, size_t len);
static bool fn_model_accepts(struct fn *f, const uint8_t *d);

/* Collects the used entries of queue q and checks them. */
static void fn_reap(struct fn *f, unsigned q)
{
    struct fn_q *fq = &f->q[q];
    if (!fq->size)
        return;
    uint64_t used = fn_qdesc(q) + 0x2000;
    uint16_t idx = __atomic_load_n((uint16_t *)fn_gpa(f, used + 2), __ATOMIC_ACQUIRE);
    unsigned budget = 4096;
    while (fq->used_seen != idx && budget--) {
        uint8_t *e = fn_gpa(f, used + 4 + 8u * (fq->used_seen % fq->size));
        uint32_t id, len;
        memcpy(&id, e, 4);
        memcpy(&len, e + 4, 4);
        fq->used_seen++;
        if (f->hostile)
            continue;
        FN_CHECK(id < fq->size && fq->chain[id].live, "queue %u: used id %u never made available",
                 q, id);
        struct fn_chain *c = &fq->chain[id];
        c->live = false;
        fq->outstanding -= c->ndesc;
        if (q & 1) { /* a tx queue (the control queue's index is even) */
            FN_CHECK(len == 0, "tx used length %u", len);
            continue;
        }
        FN_CHECK(len <= c->in_len, "queue %u: used length %u > writable %u", q, len, c->in_len);
        if (q == f->ctrlq) {
            const struct fn_ctrl_rec *r = &fn_ctrl_recs[id];
            FN_CHECK(len == 1, "control answer of %u bytes", len);
            if (*fn_gpa(f, r->ack) == VIRTIO_NET_OK)
                fn_model_apply(f, fn_gpa(f, r->cmd), r->len);
            else
                FN_CHECK(*fn_gpa(f, r->ack) == VIRTIO_NET_ERR, "ack %u", *fn_gpa(f, r->ack));
            continue;
        }
        /* an rx queue: in use (automatic steering: the pairs set; RSS: its table's) */
        const struct net_mq *m = &f->n->mq;
        FN_CHECK(q / 2 < (m->rss ? f->n->pairs : m->active), "frame on rx%u, %u pairs in use%s",
                 q / 2, m->active, m->rss ? " (rss)" : "");
        bool mrg = f->features >> VIRTIO_NET_F_MRG_RXBUF & 1;
        if (!f->asm_left) {
            FN_CHECK(len >= NET_HDR_LEN, "rx used length %u below the header", len);
            f->asm_len = fn_read_in(f, c, len, f->asm_buf, NET_HDR_LEN + NET_MAX_FRAME);
            struct net_hdr h;
            net_hdr_load(&h, f->asm_buf);
            FN_CHECK(mrg ? h.num_buffers >= 1 : h.num_buffers == 1, "num_buffers %u",
                     h.num_buffers);
            uint8_t allowed = (f->features >> VIRTIO_NET_F_GUEST_CSUM & 1)
                                  ? VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID
                                  : 0;
            FN_CHECK(!(h.flags & ~allowed), "rx flags 0x%x not negotiated", h.flags);
            unsigned type = h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
            FN_CHECK(type == VIRTIO_NET_HDR_GSO_NONE ? h.gso_type == 0
                                                     : net_guest_takes_gso(f->features, h.gso_type),
                     "rx gso_type 0x%x not negotiated", h.gso_type);
            f->asm_left = h.num_buffers;
        } else {
            size_t room = NET_HDR_LEN + NET_MAX_FRAME - f->asm_len;
            FN_CHECK(len <= room, "merged frame longer than the limit");
            f->asm_len += fn_read_in(f, c, len, f->asm_buf + f->asm_len, room);
        }
        if (--f->asm_left == 0) {
            FN_CHECK(f->asm_len >= NET_HDR_LEN + ETH_HLEN, "delivered %zu bytes", f->asm_len);
            const struct fn_sent *sent = NULL;
            if (!f->nomatch)
                sent = fn_delivered(f, f->asm_buf + NET_HDR_LEN, f->asm_len - NET_HDR_LEN, true);
            /* the filter decided on the destination as sent */
            const uint8_t *dst = sent ? sent->dst : f->asm_buf + NET_HDR_LEN;
            if (getenv("FUZZ_NET_TRACE"))
                fprintf(stderr, "trace: delivered %zu bytes to %02x:%02x:%02x:%02x:%02x:%02x\n",
                        f->asm_len - NET_HDR_LEN, dst[0], dst[1], dst[2], dst[3], dst[4], dst[5]);
            if (f->ops & FN_OP_CTRL)
                FN_CHECK(fn_model_accepts(f, dst),
                         "a frame to %02x:%02x:%02x:%02x:%02x:%02x the acknowledged filter "
                         "refuses was delivered (model promisc %d allmulti %d alluni %d nomulti "
                         "%d nouni %d nobcast %d uni %u%s multi %u%s)",
                         dst[0], dst[1], dst[2], dst[3], dst[4], dst[5], f->model.promisc,
                         f->model.allmulti, f->model.alluni, f->model.nomulti, f->model.nouni,
                         f->model.nobcast, f->model.n_uni, f->model.uni_overflow ? "+" : "",
                         f->model.n_multi, f->model.multi_overflow ? "+" : "");
        }
    }
}

/* The sink's view: everything the NIC put on the wire. */
static void fn_sink_drain(struct fn *f, unsigned max)
{
    size_t len;
    const uint8_t *p;
    uint64_t pf = fn_sink_features & f->n->peerfeats;
    while (max-- && (p = peer_link_rx_peek(fn_sink, &len))) {
        FN_CHECK(len >= NET_HDR_LEN + ETH_HLEN && len <= PEER_LINK_MAX_FRAME, "record of %zu", len);
        struct net_hdr h;
        net_hdr_load(&h, p);
        FN_CHECK(!(h.flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM), "tx flags 0x%x", h.flags);
        FN_CHECK(f->pf_changed || !(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) ||
                     (pf & NET_BIT(VIRTIO_NET_F_GUEST_CSUM)),
                 "partial checksum sent to a peer without GUEST_CSUM");
        FN_CHECK(f->pf_changed || h.gso_type == VIRTIO_NET_HDR_GSO_NONE ||
                     net_guest_takes_gso(pf, h.gso_type),
                 "GSO type 0x%x sent to a peer that cannot take it (pf 0x%llx)", h.gso_type,
                 (unsigned long long)pf);
        FN_CHECK(h.num_buffers == 0, "num_buffers %u on the wire", h.num_buffers);
        if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
            FN_CHECK((size_t)h.csum_start + h.csum_offset + 2 <= len - NET_HDR_LEN,
                     "checksum offsets outside the frame");
        f->sink_records++;
        peer_link_rx_release(fn_sink);
    }
    if (!peer_link_rx_peek(fn_sink, &len))
        f->pf_changed = false; /* what comes next follows the current peerfeats */
}

/* Interrupt moderation: the counters match the transport, nothing is held past its
 * deadline (the pass just ticked) nor beyond the frame limit. */
static void fn_check_coal(struct fn *f)
{
    struct net *n = f->n;
    for (unsigned q = 0; q < NET_MAX_VQS; q++)
        FN_CHECK(net_read(&n->st.irqs[q]) == fn_notifies_q[q],
                 "queue %u: %llu interrupts counted, %llu raised", q,
                 (unsigned long long)net_read(&n->st.irqs[q]),
                 (unsigned long long)fn_notifies_q[q]);
    if (!net_live(n))
        return;
    for (unsigned q = 0; q < 2 * n->pairs; q++) {
        if (!n->coal.held[q])
            continue;
        FN_CHECK(n->coal.held[q] <= NET_COAL_MAX_FRAMES, "queue %u holds %u frames", q,
                 n->coal.held[q]);
        FN_CHECK(fn_clock_ns < n->coal.due_ns[q], "queue %u held past its deadline", q);
        FN_CHECK(n->coal.due_ns[q] <= fn_clock_ns + (uint64_t)NET_COAL_GUEST_MAX_US * 1000u,
                 "queue %u held for longer than any setting allows", q);
    }
}

/* One pass of the data thread's loop (net_thread.c), synchronously; `poll` with no wait
 * reports what the backend's fds really have. */
static void fn_pass(struct fn *f)
{
    if (getenv("FUZZ_NET_TRACE"))
        fprintf(stderr, "trace: pass\n");

    struct net *n = f->n;
    if (atomic_exchange(&n->fresh_start, false)) {
        n->tx_blocked = n->tx_dropping = n->rx_wait_buffers = false;
        n->rx_held = 0;
        n->rx_wait_vq = n->rx_held_vq = 0;
        n->tx_next = 0;
        n->broken = false;
    }
    bool running = atomic_load(&n->running);
    if (running && n->rx_wait_buffers)
        n->rx_wait_buffers = false;
    if (atomic_exchange(&n->features_dirty, false))
        n->be->features_changed(n);
    uint64_t errors = net_read(&n->st.errors);
    if (!running) {
        net_rx_discard(n);
    } else if (!n->broken) {
        net_ctrl_process(n);
        if (net_live(n))
            net_tx_process(n);
        if (net_live(n))
            net_rx_process(n);
        if (net_live(n))
            net_coal_tick(n);
    }
    fn_check_coal(f);
    if (net_read(&n->st.errors) != errors || n->broken)
        FN_CHECK(vdev_virtio_get_status(f->vio) & VIRTIO_STATUS_NEEDS_RESET ||
                     !atomic_load(&n->running),
                 "driver error without NEEDS_RESET");
    FN_CHECK(net_read(&n->st.errors) <= errors + 1, "one incident counted twice");
    net_capture_idle(n);
    struct pollfd fds[NET_BE_FDS];
    n->be->poll_prepare(n, fds);
    int r = poll(fds, NET_BE_FDS, 0);
    n->be->poll_done(n, fds, r);
    if (!(f->ops & FN_OP_TAP))
        peer_link_service(fn_sink);
    for (unsigned q = f->nq; q-- > 0;) /* control first: the filter it set applies */
        fn_reap(f, q);
}

/* ---- operations ---- */

/* A frame of `len` bytes into buf: an Ethernet header to `dst`, then either a TCP packet
 * (IPv4/IPv6, with or without a VLAN tag, IP/TCP options, as shape says) or bytes from the
 * input. Returns the L4 offset for TCP frames (0 otherwise) in *l4. */
static size_t fn_frame(struct fz_in *in, uint8_t *buf, size_t len, const uint8_t dst[6], size_t *l4)
{
    /* a pattern (from a table: a per-byte loop is slow under coverage instrumentation) */
    static uint8_t pattern[256 + NET_HDR_LEN + NET_MAX_FRAME + 64];
    if (!pattern[1])
        for (size_t i = 0; i < sizeof(pattern); i++)
            pattern[i] = (uint8_t)(i * 31 + 7);
    uint8_t shape = fz_u8(in);
    memcpy(buf, pattern + shape, len);
    fz_take(in, buf, len < 64 ? len : 64); /* a raw start */
    *l4 = 0;
    if (len >= 12 && dst)
        memcpy(buf, dst, 6);
    if (!(shape & 1) || len < 80)
        return len;
    bool vlan = shape & 2, v6 = shape & 4;
    size_t l3 = vlan ? 18 : 14;
    if (vlan) {
        net_put_be16(buf + 12, ETH_P_8021Q);
        net_put_be16(buf + 16, v6 ? ETH_P_IPV6 : ETH_P_IP);
    } else {
        net_put_be16(buf + 12, v6 ? ETH_P_IPV6 : ETH_P_IP);
    }
    size_t ipopt = (shape >> 3 & 3) * 4, tcpopt = (shape >> 5 & 3) * 4;
    size_t tl4 = l3 + (v6 ? 40 : 20 + ipopt);
    if (tl4 + 20 + tcpopt > len)
        return len;
    uint8_t *ip = buf + l3;
    if (v6) {
        ip[0] = 0x60;
        net_put_be16(ip + 4, (uint16_t)(len - tl4));
        ip[6] = 6;
        ip[7] = 64;
    } else {
        ip[0] = (uint8_t)(0x40 | (20 + ipopt) / 4);
        net_put_be16(ip + 2, (uint16_t)(len - l3));
        net_put_be16(ip + 6, shape & 0x80 ? 0x2000 : 0x4000);
        ip[8] = 64;
        ip[9] = 6;
    }
    buf[tl4 + 12] = (uint8_t)((20 + tcpopt) / 4 << 4);
    *l4 = tl4;
    return len;
}

static void fn_op_tx(struct fn *f, struct fz_in *in)
{
    uint8_t mode = fz_u8(in);
    size_t len = fz_u16(in);
    if (mode & 0x80)
        len += 65536u - 4096u; /* near and past the 64 KiB limits */
    if (len > NET_MAX_FRAME + 64)
        len = NET_MAX_FRAME + 64;
    uint64_t fa = fn_alloc(f, len + NET_HDR_LEN);
    if (!fa)
        return;
    uint8_t *frame = fn_gpa(f, fa + NET_HDR_LEN);
    static const uint8_t peer_mac[6] = {0x52, 0x54, 0, 0, 0, 2};
    size_t l4;
    fn_frame(in, frame, len, peer_mac, &l4);
    struct net_hdr h;
    uint8_t raw[NET_HDR_LEN];
    fz_take(in, raw, sizeof(raw));
    net_hdr_load(&h, raw);
    if (mode & 1) { /* a plausible offload header instead of raw bytes */
        bool v6 =
            l4 && net_be16(frame + (net_be16(frame + 12) == ETH_P_8021Q ? 16 : 12)) == ETH_P_IPV6;
        h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h.csum_start = (uint16_t)(l4 ? l4 : 34);
        h.csum_offset = 16;
        h.gso_type =
            mode & 2 ? 0 : (uint8_t)(v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4);
        if (mode & 4)
            h.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
        if (mode & 8)
            h.gso_size = (uint16_t)(65535 - (h.gso_size & 0x3f)); /* the largest ones */
        if (l4)
            h.hdr_len = (uint16_t)(l4 + 20);
    }
    net_hdr_store(&h, fn_gpa(f, fa));
    /* cut header + frame into up to 16 pieces, or header apart */
    struct fn_seg s[17];
    unsigned nseg = 1 + (fz_u8(in) & 15);
    size_t total = NET_HDR_LEN + len, pos = 0;
    unsigned n = 0;
    for (unsigned i = 0; i < nseg && pos < total; i++) {
        size_t piece = i + 1 == nseg ? total - pos : fz_u16(in) % (total - pos + 1);
        if (!piece && i + 1 < nseg)
            continue;
        s[n++] = (struct fn_seg){fa + pos, (uint32_t)piece, false};
        pos += piece;
    }
    if (pos < total)
        s[n++] = (struct fn_seg){fa + pos, (uint32_t)(total - pos), false};
    if (mode & 0x10) { /* a device-writable tail the device must not need */
        uint64_t w = fn_alloc(f, 64);
        if (w && n < 17)
            s[n++] = (struct fn_seg){w, 64, true};
    }
    /* 0x40: on another pair's tx queue (with MQ or RSS) */
    unsigned txq = mode & 0x40 && f->nq > NET_NUM_QUEUES ? 2 * (fz_u8(in) % (f->nq / 2)) + 1 : 1;
    fn_add(f, txq, s, n, mode & 0x20);
}

static void fn_op_rx_post(struct fn *f, struct fz_in *in)
{

    uint8_t mode = fz_u8(in);
    unsigned count = 1 + (mode & 15);
    uint32_t size = fz_u16(in);
    unsigned rxq = f->nq > NET_NUM_QUEUES ? 2 * (fz_u8(in) % (f->nq / 2)) : 0;
    if (mode & 0x80)
        size += 65536u - 1024u;
    for (unsigned i = 0; i < count; i++) {
        unsigned nseg = 1 + (mode >> 4 & 3);
        struct fn_seg s[4];
        for (unsigned j = 0; j < nseg; j++) {
            uint32_t l = size / nseg + (j + 1 == nseg ? size % nseg : 0);
            uint64_t a = fn_alloc(f, l ? l : 1);
            if (!a)
                return;
            s[j] = (struct fn_seg){a, l, true};
        }
        if (!fn_add(f, rxq, s, nseg, mode & 0x40))
            return;
    }
}

/* The far end sends a frame to the NIC (it will be matched when delivered). */
static void fn_op_peer_send(struct fn *f, struct fz_in *in)
{
    uint8_t mode = fz_u8(in);
    size_t len = fz_u16(in);
    if (mode & 0x80)
        len += 65536u - 4096u;
    size_t rec = NET_HDR_LEN + len;
    if (rec > PEER_LINK_MAX_FRAME || len < 1)
        return;
    uint8_t *p = peer_link_tx_reserve(fn_sink, rec);
    if (!p)
        return;
    uint8_t dst[6];
    switch (mode & 7) {
    case 0:
        memcpy(dst, "\x52\x54\x00\x00\x00\x01", 6);
        break;
    case 1:
        memset(dst, 0xff, 6);
        break;
    case 2:
        memcpy(dst, "\x01\x00\x5e\x00\x00\x01", 6);
        break;
    default:
        fz_take(in, dst, 6);
        break;
    }
    size_t l4;
    fn_frame(in, p + NET_HDR_LEN, len, dst, &l4);
    uint8_t raw[NET_HDR_LEN];
    fz_take(in, raw, sizeof(raw));
    struct net_hdr h;
    net_hdr_load(&h, raw);
    if (mode & 8) {
        h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h.csum_start = (uint16_t)(l4 ? l4 : 14);
        h.csum_offset = 16;
        h.gso_type = mode & 0x10 ? VIRTIO_NET_HDR_GSO_TCPV4 : 0;
        if (mode & 0x20)
            h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
    }
    net_hdr_store(&h, p);
    peer_link_tx_commit(fn_sink, rec);
    peer_link_tx_flush(fn_sink);
    fn_sent_add(f, p, len);
}

static void fn_op_raw(struct fn *f, struct fz_in *in)
{
    /* a hostile driver: scribble on a queue's descriptors or rings, then kick */
    unsigned q = fz_u8(in) % (f->nq ? f->nq : NET_NUM_QUEUES);
    uint16_t off = fz_u16(in) % 0x3000;
    uint8_t bytes[16];
    size_t k = fz_take(in, bytes, sizeof(bytes));
    memcpy(fn_gpa(f, fn_qdesc(q) + off), bytes, k);
    f->hostile = true;
}

/* ---- the control queue, and a model of the receive filter it sets ---- */

static void fn_model_mq(struct fn *f, const uint8_t *d, size_t len, uint8_t cmd);
static void fn_op_mq(struct fn *f, struct fz_in *in);

static void fn_op_ctrl(struct fn *f, struct fz_in *in)
{
    uint8_t mode = fz_u8(in);
    if ((mode & 0x86) == 0x06 && f->n->pairs > 1) { /* with several pairs: a multiqueue one */
        fn_op_mq(f, in);
        return;
    }
    uint8_t buf[2 + 2 * (4 + 6 * 80)];
    size_t len = 2;
    buf[0] = mode & 0x80 ? fz_u8(in) : (mode & 1);
    buf[1] = mode & 0x80 ? fz_u8(in) : fz_u8(in) % 7;
    if (buf[0] == VIRTIO_NET_CTRL_MAC && buf[1] == VIRTIO_NET_CTRL_MAC_TABLE_SET && !(mode & 2)) {
        for (unsigned list = 0; list < 2; list++) {
            uint32_t count = fz_u8(in) % 80;
            uint32_t claimed = mode & 4 ? count + (fz_u8(in) % 3) - 1 : count;
            memcpy(buf + len, &claimed, 4);
            len += 4;
            for (uint32_t i = 0; i < count; i++) {
                uint8_t *m = buf + len;
                m[0] = (uint8_t)(list ? 0x01 : 0x02); /* multicast / unicast lists */
                m[1] = 0;
                m[2] = 0x5e;
                m[3] = 0;
                m[4] = 0;
                m[5] = fz_u8(in);
                len += 6;
            }
        }
    } else {
        size_t dl = mode & 2 ? fz_u8(in) % 16 : (buf[0] == VIRTIO_NET_CTRL_MAC ? 6 : 1);
        len += fz_take(in, buf + 2, dl);
        len = 2 + dl;
    }
    uint64_t ca = fn_alloc(f, len), aa = fn_alloc(f, 8);
    if (!ca || !aa)
        return;
    memcpy(fn_gpa(f, ca), buf, len);
    memset(fn_gpa(f, aa), 0xee, 8);
    struct fn_seg s[4];
    unsigned n = 0;
    if (mode & 8 && len > 2) { /* class/command apart from the data */
        s[n++] = (struct fn_seg){ca, 2, false};
        s[n++] = (struct fn_seg){ca + 2, (uint32_t)(len - 2), false};
    } else {
        s[n++] = (struct fn_seg){ca, (uint32_t)len, false};
    }
    if (!(mode & 0x10)) /* else no ack byte: a malformed command */
        s[n++] = (struct fn_seg){aa, mode & 0x20 ? 8 : 1, true};
    if (mode & 0x40 && n) /* or no command at all */
        n = 1, s[0] = (struct fn_seg){aa, 1, true};
    uint16_t head =
        (uint16_t)(f->q[f->ctrlq].size ? f->q[f->ctrlq].next_desc % f->q[f->ctrlq].size : 0);
    if (fn_add(f, f->ctrlq, s, n, false))
        fn_ctrl_recs[head] = (struct fn_ctrl_rec){ca, aa, (uint32_t)len};
}

/* An acked VIRTIO_NET_CTRL_MQ command must be one the spec allows: every field within what
 * the device offered (virtio 1.2 §5.1.6.5.5, §5.1.6.5.7.1), read here on its own. */
static void fn_model_mq(struct fn *f, const uint8_t *d, size_t len, uint8_t cmd)
{
    unsigned pairs = f->n->pairs;
    if (cmd == VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET) {
        FN_CHECK(f->features >> VIRTIO_NET_F_MQ & 1, "VQ_PAIRS_SET acked without MQ");
        FN_CHECK(len == 2, "VQ_PAIRS_SET of %zu bytes acked", len);
        uint16_t v = net_get16(d);
        FN_CHECK(v >= 1 && v <= pairs, "VQ_PAIRS_SET %u acked (%u pairs)", v, pairs);
        f->mq_active = v, f->mq_rss = false;
        return;
    }
    FN_CHECK(cmd == VIRTIO_NET_CTRL_MQ_RSS_CONFIG, "MQ command %u acked", cmd);
    FN_CHECK(f->features >> VIRTIO_NET_F_RSS & 1, "RSS_CONFIG acked without RSS");
    FN_CHECK(len >= 11, "RSS_CONFIG of %zu bytes acked", len);
    uint32_t types;
    memcpy(&types, d, 4); /* little-endian host */
    size_t tl = (size_t)net_get16(d + 4) + 1;
    FN_CHECK(tl <= 128 && !(tl & (tl - 1)), "indirection table of %zu entries acked", tl);
    FN_CHECK(len >= 8 + 2 * tl + 3, "RSS_CONFIG cut short acked");
    FN_CHECK(net_get16(d + 6) < pairs, "unclassified queue %u acked", net_get16(d + 6));
    for (size_t i = 0; i < tl; i++)
        FN_CHECK(net_get16(d + 8 + 2 * i) < pairs, "table entry %u acked",
                 net_get16(d + 8 + 2 * i));
    uint16_t max_tx = net_get16(d + 8 + 2 * tl);
    uint8_t klen = d[8 + 2 * tl + 2];
    FN_CHECK(max_tx >= 1 && max_tx <= pairs, "max_tx_vq %u acked", max_tx);
    FN_CHECK(klen <= 40 && len == 8 + 2 * tl + 3 + klen, "key of %u bytes in %zu acked", klen, len);
    FN_CHECK(!(types & ~0x3fu) && (!types || klen), "hash types 0x%x (key %u) acked", types, klen);
    f->mq_active = max_tx, f->mq_rss = true;
}

/* A VIRTIO_NET_CTRL_MQ command: VQ_PAIRS_SET around the valid range, RSS_CONFIG with tables
 * of any length (powers of two or not), entries and queues up to one past the last pair,
 * keys up to 63 bytes, lengths off by one; now and then HASH_CONFIG (not offered). */
static void fn_op_mq(struct fn *f, struct fz_in *in)
{
    static uint8_t c[2 + 8 + 2 * 256 + 3 + 64 + 1];
    uint8_t sel = fz_u8(in);
    unsigned pairs = f->n->pairs;
    size_t len;
    c[0] = VIRTIO_NET_CTRL_MQ;
    if (!(sel & 1)) {
        c[1] = VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET;
        net_put16(c + 2, sel & 2 ? fz_u16(in) : (uint16_t)(fz_u8(in) % (pairs + 2)));
        len = sel & 4 ? 2 + (size_t)(fz_u8(in) % 5) : 4;
    } else {
        c[1] = sel & 0x80 ? VIRTIO_NET_CTRL_MQ_HASH_CONFIG : VIRTIO_NET_CTRL_MQ_RSS_CONFIG;
        uint32_t types = sel & 2 ? fz_u32(in) : fz_u8(in) & 0x3fu;
        memcpy(c + 2, &types, 4);
        size_t tl = sel & 4 ? (size_t)fz_u8(in) + 1 : (size_t)1 << (fz_u8(in) % 9);
        net_put16(c + 6, (uint16_t)(tl - 1));
        net_put16(c + 8, (uint16_t)(fz_u8(in) % (pairs + 1)));
        uint8_t spread = fz_u8(in);
        for (size_t i = 0; i < tl; i++)
            net_put16(c + 10 + 2 * i,
                      (uint16_t)(sel & 8 ? (i * spread) % (pairs + 1) : (i + spread) % pairs));
        uint8_t *tail = c + 10 + 2 * tl;
        net_put16(tail, (uint16_t)(fz_u8(in) % (pairs + 2)));
        tail[2] = sel & 0x10 ? fz_u8(in) % 64 : 40;
        memset(tail + 3, 0x6d, tail[2]);
        fz_take(in, tail + 3, tail[2]);
        len = (size_t)(tail + 3 + tail[2] - c);
        if (sel & 0x20)
            len = len - 1 + fz_u8(in) % 3; /* one byte short, exact, one too many */
    }
    uint64_t ca = fn_alloc(f, len), aa = fn_alloc(f, 8);
    if (!ca || !aa)
        return;
    memcpy(fn_gpa(f, ca), c, len);
    memset(fn_gpa(f, aa), 0xee, 8);
    struct fn_seg s[3] = {{ca, 2, false}, {ca + 2, (uint32_t)(len - 2), false}, {aa, 1, true}};
    unsigned n = 3;
    if (sel & 0x40 || len == 2) /* class and data in one buffer */
        s[0].len = (uint32_t)len, s[1] = s[2], n = 2;
    uint16_t head =
        (uint16_t)(f->q[f->ctrlq].size ? f->q[f->ctrlq].next_desc % f->q[f->ctrlq].size : 0);
    if (fn_add(f, f->ctrlq, s, n, false))
        fn_ctrl_recs[head] = (struct fn_ctrl_rec){ca, aa, (uint32_t)len};
}

static void fn_model_apply(struct fn *f, const uint8_t *c, size_t len)
{
    if (getenv("FUZZ_NET_TRACE"))
        fprintf(stderr, "trace: acked class %u cmd %u len %zu\n", c[0], c[1], len);
    struct net_filter *m = &f->model;
    if (c[0] == VIRTIO_NET_CTRL_RX && len == 3) {
        bool on = c[2] != 0;
        bool *flag[] = {&m->promisc, &m->allmulti, &m->alluni, &m->nomulti, &m->nouni, &m->nobcast};
        FN_CHECK(c[1] < 6, "RX command %u acked", c[1]);
        *flag[c[1]] = on;
    } else if (c[0] == VIRTIO_NET_CTRL_MAC && c[1] == VIRTIO_NET_CTRL_MAC_ADDR_SET) {
        FN_CHECK(len == 8 && !(c[2] & 1), "MAC_ADDR_SET acked with %zu bytes", len);
    } else if (c[0] == VIRTIO_NET_CTRL_MAC && c[1] == VIRTIO_NET_CTRL_MAC_TABLE_SET) {
        size_t off = 2;
        for (unsigned list = 0; list < 2; list++) {
            FN_CHECK(off + 4 <= len, "MAC_TABLE_SET acked, list %u missing", list);
            uint32_t count;
            memcpy(&count, c + off, 4);
            FN_CHECK(count <= (len - off - 4) / 6, "MAC_TABLE_SET acked with a long count");
            bool over = count > NET_MAC_TABLE;
            if (list == 0) {
                m->uni_overflow = over;
                m->n_uni = over ? 0 : count;
                if (!over)
                    memcpy(m->uni, c + off + 4, 6u * count);
            } else {
                m->multi_overflow = over;
                m->n_multi = over ? 0 : count;
                if (!over)
                    memcpy(m->multi, c + off + 4, 6u * count);
            }
            off += 4 + 6u * count;
        }
        FN_CHECK(off == len, "MAC_TABLE_SET acked with trailing bytes");
    } else if (c[0] == VIRTIO_NET_CTRL_NOTF_COAL) {
        FN_CHECK(f->features >> VIRTIO_NET_F_NOTF_COAL & 1, "NOTF_COAL acked, not negotiated");
        FN_CHECK(len == 2 + VIRTIO_NET_CTRL_COAL_LEN && c[1] <= VIRTIO_NET_CTRL_NOTF_COAL_RX_SET,
                 "NOTF_COAL command %u of %zu bytes acked", c[1], len);
        struct fn_coal cm = {.set = true};
        memcpy(&cm.frames, c + 2, 4); /* little-endian host */
        memcpy(&cm.usecs, c + 6, 4);
        FN_CHECK(cm.usecs <= NET_COAL_GUEST_MAX_US, "max_usecs %u acked", cm.usecs);
        f->coal_model[c[1] == VIRTIO_NET_CTRL_NOTF_COAL_TX_SET ? NET_Q_TX : NET_Q_RX] = cm;
    } else if (c[0] == VIRTIO_NET_CTRL_MQ) {
        fn_model_mq(f, c + 2, len - 2, c[1]);
    } else {
        FN_CHECK(false, "command class %u cmd %u acked", c[0], c[1]);
    }
}

/* A NOTF_COAL command (the plain encoding of fn_op_ctrl seldom makes class 6): TX_SET,
 * RX_SET or the per-queue ones (not offered), values near the limits, odd lengths. */
static void fn_op_coal(struct fn *f, struct fz_in *in)
{
    uint8_t mode = fz_u8(in);
    uint8_t c[2 + 12] = {VIRTIO_NET_CTRL_NOTF_COAL, (uint8_t)(mode & 3)};
    static const uint32_t frames[] = {0, 1, 2, 3, 8, 64, 255, 256, 257, 0xffffffffu};
    static const uint32_t usecs[] = {
        0,           1, 10, 100, 1000, 65535, NET_COAL_GUEST_MAX_US, NET_COAL_GUEST_MAX_US + 1,
        0xffffffffu, 50};
    uint32_t fr = frames[fz_u8(in) % 10], us = usecs[fz_u8(in) % 10];
    if (mode & 4)
        fr = fz_u32(in);
    if (mode & 8)
        us = fz_u32(in);
    memcpy(c + 2, &fr, 4);
    memcpy(c + 6, &us, 4);
    size_t len = 2 + VIRTIO_NET_CTRL_COAL_LEN;
    if (mode & 0x10)
        len = 2 + (size_t)(fz_u8(in) % 13); /* 0..12 bytes of data */
    uint64_t ca = fn_alloc(f, len), aa = fn_alloc(f, 8);
    if (!ca || !aa)
        return;
    memcpy(fn_gpa(f, ca), c, len);
    memset(fn_gpa(f, aa), 0xee, 8);
    struct fn_seg s[2] = {{ca, (uint32_t)len, false}, {aa, 1, true}};
    uint16_t head =
        (uint16_t)(f->q[f->ctrlq].size ? f->q[f->ctrlq].next_desc % f->q[f->ctrlq].size : 0);
    if (fn_add(f, f->ctrlq, s, 2, false))
        fn_ctrl_recs[head] = (struct fn_ctrl_rec){ca, aa, (uint32_t)len};
}

/* The device's defaults, as the `coalesce-*` options would set them: chosen by bits of the
 * input's feature word that no feature uses. */
static void fn_coal_defaults(struct fn *f, unsigned pick)
{
    static const struct {
        uint32_t rx_us, rx_frames, tx_us, tx_frames;
        bool adaptive;
    } t[8] = {{0, 256, 0, 256, false},       {50, 8, 0, 256, false},     {0, 256, 100, 256, false},
              {30, 4, 30, 4, false},         {200, 256, 200, 256, true}, {10, 2, 0, 256, true},
              {10000, 256, 10000, 2, false}, {0, 256, 0, 256, false}};
    struct net_coal *c = &f->n->coal;
    c->def[NET_Q_RX] =
        (struct net_coal_params){.usecs = t[pick].rx_us, .frames = t[pick].rx_frames};
    c->def[NET_Q_TX] =
        (struct net_coal_params){.usecs = t[pick].tx_us, .frames = t[pick].tx_frames};
    c->adaptive = t[pick].adaptive;
}

static bool fn_model_accepts(struct fn *f, const uint8_t *d)
{
    const struct net_filter *m = &f->model;
    if (m->promisc)
        return true;
    if (net_mac_is_broadcast(d))
        return !m->nobcast;
    bool listed = false;
    const uint8_t(*t)[6] = net_mac_is_multicast(d) ? m->multi : m->uni;
    unsigned cnt = net_mac_is_multicast(d) ? m->n_multi : m->n_uni;
    for (unsigned i = 0; i < cnt; i++)
        listed |= !memcmp(t[i], d, 6);
    if (net_mac_is_multicast(d))
        return !m->nomulti && (m->allmulti || m->multi_overflow || listed);
    uint8_t mac[6];
    net_get_mac(f->n, mac);
    return !m->nouni && (m->alluni || m->uni_overflow || !memcmp(mac, d, 6) || listed);
}

/* ---- an input ---- */

static struct fn fn_state;

static unsigned fn_tx_outstanding(const struct fn *f)
{
    unsigned sum = 0;
    for (unsigned q = 1; q < f->nq; q += 2)
        sum += f->q[q].outstanding;
    return sum;
}

/* Every chain made available is used once the far end drains and a few passes run, unless
 * the driver broke a rule. */
static void fn_finish(struct fn *f)
{
    struct net *n = f->n;
    for (unsigned i = 0; i < 48; i++) {
        if (!(f->ops & FN_OP_TAP))
            fn_sink_drain(f, ~0u);
        fn_pass(f);
        if (!fn_tx_outstanding(f) && !f->q[f->ctrlq].outstanding && !n->tx_blocked)
            break;
    }
    bool live = atomic_load(&n->running) && !n->broken && f->features && !f->hostile;
    if (f->ops & FN_OP_COAL) {
        /* the longest hold passes: everything held goes out */
        fn_clock_ns += (uint64_t)NET_COAL_GUEST_MAX_US * 1000u + 1;
        fn_pass(f);
        if (net_live(n))
            for (unsigned q = 0; q < 2 * n->pairs; q++)
                FN_CHECK(!n->coal.held[q], "queue %u still holds %u frames", q, n->coal.held[q]);
        if (live)
            for (unsigned q = 0; q < NET_COAL_DIRS; q++) {
                const struct fn_coal *m = &f->coal_model[q];
                const struct net_coal *c = &n->coal;
                FN_CHECK(c->driver_set[q] == m->set && (!m->set || (c->set[q].frames == m->frames &&
                                                                    c->set[q].usecs == m->usecs)),
                         "queue %u: the device's coalescing differs from the acked commands", q);
            }
    }
    if (live) {
        FN_CHECK(!fn_tx_outstanding(f), "%u tx descriptors never used (blocked %d)",
                 fn_tx_outstanding(f), n->tx_blocked);
        FN_CHECK(n->mq.active == f->mq_active && n->mq.rss == f->mq_rss,
                 "the device uses %u pairs (rss %d), the acked commands say %u (rss %d)",
                 n->mq.active, n->mq.rss, f->mq_active, f->mq_rss);
        if (f->features >> VIRTIO_NET_F_CTRL_VQ & 1) /* else the queue is not the NIC's */
            FN_CHECK(!f->q[f->ctrlq].outstanding, "control commands never answered");
    }
    if (!(f->ops & FN_OP_TAP)) {
        fn_sink_drain(f, ~0u);
        FN_CHECK(f->sink_records == net_read(&n->st.tx_frames),
                 "%llu records on the wire, %llu counted as sent",
                 (unsigned long long)f->sink_records,
                 (unsigned long long)net_read(&n->st.tx_frames));
    }
}

/* End of an input: both rings empty for the next one. */
static void fn_end(struct fn *f)
{
    if (!(f->ops & FN_OP_TAP)) {
        size_t len;
        while (peer_link_rx_peek(fn_nic_link, &len))
            peer_link_rx_release(fn_nic_link);
        while (peer_link_rx_peek(fn_sink, &len))
            peer_link_rx_release(fn_sink);
        peer_link_service(fn_sink);
        peer_link_service(fn_nic_link);
    }
}

#define FN_OFFERED                                                                                 \
    (NET_BIT(VIRTIO_NET_F_CSUM) | NET_BIT(VIRTIO_NET_F_GUEST_CSUM) | NET_BIT(VIRTIO_NET_F_MTU) |   \
     NET_BIT(VIRTIO_NET_F_MAC) | NET_BIT(VIRTIO_NET_F_GUEST_TSO4) |                                \
     NET_BIT(VIRTIO_NET_F_GUEST_TSO6) | NET_BIT(VIRTIO_NET_F_GUEST_ECN) |                          \
     NET_BIT(VIRTIO_NET_F_HOST_TSO4) | NET_BIT(VIRTIO_NET_F_HOST_TSO6) |                           \
     NET_BIT(VIRTIO_NET_F_HOST_ECN) | NET_BIT(VIRTIO_NET_F_MRG_RXBUF) |                            \
     NET_BIT(VIRTIO_NET_F_STATUS) | NET_BIT(VIRTIO_NET_F_CTRL_VQ) |                                \
     NET_BIT(VIRTIO_NET_F_CTRL_RX) | NET_BIT(VIRTIO_NET_F_CTRL_RX_EXTRA) |                         \
     NET_BIT(VIRTIO_NET_F_CTRL_MAC_ADDR) | NET_BIT(VIRTIO_F_INDIRECT_DESC) |                       \
     NET_BIT(VIRTIO_F_EVENT_IDX) | NET_BIT(VIRTIO_NET_F_MQ))

/* Hooks of a target: the TAP target adds its own wire operations, and checks at the end. */
typedef void (*fn_hook)(struct fn *f, struct fz_in *in, uint8_t op);
static void (*fn_at_end)(struct fn *f);
static void (*fn_before_reset)(struct fn *f);

static void fn_start_from(struct fn *f, struct fz_in *in)
{
    uint32_t raw = fz_u32(in);
    uint64_t feat = raw & FN_OFFERED;
    if (f->n->pairs > 1) /* bit 27, which no offered feature uses: RSS */
        feat |= (uint64_t)(raw >> 27 & 1) << VIRTIO_NET_F_RSS;
    else
        feat &= ~NET_BIT(VIRTIO_NET_F_MQ); /* not offered: the core would refuse it */
    if (f->ops & FN_OP_COAL) {             /* bits no offered feature uses: 21, 24..26 */
        feat |= (uint64_t)(raw >> 21 & 1) << VIRTIO_NET_F_NOTF_COAL;
        fn_coal_defaults(f, raw >> 24 & 7);
    }
    uint8_t ql[3] = {fz_u8(in), fz_u8(in), fz_u8(in)};
    fn_driver_start(f, feat, ql);
}

/* Runs one input with the operations `ops` allow. */
static int fn_run(const uint8_t *data, size_t size, unsigned ops, const char *extra,
                  void (*setup)(struct fn *), fn_hook wire)
{
    struct fn *f = &fn_state;
    if (getenv("FUZZ_NET_TRACE"))
        fprintf(stderr, "trace: input of %zu bytes, hash %08x\n", size, fn_hash(data, size));
    fn_new(f, ops, extra, setup);
    struct fz_in in = {data, size};
    fn_start_from(f, &in);
    if (ops & FN_OP_FLOW)
        f->n->peerfeats = fz_u8(&in) & 1 ? NET_GUEST_OFFLOADS : 0;
    for (unsigned steps = 0; fz_left(&in) && steps < 512; steps++) {
        uint8_t op = fz_u8(&in);
        switch (op & 15) {
        case 0:
        case 1:
            if (!(ops & FN_OP_FLOW) && !(ops & FN_OP_TAP))
                fn_sink_drain(f, ~0u);
            fn_pass(f);
            break;
        case 2:
        case 3:
            if (ops & FN_OP_TX)
                fn_op_tx(f, &in);
            break;
        case 4:
            if (ops & FN_OP_RX)
                fn_op_rx_post(f, &in);
            break;
        case 5:
        case 6:
            if ((ops & FN_OP_RX) && !(ops & FN_OP_TAP))
                fn_op_peer_send(f, &in);
            else if (wire)
                wire(f, &in, op);
            break;
        case 7:
            if (ops & FN_OP_CTRL)
                fn_op_ctrl(f, &in);
            break;
        case 8:
            if (ops & FN_OP_RAW)
                fn_op_raw(f, &in);
            break;
        case 9: /* the far end drains some of what it got */
            if (!(ops & FN_OP_TAP))
                fn_sink_drain(f, fz_u8(&in));
            else if (wire)
                wire(f, &in, op);
            break;
        case 10: /* time passes: a blocked transmit reaches its stall limit */
            if ((ops & FN_OP_FLOW) && f->n->tx_blocked)
                f->n->tx_blocked_ms -= NET_TX_STALL_MS;
            break;
        case 11:
            if (ops & FN_OP_FLOW) {
                f->n->peerfeats = (uint64_t)fz_u16(&in) << 1 & 0x3ff;
                f->pf_changed = true;
            }
            break;
        case 12:
            if (ops & FN_OP_RESET) {
                if (fn_before_reset)
                    fn_before_reset(f);
                fn_start_from(f, &in);
            }
            break;
        case 13: /* the driver resets and stays away a while */
            if ((ops & FN_OP_RESET) && (op & 0x10)) {
                if (fn_before_reset)
                    fn_before_reset(f);
                vdev_virtio_reset(f->vio);
                f->features = 0;
                memset(f->q, 0, sizeof(f->q));
                f->asm_left = 0;
            }
            break;
        case 14: /* time passes: held notifications come due */
            if (ops & FN_OP_COAL)
                fn_clock_ns += (uint64_t)fz_u16(&in) * (op & 0x10 ? 1000u : 1u) * 1000u;
            else if (wire)
                wire(f, &in, op);
            break;
        case 15:
            if (ops & FN_OP_COAL)
                fn_op_coal(f, &in);
            else if (wire)
                wire(f, &in, op);
            break;
        default:
            if (wire)
                wire(f, &in, op);
            break;
        }
    }
    if (f->features)
        fn_finish(f);
    if (fn_at_end)
        fn_at_end(f);
    static int verbose = -1; /* FUZZ_NET_VERBOSE=1: what an input did (seed writing) */
    if (verbose < 0)
        verbose = getenv("FUZZ_NET_VERBOSE") != NULL;
    if (verbose) {
        const struct net_stats *st = &f->n->st;
        fprintf(stderr,
                "features 0x%llx rx %llu tx %llu sw-gso %llu/%llu sw-csum %llu drops: link-down "
                "%llu ring-full %llu no-buffers %llu too-big %llu filtered %llu bad-header %llu "
                "errors %llu; sink %llu, sent %u matched %u; interrupts rx %llu tx %llu ctrl "
                "%llu held rx %llu tx %llu\n",
                (unsigned long long)f->features, (unsigned long long)net_read(&st->rx_frames),
                (unsigned long long)net_read(&st->tx_frames),
                (unsigned long long)net_read(&st->sw_gso_frames),
                (unsigned long long)net_read(&st->sw_gso_segments),
                (unsigned long long)net_read(&st->sw_csum),
                (unsigned long long)net_read(&st->drop_link_down),
                (unsigned long long)net_read(&st->drop_ring_full),
                (unsigned long long)net_read(&st->drop_no_buffers),
                (unsigned long long)net_read(&st->drop_too_big),
                (unsigned long long)net_read(&st->drop_filtered),
                (unsigned long long)net_read(&st->drop_bad_header),
                (unsigned long long)net_read(&st->errors), (unsigned long long)f->sink_records,
                f->nsent, f->sent_pos, (unsigned long long)net_read(&st->irqs[NET_Q_RX]),
                (unsigned long long)net_read(&st->irqs[NET_Q_TX]),
                (unsigned long long)net_read(&st->irqs[2 * f->n->pairs]),
                (unsigned long long)net_read(&st->held[NET_Q_RX]),
                (unsigned long long)net_read(&st->held[NET_Q_TX]));
    }
    fn_end(f);
    return 0;
}

#endif
