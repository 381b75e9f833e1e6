/* Running a built machine: memory, image, firmware tables, vCPUs, then waiting for the end
 * (guest power-off or reset, a device's stop request, a crash, or a signal). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "acpi_pm.h"
#include "acpi_tables.h"
#include "loaders.h"
#include "vmm.h"
#include "x86_platform.h"

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

static void on_pm_event(void *arg, enum x86_pm_event ev)
{
    if (ev == X86_PM_POWEROFF)
        vmm_stop(arg, VMM_EXIT_POWEROFF, "ACPI power-off");
    else
        vmm_stop(arg, VMM_EXIT_REBOOT, "ACPI reset");
}

int vmm_prepare(struct vmm *vmm, struct vdev_machine *m, struct vdev_err *err)
{
    vmm->m = m;
    vmm->stop_efd = eventfd(0, EFD_CLOEXEC);
    if (vmm->stop_efd < 0)
        return vdev_err_set(err, "eventfd: %s", strerror(errno));
    if (kvm_vm_open(&vmm->vm, err))
        return -1;
    const char *hp = vdev_config_var(vdev_machine_config(m), "halt-poll");
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
    return x86_pm_add(m, on_pm_event, vmm, err);
}

/* Loads the image named by `load` and returns the boot CPU's entry. */
static int load_image(struct vmm *vmm, const struct vdev_config *cfg, uint64_t rsdp, bool *is_elf,
                      struct x86_entry *entry, struct vdev_err *err)
{
    if (cfg->nloads != 1)
        return vdev_err_set(err, "%s: give one 'load FILE' with the kernel or test image",
                            cfg->nloads ? "more than one 'load'" : "nothing to run");
    const struct vdev_load_cfg *l = &cfg->loads[0];
    if (l->addr_given)
        return vdev_err_set(err,
                            "%s:%u: 'load ADDR,FILE': images are placed by their own headers; "
                            "leave the address out",
                            l->pos.file, l->pos.line);
    size_t len;
    void *img = load_file(l->path, 1ull << 30, &len, err);
    if (!img)
        return -1;
    int rc;
    switch (image_kind_of(img, len)) {
    case IMAGE_BZIMAGE:
        *is_elf = false;
        rc = x86_boot_write_tables(vmm->m, false, err) ||
             load_bzimage(vmm->m, img, len, cfg->initrd, cfg->cmdline, rsdp, entry, err);
        break;
    case IMAGE_ELF64:
        *is_elf = true;
        rc = x86_boot_write_tables(vmm->m, true, err) || load_elf64(vmm->m, img, len, entry, err);
        break;
    default:
        rc = vdev_err_set(err, "%s: neither a Linux bzImage nor a 64-bit ELF image", l->path);
    }
    free(img);
    return rc ? -1 : 0;
}

static int build_acpi(struct vmm *vmm, uint64_t *rsdp, struct vdev_err *err)
{
    void *host = vdev_gmem_ptr(vmm->m, X86_ACPI_BASE, X86_ACPI_SIZE, true);
    if (!host)
        return vdev_err_set(err,
                            "no guest RAM at 0x%llx for the ACPI tables (hint: give RAM from "
                            "address 0, e.g. 'ram 256M')",
                            X86_ACPI_BASE);
    struct x86_acpi_config ac = {.ncpus = vmm->ncpus,
                                 .lapic_addr = X86_LAPIC_BASE,
                                 .ioapic_addr = X86_IOAPIC_BASE,
                                 .ioapic_id = (uint8_t)vmm->ncpus,
                                 .sleep_port = X86_PM_PORT + X86_PM_SLEEP_CONTROL,
                                 .reset_port = X86_PM_PORT + X86_PM_RESET,
                                 .reset_value = X86_PM_RESET_VALUE,
                                 .ged_gsi = X86_GED_GSI,
                                 /* No CMOS RTC, no VGA, no 8042: Linux then skips probing
                                  * them (an absent RTC alone cost ~3 s of boot). */
                                 .iapc_boot_arch =
                                     X86_ACPI_BOOT_NO_VGA | X86_ACPI_BOOT_NO_CMOS_RTC};
    x86_acpi_config_devices(&ac, vmm->m); /* a configured mc146818 is announced */
    size_t used;
    x86_boot_write_reset_vector(vmm->m, X86_PM_PORT + X86_PM_RESET, X86_PM_RESET_VALUE);
    return x86_acpi_build(vmm->m, &ac, host, X86_ACPI_BASE, X86_ACPI_SIZE, rsdp, &used, err);
}

static int start_vcpus(struct vmm *vmm, const struct vdev_config *cfg, bool is_elf,
                       const struct x86_entry *boot, struct vdev_err *err)
{
    for (unsigned i = 0; i < vmm->ncpus; i++) {
        struct vcpu *v = &vmm->vcpus[i];
        v->fd = -1;
        if (vcpu_create(v, vmm, &vmm->vm, i, vmm->ncpus, err))
            return -1;
        v->runmask = i < cfg->ncpus && cfg->cpus[i].runmask_given ? cfg->cpus[i].runmask : 0;
        /* Linux starts its application processors itself (INIT/SIPI); test guests get every
         * vCPU at the entry point with its index in %rdi and its own boot stack. */
        struct x86_entry e = *boot;
        if (is_elf) {
            e.rdi = i;
            e.rsi = vmm->ncpus;
            e.rsp = X86_BOOT_CMDLINE - i * 0x1000;
        }
        if ((i == 0 || is_elf) && vcpu_set_entry(v, &e, i > 0, err))
            return -1;
    }
    for (unsigned i = 0; i < vmm->ncpus; i++)
        if (vcpu_start(&vmm->vcpus[i], err))
            return -1;
    return 0;
}

/* Waits for the end; SIGINT/SIGTERM press the ACPI power button, a second one stops now. */
static void wait_for_end(struct vmm *vmm, int sigfd)
{
    int presses = 0;
    while (!atomic_load(&vmm->stopping)) {
        struct pollfd p[2] = {{.fd = vmm->stop_efd, .events = POLLIN},
                              {.fd = sigfd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0)
            continue;
        if (p[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sigfd, &si, sizeof(si)) != sizeof(si))
                continue;
            if (presses++ == 0) {
                fprintf(stderr, "vdevkit run: %s: pressing the power button (again to stop now)\n",
                        strsignal((int)si.ssi_signo));
                vdev_machine_set_gsi(vmm->m, X86_GED_GSI, true);
                vdev_machine_set_gsi(vmm->m, X86_GED_GSI, false);
            } else {
                vmm_stop(vmm, 128 + (int)si.ssi_signo, "second signal");
            }
        }
    }
}

int vmm_run(struct vmm *vmm)
{
    const struct vdev_config *cfg = vdev_machine_config(vmm->m);
    struct vdev_err err = {0};
    vmm->ncpus = cfg->ncpus ? (unsigned)cfg->ncpus : 1;
    if (vmm->ncpus > VMM_MAX_VCPUS) {
        fprintf(stderr, "vdevkit run: at most %d vCPUs\n", VMM_MAX_VCPUS);
        return VMM_EXIT_CONFIG;
    }
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* every thread created from here inherits it */
    int sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);

    uint64_t rsdp = 0;
    bool is_elf = false;
    struct x86_entry entry = {0};
    int status = VMM_EXIT_HOST;
    if (kvm_vm_back_memory(&vmm->vm, &err) || build_acpi(vmm, &rsdp, &err) ||
        load_image(vmm, cfg, rsdp, &is_elf, &entry, &err) || vdev_machine_start(vmm->m) ||
        start_vcpus(vmm, cfg, is_elf, &entry, &err)) {
        fprintf(stderr, "vdevkit run: %s\n", err.msg[0] ? err.msg : "cannot start the VM");
        vmm_stop(vmm, VMM_EXIT_HOST, "start failed");
    } else {
        wait_for_end(vmm, sigfd);
    }
    status = atomic_load(&vmm->status);
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
    for (unsigned i = 0; i < vmm->ncpus; i++)
        if (vmm->vcpus[i].run)
            vcpu_destroy(&vmm->vcpus[i]);
    if (sigfd >= 0)
        close(sigfd);
    return status;
}

void vmm_close(struct vmm *vmm)
{
    kvm_vm_close(&vmm->vm);
    if (vmm->stop_efd >= 0)
        close(vmm->stop_efd);
}
