/* vdev vfio-pci, the device a `pass` makes, on a machine with a fake host: the host device
 * resolved and shown by dryrun, the options stored, and each refusal as one message with the
 * config position and a hint. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_embedder.h"
#include "fake_sysfs.h"
#include "fake_vfio.h"
#include "vfio_pci_dev.h"
#include <vdev/pci.h>

extern const struct vdev_type vdev_module_vfio_pci;

static struct fake_embedder fe;
static struct fake_sysfs fs;
static struct vfio_host_root root;
static struct fake_vfio fv;
static bool line_irqfds; /* the embedder binds level irqfds with a resampler, as KVM */

static void setup(void)
{
    struct vdev_err err;
    vdev_register_type(&vdev_module_vfio_pci, &err); /* once per process; later calls refuse */
    fake_sysfs_new(&fs, true);
    root.sys = fs.sys;
    root.dev = fs.dev;
    vfio_pci_set_host_root(&root);
    fake_vfio_init(&fv);
    /* a reserved IOVA window at 16 MiB, where RAM can be in these tests */
    fv.iova[0] = (struct vfio_range){0, 0xffffff};
    fv.iova[1] = (struct vfio_range){0x1100000, (1ull << 48) - 1};
    vfio_pci_set_backend(&fv.be);
    fake_sysfs_add(&fs, "0000:01:00.0", 0x8086, 0x10c9, "igb", 1);
    fake_sysfs_add(&fs, "0000:01:10.0", 0x8086, 0x10ca, "vfio-pci", 2);
    fake_sysfs_add(&fs, "0000:01:10.2", 0x8086, 0x10ca, "igbvf", 3);
    memset(&fe, 0, sizeof(fe));
    line_irqfds = false;
}

static void teardown(void)
{
    if (fe.m)
        fake_machine_free(&fe);
    vfio_pci_set_host_root(NULL);
    vfio_pci_set_backend(NULL);
    fake_vfio_free(&fv);
    fake_sysfs_free(&fs);
}

static bool refuse_group; /* the embedder refuses vfio_group */

static int build(const char *conf, struct vdev_err *err)
{
    fake_machine_new(&fe);
    fe.vfio_group_refuse = refuse_group;
    fe.exitless_line = line_irqfds;
    struct vdev_pci_host_desc h = {.ecam_base = 0xe0000000,
                                   .buses = 1,
                                   .cf8_ports = true,
                                   .mmio32_base = 0xc0000000,
                                   .mmio32_size = 0x10000000,
                                   .io_base = 0xc000,
                                   .io_size = 0x1000,
                                   .intx_pic = "ioapic",
                                   .intx_lines = {16, 17, 18, 19}};
    ck_assert_int_eq(vdev_machine_add_pci(fe.m, &h, err), 0);
    return fake_machine_build_string(&fe, conf, err);
}

static const char *printout(void)
{
    static char buf[8192];
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    vdev_machine_print(fe.m, f);
    fclose(f);
    return buf;
}

START_TEST(pass_by_address)
{
    struct vdev_err err;
    ck_assert_msg(build("ram 16M\npass loc pci:0:3.0=pci:0000:01:10.0 mac 00:11:22:33:44:55 "
                        "vlan 12 name vf0",
                        &err) == 0,
                  "%s", err.msg);
    struct vdev *d = vdev_machine_find_device(fe.m, "vf0");
    ck_assert_ptr_nonnull(d);
    const struct vfio_pci *p = vdev_state(d);
    ck_assert_str_eq(p->host.bdf, "0000:01:10.0");
    ck_assert(p->mac_given && p->mac[5] == 0x55);
    ck_assert(p->vlan_given && p->vlan == 12);
    ck_assert(!p->managed);
    ck_assert_uint_eq(vdev_loc(d)->kind, VDEV_LOC_PCI);
    ck_assert_uint_eq(vdev_loc(d)->dev, 3);
    const char *out = printout();
    ck_assert_msg(strstr(out, "host 0000:01:10.0 (8086:10ca, vfio-pci, IOMMU group 2) mac "
                              "00:11:22:33:44:55 vlan 12"),
                  "%s", out);
}
END_TEST

START_TEST(pass_by_ids_managed)
{
    struct vdev_err err;
    ck_assert_msg(build("ram 16M\npass loc pci:0x8086/0x10ca/1 managed name vf1", &err) == 0, "%s",
                  err.msg);
    const struct vfio_pci *p = vdev_state(vdev_machine_find_device(fe.m, "vf1"));
    ck_assert_str_eq(p->host.bdf, "0000:01:10.2");
    ck_assert(p->managed);
    ck_assert_msg(strstr(printout(), "host 0000:01:10.2 (8086:10ca, igbvf, IOMMU group 3) managed"),
                  "%s", printout());
}
END_TEST

static void refused(const char *conf, const char *msg)
{
    struct vdev_err err;
    ck_assert_int_eq(build(conf, &err), -1);
    ck_assert_msg(strstr(err.msg, msg), "'%s' lacks '%s'", err.msg, msg);
    fake_machine_free(&fe);
    fe.m = NULL;
}

START_TEST(refusals)
{
    refused("ram 16M\npass loc pci:0:3.0=pci:0000:02:00.0",
            "test.conf:2:20: vdev vfio-pci: no host PCI device 0000:02:00.0 (hint: lspci -D");
    refused(
        "ram 16M\npass loc pci:0x8086/0x10ca/1",
        "test.conf:2:10: vdev vfio-pci: host device 0000:01:10.2 is bound to igbvf, not vfio-pci "
        "(hint: bind it:");
    refused("ram 16M\npass loc pci:0:3.0=pci:zz",
            "test.conf:2:20: vdev vfio-pci: option 'host': bad host device 'pci:zz': expected");
    refused("ram 16M\nvdev vfio-pci",
            "test.conf:2:6: vdev vfio-pci: no host device given (hint: pass loc");
    refused("ram 16M\npass loc pci:0x8086/0x10ca mac 01:00:00:00:00:01",
            "test.conf:2:32: vdev vfio-pci: option 'mac': bad MAC address '01:00:00:00:00:01' "
            "(multicast");
    refused("ram 16M\npass loc pci:0x8086/0x10ca vlan 4096", "option 'vlan'");
    refused("ram 16M\npass loc pci:0x8086/0x10ca loc mem:0x1000", "a second 'loc'");
    refused("ram 16M\nvdev vfio-pci host pci:1:10.0 loc 0xd0000000",
            "vfio-pci cannot sit in memory space");
    char p[160];
    snprintf(p, sizeof(p), "%s/vfio/vfio", fs.dev);
    ck_assert_int_eq(unlink(p), 0);
    refused("ram 16M\npass loc pci:0x8086/0x10ca",
            "test.conf:2:10: vdev vfio-pci: the host has no VFIO");
}
END_TEST

/* Started, the device is opened and reset, and guest RAM is DMA-mapped as the embedder
 * backs it, around the reserved window; a guest reset resets it; the end unmaps and closes. */
START_TEST(dma_follows_ram)
{
    struct vdev_err err;
    ck_assert_msg(build("ram 0,32M ram 0x40000000,8M\npass loc pci:0x8086/0x10ca", &err) == 0, "%s",
                  err.msg);
    ck_assert_uint_eq(fv.resets, 1);
    ck_assert_uint_eq(fe.vfio_group_adds, 1);
    ck_assert_int_ge(fe.vfio_group_fd, 0);
    ck_assert_uint_eq(fv.ndma, 3);
    ck_assert_uint_eq(fv.dma[2].iova, 0x40000000);
    ck_assert_uint_eq(fv.dma[2].size, 0x800000);
    ck_assert(fv.dma[0].map && fv.dma[1].map);
    ck_assert_uint_eq(fv.dma[0].iova, 0);
    ck_assert_uint_eq(fv.dma[0].size, 0x1000000);
    ck_assert_uint_eq(fv.dma[1].iova, 0x1100000);
    ck_assert_uint_eq(fv.dma[1].size, 0xf00000);
    ck_assert_uint_eq(fv.dma[1].vaddr - fv.dma[0].vaddr, 0x1100000);
    vdev_machine_reset(fe.m);
    ck_assert_uint_eq(fv.resets, 2);
    /* RAM that the map reports gone and back elsewhere (the core's RAM does not move
     * today; the hook is what an embedder's change would reach) */
    struct vdev *d = vdev_machine_device(fe.m, 0);
    struct vdev_region_info info;
    vdev_region_get_info(vdev_bus_find(vdev_machine_bus(fe.m), VDEV_SPACE_MEM, 0x40000000), &info);
    ck_assert_uint_eq(info.kind, VDEV_REGION_RAM);
    vdev_module_vfio_pci.memory_changed(d, &info, false);
    ck_assert_uint_eq(fv.ndma, 4);
    ck_assert(!fv.dma[3].map);
    ck_assert_uint_eq(fv.dma[3].iova, 0x40000000);
    info.base = 0x80000000;
    vdev_module_vfio_pci.memory_changed(d, &info, true);
    ck_assert_uint_eq(fv.ndma, 5);
    ck_assert(fv.dma[4].map);
    ck_assert_uint_eq(fv.dma[4].iova, 0x80000000);
    info.kind = VDEV_REGION_ROM; /* not RAM: no DMA */
    vdev_module_vfio_pci.memory_changed(d, &info, true);
    ck_assert_uint_eq(fv.ndma, 5);
    unsigned closes = fv.closes;
    fake_machine_free(&fe);
    ck_assert_uint_eq(fv.ndma, 8); /* both pieces of the first region, the moved second */
    ck_assert(!fv.dma[5].map && !fv.dma[6].map && !fv.dma[7].map);
    ck_assert_uint_eq(fe.vfio_group_dels, 1);
    ck_assert_uint_eq(fv.closes, closes + 3);
}
END_TEST

/* An embedder without the hook (or refusing): the device starts all the same, says so, and
 * does not take back what it was not given. */
START_TEST(no_vfio_group_hook)
{
    struct vdev_err err;
    refuse_group = true;
    ck_assert_msg(build("ram 16M\npass loc pci:0x8086/0x10ca", &err) == 0, "%s", err.msg);
    refuse_group = false;
    ck_assert_msg(strstr(fe.log, "the hypervisor was not given the VFIO group"), "%s", fe.log);
    fe.vfio_group_refuse = false;
    fake_machine_free(&fe);
    ck_assert_uint_eq(fe.vfio_group_dels, 0);
    ck_assert_int_eq(vdev_vfio_group(NULL, 3, true), -1);
}
END_TEST

/* A dryrun resolves the host device but opens nothing. */
START_TEST(dryrun_touches_nothing)
{
    struct vdev_err err;
    ck_assert_msg(build("ram 16M\npass loc pci:0x8086/0x10ca dryrun", &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(fv.opens, 0);
    ck_assert_uint_eq(fv.ndma, 0);
    vdev_machine_reset(fe.m);
    ck_assert_uint_eq(fv.resets, 0);
}
END_TEST

START_TEST(start_refusals)
{
    fv.fail_open = "vfio/2";
    fv.fail_errno = EBUSY;
    refused("ram 16M\npass loc pci:0x8086/0x10ca", "test.conf:2:10: vdev vfio-pci: /tmp/");
    refused("ram 16M\npass loc pci:0x8086/0x10ca",
            "/vfio/2: Device or resource busy (hint: another process (a VM?) has the group)");
    fv.fail_open = NULL;
    fv.fail_errno = 0;
    fv.fail_req = VFIO_DEVICE_RESET;
    fv.fail_nth = 1;
    refused("ram 16M\npass loc pci:0x8086/0x10ca",
            "test.conf:2:10: vdev vfio-pci: host device 0000:01:10.0: reset: Input/output error");
    ck_assert_uint_eq(fv.opens, fv.closes - 1); /* all closed again (the memfd counts too) */
}
END_TEST

/* A DMA map the kernel refuses stops the VM with a message. */
START_TEST(dma_failure_stops)
{
    struct vdev_err err;
    fv.fail_req = VFIO_IOMMU_MAP_DMA;
    fv.fail_nth = 1;
    fv.fail_errno = ENOMEM;
    fe.stop_status = -1;
    ck_assert_msg(build("ram 0,8M\npass loc pci:0x8086/0x10ca", &err) == 0, "%s", err.msg);
    ck_assert_int_eq(fe.stop_status, 1);
    ck_assert_msg(strstr(fe.log, "DMA map of guest RAM 0x0+0x800000: Cannot allocate memory"), "%s",
                  fe.log);
    ck_assert_uint_eq(fv.ndma, 0);
}
END_TEST

/* ---- the guest's PCI function ---- */

#define ECAM 0xe0000000ull

static uint32_t cfg_rd(unsigned reg, unsigned size)
{
    uint64_t v = 0;
    vdev_machine_access(fe.m, VDEV_SPACE_MEM, ECAM + (3u << 15) + reg, size, false, &v);
    return (uint32_t)v;
}

static void cfg_wr(unsigned reg, unsigned size, uint32_t v)
{
    uint64_t val = v;
    vdev_machine_access(fe.m, VDEV_SPACE_MEM, ECAM + (3u << 15) + reg, size, true, &val);
}

static uint32_t host_cfg(unsigned reg)
{
    uint32_t v = 0;
    ck_assert_int_eq(pread(fv.memfd, &v, 4, (off_t)FAKE_VFIO_REGION_OFF(VFIO_REGION_CFG) + reg), 4);
    return v;
}

static uint64_t mem_rd(uint64_t addr, unsigned size)
{
    uint64_t v = 0;
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_MEM, addr, size, false, &v),
                     VDEV_ACCESS_OK);
    return v;
}

static void build_vf(void)
{
    struct vdev_err err;
    ck_assert_msg(build("ram 16M\npass loc pci:0:3.0=pci:0000:01:10.0", &err) == 0, "%s", err.msg);
}

/* Identity from the device; the PCI Express capability copied (and live), MSI and MSI-X the
 * core's; the command register forwarded. */
START_TEST(function_config)
{
    build_vf();
    ck_assert_uint_eq(cfg_rd(0, 4), 0x10ca8086);
    ck_assert_uint_eq(cfg_rd(8, 4) >> 8, 0x020000);
    ck_assert_uint_eq(cfg_rd(0x2c, 4), 0x00018086);
    unsigned pcie = cfg_rd(0x34, 1);
    ck_assert_uint_eq(cfg_rd(pcie, 1), 0x10);
    unsigned mx = cfg_rd(pcie + 1, 1);
    ck_assert_uint_eq(cfg_rd(mx, 1), 0x11);
    ck_assert_uint_eq(cfg_rd(mx + 2, 2), 2);          /* 3 vectors */
    ck_assert_uint_eq(cfg_rd(mx + 4, 4), 0x00000003); /* table in BAR3 at 0 */
    ck_assert_uint_eq(cfg_rd(mx + 8, 4), 0x00002003);
    ck_assert_uint_eq(cfg_rd(pcie + 4, 4), 0x10008cc2); /* live from the device */
    uint32_t v = 0x12345678;
    ck_assert_int_eq(pwrite(fv.memfd, &v, 4, (off_t)FAKE_VFIO_REGION_OFF(VFIO_REGION_CFG) + 0xa4),
                     4);
    ck_assert_uint_eq(cfg_rd(pcie + 4, 4), 0x12345678);
    cfg_wr(pcie + 8, 2, 0xbeef); /* a write to the copy reaches the device's own */
    ck_assert_uint_eq(host_cfg(0xa8) & 0xffff, 0xbeef);
    cfg_wr(4, 2, 0x0406); /* memory, bus master, INTx disable */
    ck_assert_uint_eq(host_cfg(4) & 0xffff, 0x0406);
    cfg_wr(4, 2, 0x0002);
    ck_assert_uint_eq(host_cfg(4) & 0xffff, 0x0002);
}
END_TEST

/* BAR0 is mapped (the guest reads the device's memory), BAR3 holds the MSI-X table, so it is
 * trapped: the table is the core's, the rest reaches the device. */
START_TEST(function_bars)
{
    build_vf();
    ck_assert_uint_eq(fv.mmaps, 1);
    struct vfio_pci *p = vdev_state(vdev_machine_device(fe.m, 0));
    cfg_wr(4, 2, 0x0002);
    uint64_t b0 = vdev_pci_bar_base(p->f, 0), b3 = vdev_pci_bar_base(p->f, 3);
    ck_assert(vdev_pci_bar_enabled(p->f, 0) && vdev_pci_bar_enabled(p->f, 3));
    uint32_t v = 0xcafef00d;
    ck_assert_int_eq(pwrite(fv.memfd, &v, 4, (off_t)FAKE_VFIO_REGION_OFF(0) + 0x10), 4);
    ck_assert_ptr_nonnull(p->bar_map[0]);
    ck_assert_uint_eq(*(uint32_t *)((char *)p->bar_map[0] + 0x10), 0xcafef00d);
    ck_assert_int_eq(pwrite(fv.memfd, &v, 4, (off_t)FAKE_VFIO_REGION_OFF(3) + 0x2800), 4);
    ck_assert_uint_eq(mem_rd(b3 + 0x2800, 4), 0xcafef00d);
    uint64_t w = 0x55aa;
    vdev_machine_access(fe.m, VDEV_SPACE_MEM, b3 + 0x2804, 2, true, &w);
    uint16_t got = 0;
    ck_assert_int_eq(pread(fv.memfd, &got, 2, (off_t)FAKE_VFIO_REGION_OFF(3) + 0x2804), 2);
    ck_assert_uint_eq(got, 0x55aa);
    /* the table: the core's (vector 0 masked), not the device's all ones */
    ck_assert_int_eq(pwrite(fv.memfd, "\xff\xff\xff\xff", 4, (off_t)FAKE_VFIO_REGION_OFF(3) + 12),
                     4);
    ck_assert_uint_eq(mem_rd(b3 + 12, 4), 1);
    (void)b0;
    fake_machine_free(&fe);
    ck_assert_uint_eq(fv.munmaps, 1);
}
END_TEST

/* MSI-X on: the core's three vector eventfds go to VFIO; off and reset take them back. */
START_TEST(function_msix)
{
    build_vf();
    unsigned mx = cfg_rd(cfg_rd(0x34, 1) + 1, 1);
    unsigned sets = fv.irq_sets;
    cfg_wr(mx + 2, 2, 0x8000);
    ck_assert_uint_eq(fv.irq_sets, sets + 1);
    ck_assert_uint_eq(fv.last_irq_set.index, VFIO_PCI_MSIX_IRQ_INDEX);
    ck_assert_uint_eq(fv.last_irq_set.count, 3);
    for (unsigned k = 0; k < 3; k++)
        ck_assert_int_ge(fv.last_irq_fds[k], 0);
    ck_assert_int_ne(fv.last_irq_fds[0], fv.last_irq_fds[1]);
    cfg_wr(mx + 2, 2, 0);
    ck_assert_uint_eq(fv.last_irq_set.count, 0);
    cfg_wr(mx + 2, 2, 0x8000);
    unsigned resets = fv.resets;
    vdev_machine_reset(fe.m);
    ck_assert_uint_eq(fv.resets, resets + 1);
    ck_assert_uint_eq(fv.last_irq_set.count, 0);
}
END_TEST

static void cfg_refused(void (*change)(uint8_t *cfg), const char *msg)
{
    uint8_t cfg[256];
    ck_assert_int_eq(pread(fv.memfd, cfg, 256, (off_t)FAKE_VFIO_REGION_OFF(VFIO_REGION_CFG)), 256);
    uint8_t saved[256];
    memcpy(saved, cfg, 256);
    change(cfg);
    fake_vfio_set_cfg(&fv, cfg);
    refused("ram 16M\npass loc pci:0:3.0=pci:0000:01:10.0", msg);
    fake_vfio_set_cfg(&fv, saved);
}

static void pba_elsewhere(uint8_t *cfg)
{
    cfg[0x78] = 0x00; /* PBA in BAR0 */
}
static void cap_loop(uint8_t *cfg)
{
    cfg[0xa1] = 0x70;
}
static void cap_low(uint8_t *cfg)
{
    cfg[0xa1] = 0x20;
}

START_TEST(function_refusals)
{
    cfg_refused(pba_elsewhere, "its MSI-X table and PBA are in different BARs");
    cfg_refused(cap_loop, "host device 0000:01:10.0: capability loop");
    cfg_refused(cap_low, "host device 0000:01:10.0: capability at 0x20");
    fv.region_size[0] = 0x3000;
    refused("ram 16M\npass loc pci:0:3.0=pci:0000:01:10.0",
            "host device 0000:01:10.0: BAR 0: size 0x3000");
    fv.region_size[0] = 0x4000;
    fv.region_flags[VFIO_REGION_CFG] = 0; /* unreadable */
    refused("ram 16M\npass loc pci:0:3.0=pci:0000:01:10.0", "cannot read its config space");
}
END_TEST

/* A BAR VFIO will not let us map is trapped instead. */
START_TEST(function_bar_unmappable)
{
    fv.region_flags[0] &= ~(uint32_t)VFIO_REGION_INFO_FLAG_MMAP;
    build_vf();
    ck_assert_uint_eq(fv.mmaps, 0);
    struct vfio_pci *p = vdev_state(vdev_machine_device(fe.m, 0));
    cfg_wr(4, 2, 0x0002);
    uint32_t v = 0x600dcafe;
    ck_assert_int_eq(pwrite(fv.memfd, &v, 4, (off_t)FAKE_VFIO_REGION_OFF(0) + 0x20), 4);
    ck_assert_uint_eq(mem_rd(vdev_pci_bar_base(p->f, 0) + 0x20, 4), 0x600dcafe);
}
END_TEST

/* A VF has no INTx: the guest sees no interrupt pin, and VFIO's INTx is never touched. */
START_TEST(function_no_intx)
{
    line_irqfds = true;
    build_vf();
    ck_assert_uint_eq(cfg_rd(0x3d, 1), 0);
    cfg_wr(4, 2, 0x0006);
    ck_assert_int_eq(fv.irq_kind, -1);
    ck_assert_uint_eq(fe.nline_fds, 0);
    ck_assert_uint_eq(cfg_rd(0x30, 4), 0); /* and no ROM */
}
END_TEST

/* INTx: armed at the guest's first command write, VFIO's trigger and unmask the core's
 * irqfd (on the function's GSI) and its resampler; off while MSI-X is on, back after. */
START_TEST(function_intx)
{
    fake_vfio_give_intx_rom(&fv);
    line_irqfds = true;
    build_vf();
    ck_assert_uint_eq(cfg_rd(0x3d, 1), 1);
    ck_assert_int_eq(fv.irq_kind, -1); /* nothing before the guest uses the device */
    cfg_wr(4, 2, 0x0006);
    ck_assert_int_eq(fv.irq_kind, VFIO_IRQ_INTX);
    ck_assert_uint_eq(fe.nline_fds, 1);
    ck_assert_uint_eq(fe.line_fds[0].gsi, cfg_rd(0x3c, 1));
    ck_assert_int_eq(fv.intx_trigger, fe.line_fds[0].fd);
    ck_assert_int_eq(fv.intx_unmask, fe.line_fds[0].resample_fd);
    ck_assert_int_ge(fe.line_fds[0].resample_fd, 0);
    unsigned sets = fv.irq_sets;
    cfg_wr(4, 2, 0x0406); /* INTx disable: the device's business (forwarded), no re-arming */
    ck_assert_uint_eq(host_cfg(4) & 0x0400, 0x0400);
    ck_assert_uint_eq(fv.irq_sets, sets);
    unsigned mx = cfg_rd(cfg_rd(0x34, 1) + 1, 1);
    cfg_wr(mx + 2, 2, 0x8000);
    ck_assert_int_eq(fv.irq_kind, VFIO_IRQ_MSIX);
    ck_assert_int_eq(fv.intx_trigger, -1);
    cfg_wr(mx + 2, 2, 0);
    ck_assert_int_eq(fv.irq_kind, VFIO_IRQ_INTX);
    ck_assert_int_eq(fv.intx_trigger, fe.line_fds[0].fd); /* the same pair */
    ck_assert_int_eq(fv.intx_unmask, fe.line_fds[0].resample_fd);
    cfg_wr(mx + 2, 2, 0x8000);
    vdev_machine_reset(fe.m); /* the core's reset turns MSI-X off: INTx comes back */
    ck_assert_int_eq(fv.irq_kind, VFIO_IRQ_INTX);
    ck_assert_msg(!strstr(fe.log, "MSI-X off:") && !strstr(fe.log, "INTx:"), "%s", fe.log);
    fake_machine_free(&fe);
    ck_assert_uint_eq(fe.nline_fds, 0);
}
END_TEST

/* Without a level irqfd in the hypervisor the device runs on MSI-X alone, said once. */
START_TEST(function_intx_refused)
{
    fake_vfio_give_intx_rom(&fv);
    build_vf();
    cfg_wr(4, 2, 0x0006);
    cfg_wr(4, 2, 0x0002);
    ck_assert_int_eq(fv.irq_kind, -1);
    const char *w = strstr(fe.log, "INTx not offered");
    ck_assert_msg(w && !strstr(w + 1, "INTx not offered"), "%s", fe.log);
}
END_TEST

/* MSI: the core's capability with the device's 4 vectors; the enabled ones' eventfds go
 * to VFIO (one kind at a time: INTx goes first and comes back after). */
START_TEST(function_msi)
{
    fake_vfio_give_intx_rom(&fv);
    fake_vfio_give_msi(&fv);
    line_irqfds = true;
    build_vf();
    unsigned msi = 0;
    for (unsigned c = cfg_rd(0x34, 1); c; c = cfg_rd(c + 1, 1))
        if (cfg_rd(c, 1) == 0x05)
            msi = c;
    ck_assert_uint_ne(msi, 0);
    ck_assert_uint_eq(cfg_rd(msi + 2, 2), 0x0084);
    cfg_wr(4, 2, 0x0006);
    ck_assert_int_eq(fv.irq_kind, VFIO_IRQ_INTX);
    cfg_wr(msi + 4, 4, 0xfee00000);
    cfg_wr(msi + 12, 2, 0x4040);
    cfg_wr(msi + 2, 2, 0x0011); /* 2 vectors */
    ck_assert_int_eq(fv.irq_kind, VFIO_IRQ_MSI);
    ck_assert_uint_eq(fv.last_irq_set.index, VFIO_PCI_MSI_IRQ_INDEX);
    ck_assert_uint_eq(fv.last_irq_set.count, 2);
    ck_assert_int_ge(fv.last_irq_fds[0], 0);
    ck_assert_int_ne(fv.last_irq_fds[0], fv.last_irq_fds[1]);
    cfg_wr(4, 2, 0x0006); /* a command write does not bring INTx back while MSI is on */
    ck_assert_int_eq(fv.irq_kind, VFIO_IRQ_MSI);
    cfg_wr(msi + 2, 2, 0);
    ck_assert_int_eq(fv.irq_kind, VFIO_IRQ_INTX);
    cfg_wr(msi + 2, 2, 0x0021); /* 4 */
    ck_assert_uint_eq(fv.last_irq_set.count, 4);
    vdev_machine_reset(fe.m);
    ck_assert_int_eq(fv.irq_kind, VFIO_IRQ_INTX);
    ck_assert_msg(!strstr(fe.log, "MSI off:") && !strstr(fe.log, "MSI on"), "%s", fe.log);
}
END_TEST

/* The ROM: placed, off until the guest enables it with memory decoding, then read from
 * VFIO's ROM region; writes change nothing; a reset turns it off again. */
START_TEST(function_rom)
{
    fake_vfio_give_intx_rom(&fv);
    build_vf();
    uint32_t placed = cfg_rd(0x30, 4);
    ck_assert_uint_ne(placed, 0);
    ck_assert_uint_eq(placed & 0x7ff, 0); /* not enabled */
    cfg_wr(0x30, 4, 0xfffff800);
    ck_assert_uint_eq(cfg_rd(0x30, 4), 0xffffc000); /* 16 KiB */
    cfg_wr(0x30, 4, 0xd0000001);
    uint64_t v = 0;
    ck_assert_int_ne(vdev_machine_access(fe.m, VDEV_SPACE_MEM, 0xd0000000, 4, false, &v),
                     VDEV_ACCESS_OK); /* memory decoding is off */
    cfg_wr(4, 2, 0x0002);
    ck_assert_uint_eq(mem_rd(0xd0000000, 4), 0xaa55aa55);
    ck_assert_uint_eq(mem_rd(0xd0003ffe, 2), 0xaa55);
    uint64_t w = 0;
    vdev_machine_access(fe.m, VDEV_SPACE_MEM, 0xd0000000, 4, true, &w);
    ck_assert_uint_eq(mem_rd(0xd0000000, 4), 0xaa55aa55);
    cfg_wr(0x30, 4, 0xd0000000); /* enable bit off */
    ck_assert_int_ne(vdev_machine_access(fe.m, VDEV_SPACE_MEM, 0xd0000000, 4, false, &v),
                     VDEV_ACCESS_OK);
    cfg_wr(0x30, 4, 0xd0000001);
    vdev_machine_reset(fe.m);
    ck_assert_uint_eq(cfg_rd(0x30, 4), placed);
    cfg_wr(4, 2, 0x0002);
    ck_assert_int_ne(vdev_machine_access(fe.m, VDEV_SPACE_MEM, 0xd0000000, 4, false, &v),
                     VDEV_ACCESS_OK);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vfio_pci_module");
    TCase *tc = tcase_create("module");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, pass_by_address);
    tcase_add_test(tc, pass_by_ids_managed);
    tcase_add_test(tc, refusals);
    tcase_add_test(tc, dma_follows_ram);
    tcase_add_test(tc, dryrun_touches_nothing);
    tcase_add_test(tc, no_vfio_group_hook);
    tcase_add_test(tc, start_refusals);
    tcase_add_test(tc, dma_failure_stops);
    tcase_add_test(tc, function_config);
    tcase_add_test(tc, function_bars);
    tcase_add_test(tc, function_msix);
    tcase_add_test(tc, function_refusals);
    tcase_add_test(tc, function_bar_unmappable);
    tcase_add_test(tc, function_no_intx);
    tcase_add_test(tc, function_intx);
    tcase_add_test(tc, function_intx_refused);
    tcase_add_test(tc, function_rom);
    tcase_add_test(tc, function_msi);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
