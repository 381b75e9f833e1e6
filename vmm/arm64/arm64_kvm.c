/* The arm64 part of the KVM VM: see arm64_kvm.h. */
#include "arm64_kvm.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

_Static_assert(ARM64_KVM_IRQ_TYPE_SPI == KVM_ARM_IRQ_TYPE_SPI &&
                   ARM64_KVM_IRQ_TYPE_SHIFT == KVM_ARM_IRQ_TYPE_SHIFT,
               "arm64_platform.h's KVM_IRQ_LINE encoding differs from <asm/kvm.h>");
_Static_assert(ARM64_GIC_SPIS <= KVM_VM_MAX_LINE_ROUTES, "the SPIs' routes do not fit");

const struct kvm_vm_cap kvm_arch_caps[] = {{KVM_CAP_DEVICE_CTRL, "device control"},
                                           {KVM_CAP_ONE_REG, "one reg"},
                                           {KVM_CAP_ARM_PSCI_0_2, "psci 0.2"},
                                           {0, NULL}};

/* The vGIC comes later (kvm_vm_create_gic): its redistributors need every vCPU. */
int kvm_arch_vm_init(struct kvm_vm *vm, struct vdev_err *err)
{
    (void)err;
    vm->first_msi_gsi = ARM64_GIC_SPIS; /* routing GSIs below are the SPIs */
    /* MMIO without a valid ISV (ldp/stp, writeback) reaches us as KVM_EXIT_ARM_NISV with the
     * address instead of failing KVM_RUN with ENOSYS: a clearer message. */
    if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_NISV_TO_USER) > 0) {
        struct kvm_enable_cap cap = {.cap = KVM_CAP_ARM_NISV_TO_USER};
        ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap);
    }
    return 0;
}

static int dev_attr(int fd, uint32_t group, uint64_t attr, const void *addr)
{
    struct kvm_device_attr a = {.group = group, .attr = attr, .addr = (uintptr_t)addr};
    return ioctl(fd, KVM_SET_DEVICE_ATTR, &a);
}

int kvm_vm_create_gic(struct kvm_vm *vm, unsigned ncpus, struct vdev_err *err)
{
    int gic = kvm_vm_create_device(vm, KVM_DEV_TYPE_ARM_VGIC_V3);
    if (gic < 0)
        return vdev_err_set(err, "KVM_CREATE_DEVICE (vGICv3): %s (the host needs a GICv3)",
                            strerror(errno));
    uint64_t dist = ARM64_GICD_BASE, redist = ARM64_GICR_BASE;
    uint32_t nr_irqs = ARM64_GIC_NR_IRQS;
    if (dev_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &dist) < 0 ||
        dev_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &redist) < 0)
        return vdev_err_set(err, "vGICv3 addresses: %s", strerror(errno));
    if (dev_attr(gic, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs) < 0)
        return vdev_err_set(err, "vGICv3 NR_IRQS %u: %s", nr_irqs, strerror(errno));
    if (dev_attr(gic, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL) < 0)
        return vdev_err_set(err, "vGICv3 CTRL_INIT (%u vCPUs): %s", ncpus, strerror(errno));
    int its = kvm_vm_create_device(vm, KVM_DEV_TYPE_ARM_VGIC_ITS);
    if (its < 0)
        return vdev_err_set(err, "KVM_CREATE_DEVICE (vGIC ITS): %s", strerror(errno));
    uint64_t its_base = ARM64_GITS_BASE;
    if (dev_attr(its, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, &its_base) < 0 ||
        dev_attr(its, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL) < 0)
        return vdev_err_set(err, "vGIC ITS at 0x%llx: %s", (unsigned long long)its_base,
                            strerror(errno));
    return kvm_vm_irqchip_ready(vm, err);
}

/* Setting a routing table replaces KVM's default one, so it lists every SPI: routing GSI N
 * is irqchip pin N, INTID 32 + N. */
unsigned kvm_arch_line_routes(struct kvm_irq_routing_entry *e)
{
    for (uint32_t i = 0; i < ARM64_GIC_SPIS; i++) {
        e[i].gsi = i;
        e[i].type = KVM_IRQ_ROUTING_IRQCHIP;
        e[i].u.irqchip.irqchip = 0;
        e[i].u.irqchip.pin = i;
    }
    return ARM64_GIC_SPIS;
}

/* An MSI to the ITS: KVM wants the device id (KVM_MSI_VALID_DEVID), the PCI requester ID
 * (the DT's msi-map is the identity). An MSI without one (no PCI sender) goes without. */
bool kvm_arch_msi_devid(const struct vdev_msi *msi, uint32_t *devid)
{
    if (!(msi->flags & VDEV_MSI_REQUESTER_ID))
        return false;
    *devid = msi->requester_id;
    return true;
}

/* Only SPIs are lines; KVM_IRQ_LINE takes the INTID with its type, irqfds count from 0. */
int kvm_arch_irq_line(uint32_t gsi, uint32_t *irq)
{
    if (gsi < ARM64_SPI_BASE || gsi >= ARM64_GIC_NR_IRQS)
        return -1;
    *irq = arm64_kvm_irq_line(gsi);
    return 0;
}

int kvm_arch_irqfd_gsi(uint32_t gsi, uint32_t *kvm_gsi)
{
    if (gsi < ARM64_SPI_BASE || gsi >= ARM64_GIC_NR_IRQS)
        return -1;
    *kvm_gsi = arm64_kvm_spi_gsi(gsi);
    return 0;
}

/* PCI I/O is reached through the memory window. */
bool kvm_arch_port_io(uint64_t *addr)
{
    *addr += ARM64_PCI_IO_CPU_BASE;
    return false;
}
