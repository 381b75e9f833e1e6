/* The arm64 part of the KVM VM (vmm/kvm_common.c has the rest): the in-kernel vGICv3 and
 * its ITS, the SPIs' routes, MSIs with the ITS's device id, PCI port I/O through memory.
 * Builds for aarch64 only. */
#ifndef VMM_ARM64_KVM_H
#define VMM_ARM64_KVM_H

#include "arm64_platform.h"
#include "kvm_common.h"

/* The vGICv3 (distributor, `ncpus` redistributors) and its ITS, NR_IRQS and CTRL_INIT:
 * after every vCPU exists, before any device binds an irqfd. */
int kvm_vm_create_gic(struct kvm_vm *vm, unsigned ncpus, struct vdev_err *err);

#endif
