/* Commands that talk to a running VM through its control socket. */
#ifndef TOOLS_CONTROL_CLIENT_H
#define TOOLS_CONTROL_CLIENT_H

/* Each returns a process exit status: 0, 1 (no VM answers, or it refused the request) or 2
 * (a usage error, said on stderr). argv holds the words after the command's name. */

/* vdevkit stat [--json] SYSTEM|PATH [NAME] */
int vmm_cmd_stat(int argc, char **argv);
/* vdevkit capture SYSTEM|PATH NAME FILE|off */
int vmm_cmd_capture(int argc, char **argv);
/* vdevkit info [--json] SYSTEM|PATH */
int vmm_cmd_info(int argc, char **argv);
/* vdevkit list [--json] */
int vmm_cmd_list(int argc, char **argv);

#endif
