/* vfio-pci: the device a `pass` line makes (core/config_parse.c turns `pass loc G=H` into
 * `vdev vfio-pci loc G host H`): options, the host device's lookup and checks. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <vdev/config.h>
#include <vdev/machine.h>
#include <vdev/module.h>

#include "vfio_pci_dev.h"

static const struct vfio_host_root *host_root; /* NULL: the real host */
static const struct vfio_backend *backend;     /* NULL: the kernel */

void vfio_pci_set_host_root(const struct vfio_host_root *root)
{
    host_root = root;
}

void vfio_pci_set_backend(const struct vfio_backend *be)
{
    backend = be;
}

static const struct vdev_option vfio_pci_options[] = {
    {.name = "host",
     .kind = VDEV_OPT_STRING,
     .arg = "pci:[DOMAIN:]BUS:DEV.FN|pci:0xVID/0xDID[/INDEX]",
     .help = "the host device: its address (hex, as lspci -D prints it), or the INDEX-th device "
             "(from 0, in address order) with these ids"},
    {.name = "mac",
     .kind = VDEV_OPT_MAC,
     .arg = "XX:XX:XX:XX:XX:XX",
     .help = "an SR-IOV VF's MAC, set through its PF while the VM runs"},
    {.name = "vlan",
     .kind = VDEV_OPT_U64,
     .arg = "VID",
     .help = "an SR-IOV VF's VLAN (0 = none), set through its PF while the VM runs",
     .min = 0,
     .max = 4095},
    {.name = "managed",
     .kind = VDEV_OPT_FLAG,
     .help = "bind the device to vfio-pci when the VM starts and give it back when it ends"},
    {.name = NULL},
};

static int vfio_pci_option(struct vdev *d, const struct vdev_optval *v)
{
    struct vfio_pci *p = vdev_state(d);
    const char *name = v->opt->name, *why;
    if (!strcmp(name, "host")) {
        if (vfio_host_parse(v->text, &p->spec, &why))
            return vdev_error(d, v->pos, NULL, "option 'host': bad host device '%s': %s", v->text,
                              why);
        p->host_given = true;
        p->host_pos = v->pos;
    } else if (!strcmp(name, "mac")) {
        memcpy(p->mac, v->mac, 6);
        p->mac_given = true;
    } else if (!strcmp(name, "vlan")) {
        p->vlan = (uint16_t)v->num;
        p->vlan_given = true;
    } else if (!strcmp(name, "managed")) {
        p->managed = true;
    }
    return 0;
}

static int vfio_pci_options_end(struct vdev *d)
{
    struct vfio_pci *p = vdev_state(d);
    if (!p->host_given)
        return vdev_error(d, vdev_pos(d), "pass loc pci:0xVID/0xDID or vdev vfio-pci host ...",
                          "no host device given");
    struct vfio_host_why why;
    if (vfio_host_resolve(host_root, &p->spec, p->managed, &p->host, &why))
        return vdev_error(d, p->host_pos, *why.hint ? why.hint : NULL, "%s", why.msg);
    return 0;
}

static int vfio_pci_options_start(struct vdev *d)
{
    struct vfio_pci *p = vdev_state(d);
    if (pthread_mutex_init(&p->lock, NULL))
        return vdev_error(d, vdev_pos(d), NULL, "cannot create a mutex");
    p->lock_ready = true;
    return 0;
}

/* `mac`, `vlan` and `managed` as libvirt applies a hostdev NIC's (lib/hostdev): the VF's MAC
 * and VLAN set through its PF and the VF bound to vfio-pci, recorded first so that the end of
 * the VM (or `vdevkit hostdev-cleanup` after a crash) sets them back. Unit tests that inject
 * a fake host (vfio_pci_set_host_root) leave the host's NICs alone. */
static int hostdev_prepare(struct vdev *d, struct vfio_pci *p)
{
    if ((!p->mac_given && !p->vlan_given && !p->managed) || host_root)
        return 0;
    struct vdev_hostdev_cfg cfg = {.size = sizeof(cfg),
                                   .bdf = p->host.bdf,
                                   .set_mac = p->mac_given,
                                   .set_vlan = p->vlan_given,
                                   .vlan = p->vlan,
                                   .managed = p->managed,
                                   .owner = getpid()};
    memcpy(cfg.mac, p->mac, sizeof(cfg.mac));
    struct vdev_err err = {0};
    p->hostdev = vdev_hostdev_prepare(NULL, &cfg, 0, &err);
    if (!p->hostdev)
        return vdev_error(d, p->host_pos, NULL, "host device %s: %s", p->host.bdf, err.msg);
    vdev_info(d, "host device %s:%s%s%s (set back when the VM ends)", p->host.bdf,
              p->mac_given ? " MAC set through its PF;" : "",
              p->vlan_given ? " VLAN set through its PF;" : "",
              p->managed ? " bound to vfio-pci;" : "");
    return 0;
}

static void hostdev_release(struct vdev *d, struct vfio_pci *p)
{
    if (!p->hostdev)
        return;
    struct vdev_err err = {0};
    if (vdev_hostdev_release(p->hostdev, 0, &err)) /* (frees it either way) */
        vdev_log(d, VDEV_LOG_ERROR,
                 "host device %s: not set back: %s (hint: vdevkit "
                 "hostdev-cleanup %s)",
                 p->host.bdf, err.msg, p->host.bdf);
    p->hostdev = NULL;
}

/* Opens the device, resets it and makes the guest's PCI function from it; a dryrun touches
 * nothing (and shows no function). */
static int vfio_pci_assign(struct vdev *d)
{
    struct vfio_pci *p = vdev_state(d);
    if (vdev_machine_config(vdev_machine_of(d))->dryrun)
        return 0;
    if (hostdev_prepare(d, p))
        return -1;
    struct vfio_host_why why;
    if (vfio_dev_open(&p->vf, backend, host_root ? host_root->dev : NULL, &p->host, &why))
        return vdev_error(d, p->host_pos, *why.hint ? why.hint : NULL, "%s", why.msg);
    p->open = true;
    /* Without it DMA still works where the IOMMU enforces cache coherency (x86 VT-d). */
    p->group_told = vdev_vfio_group(d, p->vf.group, true) == 0;
    if (!p->group_told)
        vdev_info(d, "the hypervisor was not given the VFIO group (no vfio_group hook)");
    if (p->vf.can_reset && vfio_dev_reset(&p->vf))
        return vdev_error(d, p->host_pos, NULL, "host device %s: reset: %s", p->host.bdf,
                          strerror(errno));
    return vfio_pci_func_create(d, p);
}

/* Guest RAM into the device's IOMMU: what is backed now, the rest as it comes. */
static int vfio_pci_configured(struct vdev *d)
{
    struct vfio_pci *p = vdev_state(d);
    return p->open ? vfio_pci_dma_start(d, p) : 0;
}

static void vfio_pci_reset(struct vdev *d)
{
    struct vfio_pci *p = vdev_state(d);
    if (p->open && p->vf.can_reset && vfio_dev_reset(&p->vf))
        vdev_log(d, VDEV_LOG_ERROR, "reset: %s", strerror(errno));
}

static void vfio_pci_terminate(struct vdev *d)
{
    struct vfio_pci *p = vdev_state(d);
    if (p->open) {
        vfio_pci_dma_stop(p);
        vfio_pci_func_free(p);
        if (p->group_told)
            vdev_vfio_group(d, p->vf.group, false);
        p->group_told = false;
        vfio_dev_close(&p->vf);
        p->open = false;
    }
    hostdev_release(d, p); /* after the close: unbinding from vfio-pci waits for it */
    if (p->lock_ready)
        pthread_mutex_destroy(&p->lock);
    p->lock_ready = false;
}

static void vfio_pci_status(struct vdev *d, FILE *out)
{
    const struct vfio_pci *p = vdev_state(d);
    fprintf(out, "host %s (%04x:%04x, %s, IOMMU group %u)%s", p->host.bdf, p->host.vendor,
            p->host.device, *p->host.driver ? p->host.driver : "no driver", p->host.group,
            p->managed ? " managed" : "");
    if (p->mac_given)
        fprintf(out, " mac %02x:%02x:%02x:%02x:%02x:%02x", p->mac[0], p->mac[1], p->mac[2],
                p->mac[3], p->mac[4], p->mac[5]);
    if (p->vlan_given)
        fprintf(out, " vlan %u", p->vlan);
}

VDEV_MODULE(vfio_pci, .name = "vfio-pci",
            .summary = "a host PCI device passed to the guest through VFIO (`pass`)",
            .options = vfio_pci_options, .state_size = sizeof(struct vfio_pci),
            .places = VDEV_PLACE_PCI, .options_start = vfio_pci_options_start,
            .option = vfio_pci_option, .options_end = vfio_pci_options_end,
            .assign = vfio_pci_assign, .configured = vfio_pci_configured, .reset = vfio_pci_reset,
            .status = vfio_pci_status, .terminate = vfio_pci_terminate,
            .memory_changed = vfio_pci_memory_changed);
