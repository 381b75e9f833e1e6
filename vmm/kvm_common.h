/* The KVM virtual machine, for every architecture: memory slots, MSI routes and the embedder
 * hooks that turn the framework's doorbells and interrupts into ioeventfds, irqfds and KVM
 * interrupt calls. The only place that owns the VM fd. What differs by architecture (the
 * in-kernel irqchip, how interrupt lines and port I/O reach KVM) comes from the functions
 * each architecture's KVM file provides (kvm_arch_* below: vmm/x86/kvm_vm.c,
 * vmm/arm64/arm64_kvm.c). */
#ifndef VMM_KVM_COMMON_H
#define VMM_KVM_COMMON_H

#include <linux/kvm.h>
#include <pthread.h>
#include <vdev/vdev.h>

#define KVM_VM_MAX_SLOTS       160 /* RAM, ROM, and up to 32 shmem regions per factory */
#define KVM_VM_MAX_ROUTES      1024
#define KVM_VM_MAX_LINE_ROUTES 256 /* room for an architecture's fixed routes (arm64: 224) */
#define KVM_VM_MAX_DEVICES     4   /* KVM_CREATE_DEVICE's (arm64: the vGIC and its ITS) */

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
    int dev_fds[KVM_VM_MAX_DEVICES]; /* closed with the VM */
    unsigned ndevs;
    int kvm_vfio_fd; /* the KVM VFIO device's fd + 1 (one of dev_fds); 0 until a group comes */
    uint32_t first_msi_gsi; /* routing GSIs below it are the interrupt lines' */
    bool irqfds_ready;      /* the irqchip is complete (arm64: KVM_IRQFD is EAGAIN before) */
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

/* Opens /dev/kvm, checks the capabilities, creates the VM and lets the architecture set it
 * up (kvm_arch_vm_init). err says why not (e.g. no KVM). */
int kvm_vm_open(struct kvm_vm *vm, struct vdev_err *err);
/* KVM_CAP_HALT_POLL: how long (ns) a halted vCPU of this VM polls before it sleeps; 0 or
 * -errno (EINVAL: the kernel predates Linux 5.8). */
int kvm_vm_set_halt_poll(struct kvm_vm *vm, uint64_t ns);
/* The embedder hooks of this VM (ctx = the vm); install before vdev_machine_build. */
extern const struct vdev_embedder_ops kvm_vm_embedder_ops;
/* Backs every RAM/ROM region of the built machine with memfd memory and maps it. */
int kvm_vm_back_memory(struct kvm_vm *vm, struct vdev_err *err);
void kvm_vm_close(struct kvm_vm *vm);

/* For the architecture's irqchip setup. KVM_CREATE_DEVICE: the device's fd, closed with the
 * VM, or -1 with errno. */
int kvm_vm_create_device(struct kvm_vm *vm, uint32_t type);
/* The irqchip is complete: sets the routing table (the lines' routes, then the MSI routes)
 * and lets irqfds bind from here on; before, the irqfd hooks refuse and the core delivers. */
int kvm_vm_irqchip_ready(struct kvm_vm *vm, struct vdev_err *err);

/* ---- provided by each architecture's KVM file ---- */

struct kvm_vm_cap {
    int cap;
    const char *name;
};
/* Capabilities the architecture needs besides the common ones; ends with {0, NULL}. */
extern const struct kvm_vm_cap kvm_arch_caps[];
/* After KVM_CREATE_VM: the in-kernel irqchip (or what must come before it), first_msi_gsi. */
int kvm_arch_vm_init(struct kvm_vm *vm, struct vdev_err *err);
/* Writes the interrupt lines' fixed routes (at most KVM_VM_MAX_LINE_ROUTES) to e; how many. */
unsigned kvm_arch_line_routes(struct kvm_irq_routing_entry *e);
/* Whether KVM takes this MSI with a device id (KVM_MSI_VALID_DEVID), and which. */
bool kvm_arch_msi_devid(const struct vdev_msi *msi, uint32_t *devid);
/* What KVM_IRQ_LINE and KVM_IRQFD take for the core's GSI `gsi`; -1: not a line KVM has. */
int kvm_arch_irq_line(uint32_t gsi, uint32_t *irq);
int kvm_arch_irqfd_gsi(uint32_t gsi, uint32_t *kvm_gsi);
/* A port-I/O doorbell at *addr: true if KVM takes it as PIO; false after moving *addr to
 * the memory address the guest reaches the port at. */
bool kvm_arch_port_io(uint64_t *addr);

#endif
