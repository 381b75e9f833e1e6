/* The x86 part of a vCPU (vmm/vcpu_common.c has the thread and the shared exits): CPUID,
 * boot MSRs, the LAPIC's LINT pins, long-mode entry state, port I/O, shutdown and system
 * events, the register dump. */
#ifndef VMM_VCPU_H
#define VMM_VCPU_H

#include "vcpu_common.h"
#include "x86_boot.h"

/* Creates vCPU `index` of `count` with CPUID (APIC id = index, hypervisor bit), boot MSRs
 * and the LAPIC's LINT pins wired as on a PC. */
int vcpu_create(struct vcpu *v, struct vmm *vmm, unsigned index, unsigned count,
                struct vdev_err *err);
/* Long-mode entry state; `runnable` starts an application processor without INIT/SIPI. */
int vcpu_set_entry(struct vcpu *v, const struct x86_entry *e, bool runnable, struct vdev_err *err);

#endif
