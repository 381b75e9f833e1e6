/* The arm64 part of a vCPU (vmm/vcpu_common.c has the thread and the shared exits):
 * KVM_ARM_VCPU_INIT with PSCI 0.2 (secondaries powered off until the guest's PSCI CPU_ON),
 * the boot state, PSCI system events, MMIO KVM cannot decode, the register dump. */
#ifndef VMM_ARM64_VCPU_H
#define VMM_ARM64_VCPU_H

#include "kvm_common.h"
#include "vcpu_common.h"

/* What every vCPU of the VM is initialised with: KVM_ARM_PREFERRED_TARGET + PSCI 0.2. */
int vcpu_preferred_init(struct kvm_vm *vm, struct kvm_vcpu_init *init, struct vdev_err *err);
int vcpu_create(struct vcpu *v, struct vmm *vmm, unsigned index,
                const struct kvm_vcpu_init *preferred, struct vdev_err *err);
/* The boot vCPU: PC = entry, x0 = the DTB, PSTATE EL1h with DAIF masked. */
int vcpu_set_entry(struct vcpu *v, uint64_t pc, uint64_t x0, struct vdev_err *err);

#endif
