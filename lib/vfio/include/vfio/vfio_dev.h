/* A VFIO device opened for a guest: container and group (type1v2 IOMMU), the device's
 * regions and interrupts, reset, and guest RAM DMA-mapped with IOVA = guest address. Every
 * call into the kernel goes through a backend, so tests run it against a fake device. */
#ifndef VFIO_VFIO_DEV_H
#define VFIO_VFIO_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <vfio/vfio_host.h>

/* The kernel, or a fake of it. Each returns what the syscall returns (-1 with errno). */
struct vfio_backend {
    void *ctx;
    int (*open)(void *ctx, const char *path, int flags);
    int (*close)(void *ctx, int fd);
    int (*ioctl)(void *ctx, int fd, unsigned long req, void *arg);
    ssize_t (*pread)(void *ctx, int fd, void *buf, size_t len, off_t off);
    ssize_t (*pwrite)(void *ctx, int fd, const void *buf, size_t len, off_t off);
    void *(*mmap)(void *ctx, size_t len, int prot, int fd, off_t off); /* MAP_SHARED */
    int (*munmap)(void *ctx, void *addr, size_t len);
};

/* The real kernel. */
extern const struct vfio_backend vfio_backend_sys;

#define VFIO_NREGIONS   9 /* BAR0-5, ROM, config, VGA: VFIO_PCI_NUM_REGIONS */
#define VFIO_REGION_ROM 6
#define VFIO_REGION_CFG 7
#define VFIO_MAX_SPARSE 8
#define VFIO_MAX_IOVA   8
#define VFIO_IRQ_INTX   0
#define VFIO_IRQ_MSI    1
#define VFIO_IRQ_MSIX   2
#define VFIO_NIRQ_KINDS 3

struct vfio_area {
    uint64_t offset, size; /* within the region */
};

struct vfio_region {
    uint64_t size, offset; /* offset: where it is in the device fd */
    bool readable, writable, mmap;
    /* Where mmap is allowed: the whole region, or the sparse-mmap areas VFIO lists. */
    struct vfio_area mmap_areas[VFIO_MAX_SPARSE];
    unsigned nmmap;
};

struct vfio_range {
    uint64_t start, end; /* inclusive */
};

struct vfio_dev {
    const struct vfio_backend *be;
    int container, group, device;
    char bdf[16];
    bool can_reset;
    unsigned nregions, nirqs;
    struct vfio_region region[VFIO_NREGIONS];
    uint32_t irq_count[VFIO_NIRQ_KINDS]; /* vectors per kind; 0 = none */
    bool irq_maskable[VFIO_NIRQ_KINDS];
    /* The IOVA ranges the IOMMU can map (everything outside is reserved, like the MSI
     * window); one range 0..2^64-1 when VFIO lists none. */
    struct vfio_range iova[VFIO_MAX_IOVA];
    unsigned niova;
};

/* Opens host device `dev` (resolved, on vfio-pci) with devdir standing for "/dev" (NULL:
 * the real one). 0, or -1 with why set; on failure nothing stays open. */
int vfio_dev_open(struct vfio_dev *d, const struct vfio_backend *be, const char *devdir,
                  const struct vfio_host_dev *dev, struct vfio_host_why *why);
void vfio_dev_close(struct vfio_dev *d);

/* VFIO_DEVICE_RESET; -1 when the device cannot reset or the kernel refuses. */
int vfio_dev_reset(struct vfio_dev *d);

/* Reads or writes region bytes: -1 outside the region or on a short access. */
int vfio_region_read(struct vfio_dev *d, unsigned region, uint64_t off, void *buf, size_t len);
int vfio_region_write(struct vfio_dev *d, unsigned region, uint64_t off, const void *buf,
                      size_t len);

/* Maps (or unmaps) guest RAM [gpa, gpa+size) at host address host for the device's DMA,
 * IOVA = gpa, leaving out the reserved IOVA ranges. 0 or -1 (errno kept). */
int vfio_dma_map(struct vfio_dev *d, uint64_t gpa, uint64_t size, void *host);
int vfio_dma_unmap(struct vfio_dev *d, uint64_t gpa, uint64_t size);

/* Maps [off, off+len) of a region (inside one of its mmap areas), read-write; NULL if not
 * allowed or refused. Undo with vfio_region_unmap. */
void *vfio_region_mmap(struct vfio_dev *d, unsigned region, uint64_t off, uint64_t len);
void vfio_region_unmap(struct vfio_dev *d, void *addr, uint64_t len);

/* VFIO_DEVICE_SET_IRQS with eventfds for vectors [start, start+count) of kind `irq`; fd -1
 * leaves a vector without one. count 0 disables the kind. */
int vfio_irq_set_eventfds(struct vfio_dev *d, unsigned irq, unsigned start, unsigned count,
                          const int32_t *fds);
/* INTx's unmask on resample: the eventfd that unmasks the line (-1 removes it). */
int vfio_irq_intx_unmask_fd(struct vfio_dev *d, int fd);

#endif
