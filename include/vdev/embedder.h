/* What a VMM provides to the framework. See docs/embedding.md.
 *
 * Every hook may be NULL. Without the exitless hooks (ioeventfd, irqfd_*) the core falls
 * back to trapped writes and to calling set_irq_line/signal_msi itself, so a minimal
 * embedder needs only set_irq_line, signal_msi and (to run) guest RAM.
 */
#ifndef VDEV_EMBEDDER_H
#define VDEV_EMBEDDER_H

#include <vdev/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vdev_region_info;

struct vdev_embedder_ops {
    /* sizeof(struct vdev_embedder_ops) as the embedder was built: set it, always. Hooks
     * added in later releases go at the end; the library reads none beyond this size. */
    size_t size;
    /* Drives GSI `gsi` (an interrupt controller line: gsi_base + line) to `level`. */
    int (*set_irq_line)(void *ctx, uint32_t gsi, bool level);
    /* Delivers a message-signalled interrupt. */
    int (*signal_msi)(void *ctx, const struct vdev_msi *msi);

    /* Exitless doorbell: a guest write of `len` bytes at `addr` (matching `data` when
     * `match`) signals eventfd `fd` without leaving the kernel. assign=false removes it.
     * Return 0 when done, -1 when not supported (the core then traps the write). */
    int (*ioeventfd)(void *ctx, int fd, enum vdev_space space, uint64_t addr, unsigned len,
                     bool match, uint64_t data, bool assign);
    /* Exitless interrupts: a write to eventfd `fd` raises GSI `gsi` (with resample_fd >= 0:
     * level-triggered, and resample_fd is signalled at EOI). Return 0 or -1 as above. */
    int (*irqfd_line)(void *ctx, int fd, int resample_fd, uint32_t gsi, bool assign);
    /* As above for an MSI; called again with the new message when the guest reprograms it. */
    int (*irqfd_msi)(void *ctx, int fd, const struct vdev_msi *msi, bool assign);

    /* A host-backed region (RAM, ROM, device memory) was added, moved, enabled or disabled:
     * map or unmap it in the guest. `map` false = remove the old mapping. */
    int (*map_memory)(void *ctx, const struct vdev_region_info *r, bool map);

    /* A log line from the framework or a device (`who` = "ser8250 'console'" or "vdevkit"). */
    void (*log)(void *ctx, enum vdev_log_level level, const char *who, const char *msg);

    /* A device asks to end the VM with exit status `status` (testdev, power-off). */
    void (*request_stop)(void *ctx, int status);

    /* 0.3: a passed host device's VFIO group (an open /dev/vfio/GROUP fd) becomes the VM's
     * (add) or stops being it (remove), so the hypervisor can let the guest control cache
     * coherency for its DMA (KVM: the KVM VFIO device). Return 0, or -1 when not done; the
     * device works without it where the IOMMU enforces coherency. */
    int (*vfio_group)(void *ctx, int group_fd, bool add);
};

#ifdef __cplusplus
}
#endif
#endif
