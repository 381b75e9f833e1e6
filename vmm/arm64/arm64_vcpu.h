/* One arm64 vCPU: KVM_ARM_VCPU_INIT with PSCI 0.2 (secondaries powered off until the guest's
 * PSCI CPU_ON), the boot state, and the thread that runs it and dispatches its exits. */
#ifndef VMM_ARM64_VCPU_H
#define VMM_ARM64_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdio.h>
#include <vdev/vdev.h>

#include "arm64_kvm.h"

struct vmm;

struct vcpu {
    struct vmm *vmm;
    unsigned index;
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    bool started;
    uint64_t runmask;
};

int vcpu_create(struct vcpu *v, struct vmm *vmm, struct kvm_vm *vm, unsigned index,
                struct vdev_err *err);
/* The boot vCPU: PC = entry, x0 = the DTB, PSTATE EL1h with DAIF masked. */
int vcpu_set_entry(struct vcpu *v, uint64_t pc, uint64_t x0, struct vdev_err *err);
int vcpu_start(struct vcpu *v, struct vdev_err *err);
void vcpu_kick(struct vcpu *v);
void vcpu_dump(struct vcpu *v, FILE *out);
void vcpu_destroy(struct vcpu *v);

#endif
