#include "vcpu_common.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm.h"

int vcpu_open(struct vcpu *v, struct vmm *vmm, unsigned index, struct vdev_err *err)
{
    const struct vdev_config *cfg = vdev_machine_config(vmm->m);
    v->vmm = vmm;
    v->index = index;
    v->runmask =
        index < cfg->ncpus && cfg->cpus[index].runmask_given ? cfg->cpus[index].runmask : 0;
    v->fd = ioctl(vmm->vm.vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
    if (v->fd < 0)
        return vdev_err_set(err, "KVM_CREATE_VCPU %u: %s", index, strerror(errno));
    v->run =
        mmap(NULL, (size_t)vmm->vm.vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED) {
        v->run = NULL;
        return vdev_err_set(err, "mapping vCPU %u: %s", index, strerror(errno));
    }
    return 0;
}

void vcpu_crash(struct vcpu *v, const char *fmt, ...)
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
    vcpu_arch_mmio(v->vmm->m, r->mmio.phys_addr, len, r->mmio.is_write, &val);
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
    case KVM_EXIT_FAIL_ENTRY:
        vcpu_crash(v, "VM entry failed, hardware reason 0x%llx",
                   (unsigned long long)r->fail_entry.hardware_entry_failure_reason);
        return false;
    case KVM_EXIT_INTERNAL_ERROR:
        vcpu_crash(v, "KVM internal error, suberror %u", r->internal.suberror);
        return false;
    default:
        break;
    }
    enum vcpu_exit e = vcpu_arch_exit(v);
    if (e == VCPU_EXIT_UNKNOWN)
        vcpu_crash(v, "unexpected exit reason %u", r->exit_reason);
    return e == VCPU_EXIT_RUN;
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
            int e = errno;
            if (e == EINTR || e == EAGAIN) {
                v->run->immediate_exit = 0;
                continue;
            }
            const char *why = vcpu_arch_run_error(e);
            if (why)
                vcpu_crash(v, "%s", why);
            else
                vcpu_crash(v, "KVM_RUN failed: %s", strerror(e));
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
    char name[16]; /* shown by top -H and /proc/PID/task/TID/comm, as QEMU's "CPU 0/KVM" */
    snprintf(name, sizeof(name), "vcpu%u", v->index);
    pthread_setname_np(v->thread, name);
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
