/* vdev shmem: the guest_shm factory page, control pages and interrupts, driven as guests
 * do, with two machines in one process sharing regions (PCI and MMIO). */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fake_embedder.h"
#include "shm_test_util.h"
#include "shmem_dev.h"
#include <vdev/pci.h>

extern const struct vdev_type vdev_module_shmem;

#define MMIO64_BASE 0x100000000ull
#define INTX_GSI0   16
#define MMIO_LOC    0xd1000000ull
#define MMIO_GSI    11
#define PAGE        4096u

/* One guest: its machine and what it found of the device. */
struct guest {
    struct fake_embedder fe;
    bool pci;
    unsigned bdf;
    uint64_t factory, window;
    uint32_t gsi;
};

static struct guest ga, gb;
static char prefix[24];   /* unique region names per test process */
static bool exitless_msi; /* the guests' embedders bind MSI irqfds (fake KVM) */

static void setup(void)
{
    snprintf(prefix, sizeof(prefix), "t%d", (int)getpid());
    exitless_msi = false;
    struct vdev_err err;
    ck_assert_int_eq(vdev_register_type(&vdev_module_shmem, &err), 0);
}

static void teardown(void)
{
    if (ga.fe.m)
        fake_machine_free(&ga.fe);
    if (gb.fe.m)
        fake_machine_free(&gb.fe);
}

static uint64_t acc(struct guest *g, enum vdev_space sp, uint64_t addr, unsigned size, bool wr,
                    uint64_t v)
{
    enum vdev_access_result r = vdev_machine_access(g->fe.m, sp, addr, size, wr, &v);
    ck_assert_msg(r == VDEV_ACCESS_OK, "access 0x%llx/%u: %d", (unsigned long long)addr, size,
                  (int)r);
    return v;
}

static uint64_t cfg_rd(struct guest *g, unsigned reg, unsigned size)
{
    acc(g, VDEV_SPACE_IO, 0xcf8, 4, true, 0x80000000u | g->bdf << 8 | (reg & 0xfc));
    return acc(g, VDEV_SPACE_IO, 0xcfc + (reg & 3), size, false, 0);
}

static void cfg_wr(struct guest *g, unsigned reg, unsigned size, uint64_t v)
{
    acc(g, VDEV_SPACE_IO, 0xcf8, 4, true, 0x80000000u | g->bdf << 8 | (reg & 0xfc));
    acc(g, VDEV_SPACE_IO, 0xcfc + (reg & 3), size, true, v);
}

static uint64_t mrd(struct guest *g, uint64_t a, unsigned size)
{
    return acc(g, VDEV_SPACE_MEM, a, size, false, 0);
}

static void mwr(struct guest *g, uint64_t a, unsigned size, uint64_t v)
{
    acc(g, VDEV_SPACE_MEM, a, size, true, v);
}

static uint64_t bar(struct guest *g, unsigned i)
{
    uint32_t lo = (uint32_t)cfg_rd(g, 0x10 + 4 * i, 4);
    uint64_t a = lo & ~0xfu;
    if ((lo & 0x6) == 0x4)
        a |= (uint64_t)cfg_rd(g, 0x14 + 4 * i, 4) << 32;
    return a;
}

static int try_build(struct guest *g, const char *conf, struct vdev_err *err)
{
    memset(g, 0, sizeof(*g));
    fake_machine_new(&g->fe);
    g->fe.exitless_msi = exitless_msi;
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
    if (vdev_machine_add_pci(g->fe.m, &h, err))
        return -1;
    return fake_machine_build_string(&g->fe, conf, err);
}

/* A guest with `vdev shmem OPTS`: on PCI (found and enabled as a driver does) or at
 * MMIO_LOC. */
static void boot(struct guest *g, bool pci, const char *opts)
{
    char conf[512];
    struct vdev_err err;
    if (pci)
        snprintf(conf, sizeof(conf), "ram 0,16M vdev shmem %s", opts);
    else
        snprintf(conf, sizeof(conf), "ram 0,16M vdev shmem loc 0x%llx intr ioapic:%d %s",
                 (unsigned long long)MMIO_LOC, MMIO_GSI, opts);
    if (try_build(g, conf, &err))
        ck_abort_msg("%s", err.msg);
    g->pci = pci;
    if (!pci) {
        g->factory = MMIO_LOC;
        g->gsi = MMIO_GSI;
        return;
    }
    bool found = false;
    for (unsigned d = 0; d < 32 && !found; d++) {
        g->bdf = d << 3;
        found = cfg_rd(g, 0, 4) == 0x00011c05;
    }
    ck_assert_msg(found, "no 1c05:0001 function");
    ck_assert_uint_eq(cfg_rd(g, 0x3d, 1), 1); /* INTA */
    g->gsi = (uint32_t)cfg_rd(g, 0x3c, 1);
    g->factory = bar(g, 0);
    g->window = bar(g, 2);
    ck_assert_uint_eq(cfg_rd(g, 0x10, 4) & 0xf, 0x0); /* 32-bit memory */
    ck_assert_uint_eq(cfg_rd(g, 0x18, 4) & 0xf, 0xc); /* 64-bit prefetchable */
    cfg_wr(g, 0x04, 2, cfg_rd(g, 0x04, 2) | 0x2);     /* memory decode */
}

static void set_name(struct guest *g, const char *name)
{
    /* byte by byte, as a careful driver does */
    for (unsigned i = 0; i < SHMEM_NAME_FIELD; i++)
        mwr(g, g->factory + SHMEM_F_NAME + i, 1, i < strlen(name) ? (uint8_t)name[i] : 0);
}

static const char *rname(const char *suffix)
{
    static char buf[4][SHMEM_NAME_FIELD];
    static unsigned n;
    char *b = buf[n++ % 4];
    snprintf(b, SHMEM_NAME_FIELD, "%s%s", prefix, suffix);
    return b;
}

/* create-or-attach: returns the status; *ctl gets `shmem` */
static uint32_t create(struct guest *g, const char *name, uint32_t pages, uint64_t *ctl)
{
    set_name(g, name);
    mwr(g, g->factory + SHMEM_F_SIZE, 4, pages);
    uint32_t st = (uint32_t)mrd(g, g->factory + SHMEM_F_STATUS, 4);
    if (ctl)
        *ctl = mrd(g, g->factory + SHMEM_F_SHMEM, 8);
    return st;
}

static uint32_t find(struct guest *g, const char *name, uint64_t *ctl)
{
    set_name(g, name);
    mwr(g, g->factory + SHMEM_F_FIND, 4, 1);
    uint32_t st = (uint32_t)mrd(g, g->factory + SHMEM_F_STATUS, 4);
    if (ctl)
        *ctl = mrd(g, g->factory + SHMEM_F_SHMEM, 8);
    return st;
}

static bool line(struct guest *g)
{
    return g->fe.gsi_level[g->gsi];
}

/* Notifications arrive on the host object's watcher thread. */
static bool wait_line(struct guest *g, bool want)
{
    for (int i = 0; i < 400; i++) {
        if (line(g) == want)
            return true;
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    }
    return line(g) == want;
}

/* ---- tests ---- */

START_TEST(pci_signature_and_vector)
{
    boot(&ga, true, "");
    ck_assert_uint_eq(mrd(&ga, ga.factory, 8), SHMEM_SIGNATURE);
    ck_assert_uint_eq(mrd(&ga, ga.factory, 4), 0x474d5651u); /* "QVMG" */
    ck_assert_uint_eq(mrd(&ga, ga.factory + 4, 4), 0x4d534732u);
    ck_assert_uint_eq(mrd(&ga, ga.factory + 1, 1), 'V'); /* odd bytes are harmless */
    ck_assert_uint_eq(mrd(&ga, ga.factory + SHMEM_F_VECTOR, 4), ga.gsi);
    ck_assert_uint_ge(ga.gsi, INTX_GSI0);
    ck_assert_uint_eq(mrd(&ga, ga.factory + SHMEM_F_SHMEM, 8), 0);
    ck_assert_uint_eq(mrd(&ga, ga.factory + SHMEM_F_STATUS, 4), SHM_OK);
    ck_assert_uint_eq(mrd(&ga, ga.factory + 0x800, 4), 0);
    ck_assert_uint_ge(ga.window, MMIO64_BASE);
}
END_TEST

START_TEST(mmio_signature_and_vector)
{
    boot(&ga, false, "");
    ck_assert_uint_eq(mrd(&ga, MMIO_LOC, 8), SHMEM_SIGNATURE);
    ck_assert_uint_eq(mrd(&ga, MMIO_LOC + SHMEM_F_VECTOR, 4), MMIO_GSI);
}
END_TEST

/* Two machines, one region: same bytes, first creator decides the size, indexes 0 and 1. */
static void share(bool pci_a, bool pci_b)
{
    boot(&ga, pci_a, "");
    boot(&gb, pci_b, "");
    const char *name = rname("share");
    uint64_t ca, cb;
    ck_assert_uint_eq(create(&ga, name, 4, &ca), SHM_OK);
    ck_assert_uint_eq(mrd(&ga, ga.factory + SHMEM_F_SIZE, 4), 4);
    if (pci_a)
        ck_assert_uint_eq(ca, ga.window);
    ck_assert_uint_eq(mrd(&ga, ca + SHMEM_C_IDX, 4), 0);
    mwr(&ga, ca + PAGE, 8, 0x1122334455667788ull);
    mwr(&ga, ca + 4 * PAGE + PAGE - 4, 4, 0xcafef00d); /* the last data word */

    ck_assert_uint_eq(create(&gb, name, 64, &cb), SHM_OK);
    ck_assert_uint_eq(mrd(&gb, gb.factory + SHMEM_F_SIZE, 4), 4); /* the creator's size */
    ck_assert_uint_eq(mrd(&gb, cb + SHMEM_C_IDX, 4), 1);
    ck_assert_uint_eq(mrd(&gb, cb + PAGE, 8), 0x1122334455667788ull);
    ck_assert_uint_eq(mrd(&gb, cb + 4 * PAGE + PAGE - 4, 4), 0xcafef00d);
    mwr(&gb, cb + 2 * PAGE, 4, 0xabcd);
    ck_assert_uint_eq(mrd(&ga, ca + 2 * PAGE, 4), 0xabcd);
    /* past the region: nothing */
    uint64_t v = 0;
    ck_assert_int_eq(vdev_machine_access(gb.fe.m, VDEV_SPACE_MEM, cb + 5 * PAGE, 4, false, &v),
                     VDEV_ACCESS_UNMAPPED);

    /* B's attach is news for A: its line rises; the status read shows both and clears. */
    ck_assert(wait_line(&ga, true));
    ck_assert_uint_eq(mrd(&ga, ca + SHMEM_C_STATUS, 4), 0x30000);
    ck_assert(!line(&ga));
    ck_assert(!line(&gb));

    /* B notifies everyone but itself. */
    mwr(&gb, cb + SHMEM_C_NOTIFY, 4, 0xffffffff);
    ck_assert(wait_line(&ga, true));
    ck_assert(!line(&gb));
    ck_assert_uint_eq(mrd(&ga, ca + SHMEM_C_STATUS, 4), 0x30002);
    ck_assert(!line(&ga));
    ck_assert_uint_eq(mrd(&ga, ca + SHMEM_C_STATUS, 4), 0x30000); /* read to clear */

    /* A notifies B by its bit; two notifications before the read accumulate as one bit. */
    mwr(&ga, ca + SHMEM_C_NOTIFY, 4, 1u << 1);
    mwr(&ga, ca + SHMEM_C_NOTIFY, 4, 1u << 1);
    ck_assert(wait_line(&gb, true));
    ck_assert_uint_eq(mrd(&gb, cb + SHMEM_C_STATUS, 4), 0x30001);
    ck_assert(wait_line(&gb, false));

    /* Naming my own bit notifies me. */
    mwr(&gb, cb + SHMEM_C_NOTIFY, 4, 1u << 1);
    ck_assert(wait_line(&gb, true));
    ck_assert_uint_eq(mrd(&gb, cb + SHMEM_C_STATUS, 4), 0x30002);
    ck_assert(!line(&gb));
    ck_assert(!line(&ga));

    /* B detaches: A is told, B loses the pages. */
    mwr(&gb, cb + SHMEM_C_DETACH, 4, 1);
    ck_assert_int_eq(vdev_machine_access(gb.fe.m, VDEV_SPACE_MEM, cb + PAGE, 4, false, &v),
                     VDEV_ACCESS_UNMAPPED);
    ck_assert_int_eq(vdev_machine_access(gb.fe.m, VDEV_SPACE_MEM, cb, 4, false, &v),
                     VDEV_ACCESS_UNMAPPED);
    ck_assert(wait_line(&ga, true));
    ck_assert_uint_eq(mrd(&ga, ca + SHMEM_C_STATUS, 4), 0x10000);
    ck_assert(!line(&ga));
    ck_assert(!line(&gb));
}

START_TEST(pci_share_notify_detach)
{
    share(true, true);
}
END_TEST

START_TEST(mmio_share_with_pci)
{
    share(false, true);
}
END_TEST

START_TEST(find_and_status_codes)
{
    boot(&ga, true, "window 64K");
    ck_assert_uint_eq(find(&ga, rname("absent"), NULL), SHM_DOES_NOT_EXIST);
    ck_assert_uint_eq(create(&ga, "", 1, NULL), SHM_ILLEGAL_NAME);
    ck_assert_uint_eq(create(&ga, "a/b", 1, NULL), SHM_ILLEGAL_NAME);
    ck_assert_uint_eq(create(&ga, "..", 1, NULL), SHM_ILLEGAL_NAME);
    ck_assert_uint_eq(create(&ga, "a\x01", 1, NULL), SHM_ILLEGAL_NAME);
    for (unsigned i = 0; i < SHMEM_NAME_FIELD; i++) /* no NUL in the field */
        mwr(&ga, ga.factory + SHMEM_F_NAME + i, 1, 'x');
    mwr(&ga, ga.factory + SHMEM_F_SIZE, 4, 1);
    ck_assert_uint_eq(mrd(&ga, ga.factory + SHMEM_F_STATUS, 4), SHM_ILLEGAL_NAME);
    /* 64 KiB window: 15 data pages at most */
    ck_assert_uint_eq(create(&ga, rname("big"), 16, NULL), SHM_NO_MEMORY);
    ck_assert_uint_eq(find(&ga, rname("big"), NULL), SHM_DOES_NOT_EXIST);
    /* size 0 only attaches */
    ck_assert_uint_eq(create(&ga, rname("zero"), 0, NULL), SHM_DOES_NOT_EXIST);
    uint64_t c1, c2;
    ck_assert_uint_eq(create(&ga, rname("r1"), 7, &c1), SHM_OK);
    ck_assert_uint_eq(find(&ga, rname("r1"), &c2), SHM_OK); /* a second connection */
    ck_assert_uint_eq(c2, c1 + 8 * PAGE);
    ck_assert_uint_eq(mrd(&ga, c2 + SHMEM_C_IDX, 4), 1);
    ck_assert_uint_eq(create(&ga, rname("r2"), 1, NULL), SHM_NO_MEMORY); /* window full */
    mwr(&ga, c1 + SHMEM_C_DETACH, 4, 0);
    ck_assert_uint_eq(create(&ga, rname("r2"), 7, &c1), SHM_OK); /* first fit: the hole */
    ck_assert_uint_eq(c1, ga.window);
}
END_TEST

START_TEST(seventeenth_client)
{
    boot(&ga, true, "");
    uint64_t c;
    for (unsigned i = 0; i < 16; i++) {
        ck_assert_uint_eq(create(&ga, rname("many"), 1, &c), SHM_OK);
        ck_assert_uint_eq(mrd(&ga, c + SHMEM_C_IDX, 4), i);
    }
    ck_assert_uint_eq(create(&ga, rname("many"), 1, NULL), SHM_CLIENT_MAX);
    ck_assert_uint_eq(mrd(&ga, c + SHMEM_C_STATUS, 4) >> 16, 0xffff);
    mwr(&ga, c + SHMEM_C_DETACH, 4, 0);
    ck_assert_uint_eq(create(&ga, rname("many"), 1, &c), SHM_OK);
    ck_assert_uint_eq(mrd(&ga, c + SHMEM_C_IDX, 4), 15);
}
END_TEST

START_TEST(denied_name)
{
    char opts[128];
    snprintf(opts, sizeof(opts), "deny %sno allow %s*", prefix, prefix);
    boot(&ga, true, opts);
    ck_assert_uint_eq(create(&ga, rname("no"), 1, NULL), SHM_NO_PERMISSION);
    ck_assert_uint_eq(find(&ga, rname("no"), NULL), SHM_NO_PERMISSION);
    ck_assert_uint_eq(create(&ga, "other", 1, NULL), SHM_NO_PERMISSION);
    ck_assert_uint_eq(create(&ga, rname("yes"), 1, NULL), SHM_OK);
    /* a guest retrying in a loop does not flood the log */
    set_name(&ga, "other");
    for (unsigned i = 0; i < 200; i++)
        mwr(&ga, ga.factory + SHMEM_F_SIZE, 4, 1);
    unsigned n = 0;
    for (const char *p = ga.fe.log; (p = strstr(p, "denied by")); p++)
        n++;
    ck_assert_uint_le(n, 32);
    ck_assert_ptr_nonnull(strstr(ga.fe.log, "further refusals are not logged"));
}
END_TEST

/* Permissions look at the guest's name; subst only changes what the host sees. */
START_TEST(subst_shares_under_the_host_name)
{
    char opts[128];
    snprintf(opts, sizeof(opts), "allow mem subst ,%s", prefix);
    boot(&ga, true, opts);
    snprintf(opts, sizeof(opts), "allow %smem", prefix);
    boot(&gb, true, opts);
    uint64_t ca, cb;
    ck_assert_uint_eq(create(&ga, "mem", 2, &ca), SHM_OK);
    mwr(&ga, ca + PAGE, 4, 0x5eed);
    ck_assert_uint_eq(find(&gb, rname("mem"), &cb), SHM_OK);
    ck_assert_uint_eq(mrd(&gb, cb + PAGE, 4), 0x5eed);
}
END_TEST

START_TEST(bar_move_moves_regions)
{
    boot(&ga, true, "window 1M");
    uint64_t c;
    ck_assert_uint_eq(create(&ga, rname("mv"), 3, &c), SHM_OK);
    mwr(&ga, c + PAGE + 8, 4, 0x600d);
    uint64_t to = MMIO64_BASE + 0x10000000ull;
    cfg_wr(&ga, 0x18, 4, (uint32_t)to);
    cfg_wr(&ga, 0x1c, 4, (uint32_t)(to >> 32));
    ck_assert_uint_eq(bar(&ga, 2), to);
    ck_assert_uint_eq(mrd(&ga, ga.factory + SHMEM_F_SHMEM, 8), to);
    ck_assert_uint_eq(mrd(&ga, to + PAGE + 8, 4), 0x600d);
    ck_assert_uint_eq(mrd(&ga, to + SHMEM_C_IDX, 4), 0);
    uint64_t v;
    ck_assert_int_eq(vdev_machine_access(ga.fe.m, VDEV_SPACE_MEM, c + PAGE, 4, false, &v),
                     VDEV_ACCESS_UNMAPPED);
    /* decoding off: the regions go with the BAR */
    cfg_wr(&ga, 0x04, 2, 0);
    ck_assert_int_eq(vdev_machine_access(ga.fe.m, VDEV_SPACE_MEM, to + PAGE, 4, false, &v),
                     VDEV_ACCESS_UNMAPPED);
}
END_TEST

START_TEST(intx_disable_masks_the_line)
{
    boot(&ga, true, "");
    boot(&gb, true, "");
    uint64_t ca, cb;
    ck_assert_uint_eq(create(&ga, rname("ix"), 1, &ca), SHM_OK);
    ck_assert_uint_eq(create(&gb, rname("ix"), 1, &cb), SHM_OK);
    ck_assert(wait_line(&ga, true));
    ck_assert(cfg_rd(&ga, 0x06, 2) & 0x8); /* status: interrupt */
    cfg_wr(&ga, 0x04, 2, cfg_rd(&ga, 0x04, 2) | 0x400);
    ck_assert(!line(&ga));
    ck_assert(cfg_rd(&ga, 0x06, 2) & 0x8); /* still pending */
    mrd(&ga, ca + SHMEM_C_STATUS, 4);
    ck_assert(!(cfg_rd(&ga, 0x06, 2) & 0x8));
}
END_TEST

/* ---- MSI-X ---- */

static unsigned msix_cap(struct guest *g)
{
    for (unsigned c = (unsigned)cfg_rd(g, 0x34, 1); c; c = (unsigned)cfg_rd(g, c + 1, 1))
        if (cfg_rd(g, c, 1) == 0x11)
            return c;
    ck_abort_msg("no MSI-X capability");
    return 0;
}

/* The layout guest drivers rely on: one vector, table at BAR4+0, PBA at BAR4+0x800. */
static void msix_layout(struct guest *g)
{
    unsigned c = msix_cap(g);
    ck_assert_uint_eq(cfg_rd(g, c + 2, 2), 0);         /* 1 vector, off */
    ck_assert_uint_eq(cfg_rd(g, c + 4, 4), 0x000 | 4); /* table: BAR4 + 0 */
    ck_assert_uint_eq(cfg_rd(g, c + 8, 4), 0x800 | 4); /* PBA: BAR4 + 0x800 */
    ck_assert_uint_eq(cfg_rd(g, 0x20, 4) & 0xf, 0x0);  /* BAR4: 32-bit memory */
    uint32_t b4 = (uint32_t)cfg_rd(g, 0x20, 4);
    cfg_wr(g, 0x20, 4, 0xffffffff);
    ck_assert_uint_eq(cfg_rd(g, 0x20, 4), 0xfffff000u); /* 4 KiB */
    cfg_wr(g, 0x20, 4, b4);
}

/* Programs vector 0 (message data `data`), unmasks it and turns MSI-X on. */
static void msix_on(struct guest *g, uint32_t data)
{
    uint64_t b4 = bar(g, 4);
    mwr(g, b4, 4, 0xfee00000u);
    mwr(g, b4 + 4, 4, 0);
    mwr(g, b4 + 8, 4, data);
    mwr(g, b4 + 12, 4, 0);
    cfg_wr(g, msix_cap(g) + 2, 2, 0x8000);
}

/* MSIs that reached the guest since the last call (fake KVM injects the bound irqfds). */
static unsigned msis(struct guest *g)
{
    static unsigned seen[2];
    unsigned *s = &seen[g == &gb];
    fake_irqfd_msi_deliver(&g->fe);
    unsigned n = g->fe.nmsi - *s;
    *s = g->fe.nmsi;
    return n;
}

static bool wait_msi(struct guest *g)
{
    for (int i = 0; i < 400; i++) {
        if (msis(g))
            return true;
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    }
    return false;
}

START_TEST(msix_capability_in_bar4)
{
    boot(&ga, true, "");
    msix_layout(&ga);
    /* BAR0 is still exactly the factory page */
    cfg_wr(&ga, 0x10, 4, 0xffffffff);
    ck_assert_uint_eq(cfg_rd(&ga, 0x10, 4), 0xfffff000u);
    cfg_wr(&ga, 0x10, 4, ga.factory);
    ck_assert_uint_eq(mrd(&ga, ga.factory, 8), SHMEM_SIGNATURE);
}
END_TEST

START_TEST(msix_notify_through_the_doorbell)
{
    if (!can_getfd(getpid())) {
        fprintf(stderr, "%s: pidfd_getfd refused here: no doorbells (not tested)\n", __func__);
        return;
    }
    exitless_msi = true;
    boot(&ga, true, "");
    boot(&gb, true, "");
    msix_on(&ga, 0x41);
    msix_on(&gb, 0x42);
    msis(&ga);
    msis(&gb);
    uint64_t ca, cb;
    ck_assert_uint_eq(create(&ga, rname("mx"), 1, &ca), SHM_OK);
    ck_assert_uint_eq(create(&gb, rname("mx"), 1, &cb), SHM_OK);
    /* B's attach reaches A through the watcher: vector 0, never the line */
    ck_assert(wait_msi(&ga));
    ck_assert_uint_eq(ga.fe.msis[ga.fe.nmsi - 1].data, 0x41);
    ck_assert(!line(&ga));
    ck_assert_uint_eq(mrd(&ga, ca + SHMEM_C_STATUS, 4), 0x30000);
    char st[512] = "";
    FILE *f = fmemopen(st, sizeof(st) - 1, "w");
    shmem_print_status(vdev_state(vdev_machine_device(ga.fe.m, 0)), f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(st, ", MSI-X on (doorbells); regions:"));

    /* B notifies A: the vCPU thread writing `notify` rings A's doorbell itself; the MSI
     * is there when the write returns, and no watcher ran a callback for it. */
    unsigned long rung = shm_stat_bells_rung(), calls = shm_stat_callbacks();
    mwr(&gb, cb + SHMEM_C_NOTIFY, 4, 0xffffffff);
    ck_assert_uint_eq(shm_stat_bells_rung(), rung + 1);
    ck_assert_uint_eq(msis(&ga), 1);
    ck_assert_uint_eq(ga.fe.msis[ga.fe.nmsi - 1].data, 0x41);
    ck_assert_uint_eq(shm_stat_callbacks(), calls);
    ck_assert(!line(&ga));
    ck_assert_uint_eq(mrd(&ga, ca + SHMEM_C_STATUS, 4), 0x30002);
    ck_assert_uint_eq(msis(&gb), 0);

    /* A masks vector 0: the ring pends (PBA), unmasking delivers it once */
    uint64_t a4 = bar(&ga, 4);
    mwr(&ga, a4 + 12, 4, 1);
    mwr(&gb, cb + SHMEM_C_NOTIFY, 4, 1u << 0);
    ck_assert_uint_eq(msis(&ga), 0);
    ck_assert_uint_eq(mrd(&ga, a4 + 0x800, 8), 1);
    mwr(&ga, a4 + 12, 4, 0);
    ck_assert_uint_eq(msis(&ga), 1);
    ck_assert_uint_eq(msis(&ga), 0);
    ck_assert_uint_eq(mrd(&ga, ca + SHMEM_C_STATUS, 4), 0x30002);

    /* A turns MSI-X off: the doorbell is withdrawn, notifications go through the watcher
     * to the level-triggered line again */
    rung = shm_stat_bells_rung();
    cfg_wr(&ga, msix_cap(&ga) + 2, 2, 0);
    mwr(&gb, cb + SHMEM_C_NOTIFY, 4, 1u << 0);
    ck_assert(wait_line(&ga, true));
    ck_assert_uint_eq(shm_stat_bells_rung(), rung);
    ck_assert_uint_eq(msis(&ga), 0);
    /* and back on with news unread: the line drops and vector 0 fires */
    cfg_wr(&ga, msix_cap(&ga) + 2, 2, 0x8000);
    ck_assert(!line(&ga));
    ck_assert_uint_eq(msis(&ga), 1);
    ck_assert_uint_eq(mrd(&ga, ca + SHMEM_C_STATUS, 4), 0x30002);

    /* A detaches: B hears it through its watcher, on vector 0 */
    mwr(&ga, ca + SHMEM_C_DETACH, 4, 1);
    ck_assert(wait_msi(&gb));
    ck_assert_uint_eq(mrd(&gb, cb + SHMEM_C_STATUS, 4), 0x20000);
    ck_assert(!line(&gb));
}
END_TEST

/* Without the embedder's irqfds the vector's eventfd is serviced by the core's event thread:
 * the doorbell still saves the watcher hop. */
START_TEST(msix_doorbell_without_irqfds)
{
    if (!can_getfd(getpid())) {
        fprintf(stderr, "%s: pidfd_getfd refused here: no doorbells (not tested)\n", __func__);
        return;
    }
    boot(&ga, true, "");
    boot(&gb, true, "");
    ck_assert_int_eq(vdev_machine_start(ga.fe.m), 0);
    msix_on(&ga, 0x41);
    uint64_t ca, cb;
    ck_assert_uint_eq(create(&ga, rname("mf"), 1, &ca), SHM_OK);
    ck_assert_uint_eq(create(&gb, rname("mf"), 1, &cb), SHM_OK);
    for (int i = 0; i < 400 && !ga.fe.nmsi; i++)
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    ck_assert_uint_ge(ga.fe.nmsi, 1);
    mrd(&ga, ca + SHMEM_C_STATUS, 4);
    unsigned n = ga.fe.nmsi;
    unsigned long rung = shm_stat_bells_rung();
    mwr(&gb, cb + SHMEM_C_NOTIFY, 4, 1u << 0);
    ck_assert_uint_eq(shm_stat_bells_rung(), rung + 1);
    for (int i = 0; i < 400 && ga.fe.nmsi == n; i++)
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    ck_assert_uint_eq(ga.fe.nmsi, n + 1);
    ck_assert(!line(&ga));
}
END_TEST

START_TEST(reset_detaches_everything)
{
    boot(&ga, true, "");
    boot(&gb, true, "");
    uint64_t ca, cb;
    ck_assert_uint_eq(create(&ga, rname("rs"), 1, &ca), SHM_OK);
    ck_assert_uint_eq(create(&gb, rname("rs"), 1, &cb), SHM_OK);
    ck_assert(wait_line(&ga, true));
    mrd(&ga, ca + SHMEM_C_STATUS, 4);
    vdev_machine_reset(gb.fe.m);
    ck_assert(wait_line(&ga, true));
    ck_assert_uint_eq(mrd(&ga, ca + SHMEM_C_STATUS, 4), 0x10000);
}
END_TEST

/* Another VM process that dies without detaching: the host layer reclaims its slot and this
 * guest sees the detach as if it had written `detach`. */
START_TEST(dead_vm_is_detached)
{
    boot(&ga, true, "");
    uint64_t ca;
    ck_assert_uint_eq(create(&ga, rname("dead"), 2, &ca), SHM_OK);
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        uint64_t cb;
        boot(&gb, false, "");
        char ok = create(&gb, rname("dead"), 2, &cb) == SHM_OK ? 'y' : 'n';
        mwr(&gb, cb + PAGE, 4, 0xdeadbeef);
        if (write(pfd[1], &ok, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    char ok = 0;
    ck_assert_int_eq(read(pfd[0], &ok, 1), 1);
    ck_assert_int_eq(ok, 'y');
    ck_assert_uint_eq(mrd(&ga, ca + PAGE, 4), 0xdeadbeef);
    ck_assert(wait_line(&ga, true));
    ck_assert_uint_eq(mrd(&ga, ca + SHMEM_C_STATUS, 4), 0x30000);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ck_assert(wait_line(&ga, true));
    ck_assert_uint_eq(mrd(&ga, ca + SHMEM_C_STATUS, 4), 0x10000);
    close(pfd[0]);
    close(pfd[1]);
    /* the dead process may still count as a user when we close: remove the name */
    shm_obj_remove(rname("dead"));
}
END_TEST

/* Replaces the module's shmem_life.c (link-time: the module is linked as an archive). */
static unsigned life_maps = SHMEM_LIFE_MAPS;
unsigned shmem_life_maps(void)
{
    return life_maps;
}

/* With all 32 attachments in use, a find still says whether the region exists (the
 * campaign's fuzz_shmem_pages found NO_MEMORY first), and a create makes nothing. */
START_TEST(full_factory_still_answers_find)
{
    boot(&ga, true, "");
    for (unsigned i = 0; i < 32; i++) {
        char n[8] = "full";
        n[4] = (char)('a' + i / 10);
        n[5] = (char)('0' + i % 10);
        ck_assert_uint_eq(create(&ga, rname(n), 1, NULL), SHM_OK);
    }
    ck_assert_uint_eq(find(&ga, rname("absent"), NULL), SHM_DOES_NOT_EXIST);
    ck_assert_uint_eq(find(&ga, rname("fulla0"), NULL), SHM_NO_MEMORY); /* exists, no slot */
    ck_assert_uint_eq(create(&ga, rname("new"), 1, NULL), SHM_NO_MEMORY);
    ck_assert_uint_eq(find(&ga, rname("new"), NULL), SHM_DOES_NOT_EXIST); /* not made */
}
END_TEST

START_TEST(life_cap)
{
    life_maps = 20;
    boot(&ga, true, "");
    uint64_t c;
    for (unsigned i = 0; i < 20; i++) {
        ck_assert_uint_eq(create(&ga, rname("loop"), 1, &c), SHM_OK);
        mwr(&ga, c + SHMEM_C_DETACH, 4, 0);
    }
    ck_assert_uint_eq(create(&ga, rname("loop"), 1, NULL), SHM_UNKNOWN);
    ck_assert_ptr_nonnull(strstr(ga.fe.log, "no more until the VM restarts"));
}
END_TEST

/* A hostile guest writes anything anywhere; the device stays sane. */
START_TEST(hostile_registers)
{
    char opts[64];
    snprintf(opts, sizeof(opts), "allow %sh*", prefix);
    boot(&ga, true, opts);
    uint64_t c;
    ck_assert_uint_eq(create(&ga, rname("h0"), 2, &c), SHM_OK);
    unsigned seed = 12345;
    for (unsigned i = 0; i < 20000; i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned size = 1u << (seed >> 8 & 3);
        uint64_t off = (seed >> 12) % 0x48;
        uint64_t v = (uint64_t)seed * 0x9e3779b97f4a7c15ull;
        bool ctl = seed & 0x10000000;
        uint64_t base = ctl ? c : ga.factory;
        if (ctl && (seed & 0x7000) == 0x7000 && off >= 0xc && off < 0x10)
            continue; /* keep the control page most of the time */
        uint64_t vv = v;
        vdev_machine_access(ga.fe.m, VDEV_SPACE_MEM, base + off, size, (seed >> 20) & 1, &vv);
    }
    ck_assert_uint_eq(mrd(&ga, ga.factory, 8), SHMEM_SIGNATURE);
    ck_assert_uint_eq(create(&ga, rname("h1"), 1, NULL), SHM_OK);
}
END_TEST

/* vCPUs racing: one attaches and detaches in a loop, one pokes whatever control page the
 * factory last reported, while another VM notifies all the time. Nothing may crash, leak
 * or deadlock, and the device still works after. */
static volatile bool race_stop;

static void *race_attacher(void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < 300; i++) {
        uint64_t v = 4, c = 0;
        vdev_machine_access(ga.fe.m, VDEV_SPACE_MEM, ga.factory + SHMEM_F_SIZE, 4, true, &v);
        vdev_machine_access(ga.fe.m, VDEV_SPACE_MEM, ga.factory + SHMEM_F_SHMEM, 8, false, &c);
        v = 1;
        vdev_machine_access(ga.fe.m, VDEV_SPACE_MEM, c + SHMEM_C_DETACH, 4, true, &v);
    }
    race_stop = true;
    return NULL;
}

static void *race_poker(void *arg)
{
    struct guest *g = arg;
    unsigned n = 0;
    while (!race_stop) {
        uint64_t c = 0, v = 0;
        vdev_machine_access(g->fe.m, VDEV_SPACE_MEM, g->factory + SHMEM_F_SHMEM, 8, false, &c);
        vdev_machine_access(g->fe.m, VDEV_SPACE_MEM, c + SHMEM_C_STATUS, 4, false, &v);
        v = ~0ull;
        vdev_machine_access(g->fe.m, VDEV_SPACE_MEM, c + SHMEM_C_NOTIFY, 4, true, &v);
        /* Data through the trap path only where no detach races it: under KVM data
         * accesses never trap (memory slots); the fake embedder has no such slots. */
        if (g == &gb)
            vdev_machine_access(g->fe.m, VDEV_SPACE_MEM, c + PAGE + (n++ % PAGE), 1, true, &v);
    }
    return NULL;
}

START_TEST(racing_vcpus)
{
    life_maps = 1000;
    boot(&ga, true, "");
    boot(&gb, false, "");
    uint64_t cb;
    ck_assert_uint_eq(create(&gb, rname("race"), 4, &cb), SHM_OK);
    set_name(&ga, rname("race"));
    race_stop = false;
    pthread_t t1, t2, t3;
    ck_assert_int_eq(pthread_create(&t1, NULL, race_attacher, NULL), 0);
    ck_assert_int_eq(pthread_create(&t2, NULL, race_poker, &ga), 0);
    ck_assert_int_eq(pthread_create(&t3, NULL, race_poker, &gb), 0);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    pthread_join(t3, NULL);
    /* A has nothing left attached; B still works and sees only itself. */
    mrd(&gb, cb + SHMEM_C_STATUS, 4);
    ck_assert_uint_eq(mrd(&gb, cb + SHMEM_C_STATUS, 4), 0x10000);
    ck_assert_uint_eq(create(&ga, rname("race"), 4, NULL), SHM_OK);
}
END_TEST

static void expect_error(const char *conf, const char *what)
{
    struct vdev_err err;
    ck_assert_int_ne(try_build(&ga, conf, &err), 0);
    ck_assert_msg(strstr(err.msg, what), "'%s': got '%s'", conf, err.msg);
    ck_assert_msg(strstr(err.msg, "test.conf:1:"), "no position: %s", err.msg);
    fake_machine_free(&ga.fe);
}

START_TEST(config_errors)
{
    expect_error("ram 16M vdev shmem allow [abc", "bad pattern '[abc'");
    expect_error("ram 16M vdev shmem deny a/b", "bad pattern");
    expect_error("ram 16M vdev shmem create x,0", "create");
    expect_error("ram 16M vdev shmem create x", "NAME,SIZE");
    expect_error("ram 16M vdev shmem create a/b,4K", "not a region name");
    expect_error("ram 16M vdev shmem create x,4K,999", "bad mode");
    expect_error("ram 16M vdev shmem subst guest0", "comma");
    expect_error("ram 16M vdev shmem subst ,a/b", "PREFIX");
    expect_error("ram 16M vdev shmem window 0x30000", "power of two");
    expect_error("ram 16M vdev shmem umask 9", "umask");
    expect_error("ram 16M vdev shmem loc 0xd1000000", "intr");
}
END_TEST

START_TEST(create_option_makes_the_region)
{
    char opts[128];
    snprintf(opts, sizeof(opts), "create %spre,10K", prefix);
    boot(&ga, true, opts);
    boot(&gb, true, "");
    uint64_t c;
    ck_assert_uint_eq(find(&gb, rname("pre"), &c), SHM_OK);
    ck_assert_uint_eq(mrd(&gb, gb.factory + SHMEM_F_SIZE, 4), 3); /* 10K: 3 pages */
}
END_TEST

struct mode_probe {
    const char *name;
    unsigned mode;
    uint32_t attached;
    bool found;
};

static void probe_mode(const struct shm_obj_info *info, void *arg)
{
    struct mode_probe *p = arg;
    if (!strcmp(info->name, p->name)) {
        p->mode = info->mode & 0777;
        p->attached = info->attached;
        p->found = true;
    }
}

static unsigned host_mode(const char *name)
{
    struct mode_probe p = {.name = name};
    ck_assert_int_ge(shm_obj_list(probe_mode, &p), 0);
    ck_assert_msg(p.found, "no host region %s", name);
    return p.mode;
}

/* umask applies to what guests create and to a create MODE; gid/umask are host-side. */
START_TEST(modes_follow_umask)
{
    char opts[160];
    snprintf(opts, sizeof(opts), "umask 027 create %spre,8K,0666", prefix);
    boot(&ga, true, opts);
    ck_assert_uint_eq(host_mode(rname("pre")), 0640);
    ck_assert_uint_eq(create(&ga, rname("guest"), 1, NULL), SHM_OK);
    ck_assert_uint_eq(host_mode(rname("guest")), 0640);
}
END_TEST

START_TEST(status_line)
{
    boot(&ga, true, "");
    uint64_t c;
    ck_assert_uint_eq(create(&ga, rname("st"), 2, &c), SHM_OK);
    char buf[4096];
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    vdev_machine_print(ga.fe.m, f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, rname("st")));
    ck_assert_ptr_nonnull(strstr(buf, "idx 0, 2 pages at"));
}
END_TEST

static Suite *device_suite(void)
{
    Suite *s = suite_create("shmem_device");
    TCase *tc = tcase_create("device");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, pci_signature_and_vector);
    tcase_add_test(tc, mmio_signature_and_vector);
    tcase_add_test(tc, pci_share_notify_detach);
    tcase_add_test(tc, mmio_share_with_pci);
    tcase_add_test(tc, find_and_status_codes);
    tcase_add_test(tc, seventeenth_client);
    tcase_add_test(tc, denied_name);
    tcase_add_test(tc, subst_shares_under_the_host_name);
    tcase_add_test(tc, bar_move_moves_regions);
    tcase_add_test(tc, intx_disable_masks_the_line);
    tcase_add_test(tc, msix_capability_in_bar4);
    tcase_add_test(tc, msix_notify_through_the_doorbell);
    tcase_add_test(tc, msix_doorbell_without_irqfds);
    tcase_add_test(tc, reset_detaches_everything);
    tcase_add_test(tc, dead_vm_is_detached);
    tcase_add_test(tc, full_factory_still_answers_find);
    tcase_add_test(tc, life_cap);
    tcase_add_test(tc, hostile_registers);
    tcase_add_test(tc, racing_vcpus);
    tcase_add_test(tc, config_errors);
    tcase_add_test(tc, create_option_makes_the_region);
    tcase_add_test(tc, modes_follow_umask);
    tcase_add_test(tc, status_line);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(device_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
