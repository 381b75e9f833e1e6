/* Running a built machine on an aarch64 host. vmm_prepare creates the VM, every vCPU and the
 * vGICv3 + ITS (CTRL_INIT) before the machine is built, so that devices bind irqfds in the
 * kernel (KVM_IRQFD fails with EAGAIN before CTRL_INIT). vmm_run backs RAM, loads the Image
 * and initrd, writes the device tree (the same buffer to `set fdt-dump-file`), starts the
 * boot vCPU and waits for PSCI SYSTEM_OFF/RESET, a device's stop request, a crash or a
 * signal. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <vdev/gmem.h>

#include "arm64_image.h"
#include "arm64_platform.h"
#include "arm64_power.h"
#include "vmm.h"

#define FDT_BUF_SIZE (1u << 20)

void vmm_stop(struct vmm *vmm, int status, const char *why)
{
    bool expected = false;
    if (!atomic_compare_exchange_strong(&vmm->stopping, &expected, true))
        return;
    atomic_store(&vmm->status, status);
    if (getenv("VDEVKIT_DEBUG"))
        fprintf(stderr, "vdevkit run: stopping (%s), status %d\n", why, status);
    uint64_t one = 1;
    if (write(vmm->stop_efd, &one, sizeof(one)) < 0) {
        /* the counter cannot overflow from one write */
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
    vmm->ncpus = cfg->ncpus ? (unsigned)cfg->ncpus : 1; /* preflight checked the maximum */
    vmm->stop_efd = eventfd(0, EFD_CLOEXEC);
    if (vmm->stop_efd < 0)
        return vdev_err_set(err, "eventfd: %s", strerror(errno));
    if (kvm_vm_open(&vmm->vm, err))
        return -1;
    const char *hp = vdev_config_var(cfg, "halt-poll");
    uint64_t us;
    if (hp && vdev_parse_u64(hp, &us, NULL) == 0) {
        int r = kvm_vm_set_halt_poll(&vmm->vm, us * 1000);
        if (r < 0)
            fprintf(stderr, "vdevkit run: warning: set halt-poll: KVM_CAP_HALT_POLL: %s\n",
                    strerror(-r));
    }
    vmm->vm.m = m;
    vmm->vm.on_stop = on_device_stop;
    vmm->vm.on_stop_arg = vmm;
    for (unsigned i = 0; i < vmm->ncpus; i++) {
        struct vcpu *v = &vmm->vcpus[i];
        v->fd = -1;
        if (vcpu_create(v, vmm, &vmm->vm, i, err))
            return -1;
        v->runmask = i < cfg->ncpus && cfg->cpus[i].runmask_given ? cfg->cpus[i].runmask : 0;
    }
    return kvm_vm_create_gic(&vmm->vm, vmm->ncpus, err);
}

/* The Image, the initrd and the device tree in RAM; the boot vCPU's PC and x0. */
static int load_guest(struct vmm *vmm, uint64_t *pc, uint64_t *x0, struct vdev_err *err)
{
    const struct vdev_config *cfg = vdev_machine_config(vmm->m);
    const struct vdev_load_cfg *l = &cfg->loads[0]; /* preflight: exactly one */
    char what[512];
    snprintf(what, sizeof(what), "%s:%u:%u: load: %s", l->pos.file ? l->pos.file : "(command line)",
             l->pos.line, l->pos.col, l->path);
    size_t len, ilen = 0;
    void *img = load_file(l->path, 1ull << 30, &len, err);
    if (!img)
        return -1;
    void *initrd = cfg->initrd ? load_file(cfg->initrd, 1ull << 30, &ilen, err) : NULL;
    void *fdt = calloc(1, FDT_BUF_SIZE);
    struct arm64_boot b;
    int rc = -1;
    if (cfg->initrd && !initrd)
        goto out;
    if (!fdt) {
        vdev_err_set(err, "out of memory");
        goto out;
    }
    if (arm64_image_load(vmm->m, img, len, initrd, ilen, what, &b, err))
        goto out;
    struct vdev_err ferr = {0};
    if (arm64_gen_fdt(vmm->m, vmm->ncpus, b.has_initrd, b.initrd_start, b.initrd_end, fdt,
                      FDT_BUF_SIZE, &ferr)) {
        vdev_err_set(err, "device tree: %s", ferr.msg);
        goto out;
    }
    const uint8_t *h = fdt;
    size_t fdt_len = (size_t)h[4] << 24 | h[5] << 16 | h[6] << 8 | h[7];
    void *dst = fdt_len <= ARM64_FDT_MAX ? vdev_gmem_ptr(vmm->m, b.fdt, fdt_len, true) : NULL;
    if (!dst) {
        vdev_err_set(err, "device tree of %zu bytes does not fit at 0x%llx (at most 2 MiB)",
                     fdt_len, (unsigned long long)b.fdt);
        goto out;
    }
    memcpy(dst, fdt, fdt_len);
    if (vmm_write_fdt_dump(vmm->m, fdt, err)) /* the very buffer the guest gets */
        goto out;
    *pc = b.kernel;
    *x0 = b.fdt;
    rc = 0;
out:
    free(fdt);
    free(initrd);
    free(img);
    return rc;
}

/* Waits for the end; SIGINT/SIGTERM press the power button (arm64_power.h: held 100 ms, then
 * released, as a finger would), a second one stops now (128 + signal), as on x86. */
static void wait_for_end(struct vmm *vmm, int sigfd)
{
    int presses = 0;
    bool held = false;
    while (!atomic_load(&vmm->stopping)) {
        struct pollfd p[2] = {{.fd = vmm->stop_efd, .events = POLLIN},
                              {.fd = sigfd, .events = POLLIN}};
        int n = poll(p, 2, held ? 100 : -1);
        if (n == 0 && held) {
            arm64_power_set(vmm->m, false);
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
                arm64_power_set(vmm->m, true);
                held = true;
            } else {
                vmm_stop(vmm, 128 + (int)si.ssi_signo, "second signal");
            }
        }
    }
}

int vmm_run(struct vmm *vmm)
{
    struct vdev_err err = {0};
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    int sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);
    uint64_t pc = 0, x0 = 0;
    bool started =
        kvm_vm_back_memory(&vmm->vm, &err) == 0 && load_guest(vmm, &pc, &x0, &err) == 0 &&
        vcpu_set_entry(&vmm->vcpus[0], pc, x0, &err) == 0 && vdev_machine_start(vmm->m) == 0;
    for (unsigned i = 0; started && i < vmm->ncpus; i++) /* secondaries wait for CPU_ON */
        started = vcpu_start(&vmm->vcpus[i], &err) == 0;
    if (!started) {
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
    for (unsigned i = 0; i < vmm->ncpus; i++)
        if (vmm->vcpus[i].run || vmm->vcpus[i].fd > 0)
            vcpu_destroy(&vmm->vcpus[i]);
    kvm_vm_close(&vmm->vm);
    if (vmm->stop_efd >= 0)
        close(vmm->stop_efd);
}
