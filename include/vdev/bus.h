/* The guest-physical memory map and the port-I/O map, and access dispatch.
 *
 * Every window of the machine is a region: RAM, ROM, reserved (platform areas and
 * `reserve loc`), device windows that trap to a handler, and device memory backed by host
 * memory. Regions never overlap inside one space; adding an overlapping one fails with a
 * message naming both. Lookups use a sorted snapshot of copies and binary search, and are
 * lock-free so vCPU threads can dispatch while a region moves (a PCI BAR being
 * reprogrammed): each sees the map before or after the change, never a mix; replaced
 * snapshots are freed once no lookup can see them (docs/security.md).
 */
#ifndef VDEV_BUS_H
#define VDEV_BUS_H

#include <vdev/export.h>
#include <vdev/types.h>

#ifdef __cplusplus
extern "C" {
#endif

enum vdev_region_kind {
    VDEV_REGION_RAM,      /* guest RAM, host-backed */
    VDEV_REGION_ROM,      /* read-only memory, host-backed */
    VDEV_REGION_RESERVED, /* nothing of ours answers (LAPIC, IOAPIC, `reserve loc`) */
    VDEV_REGION_DEVICE,   /* trapped: accesses go to ops */
    VDEV_REGION_DEVMEM,   /* device memory backed by host memory (mapped, no exits) */
    VDEV_REGION_WINDOW,   /* holds child regions (vdev_region_add_child); the rest is empty */
};

struct vdev_region;
struct vdev_bus;

struct vdev_region_ops {
    size_t size; /* sizeof(struct vdev_region_ops); nothing beyond it is read */
    uint64_t (*read)(void *opaque, uint64_t offset, unsigned size);
    void (*write)(void *opaque, uint64_t offset, unsigned size, uint64_t value);
    unsigned sizes; /* accepted sizes: bit n = 2^n bytes; 0 means all of 1, 2, 4, 8 */
};

struct vdev_region_desc {
    const char *owner; /* who, for messages: "ser8250 'console'", "ram", "ioapic" */
    enum vdev_space space;
    enum vdev_region_kind kind;
    uint64_t base, size;
    const struct vdev_region_ops *ops; /* DEVICE */
    void *opaque;                      /* passed to ops */
    void *host;                        /* RAM/ROM/DEVMEM host mapping; may be set later */
};

/* Read-only view of a region for embedders and printing. */
struct vdev_region_info {
    const char *owner;
    enum vdev_space space;
    enum vdev_region_kind kind;
    uint64_t base, size;
    void *host;
    bool enabled;
};

enum vdev_access_result {
    VDEV_ACCESS_OK = 0,
    VDEV_ACCESS_UNMAPPED,  /* nothing there: reads give all ones, writes are dropped */
    VDEV_ACCESS_BAD_SIZE,  /* the device does not take that size or it crosses its end */
    VDEV_ACCESS_READ_ONLY, /* a write to ROM: dropped */
    VDEV_ACCESS_INVAL,     /* value was NULL: nothing was accessed */
};

VDEV_API struct vdev_bus *vdev_bus_new(void);
VDEV_API void vdev_bus_free(struct vdev_bus *bus);

/* Adds a region; fails on overlap ("… overlaps ram 0x0-0x3fffffff"), zero size or a
 * range that wraps. */
VDEV_API int vdev_bus_add(struct vdev_bus *bus, const struct vdev_region_desc *desc,
                          struct vdev_region **out, struct vdev_err *err);
/* Moves a region to a new base (same checks as add). On failure it stays where it was. */
VDEV_API int vdev_region_move(struct vdev_region *r, uint64_t new_base, struct vdev_err *err);
/* A disabled region is kept but answers nothing (a PCI BAR with decoding off). Enabling
 * checks for overlaps again. */
VDEV_API int vdev_region_set_enabled(struct vdev_region *r, bool enabled, struct vdev_err *err);
/* Removes r (a window with its children). When it returns, no access of the bus reads r's
 * host memory any more (the owner may unmap it) and the pointer r is no longer valid.
 * Guest RAM and ROM cannot be moved, turned off or removed while the machine exists (the
 * calls fail, remove does nothing): devices keep pointers into them (vdev_gmem_ptr). */
VDEV_API void vdev_region_remove(struct vdev_region *r);
/* Adds a DEVICE or DEVMEM region inside window `window` (a VDEV_REGION_WINDOW region);
 * desc->base is the offset from the window's start. Children never overlap each other but
 * may appear and go at any time (shared-memory apertures); they move, turn on and off with
 * their window, and a DEVMEM child is mapped at window base + offset while both are
 * enabled. Children cannot be moved on their own; vdev_region_remove() removes one. */
VDEV_API int vdev_region_add_child(struct vdev_region *window, const struct vdev_region_desc *desc,
                                   struct vdev_region **out, struct vdev_err *err);
/* Sets the host memory behind a RAM/ROM/DEVMEM region. Guest RAM and ROM get it once;
 * for device memory, when it returns, the old mapping is no longer read. */
VDEV_API void vdev_region_set_host(struct vdev_region *r, void *host);
VDEV_API void vdev_region_get_info(const struct vdev_region *r, struct vdev_region_info *out);

/* Calls fn for each region of `space` in address order (enabled or not); children of
 * windows are not listed. */
VDEV_API void vdev_bus_foreach(struct vdev_bus *bus, enum vdev_space space,
                               void (*fn)(const struct vdev_region_info *r, void *arg), void *arg);

/* The enabled region containing addr, or NULL. The pointer stays valid until the region is
 * removed; its owner decides when that is. */
VDEV_API struct vdev_region *vdev_bus_find(struct vdev_bus *bus, enum vdev_space space,
                                           uint64_t addr);

/* Lowest base >= `from`, aligned to `align` (a power of two), where `size` bytes fit
 * below `limit` without touching any region. Returns 0 on success, -1 when there is no
 * such place or out is NULL. */
VDEV_API int vdev_bus_find_free(struct vdev_bus *bus, enum vdev_space space, uint64_t from,
                                uint64_t limit, uint64_t size, uint64_t align, uint64_t *out);

/* Dispatches one access of `size` (1, 2, 4 or 8) bytes. For reads *value receives the
 * result (all ones when unmapped); for writes *value is the data. A NULL value accesses
 * nothing and returns VDEV_ACCESS_INVAL. */
VDEV_API enum vdev_access_result vdev_bus_access(struct vdev_bus *bus, enum vdev_space space,
                                                 uint64_t addr, unsigned size, bool is_write,
                                                 uint64_t *value);

VDEV_API const char *vdev_region_kind_name(enum vdev_region_kind kind);

#ifdef __cplusplus
}
#endif
#endif
