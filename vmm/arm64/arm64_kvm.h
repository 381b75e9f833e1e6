/* The KVM virtual machine on an aarch64 host: memory slots, the in-kernel vGICv3 and ITS,
 * MSI routes, and the embedder hooks (ioeventfds, irqfds, KVM_IRQ_LINE, KVM_SIGNAL_MSI).
 * Builds for aarch64 only; the only arm64 code that owns the VM fd. */
#ifndef VMM_ARM64_KVM_H
#define VMM_ARM64_KVM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <vdev/vdev.h>

#include "arm64_platform.h"

#define KVM_VM_MAX_SLOTS     160
#define KVM_VM_MAX_ROUTES    1024
#define KVM_VM_FIRST_MSI_GSI ARM64_GIC_SPIS /* routing GSIs below are the SPIs */

struct kvm_vm_slot {
    bool used;
    uint32_t flags;
    uint64_t gpa, size;
    void *host;
};

struct kvm_vm_msi_route {
    bool used;
    int fd;
    uint32_t gsi;
    struct vdev_msi msi;
};

struct kvm_vm {
    int kvm_fd, vm_fd;
    int gic_fd, its_fd;
    bool gic_ready; /* CTRL_INIT done: irqfds bind from here on (EAGAIN before) */
    int vcpu_mmap_size;
    struct kvm_vcpu_init vcpu_init; /* KVM_ARM_PREFERRED_TARGET + PSCI 0.2 */
    struct vdev_machine *m;
    pthread_mutex_t lock;
    struct kvm_vm_slot slots[KVM_VM_MAX_SLOTS];
    struct kvm_vm_msi_route msi_routes[KVM_VM_MAX_ROUTES];
    void (*on_stop)(void *arg, int status);
    void *on_stop_arg;
    void *ram_maps[16];
    uint64_t ram_sizes[16];
    unsigned nram;
};

/* Opens /dev/kvm, creates the VM, reads the preferred vCPU target and enables
 * KVM_CAP_ARM_NISV_TO_USER when the kernel has it. */
int kvm_vm_open(struct kvm_vm *vm, struct vdev_err *err);
/* The vGICv3 (distributor, `ncpus` redistributors) and its ITS, NR_IRQS and CTRL_INIT:
 * after every vCPU exists, before any device binds an irqfd. */
int kvm_vm_create_gic(struct kvm_vm *vm, unsigned ncpus, struct vdev_err *err);
int kvm_vm_set_halt_poll(struct kvm_vm *vm, uint64_t ns);
extern const struct vdev_embedder_ops arm64_kvm_embedder_ops;
int kvm_vm_back_memory(struct kvm_vm *vm, struct vdev_err *err);
void kvm_vm_close(struct kvm_vm *vm);

#endif
