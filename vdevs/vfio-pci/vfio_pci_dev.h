/* vfio-pci: a host PCI device given to the guest (`pass`); the module's private state. */
#ifndef VFIO_PCI_DEV_H
#define VFIO_PCI_DEV_H

#include <stdbool.h>
#include <stdint.h>
#include <vdev/module.h>
#include <vfio/vfio_host.h>

struct vfio_pci {
    struct vfio_host_spec spec; /* `host` */
    struct vdev_srcpos host_pos;
    bool host_given;
    bool managed;   /* bind to vfio-pci at start, give back at the end (lib/hostdev) */
    bool mac_given; /* `mac`: the VF's MAC set through its PF (lib/hostdev) */
    uint8_t mac[6];
    bool vlan_given; /* `vlan`: the VF's VLAN set through its PF (lib/hostdev) */
    uint16_t vlan;
    struct vfio_host_dev host; /* what `host` resolved to */
};

/* Test seam: where the host's /sys and /dev are (NULL: the real ones). */
void vfio_pci_set_host_root(const struct vfio_host_root *root);

#endif
