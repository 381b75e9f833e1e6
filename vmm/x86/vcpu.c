#include "vcpu.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm.h"

#define MAX_CPUID 256

static int setup_cpuid(struct vcpu *v, struct kvm_vm *vm, unsigned count, struct vdev_err *err)
{
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + MAX_CPUID * sizeof(c->entries[0]));
    if (!c)
        return vdev_err_set(err, "out of memory");
    c->nent = MAX_CPUID;
    if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
        free(c);
        return vdev_err_set(err, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
    }
    for (unsigned i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        switch (e->function) {
        case 1:
            /* initial APIC id, logical CPU count, "running under a hypervisor" */
            e->ebx = (e->ebx & 0x0000ffff) | (v->index << 24) | ((count & 0xff) << 16);
            e->ecx |= 1u << 31;
            if (count > 1)
                e->edx |= 1u << 28; /* HTT: the count in EBX is valid */
            break;
        case 0xb:
        case 0x1f:
            e->edx = v->index; /* x2APIC id */
            break;
        default:
            break;
        }
    }
    int rc = ioctl(v->fd, KVM_SET_CPUID2, c);
    free(c);
    if (rc < 0)
        return vdev_err_set(err, "KVM_SET_CPUID2: %s", strerror(errno));
    return 0;
}

static int setup_msrs(struct vcpu *v, struct vdev_err *err)
{
    static const struct {
        uint32_t index;
        uint64_t value;
    } boot[] = {
        {0x1a0, 1},              /* IA32_MISC_ENABLE: fast strings */
        {0x2ff, (1u << 11) | 6}, /* MTRRdefType: MTRRs on, write-back by default */
        {0x174, 0},
        {0x175, 0},
        {0x176, 0}, /* SYSENTER */
        {0xc0000081, 0},
        {0xc0000082, 0},
        {0xc0000083, 0},
        {0xc0000084, 0}, /* STAR.. */
        {0xc0000102, 0}, /* KERNEL_GS_BASE */
        {0x10, 0},       /* TSC */
    };
    size_t n = sizeof(boot) / sizeof(boot[0]);
    struct kvm_msrs *msrs = calloc(1, sizeof(*msrs) + n * sizeof(msrs->entries[0]));
    if (!msrs)
        return vdev_err_set(err, "out of memory");
    msrs->nmsrs = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        msrs->entries[i].index = boot[i].index;
        msrs->entries[i].data = boot[i].value;
    }
    int set = ioctl(v->fd, KVM_SET_MSRS, msrs);
    free(msrs);
    if (set != (int)n)
        return vdev_err_set(err, "KVM_SET_MSRS set %d of %zu boot MSRs", set, n);
    return 0;
}

/* LINT0 as ExtINT (the legacy PIC) and LINT1 as NMI, as a PC's firmware leaves them. */
static int setup_lint(struct vcpu *v, struct vdev_err *err)
{
    struct kvm_lapic_state lapic;
    if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0)
        return vdev_err_set(err, "KVM_GET_LAPIC: %s", strerror(errno));
    uint32_t lint0, lint1;
    memcpy(&lint0, lapic.regs + 0x350, 4);
    memcpy(&lint1, lapic.regs + 0x360, 4);
    lint0 = (lint0 & ~0x700u) | 0x700u;
    lint1 = (lint1 & ~0x700u) | 0x400u;
    memcpy(lapic.regs + 0x350, &lint0, 4);
    memcpy(lapic.regs + 0x360, &lint1, 4);
    if (ioctl(v->fd, KVM_SET_LAPIC, &lapic) < 0)
        return vdev_err_set(err, "KVM_SET_LAPIC: %s", strerror(errno));
    return 0;
}

int vcpu_create(struct vcpu *v, struct vmm *vmm, unsigned index, unsigned count,
                struct vdev_err *err)
{
    if (vcpu_open(v, vmm, index, err))
        return -1;
    if (setup_cpuid(v, &vmm->vm, count, err) || setup_msrs(v, err) || setup_lint(v, err))
        return -1;
    struct kvm_fpu fpu = {.fcw = 0x37f, .mxcsr = 0x1f80};
    if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
        return vdev_err_set(err, "KVM_SET_FPU: %s", strerror(errno));
    return 0;
}

int vcpu_set_entry(struct vcpu *v, const struct x86_entry *e, bool runnable, struct vdev_err *err)
{
    struct kvm_sregs sregs;
    if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
        return vdev_err_set(err, "KVM_GET_SREGS: %s", strerror(errno));
    x86_boot_long_mode_sregs(&sregs);
    if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
        return vdev_err_set(err, "KVM_SET_SREGS: %s", strerror(errno));
    struct kvm_regs regs = {
        .rip = e->rip, .rsi = e->rsi, .rdi = e->rdi, .rsp = e->rsp, .rflags = 0x2};
    if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
        return vdev_err_set(err, "KVM_SET_REGS: %s", strerror(errno));
    if (runnable) {
        struct kvm_mp_state mp = {.mp_state = KVM_MP_STATE_RUNNABLE};
        if (ioctl(v->fd, KVM_SET_MP_STATE, &mp) < 0)
            return vdev_err_set(err, "KVM_SET_MP_STATE: %s", strerror(errno));
    }
    return 0;
}

static void dispatch_io(struct vcpu *v)
{
    struct kvm_run *r = v->run;
    uint8_t *data = (uint8_t *)r + r->io.data_offset;
    bool out = r->io.direction == KVM_EXIT_IO_OUT;
    for (uint32_t i = 0; i < r->io.count; i++, data += r->io.size) {
        uint64_t val = 0;
        if (out)
            memcpy(&val, data, r->io.size);
        vdev_machine_access(v->vmm->m, VDEV_SPACE_IO, r->io.port, r->io.size, out, &val);
        if (!out)
            memcpy(data, &val, r->io.size);
    }
}

void vcpu_arch_mmio(struct vdev_machine *m, uint64_t addr, unsigned len, bool is_write,
                    uint64_t *value)
{
    vdev_machine_access(m, VDEV_SPACE_MEM, addr, len, is_write, value);
}

void vcpu_dump(struct vcpu *v, FILE *out)
{
    struct kvm_regs r;
    struct kvm_sregs s;
    if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s) < 0) {
        fprintf(out, "vcpu %u: registers unavailable: %s\n", v->index, strerror(errno));
        return;
    }
    fprintf(out,
            "vcpu %u: rip %016llx rsp %016llx rflags %08llx\n"
            "  rax %016llx rbx %016llx rcx %016llx rdx %016llx\n"
            "  rsi %016llx rdi %016llx rbp %016llx\n"
            "  cs %04x (base %llx, l %u) ss %04x cr0 %llx cr2 %llx cr3 %llx cr4 %llx efer %llx\n",
            v->index, r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp,
            s.cs.selector, s.cs.base, s.cs.l, s.ss.selector, s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
}

/* Port I/O, HLT, a triple fault, reset and power-off. */
enum vcpu_exit vcpu_arch_exit(struct vcpu *v)
{
    struct kvm_run *r = v->run;
    switch (r->exit_reason) {
    case KVM_EXIT_IO:
        dispatch_io(v);
        return VCPU_EXIT_RUN;
    case KVM_EXIT_HLT:
        return VCPU_EXIT_RUN;
    case KVM_EXIT_SHUTDOWN:
        vcpu_crash(v, "triple fault (KVM_EXIT_SHUTDOWN)");
        return VCPU_EXIT_STOP;
    case KVM_EXIT_SYSTEM_EVENT:
        if (r->system_event.type == KVM_SYSTEM_EVENT_RESET)
            vmm_stop(v->vmm, VMM_EXIT_REBOOT, "guest reset");
        else if (r->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
            vmm_stop(v->vmm, VMM_EXIT_POWEROFF, "guest shutdown");
        else
            vcpu_crash(v, "system event %u", r->system_event.type);
        return VCPU_EXIT_STOP;
    default:
        return VCPU_EXIT_UNKNOWN;
    }
}

const char *vcpu_arch_run_error(int err)
{
    (void)err;
    return NULL;
}
