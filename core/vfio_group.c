/* A passed host device's VFIO group, handed to the embedder (vdev_vfio_group). */
#include "internal.h"

int vdev_vfio_group(struct vdev *d, int group_fd, bool add)
{
    if (!d || group_fd < 0 || !EMB_HOOK(d->m, vfio_group))
        return -1;
    return EMB_HOOK(d->m, vfio_group)(d->m->ctx, group_fd, add) ? -1 : 0;
}
