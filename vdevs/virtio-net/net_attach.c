/* The NIC's virtio transport: the one its `loc` asks for (virtio-pci or virtio-mmio). The
 * white-box tests link the module as an archive and define net_virtio_attach themselves (a
 * fake transport), which keeps this file out of their link. */
#include <vdev/virtio.h>

#include "net.h"

struct vdev_virtio *net_virtio_attach(struct vdev *d, const struct vdev_virtio_ops *ops,
                                      void *opaque, struct vdev_err *err)
{
    return vdev_virtio_attach(d, ops, opaque, err);
}
