/* `vdevkit shmem list|create|remove`: the host's shmem regions (shm/shm_object.h). */
#ifndef TOOLS_SHMEM_CLI_H
#define TOOLS_SHMEM_CLI_H

#include <stdio.h>

/* argv[0] is the subcommand. Returns a process exit status. */
int vmm_cmd_shmem(int argc, char **argv);
/* `vdevkit shmem --help`. */
void vmm_shmem_usage(FILE *out);

#endif
