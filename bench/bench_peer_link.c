/* Throughput of the peer link's data path: a producer thread writes frames into the peer's
 * ring (one copy, as from guest buffers) and a consumer thread copies them out (the second
 * copy, as into guest buffers); both sleep on the link's eventfds when they must. Prints
 * frames/s and Gbit/s for 64 B, 1514 B and 64 KiB frames, the same bytes' memcpy rate in
 * the same run (one thread, from one buffer into a ring-sized area, as the producer copies)
 * with the link's share of it, and how many eventfd wakeups the batching left. A benchmark,
 * not a test: figures for docs/performance.md.
 *
 * Usage: bench_peer_link [seconds per size, default 1] [frame sizes..., default 64 1514 65536] */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "netpeer/peer_link.h"

#define BATCH     32         /* frames per flush, like a virtqueue kick's worth */
#define RING_SIZE (4u << 20) /* peer_link_cfg's default */

struct side {
    struct peer_link *l;
    size_t len;
    uint64_t frames, sleeps, bad; /* bad: frames of another length than sent */
    atomic_bool *stop;
};

static void wait_fd(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    poll(&p, 1, 100);
}

static void *producer(void *arg)
{
    struct side *s = arg;
    uint8_t *src = malloc(s->len);
    memset(src, 0x5a, s->len);
    while (!atomic_load_explicit(s->stop, memory_order_relaxed)) {
        unsigned n = 0;
        for (; n < BATCH; n++) {
            void *p = peer_link_tx_reserve(s->l, s->len);
            if (!p)
                break;
            memcpy(p, src, s->len);
            peer_link_tx_commit(s->l, s->len);
        }
        s->frames += n;
        peer_link_tx_flush(s->l);
        if (n < BATCH && !peer_link_tx_want_space(s->l, s->len)) {
            s->sleeps++;
            wait_fd(peer_link_tx_space_fd(s->l));
        }
    }
    free(src);
    return NULL;
}

static void *consumer(void *arg)
{
    struct side *s = arg;
    uint8_t *dst = malloc(PEER_LINK_MAX_FRAME);
    while (!atomic_load_explicit(s->stop, memory_order_relaxed)) {
        size_t len;
        const void *p = peer_link_rx_peek(s->l, &len);
        if (!p) {
            if (!peer_link_rx_sleep(s->l)) {
                s->sleeps++;
                wait_fd(peer_link_rx_fd(s->l));
            }
            continue;
        }
        memcpy(dst, p, len);
        s->bad += len != s->len || dst[len - 1] != 0x5a;
        peer_link_rx_release(s->l);
        s->frames++;
    }
    free(dst);
    return NULL;
}

static struct peer_link *open_end(const char *bind, const char *peer)
{
    struct peer_link_cfg cfg = {.bind_path = bind, .peer_path = peer, .ring_size = RING_SIZE};
    struct vdev_err err;
    struct peer_link *l = peer_link_open(&cfg, &err);
    if (!l) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return l;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    char dir[] = "/tmp/bench-peer-link-XXXXXX", pa[64], pb[64];
    if (!mkdtemp(dir))
        return 1;
    snprintf(pa, sizeof(pa), "%s/a", dir);
    snprintf(pb, sizeof(pb), "%s/b", dir);
    struct peer_link *a = open_end(pa, pb), *b = open_end(pb, pa);
    for (int i = 0; i < 1000 && !(peer_link_up(a) && peer_link_up(b)); i++) {
        peer_link_service(a);
        peer_link_service(b);
        usleep(1000);
    }
    if (!peer_link_up(a) || !peer_link_up(b)) {
        fprintf(stderr, "link did not come up\n");
        return 1;
    }
    printf("peer link, 4 MiB ring, batches of %d, one producer and one consumer thread\n", BATCH);
    printf("%8s %12s %10s %14s %10s %14s %14s\n", "frame", "frames/s", "Gbit/s", "memcpy Gbit/s",
           "% memcpy", "rx sleeps/s", "tx sleeps/s");
    size_t sizes[16] = {64, 1514, 65536};
    unsigned nsizes = 3;
    if (argc > 2) {
        for (nsizes = 0; nsizes < 16 && (int)nsizes < argc - 2; nsizes++)
            sizes[nsizes] = strtoul(argv[2 + nsizes], NULL, 0);
    }
    for (unsigned k = 0; k < nsizes; k++) {
        if (sizes[k] == 0 || sizes[k] > PEER_LINK_MAX_FRAME) {
            fprintf(stderr, "frame size %zu: not 1..%u\n", sizes[k], PEER_LINK_MAX_FRAME);
            return 1;
        }
        double mc = bench_memcpy_rate(sizes[k], sizes[k], RING_SIZE, secs / 2);
        atomic_bool stop = false;
        struct side tx = {.l = a, .len = sizes[k], .stop = &stop};
        struct side rx = {.l = b, .len = sizes[k], .stop = &stop};
        pthread_t tp, tc;
        double t0 = bench_now_s();
        pthread_create(&tc, NULL, consumer, &rx);
        pthread_create(&tp, NULL, producer, &tx);
        usleep((useconds_t)(secs * 1e6));
        atomic_store(&stop, true);
        pthread_join(tp, NULL);
        pthread_join(tc, NULL);
        double dt = bench_now_s() - t0;
        /* Drain what is left so the next size starts with an empty ring. */
        size_t len;
        while (peer_link_rx_peek(b, &len))
            peer_link_rx_release(b);
        double fps = (double)rx.frames / dt;
        if (rx.frames == 0 || rx.bad) {
            fprintf(stderr, "%zu-byte frames: %llu arrived, %llu of them wrong\n", sizes[k],
                    (unsigned long long)rx.frames, (unsigned long long)rx.bad);
            return 1;
        }
        double bps = fps * (double)sizes[k];
        printf("%8zu %12.0f %10.2f %14.2f %9.1f%% %14.0f %14.0f\n", sizes[k], fps, bps * 8e-9,
               mc * 8e-9, 100.0 * bps / mc, (double)rx.sleeps / dt, (double)tx.sleeps / dt);
    }
    peer_link_close(a);
    peer_link_close(b);
    rmdir(dir);
    return 0;
}
