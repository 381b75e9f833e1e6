/* The vdevkit release a program was built against, and the one it runs with.
 *
 * Compile time:  #if VDEV_VERSION_CHECK(0, 3, 0)  ... use an API added in 0.3 ... #endif
 * Run time:      vdev_version() / vdev_version_number() of the loaded libvdev, which may be
 *                newer than the headers (never older than the symbol versions it needs).
 */
#ifndef VDEV_VERSION_H
#define VDEV_VERSION_H

#include <vdev/export.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VDEV_VERSION_MAJOR 0
#define VDEV_VERSION_MINOR 2
#define VDEV_VERSION_PATCH 0

/* One number per release: 0x00MMmmpp. */
#define VDEV_VERSION_ENCODE(maj, min, pat) (((maj) << 16) | ((min) << 8) | (pat))
#define VDEV_VERSION_NUMBER                                                                        \
    VDEV_VERSION_ENCODE(VDEV_VERSION_MAJOR, VDEV_VERSION_MINOR, VDEV_VERSION_PATCH)
/* True when these headers are release maj.min.pat or later. */
#define VDEV_VERSION_CHECK(maj, min, pat)                                                          \
    (VDEV_VERSION_NUMBER >= VDEV_VERSION_ENCODE(maj, min, pat))

/* The running library's release: "0.2.0". */
VDEV_API const char *vdev_version(void);
/* The same as VDEV_VERSION_ENCODE(major, minor, patch). */
VDEV_API unsigned vdev_version_number(void);

#ifdef __cplusplus
}
#endif
#endif
