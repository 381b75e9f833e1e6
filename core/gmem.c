/* Guest-memory accessors: every (address, length) checked against host-backed regions. */
#include <string.h>

#include "internal.h"

/* The host-backed region holding gpa and how many bytes of it follow gpa; NULL if none. */
static struct vdev_region *backed_at(struct vdev_machine *m, uint64_t gpa, bool writable,
                                     uint64_t *avail)
{
    struct vdev_region *r = vdev_bus_find(m->bus, VDEV_SPACE_MEM, gpa);
    if (!r || !r->host)
        return NULL;
    if (r->kind != VDEV_REGION_RAM && r->kind != VDEV_REGION_DEVMEM &&
        !(r->kind == VDEV_REGION_ROM && !writable))
        return NULL;
    *avail = r->size - (gpa - r->base);
    return r;
}

void *vdev_gmem_ptr(struct vdev_machine *m, uint64_t gpa, uint64_t len, bool writable)
{
    uint64_t avail;
    if (len == 0)
        return NULL;
    struct vdev_region *r = backed_at(m, gpa, writable, &avail);
    if (!r || len > avail)
        return NULL;
    return (uint8_t *)r->host + (gpa - r->base);
}

/* Checks that all of [gpa, gpa+len) is backed, across adjacent regions. */
static bool all_backed(struct vdev_machine *m, uint64_t gpa, size_t len, bool writable)
{
    while (len) {
        uint64_t avail;
        if (!backed_at(m, gpa, writable, &avail))
            return false;
        if (avail >= len)
            return true;
        if (gpa + avail < gpa)
            return false; /* wraps past the top of the address space */
        gpa += avail;
        len -= avail;
    }
    return true;
}

static int copy(struct vdev_machine *m, uint64_t gpa, void *buf, size_t len, bool to_guest)
{
    if (len == 0)
        return 0;
    if (!all_backed(m, gpa, len, to_guest))
        return -1;
    uint8_t *p = buf;
    while (len) {
        uint64_t avail;
        struct vdev_region *r = backed_at(m, gpa, to_guest, &avail);
        if (!r)
            return -1; /* the map changed under us; the first check makes this rare */
        size_t n = avail < len ? (size_t)avail : len;
        uint8_t *h = (uint8_t *)r->host + (gpa - r->base);
        if (to_guest)
            memcpy(h, p, n);
        else
            memcpy(p, h, n);
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
