/* Prints the device-side cost of a split virtqueue: pop + push of 1-descriptor chains,
 * with every check the core makes (ring indices, descriptor, guest-memory bounds), against
 * a synthetic driver in the same process and thread. A benchmark, not a test: it asserts
 * only that the rings worked and prints figures for docs/performance.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vdev/vdev.h>
#include <vdev/virtio_transport.h>

#define QSIZE  256
#define BATCH  64 /* chains the driver adds between two device runs */
#define DESC   0x10000ull
#define AVAIL  0x20000ull
#define USED   0x30000ull
#define BUFS   0x100000ull
#define BUFLEN 1500

static struct vdev_virtio *vio;
static unsigned interrupts;
static uint8_t *ram;

static void notify_queue(void *t, unsigned q)
{
    interrupts++;
}

static void notify_config(void *t)
{
}

static const struct vdev_virtio_transport_ops transport = {
    .size = sizeof(struct vdev_virtio_transport_ops),
    .notify_queue = notify_queue,
    .notify_config = notify_config};

static const struct vdev_virtio_ops bench_ops = {.size = sizeof(struct vdev_virtio_ops),
                                                 .device_id = 1,
                                                 .num_queues = 1,
                                                 .queue_size_max = QSIZE};

static int bench_assign(struct vdev *d)
{
    struct vdev_err err;
    vio = vdev_virtio_new(d, &bench_ops, NULL, &err);
    if (!vio)
        return vdev_error(d, vdev_pos(d), NULL, "%s", err.msg);
    vdev_virtio_bind_transport(vio, &transport, NULL, "bench");
    return 0;
}

static const struct vdev_type bench_type = {
    .abi_version = VDEV_ABI_VERSION,
    .type_size = sizeof(struct vdev_type),
    .name = "virtq-bench",
    .places = VDEV_PLACE_MEM,
    .assign = bench_assign,
};

static void back_ram(const struct vdev_region_info *r, void *arg)
{
    if (r->kind != VDEV_REGION_RAM)
        return;
    ram = aligned_alloc(4096, r->size);
    if (!ram)
        abort();
    memset(ram, 0, r->size);
    vdev_region_set_host(vdev_bus_find(arg, r->space, r->base), ram);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* ---- the synthetic driver (one 1-descriptor chain per slot, like virtio-net rx) ---- */

static uint16_t drv_avail, drv_used;

static void drv_setup(bool event_idx, bool writable)
{
    uint64_t f = 1ull << VIRTIO_F_VERSION_1 | (event_idx ? 1ull << VIRTIO_F_EVENT_IDX : 0);
    vdev_virtio_set_status(vio, 0);
    memset(ram + DESC, 0, USED + 0x1000 - DESC);
    vdev_virtio_set_status(vio, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    vdev_virtio_set_driver_features(vio, 0, (uint32_t)f);
    vdev_virtio_set_driver_features(vio, 1, (uint32_t)(f >> 32));
    vdev_virtio_set_status(vio, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                    VIRTIO_STATUS_FEATURES_OK);
    struct vdev_virtq_config *c = vdev_virtio_queue_config(vio, 0);
    c->desc = DESC;
    c->driver = AVAIL;
    c->device = USED;
    c->enabled = true;
    vdev_virtio_set_status(vio, vdev_virtio_get_status(vio) | VIRTIO_STATUS_DRIVER_OK);
    for (unsigned i = 0; i < QSIZE; i++) {
        uint8_t *d = ram + DESC + 16 * i;
        uint64_t addr = BUFS + (uint64_t)i * 2048;
        uint32_t len = BUFLEN;
        uint16_t flags = writable ? 2 : 0;
        memcpy(d, &addr, 8);
        memcpy(d + 8, &len, 4);
        memcpy(d + 12, &flags, 2);
    }
    drv_avail = drv_used = 0;
    interrupts = 0;
}

static void drv_add(unsigned n)
{
    uint16_t *ring = (uint16_t *)(ram + AVAIL + 4);
    for (unsigned i = 0; i < n; i++, drv_avail++)
        ring[drv_avail % QSIZE] = drv_avail % QSIZE;
    __atomic_store_n((uint16_t *)(ram + AVAIL + 2), drv_avail, __ATOMIC_RELEASE);
}

static unsigned drv_reclaim(void)
{
    uint16_t idx = __atomic_load_n((uint16_t *)(ram + USED + 2), __ATOMIC_ACQUIRE);
    unsigned n = (uint16_t)(idx - drv_used);
    drv_used = idx;
    /* Linux asks for an interrupt when the next one is used (used_event = last seen). */
    *(uint16_t *)(ram + AVAIL + 4 + 2 * QSIZE) = idx;
    return n;
}

/* ---- the device ---- */

static struct vdev_virtq_elem elem;

static double run(unsigned buffers, bool batch_push, double *device_ns)
{
    struct vdev_virtq *q = vdev_virtio_queue(vio, 0);
    double dev = 0, t0 = now_ns();
    unsigned done = 0;
    while (done < buffers) {
        drv_add(BATCH);
        double d0 = now_ns();
        uint16_t heads[BATCH];
        uint32_t lens[BATCH];
        unsigned n = 0;
        while (vdev_virtq_pop(q, &elem) == 1) {
            if (batch_push) {
                heads[n] = elem.head;
                lens[n] = (uint32_t)(elem.in_len + elem.out_len);
            } else {
                vdev_virtq_push(q, elem.head, (uint32_t)(elem.in_len + elem.out_len));
            }
            n++;
        }
        if (batch_push)
            vdev_virtq_push_n(q, heads, lens, n);
        vdev_virtq_notify(q);
        dev += now_ns() - d0;
        if (n != BATCH || drv_reclaim() != BATCH) {
            fprintf(stderr, "bench: the rings went wrong (%u popped)\n", n);
            exit(1);
        }
        done += n;
    }
    *device_ns = dev / done;
    return (now_ns() - t0) / done;
}

int main(void)
{
    struct vdev_err err;
    if (vdev_register_type(&bench_type, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    struct vdev_machine *m = vdev_machine_new(NULL, NULL);
    if (!m ||
        vdev_machine_parse_string(m, "bench", "ram 16M vdev virtq-bench loc 0xd0000000", &err) ||
        vdev_machine_build(m, &err)) {
        fprintf(stderr, "%s\n", m ? err.msg : "no machine");
        return 1;
    }
    vdev_bus_foreach(vdev_machine_bus(m), VDEV_SPACE_MEM, back_ram, vdev_machine_bus(m));

    const unsigned buffers = 2000000;
    printf("%-46s %12s %12s\n", "split virtqueue, 1-descriptor chains", "device ns", "round ns");
    static const struct {
        const char *name;
        bool event_idx, writable, batch;
    } cases[] = {
        {"readable (tx), push each", false, false, false},
        {"writable (rx), push each", false, true, false},
        {"writable (rx), push_n per batch of 64", false, true, true},
        {"writable (rx), EVENT_IDX, push_n", true, true, true},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        drv_setup(cases[i].event_idx, cases[i].writable);
        double dev, round = run(buffers, cases[i].batch, &dev);
        printf("  %-44s %12.1f %12.1f   (%u interrupts)\n", cases[i].name, dev, round, interrupts);
    }
    printf("device ns: pop + push (+ notify per batch) per buffer; round ns adds the driver.\n");
    vdev_machine_free(m);
    free(ram);
    return 0;
}
