/* A VFIO device's interrupts as eventfds (VFIO_DEVICE_SET_IRQS). */
#include <errno.h>
#include <linux/vfio.h>
#include <stdlib.h>
#include <string.h>
#include <vfio/vfio_dev.h>

static int set_irqs(struct vfio_dev *d, unsigned irq, uint32_t flags, unsigned start,
                    unsigned count, const int32_t *fds)
{
    size_t len = sizeof(struct vfio_irq_set) + (size_t)count * sizeof(int32_t);
    struct vfio_irq_set *s = calloc(1, len);
    if (!s)
        return -1;
    s->argsz = (uint32_t)len;
    s->flags = flags;
    s->index = irq;
    s->start = start;
    s->count = count;
    if (count)
        memcpy(s->data, fds, (size_t)count * sizeof(int32_t));
    int rc = d->be->ioctl(d->be->ctx, d->device, VFIO_DEVICE_SET_IRQS, s) ? -1 : 0;
    free(s);
    return rc;
}

int vfio_irq_set_eventfds(struct vfio_dev *d, unsigned irq, unsigned start, unsigned count,
                          const int32_t *fds)
{
    if (irq >= VFIO_NIRQ_KINDS || start > d->irq_count[irq] || count > d->irq_count[irq] - start ||
        (count && !fds) || d->irq_count[irq] == 0) {
        errno = EINVAL;
        return -1;
    }
    if (count == 0)
        return set_irqs(d, irq, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0, NULL);
    return set_irqs(d, irq, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, start, count,
                    fds);
}

int vfio_irq_intx_unmask_fd(struct vfio_dev *d, int fd)
{
    if (d->irq_count[VFIO_IRQ_INTX] == 0) {
        errno = EINVAL;
        return -1;
    }
    int32_t f = fd;
    return set_irqs(d, VFIO_IRQ_INTX, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK, 0, 1,
                    &f);
}
