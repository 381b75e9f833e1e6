/* The x86 part of running a machine (vmm/run_common.c has the rest): the ACPI power
 * registers, the ACPI tables and the image, the vCPUs with their entry state, and the ACPI
 * power button a signal presses. */
#include <stdlib.h>

#include "acpi_pm.h"
#include "acpi_tables.h"
#include "loaders.h"
#include "vcpu.h"
#include "vmm.h"
#include "x86_platform.h"

static void on_pm_event(void *arg, enum x86_pm_event ev)
{
    if (ev == X86_PM_POWEROFF)
        vmm_stop(arg, VMM_EXIT_POWEROFF, "ACPI power-off");
    else
        vmm_stop(arg, VMM_EXIT_REBOOT, "ACPI reset");
}

int vmm_arch_prepare(struct vmm *vmm, struct vdev_err *err)
{
    return x86_pm_add(vmm->m, on_pm_event, vmm, err);
}

/* Loads the image named by `load` and returns the boot CPU's entry. */
static int load_image(struct vmm *vmm, const struct vdev_config *cfg, uint64_t rsdp, bool *is_elf,
                      struct x86_entry *entry, struct vdev_err *err)
{
    if (cfg->nloads != 1)
        return vdev_err_set(err, "%s: give one 'load FILE' with the kernel or test image",
                            cfg->nloads ? "more than one 'load'" : "nothing to run");
    const struct vdev_load_cfg *l = &cfg->loads[0];
    if (l->addr_given)
        return vdev_err_set(err,
                            "%s:%u: 'load ADDR,FILE': images are placed by their own headers; "
                            "leave the address out",
                            l->pos.file, l->pos.line);
    size_t len;
    void *img = load_file(l->path, 1ull << 30, &len, err);
    if (!img)
        return -1;
    int rc;
    switch (image_kind_of(img, len)) {
    case IMAGE_BZIMAGE:
        *is_elf = false;
        rc = x86_boot_write_tables(vmm->m, false, err) ||
             load_bzimage(vmm->m, img, len, cfg->initrd, cfg->cmdline, rsdp, entry, err);
        break;
    case IMAGE_ELF64:
        *is_elf = true;
        rc = x86_boot_write_tables(vmm->m, true, err) || load_elf64(vmm->m, img, len, entry, err);
        break;
    default:
        rc = vdev_err_set(err, "%s: neither a Linux bzImage nor a 64-bit ELF image", l->path);
    }
    free(img);
    return rc ? -1 : 0;
}

static int build_acpi(struct vmm *vmm, uint64_t *rsdp, struct vdev_err *err)
{
    void *host = vdev_gmem_ptr(vmm->m, X86_ACPI_BASE, X86_ACPI_SIZE, true);
    if (!host)
        return vdev_err_set(err,
                            "no guest RAM at 0x%llx for the ACPI tables (hint: give RAM from "
                            "address 0, e.g. 'ram 256M')",
                            X86_ACPI_BASE);
    struct x86_acpi_config ac = {.ncpus = vmm->ncpus,
                                 .lapic_addr = X86_LAPIC_BASE,
                                 .ioapic_addr = X86_IOAPIC_BASE,
                                 .ioapic_id = (uint8_t)vmm->ncpus,
                                 .sleep_port = X86_PM_PORT + X86_PM_SLEEP_CONTROL,
                                 .reset_port = X86_PM_PORT + X86_PM_RESET,
                                 .reset_value = X86_PM_RESET_VALUE,
                                 .ged_gsi = X86_GED_GSI,
                                 /* No CMOS RTC, no VGA, no 8042: Linux then skips probing
                                  * them (an absent RTC alone cost ~3 s of boot). */
                                 .iapc_boot_arch =
                                     X86_ACPI_BOOT_NO_VGA | X86_ACPI_BOOT_NO_CMOS_RTC};
    x86_acpi_config_devices(&ac, vmm->m); /* a configured mc146818 is announced */
    size_t used;
    x86_boot_write_reset_vector(vmm->m, X86_PM_PORT + X86_PM_RESET, X86_PM_RESET_VALUE);
    return x86_acpi_build(vmm->m, &ac, host, X86_ACPI_BASE, X86_ACPI_SIZE, rsdp, &used, err);
}

static int create_vcpus(struct vmm *vmm, bool is_elf, const struct x86_entry *boot,
                        struct vdev_err *err)
{
    for (unsigned i = 0; i < vmm->ncpus; i++) {
        struct vcpu *v = &vmm->vcpus[i];
        if (vcpu_create(v, vmm, i, vmm->ncpus, err))
            return -1;
        /* Linux starts its application processors itself (INIT/SIPI); test guests get every
         * vCPU at the entry point with its index in %rdi and its own boot stack. */
        struct x86_entry e = *boot;
        if (is_elf) {
            e.rdi = i;
            e.rsi = vmm->ncpus;
            e.rsp = X86_BOOT_CMDLINE - i * 0x1000;
        }
        if ((i == 0 || is_elf) && vcpu_set_entry(v, &e, i > 0, err))
            return -1;
    }
    return 0;
}

int vmm_arch_start(struct vmm *vmm, struct vdev_err *err)
{
    const struct vdev_config *cfg = vdev_machine_config(vmm->m);
    uint64_t rsdp = 0;
    bool is_elf = false;
    struct x86_entry entry = {0};
    if (build_acpi(vmm, &rsdp, err) || load_image(vmm, cfg, rsdp, &is_elf, &entry, err) ||
        vdev_machine_start(vmm->m) || create_vcpus(vmm, is_elf, &entry, err))
        return -1;
    return 0;
}

/* The ACPI power button is the GED's line: a pulse is a press. */
const int vmm_arch_power_hold_ms = 0;

void vmm_arch_power_button(struct vmm *vmm, bool pressed)
{
    vdev_machine_set_gsi(vmm->m, X86_GED_GSI, pressed);
}
