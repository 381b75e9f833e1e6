/* The vdevkit command's own messages, one rule for every command (docs/vdevkit.1, "MESSAGES"):
 *
 *   vdevkit COMMAND: MESSAGE            an error of COMMAND ("run", "stat", "shmem create", ...)
 *   vdevkit COMMAND: warning: MESSAGE   it goes on
 *   vdevkit: MESSAGE                    before there is a command (none, or an unknown one)
 *
 * A usage error (an unknown command or option, a missing or extra operand) is one such line
 * ending in "(try 'vdevkit help COMMAND')" on standard error, and exit status 2. Not covered:
 * configuration errors (FILE:LINE:COL: ...) and device log lines (LABEL: LEVEL: ...), which
 * keep their own documented forms. */
#ifndef TOOLS_TOOL_MSG_H
#define TOOLS_TOOL_MSG_H

#include <stdio.h>

/* "vdevkit CMD: MESSAGE\n" on standard error ("vdevkit: MESSAGE" when cmd is NULL). */
void tool_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "vdevkit CMD: MESSAGE (try 'vdevkit help HELP')\n" on standard error, where HELP is the
 * first word of CMD; returns TOOL_EXIT_CONFIG (2). */
int tool_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes `s` for a terminal or a log: control bytes (but newline and tab) and DEL become '?',
 * so text from another process (a VM's control socket, a folder's name) cannot move the
 * cursor or retitle the window. */
void tool_put_text(FILE *out, const char *s);

#endif
