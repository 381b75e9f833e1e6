/* MSI-X vector eventfds (vdev_pci_msix_vector_eventfd): written by "another process" (here
 * the test), they raise the vector while it is live and pend while it is not, with the
 * embedder's irqfds (fake KVM) and without them (the core's event thread). */
#include <check.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <vdev/pci.h>

#include "fake_embedder.h"

#define ECAM 0xe0000000ull
#define TBL  0x0u
#define PBA  0x800u
#define MSG  0x4051u

struct mx {
    struct vdev_pci_func *f;
    unsigned on, off; /* msix_changed calls */
};

static uint64_t mx_read(void *opaque, uint64_t off, unsigned size)
{
    (void)opaque, (void)off, (void)size;
    return 0;
}

static void mx_write(void *opaque, uint64_t off, unsigned size, uint64_t v)
{
    (void)opaque, (void)off, (void)size, (void)v;
}

static const struct vdev_region_ops mx_ops = {
    .size = sizeof(struct vdev_region_ops), .read = mx_read, .write = mx_write};

static void mx_changed(void *opaque, bool enabled)
{
    struct mx *p = opaque;
    if (enabled)
        p->on++;
    else
        p->off++;
}

static const struct vdev_pci_func_ops mx_func_ops = {.size = sizeof(struct vdev_pci_func_ops),
                                                     .msix_changed = mx_changed};

static int mx_assign(struct vdev *d)
{
    struct mx *p = vdev_state(d);
    struct vdev_err e;
    struct vdev_pci_ident id = {.vendor = 0x1234, .device = 0x5678, .class_code = 0xff0000};
    p->f = vdev_pci_func_new(d, &id, &mx_func_ops, p, &e);
    struct vdev_pci_bar b = {.size = 0x1000, .kind = VDEV_REGION_DEVICE, .ops = &mx_ops};
    if (!p->f || vdev_pci_set_bar(p->f, 4, &b, &e) || vdev_pci_msix_init(p->f, 2, 4, TBL, PBA, &e))
        return vdev_error(d, vdev_pos(d), NULL, "%s", e.msg);
    return 0;
}

static const struct vdev_type mx_type = {
    .abi_version = VDEV_ABI_VERSION,
    .type_size = sizeof(struct vdev_type),
    .name = "msixtest",
    .state_size = sizeof(struct mx),
    .places = VDEV_PLACE_PCI,
    .assign = mx_assign,
};

static struct fake_embedder fe;
static struct mx *p;
static uint64_t bar;
static unsigned cap;
static int efd;

static uint64_t rd(uint64_t addr, unsigned size)
{
    uint64_t v = 0;
    vdev_machine_access(fe.m, VDEV_SPACE_MEM, addr, size, false, &v);
    return v;
}

static void wr(uint64_t addr, unsigned size, uint64_t v)
{
    vdev_machine_access(fe.m, VDEV_SPACE_MEM, addr, size, true, &v);
}

static uint32_t cfg_rd(unsigned reg, unsigned size)
{
    return (uint32_t)rd(ECAM + (1u << 15) + reg, size);
}

static void cfg_wr(unsigned reg, unsigned size, uint32_t v)
{
    wr(ECAM + (1u << 15) + reg, size, v);
}

/* A machine with the device at slot 1, decoding, MSI-X on with vector 0 programmed but
 * still masked; efd = vector 0's eventfd. */
static void build(bool exitless)
{
    struct vdev_err err;
    ck_assert_msg(vdev_register_type(&mx_type, &err) == 0, "%s", err.msg);
    fake_machine_new(&fe);
    fe.exitless_msi = exitless;
    struct vdev_pci_host_desc h = {.ecam_base = ECAM,
                                   .buses = 1,
                                   .mmio32_base = 0xc0000000,
                                   .mmio32_size = 0x10000000,
                                   .intx_pic = "ioapic",
                                   .intx_lines = {16, 17, 18, 19}};
    ck_assert_int_eq(vdev_machine_add_pci(fe.m, &h, &err), 0);
    ck_assert_msg(fake_machine_build_string(&fe, "ram 16M vdev msixtest loc pci:0:1", &err) == 0,
                  "%s", err.msg);
    p = vdev_state(vdev_machine_device(fe.m, 0));
    for (cap = cfg_rd(0x34, 1); cap && cfg_rd(cap, 1) != 0x11; cap = cfg_rd(cap + 1, 1))
        ;
    ck_assert_uint_ne(cap, 0);
    bar = cfg_rd(0x20, 4) & ~0xfu;
    cfg_wr(4, 2, 0x6);
    efd = vdev_pci_msix_vector_eventfd(p->f, 0, &err);
    ck_assert_int_ge(efd, 0);
    ck_assert_int_eq(vdev_pci_msix_vector_eventfd(p->f, 0, &err), efd); /* the same one */
    ck_assert_int_eq(vdev_pci_msix_vector_eventfd(p->f, 2, &err), -1);
    wr(bar + TBL, 4, 0xfee00000u);
    wr(bar + TBL + 8, 4, MSG);
    cfg_wr(cap + 2, 2, 0x8000);
    ck_assert_uint_eq(p->on, 1);
}

static void teardown(void)
{
    if (fe.m)
        fake_machine_free(&fe);
}

/* What reached the guest since the last call: KVM's part (exitless) or the event thread's. */
static unsigned fired(void)
{
    unsigned before = fe.nmsi;
    if (fe.exitless_msi)
        fake_irqfd_msi_deliver(&fe);
    else
        for (int i = 0; i < 3; i++)
            vdev_machine_poll(fe.m, 5);
    for (unsigned i = before; i < fe.nmsi && i < FAKE_MAX_MSI; i++) {
        ck_assert_uint_eq(fe.msis[i].data, MSG);
        /* the requester ID rides along both ways (an ARM ITS routes by it) */
        ck_assert_uint_eq(fe.msis[i].flags, VDEV_MSI_REQUESTER_ID);
        ck_assert_uint_ne(fe.msis[i].requester_id, 0);
    }
    return fe.nmsi - before;
}

static void ring(void)
{
    uint64_t one = 1;
    ck_assert_int_eq(write(efd, &one, sizeof(one)), sizeof(one));
}

static void vector_eventfd(bool exitless)
{
    build(exitless);
    /* masked vector: parked (unbound), writes pend */
    if (exitless)
        ck_assert_uint_eq(fe.nmsi_fds, 0);
    ring();
    ck_assert_uint_eq(fired(), 0);
    wr(bar + TBL + 12, 4, 0); /* unmask: fires once */
    if (exitless)
        ck_assert_uint_eq(fe.nmsi_fds, 1);
    ck_assert_uint_eq(fired(), 1);
    ck_assert_uint_eq(fired(), 0);
    ck_assert_uint_eq(rd(bar + PBA, 8), 0);

    /* live: each write raises it; the device's own notify uses the same fd */
    ring();
    ck_assert_uint_eq(fired(), 1);
    ck_assert_int_eq(vdev_pci_msix_notify(p->f, 0), 0);
    ck_assert_uint_eq(fired(), 1);

    /* vector masked: unbound; a PBA read folds the writes into the pending bit */
    unsigned deassigns = fe.msi_deassigns;
    wr(bar + TBL + 12, 4, 1);
    if (exitless)
        ck_assert_uint_eq(fe.msi_deassigns, deassigns + 1);
    ring();
    ring();
    ck_assert_uint_eq(fired(), 0);
    ck_assert_uint_eq(rd(bar + PBA, 8), 1);
    ck_assert_uint_eq(rd(bar + PBA, 8), 1);
    ring(); /* after the fold: still one interrupt */
    wr(bar + TBL + 12, 4, 0);
    ck_assert_uint_eq(fired(), 1);
    ck_assert_uint_eq(rd(bar + PBA, 8), 0);

    /* function mask: the same */
    cfg_wr(cap + 2, 2, 0xc000);
    ring();
    ck_assert_uint_eq(fired(), 0);
    cfg_wr(cap + 2, 2, 0x8000);
    ck_assert_uint_eq(fired(), 1);
    ck_assert_uint_eq(p->on, 1); /* the mask is not an enable change */

    /* MSI-X off: nothing, not even a pending bit, and nothing when it comes back on */
    cfg_wr(cap + 2, 2, 0);
    ck_assert_uint_eq(p->off, 1);
    ring();
    ck_assert_uint_eq(fired(), 0);
    ck_assert_uint_eq(rd(bar + PBA, 8), 0);
    ring();
    cfg_wr(cap + 2, 2, 0x8000);
    ck_assert_uint_eq(p->on, 2);
    ck_assert_uint_eq(fired(), 0);
    ring();
    ck_assert_uint_eq(fired(), 1);
    /* the same when MSI-X comes back on function-masked (as Linux does) */
    cfg_wr(cap + 2, 2, 0);
    ring();
    cfg_wr(cap + 2, 2, 0xc000);
    cfg_wr(cap + 2, 2, 0x8000);
    ck_assert_uint_eq(fired(), 0);

    /* reprogrammed while parked: the new message when bound again */
    wr(bar + TBL + 12, 4, 1);
    wr(bar + TBL, 4, 0xfee01000u);
    ring();
    wr(bar + TBL + 12, 4, 0);
    unsigned before = fe.nmsi;
    ck_assert_uint_eq(fired(), 1);
    ck_assert_uint_eq(fe.msis[before].addr, 0xfee01000u);

    /* reset turns MSI-X off: the device hears it */
    vdev_machine_reset(fe.m);
    ck_assert_uint_eq(p->off, 3);
    ring();
    ck_assert_uint_eq(fired(), 0);
}

START_TEST(vector_eventfd_with_kvm_irqfds)
{
    vector_eventfd(true);
}
END_TEST

START_TEST(vector_eventfd_on_the_event_thread)
{
    vector_eventfd(false);
}
END_TEST

/* The embedder refuses to bind the eventfd again (out of routes): the event thread takes it
 * over, and what was pending still fires once. */
START_TEST(rebind_refused_falls_back_to_the_event_thread)
{
    build(true);
    wr(bar + TBL + 12, 4, 0);
    ring();
    ck_assert_uint_eq(fired(), 1);
    wr(bar + TBL + 12, 4, 1);
    ring();
    fe.exitless_msi = false; /* from now on fake KVM says no */
    wr(bar + TBL + 12, 4, 0);
    ck_assert_uint_eq(fired(), 1);
    ring();
    ck_assert_uint_eq(fired(), 1);
    wr(bar + TBL + 12, 4, 1);
    ring();
    ck_assert_uint_eq(fired(), 0);
    ck_assert_uint_eq(rd(bar + PBA, 8), 1);
    wr(bar + TBL + 12, 4, 0);
    ck_assert_uint_eq(fired(), 1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("msix_eventfd");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, vector_eventfd_with_kvm_irqfds);
    tcase_add_test(tc, vector_eventfd_on_the_event_thread);
    tcase_add_test(tc, rebind_refused_falls_back_to_the_event_thread);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
