/* The x86 part of the KVM VM (vmm/kvm_common.c has the rest): the in-kernel irqchip (PIC and
 * IOAPIC) and PIT, the legacy lines' routes, and port I/O as KVM's PIO. */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm_common.h"
#include "x86_platform.h"

_Static_assert(15 + X86_IOAPIC_LINES <= KVM_VM_MAX_LINE_ROUTES, "the lines' routes do not fit");

const struct kvm_vm_cap kvm_arch_caps[] = {{KVM_CAP_PIT2, "pit2"}, {0, NULL}};

int kvm_arch_vm_init(struct kvm_vm *vm, struct vdev_err *err)
{
    vm->first_msi_gsi = X86_IOAPIC_LINES; /* GSIs 0-23 are the IOAPIC's pins */
    /* Intel needs these three pages for real-mode emulation; they are reserved in the map. */
    if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)X86_KVM_TSS_BASE) < 0)
        return vdev_err_set(err, "KVM_SET_TSS_ADDR: %s", strerror(errno));
    uint64_t idmap = X86_KVM_IDMAP_BASE;
    if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
        return vdev_err_set(err, "KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
    if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
        return vdev_err_set(err, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
        return vdev_err_set(err, "KVM_CREATE_PIT2: %s", strerror(errno));
    return kvm_vm_irqchip_ready(vm, err);
}

static void add_route(struct kvm_irq_routing_entry *e, uint32_t gsi, uint32_t chip, uint32_t pin)
{
    e->gsi = gsi;
    e->type = KVM_IRQ_ROUTING_IRQCHIP;
    e->u.irqchip.irqchip = chip;
    e->u.irqchip.pin = pin;
}

/* The legacy lines as QEMU's PC wires them: GSI 0, the PIT, reaches IOAPIC pin 2; GSI 2 is
 * unused. */
unsigned kvm_arch_line_routes(struct kvm_irq_routing_entry *e)
{
    unsigned n = 0;
    for (uint32_t i = 0; i < 16; i++)
        if (i != 2)
            add_route(&e[n++], i, i < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, i % 8);
    for (uint32_t i = 0; i < X86_IOAPIC_LINES; i++)
        if (i != 2)
            add_route(&e[n++], i, KVM_IRQCHIP_IOAPIC, i == 0 ? 2 : i);
    return n;
}

/* x86 MSIs carry no device id. */
bool kvm_arch_msi_devid(const struct vdev_msi *msi, uint32_t *devid)
{
    (void)msi;
    (void)devid;
    return false;
}

/* The core's GSIs are KVM's. */
int kvm_arch_irq_line(uint32_t gsi, uint32_t *irq)
{
    *irq = gsi;
    return 0;
}

int kvm_arch_irqfd_gsi(uint32_t gsi, uint32_t *kvm_gsi)
{
    *kvm_gsi = gsi;
    return 0;
}

bool kvm_arch_port_io(uint64_t *addr)
{
    (void)addr;
    return true;
}
