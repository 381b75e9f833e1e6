/* The host peer's TAP interfaces: creation (optionally inside another network namespace).
 * Headers, offloads and carrier: netpeer/tap_if.h (shared with the NIC's direct
 * tap). */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net_peer.h"
#include "netpeer/tap_if.h"

#define HINT_CAP "hint: run as root or give vdevkit CAP_NET_ADMIN"

/* The TAP fd and the ioctl socket must be made inside the target namespace: a tun device
 * is created in the namespace of the process that opened /dev/net/tun. */
static int tap_create(const struct net_peer_opts *o, struct vdev_err *err)
{
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return vdev_err_set(err, "cannot open /dev/net/tun: %s (%s)", strerror(e),
                            e == ENOENT ? "hint: modprobe tun" : HINT_CAP);
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", o->ifname);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(fd);
        return vdev_err_set(err, "creating tap '%s': %s (%s)", o->ifname, strerror(e),
                            e == EPERM || e == EACCES ? HINT_CAP
                            : e == EBUSY
                                ? "hint: the name is taken; choose another with name=PREFIX"
                                : "hint: is the tun driver loaded?");
    }
    int r = tap_if_vnet_setup(fd); /* the link's header: virtio 1.x, with num_buffers */
    if (r < 0) {
        close(fd);
        return vdev_err_set(err, "tap '%s': setting the virtio-net header: %s", o->ifname,
                            strerror(-r));
    }
    tap_if_set_carrier(fd, false); /* up only while the guest is there */

    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        int e = errno;
        close(fd);
        return vdev_err_set(err, "tap '%s': socket: %s", o->ifname, strerror(e));
    }
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", o->ifname);
    ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    memcpy(ifr.ifr_hwaddr.sa_data, o->mac, 6);
    const char *what = "setting its MAC";
    int rc = ioctl(s, SIOCSIFHWADDR, &ifr);
    if (rc == 0) {
        what = "bringing it up";
        rc = ioctl(s, SIOCGIFFLAGS, &ifr);
        ifr.ifr_flags |= IFF_UP;
        if (rc == 0)
            rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    int e = errno;
    close(s);
    if (rc < 0) {
        close(fd);
        return vdev_err_set(err, "tap '%s': %s: %s", o->ifname, what, strerror(e));
    }
    return fd;
}

static int open_netns(const char *name, struct vdev_err *err)
{
    char path[300];
    if (strchr(name, '/'))
        snprintf(path, sizeof(path), "%s", name);
    else
        snprintf(path, sizeof(path), "/run/netns/%s", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return vdev_err_set(err, "netns=%s: %s: %s (hint: create it with 'ip netns add %s')", name,
                            path, strerror(e), name);
    }
    return fd;
}

/* tap=: the owner made the interface (and keeps it, with its addresses, across our
 * restarts); we only attach, carrier off until the guest is there. */
static int tap_existing(struct net_peer_opts *o, struct vdev_err *err)
{
    int fd = tap_if_attach(o->ifname, err);
    if (fd < 0)
        return -1;
    tap_if_set_carrier(fd, false);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", o->ifname);
    int rc = s < 0 ? -1 : 0;
    if (rc == 0 && o->mac_given) {
        ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
        memcpy(ifr.ifr_hwaddr.sa_data, o->mac, 6);
        rc = ioctl(s, SIOCSIFHWADDR, &ifr);
    } else if (rc == 0 && ioctl(s, SIOCGIFHWADDR, &ifr) == 0) {
        memcpy(o->mac, ifr.ifr_hwaddr.sa_data, 6); /* what the guest's side is told */
    }
    int e = errno;
    if (s >= 0)
        close(s);
    if (rc < 0) {
        close(fd);
        return vdev_err_set(err, "tap '%s': setting its MAC: %s", o->ifname, strerror(e));
    }
    return fd;
}

static int tap_open_here(struct net_peer_opts *o, struct vdev_err *err)
{
    return o->existing ? tap_existing(o, err) : tap_create(o, err);
}

int net_peer_tap_open(struct net_peer_opts *o, struct vdev_err *err)
{
    if (!o->netns)
        return tap_open_here(o, err);
    int ns = open_netns(o->netns, err);
    if (ns < 0)
        return -1;
    int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0) {
        int e = errno;
        close(ns);
        return vdev_err_set(err, "netns=%s: /proc/self/ns/net: %s", o->netns, strerror(e));
    }
    int fd;
    if (setns(ns, CLONE_NEWNET) < 0) {
        int e = errno;
        fd = vdev_err_set(err, "netns=%s: entering it: %s (%s)", o->netns, strerror(e),
                          e == EPERM ? "hint: needs CAP_SYS_ADMIN"
                                     : "hint: is it a network namespace?");
    } else {
        fd = tap_open_here(o, err);
        if (setns(home, CLONE_NEWNET) < 0) { /* cannot happen: it is where we came from */
            int e = errno;
            if (fd >= 0)
                close(fd);
            fd = vdev_err_set(err, "netns=%s: returning to our namespace: %s", o->netns,
                              strerror(e));
        }
    }
    close(ns);
    close(home);
    return fd;
}
