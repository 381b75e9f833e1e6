/* vdevkit: the command-line front end of the reference VMM.
 *
 *   vdevkit run [@FILE] [OPTION...]   build the VM from qvm-style configuration and run it
 *   vdevkit modules                    list the device modules found on the search path
 *   vdevkit stat SYSTEM [NAME]         a running VM's devices and counters (control socket)
 *   vdevkit capture SYSTEM NAME FILE|off  start/stop a NIC's pcap capture (control socket)
 *   vdevkit info SYSTEM | list         a running VM's pid and uptime | the VMs running here
 *   vdevkit shmem list|create|remove   the host's shared-memory regions (vdev shmem)
 *   vdevkit net-peer OPTIONS...        the host peer: a TAP interface per guest NIC
 *   vdevkit version
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vdev/fdt.h>
#include <vdev/vdev.h>

#include "acpi_pm.h"
#include "control_client.h"
#include "net_peer.h"
#include "shmem_cli.h"
#include "tool_exit.h"
#include "vmm.h"
#include "x86_platform.h"

/* The host tools (tools/) return the statuses `run` uses for the same outcomes. */
_Static_assert((int)TOOL_EXIT_HOST == VMM_EXIT_HOST && (int)TOOL_EXIT_CONFIG == VMM_EXIT_CONFIG,
               "tools/tool_exit.h and vmm/vmm.h disagree");

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vdevkit run [@FILE] [OPTION...]   build and run a VM (see docs/config.md)\n"
            "       vdevkit stat SYSTEM|SOCKET [NAME]   a running VM's devices and counters\n"
            "       vdevkit capture SYSTEM|SOCKET NAME FILE|off   start/stop a NIC's pcap capture\n"
            "       vdevkit info SYSTEM|SOCKET          a running VM's pid and uptime\n"
            "       vdevkit list                        the VMs in the run-time folder\n"
            "       vdevkit shmem list|create|remove    the host's shared-memory regions\n"
            "       vdevkit net-peer peer=PATH,bind=PATH,...  host interfaces for guest NICs\n"
            "       vdevkit version\n"
            "\n"
            "A configuration is qvm-style tokens: '@guest.conf' reads a file, and more\n"
            "options may follow it, e.g.: vdevkit run @guest.conf dryrun\n");
}

/* `set fdt-dump-file PATH`: the machine's device tree as an x86 platform sees it (the guest
 * itself boots with ACPI). The path is used as written, relative to the current folder. */
static int dump_fdt(struct vdev_machine *m, struct vdev_err *err)
{
    const char *path = vdev_config_var(vdev_machine_config(m), "fdt-dump-file");
    if (!path)
        return 0;
    static const uint64_t ioapic_reg[2] = {X86_IOAPIC_BASE, 0x1000};
    const struct vdev_fdt_platform p = {
        .compatible = "vdevkit,x86",
        .model = "vdevkit x86 (KVM)",
        .intc = {.name = "interrupt-controller@fec00000",
                 .compatible = "intel,ce4100-ioapic",
                 .reg = ioapic_reg,
                 .nreg = 1,
                 .interrupt_cells = 2},
    };
    size_t size = 1u << 20;
    void *buf = calloc(1, size);
    if (!buf)
        return vdev_err_set(err, "fdt-dump-file %s: out of memory", path);
    struct vdev_err gerr = {0};
    if (vdev_machine_gen_fdt(m, &p, buf, size, &gerr)) {
        free(buf);
        return vdev_err_set(err, "fdt-dump-file %s: %s", path, gerr.msg);
    }
    size_t len = ((const uint8_t *)buf)[4] << 24 | ((const uint8_t *)buf)[5] << 16 |
                 ((const uint8_t *)buf)[6] << 8 | ((const uint8_t *)buf)[7]; /* totalsize */
    FILE *f = fopen(path, "wb");
    int rc = 0;
    if (!f) {
        rc = vdev_err_set(err, "fdt-dump-file %s: %s", path, strerror(errno));
    } else {
        bool ok = fwrite(buf, 1, len, f) == len;
        int e = errno;
        if (fclose(f) != 0 && ok) {
            ok = false;
            e = errno;
        }
        if (!ok)
            rc = vdev_err_set(err, "fdt-dump-file %s: writing failed: %s", path, strerror(e));
    }
    free(buf);
    return rc;
}

static int cmd_run(int argc, char **argv)
{
    if (argc == 0) {
        usage(stderr);
        return VMM_EXIT_CONFIG;
    }
    static struct vmm vmm; /* large (vCPU table); one per process */
    vmm.vm.vm_fd = vmm.vm.kvm_fd = vmm.stop_efd = -1;
    struct vdev_err err = {0};
    struct vdev_machine *m = vdev_machine_new(&kvm_vm_embedder_ops, &vmm.vm);
    if (!m) {
        fprintf(stderr, "vdevkit: out of memory\n");
        return VMM_EXIT_HOST;
    }
    int rc = VMM_EXIT_CONFIG;
    if (x86_platform_describe(m, &err) || vdev_machine_parse_args(m, argc, argv, &err))
        goto refused;
    bool dryrun = vdev_machine_config(m)->dryrun;
    /* KVM first when running, so devices bind doorbells and irqfds in the kernel as they build. */
    if (dryrun ? x86_pm_add(m, NULL, NULL, &err) : vmm_prepare(&vmm, m, &err)) {
        fprintf(stderr, "vdevkit: %s\n", err.msg);
        rc = VMM_EXIT_HOST;
        goto out;
    }
    /* Before build: a second VM with the same system name stops here, with the path. A
     * run-time folder we cannot use only costs `vdevkit stat`. */
    int crc = dryrun ? 0 : vdev_machine_control_open(m, &err);
    if (crc) {
        fprintf(stderr, "vdevkit: %s%s\n", crc == -2 ? "warning: no control socket: " : "",
                err.msg);
        if (crc == -1) {
            rc = VMM_EXIT_HOST;
            goto out;
        }
    }
    if (vdev_machine_build(m, &err))
        goto refused;
    if (dump_fdt(m, &err)) {
        fprintf(stderr, "vdevkit: %s\n", err.msg);
        rc = VMM_EXIT_HOST;
        goto out;
    }
    if (dryrun) {
        vdev_machine_print(m, stdout);
        rc = 0;
        goto out;
    }
    rc = vmm_run(&vmm);
    goto out;
refused:
    fprintf(stderr, "%s\nvdevkit: the VM was not started\n", err.msg);
out:
    vdev_machine_free(m);
    vmm_close(&vmm);
    return rc;
}

int main(int argc, char **argv)
{
    /* A console or capture whose reader went away is an error to report, not a reason to die. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? VMM_EXIT_CONFIG : 0;
    }
    if (strcmp(argv[1], "version") == 0) {
        printf("vdevkit %s (vdev ABI %d)\n", VDEVKIT_VERSION, VDEV_ABI_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "run") == 0)
        return cmd_run(argc - 2, argv + 2);
    if (strcmp(argv[1], "stat") == 0)
        return vmm_cmd_stat(argc - 2, argv + 2);
    if (strcmp(argv[1], "capture") == 0)
        return vmm_cmd_capture(argc - 2, argv + 2);
    if (strcmp(argv[1], "info") == 0)
        return vmm_cmd_info(argc - 2, argv + 2);
    if (strcmp(argv[1], "list") == 0)
        return vmm_cmd_list(argc - 2, argv + 2);
    if (strcmp(argv[1], "shmem") == 0)
        return vmm_cmd_shmem(argc - 2, argv + 2);
    if (strcmp(argv[1], "net-peer") == 0)
        return vmm_cmd_net_peer(argc - 1, argv + 1);
    fprintf(stderr, "vdevkit: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return VMM_EXIT_CONFIG;
}
