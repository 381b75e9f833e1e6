/* `vdevkit hostdev-cleanup`: SR-IOV VFs set back after a VMM's crash (vdev/hostdev.h). */
#ifndef TOOLS_HOSTDEV_CLI_H
#define TOOLS_HOSTDEV_CLI_H

/* argv holds the words after the command's name. Returns a process exit status: 0, 1 (a
 * record could not be restored, a named VF is in use, the state folder is unusable) or 2 (a
 * usage error, said on stderr). */
int vmm_cmd_hostdev_cleanup(int argc, char **argv);

#endif
