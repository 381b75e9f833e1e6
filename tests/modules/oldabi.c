/* A module of vdev ABI 1 (before every ops table carried its size): the loader must refuse
 * it, naming the module and both versions. Only abi_version is read, so the rest of the
 * layout does not matter. */
#include <vdev/module.h>

__attribute__((visibility("default"))) const struct vdev_type vdev_module_oldabi = {
    .abi_version = 1,
    .type_size = sizeof(struct vdev_type),
    .name = "oldabi",
    .summary = "refused by the loader",
};
