/* Grace periods for the lock-free readers of the memory map (epoch-based reclamation).
 *
 * A reader brackets each lookup with vdev_epoch_enter/leave: short sections that never
 * block, never take a lock and never call out to device code. A writer that unpublishes an
 * object (a map snapshot, a removed region) frees it only once every section that could
 * have seen it has ended: vdev_epoch_retire() queues it, vdev_epoch_synchronize() waits.
 * One epoch domain serves the whole process (every machine); threads take a reader slot on
 * their first section and give it back when they exit.
 */
#ifndef VDEV_EPOCH_H
#define VDEV_EPOCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void vdev_epoch_enter(void); /* nests */
void vdev_epoch_leave(void);
bool vdev_epoch_in_section(void);

/* Waits until every section that was open when it was called has ended (other threads'
 * only: the caller's own open section, if any, holds copies, not the retired objects). */
void vdev_epoch_synchronize(void);

/* Deferred frees: a list owned by one writer (under that writer's lock). */
struct vdev_retired {
    void *ptr;
    void (*free_fn)(void *);
    uint64_t epoch; /* sections begun at or after this epoch cannot see ptr */
};

struct vdev_retire_list {
    struct vdev_retired *items;
    size_t n, cap;
};

/* Queues ptr (already unreachable for new sections) and frees whatever is safe. When more
 * than VDEV_RETIRE_MAX wait, synchronizes first: the list stays bounded whatever a guest does. */
#define VDEV_RETIRE_MAX 64
void vdev_epoch_retire(struct vdev_retire_list *l, void *ptr, void (*free_fn)(void *));
/* Frees what no section can see any more; with `wait`, synchronizes first (then only what
 * the caller's own open section might hold stays queued) and, once the list is empty,
 * releases its array: the owner's last call (the array is kept between map changes). */
void vdev_epoch_reclaim(struct vdev_retire_list *l, bool wait);

#endif
