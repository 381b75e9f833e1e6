/* virtio-pci queue notifications (virtio 1.2 §4.1.4.4): one doorbell per queue at
 * BAR 0 + VPCI_NOTIFY_OFF + 4 * q. With KVM a doorbell is an ioeventfd, so a kick never
 * leaves the kernel; otherwise the core traps the write and signals the same eventfd.
 *
 * A trapped doorbell must lie inside an enabled window, so the doorbells are created when
 * the guest first enables BAR 0 and follow it when it moves. While the BAR is disabled they
 * stay where they were (there is no "park" call; a stray write there only causes a spurious
 * kick, which drivers tolerate). */
#include "virtio_pci.h"

static uint64_t bell_addr(uint64_t base, unsigned q)
{
    return base + VPCI_NOTIFY_OFF + (uint64_t)VPCI_NOTIFY_MULT * q;
}

static void create_doorbells(struct vpci *t, uint64_t base)
{
    struct vdev_err err;
    for (unsigned q = 0; q < t->nq; q++) {
        /* Linux writes the 16-bit queue index (iowrite16); no value match, any index rings
         * the queue whose address was written. */
        struct vdev_doorbell_desc desc = {
            .space = VDEV_SPACE_MEM, .addr = bell_addr(base, q), .len = 2};
        if (vdev_doorbell_add(t->d, &desc, &t->db[q], &err)) {
            t->db[q] = NULL; /* kicks of this queue stay trapped (vpci_notify_write) */
            vdev_warn(t->d, "queue %u notify stays trapped: %s", q, err.msg);
            continue;
        }
        vdev_virtio_set_kick_fd(t->vio, q, vdev_doorbell_fd(t->db[q]));
    }
}

static void move_doorbells(struct vpci *t, uint64_t base)
{
    struct vdev_err err;
    for (unsigned q = 0; q < t->nq; q++) {
        if (t->db[q] && vdev_doorbell_move(t->db[q], bell_addr(base, q), &err))
            vdev_warn(t->d, "queue %u notify: %s", q, err.msg);
    }
}

/* BAR 0 changed (bar_changed), or may have (reset): bring the doorbells to `base`. */
void vpci_doorbells_sync(struct vpci *t, uint64_t base, bool enabled)
{
    if (!enabled || base == 0)
        return;
    pthread_mutex_lock(&t->db_lock);
    if (!atomic_load(&t->db_ready)) {
        create_doorbells(t, base);
        t->db_base = base;
        atomic_store(&t->db_ready, true);
    } else if (base != t->db_base) {
        move_doorbells(t, base);
        t->db_base = base;
    }
    pthread_mutex_unlock(&t->db_lock);
}

/* A write in the notify area that no doorbell took: another size, a queue whose doorbell
 * could not be made, or doorbells not made yet. Still a kick of the queue addressed. */
void vpci_notify_write(struct vpci *t, uint64_t off, unsigned size, uint64_t v)
{
    unsigned q = (unsigned)(off / VPCI_NOTIFY_MULT);
    if (q < t->nq)
        vdev_virtio_kick(t->vio, q);
}
