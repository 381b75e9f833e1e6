/* The PCI core's MSI capability (vdev_pci_msi_init): what the guest sees and programs, the
 * vectors it enables, their eventfds written by "another process" (the test) with the
 * embedder's irqfds (fake KVM) and without (the core's event thread), and reset. */
#include <check.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <vdev/pci.h>

#include "fake_embedder.h"

#define ECAM 0xe0000000ull
#define NVEC 4

struct mt {
    struct vdev_pci_func *f;
    int efd[NVEC];
    unsigned changes, last; /* msi_changed calls, the last count */
};

static void mt_changed(void *opaque, unsigned vectors)
{
    struct mt *p = opaque;
    p->changes++;
    p->last = vectors;
}

static const struct vdev_pci_func_ops mt_ops = {.size = sizeof(struct vdev_pci_func_ops),
                                                .msi_changed = mt_changed};

static int mt_assign(struct vdev *d)
{
    struct mt *p = vdev_state(d);
    struct vdev_err e;
    struct vdev_pci_ident id = {.vendor = 0x1234, .device = 0x5679, .class_code = 0xff0000};
    p->f = vdev_pci_func_new(d, &id, &mt_ops, p, &e);
    ck_assert_ptr_nonnull(p->f);
    ck_assert_int_eq(vdev_pci_msi_init(p->f, 3, &e), -1); /* not a power of two */
    ck_assert_int_eq(vdev_pci_msi_init(p->f, 64, &e), -1);
    ck_assert_int_eq(vdev_pci_msi_init(p->f, NVEC, &e), 0);
    ck_assert_int_eq(vdev_pci_msi_init(p->f, NVEC, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "twice"));
    for (unsigned v = 0; v < NVEC; v++)
        ck_assert_int_ge(p->efd[v] = vdev_pci_msi_vector_eventfd(p->f, v, &e), 0);
    ck_assert_int_eq(vdev_pci_msi_vector_eventfd(p->f, NVEC, &e), -1);
    return 0;
}

static const struct vdev_type mt_type = {
    .abi_version = VDEV_ABI_VERSION,
    .type_size = sizeof(struct vdev_type),
    .name = "msitest",
    .state_size = sizeof(struct mt),
    .places = VDEV_PLACE_PCI,
    .assign = mt_assign,
};

static struct fake_embedder fe;
static struct mt *p;
static unsigned cap;

static uint32_t cfg_rd(unsigned reg, unsigned size)
{
    uint64_t v = 0;
    vdev_machine_access(fe.m, VDEV_SPACE_MEM, ECAM + (1u << 15) + reg, size, false, &v);
    return (uint32_t)v;
}

static void cfg_wr(unsigned reg, unsigned size, uint32_t v)
{
    uint64_t val = v;
    vdev_machine_access(fe.m, VDEV_SPACE_MEM, ECAM + (1u << 15) + reg, size, true, &val);
}

static void build(bool exitless)
{
    struct vdev_err err;
    vdev_register_type(&mt_type, &err); /* once per process */
    fake_machine_new(&fe);
    fe.exitless_msi = exitless;
    struct vdev_pci_host_desc h = {.ecam_base = ECAM,
                                   .buses = 1,
                                   .mmio32_base = 0xc0000000,
                                   .mmio32_size = 0x10000000,
                                   .intx_pic = "ioapic",
                                   .intx_lines = {16, 17, 18, 19}};
    ck_assert_int_eq(vdev_machine_add_pci(fe.m, &h, &err), 0);
    ck_assert_msg(fake_machine_build_string(&fe, "ram 16M vdev msitest loc pci:0:1", &err) == 0,
                  "%s", err.msg);
    p = vdev_state(vdev_machine_device(fe.m, 0));
    for (cap = cfg_rd(0x34, 1); cap && cfg_rd(cap, 1) != 0x05; cap = cfg_rd(cap + 1, 1))
        ;
    ck_assert_uint_ne(cap, 0);
}

static void teardown(void)
{
    if (fe.m)
        fake_machine_free(&fe);
}

/* The data of each MSI that reached the guest since the last call, in `data`. */
static unsigned fired(uint32_t *data)
{
    unsigned before = fe.nmsi;
    if (fe.exitless_msi)
        fake_irqfd_msi_deliver(&fe);
    else
        for (int i = 0; i < 3; i++)
            vdev_machine_poll(fe.m, 5);
    for (unsigned i = before; i < fe.nmsi && i < FAKE_MAX_MSI; i++) {
        ck_assert_uint_eq(fe.msis[i].addr, 0xfee01000u);
        ck_assert_uint_eq(fe.msis[i].flags, VDEV_MSI_REQUESTER_ID);
        if (data)
            data[i - before] = fe.msis[i].data;
    }
    return fe.nmsi - before;
}

static void ring(unsigned v)
{
    uint64_t one = 1;
    ck_assert_int_eq(write(p->efd[v], &one, sizeof(one)), sizeof(one));
}

static void msi_vectors(bool exitless)
{
    build(exitless);
    /* 64-bit, 4 vectors capable (MMC 2), off */
    ck_assert_uint_eq(cfg_rd(cap + 2, 2), 0x0084);
    ck_assert_uint_eq(vdev_pci_msi_enabled(p->f), 0);
    ring(0); /* while MSI is off: pends, then dropped when it comes on */
    ck_assert_uint_eq(fired(NULL), 0);
    cfg_wr(cap + 4, 4, 0xfee01003); /* the low two bits are not writable */
    ck_assert_uint_eq(cfg_rd(cap + 4, 4), 0xfee01000);
    cfg_wr(cap + 8, 4, 0);
    cfg_wr(cap + 12, 2, 0x4061);
    /* two vectors enabled (MME 1): data 0x4060 and 0x4061 */
    cfg_wr(cap + 2, 2, 0x0011);
    ck_assert_uint_eq(p->changes, 1);
    ck_assert_uint_eq(p->last, 2);
    ck_assert_uint_eq(vdev_pci_msi_enabled(p->f), 2);
    ck_assert_uint_eq(cfg_rd(cap + 2, 2), 0x0095); /* MMC read-only */
    ck_assert_uint_eq(fired(NULL), 0);             /* the write made while off is gone */
    if (exitless)
        ck_assert_uint_eq(fe.nmsi_fds, 2);
    uint32_t data[8];
    ring(1);
    ck_assert_uint_eq(fired(data), 1);
    ck_assert_uint_eq(data[0], 0x4061);
    ring(0);
    ck_assert_uint_eq(fired(data), 1);
    ck_assert_uint_eq(data[0], 0x4060);
    ring(3); /* past the enabled count: nothing */
    ck_assert_uint_eq(fired(NULL), 0);
    ck_assert_int_eq(vdev_pci_msi_notify(p->f, 1), 0); /* the device's own notify */
    ck_assert_uint_eq(fired(data), 1);
    ck_assert_uint_eq(data[0], 0x4061);
    ck_assert_int_eq(vdev_pci_msi_notify(p->f, 2), -1);
    /* the guest moves the message while enabled: the irqfds follow */
    cfg_wr(cap + 12, 2, 0x5070);
    ring(1);
    ck_assert_uint_eq(fired(data), 1);
    ck_assert_uint_eq(data[0], 0x5071);
    /* off: unbound, nothing fires; a reset turns it off too */
    cfg_wr(cap + 2, 2, 0);
    ck_assert_uint_eq(p->last, 0);
    ring(0);
    ck_assert_uint_eq(fired(NULL), 0);
    cfg_wr(cap + 2, 2, 0x0021); /* 4 vectors */
    ck_assert_uint_eq(p->last, 4);
    ck_assert_uint_eq(fired(NULL), 0);
    ring(3);
    ck_assert_uint_eq(fired(data), 1);
    ck_assert_uint_eq(data[0], 0x5073);
    unsigned changes = p->changes;
    vdev_machine_reset(fe.m);
    ck_assert_uint_eq(p->changes, changes + 1);
    ck_assert_uint_eq(p->last, 0);
    ck_assert_uint_eq(cfg_rd(cap + 2, 2), 0x0084);
    ck_assert_uint_eq(cfg_rd(cap + 12, 2), 0);
    ring(0);
    ck_assert_uint_eq(fired(NULL), 0);
}

START_TEST(msi_with_irqfds)
{
    msi_vectors(true);
}
END_TEST

START_TEST(msi_through_the_event_thread)
{
    msi_vectors(false);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pci_msi");
    TCase *tc = tcase_create("msi");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, msi_with_irqfds);
    tcase_add_test(tc, msi_through_the_event_thread);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
