/* Checking a TAP fd another process handed over (tap_if.h). Its own file: fuzz_net_tap
 * replaces tap_if.c's calls at link time, and the peer link needs only this one. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* linux/if_tun.h brings linux/if_ether.h, whose Ethernet constants net_hdr.h defines too */
#undef ETH_HLEN
#undef ETH_ALEN
#undef ETH_P_IP
#undef ETH_P_IPV6
#undef ETH_P_8021Q
#include "netpeer/net_hdr.h"
#include "netpeer/tap_if.h"

bool tap_if_check_handed(int fd, char *ifname, char *why, size_t why_len)
{
    /* what the fd is, from /proc (no call on the file itself: a FUSE file could block) */
    char link[64], proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(proc, link, sizeof(link) - 1);
    link[n > 0 ? n : 0] = 0;
    if (strcmp(link, "/dev/net/tun") != 0) {
        snprintf(why, why_len, "not a TAP: %s", n > 0 ? link : "unknown fd");
        return false;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    int hdr = 0;
    if (ioctl(fd, TUNGETIFF, &ifr) < 0 || ioctl(fd, TUNGETVNETHDRSZ, &hdr) < 0) {
        snprintf(why, why_len, "a TUN fd attached to no interface: %s", strerror(errno));
        return false;
    }
    unsigned need = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if ((ifr.ifr_flags & (need | IFF_TUN)) != need || hdr != NET_HDR_LEN) {
        snprintf(why, why_len,
                 "interface flags 0x%x, header %d bytes (want a TAP, no packet "
                 "info, 12-byte virtio-net headers)",
                 (unsigned)ifr.ifr_flags & 0xffffu, hdr);
        return false;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        snprintf(why, why_len, "cannot make it non-blocking: %s", strerror(errno));
        return false;
    }
    memcpy(ifname, ifr.ifr_name, IFNAMSIZ);
    ifname[IFNAMSIZ - 1] = 0;
    return true;
}
