/* virtio-mmio is not written yet (a later issue): a device placed at a memory address gets
 * a clear error instead. */
#include <vdev/virtio_transport.h>

int vdev_virtio_mmio_create(struct vdev *d, struct vdev_virtio *vio, struct vdev_err *err)
{
    (void)d;
    (void)vio;
    return vdev_err_set(err, "virtio over MMIO is not available yet (hint: leave 'loc' out or "
                             "use loc pci:BUS:DEV)");
}
