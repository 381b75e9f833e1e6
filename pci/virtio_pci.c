/* Placeholder until the virtio-pci transport lands: it replaces this file. */
#include <vdev/virtio_transport.h>

int vdev_virtio_pci_create(struct vdev *d, struct vdev_virtio *vio, struct vdev_err *err)
{
    (void)d;
    (void)vio;
    return vdev_err_set(err, "virtio over PCI is not available yet");
}
