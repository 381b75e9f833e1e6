/* Guest image files, for every architecture: reading one whole, and telling its kind by
 * its first bytes (the loaders check the rest when they place it). */
#ifndef VMM_IMAGE_H
#define VMM_IMAGE_H

#include <stddef.h>
#include <vdev/vdev.h>

enum image_kind {
    IMAGE_UNKNOWN,
    IMAGE_BZIMAGE, /* x86 Linux bzImage ("HdrS" at 0x202) */
    IMAGE_ELF64,   /* a 64-bit ELF */
    IMAGE_ARM64,   /* an arm64 Linux Image ("ARM\x64" at 56) */
};

/* Bytes image_kind_of needs to tell every kind apart. */
#define IMAGE_KIND_HEAD 0x400

/* Reads a whole file (at most `max` bytes); NULL with err set. */
void *load_file(const char *path, size_t max, size_t *len, struct vdev_err *err);
enum image_kind image_kind_of(const void *data, size_t len);

#endif
