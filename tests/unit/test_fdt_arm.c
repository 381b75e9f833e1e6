/* The device tree an arm64 guest boots with (vdev_machine_gen_fdt_ext): a machine with a
 * GICv3 and ITS, four vCPUs, RAM at 0x40000000, a PCI host, virtio-net on MMIO and on PCI,
 * UARTs (ser8250, pl011 with its fixed clock) and shmem on MMIO. Each node read back with libfdt
 * (properties, phandles, interrupt specifiers, the PCI host's ranges, interrupt-map for every slot
 * and pin, msi-map), then fdt_check_full, dtc's checks and fdtdump on the blob. */
#include <check.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vdev/fdt.h>
#include <vdev/pci.h>

#include "fake_embedder.h"

#define BUF_SIZE   0x10000
#define SPI_BASE   32 /* GSI of SPI 0: KVM's INTID numbering */
#define GICD       0x08000000ull
#define GITS       0x08080000ull
#define GICR       0x080a0000ull
#define ECAM       0x3f000000ull
#define PIO_CPU    0x3eff0000ull
#define MMIO32     0x20000000ull
#define MMIO32_LEN 0x1eff0000ull
#define MMIO64     0x8000000000ull
#define MMIO64_LEN 0x8000000000ull
#define CONF                                                                                       \
    "ram 0x40000000,256M cpu cpu cpu cpu cmdline \"console=ttyS0 earlycon\" "                      \
    "vdev ser8250 loc mem:0x9000000 intr gic:1 "                                                   \
    "vdev virtio-net loc 0xa000000 intr gic:16 "                                                   \
    "vdev virtio-net loc pci:0:2 "                                                                 \
    "vdev shmem loc 0xa100000 intr gic:17 "                                                        \
    "vdev pl011 loc 0x9010000 intr gic:2"

static struct fake_embedder fe;
static uint8_t buf[BUF_SIZE];
static const uint64_t gic_reg[4] = {GICD, 0x10000, GICR, 4 * 0x20000};

static struct vdev_fdt_platform arm_platform(void)
{
    struct vdev_fdt_platform p = {
        .compatible = "linux,dummy-virt",
        .model = "vdevkit arm64 (test)",
        .cpu_compatible = "arm,arm-v8",
        .has_initrd = true,
        .initrd_start = 0x48000000,
        .initrd_end = 0x48400000,
        .intc = {.name = "intc@8000000",
                 .compatible = "arm,gic-v3",
                 .reg = gic_reg,
                 .nreg = 2,
                 .interrupt_cells = 3,
                 .spi_base = SPI_BASE},
    };
    return p;
}

static struct vdev_fdt_platform_ext arm_ext(void)
{
    struct vdev_fdt_platform_ext x = {
        .size = sizeof(x),
        .cpu_reg = VDEV_FDT_CPU_REG_KVM_MPIDR,
        .psci_compatible = "arm,psci-0.2",
        .psci_method = "hvc",
        .timer_ppis = {13, 14, 11, 10},
        .its_base = GITS,
        .its_size = 0x20000,
        .has_pci_io_cpu = true,
        .pci_io_cpu_base = PIO_CPU,
        .no_port_io = true,
        .stdout_device = vdev_machine_device(fe.m, 0),
    };
    return x;
}

/* The fake's platform plus a GIC ("gic" lines 0-223 are SPIs, GSI 32 on) and a PCI host. */
static void machine(const char *conf, bool pci)
{
    struct vdev_err err;
    fake_machine_new(&fe);
    ck_assert_msg(vdev_machine_add_pic(fe.m, "gic", 224, SPI_BASE, &err) == 0, "%s", err.msg);
    ck_assert(vdev_machine_reserve(fe.m, VDEV_SPACE_MEM, GICD, 0x10000, "gicd", &err) == 0);
    ck_assert(vdev_machine_reserve(fe.m, VDEV_SPACE_MEM, GITS, 0x20000, "gits", &err) == 0);
    ck_assert(vdev_machine_reserve(fe.m, VDEV_SPACE_MEM, GICR, 0x80000, "gicr", &err) == 0);
    if (pci) {
        struct vdev_pci_host_desc h = {.ecam_base = ECAM,
                                       .buses = 16,
                                       .mmio32_base = MMIO32,
                                       .mmio32_size = MMIO32_LEN,
                                       .mmio64_base = MMIO64,
                                       .mmio64_size = MMIO64_LEN,
                                       .io_base = 0,
                                       .io_size = 0x10000,
                                       .intx_pic = "gic",
                                       .intx_lines = {3, 4, 5, 6}};
        ck_assert_msg(vdev_machine_add_pci(fe.m, &h, &err) == 0, "%s", err.msg);
    }
    ck_assert_msg(fake_machine_build_string(&fe, conf, &err) == 0, "build: %s", err.msg);
}

static void teardown(void)
{
    if (fe.m)
        fake_machine_free(&fe);
    fe.m = NULL;
}

static void generate(const struct vdev_fdt_platform *p, const struct vdev_fdt_platform_ext *x)
{
    struct vdev_err err;
    memset(buf, 0, sizeof(buf));
    ck_assert_msg(vdev_machine_gen_fdt_ext(fe.m, p, x, buf, sizeof(buf), &err) == 0, "gen: %s",
                  err.msg);
    ck_assert_int_eq(fdt_check_full(buf, fdt_totalsize(buf)), 0);
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
    ck_assert_msg(p != NULL, "%s: no property %s", fdt_get_name(buf, off, NULL), name);
    ck_assert_msg(len == cells * 4, "%s: %d bytes, not %d", name, len, cells * 4);
    return p;
}

static uint32_t u32(int off, const char *name)
{
    return fdt32_to_cpu(prop(off, name, 1)[0]);
}

static uint32_t cell(const fdt32_t *p, int i)
{
    return fdt32_to_cpu(p[i]);
}

static uint64_t u64_at(const fdt32_t *p, int i)
{
    return (uint64_t)cell(p, i) << 32 | cell(p, i + 1);
}

static const char *str(int off, const char *name)
{
    const char *s = fdt_getprop(buf, off, name, NULL);
    ck_assert_msg(s != NULL, "%s: no property %s", fdt_get_name(buf, off, NULL), name);
    return s;
}

static bool has(int off, const char *name)
{
    return fdt_getprop(buf, off, name, NULL) != NULL;
}

/* An interrupt specifier <0 (SPI) spi 4 (level-high)> to the GIC. */
static void spi_level(int off, uint32_t spi)
{
    ck_assert_uint_eq(u32(off, "interrupt-parent"), fdt_get_phandle(buf, node("/intc@8000000")));
    const fdt32_t *irq = prop(off, "interrupts", 3);
    ck_assert_uint_eq(cell(irq, 0), 0);
    ck_assert_uint_eq(cell(irq, 1), spi);
    ck_assert_uint_eq(cell(irq, 2), VDEV_FDT_IRQ_LEVEL_HIGH);
}

START_TEST(root_memory_chosen)
{
    machine(CONF, true);
    struct vdev_fdt_platform p = arm_platform();
    struct vdev_fdt_platform_ext x = arm_ext();
    generate(&p, &x);
    int root = node("/");
    ck_assert_str_eq(str(root, "compatible"), "linux,dummy-virt");
    ck_assert_uint_eq(u32(root, "#address-cells"), 2);
    ck_assert_uint_eq(u32(root, "#size-cells"), 2);
    ck_assert_uint_eq(u32(root, "interrupt-parent"), fdt_get_phandle(buf, node("/intc@8000000")));
    int mem = node("/memory@40000000");
    ck_assert_str_eq(str(mem, "device_type"), "memory");
    const fdt32_t *reg = prop(mem, "reg", 4);
    ck_assert_uint_eq(u64_at(reg, 0), 0x40000000);
    ck_assert_uint_eq(u64_at(reg, 2), 256ull << 20);
    int chosen = node("/chosen");
    ck_assert_str_eq(str(chosen, "bootargs"), "console=ttyS0 earlycon");
    ck_assert_uint_eq(u64_at(prop(chosen, "linux,initrd-start", 2), 0), 0x48000000);
    ck_assert_uint_eq(u64_at(prop(chosen, "linux,initrd-end", 2), 0), 0x48400000);
    /* The UART (the first device) is the console: its node's path. */
    ck_assert_str_eq(str(chosen, "stdout-path"), "/serial@9000000");
    node("/serial@9000000");
}
END_TEST

START_TEST(cpus_psci_timer)
{
    machine(CONF, true);
    struct vdev_fdt_platform p = arm_platform();
    struct vdev_fdt_platform_ext x = arm_ext();
    generate(&p, &x);
    int cpus = node("/cpus");
    ck_assert_uint_eq(u32(cpus, "#address-cells"), 1);
    ck_assert_uint_eq(u32(cpus, "#size-cells"), 0);
    int n = 0, c;
    fdt_for_each_subnode(c, buf, cpus)
    {
        ck_assert_str_eq(str(c, "device_type"), "cpu");
        ck_assert_str_eq(str(c, "compatible"), "arm,arm-v8");
        ck_assert_str_eq(str(c, "enable-method"), "psci");
        ck_assert_uint_eq(u32(c, "reg"), (uint32_t)n); /* MPIDR Aff0 of vCPU n < 16 */
        n++;
    }
    ck_assert_int_eq(n, 4);
    int psci = node("/psci");
    ck_assert_str_eq(str(psci, "compatible"), "arm,psci-0.2");
    ck_assert_str_eq(str(psci, "method"), "hvc");
    int t = node("/timer");
    ck_assert_str_eq(str(t, "compatible"), "arm,armv8-timer");
    ck_assert(has(t, "always-on"));
    const fdt32_t *irq = prop(t, "interrupts", 12);
    const uint32_t ppis[4] = {13, 14, 11, 10};
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_eq(cell(irq, 3 * i), 1); /* GIC_PPI */
        ck_assert_uint_eq(cell(irq, 3 * i + 1), ppis[i]);
        ck_assert_uint_eq(cell(irq, 3 * i + 2), VDEV_FDT_IRQ_LEVEL_HIGH);
    }
}
END_TEST

/* MPIDRs the embedder gives: clusters (Aff1) and, with Aff3, two reg cells. KVM's rule past
 * 16 vCPUs moves to Aff1. */
START_TEST(cpu_mpidrs)
{
    machine("ram 0x40000000,16M", false);
    struct vdev_fdt_platform p = arm_platform();
    p.ncpus = 4;
    struct vdev_fdt_platform_ext x = arm_ext();
    const uint64_t mpidr[4] = {0, 1, 0x100, 0x101};
    x.cpu_mpidr = mpidr;
    generate(&p, &x);
    ck_assert_uint_eq(u32(node("/cpus/cpu@100"), "reg"), 0x100);
    ck_assert_uint_eq(u32(node("/cpus/cpu@101"), "reg"), 0x101);

    const uint64_t far[4] = {0, 1, 0x100000000ull, 0x100000001ull};
    x.cpu_mpidr = far;
    generate(&p, &x);
    ck_assert_uint_eq(u32(node("/cpus"), "#address-cells"), 2);
    ck_assert_uint_eq(u64_at(prop(node("/cpus/cpu@100000001"), "reg", 2), 0), 0x100000001ull);
    ck_assert_uint_eq(u64_at(prop(node("/cpus/cpu@0"), "reg", 2), 0), 0);

    x.cpu_mpidr = NULL;
    p.ncpus = 18;
    generate(&p, &x);
    ck_assert_uint_eq(u32(node("/cpus/cpu@f"), "reg"), 0xf);
    ck_assert_uint_eq(u32(node("/cpus/cpu@100"), "reg"), 0x100); /* vCPU 16 */
    ck_assert_uint_eq(u32(node("/cpus/cpu@101"), "reg"), 0x101);
}
END_TEST

START_TEST(gic_and_its)
{
    machine(CONF, true);
    struct vdev_fdt_platform p = arm_platform();
    struct vdev_fdt_platform_ext x = arm_ext();
    generate(&p, &x);
    int gic = node("/intc@8000000");
    ck_assert_str_eq(str(gic, "compatible"), "arm,gic-v3");
    ck_assert(has(gic, "interrupt-controller"));
    ck_assert_uint_eq(u32(gic, "#interrupt-cells"), 3);
    ck_assert_uint_eq(u32(gic, "#address-cells"), 2);
    ck_assert_uint_eq(u32(gic, "#size-cells"), 2);
    prop(gic, "ranges", 0);
    const fdt32_t *reg = prop(gic, "reg", 8);
    ck_assert_uint_eq(u64_at(reg, 0), GICD);
    ck_assert_uint_eq(u64_at(reg, 2), 0x10000);
    ck_assert_uint_eq(u64_at(reg, 4), GICR);
    ck_assert_uint_eq(u64_at(reg, 6), 0x80000);
    int its = node("/intc@8000000/its@8080000");
    ck_assert_str_eq(str(its, "compatible"), "arm,gic-v3-its");
    ck_assert(has(its, "msi-controller"));
    ck_assert_uint_eq(u32(its, "#msi-cells"), 1);
    reg = prop(its, "reg", 4);
    ck_assert_uint_eq(u64_at(reg, 0), GITS);
    ck_assert_uint_eq(u64_at(reg, 2), 0x20000);
    uint32_t ph = fdt_get_phandle(buf, its), gph = fdt_get_phandle(buf, gic);
    ck_assert_uint_ne(ph, 0);
    ck_assert_uint_ne(ph, gph);
    ck_assert_int_eq(fdt_node_offset_by_phandle(buf, ph), its);
}
END_TEST

START_TEST(device_nodes)
{
    machine(CONF, true);
    struct vdev_fdt_platform p = arm_platform();
    struct vdev_fdt_platform_ext x = arm_ext();
    generate(&p, &x);
    int s = node("/serial@9000000");
    ck_assert_str_eq(str(s, "compatible"), "ns16550a");
    const fdt32_t *reg = prop(s, "reg", 4);
    ck_assert_uint_eq(u64_at(reg, 0), 0x9000000);
    ck_assert_uint_eq(u64_at(reg, 2), 8);
    ck_assert_uint_eq(u32(s, "reg-shift"), 0);
    ck_assert_uint_eq(u32(s, "reg-io-width"), 1);
    ck_assert_uint_eq(u32(s, "clock-frequency"), 1843200);
    ck_assert(!has(s, "vdevkit,port-io"));
    spi_level(s, 1);

    int v = node("/virtio_mmio@a000000");
    ck_assert_str_eq(str(v, "compatible"), "virtio,mmio");
    ck_assert(has(v, "dma-coherent"));
    ck_assert_uint_eq(u64_at(prop(v, "reg", 4), 0), 0xa000000);
    spi_level(v, 16);

    int g = node("/guest_shm@a100000");
    ck_assert_str_eq(str(g, "compatible"), "qvm,guest_shm");
    reg = prop(g, "reg", 8);
    ck_assert_uint_eq(u64_at(reg, 0), 0xa100000);
    spi_level(g, 17);

    /* The device on PCI has no node of its own: the host's describes it. */
    int c, n = 0;
    fdt_for_each_subnode(c, buf, 0)
    {
        const char *name = fdt_get_name(buf, c, NULL);
        n += strncmp(name, "virtio_mmio@", 12) == 0;
    }
    ck_assert_int_eq(n, 1);
}
END_TEST

/* A clocks phandle leads to the fixed clock: 24 MHz, no clock cells. */
static int fixed_clock(int uart, int idx)
{
    const fdt32_t *clocks = prop(uart, "clocks", 2);
    int clk = fdt_node_offset_by_phandle(buf, cell(clocks, idx));
    ck_assert_int_ge(clk, 0);
    ck_assert_str_eq(str(clk, "compatible"), "fixed-clock");
    ck_assert_uint_eq(u32(clk, "#clock-cells"), 0);
    ck_assert_uint_eq(u32(clk, "clock-frequency"), 24000000);
    ck_assert_str_eq(str(clk, "clock-output-names"), "clk24mhz");
    return clk;
}

/* PL011s as Linux's amba-pl011 binds them: "arm,pl011" and "arm,primecell", reg, a level
 * SPI, clocks uartclk and apb_pclk at one fixed clock that every PL011 shares; the first
 * UART (a PL011 here) is stdout-path. */
START_TEST(pl011_nodes_and_clock)
{
    machine("ram 0x40000000,64M vdev pl011 loc 0x9000000 intr gic:1 "
            "vdev ser8250 loc mem:0x9001000 intr gic:2 "
            "vdev pl011 loc 0x9002000 intr gic:7",
            true);
    struct vdev_fdt_platform p = arm_platform();
    struct vdev_fdt_platform_ext x = arm_ext();
    generate(&p, &x);
    ck_assert_str_eq(str(node("/chosen"), "stdout-path"), "/pl011@9000000");
    int u = node("/pl011@9000000");
    int len;
    const char *compat = fdt_getprop(buf, u, "compatible", &len);
    ck_assert_int_eq(len, (int)sizeof("arm,pl011\0arm,primecell"));
    ck_assert_mem_eq(compat, "arm,pl011\0arm,primecell", sizeof("arm,pl011\0arm,primecell"));
    ck_assert_int_eq(fdt_node_check_compatible(buf, u, "arm,primecell"), 0);
    const fdt32_t *reg = prop(u, "reg", 4);
    ck_assert_uint_eq(u64_at(reg, 0), 0x9000000);
    ck_assert_uint_eq(u64_at(reg, 2), 0x1000);
    spi_level(u, 1);
    const char *names = fdt_getprop(buf, u, "clock-names", &len);
    ck_assert_int_eq(len, (int)sizeof("uartclk\0apb_pclk"));
    ck_assert_mem_eq(names, "uartclk\0apb_pclk", sizeof("uartclk\0apb_pclk"));
    int clk = fixed_clock(u, 0);
    ck_assert_int_eq(fixed_clock(u, 1), clk);
    int u2 = node("/pl011@9002000");
    spi_level(u2, 7);
    ck_assert_int_eq(fixed_clock(u2, 0), clk);
    ck_assert_int_eq(fixed_clock(u2, 1), clk);
    /* one clock, at the root, with a phandle of its own */
    ck_assert_int_eq(fdt_parent_offset(buf, clk), 0);
    int n = 0, c;
    fdt_for_each_subnode(c, buf, 0)
    {
        n += fdt_node_check_compatible(buf, c, "fixed-clock") == 0;
    }
    ck_assert_int_eq(n, 1);
    uint32_t ph = fdt_get_phandle(buf, clk);
    ck_assert_uint_ne(ph, fdt_get_phandle(buf, node("/intc@8000000")));
    ck_assert_uint_ne(ph, fdt_get_phandle(buf, node("/intc@8000000/its@8080000")));
    node("/serial@9001000");

    /* The ser8250 first: it is the console, and the PL011 still gets its clock. */
    teardown();
    machine("ram 0x40000000,64M vdev ser8250 loc mem:0x9001000 intr gic:2 "
            "vdev pl011 loc 0x9000000 intr gic:1",
            false);
    x = arm_ext();
    generate(&p, &x);
    ck_assert_str_eq(str(node("/chosen"), "stdout-path"), "/serial@9001000");
    fixed_clock(node("/pl011@9000000"), 0);
}
END_TEST

/* The PCI host: pci-host-ecam-generic with reg, bus-range, ranges, INTx, MSI. */
START_TEST(pci_host)
{
    machine(CONF, true);
    struct vdev_fdt_platform p = arm_platform();
    struct vdev_fdt_platform_ext x = arm_ext();
    generate(&p, &x);
    int h = node("/pcie@3f000000");
    ck_assert_str_eq(str(h, "compatible"), "pci-host-ecam-generic");
    ck_assert_str_eq(str(h, "device_type"), "pci");
    ck_assert(has(h, "dma-coherent"));
    ck_assert_uint_eq(u32(h, "#address-cells"), 3);
    ck_assert_uint_eq(u32(h, "#size-cells"), 2);
    ck_assert_uint_eq(u32(h, "#interrupt-cells"), 1);
    ck_assert_uint_eq(u32(h, "linux,pci-domain"), 0);
    const fdt32_t *reg = prop(h, "reg", 4);
    ck_assert_uint_eq(u64_at(reg, 0), ECAM);
    ck_assert_uint_eq(u64_at(reg, 2), 16ull << 20);
    const fdt32_t *br = prop(h, "bus-range", 2);
    ck_assert_uint_eq(cell(br, 0), 0);
    ck_assert_uint_eq(cell(br, 1), 15);

    /* ranges: <phys.hi pci(2) cpu(2) size(2)>: I/O at its CPU window, MMIO identity. */
    const fdt32_t *r = prop(h, "ranges", 3 * 7);
    const uint32_t space[3] = {0x01000000, 0x02000000, 0x03000000};
    const uint64_t pci[3] = {0, MMIO32, MMIO64}, cpu[3] = {PIO_CPU, MMIO32, MMIO64},
                   len[3] = {0x10000, MMIO32_LEN, MMIO64_LEN};
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(cell(r, 7 * i), space[i]);
        ck_assert_uint_eq(u64_at(r, 7 * i + 1), pci[i]);
        ck_assert_uint_eq(u64_at(r, 7 * i + 3), cpu[i]);
        ck_assert_uint_eq(u64_at(r, 7 * i + 5), len[i]);
    }

    /* msi-map: every requester id to the ITS, device id = requester id. */
    const fdt32_t *mm = prop(h, "msi-map", 4);
    ck_assert_uint_eq(cell(mm, 0), 0);
    ck_assert_uint_eq(cell(mm, 1), fdt_get_phandle(buf, node("/intc@8000000/its@8080000")));
    ck_assert_uint_eq(cell(mm, 2), 0);
    ck_assert_uint_eq(cell(mm, 3), 0x10000);
}
END_TEST

/* Every slot and pin resolves, through the mask and the map, as the host routes INTx:
 * INTA..INTD of slot S on line (S + pin - 1) % 4 of the host's lines (SPIs 3-6). */
START_TEST(pci_interrupt_map)
{
    machine(CONF, true);
    struct vdev_fdt_platform p = arm_platform();
    struct vdev_fdt_platform_ext x = arm_ext();
    generate(&p, &x);
    int h = node("/pcie@3f000000");
    const fdt32_t *mask = prop(h, "interrupt-map-mask", 4);
    ck_assert_uint_eq(cell(mask, 0), 0x1800);
    ck_assert_uint_eq(cell(mask, 1), 0);
    ck_assert_uint_eq(cell(mask, 2), 0);
    ck_assert_uint_eq(cell(mask, 3), 7);
    /* Entry: child unit address (3) + pin (1) + phandle + GIC unit address (2) + spec (3). */
    enum { ENTRY = 3 + 1 + 1 + 2 + 3 };
    int len;
    const fdt32_t *map = fdt_getprop(buf, h, "interrupt-map", &len);
    ck_assert_ptr_nonnull(map);
    ck_assert_int_eq(len, 16 * ENTRY * 4);
    uint32_t gic = fdt_get_phandle(buf, node("/intc@8000000"));
    for (uint32_t slot = 0; slot < 32; slot++)
        for (uint32_t pin = 1; pin <= 4; pin++) {
            const uint32_t child[4] = {slot << 11, 0, 0, pin};
            int found = 0;
            for (int e = 0; e < 16; e++) {
                const fdt32_t *m = map + e * ENTRY;
                bool match = true;
                for (int i = 0; i < 4; i++)
                    match &= (child[i] & cell(mask, i)) == cell(m, i);
                if (!match)
                    continue;
                found++;
                ck_assert_uint_eq(cell(m, 4), gic);
                ck_assert_uint_eq(cell(m, 5), 0);
                ck_assert_uint_eq(cell(m, 6), 0);
                ck_assert_uint_eq(cell(m, 7), 0); /* SPI */
                ck_assert_uint_eq(cell(m, 8), 3 + (slot + pin - 1) % 4);
                ck_assert_uint_eq(cell(m, 9), VDEV_FDT_IRQ_LEVEL_HIGH);
            }
            ck_assert_msg(found == 1, "slot %u pin %u: %d entries", slot, pin, found);
        }
}
END_TEST

/* The x86 description (no extension): no psci, timer or ITS; the PCI host's map goes to
 * the IOAPIC's two cells with no parent unit address, no msi-map, no I/O range. */
START_TEST(without_extension)
{
    struct vdev_err err;
    fake_machine_new(&fe);
    struct vdev_pci_host_desc hd = {.ecam_base = 0xe0000000,
                                    .buses = 1,
                                    .cf8_ports = true,
                                    .mmio32_base = 0xc0000000,
                                    .mmio32_size = 0x10000000,
                                    .io_base = 0xc000,
                                    .io_size = 0x1000,
                                    .intx_pic = "ioapic",
                                    .intx_lines = {16, 17, 18, 19}};
    ck_assert_msg(vdev_machine_add_pci(fe.m, &hd, &err) == 0, "%s", err.msg);
    ck_assert_msg(fake_machine_build_string(&fe, "ram 64M cpu cpu vdev ser8250", &err) == 0, "%s",
                  err.msg);
    static const uint64_t ioapic[2] = {0xfec00000, 0x1000};
    struct vdev_fdt_platform p = {.compatible = "vdevkit,x86",
                                  .intc = {.name = "interrupt-controller@fec00000",
                                           .compatible = "intel,ce4100-ioapic",
                                           .reg = ioapic,
                                           .nreg = 1,
                                           .interrupt_cells = 2}};
    ck_assert_int_eq(vdev_machine_gen_fdt(fe.m, &p, buf, sizeof(buf), &err), 0);
    ck_assert_int_eq(fdt_check_full(buf, fdt_totalsize(buf)), 0);
    ck_assert_int_lt(fdt_path_offset(buf, "/psci"), 0);
    ck_assert_int_lt(fdt_path_offset(buf, "/timer"), 0);
    int ic = node("/interrupt-controller@fec00000");
    ck_assert_uint_eq(u32(ic, "#address-cells"), 0);
    ck_assert(fdt_first_subnode(buf, ic) < 0);
    ck_assert(!has(node("/cpus/cpu@1"), "enable-method"));
    ck_assert_uint_eq(u32(node("/cpus/cpu@1"), "reg"), 1);
    ck_assert(!has(node("/chosen"), "stdout-path"));
    int h = node("/pcie@e0000000");
    ck_assert(!has(h, "msi-map"));
    const fdt32_t *r = prop(h, "ranges", 7); /* MMIO32 only */
    ck_assert_uint_eq(cell(r, 0), 0x02000000);
    const fdt32_t *map = prop(h, "interrupt-map", 16 * (4 + 1 + 0 + 2));
    ck_assert_uint_eq(cell(map, 5), 16); /* slot 0 INTA */
    ck_assert_uint_eq(cell(map, 6), VDEV_FDT_IRQ_LEVEL_HIGH);
    ck_assert_uint_eq(cell(map + 7 * 5, 5), 18); /* slot 1 INTB */
}
END_TEST

/* A table from an older caller: what lies past its size is not read. */
START_TEST(sized_extension)
{
    machine(CONF, true);
    struct vdev_fdt_platform p = arm_platform();
    struct vdev_fdt_platform_ext x = arm_ext();
    x.size = offsetof(struct vdev_fdt_platform_ext, its_base);
    generate(&p, &x);
    node("/psci");
    ck_assert_int_lt(fdt_path_offset(buf, "/intc@8000000/its@8080000"), 0);
    ck_assert(!has(node("/pcie@3f000000"), "msi-map"));
    ck_assert(!has(node("/chosen"), "stdout-path"));
    ck_assert_uint_eq(u32(node("/intc@8000000"), "#address-cells"), 0);
}
END_TEST

START_TEST(errors_are_clear)
{
    struct vdev_err err;
    machine(CONF " vdev mc146818 intr gic:7", true);
    struct vdev_fdt_platform p = arm_platform();
    struct vdev_fdt_platform_ext x = arm_ext();
    /* No port I/O on ARM: the RTC at io:0x70 has no address the guest could use. */
    ck_assert_int_eq(vdev_machine_gen_fdt_ext(fe.m, &p, &x, buf, sizeof(buf), &err), -1);
    ck_assert_msg(strstr(err.msg, "vdev mc146818") && strstr(err.msg, "port I/O (io:0x70)"), "%s",
                  err.msg);
    x.no_port_io = false;
    ck_assert_int_eq(vdev_machine_gen_fdt_ext(fe.m, &p, &x, buf, sizeof(buf), &err), 0);

    x.psci_method = NULL;
    ck_assert_int_eq(vdev_machine_gen_fdt_ext(fe.m, &p, &x, buf, sizeof(buf), &err), -1);
    ck_assert_msg(strstr(err.msg, "psci needs a method"), "%s", err.msg);
    x = arm_ext();
    x.no_port_io = false;
    p.intc.interrupt_cells = 2;
    ck_assert_int_eq(vdev_machine_gen_fdt_ext(fe.m, &p, &x, buf, sizeof(buf), &err), -1);
    ck_assert_msg(strstr(err.msg, "need a GIC"), "%s", err.msg);
    p = arm_platform();
    x.size = 0;
    ck_assert_int_eq(vdev_machine_gen_fdt_ext(fe.m, &p, &x, buf, sizeof(buf), &err), -1);
    ck_assert_msg(strstr(err.msg, "no size"), "%s", err.msg);
    /* A stdout device that writes no node (virtio-net on PCI). */
    x = arm_ext();
    x.no_port_io = false;
    x.stdout_device = vdev_machine_device(fe.m, 2);
    ck_assert_int_eq(vdev_machine_gen_fdt_ext(fe.m, &p, &x, buf, sizeof(buf), &err), -1);
    ck_assert_msg(strstr(err.msg, "vdev virtio-net") && strstr(err.msg, "writes no node"), "%s",
                  err.msg);
}
END_TEST

/* Runs cmd; its exit status, stdout and stderr in *out. */
static int run(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t cap = 1 << 18, len = 0, n;
    *out = calloc(1, cap);
    while ((n = fread(*out + len, 1, cap - 1 - len, p)) > 0)
        len += n;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* dtc decompiles the blob with every check it has and warns about nothing; fdtdump reads it. */
START_TEST(dtc_and_fdtdump_accept_it)
{
    if (system("dtc --version >/dev/null 2>&1 && fdtdump -h >/dev/null 2>&1") != 0) {
        fprintf(stderr, "test_fdt_arm: dtc/fdtdump missing (scripts/install-deps.sh): skipped\n");
        return;
    }
    machine(CONF, true);
    struct vdev_fdt_platform p = arm_platform();
    struct vdev_fdt_platform_ext x = arm_ext();
    generate(&p, &x);
    char path[] = "/tmp/vdevkit-fdt-arm-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, buf, fdt_totalsize(buf)), (ssize_t)fdt_totalsize(buf));
    close(fd);
    char cmd[256], *out;
    snprintf(cmd, sizeof(cmd), "dtc -I dtb -O dts -o /dev/null %s 2>&1", path);
    int st = run(cmd, &out);
    ck_assert_msg(st == 0 && out[0] == '\0', "dtc (exit %d):\n%s", st, out);
    free(out);
    snprintf(cmd, sizeof(cmd), "dtc -I dtb -O dts %s 2>/dev/null", path);
    ck_assert_int_eq(run(cmd, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "compatible = \"pci-host-ecam-generic\";"));
    ck_assert_ptr_nonnull(strstr(out, "msi-map = <0x00 0x"));
    ck_assert_ptr_nonnull(strstr(out, "enable-method = \"psci\";"));
    ck_assert_ptr_nonnull(strstr(out, "compatible = \"arm,pl011\\0arm,primecell\";"));
    ck_assert_ptr_nonnull(strstr(out, "compatible = \"fixed-clock\";"));
    free(out);
    snprintf(cmd, sizeof(cmd), "fdtdump %s 2>&1", path);
    ck_assert_int_eq(run(cmd, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "arm,gic-v3-its"));
    free(out);
    unlink(path);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("fdt_arm");
    TCase *tc = tcase_create("fdt_arm");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, root_memory_chosen);
    tcase_add_test(tc, cpus_psci_timer);
    tcase_add_test(tc, cpu_mpidrs);
    tcase_add_test(tc, gic_and_its);
    tcase_add_test(tc, device_nodes);
    tcase_add_test(tc, pl011_nodes_and_clock);
    tcase_add_test(tc, pci_host);
    tcase_add_test(tc, pci_interrupt_map);
    tcase_add_test(tc, without_extension);
    tcase_add_test(tc, sized_extension);
    tcase_add_test(tc, errors_are_clear);
    tcase_add_test(tc, dtc_and_fdtdump_accept_it);
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
