/* The KVM virtual machine: memory slots, the in-kernel irqchip and PIT, interrupt routing,
 * and the embedder hooks that turn the framework's doorbells and interrupts into
 * ioeventfds, irqfds and KVM interrupt calls. The only place that owns the VM fd. */
#ifndef VMM_KVM_VM_H
#define VMM_KVM_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <vdev/vdev.h>

#define KVM_VM_MAX_SLOTS     160 /* RAM, ROM, and up to 32 shmem regions per factory */
#define KVM_VM_MAX_ROUTES    1024
#define KVM_VM_FIRST_MSI_GSI 24 /* GSIs 0-23 are the IOAPIC's pins */

struct kvm_vm_slot {
    bool used;
    uint32_t flags;
    uint64_t gpa, size;
    void *host;
};

struct kvm_vm_msi_route {
    bool used;
    int fd; /* the irqfd it serves */
    uint32_t gsi;
    struct vdev_msi msi;
};

struct kvm_vm {
    int kvm_fd, vm_fd;
    int vcpu_mmap_size;
    struct vdev_machine *m;
    pthread_mutex_t lock; /* slots and routes: device threads may bind irqfds */
    struct kvm_vm_slot slots[KVM_VM_MAX_SLOTS];
    struct kvm_vm_msi_route msi_routes[KVM_VM_MAX_ROUTES];
    void (*on_stop)(void *arg, int status); /* a device asked to end the VM */
    void *on_stop_arg;
    void *ram_maps[16];
    uint64_t ram_sizes[16];
    unsigned nram;
};

/* Opens /dev/kvm, creates the VM with its irqchip and PIT. err says why not (e.g. no KVM). */
int kvm_vm_open(struct kvm_vm *vm, struct vdev_err *err);
/* KVM_CAP_HALT_POLL: how long (ns) a halted vCPU of this VM polls before it sleeps; 0 or
 * -errno (EINVAL: the kernel predates Linux 5.8). */
int kvm_vm_set_halt_poll(struct kvm_vm *vm, uint64_t ns);
/* The embedder hooks of this VM (ctx = the vm); install before vdev_machine_build. */
extern const struct vdev_embedder_ops kvm_vm_embedder_ops;
/* Backs every RAM/ROM region of the built machine with memfd memory and maps it. */
int kvm_vm_back_memory(struct kvm_vm *vm, struct vdev_err *err);
void kvm_vm_close(struct kvm_vm *vm);

#endif
