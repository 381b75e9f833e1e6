/* `vdevkit net-peer`: the host peer endpoint (our counterpart of QNX's devnp-vdevpeer-net).
 *
 * One process serves several peers. Each peer is a guest NIC's peer link (the same protocol
 * two guests use, netpeer/peer_link.h) joined to one TAP interface of the host, with
 * virtio-net headers on the TAP so checksum and TSO offloads cross in both directions.
 * See docs/networking.md ("Guest to host"). */
#ifndef TOOLS_NET_PEER_H
#define TOOLS_NET_PEER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <vdev/types.h>

#include "netpeer/peer_link.h"

/* One peer's options: `peer=PATH,bind=PATH[,mac=MAC][,name=PREFIX|,tap=IFNAME][,netns=NAME]
 * [,offload=on|off][,handoff=on|off]`. */
struct net_peer_opts {
    const char *peer, *bind, *netns; /* point into argv */
    char ifname[16];                 /* PREFIX + number, or the tap= interface */
    bool existing; /* tap=: attach to that existing (persistent) TAP, never create or remove */
    bool mac_given;
    uint8_t mac[6];
    bool offload; /* announce offloads to the guest and accept them from the tap */
    bool handoff; /* offer the TAP to the guest's NIC, which then moves the frames itself */
};

/* Parses one peer's comma list (modified in place); o->ifname gets the bare prefix (the
 * caller appends the number). 0, or -1 with err set (names the option, with a hint). */
int net_peer_parse(char *spec, struct net_peer_opts *o, struct vdev_err *err);

/* ---- the TAP side (net_peer_tap.c) ---- */

/* Creates the TAP interface o->ifname (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR, 12-byte headers,
 * no offloads yet, carrier off, MAC o->mac, administratively up) inside o->netns if given;
 * with o->existing attaches to it instead (its addresses, MAC and up/down state are the
 * owner's; mac= given: set; else o->mac gets the interface's). Returns its fd
 * (non-blocking), or -1 with err set (with a hint). */
int net_peer_tap_open(struct net_peer_opts *o, struct vdev_err *err);
/* Offloads and carrier: tap_if_set_offload(), tap_if_set_carrier() (tap_if.h). */

/* argv[0] is "net-peer". Returns a process exit status. */
int vmm_cmd_net_peer(int argc, char **argv);
/* `vdevkit net-peer --help`. */
void vmm_net_peer_usage(FILE *out);

#endif
