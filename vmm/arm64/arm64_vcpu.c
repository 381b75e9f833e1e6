#include "arm64_vcpu.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm.h"

#define CORE_REG(field)                                                                            \
    (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE |                                         \
     (offsetof(struct kvm_regs, field) / sizeof(uint32_t)))
#define PSTATE_EL1H_DAIF 0x3c5ull /* EL1h, D, A, I, F masked */

static int get_reg(struct vcpu *v, uint64_t id, uint64_t *value)
{
    struct kvm_one_reg r = {.id = id, .addr = (uintptr_t)value};
    return ioctl(v->fd, KVM_GET_ONE_REG, &r);
}

static int set_reg(struct vcpu *v, uint64_t id, uint64_t value)
{
    struct kvm_one_reg r = {.id = id, .addr = (uintptr_t)&value};
    return ioctl(v->fd, KVM_SET_ONE_REG, &r);
}

int vcpu_create(struct vcpu *v, struct vmm *vmm, struct kvm_vm *vm, unsigned index,
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
    struct kvm_vcpu_init init = vm->vcpu_init;
    if (index > 0) /* started by the guest's PSCI CPU_ON */
        init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
    if (ioctl(v->fd, KVM_ARM_VCPU_INIT, &init) < 0)
        return vdev_err_set(err, "KVM_ARM_VCPU_INIT %u (target %u, PSCI 0.2): %s", index,
                            init.target, strerror(errno));
    return 0;
}

int vcpu_set_entry(struct vcpu *v, uint64_t pc, uint64_t x0, struct vdev_err *err)
{
    if (set_reg(v, CORE_REG(regs.pstate), PSTATE_EL1H_DAIF) < 0 ||
        set_reg(v, CORE_REG(regs.pc), pc) < 0 || set_reg(v, CORE_REG(regs.regs[0]), x0) < 0 ||
        set_reg(v, CORE_REG(regs.regs[1]), 0) < 0 || set_reg(v, CORE_REG(regs.regs[2]), 0) < 0 ||
        set_reg(v, CORE_REG(regs.regs[3]), 0) < 0)
        return vdev_err_set(err, "vcpu %u: KVM_SET_ONE_REG: %s", v->index, strerror(errno));
    return 0;
}

void vcpu_dump(struct vcpu *v, FILE *out)
{
    uint64_t pc, sp, pstate, x[31];
    if (get_reg(v, CORE_REG(regs.pc), &pc) < 0 || get_reg(v, CORE_REG(regs.sp), &sp) < 0 ||
        get_reg(v, CORE_REG(regs.pstate), &pstate) < 0) {
        fprintf(out, "vcpu %u: registers unavailable: %s\n", v->index, strerror(errno));
        return;
    }
    uint64_t sp_el1 = 0, elr_el1 = 0, spsr = 0;
    get_reg(v, CORE_REG(sp_el1), &sp_el1);
    get_reg(v, CORE_REG(elr_el1), &elr_el1);
    get_reg(v, CORE_REG(spsr[0]), &spsr);
    fprintf(out, "vcpu %u: pc %016llx pstate %08llx sp_el0 %016llx sp_el1 %016llx\n", v->index,
            (unsigned long long)pc, (unsigned long long)pstate, (unsigned long long)sp,
            (unsigned long long)sp_el1);
    fprintf(out, "  elr_el1 %016llx spsr_el1 %08llx\n", (unsigned long long)elr_el1,
            (unsigned long long)spsr);
    for (unsigned i = 0; i < 31; i++) {
        if (get_reg(v, CORE_REG(regs.regs[i]), &x[i]) < 0)
            x[i] = 0;
        fprintf(out, "%sx%-2u %016llx", i % 4 == 0 ? "  " : " ", i, (unsigned long long)x[i]);
        if (i % 4 == 3 || i == 30)
            fputc('\n', out);
    }
}

__attribute__((format(printf, 2, 3))) static void crash(struct vcpu *v, const char *fmt, ...)
{
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    fprintf(stderr, "vdevkit run: vcpu %u: %s\n", v->index, why);
    vcpu_dump(v, stderr);
    vmm_stop(v->vmm, VMM_EXIT_CRASH, why);
}

static void dispatch_mmio(struct vcpu *v)
{
    struct kvm_run *r = v->run;
    uint64_t val = 0;
    unsigned len = r->mmio.len <= 8 ? r->mmio.len : 8;
    if (r->mmio.is_write)
        memcpy(&val, r->mmio.data, len);
    arm64_mmio_access(v->vmm->m, r->mmio.phys_addr, len, r->mmio.is_write, &val);
    if (!r->mmio.is_write)
        memcpy(r->mmio.data, &val, len);
}

/* Returns false when the vCPU should stop. */
static bool handle_exit(struct vcpu *v)
{
    struct kvm_run *r = v->run;
    switch (r->exit_reason) {
    case KVM_EXIT_MMIO:
        dispatch_mmio(v);
        return true;
    case KVM_EXIT_INTR:
        return true;
    case KVM_EXIT_SYSTEM_EVENT: /* PSCI SYSTEM_OFF, SYSTEM_RESET */
        if (r->system_event.type == KVM_SYSTEM_EVENT_RESET)
            vmm_stop(v->vmm, VMM_EXIT_REBOOT, "guest reset (PSCI SYSTEM_RESET)");
        else if (r->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
            vmm_stop(v->vmm, VMM_EXIT_POWEROFF, "guest shutdown (PSCI SYSTEM_OFF)");
        else
            crash(v, "system event %u (a guest crash)", r->system_event.type);
        return false;
    case KVM_EXIT_ARM_NISV:
        crash(v,
              "MMIO access at 0x%llx that KVM cannot decode (no valid ISV, ESR ISS 0x%llx: a "
              "load/store pair or writeback form; device registers need plain loads and "
              "stores)",
              (unsigned long long)r->arm_nisv.fault_ipa, (unsigned long long)r->arm_nisv.esr_iss);
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
            if (errno == ENOSYS) /* a data abort without ISV, KVM_CAP_ARM_NISV_TO_USER off */
                crash(v, "MMIO access KVM cannot decode (KVM_RUN: ENOSYS; no valid ISV: a "
                         "load/store pair or writeback form on device memory)");
            else
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
    (void)sig;
}

int vcpu_start(struct vcpu *v, struct vdev_err *err)
{
    static bool installed;
    if (!installed) {
        struct sigaction sa = {.sa_handler = kick_handler};
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
