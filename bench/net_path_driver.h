/* bench_net_path's guests: the transmit side of one synthetic guest and the receive side of
 * the other, driving the real virtio-net device (tests/support/net_guest.h: its fake
 * transport and rings) the way Linux's virtio_net driver does, so that the benchmark
 * measures the device and not the driver:
 *
 *   transmit  a frame is the virtio-net header pushed in front of its headers in one
 *             buffer; a frame longer than SMALL_FRAME is a TCP skb: that buffer and its
 *             payload in 4 KiB page fragments, through an indirect table (INDIRECT_DESC).
 *             Used chains are reclaimed before each batch (free_old_xmit_skbs); a batch of
 *             up to TX_BATCH frames ends with one kick if the device asked for it
 *             (EVENT_IDX: avail_event). A full ring stops the queue and asks for an
 *             interrupt once 3/4 of what is out is used (virtqueue_enable_cb_delayed).
 *   receive   mergeable buffers (MRG_RXBUF), one descriptor each, all posted at start; NAPI:
 *             up to RX_BUDGET frames a poll, a refill when more than half a budget is free
 *             (try_fill_recv) with a kick if asked for; fewer than a budget: the interrupt
 *             re-armed at the next used entry (used_event) and the ring checked again.
 *
 * Every frame carries a sequence number; the receiver checks each one's length, header,
 * sequence number at both ends and two payload bytes, and every 1024th frame whole: a
 * benchmark that loses, reorders or corrupts frames stops with an error. Include once. */
#ifndef VDEVKIT_BENCH_NET_PATH_DRIVER_H
#define VDEVKIT_BENCH_NET_PATH_DRIVER_H

#include <poll.h>
#include <stdatomic.h>

#include "net_guest.h"
#include "netpeer/net_offload.h"

#define TX_BATCH    64u  /* frames the qdisc hands over before the last one (xmit_more) */
#define RX_BUDGET   64u  /* NAPI's weight */
#define SMALL_FRAME 128u /* up to this, a frame is one linear buffer */
#define FRAG        4096u
#define IND_MAX     20u /* indirect entries: the headers and 16 page fragments (+ spare) */
#define HDRS        54u /* Ethernet + IPv4 + TCP */
#define GSO_MSS     1448u
#define WAIT_MS     1000 /* no interrupt for this long while frames flow: a lost one */

enum step { STEP_MORE, STEP_WAIT };

/* One side of a guest's driver: a queue it polls and the interrupt it sleeps on. */
struct side {
    enum step (*step)(struct side *s);
    struct drv *v;
    unsigned q;
    uint16_t free[QSIZE]; /* chain heads not given to the device (LIFO, as a free list) */
    unsigned nfree;
    bool out[QSIZE]; /* given to the device, not used yet */
    uint16_t added;  /* made available since the last kick decision */
    _Atomic uint64_t frames, kicks, wakeups;
    const char *error; /* the first thing that went wrong; the side stops */
};

struct tx_side {
    struct side s;
    size_t len;                  /* frame length without the virtio-net header */
    uint64_t slots, stride, ind; /* slot i: header + frame at slots + i * stride */
    uint64_t seq;
    atomic_bool *stop; /* stop sending (the frames out still complete) */
};

struct rx_side {
    struct side s;
    size_t len;
    uint32_t buf_len;
    uint64_t bufs; /* buffer i at bufs + i * buf_len */
    uint64_t seq;  /* the next frame expected */
    _Atomic uint64_t bytes;
};

static uint8_t pattern(size_t i)
{
    return (uint8_t)((i * 2654435761u) >> 24);
}

/* vring_need_event (§2.7.10) */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

static uint16_t *avail_event(struct side *s)
{
    return (uint16_t *)gpa(s->v, s->v->q[s->q].used + 4 + 8u * QSIZE);
}

static uint16_t *used_event(struct side *s)
{
    return (uint16_t *)gpa(s->v, s->v->q[s->q].avail + 4 + 2u * QSIZE);
}

static void side_init(struct side *s, struct drv *v, unsigned q, enum step (*step)(struct side *))
{
    memset(s, 0, sizeof(*s));
    s->step = step;
    s->v = v;
    s->q = q;
    for (unsigned i = 0; i < QSIZE; i++)
        s->free[i] = (uint16_t)(QSIZE - 1 - i);
    s->nfree = QSIZE;
}

static enum step side_fail(struct side *s, const char *why)
{
    if (!s->error)
        s->error = why;
    return STEP_WAIT;
}

/* Publishes what was added and kicks if the device asked for it (virtqueue_kick_prepare). */
static void side_kick(struct side *s)
{
    struct drvq *dq = &s->v->q[s->q];
    drv_publish(s->v, s->q);
    atomic_thread_fence(memory_order_seq_cst); /* the index, then the device's request */
    uint16_t ev = __atomic_load_n(avail_event(s), __ATOMIC_RELAXED);
    bool kick = need_event(ev, dq->avail_idx, (uint16_t)(dq->avail_idx - s->added));
    s->added = 0;
    if (kick) {
        drv_kick(s->v, s->q);
        atomic_fetch_add_explicit(&s->kicks, 1, memory_order_relaxed);
    }
}

/* Asks for an interrupt once entry `ev` is used; true when it is already (more to do). */
static bool side_arm(struct side *s, uint16_t ev)
{
    __atomic_store_n(used_event(s), ev, __ATOMIC_RELAXED);
    atomic_thread_fence(memory_order_seq_cst); /* the request, then the index */
    return (uint16_t)(drv_used_idx(s->v, s->q) - ev - 1) < 0x8000u;
}

/* The next used entry; false when none, or (with s->error set) when it is not ours. */
static bool side_used(struct side *s, uint16_t at, uint16_t *id, uint32_t *len)
{
    const uint8_t *e = gpa(s->v, s->v->q[s->q].used + 4 + 8u * (at % QSIZE));
    uint32_t i;
    memcpy(&i, e, 4);
    memcpy(len, e + 4, 4);
    if (i >= QSIZE || !s->out[i]) {
        side_fail(s, "the device used a chain it was not given");
        return false;
    }
    *id = (uint16_t)i;
    return true;
}

/* ---- transmit ---- */

static void tx_fill_slot(struct tx_side *t, unsigned slot, const uint8_t src[6],
                         const uint8_t dst[6])
{
    uint8_t *b = gpa(t->s.v, t->slots + slot * t->stride);
    struct net_hdr h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 16};
    if (t->len > 1514) { /* a TSO frame, as Linux hands it over with HOST_TSO4 */
        h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
        h.gso_size = GSO_MSS;
        h.hdr_len = HDRS;
    }
    net_hdr_store(&h, b);
    uint8_t *f = b + NET_HDR_LEN;
    uint8_t *tcp = eth_ipv4(f, dst, src, 6, t->len);
    memset(tcp, 0, 20);
    net_put_be16(tcp, 5201);
    net_put_be16(tcp + 2, 40000);
    tcp[12] = 5 << 4;
    tcp[13] = 0x18; /* ACK, PSH */
    net_put_be16(tcp + 14, 0xffff);
    for (size_t i = 0; i < t->len - HDRS; i++)
        f[HDRS + i] = pattern(i);

    /* The indirect table: headers, then the payload's page fragments. */
    if (t->len <= SMALL_FRAME)
        return;
    uint64_t a = t->slots + slot * t->stride, table = t->ind + slot * IND_MAX * 16u;
    uint16_t n = 0;
    drv_desc(t->s.v, table, n, a, NET_HDR_LEN + HDRS, F_NEXT, 1);
    for (size_t off = NET_HDR_LEN + HDRS, end = NET_HDR_LEN + t->len; off < end; off += FRAG) {
        n++;
        uint32_t l = (uint32_t)(end - off < FRAG ? end - off : FRAG);
        drv_desc(t->s.v, table, n, a + off, l, off + l < end ? F_NEXT : 0, (uint16_t)(n + 1));
    }
}

/* The sequence number at both ends of the payload (the rest is the slot's pattern). */
static void tx_stamp(struct tx_side *t, unsigned slot)
{
    uint8_t *p = gpa(t->s.v, t->slots + slot * t->stride) + NET_HDR_LEN + HDRS;
    size_t pl = t->len - HDRS;
    uint64_t inv = ~t->seq;
    memcpy(p, &t->seq, 8);
    if (pl >= 16)
        memcpy(p + pl - 8, &inv, 8);
}

static enum step tx_step(struct side *s)
{
    struct tx_side *t = (struct tx_side *)s;
    struct drvq *dq = &s->v->q[s->q];
    if (s->error)
        return STEP_WAIT;
    /* free_old_xmit_skbs */
    for (uint16_t used = drv_used_idx(s->v, s->q); dq->used_seen != used; dq->used_seen++) {
        uint16_t id;
        uint32_t len;
        if (!side_used(s, dq->used_seen, &id, &len))
            return STEP_WAIT;
        s->out[id] = false;
        s->free[s->nfree++] = id;
    }
    if (atomic_load_explicit(t->stop, memory_order_relaxed))
        return STEP_WAIT;
    unsigned n = 0;
    for (; n < TX_BATCH && s->nfree; n++) {
        uint16_t slot = s->free[--s->nfree];
        s->out[slot] = true;
        tx_stamp(t, slot);
        uint64_t a = t->slots + slot * t->stride;
        if (t->len <= SMALL_FRAME)
            drv_desc(s->v, dq->desc, slot, a, (uint32_t)(NET_HDR_LEN + t->len), 0, 0);
        else /* the table's size: headers + one entry per (partial) fragment */
            drv_desc(s->v, dq->desc, slot, t->ind + slot * IND_MAX * 16u,
                     16u * (1u + (uint32_t)((t->len - HDRS + FRAG - 1) / FRAG)), F_INDIR, 0);
        drv_avail(s->v, s->q, slot);
        t->seq++;
    }
    s->added = (uint16_t)(s->added + n);
    if (n)
        side_kick(s);
    atomic_fetch_add_explicit(&s->frames, n, memory_order_relaxed);
    if (s->nfree)
        return STEP_MORE;
    /* Ring full: the queue stops until 3/4 of what is out comes back. */
    uint16_t out = (uint16_t)(dq->avail_idx - dq->used_seen);
    return side_arm(s, (uint16_t)(dq->used_seen + out * 3 / 4)) ? STEP_MORE : STEP_WAIT;
}

/* ---- receive ---- */

/* Where byte `off` of a received chain set (header + frame) lies. */
struct rx_frame {
    unsigned n;
    uint8_t *buf[QSIZE];
    uint32_t len[QSIZE];
};

/* Byte `off` of a received chain set (header + frame), and how many follow it in its buffer. */
static const uint8_t *rx_at(const struct rx_frame *f, size_t off, size_t *left)
{
    for (unsigned k = 0; k < f->n; k++) {
        if (off < f->len[k]) {
            *left = f->len[k] - off;
            return f->buf[k] + off;
        }
        off -= f->len[k];
    }
    *left = 0;
    return NULL;
}

static uint64_t rx_u64(const struct rx_frame *f, size_t off)
{
    size_t left;
    const uint8_t *p = rx_at(f, off, &left);
    uint64_t v = 0;
    if (left >= 8) { /* the usual case: one buffer holds it */
        memcpy(&v, p, 8);
        return v;
    }
    for (unsigned i = 0; i < 8; i++) {
        p = rx_at(f, off + i, &left);
        v |= (uint64_t)(p ? *p : 0) << (8 * i);
    }
    return v;
}

/* The checks on one received frame; NULL when it is the one expected. */
static const char *rx_check(struct rx_side *r, const struct rx_frame *f, size_t total)
{
    if (total != NET_HDR_LEN + r->len)
        return "a frame arrived with another length than sent";
    struct net_hdr h;
    net_hdr_load(&h, f->buf[0]);
    bool gso = r->len > 1514;
    if (h.flags != VIRTIO_NET_HDR_F_NEEDS_CSUM || h.csum_start != 34 || h.csum_offset != 16 ||
        h.gso_type != (gso ? VIRTIO_NET_HDR_GSO_TCPV4 : 0) || h.gso_size != (gso ? GSO_MSS : 0) ||
        h.num_buffers != f->n)
        return "a frame arrived with another virtio-net header than sent";
    size_t p = NET_HDR_LEN + HDRS, pl = r->len - HDRS;
    if (rx_u64(f, p) != r->seq || (pl >= 16 && rx_u64(f, p + pl - 8) != ~r->seq))
        return "a frame arrived out of order, or one is missing";
    if (pl >= 24) { /* two bytes between the stamps, elsewhere in each frame */
        size_t i = 8 + (r->seq * 7919u) % (pl - 16), j = 8 + (r->seq * 104729u) % (pl - 16);
        size_t left;
        if (*rx_at(f, p + i, &left) != pattern(i) || *rx_at(f, p + j, &left) != pattern(j))
            return "a frame's payload arrived changed";
    }
    if (r->seq % 1024 == 0) {
        size_t off = 0;
        for (unsigned k = 0; k < f->n; k++)
            for (uint32_t b = 0; b < f->len[k]; b++, off++)
                if (off >= p + 8 && off < p + pl - 8 && f->buf[k][b] != pattern(off - p))
                    return "a frame's payload arrived changed";
    }
    return NULL;
}

/* try_fill_recv: every free buffer back to the device. */
static void rx_refill(struct rx_side *r)
{
    struct side *s = &r->s;
    unsigned n = 0;
    for (; s->nfree; n++) {
        uint16_t id = s->free[--s->nfree];
        s->out[id] = true;
        drv_desc(s->v, s->v->q[s->q].desc, id, r->bufs + (uint64_t)id * r->buf_len, r->buf_len,
                 F_WRITE, 0);
        drv_avail(s->v, s->q, id);
    }
    s->added = (uint16_t)(s->added + n);
    if (n)
        side_kick(s);
}

static enum step rx_step(struct side *s)
{
    struct rx_side *r = (struct rx_side *)s;
    struct drvq *dq = &s->v->q[s->q];
    struct rx_frame f;
    unsigned done = 0;
    if (s->error)
        return STEP_WAIT;
    uint16_t used = drv_used_idx(s->v, s->q);
    while (done < RX_BUDGET && dq->used_seen != used) {
        uint16_t id;
        uint32_t len;
        if (!side_used(s, dq->used_seen, &id, &len))
            return STEP_WAIT;
        uint8_t *b = gpa(s->v, r->bufs + (uint64_t)id * r->buf_len);
        uint16_t nb = net_get16(b + 10); /* num_buffers */
        if (nb == 0 || nb > QSIZE || len < NET_HDR_LEN || len > r->buf_len)
            return side_fail(s, "a frame arrived with a bad num_buffers or length");
        if ((uint16_t)(used - dq->used_seen) < nb) {
            used = drv_used_idx(s->v, s->q); /* the rest of the frame is on its way */
            if ((uint16_t)(used - dq->used_seen) < nb)
                break;
        }
        size_t total = 0;
        f.n = nb;
        for (unsigned k = 0; k < nb; k++) {
            if (k && !side_used(s, (uint16_t)(dq->used_seen + k), &id, &len))
                return STEP_WAIT;
            if (len > r->buf_len)
                return side_fail(s, "a used length is longer than its buffer");
            f.buf[k] = gpa(s->v, r->bufs + (uint64_t)id * r->buf_len);
            f.len[k] = len;
            total += len;
            s->out[id] = false;
            s->free[s->nfree++] = id;
        }
        const char *why = rx_check(r, &f, total);
        if (why)
            return side_fail(s, why);
        dq->used_seen = (uint16_t)(dq->used_seen + nb);
        r->seq++;
        done++;
        atomic_fetch_add_explicit(&s->frames, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&r->bytes, r->len, memory_order_relaxed);
    }
    if (s->nfree > RX_BUDGET / 2)
        rx_refill(r);
    if (done == RX_BUDGET)
        return STEP_MORE;
    return side_arm(s, dq->used_seen) ? STEP_MORE : STEP_WAIT; /* napi_complete, then poll */
}

/* ---- a guest's vCPU: polls its sides, sleeps on their interrupts ---- */

struct vcpu {
    struct side *sides[2];
    unsigned nsides;
    int quit_fd; /* readable: the run is over */
    atomic_bool *quit, *stopping;
};

static void *vcpu_run(void *arg)
{
    struct vcpu *c = arg;
    while (!atomic_load(c->quit)) {
        bool more = false;
        for (unsigned i = 0; i < c->nsides; i++)
            more |= c->sides[i]->step(c->sides[i]) == STEP_MORE;
        if (more)
            continue;
        struct pollfd p[3];
        for (unsigned i = 0; i < c->nsides; i++)
            p[i] = (struct pollfd){.fd = c->sides[i]->v->ft->irq[c->sides[i]->q], .events = POLLIN};
        p[c->nsides] = (struct pollfd){.fd = c->quit_fd, .events = POLLIN};
        int r = poll(p, c->nsides + 1, WAIT_MS);
        for (unsigned i = 0; i < c->nsides; i++)
            if (r > 0 && (p[i].revents & POLLIN)) {
                net_drain_fd(p[i].fd);
                atomic_fetch_add_explicit(&c->sides[i]->wakeups, 1, memory_order_relaxed);
            }
        if (r == 0 && !atomic_load(c->stopping))
            for (unsigned i = 0; i < c->nsides; i++)
                side_fail(c->sides[i], "no interrupt for a second while frames flow: one is lost");
    }
    return NULL;
}

#endif
