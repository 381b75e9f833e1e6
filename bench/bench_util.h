/* What the network benchmarks share: a monotonic clock and the memcpy reference, measured in
 * the same run as the figure it is compared with (a shared host's speed changes from minute
 * to minute). */
#ifndef VDEVKIT_BENCH_UTIL_H
#define VDEVKIT_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Bytes per second one thread moves with memcpy, `len`-byte frames taken in turn from a
 * `src_area`-byte buffer into a `dst_area`-byte one (each at least `len`), for about `secs`
 * seconds: the copy a frame's bytes would need if nothing else stood in the way. The areas
 * mirror where the benchmark's frames come from and go to, so both see the same caches. */
static inline double bench_memcpy_rate(size_t len, size_t src_area, size_t dst_area, double secs)
{
    size_t step = (len + 63) & ~(size_t)63; /* frames start on cache lines, as buffers do */
    uint8_t *src = malloc(src_area + step), *dst = malloc(dst_area + step);
    if (!src || !dst) {
        fprintf(stderr, "bench_memcpy_rate: out of memory\n");
        exit(1);
    }
    memset(src, 0x5a, src_area + step); /* fault every page in before the clock starts */
    memset(dst, 0, dst_area + step);
    size_t so = 0, d_o = 0;
    uint64_t frames = 0;
    double t0 = bench_now_s(), t = t0;
    while (t - t0 < secs) {
        for (unsigned i = 0; i < 64; i++) {
            memcpy(dst + d_o, src + so, len);
            __asm__ volatile("" : : "r"(dst) : "memory"); /* the copy happens */
            so = so + step + len > src_area ? 0 : so + step;
            d_o = d_o + step + len > dst_area ? 0 : d_o + step;
        }
        frames += 64;
        t = bench_now_s();
    }
    free(src);
    free(dst);
    return (double)frames * (double)len / (t - t0);
}

#endif
