/* virtio-pci modern transport: a driver's view through config space and BAR 0, as Linux's
 * virtio_pci_modern drives it, against a small generic virtio test device. */
#include <check.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_embedder.h"
#include <vdev/pci.h>
#include <vdev/virtio_transport.h>

/* ---- the test device: two queues, 8 bytes of config; queue 0 echoes buffers back ---- */

#define TDEV_QUEUES   2
#define TDEV_CFG_SIZE 8
#define TDEV_QMAX     256

struct tdev {
    struct vdev_virtio *vio;
    uint32_t id;
    uint8_t cfg[TDEV_CFG_SIZE];
    unsigned kicks[TDEV_QUEUES];
    unsigned started, stopped, pushed;
    struct vdev_virtq_elem elem;
};

static void tdev_config_read(void *opaque, uint32_t off, void *buf, uint32_t len)
{
    struct tdev *t = opaque;
    memcpy(buf, t->cfg + off, len);
}

static void tdev_config_write(void *opaque, uint32_t off, const void *buf, uint32_t len)
{
    struct tdev *t = opaque;
    memcpy(t->cfg + off, buf, len);
}

static void tdev_start(void *opaque)
{
    struct tdev *t = opaque;
    t->started++;
}

static void tdev_stop(void *opaque)
{
    struct tdev *t = opaque;
    t->stopped++;
}

static void tdev_kick(void *opaque, unsigned q)
{
    struct tdev *t = opaque;
    if (q < TDEV_QUEUES)
        t->kicks[q]++;
    struct vdev_virtq *vq = vdev_virtio_queue(t->vio, q);
    if (q != 0 || !vq)
        return;
    bool any = false;
    while (vdev_virtq_pop(vq, &t->elem) == 1) {
        vdev_virtq_push(vq, t->elem.head, 0);
        t->pushed++;
        any = true;
    }
    if (any)
        vdev_virtq_notify(vq);
}

static struct vdev_virtio_ops tdev_ops = {
    .size = sizeof(struct vdev_virtio_ops),
    .device_id = 42,
    .features = 1ull << 5,
    .num_queues = TDEV_QUEUES,
    .queue_size_max = TDEV_QMAX,
    .config_size = TDEV_CFG_SIZE,
    .config_read = tdev_config_read,
    .config_write = tdev_config_write,
    .start = tdev_start,
    .stop = tdev_stop,
    .queue_kick = tdev_kick,
};
static struct vdev_virtio_ops tdev_poll_ops; /* the same without queue_kick */

static const struct vdev_option tdev_options[] = {
    {.name = "id", .kind = VDEV_OPT_U64, .arg = "N", .help = "virtio device id", .max = 63},
    {.name = "poll", .kind = VDEV_OPT_FLAG, .help = "no queue_kick hook"},
    {0},
};

static int tdev_option(struct vdev *d, const struct vdev_optval *v)
{
    struct tdev *t = vdev_state(d);
    if (!strcmp(v->opt->name, "id"))
        t->id = (uint32_t)v->num;
    else
        t->id |= 0x100; /* poll */
    return 0;
}

static int tdev_assign(struct vdev *d)
{
    struct tdev *t = vdev_state(d);
    memcpy(t->cfg, "\x52\x54\x00\x12\x34\x56\x01\x00", TDEV_CFG_SIZE);
    struct vdev_virtio_ops *ops = (t->id & 0x100) ? &tdev_poll_ops : &tdev_ops;
    ops->device_id = (t->id & 0xff) ? (t->id & 0xff) : 42;
    struct vdev_err err;
    t->vio = vdev_virtio_attach(d, ops, t, &err);
    if (!t->vio)
        return vdev_error(d, vdev_pos(d), NULL, "%s", err.msg);
    return 0;
}

static const struct vdev_type tdev_type = {
    .abi_version = VDEV_ABI_VERSION,
    .type_size = sizeof(struct vdev_type),
    .name = "vtest",
    .options = tdev_options,
    .state_size = sizeof(struct tdev),
    .places = VDEV_PLACE_PCI,
    .option = tdev_option,
    .assign = tdev_assign,
};

/* ---- the machine and the guest's accessors ---- */

#define MMIO64_BASE 0x100000000ull
#define INTX_GSI0   16

static struct fake_embedder fe;
static struct tdev *dev;

static void build_with(const char *conf, bool exitless)
{
    struct vdev_err err;
    tdev_poll_ops = tdev_ops;
    tdev_poll_ops.queue_kick = NULL;
    ck_assert_int_eq(vdev_register_type(&tdev_type, &err), 0);
    fake_machine_new(&fe);
    fe.exitless = exitless;
    struct vdev_pci_host_desc h = {
        .ecam_base = 0xe0000000,
        .buses = 1,
        .cf8_ports = true,
        .mmio32_base = 0xc0000000,
        .mmio32_size = 0x10000000,
        .mmio64_base = MMIO64_BASE,
        .mmio64_size = 0x100000000ull,
        .io_base = 0xc000,
        .io_size = 0x1000,
        .intx_pic = "ioapic",
        .intx_lines = {INTX_GSI0, INTX_GSI0 + 1, INTX_GSI0 + 2, INTX_GSI0 + 3}};
    if (vdev_machine_add_pci(fe.m, &h, &err) || fake_machine_build_string(&fe, conf, &err))
        ck_abort_msg("%s", err.msg);
    dev = vdev_state(vdev_machine_device(fe.m, 0));
}

static void build(bool exitless)
{
    build_with("ram 0,16M vdev vtest", exitless);
}

static uint64_t io(enum vdev_space sp, uint64_t addr, unsigned size, bool wr, uint64_t v)
{
    enum vdev_access_result r = vdev_machine_access(fe.m, sp, addr, size, wr, &v);
    ck_assert_msg(r == VDEV_ACCESS_OK, "access 0x%llx/%u: %d", (unsigned long long)addr, size,
                  (int)r);
    return v;
}

static unsigned bdf; /* dev << 3 | fn of the function under test (bus 0) */

static uint64_t cfg_rd(unsigned reg, unsigned size)
{
    io(VDEV_SPACE_IO, 0xcf8, 4, true, 0x80000000u | bdf << 8 | (reg & 0xfc));
    return io(VDEV_SPACE_IO, 0xcfc + (reg & 3), size, false, 0);
}

static void cfg_wr(unsigned reg, unsigned size, uint64_t v)
{
    io(VDEV_SPACE_IO, 0xcf8, 4, true, 0x80000000u | bdf << 8 | (reg & 0xfc));
    io(VDEV_SPACE_IO, 0xcfc + (reg & 3), size, true, v);
}

static uint64_t mrd(uint64_t a, unsigned size)
{
    return io(VDEV_SPACE_MEM, a, size, false, 0);
}

static void mwr(uint64_t a, unsigned size, uint64_t v)
{
    io(VDEV_SPACE_MEM, a, size, true, v);
}

/* ---- discovery, as virtio_pci_modern_probe does it ---- */

struct found {
    uint64_t bar0;
    uint32_t off[6], len[6]; /* by cfg_type 1..5 */
    uint8_t capoff[6];
    uint32_t notify_mult;
    unsigned nvendor;
    uint8_t msix; /* MSI-X capability offset, 0 if none */
};

static struct found fd;

static bool find_function(uint16_t device)
{
    for (unsigned d = 0; d < 32; d++) {
        bdf = d << 3;
        uint32_t idr = (uint32_t)cfg_rd(0, 4);
        if ((idr & 0xffff) == 0x1af4 && idr >> 16 == device)
            return true;
    }
    return false;
}

static uint64_t read_bar0(void)
{
    uint32_t lo = (uint32_t)cfg_rd(0x10, 4);
    ck_assert_uint_eq(lo & 0x7, 0x4); /* memory, 64-bit */
    uint32_t hi = (uint32_t)cfg_rd(0x14, 4);
    return (uint64_t)hi << 32 | (lo & ~0xfu);
}

static void discover(uint16_t device)
{
    memset(&fd, 0, sizeof(fd));
    ck_assert_msg(find_function(device), "no virtio function 0x%x on bus 0", device);
    ck_assert(cfg_rd(0x06, 2) & 0x10); /* capability list */
    unsigned p = cfg_rd(0x34, 1) & 0xfc;
    for (unsigned guard = 0; p && guard < 48; guard++) {
        uint8_t id = (uint8_t)cfg_rd(p, 1);
        if (id == 0x09) {
            uint8_t type = (uint8_t)cfg_rd(p + 3, 1);
            ck_assert_uint_ge(cfg_rd(p + 2, 1), 16); /* cap_len */
            ck_assert_uint_eq(cfg_rd(p + 4, 1), 0);  /* bar */
            if (type >= 1 && type <= 5 && !fd.capoff[type]) {
                fd.capoff[type] = (uint8_t)p;
                fd.off[type] = (uint32_t)cfg_rd(p + 8, 4);
                fd.len[type] = (uint32_t)cfg_rd(p + 12, 4);
                if (type == 2) {
                    ck_assert_uint_eq(cfg_rd(p + 2, 1), 20);
                    fd.notify_mult = (uint32_t)cfg_rd(p + 16, 4);
                }
            }
            fd.nvendor++;
        } else if (id == 0x11) {
            fd.msix = (uint8_t)p;
        }
        p = cfg_rd(p + 1, 1) & 0xfc;
    }
    fd.bar0 = read_bar0();
}

static void enable_mem(void)
{
    cfg_wr(0x04, 2, cfg_rd(0x04, 2) | 0x6); /* memory decode, bus master */
}

/* ---- common configuration ---- */

#define CC(o) (fd.bar0 + fd.off[1] + (o))

static uint8_t status(void)
{
    return (uint8_t)mrd(CC(0x14), 1);
}

static void set_status(uint8_t s)
{
    mwr(CC(0x14), 1, s);
}

/* Rings of queue q in fake RAM (guest address = offset into fe.ram[0]). */
#define RING_BASE(q) (0x100000u + (q)*0x10000u)
#define DESC(q)      RING_BASE(q)
#define AVAIL(q)     (RING_BASE(q) + 0x4000u)
#define USED(q)      (RING_BASE(q) + 0x8000u)
#define QSIZE        64

static void *gpa(uint64_t a)
{
    return (uint8_t *)fe.ram[0] + a;
}

static void write64_split(uint64_t addr, uint64_t v)
{
    mwr(addr, 4, v & 0xffffffffu);
    mwr(addr + 4, 4, v >> 32);
}

static uint64_t read64_split(uint64_t addr)
{
    return mrd(addr, 4) | mrd(addr + 4, 4) << 32;
}

/* Reset → ACK → DRIVER → features → FEATURES_OK → queues → DRIVER_OK, with the queues'
 * MSI-X vectors set to qvec[q] and the config vector to cfgvec. */
static void driver_init(uint16_t cfgvec, const uint16_t *qvec)
{
    unsigned started = dev->started;
    set_status(0);
    ck_assert_uint_eq(status(), 0);
    set_status(1);
    set_status(1 | 2);
    mwr(CC(0x00), 4, 0);
    uint32_t lo = (uint32_t)mrd(CC(0x04), 4);
    mwr(CC(0x00), 4, 1);
    uint32_t hi = (uint32_t)mrd(CC(0x04), 4);
    ck_assert(lo & (1u << 5));
    ck_assert(hi & 1u); /* VERSION_1 */
    mwr(CC(0x08), 4, 0);
    mwr(CC(0x0c), 4, 1u << 5);
    mwr(CC(0x08), 4, 1);
    mwr(CC(0x0c), 4, 1);
    mwr(CC(0x08), 4, 0);
    ck_assert_uint_eq(mrd(CC(0x0c), 4), 1u << 5);
    set_status(1 | 2 | 8);
    ck_assert_uint_eq(status(), 1 | 2 | 8);

    mwr(CC(0x10), 2, cfgvec);
    ck_assert_uint_eq(mrd(CC(0x10), 2), cfgvec);
    ck_assert_uint_eq(mrd(CC(0x12), 2), TDEV_QUEUES);
    for (unsigned q = 0; q < TDEV_QUEUES; q++) {
        mwr(CC(0x16), 2, q);
        ck_assert_uint_eq(mrd(CC(0x18), 2), TDEV_QMAX);
        ck_assert_uint_eq(mrd(CC(0x1c), 2), 0);
        mwr(CC(0x18), 2, QSIZE);
        ck_assert_uint_eq(mrd(CC(0x18), 2), QSIZE);
        mwr(CC(0x1a), 2, qvec[q]);
        ck_assert_uint_eq(mrd(CC(0x1a), 2), qvec[q]);
        write64_split(CC(0x20), DESC(q));
        write64_split(CC(0x28), AVAIL(q));
        write64_split(CC(0x30), USED(q));
        ck_assert_uint_eq(read64_split(CC(0x20)), DESC(q));
        ck_assert_uint_eq(mrd(CC(0x28), 8), AVAIL(q)); /* 8-byte access works too */
        ck_assert_uint_eq(read64_split(CC(0x30)), USED(q));
        ck_assert_uint_eq(mrd(CC(0x1e), 2), q); /* queue_notify_off */
        mwr(CC(0x1c), 2, 1);
        ck_assert_uint_eq(mrd(CC(0x1c), 2), 1);
    }
    set_status(1 | 2 | 8 | 4);
    ck_assert_uint_eq(status(), 1 | 2 | 8 | 4);
    ck_assert_uint_eq(dev->started, started + 1);
}

static uint64_t notify_addr(unsigned q)
{
    mwr(CC(0x16), 2, q);
    return fd.bar0 + fd.off[2] + (uint64_t)mrd(CC(0x1e), 2) * fd.notify_mult;
}

/* Makes one 16-byte device-writable buffer available on queue 0 (avail index n). */
static void offer_buffer(uint16_t n)
{
    uint8_t *desc = gpa(DESC(0)) + 16u * (n % QSIZE);
    uint64_t addr = 0x200000 + 16u * n;
    uint32_t len = 16;
    uint16_t flags = 2, next = 0; /* VIRTQ_DESC_F_WRITE */
    memcpy(desc, &addr, 8);
    memcpy(desc + 8, &len, 4);
    memcpy(desc + 12, &flags, 2);
    memcpy(desc + 14, &next, 2);
    uint16_t *avail = gpa(AVAIL(0));
    avail[2 + n % QSIZE] = (uint16_t)(n % QSIZE);
    __atomic_store_n(&avail[1], (uint16_t)(n + 1), __ATOMIC_RELEASE);
}

static uint16_t used_idx(unsigned q)
{
    return __atomic_load_n((uint16_t *)gpa(USED(q)) + 1, __ATOMIC_ACQUIRE);
}

static bool intx_level(void)
{
    for (unsigned i = 0; i < 4; i++)
        if (fe.gsi_level[INTX_GSI0 + i])
            return true;
    return false;
}

static void run_events(void)
{
    for (int i = 0; i < 3; i++)
        vdev_machine_poll(fe.m, i == 0 ? 50 : 0);
}

/* ---- tests ---- */

START_TEST(identity_and_capabilities)
{
    build_with("ram 0,16M vdev vtest id 1", false);
    discover(0x1041);
    ck_assert_uint_eq(cfg_rd(0x08, 1), 1);             /* revision */
    ck_assert_uint_eq(cfg_rd(0x08, 4) >> 8, 0x020000); /* network, ethernet */
    ck_assert_uint_eq(cfg_rd(0x2c, 2), 0x1af4);        /* subsystem vendor */
    ck_assert_uint_eq(cfg_rd(0x2e, 2), 1);             /* subsystem = device id */
    ck_assert_uint_eq(fd.nvendor, 4);
    ck_assert_uint_eq(fd.off[1], 0x0000);
    ck_assert_uint_ge(fd.len[1], 0x38);
    ck_assert_uint_eq(fd.off[3], 0x1000);
    ck_assert_uint_ge(fd.len[3], 1);
    ck_assert_uint_eq(fd.off[4], 0x2000);
    ck_assert_uint_eq(fd.len[4], TDEV_CFG_SIZE);
    ck_assert_uint_eq(fd.off[2], 0x3000);
    ck_assert_uint_eq(fd.notify_mult, 4);
    ck_assert_uint_ge(fd.len[2], 4 * (TDEV_QUEUES - 1) + 2);
    ck_assert_uint_ne(fd.msix, 0);
    ck_assert_uint_eq(cfg_rd(fd.msix + 2, 2) & 0x7ff, TDEV_QUEUES); /* N-1: queues + config */
    ck_assert_uint_ge(fd.bar0, MMIO64_BASE);
    ck_assert_ptr_nonnull(strstr(vdev_virtio_where(dev->vio), "pci"));
    fake_machine_free(&fe);
}
END_TEST

START_TEST(unclassified_device)
{
    build(false);
    discover(0x1040 + 42);
    ck_assert_uint_eq(cfg_rd(0x08, 4) >> 8, 0xff0000);
    ck_assert_uint_eq(cfg_rd(0x2e, 2), 42);
    fake_machine_free(&fe);
}
END_TEST

START_TEST(device_config_and_generation)
{
    build(false);
    discover(0x1040 + 42);
    enable_mem();
    uint64_t dc = fd.bar0 + fd.off[4];
    ck_assert_uint_eq(mrd(dc, 1), 0x52);
    ck_assert_uint_eq(mrd(dc + 4, 2), 0x5634);
    ck_assert_uint_eq(mrd(dc + 6, 2), 1);
    mwr(dc + 6, 1, 0x07);
    ck_assert_uint_eq(dev->cfg[6], 0x07);
    ck_assert_uint_eq(mrd(dc + 8, 4), 0); /* past the device's config: 0, no crash */
    uint8_t gen = (uint8_t)mrd(CC(0x15), 1);
    vdev_virtio_config_changed(dev->vio);
    ck_assert_uint_ne(mrd(CC(0x15), 1), gen);
    fake_machine_free(&fe);
}
END_TEST

START_TEST(queue_select_out_of_range)
{
    build(false);
    discover(0x1040 + 42);
    enable_mem();
    mwr(CC(0x16), 2, TDEV_QUEUES);
    ck_assert_uint_eq(mrd(CC(0x18), 2), 0);
    mwr(CC(0x18), 2, 16);
    mwr(CC(0x1c), 2, 1);
    write64_split(CC(0x20), 0x1234);
    ck_assert_uint_eq(mrd(CC(0x18), 2), 0);
    ck_assert_uint_eq(mrd(CC(0x1c), 2), 0);
    mwr(CC(0x16), 2, 0xffff);
    ck_assert_uint_eq(mrd(CC(0x18), 2), 0);
    /* a refused size (not a power of two) leaves the old one */
    mwr(CC(0x16), 2, 0);
    mwr(CC(0x18), 2, 100);
    ck_assert_uint_eq(mrd(CC(0x18), 2), TDEV_QMAX);
    /* wrong widths: ignored on write, 0 on read */
    mwr(CC(0x16), 4, 1);
    ck_assert_uint_eq(mrd(CC(0x16), 2), 0);
    ck_assert_uint_eq(mrd(CC(0x12), 4), 0);
    ck_assert_uint_eq(mrd(CC(0x12), 2), TDEV_QUEUES);
    mwr(CC(0x14), 2, 1);
    ck_assert_uint_eq(status(), 0);
    fake_machine_free(&fe);
}
END_TEST

START_TEST(kick_through_trapped_doorbell)
{
    build(false);
    discover(0x1040 + 42);
    enable_mem();
    static const uint16_t novec[TDEV_QUEUES] = {0xffff, 0xffff};
    driver_init(0xffff, novec);
    offer_buffer(0);
    mwr(notify_addr(0), 2, 0);
    run_events();
    ck_assert_uint_eq(dev->kicks[0], 1);
    ck_assert_uint_eq(dev->pushed, 1);
    ck_assert_uint_eq(used_idx(0), 1);
    /* queue 1: another doorbell */
    mwr(notify_addr(1), 2, 1);
    run_events();
    ck_assert_uint_eq(dev->kicks[1], 1);
    /* a 4-byte write is no doorbell ring but still a kick */
    mwr(notify_addr(1), 4, 1);
    run_events();
    ck_assert_uint_eq(dev->kicks[1], 2);
    fake_machine_free(&fe);
}
END_TEST

static bool fd_readable(int f)
{
    struct pollfd p = {.fd = f, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

START_TEST(kick_fd_becomes_readable)
{
    build_with("ram 0,16M vdev vtest poll", false);
    discover(0x1040 + 42);
    enable_mem();
    static const uint16_t novec[TDEV_QUEUES] = {0xffff, 0xffff};
    driver_init(0xffff, novec);
    int kfd = vdev_virtio_kick_fd(dev->vio, 1);
    ck_assert_int_ge(kfd, 0);
    ck_assert(!fd_readable(kfd));
    mwr(notify_addr(1), 2, 1);
    ck_assert(fd_readable(kfd));
    uint64_t n;
    ck_assert_int_eq(read(kfd, &n, sizeof(n)), sizeof(n));
    ck_assert(!fd_readable(vdev_virtio_kick_fd(dev->vio, 0)));
    fake_machine_free(&fe);
}
END_TEST

START_TEST(exitless_doorbells)
{
    build(true);
    discover(0x1040 + 42);
    ck_assert_uint_eq(fe.ioeventfds_bound, 0); /* not before the BAR decodes */
    enable_mem();
    ck_assert_uint_eq(fe.ioeventfds_bound, TDEV_QUEUES);
    static const uint16_t novec[TDEV_QUEUES] = {0xffff, 0xffff};
    driver_init(0xffff, novec);
    /* the kernel would signal the fd; here the write reaches the BAR and still kicks */
    mwr(notify_addr(1), 2, 1);
    run_events();
    ck_assert_uint_eq(dev->kicks[1], 1);
    uint64_t one = 1;
    ck_assert_int_eq(write(vdev_virtio_kick_fd(dev->vio, 1), &one, sizeof(one)), sizeof(one));
    run_events();
    ck_assert_uint_eq(dev->kicks[1], 2);
    fake_machine_free(&fe);
}
END_TEST

static void msix_entry(unsigned v, uint64_t addr, uint32_t data, bool masked)
{
    uint64_t e = fd.bar0 + 0x8000 + 16u * v;
    mwr(e, 4, addr & 0xffffffffu);
    mwr(e + 4, 4, addr >> 32);
    mwr(e + 8, 4, data);
    mwr(e + 12, 4, masked);
}

START_TEST(msix_interrupts)
{
    build(false);
    discover(0x1040 + 42);
    enable_mem();
    uint32_t tbl = (uint32_t)cfg_rd(fd.msix + 4, 4);
    ck_assert_uint_eq(tbl & 7, 0); /* BIR 0 */
    ck_assert_uint_eq(tbl & ~7u, 0x8000);
    for (unsigned v = 0; v <= TDEV_QUEUES; v++)
        msix_entry(v, 0xfee00000, 0x40 + v, false);
    cfg_wr(fd.msix + 2, 2, 0x8000); /* MSI-X enable */
    static const uint16_t vec[TDEV_QUEUES] = {1, 2};
    driver_init(0, vec);
    /* a vector past the table reads back NO_VECTOR */
    mwr(CC(0x16), 2, 1);
    mwr(CC(0x1a), 2, TDEV_QUEUES + 1);
    ck_assert_uint_eq(mrd(CC(0x1a), 2), 0xffff);
    mwr(CC(0x10), 2, 0x1234);
    ck_assert_uint_eq(mrd(CC(0x10), 2), 0xffff);
    mwr(CC(0x10), 2, 0);

    unsigned before = fe.nmsi;
    offer_buffer(0);
    mwr(notify_addr(0), 2, 0);
    run_events();
    ck_assert_uint_eq(dev->pushed, 1);
    ck_assert_uint_eq(fe.nmsi, before + 1);
    ck_assert_uint_eq(fe.msis[before].data, 0x41);
    ck_assert_uint_eq(fe.msis[before].addr, 0xfee00000);
    ck_assert(!intx_level());

    vdev_virtio_config_changed(dev->vio);
    run_events();
    ck_assert_uint_eq(fe.nmsi, before + 2);
    ck_assert_uint_eq(fe.msis[before + 1].data, 0x40);

    /* NO_VECTOR: no interrupt at all */
    mwr(CC(0x16), 2, 0);
    set_status(0);
    ck_assert_uint_eq(mrd(CC(0x1a), 2), 0xffff); /* reset forgets vectors */
    ck_assert_uint_eq(mrd(CC(0x10), 2), 0xffff);
    static const uint16_t novec[TDEV_QUEUES] = {0xffff, 0xffff};
    memset(gpa(RING_BASE(0)), 0, 0x10000);
    driver_init(0xffff, novec);
    offer_buffer(0);
    mwr(notify_addr(0), 2, 0);
    run_events();
    ck_assert_uint_eq(dev->pushed, 2);
    ck_assert_uint_eq(fe.nmsi, before + 2);
    ck_assert(!intx_level());
    fake_machine_free(&fe);
}
END_TEST

START_TEST(intx_and_isr)
{
    build(false);
    discover(0x1040 + 42);
    enable_mem();
    ck_assert_uint_eq(cfg_rd(0x3d, 1), 1); /* INTA */
    static const uint16_t novec[TDEV_QUEUES] = {0xffff, 0xffff};
    driver_init(0xffff, novec);
    uint64_t isr = fd.bar0 + fd.off[3];
    ck_assert_uint_eq(mrd(isr, 1), 0);
    ck_assert(!intx_level());

    offer_buffer(0);
    mwr(notify_addr(0), 2, 0);
    run_events();
    ck_assert_uint_eq(dev->pushed, 1);
    ck_assert(intx_level());
    ck_assert(cfg_rd(0x06, 2) & 0x08); /* status: interrupt pending */
    ck_assert_uint_eq(fe.nmsi, 0);
    ck_assert_uint_eq(mrd(isr, 1), 1); /* read-to-clear */
    ck_assert(!intx_level());
    ck_assert_uint_eq(mrd(isr, 1), 0);

    vdev_virtio_config_changed(dev->vio);
    ck_assert(intx_level());
    ck_assert_uint_eq(mrd(isr, 1), 2);
    ck_assert(!intx_level());

    /* reset deasserts */
    vdev_virtio_config_changed(dev->vio);
    ck_assert(intx_level());
    set_status(0);
    ck_assert(!intx_level());
    ck_assert_uint_eq(mrd(isr, 1), 0);
    fake_machine_free(&fe);
}
END_TEST

/* Writes descriptor i of the table at guest address `table`. */
static void put_desc(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    uint8_t *d = gpa(table + 16u * i);
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
}

/* The real virtio-net module behind the transport: its data thread starts at build, long
 * before the guest enables BAR 0 (when the doorbells, its kick fds, appear); a control
 * command kicked right after DRIVER_OK must still be answered (a Linux guest's first one). */
START_TEST(virtio_net_control_command)
{
    build_with("ram 0,16M vdev virtio-net mac 52:54:00:00:00:01", _i);
    ck_assert_int_eq(vdev_machine_start(fe.m), 0);
    discover(0x1041);
    enable_mem();
    set_status(0);
    set_status(1 | 2);
    mwr(CC(0x08), 4, 0);
    mwr(CC(0x0c), 4, 1u << 5 | 1u << 17 | 1u << 18 | 1u << 29); /* MAC CTRL_VQ CTRL_RX EVENT_IDX */
    mwr(CC(0x08), 4, 1);
    mwr(CC(0x0c), 4, 1);
    set_status(1 | 2 | 8);
    ck_assert_uint_eq(status(), 1 | 2 | 8);
    for (unsigned q = 0; q < 3; q++) {
        mwr(CC(0x16), 2, q);
        mwr(CC(0x18), 2, QSIZE);
        write64_split(CC(0x20), DESC(q));
        write64_split(CC(0x28), AVAIL(q));
        write64_split(CC(0x30), USED(q));
        mwr(CC(0x1c), 2, 1);
    }
    set_status(1 | 2 | 8 | 4);
    ck_assert_uint_eq(status(), 1 | 2 | 8 | 4);
    /* VIRTIO_NET_CTRL_RX_PROMISC on: class 0, command 0, data 1; then the ack byte */
    uint8_t *cmd = gpa(0x300000);
    memcpy(cmd, "\x00\x00\x01", 3);
    cmd[16] = 0xee;
    put_desc(DESC(2), 0, 0x300000, 3, 1 /* NEXT */, 1);
    put_desc(DESC(2), 1, 0x300010, 1, 2 /* WRITE */, 0);
    uint16_t *avail = gpa(AVAIL(2));
    avail[2] = 0;
    __atomic_store_n(&avail[1], 1, __ATOMIC_RELEASE);
    mwr(notify_addr(2), 2, 2);
    for (int i = 0; i < 300 && used_idx(2) == 0; i++)
        usleep(10000);
    ck_assert_uint_eq(used_idx(2), 1);
    ck_assert_uint_eq(__atomic_load_n(&cmd[16], __ATOMIC_ACQUIRE), 0); /* VIRTIO_NET_OK */
    fake_machine_free(&fe);
}
END_TEST

static void *config_changer(void *arg)
{
    for (int i = 0; i < 20000; i++)
        vdev_virtio_config_changed(dev->vio);
    return NULL;
}

/* A device thread raising interrupts while a vCPU reads the ISR: the line is never left
 * asserted with the ISR empty (the guest would see an interrupt it cannot clear). */
START_TEST(isr_read_races_notify)
{
    build(false);
    discover(0x1040 + 42);
    enable_mem();
    static const uint16_t novec[TDEV_QUEUES] = {0xffff, 0xffff};
    driver_init(0xffff, novec);
    uint64_t isr = fd.bar0 + fd.off[3];
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, config_changer, NULL), 0);
    for (int i = 0; i < 20000; i++)
        mrd(isr, 1);
    pthread_join(th, NULL);
    bool level = intx_level();
    uint8_t bits = (uint8_t)mrd(isr, 1);
    ck_assert_int_eq(level, bits != 0);
    ck_assert(!intx_level());
    fake_machine_free(&fe);
}
END_TEST

static void move_bar(uint64_t to)
{
    uint16_t cmd = (uint16_t)cfg_rd(0x04, 2);
    cfg_wr(0x04, 2, cmd & ~2u);
    cfg_wr(0x10, 4, to & 0xffffffffu);
    cfg_wr(0x14, 4, to >> 32);
    cfg_wr(0x04, 2, cmd | 2u);
    ck_assert_uint_eq(read_bar0(), to);
}

static void move_test(bool exitless)
{
    build(exitless);
    discover(0x1040 + 42);
    enable_mem();
    static const uint16_t novec[TDEV_QUEUES] = {0xffff, 0xffff};
    driver_init(0xffff, novec);
    uint64_t old = fd.bar0;
    uint64_t to = old + 0x100000;
    move_bar(to);
    fd.bar0 = to;
    ck_assert_uint_eq(status(), 1 | 2 | 4 | 8); /* the device kept its state */
    if (exitless)
        ck_assert_uint_eq(fe.ioeventfds_bound, TDEV_QUEUES);
    uint64_t v = 1;
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_MEM, old + 0x3004, 2, true, &v),
                     VDEV_ACCESS_UNMAPPED);
    mwr(notify_addr(1), 2, 1);
    if (!exitless) /* the trapped doorbell moved with the BAR */
        ck_assert(fd_readable(vdev_virtio_kick_fd(dev->vio, 1)));
    run_events();
    ck_assert_uint_eq(dev->kicks[1], 1);
    fake_machine_free(&fe);
}

START_TEST(bar_move_trapped)
{
    move_test(false);
}
END_TEST

START_TEST(bar_move_exitless)
{
    move_test(true);
}
END_TEST

START_TEST(machine_reset)
{
    build(false);
    discover(0x1040 + 42);
    enable_mem();
    static const uint16_t novec[TDEV_QUEUES] = {0xffff, 0xffff};
    driver_init(0xffff, novec);
    vdev_virtio_config_changed(dev->vio);
    ck_assert(intx_level());
    vdev_machine_reset(fe.m);
    ck_assert(!intx_level());
    ck_assert_uint_ge(dev->stopped, 1);
    discover(0x1040 + 42);
    enable_mem();
    ck_assert_uint_eq(status(), 0);
    driver_init(0xffff, novec);
    fake_machine_free(&fe);
}
END_TEST

/* xorshift: reproducible "random" guest behaviour */
static uint64_t rnd_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

START_TEST(hostile_guest)
{
    build(_i & 1);
    rnd_state += (uint64_t)_i * 7919;
    discover(0x1040 + 42);
    enable_mem();
    static const uint16_t vec[TDEV_QUEUES] = {1, 2};
    for (unsigned v = 0; v <= TDEV_QUEUES; v++)
        msix_entry(v, 0xfee00000, 0x40 + v, false);
    driver_init(0, vec);
    uint64_t base = fd.bar0;
    for (unsigned i = 0; i < 20000; i++) {
        uint64_t r = rnd();
        unsigned size = 1u << (r & 3);
        uint64_t v = rnd();
        bool wr = (r >> 2) & 1;
        uint64_t value = v;
        switch ((r >> 3) & 7) {
        case 0: /* anywhere in the BAR, where it is now */
            vdev_machine_access(fe.m, VDEV_SPACE_MEM, base + (rnd() & 0xffff), size, wr, &value);
            break;
        case 1:
        case 2: /* the common configuration, often with small values */
            if (!(r & 0x100))
                value &= 0xff;
            vdev_machine_access(fe.m, VDEV_SPACE_MEM, base + (rnd() & 0x3f), size, wr, &value);
            break;
        case 3: /* notify area */
            vdev_machine_access(fe.m, VDEV_SPACE_MEM, base + 0x3000 + (rnd() & 0x1f), size, wr,
                                &value);
            break;
        case 4: /* config space of the function, never its BAR (keep it findable) */
        {
            unsigned reg = (unsigned)(rnd() & 0xff);
            if ((reg & 0xfc) >= 0x10 && (reg & 0xfc) < 0x28)
                break;
            uint64_t a = 0x80000000u | bdf << 8 | (reg & 0xfc);
            vdev_machine_access(fe.m, VDEV_SPACE_IO, 0xcf8, 4, true, &a);
            vdev_machine_access(fe.m, VDEV_SPACE_IO, 0xcfc + (reg & 3), size, wr, &value);
            break;
        }
        case 5: /* MSI-X table and PBA */
            vdev_machine_access(fe.m, VDEV_SPACE_MEM, base + 0x8000 + (rnd() & 0x7fff), size, wr,
                                &value);
            break;
        case 6: /* ring memory the device reads */
            ((uint8_t *)gpa(RING_BASE(rnd() & 1)))[rnd() & 0xffff] = (uint8_t)v;
            break;
        default:
            if ((r & 0xff00) == 0)
                vdev_virtio_config_changed(dev->vio);
            if ((r & 0xfff00) == 0)
                vdev_machine_reset(fe.m);
            vdev_machine_poll(fe.m, 0);
            break;
        }
        /* keep decoding on so accesses keep reaching the transport */
        if ((i & 63) == 0)
            enable_mem();
    }
    run_events();
    /* still a working function */
    discover(0x1040 + 42);
    enable_mem();
    memset(gpa(RING_BASE(0)), 0, 0x20000);
    driver_init(0, vec);
    fake_machine_free(&fe);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("virtio_pci");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, identity_and_capabilities);
    tcase_add_test(tc, unclassified_device);
    tcase_add_test(tc, device_config_and_generation);
    tcase_add_test(tc, queue_select_out_of_range);
    tcase_add_test(tc, kick_through_trapped_doorbell);
    tcase_add_test(tc, kick_fd_becomes_readable);
    tcase_add_test(tc, exitless_doorbells);
    tcase_add_test(tc, msix_interrupts);
    tcase_add_test(tc, intx_and_isr);
    tcase_add_test(tc, isr_read_races_notify);
    tcase_add_test(tc, bar_move_trapped);
    tcase_add_test(tc, bar_move_exitless);
    tcase_add_test(tc, machine_reset);
    tcase_add_loop_test(tc, hostile_guest, 0, 4);
    tcase_add_loop_test(tc, virtio_net_control_command, 0, 2);
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
