/* A module built against a future ABI: the loader must refuse it without reading further. */
#include <vdev/module.h>

__attribute__((visibility("default"))) const struct vdev_type vdev_module_badabi = {
    .abi_version = 42,
    .type_size = sizeof(struct vdev_type),
    .name = "badabi",
    .summary = "refused by the loader",
};
