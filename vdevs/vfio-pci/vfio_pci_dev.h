/* vfio-pci: a host PCI device given to the guest (`pass`); the module's private state. */
#ifndef VFIO_PCI_DEV_H
#define VFIO_PCI_DEV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <vdev/hostdev.h>
#include <vdev/module.h>
#include <vdev/pci.h>
#include <vfio/vfio_dev.h>
#include <vfio/vfio_host.h>

#define VFIO_PCI_MAX_RAM  16   /* guest RAM regions mapped for DMA */
#define VFIO_PCI_MAX_VEC  2048 /* MSI-X vectors, the most PCI allows */
#define VFIO_PCI_MAX_CAPS 16

struct vfio_pci {
    struct vfio_host_spec spec; /* `host` */
    struct vdev_srcpos host_pos;
    bool host_given;
    bool managed;   /* bind to vfio-pci at start, give back at the end (lib/hostdev) */
    bool mac_given; /* `mac`: the VF's MAC set through its PF (lib/hostdev) */
    uint8_t mac[6];
    bool vlan_given; /* `vlan`: the VF's VLAN set through its PF (lib/hostdev) */
    uint16_t vlan;
    struct vfio_host_dev host;    /* what `host` resolved to */
    struct vdev_hostdev *hostdev; /* `mac`/`vlan`/`managed` applied (vdev/hostdev.h), or NULL */

    pthread_mutex_t lock; /* the DMA map: the build thread and whoever changes guest memory */
    bool lock_ready;
    bool open;       /* vf is open (not in a dryrun) */
    bool group_told; /* the embedder has the VFIO group (vdev_vfio_group) */
    struct vfio_dev vf;
    struct {
        uint64_t gpa, size;
    } ram[VFIO_PCI_MAX_RAM]; /* what is DMA-mapped, to unmap it again */
    unsigned nram;

    /* the guest's PCI function (vfio_pci_func.c) */
    struct vdev *dev;
    struct vdev_pci_func *f;
    void *bar_map[6]; /* mmapped BARs (DEVMEM), else trapped */
    struct vfio_pci_bar_ref {
        struct vfio_pci *p;
        unsigned bar;
    } bar_ref[6]; /* a trapped BAR's opaque */
    uint64_t bar_size[6];
    unsigned msix_nvec, msix_bar;
    int32_t msix_fds[VFIO_PCI_MAX_VEC]; /* the core's per-vector eventfds, handed to VFIO */
    /* INTx: the device has it (VFIO lists it and its pin register is set); it is armed in
     * VFIO (trigger and unmask eventfds, the core's) from the guest's first command write
     * while MSI-X is off; refused is set when the hypervisor cannot run it exitlessly. */
    bool intx, intx_on, intx_refused;
    bool msix_on;              /* VFIO has the MSI-X eventfds */
    unsigned msi_nvec, msi_on; /* MSI: vectors offered; how many VFIO has (0: off) */
    int32_t msi_fds[32];       /* the core's per-vector eventfds */
    struct {
        uint8_t guest, host, len; /* a copied capability: guest and host offsets, bytes */
    } caps[VFIO_PCI_MAX_CAPS];
    unsigned ncaps;
};

/* vfio_pci_dma.c: guest RAM in the device's IOMMU. Map every backed RAM region now (after
 * opening), follow the map's changes, unmap everything (before closing). */
int vfio_pci_dma_start(struct vdev *d, struct vfio_pci *p);
void vfio_pci_memory_changed(struct vdev *d, const struct vdev_region_info *r, bool map);
void vfio_pci_dma_stop(struct vfio_pci *p);

/* vfio_pci_func.c: the guest's view of the device. Creates the PCI function from the
 * device's config space (assign hook), and undoes it (terminate). */
int vfio_pci_func_create(struct vdev *d, struct vfio_pci *p);
void vfio_pci_func_free(struct vfio_pci *p);

/* Test seams: where the host's /sys and /dev are, and the kernel's VFIO (NULL: the real
 * ones). */
void vfio_pci_set_host_root(const struct vfio_host_root *root);
void vfio_pci_set_backend(const struct vfio_backend *be);

#endif
