/* A single-producer single-consumer byte ring of variable-length records in shared memory
 * (a sealed memfd), used by the peer link: the consumer's process creates it, the producer's
 * process maps it and writes frames straight into it.
 *
 * Layout of the mapping (one page of header, then `size` bytes of data):
 *   line 0 (producer writes): tail
 *   line 1 (consumer writes): head, sleeping
 *   line 2 (rarely written): want_space
 *   data: records {u32 len; u32 0; payload; padding to 8 bytes}; a record never wraps: when
 *         one does not fit before the end, the producer writes len = SHM_RING_WRAP there and
 *         starts again at offset 0.
 * head and tail are free-running byte counters (mod 2^32); size is a power of two.
 *
 * Each side keeps its own index privately and never reads it back from shared memory: the
 * other process is not trusted. The consumer reads tail and each length once, bounds-checks
 * them, and counts what it must drop; the producer only ever writes inside the mapping.
 *
 * Notifications (the caller owns the eventfds): the consumer announces "sleeping" before it
 * waits, and the producer writes the wakeup eventfd at the end of a batch only if it finds
 * that flag (and clears it). Symmetrically the producer announces "want_space" when the ring
 * is full and the consumer signals once enough room was released. */
#ifndef VDEV_NET_SHM_RING_H
#define VDEV_NET_SHM_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHM_RING_HDR_SIZE 4096u /* a page: the data area is page-aligned */
#define SHM_RING_WRAP     0xffffffffu
#define SHM_RING_REC_HDR  8u
#define SHM_RING_MIN_SIZE (256u * 1024u)
#define SHM_RING_MAX_SIZE (64u * 1024u * 1024u)

struct shm_ring_shared {
    _Alignas(64) _Atomic uint32_t tail; /* producer: bytes published */
    _Alignas(64) _Atomic uint32_t head; /* consumer: bytes released */
    _Atomic uint32_t sleeping;          /* consumer: waits on the wakeup eventfd */
    /* Own line: the consumer reads it after every release, and must not pull the line the
     * producer writes for every frame (tail) each time. */
    _Alignas(64) _Atomic uint32_t want_space; /* producer: wake me when this many are free */
};

/* The producer's private view (in the producer's process). */
struct shm_ring_producer {
    struct shm_ring_shared *sh;
    uint8_t *data;
    uint32_t size, max_len;
    uint32_t tail;      /* ours; never read back */
    uint32_t head_seen; /* the last head we read (enough to skip rereading while not full) */
    uint32_t resv_pos;  /* where the reserved record's header goes */
    uint32_t resv_skip; /* bytes skipped by a wrap marker before it */
    uint32_t resv_len;  /* 0: nothing reserved */
    bool dirty;         /* published since the last flush */
    bool corrupt;       /* the consumer's head made no sense (never trusted again) */
};

/* The consumer's private view (in the consumer's process). */
struct shm_ring_consumer {
    struct shm_ring_shared *sh;
    uint8_t *data;
    uint32_t size, max_len;
    uint32_t head;      /* ours; never read back */
    uint32_t tail_seen; /* the last validated tail */
    uint32_t cur_adv;   /* 0: no frame peeked; else bytes the peeked record occupies */
    bool announced;     /* we set sleeping */
    bool broken;        /* the producer published an impossible tail: nothing more is read */
    uint64_t bad_records;
};

bool shm_ring_size_valid(uint32_t size);
size_t shm_ring_map_size(uint32_t size);

/* Creates a zeroed ring in a sealed memfd (it cannot shrink or grow) and maps it: 0, or
 * -errno. */
int shm_ring_create(uint32_t size, int *memfd, void **map);
/* Maps a ring received from another process after checking the fd: a memfd whose size is
 * exactly the ring's and which is sealed against shrinking (otherwise the other process
 * could truncate it under us and turn our accesses into SIGBUS). NULL with *why set. */
void *shm_ring_map_peer(int memfd, uint32_t size, const char **why);

void shm_ring_producer_init(struct shm_ring_producer *p, void *map, uint32_t size,
                            uint32_t max_len);
/* Room for a record of len bytes, or NULL when full (or len is 0 / above max_len). */
void *shm_ring_reserve(struct shm_ring_producer *p, uint32_t len);
/* Publishes the reserved record with len bytes (<= reserved; 0 cancels it). */
void shm_ring_commit(struct shm_ring_producer *p, uint32_t len);
/* End of a batch: true when the consumer sleeps and must be woken (the flag is consumed). */
bool shm_ring_flush(struct shm_ring_producer *p);
/* The ring was full: announce we want len bytes (the wakeup comes once they fit and at least
 * an eighth of the ring is free). True if len bytes are free already. */
bool shm_ring_want_space(struct shm_ring_producer *p, uint32_t len);

void shm_ring_consumer_init(struct shm_ring_consumer *c, void *map, uint32_t size,
                            uint32_t max_len);
/* The next record, or NULL. Malformed records are counted in bad_records and dropped. */
const void *shm_ring_peek(struct shm_ring_consumer *c, uint32_t *len);
/* Releases the peeked record: true when the producer asked for room and has it now (signal
 * its space eventfd; the flag is consumed). */
bool shm_ring_release(struct shm_ring_consumer *c);
/* Announces sleep; true if records are available (do not sleep). */
bool shm_ring_sleep(struct shm_ring_consumer *c);

#endif
