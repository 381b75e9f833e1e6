#include "arm64_kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

_Static_assert(ARM64_KVM_IRQ_TYPE_SPI == KVM_ARM_IRQ_TYPE_SPI &&
                   ARM64_KVM_IRQ_TYPE_SHIFT == KVM_ARM_IRQ_TYPE_SHIFT,
               "arm64_platform.h's KVM_IRQ_LINE encoding differs from <asm/kvm.h>");

static int commit_routes(struct kvm_vm *vm);

int kvm_vm_open(struct kvm_vm *vm, struct vdev_err *err)
{
    memset(vm, 0, sizeof(*vm));
    vm->vm_fd = vm->gic_fd = vm->its_fd = -1;
    pthread_mutex_init(&vm->lock, NULL);
    vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (vm->kvm_fd < 0)
        return vdev_err_set(err, "cannot open /dev/kvm: %s (is KVM available on this host?)",
                            strerror(errno));
    int api = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION)
        return vdev_err_set(err, "/dev/kvm speaks API %d, vdevkit needs %d", api, KVM_API_VERSION);
    static const struct {
        int cap;
        const char *name;
    } needed[] = {{KVM_CAP_IRQCHIP, "irqchip"},
                  {KVM_CAP_IRQ_ROUTING, "irq routing"},
                  {KVM_CAP_IRQFD, "irqfd"},
                  {KVM_CAP_IOEVENTFD, "ioeventfd"},
                  {KVM_CAP_SIGNAL_MSI, "signal msi"},
                  {KVM_CAP_USER_MEMORY, "user memory"},
                  {KVM_CAP_DEVICE_CTRL, "device control"},
                  {KVM_CAP_ONE_REG, "one reg"},
                  {KVM_CAP_ARM_PSCI_0_2, "psci 0.2"},
                  {KVM_CAP_IMMEDIATE_EXIT, "immediate exit"}};
    for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++)
        if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, needed[i].cap) <= 0)
            return vdev_err_set(err, "KVM lacks a capability vdevkit needs: %s", needed[i].name);
    vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    /* type 0: the default 40-bit IPA space, which ARM64_PCI_MMIO64 ends at. */
    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0)
        return vdev_err_set(err, "KVM_CREATE_VM: %s", strerror(errno));
    if (ioctl(vm->vm_fd, KVM_ARM_PREFERRED_TARGET, &vm->vcpu_init) < 0)
        return vdev_err_set(err, "KVM_ARM_PREFERRED_TARGET: %s", strerror(errno));
    vm->vcpu_init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
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
    struct kvm_create_device gic = {.type = KVM_DEV_TYPE_ARM_VGIC_V3};
    if (ioctl(vm->vm_fd, KVM_CREATE_DEVICE, &gic) < 0)
        return vdev_err_set(err, "KVM_CREATE_DEVICE (vGICv3): %s (the host needs a GICv3)",
                            strerror(errno));
    vm->gic_fd = (int)gic.fd;
    uint64_t dist = ARM64_GICD_BASE, redist = ARM64_GICR_BASE;
    uint32_t nr_irqs = ARM64_GIC_NR_IRQS;
    if (dev_attr(vm->gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &dist) < 0 ||
        dev_attr(vm->gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &redist) < 0)
        return vdev_err_set(err, "vGICv3 addresses: %s", strerror(errno));
    if (dev_attr(vm->gic_fd, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs) < 0)
        return vdev_err_set(err, "vGICv3 NR_IRQS %u: %s", nr_irqs, strerror(errno));
    if (dev_attr(vm->gic_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL) < 0)
        return vdev_err_set(err, "vGICv3 CTRL_INIT (%u vCPUs): %s", ncpus, strerror(errno));
    struct kvm_create_device its = {.type = KVM_DEV_TYPE_ARM_VGIC_ITS};
    if (ioctl(vm->vm_fd, KVM_CREATE_DEVICE, &its) < 0)
        return vdev_err_set(err, "KVM_CREATE_DEVICE (vGIC ITS): %s", strerror(errno));
    vm->its_fd = (int)its.fd;
    uint64_t its_base = ARM64_GITS_BASE;
    if (dev_attr(vm->its_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, &its_base) < 0 ||
        dev_attr(vm->its_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL) < 0)
        return vdev_err_set(err, "vGIC ITS at 0x%llx: %s", (unsigned long long)its_base,
                            strerror(errno));
    pthread_mutex_lock(&vm->lock);
    int rc = commit_routes(vm);
    vm->gic_ready = rc == 0;
    pthread_mutex_unlock(&vm->lock);
    if (rc < 0)
        return vdev_err_set(err, "KVM_SET_GSI_ROUTING: %s", strerror(errno));
    return 0;
}

int kvm_vm_set_halt_poll(struct kvm_vm *vm, uint64_t ns)
{
    struct kvm_enable_cap cap = {.cap = KVM_CAP_HALT_POLL, .args = {ns}};
    return ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0 ? -errno : 0;
}

void kvm_vm_close(struct kvm_vm *vm)
{
    if (vm->its_fd >= 0)
        close(vm->its_fd);
    if (vm->gic_fd >= 0)
        close(vm->gic_fd);
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->kvm_fd >= 0)
        close(vm->kvm_fd);
    for (unsigned i = 0; i < vm->nram; i++)
        munmap(vm->ram_maps[i], vm->ram_sizes[i]);
    pthread_mutex_destroy(&vm->lock);
}

/* ---- memory (as vmm/x86/kvm_vm.c) ---- */

static int slot_set(struct kvm_vm *vm, unsigned slot, uint32_t flags, uint64_t gpa, uint64_t size,
                    void *host)
{
    struct kvm_userspace_memory_region r = {.slot = slot,
                                            .flags = flags,
                                            .guest_phys_addr = gpa,
                                            .memory_size = size,
                                            .userspace_addr = (uintptr_t)host};
    return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
}

static int kvm_map_memory(void *ctx, const struct vdev_region_info *r, bool map)
{
    struct kvm_vm *vm = ctx;
    int rc = -1;
    pthread_mutex_lock(&vm->lock);
    if (map) {
        for (unsigned i = 0; i < KVM_VM_MAX_SLOTS; i++) {
            if (vm->slots[i].used)
                continue;
            uint32_t flags = r->kind == VDEV_REGION_ROM ? KVM_MEM_READONLY : 0;
            if (slot_set(vm, i, flags, r->base, r->size, r->host) == 0) {
                vm->slots[i] = (struct kvm_vm_slot){true, flags, r->base, r->size, r->host};
                rc = 0;
            }
            break;
        }
    } else {
        for (unsigned i = 0; i < KVM_VM_MAX_SLOTS; i++) {
            struct kvm_vm_slot *s = &vm->slots[i];
            if (s->used && s->gpa == r->base && s->host == r->host && s->size == r->size) {
                slot_set(vm, i, 0, s->gpa, 0, NULL);
                s->used = false;
                rc = 0;
                break;
            }
        }
    }
    pthread_mutex_unlock(&vm->lock);
    return rc;
}

struct back_ctx {
    struct kvm_vm *vm;
    struct vdev_err *err;
    int rc;
};

static void back_region(const struct vdev_region_info *r, void *arg)
{
    struct back_ctx *b = arg;
    if (b->rc || (r->kind != VDEV_REGION_RAM && r->kind != VDEV_REGION_ROM) || r->host)
        return;
    if (b->vm->nram == 16) {
        b->rc = vdev_err_set(b->err, "too many RAM regions (at most 16)");
        return;
    }
    int fd = memfd_create(r->kind == VDEV_REGION_ROM ? "vdevkit-rom" : "vdevkit-ram", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)r->size) < 0) {
        b->rc = vdev_err_set(b->err, "guest memory of 0x%llx bytes: %s",
                             (unsigned long long)r->size, strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    void *p = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        b->rc = vdev_err_set(b->err, "mapping guest memory: %s", strerror(errno));
        return;
    }
    b->vm->ram_maps[b->vm->nram] = p;
    b->vm->ram_sizes[b->vm->nram++] = r->size;
    vdev_region_set_host(vdev_bus_find(vdev_machine_bus(b->vm->m), r->space, r->base), p);
}

int kvm_vm_back_memory(struct kvm_vm *vm, struct vdev_err *err)
{
    struct back_ctx b = {vm, err, 0};
    vdev_bus_foreach(vdev_machine_bus(vm->m), VDEV_SPACE_MEM, back_region, &b);
    if (b.rc)
        return -1;
    unsigned slots = 0;
    for (unsigned i = 0; i < KVM_VM_MAX_SLOTS; i++)
        slots += vm->slots[i].used;
    if (slots < vm->nram)
        return vdev_err_set(err, "KVM refused a memory slot for guest RAM");
    return 0;
}

/* ---- interrupts ---- */

/* Setting a routing table replaces KVM's default one, so it lists every SPI (routing GSI N
 * is irqchip pin N, INTID 32 + N) before the MSI routes. Called with the lock held. */
static int commit_routes(struct kvm_vm *vm)
{
    size_t max = ARM64_GIC_SPIS + KVM_VM_MAX_ROUTES;
    struct kvm_irq_routing *t = calloc(1, sizeof(*t) + max * sizeof(t->entries[0]));
    if (!t)
        return -1;
    for (uint32_t i = 0; i < ARM64_GIC_SPIS; i++) {
        struct kvm_irq_routing_entry *e = &t->entries[t->nr++];
        e->gsi = i;
        e->type = KVM_IRQ_ROUTING_IRQCHIP;
        e->u.irqchip.irqchip = 0;
        e->u.irqchip.pin = i;
    }
    for (unsigned i = 0; i < KVM_VM_MAX_ROUTES; i++) {
        const struct kvm_vm_msi_route *r = &vm->msi_routes[i];
        if (!r->used)
            continue;
        struct kvm_irq_routing_entry *e = &t->entries[t->nr++];
        e->gsi = r->gsi;
        e->type = KVM_IRQ_ROUTING_MSI;
        e->u.msi.address_lo = (uint32_t)r->msi.addr;
        e->u.msi.address_hi = (uint32_t)(r->msi.addr >> 32);
        e->u.msi.data = r->msi.data;
        if (r->msi.flags & VDEV_MSI_REQUESTER_ID) { /* the ITS's device id (msi-map 1:1) */
            e->flags = KVM_MSI_VALID_DEVID;
            e->u.msi.devid = r->msi.requester_id;
        }
    }
    int rc = ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, t);
    free(t);
    return rc;
}

static int kvm_set_irq_line(void *ctx, uint32_t gsi, bool level)
{
    struct kvm_vm *vm = ctx;
    if (gsi < ARM64_SPI_BASE || gsi >= ARM64_GIC_NR_IRQS)
        return -1;
    struct kvm_irq_level l = {.irq = arm64_kvm_irq_line(gsi), .level = level};
    return ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0 ? -1 : 0;
}

/* An MSI to the ITS: KVM wants the device id (KVM_MSI_VALID_DEVID), the PCI requester ID
 * (the DT's msi-map is the identity). An MSI without one (no PCI sender) goes without. */
static int kvm_signal_msi(void *ctx, const struct vdev_msi *msi)
{
    struct kvm_vm *vm = ctx;
    struct kvm_msi m = {.address_lo = (uint32_t)msi->addr,
                        .address_hi = (uint32_t)(msi->addr >> 32),
                        .data = msi->data};
    if (msi->flags & VDEV_MSI_REQUESTER_ID) {
        m.flags = KVM_MSI_VALID_DEVID;
        m.devid = msi->requester_id;
    }
    return ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &m) < 0 ? -1 : 0;
}

static int kvm_ioeventfd(void *ctx, int fd, enum vdev_space space, uint64_t addr, unsigned len,
                         bool match, uint64_t data, bool assign)
{
    struct kvm_vm *vm = ctx;
    if (space == VDEV_SPACE_IO) { /* PCI I/O is reached through the memory window */
        space = VDEV_SPACE_MEM;
        addr += ARM64_PCI_IO_CPU_BASE;
    }
    struct kvm_ioeventfd e = {.datamatch = data, .addr = addr, .len = len, .fd = fd};
    if (match)
        e.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
    if (!assign)
        e.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
    return ioctl(vm->vm_fd, KVM_IOEVENTFD, &e) < 0 ? -1 : 0;
}

/* Before CTRL_INIT KVM_IRQFD fails with EAGAIN: refuse, and the core delivers through its own
 * thread (vmm_prepare creates the vGIC before the machine is built, so this is a fallback). */
static int kvm_irqfd_line(void *ctx, int fd, int resample_fd, uint32_t gsi, bool assign)
{
    struct kvm_vm *vm = ctx;
    if (!vm->gic_ready || gsi < ARM64_SPI_BASE || gsi >= ARM64_GIC_NR_IRQS)
        return -1;
    struct kvm_irqfd f = {.fd = (uint32_t)fd, .gsi = arm64_kvm_spi_gsi(gsi)};
    if (!assign)
        f.flags = KVM_IRQFD_FLAG_DEASSIGN;
    else if (resample_fd >= 0) {
        f.flags = KVM_IRQFD_FLAG_RESAMPLE;
        f.resamplefd = (uint32_t)resample_fd;
    }
    return ioctl(vm->vm_fd, KVM_IRQFD, &f) < 0 ? -1 : 0;
}

static int kvm_irqfd_msi(void *ctx, int fd, const struct vdev_msi *msi, bool assign)
{
    struct kvm_vm *vm = ctx;
    if (!vm->gic_ready)
        return -1;
    int rc = -1;
    pthread_mutex_lock(&vm->lock);
    struct kvm_vm_msi_route *r = NULL, *free_slot = NULL;
    for (unsigned i = 0; i < KVM_VM_MAX_ROUTES; i++) {
        if (vm->msi_routes[i].used && vm->msi_routes[i].fd == fd)
            r = &vm->msi_routes[i];
        else if (!vm->msi_routes[i].used && !free_slot)
            free_slot = &vm->msi_routes[i];
    }
    if (!assign) {
        if (r) {
            struct kvm_irqfd f = {
                .fd = (uint32_t)fd, .gsi = r->gsi, .flags = KVM_IRQFD_FLAG_DEASSIGN};
            ioctl(vm->vm_fd, KVM_IRQFD, &f);
            r->used = false;
            rc = commit_routes(vm);
        }
    } else if (r) {
        r->msi = *msi;
        rc = commit_routes(vm);
    } else if (free_slot) {
        r = free_slot;
        *r = (struct kvm_vm_msi_route){true, fd,
                                       KVM_VM_FIRST_MSI_GSI + (uint32_t)(r - vm->msi_routes), *msi};
        struct kvm_irqfd f = {.fd = (uint32_t)fd, .gsi = r->gsi};
        if (commit_routes(vm) == 0 && ioctl(vm->vm_fd, KVM_IRQFD, &f) == 0)
            rc = 0;
        else
            r->used = false;
    }
    pthread_mutex_unlock(&vm->lock);
    return rc < 0 ? -1 : 0;
}

static void kvm_log(void *ctx, enum vdev_log_level level, const char *who, const char *msg)
{
    static const char *const names[] = {"fatal", "internal", "error",  "warning",
                                        "info",  "debug",    "verbose"};
    fprintf(stderr, "%s: %s: %s\n", who, (unsigned)level < 7 ? names[level] : "?", msg);
}

static void kvm_request_stop(void *ctx, int status)
{
    struct kvm_vm *vm = ctx;
    if (vm->on_stop)
        vm->on_stop(vm->on_stop_arg, status);
}

const struct vdev_embedder_ops arm64_kvm_embedder_ops = {
    .size = sizeof(struct vdev_embedder_ops),
    .set_irq_line = kvm_set_irq_line,
    .signal_msi = kvm_signal_msi,
    .ioeventfd = kvm_ioeventfd,
    .irqfd_line = kvm_irqfd_line,
    .irqfd_msi = kvm_irqfd_msi,
    .map_memory = kvm_map_memory,
    .log = kvm_log,
    .request_stop = kvm_request_stop,
};
