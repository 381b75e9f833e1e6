/* A serial device's host side: its options and its output (chardev.h); the input is
 * chardev_input.c, the `hostdev` forms chardev_hostdev.c. */
#include "chardev/chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <vdev/config.h>
#include <vdev/events.h>

#include "chardev_hostdev.h"

const struct vdev_option chardev_options[] = {
    {.name = "hostdev",
     .kind = VDEV_OPT_PATH,
     .flags = VDEV_OPT_REPEAT,
     .arg = "[<|>]NAME | - | pty | >\"|COMMAND\"",
     .def = ">stdout",
     .help = "where bytes go (>) and come from (<): a file, terminal, -, pty or a command"},
    {.name = "sched",
     .kind = VDEV_OPT_STRING,
     .arg = "PRIORITY[r|f|o]",
     .help = "qvm's priority for input notifications; accepted, as on 'cpu' lines: input is "
             "read on the core's event thread"},
    {.name = "batch",
     .kind = VDEV_OPT_U64,
     .arg = "MICROSECONDS",
     .help = "qvm's output batching: accepted; every byte is written as the guest sends it, "
             "which is never later than a batch would be",
     .max = 60000000},
    {.name = "delayed",
     .kind = VDEV_OPT_STRING,
     .arg = "SECONDS|forever",
     .help = "qvm's late opening of the host device: refused with a hint (devices are opened "
             "when the VM is built)"},
    {.name = "input",
     .kind = VDEV_OPT_PATH,
     .arg = "PATH|stdin|none",
     .def = "none",
     .help = "where received bytes come from"},
    {.name = NULL},
};

void chardev_init(struct chardev *c, struct vdev *d, const struct chardev_rx *rx, void *ctx)
{
    memset(c, 0, sizeof(*c));
    c->d = d;
    c->rx = rx;
    c->ctx = ctx;
    vdev_host_out_init(&c->out);
    c->in_fd = c->keep_fd = -1;
}

static void close_input(struct chardev *c)
{
    if (c->in_owned)
        close(c->in_fd);
    c->in_owned = false;
    c->in_fd = -1;
}

static void close_output(struct chardev *c)
{
    vdev_host_out_close(&c->out);
    chardev_hostdev_reap(c->out_child);
    c->out_child = 0;
}

/* A `hostdev`: the directions it names replace what earlier ones gave them. */
static int apply_hostdev(struct chardev *c, const struct vdev_optval *v)
{
    struct chardev_hostdev h;
    if (chardev_hostdev_open(c->d, v, &h))
        return -1;
    if (h.set_out) {
        close_output(c);
        c->out.fd = h.out_fd;
        c->out.owned = h.out_owned;
        c->out_child = h.child;
    }
    if (h.set_in) {
        close_input(c);
        c->in_fd = h.in_fd;
        c->in_owned = h.in_owned;
    }
    if (h.keep_fd >= 0) {
        if (c->keep_fd >= 0)
            close(c->keep_fd);
        c->keep_fd = h.keep_fd;
    }
    return 0;
}

static int apply_input(struct chardev *c, const struct vdev_optval *v)
{
    close_input(c);
    if (!strcmp(v->text, "none"))
        return 0;
    if (!strcmp(v->text, "stdin")) {
        c->in_fd = STDIN_FILENO; /* left blocking: its flags are shared with other processes */
        return 0;
    }
    int fd = open(v->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return vdev_error(c->d, v->pos, NULL, "input %s: %s", v->path, strerror(errno));
    c->in_fd = fd;
    c->in_owned = true;
    return 0;
}

int chardev_option(struct chardev *c, const struct vdev_optval *v)
{
    const char *name = v->opt->name;
    if (!strcmp(name, "hostdev"))
        return apply_hostdev(c, v);
    if (!strcmp(name, "input"))
        return apply_input(c, v);
    if (!strcmp(name, "delayed"))
        return vdev_error(c->d, v->pos,
                          "create the host device before the VM starts, or use 'hostdev pty' and "
                          "attach to it later",
                          "option 'delayed': host devices are opened when the VM is built");
    if (!strcmp(name, "sched")) {
        const char *why;
        if (vdev_parse_sched(v->text, NULL, NULL, &why))
            return vdev_error(c->d, v->pos, "e.g. 'sched 10' or 'sched 10r', as on 'cpu' lines",
                              "option 'sched': bad value '%s': %s", v->text, why);
        return 0;
    }
    return 0; /* batch: accepted (every byte is written at once) */
}

void chardev_write(struct chardev *c, uint8_t byte)
{
    c->bytes_out++;
    vdev_host_out_write(c->d, &c->out, &byte, 1);
}

void chardev_close(struct chardev *c)
{
    vdev_unwatch_fd(c->watch);
    c->watch = NULL;
    c->watching = false;
    close_input(c);
    close_output(c);
    if (c->keep_fd >= 0)
        close(c->keep_fd);
    c->keep_fd = -1;
}
