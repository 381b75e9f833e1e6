/* A virtio-mmio (version 2) device as a hostile guest drives its 0x200-byte register window:
 * any offset, size and value (and a little past the window), a well-formed handshake step
 * so short inputs reach a running device, ring contents in guest RAM, the event loop
 * running kicks (fzvio pops and pushes from its queue_kick hook), interrupt
 * acknowledgements, configuration changes and resets.
 *
 * Invariants: the identity registers never change; a register access of another width or
 * alignment reads 0; past the window nothing answers (all ones); Status is the core's;
 * QueueNumMax is the maximum for a queue that exists and 0 otherwise; the level line is
 * up exactly while InterruptStatus is not 0; acknowledging what was read lowers it; a
 * reset clears InterruptStatus, the line and QueueSel; ConfigGeneration never goes back;
 * configuration reads past the device's space give 0; plus fzvio's (every popped buffer
 * inside RAM, no kick outside start..stop, configuration hooks in bounds).
 */
/* FUZZ_ARGS: -max_len=4096 */
#include "../../mmio/virtio_mmio.h"
#include "fz_transport.h"

#define MAX_OPS  384
#define BASE     0xd0000000ull
#define GSI      10
#define RAM_SIZE 0x100000ull

static struct fzt t;
static struct fzv_dev *dev;
static uint32_t generation;

static unsigned pick_size(struct fz_in *in)
{
    static const unsigned sizes[8] = {4, 4, 4, 1, 2, 8, 3, 16};
    return sizes[fz_u8(in) % 8];
}

static uint32_t rd(unsigned off)
{
    enum vdev_access_result r;
    uint64_t v = fzt_io(&t, VDEV_SPACE_MEM, BASE + off, 4, false, 0, &r);
    FZ_ASSERT(r == VDEV_ACCESS_OK);
    return (uint32_t)v;
}

static void wr(unsigned off, uint32_t v)
{
    enum vdev_access_result r;
    fzt_io(&t, VDEV_SPACE_MEM, BASE + off, 4, true, v, &r);
    FZ_ASSERT(r == VDEV_ACCESS_OK);
}

/* What Linux's virtio_mmio probe and virtio_dev_probe write, in order, with the queue
 * sizes and features the input picks. */
static void driver_init(struct fz_in *in)
{
    uint8_t how = fz_u8(in);
    wr(VMMIO_STATUS, 0);
    wr(VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    wr(VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    uint64_t f = 1ull << VIRTIO_F_VERSION_1 | 1ull << 5 | 1ull << 23 |
                 (uint64_t)(how & 1) << VIRTIO_F_EVENT_IDX |
                 (uint64_t)(how >> 1 & 1) << VIRTIO_F_INDIRECT_DESC;
    wr(VMMIO_DRIVER_FEATURES_SEL, 0);
    wr(VMMIO_DRIVER_FEATURES, (uint32_t)f);
    wr(VMMIO_DRIVER_FEATURES_SEL, 1);
    wr(VMMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
    wr(VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    FZ_ASSERT(rd(VMMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
    for (unsigned q = 0; q < FZV_QUEUES; q++) {
        uint64_t base = 0x10000ull * (q + 1);
        wr(VMMIO_QUEUE_SEL, q);
        FZ_ASSERT(rd(VMMIO_QUEUE_NUM_MAX) == FZV_QMAX);
        wr(VMMIO_QUEUE_NUM, 1u << (how >> 2) % 5);
        wr(VMMIO_QUEUE_DESC_LOW, (uint32_t)base);
        wr(VMMIO_QUEUE_DESC_HIGH, 0);
        wr(VMMIO_QUEUE_DRIVER_LOW, (uint32_t)(base + 0x1000));
        wr(VMMIO_QUEUE_DRIVER_HIGH, 0);
        wr(VMMIO_QUEUE_DEVICE_LOW, (uint32_t)(base + 0x2000));
        wr(VMMIO_QUEUE_DEVICE_HIGH, 0);
        wr(VMMIO_QUEUE_READY, 1);
    }
    wr(VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                         VIRTIO_STATUS_DRIVER_OK);
}

static void drv_ring(struct fz_in *in)
{
    unsigned q = fz_u8(in) % FZV_QUEUES;
    struct vdev_virtq_config c = *vdev_virtio_queue_config(dev->vio, q);
    uint8_t what = fz_u8(in);
    if (what & 1) {
        unsigned i = fz_u8(in) % FZV_QMAX;
        if (c.desc < RAM_SIZE && RAM_SIZE - c.desc >= 16 * (i + 1u)) {
            uint8_t *d = fzt_ram(&t, c.desc + 16 * i);
            uint64_t addr = fz_u8(in) & 1 ? fz_u64(in) : (uint64_t)fz_u16(in) << 4;
            uint32_t len = fz_u16(in) & 0x3fff;
            uint16_t flags = fz_u8(in) & 7, next = fz_u8(in) % (FZV_QMAX + 1);
            memcpy(d, &addr, 8);
            memcpy(d + 8, &len, 4);
            memcpy(d + 12, &flags, 2);
            memcpy(d + 14, &next, 2);
        }
    } else if (c.driver + 4 + 2 * FZV_QMAX <= RAM_SIZE && c.size) {
        uint16_t *idx = (uint16_t *)fzt_ram(&t, c.driver + 2);
        uint16_t i = __atomic_load_n(idx, __ATOMIC_RELAXED);
        uint16_t head = fz_u8(in) % (FZV_QMAX + 1);
        memcpy(fzt_ram(&t, c.driver + 4 + 2 * (i % c.size)), &head, 2);
        __atomic_store_n(idx, (uint16_t)(i + 1), __ATOMIC_RELEASE);
    }
}

static void check(void)
{
    FZ_ASSERT(rd(VMMIO_MAGIC) == VMMIO_MAGIC_VALUE && rd(VMMIO_VERSION) == 2);
    FZ_ASSERT(rd(VMMIO_DEVICE_ID) == FZV_ID && rd(VMMIO_VENDOR_ID) == VMMIO_VENDOR);
    FZ_ASSERT(rd(VMMIO_STATUS) == vdev_virtio_get_status(dev->vio));
    uint32_t isr = rd(VMMIO_INTERRUPT_STATUS);
    FZ_ASSERT(isr <= 3);
    FZ_ASSERT(t.level[GSI] == (isr != 0));
    uint32_t max = rd(VMMIO_QUEUE_NUM_MAX), sel = vdev_virtio_num_queues(dev->vio);
    (void)sel;
    uint32_t g = rd(VMMIO_CONFIG_GENERATION);
    FZ_ASSERT(g - generation < 0x80000000u);
    generation = g;
    FZ_ASSERT(max == 0 || max == FZV_QMAX);
    if (max == 0) /* an absent queue looks absent all through */
        FZ_ASSERT(rd(VMMIO_QUEUE_NUM) == 0 && rd(VMMIO_QUEUE_READY) == 0 &&
                  rd(VMMIO_QUEUE_DESC_LOW) == 0 && rd(VMMIO_QUEUE_DEVICE_HIGH) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fzt_exitless = size & 1; /* odd inputs: doorbells and irqfds bound as with KVM */
    dev = fzv_build(&t, "ram 0,1M vdev fzvio loc 0xd0000000 intr ioapic:10", false);
    generation = 0;
    struct fz_in in = {data, size};
    for (unsigned op = 0; op < MAX_OPS && fz_left(&in); op++) {
        uint8_t code = fz_u8(&in);
        switch (code % 14) {
        case 0:
        case 1: { /* a register, any width: 32-bit most of the time */
            unsigned off = fz_u8(&in) & 3 ? (fz_u8(&in) % 0x44) * 4 : fz_u16(&in) % 0x220;
            unsigned sz = pick_size(&in);
            bool write = code % 14 == 1;
            enum vdev_access_result r;
            uint64_t v = fzt_io(&t, VDEV_SPACE_MEM, BASE + off, sz, write,
                                fz_u8(&in) & 1 ? fz_u8(&in) : fz_u32(&in), &r);
            if (off + sz > VMMIO_WINDOW_SIZE || sz > 8 || sz == 3)
                FZ_ASSERT(r != VDEV_ACCESS_OK);
            else if (!write && off < VMMIO_CONFIG && (sz != 4 || (off & 3)))
                FZ_ASSERT(r == VDEV_ACCESS_OK && v == 0); /* registers are 32-bit only */
            else if (!write && off >= VMMIO_CONFIG + FZV_CFG_SIZE)
                FZ_ASSERT(v == 0); /* past the device's configuration */
            break;
        }
        case 2: /* the device configuration, any width */
            fzt_io(&t, VDEV_SPACE_MEM, BASE + VMMIO_CONFIG + fz_u8(&in) % 0x20, pick_size(&in),
                   fz_u8(&in) & 1, fz_u64(&in), NULL);
            break;
        case 3:
            driver_init(&in);
            break;
        case 4:
            drv_ring(&in);
            break;
        case 5: /* a kick: the doorbell (matched on the index) or a stray value */
            wr(VMMIO_QUEUE_NOTIFY, fz_u8(&in) & 1 ? fz_u8(&in) % FZV_QUEUES : fz_u32(&in));
            /* fall through */
        case 6:
            vdev_machine_poll(t.fm.m, 0);
            break;
        case 7:
            if (fz_u8(&in) & 1)
                vdev_virtio_config_changed(dev->vio);
            else
                fzv_service(dev, fz_u8(&in) % FZV_QUEUES, FZV_QMAX);
            break;
        case 8: { /* the handler: read what is pending, acknowledge it */
            uint32_t isr = rd(VMMIO_INTERRUPT_STATUS);
            wr(VMMIO_INTERRUPT_ACK, fz_u8(&in) & 1 ? isr : fz_u32(&in));
            if (rd(VMMIO_INTERRUPT_STATUS) == 0)
                FZ_ASSERT(!t.level[GSI]);
            break;
        }
        case 9:
            fzt_fill(&t, &in, (uint64_t)fz_u16(&in) << 4, fz_u8(&in) % 64);
            break;
        case 10: { /* the status byte, any value */
            wr(VMMIO_STATUS, fz_u8(&in));
            break;
        }
        case 11: /* a queue register of a queue picked nearby */
            wr(VMMIO_QUEUE_SEL, fz_u8(&in) % (FZV_QUEUES + 2));
            wr(VMMIO_QUEUE_NUM + 4 * (fz_u8(&in) % 28), fz_u8(&in) & 1 ? fz_u16(&in) : fz_u32(&in));
            break;
        case 12: /* a well-behaved interrupt handler after a kick */
            vdev_machine_poll(t.fm.m, 0);
            wr(VMMIO_INTERRUPT_ACK, rd(VMMIO_INTERRUPT_STATUS));
            FZ_ASSERT(!t.level[GSI] || rd(VMMIO_INTERRUPT_STATUS));
            break;
        default:
            if (fz_u8(&in) & 1)
                vdev_machine_reset(t.fm.m);
            else
                wr(VMMIO_STATUS, 0);
            FZ_ASSERT(rd(VMMIO_STATUS) == 0 && rd(VMMIO_INTERRUPT_STATUS) == 0 && !t.level[GSI]);
            FZ_ASSERT(rd(VMMIO_QUEUE_NUM_MAX) == FZV_QMAX); /* QueueSel back to 0 */
            FZ_ASSERT(!dev->running);
            break;
        }
        fzt_kernel(&t);
        check();
    }
    fzv_report(&t, dev);
    fzt_free(&t);
    return 0;
}
