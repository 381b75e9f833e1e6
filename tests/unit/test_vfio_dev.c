/* lib/vfio's VFIO plumbing against a fake kernel: opening (container, type1v2, group,
 * device, regions with sparse mmap, interrupts, IOVA ranges) and every refusal with nothing
 * left open; reset; checked region access; DMA maps that skip the reserved IOVA window and
 * roll back; interrupt eventfds. */
#include <check.h>
#include <errno.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fake_vfio.h"

static struct fake_vfio f;
static struct vfio_dev d;
static struct vfio_host_why why;
static const struct vfio_host_dev hostdev = {
    .bdf = "0000:01:10.0", .driver = "vfio-pci", .vendor = 0x8086, .device = 0x10ca, .group = 2};

static void setup(void)
{
    fake_vfio_init(&f);
}

static void teardown(void)
{
    vfio_dev_close(&d);
    fake_vfio_free(&f);
}

static void open_ok(void)
{
    ck_assert_msg(vfio_dev_open(&d, &f.be, "/fake", &hostdev, &why) == 0, "%s", why.msg);
}

START_TEST(opens_and_describes)
{
    f.nsparse = 2;
    f.sparse[0] = (struct vfio_area){0, 0x2000};
    f.sparse[1] = (struct vfio_area){0x3000, 0x1000};
    open_ok();
    ck_assert(d.can_reset);
    ck_assert_uint_eq(d.nregions, VFIO_NREGIONS);
    ck_assert_uint_eq(d.region[0].size, 0x4000);
    ck_assert(d.region[0].mmap);
    ck_assert_uint_eq(d.region[0].nmmap, 2);
    ck_assert_uint_eq(d.region[0].mmap_areas[1].offset, 0x3000);
    ck_assert_uint_eq(d.region[3].nmmap, 1); /* no sparse list: the whole BAR */
    ck_assert_uint_eq(d.region[3].mmap_areas[0].size, 0x4000);
    ck_assert(!d.region[1].mmap);
    ck_assert_uint_eq(d.region[VFIO_REGION_CFG].size, 256);
    ck_assert(!d.region[VFIO_REGION_CFG].mmap);
    ck_assert_uint_eq(d.irq_count[VFIO_IRQ_MSIX], 3);
    ck_assert_uint_eq(d.irq_count[VFIO_IRQ_INTX], 0);
    ck_assert_uint_eq(d.niova, 2);
    ck_assert_uint_eq(d.iova[0].end, 0xfedfffff);
    ck_assert_uint_eq(d.iova[1].start, 0xfef00000);
    vfio_dev_close(&d);
    ck_assert_uint_eq(f.opens, f.closes - 1); /* the device fd is the memfd: closed too */
}
END_TEST

/* No IOVA capability: everything is mappable. */
START_TEST(no_iova_ranges)
{
    f.niova = 0;
    open_ok();
    ck_assert_uint_eq(d.niova, 1);
    ck_assert_uint_eq(d.iova[0].end, UINT64_MAX);
}
END_TEST

static void open_fails(const char *msg)
{
    unsigned opens = f.opens, closes = f.closes;
    ck_assert_int_eq(vfio_dev_open(&d, &f.be, "/fake", &hostdev, &why), -1);
    ck_assert_msg(strstr(why.msg, msg), "'%s' lacks '%s'", why.msg, msg);
    /* every fd it opened is closed again (the device fd counts as a close, not an open) */
    ck_assert_uint_ge(f.closes - closes, f.opens - opens);
    ck_assert_int_eq(d.container, -1);
    ck_assert_int_eq(d.group, -1);
    ck_assert_int_eq(d.device, -1);
}

static void fail_ioctl(unsigned long req, unsigned nth, const char *msg)
{
    memset(f.seen, 0, sizeof(f.seen));
    f.fail_req = req;
    f.fail_nth = nth;
    open_fails(msg);
    f.fail_req = 0;
}

START_TEST(open_refusals)
{
    f.fail_open = "vfio/vfio";
    open_fails("/fake/vfio/vfio: No such file or directory");
    f.fail_open = "vfio/2";
    f.fail_errno = EBUSY;
    open_fails("/fake/vfio/2: Device or resource busy");
    ck_assert_str_eq(why.hint, "another process (a VM?) has the group");
    f.fail_open = NULL;
    f.fail_errno = 0;
    f.api_version = 1;
    open_fails("not VFIO API version 0");
    f.api_version = VFIO_API_VERSION;
    f.no_type1v2 = true;
    open_fails("no type1v2 IOMMU");
    f.no_type1v2 = false;
    f.not_viable = true;
    open_fails("IOMMU group 2 is not viable");
    f.not_viable = false;
    fail_ioctl(VFIO_GROUP_GET_STATUS, 1, "IOMMU group 2: status");
    fail_ioctl(VFIO_GROUP_SET_CONTAINER, 1, "IOMMU group 2: set container");
    fail_ioctl(VFIO_SET_IOMMU, 1, "IOMMU group 2: type1v2 IOMMU");
    fail_ioctl(VFIO_IOMMU_GET_INFO, 1, "IOMMU info: Input/output error");
    fail_ioctl(VFIO_IOMMU_GET_INFO, 2, "IOMMU info: Input/output error");
    fail_ioctl(VFIO_GROUP_GET_DEVICE_FD, 1, "0000:01:10.0: no device fd from IOMMU group 2");
    fail_ioctl(VFIO_DEVICE_GET_INFO, 1, "0000:01:10.0: device info");
    fail_ioctl(VFIO_DEVICE_GET_IRQ_INFO, 2, "0000:01:10.0: interrupt info 1");
    fail_ioctl(VFIO_DEVICE_GET_REGION_INFO, 3, "0000:01:10.0: region 2 info");
    f.nsparse = 1;
    f.sparse[0] = (struct vfio_area){0, 0x1000};
    fail_ioctl(VFIO_DEVICE_GET_REGION_INFO, 2, "0000:01:10.0: region 0 info"); /* the 2nd call */
    f.sparse[0] = (struct vfio_area){0x3000, 0x2000};
    open_fails("region 0: sparse area past its end");
    f.nsparse = 0;
    f.dev_flags = VFIO_DEVICE_FLAGS_PLATFORM;
    open_fails("VFIO does not call it a PCI device");
    f.dev_flags = VFIO_DEVICE_FLAGS_PCI;
    f.num_regions = 7;
    open_fails("VFIO lists 7 regions and 5 interrupt kinds");
    f.num_regions = VFIO_PCI_NUM_REGIONS;
    f.irq_count[VFIO_IRQ_MSIX] = 4096;
    open_fails("impossible interrupt counts");
    f.irq_count[VFIO_IRQ_MSIX] = 3;
    f.iova[1].start = 0x1000; /* overlaps the first */
    open_fails("IOVA ranges out of order");
    f.iova[1].start = 0xfef00000;
    f.region_size[1] = 0x1000; /* a region whose offset + size wraps cannot be made here */
    open_ok();
    ck_assert(!d.can_reset); /* dev_flags lost RESET above */
    ck_assert_int_eq(vfio_dev_reset(&d), -1);
    ck_assert_int_eq(errno, ENOTSUP);
}
END_TEST

START_TEST(reset)
{
    open_ok();
    ck_assert_int_eq(vfio_dev_reset(&d), 0);
    ck_assert_uint_eq(f.resets, 1);
    f.fail_req = VFIO_DEVICE_RESET;
    f.fail_nth = 2;
    ck_assert_int_eq(vfio_dev_reset(&d), -1);
}
END_TEST

START_TEST(region_access)
{
    open_ok();
    uint32_t v = 0x12345678, r = 0;
    ck_assert_int_eq(vfio_region_write(&d, VFIO_REGION_CFG, 0x40, &v, 4), 0);
    ck_assert_int_eq(vfio_region_read(&d, VFIO_REGION_CFG, 0x40, &r, 4), 0);
    ck_assert_uint_eq(r, v);
    uint32_t raw = 0;
    ck_assert_int_eq(pread(f.memfd, &raw, 4, (off_t)FAKE_VFIO_REGION_OFF(VFIO_REGION_CFG) + 0x40),
                     4);
    ck_assert_uint_eq(raw, v);
    /* out of bounds, empty, a missing region, a region that cannot be read */
    ck_assert_int_eq(vfio_region_read(&d, VFIO_REGION_CFG, 0xfe, &r, 4), -1);
    ck_assert_int_eq(vfio_region_read(&d, VFIO_REGION_CFG, 0x1000, &r, 1), -1);
    ck_assert_int_eq(vfio_region_read(&d, VFIO_REGION_CFG, UINT64_MAX, &r, 4), -1);
    ck_assert_int_eq(vfio_region_read(&d, VFIO_REGION_CFG, 0, &r, 0), -1);
    ck_assert_int_eq(vfio_region_read(&d, 9, 0, &r, 4), -1);
    ck_assert_int_eq(vfio_region_write(&d, 1, 0, &v, 4), -1); /* BAR1: size 0 */
    ck_assert_int_eq(vfio_region_read(&d, 0, 0x3ffc, &r, 4), 0);
}
END_TEST

/* 4 GiB of RAM at 0 maps as two pieces around the MSI window; unmapping does the same. */
START_TEST(dma_skips_reserved)
{
    open_ok();
    static char ram[0x4000] __attribute__((aligned(4096)));
    char *host = ram; /* only the address is used: the fake maps nothing */
    ck_assert_int_eq(vfio_dma_map(&d, 0, 1ull << 32, host), 0);
    ck_assert_uint_eq(f.ndma, 2);
    ck_assert(f.dma[0].map);
    ck_assert_uint_eq(f.dma[0].iova, 0);
    ck_assert_uint_eq(f.dma[0].size, 0xfee00000);
    ck_assert_uint_eq(f.dma[0].vaddr, (uintptr_t)host);
    ck_assert_uint_eq(f.dma[1].iova, 0xfef00000);
    ck_assert_uint_eq(f.dma[1].size, 0x01100000);
    ck_assert_uint_eq(f.dma[1].vaddr, (uintptr_t)host + 0xfef00000);
    ck_assert_int_eq(vfio_dma_unmap(&d, 0, 1ull << 32), 0);
    ck_assert_uint_eq(f.ndma, 4);
    ck_assert(!f.dma[2].map);
    ck_assert_uint_eq(f.dma[3].iova, 0xfef00000);
    /* RAM wholly inside the window: nothing to map; above 4 GiB: one piece */
    ck_assert_int_eq(vfio_dma_map(&d, 0xfee00000, 0x1000, host), 0);
    ck_assert_uint_eq(f.ndma, 4);
    ck_assert_int_eq(vfio_dma_map(&d, 1ull << 32, 1ull << 30, host), 0);
    ck_assert_uint_eq(f.ndma, 5);
    /* past the IOMMU's address width: nothing is mapped there */
    ck_assert_int_eq(vfio_dma_map(&d, 1ull << 48, 0x1000, host), 0);
    ck_assert_uint_eq(f.ndma, 5);
}
END_TEST

START_TEST(dma_refusals_and_rollback)
{
    open_ok();
    static char ram[0x2000] __attribute__((aligned(4096)));
    ck_assert_int_eq(vfio_dma_map(&d, 0x800, 0x1000, ram), -1); /* unaligned */
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(vfio_dma_map(&d, 0, 0x1800, ram), -1);
    ck_assert_int_eq(vfio_dma_map(&d, 0, 0x1000, ram + 1), -1);
    ck_assert_int_eq(vfio_dma_map(&d, 0, 0, ram), -1);
    ck_assert_int_eq(vfio_dma_map(&d, 0, 0x1000, NULL), -1);
    ck_assert_int_eq(vfio_dma_map(&d, UINT64_MAX - 0xfff, 0x2000, ram), -1); /* wraps */
    ck_assert_int_eq(vfio_dma_unmap(&d, 0x10, 0x1000), -1);
    ck_assert_uint_eq(f.ndma, 0);
    /* the second piece fails: the first is unmapped again and errno survives */
    f.fail_req = VFIO_IOMMU_MAP_DMA;
    f.fail_nth = 2;
    f.fail_errno = ENOMEM;
    ck_assert_int_eq(vfio_dma_map(&d, 0, 1ull << 32, ram), -1);
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_uint_eq(f.ndma, 2);
    ck_assert(f.dma[0].map);
    ck_assert(!f.dma[1].map);
    ck_assert_uint_eq(f.dma[1].iova, 0);
    ck_assert_uint_eq(f.dma[1].size, 0xfee00000);
    /* an unmap that fails is reported */
    f.fail_req = VFIO_IOMMU_UNMAP_DMA;
    f.fail_nth = 2;
    ck_assert_int_eq(vfio_dma_unmap(&d, 0, 0x1000), -1);
}
END_TEST

START_TEST(irq_eventfds)
{
    f.irq_count[VFIO_IRQ_INTX] = 1;
    open_ok();
    int32_t fds[3] = {10, -1, 12};
    ck_assert_int_eq(vfio_irq_set_eventfds(&d, VFIO_IRQ_MSIX, 0, 3, fds), 0);
    ck_assert_uint_eq(f.last_irq_set.index, VFIO_IRQ_MSIX);
    ck_assert_uint_eq(f.last_irq_set.count, 3);
    ck_assert_uint_eq(f.last_irq_set.flags,
                      VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER);
    ck_assert_int_eq(f.last_irq_fds[1], -1);
    ck_assert_int_eq(f.last_irq_fds[2], 12);
    ck_assert_int_eq(vfio_irq_set_eventfds(&d, VFIO_IRQ_MSIX, 2, 1, fds + 2), 0);
    ck_assert_uint_eq(f.last_irq_set.start, 2);
    ck_assert_int_eq(vfio_irq_set_eventfds(&d, VFIO_IRQ_MSIX, 0, 0, NULL), 0); /* disable */
    ck_assert_uint_eq(f.last_irq_set.flags, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER);
    ck_assert_int_eq(vfio_irq_intx_unmask_fd(&d, 7), -1); /* INTx is off (the kernel's rule) */
    ck_assert_int_eq(vfio_irq_set_eventfds(&d, VFIO_IRQ_INTX, 0, 1, fds), 0);
    ck_assert_int_eq(vfio_irq_intx_unmask_fd(&d, 7), 0);
    ck_assert_uint_eq(f.last_irq_set.flags, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK);
    ck_assert_int_eq(f.last_irq_fds[0], 7);
    ck_assert_int_eq(f.intx_trigger, 10);
    ck_assert_int_eq(f.intx_unmask, 7);
    ck_assert_int_eq(vfio_irq_set_eventfds(&d, VFIO_IRQ_MSIX, 0, 3, fds), -1); /* one kind */
    ck_assert_int_eq(vfio_irq_set_eventfds(&d, VFIO_IRQ_INTX, 0, 0, NULL), 0);
    ck_assert_int_eq(f.intx_trigger, -1);
    unsigned sets = f.irq_sets;
    ck_assert_int_eq(vfio_irq_set_eventfds(&d, VFIO_IRQ_MSIX, 2, 2, fds), -1); /* past the end */
    ck_assert_int_eq(vfio_irq_set_eventfds(&d, VFIO_IRQ_MSIX, 4, 0, fds), -1);
    ck_assert_int_eq(vfio_irq_set_eventfds(&d, VFIO_IRQ_MSI, 0, 1, fds), -1); /* has none */
    ck_assert_int_eq(vfio_irq_set_eventfds(&d, 3, 0, 1, fds), -1);
    ck_assert_int_eq(vfio_irq_set_eventfds(&d, VFIO_IRQ_MSIX, 0, 1, NULL), -1);
    ck_assert_uint_eq(f.irq_sets, sets);
    f.fail_req = VFIO_DEVICE_SET_IRQS;
    f.fail_nth = f.seen[_IOC_NR(VFIO_DEVICE_SET_IRQS) - VFIO_BASE] + 1; /* (refused ones count) */
    ck_assert_int_eq(vfio_irq_set_eventfds(&d, VFIO_IRQ_MSIX, 0, 1, fds), -1);
}
END_TEST

START_TEST(no_intx)
{
    open_ok();
    ck_assert_int_eq(vfio_irq_intx_unmask_fd(&d, 7), -1);
    ck_assert_uint_eq(f.irq_sets, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vfio_dev");
    TCase *tc = tcase_create("dev");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, opens_and_describes);
    tcase_add_test(tc, no_iova_ranges);
    tcase_add_test(tc, open_refusals);
    tcase_add_test(tc, reset);
    tcase_add_test(tc, region_access);
    tcase_add_test(tc, dma_skips_reserved);
    tcase_add_test(tc, dma_refusals_and_rollback);
    tcase_add_test(tc, irq_eventfds);
    tcase_add_test(tc, no_intx);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
