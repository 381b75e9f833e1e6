/* The shared ring under random corruption from both sides. The ring is mapped between two
 * PROT_NONE guard pages, so any access outside it by the producer or the consumer faults
 * and fails the test (ASan does not watch shared mappings). Each side's private state is
 * the only thing trusted; everything in shared memory may change at any moment. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "netpeer/peer_link.h"
#include "netpeer/shm_ring.h"

#define RING  SHM_RING_MIN_SIZE
#define GUARD 4096u

struct guarded {
    void *area;
    size_t area_len;
    uint8_t *map;
    int memfd;
};

static void guarded_map(struct guarded *g)
{
    void *m;
    ck_assert_int_eq(shm_ring_create(RING, &g->memfd, &m), 0);
    munmap(m, shm_ring_map_size(RING));
    size_t len = shm_ring_map_size(RING);
    ck_assert_uint_eq(len % GUARD, 0);
    g->area_len = len + 2 * GUARD;
    g->area = mmap(NULL, g->area_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert(g->area != MAP_FAILED);
    g->map = mmap((uint8_t *)g->area + GUARD, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
                  g->memfd, 0);
    ck_assert(g->map != MAP_FAILED);
}

static void guarded_unmap(struct guarded *g)
{
    munmap(g->area, g->area_len);
    close(g->memfd);
}

static uint32_t rnd(void)
{
    return (uint32_t)random() ^ ((uint32_t)random() << 16);
}

static uint32_t frame_len(void)
{
    switch (rnd() % 4) {
    case 0:
        return 1 + rnd() % 64;
    case 1:
        return 1 + rnd() % 1514;
    case 2:
        return PEER_LINK_MAX_FRAME - rnd() % 16;
    default:
        return 1 + rnd() % PEER_LINK_MAX_FRAME;
    }
}

/* Corrupts something the other side reads: a tail, a head, a flag, a length, a marker. */
static void corrupt(struct guarded *g, bool consumer_side_attack)
{
    struct shm_ring_shared *sh = (struct shm_ring_shared *)g->map;
    uint8_t *data = g->map + SHM_RING_HDR_SIZE;
    uint32_t v = rnd();
    switch (rnd() % 6) {
    case 0:
        if (consumer_side_attack)
            atomic_store(&sh->head, rnd() % 3 ? v & ~7u : v);
        else
            atomic_store(&sh->tail, rnd() % 3 ? v & ~7u : v);
        break;
    case 1: {
        /* Where the consumer reads next (it publishes that), or anywhere. */
        uint32_t pos =
            rnd() % 4 ? atomic_load(&sh->head) & (RING - 1) & ~7u : (v * 8u) & (RING - 1);
        uint32_t len;
        switch (rnd() % 4) {
        case 0:
            len = SHM_RING_WRAP;
            break;
        case 1: /* just past the end of the lap */
            len = RING - pos - 8 + 1 + rnd() % 64;
            break;
        case 2: /* just past what was published */
            len = atomic_load(&sh->tail) - atomic_load(&sh->head) + rnd() % 64;
            break;
        default:
            len = v % (2 * PEER_LINK_MAX_FRAME);
        }
        memcpy(data + pos, &len, 4);
        break;
    }
    case 2:
        atomic_store(&sh->want_space, v % 3 ? v : v % 4096);
        break;
    case 3:
        atomic_store(&sh->sleeping, v & 1);
        break;
    case 4: /* a plausible tail a little ahead */
        if (!consumer_side_attack)
            atomic_fetch_add(&sh->tail, (v % 4096) & ~7u);
        break;
    default:
        memset(data + (v & (RING - 1) & ~63u), (int)(v >> 24), 64);
        break;
    }
}

/* Runs an honest producer against a consumer whose view is corrupted now and then (and the
 * other way round); both must stay inside the mapping and never loop forever. */
static void run(bool attack_consumer, bool attack_producer, unsigned seed)
{
    srandom(seed);
    struct guarded g;
    guarded_map(&g);
    struct shm_ring_producer p;
    struct shm_ring_consumer c;
    shm_ring_producer_init(&p, g.map, RING, PEER_LINK_MAX_FRAME);
    shm_ring_consumer_init(&c, g.map, RING, PEER_LINK_MAX_FRAME);
    uint64_t sum = 0, good = 0, bad = 0;
    for (unsigned i = 0; i < 6000; i++) {
        unsigned burst = 1 + rnd() % 8;
        for (unsigned k = 0; k < burst; k++) {
            uint32_t len = frame_len();
            uint8_t *w = shm_ring_reserve(&p, len);
            if (!w) {
                shm_ring_want_space(&p, len);
                break;
            }
            memset(w, 0xa5, len); /* touches every reserved byte */
            shm_ring_commit(&p, rnd() % 8 ? len : rnd() % (len + 1));
        }
        shm_ring_flush(&p);
        if (attack_consumer && rnd() % 8 == 0)
            corrupt(&g, false);
        if (attack_producer && rnd() % 8 == 0)
            corrupt(&g, true);
        unsigned take = rnd() % 12;
        for (unsigned k = 0; k < take; k++) {
            uint32_t len;
            const uint8_t *r = shm_ring_peek(&c, &len);
            if (!r)
                break;
            ck_assert_uint_ge(len, 1);
            ck_assert_uint_le(len, PEER_LINK_MAX_FRAME);
            for (uint32_t j = 0; j < len; j += 97)
                sum += r[j];
            sum += r[len - 1]; /* touches the last byte */
            good++;
            shm_ring_release(&c);
        }
        if (rnd() % 16 == 0)
            shm_ring_sleep(&c);
        if (c.broken || p.corrupt) { /* the link would reconnect with a fresh ring */
            bad += c.bad_records;
            memset(g.map, 0, SHM_RING_HDR_SIZE);
            shm_ring_producer_init(&p, g.map, RING, PEER_LINK_MAX_FRAME);
            shm_ring_consumer_init(&c, g.map, RING, PEER_LINK_MAX_FRAME);
        }
    }
    bad += c.bad_records;
    if (attack_consumer)
        ck_assert_uint_gt(bad, 0); /* the corruption was seen, and survived */
    if (!attack_consumer && !attack_producer)
        ck_assert_uint_eq(bad, 0);
    ck_assert_uint_gt(good, 1000);
    ck_assert(sum > 0);
    guarded_unmap(&g);
}

START_TEST(honest_sides)
{
    run(false, false, 1);
}
END_TEST

START_TEST(hostile_producer)
{
    for (unsigned s = 0; s < 3; s++)
        run(true, false, 100 + s);
}
END_TEST

START_TEST(hostile_consumer)
{
    for (unsigned s = 0; s < 3; s++)
        run(false, true, 200 + s);
}
END_TEST

START_TEST(both_hostile)
{
    for (unsigned s = 0; s < 3; s++)
        run(true, true, 300 + s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("peer_link_fuzz");
    TCase *tc = tcase_create("fuzz");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, honest_sides);
    tcase_add_test(tc, hostile_producer);
    tcase_add_test(tc, hostile_consumer);
    tcase_add_test(tc, both_hostile);
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
