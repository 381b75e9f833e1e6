/* Any split-virtqueue contents a driver can write must end in chains that lie inside guest
 * RAM or in NEEDS_RESET: never a crash, a hang or an out-of-bounds access. The input is
 * the queue setup, then the bytes of the descriptor table, the available ring and a page
 * of indirect tables, all placed in guest RAM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vdev/vdev.h>
#include <vdev/virtio_transport.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE 0x100000ull
#define DESC     0x1000ull /* 16 * 8 */
#define AVAIL    0x2000ull /* 4 + 2 * 8 + 2 */
#define USED     0x3000ull
#define INDIR    0x4000ull /* the addresses in the input point here, or anywhere */

static struct vdev_machine *m;
static struct vdev_virtio *vio;
static uint8_t *ram;

static void notify_queue(void *t, unsigned q)
{
}

static void notify_config(void *t)
{
}

static const struct vdev_virtio_transport_ops transport = {
    .size = sizeof(struct vdev_virtio_transport_ops),
    .notify_queue = notify_queue,
    .notify_config = notify_config};

static const struct vdev_virtio_ops fuzz_ops = {
    .size = sizeof(struct vdev_virtio_ops), .device_id = 1, .num_queues = 1, .queue_size_max = 8};

static int fuzz_assign(struct vdev *d)
{
    vio = vdev_virtio_new(d, &fuzz_ops, NULL, NULL);
    if (!vio)
        return -1;
    vdev_virtio_bind_transport(vio, &transport, NULL, "fuzz");
    return 0;
}

static const struct vdev_type fuzz_type = {
    .abi_version = VDEV_ABI_VERSION,
    .type_size = sizeof(struct vdev_type),
    .name = "virtq-fuzz",
    .places = VDEV_PLACE_MEM,
    .assign = fuzz_assign,
};

static void back_ram(const struct vdev_region_info *r, void *arg)
{
    if (r->kind == VDEV_REGION_RAM && !ram) {
        ram = calloc(1, r->size);
        vdev_region_set_host(vdev_bus_find(arg, r->space, r->base), ram);
    }
}

static void quiet_log(void *ctx, enum vdev_log_level level, const char *who, const char *msg)
{
    /* one line per violation: too many to print while fuzzing */
}

static const struct vdev_embedder_ops quiet = {.size = sizeof(struct vdev_embedder_ops),
                                               .log = quiet_log};

static void setup(void)
{
    struct vdev_err err;
    if (vdev_register_type(&fuzz_type, &err) || !(m = vdev_machine_new(&quiet, NULL)) ||
        vdev_machine_parse_string(m, "fuzz", "ram 1M vdev virtq-fuzz loc 0xd0000000", &err) ||
        vdev_machine_build(m, &err)) {
        fprintf(stderr, "fuzz_virtq: %s\n", err.msg);
        abort();
    }
    vdev_bus_foreach(vdev_machine_bus(m), VDEV_SPACE_MEM, back_ram, vdev_machine_bus(m));
    if (!ram)
        abort();
}

static size_t take(const uint8_t **data, size_t *size, void *out, size_t n)
{
    size_t k = n < *size ? n : *size;
    memset(out, 0, n);
    memcpy(out, *data, k);
    *data += k;
    *size -= k;
    return k;
}

static void check(const struct vdev_virtq_elem *e)
{
    for (unsigned i = 0; i < e->nout + e->nin; i++) {
        const uint8_t *p = e->iov[i].iov_base;
        if (p < ram || p >= ram + RAM_SIZE || e->iov[i].iov_len > (size_t)(ram + RAM_SIZE - p))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!m)
        setup();
    uint8_t hdr[4]; /* features, queue size, avail idx (2) */
    take(&data, &size, hdr, sizeof(hdr));
    vdev_virtio_set_status(vio, 0);
    memset(ram, 0, INDIR + 0x1000);
    uint64_t f = 1ull << VIRTIO_F_VERSION_1 | (hdr[0] & 1ull) << VIRTIO_F_INDIRECT_DESC |
                 (hdr[0] >> 1 & 1ull) << VIRTIO_F_EVENT_IDX;
    vdev_virtio_set_status(vio, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    vdev_virtio_set_driver_features(vio, 0, (uint32_t)f);
    vdev_virtio_set_driver_features(vio, 1, (uint32_t)(f >> 32));
    vdev_virtio_set_status(vio, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                    VIRTIO_STATUS_FEATURES_OK);
    struct vdev_virtq_config *c = vdev_virtio_queue_config(vio, 0);
    c->size = hdr[1] % 9;
    c->desc = DESC;
    c->driver = AVAIL;
    c->device = USED;
    c->enabled = true;
    take(&data, &size, ram + DESC, 16 * 8);
    take(&data, &size, ram + AVAIL + 4, 2 * 8 + 2);
    take(&data, &size, ram + INDIR, 0x1000);
    memcpy(ram + AVAIL + 2, hdr + 2, 2);
    vdev_virtio_set_status(vio, vdev_virtio_get_status(vio) | VIRTIO_STATUS_DRIVER_OK);

    static struct vdev_virtq_elem e;
    struct vdev_virtq *q = vdev_virtio_queue(vio, 0);
    for (unsigned i = 0; i < 16; i++) {
        int rc = vdev_virtq_pop(q, &e);
        if (rc != 1) {
            if (rc < 0 && !(vdev_virtio_get_status(vio) & VIRTIO_STATUS_NEEDS_RESET))
                abort();
            break;
        }
        check(&e);
        vdev_virtq_push(q, e.head, (uint32_t)e.in_len);
        vdev_virtq_notify(q);
        vdev_virtq_set_kicks(q, i & 1);
    }
    return 0;
}
