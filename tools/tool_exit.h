/* The host tools' exit statuses: the values `vdevkit run` uses for the same outcomes
 * (docs/vmm.md), so every vdevkit command means the same by 1 and 2 (vmm/main.c checks). */
#ifndef TOOLS_TOOL_EXIT_H
#define TOOLS_TOOL_EXIT_H

enum tool_exit {
    TOOL_EXIT_HOST = 1,   /* a host-side failure */
    TOOL_EXIT_CONFIG = 2, /* the command line was refused */
};

#endif
