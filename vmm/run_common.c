/* Running a built machine, for every architecture: KVM and `set halt-poll` before the build,
 * then memory, the architecture's start (image, firmware tables or device tree, vCPUs), and
 * waiting for the end (guest power-off or reset, a device's stop request, a crash, or a
 * second signal: the first presses the platform's power button). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "vmm.h"

void vmm_stop(struct vmm *vmm, int status, const char *why)
{
    bool expected = false;
    if (!atomic_compare_exchange_strong(&vmm->stopping, &expected, true))
        return; /* the first reason decides */
    atomic_store(&vmm->status, status);
    if (getenv("VDEVKIT_DEBUG"))
        fprintf(stderr, "vdevkit run: stopping (%s), status %d\n", why, status);
    uint64_t one = 1;
    if (write(vmm->stop_efd, &one, sizeof(one)) < 0) {
        /* the counter cannot overflow from one write; nothing else to do */
    }
    for (unsigned i = 0; i < vmm->ncpus; i++)
        vcpu_kick(&vmm->vcpus[i]);
}

static void on_device_stop(void *arg, int status)
{
    vmm_stop(arg, status, "a device requested it");
}

int vmm_prepare(struct vmm *vmm, struct vdev_machine *m, struct vdev_err *err)
{
    const struct vdev_config *cfg = vdev_machine_config(m);
    vmm->m = m;
    vmm->ncpus = cfg->ncpus ? (unsigned)cfg->ncpus : 1;
    if (vmm->ncpus > VMM_MAX_VCPUS) /* preflight refuses it first, with the line */
        return vdev_err_set(err, "at most %d vCPUs", VMM_MAX_VCPUS);
    vmm->stop_efd = eventfd(0, EFD_CLOEXEC);
    if (vmm->stop_efd < 0)
        return vdev_err_set(err, "eventfd: %s", strerror(errno));
    if (kvm_vm_open(&vmm->vm, err))
        return -1;
    const char *hp = vdev_config_var(cfg, "halt-poll");
    uint64_t us;
    if (hp && vdev_parse_u64(hp, &us, NULL) == 0) { /* validated by the parser */
        int r = kvm_vm_set_halt_poll(&vmm->vm, us * 1000);
        if (r < 0)
            fprintf(stderr,
                    "vdevkit run: warning: set halt-poll: KVM_CAP_HALT_POLL: %s (the host "
                    "kernel's halt polling applies; needs Linux 5.8)\n",
                    strerror(-r));
    }
    vmm->vm.m = m;
    vmm->vm.on_stop = on_device_stop;
    vmm->vm.on_stop_arg = vmm;
    return vmm_arch_prepare(vmm, err);
}

/* Waits for the end; SIGINT/SIGTERM press the power button (held vmm_arch_power_hold_ms,
 * then released), a second one stops now (128 + signal). */
static void wait_for_end(struct vmm *vmm, int sigfd)
{
    int presses = 0;
    bool held = false;
    while (!atomic_load(&vmm->stopping)) {
        struct pollfd p[2] = {{.fd = vmm->stop_efd, .events = POLLIN},
                              {.fd = sigfd, .events = POLLIN}};
        int n = poll(p, 2, held ? vmm_arch_power_hold_ms : -1);
        if (n == 0 && held) {
            vmm_arch_power_button(vmm, false);
            held = false;
        }
        if (n <= 0)
            continue;
        if (p[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sigfd, &si, sizeof(si)) != sizeof(si))
                continue;
            if (presses++ == 0) {
                fprintf(stderr, "vdevkit run: %s: pressing the power button (again to stop now)\n",
                        strsignal((int)si.ssi_signo));
                vmm_arch_power_button(vmm, true);
                held = vmm_arch_power_hold_ms > 0;
                if (!held)
                    vmm_arch_power_button(vmm, false);
            } else {
                vmm_stop(vmm, 128 + (int)si.ssi_signo, "second signal");
            }
        }
    }
}

static int start(struct vmm *vmm, struct vdev_err *err)
{
    if (kvm_vm_back_memory(&vmm->vm, err) || vmm_arch_start(vmm, err))
        return -1;
    for (unsigned i = 0; i < vmm->ncpus; i++) /* arm64's secondaries wait for CPU_ON */
        if (vcpu_start(&vmm->vcpus[i], err))
            return -1;
    return 0;
}

int vmm_run(struct vmm *vmm)
{
    struct vdev_err err = {0};
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* every thread created from here inherits it */
    int sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);
    if (start(vmm, &err)) {
        fprintf(stderr, "vdevkit run: %s\n", err.msg[0] ? err.msg : "cannot start the VM");
        vmm_stop(vmm, VMM_EXIT_HOST, "start failed");
    } else {
        wait_for_end(vmm, sigfd);
    }
    int status = atomic_load(&vmm->status);
    for (unsigned i = 0; i < vmm->ncpus; i++)
        vcpu_kick(&vmm->vcpus[i]);
    for (unsigned i = 0; i < vmm->ncpus; i++) {
        if (vmm->vcpus[i].started)
            pthread_join(vmm->vcpus[i].thread, NULL);
        vmm->vcpus[i].started = false;
    }
    /* Stopped from outside: where was the guest? (a hang is easier to read this way) */
    if (status >= 128 && getenv("VDEVKIT_DEBUG"))
        for (unsigned i = 0; i < vmm->ncpus; i++)
            if (vmm->vcpus[i].run)
                vcpu_dump(&vmm->vcpus[i], stderr);
    if (sigfd >= 0)
        close(sigfd);
    return status;
}

void vmm_close(struct vmm *vmm)
{
    for (unsigned i = 0; i < vmm->ncpus; i++) /* fd 0: never created (vmm is static) */
        if (vmm->vcpus[i].run || vmm->vcpus[i].fd > 0)
            vcpu_destroy(&vmm->vcpus[i]);
    kvm_vm_close(&vmm->vm);
    if (vmm->stop_efd >= 0)
        close(vmm->stop_efd);
}
