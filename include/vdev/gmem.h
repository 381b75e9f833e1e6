/* Guest memory as devices see it: the only way a device touches guest RAM.
 *
 * Every (address, length) is checked against the guest RAM regions of the memory map (and
 * ROM, for reads), including address + length overflow; nothing outside one of them is
 * ever read or written. Device memory (a DEVMEM BAR, shmem data pages) is refused: the
 * guest can unmap it at any moment, while RAM stays mapped as long as the machine, so a
 * pointer from vdev_gmem_ptr() may be kept until the device stops. A guest-controlled
 * address that fails the check is a guest error for the device to handle (NEEDS_RESET, a
 * dropped buffer), never a crash. See docs/security.md.
 */
#ifndef VDEV_GMEM_H
#define VDEV_GMEM_H

#include <vdev/export.h>
#include <vdev/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vdev_machine;

/* Host pointer for [gpa, gpa+len) when it lies inside one RAM region (for reads also
 * ROM); NULL otherwise. `writable` refuses ROM. len 0 is refused. */
VDEV_API void *vdev_gmem_ptr(struct vdev_machine *m, uint64_t gpa, uint64_t len, bool writable);

/* Copies, possibly across adjacent regions. Return 0, or -1 if any byte is outside
 * guest RAM (ROM too for reads) or buf is NULL; then nothing is written to the guest. */
VDEV_API int vdev_gmem_read(struct vdev_machine *m, uint64_t gpa, void *buf, size_t len);
VDEV_API int vdev_gmem_write(struct vdev_machine *m, uint64_t gpa, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
