/* Host files a device writes to, named by an option (`hostdev`, `results`, a capture):
 * "stdout", "stderr", or a file that is created if needed and appended to. */
#ifndef VDEV_HOSTIO_H
#define VDEV_HOSTIO_H

#include <vdev/export.h>
#include <vdev/module.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vdev_host_out {
    int fd;
    bool owned;  /* opened by us: closed by vdev_host_out_close */
    bool failed; /* a write failed; logged once */
};

/* Standard output, until an option says otherwise. */
VDEV_API void vdev_host_out_init(struct vdev_host_out *o);
/* Opens what option value `v` names (its text, or its resolved path), replacing the current
 * one: a repeated option, the last wins. A FIFO without a reader is an error, not a hang.
 * Returns 0, or reports through vdev_error naming the option and returns -1. */
VDEV_API int vdev_host_out_open(struct vdev *d, struct vdev_host_out *o,
                                const struct vdev_optval *v);
/* Writes all of buf (waiting while a pipe is full). On failure, logs once and returns -1. */
VDEV_API int vdev_host_out_write(struct vdev *d, struct vdev_host_out *o, const void *buf,
                                 size_t len);
VDEV_API void vdev_host_out_close(struct vdev_host_out *o);

#ifdef __cplusplus
}
#endif
#endif
