#include "arm64_vcpu.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arm64_platform.h"
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

int vcpu_preferred_init(struct kvm_vm *vm, struct kvm_vcpu_init *init, struct vdev_err *err)
{
    memset(init, 0, sizeof(*init));
    if (ioctl(vm->vm_fd, KVM_ARM_PREFERRED_TARGET, init) < 0)
        return vdev_err_set(err, "KVM_ARM_PREFERRED_TARGET: %s", strerror(errno));
    init->features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
    return 0;
}

int vcpu_create(struct vcpu *v, struct vmm *vmm, unsigned index,
                const struct kvm_vcpu_init *preferred, struct vdev_err *err)
{
    if (vcpu_open(v, vmm, index, err))
        return -1;
    struct kvm_vcpu_init init = *preferred;
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

void vcpu_arch_mmio(struct vdev_machine *m, uint64_t addr, unsigned len, bool is_write,
                    uint64_t *value)
{
    arm64_mmio_access(m, addr, len, is_write, value);
}

/* PSCI SYSTEM_OFF and SYSTEM_RESET, and MMIO that KVM cannot decode. */
enum vcpu_exit vcpu_arch_exit(struct vcpu *v)
{
    struct kvm_run *r = v->run;
    switch (r->exit_reason) {
    case KVM_EXIT_SYSTEM_EVENT:
        if (r->system_event.type == KVM_SYSTEM_EVENT_RESET)
            vmm_stop(v->vmm, VMM_EXIT_REBOOT, "guest reset (PSCI SYSTEM_RESET)");
        else if (r->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
            vmm_stop(v->vmm, VMM_EXIT_POWEROFF, "guest shutdown (PSCI SYSTEM_OFF)");
        else
            vcpu_crash(v, "system event %u (a guest crash)", r->system_event.type);
        return VCPU_EXIT_STOP;
    case KVM_EXIT_ARM_NISV:
        vcpu_crash(v,
                   "MMIO access at 0x%llx that KVM cannot decode (no valid ISV, ESR ISS 0x%llx: a "
                   "load/store pair or writeback form; device registers need plain loads and "
                   "stores)",
                   (unsigned long long)r->arm_nisv.fault_ipa,
                   (unsigned long long)r->arm_nisv.esr_iss);
        return VCPU_EXIT_STOP;
    default:
        return VCPU_EXIT_UNKNOWN;
    }
}

/* ENOSYS: a data abort without ISV, KVM_CAP_ARM_NISV_TO_USER off. */
const char *vcpu_arch_run_error(int err)
{
    if (err != ENOSYS)
        return NULL;
    return "MMIO access KVM cannot decode (KVM_RUN: ENOSYS; no valid ISV: a load/store pair or "
           "writeback form on device memory)";
}
