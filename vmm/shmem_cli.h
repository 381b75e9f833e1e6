/* `vdevkit shmem list|create|remove`: the host's shmem regions (vdevs/shmem/shm_object.h). */
#ifndef VMM_SHMEM_CLI_H
#define VMM_SHMEM_CLI_H

/* argv[0] is the subcommand. Returns a process exit status. */
int vmm_cmd_shmem(int argc, char **argv);

#endif
