/* A virtio-pci function as a hostile guest drives it: its configuration space (ports
 * 0xCF8/0xCFC and ECAM) and BAR 0 (common configuration, ISR, device configuration,
 * notifications, MSI-X table and PBA, gaps) through the machine's dispatch, any offset,
 * size and value, interleaved with BAR moves and sizing, ring contents in guest RAM, the
 * event loop running kicks (the device pops and pushes from its queue_kick hook), device
 * configuration changes and machine resets. Well-formed steps (a whole driver handshake,
 * MSI-X set up) let short inputs reach a running device.
 *
 * Invariants: what nothing answers reads all ones; BAR 0 answers every size exactly while
 * it decodes at its programmed address, and never over RAM; the common configuration reads
 * back the core's status, features and queue count, queue_size 0 past the last queue,
 * vectors inside the table or NO_VECTOR; reading the ISR clears it and drops INTx; the
 * INTx line is the function's INTA# unless INTx is disabled; a reset leaves status 0, no
 * vectors and an empty ISR; plus fzvio's (every popped buffer inside RAM, no kick outside
 * start..stop, configuration hooks in bounds).
 */
/* FUZZ_ARGS: -max_len=4096 */
#include "../../pci/pci_internal.h"
#include "fz_transport.h"

#define MAX_OPS   384
#define RAM_SIZE  0x100000ull
#define SLOT      1u /* fzvio's automatic slot */
#define NVEC      (FZV_QUEUES + 1)
#define INTX_GSI  (FZT_INTX_GSI0 + SLOT % 4)
#define CAP_START 0x40

/* Common configuration offsets (virtio 1.2 §4.1.4.3). */
#define CC_DFSELECT 0x00
#define CC_DF       0x04
#define CC_GFSELECT 0x08
#define CC_GF       0x0c
#define CC_MSIX     0x10
#define CC_NUMQ     0x12
#define CC_STATUS   0x14
#define CC_QSEL     0x16
#define CC_QSIZE    0x18
#define CC_QMSIX    0x1a
#define CC_QENABLE  0x1c
#define CC_QDESC    0x20
#define CC_QDRIVER  0x28
#define CC_QDEVICE  0x30
#define ISR_OFF     0x1000
#define DEVCFG_OFF  0x2000
#define NOTIFY_OFF  0x3000
#define TABLE_OFF   0x8000
#define PBA_OFF     0xc000

static struct fzt t;
static struct fzv_dev *dev;
static struct vdev_pci_func *func;

static unsigned pick_size(struct fz_in *in)
{
    static const unsigned sizes[8] = {1, 2, 4, 8, 4, 2, 3, 16};
    return sizes[fz_u8(in) % 8];
}

static uint64_t mask_of(unsigned size)
{
    return size >= 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
}

/* ECAM: stateless, used for the checks (port 0xCF8 holds guest state). */
static uint64_t ecam_rd(unsigned slot, unsigned reg, unsigned size)
{
    return fzt_io(&t, VDEV_SPACE_MEM, FZT_ECAM + (slot << 15) + reg, size, false, 0, NULL);
}

static void ecam_wr(unsigned slot, unsigned reg, unsigned size, uint64_t v)
{
    fzt_io(&t, VDEV_SPACE_MEM, FZT_ECAM + (slot << 15) + reg, size, true, v, NULL);
}

static uint64_t bar0_programmed(void)
{
    return (ecam_rd(SLOT, 0x10, 4) & ~0xfull) | ecam_rd(SLOT, 0x14, 4) << 32;
}

static bool bar0_live(void)
{
    return vdev_pci_bar_enabled(func, 0) && vdev_pci_bar_base(func, 0) == bar0_programmed();
}

/* A BAR 0 access at the address the guest programmed. */
static uint64_t bar(uint64_t off, unsigned size, bool wr, uint64_t v)
{
    enum vdev_access_result r;
    uint64_t a = bar0_programmed() + off;
    bool live = bar0_live();
    bool ram = a < RAM_SIZE;
    v = fzt_io(&t, VDEV_SPACE_MEM, a, size, wr, v, &r);
    if (live && off < 0x10000 && 0x10000 - off >= size && (size & (size - 1)) == 0 && size <= 8)
        FZ_ASSERT(r == VDEV_ACCESS_OK);
    if (!live && !ram && r == VDEV_ACCESS_OK && !t.taken) {
        /* Something else answered: never the function's BAR 0 where it does not decode.
         * (An exitless doorbell stays bound while BAR 0 is off: docs/virtio-pci.md.) */
        struct vdev_region *reg = vdev_bus_find(vdev_machine_bus(t.fm.m), VDEV_SPACE_MEM, a);
        FZ_ASSERT(reg && reg != vdev_pci_bar_region(func, 0));
    }
    return v;
}

static uint64_t cc_rd(unsigned off, unsigned size)
{
    return bar(off, size, false, 0);
}

static void cc_wr(unsigned off, unsigned size, uint64_t v)
{
    bar(off, size, true, v);
}

static uint8_t find_cap(uint8_t id)
{
    uint8_t p = (uint8_t)ecam_rd(SLOT, 0x34, 1);
    for (unsigned n = 0; p && n < 48; n++) {
        if (ecam_rd(SLOT, p, 1) == id)
            return p;
        p = (uint8_t)ecam_rd(SLOT, p + 1u, 1);
    }
    return 0;
}

/* Linux's virtio_pci_modern probe and virtio_dev_probe, compressed: memory decoding and
 * bus mastering on, reset, ACK, DRIVER, features, FEATURES_OK, every queue, DRIVER_OK. */
static void driver_init(struct fz_in *in)
{
    uint8_t how = fz_u8(in);
    ecam_wr(SLOT, 0x04, 2, 0x6);
    cc_wr(CC_STATUS, 1, 0);
    cc_wr(CC_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE);
    cc_wr(CC_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    uint64_t f = 1ull << VIRTIO_F_VERSION_1 | 1ull << 5 | 1ull << 23 |
                 (uint64_t)(how & 1) << VIRTIO_F_EVENT_IDX |
                 (uint64_t)(how >> 1 & 1) << VIRTIO_F_INDIRECT_DESC;
    cc_wr(CC_GFSELECT, 4, 0);
    cc_wr(CC_GF, 4, (uint32_t)f);
    cc_wr(CC_GFSELECT, 4, 1);
    cc_wr(CC_GF, 4, (uint32_t)(f >> 32));
    cc_wr(CC_STATUS, 1,
          VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    if (bar0_live()) /* else the BAR is off (moved over something) and this went nowhere */
        FZ_ASSERT(cc_rd(CC_STATUS, 1) & VIRTIO_STATUS_FEATURES_OK);
    for (unsigned q = 0; q < FZV_QUEUES; q++) {
        uint64_t base = 0x10000ull * (q + 1);
        cc_wr(CC_QSEL, 2, q);
        cc_wr(CC_QSIZE, 2, 1u << (how >> 2) % 5);
        cc_wr(CC_QMSIX, 2, q + 1);
        cc_wr(CC_QDESC, 4, (uint32_t)base);
        cc_wr(CC_QDESC + 4, 4, 0);
        cc_wr(CC_QDRIVER, 8, base + 0x1000);
        cc_wr(CC_QDEVICE, 4, (uint32_t)(base + 0x2000));
        cc_wr(CC_QDEVICE + 4, 4, 0);
        cc_wr(CC_QENABLE, 2, 1);
    }
    cc_wr(CC_MSIX, 2, 0);
    cc_wr(CC_STATUS, 1,
          VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
              VIRTIO_STATUS_DRIVER_OK);
}

/* MSI-X on with every vector pointing at the LAPIC (or the whole function masked). */
static void msix_setup(struct fz_in *in)
{
    uint8_t how = fz_u8(in);
    uint8_t cap = find_cap(0x11);
    FZ_ASSERT(cap);
    for (unsigned v = 0; v < NVEC; v++) {
        bar(TABLE_OFF + 16 * v, 4, true, 0xfee00000u);
        bar(TABLE_OFF + 16 * v + 4, 4, true, 0);
        bar(TABLE_OFF + 16 * v + 8, 4, true, 0x40 + v);
        bar(TABLE_OFF + 16 * v + 12, 4, true, (how >> v) & 1);
    }
    ecam_wr(SLOT, cap + 2u, 2, 0x8000u | (how & 0x10 ? 0x4000u : 0));
}

static void drv_ring(struct fz_in *in)
{
    unsigned q = fz_u8(in) % FZV_QUEUES;
    struct vdev_virtq_config c = *vdev_virtio_queue_config(dev->vio, q);
    uint8_t what = fz_u8(in);
    if (what & 1) { /* a descriptor */
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
    } else if (c.driver + 4 + 2 * FZV_QMAX <= RAM_SIZE && c.size) { /* publish a head */
        uint16_t *idx = (uint16_t *)fzt_ram(&t, c.driver + 2);
        uint16_t i = __atomic_load_n(idx, __ATOMIC_RELAXED);
        uint16_t head = fz_u8(in) % (FZV_QMAX + 1);
        memcpy(fzt_ram(&t, c.driver + 4 + 2 * (i % c.size)), &head, 2);
        __atomic_store_n(idx, (uint16_t)(i + 1), __ATOMIC_RELEASE);
    }
}

/* A BAR 0 address: where it is, in RAM, over the ECAM or the IOAPIC, elsewhere in the
 * windows, or anything. */
static uint64_t pick_bar_addr(struct fz_in *in)
{
    switch (fz_u8(in) % 6) {
    case 0:
        return vdev_pci_bar_base(func, 0);
    case 1:
        return (uint64_t)(fz_u8(in) & 0xf) << 16; /* RAM */
    case 2:
        return FZT_ECAM;
    case 3:
        return 0xfec00000ull;
    case 4:
        return FZT_MMIO64 + ((uint64_t)fz_u16(in) << 16);
    default:
        return fz_u64(in) & ~0xffffull;
    }
}

static void check(void)
{
    /* INTx: the line is INTA# of the only function on it, unless INTx is disabled. */
    uint16_t cmd = (uint16_t)ecam_rd(SLOT, 0x04, 2), st = (uint16_t)ecam_rd(SLOT, 0x06, 2);
    FZ_ASSERT(t.level[INTX_GSI] == ((st & 8) && !(cmd & 0x400)));
    /* RAM is never shadowed by a BAR. */
    struct vdev_region *r = vdev_bus_find(vdev_machine_bus(t.fm.m), VDEV_SPACE_MEM, 0);
    FZ_ASSERT(r && r != vdev_pci_bar_region(func, 0));
    /* What the common configuration says is what the core has. */
    if (bar0_live()) {
        FZ_ASSERT(cc_rd(CC_STATUS, 1) == vdev_virtio_get_status(dev->vio));
        FZ_ASSERT(cc_rd(CC_NUMQ, 2) == FZV_QUEUES);
        uint64_t v = cc_rd(CC_MSIX, 2);
        FZ_ASSERT(v < NVEC || v == 0xffff);
        uint64_t sel = cc_rd(CC_QSEL, 2);
        uint64_t qsize = cc_rd(CC_QSIZE, 2);
        if (sel >= FZV_QUEUES) {
            FZ_ASSERT(qsize == 0);
        } else {
            FZ_ASSERT(qsize && !(qsize & (qsize - 1)) ? qsize <= FZV_QMAX : true);
            v = cc_rd(CC_QMSIX, 2);
            FZ_ASSERT(v < NVEC || v == 0xffff);
        }
        uint64_t dsel = cc_rd(CC_DFSELECT, 4);
        uint64_t df = cc_rd(CC_DF, 4);
        FZ_ASSERT(df == (dsel < 2 ? vdev_virtio_device_features(dev->vio, (uint32_t)dsel) : 0));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fzt_exitless = size & 1; /* odd inputs: doorbells and irqfds bound as with KVM */
    dev = fzv_build(&t, "ram 0,1M vdev fzvio", true);
    struct vdev *d = vdev_virtio_vdev(dev->vio);
    const struct vdev_loc *loc = vdev_loc(d);
    func = pci_host_of(vdev_machine_of(d))->slot_func[loc->bus][loc->dev]; /* the device's */
    FZ_ASSERT(func);
    struct fz_in in = {data, size};
    for (unsigned op = 0; op < MAX_OPS && fz_left(&in); op++) {
        uint8_t code = fz_u8(&in);
        switch (code % 20) {
        case 0:
        case 1: { /* configuration mechanism #1: address then data, any port and size */
            uint32_t addr =
                fz_u8(&in) & 1 ? 0x80000000u | SLOT << 11 | (fz_u8(&in) & 0xfc) : fz_u32(&in);
            fzt_io(&t, VDEV_SPACE_IO, 0xcf8, 4, true, addr, NULL);
            unsigned port = 0xcf8 + fz_u8(&in) % 8, sz = pick_size(&in);
            bool wr = code % 20 == 1;
            uint64_t v = fzt_io(&t, VDEV_SPACE_IO, port, sz, wr, fz_u32(&in), NULL);
            if (!wr && !(addr & 0x80000000u) && port >= 0xcfc && sz <= 4 && sz != 3 &&
                port - 0xcfc + sz <= 4)
                FZ_ASSERT(v == mask_of(sz)); /* disabled address: no configuration cycle */
            break;
        }
        case 2:
        case 3: { /* ECAM, any slot, register and size */
            unsigned slot = fz_u8(&in) & 3 ? SLOT : fz_u8(&in) & 31;
            unsigned reg = fz_u16(&in) & 0xfff, sz = pick_size(&in);
            if (code % 20 == 2) {
                uint64_t v =
                    fzt_io(&t, VDEV_SPACE_MEM, FZT_ECAM + (slot << 15) + reg, sz, false, 0, NULL);
                if (slot > 1 && sz <= 4 && sz != 3 && !(reg & (sz - 1)))
                    FZ_ASSERT(v == mask_of(sz)); /* absent function */
            } else {
                fzt_io(&t, VDEV_SPACE_MEM, FZT_ECAM + (slot << 15) + reg, sz, true, fz_u32(&in),
                       NULL);
            }
            break;
        }
        case 4: { /* common configuration */
            unsigned off = fz_u8(&in) % 0x48, sz = pick_size(&in);
            bool wr = fz_u8(&in) & 1;
            bar(off, sz, wr, fz_u8(&in) & 1 ? fz_u16(&in) : fz_u64(&in));
            break;
        }
        case 5: { /* the ISR: read to clear */
            if (!bar0_live())
                break;
            uint64_t v = bar(ISR_OFF + (fz_u8(&in) & 3), pick_size(&in), false, 0);
            (void)v;
            uint64_t isr = bar(ISR_OFF, 1, false, 0);
            FZ_ASSERT(isr <= 3);
            FZ_ASSERT(bar(ISR_OFF, 1, false, 0) == 0);
            FZ_ASSERT(!(ecam_rd(SLOT, 0x06, 2) & 8)); /* INTA# deasserted */
            break;
        }
        case 6: { /* device configuration */
            unsigned off = fz_u8(&in) % 0x20, sz = pick_size(&in);
            bar(DEVCFG_OFF + off, sz, fz_u8(&in) & 1, fz_u64(&in));
            break;
        }
        case 7: { /* notifications */
            unsigned off = fz_u8(&in) % (4 * FZV_QUEUES + 4), sz = pick_size(&in);
            bar(NOTIFY_OFF + off, sz, true, fz_u16(&in));
            break;
        }
        case 8: { /* MSI-X table and PBA */
            bool pba = fz_u8(&in) & 1;
            unsigned off = fz_u8(&in) % (pba ? 16 : 16 * NVEC + 16), sz = pick_size(&in);
            bool wr = fz_u8(&in) & 1;
            bar((pba ? PBA_OFF : TABLE_OFF) + off, sz, wr, fz_u64(&in));
            break;
        }
        case 9: /* anywhere in the BAR, and a bit past it */
            bar(fz_u32(&in) % 0x10010, pick_size(&in), fz_u8(&in) & 1, fz_u64(&in));
            break;
        case 10: /* decoding and bus mastering, or any command value */
            ecam_wr(SLOT, 0x04, 2, fz_u8(&in) & 1 ? 0x6 : fz_u16(&in));
            break;
        case 11:
            driver_init(&in);
            break;
        case 12:
            msix_setup(&in);
            break;
        case 13:
            drv_ring(&in);
            break;
        case 14:
            vdev_machine_poll(t.fm.m, 0);
            break;
        case 15:
            if (fz_u8(&in) & 1)
                vdev_virtio_config_changed(dev->vio);
            else
                fzv_service(dev, fz_u8(&in) % FZV_QUEUES, FZV_QMAX);
            break;
        case 16: { /* move BAR 0 (decoding on or off) */
            uint64_t a = pick_bar_addr(&in);
            ecam_wr(SLOT, 0x10, 4, (uint32_t)a | 0xc);
            ecam_wr(SLOT, 0x14, 4, (uint32_t)(a >> 32));
            break;
        }
        case 17: { /* size BAR 0 as firmware does: all ones, read the mask, restore */
            uint64_t lo = ecam_rd(SLOT, 0x10, 4), hi = ecam_rd(SLOT, 0x14, 4);
            ecam_wr(SLOT, 0x10, 4, 0xffffffffu);
            ecam_wr(SLOT, 0x14, 4, 0xffffffffu);
            FZ_ASSERT(ecam_rd(SLOT, 0x10, 4) == 0xffff0004u); /* 64 KiB, 64-bit memory */
            FZ_ASSERT(ecam_rd(SLOT, 0x14, 4) == 0xffffffffu);
            ecam_wr(SLOT, 0x10, 4, lo);
            ecam_wr(SLOT, 0x14, 4, hi);
            break;
        }
        case 18:
            fzt_fill(&t, &in, (uint64_t)fz_u16(&in) << 4, fz_u8(&in) % 64);
            break;
        default:
            if (fz_u8(&in) & 1) {
                vdev_machine_reset(t.fm.m);
                FZ_ASSERT(!dev->running && !vdev_pci_bar_enabled(func, 0));
            } else if (bar0_live()) {
                cc_wr(CC_STATUS, 1, 0);
                FZ_ASSERT(cc_rd(CC_STATUS, 1) == 0 && cc_rd(CC_MSIX, 2) == 0xffff);
                FZ_ASSERT(bar(ISR_OFF, 1, false, 0) == 0 && !dev->running);
            }
            break;
        }
        fzt_kernel(&t);
        check();
    }
    fzv_report(&t, dev);
    fzt_free(&t);
    return 0;
}
