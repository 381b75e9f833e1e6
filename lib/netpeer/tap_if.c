/* Host TAP interfaces with virtio-net headers (tap_if.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* linux/if_tun.h brings linux/if_ether.h, whose Ethernet constants net_hdr.h defines too
 * (same values) */
#undef ETH_HLEN
#undef ETH_ALEN
#undef ETH_P_IP
#undef ETH_P_IPV6
#undef ETH_P_8021Q
#include "netpeer/net_hdr.h"
#include "netpeer/tap_if.h"

int tap_if_vnet_setup(int fd)
{
    int hdr = NET_HDR_LEN;
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0 || ioctl(fd, TUNSETOFFLOAD, 0) < 0)
        return -errno;
    return 0;
}

int tap_if_attach(const char *name, struct vdev_err *err)
{
    /* TUNSETIFF would create a missing interface (given CAP_NET_ADMIN): look first. The
     * interface could vanish in between; then TUNSETIFF makes a fresh one, which is what
     * `ip tuntap add` would have made, and it goes away with our fd. */
    if (strlen(name) >= IFNAMSIZ || !if_nametoindex(name))
        return vdev_err_set(err, "no interface '%s' (hint: " TAP_IF_HINT_CREATE ")", name, name);
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return vdev_err_set(err, "cannot open /dev/net/tun: %s (hint: %s)", strerror(e),
                            e == ENOENT ? "modprobe tun"
                                        : "give the user access to /dev/net/tun (mode 0666 is "
                                          "usual)");
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(fd);
        const char *hint =
            e == EPERM || e == EACCES
                ? "make it with 'ip tuntap add NAME mode tap user USER' for the user that runs "
                  "the VM, or run as root"
            : e == EBUSY  ? "another process has it open (a VM or a host peer?)"
            : e == EINVAL ? "is it a TAP interface (not tun, not multi-queue)? ip -d link show NAME"
                          : "is it a TAP interface?";
        return vdev_err_set(err, "cannot attach to '%s': %s (hint: %s)", name, strerror(e), hint);
    }
    int r = tap_if_vnet_setup(fd);
    if (r < 0) {
        close(fd);
        return vdev_err_set(err, "'%s': setting the virtio-net header: %s", name, strerror(-r));
    }
    return fd;
}

int tap_if_set_offload(int fd, uint64_t f)
{
    unsigned off = 0;
    if (f & NET_BIT(VIRTIO_NET_F_GUEST_CSUM)) {
        off |= TUN_F_CSUM;
        if (f & NET_BIT(VIRTIO_NET_F_GUEST_TSO4))
            off |= TUN_F_TSO4;
        if (f & NET_BIT(VIRTIO_NET_F_GUEST_TSO6))
            off |= TUN_F_TSO6;
        if ((off & (TUN_F_TSO4 | TUN_F_TSO6)) && (f & NET_BIT(VIRTIO_NET_F_GUEST_ECN)))
            off |= TUN_F_TSO_ECN;
    }
    return ioctl(fd, TUNSETOFFLOAD, (unsigned long)off) < 0 ? -errno : 0;
}

int tap_if_set_carrier(int fd, bool on)
{
#ifdef TUNSETCARRIER
    int v = on;
    return ioctl(fd, TUNSETCARRIER, &v) < 0 ? -errno : 0;
#else
    (void)fd;
    (void)on;
    return -ENOTSUP;
#endif
}
