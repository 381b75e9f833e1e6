/* The host side of a serial device (vdev-ser8250, vdev-pl011): where the bytes it transmits
 * go and where the bytes it receives come from, in qvm's forms (`hostdev`, `input`), and the
 * other options qvm gives its UARTs (`sched`, `batch`, `delayed`).
 *
 * Host input never overruns the device: bytes read from the host wait in a small buffer
 * (CHARDEV_IN_BUF) until the device's receiver has room, and the host is not read again
 * until they are delivered. The event thread reads when the input fd is readable; while
 * bytes are still pending it stops watching (a readable fd would otherwise wake it again
 * and again), and the vCPU side, which frees receiver space, delivers them and reads on
 * without blocking (poll with zero timeout). Once the host has nothing more the fd is
 * watched again. A regular file cannot be watched (epoll refuses it) and never blocks, so
 * it is only ever read from the vCPU side, as the guest drains the receiver.
 *
 * Threads: chardev_init, chardev_option, chardev_configured and chardev_close run on the
 * build thread (or after the VM stopped); every other call is made with the device's own
 * lock held, and the library calls the receiver's hooks only from those calls.
 */
#ifndef CHARDEV_CHARDEV_H
#define CHARDEV_CHARDEV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <vdev/hostio.h>
#include <vdev/module.h>

#define CHARDEV_IN_BUF 256 /* host bytes read but not yet in the receiver */

/* The device's receiver, which host input feeds. */
struct chardev_rx {
    /* False while the receiver takes no input (loopback, disabled, the guest not listening
     * yet): host bytes wait, and the host is not read. */
    bool (*listening)(void *ctx);
    /* True when one more byte fits now. */
    bool (*has_room)(void *ctx);
    /* One byte into the receiver (called only after has_room said yes). */
    void (*put)(void *ctx, uint8_t byte);
};

struct vdev_watch;

struct chardev {
    struct vdev *d;
    const struct chardev_rx *rx;
    void *ctx;

    /* output: `hostdev` (default standard output) */
    struct vdev_host_out out;
    pid_t out_child; /* `hostdev >"|cmd"`: the shell, or 0 */
    int keep_fd;     /* `hostdev pty`: the terminal side, held open, or -1 */

    /* input: `hostdev <`, `input` */
    int in_fd;
    bool in_owned, in_eof;
    bool in_regular;          /* a regular file: read on demand, never watched */
    struct vdev_watch *watch; /* made once; paused while host bytes wait for room */
    bool watching;
    uint8_t in_buf[CHARDEV_IN_BUF];
    unsigned in_off, in_len;

    uint64_t bytes_in, bytes_out; /* delivered to the receiver; written to the host */
};

/* The options of a serial device, its whole option table (`.options = chardev_options`):
 * hostdev, sched, batch, delayed, input; chardev_option() takes each of them. */
extern const struct vdev_option chardev_options[];

/* Standard output and no input, for device d whose receiver is rx (with ctx). */
void chardev_init(struct chardev *c, struct vdev *d, const struct chardev_rx *rx, void *ctx);

/* One of chardev_options (any other is ignored): opens what `hostdev` or `input`
 * names (nothing is created or started under dryrun), checks `sched`, refuses `delayed`.
 * Returns 0, or reports through vdev_error and returns -1. */
int chardev_option(struct chardev *c, const struct vdev_optval *v);

/* The machine is complete: watches the input (unless it is a regular file). ready is the
 * device's callback for the event thread: it takes the device's lock, calls
 * chardev_input_ready and updates the device's interrupt. 0, or -1 after vdev_error. */
int chardev_configured(struct chardev *c, void (*ready)(void *opaque, int fd), void *opaque);

/* Event thread (ready's work): reads what the host has and delivers what fits. */
void chardev_input_ready(struct chardev *c);

/* vCPU side, after the receiver made room or started listening: delivers pending host bytes
 * and reads on while the event thread is not watching. */
void chardev_input_feed(struct chardev *c);

/* One transmitted byte to the host. */
void chardev_write(struct chardev *c, uint8_t byte);

/* Stops watching and closes what the options opened (the command's shell is reaped). */
void chardev_close(struct chardev *c);

#endif
