/* One vCPU: its fd and shared run structure, its CPUID and boot state, and the thread that
 * runs it and dispatches its exits to the framework. */
#ifndef VMM_VCPU_H
#define VMM_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <vdev/vdev.h>

#include "kvm_vm.h"
#include "x86_boot.h"

struct vmm;

struct vcpu {
    struct vmm *vmm;
    unsigned index;
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    bool started;
    uint64_t runmask; /* host CPUs; 0 = any */
};

/* Creates vCPU `index` of `count` with CPUID (APIC id = index, hypervisor bit), boot MSRs
 * and the LAPIC's LINT pins wired as on a PC. */
int vcpu_create(struct vcpu *v, struct vmm *vmm, struct kvm_vm *vm, unsigned index, unsigned count,
                struct vdev_err *err);
/* Long-mode entry state; `runnable` starts an application processor without INIT/SIPI. */
int vcpu_set_entry(struct vcpu *v, const struct x86_entry *e, bool runnable, struct vdev_err *err);
int vcpu_start(struct vcpu *v, struct vdev_err *err);
/* Makes the thread leave KVM_RUN (from any thread). */
void vcpu_kick(struct vcpu *v);
/* Prints the registers of a vCPU that stopped badly. */
void vcpu_dump(struct vcpu *v, FILE *out);
void vcpu_destroy(struct vcpu *v);

#endif
