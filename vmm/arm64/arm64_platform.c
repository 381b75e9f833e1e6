/* The arm64 platform: QEMU virt's map described to the core, and its device tree. No KVM
 * here (arm64_kvm.c, arm64_vcpu.c and arm64_run.c are the aarch64-only parts). */
#include "arm64_platform.h"

#include <libfdt.h>
#include <stdio.h>
#include <string.h>
#include <vdev/config.h>
#include <vdev/fdt.h>
#include <vdev/module.h>
#include <vdev/pci.h>

#include "arm64_power.h"
#include "platform.h"

static const struct arm64_region map[] = {
    {"gic distributor", ARM64_GICD_BASE, ARM64_GICD_SIZE},
    {"gic its", ARM64_GITS_BASE, ARM64_GITS_SIZE},
    {"gic redistributors", ARM64_GICR_BASE, ARM64_GICR_WINDOW},
    {"uart (a configuration's pl011 or ser8250)", ARM64_UART_BASE, 0x1000},
    {"pl061 gpio: the power button", ARM64_GPIO_BASE, ARM64_GPIO_SIZE},
    {"virtio-mmio slots", ARM64_VIRTIO_MMIO_BASE, ARM64_VIRTIO_MMIO_SIZE},
    {"board devices (qvm's Versatile Express places)", ARM64_BOARD_BASE, ARM64_BOARD_SIZE},
    {"pci mmio32 window", ARM64_PCI_MMIO32_BASE, ARM64_PCI_MMIO32_SIZE},
    {"pci i/o window", ARM64_PCI_IO_CPU_BASE, ARM64_PCI_IO_SIZE},
    {"pci ecam", ARM64_PCI_ECAM_BASE, ARM64_PCI_BUSES * 0x100000ull},
    {"ram", ARM64_RAM_BASE, ARM64_PCI_MMIO64_BASE - ARM64_RAM_BASE},
    {"pci mmio64 window", ARM64_PCI_MMIO64_BASE, ARM64_PCI_MMIO64_SIZE},
};

size_t arm64_memory_map(const struct arm64_region **out)
{
    *out = map;
    return sizeof(map) / sizeof(map[0]);
}

static int add_pci(struct vdev_machine *m, struct vdev_err *err)
{
    struct vdev_pci_host_desc h = {.ecam_base = ARM64_PCI_ECAM_BASE,
                                   .buses = ARM64_PCI_BUSES,
                                   .mmio32_base = ARM64_PCI_MMIO32_BASE,
                                   .mmio32_size = ARM64_PCI_MMIO32_SIZE,
                                   .mmio64_base = ARM64_PCI_MMIO64_BASE,
                                   .mmio64_size = ARM64_PCI_MMIO64_SIZE,
                                   .io_base = 0,
                                   .io_size = (uint32_t)ARM64_PCI_IO_SIZE,
                                   .intx_pic = ARM64_GIC_NAME};
    for (unsigned i = 0; i < 4; i++)
        h.intx_lines[i] = ARM64_PCI_INTX_SPI0 + i;
    return vdev_machine_add_pci(m, &h, err);
}

/* A configuration may declare the GIC as qvm's ARM guests do (`vdev gic loc 0x8000000
 * version 3`); KVM's in-kernel one is the machine's `gic` controller. qvm's other `vdev gic`
 * options (QNX 7.1/8.0 docs) are checked against it. */
static int add_platform_vdevs(struct vdev_machine *m, struct vdev_err *err)
{
    static const char *const gic_loc[] = {"mem:0x8000000", NULL};
    static const char host_gic[] = "qvm's access to the host's own GIC; under KVM the guest has "
                                   "KVM's virtual GIC: leave it out";
    static const struct vdev_platform_option gic_options[] = {
        {"version", "N", "3", NULL},
        {"gicd", "ADDRESS", "0x8000000", NULL},
        {"gicr", "ADDRESS", "0x80a0000", NULL},
        {"its", "ADDRESS", "0x8080000", NULL},
        {"num-lpis", "N", NULL, NULL},         /* KVM's ITS sizes its LPIs itself */
        {"its-prealloc", "N[,N]", NULL, NULL}, /* (KVM allocates as the guest maps) */
        {"gicc", "ADDRESS", NULL,
         "a GICv2 CPU interface; this GICv3's CPU interface is system registers: leave it out"},
        {"msi", "ADDRESS,BASE,COUNT", NULL,
         "a GICv2m MSI frame; MSIs here go through the GICv3 ITS at 0x8080000: leave it out"},
        {"host-gicd", "ADDRESS", NULL, host_gic},
        {"host-gich", "ADDRESS", NULL, host_gic},
        {"host-gicr", "ADDRESS", NULL, host_gic},
        {"host-gicv", "ADDRESS", NULL, host_gic},
        {NULL, NULL, NULL, NULL},
    };
    const struct vdev_platform_vdev gic = {.size = sizeof(gic),
                                           .type = "gic",
                                           .summary = "GICv3 with ITS (KVM's in-kernel one)",
                                           .locs = gic_loc,
                                           .intr = "cpu",
                                           .pic = ARM64_GIC_NAME,
                                           .options = gic_options};
    return vdev_machine_add_platform_vdev(m, &gic, err);
}

int arm64_platform_describe(struct vdev_machine *m, struct vdev_err *err)
{
    if (vdev_machine_add_pic(m, ARM64_GIC_NAME, ARM64_GIC_SPIS, ARM64_SPI_BASE, err) ||
        add_platform_vdevs(m, err))
        return -1;
    if (vdev_machine_reserve(m, VDEV_SPACE_MEM, ARM64_GICD_BASE, ARM64_GICD_SIZE,
                             "gic distributor (platform)", err) ||
        vdev_machine_reserve(m, VDEV_SPACE_MEM, ARM64_GITS_BASE, ARM64_GITS_SIZE,
                             "gic its (platform)", err) ||
        vdev_machine_reserve(m, VDEV_SPACE_MEM, ARM64_GICR_BASE, ARM64_GICR_WINDOW,
                             "gic redistributors (platform)", err) ||
        vdev_machine_reserve(m, VDEV_SPACE_MEM, ARM64_PCI_IO_CPU_BASE, ARM64_PCI_IO_SIZE,
                             "pci i/o window (platform)", err) ||
        arm64_power_add(m, err))
        return -1;
    return add_pci(m, err);
}

enum vdev_access_result arm64_mmio_access(struct vdev_machine *m, uint64_t addr, unsigned size,
                                          bool is_write, uint64_t *value)
{
    if (addr >= ARM64_PCI_IO_CPU_BASE && addr - ARM64_PCI_IO_CPU_BASE < ARM64_PCI_IO_SIZE)
        return vdev_machine_access(m, VDEV_SPACE_IO, addr - ARM64_PCI_IO_CPU_BASE, size, is_write,
                                   value);
    return vdev_machine_access(m, VDEV_SPACE_MEM, addr, size, is_write, value);
}

/* The console: the configuration's first UART, a pl011 or a ser8250, whichever comes first
 * (Linux: ttyAMA0 or ttyS0; `earlycon` without arguments follows stdout-path). */
static const struct vdev *first_uart(struct vdev_machine *m)
{
    for (size_t i = 0; i < vdev_machine_device_count(m); i++) {
        struct vdev *d = vdev_machine_device(m, i);
        const char *type = vdev_type_name(d);
        if (strcmp(type, "pl011") == 0 || strcmp(type, "ser8250") == 0)
            return d;
    }
    return NULL;
}

int arm64_gen_fdt(struct vdev_machine *m, unsigned ncpus, bool has_initrd, uint64_t initrd_start,
                  uint64_t initrd_end, void *buf, size_t size, struct vdev_err *err)
{
    if (ncpus == 0) {
        size_t n = vdev_machine_config(m)->ncpus;
        ncpus = n ? (unsigned)n : 1;
    }
    const uint64_t gic_reg[4] = {ARM64_GICD_BASE, ARM64_GICD_SIZE, ARM64_GICR_BASE,
                                 arm64_gicr_size(ncpus)};
    char intc_name[32];
    snprintf(intc_name, sizeof(intc_name), "intc@%llx", (unsigned long long)ARM64_GICD_BASE);
    const struct vdev_fdt_platform p = {
        .compatible = "linux,dummy-virt",
        .model = "vdevkit arm64 (KVM)",
        .ncpus = ncpus,
        .cpu_compatible = "arm,arm-v8",
        .has_initrd = has_initrd,
        .initrd_start = initrd_start,
        .initrd_end = initrd_end,
        .intc = {.name = intc_name,
                 .compatible = "arm,gic-v3",
                 .reg = gic_reg,
                 .nreg = 2,
                 .interrupt_cells = 3,
                 .spi_base = ARM64_SPI_BASE},
    };
    const struct vdev_fdt_platform_ext x = {
        .size = sizeof(x),
        .cpu_reg = VDEV_FDT_CPU_REG_KVM_MPIDR,
        .psci_compatible = "arm,psci-0.2",
        .psci_method = "hvc",
        .timer_ppis = {ARM64_TIMER_PPI_S, ARM64_TIMER_PPI_NS, ARM64_TIMER_PPI_V, ARM64_TIMER_PPI_H},
        .its_base = ARM64_GITS_BASE,
        .its_size = ARM64_GITS_SIZE,
        .has_pci_io_cpu = true,
        .pci_io_cpu_base = ARM64_PCI_IO_CPU_BASE,
        .no_port_io = true,
        .stdout_device = first_uart(m),
    };
    if (vdev_machine_gen_fdt_ext(m, &p, &x, buf, size, err))
        return -1;
    /* the platform's own nodes: the power button (the tree comes packed: reopen it) */
    int rc = fdt_open_into(buf, buf, (int)size);
    if (!rc)
        rc = arm64_power_gen_fdt(buf);
    if (!rc)
        rc = fdt_pack(buf);
    return rc ? vdev_err_set(err, "power button nodes: %s", fdt_strerror(rc)) : 0;
}

/* ---- the platform as the command line sees it (vmm/platform.h) ---- */

static bool arm64_boots(enum image_kind kind)
{
    return kind == IMAGE_ARM64;
}

/* RAM lives from ARM64_RAM_BASE up: below it is the device area, and `ram LEN` alone would
 * land at address 0 (the core places it at the lowest free address). */
static int arm64_preflight(struct vdev_machine *m, struct vdev_err *err)
{
    const struct vdev_config *cfg = vdev_machine_config(m);
    for (size_t i = 0; i < cfg->nmem; i++) {
        const struct vdev_mem_cfg *r = &cfg->mem[i];
        if (r->rom)
            continue;
        if (!r->start_given || r->start < ARM64_RAM_BASE)
            return vdev_err_setc(
                err, VDEV_E_CONFIG,
                "%s:%u:%u: ram: the arm64 platform's RAM starts at 0x%llx, below is the device "
                "area (hint: give the address, e.g. 'ram 0x%llx,256M')",
                r->pos.file ? r->pos.file : "(command line)", r->pos.line, r->pos.col,
                (unsigned long long)ARM64_RAM_BASE, (unsigned long long)ARM64_RAM_BASE);
        if (r->start + r->len > ARM64_PCI_MMIO64_BASE)
            return vdev_err_setc(err, VDEV_E_CONFIG,
                                 "%s:%u:%u: ram: reaches past 0x%llx, where the 64-bit PCI "
                                 "window starts",
                                 r->pos.file ? r->pos.file : "(command line)", r->pos.line,
                                 r->pos.col, (unsigned long long)ARM64_PCI_MMIO64_BASE);
    }
    return 0;
}

static int arm64_dryrun_fdt(struct vdev_machine *m, void *buf, size_t size, struct vdev_err *err)
{
    return arm64_gen_fdt(m, 0, false, 0, 0, buf, size, err);
}

const struct vmm_platform vmm_platform_arm64 = {
    .name = "arm64",
    .describe = arm64_platform_describe,
    .preflight = arm64_preflight,
    .boots = arm64_boots,
    .images = "an arm64 Linux Image",
    .not_images = "not an arm64 Linux Image (no \"ARM\\x64\" magic at offset 56)",
    .nimage_kinds = 1,
    .gen_fdt = arm64_dryrun_fdt,
    .boots_with_fdt = true,
};
