/* vdev shmem at a memory loc: its DSDT node (PRP0001 with a _DSD compatible, as Linux binds
 * OF drivers through ACPI) and its device-tree node ("qvm,guest_shm"), and where it puts
 * its region window. */
#include <check.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asl_check.h"
#include "fake_embedder.h"
#include "shmem_dev.h"
#include <vdev/acpi.h>
#include <vdev/fdt.h>
#include <vdev/pci.h>

extern const struct vdev_type vdev_module_shmem;

static struct fake_embedder fe;
static char dir[64];

static void setup(void)
{
    struct vdev_err err;
    ck_assert_int_eq(vdev_register_type(&vdev_module_shmem, &err), 0);
    snprintf(dir, sizeof(dir), "/tmp/vdevkit-shmem-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    if (fe.m)
        fake_machine_free(&fe);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void machine(const char *conf, uint64_t mmio64_base)
{
    struct vdev_err err;
    fake_machine_new(&fe);
    struct vdev_pci_host_desc h = {.ecam_base = 0xe0000000,
                                   .buses = 1,
                                   .cf8_ports = true,
                                   .mmio32_base = 0xc0000000,
                                   .mmio32_size = 0x10000000,
                                   .mmio64_base = mmio64_base,
                                   .mmio64_size = 0x4000000000ull,
                                   .io_base = 0xc000,
                                   .io_size = 0x1000,
                                   .intx_pic = "ioapic",
                                   .intx_lines = {16, 17, 18, 19}};
    if (vdev_machine_add_pci(fe.m, &h, &err) || fake_machine_build_string(&fe, conf, &err))
        ck_abort_msg("%s", err.msg);
}

/* The device's region window, from the memory map. */
static void find_window(const struct vdev_region_info *r, void *arg)
{
    if (r->kind == VDEV_REGION_WINDOW && !strcmp(r->owner, "shmem"))
        *(uint64_t *)arg = r->base;
}

static uint64_t window_base(void)
{
    uint64_t base = 0;
    vdev_bus_foreach(vdev_machine_bus(fe.m), VDEV_SPACE_MEM, find_window, &base);
    return base;
}

START_TEST(window_placement)
{
    /* x86: the PCI 64-bit window at 256 GiB; the region window goes to 64 GiB */
    machine("ram 0,16M vdev shmem loc 0xd1000000 intr ioapic:11", 0x4000000000ull);
    ck_assert_uint_eq(window_base(), 64ull << 30);
    fake_machine_free(&fe);
    /* a narrow host: the PCI window at 48 GiB; the region window goes to 4 GiB */
    machine("ram 0,16M vdev shmem loc 0xd1000000 intr ioapic:11 window 256M", 48ull << 30);
    ck_assert_uint_eq(window_base(), 4ull << 30);
    fake_machine_free(&fe);
    /* two devices: side by side */
    machine("ram 0,16M vdev shmem loc 0xd1000000 intr ioapic:11 "
            "vdev shmem loc 0xd1001000 intr ioapic:12",
            0x4000000000ull);
    ck_assert_ptr_nonnull(vdev_machine_device(fe.m, 1));
    char out[8192];
    FILE *f = fmemopen(out, sizeof(out), "w");
    vdev_machine_print(fe.m, f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(out, "window 0x1000000000+0x40000000"));
    ck_assert_ptr_nonnull(strstr(out, "window 0x1040000000+0x40000000"));
}
END_TEST

START_TEST(dsdt_node)
{
    machine("ram 0,16M vdev shmem vdev shmem loc 0xd1000000 intr ioapic:11", 0x4000000000ull);
    struct vdev_aml *a = vdev_aml_new();
    struct vdev_err err;
    ck_assert_msg(vdev_machine_gen_acpi(fe.m, a, &err) == 0, "%s", err.msg);
    size_t len;
    const uint8_t *aml = vdev_aml_data(a, &len);
    ck_assert_ptr_nonnull(aml);
    /* wrap it in a DSDT header for iasl */
    size_t total = 36 + len;
    uint8_t *t = calloc(1, total);
    memcpy(t, "DSDT", 4);
    t[4] = (uint8_t)total;
    t[5] = (uint8_t)(total >> 8);
    t[8] = 2;
    memcpy(t + 10, "VDEVKT", 6);
    memcpy(t + 16, "TESTTEST", 8);
    memcpy(t + 36, aml, len);
    uint8_t sum = 0;
    for (size_t i = 0; i < total; i++)
        sum = (uint8_t)(sum + t[i]);
    t[9] = (uint8_t)(0 - sum);
    const char *dsl = asl_disassemble(dir, "dsdt", t, total);
    asl_must_contain(dsl, "Device (SM01)");
    asl_must_contain(dsl, "Name (_HID, \"PRP0001\")");
    asl_must_contain(dsl, "Name (_UID, One)");
    asl_must_contain(dsl, "ToUUID (\"daffd814-6eba-4d8c-8a91-bc9bbf4aa301\")");
    asl_must_contain(dsl, "\"compatible\",");
    asl_must_contain(dsl, "\"qvm,guest_shm\"");
    asl_must_contain(dsl, "Memory32Fixed (ReadWrite, 0xD1000000, // Address Base "
                          "0x00001000, // Address Length");
    asl_must_contain(dsl, "QWordMemory (ResourceConsumer, PosDecode, MinFixed, MaxFixed, "
                          "Prefetchable, ReadWrite,");
    asl_must_contain(dsl, "0x0000001000000000, // Range Minimum");
    asl_must_contain(dsl, "0x0000000040000000, // Length");
    asl_must_contain(dsl, "Interrupt (ResourceConsumer, Level, ActiveHigh, Shared, ,, )");
    asl_must_contain(dsl, "0x0000000B,");
    ck_assert_ptr_null(strstr(dsl, "SM00")); /* the PCI one describes itself through PCI */
    free(t);
    vdev_aml_free(a);
}
END_TEST

START_TEST(fdt_node)
{
    machine("ram 0,16M vdev shmem loc 0xd1000000 intr ioapic:11", 0x4000000000ull);
    static const uint64_t ioapic_reg[2] = {0xfec00000, 0x1000};
    struct vdev_fdt_platform p = {.compatible = "vdevkit,x86",
                                  .model = "test",
                                  .intc = {.name = "interrupt-controller@fec00000",
                                           .compatible = "intel,ce4100-ioapic",
                                           .reg = ioapic_reg,
                                           .nreg = 1,
                                           .interrupt_cells = 2}};
    static uint8_t buf[65536];
    struct vdev_err err;
    ck_assert_msg(vdev_machine_gen_fdt(fe.m, &p, buf, sizeof(buf), &err) == 0, "%s", err.msg);
    int node = fdt_path_offset(buf, "/guest_shm@d1000000");
    ck_assert_int_ge(node, 0);
    ck_assert_str_eq(fdt_getprop(buf, node, "compatible", NULL), "qvm,guest_shm");
    int len;
    const fdt32_t *reg = fdt_getprop(buf, node, "reg", &len);
    ck_assert_int_eq(len, 32);
    ck_assert_uint_eq(fdt32_to_cpu(reg[1]), 0xd1000000);
    ck_assert_uint_eq(fdt32_to_cpu(reg[3]), 0x1000);
    ck_assert_uint_eq(fdt32_to_cpu(reg[4]), 0x10); /* 64 GiB */
    ck_assert_uint_eq(fdt32_to_cpu(reg[7]), 0x40000000);
    const fdt32_t *irq = fdt_getprop(buf, node, "interrupts", &len);
    ck_assert_int_eq(len, 8);
    ck_assert_uint_eq(fdt32_to_cpu(irq[0]), 11);
    ck_assert_uint_eq(fdt32_to_cpu(irq[1]), VDEV_FDT_IRQ_LEVEL_HIGH);
}
END_TEST

static Suite *describe_suite(void)
{
    Suite *s = suite_create("shmem_describe");
    TCase *tc = tcase_create("describe");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, window_placement);
    tcase_add_test(tc, dsdt_node);
    tcase_add_test(tc, fdt_node);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(describe_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
