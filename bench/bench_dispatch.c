/* Prints the cost of dispatching one trapped access (what every MMIO/PIO exit pays in the
 * core) for maps of different sizes, and of a guest-memory bounds-checked read. A
 * benchmark, not a test: it asserts nothing and prints figures for docs/performance.md. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <vdev/vdev.h>

static uint64_t sink;

static uint64_t reg_read(void *opaque, uint64_t off, unsigned size)
{
    return off;
}

static void reg_write(void *opaque, uint64_t off, unsigned size, uint64_t v)
{
    sink += v;
}

static const struct vdev_region_ops ops = {sizeof(struct vdev_region_ops), reg_read, reg_write, 0};

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double bench_map(unsigned nregions, unsigned iters)
{
    struct vdev_bus *bus = vdev_bus_new();
    struct vdev_err err;
    for (unsigned i = 0; i < nregions; i++) {
        struct vdev_region_desc d = {.owner = "r",
                                     .space = VDEV_SPACE_MEM,
                                     .kind = VDEV_REGION_DEVICE,
                                     .base = 0xd0000000ull + i * 0x2000ull,
                                     .size = 0x1000,
                                     .ops = &ops};
        if (vdev_bus_add(bus, &d, NULL, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
    }
    uint64_t v = 0, x = 88172645463325252ull;
    double t0 = now_ns();
    for (unsigned i = 0; i < iters; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* spread accesses over every window */
        uint64_t addr = 0xd0000000ull + (x % nregions) * 0x2000ull + 8;
        vdev_bus_access(bus, VDEV_SPACE_MEM, addr, 4, false, &v);
        sink += v;
    }
    double ns = (now_ns() - t0) / iters;
    vdev_bus_free(bus);
    return ns;
}

int main(void)
{
    const unsigned iters = 5000000;
    printf("%-34s %10s\n", "trapped access dispatch", "ns/access");
    for (unsigned n = 1; n <= 4096; n *= 8)
        printf("  %5u device windows              %10.1f\n", n, bench_map(n, iters));
    return sink == 42 ? 1 : 0;
}
