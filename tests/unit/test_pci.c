/* The PCI host bridge and its functions, driven the way a guest drives them: configuration
 * cycles through ports 0xCF8/0xCFC and ECAM, BAR sizing and moves, the capability list,
 * MSI-X, INTx sharing, the dryrun printout and the DSDT/MCFG a guest reads. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vdev/pci.h>

#include "acpi_tables.h"
#include "asl_check.h"
#include "fake_embedder.h"
#include "heap_usage.h"

#define ECAM    0xe0000000ull
#define MMIO32  0xc0000000ull
#define MMIO64  0x4000000000ull
#define IOWIN   0xc000u
#define BAR0_SZ 0x4000u /* 64-bit, MSI-X table at 0x2000, PBA at 0x3000 */
#define BAR2_SZ 0x1000u /* 32-bit */
#define BAR4_SZ 0x20u   /* I/O */
#define NVEC    4
#define TBL     0x2000u
#define PBA     0x3000u
#define VEN_CAP 0x09

/* ---- a test device: three BARs, a vendor capability and MSI-X ---- */

struct pt {
    struct vdev_pci_func *f;
    unsigned changed;
    unsigned last_bar;
    uint64_t last_base;
    bool last_enabled;
    uint64_t last_write_off, last_write_val;
    unsigned writes;
};

static uint64_t pt_read(void *opaque, uint64_t off, unsigned size)
{
    (void)opaque;
    (void)size;
    return 0xab000000u | off;
}

static void pt_write(void *opaque, uint64_t off, unsigned size, uint64_t v)
{
    struct pt *p = opaque;
    (void)size;
    p->writes++;
    p->last_write_off = off;
    p->last_write_val = v;
}

static const struct vdev_region_ops pt_bar_ops = {
    .size = sizeof(struct vdev_region_ops), .read = pt_read, .write = pt_write};

static void pt_bar_changed(void *opaque, unsigned bar, uint64_t base, bool enabled)
{
    struct pt *p = opaque;
    p->changed++;
    p->last_bar = bar;
    p->last_base = base;
    p->last_enabled = enabled;
}

static const struct vdev_pci_func_ops pt_func_ops = {.size = sizeof(struct vdev_pci_func_ops),
                                                     .bar_changed = pt_bar_changed};

static int pt_assign(struct vdev *d)
{
    struct pt *p = vdev_state(d);
    struct vdev_err e;
    struct vdev_pci_ident id = {.vendor = 0x1234,
                                .device = 0x11e8,
                                .subsystem_vendor = 0x1af4,
                                .subsystem = 0x0042,
                                .class_code = 0xff0000,
                                .revision = 2};
    p->f = vdev_pci_func_new(d, &id, &pt_func_ops, p, &e);
    if (!p->f)
        return vdev_error(d, vdev_pos(d), NULL, "%s", e.msg);
    struct vdev_pci_bar b0 = {.size = BAR0_SZ,
                              .flags = VDEV_PCI_BAR_MEM64 | VDEV_PCI_BAR_PREFETCH,
                              .kind = VDEV_REGION_DEVICE,
                              .ops = &pt_bar_ops,
                              .opaque = p};
    struct vdev_pci_bar b2 = {
        .size = BAR2_SZ, .kind = VDEV_REGION_DEVICE, .ops = &pt_bar_ops, .opaque = p};
    struct vdev_pci_bar b4 = {.size = BAR4_SZ,
                              .flags = VDEV_PCI_BAR_IO,
                              .kind = VDEV_REGION_DEVICE,
                              .ops = &pt_bar_ops,
                              .opaque = p};
    static const uint8_t body[6] = {8, 1, 2, 3, 4, 5};
    uint8_t off;
    if (vdev_pci_set_bar(p->f, 0, &b0, &e) || vdev_pci_set_bar(p->f, 2, &b2, &e) ||
        vdev_pci_set_bar(p->f, 4, &b4, &e) ||
        vdev_pci_add_cap(p->f, VEN_CAP, body, sizeof(body), &off, &e) ||
        vdev_pci_msix_init(p->f, NVEC, 0, TBL, PBA, &e))
        return vdev_error(d, vdev_pos(d), NULL, "%s", e.msg);
    return 0;
}

static const struct vdev_type pt_type = {
    .abi_version = VDEV_ABI_VERSION,
    .type_size = sizeof(struct vdev_type),
    .name = "pcitest",
    .state_size = sizeof(struct pt),
    .places = VDEV_PLACE_PCI | VDEV_PLACE_MEM,
    .has_intr = true,
    .assign = pt_assign,
};

/* ---- a function whose config space is kept elsewhere (as a passed device's) ---- */

struct pp {
    struct vdev_pci_func *f;
    unsigned reads, writes, core_reads; /* core_reads: offered a core-owned byte (a bug) */
    unsigned last_reg, last_size;
    uint32_t last_value;
};

static bool pp_config_read(void *opaque, unsigned reg, unsigned size, uint32_t *value)
{
    struct pp *p = opaque;
    p->reads++;
    if ((reg < 0x28 && reg + size > 0x10) || (reg < 0x35 && reg + size > 0x30) ||
        (reg < 0x3e && reg + size > 0x3c) || (reg >= 0x48 && reg < 0x54))
        p->core_reads++;
    if (reg < 0x40 || (reg >= 0x44 && reg < 0x48))
        return false;    /* the header and 0x44: the core's copy */
    *value = 0xdeadbeef; /* wider than asked: the core cuts it */
    return true;
}

static void pp_config_write(void *opaque, unsigned reg, unsigned size, uint32_t value)
{
    struct pp *p = opaque;
    p->writes++;
    p->last_reg = reg;
    p->last_size = size;
    p->last_value = value;
}

static const struct vdev_pci_func_ops pp_func_ops = {.size = sizeof(struct vdev_pci_func_ops),
                                                     .config_read = pp_config_read,
                                                     .config_write = pp_config_write};

static int pp_assign(struct vdev *d)
{
    struct pp *p = vdev_state(d);
    struct vdev_err e;
    struct vdev_pci_ident id = {.vendor = 0x8086, .device = 0x10ca, .class_code = 0x020000};
    struct vdev_pci_bar b0 = {.size = 0x4000, .kind = VDEV_REGION_DEVICE, .ops = &pt_bar_ops};
    static const uint8_t body[6] = {0};
    p->f = vdev_pci_func_new(d, &id, &pp_func_ops, p, &e);
    if (!p->f || vdev_pci_set_bar(p->f, 0, &b0, &e) ||
        vdev_pci_add_cap(p->f, VEN_CAP, body, sizeof(body), NULL, &e) || /* 0x40..0x47 */
        vdev_pci_msix_init(p->f, 3, 0, 0x2000, 0x3000, &e))              /* its cap at 0x48 */
        return vdev_error(d, vdev_pos(d), NULL, "%s", e.msg);
    return 0;
}

static const struct vdev_type pp_type = {
    .abi_version = VDEV_ABI_VERSION,
    .type_size = sizeof(struct vdev_type),
    .name = "pcipass",
    .state_size = sizeof(struct pp),
    .places = VDEV_PLACE_PCI,
    .assign = pp_assign,
};

/* A device that probes the API's refusals from its assign hook. */
static unsigned api_caps;

static struct vdev_pci_func *api_func;
static int api_assign(struct vdev *d)
{
    struct vdev_err e;
    struct vdev_pci_ident id = {.vendor = 0x1234, .device = 1};
    struct vdev_pci_func *f = vdev_pci_func_new(d, &id, NULL, NULL, &e);
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_null(vdev_pci_func_new(d, &id, NULL, NULL, &e));
    ck_assert_ptr_nonnull(strstr(e.msg, "already has a PCI function"));
    struct vdev_pci_bar b = {.size = 0x1000, .kind = VDEV_REGION_DEVICE, .ops = &pt_bar_ops};
    struct vdev_pci_bar bad = b;
    bad.size = 0x1800;
    ck_assert_int_eq(vdev_pci_set_bar(f, 0, &bad, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "power of two"));
    bad = b;
    bad.flags = VDEV_PCI_BAR_MEM64;
    ck_assert_int_eq(vdev_pci_set_bar(f, 5, &bad, &e), -1);
    ck_assert_int_eq(vdev_pci_set_bar(f, 6, &b, &e), -1);
    bad = b;
    bad.flags = VDEV_PCI_BAR_IO | VDEV_PCI_BAR_PREFETCH;
    ck_assert_int_eq(vdev_pci_set_bar(f, 0, &bad, &e), -1);
    bad = b;
    bad.flags = VDEV_PCI_BAR_IO;
    bad.size = 0x200;
    ck_assert_int_eq(vdev_pci_set_bar(f, 0, &bad, &e), -1);
    bad = b;
    bad.kind = VDEV_REGION_DEVMEM;
    ck_assert_int_eq(vdev_pci_set_bar(f, 0, &bad, &e), -1); /* no host memory */
    bad = b;
    bad.ops = NULL;
    ck_assert_int_eq(vdev_pci_set_bar(f, 0, &bad, &e), -1);
    b.flags = VDEV_PCI_BAR_MEM64;
    ck_assert_int_eq(vdev_pci_set_bar(f, 0, &b, &e), 0);
    ck_assert_int_eq(vdev_pci_set_bar(f, 1, &b, &e), -1); /* the high half of BAR0 */
    ck_assert_int_eq(vdev_pci_set_bar(f, 0, &b, &e), -1);
    /* MSI-X: table and PBA must fit, apart, in a declared memory BAR */
    ck_assert_int_eq(vdev_pci_msix_init(f, 4, 2, 0, 0x800, &e), -1);
    ck_assert_int_eq(vdev_pci_msix_init(f, 0, 0, 0, 0x800, &e), -1);
    ck_assert_int_eq(vdev_pci_msix_init(f, 4, 0, 0, 0x20, &e), -1);      /* overlap */
    ck_assert_int_eq(vdev_pci_msix_init(f, 4, 0, 0xff8, 0x800, &e), -1); /* past the end */
    ck_assert_int_eq(vdev_pci_msix_init(f, 4, 0, 4, 0x800, &e), -1);     /* unaligned */
    /* capabilities until the configuration space is full */
    static const uint8_t body[58] = {0};
    uint8_t off;
    while (vdev_pci_add_cap(f, VEN_CAP, body, sizeof(body), &off, &e) == 0)
        api_caps++;
    ck_assert_ptr_nonnull(strstr(e.msg, "does not fit"));
    ck_assert_int_eq(vdev_pci_add_cap(f, VEN_CAP, body, 16, &off, &e), -1);
    /* the expansion ROM and the interrupt pin (0.3) */
    ck_assert_int_eq(vdev_pci_set_rom(f, 0x400, &pt_bar_ops, NULL, &e), -1); /* < 2 KiB */
    ck_assert_ptr_nonnull(strstr(e.msg, "from 2 KiB to 16 MiB"));
    ck_assert_int_eq(vdev_pci_set_rom(f, 0x3000, &pt_bar_ops, NULL, &e), -1);
    ck_assert_int_eq(vdev_pci_set_rom(f, 0x2000000, &pt_bar_ops, NULL, &e), -1);
    ck_assert_int_eq(vdev_pci_set_rom(f, 0x1000, NULL, NULL, &e), -1);
    ck_assert_int_eq(vdev_pci_set_rom(f, 0x1000, &pt_bar_ops, NULL, &e), 0);
    ck_assert_int_eq(vdev_pci_set_rom(f, 0x1000, &pt_bar_ops, NULL, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "twice"));
    ck_assert_int_eq(vdev_pci_set_intx_pin(f, 2, &e), -1);
    ck_assert_int_eq(vdev_pci_set_intx_pin(f, 0, &e), 0);
    int trig, res;
    ck_assert_int_eq(vdev_pci_intx_eventfds(f, &trig, &res, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "no interrupt pin"));
    ck_assert_int_eq(vdev_pci_set_intx_pin(f, 1, &e), 0);
    ck_assert_int_eq(vdev_pci_intx_eventfds(f, &trig, &res, &e), -1); /* no level irqfds here */
    api_func = f;
    return 0;
}

static const struct vdev_type api_type = {
    .abi_version = VDEV_ABI_VERSION,
    .type_size = sizeof(struct vdev_type),
    .name = "pciapi",
    .places = VDEV_PLACE_PCI,
    .assign = api_assign,
};

/* A function whose BAR 2 is device memory (host-backed, no exits). */
static uint8_t devmem[0x2000];

static int mem_assign(struct vdev *d)
{
    struct vdev_err e;
    struct vdev_pci_ident id = {.vendor = 0x1234, .device = 2, .class_code = 0x050000};
    struct vdev_pci_func *f = vdev_pci_func_new(d, &id, NULL, NULL, &e);
    struct vdev_pci_bar b = {.size = sizeof(devmem),
                             .flags = VDEV_PCI_BAR_PREFETCH,
                             .kind = VDEV_REGION_DEVMEM,
                             .host = devmem};
    if (!f || vdev_pci_set_bar(f, 2, &b, &e))
        return vdev_error(d, vdev_pos(d), NULL, "%s", e.msg);
    *(struct vdev_pci_func **)vdev_state(d) = f;
    return 0;
}

static const struct vdev_type mem_type = {
    .abi_version = VDEV_ABI_VERSION,
    .type_size = sizeof(struct vdev_type),
    .name = "pcimem",
    .state_size = sizeof(struct vdev_pci_func *),
    .places = VDEV_PLACE_PCI,
    .assign = mem_assign,
};

/* ---- the machine ---- */

static struct fake_embedder fe;
static char tmpdir[64];

static void add_host(void)
{
    struct vdev_err err;
    struct vdev_pci_host_desc h = {.ecam_base = ECAM,
                                   .buses = 1,
                                   .cf8_ports = true,
                                   .mmio32_base = MMIO32,
                                   .mmio32_size = 0x10000000,
                                   .mmio64_base = MMIO64,
                                   .mmio64_size = 0x4000000000ull,
                                   .io_base = IOWIN,
                                   .io_size = 0x4000,
                                   .intx_pic = "ioapic",
                                   .intx_lines = {16, 17, 18, 19}};
    ck_assert_msg(vdev_machine_add_pci(fe.m, &h, &err) == 0, "%s", err.msg);
}

static void setup(void)
{
    struct vdev_err err;
    ck_assert_msg(vdev_register_type(&pt_type, &err) == 0, "%s", err.msg);
    ck_assert_msg(vdev_register_type(&api_type, &err) == 0, "%s", err.msg);
    ck_assert_msg(vdev_register_type(&mem_type, &err) == 0, "%s", err.msg);
    ck_assert_msg(vdev_register_type(&pp_type, &err) == 0, "%s", err.msg);
    fake_machine_new(&fe);
    add_host();
    tmpdir[0] = '\0';
}

static void teardown(void)
{
    if (fe.m)
        fake_machine_free(&fe);
    if (tmpdir[0] && !getenv("KEEP_ACPI_TMP")) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
        if (system(cmd))
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
}

static void build(const char *conf)
{
    struct vdev_err err;
    ck_assert_msg(fake_machine_build_string(&fe, conf, &err) == 0, "build: %s", err.msg);
}

static const char *build_fails(const char *conf)
{
    static struct vdev_err err;
    ck_assert_msg(fake_machine_build_string(&fe, conf, &err) != 0, "built: %s", conf);
    return err.msg;
}

static struct pt *dev(size_t i)
{
    return vdev_state(vdev_machine_device(fe.m, i));
}

/* ---- guest accesses ---- */

static uint64_t rd(enum vdev_space s, uint64_t addr, unsigned size)
{
    uint64_t v = 0;
    vdev_machine_access(fe.m, s, addr, size, false, &v);
    return v;
}

static void wr(enum vdev_space s, uint64_t addr, unsigned size, uint64_t v)
{
    vdev_machine_access(fe.m, s, addr, size, true, &v);
}

static uint32_t cf8(unsigned bus, unsigned d, unsigned fn, unsigned reg)
{
    return 0x80000000u | bus << 16 | d << 11 | fn << 8 | (reg & 0xfc);
}

static uint32_t cfg_rd_io(unsigned d, unsigned reg, unsigned size)
{
    wr(VDEV_SPACE_IO, 0xcf8, 4, cf8(0, d, 0, reg));
    return (uint32_t)rd(VDEV_SPACE_IO, 0xcfc + (reg & 3), size);
}

static void cfg_wr_io(unsigned d, unsigned reg, unsigned size, uint32_t v)
{
    wr(VDEV_SPACE_IO, 0xcf8, 4, cf8(0, d, 0, reg));
    wr(VDEV_SPACE_IO, 0xcfc + (reg & 3), size, v);
}

static uint64_t ecam(unsigned d, unsigned fn, unsigned reg)
{
    return ECAM + ((uint64_t)d << 15 | (uint64_t)fn << 12 | reg);
}

static uint32_t cfg_rd(unsigned d, unsigned reg, unsigned size)
{
    return (uint32_t)rd(VDEV_SPACE_MEM, ecam(d, 0, reg), size);
}

static void cfg_wr(unsigned d, unsigned reg, unsigned size, uint32_t v)
{
    wr(VDEV_SPACE_MEM, ecam(d, 0, reg), size, v);
}

/* ---- configuration cycles ---- */

START_TEST(host_bridge_through_both_mechanisms)
{
    build("ram 16M");
    ck_assert_uint_eq(cfg_rd_io(0, 0, 4), 0x29c08086);
    ck_assert_uint_eq(cfg_rd(0, 0, 4), 0x29c08086);
    ck_assert_uint_eq(cfg_rd(0, 0x08, 4) >> 8, 0x060000);
    ck_assert_uint_eq(cfg_rd(0, 0x0e, 1), 0); /* type 0, single function */
    ck_assert_uint_eq(cfg_rd(0, 0x3d, 1), 0); /* no interrupt pin */
    /* The address register reads back what was written (enable, bus, device, register). */
    wr(VDEV_SPACE_IO, 0xcf8, 4, 0x80001234u);
    ck_assert_uint_eq(rd(VDEV_SPACE_IO, 0xcf8, 4), 0x80001234u);
    /* Without the enable bit the data port answers nothing. */
    wr(VDEV_SPACE_IO, 0xcf8, 4, 0);
    ck_assert_uint_eq(rd(VDEV_SPACE_IO, 0xcfc, 4), 0xffffffffu);
}
END_TEST

START_TEST(absent_functions_read_all_ones)
{
    build("ram 16M vdev pcitest");
    ck_assert_uint_eq(cfg_rd_io(7, 0, 4), 0xffffffffu);
    ck_assert_uint_eq(cfg_rd(7, 0, 4), 0xffffffffu);
    ck_assert_uint_eq(cfg_rd(7, 2, 2), 0xffff);
    ck_assert_uint_eq(cfg_rd(31, 0x3c, 1), 0xff);
    /* function 1 of a present slot */
    ck_assert_uint_eq(rd(VDEV_SPACE_MEM, ecam(1, 1, 0), 4), 0xffffffffu);
    wr(VDEV_SPACE_IO, 0xcf8, 4, cf8(0, 1, 1, 0));
    ck_assert_uint_eq(rd(VDEV_SPACE_IO, 0xcfc, 4), 0xffffffffu);
    /* a present function's extended space has no capabilities */
    ck_assert_uint_eq(cfg_rd(1, 0x100, 4), 0);
    /* writes to absent functions go nowhere */
    cfg_wr(7, 4, 2, 0xffff);
    ck_assert_uint_eq(cfg_rd(7, 4, 2), 0xffff);
}
END_TEST

START_TEST(both_mechanisms_agree)
{
    build("ram 16M vdev pcitest");
    for (unsigned d = 0; d < 3; d++)
        for (unsigned reg = 0; reg < 256; reg++) {
            ck_assert_uint_eq(cfg_rd_io(d, reg, 1), cfg_rd(d, reg, 1));
            if (reg % 2 == 0)
                ck_assert_uint_eq(cfg_rd_io(d, reg, 2), cfg_rd(d, reg, 2));
            if (reg % 4 == 0)
                ck_assert_uint_eq(cfg_rd_io(d, reg, 4), cfg_rd(d, reg, 4));
        }
    /* a write through one is seen through the other */
    cfg_wr_io(1, 0x3c, 1, 0x5a);
    ck_assert_uint_eq(cfg_rd(1, 0x3c, 1), 0x5a);
    cfg_wr(1, 0x0c, 1, 0x10);
    ck_assert_uint_eq(cfg_rd_io(1, 0x0c, 1), 0x10);
}
END_TEST

START_TEST(function_header)
{
    build("ram 16M vdev pcitest");
    ck_assert_uint_eq(cfg_rd(1, 0, 4), 0x11e81234);
    ck_assert_uint_eq(cfg_rd(1, 0x08, 4), 0xff000002);
    ck_assert_uint_eq(cfg_rd(1, 0x2c, 4), 0x00421af4);
    ck_assert_uint_eq(cfg_rd(1, 0x3d, 1), 1);  /* INTA */
    ck_assert_uint_eq(cfg_rd(1, 0x3c, 1), 17); /* slot 1 INTA -> line 17 */
    ck_assert_uint_eq(cfg_rd(1, 0x30, 4), 0);  /* no expansion ROM */
    /* read-only registers stay put */
    cfg_wr(1, 0, 4, 0);
    cfg_wr(1, 0x08, 4, 0);
    cfg_wr(1, 0x3d, 1, 4);
    ck_assert_uint_eq(cfg_rd(1, 0, 4), 0x11e81234);
    ck_assert_uint_eq(cfg_rd(1, 0x08, 4), 0xff000002);
    ck_assert_uint_eq(cfg_rd(1, 0x3d, 1), 1);
    /* command: only the defined bits are writable */
    cfg_wr(1, 4, 2, 0xffff);
    ck_assert_uint_eq(cfg_rd(1, 4, 2), 0x0547);
    cfg_wr(1, 4, 2, 0);
    ck_assert_uint_eq(cfg_rd(1, 4, 2), 0);
}
END_TEST

/* ---- slots ---- */

START_TEST(slots_pinned_and_assigned)
{
    build("ram 16M reserve loc pci:0:2 vdev pcitest vdev pcitest loc pci:0:1 vdev pcitest "
          "vdev pcitest loc pci:0:0x1f");
    ck_assert_str_eq(vdev_pci_func_name(dev(0)->f), "pci 0:3.0");
    ck_assert_str_eq(vdev_pci_func_name(dev(1)->f), "pci 0:1.0");
    ck_assert_str_eq(vdev_pci_func_name(dev(2)->f), "pci 0:4.0");
    ck_assert_str_eq(vdev_pci_func_name(dev(3)->f), "pci 0:31.0");
    ck_assert_uint_eq(cfg_rd(2, 0, 4), 0xffffffffu); /* reserved, empty */
    ck_assert_uint_eq(cfg_rd(31, 0, 4), 0x11e81234);
    char loc[32];
    vdev_loc_format(vdev_loc(vdev_machine_device(fe.m, 0)), loc, sizeof(loc));
    ck_assert_str_eq(loc, "pci:0:3.0");
}
END_TEST

START_TEST(slot_collision_names_both)
{
    const char *msg =
        build_fails("ram 16M vdev pcitest name a loc pci:0:3 vdev pcitest name b loc pci:0:3");
    ck_assert_msg(strstr(msg, "pcitest 'b'") && strstr(msg, "pcitest 'a'") &&
                      strstr(msg, "pci 0:3.0 is already used"),
                  "%s", msg);
}
END_TEST

START_TEST(slot_errors)
{
    ck_assert_ptr_nonnull(strstr(build_fails("ram 16M vdev pcitest loc pci:0:3.1"),
                                 "multi-function devices are not supported"));
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    add_host();
    ck_assert_ptr_nonnull(
        strstr(build_fails("ram 16M vdev pcitest loc pci:1:3"), "PCI bus 1 does not exist"));
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    add_host();
    ck_assert_ptr_nonnull(
        strstr(build_fails("ram 16M vdev pcitest loc pci:0:0"), "already used by the host bridge"));
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    add_host();
    ck_assert_ptr_nonnull(strstr(build_fails("ram 16M reserve loc pci:0:4 vdev pcitest loc "
                                             "pci:0:4"),
                                 "already used by reserve (line 1)"));
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    add_host();
    ck_assert_ptr_nonnull(
        strstr(build_fails("ram 16M vdev pcitest intr ioapic:5"), "interrupts through its slot"));
}
END_TEST

START_TEST(no_pci_bus_without_host)
{
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_ptr_nonnull(
        strstr(build_fails("ram 16M vdev pcitest loc pci:0:3"), "this machine has no PCI bus"));
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_ptr_nonnull(
        strstr(build_fails("ram 16M reserve loc pci:0:3"), "this machine has no PCI bus"));
}
END_TEST

/* ---- BARs ---- */

START_TEST(bar_sizing)
{
    build("ram 16M vdev pcitest");
    uint32_t saved[6];
    for (unsigned i = 0; i < 6; i++) {
        saved[i] = cfg_rd(1, 0x10 + 4 * i, 4);
        cfg_wr(1, 0x10 + 4 * i, 4, 0xffffffffu);
    }
    ck_assert_uint_eq(cfg_rd(1, 0x10, 4), (uint32_t) ~(BAR0_SZ - 1) | 0xc); /* 64-bit, pref */
    ck_assert_uint_eq(cfg_rd(1, 0x14, 4), 0xffffffffu);
    ck_assert_uint_eq(cfg_rd(1, 0x18, 4), (uint32_t) ~(BAR2_SZ - 1));
    ck_assert_uint_eq(cfg_rd(1, 0x1c, 4), 0); /* unused */
    ck_assert_uint_eq(cfg_rd(1, 0x20, 4), (uint32_t) ~(BAR4_SZ - 1) | 1);
    ck_assert_uint_eq(cfg_rd(1, 0x24, 4), 0);
    /* sizing with decoding off moved nothing */
    ck_assert_uint_eq(dev(0)->changed, 0);
    for (unsigned i = 0; i < 6; i++)
        cfg_wr(1, 0x10 + 4 * i, 4, saved[i]);
    ck_assert_uint_eq(cfg_rd(1, 0x10, 4), saved[0]);
    ck_assert_uint_eq(dev(0)->changed, 0);
}
END_TEST

START_TEST(bars_preassigned_and_off)
{
    build("ram 16M vdev pcitest vdev pcitest");
    for (size_t i = 0; i < 2; i++) {
        struct vdev_pci_func *f = dev(i)->f;
        uint64_t b0 = vdev_pci_bar_base(f, 0), b2 = vdev_pci_bar_base(f, 2),
                 b4 = vdev_pci_bar_base(f, 4);
        ck_assert_msg(b0 >= MMIO64 && b0 % BAR0_SZ == 0, "BAR0 0x%llx", (unsigned long long)b0);
        ck_assert_msg(b2 >= MMIO32 && b2 < MMIO32 + 0x10000000 && b2 % BAR2_SZ == 0, "BAR2");
        ck_assert_msg(b4 >= IOWIN && b4 % BAR4_SZ == 0, "BAR4");
        for (unsigned b = 0; b < 6; b++)
            ck_assert(!vdev_pci_bar_enabled(f, b));
        unsigned slot = (unsigned)i + 1;
        ck_assert_uint_eq(cfg_rd(slot, 0x10, 4), (uint32_t)b0 | 0xc);
        ck_assert_uint_eq(cfg_rd(slot, 0x14, 4), (uint32_t)(b0 >> 32));
        ck_assert_uint_eq(cfg_rd(slot, 0x18, 4), (uint32_t)b2);
        ck_assert_uint_eq(cfg_rd(slot, 0x20, 4), (uint32_t)b4 | 1);
        /* nothing answers until the guest turns decoding on */
        ck_assert_uint_eq(rd(VDEV_SPACE_MEM, b2 + 8, 4), 0xffffffffu);
        ck_assert_uint_eq(rd(VDEV_SPACE_IO, b4 + 4, 4), 0xffffffffu);
    }
    ck_assert_uint_ne(vdev_pci_bar_base(dev(0)->f, 2), vdev_pci_bar_base(dev(1)->f, 2));
    ck_assert_uint_ne(vdev_pci_bar_base(dev(0)->f, 0), vdev_pci_bar_base(dev(1)->f, 0));
}
END_TEST

START_TEST(decode_on_and_off)
{
    build("ram 16M vdev pcitest");
    struct pt *p = dev(0);
    uint64_t b2 = vdev_pci_bar_base(p->f, 2), b4 = vdev_pci_bar_base(p->f, 4);
    cfg_wr(1, 4, 2, 0x2); /* memory only */
    ck_assert(vdev_pci_bar_enabled(p->f, 0) && vdev_pci_bar_enabled(p->f, 2));
    ck_assert(!vdev_pci_bar_enabled(p->f, 4));
    ck_assert_uint_eq(p->changed, 2);
    ck_assert_uint_eq(rd(VDEV_SPACE_MEM, b2 + 8, 4), 0xab000008u);
    wr(VDEV_SPACE_MEM, b2 + 0x10, 4, 77);
    ck_assert_uint_eq(p->last_write_off, 0x10);
    ck_assert_uint_eq(p->last_write_val, 77);
    ck_assert_uint_eq(rd(VDEV_SPACE_IO, b4, 4), 0xffffffffu);
    cfg_wr(1, 4, 2, 0x3);
    ck_assert_uint_eq(rd(VDEV_SPACE_IO, b4 + 4, 4), 0xab000004u);
    ck_assert_uint_eq(p->last_bar, 4);
    ck_assert(p->last_enabled);
    cfg_wr(1, 4, 2, 0x1);
    ck_assert(!vdev_pci_bar_enabled(p->f, 2));
    ck_assert(!p->last_enabled);
    ck_assert_uint_eq(rd(VDEV_SPACE_MEM, b2 + 8, 4), 0xffffffffu);
}
END_TEST

START_TEST(bar_move)
{
    build("ram 16M vdev pcitest");
    struct pt *p = dev(0);
    uint64_t old = vdev_pci_bar_base(p->f, 2);
    cfg_wr(1, 4, 2, 0x3);
    unsigned n = p->changed;
    const uint64_t to = 0xc8000000;
    cfg_wr(1, 0x18, 4, (uint32_t)to);
    ck_assert_uint_eq(vdev_pci_bar_base(p->f, 2), to);
    ck_assert(vdev_pci_bar_enabled(p->f, 2));
    ck_assert_uint_eq(p->changed, n + 1);
    ck_assert_uint_eq(p->last_bar, 2);
    ck_assert_uint_eq(p->last_base, to);
    ck_assert(p->last_enabled);
    ck_assert_uint_eq(rd(VDEV_SPACE_MEM, to + 4, 4), 0xab000004u);
    ck_assert_uint_eq(rd(VDEV_SPACE_MEM, old + 4, 4), 0xffffffffu);
    /* a 64-bit BAR moves when its high half is written */
    cfg_wr(1, 0x14, 4, 0x50);
    ck_assert_uint_eq(vdev_pci_bar_base(p->f, 0), 0x5000000000ull);
    ck_assert_uint_eq(rd(VDEV_SPACE_MEM, 0x5000000000ull + 8, 4), 0xab000008u);
    /* I/O BAR */
    cfg_wr(1, 0x20, 4, 0xd000);
    ck_assert_uint_eq(vdev_pci_bar_base(p->f, 4), 0xd000);
    ck_assert_uint_eq(rd(VDEV_SPACE_IO, 0xd000 + 2, 2), 0x0002);
}
END_TEST

START_TEST(bad_bar_addresses_stay_off)
{
    build("ram 16M vdev pcitest vdev pcitest");
    struct pt *p = dev(0);
    cfg_wr(1, 4, 2, 0x3);
    cfg_wr(2, 4, 2, 0x3);
    /* over RAM: refused, RAM still there */
    cfg_wr(1, 0x18, 4, 0x1000);
    ck_assert(!vdev_pci_bar_enabled(p->f, 2));
    ck_assert(!p->last_enabled);
    struct vdev_region *r = vdev_bus_find(vdev_machine_bus(fe.m), VDEV_SPACE_MEM, 0x1000);
    ck_assert_ptr_nonnull(r);
    struct vdev_region_info info;
    vdev_region_get_info(r, &info);
    ck_assert_int_eq(info.kind, VDEV_REGION_RAM);
    /* over the IOAPIC, the ECAM window, another device's BAR */
    cfg_wr(1, 0x18, 4, 0xfec00000);
    ck_assert(!vdev_pci_bar_enabled(p->f, 2));
    cfg_wr(1, 0x18, 4, (uint32_t)ECAM);
    ck_assert(!vdev_pci_bar_enabled(p->f, 2));
    ck_assert_uint_eq(cfg_rd(0, 0, 4), 0x29c08086); /* ECAM still works */
    uint64_t other = vdev_pci_bar_base(dev(1)->f, 2);
    cfg_wr(1, 0x18, 4, (uint32_t)other);
    ck_assert(!vdev_pci_bar_enabled(p->f, 2));
    ck_assert_uint_eq(rd(VDEV_SPACE_MEM, other + 4, 4), 0xab000004u);
    /* zero, and the I/O BAR past 0xffff */
    cfg_wr(1, 0x18, 4, 0);
    ck_assert(!vdev_pci_bar_enabled(p->f, 2));
    cfg_wr(1, 0x20, 4, 0xfffffff0u);
    ck_assert(!vdev_pci_bar_enabled(p->f, 4));
    /* a good address again: it comes back */
    cfg_wr(1, 0x18, 4, 0xc9000000u);
    ck_assert(vdev_pci_bar_enabled(p->f, 2));
    ck_assert_uint_eq(p->last_base, 0xc9000000u);
    ck_assert(p->last_enabled);
}
END_TEST

START_TEST(device_memory_bar)
{
    build("ram 16M vdev pcimem");
    struct vdev_pci_func *f = *(struct vdev_pci_func **)vdev_state(vdev_machine_device(fe.m, 0));
    uint64_t base = vdev_pci_bar_base(f, 2);
    ck_assert_uint_eq(base % sizeof(devmem), 0);
    ck_assert_uint_eq(cfg_rd(1, 0x18, 4), (uint32_t)base | 0x8);
    devmem[0x10] = 0x5a;
    ck_assert_uint_eq(rd(VDEV_SPACE_MEM, base + 0x10, 1), 0xff); /* decoding off */
    cfg_wr(1, 4, 2, 0x2);
    ck_assert_uint_eq(rd(VDEV_SPACE_MEM, base + 0x10, 1), 0x5a);
    wr(VDEV_SPACE_MEM, base + 0x20, 4, 0x12345678);
    ck_assert_uint_eq(devmem[0x20], 0x78);
    cfg_wr(1, 0x18, 4, 0xca000000u);
    ck_assert_uint_eq(rd(VDEV_SPACE_MEM, 0xca000010u, 1), 0x5a);
    ck_assert_uint_eq(rd(VDEV_SPACE_MEM, base + 0x10, 1), 0xff);
}
END_TEST

START_TEST(reset_restores_assignment)
{
    build("ram 16M vdev pcitest");
    struct pt *p = dev(0);
    uint64_t b2 = vdev_pci_bar_base(p->f, 2);
    cfg_wr(1, 4, 2, 0x3);
    cfg_wr(1, 0x18, 4, 0xc8000000u);
    vdev_machine_reset(fe.m);
    ck_assert_uint_eq(cfg_rd(1, 4, 2), 0);
    ck_assert_uint_eq(cfg_rd(1, 0x18, 4), (uint32_t)b2);
    ck_assert(!vdev_pci_bar_enabled(p->f, 2));
    ck_assert_uint_eq(vdev_pci_bar_base(p->f, 2), b2);
    ck_assert(!p->last_enabled); /* the last report: BAR4 off */
    ck_assert_uint_eq(rd(VDEV_SPACE_MEM, 0xc8000004u, 4), 0xffffffffu);
    cfg_wr(1, 4, 2, 0x2);
    ck_assert_uint_eq(rd(VDEV_SPACE_MEM, b2 + 4, 4), 0xab000004u);
}
END_TEST

/* ---- capabilities ---- */

START_TEST(capability_list)
{
    build("ram 16M vdev pcitest");
    ck_assert(cfg_rd(1, 6, 2) & 0x10);
    ck_assert_uint_eq(cfg_rd(0, 6, 2) & 0x10, 0); /* the host bridge has none */
    unsigned ptr = cfg_rd(1, 0x34, 1), seen = 0, ids[8];
    while (ptr && seen < 8) {
        ck_assert_uint_ge(ptr, 0x40);
        ck_assert_uint_eq(ptr % 4, 0);
        ids[seen++] = cfg_rd(1, ptr, 1);
        if (ids[seen - 1] == 0x11) {
            ck_assert_uint_eq(cfg_rd(1, ptr + 2, 2), NVEC - 1);
            ck_assert_uint_eq(cfg_rd(1, ptr + 4, 4), TBL | 0);
            ck_assert_uint_eq(cfg_rd(1, ptr + 8, 4), PBA | 0);
        } else {
            ck_assert_uint_eq(cfg_rd(1, ptr + 2, 1), 8); /* body[0] */
            ck_assert_uint_eq(cfg_rd(1, ptr + 7, 1), 5);
        }
        ptr = cfg_rd(1, ptr + 1, 1);
    }
    ck_assert_uint_eq(seen, 2);
    ck_assert_uint_eq(ids[0], VEN_CAP);
    ck_assert_uint_eq(ids[1], 0x11);
    /* capabilities are read-only to the guest */
    unsigned first = cfg_rd(1, 0x34, 1);
    cfg_wr(1, first, 4, 0);
    ck_assert_uint_eq(cfg_rd(1, first, 1), VEN_CAP);
}
END_TEST

/* The config hooks: reads the core does not own go to the owner first (and are cut to the
 * access size), the BARs, ROM BAR, capability pointer, interrupt line/pin and the MSI-X
 * capability never do; every write reaches the owner after the core applied it. */
START_TEST(config_hooks)
{
    build("ram 16M vdev pcipass");
    struct pp *p = vdev_state(vdev_machine_device(fe.m, 0));
    ck_assert_uint_eq(cfg_rd(1, 0x40, 4), 0xdeadbeef);
    ck_assert_uint_eq(cfg_rd(1, 0x42, 2), 0xbeef);
    ck_assert_uint_eq(cfg_rd(1, 0x43, 1), 0xef);
    ck_assert_uint_eq(cfg_rd(1, 0x44, 4), 0);       /* declined: the core's copy of the body */
    ck_assert_uint_eq(cfg_rd(1, 0, 4), 0x10ca8086); /* declined: the core's header */
    unsigned reads = p->reads;
    for (unsigned reg = 0; reg < 0x100; reg += 4)
        cfg_rd(1, reg, 4);
    for (unsigned reg = 0; reg < 0x100; reg++)
        cfg_rd(1, reg, 1);
    ck_assert_uint_eq(p->core_reads, 0);
    ck_assert_uint_gt(p->reads, reads);
    ck_assert_uint_eq(cfg_rd(1, 0x48, 1), 0x11); /* MSI-X: the core's */
    ck_assert_uint_eq(cfg_rd(1, 0x34, 1), 0x40);
    ck_assert_uint_eq(cfg_rd(1, 0x10, 4) & ~0xfu, (uint32_t)vdev_pci_bar_base(p->f, 0));
    /* a command write: applied by the core (memory decoding), then offered */
    cfg_wr(1, 0x04, 2, 0x0006);
    ck_assert_uint_eq(p->writes, 1);
    ck_assert_uint_eq(p->last_reg, 4);
    ck_assert_uint_eq(p->last_size, 2);
    ck_assert_uint_eq(p->last_value, 6);
    ck_assert(vdev_pci_bar_enabled(p->f, 0));
    /* BAR and MSI-X writes reach the owner too, after the core took them */
    cfg_wr(1, 0x4a, 2, 0x8000);
    ck_assert_uint_eq(p->writes, 2);
    ck_assert_uint_eq(p->last_reg, 0x4a);
    ck_assert(vdev_pci_msix_enabled(p->f));
    /* misaligned and out-of-range accesses reach nobody */
    cfg_wr(1, 0x41, 2, 1);
    cfg_wr(1, 0x100, 4, 1);
    ck_assert_uint_eq(p->writes, 2);
}
END_TEST

START_TEST(api_refusals_and_full_capability_space)
{
    build("ram 16M vdev pciapi");
    /* 60-byte capabilities from 0x40: three fit below 0x100 */
    ck_assert_uint_eq(api_caps, 3);
    unsigned n = 0, last = 0;
    for (unsigned p = cfg_rd(1, 0x34, 1); p; p = cfg_rd(1, p + 1, 1), n++) {
        ck_assert_uint_gt(p, last);
        last = p;
    }
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_le(last + 60, 256);
    /* BAR0 is 64-bit, 4 KiB */
    cfg_wr(1, 0x10, 4, 0xffffffffu);
    ck_assert_uint_eq(cfg_rd(1, 0x10, 4), 0xfffff004u);
    /* the ROM: 4 KiB, in the 32-bit window; after the build the API refuses */
    cfg_wr(1, 0x30, 4, 0xffffffffu);
    ck_assert_uint_eq(cfg_rd(1, 0x30, 4), 0xfffff001u);
    ck_assert_uint_eq(cfg_rd(1, 0x3d, 1), 1);
    struct vdev_err e;
    ck_assert_int_eq(vdev_pci_set_rom(api_func, 0x1000, &pt_bar_ops, NULL, &e), -1);
    ck_assert_int_eq(vdev_pci_set_intx_pin(api_func, 0, &e), -1);
}
END_TEST

/* ---- MSI-X ---- */

static unsigned msix_cap(unsigned slot)
{
    for (unsigned p = cfg_rd(slot, 0x34, 1); p; p = cfg_rd(slot, p + 1, 1))
        if (cfg_rd(slot, p, 1) == 0x11)
            return p;
    ck_abort_msg("no MSI-X capability");
    return 0;
}

static void drain_events(void)
{
    for (int i = 0; i < 5; i++)
        vdev_machine_poll(fe.m, 10);
}

START_TEST(msix_table_mask_and_pending)
{
    build("ram 16M vdev pcitest");
    struct pt *p = dev(0);
    unsigned cap = msix_cap(1);
    uint64_t bar = vdev_pci_bar_base(p->f, 0);
    cfg_wr(1, 4, 2, 0x6);
    ck_assert_int_eq(vdev_pci_msix_notify(p->f, 0), -1); /* MSI-X off */
    ck_assert(!vdev_pci_msix_enabled(p->f));
    cfg_wr(1, cap + 2, 2, 0x8000);
    ck_assert(vdev_pci_msix_enabled(p->f));
    ck_assert_uint_eq(cfg_rd(1, cap + 2, 2), 0x8000 | (NVEC - 1));
    ck_assert_int_eq(vdev_pci_msix_notify(p->f, NVEC), -1);
    ck_assert_int_eq(vdev_pci_msix_notify(p->f, 100000), -1);

    /* every vector starts masked */
    for (unsigned v = 0; v < NVEC; v++)
        ck_assert_uint_eq(rd(VDEV_SPACE_MEM, bar + TBL + 16 * v + 12, 4), 1);
    /* program vector 1 and unmask it */
    uint64_t e1 = bar + TBL + 16;
    wr(VDEV_SPACE_MEM, e1, 4, 0xfee00000u);
    wr(VDEV_SPACE_MEM, e1 + 4, 4, 0);
    wr(VDEV_SPACE_MEM, e1 + 8, 4, 0x4041);
    ck_assert_uint_eq(rd(VDEV_SPACE_MEM, e1, 8), 0xfee00000u);
    ck_assert_uint_eq(rd(VDEV_SPACE_MEM, e1 + 8, 4), 0x4041);
    wr(VDEV_SPACE_MEM, e1 + 12, 4, 0);
    ck_assert_int_eq(vdev_pci_msix_notify(p->f, 1), 0);
    drain_events();
    ck_assert_uint_eq(fe.nmsi, 1);
    ck_assert_uint_eq(fe.msis[0].addr, 0xfee00000u);
    ck_assert_uint_eq(fe.msis[0].data, 0x4041);
    /* the sender's requester ID, 00:01.0, for an ITS (the DT's msi-map) */
    ck_assert_uint_eq(fe.msis[0].flags, VDEV_MSI_REQUESTER_ID);
    ck_assert_uint_eq(fe.msis[0].requester_id, 1u << 3);

    /* masked vector 2: pending, then delivered on unmask */
    uint64_t e2 = bar + TBL + 32;
    wr(VDEV_SPACE_MEM, e2, 8, 0xfee01000u); /* 64-bit write: address low and high */
    wr(VDEV_SPACE_MEM, e2 + 8, 4, 0x22);
    ck_assert_int_eq(vdev_pci_msix_notify(p->f, 2), 0);
    drain_events();
    ck_assert_uint_eq(fe.nmsi, 1);
    ck_assert_uint_eq(rd(VDEV_SPACE_MEM, bar + PBA, 8), 1u << 2);
    wr(VDEV_SPACE_MEM, e2 + 12, 4, 0);
    drain_events();
    ck_assert_uint_eq(fe.nmsi, 2);
    ck_assert_uint_eq(fe.msis[1].addr, 0xfee01000u);
    ck_assert_uint_eq(fe.msis[1].data, 0x22);
    ck_assert_uint_eq(rd(VDEV_SPACE_MEM, bar + PBA, 8), 0);
    /* the PBA is read-only */
    wr(VDEV_SPACE_MEM, bar + PBA, 8, ~0ull);
    ck_assert_uint_eq(rd(VDEV_SPACE_MEM, bar + PBA, 8), 0);

    /* function mask: everything pends, then fires on unmask */
    cfg_wr(1, cap + 2, 2, 0xc000);
    ck_assert_int_eq(vdev_pci_msix_notify(p->f, 1), 0);
    drain_events();
    ck_assert_uint_eq(fe.nmsi, 2);
    ck_assert_uint_eq(rd(VDEV_SPACE_MEM, bar + PBA, 4), 1u << 1);
    cfg_wr(1, cap + 2, 2, 0x8000);
    drain_events();
    ck_assert_uint_eq(fe.nmsi, 3);
    ck_assert_uint_eq(fe.msis[2].data, 0x4041);

    /* reprogramming a live vector takes effect */
    wr(VDEV_SPACE_MEM, e1 + 8, 4, 0x4099);
    vdev_pci_msix_notify(p->f, 1);
    drain_events();
    ck_assert_uint_eq(fe.nmsi, 4);
    ck_assert_uint_eq(fe.msis[3].data, 0x4099);

    /* the rest of the BAR is still the device's */
    ck_assert_uint_eq(rd(VDEV_SPACE_MEM, bar + 0x100, 4), 0xab000100u);
    /* odd sizes and misaligned accesses into the table do no harm */
    wr(VDEV_SPACE_MEM, e1 + 1, 1, 0xff);
    wr(VDEV_SPACE_MEM, e1 + 3, 2, 0xffff);
    rd(VDEV_SPACE_MEM, e1 + 3, 2);
    ck_assert_uint_eq(rd(VDEV_SPACE_MEM, e1, 4), 0xfee0ff00u);
    /* the mask bit is the only writable bit of vector control */
    wr(VDEV_SPACE_MEM, e1 + 12, 4, 0xfffffffe);
    ck_assert_uint_eq(rd(VDEV_SPACE_MEM, e1 + 12, 4), 0);
}
END_TEST

START_TEST(msix_exitless_irqfd)
{
    fe.exitless = true; /* no irqfd_msi hook in the fake: still the fall-back, same result */
    build("ram 16M vdev pcitest");
    struct pt *p = dev(0);
    uint64_t bar = vdev_pci_bar_base(p->f, 0);
    cfg_wr(1, 4, 2, 0x6);
    cfg_wr(1, msix_cap(1) + 2, 2, 0x8000);
    for (unsigned v = 0; v < NVEC; v++) {
        wr(VDEV_SPACE_MEM, bar + TBL + 16 * v, 4, 0xfee00000u);
        wr(VDEV_SPACE_MEM, bar + TBL + 16 * v + 8, 4, 0x30 + v);
        wr(VDEV_SPACE_MEM, bar + TBL + 16 * v + 12, 4, 0);
    }
    for (unsigned v = 0; v < NVEC; v++) {
        ck_assert_int_eq(vdev_pci_msix_notify(p->f, v), 0);
        drain_events();
    }
    ck_assert_uint_eq(fe.nmsi, NVEC);
    for (unsigned v = 0; v < NVEC; v++)
        ck_assert_uint_eq(fe.msis[v].data, 0x30 + v);
    /* disabling MSI-X: notify refuses */
    cfg_wr(1, msix_cap(1) + 2, 2, 0);
    ck_assert_int_eq(vdev_pci_msix_notify(p->f, 0), -1);
}
END_TEST

/* A device thread notifying while a vCPU masks and unmasks: once both are done and the
 * vector is unmasked, nothing may stay pending (a lost interrupt). */
struct notifier {
    struct vdev_pci_func *f;
    _Atomic bool stop;
    _Atomic unsigned sent;
};

static void *notify_loop(void *arg)
{
    struct notifier *n = arg;
    while (!atomic_load(&n->stop)) {
        vdev_pci_msix_notify(n->f, 1);
        n->sent++;
    }
    return NULL;
}

START_TEST(msix_notify_races_masking)
{
    build("ram 16M vdev pcitest");
    struct pt *p = dev(0);
    uint64_t bar = vdev_pci_bar_base(p->f, 0), e1 = bar + TBL + 16;
    unsigned cap = msix_cap(1);
    cfg_wr(1, 4, 2, 0x6);
    cfg_wr(1, cap + 2, 2, 0x8000);
    wr(VDEV_SPACE_MEM, e1, 4, 0xfee00000u);
    wr(VDEV_SPACE_MEM, e1 + 8, 4, 0x51);
    struct notifier n = {.f = p->f};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, notify_loop, &n), 0);
    while (atomic_load(&n.sent) == 0)
        usleep(100);
    for (unsigned i = 0; i < 20000; i++) {
        wr(VDEV_SPACE_MEM, e1 + 12, 4, i % 2);
        if (i % 1000 == 0)
            cfg_wr(1, cap + 2, 2, i % 2000 ? 0x8000 : 0xc000);
    }
    cfg_wr(1, cap + 2, 2, 0x8000);
    wr(VDEV_SPACE_MEM, e1 + 12, 4, 0);
    atomic_store(&n.stop, true);
    pthread_join(t, NULL);
    ck_assert_uint_gt(atomic_load(&n.sent), 0);
    ck_assert_uint_eq(rd(VDEV_SPACE_MEM, bar + PBA, 8), 0);
    drain_events();
    ck_assert_uint_gt(fe.nmsi, 0);
    ck_assert_uint_eq(fe.msis[0].data, 0x51);
}
END_TEST

/* ---- INTx ---- */

START_TEST(intx_sharing_and_disable)
{
    /* slots 1 and 5 both route INTA to line (S + 0) % 4 = 1: ioapic 17 */
    build("ram 16M vdev pcitest vdev pcitest loc pci:0:5 vdev pcitest");
    struct pt *a = dev(0), *b = dev(1), *c = dev(2);
    ck_assert_uint_eq(cfg_rd(5, 0x3c, 1), 17);
    ck_assert_uint_eq(cfg_rd(2, 0x3c, 1), 18);
    vdev_pci_set_intx(a->f, true);
    ck_assert(fe.gsi_level[17]);
    ck_assert(cfg_rd(1, 6, 2) & 0x8);
    ck_assert_uint_eq(cfg_rd(5, 6, 2) & 0x8, 0);
    vdev_pci_set_intx(b->f, true);
    vdev_pci_set_intx(a->f, false);
    ck_assert(fe.gsi_level[17]); /* b still holds it */
    vdev_pci_set_intx(b->f, false);
    ck_assert(!fe.gsi_level[17]);
    vdev_pci_set_intx(c->f, true);
    ck_assert(fe.gsi_level[18]);
    ck_assert(!fe.gsi_level[17]);
    /* INTx disable drops the line but not the status bit; clearing it raises again */
    cfg_wr(2, 4, 2, 0x400);
    ck_assert(!fe.gsi_level[18]);
    ck_assert(cfg_rd(2, 6, 2) & 0x8);
    vdev_pci_set_intx(c->f, false);
    vdev_pci_set_intx(c->f, true);
    ck_assert(!fe.gsi_level[18]);
    cfg_wr(2, 4, 2, 0);
    ck_assert(fe.gsi_level[18]);
    /* reset deasserts */
    vdev_machine_reset(fe.m);
    ck_assert(!fe.gsi_level[18]);
    ck_assert_uint_eq(cfg_rd(2, 6, 2) & 0x8, 0);
}
END_TEST

START_TEST(intx_lines_are_taken)
{
    ck_assert_ptr_nonnull(
        strstr(build_fails("ram 16M vdev ser8250 intr ioapic:16"), "already used by pci INTx"));
}
END_TEST

/* ---- hostile guests ---- */

START_TEST(random_config_writes)
{
    build("ram 16M vdev pcitest vdev pcitest loc pci:0:9");
    srand(1234);
    static const unsigned sizes[] = {1, 2, 4};
    for (unsigned slot = 0; slot < 12; slot++)
        for (unsigned n = 0; n < 4000; n++) {
            unsigned size = sizes[rand() % 3];
            unsigned reg = (unsigned)rand() % 0x1000;
            uint32_t v = (uint32_t)rand() << 16 ^ (uint32_t)rand();
            if (n % 7 == 0)
                v = 0xffffffffu;
            if (n % 2)
                cfg_wr(slot, reg & ~(size - 1), size, v);
            else
                cfg_wr_io(slot, reg & 0xff, size, v);
            if (n % 16 == 0)
                cfg_wr(slot, 4, 2, (uint16_t)rand()); /* decoding flips on and off */
            if (n % 5 == 0) {
                cfg_rd(slot, reg & ~3u, 4);
                cfg_rd_io(slot, reg & 0xff, size);
            }
        }
    /* still a sane machine: RAM is RAM, the host bridge answers */
    struct vdev_region_info info;
    vdev_region_get_info(vdev_bus_find(vdev_machine_bus(fe.m), VDEV_SPACE_MEM, 0), &info);
    ck_assert_int_eq(info.kind, VDEV_REGION_RAM);
    ck_assert_uint_eq(cfg_rd(0, 0, 4), 0x29c08086);
    ck_assert_uint_eq(cfg_rd(1, 0, 4), 0x11e81234);
    /* and random BAR-space accesses (the MSI-X table included) */
    for (unsigned n = 0; n < 20000; n++) {
        struct vdev_pci_func *f = dev(n % 2)->f;
        for (unsigned b = 0; b < 6; b++)
            if (vdev_pci_bar_enabled(f, b)) {
                uint64_t a = vdev_pci_bar_base(f, b) + (unsigned)rand() % BAR0_SZ;
                unsigned size = 1u << (rand() % 4);
                if (rand() % 2)
                    wr(b == 4 ? VDEV_SPACE_IO : VDEV_SPACE_MEM, a, size, (uint64_t)rand());
                else
                    rd(b == 4 ? VDEV_SPACE_IO : VDEV_SPACE_MEM, a, size);
            }
        vdev_pci_msix_notify(f, (unsigned)rand() % 8);
        vdev_pci_set_intx(f, rand() % 2);
        if (n % 64 == 0)
            vdev_machine_poll(fe.m, 0);
    }
}
END_TEST

/* Issue 13: toggling COMMAND.MEM kept every replaced memory-map snapshot until the VM
 * ended (200,000 toggles grew the VMM by 79 MB). */
START_TEST(command_toggles_keep_memory_bounded)
{
    build("ram 16M vdev pcitest");
    for (unsigned i = 0; i < 1000; i++) { /* warm up */
        cfg_wr(1, 4, 2, 0);
        cfg_wr(1, 4, 2, 2);
    }
    ck_assert(vdev_pci_bar_enabled(dev(0)->f, 0));
    size_t before = heap_in_use();
    for (unsigned i = 0; i < 100000; i++) {
        cfg_wr(1, 4, 2, 0);
        cfg_wr(1, 4, 2, 2);
    }
    ck_assert_uint_lt(heap_growth(before), 256 * 1024);
}
END_TEST

/* Issue 13: a BAR flapping between two addresses over RAM logged a warning per write. */
static unsigned left_off_lines;

static void count_left_off(void *ctx, enum vdev_log_level level, const char *who, const char *msg)
{
    (void)ctx;
    (void)level;
    (void)who;
    left_off_lines += strstr(msg, "left off") != NULL;
}

START_TEST(bar_flapping_over_ram_does_not_flood_the_log)
{
    build("ram 16M vdev pcitest");
    cfg_wr(1, 4, 2, 2);
    fe.ops.log = count_left_off; /* every line, not just what fits the fake's buffer */
    left_off_lines = 0;
    for (unsigned i = 0; i < 20000; i++)
        cfg_wr(1, 0x18, 4, i % 2 ? 0x100000 : 0x200000); /* BAR2, 32-bit, inside RAM */
    ck_assert_uint_ge(left_off_lines, 2);
    ck_assert_uint_le(left_off_lines, 120);
}
END_TEST

/* ---- what the user and the guest see ---- */

START_TEST(dryrun_shows_functions)
{
    build("ram 16M vdev pcitest name net0 vdev pcitest loc pci:0:6");
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    vdev_machine_print(fe.m, out);
    fclose(out);
    const char *want[] = {"pci host bridge: ecam 0xe0000000 (buses 0-0), ports 0xcf8-0xcff",
                          "mem32 0xc0000000-0xcfffffff",
                          "0:0.0  8086:29c0 class 060000  host bridge",
                          "0:1.0  1234:11e8 class ff0000  pcitest 'net0'  INTA -> GSI 17",
                          "MSI-X 4 vectors in BAR0",
                          "BAR0  mem64 pref 0x4000000000-0x4000003fff  trapped (off until",
                          "BAR2  mem32",
                          "BAR4  io         0xc000-0xc01f",
                          "0:6.0  1234:11e8",
                          "loc   pci:0:1.0  (default)",
                          "loc   pci:0:6.0\n"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ck_assert_msg(strstr(buf, want[i]), "missing '%s' in:\n%s", want[i], buf);
    free(buf);
}
END_TEST

static const uint8_t *find_table(const uint8_t *xsdt, uint8_t *area, uint64_t gpa, const char *sig)
{
    uint32_t len = (uint32_t)xsdt[4] | (uint32_t)xsdt[5] << 8;
    for (uint32_t off = 36; off + 8 <= len; off += 8) {
        uint64_t a;
        memcpy(&a, xsdt + off, 8);
        if (!memcmp(area + (a - gpa), sig, 4))
            return area + (a - gpa);
    }
    return NULL;
}

START_TEST(dsdt_and_mcfg)
{
    build("ram 16M vdev pcitest");
    static uint8_t area[0x10000];
    struct x86_acpi_config c;
    x86_acpi_config_init(&c, 1);
    struct vdev_err err;
    uint64_t rsdp;
    size_t used;
    const uint64_t gpa = 0x80000;
    ck_assert_msg(x86_acpi_build(fe.m, &c, area, gpa, sizeof(area), &rsdp, &used, &err) == 0, "%s",
                  err.msg);
    uint64_t xsdt_gpa;
    memcpy(&xsdt_gpa, area + (rsdp - gpa) + 24, 8);
    const uint8_t *xsdt = area + (xsdt_gpa - gpa);
    const uint8_t *dsdt = find_table(xsdt, area, gpa, "FACP");
    ck_assert_ptr_nonnull(dsdt);
    uint64_t x_dsdt;
    memcpy(&x_dsdt, dsdt + 140, 8);
    dsdt = area + (x_dsdt - gpa);
    const uint8_t *mcfg = find_table(xsdt, area, gpa, "MCFG");
    ck_assert_ptr_nonnull(mcfg);

    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_pci_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    uint32_t len;
    memcpy(&len, dsdt + 4, 4);
    const char *dsl = asl_disassemble(tmpdir, "dsdt", dsdt, len);
    asl_must_contain(dsl, "Device (PCI0)");
    asl_must_contain(dsl, "Name (_HID, EisaId (\"PNP0A08\")");
    asl_must_contain(dsl, "Name (_CID, EisaId (\"PNP0A03\")");
    asl_must_contain(dsl, "Name (_SEG, Zero)");
    asl_must_contain(dsl, "WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,");
    asl_must_contain(dsl, "0xC0000000, // Range Minimum 0xCFFFFFFF, // Range Maximum");
    asl_must_contain(dsl, "0x0000004000000000, // Range Minimum");
    asl_must_contain(dsl, "0x0000C000, // Range Minimum 0x0000FFFF, // Range Maximum");
    asl_must_contain(dsl, "Name (_PRT, Package (0x80)");
    asl_must_contain(dsl, "Package (0x04) { 0xFFFF, Zero, Zero, 0x10 }");
    asl_must_contain(dsl, "Package (0x04) { 0x0001FFFF, 0x03, Zero, 0x10 }");
    asl_must_contain(dsl, "Package (0x04) { 0x001FFFFF, One, Zero, 0x10 }");
    asl_must_contain(dsl, "Name (_HID, EisaId (\"PNP0C02\")");
    asl_must_contain(dsl, "Memory32Fixed (ReadWrite, 0xE0000000, // Address Base 0x00100000,");

    memcpy(&len, mcfg + 4, 4);
    dsl = asl_disassemble(tmpdir, "mcfg", mcfg, len);
    asl_must_contain(dsl, "Base Address : 00000000E0000000");
    asl_must_contain(dsl, "Segment Group Number : 0000");
    asl_must_contain(dsl, "Start Bus Number : 00");
    asl_must_contain(dsl, "End Bus Number : 00");
}
END_TEST

static Suite *pci_suite(void)
{
    Suite *s = suite_create("pci");
    TCase *tc = tcase_create("pci");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, host_bridge_through_both_mechanisms);
    tcase_add_test(tc, absent_functions_read_all_ones);
    tcase_add_test(tc, both_mechanisms_agree);
    tcase_add_test(tc, function_header);
    tcase_add_test(tc, slots_pinned_and_assigned);
    tcase_add_test(tc, slot_collision_names_both);
    tcase_add_test(tc, slot_errors);
    tcase_add_test(tc, no_pci_bus_without_host);
    tcase_add_test(tc, bar_sizing);
    tcase_add_test(tc, bars_preassigned_and_off);
    tcase_add_test(tc, decode_on_and_off);
    tcase_add_test(tc, bar_move);
    tcase_add_test(tc, bad_bar_addresses_stay_off);
    tcase_add_test(tc, device_memory_bar);
    tcase_add_test(tc, reset_restores_assignment);
    tcase_add_test(tc, capability_list);
    tcase_add_test(tc, api_refusals_and_full_capability_space);
    tcase_add_test(tc, msix_table_mask_and_pending);
    tcase_add_test(tc, msix_exitless_irqfd);
    tcase_add_test(tc, msix_notify_races_masking);
    tcase_add_test(tc, intx_sharing_and_disable);
    tcase_add_test(tc, intx_lines_are_taken);
    tcase_add_test(tc, random_config_writes);
    tcase_add_test(tc, command_toggles_keep_memory_bounded);
    tcase_add_test(tc, bar_flapping_over_ram_does_not_flood_the_log);
    tcase_add_test(tc, dryrun_shows_functions);
    tcase_add_test(tc, config_hooks);
    tcase_add_test(tc, dsdt_and_mcfg);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pci_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
