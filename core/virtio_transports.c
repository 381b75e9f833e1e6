/* The process-wide table of virtio transports, filled when libvdev is loaded: the virtio
 * core finds a device's transport by the kind of its `loc` and never names one. */
#include "internal.h"

#define MAX_TRANSPORTS 4

static pthread_mutex_t transports_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct vdev_virtio_transport *transports[MAX_TRANSPORTS];
static size_t ntransports;

int vdev_virtio_transport_register(const struct vdev_virtio_transport *t)
{
    if (!t || t->size < sizeof(*t) || !t->create)
        return -1;
    int rc = -1;
    pthread_mutex_lock(&transports_lock);
    if (ntransports < MAX_TRANSPORTS && !vdev_virtio_transport_find(t->kind)) {
        transports[ntransports++] = t;
        rc = 0;
    }
    pthread_mutex_unlock(&transports_lock);
    return rc;
}

/* Registration ends before main() (constructors), so lookups need no lock. */
const struct vdev_virtio_transport *vdev_virtio_transport_find(enum vdev_loc_kind kind)
{
    for (size_t i = 0; i < ntransports; i++)
        if (transports[i]->kind == kind)
            return transports[i];
    return NULL;
}
