/* The arm64 part of running a machine (vmm/run_common.c has the rest). vmm_arch_prepare
 * creates every vCPU and the vGICv3 + ITS (CTRL_INIT) before the machine is built, so that
 * devices bind irqfds in the kernel (KVM_IRQFD fails with EAGAIN before CTRL_INIT).
 * vmm_arch_start loads the Image and initrd, writes the device tree (the same buffer to
 * `set fdt-dump-file`) and sets the boot vCPU's entry; the guest ends with PSCI
 * SYSTEM_OFF/RESET. A signal presses the PL061 power button (arm64_power.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vdev/gmem.h>

#include "arm64_image.h"
#include "arm64_kvm.h"
#include "arm64_platform.h"
#include "arm64_power.h"
#include "arm64_vcpu.h"
#include "vmm.h"

#define FDT_BUF_SIZE (1u << 20)

int vmm_arch_prepare(struct vmm *vmm, struct vdev_err *err)
{
    struct kvm_vcpu_init preferred;
    if (vcpu_preferred_init(&vmm->vm, &preferred, err))
        return -1;
    for (unsigned i = 0; i < vmm->ncpus; i++)
        if (vcpu_create(&vmm->vcpus[i], vmm, i, &preferred, err))
            return -1;
    return kvm_vm_create_gic(&vmm->vm, vmm->ncpus, err);
}

/* The Image, the initrd and the device tree in RAM; the boot vCPU's PC and x0. */
static int load_guest(struct vmm *vmm, uint64_t *pc, uint64_t *x0, struct vdev_err *err)
{
    const struct vdev_config *cfg = vdev_machine_config(vmm->m);
    const struct vdev_load_cfg *l = &cfg->loads[0]; /* preflight: exactly one */
    char what[512];
    snprintf(what, sizeof(what), "%s:%u:%u: load: %s", l->pos.file ? l->pos.file : "(command line)",
             l->pos.line, l->pos.col, l->path);
    size_t len, ilen = 0;
    void *img = load_file(l->path, 1ull << 30, &len, err);
    if (!img)
        return -1;
    void *initrd = cfg->initrd ? load_file(cfg->initrd, 1ull << 30, &ilen, err) : NULL;
    void *fdt = calloc(1, FDT_BUF_SIZE);
    struct arm64_boot b;
    int rc = -1;
    if (cfg->initrd && !initrd)
        goto out;
    if (!fdt) {
        vdev_err_set(err, "out of memory");
        goto out;
    }
    if (arm64_image_load(vmm->m, img, len, initrd, ilen, what, &b, err))
        goto out;
    struct vdev_err ferr = {0};
    if (arm64_gen_fdt(vmm->m, vmm->ncpus, b.has_initrd, b.initrd_start, b.initrd_end, fdt,
                      FDT_BUF_SIZE, &ferr)) {
        vdev_err_set(err, "device tree: %s", ferr.msg);
        goto out;
    }
    const uint8_t *h = fdt;
    size_t fdt_len = (size_t)h[4] << 24 | h[5] << 16 | h[6] << 8 | h[7];
    void *dst = fdt_len <= ARM64_FDT_MAX ? vdev_gmem_ptr(vmm->m, b.fdt, fdt_len, true) : NULL;
    if (!dst) {
        vdev_err_set(err, "device tree of %zu bytes does not fit at 0x%llx (at most 2 MiB)",
                     fdt_len, (unsigned long long)b.fdt);
        goto out;
    }
    memcpy(dst, fdt, fdt_len);
    if (vmm_write_fdt_dump(vmm->m, fdt, err)) /* the very buffer the guest gets */
        goto out;
    *pc = b.kernel;
    *x0 = b.fdt;
    rc = 0;
out:
    free(fdt);
    free(initrd);
    free(img);
    return rc;
}

int vmm_arch_start(struct vmm *vmm, struct vdev_err *err)
{
    uint64_t pc = 0, x0 = 0;
    if (load_guest(vmm, &pc, &x0, err) || vcpu_set_entry(&vmm->vcpus[0], pc, x0, err) ||
        vdev_machine_start(vmm->m))
        return -1;
    return 0;
}

/* The PL061's pin 3, a gpio-keys KEY_POWER (arm64_power.h): held as a finger would. */
const int vmm_arch_power_hold_ms = 100;

void vmm_arch_power_button(struct vmm *vmm, bool pressed)
{
    arm64_power_set(vmm->m, pressed);
}
