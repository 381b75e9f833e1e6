/* One vCPU, for every architecture: its fd and shared run structure, and the thread that
 * runs it (KVM_RUN until the VM stops, kicked out by SIGUSR1 and immediate_exit) and
 * dispatches the exits both architectures share. Creating it with its boot state, its
 * other exits and its register dump are the architecture's (vcpu_arch_* below and
 * vcpu_create/vcpu_set_entry: vmm/x86/vcpu.c, vmm/arm64/arm64_vcpu.c). */
#ifndef VMM_VCPU_COMMON_H
#define VMM_VCPU_COMMON_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdio.h>
#include <vdev/vdev.h>

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

/* KVM_CREATE_VCPU `index` and its run structure; its host CPUs from the `cpu` line. The
 * start of each architecture's vcpu_create. */
int vcpu_open(struct vcpu *v, struct vmm *vmm, unsigned index, struct vdev_err *err);
int vcpu_start(struct vcpu *v, struct vdev_err *err);
/* Makes the thread leave KVM_RUN (from any thread). */
void vcpu_kick(struct vcpu *v);
/* Says why on stderr with the registers, and ends the VM with VMM_EXIT_CRASH. */
__attribute__((format(printf, 2, 3))) void vcpu_crash(struct vcpu *v, const char *fmt, ...);
void vcpu_destroy(struct vcpu *v);

/* ---- provided by each architecture's vCPU file ---- */

enum vcpu_exit {
    VCPU_EXIT_RUN,     /* handled: run again */
    VCPU_EXIT_STOP,    /* handled: the vCPU stops (the VM is stopping) */
    VCPU_EXIT_UNKNOWN, /* not this architecture's: a crash */
};
/* The exits the common loop does not handle (it does MMIO, INTR, FAIL_ENTRY and
 * INTERNAL_ERROR). */
enum vcpu_exit vcpu_arch_exit(struct vcpu *v);
/* A guest MMIO access (arm64 sends its PCI I/O window to port space). */
void vcpu_arch_mmio(struct vdev_machine *m, uint64_t addr, unsigned len, bool is_write,
                    uint64_t *value);
/* What KVM_RUN failing with `err` means here, if more than strerror says; NULL otherwise. */
const char *vcpu_arch_run_error(int err);
/* Prints the registers of a vCPU that stopped badly. */
void vcpu_dump(struct vcpu *v, FILE *out);

#endif
