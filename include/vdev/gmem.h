/* Guest memory as devices see it: the only way a device touches guest RAM.
 *
 * Every (address, length) is checked against the RAM/ROM/device-memory regions of the
 * memory map, including address + length overflow; nothing outside one host-backed
 * region is ever read or written. A guest-controlled address that fails the check is a
 * guest error for the device to handle, never a crash.
 */
#ifndef VDEV_GMEM_H
#define VDEV_GMEM_H

#include <vdev/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vdev_machine;

/* Host pointer for [gpa, gpa+len) when it lies inside one host-backed region (RAM, and
 * for reads also ROM); NULL otherwise. `writable` refuses ROM. len 0 is refused. */
void *vdev_gmem_ptr(struct vdev_machine *m, uint64_t gpa, uint64_t len, bool writable);

/* Copies, possibly across adjacent regions. Return 0, or -1 if any byte is outside
 * host-backed guest memory (then nothing is written to the guest). */
int vdev_gmem_read(struct vdev_machine *m, uint64_t gpa, void *buf, size_t len);
int vdev_gmem_write(struct vdev_machine *m, uint64_t gpa, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
