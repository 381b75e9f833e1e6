#include "vcpu.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

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

int vcpu_create(struct vcpu *v, struct vmm *vmm, struct kvm_vm *vm, unsigned index, unsigned count,
                struct vdev_err *err)
{
    v->vmm = vmm;
    v->index = index;
    v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
    if (v->fd < 0)
        return vdev_err_set(err, "KVM_CREATE_VCPU %u: %s", index, strerror(errno));
    v->run = mmap(NULL, (size_t)vm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED) {
        v->run = NULL;
        return vdev_err_set(err, "mapping vCPU %u: %s", index, strerror(errno));
    }
    if (setup_cpuid(v, vm, count, err) || setup_msrs(v, err) || setup_lint(v, err))
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

static void dispatch_mmio(struct vcpu *v)
{
    struct kvm_run *r = v->run;
    uint64_t val = 0;
    unsigned len = r->mmio.len <= 8 ? r->mmio.len : 8;
    if (r->mmio.is_write)
        memcpy(&val, r->mmio.data, len);
    vdev_machine_access(v->vmm->m, VDEV_SPACE_MEM, r->mmio.phys_addr, len, r->mmio.is_write, &val);
    if (!r->mmio.is_write)
        memcpy(r->mmio.data, &val, len);
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

__attribute__((format(printf, 2, 3))) static void crash(struct vcpu *v, const char *fmt, ...)
{
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    fprintf(stderr, "vdevkit run: vcpu %u: %s\n", v->index, why);
    vcpu_dump(v, stderr);
    vmm_stop(v->vmm, VMM_EXIT_CRASH, why);
}

/* Returns false when the vCPU should stop. */
static bool handle_exit(struct vcpu *v)
{
    struct kvm_run *r = v->run;
    switch (r->exit_reason) {
    case KVM_EXIT_IO:
        dispatch_io(v);
        return true;
    case KVM_EXIT_MMIO:
        dispatch_mmio(v);
        return true;
    case KVM_EXIT_HLT:
    case KVM_EXIT_INTR:
        return true;
    case KVM_EXIT_SHUTDOWN:
        crash(v, "triple fault (KVM_EXIT_SHUTDOWN)");
        return false;
    case KVM_EXIT_SYSTEM_EVENT:
        if (r->system_event.type == KVM_SYSTEM_EVENT_RESET)
            vmm_stop(v->vmm, VMM_EXIT_REBOOT, "guest reset");
        else if (r->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
            vmm_stop(v->vmm, VMM_EXIT_POWEROFF, "guest shutdown");
        else
            crash(v, "system event %u", r->system_event.type);
        return false;
    case KVM_EXIT_FAIL_ENTRY:
        crash(v, "VM entry failed, hardware reason 0x%llx",
              (unsigned long long)r->fail_entry.hardware_entry_failure_reason);
        return false;
    case KVM_EXIT_INTERNAL_ERROR:
        crash(v, "KVM internal error, suberror %u", r->internal.suberror);
        return false;
    default:
        crash(v, "unexpected exit reason %u", r->exit_reason);
        return false;
    }
}

static void *vcpu_main(void *arg)
{
    struct vcpu *v = arg;
    if (v->runmask) {
        cpu_set_t set;
        CPU_ZERO(&set);
        for (unsigned i = 0; i < 64; i++)
            if (v->runmask & (1ull << i))
                CPU_SET(i, &set);
        pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    }
    sigset_t kick;
    sigemptyset(&kick);
    sigaddset(&kick, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
    while (!atomic_load(&v->vmm->stopping)) {
        if (ioctl(v->fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                v->run->immediate_exit = 0;
                continue;
            }
            crash(v, "KVM_RUN failed: %s", strerror(errno));
            break;
        }
        if (!handle_exit(v))
            break;
    }
    return NULL;
}

static void kick_handler(int sig)
{
    (void)sig; /* only interrupts KVM_RUN */
}

int vcpu_start(struct vcpu *v, struct vdev_err *err)
{
    static bool installed;
    if (!installed) {
        struct sigaction sa = {.sa_handler = kick_handler}; /* no SA_RESTART: KVM_RUN returns */
        sigaction(SIGUSR1, &sa, NULL);
        installed = true;
    }
    int rc = pthread_create(&v->thread, NULL, vcpu_main, v);
    if (rc)
        return vdev_err_set(err, "vcpu thread: %s", strerror(rc));
    v->started = true;
    return 0;
}

void vcpu_kick(struct vcpu *v)
{
    if (!v->started)
        return;
    v->run->immediate_exit = 1;
    pthread_kill(v->thread, SIGUSR1);
}

void vcpu_destroy(struct vcpu *v)
{
    if (v->started)
        pthread_join(v->thread, NULL);
    v->started = false;
    if (v->run)
        munmap(v->run, (size_t)v->vmm->vm.vcpu_mmap_size);
    if (v->fd >= 0)
        close(v->fd);
}
