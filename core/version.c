/* The library's release, for embedders and modules that check features at run time. */
#include <vdev/version.h>

#define STR_(x) #x
#define STR(x)  STR_(x)

const char *vdev_version(void)
{
    return STR(VDEV_VERSION_MAJOR) "." STR(VDEV_VERSION_MINOR) "." STR(VDEV_VERSION_PATCH);
}

unsigned vdev_version_number(void)
{
    return VDEV_VERSION_NUMBER;
}
