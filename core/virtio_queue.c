/* Split virtqueues, device side (§2.7).
 *
 * The rings live in guest memory and another CPU (the driver) writes them while we read:
 * every value is copied once into a local before it is checked, indices are checked
 * against the queue size, every buffer goes through vdev_gmem_ptr. The data path takes no
 * lock and makes no system call; ordering against the driver is by C11 fences.
 */
#include <string.h>

#include "virtio_internal.h"

/* Guest-written fields: one access each, never re-read by the compiler. */
static inline uint16_t load16(const uint16_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void store16(uint16_t *p, uint16_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static bool aligned(uint64_t gpa, const void *host, uint64_t a)
{
    return (gpa & (a - 1)) == 0 && ((uintptr_t)host & (a - 1)) == 0;
}

static void *map_part(struct vdev_virtq *q, const char *what, uint64_t gpa, uint64_t len,
                      uint64_t align, bool writable)
{
    struct vdev_virtio *vio = q->vio;
    void *p = vdev_gmem_ptr(vio->d->m, gpa, len, writable);
    if (!p) {
        vdev_virtio_fail(vio, "queue %u: %s at 0x%llx (0x%llx bytes) is not in guest RAM", q->index,
                         what, (unsigned long long)gpa, (unsigned long long)len);
        return NULL;
    }
    if (!aligned(gpa, p, align)) {
        vdev_virtio_fail(vio, "queue %u: %s at 0x%llx is not %llu-byte aligned", q->index, what,
                         (unsigned long long)gpa, (unsigned long long)align);
        return NULL;
    }
    return p;
}

bool vdev_virtq_map(struct vdev_virtq *q, uint64_t features)
{
    struct vdev_virtq_config c = q->cfg; /* one snapshot: other vCPUs may still write */
    if (!c.enabled)
        return true;
    unsigned max = q->vio->ops->queue_size_max;
    if (!c.size || (c.size & (c.size - 1)) || c.size > max) {
        vdev_virtio_fail(q->vio, "queue %u: size %u is not a power of two up to %u", q->index,
                         c.size, max);
        return false;
    }
    bool event_idx = features >> VIRTIO_F_EVENT_IDX & 1;
    uint64_t n = c.size, ev = event_idx ? 2 : 0;
    void *desc = map_part(q, "descriptor table", c.desc, 16 * n, 16, false);
    void *avail = desc ? map_part(q, "available ring", c.driver, 4 + 2 * n + ev, 2, false) : NULL;
    void *used = avail ? map_part(q, "used ring", c.device, 4 + 8 * n + ev, 4, true) : NULL;
    if (!used)
        return false;
    q->size = c.size;
    q->mask = c.size - 1;
    q->event_idx = event_idx;
    q->indirect = features >> VIRTIO_F_INDIRECT_DESC & 1;
    q->desc = desc;
    q->avail = avail;
    q->used = used;
    q->used_event = event_idx ? &q->avail->ring[n] : NULL;
    q->avail_event = event_idx ? (uint16_t *)&q->used->ring[n] : NULL;
    /* A fresh queue starts at index 0 on both sides (§2.7.13.1 after reset). */
    q->last_avail = q->shadow_avail = q->used_idx = q->notified_used = 0;
    q->notified_valid = false;
    q->span.size = 0;
    /* Kicks start enabled, whatever the driver left in the device's part of the ring. */
    store16(&q->used->flags, 0);
    if (event_idx)
        store16(q->avail_event, 0);
    return true;
}

void vdev_virtq_unmap(struct vdev_virtq *q)
{
    q->size = 0;
    q->desc = NULL;
    q->avail = NULL;
    q->used = NULL;
    q->used_event = q->avail_event = NULL;
}

unsigned vdev_virtq_size(const struct vdev_virtq *q)
{
    return q->size;
}

#define violation(q, ...) (vdev_virtio_fail((q)->vio, __VA_ARGS__), -1)

/* vdev_gmem_ptr for a chain's buffers and tables. Guest memory stays put for the machine's
 * life (docs/security.md), so the region the previous buffer was in answers most of them
 * without a look-up in the memory map (whose epoch section costs a full fence). */
static void *buf_ptr(struct vdev_virtq *q, uint64_t gpa, uint64_t len, bool writable)
{
    struct vdev_gmem_span *s = &q->span;
    uint64_t off = gpa - s->base;
    if (off >= s->size || len > s->size - off || (writable && !s->writable)) {
        if (vdev_bus_guest_span(q->vio->d->m->bus, gpa, s)) {
            s->size = 0;
            return NULL;
        }
        off = gpa - s->base;
        if (len > s->size - off || (writable && !s->writable))
            return NULL;
    }
    return len ? s->host + off : NULL;
}

/* The driver's avail index, reading guest memory only when everything read before was
 * popped already. Returns how many chains wait, or -1 when the index jumped. */
static int avail_pending(struct vdev_virtq *q)
{
    if (q->shadow_avail == q->last_avail) {
        /* Acquire: the ring entries and descriptors the index publishes are visible. */
        uint16_t idx = __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE);
        uint16_t n = (uint16_t)(idx - q->last_avail);
        if (n > q->size)
            return violation(q, "queue %u: available index jumped from %u to %u (size %u)",
                             q->index, q->last_avail, idx, q->size);
        q->shadow_avail = idx;
    }
    return (uint16_t)(q->shadow_avail - q->last_avail);
}

static inline void read_desc(struct vring_desc *out, const struct vring_desc *in)
{
    memcpy(out, in, sizeof(*out));
    /* The copy is what we check and use: keep the compiler from reading guest memory again. */
    atomic_signal_fence(memory_order_seq_cst);
}

int vdev_virtq_pop(struct vdev_virtq *q, struct vdev_virtq_elem *e)
{
    if (!e)
        return -1; /* the caller's mistake: the queue is left as it is */
    if (atomic_load_explicit(&q->broken, memory_order_relaxed))
        return -1;
    if (!q->size)
        return 0;
    int pending = avail_pending(q);
    if (pending <= 0)
        return pending;

    uint16_t head = load16(&q->avail->ring[q->last_avail & q->mask]);
    if (head >= q->size)
        return violation(q, "queue %u: chain head %u out of range (size %u)", q->index, head,
                         q->size);

    const struct vring_desc *table = q->desc;
    unsigned table_size = q->size, i = head, seen = 0, nseg = 0, nout = 0;
    bool indirect = false, writing = false;
    size_t out_len = 0, in_len = 0;
    for (;;) {
        if (++seen > table_size)
            return violation(q, "queue %u: descriptor chain from %u loops", q->index, head);
        struct vring_desc d;
        read_desc(&d, &table[i]);
        if (d.flags & VRING_DESC_F_INDIRECT) {
            if (!q->indirect)
                return violation(q, "queue %u: indirect descriptor without INDIRECT_DESC",
                                 q->index);
            if (indirect)
                return violation(q, "queue %u: nested indirect descriptor", q->index);
            if (d.flags & VRING_DESC_F_NEXT)
                return violation(q, "queue %u: descriptor with both INDIRECT and NEXT", q->index);
            if (d.len == 0 || d.len % sizeof(d) || d.len > VDEV_VIRTQ_MAX_SEGS * sizeof(d))
                return violation(q, "queue %u: indirect table of %u bytes", q->index, d.len);
            table = buf_ptr(q, d.addr, d.len, false);
            if (!table)
                return violation(q,
                                 "queue %u: indirect table at 0x%llx (%u bytes) is not in "
                                 "guest RAM",
                                 q->index, (unsigned long long)d.addr, d.len);
            table_size = d.len / sizeof(d);
            i = 0;
            seen = 0;
            indirect = true;
            continue;
        }
        if (d.flags & VRING_DESC_F_WRITE)
            writing = true;
        else if (writing)
            return violation(q, "queue %u: device-readable buffer after a writable one", q->index);
        if (d.len) {
            if (nseg == VDEV_VIRTQ_MAX_SEGS)
                return violation(q, "queue %u: chain of more than %u buffers", q->index,
                                 VDEV_VIRTQ_MAX_SEGS);
            void *p = buf_ptr(q, d.addr, d.len, writing);
            if (!p)
                return violation(q, "queue %u: buffer at 0x%llx (%u bytes) is not in guest RAM",
                                 q->index, (unsigned long long)d.addr, d.len);
            e->iov[nseg].iov_base = p;
            e->iov[nseg].iov_len = d.len;
            nseg++;
            if (writing) {
                in_len += d.len;
            } else {
                out_len += d.len;
                nout++;
            }
        }
        if (!(d.flags & VRING_DESC_F_NEXT))
            break;
        i = d.next;
        if (i >= table_size)
            return violation(q, "queue %u: next descriptor %u out of range (table of %u)", q->index,
                             i, table_size);
    }
    e->head = head;
    e->nout = nout;
    e->nin = nseg - nout;
    e->out_len = out_len;
    e->in_len = in_len;
    q->last_avail++;
    return 1;
}

void vdev_virtq_unpop(struct vdev_virtq *q, unsigned n)
{
    q->last_avail -= (uint16_t)n;
}

bool vdev_virtq_has_avail(struct vdev_virtq *q)
{
    if (!q->size || atomic_load_explicit(&q->broken, memory_order_relaxed))
        return false;
    if (q->shadow_avail != q->last_avail)
        return true;
    return __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE) != q->last_avail;
}

void vdev_virtq_push_n(struct vdev_virtq *q, const uint16_t *heads, const uint32_t *lens,
                       unsigned n)
{
    if (!q->size || atomic_load_explicit(&q->broken, memory_order_relaxed))
        return;
    uint16_t idx = q->used_idx;
    for (unsigned i = 0; i < n; i++) {
        struct vring_used_elem *u = &q->used->ring[(uint16_t)(idx + i) & q->mask];
        __atomic_store_n(&u->id, heads[i], __ATOMIC_RELAXED);
        __atomic_store_n(&u->len, lens[i], __ATOMIC_RELAXED);
    }
    idx += (uint16_t)n;
    /* Release: the driver that sees the new index sees the entries and the data. */
    __atomic_store_n(&q->used->idx, idx, __ATOMIC_RELEASE);
    q->used_idx = idx;
}

/* vring_need_event (§2.7.10): did the used index cross `event` going from old to new? */
static inline bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

int vdev_virtq_notify_ext(struct vdev_virtq *q, unsigned flags)
{
    if (flags)
        return -1; /* none defined yet */
    if (!q->size || atomic_load_explicit(&q->broken, memory_order_relaxed))
        return 0;
    uint16_t old = q->notified_used, now = q->used_idx;
    if (old == now)
        return 0; /* nothing new for the driver */
    /* The used index store must be visible before we read the driver's suppression (it
     * re-checks the used index after writing them). */
    atomic_thread_fence(memory_order_seq_cst);
    bool need;
    if (q->event_idx)
        need = !q->notified_valid || need_event(load16(q->used_event), now, old);
    else
        need = !(load16(&q->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
    q->notified_used = now;
    q->notified_valid = true;
    if (!need || !TRANSPORT_HOOK(q->vio, notify_queue))
        return 0;
    TRANSPORT_HOOK(q->vio, notify_queue)(q->vio->t, q->index);
    return 1;
}

void vdev_virtq_notify(struct vdev_virtq *q)
{
    (void)vdev_virtq_notify_ext(q, 0);
}

bool vdev_virtq_set_kicks(struct vdev_virtq *q, bool enabled)
{
    if (!q->size || atomic_load_explicit(&q->broken, memory_order_relaxed))
        return false;
    if (q->event_idx) {
        /* Enabled: kick for the next chain after those we popped. Disabled: an event index
         * the driver has already passed, so it does not kick until its index wraps. */
        store16(q->avail_event, enabled ? q->last_avail : (uint16_t)(q->last_avail - 1));
    } else {
        store16(&q->used->flags, enabled ? 0 : VRING_USED_F_NO_NOTIFY);
    }
    if (!enabled)
        return false;
    /* The driver may have added a chain before it could see the new setting: look again
     * after a full barrier (it does the mirror image: add, barrier, read our setting). */
    atomic_thread_fence(memory_order_seq_cst);
    return vdev_virtq_has_avail(q);
}
