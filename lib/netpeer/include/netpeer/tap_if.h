/* Host TAP interfaces carrying virtio-net headers: what the host peer (`vdevkit net-peer`,
 * tools/net_peer*.c) and a NIC's direct tap (`tap NAME`, net_be_tap.c) share. Frames on such
 * a TAP start with the 12-byte virtio 1.x header (NET_HDR_LEN, num_buffers unused), so
 * partial checksums and TSO frames cross as they are in both directions. */
#ifndef VDEV_NET_TAP_IF_H
#define VDEV_NET_TAP_IF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vdev/types.h>

/* The hint for "the interface is missing": it is never made for the user. */
#define TAP_IF_HINT_CREATE "create it first: ip tuntap add %s mode tap [user USER]"

/* Sets the header size to 12 and turns every offload off (the guest's driver decides
 * later); 0 or -errno. */
int tap_if_vnet_setup(int fd);

/* Attaches to the existing TAP interface `name` (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR, without
 * creating it), sets it up as tap_if_vnet_setup does and returns its fd (non-blocking,
 * close-on-exec); -1 with err set (no "tap NAME:" prefix; with a hint). */
int tap_if_attach(const char *name, struct vdev_err *err);

/* TUNSETOFFLOAD: the offloads the TAP may hand us, from a guest's negotiated virtio-net
 * features (GUEST_CSUM, GUEST_TSO4/6, GUEST_ECN; TSO needs the checksum offload, ECN
 * qualifies TSO). 0 or -errno. */
int tap_if_set_offload(int fd, uint64_t guest_features);

/* A TAP fd another process handed us (the host peer's, over the peer link): true if it is
 * /dev/net/tun attached to a TAP interface with 12-byte virtio-net headers and no packet
 * info; then `ifname` (16 bytes) is the interface's name and the fd is made non-blocking.
 * Else false with the reason in `why`. Nothing but /proc and two read-only ioctls touches
 * the fd before it passed. */
bool tap_if_check_handed(int fd, char *ifname, char *why, size_t why_len);

/* Carrier on/off (TUNSETCARRIER, Linux >= 5.0): 0 or -errno. */
int tap_if_set_carrier(int fd, bool on);

#endif
