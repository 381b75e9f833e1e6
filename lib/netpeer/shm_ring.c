/* The shared-memory ring of the peer link: see shm_ring.h for the layout and the rules. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "netpeer/shm_ring.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(sizeof(struct shm_ring_shared) <= SHM_RING_HDR_SIZE, "ring header too big");

static uint32_t rec_size(uint32_t len)
{
    return SHM_RING_REC_HDR + ((len + 7u) & ~7u);
}

static _Atomic uint32_t *rec_len(uint8_t *data, uint32_t pos)
{
    return (_Atomic uint32_t *)(void *)(data + pos);
}

bool shm_ring_size_valid(uint32_t size)
{
    return size >= SHM_RING_MIN_SIZE && size <= SHM_RING_MAX_SIZE && (size & (size - 1)) == 0;
}

size_t shm_ring_map_size(uint32_t size)
{
    return (size_t)SHM_RING_HDR_SIZE + size;
}

int shm_ring_create(uint32_t size, int *memfd, void **map)
{
    if (!shm_ring_size_valid(size))
        return -EINVAL;
    int fd = memfd_create("vdevkit-peer-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -errno;
    size_t msize = shm_ring_map_size(size);
    void *m = MAP_FAILED;
    if (ftruncate(fd, (off_t)msize) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0 ||
        (m = mmap(NULL, msize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
        int e = errno;
        close(fd);
        return -e;
    }
    *memfd = fd;
    *map = m;
    return 0;
}

void *shm_ring_map_peer(int memfd, uint32_t size, const char **why)
{
    struct stat st;
    if (!shm_ring_size_valid(size)) {
        *why = "bad ring size";
        return NULL;
    }
    /* Seals first: only memory files (shmem, hugetlbfs) have them, and fstat on anything
     * else could reach a file system the sender controls (FUSE) and block. */
    int seals = fcntl(memfd, F_GET_SEALS);
    if (seals < 0) {
        *why = "the ring is not a memory file";
        return NULL;
    }
    if (!(seals & F_SEAL_SHRINK)) {
        *why = "the ring's memory file is not sealed against shrinking";
        return NULL;
    }
    if (fstat(memfd, &st) < 0 || !S_ISREG(st.st_mode)) {
        *why = "the ring is not a memory file";
        return NULL;
    }
    if ((uint64_t)st.st_size != shm_ring_map_size(size)) {
        *why = "the ring's memory file has the wrong size";
        return NULL;
    }
    void *m = mmap(NULL, shm_ring_map_size(size), PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (m == MAP_FAILED) {
        *why = "cannot map the ring";
        return NULL;
    }
    return m;
}

/* ---- producer ---- */

void shm_ring_producer_init(struct shm_ring_producer *p, void *map, uint32_t size, uint32_t max_len)
{
    memset(p, 0, sizeof(*p));
    p->sh = map;
    p->data = (uint8_t *)map + SHM_RING_HDR_SIZE;
    p->size = size;
    p->max_len = max_len;
    /* A fresh ring starts at 0 on both sides; we never adopt the consumer's values. */
}

/* Free bytes as the consumer last told us; false when its head is impossible. */
static bool producer_free(struct shm_ring_producer *p, uint32_t *free_bytes)
{
    uint32_t used = p->tail - p->head_seen;
    if (used > p->size || (p->head_seen & 7u)) {
        p->corrupt = true;
        return false;
    }
    *free_bytes = p->size - used;
    return true;
}

void *shm_ring_reserve(struct shm_ring_producer *p, uint32_t len)
{
    p->resv_len = 0;
    if (len == 0 || len > p->max_len || p->corrupt)
        return NULL;
    uint32_t rec = rec_size(len);
    uint32_t pos = p->tail & (p->size - 1);
    uint32_t contig = p->size - pos;
    uint32_t skip = rec > contig ? contig : 0;
    uint32_t need = skip + rec, free_bytes;
    if (!producer_free(p, &free_bytes))
        return NULL;
    if (free_bytes < need) {
        /* Acquire: the consumer finished reading what it released before we overwrite it. */
        p->head_seen = atomic_load_explicit(&p->sh->head, memory_order_acquire);
        if (!producer_free(p, &free_bytes) || free_bytes < need)
            return NULL;
    }
    if (skip) {
        atomic_store_explicit(rec_len(p->data, pos), SHM_RING_WRAP, memory_order_relaxed);
        pos = 0;
    }
    p->resv_pos = pos;
    p->resv_skip = skip;
    p->resv_len = len;
    return p->data + pos + SHM_RING_REC_HDR;
}

void shm_ring_commit(struct shm_ring_producer *p, uint32_t len)
{
    if (!p->resv_len)
        return;
    if (len > p->resv_len)
        len = p->resv_len;
    uint32_t skip = p->resv_skip;
    p->resv_len = 0;
    if (len == 0)
        return;
    atomic_store_explicit(rec_len(p->data, p->resv_pos), len, memory_order_relaxed);
    memset(p->data + p->resv_pos + 4, 0, 4);
    p->tail += skip + rec_size(len);
    /* Release: the record (and a wrap marker before it) is visible before the new tail. */
    atomic_store_explicit(&p->sh->tail, p->tail, memory_order_release);
    p->dirty = true;
}

bool shm_ring_flush(struct shm_ring_producer *p)
{
    if (!p->dirty)
        return false;
    p->dirty = false;
    /* Our tail store, then their flag (they store the flag, then read our tail). */
    atomic_thread_fence(memory_order_seq_cst);
    if (!atomic_load_explicit(&p->sh->sleeping, memory_order_relaxed))
        return false;
    return atomic_exchange_explicit(&p->sh->sleeping, 0, memory_order_relaxed) != 0;
}

bool shm_ring_want_space(struct shm_ring_producer *p, uint32_t len)
{
    if (p->corrupt || len == 0 || len > p->max_len)
        return false;
    /* Worst case: a wrap marker before the record. */
    uint32_t need = rec_size(len);
    uint32_t pos = p->tail & (p->size - 1);
    if (need > p->size - pos)
        need += p->size - pos;
    /* Woken once an eighth of the ring is free, not as soon as one small record fits: a
     * wakeup per frame (a write, a poll and a context switch) cost more than the frame. */
    uint32_t want = need > p->size / 8 ? need : p->size / 8;
    atomic_store_explicit(&p->sh->want_space, want, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    p->head_seen = atomic_load_explicit(&p->sh->head, memory_order_acquire);
    uint32_t free_bytes;
    if (producer_free(p, &free_bytes) && free_bytes >= need) {
        atomic_store_explicit(&p->sh->want_space, 0, memory_order_relaxed);
        return true;
    }
    return false;
}

/* ---- consumer ---- */

void shm_ring_consumer_init(struct shm_ring_consumer *c, void *map, uint32_t size, uint32_t max_len)
{
    memset(c, 0, sizeof(*c));
    c->sh = map;
    c->data = (uint8_t *)map + SHM_RING_HDR_SIZE;
    c->size = size;
    c->max_len = max_len;
}

/* Drops everything published so far (after a malformed record: there is no way to find
 * the next record boundary in a byte ring). */
static void consumer_drop_all(struct shm_ring_consumer *c)
{
    c->bad_records++;
    c->head = c->tail_seen;
    atomic_store_explicit(&c->sh->head, c->head, memory_order_release);
}

/* Reads tail once and validates it: 8-aligned, no more than size ahead of head. */
static bool consumer_refresh(struct shm_ring_consumer *c)
{
    uint32_t t = atomic_load_explicit(&c->sh->tail, memory_order_acquire);
    if ((t & 7u) || t - c->head > c->size) {
        c->bad_records++;
        c->broken = true;
        return false;
    }
    c->tail_seen = t;
    return true;
}

const void *shm_ring_peek(struct shm_ring_consumer *c, uint32_t *len)
{
    if (c->broken)
        return NULL;
    if (c->announced) {
        c->announced = false;
        atomic_store_explicit(&c->sh->sleeping, 0, memory_order_relaxed);
    }
    for (int round = 0; round < 2; round++) {
        if (c->tail_seen == c->head && !consumer_refresh(c))
            return NULL;
        uint32_t avail = c->tail_seen - c->head;
        if (avail == 0)
            return NULL;
        uint32_t pos = c->head & (c->size - 1);
        uint32_t contig = c->size - pos;
        uint32_t n = atomic_load_explicit(rec_len(c->data, pos), memory_order_relaxed);
        if (n == SHM_RING_WRAP) {
            if (contig > avail || round > 0) {
                consumer_drop_all(c);
                return NULL;
            }
            c->head += contig;
            atomic_store_explicit(&c->sh->head, c->head, memory_order_release);
            continue;
        }
        uint32_t limit = avail < contig ? avail : contig;
        if (n == 0 || n > c->max_len || rec_size(n) > limit) {
            consumer_drop_all(c);
            return NULL;
        }
        c->cur_adv = rec_size(n);
        *len = n;
        return c->data + pos + SHM_RING_REC_HDR;
    }
    return NULL;
}

bool shm_ring_release(struct shm_ring_consumer *c)
{
    if (!c->cur_adv)
        return false;
    c->head += c->cur_adv;
    c->cur_adv = 0;
    atomic_store_explicit(&c->sh->head, c->head, memory_order_release);
    /* Our head store, then their flag (they store the flag, then read our head). */
    atomic_thread_fence(memory_order_seq_cst);
    uint32_t want = atomic_load_explicit(&c->sh->want_space, memory_order_relaxed);
    if (!want)
        return false;
    uint32_t t = atomic_load_explicit(&c->sh->tail, memory_order_relaxed);
    uint32_t used = t - c->head;
    uint32_t free_bytes = used > c->size ? c->size : c->size - used;
    if (want > c->size)
        want = c->size; /* nonsense from the producer: wake it when the ring is empty */
    if (free_bytes < want)
        return false;
    return atomic_exchange_explicit(&c->sh->want_space, 0, memory_order_relaxed) != 0;
}

bool shm_ring_sleep(struct shm_ring_consumer *c)
{
    if (c->broken)
        return false;
    c->announced = true;
    atomic_store_explicit(&c->sh->sleeping, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    uint32_t t = atomic_load_explicit(&c->sh->tail, memory_order_relaxed);
    return t != c->head;
}
