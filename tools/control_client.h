/* Commands that talk to a running VM through its control socket. */
#ifndef TOOLS_CONTROL_CLIENT_H
#define TOOLS_CONTROL_CLIENT_H

/* vdevkit stat SYSTEM|PATH [NAME] */
int vmm_cmd_stat(int argc, char **argv);
/* vdevkit capture SYSTEM|PATH NAME FILE|off */
int vmm_cmd_capture(int argc, char **argv);
/* vdevkit info SYSTEM|PATH */
int vmm_cmd_info(int argc, char **argv);
/* vdevkit list */
int vmm_cmd_list(int argc, char **argv);

#endif
