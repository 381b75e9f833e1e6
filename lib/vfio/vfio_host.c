/* Finds a `pass` host device in sysfs and checks the host lets a guest have it. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <vfio/vfio_host.h>

#include "vfio_internal.h"

#define DEVICES "bus/pci/devices"

/* The last component of the link at path, or "" when there is no link. */
static void link_name(const char *path, char *out, size_t len)
{
    char target[PATH_MAX];
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    out[0] = '\0';
    if (n <= 0)
        return;
    target[n] = '\0';
    const char *slash = strrchr(target, '/');
    const char *base = slash ? slash + 1 : target;
    size_t n2 = strlen(base) < len ? strlen(base) : len - 1; /* a cut name matches nothing */
    memcpy(out, base, n2);
    out[n2] = '\0';
}

/* A sysfs id file such as vendor ("0x8086\n"); -1 when missing or malformed. */
static long read_id(const char *sys, const char *bdf, const char *file)
{
    char path[PATH_MAX], buf[32];
    snprintf(path, sizeof(path), "%s/" DEVICES "/%s/%s", sys, bdf, file);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char *ok = fgets(buf, sizeof(buf), f);
    fclose(f);
    char *end;
    long v = ok ? strtol(buf, &end, 16) : -1;
    return ok && end != buf && (*end == '\n' || *end == '\0') && v >= 0 && v <= 0xffff ? v : -1;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The spec.index-th device with the spec's ids, in address order (sysfs names sort so). */
static int find_by_id(const char *sys, const struct vfio_host_spec *spec, char *bdf, size_t len,
                      struct vfio_host_why *why)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/" DEVICES, sys);
    DIR *d = opendir(path);
    if (!d)
        return vfio_fail(why, "is sysfs mounted?", "cannot read %s: %s", path, strerror(errno));
    char **names = NULL;
    size_t n = 0;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.' || read_id(sys, e->d_name, "vendor") != spec->vendor ||
            read_id(sys, e->d_name, "device") != spec->device)
            continue;
        char **nn = realloc(names, (n + 1) * sizeof(*names));
        char *copy = strdup(e->d_name);
        if (!nn || !copy) {
            free(copy);
            rc = vfio_fail(why, NULL, "out of memory");
            if (nn)
                names = nn;
            break;
        }
        names = nn;
        names[n++] = copy;
    }
    closedir(d);
    if (rc == 0) {
        if (n)
            qsort(names, n, sizeof(*names), cmp_names);
        if (n == 0)
            rc = vfio_fail(why, "lspci -nn lists the host's devices with their ids",
                           "no host PCI device has ids %04x:%04x", spec->vendor, spec->device);
        else if (spec->index >= n)
            rc = vfio_fail(why, "the index counts from 0 in PCI address order",
                           "the host has %zu device%s with ids %04x:%04x, so there is no index %u",
                           n, n == 1 ? "" : "s", spec->vendor, spec->device, spec->index);
        else
            snprintf(bdf, len, "%s", names[spec->index]);
    }
    for (size_t k = 0; k < n; k++)
        free(names[k]);
    free(names);
    return rc;
}

/* Drivers that leave a group viable for VFIO (the kernel's rule, with bridges' pcieport). */
static bool harmless(const char *driver)
{
    return !*driver || !strcmp(driver, "vfio-pci") || !strcmp(driver, "pci-stub") ||
           !strcmp(driver, "pcieport");
}

static int check_group(const char *sys, const struct vfio_host_dev *dev, struct vfio_host_why *why)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/kernel/iommu_groups/%u/devices", sys, dev->group);
    DIR *d = opendir(path);
    if (!d)
        return vfio_fail(why, NULL, "cannot read IOMMU group %u (%s): %s", dev->group, path,
                         strerror(errno));
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, dev->bdf))
            continue;
        char link[PATH_MAX + 300], driver[64];
        snprintf(link, sizeof(link), "%s/%.255s/driver", path, e->d_name);
        link_name(link, driver, sizeof(driver));
        if (!harmless(driver)) {
            char hint[256];
            snprintf(hint, sizeof(hint),
                     "a guest's device can reach its whole group: unbind %.20s from %.63s or "
                     "bind it to vfio-pci too",
                     e->d_name, driver);
            rc = vfio_fail(why, hint,
                           "host device %s shares IOMMU group %u with %.20s, which %s uses",
                           dev->bdf, dev->group, e->d_name, driver);
        }
    }
    closedir(d);
    return rc;
}

int vfio_host_resolve(const struct vfio_host_root *root, const struct vfio_host_spec *spec,
                      bool managed, struct vfio_host_dev *out, struct vfio_host_why *why)
{
    const char *sys = root && root->sys ? root->sys : "/sys";
    const char *devdir = root && root->dev ? root->dev : "/dev";
    char path[PATH_MAX], hint[300];
    struct vfio_host_dev dev;
    memset(&dev, 0, sizeof(dev));
    memset(why, 0, sizeof(*why));

    snprintf(path, sizeof(path), "%s/vfio/vfio", devdir);
    if (access(path, F_OK) != 0)
        return vfio_fail(why,
                         "load the vfio-pci module (modprobe vfio-pci) on a host with an IOMMU",
                         "the host has no VFIO (%s: %s)", path, strerror(errno));

    if (spec->by_id) {
        if (find_by_id(sys, spec, dev.bdf, sizeof(dev.bdf), why))
            return -1;
    } else {
        snprintf(dev.bdf, sizeof(dev.bdf), "%04x:%02x:%02x.%x", spec->domain, spec->bus, spec->dev,
                 spec->fn);
        snprintf(path, sizeof(path), "%s/" DEVICES "/%s", sys, dev.bdf);
        if (access(path, F_OK) != 0)
            return vfio_fail(why, "lspci -D lists the host's PCI devices", "no host PCI device %s",
                             dev.bdf);
    }
    long vid = read_id(sys, dev.bdf, "vendor"), did = read_id(sys, dev.bdf, "device");
    if (vid < 0 || did < 0)
        return vfio_fail(why, NULL, "host device %s: cannot read its vendor and device ids",
                         dev.bdf);
    dev.vendor = (uint16_t)vid;
    dev.device = (uint16_t)did;

    snprintf(path, sizeof(path), "%s/" DEVICES "/%s/driver", sys, dev.bdf);
    link_name(path, dev.driver, sizeof(dev.driver));
    if (!managed && strcmp(dev.driver, "vfio-pci") != 0) {
        snprintf(hint, sizeof(hint),
                 "bind it: echo vfio-pci > /sys/bus/pci/devices/%s/driver_override, unbind it "
                 "from its driver, echo %s > /sys/bus/pci/drivers_probe; or add 'managed'",
                 dev.bdf, dev.bdf);
        return vfio_fail(why, hint, "host device %s is %s%s, not vfio-pci", dev.bdf,
                         *dev.driver ? "bound to " : "bound to no driver", dev.driver);
    }

    char group[32];
    snprintf(path, sizeof(path), "%s/" DEVICES "/%s/iommu_group", sys, dev.bdf);
    link_name(path, group, sizeof(group));
    char *end;
    unsigned long g = strtoul(group, &end, 10);
    if (!*group || *end || g > 0xffffff)
        return vfio_fail(
            why,
            "the host needs an IOMMU: enable VT-d or AMD-Vi and boot with intel_iommu=on "
            "or amd_iommu=on",
            "host device %s is in no IOMMU group", dev.bdf);
    dev.group = (unsigned)g;
    if (check_group(sys, &dev, why))
        return -1;
    /* A managed device gets its group file when it is bound; a bound one has it now. */
    snprintf(path, sizeof(path), "%s/vfio/%u", devdir, dev.group);
    if (!managed && access(path, F_OK) != 0)
        return vfio_fail(why, "is vfio-pci loaded and the device bound to it?",
                         "host device %s: no VFIO group file %s: %s", dev.bdf, path,
                         strerror(errno));
    *out = dev;
    return 0;
}
