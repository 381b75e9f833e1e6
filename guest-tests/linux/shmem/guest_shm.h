/* The guest_shm interface of `vdev shmem`, as a guest sees it (written for vdevkit from the
 * public facts: docs/shmem.md, /work/shared/reference/qvm-facts.md section 3).
 *
 * A factory page (PCI: BAR0 of vendor 0x1C05 device 0x0001; MMIO: at the device's `loc`)
 * creates or attaches named regions. A region is `size + 1` pages at the address the factory
 * reports in `shmem`: a control page, then the data pages.
 *
 * The factory and control pages are trapped by the VMM: access their fields one at a time
 * with a single aligned volatile load or store of the field's width (no memcpy, no wider or
 * narrower accesses). The data pages are ordinary memory.
 */
#ifndef GUEST_SHM_H
#define GUEST_SHM_H

#include <stdint.h>

#define GUEST_SHM_PCI_VENDOR 0x1C05u
#define GUEST_SHM_PCI_DEVICE 0x0001u
#define GUEST_SHM_COMPATIBLE "qvm,guest_shm" /* device tree / ACPI _DSD */

#define GUEST_SHM_PAGE_SIZE   4096u
#define GUEST_SHM_SIGNATURE   0x4d534732474d5651ull /* "QVMG2GSM" read as a little-endian u64 */
#define GUEST_SHM_NAME_MAX    32u                   /* bytes of `name`, NUL included */
#define GUEST_SHM_MAX_CLIENTS 16u

/* Factory page field offsets (little-endian, naturally aligned). */
#define GUEST_SHM_F_SIGNATURE 0x00u /* u64 RO */
#define GUEST_SHM_F_SHMEM     0x08u /* u64 RO: control page of the region last created/attached */
#define GUEST_SHM_F_VECTOR    0x10u /* u32 RO: interrupt number */
#define GUEST_SHM_F_STATUS    0x14u /* u32 RO: enum guest_shm_status of the last request */
#define GUEST_SHM_F_SIZE      0x18u /* u32 RW: pages; writing creates or attaches `name` */
#define GUEST_SHM_F_NAME      0x1Cu /* char[32] RW */
#define GUEST_SHM_F_FIND      0x3Cu /* u32 WO: attach `name` only if it exists */

/* Control page field offsets (each region has its own). */
#define GUEST_SHM_C_STATUS                                                                         \
    0x0u                        /* u32 RO: low 16 bits who notified me (read clears them),         \
                                   high 16 bits the attached clients */
#define GUEST_SHM_C_IDX    0x4u /* u32 RO: my client index, 0..15 */
#define GUEST_SHM_C_NOTIFY 0x8u /* u32 WO: bitmap of clients to interrupt; ~0 = all but me */
#define GUEST_SHM_C_DETACH 0xCu /* u32 WO: any write detaches this client */

#define GUEST_SHM_NOTIFY_OTHERS       0xFFFFFFFFu
#define GUEST_SHM_STATUS_NOTIFIERS(s) ((s)&0xFFFFu)
#define GUEST_SHM_STATUS_ATTACHED(s)  ((s) >> 16)

enum guest_shm_status {
    GUEST_SHM_OK = 0,
    GUEST_SHM_UNKNOWN_FAILURE = 1,
    GUEST_SHM_NO_MEMORY = 2,
    GUEST_SHM_CLIENT_MAX = 3,
    GUEST_SHM_ILLEGAL_NAME = 4,
    GUEST_SHM_NO_PERMISSION = 5,
    GUEST_SHM_DOES_NOT_EXIST = 6,
};

#endif
