/* vdevkit: the command-line front end of the reference VMM.
 *
 *   vdevkit run [@FILE] [OPTION...]   build the VM from qvm-style configuration and run it
 *   vdevkit stat [--json] SYSTEM [NAME]  a running VM's devices and counters (control socket)
 *   vdevkit capture SYSTEM NAME FILE|off  start/stop a NIC's pcap capture (control socket)
 *   vdevkit info [--json] SYSTEM       a running VM's pid and uptime
 *   vdevkit list [--json]              the VMs running here
 *   vdevkit shmem list|create|remove   the host's shared-memory regions (vdev shmem)
 *   vdevkit net-peer OPTIONS...        the host peer: a TAP interface per guest NIC
 *   vdevkit hostdev-cleanup [BDF...]   set SR-IOV VFs back after a VMM's crash
 *   vdevkit version | -V | --version   the version and the module ABI
 *   vdevkit help [COMMAND] | -h | --help   usage; `vdevkit COMMAND --help` for one command
 *
 * docs/vdevkit.1 is the manual page: keep its SUBCOMMANDS in step with `commands` below.
 * Messages follow one rule (tools/tool_msg.h): "vdevkit COMMAND: ...", usage errors on
 * standard error with "(try 'vdevkit help COMMAND')" and status 2.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vdev/fdt.h>
#include <vdev/vdev.h>

#include "control_client.h"
#include "hostdev_cli.h"
#include "net_peer.h"
#include "shmem_cli.h"
#include "tool_exit.h"
#include "tool_msg.h"
#include "vmm.h"

/* The host tools (tools/) return the statuses `run` uses for the same outcomes. */
_Static_assert((int)TOOL_EXIT_HOST == VMM_EXIT_HOST && (int)TOOL_EXIT_CONFIG == VMM_EXIT_CONFIG,
               "tools/tool_exit.h and vmm/vmm.h disagree");

/* Each subcommand's usage, printed by `vdevkit CMD --help` and `vdevkit help CMD` (stdout,
 * status 0); the first lines make `vdevkit help`. net-peer and shmem print their own,
 * longer, help. */
static const struct command {
    const char *name;
    const char *usage;
    void (*long_usage)(FILE *out);
} commands[] = {
    {"run",
     "vdevkit run [@FILE] [OPTION...]   build and run a VM (see docs/config.md)\n"
     "  A configuration is qvm-style tokens: '@guest.conf' reads a file, and more options\n"
     "  may follow it; 'dryrun' checks and prints the machine without running it, e.g.\n"
     "  vdevkit run @guest.conf dryrun\n"
     "  --platform x86|arm64 (first) describes that platform's machine; one not this\n"
     "  host's is for dryrun (e.g. an arm64 configuration checked on x86)\n",
     NULL},
    {"stat",
     "vdevkit stat [--json] SYSTEM|SOCKET [NAME]   a running VM's devices and counters\n"
     "  --json  one JSON object on standard output (fields in docs/vmm.md)\n",
     NULL},
    {"capture", "vdevkit capture SYSTEM|SOCKET NAME FILE|off   start/stop a NIC's pcap capture\n",
     NULL},
    {"info",
     "vdevkit info [--json] SYSTEM|SOCKET   a running VM's pid and uptime\n"
     "  --json  one JSON object on standard output (fields in docs/vmm.md)\n",
     NULL},
    {"list",
     "vdevkit list [--json]   the VMs in the run-time folder\n"
     "  --json  one JSON array on standard output (fields in docs/vmm.md)\n",
     NULL},
    {"shmem", "vdevkit shmem list|create|remove   the host's shared-memory regions\n",
     vmm_shmem_usage},
    {"net-peer", "vdevkit net-peer peer=PATH,bind=PATH,...   host interfaces for guest NICs\n",
     vmm_net_peer_usage},
    {"hostdev-cleanup",
     "vdevkit hostdev-cleanup [--json] [BDF...]   set SR-IOV VFs back after a VMM's crash\n"
     "  Sets back (MAC, VLAN, host driver) and removes the records of VFs whose VMM ended\n"
     "  without doing it: every such record, or those of the VFs named (PCI addresses such\n"
     "  as 0000:01:10.0). A VF whose VMM runs is left alone. The records are in\n"
     "  $VDEVKIT_RUNTIME_DIR/hostdev (/run/vdevkit/hostdev); changing a VF needs root.\n"
     "  --json  one JSON array on standard output (fields in docs/vmm.md)\n",
     NULL},
    {"version", "vdevkit version (also -V, --version)   the version and the module ABI\n", NULL},
    {"help", "vdevkit help [COMMAND] (also -h, --help)   this text, or COMMAND's usage\n", NULL},
};

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void usage(FILE *out)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        const char *u = commands[i].usage;
        fprintf(out, "%s %.*s\n", i ? "      " : "usage:", (int)strcspn(u, "\n"), u);
    }
    fprintf(out, "\n'vdevkit help COMMAND' explains one command; 'man vdevkit' and docs/ the "
                 "rest.\n");
}

static void command_usage(const struct command *c, FILE *out)
{
    if (c->long_usage)
        c->long_usage(out);
    else
        fprintf(out, "usage: %s", c->usage);
}

static bool is_help(const char *a)
{
    return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

/* `set fdt-dump-file PATH`: the tree of a dryrun, as the platform describes the machine
 * (x86 boots with ACPI and only dumps it; arm64 boots with it and its run writes the very
 * buffer it hands the guest, vmm/arm64/arm64_run.c). */
static int dump_fdt(const struct vmm_platform *plat, struct vdev_machine *m, struct vdev_err *err)
{
    const char *path = vdev_config_var(vdev_machine_config(m), "fdt-dump-file");
    if (!path)
        return 0;
    size_t size = 1u << 20;
    void *buf = calloc(1, size);
    if (!buf)
        return vdev_err_set(err, "fdt-dump-file %s: out of memory", path);
    struct vdev_err gerr = {0};
    int rc;
    if (plat->gen_fdt(m, buf, size, &gerr))
        rc = vdev_err_set(err, "fdt-dump-file %s: %s", path, gerr.msg);
    else
        rc = vmm_write_fdt_dump(m, buf, err);
    free(buf);
    return rc;
}

int vmm_write_fdt_dump(struct vdev_machine *m, const void *fdt, struct vdev_err *err)
{
    const char *path = vdev_config_var(vdev_machine_config(m), "fdt-dump-file");
    if (!path)
        return 0;
    const uint8_t *b = fdt;
    size_t len = (size_t)b[4] << 24 | b[5] << 16 | b[6] << 8 | b[7]; /* totalsize */
    FILE *f = fopen(path, "wb");
    if (!f)
        return vdev_err_set(err, "fdt-dump-file %s: %s", path, strerror(errno));
    bool ok = fwrite(fdt, 1, len, f) == len;
    int e = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (!ok)
        return vdev_err_set(err, "fdt-dump-file %s: writing failed: %s", path, strerror(e));
    return 0;
}

/* `--platform NAME` before the configuration: the platform to describe. Only the native one
 * runs; another one (arm64 on an x86 host) is for `dryrun`. */
static const struct vmm_platform *take_platform(int *argc, char ***argv)
{
    const struct vmm_platform *p = vmm_platform_native();
    if (*argc == 0)
        return p;
    const char *a = (*argv)[0], *name = NULL;
    if (strncmp(a, "--platform=", 11) == 0) {
        name = a + 11;
        *argc -= 1;
        *argv += 1;
    } else if (strcmp(a, "--platform") == 0) {
        if (*argc < 2) {
            tool_usage_error("run", "--platform needs a name (x86 or arm64)");
            return NULL;
        }
        name = (*argv)[1];
        *argc -= 2;
        *argv += 2;
    } else {
        return p;
    }
    p = vmm_platform_find(name);
    if (!p)
        tool_usage_error("run", "unknown platform '%s' (this vdevkit knows %s)", name,
                         vmm_platform_find("x86") ? "x86 and arm64" : "arm64");
    return p;
}

static int cmd_run(int argc, char **argv)
{
    const struct vmm_platform *plat = take_platform(&argc, &argv);
    if (!plat)
        return VMM_EXIT_CONFIG;
    if (argc == 0)
        return tool_usage_error("run", "missing the configuration (e.g. 'vdevkit run @FILE')");
    static struct vmm vmm; /* large (vCPU table); one per process */
    vmm.vm.vm_fd = vmm.vm.kvm_fd = vmm.stop_efd = -1;
    struct vdev_err err = {0};
    struct vdev_machine *m = vdev_machine_new(&kvm_vm_embedder_ops, &vmm.vm);
    if (!m) {
        tool_error("run", "out of memory");
        return VMM_EXIT_HOST;
    }
    int rc = VMM_EXIT_CONFIG;
    if (plat->describe(m, &err) || vdev_machine_parse_args(m, argc, argv, &err) ||
        vmm_preflight(m, plat, &err))
        goto refused;
    bool dryrun = vdev_machine_config(m)->dryrun;
    if (!dryrun && plat != vmm_platform_native()) {
        tool_error("run",
                   "this vdevkit runs %s guests; --platform %s only checks a "
                   "configuration (add 'dryrun')",
                   vmm_platform_native()->name, plat->name);
        goto out;
    }
    /* KVM first when running, so devices bind doorbells and irqfds in the kernel as they build. */
    if (dryrun ? plat->dryrun_devices && plat->dryrun_devices(m, &err)
               : vmm_prepare(&vmm, m, &err)) {
        tool_error("run", "%s", err.msg);
        rc = VMM_EXIT_HOST;
        goto out;
    }
    /* Before build: a second VM with the same system name stops here, with the path. A
     * run-time folder we cannot use only costs `vdevkit stat`. */
    int crc = dryrun ? 0 : vdev_machine_control_open(m, &err);
    if (crc) {
        tool_error("run", "%s%s", crc == -2 ? "warning: no control socket: " : "", err.msg);
        if (crc == -1) {
            rc = VMM_EXIT_HOST;
            goto out;
        }
    }
    if (vdev_machine_build(m, &err))
        goto refused;
    if ((dryrun || !plat->boots_with_fdt) && dump_fdt(plat, m, &err)) {
        tool_error("run", "%s", err.msg);
        rc = VMM_EXIT_HOST;
        goto out;
    }
    if (dryrun) {
        vdev_machine_print(m, stdout);
        if (vdev_machine_config(m)->nloads == 0)
            tool_error("run", "note: no 'load': 'run' would refuse this configuration");
        rc = 0;
        goto out;
    }
    rc = vmm_run(&vmm);
    goto out;
refused:
    fprintf(stderr, "%s\n", err.msg); /* FILE:LINE:COL: ..., the configuration's form */
    tool_error("run", "the VM was not started");
out:
    vdev_machine_free(m);
    vmm_close(&vmm);
    return rc;
}

/* -h or --help among a command's words (before `--`). */
static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc && strcmp(argv[i], "--"); i++)
        if (is_help(argv[i]))
            return true;
    return false;
}

int main(int argc, char **argv)
{
    /* A console or capture whose reader went away is an error to report, not a reason to die. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return tool_usage_error(NULL, "no command given");
    }
    const char *cmd = argv[1];
    if (is_help(cmd))
        cmd = "help";
    else if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0)
        cmd = "version";
    const struct command *c = find_command(cmd);
    if (!c && cmd[0] == '-')
        return tool_usage_error(NULL, "unknown option '%s'", cmd);
    if (!c)
        return tool_usage_error(NULL, "unknown command '%s'", cmd);
    /* net-peer and shmem read their own words, --help included. */
    if (!c->long_usage && wants_help(argc - 2, argv + 2)) {
        command_usage(c, stdout);
        return 0;
    }
    if (strcmp(cmd, "help") == 0) {
        if (argc > 3)
            return tool_usage_error("help", "unexpected operand '%s' (expected [COMMAND])",
                                    argv[3]);
        if (argc == 2) {
            usage(stdout);
            return 0;
        }
        const struct command *h = find_command(argv[2]);
        if (!h)
            return tool_usage_error("help", "unknown command '%s'", argv[2]);
        command_usage(h, stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0) {
        if (argc > 2)
            return tool_usage_error("version", "unexpected %s '%s'",
                                    argv[2][0] == '-' ? "option" : "operand", argv[2]);
        printf("vdevkit %s (libvdev %s, vdev ABI %d)\n", VDEVKIT_VERSION, vdev_version(),
               VDEV_ABI_VERSION);
        return 0;
    }
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 2, argv + 2);
    if (strcmp(cmd, "stat") == 0)
        return vmm_cmd_stat(argc - 2, argv + 2);
    if (strcmp(cmd, "capture") == 0)
        return vmm_cmd_capture(argc - 2, argv + 2);
    if (strcmp(cmd, "info") == 0)
        return vmm_cmd_info(argc - 2, argv + 2);
    if (strcmp(cmd, "list") == 0)
        return vmm_cmd_list(argc - 2, argv + 2);
    if (strcmp(cmd, "shmem") == 0)
        return vmm_cmd_shmem(argc - 2, argv + 2);
    if (strcmp(cmd, "hostdev-cleanup") == 0)
        return vmm_cmd_hostdev_cleanup(argc - 2, argv + 2);
    return vmm_cmd_net_peer(argc - 1, argv + 1); /* net-peer, the last command */
}
