/* The reference VMM: a built machine run under KVM until the guest powers off, reboots,
 * crashes or a signal stops it. */
#ifndef VMM_VMM_H
#define VMM_VMM_H

#include <stdatomic.h>
#include <vdev/vdev.h>

#include "kvm_common.h"
#include "platform.h"
#include "vcpu_common.h"

#define VMM_MAX_VCPUS       64
#define VMM_MAX_MEM_REGIONS 32 /* RAM and ROM lines; the other KVM slots are for device memory */

/* Exit statuses of `vdevkit run` (docs/vmm.md). A testdev write ends with the value written. */
enum vmm_exit {
    VMM_EXIT_POWEROFF = 0, /* the guest powered off */
    VMM_EXIT_HOST = 1,     /* a host-side failure: no KVM, out of memory, a bad image */
    VMM_EXIT_CONFIG = 2,   /* the configuration was refused; nothing ran */
    VMM_EXIT_REBOOT = 3,   /* the guest rebooted (the VMM does not restart it) */
    VMM_EXIT_CRASH = 4,    /* triple fault, KVM internal error, failed entry, or (arm64) an
                              MMIO access the VMM cannot decode */
};

struct vmm {
    struct vdev_machine *m;
    struct kvm_vm vm;
    struct vcpu vcpus[VMM_MAX_VCPUS];
    unsigned ncpus;
    atomic_bool stopping;
    atomic_int status;
    int stop_efd; /* signalled once when the VM should end */
};

/* run_common.c. */
/* Opens KVM (with `set halt-poll`), then the architecture's part (vmm_arch_prepare); before
 * vdev_machine_build, so devices bind their doorbells and irqfds in the kernel. */
int vmm_prepare(struct vmm *vmm, struct vdev_machine *m, struct vdev_err *err);
void vmm_close(struct vmm *vmm);
/* Ends the VM with `status` (the first call decides); safe from any thread. */
void vmm_stop(struct vmm *vmm, int status, const char *why);
/* Backs memory, starts the guest (vmm_arch_start) and its vCPUs, and waits for the end.
 * `m` is built with kvm_vm_embedder_ops whose ctx is &vmm->vm. Returns the exit status. */
int vmm_run(struct vmm *vmm);

/* ---- provided by each architecture's run.c (vmm/x86/run.c, vmm/arm64/arm64_run.c) ---- */

/* The rest of vmm_prepare: x86 adds its power registers; arm64 creates the vCPUs and the
 * vGIC. */
int vmm_arch_prepare(struct vmm *vmm, struct vdev_err *err);
/* From backed RAM to vCPUs ready to start: firmware tables or device tree, the image, the
 * event thread (vdev_machine_start), the vCPUs' boot state (x86 creates them here). */
int vmm_arch_start(struct vmm *vmm, struct vdev_err *err);
/* The platform's power button, which the first SIGINT/SIGTERM presses: down (true) and up
 * after vmm_arch_power_hold_ms (0: at once). */
void vmm_arch_power_button(struct vmm *vmm, bool pressed);
extern const int vmm_arch_power_hold_ms;

#endif
