/* A VF through sysfs: its PF and index (physfn, virtfnN), the PF's interface (net/), its
 * driver, and the writes that move it to vfio-pci and back (`managed`). All under the
 * context's sysfs root, which is trusted (the host's /sys, or a test's fake tree). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostdev_internal.h"

#define VFIO_DRIVER "vfio-pci"

/* snprintf for paths: -1 when the path does not fit (then it is cut, and the attribute
 * read or written through it is not there). */
static int pathf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int pathf(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* "<sysfs>/bus/pci/devices/<bdf>[/<leaf>]" */
static int dev_path(const struct hd_ctx *c, const char *bdf, const char *leaf, char *buf,
                    size_t len)
{
    return pathf(buf, len, "%s/bus/pci/devices/%s%s%s", c->sysfs, bdf, leaf ? "/" : "",
                 leaf ? leaf : "");
}

/* A small attribute's text without its newline: 0 or -errno. */
static int read_attr(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, len - 1);
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

/* The last component of a symbolic link's target: 0 or -errno. */
static int link_base(const char *path, char *buf, size_t len)
{
    char target[PATH_MAX];
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    if (n < 0)
        return -errno;
    target[n] = '\0';
    const char *slash = strrchr(target, '/');
    const char *base = slash ? slash + 1 : target;
    if (strlen(base) >= len)
        return -ENAMETOOLONG;
    memcpy(buf, base, strlen(base) + 1);
    return 0;
}

int hd_current_driver(const struct hd_ctx *c, const char *bdf, char *buf, size_t len)
{
    char path[PATH_MAX];
    struct stat st;
    buf[0] = '\0';
    if (dev_path(c, bdf, NULL, path, sizeof(path)) || stat(path, &st))
        return 0;
    if (dev_path(c, bdf, "driver", path, sizeof(path)) || link_base(path, buf, len))
        buf[0] = '\0';
    return 1;
}

/* The N of the PF's virtfnN link that names `bdf`; -1 when none does. */
static long vf_index(const char *pfdir, const char *bdf)
{
    DIR *d = opendir(pfdir);
    if (!d)
        return -1;
    long idx = -1;
    struct dirent *e;
    while (idx < 0 && (e = readdir(d))) {
        const char *num = e->d_name + 6;
        if (strncmp(e->d_name, "virtfn", 6) || !*num || strspn(num, "0123456789") != strlen(num) ||
            strlen(num) > 5 || (num[0] == '0' && num[1]))
            continue;
        char path[PATH_MAX], target[VDEV_HOSTDEV_BDF_MAX + 8];
        if (!pathf(path, sizeof(path), "%s/%s", pfdir, e->d_name) &&
            !link_base(path, target, sizeof(target)) && !strcmp(target, bdf))
            idx = strtol(num, NULL, 10);
    }
    closedir(d);
    return idx;
}

/* The PF's one network interface (its net/ folder) and its index. */
static int pf_netdev(const char *pfdir, struct vdev_hostdev_vf *vf, struct vdev_err *err)
{
    char path[PATH_MAX];
    DIR *d = pathf(path, sizeof(path), "%s/net", pfdir) ? NULL : opendir(path);
    unsigned n = 0;
    char names[2][VDEV_HOSTDEV_NAME_MAX] = {"", ""};
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            if (n < 2 && strlen(e->d_name) < sizeof(names[n]))
                memcpy(names[n], e->d_name, strlen(e->d_name) + 1);
            else if (n < 2)
                memcpy(names[n], "?", 2); /* too long for an interface: refused below */
            n++;
        }
        closedir(d);
    }
    if (n == 0)
        return vdev_err_setc(err, VDEV_E_UNSUPPORTED,
                             "%s: its PF %s has no network interface (%s is empty or missing) "
                             "(hint: is the PF's NIC driver loaded?)",
                             vf->bdf, vf->pf_bdf, path);
    if (n > 1)
        return vdev_err_setc(err, VDEV_E_UNSUPPORTED,
                             "%s: its PF %s has %u network interfaces (%s, %s, ...): a PF with "
                             "several ports is not supported",
                             vf->bdf, vf->pf_bdf, n, names[0], names[1]);
    if (!hd_ifname_ok(names[0]))
        return vdev_err_setc(err, VDEV_E_IO, "%s: its PF's interface name in %s is not valid",
                             vf->bdf, path);
    snprintf(vf->pf_ifname, sizeof(vf->pf_ifname), "%s", names[0]);
    char text[32];
    int rc = pathf(path, sizeof(path), "%s/net/%s/ifindex", pfdir, names[0])
                 ? -ENAMETOOLONG
                 : read_attr(path, text, sizeof(text));
    char *end = NULL;
    long idx = rc ? 0 : strtol(text, &end, 10);
    if (rc || !end || *end || end == text || idx <= 0 || idx > INT32_MAX)
        return vdev_err_setc(err, VDEV_E_IO, "%s: cannot read the index of %s from %s%s%s", vf->bdf,
                             names[0], path, rc ? ": " : " (not a number)",
                             rc ? strerror(-rc) : "");
    vf->pf_ifindex = (int32_t)idx;
    return 0;
}

int hd_find_vf(const struct hd_ctx *c, const char *bdf, struct vdev_hostdev_vf *vf,
               struct vdev_err *err)
{
    memset(vf, 0, sizeof(*vf));
    snprintf(vf->bdf, sizeof(vf->bdf), "%s", bdf);
    char dev[PATH_MAX], path[PATH_MAX], pfdir[PATH_MAX];
    struct stat st;
    if (dev_path(c, bdf, NULL, dev, sizeof(dev)) || dev_path(c, bdf, "physfn", path, sizeof(path)))
        return vdev_err_setc(err, VDEV_E_INVAL, "%s: the sysfs path is too long", bdf);
    if (stat(dev, &st))
        return vdev_err_setc(err, errno == ENOENT ? VDEV_E_NOENT : VDEV_E_IO,
                             "no PCI device %s (%s: %s)", bdf, dev, strerror(errno));
    char pf[VDEV_HOSTDEV_BDF_MAX + 8];
    int rc = link_base(path, pf, sizeof(pf));
    if (rc == -ENOENT)
        return vdev_err_setc(
            err, VDEV_E_NOENT,
            "%s is not an SR-IOV virtual function (no physfn) (hint: name a VF "
            "of the NIC, one of the virtfn* links of its PF in %s/bus/pci/devices)",
            bdf, c->sysfs);
    if (rc || hd_parse_bdf(pf, vf->pf_bdf) || strcmp(pf, vf->pf_bdf))
        return vdev_err_setc(err, VDEV_E_IO, "%s: cannot read its PF from %s%s%s", bdf, path,
                             rc ? ": " : " (not a PCI address)", rc ? strerror(-rc) : "");
    long idx = dev_path(c, vf->pf_bdf, NULL, pfdir, sizeof(pfdir)) ? -1 : vf_index(pfdir, bdf);
    if (idx < 0)
        return vdev_err_setc(
            err, VDEV_E_NOENT,
            "%s is not among the VFs of its PF %s (no virtfnN link in %s names it)", bdf,
            vf->pf_bdf, pfdir);
    vf->vf = (uint32_t)idx;
    if (pf_netdev(pfdir, vf, err))
        return -1;
    hd_current_driver(c, bdf, vf->driver, sizeof(vf->driver));
    return 0;
}

int hd_real_sys_write(void *ctx, const char *path, const char *val)
{
    (void)ctx;
    /* An attribute is never a link; O_TRUNC as a shell's `echo >` (sysfs ignores it). */
    int fd = open(path, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = strlen(val);
    ssize_t n = write(fd, val, len);
    int e = n < 0 ? errno : EIO;
    close(fd);
    return n == (ssize_t)len ? 0 : -e;
}

/* Writes `val` to `path` through the hook; -1 with err saying what for. */
static int sys_write(struct hd_ctx *c, const char *bdf, const char *path, const char *val,
                     const char *what, struct vdev_err *err)
{
    int rc = c->hooks.sys_write(c->hooks.ctx, path, val);
    if (rc == 0)
        return 0;
    const char *hint = "";
    if (rc == -EACCES || rc == -EPERM)
        hint = " (hint: moving a VF between drivers needs root)";
    else if (rc == -ENOENT && strstr(path, "driver_override"))
        hint = " (hint: the kernel has no driver_override: 3.16 or later is needed)";
    return vdev_err_setc(err, rc == -EACCES || rc == -EPERM ? VDEV_E_PERM : VDEV_E_IO,
                         "%s: %s: writing %s: %s%s", bdf, what, path, strerror(-rc), hint);
}

int hd_bind_vfio(struct hd_ctx *c, const char *bdf, const char *driver, bool *touched,
                 struct vdev_err *err)
{
    *touched = false;
    if (!strcmp(driver, VFIO_DRIVER))
        return 0;
    char override[PATH_MAX], unbind[PATH_MAX], probe[PATH_MAX];
    dev_path(c, bdf, "driver_override", override, sizeof(override));
    dev_path(c, bdf, "driver/unbind", unbind, sizeof(unbind));
    pathf(probe, sizeof(probe), "%s/bus/pci/drivers_probe", c->sysfs);
    /* The override first, so that nothing but vfio-pci takes it once it is free. */
    if (sys_write(c, bdf, override, VFIO_DRIVER, "binding it to vfio-pci", err))
        return -1;
    *touched = true;
    if ((*driver && sys_write(c, bdf, unbind, bdf, "unbinding it from its driver", err)) ||
        sys_write(c, bdf, probe, bdf, "binding it to vfio-pci", err))
        return -1;
    char now[VDEV_HOSTDEV_NAME_MAX];
    hd_current_driver(c, bdf, now, sizeof(now));
    if (strcmp(now, VFIO_DRIVER))
        return vdev_err_setc(err, VDEV_E_IO,
                             "%s: vfio-pci did not take it (its driver now: %s) (hint: modprobe "
                             "vfio-pci)",
                             bdf, *now ? now : "none");
    return 0;
}

int hd_give_back(struct hd_ctx *c, const char *bdf, const char *orig, struct vdev_err *err)
{
    char now[VDEV_HOSTDEV_NAME_MAX], path[PATH_MAX];
    hd_current_driver(c, bdf, now, sizeof(now));
    if (!strcmp(now, VFIO_DRIVER)) {
        dev_path(c, bdf, "driver/unbind", path, sizeof(path));
        if (sys_write(c, bdf, path, bdf, "unbinding it from vfio-pci", err))
            return -1;
    }
    dev_path(c, bdf, "driver_override", path, sizeof(path));
    if (sys_write(c, bdf, path, "\n", "clearing its driver_override", err))
        return -1;
    if (!*orig) /* it had no driver: it stays without one */
        return 0;
    hd_current_driver(c, bdf, now, sizeof(now));
    if (!*now) {
        pathf(path, sizeof(path), "%s/bus/pci/drivers_probe", c->sysfs);
        if (sys_write(c, bdf, path, bdf, "giving it back to its driver", err))
            return -1;
        hd_current_driver(c, bdf, now, sizeof(now));
    }
    if (!*now) { /* the probe found none (a driver with no ID match): bind it by name */
        struct stat st;
        if (!pathf(path, sizeof(path), "%s/bus/pci/drivers/%s/bind", c->sysfs, orig) &&
            !stat(path, &st) && sys_write(c, bdf, path, bdf, "giving it back to its driver", err))
            return -1;
        hd_current_driver(c, bdf, now, sizeof(now));
    }
    if (strcmp(now, orig))
        return vdev_err_setc(err, VDEV_E_IO,
                             "%s: it did not go back to %s (its driver now: %s) (hint: echo %s > "
                             "%s/bus/pci/drivers/%s/bind)",
                             bdf, orig, *now ? now : "none", bdf, c->sysfs, orig);
    return 0;
}
