/* vdevkit: the command-line front end of the reference VMM.
 *
 *   vdevkit run [@FILE] [OPTION...]   build the VM from qvm-style configuration and run it
 *   vdevkit modules                    list the device modules found on the search path
 *   vdevkit version
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vdev/vdev.h>

#include "x86_platform.h"

enum { EXIT_CONFIG = 2 }; /* documented in docs/vmm.md */

static void usage(FILE *out)
{
    fprintf(out, "usage: vdevkit run [@FILE] [OPTION...]   build and run a VM (see docs/config.md)\n"
                 "       vdevkit version\n"
                 "\n"
                 "A configuration is qvm-style tokens: '@guest.conf' reads a file, and more\n"
                 "options may follow it, e.g.: vdevkit run @guest.conf dryrun\n");
}

static int cmd_run(int argc, char **argv)
{
    if (argc == 0) {
        usage(stderr);
        return EXIT_CONFIG;
    }
    struct vdev_err err = {{0}};
    struct vdev_machine *m = vdev_machine_new(NULL, NULL);
    if (!m) {
        fprintf(stderr, "vdevkit: out of memory\n");
        return 1;
    }
    int rc = EXIT_CONFIG;
    if (x86_platform_describe(m, &err) || vdev_machine_parse_args(m, argc, argv, &err) ||
        vdev_machine_build(m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        fprintf(stderr, "vdevkit: the VM was not started\n");
        goto out;
    }
    if (vdev_machine_config(m)->dryrun) {
        vdev_machine_print(m, stdout);
        rc = 0;
        goto out;
    }
    vdev_machine_print(m, stderr);
    fprintf(stderr, "vdevkit: this build can only check configurations: add 'dryrun'\n");
out:
    vdev_machine_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    /* A console or capture whose reader went away is an error to report, not a reason to die. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_CONFIG : 0;
    }
    if (strcmp(argv[1], "version") == 0) {
        printf("vdevkit %s (vdev ABI %d)\n", VDEVKIT_VERSION, VDEV_ABI_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "run") == 0)
        return cmd_run(argc - 2, argv + 2);
    fprintf(stderr, "vdevkit: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_CONFIG;
}
