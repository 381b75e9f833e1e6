/* Guest-memory accessors: every (address, length) checked against guest RAM (and ROM for
 * reads). Device memory (shmem data pages, DEVMEM BARs) is refused: the guest can unmap it
 * at any moment, so no device may keep or use a pointer into it (docs/security.md). */
#include <string.h>

#include "internal.h"

void *vdev_gmem_ptr(struct vdev_machine *m, uint64_t gpa, uint64_t len, bool writable)
{
    void *host;
    uint64_t avail;
    if (len == 0 || vdev_bus_translate(m->bus, gpa, writable, &host, &avail) || len > avail)
        return NULL;
    return host;
}

/* Copies across adjacent RAM regions; checks the whole range before the first byte moves,
 * so a failed write leaves guest memory untouched. RAM never moves or goes away while the
 * machine exists, so the second pass sees what the first checked. */
static int copy(struct vdev_machine *m, uint64_t gpa, void *buf, size_t len, bool to_guest)
{
    if (len == 0)
        return 0;
    if (!buf)
        return -1;
    for (uint64_t a = gpa, left = len; left;) {
        void *host;
        uint64_t avail;
        if (vdev_bus_translate(m->bus, a, to_guest, &host, &avail))
            return -1;
        if (avail >= left)
            break;
        if (a + avail < a)
            return -1; /* wraps past the top of the address space */
        a += avail;
        left -= avail;
    }
    uint8_t *p = buf;
    while (len) {
        void *host;
        uint64_t avail;
        if (vdev_bus_translate(m->bus, gpa, to_guest, &host, &avail))
            return -1;
        size_t n = avail < len ? (size_t)avail : len;
        if (to_guest)
            memcpy(host, p, n);
        else
            memcpy(p, host, n);
        p += n;
        gpa += n;
        len -= n;
    }
    return 0;
}

int vdev_gmem_read(struct vdev_machine *m, uint64_t gpa, void *buf, size_t len)
{
    return copy(m, gpa, buf, len, false);
}

int vdev_gmem_write(struct vdev_machine *m, uint64_t gpa, const void *buf, size_t len)
{
    return copy(m, gpa, (void *)buf, len, true);
}
