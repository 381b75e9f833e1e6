/* The arm64 platform of the VMM on any host (no KVM): its memory map, the `gic` controller
 * and PCI windows it describes to the core, the MMIO routing of the PCI I/O window, the
 * arm64 Image loader (header, text_offset, 2 MiB alignment, initrd and DTB placement,
 * refusals) and the device tree it generates, read back with libfdt. */
#include <check.h>
#include <libfdt.h>
#include <stdlib.h>
#include <string.h>
#include <vdev/fdt.h>
#include <vdev/pci.h>

#include "arm64_image.h"
#include "arm64_platform.h"
#include "arm64_power.h"
#include "fake_embedder.h"
#include "platform.h"

static struct fake_embedder fe;
static uint8_t dtb[0x10000];

static void teardown(void)
{
    if (fe.m)
        fake_machine_free(&fe);
    fe.m = NULL;
}

/* The fake embedder's machine with the arm64 platform described, built from conf. */
static int arm_machine(const char *conf, struct vdev_err *err)
{
    fake_machine_new(&fe);
    if (arm64_platform_describe(fe.m, err))
        return -1;
    return fake_machine_build_string(&fe, conf, err);
}

/* ---- the map ---- */

START_TEST(map_has_no_overlaps_and_matches_qemu_virt)
{
    const struct arm64_region *r;
    size_t n = arm64_memory_map(&r);
    ck_assert_uint_ge(n, 9);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(r[i].size > 0, "%s", r[i].name);
        if (i > 0)
            ck_assert_msg(r[i - 1].base + r[i - 1].size <= r[i].base, "%s overlaps %s",
                          r[i - 1].name, r[i].name);
    }
    ck_assert_uint_eq(ARM64_GICD_BASE, 0x08000000);
    ck_assert_uint_eq(ARM64_GITS_BASE, 0x08080000);
    ck_assert_uint_eq(ARM64_GICR_BASE, 0x080a0000);
    ck_assert_uint_eq(ARM64_UART_BASE, 0x09000000);
    ck_assert_uint_eq(ARM64_RAM_BASE, 0x40000000);
    /* 64 vCPUs' redistributors fit their window; the 64-bit window ends at 40 bits of IPA */
    ck_assert_uint_le(arm64_gicr_size(ARM64_MAX_VCPUS), ARM64_GICR_WINDOW);
    ck_assert_uint_eq(ARM64_PCI_MMIO64_BASE + ARM64_PCI_MMIO64_SIZE, 1ull << 40);
    ck_assert_uint_le(ARM64_PCI_MMIO32_BASE + ARM64_PCI_MMIO32_SIZE, ARM64_PCI_IO_CPU_BASE);
    ck_assert_uint_le(ARM64_PCI_ECAM_BASE + ARM64_PCI_BUSES * 0x100000ull, ARM64_RAM_BASE);
}
END_TEST

START_TEST(gic_lines_are_spis_with_gsi_equal_intid)
{
    struct vdev_err err;
    ck_assert_msg(arm_machine("ram 0x40000000,64M "
                              "vdev ser8250 loc mem:0x9000000 intr gic:1 "
                              "vdev virtio-net loc 0xa000000 intr gic:16",
                              &err) == 0,
                  "%s", err.msg);
    struct vdev_intr in = {0};
    uint32_t gsi;
    snprintf(in.pic, sizeof(in.pic), "gic");
    in.line = 1;
    ck_assert_msg(vdev_machine_resolve_intr(fe.m, &in, &gsi, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(gsi, 33); /* SPI 1 = INTID 33 */
    in.line = ARM64_GIC_SPIS - 1;
    ck_assert_int_eq(vdev_machine_resolve_intr(fe.m, &in, &gsi, &err), 0);
    ck_assert_uint_eq(gsi, ARM64_GIC_NR_IRQS - 1);
    in.line = ARM64_GIC_SPIS;
    ck_assert_int_ne(vdev_machine_resolve_intr(fe.m, &in, &gsi, &err), 0);
    /* KVM's encodings of the same line */
    ck_assert_uint_eq(arm64_kvm_irq_line(33), (1u << 24) | 33);
    ck_assert_uint_eq(arm64_kvm_spi_gsi(33), 1);
}
END_TEST

START_TEST(pci_host_windows_and_platform_reserves)
{
    struct vdev_err err;
    ck_assert_msg(arm_machine("ram 0x40000000,64M", &err) == 0, "%s", err.msg);
    struct vdev_pci_host_desc h;
    ck_assert(vdev_machine_pci_host(fe.m, &h));
    ck_assert_uint_eq(h.ecam_base, ARM64_PCI_ECAM_BASE);
    ck_assert_uint_eq(h.buses, ARM64_PCI_BUSES);
    ck_assert(!h.cf8_ports);
    ck_assert_uint_eq(h.mmio32_base, 0x20000000);
    ck_assert_uint_eq(h.mmio32_size, 0x1eff0000);
    ck_assert_uint_eq(h.mmio64_base, 0x8000000000ull);
    ck_assert_str_eq(h.intx_pic, "gic");
    for (unsigned i = 0; i < 4; i++)
        ck_assert_uint_eq(h.intx_lines[i], ARM64_PCI_INTX_SPI0 + i);
    teardown();
    /* nothing may sit on the GIC or the PCI I/O window */
    static const char *const clash[] = {"vdev shmem loc 0x8000000", "vdev shmem loc 0x80a0000",
                                        "vdev shmem loc 0x8080000", "vdev shmem loc 0x3eff0000"};
    for (size_t i = 0; i < sizeof(clash) / sizeof(clash[0]); i++) {
        char conf[128];
        snprintf(conf, sizeof(conf), "ram 0x40000000,64M %s", clash[i]);
        ck_assert_msg(arm_machine(conf, &err) != 0, "%s was accepted", clash[i]);
        teardown();
    }
}
END_TEST

START_TEST(platform_vdev_gic_is_accepted)
{
    struct vdev_err err;
    ck_assert_msg(arm_machine("ram 0x40000000,64M vdev gic loc 0x8000000 name mygic "
                              "vdev ser8250 loc mem:0x9000000 intr mygic:1",
                              &err) == 0,
                  "%s", err.msg);
}
END_TEST

/* qvm's other `vdev gic` options: the platform's values, values with no effect, refusals. */
START_TEST(platform_vdev_gic_takes_qvm_options)
{
    struct vdev_err err;
    ck_assert_msg(arm_machine("ram 0x40000000,64M vdev gic loc 0x8000000 version 3 gicd 0x8000000 "
                              "gicr 0x80a0000 its 134742016 num-lpis 65536 its-prealloc 64,1024",
                              &err) == 0,
                  "%s", err.msg);
    static const struct {
        const char *line, *want;
    } bad[] = {
        {"vdev gic version 2", "option 'version': this machine's GICv3 with ITS (KVM's in-kernel "
                               "one) has 3, not 2 (hint: write 'version 3' or leave it out)"},
        {"vdev gic gicr 0x2f100000", "has 0x80a0000, not 0x2f100000"},
        {"vdev gic its nowhere", "has 0x8080000, not nowhere"},
        {"vdev gic gicc 0x8010000", "'gicc' does not apply to this machine's GICv3 with ITS"},
        {"vdev gic msi 0x8020000,64,32", "MSIs here go through the GICv3 ITS at 0x8080000"},
        {"vdev gic host-gicd 0x2f000000", "KVM's virtual GIC: leave it out"},
        {"vdev gic version", "needs an argument: N"},
        {"vdev gic colour 3", "unknown option 'colour'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        teardown();
        char conf[160];
        snprintf(conf, sizeof(conf), "ram 0x40000000,64M %s", bad[i].line);
        ck_assert_int_ne(arm_machine(conf, &err), 0);
        ck_assert_msg(strstr(err.msg, bad[i].want), "%s: got '%s'", bad[i].line, err.msg);
        ck_assert_msg(strstr(err.msg, "vdev gic"), "%s", err.msg);
    }
}
END_TEST

/* The core refuses malformed option tables from a platform (the caller's mistake). */
START_TEST(platform_option_tables_are_checked)
{
    struct vdev_err err;
    static const struct vdev_platform_option both[] = {{"x", "N", "1", "no"}, {NULL}};
    static const char *const loc[] = {"mem:0x1000", NULL};
    struct vdev_platform_vdev pv = {
        .size = sizeof(pv), .type = "thing", .summary = "a thing", .locs = loc, .options = both};
    fake_machine_new(&fe);
    ck_assert_int_ne(vdev_machine_add_platform_vdev(fe.m, &pv, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "bad options table"));
    /* a caller built before `options` existed: the member is not read */
    pv.size = offsetof(struct vdev_platform_vdev, options);
    ck_assert_msg(vdev_machine_add_platform_vdev(fe.m, &pv, &err) == 0, "%s", err.msg);
}
END_TEST

/* The PCI I/O window at 0x3eff0000 reaches port space; the rest is memory. */
static uint64_t last_io_port;
static uint64_t io_read(void *opaque, uint64_t off, unsigned size)
{
    last_io_port = off;
    return 0xab;
}
static void io_write(void *opaque, uint64_t off, unsigned size, uint64_t v)
{
}

START_TEST(pci_io_window_goes_to_port_space)
{
    struct vdev_err err;
    static const struct vdev_region_ops ops = {
        .size = sizeof(ops), .read = io_read, .write = io_write};
    struct vdev_region_desc d = {.owner = "test",
                                 .space = VDEV_SPACE_IO,
                                 .kind = VDEV_REGION_DEVICE,
                                 .base = 0x1000,
                                 .size = 0x10,
                                 .ops = &ops};
    fake_machine_new(&fe);
    ck_assert_msg(arm64_platform_describe(fe.m, &err) == 0, "%s", err.msg);
    ck_assert_msg(vdev_bus_add(vdev_machine_bus(fe.m), &d, NULL, &err) == 0, "%s", err.msg);
    ck_assert_msg(fake_machine_build_string(&fe, "ram 0x40000000,64M", &err) == 0, "%s", err.msg);
    uint64_t v = 0;
    ck_assert_int_eq(arm64_mmio_access(fe.m, ARM64_PCI_IO_CPU_BASE + 0x1004, 1, false, &v),
                     VDEV_ACCESS_OK);
    ck_assert_uint_eq(v, 0xab);
    ck_assert_uint_eq(last_io_port, 4);
    ck_assert_int_eq(arm64_mmio_access(fe.m, 0x1004, 1, false, &v), VDEV_ACCESS_UNMAPPED);
}
END_TEST

/* ---- the power button: a PL061 whose pin 3 is gpio-keys' KEY_POWER ---- */

static uint64_t gpio_rd(uint64_t off)
{
    uint64_t v = 0;
    ck_assert_int_eq(arm64_mmio_access(fe.m, ARM64_GPIO_BASE + off, 4, false, &v), VDEV_ACCESS_OK);
    return v;
}

static void gpio_wr(uint64_t off, uint64_t v)
{
    ck_assert_int_eq(arm64_mmio_access(fe.m, ARM64_GPIO_BASE + off, 4, true, &v), VDEV_ACCESS_OK);
}

#define POWER_GSI (ARM64_SPI_BASE + ARM64_GPIO_SPI)
#define PIN3      (1u << ARM64_POWER_GPIO_PIN)

START_TEST(power_button_is_a_pl061_pin_with_edge_interrupts)
{
    struct vdev_err err;
    ck_assert_msg(arm_machine("ram 0x40000000,64M", &err) == 0, "%s", err.msg);
    /* the AMBA bus's identification: PeriphID 0x061, PrimeCell 0xb105f00d */
    static const uint8_t id[8] = {0x61, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
    for (unsigned i = 0; i < 8; i++)
        ck_assert_uint_eq(gpio_rd(0xfe0 + 4 * i), id[i]);
    /* the line is the platform's: a configuration cannot take SPI 7 */
    teardown();
    ck_assert_int_ne(
        arm_machine("ram 0x40000000,64M vdev ser8250 loc mem:0x9000000 intr gic:7", &err), 0);
    teardown();
    ck_assert_msg(arm_machine("ram 0x40000000,64M", &err) == 0, "%s", err.msg);

    /* as Linux's gpio-keys sets it up: input, both edges, unmasked */
    gpio_wr(0x400, 0);    /* GPIODIR: all inputs */
    gpio_wr(0x408, PIN3); /* GPIOIBE */
    gpio_wr(0x410, PIN3); /* GPIOIE */
    ck_assert(!fe.gsi_level[POWER_GSI]);
    ck_assert_uint_eq(gpio_rd(PIN3 << 2), 0); /* data, address-masked to pin 3 */

    arm64_power_set(fe.m, true);
    ck_assert(fe.gsi_level[POWER_GSI]);
    ck_assert_uint_eq(gpio_rd(0x414), PIN3); /* RIS */
    ck_assert_uint_eq(gpio_rd(0x418), PIN3); /* MIS */
    ck_assert_uint_eq(gpio_rd(PIN3 << 2), PIN3);
    ck_assert_uint_eq(gpio_rd(0x3fc), PIN3);
    ck_assert_uint_eq(gpio_rd(0x3fc & ~(PIN3 << 2)), 0); /* a mask without pin 3 hides it */
    gpio_wr(0x41c, PIN3);                                /* GPIOIC: the edge is handled */
    ck_assert(!fe.gsi_level[POWER_GSI]);
    ck_assert_uint_eq(gpio_rd(0x414), 0);

    arm64_power_set(fe.m, false); /* release: the falling edge interrupts too */
    ck_assert(fe.gsi_level[POWER_GSI]);
    gpio_wr(0x41c, PIN3);
    ck_assert(!fe.gsi_level[POWER_GSI]);

    /* rising edge only: a release does not interrupt; masked: no line, status still latched */
    gpio_wr(0x408, 0);
    gpio_wr(0x40c, PIN3); /* GPIOIEV: rising */
    arm64_power_set(fe.m, true);
    arm64_power_set(fe.m, false);
    ck_assert_uint_eq(gpio_rd(0x414), PIN3);
    gpio_wr(0x41c, PIN3);
    arm64_power_set(fe.m, true);
    gpio_wr(0x41c, PIN3);
    arm64_power_set(fe.m, false);
    ck_assert_uint_eq(gpio_rd(0x414), 0);
    gpio_wr(0x410, 0);
    arm64_power_set(fe.m, true);
    ck_assert(!fe.gsi_level[POWER_GSI]);
    ck_assert_uint_eq(gpio_rd(0x414), PIN3);
    ck_assert_uint_eq(gpio_rd(0x418), 0);
    arm64_power_set(fe.m, false);
    gpio_wr(0x41c, 0xff);

    /* level sensing, high: the status follows the pin and IC cannot clear it */
    gpio_wr(0x404, PIN3); /* GPIOIS */
    gpio_wr(0x410, PIN3);
    ck_assert(!fe.gsi_level[POWER_GSI]);
    arm64_power_set(fe.m, true);
    ck_assert(fe.gsi_level[POWER_GSI]);
    gpio_wr(0x41c, PIN3);
    ck_assert(fe.gsi_level[POWER_GSI]);
    arm64_power_set(fe.m, false);
    ck_assert(!fe.gsi_level[POWER_GSI]);

    /* an output pin reads what the guest wrote; hostile offsets read 0 and do nothing */
    gpio_wr(0x400, 0x01);
    gpio_wr(0x3fc, 0xff);
    ck_assert_uint_eq(gpio_rd(0x3fc), 0x01);
    ck_assert_uint_eq(gpio_rd(0x800), 0);
    gpio_wr(0x414, 0xff); /* RIS is read-only */
    gpio_wr(0xffc, 0);
    ck_assert_uint_eq(gpio_rd(0xffc), 0xb1);
}
END_TEST

START_TEST(power_button_in_the_device_tree)
{
    struct vdev_err err;
    ck_assert_msg(arm_machine("ram 0x40000000,64M vdev pl011 loc 0x9000000 intr gic:1", &err) == 0,
                  "%s", err.msg);
    ck_assert_msg(arm64_gen_fdt(fe.m, 1, false, 0, 0, dtb, sizeof(dtb), &err) == 0, "%s", err.msg);
    ck_assert_int_eq(fdt_check_full(dtb, fdt_totalsize(dtb)), 0);
    int gpio = fdt_path_offset(dtb, "/pl061@9030000");
    ck_assert_int_ge(gpio, 0);
    ck_assert_int_eq(fdt_node_check_compatible(dtb, gpio, "arm,pl061"), 0);
    ck_assert_int_eq(fdt_node_check_compatible(dtb, gpio, "arm,primecell"), 0);
    ck_assert_ptr_nonnull(fdt_getprop(dtb, gpio, "gpio-controller", NULL));
    int len;
    const fdt32_t *irq = fdt_getprop(dtb, gpio, "interrupts", &len);
    ck_assert_int_eq(len, 12);
    ck_assert_uint_eq(fdt32_to_cpu(irq[1]), ARM64_GPIO_SPI);
    /* its clock is the tree's one fixed clock, shared with the pl011 */
    const fdt32_t *clk = fdt_getprop(dtb, gpio, "clocks", &len);
    ck_assert_int_eq(len, 4);
    int clock = fdt_node_offset_by_phandle(dtb, fdt32_to_cpu(clk[0]));
    ck_assert_int_eq(fdt_node_check_compatible(dtb, clock, "fixed-clock"), 0);
    ck_assert_int_lt(fdt_node_offset_by_compatible(dtb, clock, "fixed-clock"), 0);
    /* gpio-keys: KEY_POWER on the pl061's pin 3 */
    int key = fdt_path_offset(dtb, "/gpio-keys/poweroff");
    ck_assert_int_ge(key, 0);
    const fdt32_t *code = fdt_getprop(dtb, key, "linux,code", &len);
    ck_assert_uint_eq(fdt32_to_cpu(code[0]), 116);
    const fdt32_t *g = fdt_getprop(dtb, key, "gpios", &len);
    ck_assert_int_eq(len, 12);
    ck_assert_uint_eq(fdt32_to_cpu(g[0]), fdt_get_phandle(dtb, gpio));
    ck_assert_uint_eq(fdt32_to_cpu(g[1]), 3);
}
END_TEST

/* ---- the Image loader ---- */

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A header with text_offset, image_size and flags, `len` bytes of file. */
static uint8_t *image(size_t len, uint64_t text, uint64_t size, uint64_t flags)
{
    uint8_t *p = calloc(1, len < 64 ? 64 : len);
    put64(p + 8, text);
    put64(p + 16, size);
    put64(p + 24, flags);
    memcpy(p + 56, "ARM\x64", 4);
    for (size_t i = 64; i < len; i++)
        p[i] = (uint8_t)i;
    return p;
}

START_TEST(image_header_is_parsed)
{
    struct vdev_err err;
    struct arm64_image_header h;
    uint8_t *p = image(0x1000, 0x80000, 0x2000000, 0xa);
    ck_assert_msg(arm64_image_parse(p, 0x1000, "g.conf:3:1: load: Image", &h, &err) == 0, "%s",
                  err.msg);
    ck_assert_uint_eq(h.text_offset, 0x80000);
    ck_assert_uint_eq(h.image_size, 0x2000000);
    ck_assert_uint_eq(h.flags, 0xa);
    /* image_size 0: an old kernel, text_offset 0x80000 and the file's length */
    put64(p + 8, 0);
    put64(p + 16, 0);
    ck_assert_int_eq(arm64_image_parse(p, 0x1000, "x", &h, &err), 0);
    ck_assert_uint_eq(h.text_offset, 0x80000);
    ck_assert_uint_eq(h.image_size, 0x1000);
    free(p);
}
END_TEST

START_TEST(image_refusals_name_the_load_line)
{
    struct vdev_err err;
    struct arm64_image_header h;
    const char *what = "g.conf:3:1: load: Image";
    uint8_t *p = image(0x1000, 0, 0x10000, 0);
    ck_assert_int_ne(arm64_image_parse(p, 63, what, &h, &err), 0);
    ck_assert_str_eq(err.msg,
                     "g.conf:3:1: load: Image: 63 bytes, shorter than an arm64 Image header (64)");
    p[56] = 'X';
    ck_assert_int_ne(arm64_image_parse(p, 0x1000, what, &h, &err), 0);
    ck_assert_str_eq(err.msg, "g.conf:3:1: load: Image: not an arm64 Image (no \"ARM\\x64\" "
                              "magic at offset 56)");
    p[56] = 'A';
    put64(p + 24, 1); /* big-endian */
    ck_assert_int_ne(arm64_image_parse(p, 0x1000, what, &h, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "big-endian"));
    put64(p + 24, 0);
    put64(p + 8, 0x80010); /* not page aligned */
    ck_assert_int_ne(arm64_image_parse(p, 0x1000, what, &h, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "text_offset 0x80010"));
    put64(p + 8, 0);
    put64(p + 16, 0x800); /* smaller than the file */
    ck_assert_int_ne(arm64_image_parse(p, 0x1000, what, &h, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "larger than the header's image_size"));
    free(p);
}
END_TEST

START_TEST(boot_plan_aligns_and_places_initrd_and_dtb)
{
    struct vdev_err err;
    struct arm64_boot b;
    struct arm64_image_header h = {.text_offset = 0x80000, .image_size = 0x1234567};
    /* RAM not 2 MiB aligned at its start: the kernel's base is rounded up */
    ck_assert_msg(arm64_boot_plan(0x40100000, 0x50000000, &h, 0x3000, "x", &b, &err) == 0, "%s",
                  err.msg);
    ck_assert_uint_eq(b.kernel, 0x40200000 + 0x80000);
    ck_assert_uint_eq(b.kernel_end, b.kernel + 0x1235000);
    ck_assert_uint_eq(b.fdt, 0x50000000 - 0x200000); /* the last 2 MiB block */
    ck_assert_uint_eq(b.fdt % 0x200000, 0);
    ck_assert(b.has_initrd);
    ck_assert_uint_eq(b.initrd_end, b.initrd_start + 0x3000);
    ck_assert_uint_le(b.initrd_end, b.fdt);
    ck_assert_uint_ge(b.initrd_start, b.kernel_end);
    ck_assert_uint_eq(b.initrd_start % 0x1000, 0);
    /* RAM whose end is not 2 MiB aligned: the DTB's block is the last whole one */
    ck_assert_int_eq(arm64_boot_plan(0x40000000, 0x43f00000, &h, 0, "x", &b, &err), 0);
    ck_assert_uint_eq(b.fdt, 0x43c00000);
    ck_assert(!b.has_initrd);
    /* too little RAM for the kernel, or for the initrd */
    ck_assert_int_ne(
        arm64_boot_plan(0x40000000, 0x41000000, &h, 0, "g.conf:2:1: load: I", &b, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "g.conf:2:1: load: I: the kernel"));
    ck_assert_int_ne(arm64_boot_plan(0x40000000, 0x42000000, &h, 0x1000000, "x", &b, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "the initrd (16777216 bytes) does not fit"));
}
END_TEST

START_TEST(image_load_copies_kernel_and_initrd)
{
    struct vdev_err err;
    ck_assert_msg(arm_machine("ram 0x40000000,16M", &err) == 0, "%s", err.msg);
    fake_back_ram(&fe);
    uint8_t *p = image(0x3000, 0x80000, 0x5000, 0);
    static const uint8_t rd[] = "initrd!";
    struct arm64_boot b;
    ck_assert_msg(arm64_image_load(fe.m, p, 0x3000, rd, sizeof(rd), "x", &b, &err) == 0, "%s",
                  err.msg);
    ck_assert_uint_eq(b.kernel, 0x40080000);
    const uint8_t *k = vdev_gmem_ptr(fe.m, b.kernel, 0x5000, false);
    ck_assert_ptr_nonnull(k);
    ck_assert_mem_eq(k, p, 0x3000);
    for (size_t i = 0x3000; i < 0x5000; i++)
        ck_assert_uint_eq(k[i], 0); /* bss */
    ck_assert_uint_eq(b.fdt, 0x40e00000);
    ck_assert_mem_eq(vdev_gmem_ptr(fe.m, b.initrd_start, sizeof(rd), false), rd, sizeof(rd));
    free(p);
}
END_TEST

START_TEST(image_kind_and_platform_table)
{
    uint8_t *p = image(0x400, 0, 0x400, 0);
    ck_assert_int_eq(image_kind_of(p, 0x400), IMAGE_ARM64);
    ck_assert(vmm_platform_arm64.boots(IMAGE_ARM64));
    ck_assert(!vmm_platform_arm64.boots(IMAGE_BZIMAGE));
    ck_assert(vmm_platform_find("arm64") == &vmm_platform_arm64);
    ck_assert_ptr_null(vmm_platform_find("riscv"));
    free(p);
}
END_TEST

/* ---- the device tree ---- */

static const fdt32_t *prop(int off, const char *name, int *len)
{
    const fdt32_t *p = fdt_getprop(dtb, off, name, len);
    ck_assert_msg(p != NULL, "%s: no %s", fdt_get_name(dtb, off, NULL), name);
    return p;
}

static uint64_t u64_at(const fdt32_t *p, int i)
{
    return (uint64_t)fdt32_to_cpu(p[i]) << 32 | fdt32_to_cpu(p[i + 1]);
}

START_TEST(device_tree_of_the_platform)
{
    struct vdev_err err;
    ck_assert_msg(arm_machine("ram 0x40000000,256M cpu cpu cmdline \"console=ttyS0\" "
                              "vdev ser8250 loc mem:0x9000000 intr gic:1 "
                              "vdev virtio-net loc 0xa000000 intr gic:16",
                              &err) == 0,
                  "%s", err.msg);
    ck_assert_msg(arm64_gen_fdt(fe.m, 0, true, 0x48000000, 0x48100000, dtb, sizeof(dtb), &err) == 0,
                  "%s", err.msg);
    ck_assert_int_eq(fdt_check_full(dtb, fdt_totalsize(dtb)), 0);
    int len;
    /* memory at 0x40000000 */
    int mem = fdt_path_offset(dtb, "/memory@40000000");
    ck_assert_int_ge(mem, 0);
    const fdt32_t *reg = prop(mem, "reg", &len);
    ck_assert_int_eq(len, 16);
    ck_assert_uint_eq(u64_at(reg, 0), 0x40000000);
    ck_assert_uint_eq(u64_at(reg, 2), 256ull << 20);
    /* GICv3: distributor, two vCPUs' redistributors, 3 cells, the ITS */
    int gic = fdt_node_offset_by_compatible(dtb, -1, "arm,gic-v3");
    ck_assert_int_ge(gic, 0);
    reg = prop(gic, "reg", &len);
    ck_assert_int_eq(len, 32);
    ck_assert_uint_eq(u64_at(reg, 0), 0x08000000);
    ck_assert_uint_eq(u64_at(reg, 2), 0x10000);
    ck_assert_uint_eq(u64_at(reg, 4), 0x080a0000);
    ck_assert_uint_eq(u64_at(reg, 6), 2 * 0x20000);
    ck_assert_uint_eq(fdt32_to_cpu(*prop(gic, "#interrupt-cells", &len)), 3);
    int its = fdt_node_offset_by_compatible(dtb, -1, "arm,gic-v3-its");
    ck_assert_int_ge(its, 0);
    ck_assert_uint_eq(u64_at(prop(its, "reg", &len), 0), 0x08080000);
    /* psci 0.2 over hvc; cpus with MPIDR regs and enable-method psci */
    int psci = fdt_path_offset(dtb, "/psci");
    ck_assert_int_ge(psci, 0);
    ck_assert_str_eq((const char *)prop(psci, "compatible", &len), "arm,psci-0.2");
    ck_assert_str_eq((const char *)prop(psci, "method", &len), "hvc");
    int cpu1 = fdt_path_offset(dtb, "/cpus/cpu@1");
    ck_assert_int_ge(cpu1, 0);
    ck_assert_str_eq((const char *)prop(cpu1, "enable-method", &len), "psci");
    ck_assert_int_lt(fdt_path_offset(dtb, "/cpus/cpu@2"), 0);
    /* the timer's PPIs 13, 14, 11, 10 */
    int timer = fdt_node_offset_by_compatible(dtb, -1, "arm,armv8-timer");
    ck_assert_int_ge(timer, 0);
    const fdt32_t *ti = prop(timer, "interrupts", &len);
    ck_assert_int_eq(len, 4 * 3 * 4);
    static const uint32_t ppis[4] = {13, 14, 11, 10};
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_eq(fdt32_to_cpu(ti[3 * i]), 1);
        ck_assert_uint_eq(fdt32_to_cpu(ti[3 * i + 1]), ppis[i]);
    }
    /* the UART at 0x9000000 on SPI 1, and stdout-path to it */
    int uart = fdt_path_offset(dtb, "/serial@9000000");
    ck_assert_int_ge(uart, 0);
    const fdt32_t *ui = prop(uart, "interrupts", &len);
    ck_assert_int_eq(len, 12);
    ck_assert_uint_eq(fdt32_to_cpu(ui[0]), 0);
    ck_assert_uint_eq(fdt32_to_cpu(ui[1]), 1);
    int chosen = fdt_path_offset(dtb, "/chosen");
    ck_assert_str_eq((const char *)prop(chosen, "stdout-path", &len), "/serial@9000000");
    ck_assert_str_eq((const char *)prop(chosen, "bootargs", &len), "console=ttyS0");
    ck_assert_uint_eq(u64_at(prop(chosen, "linux,initrd-start", &len), 0), 0x48000000);
    /* virtio-mmio on SPI 16; the PCI host with its ECAM and I/O range at 0x3eff0000 */
    int vm = fdt_path_offset(dtb, "/virtio_mmio@a000000");
    ck_assert_int_ge(vm, 0);
    ck_assert_uint_eq(fdt32_to_cpu(prop(vm, "interrupts", &len)[1]), 16);
    int pci = fdt_node_offset_by_compatible(dtb, -1, "pci-host-ecam-generic");
    ck_assert_int_ge(pci, 0);
    ck_assert_uint_eq(u64_at(prop(pci, "reg", &len), 0), 0x3f000000);
    const fdt32_t *ranges = prop(pci, "ranges", &len);
    ck_assert_uint_eq(fdt32_to_cpu(ranges[0]), 0x01000000); /* I/O first */
    ck_assert_uint_eq(u64_at(ranges, 3), 0x3eff0000);
    ck_assert_str_eq((const char *)prop(fdt_path_offset(dtb, "/"), "compatible", &len),
                     "linux,dummy-virt");
}
END_TEST

/* stdout-path: the first UART of the configuration, a pl011 or a ser8250. */
static const char *console_of(const char *conf)
{
    struct vdev_err err;
    ck_assert_msg(arm_machine(conf, &err) == 0, "%s", err.msg);
    ck_assert_msg(arm64_gen_fdt(fe.m, 1, false, 0, 0, dtb, sizeof(dtb), &err) == 0, "%s", err.msg);
    const char *path = fdt_getprop(dtb, fdt_path_offset(dtb, "/chosen"), "stdout-path", NULL);
    teardown();
    return path ? path : "(none)";
}

START_TEST(device_tree_console_is_the_first_uart)
{
    ck_assert_str_eq(console_of("ram 0x40000000,64M vdev pl011 loc 0x9000000 intr gic:1 "
                                "vdev ser8250 loc mem:0x9001000 intr gic:2"),
                     "/pl011@9000000");
    ck_assert_str_eq(console_of("ram 0x40000000,64M vdev ser8250 loc mem:0x9001000 intr gic:2 "
                                "vdev pl011 loc 0x9000000 intr gic:1"),
                     "/serial@9001000");
    ck_assert_str_eq(console_of("ram 0x40000000,64M vdev virtio-net loc 0xa000000 intr gic:16 "
                                "vdev pl011 loc 0x9000000 intr gic:1 "
                                "vdev pl011 loc 0x9001000 intr gic:2"),
                     "/pl011@9000000");
    ck_assert_str_eq(console_of("ram 0x40000000,64M"), "(none)");
}
END_TEST

START_TEST(device_tree_refuses_port_io_devices)
{
    struct vdev_err err;
    ck_assert_msg(arm_machine("ram 0x40000000,64M vdev ser8250 loc io:0x3f8 intr gic:1", &err) == 0,
                  "%s", err.msg);
    ck_assert_int_ne(arm64_gen_fdt(fe.m, 1, false, 0, 0, dtb, sizeof(dtb), &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "port I/O"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("vmm_arm64");
    TCase *t = tcase_create("platform");
    tcase_add_checked_fixture(t, NULL, teardown);
    tcase_add_test(t, map_has_no_overlaps_and_matches_qemu_virt);
    tcase_add_test(t, gic_lines_are_spis_with_gsi_equal_intid);
    tcase_add_test(t, pci_host_windows_and_platform_reserves);
    tcase_add_test(t, platform_vdev_gic_is_accepted);
    tcase_add_test(t, platform_vdev_gic_takes_qvm_options);
    tcase_add_test(t, platform_option_tables_are_checked);
    tcase_add_test(t, pci_io_window_goes_to_port_space);
    tcase_add_test(t, power_button_is_a_pl061_pin_with_edge_interrupts);
    tcase_add_test(t, power_button_in_the_device_tree);
    suite_add_tcase(s, t);
    t = tcase_create("image");
    tcase_add_checked_fixture(t, NULL, teardown);
    tcase_add_test(t, image_header_is_parsed);
    tcase_add_test(t, image_refusals_name_the_load_line);
    tcase_add_test(t, boot_plan_aligns_and_places_initrd_and_dtb);
    tcase_add_test(t, image_load_copies_kernel_and_initrd);
    tcase_add_test(t, image_kind_and_platform_table);
    suite_add_tcase(s, t);
    t = tcase_create("fdt");
    tcase_add_checked_fixture(t, NULL, teardown);
    tcase_add_test(t, device_tree_of_the_platform);
    tcase_add_test(t, device_tree_console_is_the_first_uart);
    tcase_add_test(t, device_tree_refuses_port_io_devices);
    suite_add_tcase(s, t);
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
