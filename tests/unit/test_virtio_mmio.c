/* virtio-mmio transport (version 2): a driver's view through the 0x200-byte window as
 * Linux's virtio_mmio drives it, the placement rules for a memory `loc`, and the DSDT node
 * a stock kernel binds to. */
#include <check.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acpi_tables.h"
#include "asl_check.h"
#include "fake_embedder.h"
#include <vdev/pci.h>
#include <vdev/virtio_transport.h>

#define TDEV_QUEUES   2
#define TDEV_CFG_SIZE 8
#define TDEV_QMAX     64
#define BASE          0xd0000000ull
#define GSI           10

struct tdev {
    struct vdev_virtio *vio;
    uint8_t cfg[TDEV_CFG_SIZE];
    unsigned kicks[TDEV_QUEUES];
    unsigned started, pushed;
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
    (void)opaque;
}

/* Queue 0 echoes every buffer back (a used-buffer interrupt). */
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

static const struct vdev_virtio_ops tdev_ops = {
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

static int tdev_assign(struct vdev *d)
{
    struct tdev *t = vdev_state(d);
    memcpy(t->cfg, "\x52\x54\x00\x12\x34\x56\x01\x00", TDEV_CFG_SIZE);
    struct vdev_err err;
    t->vio = vdev_virtio_attach(d, &tdev_ops, t, &err);
    if (!t->vio)
        return vdev_error(d, vdev_pos(d), NULL, "%s", err.msg);
    return 0;
}

/* Like virtio-net: PCI or memory, an optional interrupt (PCI needs none). */
static const struct vdev_type tdev_type = {
    .abi_version = VDEV_ABI_VERSION,
    .type_size = sizeof(struct vdev_type),
    .name = "vtest",
    .state_size = sizeof(struct tdev),
    .places = VDEV_PLACE_PCI | VDEV_PLACE_MEM,
    .has_intr = true,
    .intr_optional = true,
    .assign = tdev_assign,
};

static struct fake_embedder fe;
static struct tdev *dev;

static int try_build(const char *conf, struct vdev_err *err)
{
    ck_assert_int_eq(vdev_register_type(&tdev_type, err), 0);
    fake_machine_new(&fe);
    struct vdev_pci_host_desc h = {.ecam_base = 0xe0000000,
                                   .buses = 1,
                                   .cf8_ports = true,
                                   .mmio32_base = 0xc0000000,
                                   .mmio32_size = 0x10000000,
                                   .mmio64_base = 0x100000000ull,
                                   .mmio64_size = 0x100000000ull,
                                   .io_base = 0xc000,
                                   .io_size = 0x1000,
                                   .intx_pic = "ioapic",
                                   .intx_lines = {16, 17, 18, 19}};
    if (vdev_machine_add_pci(fe.m, &h, err))
        return -1;
    return fake_machine_build_string(&fe, conf, err);
}

static void build(void)
{
    struct vdev_err err;
    if (try_build("ram 0,16M vdev vtest loc 0xd0000000 intr ioapic:10", &err))
        ck_abort_msg("%s", err.msg);
    dev = vdev_state(vdev_machine_device(fe.m, 0));
}

static uint64_t rd(uint64_t off, unsigned size)
{
    uint64_t v = 0;
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_MEM, BASE + off, size, false, &v),
                     VDEV_ACCESS_OK);
    return v;
}

static void wr(uint64_t off, unsigned size, uint64_t v)
{
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_MEM, BASE + off, size, true, &v),
                     VDEV_ACCESS_OK);
}

static uint32_t r32(uint64_t off)
{
    return (uint32_t)rd(off, 4);
}

static void w32(uint64_t off, uint32_t v)
{
    wr(off, 4, v);
}

static bool fd_readable(int f)
{
    struct pollfd p = {.fd = f, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

static void run_events(void)
{
    for (int i = 0; i < 5; i++)
        vdev_machine_poll(fe.m, i == 0 ? 50 : 0);
}

#define RING(q)  (0x100000u + (q)*0x10000u)
#define DESC(q)  RING(q)
#define AVAIL(q) (RING(q) + 0x4000u)
#define USED(q)  (RING(q) + 0x8000u)

static void *gpa(uint64_t a)
{
    return (uint8_t *)fe.ram[0] + a;
}

/* virtio_mmio's probe and vm_setup_vq, for both queues. */
static void driver_init(void)
{
    w32(0x70, 0);
    w32(0x70, 1);
    w32(0x70, 3);
    w32(0x24, 0);
    w32(0x20, 1u << 5);
    w32(0x24, 1);
    w32(0x20, 1); /* VERSION_1 is bit 32 */
    w32(0x70, 0xb);
    ck_assert_uint_eq(r32(0x70), 0xb);
    for (unsigned q = 0; q < TDEV_QUEUES; q++) {
        w32(0x30, q);
        ck_assert_uint_eq(r32(0x44), 0);
        ck_assert_uint_eq(r32(0x34), TDEV_QMAX);
        w32(0x38, 16);
        w32(0x80, DESC(q));
        w32(0x84, 0);
        w32(0x90, AVAIL(q));
        w32(0x94, 0);
        w32(0xa0, USED(q));
        w32(0xa4, 0);
        w32(0x44, 1);
        ck_assert_uint_eq(r32(0x44), 1);
    }
    w32(0x70, 0xf);
}

static void offer_buffer(uint16_t n)
{
    uint8_t *desc = gpa(DESC(0)) + 16u * (n % 16);
    uint64_t addr = 0x200000 + 16u * n;
    uint32_t len = 16;
    uint16_t flags = 2, next = 0;
    memcpy(desc, &addr, 8);
    memcpy(desc + 8, &len, 4);
    memcpy(desc + 12, &flags, 2);
    memcpy(desc + 14, &next, 2);
    uint16_t *avail = gpa(AVAIL(0));
    avail[2 + n % 16] = (uint16_t)(n % 16);
    __atomic_store_n(&avail[1], (uint16_t)(n + 1), __ATOMIC_RELEASE);
}

START_TEST(identity)
{
    build();
    ck_assert_uint_eq(r32(0x000), 0x74726976);
    ck_assert_uint_eq(r32(0x004), 2);
    ck_assert_uint_eq(r32(0x008), 42);
    ck_assert_uint_eq(r32(0x00c), 0x554d4551);
    /* registers are 32-bit only: other sizes read 0 */
    ck_assert_uint_eq(rd(0x000, 2), 0);
    ck_assert_uint_eq(rd(0x001, 1), 0);
    /* the rest of the window reads 0 past the config, nothing answers past 0x200 */
    ck_assert_uint_eq(r32(0x1fc), 0);
    uint64_t v = 0;
    ck_assert_int_ne(vdev_machine_access(fe.m, VDEV_SPACE_MEM, BASE + 0x200, 4, false, &v),
                     VDEV_ACCESS_OK);
    fake_machine_free(&fe);
}
END_TEST

START_TEST(feature_windows)
{
    build();
    w32(0x14, 0);
    ck_assert_uint_eq(r32(0x10) & (1u << 5), 1u << 5);
    w32(0x14, 1);
    ck_assert_uint_eq(r32(0x10) & 1, 1); /* VIRTIO_F_VERSION_1 */
    w32(0x14, 7);
    ck_assert_uint_eq(r32(0x10), 0);
    w32(0x70, 3);
    w32(0x24, 0);
    w32(0x20, 1u << 5);
    w32(0x24, 1);
    w32(0x20, 1);
    ck_assert_uint_eq(vdev_virtio_driver_features(dev->vio, 0), 1u << 5);
    ck_assert_uint_eq(vdev_virtio_driver_features(dev->vio, 1), 1);
    w32(0x70, 0xb);
    ck_assert_uint_eq(r32(0x70), 0xb);
    /* after FEATURES_OK the driver cannot change its mind */
    w32(0x24, 0);
    w32(0x20, 0);
    ck_assert_uint_eq(vdev_virtio_driver_features(dev->vio, 0), 1u << 5);
    fake_machine_free(&fe);
}
END_TEST

START_TEST(queue_setup_and_reset)
{
    build();
    driver_init();
    ck_assert_uint_eq(dev->started, 1);
    w32(0x30, 1);
    ck_assert_uint_eq(r32(0x38), 16);
    ck_assert_uint_eq(r32(0x80), DESC(1));
    ck_assert_uint_eq(r32(0x90), AVAIL(1));
    ck_assert_uint_eq(r32(0xa0), USED(1));
    /* after DRIVER_OK the queue config is frozen */
    w32(0x80, 0x1234);
    ck_assert_uint_eq(r32(0x80), DESC(1));
    /* a queue that does not exist */
    w32(0x30, 5);
    ck_assert_uint_eq(r32(0x34), 0);
    ck_assert_uint_eq(r32(0x44), 0);
    /* a size that is not a power of two is refused */
    w32(0x70, 0);
    ck_assert_uint_eq(r32(0x70), 0);
    ck_assert_uint_eq(r32(0x30), 0);
    w32(0x38, 12);
    ck_assert_uint_eq(r32(0x38), TDEV_QMAX);
    ck_assert_uint_eq(r32(0x44), 0);
    ck_assert_uint_eq(r32(0x80), 0);
    fake_machine_free(&fe);
}
END_TEST

START_TEST(config_space_and_generation)
{
    build();
    ck_assert_uint_eq(rd(0x100, 1), 0x52);
    ck_assert_uint_eq(rd(0x100, 2), 0x5452);
    ck_assert_uint_eq(rd(0x104, 4), 0x00015634);
    ck_assert_uint_eq(rd(0x100 + TDEV_CFG_SIZE, 4), 0);
    wr(0x105, 1, 0x99);
    ck_assert_uint_eq(dev->cfg[5], 0x99);
    driver_init();
    uint32_t g = r32(0xfc);
    vdev_virtio_config_changed(dev->vio);
    ck_assert_uint_ne(r32(0xfc), g);
    ck_assert_uint_eq(r32(0x60), 2); /* config change */
    ck_assert(fe.gsi_level[GSI]);
    w32(0x64, 2);
    ck_assert_uint_eq(r32(0x60), 0);
    ck_assert(!fe.gsi_level[GSI]);
    fake_machine_free(&fe);
}
END_TEST

START_TEST(doorbell_matches_queue_index)
{
    build();
    driver_init();
    /* Each queue's doorbell rings only for its own index. */
    w32(0x50, 1);
    ck_assert(fd_readable(vdev_virtio_kick_fd(dev->vio, 1)));
    ck_assert(!fd_readable(vdev_virtio_kick_fd(dev->vio, 0)));
    run_events();
    ck_assert_uint_eq(dev->kicks[1], 1);
    ck_assert_uint_eq(dev->kicks[0], 0);
    /* an index out of range rings nothing */
    w32(0x50, 7);
    run_events();
    ck_assert_uint_eq(dev->kicks[0] + dev->kicks[1], 1);
    fake_machine_free(&fe);
}
END_TEST

START_TEST(used_buffer_level_line)
{
    build();
    driver_init();
    ck_assert(!fe.gsi_level[GSI]);
    offer_buffer(0);
    w32(0x50, 0);
    run_events();
    ck_assert_uint_eq(dev->pushed, 1);
    ck_assert_uint_eq(r32(0x60), 1);
    ck_assert(fe.gsi_level[GSI]);
    unsigned raises = fe.gsi_raises[GSI];
    /* acking another bit keeps the line up */
    w32(0x64, 2);
    ck_assert(fe.gsi_level[GSI]);
    /* a second buffer while asserted: no new edge, still one bit */
    offer_buffer(1);
    w32(0x50, 0);
    run_events();
    ck_assert_uint_eq(dev->pushed, 2);
    ck_assert_uint_eq(fe.gsi_raises[GSI], raises);
    w32(0x64, 1);
    ck_assert_uint_eq(r32(0x60), 0);
    ck_assert(!fe.gsi_level[GSI]);
    /* reset drops a pending interrupt */
    vdev_virtio_config_changed(dev->vio);
    ck_assert(fe.gsi_level[GSI]);
    w32(0x70, 0);
    ck_assert_uint_eq(r32(0x60), 0);
    ck_assert(!fe.gsi_level[GSI]);
    fake_machine_free(&fe);
}
END_TEST

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

START_TEST(hostile_guest)
{
    build();
    rnd_state += (uint64_t)_i * 7919;
    driver_init();
    for (unsigned i = 0; i < 20000; i++) {
        uint64_t r = rnd();
        unsigned size = 1u << (r & 3);
        uint64_t v = rnd();
        if (!(r & 0x100))
            v &= 0xff;
        uint64_t off = (r >> 12) & 0x1ff;
        if (r & 0x200)
            off &= 0xfc;
        if (off + size > 0x200)
            off = 0x200 - size;
        vdev_machine_access(fe.m, VDEV_SPACE_MEM, BASE + off, size, (r >> 2) & 1, &v);
        if ((r & 0xf000000) == 0)
            ((uint8_t *)gpa(RING(rnd() & 1)))[rnd() & 0xffff] = (uint8_t)v;
        if ((i & 255) == 0)
            vdev_machine_poll(fe.m, 0);
    }
    ck_assert_uint_eq(r32(0), 0x74726976);
    fake_machine_free(&fe);
}
END_TEST

static void expect_refused(const char *conf, const char *const *parts)
{
    struct vdev_err err;
    ck_assert_int_ne(try_build(conf, &err), 0);
    for (; *parts; parts++)
        ck_assert_msg(strstr(err.msg, *parts), "'%s' lacks '%s'", err.msg, *parts);
    fake_machine_free(&fe);
}

START_TEST(placement_errors)
{
    expect_refused("ram 0,16M\nvdev vtest loc 0xd0000000",
                   (const char *const[]){":2", "needs 'intr'", "hint", NULL});
    expect_refused("ram 0,16M vdev vtest loc 0x800000 intr ioapic:10",
                   (const char *const[]){"overlaps", "ram", NULL});
    expect_refused("ram 0,16M vdev vtest loc 0xc0001000 intr ioapic:10",
                   (const char *const[]){"vtest", "PCI 32-bit memory window", NULL});
    expect_refused("ram 0,16M vdev vtest loc 0xe0000000 intr ioapic:10",
                   (const char *const[]){"overlaps", "pci ecam", NULL});
    expect_refused("ram 0,16M vdev vtest loc 0xfec00000 intr ioapic:10",
                   (const char *const[]){"overlaps", "ioapic", NULL});
    expect_refused("ram 0,16M vdev vtest loc 0xd0000000 intr ioapic:10 "
                   "vdev vtest loc 0xd0000100 intr ioapic:11",
                   (const char *const[]){"overlaps", "vtest", NULL});
    expect_refused("ram 0,16M vdev vtest loc 0xd0000000,0x1000 intr ioapic:10",
                   (const char *const[]){"length", "0x200", NULL});
}
END_TEST

START_TEST(pci_and_mmio_side_by_side)
{
    struct vdev_err err;
    if (try_build("ram 0,16M vdev vtest vdev vtest loc 0xd0000000 intr ioapic:10", &err))
        ck_abort_msg("%s", err.msg);
    dev = vdev_state(vdev_machine_device(fe.m, 1));
    ck_assert_uint_eq(r32(0x000), 0x74726976);
    fake_machine_free(&fe);
}
END_TEST

static const uint8_t *find_table(const uint8_t *xsdt, uint8_t *area, uint64_t gpa_, const char *sig)
{
    uint32_t len = (uint32_t)xsdt[4] | (uint32_t)xsdt[5] << 8;
    for (uint32_t off = 36; off + 8 <= len; off += 8) {
        uint64_t a;
        memcpy(&a, xsdt + off, 8);
        if (!memcmp(area + (a - gpa_), sig, 4))
            return area + (a - gpa_);
    }
    return NULL;
}

START_TEST(dsdt_node)
{
    struct vdev_err err;
    if (try_build("ram 0,16M vdev vtest vdev vtest loc 0xd0000000 intr ioapic:10", &err))
        ck_abort_msg("%s", err.msg);
    static uint8_t area[0x10000];
    struct x86_acpi_config c;
    x86_acpi_config_init(&c, 1);
    uint64_t rsdp;
    size_t used;
    const uint64_t base = 0x80000;
    ck_assert_msg(x86_acpi_build(fe.m, &c, area, base, sizeof(area), &rsdp, &used, &err) == 0, "%s",
                  err.msg);
    uint64_t xsdt_gpa, x_dsdt;
    memcpy(&xsdt_gpa, area + (rsdp - base) + 24, 8);
    const uint8_t *fadt = find_table(area + (xsdt_gpa - base), area, base, "FACP");
    ck_assert_ptr_nonnull(fadt);
    memcpy(&x_dsdt, fadt + 140, 8);
    const uint8_t *dsdt = area + (x_dsdt - base);
    char tmpdir[64];
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_vmmio_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    uint32_t len;
    memcpy(&len, dsdt + 4, 4);
    const char *dsl = asl_disassemble(tmpdir, "dsdt", dsdt, len);
    asl_must_contain(dsl, "Device (VR01)");
    asl_must_contain(dsl, "Name (_HID, \"LNRO0005\")");
    asl_must_contain(dsl, "Name (_UID, One)");
    asl_must_contain(dsl, "Name (_CCA, One)");
    asl_must_contain(dsl, "Memory32Fixed (ReadWrite, 0xD0000000, // Address Base "
                          "0x00000200, // Address Length");
    asl_must_contain(dsl, "Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive, ,, )");
    asl_must_contain(dsl, "0x0000000A,");
    /* the PCI one has no such node */
    ck_assert_ptr_null(strstr(dsl, "VR00"));
    fake_machine_free(&fe);
}
END_TEST

static Suite *vmmio_suite(void)
{
    Suite *s = suite_create("virtio_mmio");
    TCase *tc = tcase_create("registers");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, identity);
    tcase_add_test(tc, feature_windows);
    tcase_add_test(tc, queue_setup_and_reset);
    tcase_add_test(tc, config_space_and_generation);
    tcase_add_test(tc, doorbell_matches_queue_index);
    tcase_add_test(tc, used_buffer_level_line);
    tcase_add_loop_test(tc, hostile_guest, 0, 3);
    suite_add_tcase(s, tc);
    TCase *pl = tcase_create("placement");
    tcase_add_test(pl, placement_errors);
    tcase_add_test(pl, pci_and_mmio_side_by_side);
    tcase_add_test(pl, dsdt_node);
    suite_add_tcase(s, pl);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(vmmio_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
