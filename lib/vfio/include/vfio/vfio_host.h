/* The host side of a passed PCI device before VFIO opens it: which device a `pass` names
 * and whether the host lets us have it, read from sysfs under an injectable root. */
#ifndef VFIO_VFIO_HOST_H
#define VFIO_VFIO_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* `pci:[DOMAIN:]BUS:DEV.FN` (hex, as lspci -D and sysfs print it) or
 * `pci:0xVID/0xDID[/INDEX]` (the INDEX-th such device in PCI address order, from 0). */
struct vfio_host_spec {
    bool by_id;
    uint16_t vendor, device;
    unsigned index;
    uint16_t domain;
    uint8_t bus, dev, fn;
};

/* Where the host's trees are: "/sys" and "/dev" unless a test fakes them. */
struct vfio_host_root {
    const char *sys;
    const char *dev;
};

struct vfio_host_dev {
    char bdf[16];    /* "0000:01:10.0" */
    char driver[64]; /* "" when unbound */
    uint16_t vendor, device;
    unsigned group; /* IOMMU group: /dev/vfio/GROUP */
};

struct vfio_host_why {
    char msg[256];
    char hint[256]; /* "" when there is none */
};

/* 0, or -1 with *why set ("expected ..."). */
int vfio_host_parse(const char *text, struct vfio_host_spec *out, const char **why);
/* Writes "0000:01:10.0" or "0x8086/0x10ca/1" into buf. */
void vfio_host_spec_str(const struct vfio_host_spec *s, char *buf, size_t len);

/* Finds the device and checks the host can give it to a guest: VFIO present, the device
 * there, on vfio-pci (any driver when `managed`: binding it is the caller's), in an IOMMU
 * group whose other devices are unbound or on vfio-pci, pci-stub or pcieport.
 * root NULL = the real host. 0, or -1 with why filled. */
int vfio_host_resolve(const struct vfio_host_root *root, const struct vfio_host_spec *spec,
                      bool managed, struct vfio_host_dev *out, struct vfio_host_why *why);

#endif
