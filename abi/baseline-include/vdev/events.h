/* Doorbells and interrupt fds: the two exitless paths between a guest and a device.
 *
 * A doorbell is a guest write that signals an eventfd (virtio queue notify). When the
 * embedder can bind it (ioeventfd) the write never leaves the kernel; otherwise the core
 * traps it and signals the same eventfd, so the device sees the same thing either way.
 * An irqfd is an eventfd that raises an interrupt when written; bound by the embedder
 * (KVM irqfd) or serviced by the core's event thread.
 */
#ifndef VDEV_EVENTS_H
#define VDEV_EVENTS_H

#include <vdev/export.h>
#include <vdev/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vdev;
struct vdev_doorbell;
struct vdev_irqfd;

struct vdev_doorbell_desc {
    enum vdev_space space;
    uint64_t addr; /* absolute guest address; must lie inside one of the device's windows */
    unsigned len;  /* access size that rings it: 1, 2, 4 or 8 */
    bool match;    /* ring only when the written value equals `data` */
    uint64_t data;
    /* Called on the core's event thread when rung; NULL if the device polls the fd itself. */
    void (*fire)(void *opaque);
    void *opaque;
};

VDEV_API int vdev_doorbell_add(struct vdev *d, const struct vdev_doorbell_desc *desc,
                               struct vdev_doorbell **out, struct vdev_err *err);
VDEV_API int vdev_doorbell_fd(const struct vdev_doorbell *db);
/* True when the embedder bound it (a ring costs no VM exit). */
VDEV_API bool vdev_doorbell_exitless(const struct vdev_doorbell *db);
/* Moves the doorbell to `new_addr` (its window moved: the guest reprogrammed a BAR). */
VDEV_API int vdev_doorbell_move(struct vdev_doorbell *db, uint64_t new_addr, struct vdev_err *err);
VDEV_API void vdev_doorbell_remove(struct vdev_doorbell *db);

/* An irqfd for the device's `intr` line (level with resample when `level`). */
VDEV_API struct vdev_irqfd *vdev_irqfd_line(struct vdev *d, bool level, struct vdev_err *err);
/* An irqfd for an MSI; the message may change later (the guest reprograms the vector). */
VDEV_API struct vdev_irqfd *vdev_irqfd_msi(struct vdev *d, const struct vdev_msi *msi,
                                           struct vdev_err *err);
VDEV_API int vdev_irqfd_set_msi(struct vdev_irqfd *f, const struct vdev_msi *msi);
/* Raises the interrupt (write 1 to the eventfd; safe from any thread). */
VDEV_API void vdev_irqfd_trigger(struct vdev_irqfd *f);
/* For a level irqfd: the fd the embedder signals at EOI, or -1. */
VDEV_API int vdev_irqfd_resample_fd(const struct vdev_irqfd *f);
VDEV_API bool vdev_irqfd_exitless(const struct vdev_irqfd *f);
/* The eventfd itself: a write by anyone (another process that got a copy) raises the
 * interrupt while the irqfd is bound. Owned by the irqfd: do not close it. */
VDEV_API int vdev_irqfd_fd(const struct vdev_irqfd *f);
/* Unbinds (false) or binds again (true): while unbound a write only adds to the eventfd's
 * count (the embedder's binding is removed, or the event thread's watch paused). Binding
 * again with a count pending raises the interrupt once (KVM_IRQFD polls the eventfd when
 * it assigns; epoll reports it at once); use vdev_irqfd_take first to consume it instead.
 * Not thread-safe against itself or vdev_irqfd_set_msi: the owner serialises them. */
VDEV_API int vdev_irqfd_set_bound(struct vdev_irqfd *f, bool bound);
/* Unbound only: reads and clears the count; true when something was written. */
VDEV_API bool vdev_irqfd_take(struct vdev_irqfd *f);
VDEV_API void vdev_irqfd_free(struct vdev_irqfd *f);

/* Watches a host fd on the core's event thread: `fn` runs there each time it is readable
 * (console input, a host socket). The fd must be pollable (a pipe, tty, socket, eventfd):
 * regular files and /dev/null are refused. Any thread may call these, including `fn`
 * itself. Returns a handle, or NULL with err set. */
struct vdev_watch;
VDEV_API struct vdev_watch *vdev_watch_fd(struct vdev *d, int fd, void (*fn)(void *opaque, int fd),
                                          void *opaque, struct vdev_err *err);
/* Pauses or resumes a watch (flow control: stop reading while the device is full). */
VDEV_API void vdev_watch_set_enabled(struct vdev_watch *w, bool enabled);
VDEV_API void vdev_unwatch_fd(struct vdev_watch *w);

#ifdef __cplusplus
}
#endif
#endif
