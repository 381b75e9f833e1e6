#include "kvm_common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static int commit_routes(struct kvm_vm *vm);

static int check_caps(struct kvm_vm *vm, const struct kvm_vm_cap *caps, struct vdev_err *err)
{
    for (; caps->name; caps++)
        if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, caps->cap) <= 0)
            return vdev_err_set(err, "KVM lacks a capability vdevkit needs: %s", caps->name);
    return 0;
}

int kvm_vm_open(struct kvm_vm *vm, struct vdev_err *err)
{
    static const struct kvm_vm_cap needed[] = {{KVM_CAP_IRQCHIP, "irqchip"},
                                               {KVM_CAP_IRQ_ROUTING, "irq routing"},
                                               {KVM_CAP_IRQFD, "irqfd"},
                                               {KVM_CAP_IOEVENTFD, "ioeventfd"},
                                               {KVM_CAP_SIGNAL_MSI, "signal msi"},
                                               {KVM_CAP_USER_MEMORY, "user memory"},
                                               {KVM_CAP_IMMEDIATE_EXIT, "immediate exit"},
                                               {0, NULL}};
    memset(vm, 0, sizeof(*vm));
    vm->vm_fd = -1;
    pthread_mutex_init(&vm->lock, NULL);
    vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (vm->kvm_fd < 0)
        return vdev_err_set(err, "cannot open /dev/kvm: %s (is KVM available on this host?)",
                            strerror(errno));
    int api = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION)
        return vdev_err_set(err, "/dev/kvm speaks API %d, vdevkit needs %d", api, KVM_API_VERSION);
    if (check_caps(vm, needed, err) || check_caps(vm, kvm_arch_caps, err))
        return -1;
    vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    /* type 0: on arm64 the default 40-bit IPA space, which ARM64_PCI_MMIO64 ends at. */
    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0)
        return vdev_err_set(err, "KVM_CREATE_VM: %s", strerror(errno));
    return kvm_arch_vm_init(vm, err);
}

int kvm_vm_set_halt_poll(struct kvm_vm *vm, uint64_t ns)
{
    struct kvm_enable_cap cap = {.cap = KVM_CAP_HALT_POLL, .args = {ns}};
    return ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0 ? -errno : 0;
}

int kvm_vm_create_device(struct kvm_vm *vm, uint32_t type)
{
    struct kvm_create_device d = {.type = type};
    if (vm->ndevs == KVM_VM_MAX_DEVICES) {
        errno = ENOSPC;
        return -1;
    }
    if (ioctl(vm->vm_fd, KVM_CREATE_DEVICE, &d) < 0)
        return -1;
    vm->dev_fds[vm->ndevs++] = (int)d.fd;
    return (int)d.fd;
}

void kvm_vm_close(struct kvm_vm *vm)
{
    while (vm->ndevs > 0)
        close(vm->dev_fds[--vm->ndevs]);
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->kvm_fd >= 0)
        close(vm->kvm_fd);
    for (unsigned i = 0; i < vm->nram; i++)
        munmap(vm->ram_maps[i], vm->ram_sizes[i]);
    pthread_mutex_destroy(&vm->lock);
}

/* ---- memory ---- */

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

/* Maps a host-backed region (RAM, ROM, device memory); map=false removes its slot. */
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
            /* by address too: one shmem region attached twice has one host mapping */
            if (s->used && s->gpa == r->base && s->host == r->host && s->size == r->size) {
                slot_set(vm, i, 0, s->gpa, 0, NULL); /* size 0 deletes the slot */
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

#define HUGE_2M (2ull << 20)

/* Guest RAM is anonymous memory, 2 MiB aligned and asking for transparent huge pages (as
 * QEMU's default backend does): KVM then maps the guest's large pages with large pages of
 * its own, which saves most of its page faults (EPT, or shadow paging when nested, where
 * they were a third of a networking guest's exits with 4 KiB memfd pages; shmem gets no
 * THP unless the admin turns on shmem_enabled). Not inherited by a child process: DMA-pinned
 * pages must stay the VMM's, never copy-on-write. */
static void *map_guest_ram(uint64_t size)
{
    uint64_t align = size >= HUGE_2M ? HUGE_2M : 0;
    uint8_t *p = mmap(NULL, size + align, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (align) { /* keep the 2 MiB-aligned part: THP needs aligned virtual addresses */
        uint64_t head = (HUGE_2M - ((uintptr_t)p & (HUGE_2M - 1))) & (HUGE_2M - 1);
        if (head)
            munmap(p, head);
        if (align - head)
            munmap(p + head + size, align - head);
        p += head;
        madvise(p, size, MADV_HUGEPAGE);
    }
    madvise(p, size, MADV_DONTFORK);
    return p;
}

static void back_region(const struct vdev_region_info *r, void *arg)
{
    struct back_ctx *b = arg;
    if (b->rc || (r->kind != VDEV_REGION_RAM && r->kind != VDEV_REGION_ROM) || r->host)
        return;
    if (b->vm->nram == 16) {
        b->rc = vdev_err_set(b->err, "too many RAM regions (at most 16)");
        return;
    }
    void *p = map_guest_ram(r->size);
    if (!p) {
        b->rc = vdev_err_set(b->err, "guest memory of 0x%llx bytes: %s",
                             (unsigned long long)r->size, strerror(errno));
        return;
    }
    madvise(p, r->size, MADV_MERGEABLE); /* idle guests' identical pages may be shared (KSM) */
    b->vm->ram_maps[b->vm->nram] = p;
    b->vm->ram_sizes[b->vm->nram++] = r->size;
    /* set_host reports the mapping back through kvm_map_memory */
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

/* Setting a routing table replaces KVM's default one, so it lists the architecture's line
 * routes before the MSI routes. Called with the lock held. */
static int commit_routes(struct kvm_vm *vm)
{
    size_t max = KVM_VM_MAX_LINE_ROUTES + KVM_VM_MAX_ROUTES;
    struct kvm_irq_routing *t = calloc(1, sizeof(*t) + max * sizeof(t->entries[0]));
    if (!t)
        return -1;
    t->nr = kvm_arch_line_routes(t->entries);
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
        if (kvm_arch_msi_devid(&r->msi, &e->u.msi.devid))
            e->flags = KVM_MSI_VALID_DEVID;
    }
    int rc = ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, t);
    free(t);
    return rc;
}

int kvm_vm_irqchip_ready(struct kvm_vm *vm, struct vdev_err *err)
{
    pthread_mutex_lock(&vm->lock);
    int rc = commit_routes(vm);
    vm->irqfds_ready = rc == 0;
    pthread_mutex_unlock(&vm->lock);
    if (rc < 0)
        return vdev_err_set(err, "KVM_SET_GSI_ROUTING: %s", strerror(errno));
    return 0;
}

static int kvm_set_irq_line(void *ctx, uint32_t gsi, bool level)
{
    struct kvm_vm *vm = ctx;
    struct kvm_irq_level l = {.level = level};
    if (kvm_arch_irq_line(gsi, &l.irq) < 0)
        return -1;
    return ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0 ? -1 : 0;
}

static int kvm_signal_msi(void *ctx, const struct vdev_msi *msi)
{
    struct kvm_vm *vm = ctx;
    struct kvm_msi m = {.address_lo = (uint32_t)msi->addr,
                        .address_hi = (uint32_t)(msi->addr >> 32),
                        .data = msi->data};
    if (kvm_arch_msi_devid(msi, &m.devid))
        m.flags = KVM_MSI_VALID_DEVID;
    return ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &m) < 0 ? -1 : 0;
}

static int kvm_ioeventfd(void *ctx, int fd, enum vdev_space space, uint64_t addr, unsigned len,
                         bool match, uint64_t data, bool assign)
{
    struct kvm_vm *vm = ctx;
    struct kvm_ioeventfd e = {.datamatch = data, .len = len, .fd = fd};
    if (match)
        e.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
    if (space == VDEV_SPACE_IO && kvm_arch_port_io(&addr))
        e.flags |= KVM_IOEVENTFD_FLAG_PIO;
    if (!assign)
        e.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
    e.addr = addr;
    return ioctl(vm->vm_fd, KVM_IOEVENTFD, &e) < 0 ? -1 : 0;
}

/* Before the irqchip is ready: refuse, and the core delivers through its own thread. */
static int kvm_irqfd_line(void *ctx, int fd, int resample_fd, uint32_t gsi, bool assign)
{
    struct kvm_vm *vm = ctx;
    struct kvm_irqfd f = {.fd = (uint32_t)fd};
    if (!vm->irqfds_ready || kvm_arch_irqfd_gsi(gsi, &f.gsi) < 0)
        return -1;
    if (!assign)
        f.flags = KVM_IRQFD_FLAG_DEASSIGN;
    else if (resample_fd >= 0) {
        f.flags = KVM_IRQFD_FLAG_RESAMPLE;
        f.resamplefd = (uint32_t)resample_fd;
    }
    return ioctl(vm->vm_fd, KVM_IRQFD, &f) < 0 ? -1 : 0;
}

/* An MSI irqfd owns a GSI with an MSI route; reprogramming updates the route in place. */
static int kvm_irqfd_msi(void *ctx, int fd, const struct vdev_msi *msi, bool assign)
{
    struct kvm_vm *vm = ctx;
    if (!vm->irqfds_ready)
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
        *r = (struct kvm_vm_msi_route){true, fd, vm->first_msi_gsi + (uint32_t)(r - vm->msi_routes),
                                       *msi};
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
    (void)ctx;
    fprintf(stderr, "%s: %s: %s\n", who, (unsigned)level < 7 ? names[level] : "?", msg);
}

static void kvm_request_stop(void *ctx, int status)
{
    struct kvm_vm *vm = ctx;
    if (vm->on_stop)
        vm->on_stop(vm->on_stop_arg, status);
}

/* A passed device's VFIO group joins the KVM VFIO device (created at the first, closed with
 * the VM), which lets KVM honour the guest's cache control for non-coherent DMA. */
static int kvm_vfio_group(void *ctx, int group_fd, bool add)
{
    struct kvm_vm *vm = ctx;
    pthread_mutex_lock(&vm->lock);
    if (!vm->kvm_vfio_fd) {
        int fd = kvm_vm_create_device(vm, KVM_DEV_TYPE_VFIO);
        vm->kvm_vfio_fd = fd >= 0 ? fd + 1 : 0;
    }
    int rc = -1;
    if (vm->kvm_vfio_fd) {
        int32_t fd = group_fd;
        struct kvm_device_attr a = {.group = KVM_DEV_VFIO_GROUP,
                                    .attr = add ? KVM_DEV_VFIO_GROUP_ADD : KVM_DEV_VFIO_GROUP_DEL,
                                    .addr = (uint64_t)(uintptr_t)&fd};
        rc = ioctl(vm->kvm_vfio_fd - 1, KVM_SET_DEVICE_ATTR, &a) ? -1 : 0;
    }
    pthread_mutex_unlock(&vm->lock);
    return rc;
}

const struct vdev_embedder_ops kvm_vm_embedder_ops = {
    .size = sizeof(struct vdev_embedder_ops),
    .set_irq_line = kvm_set_irq_line,
    .signal_msi = kvm_signal_msi,
    .ioeventfd = kvm_ioeventfd,
    .irqfd_line = kvm_irqfd_line,
    .irqfd_msi = kvm_irqfd_msi,
    .map_memory = kvm_map_memory,
    .log = kvm_log,
    .request_stop = kvm_request_stop,
    .vfio_group = kvm_vfio_group,
};
