/* `hostdev` in qvm's forms: opens where a UART's bytes go and come from (chardev.c applies
 * what it opened). */
#ifndef CHARDEV_HOSTDEV_H
#define CHARDEV_HOSTDEV_H

#include <stdbool.h>
#include <sys/types.h>
#include <vdev/module.h>

/* What one `hostdev` opened. A side not set keeps what an earlier `hostdev` gave it. Each
 * fd is the caller's to close when *_owned (input and output never share one: a pty or a
 * device used both ways is dup()ed). */
struct chardev_hostdev {
    bool set_out, set_in;
    int out_fd, in_fd;
    bool out_owned, in_owned;
    pid_t child;  /* `>"|command"`: the shell reading the output, or 0 */
    int keep_fd;  /* `pty`: the terminal side, held open (closed by the caller), or -1 */
    char pty[64]; /* `pty`: the terminal's name, for the log */
};

/* Opens what `hostdev` option value v names (nothing is created or started under dryrun):
 *   NAME    both ways: `-` is stdin and stdout, `pty` a new pseudo-terminal, a terminal
 *           is read and written; anything else (a file, a FIFO, /dev/null, stdout, stderr)
 *           only receives output (reading back what the UART wrote, or our own writes
 *           from a FIFO, makes no input)
 *   >NAME   output only: `-` or stdout, stderr, a file (created, appended to), a FIFO
 *   <NAME   input only: `-` or stdin, a file, FIFO, terminal or socket
 *   >|CMD   output into a shell command's standard input (qvm writes `hostdev >"|cmd"`)
 * Returns 0, or reports through vdev_error and returns -1. */
int chardev_hostdev_open(struct vdev *d, const struct vdev_optval *v, struct chardev_hostdev *h);

/* Ends a `>|CMD` shell: its pipe is closed by then; waits briefly, then lets it go. */
void chardev_hostdev_reap(pid_t child);

#endif
