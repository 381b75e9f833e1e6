/* The NIC side of a packet capture: what is recorded, starting and stopping, the control
 * command.
 *
 * Recorded are the frames that cross the link, as they cross it: what this NIC put on the
 * peer link (after its software conversions, so a frame segmented here appears as its
 * segments and a GSO frame passed through as one frame of up to 64 KiB) and what it
 * delivered to its guest. Dropped frames are not recorded (the counters say how many).
 *
 * The capture pointer changes only under run_lock, which the data thread holds whenever
 * it moves frames: a start or stop from the control socket waits for the current batch at
 * most, and the data thread reads the pointer with no atomics at all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "net_capture.h"

static void set_shown(struct net *n, const char *path)
{
    char *copy = path ? strdup(path) : NULL; /* out of memory: the status line omits it */
    pthread_mutex_lock(&n->cfg_lock);
    free(n->cap_shown);
    n->cap_shown = copy;
    pthread_mutex_unlock(&n->cfg_lock);
}

/* The file failed: one log line, the capture ends, the NIC goes on. */
static void capture_failed(struct net *n)
{
    vdev_log(n->d, VDEV_LOG_ERROR, "capture to %s stopped after %llu frames: %s",
             net_capture_path(n->cap), (unsigned long long)net_capture_frames(n->cap),
             net_capture_error(n->cap));
    net_capture_close(n->cap, NULL);
    n->cap = NULL;
    set_shown(n, NULL);
}

void net_capture_record(struct net *n, const uint8_t *frame, size_t len)
{
    if (net_capture_frame(n->cap, frame, len))
        capture_failed(n);
}

void net_capture_idle(struct net *n)
{
    if (n->cap && net_capture_flush(n->cap))
        capture_failed(n);
}

int net_capture_set(struct net *n, const char *path, char *reply, size_t len)
{
    struct net_capture *c = NULL;
    if (path) {
        struct vdev_err err = {0};
        c = net_capture_open(path, &err);
        if (!c) {
            snprintf(reply, len, "%s", err.msg);
            return -1;
        }
    }
    pthread_mutex_lock(&n->run_lock);
    struct net_capture *old = n->cap;
    n->cap = c;
    set_shown(n, path);
    pthread_mutex_unlock(&n->run_lock);

    if (!old) {
        if (path)
            snprintf(reply, len, "capturing to %s", path);
        else
            snprintf(reply, len, "no capture was running");
        if (path)
            vdev_info(n->d, "capture to %s started", path);
        return 0;
    }
    /* the data thread no longer sees `old`: finish it here */
    char *old_path = strdup(net_capture_path(old));
    unsigned long long frames = (unsigned long long)net_capture_frames(old);
    struct vdev_err err = {0};
    int rc = net_capture_close(old, &err);
    const char *op = old_path ? old_path : "the previous file";
    if (rc)
        snprintf(reply, len, "%s", err.msg);
    else if (path)
        snprintf(reply, len, "capturing to %s (%s closed: %llu frames)", path, op, frames);
    else
        snprintf(reply, len, "capture stopped: %llu frames in %s", frames, op);
    vdev_info(n->d, "capture to %s stopped: %llu frames%s", op, frames, rc ? " (write error)" : "");
    if (path && !rc)
        vdev_info(n->d, "capture to %s started", path);
    free(old_path);
    return rc ? -1 : 0;
}

int net_control(struct vdev *d, int argc, char **argv, char *reply, size_t len)
{
    struct net *n = vdev_state(d);
    if (argc < 1 || strcmp(argv[0], "capture") != 0) {
        snprintf(reply, len, "virtio-net takes 'capture FILE|off' only");
        return -1;
    }
    if (argc != 2 || !argv[1][0]) {
        snprintf(reply, len, "usage: capture NAME FILE|off");
        return -1;
    }
    if (!n->thread_started) {
        snprintf(reply, len, "the NIC is not running");
        return -1;
    }
    return net_capture_set(n, strcmp(argv[1], "off") == 0 ? NULL : argv[1], reply, len);
}
