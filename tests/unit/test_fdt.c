/* The machine's flattened device tree (core/fdt_gen.c, ser8250's gen_fdt): read back with
 * libfdt (header, nodes, properties, phandles), errors, a dtc round trip, and the vdevkit
 * command's `set fdt-dump-file` in a dry run. */
#include <check.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vdev/fdt.h>

#include "fake_embedder.h"

#define BUF_SIZE 0x10000
#define CONF                                                                                       \
    "ram 64M cpu cpu cmdline \"console=ttyS0 quiet\" "                                             \
    "vdev ser8250 vdev ser8250 loc io:0x2f8 intr ioapic:3"

static struct fake_embedder fe;
static uint8_t buf[BUF_SIZE];
static char dir[64];
static const uint64_t ioapic_reg[2] = {0xfec00000, 0x1000};

static struct vdev_fdt_platform x86_platform(void)
{
    struct vdev_fdt_platform p = {
        .compatible = "vdevkit,x86",
        .model = "test",
        .intc = {.name = "interrupt-controller@fec00000",
                 .compatible = "intel,ce4100-ioapic",
                 .reg = ioapic_reg,
                 .nreg = 1,
                 .interrupt_cells = 2},
    };
    return p;
}

static void setup(void)
{
    fe.m = NULL;
    memset(buf, 0, sizeof(buf));
    snprintf(dir, sizeof(dir), "/tmp/vdevkit-fdt-XXXXXX");
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

static void machine(const char *conf)
{
    struct vdev_err err;
    fake_machine_new(&fe);
    ck_assert_msg(fake_machine_build_string(&fe, conf, &err) == 0, "build: %s", err.msg);
}

static void generate(const struct vdev_fdt_platform *p)
{
    struct vdev_err err;
    ck_assert_msg(vdev_machine_gen_fdt(fe.m, p, buf, sizeof(buf), &err) == 0, "gen: %s", err.msg);
    ck_assert_int_eq(fdt_check_header(buf), 0);
}

static int node(const char *path)
{
    int off = fdt_path_offset(buf, path);
    ck_assert_msg(off >= 0, "%s: %s", path, fdt_strerror(off));
    return off;
}

static const fdt32_t *prop(int off, const char *name, int cells)
{
    int len;
    const fdt32_t *p = fdt_getprop(buf, off, name, &len);
    ck_assert_msg(p != NULL, "no property %s", name);
    ck_assert_int_eq(len, cells * 4);
    return p;
}

static uint32_t u32(int off, const char *name)
{
    return fdt32_to_cpu(prop(off, name, 1)[0]);
}

static uint64_t u64_at(const fdt32_t *p, int i)
{
    return (uint64_t)fdt32_to_cpu(p[2 * i]) << 32 | fdt32_to_cpu(p[2 * i + 1]);
}

static const char *str(int off, const char *name)
{
    const char *s = fdt_getprop(buf, off, name, NULL);
    ck_assert_msg(s != NULL, "no property %s", name);
    return s;
}

START_TEST(x86_tree_reads_back)
{
    machine(CONF);
    struct vdev_fdt_platform p = x86_platform();
    generate(&p);
    ck_assert_uint_eq(vdev_fdt_intc_phandle(fe.m), 0); /* only while building */

    int root = node("/");
    ck_assert_uint_eq(u32(root, "#address-cells"), 2);
    ck_assert_uint_eq(u32(root, "#size-cells"), 2);
    ck_assert_str_eq(str(root, "compatible"), "vdevkit,x86");
    ck_assert_str_eq(str(root, "model"), "test");

    int mem = node("/memory@0");
    ck_assert_str_eq(str(mem, "device_type"), "memory");
    const fdt32_t *reg = prop(mem, "reg", 4);
    ck_assert_uint_eq(u64_at(reg, 0), 0);
    ck_assert_uint_eq(u64_at(reg, 1), 64ull << 20);

    int cpus = node("/cpus");
    int ncpu = 0, c;
    fdt_for_each_subnode(c, buf, cpus)
    {
        ck_assert_str_eq(str(c, "device_type"), "cpu");
        ncpu++;
    }
    ck_assert_int_eq(ncpu, 2);
    ck_assert_uint_eq(u32(node("/cpus/cpu@1"), "reg"), 1);

    int chosen = node("/chosen");
    ck_assert_str_eq(str(chosen, "bootargs"), "console=ttyS0 quiet");
    ck_assert_ptr_null(fdt_getprop(buf, chosen, "linux,initrd-start", NULL));

    int ic = node("/interrupt-controller@fec00000");
    ck_assert_str_eq(str(ic, "compatible"), "intel,ce4100-ioapic");
    ck_assert_ptr_nonnull(fdt_getprop(buf, ic, "interrupt-controller", NULL));
    ck_assert_uint_eq(u32(ic, "#interrupt-cells"), 2);
    uint32_t ph = fdt_get_phandle(buf, ic);
    ck_assert_uint_ne(ph, 0);
    ck_assert_int_eq(fdt_node_offset_by_phandle(buf, ph), ic);
    ck_assert_uint_eq(u64_at(prop(ic, "reg", 4), 0), 0xfec00000);

    /* Written order: root properties as written, devices in configuration order. */
    const char *pname;
    fdt_getprop_by_offset(buf, fdt_first_property_offset(buf, root), &pname, NULL);
    ck_assert_str_eq(pname, "#address-cells");
    ck_assert_str_eq(fdt_get_name(buf, fdt_first_subnode(buf, cpus), NULL), "cpu@0");
    int last = -1;
    fdt_for_each_subnode(c, buf, root) last = c;
    ck_assert_str_eq(fdt_get_name(buf, last, NULL), "serial@2f8");
    ck_assert_int_lt(node("/serial@3f8"), last);

    const char *paths[2] = {"/serial@3f8", "/serial@2f8"};
    const uint32_t lines[2] = {4, 3};
    for (int i = 0; i < 2; i++) {
        int s = node(paths[i]);
        ck_assert_str_eq(str(s, "compatible"), "ns16550a");
        ck_assert_uint_eq(u32(s, "clock-frequency"), 1843200);
        const fdt32_t *r = prop(s, "reg", 4);
        ck_assert_uint_eq(u64_at(r, 0), i == 0 ? 0x3f8 : 0x2f8);
        ck_assert_uint_eq(u64_at(r, 1), 8);
        ck_assert_uint_eq(u32(s, "interrupt-parent"), ph);
        const fdt32_t *irq = prop(s, "interrupts", 2);
        ck_assert_uint_eq(fdt32_to_cpu(irq[0]), lines[i]);
        ck_assert_uint_eq(fdt32_to_cpu(irq[1]), VDEV_FDT_IRQ_EDGE_RISING);
    }
}
END_TEST

/* A GIC-style controller (3 cells, SPIs from GSI 0 here), a platform cpu count and an initrd. */
START_TEST(gic_platform_initrd_and_cpu_count)
{
    machine("ram 0x40000000,16M vdev ser8250 loc mem:0x9000000 intr ioapic:20");
    struct vdev_fdt_platform p = {
        .compatible = "linux,dummy-virt",
        .ncpus = 4,
        .cpu_compatible = "arm,cortex-a57",
        .has_initrd = true,
        .initrd_start = 0x48000000,
        .initrd_end = 0x48100000,
        .intc = {.name = "intc@8000000", .compatible = "arm,gic-v3", .interrupt_cells = 3},
    };
    generate(&p);
    int ncpu = 0, c;
    fdt_for_each_subnode(c, buf, node("/cpus"))
    {
        ck_assert_str_eq(str(c, "compatible"), "arm,cortex-a57");
        ncpu++;
    }
    ck_assert_int_eq(ncpu, 4);
    int chosen = node("/chosen");
    ck_assert_uint_eq(u64_at(prop(chosen, "linux,initrd-start", 2), 0), 0x48000000);
    ck_assert_uint_eq(u64_at(prop(chosen, "linux,initrd-end", 2), 0), 0x48100000);
    ck_assert_ptr_null(fdt_getprop(buf, chosen, "bootargs", NULL));
    ck_assert_uint_eq(u64_at(prop(node("/memory@40000000"), "reg", 4), 1), 16 << 20);
    const fdt32_t *irq = prop(node("/serial@9000000"), "interrupts", 3);
    ck_assert_uint_eq(fdt32_to_cpu(irq[0]), 0);
    ck_assert_uint_eq(fdt32_to_cpu(irq[1]), 20);
    ck_assert_uint_eq(fdt32_to_cpu(irq[2]), VDEV_FDT_IRQ_LEVEL_HIGH);
}
END_TEST

START_TEST(errors_are_clear)
{
    struct vdev_err err;
    struct vdev_fdt_platform p = x86_platform();
    fake_machine_new(&fe);
    ck_assert_int_eq(vdev_machine_gen_fdt(fe.m, &p, buf, sizeof(buf), &err), -1);
    ck_assert_str_eq(err.msg, "FDT: the machine is not built yet");
    fake_machine_free(&fe);

    machine(CONF);
    ck_assert_int_eq(vdev_machine_gen_fdt(fe.m, &p, buf, 128, &err), -1);
    ck_assert_msg(strstr(err.msg, "too small"), "%s", err.msg);
    /* Room for the platform's nodes but not the devices': the device is named. */
    bool named = false;
    for (size_t size = 256; size < sizeof(buf) && !named; size += 8) {
        ck_assert_int_eq(vdev_machine_gen_fdt(fe.m, &p, buf, size, &err), -1);
        ck_assert_msg(strstr(err.msg, "too small"), "%s", err.msg);
        named = strstr(err.msg, "vdev ser8250") != NULL;
    }
    ck_assert(named);
    /* A GSI below the GIC's first SPI cannot be described. */
    p.intc.interrupt_cells = 3;
    p.intc.spi_base = 32;
    ck_assert_int_eq(vdev_machine_gen_fdt(fe.m, &p, buf, sizeof(buf), &err), -1);
    ck_assert_msg(strstr(err.msg, "vdev ser8250") && strstr(err.msg, "FDT"), "%s", err.msg);
    p.intc.interrupt_cells = 1;
    ck_assert_int_eq(vdev_machine_gen_fdt(fe.m, &p, buf, sizeof(buf), &err), -1);
    ck_assert_msg(strstr(err.msg, "#interrupt-cells"), "%s", err.msg);
}
END_TEST

/* A virtio device on MMIO: the transport's node (the "virtio,mmio" binding) stands where the
 * device's line is, before the next device's node. (A transport's refusal: test_layers.) */
START_TEST(transport_node_comes_first)
{
    machine("ram 64M cpu cpu cmdline \"console=ttyS0 quiet\" vdev ser8250 "
            "vdev virtio-net loc 0xd0000000 intr ioapic:5 "
            "vdev ser8250 loc io:0x2f8 intr ioapic:3");
    struct vdev_fdt_platform p = x86_platform();
    generate(&p);
    int t = node("/virtio_mmio@d0000000");
    ck_assert_str_eq(str(t, "compatible"), "virtio,mmio");
    ck_assert_ptr_nonnull(fdt_getprop(buf, t, "dma-coherent", NULL));
    ck_assert_uint_eq(u64_at(prop(t, "reg", 4), 0), 0xd0000000);
    const fdt32_t *irq = prop(t, "interrupts", 2);
    ck_assert_uint_eq(fdt32_to_cpu(irq[0]), 5);
    ck_assert_uint_eq(fdt32_to_cpu(irq[1]), VDEV_FDT_IRQ_LEVEL_HIGH);
    ck_assert_uint_eq(u32(t, "interrupt-parent"),
                      fdt_get_phandle(buf, node("/interrupt-controller@fec00000")));
    ck_assert_int_eq(fdt_next_subnode(buf, t), node("/serial@2f8"));
}
END_TEST

static bool have_dtc(void)
{
    return system("dtc --version >/dev/null 2>&1") == 0;
}

/* dtc -I dtb -O dts of FILE; returns its exit status, output in *out. */
static int dtc_decompile(const char *file, char **out)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "dtc -I dtb -O dts %s 2>&1", file);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t cap = 1 << 16, len = 0, n;
    *out = calloc(1, cap);
    while ((n = fread(*out + len, 1, cap - 1 - len, p)) > 0)
        len += n;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(dtc_round_trip)
{
    if (!have_dtc()) {
        fprintf(stderr, "test_fdt: dtc missing (scripts/install-deps.sh): round trip skipped\n");
        return;
    }
    machine(CONF);
    struct vdev_fdt_platform p = x86_platform();
    generate(&p);
    char path[128], back[128];
    snprintf(path, sizeof(path), "%s/t.dtb", dir);
    snprintf(back, sizeof(back), "%s/back.dtb", dir);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, fdt_totalsize(buf), f), fdt_totalsize(buf));
    fclose(f);
    char *dts;
    ck_assert_int_eq(dtc_decompile(path, &dts), 0);
    ck_assert_ptr_nonnull(strstr(dts, "compatible = \"ns16550a\""));
    ck_assert_ptr_nonnull(strstr(dts, "bootargs = \"console=ttyS0 quiet\""));
    ck_assert_ptr_nonnull(strstr(dts, "interrupt-controller;"));
    free(dts);
    /* dts -> dtb again: the same tree. */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "dtc -I dtb -O dts %s | dtc -I dts -O dtb -o %s - 2>/dev/null", path,
             back);
    ck_assert_int_eq(system(cmd), 0);
    static uint8_t again[BUF_SIZE];
    f = fopen(back, "rb");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(again, 1, sizeof(again), f);
    fclose(f);
    ck_assert_int_eq(fdt_check_header(again), 0);
    ck_assert_uint_eq(n, fdt_totalsize(again));
    int a = fdt_path_offset(again, "/serial@2f8");
    ck_assert_int_ge(a, 0);
    int len;
    const fdt32_t *irq = fdt_getprop(again, a, "interrupts", &len);
    ck_assert_int_eq(len, 8);
    ck_assert_uint_eq(fdt32_to_cpu(irq[0]), 3);
}
END_TEST

/* Runs `vdevkit ARGS` in dir: exit status, output in *out. */
static int run(const char *args, char **out)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cd %s && %s %s 2>&1", dir, VDEVKIT_EXE, args);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t cap = 1 << 16, len = 0, n;
    *out = calloc(1, cap);
    while ((n = fread(*out + len, 1, cap - 1 - len, p)) > 0)
        len += n;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_conf(void)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/vm.conf", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("system fdt\nram 64M\ncpu\ncpu\ncmdline \"console=ttyS0\"\nvdev ser8250\n", f);
    fclose(f);
}

START_TEST(cli_dryrun_writes_the_tree)
{
    write_conf();
    char *out;
    int st = run("run @vm.conf set fdt-dump-file out.dtb dryrun", &out);
    ck_assert_msg(st == 0, "exit %d: %s", st, out);
    free(out);
    char path[128];
    snprintf(path, sizeof(path), "%s/out.dtb", dir);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    ck_assert_int_eq(fdt_check_header(buf), 0);
    ck_assert_uint_eq(n, fdt_totalsize(buf));
    ck_assert_str_eq(fdt_getprop(buf, node("/chosen"), "bootargs", NULL), "console=ttyS0");
    ck_assert_int_ge(fdt_path_offset(buf, "/cpus/cpu@1"), 0);
    ck_assert_int_ge(fdt_path_offset(buf, "/serial@3f8"), 0);
    if (!have_dtc()) {
        fprintf(stderr, "test_fdt: dtc missing (scripts/install-deps.sh): decompile skipped\n");
        return;
    }
    char *dts;
    ck_assert_int_eq(dtc_decompile(path, &dts), 0);
    ck_assert_ptr_nonnull(strstr(dts, "intel,ce4100-ioapic"));
    /* The VMM's PCI host bridge, its INTx on the IOAPIC (pci_fdt.c; test_fdt_arm for ARM). */
    ck_assert_ptr_nonnull(strstr(dts, "compatible = \"pci-host-ecam-generic\";"));
    ck_assert_ptr_nonnull(strstr(dts, "interrupt-map-mask = <0x1800 0x00 0x00 0x07>;"));
    free(dts);
    /* None of dtc's checks warns. */
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "dtc -I dtb -O dts -o /dev/null %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char line[512];
    bool quiet = fgets(line, sizeof(line), p) == NULL;
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_msg(quiet, "dtc: %s", line);
}
END_TEST

/* A virtio device on MMIO gets its "virtio,mmio" node from the transport, not the module. */
START_TEST(cli_virtio_mmio_node)
{
    write_conf();
    char *out;
    int st = run("run @vm.conf vdev virtio-net loc 0xd0000000 intr ioapic:10 "
                 "set fdt-dump-file mmio.dtb dryrun",
                 &out);
    ck_assert_msg(st == 0, "exit %d: %s", st, out);
    free(out);
    char path[128];
    snprintf(path, sizeof(path), "%s/mmio.dtb", dir);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    ck_assert_int_eq(fdt_check_header(buf), 0);
    ck_assert_uint_eq(n, fdt_totalsize(buf));
    int v = node("/virtio_mmio@d0000000");
    ck_assert_str_eq(fdt_getprop(buf, v, "compatible", NULL), "virtio,mmio");
    int len;
    /* Properties are 4-byte aligned only: read the 64-bit cells in halves. */
    const fdt32_t *reg = prop(v, "reg", 4);
    ck_assert_uint_eq(u64_at(reg, 0), 0xd0000000);
    ck_assert_uint_eq(u64_at(reg, 1), 0x200);
    ck_assert_ptr_nonnull(fdt_getprop(buf, v, "dma-coherent", NULL));
    const fdt32_t *irq = fdt_getprop(buf, v, "interrupts", &len);
    ck_assert_int_eq(len, 8); /* <gsi type>: the IOAPIC's two cells */
    ck_assert_uint_eq(fdt32_to_cpu(irq[0]), 10);
    ck_assert_uint_eq(fdt32_to_cpu(irq[1]), 4); /* level, active high */
}
END_TEST

START_TEST(cli_unwritable_path_is_named)
{
    write_conf();
    char *out;
    int st = run("run @vm.conf set fdt-dump-file no/such/folder/x.dtb dryrun", &out);
    ck_assert_int_ne(st, 0);
    ck_assert_msg(strstr(out, "fdt-dump-file no/such/folder/x.dtb: No such file or directory"),
                  "%s", out);
    free(out);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("fdt");
    TCase *tc = tcase_create("fdt");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, x86_tree_reads_back);
    tcase_add_test(tc, gic_platform_initrd_and_cpu_count);
    tcase_add_test(tc, errors_are_clear);
    tcase_add_test(tc, transport_node_comes_first);
    tcase_add_test(tc, dtc_round_trip);
    tcase_add_test(tc, cli_dryrun_writes_the_tree);
    tcase_add_test(tc, cli_virtio_mmio_node);
    tcase_add_test(tc, cli_unwritable_path_is_named);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
