/* The reference VMM: a built machine run under KVM until the guest powers off, reboots,
 * crashes or a signal stops it. */
#ifndef VMM_VMM_H
#define VMM_VMM_H

#include <stdatomic.h>
#include <vdev/vdev.h>

#include "platform.h"
#if defined(__x86_64__)
#include "kvm_vm.h"
#include "vcpu.h"
#define VMM_EMBEDDER_OPS kvm_vm_embedder_ops
#elif defined(__aarch64__)
#include "arm64_kvm.h"
#include "arm64_vcpu.h"
#define VMM_EMBEDDER_OPS arm64_kvm_embedder_ops
#else
#error "the reference VMM runs on x86-64 and aarch64 hosts"
#endif

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

/* Each architecture's run.c (vmm/x86/, vmm/arm64/) implements what follows. */
/* Opens KVM and adds the platform's power registers; before vdev_machine_build, so devices
 * bind their doorbells and irqfds in the kernel. */
int vmm_prepare(struct vmm *vmm, struct vdev_machine *m, struct vdev_err *err);
void vmm_close(struct vmm *vmm);
/* Ends the VM with `status` (the first call decides); safe from any thread. */
void vmm_stop(struct vmm *vmm, int status, const char *why);
/* Opens KVM, backs memory, loads the image, builds firmware tables and runs until the end.
 * `m` is built with kvm_vm_embedder_ops whose ctx is &vmm->vm. Returns the exit status. */
int vmm_run(struct vmm *vmm);

#endif
